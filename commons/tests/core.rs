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
    let gate = || {
        Gate::new(Box::new(GovernanceRules::new(
            COMMONS,
            1,
            checker.clone(),
            registry(),
        )))
    };
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
        Gate::new(Box::new(GovernanceRules::new(
            COMMONS,
            1,
            checker,
            registry(),
        ))),
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
}

fn registry() -> mirror_governance::telemetry::TelemetryRegistry {
    mirror_governance::params::EngineParams::genesis()
        .unwrap()
        .telemetry
}

#[test]
fn the_governance_rules_refuse_a_packet_with_an_undeclared_metric() {
    use mirror_commons::governance::GovernanceRules;
    let checker = mirror_constitution::Constitution::genesis()
        .checker()
        .unwrap();
    let mut c = Commons::in_memory(
        COMMONS,
        Gate::new(Box::new(GovernanceRules::new(
            COMMONS,
            1,
            checker,
            registry(),
        ))),
    );
    let packet = |name: &str, n: u8| {
        let Value::Object(p) = json!({
            "registry_version": 1,
            "period": NOW / 86_400_000,
            "metrics": [{"name": name, "kind": "counter", "values": [3]}]
        }) else {
            unreachable!()
        };
        Record::sign(
            Kind::TelemetryPacket,
            NOW,
            p,
            &SigningKey::from_bytes(&[n; 32]),
        )
        .unwrap()
    };
    c.publish(packet("reflections.count", 40).bytes(), NOW)
        .unwrap();
    let err = c
        .publish(packet("reflections.words", 41).bytes(), NOW)
        .unwrap_err()
        .to_string();
    assert!(err.contains("not declared"), "{err}");
    assert_eq!(c.accepted_count(), 1);
}
