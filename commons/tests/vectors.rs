//! The commons record test vectors, `schemas/records/vectors.json`.
//!
//! The file is what a second implementation checks itself against: for
//! fixed ed25519 seeds, one record of every kind with its exact signed
//! message, record bytes, signature and id, plus payloads every
//! implementation must refuse. These tests keep it true:
//!
//! * the file is exactly what [`build`] produces (regenerate it with
//!   `MIRROR_WRITE_VECTORS=1 cargo test -p mirror-commons --test vectors`);
//! * re-signing each vector from its seed gives the same bytes, signature
//!   and id, and each record decodes and verifies;
//! * every payload passes `mirror_governance::payload::validate`, and every
//!   invalid payload fails it on the field the file names;
//! * altered records fail where they should.
//!
//! `schemas/check.py` checks the same file against the JSON Schemas.

use std::path::PathBuf;

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier};
use mirror_commons::record::{Kind, Record, RecordError, RecordId, SIGNING_DOMAIN};
use mirror_governance::payload::{self, GuardianSignature, PayloadError, SignaturePurpose};
use mirror_governance::release;
use serde_json::{Map, Value, json};

fn vectors_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../schemas/records/vectors.json")
}

fn load() -> Value {
    let text = std::fs::read_to_string(vectors_path()).expect("schemas/records/vectors.json");
    serde_json::from_str(&text).expect("vectors.json is JSON")
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}

/// 2026-01-01T00:00:00Z.
const T0: i64 = 1_767_225_600_000;
const DAY: i64 = 86_400_000;

const GUARDIAN_A: [u8; 32] = [0x01; 32];
const GUARDIAN_B: [u8; 32] = [0x02; 32];
const MEMBER: [u8; 32] = [0x03; 32];
/// Telemetry is signed by a fresh key per packet; this one stands for it.
const EPHEMERAL: [u8; 32] = [0x7f; 32];

fn public_hex(seed: &[u8; 32]) -> String {
    hex::encode(SigningKey::from_bytes(seed).verifying_key().to_bytes())
}

/// Sign one vector and describe it completely.
fn vector(
    name: &str,
    comment: &str,
    seed: [u8; 32],
    kind: Kind,
    created_at: i64,
    body: Value,
) -> (RecordId, Value) {
    let key = SigningKey::from_bytes(&seed);
    let record = Record::sign(kind, created_at, obj(body.clone()), &key).expect("sign");
    let message = record.signed_message().expect("message");
    let v = json!({
        "name": name,
        "comment": comment,
        "seed": hex::encode(seed),
        "public_key": public_hex(&seed),
        "kind": kind.as_str(),
        "created_at": created_at,
        "payload": body,
        "signed_message": String::from_utf8(message).expect("UTF-8"),
        "record": String::from_utf8(record.bytes().to_vec()).expect("UTF-8"),
        "signature": hex::encode(record.signature),
        "id": record.id().to_hex(),
    });
    (record.id(), v)
}

/// The whole vectors file.
fn build() -> Value {
    let mut vectors = Vec::new();

    let (genesis_id, v) = vector(
        "genesis",
        "A commons with two guardians (seeds 01 and 02), both needed to sign; the genesis constitution.",
        GUARDIAN_A,
        Kind::Genesis,
        T0,
        json!({
            "name": "Mirror test commons",
            "constitution_hash": mirror_constitution::GENESIS_HASH,
            "guardians": [public_hex(&GUARDIAN_A), public_hex(&GUARDIAN_B)],
            "guardian_threshold": 2,
            "attestations_required": 1,
            "voting": {
                "period_ms": 7 * DAY,
                "quorum_percent": 50,
                "supermajority_numerator": 2,
                "supermajority_denominator": 3
            },
            "root_version": 1
        }),
    );
    vectors.push(v);

    let (_, v) = vector(
        "membership_attestation",
        "Guardian A admits the member (seed 03). The note exercises raw UTF-8 and a non-BMP character.",
        GUARDIAN_A,
        Kind::MembershipAttestation,
        T0 + 60_000,
        json!({
            "member": public_hex(&MEMBER),
            "note": "Met at the reflection circle — «bienvenue» 🙂"
        }),
    );
    vectors.push(v);

    let (proposal, v) = vector(
        "evolution_proposal",
        "A parameter change with evidence. Strings exercise every escape: quotes, backslash, \\n and \\t in text, and \\b, \\f, \\r, \\u0007, \\u001f inside opaque evidence; '/' and DEL are not escaped.",
        MEMBER,
        Kind::EvolutionProposal,
        T0 + DAY,
        json!({
            "proposal_type": "pattern_detection",
            "title": "Don't count \"I have to mention\" as obligation",
            "description": "\"I have to mention\" is a turn of phrase, like \"I have to say\".\nAdds it to the idioms after the cue.\n\tPath: C:\\mirror\\params — café/ünïcode.",
            "change": {
                "target": "params",
                "edits": [{
                    "path": "/patterns/obligation_language/rules/0/not_after/phrases",
                    "before": ["admit", "say", "laugh", "hand it to", "agree", "confess", "wonder"],
                    "after": ["admit", "say", "laugh", "hand it to", "agree", "confess", "wonder", "mention"]
                }]
            },
            "evidence": [
                "12 of 400 obligation flags in the eval set were \"have to mention\".",
                {
                    "finding": "false_positive_rate",
                    "rate_permille": 30,
                    "delta": -4,
                    "controls": "\u{8}\u{c}\r\u{7}\u{1f}\u{7f}",
                    "seen": [true, false, null]
                }
            ],
            "flags": {
                "data_collection": false,
                "user_consent_required": false,
                "removes_export": false,
                "breaking_change": false
            }
        }),
    );
    vectors.push(v);
    let proposal_hex = proposal.to_hex();

    let (_, v) = vector(
        "proposal_transition_review",
        "The proposer moves the proposal to review: no voting window.",
        MEMBER,
        Kind::ProposalTransition,
        T0 + 2 * DAY,
        json!({"proposal": proposal_hex, "to": "review"}),
    );
    vectors.push(v);

    let opens = T0 + 3 * DAY;
    let (_, v) = vector(
        "proposal_transition_voting",
        "Voting opens, with the window fixed for good (the genesis period of 7 days).",
        MEMBER,
        Kind::ProposalTransition,
        opens,
        json!({
            "proposal": proposal_hex,
            "to": "voting",
            "voting_opens_at": opens,
            "voting_closes_at": opens + 7 * DAY
        }),
    );
    vectors.push(v);

    let (_, v) = vector(
        "vote",
        "The member approves.",
        MEMBER,
        Kind::Vote,
        opens + 3_600_000,
        json!({"proposal": proposal_hex, "choice": "approve"}),
    );
    vectors.push(v);

    // A real TUF release, signed by both guardians: what `mirror release
    // build` and `mirror release sign` make.
    let guardians = mirror_governance::ledger::GuardianSet {
        version: 1,
        keys: [GUARDIAN_A, GUARDIAN_B]
            .iter()
            .map(|s| payload::Hex(SigningKey::from_bytes(s).verifying_key().to_bytes()))
            .collect(),
        threshold: 2,
        attestations_required: 1,
        record: payload::Hex(genesis_id.0),
        since: T0,
    };
    let proposal_hash = payload::Hex::<32>::from_hex(&proposal_hex).unwrap();
    let params = mirror_governance::params::EngineParams::genesis().unwrap();
    let unsigned = release::build(&release::BuildSpec {
        version: 1,
        previous: None,
        proposals: vec![proposal_hash],
        params: &params,
        constitution: None,
        guardians: &guardians,
        expires_ms: T0 + 3650 * DAY,
        earlier_guardians: &[],
        earlier_roots: &[],
        root_expires_ms: T0 + 3650 * DAY,
    })
    .unwrap();
    let (half, _) = release::sign(&unsigned, &SigningKey::from_bytes(&GUARDIAN_A)).unwrap();
    let (signed, _) = release::sign(&half, &SigningKey::from_bytes(&GUARDIAN_B)).unwrap();
    let (_, v) = vector(
        "release_manifest",
        "The first release (no previous), applying the proposal: TUF metadata for the four roles signed by both guardians, the release description and the genesis parameter pack as targets.",
        GUARDIAN_A,
        Kind::ReleaseManifest,
        T0 + 11 * DAY,
        Value::Object(payload::to_payload(&signed).unwrap()),
    );
    vectors.push(v);
    let (_, v) = vector(
        "release_candidate",
        "The same release as a candidate signed by guardian A only, gathering signatures over the commons.",
        GUARDIAN_A,
        Kind::ReleaseCandidate,
        T0 + 11 * DAY - 60_000,
        Value::Object(payload::to_payload(&payload::ReleaseCandidate(half.clone())).unwrap()),
    );
    vectors.push(v);

    let purpose = SignaturePurpose::Amendment;
    let guardian_sig = SigningKey::from_bytes(&GUARDIAN_B)
        .sign(&GuardianSignature::signed_message(purpose, &proposal_hash));
    let (_, v) = vector(
        "guardian_signature",
        "Guardian B signs the proposal's record id as an amendment: the inner signature is over \"mirror/governance/guardian/v1\\namendment\\n\" + the id in hex.",
        GUARDIAN_B,
        Kind::GuardianSignature,
        T0 + 11 * DAY + 60_000,
        json!({
            "target_hash": proposal_hex,
            "purpose": "amendment",
            "signature": hex::encode(guardian_sig.to_bytes())
        }),
    );
    vectors.push(v);

    let (_, v) = vector(
        "membership_revocation",
        "Guardian B revokes the member.",
        GUARDIAN_B,
        Kind::MembershipRevocation,
        T0 + 20 * DAY,
        json!({"member": public_hex(&MEMBER), "reason": "Key reported lost."}),
    );
    vectors.push(v);

    let period_start = T0 + 21 * DAY;
    let (_, v) = vector(
        "telemetry_packet",
        "A daily packet: created_at is the period's start, so the envelope says no more about time than the payload.",
        EPHEMERAL,
        Kind::TelemetryPacket,
        period_start,
        json!({
            "registry_version": 1,
            "period": period_start / DAY,
            "metrics": [
                {"name": "reflections.count", "kind": "counter", "values": [7]},
                {"name": "engine.directive_violations", "kind": "rate", "values": [0, 1]},
                {"name": "feedback.rating", "kind": "histogram", "values": [0, 0, 0, 1, 0]}
            ]
        }),
    );
    vectors.push(v);

    json!({
        "description": "Test vectors for Mirror commons records (see schemas/README.md). Each vector gives an ed25519 seed and the record's kind, created_at and payload; an implementation must produce exactly signed_message (the signing domain followed by the canonical JSON of the record without its signature), record (the canonical JSON of the signed record), signature and id (blake3 of record's UTF-8 bytes). invalid_payloads must all be refused; those marked rust_only break a rule the JSON Schemas cannot express. Regenerate with MIRROR_WRITE_VECTORS=1 cargo test -p mirror-commons --test vectors.",
        "signing_domain": String::from_utf8(SIGNING_DOMAIN.to_vec()).expect("UTF-8"),
        "vectors": vectors,
        "invalid_payloads": invalid_payloads(),
        "invalid_records": invalid_records(),
    })
}

// ---------------------------------------------------------------------------
// Records a strict implementation refuses: signatures that lenient ed25519
// verifiers (OpenSSL's, cofactorless batch verifiers) accept, and integral
// floats. Built with curve25519-dalek's group operations.
// ---------------------------------------------------------------------------

use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use sha2::Digest as _;

/// The ed25519 secret scalar of a seed (RFC 8032: SHA-512, clamped).
fn secret_scalar(seed: &[u8; 32]) -> Scalar {
    let h = sha2::Sha512::digest(seed);
    let mut a = [0u8; 32];
    a.copy_from_slice(&h[..32]);
    a[0] &= 248;
    a[31] &= 127;
    a[31] |= 64;
    Scalar::from_bytes_mod_order(a)
}

/// k = SHA-512(R || A || M) mod L.
fn challenge(r: &[u8; 32], a: &[u8; 32], message: &[u8]) -> Scalar {
    let mut h = sha2::Sha512::new();
    h.update(r);
    h.update(a);
    h.update(message);
    let wide: [u8; 64] = h.finalize().into();
    Scalar::from_bytes_mod_order_wide(&wide)
}

/// A signature by `seed` over `message` whose R is `nonce`·B + `torsion`
/// (S = nonce + k·a, k over that R): with a torsion point, only a lenient
/// verifier (or a batch, by chance) accepts it.
fn signature_with_r(
    seed: &[u8; 32],
    message: &[u8],
    nonce: Scalar,
    torsion: EdwardsPoint,
) -> [u8; 64] {
    let a = secret_scalar(seed);
    let public = (ED25519_BASEPOINT_POINT * a).compress().to_bytes();
    let r = (ED25519_BASEPOINT_POINT * nonce + torsion)
        .compress()
        .to_bytes();
    let s = nonce + challenge(&r, &public, message) * a;
    let mut out = [0u8; 64];
    out[..32].copy_from_slice(&r);
    out[32..].copy_from_slice(&s.to_bytes());
    out
}

/// The point of order 2, (0, -1).
fn order_two() -> EdwardsPoint {
    let mut bytes = [0xff; 32];
    bytes[0] = 0xec;
    bytes[31] = 0x7f;
    CompressedEdwardsY(bytes)
        .decompress()
        .expect("(0, -1) is on the curve")
}

/// The identity point's encoding, (0, 1).
fn identity_bytes() -> [u8; 32] {
    let mut b = [0u8; 32];
    b[0] = 1;
    b
}

/// A signed vote by GUARDIAN_A, as text, with its signed message.
fn base_vote() -> (String, Vec<u8>, String) {
    let key = SigningKey::from_bytes(&GUARDIAN_A);
    let r = Record::sign(
        Kind::Vote,
        T0 + DAY,
        obj(json!({"proposal": "ab".repeat(32), "choice": "approve"})),
        &key,
    )
    .expect("signs");
    let text = String::from_utf8(r.bytes().to_vec()).expect("UTF-8");
    (
        text,
        r.signed_message().expect("message"),
        hex::encode(r.signature),
    )
}

/// Records every strict implementation must refuse, with the field this
/// one names and why.
fn invalid_records() -> Value {
    let (vote, message, signature) = base_vote();
    let with_signature = |sig: &[u8; 64]| vote.replace(&signature, &hex::encode(sig));
    let case = |name: &str, record: String, field: &str, why: &str| json!({"name": name, "record": record, "field": field, "why": why});

    // The identity as the key, R the identity and S zero: [S]B = R + [k]A
    // holds for every message, so a verifier that skips the small-order
    // check (OpenSSL's) accepts it.
    let author = public_hex(&GUARDIAN_A);
    let mut zero_sig = [0u8; 64];
    zero_sig[..32].copy_from_slice(&identity_bytes());
    let small_key = with_signature(&zero_sig).replace(&author, &hex::encode(identity_bytes()));

    // R the identity, S = k·a: the cofactorless equation holds.
    let a = secret_scalar(&GUARDIAN_A);
    let k = challenge(
        &identity_bytes(),
        &SigningKey::from_bytes(&GUARDIAN_A)
            .verifying_key()
            .to_bytes(),
        &message,
    );
    let mut r_identity = [0u8; 64];
    r_identity[..32].copy_from_slice(&identity_bytes());
    r_identity[32..].copy_from_slice(&(k * a).to_bytes());

    // R with an order-2 component: a batch verifier with random weights
    // accepts it about half the time.
    let nonce =
        Scalar::from_bytes_mod_order_wide(&sha2::Sha512::digest(b"mirror vectors nonce").into());
    let mixed = signature_with_r(&GUARDIAN_A, &message, nonce, order_two());

    // The real signature with S + L: same point, non-canonical scalar.
    let mut sig = [0u8; 64];
    hex::decode_to_slice(&signature, &mut sig).expect("hex");
    let l: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let mut carry = 0u16;
    for i in 0..32 {
        let sum = u16::from(sig[32 + i]) + u16::from(l[i]) + carry;
        sig[32 + i] = (sum & 0xff) as u8;
        carry = sum >> 8;
    }

    let created = format!("\"created_at\":{}", T0 + DAY);
    json!([
        case(
            "small_order_author",
            small_key,
            "author",
            "the key is the identity point (small order); [S]B = R + [k]A holds for any message, so a verifier without the small-order check accepts it",
        ),
        case(
            "small_order_r",
            with_signature(&r_identity),
            "signature",
            "R is the identity point (small order), S = k·a; the cofactorless equation holds",
        ),
        case(
            "mixed_order_r",
            with_signature(&mixed),
            "signature",
            "R has an order-2 component; a batch verifier with random weights accepts it about half the time",
        ),
        case(
            "non_canonical_s",
            with_signature(&sig),
            "signature",
            "S + L instead of S: the same scalar, not reduced",
        ),
        case(
            "integral_float_created_at",
            vote.replace(&created, &format!("{created}.0")),
            "created_at",
            "1.0 is not an integer here: numbers are written as integers only",
        ),
    ])
}

/// Payloads every implementation must refuse, with the field this one names.
fn invalid_payloads() -> Value {
    let hash = "ab".repeat(32);
    let key_a = public_hex(&GUARDIAN_A);
    let key_b = public_hex(&GUARDIAN_B);
    let genesis = |edit: &dyn Fn(&mut Value)| {
        let mut g = json!({
            "name": "c",
            "constitution_hash": hash,
            "guardians": [key_a, key_b],
            "guardian_threshold": 2,
            "voting": {"period_ms": 1000, "quorum_percent": 50,
                       "supermajority_numerator": 2, "supermajority_denominator": 3},
            "root_version": 1
        });
        edit(&mut g);
        g
    };
    let proposal = |edit: &dyn Fn(&mut Value)| {
        let mut p = json!({
            "proposal_type": "prompt_adjustment",
            "title": "t",
            "description": "d",
            "change": {"target": "params", "edits": [
                {"path": "/prompts/system", "before": "a", "after": "b"}
            ]},
            "evidence": [],
            "flags": {"data_collection": false, "user_consent_required": false,
                      "removes_export": false, "breaking_change": false}
        });
        edit(&mut p);
        p
    };
    let amendment = |edit: &dyn Fn(&mut Value)| {
        let mut p = proposal(&|p| {
            p["proposal_type"] = json!("constitutional_amendment");
            p["change"] = json!({"target": "constitution", "edits": [
                {"path": "01-core-principle.md", "before": "old text", "after": "new text"}
            ]});
        });
        edit(&mut p);
        p
    };
    let packet = |metrics: Value| json!({"registry_version": 1, "period": 7, "metrics": metrics});
    let release = |edit: &dyn Fn(&mut Value)| {
        let mut r = json!({"version": 1, "proposals": [], "tuf_metadata": {"timestamp": "e30="}, "targets": {}});
        edit(&mut r);
        r
    };
    let case = |name: &str, kind: &str, payload: Value, field: &str, rust_only: bool| json!({"name": name, "kind": kind, "payload": payload, "field": field, "rust_only": rust_only});
    Value::Array(vec![
        case(
            "vote_unknown_field",
            "vote",
            json!({"proposal": hash, "choice": "approve", "weight": 2}),
            "weight",
            false,
        ),
        case(
            "vote_missing_choice",
            "vote",
            json!({"proposal": hash}),
            "choice",
            false,
        ),
        case(
            "vote_unknown_choice",
            "vote",
            json!({"proposal": hash, "choice": "maybe"}),
            "choice",
            false,
        ),
        case(
            "vote_uppercase_hex",
            "vote",
            json!({"proposal": hash.to_uppercase(), "choice": "reject"}),
            "proposal",
            false,
        ),
        case(
            "vote_short_id",
            "vote",
            json!({"proposal": &hash[..62], "choice": "reject"}),
            "proposal",
            false,
        ),
        case(
            "genesis_quorum_zero",
            "genesis",
            genesis(&|g| g["voting"]["quorum_percent"] = json!(0)),
            "voting.quorum_percent",
            false,
        ),
        case(
            "genesis_period_zero",
            "genesis",
            genesis(&|g| g["voting"]["period_ms"] = json!(0)),
            "voting.period_ms",
            false,
        ),
        case(
            "genesis_unknown_voting_field",
            "genesis",
            genesis(&|g| g["voting"]["majority_percent"] = json!(50)),
            "voting.majority_percent",
            false,
        ),
        case(
            "genesis_threshold_above_n",
            "genesis",
            genesis(&|g| g["guardian_threshold"] = json!(3)),
            "guardian_threshold",
            true,
        ),
        case(
            "genesis_attestations_above_n",
            "genesis",
            genesis(&|g| g["attestations_required"] = json!(3)),
            "attestations_required",
            true,
        ),
        case(
            "genesis_supermajority_half",
            "genesis",
            genesis(&|g| g["voting"]["supermajority_numerator"] = json!(1)),
            "voting.supermajority_numerator",
            true,
        ),
        case(
            "genesis_duplicate_guardian",
            "genesis",
            genesis(&|g| g["guardians"][1] = g["guardians"][0].clone()),
            "guardians[1]",
            false,
        ),
        case(
            "genesis_no_guardians",
            "genesis",
            genesis(&|g| {
                g["guardians"] = json!([]);
                g["guardian_threshold"] = json!(1);
            }),
            "guardians",
            false,
        ),
        case(
            "genesis_name_two_lines",
            "genesis",
            genesis(&|g| g["name"] = json!("two\nlines")),
            "name",
            false,
        ),
        case(
            "genesis_name_trailing_newline",
            "genesis",
            genesis(&|g| g["name"] = json!("name\n")),
            "name",
            false,
        ),
        case(
            "genesis_null_optional",
            "genesis",
            genesis(&|g| g["attestations_required"] = Value::Null),
            "attestations_required",
            false,
        ),
        case(
            "genesis_root_version_zero",
            "genesis",
            genesis(&|g| g["root_version"] = json!(0)),
            "root_version",
            false,
        ),
        case(
            "telemetry_no_metrics",
            "telemetry_packet",
            packet(json!([])),
            "metrics",
            false,
        ),
        case(
            "telemetry_counter_two_values",
            "telemetry_packet",
            packet(json!([{"name": "a", "kind": "counter", "values": [1, 2]}])),
            "metrics[0].values",
            false,
        ),
        case(
            "telemetry_rate_one_value",
            "telemetry_packet",
            packet(json!([{"name": "a", "kind": "rate", "values": [1]}])),
            "metrics[0].values",
            false,
        ),
        case(
            "telemetry_unknown_metric_kind",
            "telemetry_packet",
            packet(json!([{"name": "a", "kind": "gauge", "values": [1]}])),
            "metrics[0].kind",
            false,
        ),
        case(
            "telemetry_bad_metric_name",
            "telemetry_packet",
            packet(json!([{"name": "Directive Rate", "kind": "counter", "values": [1]}])),
            "metrics[0].name",
            false,
        ),
        case(
            "telemetry_duplicate_metric",
            "telemetry_packet",
            packet(json!([
                {"name": "a", "kind": "counter", "values": [1]},
                {"name": "a", "kind": "counter", "values": [2]}
            ])),
            "metrics[1].name",
            true,
        ),
        case(
            "telemetry_unsafe_integer",
            "telemetry_packet",
            packet(json!([{"name": "a", "kind": "counter", "values": [9_007_199_254_740_992u64]}])),
            "metrics[0].values[0]",
            false,
        ),
        case(
            "telemetry_float",
            "telemetry_packet",
            packet(json!([{"name": "a", "kind": "counter", "values": [0.5]}])),
            "metrics[0].values[0]",
            false,
        ),
        case(
            "telemetry_extra_field",
            "telemetry_packet",
            {
                let mut p = packet(json!([{"name": "a", "kind": "counter", "values": [1]}]));
                p["node"] = json!("n1");
                p
            },
            "node",
            false,
        ),
        case(
            "proposal_unknown_type",
            "evolution_proposal",
            proposal(&|p| p["proposal_type"] = json!("growth_hack")),
            "proposal_type",
            false,
        ),
        case(
            "proposal_amendment_targets_params",
            "evolution_proposal",
            proposal(&|p| p["proposal_type"] = json!("constitutional_amendment")),
            "change.target",
            false,
        ),
        case(
            "proposal_params_change_targets_constitution",
            "evolution_proposal",
            amendment(&|p| p["proposal_type"] = json!("safety_refinement")),
            "change.target",
            false,
        ),
        case(
            "proposal_amendment_non_text",
            "evolution_proposal",
            amendment(&|p| p["change"]["edits"][0]["after"] = json!({"text": "new"})),
            "change.edits[0].after",
            false,
        ),
        case(
            "proposal_amendment_path_escapes",
            "evolution_proposal",
            amendment(&|p| p["change"]["edits"][0]["path"] = json!("../secrets.md")),
            "change.edits[0].path",
            false,
        ),
        case(
            "proposal_path_not_pointer",
            "evolution_proposal",
            proposal(&|p| p["change"]["edits"][0]["path"] = json!("prompts.system")),
            "change.edits[0].path",
            false,
        ),
        case(
            "proposal_pointer_bad_escape",
            "evolution_proposal",
            proposal(&|p| p["change"]["edits"][0]["path"] = json!("/prompts/sys~2tem")),
            "change.edits[0].path",
            false,
        ),
        case(
            "proposal_edit_without_values",
            "evolution_proposal",
            proposal(&|p| p["change"]["edits"][0] = json!({"path": "/prompts/system"})),
            "change.edits[0].after",
            false,
        ),
        case(
            "proposal_no_edits",
            "evolution_proposal",
            proposal(&|p| p["change"]["edits"] = json!([])),
            "change.edits",
            false,
        ),
        case(
            "proposal_edit_changes_nothing",
            "evolution_proposal",
            proposal(&|p| p["change"]["edits"][0]["after"] = json!("a")),
            "change.edits[0].after",
            true,
        ),
        case(
            "proposal_same_path_twice",
            "evolution_proposal",
            proposal(&|p| {
                let e = p["change"]["edits"][0].clone();
                p["change"]["edits"].as_array_mut().unwrap().push(e);
            }),
            "change.edits[1].path",
            true,
        ),
        case(
            "proposal_title_too_long",
            "evolution_proposal",
            proposal(&|p| p["title"] = json!("x".repeat(201))),
            "title",
            false,
        ),
        case(
            "proposal_description_escape_sequence",
            "evolution_proposal",
            proposal(&|p| p["description"] = json!("red \u{1b}[31m text")),
            "description",
            false,
        ),
        case(
            "proposal_empty_migration_path",
            "evolution_proposal",
            proposal(&|p| p["flags"]["migration_path"] = json!("")),
            "flags.migration_path",
            false,
        ),
        case(
            "proposal_missing_flag",
            "evolution_proposal",
            proposal(&|p| {
                p["flags"].as_object_mut().unwrap().remove("removes_export");
            }),
            "flags.removes_export",
            false,
        ),
        case(
            "proposal_float_in_opaque_value",
            "evolution_proposal",
            proposal(&|p| p["change"]["edits"][0]["after"] = json!({"weight": 0.25})),
            "change.edits[0].after.weight",
            false,
        ),
        case(
            "proposal_non_ascii_key_in_evidence",
            "evolution_proposal",
            proposal(&|p| p["evidence"] = json!([{"café": 1}])),
            "evidence[0]",
            false,
        ),
        case(
            "proposal_evidence_number",
            "evolution_proposal",
            proposal(&|p| p["evidence"] = json!([42])),
            "evidence[0]",
            false,
        ),
        case(
            "transition_unknown_state",
            "proposal_transition",
            json!({"proposal": hash, "to": "merged"}),
            "to",
            false,
        ),
        case(
            "transition_voting_without_close",
            "proposal_transition",
            json!({"proposal": hash, "to": "voting", "voting_opens_at": 10}),
            "voting_closes_at",
            false,
        ),
        case(
            "transition_window_outside_voting",
            "proposal_transition",
            json!({"proposal": hash, "to": "review", "voting_opens_at": 10}),
            "voting_opens_at",
            false,
        ),
        case(
            "transition_window_closes_first",
            "proposal_transition",
            json!({"proposal": hash, "to": "voting", "voting_opens_at": 10, "voting_closes_at": 10}),
            "voting_closes_at",
            true,
        ),
        case(
            "transition_negative_time",
            "proposal_transition",
            json!({"proposal": hash, "to": "voting", "voting_opens_at": -1, "voting_closes_at": 10}),
            "voting_opens_at",
            false,
        ),
        case(
            "guardian_signature_unknown_purpose",
            "guardian_signature",
            json!({"target_hash": hash, "purpose": "veto", "signature": "cd".repeat(64)}),
            "purpose",
            false,
        ),
        case(
            "guardian_signature_short",
            "guardian_signature",
            json!({"target_hash": hash, "purpose": "amendment", "signature": "cd".repeat(32)}),
            "signature",
            false,
        ),
        case(
            "release_version_zero",
            "release_manifest",
            release(&|r| r["version"] = json!(0)),
            "version",
            false,
        ),
        case(
            "release_without_previous",
            "release_manifest",
            release(&|r| r["version"] = json!(2)),
            "previous",
            false,
        ),
        case(
            "release_first_with_previous",
            "release_manifest",
            release(&|r| r["previous"] = json!(hash)),
            "previous",
            false,
        ),
        case(
            "release_no_metadata",
            "release_manifest",
            release(&|r| r["tuf_metadata"] = json!({})),
            "tuf_metadata",
            false,
        ),
        case(
            "release_base64_unused_bits",
            "release_manifest",
            release(&|r| r["tuf_metadata"]["timestamp"] = json!("e31=")),
            "tuf_metadata.timestamp",
            false,
        ),
        case(
            "release_base64_url_alphabet",
            "release_manifest",
            release(&|r| r["targets"] = json!({"a.json": "-_8="})),
            "targets.a.json",
            false,
        ),
        case(
            "release_target_path_escapes",
            "release_manifest",
            release(&|r| r["targets"] = json!({"../a.json": "e30="})),
            "targets.../a.json",
            false,
        ),
        case(
            "release_role_uppercase",
            "release_manifest",
            release(&|r| r["tuf_metadata"] = json!({"Root": "e30="})),
            "tuf_metadata.Root",
            false,
        ),
        case(
            "release_duplicate_proposal",
            "release_manifest",
            release(&|r| r["proposals"] = json!([hash, hash])),
            "proposals[1]",
            false,
        ),
        case(
            "attestation_empty_note",
            "membership_attestation",
            json!({"member": key_a, "note": ""}),
            "note",
            false,
        ),
        case(
            "attestation_note_too_long",
            "membership_attestation",
            json!({"member": key_a, "note": "é".repeat(501)}),
            "note",
            false,
        ),
        case(
            "revocation_extra_field",
            "membership_revocation",
            json!({"member": key_a, "until": 5}),
            "until",
            false,
        ),
        case(
            "revocation_missing_member",
            "membership_revocation",
            json!({"reason": "gone"}),
            "member",
            false,
        ),
    ])
}

#[test]
fn the_file_is_what_the_generator_makes() {
    let built = build();
    if std::env::var_os("MIRROR_WRITE_VECTORS").is_some() {
        let mut text = serde_json::to_string_pretty(&built).expect("JSON");
        text.push('\n');
        std::fs::write(vectors_path(), text).expect("write vectors.json");
    }
    assert!(
        load() == built,
        "schemas/records/vectors.json is stale: regenerate it with \
         MIRROR_WRITE_VECTORS=1 cargo test -p mirror-commons --test vectors \
         (and make sure the change to the record format was intended)"
    );
}

fn text<'a>(v: &'a Value, field: &str) -> &'a str {
    v[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field} is not a string in {v}"))
}

fn seed(v: &Value) -> SigningKey {
    let mut seed = [0u8; 32];
    hex::decode_to_slice(text(v, "seed"), &mut seed).expect("seed hex");
    SigningKey::from_bytes(&seed)
}

fn vectors(file: &Value) -> &[Value] {
    file["vectors"].as_array().expect("vectors")
}

#[test]
fn every_kind_has_a_vector() {
    let file = load();
    for kind in Kind::ALL {
        assert!(
            vectors(&file).iter().any(|v| v["kind"] == kind.as_str()),
            "no vector for {kind}"
        );
    }
    assert_eq!(
        file["signing_domain"],
        json!(std::str::from_utf8(SIGNING_DOMAIN).unwrap())
    );
}

/// What a second implementation does: sign from the seed and compare every
/// byte.
#[test]
fn re_signing_from_the_seed_gives_the_same_bytes() {
    let file = load();
    for v in vectors(&file) {
        let name = text(v, "name");
        let key = seed(v);
        assert_eq!(
            hex::encode(key.verifying_key().to_bytes()),
            text(v, "public_key"),
            "{name}"
        );
        let kind = Kind::parse(text(v, "kind")).expect("kind");
        let created_at = v["created_at"].as_i64().expect("created_at");
        let record = Record::sign(kind, created_at, obj(v["payload"].clone()), &key).unwrap();
        assert_eq!(
            record.signed_message().unwrap(),
            text(v, "signed_message").as_bytes(),
            "{name}: signed message"
        );
        assert!(
            text(v, "signed_message").starts_with(std::str::from_utf8(SIGNING_DOMAIN).unwrap())
        );
        assert_eq!(
            record.bytes(),
            text(v, "record").as_bytes(),
            "{name}: bytes"
        );
        assert_eq!(
            hex::encode(record.signature),
            text(v, "signature"),
            "{name}: signature"
        );
        assert_eq!(record.id().to_hex(), text(v, "id"), "{name}: id");
        assert_eq!(
            blake3::hash(text(v, "record").as_bytes()).to_hex().as_str(),
            text(v, "id"),
            "{name}: id is blake3 of the record bytes"
        );
        // The signature is over exactly the signed message.
        let sig = Signature::from_bytes(&record.signature);
        key.verifying_key()
            .verify_strict(text(v, "signed_message").as_bytes(), &sig)
            .unwrap();
    }
}

#[test]
fn every_vector_decodes_verifies_and_validates() {
    let file = load();
    for v in vectors(&file) {
        let name = text(v, "name");
        let record =
            Record::decode(text(v, "record").as_bytes()).unwrap_or_else(|e| panic!("{name}: {e}"));
        record.verify_signature().unwrap();
        assert_eq!(record.kind.as_str(), text(v, "kind"));
        assert_eq!(record.author_hex(), text(v, "public_key"));
        assert_eq!(record.created_at, v["created_at"].as_i64().unwrap());
        assert_eq!(Value::Object(record.payload.clone()), v["payload"]);
        payload::validate(record.kind.as_str(), &record.payload)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        // Parsed and written back, the payload is the same map, so the
        // typed structs lose nothing.
        let parsed = payload::parse_any(record.kind.as_str(), &record.payload).unwrap();
        assert_eq!(parsed.to_payload().unwrap(), record.payload, "{name}");
    }
}

#[test]
fn the_guardian_signature_vector_signs_the_proposal() {
    let file = load();
    let find = |name: &str| {
        vectors(&file)
            .iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("no vector {name}"))
    };
    let sig_vector = find("guardian_signature");
    let record = Record::decode(text(sig_vector, "record").as_bytes()).unwrap();
    let sig: GuardianSignature = payload::parse(&record.payload).unwrap();
    assert_eq!(
        sig.target_hash.to_hex(),
        text(find("evolution_proposal"), "id")
    );
    let key = record.verifying_key().unwrap();
    key.verify(&sig.message(), &Signature::from_bytes(&sig.signature.0))
        .unwrap();
    // Over another purpose it does not verify.
    let other = GuardianSignature::signed_message(SignaturePurpose::RootRotation, &sig.target_hash);
    assert!(
        key.verify(&other, &Signature::from_bytes(&sig.signature.0))
            .is_err()
    );
}

#[test]
fn every_invalid_payload_is_refused_naming_its_field() {
    let file = load();
    let cases = file["invalid_payloads"]
        .as_array()
        .expect("invalid_payloads");
    assert!(cases.len() >= 40);
    for case in cases {
        let name = text(case, "name");
        let payload = obj(case["payload"].clone());
        let err = payload::validate(text(case, "kind"), &payload)
            .err()
            .unwrap_or_else(|| panic!("{name}: accepted"));
        assert_eq!(err.kind(), Some(text(case, "kind")), "{name}: {err}");
        assert_eq!(err.field(), Some(text(case, "field")), "{name}: {err}");
    }
}

#[test]
fn every_invalid_record_is_refused_naming_its_field() {
    let file = load();
    let cases = file["invalid_records"].as_array().expect("invalid_records");
    assert!(cases.len() >= 5);
    for case in cases {
        let name = text(case, "name");
        let bytes = text(case, "record").as_bytes();
        let err = Record::decode(bytes)
            .and_then(|r| r.verify_signature())
            .err()
            .unwrap_or_else(|| panic!("{name}: accepted"));
        assert!(
            err.to_string().contains(text(case, "field")),
            "{name}: {err} does not name {}",
            text(case, "field")
        );
    }
}

/// A signature with a mixed-order R fails the batch or passes it by chance
/// (random weights); the gate's verdict must not depend on that, nor on
/// whether the record came alone or in a batch.
#[test]
fn batch_and_single_verification_agree_on_a_mixed_order_r() {
    let file = load();
    let case = file["invalid_records"]
        .as_array()
        .expect("invalid_records")
        .iter()
        .find(|c| c["name"] == "mixed_order_r")
        .expect("the mixed-order vector");
    let bytes = text(case, "record").as_bytes().to_vec();
    let honest = load()["vectors"][0]["record"]
        .as_str()
        .expect("a record")
        .as_bytes()
        .to_vec();
    struct Nothing;
    impl mirror_commons::gate::Accepted for Nothing {
        fn contains(&self, _: &RecordId) -> bool {
            false
        }
        fn records_of(&self, _: Kind) -> Vec<Record> {
            Vec::new()
        }
    }
    let gate = mirror_commons::gate::Gate::default();
    let now = T0 + 30 * DAY;
    assert!(gate.check(&bytes, None, now, &Nothing).is_err());
    // 64 batches: a cofactorless batch alone would pass about half.
    for _ in 0..64 {
        let out = gate.check_batch(&[(&bytes, None), (&honest, None)], now, &Nothing);
        assert!(out[0].is_err(), "the mixed-order signature passed a batch");
        assert!(out[1].is_ok(), "{:?}", out[1]);
    }
}

#[test]
fn altered_vectors_fail() {
    let file = load();
    for v in vectors(&file) {
        let name = text(v, "name");
        let bytes = text(v, "record").as_bytes();

        // One changed byte inside the payload: still canonical, so it
        // decodes, but the signature no longer verifies (or the record no
        // longer parses, if the byte broke the JSON).
        let at = text(v, "record").find("\"payload\":{").unwrap() + 12;
        for delta in [1u8, 2] {
            let mut changed = bytes.to_vec();
            let pos = (at..changed.len())
                .find(|&i| changed[i].is_ascii_alphanumeric())
                .unwrap();
            changed[pos] = if changed[pos].is_ascii_digit() {
                b'0' + (changed[pos] - b'0' + delta) % 10
            } else {
                changed[pos] ^ delta
            };
            match Record::decode(&changed) {
                // A changed author or R may stop being a prime-order point
                // (refused naming the field) or stay one (the equation fails).
                Ok(r) => assert!(
                    matches!(
                        r.verify_signature(),
                        Err(RecordError::BadSignature
                            | RecordError::Field {
                                field: "author" | "signature",
                                ..
                            })
                    ),
                    "{name}"
                ),
                Err(e) => assert!(
                    matches!(
                        e,
                        RecordError::NotJson(_)
                            | RecordError::NotCanonical
                            | RecordError::NotInteger { .. }
                            | RecordError::Field { .. }
                    ),
                    "{name}: {e}"
                ),
            }
        }

        // The signature's last byte changed.
        let sig = text(v, "signature");
        let flipped = format!(
            "{}{}",
            &sig[..126],
            if &sig[126..] == "00" { "01" } else { "00" }
        );
        let tampered = text(v, "record").replace(sig, &flipped);
        let r = Record::decode(tampered.as_bytes()).unwrap();
        assert_eq!(
            r.verify_signature(),
            Err(RecordError::BadSignature),
            "{name}"
        );

        // Whitespace: not canonical.
        let spaced = text(v, "record").replacen(',', ", ", 1);
        assert_eq!(
            Record::decode(spaced.as_bytes()),
            Err(RecordError::NotCanonical),
            "{name}"
        );

        // An extra envelope field.
        let extra = text(v, "record").replacen("{", "{\"a\":1,", 1);
        assert!(
            matches!(
                Record::decode(extra.as_bytes()),
                Err(RecordError::Field { .. })
            ),
            "{name}"
        );

        // An extra payload field, correctly signed: the envelope is fine,
        // the payload is not.
        let mut body = obj(v["payload"].clone());
        body.insert("zz_extra".into(), json!(true));
        let kind = Kind::parse(text(v, "kind")).unwrap();
        let record = Record::sign(kind, 0, body, &seed(v)).unwrap();
        let back = Record::decode(record.bytes()).unwrap();
        back.verify_signature().unwrap();
        let err = payload::validate(kind.as_str(), &back.payload).unwrap_err();
        assert!(
            matches!(&err, PayloadError::UnknownField { field, .. } if field == "zz_extra"),
            "{name}: {err}"
        );

        // The same payload under another kind is refused.
        let other = if kind == Kind::Vote {
            Kind::Genesis
        } else {
            Kind::Vote
        };
        assert!(payload::validate(other.as_str(), &back.payload).is_err());
    }
}
