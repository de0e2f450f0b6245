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

/// (created_at micros, reflection id)
pub const REFLECTIONS_BY_TIME: TableDefinition<(i64, u128), ()> =
    TableDefinition::new("reflections_by_time");
/// (identity id, reflection id)
pub const REFLECTIONS_BY_IDENTITY: TableDefinition<(u128, u128), ()> =
    TableDefinition::new("reflections_by_identity");
/// (visibility byte, reflection id)
pub const REFLECTIONS_BY_VISIBILITY: TableDefinition<(u8, u128), ()> =
    TableDefinition::new("reflections_by_visibility");
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

/// Schema v2: the full-text index, (term, reflection id).
pub const FTS: TableDefinition<(&str, u128), ()> = TableDefinition::new("fts_postings");
