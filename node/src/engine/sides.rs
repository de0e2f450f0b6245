//! Which sentence of an entry shows which side of a pull: one small
//! logistic regression per pole, over the crisis scorer's word features.
//!
//! The tension model ([`super::tension_model`]) hears *that* an entry
//! pulls two ways, in a window of three sentences; which two sentences
//! carry the pull was its guess, and on new writers' long entries it
//! mostly guessed a detail beside an aside, so the built-in mirror named
//! the poles alone and the answer was not double-sided. A pull is two
//! things the writer does or keeps going back to ("Renewed the lease for
//! two more years." … "Spent my lunch break on the Lisbon listings
//! again."), often far apart with ordinary days between them: this model
//! reads each sentence on its own and says which pole, if any, it shows.
//!
//! Layout:
//! * The corpus: `node/eval/train/poles-<name>.jsonl`
//!   ([`super::corpora::POLE_CORPUS`]), entries written for training from
//!   a definition alone (never an evaluation set), each sentence labelled
//!   with the side of the entry's axis it shows (`"a"`, `"b"`) or none (a
//!   detail, the weather, the bus).
//! * [`Model::train`]: for each axis and side (sixteen outputs, in the
//!   order of [`AXES`], side a then side b), a regression that tells that
//!   side's sentences from every other sentence of the corpus (the other
//!   side, the details, the other axes' sides) and from the ordinary days
//!   of `crisis-everyday.txt`; a feature met in fewer than
//!   [`super::corpora::MIN_TEXTS`] texts is dropped. Trained when the crate is
//!   built (`node/build.rs`); a test trains again and checks every weight
//!   bit for bit.
//! * [`Model::find`]: for an axis already heard, the sentence that best
//!   shows each side: most likely to show a side at all and to show this
//!   one more than the other, by a log-odds [`MARGIN`] or more. Each
//!   side's probability alone stays low (a sixteenth of the sentences are
//!   one side's), so how sentences rank is read, not how high they score.
//!
//! Invariant: the model never says *whether* an entry holds a pull, only
//! where, for an axis the lexicons or the tension model found; and it
//! gives back two of the writer's sentences, whole and as written.
//!
//! Cost model: built once per process like the tension model (a hash map
//! of its features); an entry costs one read per sentence (one hash
//! lookup per feature, about three per word), for at most
//! [`MAX_SENTENCES`] sentences.

use std::sync::OnceLock;

use unicode_segmentation::UnicodeSegmentation;

use super::linear::Linear;

pub use super::corpora::AXES;

/// The output that tells a sentence showing any side of any pull from a
/// detail, after the two per axis.
const SIDE: usize = AXES.len() * 2;
/// Outputs in all.
const OUTPUTS: usize = SIDE + 1;

/// How much more likely, in log-odds, a sentence must be to show one side
/// than the other to be given back as that side: chosen with the corpus
/// split by writer (`margin_by_writer`, below).
pub const MARGIN: f64 = 0.5;
/// Sentences read at most, so a very long entry costs a bounded amount.
pub const MAX_SENTENCES: usize = 200;
/// Words a sentence needs to be given back as a side: "Fine." or
/// "Retirement, week two." shows no side of anything.
pub const MIN_WORDS: usize = 5;
/// Words a side may have at most: a longer sentence would be cut to be
/// quoted, and a cut can leave a detail and lose the side.
pub const MAX_WORDS: usize = 20;

/// One entry of the corpus: its axis and its sentences, each with the
/// side it shows (`Some(false)` side a, `Some(true)` side b).
#[derive(Debug, Clone)]
pub struct Example {
    pub axis: usize,
    pub sentences: Vec<(String, Option<bool>)>,
}

/// A line of the corpus as written.
#[derive(serde::Deserialize)]
struct Line {
    axis: (String, String),
    sentences: Vec<Sentence>,
}

#[derive(serde::Deserialize)]
struct Sentence {
    text: String,
    side: Option<String>,
}

/// Why a corpus line was refused.
#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    #[error("line {line}: {source}")]
    Json {
        line: usize,
        source: serde_json::Error,
    },
    #[error("line {line}: no axis {a}/{b}")]
    Axis { line: usize, a: String, b: String },
    #[error("line {line}: side {side:?} is neither \"a\" nor \"b\"")]
    Side { line: usize, side: String },
}

/// The entries of a JSON Lines corpus (blank lines skipped).
pub fn examples(corpus: &str) -> Result<Vec<Example>, CorpusError> {
    corpus
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            let line = i + 1;
            let parsed: Line =
                serde_json::from_str(l).map_err(|source| CorpusError::Json { line, source })?;
            let (a, b) = parsed.axis;
            let axis = AXES
                .iter()
                .position(|&(x, y)| x == a && y == b)
                .ok_or(CorpusError::Axis { line, a, b })?;
            let sentences = parsed
                .sentences
                .into_iter()
                .map(|s| {
                    let side = match s.side.as_deref() {
                        None => None,
                        Some("a") => Some(false),
                        Some("b") => Some(true),
                        Some(other) => {
                            return Err(CorpusError::Side {
                                line,
                                side: other.to_string(),
                            });
                        }
                    };
                    Ok((s.text, side))
                })
                .collect::<Result<_, _>>()?;
            Ok(Example { axis, sentences })
        })
        .collect()
}

/// The two sentences that show the two sides of a pull, as written.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Sides {
    /// The sentence that shows the axis's first pole.
    pub a: String,
    /// The one that shows its second.
    pub b: String,
    /// Whether `a` comes first in the entry.
    pub a_first: bool,
}

/// Sixteen regressions over one shared feature list (see the module doc).
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    linear: Linear,
}

impl Model {
    /// Train one regression per axis and side on every sentence of
    /// `examples`, with `ordinary` days (no side of anything, read whole
    /// as the tension model reads them) as further negatives.
    pub fn train(examples: &[Example], ordinary: &[&str]) -> Model {
        let outputs = OUTPUTS;
        let data: Vec<(Vec<bool>, &str)> = examples
            .iter()
            .flat_map(|e| {
                e.sentences.iter().map(move |(text, side)| {
                    let mut has = vec![false; outputs];
                    if let Some(b) = side {
                        has[e.axis * 2 + usize::from(*b)] = true;
                        has[SIDE] = true;
                    }
                    (has, text.as_str())
                })
            })
            .chain(ordinary.iter().map(|t| (vec![false; outputs], *t)))
            .collect();
        Model {
            linear: Linear::train(outputs, &data, super::corpora::MIN_TEXTS),
        }
    }

    /// Each sentence of `text` that could be a side ([`MIN_WORDS`] to
    /// [`MAX_WORDS`] words, among the first [`MAX_SENTENCES`]), with every
    /// side's probability.
    fn read<'t>(&self, text: &'t str) -> Vec<(&'t str, Vec<f64>)> {
        super::sentences::split(text)
            .into_iter()
            .take(MAX_SENTENCES)
            .filter(|s| (MIN_WORDS..=MAX_WORDS).contains(&s.unicode_words().count()))
            .map(|s| (s, self.linear.scores(s)))
            .collect()
    }

    /// The sentences of `text` that best show each side of `axis` (an
    /// index into [`AXES`]), or `None` when either side is shown by no
    /// sentence clearly enough.
    pub fn find(&self, text: &str, axis: usize) -> Option<Sides> {
        if axis >= AXES.len() {
            return None;
        }
        let scored = self.read(text);
        let ia = best_side(&scored, axis, 0, MARGIN)?;
        let ib = best_side(&scored, axis, 1, MARGIN)?;
        Some(Sides {
            a: scored[ia].0.to_string(),
            b: scored[ib].0.to_string(),
            a_first: ia < ib,
        })
    }
}

fn logit(p: f64) -> f64 {
    let p = p.clamp(1e-12, 1.0 - 1e-12);
    (p / (1.0 - p)).ln()
}

/// The sentence among `scored` that best shows `side` (0 for the axis's
/// first pole, 1 for its second) of `axis`: the most likely to, among
/// those whose log-odds for it exceed the other side's by `margin` or
/// more. Rare classes against many keep every probability low, so what
/// is read is how sentences rank, not how high they score.
fn best_side(scored: &[(&str, Vec<f64>)], axis: usize, side: usize, margin: f64) -> Option<usize> {
    scored
        .iter()
        .enumerate()
        .map(|(i, (_, p))| {
            let (this, other) = (logit(p[axis * 2 + side]), logit(p[axis * 2 + 1 - side]));
            // How likely it shows a side at all, and how much more this
            // one than the other.
            let rank = logit(p[SIDE]) + this - other;
            (i, rank, this - other)
        })
        .filter(|&(_, _, diff)| diff >= margin)
        .max_by(|x, y| x.1.total_cmp(&y.1))
        .map(|(i, _, _)| i)
}

/// The built-in model (see the module doc): the weights trained at build
/// time.
pub fn builtin() -> &'static Model {
    static MODEL: OnceLock<Model> = OnceLock::new();
    MODEL.get_or_init(|| {
        let linear = super::linear::built_linear!("sides");
        assert_eq!(
            linear.outputs(),
            OUTPUTS,
            "two sides per axis, and any side"
        );
        Model { linear }
    })
}

/// The training corpus, in the order `node/build.rs` reads it (the
/// tension model learns its entries too).
#[cfg(test)]
pub(super) const CORPUS: &[&str] = &[
    include_str!("../../eval/train/poles-en-1.jsonl"),
    include_str!("../../eval/train/poles-en-2.jsonl"),
    include_str!("../../eval/train/poles-en-3.jsonl"),
    include_str!("../../eval/train/poles-fr.jsonl"),
    include_str!("../../eval/train/poles-fr-2.jsonl"),
    include_str!("../../eval/train/poles-de.jsonl"),
    include_str!("../../eval/train/poles-de-2.jsonl"),
    include_str!("../../eval/train/poles-es.jsonl"),
    include_str!("../../eval/train/poles-es-2.jsonl"),
    include_str!("../../eval/train/poles-pt.jsonl"),
    include_str!("../../eval/train/poles-pt-2.jsonl"),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn corpus(files: &[&str]) -> Vec<Example> {
        files
            .iter()
            .flat_map(|c| examples(c).expect("the pole corpus is well formed"))
            .collect()
    }

    fn ordinary() -> Vec<&'static str> {
        super::super::crisis_model::examples(include_str!("../../eval/train/crisis-everyday.txt"))
            .filter(|e| !e.0)
            .map(|e| e.1)
            .collect()
    }

    #[test]
    fn every_entry_shows_both_sides_and_every_side_is_taught_in_every_file() {
        for file in CORPUS {
            let all = corpus(&[file]);
            assert!(all.len() >= 100, "{}", all.len());
            for e in &all {
                assert!(e.sentences.iter().any(|s| s.1 == Some(false)), "{e:?}");
                assert!(e.sentences.iter().any(|s| s.1 == Some(true)), "{e:?}");
            }
            for axis in 0..AXES.len() {
                let n = all.iter().filter(|e| e.axis == axis).count();
                assert!(n >= 10, "axis {axis}: {n}");
            }
        }
    }

    #[test]
    fn a_bad_line_is_a_typed_error() {
        assert!(matches!(
            examples(r#"{"axis": ["stability", "chaos"], "sentences": []}"#),
            Err(CorpusError::Axis { line: 1, .. })
        ));
        assert!(matches!(
            examples(
                r#"{"axis": ["stability", "growth"], "sentences": [{"text": "x", "side": "c"}]}"#
            ),
            Err(CorpusError::Side { line: 1, .. })
        ));
        assert!(matches!(
            examples("\n{"),
            Err(CorpusError::Json { line: 2, .. })
        ));
    }

    #[test]
    fn the_built_in_weights_are_the_corpus_trained_bit_for_bit() {
        let again = Model::train(&corpus(CORPUS), &ordinary());
        assert_eq!(builtin(), &again, "every weight, bit for bit");
    }

    #[test]
    fn each_side_of_a_pull_told_far_apart_is_found() {
        // Written for this test, in no corpus or evaluation set.
        let text = "Renewed the lease on the flat for another two years this morning. \
                    It rained the whole way to work and my shoes are still wet. \
                    Priya brought in samosas for her birthday. \
                    Spent my whole lunch break reading about the sailing instructor course in Croatia again.";
        let stability = AXES.iter().position(|a| a.0 == "stability").unwrap();
        let sides = builtin().find(text, stability).expect("both sides");
        assert!(sides.a.contains("lease"), "{sides:?}");
        assert!(sides.b.contains("sailing"), "{sides:?}");
        assert!(sides.a_first);
        // Every side is a whole sentence of the entry, as written.
        assert!(text.contains(&sides.a) && text.contains(&sides.b));
    }

    #[test]
    fn a_plain_day_and_one_side_alone_give_nothing() {
        let stability = AXES.iter().position(|a| a.0 == "stability").unwrap();
        for text in [
            "Took the bus to the dentist. The filling didn't hurt much. Soup for dinner and an early night.",
            "",
        ] {
            assert_eq!(builtin().find(text, stability), None, "{text}");
        }
        assert_eq!(builtin().find("Anything at all here.", AXES.len()), None);
    }

    /// How well the sides are found in a writer's entries the model did
    /// not learn from: the corpus split by file (each file is one writer),
    /// the axis given, each side's chosen sentence checked against the
    /// writer's label, at several margins. Run by hand to choose
    /// [`MARGIN`]:
    /// `cargo test --release -p mirror-node sides::tests::margin_by_writer -- --ignored --nocapture`.
    #[test]
    #[ignore = "a measurement, run by hand"]
    fn margin_by_writer() {
        let ordinary = ordinary();
        let margins = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5];
        let mut total = vec![(0, 0); margins.len()];
        let mut entries = 0;
        for (k, held) in CORPUS.iter().enumerate() {
            let rest: Vec<&str> = CORPUS
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != k)
                .map(|(_, c)| *c)
                .collect();
            let model = Model::train(&corpus(&rest), &ordinary);
            let held = corpus(&[held]);
            entries += held.len();
            for (m, margin) in margins.iter().enumerate() {
                let (mut found, mut right) = (0, 0);
                for e in &held {
                    let text: Vec<&str> = e.sentences.iter().map(|s| s.0.as_str()).collect();
                    let scored: Vec<(&str, Vec<f64>)> =
                        text.iter().map(|s| (*s, model.linear.scores(s))).collect();
                    if let Some(ia) = best_side(&scored, e.axis, 0, *margin)
                        && let Some(ib) = best_side(&scored, e.axis, 1, *margin)
                    {
                        found += 1;
                        if e.sentences[ia].1 == Some(false) && e.sentences[ib].1 == Some(true) {
                            right += 1;
                        }
                    }
                }
                total[m].0 += found;
                total[m].1 += right;
                println!(
                    "file {k} margin {margin}: both sides given in {found} of {}, both right in {right}",
                    held.len()
                );
            }
        }
        for (m, margin) in margins.iter().enumerate() {
            println!(
                "all, margin {margin}: given in {} of {entries}, right in {}",
                total[m].0, total[m].1
            );
        }
    }
}
