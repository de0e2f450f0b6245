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

/// The naive detector: lower-case the text and look for every cue of the
/// same parameter pack as a plain substring. A pattern is present when any
/// of its cues is; a tension when a cue of each pole is. No word
/// boundaries, no negation, no subject, no context: what one writes first.
/// Placeholders (`<num>`, `<any>`…) and stem stars are dropped from a cue.
struct Naive {
    patterns: Vec<(String, Vec<String>)>,
    tensions: Vec<(String, Vec<String>, Vec<String>)>,
}

impl Naive {
    fn new(params: &mirror_governance::params::EngineParams) -> Naive {
        let clean = |cue: &String| -> Option<String> {
            let words: Vec<&str> = cue
                .split_whitespace()
                .filter(|w| !(w.starts_with('<') && w.ends_with('>')))
                .map(|w| w.trim_end_matches('*'))
                .collect();
            (!words.is_empty()).then(|| words.join(" ").to_lowercase())
        };
        let patterns = params
            .patterns
            .iter()
            .map(|(name, spec)| {
                let cues = spec
                    .rules
                    .iter()
                    .filter(|r| r.lang.as_deref().is_none_or(|l| l == "en"))
                    .flat_map(|r| r.cues.iter().filter_map(clean))
                    .collect();
                (name.clone(), cues)
            })
            .collect();
        let tensions = params
            .tensions
            .axes
            .iter()
            .filter(|a| a.lang.as_deref().is_none_or(|l| l == "en"))
            .map(|a| {
                (
                    format!("{}/{}", a.a.name, a.b.name),
                    a.a.cues.iter().filter_map(clean).collect(),
                    a.b.cues.iter().filter_map(clean).collect(),
                )
            })
            .collect();
        Naive { patterns, tensions }
    }

    fn detect(&self, text: &str) -> (Vec<String>, Vec<String>) {
        let lower = text.to_lowercase();
        let has = |cues: &Vec<String>| cues.iter().any(|c| lower.contains(c.as_str()));
        let patterns = self
            .patterns
            .iter()
            .filter(|(_, cues)| has(cues))
            .map(|(n, _)| n.clone())
            .collect();
        let mut tensions: Vec<String> = self
            .tensions
            .iter()
            .filter(|(_, a, b)| has(a) && has(b))
            .map(|(n, _, _)| n.clone())
            .collect();
        tensions.dedup();
        (patterns, tensions)
    }
}

/// Micro precision and recall of two detectors over a labelled JSON Lines
/// set (`patterns-dev.jsonl` or `tensions-dev.jsonl` shapes).
fn score_both(
    path: &std::path::Path,
    key: &str,
    engine: &Engine,
    naive: &Naive,
) -> Option<[(f64, f64); 2]> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut counts = [[0usize; 3]; 2]; // tp, fp, fn
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let item: serde_json::Value = serde_json::from_str(line).ok()?;
        let entry = item["text"].as_str()?;
        let expected: Vec<String> = item[key]
            .as_array()?
            .iter()
            .map(|v| match v {
                serde_json::Value::Array(pair) => pair
                    .iter()
                    .filter_map(|p| p.as_str())
                    .collect::<Vec<_>>()
                    .join("/"),
                other => other.as_str().unwrap_or_default().to_string(),
            })
            .collect();
        let analysis = engine.analyze(entry);
        let ours: Vec<String> = if key == "patterns" {
            analysis.pattern_names()
        } else {
            analysis
                .tensions
                .iter()
                .map(|t| format!("{}/{}", t.axis_a, t.axis_b))
                .collect()
        };
        let (np, nt) = naive.detect(entry);
        let theirs = if key == "patterns" { np } else { nt };
        for (k, found) in [ours, theirs].into_iter().enumerate() {
            let found: std::collections::BTreeSet<String> = found.into_iter().collect();
            let want: std::collections::BTreeSet<String> = expected.iter().cloned().collect();
            counts[k][0] += found.intersection(&want).count();
            counts[k][1] += found.difference(&want).count();
            counts[k][2] += want.difference(&found).count();
        }
    }
    let pr = |c: [usize; 3]| {
        let p = c[0] as f64 / (c[0] + c[1]).max(1) as f64;
        let r = c[0] as f64 / (c[0] + c[2]).max(1) as f64;
        (p, r)
    };
    Some([pr(counts[0]), pr(counts[1])])
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
    let observers = home.load_config().unwrap().evolution.observers;
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
    let (mut crisis, mut language, mut naive_times, mut heard) = (vec![], vec![], vec![], vec![]);
    let mut feelings = vec![];
    let naive = Naive::new(engine.params());
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
        if outcome.crisis.is_none() {
            // As `mirror reflect` does once the reflection is stored.
            mirror_node::evolution::after_reflection(
                &store,
                &observers,
                mirror_node::evolution::Event::Reflected {
                    patterns: outcome.analysis.pattern_names(),
                    tensions: outcome
                        .analysis
                        .tensions
                        .iter()
                        .map(|t| t.name.clone())
                        .collect(),
                    mirrorback: Box::new(outcome.mirrorback.clone()),
                    run: Box::new(outcome.run.clone()),
                },
            );
        }
        full.push(t.elapsed());
        last_mirrorback = outcome.mirrorback.text;

        let t = Instant::now();
        std::hint::black_box(naive.detect(&text));
        naive_times.push(t.elapsed());

        let t = Instant::now();
        std::hint::black_box(engine.crisis(&text));
        crisis.push(t.elapsed());
        let t = Instant::now();
        std::hint::black_box(engine.language(&text));
        language.push(t.elapsed());
        let t = Instant::now();
        let analysis = engine.analyze(&text);
        analyze.push(t.elapsed());
        // The built-in tension model alone: the engine asks it only where
        // the lexicons found nothing (not on this entry), so it is timed
        // apart, over every window of the entry.
        let t = Instant::now();
        std::hint::black_box(mirror_node::engine::tension_model::builtin().hear(&text));
        heard.push(t.elapsed());
        // The built-in feeling model alone, weighing the feelings the
        // lexicons found in this entry (part of analyze above).
        let lexicons = engine.analyze_weighed(&text, None);
        let found: Vec<(&str, std::ops::Range<usize>)> = lexicons
            .emotions
            .iter()
            .map(|e| (e.family.as_str(), e.span.clone()))
            .collect();
        let t = Instant::now();
        std::hint::black_box(mirror_node::engine::feeling_model::builtin().weigh(
            &text,
            &found,
            mirror_node::engine::feeling_model::SETTING,
            true,
        ));
        feelings.push(t.elapsed());
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
        ("breakdown: durable store write only", write_only),
        (
            "full reflect as `mirror reflect` runs it: store + crisis check + detect + history + built-in mirrorback + run record + observers",
            full,
        ),
        (
            "side by side: naive substring detector, same cues",
            naive_times,
        ),
        ("crisis check (every language's signals)", crisis),
        ("language detection", language),
        (
            "analyze: language + patterns + tensions + feelings",
            analyze,
        ),
        (
            "tension model alone (every window, as where the lexicons found nothing)",
            heard,
        ),
        (
            "feeling model alone (weighing the lexicons' feelings, in analyze)",
            feelings,
        ),
        ("compose the built-in mirrorback", mirror),
        ("compliance check of the mirrorback", check),
    ] {
        let (p50, p99) = stats(times);
        println!("| {name} | {} | {} |", ms(p50), ms(p99));
    }
    if let Some(dir) = std::env::var_os("MIRROR_EMBEDDINGS_MODEL") {
        semantic_side_by_side(std::path::Path::new(&dir), &engine, &text, runs);
    }
    if let Some(dir) = std::env::var_os("MIRROR_EVAL_DIR") {
        let dir = std::path::PathBuf::from(dir);
        println!("\n### Detection quality, engine and naive detector side by side (micro P / R)\n");
        println!("| set | engine P | engine R | naive P | naive R |");
        println!("|---|---|---|---|---|");
        for (file, key) in [
            ("patterns-dev.jsonl", "patterns"),
            ("tensions-dev.jsonl", "tensions"),
        ] {
            if let Some([(ep, er), (np, nr)]) = score_both(&dir.join(file), key, &engine, &naive) {
                println!("| {file} | {ep:.3} | {er:.3} | {np:.3} | {nr:.3} |");
            }
        }
    }
    println!(
        "\nLast mirrorback ({} chars): {}",
        last_mirrorback.len(),
        last_mirrorback
    );
}

/// The optional semantic step (all-MiniLM-L6-v2 from `dir`) against the
/// built-in analysis, on the long entry and on a 100-word one: the model
/// is built once, as the daemon and the web app keep it; a one-shot
/// `mirror reflect` pays the load once per process.
fn semantic_side_by_side(dir: &std::path::Path, engine: &Engine, long: &str, runs: usize) {
    use mirror_node::engine::SemanticSlot;
    use mirror_node::engine::semantic::Semantic;
    use mirror_node::home::read_model_dir;
    let mut load = vec![];
    for _ in 0..5 {
        let t = Instant::now();
        std::hint::black_box(Semantic::load(read_model_dir(dir).unwrap()).unwrap());
        load.push(t.elapsed());
    }
    let dir = dir.to_path_buf();
    let slot = SemanticSlot::new(move || {
        let files = read_model_dir(&dir).map_err(|e| e.to_string())?;
        Semantic::load(files).map(Some).map_err(|e| e.to_string())
    });
    let with = Engine::genesis()
        .unwrap()
        .with_semantic(std::sync::Arc::new(slot));
    assert!(with.has_semantic());
    let short: String = long
        .split_whitespace()
        .take(100)
        .collect::<Vec<_>>()
        .join(" ");
    let runs = (runs / 10).max(10);
    let (mut long_without, mut long_with, mut short_without, mut short_with) =
        (vec![], vec![], vec![], vec![]);
    for _ in 0..runs {
        for (text, without, with_times) in [
            (long, &mut long_without, &mut long_with),
            (short.as_str(), &mut short_without, &mut short_with),
        ] {
            let t = Instant::now();
            std::hint::black_box(engine.analyze(text));
            without.push(t.elapsed());
            let t = Instant::now();
            std::hint::black_box(with.analyze(text));
            with_times.push(t.elapsed());
        }
    }
    println!("\n### The semantic step, side by side ({runs} runs each; load: 5)\n");
    println!("| step | median | p99 |");
    println!("|---|---|---|");
    for (name, times) in [
        (
            "load the model (read 90 MB, build BERT and its tokenizer)",
            load,
        ),
        ("analyze a 100-word entry: built-in", short_without),
        (
            "analyze a 100-word entry: with the semantic step",
            short_with,
        ),
        ("analyze the long entry: built-in", long_without),
        ("analyze the long entry: with the semantic step", long_with),
    ] {
        let (p50, p99) = stats(times);
        println!("| {name} | {} | {} |", ms(p50), ms(p99));
    }
}
