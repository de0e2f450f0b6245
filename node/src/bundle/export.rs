//! Writing a bundle.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;
use serde::Serialize;

use crate::home::Home;
use crate::model::{Id, Mirrorback, Record, Reflection, Timestamp};
use crate::store::{Batch, Store};

use super::manifest::{BUNDLE_FORMAT, BUNDLE_FORMAT_VERSION, FileEntry, Manifest};
use super::{BundleError, io_err};

#[derive(Debug, Clone, Default)]
pub struct ExportOptions {
    /// Put secret keys in the bundle. Off unless the person asks.
    pub include_keys: bool,
    pub constitution_hash: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExportSummary {
    pub path: PathBuf,
    pub bytes: u64,
    pub record_counts: BTreeMap<String, u64>,
    pub files: usize,
    pub includes_keys: bool,
    /// Records that could not be read from a damaged store (or that depend
    /// on one that could not), left out of the bundle and named here.
    pub skipped: Vec<crate::store::integrity::Problem>,
}

/// Everything the bundle will hold, in archive order, before packing.
struct Contents {
    files: Vec<(String, Vec<u8>)>,
}

impl Contents {
    fn add(&mut self, path: String, bytes: Vec<u8>) {
        self.files.push((path, bytes));
    }
}

fn jsonl<R: Serialize>(records: &[R]) -> Result<Vec<u8>, BundleError> {
    let mut out = Vec::with_capacity(records.len() * 256);
    for record in records {
        serde_json::to_writer(&mut out, record)
            .map_err(|e| BundleError::Manifest(format!("cannot serialise a record: {e}")))?;
        out.push(b'\n');
    }
    Ok(out)
}

fn add_table<R: Record>(contents: &mut Contents, records: &[R]) -> Result<(), BundleError> {
    contents.add(format!("data/{}.jsonl", R::TABLE), jsonl(records)?);
    Ok(())
}

/// One JSON Lines file per table, in `Batch::TABLES` order.
fn data_files(batch: &Batch, contents: &mut Contents) -> Result<(), BundleError> {
    add_table(contents, &batch.identities)?;
    add_table(contents, &batch.threads)?;
    add_table(contents, &batch.tensions)?;
    add_table(contents, &batch.reflections)?;
    add_table(contents, &batch.thread_members)?;
    add_table(contents, &batch.mirrorbacks)?;
    add_table(contents, &batch.tension_evidence)?;
    add_table(contents, &batch.tension_suggestions)?;
    add_table(contents, &batch.engine_runs)?;
    add_table(contents, &batch.engine_feedback)?;
    add_table(contents, &batch.evolution_events)?;
    add_table(contents, &batch.evolution_history)?;
    add_table(contents, &batch.integrations)?;
    add_table(contents, &batch.consent)?;
    add_table(contents, &batch.consent_changes)?;
    add_table(contents, &batch.egress_log)?;
    add_table(contents, &batch.reflection_revisions)?;
    add_table(contents, &batch.tombstones)
}

/// One reflection as a Markdown file a person can open anywhere.
fn markdown(reflection: &Reflection, mirrorbacks: &[&Mirrorback]) -> String {
    let mut md = format!(
        "---\nid: {}\ncreated_at: {}\nvisibility: {}\ncontent_type: {}\nsource: {}\n---\n\n{}\n",
        reflection.id,
        reflection.created_at,
        reflection.visibility,
        reflection.content_type,
        reflection.source,
        reflection.content.trim_end()
    );
    for m in mirrorbacks {
        md.push_str(&format!(
            "\n## Mirrorback ({}, {})\n\n{}\n",
            m.engine_mode,
            m.created_at,
            m.text.trim_end()
        ));
    }
    md
}

fn markdown_files(batch: &Batch, contents: &mut Contents) {
    let mut by_reflection: HashMap<Id, Vec<&Mirrorback>> = HashMap::new();
    for m in &batch.mirrorbacks {
        by_reflection.entry(m.reflection_id).or_default().push(m);
    }
    let mut reflections: Vec<&Reflection> = batch.reflections.iter().collect();
    reflections.sort_by_key(|r| (r.created_at, r.id));
    for r in reflections {
        let time = r.created_at.to_datetime().format("%H%M%S");
        let path = format!("reflections/{}/{time}-{}.md", r.created_at.day(), r.id);
        let mirrorbacks = by_reflection.get(&r.id).map(Vec::as_slice).unwrap_or(&[]);
        contents.add(path, markdown(r, mirrorbacks).into_bytes());
    }
}

/// The temporary name an export writes under: hidden, and carrying the
/// writer's process id so a later run can tell a stale one from one being
/// written.
const TEMP_PREFIX: &str = ".mirror-export-";

/// Remove what an export killed mid-way left in `dir`: hidden temporary
/// bundles (22 MB of private text for a large journal) whose process is
/// gone. Runs before every export and at every command's start for the
/// places recorded in the home (see [`clean_recorded`]).
pub fn remove_stale_temp_files(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.filter_map(|e| e.ok()) {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(TEMP_PREFIX)) else {
            continue;
        };
        let pid = rest.split('-').next().and_then(|p| p.parse::<u32>().ok());
        let running = pid.is_some_and(|pid| Path::new(&format!("/proc/{pid}")).exists());
        if !running {
            tracing::info!(file = %entry.path().display(), "removing an unfinished export");
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Where exports in progress are noted, so the next command can clean up
/// after one that was killed, wherever it was writing.
fn record_dir(home: &Home) -> PathBuf {
    home.dir().join("exports-in-progress")
}

/// Clean up after exports that were killed: each note names a directory an
/// export was writing in; stale temporary files there are removed.
pub fn clean_recorded(home: &Home) {
    let Ok(entries) = std::fs::read_dir(record_dir(home)) else {
        return;
    };
    for entry in entries.filter_map(|e| e.ok()) {
        let pid = entry
            .file_name()
            .to_str()
            .and_then(|n| n.split('-').next())
            .and_then(|p| p.parse::<u32>().ok());
        if pid.is_some_and(|pid| Path::new(&format!("/proc/{pid}")).exists()) {
            continue;
        }
        if let Ok(dir) = std::fs::read_to_string(entry.path()) {
            remove_stale_temp_files(Path::new(dir.trim_end_matches('\n')));
        }
        let _ = std::fs::remove_file(entry.path());
    }
}

/// A note that an export is writing in `dir`, removed when dropped.
struct InProgress(Option<PathBuf>);

impl InProgress {
    fn note(home: &Home, dir: &Path) -> InProgress {
        let notes = record_dir(home);
        let note = notes.join(format!(
            "{}-{}",
            std::process::id(),
            crate::model::Id::new()
        ));
        let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
        let written = std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&notes)
            .and_then(|_| std::fs::write(&note, dir.to_string_lossy().as_bytes()));
        InProgress(written.ok().map(|_| note))
    }
}

impl Drop for InProgress {
    fn drop(&mut self) {
        if let Some(note) = &self.0 {
            let _ = std::fs::remove_file(note);
        }
    }
}

/// Write the whole store to a new bundle file at `out` (mode 0600: it holds
/// a person's private writing). The file appears only once complete.
///
/// A damaged store still exports: every record that can be read goes in,
/// and the ones that cannot are named in [`ExportSummary::skipped`].
pub fn export(
    store: &Store,
    home: &Home,
    out: &Path,
    options: &ExportOptions,
) -> Result<ExportSummary, BundleError> {
    if out.exists() {
        return Err(BundleError::OutputExists {
            path: out.to_path_buf(),
        });
    }
    let salvaged = store.salvage();
    if !salvaged.lost.is_empty()
        && let Some(path) = store.path()
    {
        crate::store::integrity::mark_damaged(
            path,
            &format!(
                "export could not read {} record(s), first in {}: {}",
                salvaged.lost.len(),
                salvaged.lost[0].table,
                salvaged.lost[0].reason
            ),
        );
    }
    let batch = salvaged.batch;
    let mut contents = Contents { files: Vec::new() };
    data_files(&batch, &mut contents)?;
    markdown_files(&batch, &mut contents);
    match std::fs::read(home.config_path()) {
        Ok(config) => contents.add("config/config.toml".into(), config),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(io_err(format!("reading {}", home.config_path().display()))(
                e,
            ));
        }
    }
    if options.include_keys {
        for identity in &batch.identities {
            let key = home.read_key(identity)?;
            contents.add(
                format!("keys/{}.key", identity.id),
                key.to_file_text().into_bytes(),
            );
        }
    }

    let created_at = Timestamp::now();
    let manifest = Manifest {
        format: BUNDLE_FORMAT.into(),
        bundle_format_version: BUNDLE_FORMAT_VERSION,
        schema_version: store.schema_version(),
        node_version: env!("CARGO_PKG_VERSION").into(),
        constitution_hash: options.constitution_hash.clone(),
        created_at,
        includes_keys: options.include_keys,
        record_counts: batch
            .counts()
            .into_iter()
            .map(|(table, n)| (table.to_string(), n))
            .collect(),
        files: contents
            .files
            .iter()
            .map(|(path, bytes)| FileEntry::of(path.clone(), bytes))
            .collect(),
    };
    let manifest_bytes = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| BundleError::Manifest(format!("cannot serialise: {e}")))?;

    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    remove_stale_temp_files(dir);
    let _noted = InProgress::note(home, dir);
    let prefix = format!("{TEMP_PREFIX}{}-", std::process::id());
    let tmp = tempfile::Builder::new()
        .prefix(&prefix)
        .permissions(std::fs::Permissions::from_mode(0o600))
        .tempfile_in(dir)
        .map_err(io_err(format!("creating a file in {}", dir.display())))?;
    let mtime = u64::try_from(created_at.as_micros() / 1_000_000).unwrap_or(0);
    {
        let gz = GzEncoder::new(std::io::BufWriter::new(tmp.as_file()), Compression::fast());
        let mut tar = tar::Builder::new(gz);
        let mut append = |path: &str, bytes: &[u8]| -> Result<(), BundleError> {
            let mut header = tar::Header::new_gnu();
            header.set_size(bytes.len() as u64);
            header.set_mode(0o600);
            header.set_mtime(mtime);
            header.set_entry_type(tar::EntryType::Regular);
            tar.append_data(&mut header, path, bytes)
                .map_err(io_err(format!("writing {path} to the bundle")))
        };
        append("MANIFEST.json", &manifest_bytes)?;
        for (path, bytes) in &contents.files {
            append(path, bytes)?;
        }
        let gz = tar
            .into_inner()
            .map_err(io_err("finishing the bundle archive"))?;
        let mut buffered = gz.finish().map_err(io_err("compressing the bundle"))?;
        buffered.flush().map_err(io_err("writing the bundle"))?;
    }
    tmp.as_file()
        .sync_all()
        .map_err(io_err("syncing the bundle to disk"))?;
    tmp.persist_noclobber(out).map_err(|e| {
        if e.error.kind() == std::io::ErrorKind::AlreadyExists {
            BundleError::OutputExists {
                path: out.to_path_buf(),
            }
        } else {
            io_err(format!("saving {}", out.display()))(e.error)
        }
    })?;
    let bytes = std::fs::metadata(out).map(|m| m.len()).unwrap_or(0);
    tracing::info!(path = %out.display(), bytes, "bundle exported");
    Ok(ExportSummary {
        path: out.to_path_buf(),
        bytes,
        record_counts: manifest.record_counts,
        files: manifest.files.len() + 1,
        includes_keys: options.include_keys,
        skipped: salvaged.lost,
    })
}

/// `mirror-export-<UTC time>.tar.gz` in `dir`.
pub fn default_file_name(now: Timestamp) -> String {
    format!(
        "mirror-export-{}.tar.gz",
        now.to_datetime().format("%Y%m%dT%H%M%SZ")
    )
}
