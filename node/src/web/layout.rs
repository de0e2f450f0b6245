//! The page around every page: head, navigation, and small helpers shared
//! by the pages. maud escapes every value put into markup, so text a
//! person wrote (or a bundle or a model brought) is never read as HTML.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::{DOCTYPE, Markup, html};

use super::worker::Failed;
use crate::model::Timestamp;

/// The sections, in navigation order: (path, label).
const NAV: [(&str, &str); 7] = [
    ("/", "Write"),
    ("/timeline", "Timeline"),
    ("/threads", "Threads"),
    ("/tensions", "Tensions"),
    ("/lookback", "Looking back"),
    ("/settings", "Settings"),
    ("/commons", "Commons"),
];

/// A whole page: `active` is the navigation entry it belongs to.
pub fn page(title: &str, active: &str, body: Markup) -> Response {
    Html(
        html! {
            (DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { (title) " · Mirror" }
                    link rel="stylesheet" href="/static/style.css";
                }
                body {
                    a.skip href="#main" { "Skip to content" }
                    header {
                        nav aria-label="Sections" {
                            ul {
                                @for (path, label) in NAV {
                                    li {
                                        @if path == active {
                                            a href=(path) aria-current="page" { (label) }
                                        } @else {
                                            a href=(path) { (label) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                    main #main {
                        h1 { (title) }
                        (body)
                    }
                }
            }
        }
        .into_string(),
    )
    .into_response()
}

/// A page with only a message (refusals, before a session exists).
pub fn bare(title: &str, message: &str) -> Html<String> {
    Html(
        html! {
            (DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { (title) " · Mirror" }
                }
                body { main { h1 { (title) } p { (message) } } }
            }
        }
        .into_string(),
    )
}

/// A command that failed: the CLI's line, and a way back.
pub fn failed(f: Failed) -> Response {
    let status = if f.usage {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    };
    let body = html! {
        p.error role="alert" { (f.message) }
        p { a href="/timeline" { "Timeline" } " · " a href="/" { "Write" } }
    };
    (status, page("That did not work", "", body)).into_response()
}

/// After a change: on to the page that shows it (303, so a reload does not
/// post again).
pub fn see(path: &str) -> Response {
    Redirect::to(path).into_response()
}

/// The hidden CSRF field every form carries.
pub fn csrf(token: &str) -> Markup {
    html! { input type="hidden" name="csrf" value=(token); }
}

/// A small form with one button that posts to `action`.
pub fn button(token: &str, action: &str, label: &str, fields: &[(&str, &str)]) -> Markup {
    html! {
        form.inline method="post" action=(action) {
            (csrf(token))
            @for (name, value) in fields { input type="hidden" name=(name) value=(value); }
            button type="submit" { (label) }
        }
    }
}

/// `2026-11-24 21:30` in the person's zone.
pub fn when(t: Timestamp) -> String {
    crate::cli::when(t)
}

/// The local day of a time, `2026-11-24`.
pub fn day(t: Timestamp) -> String {
    when(t).chars().take(10).collect()
}

/// A value from a command's JSON as text ("" when absent).
pub fn text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Any JSON value as nested lists: for command answers whose every field
/// is worth showing as it is (status, settings, tallies).
pub fn tree(v: &serde_json::Value) -> Markup {
    use serde_json::Value;
    match v {
        Value::Object(map) if map.is_empty() => html! { span.muted { "none" } },
        Value::Object(map) => html! {
            dl.tree {
                @for (k, v) in map {
                    dt { (k.replace('_', " ")) }
                    dd { (tree(v)) }
                }
            }
        },
        Value::Array(items) if items.is_empty() => html! { span.muted { "none" } },
        Value::Array(items) => html! { ul.tree { @for v in items { li { (tree(v)) } } } },
        Value::Null => html! { span.muted { "—" } },
        other => html! { (text(other)) },
    }
}

/// A search snippet (the store marks each matched word `**word**`) with
/// those words in `<mark>`. The pieces are escaped by maud; only the
/// `<mark>` tags are markup.
pub fn highlight(snippet: &str) -> Markup {
    html! {
        @for (i, piece) in snippet.split("**").enumerate() {
            @if i % 2 == 1 { mark { (crate::cli::escape(piece)) } } @else { (crate::cli::escape(piece)) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn highlighting_escapes_the_text_around_the_marks() {
        let out = highlight("<b>**heron**</b> flew").into_string();
        assert_eq!(out, "&lt;b&gt;<mark>heron</mark>&lt;/b&gt; flew");
    }
}
