//! Ollama: `POST /api/chat`, answered with newline-delimited JSON.
//!
//! Each line is a JSON object with a piece of the answer in
//! `message.content`; the last has `"done": true` with the stop reason and
//! token counts. A line may arrive split across reads, and an
//! `{"error": "…"}` line can come after a `200 OK` (a model that fails to
//! load mid-answer), which ends the answer as an error. `GET /api/tags`
//! tells whether the server is up.

use serde_json::{Value, json};

use super::lines::LineBuffer;
use super::*;
use crate::model::EngineMode;

#[derive(Debug, Clone)]
pub struct Ollama {
    client: reqwest::Client,
    settings: HttpSettings,
    base_url: String,
    model: String,
    keep_alive: String,
}

impl Ollama {
    pub fn new(base_url: &str, model: &str, keep_alive: &str, settings: HttpSettings) -> Ollama {
        Ollama {
            client: client(&settings),
            settings,
            base_url: base_url.trim_end_matches('/').to_string(),
            model: model.to_string(),
            keep_alive: keep_alive.to_string(),
        }
    }

    fn read_line(
        line: &str,
        answer: &mut Completion,
        sink: &mut (dyn FnMut(&str) + Send),
    ) -> Result<bool, LlmError> {
        if line.trim().is_empty() {
            return Ok(false);
        }
        let value: Value = serde_json::from_str(line)
            .map_err(|e| LlmError::Protocol(format!("a line that is not JSON ({e})")))?;
        if let Some(error) = value.get("error") {
            let message = error
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| error.to_string());
            return Err(LlmError::MidStream(message));
        }
        if let Some(text) = value.pointer("/message/content").and_then(Value::as_str)
            && !text.is_empty()
        {
            sink(text);
            answer.text.push_str(text);
        }
        if value.get("done").and_then(Value::as_bool) == Some(true) {
            answer.stop_reason = value
                .get("done_reason")
                .and_then(Value::as_str)
                .map(str::to_string);
            answer.input_tokens = value.get("prompt_eval_count").and_then(Value::as_u64);
            answer.output_tokens = value.get("eval_count").and_then(Value::as_u64);
            return Ok(true);
        }
        Ok(false)
    }
}

impl LlmAdapter for Ollama {
    fn engine(&self) -> EngineMode {
        EngineMode::Ollama
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
            "stream": true,
            "keep_alive": self.keep_alive,
            "options": {
                "temperature": request.temperature,
                "num_predict": request.max_tokens,
            },
        });
        if let Some(schema) = &request.schema {
            body["format"] = schema.clone();
        }
        Prepared {
            url: format!("{}/api/chat", self.base_url),
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
            let mut response =
                post_with_retries(&self.client, &self.settings, prepared, &[], on_attempt).await?;
            let mut lines = LineBuffer::default();
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
                let Some(chunk) = next_chunk(&mut response, seconds, stage).await? else {
                    break;
                };
                first = false;
                for line in lines.push(&chunk)? {
                    if Self::read_line(&line, &mut answer, sink)? {
                        return Ok(answer);
                    }
                }
            }
            if let Some(line) = lines.finish()?
                && Self::read_line(&line, &mut answer, sink)?
            {
                return Ok(answer);
            }
            Err(LlmError::Protocol(
                "the answer ended before Ollama said it was done".into(),
            ))
        })
    }

    async fn health(&self) -> Result<(), LlmError> {
        let url = format!("{}/api/tags", self.base_url);
        let response = tokio::time::timeout(
            std::time::Duration::from_secs(self.settings.connect_timeout_secs + 5),
            self.client.get(&url).send(),
        )
        .await
        .map_err(|_| LlmError::Timeout {
            stage: "health check",
            seconds: self.settings.connect_timeout_secs + 5,
        })?
        .map_err(|e| LlmError::Unreachable {
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
