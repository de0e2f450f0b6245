//! The protocol core: what a node does with a record or a sync message,
//! without doing any I/O itself.
//!
//! [`Commons`] owns the gate, the epoch documents, the accepted set and the
//! per-peer sync states. The network layer ([`crate::net`]) only moves
//! bytes: it hands every gossip message and sync request to this core and
//! sends back what the core returns. That split is what lets the same core
//! run in property tests and simulations with no sockets.
//!
//! Two paths bring records in:
//!
//! * **gossip** carries the one Automerge change that inserts a freshly
//!   published record. The change is checked op by op, its record goes
//!   through the gate, and only then is the change applied;
//! * **sync** runs Automerge's sync protocol per epoch document, so a node
//!   that was offline receives exactly the changes it lacks. Every message
//!   is checked whole before any of it is applied.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;

use automerge::ActorId;
use automerge::sync;
use serde::{Deserialize, Serialize};

use crate::doc::{Candidate, Class, DocKey, EpochDoc, SyncError, month_of};
use crate::gate::{Accepted, Gate, Rejection, RejectionCounts};
use crate::record::{Kind, Record, RecordId};
use crate::store::{COMPACT_AFTER_CHUNKS, Chunk, Store, StoreError};

/// A record seen again on gossip after this long is a replay, not a
/// duplicate in flight: honest nodes gossip a record once, when it is made.
pub const REPLAY_AFTER_MS: i64 = 5 * 60 * 1000;
/// Telemetry epochs older than this many months are dropped.
pub const TELEMETRY_RETENTION_MONTHS: u32 = 3;
const MAX_DOCS_IN_LIST: usize = 1024;
/// An incremental save larger than this is replaced by a whole save.
const COMPACT_ABOVE_BYTES: usize = 256 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SyncRequest {
    /// Which documents do you have?
    Docs { commons: String },
    /// One round of Automerge's sync protocol for one document.
    Sync {
        commons: String,
        doc: String,
        message: Vec<u8>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SyncResponse {
    Docs {
        docs: Vec<String>,
    },
    Sync {
        doc: String,
        message: Option<Vec<u8>>,
    },
    Refused {
        reason: String,
    },
}

/// What to tell gossipsub about a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GossipVerdict {
    Accept(RecordId),
    /// Already held and recent: a duplicate in flight, not the sender's fault.
    Ignore,
    Reject(Rejection),
}

/// Why a peer's sync request or response was refused as a whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyncRejection {
    #[error("peer belongs to commons {0}")]
    OtherCommons(String),
    #[error("unknown document {0:?}")]
    BadDoc(String),
    #[error("too many documents listed")]
    TooManyDocs,
    #[error(transparent)]
    Message(#[from] SyncError),
    #[error("record {id} refused: {rejection}")]
    Record { id: String, rejection: Rejection },
    #[error("store: {0}")]
    Store(String),
}

impl SyncRejection {
    pub fn reason(&self) -> &'static str {
        match self {
            SyncRejection::OtherCommons(_) => "other_commons",
            SyncRejection::BadDoc(_) | SyncRejection::TooManyDocs => "bad_doc",
            SyncRejection::Message(e) => e.reason(),
            SyncRejection::Record { rejection, .. } => rejection.reason(),
            SyncRejection::Store(_) => "store",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CommonsError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("saved document {doc} does not load: {reason}")]
    Doc { doc: String, reason: String },
    #[error("record {id} refused: {rejection}")]
    Refused { id: String, rejection: Rejection },
}

/// The accepted records: what is known of each (kind, time) by id and by
/// kind. The records themselves stay in redb and are read when asked for,
/// so a node's memory does not grow with a second copy of every payload
/// beside the Automerge documents; a commons held only in memory keeps them
/// here instead.
#[derive(Default)]
struct AcceptedSet {
    by_id: HashMap<RecordId, Meta>,
    by_kind: BTreeMap<Kind, BTreeSet<RecordId>>,
    /// The records themselves when there is no store.
    held: HashMap<RecordId, Record>,
    store: Option<Arc<Store>>,
}

#[derive(Debug, Clone, Copy)]
struct Meta {
    kind: Kind,
    created_at: i64,
}

impl AcceptedSet {
    fn insert(&mut self, record: Record) {
        let id = record.id();
        self.note(id, record.kind, record.created_at);
        if self.store.is_none() {
            self.held.insert(id, record);
        }
    }

    fn note(&mut self, id: RecordId, kind: Kind, created_at: i64) {
        self.by_kind.entry(kind).or_default().insert(id);
        self.by_id.insert(id, Meta { kind, created_at });
    }

    fn remove(&mut self, id: &RecordId) {
        self.held.remove(id);
        if let Some(m) = self.by_id.remove(id)
            && let Some(set) = self.by_kind.get_mut(&m.kind)
        {
            set.remove(id);
        }
    }

    fn get(&self, id: &RecordId) -> Option<Record> {
        if !self.by_id.contains_key(id) {
            return None;
        }
        if let Some(r) = self.held.get(id) {
            return Some(r.clone());
        }
        let bytes = match self.store.as_ref()?.get(id) {
            Ok(bytes) => bytes?,
            Err(e) => {
                tracing::error!(record = %id, error = %e, "cannot read an accepted record");
                return None;
            }
        };
        match Record::decode(&bytes) {
            Ok(r) if r.id() == *id => Some(r),
            _ => {
                tracing::error!(record = %id, "a stored record does not decode");
                None
            }
        }
    }
}

impl Accepted for AcceptedSet {
    fn contains(&self, id: &RecordId) -> bool {
        self.by_id.contains_key(id)
    }

    fn records_of(&self, kind: Kind) -> Vec<Record> {
        self.by_kind
            .get(&kind)
            .map(|ids| ids.iter().filter_map(|i| self.get(i)).collect())
            .unwrap_or_default()
    }
}

/// A snapshot for `mirror commons status`.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub commons_id: String,
    pub records: usize,
    pub records_by_kind: BTreeMap<String, usize>,
    pub documents: Vec<String>,
    pub rejections: BTreeMap<String, BTreeMap<&'static str, u64>>,
}

pub struct Commons {
    id: String,
    gate: Gate,
    store: Option<Arc<Store>>,
    docs: BTreeMap<DocKey, EpochDoc>,
    accepted: AcceptedSet,
    sync_states: HashMap<(String, DocKey), sync::State>,
    rejections: RejectionCounts,
    /// Random per node session: changes say nothing about who made them.
    actor: ActorId,
}

impl Commons {
    /// A commons held only in memory (tests, simulations).
    pub fn in_memory(commons_id: impl Into<String>, gate: Gate) -> Commons {
        Commons {
            id: commons_id.into(),
            gate,
            store: None,
            docs: BTreeMap::new(),
            accepted: AcceptedSet::default(),
            sync_states: HashMap::new(),
            rejections: RejectionCounts::default(),
            actor: ActorId::random(),
        }
    }

    /// Open (or create) the commons state kept in `path` (a redb file).
    /// Records in the store were checked when they arrived; at open only
    /// their index (id, kind, time) and the documents are loaded.
    pub fn open(
        path: &Path,
        commons_id: impl Into<String>,
        gate: Gate,
    ) -> Result<Commons, CommonsError> {
        let mut c = Commons::in_memory(commons_id, gate);
        let store = Store::open(path, &c.id)?;
        // One document at a time, its saved bytes dropped once loaded: the
        // peak is one document's bytes beside the loaded documents.
        for name in store.doc_names()? {
            let key = DocKey::parse(&name).ok_or_else(|| CommonsError::Doc {
                doc: name.clone(),
                reason: "unknown document key".into(),
            })?;
            let bytes = store.doc_bytes(&name)?;
            let doc = EpochDoc::load(&c.id, key, &bytes).map_err(|e| CommonsError::Doc {
                doc: name.clone(),
                reason: e.to_string(),
            })?;
            c.docs.insert(key, doc);
        }
        let (stored, indexed) = store.counts()?;
        if stored != indexed {
            // A file written before the index existed (or damaged by hand):
            // rebuild the index from the records, once.
            tracing::info!(stored, indexed, "rebuilding the record index");
            let mut rows = Vec::new();
            for (id, bytes) in store.records()? {
                match Record::decode(&bytes) {
                    Ok(r) if r.id() == id => rows.push((id, r.kind.number(), r.created_at)),
                    _ => tracing::warn!(record = %id, "stored record does not decode; skipped"),
                }
            }
            store.rebuild_index(&rows)?;
        }
        for (id, kind, created_at) in store.index()? {
            match Kind::from_number(kind) {
                Some(kind) => c.accepted.note(id, kind, created_at),
                None => tracing::warn!(record = %id, kind, "unknown kind in the index; skipped"),
            }
        }
        let store = Arc::new(store);
        c.accepted.store = Some(store.clone());
        c.store = Some(store);
        Ok(c)
    }

    pub fn commons_id(&self) -> &str {
        &self.id
    }

    pub fn accepted_count(&self) -> usize {
        self.accepted.by_id.len()
    }

    /// One accepted record (read from the store).
    pub fn get(&self, id: &RecordId) -> Option<Record> {
        self.accepted.get(id)
    }

    pub fn records_of(&self, kind: Kind) -> Vec<Record> {
        self.accepted.records_of(kind)
    }

    /// Every accepted id, sorted: what "the same accepted state" means.
    pub fn accepted_ids(&self) -> BTreeSet<RecordId> {
        self.accepted.by_id.keys().copied().collect()
    }

    pub fn rejections(&self) -> &RejectionCounts {
        &self.rejections
    }

    pub fn status(&self) -> Status {
        Status {
            commons_id: self.id.clone(),
            records: self.accepted_count(),
            records_by_kind: self
                .accepted
                .by_kind
                .iter()
                .filter(|(_, s)| !s.is_empty())
                .map(|(k, s)| (k.to_string(), s.len()))
                .collect(),
            documents: self.docs.keys().map(|k| k.to_string()).collect(),
            rejections: self.rejections.0.clone(),
        }
    }

    /// The document a record belongs in, if its epoch is still kept.
    fn live_key(&self, record: &Record, now_ms: i64) -> Result<DocKey, Rejection> {
        let key = DocKey::for_record(record);
        if expired(key, now_ms) {
            return Err(Rejection::Rule {
                kind: record.kind,
                name: "expired_epoch",
                reason: format!("epoch {key} has expired"),
            });
        }
        Ok(key)
    }

    fn doc_mut(&mut self, key: DocKey) -> &mut EpochDoc {
        let id = &self.id;
        self.docs
            .entry(key)
            .or_insert_with(|| EpochDoc::new(id, key))
    }

    /// Durably write newly accepted records and their documents' changes.
    fn persist(&mut self, records: &[&Record], keys: &BTreeSet<DocKey>) -> Result<(), StoreError> {
        let Some(store) = &self.store else {
            return Ok(());
        };
        let mut chunks = Vec::new();
        for key in keys {
            if let Some(doc) = self.docs.get_mut(key) {
                // Incremental chunks are lists of single changes, which load
                // one by one; a document saved whole loads in bulk. So a
                // large batch (a catch-up) or a long list is written whole.
                if store.chunk_count(key)? >= COMPACT_AFTER_CHUNKS {
                    chunks.push((*key, Chunk::Replace(doc.save())));
                } else if let Some(bytes) = doc.save_incremental() {
                    if bytes.len() > COMPACT_ABOVE_BYTES {
                        chunks.push((*key, Chunk::Replace(doc.save())));
                    } else {
                        chunks.push((*key, Chunk::Append(bytes)));
                    }
                }
            }
        }
        let rows: Vec<_> = records
            .iter()
            .map(|r| ((r.id(), r.kind.number(), r.created_at), r.bytes()))
            .collect();
        store.commit(&rows, &chunks)
    }

    /// Publish a record made on this node. Returns its id and the gossip
    /// payload (the Automerge change that inserts it).
    pub fn publish(
        &mut self,
        bytes: &[u8],
        now_ms: i64,
    ) -> Result<(RecordId, Vec<u8>), CommonsError> {
        let refused = |rejection: Rejection| CommonsError::Refused {
            id: RecordId::of(bytes).to_hex(),
            rejection,
        };
        let record = self
            .gate
            .check(bytes, None, now_ms, &self.accepted)
            .map_err(refused)?;
        let key = self.live_key(&record, now_ms).map_err(refused)?;
        let actor = if record.kind.is_anonymous() {
            ActorId::random()
        } else {
            self.actor.clone()
        };
        let change = self
            .doc_mut(key)
            .insert(&record, actor)
            .ok_or_else(|| refused(Rejection::Replay(record.id())))?;
        let id = record.id();
        self.persist(&[&record], &BTreeSet::from([key]))?;
        self.accepted.insert(record);
        tracing::debug!(record = %id, "published");
        Ok((id, change.raw_bytes().to_vec()))
    }

    /// A gossiped change from `peer`.
    pub fn on_gossip(&mut self, peer: &str, data: &[u8], now_ms: i64) -> GossipVerdict {
        let verdict = self.gossip_inner(data, now_ms);
        if let GossipVerdict::Reject(r) = &verdict {
            tracing::debug!(%peer, reason = r.reason(), "gossip rejected");
            self.rejections.count(peer, r);
        }
        verdict
    }

    fn gossip_inner(&mut self, data: &[u8], now_ms: i64) -> GossipVerdict {
        // Which document? Read it from the record the change carries; the
        // document's own check below then verifies everything else.
        let record = match first_record(data) {
            Ok(r) => r,
            Err(r) => return GossipVerdict::Reject(r),
        };
        let key = match self.live_key(&record, now_ms) {
            Ok(k) => k,
            Err(r) => return GossipVerdict::Reject(r),
        };
        let candidates = {
            let id = self.id.clone();
            let doc = self
                .docs
                .entry(key)
                .or_insert_with(|| EpochDoc::new(&id, key));
            match doc.check_change(0, data) {
                Ok(c) => c,
                Err(e) => return GossipVerdict::Reject(sync_to_rejection(&e)),
            }
        };
        if candidates.len() != 1 {
            return GossipVerdict::Reject(Rejection::Rule {
                kind: record.kind,
                name: "one_record_per_change",
                reason: "a gossiped change inserts exactly one record".into(),
            });
        }
        let c = &candidates[0];
        if let Some(known) = self.accepted.by_id.get(&c.id) {
            return if now_ms.saturating_sub(known.created_at) > REPLAY_AFTER_MS {
                GossipVerdict::Reject(Rejection::Replay(c.id))
            } else {
                GossipVerdict::Ignore
            };
        }
        let record = match self
            .gate
            .check(&c.bytes, Some(&c.id), now_ms, &self.accepted)
        {
            Ok(r) => r,
            Err(r) => return GossipVerdict::Reject(r),
        };
        if let Some(doc) = self.docs.get_mut(&key)
            && let Err(e) = doc.apply_change(data)
        {
            return GossipVerdict::Reject(sync_to_rejection(&e));
        }
        let id = record.id();
        if let Err(e) = self.persist(&[&record], &BTreeSet::from([key])) {
            tracing::error!(error = %e, "could not store an accepted record");
            return GossipVerdict::Ignore;
        }
        self.accepted.insert(record);
        GossipVerdict::Accept(id)
    }

    /// The first request of a catch-up round with `peer`.
    pub fn sync_start(&mut self, _peer: &str) -> SyncRequest {
        SyncRequest::Docs {
            commons: self.id.clone(),
        }
    }

    /// Forget a peer's sync states (it disconnected).
    pub fn peer_gone(&mut self, peer: &str) {
        self.sync_states.retain(|(p, _), _| p != peer);
    }

    fn live_docs(&self, now_ms: i64) -> Vec<String> {
        self.docs
            .keys()
            .filter(|k| !expired(**k, now_ms))
            .map(|k| k.to_string())
            .collect()
    }

    pub fn on_sync_request(
        &mut self,
        peer: &str,
        req: SyncRequest,
        now_ms: i64,
    ) -> Result<SyncResponse, SyncRejection> {
        let result = self.sync_request_inner(peer, req, now_ms);
        if let Err(e) = &result {
            self.note_sync_rejection(peer, e);
        }
        result
    }

    fn sync_request_inner(
        &mut self,
        peer: &str,
        req: SyncRequest,
        now_ms: i64,
    ) -> Result<SyncResponse, SyncRejection> {
        match req {
            SyncRequest::Docs { commons } => {
                self.same_commons(&commons)?;
                Ok(SyncResponse::Docs {
                    docs: self.live_docs(now_ms),
                })
            }
            SyncRequest::Sync {
                commons,
                doc,
                message,
            } => {
                self.same_commons(&commons)?;
                let key = parse_doc(&doc)?;
                if expired(key, now_ms) {
                    return Ok(SyncResponse::Sync { doc, message: None });
                }
                self.receive(peer, key, &message, now_ms)?;
                let reply = self.generate(peer, key);
                Ok(SyncResponse::Sync {
                    doc,
                    message: reply,
                })
            }
        }
    }

    pub fn on_sync_response(
        &mut self,
        peer: &str,
        resp: SyncResponse,
        now_ms: i64,
    ) -> Result<Vec<SyncRequest>, SyncRejection> {
        let result = self.sync_response_inner(peer, resp, now_ms);
        if let Err(e) = &result {
            self.note_sync_rejection(peer, e);
        }
        result
    }

    fn sync_response_inner(
        &mut self,
        peer: &str,
        resp: SyncResponse,
        now_ms: i64,
    ) -> Result<Vec<SyncRequest>, SyncRejection> {
        match resp {
            SyncResponse::Docs { docs } => {
                if docs.len() > MAX_DOCS_IN_LIST {
                    return Err(SyncRejection::TooManyDocs);
                }
                let mut keys: BTreeSet<DocKey> = self.docs.keys().copied().collect();
                for d in &docs {
                    keys.insert(parse_doc(d)?);
                }
                let mut out = Vec::new();
                for key in keys.into_iter().filter(|k| !expired(*k, now_ms)) {
                    // A new round starts from a fresh state, so a peer that
                    // lost data is sent everything it lacks again.
                    self.sync_states.remove(&(peer.to_string(), key));
                    if let Some(message) = self.generate(peer, key) {
                        out.push(SyncRequest::Sync {
                            commons: self.id.clone(),
                            doc: key.to_string(),
                            message,
                        });
                    }
                }
                Ok(out)
            }
            SyncResponse::Sync { doc, message } => {
                let key = parse_doc(&doc)?;
                if let Some(m) = message {
                    self.receive(peer, key, &m, now_ms)?;
                }
                Ok(self
                    .generate(peer, key)
                    .map(|message| SyncRequest::Sync {
                        commons: self.id.clone(),
                        doc,
                        message,
                    })
                    .into_iter()
                    .collect())
            }
            SyncResponse::Refused { reason } => {
                tracing::info!(%peer, %reason, "peer refused our sync message");
                Ok(Vec::new())
            }
        }
    }

    fn note_sync_rejection(&mut self, peer: &str, e: &SyncRejection) {
        if let SyncRejection::Store(_) = e {
            // Our own disk failed: nothing to hold against the peer.
            tracing::error!(%peer, error = %e, "sync message not stored");
            return;
        }
        tracing::info!(%peer, reason = e.reason(), error = %e, "sync refused");
        self.rejections.count_reason(peer, e.reason());
    }

    fn same_commons(&self, commons: &str) -> Result<(), SyncRejection> {
        if commons == self.id {
            Ok(())
        } else {
            Err(SyncRejection::OtherCommons(
                commons.chars().take(64).collect(),
            ))
        }
    }

    fn generate(&mut self, peer: &str, key: DocKey) -> Option<Vec<u8>> {
        let id = self.id.clone();
        let doc = self
            .docs
            .entry(key)
            .or_insert_with(|| EpochDoc::new(&id, key));
        let state = self.sync_states.entry((peer.to_string(), key)).or_default();
        doc.generate(state)
    }

    /// Check a sync message whole, gate every new record in it, and only
    /// then apply it.
    fn receive(
        &mut self,
        peer: &str,
        key: DocKey,
        message: &[u8],
        now_ms: i64,
    ) -> Result<(), SyncRejection> {
        let id = self.id.clone();
        let doc = self
            .docs
            .entry(key)
            .or_insert_with(|| EpochDoc::new(&id, key));
        let checked = doc.check_sync_message(message)?;
        let fresh: Vec<&Candidate> = checked
            .candidates
            .iter()
            .filter(|c| !self.accepted.contains(&c.id))
            .collect();
        let items: Vec<(&[u8], Option<RecordId>)> = fresh
            .iter()
            .map(|c| (c.bytes.as_slice(), Some(c.id)))
            .collect();
        let mut records = Vec::with_capacity(items.len());
        let mut seen = BTreeSet::new();
        for (result, c) in self
            .gate
            .check_batch(&items, now_ms, &self.accepted)
            .into_iter()
            .zip(&fresh)
        {
            match result {
                Ok(r) => {
                    if seen.insert(r.id()) {
                        records.push(r);
                    }
                }
                Err(rejection) => {
                    // Counted once, by the caller, with the whole message.
                    return Err(SyncRejection::Record {
                        id: c.id.to_hex(),
                        rejection,
                    });
                }
            }
        }
        let state = self.sync_states.entry((peer.to_string(), key)).or_default();
        if let Some(doc) = self.docs.get_mut(&key) {
            doc.receive(state, checked)?;
        }
        let refs: Vec<&Record> = records.iter().collect();
        self.persist(&refs, &BTreeSet::from([key]))
            .map_err(|e| SyncRejection::Store(e.to_string()))?;
        let n = records.len();
        for r in records {
            self.accepted.insert(r);
        }
        if n > 0 {
            tracing::debug!(%peer, doc = %key, records = n, "accepted from sync");
        }
        Ok(())
    }

    /// Drop telemetry epochs past retention, with their records.
    pub fn expire(&mut self, now_ms: i64) -> Result<usize, StoreError> {
        let old: Vec<DocKey> = self
            .docs
            .keys()
            .copied()
            .filter(|k| expired(*k, now_ms))
            .collect();
        let mut dropped = 0;
        for key in old {
            let ids: Vec<RecordId> = self
                .accepted
                .by_id
                .iter()
                .filter(|(_, m)| DocKey::of(m.kind, m.created_at) == key)
                .map(|(id, _)| *id)
                .collect();
            if let Some(store) = &self.store {
                store.drop_doc(&key, &ids)?;
            }
            for id in &ids {
                self.accepted.remove(id);
            }
            dropped += ids.len();
            self.docs.remove(&key);
            self.sync_states.retain(|(_, k), _| *k != key);
        }
        Ok(dropped)
    }
}

fn expired(key: DocKey, now_ms: i64) -> bool {
    key.class == Class::Telemetry
        && key.month.saturating_add(TELEMETRY_RETENTION_MONTHS) < month_of(now_ms)
}

fn parse_doc(doc: &str) -> Result<DocKey, SyncRejection> {
    DocKey::parse(doc).ok_or_else(|| SyncRejection::BadDoc(doc.chars().take(64).collect()))
}

fn sync_to_rejection(e: &SyncError) -> Rejection {
    match e {
        SyncError::WrongId { key, actual, .. } => Rejection::WrongId {
            claimed: key.clone(),
            actual: actual.clone(),
        },
        other => Rejection::Change {
            reason: other.reason(),
            detail: other.to_string(),
        },
    }
}

/// The record inside a gossiped change, to find its document. Nothing
/// here is trusted: the document's check of the whole change follows.
fn first_record(change: &[u8]) -> Result<Record, Rejection> {
    let not_a_change = |detail: String| Rejection::Change {
        reason: "bad_change",
        detail,
    };
    let change = std::panic::catch_unwind(|| automerge::Change::try_from(change))
        .map_err(|_| not_a_change("panic while decoding".into()))?
        .map_err(|e| not_a_change(e.to_string()))?;
    let expanded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| change.decode()))
        .map_err(|_| not_a_change("panic while expanding".into()))?;
    let bytes = expanded
        .operations
        .iter()
        .find_map(|op| match &op.action {
            automerge::legacy::OpType::Put(automerge::ScalarValue::Bytes(b)) => Some(b),
            _ => None,
        })
        .ok_or_else(|| not_a_change("the change carries no record".into()))?;
    Ok(Record::decode(bytes)?)
}
