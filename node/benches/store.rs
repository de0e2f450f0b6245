//! Store benchmarks, side by side with SQLite doing the same work.
//!
//! Run with `cargo bench -p mirror-node --bench store`; it prints Markdown
//! tables for BENCHMARKS.md. Sizes can be lowered for a quick look with
//! `MIRROR_BENCH_WRITES` and `MIRROR_BENCH_BULK`.
//!
//! The SQLite baseline uses the schema a careful SQLite user would write for
//! the same model: a reflections table with the same indexes (time,
//! identity, visibility) and a WITHOUT ROWID posting table for full-text
//! search fed by the same tokenizer, in WAL mode with synchronous=FULL so
//! every commit is as durable as redb's.

use std::time::{Duration, Instant};

use mirror_node::bundle::{self, ExportOptions, ImportLimits};
use mirror_node::home::Home;
use mirror_node::model::*;
use mirror_node::store::{Batch, ReflectionQuery};
use rusqlite::{Connection, params};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Deterministic pseudo-random numbers (splitmix64).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// Journal-like text: a Zipf-ish draw from a 5,000-word vocabulary built
/// from syllables, 20 to 120 words a reflection.
struct TextGen {
    words: Vec<String>,
    rng: Rng,
}

impl TextGen {
    fn new() -> TextGen {
        let syllables = [
            "ka", "lo", "mi", "ren", "sa", "tu", "vel", "no", "ri", "sha", "ta", "mo", "qui",
            "der", "lan", "po", "se", "ul", "ve", "an",
        ];
        let common = [
            "i", "the", "and", "to", "a", "my", "of", "it", "that", "me", "was", "in", "have",
            "but", "feel", "not", "so", "with", "about", "today",
        ];
        let mut words: Vec<String> = common.iter().map(|w| w.to_string()).collect();
        let mut rng = Rng(7);
        while words.len() < 5000 {
            let n = 1 + (rng.next() % 3) as usize;
            let w: String = (0..n)
                .map(|_| syllables[(rng.next() % syllables.len() as u64) as usize])
                .collect();
            words.push(w);
        }
        TextGen {
            words,
            rng: Rng(42),
        }
    }

    fn word(&mut self) -> &str {
        // Zipf-like: squaring a uniform draw favours low ranks.
        let u = (self.rng.next() % 1_000_000) as f64 / 1_000_000.0;
        let rank = ((u * u * u) * self.words.len() as f64) as usize;
        &self.words[rank.min(self.words.len() - 1)]
    }

    fn reflection(&mut self) -> String {
        let n = 20 + (self.rng.next() % 100) as usize;
        let mut text = String::with_capacity(n * 6);
        for i in 0..n {
            if i > 0 {
                text.push(' ');
            }
            let w = self.word().to_string();
            text.push_str(&w);
        }
        text.push('.');
        text
    }
}

fn reflection(identity: Id, content: String, at: i64) -> Reflection {
    Reflection {
        id: Id::new(),
        identity_id: identity,
        content,
        content_type: ContentType::PlainText,
        visibility: Visibility::LocalOnly,
        source: Source::Cli,
        created_at: Timestamp::from_micros(at).unwrap(),
        metadata: Metadata::default(),
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

fn sqlite_open(path: &std::path::Path) -> Connection {
    let conn = Connection::open(path).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode=WAL;
         PRAGMA synchronous=FULL;
         CREATE TABLE reflections (
             rowid INTEGER PRIMARY KEY, id BLOB NOT NULL UNIQUE, identity_id BLOB NOT NULL,
             content TEXT NOT NULL, content_type INTEGER NOT NULL, visibility INTEGER NOT NULL,
             source INTEGER NOT NULL, created_at INTEGER NOT NULL, metadata TEXT NOT NULL);
         CREATE INDEX reflections_time ON reflections(created_at, id);
         CREATE INDEX reflections_identity ON reflections(identity_id, id);
         CREATE INDEX reflections_visibility ON reflections(visibility, id);
         CREATE VIRTUAL TABLE reflections_fts USING fts5(
             content, content='reflections', content_rowid='rowid');",
    )
    .unwrap();
    conn
}

fn sqlite_insert(tx: &rusqlite::Transaction, r: &Reflection) {
    tx.prepare_cached(
        "INSERT INTO reflections (id, identity_id, content, content_type, visibility, source, created_at, metadata)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )
    .unwrap()
    .execute(params![
        &r.id.as_u128().to_be_bytes()[..],
        &r.identity_id.as_u128().to_be_bytes()[..],
        r.content,
        r.content_type.to_byte(),
        r.visibility.to_byte(),
        r.source.to_byte(),
        r.created_at.as_micros(),
        serde_json::to_string(&r.metadata).unwrap(),
    ])
    .unwrap();
    let rowid = tx.last_insert_rowid();
    tx.prepare_cached("INSERT INTO reflections_fts (rowid, content) VALUES (?1, ?2)")
        .unwrap()
        .execute(params![rowid, r.content])
        .unwrap();
}

/// Newest `limit` reflections containing every word, as the redb search does.
fn sqlite_search(conn: &Connection, words: &str, limit: usize) -> Vec<Vec<u8>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT r.id FROM reflections_fts f JOIN reflections r ON r.rowid = f.rowid
             WHERE reflections_fts MATCH ?1 ORDER BY r.rowid DESC LIMIT ?2",
        )
        .unwrap();
    stmt.query_map(params![words, limit as i64], |row| row.get::<_, Vec<u8>>(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect()
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| s.lines().next().map(|l| l.to_string()))
        .unwrap_or_default();
    format!(
        "{cpu}, {cores} cores, {}",
        mem.replace("MemTotal:", "RAM")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    )
}

fn main() {
    let writes = env_usize("MIRROR_BENCH_WRITES", 1000);
    let bulk = env_usize("MIRROR_BENCH_BULK", 100_000);
    let dir = tempfile::tempdir().unwrap();
    let mut text = TextGen::new();
    println!("Machine: {}", machine());
    println!("redb 4 vs SQLite {} (bundled)\n", rusqlite::version());

    // 1. Durable single writes: three rounds, fresh databases each round,
    // the two stores alternating write by write so both see the same disk.
    let mut redb_times = Vec::new();
    let mut sqlite_times = Vec::new();
    for round in 0..3 {
        let home = Home::at(dir.path().join(format!("single-redb-{round}")));
        let store = home.open_store().unwrap();
        let identity = home.init_with(&store, "bench").unwrap().identity;
        let mut conn = sqlite_open(&dir.path().join(format!("single-{round}.sqlite")));
        for i in 0..writes {
            let r = reflection(
                identity.id,
                text.reflection(),
                1_767_225_600_000_000 + i as i64,
            );
            let t = Instant::now();
            store.insert_reflection(&r, None).unwrap();
            redb_times.push(t.elapsed());
            let t = Instant::now();
            let tx = conn.transaction().unwrap();
            sqlite_insert(&tx, &r);
            tx.commit().unwrap();
            sqlite_times.push(t.elapsed());
        }
    }
    redb_times.sort();
    sqlite_times.sort();
    println!("### Durable single reflection writes (3 rounds × {writes}, fsync on every commit)\n");
    println!("| store | median | p99 |");
    println!("|---|---|---|");
    println!(
        "| redb (mirror store) | {} | {} |",
        ms(percentile(&redb_times, 0.5)),
        ms(percentile(&redb_times, 0.99))
    );
    println!(
        "| SQLite WAL, synchronous=FULL, FTS5 | {} | {} |\n",
        ms(percentile(&sqlite_times, 0.5)),
        ms(percentile(&sqlite_times, 0.99))
    );

    // 2. Bulk import of `bulk` reflections, one transaction each side.
    let mut bulk_home = Home::at(dir.path().join("bulk-redb"));
    let mut bulk_store = bulk_home.open_store().unwrap();
    let mut conn = Connection::open_in_memory().unwrap();
    let identity = bulk_home.init_with(&bulk_store, "bench").unwrap().identity;
    let mut batch = Batch {
        identities: vec![identity.clone()],
        ..Default::default()
    };
    for i in 0..bulk {
        batch.reflections.push(reflection(
            identity.id,
            text.reflection(),
            1_700_000_000_000_000 + i as i64 * 1_000_000,
        ));
    }
    let bytes: usize = batch.reflections.iter().map(|r| r.content.len()).sum();
    let mut redb_bulk = Vec::new();
    let mut sqlite_bulk = Vec::new();
    for round in 0..3 {
        // The last round's redb store is kept for the search benchmarks.
        if round > 0 {
            let home = Home::at(dir.path().join(format!("bulk-redb-{round}")));
            bulk_store = home.open_store().unwrap();
            home.init_with(&bulk_store, "bench").unwrap();
            bulk_home = home;
        }
        let mut batch = batch.clone();
        batch.identities = bulk_store.list::<Identity>(1).unwrap();
        for r in batch.reflections.iter_mut() {
            r.identity_id = batch.identities[0].id;
        }
        let t = Instant::now();
        bulk_store.import(&batch).unwrap();
        redb_bulk.push(t.elapsed());
        let mut sqlite = sqlite_open(&dir.path().join(format!("bulk-{round}.sqlite")));
        let t = Instant::now();
        let tx = sqlite.transaction().unwrap();
        for r in &batch.reflections {
            sqlite_insert(&tx, r);
        }
        tx.commit().unwrap();
        sqlite_bulk.push(t.elapsed());
        conn = sqlite;
    }
    let identity = bulk_store.list::<Identity>(1).unwrap().remove(0);
    redb_bulk.sort();
    sqlite_bulk.sort();
    println!(
        "### Bulk import of {bulk} reflections ({:.1} MB of text, time/identity/visibility and full-text indexes), one transaction, 3 rounds\n",
        bytes as f64 / 1e6
    );
    println!("| store | median | best | reflections/s (median) |");
    println!("|---|---|---|---|");
    println!(
        "| redb (mirror store, validated merge) | {} | {} | {:.0} |",
        secs(redb_bulk[1]),
        secs(redb_bulk[0]),
        bulk as f64 / redb_bulk[1].as_secs_f64()
    );
    println!(
        "| SQLite WAL, synchronous=FULL, FTS5 | {} | {} | {:.0} |\n",
        secs(sqlite_bulk[1]),
        secs(sqlite_bulk[0]),
        bulk as f64 / sqlite_bulk[1].as_secs_f64()
    );

    // 3. Search at that size, both sides.
    let queries = [
        ("feel", "feel"),
        ("kalo", "kalo"),
        ("today feel", "today feel"),
        ("sami", "sami"),
        ("ka*", "ka*"),
        ("the and my", "the and my"),
    ];
    println!("### Full-text search at {bulk} reflections (newest 20 matches, 200 runs each)\n");
    println!("| query | redb median | redb p99 | SQLite FTS5 median | SQLite FTS5 p99 |");
    println!("|---|---|---|---|---|");
    for (q, fts5) in queries {
        let mut times = Vec::new();
        let mut sq = Vec::new();
        for _ in 0..200 {
            let t = Instant::now();
            std::hint::black_box(bulk_store.search(q, &ReflectionQuery::newest(20)).unwrap());
            times.push(t.elapsed());
            let t = Instant::now();
            std::hint::black_box(sqlite_search(&conn, fts5, 20));
            sq.push(t.elapsed());
        }
        times.sort();
        sq.sort();
        println!(
            "| `{q}` | {} | {} | {} | {} |",
            ms(percentile(&times, 0.5)),
            ms(percentile(&times, 0.99)),
            ms(percentile(&sq, 0.5)),
            ms(percentile(&sq, 0.99))
        );
    }
    println!();

    // Write one, then search: the search pays for indexing what is pending.
    let mut redb_rt = Vec::new();
    let mut sqlite_rt = Vec::new();
    for i in 0..50 {
        let r = reflection(
            identity.id,
            format!("{} zephyrword{i}", text.reflection()),
            1_800_000_000_000_000 + i,
        );
        bulk_store.insert_reflection(&r, None).unwrap();
        let t = Instant::now();
        assert_eq!(
            bulk_store
                .search(&format!("zephyrword{i}"), &ReflectionQuery::newest(20))
                .unwrap()
                .len(),
            1
        );
        redb_rt.push(t.elapsed());
        let tx = conn.transaction().unwrap();
        sqlite_insert(&tx, &r);
        tx.commit().unwrap();
        let t = Instant::now();
        assert_eq!(sqlite_search(&conn, &format!("zephyrword{i}"), 20).len(), 1);
        sqlite_rt.push(t.elapsed());
    }
    redb_rt.sort();
    sqlite_rt.sort();
    println!(
        "### Search right after a write (50 rounds; redb indexes the pending reflection first)\n"
    );
    println!("| store | median | p99 |");
    println!("|---|---|---|");
    println!(
        "| redb | {} | {} |",
        ms(percentile(&redb_rt, 0.5)),
        ms(percentile(&redb_rt, 0.99))
    );
    println!(
        "| SQLite FTS5 | {} | {} |\n",
        ms(percentile(&sqlite_rt, 0.5)),
        ms(percentile(&sqlite_rt, 0.99))
    );
    drop(conn);

    // 4. The whole bundle path at that size.
    let out = dir.path().join("bulk.tar.gz");
    let t = Instant::now();
    let summary = bundle::export(&bulk_store, &bulk_home, &out, &ExportOptions::default()).unwrap();
    let export_time = t.elapsed();
    drop(bulk_store);
    let target = Home::at(dir.path().join("bulk-import"));
    let t = Instant::now();
    let verified = bundle::read_bundle(&out, &ImportLimits::default()).unwrap();
    let verify_time = t.elapsed();
    let target_store = target.open_store().unwrap();
    let report = bundle::apply(&target_store, &target, &verified).unwrap();
    let import_time = t.elapsed();
    assert_eq!(report.report.added() as usize, bulk + 51);
    println!(
        "### Bundles at {bulk} reflections ({:.1} MB bundle, {} files)\n",
        summary.bytes as f64 / 1e6,
        summary.files
    );
    println!("| step | time | goal |");
    println!("|---|---|---|");
    println!(
        "| export (snapshot, JSON Lines, Markdown per reflection, gzip, fsync) | {} | < 3 s |",
        secs(export_time)
    );
    println!(
        "| import: verify (unpack, blake3 every file, parse and validate every record) | {} | |",
        secs(verify_time)
    );
    println!(
        "| import: verify + merge into an empty store | {} | < 5 s |",
        secs(import_time)
    );
}
