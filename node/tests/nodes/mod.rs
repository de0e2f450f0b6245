//! Running `mirror` as a person does: the CLI as a separate process, and
//! `mirror node` daemons on 127.0.0.1. Shared by the process tests; each
//! uses a part, hence the allow.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

pub fn mirror(home: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mirror"));
    cmd.args(args)
        .env("MIRROR_HOME", home)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    cmd
}

pub fn ok(home: &Path, args: &[&str]) -> String {
    let out: Output = mirror(home, args).output().unwrap();
    assert!(
        out.status.success(),
        "mirror {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

pub fn json_of(home: &Path, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    serde_json::from_str(&ok(home, &all)).unwrap()
}

/// A running `mirror node` process and what it printed at start.
pub struct Daemon {
    pub child: Child,
    pub home: PathBuf,
    /// Its libp2p address with /p2p/<peer id>.
    pub address: String,
    pub stderr: mpsc::Receiver<String>,
}

impl Daemon {
    pub fn start(home: &Path, bootstrap: Option<&str>) -> Daemon {
        let mut args = vec!["node", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns"];
        if let Some(b) = bootstrap {
            args.extend(["--bootstrap", b]);
        }
        let mut cmd = mirror(home, &args);
        // More of the daemon's log for a failing test to print (see Drop).
        if let Ok(filter) = std::env::var("MIRROR_TEST_DAEMON_LOG") {
            cmd.env("RUST_LOG", filter);
        }
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, rx) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut address = None;
        let mut seen = Vec::new();
        while Instant::now() < deadline {
            let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) else {
                continue;
            };
            if let Some(a) = line.trim().strip_prefix("listening on ") {
                address = Some(a.to_string());
            }
            let done = line.contains("stop with Ctrl-C");
            seen.push(line);
            if done {
                break;
            }
        }
        let address = address.unwrap_or_else(|| panic!("the node did not start: {seen:#?}"));
        Daemon {
            child,
            home: home.to_path_buf(),
            address,
            stderr: rx,
        }
    }

    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// SIGTERM, then the exit status and the rest of stderr.
    pub fn stop(mut self) -> (std::process::ExitStatus, String) {
        self.signal("TERM");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let rest: Vec<String> = self.stderr.try_iter().collect();
                return (status, rest.join("\n"));
            }
            assert!(
                Instant::now() < deadline,
                "the node did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    pub fn daemon_file(&self) -> Value {
        serde_json::from_slice(&std::fs::read(self.home.join("daemon.json")).unwrap()).unwrap()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // A test that failed while this node ran: what the node said, so a
        // failure on a loaded CI machine can be read rather than guessed.
        if std::thread::panicking() {
            let lines: Vec<String> = self.stderr.try_iter().collect();
            let tail = &lines[lines.len().saturating_sub(80)..];
            eprintln!(
                "--- mirror node in {} (last {} of {} lines) ---\n{}",
                self.home.display(),
                tail.len(),
                lines.len(),
                tail.join("\n")
            );
        }
    }
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

pub fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn record_ids(home: &Path) -> Vec<String> {
    json_of(home, &["commons", "records"])["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

/// Run `mirror`, expecting it to fail; its stderr.
pub fn fails(home: &Path, args: &[&str]) -> String {
    let out: Output = mirror(home, args).output().unwrap();
    assert!(
        !out.status.success(),
        "mirror {args:?} should have failed: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stderr).unwrap()
}
