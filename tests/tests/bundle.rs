//! Export and import bundles: round trip, idempotence, merging, keys,
//! schema conformance, and every kind of bad bundle refused with the store
//! left exactly as it was.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use mirror_node::bundle::{self, BundleError, ExportOptions, ImportLimits, Manifest};
use mirror_node::home::Home;
use mirror_node::model::{Record, Tension};
use mirror_node::store::{Batch, Store, TensionEvidenceInput};
use mirror_tests::fixtures::{edit_and_delete, populate};

fn export(store: &Store, home: &Home, dir: &Path, include_keys: bool) -> PathBuf {
    let out = dir.join(format!("bundle-{}.tar.gz", mirror_node::model::Id::new()));
    bundle::export(
        store,
        home,
        &out,
        &ExportOptions {
            include_keys,
            constitution_hash: None,
        },
    )
    .unwrap();
    out
}

fn import(home: &Home, path: &Path) -> Result<bundle::ImportSummary, BundleError> {
    import_with(home, path, &ImportLimits::default())
}

fn import_with(
    home: &Home,
    path: &Path,
    limits: &ImportLimits,
) -> Result<bundle::ImportSummary, BundleError> {
    let verified = bundle::read_bundle(path, limits)?;
    let store = home.open_store()?;
    bundle::apply(&store, home, &verified)
}

/// Every entry of a bundle: (path, bytes), in archive order.
fn unpack(path: &Path) -> Vec<(String, Vec<u8>)> {
    let mut archive = tar::Archive::new(GzDecoder::new(std::fs::File::open(path).unwrap()));
    archive
        .entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let name = e.path().unwrap().to_string_lossy().into_owned();
            let mut bytes = Vec::new();
            e.read_to_end(&mut bytes).unwrap();
            (name, bytes)
        })
        .collect()
}

/// One raw tar entry, written without the tar crate's path checks so tests
/// can build the archives an attacker would.
struct Raw<'a> {
    name: &'a [u8],
    kind: tar::EntryType,
    data: &'a [u8],
}

fn pack_raw(path: &Path, entries: &[Raw]) {
    let gz = GzEncoder::new(std::fs::File::create(path).unwrap(), Compression::fast());
    let mut builder = tar::Builder::new(gz);
    for entry in entries {
        let mut header = tar::Header::new_old();
        header.as_old_mut().name[..entry.name.len()].copy_from_slice(entry.name);
        header.set_size(entry.data.len() as u64);
        header.set_entry_type(entry.kind);
        header.set_mode(0o600);
        header.set_cksum();
        builder.append(&header, entry.data).unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap();
}

fn pack(path: &Path, entries: &[(String, Vec<u8>)]) {
    let raw: Vec<Raw> = entries
        .iter()
        .map(|(name, data)| Raw {
            name: name.as_bytes(),
            kind: tar::EntryType::Regular,
            data,
        })
        .collect();
    pack_raw(path, &raw);
}

fn manifest_of(entries: &[(String, Vec<u8>)]) -> Manifest {
    serde_json::from_slice(&entries[0].1).unwrap()
}

fn with_manifest(entries: &mut [(String, Vec<u8>)], manifest: &Manifest) {
    entries[0].1 = serde_json::to_vec_pretty(manifest).unwrap();
}

#[test]
fn round_trip_into_an_empty_store_is_equal_record_for_record() {
    let dir = tempfile::tempdir().unwrap();
    let source = Home::at(dir.path().join("a"));
    let store = populate(&source);
    edit_and_delete(&store);
    let original = store.snapshot().unwrap();
    for (table, n) in original.counts() {
        assert!(
            n > 0,
            "the fixture must hold every kind of record; {table} is empty"
        );
    }
    let path = export(&store, &source, dir.path(), true);

    let target = Home::at(dir.path().join("b"));
    let summary = import(&target, &path).unwrap();
    // Everything but what an import never does: grant consent or enable an
    // integration. Those are left out, and said so.
    let mut expected = original.clone();
    expected.consent.retain(|c| !c.granted);
    for i in &mut expected.integrations {
        i.enabled = false;
    }
    assert_eq!(summary.report.added() as usize, expected.len());
    let imported = target.open_store().unwrap().snapshot().unwrap();
    assert_eq!(imported, expected);
    if original.consent.iter().any(|c| c.granted) {
        assert!(
            summary.left_out.iter().any(|l| l.starts_with("consent ")),
            "{:?}",
            summary.left_out
        );
    }

    // The key came along (0600), and the fresh node adopted the identity.
    let identity = &original.identities[0];
    let key_file = target.key_path(identity.id);
    assert_eq!(
        std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(target.load_config().unwrap().identity, Some(identity.id));
    assert_eq!(
        target.read_key(identity).unwrap().public_key(),
        identity.public_key
    );
}

#[test]
fn keys_stay_out_unless_asked_for_and_bundles_are_private_files() {
    let dir = tempfile::tempdir().unwrap();
    let home = Home::at(dir.path().join("a"));
    let store = populate(&home);
    let path = export(&store, &home, dir.path(), false);
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let entries = unpack(&path);
    assert_eq!(entries[0].0, "MANIFEST.json");
    assert!(entries.iter().all(|(name, _)| !name.starts_with("keys/")));
    let secret =
        std::fs::read_to_string(home.key_path(store.snapshot().unwrap().identities[0].id)).unwrap();
    let seed = secret.lines().nth(1).unwrap();
    for (name, bytes) in &entries {
        assert!(
            !String::from_utf8_lossy(bytes).contains(seed),
            "{name} contains the secret key"
        );
    }
    assert!(!manifest_of(&entries).includes_keys);
    // Every reflection is also readable as Markdown, grouped by day.
    let markdown: Vec<_> = entries
        .iter()
        .filter(|(n, _)| n.starts_with("reflections/") && n.ends_with(".md"))
        .collect();
    assert_eq!(markdown.len(), store.snapshot().unwrap().reflections.len());
    assert!(
        markdown
            .iter()
            .any(|(n, b)| n.starts_with("reflections/2026-01-02/")
                && String::from_utf8_lossy(b).contains("part of me wants to wait"))
    );
}

#[test]
fn importing_twice_adds_nothing_and_merging_keeps_both_sides() {
    let dir = tempfile::tempdir().unwrap();
    let a = Home::at(dir.path().join("a"));
    let store_a = populate(&a);
    let path = export(&store_a, &a, dir.path(), false);

    let b = Home::at(dir.path().join("b"));
    let store_b = populate(&b);
    let own = store_b.snapshot().unwrap();
    drop(store_b);

    let first = import(&b, &path).unwrap();
    // Everything is new to b except the consent setting: both nodes decided
    // on the same category, and b's decision is the newer one.
    assert_eq!(
        first.report.added() as usize,
        store_a.snapshot().unwrap().len() - 1
    );
    assert_eq!(first.report.tables["consent"].unchanged, 1);
    let after_first = b.open_store().unwrap().snapshot().unwrap();
    assert_eq!(
        after_first.len(),
        own.len() + store_a.snapshot().unwrap().len() - 1,
        "everything from both sides (consent is one setting per category)"
    );
    // b keeps its own identity.
    assert_eq!(
        b.load_config().unwrap().identity,
        Some(own.identities[0].id)
    );

    let second = import(&b, &path).unwrap();
    assert_eq!(second.report.added(), 0);
    assert_eq!(second.report.updated(), 0);
    assert_eq!(b.open_store().unwrap().snapshot().unwrap(), after_first);
}

#[test]
fn mutable_records_keep_the_newest_side() {
    let dir = tempfile::tempdir().unwrap();
    let a = Home::at(dir.path().join("a"));
    let store_a = populate(&a);
    let first = export(&store_a, &a, dir.path(), false);
    let b = Home::at(dir.path().join("b"));
    import(&b, &first).unwrap();

    let tension = store_a.list::<Tension>(1).unwrap().remove(0);
    store_a
        .set_tension_position(
            tension.id,
            0.9,
            None,
            TensionEvidenceInput {
                reflection_id: None,
                excerpt: "moved on".into(),
            },
        )
        .unwrap();
    let second = export(&store_a, &a, dir.path(), false);
    let summary = import(&b, &second).unwrap();
    assert_eq!(summary.report.tables[Tension::TABLE].updated, 1);
    let merged: Tension = b.open_store().unwrap().get(tension.id).unwrap().unwrap();
    assert_eq!(merged.position, 0.9);

    // The older bundle does not move it back.
    let again = import(&b, &first).unwrap();
    assert_eq!(again.report.updated(), 0);
    let kept: Tension = b.open_store().unwrap().get(tension.id).unwrap().unwrap();
    assert_eq!(kept.position, 0.9);
}

#[test]
fn every_exported_line_matches_its_json_schema() {
    let dir = tempfile::tempdir().unwrap();
    let home = Home::at(dir.path().join("a"));
    let store = populate(&home);
    // An edit and a delete, so revisions and tombstones have lines too.
    edit_and_delete(&store);
    let entries = unpack(&export(&store, &home, dir.path(), false));
    let schemas = Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/bundle");
    let load = |name: &str| {
        let text = std::fs::read_to_string(schemas.join(format!("{name}.schema.json"))).unwrap();
        let schema: serde_json::Value = serde_json::from_str(&text).unwrap();
        jsonschema::draft202012::new(&schema).unwrap()
    };
    let manifest: serde_json::Value = serde_json::from_slice(&entries[0].1).unwrap();
    let validator = load("manifest");
    assert!(
        validator.is_valid(&manifest),
        "{:?}",
        validator
            .iter_errors(&manifest)
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
    );

    let mut checked = 0;
    for table in Batch::TABLES {
        let validator = load(table);
        let (_, bytes) = entries
            .iter()
            .find(|(n, _)| *n == format!("data/{table}.jsonl"))
            .unwrap();
        for line in std::str::from_utf8(bytes).unwrap().lines() {
            let value: serde_json::Value = serde_json::from_str(line).unwrap();
            let errors: Vec<String> = validator
                .iter_errors(&value)
                .map(|e| e.to_string())
                .collect();
            assert!(errors.is_empty(), "{table}: {errors:?} in {line}");
            checked += 1;
        }
        // And the schema is strict: an unknown field fails.
        let mut bad: serde_json::Value =
            serde_json::from_str(std::str::from_utf8(bytes).unwrap().lines().next().unwrap())
                .unwrap();
        bad["surprise"] = serde_json::json!(1);
        assert!(
            !validator.is_valid(&bad),
            "{table} accepted an unknown field"
        );
    }
    assert!(checked >= 15);
}

/// Run `case` against a target store holding data; the import must fail
/// with an error `check` accepts, and the store must not change.
fn refused(name: &str, path: &Path, limits: &ImportLimits, check: impl Fn(&BundleError) -> bool) {
    let dir = tempfile::tempdir().unwrap();
    let target = Home::at(dir.path());
    let before = populate(&target).snapshot().unwrap();
    let config_before = std::fs::read(target.config_path()).unwrap();
    let err = import_with(&target, path, limits).expect_err(name);
    assert!(check(&err), "{name}: unexpected error {err:?}");
    assert!(!err.to_string().is_empty());
    assert_eq!(
        target.open_store().unwrap().snapshot().unwrap(),
        before,
        "{name}: store changed"
    );
    assert_eq!(std::fs::read(target.config_path()).unwrap(), config_before);
}

#[test]
fn bad_bundles_are_refused_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let source = Home::at(dir.path().join("source"));
    let store = populate(&source);
    let good_path = export(&store, &source, dir.path(), false);
    let good = unpack(&good_path);
    let good_bytes = std::fs::read(&good_path).unwrap();
    let limits = ImportLimits::default();
    let file = |name: &str| dir.path().join(name);

    // Not gzip at all.
    std::fs::write(file("garbage"), b"definitely not a bundle").unwrap();
    refused("garbage", &file("garbage"), &limits, |e| {
        matches!(e, BundleError::Corrupt(_))
    });

    // Truncated: half the file.
    std::fs::write(file("truncated"), &good_bytes[..good_bytes.len() / 2]).unwrap();
    refused("truncated", &file("truncated"), &limits, |e| {
        matches!(e, BundleError::Corrupt(_))
    });

    // A data file altered after export, same size.
    let mut altered = good.clone();
    let i = altered
        .iter()
        .position(|(n, _)| n == "data/reflections.jsonl")
        .unwrap();
    let pos = altered[i].1.iter().position(|b| *b == b'F').unwrap();
    altered[i].1[pos] = b'G';
    pack(&file("altered"), &altered);
    refused(
        "altered",
        &file("altered"),
        &limits,
        |e| matches!(e, BundleError::HashMismatch { path } if path == "data/reflections.jsonl"),
    );

    // A data file that grew.
    let mut grown = good.clone();
    grown[i].1.push(b'\n');
    pack(&file("grown"), &grown);
    refused("grown", &file("grown"), &limits, |e| {
        matches!(e, BundleError::SizeMismatch { .. })
    });

    // Path traversal and absolute paths.
    for (case, name) in [
        ("dotdot", &b"../../escape.txt"[..]),
        ("absolute", &b"/etc/passwd"[..]),
        ("nested-dotdot", &b"data/../../x"[..]),
    ] {
        let manifest = &good[0].1;
        pack_raw(
            &file(case),
            &[
                Raw {
                    name: b"MANIFEST.json",
                    kind: tar::EntryType::Regular,
                    data: manifest,
                },
                Raw {
                    name,
                    kind: tar::EntryType::Regular,
                    data: b"x",
                },
            ],
        );
        refused(case, &file(case), &limits, |e| {
            matches!(e, BundleError::UnsafePath { .. })
        });
    }
    assert!(!dir.path().join("escape.txt").exists());

    // Links and other non-files.
    pack_raw(
        &file("symlink"),
        &[
            Raw {
                name: b"MANIFEST.json",
                kind: tar::EntryType::Regular,
                data: &good[0].1,
            },
            Raw {
                name: b"data/identities.jsonl",
                kind: tar::EntryType::Symlink,
                data: b"",
            },
        ],
    );
    refused("symlink", &file("symlink"), &limits, |e| {
        matches!(e, BundleError::UnsupportedEntry { .. })
    });

    // An entry the manifest does not list.
    let mut extra = good.clone();
    extra.push(("notes/extra.txt".into(), b"hello".to_vec()));
    pack(&file("extra"), &extra);
    refused("extra", &file("extra"), &limits, |e| {
        matches!(e, BundleError::UnlistedEntry { .. })
    });

    // A listed file that is missing.
    let mut missing = good.clone();
    missing.retain(|(n, _)| n != "data/tensions.jsonl");
    pack(&file("missing"), &missing);
    refused(
        "missing",
        &file("missing"),
        &limits,
        |e| matches!(e, BundleError::MissingFile { path } if path == "data/tensions.jsonl"),
    );

    // The same entry twice.
    let mut twice = good.clone();
    twice.push(good[1].clone());
    pack(&file("twice"), &twice);
    refused("twice", &file("twice"), &limits, |e| {
        matches!(e, BundleError::DuplicateEntry { .. })
    });

    // The manifest is not first.
    let mut swapped = good.clone();
    swapped.swap(0, 1);
    pack(&file("swapped"), &swapped);
    refused("swapped", &file("swapped"), &limits, |e| {
        matches!(e, BundleError::NotABundle(_))
    });

    // Versions from the future.
    for (case, edit) in [
        (
            "future-format",
            &(|m: &mut Manifest| m.bundle_format_version = 9) as &dyn Fn(&mut Manifest),
        ),
        ("future-schema", &|m: &mut Manifest| m.schema_version = 99),
    ] {
        let mut entries = good.clone();
        let mut manifest = manifest_of(&entries);
        edit(&mut manifest);
        with_manifest(&mut entries, &manifest);
        pack(&file(case), &entries);
        refused(case, &file(case), &limits, |e| {
            matches!(e, BundleError::UnknownVersion { .. })
        });
    }

    // A record with a value outside its set, hashed correctly: caught by
    // validation, with the file, line and field named.
    let mut invalid = good.clone();
    let text = String::from_utf8(invalid[i].1.clone()).unwrap();
    let text = text.replacen("\"local_only\"", "\"everyone\"", 1);
    invalid[i].1 = text.into_bytes();
    let mut manifest = manifest_of(&invalid);
    let entry = manifest
        .files
        .iter_mut()
        .find(|f| f.path == "data/reflections.jsonl")
        .unwrap();
    *entry = bundle::FileEntry::of(entry.path.clone(), &invalid[i].1);
    with_manifest(&mut invalid, &manifest);
    pack(&file("invalid"), &invalid);
    refused("invalid", &file("invalid"), &limits, |e| {
        let text = e.to_string();
        matches!(e, BundleError::Record { line: 1, .. })
            && text.contains("visibility")
            && text.contains("local_only")
    });

    // Counts that disagree with the data.
    let mut counted = good.clone();
    let mut manifest = manifest_of(&counted);
    *manifest.record_counts.get_mut("reflections").unwrap() += 1;
    with_manifest(&mut counted, &manifest);
    pack(&file("counted"), &counted);
    refused("counted", &file("counted"), &limits, |e| {
        matches!(e, BundleError::CountMismatch { .. })
    });

    // Over the size limit.
    let tiny = ImportLimits {
        max_bundle_bytes: 100,
        ..limits
    };
    refused("too-large", &good_path, &tiny, |e| {
        matches!(e, BundleError::TooLarge { .. })
    });

    // A decompression bomb: small on disk, huge unpacked. Each entry is
    // listed with its true size and hash, so only the unpacked limit stops it.
    let zeros = vec![0u8; 4 << 20];
    let mut bomb = vec![(String::new(), Vec::new())];
    let mut manifest = manifest_of(&good);
    for n in 0..8 {
        let name = format!(
            "reflections/2026-01-0{}/000000-01936d8a-7c3e-7b4a-9f1e-2c5d6e7f8a9b.md",
            n + 1
        );
        manifest
            .files
            .push(bundle::FileEntry::of(name.clone(), &zeros));
        bomb.push((name, zeros.clone()));
    }
    with_manifest(&mut bomb, &manifest);
    bomb[0].0 = "MANIFEST.json".into();
    pack(&file("bomb"), &bomb);
    assert!(std::fs::metadata(file("bomb")).unwrap().len() < 1 << 20);
    let small = ImportLimits {
        max_unpacked_bytes: 16 << 20,
        ..limits
    };
    refused("bomb", &file("bomb"), &small, |e| {
        matches!(e, BundleError::UnpackedTooLarge { .. })
    });
}

#[test]
fn conflicting_records_abort_the_whole_import() {
    let dir = tempfile::tempdir().unwrap();
    let home = Home::at(dir.path().join("a"));
    let store = populate(&home);
    let path = export(&store, &home, dir.path(), false);
    let mut entries = unpack(&path);

    // Same reflection id, different words: refused, and none of the other
    // (new) records land either.
    let target = Home::at(dir.path().join("b"));
    import(&target, &path).unwrap();
    let before = target.open_store().unwrap().snapshot().unwrap();
    let i = entries
        .iter()
        .position(|(n, _)| n == "data/reflections.jsonl")
        .unwrap();
    let text = String::from_utf8(entries[i].1.clone())
        .unwrap()
        .replacen("Friday", "Monday", 1);
    entries[i].1 = text.into_bytes();
    let mut manifest = manifest_of(&entries);
    for f in manifest.files.iter_mut() {
        if f.path == "data/reflections.jsonl" {
            *f = bundle::FileEntry::of(f.path.clone(), &entries[i].1);
        }
    }
    with_manifest(&mut entries, &manifest);
    let tampered = dir.path().join("tampered.tar.gz");
    pack(&tampered, &entries);
    let err = import(&target, &tampered).unwrap_err();
    assert!(err.to_string().contains("differs"), "{err}");
    assert_eq!(target.open_store().unwrap().snapshot().unwrap(), before);

    // A record pointing at an identity nobody has.
    let empty = Home::at(dir.path().join("c"));
    let mut orphaned = unpack(&path);
    let j = orphaned
        .iter()
        .position(|(n, _)| n == "data/identities.jsonl")
        .unwrap();
    orphaned[j].1.clear();
    let mut manifest = manifest_of(&orphaned);
    manifest.record_counts.insert("identities".into(), 0);
    for f in manifest.files.iter_mut() {
        if f.path == "data/identities.jsonl" {
            *f = bundle::FileEntry::of(f.path.clone(), &[]);
        }
    }
    with_manifest(&mut orphaned, &manifest);
    let orphan_path = dir.path().join("orphaned.tar.gz");
    pack(&orphan_path, &orphaned);
    let err = import(&empty, &orphan_path).unwrap_err();
    assert!(
        err.to_string()
            .contains("neither in the bundle nor in this store"),
        "{err}"
    );
    assert!(empty.open_store().unwrap().snapshot().unwrap().is_empty());
}
