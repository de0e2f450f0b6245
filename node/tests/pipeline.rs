//! The reflection pipeline against real adapters talking to scripted local
//! servers: compliant answers are stored, non-compliant ones regenerated
//! with a stricter instruction, failures fall back to the built-in mirror,
//! the reflection is never lost, and everything sent is in the egress log.

mod support;

use std::sync::{Arc, Mutex};

use mirror_node::engine::Engine;
use mirror_node::engine::llm::*;
use mirror_node::engine::pipeline::{self, AnyAdapter, Options, Progress};
use mirror_node::home::Home;
use mirror_node::model::*;
use mirror_node::store::Store;
use support::{Reply, Server};

fn settings() -> HttpSettings {
    HttpSettings {
        connect_timeout_secs: 2,
        first_byte_timeout_secs: 2,
        idle_timeout_secs: 2,
        total_timeout_secs: 10,
        max_retries: 1,
        retry_base_ms: 10,
        max_retry_wait_secs: 2,
    }
}

fn options() -> Options {
    Options {
        max_regenerations: 2,
        temperature: 0.5,
        max_tokens: 300,
        suggest_tensions: false,
        region: None,
    }
}

/// An Ollama stream whose answer is `text`.
fn ollama_answer(text: &str) -> Reply {
    let mut body = String::new();
    for word in text.split_inclusive(' ') {
        body.push_str(
            &serde_json::json!({"message": {"role": "assistant", "content": word}, "done": false})
                .to_string(),
        );
        body.push('\n');
    }
    body.push_str(r#"{"message":{"content":""},"done":true,"done_reason":"stop"}"#);
    body.push('\n');
    Reply::new(200).chunk(body)
}

struct Fixture {
    _dir: tempfile::TempDir,
    store: Store,
    identity: Identity,
    engine: Engine,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let home = Home::at(dir.path());
    let store = home.open_store().unwrap();
    let identity = home.init_with(&store, "tester").unwrap().identity;
    Fixture {
        _dir: dir,
        store,
        identity,
        engine: Engine::genesis().unwrap(),
    }
}

fn reflection(identity: &Identity, text: &str) -> Reflection {
    Reflection {
        id: Id::new(),
        identity_id: identity.id,
        content: text.into(),
        content_type: ContentType::PlainText,
        visibility: Visibility::LocalOnly,
        source: Source::Cli,
        created_at: Timestamp::now(),
        metadata: Metadata::default(),
    }
}

async fn reflect(
    f: &Fixture,
    adapter: Option<&AnyAdapter>,
    text: &str,
) -> (pipeline::Outcome, Vec<Progress>) {
    let mut events = Vec::new();
    let outcome = pipeline::reflect(
        &f.store,
        &f.engine,
        adapter,
        reflection(&f.identity, text),
        None,
        &options(),
        &mut |p| events.push(p),
    )
    .await
    .unwrap();
    (outcome, events)
}

const TEXT: &str = "I have to finish the report by Friday and I always feel like nobody listens.";

/// Give Ollama's `llama3.2` the record that earns trust: five answers that
/// pass the gates at the first attempt, on trial through the pipeline like
/// any others (see `engine::standing`).
async fn earn_standing(f: &Fixture) {
    // Entries unlike TEXT, so the built-in mirror's answer to TEXT has no
    // history to add ("the fourth time this month").
    let entry = "We walked along the river after lunch and watched the boats.";
    let good = "You walked along the river after lunch and watched the boats. What was that like?";
    let n = mirror_node::engine::standing::MIN_ASKED;
    let server = Server::start(vec![ollama_answer(good); n]).await;
    let adapter = AnyAdapter::Ollama(Ollama::new(&server.url, "llama3.2", "5m", settings()));
    for _ in 0..n {
        let (outcome, _) = reflect(f, Some(&adapter), entry).await;
        assert_eq!(outcome.mirrorback.attempts, 1);
        assert!(outcome.mirrorback.fell_back, "on trial");
        assert_eq!(outcome.mirrorback.flags, ["unproven_model"]);
    }
}

#[tokio::test]
async fn a_compliant_answer_is_stored_with_its_egress_record() {
    let f = fixture();
    earn_standing(&f).await;
    let answer = "It sounds like the report has been sitting on you all week. What feels heaviest about Friday?";
    let server = Server::start(vec![ollama_answer(answer)]).await;
    let adapter = AnyAdapter::Ollama(Ollama::new(&server.url, "llama3.2", "5m", settings()));
    let (outcome, events) = reflect(&f, Some(&adapter), TEXT).await;

    assert_eq!(outcome.mirrorback.text, answer);
    assert_eq!(outcome.mirrorback.engine_mode, EngineMode::Ollama);
    assert_eq!(outcome.mirrorback.attempts, 1);
    assert!(!outcome.mirrorback.fell_back);
    assert_eq!(
        outcome.run.patterns,
        ["absolute_thinking", "obligation_language"]
    );
    assert!(!outcome.run.sync_allowed, "no consent, no sync");
    let streamed: String = events
        .iter()
        .filter_map(|e| match e {
            Progress::Text(t) => Some(t.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(streamed, answer);

    // Stored, and exactly what was sent is in the egress log.
    assert_eq!(
        f.store.mirrorbacks_for(outcome.reflection.id).unwrap(),
        std::slice::from_ref(&outcome.mirrorback)
    );
    assert_eq!(
        f.store.runs_for(outcome.reflection.id).unwrap(),
        std::slice::from_ref(&outcome.run)
    );
    let sent = &server.requests()[0];
    let egress = f.store.list::<EgressRecord>(20).unwrap();
    let n = mirror_node::engine::standing::MIN_ASKED;
    assert_eq!(egress.len(), n + 1, "five on trial, then this one");
    let hash = blake3::hash(&sent.body).to_hex().to_string();
    let this = egress.iter().find(|e| e.content_hash == hash).unwrap();
    assert_eq!(this.bytes, sent.body.len() as u64);
    assert!(
        this.destination
            .ends_with(&format!("{}/api/chat", server.url))
    );
    // The system prompt, the pack's worked examples as earlier turns, then
    // the entry.
    let prompt = sent.json();
    let messages = prompt["messages"].as_array().unwrap();
    let examples = &f.engine.params().prompts.examples;
    assert!(!examples.is_empty());
    assert_eq!(messages.len(), 2 + 2 * examples.len());
    assert_eq!(messages[0]["role"], "system");
    assert_eq!(messages[1]["role"], "user");
    assert_eq!(messages[2]["role"], "assistant");
    assert_eq!(messages[2]["content"], examples[0].mirrorback.as_str());
    let last = messages.last().unwrap();
    assert_eq!(last["role"], "user");
    assert!(last["content"].as_str().unwrap().contains(TEXT));
}

/// What a tiny local model really answered (issue 18): compliant, but about
/// "the person", about its instructions, and about a Berlin the entry never
/// mentioned. The second gate sets it aside and says why.
#[tokio::test]
async fn an_answer_that_is_not_to_the_person_meets_the_second_gate() {
    let f = fixture();
    earn_standing(&f).await;
    let server = Server::start(vec![
        ollama_answer(
            "The person was asked to take the job in Berlin. They were instructed to tell you what they need done.",
        ),
        ollama_answer(
            "Friday is close, and it sounds like you carry the report alone. What would it be like to be heard?",
        ),
    ])
    .await;
    let adapter = AnyAdapter::Ollama(Ollama::new(&server.url, "llama3.2", "5m", settings()));
    let (outcome, events) = reflect(&f, Some(&adapter), TEXT).await;
    assert_eq!(outcome.mirrorback.attempts, 2);
    assert!(!outcome.mirrorback.fell_back);
    assert!(outcome.mirrorback.text.starts_with("Friday is close"));
    assert_eq!(
        outcome.mirrorback.flags,
        ["third_person", "about_itself", "invented_facts"]
    );
    assert!(events.contains(&Progress::Rejected {
        attempt: 1,
        flags: vec![
            "third_person".into(),
            "about_itself".into(),
            "invented_facts".into()
        ]
    }));
    // The regeneration is told what was wrong.
    let second = server.requests()[1].json()["messages"][0]["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        second.contains("in the third person") && second.contains("Berlin"),
        "{second}"
    );
    // Stored as answered, with the failed checks.
    assert_eq!(
        f.store.mirrorbacks_for(outcome.reflection.id).unwrap(),
        std::slice::from_ref(&outcome.mirrorback)
    );
}

/// What the tiny model's kept answers did on the rubric's *faithful* line
/// (issue 18, BENCHMARKS.md): a verdict on the person, a forecast, a story
/// the entry never told. Each passes compliance and every other check of
/// the second gate; the faithfulness check sets each aside, and after the
/// last attempt the built-in mirror answers.
#[tokio::test]
async fn an_answer_untrue_to_the_entry_is_set_aside() {
    let f = fixture();
    earn_standing(&f).await;
    let server = Server::start(vec![
        ollama_answer("You're a person nobody listens to, and the report sits with you."),
        ollama_answer("You won't finish the report by Friday, and it sounds like nobody listens."),
        ollama_answer(
            "It sounds like your manager's old spreadsheet crashed during the quarterly budget meeting.",
        ),
    ])
    .await;
    let adapter = AnyAdapter::Ollama(Ollama::new(&server.url, "llama3.2", "5m", settings()));
    let (outcome, events) = reflect(&f, Some(&adapter), TEXT).await;
    assert_eq!(outcome.mirrorback.attempts, 3);
    assert!(outcome.mirrorback.fell_back);
    assert_eq!(outcome.mirrorback.flags, ["unfaithful"]);
    for attempt in 1..=3 {
        assert!(
            events.contains(&Progress::Rejected {
                attempt,
                flags: vec!["unfaithful".into()],
            }),
            "{events:?}"
        );
    }
    // Each regeneration is told what was untrue.
    let requests = server.requests();
    let second = requests[1].json()["messages"][0]["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(second.contains("labelled the person"), "{second}");
    let third = requests[2].json()["messages"][0]["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(third.contains("foretold"), "{third}");
    // What is stored is the built-in mirror's answer, and it passes.
    let failures = mirror_node::engine::gate::check(
        &f.engine,
        TEXT,
        &outcome.mirrorback.text,
        &mirror_node::engine::gate::Limits::default(),
    );
    assert!(failures.is_empty(), "{failures:?}");
}

/// Structured output: the model is asked for tensions with the pack's axes
/// as a JSON schema (Ollama's `format`), and only what holds up against the
/// pack and the entry becomes a suggestion.
#[tokio::test]
async fn the_models_tension_suggestions_come_in_structured_output() {
    let f = fixture();
    let entry =
        "Moved out to have my own space and now I eat dinner on FaceTime just to hear a voice.";
    let suggestions = serde_json::json!({"tensions": [
        {"axis": "autonomy/connection", "evidence": "to have my own space"},
        {"axis": "past/future", "evidence": "words nobody wrote here"},
    ]})
    .to_string();
    let server = Server::start(vec![
        ollama_answer("It sounds like your own space came with a quiet you did not expect. What is dinner like now?"),
        ollama_answer(&suggestions),
    ])
    .await;
    let adapter = AnyAdapter::Ollama(Ollama::new(&server.url, "llama3.2", "5m", settings()));
    let mut events = Vec::new();
    let outcome = pipeline::reflect(
        &f.store,
        &f.engine,
        Some(&adapter),
        reflection(&f.identity, entry),
        None,
        &Options {
            suggest_tensions: true,
            ..options()
        },
        &mut |p| events.push(p),
    )
    .await
    .unwrap();
    let suggested: Vec<(&str, &str, &str)> = outcome
        .tensions
        .suggestions
        .iter()
        .map(|s| (s.axis_a.as_str(), s.axis_b.as_str(), s.evidence.as_str()))
        .collect();
    assert!(
        suggested.contains(&("autonomy", "connection", "to have my own space"))
            || outcome
                .analysis
                .tensions
                .iter()
                .any(|t| t.axis_a == "autonomy"),
        "{suggested:?}"
    );
    assert!(!suggested.iter().any(|s| s.0 == "past"));
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    let body = requests[1].json();
    let axes = &body["format"]["properties"]["tensions"]["items"]["properties"]["axis"]["enum"];
    assert!(
        axes.as_array()
            .unwrap()
            .iter()
            .any(|a| a == "autonomy/connection"),
        "{body}"
    );
    // Both requests are in the egress log.
    assert_eq!(f.store.list::<EgressRecord>(10).unwrap().len(), 2);
}

/// Trust is earned: a model with no record, or one whose answers failed the
/// gates at the first attempt in more than half of its recent entries, is
/// on trial: asked once, its answer counted, and the built-in mirror
/// answers (when in doubt, fall back). Every answer of a tiny model that
/// got through the gates was judged worse than the built-in one
/// (BENCHMARKS.md).
#[tokio::test]
async fn a_model_on_trial_is_asked_once_and_the_built_in_mirror_answers() {
    let f = fixture();
    let advice = "You should talk to your boss about the deadline. Make sure you rest.";
    let fine = "You wrote that you 'have to' finish it by Friday. What is that pressure like?";
    let server = Server::start(vec![ollama_answer(advice), ollama_answer(fine)]).await;
    let adapter = AnyAdapter::Ollama(Ollama::new(&server.url, "llama3.2", "5m", settings()));
    let builtin = mirror_node::engine::mirror::mirrorback(&f.engine, TEXT, &f.engine.analyze(TEXT));
    let (outcome, events) = reflect(&f, Some(&adapter), TEXT).await;
    assert_eq!(outcome.mirrorback.attempts, 1);
    assert!(outcome.mirrorback.fell_back);
    assert_eq!(outcome.mirrorback.text, builtin);
    assert_eq!(
        outcome.mirrorback.flags,
        ["directive", "explicit_advice", "unproven_model"]
    );
    assert_eq!(server.requests().len(), 1, "not asked again");
    let note = |events: &[Progress]| {
        events
            .iter()
            .find_map(|e| match e {
                Progress::FellBack(note) => Some(note.clone()),
                _ => None,
            })
            .unwrap()
    };
    assert!(note(&events).contains("on trial"), "{events:?}");
    // An answer that passes is counted, not kept: the built-in mirror
    // answers until the model has earned trust.
    let (outcome, events) = reflect(&f, Some(&adapter), TEXT).await;
    assert_eq!(outcome.mirrorback.attempts, 1);
    assert!(outcome.mirrorback.fell_back);
    assert_eq!(outcome.mirrorback.flags, ["unproven_model"]);
    assert!(note(&events).contains("passed the gates"), "{events:?}");
    assert!(
        !events.iter().any(|e| matches!(e, Progress::Text(_))),
        "an answer on trial is not shown as it streams: {events:?}"
    );
    assert!(
        !outcome
            .mirrorback
            .text
            .contains("What is that pressure like?")
    );
    let newest = f.store.list::<Mirrorback>(10).unwrap();
    let standing =
        mirror_node::engine::standing::Standing::of(&newest, EngineMode::Ollama, "llama3.2");
    assert_eq!((standing.asked, standing.first_try), (2, 1));

    // Five passes at the first attempt earn trust: the next answer is kept.
    let g = fixture();
    earn_standing(&g).await;
    let server = Server::start(vec![ollama_answer(fine)]).await;
    let adapter = AnyAdapter::Ollama(Ollama::new(&server.url, "llama3.2", "5m", settings()));
    let (outcome, _) = reflect(&g, Some(&adapter), TEXT).await;
    assert_eq!(
        (outcome.mirrorback.attempts, outcome.mirrorback.fell_back),
        (1, false)
    );
    assert_eq!(outcome.mirrorback.text, fine);

    // A trusted model that then fails more often than not is on trial
    // again: five first-attempt passes, then failures. While at least half
    // of its answers passed at the first attempt (5 of 6 ... 5 of 10), each
    // failure gets its regenerations (3 requests); at 5 of 11, one.
    let g = fixture();
    earn_standing(&g).await;
    let server =
        Server::start(std::iter::repeat_n(ollama_answer(advice), 6 * 3 + 1).collect()).await;
    let adapter = AnyAdapter::Ollama(Ollama::new(&server.url, "llama3.2", "5m", settings()));
    for _ in 0..6 {
        let (outcome, _) = reflect(&g, Some(&adapter), TEXT).await;
        assert_eq!(outcome.mirrorback.attempts, 3);
        assert!(
            !outcome
                .mirrorback
                .flags
                .contains(&"unproven_model".to_string())
        );
    }
    let (outcome, _) = reflect(&g, Some(&adapter), TEXT).await;
    assert_eq!(outcome.mirrorback.attempts, 1, "5 of 11: no longer proven");
    assert!(
        outcome
            .mirrorback
            .flags
            .contains(&"unproven_model".to_string())
    );
}

#[tokio::test]
async fn a_model_that_keeps_failing_the_gate_is_replaced_by_the_built_in_mirror() {
    let f = fixture();
    earn_standing(&f).await;
    let rambling = "A mirrorback is a reflection companion. It reflects what a person wrote.";
    let server = Server::start(vec![
        ollama_answer(rambling),
        ollama_answer(rambling),
        ollama_answer(rambling),
    ])
    .await;
    let adapter = AnyAdapter::Ollama(Ollama::new(&server.url, "llama3.2", "5m", settings()));
    let (outcome, _) = reflect(&f, Some(&adapter), TEXT).await;
    assert_eq!(outcome.mirrorback.attempts, 3);
    assert!(outcome.mirrorback.fell_back);
    assert_eq!(outcome.mirrorback.flags, ["not_addressed", "about_itself"]);
    // What is stored passes both gates.
    let stored = &f.store.mirrorbacks_for(outcome.reflection.id).unwrap()[0];
    assert!(f.engine.checker().check(&stored.text).is_compliant());
    assert_eq!(
        mirror_node::engine::gate::check(
            &f.engine,
            TEXT,
            &stored.text,
            &mirror_node::engine::gate::Limits::default()
        ),
        []
    );
}

#[tokio::test]
async fn advice_is_regenerated_with_a_stricter_instruction() {
    let f = fixture();
    earn_standing(&f).await;
    let server = Server::start(vec![
        ollama_answer("You should talk to your boss about the deadline. Make sure you rest."),
        ollama_answer(
            "You wrote that you 'have to' finish it by Friday. What is that pressure like?",
        ),
    ])
    .await;
    let adapter = AnyAdapter::Ollama(Ollama::new(&server.url, "llama3.2", "5m", settings()));
    let (outcome, events) = reflect(&f, Some(&adapter), TEXT).await;

    assert_eq!(outcome.mirrorback.attempts, 2);
    assert!(!outcome.mirrorback.fell_back);
    // "should" and "make sure" are 2 of 13 words: over the 0.15 threshold too.
    assert_eq!(outcome.mirrorback.flags, ["directive", "explicit_advice"]);
    assert!(outcome.mirrorback.text.starts_with("You wrote that"));
    assert!(events.contains(&Progress::Rejected {
        attempt: 1,
        flags: vec!["directive".into(), "explicit_advice".into()]
    }));
    let requests = server.requests();
    let first = requests[0].json()["messages"][0]["content"]
        .as_str()
        .unwrap()
        .to_string();
    let second = requests[1].json()["messages"][0]["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(!first.contains("set aside"));
    assert!(
        second.contains("set aside") && second.contains("You should"),
        "{second}"
    );
    // Five answers earned the standing, then these two.
    let n = mirror_node::engine::standing::MIN_ASKED;
    assert_eq!(f.store.list::<EgressRecord>(20).unwrap().len(), n + 2);
}

/// The pack's `thresholds.max_regenerations` is what the pipeline runs
/// with when the person has not set their own: a release that changes it
/// changes how many times a model is asked again.
#[tokio::test]
async fn the_packs_max_regenerations_takes_effect() {
    let mut f = fixture();
    let mut params = mirror_governance::params::EngineParams::genesis().unwrap();
    params.thresholds.max_regenerations = 0;
    f.engine = Engine::new(&mirror_constitution::Constitution::genesis(), params).unwrap();
    let config = mirror_node::home::EngineConfig::default();
    let options = Options::from_config(&config, f.engine.params());
    assert_eq!(options.max_regenerations, 0);
    let advice = "You need to rest. You must stop. You should call someone.";
    let server = Server::start(vec![ollama_answer(advice), ollama_answer(advice)]).await;
    let adapter = AnyAdapter::Ollama(Ollama::new(&server.url, "llama3.2", "5m", settings()));
    let outcome = pipeline::reflect(
        &f.store,
        &f.engine,
        Some(&adapter),
        reflection(&f.identity, TEXT),
        None,
        &options,
        &mut |_| {},
    )
    .await
    .unwrap();
    assert_eq!(
        outcome.mirrorback.attempts, 1,
        "no regeneration: the pack says 0"
    );
    assert!(outcome.mirrorback.fell_back);
    assert_eq!(server.requests().len(), 1);
    // The person's own setting wins over the pack.
    let mine = mirror_node::home::EngineConfig {
        max_regenerations: Some(3),
        ..config
    };
    assert_eq!(
        Options::from_config(&mine, f.engine.params()).max_regenerations,
        3
    );
}

/// The pack's `thresholds.max_mirrorback_chars` and `prompts` are what the
/// pipeline runs with: a release that shortens the limit turns a compliant
/// answer away, and the pack's system prompt is what the model is sent.
#[tokio::test]
async fn the_packs_length_limit_and_prompts_take_effect() {
    let mut f = fixture();
    let answer = "It sounds like the report has been sitting on you all week. What feels heaviest about Friday?";
    let mut params = mirror_governance::params::EngineParams::genesis().unwrap();
    params.thresholds.max_mirrorback_chars = 40;
    params.thresholds.max_regenerations = 0;
    params.prompts.system = "A reflection companion, as this release words it.".into();
    f.engine = Engine::new(&mirror_constitution::Constitution::genesis(), params).unwrap();
    let server = Server::start(vec![ollama_answer(answer)]).await;
    let adapter = AnyAdapter::Ollama(Ollama::new(&server.url, "llama3.2", "5m", settings()));
    let outcome = pipeline::reflect(
        &f.store,
        &f.engine,
        Some(&adapter),
        reflection(&f.identity, TEXT),
        None,
        &Options::from_config(&Default::default(), f.engine.params()),
        &mut |_| {},
    )
    .await
    .unwrap();
    assert!(outcome.mirrorback.fell_back, "{:?}", outcome.mirrorback);
    assert!(outcome.mirrorback.flags.contains(&"too_long".to_string()));
    let sent = server.requests()[0].json()["messages"][0]["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        sent.starts_with("A reflection companion, as this release words it."),
        "{sent}"
    );
    assert_eq!(f.engine.version(), "builtin-1");
}

#[tokio::test]
async fn a_model_that_keeps_advising_is_replaced_by_the_built_in_mirror() {
    let f = fixture();
    earn_standing(&f).await;
    let advice = "You need to rest. You must stop. You should call someone.";
    let server = Server::start(vec![
        ollama_answer(advice),
        ollama_answer(advice),
        ollama_answer(advice),
    ])
    .await;
    let adapter = AnyAdapter::Ollama(Ollama::new(&server.url, "llama3.2", "5m", settings()));
    let (outcome, _) = reflect(&f, Some(&adapter), TEXT).await;
    assert_eq!(outcome.mirrorback.attempts, 3, "1 + max_regenerations");
    assert!(outcome.mirrorback.fell_back);
    assert!(outcome.mirrorback.flags.contains(&"directive".to_string()));
    assert!(
        f.engine
            .checker()
            .check(&outcome.mirrorback.text)
            .is_compliant()
    );
    // The built-in mirror's own answer to TEXT, not the model's.
    let analysis = f.engine.analyze(TEXT);
    assert_eq!(
        outcome.mirrorback.text,
        mirror_node::engine::mirror::mirrorback(&f.engine, TEXT, &analysis)
    );
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn a_broken_engine_never_costs_the_reflection() {
    let f = fixture();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let adapter = AnyAdapter::Ollama(Ollama::new(
        &format!("http://127.0.0.1:{port}"),
        "m",
        "5m",
        settings(),
    ));
    let (outcome, events) = reflect(&f, Some(&adapter), TEXT).await;
    assert!(outcome.mirrorback.fell_back);
    assert!(
        outcome
            .mirrorback
            .flags
            .contains(&"engine_error".to_string())
    );
    assert!(
        outcome.notes[0].contains("built-in mirror"),
        "{:?}",
        outcome.notes
    );
    assert!(events.iter().any(|e| matches!(e, Progress::FellBack(_))));
    let stored: Reflection = f.store.get(outcome.reflection.id).unwrap().unwrap();
    assert_eq!(stored.content, TEXT);

    // A mid-answer error, too.
    let server = Server::start(vec![
        Reply::new(200)
            .chunk("{\"message\":{\"content\":\"It sounds\"},\"done\":false}\n")
            .chunk("{\"error\":\"out of memory\"}\n"),
    ])
    .await;
    let adapter = AnyAdapter::Ollama(Ollama::new(&server.url, "m", "5m", settings()));
    let (outcome, _) = reflect(&f, Some(&adapter), TEXT).await;
    assert!(outcome.mirrorback.fell_back);
    assert!(outcome.notes[0].contains("out of memory"));
}

/// An engine off this machine that records whether anything was sent. It
/// stands in for a remote service no test may reach.
struct Remote {
    sent: Arc<Mutex<u32>>,
}

impl LlmAdapter for Remote {
    fn engine(&self) -> EngineMode {
        EngineMode::Anthropic
    }
    fn model(&self) -> &str {
        "remote-model"
    }
    fn endpoint(&self) -> &str {
        "https://api.anthropic.com"
    }
    fn prepare(&self, request: &ChatRequest) -> Prepared {
        Prepared {
            url: "https://api.anthropic.com/v1/messages".into(),
            body: request.user.clone().into_bytes(),
        }
    }
    async fn send<'a>(
        &'a self,
        _prepared: &'a Prepared,
        sink: &'a mut (dyn FnMut(&str) + Send),
        on_attempt: &'a mut (dyn FnMut(u32) + Send),
    ) -> Result<Completion, LlmError> {
        on_attempt(1);
        *self.sent.lock().unwrap() += 1;
        let text = "It sounds like a lot to carry. What stands out to you?";
        sink(text);
        Ok(Completion {
            text: text.into(),
            ..Completion::default()
        })
    }
    async fn health(&self) -> Result<(), LlmError> {
        Ok(())
    }
}

#[tokio::test]
async fn nothing_goes_to_a_remote_engine_without_consent() {
    let f = fixture();
    let sent = Arc::new(Mutex::new(0));
    let remote = Remote { sent: sent.clone() };
    let analysis = f.engine.analyze(TEXT);
    let without = pipeline::generate(
        &f.engine,
        Some(&remote),
        &f.store,
        TEXT,
        &analysis,
        &options(),
        &mut |_| {},
    )
    .await;
    assert!(without.fell_back);
    assert!(without.notes[0].contains("consent"), "{:?}", without.notes);
    assert_eq!(*sent.lock().unwrap(), 0);
    assert!(f.store.list::<EgressRecord>(10).unwrap().is_empty());

    f.store
        .set_consent(ConsentCategory::RemoteEngine, true)
        .unwrap();
    let with = pipeline::generate(
        &f.engine,
        Some(&remote),
        &f.store,
        TEXT,
        &analysis,
        &options(),
        &mut |_| {},
    )
    .await;
    // Sent, and its answer passed (a new model is on trial: counted, and
    // the built-in mirror answers).
    assert_eq!(with.flags, ["unproven_model"]);
    assert_eq!(*sent.lock().unwrap(), 1);
    assert_eq!(f.store.list::<EgressRecord>(10).unwrap().len(), 1);
}

#[tokio::test]
async fn tensions_become_suggestions_once_then_evidence_when_tracked() {
    let f = fixture();
    let text = "I keep checking every detail of Mum's care, and I know I need to let the nurses do their job.";
    let (first, _) = reflect(&f, None::<&AnyAdapter>, text).await;
    assert_eq!(first.mirrorback.engine_mode, EngineMode::Manual);
    assert_eq!(first.tensions.suggestions.len(), 1);
    let suggestion = &first.tensions.suggestions[0];
    assert_eq!(
        (suggestion.axis_a.as_str(), suggestion.axis_b.as_str()),
        ("control", "surrender")
    );

    // Not suggested twice while pending.
    let (second, _) = reflect(&f, None::<&AnyAdapter>, text).await;
    assert!(second.tensions.suggestions.is_empty());

    // Accepted, it becomes a tension; later reflections add evidence to it.
    let (_, tension) = f.store.accept_suggestion(suggestion.id).unwrap();
    assert_eq!(tension.origin, TensionOrigin::SystemSeed);
    let (third, _) = reflect(&f, None::<&AnyAdapter>, text).await;
    assert!(third.tensions.suggestions.is_empty());
    assert_eq!(third.tensions.evidence.len(), 1);
    assert_eq!(third.tensions.evidence[0].tension_id, tension.id);
    assert_eq!(f.store.evidence_for(tension.id).unwrap().len(), 2);
    assert!(
        f.store.accept_suggestion(suggestion.id).is_err(),
        "already accepted"
    );
}

/// An entry in crisis is answered by the node: the model is never asked,
/// even with consent; the run is marked, nothing is analysed, and the
/// entry adds nothing to telemetry.
#[tokio::test]
async fn a_crisis_is_answered_by_the_node_and_never_sent() {
    let f = fixture();
    f.store
        .set_consent(ConsentCategory::RemoteEngine, true)
        .unwrap();
    f.store
        .set_consent(ConsentCategory::EvolutionFeedback, true)
        .unwrap();
    let sent = Arc::new(Mutex::new(0));
    let remote = Remote { sent: sent.clone() };
    // Written for this test.
    let text = "I have to be honest here. I keep thinking everyone would be better off without me.";
    let options = options().with_region(Some("GB".into()));
    let outcome = pipeline::reflect(
        &f.store,
        &f.engine,
        Some(&remote),
        reflection(&f.identity, text),
        None,
        &options,
        &mut |_| {},
    )
    .await
    .unwrap();
    assert_eq!(*sent.lock().unwrap(), 0, "no model sees a crisis entry");
    assert!(f.store.list::<EgressRecord>(10).unwrap().is_empty());
    let crisis = outcome.crisis.as_ref().expect("the crisis check answered");
    assert_eq!(crisis.kind, "suicide");
    assert_eq!(outcome.run.flags, ["crisis"]);
    assert!(outcome.run.patterns.is_empty(), "nothing analysed");
    assert!(!outcome.run.sync_allowed);
    assert!(outcome.tensions.suggestions.is_empty());
    let answer = &outcome.mirrorback.text;
    assert_eq!(outcome.mirrorback.engine_mode, EngineMode::Manual);
    assert!(
        answer.contains("999") && answer.contains("116 123"),
        "{answer}"
    );
    assert!(!answer.contains("honest"), "no echo of the entry: {answer}");
    // The entry is stored, as always.
    assert!(
        f.store
            .get::<Reflection>(outcome.reflection.id)
            .unwrap()
            .is_some()
    );

    // Telemetry: the crisis entry is not counted; an ordinary one is.
    let registry = mirror_governance::params::EngineParams::genesis()
        .unwrap()
        .telemetry;
    let period = pipeline_period(&registry);
    let count = |store: &Store| {
        mirror_node::telemetry::measure(store, &registry, period)
            .unwrap()
            .into_iter()
            .find(|(name, _)| name == "reflections.count")
            .map(|(_, v)| v)
    };
    assert_eq!(
        count(&f.store),
        Some(mirror_governance::telemetry::TrueValue::Counter(0))
    );
    reflect(&f, None::<&AnyAdapter>, "Walked to the river after work.").await;
    assert_eq!(
        count(&f.store),
        Some(mirror_governance::telemetry::TrueValue::Counter(1))
    );
}

fn pipeline_period(registry: &mirror_governance::telemetry::TelemetryRegistry) -> u64 {
    let now_ms = Timestamp::now().as_micros() / 1000;
    (now_ms as u64) / registry.period_ms
}

/// The built-in answer uses the person's history: the third entry in a
/// month about the same someone says so.
#[tokio::test]
async fn the_built_in_answer_remembers_who_an_entry_is_about() {
    let f = fixture();
    // Written for this test.
    for text in [
        "Lunch with my sister, she talked about her move the whole time.",
        "My sister called again about the move. I listened for an hour.",
    ] {
        reflect(&f, None::<&AnyAdapter>, text).await;
    }
    let (third, _) = reflect(
        &f,
        None::<&AnyAdapter>,
        "Helped my sister pack boxes all Saturday and felt invisible.",
    )
    .await;
    let answer = &third.mirrorback.text;
    let lower = answer.to_lowercase();
    assert!(
        lower.contains("third entry in the last month about your sister")
            || lower.contains("your sister has come up in 3 of your entries"),
        "{answer}"
    );
    assert!(f.engine.checker().check(answer).is_compliant(), "{answer}");
}

/// A pattern that keeps coming back is named when it reaches three
/// entries, then every fifth, not on every entry after the third.
#[tokio::test]
async fn a_recurring_pattern_is_named_at_milestones_not_every_time() {
    let f = fixture();
    // Written for this test: all-or-nothing words in every entry.
    let named: Vec<bool> = {
        let mut named = Vec::new();
        for day in [
            "Monday",
            "Tuesday",
            "Wednesday",
            "Thursday",
            "Friday",
            "Saturday",
        ] {
            let text =
                format!("{day}: the bus was late again and I always miss the start of everything.");
            let (outcome, _) = reflect(&f, None::<&AnyAdapter>, &text).await;
            assert!(
                outcome
                    .run
                    .patterns
                    .contains(&"absolute_thinking".to_string())
            );
            named.push(outcome.mirrorback.text.contains("of your recent entries"));
        }
        named
    };
    assert_eq!(named, [false, false, true, false, true, false], "{named:?}");
}

/// Someone else's words are theirs: a parent's quoted "always" is not
/// counted as the writer's all-or-nothing thinking, and a grief entry gets
/// no count of entries or patterns beside it.
#[tokio::test]
async fn reported_words_are_not_counted_and_grief_gets_no_history_line() {
    let f = fixture();
    // Written for this test.
    let (outcome, _) = reflect(
        &f,
        None::<&AnyAdapter>,
        "Mum said I would never finish anything. Handed in the thesis today.",
    )
    .await;
    assert!(
        !outcome
            .run
            .patterns
            .contains(&"absolute_thinking".to_string()),
        "{:?}",
        outcome.run.patterns
    );
    for day in ["Monday", "Tuesday"] {
        let text =
            format!("{day}: the bus was late again and I always miss the start of everything.");
        reflect(&f, None::<&AnyAdapter>, &text).await;
    }
    // The third entry with the pattern: a milestone, but a grieving one.
    let (outcome, _) = reflect(
        &f,
        None::<&AnyAdapter>,
        "Grandad died on Sunday. I always thought there would be one more summer at the allotment. I miss him so much.",
    )
    .await;
    assert!(
        outcome
            .run
            .patterns
            .contains(&"absolute_thinking".to_string())
    );
    let answer = &outcome.mirrorback.text;
    assert!(!answer.contains("of your recent entries"), "{answer}");
}
