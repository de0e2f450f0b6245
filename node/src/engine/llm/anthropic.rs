//! Anthropic's Messages API: `POST /v1/messages` with `stream: true`,
//! answered with Server-Sent Events.
//!
//! Events: `message_start` (input token count), `content_block_start`,
//! `content_block_delta` (text in `delta.text` for `text_delta`),
//! `content_block_stop`, `message_delta` (stop reason, output tokens),
//! `message_stop` (the end), `ping` (ignored), and `error`, which can arrive
//! mid-answer (for example `overloaded_error`) and ends it as an error.
//! Unknown event types are ignored, as the API asks. Requests carry
//! `x-api-key` (from the environment) and `anthropic-version: 2023-06-01`.

use serde_json::{Value, json};

use super::lines::SseParser;
use super::*;
use crate::model::EngineMode;

pub const API_VERSION: &str = "2023-06-01";

#[derive(Clone)]
pub struct Anthropic {
    client: reqwest::Client,
    settings: HttpSettings,
    base_url: String,
    model: String,
    api_key_env: String,
    api_key: Option<String>,
}

impl std::fmt::Debug for Anthropic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Anthropic")
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field(
                "api_key",
                &format_args!("${} (not shown)", self.api_key_env),
            )
            .finish()
    }
}

impl Anthropic {
    /// An adapter with the key read from the environment variable
    /// `api_key_env` (the only place keys come from).
    pub fn from_env(
        base_url: &str,
        model: &str,
        api_key_env: &str,
        settings: HttpSettings,
    ) -> Anthropic {
        let key = api_key(api_key_env).ok();
        Anthropic::new(base_url, model, api_key_env, key, settings)
    }

    /// `api_key_env` names where the key came from, for error messages.
    pub fn new(
        base_url: &str,
        model: &str,
        api_key_env: &str,
        api_key: Option<String>,
        settings: HttpSettings,
    ) -> Anthropic {
        Anthropic {
            client: client(&settings),
            settings,
            base_url: base_url.trim_end_matches('/').to_string(),
            model: model.to_string(),
            api_key_env: api_key_env.to_string(),
            api_key,
        }
    }

    fn key(&self) -> Result<String, LlmError> {
        self.api_key.clone().ok_or_else(|| LlmError::MissingApiKey {
            var: self.api_key_env.clone(),
        })
    }

    fn headers(&self) -> Result<Vec<(&'static str, String)>, LlmError> {
        Ok(vec![
            ("x-api-key", self.key()?),
            ("anthropic-version", API_VERSION.to_string()),
        ])
    }

    /// Handle one event; `Ok(true)` at `message_stop`.
    fn event(
        kind: &str,
        data: &str,
        answer: &mut Completion,
        sink: &mut (dyn FnMut(&str) + Send),
    ) -> Result<bool, LlmError> {
        let parse = || -> Result<Value, LlmError> {
            serde_json::from_str(data)
                .map_err(|e| LlmError::Protocol(format!("an event that is not JSON ({e})")))
        };
        match kind {
            "message_start" => {
                answer.input_tokens = parse()?
                    .pointer("/message/usage/input_tokens")
                    .and_then(Value::as_u64);
            }
            "content_block_delta" => {
                let value = parse()?;
                if value.pointer("/delta/type").and_then(Value::as_str) == Some("text_delta")
                    && let Some(text) = value.pointer("/delta/text").and_then(Value::as_str)
                {
                    sink(text);
                    answer.text.push_str(text);
                }
            }
            "message_delta" => {
                let value = parse()?;
                if let Some(reason) = value.pointer("/delta/stop_reason").and_then(Value::as_str) {
                    answer.stop_reason = Some(reason.to_string());
                }
                if let Some(n) = value
                    .pointer("/usage/output_tokens")
                    .and_then(Value::as_u64)
                {
                    answer.output_tokens = Some(n);
                }
            }
            "message_stop" => return Ok(true),
            "error" => {
                let value = parse()?;
                let kind = value
                    .pointer("/error/type")
                    .and_then(Value::as_str)
                    .unwrap_or("error");
                let message = value
                    .pointer("/error/message")
                    .and_then(Value::as_str)
                    .unwrap_or("(no details)");
                return Err(LlmError::MidStream(format!("{kind}: {message}")));
            }
            // ping, content_block_start/stop and anything new: nothing to do.
            _ => {}
        }
        Ok(false)
    }
}

impl LlmAdapter for Anthropic {
    fn engine(&self) -> EngineMode {
        EngineMode::Anthropic
    }

    fn model(&self) -> &str {
        &self.model
    }

    fn endpoint(&self) -> &str {
        &self.base_url
    }

    fn prepare(&self, request: &ChatRequest) -> Prepared {
        let body = json!({
            "model": self.model,
            "max_tokens": request.max_tokens,
            "system": request.system,
            "messages": request.messages(),
            "temperature": request.temperature,
            "stream": true,
        });
        Prepared {
            url: format!("{}/v1/messages", self.base_url),
            body: body.to_string().into_bytes(),
        }
    }

    fn send<'a>(
        &'a self,
        prepared: &'a Prepared,
        sink: &'a mut (dyn FnMut(&str) + Send),
        on_attempt: &'a mut (dyn FnMut(u32) + Send),
    ) -> impl Future<Output = Result<Completion, LlmError>> + Send + 'a {
        within_total(&self.settings, async move {
            let headers = self.headers()?;
            let mut response =
                post_with_retries(&self.client, &self.settings, prepared, &headers, on_attempt)
                    .await?;
            let mut parser = SseParser::default();
            let mut answer = Completion::default();
            let mut first = true;
            loop {
                let (seconds, stage) = if first {
                    (
                        self.settings.first_byte_timeout_secs,
                        "waiting for the first words",
                    )
                } else {
                    (
                        self.settings.idle_timeout_secs,
                        "between parts of the answer",
                    )
                };
                let events = match next_chunk(&mut response, seconds, stage).await? {
                    Some(chunk) => parser.push(&chunk)?,
                    None => {
                        let events = parser.finish()?;
                        let mut done = false;
                        for e in events {
                            let kind = event_kind(&e.event, &e.data);
                            done |= Self::event(&kind, &e.data, &mut answer, sink)?;
                        }
                        return if done {
                            Ok(answer)
                        } else {
                            Err(LlmError::Protocol(
                                "the answer ended before message_stop".into(),
                            ))
                        };
                    }
                };
                first = false;
                for e in events {
                    let kind = event_kind(&e.event, &e.data);
                    if Self::event(&kind, &e.data, &mut answer, sink)? {
                        return Ok(answer);
                    }
                }
            }
        })
    }

    async fn health(&self) -> Result<(), LlmError> {
        let url = format!("{}/v1/models", self.base_url);
        let mut request = self.client.get(&url);
        for (name, value) in self.headers()? {
            request = request.header(name, value);
        }
        let response = request.send().await.map_err(|e| LlmError::Unreachable {
            url: url.clone(),
            reason: e.without_url().to_string(),
        })?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(LlmError::Http {
                status: response.status().as_u16(),
                message: "health check failed".into(),
            })
        }
    }
}

/// The event's type: its `event:` field, or the `type` in its data.
fn event_kind(event: &Option<String>, data: &str) -> String {
    event.clone().unwrap_or_else(|| {
        serde_json::from_str::<Value>(data)
            .ok()
            .and_then(|v| v.get("type").and_then(Value::as_str).map(str::to_string))
            .unwrap_or_default()
    })
}
