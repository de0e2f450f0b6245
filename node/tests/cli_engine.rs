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
    // A new model is on trial for five entries (engine::standing): its
    // answers are checked and counted, and the built-in mirror answers.
    let trial = mirror_node::engine::standing::MIN_ASKED;
    let server = Server::start(vec![Reply::new(200).chunk(body); trial + 1]).await;
    let url = server.url.clone();
    let home2 = home.clone();
    let outs = tokio::task::spawn_blocking(move || {
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
        (0..=trial)
            .map(|_| {
                mirror(
                    &home2,
                    &[
                        "reflect",
                        "--json",
                        "I have to finish the report by Friday.",
                    ],
                )
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    for (i, out) in outs.iter().enumerate() {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(json["mirrorback"]["engine_mode"], "ollama");
        assert_eq!(json["mirrorback"]["model"], "llama3.2");
        if i < trial {
            assert_eq!(json["mirrorback"]["fell_back"], true);
            assert_eq!(
                json["mirrorback"]["flags"],
                serde_json::json!(["unproven_model"])
            );
            assert_ne!(json["mirrorback"]["text"], answer);
        } else {
            assert_eq!(json["mirrorback"]["text"], answer);
            assert_eq!(json["mirrorback"]["fell_back"], false);
        }
    }
    assert_eq!(server.requests().len(), trial + 1);

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
    assert_eq!(server.requests().len(), trial + 1, "nothing sent");

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

    // `mirror status` shows the model's record: six answers it was asked
    // for (the unreachable server's fallback says nothing about the model),
    // all passed at the first attempt: trusted.
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
        serde_json::json!([{"engine": "ollama", "model": "llama3.2", "answers": trial + 1, "passed_first_attempt": trial + 1, "trusted": true}])
    );
    let human = String::from_utf8_lossy(&out.1.stdout);
    assert!(
        human.contains("Model:    llama3.2 (ollama): passed the gates at the first attempt in 6 of its last 6 answers (trusted: its answers are kept)"),
        "{human}"
    );
}
