//! Nothing from outside is trusted: bundles that try to grant consent or
//! point the engine elsewhere, times from the future, bundles that balloon
//! in memory or carry bytes after their end, hostile text on the terminal,
//! impossible settings, loose permissions and files a killed export left.
//! Each test drives the real `mirror` binary.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use mirror_node::bundle::{FileEntry, Manifest};
use serde_json::Value;

struct Node {
    dir: tempfile::TempDir,
    home: PathBuf,
}

impl Node {
    fn new() -> Node {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        Node { dir, home }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_mirror"));
        cmd.args(args)
            .env("MIRROR_HOME", &self.home)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null());
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "mirror {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.push("--json");
        serde_json::from_str(&self.ok(&all)).unwrap()
    }

    /// Run, expect exit `code`, return stderr.
    fn fails(&self, args: &[&str], code: i32) -> String {
        let out = self.run(args);
        assert_eq!(
            out.status.code(),
            Some(code),
            "mirror {args:?}: stdout {} stderr {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stderr).unwrap()
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

fn unpack(path: &Path) -> Vec<(String, Vec<u8>)> {
    let mut archive = tar::Archive::new(GzDecoder::new(std::fs::File::open(path).unwrap()));
    archive
        .entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let name = e.path().unwrap().to_string_lossy().into_owned();
            let mut bytes = Vec::new();
            e.read_to_end(&mut bytes).unwrap();
            (name, bytes)
        })
        .collect()
}

/// Repack `entries` as a bundle whose manifest lists every file's true size
/// and hash: what someone crafting a bundle would do.
fn repack(path: &Path, entries: &mut [(String, Vec<u8>)]) {
    let mut manifest: Manifest = serde_json::from_slice(&entries[0].1).unwrap();
    manifest.files = entries[1..]
        .iter()
        .map(|(name, bytes)| FileEntry::of(name.clone(), bytes))
        .collect();
    entries[0].1 = serde_json::to_vec_pretty(&manifest).unwrap();
    let gz = GzEncoder::new(std::fs::File::create(path).unwrap(), Compression::fast());
    let mut builder = tar::Builder::new(gz);
    for (name, bytes) in entries.iter() {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o600);
        header.set_entry_type(tar::EntryType::Regular);
        builder
            .append_data(&mut header, name, bytes.as_slice())
            .unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap();
}

fn edit(entries: &mut [(String, Vec<u8>)], name: &str, f: impl Fn(String) -> String) {
    let entry = entries.iter_mut().find(|(n, _)| n == name).unwrap();
    entry.1 = f(String::from_utf8(entry.1.clone()).unwrap()).into_bytes();
}

/// A node whose config sends its writing to `base_url` with the OpenAI
/// engine, with `remote_engine` consent granted, exported to a bundle.
fn exfiltrating_bundle(source: &Node, base_url: &str) -> PathBuf {
    source.ok(&["init"]);
    source.ok(&["config", "set", "engine.mode", "openai"]);
    source.ok(&["config", "set", "engine.openai.base_url", base_url]);
    source.ok(&["consent", "grant", "remote_engine"]);
    let out = source.path("crafted.tar.gz");
    source.ok(&["export", "--out", out.to_str().unwrap()]);
    out
}

#[test]
fn a_bundle_never_grants_consent_nor_points_the_engine_elsewhere() {
    // The host the bundle wants the diary sent to: a listener this test
    // owns, on loopback, which must hear nothing.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    let source = Node::new();
    let bundle = exfiltrating_bundle(&source, &url);

    let target = Node::new();
    let imported = target.json(&["import", bundle.to_str().unwrap()]);
    let left_out = imported["left_out"].to_string();
    assert!(left_out.contains("consent remote_engine"), "{left_out}");
    assert!(
        left_out.contains("config/config.toml: not applied"),
        "{left_out}"
    );
    assert_eq!(imported["config_restored"], false);
    let consent = target.json(&["consent", "show"]);
    assert!(
        !consent.to_string().contains("\"granted\":true"),
        "no consent was granted: {consent}"
    );
    let config = std::fs::read_to_string(target.home.join("config.toml")).unwrap();
    assert!(!config.contains(&url), "{config}");

    target.ok(&[
        "reflect",
        "My private diary: the thing I never told anyone.",
    ]);
    match listener.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        Ok((_, from)) => panic!("the diary was sent to the bundle's host (from {from})"),
        Err(e) => panic!("{e}"),
    }

    // Even a grant dated in the year 9999 (which would win every merge)
    // does not get in: the bundle is refused for its time, naming it.
    let mut entries = unpack(&bundle);
    edit(&mut entries, "data/consent.jsonl", |text| {
        let mut out = String::new();
        for line in text.lines() {
            let mut v: Value = serde_json::from_str(line).unwrap();
            v["updated_at"] = "9999-12-31T00:00:00Z".into();
            out.push_str(&v.to_string());
            out.push('\n');
        }
        out
    });
    let future = target.path("future.tar.gz");
    repack(&future, &mut entries);
    let err = target.fails(&["import", future.to_str().unwrap()], 1);
    assert!(
        err.contains("data/consent.jsonl") && err.contains("updated_at") && err.contains("future"),
        "{err}"
    );

    // The bundle's settings only by an explicit act, shown first: without a
    // terminal to ask on, --restore-config wants --yes and changes nothing.
    let before = std::fs::read_to_string(target.home.join("config.toml")).unwrap();
    let out = target.run(&["import", "--restore-config", bundle.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let shown = String::from_utf8_lossy(&out.stderr);
    assert!(
        shown.contains(&url),
        "the settings are shown first: {shown}"
    );
    assert!(shown.contains("--yes"), "{shown}");
    assert_eq!(
        std::fs::read_to_string(target.home.join("config.toml")).unwrap(),
        before
    );
    let restored = target.json(&[
        "import",
        "--restore-config",
        "--yes",
        bundle.to_str().unwrap(),
    ]);
    assert_eq!(restored["config_restored"], true);
    let config = std::fs::read_to_string(target.home.join("config.toml")).unwrap();
    assert!(config.contains(&url), "{config}");
    assert!(
        !target
            .json(&["consent", "show"])
            .to_string()
            .contains("\"granted\":true"),
        "restoring settings still grants nothing"
    );
    match listener.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("nothing was sent: {other:?}"),
    }
}

#[test]
fn times_from_the_future_are_refused_naming_the_field() {
    let node = Node::new();
    let err = node.fails(&["reflect", "--at", "9999-12-31", "Hello."], 2);
    assert!(err.contains("--at") && err.contains("future"), "{err}");
    // A day ahead is a clock that disagrees, not an attack.
    let tomorrow = (chrono::Utc::now() + chrono::Duration::hours(12))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    node.ok(&["reflect", "--at", &tomorrow, "Written a little ahead."]);

    let bundle = node.path("b.tar.gz");
    node.ok(&["export", "--out", bundle.to_str().unwrap()]);
    let mut entries = unpack(&bundle);
    edit(&mut entries, "data/reflections.jsonl", |text| {
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        let mut first: Value = serde_json::from_str(&lines[0]).unwrap();
        first["created_at"] = "2999-01-01T00:00:00Z".into();
        lines[0] = first.to_string();
        lines.join("\n") + "\n"
    });
    let future = node.path("future.tar.gz");
    repack(&future, &mut entries);
    let fresh = Node::new();
    let err = fresh.fails(&["import", future.to_str().unwrap()], 1);
    assert!(
        err.contains("data/reflections.jsonl line 1") && err.contains("created_at"),
        "{err}"
    );
    assert!(
        !fresh.home.join("mirror.redb").exists()
            || fresh.json(&["list"])["reflections"]
                .as_array()
                .unwrap()
                .is_empty()
    );
}

#[test]
fn bytes_after_the_end_of_a_bundle_are_refused() {
    let node = Node::new();
    node.ok(&["reflect", "One."]);
    let bundle = node.path("b.tar.gz");
    node.ok(&["export", "--out", bundle.to_str().unwrap()]);
    let fresh = Node::new();
    fresh.ok(&["import", "--dry-run", bundle.to_str().unwrap()]);
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&bundle)
        .unwrap();
    file.write_all(b"appended after the gzip stream").unwrap();
    drop(file);
    let err = fresh.fails(&["import", bundle.to_str().unwrap()], 1);
    assert!(err.contains("after the end of the gzip stream"), "{err}");
}

/// Peak resident memory of a child process, in bytes, read from
/// /proc/<pid>/status (VmHWM only grows) until it exits.
fn peak_memory(mut child: std::process::Child) -> (u64, std::process::ExitStatus) {
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    loop {
        if let Ok(text) = std::fs::read_to_string(&status_path)
            && let Some(kb) = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        {
            peak = peak.max(kb * 1024);
        }
        if let Some(status) = child.try_wait().unwrap() {
            return (peak, status);
        }
        std::thread::yield_now();
    }
}

#[test]
fn a_bundle_that_inflates_is_read_in_bounded_memory() {
    // 256 MiB of one data "line", a few hundred KiB on disk, listed with
    // its true size and hash so only the streaming read can stop it cheaply.
    const SIZE: u64 = 256 << 20;
    let node = Node::new();
    node.ok(&["reflect", "One."]);
    let good = node.path("good.tar.gz");
    node.ok(&["export", "--out", good.to_str().unwrap()]);
    let entries = unpack(&good);
    let mut manifest: Manifest = serde_json::from_slice(&entries[0].1).unwrap();
    let mut hasher = blake3::Hasher::new();
    std::io::copy(&mut std::io::repeat(b' ').take(SIZE), &mut hasher).unwrap();
    for f in &mut manifest.files {
        if f.path == "data/reflections.jsonl" {
            f.size = SIZE;
            f.blake3 = hasher.finalize().to_hex().to_string();
        }
    }
    let big = node.path("big.tar.gz");
    let gz = GzEncoder::new(std::fs::File::create(&big).unwrap(), Compression::default());
    let mut builder = tar::Builder::new(gz);
    let manifest_bytes = serde_json::to_vec_pretty(&manifest).unwrap();
    for (name, bytes) in
        std::iter::once(&("MANIFEST.json".to_string(), manifest_bytes)).chain(entries[1..].iter())
    {
        let mut header = tar::Header::new_gnu();
        header.set_mode(0o600);
        header.set_entry_type(tar::EntryType::Regular);
        if name == "data/reflections.jsonl" {
            header.set_size(SIZE);
            builder
                .append_data(&mut header, name, std::io::repeat(b' ').take(SIZE))
                .unwrap();
        } else {
            header.set_size(bytes.len() as u64);
            builder
                .append_data(&mut header, name, bytes.as_slice())
                .unwrap();
        }
    }
    builder.into_inner().unwrap().finish().unwrap();
    assert!(std::fs::metadata(&big).unwrap().len() < 2 << 20);

    let child = node
        .command(&["import", "--dry-run", big.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (peak, status) = peak_memory(child);
    assert_eq!(status.code(), Some(1), "the bundle is refused");
    assert!(
        peak < 96 << 20,
        "importing used {} MiB for a {} MiB data file",
        peak >> 20,
        SIZE >> 20
    );
}

#[test]
fn settings_are_range_checked_at_set_and_at_load() {
    let node = Node::new();
    node.ok(&["init"]);
    let err = node.fails(
        &[
            "config",
            "set",
            "commons.sync_interval_secs",
            "9223372036854775807",
        ],
        2,
    );
    assert!(
        err.contains("commons.sync_interval_secs") && err.contains("out of range"),
        "{err}"
    );
    // A count, not a secret.
    node.ok(&["config", "set", "engine.max_tokens", "800"]);
    assert!(
        node.fails(&["config", "set", "engine.openai.api_key", "sk-x"], 2)
            .contains("secrets")
    );
    let config = node.home.join("config.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains("sync_interval_secs = 60"), "{text}");
    let text = text.replace(
        "sync_interval_secs = 60",
        "sync_interval_secs = 9223372036854775807",
    );
    std::fs::write(&config, text).unwrap();
    let err = node.fails(&["status"], 1);
    assert!(err.contains("commons.sync_interval_secs"), "{err}");
    let err = node.fails(&["node"], 1);
    assert!(err.contains("commons.sync_interval_secs"), "{err}");
}

#[test]
fn terminal_controls_in_what_was_written_are_shown_not_obeyed() {
    let node = Node::new();
    let hostile = "Hello \u{1b}[2J\u{1b}]0;owned\u{7} and \u{202e}txt.exe";
    node.ok(&["reflect", hostile]);
    node.ok(&["thread", "new", "t\u{1b}[31mred"]);
    for args in [&["list"][..], &["thread", "list"], &["search", "hello"]] {
        let out = node.ok(args);
        assert!(
            !out.contains('\u{1b}') && !out.contains('\u{202e}'),
            "{args:?}: {out:?}"
        );
    }
    let out = node.ok(&["list"]);
    assert!(out.contains("\\u{1b}[2J"), "{out}");
    // JSON keeps the text exactly, escaped by JSON itself.
    let json = node.json(&["list"]);
    assert!(json.to_string().contains("\\u001b[2J"));
}

#[test]
fn a_very_long_entry_is_stored_and_answered() {
    let node = Node::new();
    let long = "a".repeat(70_000);
    let out = node.json(&["reflect", &long]);
    assert_eq!(out["reflection"]["content"].as_str().unwrap().len(), 70_000);
    assert!(!out["mirrorback"]["text"].as_str().unwrap().is_empty());
}

#[test]
fn loose_permissions_are_tightened_with_a_warning() {
    let node = Node::new();
    node.ok(&["reflect", "Private."]);
    let db = node.home.join("mirror.redb");
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::set_permissions(&node.home, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = node.run(&["list"]);
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("tightened"), "{stderr}");
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&db), 0o600);
    assert_eq!(mode(&node.home), 0o700);
}

#[test]
fn an_export_killed_mid_way_leaves_nothing_behind_after_the_next_command() {
    let node = Node::new();
    node.ok(&["reflect", "Private."]);
    let out_dir = node.path("exports");
    std::fs::create_dir(&out_dir).unwrap();
    // What a kill -9 during export leaves: the hidden temporary bundle of a
    // process that no longer runs, and the note that it was writing there.
    let dead = u32::MAX - 7;
    let stale = out_dir.join(format!(".mirror-export-{dead}-abc123"));
    std::fs::write(&stale, "private text").unwrap();
    let notes = node.home.join("exports-in-progress");
    std::fs::create_dir_all(&notes).unwrap();
    std::fs::write(notes.join(format!("{dead}-x")), out_dir.to_str().unwrap()).unwrap();
    node.ok(&["status"]);
    assert!(!stale.exists(), "the stale export was removed");
    assert_eq!(std::fs::read_dir(&notes).unwrap().count(), 0);

    // And an export into a directory with one cleans it first.
    std::fs::write(&stale, "private text").unwrap();
    node.ok(&[
        "export",
        "--out",
        out_dir.join("b.tar.gz").to_str().unwrap(),
    ]);
    assert!(!stale.exists());
    let names: Vec<_> = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, vec!["b.tar.gz".to_string()]);
}
