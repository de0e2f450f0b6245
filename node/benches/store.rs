//! Store benchmarks, side by side with SQLite doing the same work.
//!
//! Run with `cargo bench -p mirror-node --bench store`; it prints Markdown
//! tables for BENCHMARKS.md. Sizes can be lowered for a quick look with
//! `MIRROR_BENCH_WRITES` and `MIRROR_BENCH_BULK`.
//!
//! The SQLite baseline is what a careful SQLite user would build for the
//! same model: a rowid table of reflections with the same indexes (time,
//! identity, visibility) and an external-content FTS5 index, in WAL mode
//! with synchronous=FULL so every commit is as durable as redb's. Every
//! query is written in the form such a user would pick after reading its
//! plan, and the plans are printed with the results (`EXPLAIN QUERY PLAN`),
//! so the comparison can be checked rather than trusted.

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
             content, content='reflections', content_rowid='rowid',
             tokenize='porter unicode61 remove_diacritics 2');",
    )
    .unwrap();
    conn
}

/// One reflection row, without its full-text entry.
fn sqlite_insert_row(tx: &rusqlite::Transaction, r: &Reflection) -> i64 {
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
    tx.last_insert_rowid()
}

/// One reflection and its full-text entry, as an application keeps an
/// external-content FTS5 index in step with its table.
fn sqlite_insert(tx: &rusqlite::Transaction, r: &Reflection) {
    let rowid = sqlite_insert_row(tx, r);
    tx.prepare_cached("INSERT INTO reflections_fts (rowid, content) VALUES (?1, ?2)")
        .unwrap()
        .execute(params![rowid, r.content])
        .unwrap();
}

/// Newest `limit` reflections containing every word, as the redb search
/// answers. This is the form an expert writes: FTS5 walks its own doclists
/// in rowid order, so `ORDER BY rowid DESC LIMIT n` inside the subquery
/// stops after n matches, and the outer query looks up only those rows by
/// rowid. (Joining first and ordering by `r.rowid` makes SQLite materialise
/// and sort every match: see [`SEARCH_JOIN`].)
const SEARCH_FAIR: &str = "SELECT r.id FROM reflections r
     WHERE r.rowid IN (SELECT rowid FROM reflections_fts
                       WHERE reflections_fts MATCH ?1 ORDER BY rowid DESC LIMIT ?2)
     ORDER BY r.rowid DESC";

/// The join form an earlier version of this bench used: correct results,
/// but every match is joined and sorted before the limit applies. Kept only
/// to show, in the same run, how much of the old gap was the query's fault.
const SEARCH_JOIN: &str =
    "SELECT r.id FROM reflections_fts f JOIN reflections r ON r.rowid = f.rowid
     WHERE reflections_fts MATCH ?1 ORDER BY r.rowid DESC LIMIT ?2";

fn sqlite_search(conn: &Connection, sql: &str, words: &str, limit: usize) -> Vec<Vec<u8>> {
    let mut stmt = conn.prepare_cached(sql).unwrap();
    stmt.query_map(params![words, limit as i64], |row| row.get::<_, Vec<u8>>(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect()
}

/// SQLite's plan for a statement, one line per step, as `EXPLAIN QUERY PLAN`
/// prints it.
fn query_plan(conn: &Connection, sql: &str, words: &str) -> String {
    let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
    let rows: Vec<(i64, i64, String)> = stmt
        .query_map(params![words, 20i64], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(3)?))
        })
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    // Indent each step under its parent, as the sqlite3 shell does.
    let mut depth: Vec<(i64, usize)> = Vec::new();
    let mut out = String::new();
    for (id, parent, detail) in rows {
        let level = depth
            .iter()
            .find(|(i, _)| *i == parent)
            .map_or(0, |(_, l)| l + 1);
        depth.push((id, level));
        out.push_str(&format!("{}{detail}\n", "  ".repeat(level)));
    }
    out
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
    let mut sqlite_rebuild = Vec::new();
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

        // SQLite, as an application inserting rows one by one keeps its
        // external-content index in step: each row and its FTS5 entry.
        let mut sqlite = sqlite_open(&dir.path().join(format!("bulk-{round}.sqlite")));
        let t = Instant::now();
        let tx = sqlite.transaction().unwrap();
        for r in &batch.reflections {
            sqlite_insert(&tx, r);
        }
        tx.commit().unwrap();
        sqlite_bulk.push(t.elapsed());

        // SQLite, as an expert bulk-loads: the rows first, then one FTS5
        // 'rebuild' that builds the index from the content table in a pass.
        let mut loaded = sqlite_open(&dir.path().join(format!("bulk-rebuild-{round}.sqlite")));
        let t = Instant::now();
        let tx = loaded.transaction().unwrap();
        for r in &batch.reflections {
            sqlite_insert_row(&tx, r);
        }
        tx.execute_batch("INSERT INTO reflections_fts(reflections_fts) VALUES('rebuild')")
            .unwrap();
        tx.commit().unwrap();
        sqlite_rebuild.push(t.elapsed());
        drop(loaded);
        conn = sqlite;
    }
    let identity = bulk_store.list::<Identity>(1).unwrap().remove(0);
    redb_bulk.sort();
    sqlite_bulk.sort();
    sqlite_rebuild.sort();
    println!(
        "### Bulk import of {bulk} reflections ({:.1} MB of text, time/identity/visibility and full-text indexes), one transaction, 3 rounds\n",
        bytes as f64 / 1e6
    );
    println!("| store | median | best | reflections/s (median) |");
    println!("|---|---|---|---|");
    for (name, times) in [
        ("redb (mirror store, validated merge)", &redb_bulk),
        (
            "SQLite WAL, synchronous=FULL, FTS5 row by row",
            &sqlite_bulk,
        ),
        (
            "SQLite WAL, synchronous=FULL, rows then FTS5 `rebuild`",
            &sqlite_rebuild,
        ),
    ] {
        println!(
            "| {name} | {} | {} | {:.0} |",
            secs(times[1]),
            secs(times[0]),
            bulk as f64 / times[1].as_secs_f64()
        );
    }
    println!();

    // 3. Search at that size, both sides.
    let queries = ["feel", "kalo", "today feel", "sami", "ka*", "the and my"];
    println!("### SQLite query plans\n");
    println!("The search the table below times (the fair form):\n\n```\n{SEARCH_FAIR}\n");
    print!("{}", query_plan(&conn, SEARCH_FAIR, "feel"));
    println!(
        "```\n\nThe join form an earlier version of this bench timed:\n\n```\n{SEARCH_JOIN}\n"
    );
    print!("{}", query_plan(&conn, SEARCH_JOIN, "feel"));
    println!("```\n");
    println!(
        "### Full-text search at {bulk} reflections (newest 20 matches, 200 runs each, all three in turn)\n"
    );
    println!(
        "| query | matches (SQLite) | same ids (of 20) | redb median | redb p99 | SQLite FTS5 median | SQLite FTS5 p99 | SQLite join form median (earlier baseline) |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for q in queries {
        // Both sides answer the same question: the store stems with
        // Snowball and folds accents, so SQLite gets the same from FTS5's
        // porter tokenizer over unicode61 with diacritics removed. The two
        // stemmers differ at the edges (Porter vs Porter2), so the table
        // says how many of the 20 ids both return instead of asserting it;
        // SQLite's two forms must agree exactly.
        let mine: Vec<Vec<u8>> = bulk_store
            .search(q, &ReflectionQuery::newest(20))
            .unwrap()
            .iter()
            .map(|r| r.id.as_u128().to_be_bytes().to_vec())
            .collect();
        let theirs = sqlite_search(&conn, SEARCH_FAIR, q, 20);
        assert_eq!(theirs, sqlite_search(&conn, SEARCH_JOIN, q, 20), "{q}");
        let shared = mine.iter().filter(|id| theirs.contains(id)).count();
        let matches: i64 = conn
            .query_row(
                "SELECT count(*) FROM reflections_fts WHERE reflections_fts MATCH ?1",
                params![q],
                |row| row.get(0),
            )
            .unwrap();
        let (mut times, mut fair, mut join) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..200 {
            let t = Instant::now();
            std::hint::black_box(bulk_store.search(q, &ReflectionQuery::newest(20)).unwrap());
            times.push(t.elapsed());
            let t = Instant::now();
            std::hint::black_box(sqlite_search(&conn, SEARCH_FAIR, q, 20));
            fair.push(t.elapsed());
            let t = Instant::now();
            std::hint::black_box(sqlite_search(&conn, SEARCH_JOIN, q, 20));
            join.push(t.elapsed());
        }
        times.sort();
        fair.sort();
        join.sort();
        println!(
            "| `{q}` | {matches} | {shared} | {} | {} | {} | {} | {} |",
            ms(percentile(&times, 0.5)),
            ms(percentile(&times, 0.99)),
            ms(percentile(&fair, 0.5)),
            ms(percentile(&fair, 0.99)),
            ms(percentile(&join, 0.5)),
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
            1_790_000_000_000_000 + i,
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
        assert_eq!(
            sqlite_search(&conn, SEARCH_FAIR, &format!("zephyrword{i}"), 20).len(),
            1
        );
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
