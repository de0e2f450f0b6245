//! A small trained scorer for acute risk, alongside the crisis rules.
//!
//! The rules in `safety.toml` catch what people in crisis say in the words
//! a rule can name ("kill myself", "cut again"). Much of what people write
//! is less direct: giving things away, letters to each of the children, a
//! date decided, counting tablets, a partner who keeps the bank card. No
//! phrase list covers those, so the check also asks a logistic regression
//! over word unigrams, word bigrams and five-letter word prefixes (the
//! prefixes carry a stem across inflections: "cachets", "cacheter" are
//! rare, "pastillas"/"pastiglie" share "pasti").
//!
//! The model is trained from `node/eval/train/crisis-*.txt`, a corpus
//! written for it from the definitions of acute risk and of its
//! look-alikes (hyperbole, fiction, news, work on the topic, a recovered
//! past, accidents, ordinary sadness), never from an evaluation set. It is
//! trained once per process on first use (deterministic full-batch
//! gradient descent, so the same corpus always gives the same weights;
//! a few milliseconds in a release build) rather than shipped as opaque
//! numbers: the corpus is the reviewable artefact.
//!
//! The safety module uses it as "rules OR (score above a high threshold
//! and no look-alike context)": it only ever adds catches.

use std::collections::HashMap;
use std::sync::OnceLock;

use mirror_constitution::text::tokenize;

/// The training corpus: one example a line, `+ text` (acute risk) or
/// `- text` (a look-alike or an ordinary entry); `#` starts a comment.
const CORPUS: &[&str] = &[
    include_str!("../../eval/train/crisis-en.txt"),
    include_str!("../../eval/train/crisis-fr.txt"),
    include_str!("../../eval/train/crisis-de.txt"),
    include_str!("../../eval/train/crisis-es.txt"),
    include_str!("../../eval/train/crisis-pt.txt"),
    include_str!("../../eval/train/crisis-it.txt"),
    include_str!("../../eval/train/crisis-nl.txt"),
];

/// Words one of which an entry must hold before the model is asked (see
/// the file's header): the model was trained on a few hundred lines and,
/// left alone, reads many an ordinary first-person worry as risk.
const ANCHORS: &str = include_str!("../../eval/train/crisis-anchors.txt");

/// Gradient-descent settings, chosen on the training corpus alone (they
/// fit it without memorising single words; see BENCHMARKS.md).
const EPOCHS: usize = 200;
const LEARNING_RATE: f64 = 2.0;
const L2: f64 = 1e-3;

/// A trained logistic regression over sparse binary features.
#[derive(Debug, Clone)]
pub struct Scorer {
    anchors: Vec<(String, bool)>,
    index: HashMap<String, usize>,
    weights: Vec<f64>,
    bias: f64,
}

/// The features of a text: distinct unigrams, bigrams and prefixes.
pub fn features(text: &str) -> Vec<String> {
    let words: Vec<String> = tokenize(text).into_iter().map(|t| t.norm).collect();
    let mut out = Vec::with_capacity(words.len() * 3);
    for (i, w) in words.iter().enumerate() {
        out.push(format!("u:{w}"));
        if w.chars().count() > 5 {
            out.push(format!("p:{}", w.chars().take(5).collect::<String>()));
        }
        if let Some(next) = words.get(i + 1) {
            out.push(format!("b:{w} {next}"));
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// The labelled lines of a corpus file.
pub fn examples(corpus: &str) -> impl Iterator<Item = (bool, &str)> {
    corpus.lines().filter_map(|line| {
        let line = line.trim();
        let (label, text) = line.split_at_checked(1)?;
        match label {
            "+" => Some((true, text.trim())),
            "-" => Some((false, text.trim())),
            _ => None,
        }
    })
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

impl Scorer {
    /// Train on labelled examples.
    pub fn train<'a>(data: impl IntoIterator<Item = (bool, &'a str)>) -> Scorer {
        let mut index: HashMap<String, usize> = HashMap::new();
        let rows: Vec<(f64, Vec<usize>)> = data
            .into_iter()
            .map(|(label, text)| {
                let ids = features(text)
                    .into_iter()
                    .map(|f| {
                        let next = index.len();
                        *index.entry(f).or_insert(next)
                    })
                    .collect();
                (if label { 1.0 } else { 0.0 }, ids)
            })
            .collect();
        let mut weights = vec![0.0; index.len()];
        let mut bias = 0.0;
        let n = rows.len().max(1) as f64;
        let mut grad = vec![0.0; weights.len()];
        for _ in 0..EPOCHS {
            grad.iter_mut().for_each(|g| *g = 0.0);
            let mut grad_bias = 0.0;
            for (y, ids) in &rows {
                let z = bias + ids.iter().map(|&k| weights[k]).sum::<f64>();
                let g = sigmoid(z) - y;
                grad_bias += g;
                for &k in ids {
                    grad[k] += g;
                }
            }
            bias -= LEARNING_RATE * grad_bias / n;
            for (w, g) in weights.iter_mut().zip(&grad) {
                *w -= LEARNING_RATE * (g / n + L2 * *w);
            }
        }
        Scorer {
            anchors: ANCHORS
                .lines()
                .filter(|l| !l.trim_start().starts_with('#'))
                .flat_map(str::split_whitespace)
                .map(|a| match a.strip_suffix('*') {
                    Some(stem) => (stem.to_lowercase(), true),
                    None => (a.to_lowercase(), false),
                })
                .collect(),
            index,
            weights,
            bias,
        }
    }

    /// The built-in scorer, trained on first use.
    pub fn builtin() -> &'static Scorer {
        static SCORER: OnceLock<Scorer> = OnceLock::new();
        SCORER.get_or_init(|| Scorer::train(CORPUS.iter().flat_map(|c| examples(c))))
    }

    /// Whether `text` holds an anchor word, so the model may be asked.
    pub fn anchored(&self, text: &str) -> bool {
        tokenize(text).iter().any(|t| {
            self.anchors.iter().any(|(a, stem)| {
                if *stem {
                    t.norm.starts_with(a.as_str())
                } else {
                    t.norm == *a
                }
            })
        })
    }

    /// The model's probability that `text` shows acute risk, or 0 for a
    /// text without an anchor word.
    pub fn risk(&self, text: &str) -> f64 {
        if self.anchored(text) {
            self.score(text)
        } else {
            0.0
        }
    }

    /// The probability the model gives that `text` shows acute risk.
    pub fn score(&self, text: &str) -> f64 {
        let z = self.bias
            + features(text)
                .iter()
                .filter_map(|f| self.index.get(f))
                .map(|&k| self.weights[k])
                .sum::<f64>();
        sigmoid(z)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_corpus_is_read_whole() {
        let n: usize = CORPUS.iter().map(|c| examples(c).count()).sum();
        let lines: usize = CORPUS
            .iter()
            .flat_map(|c| c.lines())
            .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
            .count();
        assert_eq!(n, lines, "every non-comment line is + or -");
        let positives = CORPUS
            .iter()
            .flat_map(|c| examples(c))
            .filter(|e| e.0)
            .count();
        assert!(positives > 200 && n - positives > 300, "{positives} / {n}");
    }

    #[test]
    fn training_separates_its_own_corpus_and_is_deterministic() {
        let scorer = Scorer::builtin();
        let again = Scorer::train(CORPUS.iter().flat_map(|c| examples(c)));
        let (mut right, mut total) = (0, 0);
        for (label, text) in CORPUS.iter().flat_map(|c| examples(c)) {
            let s = scorer.score(text);
            assert_eq!(s, again.score(text));
            total += 1;
            right += usize::from((s >= 0.5) == label);
        }
        assert!(right * 100 >= total * 95, "{right} / {total}");
    }

    #[test]
    fn the_model_is_asked_only_about_anchored_text() {
        let scorer = Scorer::builtin();
        assert!(scorer.anchored("I counted the tablets"));
        assert!(scorer.anchored("Il m'a frappée"));
        assert!(!scorer.anchored("I want to go to the party and I want to stay home"));
        assert_eq!(
            scorer.risk("I want to go to the party and I want to stay home"),
            0.0
        );
    }

    #[test]
    fn features_hold_words_pairs_and_stems() {
        let f = features("Counted the pastillas");
        assert!(f.contains(&"u:counted".to_string()));
        assert!(f.contains(&"b:the pastillas".to_string()));
        assert!(f.contains(&"p:pasti".to_string()));
    }
}
