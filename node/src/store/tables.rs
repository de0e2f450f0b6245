//! Every redb table the store uses, in one place.
//!
//! Records are keyed by their id as a `u128` (UUIDv7 keeps time order).
//! Secondary indexes are tables of composite keys with unit values: a range
//! over the key prefix is the query.

use redb::TableDefinition;

/// `schema_version` and other single values.
pub const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
pub const SCHEMA_VERSION_KEY: &str = "schema_version";

/// Tables of id-keyed records, value = version byte + postcard.
pub type RecordTable = TableDefinition<'static, u128, &'static [u8]>;

pub const fn record_table(name: &'static str) -> RecordTable {
    TableDefinition::new(name)
}

/// (created_at micros, reflection id) → [`TimeEntry`]: the time index also
/// carries the identity and visibility, so listing by either is a walk of
/// one table that decodes no records, and a write updates one index, not
/// three.
pub const REFLECTIONS_BY_TIME: TableDefinition<(i64, u128), [u8; 17]> =
    TableDefinition::new("reflections_by_time");

/// The value of a time-index entry: identity id (16 bytes, big-endian),
/// then the visibility byte.
pub struct TimeEntry {
    pub identity: u128,
    pub visibility: u8,
}

impl TimeEntry {
    pub fn encode(&self) -> [u8; 17] {
        let mut out = [0u8; 17];
        out[..16].copy_from_slice(&self.identity.to_be_bytes());
        out[16] = self.visibility;
        out
    }

    pub fn decode(bytes: [u8; 17]) -> TimeEntry {
        let mut identity = [0u8; 16];
        identity.copy_from_slice(&bytes[..16]);
        TimeEntry {
            identity: u128::from_be_bytes(identity),
            visibility: bytes[16],
        }
    }
}
/// (reflection id, mirrorback id)
pub const MIRRORBACKS_BY_REFLECTION: TableDefinition<(u128, u128), ()> =
    TableDefinition::new("mirrorbacks_by_reflection");
/// (reflection id, run id)
pub const RUNS_BY_REFLECTION: TableDefinition<(u128, u128), ()> =
    TableDefinition::new("engine_runs_by_reflection");
/// (run id, feedback id)
pub const FEEDBACK_BY_RUN: TableDefinition<(u128, u128), ()> =
    TableDefinition::new("engine_feedback_by_run");
/// (tension id, evidence id)
pub const EVIDENCE_BY_TENSION: TableDefinition<(u128, u128), ()> =
    TableDefinition::new("tension_evidence_by_tension");
/// (thread id, reflection id) → encoded ThreadMember
pub const THREAD_MEMBERS: TableDefinition<(u128, u128), &[u8]> =
    TableDefinition::new("thread_members");
/// (reflection id, thread id)
pub const REFLECTION_THREADS: TableDefinition<(u128, u128), ()> =
    TableDefinition::new("reflection_threads");
/// consent category name → encoded ConsentSetting
pub const CONSENT: TableDefinition<&str, &[u8]> = TableDefinition::new("consent");

/// Schema v2: the full-text index, (term, first id of block) → sorted ids.
pub const FTS_BLOCKS: TableDefinition<(&str, u128), &[u8]> = TableDefinition::new("fts_blocks");
/// Schema v2: the full-text index's watermark. Every reflection with an id
/// above it is not yet indexed (found by a range over the records table).
pub const FTS_STATE: TableDefinition<&str, u128> = TableDefinition::new("fts_state");
pub const FTS_WATERMARK_KEY: &str = "indexed_through";
/// Schema v2: reflections at or below the watermark that still need
/// indexing (ids made under a clock that went backwards).
pub const FTS_PENDING: TableDefinition<u128, ()> = TableDefinition::new("fts_pending");
/// Schema v3: (reflection id, revision id): a reflection's earlier texts,
/// oldest first (revision ids are time-ordered).
pub const REVISIONS_BY_REFLECTION: TableDefinition<(u128, u128), ()> =
    TableDefinition::new("reflection_revisions_by_reflection");
/// Schema v3: (tag, reflection id): `#word` tags and `--tag`s (see
/// `model::tags`), so listing by a tag costs the entries that have it.
pub const REFLECTION_TAGS: TableDefinition<(&str, u128), ()> =
    TableDefinition::new("reflection_tags");
