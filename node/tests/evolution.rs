//! The learning loop end to end, as a person runs it: a model (a scripted
//! Ollama server on 127.0.0.1) keeps giving advice; the performance observer
//! notices, the critic recommends a prompt adjustment, the node drafts a
//! proposal from the finding, and it enters the commons through the
//! governance flow.

mod nodes;
mod support;

use nodes::{json_of, ok};
use support::{Reply, Server};

fn ollama(text: &str) -> Reply {
    let body = format!(
        "{}\n{}\n",
        serde_json::json!({"message": {"role": "assistant", "content": text}, "done": false}),
        serde_json::json!({"message": {"content": ""}, "done": true, "done_reason": "stop"})
    );
    Reply::new(200).chunk(body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_high_directive_rate_becomes_a_proposal_in_the_commons() {
    const REFLECTIONS: usize = 6;
    // Each reflection: an answer full of advice, refused (a new model is on
    // trial, so it is asked once and the built-in mirror answers).
    let mut script = Vec::new();
    for _ in 0..REFLECTIONS {
        script.push(ollama(
            "You should call her tonight and tell her exactly how you feel. Stop waiting.",
        ));
    }
    let server = Server::start(script).await;
    let url = server.url.clone();
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let out = tokio::task::spawn_blocking(move || {
        ok(&home, &["config", "set", "engine.mode", "ollama"]);
        ok(&home, &["config", "set", "engine.ollama.base_url", &url]);
        for i in 0..REFLECTIONS {
            let r = json_of(
                &home,
                &[
                    "reflect",
                    &format!("Day {i}: I keep replaying the call with my sister."),
                ],
            );
            assert_eq!(r["mirrorback"]["engine_mode"], "ollama", "{r}");
            assert!(
                    r["engine_run"]["flags"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|f| f == "explicit_advice"
                            || f.as_str().unwrap().starts_with("directive")),
                    "{r}"
                );
        }
        // The observer noticed as it happened; the report's critic recommends.
        let report = json_of(&home, &["evolution", "report", "--days", "7"]);
        let engines = &report["stats"]["engines"]["ollama"];
        assert_eq!(engines["runs"], REFLECTIONS as u64, "{report}");
        assert_eq!(engines["directive_violations"], REFLECTIONS as u64);
        assert!(
            report["observed"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["details"]["source"] == "performance"),
            "{report}"
        );
        let finding = report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["details"]["recommendation"]["proposal_type"] == "prompt_adjustment")
            .unwrap_or_else(|| panic!("no recommendation: {report}"))
            .clone();
        let finding_id = finding["id"].as_str().unwrap().to_string();
        // Running the report again records nothing new.
        let again = json_of(&home, &["evolution", "report", "--days", "7"]);
        assert_eq!(again["findings"][0]["id"], finding["id"]);

        // The node founds a commons (its own key the guardian) and drafts a
        // proposal from the finding: its recommendation, the finding as
        // evidence.
        let me = json_of(&home, &["status"])["identity"]["public_key"]
            .as_str()
            .unwrap()
            .to_string();
        let genesis = dir.path().join("genesis.json");
        ok(
            &home,
            &[
                "commons",
                "genesis",
                "new",
                "--name",
                "solo",
                "--guardian",
                &me,
                "--out",
                genesis.to_str().unwrap(),
            ],
        );
        let draft = dir.path().join("proposal.json");
        let drafted = json_of(
            &home,
            &[
                "proposal",
                "new",
                "--from-finding",
                // A prefix, as a person types one; long enough to pass the
                // millisecond and the counter UUIDv7 ids made together share
                // (two findings made in one run differed only after 24).
                &finding_id[..28],
                "--out",
                draft.to_str().unwrap(),
            ],
        );
        let proposal = &drafted["proposal"];
        assert_eq!(proposal["proposal_type"], "prompt_adjustment", "{drafted}");
        assert_eq!(
            proposal["change"]["edits"][0]["path"],
            "/thresholds/max_regenerations"
        );
        assert_eq!(proposal["change"]["edits"][0]["before"], 2);
        assert_eq!(proposal["change"]["edits"][0]["after"], 3);
        assert_eq!(proposal["evidence"][0]["finding_id"], finding_id.as_str());
        assert_eq!(drafted["report"]["violations"].as_array().unwrap().len(), 0);

        // Through the governance flow: submitted, then moved by its proposer.
        let id = json_of(&home, &["proposal", "submit", draft.to_str().unwrap()])["id"]
            .as_str()
            .unwrap()
            .to_string();
        let shown = json_of(&home, &["proposal", "show", &id]);
        assert_eq!(shown["state"], "draft");
        assert_eq!(
            shown["proposal"]["evidence"][0]["finding_id"],
            finding_id.as_str()
        );
        ok(&home, &["proposal", "advance", &id, "testing"]);
        json_of(&home, &["proposal", "show", &id])
    })
    .await
    .unwrap();
    assert_eq!(out["state"], "testing");
    assert_eq!(server.requests().len(), REFLECTIONS);
}
