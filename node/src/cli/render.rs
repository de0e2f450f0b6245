//! How command results look: JSON for scripts, plain text for people.

use serde::Serialize;

use crate::model::{Reflection, Tension, Thread};

/// A command's answer in both forms.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Output {
    pub json: serde_json::Value,
    pub human: String,
}

impl Output {
    /// A JSON answer is always an object (scripts can add fields later
    /// without breaking): a bare list or value is wrapped as `{"items": …}`
    /// (every command names its list itself; this is the safety net).
    pub fn new(json: impl Serialize, human: impl Into<String>) -> anyhow::Result<Output> {
        let json = match serde_json::to_value(json)? {
            object @ serde_json::Value::Object(_) => object,
            other => serde_json::json!({ "items": other }),
        };
        Ok(Output {
            json,
            human: human.into(),
        })
    }

    /// The text to print for this mode. Text for people is escaped (see
    /// [`escape`]); JSON escapes control characters itself.
    pub fn render(&self, json: bool) -> String {
        if json {
            serde_json::to_string_pretty(&self.json).unwrap_or_else(|_| "null".into())
        } else {
            escape(&self.human).into_owned()
        }
    }
}

/// Make text safe to print to a terminal: control characters (ANSI escape
/// sequences start with one) and the Unicode controls that reorder or hide
/// text (bidi overrides and isolates, zero-width marks) are shown as
/// `\u{..}` instead of acting on the terminal. Newlines and tabs stay.
///
/// Everything a person wrote, a bundle carried or a model answered passes
/// through here on its way to the screen, so a stored reflection cannot
/// rewrite what is displayed around it.
pub fn escape(text: &str) -> std::borrow::Cow<'_, str> {
    fn unsafe_char(c: char) -> bool {
        (c.is_control() && c != '\n' && c != '\t')
            || matches!(
                c,
                '\u{200b}'..='\u{200f}'
                    | '\u{202a}'..='\u{202e}'
                    | '\u{2060}'..='\u{2069}'
                    | '\u{061c}'
                    | '\u{feff}'
            )
    }
    if !text.chars().any(unsafe_char) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if unsafe_char(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// The first line of `text`, cut to `max` characters with an ellipsis.
pub fn excerpt(text: &str, max: usize) -> String {
    let line = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim();
    let mut out: String = line.chars().take(max).collect();
    if line.chars().count() > max || text.trim().lines().count() > 1 {
        out.push('…');
    }
    out
}

/// The zone this process shows times in: set once from config (or the
/// machine's) when the command starts.
static ZONE: std::sync::OnceLock<jiff::tz::TimeZone> = std::sync::OnceLock::new();

pub fn set_zone(tz: jiff::tz::TimeZone) {
    let _ = ZONE.set(tz);
}

pub fn zone() -> &'static jiff::tz::TimeZone {
    ZONE.get_or_init(|| crate::when::zone(None).unwrap_or(jiff::tz::TimeZone::UTC))
}

/// `2026-11-24 21:30` in the person's zone.
pub fn when(t: crate::model::Timestamp) -> String {
    crate::when::show(t, zone())
}

pub fn reflection_line(r: &Reflection) -> String {
    format!(
        "{}  {}  {}",
        r.id.short(),
        when(r.created_at),
        excerpt(&r.content, 60)
    )
}

pub fn thread_line(t: &Thread, size: u64) -> String {
    format!(
        "{}  {:<8}  {:>4} reflections  last active {}  {}",
        t.id.short(),
        t.status.as_str(),
        size,
        when(t.last_active),
        t.title
    )
}

pub fn tension_line(t: &Tension) -> String {
    format!(
        "{}  {} ↔ {}  position {:+.2}  intensity {:.2}  {}",
        t.id.short(),
        t.axis_a,
        t.axis_b,
        t.position,
        t.intensity,
        t.name
    )
}

/// A bar from -1 to +1 showing where a tension sits between its poles.
pub fn position_bar(t: &Tension) -> String {
    const WIDTH: usize = 21;
    let slot = (((t.position + 1.0) / 2.0) * (WIDTH - 1) as f64).round() as usize;
    let bar: String = (0..WIDTH)
        .map(|i| {
            if i == slot.min(WIDTH - 1) {
                '●'
            } else {
                '─'
            }
        })
        .collect();
    format!("{} {bar} {}", t.axis_a, t.axis_b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_controls_are_shown_not_obeyed() {
        assert_eq!(escape("plain\ttext\nline"), "plain\ttext\nline");
        assert_eq!(
            escape("\x1b[2J\x1b]0;owned\x07"),
            "\\u{1b}[2J\\u{1b}]0;owned\\u{7}"
        );
        assert_eq!(escape("abc\u{202e}fed"), "abc\\u{202e}fed");
        assert_eq!(escape("a\rb"), "a\\u{d}b");
        let out = Output::new(serde_json::json!({}), "name \x1b[31mred").unwrap();
        assert!(!out.render(false).contains('\x1b'));
    }

    #[test]
    fn excerpt_cuts_and_marks() {
        assert_eq!(excerpt("short", 10), "short");
        assert_eq!(excerpt("a longer line here", 8), "a longer…");
        assert_eq!(excerpt("\n\nfirst\nsecond", 20), "first…");
    }
}
