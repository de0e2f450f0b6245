//! `reflect`, `list`, `show`, `search`.

use std::io::{IsTerminal, Read};

use anyhow::Context as _;
use serde_json::json;

use super::render::{self, Output};
use super::{Context, FilterArgs, ListArgs, ReflectArgs, UsageError};
use crate::engine::pipeline::{self, AnyAdapter, Options};
use crate::model::{Id, Identity, Metadata, Reflection, Source, Thread, Timestamp};
use crate::store::{ReflectionQuery, Store};

/// Everything below this line in the editor is instructions, not writing.
const SCISSORS: &str = "# ------------------------ >8 ------------------------";

fn read_stdin() -> anyhow::Result<String> {
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .context("reading the reflection from stdin")?;
    Ok(text)
}

fn read_from_editor() -> anyhow::Result<String> {
    let editor = std::env::var("VISUAL")
        .or_else(|_| std::env::var("EDITOR"))
        .unwrap_or_else(|_| "vi".into());
    let file = tempfile::Builder::new()
        .prefix("mirror-reflection-")
        .suffix(".md")
        .tempfile()
        .context("creating a file for the editor")?;
    std::fs::write(
        file.path(),
        format!(
            "\n{SCISSORS}\n# Write your reflection above this line; everything below it is ignored.\n\
             # Save and close the editor to store it. Leave it empty to store nothing.\n"
        ),
    )
    .context("preparing the editor file")?;
    // Through the shell, so EDITOR may carry arguments ("code --wait").
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("mirror-editor")
        .arg(file.path())
        .status()
        .with_context(|| format!("starting the editor ({editor})"))?;
    if !status.success() {
        anyhow::bail!("the editor ({editor}) exited with {status}; nothing was stored");
    }
    let text = std::fs::read_to_string(file.path()).context("reading the editor file")?;
    Ok(text.split(SCISSORS).next().unwrap_or_default().to_string())
}

/// The reflection's text and how it arrived.
fn read_text(args: &ReflectArgs) -> anyhow::Result<(String, Source)> {
    let (text, source) = if args.editor {
        (read_from_editor()?, Source::Editor)
    } else if args.text.len() == 1 && args.text[0] == "-" {
        (read_stdin()?, Source::Stdin)
    } else if !args.text.is_empty() {
        (args.text.join(" "), Source::Cli)
    } else if !std::io::stdin().is_terminal() {
        (read_stdin()?, Source::Stdin)
    } else {
        (read_from_editor()?, Source::Editor)
    };
    if text.trim().is_empty() {
        anyhow::bail!("the reflection is empty; nothing was stored");
    }
    Ok((text.trim_end().to_string(), source))
}

pub fn resolve_thread(store: &Store, text: &str) -> anyhow::Result<Id> {
    Ok(store.resolve::<Thread>(text, "thread")?)
}

pub fn reflect(ctx: &Context, args: &ReflectArgs) -> anyhow::Result<Output> {
    if let Some(at) = args.at {
        at.check_not_future("--at", Timestamp::now())
            .map_err(UsageError::from)?;
    }
    let metadata = match &args.metadata {
        Some(text) => Metadata::parse("metadata", text).map_err(UsageError::from)?,
        None => Metadata::default(),
    };
    let (content, source) = read_text(args)?;
    let store = ctx.store()?;
    let identity = ctx.identity(&store)?;
    let thread = args
        .thread
        .as_deref()
        .map(|t| resolve_thread(&store, t))
        .transpose()?;
    let reflection = Reflection {
        id: Id::new(),
        identity_id: identity.id,
        content,
        content_type: args.content_type,
        visibility: args.visibility,
        source,
        created_at: args.at.unwrap_or_else(Timestamp::now),
        metadata,
    };
    let engine = ctx.engine()?;
    let config = ctx.home.load_config()?;
    let mode = args.engine.unwrap_or(config.engine.mode);
    let adapter = AnyAdapter::from_config(&config.engine, mode);
    let options = Options::from_config(&config.engine, engine.params())
        .with_region(config.safety.region(crate::home::locale_vars()));
    // Stream a model's answer live only to a person at a terminal (never
    // for an entry the crisis check answers: no model sees it).
    let live = adapter.is_some()
        && !ctx.json
        && std::io::stdout().is_terminal()
        && engine.crisis(&reflection.content).is_none();
    if live {
        println!(
            "Stored reflection {} ({}).\n",
            reflection.id.short(),
            reflection.visibility
        );
    }
    let mut display = live.then(|| super::stream::Display::new(engine.checker()));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the engine's runtime")?;
    let outcome = runtime.block_on(pipeline::reflect(
        &store,
        &engine,
        adapter.as_ref(),
        reflection,
        thread,
        &options,
        &mut |p| {
            if let Some(d) = display.as_mut() {
                d.on(p);
            }
        },
    ))?;
    if let Some(d) = display.as_mut() {
        d.finish(&outcome.mirrorback.text);
    }
    tracing::info!(reflection = %outcome.reflection.id, run = %outcome.run.id, "reflection stored and mirrored");
    // The reflection is stored; observers run now, bounded, and whatever
    // they do cannot undo it. An entry the crisis check answered is not
    // offered to them.
    if outcome.crisis.is_none() {
        crate::evolution::after_reflection(
            &store,
            &config.evolution.observers,
            crate::evolution::Event::Reflected {
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
    let human = render_outcome(&outcome, live, thread);
    Output::new(
        json!({
            "reflection": outcome.reflection,
            "thread": thread,
            "mirrorback": outcome.mirrorback,
            "engine_run": outcome.run,
            "patterns": outcome.analysis.patterns,
            "tensions": outcome.analysis.tensions,
            "tension_suggestions": outcome.tensions.suggestions,
            "tension_evidence": outcome.tensions.evidence,
            "notes": outcome.notes,
            "crisis": outcome.crisis,
        }),
        human,
    )
}

fn render_outcome(outcome: &pipeline::Outcome, already_shown: bool, thread: Option<Id>) -> String {
    let mut out = String::new();
    if !already_shown {
        out.push_str(&format!(
            "Stored reflection {} ({}{}).\n\n{}\n",
            outcome.reflection.id.short(),
            outcome.reflection.visibility,
            thread
                .map(|t| format!(", in thread {}", t.short()))
                .unwrap_or_default(),
            outcome.mirrorback.text
        ));
    }
    // Each pattern once, with at most two of its cue words.
    let mut noticed: Vec<String> = Vec::new();
    for name in outcome.analysis.pattern_names() {
        let mut cues: Vec<String> = Vec::new();
        for m in outcome
            .analysis
            .patterns
            .iter()
            .filter(|m| m.pattern == name)
        {
            let cue = format!("\"{}\"", m.cue.to_lowercase());
            if !cues.contains(&cue) {
                cues.push(cue);
            }
        }
        let more = cues.len().saturating_sub(2);
        cues.truncate(2);
        if more > 0 {
            cues.push(format!("{more} more"));
        }
        noticed.push(format!("{} ({})", name.replace('_', " "), cues.join(", ")));
    }
    if !noticed.is_empty() {
        out.push_str(&format!("\nNoticed: {}\n", noticed.join("; ")));
    }
    for s in &outcome.tensions.suggestions {
        out.push_str(&format!(
            "Tension: {} ↔ {} ({}). Track it: mirror tension accept {}  ·  let it go: mirror tension dismiss {}\n",
            s.axis_a,
            s.axis_b,
            s.name,
            s.id.short(),
            s.id.short()
        ));
    }
    for e in &outcome.tensions.evidence {
        out.push_str(&format!(
            "Added to a tension you track ({}).\n",
            e.tension_id.short()
        ));
    }
    for note in &outcome.notes {
        out.push_str(&format!("Note: {note}\n"));
    }
    out.push_str(&format!(
        "Rate this mirrorback: mirror feedback {} --rating 1..5",
        outcome.run.id.short()
    ));
    out
}

fn query_from(store: &Store, filters: &FilterArgs) -> anyhow::Result<ReflectionQuery> {
    Ok(ReflectionQuery {
        identity: filters
            .identity
            .as_deref()
            .map(|i| store.resolve::<Identity>(i, "identity"))
            .transpose()?,
        thread: filters
            .thread
            .as_deref()
            .map(|t| resolve_thread(store, t))
            .transpose()?,
        visibility: filters.visibility,
        since: filters.since,
        until: filters.until,
        limit: filters.limit,
        oldest_first: false,
    })
}

fn list_output(found: Vec<Reflection>, empty: &str) -> anyhow::Result<Output> {
    let human = if found.is_empty() {
        empty.to_string()
    } else {
        found
            .iter()
            .map(render::reflection_line)
            .collect::<Vec<_>>()
            .join("\n")
    };
    Output::new(json!({ "reflections": found }), human)
}

pub fn list(ctx: &Context, args: &ListArgs) -> anyhow::Result<Output> {
    let store = ctx.store_read()?;
    let mut query = query_from(&store, &args.filters)?;
    query.oldest_first = args.oldest_first;
    list_output(
        store.reflections(&query)?,
        "No reflections yet. Write one with `mirror reflect \"…\"`.",
    )
}

pub fn search(ctx: &Context, words: &[String], filters: &FilterArgs) -> anyhow::Result<Output> {
    // Writable when it can be, so the search index catches up; read-only
    // (answering from the index plus a scan of the rest) when the disk or
    // a damage mark says no.
    let store = ctx.store_or_read()?;
    let query = query_from(&store, filters)?;
    let text = words.join(" ");
    if crate::store::parse_query(&text).is_empty() {
        return Err(UsageError("the search has no words to look for".into()).into());
    }
    list_output(store.search(&text, &query)?, "Nothing found.")
}

pub fn show(ctx: &Context, id: &str) -> anyhow::Result<Output> {
    let store = ctx.store_read()?;
    let id = store.resolve::<Reflection>(id, "reflection")?;
    let reflection: Reflection = store.require(id, "reflection")?;
    let mirrorbacks = store.mirrorbacks_for(id)?;
    let runs = store.runs_for(id)?;
    let threads = store.threads_of(id)?;

    let mut human = format!(
        "Reflection {}\n{} UTC · {} · {} · via {}\n",
        reflection.id,
        render::when(reflection.created_at),
        reflection.visibility,
        reflection.content_type,
        reflection.source
    );
    if !threads.is_empty() {
        let names: Vec<String> = threads
            .iter()
            .map(|t| format!("{} ({})", t.title, t.id.short()))
            .collect();
        human.push_str(&format!("Threads: {}\n", names.join(", ")));
    }
    if !reflection.metadata.is_empty() {
        human.push_str(&format!(
            "Metadata: {}\n",
            serde_json::to_string(&reflection.metadata.0)?
        ));
    }
    human.push('\n');
    human.push_str(&reflection.content);
    human.push('\n');
    for m in &mirrorbacks {
        human.push_str(&format!(
            "\n── Mirrorback ({}{}) ──\n{}\n",
            m.engine_mode,
            if m.fell_back { ", fallback" } else { "" },
            m.text
        ));
    }
    for run in &runs {
        if !run.patterns.is_empty() {
            human.push_str(&format!("\nPatterns: {}\n", run.patterns.join(", ")));
        }
        human.push_str(&format!(
            "Engine run {} (rate it: mirror feedback {} --rating 1..5)\n",
            run.id.short(),
            run.id.short()
        ));
    }
    Output::new(
        json!({
            "reflection": reflection,
            "mirrorbacks": mirrorbacks,
            "engine_runs": runs,
            "threads": threads,
        }),
        human.trim_end().to_string(),
    )
}
