//! Reading a bundle: verify everything, then write.

use std::cell::Cell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Read;
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;

use flate2::read::GzDecoder;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::home::{Config, Home, ImportConfig, SecretKey};
use crate::model::{Id, Identity, Record};
use crate::store::{Batch, CURRENT_VERSION, ImportReport, Store};

use super::manifest::{BUNDLE_FORMAT, BUNDLE_FORMAT_VERSION, Manifest};
use super::{BundleError, io_err};

/// How much a bundle may weigh before it is refused unread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportLimits {
    /// Size of the bundle file itself.
    pub max_bundle_bytes: u64,
    /// Total bytes the archive may unpack to (stops decompression bombs).
    pub max_unpacked_bytes: u64,
    pub max_entries: u64,
    pub max_manifest_bytes: u64,
}

impl From<&ImportConfig> for ImportLimits {
    fn from(config: &ImportConfig) -> Self {
        ImportLimits {
            max_bundle_bytes: config.max_bundle_mib.saturating_mul(1 << 20),
            max_unpacked_bytes: config.max_unpacked_mib.saturating_mul(1 << 20),
            max_entries: 10_000_000,
            max_manifest_bytes: 256 << 20,
        }
    }
}

impl Default for ImportLimits {
    fn default() -> Self {
        ImportLimits::from(&ImportConfig::default())
    }
}

/// A bundle whose every byte and record has been checked. Nothing has been
/// written yet.
#[derive(Debug, Clone)]
pub struct VerifiedBundle {
    pub manifest: Manifest,
    pub batch: Batch,
    /// The exporting node's `config.toml`, if it had one.
    pub config: Option<String>,
    /// Secret keys carried by the bundle, each matching an identity in it.
    pub keys: Vec<(Id, String)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ImportSummary {
    pub report: ImportReport,
    pub keys_written: Vec<PathBuf>,
    /// Set when this node had no identity and took the bundle's.
    pub identity_adopted: Option<Id>,
}

/// Counts the bytes coming out of the decompressor and fails once they pass
/// the limit, so a small file that inflates to terabytes stops early.
struct Limited<R> {
    inner: R,
    remaining: u64,
    exceeded: Rc<Cell<bool>>,
}

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.remaining == 0 {
            // At the limit: any further byte means the archive is too big.
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => {
                    self.exceeded.set(true);
                    Err(std::io::Error::other("unpacked size limit reached"))
                }
            };
        }
        let max = buf
            .len()
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..max])?;
        self.remaining -= n as u64;
        Ok(n)
    }
}

/// A path inside the archive that is safe to think about: relative, plain
/// components only, UTF-8, `/`-separated.
fn safe_path(raw: &Path) -> Result<String, BundleError> {
    let shown = raw.to_string_lossy().into_owned();
    let unsafe_path = || BundleError::UnsafePath {
        path: shown.chars().take(200).collect(),
    };
    let text = raw.to_str().ok_or_else(unsafe_path)?;
    if text.is_empty() || text.contains('\\') || text.contains('\0') {
        return Err(unsafe_path());
    }
    let mut parts = Vec::new();
    for component in raw.components() {
        match component {
            Component::Normal(part) => parts.push(part.to_str().ok_or_else(unsafe_path)?),
            Component::CurDir => {}
            _ => return Err(unsafe_path()),
        }
    }
    if parts.is_empty() {
        return Err(unsafe_path());
    }
    Ok(parts.join("/"))
}

fn kind_name(kind: tar::EntryType) -> String {
    match kind {
        tar::EntryType::Symlink => "symbolic link".into(),
        tar::EntryType::Link => "hard link".into(),
        tar::EntryType::Directory => "directory".into(),
        tar::EntryType::Char | tar::EntryType::Block => "device".into(),
        tar::EntryType::Fifo => "fifo".into(),
        other => format!("{other:?}").to_lowercase(),
    }
}

fn corrupt_or_limit(
    exceeded: &Cell<bool>,
    max: u64,
) -> impl Fn(std::io::Error) -> BundleError + '_ {
    move |e| {
        if exceeded.get() {
            BundleError::UnpackedTooLarge { max }
        } else {
            BundleError::Corrupt(e.to_string())
        }
    }
}

/// Read and check a bundle completely, writing nothing.
#[tracing::instrument(skip(limits), fields(path = %path.display()))]
pub fn read_bundle(path: &Path, limits: &ImportLimits) -> Result<VerifiedBundle, BundleError> {
    let file = std::fs::File::open(path).map_err(io_err(format!("opening {}", path.display())))?;
    let size = file
        .metadata()
        .map_err(io_err(format!("reading {}", path.display())))?
        .len();
    if size > limits.max_bundle_bytes {
        return Err(BundleError::TooLarge {
            size,
            max: limits.max_bundle_bytes,
        });
    }
    let exceeded = Rc::new(Cell::new(false));
    let reader = Limited {
        inner: GzDecoder::new(std::io::BufReader::new(file)),
        remaining: limits.max_unpacked_bytes,
        exceeded: exceeded.clone(),
    };
    let fail = corrupt_or_limit(&exceeded, limits.max_unpacked_bytes);
    let mut archive = tar::Archive::new(reader);
    let mut entries = archive.entries().map_err(&fail)?;

    // The manifest comes first and tells us what to expect.
    let manifest: Manifest = {
        let mut entry = entries
            .next()
            .ok_or_else(|| BundleError::NotABundle("the archive is empty".into()))?
            .map_err(&fail)?;
        let name = safe_path(&entry.path().map_err(&fail)?)?;
        if name != "MANIFEST.json" {
            return Err(BundleError::NotABundle(format!(
                "the first entry is {name}, not MANIFEST.json"
            )));
        }
        let declared = entry.size();
        if declared > limits.max_manifest_bytes {
            return Err(BundleError::EntryTooLarge {
                path: name,
                size: declared,
                max: limits.max_manifest_bytes,
            });
        }
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).map_err(&fail)?;
        serde_json::from_slice(&bytes).map_err(|e| BundleError::Manifest(e.to_string()))?
    };
    check_versions(&manifest)?;

    let expected: HashMap<&str, &super::FileEntry> = manifest
        .files
        .iter()
        .map(|f| (f.path.as_str(), f))
        .collect();
    if expected.len() != manifest.files.len() {
        return Err(BundleError::Manifest("a file is listed twice".into()));
    }
    let mut seen: HashSet<String> = HashSet::new();
    let mut kept: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut count: u64 = 1;

    for entry in entries {
        let mut entry = entry.map_err(&fail)?;
        count += 1;
        if count > limits.max_entries {
            return Err(BundleError::TooManyEntries {
                max: limits.max_entries,
            });
        }
        let name = safe_path(&entry.path().map_err(&fail)?)?;
        let kind = entry.header().entry_type();
        if !kind.is_file() {
            return Err(BundleError::UnsupportedEntry {
                path: name,
                kind: kind_name(kind),
            });
        }
        if !seen.insert(name.clone()) {
            return Err(BundleError::DuplicateEntry { path: name });
        }
        let listed = expected
            .get(name.as_str())
            .ok_or_else(|| BundleError::UnlistedEntry { path: name.clone() })?;
        let declared = entry.size();
        if declared != listed.size {
            return Err(BundleError::SizeMismatch {
                path: name,
                expected: listed.size,
                actual: declared,
            });
        }
        if declared > limits.max_unpacked_bytes {
            return Err(BundleError::EntryTooLarge {
                path: name,
                size: declared,
                max: limits.max_unpacked_bytes,
            });
        }
        // Keep what import needs; only hash the rest (the Markdown copies).
        let keep =
            name.starts_with("data/") || name.starts_with("keys/") || name == "config/config.toml";
        let mut hasher = blake3::Hasher::new();
        let actual = if keep {
            let mut bytes = Vec::with_capacity(usize::try_from(declared).unwrap_or(0));
            entry.read_to_end(&mut bytes).map_err(&fail)?;
            hasher.update(&bytes);
            let n = bytes.len() as u64;
            kept.insert(name.clone(), bytes);
            n
        } else {
            std::io::copy(&mut entry, &mut hasher).map_err(&fail)?
        };
        if actual != listed.size {
            return Err(BundleError::SizeMismatch {
                path: name,
                expected: listed.size,
                actual,
            });
        }
        if hasher.finalize().to_hex().as_str() != listed.blake3 {
            return Err(BundleError::HashMismatch { path: name });
        }
    }
    if let Some(missing) = manifest.files.iter().find(|f| !seen.contains(&f.path)) {
        return Err(BundleError::MissingFile {
            path: missing.path.clone(),
        });
    }

    let batch = parse_records(&manifest, &mut kept)?;
    let keys = parse_keys(&batch, &kept)?;
    let config = kept
        .remove("config/config.toml")
        .map(|bytes| {
            String::from_utf8(bytes)
                .map_err(|_| BundleError::Manifest("config/config.toml is not UTF-8".into()))
        })
        .transpose()?;
    tracing::debug!(records = batch.len(), "bundle verified");
    Ok(VerifiedBundle {
        manifest,
        batch,
        config,
        keys,
    })
}

fn check_versions(manifest: &Manifest) -> Result<(), BundleError> {
    if manifest.format != BUNDLE_FORMAT {
        return Err(BundleError::NotABundle(format!(
            "format is {:?}, expected {BUNDLE_FORMAT:?}",
            manifest.format
        )));
    }
    if manifest.bundle_format_version > BUNDLE_FORMAT_VERSION {
        return Err(BundleError::UnknownVersion {
            what: "bundle format version",
            found: manifest.bundle_format_version,
            supported: BUNDLE_FORMAT_VERSION,
        });
    }
    if manifest.bundle_format_version == 0 {
        return Err(BundleError::Manifest(
            "bundle_format_version 0 does not exist".into(),
        ));
    }
    if manifest.schema_version > CURRENT_VERSION {
        return Err(BundleError::UnknownVersion {
            what: "schema version",
            found: manifest.schema_version,
            supported: CURRENT_VERSION,
        });
    }
    if manifest.schema_version == 0 {
        return Err(BundleError::Manifest(
            "schema_version 0 does not exist".into(),
        ));
    }
    Ok(())
}

/// Bring a record written under an older schema to the current one. Record
/// shapes have not changed since schema 1 (v2 only added the search index,
/// which import rebuilds), so this is the identity for now; a change to a
/// record's fields adds its conversion here, keyed by table and version.
fn upgrade(
    _table: &str,
    _schema_version: u32,
    value: serde_json::Value,
) -> Result<serde_json::Value, String> {
    Ok(value)
}

fn parse_table<R: Record + DeserializeOwned>(
    manifest: &Manifest,
    kept: &mut BTreeMap<String, Vec<u8>>,
) -> Result<Vec<R>, BundleError> {
    let file = format!("data/{}.jsonl", R::TABLE);
    let bytes = kept.remove(&file).unwrap_or_default();
    let text = std::str::from_utf8(&bytes).map_err(|e| BundleError::Record {
        file: file.clone(),
        line: 1 + bytes[..e.valid_up_to()]
            .iter()
            .filter(|b| **b == b'\n')
            .count(),
        reason: "not UTF-8".into(),
    })?;
    let current = manifest.schema_version == CURRENT_VERSION;
    let mut records = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let err = |reason: String| BundleError::Record {
            file: file.clone(),
            line: i + 1,
            reason,
        };
        let record: R = if current {
            serde_json::from_str(line).map_err(|e| err(json_reason(&e)))?
        } else {
            let value = serde_json::from_str(line).map_err(|e| err(json_reason(&e)))?;
            let value = upgrade(R::TABLE, manifest.schema_version, value).map_err(&err)?;
            serde_json::from_value(value).map_err(|e| err(json_reason(&e)))?
        };
        record.validate().map_err(|e| err(e.to_string()))?;
        records.push(record);
    }
    let expected = manifest.record_counts.get(R::TABLE).copied().unwrap_or(0);
    if expected != records.len() as u64 {
        return Err(BundleError::CountMismatch {
            table: R::TABLE.into(),
            file,
            expected,
            actual: records.len() as u64,
        });
    }
    Ok(records)
}

/// serde_json's message without its "at line 1 column N" tail (we give the
/// file line ourselves).
fn json_reason(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

fn parse_records(
    manifest: &Manifest,
    kept: &mut BTreeMap<String, Vec<u8>>,
) -> Result<Batch, BundleError> {
    if let Some(unknown) = manifest
        .record_counts
        .keys()
        .find(|t| !Batch::TABLES.contains(&t.as_str()))
    {
        return Err(BundleError::Manifest(format!("unknown table {unknown:?}")));
    }
    let batch = Batch {
        identities: parse_table(manifest, kept)?,
        reflections: parse_table(manifest, kept)?,
        mirrorbacks: parse_table(manifest, kept)?,
        tensions: parse_table(manifest, kept)?,
        tension_evidence: parse_table(manifest, kept)?,
        tension_suggestions: parse_table(manifest, kept)?,
        threads: parse_table(manifest, kept)?,
        thread_members: parse_table(manifest, kept)?,
        engine_runs: parse_table(manifest, kept)?,
        engine_feedback: parse_table(manifest, kept)?,
        evolution_events: parse_table(manifest, kept)?,
        evolution_history: parse_table(manifest, kept)?,
        integrations: parse_table(manifest, kept)?,
        consent: parse_table(manifest, kept)?,
        consent_changes: parse_table(manifest, kept)?,
        egress_log: parse_table(manifest, kept)?,
    };
    if let Some(extra) = kept.keys().find(|k| k.starts_with("data/")) {
        return Err(BundleError::Manifest(format!("unknown data file {extra}")));
    }
    Ok(batch)
}

fn parse_keys(
    batch: &Batch,
    kept: &BTreeMap<String, Vec<u8>>,
) -> Result<Vec<(Id, String)>, BundleError> {
    let identities: HashMap<Id, &Identity> = batch.identities.iter().map(|i| (i.id, i)).collect();
    let mut keys = Vec::new();
    for (name, bytes) in kept.range("keys/".to_string()..) {
        let Some(file) = name.strip_prefix("keys/") else {
            break;
        };
        let bad = |why: &str| BundleError::Keys(format!("{name}: {why}"));
        let id: Id = file
            .strip_suffix(".key")
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("not named <identity id>.key"))?;
        let text = std::str::from_utf8(bytes).map_err(|_| bad("not a Mirror secret key"))?;
        let key = SecretKey::from_file_text(text, Path::new(name))
            .map_err(|_| bad("not a Mirror secret key"))?;
        let identity = identities
            .get(&id)
            .ok_or_else(|| bad("no identity with this id in the bundle"))?;
        if identity.public_key != key.public_key() {
            return Err(bad("does not match the identity's public key"));
        }
        keys.push((id, text.to_string()));
    }
    Ok(keys)
}

/// Merge a verified bundle into the store and home. Key files are checked
/// for conflicts before the store changes; the records land in one
/// transaction; keys are written after.
pub fn apply(
    store: &Store,
    home: &Home,
    bundle: &VerifiedBundle,
) -> Result<ImportSummary, BundleError> {
    let mut to_write = Vec::new();
    for (id, text) in &bundle.keys {
        let path = home.key_path(*id);
        match std::fs::read_to_string(&path) {
            Ok(existing) if existing == *text => {}
            Ok(_) => {
                return Err(BundleError::Keys(format!(
                    "{} already exists with a different key; nothing was imported",
                    path.display()
                )));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => to_write.push((*id, text)),
            Err(e) => return Err(io_err(format!("reading {}", path.display()))(e)),
        }
    }

    let report = store.import(&bundle.batch)?;

    let mut keys_written = Vec::new();
    for (id, text) in to_write {
        let key = SecretKey::from_file_text(text, Path::new("bundle"))?;
        keys_written.push(home.write_key(id, &key)?);
    }

    // A node with no identity yet (a fresh machine restoring a bundle) takes
    // the bundle's, and its settings when it has none of its own.
    let mut config = home.load_config()?;
    let mut identity_adopted = None;
    if config.identity.is_none() {
        let bundle_config: Option<Config> = bundle
            .config
            .as_deref()
            .and_then(|text| toml::from_str(text).ok());
        if !home.config_path().exists()
            && let Some(theirs) = bundle_config.clone()
        {
            config = theirs;
        }
        let preferred = bundle_config.and_then(|c| c.identity);
        let chosen = preferred
            .filter(|id| bundle.batch.identities.iter().any(|i| i.id == *id))
            .or_else(|| bundle.batch.identities.first().map(|i| i.id));
        if let Some(id) = chosen {
            config.identity = Some(id);
            identity_adopted = Some(id);
        }
        home.save_config(&config)?;
    }
    Ok(ImportSummary {
        report,
        keys_written,
        identity_adopted,
    })
}
