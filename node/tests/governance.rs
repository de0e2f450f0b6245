//! Governance end to end, as people run it: four `mirror node` daemons on
//! 127.0.0.1 (two guardians, two members), every step through the CLI.
//! A member proposes a pattern-lexicon change; it gossips; members vote;
//! every node computes the same approved tally; a guardian proposes the
//! release, the other signs it over the commons and a member publishes it
//! at the threshold; every node verifies and applies it, and the same
//! reflection now shows the new pattern; a rollback restores the old
//! behaviour.

mod nodes;

use std::path::{Path, PathBuf};

use nodes::{Daemon, fails, json_of, ok, wait_for};
use serde_json::Value;

const REFLECTION: &str = "I keep circling back to the same conversation with my sister.";
/// Long enough for two members to vote through the CLI, short enough to
/// wait for.
const PERIOD: &str = "12s";

fn key_of(home: &Path) -> String {
    json_of(home, &["status"])["identity"]["public_key"]
        .as_str()
        .unwrap()
        .to_string()
}

fn shows_new_pattern(home: &Path) -> bool {
    json_of(home, &["analyze", REFLECTION])["patterns"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["pattern"] == "past_reference" && p["rule"] == "circling_back")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn a_proposal_becomes_a_release_every_node_applies_and_can_roll_back() {
    let dir = tempfile::tempdir().unwrap();
    let names = ["guardian1", "guardian2", "member1", "member2"];
    let homes: Vec<PathBuf> = names.iter().map(|n| dir.path().join(n)).collect();
    for h in &homes {
        ok(h, &["init"]);
    }
    let keys: Vec<String> = homes.iter().map(|h| key_of(h)).collect();
    let (g1, g2, m1, m2) = (&homes[0], &homes[1], &homes[2], &homes[3]);

    // Guardian 1 founds the commons (2 of 2 guardians); the others join it.
    let genesis = dir.path().join("genesis.json");
    ok(
        g1,
        &[
            "commons",
            "genesis",
            "new",
            "--name",
            "e2e",
            "--guardian",
            &keys[0],
            "--guardian",
            &keys[1],
            "--threshold",
            "2",
            "--period",
            PERIOD,
            "--quorum",
            "50",
            "--out",
            s(&genesis),
        ],
    );
    for h in &homes[1..] {
        ok(h, &["commons", "join", s(&genesis)]);
    }
    for h in &homes {
        assert!(!shows_new_pattern(h));
    }

    let first = Daemon::start(g1, None);
    let mut daemons = vec![];
    for h in &homes[1..] {
        daemons.push(Daemon::start(h, Some(&first.address)));
    }
    wait_for("every node to connect", || {
        json_of(g1, &["commons", "status"])["peers"].as_u64() == Some(3)
    });

    // Guardian 1 admits both members; only guardians may.
    fails(m1, &["member", "attest", &keys[3]]);
    ok(g1, &["member", "attest", &keys[2]]);
    ok(g1, &["member", "attest", &keys[3]]);
    wait_for("every node to see two members", || {
        homes.iter().all(|h| {
            json_of(h, &["member", "list"])["members"]
                .as_array()
                .is_some_and(|m| m.len() == 2)
        })
    });

    // Member 1 drafts and submits a pattern-lexicon change.
    let draft = dir.path().join("proposal.json");
    let report = json_of(
        m1,
        &[
            "proposal",
            "new",
            "--type",
            "pattern_detection",
            "--title",
            "Notice circling back as a reference to the past",
            "--description",
            "People write of circling back to an old conversation; today nothing is noticed.",
            "--add",
            r#"/patterns/past_reference/rules/-={"id":"circling_back","cues":["circling back"]}"#,
            "--evidence",
            "Seen in several reflections that the engine passed over.",
            "--out",
            s(&draft),
        ],
    );
    assert_eq!(
        report["report"]["violations"].as_array().unwrap().len(),
        0,
        "{report}"
    );
    let id = json_of(m1, &["proposal", "submit", s(&draft)])["id"]
        .as_str()
        .unwrap()
        .to_string();
    wait_for("the proposal to reach every node", || {
        homes
            .iter()
            .all(|h| mirror_ok(h, &["proposal", "show", &id]))
    });
    // Only the proposer moves it.
    fails(m2, &["proposal", "advance", &id, "testing"]);
    for step in ["testing", "review", "voting"] {
        ok(m1, &["proposal", "advance", &id, step]);
    }
    wait_for("voting to open on member 2's node", || {
        json_of(m2, &["proposal", "show", &id])["state"] == "voting"
    });
    ok(m1, &["proposal", "vote", &id, "approve"]);
    ok(m2, &["proposal", "vote", &id, "approve"]);
    // A guardian who is not a member may vote; it is kept, not counted.
    ok(g2, &["proposal", "vote", &id, "reject"]);

    // After the window closes, every node computes the same tally.
    wait_for("the window to close and every node to agree", || {
        let tallies: Vec<Value> = homes
            .iter()
            .map(|h| json_of(h, &["proposal", "tally", &id]))
            .collect();
        tallies.iter().all(|t| t["closed"] == true) && tallies.windows(2).all(|w| w[0] == w[1])
    });
    let tally = json_of(g1, &["proposal", "tally", &id]);
    assert_eq!(tally["approved"], true, "{tally}");
    assert_eq!(tally["approve"], 2);
    assert_eq!(tally["reject"], 0);
    assert_eq!(
        tally["ignored_votes"].as_array().unwrap().len(),
        1,
        "{tally}"
    );

    // The guardians build the release and collect their signatures over the
    // commons: guardian 1 proposes it (signed by itself), guardian 2 signs
    // the candidate it received, and a member publishes it.
    let rel = dir.path().join("release.json");
    ok(g1, &["release", "build", "--out", s(&rel)]);
    let candidate = json_of(g1, &["release", "propose", s(&rel)])["id"]
        .as_str()
        .unwrap()
        .to_string();
    wait_for("the candidate to reach every node", || {
        homes
            .iter()
            .all(|h| pending(h).iter().any(|c| c["id"] == candidate.as_str()))
    });
    // One of two: listed with its signer, not publishable, not installable.
    let listed = pending(m1).remove(0);
    assert_eq!(listed["ready"], false, "{listed}");
    assert_eq!(listed["signers"]["targets"], serde_json::json!([keys[0]]));
    let e = fails(m1, &["release", "publish", &candidate]);
    assert!(e.contains("not signed by enough"), "{e}");
    fails(m1, &["release", "apply", &candidate]);
    // Only a key of the root can sign.
    fails(m2, &["release", "sign", &candidate]);
    ok(g2, &["release", "sign", &candidate]);
    wait_for("guardian 2's signature to reach member 1", || {
        pending(m1).first().is_some_and(|c| c["ready"] == true)
    });
    let listed = pending(m1).remove(0);
    let mut both = vec![keys[0].clone(), keys[1].clone()];
    both.sort();
    assert_eq!(
        listed["signers"]["targets"],
        serde_json::json!(both),
        "{listed}"
    );
    let release_id = json_of(m1, &["release", "publish", &candidate])["id"]
        .as_str()
        .unwrap()
        .to_string();
    wait_for("every node to see the candidate published", || {
        homes.iter().all(|h| {
            pending(h)
                .first()
                .is_some_and(|c| c["published"] == release_id.as_str())
        })
    });

    // Every node verifies and applies it; the same reflection now shows the
    // new pattern, and the proposal reads as applied everywhere.
    for h in &homes {
        wait_for("the release to arrive", || {
            json_of(h, &["release", "list"])["releases"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["id"] == release_id.as_str() && r["verified"] == true)
        });
        let applied = json_of(h, &["release", "apply"]);
        assert_eq!(applied["applied"]["release_id"], release_id.as_str());
        assert!(shows_new_pattern(h), "{}", h.display());
        assert_eq!(json_of(h, &["proposal", "show", &id])["state"], "applied");
    }
    // A reflection written now is mirrored with the new pattern.
    let written = ok(m2, &["reflect", REFLECTION, "--json"]);
    assert!(written.contains("circling_back"), "{written}");

    // Applying it again is refused (rollback protection); rolling back
    // restores the old behaviour on that node only.
    let e = fails(m1, &["release", "apply", &release_id]);
    assert!(e.contains("rollback protection"), "{e}");
    ok(m1, &["release", "rollback"]);
    assert!(!shows_new_pattern(m1));
    assert!(shows_new_pattern(m2));

    for d in daemons {
        assert!(d.stop().0.success());
    }
    assert!(first.stop().0.success());
}

fn pending(home: &Path) -> Vec<Value> {
    json_of(home, &["release", "pending"])["candidates"]
        .as_array()
        .unwrap()
        .clone()
}

fn mirror_ok(home: &Path, args: &[&str]) -> bool {
    nodes::mirror(home, args)
        .output()
        .is_ok_and(|o| o.status.success())
}
