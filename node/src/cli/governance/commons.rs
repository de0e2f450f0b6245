//! `mirror commons genesis new|join|list|use`: founding a commons, joining
//! one, and switching between the commons this node holds.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use mirror_commons::record::{Kind, Record};
use mirror_governance::payload::{self, Genesis, Hex, Payload as _, PublicKey, VotingRules};
use serde_json::{Value, json};

use super::{now, parse_duration_ms, short, signer};
use crate::cli::{Context, Output, UsageError};
use crate::daemon;

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
