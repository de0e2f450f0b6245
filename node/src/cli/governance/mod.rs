//! `mirror commons genesis|join`, `mirror member …`, `mirror proposal …`,
//! `mirror guardian sign` and `mirror release …`.
//!
//! Every command reads the commons' records (through the running daemon, or
//! the store when none runs), folds them into the governance ledger, and
//! answers from it; commands that act sign a record with this node's
//! identity key and publish it the same way `mirror commons publish` does.
//! Nothing here decides anything the ledger does not: the CLI is a window
//! onto pure rules.
//!
//! One file per command group, each with its clap arguments: `commons`
//! (genesis, join, list, use), `member`, `proposal`, `guardian` and
//! `release`; this file holds the plumbing they share (reading the ledger,
//! signing and publishing a record, durations and times for people).

use std::path::Path;

use anyhow::Context as _;
use ed25519_dalek::SigningKey;
use mirror_commons::record::{Kind, Record};
use mirror_constitution::compliance::Checker;
use mirror_governance::ledger::Ledger;
use mirror_governance::payload::{self, Hash, Hex, Payload, PublicKey};
use serde_json::Value;

use super::{Context, UsageError};
use crate::daemon;

mod commons;
mod guardian;
mod member;
mod proposal;
mod release;

pub use commons::{GenesisCommand, genesis, join, list_commons, use_commons};
pub use guardian::{GuardianCommand, guardian};
pub use member::{MemberCommand, member};
pub use proposal::{ProposalCommand, proposal};
pub use release::{ReleaseCommand, release_cmd};

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

/// This node's public key, read without its secret key (for answers that
/// only say what this node may do).
fn my_public_key(ctx: &Context) -> anyhow::Result<PublicKey> {
    let store = ctx.store()?;
    Ok(Hex(ctx.identity(&store)?.public_key.0))
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

/// The constitution's compliance checker, as this node holds it.
fn checker(ctx: &Context) -> anyhow::Result<Checker> {
    ctx.home
        .constitution()?
        .checker()
        .map_err(|e| anyhow::anyhow!("the constitution's compliance lexicon: {e}"))
}
