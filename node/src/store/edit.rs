//! Changing what was written: editing a reflection and deleting one.
//!
//! * **Edit** keeps the text it replaces as a [`ReflectionRevision`], so an
//!   edit never loses writing; the search index forgets the old words and
//!   learns the new ones. Mirrorbacks, runs and evidence stay: they answered
//!   the text as it was, and `mirror mirrorback ID` answers the new one.
//! * **Delete** removes the reflection everywhere it appears (the record,
//!   the time index, the search index, its mirrorbacks, engine runs and
//!   their feedback, tension evidence and suggestions drawn from it, its
//!   thread memberships and revisions) in one transaction, and leaves a
//!   [`Tombstone`] holding only its id and when: importing an older bundle
//!   that still holds it then leaves it out unless the person asks for it
//!   back (see [`Store::import_with`]).

use std::collections::HashSet;

use redb::{ReadableTable, WriteTransaction};
use serde::Serialize;

use crate::model::*;

use super::ops::{fetch, put, tag_in};
use super::tables::*;
use super::{Result, Store, StoreError, codec, fts};

/// What a delete took away, table by table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Deleted {
    pub reflection: Id,
    pub mirrorbacks: u64,
    pub engine_runs: u64,
    pub engine_feedback: u64,
    pub tension_evidence: u64,
    pub tension_suggestions: u64,
    pub threads: u64,
    pub revisions: u64,
}

/// The second halves of `(parent, child)` keys under `parent`.
fn children(
    txn: &WriteTransaction,
    index: redb::TableDefinition<(u128, u128), ()>,
    parent: u128,
) -> Result<Vec<u128>> {
    let table = txn.open_table(index)?;
    let mut out = Vec::new();
    for entry in table.range((parent, 0)..=(parent, u128::MAX))? {
        out.push(entry?.0.value().1);
    }
    Ok(out)
}

/// Remove the records `ids` of `R` and their `(parent, id)` index entries.
fn remove_children<R: Record>(
    txn: &WriteTransaction,
    index: redb::TableDefinition<(u128, u128), ()>,
    parent: u128,
    ids: &[u128],
) -> Result<()> {
    let mut records = txn.open_table(record_table(R::TABLE))?;
    let mut idx = txn.open_table(index)?;
    for id in ids {
        records.remove(*id)?;
        idx.remove((parent, *id))?;
    }
    Ok(())
}

impl Store {
    /// Replace a reflection's text, keeping the old one as a revision.
    /// Returns the revision. The same text again is refused (nothing to
    /// keep).
    pub fn edit_reflection(&self, id: Id, content: &str) -> Result<ReflectionRevision> {
        self.write(|txn| {
            let mut reflection =
                fetch::<Reflection>(txn, id)?.ok_or_else(|| StoreError::NotFound {
                    kind: "reflection",
                    id: id.to_string(),
                })?;
            if reflection.content == content {
                return Err(StoreError::Conflict(
                    "the new text is the same as the old; nothing was changed".into(),
                ));
            }
            let revision = ReflectionRevision {
                id: Id::new(),
                reflection_id: id,
                content: std::mem::replace(&mut reflection.content, content.to_string()),
                replaced_at: Timestamp::now(),
            };
            // Validate the new text before anything is written.
            reflection.validate()?;
            let mut before = reflection.clone();
            before.content = revision.content.clone();
            tag_in(txn, &before, false)?;
            tag_in(txn, &reflection, true)?;
            put(txn, &revision)?;
            txn.open_table(REVISIONS_BY_REFLECTION)?
                .insert((id.as_u128(), revision.id.as_u128()), ())?;
            put(txn, &reflection)?;
            fts::unindex(txn, id.as_u128(), &revision.content)?;
            fts::requeue(txn, id.as_u128())?;
            Ok(revision)
        })
    }

    /// A reflection's earlier texts, oldest first.
    pub fn revisions(&self, id: Id) -> Result<Vec<ReflectionRevision>> {
        self.children(REVISIONS_BY_REFLECTION, id)
    }

    /// Delete a reflection and everything that hangs off it, leaving a
    /// tombstone (see the module docs).
    pub fn delete_reflection(&self, id: Id) -> Result<Deleted> {
        self.write(|txn| {
            let reflection = fetch::<Reflection>(txn, id)?.ok_or_else(|| StoreError::NotFound {
                kind: "reflection",
                id: id.to_string(),
            })?;
            let key = id.as_u128();
            let mut out = Deleted {
                reflection: id,
                ..Deleted::default()
            };
            fts::unindex(txn, key, &reflection.content)?;
            tag_in(txn, &reflection, false)?;
            txn.open_table(record_table(Reflection::TABLE))?
                .remove(key)?;
            txn.open_table(REFLECTIONS_BY_TIME)?
                .remove((reflection.created_at.as_micros(), key))?;

            let mirrorbacks = children(txn, MIRRORBACKS_BY_REFLECTION, key)?;
            remove_children::<Mirrorback>(txn, MIRRORBACKS_BY_REFLECTION, key, &mirrorbacks)?;
            out.mirrorbacks = mirrorbacks.len() as u64;

            let runs = children(txn, RUNS_BY_REFLECTION, key)?;
            for run in &runs {
                let feedback = children(txn, FEEDBACK_BY_RUN, *run)?;
                remove_children::<EngineFeedback>(txn, FEEDBACK_BY_RUN, *run, &feedback)?;
                out.engine_feedback += feedback.len() as u64;
            }
            remove_children::<EngineRun>(txn, RUNS_BY_REFLECTION, key, &runs)?;
            out.engine_runs = runs.len() as u64;

            let revisions = children(txn, REVISIONS_BY_REFLECTION, key)?;
            remove_children::<ReflectionRevision>(txn, REVISIONS_BY_REFLECTION, key, &revisions)?;
            out.revisions = revisions.len() as u64;

            // Thread membership, both directions.
            let threads = children(txn, REFLECTION_THREADS, key)?;
            {
                let mut members = txn.open_table(THREAD_MEMBERS)?;
                let mut of_reflection = txn.open_table(REFLECTION_THREADS)?;
                for thread in &threads {
                    members.remove((*thread, key))?;
                    of_reflection.remove((key, *thread))?;
                }
            }
            out.threads = threads.len() as u64;

            // Evidence and suggestions name their reflection but have no
            // index by it: a walk over those tables (small beside the
            // journal: a few per tension).
            let evidence: Vec<TensionEvidence> = {
                let table = txn.open_table(record_table(TensionEvidence::TABLE))?;
                let mut found = Vec::new();
                for entry in table.iter()? {
                    let e: TensionEvidence = codec::decode(entry?.1.value())?;
                    if e.reflection_id == Some(id) {
                        found.push(e);
                    }
                }
                found
            };
            {
                let mut records = txn.open_table(record_table(TensionEvidence::TABLE))?;
                let mut index = txn.open_table(EVIDENCE_BY_TENSION)?;
                for e in &evidence {
                    records.remove(e.id.as_u128())?;
                    index.remove((e.tension_id.as_u128(), e.id.as_u128()))?;
                }
            }
            out.tension_evidence = evidence.len() as u64;
            let suggestions: Vec<u128> = {
                let table = txn.open_table(record_table(TensionSuggestion::TABLE))?;
                let mut found = Vec::new();
                for entry in table.iter()? {
                    let (k, v) = entry?;
                    let s: TensionSuggestion = codec::decode(v.value())?;
                    if s.reflection_id == id {
                        found.push(k.value());
                    }
                }
                found
            };
            {
                let mut table = txn.open_table(record_table(TensionSuggestion::TABLE))?;
                for s in &suggestions {
                    table.remove(*s)?;
                }
            }
            out.tension_suggestions = suggestions.len() as u64;

            put(
                txn,
                &Tombstone {
                    id,
                    deleted_at: Timestamp::now(),
                },
            )?;
            Ok(out)
        })
    }

    /// Which of `ids` were deleted here (have a tombstone).
    pub fn deleted_among(&self, ids: impl IntoIterator<Item = Id>) -> Result<HashSet<Id>> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(record_table(Tombstone::TABLE))?;
        let mut out = HashSet::new();
        for id in ids {
            if table.get(id.as_u128())?.is_some() {
                out.insert(id);
            }
        }
        Ok(out)
    }
}
