//! Releases in The Update Framework's format.
//!
//! A release is a small TUF repository: the four top-level roles (`root`,
//! `targets`, `snapshot`, `timestamp`), every one of them listing the
//! guardians' ed25519 keys with the guardian threshold k, and three kinds of
//! target file:
//!
//! * `mirror/release.json`: what the release is (its version, the previous
//!   release, the approved proposals it applies, the hash of the pack);
//! * `mirror/params.json.gz`: the engine parameter pack, gzip'd canonical
//!   JSON (the genesis pack with five languages and the crisis rules is
//!   several hundred KiB of JSON, tens of KiB compressed; a release record
//!   may be 512 KiB, `payload::limits::RELEASE_RECORD_BYTES`);
//! * `mirror/constitution.json.gz`, only when an amendment changes the
//!   constitution: the documents, file name → text.
//!
//! Because this is plain TUF, standard tools (python-tuf, tough) can create,
//! sign and inspect Mirror releases; the repository tests prove it both ways.
//!
//! Checking is split in two, as everywhere in this crate:
//!
//! * [`verify`] reads the release alone: the root signs itself with its own
//!   threshold and the other roles with theirs (tough's `verify_role`), the
//!   versions chain (timestamp → snapshot → targets), every target's length
//!   and sha256 match, the release description matches the record, and the
//!   pack is valid. It never looks at the clock, so the commons gate can run
//!   it and every node accepts the same releases.
//! * [`check_guardians`] ties the release's root to the commons' guardian set
//!   (the same version, only guardian ed25519 keys, at least the guardian
//!   threshold on every role). That needs the ledger.
//!
//! The root itself chains across releases as a stateful TUF client needs it
//! (one version per guardian set, the earlier ones carried as `<k>.root`):
//! see [`chain`].
//!
//! Expiry (freeze protection) and the node's own rollback protection depend
//! on the moment and the node; the node checks them, loading the release with
//! tough's repository client.
//!
//! Building and signing are here too, as pure functions over bytes: a
//! guardian signs each role's canonical `signed` part (OLPC canonical JSON,
//! as TUF prescribes), and signatures can be added in any order because the
//! snapshot and timestamp reference the roles by version only.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read as _, Write as _};

use ed25519_dalek::{Signer as _, SigningKey};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::{Digest as _, Sha256};
use tough::schema::key::Key;
use tough::schema::{Root, Signed, Snapshot, Targets, Timestamp};

use crate::ledger::GuardianSet;
use crate::params::{EngineParams, ParamsError};
use crate::payload::{Hash, Hex, PublicKey, ReleaseManifest, decode_base64, encode_base64};

pub mod chain;

pub const SPEC_VERSION: &str = "1.0.31";
pub const RELEASE_TARGET: &str = "mirror/release.json";
pub const PARAMS_TARGET: &str = "mirror/params.json.gz";
pub const CONSTITUTION_TARGET: &str = "mirror/constitution.json.gz";
pub const ROLES: [&str; 4] = ["root", "targets", "snapshot", "timestamp"];
/// What `mirror/release.json` says it is.
pub const FORMAT: &str = "mirror-release/1";
/// A compressed target never unpacks to more than this (a gzip bomb in a
/// record would otherwise cost every node that reads it).
const MAX_UNPACKED: u64 = 4 << 20;

/// The signed description of a release (`mirror/release.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseInfo {
    pub format: String,
    pub version: u64,
    pub previous: Option<Hash>,
    pub proposals: Vec<Hash>,
    /// blake3 of the pack's canonical JSON (`EngineParams::hash`).
    pub params_hash: String,
    /// blake3 of the constitution documents' canonical JSON, when the
    /// release carries them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constitution_hash: Option<String>,
}

/// A release whose signatures and files hold together.
#[derive(Debug, Clone)]
pub struct Release {
    pub info: ReleaseInfo,
    /// The version of the TUF root that signs it (the guardian set's).
    pub root_version: u64,
    /// Every role's key ids and threshold, by role.
    pub roles: BTreeMap<String, (BTreeSet<String>, u64)>,
    /// Key id → the ed25519 public key, for the keys that are ed25519.
    pub ed25519_keys: BTreeMap<String, PublicKey>,
    /// Key ids whose type is not ed25519 (never a guardian key).
    pub other_keys: BTreeSet<String>,
    /// The earlier roots it carries (see [`chain`]), by version: each one's
    /// roles (key ids, threshold) and non-ed25519 key ids.
    pub chain: BTreeMap<u64, ChainRoot>,
    /// The earliest expiry of the four roles, unix ms.
    pub expires_ms: i64,
    pub params: EngineParams,
    pub constitution: Option<BTreeMap<String, String>>,
}

/// What an earlier root in the chain trusts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainRoot {
    pub roles: BTreeMap<String, (BTreeSet<String>, u64)>,
    pub other_keys: BTreeSet<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReleaseError {
    #[error("{role} metadata: {reason}")]
    Metadata { role: String, reason: String },
    #[error("{role} metadata is not signed by enough of its keys: {reason}")]
    Signatures { role: String, reason: String },
    #[error("the metadata does not chain: {0}")]
    Chain(String),
    #[error("target {path}: {reason}")]
    Target { path: String, reason: String },
    #[error("{RELEASE_TARGET}: {0}")]
    Info(String),
    #[error("the parameter pack: {0}")]
    Params(#[from] ParamsError),
    #[error("not signed by this commons' guardians: {0}")]
    Guardians(String),
    #[error("signing: {0}")]
    Signing(String),
}

impl ReleaseError {
    /// A stable name for logs, refusals and tests.
    pub fn reason(&self) -> &'static str {
        match self {
            ReleaseError::Metadata { .. } => "release_metadata",
            ReleaseError::Signatures { .. } => "release_signatures",
            ReleaseError::Chain(_) => "release_chain",
            ReleaseError::Target { .. } => "release_target_mismatch",
            ReleaseError::Info(_) => "release_info",
            ReleaseError::Params(_) => "release_params",
            ReleaseError::Guardians(_) => "release_not_guardians",
            ReleaseError::Signing(_) => "release_signing",
        }
    }
}

/// A guardian key as TUF writes it.
pub fn tuf_key(key: &PublicKey) -> Value {
    json!({"keytype": "ed25519", "scheme": "ed25519", "keyval": {"public": key.to_hex()}})
}

/// A key's TUF key id: sha256 of its canonical JSON, hex.
pub fn key_id(key: &PublicKey) -> String {
    hex(&Sha256::digest(canonical(&tuf_key(key))))
}

/// sha256 of `bytes`, lowercase hex (as TUF lists target hashes and names
/// consistent-snapshot targets).
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// OLPC canonical JSON, the encoding TUF signs.
fn canonical(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    let mut ser =
        serde_json::Serializer::with_formatter(&mut out, olpc_cjson::CanonicalFormatter::new());
    // Serialising a Value into memory only fails for floats, which TUF
    // metadata (and ours) never holds.
    let _ = value.serialize(&mut ser);
    out
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::best());
    // Writing into a Vec cannot fail.
    let _ = enc.write_all(bytes);
    enc.finish().unwrap_or_default()
}

fn gunzip(path: &str, bytes: &[u8]) -> Result<Vec<u8>, ReleaseError> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .take(MAX_UNPACKED + 1)
        .read_to_end(&mut out)
        .map_err(|e| ReleaseError::Target {
            path: path.into(),
            reason: format!("not gzip: {e}"),
        })?;
    if out.len() as u64 > MAX_UNPACKED {
        return Err(ReleaseError::Target {
            path: path.into(),
            reason: format!("unpacks to more than {MAX_UNPACKED} bytes"),
        });
    }
    Ok(out)
}

/// The documents as the target carries them (before gzip): compact JSON,
/// file names in byte order. (Not OLPC canonical JSON, which leaves control
/// characters such as newlines unescaped and so is not JSON a reader takes.)
fn documents_json(documents: &BTreeMap<String, String>) -> Vec<u8> {
    serde_json::to_vec(documents).unwrap_or_default()
}

/// blake3 of the documents' JSON (see `documents_json`).
pub fn constitution_hash(documents: &BTreeMap<String, String>) -> String {
    blake3::hash(&documents_json(documents))
        .to_hex()
        .to_string()
}

fn expires_text(ms: i64) -> Result<String, ReleaseError> {
    let t = jiff::Timestamp::from_millisecond(ms)
        .map_err(|e| ReleaseError::Signing(format!("expiry {ms}: {e}")))?;
    Ok(t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
}

/// What a new release contains.
pub struct BuildSpec<'a> {
    pub version: u64,
    pub previous: Option<Hash>,
    pub proposals: Vec<Hash>,
    pub params: &'a EngineParams,
    pub constitution: Option<&'a BTreeMap<String, String>>,
    /// The guardian set whose root signs it.
    pub guardians: &'a GuardianSet,
    /// The guardian sets before it (any order; `Ledger::guardian_history`
    /// without its last): the roots of the chain are theirs.
    pub earlier_guardians: &'a [GuardianSet],
    /// Root files earlier releases carried ([`chain::carried_roots`]): a
    /// root they hold is reused, signatures and all, instead of re-issued.
    pub earlier_roots: &'a [Vec<u8>],
    /// When the targets, snapshot and timestamp roles expire, unix ms.
    pub expires_ms: i64,
    /// When a root no earlier release carried expires, unix ms (normally
    /// now + [`chain::ROOT_LIFETIME_MS`]).
    pub root_expires_ms: i64,
}

/// An unsigned release: each guardian then adds signatures with [`sign`].
pub fn build(spec: &BuildSpec<'_>) -> Result<ReleaseManifest, ReleaseError> {
    let expires = expires_text(spec.expires_ms)?;
    let mut targets = BTreeMap::new();
    let params_json = spec.params.canonical_json();
    targets.insert(PARAMS_TARGET.to_string(), gzip(&params_json));
    let constitution_hash = spec.constitution.map(|docs| {
        targets.insert(CONSTITUTION_TARGET.to_string(), gzip(&documents_json(docs)));
        constitution_hash(docs)
    });
    let info = ReleaseInfo {
        format: FORMAT.into(),
        version: spec.version,
        previous: spec.previous,
        proposals: spec.proposals.clone(),
        params_hash: spec.params.hash(),
        constitution_hash,
    };
    let info_json = serde_json::to_vec(&info).map_err(|e| ReleaseError::Info(e.to_string()))?;
    targets.insert(RELEASE_TARGET.to_string(), info_json);

    let listed: Map<String, Value> = targets
        .iter()
        .map(|(path, bytes)| {
            (
                path.clone(),
                json!({"length": bytes.len(), "hashes": {"sha256": hex(&Sha256::digest(bytes))}}),
            )
        })
        .collect();
    let v = spec.version;
    let targets_meta = json!({
        "_type": "targets", "spec_version": SPEC_VERSION, "version": v,
        "expires": expires, "targets": listed,
    });
    let snapshot = json!({
        "_type": "snapshot", "spec_version": SPEC_VERSION, "version": v,
        "expires": expires, "meta": {"targets.json": {"version": v}},
    });
    let timestamp = json!({
        "_type": "timestamp", "spec_version": SPEC_VERSION, "version": v,
        "expires": expires, "meta": {"snapshot.json": {"version": v}},
    });
    let unsigned = |signed: Value| -> String {
        encode_base64(
            &serde_json::to_vec(&json!({"signatures": [], "signed": signed})).unwrap_or_default(),
        )
    };
    let mut tuf_metadata: BTreeMap<String, String> = [
        ("targets", targets_meta),
        ("snapshot", snapshot),
        ("timestamp", timestamp),
    ]
    .into_iter()
    .map(|(name, signed)| (name.to_string(), unsigned(signed)))
    .collect();
    // The root of this guardian set as earlier releases carried it, else a
    // fresh one; and the roots before it, for clients that hold an older one.
    let root_expires = expires_text(spec.root_expires_ms)?;
    let root_doc = |set: &GuardianSet| -> String {
        let doc = chain::earlier(set, spec.earlier_roots).unwrap_or_else(
            || json!({"signatures": [], "signed": chain::fresh(set, &root_expires)}),
        );
        encode_base64(&serde_json::to_vec(&doc).unwrap_or_default())
    };
    let n = spec.guardians.version;
    tuf_metadata.insert("root".into(), root_doc(spec.guardians));
    for k in chain::first(n)..n {
        let set = spec
            .earlier_guardians
            .iter()
            .find(|s| s.version == k)
            .ok_or_else(|| {
                ReleaseError::Signing(format!(
                    "root version {n} chains from version {k}, whose guardian set was not given"
                ))
            })?;
        tuf_metadata.insert(chain::name(k), root_doc(set));
    }
    Ok(ReleaseManifest {
        version: spec.version,
        previous: spec.previous,
        proposals: spec.proposals.clone(),
        tuf_metadata,
        targets: targets
            .into_iter()
            .map(|(p, b)| (p, encode_base64(&b)))
            .collect(),
    })
}

/// A role's metadata file: its bytes, parsed as `T`.
fn read_role<T: serde::de::DeserializeOwned>(
    m: &ReleaseManifest,
    role: &str,
) -> Result<(T, Vec<u8>), ReleaseError> {
    let bytes = m
        .metadata_bytes(role)
        .ok_or_else(|| ReleaseError::Metadata {
            role: role.into(),
            reason: "missing".into(),
        })?;
    let parsed = serde_json::from_slice(&bytes).map_err(|e| ReleaseError::Metadata {
        role: role.into(),
        reason: e.to_string(),
    })?;
    Ok((parsed, bytes))
}

fn metadata_value(m: &ReleaseManifest, role: &str) -> Result<Value, ReleaseError> {
    Ok(read_role(m, role)?.0)
}

/// Add `key`'s signature to every role of `m` that lists it (replacing an
/// earlier signature by the same key). Returns the roles signed; none means
/// the key is not in this release's root.
pub fn sign(
    m: &ReleaseManifest,
    key: &SigningKey,
) -> Result<(ReleaseManifest, Vec<String>), ReleaseError> {
    let public = Hex(key.verifying_key().to_bytes());
    let id = key_id(&public);
    let root = metadata_value(m, "root")?;
    let lists = |doc: &Value, role: &str| {
        doc["signed"]["roles"][role]["keyids"]
            .as_array()
            .is_some_and(|ids| ids.iter().any(|k| k.as_str() == Some(&id)))
    };
    // A root is signed by its own root keys and by those of the root before
    // it (when the release carries that one).
    let root_signer = |version: u64, doc: &Value| {
        lists(doc, "root")
            || version > 1
                && metadata_value(m, &chain::name(version - 1))
                    .is_ok_and(|prev| lists(&prev, "root"))
    };
    let n = root["signed"]["version"].as_u64().unwrap_or(0);
    let mut out = m.clone();
    let mut signed_roles = Vec::new();
    for name in m.tuf_metadata.keys() {
        let mut doc = metadata_value(m, name)?;
        let may = match (name.as_str(), chain::version_of(name)) {
            ("root", _) => root_signer(n, &doc),
            (_, Some(k)) => root_signer(k, &doc),
            (role, None) => lists(&root, role),
        };
        if !may {
            continue;
        }
        let signature =
            json!({"keyid": id, "sig": hex(&key.sign(&canonical(&doc["signed"])).to_bytes())});
        let Some(sigs) = doc.get_mut("signatures").and_then(Value::as_array_mut) else {
            return Err(ReleaseError::Metadata {
                role: name.clone(),
                reason: "no signatures list".into(),
            });
        };
        // The same signature again changes nothing (a root carried from an
        // earlier release keeps its bytes).
        if !sigs.contains(&signature) {
            sigs.retain(|s| s["keyid"].as_str() != Some(&id));
            sigs.push(signature);
            let bytes =
                serde_json::to_vec(&doc).map_err(|e| ReleaseError::Signing(e.to_string()))?;
            out.tuf_metadata.insert(name.clone(), encode_base64(&bytes));
        }
        signed_roles.push(name.clone());
    }
    Ok((out, signed_roles))
}

/// What makes two copies of a release the same release, whoever signed
/// them: blake3 of the canonical JSON of its fields with every metadata file
/// reduced to its `signed` part. None if a metadata file is not JSON.
pub fn content_id(m: &ReleaseManifest) -> Option<Hash> {
    let mut metadata = Map::new();
    for name in m.tuf_metadata.keys() {
        let doc = metadata_value(m, name).ok()?;
        metadata.insert(name.clone(), doc.get("signed")?.clone());
    }
    let whole = json!({
        "version": m.version,
        "previous": m.previous,
        "proposals": m.proposals,
        "metadata": metadata,
        "targets": m.targets,
    });
    Some(Hex(*blake3::hash(&canonical(&whole)).as_bytes()))
}

/// Every ed25519 key the roots `m` carries list, by key id.
fn root_keys(m: &ReleaseManifest) -> BTreeMap<String, ed25519_dalek::VerifyingKey> {
    let mut keys = BTreeMap::new();
    for name in m.tuf_metadata.keys() {
        if name != "root" && chain::version_of(name).is_none() {
            continue;
        }
        let Ok(doc) = metadata_value(m, name) else {
            continue;
        };
        let Some(listed) = doc["signed"]["keys"].as_object() else {
            continue;
        };
        for (id, key) in listed {
            if key["keytype"] != "ed25519" {
                continue;
            }
            let public = key["keyval"]["public"]
                .as_str()
                .and_then(Hex::<32>::from_hex)
                .and_then(|h| ed25519_dalek::VerifyingKey::from_bytes(&h.0).ok());
            if let Some(public) = public {
                keys.insert(id.clone(), public);
            }
        }
    }
    keys
}

/// The signatures of a metadata document that verify under `keys`, by key
/// id (strictly: small-order keys and non-canonical signatures refused).
fn valid_signatures(
    doc: &Value,
    keys: &BTreeMap<String, ed25519_dalek::VerifyingKey>,
) -> BTreeMap<String, Value> {
    let message = canonical(&doc["signed"]);
    let mut out = BTreeMap::new();
    for s in doc["signatures"].as_array().into_iter().flatten() {
        let (Some(id), Some(sig)) = (s["keyid"].as_str(), s["sig"].as_str()) else {
            continue;
        };
        let Some(key) = keys.get(id) else {
            continue;
        };
        let Some(sig) = Hex::<64>::from_hex(sig) else {
            continue;
        };
        let sig = ed25519_dalek::Signature::from_bytes(&sig.0);
        if key.verify_strict(&message, &sig).is_ok() {
            out.entry(id.to_string()).or_insert_with(|| s.clone());
        }
    }
    out
}

/// `into` with the valid signatures of `from` (the same release, by
/// [`content_id`]) added, so that guardians who signed separate copies
/// count together. Signatures that do not verify are left out, so a forged
/// copy cannot crowd out a real signature.
pub fn merge_signatures(
    into: &ReleaseManifest,
    from: &ReleaseManifest,
) -> Result<ReleaseManifest, ReleaseError> {
    if content_id(into).is_none() || content_id(into) != content_id(from) {
        return Err(ReleaseError::Signing(
            "the two copies are not the same release".into(),
        ));
    }
    let keys = root_keys(into);
    let mut out = into.clone();
    for name in into.tuf_metadata.keys() {
        let mut doc = metadata_value(into, name)?;
        let mut valid = valid_signatures(&doc, &keys);
        for (id, s) in valid_signatures(&metadata_value(from, name)?, &keys) {
            valid.entry(id).or_insert(s);
        }
        doc["signatures"] = Value::Array(valid.into_values().collect());
        let bytes = serde_json::to_vec(&doc).map_err(|e| ReleaseError::Signing(e.to_string()))?;
        out.tuf_metadata.insert(name.clone(), encode_base64(&bytes));
    }
    Ok(out)
}

/// Who has validly signed each metadata file of `m`, by role name.
pub fn signers(m: &ReleaseManifest) -> BTreeMap<String, BTreeSet<PublicKey>> {
    let keys = root_keys(m);
    m.tuf_metadata
        .keys()
        .filter_map(|name| {
            let doc = metadata_value(m, name).ok()?;
            let who = valid_signatures(&doc, &keys)
                .keys()
                .filter_map(|id| keys.get(id).map(|k| Hex(k.to_bytes())))
                .collect();
            Some((name.clone(), who))
        })
        .collect()
}

fn parse<T: serde::de::DeserializeOwned>(
    m: &ReleaseManifest,
    role: &str,
) -> Result<(Signed<T>, Vec<u8>), ReleaseError> {
    read_role(m, role)
}

fn signatures(role: &str, r: Result<(), tough::schema::Error>) -> Result<(), ReleaseError> {
    r.map_err(|e| ReleaseError::Signatures {
        role: role.into(),
        reason: e.to_string(),
    })
}

/// Check a release by itself (see the module docs): signatures under its
/// own root, the version chain, every target file, the description and the
/// pack. Time-independent.
pub fn verify(m: &ReleaseManifest) -> Result<Release, ReleaseError> {
    verify_with(m, true)
}

/// A release candidate as the gate checks it by itself: everything
/// [`verify`] checks but the signature thresholds (a candidate is gathering
/// them), and its author's key has signed it under its own root, so a
/// candidate is always some root key holder's.
pub fn verify_candidate(m: &ReleaseManifest, author: &PublicKey) -> Result<(), ReleaseError> {
    verify_with(m, false)?;
    if !signers(m).values().any(|keys| keys.contains(author)) {
        return Err(ReleaseError::Signatures {
            role: "any".into(),
            reason: "a candidate carries its author's signature, under a key its root lists".into(),
        });
    }
    Ok(())
}

fn verify_with(m: &ReleaseManifest, thresholds: bool) -> Result<Release, ReleaseError> {
    // Without thresholds (a candidate), signature counts are not checked.
    let signatures = |role: &str, r: Result<(), tough::schema::Error>| {
        if thresholds {
            signatures(role, r)
        } else {
            Ok(())
        }
    };
    if let Some(extra) = m
        .tuf_metadata
        .keys()
        .find(|r| !ROLES.contains(&r.as_str()) && chain::version_of(r).is_none())
    {
        return Err(ReleaseError::Metadata {
            role: extra.clone(),
            reason:
                "a Mirror release has the four top-level roles and earlier roots (<k>.root) only"
                    .into(),
        });
    }
    let (root, _) = parse::<Root>(m, "root")?;
    let (targets, targets_bytes) = parse::<Targets>(m, "targets")?;
    let (snapshot, snapshot_bytes) = parse::<Snapshot>(m, "snapshot")?;
    let (timestamp, _) = parse::<Timestamp>(m, "timestamp")?;
    signatures("root", root.signed.verify_role(&root))?;
    signatures("targets", root.signed.verify_role(&targets))?;
    signatures("snapshot", root.signed.verify_role(&snapshot))?;
    signatures("timestamp", root.signed.verify_role(&timestamp))?;
    let chain_roots = verify_chain(m, &root, thresholds)?;
    if targets.signed.delegations.is_some() {
        return Err(ReleaseError::Metadata {
            role: "targets".into(),
            reason: "a Mirror release has no delegations".into(),
        });
    }

    // timestamp → snapshot → targets, by version (and by hash when given).
    let chain = |from: &str,
                 meta: &std::collections::HashMap<String, tough::schema::Metafile>,
                 name: &str,
                 version: u64,
                 bytes: &[u8]| {
        let Some(entry) = meta.get(name) else {
            return Err(ReleaseError::Chain(format!("{from} does not list {name}")));
        };
        if entry.version.get() != version {
            return Err(ReleaseError::Chain(format!(
                "{from} lists {name} version {}, but it is version {version}",
                entry.version
            )));
        }
        if let Some(h) = &entry.hashes
            && h.sha256.as_ref() != Sha256::digest(bytes).as_slice()
        {
            return Err(ReleaseError::Chain(format!(
                "{name} does not match the hash {from} lists"
            )));
        }
        if entry.length.is_some_and(|l| l != bytes.len() as u64) {
            return Err(ReleaseError::Chain(format!(
                "{name} does not have the length {from} lists"
            )));
        }
        Ok(())
    };
    chain(
        "timestamp",
        &timestamp.signed.meta,
        "snapshot.json",
        snapshot.signed.version.get(),
        &snapshot_bytes,
    )?;
    chain(
        "snapshot",
        &snapshot.signed.meta,
        "targets.json",
        targets.signed.version.get(),
        &targets_bytes,
    )?;

    // Exactly the listed files, each with its length and sha256.
    let listed: BTreeMap<&str, &tough::schema::Target> = targets
        .signed
        .targets
        .iter()
        .map(|(name, t)| (name.raw(), t))
        .collect();
    for path in m.targets.keys() {
        if !listed.contains_key(path.as_str()) {
            return Err(ReleaseError::Target {
                path: path.clone(),
                reason: "carried but not listed in the targets metadata".into(),
            });
        }
    }
    let mut files = BTreeMap::new();
    for (path, target) in &listed {
        let bytes = m.target_bytes(path).ok_or_else(|| ReleaseError::Target {
            path: path.to_string(),
            reason: "listed but not carried".into(),
        })?;
        if bytes.len() as u64 != target.length {
            return Err(ReleaseError::Target {
                path: path.to_string(),
                reason: format!("{} bytes, the metadata says {}", bytes.len(), target.length),
            });
        }
        if target.hashes.sha256.as_ref() != Sha256::digest(&bytes).as_slice() {
            return Err(ReleaseError::Target {
                path: path.to_string(),
                reason: "its sha256 is not the one signed".into(),
            });
        }
        files.insert(path.to_string(), bytes);
    }

    let info_bytes = files
        .get(RELEASE_TARGET)
        .ok_or_else(|| ReleaseError::Info("missing".into()))?;
    let info: ReleaseInfo =
        serde_json::from_slice(info_bytes).map_err(|e| ReleaseError::Info(e.to_string()))?;
    if info.format != FORMAT {
        return Err(ReleaseError::Info(format!(
            "format {:?}, expected {FORMAT:?}",
            info.format
        )));
    }
    if info.version != m.version || info.previous != m.previous || info.proposals != m.proposals {
        return Err(ReleaseError::Info(
            "the record's version, previous release or proposals differ from the signed ones"
                .into(),
        ));
    }
    if targets.signed.version.get() != info.version {
        return Err(ReleaseError::Chain(format!(
            "targets version {} is not the release version {}",
            targets.signed.version, info.version
        )));
    }
    let params_gz = files
        .get(PARAMS_TARGET)
        .ok_or_else(|| ReleaseError::Target {
            path: PARAMS_TARGET.into(),
            reason: "missing".into(),
        })?;
    let params = EngineParams::from_json(&gunzip(PARAMS_TARGET, params_gz)?)?;
    if params.hash() != info.params_hash {
        return Err(ReleaseError::Info(
            "the pack's hash is not params_hash".into(),
        ));
    }
    let constitution = match (files.get(CONSTITUTION_TARGET), &info.constitution_hash) {
        (None, None) => None,
        (Some(gz), Some(expected)) => {
            let docs: BTreeMap<String, String> =
                serde_json::from_slice(&gunzip(CONSTITUTION_TARGET, gz)?).map_err(|e| {
                    ReleaseError::Target {
                        path: CONSTITUTION_TARGET.into(),
                        reason: e.to_string(),
                    }
                })?;
            if constitution_hash(&docs) != *expected {
                return Err(ReleaseError::Info(
                    "the documents' hash is not constitution_hash".into(),
                ));
            }
            Some(docs)
        }
        _ => {
            return Err(ReleaseError::Info(
                "constitution_hash and the constitution target come together".into(),
            ));
        }
    };

    let (roles, ed25519_keys, other_keys) = trust_of(&root);
    let expires_ms = [
        root.signed.expires,
        targets.signed.expires,
        snapshot.signed.expires,
        timestamp.signed.expires,
    ]
    .iter()
    .map(|t| t.as_millisecond())
    .min()
    .unwrap_or(i64::MIN);
    Ok(Release {
        info,
        root_version: root.signed.version.get(),
        roles,
        ed25519_keys,
        other_keys,
        chain: chain_roots,
        expires_ms,
        params,
        constitution,
    })
}

/// The roots before `root` that `m` carries, checked as a TUF client walks
/// them: versions `chain::first(N)` to N-1 all there, each signed by its own
/// root threshold and by the one before it's, and `root` by the last one's.
fn verify_chain(
    m: &ReleaseManifest,
    root: &Signed<Root>,
    thresholds: bool,
) -> Result<BTreeMap<u64, ChainRoot>, ReleaseError> {
    let signatures = |role: &str, r: Result<(), tough::schema::Error>| {
        if thresholds {
            signatures(role, r)
        } else {
            Ok(())
        }
    };
    let n = root.signed.version.get();
    let mut roots: BTreeMap<u64, Signed<Root>> = BTreeMap::new();
    for name in m.tuf_metadata.keys() {
        let Some(k) = chain::version_of(name) else {
            continue;
        };
        let (r, _) = parse::<Root>(m, name)?;
        if r.signed.version.get() != k {
            return Err(ReleaseError::Metadata {
                role: name.clone(),
                reason: format!("holds root version {}", r.signed.version),
            });
        }
        roots.insert(k, r);
    }
    let carried: Vec<u64> = roots.keys().copied().collect();
    let expected: Vec<u64> = (chain::first(n)..n).collect();
    if carried != expected {
        return Err(ReleaseError::Chain(format!(
            "root version {n} must come with the roots before it ({}), it carries {}",
            versions_text(&expected),
            versions_text(&carried)
        )));
    }
    let mut previous: Option<(String, &Signed<Root>)> = None;
    for (k, r) in &roots {
        let name = chain::name(*k);
        signatures(&name, r.signed.verify_role(r))?;
        if let Some((prev_name, prev)) = &previous {
            signatures(
                &format!("{name} (by {prev_name}'s keys)"),
                prev.signed.verify_role(r),
            )?;
        }
        previous = Some((name, r));
    }
    if let Some((prev_name, prev)) = &previous {
        signatures(
            &format!("root (by {prev_name}'s keys)"),
            prev.signed.verify_role(root),
        )?;
    }
    Ok(roots
        .iter()
        .map(|(k, r)| {
            let (roles, _, other_keys) = trust_of(r);
            (*k, ChainRoot { roles, other_keys })
        })
        .collect())
}

fn versions_text(v: &[u64]) -> String {
    match (v.first(), v.last()) {
        (Some(a), Some(b)) if a == b => format!("version {a}"),
        (Some(a), Some(b)) => format!("versions {a} to {b}"),
        _ => "none".into(),
    }
}

type Roles = BTreeMap<String, (BTreeSet<String>, u64)>;

/// A root's roles, its ed25519 keys and the ids of its other keys.
fn trust_of(root: &Signed<Root>) -> (Roles, BTreeMap<String, PublicKey>, BTreeSet<String>) {
    let mut ed25519_keys = BTreeMap::new();
    let mut other_keys = BTreeSet::new();
    for (id, key) in &root.signed.keys {
        let id = hex(id.as_ref());
        match key {
            Key::Ed25519 { keyval, .. } => match <[u8; 32]>::try_from(keyval.public.as_ref()) {
                Ok(bytes) => {
                    ed25519_keys.insert(id, Hex(bytes));
                }
                Err(_) => {
                    other_keys.insert(id);
                }
            },
            _ => {
                other_keys.insert(id);
            }
        }
    }
    let roles = root
        .signed
        .roles
        .iter()
        .map(|(role, keys)| {
            (
                role.to_string(),
                (
                    keys.keyids.iter().map(|k| hex(k.as_ref())).collect(),
                    keys.threshold.get(),
                ),
            )
        })
        .collect();
    (roles, ed25519_keys, other_keys)
}

/// Whether `release`'s root is the guardian set's: the same root version,
/// only the guardians' ed25519 keys, and at least their threshold on every
/// top-level role.
pub fn check_guardians(release: &Release, guardians: &GuardianSet) -> Result<(), ReleaseError> {
    if release.root_version != guardians.version {
        return Err(ReleaseError::Guardians(format!(
            "root version {}, the guardian set is version {}",
            release.root_version, guardians.version
        )));
    }
    check_roles("", &release.roles, &release.other_keys, guardians)
}

/// Whether every earlier root `release` carries is the guardian set of its
/// version in `history` (the ledger's `guardian_history`), as
/// [`check_guardians`] holds the current one to.
pub fn check_chain(release: &Release, history: &[GuardianSet]) -> Result<(), ReleaseError> {
    for (k, r) in &release.chain {
        let Some(set) = history.iter().find(|s| s.version == *k) else {
            return Err(ReleaseError::Guardians(format!(
                "it carries root version {k}, and this commons has no guardian set of that version"
            )));
        };
        check_roles(&format!("root version {k}: "), &r.roles, &r.other_keys, set)?;
    }
    Ok(())
}

fn check_roles(
    at: &str,
    roles: &Roles,
    other_keys: &BTreeSet<String>,
    guardians: &GuardianSet,
) -> Result<(), ReleaseError> {
    let fail = |m: String| Err(ReleaseError::Guardians(format!("{at}{m}")));
    let guardian_ids: BTreeSet<String> = guardians.keys.iter().map(key_id).collect();
    for role in ROLES {
        let Some((ids, threshold)) = roles.get(role) else {
            return fail(format!("the root has no {role} role"));
        };
        if let Some(id) = ids.iter().find(|id| other_keys.contains(*id)) {
            return fail(format!(
                "{role} lists key {id}, which is not an ed25519 key"
            ));
        }
        if let Some(id) = ids.iter().find(|id| !guardian_ids.contains(*id)) {
            return fail(format!("{role} lists key {id}, which is not a guardian's"));
        }
        if *threshold < u64::from(guardians.threshold) {
            return fail(format!(
                "{role} needs {threshold} signature(s), the guardians' threshold is {}",
                guardians.threshold
            ));
        }
    }
    Ok(())
}

/// File name (or target path) → bytes.
pub type Files = BTreeMap<String, Vec<u8>>;

/// The files of `m` as a TUF repository holds them: `<role>.json` metadata
/// and the targets by path (None if its base64 does not decode).
pub fn files(m: &ReleaseManifest) -> Option<(Files, Files)> {
    let metadata = m
        .tuf_metadata
        .iter()
        .map(|(role, b64)| Some((format!("{role}.json"), decode_base64(b64)?)))
        .collect::<Option<_>>()?;
    let targets = m
        .targets
        .iter()
        .map(|(path, b64)| Some((path.clone(), decode_base64(b64)?)))
        .collect::<Option<_>>()?;
    Some((metadata, targets))
}
