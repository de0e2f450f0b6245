//! A damaged disk: bytes of `mirror.redb` changed in many places, then
//! every command a person would reach for. Whatever is hit, nothing panics,
//! nothing comes back silently different, and `mirror doctor --salvage`
//! recovers every record whose bytes survived.

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use mirror_node::home::Home;
use mirror_node::model::{
    ContentType, Id, Metadata, Reflection, Source, Thread, ThreadStatus, Timestamp, Visibility,
};
use mirror_node::store::Store;
use serde_json::Value;

/// xorshift64*: reproducible damage from a printed seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn mirror(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mirror"))
        .args(args)
        .env("MIRROR_HOME", home)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// No command may crash: a Rust panic exits with 101 and says "panicked".
fn no_panic(trial: usize, args: &[&str], out: &Output) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.code() != Some(101) && !stderr.contains("panicked"),
        "trial {trial}: mirror {args:?} panicked: {stderr}"
    );
    if !out.status.success() {
        let errors: Vec<&str> = stderr
            .lines()
            // Under --json the error is one JSON object instead.
            .filter(|l| l.starts_with("mirror: error:") || l.starts_with("{\"error\":"))
            .collect();
        assert_eq!(
            errors.len(),
            1,
            "trial {trial}: mirror {args:?}: one clear error line, got {stderr}"
        );
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    let mode = std::fs::metadata(from).unwrap().permissions();
    std::fs::set_permissions(to, mode).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Every byte range where a copy of each reflection's content lies in the
/// file (redb copies pages on write, so there may be several).
fn copies(file: &[u8], reflections: &[Reflection]) -> HashMap<Id, Vec<(usize, usize)>> {
    reflections
        .iter()
        .map(|r| {
            let needle = r.content.as_bytes();
            let spots = file
                .windows(needle.len())
                .enumerate()
                .filter(|(_, w)| *w == needle)
                .map(|(i, _)| (i, i + needle.len()))
                .collect();
            (r.id, spots)
        })
        .collect()
}

fn check_against(
    trial: usize,
    what: &str,
    found: &[Reflection],
    pristine: &HashMap<Id, Reflection>,
) {
    for r in found {
        match pristine.get(&r.id) {
            Some(original) => assert_eq!(
                r, original,
                "trial {trial}: {what} returned reflection {} changed",
                r.id
            ),
            None => panic!("trial {trial}: {what} returned a reflection that never existed: {r:?}"),
        }
    }
}

#[test]
fn a_damaged_database_degrades_and_salvage_recovers_every_intact_record() {
    let dir = tempfile::tempdir().unwrap();
    let pristine_home = dir.path().join("pristine");
    let home = Home::at(&pristine_home);
    let reflections: Vec<Reflection> = {
        let store = home.open_store().unwrap();
        let identity = home.init_with(&store, "me").unwrap().identity;
        let thread = Thread {
            id: Id::new(),
            identity_id: identity.id,
            title: "Mornings".into(),
            status: ThreadStatus::Active,
            started_at: Timestamp::now(),
            last_active: Timestamp::now(),
            updated_at: Timestamp::now(),
        };
        store.insert_thread(&thread).unwrap();
        let mut out = Vec::new();
        for i in 0..240 {
            let r = Reflection {
                id: Id::new(),
                identity_id: identity.id,
                content: format!(
                    "Entry {i:03}: the kettle, the window, the long walk {} and what I did not say ({}).",
                    "and then ".repeat(i % 7),
                    Id::new()
                ),
                content_type: ContentType::PlainText,
                visibility: Visibility::LocalOnly,
                source: Source::Cli,
                created_at: Timestamp::from_micros(
                    1_767_225_600_000_000 + i as i64 * 3_600_000_000,
                )
                .unwrap(),
                metadata: Metadata::default(),
            };
            store.insert_reflection(&r, None).unwrap();
            if i % 5 == 0 {
                store.add_to_thread(thread.id, r.id).unwrap();
            }
            out.push(r);
        }
        out
    };
    let pristine: HashMap<Id, Reflection> = reflections.iter().map(|r| (r.id, r.clone())).collect();
    let file = std::fs::read(pristine_home.join("mirror.redb")).unwrap();
    let spots = copies(&file, &reflections);
    assert!(spots.values().all(|s| !s.is_empty()));

    // A new seed each run (more damage seen over time); a failing run's
    // seed, printed below, replays it with MIRROR_DAMAGE_SEED.
    let seed = std::env::var("MIRROR_DAMAGE_SEED")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        })
        | 1;
    println!("damage seed: {seed} (file of {} bytes)", file.len());
    let mut rng = Rng(seed);
    let mut totals = (0usize, 0usize, 0usize); // damaged trials, intact records, recovered
    for trial in 0..36 {
        let trial_dir = dir.path().join(format!("trial-{trial}"));
        copy_dir(&pristine_home, &trial_dir);
        // 1 to 8 changed bytes; every fourth trial aims inside the records'
        // region of the file, the rest land anywhere (header, branches,
        // free pages, the allocator state).
        let n = 1 << rng.below(4);
        let mut damaged = file.clone();
        let mut flipped = Vec::new();
        for _ in 0..n {
            let at = if trial % 4 == 0 {
                let (start, end) = spots[&reflections[rng.below(240) as usize].id][0];
                start + rng.below((end - start) as u64) as usize
            } else {
                rng.below(file.len() as u64) as usize
            };
            damaged[at] ^= 1 + rng.below(255) as u8;
            flipped.push(at);
        }
        std::fs::write(trial_dir.join("mirror.redb"), &damaged).unwrap();

        // Reading: never a panic, never a changed record.
        let args = ["list", "--json", "--limit", "1000"];
        let out = mirror(&trial_dir, &args);
        no_panic(trial, &args, &out);
        if out.status.success() {
            let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
            let listed: Vec<Reflection> =
                serde_json::from_value(listed["reflections"].clone()).unwrap();
            check_against(trial, "list", &listed, &pristine);
        }
        let args = ["status", "--json"];
        no_panic(trial, &args, &mirror(&trial_dir, &args));

        let bundle = trial_dir.join("export.tar.gz");
        let args = ["export", "--json", "--out", bundle.to_str().unwrap()];
        let out = mirror(&trial_dir, &args);
        no_panic(trial, &args, &out);
        if out.status.success() {
            let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(
                std::fs::File::open(&bundle).unwrap(),
            ));
            for entry in archive.entries().unwrap() {
                let mut entry = entry.unwrap();
                if entry.path().unwrap().to_str() == Some("data/reflections.jsonl") {
                    let mut text = String::new();
                    entry.read_to_string(&mut text).unwrap();
                    let exported: Vec<Reflection> = text
                        .lines()
                        .map(|l| serde_json::from_str(l).unwrap())
                        .collect();
                    check_against(trial, "export", &exported, &pristine);
                }
            }
        }

        // Writing on top: refused once damage is known, never a panic.
        let args = ["reflect", "Written after the damage."];
        no_panic(trial, &args, &mirror(&trial_dir, &args));

        let args = ["doctor", "--json"];
        no_panic(trial, &args, &mirror(&trial_dir, &args));

        // Salvage: a new store with every record whose bytes survived.
        std::fs::write(trial_dir.join("mirror.redb"), &damaged).unwrap();
        let _ = std::fs::remove_file(trial_dir.join("mirror.redb.damaged"));
        let saved = trial_dir.join("saved.redb");
        let args = ["doctor", "--json", "--salvage", saved.to_str().unwrap()];
        let out = mirror(&trial_dir, &args);
        no_panic(trial, &args, &out);
        assert!(
            out.status.success(),
            "trial {trial}: salvage failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        let store = Store::open_read_only(&saved).unwrap();
        let got = store.snapshot().unwrap().reflections;
        check_against(trial, "salvage", &got, &pristine);
        let got: HashSet<Id> = got.iter().map(|r| r.id).collect();
        let intact: Vec<Id> = reflections
            .iter()
            .map(|r| r.id)
            .filter(|id| {
                spots[id]
                    .iter()
                    .any(|(start, end)| flipped.iter().all(|f| *f + 96 < *start || *f > end + 64))
            })
            .collect();
        let missing: Vec<&Id> = intact.iter().filter(|id| !got.contains(id)).collect();
        assert!(
            missing.is_empty(),
            "trial {trial} (seed {seed}, bytes {flipped:?}): salvage lost {} intact reflection(s), e.g. {:?}; report {report}",
            missing.len(),
            missing.first()
        );
        if damaged != file {
            totals.0 += 1;
        }
        totals.1 += intact.len();
        totals.2 += got.len();
        // The damaged file itself was never written by the salvage.
        assert_eq!(
            std::fs::read(trial_dir.join("mirror.redb")).unwrap(),
            damaged
        );
        let _ = std::fs::remove_dir_all(&trial_dir);
    }
    println!(
        "{} damaged files; {} intact reflections, {} recovered",
        totals.0, totals.1, totals.2
    );
}

/// The identity record is a few dozen bytes on one page; when they are
/// damaged, salvage rebuilds it from the identity's key file instead of
/// dropping every reflection that points at it (a random damage run lost
/// 240 intact reflections that way).
#[test]
fn salvage_rebuilds_an_unreadable_identity_from_its_key_file() {
    let dir = tempfile::tempdir().unwrap();
    let home_dir = dir.path().join("home");
    let home = Home::at(&home_dir);
    const NAME: &str = "identity-needle-5e1f";
    let ids: Vec<Id> = {
        let store = home.open_store().unwrap();
        let identity = home.init_with(&store, NAME).unwrap().identity;
        (0..20)
            .map(|i| {
                let r = Reflection {
                    id: Id::new(),
                    identity_id: identity.id,
                    content: format!("Entry {i}: the kettle and the long walk."),
                    content_type: ContentType::PlainText,
                    visibility: Visibility::LocalOnly,
                    source: Source::Cli,
                    created_at: Timestamp::from_micros(1_767_225_600_000_000 + i * 1_000_000)
                        .unwrap(),
                    metadata: Metadata::default(),
                };
                store.insert_reflection(&r, None).unwrap();
                r.id
            })
            .collect()
    };
    let db = home_dir.join("mirror.redb");
    let mut file = std::fs::read(&db).unwrap();
    let at = file
        .windows(NAME.len())
        .position(|w| w == NAME.as_bytes())
        .expect("the identity's name is in the file");
    file[at + 3] ^= 0x5a;
    std::fs::write(&db, &file).unwrap();

    let saved = dir.path().join("saved.redb");
    let args = ["doctor", "--json", "--salvage", saved.to_str().unwrap()];
    let out = mirror(&home_dir, &args);
    no_panic(0, &args, &out);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let store = Store::open_read_only(&saved).unwrap();
    let snapshot = store.snapshot().unwrap();
    let got: HashSet<Id> = snapshot.reflections.iter().map(|r| r.id).collect();
    assert!(ids.iter().all(|id| got.contains(id)), "{report}");
    assert_eq!(snapshot.identities.len(), 1, "{report}");
    assert_eq!(snapshot.identities[0].name, "restored");
    assert!(
        report.to_string().contains("rebuilt from its key file"),
        "{report}"
    );
}
