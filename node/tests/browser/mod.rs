//! Driving the web app as a person does: `mirror ui` as its own process,
//! Debian's Chromium headless through chromedriver (WebDriver, with
//! fantoccini), axe-core injected into each page for the accessibility
//! check, and plain HTTP for what a browser would never send.
//!
//! Everything waits by bounded polling, never a fixed sleep.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

/// Generous: a loaded two-core machine runs these beside other builds.
pub const PATIENCE: Duration = Duration::from_secs(90);

/// A running `mirror ui --no-open`.
pub struct Ui {
    child: Child,
    /// The address it printed, with the secret.
    pub login: String,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    /// `127.0.0.1:PORT`
    pub addr: String,
}

impl Ui {
    pub fn start(home: &Path) -> Ui {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mirror"))
            .args(["ui", "--no-open"])
            .env("MIRROR_HOME", home)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting mirror ui");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let first = rx
            .recv_timeout(PATIENCE)
            .expect("mirror ui printed no address");
        let login = first
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no address in {first:?}"))
            .to_string();
        let base = login.split("/login").next().unwrap().to_string();
        let addr = base.trim_start_matches("http://").to_string();
        Ui {
            child,
            login,
            base,
            addr,
        }
    }
}

impl Drop for Ui {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 request by hand (nothing a browser adds): status, the
/// head, the body.
pub fn http(addr: &str, request: &str) -> (u16, String, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head.to_string(), body.to_string())
}

/// A `multipart/form-data` POST, as a browser sends a form with a file:
/// `fields` are (name, file name for a file, content).
pub fn post_multipart(
    ui: &Ui,
    path: &str,
    headers: &str,
    fields: &[(&str, Option<&str>, &[u8])],
) -> (u16, String, String) {
    let boundary = "----mirror-test-boundary-7d1c";
    let mut body = Vec::new();
    for (name, file, content) in fields {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match file {
            Some(f) => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\nContent-Type: application/gzip\r\n\r\n").as_bytes(),
            ),
            None => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
            ),
        }
        body.extend_from_slice(content);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: {}\r\n{headers}Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        ui.addr,
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(&body);
    let mut stream = TcpStream::connect(&ui.addr).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    stream.write_all(&request).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head.to_string(), body.to_string())
}

/// Whether missing tools fail the test (CI) or skip it (a laptop).
fn required() -> bool {
    std::env::var("MIRROR_BROWSER_REQUIRED").is_ok_and(|v| v == "1")
}

fn missing<T>(what: &str) -> Option<T> {
    let message = format!(
        "{what} is not installed (apt-get install chromium chromium-driver; axe-core: see .ci/run)"
    );
    if required() {
        panic!("MIRROR_BROWSER_REQUIRED=1 but {message}");
    }
    eprintln!("SKIPPED the browser test: {message}");
    None
}

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    })
}

/// chromedriver on a free loopback port, with its own profile directory.
pub struct Driver {
    child: Child,
    pub url: String,
    profile: tempfile::TempDir,
    chromium: PathBuf,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start chromedriver, or None (the test is skipped) when it or Chromium
/// is missing and not required.
pub fn driver() -> Option<Driver> {
    let Some(chromedriver) = on_path("chromedriver") else {
        return missing("chromedriver");
    };
    let Some(chromium) = on_path("chromium").or_else(|| on_path("chromium-browser")) else {
        return missing("chromium");
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(chromedriver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting chromedriver");
    let deadline = Instant::now() + PATIENCE;
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    Some(Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
        profile: tempfile::tempdir().unwrap(),
        chromium,
    })
}

impl Driver {
    /// A headless Chromium session, isolated from the machine's profile
    /// and from the network beyond the app.
    pub async fn browser(&self) -> Client {
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": self.chromium,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu",
                    "--disable-background-networking", "--disable-component-update",
                    "--no-first-run", "--disable-sync", "--disable-dev-shm-usage",
                    format!("--user-data-dir={}", self.profile.path().display()),
                    "--window-size=1000,900",
                ],
            }),
        );
        ClientBuilder::rustls()
            .unwrap()
            .capabilities(caps)
            .connect(&self.url)
            .await
            .expect("a Chromium session")
    }
}

/// Wait (bounded) for an element matching `css`.
pub async fn wait(client: &Client, css: &str) -> fantoccini::elements::Element {
    match client
        .wait()
        .at_most(PATIENCE)
        .every(Duration::from_millis(100))
        .for_element(Locator::Css(css))
        .await
    {
        Ok(element) => element,
        Err(e) => panic!(
            "no {css} on the page ({e}); it is:\n{}",
            page_now(client).await
        ),
    }
}

/// Where the browser is and what it shows, for a failure message.
pub async fn page_now(client: &Client) -> String {
    let url = client
        .current_url()
        .await
        .map(|u| u.to_string())
        .unwrap_or_default();
    let text = client.source().await.unwrap_or_default();
    format!("{url}\n{}", text.chars().take(3000).collect::<String>())
}

/// Run axe-core on the page; fail on serious or critical violations.
pub async fn axe(client: &Client, page: &str) {
    let path = std::env::var("MIRROR_AXE")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../target/axe/node_modules/axe-core/axe.min.js")
        });
    let Ok(source) = std::fs::read_to_string(&path) else {
        if required() {
            panic!(
                "MIRROR_BROWSER_REQUIRED=1 but axe-core is not at {}",
                path.display()
            );
        }
        eprintln!(
            "SKIPPED the accessibility check of {page}: no axe-core at {}",
            path.display()
        );
        return;
    };
    // Injected through WebDriver (not a <script> the page loads), so the
    // app's CSP stays as strict as it is for people.
    client
        .execute(&source, vec![])
        .await
        .expect("injecting axe-core");
    let found: Value = client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, { resultTypes: ['violations'] }).then(r => done(
               r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
                 .map(v => ({ id: v.id, impact: v.impact, help: v.help,
                              nodes: v.nodes.map(n => n.html).slice(0, 3) }))));",
            vec![],
        )
        .await
        .expect("running axe-core");
    assert_eq!(found, json!([]), "accessibility violations on {page}");
}

/// Save a screenshot of the page when MIRROR_SCREENSHOTS names a folder
/// (the README's pictures come from here).
pub async fn shot(client: &Client, name: &str) {
    if let Ok(dir) = std::env::var("MIRROR_SCREENSHOTS") {
        let png = client.screenshot().await.expect("a screenshot");
        std::fs::write(Path::new(&dir).join(format!("{name}.png")), png).unwrap();
    }
}

/// How many reflections the CLI lists for `home`.
pub fn stored(home: &Path) -> usize {
    super::nodes::json_of(home, &["list"])["reflections"]
        .as_array()
        .unwrap()
        .len()
}

pub fn get(ui: &Ui, path: &str, extra: &str) -> (u16, String, String) {
    http(
        &ui.addr,
        &format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\n{extra}Connection: close\r\n\r\n",
            ui.addr
        ),
    )
}

pub fn post(ui: &Ui, path: &str, headers: &str, body: &str) -> (u16, String, String) {
    http(
        &ui.addr,
        &format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\n{headers}Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            ui.addr,
            body.len()
        ),
    )
}

/// Log in as the browser would: the `Cookie:` header line and the form's
/// CSRF token.
pub fn session(ui: &Ui) -> (String, String) {
    let login = ui.login.trim_start_matches(&ui.base);
    let (_, head, _) = get(ui, login, "");
    let cookie = head
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .and_then(|c| c.split(';').next())
        .expect("a session cookie");
    let with_cookie = format!("Cookie: {cookie}\r\n");
    let (_, _, page) = get(ui, "/", &with_cookie);
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a CSRF token in the form")
        .to_string();
    (with_cookie, csrf)
}

/// The node's public key.
pub fn key_of(home: &Path) -> String {
    super::nodes::json_of(home, &["status"])["identity"]["public_key"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Found a commons on `g` (its guardians `guardians`, `threshold` of them)
/// with a short voting window, and have `g`'s own member proposal approved
/// in it, so that `mirror release build` has something to release.
pub fn commons_with_an_approved_proposal(
    dir: &Path,
    g: &Path,
    guardians: &[String],
    threshold: &str,
) -> String {
    let genesis = dir.join("genesis.json");
    let mut args = vec!["commons", "genesis", "new", "--name", "releases"];
    for k in guardians {
        args.extend(["--guardian", k.as_str()]);
    }
    args.extend(["--threshold", threshold, "--period", "3s", "--quorum", "50"]);
    args.extend(["--out", genesis.to_str().unwrap()]);
    super::nodes::ok(g, &args);
    super::nodes::ok(g, &["member", "attest", &key_of(g)]);
    let draft = dir.join("proposal.json");
    super::nodes::ok(
        g,
        &[
            "proposal",
            "new",
            "--type",
            "pattern_detection",
            "--title",
            "Notice circling back",
            "--description",
            "Circling back to an old conversation is a reference to the past.",
            "--add",
            r#"/patterns/past_reference/rules/-={"id":"circling_back","cues":["circling back"]}"#,
            "--evidence",
            "Seen in reflections the engine passed over.",
            "--out",
            draft.to_str().unwrap(),
        ],
    );
    let id = super::nodes::json_of(g, &["proposal", "submit", draft.to_str().unwrap()])["id"]
        .as_str()
        .unwrap()
        .to_string();
    for step in ["testing", "review", "voting"] {
        super::nodes::ok(g, &["proposal", "advance", &id, step]);
    }
    super::nodes::ok(g, &["proposal", "vote", &id, "approve"]);
    super::nodes::wait_for("the voting window to close", || {
        super::nodes::json_of(g, &["proposal", "tally", &id])["closed"] == true
    });
    let tally = super::nodes::json_of(g, &["proposal", "tally", &id]);
    assert_eq!(tally["approved"], true, "{tally}");
    genesis.to_str().unwrap().to_string()
}

pub fn pending(home: &Path) -> Vec<serde_json::Value> {
    super::nodes::json_of(home, &["release", "pending"])["candidates"]
        .as_array()
        .unwrap()
        .clone()
}
