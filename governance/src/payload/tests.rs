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
        &map(
            json!({"version": 1, "proposals": [], "tuf_metadata": {"Root": "e30="}, "targets": {}}),
        ),
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
