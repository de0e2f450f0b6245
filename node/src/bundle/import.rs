//! Reading a bundle: verify everything, then write.

use std::cell::Cell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, Read};
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;

use flate2::bufread::GzDecoder;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::home::{Config, Home, ImportConfig, SecretKey};
use crate::model::{Id, Identity, Record, Timestamp};
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
    /// Whether the bundle's config was applied (`--restore-config`).
    pub config_restored: bool,
    /// What the bundle carried that this import did not apply, and why.
    pub left_out: Vec<String>,
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
            // The archive readers quote the bytes they choked on after a
            // colon ("numeric field was not a number: <header bytes>"):
            // what went wrong is before it, and the bytes are not text.
            let text = e.to_string();
            BundleError::Corrupt(text.split(':').next().unwrap_or("").trim().to_string())
        }
    }
}

/// The largest `config/config.toml` or key file a bundle may carry: both
/// are a few hundred bytes when real.
const MAX_SMALL_FILE_BYTES: u64 = 1 << 20;

/// The longest line a data file may have: one record, whose largest field
/// (a reflection's content, at most 1 MiB) may grow sixfold when escaped.
const MAX_RECORD_LINE_BYTES: usize = 8 << 20;

/// Hashes and counts what passes through, so an entry is checked as it is
/// read instead of being held whole first.
struct Hashing<R> {
    inner: R,
    hasher: blake3::Hasher,
    bytes: u64,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

/// Read and check a bundle completely, writing nothing.
///
/// Memory stays bounded by what the bundle really holds: no entry is given
/// the room its header declares, data files are parsed line by line as they
/// are decompressed and hashed (a line is at most
/// [`MAX_RECORD_LINE_BYTES`]), the Markdown copies are only hashed, and the
/// unpacked-size limit is counted on the bytes as they come out of gzip.
#[tracing::instrument(skip(limits), fields(path = %path.display()))]
pub fn read_bundle(path: &Path, limits: &ImportLimits) -> Result<VerifiedBundle, BundleError> {
    let file = std::fs::File::open(path).map_err(io_err(format!("opening {}", path.display())))?;
    let size = file
        .metadata()
        .map_err(io_err(format!("reading {}", path.display())))?
        .len();
    read_bundle_from(std::io::BufReader::new(file), size, limits)
}

/// [`read_bundle`] over any reader of `size` bytes (a file, or bytes in
/// memory for the fuzz targets).
pub fn read_bundle_from(
    input: impl std::io::BufRead,
    size: u64,
    limits: &ImportLimits,
) -> Result<VerifiedBundle, BundleError> {
    if size > limits.max_bundle_bytes {
        return Err(BundleError::TooLarge {
            size,
            max: limits.max_bundle_bytes,
        });
    }
    let exceeded = Rc::new(Cell::new(false));
    let reader = Limited {
        inner: GzDecoder::new(input),
        remaining: limits.max_unpacked_bytes,
        exceeded: exceeded.clone(),
    };
    let fail = corrupt_or_limit(&exceeded, limits.max_unpacked_bytes);
    let mut archive = tar::Archive::new(reader);
    let now = Timestamp::now();

    let (manifest, batch, small) = {
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
            // Grows as bytes arrive (the entry ends at its declared size).
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).map_err(&fail)?;
            serde_json::from_slice(&bytes).map_err(|e| BundleError::Manifest(e.to_string()))?
        };
        check_versions(&manifest)?;
        if let Some(unknown) = manifest
            .record_counts
            .keys()
            .find(|t| !Batch::TABLES.contains(&t.as_str()))
        {
            return Err(BundleError::Manifest(format!("unknown table {unknown:?}")));
        }

        let expected: HashMap<&str, &super::FileEntry> = manifest
            .files
            .iter()
            .map(|f| (f.path.as_str(), f))
            .collect();
        if expected.len() != manifest.files.len() {
            return Err(BundleError::Manifest("a file is listed twice".into()));
        }
        let mut seen: HashSet<String> = HashSet::new();
        let mut small: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        let mut batch = Batch::default();
        let mut unknown_data: Option<String> = None;
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
            let is_small = name.starts_with("keys/") || name == "config/config.toml";
            let max = if is_small {
                MAX_SMALL_FILE_BYTES
            } else {
                limits.max_unpacked_bytes
            };
            if declared > max {
                return Err(BundleError::EntryTooLarge {
                    path: name,
                    size: declared,
                    max,
                });
            }
            let mut reader = Hashing {
                inner: &mut entry,
                hasher: blake3::Hasher::new(),
                bytes: 0,
            };
            // A record error is reported only once the whole file is known to
            // match its hash: a damaged file is named as damaged, not by the
            // first line the damage happened to break.
            let mut deferred: Option<BundleError> = None;
            if let Some(table) = name
                .strip_prefix("data/")
                .and_then(|f| f.strip_suffix(".jsonl"))
            {
                match Batch::TABLES.iter().find(|t| **t == table) {
                    Some(table) => {
                        let mut lines = std::io::BufReader::with_capacity(64 << 10, &mut reader);
                        deferred = parse_data_file(
                            &mut lines, table, &name, &manifest, &mut batch, now, &fail,
                        )?
                        .err();
                        std::io::copy(&mut lines, &mut std::io::sink()).map_err(&fail)?;
                    }
                    None => {
                        unknown_data.get_or_insert(name.clone());
                        std::io::copy(&mut reader, &mut std::io::sink()).map_err(&fail)?;
                    }
                }
            } else if is_small {
                let mut bytes = Vec::new();
                reader.read_to_end(&mut bytes).map_err(&fail)?;
                small.insert(name.clone(), bytes);
            } else {
                std::io::copy(&mut reader, &mut std::io::sink()).map_err(&fail)?;
            }
            let (actual, hash) = (reader.bytes, reader.hasher.finalize());
            if actual != listed.size {
                return Err(BundleError::SizeMismatch {
                    path: name,
                    expected: listed.size,
                    actual,
                });
            }
            if hash.to_hex().as_str() != listed.blake3 {
                return Err(BundleError::HashMismatch { path: name });
            }
            if let Some(error) = deferred {
                return Err(error);
            }
        }
        if let Some(missing) = manifest.files.iter().find(|f| !seen.contains(&f.path)) {
            return Err(BundleError::MissingFile {
                path: missing.path.clone(),
            });
        }
        if let Some(extra) = unknown_data {
            return Err(BundleError::Manifest(format!("unknown data file {extra}")));
        }
        (manifest, batch, small)
    };
    check_trailing(archive.into_inner(), &fail)?;

    for (table, actual) in batch.counts() {
        let expected = manifest.record_counts.get(table).copied().unwrap_or(0);
        if expected != actual {
            return Err(BundleError::CountMismatch {
                table: table.into(),
                file: format!("data/{table}.jsonl"),
                expected,
                actual,
            });
        }
    }
    let keys = parse_keys(&batch, &small)?;
    let config = small
        .get("config/config.toml")
        .map(|bytes| {
            String::from_utf8(bytes.clone())
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

/// After the archive's end: what remains of the tar stream must be its zero
/// padding, the gzip stream must end there (its CRC checked), and nothing
/// may follow it in the file. A bundle with bytes appended is not the
/// bundle that was written.
fn check_trailing(
    mut reader: Limited<GzDecoder<impl std::io::BufRead>>,
    fail: &impl Fn(std::io::Error) -> BundleError,
) -> Result<(), BundleError> {
    let mut buf = [0u8; 8192];
    loop {
        let n = reader.read(&mut buf).map_err(fail)?;
        if n == 0 {
            break;
        }
        if buf[..n].iter().any(|b| *b != 0) {
            return Err(BundleError::Corrupt(
                "data after the end of the archive".into(),
            ));
        }
    }
    let mut file = reader.inner.into_inner();
    match file.read(&mut buf[..1]) {
        Ok(0) => Ok(()),
        Ok(_) => Err(BundleError::Corrupt(
            "data after the end of the gzip stream".into(),
        )),
        Err(e) => Err(BundleError::Corrupt(e.to_string())),
    }
}

/// The times a record carries, read beside the record itself: every
/// record's times are top-level fields with these names. Fields that are
/// absent or malformed are left to the record's own parse to report.
#[derive(serde::Deserialize)]
struct Times {
    #[serde(default, deserialize_with = "lenient")]
    at: Option<Timestamp>,
    #[serde(default, deserialize_with = "lenient")]
    created_at: Option<Timestamp>,
    #[serde(default, deserialize_with = "lenient")]
    updated_at: Option<Timestamp>,
    #[serde(default, deserialize_with = "lenient")]
    started_at: Option<Timestamp>,
    #[serde(default, deserialize_with = "lenient")]
    last_active: Option<Timestamp>,
    #[serde(default, deserialize_with = "lenient")]
    added_at: Option<Timestamp>,
    #[serde(default, deserialize_with = "lenient")]
    replaced_at: Option<Timestamp>,
    #[serde(default, deserialize_with = "lenient")]
    deleted_at: Option<Timestamp>,
}

fn lenient<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Timestamp>, D::Error> {
    let value = <serde_json::Value as serde::Deserialize>::deserialize(d)?;
    Ok(serde_json::from_value(value).ok())
}

/// Refuse a record whose times run ahead of this machine's clock: they
/// would win every last-writer-wins merge from then on.
fn check_times(line: &[u8], now: Timestamp) -> Result<(), String> {
    let Ok(times) = serde_json::from_slice::<Times>(line) else {
        return Ok(());
    };
    for (field, time) in [
        ("at", times.at),
        ("created_at", times.created_at),
        ("updated_at", times.updated_at),
        ("started_at", times.started_at),
        ("last_active", times.last_active),
        ("added_at", times.added_at),
        ("replaced_at", times.replaced_at),
        ("deleted_at", times.deleted_at),
    ] {
        if let Some(time) = time {
            time.check_not_future(field, now)
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

/// Parse one data file line by line into its table of `batch`. I/O errors
/// (a damaged archive, the size limit) end the import at once; the first
/// record error is returned as `Ok(Err(..))` so the caller can check the
/// file's hash first.
fn parse_data_file(
    lines: &mut impl std::io::BufRead,
    table: &str,
    file: &str,
    manifest: &Manifest,
    batch: &mut Batch,
    now: Timestamp,
    fail: &impl Fn(std::io::Error) -> BundleError,
) -> Result<Result<(), BundleError>, BundleError> {
    macro_rules! dispatch {
        ($($field:ident),+) => {
            $(
                if table == table_of(&batch.$field) {
                    return parse_lines(lines, file, manifest, &mut batch.$field, now, fail);
                }
            )+
        };
    }
    dispatch!(
        identities,
        reflections,
        mirrorbacks,
        tensions,
        tension_evidence,
        tension_suggestions,
        threads,
        thread_members,
        engine_runs,
        engine_feedback,
        evolution_events,
        evolution_history,
        integrations,
        consent,
        consent_changes,
        egress_log,
        reflection_revisions,
        tombstones
    );
    Ok(Err(BundleError::Manifest(format!(
        "unknown data file {file}"
    ))))
}

fn table_of<R: Record>(_: &[R]) -> &'static str {
    R::TABLE
}

fn parse_lines<R: Record + DeserializeOwned>(
    lines: &mut impl std::io::BufRead,
    file: &str,
    manifest: &Manifest,
    records: &mut Vec<R>,
    now: Timestamp,
    fail: &impl Fn(std::io::Error) -> BundleError,
) -> Result<Result<(), BundleError>, BundleError> {
    let current = manifest.schema_version == CURRENT_VERSION;
    let mut line = Vec::new();
    let mut number = 0usize;
    loop {
        line.clear();
        let n = lines
            .by_ref()
            .take(MAX_RECORD_LINE_BYTES as u64 + 1)
            .read_until(b'\n', &mut line)
            .map_err(fail)?;
        if n == 0 {
            return Ok(Ok(()));
        }
        number += 1;
        let err = |reason: String| BundleError::Record {
            file: file.to_string(),
            line: number,
            reason,
        };
        if line.len() > MAX_RECORD_LINE_BYTES {
            return Ok(Err(err(format!(
                "longer than {MAX_RECORD_LINE_BYTES} bytes"
            ))));
        }
        let mut body: &[u8] = &line;
        if let Some(rest) = body.strip_suffix(b"\n") {
            body = rest.strip_suffix(b"\r").unwrap_or(rest);
        }
        let Ok(text) = std::str::from_utf8(body) else {
            return Ok(Err(err("not UTF-8".into())));
        };
        if text.trim().is_empty() {
            continue;
        }
        let parsed = (|| -> Result<R, String> {
            let record: R = if current {
                serde_json::from_str(text).map_err(|e| json_reason(&e))?
            } else {
                let value = serde_json::from_str(text).map_err(|e| json_reason(&e))?;
                let value = upgrade(R::TABLE, manifest.schema_version, value)?;
                serde_json::from_value(value).map_err(|e| json_reason(&e))?
            };
            record.validate().map_err(|e| e.to_string())?;
            check_times(body, now)?;
            Ok(record)
        })();
        match parsed {
            Ok(record) => records.push(record),
            Err(reason) => return Ok(Err(err(reason))),
        }
    }
}

/// Whether one line of data file `table` (the current schema version) is a
/// record this importer takes, and if not why: exactly the checks an import
/// runs on each line (shape, every field, the record's own rules, no time
/// ahead of `now`). For tests that hold the bundle schemas to the same
/// verdicts.
pub fn check_record_line(table: &str, line: &str, now: Timestamp) -> Result<(), String> {
    fn one<R: Record + DeserializeOwned>(line: &str, now: Timestamp) -> Result<(), String> {
        let record: R = serde_json::from_str(line).map_err(|e| json_reason(&e))?;
        record.validate().map_err(|e| e.to_string())?;
        check_times(line.as_bytes(), now)
    }
    macro_rules! dispatch {
        ($($ty:ty),+) => {
            $(
                if table == <$ty as Record>::TABLE {
                    return one::<$ty>(line, now);
                }
            )+
        };
    }
    use crate::model::*;
    dispatch!(
        Identity,
        Reflection,
        Mirrorback,
        Tension,
        TensionEvidence,
        TensionSuggestion,
        Thread,
        ThreadMember,
        EngineRun,
        EngineFeedback,
        EvolutionEvent,
        EvolutionHistory,
        Integration,
        ConsentSetting,
        ConsentChange,
        EgressRecord
    );
    Err(format!("unknown table {table}"))
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

/// serde_json's message without its "at line 1 column N" tail (we give the
/// file line ourselves).
fn json_reason(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
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

/// Choices a person makes for one import.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ApplyOptions {
    /// Take the bundle's `config.toml` (engines, endpoints, commons): only on
    /// the person's explicit word, after it was shown to them.
    pub restore_config: bool,
    /// Bring back reflections this node deleted that the bundle still
    /// holds (otherwise they are left out, and the report says so).
    pub restore_deleted: bool,
}

/// Merge a verified bundle into the store and home, never restoring its
/// config (see [`apply_with`]).
pub fn apply(
    store: &Store,
    home: &Home,
    bundle: &VerifiedBundle,
) -> Result<ImportSummary, BundleError> {
    apply_with(store, home, bundle, &ApplyOptions::default())
}

/// The bundle's config as it would be applied: parsed and range-checked,
/// with this node's identity choice kept.
pub fn bundle_config(bundle: &VerifiedBundle) -> Result<Option<Config>, BundleError> {
    let Some(text) = bundle.config.as_deref() else {
        return Ok(None);
    };
    let config: Config = toml::from_str(text)
        .map_err(|e| BundleError::Manifest(format!("config/config.toml: {}", e.message())))?;
    config
        .validate()
        .map_err(|e| BundleError::Manifest(format!("config/config.toml: {e}")))?;
    Ok(Some(config))
}

/// Merge a verified bundle into the store and home. Key files are checked
/// for conflicts before the store changes; the records land in one
/// transaction; keys are written after.
///
/// What an import never does, whatever the bundle says: grant consent,
/// enable an integration or change an endpoint (the store's merge leaves
/// them out and says so), or take the bundle's config unless
/// `options.restore_config` is set.
pub fn apply_with(
    store: &Store,
    home: &Home,
    bundle: &VerifiedBundle,
    options: &ApplyOptions,
) -> Result<ImportSummary, BundleError> {
    // Check the config before anything is written, so a bad one refused
    // leaves everything as it was.
    let restored = if options.restore_config {
        Some(bundle_config(bundle)?.ok_or_else(|| {
            BundleError::Manifest("the bundle has no config/config.toml to restore".into())
        })?)
    } else {
        None
    };
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

    let report = store.import_with(
        &bundle.batch,
        if options.restore_deleted {
            crate::store::Resurrect::Yes
        } else {
            crate::store::Resurrect::No
        },
    )?;

    let mut keys_written = Vec::new();
    for (id, text) in to_write {
        let key = SecretKey::from_file_text(text, Path::new("bundle"))?;
        keys_written.push(home.write_key(id, &key)?);
    }

    let mut left_out = report.left_out.clone();
    let mut config = home.load_config()?;
    let mut changed = false;
    let config_restored = restored.is_some();
    match restored {
        Some(theirs) => {
            let identity = config.identity;
            config = theirs;
            // Which identity writes here stays this node's choice when it
            // has one.
            if identity.is_some() {
                config.identity = identity;
            }
            changed = true;
        }
        None if bundle.config.is_some() => left_out.push(
            "config/config.toml: not applied; an import never changes settings or engine endpoints (`mirror import --restore-config` shows and applies it)".into(),
        ),
        None => {}
    }

    // A node with no identity yet (a fresh machine restoring a bundle)
    // takes the bundle's: its own records name it.
    let mut identity_adopted = None;
    if config.identity.is_none() {
        let preferred = bundle_config(bundle)
            .ok()
            .flatten()
            .and_then(|c| c.identity);
        let chosen = preferred
            .filter(|id| bundle.batch.identities.iter().any(|i| i.id == *id))
            .or_else(|| bundle.batch.identities.first().map(|i| i.id));
        if let Some(id) = chosen {
            config.identity = Some(id);
            identity_adopted = Some(id);
            changed = true;
        }
    }
    if changed {
        home.save_config(&config)?;
    }
    Ok(ImportSummary {
        report,
        keys_written,
        identity_adopted,
        config_restored,
        left_out,
    })
}
