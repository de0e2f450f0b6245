//! What of a model's streaming answer may be shown while it arrives: whole
//! sentences, each only once it passes the compliance checker. A sentence
//! that fails stops the attempt's display; a rejected attempt (or a
//! fallback) erases what was shown of it. What stays at the end is exactly
//! the stored, compliant mirrorback.
//!
//! Shared by the terminal display (`cli/stream`) and the web app, so both
//! gate the same way.

use mirror_constitution::Checker;

use super::pipeline::Progress;

/// What to do with the display.
#[derive(Debug, Clone, PartialEq)]
pub enum Shown {
    /// A new attempt starts: what was shown stays only if it was erased.
    Restart,
    /// Show this sentence (it passed the checker).
    Sentence(String),
    /// Take back everything shown of this attempt.
    Erase,
}

pub struct SentenceGate<'a> {
    checker: &'a Checker,
    /// Text received for this attempt but not yet shown.
    pending: String,
    /// A sentence failed: show nothing more of this attempt.
    blocked: bool,
}

impl<'a> SentenceGate<'a> {
    pub fn new(checker: &'a Checker) -> SentenceGate<'a> {
        SentenceGate {
            checker,
            pending: String::new(),
            blocked: false,
        }
    }

    pub fn on(&mut self, progress: Progress) -> Vec<Shown> {
        match progress {
            Progress::Attempt(_) => {
                self.reset();
                vec![Shown::Restart]
            }
            Progress::Text(piece) => {
                self.pending.push_str(&piece);
                self.flush()
            }
            Progress::Rejected { .. } | Progress::FellBack(_) => {
                self.reset();
                vec![Shown::Erase]
            }
        }
    }

    fn reset(&mut self) {
        self.pending.clear();
        self.blocked = false;
    }

    /// Whole sentences that pass the checker.
    fn flush(&mut self) -> Vec<Shown> {
        let mut out = Vec::new();
        while !self.blocked
            && let Some(end) = sentence_end(&self.pending)
        {
            let sentence: String = self.pending.drain(..end).collect();
            if self.checker.check(&sentence).is_compliant() {
                out.push(Shown::Sentence(sentence));
            } else {
                self.blocked = true;
            }
        }
        out
    }
}

/// The byte index just after the first complete sentence in `text`, if
/// one is complete (its end mark is followed by whitespace).
pub fn sentence_end(text: &str) -> Option<usize> {
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
