//! Threads (create, add, archive; a thread as a timeline) and tensions (the
//! map, one tension's movement, suggestions to accept or dismiss).
//!
//! The map is SVG drawn on the server: each tension is a line between its
//! two poles with a dot where the person stands, its size the intensity.
//! Every dot is a link (reachable with Tab, named for screen readers), and
//! the same facts are in the list under it.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Form, Path, State};
use axum::response::Response;
use axum::routing::{get, post};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::Value;

use super::App;
use super::layout::{self, button, csrf, day, failed, page, see, when};
use crate::cli::{Command, TensionCommand, ThreadCommand};
use crate::model::{Reflection, Tension, TensionEvidence, Thread};

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/threads", get(threads))
        .route("/threads/new", post(new_thread))
        .route("/thread/{id}", get(thread))
        .route("/thread/{id}/{act}", post(thread_status))
        .route("/tensions", get(tensions))
        .route("/tensions/new", post(new_tension))
        .route("/tension/{id}", get(tension))
        .route("/tension/{id}/position", post(position))
        .route("/suggestion/{id}/{act}", post(suggestion_act))
}

async fn threads(State(app): State<Arc<App>>) -> Response {
    let out = match app
        .worker
        .run(Command::Thread(ThreadCommand::List { status: None }))
        .await
    {
        Ok(out) => out,
        Err(e) => return failed(e),
    };
    let rows = out.json["threads"].as_array().cloned().unwrap_or_default();
    page(
        "Threads",
        "/threads",
        html! {
            form.inline method="post" action="/threads/new" {
                (csrf(app.csrf()))
                label { "New thread " input type="text" name="title" required maxlength="200"; }
                button type="submit" { "Start" }
            }
            @if rows.is_empty() { p { "No threads yet. A thread gathers entries about one thing." } }
            ul.entries {
                @for row in &rows {
                    @if let Ok(t) = serde_json::from_value::<Thread>(row["thread"].clone()) {
                        li {
                            a href={ "/thread/" (t.id) } { (t.title) }
                            " · " (t.status.as_str()) " · " (layout::text(&row["reflections"])) " entries · last "
                            (day(t.last_active))
                        }
                    }
                }
            }
        },
    )
}

#[derive(Deserialize)]
struct Title {
    title: String,
}

async fn new_thread(State(app): State<Arc<App>>, Form(t): Form<Title>) -> Response {
    match app
        .worker
        .run(Command::Thread(ThreadCommand::New { title: t.title }))
        .await
    {
        Ok(out) => see(&format!(
            "/thread/{}",
            layout::text(&out.json["thread"]["id"])
        )),
        Err(e) => failed(e),
    }
}

async fn thread(State(app): State<Arc<App>>, Path(id): Path<String>) -> Response {
    let out = match app
        .worker
        .run(Command::Thread(ThreadCommand::Show { id }))
        .await
    {
        Ok(out) => out,
        Err(e) => return failed(e),
    };
    let Ok(t) = serde_json::from_value::<Thread>(out.json["thread"].clone()) else {
        return see("/threads");
    };
    let entries: Vec<Reflection> =
        serde_json::from_value(out.json["reflections"].clone()).unwrap_or_default();
    let base = format!("/thread/{}", t.id);
    page(
        &t.title,
        "/threads",
        html! {
            p.meta { (t.status.as_str()) " · started " (day(t.started_at)) }
            @if t.status.as_str() == "active" {
                (button(app.csrf(), &format!("{base}/archive"), "Archive", &[]))
                (button(app.csrf(), &format!("{base}/pause"), "Pause", &[]))
            } @else {
                (button(app.csrf(), &format!("{base}/reopen"), "Reopen", &[]))
            }
            @if entries.is_empty() { p { "No entries in it yet: open an entry and add it here." } }
            ul.entries #thread-entries {
                @for r in &entries {
                    li { a href={ "/entry/" (r.id) } { span.time { (when(r.created_at)) } " " (excerpt(&r.content)) } }
                }
            }
        },
    )
}

fn excerpt(text: &str) -> String {
    let one = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one.chars().count() > 120 {
        one.chars().take(120).chain("…".chars()).collect()
    } else {
        one
    }
}

async fn thread_status(
    State(app): State<Arc<App>>,
    Path((id, act)): Path<(String, String)>,
) -> Response {
    let cmd = match act.as_str() {
        "archive" => ThreadCommand::Archive { id: id.clone() },
        "pause" => ThreadCommand::Pause { id: id.clone() },
        _ => ThreadCommand::Reopen { id: id.clone() },
    };
    match app.worker.run(Command::Thread(cmd)).await {
        Ok(_) => see(&format!("/thread/{id}")),
        Err(e) => failed(e),
    }
}

/// One suggested tension with its two buttons (also on the answer page).
pub fn suggestion(app: &App, s: &Value) -> Markup {
    let id = layout::text(&s["id"]);
    html! {
        div.suggestion {
            p { strong { (layout::text(&s["name"])) } ": " (layout::text(&s["axis_a"])) " ↔ " (layout::text(&s["axis_b"])) }
            blockquote { (layout::text(&s["evidence"])) }
            (button(app.csrf(), &format!("/suggestion/{id}/accept"), "Track this tension", &[]))
            (button(app.csrf(), &format!("/suggestion/{id}/dismiss"), "Let it go", &[]))
        }
    }
}

/// The map: one row per tension, poles at the ends, the dot where the
/// person stands (radius by intensity).
fn map(tensions: &[Tension]) -> Markup {
    const W: f64 = 640.0;
    const ROW: f64 = 64.0;
    const PAD: f64 = 120.0;
    let h = ROW * tensions.len().max(1) as f64;
    html! {
        svg.map viewBox={ "0 0 " (W) " " (h) } role="group" aria-label="Tension map" {
            @for (i, t) in tensions.iter().enumerate() {
                @let y = ROW * i as f64 + ROW / 2.0;
                @let x = PAD + (t.position.clamp(-1.0, 1.0) + 1.0) / 2.0 * (W - 2.0 * PAD);
                text x="8" y=(y - 14.0) font-size="13" fill="#333" { (t.name) }
                text x=(PAD - 8.0) y=(y + 5.0) font-size="13" text-anchor="end" fill="#222" { (t.axis_a) }
                text x=(W - PAD + 8.0) y=(y + 5.0) font-size="13" fill="#222" { (t.axis_b) }
                line x1=(PAD) y1=(y) x2=(W - PAD) y2=(y) stroke="#888" stroke-width="2" {}
                a href={ "/tension/" (t.id) }
                    aria-label={ (t.name) ": between " (t.axis_a) " and " (t.axis_b) ", at " (format!("{:+.2}", t.position)) ", intensity " (format!("{:.1}", t.intensity)) } {
                    circle cx=(format!("{x:.1}")) cy=(y) r=(format!("{:.1}", 5.0 + 12.0 * t.intensity.clamp(0.0, 1.0)))
                        fill="#2f5d8a" fill-opacity="0.8" stroke="#123" {}
                }
            }
        }
    }
}

async fn tensions(State(app): State<Arc<App>>) -> Response {
    let list = app.worker.run(Command::Tension(TensionCommand::List)).await;
    let sugg = app
        .worker
        .run(Command::Tension(TensionCommand::Suggestions { all: false }))
        .await;
    let (list, sugg) = match (list, sugg) {
        (Ok(l), Ok(s)) => (l, s),
        (Err(e), _) | (_, Err(e)) => return failed(e),
    };
    let tracked: Vec<Tension> =
        serde_json::from_value(list.json["tensions"].clone()).unwrap_or_default();
    let offered = sugg.json["suggestions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    page(
        "Tensions",
        "/tensions",
        html! {
            @if tracked.is_empty() {
                p { "No tensions tracked yet. Accept one the engine noticed, or name one below." }
            } @else {
                (map(&tracked))
                ul.entries {
                    @for t in &tracked {
                        li { a href={ "/tension/" (t.id) } { (t.name) } ": " (t.axis_a) " ↔ " (t.axis_b)
                            " · position " (format!("{:+.2}", t.position)) " · intensity " (format!("{:.1}", t.intensity)) }
                    }
                }
            }
            @if !offered.is_empty() {
                section #suggestions aria-labelledby="sugg-h" {
                    h2 #sugg-h { "Noticed in your writing" }
                    @for s in &offered { (suggestion(&app, s)) }
                }
            }
            details {
                summary { "Name a tension" }
                form method="post" action="/tensions/new" {
                    (csrf(app.csrf()))
                    label { "Name " input type="text" name="name" required; }
                    label { "One pole " input type="text" name="axis_a" required; }
                    label { "The other pole " input type="text" name="axis_b" required; }
                    button type="submit" { "Track it" }
                }
            }
        },
    )
}

#[derive(Deserialize)]
struct NewTension {
    name: String,
    axis_a: String,
    axis_b: String,
}

async fn new_tension(State(app): State<Arc<App>>, Form(t): Form<NewTension>) -> Response {
    let cmd = TensionCommand::Add {
        name: t.name,
        axis_a: t.axis_a,
        axis_b: t.axis_b,
        position: 0.0,
        intensity: 0.5,
    };
    match app.worker.run(Command::Tension(cmd)).await {
        Ok(_) => see("/tensions"),
        Err(e) => failed(e),
    }
}

/// How a tension moved: its evidence with a position, oldest to newest.
fn movement(t: &Tension, evidence: &[TensionEvidence]) -> Markup {
    let points: Vec<(&TensionEvidence, f64)> = evidence
        .iter()
        .filter_map(|e| e.position.map(|p| (e, p)))
        .collect();
    if points.len() < 2 {
        return html! { p.muted { "Its movement shows here once it has two positions." } };
    }
    const W: f64 = 640.0;
    const H: f64 = 160.0;
    let step = (W - 80.0) / (points.len() - 1) as f64;
    let y = |p: f64| 20.0 + (1.0 - (p.clamp(-1.0, 1.0) + 1.0) / 2.0) * (H - 40.0);
    let path: Vec<String> = points
        .iter()
        .enumerate()
        .map(|(i, (_, p))| format!("{:.1},{:.1}", 40.0 + step * i as f64, y(*p)))
        .collect();
    html! {
        svg.chart viewBox={ "0 0 " (W) " " (H) } role="img"
            aria-label={ "Position over time, from " (day(points[0].0.created_at)) " to " (day(points[points.len()-1].0.created_at)) } {
            text x="4" y="16" font-size="12" fill="#222" { (t.axis_b) }
            text x="4" y=(H - 6.0) font-size="12" fill="#222" { (t.axis_a) }
            polyline points=(path.join(" ")) fill="none" stroke="#2f5d8a" stroke-width="2" {}
        }
    }
}

async fn tension(State(app): State<Arc<App>>, Path(id): Path<String>) -> Response {
    let out = match app
        .worker
        .run(Command::Tension(TensionCommand::Show { id }))
        .await
    {
        Ok(out) => out,
        Err(e) => return failed(e),
    };
    let Ok(t) = serde_json::from_value::<Tension>(out.json["tension"].clone()) else {
        return see("/tensions");
    };
    let mut evidence: Vec<TensionEvidence> =
        serde_json::from_value(out.json["evidence"].clone()).unwrap_or_default();
    evidence.sort_by_key(|e| e.created_at);
    page(
        &t.name,
        "/tensions",
        html! {
            (map(std::slice::from_ref(&t)))
            (movement(&t, &evidence))
            form method="post" action={ "/tension/" (t.id) "/position" } {
                (csrf(app.csrf()))
                label { "Where you stand now (" (t.axis_a) " −1 … 1 " (t.axis_b) ") "
                    input type="number" name="value" min="-1" max="1" step="0.1" value=(t.position) required; }
                button type="submit" { "Record" }
            }
            h2 { "Evidence" }
            ul.entries {
                @for e in evidence.iter().rev() {
                    li { (day(e.created_at)) " · " (e.excerpt)
                        @if let Some(r) = e.reflection_id { " " a href={ "/entry/" (r) } { "entry" } } }
                }
            }
        },
    )
}

#[derive(Deserialize)]
struct Position {
    value: f64,
}

async fn position(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    Form(p): Form<Position>,
) -> Response {
    let cmd = TensionCommand::Position {
        id: id.clone(),
        value: p.value,
        intensity: None,
        reflection: None,
        note: None,
    };
    match app.worker.run(Command::Tension(cmd)).await {
        Ok(_) => see(&format!("/tension/{id}")),
        Err(e) => failed(e),
    }
}

async fn suggestion_act(
    State(app): State<Arc<App>>,
    Path((id, act)): Path<(String, String)>,
) -> Response {
    let cmd = if act == "accept" {
        TensionCommand::Accept { id }
    } else {
        TensionCommand::Dismiss { id }
    };
    match app.worker.run(Command::Tension(cmd)).await {
        Ok(_) => see("/tensions"),
        Err(e) => failed(e),
    }
}
