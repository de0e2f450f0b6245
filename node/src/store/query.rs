//! Reads: reflections by identity, thread, time range and visibility, the
//! full-text search, and the records that hang off a reflection or tension.

use redb::{ReadTransaction, ReadableTable};

use crate::model::*;

use super::tables::*;
use super::{Result, Store, StoreError, codec, fts, load};

/// Which reflections to list. Every filter is optional; results come newest
/// first unless `oldest_first`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReflectionQuery {
    pub identity: Option<Id>,
    pub thread: Option<Id>,
    /// Only reflections with this tag (normalised: no `#`, lowercase).
    pub tag: Option<String>,
    pub visibility: Option<Visibility>,
    /// Inclusive lower bound on `created_at`.
    pub since: Option<Timestamp>,
    /// Exclusive upper bound on `created_at`.
    pub until: Option<Timestamp>,
    pub limit: usize,
    pub oldest_first: bool,
}

impl ReflectionQuery {
    pub fn newest(limit: usize) -> Self {
        ReflectionQuery {
            limit,
            ..Default::default()
        }
    }
}

/// The filters of a query, checked against whatever the driving walk has
/// at hand: a time-index entry (no record decoded) or a loaded record.
struct Filters<'a> {
    txn: &'a ReadTransaction,
    query: &'a ReflectionQuery,
    /// Whether thread membership still needs checking (it is free when the
    /// walk is over the thread itself).
    check_thread: bool,
}

impl Filters<'_> {
    fn in_time_range(&self, at: i64) -> bool {
        let q = self.query;
        !(q.since.is_some_and(|s| at < s.as_micros())
            || q.until.is_some_and(|u| at >= u.as_micros()))
    }

    fn in_thread(&self, id: u128) -> Result<bool> {
        match self.query.thread {
            Some(thread) if self.check_thread => Ok(self
                .txn
                .open_table(THREAD_MEMBERS)?
                .get((thread.as_u128(), id))?
                .is_some()),
            _ => Ok(true),
        }
    }

    fn has_tag(&self, id: u128) -> Result<bool> {
        match &self.query.tag {
            Some(tag) => Ok(self
                .txn
                .open_table(REFLECTION_TAGS)?
                .get((tag.as_str(), id))?
                .is_some()),
            None => Ok(true),
        }
    }

    fn accept_entry(&self, id: u128, entry: &TimeEntry) -> Result<bool> {
        let q = self.query;
        if q.identity.is_some_and(|i| i.as_u128() != entry.identity)
            || q.visibility
                .is_some_and(|v| v.to_byte() != entry.visibility)
        {
            return Ok(false);
        }
        Ok(self.in_thread(id)? && self.has_tag(id)?)
    }

    fn accept_record(&self, r: &Reflection) -> Result<bool> {
        let q = self.query;
        if q.identity.is_some_and(|i| i != r.identity_id)
            || q.visibility.is_some_and(|v| v != r.visibility)
            || !self.in_time_range(r.created_at.as_micros())
        {
            return Ok(false);
        }
        Ok(self.in_thread(r.id.as_u128())? && self.has_tag(r.id.as_u128())?)
    }
}

impl Store {
    /// Reflections matching `query`, in `created_at` order.
    pub fn reflections(&self, query: &ReflectionQuery) -> Result<Vec<Reflection>> {
        let txn = self.db.begin_read()?;
        let records = txn.open_table(record_table(Reflection::TABLE))?;
        let mut out = Vec::new();

        if query.thread.is_some() || query.tag.is_some() {
            // Threads and tags are small beside the journal: gather the
            // members, then sort by time.
            let filters = Filters {
                txn: &txn,
                query,
                check_thread: query.tag.is_some(),
            };
            let mut ids = Vec::new();
            if let Some(thread) = query.thread {
                let members = txn.open_table(THREAD_MEMBERS)?;
                for entry in members.range((thread.as_u128(), 0)..=(thread.as_u128(), u128::MAX))? {
                    ids.push(entry?.0.value().1);
                }
            } else if let Some(tag) = &query.tag {
                let tags = txn.open_table(REFLECTION_TAGS)?;
                for entry in tags.range((tag.as_str(), 0)..=(tag.as_str(), u128::MAX))? {
                    ids.push(entry?.0.value().1);
                }
            }
            for id in ids {
                if let Some(r) = load::<Reflection>(&records, id)?
                    && filters.accept_record(&r)?
                {
                    out.push(r);
                }
            }
            out.sort_by_key(|r| (r.created_at, r.id));
            if !query.oldest_first {
                out.reverse();
            }
            out.truncate(query.limit);
            return Ok(out);
        }

        // Everything else walks the time index within [since, until),
        // filtering on the identity and visibility the index carries.
        let filters = Filters {
            txn: &txn,
            query,
            check_thread: true,
        };
        let low = query.since.map_or(i64::MIN, |t| t.as_micros());
        let by_time = txn.open_table(REFLECTIONS_BY_TIME)?;
        let range = match query.until {
            Some(until) => by_time.range((low, 0)..(until.as_micros(), 0))?,
            None => by_time.range((low, 0)..)?,
        };
        let mut walk = |entry: std::result::Result<_, redb::StorageError>| -> Result<bool> {
            let (key, value): (redb::AccessGuard<(i64, u128)>, redb::AccessGuard<[u8; 17]>) =
                entry?;
            let (_, id) = key.value();
            if filters.accept_entry(id, &TimeEntry::decode(value.value()))?
                && let Some(r) = load::<Reflection>(&records, id)?
            {
                out.push(r);
            }
            Ok(out.len() < query.limit)
        };
        if query.oldest_first {
            for entry in range {
                if !walk(entry)? {
                    break;
                }
            }
        } else {
            for entry in range.rev() {
                if !walk(entry)? {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// The pipeline's records made in `[from, to]` (both ends inclusive;
    /// callers narrow to their own bounds): reflections by `created_at`,
    /// and the mirrorbacks, engine runs and feedback made then, plus the
    /// runs and mirrorbacks of those reflections wherever they fall.
    ///
    /// This is what observers and telemetry read instead of the whole store,
    /// so their cost follows the window, not the journal. Reflections come
    /// from the time index. Mirrorbacks, runs and feedback have no time
    /// index, but their ids are UUIDv7 made when they were (`Id::new` at
    /// `created_at`, and imports keep both), so a range over the primary key
    /// by the id's time, widened by [`WINDOW_SLACK_MICROS`] on each side,
    /// finds them; `created_at` then decides.
    pub fn window(&self, from: Timestamp, to: Timestamp) -> Result<super::Batch> {
        let (from, to) = (from.as_micros(), to.as_micros());
        let inside = |t: Timestamp| from <= t.as_micros() && t.as_micros() <= to;
        let txn = self.db.begin_read()?;
        let mut batch = super::Batch::default();
        {
            let records = txn.open_table(record_table(Reflection::TABLE))?;
            let by_time = txn.open_table(REFLECTIONS_BY_TIME)?;
            for entry in by_time.range((from, 0)..=(to, u128::MAX))? {
                let id = entry?.0.value().1;
                if let Some(r) = load::<Reflection>(&records, id)? {
                    batch.reflections.push(r);
                }
            }
        }
        let ids = id_range(from, to);
        batch.mirrorbacks = in_id_range(&txn, ids.clone(), |m: &Mirrorback| m.created_at, &inside)?;
        batch.engine_runs = in_id_range(&txn, ids.clone(), |r: &EngineRun| r.created_at, &inside)?;
        batch.engine_feedback = in_id_range(&txn, ids, |f: &EngineFeedback| f.created_at, &inside)?;
        // A reflection dated back (`--at`, an import) has its run and
        // mirrorback at the time it was mirrored: fetch those by reflection.
        let mut runs: std::collections::HashSet<Id> =
            batch.engine_runs.iter().map(|r| r.id).collect();
        let mut mirrorbacks: std::collections::HashSet<Id> =
            batch.mirrorbacks.iter().map(|m| m.id).collect();
        {
            let run_table = txn.open_table(record_table(EngineRun::TABLE))?;
            let mb_table = txn.open_table(record_table(Mirrorback::TABLE))?;
            let run_index = txn.open_table(RUNS_BY_REFLECTION)?;
            let mb_index = txn.open_table(MIRRORBACKS_BY_REFLECTION)?;
            for r in &batch.reflections {
                let key = r.id.as_u128();
                for entry in run_index.range((key, 0)..=(key, u128::MAX))? {
                    let id = entry?.0.value().1;
                    if runs.insert(Id::from_u128(id))
                        && let Some(run) = load::<EngineRun>(&run_table, id)?
                    {
                        batch.engine_runs.push(run);
                    }
                }
                for entry in mb_index.range((key, 0)..=(key, u128::MAX))? {
                    let id = entry?.0.value().1;
                    if mirrorbacks.insert(Id::from_u128(id))
                        && let Some(m) = load::<Mirrorback>(&mb_table, id)?
                    {
                        batch.mirrorbacks.push(m);
                    }
                }
            }
        }
        Ok(batch)
    }

    /// Every tag with how many reflections have it, by name.
    pub fn tag_counts(&self) -> Result<Vec<(String, u64)>> {
        let txn = self.db.begin_read()?;
        let tags = txn.open_table(REFLECTION_TAGS)?;
        let mut out: Vec<(String, u64)> = Vec::new();
        for entry in tags.iter()? {
            let (key, _) = entry?;
            let tag = key.value().0;
            match out.last_mut() {
                Some((last, n)) if last == tag => *n += 1,
                _ => out.push((tag.to_string(), 1)),
            }
        }
        Ok(out)
    }

    /// Tension name → evidence recorded in `[from, to]`. A walk over the
    /// evidence table, which holds a few entries per tension, not one per
    /// reflection.
    pub fn evidence_counts_between(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<(String, u64)>> {
        let txn = self.db.begin_read()?;
        let evidence = txn.open_table(record_table(TensionEvidence::TABLE))?;
        let tensions = txn.open_table(record_table(Tension::TABLE))?;
        let mut counts: std::collections::BTreeMap<String, u64> = Default::default();
        for entry in evidence.iter()? {
            let e: TensionEvidence = codec::decode(entry?.1.value())?;
            if e.created_at < from || e.created_at > to {
                continue;
            }
            if let Some(t) = load::<Tension>(&tensions, e.tension_id.as_u128())? {
                *counts.entry(t.name).or_default() += 1;
            }
        }
        Ok(counts.into_iter().collect())
    }

    /// Full-text search: reflections containing every word of `text`
    /// (`word*` for a prefix), most recently written first, narrowed by the
    /// filters of `query`.
    ///
    /// The index is brought up to date first. Where that cannot be written
    /// (a read-only store or disk, a full disk), the answer comes from what
    /// is indexed plus a scan of the reflections the index does not cover
    /// yet, so search still works, only slower for the part not indexed.
    pub fn search(&self, text: &str, query: &ReflectionQuery) -> Result<Vec<Reflection>> {
        let terms = fts::parse_query(text);
        let scanned = match self.index_pending() {
            Ok(_) => Vec::new(),
            // The index could not be written (a read-only store or disk, a
            // full disk); anything else is an answer in itself.
            Err(
                e @ (StoreError::ReadOnly { .. } | StoreError::Io { .. } | StoreError::Redb(_)),
            ) if !e.is_damage() => {
                tracing::info!(error = %e, "the search index cannot be updated; scanning what it does not cover");
                self.scan_unindexed(&terms, query)?
            }
            Err(e) => return Err(e),
        };
        let txn = self.db.begin_read()?;
        let records = txn.open_table(record_table(Reflection::TABLE))?;
        let postings = txn.open_table(FTS_BLOCKS)?;
        let filters = Filters {
            txn: &txn,
            query,
            check_thread: true,
        };
        let mut found = Vec::new();
        fts::search(&postings, &terms, query.limit, |id| {
            match load::<Reflection>(&records, id)? {
                Some(r) if filters.accept_record(&r)? => {
                    found.push(r);
                    Ok(true)
                }
                _ => Ok(false),
            }
        })?;
        if !scanned.is_empty() {
            found.extend(scanned);
            found.sort_by_key(|r| std::cmp::Reverse(r.id));
            found.dedup_by(|a, b| a.id == b.id);
            found.truncate(query.limit);
        }
        Ok(found)
    }

    /// How many reflections match `text` and the filters, counting up to
    /// `cap` (a count costs the matches, so it stops there). Call after
    /// [`Store::search`], which brings the index up to date.
    pub fn search_total(&self, text: &str, query: &ReflectionQuery, cap: usize) -> Result<usize> {
        let terms = fts::parse_query(text);
        let txn = self.db.begin_read()?;
        let records = txn.open_table(record_table(Reflection::TABLE))?;
        let postings = txn.open_table(FTS_BLOCKS)?;
        let filters = Filters {
            txn: &txn,
            query,
            check_thread: true,
        };
        let plain = query.identity.is_none()
            && query.thread.is_none()
            && query.tag.is_none()
            && query.visibility.is_none()
            && query.since.is_none()
            && query.until.is_none();
        let found = fts::search(&postings, &terms, cap, |id| {
            if plain {
                // The postings alone answer: no record is read.
                return Ok(records.get(id)?.is_some());
            }
            match load::<Reflection>(&records, id)? {
                Some(r) => filters.accept_record(&r),
                None => Ok(false),
            }
        })?;
        let unindexed = self.scan_unindexed(&terms, query)?.len();
        Ok((found.len() + unindexed).min(cap))
    }

    /// Reflections the index does not cover yet (above its watermark, or
    /// queued) that match every term and the filters: the read-only half of
    /// [`Store::search`].
    fn scan_unindexed(
        &self,
        terms: &[fts::QueryTerm],
        query: &ReflectionQuery,
    ) -> Result<Vec<Reflection>> {
        let txn = self.db.begin_read()?;
        let mark = fts::watermark(&txn)?;
        let records = txn.open_table(record_table(Reflection::TABLE))?;
        let filters = Filters {
            txn: &txn,
            query,
            check_thread: true,
        };
        let mut candidates: Vec<u128> = Vec::new();
        if let Some(next) = mark.checked_add(1) {
            for entry in records.range(next..)? {
                candidates.push(entry?.0.value());
            }
        }
        for entry in txn.open_table(FTS_PENDING)?.iter()? {
            candidates.push(entry?.0.value());
        }
        let mut out = Vec::new();
        for id in candidates {
            if let Some(r) = load::<Reflection>(&records, id)?
                && fts::matches(terms, &r.content)
                && filters.accept_record(&r)?
            {
                out.push(r);
            }
        }
        Ok(out)
    }

    /// Bring the full-text index up to date with every reflection written
    /// since it was last updated. Search does this first; a daemon may do it
    /// when idle. Returns how many reflections were indexed.
    pub fn index_pending(&self) -> Result<usize> {
        self.require_current()?;
        if !fts::has_pending(&self.db.begin_read()?)? {
            return Ok(0);
        }
        self.write(fts::catch_up)
    }

    /// Ids in an index table of `(parent, child)` keys, for one parent.
    pub(super) fn children<R: Record>(
        &self,
        index: redb::TableDefinition<(u128, u128), ()>,
        parent: Id,
    ) -> Result<Vec<R>> {
        let txn = self.db.begin_read()?;
        let records = txn.open_table(record_table(R::TABLE))?;
        let index = txn.open_table(index)?;
        let mut out = Vec::new();
        let p = parent.as_u128();
        for entry in index.range((p, 0)..=(p, u128::MAX))? {
            if let Some(r) = load(&records, entry?.0.value().1)? {
                out.push(r);
            }
        }
        Ok(out)
    }

    pub fn mirrorbacks_for(&self, reflection: Id) -> Result<Vec<Mirrorback>> {
        self.children(MIRRORBACKS_BY_REFLECTION, reflection)
    }

    pub fn runs_for(&self, reflection: Id) -> Result<Vec<EngineRun>> {
        self.children(RUNS_BY_REFLECTION, reflection)
    }

    pub fn feedback_for(&self, run: Id) -> Result<Vec<EngineFeedback>> {
        self.children(FEEDBACK_BY_RUN, run)
    }

    pub fn evidence_for(&self, tension: Id) -> Result<Vec<TensionEvidence>> {
        self.children(EVIDENCE_BY_TENSION, tension)
    }

    /// Threads a reflection belongs to.
    pub fn threads_of(&self, reflection: Id) -> Result<Vec<Thread>> {
        let txn = self.db.begin_read()?;
        let threads = txn.open_table(record_table(Thread::TABLE))?;
        let index = txn.open_table(REFLECTION_THREADS)?;
        let r = reflection.as_u128();
        let mut out = Vec::new();
        for entry in index.range((r, 0)..=(r, u128::MAX))? {
            if let Some(t) = load(&threads, entry?.0.value().1)? {
                out.push(t);
            }
        }
        Ok(out)
    }

    /// Number of reflections in a thread.
    pub fn thread_size(&self, thread: Id) -> Result<u64> {
        let txn = self.db.begin_read()?;
        let members = txn.open_table(THREAD_MEMBERS)?;
        let t = thread.as_u128();
        let mut n = 0;
        for entry in members.range((t, 0)..=(t, u128::MAX))? {
            entry?;
            n += 1;
        }
        Ok(n)
    }

    /// Current consent per category; `None` where the person never decided
    /// (which means no).
    pub fn consents(&self) -> Result<Vec<(ConsentCategory, Option<ConsentSetting>)>> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(CONSENT)?;
        ConsentCategory::ALL
            .iter()
            .map(|category| {
                let setting = table
                    .get(category.as_str())?
                    .map(|v| codec::decode::<ConsentSetting>(v.value()))
                    .transpose()?;
                Ok((*category, setting))
            })
            .collect()
    }

    pub fn consent_granted(&self, category: ConsentCategory) -> Result<bool> {
        Ok(self
            .consents()?
            .into_iter()
            .any(|(c, s)| c == category && s.is_some_and(|s| s.granted)))
    }
}

/// How far a record's `created_at` may be from the time in its id and still
/// be found by [`Store::window`]: a day, far more than the moments between
/// making an id and stamping the record.
pub const WINDOW_SLACK_MICROS: i64 = 86_400_000_000;

/// The primary-key range of UUIDv7 ids made between `from - slack` and
/// `to + slack` (microseconds).
fn id_range(from: i64, to: i64) -> std::ops::RangeInclusive<u128> {
    let ms = |micros: i64| (micros.max(0) / 1000) as u128;
    let low = ms(from.saturating_sub(WINDOW_SLACK_MICROS)).min((1 << 48) - 1) << 80;
    let high =
        (ms(to.saturating_add(WINDOW_SLACK_MICROS)).min((1 << 48) - 1) << 80) | ((1u128 << 80) - 1);
    low..=high
}

/// The records of one table in an id range whose `created_at` (read by
/// `stamp`) is `inside`.
fn in_id_range<R: Record>(
    txn: &ReadTransaction,
    ids: std::ops::RangeInclusive<u128>,
    stamp: fn(&R) -> Timestamp,
    inside: &dyn Fn(Timestamp) -> bool,
) -> Result<Vec<R>> {
    let table = txn.open_table(record_table(R::TABLE))?;
    let mut out = Vec::new();
    for entry in table.range(ids)? {
        let record: R = codec::decode(entry?.1.value())?;
        if inside(stamp(&record)) {
            out.push(record);
        }
    }
    Ok(out)
}
