//! Open bundles: everything a node holds, in one archive a person can read
//! without Mirror.
//!
//! A bundle is a gzip-compressed tar file:
//!
//! ```text
//! MANIFEST.json                       what is inside, with sizes and blake3 hashes
//! data/<table>.jsonl                  every record, one JSON object per line
//! reflections/<YYYY-MM-DD>/<time>-<id>.md   each reflection as Markdown, by day
//! config/config.toml                  the node's settings
//! keys/<identity>.key                 secret keys, only with --include-keys
//! ```
//!
//! Edits and deletes travel too (format 2): `data/reflection_revisions.jsonl`
//! and `data/tombstones.jsonl`; see [`crate::store::Batch`] for how an
//! import merges them.
//!
//! `MANIFEST.json` comes first so an importer knows what to expect before
//! it reads anything else. The formats are described by JSON Schemas in
//! `schemas/bundle/`.
//!
//! Import is verify-then-write: [`read_bundle`] checks the versions, every
//! entry's path, size and hash, and parses and validates every record,
//! without touching the store; only then does [`apply`] merge the records in
//! one transaction. A bundle that fails any check changes nothing.

mod export;
pub mod foreign;
mod import;
pub use import::check_record_line;
pub mod journal;
mod manifest;

pub use export::{
    ExportOptions, ExportSummary, clean_recorded, default_file_name, export,
    remove_stale_temp_files,
};
pub use import::{
    ApplyOptions, ImportLimits, ImportSummary, VerifiedBundle, apply, apply_with, bundle_config,
    read_bundle, read_bundle_from,
};
pub use manifest::{BUNDLE_FORMAT, BUNDLE_FORMAT_VERSION, FileEntry, Manifest};

use std::path::PathBuf;

use crate::home::HomeError;
use crate::store::StoreError;

/// Why a bundle could not be written or read. Each says which file and what
/// to expect, so a damaged bundle can be diagnosed.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error("bundle is {size} bytes, over the limit of {max} (see [import] in config.toml)")]
    TooLarge { size: u64, max: u64 },
    #[error("bundle unpacks to more than {max} bytes (a decompression bomb?); refused")]
    UnpackedTooLarge { max: u64 },
    #[error("bundle has more than {max} entries; refused")]
    TooManyEntries { max: u64 },
    #[error("entry {path} is {size} bytes, over the per-file limit of {max}")]
    EntryTooLarge { path: String, size: u64, max: u64 },
    #[error("not a readable bundle (corrupt or truncated): {0}")]
    Corrupt(String),
    #[error("not a Mirror bundle: {0}")]
    NotABundle(String),
    #[error("entry {path:?} has an unsafe path (absolute, `..`, or not plain UTF-8); refused")]
    UnsafePath { path: String },
    #[error("entry {path} is a {kind}, not a regular file; refused")]
    UnsupportedEntry { path: String, kind: String },
    #[error("entry {path} appears twice")]
    DuplicateEntry { path: String },
    #[error("entry {path} is not listed in MANIFEST.json")]
    UnlistedEntry { path: String },
    #[error("{path} is listed in MANIFEST.json but missing from the bundle")]
    MissingFile { path: String },
    #[error("{path} is {actual} bytes but MANIFEST.json says {expected}")]
    SizeMismatch {
        path: String,
        expected: u64,
        actual: u64,
    },
    #[error("{path} does not match its blake3 hash in MANIFEST.json (damaged or altered)")]
    HashMismatch { path: String },
    #[error(
        "{what} {found} is newer than this mirror supports ({supported}); upgrade mirror to import it"
    )]
    UnknownVersion {
        what: &'static str,
        found: u32,
        supported: u32,
    },
    #[error("MANIFEST.json: {0}")]
    Manifest(String),
    #[error("{file} line {line}: {reason}")]
    Record {
        file: String,
        line: usize,
        reason: String,
    },
    #[error("MANIFEST.json counts {expected} {table} records but {file} has {actual}")]
    CountMismatch {
        table: String,
        file: String,
        expected: u64,
        actual: u64,
    },
    #[error("{0}")]
    Keys(String),
    #[error("output file {} already exists; choose another --out", path.display())]
    OutputExists { path: PathBuf },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Home(#[from] HomeError),
}

pub(crate) fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> BundleError {
    let context = context.into();
    move |source| BundleError::Io { context, source }
}
