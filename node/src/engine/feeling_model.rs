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
//!   from a written definition alone, never from an evaluation set.
//! * [`Model::train`]: one regression per family ([`super::linear`]);
//!   trained when the crate is built (`node/build.rs`), and a test trains
//!   it again and checks every weight bit for bit. Features met in fewer
//!   than [`MIN_TEXTS`] texts are dropped.
//! * [`Model::weigh`]: a lexicon's feeling is kept where the model gives
//!   its family at least [`KEEP`] in the words around it (the entry whole
//!   when it is short, else the cue's sentence and its neighbours); where
//!   no lexicon feeling is kept, the model's best family is named if it
//!   reaches [`NAME`] over a whole entry of [`MIN_WORDS`] to [`MAX_WORDS`]
//!   words.
//!
//! Invariant: the model only takes away what a lexicon found, or adds one
//! family where none is left; families it does not know ("body", irony)
//! pass untouched.
//!
//! Cost model: one hash lookup per feature (about three per word) for all
//! families at once, per distinct passage scored; an entry scores at most
//! one passage per lexicon cue plus itself.

use std::sync::OnceLock;

use unicode_segmentation::UnicodeSegmentation;

use super::linear::Linear;

/// The families, as the pack's emotion lexicons name them.
pub const FAMILIES: [&str; 21] = [
    "joy",
    "pride",
    "relief",
    "gratitude",
    "love",
    "calm",
    "hope",
    "sadness",
    "grief",
    "longing",
    "loneliness",
    "fear",
    "anger",
    "frustration",
    "shame",
    "guilt",
    "exhaustion",
    "overwhelm",
    "envy",
    "confusion",
    "numbness",
];

/// The warm families: an entry holds "good" where it holds any of them,
/// and "hard" where it holds any other family.
pub const GOOD: [&str; 7] = [
    "joy",
    "pride",
    "relief",
    "gratitude",
    "love",
    "calm",
    "hope",
];

/// The model's outputs: one per family of [`FAMILIES`], then "good" and
/// "hard" (see [`GOOD`]).
pub const OUTPUTS: usize = FAMILIES.len() + 2;

/// Whether an entry labelled `feelings` has output `o` (see [`OUTPUTS`]).
pub fn has_output(feelings: &[String], o: usize) -> bool {
    match FAMILIES.get(o) {
        Some(family) => feelings.iter().any(|f| f == family),
        None if o == FAMILIES.len() => feelings.iter().any(|f| GOOD.contains(&f.as_str())),
        None => feelings.iter().any(|f| !GOOD.contains(&f.as_str())),
    }
}

/// Texts a feature must appear in to be kept.
pub const MIN_TEXTS: usize = 2;
/// The score a lexicon's family must reach to be kept. Chosen on a
/// sixth of the corpus held out from training (BENCHMARKS.md).
pub const KEEP: f64 = 0.05;
/// The score the model's best family must reach to be named where no
/// lexicon feeling is left. Chosen as [`KEEP`] was.
pub const NAME: f64 = 0.5;
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
                let has = (0..OUTPUTS).map(|o| has_output(&e.feelings, o)).collect();
                (has, e.text.as_str())
            })
            .collect();
        Model {
            linear: Linear::train(OUTPUTS, &data, MIN_TEXTS),
        }
    }

    /// Each family's score (in the order of [`FAMILIES`]) for `text` read
    /// whole.
    pub fn scores(&self, text: &str) -> Vec<f64> {
        self.linear.scores(text)
    }

    /// Weigh the lexicon's feelings of `text`: each a family and the byte
    /// span of its cue (see the module doc).
    pub fn weigh(
        &self,
        text: &str,
        found: &[(&str, std::ops::Range<usize>)],
        keep: f64,
        name: f64,
    ) -> Weighed {
        let words = text.unicode_words().count();
        let whole = (words <= MAX_WORDS).then(|| self.scores(text));
        let sentences: Vec<(usize, &str)> = text.split_sentence_bound_indices().collect();
        let mut kept = Vec::with_capacity(found.len());
        for (family, span) in found {
            let Some(i) = FAMILIES.iter().position(|f| f == family) else {
                kept.push(true);
                continue;
            };
            let score = match &whole {
                Some(s) => s[i],
                None => self.scores(around(text, &sentences, span.start))[i],
            };
            kept.push(score >= keep);
        }
        let any_known = found
            .iter()
            .zip(&kept)
            .any(|((family, _), k)| *k && FAMILIES.contains(family));
        let named = match (&whole, any_known) {
            (Some(s), false) if words >= MIN_WORDS => s[..FAMILIES.len()]
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .filter(|(_, s)| **s >= name)
                .map(|(i, s)| (FAMILIES[i], *s)),
            _ => None,
        };
        Weighed { kept, named }
    }
}

/// The sentence of `text` holding byte `at`, with the one before and the
/// one after.
fn around<'t>(text: &'t str, sentences: &[(usize, &str)], at: usize) -> &'t str {
    let i = sentences
        .iter()
        .rposition(|(start, _)| *start <= at)
        .unwrap_or(0);
    let from = sentences[i.saturating_sub(1)].0;
    let to = sentences.get(i + 2).map_or(text.len(), |(start, _)| *start);
    &text[from..to]
}

/// The weights trained at build time (see `node/build.rs`).
mod built {
    pub static FEATURES: &str = include_str!(concat!(env!("OUT_DIR"), "/feeling_features.txt"));
    pub static WEIGHTS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/feeling_weights.bin"));
    pub static BIAS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/feeling_bias.bin"));
}

/// The built-in model (see the module doc): the weights trained at build
/// time.
pub fn builtin() -> &'static Model {
    static MODEL: OnceLock<Model> = OnceLock::new();
    MODEL.get_or_init(|| Model {
        linear: Linear::from_built(built::FEATURES, built::WEIGHTS, built::BIAS),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn corpus(parts: &[&str]) -> Vec<Example> {
        parts
            .iter()
            .flat_map(|c| examples(c).expect("the feeling corpus is JSON Lines"))
            .collect()
    }

    #[test]
    fn the_corpus_names_only_the_families() {
        let all = corpus(CORPUS);
        assert!(all.len() >= 2900, "{}", all.len());
        for e in &all {
            assert!(e.feelings.len() <= 3, "{:?}", e.text);
            for f in &e.feelings {
                assert!(FAMILIES.contains(&f.as_str()), "{f} in {:?}", e.text);
            }
        }
    }

    #[test]
    fn the_built_in_weights_are_the_corpus_trained_bit_for_bit() {
        let again = Model::train(&corpus(CORPUS));
        assert_eq!(builtin(), &again, "every weight, bit for bit");
    }

    #[test]
    fn a_word_that_is_not_the_feeling_is_not_kept() {
        // Written for this test, in no corpus or evaluation set.
        let text = "Lovely day. Slept in, biked to the market with the sun out, \
                    and the pancakes came off the pan clean, for once nothing stuck. \
                    Called Gran and she laughed at my story about the goat.";
        let at = text.find("stuck").unwrap();
        let w = builtin().weigh(text, &[("frustration", at..at + 5)], KEEP, NAME);
        assert_eq!(w.kept, vec![false], "{:?}", builtin().scores(text));
    }

    #[test]
    fn a_feeling_told_in_acts_is_ranked_first_but_named_only_when_sure() {
        // Written for this test, in no corpus or evaluation set. The model
        // ranks the fury of an entry that never says "angry" first, but
        // not with the confidence [`NAME`] asks for: on the sixth of the
        // corpus held out, its best family reached it in 59 entries of 500
        // (43 of them right).
        let text = "The plumber didn't come. Third time this month. I took the morning \
                    off for him, moved everything out from under the sink, and at eleven \
                    he texted 'tomorrow for sure'. I have paid him twice already and I \
                    am washing plates in the bathtub.";
        let scores = builtin().scores(text);
        let best = (0..FAMILIES.len())
            .max_by(|&a, &b| scores[a].total_cmp(&scores[b]))
            .map(|i| FAMILIES[i]);
        assert!(
            matches!(best, Some("anger" | "frustration")),
            "{best:?} {scores:?}"
        );
        let w = builtin().weigh(text, &[], KEEP, NAME);
        assert_eq!(w.named, None, "{scores:?}");
    }

    #[test]
    fn families_it_does_not_know_pass_and_a_few_words_name_nothing() {
        let w = builtin().weigh("Headache again.", &[("body", 0..8)], KEEP, NAME);
        assert_eq!(w.kept, vec![true]);
        assert_eq!(builtin().weigh("So tired.", &[], KEEP, NAME).named, None);
    }

    /// The thresholds' choice: trained on five sixths of the corpus,
    /// scored on the sixth held out. Run by hand:
    /// `cargo test -p mirror-node --lib feeling_model::tests::held_out -- --ignored --nocapture`.
    #[test]
    #[ignore = "prints the held-out table the thresholds were chosen from"]
    fn held_out() {
        let train = Model::train(&corpus(&CORPUS[..5]));
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
                let a = engine.analyze_weighed(&e.text, setting.map(|(k, n)| (&train, k, n)));
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
                if let Some((i, _)) = s[..FAMILIES.len()]
                    .iter()
                    .enumerate()
                    .max_by(|a, b| a.1.total_cmp(b.1))
                    .filter(|(_, v)| **v >= t)
                {
                    said += 1;
                    right += usize::from(has(i));
                }
                for (i, v) in s.iter().enumerate().take(FAMILIES.len()) {
                    if has(i) {
                        pos += 1;
                        tp += usize::from(*v >= t);
                    } else {
                        neg += 1;
                        fp += usize::from(*v >= t);
                    }
                }
            }
            let valence = |o: usize| {
                let (mut tp, mut fp, mut pos, mut neg) = (0, 0, 0, 0);
                for e in &test {
                    let v = train.scores(&e.text)[o];
                    if has_output(&e.feelings, o) {
                        pos += 1;
                        tp += usize::from(v >= t);
                    } else {
                        neg += 1;
                        fp += usize::from(v >= t);
                    }
                }
                format!("{tp} of {pos} / {fp} of {neg}")
            };
            println!(
                "t={t:.2}: named {said} of {} ({right} right, {holding} hold one); \
                 own families kept {tp} of {pos}, others passed {fp} of {neg}; \
                 good {}; hard {}",
                test.len(),
                valence(FAMILIES.len()),
                valence(FAMILIES.len() + 1)
            );
        }
    }
}
