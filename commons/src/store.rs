//! Where a node keeps its accepted commons state: a redb file beside the
//! personal store (`commons.redb`), so the commons never holds the lock on
//! the person's reflections.
//!
//! Three tables: accepted records by id, a small index of their kinds and
//! times (all a node loads at start), and each epoch document as a list of
//! saved chunks (a full save followed by incremental ones), compacted into
//! one chunk when the list grows. Every write is one durable transaction, so
//! a record acknowledged as accepted survives a crash.

use std::path::Path;

use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};

use crate::doc::DocKey;
use crate::record::RecordId;

const RECORDS: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("records");
/// id → (kind number, created_at): what a node must know of every record
/// at start, without decoding any (the records themselves are read when
/// asked for).
const INDEX: TableDefinition<&[u8; 32], (u8, i64)> = TableDefinition::new("record_index");
/// (document key, chunk number) → saved bytes.
const CHUNKS: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("doc_chunks");
const META: TableDefinition<&str, &str> = TableDefinition::new("meta");

/// redb's page cache for `commons.redb`.
const CACHE_BYTES: usize = 16 * 1024 * 1024;

/// When a document has this many chunks, the next save writes it whole.
pub const COMPACT_AFTER_CHUNKS: u64 = 32;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the commons store at {path} is in use by another process")]
    InUse { path: String },
    #[error("the commons store belongs to commons {found}, not {expected}")]
    OtherCommons { expected: String, found: String },
    #[error("commons store: {0}")]
    Db(String),
}

fn dbe<E: std::fmt::Display>(e: E) -> StoreError {
    StoreError::Db(e.to_string())
}

pub struct Store {
    db: Database,
    /// Commits still to fail (see [`Store::inject_commit_faults`]).
    faults: std::sync::atomic::AtomicU32,
}

impl Store {
    pub fn open(path: &Path, commons_id: &str) -> Result<Store, StoreError> {
        // redb's page cache would otherwise grow toward its 1 GiB default
        // while the documents are read at start; a commons node reads each
        // document once and then works from memory.
        let database = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .create(path)
            .map_err(|e| match e {
                redb::DatabaseError::DatabaseAlreadyOpen => StoreError::InUse {
                    path: path.display().to_string(),
                },
                other => dbe(other),
            })?;
        let store = Store {
            db: database,
            faults: std::sync::atomic::AtomicU32::new(0),
        };
        let tx = store.db.begin_write().map_err(dbe)?;
        {
            tx.open_table(RECORDS).map_err(dbe)?;
            tx.open_table(INDEX).map_err(dbe)?;
            tx.open_table(CHUNKS).map_err(dbe)?;
            let mut meta = tx.open_table(META).map_err(dbe)?;
            let found = meta
                .get("commons_id")
                .map_err(dbe)?
                .map(|v| v.value().to_string());
            match found {
                Some(found) if found != commons_id => {
                    return Err(StoreError::OtherCommons {
                        expected: commons_id.into(),
                        found,
                    });
                }
                Some(_) => {}
                None => {
                    meta.insert("commons_id", commons_id).map_err(dbe)?;
                }
            }
        }
        tx.commit().map_err(dbe)?;
        Ok(store)
    }

    /// Which commons the store at `path` belongs to (none for a store that
    /// never recorded one), read without creating or changing anything.
    pub fn commons_id_at(path: &Path) -> Result<Option<String>, StoreError> {
        let db = Database::builder()
            .set_cache_size(1024 * 1024)
            .open(path)
            .map_err(|e| match e {
                redb::DatabaseError::DatabaseAlreadyOpen => StoreError::InUse {
                    path: path.display().to_string(),
                },
                other => dbe(other),
            })?;
        let tx = db.begin_read().map_err(dbe)?;
        let meta = match tx.open_table(META) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(dbe(e)),
        };
        Ok(meta
            .get("commons_id")
            .map_err(dbe)?
            .map(|v| v.value().to_string()))
    }

    /// The index: every accepted record's id, kind number and created_at.
    pub fn index(&self) -> Result<Vec<IndexRow>, StoreError> {
        let tx = self.db.begin_read().map_err(dbe)?;
        let table = tx.open_table(INDEX).map_err(dbe)?;
        let mut out = Vec::with_capacity(table.len().map_err(dbe)? as usize);
        for row in table.iter().map_err(dbe)? {
            let (k, v) = row.map_err(dbe)?;
            let (kind, created_at) = v.value();
            out.push((RecordId(*k.value()), kind, created_at));
        }
        Ok(out)
    }

    /// How many records are stored, and how many the index lists.
    pub fn counts(&self) -> Result<(u64, u64), StoreError> {
        let tx = self.db.begin_read().map_err(dbe)?;
        let records = tx.open_table(RECORDS).map_err(dbe)?.len().map_err(dbe)?;
        let index = tx.open_table(INDEX).map_err(dbe)?.len().map_err(dbe)?;
        Ok((records, index))
    }

    /// Rewrite the index whole (a file from before the index, or one whose
    /// index disagrees with its records).
    pub fn rebuild_index(&self, rows: &[IndexRow]) -> Result<(), StoreError> {
        let tx = self.db.begin_write().map_err(dbe)?;
        {
            tx.delete_table(INDEX).map_err(dbe)?;
            let mut table = tx.open_table(INDEX).map_err(dbe)?;
            for (id, kind, created_at) in rows {
                table.insert(&id.0, (*kind, *created_at)).map_err(dbe)?;
            }
        }
        tx.commit().map_err(dbe)
    }

    /// One record's bytes.
    pub fn get(&self, id: &RecordId) -> Result<Option<Vec<u8>>, StoreError> {
        let tx = self.db.begin_read().map_err(dbe)?;
        let table = tx.open_table(RECORDS).map_err(dbe)?;
        Ok(table.get(&id.0).map_err(dbe)?.map(|v| v.value().to_vec()))
    }

    /// Every accepted record, in id order.
    pub fn records(&self) -> Result<Vec<(RecordId, Vec<u8>)>, StoreError> {
        let tx = self.db.begin_read().map_err(dbe)?;
        let table = tx.open_table(RECORDS).map_err(dbe)?;
        let mut out = Vec::new();
        for row in table.iter().map_err(dbe)? {
            let (k, v) = row.map_err(dbe)?;
            out.push((RecordId(*k.value()), v.value().to_vec()));
        }
        Ok(out)
    }

    /// The names of the saved documents.
    pub fn doc_names(&self) -> Result<Vec<String>, StoreError> {
        let tx = self.db.begin_read().map_err(dbe)?;
        let table = tx.open_table(CHUNKS).map_err(dbe)?;
        let mut out: Vec<String> = Vec::new();
        for row in table.iter().map_err(dbe)? {
            let (k, _) = row.map_err(dbe)?;
            let (doc, _) = k.value();
            if out.last().map(String::as_str) != Some(doc) {
                out.push(doc.to_string());
            }
        }
        Ok(out)
    }

    /// One document's saved chunks, concatenated (what `Automerge::load`
    /// takes), in one allocation.
    pub fn doc_bytes(&self, name: &str) -> Result<Vec<u8>, StoreError> {
        let tx = self.db.begin_read().map_err(dbe)?;
        let table = tx.open_table(CHUNKS).map_err(dbe)?;
        let range = (name, 0)..=(name, u64::MAX);
        let mut total = 0;
        for row in table.range(range.clone()).map_err(dbe)? {
            total += row.map_err(dbe)?.1.value().len();
        }
        let mut out = Vec::with_capacity(total);
        for row in table.range(range).map_err(dbe)? {
            out.extend_from_slice(row.map_err(dbe)?.1.value());
        }
        Ok(out)
    }

    /// Durably record newly accepted records and the document chunks that
    /// hold them, in one transaction. A `Replace` chunk rewrites the
    /// document's chunk list (compaction); an `Append` adds to it.
    pub fn commit(
        &self,
        records: &[(IndexRow, &[u8])],
        chunks: &[(DocKey, Chunk)],
    ) -> Result<(), StoreError> {
        if records.is_empty() && chunks.is_empty() {
            return Ok(());
        }
        let tx = self.db.begin_write().map_err(dbe)?;
        if self.take_fault() {
            // Dropping the transaction aborts it, as a failed fsync would.
            return Err(StoreError::Db("injected commit fault".into()));
        }
        {
            let mut table = tx.open_table(RECORDS).map_err(dbe)?;
            let mut index = tx.open_table(INDEX).map_err(dbe)?;
            for ((id, kind, created_at), bytes) in records {
                table.insert(&id.0, *bytes).map_err(dbe)?;
                index.insert(&id.0, (*kind, *created_at)).map_err(dbe)?;
            }
            let mut table = tx.open_table(CHUNKS).map_err(dbe)?;
            for (key, chunk) in chunks {
                let name = key.to_string();
                let next = table
                    .range((name.as_str(), 0)..=(name.as_str(), u64::MAX))
                    .map_err(dbe)?
                    .next_back()
                    .transpose()
                    .map_err(dbe)?
                    .map_or(0, |(k, _)| k.value().1 + 1);
                match chunk {
                    Chunk::Append(bytes) => {
                        table
                            .insert((name.as_str(), next), bytes.as_slice())
                            .map_err(dbe)?;
                    }
                    Chunk::Replace(bytes) => {
                        for n in 0..next {
                            table.remove((name.as_str(), n)).map_err(dbe)?;
                        }
                        table
                            .insert((name.as_str(), 0), bytes.as_slice())
                            .map_err(dbe)?;
                    }
                }
            }
        }
        tx.commit().map_err(dbe)?;
        Ok(())
    }

    /// Make the next `n` commits fail with an error, leaving the file as it
    /// was: how tests and the simulator exercise a failing disk against the
    /// real store.
    pub fn inject_commit_faults(&self, n: u32) {
        self.faults.store(n, std::sync::atomic::Ordering::SeqCst);
    }

    fn take_fault(&self) -> bool {
        use std::sync::atomic::Ordering;
        self.faults
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }

    /// How many chunks a document has on disk.
    pub fn chunk_count(&self, key: &DocKey) -> Result<u64, StoreError> {
        let tx = self.db.begin_read().map_err(dbe)?;
        let table = tx.open_table(CHUNKS).map_err(dbe)?;
        let name = key.to_string();
        Ok(table
            .range((name.as_str(), 0)..=(name.as_str(), u64::MAX))
            .map_err(dbe)?
            .count() as u64)
    }

    /// Drop a whole document and the records it held (expired telemetry).
    pub fn drop_doc(&self, key: &DocKey, ids: &[RecordId]) -> Result<(), StoreError> {
        let tx = self.db.begin_write().map_err(dbe)?;
        {
            let mut chunks = tx.open_table(CHUNKS).map_err(dbe)?;
            let name = key.to_string();
            chunks
                .extract_from_if((name.as_str(), 0)..=(name.as_str(), u64::MAX), |_, _| true)
                .map_err(dbe)?
                .for_each(drop);
            let mut records = tx.open_table(RECORDS).map_err(dbe)?;
            let mut index = tx.open_table(INDEX).map_err(dbe)?;
            for id in ids {
                records.remove(&id.0).map_err(dbe)?;
                index.remove(&id.0).map_err(dbe)?;
            }
        }
        tx.commit().map_err(dbe)?;
        Ok(())
    }
}

/// A row of the index: id, kind number ([`crate::record::Kind::number`]),
/// created_at.
pub type IndexRow = (RecordId, u8, i64);

pub enum Chunk {
    Append(Vec<u8>),
    Replace(Vec<u8>),
}
