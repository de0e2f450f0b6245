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

/// Write `m` as a TUF repository: `metadata/<role>.json` and
/// `targets/<path>`, the exact bytes the metadata sign.
pub fn write_repository(m: &ReleaseManifest, dir: &Path) -> Result<(), NodeReleaseError> {
    let (metadata, targets) = release::files(m).ok_or_else(|| {
        NodeReleaseError::Repository("the release's base64 does not decode".into())
    })?;
    let meta_dir = dir.join("metadata");
    std::fs::create_dir_all(&meta_dir).map_err(io(format!("creating {}", meta_dir.display())))?;
    for (name, bytes) in metadata {
        let path = meta_dir.join(name);
        std::fs::write(&path, bytes).map_err(io(format!("writing {}", path.display())))?;
    }
    for (name, bytes) in targets {
        // Target paths are checked by the payload validator: '/'-separated
        // names, none starting with '.', so they stay inside `targets/`.
        let path = dir.join("targets").join(&name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(io(format!("creating {}", parent.display())))?;
        }
        std::fs::write(&path, bytes).map_err(io(format!("writing {}", path.display())))?;
    }
    Ok(())
}

/// Read a TUF repository written by any TUF tool (python-tuf, tough, this
/// node) back into a release: the four roles' files, and every target the
/// targets metadata lists. The version, previous release and proposals come
/// from the signed `mirror/release.json`.
pub fn read_repository(dir: &Path) -> Result<ReleaseManifest, NodeReleaseError> {
    let read =
        |path: PathBuf| std::fs::read(&path).map_err(io(format!("reading {}", path.display())));
    let mut tuf_metadata = BTreeMap::new();
    for role in release::ROLES {
        let bytes = read(dir.join("metadata").join(format!("{role}.json")))?;
        tuf_metadata.insert(
            role.to_string(),
            mirror_governance::payload::encode_base64(&bytes),
        );
    }
    let targets_doc: serde_json::Value =
        serde_json::from_slice(&read(dir.join("metadata/targets.json"))?)
            .map_err(|e| NodeReleaseError::Repository(format!("targets.json: {e}")))?;
    let listed = targets_doc["signed"]["targets"]
        .as_object()
        .ok_or_else(|| NodeReleaseError::Repository("targets.json lists no targets".into()))?;
    let mut targets = BTreeMap::new();
    for path in listed.keys() {
        if path
            .split('/')
            .any(|seg| seg.is_empty() || seg.starts_with('.'))
        {
            return Err(NodeReleaseError::Repository(format!(
                "target path {path:?} is not a plain relative path"
            )));
        }
        let bytes = read(dir.join("targets").join(path))?;
        targets.insert(
            path.clone(),
            mirror_governance::payload::encode_base64(&bytes),
        );
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
/// the guardian set, expiry at `now_ms`, and a full load through tough.
pub fn verify(
    m: &ReleaseManifest,
    guardians: &GuardianSet,
    now_ms: i64,
) -> Result<Release, NodeReleaseError> {
    let release = release::verify(m)?;
    release::check_guardians(&release, guardians)?;
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

/// Load the release with tough's client, trusting its root (which the
/// caller has tied to the guardians), expiry enforced; read every target.
fn load_with_tough(m: &ReleaseManifest) -> Result<(), NodeReleaseError> {
    let dir = tempfile::tempdir().map_err(io("creating a temporary directory"))?;
    write_repository(m, dir.path())?;
    let root =
        std::fs::read(dir.path().join("metadata/root.json")).map_err(io("reading root.json"))?;
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

fn pack_path(home: &Home, hash: &str) -> PathBuf {
    home.dir()
        .join("params")
        .join("packs")
        .join(format!("{hash}.json"))
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
