//! The web app on a journal of 100,000 entries: time to first byte and to
//! the whole page (HTML and its one stylesheet: with no script, that is a
//! usable page) for the timeline's first page, a page deep in the past,
//! search, one entry and every other page; and each page's weight.
//!
//! Run with `cargo bench -p mirror-node --bench web` (release). The app is
//! started in process (`web::start`, as `mirror ui` does) and asked over
//! plain HTTP on 127.0.0.1, as a browser would, with the session cookie.
//! `MIRROR_BENCH_SIZE` and `MIRROR_BENCH_RUNS` change the size and repeats.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use mirror_node::home::Home;

mod corpus;

use corpus::{Rng, journal};

/// One GET: (time to the first byte, time to the last, body bytes).
fn get(addr: &str, path: &str, cookie: &str) -> (Duration, Duration, usize, String) {
    let t = Instant::now();
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut first = [0u8; 1];
    s.read_exact(&mut first).unwrap();
    let ttfb = t.elapsed();
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).unwrap();
    let total = t.elapsed();
    let mut all = first.to_vec();
    all.extend(rest);
    let text = String::from_utf8_lossy(&all).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    assert!(
        head.starts_with("HTTP/1.1 200") || head.starts_with("HTTP/1.1 303"),
        "{path}: {head}"
    );
    (ttfb, total, body.len(), text)
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
    let n: usize = std::env::var("MIRROR_BENCH_SIZE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let runs: usize = std::env::var("MIRROR_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(7);
    let dir = tempfile::tempdir().unwrap();
    let home = Home::at(dir.path().join("home"));
    let (middle, middle_time) = {
        let store = home.open_store().unwrap();
        let identity = home.init_with(&store, "bench").unwrap().identity;
        let batch = journal(&identity, n, &mut Rng(13));
        store.import(&batch).unwrap();
        store.index_pending().unwrap();
        let r = &batch.reflections[n / 2];
        (r.id.to_string(), r.created_at.to_string())
    };
    let running = mirror_node::web::start(home, 0).unwrap();
    let addr = running
        .url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_string();
    let login = &running.url[running.url.find("/login").unwrap()..];
    let (_, _, _, answer) = get(&addr, login, "");
    let cookie = answer
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .and_then(|c| c.split(';').next())
        .expect("a session cookie")
        .to_string();
    println!(
        "{n} entries; median of {runs}; load average at start: {}",
        load()
    );
    let css = get(&addr, "/static/style.css", &cookie);
    let until = format!(
        "/timeline?until={}",
        middle_time.replace(':', "%3A").replace('+', "%2B")
    );
    let entry = format!("/entry/{middle}");
    let pages: [(&str, &str); 11] = [
        ("write (`/`)", "/"),
        ("timeline, newest page", "/timeline"),
        ("timeline, a page five years back", &until),
        ("search `river heron`", "/timeline?q=river+heron"),
        ("one entry", &entry),
        ("threads", "/threads"),
        ("tensions", "/tensions"),
        ("looking back", "/lookback"),
        ("settings", "/settings"),
        ("commons", "/commons"),
        ("style.css", "/static/style.css"),
    ];
    println!("| page | first byte | whole HTML | HTML + CSS (usable) | HTML bytes |");
    println!("|---|---|---|---|---|");
    for (name, path) in pages {
        let mut firsts = Vec::new();
        let mut wholes = Vec::new();
        let mut usable = Vec::new();
        let mut bytes = 0;
        for _ in 0..runs {
            let (first, whole, size, _) = get(&addr, path, &cookie);
            let (_, css_whole, _, _) = get(&addr, "/static/style.css", &cookie);
            firsts.push(first);
            wholes.push(whole);
            usable.push(whole + css_whole);
            bytes = size;
        }
        println!(
            "| {name} | {} | {} | {} | {:.1} KB |",
            ms(median(firsts)),
            ms(median(wholes)),
            ms(median(usable)),
            bytes as f64 / 1024.0
        );
    }
    // The baseline beside it: the same reads as the CLI answers them (a
    // process each, as a person types them).
    println!("\n| the CLI, same journal | wall time |\n|---|---|");
    for args in [
        &["list"][..],
        &["search", "river", "heron"][..],
        &["show", &middle][..],
    ] {
        let times = (0..runs)
            .map(|_| {
                let t = Instant::now();
                let out = std::process::Command::new(env!("CARGO_BIN_EXE_mirror"))
                    .args(args)
                    .env("MIRROR_HOME", dir.path().join("home"))
                    .output()
                    .unwrap();
                assert!(out.status.success());
                t.elapsed()
            })
            .collect();
        println!("| `mirror {}` | {} |", args.join(" "), ms(median(times)));
    }
    println!(
        "stylesheet: {:.1} KB; load average at end: {}",
        css.2 as f64 / 1024.0,
        load()
    );
}
