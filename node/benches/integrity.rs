//! What noticing damage costs at the scale people reach: 100,000
//! reflections (`MIRROR_BENCH_BULK` lowers it for a quick look).
//!
//! Run with `cargo bench -p mirror-node --bench integrity`; it prints a
//! Markdown table for BENCHMARKS.md. Each measurement runs three times,
//! interleaved with its baseline in the same process on the same file:
//!
//! * the full record check (`Store::verify`: every value's checksum, keys,
//!   counts, the time index) against reading every record without checks
//!   (`Store::snapshot`);
//! * redb's page-checksum check on a copy (`integrity::page_check`, what
//!   `mirror doctor` adds) against copying the file alone;
//! * the daily backup (check + copy + compaction) against the plain copy;
//! * salvage's raw scan of the file for intact values (only used on a
//!   damaged file).

use std::time::{Duration, Instant};

use mirror_node::home::Home;
use mirror_node::model::*;
use mirror_node::store::{Batch, backup, integrity};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Journal-like text from a fixed vocabulary (splitmix64 draws).
fn text(seed: &mut u64) -> String {
    const WORDS: [&str; 24] = [
        "i", "the", "and", "to", "feel", "today", "work", "mother", "walk", "tired", "should",
        "always", "never", "maybe", "window", "kettle", "rain", "call", "friend", "worry", "sleep",
        "quiet", "report", "garden",
    ];
    let mut next = || {
        *seed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = *seed;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let n = 20 + next() % 100;
    (0..n)
        .map(|_| WORDS[(next() % WORDS.len() as u64) as usize])
        .collect::<Vec<_>>()
        .join(" ")
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    let bulk = env_usize("MIRROR_BENCH_BULK", 100_000);
    let dir = tempfile::tempdir().unwrap();
    let home = Home::at(dir.path().join("home"));
    let store = home.open_store().unwrap();
    let identity = home.init_with(&store, "bench").unwrap().identity;
    let mut seed = 7u64;
    let mut batch = Batch {
        identities: vec![identity.clone()],
        ..Default::default()
    };
    for i in 0..bulk {
        batch.reflections.push(Reflection {
            id: Id::new(),
            identity_id: identity.id,
            content: text(&mut seed),
            content_type: ContentType::PlainText,
            visibility: Visibility::LocalOnly,
            source: Source::Cli,
            created_at: Timestamp::from_micros(1_700_000_000_000_000 + i as i64 * 1_000_000)
                .unwrap(),
            metadata: Metadata::default(),
        });
    }
    store.import(&batch).unwrap();
    let db = home.db_path();
    let size = std::fs::metadata(&db).unwrap().len();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "### Integrity at {bulk} reflections ({:.1} MB database), median of 3; load average at start: {}\n",
        size as f64 / 1e6,
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );

    let (mut read, mut verify, mut copy, mut pages, mut daily, mut scan) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    for round in 0..3 {
        let t = Instant::now();
        let all = store.snapshot().unwrap();
        read.push(t.elapsed());
        assert_eq!(all.reflections.len(), bulk);

        let t = Instant::now();
        let report = store.verify();
        verify.push(t.elapsed());
        assert!(report.ok(), "{:?}", report.problems.first());

        let target = dir.path().join(format!("copy-{round}.redb"));
        let t = Instant::now();
        std::fs::copy(&db, &target).unwrap();
        std::fs::File::open(&target).unwrap().sync_all().unwrap();
        copy.push(t.elapsed());

        let t = Instant::now();
        let checked = integrity::page_check(&db).unwrap();
        pages.push(t.elapsed());
        // The bench holds the store open for writing, so the copy looks
        // like a file left by a crash: redb recovers it (a full check of
        // its own) before the check proper.
        assert_ne!(checked, integrity::PageCheck::Damaged);

        let t = Instant::now();
        let made = backup::write_copy(&db, "bench", 1).unwrap();
        let checked = store.verify();
        daily.push(t.elapsed());
        assert!(checked.ok() && made.exists());

        let bytes = std::fs::read(&db).unwrap();
        let t = Instant::now();
        let found = integrity::scan_file(&bytes);
        scan.push(t.elapsed());
        assert!(found.reflections.len() >= bulk);
    }
    let backup_size = backup::list(&db).last().map_or(0, |b| b.bytes);
    println!("| operation | median | baseline in the same run | baseline |");
    println!("|---|---|---|---|");
    println!(
        "| full record check (`Store::verify`) | {} | read every record, no checks (`snapshot`) | {} |",
        ms(median(verify)),
        ms(median(read.clone()))
    );
    println!(
        "| redb page checksums on a copy (`mirror doctor`) | {} | copy the file + fsync | {} |",
        ms(median(pages)),
        ms(median(copy.clone()))
    );
    println!(
        "| daily backup: check + copy + compact ({:.1} MB kept) | {} | copy the file + fsync | {} |",
        backup_size as f64 / 1e6,
        ms(median(daily)),
        ms(median(copy))
    );
    println!(
        "| salvage's raw scan of the file | {} | read every record (`snapshot`) | {} |",
        ms(median(scan)),
        ms(median(read))
    );
}
