//! Tensions heard in any words, built in: one small logistic regression
//! per axis over the same sparse word features as the crisis scorer.
//!
//! The pack's lexicons find a tension where both poles are said in words
//! close to its cues; people mostly *show* a pull ("bookmarked the flat in
//! Lisbon again, then renewed the lease"), and on new writers' text the
//! lexicons found a tension in one implicit entry of three (BENCHMARKS.md).
//! The optional [`super::semantic`] step hears more, but only in English
//! and only with a 90 MB model installed. This step needs nothing
//! installed and reads all five of the pack's languages.
//!
//! Layout:
//! * The corpus: `node/eval/train/tensions-*.jsonl`, entries written for
//!   training from the definition of a tension alone (never an evaluation
//!   set), each with the axes it carries: 1,600 in English and 600 in each
//!   of French, Spanish, German and Portuguese. Entries with none, and the
//!   2,440 ordinary days of `crisis-everyday.txt`, are what no axis is.
//! * [`Model::train`]: for each axis, a logistic regression that tells
//!   entries with that axis from all the others (the crisis scorer's
//!   trainer, [`fit`]). Trained when the crate is built (`node/build.rs`),
//!   like the crisis scorers; a test trains again and checks every weight
//!   bit for bit. Every axis learns from the same texts, so all share one
//!   list of features: the build writes it as text and the weights as
//!   bytes, included as they are and read in place (as a Rust table of
//!   `(&str, f64)` they were 80 MB of source, and their relocated pointers
//!   cost every command 16 MB of memory).
//! * [`Model::hear`]: an entry of at least [`MIN_WORDS`] words is read in
//!   windows of [`WINDOW`] sentences (the corpus's entries are that long);
//!   an axis is heard where a window scores at least [`THRESHOLD`], and its
//!   evidence is the two sentences of that window, in their order, that
//!   score highest together, so the answer can give back both sides as the
//!   writer set them.
//!
//! Invariant: only the best [`MAX_HEARD`] axis is heard, and only above
//! the threshold; the engine asks the model only where the lexicons found
//! nothing. A finding heard in one window of a longer entry is marked
//! `partial`, and the built-in mirror does not quote it.
//!
//! Cost model: the model is built once per process (a hash map of its
//! ~200,000 features, a few milliseconds); a window costs one hash lookup
//! per feature (about three per word) for all eight axes at once, and an
//! entry at most [`MAX_WINDOWS`] windows (BENCHMARKS.md, "Speed").
//!
//! What it does not do: on new writers' text it hears about a third of
//! the English pulls and an eighth of the others (BENCHMARKS.md, "Tensions
//! in any words, built in"); a bag of words learns the corpus's words for
//! the poles, not the pull.

use std::sync::OnceLock;

use unicode_segmentation::UnicodeSegmentation;

use super::linear::Linear;

/// Sentences in a window: the corpus's entries are mostly two to five
/// sentences long.
pub const WINDOW: usize = 3;
/// Windows read at most, so a very long entry costs a bounded amount.
pub const MAX_WINDOWS: usize = 60;
/// The score a window must reach for its axis to be heard. Low for a
/// probability because each axis learns from few positives against many
/// negatives (the other axes, the entries with none, thousands of ordinary
/// days); chosen on the spent tension sets, where 0.3 held precision near
/// 0.85 and 0.2 let it fall to 0.75 (BENCHMARKS.md).
pub const THRESHOLD: f64 = 0.3;
/// Words an entry must have before the model is asked.
pub const MIN_WORDS: usize = 10;
/// Axes heard in one entry at most.
pub const MAX_HEARD: usize = 1;

/// A tension the model heard: its axis, its score and the sentences that
/// carry it.
#[derive(Debug, Clone, PartialEq)]
pub struct Heard {
    pub axis_a: String,
    pub axis_b: String,
    pub score: f64,
    pub passage: String,
    /// Whether the entry was read whole (no longer than one window).
    pub whole: bool,
}

/// One logistic regression per axis of [`AXES`], over one shared set of
/// features (every axis learns from the same texts).
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    linear: Linear,
}

/// One labelled entry of the corpus: its text and the axes it carries.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Example {
    pub text: String,
    #[serde(default)]
    pub tensions: Vec<(String, String)>,
}

/// The labelled entries of a JSON Lines corpus (blank lines skipped).
pub fn examples(corpus: &str) -> Result<Vec<Example>, serde_json::Error> {
    corpus
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(serde_json::from_str)
        .collect()
}

/// The axes, in the pack's canonical order.
pub use super::corpora::AXES;

impl Model {
    /// Train one regression per axis on `examples`, with `ordinary` texts
    /// (no tension) as further negatives for every axis.
    pub fn train(examples: &[Example], ordinary: &[&str]) -> Model {
        let data: Vec<(Vec<bool>, &str)> = examples
            .iter()
            .map(|e| {
                let has = AXES
                    .iter()
                    .map(|&(a, b)| e.tensions.iter().any(|(x, y)| x == a && y == b))
                    .collect();
                (has, e.text.as_str())
            })
            .chain(ordinary.iter().map(|t| (vec![false; AXES.len()], *t)))
            .collect();
        Model {
            linear: Linear::train(AXES.len(), &data, 0),
        }
    }

    /// Each axis's score (in the order of [`AXES`]) for `text` read whole.
    pub fn scores(&self, text: &str) -> Vec<f64> {
        self.linear.scores(text)
    }

    /// The axes heard in `text`, best first.
    pub fn hear(&self, text: &str) -> Vec<Heard> {
        let sentences: Vec<&str> = text
            .unicode_sentences()
            .map(str::trim)
            .filter(|s| s.unicode_words().next().is_some())
            .collect();
        // A pull is told, not named in a word or two: "I'm grateful for my
        // friends" read as self against others.
        if text.unicode_words().count() < MIN_WORDS {
            return Vec::new();
        }
        let windows: Vec<(usize, usize)> = if sentences.len() <= WINDOW {
            vec![(0, sentences.len())]
        } else {
            (0..=sentences.len() - WINDOW)
                .map(|i| (i, i + WINDOW))
                .take(MAX_WINDOWS)
                .collect()
        };
        let join = |from: usize, to: usize| sentences[from..to].join(" ");
        // Every window is scored once, for all axes at a time.
        let scored: Vec<(Vec<f64>, usize, usize)> = windows
            .iter()
            .map(|&(from, to)| (self.scores(&join(from, to)), from, to))
            .collect();
        let mut heard: Vec<Heard> = Vec::new();
        for (axis, (a, b)) in AXES.iter().enumerate() {
            let best = scored
                .iter()
                .map(|(s, from, to)| (s[axis], *from, *to))
                .max_by(|x, y| x.0.total_cmp(&y.0));
            let Some((score, from, to)) = best else {
                continue;
            };
            if score < THRESHOLD {
                continue;
            }
            // The evidence: the two sentences of the window, in their order,
            // that score highest together (a pull is mostly told as one
            // thing and then another: "listed all the reasons… then he
            // texted goodnight and I read it five times"), or the one
            // sentence of a window of one.
            let pairs: Vec<(usize, usize)> = (from..to)
                .flat_map(|i| (i + 1..to).map(move |j| (i, j)))
                .collect();
            let passage = pairs
                .iter()
                .map(|&(i, j)| {
                    let two = format!("{} {}", sentences[i], sentences[j]);
                    (self.scores(&two)[axis], two)
                })
                .max_by(|x, y| x.0.total_cmp(&y.0))
                .map_or_else(|| join(from, to), |(_, two)| two);
            heard.push(Heard {
                axis_a: a.to_string(),
                axis_b: b.to_string(),
                score,
                passage,
                whole: sentences.len() <= WINDOW,
            });
        }
        heard.sort_by(|x, y| y.score.total_cmp(&x.score));
        heard.truncate(MAX_HEARD);
        heard
    }
}

/// The built-in model (see the module doc): the weights trained at build
/// time.
pub fn builtin() -> &'static Model {
    static MODEL: OnceLock<Model> = OnceLock::new();
    MODEL.get_or_init(|| {
        let linear = super::linear::built_linear!("tension");
        assert_eq!(linear.outputs(), AXES.len(), "one regression per axis");
        Model { linear }
    })
}

/// The training corpus, in the order `node/build.rs` reads it.
#[cfg(test)]
const CORPUS: &[&str] = &[
    include_str!("../../eval/train/tensions-en.jsonl"),
    include_str!("../../eval/train/tensions-en-2.jsonl"),
    include_str!("../../eval/train/tensions-en-3.jsonl"),
    include_str!("../../eval/train/tensions-fr.jsonl"),
    include_str!("../../eval/train/tensions-es.jsonl"),
    include_str!("../../eval/train/tensions-de.jsonl"),
    include_str!("../../eval/train/tensions-pt.jsonl"),
    include_str!("../../eval/train/tensions-fr-2.jsonl"),
    include_str!("../../eval/train/tensions-es-2.jsonl"),
    include_str!("../../eval/train/tensions-de-2.jsonl"),
    include_str!("../../eval/train/tensions-pt-2.jsonl"),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn corpus() -> Vec<Example> {
        CORPUS
            .iter()
            .flat_map(|c| examples(c).expect("the tension corpus is JSON Lines"))
            .collect()
    }

    #[test]
    fn the_corpus_names_only_the_packs_axes_in_their_order() {
        let all = corpus();
        assert!(all.len() >= 2000, "{}", all.len());
        for e in &all {
            for (a, b) in &e.tensions {
                assert!(
                    AXES.contains(&(a.as_str(), b.as_str())),
                    "{a}/{b} in {:?}",
                    e.text
                );
            }
        }
        // Every axis is taught, in every language's part.
        for (a, b) in AXES {
            let n = all
                .iter()
                .filter(|e| e.tensions.iter().any(|(x, y)| x == a && y == b))
                .count();
            assert!(n >= 250, "{a}/{b}: {n}");
        }
    }

    #[test]
    fn the_built_in_weights_are_the_corpus_trained_bit_for_bit() {
        let ordinary: Vec<&str> = super::super::crisis_model::examples(include_str!(
            "../../eval/train/crisis-everyday.txt"
        ))
        .filter(|e| !e.0)
        .map(|e| e.1)
        .collect();
        let again = Model::train(&corpus(), &ordinary);
        assert_eq!(builtin(), &again, "every weight, bit for bit");
    }

    #[test]
    fn a_pull_told_in_acts_is_heard() {
        // Written for this test, in no corpus or evaluation set.
        let text = "Promised myself I'd let the new manager run the stocktake her way. \
                    Came in on my day off anyway and recounted the back shelves while she was at lunch.";
        let heard = builtin().hear(text);
        assert_eq!(
            heard.first().map(|h| h.axis_a.as_str()),
            Some("control"),
            "{heard:?}"
        );
        assert!(heard[0].whole && heard[0].score >= THRESHOLD);
    }

    #[test]
    fn every_language_of_the_corpus_is_learnt() {
        // On new writers' text the model hears far less outside English
        // (BENCHMARKS.md); this only holds that each language's part is
        // read and learnt, not that it generalises.
        for corpus in CORPUS {
            let all = examples(corpus).unwrap();
            let learnt = all
                .iter()
                .filter(|e| e.tensions.len() == 1)
                .filter(|e| {
                    builtin().hear(&e.text).first().is_some_and(|h| {
                        (h.axis_a.as_str(), h.axis_b.as_str())
                            == (e.tensions[0].0.as_str(), e.tensions[0].1.as_str())
                    })
                })
                .count();
            let n = all.iter().filter(|e| e.tensions.len() == 1).count();
            assert!(learnt * 10 >= n * 7, "{learnt} of {n}");
        }
    }

    #[test]
    fn a_few_words_or_a_plain_day_hold_no_pull() {
        for text in [
            "I'm grateful for my friends.",
            "Took the bus to the dentist, then bought bread and a newspaper on the way home. \
             The filling didn't hurt much. Soup for dinner and an early night.",
        ] {
            assert_eq!(builtin().hear(text), Vec::new(), "{text}");
        }
    }

    #[test]
    fn a_long_entry_is_read_in_windows_and_says_so() {
        let text = "Rainy Tuesday. The kettle broke. \
                    Promised myself I'd let the new manager run the stocktake her way. \
                    Came in on my day off anyway and recounted the back shelves while she was at lunch. \
                    Told her I'd only come for my umbrella. Walked home in the rain.";
        let heard = builtin().hear(text);
        let Some(h) = heard.first() else {
            panic!("nothing heard in {text}");
        };
        assert!(!h.whole);
        assert!(h.passage.contains("stocktake") || h.passage.contains("recounted"));
        // The passage is two sentences, not the whole entry.
        assert!(h.passage.len() < text.len() / 2);
    }
}
