//! Looking back: what was written on this day before, entries per week,
//! and the patterns and tensions noticed over time, as SVG charts drawn on
//! the server (with the numbers in text beside them).

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use maud::{Markup, html};
use serde_json::Value;

use super::App;
use super::layout::{failed, page, text, when};
use crate::cli::Command;
use crate::model::Reflection;

pub fn routes() -> Router<Arc<App>> {
    Router::new().route("/lookback", get(lookback))
}

/// Bars for `(label, count)` pairs, oldest first.
fn bars(title: &str, rows: &[(String, u64)]) -> Markup {
    const W: f64 = 640.0;
    const H: f64 = 140.0;
    let max = rows.iter().map(|r| r.1).max().unwrap_or(0).max(1) as f64;
    let step = W / rows.len().max(1) as f64;
    let total: u64 = rows.iter().map(|r| r.1).sum();
    html! {
        figure {
            svg.chart viewBox={ "0 0 " (W) " " (H + 20.0) } role="img"
                aria-label={ (title) ": " (total) " in " (rows.len()) " weeks" } {
                @for (i, (label, n)) in rows.iter().enumerate() {
                    @let h = (*n as f64) / max * (H - 10.0);
                    rect x=(format!("{:.1}", step * i as f64 + 2.0)) y=(format!("{:.1}", H - h))
                        width=(format!("{:.1}", (step - 4.0).max(1.0))) height=(format!("{h:.1}")) fill="#2f5d8a" {
                        title { (label) ": " (n) }
                    }
                }
                @if let (Some(first), Some(last)) = (rows.first(), rows.last()) {
                    text x="0" y=(H + 16.0) font-size="12" fill="#222" { (first.0) }
                    text x=(W) y=(H + 16.0) font-size="12" text-anchor="end" fill="#222" { (last.0) }
                }
            }
            figcaption { (title) " (" (total) " in all)" }
        }
    }
}

fn series(v: &Value) -> Vec<(String, u64)> {
    v.as_object()
        .map(|m| {
            m.iter()
                .map(|(k, n)| (k.clone(), n.as_u64().unwrap_or(0)))
                .collect()
        })
        .unwrap_or_default()
}

/// A per-week count that lists only weeks with something, laid over every
/// week of the period (so charts share one time axis).
fn on_weeks(weeks: &[(String, u64)], v: &Value) -> Vec<(String, u64)> {
    weeks
        .iter()
        .map(|(week, _)| (week.clone(), v[week].as_u64().unwrap_or(0)))
        .collect()
}

async fn lookback(State(app): State<Arc<App>>) -> Response {
    let day = app.worker.run(Command::OnThisDay).await;
    let ins = app.worker.run(Command::Insights { since: None }).await;
    let (day, ins) = match (day, ins) {
        (Ok(d), Ok(i)) => (d, i),
        (Err(e), _) | (_, Err(e)) => return failed(e),
    };
    let i = &ins.json["insights"];
    let weeks = series(&i["per_week"]);
    let patterns = i["patterns"].as_object().cloned().unwrap_or_default();
    let tensions = i["tensions"].as_object().cloned().unwrap_or_default();
    page(
        "Looking back",
        "/lookback",
        html! {
            section aria-labelledby="otd-h" {
                h2 #otd-h { "On this day" }
                @let days = day.json["days"].as_array().cloned().unwrap_or_default();
                @if days.is_empty() { p { "Nothing written on this day before, nor a month ago." } }
                @for d in &days {
                    h3 { (text(&d["label"])) " (" (text(&d["date"])) ")" }
                    ul.entries {
                        @for r in serde_json::from_value::<Vec<Reflection>>(d["reflections"].clone()).unwrap_or_default() {
                            li { a href={ "/entry/" (r.id) } { (when(r.created_at)) } " " (r.content.chars().take(120).collect::<String>()) }
                        }
                    }
                }
            }
            section aria-labelledby="weeks-h" {
                h2 #weeks-h { "Entries per week" }
                p { (text(&i["entries"])) " entries, " (text(&i["words"])) " words on " (text(&i["days_written"]))
                    " days since " (text(&i["since"])) "; current streak " (text(&i["current_streak_days"]))
                    " days, longest " (text(&i["longest_streak_days"])) "." }
                (bars("Entries per week", &weeks))
            }
            @if !patterns.is_empty() {
                section aria-labelledby="pat-h" {
                    h2 #pat-h { "Patterns over time" }
                    @for (name, by_week) in &patterns { (bars(&name.replace('_', " "), &on_weeks(&weeks, by_week))) }
                }
            }
            @if !tensions.is_empty() {
                section aria-labelledby="ten-h" {
                    h2 #ten-h { "Tensions over time" }
                    @for (name, by_week) in &tensions { (bars(name, &on_weeks(&weeks, by_week))) }
                }
            }
        },
    )
}
