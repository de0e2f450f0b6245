//! Which feelings an entry holds, built in: one small logistic regression
//! per feeling family over the crisis scorer's word features.
//!
//! The pack's emotion lexicons find a feeling where its word is written,
//! and a word is not a feeling: blind reviews of new writers' entries
//! found one answer in four naming a feeling the entry did not hold ("fed
//! up" for a good day whose pan "for once nothing stuck to", "running on
//! very little" after a "weird good tired" long run, grief in a so-so
//! school day), and none naming the fury of an entry that never says
//! "angry" (BENCHMARKS.md, "Feelings the entry holds").
//!
//! Layout:
//! * The corpus: `node/eval/train/feelings-*.jsonl`, 3,000 entries of the
//!   training corpora (the 2,440 ordinary days of `crisis-everyday.txt`
//!   and 560 of the tension corpus, in many languages), each labelled by a
//!   reader with the feelings its writer holds (0 to 3 of [`FAMILIES`])
//!   from a written definition alone; none of these is an evaluation
//!   set's. Then `feelings-spent.jsonl`: 168 ordinary days of the spent
//!   crisis sets (evaluation sets once measured, which the crisis scorers
//!   learn too) that tell of a death or use its words for something else,
//!   labelled the same way ([`super::corpora::FEELING_SPENT`] says why).
//! * [`Model::train`]: one regression per family ([`super::linear`]);
//!   trained when the crate is built (`node/build.rs`), and a test trains
//!   it again and checks every weight bit for bit. Features met in fewer
//!   than [`MIN_TEXTS`] texts are dropped.
//! * [`Model::weigh`]: a lexicon's feeling is kept where the model gives
//!   its family at least [`Setting::keep`] in the words around it (the
//!   entry whole when it is at most [`MAX_WORDS`] words, else the cue's
//!   sentence and its neighbours), or where those words hold fewer than
//!   [`MIN_READ`] of the model's features (it has no say on what it cannot
//!   read). Where no lexicon feeling of its families is left, and the
//!   lexicons set none aside (negated, asked, wished, someone else's,
//!   ironic), its best family is named if it reaches [`Setting::name`] over
//!   a whole entry of [`MIN_WORDS`] to [`MAX_WORDS`] words.
//!
//! Invariant: the model only takes away what a lexicon found, or adds one
//! family where none is left; families it does not know ("body", irony)
//! pass untouched.
//!
//! Cost model: one hash lookup per feature (about three per word) for all
//! families at once, per passage scored: a short entry is scored once,
//! whole; a long one once per sentence holding a cue (each window of three
//! sentences at most once), so never more than about three times its
//! length.

use std::sync::OnceLock;

use rustc_hash::FxHashMap;
use unicode_segmentation::UnicodeSegmentation;

pub use super::corpora::{FAMILIES, MIN_TEXTS};
use super::linear::Linear;

/// The model's two thresholds (see [`Model::weigh`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Setting {
    /// The score a lexicon's family must reach to be kept.
    pub keep: f64,
    /// The score the model's best family must reach to be named where no
    /// lexicon feeling is left.
    pub name: f64,
}

/// The thresholds in force, chosen on a sixth of the corpus held out from
/// training (BENCHMARKS.md, "Feelings the entry holds"): they halved the
/// feelings named wrongly there, for an eighth fewer named rightly.
pub const SETTING: Setting = Setting {
    keep: 0.05,
    name: 0.5,
};
/// Features of the model a passage must hold for the model to drop a
/// lexicon's feeling in it: about a plain sentence's worth.
pub const MIN_READ: usize = 20;
/// Words an entry must have for the model to name a feeling alone: a few
/// words say too little for a bag of words.
pub const MIN_WORDS: usize = 12;
/// Words beyond which an entry is not read whole: the corpus's entries are
/// 30 to 160 words, and a long entry holds many feelings.
pub const MAX_WORDS: usize = 200;

/// One labelled entry of the corpus: its text and its writer's feelings.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Example {
    pub text: String,
    #[serde(default)]
    pub feelings: Vec<String>,
}

/// The labelled entries of a JSON Lines corpus (blank lines skipped).
pub fn examples(corpus: &str) -> Result<Vec<Example>, serde_json::Error> {
    corpus
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(serde_json::from_str)
        .collect()
}

/// One regression per family of [`FAMILIES`].
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    linear: Linear,
}

/// What [`Model::weigh`] decided about an entry's feelings.
#[derive(Debug, Clone, PartialEq)]
pub struct Weighed {
    /// For each lexicon feeling (in the order given): kept or not.
    pub kept: Vec<bool>,
    /// A family named by the model alone, with its score, where no
    /// lexicon feeling of a known family was kept.
    pub named: Option<(&'static str, f64)>,
}

impl Model {
    pub fn train(examples: &[Example]) -> Model {
        let data: Vec<(Vec<bool>, &str)> = examples
            .iter()
            .map(|e| {
                let has = FAMILIES
                    .iter()
                    .map(|f| e.feelings.iter().any(|g| g == f))
                    .collect();
                (has, e.text.as_str())
            })
            .collect();
        Model {
            linear: Linear::train(FAMILIES.len(), &data, MIN_TEXTS),
        }
    }

    /// Each family's score (in the order of [`FAMILIES`]) for `text` read
    /// whole.
    pub fn scores(&self, text: &str) -> Vec<f64> {
        self.linear.scores(text)
    }

    /// Weigh the lexicons' feelings of `text` (see the module doc): each a
    /// family and the byte span of its cue, in the lexicons' order.
    /// `may_name`: whether the model may name a family where none is left
    /// (not where the lexicons set a feeling aside).
    pub fn weigh(
        &self,
        text: &str,
        found: &[(&str, std::ops::Range<usize>)],
        setting: Setting,
        may_name: bool,
    ) -> Weighed {
        let words = text.unicode_words().count();
        let whole = (words <= MAX_WORDS).then(|| self.linear.read(text));
        let sentences: Vec<usize> = match whole {
            Some(_) => Vec::new(),
            None => text
                .split_sentence_bound_indices()
                .map(|(i, _)| i)
                .collect(),
        };
        // A long entry's windows, each read once however many cues it holds.
        let mut windows: FxHashMap<usize, (Vec<f64>, usize)> = FxHashMap::default();
        let mut kept = Vec::with_capacity(found.len());
        for (family, span) in found {
            let Some(i) = FAMILIES.iter().position(|f| f == family) else {
                kept.push(true);
                continue;
            };
            let (scores, read) = match &whole {
                Some(whole) => whole,
                None => {
                    let at = sentences
                        .iter()
                        .rposition(|start| *start <= span.start)
                        .unwrap_or(0);
                    windows
                        .entry(at)
                        .or_insert_with(|| self.linear.read(around(text, &sentences, at)))
                }
            };
            kept.push(*read < MIN_READ || scores[i] >= setting.keep);
        }
        let any_known = found
            .iter()
            .zip(&kept)
            .any(|((family, _), k)| *k && FAMILIES.contains(family));
        let named = match &whole {
            Some((scores, _)) if may_name && !any_known && words >= MIN_WORDS => scores
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .filter(|(_, s)| **s >= setting.name)
                .map(|(i, s)| (FAMILIES[i], *s)),
            _ => None,
        };
        Weighed { kept, named }
    }
}

/// Sentence `at` of `text` (whose sentences start at the byte offsets
/// `starts`), with the one before and the one after.
fn around<'t>(text: &'t str, starts: &[usize], at: usize) -> &'t str {
    let from = starts.get(at.saturating_sub(1)).copied().unwrap_or(0);
    let to = starts.get(at + 2).copied().unwrap_or(text.len());
    text.get(from..to).unwrap_or(text)
}

/// The built-in model (see the module doc): the weights trained at build
/// time.
pub fn builtin() -> &'static Model {
    static MODEL: OnceLock<Model> = OnceLock::new();
    MODEL.get_or_init(|| {
        let linear = super::linear::built_linear!("feeling");
        assert_eq!(
            linear.outputs(),
            FAMILIES.len(),
            "one regression per family"
        );
        Model { linear }
    })
}

/// The training corpus, in the order `node/build.rs` reads it.
#[cfg(test)]
pub(crate) const CORPUS: &[&str] = &[
    include_str!("../../eval/train/feelings-0.jsonl"),
    include_str!("../../eval/train/feelings-1.jsonl"),
    include_str!("../../eval/train/feelings-2.jsonl"),
    include_str!("../../eval/train/feelings-3.jsonl"),
    include_str!("../../eval/train/feelings-4.jsonl"),
    include_str!("../../eval/train/feelings-5.jsonl"),
];

/// The spent sets' days the feeling model reads after [`CORPUS`]
/// ([`super::corpora::FEELING_SPENT`]); the everyday gate does not.
#[cfg(test)]
pub(crate) const SPENT: &[&str] = &[include_str!("../../eval/train/feelings-spent.jsonl")];

#[cfg(test)]
mod tests {
    use super::*;

    /// Fury told in acts, never named. Written for these tests, in no
    /// corpus or evaluation set.
    const PLUMBER: &str = "The plumber didn't come. Third time this month. I took the morning \
                           off for him, moved everything out from under the sink, and at eleven \
                           he texted 'tomorrow for sure'. I have paid him twice already and I \
                           am washing plates in the bathtub.";

    fn corpus(parts: &[&str]) -> Vec<Example> {
        parts
            .iter()
            .flat_map(|c| examples(c).expect("the feeling corpus is JSON Lines"))
            .collect()
    }

    #[test]
    fn the_corpus_names_only_the_families() {
        let all = corpus(&[CORPUS, SPENT].concat());
        assert!(all.len() >= 3100, "{}", all.len());
        for e in &all {
            assert!(e.feelings.len() <= 3, "{:?}", e.text);
            for f in &e.feelings {
                assert!(FAMILIES.contains(&f.as_str()), "{f} in {:?}", e.text);
            }
        }
    }

    #[test]
    fn the_built_in_weights_are_the_corpus_trained_bit_for_bit() {
        let again = Model::train(&corpus(&[CORPUS, SPENT].concat()));
        assert_eq!(builtin(), &again, "every weight, bit for bit");
    }

    #[test]
    fn a_word_that_is_not_the_feeling_is_not_kept() {
        // Written for this test, in no corpus or evaluation set.
        let text = "Lovely day. Slept in, biked to the market with the sun out, \
                    and the pancakes came off the pan clean, for once nothing stuck. \
                    Called Gran and she laughed at my story about the goat.";
        let at = text.find("stuck").unwrap();
        let w = builtin().weigh(text, &[("frustration", at..at + 5)], SETTING, true);
        assert_eq!(w.kept, vec![false], "{:?}", builtin().scores(text));
    }

    #[test]
    fn a_feeling_told_in_acts_is_ranked_first_but_named_only_when_sure() {
        // The model ranks the fury of an entry that never says "angry" first, but
        // not with the confidence [`SETTING`] asks for: on the sixth of the
        // corpus held out, its best family reached it in 59 entries of 500
        // (43 of them right).
        let text = PLUMBER;
        let scores = builtin().scores(text);
        let best = (0..FAMILIES.len())
            .max_by(|&a, &b| scores[a].total_cmp(&scores[b]))
            .map(|i| FAMILIES[i]);
        assert!(
            matches!(best, Some("anger" | "frustration")),
            "{best:?} {scores:?}"
        );
        let w = builtin().weigh(text, &[], SETTING, true);
        assert_eq!(w.named, None, "{scores:?}");
    }

    #[test]
    fn families_it_does_not_know_pass_and_a_few_words_name_nothing() {
        let w = builtin().weigh("Headache again.", &[("body", 0..8)], SETTING, true);
        assert_eq!(w.kept, vec![true]);
        assert_eq!(builtin().weigh("So tired.", &[], SETTING, true).named, None);
    }

    #[test]
    fn the_model_has_no_say_on_what_it_cannot_read() {
        // Too few of its features to drop a feeling the lexicon found.
        let w = builtin().weigh("Numb again.", &[("numbness", 0..4)], SETTING, true);
        assert_eq!(w.kept, vec![true]);
    }

    #[test]
    fn nothing_is_named_where_the_lexicons_set_a_feeling_aside() {
        let text = PLUMBER;
        let sure = Setting {
            keep: SETTING.keep,
            name: 0.0,
        };
        assert!(builtin().weigh(text, &[], sure, true).named.is_some());
        assert_eq!(builtin().weigh(text, &[], sure, false).named, None);
    }

    #[test]
    fn a_long_entry_without_full_stops_is_read_once_a_window() {
        // Thousands of cues in one unpunctuated sentence: one window, read
        // once, and a verdict for every cue.
        let text = "sad and stuck ".repeat(5000);
        let found: Vec<(&str, std::ops::Range<usize>)> =
            (0..5000).map(|k| ("sadness", k * 14..k * 14 + 3)).collect();
        let w = builtin().weigh(&text, &found, SETTING, true);
        assert_eq!(w.kept.len(), found.len());
        assert_eq!(w.named, None);
        // Sentences at the edges of a text have their neighbours or none.
        let starts = [0, 3, 6];
        assert_eq!(around("A. B. C. ", &starts, 0), "A. B. ");
        assert_eq!(around("A. B. C. ", &starts, 2), "B. C. ");
        assert_eq!(around("", &[], 0), "");
    }

    /// The thresholds' choice: trained on five sixths of the corpus,
    /// scored on the sixth held out. Run by hand:
    /// `cargo test -p mirror-node --lib feeling_model::tests::held_out -- --ignored --nocapture`.
    #[test]
    #[ignore = "prints the held-out table the thresholds were chosen from"]
    fn held_out() {
        let train = Model::train(&corpus(&[&CORPUS[..5], SPENT].concat()));
        let test = corpus(&CORPUS[5..]);
        // What the mirror would name: the lexicons, weighed at each pair
        // of thresholds, against the held-out labels.
        let engine = crate::engine::Engine::genesis().unwrap();
        let mut settings = vec![None];
        for keep in [0.0, 0.02, 0.05, 0.1, 0.15, 0.2] {
            for name in [0.4, 0.5, 0.6, 0.7, 2.0] {
                settings.push(Some((keep, name)));
            }
        }
        for setting in settings {
            let (mut tp, mut said, mut support) = (0, 0, 0);
            for e in &test {
                let a = engine.analyze_weighed(
                    &e.text,
                    setting.map(|(keep, name)| (&train, Setting { keep, name })),
                );
                let named = crate::engine::mirror::named_feelings(&a);
                let known: Vec<&&str> = named.iter().filter(|f| FAMILIES.contains(f)).collect();
                said += known.len();
                tp += known
                    .iter()
                    .filter(|f| e.feelings.iter().any(|g| g == **f))
                    .count();
                support += e.feelings.len();
            }
            let p = tp as f64 / said.max(1) as f64;
            let r = tp as f64 / support.max(1) as f64;
            println!(
                "{setting:?}: named {said}, right {tp}, P {p:.3} R {r:.3} F1 {:.3}",
                2.0 * p * r / (p + r).max(1e-9)
            );
        }
        for t in [0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8] {
            // Named alone: the best family at or above `t`.
            let (mut right, mut said, mut holding) = (0, 0, 0);
            // Kept: any family of the entry's own against the others, per
            // (entry, family) pair, at `t`.
            let (mut tp, mut fp, mut neg, mut pos) = (0, 0, 0, 0);
            for e in &test {
                let s = train.scores(&e.text);
                let has = |i: usize| e.feelings.iter().any(|f| f == FAMILIES[i]);
                if !e.feelings.is_empty() {
                    holding += 1;
                }
                if let Some((i, _)) = s
                    .iter()
                    .enumerate()
                    .max_by(|a, b| a.1.total_cmp(b.1))
                    .filter(|(_, v)| **v >= t)
                {
                    said += 1;
                    right += usize::from(has(i));
                }
                for (i, v) in s.iter().enumerate() {
                    if has(i) {
                        pos += 1;
                        tp += usize::from(*v >= t);
                    } else {
                        neg += 1;
                        fp += usize::from(*v >= t);
                    }
                }
            }
            println!(
                "t={t:.2}: named {said} of {} ({right} right, {holding} hold one); \
                 own families kept {tp} of {pos}, others passed {fp} of {neg}",
                test.len()
            );
        }
    }
}
