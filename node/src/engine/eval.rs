//! Measuring the engine against labelled sets (JSON Lines).
//!
//! * patterns: `{"id", "text", "patterns": [...]}`
//! * tensions: `{"id", "text", "tensions": [["control", "surrender"], ...]}`
//! * compliance: `{"id", "text", "compliant": bool, "flags": [...]}`
//! * crisis: `{"id", "lang", "kind", "crisis": bool, "text"}`
//! * mirrorbacks: `{"id", "lang", "kind", "text", "tension"?}`: entries to
//!   answer; the answers are checked for what can be checked without a
//!   reader (compliance, grammar slips, language, question variety) and
//!   written out for blind judging against the rubric.
//!
//! Scores are per category: precision, recall and F1 over the items, plus
//! the micro average; every item the engine got wrong is listed, so a rule
//! change can be judged by what it fixes and what it breaks.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::Engine;

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("reading {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} line {line}: {reason}")]
    Line {
        path: String,
        line: usize,
        reason: String,
    },
    #[error("{path} has no items")]
    Empty { path: String },
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Score {
    pub category: String,
    pub support: usize,
    pub true_positives: usize,
    pub false_positives: usize,
    pub false_negatives: usize,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

impl Score {
    fn finish(mut self) -> Score {
        let tp = self.true_positives as f64;
        let p_den = tp + self.false_positives as f64;
        let r_den = tp + self.false_negatives as f64;
        // No predictions and nothing to find is perfect, not undefined.
        self.precision = if p_den == 0.0 { 1.0 } else { tp / p_den };
        self.recall = if r_den == 0.0 { 1.0 } else { tp / r_den };
        self.f1 = if self.precision + self.recall == 0.0 {
            0.0
        } else {
            2.0 * self.precision * self.recall / (self.precision + self.recall)
        };
        self
    }
}

/// An item the engine got wrong.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Miss {
    pub id: String,
    pub text: String,
    pub expected: Vec<String>,
    pub found: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SetReport {
    pub file: String,
    pub items: usize,
    /// Items whose whole label set was right.
    pub exact: usize,
    pub categories: Vec<Score>,
    pub micro: Score,
    pub misses: Vec<Miss>,
}

/// Score label sets: `(id, text, expected, found)` per item.
pub fn score_sets(
    file: &str,
    items: Vec<(String, String, BTreeSet<String>, BTreeSet<String>)>,
) -> SetReport {
    let mut per: BTreeMap<String, Score> = BTreeMap::new();
    let mut micro = Score {
        category: "all".into(),
        ..Default::default()
    };
    let mut misses = Vec::new();
    let mut exact = 0;
    let n = items.len();
    for (id, text, expected, found) in items {
        for category in expected.union(&found) {
            let s = per.entry(category.clone()).or_insert_with(|| Score {
                category: category.clone(),
                ..Default::default()
            });
            let (e, f) = (expected.contains(category), found.contains(category));
            if e {
                s.support += 1;
                micro.support += 1;
            }
            match (e, f) {
                (true, true) => {
                    s.true_positives += 1;
                    micro.true_positives += 1;
                }
                (false, true) => {
                    s.false_positives += 1;
                    micro.false_positives += 1;
                }
                (true, false) => {
                    s.false_negatives += 1;
                    micro.false_negatives += 1;
                }
                (false, false) => {}
            }
        }
        if expected == found {
            exact += 1;
        } else {
            misses.push(Miss {
                id,
                text,
                expected: expected.into_iter().collect(),
                found: found.into_iter().collect(),
            });
        }
    }
    SetReport {
        file: file.to_string(),
        items: n,
        exact,
        categories: per.into_values().map(Score::finish).collect(),
        micro: micro.finish(),
        misses,
    }
}

fn read_lines<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Vec<T>, EvalError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| EvalError::Io {
        path: shown.clone(),
        source,
    })?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        out.push(serde_json::from_str(line).map_err(|e| EvalError::Line {
            path: shown.clone(),
            line: i + 1,
            reason: e.to_string(),
        })?);
    }
    if out.is_empty() {
        return Err(EvalError::Empty { path: shown });
    }
    Ok(out)
}

#[derive(Deserialize)]
struct PatternItem {
    id: String,
    text: String,
    patterns: Vec<String>,
}

#[derive(Deserialize)]
struct TensionItem {
    id: String,
    text: String,
    tensions: Vec<(String, String)>,
}

#[derive(Deserialize)]
struct FeelingItem {
    id: String,
    text: String,
    feelings: Vec<String>,
}

#[derive(Deserialize)]
struct ComplianceItem {
    id: String,
    text: String,
    compliant: bool,
    flags: Vec<String>,
}

pub fn eval_patterns(engine: &Engine, path: &Path) -> Result<SetReport, EvalError> {
    let items: Vec<PatternItem> = read_lines(path)?;
    let scored = items
        .into_iter()
        .map(|item| {
            let found = engine.analyze(&item.text).pattern_names();
            (
                item.id,
                item.text,
                item.patterns.into_iter().collect(),
                found.into_iter().collect(),
            )
        })
        .collect();
    Ok(score_sets(&path.display().to_string(), scored))
}

pub fn eval_tensions(engine: &Engine, path: &Path) -> Result<SetReport, EvalError> {
    let items: Vec<TensionItem> = read_lines(path)?;
    let scored = items
        .into_iter()
        .map(|item| {
            let found: BTreeSet<String> = engine
                .analyze(&item.text)
                .tensions
                .into_iter()
                .map(|t| format!("{}/{}", t.axis_a, t.axis_b))
                .collect();
            let expected = item
                .tensions
                .into_iter()
                .map(|(a, b)| format!("{a}/{b}"))
                .collect();
            (item.id, item.text, expected, found)
        })
        .collect();
    Ok(score_sets(&path.display().to_string(), scored))
}

/// The feelings the built-in mirror's feeling line would name
/// ([`super::mirror::named_feelings`]) against the feelings each entry's
/// writer holds (families outside the feeling model's are not scored);
/// with `lexicons_only`, as the lexicons found them, without the feeling
/// model (the side by side).
pub fn eval_feelings(
    engine: &Engine,
    path: &Path,
    lexicons_only: bool,
) -> Result<SetReport, EvalError> {
    let items: Vec<FeelingItem> = read_lines(path)?;
    let known = |f: &str| super::feeling_model::FAMILIES.contains(&f);
    let scored = items
        .into_iter()
        .map(|item| {
            let model = (
                super::feeling_model::builtin(),
                super::feeling_model::SETTING,
            );
            let analysis = engine.analyze_weighed(&item.text, (!lexicons_only).then_some(model));
            let found: BTreeSet<String> = super::mirror::named_feelings(&analysis)
                .into_iter()
                .filter(|f| known(f))
                .map(str::to_string)
                .collect();
            let expected = item.feelings.into_iter().filter(|f| known(f)).collect();
            (item.id, item.text, expected, found)
        })
        .collect();
    Ok(score_sets(&path.display().to_string(), scored))
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComplianceReport {
    /// Per-flag scores and the list of items whose flags differ.
    pub flags: SetReport,
    /// Share of items whose compliant/non-compliant verdict was right.
    pub accuracy: f64,
    /// Share of compliant texts the checker flagged anyway.
    pub compliant_flagged: f64,
    pub compliant_items: usize,
}

pub fn eval_compliance(engine: &Engine, path: &Path) -> Result<ComplianceReport, EvalError> {
    let items: Vec<ComplianceItem> = read_lines(path)?;
    let (mut right, mut compliant, mut compliant_flagged) = (0usize, 0usize, 0usize);
    let n = items.len();
    let scored = items
        .into_iter()
        .map(|item| {
            let report = engine.checker().check(&item.text);
            if report.is_compliant() == item.compliant {
                right += 1;
            }
            if item.compliant {
                compliant += 1;
                if !report.is_compliant() {
                    compliant_flagged += 1;
                }
            }
            (
                item.id,
                item.text,
                item.flags.into_iter().collect(),
                report.flag_names().into_iter().map(String::from).collect(),
            )
        })
        .collect();
    Ok(ComplianceReport {
        flags: score_sets(&path.display().to_string(), scored),
        accuracy: right as f64 / n as f64,
        compliant_flagged: if compliant == 0 {
            0.0
        } else {
            compliant_flagged as f64 / compliant as f64
        },
        compliant_items: compliant,
    })
}

#[derive(Deserialize)]
struct CrisisItem {
    id: String,
    #[serde(default)]
    lang: String,
    #[serde(default)]
    kind: String,
    crisis: bool,
    text: String,
}

/// How the crisis check does on a labelled set.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CrisisReport {
    pub file: String,
    pub crisis_items: usize,
    pub caught: usize,
    /// Crisis entries the check missed (the goal is none).
    pub missed: Vec<String>,
    pub look_alikes: usize,
    /// Look-alikes the check flagged.
    pub flagged: Vec<String>,
    pub recall: f64,
    pub look_alike_rate: f64,
    /// Caught / total per language.
    pub by_language: BTreeMap<String, (usize, usize)>,
}

pub fn eval_crisis(engine: &Engine, path: &Path) -> Result<CrisisReport, EvalError> {
    let items: Vec<CrisisItem> = read_lines(path)?;
    let mut report = CrisisReport {
        file: path.display().to_string(),
        crisis_items: 0,
        caught: 0,
        missed: Vec::new(),
        look_alikes: 0,
        flagged: Vec::new(),
        recall: 1.0,
        look_alike_rate: 0.0,
        by_language: BTreeMap::new(),
    };
    for item in items {
        let crisis = engine.crisis(&item.text);
        let found = crisis.is_some();
        let label = format!("{} ({}, {})", item.id, item.lang, item.kind);
        if item.crisis {
            report.crisis_items += 1;
            let entry = report
                .by_language
                .entry(item.lang.clone())
                .or_insert((0, 0));
            entry.1 += 1;
            if found {
                report.caught += 1;
                entry.0 += 1;
            } else {
                // Where it fell short, so a miss can be traced to what to
                // fix (a rule's class, or the scorer's corpus).
                report
                    .missed
                    .push(format!("{label}: {}", engine.crisis_trace(&item.text)));
            }
        } else {
            report.look_alikes += 1;
            if let Some(c) = crisis {
                // Which rule (or the scorer) fired, so a look-alike can be
                // traced to what to fix.
                report
                    .flagged
                    .push(format!("{label}: {} «{}»", c.rule, c.cue));
            }
        }
    }
    if report.crisis_items > 0 {
        report.recall = report.caught as f64 / report.crisis_items as f64;
    }
    if report.look_alikes > 0 {
        report.look_alike_rate = report.flagged.len() as f64 / report.look_alikes as f64;
    }
    Ok(report)
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct MirrorbackItem {
    pub id: String,
    #[serde(default)]
    pub lang: String,
    #[serde(default)]
    pub kind: String,
    pub text: String,
    /// The axes a good answer reflects, as poles in a row (`["control",
    /// "surrender"]`, the development set's form) or as pairs
    /// (`[["control", "surrender"]]`, the form of the tension sets).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "poles_in_a_row"
    )]
    pub tension: Option<Vec<String>>,
}

/// Either form of a mirrorbacks item's `tension`, as poles in a row.
fn poles_in_a_row<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Poles {
        Row(Vec<String>),
        Pairs(Vec<Vec<String>>),
    }
    Ok(Option::<Poles>::deserialize(d)?.map(|p| match p {
        Poles::Row(row) => row,
        Poles::Pairs(pairs) => pairs.into_iter().flatten().collect(),
    }))
}

/// One entry and the built-in engine's answer: exactly what a blind
/// reviewer sees.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Answered {
    pub id: String,
    pub lang: String,
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tension: Option<Vec<String>>,
    pub text: String,
    pub answer: String,
}

/// The built-in engine's answer to every entry in a mirrorbacks set, as the
/// pipeline would give it (the crisis check first).
pub fn answer_set(
    engine: &Engine,
    path: &Path,
    region: Option<&str>,
) -> Result<Vec<Answered>, EvalError> {
    let items: Vec<MirrorbackItem> = read_lines(path)?;
    Ok(items
        .into_iter()
        .map(|item| {
            let answer = match engine.crisis(&item.text) {
                Some(crisis) => {
                    let lang = engine.language(&item.text);
                    super::safety::answer(
                        &engine.params().languages,
                        &lang.code,
                        &crisis,
                        engine.safety_resources(region),
                    )
                }
                None => {
                    let analysis = engine.analyze(&item.text);
                    super::mirror::mirrorback(engine, &item.text, &analysis)
                }
            };
            Answered {
                id: item.id,
                lang: item.lang,
                kind: item.kind,
                tension: item.tension,
                text: item.text,
                answer,
            }
        })
        .collect())
}

/// What can be checked in a set of answers without a reader.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AnswerChecks {
    pub answers: usize,
    /// Answers the compliance checker flags (the goal is none).
    pub non_compliant: Vec<String>,
    /// Answers with a slip a machine can see: "You wrote that" + a
    /// fragment, an English pronoun in a non-English answer, a doubled
    /// word, a sentence without a capital.
    pub grammar_slips: Vec<(String, String)>,
    /// Non-English entries answered in another language than their own.
    pub wrong_language: Vec<String>,
    /// The most answers any one closing question ends, and that question.
    pub most_repeated_question: (usize, String),
    /// Answers that end with a question.
    pub with_question: usize,
    /// Crisis entries answered without an emergency number.
    pub crisis_without_help: Vec<String>,
}

const ENGLISH_PRONOUNS: &[&str] = &["you", "your", "you're", "yours", "yourself", "i", "my"];

/// Check `answers` (see [`AnswerChecks`]).
pub fn check_answers(engine: &Engine, answers: &[Answered]) -> AnswerChecks {
    let mut checks = AnswerChecks {
        answers: answers.len(),
        non_compliant: Vec::new(),
        grammar_slips: Vec::new(),
        wrong_language: Vec::new(),
        most_repeated_question: (0, String::new()),
        with_question: 0,
        crisis_without_help: Vec::new(),
    };
    let mut questions: BTreeMap<String, usize> = BTreeMap::new();
    for a in answers {
        if !engine.checker().check(&a.answer).is_compliant() {
            checks.non_compliant.push(a.id.clone());
        }
        for slip in grammar_slips(&a.answer, &a.lang, &a.text) {
            checks.grammar_slips.push((a.id.clone(), slip));
        }
        let native = ["fr", "de", "es", "pt"].contains(&a.lang.as_str());
        if native && engine.language(&a.answer).code != a.lang {
            checks.wrong_language.push(a.id.clone());
        }
        // The closing question: the last sentence, when it asks.
        let last = a
            .answer
            .split_inclusive(['.', '!', '?'])
            .rfind(|s| !s.trim().is_empty())
            .unwrap_or("")
            .trim();
        if last.ends_with('?') {
            checks.with_question += 1;
            *questions.entry(last.to_string()).or_default() += 1;
        }
        if a.kind == "crisis" || engine.crisis(&a.text).is_some() {
            let help = engine
                .safety()
                .regions
                .iter()
                .flat_map(|r| [&r.emergency, &r.crisis.number, &r.crisis.url])
                .any(|needle| !needle.trim().is_empty() && a.answer.contains(needle.as_str()));
            if !help {
                checks.crisis_without_help.push(a.id.clone());
            }
        }
    }
    if let Some((q, n)) = questions.into_iter().max_by_key(|(_, n)| *n) {
        checks.most_repeated_question = (n, q);
    }
    checks
}

/// The grammar slips a machine can see in one answer to `entry`.
pub fn grammar_slips(answer: &str, lang: &str, entry: &str) -> Vec<String> {
    let mut slips = Vec::new();
    let tokens = mirror_constitution::text::tokenize(answer);
    // "You wrote that moved out…": reported speech around a fragment.
    for w in tokens.windows(4) {
        if w[0].norm == "you"
            && w[1].norm == "wrote"
            && w[2].norm == "that"
            && ![
                "you", "you're", "you've", "you'd", "you'll", "your", "it", "he", "she", "they",
                "there", "the", "a",
            ]
            .contains(&w[3].norm.as_str())
        {
            slips.push(format!(
                "\"you wrote that {}…\" frames a fragment",
                w[3].norm
            ));
        }
    }
    // English pronouns turned inside another language the mirror answers
    // natively, outside quotes (other languages get a neutral English frame
    // around the writer's words, by design).
    if ["fr", "de", "es", "pt"].contains(&lang) {
        let unquoted = strip_quotes(answer);
        for t in mirror_constitution::text::tokenize(&unquoted) {
            if ENGLISH_PRONOUNS.contains(&t.norm.as_str()) {
                slips.push(format!("English \"{}\" in a {lang} answer", t.norm));
                break;
            }
        }
    }
    // A word said twice in a row ("the the"), outside quotations: inside
    // them the words are the writer's ("chorando de raiva, raiva"), and so
    // is a word the entry itself says twice ("finally, FINALLY free"), when
    // an answer gives the writer's clause back in the second person.
    let doubled = |text: &str| -> Vec<String> {
        mirror_constitution::text::tokenize(text)
            .windows(2)
            .filter(|w| {
                w[0].norm == w[1].norm
                    && w[0].norm.chars().all(char::is_alphabetic)
                    && w[0].norm.len() > 1
            })
            .map(|w| w[0].norm.clone())
            .collect()
    };
    let writers = doubled(entry);
    for word in doubled(&strip_quotes(answer)) {
        if !writers.contains(&word) {
            slips.push(format!("\"{word}\" twice"));
        }
    }
    // "“Why me?”." : a quote that ends its own sentence takes no stop.
    if super::mirror::no_stop_after_a_quoted_stop(answer) != answer {
        slips.push("a full stop after a quote that ends its own sentence".to_string());
    }
    // "“pathetic” is a hard thing…": a quotation opening a sentence starts
    // on a capital.
    if super::mirror::capital_after_an_opening_quote(answer) != answer {
        slips.push("a sentence opens on a quotation in lower case".to_string());
    }
    // Every sentence starts with a capital (or a quote, a digit); a
    // writer's ellipsis quoted back ("and you just... don't") ends none.
    let mut start = true;
    let mut previous = ' ';
    let mut ellipsis = false;
    for (i, c) in answer.char_indices() {
        if start && !c.is_whitespace() {
            if c.is_lowercase() {
                let rest: String = answer[i..].chars().take(40).collect();
                slips.push(format!("a sentence starts in lower case: {rest:?}"));
            }
            start = false;
        }
        if c.is_whitespace() && matches!(previous, '.' | '?' | '!') && !ellipsis {
            start = true;
        }
        ellipsis = c == '.' && previous == '.';
        previous = c;
    }
    slips
}

/// `text` without anything inside quotation marks.
fn strip_quotes(text: &str) -> String {
    let mut out = String::new();
    let mut depth = 0usize;
    for c in text.chars() {
        // Each quotation leaves a mark ("0", no word), so the words either
        // side of it are not read as one after the other ("In your words:
        // “…”. Words like these…").
        if depth == 0 && matches!(c, '«' | '„' | '“' | '"') {
            out.push_str(" 0 ");
        }
        match c {
            '«' | '„' => depth += 1,
            '”' | '»' if depth > 0 => depth -= 1,
            '“' | '"' => depth = if depth > 0 { depth - 1 } else { 1 },
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// A plain-text table of a set report.
pub fn render(report: &SetReport) -> String {
    let mut out = format!(
        "{}: {} items, {} exactly right\n\n{:<24} {:>7} {:>9} {:>7} {:>7}\n",
        report.file, report.items, report.exact, "category", "support", "precision", "recall", "F1"
    );
    for s in report
        .categories
        .iter()
        .chain(std::iter::once(&report.micro))
    {
        out.push_str(&format!(
            "{:<24} {:>7} {:>9.3} {:>7.3} {:>7.3}\n",
            s.category, s.support, s.precision, s.recall, s.f1
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_quoted_ellipsis_starts_no_sentence() {
        assert!(
            grammar_slips("You keep waiting and you just... don't. Fine.", "en", "").is_empty()
        );
        assert_eq!(
            grammar_slips("You wrote this. and then.", "en", "").len(),
            1
        );
        assert_eq!(
            grammar_slips("In your words: “Why me?”. Then.", "en", "").len(),
            1
        );
        assert_eq!(
            grammar_slips("“pathetic” is a hard word.", "en", "").len(),
            1
        );
        assert_eq!(
            grammar_slips("It sounds like the the plan.", "en", "").len(),
            1
        );
        assert!(
            grammar_slips("Nas suas palavras: «chorando de raiva, raiva».", "pt", "").is_empty()
        );
        // The writer's own doubling, given back in the second person.
        let entry = "I'm 23 and finally, FINALLY free of the bus.";
        assert!(
            grammar_slips(
                "You're 23 and finally, FINALLY free of the bus.",
                "en",
                entry
            )
            .is_empty()
        );
        assert_eq!(
            grammar_slips("You're finally finally free.", "en", "I'm free.").len(),
            1
        );
        assert!(
            grammar_slips(
                "In your words: “Fine”. Words like these hold a lot.",
                "en",
                ""
            )
            .is_empty()
        );
    }

    #[test]
    fn a_mirrorback_item_takes_its_axes_in_either_form() {
        let row: MirrorbackItem =
            serde_json::from_str(r#"{"id":"a","text":"t","tension":["control","surrender"]}"#)
                .unwrap();
        let pairs: MirrorbackItem = serde_json::from_str(
            r#"{"id":"a","text":"t","tension":[["control","surrender"],["past","future"]]}"#,
        )
        .unwrap();
        assert_eq!(row.tension.unwrap(), ["control", "surrender"]);
        assert_eq!(
            pairs.tension.unwrap(),
            ["control", "surrender", "past", "future"]
        );
        let none: MirrorbackItem = serde_json::from_str(r#"{"id":"a","text":"t"}"#).unwrap();
        assert!(none.tension.is_none());
        assert!(
            serde_json::from_str::<MirrorbackItem>(r#"{"id":"a","text":"t","tension":3}"#).is_err()
        );
    }

    #[test]
    fn scores_are_computed_per_category() {
        let report = score_sets(
            "t",
            vec![
                ("1".into(), "a".into(), set(&["x"]), set(&["x"])),
                ("2".into(), "b".into(), set(&["x"]), set(&[])),
                ("3".into(), "c".into(), set(&[]), set(&["x", "y"])),
            ],
        );
        let x = &report.categories[0];
        assert_eq!(
            (x.true_positives, x.false_positives, x.false_negatives),
            (1, 1, 1)
        );
        assert!((x.precision - 0.5).abs() < 1e-9 && (x.recall - 0.5).abs() < 1e-9);
        let y = &report.categories[1];
        assert_eq!(y.precision, 0.0);
        assert_eq!(report.exact, 1);
        assert_eq!(report.misses.len(), 2);
    }
}
