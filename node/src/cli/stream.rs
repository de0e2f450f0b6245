//! Showing a language model's answer as it arrives, on a terminal, without
//! ever leaving a non-compliant word on screen.
//!
//! Text is shown a sentence at a time, and only once that sentence passes
//! the compliance checker. If an attempt is rejected as a whole (or the
//! engine fails), what was shown of it is erased before the next attempt or
//! the built-in mirror's answer appears. What stays on screen at the end is
//! exactly the stored, compliant mirrorback.

use std::io::Write;

use mirror_constitution::Checker;

use crate::engine::pipeline::Progress;
use crate::engine::shown::{SentenceGate, Shown};

pub struct Display<'a> {
    /// Which sentences may show (shared with the web app).
    gate: SentenceGate<'a>,
    /// Text shown for this attempt.
    shown: String,
    columns: usize,
}

impl<'a> Display<'a> {
    pub fn new(checker: &'a Checker) -> Display<'a> {
        let columns = terminal_size::terminal_size()
            .map(|(w, _)| usize::from(w.0))
            .unwrap_or(80)
            .max(20);
        Display {
            gate: SentenceGate::new(checker),
            shown: String::new(),
            columns,
        }
    }

    pub fn on(&mut self, progress: Progress) {
        for step in self.gate.on(progress) {
            match step {
                Shown::Restart => self.shown.clear(),
                Shown::Sentence(sentence) => self.print(&sentence),
                Shown::Erase => self.erase(),
            }
        }
    }

    fn print(&mut self, text: &str) {
        let mut out = std::io::stdout().lock();
        // A model's text reaches the terminal escaped, like everything else.
        let _ = out.write_all(super::render::escape(text).as_bytes());
        let _ = out.flush();
        self.shown.push_str(text);
    }

    /// Rows the shown text occupies.
    fn rows(&self) -> usize {
        self.shown
            .split('\n')
            .map(|line| line.chars().count().div_ceil(self.columns).max(1))
            .sum()
    }

    fn erase(&mut self) {
        if !self.shown.is_empty() {
            let up = self.rows() - 1;
            let mut out = std::io::stdout().lock();
            let _ = write!(out, "\r");
            if up > 0 {
                let _ = write!(out, "\x1b[{up}A");
            }
            let _ = write!(out, "\x1b[J");
            let _ = out.flush();
        }
        self.shown.clear();
    }

    /// Leave exactly `final_text` on screen.
    pub fn finish(&mut self, final_text: &str) {
        if !self.shown.is_empty() && final_text.starts_with(self.shown.trim_start()) {
            let rest = &final_text[self.shown.trim_start().len()..];
            self.print(rest);
        } else {
            self.erase();
            self.print(final_text);
        }
        self.print("\n");
    }
}
