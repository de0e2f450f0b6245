//! OpenAI-compatible servers (llama.cpp's server, vLLM, LM Studio, Ollama's
//! `/v1` endpoint): `POST /v1/chat/completions` with `stream: true`,
//! answered with Server-Sent Events ending in `data: [DONE]`.
//!
//! Servers differ in small ways, and all of them are accepted: the final
//! usage chunk has an empty `choices` list; `finish_reason` may be null,
//! missing, "stop", "length" or something else; errors come either as
//! `{"error": {"message": …}}` or as `{"object": "error", "message": …}`,
//! before the stream or in it. A bearer token is sent only when the
//! configured environment variable is set (local servers need none).

use serde_json::{Value, json};

use super::lines::SseParser;
use super::*;
use crate::model::EngineMode;

#[derive(Clone)]
pub struct OpenAi {
    client: reqwest::Client,
    settings: HttpSettings,
    base_url: String,
    model: String,
    api_key_env: String,
    api_key: Option<String>,
}

impl std::fmt::Debug for OpenAi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAi")
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field(
                "api_key",
                &format_args!("${} (not shown)", self.api_key_env),
            )
            .finish()
    }
}

impl OpenAi {
    /// An adapter with the key read from the environment variable
    /// `api_key_env` (the only place keys come from).
    pub fn from_env(
        base_url: &str,
        model: &str,
        api_key_env: &str,
        settings: HttpSettings,
    ) -> OpenAi {
        let key = api_key(api_key_env).ok();
        OpenAi::new(base_url, model, api_key_env, key, settings)
    }

    /// `api_key_env` names where the key came from, for error messages.
    pub fn new(
        base_url: &str,
        model: &str,
        api_key_env: &str,
        api_key: Option<String>,
        settings: HttpSettings,
    ) -> OpenAi {
        OpenAi {
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

    fn headers(&self) -> Vec<(&'static str, String)> {
        match self.key() {
            Ok(key) => vec![("authorization", format!("Bearer {key}"))],
            Err(_) => Vec::new(),
        }
    }

    /// Handle one `data:` payload; `Ok(true)` at `[DONE]`.
    fn data(
        data: &str,
        answer: &mut Completion,
        finished: &mut bool,
        sink: &mut (dyn FnMut(&str) + Send),
    ) -> Result<bool, LlmError> {
        let data = data.trim();
        if data == "[DONE]" {
            return Ok(true);
        }
        if data.is_empty() {
            return Ok(false);
        }
        let value: Value = serde_json::from_str(data)
            .map_err(|e| LlmError::Protocol(format!("an event that is not JSON ({e})")))?;
        if value.get("error").is_some()
            || value.get("object").and_then(Value::as_str) == Some("error")
        {
            return Err(LlmError::MidStream(error_message(data)));
        }
        if let Some(choices) = value.get("choices").and_then(Value::as_array) {
            for choice in choices {
                if let Some(text) = choice.pointer("/delta/content").and_then(Value::as_str)
                    && !text.is_empty()
                {
                    sink(text);
                    answer.text.push_str(text);
                }
                if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
                    answer.stop_reason = Some(reason.to_string());
                    *finished = true;
                }
            }
        }
        if let Some(usage) = value.get("usage").filter(|u| !u.is_null()) {
            answer.input_tokens = usage.get("prompt_tokens").and_then(Value::as_u64);
            answer.output_tokens = usage.get("completion_tokens").and_then(Value::as_u64);
        }
        Ok(false)
    }
}

impl LlmAdapter for OpenAi {
    fn engine(&self) -> EngineMode {
        EngineMode::OpenAi
    }

    fn model(&self) -> &str {
        &self.model
    }

    fn endpoint(&self) -> &str {
        &self.base_url
    }

    fn prepare(&self, request: &ChatRequest) -> Prepared {
        let mut body = json!({
            "model": self.model,
            "messages": request.messages_with_system(),
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "stream": true,
            "stream_options": {"include_usage": true},
        });
        if let Some(schema) = &request.schema {
            body["response_format"] = json!({
                "type": "json_schema",
                "json_schema": {"name": "answer", "strict": true, "schema": schema},
            });
        }
        Prepared {
            url: format!("{}/chat/completions", self.base_url),
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
            let headers = self.headers();
            let mut response =
                post_with_retries(&self.client, &self.settings, prepared, &headers, on_attempt)
                    .await?;
            let mut parser = SseParser::default();
            let mut answer = Completion::default();
            let mut finished = false;
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
                let (events, ended) = match next_chunk(&mut response, seconds, stage).await? {
                    Some(chunk) => (parser.push(&chunk)?, false),
                    None => (parser.finish()?, true),
                };
                first = false;
                for e in events {
                    if Self::data(&e.data, &mut answer, &mut finished, sink)? {
                        return Ok(answer);
                    }
                }
                if ended {
                    // Lenient: some servers close after the finish reason
                    // without sending [DONE].
                    return if finished {
                        Ok(answer)
                    } else {
                        Err(LlmError::Protocol(
                            "the answer ended before it finished".into(),
                        ))
                    };
                }
            }
        })
    }

    async fn health(&self) -> Result<(), LlmError> {
        let url = format!("{}/models", self.base_url);
        let mut request = self.client.get(&url);
        for (name, value) in self.headers() {
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
