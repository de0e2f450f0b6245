//! The `mirror` command line as a new user meets it: runnable examples,
//! checked for their output, their JSON and their exit codes.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

struct Node {
    _dir: tempfile::TempDir,
    home: PathBuf,
}

impl Node {
    fn new() -> Node {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("mirror-home");
        Node { _dir: dir, home }
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

    /// Run, expect success, return stdout.
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
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

#[test]
fn a_first_reflection_sets_up_the_node_and_says_where() {
    let node = Node::new();
    let out = node.run(&["reflect", "I have to finish the report by Friday."]);
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("set up a new node in"), "{stderr}");
    assert!(stderr.contains(node.home.to_str().unwrap()), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("Stored reflection "));
    assert!(node.home.join("mirror.redb").exists());
    assert!(node.home.join("config.toml").exists());
    for file in ["mirror.redb", "config.toml"] {
        let mode = std::fs::metadata(node.home.join(file))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "{file} must be private");
    }
    // init afterwards reports what is there and changes nothing.
    let init = node.json(&["init"]);
    assert_eq!(init["created"], false);
    let list = node.json(&["list"]);
    assert_eq!(list["reflections"].as_array().unwrap().len(), 1);
}

#[test]
fn reflect_reads_arguments_stdin_and_the_editor() {
    let node = Node::new();
    node.ok(&["init", "--name", "Ada"]);

    let mut child = node
        .command(&["reflect", "--json", "--visibility", "sync_summary"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all("Piped in from a notes app.\nSecond line.".as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let stored: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(stored["reflection"]["source"], "stdin");
    assert_eq!(stored["reflection"]["visibility"], "sync_summary");

    // An "editor" that writes above the scissors line.
    let script = node._dir.path().join("fake-editor.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\nprintf 'Written in my editor.\\n%s\\n' \"$(cat \"$1\")\" > \"$1\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = node
        .command(&["reflect", "--editor", "--json"])
        .env("VISUAL", &script)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stored: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(stored["reflection"]["source"], "editor");
    assert_eq!(stored["reflection"]["content"], "Written in my editor.");

    // Nothing written: nothing stored, and a clear line.
    let err = node.fails(&["reflect"], 1);
    assert!(err.contains("empty"), "{err}");
    assert_eq!(
        node.json(&["list"])["reflections"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn threads_tensions_search_and_show_work_as_a_person_would_use_them() {
    let node = Node::new();
    let thread = node.json(&["thread", "new", "Family"])["thread"].clone();
    let short = &id(&thread)[28..];
    let r1 = node.json(&["reflect", "--thread", short, "Mum's garden is in bloom."])["reflection"]
        .clone();
    let r2 = node.json(&[
        "reflect",
        "--at",
        "2025-06-01",
        "Dad called about the garden.",
    ])["reflection"]
        .clone();
    node.ok(&["thread", "add", short, &id(&r2)]);

    let shown = node.json(&["thread", "show", short]);
    assert_eq!(shown["reflections"].as_array().unwrap().len(), 2);
    assert_eq!(
        shown["reflections"][0]["id"], r2["id"],
        "oldest first in a thread"
    );

    let hits = node.json(&["search", "garden"]);
    assert_eq!(hits["reflections"].as_array().unwrap().len(), 2);
    let hits = node.json(&["search", "mum", "--since", "2026-01-01"]);
    assert_eq!(hits["reflections"][0]["id"], r1["id"]);
    assert_eq!(
        node.json(&["list", "--until", "2026-01-01"])["reflections"][0]["id"],
        r2["id"]
    );

    let tension = node.json(&[
        "tension",
        "add",
        "work and rest",
        "control",
        "surrender",
        "--position",
        "-0.5",
    ])["tension"]
        .clone();
    node.ok(&[
        "tension",
        "position",
        &id(&tension),
        "0.25",
        "--reflection",
        &id(&r1),
    ]);
    let shown = node.json(&["tension", "show", &id(&tension)]);
    assert_eq!(shown["tension"]["position"], 0.25);
    assert_eq!(shown["evidence"][0]["reflection_id"], r1["id"]);
    let text = node.ok(&["tension", "show", &id(&tension)]);
    assert!(text.contains("control") && text.contains("surrender") && text.contains('●'));

    node.ok(&["thread", "archive", short]);
    let err = node.fails(&["thread", "add", short, &id(&r1)], 1);
    assert!(err.contains("archived"), "{err}");
    let shown = node.ok(&["show", &id(&r1)]);
    assert!(shown.contains("Mum's garden") && shown.contains("Family"));
}

#[test]
fn exit_codes_two_for_usage_one_for_failures_with_one_stderr_line() {
    let node = Node::new();
    node.ok(&["init"]);
    for args in [
        &["reflect", "--visibility", "public", "x"][..],
        &["frobnicate"],
        &["feedback", "abcd1234", "--rating", "9"],
        &["tension", "add", "t", "a", "b", "--position", "nope"],
        &["list", "--since", "someday"],
        &["show", "not-an-id!"],
    ] {
        let err = node.fails(args, 2);
        assert!(!err.trim().is_empty(), "{args:?} printed nothing");
    }
    let err = node.fails(&["reflect", "--visibility", "public", "x"], 2);
    assert!(
        err.contains("local_only, sync_summary, sync_full_public"),
        "{err}"
    );

    for args in [
        &["show", "0123456789ab"][..],
        &["thread", "show", "ffffffff"],
        &["tension", "add", "t", "calm", "calm"],
        &["import", "/nonexistent/bundle.tar.gz"],
        &["reflect", "--metadata", "[1,2]", "x"],
    ] {
        let out = node.run(args);
        let code = out.status.code().unwrap();
        assert!(code == 1 || code == 2, "{args:?} exited {code}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("mirror: error: "), "{err}");
    }
}

#[test]
fn the_database_in_use_is_reported_after_a_bounded_wait() {
    let node = Node::new();
    node.ok(&["init"]);
    let _held = mirror_node::store::Store::open(&node.home.join("mirror.redb")).unwrap();
    let started = std::time::Instant::now();
    let err = node.fails(&["list"], 1);
    assert!(err.contains("in use"), "{err}");
    // Not a hang: well under any lock timeout (a generous bound, not a benchmark).
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
}

fn bundle_path(dir: &Path) -> PathBuf {
    dir.join("backup.tar.gz")
}

#[test]
fn export_then_import_on_a_fresh_machine() {
    let node = Node::new();
    node.ok(&["reflect", "One."]);
    node.ok(&["reflect", "Two."]);
    node.ok(&["thread", "new", "Numbers"]);
    let out = bundle_path(node._dir.path());
    let summary = node.json(&["export", "--out", out.to_str().unwrap()]);
    assert_eq!(summary["includes_keys"], false);
    let err = node.fails(&["export", "--out", out.to_str().unwrap()], 1);
    assert!(err.contains("already exists"), "{err}");

    let fresh = Node::new();
    let checked = fresh.json(&["import", "--dry-run", out.to_str().unwrap()]);
    assert_eq!(checked["valid"], true);
    assert!(
        !fresh.home.join("mirror.redb").exists(),
        "a dry run writes nothing"
    );
    let imported = fresh.json(&["import", out.to_str().unwrap()]);
    assert!(imported["identity_adopted"].is_string());
    assert_eq!(
        fresh.json(&["list"])["reflections"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let again = fresh.ok(&["import", out.to_str().unwrap()]);
    assert!(again.contains("0 records added"), "{again}");
    let status = fresh.json(&["status"]);
    assert_eq!(status["record_counts"]["reflections"], 2);
    assert_eq!(status["record_counts"]["threads"], 1);
}

#[test]
fn migrate_status_down_and_up() {
    let node = Node::new();
    node.ok(&["reflect", "Searchable words here."]);
    let status = node.json(&["migrate", "status"]);
    assert_eq!(status["version"], 3);
    let down = node.json(&["migrate", "down", "--to", "1"]);
    assert_eq!(down["to"], 1);
    assert!(down["backup"].is_string());
    assert_eq!(node.json(&["migrate", "status"])["version"], 1);
    // Any ordinary command upgrades the database again (with a backup).
    assert_eq!(
        node.json(&["search", "searchable"])["reflections"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(node.json(&["migrate", "status"])["version"], 3);
    let up = node.ok(&["migrate", "up"]);
    assert!(up.contains("nothing to do"), "{up}");
    let err = node.fails(&["migrate", "down", "--to", "0"], 1);
    assert!(err.contains("base schema"), "{err}");
}

#[test]
fn reflect_answers_with_a_compliant_mirrorback_and_notices_patterns() {
    let node = Node::new();
    let out = node.json(&[
        "reflect",
        "I have to finish the report by Friday and I always feel like nobody listens.",
    ]);
    let mirrorback = &out["mirrorback"];
    assert_eq!(mirrorback["engine_mode"], "manual");
    assert_eq!(mirrorback["fell_back"], false);
    let text = mirrorback["text"].as_str().unwrap();
    // The writer's own clause with their state in it, turned to the
    // second person, then the obligation they wrote.
    assert!(
        text.starts_with("You always feel like nobody listens."),
        "{text}"
    );
    assert!(text.contains("“have to”"), "{text}");
    assert!(text.trim_end().ends_with('?'));
    let patterns: Vec<&str> = out["engine_run"]["patterns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert_eq!(patterns, ["absolute_thinking", "obligation_language"]);
    // Human output shows the mirrorback and how to rate it.
    let human = node.ok(&[
        "reflect",
        "Part of me wants to stay, part of me wants to go.",
    ]);
    assert!(
        human.contains("Part of you wants to stay") && human.contains("wants to go"),
        "{human}"
    );
    assert!(human.contains("Rate this mirrorback: mirror feedback"));
    // The run can be rated by its short id.
    let run = out["engine_run"]["id"].as_str().unwrap();
    let fb = node.json(&[
        "feedback",
        &run[28..],
        "--rating",
        "4",
        "--flag",
        "insightful",
    ]);
    assert_eq!(fb["feedback"]["rating"], 4);
}

#[test]
fn suggested_tensions_can_be_accepted_or_dismissed() {
    let node = Node::new();
    node.ok(&[
        "reflect",
        "I keep checking every detail of the move, and I know I need to let the movers do their job.",
    ]);
    node.ok(&[
        "reflect",
        "My head says the numbers don't work. My heart says buy the farmhouse anyway.",
    ]);
    let suggestions = node.json(&["tension", "suggestions"])["suggestions"].clone();
    let list = suggestions.as_array().unwrap();
    assert_eq!(list.len(), 2, "{suggestions}");
    let control = list.iter().find(|s| s["axis_a"] == "control").unwrap();
    let head = list.iter().find(|s| s["axis_a"] == "thinking").unwrap();
    let accepted = node.json(&["tension", "accept", &id(control)[28..]]);
    assert_eq!(accepted["tension"]["origin"], "system_seed");
    node.ok(&["tension", "dismiss", &id(head)[28..]]);
    assert!(
        node.json(&["tension", "suggestions"])["suggestions"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        node.json(&["tension", "suggestions", "--all"])["suggestions"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let err = node.fails(&["tension", "dismiss", &id(head)[28..]], 1);
    assert!(err.contains("already"), "{err}");
    // A dismissed pair is not suggested again.
    node.ok(&[
        "reflect",
        "My head and my heart disagree about the job in Oslo.",
    ]);
    assert!(
        node.json(&["tension", "suggestions"])["suggestions"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        node.json(&["tension", "list"])["tensions"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn config_consent_and_constitution_commands() {
    let node = Node::new();
    node.ok(&["init"]);
    node.ok(&["config", "set", "engine.ollama.model", "llama3.1"]);
    let shown = node.json(&["config", "show"]);
    assert_eq!(shown["config"]["engine"]["ollama"]["model"], "llama3.1");
    assert_eq!(shown["config"]["engine"]["mode"], "manual");
    let err = node.fails(&["config", "set", "engine.mode", "gpt"], 2);
    assert!(err.contains("manual, ollama, anthropic, openai"), "{err}");
    let err = node.fails(
        &["config", "set", "engine.anthropic.api_key", "sk-live-1"],
        2,
    );
    assert!(err.contains("environment"), "{err}");
    assert!(
        !std::fs::read_to_string(node.home.join("config.toml"))
            .unwrap()
            .contains("sk-live-1")
    );

    let consent = node.json(&["consent", "show"]);
    assert!(
        consent["consent"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["granted"] == false)
    );
    node.ok(&["consent", "grant", "remote_engine"]);
    node.ok(&["consent", "revoke", "remote_engine"]);
    let consent = node.json(&["consent", "show"]);
    let remote = consent["consent"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["category"] == "remote_engine")
        .unwrap();
    assert_eq!(remote["granted"], false);
    node.fails(&["consent", "grant", "everything"], 2);

    let constitution = node.json(&["constitution", "show"]);
    assert_eq!(constitution["hash"], mirror_constitution::GENESIS_HASH);
    assert_eq!(constitution["genesis"], true);
    assert_eq!(constitution["invariants"].as_array().unwrap().len(), 7);
    // An edited constitution: the engine refuses, but the data stays reachable.
    let doc = node.home.join("constitution/01-core-principle.md");
    let mut text = std::fs::read_to_string(&doc).unwrap();
    text.push_str("\nThe Mirror may advise.\n");
    std::fs::write(&doc, text).unwrap();
    let err = node.fails(&["constitution", "verify"], 1);
    assert!(err.contains("neither the genesis"), "{err}");
    let err = node.fails(&["reflect", "hello"], 1);
    assert!(err.contains("will not run"), "{err}");
    node.ok(&["list"]);
    node.ok(&[
        "export",
        "--out",
        node._dir.path().join("b.tar.gz").to_str().unwrap(),
    ]);
}

#[test]
fn eval_reports_precision_recall_and_f1() {
    let node = Node::new();
    let file = node._dir.path().join("set.jsonl");
    std::fs::write(
        &file,
        concat!(
            r#"{"id":"1","text":"I have to go.","patterns":["obligation_language"]}"#, "\n",
            r#"{"id":"2","text":"Nice walk today.","patterns":[]}"#, "\n",
            r#"{"id":"3","text":"Everyone always leaves.","patterns":["absolute_thinking","self_judgment"]}"#, "\n",
        ),
    )
    .unwrap();
    let report = node.json(&["eval", "patterns", file.to_str().unwrap()]);
    assert_eq!(report["items"], 3);
    let categories = report["categories"].as_array().unwrap();
    let judgment = categories
        .iter()
        .find(|c| c["category"] == "self_judgment")
        .unwrap();
    assert_eq!(judgment["recall"], 0.0);
    let obligation = categories
        .iter()
        .find(|c| c["category"] == "obligation_language")
        .unwrap();
    assert_eq!(obligation["f1"], 1.0);
    std::fs::write(&file, "{not json}\n").unwrap();
    let err = node.fails(&["eval", "patterns", file.to_str().unwrap()], 1);
    assert!(err.contains("line 1"), "{err}");
}

/// A new user writing about a crisis sees care and where help is; the
/// region is theirs to set, and `mirror safety show` says what is in force.
#[test]
fn a_crisis_entry_is_met_with_care_and_help() {
    let node = Node::new();
    // No region, and a locale naming none: the international fallback.
    let shown = node
        .command(&["safety", "show", "--json"])
        .env("LANG", "C.UTF-8")
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .output()
        .unwrap();
    let shown: Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(shown["region"]["code"], "INTL");
    // The locale's region when none is set.
    let shown = node
        .command(&["safety", "show"])
        .env("LANG", "en_AU.UTF-8")
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .output()
        .unwrap();
    let text = String::from_utf8(shown.stdout).unwrap();
    assert!(
        text.contains("Australia") && text.contains("13 11 14"),
        "{text}"
    );

    // A region the directory does not have is refused, with the known ones.
    let err = node.fails(&["config", "set", "safety.region", "ZZ"], 2);
    assert!(err.contains("GB") && err.contains("ZZ"), "{err}");
    let err = node.fails(&["config", "set", "safety.region", "Britain"], 2);
    assert!(err.contains("region"), "{err}");
    node.ok(&["config", "set", "safety.region", "gb"]);
    let shown = node.json(&["safety", "show"]);
    assert_eq!(shown["region"]["code"], "GB");
    assert_eq!(shown["configured"], "GB");

    // Written for this test: English, then Spanish.
    let out = node.json(&["reflect", "Lately I keep thinking about ending it all."]);
    let answer = out["mirrorback"]["text"].as_str().unwrap();
    assert!(
        answer.contains("999") && answer.contains("116 123"),
        "{answer}"
    );
    assert_eq!(out["engine_run"]["flags"][0], "crisis");
    assert!(out["patterns"].as_array().unwrap().is_empty());
    let out = node.json(&["reflect", "No quiero seguir viviendo así, ya no puedo más."]);
    let answer = out["mirrorback"]["text"].as_str().unwrap();
    assert!(
        answer.starts_with("Gracias") && answer.contains("999"),
        "{answer}"
    );
    // The human output shows no pattern analysis for it.
    let human = node.ok(&["reflect", "I want to kill myself tonight."]);
    assert!(!human.contains("Noticed:"), "{human}");
}

// ---------------------------------------------------------------------------
// #13: a journal people can live in
// ---------------------------------------------------------------------------

#[test]
fn a_reader_that_goes_away_ends_the_output_quietly() {
    let node = Node::new();
    for i in 0..3 {
        node.ok(&["reflect", "--no-mirror", &format!("entry {i}")]);
    }
    // `mirror list | head -0`: the reader is gone before anything is written.
    let mut child = node
        .command(&["list"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "exit {:?}", out.status);
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn errors_are_one_clean_line_or_a_json_object() {
    let node = Node::new();
    node.ok(&["init"]);
    // No doubled OS message.
    let err = node.fails(&["import", "/nonexistent/bundle.tar.gz"], 1);
    assert_eq!(err.matches("os error 2").count(), 1, "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    // No bytes of a broken archive in the message.
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.tar.gz");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&[0x41u8; 600]).unwrap();
    gz.write_all(&(0u8..=255).collect::<Vec<u8>>()).unwrap();
    std::fs::write(&junk, gz.finish().unwrap()).unwrap();
    let err = node.fails(&["import", junk.to_str().unwrap()], 1);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(!err.contains("AAAA"), "{err}");
    assert!(
        err.trim_end()
            .chars()
            .all(|c| !c.is_control() && c != '\u{fffd}'),
        "{err:?}"
    );
    // clap's usage errors: one line too, still exit 2.
    let err = node.fails(&["list", "--limit", "0"], 2);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("at least 1"), "{err}");
    // Under --json, an object on stderr, for usage errors and failures.
    for (args, code) in [
        (&["show", "zz", "--json"][..], 2),
        (&["list", "--limit", "0", "--json"], 2),
        (&["show", "0123456789ab", "--json"], 1),
    ] {
        let err = node.fails(args, code);
        let v: Value = serde_json::from_str(err.trim()).unwrap_or_else(|e| panic!("{e}: {err}"));
        assert_eq!(v["error"]["exit_code"], code, "{v}");
        assert!(v["error"]["message"].as_str().unwrap().len() > 5);
    }
}

#[test]
fn every_json_answer_is_an_object() {
    let node = Node::new();
    node.ok(&["reflect", "--no-mirror", "hello there"]);
    for args in [
        &["list"][..],
        &["thread", "list"],
        &["tension", "list"],
        &["status"],
        &["commons", "peers"],
        &["commons", "records"],
        &["telemetry", "log"],
        &["search", "hello"],
        &["consent", "show"],
    ] {
        let v = node.json(args);
        assert!(v.is_object(), "{args:?}: {v}");
    }
}

#[test]
fn list_says_when_filters_hide_everything_and_takes_n() {
    let node = Node::new();
    assert!(node.ok(&["list"]).contains("No reflections yet"));
    for i in 0..3 {
        node.ok(&["reflect", "--no-mirror", &format!("entry number {i}")]);
    }
    let out = node.ok(&["list", "--since", "2999-01-01"]);
    assert!(out.contains("match these filters"), "{out}");
    assert!(!out.contains("yet"), "{out}");
    assert_eq!(node.ok(&["list", "-n", "2"]).lines().count(), 2);
    assert_eq!(
        node.json(&["list", "-n", "1"])["reflections"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    node.fails(&["list", "--limit", "0"], 2);
}

#[test]
fn help_lists_closed_sets() {
    let node = Node::new();
    let help = node.ok(&["reflect", "--help"]);
    for value in ["local_only", "sync_full_public", "manual", "ollama"] {
        assert!(help.contains(value), "{value}: {help}");
    }
    let help = node.ok(&["thread", "list", "--help"]);
    assert!(help.contains("archived"), "{help}");
    let help = node.ok(&["consent", "grant", "--help"]);
    assert!(help.contains("remote_engine"), "{help}");
}

#[test]
fn the_id_list_shows_and_its_prefixes_work_everywhere() {
    let node = Node::new();
    let first = node.json(&[
        "reflect",
        "--engine",
        "manual",
        "The walk by the river was quiet.",
    ]);
    let second = node.json(&[
        "reflect",
        "--engine",
        "manual",
        "Another walk, another river.",
    ]);
    let full = id(&first["reflection"]);
    // What `list` shows.
    let listed = node.ok(&["list"]);
    let short = full.replace('-', "")[24..].to_string();
    assert!(listed.contains(&short), "{listed}");
    assert_eq!(id(&node.json(&["show", &short])["reflection"]), full);
    // Any unique prefix of the full id.
    let hex = full.replace('-', "");
    let other = id(&second["reflection"]).replace('-', "");
    let common = hex
        .chars()
        .zip(other.chars())
        .take_while(|(a, b)| a == b)
        .count();
    let unique: String = hex.chars().take((common + 1).max(4)).collect();
    assert_eq!(id(&node.json(&["show", &unique])["reflection"]), full);
    // A prefix both share: ambiguous, naming them.
    if common >= 4 {
        let shared: String = hex.chars().take(common).collect();
        let err = node.fails(&["show", &shared], 1);
        assert!(err.contains("ambiguous") && err.contains(&full), "{err}");
    }
    // Feedback by the reflection's id rates its run.
    let rated = node.json(&["feedback", &short, "--rating", "4"]);
    assert_eq!(
        rated["feedback"]["run_id"], first["engine_run"]["id"],
        "{rated}"
    );
    // A new thread is shown by its short id, which works.
    let out = node.ok(&["thread", "new", "rivers"]);
    let thread_short = out.split('(').nth(1).unwrap().trim_end_matches(").\n");
    assert_eq!(thread_short.len(), 8, "{out}");
    node.ok(&["thread", "add", thread_short, &short]);
    assert!(node.ok(&["thread", "show", thread_short]).contains("river"));
}

#[test]
fn edit_keeps_the_earlier_text_and_search_follows() {
    let node = Node::new();
    let r = node.json(&["reflect", "--no-mirror", "The heron stood in the shallows."]);
    let rid = id(&r["reflection"]);
    assert!(r["mirrorback"].is_null(), "{r}");
    node.ok(&["edit", &rid, "--text", "The egret stood in the reeds."]);
    let shown = node.json(&["show", &rid, "--history"]);
    assert_eq!(
        shown["reflection"]["content"],
        "The egret stood in the reeds."
    );
    assert_eq!(
        shown["revisions"][0]["content"],
        "The heron stood in the shallows."
    );
    assert!(node.ok(&["show", &rid, "--history"]).contains("heron"));
    assert!(!node.ok(&["show", &rid]).contains("heron"));
    // The index forgot the old words and learnt the new ones.
    assert!(
        node.json(&["search", "heron"])["reflections"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        node.json(&["search", "egret"])["reflections"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // The same text again, or none, changes nothing.
    node.fails(
        &["edit", &rid, "--text", "The egret stood in the reeds."],
        1,
    );
    node.fails(&["edit", &rid, "--text", "   "], 2);
    // With $EDITOR: opened on the current text.
    let dir = tempfile::tempdir().unwrap();
    let editor = dir.path().join("ed.sh");
    std::fs::write(&editor, "#!/bin/sh\nsed -i 's/egret/crane/' \"$1\"\n").unwrap();
    std::fs::set_permissions(&editor, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = node
        .command(&["edit", &rid])
        .env("EDITOR", &editor)
        .env_remove("VISUAL")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shown = node.json(&["show", &rid, "--history"]);
    assert_eq!(
        shown["reflection"]["content"],
        "The crane stood in the reeds."
    );
    assert_eq!(shown["revisions"].as_array().unwrap().len(), 2);
    // A mirrorback for the new text, made on request.
    let m = node.json(&["mirrorback", &rid, "--engine", "manual"]);
    assert_eq!(m["reflection"]["id"], rid.as_str());
    assert!(m["mirrorback"]["text"].as_str().unwrap().len() > 10);
    assert_eq!(
        node.json(&["show", &rid])["mirrorbacks"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn delete_removes_a_reflection_everywhere_and_an_old_bundle_does_not_bring_it_back() {
    let node = Node::new();
    let keep = node.json(&[
        "reflect",
        "--engine",
        "manual",
        "I keep thinking about the meeting.",
    ]);
    let gone = node.json(&[
        "reflect",
        "--engine",
        "manual",
        "The lighthouse keeper wrote back.",
    ]);
    let gone_id = id(&gone["reflection"]);
    let thread = node.json(&["thread", "new", "letters"]);
    node.ok(&["thread", "add", &id(&thread["thread"]), &gone_id]);
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("before.tar.gz");
    node.ok(&["export", "--out", bundle.to_str().unwrap()]);

    // Not at a terminal and without --yes: refused, nothing changed.
    node.fails(&["delete", &gone_id], 2);
    assert_eq!(
        node.json(&["list"])["reflections"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    let d = node.json(&["delete", &gone_id, "--yes"]);
    assert_eq!(d["deleted"]["mirrorbacks"], 1, "{d}");
    assert_eq!(d["deleted"]["engine_runs"], 1, "{d}");
    assert_eq!(d["deleted"]["threads"], 1, "{d}");
    node.fails(&["show", &gone_id], 1);
    assert!(
        node.json(&["search", "lighthouse"])["reflections"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let t = node.json(&["thread", "show", &id(&thread["thread"])]);
    assert!(t["reflections"].as_array().unwrap().is_empty(), "{t}");
    let status = node.json(&["status"]);
    assert_eq!(status["record_counts"]["reflections"], 1);
    assert_eq!(status["record_counts"]["mirrorbacks"], 1);
    assert_eq!(status["record_counts"]["engine_runs"], 1);
    // Nothing left dangling: the full check passes.
    let doctor = node.run(&["doctor"]);
    assert!(
        doctor.status.success(),
        "{}{}",
        String::from_utf8_lossy(&doctor.stdout),
        String::from_utf8_lossy(&doctor.stderr)
    );

    // The older bundle does not resurrect it, and says so.
    let imported = node.json(&["import", bundle.to_str().unwrap()]);
    assert!(
        imported.to_string().contains("restore-deleted"),
        "{imported}"
    );
    assert_eq!(
        node.json(&["list"])["reflections"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        id(&node.json(&["list"])["reflections"][0]),
        id(&keep["reflection"])
    );
    // Unless asked.
    node.ok(&["import", bundle.to_str().unwrap(), "--restore-deleted"]);
    assert_eq!(id(&node.json(&["show", &gone_id])["reflection"]), gone_id);
    assert_eq!(
        node.json(&["search", "lighthouse"])["reflections"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn an_edited_reflection_meets_its_older_self_in_a_bundle_without_conflict() {
    let node = Node::new();
    let r = node.json(&["reflect", "--no-mirror", "First draft of the day."]);
    let rid = id(&r["reflection"]);
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("before.tar.gz");
    node.ok(&["export", "--out", bundle.to_str().unwrap()]);
    node.ok(&["edit", &rid, "--text", "Second draft of the day."]);
    node.ok(&["import", bundle.to_str().unwrap()]);
    assert_eq!(
        node.json(&["show", &rid])["reflection"]["content"],
        "Second draft of the day."
    );
}

#[test]
fn edits_and_deletes_travel_in_bundles_and_an_older_bundle_resurrects_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let a = Node::new();
    let kept =
        id(&a.json(&["reflect", "--no-mirror", "First draft by the harbour."])["reflection"]);
    let gone =
        id(&a.json(&["reflect", "--no-mirror", "A note about the lighthouse."])["reflection"]);
    a.ok(&["export", "--out", &path("old.tar.gz")]);
    a.ok(&["edit", &kept, "--text", "Second draft by the harbour."]);
    a.ok(&["delete", &gone, "--yes"]);
    a.ok(&["export", "--out", &path("new.tar.gz")]);

    // Restored on a new node: the edit's earlier text, and the delete.
    let b = Node::new();
    let imported = b.json(&["import", &path("new.tar.gz")]);
    assert_eq!(
        imported["report"]["tables"]["reflection_revisions"]["added"], 1,
        "{imported}"
    );
    assert_eq!(
        imported["report"]["tables"]["tombstones"]["added"], 1,
        "{imported}"
    );
    let shown = b.json(&["show", &kept, "--history"]);
    assert_eq!(
        shown["reflection"]["content"],
        "Second draft by the harbour."
    );
    assert_eq!(
        shown["revisions"][0]["content"], "First draft by the harbour.",
        "{shown}"
    );
    // The older bundle brings back neither the old text nor the deleted
    // entry, and says how to ask for it.
    let older = b.json(&["import", &path("old.tar.gz")]);
    assert!(older.to_string().contains("restore-deleted"), "{older}");
    b.fails(&["show", &gone], 1);
    assert_eq!(
        b.json(&["show", &kept])["reflection"]["content"],
        "Second draft by the harbour."
    );
    assert!(
        b.json(&["search", "lighthouse"])["reflections"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // A node that had the older journal takes the edit (the search index
    // follows), and keeps the entry deleted elsewhere, saying so.
    let c = Node::new();
    c.ok(&["import", &path("old.tar.gz")]);
    let newer = c.json(&["import", &path("new.tar.gz")]);
    assert_eq!(
        newer["report"]["tables"]["reflections"]["updated"], 1,
        "{newer}"
    );
    assert!(newer.to_string().contains("mirror delete"), "{newer}");
    assert_eq!(
        c.json(&["show", &kept])["reflection"]["content"],
        "Second draft by the harbour."
    );
    let found = c.json(&["search", "second"]);
    assert_eq!(found["reflections"].as_array().unwrap().len(), 1, "{found}");
    assert!(
        c.json(&["search", "first"])["reflections"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(id(&c.json(&["show", &gone])["reflection"]), gone);
    // Both still pass the full check.
    for node in [&b, &c] {
        let doctor = node.run(&["doctor"]);
        assert!(
            doctor.status.success(),
            "{}",
            String::from_utf8_lossy(&doctor.stdout)
        );
    }
}

/// The daily backups in a home, by name.
fn daily_backups(home: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(home.join("backups"))
        .map(|dir| {
            dir.filter_map(|e| e.ok())
                .filter(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    name.contains("-daily-") && !name.starts_with(".partial")
                })
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default()
}

/// Wait (up to a minute: the machine may be loaded) for the background
/// backup to leave `n` daily backups.
fn wait_for_daily_backups(home: &Path, n: usize) -> Vec<PathBuf> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let found = daily_backups(home);
        if found.len() >= n || std::time::Instant::now() > deadline {
            return found;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn the_daily_backup_is_taken_in_the_background_after_a_writing_command() {
    let node = Node::new();
    let r = node.json(&["reflect", "--no-mirror", "something worth keeping"]);
    let backups = wait_for_daily_backups(&node.home, 1);
    assert_eq!(backups.len(), 1);
    // A whole, checked copy holding what was written.
    let copy = mirror_node::store::Store::open_read_only(&backups[0]).unwrap();
    assert!(copy.verify().ok());
    let rid: mirror_node::model::Id = r["reflection"]["id"].as_str().unwrap().parse().unwrap();
    assert!(
        copy.get::<mirror_node::model::Reflection>(rid)
            .unwrap()
            .is_some()
    );
    drop(copy);
    // One a day: the next write does not take another, nor does asking.
    node.ok(&["reflect", "--no-mirror", "and something else"]);
    assert!(node.ok(&["backup", "--if-due"]).contains("No backup due"));
    assert_eq!(daily_backups(&node.home).len(), 1);
    // `mirror backup` takes one now.
    let now = node.json(&["backup"]);
    assert!(now["backup"].as_str().unwrap().contains("-daily-"));
    assert_eq!(daily_backups(&node.home).len(), 2);
}

#[test]
fn a_writing_command_answers_while_a_backup_is_being_taken_and_adds_no_second() {
    let node = Node::new();
    let backups = node.home.join("backups");
    std::fs::create_dir_all(&backups).unwrap();
    std::fs::set_permissions(&node.home, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::set_permissions(&backups, std::fs::Permissions::from_mode(0o700)).unwrap();
    // Another process is taking the daily backup: it holds the lock.
    let lock = std::fs::File::create(backups.join(".daily.lock")).unwrap();
    lock.lock().unwrap();
    node.ok(&["reflect", "--no-mirror", "written while a backup runs"]);
    node.ok(&["reflect", "--no-mirror", "and again"]);
    assert!(node.ok(&["backup", "--if-due"]).contains("No backup"));
    assert_eq!(daily_backups(&node.home), Vec::<PathBuf>::new());
    // Once it is done (here: gone), the next one is taken.
    drop(lock);
    node.ok(&["reflect", "--no-mirror", "after it"]);
    assert_eq!(wait_for_daily_backups(&node.home, 1).len(), 1);
}

#[test]
fn times_are_local_and_an_evening_entry_lands_on_its_own_day() {
    let node = Node::new();
    node.ok(&["config", "set", "time_zone", "Europe/Madrid"]);
    node.fails(&["config", "set", "time_zone", "Mars/Olympus"], 2);
    let late = node.json(&[
        "reflect",
        "--no-mirror",
        "--at",
        "2026-11-24 23:30",
        "late on the 24th",
    ]);
    let after = node.json(&[
        "reflect",
        "--no-mirror",
        "--at",
        "2026-11-25 00:30",
        "just after midnight",
    ]);
    // Stored in UTC, an hour behind Madrid in November.
    assert_eq!(
        late["reflection"]["created_at"],
        "2026-11-24T22:30:00.000000Z"
    );
    assert_eq!(
        after["reflection"]["created_at"],
        "2026-11-24T23:30:00.000000Z"
    );
    // Shown in Madrid's time.
    assert!(
        node.ok(&["show", &id(&after["reflection"])])
            .contains("2026-11-25 00:30")
    );
    // A day is Madrid's day.
    let on = |day: &str| -> Vec<String> {
        node.json(&["list", "--since", day, "--until", day])["reflections"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["content"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(on("2026-11-24"), vec!["late on the 24th"]);
    assert_eq!(on("2026-11-25"), vec!["just after midnight"]);
    // Words: today and relative spans.
    node.ok(&["reflect", "--no-mirror", "written now"]);
    assert_eq!(
        node.json(&["list", "--since", "today"])["reflections"][0]["content"],
        "written now"
    );
    assert_eq!(
        node.json(&["list", "--since", "-1h"])["reflections"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        node.json(&["list", "--until", "yesterday"])["reflections"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let err = node.fails(&["list", "--since", "someday"], 2);
    assert!(err.contains("yesterday"), "{err}");
}

#[test]
fn quick_entry_writes_a_reflection_and_refuses_what_looks_like_a_typo() {
    let node = Node::new();
    let out = node.ok(&["Today I planted the tulips by the fence."]);
    assert!(out.contains("Stored reflection"), "{out}");
    node.ok(&["went", "to", "the", "park"]);
    let listed = node.json(&["list"]);
    assert_eq!(listed["reflections"][0]["content"], "went to the park");
    assert_eq!(
        listed["reflections"][1]["content"],
        "Today I planted the tulips by the fence."
    );
    let err = node.fails(&["lsit", "-n", "5"], 2);
    assert!(err.contains("mirror list"), "{err}");
    let err = node.fails(&["stauts"], 2);
    assert!(err.contains("mirror status"), "{err}");
    node.fails(&["hello"], 2);
    assert_eq!(
        node.json(&["list"])["reflections"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn init_with_a_name_on_an_existing_node_renames_it() {
    let node = Node::new();
    let first = node.json(&["init"]);
    assert_eq!(first["identity"]["name"], "me");
    let again = node.json(&["init", "--name", "Ada"]);
    assert_eq!(again["renamed"], true);
    assert_eq!(again["identity"]["name"], "Ada");
    assert_eq!(again["identity"]["id"], first["identity"]["id"]);
    assert_eq!(node.json(&["status"])["identity"]["name"], "Ada");
    node.fails(&["init", "--name", "   "], 2);
    assert_eq!(node.json(&["status"])["identity"]["name"], "Ada");
}

#[test]
fn looking_back_on_this_day_and_over_the_weeks() {
    use jiff::ToSpan;
    let node = Node::new();
    node.ok(&["config", "set", "time_zone", "UTC"]);
    assert!(node.ok(&["on-this-day"]).contains("Nothing written"));
    let today = jiff::Zoned::now()
        .with_time_zone(jiff::tz::TimeZone::UTC)
        .date();
    let year_ago = today.checked_sub(1.year()).unwrap().to_string();
    let two_years_ago = today.checked_sub(2.years()).unwrap().to_string();
    let other_day = today
        .checked_sub(1.year())
        .unwrap()
        .checked_sub(3.days())
        .unwrap()
        .to_string();
    node.ok(&[
        "reflect",
        "--no-mirror",
        "--at",
        &format!("{year_ago} 09:00"),
        "a year ago today",
    ]);
    node.ok(&[
        "reflect",
        "--no-mirror",
        "--at",
        &format!("{two_years_ago} 21:00"),
        "two years ago today",
    ]);
    node.ok(&["reflect", "--no-mirror", "--at", &other_day, "not this day"]);
    let days = node.json(&["on-this-day"]);
    let labels: Vec<&str> = days["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels, vec!["1 year ago", "2 years ago"], "{days}");
    assert_eq!(
        days["days"][0]["reflections"][0]["content"],
        "a year ago today"
    );
    assert!(!days.to_string().contains("not this day"));

    // Three days in a row up to today, one of them mirrored.
    for back in [2, 1] {
        let day = today.checked_sub(back.days()).unwrap();
        node.ok(&[
            "reflect",
            "--no-mirror",
            "--at",
            &format!("{day} 08:00"),
            "one two three",
        ]);
    }
    node.ok(&[
        "reflect",
        "--engine",
        "manual",
        "I keep replaying the call with my sister.",
    ]);
    let i = &node.json(&["insights", "--since", "-2w"])["insights"];
    assert_eq!(i["entries"], 3, "{i}");
    assert_eq!(i["current_streak_days"], 3, "{i}");
    assert_eq!(i["words"].as_u64().unwrap(), 3 + 3 + 8);
    let weeks: u64 = i["per_week"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(weeks, 3);
    let text = node.ok(&["insights"]);
    assert!(
        text.contains("per week") && text.contains("streak"),
        "{text}"
    );
}

#[test]
fn export_for_people_as_markdown_or_json() {
    let node = Node::new();
    node.ok(&["config", "set", "time_zone", "Europe/Madrid"]);
    node.ok(&[
        "reflect",
        "--engine",
        "manual",
        "--at",
        "2026-11-24 23:30",
        "Late, by the window.",
    ]);
    node.ok(&[
        "reflect",
        "--no-mirror",
        "--at",
        "2026-11-20 08:00",
        "Early, before work.",
    ]);
    node.ok(&[
        "reflect",
        "--no-mirror",
        "--at",
        "2026-10-01",
        "Outside the span.",
    ]);
    let md = node.ok(&[
        "export",
        "--format",
        "md",
        "--since",
        "2026-11-01",
        "--until",
        "2026-11-30",
    ]);
    let early = md.find("Early, before work.").unwrap();
    let late = md.find("Late, by the window.").unwrap();
    assert!(early < late, "oldest first: {md}");
    assert!(
        md.contains("## 2026-11-24") && md.contains("### 23:30"),
        "{md}"
    );
    assert!(md.contains("\n> "), "mirrorbacks quoted: {md}");
    assert!(!md.contains("Outside the span"), "{md}");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("journal.json");
    node.ok(&[
        "export",
        "--format",
        "json",
        "--out",
        file.to_str().unwrap(),
    ]);
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(v["reflections"].as_array().unwrap().len(), 3);
    assert_eq!(v["reflections"][2]["written"], "2026-11-24 23:30");
    node.fails(&["export", "--format", "md", "--include-keys"], 2);
}

#[test]
fn tags_from_the_text_and_from_tag_are_listed_filtered_and_searched() {
    let node = Node::new();
    let a = node.json(&[
        "reflect",
        "--no-mirror",
        "Long day at #work, the heron again.",
    ]);
    node.ok(&[
        "reflect",
        "--no-mirror",
        "--tag",
        "Family",
        "Dinner with my sister.",
    ]);
    node.ok(&["reflect", "--no-mirror", "A heron by the river, no tags."]);
    let tags = node.json(&["tags"]);
    assert_eq!(
        tags["tags"],
        serde_json::json!([{"tag": "family", "reflections": 1}, {"tag": "work", "reflections": 1}])
    );
    let listed = node.json(&["list", "--tag", "work"]);
    assert_eq!(listed["reflections"].as_array().unwrap().len(), 1);
    assert_eq!(id(&listed["reflections"][0]), id(&a["reflection"]));
    assert_eq!(
        node.json(&["list", "--tag", "#family"])["reflections"][0]["content"],
        "Dinner with my sister."
    );
    assert!(
        node.ok(&["list", "--tag", "nope"])
            .contains("match these filters")
    );
    // search: a #tag narrows, words still match.
    assert_eq!(
        node.json(&["search", "heron"])["reflections"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let tagged = node.json(&["search", "#work", "heron"]);
    assert_eq!(tagged["reflections"].as_array().unwrap().len(), 1);
    assert_eq!(
        node.json(&["search", "#family"])["reflections"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        node.json(&["show", &id(&a["reflection"])])["tags"],
        serde_json::json!(["work"])
    );
    // An edit moves the tags; a delete removes them.
    node.ok(&[
        "edit",
        &id(&a["reflection"]),
        "--text",
        "Long day at #home.",
    ]);
    assert!(
        node.json(&["list", "--tag", "work"])["reflections"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        node.json(&["list", "--tag", "home"])["reflections"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    node.ok(&["delete", &id(&a["reflection"]), "--yes"]);
    assert_eq!(node.json(&["tags"])["tags"].as_array().unwrap().len(), 1);
    // Tags travel in the exports: in the text, and in metadata.
    let md = node.ok(&["export", "--format", "md"]);
    assert!(
        md.contains("Dinner with my sister.\n\nTags: #family"),
        "{md}"
    );
    let json = node.json(&["export", "--format", "json"]);
    assert_eq!(
        json["reflections"][0]["tags"],
        serde_json::json!(["family"])
    );
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("b.tar.gz");
    node.ok(&["export", "--out", bundle.to_str().unwrap()]);
    let fresh = Node::new();
    fresh.ok(&["import", bundle.to_str().unwrap()]);
    assert_eq!(
        fresh.json(&["list", "--tag", "family"])["reflections"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn search_shows_a_marked_snippet_and_the_total() {
    let node = Node::new();
    for i in 0..5 {
        node.ok(&[
            "reflect",
            "--no-mirror",
            &format!("Entry {i}: down to the river before work, and there it was again, the heron, standing still in the shallows."),
        ]);
    }
    node.ok(&["reflect", "--no-mirror", "Nothing about birds."]);
    let out = node.ok(&["search", "heron", "-n", "2"]);
    assert!(out.contains("**heron**"), "{out}");
    assert!(out.contains("2 of 5; --limit for more"), "{out}");
    let v = node.json(&["search", "heron", "-n", "2"]);
    assert_eq!(v["total"], 5);
    assert_eq!(v["reflections"].as_array().unwrap().len(), 2);
    assert!(
        v["matches"][0]["snippet"]
            .as_str()
            .unwrap()
            .contains("**heron**")
    );
    // All shown: no footer.
    assert!(!node.ok(&["search", "heron"]).contains(" of "));
}

#[test]
fn journals_from_jrnl_day_one_and_markdown_come_in_with_their_dates_once() {
    let node = Node::new();
    node.ok(&["config", "set", "time_zone", "Europe/Madrid"]);
    let dir = tempfile::tempdir().unwrap();

    // jrnl --export json
    let jrnl = dir.path().join("jrnl.json");
    std::fs::write(
        &jrnl,
        r#"{"tags": {"@work": 1}, "entries": [
            {"title": "Long day.", "body": "The meeting ran over. @work", "date": "2025-03-02", "time": "21:45", "tags": ["@work"], "starred": false},
            {"title": "Quiet morning.", "body": "", "date": "2025-03-03", "time": "07:10", "tags": [], "starred": true}
        ]}"#,
    )
    .unwrap();
    let r = node.json(&["import", "--from", "jrnl", jrnl.to_str().unwrap()]);
    assert_eq!(
        (r["entries"].as_u64(), r["added"].as_u64()),
        (Some(2), Some(2)),
        "{r}"
    );
    let again = node.json(&["import", "--from", "jrnl", jrnl.to_str().unwrap()]);
    assert_eq!(
        (again["added"].as_u64(), again["unchanged"].as_u64()),
        (Some(0), Some(2)),
        "{again}"
    );
    let day = node.json(&["list", "--since", "2025-03-02", "--until", "2025-03-02"]);
    assert_eq!(
        day["reflections"][0]["content"],
        "Long day. The meeting ran over. @work"
    );
    assert_eq!(
        day["reflections"][0]["created_at"],
        "2025-03-02T20:45:00.000000Z"
    );
    assert_eq!(day["reflections"][0]["source"], "import");
    assert_eq!(
        node.json(&["list", "--tag", "work"])["reflections"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Day One: Journal.json in the unpacked export folder.
    let day_one = dir.path().join("dayone");
    std::fs::create_dir(&day_one).unwrap();
    std::fs::write(
        day_one.join("Journal.json"),
        r#"{"metadata": {"version": "1.0"}, "entries": [
            {"uuid": "A1B2C3D4E5F60718293A4B5C6D7E8F90", "creationDate": "2024-06-01T18:30:00Z", "timeZone": "Europe/Madrid", "text": "Swam in the sea\\. Cold\\!", "tags": ["summer"], "starred": false},
            {"uuid": "0F1E2D3C4B5A69788796A5B4C3D2E1F0", "creationDate": "2024-06-02T09:00:00Z", "text": "Sunburnt."}
        ]}"#,
    )
    .unwrap();
    let r = node.json(&["import", "--from", "day-one", day_one.to_str().unwrap()]);
    assert_eq!(r["added"], 2, "{r}");
    node.json(&[
        "import",
        "--from",
        "day-one",
        day_one.join("Journal.json").to_str().unwrap(),
    ]);
    let june = node.json(&["list", "--since", "2024-06-01", "--until", "2024-06-02"]);
    let texts: Vec<&str> = june["reflections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["content"].as_str().unwrap())
        .collect();
    assert_eq!(texts, vec!["Sunburnt.", "Swam in the sea. Cold!"]);
    assert_eq!(
        node.json(&["list", "--tag", "summer"])["reflections"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // A folder of dated Markdown files.
    let md = dir.path().join("notes");
    std::fs::create_dir_all(md.join("2023")).unwrap();
    std::fs::write(
        md.join("2023/2023-01-15.md"),
        "---\ntitle: x\n---\nSnow on the #garden.\n",
    )
    .unwrap();
    std::fs::write(md.join("2023-01-16 2130-evening.md"), "Late tea.\n").unwrap();
    std::fs::write(md.join("README.md"), "Not an entry.\n").unwrap();
    let r = node.json(&["import", "--from", "markdown", md.to_str().unwrap()]);
    assert_eq!(
        (r["added"].as_u64(), r["skipped"].as_array().unwrap().len()),
        (Some(2), 1),
        "{r}"
    );
    let jan = node.json(&["list", "--since", "2023-01-15", "--until", "2023-01-16"]);
    assert_eq!(jan["reflections"][0]["content"], "Late tea.");
    assert!(
        node.ok(&["show", &id(&jan["reflections"][0])])
            .contains("2023-01-16 21:30")
    );
    assert_eq!(jan["reflections"][1]["content"], "Snow on the #garden.");

    // Each source recorded as an integration, never enabled (Day One came
    // from two paths: the folder and the file in it).
    assert_eq!(node.json(&["status"])["record_counts"]["integrations"], 4);
    assert_eq!(node.json(&["status"])["record_counts"]["reflections"], 6);

    // A broken export changes nothing.
    std::fs::write(&jrnl, r#"{"entries": [{"date": "not a date"}]}"#).unwrap();
    node.fails(&["import", "--from", "jrnl", jrnl.to_str().unwrap()], 1);
    assert_eq!(node.json(&["status"])["record_counts"]["reflections"], 6);
}

#[test]
fn ctrl_c_while_the_model_thinks_keeps_the_reflection_and_says_how_to_answer_it() {
    use std::os::unix::process::CommandExt;
    let node = Node::new();
    // A model server that accepts and never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    node.ok(&["config", "set", "engine.mode", "ollama"]);
    node.ok(&["config", "set", "engine.ollama.base_url", &url]);
    let child = node
        .command(&["reflect", "The call with my sister stays with me."])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap();
    // Once the model is asked, the reflection is stored: press Ctrl-C.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let held = listener.accept();
        let _ = tx.send(());
        std::thread::sleep(std::time::Duration::from_secs(60));
        drop(held);
    });
    rx.recv_timeout(std::time::Duration::from_secs(60))
        .expect("the model was never asked");
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(
        err.contains("is stored") && err.contains("mirror mirrorback"),
        "{err}"
    );
    let listed = node.json(&["list"]);
    assert_eq!(
        listed["reflections"][0]["content"],
        "The call with my sister stays with me."
    );
    node.ok(&["config", "set", "engine.mode", "manual"]);
    let m = node.json(&["mirrorback", &id(&listed["reflections"][0])]);
    assert!(m["mirrorback"]["text"].as_str().unwrap().len() > 10);
}

#[test]
fn ctrl_c_in_the_editor_stores_nothing_and_leaves_no_draft() {
    use std::os::unix::process::CommandExt;
    let node = Node::new();
    node.ok(&["init"]);
    let dir = tempfile::tempdir().unwrap();
    let drafts = dir.path().join("tmp");
    std::fs::create_dir(&drafts).unwrap();
    let editor = dir.path().join("ed.sh");
    // Write a draft, then Ctrl-C: SIGINT to the whole foreground group.
    std::fs::write(
        &editor,
        "#!/bin/sh\necho 'half a thought' > \"$1\"\nkill -INT 0\nsleep 5\n",
    )
    .unwrap();
    std::fs::set_permissions(&editor, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = node
        .command(&["reflect", "--editor"])
        .env("EDITOR", &editor)
        .env_remove("VISUAL")
        .env("TMPDIR", &drafts)
        .process_group(0)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("draft was removed"), "{err}");
    assert_eq!(std::fs::read_dir(&drafts).unwrap().count(), 0);
    assert!(
        node.json(&["list"])["reflections"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[test]
fn no_spinner_when_stderr_is_not_a_terminal() {
    let node = Node::new();
    node.ok(&["reflect", "--engine", "manual", "Something to carry over."]);
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("b.tar.gz");
    let fresh = Node::new();
    for (who, args) in [
        (&node, vec!["export", "--out", bundle.to_str().unwrap()]),
        (&fresh, vec!["import", bundle.to_str().unwrap()]),
        (
            &node,
            vec!["reflect", "--engine", "manual", "And one more."],
        ),
    ] {
        let out = who.run(&args);
        assert!(out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !err.contains('\u{2800}') && !err.contains('\u{280b}') && !err.contains('\r'),
            "{args:?}: {err:?}"
        );
    }
}

#[test]
fn search_folds_accents_both_ways() {
    let node = Node::new();
    node.ok(&[
        "reflect",
        "--no-mirror",
        "La casa está vacía y el café se enfría.",
    ]);
    node.ok(&["reflect", "--no-mirror", "Cafe at noon, resume in hand."]);
    let found = |q: &str| {
        node.json(&["search", q])["reflections"]
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!(found("vacia"), 1);
    assert_eq!(found("vacía"), 1);
    assert_eq!(found("cafe"), 2);
    assert_eq!(found("café"), 2);
    assert_eq!(found("résumé"), 1);
    assert!(node.ok(&["search", "vacia"]).contains("**vacía**"));
}

#[test]
fn search_stems_in_the_writers_language() {
    let node = Node::new();
    node.ok(&[
        "reflect",
        "--no-mirror",
        "I watched the herons walking along the river this morning.",
    ]);
    node.ok(&[
        "reflect",
        "--no-mirror",
        "Las casas vacías del pueblo me dieron tristeza esta tarde.",
    ]);
    node.ok(&["reflect", "--no-mirror", "A heron again, alone."]);
    let found = |q: &str| {
        node.json(&["search", q])["reflections"]
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!(found("heron"), 2);
    assert_eq!(found("herons"), 2);
    assert_eq!(found("walk"), 1);
    assert_eq!(found("casa"), 1);
    assert_eq!(found("vacia"), 1);
    assert!(node.ok(&["search", "heron"]).contains("**herons**"));
}
