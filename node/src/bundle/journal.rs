//! The journal for people, beside the bundle: one Markdown file (or JSON
//! document) of the reflections in a span, oldest first, each under its
//! local date and time with its mirrorbacks. Not for re-import (the bundle
//! is); for reading, printing, keeping elsewhere.

use jiff::tz::TimeZone;
use serde::Serialize;

use crate::model::{Mirrorback, Reflection, Timestamp};
use crate::store::{ReflectionQuery, Store, StoreError};
use crate::when;

/// One entry as exported.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub id: String,
    /// Local time, `2026-11-24 21:30`.
    pub written: String,
    pub created_at: Timestamp,
    pub content: String,
    /// Every tag, from the text and given with `--tag`.
    pub tags: Vec<String>,
    pub mirrorbacks: Vec<String>,
}

/// The reflections written in `[since, until)`, oldest first.
pub fn entries(
    store: &Store,
    since: Option<Timestamp>,
    until: Option<Timestamp>,
    tz: &TimeZone,
) -> Result<Vec<Entry>, StoreError> {
    let reflections: Vec<Reflection> = store.reflections(&ReflectionQuery {
        since,
        until,
        limit: usize::MAX,
        oldest_first: true,
        ..ReflectionQuery::default()
    })?;
    reflections
        .into_iter()
        .map(|r| {
            let mirrorbacks: Vec<Mirrorback> = store.mirrorbacks_for(r.id)?;
            let tags = crate::model::tags::of(&r);
            Ok(Entry {
                id: r.id.to_string(),
                written: when::show(r.created_at, tz),
                created_at: r.created_at,
                content: r.content,
                tags,
                mirrorbacks: mirrorbacks.into_iter().map(|m| m.text).collect(),
            })
        })
        .collect()
}

/// The entries as one Markdown document: a heading per day, a sub-heading
/// per entry (its time), mirrorbacks quoted under it.
pub fn markdown(entries: &[Entry]) -> String {
    let mut out = String::from("# Journal\n");
    let mut day = "";
    for e in entries {
        let (d, time) = e.written.split_once(' ').unwrap_or((&e.written, ""));
        if d != day {
            out.push_str(&format!("\n## {d}\n"));
            day = d;
        }
        out.push_str(&format!("\n### {time}\n\n{}\n", e.content.trim_end()));
        // Tags given with --tag are not in the text: say them.
        let in_text = crate::model::tags::in_text(&e.content);
        let extra: Vec<String> = e
            .tags
            .iter()
            .filter(|t| !in_text.contains(t))
            .map(|t| format!("#{t}"))
            .collect();
        if !extra.is_empty() {
            out.push_str(&format!("\nTags: {}\n", extra.join(" ")));
        }
        for m in &e.mirrorbacks {
            out.push('\n');
            for line in m.trim_end().lines() {
                out.push_str(&format!("> {line}\n"));
            }
        }
    }
    out
}
