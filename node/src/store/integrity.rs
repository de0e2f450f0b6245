//! Damage: noticing it, refusing to make it worse, and getting out what is
//! still readable.
//!
//! **Why.** redb keeps a checksum for every page but verifies them only when
//! it repairs a file after an unclean stop (or on an explicit check); a
//! normal read trusts the file, and a damaged one may make redb return
//! garbage, an error, or panic. A write on top of damage can turn a few bad
//! bytes into a file whose every root is corrupt. So:
//!
//! * every stored value carries its own checksum ([`super::codec`]), so a
//!   changed record is refused, never read back differently;
//! * every call into redb that can meet damage runs under [`guard`]: a
//!   panic becomes [`StoreError::Damaged`], and any damage (panic, checksum,
//!   redb's `Corrupted`) leaves a *mark* beside the file
//!   (`mirror.redb.damaged`, holding the reason);
//! * a marked file is never opened for writing ([`refuse_if_damaged`]);
//!   reading stays possible, read-only, and `mirror doctor` clears the mark
//!   once a full check passes again;
//! * the full check ([`Store::verify`]) walks every record of every table,
//!   checking checksums, that each key matches its record's id, that each
//!   table holds as many entries as it says, and that the time index and the
//!   reflections agree. It runs after redb had to repair the file (an
//!   unclean stop), before each rolling backup (so a backup is never of a
//!   damaged file), and from `mirror doctor`. Its cost at 100,000
//!   reflections is in BENCHMARKS.md;
//! * [`Store::salvage`] reads whatever can be read, table by table, skipping
//!   past damaged pages (after an error the walk gallops forward through the
//!   key space until a read succeeds again), drops records whose parent was
//!   lost, and names everything it could not keep. Export uses the same walk,
//!   so it names unreadable records instead of failing whole.

use std::collections::HashSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata};
use serde::Serialize;

use crate::model::*;

use super::migrations::ReadMeta;
use super::tables::{CONSENT, REFLECTIONS_BY_TIME, THREAD_MEMBERS, TimeEntry, record_table};
use super::{Batch, Result, Store, StoreError, codec};

/// The file beside a database that says it is damaged, and why.
pub fn mark_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".damaged");
    PathBuf::from(name)
}

/// Whether `db` carries a damage mark.
pub fn is_marked_damaged(db: &Path) -> bool {
    mark_path(db).exists()
}

/// Leave the mark (best effort: on a read-only disk the error still says
/// what happened).
pub fn mark_damaged(db: &Path, reason: &str) {
    if db == Path::new(":memory:") {
        return;
    }
    let line = format!("{}  {reason}\n", Timestamp::now());
    if let Err(e) = crate::home::write_atomic(&mark_path(db), line.as_bytes(), 0o600) {
        tracing::warn!(error = %e, "could not mark the database as damaged");
    }
    tracing::debug!(path = %db.display(), reason, "database marked damaged");
}

/// Remove the mark after a check passed.
pub fn clear_mark(db: &Path) -> std::io::Result<bool> {
    match std::fs::remove_file(mark_path(db)) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Refuse to open a marked file for writing.
pub fn refuse_if_damaged(db: &Path) -> Result<()> {
    match std::fs::read_to_string(mark_path(db)) {
        Ok(text) => Err(StoreError::Damaged {
            path: db.to_path_buf(),
            reason: text
                .split_once("  ")
                .map_or(text.as_str(), |(_, r)| r)
                .trim()
                .to_string(),
        }),
        Err(_) => Ok(()),
    }
}

/// Whether a redb error says the file is damaged.
pub fn is_corruption(error: &redb::Error) -> bool {
    matches!(
        error,
        redb::Error::Corrupted(_) | redb::Error::TransactionPoisoned | redb::Error::LockPoisoned(_)
    )
}

/// The text of a caught panic.
fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".into())
}

/// Run `f`, which calls into redb on the file `db`: a panic becomes
/// [`StoreError::Damaged`], and any damage marks the file.
pub fn guard<T>(db: &Path, f: impl FnOnce() -> Result<T>) -> Result<T> {
    let _quiet = QuietPanics::start();
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => {
            if error.is_damage() && !matches!(error, StoreError::Damaged { .. }) {
                mark_damaged(db, &error.to_string());
            }
            Err(error)
        }
        Err(payload) => {
            let reason = format!(
                "the storage engine stopped on damaged data: {}",
                panic_text(payload.as_ref())
            );
            mark_damaged(db, &reason);
            Err(StoreError::Damaged {
                path: db.to_path_buf(),
                reason,
            })
        }
    }
}

thread_local! {
    static QUIET: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
    static LAST_STORE_PANIC: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// The message of the last panic on this thread that came from inside redb
/// (not caught by [`guard`]), taken so it is reported once.
pub fn take_store_panic() -> Option<String> {
    LAST_STORE_PANIC.with(|p| p.borrow_mut().take())
}

/// While alive, panics on this thread are caught by [`guard`] and turned
/// into an error, so the default hook's message (and backtrace) is noise:
/// the hook installed by [`install_panic_hook`] stays silent for them.
struct QuietPanics;

impl QuietPanics {
    fn start() -> QuietPanics {
        QUIET.with(|q| q.set(q.get() + 1));
        QuietPanics
    }
}

impl Drop for QuietPanics {
    fn drop(&mut self) {
        QUIET.with(|q| q.set(q.get().saturating_sub(1)));
    }
}

/// Install a panic hook that stays quiet for panics [`guard`] will turn
/// into errors and for panics raised inside redb (which the command line
/// turns into a damage report), logging them at debug level; every other
/// panic is printed as before.
pub fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let in_redb = info
            .location()
            .is_some_and(|l| l.file().contains("/redb-") || l.file().starts_with("redb"));
        if in_redb {
            let message = panic_text(info.payload());
            LAST_STORE_PANIC.with(|p| *p.borrow_mut() = Some(message));
        }
        if QUIET.with(|q| q.get()) > 0 || in_redb {
            tracing::debug!(%info, "panic inside the store, reported as damage");
        } else {
            previous(info);
        }
    }));
}

/// One thing a check or a salvage found wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub table: &'static str,
    /// The record's id (or key), when it is known.
    pub key: Option<String>,
    pub reason: String,
}

/// What [`Store::verify`] found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct IntegrityReport {
    /// Records read intact, per table.
    pub readable: Vec<(&'static str, u64)>,
    pub problems: Vec<Problem>,
}

impl IntegrityReport {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// What [`Store::salvage`] could keep and what it could not.
#[derive(Debug, Clone, Default)]
pub struct Salvaged {
    pub batch: Batch,
    pub lost: Vec<Problem>,
}

impl Salvaged {
    /// Drop records whose parent is missing (naming them), so the batch is
    /// one another store accepts.
    pub fn prune(&mut self) {
        prune_dangling(self);
    }
}

/// Whether reading `table` from `start` on gets a first entry (or finds
/// none): the probe [`walk_records`] uses to find where damage ends.
fn readable_from(store: &Store, table: &'static str, start: u128) -> bool {
    let _quiet = QuietPanics::start();
    catch_unwind(AssertUnwindSafe(|| -> bool {
        let Ok(txn) = store.db.begin_read() else {
            return false;
        };
        let Ok(table) = txn.open_table(record_table(table)) else {
            return false;
        };
        let Ok(mut range) = table.range(start..) else {
            return false;
        };
        match range.next() {
            None => true,
            Some(entry) => entry.is_ok(),
        }
    }))
    .unwrap_or(false)
}

/// A record table walked with tolerance for damage: `keep` sees every
/// record that decodes, checks and matches its key; `lost` gets every
/// problem. When a read fails after key `k`, the walk looks for where the
/// damage ends: it gallops forward from `k + 1` (+1, +2, +4, … through the
/// key space) until a read succeeds, then bisects back to the first key
/// that reads, so one damaged page costs the records on it, not the rest of
/// the table.
fn walk_records<R: Keyed>(store: &Store, keep: &mut dyn FnMut(R), lost: &mut Vec<Problem>) {
    let table_name = R::TABLE;
    let problem = |key: Option<u128>, reason: String| Problem {
        table: table_name,
        key: key.map(|k| Id::from_u128(k).to_string()),
        reason,
    };
    let mut start: u128 = 0;
    let mut seen = 0u64;
    let mut declared = None;
    let mut damaged = false;
    // Every probe opens a read transaction. Rounds resume past a key they
    // could not read, but damage can make the probe and the walk disagree
    // (a first entry that reads alone, not in a scan), and then each round
    // gains one key: so the probes of a whole walk share one budget, and
    // when it is spent the rest of the table is reported unreadable.
    let mut probes_left: u32 = 4_096;
    let mut probe_ok = |store: &Store, key: u128| -> Option<bool> {
        probes_left = probes_left.checked_sub(1)?;
        Some(readable_from(store, table_name, key))
    };
    // Bounded: every round either ends the walk or resumes past a key the
    // previous round could not read.
    for _round in 0..10_000 {
        let mut last_good: Option<u128> = None;
        let outcome = {
            let _quiet = QuietPanics::start();
            catch_unwind(AssertUnwindSafe(|| -> std::result::Result<(), String> {
                let txn = store.db.begin_read().map_err(|e| e.to_string())?;
                let table = txn
                    .open_table(record_table(table_name))
                    .map_err(|e| e.to_string())?;
                if declared.is_none() {
                    declared = table.len().ok();
                }
                for entry in table.range(start..).map_err(|e| e.to_string())? {
                    let (key, value) = entry.map_err(|e| e.to_string())?;
                    let key = key.value();
                    last_good = Some(key);
                    seen += 1;
                    match codec::decode::<R>(value.value()) {
                        Ok(record) if record.id().as_u128() == key => match record.validate() {
                            Ok(()) => keep(record),
                            Err(e) => lost.push(problem(Some(key), e.to_string())),
                        },
                        Ok(record) => lost.push(problem(
                            Some(key),
                            format!("stored under the wrong key (its id is {})", record.id()),
                        )),
                        Err(e) => lost.push(problem(Some(key), e.to_string())),
                    }
                }
                Ok(())
            }))
        };
        let error = match outcome {
            Ok(Ok(())) => break,
            Ok(Err(e)) => e,
            Err(payload) => format!(
                "the storage engine stopped: {}",
                panic_text(payload.as_ref())
            ),
        };
        damaged = true;
        let after = last_good.unwrap_or(start);
        let described = last_good.or((start > 0).then_some(start));
        lost.push(problem(
            described,
            format!("entries after this point are unreadable: {error}"),
        ));
        // Gallop to a key the table can be read from again.
        let Some(first) = (if last_good.is_some() || start > 0 {
            after.checked_add(1)
        } else {
            Some(0)
        }) else {
            break;
        };
        let mut failing = None;
        let mut probe = first;
        let mut step: u128 = 1;
        let resumed = loop {
            match probe_ok(store, probe) {
                Some(true) => break Some(probe),
                Some(false) => {}
                None => break None,
            }
            failing = Some(probe);
            match first.checked_add(step) {
                Some(next) => probe = next,
                None => break None,
            }
            step = match step.checked_mul(2) {
                Some(s) => s,
                None => u128::MAX - first,
            };
        };
        let Some(mut good) = resumed else {
            lost.push(problem(
                described,
                "the rest of the table is unreadable".into(),
            ));
            break;
        };
        // Bisect back between the last failing key and the first good one.
        if let Some(mut bad) = failing {
            while good - bad > 1 {
                let mid = bad + (good - bad) / 2;
                match probe_ok(store, mid) {
                    Some(true) => good = mid,
                    Some(false) => bad = mid,
                    // Out of budget: resume at the good key found.
                    None => break,
                }
            }
        } else if good == start && last_good.is_none() {
            // Readable again right where it failed: a passing fault. Do not
            // loop on it.
            break;
        }
        start = good;
    }
    if let Some(declared) = declared
        && declared != seen
        && !damaged
    {
        lost.push(problem(
            None,
            format!("the table says it holds {declared} records but {seen} were found"),
        ));
    }
}

/// A small table with other keys (thread members, consent): walked once;
/// an error ends the walk and names what was lost.
fn walk_small<K: redb::Key + 'static, R: Record>(
    store: &Store,
    definition: redb::TableDefinition<K, &'static [u8]>,
    keep: &mut dyn FnMut(R),
    lost: &mut Vec<Problem>,
) {
    let outcome = catch_unwind(AssertUnwindSafe(|| -> std::result::Result<(), String> {
        let _quiet = QuietPanics::start();
        let txn = store.db.begin_read().map_err(|e| e.to_string())?;
        let table = txn.open_table(definition).map_err(|e| e.to_string())?;
        for entry in table.iter().map_err(|e| e.to_string())? {
            let (_, value) = entry.map_err(|e| e.to_string())?;
            match codec::decode::<R>(value.value()) {
                Ok(record) => match record.validate() {
                    Ok(()) => keep(record),
                    Err(e) => lost.push(Problem {
                        table: R::TABLE,
                        key: None,
                        reason: e.to_string(),
                    }),
                },
                Err(e) => lost.push(Problem {
                    table: R::TABLE,
                    key: None,
                    reason: e.to_string(),
                }),
            }
        }
        Ok(())
    }));
    let error = match outcome {
        Ok(Ok(())) => return,
        Ok(Err(e)) => e,
        Err(payload) => format!(
            "the storage engine stopped: {}",
            panic_text(payload.as_ref())
        ),
    };
    lost.push(Problem {
        table: R::TABLE,
        key: None,
        reason: format!("the rest of the table is unreadable: {error}"),
    });
}

impl Store {
    /// Every readable record, table by table, and what could not be read.
    /// References are not checked here (see [`Store::salvage`]).
    fn read_tolerant(&self) -> Salvaged {
        let mut b = Batch::default();
        let mut lost = Vec::new();
        macro_rules! keyed {
            ($($field:ident),+) => {$(
                walk_records(self, &mut |r| b.$field.push(r), &mut lost);
            )+};
        }
        keyed!(
            identities,
            reflections,
            mirrorbacks,
            tensions,
            tension_evidence,
            tension_suggestions,
            threads,
            engine_runs,
            engine_feedback,
            evolution_events,
            evolution_history,
            integrations,
            consent_changes,
            egress_log,
            reflection_revisions,
            tombstones
        );
        walk_small(
            self,
            THREAD_MEMBERS,
            &mut |m| b.thread_members.push(m),
            &mut lost,
        );
        walk_small(self, CONSENT, &mut |c| b.consent.push(c), &mut lost);
        Salvaged { batch: b, lost }
    }

    /// Check every record and the time index; see the module docs. Never
    /// writes, never panics.
    pub fn verify(&self) -> IntegrityReport {
        let Salvaged { batch, mut lost } = self.read_tolerant();
        // The time index is what `list` walks: every reflection must be in
        // it, and it must hold nothing else.
        let ids: HashSet<u128> = batch.reflections.iter().map(|r| r.id.as_u128()).collect();
        let indexed = catch_unwind(AssertUnwindSafe(
            || -> std::result::Result<Vec<(i64, u128, TimeEntry)>, String> {
                let _quiet = QuietPanics::start();
                let txn = self.db.begin_read().map_err(|e| e.to_string())?;
                let index = txn
                    .open_table(REFLECTIONS_BY_TIME)
                    .map_err(|e| e.to_string())?;
                let mut out = Vec::new();
                for entry in index.iter().map_err(|e| e.to_string())? {
                    let (key, value) = entry.map_err(|e| e.to_string())?;
                    let (at, id) = key.value();
                    out.push((at, id, TimeEntry::decode(value.value())));
                }
                Ok(out)
            },
        ));
        match indexed {
            Ok(Ok(entries)) => {
                let by_id: std::collections::HashMap<u128, &Reflection> = batch
                    .reflections
                    .iter()
                    .map(|r| (r.id.as_u128(), r))
                    .collect();
                let mut in_index = HashSet::new();
                for (at, id, entry) in entries {
                    in_index.insert(id);
                    let fits = by_id.get(&id).is_some_and(|r| {
                        r.created_at.as_micros() == at
                            && r.identity_id.as_u128() == entry.identity
                            && r.visibility.to_byte() == entry.visibility
                    });
                    if !fits
                        && lost
                            .iter()
                            .all(|p| p.key != Some(Id::from_u128(id).to_string()))
                    {
                        lost.push(Problem {
                            table: "reflections_by_time",
                            key: Some(Id::from_u128(id).to_string()),
                            reason: "a time-index entry that matches no reflection".into(),
                        });
                    }
                }
                for id in ids.difference(&in_index) {
                    lost.push(Problem {
                        table: "reflections_by_time",
                        key: Some(Id::from_u128(*id).to_string()),
                        reason:
                            "a reflection missing from the time index (`list` would not show it)"
                                .into(),
                    });
                }
            }
            Ok(Err(e)) => lost.push(Problem {
                table: "reflections_by_time",
                key: None,
                reason: e,
            }),
            Err(payload) => lost.push(Problem {
                table: "reflections_by_time",
                key: None,
                reason: format!(
                    "the storage engine stopped: {}",
                    panic_text(payload.as_ref())
                ),
            }),
        }
        IntegrityReport {
            readable: batch.counts(),
            problems: lost,
        }
    }

    /// Everything that can still be read, as a batch another store will
    /// accept: records whose parent was lost are dropped too, and named.
    ///
    /// When the walk met damage, the file itself is also scanned for intact
    /// values ([`scan_file`]): a damaged branch page hides every record under
    /// it from the walk, though their bytes are whole.
    pub fn salvage(&self) -> Salvaged {
        let mut salvaged = self.salvage_unpruned();
        prune_dangling(&mut salvaged);
        salvaged
    }

    /// [`Store::salvage`] before records whose parent is missing are
    /// dropped: for a caller that can rebuild a parent first (the doctor
    /// rebuilds an identity from its key file), then calls
    /// [`Salvaged::prune`].
    pub fn salvage_unpruned(&self) -> Salvaged {
        let mut salvaged = self.read_tolerant();
        if !salvaged.lost.is_empty()
            && let Some(path) = &self.path
            && let Ok(bytes) = std::fs::read(path)
        {
            let found = scan_file(&bytes);
            let recovered = merge_scanned(&mut salvaged.batch, found);
            salvaged
                .lost
                .retain(|p| p.key.as_ref().is_none_or(|k| !recovered.contains(k)));
        }
        salvaged
    }

    /// Run [`Store::verify`]; on damage mark the file and refuse.
    pub(crate) fn check_and_record(&self) -> Result<IntegrityReport> {
        let report = self.verify();
        if let Some(path) = &self.path {
            if report.ok() {
                record_check(path);
            } else {
                let first = &report.problems[0];
                let reason = format!(
                    "{} problem(s), first in {}: {}",
                    report.problems.len(),
                    first.table,
                    first.reason
                );
                mark_damaged(path, &reason);
                return Err(StoreError::Damaged {
                    path: path.clone(),
                    reason,
                });
            }
        }
        Ok(report)
    }
}

/// A store opened to be looked at, never written: read-only when possible;
/// when the file needs redb's crash recovery (or read-only opening fails on
/// damage), a copy in a private temporary directory is recovered and opened
/// instead, so the original stays exactly as it is.
pub struct Inspection {
    pub store: Store,
    /// Set when a recovered copy is being read.
    pub copy: Option<tempfile::TempDir>,
}

impl Store {
    pub fn open_for_inspection(path: &Path) -> Result<Inspection> {
        let read_only = guard(path, || {
            redb::Database::builder()
                .open_read_only(path)
                .map_err(|e| super::open_error(path, e))
        })
        .and_then(|db| {
            let version = guard(path, || db.begin_read()?.schema_version())?;
            Ok((db, version))
        });
        match read_only {
            Ok((db, version)) => Ok(Inspection {
                store: Store {
                    db: super::Db::ReadOnly(db),
                    path: Some(path.to_path_buf()),
                    version,
                },
                copy: None,
            }),
            Err(StoreError::InUse { path }) => Err(StoreError::InUse { path }),
            Err(first) => {
                tracing::info!(error = %first, "reading a recovered copy instead");
                let dir = tempfile::Builder::new()
                    .prefix(".mirror-inspect-")
                    .tempdir_in(path.parent().unwrap_or(Path::new(".")))
                    .or_else(|_| tempfile::tempdir())
                    .map_err(|source| StoreError::Io {
                        context: "creating a directory for a copy of the database".into(),
                        source,
                    })?;
                let copy = dir.path().join("copy.redb");
                std::fs::copy(path, &copy).map_err(|source| StoreError::Io {
                    context: format!("copying {}", path.display()),
                    source,
                })?;
                let db = guard(&copy, || {
                    redb::Database::builder()
                        .create(&copy)
                        .map_err(|e| super::open_error(&copy, e))
                })
                .map_err(|e| match e {
                    StoreError::Damaged { reason, .. } => StoreError::Damaged {
                        path: path.to_path_buf(),
                        reason,
                    },
                    other => other,
                })?;
                let version = guard(&copy, || db.begin_read()?.schema_version())?;
                Ok(Inspection {
                    store: Store {
                        db: super::Db::Writable(db),
                        path: Some(copy),
                        version,
                    },
                    copy: Some(dir),
                })
            }
        }
    }
}

/// What redb's own page check said.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PageCheck {
    /// Every page checksum verified.
    Clean,
    /// The file was not closed cleanly; redb's recovery succeeded on a copy.
    Recovered,
    /// Checksums failed, or redb could not open the file.
    Damaged,
}

/// redb's own check of every page checksum, run on a copy of the file (the
/// check repairs what it can, and repairing is not ours to do to the
/// person's file).
pub fn page_check(path: &Path) -> Result<PageCheck> {
    let dir = tempfile::Builder::new()
        .prefix(".mirror-check-")
        .tempdir_in(path.parent().unwrap_or(Path::new(".")))
        .or_else(|_| tempfile::tempdir())
        .map_err(|source| StoreError::Io {
            context: "creating a directory for a copy of the database".into(),
            source,
        })?;
    let copy = dir.path().join("check.redb");
    std::fs::copy(path, &copy).map_err(|source| StoreError::Io {
        context: format!("copying {}", path.display()),
        source,
    })?;
    let _quiet = QuietPanics::start();
    let repaired = std::rc::Rc::new(std::cell::Cell::new(false));
    let noted = repaired.clone();
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let mut db = redb::Database::builder()
            .set_repair_callback(move |_| noted.set(true))
            .open(&copy)?;
        db.check_integrity()
    }));
    Ok(match outcome {
        Ok(Ok(true)) if repaired.get() => PageCheck::Recovered,
        Ok(Ok(true)) => PageCheck::Clean,
        _ => PageCheck::Damaged,
    })
}

/// Every intact record value in a raw database file, found by its shape
/// (first byte, postcard, checksum) wherever it lies. redb never overwrites
/// a page in place, so a file may hold older copies of a record too: for
/// records that change, [`merge_scanned`] keeps the newest.
pub fn scan_file(bytes: &[u8]) -> Batch {
    let mut b = Batch::default();
    let mut i = 0;
    while i < bytes.len() {
        // Every record type is at shape version 1: the first byte of every
        // checksummed value is 0x81.
        if bytes[i] != 0x81 {
            i += 1;
            continue;
        }
        let rest = &bytes[i..];
        macro_rules! try_types {
            ($($field:ident: $ty:ty),+) => {
                'found: {
                    $(
                        if let Some((record, len)) = codec::decode_prefix::<$ty>(rest)
                            && record.validate().is_ok()
                        {
                            b.$field.push(record);
                            break 'found Some(len);
                        }
                    )+
                    None
                }
            };
        }
        let took = try_types!(
            reflections: Reflection,
            mirrorbacks: Mirrorback,
            identities: Identity,
            threads: Thread,
            tensions: Tension,
            tension_evidence: TensionEvidence,
            tension_suggestions: TensionSuggestion,
            thread_members: ThreadMember,
            engine_runs: EngineRun,
            engine_feedback: EngineFeedback,
            evolution_events: EvolutionEvent,
            evolution_history: EvolutionHistory,
            integrations: Integration,
            consent_changes: ConsentChange,
            egress_log: EgressRecord,
            consent: ConsentSetting
        );
        i += took.unwrap_or(1);
    }
    b
}

/// Add scanned records the walk did not find. Where the scan found several
/// versions of one record, the most recently updated wins. Consent and
/// integrations found this way never come back granted or enabled: an old
/// page may hold a "yes" the person has since taken back. Returns the ids
/// recovered.
pub fn merge_scanned(batch: &mut Batch, found: Batch) -> HashSet<String> {
    fn newest<R: Keyed>(records: Vec<R>) -> Vec<R> {
        let mut by_id: std::collections::HashMap<Id, (String, R)> = Default::default();
        for r in records {
            let stamp = serde_json::to_value(&r)
                .ok()
                .and_then(|v| {
                    v.get("updated_at")
                        .and_then(|t| t.as_str())
                        .map(str::to_string)
                })
                .unwrap_or_default();
            match by_id.get(&r.id()) {
                Some((seen, _)) if *seen >= stamp => {}
                _ => {
                    by_id.insert(r.id(), (stamp, r));
                }
            }
        }
        let mut out: Vec<R> = by_id.into_values().map(|(_, r)| r).collect();
        out.sort_by_key(|r| r.id());
        out
    }
    fn add<R: Keyed>(ours: &mut Vec<R>, theirs: Vec<R>, recovered: &mut HashSet<String>) {
        let have: HashSet<Id> = ours.iter().map(Keyed::id).collect();
        for r in newest(theirs) {
            if !have.contains(&r.id()) {
                recovered.insert(r.id().to_string());
                ours.push(r);
            }
        }
        ours.sort_by_key(|r| r.id());
    }
    let mut recovered = HashSet::new();
    let mut found = found;
    for i in &mut found.integrations {
        i.enabled = false;
    }
    add(&mut batch.identities, found.identities, &mut recovered);
    add(&mut batch.reflections, found.reflections, &mut recovered);
    add(&mut batch.mirrorbacks, found.mirrorbacks, &mut recovered);
    add(&mut batch.tensions, found.tensions, &mut recovered);
    add(
        &mut batch.tension_evidence,
        found.tension_evidence,
        &mut recovered,
    );
    add(
        &mut batch.tension_suggestions,
        found.tension_suggestions,
        &mut recovered,
    );
    add(&mut batch.threads, found.threads, &mut recovered);
    add(&mut batch.engine_runs, found.engine_runs, &mut recovered);
    add(
        &mut batch.engine_feedback,
        found.engine_feedback,
        &mut recovered,
    );
    add(
        &mut batch.evolution_events,
        found.evolution_events,
        &mut recovered,
    );
    add(
        &mut batch.evolution_history,
        found.evolution_history,
        &mut recovered,
    );
    add(&mut batch.integrations, found.integrations, &mut recovered);
    add(
        &mut batch.consent_changes,
        found.consent_changes,
        &mut recovered,
    );
    add(&mut batch.egress_log, found.egress_log, &mut recovered);
    let members: HashSet<(Id, Id)> = batch
        .thread_members
        .iter()
        .map(|m| (m.thread_id, m.reflection_id))
        .collect();
    let mut seen = members.clone();
    for m in found.thread_members {
        if seen.insert((m.thread_id, m.reflection_id)) {
            batch.thread_members.push(m);
        }
    }
    let categories: HashSet<ConsentCategory> = batch.consent.iter().map(|c| c.category).collect();
    let mut added = HashSet::new();
    for c in found.consent {
        if !c.granted && !categories.contains(&c.category) && added.insert(c.category) {
            batch.consent.push(c);
        }
    }
    recovered
}

/// The file that remembers when the last full check passed.
pub fn checked_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".checked");
    PathBuf::from(name)
}

pub(crate) fn record_check(db: &Path) {
    let _ = crate::home::write_atomic(
        &checked_path(db),
        format!("{}\n", Timestamp::now()).as_bytes(),
        0o600,
    );
}

/// When the last full check passed, if ever.
pub fn last_check(db: &Path) -> Option<Timestamp> {
    let text = std::fs::read_to_string(checked_path(db)).ok()?;
    Timestamp::parse_flexible(text.trim()).ok()
}

/// Drop records that point at something missing from the batch, repeating
/// until nothing more falls (a lost reflection takes its mirrorbacks, whose
/// loss takes nothing further; a lost run takes its feedback).
fn prune_dangling(s: &mut Salvaged) {
    let b = &mut s.batch;
    let lost = &mut s.lost;
    let ids = |v: &[Identity]| v.iter().map(|r| r.id).collect::<HashSet<_>>();
    let identities = ids(&b.identities);
    fn drop_where<R: Record>(
        records: &mut Vec<R>,
        lost: &mut Vec<Problem>,
        key: impl Fn(&R) -> String,
        missing: impl Fn(&R) -> Option<&'static str>,
    ) {
        records.retain(|r| match missing(r) {
            None => true,
            Some(what) => {
                lost.push(Problem {
                    table: R::TABLE,
                    key: Some(key(r)),
                    reason: format!("its {what} was lost"),
                });
                false
            }
        });
    }
    let key = |id: Id| id.to_string();
    drop_where(
        &mut b.reflections,
        lost,
        |r| key(r.id),
        |r| (!identities.contains(&r.identity_id)).then_some("identity"),
    );
    drop_where(
        &mut b.threads,
        lost,
        |r| key(r.id),
        |r| (!identities.contains(&r.identity_id)).then_some("identity"),
    );
    drop_where(
        &mut b.tensions,
        lost,
        |r| key(r.id),
        |r| (!identities.contains(&r.identity_id)).then_some("identity"),
    );
    let reflections: HashSet<Id> = b.reflections.iter().map(|r| r.id).collect();
    drop_where(
        &mut b.reflection_revisions,
        lost,
        |r| key(r.id),
        |r| (!reflections.contains(&r.reflection_id)).then_some("reflection"),
    );
    // A tombstone beside its reflection cannot both be right; the
    // reflection (the writing) is kept, and nothing is lost.
    b.tombstones.retain(|t| !reflections.contains(&t.id));
    let threads: HashSet<Id> = b.threads.iter().map(|r| r.id).collect();
    let tensions: HashSet<Id> = b.tensions.iter().map(|r| r.id).collect();
    drop_where(
        &mut b.thread_members,
        lost,
        |m| format!("{}/{}", m.thread_id, m.reflection_id),
        |m| {
            if !threads.contains(&m.thread_id) {
                Some("thread")
            } else if !reflections.contains(&m.reflection_id) {
                Some("reflection")
            } else {
                None
            }
        },
    );
    drop_where(
        &mut b.mirrorbacks,
        lost,
        |r| key(r.id),
        |m| (!reflections.contains(&m.reflection_id)).then_some("reflection"),
    );
    drop_where(
        &mut b.tension_evidence,
        lost,
        |r| key(r.id),
        |e| {
            if !tensions.contains(&e.tension_id) {
                Some("tension")
            } else if e.reflection_id.is_some_and(|r| !reflections.contains(&r)) {
                Some("reflection")
            } else {
                None
            }
        },
    );
    drop_where(
        &mut b.tension_suggestions,
        lost,
        |r| key(r.id),
        |s| {
            if !identities.contains(&s.identity_id) {
                Some("identity")
            } else if !reflections.contains(&s.reflection_id) {
                Some("reflection")
            } else if s.tension_id.is_some_and(|t| !tensions.contains(&t)) {
                Some("tension")
            } else {
                None
            }
        },
    );
    drop_where(
        &mut b.engine_runs,
        lost,
        |r| key(r.id),
        |r| (!reflections.contains(&r.reflection_id)).then_some("reflection"),
    );
    let runs: HashSet<Id> = b.engine_runs.iter().map(|r| r.id).collect();
    drop_where(
        &mut b.engine_feedback,
        lost,
        |r| key(r.id),
        |f| (!runs.contains(&f.run_id)).then_some("engine run"),
    );
}
