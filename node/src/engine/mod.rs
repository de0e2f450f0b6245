//! The reflection engine: patterns, tensions and the mirrorback.
//!
//! An [`Engine`] is built from two things a node holds: the constitution
//! (whose compliance checker every produced text must pass) and the engine
//! parameter pack (rules and templates the commons may change). Analysis is
//! deterministic and offline: the same text and pack always give the same
//! patterns and tensions.
//!
//! * [`rules`]: the matcher for the pack's phrases and rules;
//! * [`Engine::analyze`]: patterns and tensions in a text;
//! * [`mirror`]: the built-in mirror, which composes a mirrorback from the
//!   person's own words;
//! * [`eval`]: precision and recall against labelled sets.

pub mod eval;
pub mod llm;
pub mod mirror;
pub mod pipeline;

pub mod rules;

use std::ops::Range;

use mirror_constitution::{Checker, Constitution};
use mirror_governance::params::EngineParams;

use rules::{CompiledRule, Doc, Phrase, Words, compile_phrases};

/// Where a pattern was found.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PatternMatch {
    pub pattern: String,
    pub rule: String,
    /// Byte span of the cue in the text.
    pub span: Range<usize>,
    /// The words that triggered it.
    pub cue: String,
    /// The sentence it sits in.
    pub evidence: String,
}

/// A tension found between two poles of a template axis.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TensionFinding {
    pub name: String,
    pub axis_a: String,
    pub axis_b: String,
    /// -1 toward `axis_a`, +1 toward `axis_b`: which pole the text gives
    /// more words to.
    pub position: f64,
    pub intensity: f64,
    /// The sentences that evoke the two poles.
    pub evidence: String,
    pub cues_a: Vec<String>,
    pub cues_b: Vec<String>,
}

/// Everything the engine noticed in one text.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Analysis {
    pub patterns: Vec<PatternMatch>,
    pub tensions: Vec<TensionFinding>,
}

impl Analysis {
    /// Distinct pattern names, sorted.
    pub fn pattern_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.patterns.iter().map(|m| m.pattern.clone()).collect();
        names.sort();
        names.dedup();
        names
    }
}

struct CompiledAxis {
    name: String,
    a: (String, Vec<Phrase>),
    b: (String, Vec<Phrase>),
    implicit: bool,
}

/// A parameter pack compiled for matching, with the constitution's checker.
pub struct Engine {
    params: EngineParams,
    params_hash: String,
    words: Words,
    patterns: Vec<(String, Vec<CompiledRule>)>,
    axes: Vec<CompiledAxis>,
    markers: Vec<Phrase>,
    checker: Checker,
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Constitution(#[from] mirror_constitution::ConstitutionError),
    #[error(transparent)]
    Params(#[from] mirror_governance::params::ParamsError),
}

impl Engine {
    pub fn new(constitution: &Constitution, params: EngineParams) -> Result<Engine, EngineError> {
        params.validate()?;
        let checker = constitution.checker()?;
        let patterns = params
            .patterns
            .iter()
            .map(|(name, spec)| {
                (
                    name.clone(),
                    spec.rules.iter().map(CompiledRule::new).collect(),
                )
            })
            .collect();
        let axes = params
            .tensions
            .axes
            .iter()
            .map(|axis| CompiledAxis {
                name: axis.name.clone(),
                a: (axis.a.name.clone(), compile_phrases(&axis.a.cues)),
                b: (axis.b.name.clone(), compile_phrases(&axis.b.cues)),
                implicit: axis.implicit_conflict,
            })
            .collect();
        Ok(Engine {
            words: Words::new(&params.words),
            markers: compile_phrases(&params.tensions.conflict_markers),
            params_hash: params.hash(),
            params,
            patterns,
            axes,
            checker,
        })
    }

    /// The genesis constitution and parameter pack.
    pub fn genesis() -> Result<Engine, EngineError> {
        Engine::new(&Constitution::genesis(), EngineParams::genesis()?)
    }

    pub fn params(&self) -> &EngineParams {
        &self.params
    }

    pub fn params_hash(&self) -> &str {
        &self.params_hash
    }

    pub fn checker(&self) -> &Checker {
        &self.checker
    }

    /// "builtin-<pack version>", recorded with every mirrorback.
    pub fn version(&self) -> String {
        format!("builtin-{}", self.params.version)
    }

    /// Patterns and tensions in `text`.
    pub fn analyze(&self, text: &str) -> Analysis {
        let doc = Doc::new(text);
        Analysis {
            patterns: self.find_patterns(&doc),
            tensions: self.find_tensions(&doc),
        }
    }

    fn find_patterns(&self, doc: &Doc) -> Vec<PatternMatch> {
        let mut found = Vec::new();
        for (name, rules) in &self.patterns {
            for rule in rules {
                for range in doc.rule_matches(&self.words, rule) {
                    let span = doc.span(range.clone());
                    found.push(PatternMatch {
                        pattern: name.clone(),
                        rule: rule.id.clone(),
                        cue: doc.text[span.clone()].to_string(),
                        span,
                        evidence: doc.sentence_text(range.start).to_string(),
                    });
                }
            }
        }
        found.sort_by(|a, b| (a.span.start, &a.pattern).cmp(&(b.span.start, &b.pattern)));
        found
    }

    fn find_tensions(&self, doc: &Doc) -> Vec<TensionFinding> {
        // Phrases come longest first, so a longer phrase claims its words
        // before a shorter one inside it can.
        let hits = |phrases: &[Phrase]| -> Vec<Range<usize>> {
            let mut out: Vec<Range<usize>> = Vec::new();
            for p in phrases {
                for i in doc.find_all(&self.words, p) {
                    let r = i..i + p.len();
                    if !out.iter().any(|o| o.start < r.end && r.start < o.end) {
                        out.push(r);
                    }
                }
            }
            out.sort_by_key(|r| r.start);
            out
        };
        let overlaps = |x: &Range<usize>, y: &Range<usize>| x.start < y.end && y.start < x.end;
        // Where the conflict markers are, by sentence.
        let marker_sentences: Vec<usize> = self
            .markers
            .iter()
            .flat_map(|m| doc.find_all(&self.words, m).collect::<Vec<_>>())
            .map(|i| doc.sentence_of(i))
            .collect();
        let marker_count = marker_sentences.len();
        let mut found: Vec<TensionFinding> = Vec::new();
        for axis in &self.axes {
            // An axis may be listed twice (narrow and broad cues): once found
            // is enough.
            if found
                .iter()
                .any(|f| f.axis_a == axis.a.0 && f.axis_b == axis.b.0)
            {
                continue;
            }
            let mut a = hits(&axis.a.1);
            let mut b = hits(&axis.b.1);
            // One stretch of words cannot stand for both poles: where they
            // overlap, the longer phrase is the one meant ("can't control"
            // is surrender, not control).
            let a_all = a.clone();
            a.retain(|ra| !b.iter().any(|rb| overlaps(ra, rb) && rb.len() > ra.len()));
            b.retain(|rb| {
                !a_all
                    .iter()
                    .any(|ra| overlaps(ra, rb) && ra.len() >= rb.len())
            });
            if a.is_empty() || b.is_empty() {
                continue;
            }
            // The poles must be set against each other: a conflict marker in
            // a sentence that evokes one of them (not anywhere in a long text).
            let pole_sentences: Vec<usize> = a
                .iter()
                .chain(b.iter())
                .map(|r| doc.sentence_of(r.start))
                .collect();
            let contrasted = marker_sentences.iter().any(|s| pole_sentences.contains(s));
            if !axis.implicit && !contrasted {
                continue;
            }
            let (na, nb) = (a.len() as f64, b.len() as f64);
            let mut sentences = vec![doc.sentence_of(a[0].start), doc.sentence_of(b[0].start)];
            sentences.sort_unstable();
            sentences.dedup();
            let evidence = sentences
                .iter()
                .map(|s| doc.text[doc.sentences[*s].clone()].trim())
                .collect::<Vec<_>>()
                .join(" ");
            let text_of = |r: &Range<usize>| doc.text[doc.span(r.clone())].to_string();
            found.push(TensionFinding {
                name: axis.name.clone(),
                axis_a: axis.a.0.clone(),
                axis_b: axis.b.0.clone(),
                position: ((nb - na) / (na + nb)).clamp(-1.0, 1.0),
                intensity: (0.4 + 0.1 * (marker_count.min(4) as f64) + 0.05 * (na + nb).min(4.0))
                    .clamp(0.0, 1.0),
                evidence,
                cues_a: a.iter().map(text_of).collect(),
                cues_b: b.iter().map(text_of).collect(),
            });
        }
        found
    }

    /// How the pack describes a pattern to the person.
    pub fn observation(&self, pattern: &str) -> Option<&str> {
        self.params
            .patterns
            .get(pattern)
            .map(|p| p.observation.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(text: &str) -> Vec<String> {
        Engine::genesis().unwrap().analyze(text).pattern_names()
    }

    #[test]
    fn patterns_respect_negation_hedging_and_subjects() {
        // Sentences written for these tests, not taken from any eval set.
        assert_eq!(
            names("I have to call the landlord before noon."),
            ["obligation_language"]
        );
        assert!(names("I don't have to call anyone today.").is_empty());
        assert!(names("The train should be on time tonight.").is_empty());
        assert!(names("He must be freezing out there.").is_empty());
        assert_eq!(names("Nobody ever asks how I am."), ["absolute_thinking"]);
        assert!(names("I almost never eat breakfast.").is_empty());
        assert!(names("Finally, overall, it went well.").is_empty());
        assert_eq!(names("I'm such a failure at this."), ["self_judgment"]);
        assert!(names("I'm not a failure, I just had a bad day.").is_empty());
        assert_eq!(
            names("We used to bake bread on Sundays."),
            ["past_reference"]
        );
        assert!(names("I'm not used to the quiet yet.").is_empty());
        assert_eq!(
            names("What if the flight gets cancelled?"),
            ["future_anxiety"]
        );
        assert!(names("I'm no longer worried about the move.").is_empty());
    }

    #[test]
    fn matches_carry_spans_and_evidence() {
        let engine = Engine::genesis().unwrap();
        let text = "Long day. I should’ve left earlier.";
        let analysis = engine.analyze(text);
        let m = &analysis.patterns[0];
        assert_eq!(m.pattern, "obligation_language");
        assert_eq!(&text[m.span.clone()], "should’ve");
        assert_eq!(m.evidence, "I should’ve left earlier.");
    }
}
