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
//! **Cost.** The check, a file copy and a compaction, once per interval, on
//! the first writing command after it has passed (figures in BENCHMARKS.md).

use std::os::unix::fs::DirBuilderExt;
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

/// Copy `db` (which this process holds open, with no transaction running,
/// so the file is consistent) to a new backup of `kind`, then keep the
/// newest `keep` of that kind.
pub fn write_copy(db: &Path, kind: &str, keep: usize) -> Result<PathBuf> {
    let dir = dir_of(db);
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(io(format!("creating {}", dir.display())))?;
    remove_stale_partials(&dir);
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.6fZ");
    let target = dir.join(format!("{}-{kind}-{stamp}.redb", stem(db)));
    let partial = dir.join(format!(
        ".partial-{}-{kind}-{stamp}.redb",
        std::process::id()
    ));
    let result = (|| -> Result<()> {
        std::fs::copy(db, &partial).map_err(io(format!(
            "copying {} to {}",
            db.display(),
            partial.display()
        )))?;
        std::fs::set_permissions(
            &partial,
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        )
        .map_err(io(format!("protecting {}", partial.display())))?;
        {
            // Compaction is a bonus: a copy that cannot be compacted is
            // still a whole copy.
            let compacted = Database::builder()
                .open(&partial)
                .map_err(|e| e.to_string())
                .and_then(|mut copy| copy.compact().map_err(|e| e.to_string()));
            if let Err(e) = compacted {
                tracing::warn!(error = %e, "backup copy not compacted");
            }
        }
        std::fs::File::open(&partial)
            .and_then(|f| f.sync_all())
            .map_err(io(format!("syncing {}", partial.display())))?;
        std::fs::rename(&partial, &target).map_err(io(format!(
            "renaming {} to {}",
            partial.display(),
            target.display()
        )))?;
        std::fs::File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(io(format!("syncing {}", dir.display())))?;
        Ok(())
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&partial);
        return Err(e);
    }
    prune(db, kind, keep);
    Ok(target)
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
    /// Take the daily copy if the newest is older than `interval_hours`
    /// (and the store holds any writing yet): check the store first, then
    /// copy. Returns the new backup, if one was taken. `keep` 0 turns
    /// backups off.
    pub fn daily_backup(&self, keep: u32, interval_hours: u64) -> Result<Option<PathBuf>> {
        let Some(db) = self.path.clone() else {
            return Ok(None);
        };
        if keep == 0 || self.is_read_only() {
            return Ok(None);
        }
        let newest = list(&db)
            .into_iter()
            .filter(|b| b.kind == "daily")
            .filter_map(|b| b.taken_at)
            .max();
        let due = newest.is_none_or(|t| {
            Timestamp::now().as_micros() - t.as_micros()
                >= i64::try_from(interval_hours)
                    .unwrap_or(i64::MAX / 3_600_000_000)
                    .saturating_mul(3_600_000_000)
        });
        if !due || self.is_empty_of_writing()? {
            return Ok(None);
        }
        self.check_and_record()?;
        let path = write_copy(&db, "daily", keep as usize)?;
        tracing::info!(backup = %path.display(), "daily backup written");
        Ok(Some(path))
    }

    fn is_empty_of_writing(&self) -> Result<bool> {
        use redb::ReadableTableMetadata;
        let txn = self.db.begin_read()?;
        let table = txn.open_table(super::tables::record_table(
            <crate::model::Reflection as crate::model::Record>::TABLE,
        ))?;
        Ok(table.is_empty()?)
    }
}
