//! Releases on this node: reading and writing them as TUF repositories,
//! verifying them with tough's repository client, and applying or rolling
//! back the parameter pack they carry.
//!
//! `mirror_governance::release` checks what a release is by itself and
//! whether its root is the guardians'. Here is what depends on this node and
//! this moment:
//!
//! * **verification by a TUF client**: the release is written out as a TUF
//!   repository and loaded with tough's `RepositoryLoader` from the root the
//!   commons' guardians sign, with expiry enforced; every target is read
//!   through tough, which checks its length and hashes;
//! * **freeze protection**: metadata past its expiry is never applied;
//! * **rollback protection**: a release older than (or the same as) the one
//!   in force is refused unless the person rolls back explicitly;
//! * **apply**: the previous pack is kept, the new one written atomically,
//!   and the step recorded in evolution history.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mirror_governance::ledger::GuardianSet;
use mirror_governance::params::EngineParams;
use mirror_governance::payload::ReleaseManifest;
use mirror_governance::release::{self, Release, ReleaseError};
use serde::{Deserialize, Serialize};

use crate::home::{Home, write_atomic};

#[derive(Debug, thiserror::Error)]
pub enum NodeReleaseError {
    #[error(transparent)]
    Release(#[from] ReleaseError),
    #[error(
        "frozen: this release's metadata expired at {expired} (unix ms {ms}); guardians must re-sign it before any node applies it"
    )]
    Expired { expired: String, ms: i64 },
    #[error("the TUF client refused the release: {0}")]
    Tuf(String),
    #[error(
        "release {version} is not newer than release {current}, which is in force (rollback protection; `mirror release rollback` goes back explicitly)"
    )]
    NotNewer { version: u64, current: u64 },
    #[error("{0}")]
    Repository(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Home(#[from] crate::home::HomeError),
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> NodeReleaseError {
    let context = context.into();
    move |source| NodeReleaseError::Io { context, source }
}

/// A metadata file's `signed.version` (0 when it has none).
fn meta_version(bytes: &[u8]) -> u64 {
    serde_json::from_slice::<serde_json::Value>(bytes)
        .ok()
        .and_then(|v| v["signed"]["version"].as_u64())
        .unwrap_or(0)
}

/// Where a consistent-snapshot repository keeps target `path`:
/// `<dir>/<sha256>.<name>`.
fn consistent_target_path(path: &str, sha256: &str) -> String {
    match path.rsplit_once('/') {
        Some((dir, name)) => format!("{dir}/{sha256}.{name}"),
        None => format!("{sha256}.{path}"),
    }
}

/// Write `m` as a TUF repository, in both layouts a TUF client may ask for:
/// `metadata/root.json` and `<k>.root.json` for every root it carries (the
/// chain a stateful client walks), `timestamp.json`, `snapshot.json` and
/// `targets.json` beside `<v>.snapshot.json` and `<v>.targets.json`, and
/// every target at its path and at `<sha256>.<name>` (consistent
/// snapshots, as python-tuf writes them). The exact bytes the metadata sign.
pub fn write_repository(m: &ReleaseManifest, dir: &Path) -> Result<(), NodeReleaseError> {
    let (metadata, targets) = release::files(m).ok_or_else(|| {
        NodeReleaseError::Repository("the release's base64 does not decode".into())
    })?;
    let meta_dir = dir.join("metadata");
    std::fs::create_dir_all(&meta_dir).map_err(io(format!("creating {}", meta_dir.display())))?;
    let write = |path: PathBuf, bytes: &[u8]| -> Result<(), NodeReleaseError> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(io(format!("creating {}", parent.display())))?;
        }
        std::fs::write(&path, bytes).map_err(io(format!("writing {}", path.display())))
    };
    for (name, bytes) in &metadata {
        write(meta_dir.join(name), bytes)?;
        let versioned = match name.as_str() {
            "root.json" | "snapshot.json" | "targets.json" => {
                Some(format!("{}.{name}", meta_version(bytes)))
            }
            _ => None,
        };
        if let Some(v) = versioned {
            write(meta_dir.join(v), bytes)?;
        }
    }
    for (name, bytes) in targets {
        // Target paths are checked by the payload validator: '/'-separated
        // names, none starting with '.', so they stay inside `targets/`.
        let sha256 = release::sha256_hex(&bytes);
        write(dir.join("targets").join(&name), &bytes)?;
        write(
            dir.join("targets")
                .join(consistent_target_path(&name, &sha256)),
            &bytes,
        )?;
        // tough (0.24) asks for `<sha256>.<whole path>` instead of the
        // specification's `<dir>/<sha256>.<name>`; the same bytes there too.
        write(dir.join("targets").join(format!("{sha256}.{name}")), &bytes)?;
    }
    Ok(())
}

/// The first of `names` under `dir` that exists, read.
fn read_first(dir: &Path, names: &[String]) -> Result<Vec<u8>, NodeReleaseError> {
    for name in names {
        match std::fs::read(dir.join(name)) {
            Ok(bytes) => return Ok(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io(format!("reading {}", dir.join(name).display()))(e)),
        }
    }
    Err(NodeReleaseError::Repository(format!(
        "{} has none of {}",
        dir.display(),
        names.join(", ")
    )))
}

/// Read a TUF repository written by any TUF tool (python-tuf, tough, this
/// node), in either layout, back into a release: the newest root (`root.json`,
/// else the highest `<k>.root.json`) and the roots before it that a release
/// carries, the other three roles (versioned files as the timestamp and
/// snapshot name them, for consistent snapshots), and every target the
/// targets metadata lists. The version, previous release and proposals come
/// from the signed `mirror/release.json`.
pub fn read_repository(dir: &Path) -> Result<ReleaseManifest, NodeReleaseError> {
    let meta = dir.join("metadata");
    let b64 = mirror_governance::payload::encode_base64;
    let json = |what: &str, bytes: &[u8]| -> Result<serde_json::Value, NodeReleaseError> {
        serde_json::from_slice(bytes)
            .map_err(|e| NodeReleaseError::Repository(format!("{what}: {e}")))
    };
    let newest_versioned_root = || -> Result<String, NodeReleaseError> {
        let entries =
            std::fs::read_dir(&meta).map_err(io(format!("reading {}", meta.display())))?;
        let mut newest = None;
        for entry in entries {
            let entry = entry.map_err(io(format!("reading {}", meta.display())))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(k) = name
                .strip_suffix(".json")
                .and_then(release::chain::version_of)
            {
                newest = newest.max(Some(k));
            }
        }
        newest.map(|k| format!("{k}.root.json")).ok_or_else(|| {
            NodeReleaseError::Repository(format!("{} holds no root", meta.display()))
        })
    };
    let root = read_first(
        &meta,
        &[
            "root.json".into(),
            newest_versioned_root().unwrap_or_default(),
        ],
    )?;
    let root_doc = json("root.json", &root)?;
    let consistent = root_doc["signed"]["consistent_snapshot"].as_bool() == Some(true);
    let n = meta_version(&root);
    let mut tuf_metadata = BTreeMap::new();
    tuf_metadata.insert("root".to_string(), b64(&root));
    for k in release::chain::first(n)..n {
        let bytes = read_first(&meta, &[format!("{k}.root.json")])?;
        tuf_metadata.insert(release::chain::name(k), b64(&bytes));
    }
    // Plain names first, or versioned ones first for consistent snapshots.
    let names = |role: &str, version: Option<u64>| -> Vec<String> {
        let plain = format!("{role}.json");
        match version {
            Some(v) if consistent => vec![format!("{v}.{plain}"), plain],
            Some(v) => vec![plain, format!("{v}.{role}.json")],
            None => vec![plain],
        }
    };
    let timestamp = read_first(&meta, &names("timestamp", None))?;
    let listed_version = |doc: &[u8], file: &str| {
        json("metadata", doc)
            .ok()
            .and_then(|v| v["signed"]["meta"][file]["version"].as_u64())
    };
    let snapshot = read_first(
        &meta,
        &names("snapshot", listed_version(&timestamp, "snapshot.json")),
    )?;
    let targets_meta = read_first(
        &meta,
        &names("targets", listed_version(&snapshot, "targets.json")),
    )?;
    for (role, bytes) in [
        ("timestamp", &timestamp),
        ("snapshot", &snapshot),
        ("targets", &targets_meta),
    ] {
        tuf_metadata.insert(role.to_string(), b64(bytes));
    }
    let targets_doc = json("targets.json", &targets_meta)?;
    let listed = targets_doc["signed"]["targets"]
        .as_object()
        .ok_or_else(|| NodeReleaseError::Repository("targets.json lists no targets".into()))?;
    let mut targets = BTreeMap::new();
    for (path, info) in listed {
        if path
            .split('/')
            .any(|seg| seg.is_empty() || seg.starts_with('.') || seg == "..")
        {
            return Err(NodeReleaseError::Repository(format!(
                "target path {path:?} is not a plain relative path"
            )));
        }
        let mut candidates = vec![path.clone()];
        if let Some(sha) = info["hashes"]["sha256"].as_str()
            && sha.len() == 64
            && sha.bytes().all(|b| b.is_ascii_hexdigit())
        {
            let prefixed = consistent_target_path(path, sha);
            if consistent {
                candidates.insert(0, prefixed);
            } else {
                candidates.push(prefixed);
            }
        }
        let bytes = read_first(&dir.join("targets"), &candidates)?;
        targets.insert(path.clone(), b64(&bytes));
    }
    let info_bytes = targets
        .get(release::RELEASE_TARGET)
        .and_then(|b| mirror_governance::payload::decode_base64(b))
        .ok_or_else(|| NodeReleaseError::Repository(format!("no {}", release::RELEASE_TARGET)))?;
    let info: release::ReleaseInfo = serde_json::from_slice(&info_bytes)
        .map_err(|e| NodeReleaseError::Repository(format!("{}: {e}", release::RELEASE_TARGET)))?;
    Ok(ReleaseManifest {
        version: info.version,
        previous: info.previous,
        proposals: info.proposals,
        tuf_metadata,
        targets,
    })
}

/// Everything a node checks before it trusts a release: the pure checks,
/// the guardian set in force (the last of `history`, the ledger's
/// `guardian_history`) and the earlier ones for the root chain, expiry at
/// `now_ms`, and a full load through tough.
pub fn verify(
    m: &ReleaseManifest,
    history: &[GuardianSet],
    now_ms: i64,
) -> Result<Release, NodeReleaseError> {
    let release = release::verify(m)?;
    let guardians = history
        .last()
        .ok_or_else(|| NodeReleaseError::Repository("no guardian set".into()))?;
    release::check_guardians(&release, guardians)?;
    release::check_chain(&release, history)?;
    if release.expires_ms <= now_ms {
        let expired = jiff::Timestamp::from_millisecond(release.expires_ms)
            .map(|t| t.to_string())
            .unwrap_or_else(|_| release.expires_ms.to_string());
        return Err(NodeReleaseError::Expired {
            expired,
            ms: release.expires_ms,
        });
    }
    load_with_tough(m)?;
    Ok(release)
}

/// Load the release with tough's client, expiry enforced, trusting the
/// oldest root it carries (which the caller has tied to the guardians), so
/// tough walks the root chain as a client that has held that root since;
/// read every target.
fn load_with_tough(m: &ReleaseManifest) -> Result<(), NodeReleaseError> {
    let dir = tempfile::tempdir().map_err(io("creating a temporary directory"))?;
    write_repository(m, dir.path())?;
    let oldest = m
        .tuf_metadata
        .keys()
        .filter_map(|n| release::chain::version_of(n))
        .min()
        .map_or_else(|| "root.json".to_string(), |k| format!("{k}.root.json"));
    let root = std::fs::read(dir.path().join("metadata").join(&oldest))
        .map_err(io(format!("reading {oldest}")))?;
    let url = |sub: &str| {
        url::Url::from_directory_path(dir.path().join(sub))
            .map_err(|()| NodeReleaseError::Repository("temporary path is not absolute".into()))
    };
    let (metadata_url, targets_url) = (url("metadata")?, url("targets")?);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(io("starting a runtime"))?;
    let tuf = |e: tough::error::Error| NodeReleaseError::Tuf(e.to_string());
    let datastore = dir.path().join("datastore");
    std::fs::create_dir(&datastore).map_err(io("creating the TUF client's datastore"))?;
    runtime.block_on(async {
        let repo = tough::RepositoryLoader::new(&root, metadata_url, targets_url)
            .datastore(datastore)
            .expiration_enforcement(tough::ExpirationEnforcement::Safe)
            .load()
            .await
            .map_err(tuf)?;
        let names: Vec<tough::TargetName> = repo.all_targets().map(|(n, _)| n.clone()).collect();
        for name in names {
            let Some(mut stream) = repo.read_target(&name).await.map_err(tuf)? else {
                return Err(NodeReleaseError::Tuf(format!(
                    "target {} is missing",
                    name.raw()
                )));
            };
            let mut bytes = Vec::new();
            use futures::StreamExt as _;
            while let Some(chunk) = stream.next().await {
                bytes.extend_from_slice(&chunk.map_err(tuf)?);
            }
            let carried = m.target_bytes(name.raw());
            if carried.as_deref() != Some(bytes.as_slice()) {
                return Err(NodeReleaseError::Tuf(format!(
                    "target {} differs",
                    name.raw()
                )));
            }
        }
        Ok(())
    })
}

/// One applied release, in the order applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Applied {
    pub version: u64,
    /// The release record's id (empty for a release applied from a file).
    pub release_id: String,
    pub params_hash: String,
    pub proposals: Vec<String>,
    pub applied_at: i64,
    /// The constitution this release put in force (an amendment's), and the
    /// one before it, by `Constitution::hash`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constitution: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_constitution: Option<String>,
}

/// What is in force: the stack of applied releases (the last is current;
/// empty means the genesis pack).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AppliedState {
    pub stack: Vec<Applied>,
    /// Release versions the person rolled back, which stay out: a plain
    /// `mirror release apply` (the newest in the commons) skips them until
    /// the person applies one by name or a newer release arrives.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rolled_back: Vec<u64>,
}

impl AppliedState {
    /// Whether a plain apply must leave release `version` out: it, or a
    /// newer one, was rolled back here.
    pub fn held_back(&self, version: u64) -> bool {
        self.rolled_back.iter().any(|v| version <= *v)
    }
}

fn state_path(home: &Home) -> PathBuf {
    home.dir().join("releases").join("applied.json")
}

/// Where every pack a release put in force here is kept, under its hash
/// (for rollback, and for the metric registries of past versions).
pub fn kept_packs_dir(home: &Home) -> PathBuf {
    home.dir().join("params").join("packs")
}

fn pack_path(home: &Home, hash: &str) -> PathBuf {
    kept_packs_dir(home).join(format!("{hash}.json"))
}

pub fn applied_state(home: &Home) -> Result<AppliedState, NodeReleaseError> {
    match std::fs::read(state_path(home)) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
            NodeReleaseError::Repository(format!("{}: {e}", state_path(home).display()))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(AppliedState::default()),
        Err(e) => Err(io(format!("reading {}", state_path(home).display()))(e)),
    }
}

fn write_json(path: &Path, value: &impl Serialize) -> Result<(), NodeReleaseError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io(format!("creating {}", parent.display())))?;
    }
    let bytes = serde_json::to_vec_pretty(value)
        .map_err(|e| NodeReleaseError::Repository(e.to_string()))?;
    Ok(write_atomic(path, &bytes, 0o644)?)
}

/// Put `params` in force: the pack is kept under its hash, then
/// `params/current.json` is replaced atomically (or removed, for genesis).
fn put_in_force(home: &Home, params: Option<&EngineParams>) -> Result<(), NodeReleaseError> {
    let current = home.params_path();
    match params {
        Some(p) => {
            let bytes = p.canonical_json();
            let kept = pack_path(home, &p.hash());
            if let Some(parent) = kept.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(io(format!("creating {}", parent.display())))?;
            }
            write_atomic(&kept, &bytes, 0o644)?;
            write_atomic(&current, &bytes, 0o644)?;
        }
        None => match std::fs::remove_file(&current) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(format!("removing {}", current.display()))(e)),
        },
    }
    Ok(())
}

/// Apply a verified release (see [`verify`]): refuse one that is not newer
/// than the release in force, keep the previous pack, switch.
pub fn apply(
    home: &Home,
    release: &Release,
    release_id: &str,
    now_ms: i64,
) -> Result<(Applied, Option<Applied>), NodeReleaseError> {
    let mut state = applied_state(home)?;
    let previous = state.stack.last().cloned();
    if let Some(cur) = &previous
        && release.info.version <= cur.version
    {
        return Err(NodeReleaseError::NotNewer {
            version: release.info.version,
            current: cur.version,
        });
    }
    let mut applied = Applied {
        version: release.info.version,
        release_id: release_id.to_string(),
        params_hash: release.params.hash(),
        proposals: release.info.proposals.iter().map(|p| p.to_hex()).collect(),
        applied_at: now_ms,
        constitution: None,
        previous_constitution: None,
    };
    if let Some(docs) = &release.constitution {
        let (new, old) = install_constitution(home, docs)?;
        applied.constitution = Some(new);
        applied.previous_constitution = Some(old);
    }
    // The pack first, then the state that names it: a crash between the two
    // leaves the new pack in force and the state one step behind, which
    // `mirror release list` shows and a second apply repairs.
    put_in_force(home, Some(&release.params))?;
    state.stack.push(applied.clone());
    // Applying a release answers every rollback up to its version.
    state.rolled_back.retain(|v| *v > applied.version);
    write_json(&state_path(home), &state)?;
    Ok((applied, previous))
}

/// Go back to the pack in force before the current release (the genesis pack
/// when only one was applied). Returns what was undone and what is now in
/// force.
pub fn rollback(home: &Home) -> Result<(Applied, Option<Applied>), NodeReleaseError> {
    let mut state = applied_state(home)?;
    let Some(undone) = state.stack.pop() else {
        return Err(NodeReleaseError::Repository(
            "no release is applied: the genesis pack is in force".into(),
        ));
    };
    let now = state.stack.last().cloned();
    if let Some(previous) = &undone.previous_constitution {
        restore_constitution(home, previous)?;
    }
    match &now {
        Some(prev) => {
            let path = pack_path(home, &prev.params_hash);
            let bytes = std::fs::read(&path)
                .map_err(io(format!("reading the kept pack {}", path.display())))?;
            let params = EngineParams::from_json(&bytes).map_err(|e| {
                NodeReleaseError::Repository(format!("the kept pack {}: {e}", path.display()))
            })?;
            put_in_force(home, Some(&params))?;
        }
        None => put_in_force(home, None)?,
    }
    if !state.rolled_back.contains(&undone.version) {
        state.rolled_back.push(undone.version);
    }
    write_json(&state_path(home), &state)?;
    Ok((undone, now))
}

pub(crate) fn kept_constitution_dir(home: &Home, hash: &str) -> PathBuf {
    home.dir().join("releases").join("constitutions").join(hash)
}

pub(crate) fn write_documents(
    dir: &Path,
    docs: &BTreeMap<String, String>,
) -> Result<(), NodeReleaseError> {
    std::fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
    for (name, text) in docs {
        // Documents are flat files; a name with a separator would escape.
        if name.contains('/') || name.starts_with('.') {
            return Err(NodeReleaseError::Repository(format!(
                "document name {name:?} is not a plain file name"
            )));
        }
        write_atomic(&dir.join(name), text.as_bytes(), 0o644)?;
    }
    Ok(())
}

/// Put `dir`'s documents in place of the home's constitution: written beside
/// it, then swapped by two renames (a crash between them leaves no
/// directory, and the node falls back to the genesis compiled in, never to a
/// half-written constitution).
pub(crate) fn swap_constitution(
    home: &Home,
    docs: &BTreeMap<String, String>,
) -> Result<(), NodeReleaseError> {
    let target = home.constitution_dir();
    let fresh = home.dir().join("constitution.incoming");
    let old = home.dir().join("constitution.outgoing");
    for d in [&fresh, &old] {
        if d.exists() {
            std::fs::remove_dir_all(d).map_err(io(format!("removing {}", d.display())))?;
        }
    }
    write_documents(&fresh, docs)?;
    if target.exists() {
        std::fs::rename(&target, &old).map_err(io(format!("moving {}", target.display())))?;
    }
    std::fs::rename(&fresh, &target).map_err(io(format!("moving {}", fresh.display())))?;
    if old.exists() {
        std::fs::remove_dir_all(&old).map_err(io(format!("removing {}", old.display())))?;
    }
    Ok(())
}

/// Ratify and install an amendment's documents; returns the new and the
/// previous constitution's hashes. The previous documents are kept.
fn install_constitution(
    home: &Home,
    docs: &BTreeMap<String, String>,
) -> Result<(String, String), NodeReleaseError> {
    let new = mirror_constitution::Constitution::from_files(docs.clone())
        .map_err(|e| NodeReleaseError::Repository(format!("the amended constitution: {e}")))?;
    let new_hash = new.hash().to_hex();
    let current = home.constitution()?;
    let old_hash = current.hash().to_hex();
    let keep = kept_constitution_dir(home, &old_hash);
    if !keep.exists() {
        let files = current
            .files()
            .map(|(n, t)| (n.to_string(), t.to_string()))
            .collect();
        write_documents(&keep, &files)?;
    }
    let mut ratified: Vec<String> = home
        .ratified_constitutions()?
        .into_iter()
        .map(|h| h.to_hex())
        .collect();
    if !ratified.contains(&new_hash) {
        ratified.push(new_hash.clone());
        write_json(&home.ratified_path(), &ratified)?;
    }
    swap_constitution(home, docs)?;
    Ok((new_hash, old_hash))
}

/// Put back the constitution kept under `hash`.
fn restore_constitution(home: &Home, hash: &str) -> Result<(), NodeReleaseError> {
    let dir = kept_constitution_dir(home, hash);
    let mut docs = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).map_err(io(format!(
        "reading the kept constitution {}",
        dir.display()
    )))? {
        let entry = entry.map_err(io(format!("reading {}", dir.display())))?;
        let text = std::fs::read_to_string(entry.path())
            .map_err(io(format!("reading {}", entry.path().display())))?;
        docs.insert(entry.file_name().to_string_lossy().into_owned(), text);
    }
    swap_constitution(home, &docs)
}
