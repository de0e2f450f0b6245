//! The protocol core without sockets: gossip, sync, hostile changes, and
//! order independence of the accepted set.

use std::collections::BTreeSet;

use automerge::sync::{Message, SyncDoc};
use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, Automerge, ReadDoc, ScalarValue};
use ed25519_dalek::SigningKey;
use mirror_commons::gate::{Gate, Rejection};
use mirror_commons::record::{Kind, Record, RecordId};
use mirror_commons::service::{Commons, GossipVerdict, SyncRequest, SyncResponse};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

const COMMONS: &str = "5e1f0000000000000000000000000000000000000000000000000000000000aa";
const NOW: i64 = 1_795_478_400_000; // 2026-11-24

fn attestation(seed: u8, n: u32, at: i64) -> Record {
    let mut p = Map::new();
    p.insert("member".into(), Value::String(hex::encode([n as u8; 32])));
    p.insert("note".into(), json!(format!("member {n}")));
    Record::sign(
        Kind::MembershipAttestation,
        at,
        p,
        &SigningKey::from_bytes(&[seed; 32]),
    )
    .unwrap()
}

fn node() -> Commons {
    Commons::in_memory(COMMONS, Gate::default())
}

/// Run catch-up from `a` to `b` and back until both are quiet.
fn sync_pair(a: &mut Commons, a_name: &str, b: &mut Commons, b_name: &str) {
    let mut pending = vec![a.sync_start(b_name)];
    for _ in 0..100 {
        let Some(req) = pending.pop() else { return };
        let resp = b.on_sync_request(a_name, req, NOW).unwrap();
        pending.extend(a.on_sync_response(b_name, resp, NOW).unwrap());
    }
    panic!("sync did not settle");
}

#[test]
fn gossip_and_sync_bring_every_record_to_every_node() {
    let (mut a, mut b, mut c) = (node(), node(), node());
    let mut gossip = Vec::new();
    for i in 0..20 {
        let r = attestation(1, i, NOW - 1000);
        let (id, change) = a.publish(r.bytes(), NOW).unwrap();
        assert_eq!(id, r.id());
        gossip.push(change);
    }
    // b hears the gossip; c was offline and catches up by sync from b.
    for g in &gossip {
        assert!(matches!(b.on_gossip("a", g, NOW), GossipVerdict::Accept(_)));
        assert_eq!(b.on_gossip("a", g, NOW), GossipVerdict::Ignore);
    }
    sync_pair(&mut c, "c", &mut b, "b");
    assert_eq!(a.accepted_ids(), b.accepted_ids());
    assert_eq!(a.accepted_ids(), c.accepted_ids());
    assert_eq!(c.accepted_count(), 20);
    // A record published on c reaches a by sync the other way round.
    let (late, _) = c.publish(attestation(2, 99, NOW).bytes(), NOW).unwrap();
    sync_pair(&mut a, "a", &mut c, "c");
    assert!(a.get(&late).is_some());
}

/// A push after a round: the pusher knows the peer's heads, so its first
/// message carries the new record (no `Docs` step, no round trip before
/// it); a document where nothing changed since costs no message at all;
/// and with no state for the pair, a push still gets there in the usual
/// exchange.
#[test]
fn a_push_carries_a_new_record_in_its_first_message() {
    let (mut a, mut b) = (node(), node());
    a.publish(attestation(1, 1, NOW - 1000).bytes(), NOW)
        .unwrap();
    sync_pair(&mut b, "b", &mut a, "a");
    assert_eq!(b.accepted_count(), 1);
    // Nothing new: nothing to push.
    assert!(a.push_start("b", NOW).is_empty());
    let (id, _) = a
        .publish(attestation(1, 2, NOW - 500).bytes(), NOW)
        .unwrap();
    let first = a.push_start("b", NOW);
    assert_eq!(first.len(), 1);
    let reply = b.on_sync_request("a", first[0].clone(), NOW).unwrap();
    assert!(b.get(&id).is_some(), "the first message carried it");
    // The exchange then settles like any other.
    let mut pending = a.on_sync_response("b", reply, NOW).unwrap();
    for _ in 0..10 {
        let Some(req) = pending.pop() else { break };
        let resp = b.on_sync_request("a", req, NOW).unwrap();
        pending.extend(a.on_sync_response("b", resp, NOW).unwrap());
    }
    assert!(pending.is_empty());
    assert_eq!(a.accepted_ids(), b.accepted_ids());

    // A pair with no state yet: the push is the start of an exchange that
    // brings the record over.
    let mut c = node();
    let mut pending = a.push_start("c", NOW);
    assert!(!pending.is_empty());
    for _ in 0..10 {
        let Some(req) = pending.pop() else { break };
        let resp = c.on_sync_request("a", req, NOW).unwrap();
        pending.extend(a.on_sync_response("c", resp, NOW).unwrap());
    }
    assert_eq!(c.accepted_ids(), a.accepted_ids());
}

#[test]
fn a_restarted_node_keeps_its_accepted_state() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("commons.redb");
    let ids = {
        let mut a = Commons::open(&path, COMMONS, Gate::default()).unwrap();
        for i in 0..50 {
            a.publish(attestation(3, i, NOW).bytes(), NOW).unwrap();
        }
        a.accepted_ids()
    };
    let mut again = Commons::open(&path, COMMONS, Gate::default()).unwrap();
    assert_eq!(again.accepted_ids(), ids);
    // Its document came back too: a fresh node syncs everything from it.
    let mut fresh = node();
    sync_pair(&mut fresh, "fresh", &mut again, "again");
    assert_eq!(fresh.accepted_ids(), ids);
    // Records are read back from the store, whole and by kind.
    let one = *ids.iter().next().unwrap();
    assert_eq!(again.get(&one).unwrap().id(), one);
    assert_eq!(again.records_of(Kind::MembershipAttestation).len(), 50);
    assert!(again.records_of(Kind::Vote).is_empty());
    // And a store of one commons refuses to open as another.
    drop(again);
    let other = "0".repeat(64);
    assert!(Commons::open(&path, other, Gate::default()).is_err());

    // A store whose index is gone (an older file) is re-indexed on open.
    {
        let db = redb::Database::create(&path).unwrap();
        let tx = db.begin_write().unwrap();
        let index: redb::TableDefinition<&[u8; 32], (u8, i64)> =
            redb::TableDefinition::new("record_index");
        assert!(tx.delete_table(index).unwrap());
        tx.commit().unwrap();
    }
    let reindexed = Commons::open(&path, COMMONS, Gate::default()).unwrap();
    assert_eq!(reindexed.accepted_ids(), ids);
    assert_eq!(reindexed.records_of(Kind::MembershipAttestation).len(), 50);
}

#[test]
fn gossip_rejections_are_typed_and_counted() {
    let (mut a, mut b) = (node(), node());
    let r = attestation(4, 1, NOW);
    let (_, change) = a.publish(r.bytes(), NOW).unwrap();
    // A change carrying a record whose signature was forged.
    let mut forged = r.bytes().to_vec();
    let pos = forged.windows(9).position(|w| w == b"\"member\":").unwrap() + 10;
    forged[pos] = if forged[pos] == b'a' { b'b' } else { b'a' };
    let forged_change = hostile_change(COMMONS, |tx, map| {
        tx.put(
            map,
            RecordId::of(&forged).to_hex().as_str(),
            ScalarValue::Bytes(forged.clone()),
        )
        .unwrap();
    });
    let v = b.on_gossip("mallory", &forged_change, NOW);
    assert!(
        matches!(v, GossipVerdict::Reject(Rejection::BadSignature)),
        "{v:?}"
    );
    // A record under a key that is not its id.
    let wrong_id = hostile_change(COMMONS, |tx, map| {
        tx.put(
            map,
            "ab".repeat(32).as_str(),
            ScalarValue::Bytes(r.bytes().to_vec()),
        )
        .unwrap();
    });
    assert!(matches!(
        b.on_gossip("mallory", &wrong_id, NOW),
        GossipVerdict::Reject(Rejection::WrongId { .. })
    ));
    // From the future.
    let future = attestation(4, 2, NOW + 11 * 60 * 1000);
    let future_change = hostile_change(COMMONS, |tx, map| {
        tx.put(
            map,
            future.id().to_hex().as_str(),
            ScalarValue::Bytes(future.bytes().to_vec()),
        )
        .unwrap();
    });
    assert!(matches!(
        b.on_gossip("mallory", &future_change, NOW),
        GossipVerdict::Reject(Rejection::FromTheFuture { .. })
    ));
    // A replay long after the record was made.
    assert!(matches!(
        b.on_gossip("a", &change, NOW),
        GossipVerdict::Accept(_)
    ));
    assert!(matches!(
        b.on_gossip("mallory", &change, NOW + 3_600_000),
        GossipVerdict::Reject(Rejection::Replay(_))
    ));
    let counts = b.rejections();
    for reason in ["bad_signature", "wrong_id", "from_the_future", "replay"] {
        assert_eq!(counts.get("mallory", reason), 1, "{reason}");
    }
    assert_eq!(counts.total_for("a"), 0);
    assert_eq!(b.accepted_count(), 1);
}

/// A change made by an attacker against the commons genesis: `edit` gets the
/// transaction and the membership_attestation map.
fn hostile_change(
    commons: &str,
    edit: impl FnOnce(&mut automerge::transaction::Transaction<'_>, &automerge::ObjId),
) -> Vec<u8> {
    let mut doc = genesis_doc(commons);
    let map = match doc.get(automerge::ROOT, "membership_attestation").unwrap() {
        Some((_, id)) => id,
        None => panic!("no map"),
    };
    doc.set_actor(ActorId::random());
    let mut tx = doc.transaction();
    edit(&mut tx, &map);
    let (hash, _) = tx.commit_with(CommitOptions::default().with_time(0));
    doc.get_change_by_hash(&hash.unwrap())
        .unwrap()
        .raw_bytes()
        .to_vec()
}

/// The same genesis an honest node builds, obtained the way an attacker
/// would: by syncing with an honest node.
fn genesis_doc(commons: &str) -> Automerge {
    let mut honest = Commons::in_memory(commons, Gate::default());
    let r = attestation(9, 200, NOW);
    let (_, change) = honest.publish(r.bytes(), NOW).unwrap();
    let mut doc = Automerge::new();
    let c = automerge::Change::try_from(change.as_slice()).unwrap();
    // The genesis change is the dependency of the first record change; ask
    // the honest node for it over sync.
    let mut state = automerge::sync::State::new();
    let SyncResponse::Docs { docs } = honest
        .on_sync_request(
            "x",
            SyncRequest::Docs {
                commons: commons.into(),
            },
            NOW,
        )
        .unwrap()
    else {
        panic!()
    };
    let mut msg = doc.generate_sync_message(&mut state).unwrap();
    // Speak as honest nodes do: V1, no capability flags.
    msg.flags = None;
    msg.version = automerge::sync::MessageVersion::V1;
    let SyncResponse::Sync {
        message: Some(reply),
        ..
    } = honest
        .on_sync_request(
            "x",
            SyncRequest::Sync {
                commons: commons.into(),
                doc: docs[0].clone(),
                message: msg.encode(),
            },
            NOW,
        )
        .unwrap()
    else {
        panic!()
    };
    doc.receive_sync_message(&mut state, Message::decode(&reply).unwrap())
        .unwrap();
    let _ = c;
    // Keep only the genesis: fork at the first change.
    let genesis = doc
        .get_changes(&[])
        .into_iter()
        .find(|ch| ch.deps().is_empty())
        .unwrap()
        .hash();
    doc.fork_at(&[genesis]).unwrap()
}

#[test]
fn sync_messages_that_delete_or_overwrite_are_refused_whole() {
    let mut honest = node();
    let r = attestation(5, 1, NOW);
    honest.publish(r.bytes(), NOW).unwrap();
    let doc_key = "governance/2026-11".to_string();
    let before = honest.accepted_ids();

    let attacks: Vec<(&str, Vec<u8>)> = vec![
        (
            "delete",
            hostile_change(COMMONS, |tx, map| {
                tx.put(
                    map,
                    r.id().to_hex().as_str(),
                    ScalarValue::Bytes(r.bytes().to_vec()),
                )
                .unwrap();
                tx.delete(map, r.id().to_hex().as_str()).unwrap();
            }),
        ),
        (
            "overwrite",
            hostile_change(COMMONS, |tx, map| {
                let other = attestation(5, 2, NOW);
                tx.put(
                    map,
                    r.id().to_hex().as_str(),
                    ScalarValue::Bytes(r.bytes().to_vec()),
                )
                .unwrap();
                tx.put(
                    map,
                    r.id().to_hex().as_str(),
                    ScalarValue::Bytes(other.bytes().to_vec()),
                )
                .unwrap();
            }),
        ),
        (
            "root write",
            hostile_change(COMMONS, |tx, _| {
                tx.put(automerge::ROOT, "commons", "mine").unwrap();
            }),
        ),
        (
            "string value",
            hostile_change(COMMONS, |tx, map| {
                tx.put(map, r.id().to_hex().as_str(), "not bytes").unwrap();
            }),
        ),
    ];
    let expected = ["deletes a key", "overwrites", "root", "not record bytes"];
    for ((name, change), expected) in attacks.into_iter().zip(expected) {
        let message = Message {
            heads: vec![],
            need: vec![],
            have: vec![],
            changes: vec![change].into(),
            flags: None,
            version: automerge::sync::MessageVersion::V1,
        };
        let result = honest.on_sync_request(
            "mallory",
            SyncRequest::Sync {
                commons: COMMONS.into(),
                doc: doc_key.clone(),
                message: message.encode(),
            },
            NOW,
        );
        let error = result
            .expect_err("a hostile change was accepted")
            .to_string();
        assert!(error.contains(expected), "{name}: {error}");
        assert_eq!(honest.accepted_ids(), before, "{name} changed the state");
    }
    // Each refused message counts once against the peer.
    assert_eq!(
        honest.rejections().get("mallory", "forbidden_op"),
        4,
        "{:?}",
        honest.rejections()
    );
    // Another commons is refused outright.
    assert!(
        honest
            .on_sync_request(
                "stranger",
                SyncRequest::Docs {
                    commons: "f".repeat(64)
                },
                NOW
            )
            .is_err()
    );
}

#[test]
fn bad_sync_bytes_never_panic() {
    let mut honest = node();
    honest.publish(attestation(6, 1, NOW).bytes(), NOW).unwrap();
    let mut seeds: Vec<Vec<u8>> = vec![
        vec![],
        vec![0x42],
        vec![0x42, 0, 0, 0, 0xff],
        vec![0x43; 40],
    ];
    // A message with a hostile bloom filter: zero bits per entry.
    seeds.push(vec![0x42, 0, 1, 0, 0x01, 0x00, 0x05, 0x01, 0x00, 0x07, 0]);
    for bytes in seeds {
        let r = honest.on_sync_request(
            "fuzz",
            SyncRequest::Sync {
                commons: COMMONS.into(),
                doc: "governance/2026-11".into(),
                message: bytes,
            },
            NOW,
        );
        assert!(r.is_err());
    }
    assert_eq!(honest.accepted_count(), 1);
}

#[derive(Debug, Clone)]
enum Delivery {
    Gossip(usize),
    Sync,
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    /// However records arrive (gossip in any order, duplicated, interleaved
    /// with sync rounds), honest nodes end with the same accepted set.
    #[test]
    fn accepted_set_is_independent_of_arrival_order(
        order in proptest::collection::vec((0usize..12, any::<bool>()), 0..40)
    ) {
        let mut origin = node();
        let mut changes = Vec::new();
        for i in 0..12 {
            let (_, c) = origin.publish(attestation(7, i, NOW).bytes(), NOW).unwrap();
            changes.push(c);
        }
        let mut x = node();
        let mut y = node();
        let plan: Vec<Delivery> = order
            .iter()
            .map(|(i, sync)| if *sync && i % 3 == 0 { Delivery::Sync } else { Delivery::Gossip(*i) })
            .collect();
        for d in &plan {
            match d {
                Delivery::Gossip(i) => {
                    let _ = x.on_gossip("origin", &changes[*i], NOW);
                    let _ = y.on_gossip("origin", &changes[11 - *i], NOW);
                }
                Delivery::Sync => sync_pair(&mut x, "x", &mut y, "y"),
            }
        }
        sync_pair(&mut x, "x", &mut origin, "origin");
        sync_pair(&mut y, "y", &mut origin, "origin");
        sync_pair(&mut x, "x", &mut y, "y");
        let all: BTreeSet<RecordId> = origin.accepted_ids();
        prop_assert_eq!(x.accepted_ids(), all.clone());
        prop_assert_eq!(y.accepted_ids(), all);
        prop_assert_eq!(x.rejections().total_for("origin"), 0);
    }
}

#[test]
fn the_governance_rules_refuse_a_proposal_that_breaks_an_invariant() {
    use mirror_commons::governance::GovernanceRules;
    let checker = mirror_constitution::Constitution::genesis()
        .checker()
        .unwrap();
    let gate = || Gate::new(Box::new(GovernanceRules::new(COMMONS, 1, checker.clone())));
    let mut a = Commons::in_memory(COMMONS, gate());
    let mut b = Commons::in_memory(COMMONS, gate());
    let proposal = |removes_export: bool| {
        let Value::Object(p) = json!({
            "proposal_type": "pattern_detection",
            "title": "Notice more absolutes",
            "description": "Adds a cue seen in the dev set.",
            "change": {"target": "params", "edits": [
                {"path": "/patterns/absolute_thinking/rules/0/cues", "after": ["always"]}
            ]},
            "evidence": [],
            "flags": {"data_collection": false, "user_consent_required": false,
                      "removes_export": removes_export, "breaking_change": false}
        }) else {
            unreachable!()
        };
        Record::sign(
            Kind::EvolutionProposal,
            NOW,
            p,
            &SigningKey::from_bytes(&[4; 32]),
        )
        .unwrap()
    };
    // A clean proposal passes and gossips.
    let (_, change) = a.publish(proposal(false).bytes(), NOW).unwrap();
    assert!(matches!(
        b.on_gossip("a", &change, NOW),
        GossipVerdict::Accept(_)
    ));
    // One that removes export is refused locally, and on arrival from a
    // peer whose gate let it through, with I5 named.
    let bad = proposal(true);
    let err = a.publish(bad.bytes(), NOW).unwrap_err().to_string();
    assert!(err.contains("I5"), "{err}");
    let mut lax = node();
    let (_, change) = lax.publish(bad.bytes(), NOW).unwrap();
    match b.on_gossip("lax", &change, NOW) {
        GossipVerdict::Reject(r) => assert_eq!(r.reason(), "invariant_violation"),
        other => panic!("accepted: {other:?}"),
    }
    assert_eq!(b.rejections().get("lax", "invariant_violation"), 1);
    assert_eq!(b.accepted_count(), 1);
}

#[test]
fn the_governance_rules_refuse_a_release_below_its_own_threshold() {
    use mirror_commons::governance::GovernanceRules;
    use mirror_governance::release;
    let checker = mirror_constitution::Constitution::genesis()
        .checker()
        .unwrap();
    let mut c = Commons::in_memory(
        COMMONS,
        Gate::new(Box::new(GovernanceRules::new(COMMONS, 1, checker))),
    );
    let guardians = mirror_governance::ledger::GuardianSet {
        version: 1,
        keys: [1u8, 2]
            .iter()
            .map(|n| {
                mirror_governance::payload::Hex(
                    SigningKey::from_bytes(&[*n; 32]).verifying_key().to_bytes(),
                )
            })
            .collect(),
        threshold: 2,
        attestations_required: 1,
        record: mirror_governance::payload::Hex([0; 32]),
        since: 0,
    };
    let unsigned = release::build(&release::BuildSpec {
        version: 1,
        previous: None,
        proposals: vec![],
        params: &mirror_governance::params::EngineParams::genesis().unwrap(),
        constitution: None,
        guardians: &guardians,
        expires_ms: NOW + 86_400_000,
        earlier_guardians: &[],
        earlier_roots: &[],
        root_expires_ms: NOW + 86_400_000,
    })
    .unwrap();
    let (half, _) = release::sign(&unsigned, &SigningKey::from_bytes(&[1; 32])).unwrap();
    let (full, _) = release::sign(&half, &SigningKey::from_bytes(&[2; 32])).unwrap();
    let record = |m: &mirror_governance::payload::ReleaseManifest| {
        let map = mirror_governance::payload::to_payload(m).unwrap();
        Record::sign(
            Kind::ReleaseManifest,
            NOW,
            map,
            &SigningKey::from_bytes(&[1; 32]),
        )
        .unwrap()
    };
    let err = c
        .publish(record(&half).bytes(), NOW)
        .unwrap_err()
        .to_string();
    assert!(err.contains("not signed by enough"), "{err}");
    assert_eq!(c.accepted_count(), 0);
    c.publish(record(&full).bytes(), NOW).unwrap();
    assert_eq!(c.accepted_count(), 1);

    // A candidate gathers signatures: the half-signed release is taken as a
    // candidate from its signer, and refused from a key that has not signed
    // it and when it carries no signature at all.
    let candidate = |m: &mirror_governance::payload::ReleaseManifest, seed: u8| {
        let map = mirror_governance::payload::to_payload(
            &mirror_governance::payload::ReleaseCandidate(m.clone()),
        )
        .unwrap();
        Record::sign(
            Kind::ReleaseCandidate,
            NOW,
            map,
            &SigningKey::from_bytes(&[seed; 32]),
        )
        .unwrap()
    };
    c.publish(candidate(&half, 1).bytes(), NOW).unwrap();
    assert_eq!(c.accepted_count(), 2);
    for (m, seed) in [(&half, 2), (&unsigned, 1)] {
        let err = c
            .publish(candidate(m, seed).bytes(), NOW)
            .unwrap_err()
            .to_string();
        assert!(err.contains("its author's signature"), "{err}");
    }
    assert_eq!(c.accepted_count(), 2);
}

fn registry() -> mirror_governance::telemetry::TelemetryRegistry {
    mirror_governance::params::EngineParams::genesis()
        .unwrap()
        .telemetry
}

fn governance_node() -> Commons {
    use mirror_commons::governance::GovernanceRules;
    let checker = mirror_constitution::Constitution::genesis()
        .checker()
        .unwrap();
    Commons::in_memory(
        COMMONS,
        Gate::new(Box::new(GovernanceRules::new(COMMONS, 1, checker))),
    )
}

fn packet(version: u64, metrics: Value, seed: u8) -> Record {
    let Value::Object(p) = json!({
        "registry_version": version,
        "period": NOW / 86_400_000,
        "metrics": metrics,
    }) else {
        unreachable!()
    };
    Record::sign(
        Kind::TelemetryPacket,
        NOW,
        p,
        &SigningKey::from_bytes(&[seed; 32]),
    )
    .unwrap()
}

/// Issue #14, bug 1: a release that changes the metric registry reaches
/// nodes at different times. A node still on version 1 must keep the
/// packets made under version 2 (uncounted) rather than refuse them and
/// strike the honest node that sent them, and the other way round.
#[test]
fn nodes_at_different_registry_versions_never_refuse_each_other() {
    use mirror_governance::payload::TelemetryPacket;
    use mirror_governance::telemetry::{MetricSpec, aggregate};
    let v1 = registry();
    let mut v2 = v1.clone();
    v2.version = v1.version + 1;
    v2.metrics.push(MetricSpec {
        name: "commons.syncs".into(),
        kind: mirror_governance::payload::MetricKind::Counter,
        description: "new in version 2".into(),
        epsilon: 1.0,
        budget: 100.0,
        max: 10,
        buckets: vec![],
    });
    // Each node's gate is built exactly as the daemon builds it: it reads
    // no registry at all, so the two nodes' packs cannot split them.
    let (mut old, mut new) = (governance_node(), governance_node());
    let under_v1 = packet(
        v1.version,
        json!([{"name": "reflections.count", "kind": "counter", "values": [3]}]),
        40,
    );
    let under_v2 = packet(
        v2.version,
        json!([{"name": "commons.syncs", "kind": "counter", "values": [2]}]),
        41,
    );
    let (_, g1) = old.publish(under_v1.bytes(), NOW).unwrap();
    let (_, g2) = new.publish(under_v2.bytes(), NOW).unwrap();
    assert!(matches!(
        new.on_gossip("old", &g1, NOW),
        GossipVerdict::Accept(_)
    ));
    assert!(matches!(
        old.on_gossip("new", &g2, NOW),
        GossipVerdict::Accept(_)
    ));
    // A late joiner on version 1 catches up from the node on version 2.
    let mut late = governance_node();
    sync_pair(&mut late, "late", &mut new, "new");
    for (node, name) in [(&old, "old"), (&new, "new"), (&late, "late")] {
        assert_eq!(node.accepted_count(), 2, "{name}");
        for peer in ["old", "new", "late"] {
            assert_eq!(
                node.rejections().total_for(peer),
                0,
                "{name} refused {peer}"
            );
        }
    }
    // Counting judges each packet against the registry it declares: the
    // node on version 1 leaves the version 2 packet out, and a node that
    // applied version 2 counts it there.
    let packets: Vec<TelemetryPacket> = old
        .records_of(Kind::TelemetryPacket)
        .iter()
        .map(|r| mirror_governance::payload::parse(&r.payload).unwrap())
        .collect();
    let count = |reg: &mirror_governance::telemetry::TelemetryRegistry, name: &str| {
        aggregate(reg, &packets)
            .into_iter()
            .find(|e| e.name == name)
            .map(|e| e.packets)
    };
    assert_eq!(count(&v1, "reflections.count"), Some(1));
    assert_eq!(count(&v1, "commons.syncs"), None);
    assert_eq!(count(&v2, "commons.syncs"), Some(1));
    assert_eq!(count(&v2, "reflections.count"), Some(0));
    // What is wrong under any registry is still refused by every node.
    let two_buckets = packet(
        v1.version,
        json!([{"name": "x.y", "kind": "histogram", "values": [1, 1]}]),
        42,
    );
    let mut lax = node();
    let (_, bad) = lax.publish(two_buckets.bytes(), NOW).unwrap();
    for n in [&mut old, &mut new] {
        match n.on_gossip("lax", &bad, NOW) {
            GossipVerdict::Reject(r) => assert_eq!(r.reason(), "bad_metric"),
            other => panic!("accepted: {other:?}"),
        }
    }
}

/// What a node lists must be what it serves: every accepted record is in
/// the document sync runs on, so a node catching up from it gets them all.
fn assert_serves_what_it_lists(node: &mut Commons, name: &str) {
    let mut fresh = self::node();
    sync_pair(&mut fresh, "fresh", node, name);
    assert_eq!(
        fresh.accepted_ids(),
        node.accepted_ids(),
        "{name} lists records its document does not hold"
    );
}

/// Issue #14, bug 2: gossip ran ahead of sync, and the change's parent has
/// not arrived. Automerge would queue the change out of sight; the record
/// must not be accepted until the document holds it.
#[test]
fn a_gossiped_change_ahead_of_its_parent_waits_for_sync() {
    let (mut a, mut b) = (node(), node());
    let (_, first) = a.publish(attestation(1, 1, NOW).bytes(), NOW).unwrap();
    let (_, second) = a.publish(attestation(1, 2, NOW).bytes(), NOW).unwrap();
    // b hears the second change only: not the sender's fault, not accepted.
    assert_eq!(b.on_gossip("a", &second, NOW), GossipVerdict::Ignore);
    assert_eq!(b.accepted_count(), 0);
    assert_eq!(b.rejections().total_for("a"), 0);
    assert_serves_what_it_lists(&mut b, "b");
    // Once the parent arrives, the child is accepted when heard again, and
    // everything matches after a sync.
    assert!(matches!(
        b.on_gossip("a", &first, NOW),
        GossipVerdict::Accept(_)
    ));
    assert!(matches!(
        b.on_gossip("a", &second, NOW),
        GossipVerdict::Accept(_)
    ));
    sync_pair(&mut b, "b", &mut a, "a");
    assert_eq!(b.accepted_ids(), a.accepted_ids());
    assert_serves_what_it_lists(&mut b, "b");
}

/// The same on the sync path: a message whose change lacks its parent (an
/// honest peer's bloom filter false positive looks like this) is not held
/// against the peer, and its record is not accepted until its parent comes.
#[test]
fn a_synced_change_without_its_parent_is_deferred_not_accepted() {
    let (mut a, mut b) = (node(), node());
    a.publish(attestation(1, 1, NOW).bytes(), NOW).unwrap();
    let (_, second) = a.publish(attestation(1, 2, NOW).bytes(), NOW).unwrap();
    let doc = mirror_commons::doc::DocKey::of(Kind::MembershipAttestation, NOW).to_string();
    let message = Message {
        heads: vec![],
        need: vec![],
        have: vec![],
        changes: vec![second].into(),
        flags: None,
        version: automerge::sync::MessageVersion::V1,
    }
    .encode();
    let reply = b
        .on_sync_request(
            "a",
            SyncRequest::Sync {
                commons: COMMONS.into(),
                doc,
                message,
            },
            NOW,
        )
        .unwrap();
    assert!(matches!(reply, SyncResponse::Sync { .. }));
    assert_eq!(b.accepted_count(), 0);
    assert_eq!(b.rejections().total_for("a"), 0);
    assert_serves_what_it_lists(&mut b, "b");
    sync_pair(&mut b, "b", &mut a, "a");
    assert_eq!(b.accepted_ids(), a.accepted_ids());
    assert_eq!(b.accepted_count(), 2);
    assert_serves_what_it_lists(&mut b, "b");
}

/// The fuzz crasher for the change decoder (`fuzz/crashers/change/`) and
/// every corpus change, offered as gossip and applied directly: refused,
/// never a panic, nothing accepted.
#[test]
fn the_change_crashers_cannot_panic_the_node() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut seen = 0;
    for dir in ["crashers/change", "corpus/change"] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap() {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            seen += 1;
            let mut n = node();
            let verdict = n.on_gossip("fuzz", &bytes, NOW);
            assert!(!matches!(verdict, GossipVerdict::Accept(_)), "{verdict:?}");
            let mut doc = mirror_commons::doc::EpochDoc::new(
                COMMONS,
                mirror_commons::doc::DocKey::of(Kind::MembershipAttestation, NOW),
            );
            if dir.starts_with("crashers") {
                // Refused by the check, before Automerge applies anything
                // (applying it panics inside Automerge 0.12).
                assert!(doc.check_change(0, &bytes).is_err());
            }
            let heads = doc.heads();
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let _ = doc.check_change(0, &bytes);
                doc.apply_change(&bytes)
            }));
            let applied = outcome.expect("applying a crasher must not panic");
            assert!(applied.is_err() || doc.heads() != heads);
        }
    }
    assert!(seen >= 2);
}

/// Issue #14, bug 3: the store fails after the document in memory took the
/// change. The document is put back as the store holds it, so sync never
/// serves an uncommitted record, and the record can be offered again.
#[test]
fn a_failed_commit_leaves_nothing_served_that_was_not_stored() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("commons.redb");
    let mut a = Commons::open(&path, COMMONS, Gate::default()).unwrap();
    a.publish(attestation(1, 1, NOW).bytes(), NOW).unwrap();
    // Publishing.
    let second = attestation(1, 2, NOW);
    a.inject_store_faults(1);
    let err = a.publish(second.bytes(), NOW).unwrap_err().to_string();
    assert!(err.contains("injected"), "{err}");
    assert_eq!(a.accepted_count(), 1);
    assert_serves_what_it_lists(&mut a, "a");
    let (_, second_change) = a.publish(second.bytes(), NOW).unwrap();
    assert_eq!(a.accepted_count(), 2);
    // Gossip.
    let mut src = node();
    let (_, g) = src.publish(attestation(2, 3, NOW).bytes(), NOW).unwrap();
    a.inject_store_faults(1);
    assert_eq!(a.on_gossip("src", &g, NOW), GossipVerdict::Ignore);
    assert_eq!(a.rejections().total_for("src"), 0);
    assert_eq!(a.accepted_count(), 2);
    assert_serves_what_it_lists(&mut a, "a");
    assert!(matches!(
        a.on_gossip("src", &g, NOW),
        GossipVerdict::Accept(_)
    ));
    // Sync.
    src.publish(attestation(2, 4, NOW).bytes(), NOW).unwrap();
    a.inject_store_faults(1);
    let mut failed = false;
    let mut pending = vec![a.sync_start("src")];
    while let Some(req) = pending.pop() {
        let resp = src.on_sync_request("a", req, NOW).unwrap();
        match a.on_sync_response("src", resp, NOW) {
            Ok(more) => pending.extend(more),
            Err(e) => {
                assert_eq!(e.reason(), "store");
                failed = true;
            }
        }
    }
    assert!(failed, "the injected fault was not hit");
    assert_eq!(a.accepted_count(), 3);
    assert_eq!(a.rejections().total_for("src"), 0);
    assert_serves_what_it_lists(&mut a, "a");
    sync_pair(&mut a, "a", &mut src, "src");
    assert_eq!(a.accepted_count(), 4);
    assert_serves_what_it_lists(&mut a, "a");
    // And the file holds exactly what the node listed.
    let ids = a.accepted_ids();
    drop(a);
    let mut reopened = Commons::open(&path, COMMONS, Gate::default()).unwrap();
    assert_eq!(reopened.accepted_ids(), ids);
    assert_serves_what_it_lists(&mut reopened, "reopened");
    let _ = second_change;
}

/// A proposal of about 60 KB whose text does not compress.
fn big_proposal(n: u32) -> Record {
    let filler = |i: u32| {
        let mut s = String::new();
        let mut h = blake3::Hasher::new();
        h.update(&n.to_le_bytes());
        h.update(&i.to_le_bytes());
        let mut xof = h.finalize_xof();
        let mut buf = [0u8; 990];
        xof.fill(&mut buf);
        s.push_str(&hex::encode(buf));
        s
    };
    let evidence: Vec<Value> = (0..28).map(|i| Value::String(filler(i))).collect();
    let Value::Object(p) = json!({
        "proposal_type": "pattern_detection",
        "title": format!("Proposal {n}"),
        "description": "Padding for the catch-up test.",
        "change": {"target": "params", "edits": [
            {"path": "/patterns/absolute_thinking/rules/0/cues", "after": ["always"]}
        ]},
        "evidence": evidence,
        "flags": {"data_collection": false, "user_consent_required": false,
                  "removes_export": false, "breaking_change": false}
    }) else {
        unreachable!()
    };
    Record::sign(
        Kind::EvolutionProposal,
        NOW,
        p,
        &SigningKey::from_bytes(&[5; 32]),
    )
    .unwrap()
}

/// Peak resident memory of this process, in KiB (Linux).
fn peak_rss_kib() -> Option<u64> {
    std::fs::read_to_string("/proc/self/status")
        .ok()?
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Issue #14, bug 4: an epoch holding more than 8 MiB of changes catches
/// up through the real sync codec (CBOR, 16 MiB cap): byte strings on the
/// wire, and the changes split across rounds well below the cap.
#[test]
fn a_catch_up_of_more_than_8_mib_goes_through_the_codec_in_bounded_rounds() {
    use futures::executor::block_on;
    use libp2p::request_response::Codec;
    use mirror_commons::net::{MAX_SYNC_BYTES, sync_protocol};
    let mut codec =
        libp2p::request_response::cbor::codec::Codec::<SyncRequest, SyncResponse>::default()
            .set_request_size_maximum(MAX_SYNC_BYTES)
            .set_response_size_maximum(MAX_SYNC_BYTES);
    let protocol = sync_protocol(COMMONS).unwrap();
    let mut a = node();
    let mut total = 0;
    for n in 0..170 {
        let r = big_proposal(n);
        total += r.bytes().len();
        a.publish(r.bytes(), NOW).unwrap();
    }
    assert!(total > 8 * 1024 * 1024, "only {total} bytes of records");
    let before = peak_rss_kib();
    let mut b = node();
    let mut largest = 0usize;
    let mut rounds = 0;
    let mut pending = vec![b.sync_start("a")];
    while let Some(req) = pending.pop() {
        rounds += 1;
        assert!(rounds < 1000, "sync did not settle");
        // Through the codec both ways, as on a stream.
        let mut wire = futures::io::Cursor::new(Vec::new());
        block_on(codec.write_request(&protocol, &mut wire, req)).unwrap();
        let wire = wire.into_inner();
        largest = largest.max(wire.len());
        let req = block_on(codec.read_request(&protocol, &mut futures::io::Cursor::new(wire)))
            .expect("a request within the cap");
        let resp = a.on_sync_request("b", req, NOW).unwrap();
        let mut wire = futures::io::Cursor::new(Vec::new());
        block_on(codec.write_response(&protocol, &mut wire, resp)).unwrap();
        let wire = wire.into_inner();
        largest = largest.max(wire.len());
        let resp = block_on(codec.read_response(&protocol, &mut futures::io::Cursor::new(wire)))
            .expect("a response within the cap");
        pending.extend(b.on_sync_response("a", resp, NOW).unwrap());
    }
    assert_eq!(b.accepted_ids(), a.accepted_ids());
    assert!(
        largest <= mirror_commons::doc::MAX_OUTGOING_CHANGE_BYTES + 256 * 1024,
        "a message of {largest} bytes"
    );
    let after = peak_rss_kib();
    eprintln!(
        "catch-up: {total} bytes of records, {rounds} requests, largest message {largest} bytes, peak RSS {before:?} -> {after:?} KiB"
    );
}

/// The byte fields of sync messages are CBOR byte strings on the wire, and
/// the older array-of-integers form still decodes.
#[test]
fn sync_message_bytes_are_cbor_byte_strings_and_the_old_form_still_reads() {
    use futures::executor::block_on;
    use libp2p::request_response::Codec;
    use mirror_commons::net::{MAX_SYNC_BYTES, sync_protocol};
    let mut codec =
        libp2p::request_response::cbor::codec::Codec::<SyncRequest, SyncResponse>::default()
            .set_request_size_maximum(MAX_SYNC_BYTES)
            .set_response_size_maximum(MAX_SYNC_BYTES);
    let protocol = sync_protocol(COMMONS).unwrap();
    let req = SyncRequest::Sync {
        commons: "c".into(),
        doc: "governance/2026-11".into(),
        message: vec![0x42, 0, 255],
    };
    let mut wire = futures::io::Cursor::new(Vec::new());
    block_on(codec.write_request(&protocol, &mut wire, req.clone())).unwrap();
    let wire = wire.into_inner();
    // {"Sync": {"commons": "c", "doc": "governance/2026-11", "message": h'4200ff'}}
    let mut expected = vec![0xa1, 0x64];
    expected.extend(b"Sync");
    expected.extend([0xa3, 0x67]);
    expected.extend(b"commons");
    expected.extend([0x61, b'c', 0x63]);
    expected.extend(b"doc");
    expected.push(0x72);
    expected.extend(b"governance/2026-11");
    expected.push(0x67);
    expected.extend(b"message");
    expected.extend([0x43, 0x42, 0x00, 0xff]);
    assert_eq!(wire, expected);
    // The same request as nodes wrote it before: the bytes as an array.
    let mut old = expected[..expected.len() - 4].to_vec();
    old.extend([0x83, 0x18, 0x42, 0x00, 0x18, 0xff]);
    let back = block_on(codec.read_request(&protocol, &mut futures::io::Cursor::new(old))).unwrap();
    assert_eq!(back, req);
    for resp in [
        SyncResponse::Sync {
            doc: "d".into(),
            message: Some(vec![1, 2, 3]),
        },
        SyncResponse::Sync {
            doc: "d".into(),
            message: None,
        },
    ] {
        let mut wire = futures::io::Cursor::new(Vec::new());
        block_on(codec.write_response(&protocol, &mut wire, resp.clone())).unwrap();
        let wire = wire.into_inner();
        if let SyncResponse::Sync {
            message: Some(_), ..
        } = &resp
        {
            assert!(wire.ends_with(&[0x43, 1, 2, 3]), "{wire:02x?}");
        }
        let back =
            block_on(codec.read_response(&protocol, &mut futures::io::Cursor::new(wire))).unwrap();
        assert_eq!(back, resp);
    }
}

/// The sync protocol's test vectors (`schemas/sync-vectors.json`, described
/// in `schemas/PROTOCOL.md`): the CBOR of every request and response shape,
/// each document's genesis change hash, a fresh node's first Automerge sync
/// message, and a message in the form current Automerge implementations
/// send (V1 with a flags section) that a node must accept. Regenerate with
/// `MIRROR_WRITE_VECTORS=1 cargo test -p mirror-commons --test core vectors`.
#[test]
fn sync_vectors_match_schemas_sync_vectors_json() {
    use automerge::sync::{MessageFlags, MessageVersion, State};
    use futures::executor::block_on;
    use libp2p::request_response::Codec;
    use mirror_commons::doc::{DocKey, EpochDoc};
    use mirror_commons::net::{MAX_SYNC_BYTES, sync_protocol};
    let mut codec =
        libp2p::request_response::cbor::codec::Codec::<SyncRequest, SyncResponse>::default()
            .set_request_size_maximum(MAX_SYNC_BYTES)
            .set_response_size_maximum(MAX_SYNC_BYTES);
    let protocol = sync_protocol(COMMONS).unwrap();
    let doc = "governance/2026-11";
    let key = DocKey::parse(doc).unwrap();
    let fresh = EpochDoc::new(COMMONS, key);
    let first = fresh.generate(&mut State::new()).unwrap();
    // A record inserted by a node whose actor ids are seeded, sent the way
    // stock Automerge 3 sends it: V1, with a flags section.
    let mut origin = node();
    origin.seed_actors([3; 32]);
    let record = attestation(9, 1, NOW);
    let (_, change) = origin.publish(record.bytes(), NOW).unwrap();
    let mut flags = MessageFlags::new();
    flags.set(MessageFlags::SUPPORTS_SYNC_RESET);
    let flagged = Message {
        heads: vec![],
        need: vec![],
        have: vec![],
        changes: vec![change.clone()].into(),
        flags: Some(flags),
        version: MessageVersion::V1,
    }
    .encode();
    let requests = [
        (
            "docs",
            SyncRequest::Docs {
                commons: COMMONS.into(),
            },
        ),
        (
            "sync_first_round",
            SyncRequest::Sync {
                commons: COMMONS.into(),
                doc: doc.into(),
                message: first.clone(),
            },
        ),
    ];
    let responses = [
        (
            "docs",
            SyncResponse::Docs {
                docs: vec![doc.into(), "telemetry/2026-11".into()],
            },
        ),
        (
            "sync_nothing_to_send",
            SyncResponse::Sync {
                doc: doc.into(),
                message: None,
            },
        ),
        (
            "sync_with_change",
            SyncResponse::Sync {
                doc: doc.into(),
                message: Some(flagged.clone()),
            },
        ),
        (
            "refused",
            SyncResponse::Refused {
                reason: "bad_change".into(),
            },
        ),
    ];
    let mut out_requests = serde_json::Map::new();
    for (name, req) in &requests {
        let mut wire = futures::io::Cursor::new(Vec::new());
        block_on(codec.write_request(&protocol, &mut wire, req.clone())).unwrap();
        let wire = wire.into_inner();
        let back =
            block_on(codec.read_request(&protocol, &mut futures::io::Cursor::new(wire.clone())))
                .unwrap();
        assert_eq!(&back, req);
        out_requests.insert((*name).into(), json!(hex::encode(&wire)));
    }
    let mut out_responses = serde_json::Map::new();
    for (name, resp) in &responses {
        let mut wire = futures::io::Cursor::new(Vec::new());
        block_on(codec.write_response(&protocol, &mut wire, resp.clone())).unwrap();
        let wire = wire.into_inner();
        let back =
            block_on(codec.read_response(&protocol, &mut futures::io::Cursor::new(wire.clone())))
                .unwrap();
        assert_eq!(&back, resp);
        out_responses.insert((*name).into(), json!(hex::encode(&wire)));
    }
    let genesis: serde_json::Map<String, Value> = [doc, "telemetry/2026-11"]
        .iter()
        .map(|d| {
            let e = EpochDoc::new(COMMONS, DocKey::parse(d).unwrap());
            ((*d).to_string(), json!(e.heads()[0].to_string()))
        })
        .collect();
    // The flagged message is accepted by a fresh node, with its record.
    let mut b = node();
    b.on_sync_request(
        "stock",
        SyncRequest::Sync {
            commons: COMMONS.into(),
            doc: doc.into(),
            message: flagged.clone(),
        },
        NOW,
    )
    .unwrap();
    assert_eq!(b.accepted_ids(), BTreeSet::from([record.id()]));
    let vectors = json!({
        "description": "Sync protocol test vectors for a Mirror commons (see schemas/PROTOCOL.md). CBOR values are hex of what the sync codec writes on the stream (no length prefix: request-response writes one value per stream). Regenerate with MIRROR_WRITE_VECTORS=1 cargo test -p mirror-commons --test core vectors.",
        "commons_id": COMMONS,
        "sync_protocol": protocol.as_ref(),
        "gossip_topic": mirror_commons::net::topic(COMMONS).to_string(),
        "identify_protocol_version": mirror_commons::net::identify_version(COMMONS),
        "genesis_change_hash": genesis,
        "fresh_first_sync_message": hex::encode(&first),
        "record": hex::encode(record.bytes()),
        "record_id": record.id().to_hex(),
        "record_change": hex::encode(&change),
        "stock_automerge_v1_message_with_flags": hex::encode(&flagged),
        "requests_cbor": out_requests,
        "responses_cbor": out_responses,
    });
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/sync-vectors.json");
    if std::env::var("MIRROR_WRITE_VECTORS").is_ok() {
        std::fs::write(
            &path,
            serde_json::to_string_pretty(&vectors).unwrap() + "\n",
        )
        .unwrap();
    }
    let stored: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(stored, vectors, "schemas/sync-vectors.json is out of date");
}
