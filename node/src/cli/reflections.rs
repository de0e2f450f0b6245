//! `reflect`, `list`, `show`, `search`.

use std::io::{IsTerminal, Read};

use anyhow::Context as _;
use serde_json::json;

use super::render::{self, Output};
use super::{Context, FilterArgs, ListArgs, ReflectArgs, UsageError};
use crate::engine::llm::LlmAdapter as _;
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
    edit_in_editor("")
}

/// Open $VISUAL or $EDITOR on `initial`; what is above the scissors line
/// when it closes.
fn edit_in_editor(initial: &str) -> anyhow::Result<String> {
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
            "{initial}\n{SCISSORS}\n# Write your reflection above this line; everything below it is ignored.\n\
             # Save and close the editor to store it. Leave it empty to store nothing.\n"
        ),
    )
    .context("preparing the editor file")?;
    // Ctrl-C at the terminal reaches the editor and this process alike:
    // while the editor runs, this process takes SIGINT as a signal to note
    // (tokio's handler) instead of dying, so it lives to remove the draft.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the signal handler")?;
    let _sigint = runtime
        .block_on(async {
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        })
        .context("installing the Ctrl-C handler")?;
    // Through the shell, so EDITOR may carry arguments ("code --wait").
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("mirror-editor")
        .arg(file.path())
        .status()
        .with_context(|| format!("starting the editor ({editor})"))?;
    if !status.success() {
        // `file` is removed as it goes out of scope.
        anyhow::bail!(
            "the editor ({editor}) exited with {status}; nothing was stored and the draft was removed"
        );
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
    let at = args
        .at
        .as_deref()
        .map(|t| {
            ctx.time(t, crate::when::Edge::Start)
                .map_err(|e| UsageError(format!("--at: {}", e.0)))
        })
        .transpose()?;
    if let Some(at) = at {
        at.check_not_future("--at", Timestamp::now())
            .map_err(UsageError::from)?;
    }
    let mut metadata = match &args.metadata {
        Some(text) => Metadata::parse("metadata", text).map_err(UsageError::from)?,
        None => Metadata::default(),
    };
    if !args.tags.is_empty() {
        let mut tags = Vec::new();
        for t in &args.tags {
            let tag = crate::model::tags::normalise(t).ok_or_else(|| {
                UsageError(format!("{t:?} is not a tag (letters, digits, - and _)"))
            })?;
            tags.push(serde_json::Value::String(tag));
        }
        metadata
            .0
            .insert("tags".into(), serde_json::Value::Array(tags));
    }
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
        created_at: at.unwrap_or_else(Timestamp::now),
        metadata,
    };
    // Not dropped: freeing its compiled rules took ~2 ms of a ~20 ms
    // command, and the process ends with this command anyway.
    let engine = std::mem::ManuallyDrop::new(ctx.engine()?);
    if args.no_mirror && engine.crisis(&reflection.content).is_none() {
        store.insert_reflection(&reflection, thread)?;
        let human = format!(
            "Stored reflection {} ({}{}), without a mirrorback (`mirror mirrorback {}` makes one).",
            reflection.id.short(),
            reflection.visibility,
            thread
                .map(|t| format!(", in thread {}", t.short()))
                .unwrap_or_default(),
            reflection.id.short()
        );
        return Output::new(
            json!({"reflection": reflection, "thread": thread, "mirrorback": null}),
            human,
        );
    }
    // An entry in crisis is met with care even under --no-mirror.
    answer(
        ctx,
        &store,
        &engine,
        Answering::New { reflection, thread },
        args.engine,
    )
}

/// What is being answered: a reflection to store first, or one stored.
enum Answering {
    New {
        reflection: Reflection,
        thread: Option<Id>,
    },
    Stored(Reflection, pipeline::Tensions),
}

/// Run the pipeline on a reflection and shape the answer (shared by
/// `reflect` and `mirrorback`).
fn answer(
    ctx: &Context,
    store: &Store,
    engine: &crate::engine::Engine,
    what: Answering,
    engine_choice: Option<crate::model::EngineMode>,
) -> anyhow::Result<Output> {
    let (reflection, thread) = match &what {
        Answering::New { reflection, thread } => (reflection.clone(), *thread),
        Answering::Stored(r, _) => (r.clone(), None),
    };
    let config = ctx.home.load_config()?;
    let mode = engine_choice.unwrap_or(config.engine.mode);
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
    // While the model thinks: a spinner with its name and the time taken,
    // gone at its first word (or the answer).
    let thinking = match &adapter {
        Some(a) if engine.crisis(&reflection.content).is_none() => super::progress::spinner(
            format!("{} ({}) is thinking…", a.engine(), a.model()),
            ctx.json,
        ),
        _ => super::progress::Working::hidden(),
    };
    // A live view elsewhere (the web app): the same gate, its sentences
    // to the caller's sink.
    let mut live_view = ctx.take_live().map(|sink| {
        (
            crate::engine::shown::SentenceGate::new(engine.checker()),
            sink,
        )
    });
    let mut on_progress = |p: pipeline::Progress| {
        thinking.finish_and_clear();
        if let Some((gate, sink)) = live_view.as_mut() {
            for step in gate.on(p.clone()) {
                sink(step);
            }
        }
        if let Some(d) = display.as_mut() {
            d.on(p);
        }
    };
    let reflection_id = reflection.id;
    let pipeline = async {
        match what {
            Answering::New { reflection, thread } => {
                pipeline::reflect(
                    store,
                    engine,
                    adapter.as_ref(),
                    reflection,
                    thread,
                    &options,
                    &mut on_progress,
                )
                .await
            }
            Answering::Stored(reflection, tensions) => {
                pipeline::answer_stored(
                    store,
                    engine,
                    adapter.as_ref(),
                    reflection,
                    tensions,
                    &options,
                    &mut on_progress,
                )
                .await
            }
        }
    };
    // Ctrl-C while the model thinks: the reflection is stored (the
    // pipeline's first step, done on its first poll, before the signal is
    // looked at), so stop and say how to get the mirrorback later.
    let outcome = runtime.block_on(async {
        // Listen for Ctrl-C before the pipeline's first poll asks the
        // model: `ctrl_c()` installs its handler only when polled, and a
        // Ctrl-C that came first (a loaded machine) killed the process
        // instead of saying the reflection is stored.
        // (A signal in the instant of installing is let pass: the
        // pipeline then runs to its end.)
        let mut interrupted = std::pin::pin!(tokio::signal::ctrl_c());
        let early = std::future::poll_fn(|cx| {
            std::task::Poll::Ready(interrupted.as_mut().poll(cx).is_ready())
        })
        .await;
        tokio::select! {
            biased;
            outcome = pipeline => Ok(outcome),
            _ = &mut interrupted, if !early => Err(super::Interrupted(format!(
                "stopped before the mirrorback; reflection {} is stored (`mirror mirrorback {}` makes its mirrorback later)",
                reflection_id.short(),
                reflection_id.short()
            ))),
        }
    })??;
    thinking.finish_and_clear();
    if let Some(d) = display.as_mut() {
        d.finish(&outcome.mirrorback.text);
    }
    tracing::info!(reflection = %outcome.reflection.id, run = %outcome.run.id, "reflection stored and mirrored");
    // The reflection is stored; observers run now, bounded, and whatever
    // they do cannot undo it. An entry the crisis check answered is not
    // offered to them.
    if outcome.crisis.is_none() {
        crate::evolution::after_reflection(
            store,
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

/// `mirror mirrorback ID`: a new mirrorback for a stored reflection (one
/// written with `--no-mirror`, or whose answer missed); earlier ones stay.
pub fn mirrorback(
    ctx: &Context,
    id: &str,
    engine_choice: Option<crate::model::EngineMode>,
) -> anyhow::Result<Output> {
    let store = ctx.store()?;
    let id = store.resolve::<Reflection>(id, "reflection")?;
    let reflection: Reflection = store.require(id, "reflection")?;
    let tensions = if store.runs_for(id)?.is_empty() {
        pipeline::Tensions::Record
    } else {
        pipeline::Tensions::AlreadyRecorded
    };
    let engine = ctx.engine()?;
    answer(
        ctx,
        &store,
        &engine,
        Answering::Stored(reflection, tensions),
        engine_choice,
    )
}

/// `mirror edit ID`: new text from `--text` or the editor (opened on the
/// current text); the old text is kept as a revision.
pub fn edit(ctx: &Context, id: &str, text: Option<&str>) -> anyhow::Result<Output> {
    let store = ctx.store()?;
    let id = store.resolve::<Reflection>(id, "reflection")?;
    let reflection: Reflection = store.require(id, "reflection")?;
    let new_text = match text {
        Some(t) => t.to_string(),
        None => edit_in_editor(&reflection.content)?,
    };
    let new_text = new_text.trim_end().to_string();
    if new_text.trim().is_empty() {
        return Err(UsageError(
            "the new text is empty; nothing was changed (`mirror delete` removes a reflection)"
                .into(),
        )
        .into());
    }
    let revision = store.edit_reflection(id, &new_text)?;
    let human = format!(
        "Edited reflection {}; the earlier text is kept (`mirror show {} --history`). `mirror mirrorback {}` answers the new text.",
        id.short(),
        id.short(),
        id.short()
    );
    Output::new(json!({"reflection": id, "revision": revision}), human)
}

/// `mirror delete ID`: after confirmation (or `--yes`), the reflection and
/// everything hanging off it are removed; a tombstone keeps an older
/// bundle from bringing it back.
pub fn delete(ctx: &Context, id: &str, yes: bool) -> anyhow::Result<Output> {
    let store = ctx.store()?;
    let id = store.resolve::<Reflection>(id, "reflection")?;
    let reflection: Reflection = store.require(id, "reflection")?;
    if !yes {
        if !std::io::stdin().is_terminal() {
            return Err(UsageError(
                "deleting needs confirmation: run it at a terminal, or add --yes".into(),
            )
            .into());
        }
        eprint!(
            "Delete reflection {} ({}  {})? It cannot be undone. [y/N] ",
            id.short(),
            render::when(reflection.created_at),
            render::escape(&render::excerpt(&reflection.content, 50))
        );
        let mut answer = String::new();
        std::io::stdin()
            .read_line(&mut answer)
            .context("reading the answer")?;
        if !matches!(answer.trim(), "y" | "Y" | "yes" | "Yes") {
            return Output::new(json!({"deleted": null}), "Nothing was deleted.".to_string());
        }
    }
    let deleted = store.delete_reflection(id)?;
    let human = format!(
        "Deleted reflection {} with {} mirrorback(s), {} engine run(s), {} piece(s) of tension evidence and {} thread membership(s).",
        id.short(),
        deleted.mirrorbacks,
        deleted.engine_runs,
        deleted.tension_evidence,
        deleted.threads
    );
    Output::new(json!({ "deleted": deleted }), human)
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

fn query_from(
    ctx: &Context,
    store: &Store,
    filters: &FilterArgs,
) -> anyhow::Result<ReflectionQuery> {
    use crate::when::Edge;
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
        tag: filters
            .tag
            .as_deref()
            .map(|t| {
                crate::model::tags::normalise(t)
                    .ok_or_else(|| UsageError(format!("{t:?} is not a tag")))
            })
            .transpose()?,
        visibility: filters.visibility,
        since: filters
            .since
            .as_deref()
            .map(|t| ctx.time(t, Edge::Start))
            .transpose()?,
        until: filters
            .until
            .as_deref()
            .map(|t| ctx.time(t, Edge::End))
            .transpose()?,
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
    let mut query = query_from(ctx, &store, &args.filters)?;
    query.oldest_first = args.oldest_first;
    let empty = if args.filters.narrows() {
        "No reflections match these filters."
    } else {
        "No reflections yet. Write one with `mirror reflect \"…\"`."
    };
    list_output(store.reflections(&query)?, empty)
}

pub fn search(ctx: &Context, words: &[String], filters: &FilterArgs) -> anyhow::Result<Output> {
    // Writable when it can be, so the search index catches up; read-only
    // (answering from the index plus a scan of the rest) when the disk or
    // a damage mark says no.
    let store = ctx.store_or_read()?;
    let mut query = query_from(ctx, &store, filters)?;
    // `#tag` words are tags to match, not text to find.
    let mut text_words = Vec::new();
    for w in words.iter().flat_map(|w| w.split_whitespace()) {
        match w.strip_prefix('#').and(crate::model::tags::normalise(w)) {
            Some(tag) if query.tag.is_none() => query.tag = Some(tag),
            Some(_) => {
                return Err(
                    UsageError("search takes one #tag (and --tag counts as one)".into()).into(),
                );
            }
            None => text_words.push(w),
        }
    }
    let text = text_words.join(" ");
    if text_words.is_empty() && query.tag.is_some() {
        return list_output(store.reflections(&query)?, "Nothing found.");
    }
    let terms = crate::store::parse_query(&text);
    if terms.is_empty() {
        return Err(UsageError("the search has no words to look for".into()).into());
    }
    let found = store.search(&text, &query)?;
    // Counting costs the matches: stop at a cap and say "more than".
    const CAP: usize = 1_000;
    let total = if found.len() < query.limit {
        found.len()
    } else {
        store.search_total(&text, &query, CAP + 1)?
    };
    let shown_total = if total > CAP {
        format!("more than {CAP}")
    } else {
        total.to_string()
    };
    let rows: Vec<serde_json::Value> = found
        .iter()
        .map(|r| {
            json!({
                "reflection": r,
                "snippet": crate::store::snippet(&terms, &r.content, 80),
            })
        })
        .collect();
    let human = if found.is_empty() {
        "Nothing found.".to_string()
    } else {
        let mut lines: Vec<String> = found
            .iter()
            .map(|r| {
                format!(
                    "{}  {}  {}",
                    r.id.short(),
                    render::when(r.created_at),
                    crate::store::snippet(&terms, &r.content, 80)
                )
            })
            .collect();
        if total > found.len() {
            lines.push(format!(
                "{} of {shown_total}; --limit for more",
                found.len()
            ));
        }
        lines.join("\n")
    };
    Output::new(
        json!({"reflections": found, "matches": rows, "total": total.min(CAP + 1), "total_capped": total > CAP}),
        human,
    )
}

/// `mirror tags`.
pub fn tags(ctx: &Context) -> anyhow::Result<Output> {
    let store = ctx.store_read()?;
    let counts = store.tag_counts()?;
    let human = if counts.is_empty() {
        "No tags yet: write #word in a reflection, or add --tag word.".to_string()
    } else {
        counts
            .iter()
            .map(|(t, n)| format!("#{t:<24} {n}"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    Output::new(
        json!({"tags": counts.iter().map(|(t, n)| json!({"tag": t, "reflections": n})).collect::<Vec<_>>()}),
        human,
    )
}

pub fn show(ctx: &Context, id: &str, history: bool) -> anyhow::Result<Output> {
    let store = ctx.store_read()?;
    let id = store.resolve::<Reflection>(id, "reflection")?;
    let reflection: Reflection = store.require(id, "reflection")?;
    let mirrorbacks = store.mirrorbacks_for(id)?;
    let runs = store.runs_for(id)?;
    let threads = store.threads_of(id)?;
    let revisions = if history {
        store.revisions(id)?
    } else {
        Vec::new()
    };

    let mut human = format!(
        "Reflection {}\n{} · {} · {} · via {}\n",
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
    for r in revisions.iter().rev() {
        human.push_str(&format!(
            "\n── Before {} ──\n{}\n",
            render::when(r.replaced_at),
            r.content
        ));
    }
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
            "tags": crate::model::tags::of(&reflection),
            "revisions": revisions,
        }),
        human.trim_end().to_string(),
    )
}
