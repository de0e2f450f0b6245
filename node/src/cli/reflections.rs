//! `reflect`, `list`, `show`, `search`.

use std::io::{IsTerminal, Read};

use anyhow::Context as _;
use serde_json::json;

use super::render::{self, Output};
use super::{Context, FilterArgs, ListArgs, ReflectArgs, UsageError};
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
    store.insert_reflection(&reflection, thread)?;
    tracing::info!(reflection = %reflection.id, "reflection stored");
    let human = format!(
        "Stored reflection {} ({}{}).",
        reflection.id,
        reflection.visibility,
        thread
            .map(|t| format!(", in thread {}", t.short()))
            .unwrap_or_default()
    );
    Output::new(json!({ "reflection": reflection, "thread": thread }), human)
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
    let store = ctx.store()?;
    let mut query = query_from(&store, &args.filters)?;
    query.oldest_first = args.oldest_first;
    list_output(
        store.reflections(&query)?,
        "No reflections yet. Write one with `mirror reflect \"…\"`.",
    )
}

pub fn search(ctx: &Context, words: &[String], filters: &FilterArgs) -> anyhow::Result<Output> {
    let store = ctx.store()?;
    let query = query_from(&store, filters)?;
    let text = words.join(" ");
    if crate::store::parse_query(&text).is_empty() {
        return Err(UsageError("the search has no words to look for".into()).into());
    }
    list_output(store.search(&text, &query)?, "Nothing found.")
}

pub fn show(ctx: &Context, id: &str) -> anyhow::Result<Output> {
    let store = ctx.store()?;
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
