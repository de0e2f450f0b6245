//! Telemetry on this node: measuring a reporting period, randomising it,
//! and handing one anonymous packet to the commons, only with consent.
//!
//! What leaves is decided here and nowhere else:
//!
//! * **Consent first.** Without `telemetry` consent nothing is measured,
//!   prepared or sent: no packet, not even an empty one. Revoking consent
//!   deletes the prepared packet, the only thing that ever waits.
//! * **Only the registry's metrics,** each randomised on the node
//!   (`mirror_governance::telemetry::randomize`) and only while its privacy
//!   budget lasts; the privacy-loss ledger is a file in the home.
//! * **Nothing that links.** A packet carries the registry version, the
//!   period index and noised values; it is signed by a key made for it and
//!   thrown away, and created at the start of the period after the one it
//!   reports, so its time says no more than the period. The commons gives
//!   each telemetry record a fresh Automerge actor.
//! * **Seen before sent.** `mirror telemetry preview` shows the exact record
//!   bytes the next packet will carry (prepared once per period and kept in
//!   `telemetry/pending.json` until sent); every packet sent is written to the
//!   egress log before it leaves and its bytes to `telemetry/sent.jsonl`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use ed25519_dalek::SigningKey;
use mirror_commons::record::{Kind, Record};
use mirror_governance::payload::{self, TelemetryPacket};
use mirror_governance::telemetry::{
    Estimate, PrivacyLedger, TelemetryRegistry, TrueValue, aggregate, randomize,
};
use serde::{Deserialize, Serialize};

use crate::home::{Home, write_atomic};
use crate::model::{ConsentCategory, EgressKind, EgressRecord, EngineMode, Id, Timestamp};
use crate::store::Store;

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Home(#[from] crate::home::HomeError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("{0}")]
    Invalid(String),
}

type Result<T> = std::result::Result<T, TelemetryError>;

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> TelemetryError {
    let context = context.into();
    move |source| TelemetryError::Io { context, source }
}

/// What the node remembers between packets (0600 file).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// The last period reported (or skipped for lack of anything to say).
    pub last_period: Option<u64>,
    pub ledger: PrivacyLedger,
}

/// A prepared packet: the exact record the next send publishes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pending {
    pub period: u64,
    /// The record's canonical JSON text.
    pub record: String,
    /// The metrics it spends budget on.
    pub metrics: Vec<String>,
}

fn dir(home: &Home) -> PathBuf {
    home.dir().join("telemetry")
}

fn read_json<T: serde::de::DeserializeOwned>(path: &std::path::Path) -> Result<Option<T>> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| TelemetryError::Invalid(format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(format!("reading {}", path.display()))(e)),
    }
}

fn write_json(path: &std::path::Path, value: &impl Serialize) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io(format!("creating {}", parent.display())))?;
    }
    let bytes =
        serde_json::to_vec_pretty(value).map_err(|e| TelemetryError::Invalid(e.to_string()))?;
    Ok(write_atomic(path, &bytes, 0o600)?)
}

pub fn state(home: &Home) -> Result<State> {
    Ok(read_json(&dir(home).join("state.json"))?.unwrap_or_default())
}

pub fn pending(home: &Home) -> Result<Option<Pending>> {
    read_json(&dir(home).join("pending.json"))
}

/// Forget the prepared packet (consent revoked: nothing waiting is sent).
pub fn discard_pending(home: &Home) -> Result<bool> {
    let path = dir(home).join("pending.json");
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io(format!("removing {}", path.display()))(e)),
    }
}

/// The packets this node sent, oldest first (record text per line).
pub fn sent_log(home: &Home) -> Result<Vec<String>> {
    let path = dir(home).join("sent.jsonl");
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(text.lines().map(str::to_string).collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(io(format!("reading {}", path.display()))(e)),
    }
}

/// The last complete period at `now_ms`.
pub fn due_period(registry: &TelemetryRegistry, now_ms: i64) -> Option<u64> {
    let now = u64::try_from(now_ms).ok()?;
    (now / registry.period_ms).checked_sub(1)
}

fn median(mut xs: Vec<f64>) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    xs.sort_by(f64::total_cmp);
    Some(xs[xs.len() / 2])
}

/// A run counts as a directive violation when a rejected answer was flagged
/// for advice or directives.
pub fn is_directive_flag(flag: &str) -> bool {
    flag == "explicit_advice" || flag.starts_with("directive")
}

/// What this node did in `period`, before any noise: never leaves the node.
pub fn measure(
    store: &Store,
    registry: &TelemetryRegistry,
    period: u64,
) -> Result<Vec<(String, TrueValue)>> {
    let start = i64::try_from(period.saturating_mul(registry.period_ms)).unwrap_or(i64::MAX);
    let end = start.saturating_add(i64::try_from(registry.period_ms).unwrap_or(i64::MAX));
    let inside = |t: Timestamp| {
        let ms = t.as_micros() / 1000;
        start <= ms && ms < end
    };
    // Only the period's records (and the runs of its reflections), never
    // the whole journal.
    let stamp = |ms: i64| {
        Timestamp::from_micros(ms.saturating_mul(1000))
            .map_err(|_| TelemetryError::Invalid("period out of range".into()))
    };
    let batch = store.window(stamp(start)?, stamp(end)?)?;
    // An entry the crisis check answered adds nothing to telemetry: not
    // its reflection, not its run, not its mirrorback (constitution, I7).
    let crisis: std::collections::HashSet<crate::model::Id> = batch
        .engine_runs
        .iter()
        .filter(|r| {
            r.flags
                .iter()
                .any(|f| f == crate::engine::safety::CRISIS_FLAG)
        })
        .map(|r| r.reflection_id)
        .collect();
    let reflections = batch
        .reflections
        .iter()
        .filter(|r| inside(r.created_at) && !crisis.contains(&r.id))
        .count() as u64;
    let runs: Vec<_> = batch
        .engine_runs
        .iter()
        .filter(|r| inside(r.created_at) && !crisis.contains(&r.reflection_id))
        .collect();
    let model_runs: Vec<_> = runs
        .iter()
        .filter(|r| r.mode != EngineMode::Manual)
        .collect();
    let mirrorbacks: Vec<_> = batch
        .mirrorbacks
        .iter()
        .filter(|m| {
            inside(m.created_at)
                && m.engine_mode != EngineMode::Manual
                && !crisis.contains(&m.reflection_id)
        })
        .collect();
    let ratings: Vec<f64> = batch
        .engine_feedback
        .iter()
        .filter(|f| inside(f.created_at))
        .map(|f| f64::from(f.rating))
        .collect();
    let mut out = Vec::new();
    for spec in &registry.metrics {
        let value = match spec.name.as_str() {
            "reflections.count" => Some(TrueValue::Counter(reflections)),
            "patterns.noticed" => Some(TrueValue::Rate {
                events: runs.iter().filter(|r| !r.patterns.is_empty()).count() as u64,
                opportunities: runs.len() as u64,
            }),
            "engine.directive_violations" => Some(TrueValue::Rate {
                events: model_runs
                    .iter()
                    .filter(|r| r.flags.iter().any(|f| is_directive_flag(f)))
                    .count() as u64,
                opportunities: model_runs.len() as u64,
            }),
            "engine.fallbacks" => Some(TrueValue::Rate {
                events: mirrorbacks.iter().filter(|m| m.fell_back).count() as u64,
                opportunities: mirrorbacks.len() as u64,
            }),
            "feedback.rating" => median(ratings.clone()).map(TrueValue::Histogram),
            "engine.duration_ms" => median(runs.iter().map(|r| r.duration_ms as f64).collect())
                .map(TrueValue::Histogram),
            // A metric this node does not know how to measure is not
            // reported (a newer registry than the code).
            _ => None,
        };
        if let Some(v) = value {
            out.push((spec.name.clone(), v));
        }
    }
    Ok(out)
}

/// Uniform 64-bit words from the operating system.
fn os_rng() -> impl FnMut() -> u64 {
    || {
        let mut b = [0u8; 8];
        // getrandom fails only when the OS has no randomness at all; then
        // no packet must be made, which `prepare` checks by drawing once.
        let _ = getrandom::fill(&mut b);
        u64::from_le_bytes(b)
    }
}

/// Randomise `measured` into a packet for `period`, within the budget.
pub fn packet(
    registry: &TelemetryRegistry,
    ledger: &PrivacyLedger,
    period: u64,
    measured: &[(String, TrueValue)],
    rng: &mut dyn FnMut() -> u64,
) -> Option<TelemetryPacket> {
    let metrics: Vec<_> = measured
        .iter()
        .filter_map(|(name, value)| {
            let spec = registry.get(name)?;
            if !ledger.can_spend(spec) {
                return None;
            }
            randomize(spec, value, rng)
        })
        .collect();
    (!metrics.is_empty()).then_some(TelemetryPacket {
        registry_version: registry.version,
        period,
        metrics,
    })
}

/// The packet signed by a key made for it alone, created at the start of
/// the period after the one it reports.
pub fn sign(registry: &TelemetryRegistry, packet: &TelemetryPacket) -> Result<Record> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed)
        .map_err(|e| TelemetryError::Invalid(format!("no randomness for a key: {e}")))?;
    let key = SigningKey::from_bytes(&seed);
    let created_at = i64::try_from((packet.period + 1).saturating_mul(registry.period_ms))
        .map_err(|_| TelemetryError::Invalid("period out of range".into()))?;
    let map = payload::to_payload(packet).map_err(|e| TelemetryError::Invalid(e.to_string()))?;
    Record::sign(Kind::TelemetryPacket, created_at, map, &key)
        .map_err(|e| TelemetryError::Invalid(e.to_string()))
}

/// The packet due at `now_ms`, prepared once and kept until sent; None when
/// consent is off, the period was reported, or there is nothing to report.
pub fn prepare(
    home: &Home,
    store: &Store,
    registry: &TelemetryRegistry,
    now_ms: i64,
) -> Result<Option<Pending>> {
    if !store.consent_granted(ConsentCategory::Telemetry)? {
        return Ok(None);
    }
    let Some(period) = due_period(registry, now_ms) else {
        return Ok(None);
    };
    let st = state(home)?;
    if st.last_period.is_some_and(|p| p >= period) {
        return Ok(None);
    }
    if let Some(p) = pending(home)?
        && p.period == period
    {
        return Ok(Some(p));
    }
    let measured = measure(store, registry, period)?;
    let Some(packet) = packet(registry, &st.ledger, period, &measured, &mut os_rng()) else {
        // Nothing to say (or every budget spent): the period is done.
        let mut st = st;
        st.last_period = Some(period);
        write_json(&dir(home).join("state.json"), &st)?;
        return Ok(None);
    };
    let record = sign(registry, &packet)?;
    let pending = Pending {
        period,
        record: String::from_utf8_lossy(record.bytes()).into_owned(),
        metrics: packet.metrics.iter().map(|m| m.name.clone()).collect(),
    };
    write_json(&dir(home).join("pending.json"), &pending)?;
    Ok(Some(pending))
}

/// Record that `pending` is about to leave: the egress log (before it
/// leaves; if that fails, it does not leave) and the audit file.
pub fn log_departure(
    home: &Home,
    store: &Store,
    pending: &Pending,
    destination: &str,
) -> Result<()> {
    // Consent is checked again at the moment of sending.
    if !store.consent_granted(ConsentCategory::Telemetry)? {
        discard_pending(home)?;
        return Err(TelemetryError::Invalid(
            "telemetry consent is off; nothing was sent".into(),
        ));
    }
    store.log_egress(&EgressRecord {
        id: Id::new(),
        kind: EgressKind::TelemetryPacket,
        destination: destination.to_string(),
        bytes: pending.record.len() as u64,
        content_hash: blake3::hash(pending.record.as_bytes()).to_hex().to_string(),
        summary: format!(
            "telemetry packet for period {} ({})",
            pending.period,
            pending.metrics.join(", ")
        ),
        at: Timestamp::now(),
    })?;
    let path = dir(home).join("sent.jsonl");
    use std::io::Write as _;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(io(format!("opening {}", path.display())))?;
    writeln!(file, "{}", pending.record)
        .and_then(|_| file.sync_all())
        .map_err(io(format!("writing {}", path.display())))?;
    Ok(())
}

/// After the commons accepted it: spend the budget, mark the period done,
/// drop the pending file.
pub fn mark_sent(home: &Home, registry: &TelemetryRegistry, pending: &Pending) -> Result<()> {
    let mut st = state(home)?;
    for name in &pending.metrics {
        if let Some(spec) = registry.get(name) {
            st.ledger.spend(spec);
        }
    }
    st.last_period = Some(pending.period);
    write_json(&dir(home).join("state.json"), &st)?;
    discard_pending(home)?;
    Ok(())
}

/// Every metric registry this node holds, by version: the genesis pack's,
/// each pack a release put in force here (kept for rollback), and the one
/// in force (which wins for its version). A packet is judged against the
/// registry of the version it declares, so a node that applied a release
/// still counts the periods measured before it, and a node that has not
/// applied it yet leaves the newer packets out rather than misread them.
/// A kept pack that does not read is skipped (it only costs its counts).
pub fn known_registries(home: &Home) -> Result<BTreeMap<u64, TelemetryRegistry>> {
    let mut out = BTreeMap::new();
    let genesis = mirror_governance::params::EngineParams::genesis()
        .map_err(|e| TelemetryError::Invalid(format!("the genesis pack: {e}")))?;
    out.insert(genesis.telemetry.version, genesis.telemetry);
    let packs = crate::release::kept_packs_dir(home);
    let mut files: Vec<PathBuf> = match std::fs::read_dir(&packs) {
        Ok(entries) => entries.filter_map(|e| e.ok().map(|e| e.path())).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(io(format!("reading {}", packs.display()))(e)),
    };
    // Sorted, so which of two packs of one version wins does not depend on
    // the directory's order.
    files.sort();
    for path in files {
        match std::fs::read(&path)
            .map_err(|e| e.to_string())
            .and_then(|b| {
                mirror_governance::params::EngineParams::from_json(&b).map_err(|e| e.to_string())
            }) {
            Ok(p) => {
                out.insert(p.telemetry.version, p.telemetry);
            }
            Err(e) => tracing::warn!(pack = %path.display(), error = %e, "kept pack skipped"),
        }
    }
    let current = home.engine_params()?.telemetry;
    out.insert(current.version, current);
    Ok(out)
}

/// One period's aggregate, counted under one registry version.
#[derive(Debug, Clone, Serialize)]
pub struct PeriodAggregate {
    /// The registry the counts are under.
    pub registry_version: u64,
    /// Its release threshold (k).
    pub min_packets: u32,
    /// Packets declaring other versions, by version: kept, not counted here.
    pub uncounted: BTreeMap<u64, usize>,
    pub metrics: Vec<Estimate>,
}

/// Aggregate one period's packets under the registry most of them declare
/// among those this node holds (the newest on a tie; the one in force when
/// it holds none of theirs). Registries differ in metrics and noise, so
/// packets of different versions are never pooled: the others are counted
/// as left out.
pub fn aggregate_period(
    registries: &BTreeMap<u64, TelemetryRegistry>,
    in_force: &TelemetryRegistry,
    packets: &[TelemetryPacket],
) -> PeriodAggregate {
    let mut by_version: BTreeMap<u64, usize> = BTreeMap::new();
    for p in packets {
        *by_version.entry(p.registry_version).or_default() += 1;
    }
    let registry = by_version
        .iter()
        .filter(|(v, _)| registries.contains_key(v))
        .max_by_key(|(v, n)| (**n, **v))
        .and_then(|(v, _)| registries.get(v))
        .unwrap_or(in_force);
    by_version.remove(&registry.version);
    PeriodAggregate {
        registry_version: registry.version,
        min_packets: registry.min_packets,
        uncounted: by_version,
        metrics: aggregate(registry, packets),
    }
}
