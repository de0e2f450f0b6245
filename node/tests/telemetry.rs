//! Telemetry and privacy: what a node hands to the network, captured at the
//! publish and sync-response boundary of real commons cores, searched for
//! anything that is the person's; consent off means nothing at all; revoking
//! empties what waits; two packets of one node share nothing that links.

mod nodes;

use std::path::Path;

use mirror_commons::gate::Gate;
use mirror_commons::governance::GovernanceRules;
use mirror_commons::record::Record;
use mirror_commons::service::{Commons, SyncResponse};
use mirror_governance::telemetry::TelemetryRegistry;
use mirror_node::home::Home;
use mirror_node::model::ConsentCategory;
use mirror_node::telemetry;
use nodes::{json_of, ok};

const COMMONS: &str = "5e1f0000000000000000000000000000000000000000000000000000000000aa";

fn registry() -> TelemetryRegistry {
    mirror_governance::params::EngineParams::genesis()
        .unwrap()
        .telemetry
}

fn commons() -> Commons {
    let checker = mirror_constitution::Constitution::genesis()
        .checker()
        .unwrap();
    Commons::in_memory(
        COMMONS,
        Gate::new(Box::new(GovernanceRules::new(COMMONS, 1, checker))),
    )
}

/// A home with reflections carrying canaries, a tension, a thread.
fn person(dir: &Path) -> (Home, Vec<String>) {
    let home_dir = dir.join("home");
    let mut secrets = Vec::new();
    for i in 0..6 {
        let canary = format!("canary{i}x{:08x}", 0x5eed_0000u32 + i);
        let out = json_of(
            &home_dir,
            &[
                "reflect",
                &format!(
                    "I never stop thinking about {canary}; part of me wants to go, but part of me wants to stay."
                ),
            ],
        );
        secrets.push(canary);
        secrets.push(out["reflection"]["id"].as_str().unwrap().to_string());
    }
    let tension = json_of(
        &home_dir,
        &["tension", "add", "lantern-orchard", "control", "surrender"],
    );
    secrets.push("lantern-orchard".into());
    secrets.push(tension["tension"]["id"].as_str().unwrap().to_string());
    let thread = json_of(&home_dir, &["thread", "new", "quiet-harbour-thread"]);
    secrets.push("quiet-harbour-thread".into());
    secrets.push(thread["thread"]["id"].as_str().unwrap().to_string());
    let status = json_of(&home_dir, &["status"]);
    let key = status["identity"]["public_key"]
        .as_str()
        .unwrap()
        .to_string();
    secrets.push(status["identity"]["id"].as_str().unwrap().to_string());
    secrets.push(key);
    // The secret key's seed, from its file.
    let keys = std::fs::read_dir(home_dir.join("keys")).unwrap();
    for entry in keys {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        secrets.extend(text.lines().filter(|l| l.len() == 64).map(str::to_string));
    }
    (Home::resolve(Some(home_dir)).unwrap(), secrets)
}

/// Every form a secret might take on the wire: as written, and for hex and
/// UUIDs, their raw bytes.
fn forms(secret: &str) -> Vec<Vec<u8>> {
    let mut out = vec![secret.as_bytes().to_vec()];
    let hexed = secret.replace('-', "");
    if hexed.len() >= 32 && hexed.bytes().all(|b| b.is_ascii_hexdigit()) {
        out.push(hex::decode(&hexed).unwrap());
        out.push(hexed.into_bytes());
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Prepare, log and publish the packet due at `now`; the record and the
/// gossip payload.
fn send(home: &Home, a: &mut Commons, now: i64) -> Option<(Record, Vec<u8>)> {
    let registry = registry();
    let store = home.open_store().unwrap();
    let p = telemetry::prepare(home, &store, &registry, now).unwrap()?;
    telemetry::log_departure(home, &store, &p, "commons (test)").unwrap();
    let (_, change) = a.publish(p.record.as_bytes(), now).unwrap();
    telemetry::mark_sent(home, &registry, &p).unwrap();
    Some((Record::decode(p.record.as_bytes()).unwrap(), change))
}

/// A fresh peer syncs everything from `a`; every response `a` gives.
fn sync_out(a: &mut Commons, now: i64) -> Vec<Vec<u8>> {
    let mut b = commons();
    let mut out = Vec::new();
    let mut requests = vec![b.sync_start("a")];
    for _ in 0..50 {
        let mut next = Vec::new();
        for r in requests {
            let resp = a.on_sync_request("b", r, now).unwrap();
            if let SyncResponse::Sync {
                message: Some(m), ..
            } = &resp
            {
                out.push(m.clone());
            }
            next.extend(b.on_sync_response("a", resp, now).unwrap());
        }
        if next.is_empty() {
            break;
        }
        requests = next;
    }
    assert!(b.accepted_count() > 0, "the peer received nothing");
    out
}

#[test]
fn nothing_the_node_hands_to_the_network_is_the_persons() {
    let dir = tempfile::tempdir().unwrap();
    let (home, secrets) = person(dir.path());
    for c in ["telemetry", "evolution_feedback", "sharing_reflections"] {
        ok(home.dir(), &["consent", "grant", c]);
    }
    let registry = registry();
    let today = telemetry::due_period(&registry, nodes::now_ms()).unwrap() + 1;
    let mut a = commons();
    let mut wire: Vec<Vec<u8>> = Vec::new();
    // Four reporting periods: today's (with the reflections) and three more.
    for k in 1..=4u64 {
        let now = ((today + k) * registry.period_ms) as i64 + 1000;
        let (record, change) = send(&home, &mut a, now).expect("a packet is due each period");
        wire.push(record.bytes().to_vec());
        wire.push(change);
    }
    let now = ((today + 5) * registry.period_ms) as i64;
    wire.extend(sync_out(&mut a, now));
    assert!(wire.len() >= 9);
    for secret in &secrets {
        for form in forms(secret) {
            for bytes in &wire {
                assert!(!contains(bytes, &form), "{secret:?} left the node");
            }
        }
    }
    // What left is what the log says left.
    assert_eq!(telemetry::sent_log(&home).unwrap().len(), 4);
    let egress = json_of(home.dir(), &["status"])["record_counts"]["egress_log"].clone();
    assert_eq!(egress, 4);
}

#[test]
fn with_consent_off_nothing_is_prepared_or_sent_and_revoking_empties_the_queue() {
    let dir = tempfile::tempdir().unwrap();
    let (home, _) = person(dir.path());
    let registry = registry();
    let now = nodes::now_ms() + registry.period_ms as i64;
    let mut a = commons();
    // Off by default: nothing, not even an empty packet.
    assert!(send(&home, &mut a, now).is_none());
    assert!(telemetry::pending(&home).unwrap().is_none());
    assert_eq!(a.accepted_count(), 0);
    let out = json_of(home.dir(), &["telemetry", "send"]);
    assert_eq!(out["sent"], false);

    // Granted: a packet is prepared (previewed) …
    ok(home.dir(), &["consent", "grant", "telemetry"]);
    let preview = json_of(home.dir(), &["telemetry", "preview"]);
    assert!(preview["pending"]["record"].is_string(), "{preview}");
    // … and revoking throws it away: nothing queued is sent.
    ok(home.dir(), &["consent", "revoke", "telemetry"]);
    assert!(telemetry::pending(&home).unwrap().is_none());
    assert!(send(&home, &mut a, now).is_none());
    assert_eq!(json_of(home.dir(), &["telemetry", "send"])["sent"], false);
    assert!(telemetry::sent_log(&home).unwrap().is_empty());
    assert_eq!(a.accepted_count(), 0);
    let store = home.open_store().unwrap();
    assert!(!store.consent_granted(ConsentCategory::Telemetry).unwrap());
}

#[test]
fn two_packets_of_one_node_share_no_key_actor_or_identifying_field() {
    let dir = tempfile::tempdir().unwrap();
    let (home, _) = person(dir.path());
    ok(home.dir(), &["consent", "grant", "telemetry"]);
    let registry = registry();
    let today = telemetry::due_period(&registry, nodes::now_ms()).unwrap() + 1;
    let mut a = commons();
    let (r1, c1) = send(&home, &mut a, ((today + 1) * registry.period_ms) as i64 + 5).unwrap();
    let (r2, c2) = send(&home, &mut a, ((today + 2) * registry.period_ms) as i64 + 5).unwrap();
    assert_ne!(r1.author, r2.author, "the same key signed both");
    assert_ne!(r1.signature, r2.signature);
    let actor = |c: &[u8]| {
        automerge::Change::from_bytes(c.to_vec())
            .unwrap()
            .actor_id()
            .clone()
    };
    assert_ne!(
        actor(&c1),
        actor(&c2),
        "the same Automerge actor wrote both"
    );
    // Everything else in the envelope is either common to every node
    // (kind, format version, registry version) or the period itself.
    let p1: serde_json::Value = serde_json::from_slice(r1.bytes()).unwrap();
    let p2: serde_json::Value = serde_json::from_slice(r2.bytes()).unwrap();
    assert_eq!(
        p1.as_object().unwrap().keys().collect::<Vec<_>>(),
        [
            "author",
            "created_at",
            "kind",
            "payload",
            "signature",
            "version"
        ]
    );
    assert_eq!(
        p1["payload"]["registry_version"],
        p2["payload"]["registry_version"]
    );
    assert_ne!(p1["created_at"], p2["created_at"]);
    assert_eq!(
        p1["created_at"].as_i64().unwrap() % registry.period_ms as i64,
        0,
        "a time finer than the period"
    );
    // The budget ledger moved by one report per metric per packet.
    let budget = json_of(home.dir(), &["telemetry", "budget"]);
    let spent = budget["metrics"][0]["spent"].as_f64().unwrap();
    assert!(
        (spent - 2.0 * registry.metrics[0].epsilon).abs() < 1e-9,
        "{budget}"
    );
}

#[test]
fn the_commons_aggregate_is_released_only_from_k_packets() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    ok(&home, &["init"]);
    let registry = registry();
    let period = telemetry::due_period(&registry, nodes::now_ms()).unwrap();
    let mut noise = {
        let mut s = 11u64;
        move || {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            s ^ (s >> 29)
        }
    };
    let publish = |i: usize, noise: &mut dyn FnMut() -> u64| {
        let measured = vec![
            (
                "reflections.count".to_string(),
                mirror_governance::telemetry::TrueValue::Counter(4),
            ),
            (
                "feedback.rating".to_string(),
                mirror_governance::telemetry::TrueValue::Histogram(5.0),
            ),
        ];
        let p =
            telemetry::packet(&registry, &Default::default(), period, &measured, noise).unwrap();
        let record = telemetry::sign(&registry, &p).unwrap();
        let file = dir.path().join(format!("packet-{i}.json"));
        std::fs::write(&file, record.bytes()).unwrap();
        ok(&home, &["commons", "publish", file.to_str().unwrap()]);
    };
    let k = registry.min_packets as usize;
    for i in 0..k - 1 {
        publish(i, &mut noise);
    }
    let withheld = json_of(&home, &["commons", "telemetry"]);
    assert_eq!(withheld["packets"], k as u64 - 1);
    assert!(
        withheld["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["released"] == false),
        "{withheld}"
    );
    for i in k - 1..k + 20 {
        publish(i, &mut noise);
    }
    let out = json_of(&home, &["commons", "telemetry"]);
    let count = out["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "reflections.count")
        .unwrap();
    assert_eq!(count["released"], true, "{out}");
    let (lo, hi) = (
        count["low"][0].as_f64().unwrap(),
        count["high"][0].as_f64().unwrap(),
    );
    assert!(lo < hi && hi - lo < 20.0, "{count}");
    // Metrics nobody reported stay withheld.
    let fallbacks = out["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "engine.fallbacks")
        .unwrap();
    assert_eq!(fallbacks["released"], false);
}

#[test]
fn the_daemon_sends_the_due_packet_with_consent_and_nothing_without() {
    let dir = tempfile::tempdir().unwrap();
    let (with, without) = (dir.path().join("with"), dir.path().join("without"));
    for h in [&with, &without] {
        ok(h, &["init"]);
        ok(h, &["config", "set", "commons.telemetry_check_secs", "1"]);
    }
    ok(&with, &["consent", "grant", "telemetry"]);
    let a = nodes::Daemon::start(&with, None);
    let b = nodes::Daemon::start(&without, Some(&a.address));
    nodes::wait_for("node A's packet to reach node B", || {
        json_of(
            &without,
            &["commons", "records", "--kind", "telemetry_packet"],
        )["records"]
            .as_array()
            .is_some_and(|r| r.len() == 1)
    });
    // A sent exactly one (one per period) and logged it; B, without
    // consent, in the same seconds of checking, sent nothing at all.
    assert_eq!(
        json_of(&with, &["telemetry", "log"])["packets"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        json_of(&without, &["telemetry", "log"])["packets"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    assert_eq!(
        json_of(&without, &["status"])["record_counts"]["egress_log"],
        0
    );
    let held = json_of(&with, &["commons", "records", "--kind", "telemetry_packet"]);
    assert_eq!(held["records"].as_array().unwrap().len(), 1);
    assert!(b.stop().0.success());
    assert!(a.stop().0.success());
}

/// Issue #14, bug 1, on the counting side: the gate keeps packets of any
/// registry version, so counting must judge each against the version it
/// declares. A node that applied a release changing the registry still
/// counts the period measured under the version before (which it holds),
/// and a packet of a version it does not hold is kept but not counted.
#[test]
fn packets_are_counted_under_the_registry_version_they_declare() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    ok(&home, &["init"]);
    let v1 = registry();
    let period = telemetry::due_period(&v1, nodes::now_ms()).unwrap();
    let mut s = 23u64;
    let mut noise = move || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        s ^ (s >> 29)
    };
    let measured = vec![(
        "reflections.count".to_string(),
        mirror_governance::telemetry::TrueValue::Counter(4),
    )];
    let mut unknown = v1.clone();
    unknown.version = v1.version + 6;
    let k = v1.min_packets as usize;
    for i in 0..=k {
        // The last packet declares a version no node here holds.
        let reg = if i == k { &unknown } else { &v1 };
        let p = telemetry::packet(reg, &Default::default(), period, &measured, &mut noise).unwrap();
        let record = telemetry::sign(reg, &p).unwrap();
        let file = dir.path().join(format!("packet-{i}.json"));
        std::fs::write(&file, record.bytes()).unwrap();
        ok(&home, &["commons", "publish", file.to_str().unwrap()]);
    }
    // The node moves to registry version 2, as applying a release does.
    let mut params = mirror_governance::params::EngineParams::genesis().unwrap();
    params.telemetry.version = v1.version + 1;
    let current = Home::at(&home).params_path();
    std::fs::create_dir_all(current.parent().unwrap()).unwrap();
    std::fs::write(&current, params.canonical_json()).unwrap();
    let out = json_of(&home, &["commons", "telemetry"]);
    assert_eq!(out["packets"], k as u64 + 1, "{out}");
    let count = out["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "reflections.count")
        .unwrap();
    assert_eq!(count["packets"], k as u64, "{out}");
    assert_eq!(count["released"], true, "{out}");
    assert_eq!(out["registry_version"], v1.version, "{out}");
    assert_eq!(out["uncounted"][unknown.version.to_string()], 1, "{out}");
}
