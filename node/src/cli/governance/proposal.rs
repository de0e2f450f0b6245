//! `mirror proposal new|submit|advance|vote|list|show|tally`: drafting
//! (the rules are `mirror_governance::draft`'s), publishing and following a
//! proposal through its lifecycle.

use std::fmt::Write as _;
use std::path::PathBuf;

use mirror_constitution::compliance::Checker;
use mirror_governance::draft;
use mirror_governance::ledger::{ProposalStatus, Tally};
use mirror_governance::payload::{
    self, Choice, EvolutionProposal, Flags, Payload, ProposalState, ProposalTransition,
    ProposalType, Vote,
};
use serde_json::{Value, json};

use super::{
    checker, human_duration, ledger, local_time, my_key, now, parse_duration_ms, publish,
    publish_at, read_json_file, resolve_hash, serde_enum, short, signer, write_file,
};
use crate::cli::{Context, Output, UsageError};

#[derive(Debug, clap::Subcommand)]
pub enum ProposalCommand {
    /// Draft a proposal into a file (nothing leaves the node); edits to the
    /// parameter pack read their `before` from the pack in force
    New(Box<ProposalNewArgs>),
    /// Proposals in the commons and their states
    List,
    /// One proposal: content, history, tally
    Show {
        /// Proposal id (or a unique prefix, as `proposal list` shows)
        id: String,
    },
    /// Check a draft against the invariants, then publish it to the commons
    Submit {
        /// The draft written by `mirror proposal new`
        file: PathBuf,
    },
    /// Move your proposal one step: testing, review, voting, cancelled
    Advance {
        /// Proposal id (or a unique prefix, as `proposal list` shows)
        id: String,
        /// The next state [possible values: testing, review, voting, cancelled]
        #[arg(value_parser = serde_enum::<ProposalState>)]
        to: ProposalState,
        /// With `voting`: how long this proposal's vote stays open, within
        /// the commons' bounds (`mirror member list` shows them)
        /// [default: the commons' period]
        #[arg(long, value_name = "DURATION")]
        window: Option<String>,
    },
    /// Vote as a member: approve, reject or abstain
    Vote {
        /// Proposal id (or a unique prefix, as `proposal list` shows)
        id: String,
        /// Your vote [possible values: approve, reject, abstain]
        #[arg(value_parser = serde_enum::<Choice>)]
        choice: Choice,
    },
    /// The tally as every node computes it
    Tally {
        /// Proposal id (or a unique prefix, as `proposal list` shows)
        id: String,
    },
}

#[derive(Debug, clap::Args)]
pub struct ProposalNewArgs {
    /// What it changes [possible values: prompt_adjustment,
    /// pattern_detection, tension_heuristic, constitutional_amendment,
    /// safety_refinement]
    #[arg(long = "type", value_name = "TYPE", value_parser = serde_enum::<ProposalType>)]
    pub proposal_type: Option<ProposalType>,
    /// A short title
    #[arg(long)]
    pub title: Option<String>,
    /// What the change is for, in a sentence or two (needed, unless
    /// --from-finding supplies the finding's summary)
    #[arg(long)]
    pub description: Option<String>,
    /// Replace a value: /json/pointer=JSON (repeatable)
    #[arg(long = "set", value_name = "PATH=JSON")]
    pub set: Vec<String>,
    /// Add a value (into an array: an index or `-` to append): PATH=JSON
    #[arg(long = "add", value_name = "PATH=JSON")]
    pub add: Vec<String>,
    /// Remove a value: PATH
    #[arg(long = "remove", value_name = "PATH")]
    pub remove: Vec<String>,
    /// Evidence, in words (repeatable)
    #[arg(long)]
    pub evidence: Vec<String>,
    /// It collects data from nodes (the invariants then ask for consent)
    #[arg(long)]
    pub data_collection: bool,
    /// It needs each person's consent before it applies to them
    #[arg(long)]
    pub user_consent_required: bool,
    /// It takes away a way to export (the invariants refuse this)
    #[arg(long)]
    pub removes_export: bool,
    /// It breaks compatibility (then a migration path is required)
    #[arg(long)]
    pub breaking_change: bool,
    /// How nodes move across a breaking change
    #[arg(long)]
    pub migration_path: Option<String>,
    /// Start from a whole proposal in JSON instead of the flags above
    #[arg(long, value_name = "FILE", conflicts_with_all = ["proposal_type", "set", "add", "remove"])]
    pub from_file: Option<PathBuf>,
    /// Start from a finding of `mirror evolution report` (id or prefix): its
    /// recommendation sets the type and a first edit, the finding becomes
    /// evidence; --set/--add/--remove add edits
    #[arg(long, value_name = "ID", conflicts_with_all = ["from_file", "proposal_type"])]
    pub from_finding: Option<String>,
    /// Where to write the draft [default: ./proposal-<hash prefix>.json]
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// `mirror proposal new`'s draft: the files and the home are read here, the
/// rules are [`mirror_governance::draft`]'s.
fn draft_args(
    ctx: &Context,
    a: &ProposalNewArgs,
    checker: &Checker,
) -> anyhow::Result<EvolutionProposal> {
    if let Some(file) = &a.from_file {
        let value = read_json_file(file)?;
        return Ok(draft::from_json(&value).map_err(|e| UsageError(e.to_string()))?);
    }
    let finding = match &a.from_finding {
        Some(text) => {
            let f = finding(ctx, text)?;
            Some(draft::Finding {
                id: f.id.to_string(),
                summary: f.summary,
                details: f.details.0,
            })
        }
        None => None,
    };
    let params = ctx.home.engine_params()?;
    let pack: Value = serde_json::from_slice(&params.canonical_json())?;
    let request = draft::Request {
        proposal_type: a.proposal_type,
        title: a.title.clone(),
        description: a.description.clone(),
        set: a.set.clone(),
        add: a.add.clone(),
        remove: a.remove.clone(),
        evidence: a.evidence.clone(),
        flags: Flags {
            data_collection: a.data_collection,
            user_consent_required: a.user_consent_required,
            removes_export: a.removes_export,
            breaking_change: a.breaking_change,
            migration_path: a.migration_path.clone(),
        },
        finding,
    };
    Ok(draft::draft(&request, &pack, checker).map_err(|e| UsageError(e.to_string()))?)
}

/// A stored finding, by id or prefix.
fn finding(ctx: &Context, text: &str) -> anyhow::Result<crate::model::EvolutionEvent> {
    let store = ctx.store()?;
    let id = store.resolve::<crate::model::EvolutionEvent>(text, "finding")?;
    let event: crate::model::EvolutionEvent = store
        .get(id)?
        .ok_or_else(|| UsageError(format!("no finding {text}")))?;
    if event.kind != crate::model::EvolutionEventKind::Finding {
        return Err(UsageError(format!("{text} is a {} event, not a finding", event.kind)).into());
    }
    Ok(event)
}

fn check_report(
    ctx: &Context,
    p: &EvolutionProposal,
) -> anyhow::Result<mirror_governance::invariants::Report> {
    Ok(mirror_governance::invariants::check(p, &checker(ctx)?))
}

fn describe_status(s: &ProposalStatus) -> String {
    let mut text = String::new();
    let _ = writeln!(
        text,
        "{}  {:?}  {}",
        s.id.to_hex(),
        s.proposal.proposal_type,
        s.proposal.title
    );
    let _ = writeln!(text, "state      {}", state_name(s.state));
    let _ = writeln!(text, "proposer   {}", s.proposer.to_hex());
    for (at, state, record) in &s.history {
        let _ = writeln!(
            text,
            "  {}  {:<10} {}",
            local_time(*at),
            state_name(*state),
            short(&record.to_hex())
        );
    }
    for e in &s.proposal.change.edits {
        let _ = writeln!(
            text,
            "edit       {}: {} → {}",
            e.path,
            e.before
                .as_ref()
                .map_or("(absent)".into(), |v| v.to_string()),
            e.after
                .as_ref()
                .map_or("(removed)".into(), |v| v.to_string())
        );
    }
    if let Some(t) = &s.tally {
        text.push_str(&describe_tally(t));
    }
    text
}

fn state_name(s: ProposalState) -> String {
    serde_json::to_value(s)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn describe_tally(t: &Tally) -> String {
    let mut text = String::new();
    let _ = writeln!(
        text,
        "window     {} → {}{}",
        local_time(t.window.opens),
        local_time(t.window.closes),
        if t.closed { " (closed)" } else { " (open)" }
    );
    let _ = writeln!(
        text,
        "votes      approve {}  reject {}  abstain {}  (members {}, quorum {}{})",
        t.approve,
        t.reject,
        t.abstain,
        t.members,
        t.quorum,
        if t.quorum_met { ", met" } else { ", not met" }
    );
    if let Some(g) = t.guardian_signatures {
        let _ = writeln!(text, "guardians  {g} signature(s)");
    }
    let _ = writeln!(
        text,
        "result     {}",
        if !t.closed {
            "voting still open"
        } else if t.approved {
            "approved"
        } else {
            "rejected"
        }
    );
    for r in &t.reasons {
        let _ = writeln!(text, "  {r}");
    }
    if !t.ignored_votes.is_empty() {
        let _ = writeln!(text, "not counted: {}", t.ignored_votes.len());
        for i in &t.ignored_votes {
            let _ = writeln!(text, "  {}  {}", short(&i.record.to_hex()), i.reason);
        }
    }
    text
}

pub fn proposal(ctx: &Context, cmd: &ProposalCommand) -> anyhow::Result<Output> {
    match cmd {
        ProposalCommand::New(a) => {
            let checker = checker(ctx)?;
            let p = draft_args(ctx, a, &checker)?;
            p.check().map_err(|e| UsageError(e.to_string()))?;
            let report = mirror_governance::invariants::check(&p, &checker);
            let map = payload::to_payload(&p).map_err(|e| UsageError(e.to_string()))?;
            // The whole record payload, as the gate will check it.
            payload::validate(EvolutionProposal::KIND, &map)
                .map_err(|e| UsageError(e.to_string()))?;
            let canonical = mirror_governance::canonical::to_vec(&Value::Object(map.clone()))
                .map_err(|e| UsageError(format!("the proposal cannot be published: {e}")))?;
            let hash = blake3::hash(&canonical).to_hex().to_string();
            let out = a
                .out
                .clone()
                .unwrap_or_else(|| PathBuf::from(format!("proposal-{}.json", &hash[..12])));
            write_file(&out, &map)?;
            if let Some(f) = &a.from_finding {
                let store = ctx.store()?;
                store.insert_evolution_event(&crate::model::EvolutionEvent {
                    id: crate::model::Id::new(),
                    kind: crate::model::EvolutionEventKind::ProposalDrafted,
                    summary: format!("drafted {} from finding {f}", out.display()),
                    details: Default::default(),
                    created_at: crate::model::Timestamp::now(),
                })?;
            }
            let mut text = format!(
                "draft written to {} (nothing has left this node; `mirror proposal submit {}` publishes it)\n",
                out.display(),
                out.display()
            );
            text.push_str(&report.describe());
            Output::new(
                json!({"file": out, "proposal": map, "report": report}),
                text.trim_end().to_string(),
            )
        }
        ProposalCommand::Submit { file } => {
            let value = read_json_file(file)?;
            let map = value
                .as_object()
                .cloned()
                .ok_or_else(|| UsageError("a proposal is a JSON object".into()))?;
            let p: EvolutionProposal =
                payload::parse(&map).map_err(|e| UsageError(e.to_string()))?;
            let report = check_report(ctx, &p)?;
            if !report.is_clean() {
                return Err(UsageError(format!(
                    "not submitted: the proposal violates the constitution: {}",
                    report.describe()
                ))
                .into());
            }
            ledger(ctx)?;
            let (id, how) = publish(ctx, &signer(ctx)?, &p)?;
            let mut text = format!("submitted proposal {id} ({how})\n");
            text.push_str(&report.describe());
            Output::new(
                json!({"id": id, "report": report}),
                text.trim_end().to_string(),
            )
        }
        ProposalCommand::Advance { id, to, window } => {
            let (ledger, _) = ledger(ctx)?;
            let hash = resolve_hash(id, &ledger.proposals(), "proposal id")?;
            let status = ledger
                .proposal(&hash, now())
                .ok_or_else(|| UsageError(format!("no proposal {id} in the commons")))?;
            let key = signer(ctx)?;
            if status.proposer != my_key(&key) {
                return Err(UsageError("only the proposer moves a proposal".into()).into());
            }
            // Voting opens with the transition that opens it, at the record's
            // own time, so the ledger sees opens_at >= created_at.
            let at = now();
            let voting = &ledger.genesis().voting;
            let length = match window {
                Some(w) if *to == ProposalState::Voting => {
                    let ms = parse_duration_ms(w)?;
                    if !voting.window_allowed(ms) {
                        return Err(UsageError(format!(
                            "--window {w}: this commons' votes last {}{}",
                            human_duration(voting.period_ms),
                            voting.max_period_ms.map_or(" exactly".into(), |m| format!(
                                " to {}",
                                human_duration(m)
                            ))
                        ))
                        .into());
                    }
                    ms
                }
                Some(_) => {
                    return Err(UsageError("--window is for `advance ID voting`".into()).into());
                }
                None => voting.period_ms,
            };
            let (opens, closes) = if *to == ProposalState::Voting {
                let opens = u64::try_from(at).unwrap_or(0);
                (Some(opens), Some(opens + length))
            } else {
                (None, None)
            };
            let t = ProposalTransition {
                proposal: hash,
                to: *to,
                voting_opens_at: opens,
                voting_closes_at: closes,
            };
            t.check().map_err(|e| UsageError(e.to_string()))?;
            let (rid, how) = publish_at(ctx, &key, &t, at)?;
            let window = opens
                .map(|o| {
                    format!(
                        " (voting {} → {})",
                        local_time(o as i64),
                        local_time(closes.unwrap_or(o) as i64)
                    )
                })
                .unwrap_or_default();
            Output::new(
                json!({"id": rid, "proposal": id, "to": to, "voting_opens_at": opens, "voting_closes_at": closes}),
                format!(
                    "{} → {}{window}: record {rid} {how}",
                    short(id),
                    state_name(*to)
                ),
            )
        }
        ProposalCommand::Vote { id, choice } => {
            let (ledger, _) = ledger(ctx)?;
            let hash = resolve_hash(id, &ledger.proposals(), "proposal id")?;
            let key = signer(ctx)?;
            let t = now();
            let status = ledger
                .proposal(&hash, t)
                .ok_or_else(|| UsageError(format!("no proposal {id} in the commons")))?;
            if status.state != ProposalState::Voting {
                return Err(UsageError(format!(
                    "proposal {} is {}, not voting",
                    short(id),
                    state_name(status.state)
                ))
                .into());
            }
            if let Some(tally) = &status.tally
                && !ledger
                    .members_at(tally.window.opens)
                    .contains(&my_key(&key))
            {
                eprintln!(
                    "mirror: note: this node's key was not a member when voting opened, so its vote will not count"
                );
            }
            let (rid, how) = publish(
                ctx,
                &key,
                &Vote {
                    proposal: hash,
                    choice: *choice,
                },
            )?;
            Output::new(
                json!({"id": rid, "proposal": id, "choice": choice}),
                format!(
                    "voted {} on {}: record {rid} {how}",
                    serde_json::to_value(choice)?.as_str().unwrap_or(""),
                    short(id)
                ),
            )
        }
        ProposalCommand::List => {
            let (ledger, _) = ledger(ctx)?;
            let t = now();
            let rows: Vec<ProposalStatus> = ledger
                .proposals()
                .iter()
                .filter_map(|id| ledger.proposal(id, t))
                .collect();
            let mut text = String::new();
            for s in &rows {
                let _ = writeln!(
                    text,
                    "{}  {:<9} {}",
                    short(&s.id.to_hex()),
                    state_name(s.state),
                    s.proposal.title
                );
            }
            if text.is_empty() {
                text = "no proposals".into();
            }
            Output::new(
                serde_json::json!({ "proposals": rows }),
                text.trim_end().to_string(),
            )
        }
        ProposalCommand::Show { id } => {
            let (ledger, _) = ledger(ctx)?;
            let hash = resolve_hash(id, &ledger.proposals(), "proposal id")?;
            let s = ledger
                .proposal(&hash, now())
                .ok_or_else(|| UsageError(format!("no proposal {id} in the commons")))?;
            let text = describe_status(&s);
            Output::new(&s, text.trim_end().to_string())
        }
        ProposalCommand::Tally { id } => {
            let (ledger, _) = ledger(ctx)?;
            let hash = resolve_hash(id, &ledger.proposals(), "proposal id")?;
            let t = ledger.tally(&hash, now()).ok_or_else(|| {
                UsageError(format!(
                    "proposal {id} has not opened for voting (or is not in the commons)"
                ))
            })?;
            let text = describe_tally(&t);
            Output::new(&t, text.trim_end().to_string())
        }
    }
}
