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
//! past, accidents, ordinary sadness), at first never from an evaluation set, by
//! three writers (the first; writer A as adults of 30 to 85; writer B as
//! people of 14 to 29: each file's comment lines mark whose part is
//! whose), and two held-out sets by two more writers (fresh sets 3 and 4)
//! once they were measured and spent; since, sixteen more writers' sets
//! join the same way, read from their JSON Lines files
//! ([`crate::engine::corpora::CRISIS_SPENT`]), and then the answered
//! mirrorback sets, ten more writers' ordinary days among a few crises
//! ([`crate::engine::corpora::CRISIS_SPENT_ANSWERED`]); two more wrote long entries
//! (`crisis-long.txt`), which only the scorer for long entries learns
//! from ([`Scorer::builtin_long`]). A scorer over words learns its
//! writers' words, so another
//! writer's corpus moved recall on a fresh writer's text more than any
//! rule (BENCHMARKS.md). It is
//! trained when the crate is built (`node/build.rs`, deterministic
//! full-batch gradient descent, in `crisis_train.rs`), not at every
//! start: training took ~20 ms, most of what `mirror reflect` did itself.
//! The corpus stays the reviewable artefact rather than opaque numbers: a
//! test trains again from it and checks the built-in weights bit for bit.
//!
//! The safety module uses it as "rules OR (score above a high threshold,
//! passed by the everyday gate, and no look-alike context)": it only ever
//! adds catches.

use std::borrow::Cow;
use std::sync::OnceLock;

use mirror_constitution::text::tokenize;

#[path = "crisis_train.rs"]
mod train;

pub use train::sigmoid;
pub use train::train as fit;
pub use train::{examples, features, gate_examples, long_examples, pack, texts_per_feature};

/// The weights trained at build time (see `node/build.rs`).
mod built {
    include!(concat!(env!("OUT_DIR"), "/crisis_weights.rs"));
}

/// The training corpus: one example a line, `+ text` (acute risk) or
/// `- text` (a look-alike or an ordinary entry); `#` starts a comment.
#[cfg(test)]
const CORPUS: &[&str] = &[
    include_str!("../../eval/train/crisis-en.txt"),
    include_str!("../../eval/train/crisis-fr.txt"),
    include_str!("../../eval/train/crisis-de.txt"),
    include_str!("../../eval/train/crisis-es.txt"),
    include_str!("../../eval/train/crisis-pt.txt"),
    include_str!("../../eval/train/crisis-it.txt"),
    include_str!("../../eval/train/crisis-nl.txt"),
];

/// Long entries (100 to 350 words), which only the long scorer learns
/// from; see [`Scorer::builtin_long`].
#[cfg(test)]
const LONG_CORPUS: &str = include_str!("../../eval/train/crisis-long.txt");

/// Ordinary days by seven more writers (and 160 entries with risk told among
/// a day's details), which only the everyday gate learns from; see
/// [`Scorer::builtin_gate`].
#[cfg(test)]
const EVERYDAY: &str = include_str!("../../eval/train/crisis-everyday.txt");

/// Words one of which an entry must hold before the model is asked (see
/// the file's header): the model was trained on a few hundred lines and,
/// left alone, reads many an ordinary first-person worry as risk.
const ANCHORS: &str = include_str!("../../eval/train/crisis-anchors.txt");

/// A trained logistic regression over sparse binary features.
#[derive(Debug, Clone)]
pub struct Scorer {
    anchors: &'static Anchors,
    /// Sorted by feature (byte order), for a binary search.
    weights: Cow<'static, [(Cow<'static, str>, f64)]>,
    /// Feature → its index in `weights`: a hash lookup per feature where
    /// a binary search of string comparisons cost most of the scoring.
    index: rustc_hash::FxHashMap<Cow<'static, str>, u32>,
    bias: f64,
}

/// The anchor words, read once: whole words, and stems (`tablet*`) any
/// word starting with which is an anchor.
#[derive(Debug, Default)]
struct Anchors {
    words: rustc_hash::FxHashSet<String>,
    stems: rustc_hash::FxHashSet<String>,
}

impl Anchors {
    fn builtin() -> &'static Anchors {
        static ANCHORS_READ: OnceLock<Anchors> = OnceLock::new();
        ANCHORS_READ.get_or_init(|| {
            let mut out = Anchors::default();
            for a in ANCHORS
                .lines()
                .filter(|l| !l.trim_start().starts_with('#'))
                .flat_map(str::split_whitespace)
            {
                match a.strip_suffix('*') {
                    Some(stem) => out.stems.insert(stem.to_lowercase()),
                    None => out.words.insert(a.to_lowercase()),
                };
            }
            out
        })
    }

    /// Whether `word` (normalised) is an anchor or starts with a stem:
    /// a set lookup for the word and one for each of its prefixes, where
    /// comparing it with every anchor cost most of the crisis check on a
    /// long entry.
    fn hold(&self, word: &str) -> bool {
        // French and Italian elide an article or pronoun onto the word
        // ("d'essence", "l'arme", "m'étrangler", "dell'arma"): the anchor is
        // the word after the apostrophe.
        if let Some((head, tail)) = word.split_once('\'')
            && (1..=4).contains(&head.chars().count())
            && !tail.is_empty()
            && self.hold_whole(tail)
        {
            return true;
        }
        self.hold_whole(word)
    }

    fn hold_whole(&self, word: &str) -> bool {
        self.words.contains(word)
            || word
                .char_indices()
                .skip(1)
                .map(|(k, _)| k)
                .chain([word.len()])
                .any(|k| self.stems.contains(&word[..k]))
    }
}

impl Scorer {
    /// Train on labelled examples.
    pub fn train<'a>(data: impl IntoIterator<Item = (bool, &'a str)>) -> Scorer {
        let (weights, bias) = train::train(data);
        Scorer::with(
            weights
                .into_iter()
                .map(|(f, w)| (Cow::Owned(f), w))
                .collect(),
            bias,
        )
    }

    fn with(mut weights: Vec<(Cow<'static, str>, f64)>, bias: f64) -> Scorer {
        // Sorted by feature, so summing weights in index order is summing
        // them in the order of the features' sorted strings.
        weights.sort_by(|a, b| a.0.cmp(&b.0));
        let index = weights
            .iter()
            .enumerate()
            .map(|(i, (f, _))| (f.clone(), i as u32))
            .collect();
        Scorer {
            anchors: Anchors::builtin(),
            weights: weights.into(),
            index,
            bias,
        }
    }

    /// The built-in scorer for short entries, read whole: the weights
    /// trained at build time.
    pub fn builtin() -> &'static Scorer {
        static SCORER: OnceLock<Scorer> = OnceLock::new();
        SCORER.get_or_init(|| Scorer::from_built(built::WEIGHTS, built::BIAS))
    }

    /// The built-in scorer for the windows of a long entry. It learns from
    /// the same corpus plus long entries (`crisis-long.txt`), the ordinary
    /// ones cut into windows as the check reads them: trained on short
    /// entries alone, the scorer read an ordinary window of a letter, a
    /// goodbye or an apology as risk (a fresh set's long ordinary entries:
    /// 18 of 80 given the crisis answer). Short entries keep the scorer
    /// that never saw those windows: with them, its scores on short
    /// entries fell, and with them its recall (BENCHMARKS.md). It also
    /// learns the tension corpus's entries, cut into windows, as ordinary:
    /// a pull told over a long day ("I haven't decided anything", a form
    /// left in a drawer, money kept aside) was read as risk, 12 of a fresh
    /// set's 60 long ordinary days.
    pub fn builtin_long() -> &'static Scorer {
        static SCORER: OnceLock<Scorer> = OnceLock::new();
        SCORER.get_or_init(|| Scorer::from_built(built::LONG_WEIGHTS, built::LONG_BIAS))
    }

    /// The everyday gate: a scorer that tells risk from an ordinary day,
    /// trained on every entry with risk in the text corpora against ordinary
    /// days alone (`crisis-everyday.txt`, then the feeling corpus's 3,000
    /// days, none of which tells acute risk). The two scorers learnt risk
    /// against its look-alikes (fiction, hyperbole, a recovered past), which
    /// are mostly not told in the first person, so an ordinary evening told
    /// in the first person (a landlord's letter, a mechanic's bill) read as
    /// risk to them: a new writer's ordinary entries of 40 to 110 words got
    /// the crisis answer one in four times. Learnt in the same scorer, 440
    /// such days cost recall at the scorer's threshold, or false alarms at a
    /// lower one (BENCHMARKS.md); asked apart, as a second opinion the
    /// scorer's verdict must also pass, they cost less.
    ///
    /// It then learns the tension corpus's 4,000 entries as ordinary days
    /// (a pull is an ordinary day's: a checklist rewritten, a hand held
    /// back, a brochure looked at for an hour), and last the spent sets as
    /// labelled, the scorers' own: their look-alikes, fiction and a hard
    /// week are no ordinary days to the scorers but are to the gate.
    pub fn builtin_gate() -> &'static Scorer {
        static SCORER: OnceLock<Scorer> = OnceLock::new();
        SCORER.get_or_init(|| Scorer::from_built(built::GATE_WEIGHTS, built::GATE_BIAS))
    }

    /// A scorer of weights trained at build time (see `node/build.rs`).
    pub(crate) fn from_built(weights: &'static [(&'static str, f64)], bias: f64) -> Scorer {
        Scorer::with(
            weights
                .iter()
                .map(|&(f, w)| (Cow::Borrowed(f), w))
                .collect(),
            bias,
        )
    }

    #[cfg(test)]
    fn weight(&self, feature: &str) -> Option<f64> {
        self.weights
            .binary_search_by(|(f, _)| (**f).cmp(feature))
            .ok()
            .map(|i| self.weights[i].1)
    }

    /// Whether `text` holds an anchor word, so the model may be asked.
    pub fn anchored(&self, text: &str) -> bool {
        tokenize(text).iter().any(|t| self.anchors.hold(&t.norm))
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
    ///
    /// The features are those of [`features`], built in one buffer and
    /// looked up as they are made rather than allocated, sorted and
    /// searched: the same weights summed in the same order, so the same
    /// score to the bit (a test holds it), at a fraction of the cost over
    /// the many windows of a long entry.
    pub fn score(&self, text: &str) -> f64 {
        let found = rows_of(&self.index, text);
        let z = self.bias
            + found
                .iter()
                .map(|&i| self.weights[i as usize].1)
                .sum::<f64>();
        sigmoid(z)
    }
}

/// The rows of `index` (feature → row) that the features of `text` name,
/// each once, in row order: the order their weights are summed in, as
/// training summed them.
pub(crate) fn rows_of(
    index: &rustc_hash::FxHashMap<Cow<'static, str>, u32>,
    text: &str,
) -> Vec<u32> {
    let mut found: Vec<u32> = Vec::new();
    each_feature(text, |feature| {
        if let Some(&i) = index.get(feature) {
            found.push(i);
        }
    });
    found.sort_unstable();
    found.dedup();
    found
}

/// Calls `look` with each feature of [`features`] for `text`, in one
/// buffer rather than allocated one by one (repeats included).
fn each_feature(text: &str, mut look: impl FnMut(&str)) {
    let words: Vec<String> = tokenize(text).into_iter().map(|t| t.norm).collect();
    let mut feature = String::new();
    for (i, w) in words.iter().enumerate() {
        feature.clear();
        feature.push_str("u:");
        feature.push_str(w);
        look(&feature);
        if w.chars().count() > 5 {
            feature.clear();
            feature.push_str("p:");
            feature.extend(w.chars().take(5));
            look(&feature);
        }
        if let Some(next) = words.get(i + 1) {
            feature.clear();
            feature.push_str("b:");
            feature.push_str(w);
            feature.push(' ');
            feature.push_str(next);
            look(&feature);
        }
    }
}

/// `built` and `again` hold the same bias and weights, bit for bit.
#[cfg(test)]
pub(crate) fn assert_same_weights(built: &Scorer, again: &Scorer) {
    assert_eq!(built.bias.to_bits(), again.bias.to_bits());
    assert_eq!(built.weights.len(), again.weights.len());
    for ((f, w), (g, v)) in built.weights.iter().zip(again.weights.iter()) {
        assert_eq!(f, g);
        assert_eq!(w.to_bits(), v.to_bits(), "{f}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::corpora::{CRISIS_SPENT, CRISIS_SPENT_ANSWERED};
    use crate::engine::{feeling_model, tension_model};

    /// A JSON Lines corpus of the crate, read as `node/build.rs` reads it.
    fn json_lines(path: &str) -> Vec<serde_json::Value> {
        let path = format!("{}/{path}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap();
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// The spent crisis sets' entries, labelled, in the build's order.
    fn spent() -> Vec<(bool, String)> {
        CRISIS_SPENT
            .iter()
            .flat_map(|name| json_lines(&format!("eval/{name}-crisis.jsonl")))
            .map(|v| {
                let text = v["text"].as_str().unwrap().to_string();
                (v["crisis"].as_bool().unwrap(), text)
            })
            .chain(
                CRISIS_SPENT_ANSWERED
                    .iter()
                    .flat_map(|name| json_lines(&format!("eval/{name}-mirrorbacks.jsonl")))
                    .map(|v| {
                        (
                            v["kind"] == "crisis",
                            v["text"].as_str().unwrap().to_string(),
                        )
                    }),
            )
            .collect()
    }

    /// What both scorers learn first: the text corpus, then the spent sets.
    fn short(spent: &[(bool, String)]) -> Vec<(bool, &str)> {
        CORPUS
            .iter()
            .flat_map(|c| examples(c))
            .chain(spent.iter().map(|(l, t)| (*l, t.as_str())))
            .collect()
    }

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
        let spent = spent();
        let again = Scorer::train(short(&spent));
        let (mut right, mut total) = (0, 0);
        for (label, text) in short(&spent) {
            let s = scorer.score(text);
            assert_eq!(s, again.score(text));
            total += 1;
            right += usize::from((s >= 0.5) == label);
        }
        assert!(right * 100 >= total * 95, "{right} / {total}");
    }

    #[test]
    fn the_built_in_weights_are_the_corpus_trained_bit_for_bit() {
        let spent = spent();
        // Sixteen spent sets, each of them read whole.
        assert!(spent.len() > 1700, "{}", spent.len());
        let again = Scorer::train(short(&spent));
        let built = Scorer::builtin();
        assert_same_weights(built, &again);
    }

    /// The tension corpus's entries, in the order the build script reads
    /// them: ordinary days to the long scorer and the everyday gate.
    fn tension_days() -> Vec<String> {
        let pulls: Vec<String> = tension_model::CORPUS
            .iter()
            .flat_map(|c| c.lines())
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .map(|v| v["text"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(pulls.len(), 4000);
        pulls
    }

    #[test]
    fn the_long_scorer_is_its_corpus_trained_bit_for_bit() {
        let long = long_examples(LONG_CORPUS);
        let ordinary = long.iter().filter(|e| !e.0).count();
        let entries = examples(LONG_CORPUS).filter(|e| !e.0).count();
        assert!(
            ordinary > 2 * entries,
            "cut into windows: {ordinary} / {entries}"
        );
        // Then the tension corpus's entries, cut into windows as ordinary.
        let pulls = tension_days();
        let windows: Vec<&str> = pulls.iter().flat_map(|t| train::windows(t)).collect();
        assert!(windows.len() >= pulls.len(), "{}", windows.len());
        let spent = spent();
        let again = Scorer::train(
            short(&spent)
                .into_iter()
                .chain(long.iter().copied())
                .chain(windows.iter().map(|w| (false, *w))),
        );
        let built = Scorer::builtin_long();
        assert_same_weights(built, &again);
    }

    #[test]
    fn the_everyday_gate_is_its_corpus_trained_bit_for_bit() {
        let mut corpora = CORPUS.to_vec();
        corpora.push(LONG_CORPUS);
        let data = gate_examples(&corpora, EVERYDAY);
        // Every file read: its ordinary days, and the entries with risk of
        // every corpus and its own.
        let ordinary = data.iter().filter(|e| !e.0).count();
        let risk: usize = corpora
            .iter()
            .chain([&EVERYDAY])
            .map(|c| examples(c).filter(|e| e.0).count())
            .sum();
        assert_eq!(ordinary, 2440);
        assert_eq!(data.len() - ordinary, risk);
        assert!(risk > 1400, "{risk}");
        // Then the feeling corpus's days, as ordinary days.
        let days: Vec<String> = feeling_model::CORPUS
            .iter()
            .flat_map(|c| feeling_model::examples(c).unwrap())
            .map(|e| e.text)
            .collect();
        assert_eq!(days.len(), 3000);
        // Then the tension corpus's entries, as ordinary days.
        let pulls = tension_days();
        // Last, the spent sets as labelled.
        let spent = spent();
        let again = Scorer::train(
            data.into_iter()
                .chain(days.iter().map(|t| (false, t.as_str())))
                .chain(pulls.iter().map(|t| (false, t.as_str())))
                .chain(spent.iter().map(|(l, t)| (*l, t.as_str()))),
        );
        assert_same_weights(Scorer::builtin_gate(), &again);
    }

    #[test]
    fn windows_of_an_ordinary_entry_are_three_sentences() {
        // As many sentences as the check reads at once.
        assert_eq!(train::WINDOW_SENTENCES, super::super::safety::SCORE_WINDOW);
        let corpus = "- One. Two! Three? Four… Five.\n+ Risk one. Risk two. Risk three. Risk four.";
        let got = long_examples(corpus);
        assert_eq!(
            got,
            vec![
                (false, "One. Two! Three?"),
                (false, "Four… Five."),
                (true, "Risk one. Risk two. Risk three. Risk four."),
            ]
        );
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
    fn scoring_is_the_weights_of_the_features_summed_in_order() {
        // The reference: every feature of `features`, sorted, its weight
        // looked up and summed, as the scorer was first written.
        let reference = |scorer: &Scorer, text: &str| {
            let z = scorer.bias
                + features(text)
                    .iter()
                    .filter_map(|f| scorer.weight(f))
                    .sum::<f64>();
            sigmoid(z)
        };
        let scorers = [
            Scorer::builtin(),
            Scorer::builtin_long(),
            Scorer::builtin_gate(),
        ];
        let mut n = 0;
        for (_, text) in CORPUS
            .iter()
            .chain([&LONG_CORPUS, &EVERYDAY])
            .flat_map(|c| examples(c))
        {
            for scorer in scorers {
                assert_eq!(
                    scorer.score(text).to_bits(),
                    reference(scorer, text).to_bits(),
                    "{text}"
                );
            }
            n += 1;
        }
        assert!(n > 3000, "{n}");
    }

    #[test]
    fn anchors_hold_what_a_scan_of_the_list_holds() {
        // The reference: every anchor compared in turn, a stem as a prefix.
        let list: Vec<(String, bool)> = ANCHORS
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .flat_map(str::split_whitespace)
            .map(|a| match a.strip_suffix('*') {
                Some(stem) => (stem.to_lowercase(), true),
                None => (a.to_lowercase(), false),
            })
            .collect();
        let whole = |w: &str| {
            list.iter().any(|(a, stem)| {
                if *stem {
                    w.starts_with(a.as_str())
                } else {
                    w == a
                }
            })
        };
        // An elided article or pronoun ("d'essence") is looked past.
        let scan = |w: &str| {
            whole(w)
                || w.split_once('\'').is_some_and(|(head, tail)| {
                    (1..=4).contains(&head.chars().count()) && !tail.is_empty() && whole(tail)
                })
        };
        let anchors = Anchors::builtin();
        let (mut held, mut n) = (0, 0);
        for (_, text) in CORPUS
            .iter()
            .chain([&LONG_CORPUS, &EVERYDAY])
            .flat_map(|c| examples(c))
        {
            for t in tokenize(text) {
                assert_eq!(anchors.hold(&t.norm), scan(&t.norm), "{}", t.norm);
                held += usize::from(scan(&t.norm));
                n += 1;
            }
        }
        assert!(held > 1000 && n > held * 10, "{held} / {n}");
        assert!(anchors.hold("d'essence") && anchors.hold("l'arme"));
        assert!(!anchors.hold("d'accord") && !anchors.hold("don't"));
    }

    #[test]
    fn features_hold_words_pairs_and_stems() {
        let f = features("Counted the pastillas");
        assert!(f.contains(&"u:counted".to_string()));
        assert!(f.contains(&"b:the pastillas".to_string()));
        assert!(f.contains(&"p:pasti".to_string()));
    }
}
