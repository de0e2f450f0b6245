//! A model's standing: whether its answers are trusted.
//!
//! The gates read one answer at a time, and catch advice, self-talk,
//! invented names and stories of the model's own; they cannot tell a
//! fluent misreading from a reflection. What tells a model that cannot
//! write reflections is its record: measured with SmolLM2-135M against the
//! dev entries, its answers passed the gates at the first attempt 3 times
//! in 37, and every answer of it that got through (13 over three runs,
//! at the first attempt or after a regeneration) was judged worse than the
//! built-in mirror's answer to the same entry (BENCHMARKS.md). So the node
//! lets a model's own record decide, and when in doubt the built-in mirror
//! answers:
//!
//! * **Proven**: at least [`MIN_ASKED`] recent answers on record, and at
//!   least half of them passed every gate at the first attempt. Its
//!   answers are kept, and a failed one gets the configured regenerations
//!   (`engine.max_regenerations`).
//! * **On trial** (new, or failing): asked once per entry. The answer is
//!   checked and counted, and the built-in mirror answers, flagged
//!   [`UNPROVEN_FLAG`] (alone when the model's answer passed, after the
//!   failed checks when it did not).
//!
//! The record is the store's own: the mirrorbacks this engine and model
//! made among the node's [`SCAN`] newest, of which the [`WINDOW`] newest
//! count. Only answers the model was actually asked for count: a crisis
//! answer (never sent), a consent refusal and an unreachable server (flag
//! `engine_error`) say nothing about what the model writes. Nothing is
//! stored besides the mirrorbacks, and the cost is [`SCAN`] reads.

use crate::model::{EngineMode, Mirrorback};

/// How many of the node's newest mirrorbacks are looked at.
pub const SCAN: usize = 200;
/// How many of the model's newest answers count.
pub const WINDOW: usize = 20;
/// How many answers a model needs before it can be proven.
pub const MIN_ASKED: usize = 5;
/// The flag on a fallback that an unproven model's failed attempt caused.
pub const UNPROVEN_FLAG: &str = "unproven_model";

/// What a model's recent answers show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Standing {
    /// Answers it was asked for (at most [`WINDOW`]).
    pub asked: usize,
    /// Of those, how many passed every gate at the first attempt.
    pub first_try: usize,
}

impl Standing {
    /// The standing of `model` on `engine`, from mirrorbacks newest first.
    pub fn of(newest_first: &[Mirrorback], engine: EngineMode, model: &str) -> Standing {
        let mut standing = Standing::default();
        for m in newest_first
            .iter()
            .filter(|m| m.engine_mode == engine && m.model.as_deref() == Some(model))
            .filter(|m| was_asked(m))
            .take(WINDOW)
        {
            standing.asked += 1;
            if passed_first_time(m) {
                standing.first_try += 1;
            }
        }
        standing
    }

    /// Whether the model's answers are kept (and get regenerations).
    pub fn proven(&self) -> bool {
        self.asked >= MIN_ASKED && 2 * self.first_try >= self.asked
    }

    /// Plain words for notes and `mirror engine`.
    pub fn describe(&self) -> String {
        if self.asked < MIN_ASKED {
            format!(
                "on trial: {} of {} {} passed the gates at the first attempt; its answers are kept once it has {MIN_ASKED} or more, at least half of them passed",
                self.first_try,
                self.asked,
                if self.asked == 1 { "answer" } else { "answers" }
            )
        } else {
            format!(
                "passed the gates at the first attempt in {} of its last {} answers ({})",
                self.first_try,
                self.asked,
                if self.proven() {
                    "trusted: its answers are kept"
                } else {
                    "under half: on trial, the built-in mirror answers"
                }
            )
        }
    }
}

/// The standing of every model among `newest_first`, in the order each
/// was last used (`mirror status`).
pub fn every(newest_first: &[Mirrorback]) -> Vec<(EngineMode, String, Standing)> {
    let mut out: Vec<(EngineMode, String, Standing)> = Vec::new();
    for m in newest_first {
        if let Some(model) = &m.model
            && m.engine_mode != EngineMode::Manual
            && !out
                .iter()
                .any(|(e, n, _)| *e == m.engine_mode && n == model)
        {
            let standing = Standing::of(newest_first, m.engine_mode, model);
            out.push((m.engine_mode, model.clone(), standing));
        }
    }
    out
}

/// Kept at the first attempt, or on trial with nothing failed.
fn passed_first_time(m: &Mirrorback) -> bool {
    if m.fell_back {
        m.attempts == 1 && m.flags.len() == 1 && m.flags[0] == UNPROVEN_FLAG
    } else {
        m.attempts == 1
    }
}

/// Whether a stored mirrorback shows the model was asked and answered:
/// kept, or set aside by the gates. A fallback with no flags was never
/// sent (consent, egress log); `engine_error` is the server, not the model.
fn was_asked(m: &Mirrorback) -> bool {
    if m.flags.iter().any(|f| f == "engine_error") {
        return false;
    }
    !m.fell_back || !m.flags.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Id, Timestamp};

    fn answer(model: &str, attempts: u32, fell_back: bool, flags: &[&str]) -> Mirrorback {
        Mirrorback {
            id: Id::new(),
            reflection_id: Id::new(),
            text: "You wrote about the week.".into(),
            engine_mode: EngineMode::Ollama,
            engine_version: "ollama+1".into(),
            model: Some(model.into()),
            attempts,
            fell_back,
            flags: flags.iter().map(|f| f.to_string()).collect(),
            created_at: Timestamp::now(),
        }
    }

    #[test]
    fn a_new_model_is_unproven() {
        let s = Standing::of(&[], EngineMode::Ollama, "m");
        assert_eq!(s, Standing::default());
        assert!(!s.proven());
        let four = vec![answer("m", 1, false, &[]); 4];
        assert!(!Standing::of(&four, EngineMode::Ollama, "m").proven());
    }

    #[test]
    fn half_right_the_first_time_proves_a_model() {
        let mut record = vec![answer("m", 1, false, &[]); 3];
        record.extend(vec![answer("m", 3, true, &["explicit_advice"]); 3]);
        let s = Standing::of(&record, EngineMode::Ollama, "m");
        assert_eq!((s.asked, s.first_try), (6, 3));
        assert!(s.proven());
        // A kept answer after a regeneration is not right the first time.
        record.push(answer("m", 2, false, &["directive"]));
        assert!(!Standing::of(&record, EngineMode::Ollama, "m").proven());
    }

    #[test]
    fn only_answers_the_model_was_asked_for_count() {
        let mut record = vec![answer("m", 1, false, &[]); 5];
        // Never sent, the server down, another model, another engine: none counts.
        record.extend(vec![answer("m", 1, true, &[]); 10]);
        record.extend(vec![answer("m", 1, true, &["engine_error"]); 10]);
        record.extend(vec![answer("other", 3, true, &["about_itself"]); 10]);
        let mut openai = answer("m", 3, true, &["length"]);
        openai.engine_mode = EngineMode::OpenAi;
        record.extend(vec![openai; 10]);
        let s = Standing::of(&record, EngineMode::Ollama, "m");
        assert_eq!((s.asked, s.first_try), (5, 5));
    }

    #[test]
    fn an_answer_that_passed_on_trial_counts_as_right_the_first_time() {
        let mut record = vec![answer("m", 1, true, &[UNPROVEN_FLAG]); 3];
        record.push(answer("m", 1, true, &["unfaithful", UNPROVEN_FLAG]));
        record.push(answer("m", 1, true, &["length", UNPROVEN_FLAG]));
        let s = Standing::of(&record, EngineMode::Ollama, "m");
        assert_eq!((s.asked, s.first_try), (5, 3));
        assert!(s.proven());
    }

    #[test]
    fn every_model_in_the_order_last_used() {
        let mut record = vec![answer("b", 1, false, &[]), answer("a", 1, false, &[])];
        record.push(answer("b", 1, true, &["length"]));
        let every = every(&record);
        let names: Vec<&str> = every.iter().map(|(_, n, _)| n.as_str()).collect();
        assert_eq!(names, ["b", "a"]);
        assert_eq!((every[0].2.asked, every[0].2.first_try), (2, 1));
    }

    #[test]
    fn only_the_newest_answers_count() {
        // Newest first: 20 failures, then 20 first-try answers long ago.
        let mut record = vec![answer("m", 1, true, &["unfaithful"]); WINDOW];
        record.extend(vec![answer("m", 1, false, &[]); WINDOW]);
        let s = Standing::of(&record, EngineMode::Ollama, "m");
        assert_eq!((s.asked, s.first_try), (WINDOW, 0));
        assert!(!s.proven());
    }
}
