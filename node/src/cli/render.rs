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
    pub fn new(json: impl Serialize, human: impl Into<String>) -> anyhow::Result<Output> {
        Ok(Output {
            json: serde_json::to_value(json)?,
            human: human.into(),
        })
    }

    /// The text to print for this mode.
    pub fn render(&self, json: bool) -> String {
        if json {
            serde_json::to_string_pretty(&self.json).unwrap_or_else(|_| "null".into())
        } else {
            self.human.clone()
        }
    }
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

/// `2026-11-24 10:15` in UTC.
pub fn when(t: crate::model::Timestamp) -> String {
    t.to_datetime().format("%Y-%m-%d %H:%M").to_string()
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
    fn excerpt_cuts_and_marks() {
        assert_eq!(excerpt("short", 10), "short");
        assert_eq!(excerpt("a longer line here", 8), "a longer…");
        assert_eq!(excerpt("\n\nfirst\nsecond", 20), "first…");
    }
}
