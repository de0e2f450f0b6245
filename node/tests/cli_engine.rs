//! `mirror reflect` through a configured language-model engine (a scripted
//! Ollama server on 127.0.0.1), as a person would set it up.

mod support;

use std::process::{Command, Stdio};

use support::{Reply, Server};

fn mirror(home: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_mirror"))
        .args(args)
        .env("MIRROR_HOME", home)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflect_through_a_configured_ollama_engine() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let answer = "It sounds like Friday is pressing on you. What would it mean to be heard?";
    let body = format!(
        "{}\n{}\n",
        serde_json::json!({"message": {"role": "assistant", "content": answer}, "done": false}),
        serde_json::json!({"message": {"content": ""}, "done": true, "done_reason": "stop"})
    );
    let server = Server::start(vec![Reply::new(200).chunk(body)]).await;
    let url = server.url.clone();
    let home2 = home.clone();
    let out = tokio::task::spawn_blocking(move || {
        assert!(
            mirror(&home2, &["config", "set", "engine.mode", "ollama"])
                .status
                .success()
        );
        assert!(
            mirror(&home2, &["config", "set", "engine.ollama.base_url", &url])
                .status
                .success()
        );
        mirror(
            &home2,
            &[
                "reflect",
                "--json",
                "I have to finish the report by Friday.",
            ],
        )
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["mirrorback"]["text"], answer);
    assert_eq!(json["mirrorback"]["engine_mode"], "ollama");
    assert_eq!(json["mirrorback"]["model"], "llama3.2");
    assert_eq!(server.requests().len(), 1);

    // --engine manual overrides the configured engine for one reflection.
    let home3 = home.clone();
    let out = tokio::task::spawn_blocking(move || {
        mirror(
            &home3,
            &["reflect", "--json", "--engine", "manual", "Quiet day."],
        )
    })
    .await
    .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["mirrorback"]["engine_mode"], "manual");
    assert_eq!(server.requests().len(), 1, "nothing sent");

    // The server gone: the reflection is stored and the built-in mirror answers.
    drop(server);
    let home4 = home.clone();
    let out =
        tokio::task::spawn_blocking(move || mirror(&home4, &["reflect", "--json", "Still here."]))
            .await
            .unwrap();
    assert!(out.status.success());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["mirrorback"]["fell_back"], true);
    assert!(
        json["notes"][0]
            .as_str()
            .unwrap()
            .contains("built-in mirror")
    );

    // `mirror status` shows the model's record: one answer it was asked
    // for (the unreachable server's fallback says nothing about the model),
    // not yet enough for a second try.
    let out = tokio::task::spawn_blocking(move || {
        (
            mirror(&home, &["status", "--json"]),
            mirror(&home, &["status"]),
        )
    })
    .await
    .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.0.stdout).unwrap();
    assert_eq!(
        json["models"],
        serde_json::json!([{"engine": "ollama", "model": "llama3.2", "answers": 1, "right_first_time": 1, "second_try": false}])
    );
    let human = String::from_utf8_lossy(&out.1.stdout);
    assert!(
        human.contains("Model:    llama3.2 (ollama): 1 answer on record"),
        "{human}"
    );
}
