//! `release_manifest` and `release_candidate`: releases in TUF's format, carried as files, and canonical base64.

use super::*;

/// `release_manifest`: a release in The Update Framework's format, carried
/// as files: the signed TUF metadata by role and the target files, each the
/// file's exact bytes in base64 (RFC 4648, standard alphabet, padded), so
/// the hashes TUF records over those bytes still hold on every node.
///
/// Beyond the schema: `previous` is present exactly when `version` > 1 (the
/// schema checks this too), and base64 is canonical (unused bits zero).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseManifest {
    /// Increases by release; a node refuses to go back without an explicit
    /// rollback.
    pub version: u64,
    /// The previous release's record id (absent for the first release).
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub previous: Option<Hash>,
    /// The approved proposals this release applies (distinct record ids).
    pub proposals: Vec<Hash>,
    /// TUF role name (`root`, `targets`, `snapshot`, `timestamp`, or a
    /// delegated role) → that metadata file's bytes, base64. One to 16.
    pub tuf_metadata: BTreeMap<String, String>,
    /// Target path (as listed in the targets metadata, e.g.
    /// `params/engine.json`) → the file's bytes, base64. At most 64.
    pub targets: BTreeMap<String, String>,
}

impl ReleaseManifest {
    /// A role's metadata file bytes.
    pub fn metadata_bytes(&self, role: &str) -> Option<Vec<u8>> {
        decode_base64(self.tuf_metadata.get(role)?)
    }

    /// A target file's bytes.
    pub fn target_bytes(&self, path: &str) -> Option<Vec<u8>> {
        decode_base64(self.targets.get(path)?)
    }
}

impl Payload for ReleaseManifest {
    const KIND: &'static str = "release_manifest";

    fn check(&self) -> Result<(), PayloadError> {
        let c = Check(Self::KIND);
        c.int("version", self.version, 1, MAX_SAFE_INTEGER, "at least 1")?;
        match (self.version, &self.previous) {
            (1, Some(_)) => {
                return Err(c.invalid("previous", "the first release (version 1) has none"));
            }
            (v, None) if v > 1 => return Err(c.missing("previous")),
            _ => {}
        }
        c.count(
            "proposals",
            self.proposals.len(),
            0,
            limits::RELEASE_PROPOSALS,
        )?;
        c.unique("proposals", &self.proposals)?;
        c.count(
            "tuf_metadata",
            self.tuf_metadata.len(),
            1,
            limits::TUF_ROLES,
        )?;
        for (role, content) in &self.tuf_metadata {
            let at = format!("tuf_metadata.{role}");
            if !is_role_name(role) {
                return Err(c.invalid(
                    at,
                    "role names are lowercase letters, digits, '.', '_' and '-' (at most 64, starting with a letter or digit)",
                ));
            }
            if decode_base64(content).is_none() {
                return Err(c.invalid(at, "must be canonical base64 (standard alphabet, padded)"));
            }
        }
        c.count("targets", self.targets.len(), 0, limits::TARGETS)?;
        for (path, content) in &self.targets {
            let at = format!("targets.{path}");
            if !is_target_path(path) {
                return Err(c.invalid(
                    at,
                    "target paths are '/'-separated names of letters, digits, '.', '_' and '-', none starting with '.' (at most 255)",
                ));
            }
            if decode_base64(content).is_none() {
                return Err(c.invalid(at, "must be canonical base64 (standard alphabet, padded)"));
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// release_candidate
// ---------------------------------------------------------------------------

/// `release_candidate`: a release on its way to the guardians' threshold,
/// gossiped so that guardians sign it over the commons instead of passing a
/// file around. A guardian publishes the candidate again with its own
/// signatures added; the ledger merges every copy of the same release
/// (`release::content_id`), and anyone publishes the merged release as a
/// `release_manifest` once it verifies. A candidate is never installable:
/// nodes apply `release_manifest` records only. The same fields and checks
/// as [`ReleaseManifest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ReleaseCandidate(pub ReleaseManifest);

impl Payload for ReleaseCandidate {
    const KIND: &'static str = "release_candidate";

    fn check(&self) -> Result<(), PayloadError> {
        self.0.check().map_err(|e| e.as_kind(Self::KIND))
    }
}

pub(super) fn is_role_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= limits::ROLE_NAME_CHARS
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"._-".contains(c))
}

pub(super) fn is_target_path(s: &str) -> bool {
    s.len() <= limits::TARGET_PATH_CHARS
        && s.split('/').all(|seg| {
            let b = seg.as_bytes();
            !b.is_empty()
                && b[0] != b'.'
                && b.iter()
                    .all(|c| c.is_ascii_alphanumeric() || b"._-".contains(c))
        })
}

/// Canonical base64 (RFC 4648, standard alphabet, padded, unused bits
/// zero), so each byte string has exactly one text form: the `base64`
/// crate's standard engine refuses trailing bits and non-canonical padding.
pub fn decode_base64(s: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(s).ok()
}

/// The canonical base64 of `bytes` (see [`decode_base64`]).
pub fn encode_base64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
