//! The LLM adapters against servers that speak each exact wire format:
//! split chunks, mid-stream errors, stalls and timeouts, retries with
//! `retry-after`, refusals that must not be retried, and malformed lines.

mod support;

use std::time::{Duration, Instant};

use mirror_node::engine::llm::*;
use support::{Reply, Server};

fn request() -> ChatRequest {
    ChatRequest {
        system: "The Mirror reflects.".into(),
        examples: Vec::new(),
        user: "I have to finish the report.".into(),
        max_tokens: 200,
        temperature: 0.5,
        schema: None,
    }
}

/// Tight timeouts and fast retries, so tests stay quick.
fn settings() -> HttpSettings {
    HttpSettings {
        connect_timeout_secs: 2,
        first_byte_timeout_secs: 2,
        idle_timeout_secs: 1,
        total_timeout_secs: 10,
        max_retries: 2,
        retry_base_ms: 20,
        max_retry_wait_secs: 3,
    }
}

async fn run<A: LlmAdapter>(adapter: &A) -> (Result<Completion, LlmError>, String, u32) {
    let prepared = adapter.prepare(&request());
    let mut streamed = String::new();
    let mut attempts = 0;
    let mut sink = |t: &str| streamed.push_str(t);
    let mut on_attempt = |n: u32| attempts = n;
    let result = adapter.send(&prepared, &mut sink, &mut on_attempt).await;
    (result, streamed, attempts)
}

// ------------------------------------------------------------------ Ollama

fn ollama(server: &Server) -> Ollama {
    Ollama::new(&server.url, "llama3.2", "5m", settings())
}

#[tokio::test]
async fn ollama_streams_ndjson_split_anywhere() {
    let body = concat!(
        r#"{"model":"llama3.2","message":{"role":"assistant","content":"It sounds "},"done":false}"#,
        "\n",
        r#"{"model":"llama3.2","message":{"role":"assistant","content":"like a heavy wéek."},"done":false}"#,
        "\n",
        r#"{"model":"llama3.2","message":{"role":"assistant","content":""},"done":true,"done_reason":"stop","prompt_eval_count":31,"eval_count":9}"#,
        "\n"
    )
    .as_bytes();
    // Cut inside a JSON value, inside the UTF-8 "é", and between lines.
    let e_at = body.windows(2).position(|w| w == "é".as_bytes()).unwrap();
    let server = Server::start(vec![Reply::new(200).split(body, &[10, e_at + 1, 150])]).await;
    let (result, streamed, attempts) = run(&ollama(&server)).await;
    let completion = result.unwrap();
    assert_eq!(completion.text, "It sounds like a heavy wéek.");
    assert_eq!(streamed, completion.text);
    assert_eq!(completion.stop_reason.as_deref(), Some("stop"));
    assert_eq!(
        (completion.input_tokens, completion.output_tokens),
        (Some(31), Some(9))
    );
    assert_eq!(attempts, 1);
    let seen = &server.requests()[0];
    assert_eq!(
        (seen.method.as_str(), seen.path.as_str()),
        ("POST", "/api/chat")
    );
    let body = seen.json();
    assert_eq!(body["model"], "llama3.2");
    assert_eq!(body["stream"], true);
    assert_eq!(body["keep_alive"], "5m");
    assert_eq!(body["messages"][0]["role"], "system");
    assert_eq!(body["options"]["num_predict"], 200);
}

#[tokio::test]
async fn ollama_error_line_after_200_ends_the_answer_as_an_error() {
    let server = Server::start(vec![
        Reply::new(200)
            .chunk("{\"message\":{\"content\":\"Part\"},\"done\":false}\n")
            .chunk("{\"error\":\"model runner has unexpectedly stopped\"}\n"),
    ])
    .await;
    let (result, streamed, _) = run(&ollama(&server)).await;
    assert_eq!(
        result.unwrap_err(),
        LlmError::MidStream("model runner has unexpectedly stopped".into())
    );
    assert_eq!(streamed, "Part");
}

#[tokio::test]
async fn ollama_malformed_lines_and_truncated_streams_are_errors() {
    let server = Server::start(vec![
        Reply::new(200).chunk("{\"message\":{\"content\":\"ok\"}}\nthis is not json\n"),
        Reply::new(200)
            .chunk("{\"message\":{\"content\":\"cut\"},\"done\":false}\n")
            .cut(),
    ])
    .await;
    let adapter = ollama(&server);
    assert!(matches!(run(&adapter).await.0, Err(LlmError::Protocol(_))));
    assert!(matches!(run(&adapter).await.0, Err(LlmError::Protocol(_))));
}

#[tokio::test]
async fn ollama_slow_streams_time_out() {
    let server = Server::start(vec![
        // Stalls longer than the idle timeout (1 s) between two lines.
        Reply::new(200)
            .chunk("{\"message\":{\"content\":\"a\"},\"done\":false}\n")
            .pause(1600)
            .chunk("{\"done\":true}\n"),
    ])
    .await;
    let (result, _, _) = run(&ollama(&server)).await;
    assert!(
        matches!(result, Err(LlmError::Timeout { .. })),
        "{result:?}"
    );
}

#[tokio::test]
async fn ollama_health_and_unreachable_servers() {
    let server = Server::start(vec![Reply::json(200, r#"{"models":[]}"#)]).await;
    ollama(&server).health().await.unwrap();
    assert_eq!(server.requests()[0].path, "/api/tags");
    // A port nothing listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let nowhere = Ollama::new(&format!("http://127.0.0.1:{port}"), "m", "5m", settings());
    assert!(matches!(
        nowhere.health().await,
        Err(LlmError::Unreachable { .. })
    ));
    let (result, _, attempts) = run(&nowhere).await;
    assert!(result.is_err());
    assert_eq!(attempts, 1, "nothing listening: no point retrying");
}

// --------------------------------------------------------------- Anthropic

fn anthropic(server: &Server) -> Anthropic {
    Anthropic::new(
        &server.url,
        "claude-test",
        "ANTHROPIC_API_KEY",
        Some("sk-test-123".into()),
        settings(),
    )
}

fn anthropic_stream(text_parts: &[&str]) -> String {
    let mut s = String::from(
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"usage\":{\"input_tokens\":25,\"output_tokens\":1}}}\n\n\
         event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n\
         event: ping\ndata: {\"type\": \"ping\"}\n\n",
    );
    for part in text_parts {
        s.push_str(&format!(
            "event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"text_delta\",\"text\":{}}}}}\n\n",
            serde_json::to_string(part).unwrap()
        ));
    }
    s.push_str(
        "event: some_future_event\ndata: {\"type\":\"some_future_event\"}\n\n\
         event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n\
         event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":12}}\n\n\
         event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
    );
    s
}

#[tokio::test]
async fn anthropic_streams_sse_with_the_right_headers() {
    let stream = anthropic_stream(&["It sounds ", "like the deadline ", "follows you."]);
    let bytes = stream.as_bytes();
    let server = Server::start(vec![
        Reply::new(200)
            .header("content-type", "text/event-stream")
            .split(bytes, &[7, 100, 333, 401, 402]),
    ])
    .await;
    let (result, streamed, _) = run(&anthropic(&server)).await;
    let completion = result.unwrap();
    assert_eq!(completion.text, "It sounds like the deadline follows you.");
    assert_eq!(streamed, completion.text);
    assert_eq!(completion.stop_reason.as_deref(), Some("end_turn"));
    assert_eq!(
        (completion.input_tokens, completion.output_tokens),
        (Some(25), Some(12))
    );
    let seen = &server.requests()[0];
    assert_eq!(seen.path, "/v1/messages");
    assert_eq!(seen.header("x-api-key"), Some("sk-test-123"));
    assert_eq!(seen.header("anthropic-version"), Some("2023-06-01"));
    let body = seen.json();
    assert_eq!(body["stream"], true);
    assert_eq!(body["system"], "The Mirror reflects.");
    assert_eq!(body["messages"][0]["role"], "user");
}

#[tokio::test]
async fn anthropic_error_event_mid_stream() {
    let server = Server::start(vec![Reply::new(200).chunk(
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":3}}}\n\n\
         event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"delta\":{\"type\":\"text_delta\",\"text\":\"Hal\"}}\n\n\
         event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n",
    )])
    .await;
    let (result, streamed, _) = run(&anthropic(&server)).await;
    assert_eq!(
        result.unwrap_err(),
        LlmError::MidStream("overloaded_error: Overloaded".into())
    );
    assert_eq!(streamed, "Hal");
}

#[tokio::test]
async fn anthropic_retries_429_honouring_retry_after_then_succeeds() {
    let server = Server::start(vec![
        Reply::json(429, r#"{"type":"error","error":{"type":"rate_limit_error","message":"Number of requests has exceeded your rate limit"}}"#)
            .header("retry-after", "1"),
        Reply::json(529, r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#),
        Reply::new(200).chunk(anthropic_stream(&["Heard."])),
    ])
    .await;
    let started = Instant::now();
    let (result, _, attempts) = run(&anthropic(&server)).await;
    assert_eq!(result.unwrap().text, "Heard.");
    assert_eq!(attempts, 3);
    assert_eq!(server.requests().len(), 3);
    // The server asked for a second's pause; it was given.
    assert!(started.elapsed() >= Duration::from_millis(950));
}

#[tokio::test]
async fn anthropic_does_not_retry_refusals_or_spend_limits() {
    for (status, body) in [
        (
            400,
            r#"{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: too large"}}"#,
        ),
        (
            401,
            r#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}"#,
        ),
        (
            402,
            r#"{"type":"error","error":{"type":"billing_error","message":"payment required"}}"#,
        ),
        (
            403,
            r#"{"type":"error","error":{"type":"permission_error","message":"forbidden"}}"#,
        ),
        (
            404,
            r#"{"type":"error","error":{"type":"not_found_error","message":"model not found"}}"#,
        ),
        (
            413,
            r#"{"type":"error","error":{"type":"request_too_large","message":"too large"}}"#,
        ),
        (
            429,
            r#"{"type":"error","error":{"type":"rate_limit_error","message":"You have reached your specified API usage limits (spend limit)."}}"#,
        ),
    ] {
        let server = Server::start(vec![
            Reply::json(status, body),
            Reply::new(200).chunk(anthropic_stream(&["no"])),
        ])
        .await;
        let (result, _, attempts) = run(&anthropic(&server)).await;
        match result {
            Err(LlmError::Http {
                status: got,
                message,
            }) => {
                assert_eq!(got, status);
                assert!(!message.is_empty());
                assert!(!message.contains("sk-test-123"));
            }
            other => panic!("{status}: expected an HTTP error, got {other:?}"),
        }
        assert_eq!(attempts, 1, "{status} must not be retried");
        assert_eq!(server.requests().len(), 1);
    }
}

#[tokio::test]
async fn anthropic_gives_up_after_the_retry_budget() {
    let server = Server::start(vec![
        Reply::json(
            500,
            r#"{"type":"error","error":{"type":"api_error","message":"internal"}}"#
        );
        4
    ])
    .await;
    let (result, _, attempts) = run(&anthropic(&server)).await;
    assert!(
        matches!(result, Err(LlmError::RetriesExhausted { attempts: 3, .. })),
        "{result:?}"
    );
    assert_eq!(attempts, 3);
}

#[tokio::test]
async fn anthropic_without_a_key_sends_nothing() {
    let server = Server::start(vec![]).await;
    let adapter = Anthropic::new(
        &server.url,
        "m",
        "MIRROR_TEST_NO_SUCH_KEY",
        None,
        settings(),
    );
    let (result, _, _) = run(&adapter).await;
    assert_eq!(
        result.unwrap_err(),
        LlmError::MissingApiKey {
            var: "MIRROR_TEST_NO_SUCH_KEY".into()
        }
    );
    assert!(server.requests().is_empty());
    assert!(
        !format!("{:?}", anthropic(&server)).contains("sk-test-123"),
        "Debug hides the key"
    );
}

#[tokio::test]
async fn anthropic_first_byte_timeout() {
    let server = Server::start(vec![
        Reply::new(200)
            .delay(2600)
            .chunk(anthropic_stream(&["late"])),
    ])
    .await;
    let slow = Anthropic::new(
        &server.url,
        "m",
        "K",
        Some("k".into()),
        HttpSettings {
            max_retries: 0,
            ..settings()
        },
    );
    let (result, _, _) = run(&slow).await;
    assert!(
        matches!(result, Err(LlmError::Timeout { .. })),
        "{result:?}"
    );
}

// ------------------------------------------------------- OpenAI-compatible

fn openai(server: &Server, key: Option<&str>) -> OpenAi {
    OpenAi::new(
        &format!("{}/v1", server.url),
        "local-model",
        "OPENAI_API_KEY",
        key.map(String::from),
        settings(),
    )
}

#[tokio::test]
async fn openai_streams_until_done_with_a_usage_chunk() {
    let stream = concat!(
        "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n",
        "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"You seem \"},\"finish_reason\":null}]}\n\n",
        "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"tired.\"},\"finish_reason\":\"stop\"}]}\n\n",
        "data: {\"id\":\"c1\",\"choices\":[],\"usage\":{\"prompt_tokens\":40,\"completion_tokens\":4,\"total_tokens\":44}}\n\n",
        "data: [DONE]\n\n"
    );
    let server = Server::start(vec![
        Reply::new(200).split(stream.as_bytes(), &[5, 90, 200]),
    ])
    .await;
    let (result, streamed, _) = run(&openai(&server, Some("local-token"))).await;
    let completion = result.unwrap();
    assert_eq!(completion.text, "You seem tired.");
    assert_eq!(streamed, "You seem tired.");
    assert_eq!(completion.stop_reason.as_deref(), Some("stop"));
    assert_eq!(
        (completion.input_tokens, completion.output_tokens),
        (Some(40), Some(4))
    );
    let seen = &server.requests()[0];
    assert_eq!(seen.path, "/v1/chat/completions");
    assert_eq!(seen.header("authorization"), Some("Bearer local-token"));
    assert_eq!(seen.json()["stream_options"]["include_usage"], true);
}

#[tokio::test]
async fn openai_is_lenient_about_finish_reasons_and_missing_done() {
    let server = Server::start(vec![
        // An odd finish_reason and no [DONE]: accepted.
        Reply::new(200).chunk("data: {\"choices\":[{\"delta\":{\"content\":\"Hm.\"},\"finish_reason\":\"eos_token\"}]}\n\n"),
        // Neither [DONE] nor a finish_reason: the answer was cut short.
        Reply::new(200).chunk("data: {\"choices\":[{\"delta\":{\"content\":\"Hm\"}}]}\n\n"),
    ])
    .await;
    let adapter = openai(&server, None);
    let (ok, _, _) = run(&adapter).await;
    assert_eq!(ok.unwrap().stop_reason.as_deref(), Some("eos_token"));
    let (cut, _, _) = run(&adapter).await;
    assert!(matches!(cut, Err(LlmError::Protocol(_))), "{cut:?}");
    assert!(
        server.requests()[0].header("authorization").is_none(),
        "no key, no header"
    );
}

#[tokio::test]
async fn openai_error_shapes_before_and_during_the_stream() {
    let server = Server::start(vec![
        Reply::json(400, r#"{"error":{"message":"model 'x' not found","type":"invalid_request_error","code":"model_not_found"}}"#),
        Reply::json(400, r#"{"object":"error","message":"This model's maximum context length is 4096 tokens","type":"BadRequestError","code":400}"#),
        Reply::new(200).chunk("data: {\"choices\":[{\"delta\":{\"content\":\"A\"}}]}\n\ndata: {\"error\":{\"message\":\"slot unavailable\",\"type\":\"server_error\"}}\n\n"),
        Reply::new(200).chunk("data: {not json}\n\n"),
    ])
    .await;
    let adapter = openai(&server, None);
    match run(&adapter).await.0 {
        Err(LlmError::Http {
            status: 400,
            message,
        }) => assert_eq!(message, "model 'x' not found"),
        other => panic!("{other:?}"),
    }
    match run(&adapter).await.0 {
        Err(LlmError::Http {
            status: 400,
            message,
        }) => assert!(message.contains("context length")),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        run(&adapter).await.0.unwrap_err(),
        LlmError::MidStream("slot unavailable".into())
    );
    assert!(matches!(run(&adapter).await.0, Err(LlmError::Protocol(_))));
}
