//! `mirror release` on one node, as a person runs it: verify, apply,
//! rollback, and the protections a TUF client owes its user (rollback,
//! freeze, mix-and-match, below-threshold); and TUF interoperability both
//! ways with python-tuf (installed by `.ci/run`, never by the tests).

mod nodes;

use std::path::{Path, PathBuf};
use std::process::Command;

use ed25519_dalek::SigningKey;
use mirror_governance::ledger::GuardianSet;
use mirror_governance::params::EngineParams;
use mirror_governance::payload::{self, Hex, ReleaseManifest};
use mirror_governance::release::{self, BuildSpec};
use nodes::{fails, json_of, now_ms, ok};
use serde_json::{Value, json};

const DAY: i64 = 86_400_000;
/// The second guardian's seed; the first guardian is the node itself.
const OTHER: [u8; 32] = [5; 32];
const REFLECTION: &str = "I keep circling back to the same conversation with my sister.";

/// A node whose commons has two guardians (itself and OTHER), 2 of 2.
fn guardian_node(dir: &Path) -> (PathBuf, GuardianSet) {
    let home = dir.join("node");
    ok(&home, &["init"]);
    let me = json_of(&home, &["status"])["identity"]["public_key"]
        .as_str()
        .unwrap()
        .to_string();
    let other = hex::encode(SigningKey::from_bytes(&OTHER).verifying_key().to_bytes());
    let genesis = dir.join("genesis.json");
    ok(
        &home,
        &[
            "commons",
            "genesis",
            "new",
            "--name",
            "test",
            "--guardian",
            &me,
            "--guardian",
            &other,
            "--threshold",
            "2",
            "--out",
            genesis.to_str().unwrap(),
        ],
    );
    let set = GuardianSet {
        version: 1,
        keys: [me.as_str(), other.as_str()]
            .iter()
            .map(|k| Hex::from_hex(k).unwrap())
            .collect(),
        threshold: 2,
        attestations_required: 1,
        record: Hex([0; 32]),
        since: 0,
    };
    (home, set)
}

/// The genesis pack with a new way to notice looping back (a rule of
/// `past_reference`).
fn params_with_new_rule() -> EngineParams {
    let mut doc: Value =
        serde_json::from_slice(&EngineParams::genesis().unwrap().canonical_json()).unwrap();
    doc["patterns"]["past_reference"]["rules"]
        .as_array_mut()
        .unwrap()
        .push(json!({"id": "circling_back", "cues": ["circling back"]}));
    EngineParams::from_json(&serde_json::to_vec(&doc).unwrap()).unwrap()
}

fn build(
    set: &GuardianSet,
    version: u64,
    params: &EngineParams,
    expires_ms: i64,
) -> ReleaseManifest {
    release::build(&BuildSpec {
        version,
        previous: (version > 1).then_some(Hex([version as u8; 32])),
        proposals: vec![],
        params,
        constitution: None,
        guardians: set,
        earlier_guardians: &[],
        earlier_roots: &[],
        expires_ms,
        root_expires_ms: expires_ms,
    })
    .unwrap()
}

/// A release of `set` whose chain holds the `earlier` sets, reusing the
/// roots earlier releases carried (`roots`), as `mirror release build` does.
fn build_chained(
    set: &GuardianSet,
    earlier: &[GuardianSet],
    roots: &[Vec<u8>],
    version: u64,
    params: &EngineParams,
    expires_ms: i64,
) -> ReleaseManifest {
    release::build(&BuildSpec {
        version,
        previous: (version > 1).then_some(Hex([version as u8; 32])),
        proposals: vec![],
        params,
        constitution: None,
        guardians: set,
        earlier_guardians: earlier,
        earlier_roots: roots,
        expires_ms,
        root_expires_ms: now_ms() + release::chain::ROOT_LIFETIME_MS,
    })
    .unwrap()
}

/// The root files `m` carries (what `chain::carried_roots` gathers from
/// the ledger).
fn roots_of(m: &ReleaseManifest) -> Vec<Vec<u8>> {
    m.tuf_metadata
        .keys()
        .filter(|n| *n == "root" || release::chain::version_of(n).is_some())
        .map(|n| m.metadata_bytes(n).unwrap())
        .collect()
}

/// The node's signing seed, hex (for python-tuf, which signs with it).
fn node_seed(home: &Path) -> String {
    let key_dir = home.join("keys");
    let entry = std::fs::read_dir(&key_dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    let text = std::fs::read_to_string(entry.path()).unwrap();
    text.lines()
        .find(|l| l.len() == 64 && l.bytes().all(|b| b.is_ascii_hexdigit()))
        .unwrap_or_else(|| panic!("no seed in the key file"))
        .to_string()
}

fn write(path: &Path, m: &ReleaseManifest) {
    std::fs::write(
        path,
        serde_json::to_vec(&payload::to_payload(m).unwrap()).unwrap(),
    )
    .unwrap();
}

fn read(path: &Path) -> ReleaseManifest {
    let v: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    payload::parse(v.as_object().unwrap()).unwrap()
}

/// Build, then sign with the node (through the CLI) and with OTHER.
fn signed_file(dir: &Path, home: &Path, name: &str, m: &ReleaseManifest) -> PathBuf {
    let path = dir.join(name);
    write(&path, m);
    ok(home, &["release", "sign", path.to_str().unwrap()]);
    let (m, roles) = release::sign(&read(&path), &SigningKey::from_bytes(&OTHER)).unwrap();
    assert_eq!(roles.len(), 4);
    write(&path, &m);
    path
}

fn patterns(home: &Path) -> Vec<String> {
    json_of(home, &["analyze", REFLECTION])["patterns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            p["pattern"]
                .as_str()
                .or(p["name"].as_str())
                .unwrap_or("")
                .to_string()
        })
        .collect()
}

fn current_pack(home: &Path) -> Option<Vec<u8>> {
    std::fs::read(home.join("params/current.json")).ok()
}

#[test]
fn apply_rollback_and_the_protections_of_a_tuf_client() {
    let dir = tempfile::tempdir().unwrap();
    let (home, set) = guardian_node(dir.path());
    let year = now_ms() + 365 * DAY;
    assert!(
        !patterns(&home).iter().any(|p| p == "past_reference"),
        "{:?}",
        patterns(&home)
    );

    // Release 1: the new rule, signed 2 of 2.
    let v1 = signed_file(
        dir.path(),
        &home,
        "v1.json",
        &build(&set, 1, &params_with_new_rule(), year),
    );
    let v = json_of(&home, &["release", "verify", v1.to_str().unwrap()]);
    assert_eq!(v["ok"], true);
    assert_eq!(v["version"], 1);
    ok(&home, &["release", "apply", v1.to_str().unwrap()]);
    assert!(
        patterns(&home).iter().any(|p| p == "past_reference"),
        "{:?}",
        patterns(&home)
    );

    // Release 2 on top of it.
    let mut p2 = params_with_new_rule();
    p2.thresholds.mirrored_clauses += 1;
    let v2 = signed_file(dir.path(), &home, "v2.json", &build(&set, 2, &p2, year));
    ok(&home, &["release", "apply", v2.to_str().unwrap()]);
    let in_force = current_pack(&home).unwrap();
    assert_eq!(
        EngineParams::from_json(&in_force).unwrap().hash(),
        p2.hash()
    );

    // Rollback protection: release 1 again, or 2 again, is refused, and the
    // pack in force is untouched.
    let e = fails(&home, &["release", "apply", v1.to_str().unwrap()]);
    assert!(e.contains("rollback protection"), "{e}");
    fails(&home, &["release", "apply", v2.to_str().unwrap()]);
    assert_eq!(current_pack(&home).unwrap(), in_force);

    // Freeze protection: an expired release is not applied, and says so.
    let old = signed_file(
        dir.path(),
        &home,
        "v3-expired.json",
        &build(&set, 3, &p2, now_ms() - 1000),
    );
    let e = fails(&home, &["release", "apply", old.to_str().unwrap()]);
    assert!(e.contains("frozen") && e.contains("expired"), "{e}");
    assert_eq!(current_pack(&home).unwrap(), in_force);

    // Mix-and-match: release 3's pack swapped for another after signing.
    let v3 = signed_file(
        dir.path(),
        &home,
        "v3.json",
        &build(&set, 3, &EngineParams::genesis().unwrap(), year),
    );
    let mut swapped = read(&v3);
    swapped.targets.insert(
        release::PARAMS_TARGET.into(),
        read(&v1).targets[release::PARAMS_TARGET].clone(),
    );
    let swapped_path = dir.path().join("v3-swapped.json");
    write(&swapped_path, &swapped);
    let e = fails(&home, &["release", "apply", swapped_path.to_str().unwrap()]);
    assert!(e.contains("target mirror/params.json.gz"), "{e}");

    // Below the threshold: only the node signed.
    let half = dir.path().join("v3-half.json");
    write(
        &half,
        &build(&set, 3, &EngineParams::genesis().unwrap(), year),
    );
    ok(&home, &["release", "sign", half.to_str().unwrap()]);
    let e = fails(&home, &["release", "verify", half.to_str().unwrap()]);
    assert!(e.contains("not signed by enough"), "{e}");

    // A release signed by two keys that are not this commons' guardians.
    let strangers = GuardianSet {
        keys: [[7u8; 32], [8u8; 32]]
            .iter()
            .map(|s| Hex(SigningKey::from_bytes(s).verifying_key().to_bytes()))
            .collect(),
        ..set.clone()
    };
    let fake = [7u8, 8]
        .iter()
        .fold(build(&strangers, 3, &p2, year), |m, s| {
            release::sign(&m, &SigningKey::from_bytes(&[*s; 32]))
                .unwrap()
                .0
        });
    let fake_path = dir.path().join("v3-fake.json");
    write(&fake_path, &fake);
    let e = fails(&home, &["release", "apply", fake_path.to_str().unwrap()]);
    assert!(e.contains("not a guardian"), "{e}");
    assert_eq!(current_pack(&home).unwrap(), in_force);

    // Explicit rollback: back to release 1, then to the genesis pack.
    ok(&home, &["release", "rollback"]);
    assert_eq!(
        EngineParams::from_json(&current_pack(&home).unwrap())
            .unwrap()
            .hash(),
        params_with_new_rule().hash()
    );
    assert!(patterns(&home).iter().any(|p| p == "past_reference"));
    ok(&home, &["release", "rollback"]);
    assert!(current_pack(&home).is_none());
    assert!(!patterns(&home).iter().any(|p| p == "past_reference"));
    fails(&home, &["release", "rollback"]);

    // Every step is in evolution history: two applies, two rollbacks.
    let status = json_of(&home, &["status"]);
    assert_eq!(status["record_counts"]["evolution_history"], 4);
}

/// A Python with python-tuf: `$MIRROR_TUF_PYTHON` (which `.ci/run` sets
/// after installing python-tuf into a virtualenv), else `python3` if it has
/// it. The test suite installs nothing itself. Without one, the interop test
/// is skipped with a message saying how to get it, except under CI
/// (`CI=true`), where a missing tool is a failure.
fn python_tuf() -> Option<PathBuf> {
    let python = std::env::var_os("MIRROR_TUF_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("python3"));
    let usable = Command::new(&python)
        .args(["-c", "import tuf.ngclient, cryptography"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if usable {
        return Some(python);
    }
    let how = "python3 -m venv target/tools-venv && target/tools-venv/bin/pip install 'tuf>=6,<8' cryptography && export MIRROR_TUF_PYTHON=$PWD/target/tools-venv/bin/python (or run .ci/run)";
    assert!(
        std::env::var_os("CI").is_none(),
        "python-tuf is not available to {}: {how}",
        python.display()
    );
    eprintln!(
        "SKIPPED releases_interoperate_with_python_tuf_both_ways: python-tuf is not available to {}; {how}",
        python.display()
    );
    None
}

fn interop_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/tuf_interop.py")
}

#[test]
fn releases_interoperate_with_python_tuf_both_ways() {
    let Some(python) = python_tuf() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (home, set) = guardian_node(dir.path());
    let year = now_ms() + 365 * DAY;

    // Mirror → python-tuf: built and signed here, exported as a TUF
    // repository, loaded by python-tuf's client with every target downloaded.
    let params = params_with_new_rule();
    let ours = signed_file(
        dir.path(),
        &home,
        "ours.json",
        &build(&set, 1, &params, year),
    );
    let repo = dir.path().join("ours-repo");
    ok(
        &home,
        &[
            "release",
            "export",
            ours.to_str().unwrap(),
            repo.to_str().unwrap(),
        ],
    );
    let out = Command::new(&python)
        .arg(interop_script())
        .arg("verify")
        .arg(&repo)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python-tuf refused Mirror's release: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(seen["targets_version"], 1);
    assert_eq!(seen["root_version"], 1);
    let m = read(&ours);
    for (path, b64) in &m.targets {
        assert_eq!(
            seen["files"][path].as_str().unwrap(),
            hex::encode(payload::decode_base64(b64).unwrap()),
            "{path}"
        );
    }
    // And python-tuf notices a swapped target (every copy the export wrote:
    // at its path and under its hash).
    let sha =
        release::sha256_hex(&payload::decode_base64(&m.targets[release::PARAMS_TARGET]).unwrap());
    for copy in [
        release::PARAMS_TARGET.to_string(),
        format!("mirror/{sha}.params.json.gz"),
        format!("{sha}.{}", release::PARAMS_TARGET),
    ] {
        let path = repo.join("targets").join(copy);
        assert!(path.exists(), "{}", path.display());
        std::fs::write(path, b"not the pack").unwrap();
    }
    let out = Command::new(&python)
        .arg(interop_script())
        .arg("verify")
        .arg(&repo)
        .output()
        .unwrap();
    assert!(!out.status.success(), "python-tuf took a swapped target");

    // python-tuf → Mirror: made and signed by python-tuf with the guardians'
    // keys, verified and applied here.
    let files = release::files(&build(&set, 2, &params, year)).unwrap().1;
    let seed_of_node = node_seed(&home);
    // In the consistent-snapshot layout python-tuf's repositories serve
    // (1.root.json, 2.snapshot.json, <sha256>.params.json.gz, ...).
    let spec = json!({
        "consistent": true,
        "seeds": [seed_of_node, hex::encode(OTHER)],
        "threshold": 2,
        "root_version": 1,
        "version": 2,
        "expires": jiff::Timestamp::from_millisecond(year).unwrap().strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "files": files.iter().map(|(p, b)| (p.clone(), Value::String(hex::encode(b)))).collect::<serde_json::Map<_, _>>(),
    });
    let spec_path = dir.path().join("spec.json");
    std::fs::write(&spec_path, serde_json::to_vec(&spec).unwrap()).unwrap();
    let theirs = dir.path().join("theirs-repo");
    let out = Command::new(&python)
        .arg(interop_script())
        .arg("make")
        .arg(&theirs)
        .arg(&spec_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python-tuf make: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = json_of(&home, &["release", "verify", theirs.to_str().unwrap()]);
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["version"], 2);
    ok(&home, &["release", "apply", theirs.to_str().unwrap()]);
    assert!(patterns(&home).iter().any(|p| p == "past_reference"));

    // A python-tuf release signed by one guardian only is refused here.
    let mut one = spec.clone();
    one["seeds"] = json!([hex::encode(OTHER)]);
    one["threshold"] = json!(1);
    std::fs::write(&spec_path, serde_json::to_vec(&one).unwrap()).unwrap();
    let lone = dir.path().join("lone-repo");
    let out = Command::new(&python)
        .arg(interop_script())
        .arg("make")
        .arg(&lone)
        .arg(&spec_path)
        .output()
        .unwrap();
    assert!(out.status.success());
    let e = fails(&home, &["release", "verify", lone.to_str().unwrap()]);
    assert!(e.contains("guardians' threshold is 2"), "{e}");
}

/// Run python-tuf's client against `repo`, keeping its trusted metadata in
/// `state` between runs.
fn python_client(python: &Path, repo: &Path, state: &Path) -> Result<Value, String> {
    let out = Command::new(python)
        .arg(interop_script())
        .arg("client")
        .arg(repo)
        .arg(state)
        .output()
        .unwrap();
    if out.status.success() {
        Ok(serde_json::from_slice(&out.stdout).unwrap())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// A guardian set of version 2: the node and THIRD, 2 of 2 (OTHER leaves).
const THIRD: [u8; 32] = [6; 32];

fn rotated(set1: &GuardianSet) -> GuardianSet {
    let me = *set1
        .keys
        .iter()
        .find(|k| **k != Hex(SigningKey::from_bytes(&OTHER).verifying_key().to_bytes()))
        .unwrap();
    GuardianSet {
        version: 2,
        keys: [
            me,
            Hex(SigningKey::from_bytes(&THIRD).verifying_key().to_bytes()),
        ]
        .into_iter()
        .collect(),
        ..set1.clone()
    }
}

#[test]
fn a_python_tuf_client_that_keeps_its_state_follows_three_releases_and_a_guardian_rotation() {
    let Some(python) = python_tuf() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (home, set1) = guardian_node(dir.path());
    let set2 = rotated(&set1);
    let month = now_ms() + 30 * DAY;
    let state = dir.path().join("client-state");
    let export = |file: &Path, name: &str| {
        let repo = dir.path().join(name);
        ok(
            &home,
            &[
                "release",
                "export",
                file.to_str().unwrap(),
                repo.to_str().unwrap(),
            ],
        );
        repo
    };

    // Release 1: a fresh root, version 1, long-lived; the release's own
    // roles expire within the month.
    let params = params_with_new_rule();
    let r1 = signed_file(
        dir.path(),
        &home,
        "r1.json",
        &build_chained(&set1, &[], &[], 1, &params, month),
    );
    let seen = python_client(&python, &export(&r1, "repo1"), &state).unwrap();
    assert_eq!(seen["root_version"], 1, "{seen}");
    assert_eq!(seen["targets_version"], 1);
    assert_eq!(seen["consistent_snapshot"], true);
    let root_expires = seen["root_expires"]
        .as_str()
        .unwrap()
        .parse::<jiff::Timestamp>()
        .unwrap()
        .as_millisecond();
    assert!(root_expires > now_ms() + 9 * 365 * DAY, "{seen}");

    // Release 2, same guardians: the very same signed root, not re-issued
    // (no new version, no new expiry), so the client's trusted root stays
    // valid for as long as it said.
    let r2 = signed_file(
        dir.path(),
        &home,
        "r2.json",
        &build_chained(&set1, &[], &roots_of(&read(&r1)), 2, &params, month),
    );
    assert_eq!(
        read(&r2).tuf_metadata["root"],
        read(&r1).tuf_metadata["root"]
    );
    let v = json_of(&home, &["release", "verify", r2.to_str().unwrap()]);
    assert_eq!(v["ok"], true, "{v}");
    let seen = python_client(&python, &export(&r2, "repo2"), &state).unwrap();
    assert_eq!(seen["root_version"], 1, "{seen}");
    assert_eq!(seen["targets_version"], 2);

    // The guardians rotate (OTHER leaves, THIRD joins): release 3 is signed
    // by root version 2, which carries version 1 before it.
    let unsigned = build_chained(
        &set2,
        std::slice::from_ref(&set1),
        &roots_of(&read(&r2)),
        3,
        &params,
        month,
    );
    assert_eq!(
        unsigned.tuf_metadata["1.root"],
        read(&r1).tuf_metadata["root"],
        "the chain carries the root clients already hold"
    );
    let r3 = dir.path().join("r3.json");
    write(&r3, &unsigned);
    ok(&home, &["release", "sign", r3.to_str().unwrap()]);
    let (m, roles) = release::sign(&read(&r3), &SigningKey::from_bytes(&THIRD)).unwrap();
    assert_eq!(roles.len(), 4, "{roles:?}");
    write(&r3, &m);

    // Without the leaving guardian's signature, root version 2 has the new
    // threshold but not the old one: python-tuf keeps its root and refuses,
    // and so does Mirror.
    let e = python_client(&python, &export(&r3, "repo3-half"), &state).unwrap_err();
    assert!(e.contains("root"), "{e}");
    let e = release::verify(&read(&r3)).unwrap_err();
    assert_eq!(e.reason(), "release_signatures", "{e}");
    assert!(e.to_string().contains("1.root"), "{e}");

    // The leaving guardian signs the new root (and only it).
    let (m, roles) = release::sign(&read(&r3), &SigningKey::from_bytes(&OTHER)).unwrap();
    assert_eq!(roles, vec!["1.root".to_string(), "root".to_string()]);
    write(&r3, &m);
    let seen = python_client(&python, &export(&r3, "repo3"), &state).unwrap();
    assert_eq!(seen["root_version"], 2, "{seen}");
    assert_eq!(seen["targets_version"], 3);
    let state_root: Value =
        serde_json::from_slice(&std::fs::read(state.join("root.json")).unwrap()).unwrap();
    assert_eq!(
        state_root["signed"]["version"], 2,
        "the client kept the new root"
    );

    // Mirror accepts it with the guardian history that made version 2, and
    // walks the same chain with tough; a ledger that never rotated does not.
    let m3 = read(&r3);
    let history = [set1.clone(), set2.clone()];
    mirror_node::release::verify(&m3, &history, now_ms()).unwrap();
    let e = mirror_node::release::verify(&m3, std::slice::from_ref(&set1), now_ms()).unwrap_err();
    assert!(e.to_string().contains("root version 2"), "{e}");
    // A chain root that is not the ledger's set of that version is refused.
    let strangers = GuardianSet {
        keys: [[7u8; 32], [8u8; 32]]
            .iter()
            .map(|s| Hex(SigningKey::from_bytes(s).verifying_key().to_bytes()))
            .collect(),
        ..set1.clone()
    };
    let e = mirror_node::release::verify(&m3, &[strangers, set2.clone()], now_ms()).unwrap_err();
    assert!(e.to_string().contains("root version 1"), "{e}");

    // python-tuf → Mirror: python-tuf makes release 4 in its consistent
    // layout with both roots (1.root.json, 2.root.json, no root.json), and
    // Mirror reads and verifies it with the same history.
    let files = release::files(&build_chained(
        &set2,
        std::slice::from_ref(&set1),
        &[],
        4,
        &params,
        month,
    ))
    .unwrap()
    .1;
    let me = node_seed(&home);
    let spec = json!({
        "consistent": true,
        "seeds": [me, hex::encode(THIRD)],
        "threshold": 2,
        "root_version": 2,
        "roots": [
            {"seeds": [me, hex::encode(OTHER)], "threshold": 2, "sign": [me, hex::encode(OTHER)]},
            {"seeds": [me, hex::encode(THIRD)], "threshold": 2, "sign": [me, hex::encode(OTHER), hex::encode(THIRD)]},
        ],
        "version": 4,
        "expires": jiff::Timestamp::from_millisecond(month).unwrap().strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "files": files.iter().map(|(p, b)| (p.clone(), Value::String(hex::encode(b)))).collect::<serde_json::Map<_, _>>(),
    });
    let spec_path = dir.path().join("spec4.json");
    std::fs::write(&spec_path, serde_json::to_vec(&spec).unwrap()).unwrap();
    let theirs = dir.path().join("theirs4");
    let out = Command::new(&python)
        .arg(interop_script())
        .arg("make")
        .arg(&theirs)
        .arg(&spec_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!theirs.join("metadata/root.json").exists());
    let m4 = mirror_node::release::read_repository(&theirs).unwrap();
    assert!(m4.tuf_metadata.contains_key("1.root"));
    let r = mirror_node::release::verify(&m4, &history, now_ms()).unwrap();
    assert_eq!((r.info.version, r.root_version), (4, 2));
    // And the persistent client takes it too, from python-tuf's own layout.
    let seen = python_client(&python, &theirs, &state).unwrap();
    assert_eq!(seen["targets_version"], 4, "{seen}");

    // Root version 2 made by python-tuf without the old guardians' threshold
    // is refused by Mirror.
    let mut weak = spec.clone();
    weak["roots"][1]["sign"] = json!([me, hex::encode(THIRD)]);
    std::fs::write(&spec_path, serde_json::to_vec(&weak).unwrap()).unwrap();
    let weak_repo = dir.path().join("weak4");
    let out = Command::new(&python)
        .arg(interop_script())
        .arg("make")
        .arg(&weak_repo)
        .arg(&spec_path)
        .output()
        .unwrap();
    assert!(out.status.success());
    let e = mirror_node::release::verify(
        &mirror_node::release::read_repository(&weak_repo).unwrap(),
        &history,
        now_ms(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("1.root"), "{e}");
}

#[test]
fn an_amendment_release_ratifies_its_constitution_and_rollback_restores_the_old() {
    let dir = tempfile::tempdir().unwrap();
    let (home, set) = guardian_node(dir.path());
    let genesis_hash = json_of(&home, &["constitution", "show"])["hash"].clone();
    let mut docs: std::collections::BTreeMap<String, String> =
        mirror_constitution::Constitution::genesis()
            .files()
            .map(|(n, t)| (n.to_string(), t.to_string()))
            .collect();
    docs.get_mut("01-core-principle.md")
        .unwrap()
        .push_str("\nAmended: the mirror also keeps silence when silence serves.\n");
    let amended = mirror_constitution::Constitution::from_files(docs.clone()).unwrap();
    let m = release::build(&BuildSpec {
        version: 1,
        previous: None,
        proposals: vec![],
        params: &EngineParams::genesis().unwrap(),
        constitution: Some(&docs),
        guardians: &set,
        expires_ms: now_ms() + 30 * DAY,
        earlier_guardians: &[],
        earlier_roots: &[],
        root_expires_ms: now_ms() + 30 * DAY,
    })
    .unwrap();
    let path = signed_file(dir.path(), &home, "amendment.json", &m);

    // Edited by hand, the same documents are refused: only a release
    // ratifies.
    let by_hand = home.join("constitution/01-core-principle.md");
    let original = std::fs::read_to_string(&by_hand).unwrap();
    std::fs::write(&by_hand, &docs["01-core-principle.md"]).unwrap();
    let e = fails(&home, &["constitution", "verify"]);
    assert!(e.contains("neither the genesis"), "{e}");
    std::fs::write(&by_hand, original).unwrap();

    ok(&home, &["release", "apply", path.to_str().unwrap()]);
    let shown = json_of(&home, &["constitution", "show"]);
    assert_eq!(shown["hash"], amended.hash().to_hex(), "{shown}");
    ok(&home, &["constitution", "verify"]);
    // The engine runs under it.
    ok(&home, &["analyze", REFLECTION]);

    ok(&home, &["release", "rollback"]);
    assert_eq!(
        json_of(&home, &["constitution", "show"])["hash"],
        genesis_hash
    );
    ok(&home, &["constitution", "verify"]);
}

/// Rollback is sticky: a plain `release apply` (the newest release in the
/// commons) leaves a rolled-back release out until the person names it or
/// a newer one arrives.
#[test]
fn a_rolled_back_release_stays_out_until_named_or_superseded() {
    let dir = tempfile::tempdir().unwrap();
    let (home, set) = guardian_node(dir.path());
    let year = now_ms() + 365 * DAY;
    let v1 = signed_file(
        dir.path(),
        &home,
        "v1.json",
        &build(&set, 1, &params_with_new_rule(), year),
    );
    let id1 = json_of(&home, &["release", "publish", v1.to_str().unwrap()])["id"]
        .as_str()
        .unwrap()
        .to_string();
    ok(&home, &["release", "apply"]);
    assert!(current_pack(&home).is_some());
    ok(&home, &["release", "rollback"]);
    assert!(current_pack(&home).is_none());

    // The plain apply would put it straight back: refused, nothing changed.
    let e = fails(&home, &["release", "apply"]);
    assert!(e.contains("rolled back"), "{e}");
    assert!(current_pack(&home).is_none());
    // Named, it comes back.
    ok(&home, &["release", "apply", &id1]);
    assert!(current_pack(&home).is_some());
    ok(&home, &["release", "rollback"]);

    // A newer release is applied by the plain apply again.
    let mut p2 = params_with_new_rule();
    p2.thresholds.max_regenerations = 4;
    let v2 = signed_file(dir.path(), &home, "v2.json", &build(&set, 2, &p2, year));
    ok(&home, &["release", "publish", v2.to_str().unwrap()]);
    ok(&home, &["release", "apply"]);
    assert_eq!(
        EngineParams::from_json(&current_pack(&home).unwrap())
            .unwrap()
            .hash(),
        p2.hash()
    );
}

/// `mirror params show` prints the pack in force with its release; `config
/// show` marks a governed value as the pack's until the person sets their
/// own, and `config unset` hands it back.
#[test]
fn the_pack_in_force_is_shown_and_governed_values_are_marked() {
    let dir = tempfile::tempdir().unwrap();
    let (home, set) = guardian_node(dir.path());
    let genesis = json_of(&home, &["params", "show", "/thresholds"]);
    assert!(genesis["release"].is_null());
    assert_eq!(
        genesis["params_hash"],
        EngineParams::genesis().unwrap().hash()
    );
    let regen = |v: &Value| {
        v["values"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["pointer"] == "/thresholds/max_regenerations")
            .map(|x| x["value"].clone())
    };
    assert_eq!(regen(&genesis), Some(json!(2)));

    let mut p = EngineParams::genesis().unwrap();
    p.thresholds.max_regenerations = 5;
    let v1 = signed_file(
        dir.path(),
        &home,
        "v1.json",
        &build(&set, 1, &p, now_ms() + 365 * DAY),
    );
    ok(&home, &["release", "apply", v1.to_str().unwrap()]);
    let shown = json_of(&home, &["params", "show"]);
    assert_eq!(shown["release"]["version"], 1);
    assert_eq!(shown["params_hash"], p.hash());
    assert_eq!(regen(&shown), Some(json!(5)));
    let text = ok(&home, &["params", "show", "/thresholds"]);
    assert!(text.contains("/thresholds/max_regenerations = 5"), "{text}");

    let governed = |home: &Path| json_of(home, &["config", "show"])["governed"][0].clone();
    let g = governed(&home);
    assert_eq!(g["key"], "engine.max_regenerations");
    assert_eq!(
        (g["in_force"].clone(), g["source"].clone()),
        (json!(5), json!("pack"))
    );
    ok(&home, &["config", "set", "engine.max_regenerations", "1"]);
    let g = governed(&home);
    assert_eq!(
        (g["in_force"].clone(), g["source"].clone()),
        (json!(1), json!("config"))
    );
    assert_eq!(g["pack"], 5);
    ok(&home, &["config", "unset", "engine.max_regenerations"]);
    assert_eq!(governed(&home)["source"], "pack");
}

/// Founding or joining works at any point in a node's life, all or
/// nothing, and the records of the commons left stay in its own store.
#[test]
fn founding_after_the_node_has_run_never_strands_it() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("node");
    ok(&home, &["init"]);
    // The README's first steps open the default commons' store.
    ok(&home, &["member", "list"]);
    let commons = |home: &Path| {
        json_of(home, &["commons", "status"])["commons_id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let default = commons(&home);
    let me = json_of(&home, &["status"])["identity"]["public_key"]
        .as_str()
        .unwrap()
        .to_string();
    let found = |out: &Path| {
        mirror_args(&[
            "commons",
            "genesis",
            "new",
            "--name",
            "later",
            "--guardian",
            &me,
            "--out",
            out.to_str().unwrap(),
        ])
    };

    // A genesis file that cannot be written: nothing changes.
    let nowhere = dir.path().join("missing-dir").join("genesis.json");
    fails(
        &home,
        &found(&nowhere)
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    assert_eq!(commons(&home), default);
    ok(&home, &["member", "list"]);

    // Founding now works, and every commons command with it.
    let file = dir.path().join("genesis.json");
    let v = json_of(
        &home,
        &found(&file).iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let id = v["id"].as_str().unwrap().to_string();
    assert_eq!(v["left"], default.as_str());
    assert_eq!(commons(&home), id);
    let members = json_of(&home, &["member", "list"]);
    assert_eq!(members["guardians"]["keys"][0], me.as_str());

    // Both commons are held; going back finds the old one, and joining by
    // file returns to the new one.
    let held = json_of(&home, &["commons", "list"]);
    // Every JSON output is an object; a bare list comes as `items`.
    let ids: Vec<&str> = held
        .get("items")
        .unwrap_or(&held)
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&default.as_str()) && ids.contains(&id.as_str()),
        "{held}"
    );
    ok(&home, &["commons", "use", &default]);
    assert_eq!(commons(&home), default);
    ok(&home, &["member", "list"]);
    let joined = json_of(&home, &["commons", "join", file.to_str().unwrap()]);
    assert_eq!(joined["id"], id.as_str());
    assert_eq!(commons(&home), id);
    fails(&home, &["commons", "use", &"ab".repeat(32)]);
}

fn mirror_args(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// `--remove /export` expresses removing export, and is refused as I5.
#[test]
fn removing_export_by_path_is_refused_as_i5() {
    let dir = tempfile::tempdir().unwrap();
    let (home, _) = guardian_node(dir.path());
    let e = fails(
        &home,
        &[
            "proposal",
            "new",
            "--type",
            "pattern_detection",
            "--title",
            "Drop export",
            "--remove",
            "/export",
        ],
    );
    assert!(e.contains("I5"), "{e}");
    let e = fails(
        &home,
        &[
            "proposal",
            "new",
            "--type",
            "pattern_detection",
            "--title",
            "Drop a thing",
            "--remove",
            "/nothing_here",
        ],
    );
    assert!(e.contains("not in the pack"), "{e}");
    // The README's example once failed for want of a description: the
    // error says what is needed.
    let e = fails(
        &home,
        &[
            "proposal",
            "new",
            "--type",
            "pattern_detection",
            "--title",
            "More tries",
            "--set",
            "/thresholds/max_regenerations=3",
        ],
    );
    assert!(e.contains("--description is needed"), "{e}");
}

/// A proposal may choose its voting window within the bounds its genesis
/// sets, and the window prints as local times.
#[test]
fn a_proposal_chooses_its_window_within_the_genesis_bounds() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("node");
    ok(&home, &["init"]);
    let me = json_of(&home, &["status"])["identity"]["public_key"]
        .as_str()
        .unwrap()
        .to_string();
    let genesis = dir.path().join("genesis.json");
    ok(
        &home,
        &[
            "commons",
            "genesis",
            "new",
            "--name",
            "windows",
            "--guardian",
            &me,
            "--period",
            "7d",
            "--max-period",
            "30d",
            "--out",
            genesis.to_str().unwrap(),
        ],
    );
    ok(&home, &["member", "attest", &me]);
    let listed = ok(&home, &["member", "list"]);
    assert!(
        listed.contains("voting     7d (a proposal may choose up to 30d)"),
        "{listed}"
    );
    let draft = dir.path().join("p.json");
    ok(
        &home,
        &[
            "proposal",
            "new",
            "--type",
            "pattern_detection",
            "--title",
            "Notice circling back",
            "--description",
            "Loops back to one conversation go unnoticed.",
            "--add",
            r#"/patterns/past_reference/rules/-={"id":"circling_back","cues":["circling back"]}"#,
            "--out",
            draft.to_str().unwrap(),
        ],
    );
    let id = json_of(&home, &["proposal", "submit", draft.to_str().unwrap()])["id"]
        .as_str()
        .unwrap()
        .to_string();
    ok(&home, &["proposal", "advance", &id, "testing"]);
    ok(&home, &["proposal", "advance", &id, "review"]);
    let e = fails(
        &home,
        &["proposal", "advance", &id, "voting", "--window", "60d"],
    );
    assert!(e.contains("7d to 30d"), "{e}");
    let e = fails(
        &home,
        &["proposal", "advance", &id, "voting", "--window", "1d"],
    );
    assert!(e.contains("7d to 30d"), "{e}");
    let out = ok(
        &home,
        &["proposal", "advance", &id, "voting", "--window", "14d"],
    );
    // Local date and time, not epoch milliseconds.
    assert!(
        out.contains(" → ") && out.contains(':') && out.contains('-'),
        "{out}"
    );
    let v = json_of(&home, &["proposal", "show", &id]);
    let tally = &v["tally"]["window"];
    assert_eq!(
        tally["closes"].as_i64().unwrap() - tally["opens"].as_i64().unwrap(),
        14 * DAY,
        "{v}"
    );
    let shown = ok(&home, &["proposal", "show", &id]);
    assert!(!shown.contains(&tally["opens"].to_string()), "{shown}");
}

/// `mirror export` records the constitution in force (it wrote null).
#[test]
fn export_writes_the_constitution_hash_in_force() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("node");
    ok(&home, &["init"]);
    let out = dir.path().join("bundle.tar.gz");
    ok(&home, &["export", "--out", out.to_str().unwrap()]);
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(
        std::fs::File::open(&out).unwrap(),
    ));
    let mut first = archive.entries().unwrap().next().unwrap().unwrap();
    assert_eq!(first.path().unwrap().to_str().unwrap(), "MANIFEST.json");
    let manifest: Value = serde_json::from_reader(&mut first).unwrap();
    assert_eq!(
        manifest["constitution_hash"],
        mirror_constitution::GENESIS_HASH,
        "{manifest}"
    );
}

/// A store from before per-commons stores (`commons.redb`) is moved to its
/// commons' own path the first time a commons command runs, records and
/// all.
#[test]
fn a_store_from_before_is_moved_to_its_commons_path() {
    let dir = tempfile::tempdir().unwrap();
    let home_dir = dir.path().join("node");
    ok(&home_dir, &["init"]);
    let default = json_of(&home_dir, &["commons", "status"])["commons_id"]
        .as_str()
        .unwrap()
        .to_string();
    let home = mirror_node::home::Home::at(&home_dir);
    // Put the store where older nodes kept it.
    std::fs::rename(
        home.commons_db_path(&default),
        home.legacy_commons_db_path(),
    )
    .unwrap();
    assert!(!home.commons_db_path(&default).exists());
    let status = json_of(&home_dir, &["commons", "status"]);
    assert_eq!(status["commons_id"], default.as_str());
    assert!(home.commons_db_path(&default).exists());
    assert!(!home.legacy_commons_db_path().exists());
    // An unreadable old file is left alone, and commands still work.
    std::fs::write(home.legacy_commons_db_path(), b"not a store").unwrap();
    ok(&home_dir, &["commons", "status"]);
    assert!(home.legacy_commons_db_path().exists());
}
