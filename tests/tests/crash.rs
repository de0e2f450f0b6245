//! Durability: every write the store acknowledged survives `kill -9`.
//!
//! A child process writes reflections as fast as it can, printing each id
//! after `insert_reflection` returns. We SIGKILL it at a random moment, then
//! open the store: it must open cleanly, every record must decode, and every
//! printed id must be there. Twenty-four rounds on the same database.

use std::collections::HashSet;
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mirror_node::home::Home;
use mirror_node::model::{Id, Reflection};

/// xorshift64*: enough randomness for kill timing, reproducible from the seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

#[test]
fn acknowledged_writes_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let home_dir = dir.path().join("home");
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    println!("kill-timing seed: {seed}");
    let mut rng = Rng(seed);
    let mut acknowledged: HashSet<Id> = HashSet::new();

    for round in 0..24 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_crash-writer"))
            .arg(&home_dir)
            .arg("200000")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start crash-writer");
        let mut stdout = child.stdout.take().unwrap();
        // Drain stdout concurrently so the pipe never blocks the writer.
        let reader = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stdout.read_to_string(&mut text);
            text
        });
        let delay = 20 + rng.next() % 380;
        std::thread::sleep(Duration::from_millis(delay));
        child.kill().expect("SIGKILL the writer"); // SIGKILL on Unix
        child.wait().unwrap();
        let text = reader.join().unwrap();

        // Only complete lines were acknowledged; a torn last line was not.
        let complete = match text.rfind('\n') {
            Some(end) => &text[..end],
            None => "",
        };
        let this_round: Vec<Id> = complete
            .lines()
            .map(|l| l.parse().expect("an id per line"))
            .collect();
        acknowledged.extend(this_round.iter().copied());
        println!(
            "round {round}: killed after {delay} ms, {} acknowledged",
            this_round.len()
        );

        let store = Home::at(&home_dir)
            .open_store()
            .unwrap_or_else(|e| panic!("round {round}: store did not open after SIGKILL: {e}"));
        let snapshot = store.snapshot().expect("every record decodes");
        let present: HashSet<Id> = snapshot.reflections.iter().map(|r| r.id).collect();
        let lost: Vec<&Id> = acknowledged
            .iter()
            .filter(|id| !present.contains(id))
            .collect();
        assert!(
            lost.is_empty(),
            "round {round} (killed after {delay} ms): {} acknowledged writes lost, e.g. {:?}",
            lost.len(),
            lost.first()
        );
        for id in &this_round {
            assert!(store.get::<Reflection>(*id).unwrap().is_some());
        }
    }
    assert!(
        acknowledged.len() > 24,
        "the writer should have acknowledged writes across rounds, got {}",
        acknowledged.len()
    );
}
