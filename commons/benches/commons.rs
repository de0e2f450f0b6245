//! Commons benchmarks: gate throughput, catch-up by sync against record-by-
//! record delivery, and document load time and memory as records grow.
//!
//! `cargo bench -p mirror-commons --bench commons` prints Markdown tables for
//! BENCHMARKS.md. Each table has its baseline beside it, measured in the same
//! run.

use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use mirror_commons::gate::{Gate, RejectionCounts};
use mirror_commons::record::{Kind, Record, RecordId};
use mirror_commons::service::{Commons, GossipVerdict, SyncRequest};
use serde_json::{Map, Value, json};

const COMMONS: &str = "5e1f0000000000000000000000000000000000000000000000000000000000aa";
const NOW: i64 = 1_795_478_400_000;

fn records(n: usize) -> Vec<Record> {
    (0..n)
        .map(|i| {
            let mut p = Map::new();
            let mut member = [0u8; 32];
            member[..8].copy_from_slice(&(i as u64).to_le_bytes());
            p.insert("member".into(), Value::String(hex::encode(member)));
            p.insert("note".into(), json!("admitted after the spring meeting"));
            let key = SigningKey::from_bytes(&[(i % 251) as u8 + 1; 32]);
            Record::sign(Kind::MembershipAttestation, NOW - 1000, p, &key).unwrap_or_else(|e| {
                eprintln!("cannot sign: {e}");
                std::process::exit(1)
            })
        })
        .collect()
}

struct NoneAccepted;
impl mirror_commons::gate::Accepted for NoneAccepted {
    fn contains(&self, _: &RecordId) -> bool {
        false
    }
    fn records_of(&self, _: Kind) -> Vec<Record> {
        Vec::new()
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// Open a saved commons in a fresh process and report its time and peak
/// memory, so nothing from building it is counted.
fn load_only(path: &str) {
    let t = Instant::now();
    let c = Commons::open(std::path::Path::new(path), COMMONS, Gate::default());
    let load = t.elapsed();
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let mib = |field: &str| {
        status
            .lines()
            .find(|l| l.starts_with(field))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    println!(
        "{} {} {:.1} {:.1}",
        c.map_or(0, |c| c.accepted_count()),
        load.as_secs_f64() * 1000.0,
        mib("VmHWM:"),
        mib("VmRSS:")
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--load-only") {
        if let Some(path) = args.get(i + 1) {
            load_only(path);
        }
        return;
    }
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

    // Gate throughput, one core.
    let batch = records(20_000);
    let gate = Gate::default();
    let bytes: Vec<&[u8]> = batch.iter().map(|r| r.bytes()).collect();
    let t = Instant::now();
    let mut ok = 0;
    for b in &bytes {
        ok += usize::from(gate.check(b, None, NOW, &NoneAccepted).is_ok());
    }
    let single = t.elapsed();
    let items: Vec<(&[u8], Option<RecordId>)> = bytes.iter().map(|b| (*b, None)).collect();
    let t = Instant::now();
    for chunk in items.chunks(256) {
        ok += gate
            .check_batch(chunk, NOW, &NoneAccepted)
            .iter()
            .filter(|r| r.is_ok())
            .count();
    }
    let batched = t.elapsed();
    assert_eq!(ok, 40_000);
    let rate = |d: Duration| format!("{:.0}", 20_000.0 / d.as_secs_f64());
    println!("\n### Gate throughput (20,000 signed records, one thread)\n");
    println!("| path | records/s |");
    println!("|---|---|");
    println!(
        "| baseline: one signature verification per record | {} |",
        rate(single)
    );
    println!(
        "| batched ed25519 verification (256 per batch) | {} |",
        rate(batched)
    );

    // Catch-up of 10,000 records: sync against one message per record.
    let n = 10_000;
    let set = records(n);
    let mut origin = Commons::in_memory(COMMONS, Gate::default());
    let mut changes = Vec::new();
    for r in &set {
        if let Ok((_, c)) = origin.publish(r.bytes(), NOW) {
            changes.push(c);
        }
    }
    let t = Instant::now();
    let mut one_by_one = Commons::in_memory(COMMONS, Gate::default());
    let mut bytes_one = 0usize;
    for c in &changes {
        bytes_one += c.len();
        if !matches!(
            one_by_one.on_gossip("origin", c, NOW),
            GossipVerdict::Accept(_)
        ) {
            eprintln!("a record was not accepted");
        }
    }
    let one_time = t.elapsed();
    let t = Instant::now();
    let mut fresh = Commons::in_memory(COMMONS, Gate::default());
    let mut pending = vec![fresh.sync_start("origin")];
    let (mut bytes_sync, mut rounds) = (0usize, 0);
    while let Some(req) = pending.pop() {
        rounds += 1;
        if let SyncRequest::Sync { message, .. } = &req {
            bytes_sync += message.len();
        }
        let Ok(resp) = origin.on_sync_request("fresh", req, NOW) else {
            break;
        };
        if let mirror_commons::service::SyncResponse::Sync {
            message: Some(m), ..
        } = &resp
        {
            bytes_sync += m.len();
        }
        match fresh.on_sync_response("origin", resp, NOW) {
            Ok(next) => pending.extend(next),
            Err(e) => {
                eprintln!("sync refused: {e}");
                break;
            }
        }
        if rounds > 1000 {
            break;
        }
    }
    let sync_time = t.elapsed();
    assert_eq!(fresh.accepted_count(), n);
    println!("\n### Catching up 10,000 records (in memory, no network)\n");
    println!("| path | time | bytes moved | messages |");
    println!("|---|---|---|---|");
    println!(
        "| baseline: each record's change delivered alone | {} | {} | {n} |",
        ms(one_time),
        bytes_one
    );
    println!(
        "| Automerge sync, checked whole, batch-verified | {} | {} | {rounds} round trips |",
        ms(sync_time),
        bytes_sync
    );

    // Document load at 10k and 100k records.
    println!("\n### Loading the commons from disk\n");
    println!(
        "| records | store size | load time | peak RSS of the loading process | RSS once loaded |"
    );
    println!("|---|---|---|---|---|");
    for n in [10_000usize, 100_000] {
        let dir = match tempfile::tempdir() {
            Ok(d) => d,
            Err(_) => return,
        };
        let path = dir.path().join("commons.redb");
        {
            let mut c = match Commons::open(&path, COMMONS, Gate::default()) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("{e}");
                    return;
                }
            };
            // Publish in one go through sync from an in-memory origin: one
            // transaction per message, as a node catching up would.
            let mut origin = Commons::in_memory(COMMONS, Gate::default());
            for r in records(n) {
                let _ = origin.publish(r.bytes(), NOW);
            }
            let mut pending = vec![c.sync_start("o")];
            let mut guard = 0;
            while let Some(req) = pending.pop() {
                guard += 1;
                let Ok(resp) = origin.on_sync_request("c", req, NOW) else {
                    break;
                };
                match c.on_sync_response("o", resp, NOW) {
                    Ok(next) => pending.extend(next),
                    Err(_) => break,
                }
                if guard > 10_000 {
                    break;
                }
            }
            assert_eq!(c.accepted_count(), n);
        }
        let size = std::fs::metadata(&path).map_or(0, |m| m.len());
        let out = std::env::current_exe().and_then(|exe| {
            std::process::Command::new(exe)
                .arg("--load-only")
                .arg(&path)
                .output()
        });
        let text = out
            .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
            .unwrap_or_default();
        let fields: Vec<&str> = text.split_whitespace().collect();
        if fields.len() == 4 {
            assert_eq!(fields[0], n.to_string());
            println!(
                "| {n} | {:.1} MB | {} ms | {} MiB | {} MiB |",
                size as f64 / 1e6,
                fields[1].split('.').next().unwrap_or(""),
                fields[2],
                fields[3]
            );
        }
    }

    let _ = RejectionCounts::default();
}
