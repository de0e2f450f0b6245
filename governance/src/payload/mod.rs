//! Record payloads: the typed content of every kind of commons record.
//!
//! A commons record (see `mirror_commons::record`) carries a JSON object as
//! its payload; this module says what that object must look like for each
//! kind, and [`validate`] is what the acceptance gate calls before it spends
//! time on a signature. The JSON Schemas in `schemas/records/` describe the
//! same shapes for other implementations; the test vectors there are checked
//! against both.
//!
//! The rules every payload keeps:
//!
//! * **Closed objects.** Unknown fields are refused, at every level (except
//!   inside the few values that are opaque by design: the `before`/`after`
//!   of a proposal's edits and structured evidence).
//! * **Integers only**, and every integer is a *safe integer*
//!   (|n| ≤ 2⁵³ − 1, [`MAX_SAFE_INTEGER`]), so any JSON implementation can
//!   read it exactly. Floats have no canonical form and are refused anywhere.
//! * **Optional fields are absent, never `null`.** A field either has a value
//!   or is left out, so one meaning has one encoding.
//! * **Hex is lowercase**: ids and hashes (blake3) and public keys (ed25519)
//!   are 64 hex digits, signatures 128.
//! * **Text is bounded** (see [`limits`]) and holds no control characters:
//!   single-line text (names, titles, paths) none at all, multi-line text
//!   (descriptions, notes) only `\n` and `\t`. Lengths count Unicode scalar
//!   values.
//!
//! Cross-field rules the JSON Schemas cannot express (a threshold no larger
//! than the guardian set, unique metric names, a voting window that closes
//! after it opens, …) are checked here and named in each type's docs.
//!
//! Each kind lives in its own module (`genesis`, `telemetry_packet`,
//! `evolution_proposal`, `proposal_transition`, `vote`,
//! `guardian_signature`, `release` for `release_manifest` and
//! `release_candidate`, `membership`); `check` holds the field checks they
//! share. Decoding errors name their field through `serde_path_to_error`.
//!
//! Typed access: [`parse`] turns a payload into its struct (running every
//! check), [`parse_any`] into an [`AnyPayload`] by kind name, and
//! [`to_payload`] turns a struct back into a payload map for signing.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::de::{self, DeserializeOwned, Deserializer};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::canonical::{self, CanonicalError};

// One module per record kind (and the shared pieces); the kinds' types
// are re-exported here, so `payload::Genesis` is the path to use.
mod check;
mod evolution_proposal;
mod genesis;
mod guardian_signature;
mod membership;
mod proposal_transition;
mod release;
mod telemetry_packet;
mod value;
mod vote;

use check::*;
pub use evolution_proposal::*;
pub use genesis::*;
pub use guardian_signature::*;
pub use membership::*;
pub use proposal_transition::*;
pub use release::*;
pub use telemetry_packet::*;
pub use value::*;
pub use vote::*;

/// The wire names of every record kind, in the order of the envelope's enum.
pub const KINDS: [&str; 10] = [
    Genesis::KIND,
    TelemetryPacket::KIND,
    EvolutionProposal::KIND,
    ProposalTransition::KIND,
    Vote::KIND,
    GuardianSignature::KIND,
    ReleaseManifest::KIND,
    MembershipAttestation::KIND,
    MembershipRevocation::KIND,
    ReleaseCandidate::KIND,
];

/// The largest integer a payload may hold (2⁵³ − 1); the smallest is its
/// negation.
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// Bounds on text and list lengths, and on whole records. The envelope's
/// size limit ([`limits::record_bytes`]) applies on top of the others.
pub mod limits {
    /// The largest record of most kinds, envelope included: every payload
    /// but a release's is a few KiB at most.
    pub const RECORD_BYTES: usize = 64 * 1024;
    /// The largest `release_manifest` record. A release carries the whole
    /// parameter pack (gzip'd) and, for an amendment, the constitution, so
    /// it grows with the pack: the genesis pack with five languages and the
    /// crisis rules makes a 74 KiB release with the constitution. 512 KiB
    /// leaves room for several times that, and is still small for the
    /// transport (gossip allows one record of the largest kind plus the
    /// Automerge change around it).
    pub const RELEASE_RECORD_BYTES: usize = 512 * 1024;
    /// The largest record of any kind: what a decoder refuses before it
    /// parses anything.
    pub const MAX_RECORD_BYTES: usize = RELEASE_RECORD_BYTES;

    /// The largest record of `kind` (a wire name), envelope included.
    pub fn record_bytes(kind: &str) -> usize {
        use super::Payload as _;
        if kind == super::ReleaseManifest::KIND || kind == super::ReleaseCandidate::KIND {
            RELEASE_RECORD_BYTES
        } else {
            RECORD_BYTES
        }
    }

    /// A commons name.
    pub const NAME_CHARS: usize = 100;
    /// A proposal title.
    pub const TITLE_CHARS: usize = 200;
    /// A proposal description.
    pub const DESCRIPTION_CHARS: usize = 8000;
    /// One piece of textual evidence.
    pub const EVIDENCE_TEXT_CHARS: usize = 2000;
    /// Pieces of evidence on one proposal.
    pub const EVIDENCE_ITEMS: usize = 32;
    /// A breaking change's migration path.
    pub const MIGRATION_PATH_CHARS: usize = 2000;
    /// Edits in one proposal's change.
    pub const EDITS: usize = 64;
    /// An edit's path (a JSON Pointer or a document name).
    pub const EDIT_PATH_CHARS: usize = 256;
    /// Guardians in a genesis.
    pub const GUARDIANS: usize = 64;
    /// Metrics in one telemetry packet.
    pub const METRICS: usize = 64;
    /// A metric name.
    pub const METRIC_NAME_CHARS: usize = 64;
    /// Values of one histogram metric.
    pub const METRIC_VALUES: usize = 64;
    /// Proposals applied by one release.
    pub const RELEASE_PROPOSALS: usize = 256;
    /// TUF metadata roles carried by one release.
    pub const TUF_ROLES: usize = 16;
    /// A TUF role name.
    pub const ROLE_NAME_CHARS: usize = 64;
    /// Target files carried by one release.
    pub const TARGETS: usize = 64;
    /// A target file's path.
    pub const TARGET_PATH_CHARS: usize = 255;
    /// A membership note or revocation reason.
    pub const NOTE_CHARS: usize = 500;
    /// The longest voting period a genesis may set: 366 days.
    pub const VOTING_PERIOD_MS: u64 = 366 * 24 * 60 * 60 * 1000;
    /// Numerator and denominator of the amendment supermajority.
    pub const SUPERMAJORITY_TERMS: u32 = 100;
}

/// Why a payload is not valid for its kind. Every variant but
/// [`PayloadError::UnknownKind`] names the kind and the field, as a path
/// (`voting.quorum_percent`, `metrics[2].values`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    #[error("unknown record kind {0:?} (known: {known})", known = KINDS.join(", "))]
    UnknownKind(String),
    #[error("{kind} payload: unknown field `{field}`{}", expected_list(.expected))]
    UnknownField {
        kind: &'static str,
        field: String,
        /// The fields allowed where it appeared.
        expected: Vec<String>,
    },
    #[error("{kind} payload: missing field `{field}`")]
    MissingField { kind: &'static str, field: String },
    #[error("{kind} payload: `{field}` is out of range: {problem}")]
    OutOfRange {
        kind: &'static str,
        field: String,
        problem: String,
    },
    #[error("{kind} payload: `{field}`: {problem}")]
    Invalid {
        kind: &'static str,
        field: String,
        problem: String,
    },
}

fn expected_list(expected: &[String]) -> String {
    if expected.is_empty() {
        String::new()
    } else {
        format!(" (expected one of: {})", expected.join(", "))
    }
}

impl PayloadError {
    /// The kind the payload was checked as, if it was a known one.
    pub fn kind(&self) -> Option<&'static str> {
        match self {
            PayloadError::UnknownKind(_) => None,
            PayloadError::UnknownField { kind, .. }
            | PayloadError::MissingField { kind, .. }
            | PayloadError::OutOfRange { kind, .. }
            | PayloadError::Invalid { kind, .. } => Some(kind),
        }
    }

    /// The same error, said of `kind` (a kind that shares another's shape).
    pub fn as_kind(self, kind: &'static str) -> PayloadError {
        match self {
            PayloadError::UnknownKind(k) => PayloadError::UnknownKind(k),
            PayloadError::UnknownField {
                field, expected, ..
            } => PayloadError::UnknownField {
                kind,
                field,
                expected,
            },
            PayloadError::MissingField { field, .. } => PayloadError::MissingField { kind, field },
            PayloadError::OutOfRange { field, problem, .. } => PayloadError::OutOfRange {
                kind,
                field,
                problem,
            },
            PayloadError::Invalid { field, problem, .. } => PayloadError::Invalid {
                kind,
                field,
                problem,
            },
        }
    }

    /// The path of the offending field, if the error names one.
    pub fn field(&self) -> Option<&str> {
        match self {
            PayloadError::UnknownKind(_) => None,
            PayloadError::UnknownField { field, .. }
            | PayloadError::MissingField { field, .. }
            | PayloadError::OutOfRange { field, .. }
            | PayloadError::Invalid { field, .. } => Some(field),
        }
    }
}

/// A payload type: one per record kind.
pub trait Payload: Serialize + DeserializeOwned {
    /// The kind's wire name.
    const KIND: &'static str;

    /// The checks beyond the payload's shape: ranges, formats, lengths and
    /// cross-field rules. [`parse`] runs them; call this before signing a
    /// payload built in code (or use [`to_payload`], which does).
    fn check(&self) -> Result<(), PayloadError>;
}

/// Check a payload for its kind: its shape, every field's type and range,
/// and the cross-field rules. This is what the gate calls.
pub fn validate(kind: &str, payload: &Map<String, Value>) -> Result<(), PayloadError> {
    parse_any(kind, payload).map(|_| ())
}

/// Parse and check a payload as `T`.
pub fn parse<T: Payload>(payload: &Map<String, Value>) -> Result<T, PayloadError> {
    // Floats and non-ASCII keys anywhere (also inside opaque values) have no
    // canonical form; refuse them first, naming where they are.
    if let Err(e) = canonical::to_vec(payload) {
        return Err(match e {
            CanonicalError::Float { path } => invalid(
                T::KIND,
                json_path(&path),
                "floating-point numbers are not allowed (integers only)",
            ),
            CanonicalError::NonAsciiKey { path, key } => invalid(
                T::KIND,
                json_path(&path),
                format!("object key {key:?} is not ASCII"),
            ),
            CanonicalError::Serialize(problem) => invalid(T::KIND, "", problem),
        });
    }
    let root = Value::Object(payload.clone());
    if let Some((path, n)) = unsafe_integer(&root) {
        return Err(PayloadError::OutOfRange {
            kind: T::KIND,
            field: path,
            problem: format!("{n}; every integer must be a safe integer (|n| ≤ 2^53 − 1)"),
        });
    }
    let value: T = serde_path_to_error::deserialize(&root)
        .map_err(|e| decode_error(T::KIND, &e.path().to_string(), &e.inner().to_string()))?;
    value.check()?;
    Ok(value)
}

/// A decoding error as a [`PayloadError`] naming its field.
///
/// `serde_path_to_error` gives the path (`metrics[2].values`, `.` for the
/// top); serde's own messages give the problem, in the forms serde's
/// `de::Error` defaults write them (`missing field `x``, `unknown field `x`,
/// expected one of `a`, `b``, `invalid value: integer `300`, expected u8`),
/// which are serde's `de::Error` defaults and so the same for every type.
fn decode_error(kind: &'static str, path: &str, message: &str) -> PayloadError {
    let path = if path == "." { "" } else { path };
    let quoted = |s: &str| -> Option<String> {
        let rest = s.strip_prefix('`')?;
        Some(rest[..rest.find('`')?].to_string())
    };
    if let Some(name) = message.strip_prefix("missing field ").and_then(quoted) {
        let field = if path.is_empty() {
            name
        } else {
            format!("{path}.{name}")
        };
        return PayloadError::MissingField { kind, field };
    }
    if message.starts_with("unknown field ") {
        // The path already ends with the unknown key.
        // "expected `a`", "expected `a` or `b`", "expected one of `a`, `b`,
        // `c`", "there are no fields": every back-quoted name after it.
        let expected = match message.split_once(", expected ") {
            Some((_, list)) => list
                .split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_string)
                .collect(),
            None => Vec::new(),
        };
        return PayloadError::UnknownField {
            kind,
            field: path.to_string(),
            expected,
        };
    }
    if message.starts_with("invalid value: integer") {
        return PayloadError::OutOfRange {
            kind,
            field: path.to_string(),
            problem: message.trim_start_matches("invalid value: ").to_string(),
        };
    }
    invalid(kind, path, message)
}

/// The first integer outside ±[`MAX_SAFE_INTEGER`], with its path.
fn unsafe_integer(value: &Value) -> Option<(String, serde_json::Number)> {
    // Paths are built on the way back up, so only for the culprit.
    fn under(prefix: String, rest: String) -> String {
        if rest.is_empty() || rest.starts_with('[') {
            prefix + &rest
        } else {
            format!("{prefix}.{rest}")
        }
    }
    match value {
        Value::Number(n) => {
            let safe = n
                .as_i64()
                .is_some_and(|i| i.unsigned_abs() <= MAX_SAFE_INTEGER);
            (!safe).then(|| (String::new(), n.clone()))
        }
        Value::Array(items) => items.iter().enumerate().find_map(|(i, v)| {
            unsafe_integer(v).map(|(rest, n)| (under(format!("[{i}]"), rest), n))
        }),
        Value::Object(map) => map
            .iter()
            .find_map(|(k, v)| unsafe_integer(v).map(|(rest, n)| (under(k.clone(), rest), n))),
        _ => None,
    }
}

/// Check `value` and turn it into a payload map, ready to sign.
pub fn to_payload<T: Payload>(value: &T) -> Result<Map<String, Value>, PayloadError> {
    value.check()?;
    match serde_json::to_value(value) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(invalid(T::KIND, "", "does not serialise to a JSON object")),
        Err(e) => Err(invalid(T::KIND, "", e.to_string())),
    }
}

/// Any kind's payload, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnyPayload {
    Genesis(Genesis),
    TelemetryPacket(TelemetryPacket),
    EvolutionProposal(EvolutionProposal),
    ProposalTransition(ProposalTransition),
    Vote(Vote),
    GuardianSignature(GuardianSignature),
    ReleaseManifest(ReleaseManifest),
    MembershipAttestation(MembershipAttestation),
    MembershipRevocation(MembershipRevocation),
    ReleaseCandidate(ReleaseCandidate),
}

impl AnyPayload {
    /// The kind's wire name.
    pub fn kind(&self) -> &'static str {
        match self {
            AnyPayload::Genesis(_) => Genesis::KIND,
            AnyPayload::TelemetryPacket(_) => TelemetryPacket::KIND,
            AnyPayload::EvolutionProposal(_) => EvolutionProposal::KIND,
            AnyPayload::ProposalTransition(_) => ProposalTransition::KIND,
            AnyPayload::Vote(_) => Vote::KIND,
            AnyPayload::GuardianSignature(_) => GuardianSignature::KIND,
            AnyPayload::ReleaseManifest(_) => ReleaseManifest::KIND,
            AnyPayload::MembershipAttestation(_) => MembershipAttestation::KIND,
            AnyPayload::MembershipRevocation(_) => MembershipRevocation::KIND,
            AnyPayload::ReleaseCandidate(_) => ReleaseCandidate::KIND,
        }
    }

    /// The payload map, ready to sign.
    pub fn to_payload(&self) -> Result<Map<String, Value>, PayloadError> {
        match self {
            AnyPayload::Genesis(p) => to_payload(p),
            AnyPayload::TelemetryPacket(p) => to_payload(p),
            AnyPayload::EvolutionProposal(p) => to_payload(p),
            AnyPayload::ProposalTransition(p) => to_payload(p),
            AnyPayload::Vote(p) => to_payload(p),
            AnyPayload::GuardianSignature(p) => to_payload(p),
            AnyPayload::ReleaseManifest(p) => to_payload(p),
            AnyPayload::MembershipAttestation(p) => to_payload(p),
            AnyPayload::MembershipRevocation(p) => to_payload(p),
            AnyPayload::ReleaseCandidate(p) => to_payload(p),
        }
    }
}

/// Parse and check a payload by its kind's wire name.
pub fn parse_any(kind: &str, payload: &Map<String, Value>) -> Result<AnyPayload, PayloadError> {
    Ok(match kind {
        Genesis::KIND => AnyPayload::Genesis(parse(payload)?),
        TelemetryPacket::KIND => AnyPayload::TelemetryPacket(parse(payload)?),
        EvolutionProposal::KIND => AnyPayload::EvolutionProposal(parse(payload)?),
        ProposalTransition::KIND => AnyPayload::ProposalTransition(parse(payload)?),
        Vote::KIND => AnyPayload::Vote(parse(payload)?),
        GuardianSignature::KIND => AnyPayload::GuardianSignature(parse(payload)?),
        ReleaseManifest::KIND => AnyPayload::ReleaseManifest(parse(payload)?),
        MembershipAttestation::KIND => AnyPayload::MembershipAttestation(parse(payload)?),
        MembershipRevocation::KIND => AnyPayload::MembershipRevocation(parse(payload)?),
        ReleaseCandidate::KIND => AnyPayload::ReleaseCandidate(parse(payload)?),
        other => return Err(PayloadError::UnknownKind(other.to_string())),
    })
}

#[cfg(test)]
mod tests;
