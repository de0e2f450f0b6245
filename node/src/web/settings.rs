//! Settings and privacy: the engine (and a connection test), consent per
//! category, what left the node (the telemetry log), export as a download,
//! and import (an uploaded bundle or one named by its path) with a preview
//! first.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Form, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use maud::html;
use serde::Deserialize;

use super::layout::{button, csrf, failed, page, see, text, tree};
use super::worker::Failed;
use super::{App, guard};
use crate::cli::{Command, ConfigCommand, ConsentCommand};
use crate::model::{ConsentCategory, EngineMode};

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/settings", get(settings))
        .route("/settings/engine", post(set_engine))
        .route("/settings/set", post(set_value))
        .route("/settings/test", post(test_engine))
        .route("/consent", post(consent))
        .route("/export", post(export))
        .route("/import", post(import))
        .route(guard::UPLOAD, post(upload))
}

async fn settings(State(app): State<Arc<App>>) -> Response {
    let (config, consent, history, egress, log) = (
        app.worker.run(Command::Config(ConfigCommand::Show)).await,
        app.worker.run(Command::Consent(ConsentCommand::Show)).await,
        app.worker
            .run(Command::Consent(ConsentCommand::History))
            .await,
        app.worker
            .run(Command::Consent(ConsentCommand::Egress { limit: 50 }))
            .await,
        app.worker
            .run(Command::Telemetry(crate::cli::TelemetryCommand::Log))
            .await,
    );
    let (config, consent) = match (config, consent) {
        (Ok(c), Ok(s)) => (c, s),
        (Err(e), _) | (_, Err(e)) => return failed(e),
    };
    let engine = &config.json["config"]["engine"];
    let mode = text(&engine["mode"]);
    let token = app.csrf();
    page(
        "Settings and privacy",
        "/settings",
        html! {
            section aria-labelledby="engine-h" {
                h2 #engine-h { "Engine" }
                p { "The built-in mirror answers on this machine. A model answers only if you choose one, and one off this machine only with the remote engine consent below." }
                form.inline method="post" action="/settings/engine" {
                    (csrf(token))
                    label { "Answer with "
                        select name="mode" {
                            @for m in EngineMode::ALL {
                                option value=(m.as_str()) selected[m.as_str() == mode] { (label(*m)) }
                            }
                        }
                    }
                    button type="submit" { "Save" }
                }
                (button(token, "/settings/test", "Test the connection", &[]))
                details { summary { "Engine settings" } (tree(engine)) }
                form.inline method="post" action="/settings/set" {
                    (csrf(token))
                    label { "Setting " input type="text" name="key" placeholder="engine.ollama.model" required; }
                    label { "Value " input type="text" name="value" required; }
                    button type="submit" { "Set" }
                }
            }
            section aria-labelledby="consent-h" {
                h2 #consent-h { "Consent" }
                p { "Nothing in a category leaves this node until you grant it; an import or a peer never grants it." }
                table #consent {
                    thead { tr { th { "Category" } th { "What it lets leave" } th { "Now" } th { "Decided" } th { "Change" } } }
                    tbody {
                        @for row in consent.json["consent"].as_array().into_iter().flatten() {
                            @let name = text(&row["category"]);
                            @let granted = row["granted"].as_bool().unwrap_or(false);
                            tr {
                                td { (name.replace('_', " ")) }
                                td { (describe(&name)) }
                                td.state { @if granted { "granted" } @else { "off" } }
                                td { (at(&row["setting"]["updated_at"])) }
                                td { (button(token, "/consent", if granted { "Revoke" } else { "Grant" },
                                    &[("category", &name), ("grant", if granted { "no" } else { "yes" })])) }
                            }
                        }
                    }
                }
            }
            details #consent-history {
                summary { "Every consent decision" }
                @match &history {
                    Ok(out) => {
                        @let changes = out.json["changes"].as_array().cloned().unwrap_or_default();
                        @if changes.is_empty() { p { "None yet: every category is off." } }
                        ul { @for c in &changes {
                            li { (at(&c["at"])) " · " (text(&c["category"]).replace('_', " ")) " "
                                @if c["granted"] == true { "granted" } @else { "revoked" } }
                        } }
                    }
                    Err(e) => p { (e.message) },
                }
            }
            section aria-labelledby="egress-h" {
                h2 #egress-h { "What left this node" }
                @match &egress {
                    Ok(out) => {
                        @let sent = out.json["egress"].as_array().cloned().unwrap_or_default();
                        @if sent.is_empty() { p #egress { "Nothing has left this node." } } @else {
                            table #egress {
                                thead { tr { th { "When" } th { "What" } th { "To" } th { "Bytes" } } }
                                tbody { @for e in &sent {
                                    tr { td { (at(&e["at"])) } td { (text(&e["kind"])) ": " (text(&e["summary"])) }
                                         td { (text(&e["destination"])) } td { (text(&e["bytes"])) } }
                                } }
                            }
                        }
                    }
                    Err(e) => p { (e.message) },
                }
                details { summary { "Telemetry packets" }
                    @match &log { Ok(out) => (tree(&out.json)), Err(e) => p { (e.message) } }
                }
            }
            section aria-labelledby="export-h" {
                h2 #export-h { "Export" }
                p { "Everything, as one open bundle (.tar.gz) you can import elsewhere. Secret keys are not in it." }
                (button(token, "/export", "Download a bundle", &[]))
            }
            section aria-labelledby="import-h" {
                h2 #import-h { "Import" }
                p { "A bundle from " code { "mirror export" } ". It is verified whole first; the preview changes nothing. An import never grants consent, enables an integration, or changes settings, engine endpoints or keys." }
                form method="post" action=(guard::UPLOAD) enctype="multipart/form-data" {
                    (csrf(token))
                    label { "Bundle to upload " input type="file" name="bundle" accept=".gz,.tar.gz,application/gzip" required; }
                    button type="submit" { "Preview the upload" }
                }
                form method="post" action="/import" {
                    (csrf(token))
                    label { "Or a bundle file on this machine " input type="text" name="path" required size="40"; }
                    input type="hidden" name="apply" value="no";
                    button type="submit" { "Preview" }
                }
            }
        },
    )
}

/// A stored time (RFC 3339) in the person's zone.
fn at(v: &serde_json::Value) -> String {
    text(v)
        .parse::<crate::model::Timestamp>()
        .map(crate::cli::when)
        .unwrap_or_else(|_| text(v))
}

/// A bundle's manifest without its list of files (one per record at
/// most: 100,000 lines for a large journal), which it counts instead.
fn summary(manifest: &serde_json::Value) -> serde_json::Value {
    let mut m = manifest.clone();
    if let Some(obj) = m.as_object_mut()
        && let Some(files) = obj.remove("files")
    {
        obj.insert(
            "files".into(),
            serde_json::json!(files.as_array().map_or(0, Vec::len)),
        );
    }
    m
}

fn label(m: EngineMode) -> &'static str {
    match m {
        EngineMode::Manual => "the built-in mirror",
        EngineMode::Ollama => "Ollama (on this machine)",
        EngineMode::Anthropic => "Anthropic",
        EngineMode::OpenAi => "an OpenAI-compatible server",
    }
}

fn describe(name: &str) -> &'static str {
    ConsentCategory::ALL
        .iter()
        .find(|c| c.as_str() == name)
        .map_or("", |c| c.describe())
}

#[derive(Deserialize)]
struct Mode {
    mode: String,
}

async fn set_engine(State(app): State<Arc<App>>, Form(m): Form<Mode>) -> Response {
    let cmd = Command::Config(ConfigCommand::Set {
        key: "engine.mode".into(),
        value: m.mode,
    });
    match app.worker.run(cmd).await {
        Ok(_) => see("/settings"),
        Err(e) => failed(e),
    }
}

#[derive(Deserialize)]
struct Setting {
    key: String,
    value: String,
}

/// Any setting, as `mirror config set KEY VALUE` takes it (and checks it).
async fn set_value(State(app): State<Arc<App>>, Form(v): Form<Setting>) -> Response {
    let cmd = Command::Config(ConfigCommand::Set {
        key: v.key,
        value: v.value,
    });
    match app.worker.run(cmd).await {
        Ok(_) => see("/settings"),
        Err(e) => failed(e),
    }
}

async fn test_engine(State(app): State<Arc<App>>) -> Response {
    let outcome = app.worker.run(Command::Config(ConfigCommand::Test)).await;
    page(
        "Connection test",
        "/settings",
        html! {
            @match outcome {
                Ok(out) => p #test-result role="status" { (text(&out.json["message"])) },
                Err(e) => p.error #test-result role="alert" { (e.message) },
            }
            p { a href="/settings" { "Back to settings" } }
        },
    )
}

#[derive(Deserialize)]
struct Consent {
    category: String,
    grant: String,
}

async fn consent(State(app): State<Arc<App>>, Form(c): Form<Consent>) -> Response {
    let Some(category) = ConsentCategory::ALL
        .iter()
        .copied()
        .find(|x| x.as_str() == c.category)
    else {
        return failed(Failed {
            message: format!("no consent category {:?}", c.category),
            usage: true,
        });
    };
    let cmd = if c.grant == "yes" {
        ConsentCommand::Grant { category }
    } else {
        ConsentCommand::Revoke { category }
    };
    match app.worker.run(Command::Consent(cmd)).await {
        Ok(_) => see("/settings"),
        Err(e) => failed(e),
    }
}

/// The bundle is written by `mirror export` into a private temporary
/// directory, sent, and removed.
async fn export(State(app): State<Arc<App>>) -> Response {
    let Ok(dir) = tempfile::tempdir() else {
        return failed(Failed {
            message: "no temporary directory for the bundle".into(),
            usage: false,
        });
    };
    let name = crate::bundle::default_file_name(crate::model::Timestamp::now());
    let path = dir.path().join(&name);
    let cmd = Command::Export {
        out: Some(path.clone()),
        include_keys: false,
        format: "bundle".into(),
        since: None,
        until: None,
    };
    if let Err(e) = app.worker.run(cmd).await {
        return failed(e);
    }
    match tokio::fs::read(&path).await {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, "application/gzip".to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{name}\""),
                ),
            ],
            bytes,
        )
            .into_response(),
        Err(e) => failed(Failed {
            message: format!("reading the bundle: {e}"),
            usage: false,
        }),
    }
}

#[derive(Deserialize)]
struct Import {
    path: String,
    apply: String,
}

async fn import(State(app): State<Arc<App>>, Form(i): Form<Import>) -> Response {
    let apply = i.apply == "yes";
    let answer = import_page(&app, &i.path, apply).await;
    if apply {
        // An uploaded bundle, once imported, is not kept.
        let mut upload = app.upload.lock().unwrap_or_else(|e| e.into_inner());
        if upload
            .as_ref()
            .is_some_and(|p| p.to_str() == Some(i.path.as_str()))
        {
            *upload = None;
        }
    }
    answer
}

/// A bundle uploaded from the settings page: written to a private file in
/// the node's home (replacing, and so deleting, an earlier upload), then
/// previewed as a bundle named by its path is; its "Import it" imports
/// that file.
async fn upload(State(app): State<Arc<App>>, request: axum::extract::Request) -> Response {
    let refused = |message: &str| {
        failed(Failed {
            message: message.to_string(),
            usage: true,
        })
    };
    let Some(boundary) = guard::multipart_boundary(request.headers()) else {
        return refused("send the bundle as a file from the settings page");
    };
    let Ok(bytes) = axum::body::to_bytes(request.into_body(), guard::MAX_UPLOAD).await else {
        return refused("that bundle is larger than an upload may be: import it by its path");
    };
    let path = match save_upload(&app, bytes, boundary).await {
        Ok(path) => path,
        Err(message) => return refused(&message),
    };
    import_page(&app, &path, false).await
}

/// Write the form's `bundle` field to a new private file (0600, in the
/// node's home) and keep it as this run's upload; its path.
async fn save_upload(app: &App, bytes: Bytes, boundary: String) -> Result<String, String> {
    use std::io::Write as _;
    let mut fields = guard::multipart(bytes, boundary);
    while let Some(mut field) = fields.next_field().await.map_err(|e| e.to_string())? {
        if field.name() != Some("bundle") {
            continue;
        }
        let mut file = tempfile::Builder::new()
            .prefix(".upload-")
            .suffix(".tar.gz")
            .tempfile_in(app.home.dir())
            .map_err(|e| format!("keeping the upload: {e}"))?;
        let mut size = 0;
        while let Some(chunk) = field.chunk().await.map_err(|e| e.to_string())? {
            size += chunk.len();
            file.write_all(&chunk)
                .map_err(|e| format!("keeping the upload: {e}"))?;
        }
        if size == 0 {
            return Err("no bundle was chosen (or it is empty)".into());
        }
        let path = file.into_temp_path();
        let shown = path
            .to_str()
            .ok_or("the node's home is not a UTF-8 path")?
            .to_string();
        *app.upload.lock().unwrap_or_else(|e| e.into_inner()) = Some(path);
        return Ok(shown);
    }
    Err("no bundle was chosen".into())
}

/// Verify (`apply` false: the preview) or import the bundle at `path`, as
/// `mirror import [--dry-run] PATH` does, and show what it did.
async fn import_page(app: &App, path: &str, apply: bool) -> Response {
    let cmd = Command::Import {
        file: path.into(),
        from: "bundle".into(),
        dry_run: !apply,
        restore_config: false,
        yes: false,
        restore_deleted: false,
    };
    let out = match app.worker.run(cmd).await {
        Ok(out) => out,
        Err(e) => return failed(e),
    };
    let token = app.csrf();
    page(
        if apply { "Imported" } else { "Import preview" },
        "/settings",
        html! {
            @if apply {
                p role="status" { (out.human) }
            } @else {
                p { "This bundle is valid. Importing it would add the records below that this node does not hold yet, and update ones it holds in an older form." }
                (tree(&summary(&out.json["manifest"])))
                h2 { "What an import never changes" }
                ul {
                    li { "Consent: every category stays as you set it." }
                    li { "Settings and engine endpoints: the bundle's config.toml is not applied here (the CLI's --restore-config does that, after showing it)." }
                    li { "Entries you deleted here stay deleted." }
                }
                @if !out.json["config"].is_null() {
                    details { summary { "The bundle's settings (not applied)" } pre { (text(&out.json["config"])) } }
                }
                form method="post" action="/import" {
                    (csrf(token))
                    input type="hidden" name="path" value=(path);
                    input type="hidden" name="apply" value="yes";
                    button type="submit" { "Import it" }
                }
            }
            p { a href="/settings" { "Back to settings" } }
        },
    )
}
