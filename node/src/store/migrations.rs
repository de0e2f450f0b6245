//! The ordered chain of schema migrations.
//!
//! Each step moves the schema one version up (and, where it can, one down)
//! inside a single write transaction, together with the new version number:
//! a crash mid-migration leaves the database at the previous version, whole.
//!
//! * v1: every table of the local model.
//! * v2: the full-text index over reflections, built from what is stored.
//! * v3: reflection revisions (the text before an edit), tombstones (the
//!   ids of deleted reflections) and the tag index, built from what is
//!   stored; the full-text index rebuilt with accents folded. No record is
//!   rewritten.

use redb::{ReadableTable, WriteTransaction};

use crate::model::{
    ConsentChange, EgressRecord, EngineFeedback, EngineRun, EvolutionEvent, EvolutionHistory,
    Identity, Integration, Mirrorback, Record, Reflection, ReflectionRevision, Tension,
    TensionEvidence, TensionSuggestion, Thread, Tombstone,
};

use super::tables::*;
use super::{StoreError, codec, fts};

/// The schema this build reads and writes.
pub const CURRENT_VERSION: u32 = 3;

type Step = fn(&WriteTransaction) -> Result<(), StoreError>;

pub struct Migration {
    /// The version this migration produces.
    pub version: u32,
    pub description: &'static str,
    up: Step,
    /// `None` when there is nothing below to return to.
    down: Option<Step>,
}

pub static MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        description: "local model: identities, reflections, mirrorbacks, tensions, threads, engine runs and feedback, evolution, integrations, consent, egress log",
        up: v1_up,
        down: None,
    },
    Migration {
        version: 2,
        description: "full-text index over reflections",
        up: v2_up,
        down: Some(v2_down),
    },
    Migration {
        version: 3,
        description: "reflection revisions and tombstones (edit and delete), tag index",
        up: v3_up,
        down: Some(v3_down),
    },
];

/// Reading the version works on both read and write transactions.
pub(crate) trait ReadMeta {
    fn schema_version(&self) -> Result<u32, StoreError>;
}

impl ReadMeta for redb::ReadTransaction {
    fn schema_version(&self) -> Result<u32, StoreError> {
        match self.open_table(META) {
            Ok(table) => version_from(&table),
            Err(redb::TableError::TableDoesNotExist(_)) => Ok(0),
            Err(e) => Err(e.into()),
        }
    }
}

impl ReadMeta for WriteTransaction {
    fn schema_version(&self) -> Result<u32, StoreError> {
        let table = self.open_table(META)?;
        version_from(&table)
    }
}

fn version_from(table: &impl ReadableTable<&'static str, u64>) -> Result<u32, StoreError> {
    let Some(value) = table.get(SCHEMA_VERSION_KEY)? else {
        return Ok(0);
    };
    u32::try_from(value.value()).map_err(|_| StoreError::Corrupt {
        table: "meta",
        reason: format!("schema version {} out of range", value.value()),
    })
}

fn set_version(txn: &WriteTransaction, version: u32) -> Result<(), StoreError> {
    txn.open_table(META)?
        .insert(SCHEMA_VERSION_KEY, u64::from(version))?;
    Ok(())
}

/// Apply one step up (to `migration.version`) in its own transaction.
pub(crate) fn step_up(db: &redb::Database, migration: &Migration) -> Result<(), StoreError> {
    let txn = db.begin_write()?;
    let found = txn.schema_version()?;
    if found + 1 != migration.version {
        return Err(StoreError::Migration(format!(
            "cannot apply migration {} to a database at version {found}",
            migration.version
        )));
    }
    (migration.up)(&txn)?;
    set_version(&txn, migration.version)?;
    txn.commit()?;
    tracing::info!(version = migration.version, "schema migrated up");
    Ok(())
}

/// Undo one step (from `migration.version` to the one below).
pub(crate) fn step_down(db: &redb::Database, migration: &Migration) -> Result<(), StoreError> {
    let down = migration.down.ok_or_else(|| {
        StoreError::Migration(format!(
            "version {} is the base schema: there is nothing below it to return to",
            migration.version
        ))
    })?;
    let txn = db.begin_write()?;
    let found = txn.schema_version()?;
    if found != migration.version {
        return Err(StoreError::Migration(format!(
            "cannot roll back migration {} on a database at version {found}",
            migration.version
        )));
    }
    down(&txn)?;
    set_version(&txn, migration.version - 1)?;
    txn.commit()?;
    tracing::info!(version = migration.version - 1, "schema migrated down");
    Ok(())
}

pub(crate) fn migration(version: u32) -> Option<&'static Migration> {
    MIGRATIONS.iter().find(|m| m.version == version)
}

fn v1_up(txn: &WriteTransaction) -> Result<(), StoreError> {
    // Opening a table in a write transaction creates it.
    txn.open_table(META)?;
    for name in [
        Identity::TABLE,
        Reflection::TABLE,
        Mirrorback::TABLE,
        Tension::TABLE,
        TensionEvidence::TABLE,
        TensionSuggestion::TABLE,
        Thread::TABLE,
        EngineRun::TABLE,
        EngineFeedback::TABLE,
        EvolutionEvent::TABLE,
        EvolutionHistory::TABLE,
        Integration::TABLE,
        ConsentChange::TABLE,
        EgressRecord::TABLE,
    ] {
        txn.open_table(record_table(name))?;
    }
    txn.open_table(REFLECTIONS_BY_TIME)?;
    txn.open_table(MIRRORBACKS_BY_REFLECTION)?;
    txn.open_table(RUNS_BY_REFLECTION)?;
    txn.open_table(FEEDBACK_BY_RUN)?;
    txn.open_table(EVIDENCE_BY_TENSION)?;
    txn.open_table(THREAD_MEMBERS)?;
    txn.open_table(REFLECTION_THREADS)?;
    txn.open_table(CONSENT)?;
    Ok(())
}

fn v2_up(txn: &WriteTransaction) -> Result<(), StoreError> {
    txn.open_table(FTS_PENDING)?;
    txn.open_table(FTS_STATE)?;
    let reflections = txn.open_table(record_table(Reflection::TABLE))?;
    let mut docs = Vec::new();
    for entry in reflections.iter()? {
        let (key, value) = entry?;
        let reflection: Reflection = codec::decode(value.value())?;
        docs.push((key.value(), reflection.content));
    }
    drop(reflections);
    let mut blocks = txn.open_table(FTS_BLOCKS)?;
    let docs: Vec<(u128, &str)> = docs.iter().map(|(id, c)| (*id, c.as_str())).collect();
    fts::index_many(&mut blocks, &docs)?;
    drop(blocks);
    fts::advance_watermark(txn)
}

fn v2_down(txn: &WriteTransaction) -> Result<(), StoreError> {
    txn.delete_table(FTS_BLOCKS)?;
    txn.delete_table(FTS_PENDING)?;
    txn.delete_table(FTS_STATE)?;
    Ok(())
}

fn v3_up(txn: &WriteTransaction) -> Result<(), StoreError> {
    // The search index keeps folded terms from v3 on: build it again.
    txn.delete_table(FTS_BLOCKS)?;
    txn.delete_table(FTS_PENDING)?;
    txn.delete_table(FTS_STATE)?;
    v2_up(txn)?;
    txn.open_table(record_table(ReflectionRevision::TABLE))?;
    txn.open_table(REVISIONS_BY_REFLECTION)?;
    txn.open_table(record_table(Tombstone::TABLE))?;
    let reflections = txn.open_table(record_table(Reflection::TABLE))?;
    let mut tags = txn.open_table(REFLECTION_TAGS)?;
    for entry in reflections.iter()? {
        let (key, value) = entry?;
        let reflection: Reflection = codec::decode(value.value())?;
        for tag in crate::model::tags::of(&reflection) {
            tags.insert((tag.as_str(), key.value()), ())?;
        }
    }
    Ok(())
}

/// Going back to v2 drops the earlier texts of edited reflections and the
/// tombstones (the backup written before the step keeps them).
fn v3_down(txn: &WriteTransaction) -> Result<(), StoreError> {
    txn.delete_table(record_table(ReflectionRevision::TABLE))?;
    txn.delete_table(REVISIONS_BY_REFLECTION)?;
    txn.delete_table(record_table(Tombstone::TABLE))?;
    txn.delete_table(REFLECTION_TAGS)?;
    Ok(())
}
