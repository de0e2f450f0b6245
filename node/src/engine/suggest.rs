//! Tension suggestions from a language model, in structured output.
//!
//! The built-in rules find a tension only where both poles are named in
//! words close to the pack's cues; a model can hear the implicit ones. It
//! is asked for JSON only, constrained by a JSON schema where the server
//! supports it (`response_format` on OpenAI-compatible servers, `format`
//! on Ollama), listing the pack's own axes as the only choices. Nothing it
//! returns is trusted: an axis must be one of the pack's, the evidence
//! must be the person's own words (found in the entry), and at most
//! [`super::MAX_TENSIONS`] are kept. What passes is stored like the rules'
//! findings: a suggestion the person accepts or dismisses.

use serde_json::{Value, json};

use super::llm::ChatRequest;
use super::{Engine, MAX_TENSIONS};
use crate::store::TensionFindingInput;
use mirror_constitution::text::tokenize;

/// The system prompt for the structured request (descriptive, like every
/// prompt, so it passes the compliance checker).
const SYSTEM: &str = "This request reads a journal entry for tensions: two things the writer wants or values that pull against each other. The answer is JSON only. Each tension names one of the listed axes and quotes, word for word, the words of the entry that show it. An entry with no such pull has an empty list.";

/// The pack's axes as "pole/pole", in the pack's order, without repeats.
pub fn axes(engine: &Engine) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for axis in &engine.params().tensions.axes {
        let name = format!("{}/{}", axis.a.name, axis.b.name);
        if !out.contains(&name) {
            out.push(name);
        }
    }
    out
}

/// The JSON schema the answer must follow.
pub fn schema(engine: &Engine) -> Value {
    json!({
        "type": "object",
        "properties": {
            "tensions": {
                "type": "array",
                "maxItems": MAX_TENSIONS,
                "items": {
                    "type": "object",
                    "properties": {
                        "axis": {"type": "string", "enum": axes(engine)},
                        "evidence": {"type": "string"},
                    },
                    "required": ["axis", "evidence"],
                    "additionalProperties": false,
                },
            },
        },
        "required": ["tensions"],
        "additionalProperties": false,
    })
}

/// The structured request for `text`.
pub fn request(engine: &Engine, text: &str, max_tokens: u32) -> ChatRequest {
    ChatRequest {
        system: format!("{SYSTEM}\n\nAxes: {}.", axes(engine).join(", ")),
        examples: Vec::new(),
        user: text.to_string(),
        max_tokens,
        temperature: 0.0,
        schema: Some(schema(engine)),
    }
}

/// The suggestions in a model's `answer` that hold up against the pack and
/// the entry, leaving out axes the rules already found (`known`).
pub fn parse(
    engine: &Engine,
    text: &str,
    answer: &str,
    known: &[(String, String)],
) -> Vec<TensionFindingInput> {
    let Ok(value) = serde_json::from_str::<Value>(answer.trim()) else {
        return Vec::new();
    };
    let Some(items) = value.get("tensions").and_then(Value::as_array) else {
        return Vec::new();
    };
    let entry: Vec<String> = tokenize(text).into_iter().map(|t| t.norm).collect();
    let mut out: Vec<TensionFindingInput> = Vec::new();
    for item in items {
        let (Some(axis), Some(evidence)) = (
            item.get("axis").and_then(Value::as_str),
            item.get("evidence").and_then(Value::as_str),
        ) else {
            continue;
        };
        let Some(spec) = engine
            .params()
            .tensions
            .axes
            .iter()
            .find(|a| format!("{}/{}", a.a.name, a.b.name) == axis)
        else {
            continue;
        };
        // The person's own words: at least three, in a row, in the entry.
        let words: Vec<String> = tokenize(evidence).into_iter().map(|t| t.norm).collect();
        if words.len() < 3 || !entry.windows(words.len()).any(|w| w == words.as_slice()) {
            continue;
        }
        let pair = (spec.a.name.clone(), spec.b.name.clone());
        if known.contains(&pair)
            || out
                .iter()
                .any(|f| (&f.axis_a, &f.axis_b) == (&pair.0, &pair.1))
        {
            continue;
        }
        out.push(TensionFindingInput {
            name: spec.name.clone(),
            axis_a: pair.0,
            axis_b: pair.1,
            position: 0.0,
            intensity: 0.5,
            evidence: evidence.trim().chars().take(4000).collect(),
        });
        if out.len() == MAX_TENSIONS {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_packs_axes_and_the_persons_words_are_kept() {
        let engine = Engine::genesis().unwrap();
        let axes = axes(&engine);
        assert!(
            axes.contains(&"autonomy/connection".to_string()),
            "{axes:?}"
        );
        let text =
            "Moved out to have my own space and now I eat dinner on FaceTime just to hear a voice.";
        let answer = r#"{"tensions": [
            {"axis": "autonomy/connection", "evidence": "to have my own space"},
            {"axis": "autonomy/connection", "evidence": "eat dinner on FaceTime"},
            {"axis": "money/love", "evidence": "my own space"},
            {"axis": "past/future", "evidence": "a life I never lived"},
            {"axis": "stability/growth", "evidence": "own"}
        ]}"#;
        let found = parse(&engine, text, answer, &[]);
        assert_eq!(found.len(), 1);
        assert_eq!(
            (found[0].axis_a.as_str(), found[0].axis_b.as_str()),
            ("autonomy", "connection")
        );
        assert_eq!(found[0].evidence, "to have my own space");
        // Already found by the rules: not suggested twice.
        let known = [("autonomy".to_string(), "connection".to_string())];
        assert!(parse(&engine, text, answer, &known).is_empty());
        // Not JSON, or not the shape: nothing.
        assert!(parse(&engine, text, "Sure! Here are the tensions:", &[]).is_empty());
        assert!(parse(&engine, text, r#"{"tension": []}"#, &[]).is_empty());
        // The system prompt passes the checker like every prompt.
        assert!(engine.checker().check(SYSTEM).is_compliant());
    }
}
