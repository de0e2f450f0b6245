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

pub struct Display<'a> {
    checker: &'a Checker,
    /// Text received for this attempt but not yet shown.
    pending: String,
    /// Text shown for this attempt.
    shown: String,
    /// A sentence failed: show nothing more of this attempt.
    blocked: bool,
    columns: usize,
}

impl<'a> Display<'a> {
    pub fn new(checker: &'a Checker) -> Display<'a> {
        let columns = terminal_size::terminal_size()
            .map(|(w, _)| usize::from(w.0))
            .unwrap_or(80)
            .max(20);
        Display {
            checker,
            pending: String::new(),
            shown: String::new(),
            blocked: false,
            columns,
        }
    }

    pub fn on(&mut self, progress: Progress) {
        match progress {
            Progress::Attempt(_) => self.reset(),
            Progress::Text(piece) => {
                self.pending.push_str(&piece);
                self.flush_sentences();
            }
            Progress::Rejected { .. } | Progress::FellBack(_) => self.erase(),
        }
    }

    /// Show whole sentences that pass the checker.
    fn flush_sentences(&mut self) {
        if self.blocked {
            return;
        }
        while let Some(end) = sentence_end(&self.pending) {
            let sentence: String = self.pending.drain(..end).collect();
            if !self.checker.check(&sentence).is_compliant() {
                self.blocked = true;
                return;
            }
            self.print(&sentence);
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
        self.reset();
    }

    fn reset(&mut self) {
        self.pending.clear();
        self.shown.clear();
        self.blocked = false;
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

/// The byte index just after the first complete sentence in `text`, if
/// one is complete (its end mark is followed by whitespace).
fn sentence_end(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    for (i, c) in text.char_indices() {
        if matches!(c, '.' | '!' | '?' | '\n') {
            let after = i + c.len_utf8();
            if c == '\n' {
                return Some(after);
            }
            // Include closing quotes and the whitespace that follows.
            let mut j = after;
            while j < bytes.len() && matches!(bytes[j], b'"' | b'\'' | b')') {
                j += 1;
            }
            if j < bytes.len() && bytes[j].is_ascii_whitespace() {
                while j < bytes.len() && bytes[j].is_ascii_whitespace() && bytes[j] != b'\n' {
                    j += 1;
                }
                return Some(j);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::sentence_end;

    #[test]
    fn sentences_end_at_a_mark_followed_by_space() {
        assert_eq!(sentence_end("It sounds hard. And"), Some(16));
        assert_eq!(
            sentence_end("It sounds hard."),
            None,
            "might be 'hard.ly'… wait for more"
        );
        assert_eq!(sentence_end("Mr"), None);
        assert_eq!(sentence_end("You said \"no.\" Then"), Some(15));
    }
}
