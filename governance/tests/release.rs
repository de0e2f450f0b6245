//! Releases in TUF's format: the update-system checklist over the pure
//! checks (`release::verify`, `release::check_guardians`). Expiry and the
//! node's rollback protection are the node's (see node/tests/release.rs).

use std::collections::BTreeMap;

use ed25519_dalek::SigningKey;
use mirror_governance::ledger::GuardianSet;
use mirror_governance::params::EngineParams;
use mirror_governance::payload::{Hex, ReleaseManifest, decode_base64, encode_base64};
use mirror_governance::release::{self, BuildSpec, ReleaseError};
use serde_json::{Value, json};

const T0: i64 = 1_795_000_000_000;
const YEAR: i64 = 365 * 86_400_000;

fn key(n: u8) -> SigningKey {
    SigningKey::from_bytes(&[n; 32])
}

fn guardians(ns: &[u8], threshold: u32, version: u64) -> GuardianSet {
    GuardianSet {
        version,
        keys: ns
            .iter()
            .map(|n| Hex(key(*n).verifying_key().to_bytes()))
            .collect(),
        threshold,
        attestations_required: 1,
        record: Hex([0; 32]),
        since: T0,
    }
}

fn spec(set: &GuardianSet) -> BuildSpec<'_> {
    BuildSpec {
        version: 3,
        previous: Some(Hex([7; 32])),
        proposals: vec![Hex([9; 32])],
        params: genesis_params(),
        constitution: None,
        guardians: set,
        earlier_guardians: &[],
        earlier_roots: &[],
        expires_ms: T0 + YEAR,
        root_expires_ms: T0 + YEAR,
    }
}

fn genesis_params() -> &'static EngineParams {
    static P: std::sync::OnceLock<EngineParams> = std::sync::OnceLock::new();
    P.get_or_init(|| EngineParams::genesis().unwrap())
}

fn unsigned(set: &GuardianSet) -> ReleaseManifest {
    release::build(&BuildSpec {
        version: 3,
        previous: Some(Hex([7; 32])),
        proposals: vec![Hex([9; 32])],
        params: &EngineParams::genesis().unwrap(),
        constitution: None,
        guardians: set,
        expires_ms: T0 + YEAR,
        earlier_guardians: &[],
        earlier_roots: &[],
        root_expires_ms: T0 + YEAR,
    })
    .unwrap()
}

fn signed_by(m: &ReleaseManifest, signers: &[u8]) -> ReleaseManifest {
    signers
        .iter()
        .fold(m.clone(), |m, n| release::sign(&m, &key(*n)).unwrap().0)
}

/// Rewrite one role's metadata JSON.
fn edit_role(m: &ReleaseManifest, role: &str, f: impl FnOnce(&mut Value)) -> ReleaseManifest {
    let mut doc: Value = serde_json::from_slice(&m.metadata_bytes(role).unwrap()).unwrap();
    f(&mut doc);
    let mut out = m.clone();
    out.tuf_metadata.insert(
        role.into(),
        encode_base64(&serde_json::to_vec(&doc).unwrap()),
    );
    out
}

#[test]
fn a_release_signed_by_the_threshold_verifies_and_ties_to_the_guardians() {
    let set = guardians(&[1, 2, 3], 2, 1);
    let m = signed_by(&unsigned(&set), &[1, 3]);
    let r = release::verify(&m).unwrap();
    assert_eq!(r.info.version, 3);
    assert_eq!(r.info.proposals, vec![Hex([9; 32])]);
    assert_eq!(r.params.hash(), EngineParams::genesis().unwrap().hash());
    assert_eq!(r.expires_ms, T0 + YEAR);
    release::check_guardians(&r, &set).unwrap();
    // Signing again with the same key replaces its signature: still valid.
    let again = release::sign(&m, &key(1)).unwrap().0;
    release::verify(&again).unwrap();
    // A key that is not in the root signs nothing.
    let (_, roles) = release::sign(&m, &key(8)).unwrap();
    assert!(roles.is_empty());
}

#[test]
fn below_threshold_and_the_same_guardian_twice_are_refused() {
    let set = guardians(&[1, 2], 2, 1);
    let one = signed_by(&unsigned(&set), &[1]);
    let e = release::verify(&one).unwrap_err();
    assert!(matches!(e, ReleaseError::Signatures { .. }), "{e}");
    assert_eq!(e.reason(), "release_signatures");

    // Guardian 1's signature listed twice does not make two.
    let twice = ["root", "targets", "snapshot", "timestamp"]
        .iter()
        .fold(one.clone(), |m, role| {
            edit_role(&m, role, |doc| {
                let sig = doc["signatures"][0].clone();
                doc["signatures"].as_array_mut().unwrap().push(sig);
            })
        });
    assert!(matches!(
        release::verify(&twice).unwrap_err(),
        ReleaseError::Signatures { .. }
    ));
    // Unsigned: refused.
    assert!(release::verify(&unsigned(&set)).is_err());
}

#[test]
fn a_root_that_is_not_the_guardians_is_refused() {
    let set = guardians(&[1, 2], 2, 1);
    // Non-guardians 5 and 6 make a self-consistent release: it verifies by
    // itself, but it is not this commons' guardians'.
    let impostors = guardians(&[5, 6], 2, 1);
    let fake = signed_by(&unsigned(&impostors), &[5, 6]);
    let r = release::verify(&fake).unwrap();
    let e = release::check_guardians(&r, &set).unwrap_err();
    assert_eq!(e.reason(), "release_not_guardians");
    assert!(e.to_string().contains("not a guardian"), "{e}");

    // A lower threshold than the guardians'.
    let lax = guardians(&[1, 2], 1, 1);
    let r = release::verify(&signed_by(&unsigned(&lax), &[1])).unwrap();
    assert!(release::check_guardians(&r, &set).is_err());

    // A root version that skips (the guardians are at version 1).
    let skip = guardians(&[1, 2], 2, 3);
    let skipped = [guardians(&[1, 2], 2, 1), guardians(&[1, 2], 2, 2)];
    let m = release::build(&BuildSpec {
        earlier_guardians: &skipped,
        ..spec(&skip)
    })
    .unwrap();
    let r = release::verify(&signed_by(&m, &[1, 2])).unwrap();
    let e = release::check_guardians(&r, &set).unwrap_err();
    assert!(e.to_string().contains("root version 3"), "{e}");
    // Nor can a root version come without the roots before it.
    let e = release::build(&spec(&skip)).unwrap_err();
    assert!(e.to_string().contains("version 1"), "{e}");
}

/// A root chain: the root of one guardian set is carried, unchanged, by every
/// release under it; a rotation adds a version signed by the old threshold
/// and the new; the chain is checked as a TUF client walks it and against
/// the ledger's guardian history.
#[test]
fn roots_chain_across_releases_and_rotations() {
    let v1 = guardians(&[1, 2, 3], 2, 1);
    let v2 = guardians(&[3, 4], 2, 2);
    let first = signed_by(&unsigned(&v1), &[1, 2]);
    // The same guardians: the signed root is reused byte for byte, and its
    // signatures from both releases merge.
    let again = release::build(&BuildSpec {
        earlier_roots: &[first.metadata_bytes("root").unwrap()],
        root_expires_ms: T0 + 5 * YEAR,
        ..spec(&v1)
    })
    .unwrap();
    assert_eq!(again.tuf_metadata["root"], first.tuf_metadata["root"]);
    let again = signed_by(&again, &[3]);
    let doc: Value = serde_json::from_slice(&again.metadata_bytes("root").unwrap()).unwrap();
    assert_eq!(doc["signatures"].as_array().unwrap().len(), 3);
    assert_eq!(doc["signed"]["version"], 1);
    assert_eq!(doc["signed"]["consistent_snapshot"], true);

    // Rotation to version 2: it carries version 1 as `1.root`.
    let rotated = release::build(&BuildSpec {
        earlier_guardians: std::slice::from_ref(&v1),
        earlier_roots: &[again.metadata_bytes("root").unwrap()],
        ..spec(&v2)
    })
    .unwrap();
    assert_eq!(rotated.tuf_metadata["1.root"], again.tuf_metadata["root"]);
    // The new guardians alone: the old threshold is missing on the new root.
    let half = signed_by(&rotated, &[3, 4]);
    let e = release::verify(&half).unwrap_err();
    assert_eq!(e.reason(), "release_signatures");
    assert!(e.to_string().contains("by 1.root's keys"), "{e}");
    // Key 1 (a leaving guardian) signs the new root only.
    let (full, roles) = release::sign(&half, &key(1)).unwrap();
    // (and `1.root`, which it had signed already: those bytes stay).
    assert_eq!(roles, vec!["1.root".to_string(), "root".to_string()]);
    assert_eq!(full.tuf_metadata["1.root"], half.tuf_metadata["1.root"]);
    let r = release::verify(&full).unwrap();
    assert_eq!(r.root_version, 2);
    assert_eq!(r.chain.keys().copied().collect::<Vec<_>>(), vec![1]);
    release::check_guardians(&r, &v2).unwrap();
    release::check_chain(&r, &[v1.clone(), v2.clone()]).unwrap();
    // A history whose version 1 is someone else's refuses the chain.
    let e = release::check_chain(&r, &[guardians(&[5, 6], 2, 1), v2.clone()]).unwrap_err();
    assert!(e.to_string().contains("root version 1"), "{e}");

    // The chain must be whole: without `1.root`, or with a forged one.
    let mut cut = full.clone();
    cut.tuf_metadata.remove("1.root");
    let e = release::verify(&cut).unwrap_err();
    assert_eq!(e.reason(), "release_chain", "{e}");
    let forged = release::build(&BuildSpec {
        earlier_guardians: &[guardians(&[5, 6], 2, 1)],
        ..spec(&v2)
    })
    .unwrap();
    let mut mixed = full.clone();
    mixed.tuf_metadata.insert(
        "1.root".into(),
        signed_by(&forged, &[5, 6]).tuf_metadata["1.root"].clone(),
    );
    assert!(release::verify(&mixed).is_err());
    // A name that only looks like a chain entry is not one.
    let mut odd = full.clone();
    odd.tuf_metadata
        .insert("01.root".into(), full.tuf_metadata["1.root"].clone());
    assert_eq!(
        release::verify(&odd).unwrap_err().reason(),
        "release_metadata"
    );
}

#[test]
fn a_key_of_the_wrong_type_is_never_a_guardian() {
    let set = guardians(&[1, 2], 2, 1);
    let m = unsigned(&set);
    // Add an ECDSA key to the root's targets role, then sign with the
    // guardians: the metadata verifies, the key is refused by type.
    let ecdsa = json!({
        "keytype": "ecdsa",
        "scheme": "ecdsa-sha2-nistp256",
        "keyval": {"public": "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEcLZxhvVrldFqIhNYNCPPrJ5OjMnl\nGDM0Q7ImkRNTOjlyhUeTx8r5bF/J/aZxSgdDYBcVMtPlfHVb5CTOwLC+1g==\n-----END PUBLIC KEY-----\n"}
    });
    // Its key id as TUF computes it: sha256 of the key's canonical JSON.
    let id = {
        use serde::Serialize as _;
        use sha2::Digest as _;
        let mut canonical = Vec::new();
        let mut ser = serde_json::Serializer::with_formatter(
            &mut canonical,
            olpc_cjson::CanonicalFormatter::new(),
        );
        ecdsa.serialize(&mut ser).unwrap();
        hex::encode(sha2::Sha256::digest(&canonical))
    };
    let m = edit_role(&m, "root", |doc| {
        doc["signed"]["keys"][&id] = ecdsa;
        doc["signed"]["roles"]["targets"]["keyids"]
            .as_array_mut()
            .unwrap()
            .push(json!(id));
    });
    // The metadata verifies (the guardians signed it); the key is refused by
    // its type.
    let r = release::verify(&signed_by(&m, &[1, 2])).unwrap();
    assert!(r.other_keys.contains(&id));
    let e = release::check_guardians(&r, &set).unwrap_err();
    assert!(e.to_string().contains("not an ed25519 key"), "{e}");
}

#[test]
fn a_file_swapped_after_signing_is_refused() {
    let set = guardians(&[1, 2], 2, 1);
    let good = signed_by(&unsigned(&set), &[1, 2]);

    // Another valid pack in place of the signed one (mix-and-match).
    let other = signed_by(
        &release::build(&BuildSpec {
            version: 3,
            previous: Some(Hex([7; 32])),
            proposals: vec![Hex([9; 32])],
            params: &{
                let mut p = EngineParams::genesis().unwrap();
                p.thresholds.mirrored_clauses += 1;
                p
            },
            constitution: None,
            guardians: &set,
            expires_ms: T0 + YEAR,
            earlier_guardians: &[],
            earlier_roots: &[],
            root_expires_ms: T0 + YEAR,
        })
        .unwrap(),
        &[1, 2],
    );
    let mut swapped = good.clone();
    swapped.targets.insert(
        release::PARAMS_TARGET.into(),
        other.targets[release::PARAMS_TARGET].clone(),
    );
    let e = release::verify(&swapped).unwrap_err();
    assert_eq!(e.reason(), "release_target_mismatch", "{e}");

    // Another release's targets metadata with this one's snapshot.
    let mut mixed = good.clone();
    mixed
        .tuf_metadata
        .insert("targets".into(), other.tuf_metadata["targets"].clone());
    assert!(release::verify(&mixed).is_err());

    // A file carried but not listed.
    let mut extra = good.clone();
    extra
        .targets
        .insert("mirror/extra.json".into(), encode_base64(b"{}"));
    assert_eq!(
        release::verify(&extra).unwrap_err().reason(),
        "release_target_mismatch"
    );

    // Metadata edited after signing (a later expiry).
    let later = edit_role(&good, "timestamp", |doc| {
        doc["signed"]["expires"] = json!("2099-01-01T00:00:00Z");
    });
    assert_eq!(
        release::verify(&later).unwrap_err().reason(),
        "release_signatures"
    );
}

#[test]
fn the_record_must_say_what_the_guardians_signed() {
    let set = guardians(&[1, 2], 2, 1);
    let good = signed_by(&unsigned(&set), &[1, 2]);
    // The proposals changed in the record after signing: refused.
    let mut changed = good.clone();
    changed.proposals = vec![Hex([8; 32])];
    assert_eq!(
        release::verify(&changed).unwrap_err().reason(),
        "release_info"
    );
    let mut older = good.clone();
    older.previous = Some(Hex([6; 32]));
    assert!(release::verify(&older).is_err());
}

#[test]
fn a_gzip_bomb_is_refused_without_unpacking_it_all() {
    let set = guardians(&[1], 1, 1);
    let mut m = unsigned(&set);
    // 64 MiB of zeros compress to ~64 KiB; re-sign so only the size trips.
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    std::io::Write::write_all(&mut enc, &vec![b' '; 64 << 20]).unwrap();
    let bomb = enc.finish().unwrap();
    m.targets
        .insert(release::PARAMS_TARGET.into(), encode_base64(&bomb));
    let m = edit_role(&m, "targets", |doc| {
        use sha2::Digest as _;
        doc["signed"]["targets"][release::PARAMS_TARGET] = json!({
            "length": bomb.len(),
            "hashes": {"sha256": hex::encode(sha2::Sha256::digest(&bomb))}
        });
    });
    let m = signed_by(&m, &[1]);
    let e = release::verify(&m).unwrap_err();
    assert!(e.to_string().contains("unpacks to more than"), "{e}");
}

#[test]
fn releases_carry_the_constitution_when_an_amendment_changes_it() {
    let set = guardians(&[1], 1, 1);
    let docs: BTreeMap<String, String> = mirror_constitution::Constitution::genesis()
        .files()
        .map(|(n, t)| (n.to_string(), t.to_string()))
        .collect();
    let m = release::build(&BuildSpec {
        version: 1,
        previous: None,
        proposals: vec![],
        params: &EngineParams::genesis().unwrap(),
        constitution: Some(&docs),
        guardians: &set,
        expires_ms: T0 + YEAR,
        earlier_guardians: &[],
        earlier_roots: &[],
        root_expires_ms: T0 + YEAR,
    })
    .unwrap();
    let m = signed_by(&m, &[1]);
    let r = release::verify(&m).unwrap();
    assert_eq!(r.constitution.as_ref(), Some(&docs));
    let bytes = serde_json::to_vec(&mirror_governance::payload::to_payload(&m).unwrap()).unwrap();
    // The envelope adds the author, the signature and a few fields (under
    // 1 KiB); a release's own limit is what the record must stay under.
    let limit = mirror_governance::payload::limits::record_bytes("release_manifest");
    assert!(
        bytes.len() + 1024 < limit,
        "{} bytes of {limit}",
        bytes.len()
    );
    assert!(decode_base64(&m.targets[release::CONSTITUTION_TARGET]).is_some());
}

/// Guardians who sign separate copies of a release count together: the
/// copies are one release by `content_id`, and merging keeps only
/// signatures that verify, so a forged copy cannot crowd out a real one.
#[test]
fn copies_signed_apart_merge_and_forged_signatures_are_left_out() {
    let set = guardians(&[1, 2, 3], 2, 1);
    let m = unsigned(&set);
    let by_1 = signed_by(&m, &[1]);
    let by_2 = signed_by(&m, &[2]);
    let id = release::content_id(&m).unwrap();
    assert_eq!(release::content_id(&by_1), Some(id));
    assert_eq!(release::content_id(&by_2), Some(id));
    assert_eq!(
        release::verify(&by_1).unwrap_err().reason(),
        "release_signatures"
    );

    // A copy claiming key 2's signature with garbage, merged first.
    let key_2 = release::key_id(&Hex(key(2).verifying_key().to_bytes()));
    let forged = edit_role(&by_1, "targets", |doc| {
        doc["signatures"]
            .as_array_mut()
            .unwrap()
            .push(json!({"keyid": key_2, "sig": "00".repeat(64)}));
    });
    let merged = release::merge_signatures(&forged, &by_2).unwrap();
    let r = release::verify(&merged).unwrap();
    release::check_guardians(&r, &set).unwrap();
    let signers = release::signers(&merged);
    assert_eq!(signers["targets"].len(), 2);
    assert_eq!(signers["root"].len(), 2);

    // Another release is not merged into this one.
    let other = release::build(&BuildSpec {
        version: 4,
        ..spec(&set)
    })
    .unwrap();
    assert!(release::merge_signatures(&by_1, &other).is_err());
}
