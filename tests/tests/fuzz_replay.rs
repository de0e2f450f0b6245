//! Every input the fuzzers keep (`fuzz/corpus/<target>/`) and every input
//! that once broke a property (`fuzz/crashers/<target>/`) goes through the
//! same check function as its fuzz target, under plain `cargo test`: a
//! crasher fixed stays fixed, and the corpus keeps exercising the decoders
//! without nightly or libFuzzer. See FUZZING.md.

use std::path::PathBuf;

type Check = fn(&[u8]);

const TARGETS: &[(&str, Check)] = &[
    ("record", mirror_commons::fuzz::record),
    ("change", mirror_commons::fuzz::change),
    ("sync_message", mirror_commons::fuzz::sync_message),
    ("sync_codec", mirror_commons::fuzz::sync_codec),
    (
        "release_manifest",
        mirror_governance::fuzz::release_manifest,
    ),
    ("bundle", mirror_node::fuzz::bundle),
    ("manifest", mirror_node::fuzz::manifest),
    ("record_line", mirror_node::fuzz::record_line),
    ("config", mirror_node::fuzz::config),
    ("stored_value", mirror_node::fuzz::stored_value),
];

fn fuzz_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

#[test]
fn every_target_has_a_fuzz_target_a_corpus_and_a_crashers_directory() {
    for (name, _) in TARGETS {
        let dir = fuzz_dir();
        assert!(
            dir.join("fuzz_targets").join(format!("{name}.rs")).exists(),
            "fuzz/fuzz_targets/{name}.rs"
        );
        assert!(dir.join("corpus").join(name).is_dir(), "fuzz/corpus/{name}");
        assert!(
            dir.join("crashers").join(name).is_dir(),
            "fuzz/crashers/{name}"
        );
    }
    let listed = std::fs::read_dir(fuzz_dir().join("fuzz_targets"))
        .unwrap()
        .count();
    assert_eq!(listed, TARGETS.len(), "every fuzz target is replayed here");
}

#[test]
fn corpus_and_crashers_replay_through_the_checks() {
    let mut total = 0;
    for (name, check) in TARGETS {
        for kind in ["corpus", "crashers"] {
            let dir = fuzz_dir().join(kind).join(name);
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            let mut files: Vec<PathBuf> = entries
                .map(|e| e.unwrap().path())
                .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
                .collect();
            files.sort();
            for file in files {
                let data = std::fs::read(&file).unwrap();
                let outcome = std::panic::catch_unwind(|| check(&data));
                assert!(
                    outcome.is_ok(),
                    "{name}: {} breaks its check",
                    file.display()
                );
                total += 1;
            }
        }
    }
    println!("{total} inputs replayed");
    assert!(
        total >= TARGETS.len(),
        "every target has at least one input"
    );
}
