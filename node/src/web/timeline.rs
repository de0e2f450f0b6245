//! The timeline: entries by local day, a page at a time (one range read of
//! the time index, so a page five years back costs what the newest does),
//! with full-text search (matched words marked) and filters by tag, thread
//! and date.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::get;
use maud::html;
use serde::Deserialize;

use super::App;
use super::journal::{PAGE, from, threads};
use super::layout::{self, day, failed, page, when};
use crate::cli::{Command, FilterArgs};
use crate::model::Reflection;

pub fn routes() -> Router<Arc<App>> {
    Router::new().route("/timeline", get(timeline))
}

#[derive(Deserialize, Default)]
struct Filters {
    #[serde(default)]
    q: String,
    #[serde(default)]
    tag: String,
    #[serde(default)]
    thread: String,
    #[serde(default)]
    since: String,
    /// Exclusive upper bound: the time of the last entry on the page before.
    #[serde(default)]
    until: String,
}

fn opt(s: &str) -> Option<String> {
    Some(s.trim().to_string()).filter(|s| !s.is_empty())
}

async fn timeline(State(app): State<Arc<App>>, Query(f): Query<Filters>) -> Response {
    let filters = FilterArgs {
        thread: opt(&f.thread),
        tag: opt(&f.tag),
        since: opt(&f.since),
        until: opt(&f.until),
        limit: PAGE,
        ..Default::default()
    };
    let searching = opt(&f.q).is_some();
    let cmd = if searching {
        Command::Search {
            query: vec![f.q.clone()],
            filters,
        }
    } else {
        Command::List(crate::cli::ListArgs {
            filters,
            oldest_first: false,
        })
    };
    let out = match app.worker.run(cmd).await {
        Ok(out) => out,
        Err(e) => return failed(e),
    };
    let found: Vec<Reflection> = from(&out.json["reflections"]);
    let snippets: Vec<String> = out.json["matches"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| layout::text(&m["snippet"]))
        .collect();
    let threads = threads(&app).await;
    // Older: the same filters, before the last entry shown.
    let older = (found.len() == PAGE).then(|| {
        let last = found
            .last()
            .map(|r| r.created_at.to_string())
            .unwrap_or_default();
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("q", &f.q),
            ("tag", &f.tag),
            ("thread", &f.thread),
            ("since", &f.since),
        ] {
            if !v.is_empty() {
                q.append_pair(k, v);
            }
        }
        q.append_pair("until", &last);
        format!("/timeline?{}", q.finish())
    });
    let mut days: Vec<(String, Vec<(usize, &Reflection)>)> = Vec::new();
    for (i, r) in found.iter().enumerate() {
        let d = day(r.created_at);
        match days.last_mut() {
            Some((last, rows)) if *last == d => rows.push((i, r)),
            _ => days.push((d, vec![(i, r)])),
        }
    }
    page(
        if searching { "Search" } else { "Timeline" },
        "/timeline",
        html! {
            form.filters method="get" action="/timeline" role="search" {
                label { "Search " input type="search" name="q" value=(f.q); }
                label { "Tag " input type="text" name="tag" value=(f.tag) size="10"; }
                label { "Thread "
                    select name="thread" {
                        option value="" { "any" }
                        @for t in &threads {
                            option value=(t.id) selected[f.thread == t.id.to_string()] { (t.title) }
                        }
                    }
                }
                label { "Since " input type="date" name="since" value=(f.since); }
                button type="submit" { "Show" }
            }
            @if found.is_empty() {
                p #empty { @if searching { "Nothing found." } @else { "No entries here yet. " a href="/" { "Write one" } } }
            }
            @for (d, rows) in &days {
                section.day aria-label=(d) {
                    h2 { (d) }
                    ul.entries {
                        @for (i, r) in rows {
                            li {
                                a href={ "/entry/" (r.id) } {
                                    span.time { (when(r.created_at).get(11..).unwrap_or("")) }
                                    " "
                                    @if let Some(s) = snippets.get(*i) {
                                        span.snippet { (layout::highlight(s)) }
                                    } @else {
                                        span.snippet { (crate::cli::escape(&excerpt(&r.content))) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if let Some(older) = older { p { a rel="next" href=(older) { "Older entries" } } }
        },
    )
}

fn excerpt(text: &str) -> String {
    let one: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one.chars().count() > 160 {
        one.chars().take(160).chain("…".chars()).collect()
    } else {
        one
    }
}
