//! Copies of the database in `backups/` beside it: one before every schema
//! migration, and a rolling daily one, so a damaged disk costs a day at most.
//!
//! **Layout.** `backups/mirror-<kind>-<UTC time>.redb`, where kind is
//! `daily` or `v<schema>` (taken before a migration from that schema). Each
//! is written as `backups/.partial-<pid>-…` first, synced, compacted (a copy
//! holds only live pages, so it is often much smaller than the file), synced
//! again and only then renamed: a kill at any point leaves either no new
//! backup or a whole one, never a truncated file under a backup's name. A
//! partial file whose process is gone is removed on the next backup. After a
//! new copy, the oldest of its kind beyond the configured number are pruned.
//!
//! **Invariant.** A daily copy is only taken of a store whose full check
//! ([`Store::verify`]) has just passed, so the newest backup is always one
//! that was readable when it was made.
//!
//! **Cost.** A file copy, a full check of the copy and a compaction, once
//! per interval. The CLI leaves it to a background process it starts after
//! a writing command's answer (`mirror backup --if-due`), which holds the
//! live store only while its file is copied; the daemon takes it hourly
//! when due (figures in BENCHMARKS.md).

use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use redb::Database;

use super::{Result, Store, StoreError};
use crate::model::Timestamp;

/// Migration copies kept (each kind is pruned on its own).
pub const MIGRATION_KEEP: usize = 5;

fn io(context: String) -> impl FnOnce(std::io::Error) -> StoreError {
    move |source| StoreError::Io { context, source }
}

/// `backups/` beside the database.
pub fn dir_of(db: &Path) -> PathBuf {
    db.parent()
        .unwrap_or_else(|| Path::new("."))
        .join("backups")
}

fn stem(db: &Path) -> &str {
    db.file_stem().and_then(|s| s.to_str()).unwrap_or("mirror")
}

/// One backup on disk.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BackupFile {
    pub path: PathBuf,
    /// `daily` or `v<schema>`.
    pub kind: String,
    /// When it was taken (from its name).
    pub taken_at: Option<Timestamp>,
    pub bytes: u64,
}

/// Every backup of `db`, oldest first.
pub fn list(db: &Path) -> Vec<BackupFile> {
    let prefix = format!("{}-", stem(db));
    let Ok(entries) = std::fs::read_dir(dir_of(db)) else {
        return Vec::new();
    };
    let mut out: Vec<BackupFile> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let rest = name.strip_prefix(&prefix)?.strip_suffix(".redb")?;
            let (kind, stamp) = rest.split_once('-')?;
            let taken_at = chrono::NaiveDateTime::parse_from_str(stamp, "%Y%m%dT%H%M%S%.fZ")
                .ok()
                .and_then(|t| Timestamp::from_micros(t.and_utc().timestamp_micros()).ok());
            Some(BackupFile {
                path: e.path(),
                kind: kind.to_string(),
                taken_at,
                bytes: e.metadata().map(|m| m.len()).unwrap_or(0),
            })
        })
        .collect();
    out.sort_by(|a, b| a.taken_at.cmp(&b.taken_at).then(a.path.cmp(&b.path)));
    out
}

/// Whether process `pid` is still running.
fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Remove partial copies left by processes that no longer run.
fn remove_stale_partials(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.filter_map(|e| e.ok()) {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(".partial-")) else {
            continue;
        };
        let pid = rest.split('-').next().and_then(|p| p.parse::<u32>().ok());
        if pid.is_none_or(|pid| !alive(pid)) {
            tracing::info!(file = %entry.path().display(), "removing a partial backup left by a stopped process");
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// `backups/` created (0700) if needed; never its parent: a backup running
/// in the background after its home was removed must not bring the home
/// back.
fn ensure_dir(db: &Path) -> Result<PathBuf> {
    let dir = dir_of(db);
    match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
            Err(io(format!("creating {}", dir.display()))(e))
        }
        _ => Ok(dir),
    }
}

/// The final and the partial name of a new backup of `kind`.
fn names(db: &Path, dir: &Path, kind: &str) -> (PathBuf, PathBuf) {
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.6fZ");
    (
        dir.join(format!("{}-{kind}-{stamp}.redb", stem(db))),
        dir.join(format!(
            ".partial-{}-{kind}-{stamp}.redb",
            std::process::id()
        )),
    )
}

/// Copy the database file to `partial` (owner-only).
fn copy_file(db: &Path, partial: &Path) -> Result<()> {
    std::fs::copy(db, partial).map_err(io(format!(
        "copying {} to {}",
        db.display(),
        partial.display()
    )))?;
    std::fs::set_permissions(partial, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .map_err(io(format!("protecting {}", partial.display())))
}

/// Compact a partial copy, sync it and give it its final name.
fn finish(partial: &Path, target: &Path) -> Result<()> {
    {
        // Compaction is a bonus: a copy that cannot be compacted is
        // still a whole copy.
        let compacted = Database::builder()
            .open(partial)
            .map_err(|e| e.to_string())
            .and_then(|mut copy| copy.compact().map_err(|e| e.to_string()));
        if let Err(e) = compacted {
            tracing::warn!(error = %e, "backup copy not compacted");
        }
    }
    std::fs::File::open(partial)
        .and_then(|f| f.sync_all())
        .map_err(io(format!("syncing {}", partial.display())))?;
    std::fs::rename(partial, target).map_err(io(format!(
        "renaming {} to {}",
        partial.display(),
        target.display()
    )))?;
    let dir = target.parent().unwrap_or_else(|| Path::new("."));
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(format!("syncing {}", dir.display())))
}

/// Copy `db` (which this process holds open, with no transaction running,
/// so the file is consistent) to a new backup of `kind`, then keep the
/// newest `keep` of that kind.
pub fn write_copy(db: &Path, kind: &str, keep: usize) -> Result<PathBuf> {
    let dir = ensure_dir(db)?;
    remove_stale_partials(&dir);
    let (target, partial) = names(db, &dir, kind);
    let result = copy_file(db, &partial).and_then(|()| finish(&partial, &target));
    if let Err(e) = result {
        let _ = std::fs::remove_file(&partial);
        return Err(e);
    }
    prune(db, kind, keep);
    Ok(target)
}

/// The daily copy of the store at `db`, if the newest is older than
/// `interval_hours` (and the store holds any writing yet); `keep` 0 turns
/// it off. Returns the new backup, if one was taken.
///
/// Built so that the live store is held only while its file is copied
/// (a file copy, well under a second at 100k entries), never while the
/// copy is checked or compacted (seconds):
///
/// 1. one daily backup at a time: `backups/.daily.lock` is taken without
///    waiting (another process taking it means it is being done), and
///    "due" is read again under it;
/// 2. `open_read` opens the live store read-only: its shared lock keeps
///    writers out while the file is copied, and a store no writer holds
///    is exactly as its last writer closed it;
/// 3. the copy is then checked in full ([`Store::verify`]), on its own:
///    it holds the same bytes the live file held, so a passing check is
///    the live store's (recorded as such), and the invariant holds that a
///    daily backup is only ever of a store that passed the check. A copy
///    that fails sends the live store through the full check, which marks
///    it damaged if it is;
/// 4. compacted, synced, renamed, and the oldest beyond `keep` pruned.
pub fn daily(
    db: &Path,
    keep: u32,
    interval_hours: u64,
    open_read: impl Fn() -> Result<Store>,
) -> Result<Option<PathBuf>> {
    if keep == 0 || !is_due(db, interval_hours) {
        return Ok(None);
    }
    let dir = ensure_dir(db)?;
    let lock_path = dir.join(".daily.lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&lock_path)
        .map_err(io(format!("opening {}", lock_path.display())))?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            tracing::info!("a daily backup is being taken by another process");
            return Ok(None);
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(io(format!("locking {}", lock_path.display()))(e));
        }
    }
    if !is_due(db, interval_hours) {
        return Ok(None);
    }
    remove_stale_partials(&dir);
    let (target, partial) = names(db, &dir, "daily");
    {
        let live = open_read()?;
        if live.schema_version() < super::CURRENT_VERSION {
            // Left at an older schema by `mirror migrate down` (which took
            // its own copy first). The backup does not upgrade it, and the
            // check reads the current schema only: it waits for the store
            // to be moved up again.
            tracing::info!(
                version = live.schema_version(),
                "the store is at an older schema; no daily backup until it is upgraded"
            );
            return Ok(None);
        }
        if live.is_empty_of_writing()? {
            return Ok(None);
        }
        if let Err(e) = copy_file(db, &partial) {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    }
    let checked = Store::open_read_only(&partial).map(|copy| copy.verify());
    match checked {
        Ok(report) if report.ok() => super::integrity::record_check(db),
        _ => {
            let _ = std::fs::remove_file(&partial);
            tracing::warn!(
                "the copy for the daily backup failed its check; checking the store itself"
            );
            open_read()?.check_and_record()?;
            return Err(StoreError::Io {
                context: format!("checking the copy {}", partial.display()),
                source: std::io::Error::other(
                    "the copy failed its check while the store passed; no backup was taken this time",
                ),
            });
        }
    }
    if let Err(e) = finish(&partial, &target) {
        let _ = std::fs::remove_file(&partial);
        return Err(e);
    }
    prune(db, "daily", keep as usize);
    tracing::info!(backup = %target.display(), "daily backup written");
    Ok(Some(target))
}

/// Keep the newest `keep` backups of `kind` (kinds starting with `v` are
/// pruned together: they are all migration copies).
fn prune(db: &Path, kind: &str, keep: usize) {
    let migration = kind.starts_with('v');
    let same: Vec<BackupFile> = list(db)
        .into_iter()
        .filter(|b| {
            if migration {
                b.kind.starts_with('v')
            } else {
                b.kind == kind
            }
        })
        .collect();
    let excess = same.len().saturating_sub(keep);
    for old in &same[..excess] {
        if let Err(e) = std::fs::remove_file(&old.path) {
            tracing::warn!(file = %old.path.display(), error = %e, "could not prune an old backup");
        }
    }
}

/// Whether the newest daily copy of `db` is older than `interval_hours`
/// (or there is none): read from the names in `backups/`, without opening
/// the database.
pub fn is_due(db: &Path, interval_hours: u64) -> bool {
    let newest = list(db)
        .into_iter()
        .filter(|b| b.kind == "daily")
        .filter_map(|b| b.taken_at)
        .max();
    newest.is_none_or(|t| {
        Timestamp::now().as_micros() - t.as_micros()
            >= i64::try_from(interval_hours)
                .unwrap_or(i64::MAX / 3_600_000_000)
                .saturating_mul(3_600_000_000)
    })
}

impl Store {
    fn is_empty_of_writing(&self) -> Result<bool> {
        use redb::ReadableTableMetadata;
        let txn = self.db.begin_read()?;
        let table = txn.open_table(super::tables::record_table(
            <crate::model::Reflection as crate::model::Record>::TABLE,
        ))?;
        Ok(table.is_empty()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::*;

    fn journal(db: &Path) {
        let store = Store::open(db).unwrap();
        let key = crate::home::SecretKey::generate().unwrap();
        let identity = Identity {
            id: Id::new(),
            name: "tester".into(),
            public_key: key.public_key(),
            created_at: Timestamp::now(),
        };
        store.insert_identity(&identity).unwrap();
        let reflection = Reflection {
            id: Id::new(),
            identity_id: identity.id,
            content: "Something worth keeping.".into(),
            content_type: ContentType::PlainText,
            visibility: Visibility::LocalOnly,
            source: Source::Cli,
            created_at: Timestamp::now(),
            metadata: Metadata::default(),
        };
        store.insert_reflection(&reflection, None).unwrap();
    }

    fn dailies(db: &Path) -> usize {
        list(db).iter().filter(|b| b.kind == "daily").count()
    }

    /// Nothing but whole, finished backups in `backups/` (and the lock).
    fn no_partials(db: &Path) -> bool {
        std::fs::read_dir(dir_of(db))
            .unwrap()
            .filter_map(|e| e.ok())
            .all(|e| !e.file_name().to_string_lossy().starts_with(".partial"))
    }

    #[test]
    fn a_daily_backup_is_a_checked_copy_taken_once_per_interval() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("mirror.redb");
        journal(&db);
        let open = || Store::open_read_only(&db);
        let taken = daily(&db, 7, 24, open).unwrap().unwrap();
        let copy = Store::open_read_only(&taken).unwrap();
        assert!(copy.verify().ok());
        assert_eq!(
            copy.snapshot().unwrap(),
            open().unwrap().snapshot().unwrap()
        );
        drop(copy);
        // Not due again within the interval; off with keep 0.
        assert_eq!(daily(&db, 7, 24, open).unwrap(), None);
        assert_eq!(daily(&db, 0, 0, open).unwrap(), None);
        // The newest `keep` are kept.
        for _ in 0..3 {
            daily(&db, 2, 0, open).unwrap().unwrap();
        }
        assert_eq!(dailies(&db), 2);
        assert!(no_partials(&db));
    }

    #[test]
    fn a_store_that_fails_its_check_gets_no_backup_and_is_marked() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("mirror.redb");
        journal(&db);
        // A record whose bytes do not decode, as damage would leave.
        {
            let raw = Database::builder().open(&db).unwrap();
            let txn = raw.begin_write().unwrap();
            txn.open_table(super::super::tables::record_table(
                <Reflection as Record>::TABLE,
            ))
            .unwrap()
            .insert(7u128, &[0xffu8, 0x01, 0x02][..])
            .unwrap();
            txn.commit().unwrap();
        }
        let err = daily(&db, 7, 24, || Store::open_read_only(&db)).unwrap_err();
        assert!(err.is_damage(), "{err}");
        assert!(super::super::integrity::is_marked_damaged(&db));
        assert_eq!(dailies(&db), 0);
        assert!(no_partials(&db));
    }
}
