//! Reflection engine benchmarks: a full reflect of a 2,000-word entry
//! (durable store write + crisis check + language detection + pattern,
//! tension and feeling detection + the person's history + built-in
//! mirrorback + mirrorback and engine-run writes), side by side with the
//! baseline of the durable write alone, and the engine's parts on their own.
//!
//! `cargo bench -p mirror-node --bench engine` prints Markdown tables.

use std::time::{Duration, Instant};

use mirror_node::engine::Engine;
use mirror_node::engine::pipeline::{self, AnyAdapter, Options};
use mirror_node::home::Home;
use mirror_node::model::*;

/// A long, realistic entry: varied sentences with the engine's cues in them.
fn long_entry(words: usize) -> String {
    let sentences = [
        "I have to finish the quarterly report before Friday and I haven't even opened the spreadsheet.",
        "Part of me wants to quit and start again somewhere quiet, and part of me loves the security of this job.",
        "My manager never notices anything I do, and everyone else seems to float through the week.",
        "When I was a kid we used to spend every summer at my grandmother's house by the sea.",
        "What if the restructuring goes ahead and I'm the first one they let go?",
        "I'm such an idiot for agreeing to lead the project without asking for more time.",
        "The train was late again this morning, so I read on the platform and watched the pigeons.",
        "I keep checking every detail of the launch plan, and I know I need to let the team own it.",
        "My head says the numbers are fine, but my heart keeps telling me something is off.",
        "Dinner was leftover soup and a long phone call with my sister about her new flat.",
    ];
    let mut text = String::new();
    let mut count = 0;
    let mut i = 0;
    while count < words {
        let s = sentences[i % sentences.len()];
        count += s.split_whitespace().count();
        text.push_str(s);
        text.push(' ');
        i += 1;
    }
    text
}

fn stats(mut times: Vec<Duration>) -> (Duration, Duration) {
    times.sort();
    let p = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    (p(0.5), p(0.99))
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    let runs: usize = std::env::var("MIRROR_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let text = long_entry(2000);
    let words = text.split_whitespace().count();
    let engine = Engine::genesis().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let home = Home::at(dir.path());
    let store = home.open_store().unwrap();
    let identity = home.init_with(&store, "bench").unwrap().identity;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let options = Options {
        max_regenerations: 2,
        temperature: 0.7,
        max_tokens: 400,
        suggest_tensions: false,
        region: None,
    };
    let reflection = || Reflection {
        id: Id::new(),
        identity_id: identity.id,
        content: text.clone(),
        content_type: ContentType::PlainText,
        visibility: Visibility::LocalOnly,
        source: Source::Cli,
        created_at: Timestamp::now(),
        metadata: Metadata::default(),
    };

    let (mut write_only, mut full, mut analyze, mut mirror, mut check) =
        (vec![], vec![], vec![], vec![], vec![]);
    let (mut crisis, mut language) = (vec![], vec![]);
    let mut last_mirrorback = String::new();
    for _ in 0..runs {
        // Baseline: the durable write alone.
        let r = reflection();
        let t = Instant::now();
        store.insert_reflection(&r, None).unwrap();
        write_only.push(t.elapsed());

        // The whole reflect, as `mirror reflect` runs it with the built-in mirror.
        let r = reflection();
        let t = Instant::now();
        let outcome = runtime
            .block_on(pipeline::reflect(
                &store,
                &engine,
                None::<&AnyAdapter>,
                r,
                None,
                &options,
                &mut |_| {},
            ))
            .unwrap();
        full.push(t.elapsed());
        last_mirrorback = outcome.mirrorback.text;

        let t = Instant::now();
        std::hint::black_box(engine.crisis(&text));
        crisis.push(t.elapsed());
        let t = Instant::now();
        std::hint::black_box(engine.language(&text));
        language.push(t.elapsed());
        let t = Instant::now();
        let analysis = engine.analyze(&text);
        analyze.push(t.elapsed());
        let t = Instant::now();
        let answer = mirror_node::engine::mirror::mirrorback(&engine, &text, &analysis);
        mirror.push(t.elapsed());
        let t = Instant::now();
        std::hint::black_box(engine.checker().check(&answer));
        check.push(t.elapsed());
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
    println!("\n### Reflect a {words}-word entry ({runs} runs each, durable writes)\n");
    println!("| step | median | p99 |");
    println!("|---|---|---|");
    for (name, times) in [
        ("baseline: durable store write only", write_only),
        (
            "full reflect: store + crisis check + detect + history + built-in mirrorback + run record",
            full,
        ),
        ("crisis check (every language's signals)", crisis),
        ("language detection", language),
        (
            "analyze: language + patterns + tensions + feelings",
            analyze,
        ),
        ("compose the built-in mirrorback", mirror),
        ("compliance check of the mirrorback", check),
    ] {
        let (p50, p99) = stats(times);
        println!("| {name} | {} | {} |", ms(p50), ms(p99));
    }
    println!(
        "\nLast mirrorback ({} chars): {}",
        last_mirrorback.len(),
        last_mirrorback
    );
}
