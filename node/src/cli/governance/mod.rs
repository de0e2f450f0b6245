//! `mirror commons genesis|join`, `mirror member …`, `mirror proposal …`,
//! `mirror guardian sign` and `mirror release …`.
//!
//! Every command reads the commons' records (through the running daemon, or
//! the store when none runs), folds them into the governance ledger, and
//! answers from it; commands that act sign a record with this node's
//! identity key and publish it the same way `mirror commons publish` does.
//! Nothing here decides anything the ledger does not: the CLI is a window
//! onto pure rules.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use ed25519_dalek::SigningKey;
use mirror_commons::record::{Kind, Record};
use mirror_constitution::compliance::Checker;
use mirror_governance::draft;
use mirror_governance::ledger::{Ledger, ProposalStatus, Tally};
use mirror_governance::params::EngineParams;
use mirror_governance::payload::{
    self, Choice, EvolutionProposal, Flags, Genesis, GuardianSignature, Hash, Hex,
    MembershipAttestation, MembershipRevocation, Payload, ProposalState, ProposalTransition,
    ProposalType, PublicKey, ReleaseManifest, SignaturePurpose, Vote, VotingRules,
};
use mirror_governance::release as tuf;
use serde_json::{Value, json};

use super::{Context, Output, UsageError};
use crate::daemon;
use crate::release;

// ---------------------------------------------------------------------------
// Arguments
// ---------------------------------------------------------------------------

#[derive(Debug, clap::Subcommand)]
pub enum GenesisCommand {
    /// Found a new commons: write its genesis record, make it this node's
    /// commons, and hold it in the local store
    New(GenesisArgs),
}

#[derive(Debug, clap::Args)]
pub struct GenesisArgs {
    /// A name for people
    #[arg(long)]
    pub name: String,
    /// A guardian's public key (64 hex; repeatable, at least one)
    #[arg(long = "guardian", value_name = "KEY", required = true)]
    pub guardians: Vec<String>,
    /// How many distinct guardians must sign (k of n)
    #[arg(long, default_value_t = 1)]
    pub threshold: u32,
    /// How many guardians' attestations admit a member
    #[arg(long, default_value_t = 1)]
    pub attestations: u32,
    /// How long voting stays open (e.g. 90s, 30m, 12h, 7d): every
    /// proposal's window, or with --max-period the shortest
    #[arg(long, default_value = "7d")]
    pub period: String,
    /// Let each proposer choose a window up to this long (e.g. 30d)
    /// [default: every window lasts --period]
    #[arg(long, value_name = "DURATION")]
    pub max_period: Option<String>,
    /// Approve + abstain votes needed, percent of members
    #[arg(long, default_value_t = 50)]
    pub quorum: u32,
    /// Supermajority for amendments, as N/D
    #[arg(long, default_value = "2/3")]
    pub supermajority: String,
    /// Where to write the genesis record [default: ./genesis-<id prefix>.json]
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, clap::Subcommand)]
pub enum MemberCommand {
    /// Admit a member key (a guardian's act)
    Attest {
        /// The member's public key (hex, as `mirror member list` shows)
        key: String,
        /// Why, for the record
        #[arg(long)]
        note: Option<String>,
    },
    /// Remove a member key (a guardian's act)
    Revoke {
        /// The member's public key (hex)
        key: String,
        /// Why, for the record
        #[arg(long)]
        reason: Option<String>,
    },
    /// Members and guardians now, and this node's key
    List,
}

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

#[derive(Debug, clap::Subcommand)]
pub enum GuardianCommand {
    /// Sign a content hash as a guardian: an amendment's proposal id, or a
    /// root rotation's genesis record id
    Sign {
        /// The content hash to sign (64 hex digits)
        id: String,
        /// What the signature is for [possible values: amendment, root_rotation]
        #[arg(long, default_value = "amendment", value_parser = serde_enum::<SignaturePurpose>)]
        purpose: SignaturePurpose,
    },
    /// Propose the next guardian set (a rotation: the next TUF root
    /// version); it takes effect once the current guardians' threshold and
    /// the new set's have signed it with `mirror guardian sign ID --purpose
    /// root_rotation`
    Rotate {
        /// A guardian key of the new set (64 hex digits; repeat for each)
        #[arg(long = "guardian", value_name = "KEY", required = true)]
        guardians: Vec<String>,
        /// How many distinct guardians of the new set must sign (k of n)
        #[arg(long)]
        threshold: u32,
        /// How many guardians' attestations admit a member [default: as now]
        #[arg(long)]
        attestations: Option<u32>,
    },
}

#[derive(Debug, clap::Subcommand)]
pub enum ReleaseCommand {
    /// Build the next release from approved proposals into a file (unsigned)
    Build {
        /// An approved proposal to apply (repeatable) [default: every
        /// approved proposal no verified release has applied yet]
        #[arg(long = "proposal", value_name = "ID")]
        proposals: Vec<String>,
        /// Days until its metadata expires
        #[arg(long, default_value_t = 90)]
        expires_days: u32,
        /// Where to write the release file [default: ./release-<version>.json]
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Add this node's guardian signature to a release file (in place), or
    /// to a release candidate in the commons (sent over the commons)
    Sign {
        /// The release file, or a candidate's record id (or prefix)
        file: PathBuf,
    },
    /// Send a release file to the commons as a candidate, with this node's
    /// signature if its key is a guardian's, for the other guardians to sign
    /// with `mirror release sign ID`
    Propose {
        /// The release file (from `mirror release build`)
        file: PathBuf,
    },
    /// Release candidates in the commons and who has signed them
    Pending,
    /// Publish a release to the commons once the guardians' threshold has
    /// signed it: a signed release file, or a candidate (by anyone)
    Publish {
        /// The signed release file, or a candidate's record id (or prefix)
        file: PathBuf,
    },
    /// Verify a release (a file, a TUF repository directory, or a record id)
    /// as `apply` would, changing nothing
    Verify {
        /// A release file, a TUF repository directory, or a record id (or prefix)
        release: String,
    },
    /// Write a release as a TUF repository (metadata/, targets/) for other
    /// TUF tools
    Export {
        /// A release file, a TUF repository directory, or a record id (or prefix)
        release: String,
        /// The directory to write (created)
        dir: PathBuf,
    },
    /// Releases in the commons, their verdicts, and what is in force here
    List,
    /// Verify, then put a release's parameter pack in force [default: the
    /// newest verified release in the commons]
    Apply {
        /// A release file, a TUF repository directory, or a record id (or prefix)
        release: Option<String>,
    },
    /// Go back to the pack in force before the current release
    Rollback,
}

// ---------------------------------------------------------------------------
// Shared plumbing
// ---------------------------------------------------------------------------

/// Parse a command-line word as a serde (snake_case) enum, so the CLI speaks
/// the record format's own names.
pub fn serde_enum<T: serde::de::DeserializeOwned>(s: &str) -> Result<T, String> {
    serde_json::from_value(Value::String(s.to_string())).map_err(|e| e.to_string())
}

fn now() -> i64 {
    daemon::now_ms()
}

fn parse_hash(s: &str, what: &str) -> Result<Hash, UsageError> {
    Hex::from_hex(s).ok_or_else(|| UsageError(format!("{what} {s:?} is not 64 hex digits")))
}

/// What a person typed (all 64 hex digits, or a unique prefix of at least
/// four, as `list` shows them) among the ids that exist.
fn resolve_hash(s: &str, known: &[Hash], what: &str) -> Result<Hash, UsageError> {
    if let Some(h) = Hex::from_hex(s) {
        return Ok(h);
    }
    let hexes: Vec<String> = known.iter().map(|h| h.to_hex()).collect();
    let found = super::resolve_prefix(s, &hexes, what)?;
    Ok(known[found])
}

fn short(h: &impl std::fmt::Display) -> String {
    h.to_string().chars().take(12).collect()
}

/// Every accepted record but telemetry, through the daemon or the store.
fn governance_records(ctx: &Context) -> anyhow::Result<Vec<Record>> {
    Ok(accepted_records(ctx, None)?
        .into_iter()
        .filter(|r| r.kind != Kind::TelemetryPacket)
        .collect())
}

/// Accepted records (of one kind, or all), through the daemon when one
/// runs, else from the store.
pub(super) fn accepted_records(ctx: &Context, kind: Option<Kind>) -> anyhow::Result<Vec<Record>> {
    let texts: Vec<String> = match daemon::find(&ctx.home) {
        Some(d) => {
            let path = match kind {
                Some(k) => format!("/records?full=true&kind={}", k.as_str()),
                None => "/records?full=true".into(),
            };
            daemon::call(&d, "GET", &path, None)?
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|r| r["raw"].as_str().map(str::to_string))
                .collect()
        }
        None => {
            let c = daemon::open_local(&ctx.home)?;
            let kinds = kind.map_or_else(|| Kind::ALL.to_vec(), |k| vec![k]);
            kinds
                .iter()
                .flat_map(|k| c.records_of(*k))
                .map(|r| String::from_utf8_lossy(r.bytes()).into_owned())
                .collect()
        }
    };
    texts
        .iter()
        .map(|t| Record::decode(t.as_bytes()).map_err(|e| anyhow::anyhow!("a stored record: {e}")))
        .collect()
}

/// The ledger of this node's commons.
fn ledger(ctx: &Context) -> anyhow::Result<(Ledger, Vec<Record>)> {
    let config = ctx.home.load_config()?;
    let id = config.commons.commons_id();
    let genesis = parse_hash(&id, "commons id")?;
    let records = governance_records(ctx)?;
    let checker = checker(ctx)?;
    let entries = records.iter().filter_map(mirror_commons::governance::entry);
    let ledger = Ledger::from_entries(genesis, entries, checker).map_err(|_| {
        anyhow::anyhow!(
            "this node holds no genesis for commons {id}: found one with `mirror commons genesis new`, or join one with `mirror commons join GENESIS_FILE`"
        )
    })?;
    Ok((ledger, records))
}

/// This node's signing key (its primary identity's), creating the node on
/// first use.
fn signer(ctx: &Context) -> anyhow::Result<SigningKey> {
    let store = ctx.store()?;
    let identity = ctx.identity(&store)?;
    drop(store);
    Ok(ctx.home.read_key(&identity)?.signing_key().clone())
}

fn my_key(key: &SigningKey) -> PublicKey {
    Hex(key.verifying_key().to_bytes())
}

/// Sign and publish a record, created now; returns its id and how it went
/// out.
fn publish<T: Payload>(
    ctx: &Context,
    key: &SigningKey,
    value: &T,
) -> anyhow::Result<(String, &'static str)> {
    publish_at(ctx, key, value, now())
}

/// Sign and publish a record created at `at` (unix ms).
fn publish_at<T: Payload>(
    ctx: &Context,
    key: &SigningKey,
    value: &T,
    at: i64,
) -> anyhow::Result<(String, &'static str)> {
    let kind = Kind::parse(T::KIND).ok_or_else(|| anyhow::anyhow!("unknown kind {}", T::KIND))?;
    let map = payload::to_payload(value).map_err(|e| UsageError(e.to_string()))?;
    let record = Record::sign(kind, at, map, key).map_err(|e| anyhow::anyhow!("{e}"))?;
    publish_bytes(ctx, record.bytes())
}

pub(super) fn publish_bytes(ctx: &Context, bytes: &[u8]) -> anyhow::Result<(String, &'static str)> {
    match daemon::find(&ctx.home) {
        Some(d) => {
            let v = daemon::call(&d, "POST", "/publish", Some(bytes.to_vec()))?;
            Ok((
                v["id"].as_str().unwrap_or("").to_string(),
                "accepted and gossiped",
            ))
        }
        None => {
            let mut c = daemon::open_local(&ctx.home)?;
            let (id, _) = c
                .publish(bytes, now())
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            Ok((
                id.to_hex(),
                "accepted locally; peers receive it when `mirror node` next syncs",
            ))
        }
    }
}

/// Unix ms as a local date and time for people ("2026-12-03 21:40 +01:00");
/// JSON output keeps the milliseconds.
fn local_time(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| {
            t.to_zoned(jiff::tz::TimeZone::system())
                .strftime("%Y-%m-%d %H:%M:%S %:z")
                .to_string()
        })
        .unwrap_or_else(|_| ms.to_string())
}

/// Milliseconds as days, hours, minutes or seconds ("7d", "36h", "90s").
fn human_duration(ms: u64) -> String {
    for (unit, size) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
    ] {
        if ms >= size && ms.is_multiple_of(size) {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

/// "90s", "30m", "12h", "7d" or plain milliseconds.
fn parse_duration_ms(s: &str) -> Result<u64, UsageError> {
    let bad = || UsageError(format!("{s:?} is not a duration (e.g. 90s, 30m, 12h, 7d)"));
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num.parse().map_err(|_| bad())?;
    let scale = match unit {
        "" | "ms" => 1,
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(bad()),
    };
    n.checked_mul(scale).ok_or_else(bad)
}

fn read_json_file(path: &Path) -> anyhow::Result<Value> {
    let bytes =
        std::fs::read(path).map_err(|e| UsageError(format!("reading {}: {e}", path.display())))?;
    Ok(serde_json::from_slice(&bytes)
        .map_err(|e| UsageError(format!("{}: not JSON: {e}", path.display())))?)
}

fn write_file(path: &Path, value: &impl serde::Serialize) -> anyhow::Result<()> {
    let mut bytes = serde_json::to_vec_pretty(value)?;
    bytes.push(b'\n');
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}

// ---------------------------------------------------------------------------
// Genesis and joining
// ---------------------------------------------------------------------------

pub fn genesis(ctx: &Context, cmd: &GenesisCommand) -> anyhow::Result<Output> {
    let GenesisCommand::New(a) = cmd;
    if daemon::find(&ctx.home).is_some() {
        return Err(UsageError(
            "stop `mirror node` first: the commons it serves would change".into(),
        )
        .into());
    }
    let guardians = a
        .guardians
        .iter()
        .map(|g| {
            Hex::from_hex(g)
                .ok_or_else(|| UsageError(format!("guardian key {g:?} is not 64 hex digits")))
        })
        .collect::<Result<Vec<PublicKey>, _>>()?;
    let (num, den) = a
        .supermajority
        .split_once('/')
        .and_then(|(n, d)| Some((n.trim().parse().ok()?, d.trim().parse().ok()?)))
        .ok_or_else(|| UsageError(format!("--supermajority {:?} is not N/D", a.supermajority)))?;
    let g = Genesis {
        name: a.name.clone(),
        constitution_hash: Hex(ctx.home.constitution()?.hash().0),
        guardians,
        guardian_threshold: a.threshold,
        attestations_required: a.attestations,
        voting: VotingRules {
            period_ms: parse_duration_ms(&a.period)?,
            max_period_ms: a.max_period.as_deref().map(parse_duration_ms).transpose()?,
            quorum_percent: a.quorum,
            supermajority_numerator: num,
            supermajority_denominator: den,
        },
        root_version: 1,
    };
    g.check().map_err(|e| UsageError(e.to_string()))?;
    let key = signer(ctx)?;
    let map = payload::to_payload(&g).map_err(|e| UsageError(e.to_string()))?;
    let record =
        Record::sign(Kind::Genesis, now(), map, &key).map_err(|e| anyhow::anyhow!("{e}"))?;
    let id = record.id().to_hex();
    let out = a
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("genesis-{}.json", &id[..12])));
    // All or nothing: the file first (nothing else has changed if it cannot
    // be written), then the join; a failed join takes the file back.
    std::fs::write(&out, record.bytes()).with_context(|| format!("writing {}", out.display()))?;
    let left = match join_record(ctx, &record) {
        Ok(left) => left,
        Err(e) => {
            let _ = std::fs::remove_file(&out);
            return Err(e);
        }
    };
    Output::new(
        json!({"id": id, "file": out, "genesis": g, "left": left}),
        format!(
            "founded commons {id}\n  genesis record written to {} (others join with `mirror commons join {}`)\n  this node's commons is now {id}{}",
            out.display(),
            out.display(),
            left_note(ctx, left.as_deref())
        ),
    )
}

/// What happened to the commons a node left: its records stay in its own
/// store, and one command returns to it.
fn left_note(ctx: &Context, left: Option<&str>) -> String {
    match left {
        Some(old) => format!(
            "\n  the records of commons {} stay in {}; `mirror commons use {old}` returns to it",
            short(&old),
            ctx.home.commons_db_path(old).display()
        ),
        None => String::new(),
    }
}

/// Make `record` (a genesis) this node's commons and hold it. All or
/// nothing: the genesis goes into the new commons' own store (created if
/// need be, removed again if this fails), and only then does the config
/// name it. The commons left keeps its store untouched. Returns the
/// commons left, if it was another.
fn join_record(ctx: &Context, record: &Record) -> anyhow::Result<Option<String>> {
    if record.kind != Kind::Genesis {
        return Err(UsageError(format!(
            "that is a {} record, not a genesis",
            record.kind.as_str()
        ))
        .into());
    }
    record
        .verify_signature()
        .map_err(|e| UsageError(format!("the genesis record: {e}")))?;
    let id = record.id().to_hex();
    let mut config = ctx.home.load_config()?;
    let before = config.commons.commons_id();
    let path = ctx.home.commons_db_path(&id);
    let existed = path.exists();
    let undo = |e: anyhow::Error| {
        if !existed {
            let _ = std::fs::remove_file(&path);
        }
        e
    };
    {
        let mut c = daemon::open_commons(&ctx.home, &id).map_err(undo)?;
        if c.get(&record.id()).is_none() {
            c.publish(record.bytes(), now())
                .map_err(|e| undo(anyhow::anyhow!("{e}")))?;
        }
    }
    config.commons.id = id.clone();
    ctx.home.save_config(&config).map_err(|e| undo(e.into()))?;
    Ok((before != id).then_some(before))
}

pub fn join(ctx: &Context, file: &Path) -> anyhow::Result<Output> {
    if daemon::find(&ctx.home).is_some() {
        return Err(UsageError(
            "stop `mirror node` first: the commons it serves would change".into(),
        )
        .into());
    }
    let bytes =
        std::fs::read(file).map_err(|e| UsageError(format!("reading {}: {e}", file.display())))?;
    let record =
        Record::decode(&bytes).map_err(|e| UsageError(format!("{}: {e}", file.display())))?;
    let left = join_record(ctx, &record)?;
    let id = record.id().to_hex();
    Output::new(
        json!({"id": id, "left": left}),
        format!(
            "joined commons {id}; `mirror node` serves it{}",
            left_note(ctx, left.as_deref())
        ),
    )
}

/// `mirror commons list`: every commons whose records this node holds.
pub fn list_commons(ctx: &Context) -> anyhow::Result<Output> {
    let in_force = ctx.home.load_config()?.commons.commons_id();
    let mut held = daemon::held_commons(&ctx.home);
    if !held.contains(&in_force) {
        held.push(in_force.clone());
    }
    let mut text = String::new();
    let rows: Vec<Value> = held
        .iter()
        .map(|id| {
            let _ = writeln!(text, "{} {id}", if *id == in_force { "*" } else { " " });
            json!({"id": id, "in_force": *id == in_force, "store": ctx.home.commons_db_path(id)})
        })
        .collect();
    let _ = write!(
        text,
        "(* is this node's commons; `mirror commons use ID` switches)"
    );
    Output::new(json!(rows), text)
}

/// `mirror commons use ID`: switch to a commons whose records this node
/// holds (or back to the default commons). Nothing is deleted.
pub fn use_commons(ctx: &Context, id: &str) -> anyhow::Result<Output> {
    if daemon::find(&ctx.home).is_some() {
        return Err(UsageError(
            "stop `mirror node` first: the commons it serves would change".into(),
        )
        .into());
    }
    let default = crate::home::default_commons_id(mirror_constitution::GENESIS_HASH);
    let held = daemon::held_commons(&ctx.home);
    if id != default && !held.iter().any(|h| h == id) {
        return Err(UsageError(format!(
            "this node holds no commons {id} (`mirror commons list` shows those it holds; `mirror commons join GENESIS_FILE` joins another)"
        ))
        .into());
    }
    let mut config = ctx.home.load_config()?;
    config.commons.id = if id == default {
        String::new()
    } else {
        id.to_string()
    };
    ctx.home.save_config(&config)?;
    Output::new(
        json!({"id": id}),
        format!("this node's commons is now {id}; `mirror node` serves it"),
    )
}

// ---------------------------------------------------------------------------
// Members
// ---------------------------------------------------------------------------

pub fn member(ctx: &Context, cmd: &MemberCommand) -> anyhow::Result<Output> {
    match cmd {
        MemberCommand::Attest { key, note } | MemberCommand::Revoke { key, reason: note } => {
            let member = Hex::from_hex(key)
                .ok_or_else(|| UsageError(format!("{key:?} is not a key (64 hex)")))?;
            let (ledger, _) = ledger(ctx)?;
            let signer = signer(ctx)?;
            if !ledger.guardians().keys.contains(&my_key(&signer)) {
                return Err(UsageError(
                    "this node's key is not a guardian's: only guardians attest or revoke members"
                        .into(),
                )
                .into());
            }
            let attest = matches!(cmd, MemberCommand::Attest { .. });
            let (id, how) = if attest {
                publish(
                    ctx,
                    &signer,
                    &MembershipAttestation {
                        member,
                        note: note.clone(),
                    },
                )?
            } else {
                publish(
                    ctx,
                    &signer,
                    &MembershipRevocation {
                        member,
                        reason: note.clone(),
                    },
                )?
            };
            let verb = if attest { "attested" } else { "revoked" };
            Output::new(
                json!({"id": id, "member": key, "action": verb}),
                format!("{verb} {key}: record {id} {how}"),
            )
        }
        MemberCommand::List => {
            let me = my_key(&signer(ctx)?);
            let ledger = match ledger(ctx) {
                Ok((ledger, _)) => ledger,
                Err(e) => {
                    // Before founding or joining, the key is what a person
                    // needs: to be named a guardian or attested a member.
                    return Output::new(
                        json!({"me": me, "members": [], "guardians": null, "note": e.to_string()}),
                        format!(
                            "this node  {}
{e}",
                            me.to_hex()
                        ),
                    );
                }
            };
            let t = now();
            let members = ledger.members_at(t);
            let guardians = ledger.guardians();
            let mut text = format!(
                "this node  {}{}{}\n",
                me.to_hex(),
                if members.contains(&me) {
                    "  member"
                } else {
                    ""
                },
                if guardians.keys.contains(&me) {
                    "  guardian"
                } else {
                    ""
                }
            );
            let _ = writeln!(
                text,
                "guardians  {} of {} must sign (root version {})",
                guardians.threshold,
                guardians.keys.len(),
                guardians.version
            );
            for g in &guardians.keys {
                let _ = writeln!(text, "  {}", g.to_hex());
            }
            let _ = writeln!(text, "members    {}", members.len());
            for m in &members {
                let _ = writeln!(text, "  {}", m.to_hex());
            }
            let voting = &ledger.genesis().voting;
            let _ = writeln!(
                text,
                "voting     {}{}, quorum {}% (approve + abstain), amendments {}/{}",
                human_duration(voting.period_ms),
                voting.max_period_ms.map_or(String::new(), |m| format!(
                    " (a proposal may choose up to {})",
                    human_duration(m)
                )),
                voting.quorum_percent,
                voting.supermajority_numerator,
                voting.supermajority_denominator
            );
            Output::new(
                json!({"me": me, "members": members, "guardians": guardians, "voting": voting}),
                text.trim_end().to_string(),
            )
        }
    }
}

// ---------------------------------------------------------------------------
// Proposals
// ---------------------------------------------------------------------------

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

/// The constitution's compliance checker, as this node holds it.
fn checker(ctx: &Context) -> anyhow::Result<Checker> {
    ctx.home
        .constitution()?
        .checker()
        .map_err(|e| anyhow::anyhow!("the constitution's compliance lexicon: {e}"))
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

// ---------------------------------------------------------------------------
// Guardians
// ---------------------------------------------------------------------------

pub fn guardian(ctx: &Context, cmd: &GuardianCommand) -> anyhow::Result<Output> {
    let (id, purpose) = match cmd {
        GuardianCommand::Sign { id, purpose } => (id, purpose),
        GuardianCommand::Rotate {
            guardians,
            threshold,
            attestations,
        } => return rotate(ctx, guardians, *threshold, *attestations),
    };
    let target = parse_hash(id, "id")?;
    let (ledger, _) = ledger(ctx)?;
    let key = signer(ctx)?;
    if !ledger.guardians().keys.contains(&my_key(&key)) {
        eprintln!(
            "mirror: note: this node's key is not in the current guardian set; the signature will not count"
        );
    }
    let message = GuardianSignature::signed_message(*purpose, &target);
    let signature = ed25519_dalek::Signer::sign(&key, &message).to_bytes();
    let sig = GuardianSignature {
        target_hash: target,
        purpose: *purpose,
        signature: Hex::<64>(signature),
    };
    let (rid, how) = publish(ctx, &key, &sig)?;
    Output::new(
        json!({"id": rid, "target": id, "purpose": purpose}),
        format!("signed {} as a guardian: record {rid} {how}", short(id)),
    )
}

/// Publish a rotation: the genesis of this commons with the new guardian
/// set, threshold and attestations, at the next root version.
fn rotate(
    ctx: &Context,
    guardians: &[String],
    threshold: u32,
    attestations: Option<u32>,
) -> anyhow::Result<Output> {
    let (ledger, _) = ledger(ctx)?;
    let current = ledger.guardians();
    let keys = guardians
        .iter()
        .map(|g| {
            Hex::from_hex(g)
                .ok_or_else(|| UsageError(format!("guardian key {g:?} is not 64 hex digits")))
        })
        .collect::<Result<Vec<PublicKey>, _>>()?;
    let g = Genesis {
        guardians: keys,
        guardian_threshold: threshold,
        attestations_required: attestations.unwrap_or(current.attestations_required),
        root_version: current.version + 1,
        ..ledger.genesis().clone()
    };
    g.check().map_err(|e| UsageError(e.to_string()))?;
    let (id, how) = publish(ctx, &signer(ctx)?, &g)?;
    Output::new(
        json!({"id": id, "root_version": g.root_version, "threshold": threshold, "guardians": guardians}),
        format!(
            "rotation to root version {} proposed: record {id} {how}; it takes effect once {} of the current guardians and {threshold} of the new sign it with `mirror guardian sign {id} --purpose root_rotation`",
            g.root_version, current.threshold
        ),
    )
}

// ---------------------------------------------------------------------------
// Releases
// ---------------------------------------------------------------------------

/// The candidate one of whose records is `spec` (an id or prefix).
fn candidate(ledger: &Ledger, spec: &str) -> anyhow::Result<mirror_governance::ledger::Candidate> {
    let candidates = ledger.release_candidates();
    let known: Vec<Hash> = candidates.iter().flat_map(|c| c.records.clone()).collect();
    let id = resolve_hash(spec, &known, "release file or candidate record id")?;
    candidates
        .into_iter()
        .find(|c| c.records.contains(&id))
        .ok_or_else(|| UsageError(format!("no file and no release candidate {spec}")).into())
}

/// A release given as a record id in the commons, a release file, or a TUF
/// repository directory; with its record id when it has one.
fn load_release(records: &[Record], spec: &str) -> anyhow::Result<(ReleaseManifest, String)> {
    let path = Path::new(spec);
    if path.is_dir() {
        return Ok((release::read_repository(path)?, String::new()));
    }
    if path.is_file() {
        let value = read_json_file(path)?;
        let map = value
            .as_object()
            .cloned()
            .ok_or_else(|| UsageError("a release file is a JSON object".into()))?;
        let m = payload::parse::<ReleaseManifest>(&map)
            .map_err(|e| UsageError(format!("{}: {e}", path.display())))?;
        return Ok((m, String::new()));
    }
    let known: Vec<Hash> = records.iter().map(|r| Hex(r.id().0)).collect();
    let id = resolve_hash(spec, &known, "release (a file, a directory or a record id)")?;
    let record = records
        .iter()
        .find(|r| r.id().0 == id.0)
        .ok_or_else(|| UsageError(format!("no release record {spec} in the commons")))?;
    let m =
        payload::parse::<ReleaseManifest>(&record.payload).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok((m, spec.to_string()))
}

/// Verified releases in the commons, oldest first, with their record ids.
fn verified_releases(ledger: &Ledger) -> Vec<(Hash, tuf::Release)> {
    ledger
        .releases()
        .into_iter()
        .filter_map(|(e, r)| r.ok().map(|r| (e.id, r)))
        .collect()
}

pub fn release_cmd(ctx: &Context, cmd: &ReleaseCommand) -> anyhow::Result<Output> {
    match cmd {
        ReleaseCommand::Build {
            proposals,
            expires_days,
            out,
        } => {
            let (ledger, _) = ledger(ctx)?;
            let t = now();
            let chosen = proposals
                .iter()
                .map(|p| resolve_hash(p, &ledger.proposals(), "proposal id"))
                .collect::<Result<Vec<_>, _>>()?;
            let documents: BTreeMap<String, String> = ctx
                .home
                .constitution()?
                .files()
                .map(|(n, t)| (n.to_string(), t.to_string()))
                .collect();
            let plan = mirror_governance::plan::plan(&ledger, t, &chosen, &documents)
                .map_err(|e| UsageError(e.to_string()))?;
            let mut earlier_guardians = ledger.guardian_history();
            let guardians = earlier_guardians
                .pop()
                .unwrap_or_else(|| ledger.guardians());
            let m = tuf::build(&tuf::BuildSpec {
                version: plan.version,
                previous: plan.previous,
                proposals: plan.proposals.clone(),
                params: &plan.params,
                constitution: plan.constitution.as_ref(),
                guardians: &guardians,
                earlier_guardians: &earlier_guardians,
                earlier_roots: &tuf::chain::carried_roots(&ledger),
                expires_ms: t + i64::from(*expires_days) * 86_400_000,
                root_expires_ms: t + tuf::chain::ROOT_LIFETIME_MS,
            })?;
            let out = out
                .clone()
                .unwrap_or_else(|| PathBuf::from(format!("release-{}.json", m.version)));
            write_file(
                &out,
                &payload::to_payload(&m).map_err(|e| anyhow::anyhow!("{e}"))?,
            )?;
            Output::new(
                json!({"file": out, "version": m.version, "proposals": m.proposals, "params_hash": plan.params.hash()}),
                format!(
                    "release {} built into {} (unsigned; {} of {} guardians sign it with `mirror release sign {}`)",
                    m.version,
                    out.display(),
                    guardians.threshold,
                    guardians.keys.len(),
                    out.display()
                ),
            )
        }
        ReleaseCommand::Sign { file } if !file.exists() => {
            let (ledger, _) = ledger(ctx)?;
            let c = candidate(&ledger, &file.to_string_lossy())?;
            let key = signer(ctx)?;
            let (signed, roles) = tuf::sign(&c.release, &key)?;
            if roles.is_empty() {
                return Err(UsageError(
                    "this node's key is not among the release root's keys: nothing signed".into(),
                )
                .into());
            }
            let (id, how) = publish(ctx, &key, &payload::ReleaseCandidate(signed.clone()))?;
            let complete = tuf::verify(&signed).is_ok();
            Output::new(
                json!({"candidate": c.records[0], "record": id, "roles": roles, "complete": complete}),
                format!(
                    "signed {} of candidate {} (release {}): record {id} {how}{}",
                    roles.join(", "),
                    short(&c.records[0]),
                    c.release.version,
                    if complete {
                        "; the threshold is reached: anyone may `mirror release publish` it"
                    } else {
                        "; more guardians must sign"
                    }
                ),
            )
        }
        ReleaseCommand::Propose { file } => {
            let (m, _) = load_release(&[], &file.to_string_lossy())?;
            let key = signer(ctx)?;
            let (m, roles) = tuf::sign(&m, &key)?;
            if roles.is_empty() {
                return Err(UsageError(
                    "this node's key is not among the release root's keys: a candidate carries its proposer's signature".into(),
                )
                .into());
            }
            let content = tuf::content_id(&m)
                .ok_or_else(|| UsageError("the release's metadata is not JSON".into()))?;
            let (id, how) = publish(ctx, &key, &payload::ReleaseCandidate(m.clone()))?;
            Output::new(
                json!({"id": id, "content": content, "version": m.version, "roles": roles}),
                format!(
                    "release {} proposed as candidate {id} {how}, signed here: {}; guardians sign it with `mirror release sign {}`",
                    m.version,
                    roles.join(", "),
                    short(&id)
                ),
            )
        }
        ReleaseCommand::Pending => {
            let (ledger, _) = ledger(ctx)?;
            let guardians = ledger.guardians();
            let mut rows = Vec::new();
            let mut text = String::new();
            for c in ledger.release_candidates() {
                let signers = tuf::signers(&c.release);
                let on_targets: Vec<String> = signers
                    .get("targets")
                    .into_iter()
                    .flatten()
                    .map(|k| k.to_hex())
                    .collect();
                let state = match (&c.published, &c.verdict) {
                    (Some(id), _) => format!("published as {}", short(id)),
                    (None, Ok(_)) => "ready: anyone may publish it".to_string(),
                    (None, Err(e)) => format!("waiting: {e}"),
                };
                let _ = writeln!(
                    text,
                    "{}  v{:<4} signed by {} of {} guardians (threshold {}): {}; {state}",
                    short(&c.records[0]),
                    c.release.version,
                    on_targets.len(),
                    guardians.keys.len(),
                    guardians.threshold,
                    on_targets.iter().map(short).collect::<Vec<_>>().join(", "),
                );
                rows.push(json!({
                    "id": c.records[0],
                    "records": c.records,
                    "content": c.content,
                    "version": c.release.version,
                    "signers": signers,
                    "threshold": guardians.threshold,
                    "ready": c.verdict.is_ok(),
                    "detail": c.verdict.as_ref().err().map(|e| e.to_string()),
                    "published": c.published,
                }));
            }
            if rows.is_empty() {
                text.push_str("no release candidates");
            }
            Output::new(json!({"candidates": rows}), text.trim_end().to_string())
        }
        ReleaseCommand::Publish { file } if !file.exists() => {
            let (ledger, _) = ledger(ctx)?;
            let c = candidate(&ledger, &file.to_string_lossy())?;
            if let Some(id) = c.published {
                return Err(UsageError(format!("already published as release record {id}")).into());
            }
            c.verdict.map_err(|e| {
                UsageError(format!(
                    "candidate {} cannot be published yet: {e}",
                    short(&c.records[0])
                ))
            })?;
            let (id, how) = publish(ctx, &signer(ctx)?, &c.release)?;
            Output::new(
                json!({"id": id, "version": c.release.version, "candidate": c.records[0]}),
                format!(
                    "release {} published from candidate {}: record {id} {how}",
                    c.release.version,
                    short(&c.records[0])
                ),
            )
        }
        ReleaseCommand::Sign { file } => {
            let (m, _) = load_release(&[], &file.to_string_lossy())?;
            let key = signer(ctx)?;
            let (signed, roles) = tuf::sign(&m, &key)?;
            if roles.is_empty() {
                return Err(UsageError(
                    "this node's key is not among the release root's keys: nothing signed".into(),
                )
                .into());
            }
            write_file(
                file,
                &payload::to_payload(&signed).map_err(|e| anyhow::anyhow!("{e}"))?,
            )?;
            let complete = tuf::verify(&signed).is_ok();
            Output::new(
                json!({"file": file, "roles": roles, "complete": complete}),
                format!(
                    "signed {} in {}{}",
                    roles.join(", "),
                    file.display(),
                    if complete {
                        "; the threshold is reached: `mirror release publish` sends it"
                    } else {
                        "; more guardians must sign"
                    }
                ),
            )
        }
        ReleaseCommand::Publish { file } => {
            let (m, _) = load_release(&[], &file.to_string_lossy())?;
            let (ledger, _) = ledger(ctx)?;
            let r = tuf::verify(&m)?;
            tuf::check_guardians(&r, &ledger.guardians())?;
            let (id, how) = publish(ctx, &signer(ctx)?, &m)?;
            Output::new(
                json!({"id": id, "version": m.version}),
                format!("release {} published: record {id} {how}", m.version),
            )
        }
        ReleaseCommand::Verify { release: spec } => {
            let (ledger, records) = ledger(ctx)?;
            let (m, id) = load_release(&records, spec)?;
            let r = release::verify(&m, &ledger.guardian_history(), now())?;
            let text = format!(
                "release {} verifies: signed by the guardians (root version {}), expires {}, {} proposal(s), pack {}",
                r.info.version,
                r.root_version,
                local_time(r.expires_ms),
                r.info.proposals.len(),
                short(&r.info.params_hash)
            );
            Output::new(
                json!({"ok": true, "id": id, "version": r.info.version, "proposals": r.info.proposals, "params_hash": r.info.params_hash, "expires_ms": r.expires_ms}),
                text,
            )
        }
        ReleaseCommand::Export { release: spec, dir } => {
            let records = if Path::new(spec).exists() {
                Vec::new()
            } else {
                governance_records(ctx)?
            };
            let (m, _) = load_release(&records, spec)?;
            release::write_repository(&m, dir)?;
            Output::new(
                json!({"dir": dir}),
                format!(
                    "written as a TUF repository in {} (metadata/, targets/)",
                    dir.display()
                ),
            )
        }
        ReleaseCommand::List => {
            let (ledger, _) = ledger(ctx)?;
            let state = release::applied_state(&ctx.home)?;
            let current = state.stack.last();
            let mut rows = Vec::new();
            let mut text = String::new();
            for (e, verdict) in ledger.releases() {
                let id = e.id.to_hex();
                let in_force = current.is_some_and(|c| c.release_id == id);
                let (ok, detail, version) = match &verdict {
                    Ok(r) => (true, "verified".to_string(), r.info.version),
                    Err(err) => (false, err.to_string(), 0),
                };
                let _ = writeln!(
                    text,
                    "{}  v{version:<4} {}{}",
                    short(&id),
                    detail,
                    if in_force { "  (in force)" } else { "" }
                );
                rows.push(json!({"id": id, "version": version, "verified": ok, "detail": detail, "in_force": in_force}));
            }
            let _ = writeln!(
                text,
                "in force: {}",
                current.map_or("the genesis pack".to_string(), |c| format!(
                    "release {} (pack {})",
                    c.version,
                    short(&c.params_hash)
                ))
            );
            Output::new(
                json!({"releases": rows, "applied": state}),
                text.trim_end().to_string(),
            )
        }
        ReleaseCommand::Apply { release: spec } => {
            let (ledger, records) = ledger(ctx)?;
            let (m, id) = match spec {
                Some(s) => load_release(&records, s)?,
                None => {
                    let (id, newest) = verified_releases(&ledger)
                        .into_iter()
                        .max_by_key(|(_, r)| r.info.version)
                        .ok_or_else(|| UsageError("no verified release in the commons".into()))?;
                    // Rollback is sticky: what the person took out stays
                    // out until they name it or a newer one arrives.
                    let state = release::applied_state(&ctx.home)?;
                    if state.held_back(newest.info.version) {
                        return Err(UsageError(format!(
                            "release {} was rolled back on this node, so it stays out until you apply it by name (`mirror release apply {}`) or a newer release arrives",
                            newest.info.version,
                            id.to_hex()
                        ))
                        .into());
                    }
                    load_release(&records, &id.to_hex())?
                }
            };
            let t = now();
            let r = release::verify(&m, &ledger.guardian_history(), t)?;
            let (applied, previous) = release::apply(&ctx.home, &r, &id, t)?;
            record_history(
                ctx,
                crate::model::EvolutionAction::Applied,
                &applied,
                previous.as_ref(),
            )?;
            Output::new(
                json!({"applied": applied, "previous": previous}),
                format!(
                    "release {} applied: pack {} in force (was {}); the previous pack is kept, `mirror release rollback` returns to it",
                    applied.version,
                    short(&applied.params_hash),
                    previous
                        .as_ref()
                        .map_or("the genesis pack".into(), |p| format!(
                            "release {}",
                            p.version
                        ))
                ),
            )
        }
        ReleaseCommand::Rollback => {
            let (undone, now_in_force) = release::rollback(&ctx.home)?;
            let back = now_in_force.clone().unwrap_or(release::Applied {
                version: 0,
                release_id: String::new(),
                params_hash: EngineParams::genesis()?.hash(),
                proposals: Vec::new(),
                applied_at: now(),
                constitution: None,
                previous_constitution: None,
            });
            record_history(
                ctx,
                crate::model::EvolutionAction::RolledBack,
                &back,
                Some(&undone),
            )?;
            Output::new(
                json!({"undone": undone, "in_force": now_in_force}),
                format!(
                    "rolled back release {}: {} in force",
                    undone.version,
                    now_in_force.map_or("the genesis pack".into(), |p| format!(
                        "release {}",
                        p.version
                    ))
                ),
            )
        }
    }
}

/// A step in evolution history (the local store).
fn record_history(
    ctx: &Context,
    action: crate::model::EvolutionAction,
    now_in_force: &release::Applied,
    before: Option<&release::Applied>,
) -> anyhow::Result<()> {
    let store = ctx.store()?;
    let entry = crate::model::EvolutionHistory {
        id: crate::model::Id::new(),
        action,
        version: now_in_force.version,
        pack_hash: now_in_force.params_hash.clone(),
        previous_pack_hash: Some(before.map_or_else(
            || {
                EngineParams::genesis()
                    .map(|p| p.hash())
                    .unwrap_or_default()
            },
            |b| b.params_hash.clone(),
        )),
        proposal_ids: now_in_force.proposals.clone(),
        at: crate::model::Timestamp::now(),
    };
    store.insert_evolution_history(&entry)?;
    Ok(())
}
