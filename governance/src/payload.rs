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
//! Typed access: [`parse`] turns a payload into its struct (running every
//! check), [`parse_any`] into an [`AnyPayload`] by kind name, and
//! [`to_payload`] turns a struct back into a payload map for signing.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::de::{self, DeserializeOwned, Deserializer};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::canonical::{self, CanonicalError};

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
        expected: Vec<&'static str>,
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

fn expected_list(expected: &[&str]) -> String {
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
    let value = T::deserialize(path_de::ValueDe::new(&root, String::new()))
        .map_err(|e| e.into_payload_error(T::KIND))?;
    value.check()?;
    Ok(value)
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

// ---------------------------------------------------------------------------
// Shared value types
// ---------------------------------------------------------------------------

/// `N` bytes written as `2N` lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Hex<const N: usize>(pub [u8; N]);

/// A blake3 hash or record id (64 hex digits).
pub type Hash = Hex<32>;
/// An ed25519 public key (64 hex digits).
pub type PublicKey = Hex<32>;
/// An ed25519 signature (128 hex digits).
pub type SignatureBytes = Hex<64>;

impl<const N: usize> Hex<N> {
    pub fn to_hex(&self) -> String {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut out = String::with_capacity(2 * N);
        for b in self.0 {
            out.push(char::from(DIGITS[usize::from(b >> 4)]));
            out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
        }
        out
    }

    /// Exactly `2N` lowercase hex digits.
    pub fn from_hex(s: &str) -> Option<Hex<N>> {
        fn digit(c: u8) -> Option<u8> {
            match c {
                b'0'..=b'9' => Some(c - b'0'),
                b'a'..=b'f' => Some(c - b'a' + 10),
                _ => None,
            }
        }
        let bytes = s.as_bytes();
        if bytes.len() != 2 * N {
            return None;
        }
        let mut out = [0u8; N];
        for (o, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
            *o = (digit(pair[0])? << 4) | digit(pair[1])?;
        }
        Some(Hex(out))
    }
}

impl<const N: usize> From<[u8; N]> for Hex<N> {
    fn from(bytes: [u8; N]) -> Self {
        Hex(bytes)
    }
}

impl<const N: usize> fmt::Display for Hex<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl<const N: usize> fmt::Debug for Hex<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hex({})", self.to_hex())
    }
}

impl<const N: usize> Serialize for Hex<N> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de, const N: usize> Deserialize<'de> for Hex<N> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct HexVisitor<const N: usize>;
        impl<const N: usize> de::Visitor<'_> for HexVisitor<N> {
            type Value = Hex<N>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{} lowercase hex digits", 2 * N)
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Hex<N>, E> {
                Hex::from_hex(s).ok_or_else(|| {
                    E::custom(format_args!("must be {} lowercase hex digits", 2 * N))
                })
            }
        }
        d.deserialize_str(HexVisitor::<N>)
    }
}

/// Deserialize a present optional field: `null` is refused rather than read
/// as absent (absent is the only spelling of "no value").
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

fn one() -> u32 {
    1
}

// ---------------------------------------------------------------------------
// genesis
// ---------------------------------------------------------------------------

/// `genesis`: the founding record of a commons. Its record id identifies the
/// commons.
///
/// Beyond the schema: `guardian_threshold` and `attestations_required` are
/// at most the number of guardians; the supermajority is more than half and
/// at most one (`d/2 < n ≤ d`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Genesis {
    /// A name for people, single line.
    pub name: String,
    /// The constitution this commons starts from
    /// (`mirror_constitution::GENESIS_HASH` for the genesis documents).
    pub constitution_hash: Hash,
    /// The guardian keys, distinct, at least one.
    pub guardians: Vec<PublicKey>,
    /// How many distinct guardians must sign (k of n).
    pub guardian_threshold: u32,
    /// How many distinct guardians' attestations admit a member (default 1).
    #[serde(default = "one")]
    pub attestations_required: u32,
    pub voting: VotingRules,
    /// The version of the guardians' TUF root at genesis; each rotation is
    /// exactly one more.
    pub root_version: u64,
}

/// How votes are counted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VotingRules {
    /// How long voting stays open, in milliseconds (1 ms to 366 days): the
    /// window every proposal gets, and with `max_period_ms` the shortest.
    pub period_ms: u64,
    /// The longest window a proposer may choose for their proposal (at
    /// least `period_ms`, at most 366 days). Absent: every window lasts
    /// exactly `period_ms` (a genesis from before this field keeps its id).
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_period_ms: Option<u64>,
    /// Approve + abstain votes needed, as a percentage (1–100) of the members
    /// when voting opens (rounded up).
    pub quorum_percent: u32,
    /// A constitutional amendment needs approve / (approve + reject) of at
    /// least numerator / denominator, e.g. 2/3.
    pub supermajority_numerator: u32,
    pub supermajority_denominator: u32,
}

impl VotingRules {
    /// Whether a proposal's voting window may last `ms`: exactly the
    /// period, or between it and the longest the genesis allows.
    pub fn window_allowed(&self, ms: u64) -> bool {
        ms >= self.period_ms && ms <= self.max_period_ms.unwrap_or(self.period_ms)
    }
}

impl Payload for Genesis {
    const KIND: &'static str = "genesis";

    fn check(&self) -> Result<(), PayloadError> {
        let c = Check(Self::KIND);
        c.text("name", &self.name, limits::NAME_CHARS, Lines::Single)?;
        c.count("guardians", self.guardians.len(), 1, limits::GUARDIANS)?;
        c.unique("guardians", &self.guardians)?;
        let n = u64::try_from(self.guardians.len()).unwrap_or(u64::MAX);
        c.int(
            "guardian_threshold",
            self.guardian_threshold.into(),
            1,
            n,
            "between 1 and the number of guardians",
        )?;
        c.int(
            "attestations_required",
            self.attestations_required.into(),
            1,
            n,
            "between 1 and the number of guardians",
        )?;
        let v = &self.voting;
        c.int(
            "voting.period_ms",
            v.period_ms,
            1,
            limits::VOTING_PERIOD_MS,
            "between 1 ms and 366 days",
        )?;
        if let Some(max) = v.max_period_ms {
            c.int(
                "voting.max_period_ms",
                max,
                v.period_ms,
                limits::VOTING_PERIOD_MS,
                "between voting.period_ms and 366 days",
            )?;
        }
        c.int(
            "voting.quorum_percent",
            v.quorum_percent.into(),
            1,
            100,
            "a percentage from 1 to 100",
        )?;
        let terms = u64::from(limits::SUPERMAJORITY_TERMS);
        c.int(
            "voting.supermajority_numerator",
            v.supermajority_numerator.into(),
            1,
            terms,
            "between 1 and 100",
        )?;
        c.int(
            "voting.supermajority_denominator",
            v.supermajority_denominator.into(),
            1,
            terms,
            "between 1 and 100",
        )?;
        let (num, den) = (v.supermajority_numerator, v.supermajority_denominator);
        if 2 * num <= den || num > den {
            return Err(c.range(
                "voting.supermajority_numerator",
                format!("{num}/{den}; must be more than half and at most one"),
            ));
        }
        c.int(
            "root_version",
            self.root_version,
            1,
            MAX_SAFE_INTEGER,
            "at least 1",
        )
    }
}

// ---------------------------------------------------------------------------
// telemetry_packet
// ---------------------------------------------------------------------------

/// `telemetry_packet`: one node's noised aggregates for one reporting
/// period, signed by a throwaway key. No content, no ids, and no time finer
/// than the period.
///
/// Beyond the schema: metric names are distinct.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetryPacket {
    /// The version of the metric registry the metrics are declared in.
    pub registry_version: u64,
    /// The reporting period's index: its start in unix milliseconds divided
    /// by the registry's period length.
    pub period: u64,
    /// At least one metric: with nothing to report, no packet is sent.
    pub metrics: Vec<Metric>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metric {
    /// As declared in the registry: a lowercase identifier (dots allowed).
    pub name: String,
    pub kind: MetricKind,
    /// Noised values: a counter has one, a rate two (events, opportunities),
    /// a histogram one per bucket.
    pub values: Vec<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricKind {
    Histogram,
    Counter,
    Rate,
}

impl Payload for TelemetryPacket {
    const KIND: &'static str = "telemetry_packet";

    fn check(&self) -> Result<(), PayloadError> {
        let c = Check(Self::KIND);
        c.int(
            "registry_version",
            self.registry_version,
            1,
            MAX_SAFE_INTEGER,
            "at least 1",
        )?;
        c.int("period", self.period, 0, MAX_SAFE_INTEGER, "a safe integer")?;
        c.count("metrics", self.metrics.len(), 1, limits::METRICS)?;
        let mut names = BTreeSet::new();
        for (i, m) in self.metrics.iter().enumerate() {
            let at = format!("metrics[{i}]");
            c.identifier(
                &format!("{at}.name"),
                &m.name,
                limits::METRIC_NAME_CHARS,
                ".",
            )?;
            if !names.insert(m.name.as_str()) {
                return Err(c.invalid(format!("{at}.name"), format!("{:?} repeats", m.name)));
            }
            let (lo, hi) = match m.kind {
                MetricKind::Counter => (1, 1),
                MetricKind::Rate => (2, 2),
                MetricKind::Histogram => (1, limits::METRIC_VALUES),
            };
            c.count(&format!("{at}.values"), m.values.len(), lo, hi)?;
            for (j, v) in m.values.iter().enumerate() {
                c.signed(&format!("{at}.values[{j}]"), *v)?;
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// evolution_proposal
// ---------------------------------------------------------------------------

/// `evolution_proposal`: a proposed change to the engine's parameters or,
/// for an amendment, to the constitution. Its record id is its content hash:
/// any change is a new proposal.
///
/// Beyond the schema: edit paths are distinct and no edit leaves its value
/// as it was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvolutionProposal {
    pub proposal_type: ProposalType,
    /// Single line, at most 200 characters.
    pub title: String,
    /// Multi-line, at most 8000 characters.
    pub description: String,
    pub change: Change,
    /// Why: findings, measurements, examples (at most 32).
    pub evidence: Vec<Evidence>,
    pub flags: Flags,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProposalType {
    PromptAdjustment,
    PatternDetection,
    TensionHeuristic,
    ConstitutionalAmendment,
    SafetyRefinement,
}

impl ProposalType {
    /// What a proposal of this type changes.
    pub fn target(self) -> ChangeTarget {
        match self {
            ProposalType::ConstitutionalAmendment => ChangeTarget::Constitution,
            _ => ChangeTarget::Params,
        }
    }
}

/// The exact change, as edits with the value before and after, so it can be
/// checked (invariants, compliance) and applied (refused when a `before`
/// no longer matches).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Change {
    /// `params` for every type but `constitutional_amendment`, which changes
    /// `constitution`.
    pub target: ChangeTarget,
    /// One to 64 edits.
    pub edits: Vec<Edit>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeTarget {
    /// The engine parameter pack ([`crate::params::EngineParams`]).
    Params,
    /// The constitution documents.
    Constitution,
}

/// One edit. For `params`, `path` is a JSON Pointer (RFC 6901) into the
/// pack's JSON form, e.g. `/patterns/rumination/rules/0/cues`, and the
/// values are any JSON. For `constitution`, `path` is a document's file name
/// (`03-what-the-mirror-may-say.md`) and the values are its whole text.
/// `before` absent: the value is added; `after` absent: it is removed; at
/// least one is present.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Edit {
    pub path: String,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub before: Option<Value>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub after: Option<Value>,
}

/// A piece of evidence: a multi-line text (at most 2000 characters) or a
/// structured object (a finding, a measurement), opaque here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged, expecting = "must be a text (string) or an object")]
pub enum Evidence {
    Text(String),
    Data(Map<String, Value>),
}

/// What the invariant checker reads (I1, I5, I6). The flags are declared by
/// the proposer; the checker also looks at the change itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Flags {
    /// The change collects data (I1: needs `user_consent_required`).
    pub data_collection: bool,
    pub user_consent_required: bool,
    /// The change removes export (I5: always a violation).
    pub removes_export: bool,
    /// The change breaks existing behaviour or data (I6: needs
    /// `migration_path`).
    pub breaking_change: bool,
    /// How people move over, multi-line, at most 2000 characters.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub migration_path: Option<String>,
}

impl Payload for EvolutionProposal {
    const KIND: &'static str = "evolution_proposal";

    fn check(&self) -> Result<(), PayloadError> {
        let c = Check(Self::KIND);
        c.text("title", &self.title, limits::TITLE_CHARS, Lines::Single)?;
        c.text(
            "description",
            &self.description,
            limits::DESCRIPTION_CHARS,
            Lines::Multi,
        )?;
        let target = self.proposal_type.target();
        if self.change.target != target {
            return Err(c.invalid(
                "change.target",
                format!("a {} changes {}", wire(&self.proposal_type), wire(&target)),
            ));
        }
        c.count("change.edits", self.change.edits.len(), 1, limits::EDITS)?;
        let mut paths = BTreeSet::new();
        for (i, edit) in self.change.edits.iter().enumerate() {
            let at = format!("change.edits[{i}]");
            let path_field = format!("{at}.path");
            c.text(
                &path_field,
                &edit.path,
                limits::EDIT_PATH_CHARS,
                Lines::Single,
            )?;
            match target {
                ChangeTarget::Params if !is_json_pointer(&edit.path) => {
                    return Err(c.invalid(
                        path_field,
                        "must be a JSON Pointer into the parameter pack, like /thresholds/max_regenerations",
                    ));
                }
                ChangeTarget::Constitution if !is_document_name(&edit.path) => {
                    return Err(c.invalid(
                        path_field,
                        "must be a constitution document's file name, like 01-core-principle.md",
                    ));
                }
                _ => {}
            }
            if !paths.insert(edit.path.as_str()) {
                return Err(c.invalid(path_field, format!("{:?} is edited twice", edit.path)));
            }
            match (&edit.before, &edit.after) {
                (None, None) => {
                    return Err(c.missing(format!("{at}.after")));
                }
                (Some(b), Some(a)) if a == b => {
                    return Err(c.invalid(format!("{at}.after"), "is the same as before"));
                }
                _ => {}
            }
            if target == ChangeTarget::Constitution {
                for (name, value) in [("before", &edit.before), ("after", &edit.after)] {
                    if value.as_ref().is_some_and(|v| !v.is_string()) {
                        return Err(c.invalid(
                            format!("{at}.{name}"),
                            "must be the document's text (a string)",
                        ));
                    }
                }
            }
        }
        c.count("evidence", self.evidence.len(), 0, limits::EVIDENCE_ITEMS)?;
        for (i, e) in self.evidence.iter().enumerate() {
            if let Evidence::Text(t) = e {
                c.text(
                    &format!("evidence[{i}]"),
                    t,
                    limits::EVIDENCE_TEXT_CHARS,
                    Lines::Multi,
                )?;
            }
        }
        if let Some(path) = &self.flags.migration_path {
            c.text(
                "flags.migration_path",
                path,
                limits::MIGRATION_PATH_CHARS,
                Lines::Multi,
            )?;
        }
        Ok(())
    }
}

fn is_json_pointer(path: &str) -> bool {
    let Some(rest) = path.strip_prefix('/') else {
        return false;
    };
    rest.split('/').all(|token| {
        !token.is_empty() && {
            let mut chars = token.chars();
            let mut ok = true;
            while let Some(c) = chars.next() {
                if c == '~' && !matches!(chars.next(), Some('0' | '1')) {
                    ok = false;
                    break;
                }
            }
            ok
        }
    })
}

fn is_document_name(path: &str) -> bool {
    let bytes = path.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 100
        && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(b))
}

// ---------------------------------------------------------------------------
// proposal_transition
// ---------------------------------------------------------------------------

/// `proposal_transition`: moves a proposal along its lifecycle.
///
/// The voting window is fixed when voting opens: a transition `to: voting`
/// carries both `voting_opens_at` and `voting_closes_at` (unix ms, closing
/// after opening); every other transition carries neither.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProposalTransition {
    /// The proposal's record id.
    pub proposal: Hash,
    pub to: ProposalState,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub voting_opens_at: Option<u64>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub voting_closes_at: Option<u64>,
}

/// draft → testing → review → voting → approved | rejected → applied, and
/// cancelled (by the proposer, before voting).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProposalState {
    Draft,
    Testing,
    Review,
    Voting,
    Approved,
    Rejected,
    Applied,
    Cancelled,
}

impl Payload for ProposalTransition {
    const KIND: &'static str = "proposal_transition";

    fn check(&self) -> Result<(), PayloadError> {
        let c = Check(Self::KIND);
        match (self.to, self.voting_opens_at, self.voting_closes_at) {
            (ProposalState::Voting, Some(opens), Some(closes)) => {
                c.int(
                    "voting_opens_at",
                    opens,
                    0,
                    MAX_SAFE_INTEGER,
                    "a safe integer",
                )?;
                c.int(
                    "voting_closes_at",
                    closes,
                    0,
                    MAX_SAFE_INTEGER,
                    "a safe integer",
                )?;
                if closes <= opens {
                    return Err(c.range(
                        "voting_closes_at",
                        format!("{closes}; must be after voting_opens_at ({opens})"),
                    ));
                }
                Ok(())
            }
            (ProposalState::Voting, None, _) => Err(c.missing("voting_opens_at")),
            (ProposalState::Voting, _, None) => Err(c.missing("voting_closes_at")),
            (_, Some(_), _) => Err(c.invalid(
                "voting_opens_at",
                "only a transition to voting fixes the voting window",
            )),
            (_, _, Some(_)) => Err(c.invalid(
                "voting_closes_at",
                "only a transition to voting fixes the voting window",
            )),
            _ => Ok(()),
        }
    }
}

// ---------------------------------------------------------------------------
// vote
// ---------------------------------------------------------------------------

/// `vote`: a member's choice on a proposal in voting. A later vote by the
/// same member inside the window replaces an earlier one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vote {
    /// The proposal's record id.
    pub proposal: Hash,
    pub choice: Choice,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Choice {
    Approve,
    Reject,
    /// Counts toward quorum only.
    Abstain,
}

impl Payload for Vote {
    const KIND: &'static str = "vote";

    fn check(&self) -> Result<(), PayloadError> {
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// guardian_signature
// ---------------------------------------------------------------------------

/// Prefixed to what a guardian signature signs, so it can never be replayed
/// as any other Mirror signature.
pub const GUARDIAN_SIGNING_DOMAIN: &str = "mirror/governance/guardian/v1\n";

/// `guardian_signature`: a guardian's signature over a content hash (an
/// amendment's proposal id, a new root's record id; releases carry their own TUF signatures). The
/// guardian is the record's author; `signature` is the author's ed25519
/// signature over [`GuardianSignature::signed_message`], so it can be
/// checked apart from the record that carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuardianSignature {
    pub target_hash: Hash,
    pub purpose: SignaturePurpose,
    pub signature: SignatureBytes,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignaturePurpose {
    Amendment,
    RootRotation,
}

impl GuardianSignature {
    /// The bytes a guardian signs: [`GUARDIAN_SIGNING_DOMAIN`], the purpose's
    /// wire name, a newline, and the target hash in lowercase hex.
    pub fn signed_message(purpose: SignaturePurpose, target_hash: &Hash) -> Vec<u8> {
        format!(
            "{GUARDIAN_SIGNING_DOMAIN}{}\n{}",
            wire(&purpose),
            target_hash.to_hex()
        )
        .into_bytes()
    }

    /// [`GuardianSignature::signed_message`] for this signature.
    pub fn message(&self) -> Vec<u8> {
        Self::signed_message(self.purpose, &self.target_hash)
    }
}

impl Payload for GuardianSignature {
    const KIND: &'static str = "guardian_signature";

    fn check(&self) -> Result<(), PayloadError> {
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// release_manifest
// ---------------------------------------------------------------------------

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

fn is_role_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= limits::ROLE_NAME_CHARS
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"._-".contains(c))
}

fn is_target_path(s: &str) -> bool {
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

// ---------------------------------------------------------------------------
// membership
// ---------------------------------------------------------------------------

/// `membership_attestation`: a guardian (the author) vouches for a member
/// key. The genesis says how many distinct guardians admit a member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MembershipAttestation {
    pub member: PublicKey,
    /// Multi-line, at most 500 characters.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub note: Option<String>,
}

impl Payload for MembershipAttestation {
    const KIND: &'static str = "membership_attestation";

    fn check(&self) -> Result<(), PayloadError> {
        let c = Check(Self::KIND);
        match &self.note {
            Some(note) => c.text("note", note, limits::NOTE_CHARS, Lines::Multi),
            None => Ok(()),
        }
    }
}

/// `membership_revocation`: a guardian (the author) removes a member key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MembershipRevocation {
    pub member: PublicKey,
    /// Multi-line, at most 500 characters.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub reason: Option<String>,
}

impl Payload for MembershipRevocation {
    const KIND: &'static str = "membership_revocation";

    fn check(&self) -> Result<(), PayloadError> {
        let c = Check(Self::KIND);
        match &self.reason {
            Some(reason) => c.text("reason", reason, limits::NOTE_CHARS, Lines::Multi),
            None => Ok(()),
        }
    }
}

// ---------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------

fn invalid(
    kind: &'static str,
    field: impl Into<String>,
    problem: impl Into<String>,
) -> PayloadError {
    PayloadError::Invalid {
        kind,
        field: field.into(),
        problem: problem.into(),
    }
}

/// `$.a.b[0]` (the canonical encoder's paths) → `a.b[0]`.
fn json_path(path: &str) -> String {
    path.strip_prefix("$.")
        .or_else(|| path.strip_prefix('$'))
        .unwrap_or(path)
        .to_string()
}

/// A closed enum's wire name.
fn wire<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(Value::String(s)) => s,
        _ => String::new(),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Lines {
    /// No control characters at all.
    Single,
    /// Only `\n` and `\t`.
    Multi,
}

/// Checks for one kind, building errors that name it.
struct Check(&'static str);

impl Check {
    fn invalid(&self, field: impl Into<String>, problem: impl Into<String>) -> PayloadError {
        invalid(self.0, field, problem)
    }

    fn range(&self, field: impl Into<String>, problem: impl Into<String>) -> PayloadError {
        PayloadError::OutOfRange {
            kind: self.0,
            field: field.into(),
            problem: problem.into(),
        }
    }

    fn missing(&self, field: impl Into<String>) -> PayloadError {
        PayloadError::MissingField {
            kind: self.0,
            field: field.into(),
        }
    }

    fn text(&self, field: &str, s: &str, max: usize, lines: Lines) -> Result<(), PayloadError> {
        let chars = s.chars().count();
        if chars == 0 || chars > max {
            return Err(self.range(field, format!("{chars} characters; must be 1 to {max}")));
        }
        let allowed = |c: char| lines == Lines::Multi && (c == '\n' || c == '\t');
        if let Some(c) = s.chars().find(|&c| c.is_control() && !allowed(c)) {
            let what = match lines {
                Lines::Single => "single-line text may not contain control characters",
                Lines::Multi => "text may not contain control characters other than \\n and \\t",
            };
            return Err(self.invalid(field, format!("{what} (found U+{:04X})", u32::from(c))));
        }
        Ok(())
    }

    /// A lowercase identifier: a letter, then letters, digits, `_` and any
    /// of `extra`.
    fn identifier(
        &self,
        field: &str,
        s: &str,
        max: usize,
        extra: &str,
    ) -> Result<(), PayloadError> {
        let mut chars = s.chars();
        let ok = s.len() <= max
            && chars.next().is_some_and(|c| c.is_ascii_lowercase())
            && chars.all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || extra.contains(c)
            });
        if ok {
            Ok(())
        } else {
            Err(self.invalid(
                field,
                format!(
                    "{s:?} is not a lowercase identifier (a letter, then letters, digits, '_'{}; at most {max})",
                    extra
                        .chars()
                        .map(|c| format!(", '{c}'"))
                        .collect::<String>()
                ),
            ))
        }
    }

    fn count(&self, field: &str, n: usize, min: usize, max: usize) -> Result<(), PayloadError> {
        if n < min || n > max {
            let want = if min == max {
                format!("exactly {min}")
            } else {
                format!("{min} to {max}")
            };
            return Err(self.range(
                field,
                format!("{n} item{}; must be {want}", if n == 1 { "" } else { "s" }),
            ));
        }
        Ok(())
    }

    fn int(&self, field: &str, v: u64, min: u64, max: u64, want: &str) -> Result<(), PayloadError> {
        if v < min || v > max {
            return Err(self.range(field, format!("{v}; must be {want}")));
        }
        Ok(())
    }

    fn signed(&self, field: &str, v: i64) -> Result<(), PayloadError> {
        if v.unsigned_abs() > MAX_SAFE_INTEGER {
            return Err(self.range(
                field,
                format!("{v}; must be a safe integer (|n| ≤ 2^53 − 1)"),
            ));
        }
        Ok(())
    }

    fn unique<T: Ord + fmt::Display>(&self, field: &str, items: &[T]) -> Result<(), PayloadError> {
        let mut seen = BTreeSet::new();
        for (i, item) in items.iter().enumerate() {
            if !seen.insert(item) {
                return Err(self.invalid(format!("{field}[{i}]"), format!("{item} repeats")));
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// A deserializer over `serde_json::Value` that knows where it is
// ---------------------------------------------------------------------------

/// Deserializes from a `Value` like `serde_json::from_value`, but every error
/// carries the path of the field it is about, and unknown and missing fields
/// stay structured rather than becoming messages.
mod path_de {
    use std::fmt;

    use serde::de::{
        self, DeserializeSeed, Deserializer, Expected, MapAccess, SeqAccess, Unexpected, Visitor,
        value::BorrowedStrDeserializer,
    };
    use serde_json::Value;

    use super::PayloadError;

    #[derive(Debug)]
    pub(super) enum Problem {
        UnknownField(Vec<&'static str>),
        MissingField(&'static str),
        OutOfRange(String),
        Invalid(String),
    }

    #[derive(Debug)]
    pub(super) struct Error {
        path: Option<String>,
        problem: Problem,
    }

    impl Error {
        fn new(problem: Problem) -> Error {
            Error {
                path: None,
                problem,
            }
        }

        /// The deepest path wins: a path is only set where none is yet.
        fn at(mut self, path: &str) -> Error {
            if self.path.is_none() {
                self.path = Some(path.to_string());
            }
            self
        }

        pub(super) fn into_payload_error(self, kind: &'static str) -> PayloadError {
            let path = self.path.unwrap_or_default();
            match self.problem {
                Problem::UnknownField(expected) => PayloadError::UnknownField {
                    kind,
                    field: path,
                    expected,
                },
                Problem::MissingField(name) => PayloadError::MissingField {
                    kind,
                    field: join(&path, name),
                },
                Problem::OutOfRange(problem) => PayloadError::OutOfRange {
                    kind,
                    field: path,
                    problem,
                },
                Problem::Invalid(problem) => PayloadError::Invalid {
                    kind,
                    field: path,
                    problem,
                },
            }
        }
    }

    impl fmt::Display for Error {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            let path = self.path.as_deref().unwrap_or("");
            match &self.problem {
                Problem::UnknownField(_) => write!(f, "{path}: unknown field"),
                Problem::MissingField(name) => write!(f, "missing field {}", join(path, name)),
                Problem::OutOfRange(p) | Problem::Invalid(p) => write!(f, "{path}: {p}"),
            }
        }
    }

    impl std::error::Error for Error {}

    impl de::Error for Error {
        fn custom<T: fmt::Display>(msg: T) -> Error {
            Error::new(Problem::Invalid(msg.to_string()))
        }

        fn invalid_type(unexp: Unexpected<'_>, exp: &dyn Expected) -> Error {
            Error::new(Problem::Invalid(format!(
                "invalid type: {}, expected {exp}",
                describe(&unexp)
            )))
        }

        fn invalid_value(unexp: Unexpected<'_>, exp: &dyn Expected) -> Error {
            match unexp {
                Unexpected::Unsigned(_) | Unexpected::Signed(_) => {
                    Error::new(Problem::OutOfRange(format!("{unexp}; expected {exp}")))
                }
                _ => Error::new(Problem::Invalid(format!(
                    "invalid value: {unexp}, expected {exp}"
                ))),
            }
        }

        fn unknown_field(_field: &str, expected: &'static [&'static str]) -> Error {
            Error::new(Problem::UnknownField(expected.to_vec()))
        }

        fn missing_field(field: &'static str) -> Error {
            Error::new(Problem::MissingField(field))
        }
    }

    pub(super) fn join(path: &str, name: &str) -> String {
        if path.is_empty() {
            name.to_string()
        } else {
            format!("{path}.{name}")
        }
    }

    /// Serde's words for what was found, in JSON's terms.
    fn describe(unexp: &Unexpected<'_>) -> String {
        match unexp {
            Unexpected::Unit => "null".into(),
            Unexpected::Seq => "an array".into(),
            Unexpected::Map => "an object".into(),
            other => other.to_string(),
        }
    }

    fn unexpected(value: &Value) -> Unexpected<'_> {
        match value {
            Value::Null => Unexpected::Unit,
            Value::Bool(b) => Unexpected::Bool(*b),
            Value::Number(n) => match (n.as_u64(), n.as_i64()) {
                (Some(u), _) => Unexpected::Unsigned(u),
                (_, Some(i)) => Unexpected::Signed(i),
                _ => Unexpected::Other("floating-point number"),
            },
            Value::String(s) => Unexpected::Str(s),
            Value::Array(_) => Unexpected::Seq,
            Value::Object(_) => Unexpected::Map,
        }
    }

    pub(super) struct ValueDe<'de> {
        value: &'de Value,
        path: String,
    }

    impl<'de> ValueDe<'de> {
        pub(super) fn new(value: &'de Value, path: String) -> ValueDe<'de> {
            ValueDe { value, path }
        }

        fn wrong_type(&self, exp: &dyn Expected) -> Error {
            // A wrong type is never "out of range", even for a number.
            Error::new(Problem::Invalid(format!(
                "invalid type: {}, expected {exp}",
                describe(&unexpected(self.value))
            )))
        }
    }

    impl<'de> Deserializer<'de> for ValueDe<'de> {
        type Error = Error;

        fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            match self.value {
                Value::Null => visitor.visit_unit(),
                Value::Bool(b) => visitor.visit_bool(*b),
                Value::Number(n) => {
                    if let Some(u) = n.as_u64() {
                        visitor.visit_u64(u)
                    } else if let Some(i) = n.as_i64() {
                        visitor.visit_i64(i)
                    } else {
                        visitor.visit_f64(n.as_f64().unwrap_or(f64::NAN))
                    }
                }
                Value::String(s) => visitor.visit_borrowed_str(s),
                Value::Array(items) => visitor.visit_seq(Seq {
                    iter: items.iter().enumerate(),
                    path: self.path,
                }),
                Value::Object(map) => visitor.visit_map(Map {
                    iter: map.iter(),
                    pending: None,
                    path: self.path,
                }),
            }
        }

        fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            match self.value {
                Value::Null => visitor.visit_none(),
                _ => visitor.visit_some(self),
            }
        }

        fn deserialize_enum<V: Visitor<'de>>(
            self,
            _name: &'static str,
            _variants: &'static [&'static str],
            visitor: V,
        ) -> Result<V::Value, Error> {
            match self.value {
                Value::String(s) => visitor.visit_enum(BorrowedStrDeserializer::<Error>::new(s)),
                _ => Err(self.wrong_type(&visitor)),
            }
        }

        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _name: &'static str,
            _fields: &'static [&'static str],
            visitor: V,
        ) -> Result<V::Value, Error> {
            self.deserialize_map(visitor)
        }

        fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            match self.value {
                Value::Object(_) => self.deserialize_any(visitor),
                _ => Err(self.wrong_type(&visitor)),
            }
        }

        fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            match self.value {
                Value::Array(_) => self.deserialize_any(visitor),
                _ => Err(self.wrong_type(&visitor)),
            }
        }

        fn deserialize_tuple<V: Visitor<'de>>(
            self,
            _len: usize,
            visitor: V,
        ) -> Result<V::Value, Error> {
            self.deserialize_seq(visitor)
        }

        fn deserialize_tuple_struct<V: Visitor<'de>>(
            self,
            _name: &'static str,
            _len: usize,
            visitor: V,
        ) -> Result<V::Value, Error> {
            self.deserialize_seq(visitor)
        }

        fn deserialize_newtype_struct<V: Visitor<'de>>(
            self,
            _name: &'static str,
            visitor: V,
        ) -> Result<V::Value, Error> {
            visitor.visit_newtype_struct(self)
        }

        fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            match self.value {
                Value::String(s) => visitor.visit_borrowed_str(s),
                _ => Err(self.wrong_type(&visitor)),
            }
        }

        fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            self.deserialize_str(visitor)
        }

        fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            match self.value {
                Value::Bool(b) => visitor.visit_bool(*b),
                _ => Err(self.wrong_type(&visitor)),
            }
        }

        serde::forward_to_deserialize_any! {
            i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char
            bytes byte_buf unit unit_struct identifier ignored_any
        }
    }

    struct Seq<'de> {
        iter: std::iter::Enumerate<std::slice::Iter<'de, Value>>,
        path: String,
    }

    impl<'de> SeqAccess<'de> for Seq<'de> {
        type Error = Error;

        fn next_element_seed<T: DeserializeSeed<'de>>(
            &mut self,
            seed: T,
        ) -> Result<Option<T::Value>, Error> {
            match self.iter.next() {
                Some((i, value)) => {
                    let path = format!("{}[{i}]", self.path);
                    seed.deserialize(ValueDe::new(value, path.clone()))
                        .map(Some)
                        .map_err(|e| e.at(&path))
                }
                None => Ok(None),
            }
        }

        fn size_hint(&self) -> Option<usize> {
            Some(self.iter.len())
        }
    }

    struct Map<'de> {
        iter: serde_json::map::Iter<'de>,
        pending: Option<(&'de str, &'de Value)>,
        path: String,
    }

    impl<'de> MapAccess<'de> for Map<'de> {
        type Error = Error;

        fn next_key_seed<K: DeserializeSeed<'de>>(
            &mut self,
            seed: K,
        ) -> Result<Option<K::Value>, Error> {
            match self.iter.next() {
                Some((key, value)) => {
                    self.pending = Some((key, value));
                    seed.deserialize(BorrowedStrDeserializer::<Error>::new(key))
                        .map(Some)
                        .map_err(|e| e.at(&join(&self.path, key)))
                }
                None => Ok(None),
            }
        }

        fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
            let Some((key, value)) = self.pending.take() else {
                return Err(de::Error::custom(
                    "a map value was asked for before its key",
                ));
            };
            let path = join(&self.path, key);
            seed.deserialize(ValueDe::new(value, path.clone()))
                .map_err(|e| e.at(&path))
        }

        fn size_hint(&self) -> Option<usize> {
            Some(self.iter.len())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            other => panic!("not an object: {other}"),
        }
    }

    fn key(b: u8) -> String {
        Hex([b; 32]).to_hex()
    }

    fn genesis() -> Value {
        json!({
            "name": "Test commons",
            "constitution_hash": key(0xcd),
            "guardians": [key(1), key(2)],
            "guardian_threshold": 2,
            "attestations_required": 1,
            "voting": {
                "period_ms": 604_800_000u64,
                "quorum_percent": 50,
                "supermajority_numerator": 2,
                "supermajority_denominator": 3
            },
            "root_version": 1
        })
    }

    fn proposal() -> Value {
        json!({
            "proposal_type": "pattern_detection",
            "title": "Notice \"should\" as a pattern",
            "description": "Adds a cue.\nEvidence below.",
            "change": {
                "target": "params",
                "edits": [{
                    "path": "/patterns/obligation/rules/0/cues",
                    "before": ["have to"],
                    "after": ["have to", "should"]
                }]
            },
            "evidence": ["seen in 12% of runs", {"finding": "f1", "rate_permille": 120}],
            "flags": {
                "data_collection": false,
                "user_consent_required": false,
                "removes_export": false,
                "breaking_change": false
            }
        })
    }

    fn samples() -> Vec<(&'static str, Value)> {
        vec![
            ("genesis", genesis()),
            (
                "telemetry_packet",
                json!({"registry_version": 1, "period": 20_000, "metrics": [
                    {"name": "compliance.fallbacks", "kind": "counter", "values": [3]},
                    {"name": "ratings", "kind": "histogram", "values": [1, 0, -2, 7, 4]},
                    {"name": "directive_rate", "kind": "rate", "values": [5, 90]}
                ]}),
            ),
            ("evolution_proposal", proposal()),
            (
                "proposal_transition",
                json!({"proposal": key(7), "to": "voting", "voting_opens_at": 1000, "voting_closes_at": 2000}),
            ),
            (
                "proposal_transition",
                json!({"proposal": key(7), "to": "cancelled"}),
            ),
            ("vote", json!({"proposal": key(7), "choice": "abstain"})),
            (
                "guardian_signature",
                json!({"target_hash": key(7), "purpose": "root_rotation", "signature": Hex([9u8; 64]).to_hex()}),
            ),
            (
                "release_manifest",
                json!({"version": 2, "previous": key(3), "proposals": [key(7)],
                       "tuf_metadata": {"timestamp": "e30=", "targets": "e30="},
                       "targets": {"params/engine.json": "eyJ2ZXJzaW9uIjoyfQ=="}}),
            ),
            (
                "membership_attestation",
                json!({"member": key(5), "note": "met at the\tworkshop"}),
            ),
            ("membership_revocation", json!({"member": key(5)})),
            (
                "release_candidate",
                json!({"version": 1, "proposals": [],
                       "tuf_metadata": {"root": "e30="}, "targets": {}}),
            ),
        ]
    }

    #[test]
    fn a_candidate_is_checked_as_a_release_and_named_as_a_candidate() {
        let e = validate(
            "release_candidate",
            &map(json!({"version": 1, "proposals": [], "tuf_metadata": {"Root": "e30="}, "targets": {}})),
        )
        .unwrap_err();
        assert_eq!(e.kind(), Some("release_candidate"));
        assert_eq!(e.field(), Some("tuf_metadata.Root"), "{e}");
        assert_eq!(
            limits::record_bytes("release_candidate"),
            limits::RELEASE_RECORD_BYTES
        );
    }

    #[test]
    fn every_sample_is_valid_and_round_trips() {
        for (kind, value) in samples() {
            let payload = map(value);
            let parsed = parse_any(kind, &payload).unwrap_or_else(|e| panic!("{kind}: {e}"));
            assert_eq!(parsed.kind(), kind);
            assert_eq!(parsed.to_payload().unwrap(), payload, "{kind}");
        }
        // The samples cover every kind.
        let kinds: BTreeSet<&str> = samples().iter().map(|(k, _)| *k).collect();
        assert_eq!(kinds, KINDS.into_iter().collect());
    }

    #[test]
    fn defaults_fill_in_and_are_written_out() {
        let g: Genesis = parse(&map(without(genesis(), "/attestations_required"))).unwrap();
        assert_eq!(g.attestations_required, 1);
        assert_eq!(to_payload(&g).unwrap()["attestations_required"], json!(1));
    }

    fn err(kind: &str, v: Value) -> PayloadError {
        match validate(kind, &map(v)) {
            Err(e) => e,
            Ok(()) => panic!("{kind} accepted"),
        }
    }

    /// `v` with the value at `pointer` replaced, or added to its object.
    fn with(mut v: Value, pointer: &str, new: Value) -> Value {
        if let Some(slot) = v.pointer_mut(pointer) {
            *slot = new;
        } else {
            let (parent, name) = pointer.rsplit_once('/').unwrap();
            v.pointer_mut(parent)
                .unwrap()
                .as_object_mut()
                .unwrap()
                .insert(name.to_string(), new);
        }
        v
    }

    fn without(mut v: Value, pointer: &str) -> Value {
        let (parent, name) = pointer.rsplit_once('/').unwrap();
        v.pointer_mut(parent)
            .unwrap()
            .as_object_mut()
            .unwrap()
            .remove(name)
            .unwrap();
        v
    }

    #[test]
    fn errors_name_kind_and_field() {
        assert_eq!(
            err("ballot", json!({})),
            PayloadError::UnknownKind("ballot".into())
        );

        let e = err(
            "vote",
            json!({"proposal": key(1), "choice": "approve", "weight": 2}),
        );
        assert!(
            matches!(&e, PayloadError::UnknownField { kind: "vote", field, expected } if field == "weight" && expected == &["proposal", "choice"]),
            "{e:?}"
        );
        assert_eq!(
            e.to_string(),
            "vote payload: unknown field `weight` (expected one of: proposal, choice)"
        );

        let e = err("genesis", with(genesis(), "/voting/extra", json!(1)));
        assert_eq!(e.field(), Some("voting.extra"), "{e:?}");
        assert!(matches!(e, PayloadError::UnknownField { .. }));

        let e = err("genesis", without(genesis(), "/voting/quorum_percent"));
        assert_eq!(
            e,
            PayloadError::MissingField {
                kind: "genesis",
                field: "voting.quorum_percent".into()
            }
        );
        let e = err("vote", json!({"proposal": key(1)}));
        assert_eq!(e.to_string(), "vote payload: missing field `choice`");

        let e = err(
            "genesis",
            with(genesis(), "/voting/quorum_percent", json!(101)),
        );
        assert!(
            matches!(&e, PayloadError::OutOfRange { field, .. } if field == "voting.quorum_percent"),
            "{e:?}"
        );
        let e = err("genesis", with(genesis(), "/guardian_threshold", json!(3)));
        assert!(
            matches!(&e, PayloadError::OutOfRange { field, .. } if field == "guardian_threshold"),
            "{e:?}"
        );
        // Too big for the type: still out of range, still named.
        let e = err(
            "genesis",
            with(genesis(), "/guardian_threshold", json!(u64::MAX)),
        );
        assert!(
            matches!(&e, PayloadError::OutOfRange { field, .. } if field == "guardian_threshold"),
            "{e:?}"
        );
        let e = err("genesis", with(genesis(), "/guardian_threshold", json!(-1)));
        assert!(matches!(e, PayloadError::OutOfRange { .. }), "{e:?}");
        let e = err("genesis", with(genesis(), "/guardians/1", json!(key(1))));
        assert_eq!(e.field(), Some("guardians[1]"));
        let e = err(
            "genesis",
            with(genesis(), "/guardians/0", json!(key(0xab).to_uppercase())),
        );
        assert!(
            matches!(&e, PayloadError::Invalid { field, problem, .. } if field == "guardians[0]" && problem.contains("lowercase hex")),
            "{e:?}"
        );
        let e = err(
            "genesis",
            with(genesis(), "/voting/supermajority_numerator", json!(1)),
        );
        assert!(matches!(e, PayloadError::OutOfRange { .. }), "{e:?}");
        let e = err("genesis", with(genesis(), "/voting", json!([1, 2, 3, 4])));
        assert!(
            matches!(&e, PayloadError::Invalid { field, .. } if field == "voting"),
            "{e:?}"
        );
        let e = err("genesis", with(genesis(), "/name", json!("two\nlines")));
        assert_eq!(e.field(), Some("name"));
        let e = err("genesis", with(genesis(), "/name", json!("")));
        assert!(matches!(e, PayloadError::OutOfRange { .. }));
    }

    #[test]
    fn nested_and_list_errors_have_paths() {
        let t = json!({"registry_version": 1, "period": 1, "metrics": [
            {"name": "a", "kind": "counter", "values": [1]},
            {"name": "b", "kind": "gauge", "values": [1]}
        ]});
        let e = err("telemetry_packet", t);
        assert_eq!(e.field(), Some("metrics[1].kind"), "{e}");
        assert!(e.to_string().contains("gauge"), "{e}");

        let t = json!({"registry_version": 1, "period": 1, "metrics": [
            {"name": "a", "kind": "rate", "values": [1]}
        ]});
        assert_eq!(
            err("telemetry_packet", t).field(),
            Some("metrics[0].values")
        );
        let t = json!({"registry_version": 1, "period": 1, "metrics": [
            {"name": "a", "kind": "counter", "values": [1]},
            {"name": "a", "kind": "counter", "values": [2]}
        ]});
        assert_eq!(err("telemetry_packet", t).field(), Some("metrics[1].name"));
        let t = json!({"registry_version": 1, "period": 1, "metrics": []});
        assert!(matches!(
            err("telemetry_packet", t),
            PayloadError::OutOfRange { .. }
        ));
        let t = json!({"registry_version": 1, "period": 1, "metrics": [
            {"name": "a", "kind": "counter", "values": [1i64 << 53]}
        ]});
        assert_eq!(
            err("telemetry_packet", t).field(),
            Some("metrics[0].values[0]")
        );
        let t = json!({"registry_version": 1, "period": 1, "metrics": [
            {"name": "a", "kind": "counter", "values": [1.5]}
        ]});
        let e = err("telemetry_packet", t);
        assert_eq!(e.field(), Some("metrics[0].values[0]"), "{e}");
        assert!(e.to_string().contains("floating"), "{e}");
    }

    #[test]
    fn optional_fields_are_absent_never_null() {
        let e = err(
            "membership_attestation",
            json!({"member": key(1), "note": null}),
        );
        assert_eq!(e.field(), Some("note"), "{e}");
        let e = err(
            "release_manifest",
            json!({"version": 1, "previous": null, "proposals": [], "tuf_metadata": {"root": "e30="}, "targets": {}}),
        );
        assert_eq!(e.field(), Some("previous"), "{e}");
    }

    #[test]
    fn proposal_rules() {
        let p = proposal();
        let e = err(
            "evolution_proposal",
            with(
                p.clone(),
                "/proposal_type",
                json!("constitutional_amendment"),
            ),
        );
        assert_eq!(e.field(), Some("change.target"), "{e}");
        let e = err(
            "evolution_proposal",
            with(
                p.clone(),
                "/change/edits/0/path",
                json!("patterns.obligation"),
            ),
        );
        assert_eq!(e.field(), Some("change.edits[0].path"), "{e}");
        let e = err(
            "evolution_proposal",
            with(p.clone(), "/change/edits/0/after", json!(["have to"])),
        );
        assert_eq!(e.field(), Some("change.edits[0].after"), "{e}");
        let e = err(
            "evolution_proposal",
            without(
                without(p.clone(), "/change/edits/0/after"),
                "/change/edits/0/before",
            ),
        );
        assert!(matches!(e, PayloadError::MissingField { .. }), "{e}");
        let e = err(
            "evolution_proposal",
            with(p.clone(), "/flags/sneaky", json!(true)),
        );
        assert_eq!(e.field(), Some("flags.sneaky"));
        let e = err(
            "evolution_proposal",
            with(p.clone(), "/evidence/1", json!(7)),
        );
        assert_eq!(e.field(), Some("evidence[1]"), "{e}");
        let e = err(
            "evolution_proposal",
            with(p.clone(), "/title", json!("x".repeat(201))),
        );
        assert!(matches!(e, PayloadError::OutOfRange { .. }), "{e}");
        // Opaque values are opaque: any JSON but floats.
        let ok = with(
            p.clone(),
            "/change/edits/0/after",
            json!({"deep": [null, {"x": true}]}),
        );
        validate("evolution_proposal", &map(ok)).unwrap();
        let big = with(
            p.clone(),
            "/change/edits/0/after",
            json!({"deep": [1, -(1i64 << 53)]}),
        );
        let e = err("evolution_proposal", big);
        assert!(
            matches!(&e, PayloadError::OutOfRange { field, .. } if field == "change.edits[0].after.deep[1]"),
            "{e:?}"
        );
        let bad = with(p.clone(), "/change/edits/0/after", json!({"deep": [0.5]}));
        assert_eq!(
            err("evolution_proposal", bad).field(),
            Some("change.edits[0].after.deep[0]")
        );
        // Adding (no before) and removing (no after) are fine; null is a value.
        validate(
            "evolution_proposal",
            &map(without(p.clone(), "/change/edits/0/before")),
        )
        .unwrap();
        validate(
            "evolution_proposal",
            &map(with(p.clone(), "/change/edits/0/after", Value::Null)),
        )
        .unwrap();

        let amendment = json!({
            "proposal_type": "constitutional_amendment",
            "title": "Clarify",
            "description": "Clarifies.",
            "change": {"target": "constitution", "edits": [
                {"path": "03-what-the-mirror-may-say.md", "before": "old", "after": "new"}
            ]},
            "evidence": [],
            "flags": {"data_collection": false, "user_consent_required": false,
                      "removes_export": false, "breaking_change": true,
                      "migration_path": "none needed"}
        });
        validate("evolution_proposal", &map(amendment.clone())).unwrap();
        let e = err(
            "evolution_proposal",
            with(amendment.clone(), "/change/edits/0/after", json!(["new"])),
        );
        assert_eq!(e.field(), Some("change.edits[0].after"));
        let e = err(
            "evolution_proposal",
            with(amendment, "/change/edits/0/path", json!("../etc/passwd")),
        );
        assert_eq!(e.field(), Some("change.edits[0].path"));
    }

    #[test]
    fn invariant_violations_are_well_formed_payloads() {
        // The invariant checker, not the schema, rejects these, so that the
        // rejection names the invariant.
        let p = with(proposal(), "/flags/removes_export", json!(true));
        let p = with(p, "/flags/data_collection", json!(true));
        let p = with(p, "/flags/breaking_change", json!(true));
        validate("evolution_proposal", &map(p)).unwrap();
    }

    #[test]
    fn transition_windows() {
        let base = json!({"proposal": key(7), "to": "voting", "voting_opens_at": 1000, "voting_closes_at": 2000});
        let e = err(
            "proposal_transition",
            with(base.clone(), "/voting_closes_at", json!(1000)),
        );
        assert_eq!(e.field(), Some("voting_closes_at"));
        let e = err(
            "proposal_transition",
            without(base.clone(), "/voting_opens_at"),
        );
        assert_eq!(
            e,
            PayloadError::MissingField {
                kind: "proposal_transition",
                field: "voting_opens_at".into()
            }
        );
        let e = err("proposal_transition", with(base, "/to", json!("review")));
        assert_eq!(e.field(), Some("voting_opens_at"));
    }

    #[test]
    fn release_rules() {
        let base =
            json!({"version": 1, "proposals": [], "tuf_metadata": {"root": "e30="}, "targets": {}});
        validate("release_manifest", &map(base.clone())).unwrap();
        let e = err("release_manifest", with(base.clone(), "/version", json!(2)));
        assert_eq!(e.field(), Some("previous"));
        let e = err(
            "release_manifest",
            with(base.clone(), "/tuf_metadata", json!({"root": "e31="})),
        );
        assert_eq!(e.field(), Some("tuf_metadata.root"), "{e}");
        let e = err(
            "release_manifest",
            with(base.clone(), "/tuf_metadata", json!({})),
        );
        assert!(matches!(e, PayloadError::OutOfRange { .. }));
        let e = err(
            "release_manifest",
            with(base.clone(), "/targets", json!({"../x": "e30="})),
        );
        assert_eq!(e.field(), Some("targets.../x"));
        let e = err(
            "release_manifest",
            with(base, "/proposals", json!([key(1), key(1)])),
        );
        assert_eq!(e.field(), Some("proposals[1]"));
    }

    #[test]
    fn base64_is_canonical_and_round_trips() {
        for bytes in [
            &b""[..],
            b"f",
            b"fo",
            b"foo",
            b"foob",
            b"fooba",
            b"foobar",
            &[0xff, 0, 0x80],
        ] {
            let s = encode_base64(bytes);
            assert_eq!(decode_base64(&s).as_deref(), Some(bytes), "{s}");
        }
        assert_eq!(encode_base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(encode_base64(b"fo"), "Zm8=");
        for bad in [
            "Zm9", "Zm9=Zm9v", "Zm9v=", "Zh==", "Zm9=", "Z===", "Zm 9", "Zm-_",
        ] {
            assert_eq!(decode_base64(bad), None, "{bad}");
        }
    }

    #[test]
    fn guardian_message_is_domain_separated() {
        let m = GuardianSignature::signed_message(SignaturePurpose::Amendment, &Hex([0xab; 32]));
        let text = String::from_utf8(m).unwrap();
        assert_eq!(
            text,
            format!(
                "mirror/governance/guardian/v1\namendment\n{}",
                "ab".repeat(32)
            )
        );
    }

    #[test]
    fn to_payload_checks_first() {
        let v = Vote {
            proposal: Hex([1; 32]),
            choice: Choice::Approve,
        };
        assert_eq!(
            to_payload(&v).unwrap(),
            map(json!({"proposal": key(1), "choice": "approve"}))
        );
        let bad = MembershipRevocation {
            member: Hex([1; 32]),
            reason: Some(String::new()),
        };
        assert!(to_payload(&bad).is_err());
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|i| json!(i)),
            any::<u64>().prop_map(|i| json!(i)),
            any::<f64>().prop_map(|f| json!(f)),
            any::<String>().prop_map(Value::String),
            "[0-9a-f]{64}".prop_map(Value::String),
            prop::sample::select(vec![
                "approve", "voting", "counter", "params", "release", "e30=", "/a/b",
            ])
            .prop_map(|s| Value::String(s.into())),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map(field_name(), inner, 0..8)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// Real field names most of the time, so the search gets past the first
    /// unknown field.
    fn field_name() -> impl Strategy<Value = String> {
        const NAMES: &[&str] = &[
            "name",
            "constitution_hash",
            "guardians",
            "guardian_threshold",
            "attestations_required",
            "voting",
            "period_ms",
            "max_period_ms",
            "quorum_percent",
            "supermajority_numerator",
            "supermajority_denominator",
            "root_version",
            "registry_version",
            "period",
            "metrics",
            "kind",
            "values",
            "proposal_type",
            "title",
            "description",
            "change",
            "target",
            "edits",
            "path",
            "before",
            "after",
            "evidence",
            "flags",
            "data_collection",
            "user_consent_required",
            "removes_export",
            "breaking_change",
            "migration_path",
            "proposal",
            "to",
            "voting_opens_at",
            "voting_closes_at",
            "choice",
            "target_hash",
            "purpose",
            "signature",
            "version",
            "previous",
            "proposals",
            "tuf_metadata",
            "targets",
            "member",
            "note",
            "reason",
        ];
        prop_oneof![
            4 => prop::sample::select(NAMES).prop_map(str::to_string),
            1 => any::<String>(),
        ]
    }

    proptest! {
        /// Whatever the map, validate answers rather than panicking, and
        /// whatever it accepts converts back to exactly the same map.
        #[test]
        fn validate_never_panics(
            kind in prop::sample::select(KINDS.iter().copied().chain(["nope"]).collect::<Vec<_>>()),
            m in prop::collection::btree_map(field_name(), arb_json(), 0..10),
        ) {
            let payload: Map<String, Value> = m.into_iter().collect();
            if let Ok(parsed) = parse_any(kind, &payload) {
                // Round trip, up to defaults filled in.
                let back = parsed.to_payload().unwrap();
                prop_assert_eq!(parse_any(kind, &back).unwrap(), parsed);
            }
        }

        /// Small mutations of valid payloads never panic either.
        #[test]
        fn mutated_samples_never_panic(
            i in 0usize..10,
            pointer_pick in any::<prop::sample::Index>(),
            replacement in arb_json(),
        ) {
            let (kind, value) = samples().swap_remove(i);
            let mut pointers = Vec::new();
            collect_pointers(&value, String::new(), &mut pointers);
            let pointer = pointer_pick.get(&pointers).clone();
            let mutated = with(value, &pointer, replacement);
            if let Value::Object(m) = mutated {
                let _ = validate(kind, &m);
            }
        }
    }

    fn collect_pointers(v: &Value, at: String, out: &mut Vec<String>) {
        out.push(at.clone());
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    collect_pointers(
                        v,
                        format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")),
                        out,
                    );
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    collect_pointers(v, format!("{at}/{i}"), out);
                }
            }
            _ => {}
        }
    }
}
