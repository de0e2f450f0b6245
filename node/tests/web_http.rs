//! `mirror ui` over plain HTTP, for what a browser would never send or
//! what needs no browser: requests without the cookie, from another origin
//! or host, without the CSRF token; the crisis answer; a model's answer
//! streamed; import (by path and by upload), joining a commons, release candidates signed and
//! published from the commons page, and `mirror node --ui`.

mod browser;
mod nodes;
mod support;

use std::path::Path;

use browser::{
    PATIENCE, Ui, commons_with_an_approved_proposal, get, http, key_of, pending, post,
    post_multipart, session, stored,
};
use nodes::{json_of, ok};

/// An entry in crisis is met with the crisis answer, first and marked as
/// an alert, and nothing is offered to rate or track.
#[test]
fn an_entry_in_crisis_gets_the_crisis_answer_prominently() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    ok(&home, &["init"]);
    let ui = Ui::start(&home);
    let (cookie, csrf) = session(&ui);
    let headers = format!("{cookie}Origin: {}\r\n", ui.base);
    let (status, _, page) = post(
        &ui,
        "/reflect",
        &headers,
        &format!("csrf={csrf}&text=I+want+to+end+my+life."),
    );
    assert_eq!(status, 200, "{page}");
    let crisis = page
        .find("class=\"crisis\" role=\"alert\"")
        .expect("the crisis answer as an alert");
    let answer = &page[crisis..];
    assert!(answer.contains("id=\"mirrorback\""), "{page}");
    assert!(
        !page.contains("Did this mirrorback land"),
        "no rating for a crisis answer"
    );
    assert!(!page.contains("Track this tension"));
    let cli = json_of(&home, &["list"]);
    let id = cli["reflections"][0]["id"].as_str().unwrap();
    let shown = json_of(&home, &["show", id]);
    let text = shown["mirrorbacks"][0]["text"].as_str().unwrap();
    let first_line = text.lines().next().unwrap();
    let escaped = first_line
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;");
    assert!(
        answer.contains(&escaped),
        "the stored crisis answer is on the page: {first_line}"
    );
}

/// The commands only the web app's settings page used before it existed.
#[test]
fn the_settings_commands_answer() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    ok(&home, &["init"]);
    let test = json_of(&home, &["config", "test"]);
    assert_eq!(test["ok"], true, "{test}");
    assert_eq!(
        json_of(&home, &["consent", "history"])["changes"],
        serde_json::json!([])
    );
    ok(&home, &["consent", "grant", "telemetry"]);
    ok(&home, &["consent", "revoke", "telemetry"]);
    let history = json_of(&home, &["consent", "history"]);
    let changes = history["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 2, "{history}");
    assert_eq!(changes[0]["granted"], false, "newest first: {history}");
    assert_eq!(
        json_of(&home, &["consent", "egress"])["egress"],
        serde_json::json!([])
    );
}

#[test]
fn without_the_session_cookie_nothing_is_answered() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    ok(&home, &["init"]);
    let ui = Ui::start(&home);
    assert!(ui.login.starts_with("http://127.0.0.1:"), "{}", ui.login);
    let (status, head, _) = get(&ui, "/", "");
    assert_eq!(status, 401, "{head}");
    assert!(
        head.to_lowercase()
            .contains("content-security-policy: default-src 'self'"),
        "{head}"
    );
    let (status, _, _) = get(&ui, "/timeline", "");
    assert_eq!(status, 401);
    let origin = format!("Origin: {}\r\n", ui.base);
    let (status, _, _) = post(&ui, "/reflect", &origin, "text=hello+there&csrf=guess");
    assert_eq!(status, 401);
    let (status, head, _) = get(&ui, "/login?secret=0000", "");
    assert_eq!(status, 403, "{head}");
    assert!(!head.to_lowercase().contains("set-cookie"), "{head}");
    assert_eq!(stored(&home), 0);
}

#[test]
fn a_change_from_another_origin_host_or_without_the_token_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    ok(&home, &["init"]);
    let ui = Ui::start(&home);
    let login = ui.login.trim_start_matches(&ui.base);
    let (status, head, _) = get(&ui, login, "");
    assert_eq!(status, 303, "{head}");
    let cookie_line = head
        .lines()
        .find(|l| l.to_lowercase().starts_with("set-cookie:"))
        .expect("a session cookie");
    assert!(
        cookie_line.contains("HttpOnly") && cookie_line.contains("SameSite=Strict"),
        "{cookie_line}"
    );
    let cookie = cookie_line
        .split_once(':')
        .unwrap()
        .1
        .split(';')
        .next()
        .unwrap()
        .trim();
    let with_cookie = format!("Cookie: {cookie}\r\n");
    let (status, _, page) = get(&ui, "/", &with_cookie);
    assert_eq!(status, 200);
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a CSRF token in the form")
        .to_string();
    let body = format!("csrf={csrf}&text=A+quiet+evening+by+the+window.");
    let evil = format!("{with_cookie}Origin: http://evil.example\r\n");
    assert_eq!(post(&ui, "/reflect", &evil, &body).0, 403);
    let good = format!("{with_cookie}Origin: {}\r\n", ui.base);
    assert_eq!(post(&ui, "/reflect", &good, "text=A+quiet+evening.").0, 403);
    assert_eq!(
        post(&ui, "/reflect", &good, "csrf=0&text=A+quiet+evening.").0,
        403
    );
    assert_eq!(
        post(&ui, "/reflect", &with_cookie, &body).0,
        403,
        "no Origin"
    );
    // DNS rebinding: another name for 127.0.0.1 is not this app.
    let (status, _, _) = http(
        &ui.addr,
        &format!(
            "GET / HTTP/1.1\r\nHost: evil.example:80\r\n{with_cookie}Connection: close\r\n\r\n"
        ),
    );
    assert_eq!(status, 421);
    assert_eq!(stored(&home), 0, "a refused request stored something");
    // The same request from the app's own page is taken.
    let (status, _, page) = post(&ui, "/reflect", &good, &body);
    assert_eq!(status, 200, "{page}");
    assert_eq!(stored(&home), 1);
}

/// `mirror node --ui` serves the same app while the node runs.
#[test]
fn the_node_serves_the_app_with_ui() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    ok(&home, &["init"]);
    let mut node = nodes::mirror(
        &home,
        &[
            "node",
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
            "--no-mdns",
            "--ui",
        ],
    )
    .stderr(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    let stderr = node.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let login = loop {
        let line = rx
            .recv_timeout(PATIENCE)
            .expect("the node's banner names the web app");
        if let Some(url) = line.trim().strip_prefix("web app") {
            break url.trim().to_string();
        }
    };
    let addr = login
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_string();
    let path = &login[login.find("/login").unwrap()..];
    let (status, head, _) = http(
        &addr,
        &format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"),
    );
    let _ = node.kill();
    let _ = node.wait();
    assert_eq!(status, 303, "{head}");
    assert!(
        head.to_lowercase().contains("set-cookie: mirror_session="),
        "{head}"
    );
}

/// Joining a commons and admitting a member from the commons page.
#[test]
fn a_commons_is_joined_and_a_member_admitted_from_the_page() {
    let dir = tempfile::tempdir().unwrap();
    let (g, m) = (dir.path().join("guardian"), dir.path().join("member"));
    for h in [&g, &m] {
        ok(h, &["init"]);
    }
    let key = |h: &Path| {
        json_of(h, &["status"])["identity"]["public_key"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let genesis = dir.path().join("genesis.json");
    let genesis = genesis.to_str().unwrap();
    let made = json_of(
        &g,
        &[
            "commons",
            "genesis",
            "new",
            "--name",
            "page",
            "--guardian",
            &key(&g),
            "--threshold",
            "1",
            "--period",
            "30m",
            "--quorum",
            "50",
            "--out",
            genesis,
        ],
    );
    let id = made["id"].as_str().unwrap().to_string();

    let ui = Ui::start(&m);
    let (cookie, csrf) = session(&ui);
    let headers = format!("{cookie}Origin: {}\r\n", ui.base);
    let body = format!("csrf={csrf}&file={}", genesis.replace('/', "%2F"));
    let (status, head, page) = post(&ui, "/commons/join", &headers, &body);
    assert_eq!(status, 303, "{head}{page}");
    let status_m = json_of(&m, &["commons", "status"]);
    assert_eq!(status_m["commons_id"], id.as_str(), "{status_m}");
    drop(ui);

    let ui = Ui::start(&g);
    let (cookie, csrf) = session(&ui);
    let headers = format!("{cookie}Origin: {}\r\n", ui.base);
    let (status, head, page) = post(
        &ui,
        "/member/attest",
        &headers,
        &format!("csrf={csrf}&key={}", key(&m)),
    );
    assert_eq!(status, 303, "{head}{page}");
    let members = json_of(&g, &["member", "list"]);
    assert_eq!(members["members"].as_array().unwrap().len(), 1, "{members}");
}

/// Import from the settings page: the preview changes nothing and says
/// what an import never changes; importing then brings the entry, and not
/// the other node's consent.
#[test]
fn an_import_is_previewed_then_applied() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    ok(
        &a,
        &["reflect", "--no-mirror", "A quiet evening by the window."],
    );
    ok(&a, &["consent", "grant", "telemetry"]);
    let bundle = dir.path().join("a.tar.gz");
    ok(&a, &["export", "--out", bundle.to_str().unwrap()]);
    ok(&b, &["init"]);
    let ui = Ui::start(&b);
    let (cookie, csrf) = session(&ui);
    let headers = format!("{cookie}Origin: {}\r\n", ui.base);
    let path = bundle.to_str().unwrap().replace('/', "%2F");
    let (status, _, page) = post(
        &ui,
        "/import",
        &headers,
        &format!("csrf={csrf}&path={path}&apply=no"),
    );
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("Import preview") && page.contains("never changes"),
        "{page}"
    );
    assert_eq!(stored(&b), 0, "a preview imported something");
    let (status, _, page) = post(
        &ui,
        "/import",
        &headers,
        &format!("csrf={csrf}&path={path}&apply=yes"),
    );
    assert_eq!(status, 200, "{page}");
    assert_eq!(stored(&b), 1);
    let consent = json_of(&b, &["consent", "show"]);
    assert!(
        consent["consent"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["granted"] == false),
        "{consent}"
    );
}

/// Import by upload: the bundle is sent as a file, kept in a private file
/// in the node's home, previewed (nothing changes), and imported from the
/// preview's button, after which the kept file is gone. Without the token
/// the upload is refused and nothing is kept.
#[test]
fn an_uploaded_bundle_is_previewed_then_imported() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    ok(
        &a,
        &["reflect", "--no-mirror", "A quiet evening by the window."],
    );
    let bundle = dir.path().join("a.tar.gz");
    ok(&a, &["export", "--out", bundle.to_str().unwrap()]);
    let bytes = std::fs::read(&bundle).unwrap();
    ok(&b, &["init"]);
    let kept = || -> Vec<std::path::PathBuf> {
        std::fs::read_dir(&b)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with(".upload-")
            })
            .collect()
    };
    let ui = Ui::start(&b);
    let (cookie, csrf) = session(&ui);
    let headers = format!("{cookie}Origin: {}\r\n", ui.base);
    let (_, _, page) = get(&ui, "/settings", &cookie);
    assert!(page.contains("enctype=\"multipart/form-data\""), "{page}");

    let file = ("bundle", Some("a.tar.gz"), bytes.as_slice());
    let (status, _, _) = post_multipart(&ui, "/import/upload", &headers, &[file]);
    assert_eq!(status, 403, "no token");
    let (status, _, _) = post_multipart(
        &ui,
        "/import/upload",
        &headers,
        &[("csrf", None, b"0"), file],
    );
    assert_eq!(status, 403, "a wrong token");
    assert!(kept().is_empty(), "a refused upload was kept");
    let empty = ("bundle", Some("a.tar.gz"), &b""[..]);
    let (status, _, page) = post_multipart(
        &ui,
        "/import/upload",
        &headers,
        &[("csrf", None, csrf.as_bytes()), empty],
    );
    assert_eq!(status, 400, "{page}");

    let (status, _, page) = post_multipart(
        &ui,
        "/import/upload",
        &headers,
        &[("csrf", None, csrf.as_bytes()), file],
    );
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("Import preview") && page.contains("never changes"),
        "{page}"
    );
    assert_eq!(stored(&b), 0, "a preview imported something");
    let upload = kept();
    assert_eq!(upload.len(), 1, "{upload:?}");
    let mode = std::fs::metadata(&upload[0]).unwrap().permissions().mode();
    assert_eq!(mode & 0o077, 0, "the kept upload is private: {mode:o}");
    assert_eq!(std::fs::read(&upload[0]).unwrap(), bytes);
    let path = page
        .split("name=\"path\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the preview's import form names the kept file")
        .to_string();
    assert_eq!(Path::new(&path), upload[0]);
    let (status, _, page) = post(
        &ui,
        "/import",
        &headers,
        &format!("csrf={csrf}&path={}&apply=yes", path.replace('/', "%2F")),
    );
    assert_eq!(status, 200, "{page}");
    assert_eq!(stored(&b), 1);
    assert!(kept().is_empty(), "the imported upload was kept");
}

/// A model's answer streams to the page a sentence at a time, each only
/// after it passed the checker; the last line is the whole answer page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_models_answer_streams_sentence_by_sentence() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let line = |content: &str, done: bool| {
        format!(
            "{}\n",
            serde_json::json!({"message": {"role": "assistant", "content": content}, "done": done})
        )
    };
    // Five answers on trial first (a new model's answers are kept, and
    // shown as they stream, once it has earned trust: engine::standing).
    let trial = mirror_node::engine::standing::MIN_ASKED;
    let reply = support::Reply::new(200)
        .chunk(line("It sounds like Friday is pressing on you. ", false))
        .chunk(line("What would it mean to be heard?", false))
        .chunk(line("", true));
    let server = support::Server::start(vec![reply; trial + 1]).await;
    let url = server.url.clone();
    let home2 = home.clone();
    let (status, page) = tokio::task::spawn_blocking(move || {
        ok(&home2, &["config", "set", "engine.mode", "ollama"]);
        ok(&home2, &["config", "set", "engine.ollama.base_url", &url]);
        for _ in 0..trial {
            ok(
                &home2,
                &["reflect", "I have to finish the report by Friday."],
            );
        }
        let ui = Ui::start(&home2);
        let (cookie, csrf) = session(&ui);
        let headers = format!("{cookie}Origin: {}\r\n", ui.base);
        let body = format!("csrf={csrf}&text=I+have+to+finish+the+report+by+Friday.");
        let (status, _, page) = post(&ui, "/reflect/live", &headers, &body);
        (status, page)
    })
    .await
    .unwrap();
    assert_eq!(status, 200, "{page}");
    // The body is chunked (it streams): join the chunks, then the lines.
    let mut body = String::new();
    let mut rest = page.as_str();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).expect("a chunk size");
        if n == 0 {
            break;
        }
        body.push_str(&after[..n]);
        rest = &after[n + 2..];
    }
    let events: Vec<serde_json::Value> = body
        .lines()
        .filter_map(|l| serde_json::from_str(l.trim()).ok())
        .collect();
    assert_eq!(
        events.first().map(|e| e["sentence"].clone()),
        Some(serde_json::json!(
            "It sounds like Friday is pressing on you. "
        )),
        "{page}"
    );
    let done = events.last().unwrap()["done"]
        .as_str()
        .expect("the answer page last");
    assert!(done.contains("What would it mean to be heard?"), "{done}");
    assert_eq!(server.requests().len(), trial + 1);
}

/// A sole guardian (threshold 1) proposes a release: the commons page
/// lists the candidate as ready (the proposer's signature counts) with
/// nothing left for this node to sign, refuses to publish it without the
/// CSRF token or from another origin, and publishes it from its button.
#[test]
fn a_ready_release_candidate_is_published_from_the_commons_page() {
    let dir = tempfile::tempdir().unwrap();
    let g = dir.path().join("guardian");
    ok(&g, &["init"]);
    commons_with_an_approved_proposal(dir.path(), &g, &[key_of(&g)], "1");
    let file = dir.path().join("release.json");
    ok(&g, &["release", "build", "--out", file.to_str().unwrap()]);
    let candidate = json_of(&g, &["release", "propose", file.to_str().unwrap()])["id"]
        .as_str()
        .unwrap()
        .to_string();

    let ui = Ui::start(&g);
    let (cookie, csrf) = session(&ui);
    let (status, _, page) = get(&ui, "/commons", &cookie);
    assert_eq!(status, 200, "{page}");
    let listed = &page[page.find("id=\"candidates\"").expect("the candidates")..];
    assert!(listed.contains(&candidate[..12]), "{listed}");
    assert!(
        listed.contains("Signed by <strong class=\"signed\">1</strong> of 1 guardians; 1 needed."),
        "{listed}"
    );
    assert!(listed.contains("Ready: anyone may publish it."), "{listed}");
    assert!(
        !listed.contains("Sign release"),
        "the proposer has signed: {listed}"
    );
    let publish = format!("/candidate/{candidate}/publish");
    assert!(
        listed.contains(&format!("action=\"{publish}\"")),
        "{listed}"
    );

    let good = format!("{cookie}Origin: {}\r\n", ui.base);
    let evil = format!("{cookie}Origin: http://evil.example\r\n");
    assert_eq!(post(&ui, &publish, &good, "").0, 403, "no token");
    assert_eq!(post(&ui, &publish, &good, "csrf=0").0, 403, "a wrong token");
    assert_eq!(post(&ui, &publish, &evil, &format!("csrf={csrf}")).0, 403);
    assert_eq!(pending(&g)[0]["published"], serde_json::Value::Null);
    // Only a whole record id reaches the command, never a path.
    let (status, _, page) = post(
        &ui,
        "/candidate/%2Fetc%2Fpasswd/publish",
        &good,
        &format!("csrf={csrf}"),
    );
    assert_eq!(status, 400, "{page}");

    let (status, _, page) = post(&ui, &publish, &good, &format!("csrf={csrf}"));
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("published from candidate"), "{page}");
    let listed = pending(&g).remove(0);
    assert_eq!(listed["state"], "published", "{listed}");
    let release = listed["published"].as_str().unwrap().to_string();
    let (_, _, page) = get(&ui, "/commons", &cookie);
    assert!(
        page.contains(&format!(
            "Published as release record <code>{}</code>",
            &release[..12]
        )),
        "{page}"
    );
    assert!(!page.contains("Publish release"), "{page}");
    // Publishing it again is the command's refusal, shown as such.
    let (status, _, page) = post(&ui, &publish, &good, &format!("csrf={csrf}"));
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("already published"), "{page}");
}

/// Two guardians, two needed: guardian 1 proposes a release from the
/// command line; over the commons it reaches guardian 2, whose page offers
/// to sign it (guardian 1's does not: its signature is on it) and signs it
/// with guardian 2's key on its node; back on guardian 1 it is ready, and
/// guardian 1's page publishes it.
#[test]
fn a_second_guardian_signs_a_candidate_from_the_commons_page() {
    let dir = tempfile::tempdir().unwrap();
    let (g1, g2) = (dir.path().join("guardian1"), dir.path().join("guardian2"));
    for h in [&g1, &g2] {
        ok(h, &["init"]);
    }
    let (k1, k2) = (key_of(&g1), key_of(&g2));
    let genesis = commons_with_an_approved_proposal(dir.path(), &g1, &[k1.clone(), k2], "2");
    ok(&g2, &["commons", "join", &genesis]);
    let file = dir.path().join("release.json");
    ok(&g1, &["release", "build", "--out", file.to_str().unwrap()]);
    let candidate = json_of(&g1, &["release", "propose", file.to_str().unwrap()])["id"]
        .as_str()
        .unwrap()
        .to_string();
    // A record gossip loses (a mesh still forming) arrives by the next
    // sync round: every 5 s rather than a minute, as long as the waits.
    for h in [&g1, &g2] {
        ok(h, &["config", "set", "commons.sync_interval_secs", "5"]);
    }
    let first = nodes::Daemon::start(&g1, None);
    let _second = nodes::Daemon::start(&g2, Some(&first.address));
    nodes::wait_for("the candidate to reach guardian 2", || {
        pending(&g2).iter().any(|c| c["id"] == candidate.as_str())
    });
    let sign = format!("/candidate/{candidate}/sign");
    let publish = format!("/candidate/{candidate}/publish");

    let ui1 = Ui::start(&g1);
    let (cookie1, csrf1) = session(&ui1);
    let (_, _, page) = get(&ui1, "/commons", &cookie1);
    let listed = &page[page.find("id=\"candidates\"").expect("the candidates")..];
    assert!(listed.contains("Signed by <strong class=\"signed\">1</strong> of 2 guardians; 2 needed. This node has signed it."), "{listed}");
    assert!(listed.contains("Waiting: "), "{listed}");
    assert!(
        listed.contains(&format!(
            "Guardian keys that signed: <code>{}</code>",
            &k1[..12]
        )),
        "{listed}"
    );
    assert!(
        !listed.contains(&sign) && !listed.contains(&publish),
        "{listed}"
    );

    let ui2 = Ui::start(&g2);
    let (cookie2, csrf2) = session(&ui2);
    let (_, _, page) = get(&ui2, "/commons", &cookie2);
    let listed = &page[page.find("id=\"candidates\"").expect("the candidates")..];
    assert!(listed.contains(&format!("action=\"{sign}\"")), "{listed}");
    assert!(listed.contains(">Sign release 1</button>"), "{listed}");
    assert!(!listed.contains(&publish), "not ready: {listed}");
    let good2 = format!("{cookie2}Origin: {}\r\n", ui2.base);
    assert_eq!(post(&ui2, &sign, &good2, "").0, 403, "no token");
    assert_eq!(
        post(&ui2, &sign, &good2, &format!("csrf={csrf1}")).0,
        403,
        "another run's token"
    );
    assert_eq!(pending(&g2)[0]["signed"], 1, "a refused request signed");
    let (status, _, page) = post(&ui2, &sign, &good2, &format!("csrf={csrf2}"));
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("the threshold is reached"), "{page}");
    let (_, _, page) = get(&ui2, "/commons", &cookie2);
    assert!(!page.contains(&sign), "signed once: {page}");

    nodes::wait_for("guardian 2's signature to reach guardian 1", || {
        pending(&g1)[0]["ready"] == true
    });
    let (_, _, page) = get(&ui1, "/commons", &cookie1);
    assert!(page.contains(&format!("action=\"{publish}\"")), "{page}");
    let good1 = format!("{cookie1}Origin: {}\r\n", ui1.base);
    let (status, _, page) = post(&ui1, &publish, &good1, &format!("csrf={csrf1}"));
    assert_eq!(status, 200, "{page}");
    for h in [&g1, &g2] {
        nodes::wait_for("every node to see the candidate published", || {
            pending(h)[0]["state"] == "published"
        });
    }
}
