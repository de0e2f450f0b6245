//! `MANIFEST.json`: what a bundle holds and how to check it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::Timestamp;

/// The `format` field of every Mirror bundle.
pub const BUNDLE_FORMAT: &str = "mirror-bundle";
/// The layout of the archive itself (entries, manifest fields). 2 added
/// `data/reflection_revisions.jsonl` and `data/tombstones.jsonl` (edits
/// and deletes travel with the journal); 1 is still read (without them).
pub const BUNDLE_FORMAT_VERSION: u32 = 2;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: String,
    pub bundle_format_version: u32,
    /// The store schema the records were written under.
    pub schema_version: u32,
    /// Version of the `mirror` that wrote the bundle.
    pub node_version: String,
    /// blake3 of the constitution the node ran under, when known.
    pub constitution_hash: Option<String>,
    pub created_at: Timestamp,
    /// Whether `keys/` holds secret keys.
    pub includes_keys: bool,
    /// Records per table.
    pub record_counts: BTreeMap<String, u64>,
    /// Every other entry of the archive, in archive order.
    pub files: Vec<FileEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    pub path: String,
    pub size: u64,
    /// blake3 of the file's bytes, lowercase hex.
    pub blake3: String,
}

impl FileEntry {
    pub fn of(path: String, bytes: &[u8]) -> FileEntry {
        FileEntry {
            path,
            size: bytes.len() as u64,
            blake3: blake3::hash(bytes).to_hex().to_string(),
        }
    }
}
