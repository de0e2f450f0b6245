//! The record envelope: one shape for everything the commons carries.
//!
//! A record on the wire is the canonical JSON (see
//! [`mirror_governance::canonical`]) of
//!
//! ```json
//! {"author":"<64 hex>","created_at":<unix ms>,"kind":"vote",
//!  "payload":{…},"signature":"<128 hex>","version":1}
//! ```
//!
//! The signature is ed25519 by `author` over [`SIGNING_DOMAIN`] followed by
//! the canonical JSON of the same object without `signature`. The record id
//! is blake3 of the whole canonical record, signature included, so a record
//! has exactly one id and exactly one byte form: a decoder refuses any bytes
//! that are not already canonical, which is what lets every node, and any
//! second implementation, agree on ids without agreeing on a JSON library.
//!
//! Anonymous kinds (telemetry) are signed by a fresh key per record: the
//! signature still proves the bytes were not altered in transit, and the key
//! says nothing about who sent them.

use std::fmt;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use mirror_governance::canonical;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Records of every kind but a release are at most this large.
pub const MAX_RECORD_BYTES: usize = mirror_governance::payload::limits::RECORD_BYTES;
/// Records larger than this (the largest kind's limit) are refused before
/// anything else is looked at; each kind's own limit
/// ([`Kind::max_bytes`]) is checked once the kind is known.
pub const MAX_ANY_RECORD_BYTES: usize = mirror_governance::payload::limits::MAX_RECORD_BYTES;
/// The only envelope format version so far.
pub const FORMAT_VERSION: u32 = 1;
/// Prefixed to the signed bytes so a record signature can never be replayed
/// as a signature over anything else Mirror signs.
pub const SIGNING_DOMAIN: &[u8] = b"mirror/commons/record/v1\n";

/// What a record is. The wire names are the snake_case forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Genesis,
    TelemetryPacket,
    EvolutionProposal,
    ProposalTransition,
    Vote,
    GuardianSignature,
    ReleaseManifest,
    MembershipAttestation,
    MembershipRevocation,
    ReleaseCandidate,
}

impl Kind {
    pub const ALL: [Kind; 10] = [
        Kind::Genesis,
        Kind::TelemetryPacket,
        Kind::EvolutionProposal,
        Kind::ProposalTransition,
        Kind::Vote,
        Kind::GuardianSignature,
        Kind::ReleaseManifest,
        Kind::MembershipAttestation,
        Kind::MembershipRevocation,
        Kind::ReleaseCandidate,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Genesis => "genesis",
            Kind::TelemetryPacket => "telemetry_packet",
            Kind::EvolutionProposal => "evolution_proposal",
            Kind::ProposalTransition => "proposal_transition",
            Kind::Vote => "vote",
            Kind::GuardianSignature => "guardian_signature",
            Kind::ReleaseManifest => "release_manifest",
            Kind::MembershipAttestation => "membership_attestation",
            Kind::MembershipRevocation => "membership_revocation",
            Kind::ReleaseCandidate => "release_candidate",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// A stable small number for the store's index (the position in
    /// [`Kind::ALL`], which only ever grows at the end).
    pub fn number(self) -> u8 {
        Kind::ALL
            .iter()
            .position(|k| *k == self)
            .map_or(u8::MAX, |i| i as u8)
    }

    pub fn from_number(n: u8) -> Option<Kind> {
        Kind::ALL.get(usize::from(n)).copied()
    }

    /// The largest record of this kind, envelope included (one source of
    /// truth: the governance crate's limits, which the schemas mirror).
    pub fn max_bytes(self) -> usize {
        mirror_governance::payload::limits::record_bytes(self.as_str())
    }

    /// Telemetry is signed by a throwaway key and expires with its epoch.
    pub fn is_anonymous(self) -> bool {
        matches!(self, Kind::TelemetryPacket)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The ed25519 group order L, little-endian.
const GROUP_ORDER: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

/// Whether a signature's S (its last 32 bytes, little-endian) is below L.
fn s_is_reduced(signature: &[u8; 64]) -> bool {
    for i in (0..32).rev() {
        let (s, l) = (signature[32 + i], GROUP_ORDER[i]);
        if s != l {
            return s < l;
        }
    }
    false
}

/// blake3 of a record's canonical bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordId(pub [u8; 32]);

impl RecordId {
    pub fn of(bytes: &[u8]) -> RecordId {
        RecordId(*blake3::hash(bytes).as_bytes())
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn from_hex(s: &str) -> Option<RecordId> {
        if s.len() != 64 || s.bytes().any(|b| b.is_ascii_uppercase()) {
            return None;
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).ok()?;
        Some(RecordId(out))
    }
}

impl fmt::Display for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RecordId({})", &self.to_hex()[..16])
    }
}

/// Why bytes are not a well-formed record. Each names what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("record is {size} bytes; the limit is {limit}")]
    TooLarge { size: usize, limit: usize },
    #[error("record is not JSON: {0}")]
    NotJson(String),
    #[error("record bytes are not in canonical form (sorted keys, no whitespace, integers only)")]
    NotCanonical,
    #[error(
        "record field {path}: a number written with a fraction or an exponent (integers only, even 1.0 is refused)"
    )]
    NotInteger { path: String },
    #[error("record field `{field}`: {problem}")]
    Field {
        field: &'static str,
        problem: String,
    },
    #[error("unknown record kind {0:?}")]
    UnknownKind(String),
    #[error("record format version {0} is not supported (this node speaks {FORMAT_VERSION})")]
    UnsupportedVersion(u64),
    #[error("signature does not verify for the author key")]
    BadSignature,
    #[error("payload cannot be encoded canonically: {0}")]
    Payload(String),
}

/// A decoded, well-formed record whose signature has not been checked yet
/// (the gate checks signatures in batches).
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub kind: Kind,
    pub version: u32,
    pub author: [u8; 32],
    pub created_at: i64,
    pub payload: Map<String, Value>,
    pub signature: [u8; 64],
    /// The canonical bytes this record was decoded from or encoded to.
    bytes: Vec<u8>,
    id: RecordId,
}

impl Record {
    /// Build and sign a record.
    pub fn sign(
        kind: Kind,
        created_at: i64,
        payload: Map<String, Value>,
        key: &SigningKey,
    ) -> Result<Record, RecordError> {
        let author = key.verifying_key().to_bytes();
        let unsigned = unsigned_value(kind, FORMAT_VERSION, &author, created_at, &payload);
        let message = signing_bytes(&unsigned)?;
        let signature = key.sign(&message).to_bytes();
        let mut full = unsigned;
        full.insert("signature".into(), Value::String(hex::encode(signature)));
        let bytes = canonical::to_vec(&Value::Object(full))
            .map_err(|e| RecordError::Payload(e.to_string()))?;
        Ok(Record {
            kind,
            version: FORMAT_VERSION,
            author,
            created_at,
            payload,
            signature,
            id: RecordId::of(&bytes),
            bytes,
        })
    }

    /// Parse wire bytes: size, JSON, canonical form and every field's shape.
    /// Does not check the signature (see [`Record::verify_signature`]).
    pub fn decode(bytes: &[u8]) -> Result<Record, RecordError> {
        if bytes.len() > MAX_ANY_RECORD_BYTES {
            return Err(RecordError::TooLarge {
                size: bytes.len(),
                limit: MAX_ANY_RECORD_BYTES,
            });
        }
        let value: Value =
            serde_json::from_slice(bytes).map_err(|e| RecordError::NotJson(e.to_string()))?;
        let canonical_form = canonical::to_vec(&value).map_err(|e| match e {
            canonical::CanonicalError::Float { path } => RecordError::NotInteger { path },
            _ => RecordError::NotCanonical,
        })?;
        if canonical_form != bytes {
            return Err(RecordError::NotCanonical);
        }
        let Value::Object(mut map) = value else {
            return Err(RecordError::Field {
                field: "record",
                problem: "must be a JSON object".into(),
            });
        };
        const FIELDS: [&str; 6] = [
            "author",
            "created_at",
            "kind",
            "payload",
            "signature",
            "version",
        ];
        if let Some(extra) = map.keys().find(|k| !FIELDS.contains(&k.as_str())) {
            return Err(RecordError::Field {
                field: "record",
                problem: format!("unknown field {extra:?}"),
            });
        }
        let version = match map.get("version") {
            Some(Value::Number(n)) => n.as_u64().ok_or_else(|| field("version", "not a u32"))?,
            _ => return Err(field("version", "missing or not a number")),
        };
        if version != u64::from(FORMAT_VERSION) {
            return Err(RecordError::UnsupportedVersion(version));
        }
        let kind = match map.get("kind") {
            Some(Value::String(s)) => {
                Kind::parse(s).ok_or_else(|| RecordError::UnknownKind(s.clone()))?
            }
            _ => return Err(field("kind", "missing or not a string")),
        };
        if bytes.len() > kind.max_bytes() {
            return Err(RecordError::TooLarge {
                size: bytes.len(),
                limit: kind.max_bytes(),
            });
        }
        let author = hex_field::<32>(&map, "author")?;
        let signature = hex_field::<64>(&map, "signature")?;
        let created_at = match map.get("created_at") {
            Some(Value::Number(n)) => n
                .as_i64()
                .filter(|t| *t >= 0)
                .ok_or_else(|| field("created_at", "must be unix milliseconds ≥ 0"))?,
            _ => return Err(field("created_at", "missing or not an integer")),
        };
        let payload = match map.remove("payload") {
            Some(Value::Object(p)) => p,
            _ => return Err(field("payload", "missing or not an object")),
        };
        Ok(Record {
            kind,
            version: FORMAT_VERSION,
            author,
            created_at,
            payload,
            signature,
            bytes: bytes.to_vec(),
            id: RecordId::of(bytes),
        })
    }

    pub fn id(&self) -> RecordId {
        self.id
    }

    /// The canonical wire bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The exact bytes the author signed.
    pub fn signed_message(&self) -> Result<Vec<u8>, RecordError> {
        signing_bytes(&unsigned_value(
            self.kind,
            self.version,
            &self.author,
            self.created_at,
            &self.payload,
        ))
    }

    /// The author's key: a point on the curve, not of small order (a
    /// small-order key "signs" every message for a lenient verifier).
    pub fn verifying_key(&self) -> Result<VerifyingKey, RecordError> {
        let key = VerifyingKey::from_bytes(&self.author)
            .map_err(|_| field("author", "not an ed25519 key"))?;
        if key.is_weak() {
            return Err(field("author", "a small-order key, which signs nothing"));
        }
        Ok(key)
    }

    /// Strict ed25519, the same verdict on every node: S reduced, neither
    /// the key nor R of small order, and R equal, as encoded, to
    /// [S]B − [k]A (RFC 8032's cofactorless check, as libsodium makes it).
    /// Deterministic: no random batch weights decide anything.
    pub fn verify_signature(&self) -> Result<(), RecordError> {
        let key = self.verifying_key()?;
        if !s_is_reduced(&self.signature) {
            return Err(field(
                "signature",
                "S is not reduced modulo the group order (a non-canonical signature)",
            ));
        }
        key.verify_strict(
            &self.signed_message()?,
            &Signature::from_bytes(&self.signature),
        )
        .map_err(|_| RecordError::BadSignature)
    }

    pub fn author_hex(&self) -> String {
        hex::encode(self.author)
    }
}

fn field(field: &'static str, problem: &str) -> RecordError {
    RecordError::Field {
        field,
        problem: problem.into(),
    }
}

fn hex_field<const N: usize>(
    map: &Map<String, Value>,
    name: &'static str,
) -> Result<[u8; N], RecordError> {
    let Some(Value::String(s)) = map.get(name) else {
        return Err(field(name, "missing or not a string"));
    };
    if s.len() != 2 * N || s.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(RecordError::Field {
            field: name,
            problem: format!("must be {} lowercase hex digits", 2 * N),
        });
    }
    let mut out = [0u8; N];
    hex::decode_to_slice(s, &mut out).map_err(|_| RecordError::Field {
        field: name,
        problem: format!("must be {} lowercase hex digits", 2 * N),
    })?;
    Ok(out)
}

fn unsigned_value(
    kind: Kind,
    version: u32,
    author: &[u8; 32],
    created_at: i64,
    payload: &Map<String, Value>,
) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("author".into(), Value::String(hex::encode(author)));
    m.insert("created_at".into(), Value::from(created_at));
    m.insert("kind".into(), Value::String(kind.as_str().into()));
    m.insert("payload".into(), Value::Object(payload.clone()));
    m.insert("version".into(), Value::from(version));
    m
}

fn signing_bytes(unsigned: &Map<String, Value>) -> Result<Vec<u8>, RecordError> {
    let body = canonical::to_vec(&Value::Object(unsigned.clone()))
        .map_err(|e| RecordError::Payload(e.to_string()))?;
    let mut out = Vec::with_capacity(SIGNING_DOMAIN.len() + body.len());
    out.extend_from_slice(SIGNING_DOMAIN);
    out.extend_from_slice(&body);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn payload(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    /// Each kind has its own limit: a release may be as large as the pack
    /// makes it (up to its limit), every other kind stays at 64 KiB.
    #[test]
    fn each_kind_has_its_own_size_limit() {
        let padded = |kind: Kind, n: usize| {
            Record::sign(
                kind,
                1_700_000_000_000,
                payload(json!({"padding": "x".repeat(n)})),
                &key(1),
            )
            .unwrap()
        };
        let release = padded(Kind::ReleaseManifest, 100 * 1024);
        assert!(release.bytes().len() > MAX_RECORD_BYTES);
        assert_eq!(Record::decode(release.bytes()).unwrap(), release);
        let vote = padded(Kind::Vote, 100 * 1024);
        assert_eq!(
            Record::decode(vote.bytes()),
            Err(RecordError::TooLarge {
                size: vote.bytes().len(),
                limit: MAX_RECORD_BYTES
            })
        );
        let huge = padded(Kind::ReleaseManifest, MAX_ANY_RECORD_BYTES);
        assert!(matches!(
            Record::decode(huge.bytes()),
            Err(RecordError::TooLarge { limit, .. }) if limit == MAX_ANY_RECORD_BYTES
        ));
        for kind in Kind::ALL {
            assert!(kind.max_bytes() <= MAX_ANY_RECORD_BYTES, "{kind}");
        }
    }

    #[test]
    fn signed_records_round_trip_and_verify() {
        let r = Record::sign(
            Kind::Vote,
            1_700_000_000_000,
            payload(json!({"proposal": "ab", "choice": "approve"})),
            &key(1),
        )
        .unwrap();
        let back = Record::decode(r.bytes()).unwrap();
        assert_eq!(back, r);
        back.verify_signature().unwrap();
        assert_eq!(back.id(), RecordId::of(r.bytes()));
    }

    #[test]
    fn altered_or_non_canonical_bytes_are_refused() {
        let r = Record::sign(Kind::Vote, 5, payload(json!({"a": 1})), &key(2)).unwrap();
        let text = String::from_utf8(r.bytes().to_vec()).unwrap();
        let spaced = text.replacen(':', ": ", 1);
        assert_eq!(
            Record::decode(spaced.as_bytes()),
            Err(RecordError::NotCanonical)
        );
        let altered = text.replace("\"a\":1", "\"a\":2");
        let bad = Record::decode(altered.as_bytes()).unwrap();
        assert_eq!(bad.verify_signature(), Err(RecordError::BadSignature));
        let other_kind = text.replace("\"vote\"", "\"ballot\"");
        assert!(matches!(
            Record::decode(other_kind.as_bytes()),
            Err(RecordError::UnknownKind(_))
        ));
        let big = vec![b' '; MAX_ANY_RECORD_BYTES + 1];
        assert!(matches!(
            Record::decode(&big),
            Err(RecordError::TooLarge { .. })
        ));
    }

    proptest! {
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = Record::decode(&bytes);
        }

        #[test]
        fn any_payload_round_trips(s in ".{0,64}", n in any::<i64>(), t in 0i64..i64::MAX) {
            let r = Record::sign(Kind::EvolutionProposal, t, payload(json!({"s": s, "n": n})), &key(3)).unwrap();
            let back = Record::decode(r.bytes()).unwrap();
            prop_assert_eq!(&back, &r);
            prop_assert!(back.verify_signature().is_ok());
        }
    }
}
