//! The commons document: accepted records in Automerge, one document per
//! class and epoch, and the check every change from a peer must pass.
//!
//! # Shape
//!
//! Each document starts from a *genesis change* that every node builds
//! identically (actor `00…00`, time 0): it writes the commons id and the
//! document key at the root and creates one map per record kind of its
//! class. A record is then one operation: `put(kind_map, id_hex,
//! bytes(record))`, with no predecessor. Nothing else is ever written.
//!
//! # Why a document per epoch
//!
//! Automerge keeps every operation forever, so an unbounded document grows
//! without end. Records are placed by the month of their `created_at`
//! (which the gate bounds, and which every node reads the same way):
//! governance records in `governance/YYYY-MM`, telemetry in
//! `telemetry/YYYY-MM`. Old telemetry epochs are dropped whole; old
//! governance epochs stop changing and load from one compact chunk.
//!
//! # Why changes are checked before Automerge sees them
//!
//! Automerge has no notion of authorisation: any peer may send a change
//! that deletes a key or overwrites a value, and applying it would rewrite
//! history on every node that syncs. So a sync message is taken apart
//! first ([`EpochDoc::check_sync_message`]): only plain change chunks, no
//! compression (a decompression bomb costs nothing to send), timestamp 0,
//! and every operation a predecessor-free `put` of bytes into one of this
//! document's kind maps under a key that is a record id. The records are
//! then handed to the gate by the caller, and only if every one passes is
//! the message applied. Anything else rejects the whole message.

use std::collections::BTreeMap;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};

use automerge::legacy::{Key, ObjectId, OpType};
use automerge::sync::{self, Message, MessageVersion, SyncDoc};
use automerge::transaction::{CommitOptions, Transactable};
use automerge::{
    ActorId, Automerge, Change, ChangeHash, ObjId, ObjType, ROOT, ReadDoc, ScalarValue,
};

use crate::record::{Kind, Record, RecordId};

/// Bounds on what a peer may ask of us in one sync message.
pub const MAX_SYNC_MESSAGE_BYTES: usize = 64 * 1024 * 1024;
const MAX_HASHES: usize = 100_000;
/// Changes per outgoing message, in bytes: a quarter of the 16 MiB the
/// sync codec takes in one message, so framing never pushes a message over
/// it; a larger catch-up goes out over several rounds.
pub const MAX_OUTGOING_CHANGE_BYTES: usize = 4 * 1024 * 1024;
const MAX_BLOOM_ENTRIES: u64 = 10_000_000;
/// Automerge's own bloom filter parameters; anything else is not from an
/// honest Automerge and can make its filter code divide by zero or spin.
const BLOOM_BITS_PER_ENTRY: u64 = 10;
const BLOOM_PROBES: u64 = 7;
const CHUNK_MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
const CHUNK_TYPE_CHANGE: u8 = 1;

/// Which records a document holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Class {
    Governance,
    Telemetry,
}

impl Class {
    fn of(kind: Kind) -> Class {
        if kind == Kind::TelemetryPacket {
            Class::Telemetry
        } else {
            Class::Governance
        }
    }

    fn kinds(self) -> Vec<Kind> {
        Kind::ALL
            .into_iter()
            .filter(|k| Class::of(*k) == self)
            .collect()
    }

    fn as_str(self) -> &'static str {
        match self {
            Class::Governance => "governance",
            Class::Telemetry => "telemetry",
        }
    }
}

/// A document's key: class and month, written `governance/2026-11`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DocKey {
    pub class: Class,
    /// Months since January 1970.
    pub month: u32,
}

impl DocKey {
    pub fn for_record(record: &Record) -> DocKey {
        DocKey::of(record.kind, record.created_at)
    }

    pub fn of(kind: Kind, created_at: i64) -> DocKey {
        DocKey {
            class: Class::of(kind),
            month: month_of(created_at),
        }
    }

    pub fn parse(s: &str) -> Option<DocKey> {
        let (class, ym) = s.split_once('/')?;
        let class = match class {
            "governance" => Class::Governance,
            "telemetry" => Class::Telemetry,
            _ => return None,
        };
        let (y, m) = ym.split_once('-')?;
        if y.len() != 4 || m.len() != 2 {
            return None;
        }
        let (y, m): (u32, u32) = (y.parse().ok()?, m.parse().ok()?);
        if !(1970..=9999).contains(&y) || !(1..=12).contains(&m) {
            return None;
        }
        Some(DocKey {
            class,
            month: (y - 1970) * 12 + (m - 1),
        })
    }
}

impl fmt::Display for DocKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{:04}-{:02}",
            self.class.as_str(),
            1970 + self.month / 12,
            self.month % 12 + 1
        )
    }
}

/// Months since 1970 of a unix-millisecond time (civil calendar, UTC).
pub fn month_of(unix_ms: i64) -> u32 {
    let days = unix_ms.div_euclid(86_400_000);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    ((y - 1970) * 12 + (m - 1)).clamp(0, i64::from(u32::MAX)) as u32
}

/// Why a sync message was refused. The whole message is refused; nothing
/// from it is applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyncError {
    #[error("sync message is {0} bytes, over the limit")]
    TooLarge(usize),
    #[error("sync message does not decode: {0}")]
    Decode(String),
    #[error("sync message uses a format this commons does not speak ({0})")]
    Format(&'static str),
    #[error("sync message carries an implausible bloom filter ({0})")]
    Bloom(String),
    #[error("change {index} is not a plain change chunk")]
    ChunkType { index: usize },
    #[error("change {index} does not decode: {reason}")]
    BadChange { index: usize, reason: String },
    #[error("change {index} carries a timestamp; commons changes must say 0")]
    Timestamp { index: usize },
    #[error("change {index} op {op}: {what}")]
    ForbiddenOp {
        index: usize,
        op: usize,
        what: &'static str,
    },
    #[error("change {index} op {op}: record under key {key} does not match: {reason}")]
    BadRecord {
        index: usize,
        op: usize,
        key: String,
        reason: String,
    },
    #[error("change {index} op {op}: record under key {key} hashes to {actual}")]
    WrongId {
        index: usize,
        op: usize,
        key: String,
        actual: String,
    },
    #[error("Automerge refused the message: {0}")]
    Apply(String),
    /// A change whose dependencies this document lacks. Automerge would
    /// queue it out of sight: the record would be counted as accepted while
    /// the document (what sync serves) does not hold it. Not the sender's
    /// fault (gossip runs ahead of sync); sync brings it with its
    /// dependencies.
    #[error("change depends on {0} change(s) this document does not hold yet")]
    MissingDeps(usize),
}

impl SyncError {
    /// A short stable name for counting and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            SyncError::ForbiddenOp { .. } => "forbidden_op",
            SyncError::WrongId { .. } => "wrong_id",
            SyncError::BadRecord { .. } => "bad_record",
            SyncError::Timestamp { .. } => "timestamp",
            SyncError::ChunkType { .. } | SyncError::BadChange { .. } => "bad_change",
            SyncError::MissingDeps(_) => "missing_deps",
            _ => "bad_sync_message",
        }
    }
}

/// A record found in a checked sync message, not yet through the gate.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub id: RecordId,
    pub kind: Kind,
    pub bytes: Vec<u8>,
}

/// A sync message whose every operation has the allowed shape.
///
/// Its changes may still lack a parent: an honest peer sends a child whose
/// parent it wrongly believes we hold (a bloom filter false positive), and
/// Automerge queues it until the parent comes, asking for the parent in
/// its next message. So a candidate is accepted only once the document
/// holds it (see `Commons::receive`).
#[derive(Debug)]
pub struct CheckedMessage {
    message: Message,
    /// The records in the message's changes, not yet through the gate.
    pub candidates: Vec<Candidate>,
}

/// One epoch's Automerge document.
pub struct EpochDoc {
    key: DocKey,
    doc: Automerge,
    genesis: ChangeHash,
    /// (counter, actor) of each kind map, as created by the genesis change.
    maps: BTreeMap<Kind, ObjId>,
    /// Heads at the last save, for incremental saves.
    saved_heads: Vec<ChangeHash>,
}

fn genesis_actor() -> ActorId {
    ActorId::from(vec![0u8; 16])
}

impl EpochDoc {
    /// A fresh document holding only the genesis change.
    pub fn new(commons_id: &str, key: DocKey) -> EpochDoc {
        let (doc, genesis, maps) = Self::genesis(commons_id, key);
        EpochDoc {
            key,
            doc,
            genesis,
            maps,
            saved_heads: Vec::new(),
        }
    }

    fn genesis(commons_id: &str, key: DocKey) -> (Automerge, ChangeHash, BTreeMap<Kind, ObjId>) {
        let mut doc = Automerge::new().with_actor(genesis_actor());
        let mut tx = doc.transaction();
        let mut maps = BTreeMap::new();
        // Writing to a fresh document cannot fail: the objects exist.
        let _ = tx.put(ROOT, "commons", commons_id);
        let _ = tx.put(ROOT, "doc", key.to_string());
        for kind in key.class.kinds() {
            if let Ok(obj) = tx.put_object(ROOT, kind.as_str(), ObjType::Map) {
                maps.insert(kind, obj);
            }
        }
        let (hash, _) = tx.commit_with(CommitOptions::default().with_time(0));
        let genesis = hash.unwrap_or_else(|| doc.get_heads()[0]);
        (doc, genesis, maps)
    }

    /// Load saved chunks (as written by [`EpochDoc::save_incremental`]);
    /// refuses bytes whose genesis is not this commons' genesis.
    pub fn load(commons_id: &str, key: DocKey, bytes: &[u8]) -> Result<EpochDoc, SyncError> {
        let mut fresh = EpochDoc::new(commons_id, key);
        let loaded = catch_unwind(AssertUnwindSafe(|| Automerge::load(bytes)))
            .map_err(|_| SyncError::Decode("panic while loading".into()))?
            .map_err(|e| SyncError::Decode(e.to_string()))?;
        if loaded.get_change_by_hash(&fresh.genesis).is_none() {
            return Err(SyncError::Decode(format!(
                "saved document {key} is not of this commons"
            )));
        }
        fresh.saved_heads = loaded.get_heads();
        fresh.doc = loaded;
        Ok(fresh)
    }

    pub fn key(&self) -> DocKey {
        self.key
    }

    pub fn heads(&self) -> Vec<ChangeHash> {
        self.doc.get_heads()
    }

    /// Insert an accepted record as a change by `actor` (random per node
    /// session, fresh per record for anonymous kinds). Returns the change
    /// to gossip, or None when the document already holds the key.
    pub fn insert(&mut self, record: &Record, actor: ActorId) -> Option<Change> {
        let map = self.maps.get(&record.kind)?.clone();
        let key = record.id().to_hex();
        if self.doc.get(&map, key.as_str()).ok().flatten().is_some() {
            return None;
        }
        self.doc.set_actor(actor);
        let mut tx = self.doc.transaction();
        tx.put(
            &map,
            key.as_str(),
            ScalarValue::Bytes(record.bytes().to_vec()),
        )
        .ok()?;
        let (hash, _) = tx.commit_with(CommitOptions::default().with_time(0));
        let hash = hash?;
        self.doc.get_change_by_hash(&hash)
    }

    /// Whether the document holds the record.
    pub fn contains(&self, kind: Kind, id: &RecordId) -> bool {
        self.maps.get(&kind).is_some_and(|m| {
            self.doc
                .get(m, id.to_hex().as_str())
                .ok()
                .flatten()
                .is_some()
        })
    }

    /// Every record in the document, for rebuilding the accepted set.
    pub fn records(&self) -> Vec<(Kind, RecordId, Vec<u8>)> {
        let mut out = Vec::new();
        for (kind, map) in &self.maps {
            for key in self.doc.keys(map) {
                if let (Some(id), Ok(Some((automerge::Value::Scalar(v), _)))) =
                    (RecordId::from_hex(&key), self.doc.get(map, key.as_str()))
                    && let ScalarValue::Bytes(b) = v.as_ref()
                {
                    out.push((*kind, id, b.clone()));
                }
            }
        }
        out
    }

    /// Check a single change (a gossiped one, or one inside a sync message).
    pub fn check_change(&self, index: usize, bytes: &[u8]) -> Result<Vec<Candidate>, SyncError> {
        if bytes.len() < 9 || bytes[..4] != CHUNK_MAGIC || bytes[8] != CHUNK_TYPE_CHANGE {
            return Err(SyncError::ChunkType { index });
        }
        let change = catch_unwind(|| Change::try_from(bytes))
            .map_err(|_| SyncError::BadChange {
                index,
                reason: "panic while decoding".into(),
            })?
            .map_err(|e| SyncError::BadChange {
                index,
                reason: e.to_string(),
            })?;
        if change.hash() == self.genesis {
            return Ok(Vec::new());
        }
        if change.timestamp() != 0 {
            return Err(SyncError::Timestamp { index });
        }
        // A commons change writes into a kind map made by the genesis
        // actor, with no predecessors, so the only other actor it may name
        // is the genesis actor. Naming one this document does not know
        // makes Automerge panic while applying (fuzz/crashers/change/);
        // refused here, before Automerge sees it.
        let genesis = genesis_actor();
        if change.actors().skip(1).any(|a| *a != genesis) {
            return Err(SyncError::ForbiddenOp {
                index,
                op: 0,
                what: "names an actor other than its author and the genesis",
            });
        }
        // A change with no operation inserts no record and has no business
        // in the commons.
        if change.is_empty() {
            return Err(SyncError::ForbiddenOp {
                index,
                op: 0,
                what: "carries no operation",
            });
        }
        let expanded = catch_unwind(AssertUnwindSafe(|| change.decode())).map_err(|_| {
            SyncError::BadChange {
                index,
                reason: "panic while expanding".into(),
            }
        })?;
        if expanded.message.is_some() {
            return Err(SyncError::ForbiddenOp {
                index,
                op: 0,
                what: "changes carry no message",
            });
        }
        let mut out = Vec::with_capacity(expanded.operations.len());
        for (op_index, op) in expanded.operations.iter().enumerate() {
            let forbidden = |what| SyncError::ForbiddenOp {
                index,
                op: op_index,
                what,
            };
            if op.insert {
                return Err(forbidden("list insertion"));
            }
            // Deletes and root writes usually have predecessors too; they
            // are named before the overwrite check would catch them.
            if matches!(op.action, OpType::Delete) {
                return Err(forbidden("deletes a key"));
            }
            let ObjectId::Id(obj) = &op.obj else {
                return Err(forbidden("writes to the document root"));
            };
            if !op.pred.is_empty() {
                return Err(forbidden("overwrites an existing value"));
            }
            let value = match &op.action {
                OpType::Put(ScalarValue::Bytes(b)) => b,
                OpType::Put(_) => return Err(forbidden("puts a value that is not record bytes")),
                OpType::Make(_) => return Err(forbidden("creates an object")),
                _ => return Err(forbidden("operation other than put")),
            };
            let kind = self
                .maps
                .iter()
                .find(|(_, m)| matches!(m, ObjId::Id(c, a, _) if *c == obj.0 && *a == obj.1))
                .map(|(k, _)| *k)
                .ok_or_else(|| forbidden("writes outside the record maps"))?;
            let Key::Map(key) = &op.key else {
                return Err(forbidden("sequence key"));
            };
            let bad = |reason: String| SyncError::BadRecord {
                index,
                op: op_index,
                key: key.chars().take(64).collect(),
                reason,
            };
            let id = RecordId::from_hex(key).ok_or_else(|| bad("key is not a record id".into()))?;
            let actual = RecordId::of(value);
            if actual != id {
                return Err(SyncError::WrongId {
                    index,
                    op: op_index,
                    key: key.chars().take(64).collect(),
                    actual: actual.to_hex(),
                });
            }
            let record = Record::decode(value).map_err(|e| bad(e.to_string()))?;
            if record.kind != kind {
                return Err(bad(format!("a {} record in the {kind} map", record.kind)));
            }
            if DocKey::for_record(&record) != self.key {
                return Err(bad(format!("belongs to {}", DocKey::for_record(&record))));
            }
            out.push(Candidate {
                id,
                kind,
                bytes: value.clone(),
            });
        }
        Ok(out)
    }

    /// Take a peer's sync message apart and check every change in it.
    pub fn check_sync_message(&self, bytes: &[u8]) -> Result<CheckedMessage, SyncError> {
        if bytes.len() > MAX_SYNC_MESSAGE_BYTES {
            return Err(SyncError::TooLarge(bytes.len()));
        }
        let mut message = catch_unwind(|| Message::decode(bytes))
            .map_err(|_| SyncError::Decode("panic while decoding".into()))?
            .map_err(|e| SyncError::Decode(e.to_string()))?;
        // Honest nodes speak V1 with one change per chunk: V2 may carry a
        // whole compressed document, which cannot be checked op by op
        // without inflating it first.
        if message.version != MessageVersion::V1 {
            return Err(SyncError::Format("only V1 sync messages"));
        }
        // Current Automerge implementations add a flags section (capability
        // advertisements such as SUPPORTS_SYNC_RESET). It is read and
        // dropped: were Automerge to see it, it would take the peer for one
        // that accepts V2 messages and might answer with a whole document.
        message.flags = None;
        if message.heads.len() > MAX_HASHES
            || message.need.len() > MAX_HASHES
            || message.have.len() > 64
        {
            return Err(SyncError::Format("too many hashes"));
        }
        for have in &message.have {
            if have.last_sync.len() > MAX_HASHES {
                return Err(SyncError::Format("too many hashes"));
            }
            check_bloom(&have.bloom.to_bytes())?;
        }
        let mut candidates = Vec::new();
        for (index, chunk) in message.changes.iter().enumerate() {
            candidates.extend(self.check_change(index, chunk)?);
        }
        Ok(CheckedMessage {
            message,
            candidates,
        })
    }

    /// Apply a checked message (after the gate accepted every candidate).
    pub fn receive(
        &mut self,
        state: &mut sync::State,
        checked: CheckedMessage,
    ) -> Result<(), SyncError> {
        let doc = &mut self.doc;
        catch_unwind(AssertUnwindSafe(|| {
            doc.receive_sync_message(state, checked.message)
        }))
        .map_err(|_| SyncError::Apply("panic while applying".into()))?
        .map_err(|e| SyncError::Apply(e.to_string()))
    }

    /// How many of a change's dependencies this document lacks.
    pub fn missing_deps(&self, bytes: &[u8]) -> Result<usize, SyncError> {
        let change = catch_unwind(|| Change::try_from(bytes))
            .map_err(|_| SyncError::BadChange {
                index: 0,
                reason: "panic while decoding".into(),
            })?
            .map_err(|e| SyncError::BadChange {
                index: 0,
                reason: e.to_string(),
            })?;
        Ok(change
            .deps()
            .iter()
            .filter(|d| self.doc.get_change_meta_by_hash(d).is_none())
            .count())
    }

    /// Apply one checked gossiped change. Refused unless every dependency
    /// is present, and verified to be in the document afterwards: a change
    /// Automerge merely queued would be a record counted but never served.
    pub fn apply_change(&mut self, bytes: &[u8]) -> Result<(), SyncError> {
        let missing = self.missing_deps(bytes)?;
        if missing > 0 {
            return Err(SyncError::MissingDeps(missing));
        }
        let change = Change::try_from(bytes).map_err(|e| SyncError::BadChange {
            index: 0,
            reason: e.to_string(),
        })?;
        let hash = change.hash();
        let doc = &mut self.doc;
        catch_unwind(AssertUnwindSafe(|| doc.apply_changes([change])))
            .map_err(|_| SyncError::Apply("panic while applying".into()))?
            .map_err(|e| SyncError::Apply(e.to_string()))?;
        if self.doc.get_change_meta_by_hash(&hash).is_none() {
            return Err(SyncError::Apply("the change was not applied".into()));
        }
        Ok(())
    }

    /// The next message for a peer, in the V1 format honest nodes speak.
    pub fn generate(&self, state: &mut sync::State) -> Option<Vec<u8>> {
        let mut message = self.doc.generate_sync_message(state)?;
        message.flags = None;
        message.version = MessageVersion::V1;
        // Automerge puts every missing change in one message; a node that
        // was away long would get one message larger than any peer accepts.
        // Send a prefix (changes come in causal order) and let the rest go
        // out in the next rounds: forgetting that they were sent makes
        // Automerge offer them again.
        let total: usize = message.changes.iter().map(<[u8]>::len).sum();
        if total > MAX_OUTGOING_CHANGE_BYTES {
            let mut kept = Vec::new();
            let mut size = 0;
            for chunk in message.changes.iter() {
                if size + chunk.len() <= MAX_OUTGOING_CHANGE_BYTES || kept.is_empty() {
                    size += chunk.len();
                    kept.push(chunk.to_vec());
                } else if let Ok(change) = Change::try_from(chunk) {
                    state.sent_hashes.remove(&change.hash());
                }
            }
            message.changes = kept.into();
        }
        Some(message.encode())
    }

    /// Bytes written since the last save (None when nothing changed).
    pub fn save_incremental(&mut self) -> Option<Vec<u8>> {
        let heads = self.doc.get_heads();
        if heads == self.saved_heads {
            return None;
        }
        let bytes = if self.saved_heads.is_empty() {
            self.doc.save()
        } else {
            self.doc.save_after(&self.saved_heads)
        };
        self.saved_heads = heads;
        Some(bytes)
    }

    /// The whole document in one compact chunk.
    pub fn save(&mut self) -> Vec<u8> {
        self.saved_heads = self.doc.get_heads();
        self.doc.save()
    }
}

/// Parse the header of an encoded bloom filter (LEB128 entries, bits per
/// entry, probes) and refuse parameters no honest Automerge produces.
fn check_bloom(bytes: &[u8]) -> Result<(), SyncError> {
    if bytes.is_empty() {
        return Ok(());
    }
    let mut rest = bytes;
    let mut next = || -> Result<u64, SyncError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let (&b, tail) = rest
                .split_first()
                .ok_or_else(|| SyncError::Bloom("truncated".into()))?;
            rest = tail;
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(SyncError::Bloom("overlong number".into()))
    };
    let (entries, bits, probes) = (next()?, next()?, next()?);
    if entries > MAX_BLOOM_ENTRIES || bits != BLOOM_BITS_PER_ENTRY || probes != BLOOM_PROBES {
        return Err(SyncError::Bloom(format!(
            "{entries} entries, {bits} bits each, {probes} probes"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_are_civil_months() {
        assert_eq!(month_of(0), 0);
        // 2026-11-24T00:00:00Z
        assert_eq!(
            DocKey {
                class: Class::Governance,
                month: month_of(1_795_478_400_000)
            }
            .to_string(),
            "governance/2026-11"
        );
        // 2024-02-29T23:59:59.999Z is still February.
        assert_eq!(month_of(1_709_251_199_999), (2024 - 1970) * 12 + 1);
        assert_eq!(month_of(1_709_251_200_000), (2024 - 1970) * 12 + 2);
        for s in [
            "governance/2026-11",
            "telemetry/1970-01",
            "governance/9999-12",
        ] {
            assert_eq!(DocKey::parse(s).unwrap().to_string(), s);
        }
        for s in [
            "gov/2026-11",
            "governance/2026-13",
            "governance/26-11",
            "telemetry/2026-00",
        ] {
            assert!(DocKey::parse(s).is_none(), "{s}");
        }
    }

    #[test]
    fn genesis_is_the_same_on_every_node() {
        let key = DocKey::parse("governance/2026-11").unwrap();
        let a = EpochDoc::new("ab", key);
        let b = EpochDoc::new("ab", key);
        let c = EpochDoc::new("cd", key);
        assert_eq!(a.genesis, b.genesis);
        assert_ne!(a.genesis, c.genesis);
    }
}
