//! The whole store as plain data, out (for export) and in (for import).
//!
//! Import merges a batch into whatever the store already holds, in one
//! write transaction: either every record lands or none does. Records keep
//! their ids, so importing the same batch twice adds nothing:
//!
//! * immutable records (reflections, mirrorbacks, evidence, runs, feedback,
//!   evolution, consent changes, egress log) are added if absent; an existing
//!   record with the same id but different content is a conflict that aborts
//!   the import, because ids are unique and a mismatch means tampering or
//!   corruption;
//! * mutable records (threads, tensions, integrations, consent) keep
//!   whichever side was updated last; a thread's `last_active` is the later
//!   of both;
//! * identities must agree on the public key;
//! * consent is the person's act on this node: an import may narrow it (a
//!   newer "no" is taken) but never grants it, and an integration from a
//!   bundle never arrives enabled nor changes a local one's endpoint. What
//!   was left out is listed in the report.
//!
//! Every reference (a reflection's identity, a mirrorback's reflection, …)
//! must resolve in the batch or in the store, or the import is refused.

use std::collections::{BTreeMap, HashSet};

use redb::{ReadableTable, WriteTransaction};
use serde::Serialize;

use crate::model::*;

use super::ops::{
    Indexing, exists, fetch, insert_evidence_in, insert_feedback_in, insert_member_in,
    insert_mirrorback_in, insert_reflection_in, insert_run_in, put, put_consent_in, tag_in,
};
use super::tables::*;
use super::{Result, Store, StoreError, codec, fts};

/// Every record of a store, table by table, in key order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Batch {
    pub identities: Vec<Identity>,
    pub reflections: Vec<Reflection>,
    pub mirrorbacks: Vec<Mirrorback>,
    pub tensions: Vec<Tension>,
    pub tension_evidence: Vec<TensionEvidence>,
    pub tension_suggestions: Vec<TensionSuggestion>,
    pub threads: Vec<Thread>,
    pub thread_members: Vec<ThreadMember>,
    pub engine_runs: Vec<EngineRun>,
    pub engine_feedback: Vec<EngineFeedback>,
    pub evolution_events: Vec<EvolutionEvent>,
    pub evolution_history: Vec<EvolutionHistory>,
    pub integrations: Vec<Integration>,
    pub consent: Vec<ConsentSetting>,
    pub consent_changes: Vec<ConsentChange>,
    pub egress_log: Vec<EgressRecord>,
    /// Earlier texts of edited reflections (bundle format 2 on).
    pub reflection_revisions: Vec<ReflectionRevision>,
    /// Reflections deleted, by id and when (bundle format 2 on): an import
    /// records them so an older bundle cannot bring them back.
    pub tombstones: Vec<Tombstone>,
}

/// Whether an import brings back reflections this store deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Resurrect {
    #[default]
    No,
    Yes,
}

/// What an import did to one table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct TableReport {
    pub added: u64,
    pub updated: u64,
    pub unchanged: u64,
}

/// What an import did, table by table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    pub tables: BTreeMap<&'static str, TableReport>,
    /// What the bundle asked for that an import never does (grant consent,
    /// enable an integration or change its endpoint), one line each.
    pub left_out: Vec<String>,
}

impl ImportReport {
    pub fn added(&self) -> u64 {
        self.tables.values().map(|t| t.added).sum()
    }
    pub fn updated(&self) -> u64 {
        self.tables.values().map(|t| t.updated).sum()
    }
}

impl Batch {
    /// Table names in dependency order (what a record refers to comes first).
    pub const TABLES: &'static [&'static str] = &[
        Identity::TABLE,
        Thread::TABLE,
        Tension::TABLE,
        Reflection::TABLE,
        ThreadMember::TABLE,
        Mirrorback::TABLE,
        TensionEvidence::TABLE,
        TensionSuggestion::TABLE,
        EngineRun::TABLE,
        EngineFeedback::TABLE,
        EvolutionEvent::TABLE,
        EvolutionHistory::TABLE,
        Integration::TABLE,
        ConsentSetting::TABLE,
        ConsentChange::TABLE,
        EgressRecord::TABLE,
        ReflectionRevision::TABLE,
        Tombstone::TABLE,
    ];

    /// This batch without the reflections `gone` and every record that
    /// hangs off them (mirrorbacks, runs and their feedback, evidence,
    /// suggestions, thread memberships).
    pub fn without_reflections(&self, gone: &HashSet<Id>) -> Batch {
        let mut out = self.clone();
        out.reflections.retain(|r| !gone.contains(&r.id));
        out.mirrorbacks.retain(|m| !gone.contains(&m.reflection_id));
        let runs: HashSet<Id> = out
            .engine_runs
            .iter()
            .filter(|r| gone.contains(&r.reflection_id))
            .map(|r| r.id)
            .collect();
        out.engine_runs.retain(|r| !runs.contains(&r.id));
        out.engine_feedback.retain(|f| !runs.contains(&f.run_id));
        out.tension_evidence
            .retain(|e| e.reflection_id.is_none_or(|r| !gone.contains(&r)));
        out.tension_suggestions
            .retain(|s| !gone.contains(&s.reflection_id));
        out.thread_members
            .retain(|m| !gone.contains(&m.reflection_id));
        out.reflection_revisions
            .retain(|r| !gone.contains(&r.reflection_id));
        out
    }

    pub fn len(&self) -> usize {
        self.counts().iter().map(|(_, n)| *n as usize).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Records per table, in [`Batch::TABLES`] order.
    pub fn counts(&self) -> Vec<(&'static str, u64)> {
        let n = |len: usize| len as u64;
        vec![
            (Identity::TABLE, n(self.identities.len())),
            (Thread::TABLE, n(self.threads.len())),
            (Tension::TABLE, n(self.tensions.len())),
            (Reflection::TABLE, n(self.reflections.len())),
            (ThreadMember::TABLE, n(self.thread_members.len())),
            (Mirrorback::TABLE, n(self.mirrorbacks.len())),
            (TensionEvidence::TABLE, n(self.tension_evidence.len())),
            (TensionSuggestion::TABLE, n(self.tension_suggestions.len())),
            (EngineRun::TABLE, n(self.engine_runs.len())),
            (EngineFeedback::TABLE, n(self.engine_feedback.len())),
            (EvolutionEvent::TABLE, n(self.evolution_events.len())),
            (EvolutionHistory::TABLE, n(self.evolution_history.len())),
            (Integration::TABLE, n(self.integrations.len())),
            (ConsentSetting::TABLE, n(self.consent.len())),
            (ConsentChange::TABLE, n(self.consent_changes.len())),
            (EgressRecord::TABLE, n(self.egress_log.len())),
            (
                ReflectionRevision::TABLE,
                n(self.reflection_revisions.len()),
            ),
            (Tombstone::TABLE, n(self.tombstones.len())),
        ]
    }

    /// Validate every record on its own (ranges, names, lengths). References
    /// between records are checked at import, against the store as well.
    pub fn validate(&self) -> std::result::Result<(), (&'static str, usize, ValidationError)> {
        fn each<R: Record>(
            records: &[R],
        ) -> std::result::Result<(), (&'static str, usize, ValidationError)> {
            for (i, r) in records.iter().enumerate() {
                r.validate().map_err(|e| (R::TABLE, i, e))?;
            }
            Ok(())
        }
        each(&self.identities)?;
        each(&self.reflections)?;
        each(&self.mirrorbacks)?;
        each(&self.tensions)?;
        each(&self.tension_evidence)?;
        each(&self.tension_suggestions)?;
        each(&self.threads)?;
        each(&self.thread_members)?;
        each(&self.engine_runs)?;
        each(&self.engine_feedback)?;
        each(&self.evolution_events)?;
        each(&self.evolution_history)?;
        each(&self.integrations)?;
        each(&self.consent)?;
        each(&self.consent_changes)?;
        each(&self.egress_log)?;
        each(&self.reflection_revisions)?;
        each(&self.tombstones)
    }
}

fn read_all<R: Record>(txn: &redb::ReadTransaction) -> Result<Vec<R>> {
    let table = txn.open_table(record_table(R::TABLE))?;
    table
        .iter()?
        .map(|entry| codec::decode(entry?.1.value()))
        .collect()
}

/// [`read_all`] for a table newer than the store's schema may be (v3's
/// revisions and tombstones, in a store migrated down): none.
fn read_all_if_present<R: Record>(txn: &redb::ReadTransaction) -> Result<Vec<R>> {
    match txn.open_table(record_table(R::TABLE)) {
        Err(redb::TableError::TableDoesNotExist(_)) => Ok(Vec::new()),
        table => table?
            .iter()?
            .map(|entry| codec::decode(entry?.1.value()))
            .collect(),
    }
}

impl Store {
    /// A consistent copy of everything (one read transaction).
    pub fn snapshot(&self) -> Result<Batch> {
        let txn = self.db.begin_read()?;
        let members = txn
            .open_table(THREAD_MEMBERS)?
            .iter()?
            .map(|e| codec::decode(e?.1.value()))
            .collect::<Result<_>>()?;
        let consent = txn
            .open_table(CONSENT)?
            .iter()?
            .map(|e| codec::decode(e?.1.value()))
            .collect::<Result<_>>()?;
        Ok(Batch {
            identities: read_all(&txn)?,
            reflections: read_all(&txn)?,
            mirrorbacks: read_all(&txn)?,
            tensions: read_all(&txn)?,
            tension_evidence: read_all(&txn)?,
            tension_suggestions: read_all(&txn)?,
            threads: read_all(&txn)?,
            thread_members: members,
            engine_runs: read_all(&txn)?,
            engine_feedback: read_all(&txn)?,
            evolution_events: read_all(&txn)?,
            evolution_history: read_all(&txn)?,
            integrations: read_all(&txn)?,
            consent,
            consent_changes: read_all(&txn)?,
            egress_log: read_all(&txn)?,
            reflection_revisions: read_all_if_present(&txn)?,
            tombstones: read_all_if_present(&txn)?,
        })
    }

    /// Merge `batch` into the store, all or nothing (see the module docs).
    /// Reflections deleted here stay deleted ([`Resurrect::No`]).
    pub fn import(&self, batch: &Batch) -> Result<ImportReport> {
        self.import_with(batch, Resurrect::No)
    }

    /// [`Store::import`], choosing what happens to reflections the bundle
    /// holds but this store deleted (has a tombstone for): left out, with
    /// everything that hangs off them, and said so in the report; or
    /// brought back, their tombstones removed in the same transaction.
    pub fn import_with(&self, batch: &Batch, resurrect: Resurrect) -> Result<ImportReport> {
        let deleted = self.deleted_among(batch.reflections.iter().map(|r| r.id))?;
        let filtered;
        let (batch, revive, left_out) = if deleted.is_empty() {
            (batch, Vec::new(), None)
        } else if resurrect == Resurrect::Yes {
            (batch, deleted.iter().copied().collect(), None)
        } else {
            filtered = batch.without_reflections(&deleted);
            (
                &filtered,
                Vec::new(),
                Some(format!(
                    "{} reflection(s) deleted here (and what hangs off them) were not brought back; `mirror import --restore-deleted` brings them back",
                    deleted.len()
                )),
            )
        };
        let mut report = self.import_checked(batch, &revive)?;
        report.left_out.extend(left_out);
        Ok(report)
    }

    fn import_checked(&self, batch: &Batch, revive: &[Id]) -> Result<ImportReport> {
        batch
            .validate()
            .map_err(|(table, i, source)| StoreError::InvalidRecord {
                table,
                number: i + 1,
                source,
            })?;
        // Tokenising every reflection for the full-text index is the costly
        // part of a large import and needs no database: do it on other
        // threads while this one writes the records.
        let docs: Vec<(u128, &str)> = batch
            .reflections
            .iter()
            .map(|r| (r.id.as_u128(), r.content.as_str()))
            .collect();
        std::thread::scope(|scope| {
            let grouping = scope.spawn(|| fts::group_terms(&docs));
            self.write(|txn| {
                let mut tombstones = txn.open_table(record_table(Tombstone::TABLE))?;
                for id in revive {
                    tombstones.remove(id.as_u128())?;
                }
                drop(tombstones);
                import_in(txn, batch, grouping)
            })
        })
    }
}

/// The body of [`Store::import`], inside its write transaction.
fn import_in(
    txn: &WriteTransaction,
    batch: &Batch,
    grouping: std::thread::ScopedJoinHandle<'_, fts::Postings>,
) -> Result<ImportReport> {
    {
        check_references(txn, batch)?;
        // Index what was waiting first, so that afterwards everything (the
        // batch included) is indexed and the watermark can move to the top.
        fts::catch_up(txn)?;
        let mut report = ImportReport::default();
        let mut left_out = Vec::new();
        let mut tally = |table: &'static str, outcome: Outcome| {
            let entry = report.tables.entry(table).or_default();
            match outcome {
                Outcome::Added => entry.added += 1,
                Outcome::Updated => entry.updated += 1,
                Outcome::Unchanged => entry.unchanged += 1,
            }
        };

        for identity in &batch.identities {
            let outcome = match fetch::<Identity>(txn, identity.id)? {
                None => {
                    put(txn, identity)?;
                    Outcome::Added
                }
                Some(local) if local.public_key == identity.public_key => Outcome::Unchanged,
                Some(_) => {
                    return Err(StoreError::Conflict(format!(
                        "identity {} has a different public key here than in the bundle",
                        identity.id
                    )));
                }
            };
            tally(Identity::TABLE, outcome);
        }
        for thread in &batch.threads {
            let outcome = merge_newer(
                txn,
                thread,
                |t| t.updated_at,
                |local, incoming| {
                    let mut merged = incoming.clone();
                    merged.last_active = local.last_active.max(incoming.last_active);
                    merged
                },
            )?;
            tally(Thread::TABLE, outcome);
        }
        for tension in &batch.tensions {
            tally(
                Tension::TABLE,
                merge_newer(txn, tension, |t| t.updated_at, |_, t| t.clone())?,
            );
        }
        let mut already_indexed: HashSet<u128> = HashSet::new();
        for reflection in &batch.reflections {
            let outcome = match fetch::<Reflection>(txn, reflection.id)? {
                None => {
                    insert_reflection_in(txn, reflection, Indexing::ByCaller)?;
                    Outcome::Added
                }
                Some(local) => {
                    if local != *reflection && was_edited_from(txn, &local, reflection)? {
                        // Edited here since the bundle was made: the
                        // bundle's text is one of its revisions.
                        already_indexed.insert(reflection.id.as_u128());
                        Outcome::Unchanged
                    } else if local != *reflection && edited_in_bundle(batch, &local, reflection) {
                        // Edited where the bundle was made: this store's
                        // text is one of the bundle's revisions. Take the
                        // newer text; the search index forgets the old
                        // words and learns the new ones (with the batch).
                        tag_in(txn, &local, false)?;
                        tag_in(txn, reflection, true)?;
                        put(txn, reflection)?;
                        fts::unindex(txn, reflection.id.as_u128(), &local.content)?;
                        Outcome::Updated
                    } else {
                        already_indexed.insert(reflection.id.as_u128());
                        same_or_conflict(&local, reflection)?
                    }
                }
            };
            tally(Reflection::TABLE, outcome);
        }
        for member in &batch.thread_members {
            let added = insert_member_in(txn, member)?;
            tally(
                ThreadMember::TABLE,
                if added {
                    Outcome::Added
                } else {
                    Outcome::Unchanged
                },
            );
        }
        for m in &batch.mirrorbacks {
            tally(
                Mirrorback::TABLE,
                add_immutable(txn, m, insert_mirrorback_in)?,
            );
        }
        for e in &batch.tension_evidence {
            tally(
                TensionEvidence::TABLE,
                add_immutable(txn, e, insert_evidence_in)?,
            );
        }
        for suggestion in &batch.tension_suggestions {
            tally(
                TensionSuggestion::TABLE,
                merge_newer(txn, suggestion, |s| s.updated_at, |_, s| s.clone())?,
            );
        }
        for r in &batch.engine_runs {
            tally(EngineRun::TABLE, add_immutable(txn, r, insert_run_in)?);
        }
        for f in &batch.engine_feedback {
            tally(
                EngineFeedback::TABLE,
                add_immutable(txn, f, insert_feedback_in)?,
            );
        }
        for e in &batch.evolution_events {
            tally(EvolutionEvent::TABLE, add_immutable(txn, e, put)?);
        }
        for h in &batch.evolution_history {
            tally(EvolutionHistory::TABLE, add_immutable(txn, h, put)?);
        }
        for i in &batch.integrations {
            let outcome = merge_integration(txn, i, &mut left_out)?;
            tally(Integration::TABLE, outcome);
        }
        for setting in &batch.consent {
            let outcome = merge_consent(txn, setting, &mut left_out)?;
            tally(ConsentSetting::TABLE, outcome);
        }
        for c in &batch.consent_changes {
            tally(ConsentChange::TABLE, add_immutable(txn, c, put)?);
        }
        for e in &batch.egress_log {
            tally(EgressRecord::TABLE, add_immutable(txn, e, put)?);
        }
        for r in &batch.reflection_revisions {
            tally(
                ReflectionRevision::TABLE,
                add_immutable(txn, r, insert_revision_in)?,
            );
        }
        let mut still_here = 0;
        for t in &batch.tombstones {
            if exists::<Reflection>(txn, t.id)? {
                // Deleted where the bundle was made, still here: an import
                // never deletes writing (the person can, `mirror delete`).
                still_here += 1;
                tally(Tombstone::TABLE, Outcome::Unchanged);
                continue;
            }
            let outcome = match fetch::<Tombstone>(txn, t.id)? {
                None => {
                    put(txn, t)?;
                    Outcome::Added
                }
                // Deleted on both sides: this store's time stands.
                Some(_) => Outcome::Unchanged,
            };
            tally(Tombstone::TABLE, outcome);
        }
        if still_here > 0 {
            left_out.push(format!(
                "{still_here} reflection(s) deleted where the bundle was made are still here; an import never deletes (`mirror delete ID` does)"
            ));
        }
        // Index the new reflections now, all together, rather than
        // leaving a large queue for the first search.
        let mut postings = grouping
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        if !already_indexed.is_empty() {
            for ids in postings.values_mut() {
                ids.retain(|id| !already_indexed.contains(id));
            }
            postings.retain(|_, ids| !ids.is_empty());
        }
        fts::write_postings(&mut txn.open_table(FTS_BLOCKS)?, postings)?;
        fts::advance_watermark(txn)?;
        report.left_out = left_out;
        Ok(report)
    }
}

#[derive(Debug, Clone, Copy)]
enum Outcome {
    Added,
    Updated,
    Unchanged,
}

/// Whether `incoming` is `local` as it was before an edit made here: the
/// same record but for the text, which is one of local's revisions.
fn was_edited_from(
    txn: &WriteTransaction,
    local: &Reflection,
    incoming: &Reflection,
) -> Result<bool> {
    let mut earlier = incoming.clone();
    earlier.content = local.content.clone();
    if earlier != *local {
        return Ok(false);
    }
    let index = txn.open_table(REVISIONS_BY_REFLECTION)?;
    let key = local.id.as_u128();
    for entry in index.range((key, 0)..=(key, u128::MAX))? {
        let revision = entry?.0.value().1;
        if let Some(r) = fetch::<ReflectionRevision>(txn, Id::from_u128(revision))?
            && r.content == incoming.content
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Whether `incoming` is `local` edited where the bundle was made: the
/// same record but for the text, and local's text is one of the bundle's
/// revisions of it.
fn edited_in_bundle(batch: &Batch, local: &Reflection, incoming: &Reflection) -> bool {
    let mut earlier = incoming.clone();
    earlier.content = local.content.clone();
    earlier == *local
        && batch
            .reflection_revisions
            .iter()
            .any(|r| r.reflection_id == local.id && r.content == local.content)
}

/// A revision and its entry in the index by reflection.
fn insert_revision_in(txn: &WriteTransaction, revision: &ReflectionRevision) -> Result<()> {
    put(txn, revision)?;
    txn.open_table(REVISIONS_BY_REFLECTION)?.insert(
        (revision.reflection_id.as_u128(), revision.id.as_u128()),
        (),
    )?;
    Ok(())
}

fn same_or_conflict<R: Keyed>(local: &R, incoming: &R) -> Result<Outcome> {
    if local == incoming {
        Ok(Outcome::Unchanged)
    } else {
        Err(StoreError::Conflict(format!(
            "{} {} differs between the store and the bundle; records with one id never change, so one of them is damaged",
            R::TABLE,
            incoming.id()
        )))
    }
}

fn add_immutable<R: Keyed>(
    txn: &WriteTransaction,
    record: &R,
    insert: fn(&WriteTransaction, &R) -> Result<()>,
) -> Result<Outcome> {
    match fetch::<R>(txn, record.id())? {
        None => {
            insert(txn, record)?;
            Ok(Outcome::Added)
        }
        Some(local) => same_or_conflict(&local, record),
    }
}

/// A consent setting from a bundle: a "no" newer than this node's decision
/// is taken (an import may only narrow what leaves the node); a "yes" never
/// is, whatever its time, because consent is given here, by the person.
fn merge_consent(
    txn: &WriteTransaction,
    incoming: &ConsentSetting,
    left_out: &mut Vec<String>,
) -> Result<Outcome> {
    let local = txn
        .open_table(CONSENT)?
        .get(incoming.category.as_str())?
        .map(|v| codec::decode::<ConsentSetting>(v.value()))
        .transpose()?;
    let granted_here = local.as_ref().is_some_and(|l| l.granted);
    if incoming.granted {
        if !granted_here {
            left_out.push(format!(
                "consent {}: granted in the bundle, not here; an import never grants consent (`mirror consent grant {}` does)",
                incoming.category, incoming.category
            ));
        }
        return Ok(Outcome::Unchanged);
    }
    match local {
        None => {
            put_consent_in(txn, incoming)?;
            Ok(Outcome::Added)
        }
        Some(local) if local.granted && incoming.updated_at > local.updated_at => {
            put_consent_in(txn, incoming)?;
            put(
                txn,
                &ConsentChange {
                    id: Id::new(),
                    category: incoming.category,
                    granted: false,
                    at: incoming.updated_at,
                },
            )?;
            left_out.push(format!(
                "consent {}: withdrawn, as the bundle's newer decision says",
                incoming.category
            ));
            Ok(Outcome::Updated)
        }
        Some(_) => Ok(Outcome::Unchanged),
    }
}

/// An integration from a bundle arrives disabled, and never changes where a
/// local one points or whether it is on: both decide what leaves the node.
fn merge_integration(
    txn: &WriteTransaction,
    incoming: &Integration,
    left_out: &mut Vec<String>,
) -> Result<Outcome> {
    let local = fetch::<Integration>(txn, incoming.id)?;
    let mut safe = incoming.clone();
    match &local {
        None => safe.enabled = false,
        Some(local) => {
            safe.enabled = local.enabled;
            safe.endpoint = local.endpoint.clone();
        }
    }
    if safe.enabled != incoming.enabled || safe.endpoint != incoming.endpoint {
        left_out.push(format!(
            "integration {}: its endpoint and whether it is enabled stay as they are here",
            incoming.name
        ));
    }
    merge_newer(txn, &safe, |i| i.updated_at, |_, i| i.clone())
}

/// Last writer wins, by `updated`; ties keep the local record, so import
/// order never matters for the result.
fn merge_newer<R: Keyed>(
    txn: &WriteTransaction,
    incoming: &R,
    updated: fn(&R) -> Timestamp,
    merge: fn(&R, &R) -> R,
) -> Result<Outcome> {
    match fetch::<R>(txn, incoming.id())? {
        None => {
            put(txn, incoming)?;
            Ok(Outcome::Added)
        }
        Some(local) if updated(incoming) > updated(&local) => {
            let merged = merge(&local, incoming);
            if merged == local {
                return Ok(Outcome::Unchanged);
            }
            put(txn, &merged)?;
            Ok(Outcome::Updated)
        }
        Some(_) => Ok(Outcome::Unchanged),
    }
}

/// Every id a record points at must exist in the batch or the store.
fn check_references(txn: &WriteTransaction, batch: &Batch) -> Result<()> {
    fn ids<R: Keyed>(records: &[R]) -> HashSet<Id> {
        records.iter().map(Keyed::id).collect()
    }
    let identities = ids(&batch.identities);
    let reflections = ids(&batch.reflections);
    let threads = ids(&batch.threads);
    let tensions = ids(&batch.tensions);
    let runs = ids(&batch.engine_runs);

    fn check<R: Keyed>(
        txn: &WriteTransaction,
        in_batch: &HashSet<Id>,
        id: Id,
        from: &str,
        what: &'static str,
    ) -> Result<()> {
        if in_batch.contains(&id) || exists::<R>(txn, id)? {
            Ok(())
        } else {
            Err(StoreError::Conflict(format!(
                "{from} refers to {what} {id}, which is neither in the bundle nor in this store"
            )))
        }
    }

    for r in &batch.reflection_revisions {
        check::<Reflection>(
            txn,
            &reflections,
            r.reflection_id,
            &format!("reflection revision {}", r.id),
            "reflection",
        )?;
    }
    if let Some(t) = batch
        .tombstones
        .iter()
        .find(|t| reflections.contains(&t.id))
    {
        return Err(StoreError::Conflict(format!(
            "the bundle holds reflection {} and its tombstone; one of them is damaged",
            t.id
        )));
    }
    for r in &batch.reflections {
        check::<Identity>(
            txn,
            &identities,
            r.identity_id,
            &format!("reflection {}", r.id),
            "identity",
        )?;
    }
    for t in &batch.threads {
        check::<Identity>(
            txn,
            &identities,
            t.identity_id,
            &format!("thread {}", t.id),
            "identity",
        )?;
    }
    for t in &batch.tensions {
        check::<Identity>(
            txn,
            &identities,
            t.identity_id,
            &format!("tension {}", t.id),
            "identity",
        )?;
    }
    for m in &batch.thread_members {
        let from = format!("thread membership {}/{}", m.thread_id, m.reflection_id);
        check::<Thread>(txn, &threads, m.thread_id, &from, "thread")?;
        check::<Reflection>(txn, &reflections, m.reflection_id, &from, "reflection")?;
    }
    for m in &batch.mirrorbacks {
        check::<Reflection>(
            txn,
            &reflections,
            m.reflection_id,
            &format!("mirrorback {}", m.id),
            "reflection",
        )?;
    }
    for e in &batch.tension_evidence {
        let from = format!("tension evidence {}", e.id);
        check::<Tension>(txn, &tensions, e.tension_id, &from, "tension")?;
        if let Some(r) = e.reflection_id {
            check::<Reflection>(txn, &reflections, r, &from, "reflection")?;
        }
    }
    for s in &batch.tension_suggestions {
        let from = format!("tension suggestion {}", s.id);
        check::<Identity>(txn, &identities, s.identity_id, &from, "identity")?;
        check::<Reflection>(txn, &reflections, s.reflection_id, &from, "reflection")?;
        if let Some(t) = s.tension_id {
            check::<Tension>(txn, &tensions, t, &from, "tension")?;
        }
    }
    for r in &batch.engine_runs {
        check::<Reflection>(
            txn,
            &reflections,
            r.reflection_id,
            &format!("engine run {}", r.id),
            "reflection",
        )?;
    }
    for f in &batch.engine_feedback {
        check::<EngineRun>(
            txn,
            &runs,
            f.run_id,
            &format!("feedback {}", f.id),
            "engine run",
        )?;
    }
    Ok(())
}
