//! The issue's scripted run: five `mirror node` daemons (two guardians, two
//! members, one outsider), every step through the CLI, three releases and a
//! guardian rotation, followed by a python-tuf client that keeps its state
//! between releases as a deployed TUF client does.
//!
//! Every node has run before the commons is founded (its default commons'
//! store exists). Guardians 1 and 2 found the commons (2 of 2); members
//! propose and vote (the outsider's vote is kept and not counted, the same
//! tally on every node), and each release's signatures are collected over
//! the commons (`release propose`, `release sign CANDIDATE`, `release
//! publish CANDIDATE` by a member). Between the second and third release
//! the guardians rotate to guardian 1 and member 1 (`guardian rotate`,
//! signed by both sets); the third release carries root version 1 before
//! its own version 2 and needs the leaving guardian's signature on the new
//! root as well. Every release is applied on every node and what it changed
//! takes effect (cue rules fire, `params show` gives the new threshold); the
//! python-tuf client, bootstrapped once from the first root, takes all
//! three.

mod nodes;

use std::path::{Path, PathBuf};
use std::process::Command;

use nodes::{Daemon, fails, json_of, ok, wait_for};
use serde_json::Value;

const PERIOD: &str = "6s";

fn key_of(home: &Path) -> String {
    json_of(home, &["status"])["identity"]["public_key"]
        .as_str()
        .unwrap()
        .to_string()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// python-tuf, as node/tests/release.rs finds it (`$MIRROR_TUF_PYTHON`,
/// which `.ci/run` sets; a failure under CI, skipped otherwise).
fn python_tuf() -> Option<PathBuf> {
    let python = std::env::var_os("MIRROR_TUF_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("python3"));
    let usable = Command::new(&python)
        .args(["-c", "import tuf.ngclient, cryptography"])
        .status()
        .is_ok_and(|s| s.success());
    if usable {
        return Some(python);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "python-tuf is not available to {} (.ci/run installs it)",
        python.display()
    );
    eprintln!("SKIPPED the rotation run: python-tuf is not available");
    None
}

fn client(python: &Path, repo: &Path, state: &Path) -> Value {
    let out = Command::new(python)
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/tuf_interop.py"))
        .arg("client")
        .arg(repo)
        .arg(state)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python-tuf refused: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Member 1 proposes adding a cue rule (and any `extra` edits), both
/// members vote it through, the outsider votes against (kept, not counted),
/// and every node computes the same approved tally.
fn approve(homes: &[PathBuf], dir: &Path, rule: &str, extra: &[&str]) {
    let (member, other, outsider) = (&homes[2], &homes[3], &homes[4]);
    let draft = dir.join(format!("{rule}.json"));
    let add = format!(
        r#"/patterns/past_reference/rules/-={{"id":"{rule}","cues":["{}"]}}"#,
        rule.replace('_', " ")
    );
    ok(
        member,
        &[
            "proposal",
            "new",
            "--type",
            "pattern_detection",
            "--title",
            &format!("Notice {rule}"),
            "--description",
            "A way people return to the past that goes unnoticed today.",
            "--add",
            &add,
            "--evidence",
            "Seen in reflections the engine passed over.",
            "--out",
            s(&draft),
        ]
        .into_iter()
        .chain(extra.iter().copied())
        .collect::<Vec<_>>(),
    );
    let id = json_of(member, &["proposal", "submit", s(&draft)])["id"]
        .as_str()
        .unwrap()
        .to_string();
    for step in ["testing", "review", "voting"] {
        ok(member, &["proposal", "advance", &id, step]);
    }
    for voter in [member, other] {
        wait_for("voting to open on the voter's node", || {
            json_of(voter, &["proposal", "show", &id])["state"] == "voting"
        });
        ok(voter, &["proposal", "vote", &id, "approve"]);
    }
    wait_for("voting to open on the outsider's node", || {
        json_of(outsider, &["proposal", "show", &id])["state"] == "voting"
    });
    ok(outsider, &["proposal", "vote", &id, "reject"]);
    wait_for("every node to agree on the closed tally", || {
        let tallies: Vec<Option<Value>> = homes
            .iter()
            .map(|h| {
                nodes::mirror(h, &["proposal", "tally", &id, "--json"])
                    .output()
                    .ok()
                    .filter(|o| o.status.success())
                    .and_then(|o| serde_json::from_slice::<Value>(&o.stdout).ok())
            })
            .collect();
        tallies
            .iter()
            .all(|t| t.as_ref().is_some_and(|t| t["closed"] == true))
            && tallies.windows(2).all(|w| w[0] == w[1])
    });
    let t = json_of(member, &["proposal", "tally", &id]);
    assert_eq!(t["approved"], true, "{t}");
    assert_eq!(
        (t["approve"].as_u64(), t["reject"].as_u64()),
        (Some(2), Some(0)),
        "{t}"
    );
    assert_eq!(t["ignored_votes"].as_array().unwrap().len(), 1, "{t}");
}

/// The pack's `thresholds.max_regenerations` in force on `home`.
fn max_regenerations(home: &Path) -> u64 {
    json_of(home, &["params", "show", "/thresholds/max_regenerations"])["values"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["pointer"] == "/thresholds/max_regenerations")
        .and_then(|v| v["value"].as_u64())
        .unwrap()
}

fn pending(home: &Path) -> Vec<Value> {
    json_of(home, &["release", "pending"])["candidates"]
        .as_array()
        .unwrap()
        .clone()
}

/// Build the next release on `builder`, propose it, have each of `signers`
/// sign the candidate over the commons, and publish it from `publisher`.
/// Returns the release record's id once every node holds it verified.
fn release(
    homes: &[PathBuf],
    dir: &Path,
    builder: &Path,
    signers: &[&Path],
    publisher: &Path,
    version: u64,
) -> String {
    let file = dir.join(format!("release-{version}.json"));
    ok(builder, &["release", "build", "--out", s(&file)]);
    let candidate = json_of(builder, &["release", "propose", s(&file)])["id"]
        .as_str()
        .unwrap()
        .to_string();
    for signer in signers {
        wait_for("the candidate to reach the signer", || {
            pending(signer)
                .iter()
                .any(|c| c["id"] == candidate.as_str())
        });
        ok(signer, &["release", "sign", &candidate]);
    }
    wait_for("the candidate to be ready on the publisher", || {
        pending(publisher)
            .iter()
            .any(|c| c["id"] == candidate.as_str() && c["ready"] == true)
    });
    let id = json_of(publisher, &["release", "publish", &candidate])["id"]
        .as_str()
        .unwrap()
        .to_string();
    for h in homes {
        wait_for("the release to arrive verified", || {
            json_of(h, &["release", "list"])["releases"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["id"] == id.as_str() && r["verified"] == true)
        });
    }
    id
}

#[test]
fn five_nodes_three_releases_and_a_guardian_rotation_keep_a_stateful_tuf_client_following() {
    let Some(python) = python_tuf() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let homes: Vec<PathBuf> = ["guardian1", "guardian2", "member1", "member2", "outsider"]
        .iter()
        .map(|n| dir.path().join(n))
        .collect();
    for h in &homes {
        ok(h, &["init"]);
        // The README's first steps, before any commons is founded or
        // joined: they open the default commons' store.
        ok(h, &["member", "list"]);
        ok(h, &["commons", "status"]);
    }
    let keys: Vec<String> = homes.iter().map(|h| key_of(h)).collect();
    let (g1, g2, m, m2) = (&homes[0], &homes[1], &homes[2], &homes[3]);
    let genesis = dir.path().join("genesis.json");
    ok(
        g1,
        &[
            "commons",
            "genesis",
            "new",
            "--name",
            "rotation",
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
    let first = Daemon::start(g1, None);
    let others: Vec<Daemon> = homes[1..]
        .iter()
        .map(|h| Daemon::start(h, Some(&first.address)))
        .collect();
    wait_for("every node to connect", || {
        json_of(g1, &["commons", "status"])["peers"].as_u64() == Some(4)
    });
    ok(g1, &["member", "attest", &keys[2]]);
    ok(g1, &["member", "attest", &keys[3]]);
    wait_for("every node to see the member", || {
        homes.iter().all(|h| {
            json_of(h, &["member", "list"])["members"]
                .as_array()
                .is_some_and(|m| m.len() == 2)
        })
    });
    let state = dir.path().join("tuf-client");
    let export = |id: &str, name: &str| {
        let repo = dir.path().join(name);
        ok(m, &["release", "export", id, s(&repo)]);
        repo
    };

    // Releases 1 and 2 under the founding guardians: the same root.
    approve(&homes, dir.path(), "circling_back", &[]);
    let r1 = release(&homes, dir.path(), g1, &[g2], m2, 1);
    let seen = client(&python, &export(&r1, "repo1"), &state);
    assert_eq!(
        (
            seen["root_version"].as_u64(),
            seen["targets_version"].as_u64()
        ),
        (Some(1), Some(1)),
        "{seen}"
    );
    approve(&homes, dir.path(), "round_again", &[]);
    let r2 = release(&homes, dir.path(), g1, &[g2], m2, 2);
    let repo2 = export(&r2, "repo2");
    assert_eq!(
        std::fs::read(repo2.join("metadata/root.json")).unwrap(),
        std::fs::read(dir.path().join("repo1/metadata/root.json")).unwrap(),
        "the second release re-issued the root"
    );
    let seen = client(&python, &repo2, &state);
    assert_eq!(
        (
            seen["root_version"].as_u64(),
            seen["targets_version"].as_u64()
        ),
        (Some(1), Some(2)),
        "{seen}"
    );

    // The rotation: guardian 2 leaves, the member becomes a guardian.
    let rotation = json_of(
        g1,
        &[
            "guardian",
            "rotate",
            "--guardian",
            &keys[0],
            "--guardian",
            &keys[2],
            "--threshold",
            "2",
        ],
    )["id"]
        .as_str()
        .unwrap()
        .to_string();
    for h in [g1, g2, m] {
        wait_for("the rotation to arrive", || {
            json_of(h, &["commons", "records"])["records"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["id"] == rotation.as_str())
        });
        ok(
            h,
            &["guardian", "sign", &rotation, "--purpose", "root_rotation"],
        );
    }
    wait_for("every node to see root version 2", || {
        homes
            .iter()
            .all(|h| json_of(h, &["member", "list"])["guardians"]["version"] == 2)
    });

    // Release 3 under root version 2: the new guardians sign it, and the
    // leaving guardian signs the new root too; until then it is not ready.
    let before = max_regenerations(g1);
    let set = format!("/thresholds/max_regenerations={}", before + 1);
    approve(&homes, dir.path(), "loop_back", &["--set", &set]);
    let file = dir.path().join("release-3.json");
    ok(g1, &["release", "build", "--out", s(&file)]);
    let candidate = json_of(g1, &["release", "propose", s(&file)])["id"]
        .as_str()
        .unwrap()
        .to_string();
    wait_for("the candidate to reach the member", || {
        pending(m).iter().any(|c| c["id"] == candidate.as_str())
    });
    ok(m, &["release", "sign", &candidate]);
    wait_for("the member's signature to reach guardian 2", || {
        pending(g2)
            .iter()
            .any(|c| c["id"] == candidate.as_str() && c["records"].as_array().unwrap().len() == 2)
    });
    let e = fails(g2, &["release", "publish", &candidate]);
    assert!(e.contains("1.root"), "{e}");
    ok(g2, &["release", "sign", &candidate]);
    wait_for("the candidate to be ready", || {
        pending(g2)
            .iter()
            .any(|c| c["id"] == candidate.as_str() && c["ready"] == true)
    });
    let r3 = json_of(g2, &["release", "publish", &candidate])["id"]
        .as_str()
        .unwrap()
        .to_string();
    for h in &homes {
        wait_for("release 3 to arrive verified", || {
            json_of(h, &["release", "list"])["releases"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["id"] == r3.as_str() && r["verified"] == true)
        });
        let applied = json_of(h, &["release", "apply"]);
        assert_eq!(applied["applied"]["version"], 3, "{applied}");
        // Its pack is in force: the three rules the releases added fire.
        let seen = json_of(
            h,
            &[
                "analyze",
                "I keep circling back to it, round again, and I loop back once more.",
            ],
        );
        for rule in ["circling_back", "round_again", "loop_back"] {
            assert!(
                seen["patterns"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|p| p["rule"] == rule),
                "{rule}: {seen}"
            );
        }
        assert_eq!(max_regenerations(h), before + 1, "{}", h.display());
    }
    let repo3 = export(&r3, "repo3");
    assert!(repo3.join("metadata/1.root.json").exists());
    assert!(repo3.join("metadata/2.root.json").exists());
    let seen = client(&python, &repo3, &state);
    assert_eq!(
        (
            seen["root_version"].as_u64(),
            seen["targets_version"].as_u64()
        ),
        (Some(2), Some(3)),
        "{seen}"
    );

    for d in others {
        assert!(d.stop().0.success());
    }
    assert!(first.stop().0.success());
}
