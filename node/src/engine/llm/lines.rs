//! Incremental readers for streamed responses.
//!
//! Network reads split a stream anywhere: in the middle of a line, or of a
//! multi-byte character. These readers keep the unfinished tail until the
//! rest arrives, and hand out only whole lines (NDJSON, Ollama) or whole
//! Server-Sent Events (Anthropic, OpenAI-compatible servers).

use super::LlmError;

/// Bytes in, complete lines out (without their `\n` or `\r\n`).
#[derive(Debug, Default)]
pub struct LineBuffer {
    pending: Vec<u8>,
}

/// Longest line accepted: a server sending megabytes without a newline is
/// broken or hostile.
const MAX_LINE: usize = 1 << 20;

impl LineBuffer {
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<String>, LlmError> {
        self.pending.extend_from_slice(chunk);
        let mut lines = Vec::new();
        while let Some(end) = self.pending.iter().position(|b| *b == b'\n') {
            let mut line: Vec<u8> = self.pending.drain(..=end).collect();
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            lines.push(decode(line)?);
        }
        if self.pending.len() > MAX_LINE {
            return Err(LlmError::Protocol(format!(
                "a line longer than {MAX_LINE} bytes"
            )));
        }
        Ok(lines)
    }

    /// The last line, if the stream ended without a newline.
    pub fn finish(&mut self) -> Result<Option<String>, LlmError> {
        if self.pending.is_empty() {
            return Ok(None);
        }
        let mut line = std::mem::take(&mut self.pending);
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        decode(line).map(Some)
    }
}

fn decode(line: Vec<u8>) -> Result<String, LlmError> {
    String::from_utf8(line).map_err(|_| LlmError::Protocol("a line that is not UTF-8".into()))
}

/// One Server-Sent Event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, if any.
    pub event: Option<String>,
    /// The `data:` lines, joined with `\n`.
    pub data: String,
}

/// Bytes in, events out, per the WHATWG event-stream format: fields until a
/// blank line, `:` comments ignored, several `data:` lines joined.
#[derive(Debug, Default)]
pub struct SseParser {
    lines: LineBuffer,
    event: Option<String>,
    data: Vec<String>,
}

impl SseParser {
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<SseEvent>, LlmError> {
        let lines = self.lines.push(chunk)?;
        let mut events = Vec::new();
        for line in lines {
            self.line(line, &mut events);
        }
        Ok(events)
    }

    /// Events still pending when the stream ends (a final event without its
    /// blank line is still delivered).
    pub fn finish(&mut self) -> Result<Vec<SseEvent>, LlmError> {
        let mut events = Vec::new();
        if let Some(line) = self.lines.finish()? {
            self.line(line, &mut events);
        }
        self.dispatch(&mut events);
        Ok(events)
    }

    fn line(&mut self, line: String, events: &mut Vec<SseEvent>) {
        if line.is_empty() {
            self.dispatch(events);
            return;
        }
        if line.starts_with(':') {
            return;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line.as_str(), ""),
        };
        match field {
            "event" => self.event = Some(value.to_string()),
            "data" => self.data.push(value.to_string()),
            _ => {}
        }
    }

    fn dispatch(&mut self, events: &mut Vec<SseEvent>) {
        if self.data.is_empty() && self.event.is_none() {
            return;
        }
        events.push(SseEvent {
            event: self.event.take(),
            data: std::mem::take(&mut self.data).join("\n"),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_survive_any_split_including_inside_a_character() {
        let text = "{\"a\":\"héllo\"}\r\n{\"b\":2}\nlast";
        let bytes = text.as_bytes();
        for cut in 0..bytes.len() {
            let mut buffer = LineBuffer::default();
            let mut lines = buffer.push(&bytes[..cut]).unwrap();
            lines.extend(buffer.push(&bytes[cut..]).unwrap());
            lines.extend(buffer.finish().unwrap());
            assert_eq!(
                lines,
                ["{\"a\":\"héllo\"}", "{\"b\":2}", "last"],
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn sse_events_are_assembled_across_chunks() {
        let stream = b": keep-alive\nevent: content_block_delta\ndata: {\"x\":1}\n\ndata: one\ndata: two\n\ndata: [DONE]";
        for cut in 0..stream.len() {
            let mut parser = SseParser::default();
            let mut events = parser.push(&stream[..cut]).unwrap();
            events.extend(parser.push(&stream[cut..]).unwrap());
            events.extend(parser.finish().unwrap());
            assert_eq!(events.len(), 3, "cut at {cut}");
            assert_eq!(events[0].event.as_deref(), Some("content_block_delta"));
            assert_eq!(events[1].data, "one\ntwo");
            assert_eq!(events[2].data, "[DONE]");
        }
    }

    #[test]
    fn endless_lines_are_refused() {
        let mut buffer = LineBuffer::default();
        assert!(buffer.push(&vec![b'x'; MAX_LINE + 1]).is_err());
    }
}
