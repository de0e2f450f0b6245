//! The everyday commands at 1k, 10k and 100k entries, side by side in one
//! run: does a command's cost grow with the journal when its output does not?
//!
//! Run with `cargo bench -p mirror-node --bench journal` (release). Each size
//! gets its own home holding N reflections written over the last ten years
//! (the way a person's journal grows: a mirrorback and an engine run beside
//! each, ids made at the time of writing), imported as one bundle-like
//! batch. Then the real `mirror` binary runs each command as a person types
//! it, a few times, and the median wall time (process start included) is
//! printed as a Markdown table for BENCHMARKS.md. `MIRROR_BENCH_SIZES`
//! (comma separated) and `MIRROR_BENCH_RUNS` change the sizes and repeats;
//! `MIRROR_BENCH_KEEP=DIR` leaves the homes in DIR;
//! `MIRROR_BENCH_BASELINE=PATH` also runs every command with another
//! `mirror` binary (an older build), in a column beside each size's.
//!
//! A writing command leaves the daily backup to a background process: the
//! bench waits for it (the backup file) before measuring on, and times the
//! backup itself in process.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mirror_node::home::Home;
use mirror_node::store::Store;

mod corpus;

use corpus::{Rng, journal};

fn mirror(bin: &Path, home: &Path, args: &[&str]) -> Duration {
    let t = Instant::now();
    let out = Command::new(bin)
        .args(args)
        .env("MIRROR_HOME", home)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let took = t.elapsed();
    assert!(
        out.status.success(),
        "mirror {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn main() {
    let sizes: Vec<usize> = std::env::var("MIRROR_BENCH_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1_000, 10_000, 100_000]);
    let runs: usize = std::env::var("MIRROR_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    // MIRROR_BENCH_KEEP=DIR keeps the homes there (for profiling one
    // command against a large journal afterwards).
    let kept = std::env::var_os("MIRROR_BENCH_KEEP").map(std::path::PathBuf::from);
    let temp = tempfile::tempdir().unwrap();
    let dir_path = kept.clone().unwrap_or_else(|| temp.path().to_path_buf());
    let mut rng = Rng(13);
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    println!(
        "Machine: {cpu}, {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!("load average at start: {}", load());
    let mut rows: Vec<(&str, Vec<String>)> = vec![
        ("open the store (read-only, in process)", vec![]),
        ("open the store (writable, in process)", vec![]),
        ("`reflect --engine manual` (first of the day)", vec![]),
        ("`reflect --engine manual`", vec![]),
        ("`list`", vec![]),
        ("`show ID`", vec![]),
        ("`status`", vec![]),
        ("`search river heron`", vec![]),
        (
            "daily backup (in process, once; in the background since #13)",
            vec![],
        ),
    ];
    let own = std::path::PathBuf::from(env!("CARGO_BIN_EXE_mirror"));
    let mut bins = Vec::new();
    if let Some(base) = std::env::var_os("MIRROR_BENCH_BASELINE") {
        bins.push((" (before)", std::path::PathBuf::from(base)));
    }
    bins.push(("", own));
    let mut header: Vec<String> = Vec::new();
    for &n in &sizes {
        let home_dir = dir_path.join(format!("journal-{n}"));
        let home = Home::at(&home_dir);
        let id = {
            let store = home.open_store().unwrap();
            let identity = home.init_with(&store, "bench").unwrap().identity;
            let batch = journal(&identity, n, &mut rng);
            let t = Instant::now();
            store.import(&batch).unwrap();
            store.index_pending().unwrap();
            eprintln!("{n}: imported in {}", ms(t.elapsed()));
            batch.reflections[n / 2].id.to_string()
        };
        for (label, bin) in &bins {
            // No daily backup yet: the next writing command is the first
            // of the day.
            let _ = std::fs::remove_dir_all(home_dir.join("backups"));
            let mut col = Vec::new();
            let db = home.db_path();
            col.push(ms(median(
                (0..runs)
                    .map(|_| {
                        let t = Instant::now();
                        drop(Store::open_read_only(&db).unwrap());
                        t.elapsed()
                    })
                    .collect(),
            )));
            col.push(ms(median(
                (0..runs)
                    .map(|_| {
                        let t = Instant::now();
                        drop(Store::open(&db).unwrap());
                        t.elapsed()
                    })
                    .collect(),
            )));
            let reflect = [
                "reflect",
                "--engine",
                "manual",
                "I walked by the river and saw a heron; I keep replaying the call.",
            ];
            col.push(ms(mirror(bin, &home_dir, &reflect)));
            // The backup that command started (in the background since
            // #13): wait for it, so it does not load what is measured next.
            let deadline = Instant::now() + Duration::from_secs(600);
            while mirror_node::store::backup::list(&db)
                .iter()
                .all(|b| b.kind != "daily")
                && Instant::now() < deadline
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            col.push(ms(median(
                (0..runs)
                    .map(|_| mirror(bin, &home_dir, &reflect))
                    .collect(),
            )));
            for args in [
                &["list"][..],
                &["show", &id][..],
                &["status"][..],
                &["search", "river", "heron"][..],
            ] {
                col.push(ms(median(
                    (0..runs).map(|_| mirror(bin, &home_dir, args)).collect(),
                )));
            }
            // The daily backup itself (copy, full check of the copy,
            // compaction), in process, once.
            // (This bench's own code: measured once, in the last column.)
            if bin == &bins.last().unwrap().1 {
                let _ = std::fs::remove_dir_all(home_dir.join("backups"));
                let t = Instant::now();
                home.backup(true).unwrap();
                col.push(ms(t.elapsed()));
            } else {
                col.push("—".into());
            }
            header.push(format!("{n} entries{label}"));
            for (row, value) in rows.iter_mut().zip(col) {
                row.1.push(value);
            }
        }
    }
    println!("load average at end: {}\n", load());
    print!("| median of {runs} |");
    for h in &header {
        print!(" {h} |");
    }
    println!();
    print!("|---|");
    for _ in &header {
        print!("---|");
    }
    println!();
    for (name, values) in rows {
        println!("| {name} | {} |", values.join(" | "));
    }
}
