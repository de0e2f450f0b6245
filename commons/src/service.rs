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
/// Checked records whose changes wait in Automerge's queue for a parent,
/// at most (a peer sending orphans without end is refused past this).
const MAX_WAITING: usize = 100_000;
/// An incremental save larger than this is replaced by a whole save.
const COMPACT_ABOVE_BYTES: usize = 256 * 1024;

/// A sync request. On the wire (CBOR), `message` is a byte string; the
/// older form, an array of integers, is still read (see [`wire_bytes`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SyncRequest {
    /// Which documents do you have?
    Docs { commons: String },
    /// One round of Automerge's sync protocol for one document.
    Sync {
        commons: String,
        doc: String,
        #[serde(with = "wire_bytes")]
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
        #[serde(with = "wire_bytes::option")]
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
    /// The month [`Commons::expire_due`] last ran in.
    expired_through: Option<u32>,
    /// Records that passed the gate in a sync message whose change
    /// Automerge queued for a missing parent: accepted when it lands.
    waiting: HashMap<RecordId, (DocKey, Record)>,
    /// Where actor ids come from: the OS by default, a seed in simulations
    /// (see [`Commons::seed_actors`]).
    actors: ActorSource,
    /// Peers whose gossip showed this node behind them (a change whose
    /// parent it lacks), in the order seen: the outbox the reactor drains
    /// with [`Commons::take_behind`] to sync with them now.
    behind: Vec<String>,
    /// Set by `gossip_inner` when a change waits for a missing parent.
    missing_parent: bool,
}

/// Random actor ids, or a seeded sequence for reproducible runs.
enum ActorSource {
    Random,
    Seeded { seed: [u8; 32], next: u64 },
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
            expired_through: None,
            waiting: HashMap::new(),
            actors: ActorSource::Random,
            behind: Vec::new(),
            missing_parent: false,
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

    /// Derive this node's actor ids from `seed` instead of the OS, so a
    /// simulation's documents (and every change hash in them) are the same
    /// on every run. Never for a real node: actor ids must not link the
    /// records of one person.
    pub fn seed_actors(&mut self, seed: [u8; 32]) {
        self.actors = ActorSource::Seeded { seed, next: 0 };
        self.actor = self.fresh_actor();
    }

    fn fresh_actor(&mut self) -> ActorId {
        match &mut self.actors {
            ActorSource::Random => ActorId::random(),
            ActorSource::Seeded { seed, next } => {
                let mut h = blake3::Hasher::new_keyed(seed);
                h.update(&next.to_le_bytes());
                *next += 1;
                ActorId::from(&h.finalize().as_bytes()[..16])
            }
        }
    }

    pub fn commons_id(&self) -> &str {
        &self.id
    }

    pub fn accepted_count(&self) -> usize {
        self.accepted.by_id.len()
    }

    /// Whether a record is accepted (no read of the record itself).
    pub fn contains(&self, id: &RecordId) -> bool {
        self.accepted.by_id.contains_key(id)
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

    /// The records the documents hold: what sync serves. Equal to
    /// [`Commons::accepted_ids`] whenever the core is at rest (a record is
    /// in a document only once accepted and committed).
    pub fn doc_record_ids(&self) -> BTreeSet<RecordId> {
        self.docs
            .values()
            .flat_map(|d| d.records().into_iter().map(|(_, id, _)| id))
            .collect()
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

    /// The waiting records of `key` that the document now holds, taken out
    /// of the waiting set.
    fn settle_waiting(&mut self, key: DocKey) -> Vec<Record> {
        let Some(doc) = self.docs.get(&key) else {
            return Vec::new();
        };
        let landed: Vec<RecordId> = self
            .waiting
            .iter()
            .filter(|(_, (k, r))| *k == key && doc.contains(r.kind, &r.id()))
            .map(|(id, _)| *id)
            .collect();
        landed
            .iter()
            .filter_map(|id| self.waiting.remove(id))
            .map(|(_, r)| r)
            .filter(|r| !self.accepted.contains(&r.id()))
            .collect()
    }

    /// The store refused a commit after the document in memory had already
    /// taken the change: put the document back as the store holds it, so
    /// sync never serves a record that was not committed. The peers' sync
    /// states for it are dropped too (they remember what we sent from the
    /// lost state); the next round starts afresh.
    fn roll_back(&mut self, key: DocKey) {
        self.sync_states.retain(|(_, k), _| *k != key);
        // The reload drops Automerge's queue too.
        self.waiting.retain(|_, (k, _)| *k != key);
        let Some(store) = self.store.clone() else {
            return;
        };
        let restored = store.chunk_count(&key).and_then(|n| {
            if n == 0 {
                Ok(None)
            } else {
                store.doc_bytes(&key.to_string()).map(Some)
            }
        });
        let doc = match restored {
            Ok(None) => Ok(EpochDoc::new(&self.id, key)),
            Ok(Some(bytes)) => EpochDoc::load(&self.id, key, &bytes).map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match doc {
            Ok(doc) => {
                self.docs.insert(key, doc);
            }
            Err(e) => {
                // The disk cannot even be read back. Forget the document;
                // it is rebuilt from what peers send and saved whole.
                tracing::error!(doc = %key, error = %e, "cannot restore a document after a failed commit");
                self.docs.remove(&key);
            }
        }
    }

    /// Make the next `n` store commits fail, as a failing disk would (tests
    /// and the simulator; the store itself is real).
    pub fn inject_store_faults(&self, n: u32) {
        if let Some(store) = &self.store {
            store.inject_commit_faults(n);
        }
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
            self.fresh_actor()
        } else {
            self.actor.clone()
        };
        let change = self
            .doc_mut(key)
            .insert(&record, actor)
            .ok_or_else(|| refused(Rejection::Replay(record.id())))?;
        let id = record.id();
        if let Err(e) = self.persist(&[&record], &BTreeSet::from([key])) {
            self.roll_back(key);
            return Err(e.into());
        }
        self.accepted.insert(record);
        tracing::debug!(record = %id, "published");
        Ok((id, change.raw_bytes().to_vec()))
    }

    /// A gossiped change from `peer`.
    pub fn on_gossip(&mut self, peer: &str, data: &[u8], now_ms: i64) -> GossipVerdict {
        self.missing_parent = false;
        let verdict = self.gossip_inner(data, now_ms);
        if let GossipVerdict::Reject(r) = &verdict {
            tracing::debug!(%peer, reason = r.reason(), "gossip rejected");
            self.rejections.count(peer, r);
        }
        // The sender holds the parent we lack: ask it now rather than at
        // the next sync tick. Until then every later change of the same
        // document waits too (changes are chained), so one missed record
        // would otherwise hold back a whole document for a sync interval.
        if self.missing_parent && !self.behind.iter().any(|p| p == peer) {
            self.behind.push(peer.to_string());
        }
        verdict
    }

    /// Peers whose gossip showed this node behind them since the last call,
    /// to sync with now (the reactor skips one it is already syncing with).
    pub fn take_behind(&mut self) -> Vec<String> {
        std::mem::take(&mut self.behind)
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
            return match e {
                // Gossip ran ahead of sync: the record's parent change has
                // not reached us. Leave it to sync, which carries the two
                // together; holding the record without its change would
                // list a record the document (and so sync) never serves.
                SyncError::MissingDeps(n) => {
                    tracing::debug!(record = %c.id, missing = n, "gossip ahead of its dependencies");
                    self.missing_parent = true;
                    GossipVerdict::Ignore
                }
                e => GossipVerdict::Reject(sync_to_rejection(&e)),
            };
        }
        let id = record.id();
        // The change may have let Automerge apply queued ones that waited
        // for it.
        let mut landed = self.settle_waiting(key);
        let mut refs: Vec<&Record> = landed.iter().collect();
        refs.push(&record);
        if let Err(e) = self.persist(&refs, &BTreeSet::from([key])) {
            tracing::error!(error = %e, "could not store an accepted record");
            self.roll_back(key);
            return GossipVerdict::Ignore;
        }
        for r in landed.drain(..) {
            self.accepted.insert(r);
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

    /// The first requests of a push to `peer` (this node just took records
    /// in and tells a few peers, see [`crate::sync_peers::PUSH_PEERS`]):
    /// a sync message for each live document Automerge has something to
    /// say about, straight away, without the `Docs` step of a catch-up
    /// round, and from the sync states the last round or push with the
    /// peer left (not fresh ones). So a peer whose heads we know is sent
    /// the new changes in the first message (half a round trip), and a
    /// document where nothing changed since costs nothing; a pair with no
    /// state yet starts as a round would. A change lost on the peer's side
    /// after we sent it (a failed commit, a restart) is not sent again by a
    /// push, only by the next catch-up round, which starts both sides
    /// fresh.
    pub fn push_start(&mut self, peer: &str, now_ms: i64) -> Vec<SyncRequest> {
        let keys: Vec<DocKey> = self
            .docs
            .keys()
            .copied()
            .filter(|k| !expired(*k, now_ms))
            .collect();
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            if let Some(message) = self.generate(peer, key) {
                out.push(SyncRequest::Sync {
                    commons: self.id.clone(),
                    doc: key.to_string(),
                    message,
                });
            }
        }
        out
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
                // The peer starts a round from fresh states; so do we. What
                // we remember having sent it may be gone from its side (a
                // commit that failed and was rolled back, a restart), and a
                // change Automerge believes sent is never sent again.
                self.sync_states.retain(|(p, _), _| p != peer);
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
        if self.waiting.len() + records.len() > MAX_WAITING {
            return Err(SyncRejection::Message(SyncError::Format(
                "too many changes waiting for their dependencies",
            )));
        }
        let state = self.sync_states.entry((peer.to_string(), key)).or_default();
        if let Some(doc) = self.docs.get_mut(&key) {
            doc.receive(state, checked)?;
        }
        // Only what the document now holds is accepted (the accepted set
        // must never list a record sync would not serve); a record whose
        // change Automerge queued for a missing parent waits, checked, and
        // is accepted when the parent lands, in this message or a later one.
        for r in records.drain(..) {
            self.waiting.insert(r.id(), (key, r));
        }
        let mut records = self.settle_waiting(key);
        records.sort_by_key(Record::id);
        let refs: Vec<&Record> = records.iter().collect();
        if let Err(e) = self.persist(&refs, &BTreeSet::from([key])) {
            self.roll_back(key);
            return Err(SyncRejection::Store(e.to_string()));
        }
        let n = records.len();
        for r in records {
            self.accepted.insert(r);
        }
        if n > 0 {
            tracing::debug!(%peer, doc = %key, records = n, "accepted from sync");
        }
        Ok(())
    }

    /// Drop expired telemetry epochs if the calendar month changed since
    /// the last look: what the network driver calls on its maintenance
    /// tick. Epochs expire only at a month's turn, so one look per month
    /// suffices and a tick costs a comparison.
    pub fn expire_due(&mut self, now_ms: i64) -> Result<usize, StoreError> {
        let month = month_of(now_ms);
        if self.expired_through == Some(month) {
            return Ok(0);
        }
        let dropped = self.expire(now_ms)?;
        self.expired_through = Some(month);
        if dropped > 0 {
            tracing::info!(records = dropped, "expired telemetry epochs dropped");
        }
        Ok(dropped)
    }

    /// The month (since 1970) the last expiry look ran in, if any: lets a
    /// test (or a status page) tell that the maintenance tick has run.
    pub fn expired_through(&self) -> Option<u32> {
        self.expired_through
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
            self.waiting.retain(|_, (k, _)| *k != key);
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

/// Byte fields of the sync messages: written as CBOR byte strings (one byte
/// per byte), read as byte strings or as arrays of integers, the form nodes
/// wrote before (about two bytes per byte on the wire, which put an epoch
/// of more than about 8 MiB of changes over the 16 MiB message cap).
/// `serde_bytes` cannot be used here: the CBOR codec libp2p uses (cbor4ii)
/// only hands byte strings to its visitor, so the old form would stop
/// decoding.
mod wire_bytes {
    use std::fmt;

    use serde::de::{self, SeqAccess, Visitor};
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(bytes)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        d.deserialize_any(BytesOrArray)
    }

    struct BytesOrArray;

    impl<'de> Visitor<'de> for BytesOrArray {
        type Value = Vec<u8>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a byte string, or an array of integers 0-255")
        }

        fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
            Ok(v.to_vec())
        }

        fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
            Ok(v)
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
            // The size hint comes from the peer: cap what it may reserve.
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64 * 1024));
            while let Some(b) = seq.next_element::<u8>()? {
                out.push(b);
            }
            Ok(out)
        }
    }

    pub mod option {
        use serde::{Deserializer, Serializer};

        pub fn serialize<S: Serializer>(bytes: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
            match bytes {
                Some(b) => s.serialize_some(&Bytes(b)),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
            d.deserialize_option(OptionVisitor)
        }

        struct Bytes<'a>(&'a [u8]);

        impl serde::Serialize for Bytes<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_bytes(self.0)
            }
        }

        struct OptionVisitor;

        impl<'de> serde::de::Visitor<'de> for OptionVisitor {
            type Value = Option<Vec<u8>>;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("null, a byte string, or an array of integers")
            }

            fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }

            fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }

            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                super::deserialize(d).map(Some)
            }
        }
    }
}
