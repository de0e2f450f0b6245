//! The commons: status and peers, proposals (text, state, live tally) and
//! votes, guardian signing (the node signs; its key never leaves it),
//! releases in force, apply and roll back, and the telemetry aggregate.
//! Every action is the CLI's governance command, run on this node.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use maud::html;
use mirror_governance::payload::{Choice, SignaturePurpose};
use serde::Deserialize;

use super::App;
use super::layout::{button, csrf, failed, page, see, text, tree, when};
use super::worker::Failed;
use crate::cli::{Command, CommonsCommand, GuardianCommand, ProposalCommand, ReleaseCommand};

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/commons", get(commons))
        .route("/proposal/{id}", get(proposal))
        .route("/proposal/{id}/vote", post(vote))
        .route("/proposal/{id}/sign", post(sign_amendment))
        .route("/release/{act}", post(release))
        .route("/candidate/{id}/{act}", post(candidate))
        .route("/commons/join", post(join))
        .route("/member/attest", post(attest))
}

async fn commons(State(app): State<Arc<App>>) -> Response {
    let w = &app.worker;
    let status = w.run(Command::Commons(CommonsCommand::Status)).await;
    let peers = w.run(Command::Commons(CommonsCommand::Peers)).await;
    let proposals = w.run(Command::Proposal(ProposalCommand::List)).await;
    let releases = w.run(Command::Release(ReleaseCommand::List)).await;
    let pending = w.run(Command::Release(ReleaseCommand::Pending)).await;
    let telemetry = w
        .run(Command::Commons(CommonsCommand::Telemetry { period: None }))
        .await;
    let status = match status {
        Ok(s) => s,
        Err(e) => return failed(e),
    };
    let token = app.csrf();
    page(
        "Commons",
        "/commons",
        html! {
            section aria-labelledby="status-h" {
                h2 #status-h { "Status" }
                (tree(&status.json))
                h3 { "Peers" }
                @match &peers { Ok(p) => (tree(&p.json)), Err(e) => p.muted { (e.message) } }
            }
            details {
                summary { "Join a commons, admit a member" }
                form method="post" action="/commons/join" {
                    (csrf(token))
                    label { "Genesis file of the commons to join " input type="text" name="file" required size="40"; }
                    button type="submit" { "Join" }
                }
                form method="post" action="/member/attest" {
                    (csrf(token))
                    label { "Guardians: a member's public key to admit " input type="text" name="key" required size="40"; }
                    button type="submit" { "Admit" }
                }
            }
            section aria-labelledby="prop-h" {
                h2 #prop-h { "Proposals" }
                @match &proposals {
                    Ok(p) => {
                        @let rows = p.json["proposals"].as_array().cloned().unwrap_or_default();
                        @if rows.is_empty() { p { "No proposals." } }
                        ul.entries #proposals {
                            @for s in &rows {
                                li {
                                    a href={ "/proposal/" (text(&s["id"])) } { (text(&s["proposal"]["title"])) }
                                    " · " span.state { (text(&s["state"])) }
                                }
                            }
                        }
                    }
                    Err(e) => p.muted { (e.message) },
                }
            }
            section aria-labelledby="cand-h" {
                h2 #cand-h { "Release candidates" }
                @match &pending {
                    Ok(p) => (candidates(token, &p.json)),
                    Err(e) => p.muted { (e.message) },
                }
            }
            section aria-labelledby="rel-h" {
                h2 #rel-h { "Releases" }
                @match &releases {
                    Ok(r) => { (tree(&r.json["releases"])) p { "In force: " (tree(&r.json["applied"])) } }
                    Err(e) => p.muted { (e.message) },
                }
                (button(token, "/release/apply", "Apply the newest verified release", &[]))
                (button(token, "/release/rollback", "Roll back to the pack before", &[]))
                details {
                    summary { "Guardians: build and sign a release" }
                    p { "The node signs with its own key; the key never leaves it. A release needs the commons' number of guardian signatures: propose it to the commons as a candidate (signed here), and the other guardians sign it under Release candidates; or pass the file to them, then publish it." }
                    (button(token, "/release/build", "Build the next release from approved proposals", &[]))
                    (button(token, "/release/propose", "Propose the built release as a candidate", &[]))
                    form method="post" action="/release/sign" {
                        (csrf(token))
                        label { "Release file to sign " input type="text" name="file" required size="40"; }
                        button type="submit" { "Sign it" }
                    }
                    form method="post" action="/release/publish" {
                        (csrf(token))
                        label { "Signed release file to publish " input type="text" name="file" required size="40"; }
                        button type="submit" { "Publish it" }
                    }
                }
            }
            section aria-labelledby="tel-h" {
                h2 #tel-h { "Telemetry across the commons" }
                @match &telemetry { Ok(t) => (tree(&t.json)), Err(e) => p.muted { (e.message) } }
            }
        },
    )
}

async fn proposal(State(app): State<Arc<App>>, Path(id): Path<String>) -> Response {
    let out = match app
        .worker
        .run(Command::Proposal(ProposalCommand::Show { id: id.clone() }))
        .await
    {
        Ok(o) => o,
        Err(e) => return failed(e),
    };
    let s = &out.json;
    let p = &s["proposal"];
    let voting = text(&s["state"]) == "voting";
    let amendment =
        text(&p["type"]).contains("amendment") || text(&p["proposal_type"]).contains("amendment");
    let token = app.csrf();
    let base = format!("/proposal/{}", text(&s["id"]));
    page(
        &text(&p["title"]),
        "/commons",
        html! {
            p.meta { "State: " strong #state { (text(&s["state"])) } }
            p.entry-text { (text(&p["description"])) }
            @if let Some(tally) = s.get("tally").filter(|t| !t.is_null()) {
                section aria-labelledby="tally-h" { h2 #tally-h { "Tally" } div #tally { (tally_of(tally)) } }
            }
            @if voting {
                form method="post" action={ (base) "/vote" } {
                    (csrf(token))
                    fieldset {
                        legend { "Your vote" }
                        @for c in ["approve", "reject", "abstain"] {
                            label.choice { input type="radio" name="choice" value=(c) required; " " (c) }
                        }
                        button type="submit" { "Vote" }
                    }
                }
            }
            @if amendment {
                (button(token, &format!("{base}/sign"), "Sign this amendment as a guardian", &[]))
            }
            details { summary { "The whole proposal" } (tree(p)) }
            details { summary { "History" } (tree(&s["history"])) }
        },
    )
}

/// Unix milliseconds as a local time.
fn at_ms(v: &serde_json::Value) -> String {
    v.as_i64()
        .and_then(|ms| crate::model::Timestamp::from_micros(ms.saturating_mul(1000)).ok())
        .map(when)
        .unwrap_or_default()
}

/// The live tally, as every node computes it.
fn tally_of(t: &serde_json::Value) -> maud::Markup {
    html! {
        p { "Approve " strong #approve { (text(&t["approve"])) } " · reject " strong { (text(&t["reject"])) }
            " · abstain " strong { (text(&t["abstain"])) } }
        p { "Quorum: " (text(&t["quorum"])) " of " (text(&t["members"])) " members (approve + abstain)"
            @if t["quorum_met"] == true { ", met" } @else { ", not met yet" } "." }
        p { "Voting " @if t["closed"] == true { "closed " } @else { "closes " } (at_ms(&t["window"]["closes"]))
            @if t["closed"] == true { @if t["approved"] == true { ": approved." } @else { ": not approved." } } }
        @if let Some(reasons) = t["reasons"].as_array().filter(|r| !r.is_empty()) {
            ul { @for r in reasons { li { (text(r)) } } }
        }
    }
}

async fn join(State(app): State<Arc<App>>, Form(f): Form<File>) -> Response {
    let cmd = Command::Commons(CommonsCommand::Join {
        file: f.file.into(),
    });
    match app.worker.run(cmd).await {
        Ok(_) => see("/commons"),
        Err(e) => failed(e),
    }
}

#[derive(Deserialize)]
struct Key {
    key: String,
}

async fn attest(State(app): State<Arc<App>>, Form(k): Form<Key>) -> Response {
    let cmd = Command::Member(crate::cli::MemberCommand::Attest {
        key: k.key,
        note: None,
    });
    match app.worker.run(cmd).await {
        Ok(_) => see("/commons"),
        Err(e) => failed(e),
    }
}

#[derive(Deserialize)]
struct Vote {
    choice: String,
}

async fn vote(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    Form(v): Form<Vote>,
) -> Response {
    let choice = match v.choice.as_str() {
        "approve" => Choice::Approve,
        "reject" => Choice::Reject,
        _ => Choice::Abstain,
    };
    match app
        .worker
        .run(Command::Proposal(ProposalCommand::Vote {
            id: id.clone(),
            choice,
        }))
        .await
    {
        Ok(_) => see(&format!("/proposal/{id}")),
        Err(e) => failed(e),
    }
}

async fn sign_amendment(State(app): State<Arc<App>>, Path(id): Path<String>) -> Response {
    let cmd = GuardianCommand::Sign {
        id: id.clone(),
        purpose: SignaturePurpose::Amendment,
    };
    match app.worker.run(Command::Guardian(cmd)).await {
        Ok(_) => see(&format!("/proposal/{id}")),
        Err(e) => failed(e),
    }
}

#[derive(Deserialize, Default)]
struct File {
    #[serde(default)]
    file: String,
}

async fn release(
    State(app): State<Arc<App>>,
    Path(act): Path<String>,
    Form(f): Form<File>,
) -> Response {
    let cmd = match act.as_str() {
        "apply" => ReleaseCommand::Apply { release: None },
        "rollback" => ReleaseCommand::Rollback,
        "build" => ReleaseCommand::Build {
            proposals: Vec::new(),
            expires_days: 90,
            out: Some(app.home.dir().join("release-candidate.json")),
        },
        // What "build" wrote, unless the form names another file.
        "propose" => ReleaseCommand::Propose {
            file: if f.file.is_empty() {
                app.home.dir().join("release-candidate.json")
            } else {
                f.file.into()
            },
        },
        "sign" => ReleaseCommand::Sign {
            file: f.file.into(),
        },
        "publish" => ReleaseCommand::Publish {
            file: f.file.into(),
        },
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    released(app.worker.run(Command::Release(cmd)).await)
}

/// What a release command answered, or why it did not.
fn released(answer: Result<crate::cli::Output, Failed>) -> Response {
    match answer {
        Ok(out) => page(
            "Releases",
            "/commons",
            html! { p role="status" #release-result { (out.human) } p { a href="/commons" { "Back to the commons" } } },
        ),
        Err(e) => failed(e),
    }
}

/// The release candidates in the commons (`release pending`), each with
/// who has signed it and what it waits for; a guardian who has not signed
/// one is offered to sign it, and a ready one to publish it.
fn candidates(token: &str, pending: &serde_json::Value) -> maud::Markup {
    let rows = pending["candidates"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    html! {
        @if rows.is_empty() { p { "No release candidates." } }
        ul.entries #candidates {
            @for c in &rows {
                @let id = text(&c["id"]);
                @let short: String = id.chars().take(12).collect();
                @let version = text(&c["version"]);
                li.candidate {
                    h3 { "Release " (version) " " span.muted { "candidate " code { (short) } } }
                    @let who: Vec<String> = c["signers"]["targets"].as_array().into_iter().flatten()
                        .map(|k| text(k).chars().take(12).collect()).collect();
                    p { "Signed by " strong.signed { (text(&c["signed"])) } " of " (text(&c["guardians"]))
                        " guardians; " (text(&c["threshold"])) " needed."
                        @if c["signed_here"] == true { " This node has signed it." } }
                    @if !who.is_empty() {
                        p.muted { "Guardian keys that signed: " @for (i, k) in who.iter().enumerate() { @if i > 0 { ", " } code { (k) } } }
                    }
                    p.state {
                        @match text(&c["state"]).as_str() {
                            "published" => { "Published as release record " code { (text(&c["published"]).chars().take(12).collect::<String>()) } "." }
                            "ready" => "Ready: anyone may publish it.",
                            _ => { "Waiting: " (text(&c["detail"])) }
                        }
                    }
                    @if c["may_sign"] == true {
                        (button(token, &format!("/candidate/{id}/sign"), &format!("Sign release {version}"), &[]))
                    }
                    @if c["state"] == "ready" {
                        (button(token, &format!("/candidate/{id}/publish"), &format!("Publish release {version}"), &[]))
                    }
                }
            }
        }
    }
}

/// Sign or publish a candidate by its record id, as `mirror release sign
/// ID` and `mirror release publish ID` do.
async fn candidate(
    State(app): State<Arc<App>>,
    Path((id, act)): Path<(String, String)>,
) -> Response {
    // The commands read an existing file of that name before an id: only a
    // whole record id (as the page sends) may reach them, never a path.
    if id.len() != 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return failed(Failed {
            message: format!("not a candidate's record id: {id}"),
            usage: true,
        });
    }
    let cmd = match act.as_str() {
        "sign" => ReleaseCommand::Sign { file: id.into() },
        "publish" => ReleaseCommand::Publish { file: id.into() },
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    released(app.worker.run(Command::Release(cmd)).await)
}
