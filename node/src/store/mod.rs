//! The sovereign store: everything a person writes, in one redb file they own.
//!
//! * **One owner.** redb locks the file; a second process gets
//!   [`StoreError::InUse`] at once instead of waiting or corrupting it.
//! * **Durable acknowledgements.** Every write is one redb transaction with
//!   immediate durability: when a method returns `Ok`, the data is on disk
//!   and survives `kill -9`. When it returns `Err`, the transaction was
//!   dropped and nothing it did is visible.
//! * **Versioned schema.** The database records its schema version; opening
//!   an older file migrates it (after writing a backup copy beside it), and
//!   opening a newer one is refused before anything is written.
//! * **Typed.** Callers deal in [`crate::model`] records; the byte encoding
//!   ([`codec`]) and table layout ([`tables`]) stay in here.
//!
//! The same `Store` runs on redb's in-memory backend for tests, so there is
//! one implementation to trust rather than a trait with a fake beside it.

pub mod backup;
mod batch;
pub(crate) mod codec;
mod edit;
mod fts;
pub mod integrity;
pub mod migrations;
mod ops;
mod query;
mod tables;

use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use redb::backends::InMemoryBackend;
use redb::{
    Database, DatabaseError, ReadOnlyDatabase, ReadableDatabase, ReadableTable,
    ReadableTableMetadata,
};

use crate::model::{Id, Keyed, Record, ValidationError};

pub use batch::{Batch, ImportReport, Resurrect, TableReport};
pub use edit::Deleted;
pub use fts::{QueryTerm, parse_query, snippet};
use migrations::ReadMeta;
pub use migrations::{CURRENT_VERSION, MIGRATIONS};
pub use ops::{TensionEvidenceInput, TensionFindingInput, TensionUpdate};
pub use query::ReflectionQuery;
use tables::record_table;

/// Everything that can go wrong in the store, each with enough context for
/// one clear line to a person.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "the database {} is in use by another process (is `mirror node` running?)",
        path.display()
    )]
    InUse { path: PathBuf },
    #[error(
        "the database {} has schema version {found}, newer than this mirror supports ({supported}); upgrade mirror to open it (nothing was changed)",
        path.display()
    )]
    TooNew {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    #[error("{} is not a Mirror database or is damaged: {reason}", path.display())]
    NotADatabase { path: PathBuf, reason: String },
    #[error(
        "the database is at schema version {found}; this needs version {needed} (run `mirror migrate up`)"
    )]
    NeedsMigration { found: u32, needed: u32 },
    #[error("migration: {0}")]
    Migration(String),
    #[error("{kind} {id} not found")]
    NotFound { kind: &'static str, id: String },
    #[error("{kind} id {prefix:?} is ambiguous: it matches {}; give more of the id", candidates.join(", "))]
    Ambiguous {
        kind: &'static str,
        prefix: String,
        /// The first few matching ids, in full.
        candidates: Vec<String>,
    },
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error("{table} record {number}: {source}")]
    InvalidRecord {
        table: &'static str,
        number: usize,
        source: ValidationError,
    },
    #[error("stored {table} record is unreadable: {reason}")]
    Corrupt { table: &'static str, reason: String },
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error("storage error: {0}")]
    Redb(#[from] redb::Error),
    #[error(
        "the database {} was not closed cleanly and needs recovery, which needs a writable disk",
        path.display()
    )]
    NeedsRecovery { path: PathBuf },
    #[error(
        "the database {} was opened read-only (for reading or on a read-only disk); nothing can be written",
        path.display()
    )]
    ReadOnly { path: PathBuf },
    #[error(
        "the database {} is damaged ({reason}); it is kept read-only so nothing more is lost: `mirror doctor` shows what is readable and `mirror doctor --salvage OUT` copies it out",
        path.display()
    )]
    Damaged { path: PathBuf, reason: String },
}

impl StoreError {
    /// Whether this error means the file itself is damaged (as opposed to a
    /// bad request, a lock, or a full disk).
    pub fn is_damage(&self) -> bool {
        match self {
            StoreError::Corrupt { .. } | StoreError::Damaged { .. } => true,
            StoreError::NotADatabase { .. } => true,
            StoreError::Redb(e) => integrity::is_corruption(e),
            _ => false,
        }
    }
}

macro_rules! via_redb_error {
    ($($ty:ty),+) => {$(
        impl From<$ty> for StoreError {
            fn from(e: $ty) -> Self {
                StoreError::Redb(e.into())
            }
        }
    )+};
}
via_redb_error!(
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    redb::DatabaseError
);

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The redb handle: writable, or read-only for reading commands and for
/// disks that cannot be written.
enum Db {
    Writable(Database),
    ReadOnly(ReadOnlyDatabase),
}

impl Db {
    fn begin_read(&self) -> std::result::Result<redb::ReadTransaction, redb::TransactionError> {
        match self {
            Db::Writable(db) => db.begin_read(),
            Db::ReadOnly(db) => db.begin_read(),
        }
    }
}

/// An open store.
pub struct Store {
    db: Db,
    /// The file, or `None` for an in-memory store.
    path: Option<PathBuf>,
    version: u32,
}

/// What [`Store::migrate_to`] did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MigrationReport {
    pub from: u32,
    pub to: u32,
    /// The copy written before the first step, if there was anything to copy.
    pub backup: Option<PathBuf>,
}

impl Store {
    /// Open (or create) the database at `path`, migrating it to the current
    /// schema.
    pub fn open(path: &Path) -> Result<Store> {
        let mut store = Self::open_unmigrated(path)?;
        if store.version < CURRENT_VERSION {
            store.migrate_to(CURRENT_VERSION)?;
        }
        Ok(store)
    }

    /// Open (or create) without migrating, for `mirror migrate`. A newer
    /// schema is still refused, before the file is opened for writing.
    pub fn open_unmigrated(path: &Path) -> Result<Store> {
        integrity::refuse_if_damaged(path)?;
        let non_empty = std::fs::metadata(path)
            .map(|m| m.len() > 0)
            .unwrap_or(false);
        if non_empty && let Some(found) = peek_version(path)? {
            check_not_newer(path, found)?;
        }
        if !non_empty {
            // A person's private writing: readable by its owner only.
            std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600)
                .open(path)
                .map_err(|source| StoreError::Io {
                    context: format!("creating {}", path.display()),
                    source,
                })?;
        }
        // redb repairs a file left by an unclean stop as it opens it; note
        // that it did, so the records are checked before anything is
        // written on top of the repair.
        let repaired = std::rc::Rc::new(std::cell::Cell::new(false));
        let noted = repaired.clone();
        let db = integrity::guard(path, || {
            Database::builder()
                .set_repair_callback(move |_| noted.set(true))
                .create(path)
                .map_err(|e| open_error(path, e))
        })?;
        let version = integrity::guard(path, || db.begin_read()?.schema_version())?;
        check_not_newer(path, version)?;
        let store = Store {
            db: Db::Writable(db),
            path: Some(path.to_path_buf()),
            version,
        };
        if repaired.get() {
            tracing::warn!(path = %path.display(), "the database was not closed cleanly; checking it");
            store.check_and_record()?;
        }
        Ok(store)
    }

    /// Open an existing database for reading only: nothing is written to
    /// the file (not even by opening it), so reading works on a read-only
    /// disk and can never make damage worse. A file that needs redb's crash
    /// recovery, or an older schema, needs one writable open first; when the
    /// disk allows it, that is done here and the file reopened read-only.
    pub fn open_read_only(path: &Path) -> Result<Store> {
        let store = Self::open_read_only_as_found(path)?;
        if store.version < CURRENT_VERSION {
            drop(store);
            drop(Self::open(path)?);
            return Self::open_read_only_as_found(path);
        }
        Ok(store)
    }

    /// [`Store::open_read_only`] without the upgrade: a store at an older
    /// schema is opened as it is. For the background backup, which must
    /// never write a schema of its own accord: it runs beside whatever the
    /// person does next, and upgrading there undid a `mirror migrate down`
    /// that followed a `reflect`. Crash recovery is still done, but without
    /// migrating.
    pub fn open_read_only_as_found(path: &Path) -> Result<Store> {
        let open = || {
            integrity::guard(path, || {
                Database::builder()
                    .open_read_only(path)
                    .map_err(|e| open_error(path, e))
            })
        };
        let db = match open() {
            Ok(db) => db,
            Err(StoreError::NeedsRecovery { .. }) if !integrity::is_marked_damaged(path) => {
                // Left by an unclean stop: recover with a writable open (it
                // checks the records too), then read as asked.
                drop(Self::open_unmigrated(path)?);
                open()?
            }
            Err(e) => return Err(e),
        };
        let version = integrity::guard(path, || db.begin_read()?.schema_version())?;
        check_not_newer(path, version)?;
        Ok(Store {
            db: Db::ReadOnly(db),
            path: Some(path.to_path_buf()),
            version,
        })
    }

    /// Whether this store can be written.
    pub fn is_read_only(&self) -> bool {
        matches!(self.db, Db::ReadOnly(_))
    }

    /// A store that lives in memory only, at the current schema.
    pub fn in_memory() -> Result<Store> {
        let mut store = Self::in_memory_at(0)?;
        store.migrate_to(CURRENT_VERSION)?;
        Ok(store)
    }

    /// An in-memory store migrated only to `version` (for migration tests).
    pub fn in_memory_at(version: u32) -> Result<Store> {
        let db = Database::builder()
            .create_with_backend(InMemoryBackend::new())
            .map_err(|e| open_error(Path::new(":memory:"), e))?;
        let mut store = Store {
            db: Db::Writable(db),
            path: None,
            version: 0,
        };
        store.migrate_to(version)?;
        Ok(store)
    }

    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    pub fn schema_version(&self) -> u32 {
        self.version
    }

    /// Move the schema up or down to `target`, one transaction per step,
    /// after copying the file aside (when it already holds a schema).
    pub fn migrate_to(&mut self, target: u32) -> Result<MigrationReport> {
        if target > CURRENT_VERSION {
            return Err(StoreError::Migration(format!(
                "unknown schema version {target}: this mirror knows versions 1 to {CURRENT_VERSION}"
            )));
        }
        let from = self.version;
        let mut report = MigrationReport {
            from,
            to: from,
            backup: None,
        };
        if target == from {
            return Ok(report);
        }
        if target < 1 {
            return Err(StoreError::Migration(
                "version 1 is the base schema; a database cannot go below it".into(),
            ));
        }
        self.writable()?;
        if from > 0 {
            report.backup = self.backup_before_migration(from)?;
        }
        while self.version < target {
            let step = migrations::migration(self.version + 1).ok_or_else(|| {
                StoreError::Migration(format!("no migration to version {}", self.version + 1))
            })?;
            migrations::step_up(self.writable()?, step)?;
            self.version += 1;
        }
        while self.version > target {
            let step = migrations::migration(self.version).ok_or_else(|| {
                StoreError::Migration(format!("no migration from version {}", self.version))
            })?;
            migrations::step_down(self.writable()?, step)?;
            self.version -= 1;
        }
        report.to = self.version;
        Ok(report)
    }

    /// Copy the database to `backups/` beside it before its schema moves
    /// (written under a temporary name and renamed, so a kill never leaves
    /// a truncated "backup"; older ones beyond the last few are pruned).
    fn backup_before_migration(&self, version: u32) -> Result<Option<PathBuf>> {
        let Some(path) = &self.path else {
            return Ok(None);
        };
        let target = backup::write_copy(path, &format!("v{version}"), backup::MIGRATION_KEEP)?;
        tracing::info!(backup = %target.display(), "database backed up before migration");
        Ok(Some(target))
    }

    /// The writable handle, or `ReadOnly`.
    fn writable(&self) -> Result<&Database> {
        match &self.db {
            Db::Writable(db) => Ok(db),
            Db::ReadOnly(_) => Err(StoreError::ReadOnly {
                path: self.path.clone().unwrap_or_default(),
            }),
        }
    }

    /// Refuse work that needs the current schema on an older database
    /// (only reachable through `open_unmigrated`).
    fn require_current(&self) -> Result<()> {
        if self.version < CURRENT_VERSION {
            return Err(StoreError::NeedsMigration {
                found: self.version,
                needed: CURRENT_VERSION,
            });
        }
        Ok(())
    }

    /// One record by id.
    pub fn get<R: Keyed>(&self, id: Id) -> Result<Option<R>> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(record_table(R::TABLE))?;
        load(&table, id.as_u128())
    }

    /// One record by id, or a `NotFound` naming `kind`.
    pub fn require<R: Keyed>(&self, id: Id, kind: &'static str) -> Result<R> {
        self.get(id)?.ok_or_else(|| StoreError::NotFound {
            kind,
            id: id.to_string(),
        })
    }

    /// Resolve what a person typed (a full id, or a unique prefix of at least
    /// four hex digits) to the id of an existing record.
    pub fn resolve<R: Keyed>(&self, text: &str, kind: &'static str) -> Result<Id> {
        let not_found = || StoreError::NotFound {
            kind,
            id: text.chars().take(64).collect(),
        };
        if let Ok(id) = text.parse::<Id>() {
            return match self.get::<R>(id)? {
                Some(_) => Ok(id),
                None => Err(not_found()),
            };
        }
        let digits: String = text.chars().filter(|c| *c != '-').collect();
        if digits.len() < 4 || digits.len() > 32 || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(ValidationError::InvalidId {
                value: text.chars().take(64).collect(),
            }
            .into());
        }
        let pad = |fill: char| {
            let mut s = digits.to_ascii_lowercase();
            while s.len() < 32 {
                s.push(fill);
            }
            u128::from_str_radix(&s, 16).map_err(|_| not_found())
        };
        let (low, high) = (pad('0')?, pad('f')?);
        let txn = self.db.begin_read()?;
        let table = txn.open_table(record_table(R::TABLE))?;
        let ambiguous = |found: &[u128]| StoreError::Ambiguous {
            kind,
            prefix: text.chars().take(64).collect(),
            candidates: found
                .iter()
                .take(5)
                .map(|k| Id::from_u128(*k).to_string())
                .collect(),
        };
        // Up to a few matches are gathered, so an ambiguous one can name
        // its candidates.
        let mut found: Vec<u128> = Vec::new();
        let mut note = |key: u128| -> Result<()> {
            if !found.contains(&key) {
                found.push(key);
            }
            if found.len() > 5 {
                return Err(ambiguous(&found));
            }
            Ok(())
        };
        // A prefix is one range; a suffix (what `Id::short` shows) needs a
        // walk over the keys, which is still quick at 100k records.
        for entry in table.range(low..=high)? {
            note(entry?.0.value())?;
        }
        let suffix = digits.to_ascii_lowercase();
        let modulus = 1u128.checked_shl(4 * suffix.len() as u32);
        let tail = u128::from_str_radix(&suffix, 16).map_err(|_| not_found())?;
        if let Some(modulus) = modulus {
            for entry in table.iter()? {
                let key = entry?.0.value();
                if key % modulus == tail {
                    note(key)?;
                }
            }
        }
        match found.as_slice() {
            [one] => Ok(Id::from_u128(*one)),
            [] => Err(not_found()),
            more => Err(ambiguous(more)),
        }
    }

    /// Records of one kind, newest id first (ids are time-ordered).
    pub fn list<R: Keyed>(&self, limit: usize) -> Result<Vec<R>> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(record_table(R::TABLE))?;
        let mut out = Vec::new();
        for entry in table.iter()?.rev().take(limit) {
            let (_, value) = entry?;
            out.push(codec::decode(value.value())?);
        }
        Ok(out)
    }

    /// How many records each table holds (bundles and `mirror status`).
    pub fn counts(&self) -> Result<Vec<(&'static str, u64)>> {
        let txn = self.db.begin_read()?;
        let mut counts = Vec::new();
        for name in Batch::TABLES {
            let len = match *name {
                "thread_members" => txn.open_table(tables::THREAD_MEMBERS)?.len()?,
                "consent" => txn.open_table(tables::CONSENT)?.len()?,
                other => match txn.open_table(record_table(other)) {
                    // A table newer than this store's schema (a store
                    // migrated down): empty.
                    Err(redb::TableError::TableDoesNotExist(_)) => 0,
                    table => table?.len()?,
                },
            };
            counts.push((*name, len));
        }
        Ok(counts)
    }

    /// Size of the database file in bytes (0 in memory).
    pub fn file_size(&self) -> u64 {
        self.path
            .as_ref()
            .and_then(|p| std::fs::metadata(p).ok())
            .map_or(0, |m| m.len())
    }

    /// Run `f` in one write transaction: committed durably if it returns
    /// `Ok`, dropped (so nothing changes) if it returns `Err`.
    ///
    /// A panic inside redb (which it may do on a damaged file) is caught
    /// here, the file marked damaged, and an error returned: the write is
    /// dropped and nothing more is written to that file.
    fn write<T>(&self, f: impl FnOnce(&redb::WriteTransaction) -> Result<T>) -> Result<T> {
        self.require_current()?;
        let db = self.writable()?;
        let path = self.path.as_deref().unwrap_or(Path::new(":memory:"));
        integrity::guard(path, || {
            let txn = db.begin_write()?;
            let out = f(&txn)?;
            txn.commit()?;
            Ok(out)
        })
    }
}

/// Read the schema version without writing a byte: a read-only open.
/// `None` when the file cannot be opened read-only (it needs crash recovery,
/// which only a writer may do, or is not a database); the writable open that
/// follows reports or repairs it.
fn peek_version(path: &Path) -> Result<Option<u32>> {
    let opened = integrity::guard(path, || Ok(Database::builder().open_read_only(path)));
    match opened? {
        Ok(db) => {
            let version = integrity::guard(path, || db.begin_read()?.schema_version())?;
            Ok(Some(version))
        }
        Err(DatabaseError::DatabaseAlreadyOpen | DatabaseError::LockProtocolMismatch) => {
            Err(StoreError::InUse {
                path: path.to_path_buf(),
            })
        }
        Err(_) => Ok(None),
    }
}

fn check_not_newer(path: &Path, found: u32) -> Result<()> {
    if found > CURRENT_VERSION {
        return Err(StoreError::TooNew {
            path: path.to_path_buf(),
            found,
            supported: CURRENT_VERSION,
        });
    }
    Ok(())
}

pub(crate) fn open_error(path: &Path, error: DatabaseError) -> StoreError {
    let path = path.to_path_buf();
    match error {
        DatabaseError::DatabaseAlreadyOpen | DatabaseError::LockProtocolMismatch => {
            StoreError::InUse { path }
        }
        DatabaseError::RepairAborted => StoreError::NeedsRecovery { path },
        DatabaseError::Storage(redb::StorageError::Io(source)) => StoreError::Io {
            context: format!("opening {}", path.display()),
            source,
        },
        other => StoreError::NotADatabase {
            path,
            reason: other.to_string(),
        },
    }
}

fn load<R: Record>(
    table: &impl ReadableTable<u128, &'static [u8]>,
    key: u128,
) -> Result<Option<R>> {
    match table.get(key)? {
        Some(value) => Ok(Some(codec::decode(value.value())?)),
        None => Ok(None),
    }
}
