//! Language-model adapters: Ollama, Anthropic, and OpenAI-compatible
//! servers, hand-written over reqwest.
//!
//! All three implement [`LlmAdapter`]: `prepare` turns a [`ChatRequest`]
//! into the exact bytes that would leave the node (so the caller can log
//! them in the egress log, and check consent, before anything is sent),
//! and `send` streams the answer's text to a sink as it arrives.
//!
//! The shared machinery here handles what every remote call needs:
//! timeouts for connecting, for the first byte, between bytes and overall;
//! and retries with exponential backoff that honour `retry-after` on
//! overload and rate-limit answers (429, 500, 502, 503, 504, 529), but
//! never on a request the server refused as wrong (400, 401, 402, 403, 404,
//! 413) or on a spending limit.
//!
//! API keys are read from environment variables only, are never written to
//! config, and never appear in errors or logs (the adapters' `Debug` hides
//! them).

pub mod anthropic;
pub mod lines;
pub mod ollama;
pub mod openai;

use std::future::Future;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use anthropic::Anthropic;
pub use ollama::Ollama;
pub use openai::OpenAi;

/// What to ask the model.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest {
    pub system: String,
    /// Worked examples, (entry, answer), sent as earlier turns of the
    /// conversation: small models follow a shown answer far better than a
    /// described one.
    pub examples: Vec<(String, String)>,
    pub user: String,
    pub max_tokens: u32,
    pub temperature: f32,
    /// A JSON schema the answer must follow (structured output), where the
    /// server supports it: `response_format` on OpenAI-compatible servers,
    /// `format` on Ollama; Anthropic's API has no such field and is asked
    /// by the prompt alone.
    pub schema: Option<serde_json::Value>,
}

/// What came back.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Completion {
    pub text: String,
    pub stop_reason: Option<String>,
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
}

/// A request ready to leave the node.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    pub url: String,
    pub body: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LlmError {
    #[error("cannot reach {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("no answer within {seconds} s ({stage})")]
    Timeout { stage: &'static str, seconds: u64 },
    #[error("the server answered {status}: {message}")]
    Http { status: u16, message: String },
    #[error("the server reported an error mid-answer: {0}")]
    MidStream(String),
    #[error("unexpected response: {0}")]
    Protocol(String),
    #[error("no API key: set the {var} environment variable")]
    MissingApiKey { var: String },
    #[error("gave up after {attempts} attempts; last: {last}")]
    RetriesExhausted { attempts: u32, last: String },
}

/// Timeouts and retries for one engine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpSettings {
    #[serde(default = "defaults::connect")]
    pub connect_timeout_secs: u64,
    /// Until the first byte of the answer; then the built-in mirror answers.
    #[serde(default = "defaults::first_byte")]
    pub first_byte_timeout_secs: u64,
    /// Longest silence between two parts of a streamed answer.
    #[serde(default = "defaults::idle")]
    pub idle_timeout_secs: u64,
    /// The whole answer.
    #[serde(default = "defaults::total")]
    pub total_timeout_secs: u64,
    #[serde(default = "defaults::retries")]
    pub max_retries: u32,
    /// First backoff; doubles each retry.
    #[serde(default = "defaults::backoff")]
    pub retry_base_ms: u64,
    /// A `retry-after` longer than this is not waited for.
    #[serde(default = "defaults::max_wait")]
    pub max_retry_wait_secs: u64,
}

mod defaults {
    pub fn connect() -> u64 {
        5
    }
    /// A person waits at the prompt: after 20 s without a first word the
    /// built-in mirror answers instead (a slow local model can be given
    /// longer with `engine.http.first_byte_timeout_secs`).
    pub fn first_byte() -> u64 {
        20
    }
    pub fn idle() -> u64 {
        30
    }
    pub fn total() -> u64 {
        180
    }
    pub fn retries() -> u32 {
        3
    }
    pub fn backoff() -> u64 {
        500
    }
    pub fn max_wait() -> u64 {
        30
    }
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            connect_timeout_secs: defaults::connect(),
            first_byte_timeout_secs: defaults::first_byte(),
            idle_timeout_secs: defaults::idle(),
            total_timeout_secs: defaults::total(),
            max_retries: defaults::retries(),
            retry_base_ms: defaults::backoff(),
            max_retry_wait_secs: defaults::max_wait(),
        }
    }
}

/// One engine that can answer a chat request with a stream of text.
pub trait LlmAdapter: Send + Sync {
    /// "ollama", "anthropic" or "openai".
    fn engine(&self) -> crate::model::EngineMode;
    fn model(&self) -> &str;
    /// The base URL, for consent and the egress log.
    fn endpoint(&self) -> &str;
    /// The bytes that would be sent for `request`.
    fn prepare(&self, request: &ChatRequest) -> Prepared;
    /// Send `prepared`, streaming text to `sink`; `on_attempt` is called
    /// before every HTTP attempt (retries included) with the attempt number.
    fn send<'a>(
        &'a self,
        prepared: &'a Prepared,
        sink: &'a mut (dyn FnMut(&str) + Send),
        on_attempt: &'a mut (dyn FnMut(u32) + Send),
    ) -> impl Future<Output = Result<Completion, LlmError>> + Send + 'a;
    /// Whether the server answers at all.
    fn health(&self) -> impl Future<Output = Result<(), LlmError>> + Send + '_;
}

impl ChatRequest {
    /// The conversation as chat messages (without the system prompt):
    /// each example as a user turn and an assistant turn, then the entry.
    /// Ollama's chat API and OpenAI-compatible servers take the same list.
    pub fn messages(&self) -> Vec<serde_json::Value> {
        let mut messages = Vec::with_capacity(self.examples.len() * 2 + 1);
        for (entry, answer) in &self.examples {
            messages.push(serde_json::json!({"role": "user", "content": entry}));
            messages.push(serde_json::json!({"role": "assistant", "content": answer}));
        }
        messages.push(serde_json::json!({"role": "user", "content": self.user}));
        messages
    }

    /// [`ChatRequest::messages`] with the system prompt first.
    pub fn messages_with_system(&self) -> Vec<serde_json::Value> {
        let mut messages = vec![serde_json::json!({"role": "system", "content": self.system})];
        messages.extend(self.messages());
        messages
    }
}

/// Whether a URL's host is this machine (no consent needed to talk to it).
pub fn is_loopback(url: &str) -> bool {
    let Ok(parsed) = reqwest::Url::parse(url) else {
        return false;
    };
    match parsed.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Build the HTTP client for these settings.
pub(crate) fn client(settings: &HttpSettings) -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(settings.connect_timeout_secs))
        // Local servers need no proxy; remote ones get the system's.
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}

/// What to do after a failed HTTP answer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Verdict {
    Retry { after: Option<Duration> },
    Fail,
}

/// The retry rule shared by every adapter.
pub(crate) fn verdict(status: u16, retry_after: Option<Duration>, body: &str) -> Verdict {
    match status {
        // A spending limit will not lift by waiting.
        429 if mentions_spend_limit(body) => Verdict::Fail,
        429 | 500 | 502 | 503 | 504 | 529 => Verdict::Retry { after: retry_after },
        _ => Verdict::Fail,
    }
}

fn mentions_spend_limit(body: &str) -> bool {
    let lower = body.to_ascii_lowercase();
    [
        "spend limit",
        "spending limit",
        "credit balance",
        "billing",
        "quota exceeded",
        "insufficient_quota",
    ]
    .iter()
    .any(|needle| lower.contains(needle))
}

pub(crate) fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    value
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
}

/// The delay before retry number `retry` (1-based), or `None` to give up.
pub(crate) fn backoff(
    settings: &HttpSettings,
    retry: u32,
    hinted: Option<Duration>,
) -> Option<Duration> {
    let max_wait = Duration::from_secs(settings.max_retry_wait_secs);
    match hinted {
        Some(wait) if wait > max_wait => None,
        Some(wait) => Some(wait),
        None => {
            let exp = settings
                .retry_base_ms
                .saturating_mul(1u64 << (retry - 1).min(16));
            Some(Duration::from_millis(exp).min(max_wait))
        }
    }
}

/// A message from an error body, whichever of the common shapes it has:
/// `{"error": {"message": …}}`, `{"error": "…"}`, `{"message": …}`.
pub(crate) fn error_message(body: &str) -> String {
    let from_json = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            let error = v.get("error");
            error
                .and_then(|e| e.get("message"))
                .and_then(|m| m.as_str())
                .map(str::to_string)
                .or_else(|| error.and_then(|e| e.as_str()).map(str::to_string))
                .or_else(|| {
                    v.get("message")
                        .and_then(|m| m.as_str())
                        .map(str::to_string)
                })
        });
    let text = from_json.unwrap_or_else(|| body.trim().to_string());
    let mut short: String = text.chars().take(300).collect();
    if short.is_empty() {
        short = "(no details)".into();
    }
    short
}

/// Post `prepared` and return the response once it is a success, retrying
/// per [`verdict`]. Each attempt is announced to `on_attempt` first.
pub(crate) async fn post_with_retries(
    client: &reqwest::Client,
    settings: &HttpSettings,
    prepared: &Prepared,
    headers: &[(&str, String)],
    on_attempt: &mut (dyn FnMut(u32) + Send),
) -> Result<reqwest::Response, LlmError> {
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        on_attempt(attempt);
        let mut request = client
            .post(&prepared.url)
            .header("content-type", "application/json")
            .body(prepared.body.clone());
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let first_byte = Duration::from_secs(settings.first_byte_timeout_secs);
        let response = match tokio::time::timeout(first_byte, request.send()).await {
            Err(_) => Err(LlmError::Timeout {
                stage: "waiting for the first byte",
                seconds: settings.first_byte_timeout_secs,
            }),
            // Nothing listening, or no such host: waiting will not help.
            Ok(Err(e)) if e.is_connect() => {
                return Err(LlmError::Unreachable {
                    url: prepared.url.clone(),
                    reason: without_url(e),
                });
            }
            Ok(Err(e)) => Err(LlmError::Unreachable {
                url: prepared.url.clone(),
                reason: without_url(e),
            }),
            Ok(Ok(response)) => Ok(response),
        };
        let (status, hint, body) = match response {
            Ok(r) if r.status().is_success() => return Ok(r),
            Ok(r) => {
                let status = r.status().as_u16();
                let hint = retry_after(r.headers());
                let body = read_error_body(r).await;
                (status, hint, body)
            }
            // Connection failures and timeouts are retried like a 503.
            Err(e) => {
                if attempt > settings.max_retries {
                    return Err(if attempt == 1 {
                        e
                    } else {
                        LlmError::RetriesExhausted {
                            attempts: attempt,
                            last: e.to_string(),
                        }
                    });
                }
                match backoff(settings, attempt, None) {
                    Some(wait) => {
                        tracing::info!(attempt, error = %e, "engine request failed; retrying");
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                    None => return Err(e),
                }
            }
        };
        let error = LlmError::Http {
            status,
            message: error_message(&body),
        };
        match verdict(status, hint, &body) {
            Verdict::Retry { after } if attempt <= settings.max_retries => {
                match backoff(settings, attempt, after) {
                    Some(wait) => {
                        tracing::warn!(
                            attempt,
                            status,
                            wait_ms = wait.as_millis() as u64,
                            "engine busy; retrying"
                        );
                        tokio::time::sleep(wait).await;
                    }
                    None => return Err(error),
                }
            }
            Verdict::Retry { .. } => {
                return Err(LlmError::RetriesExhausted {
                    attempts: attempt,
                    last: error.to_string(),
                });
            }
            Verdict::Fail => return Err(error),
        }
    }
}

async fn read_error_body(response: reqwest::Response) -> String {
    match tokio::time::timeout(Duration::from_secs(5), response.bytes()).await {
        Ok(Ok(bytes)) => String::from_utf8_lossy(&bytes[..bytes.len().min(64 * 1024)]).into_owned(),
        _ => String::new(),
    }
}

/// reqwest's error text without the URL (which could carry a query with a
/// secret in someone's configuration).
fn without_url(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(inner) = source {
        text = format!("{text}: {inner}");
        source = inner.source();
    }
    text
}

/// Read the next chunk of a streamed body within the stage's timeout.
pub(crate) async fn next_chunk(
    response: &mut reqwest::Response,
    seconds: u64,
    stage: &'static str,
) -> Result<Option<bytes::Bytes>, LlmError> {
    match tokio::time::timeout(Duration::from_secs(seconds), response.chunk()).await {
        Err(_) => Err(LlmError::Timeout { stage, seconds }),
        Ok(Err(e)) => Err(LlmError::Protocol(format!(
            "the stream broke off: {}",
            without_url(e)
        ))),
        Ok(Ok(chunk)) => Ok(chunk),
    }
}

/// Run `body` under the overall timeout.
pub(crate) async fn within_total<T>(
    settings: &HttpSettings,
    body: impl Future<Output = Result<T, LlmError>>,
) -> Result<T, LlmError> {
    match tokio::time::timeout(Duration::from_secs(settings.total_timeout_secs), body).await {
        Ok(result) => result,
        Err(_) => Err(LlmError::Timeout {
            stage: "for the whole answer",
            seconds: settings.total_timeout_secs,
        }),
    }
}

/// Read an API key from the environment, never from config.
pub(crate) fn api_key(var: &str) -> Result<String, LlmError> {
    match std::env::var(var) {
        Ok(key) if !key.trim().is_empty() => Ok(key.trim().to_string()),
        _ => Err(LlmError::MissingApiKey {
            var: var.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_rules() {
        assert_eq!(verdict(529, None, ""), Verdict::Retry { after: None });
        assert_eq!(
            verdict(429, Some(Duration::from_secs(2)), "{}"),
            Verdict::Retry {
                after: Some(Duration::from_secs(2))
            }
        );
        for status in [400, 401, 402, 403, 404, 413] {
            assert_eq!(verdict(status, None, ""), Verdict::Fail, "{status}");
        }
        assert_eq!(
            verdict(
                429,
                None,
                r#"{"error":{"message":"You have reached your spend limit"}}"#
            ),
            Verdict::Fail
        );
    }

    #[test]
    fn backoff_doubles_and_respects_the_wait_cap() {
        let s = HttpSettings {
            retry_base_ms: 100,
            max_retry_wait_secs: 1,
            ..HttpSettings::default()
        };
        assert_eq!(backoff(&s, 1, None), Some(Duration::from_millis(100)));
        assert_eq!(backoff(&s, 3, None), Some(Duration::from_millis(400)));
        assert_eq!(backoff(&s, 9, None), Some(Duration::from_secs(1)));
        assert_eq!(backoff(&s, 1, Some(Duration::from_secs(5))), None);
    }

    #[test]
    fn error_bodies_of_every_shape_give_a_message() {
        assert_eq!(
            error_message(r#"{"error":{"message":"bad model","type":"x"}}"#),
            "bad model"
        );
        assert_eq!(
            error_message(r#"{"error":"model not found"}"#),
            "model not found"
        );
        assert_eq!(
            error_message(r#"{"object":"error","message":"too long","code":400}"#),
            "too long"
        );
        assert_eq!(error_message("plain text"), "plain text");
    }

    #[test]
    fn loopback_detection() {
        assert!(is_loopback("http://127.0.0.1:11434"));
        assert!(is_loopback("http://localhost:8080/v1"));
        assert!(is_loopback("http://[::1]:9000"));
        assert!(!is_loopback("https://api.anthropic.com"));
        assert!(!is_loopback("http://192.168.1.20:11434"));
        assert!(!is_loopback("not a url"));
    }
}
