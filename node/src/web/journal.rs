//! Writing and reading back: the editor, the answer (live or whole), one
//! entry with its mirrorbacks and history; edit, delete, rate, add to a
//! thread. The timeline and search are in `timeline`.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Form, Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::Value;

use super::App;
use super::layout::{self, button, csrf, failed, page, see, when};
use crate::cli::{Command, ReflectArgs};
use crate::model::{
    ContentType, EngineRun, Mirrorback, Reflection, ReflectionRevision as Revision, Thread,
    Visibility,
};

/// Entries per timeline page: one indexed range read of this many.
pub const PAGE: usize = 50;

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/", get(write))
        .route("/reflect", post(reflect))
        .route("/reflect/live", post(reflect_live))
        .route("/entry/{id}", get(entry))
        .route("/entry/{id}/edit", post(edit))
        .route("/entry/{id}/delete", post(delete))
        .route("/entry/{id}/mirrorback", post(mirrorback))
        .route("/entry/{id}/thread", post(add_to_thread))
        .route("/feedback", post(feedback))
}

pub(super) fn from<T: serde::de::DeserializeOwned>(v: &Value) -> Vec<T> {
    serde_json::from_value(v.clone()).unwrap_or_default()
}

/// The threads to offer in a "thread" menu (active ones).
pub(super) async fn threads(app: &App) -> Vec<Thread> {
    let cmd = Command::Thread(crate::cli::ThreadCommand::List {
        status: Some(crate::model::ThreadStatus::Active),
    });
    match app.worker.run(cmd).await {
        Ok(out) => out.json["threads"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|row| serde_json::from_value(row["thread"].clone()).ok())
            .collect(),
        Err(_) => Vec::new(),
    }
}

async fn write(State(app): State<Arc<App>>) -> Response {
    let threads = threads(&app).await;
    page(
        "Write",
        "/",
        html! {
            form.editor method="post" action="/reflect" {
                (csrf(app.csrf()))
                label for="text" { "What is on your mind?" }
                textarea #text name="text" rows="12" required autofocus {}
                div.row {
                    label { "Tags " input type="text" name="tags" placeholder="work, sleep"; }
                    label { "Thread "
                        select name="thread" {
                            option value="" { "none" }
                            @for t in &threads { option value=(t.id) { (t.title) } }
                        }
                    }
                }
                button type="submit" { "Reflect" }
            }
            p.muted { "Nothing leaves this machine unless you allow it in Settings." }
            script src="/static/app.js" defer {}
        },
    )
}

#[derive(Deserialize)]
struct Write {
    text: String,
    #[serde(default)]
    tags: String,
    #[serde(default)]
    thread: String,
}

fn reflect_args(w: Write) -> ReflectArgs {
    ReflectArgs {
        text: vec![w.text.replace("\r\n", "\n")],
        editor: false,
        thread: Some(w.thread).filter(|t| !t.is_empty()),
        visibility: Visibility::LocalOnly,
        content_type: ContentType::PlainText,
        metadata: None,
        at: None,
        engine: None,
        no_mirror: false,
        tags: w
            .tags
            .split([',', ' '])
            .map(|t| t.trim().trim_start_matches('#').to_string())
            .filter(|t| !t.is_empty())
            .collect(),
    }
}

async fn reflect(State(app): State<Arc<App>>, Form(w): Form<Write>) -> Response {
    let args = reflect_args(w);
    match app.worker.run(Command::Reflect(args)).await {
        Ok(out) => page("Your mirrorback", "/", answered(&app, &out.json)),
        Err(f) => failed(f),
    }
}

/// `POST /reflect/live` (from `app.js`): the same reflect, answered as
/// JSON lines while it runs: `{"sentence": …}` for each sentence that
/// passed the checker, `{"erase": true}` when an attempt is taken back,
/// and last `{"done": HTML}`, the answer page's content (rendered and
/// escaped here, as for `/reflect`).
async fn reflect_live(State(app): State<Arc<App>>, Form(w): Form<Write>) -> Response {
    use crate::engine::shown::Shown;
    let (lines, mut out) = tokio::sync::mpsc::unbounded_channel::<String>();
    let sink_lines = lines.clone();
    let sink: crate::cli::LiveSink = Box::new(move |step| {
        let line = match step {
            Shown::Sentence(s) => serde_json::json!({ "sentence": s }),
            Shown::Erase => serde_json::json!({ "erase": true }),
            Shown::Restart => return,
        };
        let _ = sink_lines.send(format!("{line}\n"));
    });
    let args = reflect_args(w);
    tokio::spawn(async move {
        let html = match app
            .worker
            .run_live(Command::Reflect(args), Some(sink))
            .await
        {
            Ok(out) => html! { h1 { "Your mirrorback" } (answered(&app, &out.json)) },
            Err(f) => html! { h1 { "That did not work" } p.error role="alert" { (f.message) } },
        };
        let _ = lines.send(format!(
            "{}\n",
            serde_json::json!({ "done": html.into_string() })
        ));
    });
    let stream = futures::stream::poll_fn(move |cx| {
        out.poll_recv(cx)
            .map(|line| line.map(Ok::<_, std::convert::Infallible>))
    });
    (
        [(axum::http::header::CONTENT_TYPE, "application/x-ndjson")],
        axum::body::Body::from_stream(stream),
    )
        .into_response()
}

/// What `reflect` answered: the mirrorback (or the crisis answer, first and
/// prominent), what was noticed, tensions offered, and the rating form.
fn answered(app: &App, v: &Value) -> Markup {
    let reflection: Option<Reflection> = serde_json::from_value(v["reflection"].clone()).ok();
    let id = reflection
        .as_ref()
        .map(|r| r.id.to_string())
        .unwrap_or_default();
    let crisis = !v["crisis"].is_null();
    let text = layout::text(&v["mirrorback"]["text"]);
    let run = layout::text(&v["engine_run"]["id"]);
    html! {
        @if crisis {
            section.crisis role="alert" aria-labelledby="crisis-h" {
                h2 #crisis-h { "You are not alone with this" }
                p.answer #mirrorback { (text) }
            }
        } @else {
            section aria-labelledby="mb-h" {
                h2 #mb-h { "Mirrorback" }
                p.answer #mirrorback { (text) }
            }
        }
        @if let Some(r) = &reflection {
            details { summary { "What you wrote" } p.entry-text { (r.content) } }
        }
        @let patterns = v["patterns"].as_array().cloned().unwrap_or_default();
        @if !patterns.is_empty() {
            section aria-labelledby="noticed-h" {
                h2 #noticed-h { "Noticed" }
                ul { @for p in &patterns {
                    li { (layout::text(&p["pattern"]).replace('_', " ")) ": “" (layout::text(&p["cue"])) "”" }
                } }
            }
        }
        @let suggestions = v["tension_suggestions"].as_array().cloned().unwrap_or_default();
        @if !suggestions.is_empty() {
            section aria-labelledby="tension-h" {
                h2 #tension-h { "A tension, perhaps" }
                @for s in &suggestions {
                    (super::organize::suggestion(app, s))
                }
            }
        }
        @if !run.is_empty() && !crisis {
            (rating(app, &run, &id))
        }
        p { a href={ "/entry/" (id) } { "Open this entry" } " · " a href="/" { "Write another" } }
    }
}

fn rating(app: &App, run: &str, entry: &str) -> Markup {
    html! {
        form.rating method="post" action="/feedback" {
            (csrf(app.csrf()))
            input type="hidden" name="run" value=(run);
            input type="hidden" name="entry" value=(entry);
            fieldset {
                legend { "Did this mirrorback land? (1 missed, 5 landed)" }
                @for n in 1..=5u8 {
                    label.choice { input type="radio" name="rating" value=(n) required; " " (n) }
                }
                button type="submit" { "Rate" }
            }
        }
    }
}

async fn entry(State(app): State<Arc<App>>, Path(id): Path<String>) -> Response {
    let out = match app
        .worker
        .run(Command::Show {
            id: id.clone(),
            history: true,
        })
        .await
    {
        Ok(out) => out,
        Err(e) => return failed(e),
    };
    let v = &out.json;
    let Ok(r) = serde_json::from_value::<Reflection>(v["reflection"].clone()) else {
        return failed(super::worker::Failed {
            message: "no such entry".into(),
            usage: true,
        });
    };
    let mirrorbacks: Vec<Mirrorback> = from(&v["mirrorbacks"]);
    let runs: Vec<EngineRun> = from(&v["engine_runs"]);
    let in_threads: Vec<Thread> = from(&v["threads"]);
    let revisions: Vec<Revision> = from(&v["revisions"]);
    let tags: Vec<String> = from(&v["tags"]);
    let all_threads = threads(&app).await;
    let base = format!("/entry/{}", r.id);
    let token = app.csrf();
    page(
        &when(r.created_at),
        "/timeline",
        html! {
            p.meta {
                @for t in &in_threads { a.badge href={ "/thread/" (t.id) } { (t.title) } " " }
                @for t in &tags { a.badge href={ "/timeline?tag=" (t) } { "#" (t) } " " }
            }
            p.entry-text #entry-text { (r.content) }
            @for m in &mirrorbacks {
                section.mirrorback aria-label="Mirrorback" {
                    h2 { "Mirrorback" @if m.fell_back { " (built-in, after a fallback)" } }
                    p.answer { (m.text) }
                }
            }
            @if let Some(run) = runs.last() {
                @if !run.patterns.is_empty() {
                    p { "Noticed: " (run.patterns.join(", ").replace('_', " ")) }
                }
                (rating(&app, &run.id.to_string(), &r.id.to_string()))
            }
            (button(token, &format!("{base}/mirrorback"), "Reflect again", &[]))
            form.inline method="post" action={ (base) "/thread" } {
                (csrf(token))
                label { "Add to thread "
                    select name="thread" required {
                        @for t in &all_threads { option value=(t.id) { (t.title) } }
                    }
                }
                button type="submit" { "Add" }
            }
            details {
                summary { "Edit" }
                form method="post" action={ (base) "/edit" } {
                    (csrf(token))
                    label for="edit-text" { "Text" }
                    textarea #edit-text name="text" rows="10" required { (r.content) }
                    button type="submit" { "Save (the earlier text is kept)" }
                }
            }
            details {
                summary { "Delete" }
                p { "This removes the entry, its mirrorbacks and its place in threads. It cannot be undone." }
                (button(token, &format!("{base}/delete"), "Delete this entry", &[]))
            }
            @if !revisions.is_empty() {
                section aria-labelledby="hist-h" {
                    h2 #hist-h { "Earlier texts" }
                    @for rev in revisions.iter().rev() {
                        h3 { "Before " (when(rev.replaced_at)) }
                        p.entry-text { (rev.content) }
                    }
                }
            }
        },
    )
}

#[derive(Deserialize)]
struct Text {
    text: String,
}

async fn edit(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    Form(t): Form<Text>,
) -> Response {
    let cmd = Command::Edit {
        id: id.clone(),
        text: Some(t.text.replace("\r\n", "\n")),
    };
    match app.worker.run(cmd).await {
        Ok(_) => see(&format!("/entry/{id}")),
        Err(e) => failed(e),
    }
}

async fn delete(State(app): State<Arc<App>>, Path(id): Path<String>) -> Response {
    match app.worker.run(Command::Delete { id, yes: true }).await {
        Ok(_) => see("/timeline"),
        Err(e) => failed(e),
    }
}

async fn mirrorback(State(app): State<Arc<App>>, Path(id): Path<String>) -> Response {
    let cmd = Command::Mirrorback { id, engine: None };
    match app.worker.run(cmd).await {
        Ok(out) => page("Your mirrorback", "/timeline", answered(&app, &out.json)),
        Err(e) => failed(e),
    }
}

#[derive(Deserialize)]
struct ThreadPick {
    thread: String,
}

async fn add_to_thread(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    Form(p): Form<ThreadPick>,
) -> Response {
    let cmd = Command::Thread(crate::cli::ThreadCommand::Add {
        thread: p.thread.clone(),
        reflections: vec![id],
    });
    match app.worker.run(cmd).await {
        Ok(_) => see(&format!("/thread/{}", p.thread)),
        Err(e) => failed(e),
    }
}

#[derive(Deserialize)]
struct Rating {
    run: String,
    entry: String,
    rating: u8,
}

async fn feedback(State(app): State<Arc<App>>, Form(r): Form<Rating>) -> Response {
    let cmd = Command::Feedback {
        run: r.run,
        rating: r.rating,
        flags: Vec::new(),
        note: None,
    };
    match app.worker.run(cmd).await {
        Ok(_) => see(&format!("/entry/{}", r.entry)),
        Err(e) => failed(e),
    }
}
