//! The compliance checker: does a text reflect, or does it prescribe?
//!
//! Every text the engine produces passes through [`Checker::check`] before
//! it is stored or shown. Three things are looked for, each defined by the
//! constitution's `compliance.toml`:
//!
//! * **explicit advice**: phrases that tell the reader what to do ("you
//!   should", "I suggest", "try to", "make sure"), suggestions dressed as
//!   possibilities ("you might want to", "it would be good to"), and
//!   instructions: a clause that opens with a verb addressed to the reader
//!   ("Call her tomorrow.", "Maybe apologise.", "Tonight, just sleep.");
//! * **outcome optimisation**: steering toward results ("will help you",
//!   "leads to", "so that you can", "the key to");
//! * **directive density**: directive words ("should", "must", "need to", …,
//!   a multi-word phrase counting once) above the constitution's threshold
//!   share of all words.
//!
//! What the person wrote is theirs, not the Mirror's. Words in quotation
//! marks ("you wrote 'should'") and words reported after "you wrote",
//! "you said", "your mom says" … are neither flagged nor counted as
//! directive. Questions are the Mirror's natural voice and are not advice,
//! except for advice asked as a question ("why don't you…").
//!
//! The result carries every flag with the byte spans of the words that
//! raised it, so a caller can show (or a regeneration prompt can name)
//! exactly what was wrong.

mod indirect;

use std::ops::Range;

use serde::Deserialize;

pub use indirect::IndirectLexicon;

use crate::text::{Token, tokenize};

/// The kinds of violation, in the order the constitution lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FlagKind {
    ExplicitAdvice,
    OutcomeOptimization,
    Directive,
}

impl FlagKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FlagKind::ExplicitAdvice => "explicit_advice",
            FlagKind::OutcomeOptimization => "outcome_optimization",
            FlagKind::Directive => "directive",
        }
    }
}

/// One violation, with where it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Flag {
    pub kind: FlagKind,
    /// Byte spans of the offending words in the checked text.
    pub spans: Vec<Range<usize>>,
    /// The offending words, as written.
    pub evidence: String,
    /// Which rule raised it (a phrase from the lexicon, or "imperative").
    pub rule: String,
}

/// The checker's verdict on one text.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub flags: Vec<Flag>,
    /// Words in the text.
    pub words: usize,
    /// Directive words counted (quoted and reported words excluded).
    pub directive_words: usize,
    pub directive_density: f64,
    pub threshold: f64,
}

impl Report {
    pub fn is_compliant(&self) -> bool {
        self.flags.is_empty()
    }

    /// The distinct kinds raised, sorted, as their constitution names.
    pub fn flag_names(&self) -> Vec<&'static str> {
        let mut names: Vec<&'static str> = self.flags.iter().map(|f| f.kind.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        names
    }

    /// One line per flag, for a regeneration instruction or a log.
    pub fn describe(&self) -> String {
        self.flags
            .iter()
            .map(|f| format!("{}: \"{}\"", f.kind.as_str(), f.evidence))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// The lexicon, as written in `compliance.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lexicon {
    pub directive_threshold: f64,
    pub directive_terms: Vec<String>,
    pub explicit_advice: AdviceLexicon,
    pub outcome_optimization: PhraseList,
    pub reported_speech: ReportedSpeech,
    /// Advice in the forms models give when told not to advise (absent
    /// from constitutions older than it, which then check without it).
    #[serde(default)]
    pub indirect_advice: IndirectLexicon,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdviceLexicon {
    pub phrases: Vec<String>,
    pub question_phrases: Vec<String>,
    pub suggestion_modals: Vec<String>,
    pub imperative_verbs: Vec<String>,
    pub softeners: Vec<String>,
    pub negative_imperatives: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhraseList {
    pub phrases: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportedSpeech {
    pub you_verbs: Vec<String>,
    pub third_party_verbs: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum LexiconError {
    #[error("compliance.toml: {0}")]
    Parse(String),
    #[error("compliance.toml: directive_threshold must be between 0 and 1, got {0}")]
    Threshold(f64),
    #[error("compliance.toml: empty phrase in {0}")]
    EmptyPhrase(&'static str),
}

/// A phrase as normalised words.
type Phrase = Vec<String>;

fn phrases(list: &[String], field: &'static str) -> Result<Vec<Phrase>, LexiconError> {
    let mut out: Vec<Phrase> = list
        .iter()
        .map(|p| tokenize(p).into_iter().map(|t| t.norm).collect::<Vec<_>>())
        .collect();
    if out.iter().any(Vec::is_empty) {
        return Err(LexiconError::EmptyPhrase(field));
    }
    // Longest first, so "you should've" wins over "you should".
    out.sort_by_key(|p| std::cmp::Reverse(p.len()));
    Ok(out)
}

fn words(list: &[String]) -> Vec<String> {
    list.iter()
        .map(|w| crate::text::normalize_word(w.trim()))
        .collect()
}

/// A compiled lexicon, ready to check texts.
#[derive(Debug, Clone)]
pub struct Checker {
    threshold: f64,
    directive: Vec<Phrase>,
    advice: Vec<Phrase>,
    question_advice: Vec<Phrase>,
    suggestion_modals: Vec<String>,
    imperative_verbs: Vec<String>,
    softeners: Vec<String>,
    negative_imperatives: Vec<Phrase>,
    outcome: Vec<Phrase>,
    you_verbs: Vec<String>,
    third_party_verbs: Vec<Phrase>,
    indirect: indirect::Indirect,
}

const PRONOUNS: &[&str] = &["i", "you", "we", "they", "he", "she", "it", "that", "this"];

/// Words after which a verb belongs to an inner clause, not to a subject.
const INNER_CLAUSE: &[&str] = &[
    "i", "you", "we", "they", "he", "she", "it", "that", "this", "which", "what", "who", "there",
    "when", "if", "where", "while", "until",
];

/// Verbs and auxiliaries that, right after a sentence's first word, show the
/// first word is a noun subject ("Sleep alone might not touch it"), not an
/// instruction ("Sleep now.").
const SUBJECT_SIGNS: &[&str] = &[
    "is", "was", "are", "were", "has", "had", "will", "would", "can", "could", "might", "may",
    "must", "should", "seems", "seemed", "sounds", "sounded", "feels", "felt", "looks", "looked",
    "comes", "came", "became", "becomes", "matters", "means", "meant", "gets", "got", "keeps",
    "kept", "isn't", "wasn't", "won't", "can't", "doesn't", "didn't", "hasn't", "itself", "alone",
    "'s",
];

impl Checker {
    pub fn from_toml(text: &str) -> Result<Checker, LexiconError> {
        let lexicon: Lexicon =
            toml::from_str(text).map_err(|e| LexiconError::Parse(e.message().to_string()))?;
        Checker::new(&lexicon)
    }

    pub fn new(lexicon: &Lexicon) -> Result<Checker, LexiconError> {
        let threshold = lexicon.directive_threshold;
        if !(0.0..=1.0).contains(&threshold) {
            return Err(LexiconError::Threshold(threshold));
        }
        let advice = &lexicon.explicit_advice;
        Ok(Checker {
            threshold,
            directive: phrases(&lexicon.directive_terms, "directive_terms")?,
            advice: phrases(&advice.phrases, "explicit_advice.phrases")?,
            question_advice: phrases(&advice.question_phrases, "question_phrases")?,
            suggestion_modals: words(&advice.suggestion_modals),
            imperative_verbs: words(
                &[
                    &advice.imperative_verbs[..],
                    &lexicon.indirect_advice.imperative_verbs[..],
                ]
                .concat(),
            ),
            softeners: words(
                &[
                    &advice.softeners[..],
                    &lexicon.indirect_advice.softeners[..],
                ]
                .concat(),
            ),
            negative_imperatives: phrases(&advice.negative_imperatives, "negative_imperatives")?,
            outcome: phrases(
                &lexicon.outcome_optimization.phrases,
                "outcome_optimization",
            )?,
            you_verbs: words(&lexicon.reported_speech.you_verbs),
            third_party_verbs: phrases(
                &lexicon.reported_speech.third_party_verbs,
                "third_party_verbs",
            )?,
            indirect: indirect::Indirect::new(&lexicon.indirect_advice)?,
        })
    }

    pub fn threshold(&self) -> f64 {
        self.threshold
    }

    /// Check one text.
    pub fn check(&self, text: &str) -> Report {
        let tokens = tokenize(text);
        let layout = Layout::new(text, &tokens);
        let mut flags = Vec::new();
        let quoted = |i: usize| layout.quoted[i];

        // Which words are the person's: quoted, or reported after a frame.
        let mut theirs: Vec<bool> = layout.quoted.clone();
        for i in 0..tokens.len() {
            // "you wrote", "you also wrote", "you once said".
            let verb_at = match tokens.get(i + 1).map(|t| t.norm.as_str()) {
                Some("also" | "just" | "even" | "once" | "then" | "already" | "often") => i + 2,
                _ => i + 1,
            };
            let frame_end = if tokens[i].norm == "you"
                && tokens
                    .get(verb_at)
                    .is_some_and(|t| self.you_verbs.contains(&t.norm))
                && layout.clause_of[i] == layout.clause_of[verb_at]
            {
                Some(verb_at + 1)
            } else {
                self.third_party_verbs
                    .iter()
                    .find(|p| matches_at(&tokens, i, p))
                    .filter(|_| i > 0 && tokens[i - 1].norm != "you")
                    .map(|p| i + p.len())
            };
            if let Some(start) = frame_end {
                let mut j = start;
                while j < tokens.len() && !layout.ends_report(j) {
                    theirs[j] = true;
                    j += 1;
                }
            }
        }

        // And what they are considering: "you wonder whether a break would help".
        self.indirect
            .mark_considerations(&tokens, &layout, &mut theirs);

        let words = tokens.len();
        let mut directive_spans = Vec::new();
        let mut i = 0;
        while i < tokens.len() {
            match self.directive.iter().find(|p| matches_at(&tokens, i, p)) {
                Some(p) if !(i..i + p.len()).any(|j| theirs[j]) => {
                    directive_spans.push(tokens[i].span.start..tokens[i + p.len() - 1].span.end);
                    i += p.len();
                }
                _ => i += 1,
            }
        }
        let directive_words = directive_spans.len();
        let density = if words == 0 {
            0.0
        } else {
            directive_words as f64 / words as f64
        };
        if density > self.threshold {
            flags.push(Flag {
                kind: FlagKind::Directive,
                evidence: directive_spans
                    .iter()
                    .map(|s| &text[s.clone()])
                    .collect::<Vec<_>>()
                    .join(", "),
                spans: directive_spans,
                rule: format!("density {density:.2} > {:.2}", self.threshold),
            });
        }

        // Phrase matches for advice and outcomes, outside the person's words.
        // "something you have to justify" describes; it does not instruct.
        let described = |i: usize| {
            tokens[i].norm == "you"
                && i > 0
                && matches!(
                    tokens[i - 1].norm.as_str(),
                    "something" | "anything" | "everything" | "nothing"
                )
        };
        let mut phrase_flag = |kind: FlagKind, list: &[Phrase], in_questions: bool| {
            let mut i = 0;
            while i < tokens.len() {
                let hit = list.iter().find(|p| matches_at(&tokens, i, p));
                match hit {
                    Some(p)
                        if !(i..i + p.len()).any(|j| theirs[j])
                            && !described(i)
                            && (in_questions || !layout.in_question(i)) =>
                    {
                        let span = tokens[i].span.start..tokens[i + p.len() - 1].span.end;
                        flags.push(Flag {
                            kind,
                            evidence: text[span.clone()].to_string(),
                            spans: vec![span],
                            rule: p.join(" "),
                        });
                        i += p.len();
                    }
                    _ => i += 1,
                }
            }
        };
        phrase_flag(FlagKind::ExplicitAdvice, &self.advice, false);
        phrase_flag(FlagKind::ExplicitAdvice, &self.question_advice, true);
        phrase_flag(FlagKind::OutcomeOptimization, &self.outcome, false);

        // "you might keep it by the bed": a modal suggestion of an action.
        for i in 0..tokens.len().saturating_sub(2) {
            if tokens[i].norm == "you"
                && self.suggestion_modals.contains(&tokens[i + 1].norm)
                && self.imperative_verbs.contains(&tokens[i + 2].norm)
                && !(i..i + 3).any(|j| theirs[j])
                && !layout.in_question(i)
            {
                let span = tokens[i].span.start..tokens[i + 2].span.end;
                flags.push(Flag {
                    kind: FlagKind::ExplicitAdvice,
                    evidence: text[span.clone()].to_string(),
                    spans: vec![span],
                    rule: "suggestion".into(),
                });
            }
        }

        // Instructions: a clause that opens (after softeners) with a verb.
        for clause in &layout.clauses {
            if clause.question || clause.tokens.is_empty() {
                continue;
            }
            let mut k = clause.tokens.start;
            while k < clause.tokens.end && self.softeners.contains(&tokens[k].norm) {
                k += 1;
            }
            // A short lead-in ending in a comma ("For now,", "If it feels
            // right,") does not change what follows it.
            if let Some(comma) =
                (k + 1..clause.tokens.end.min(k + 9)).find(|&j| layout.comma_before(j))
            {
                let verb_like = self.imperative_verbs.contains(&tokens[k].norm);
                if !verb_like {
                    k = comma;
                    while k < clause.tokens.end && self.softeners.contains(&tokens[k].norm) {
                        k += 1;
                    }
                }
            }
            if k >= clause.tokens.end || quoted(k) || theirs[k] {
                continue;
            }
            let negative = self
                .negative_imperatives
                .iter()
                .find(|p| matches_at(&tokens, k, p) && k + p.len() < clause.tokens.end);
            let (verb_at, start) = match negative {
                Some(p) => (k + p.len(), k),
                None => (k, k),
            };
            if verb_at >= clause.tokens.end {
                continue;
            }
            // After "Don't"/"Never" any verb instructs ("Don't beat yourself
            // up"), unless a subject follows ("Don't you think…").
            let verb = tokens[verb_at].norm.as_str();
            let instructs = if negative.is_some() {
                !PRONOUNS.contains(&verb)
            } else {
                self.imperative_verbs.iter().any(|v| v == verb)
            };
            if !instructs {
                continue;
            }
            // "Let me …" is the Mirror speaking of itself.
            if tokens[verb_at].norm == "let"
                && tokens.get(verb_at + 1).is_some_and(|t| t.norm == "me")
            {
                continue;
            }
            // "Practice at the piano sounds like…": a verb a few words on,
            // not belonging to an inner clause ("Rest when it feels right").
            let looks_like_subject = (verb_at + 1..(verb_at + 5).min(clause.tokens.end))
                .take_while(|&j| !layout.comma_before(j))
                .any(|j| {
                    SUBJECT_SIGNS.contains(&tokens[j].norm.as_str())
                        && !INNER_CLAUSE.contains(&tokens[j - 1].norm.as_str())
                });
            if looks_like_subject && negative.is_none() {
                continue;
            }
            let span = tokens[start].span.start..tokens[verb_at].span.end;
            flags.push(Flag {
                kind: FlagKind::ExplicitAdvice,
                evidence: text[span.clone()].to_string(),
                spans: vec![span],
                rule: "imperative".into(),
            });
        }

        flags.extend(
            self.indirect
                .flags(text, &tokens, &layout, &theirs, &self.imperative_verbs),
        );

        flags.sort_by_key(|f| (f.spans.first().map_or(0, |s| s.start), f.kind));
        Report {
            flags,
            words,
            directive_words,
            directive_density: density,
            threshold: self.threshold,
        }
    }
}

fn matches_at(tokens: &[Token], i: usize, phrase: &[String]) -> bool {
    i + phrase.len() <= tokens.len()
        && phrase
            .iter()
            .enumerate()
            .all(|(k, w)| tokens[i + k].norm == *w)
}

/// A clause: a run of tokens between `. ! ? ; : newline`.
struct Clause {
    tokens: Range<usize>,
    /// The sentence it belongs to ends with a question mark.
    question: bool,
}

/// Where sentences and clauses start and end, and which words are quoted.
struct Layout {
    clauses: Vec<Clause>,
    clause_of: Vec<usize>,
    /// Token indices where a reported span must stop (clause starts after a
    /// sentence or `;` boundary, and ", so"/", but").
    report_stops: Vec<bool>,
    commas: Vec<bool>,
    quoted: Vec<bool>,
}

impl Layout {
    fn new(text: &str, tokens: &[Token]) -> Layout {
        // Boundaries between consecutive tokens, from the text in between.
        let gap = |i: usize| -> &str {
            let from = if i == 0 { 0 } else { tokens[i - 1].span.end };
            &text[from..tokens[i].span.start]
        };
        let mut clauses: Vec<Clause> = Vec::new();
        let mut clause_of = vec![0; tokens.len()];
        let mut report_stops = vec![false; tokens.len()];
        let commas: Vec<bool> = (0..tokens.len())
            .map(|i| i > 0 && gap(i).contains(','))
            .collect();
        let mut start = 0;
        for i in 0..=tokens.len() {
            let boundary = if i == tokens.len() {
                true
            } else if i == 0 {
                false
            } else {
                let g = gap(i);
                let sentence = g.contains(['.', '!', '?', '\n']);
                // ", so ask…" starts a new instruction as surely as a full stop.
                let joined = g.contains(',')
                    && matches!(tokens[i].norm.as_str(), "so" | "then" | "and")
                    && i + 1 < tokens.len();
                let clause = sentence || g.contains([';', ':']) || joined;
                if sentence || g.contains(';') {
                    report_stops[i] = true;
                }
                if g.contains(',') && matches!(tokens[i].norm.as_str(), "so" | "but" | "yet") {
                    report_stops[i] = true;
                }
                clause
            };
            if boundary && i > start {
                clauses.push(Clause {
                    tokens: start..i,
                    question: false,
                });
                start = i;
            }
        }
        // A clause is in a question when its sentence ends with '?'.
        let sentence_end = |end_token: usize| -> Option<char> {
            let from = tokens[end_token - 1].span.end;
            let to = tokens.get(end_token).map_or(text.len(), |t| t.span.start);
            text[from..to]
                .chars()
                .find(|c| matches!(c, '.' | '!' | '?' | '\n'))
        };
        let mut pending: Vec<usize> = Vec::new();
        for c in 0..clauses.len() {
            pending.push(c);
            let end = clauses[c].tokens.end;
            match sentence_end(end) {
                Some(mark) => {
                    for p in pending.drain(..) {
                        clauses[p].question = mark == '?';
                    }
                }
                None if c + 1 == clauses.len() => {
                    pending.clear();
                }
                None => {}
            }
        }
        for (c, clause) in clauses.iter().enumerate() {
            for t in clause.tokens.clone() {
                clause_of[t] = c;
            }
        }
        Layout {
            clauses,
            clause_of,
            report_stops,
            commas,
            quoted: quoted_tokens(text, tokens),
        }
    }

    fn in_question(&self, token: usize) -> bool {
        self.clauses
            .get(self.clause_of[token])
            .is_some_and(|c| c.question)
    }

    fn ends_report(&self, token: usize) -> bool {
        self.report_stops[token]
    }

    /// Whether a comma stands between token `i - 1` and token `i`.
    fn comma_before(&self, i: usize) -> bool {
        self.commas[i]
    }
}

/// Which tokens sit inside quotation marks: "…", “…”, ‘…’, or '…' (single
/// quotes only when they open before a word and close after one, so
/// apostrophes in "you're" never count).
fn quoted_tokens(text: &str, tokens: &[Token]) -> Vec<bool> {
    let mut ranges: Vec<Range<usize>> = Vec::new();
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let at = |k: usize| chars.get(k).map(|(_, c)| *c);
    let mut open: Option<(usize, char)> = None;
    for (k, &(pos, c)) in chars.iter().enumerate() {
        let before = if k == 0 { None } else { at(k - 1) };
        let after = at(k + 1);
        let word_before = before.is_some_and(|b| b.is_alphanumeric());
        let word_after = after.is_some_and(|a| a.is_alphanumeric());
        match (open, c) {
            (None, '"') | (None, '“') => open = Some((pos, c)),
            (None, '‘') => open = Some((pos, c)),
            (None, '\'') if !word_before && word_after => open = Some((pos, c)),
            (Some((from, '"')), '"') | (Some((from, '“')), '”') => {
                ranges.push(from..pos);
                open = None;
            }
            (Some((from, '‘')), '’') | (Some((from, '\'')), '\'') if !word_after => {
                ranges.push(from..pos);
                open = None;
            }
            _ => {}
        }
    }
    tokens
        .iter()
        .map(|t| {
            ranges
                .iter()
                .any(|r| r.start < t.span.start && t.span.end <= r.end)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checker() -> Checker {
        Checker::from_toml(crate::COMPLIANCE_TOML).expect("the constitution's lexicon parses")
    }

    fn flags(text: &str) -> Vec<&'static str> {
        checker().check(text).flag_names()
    }

    #[test]
    fn advice_and_instructions_are_flagged_with_spans() {
        let c = checker();
        let text = "It sounds heavy. You should call her tomorrow.";
        let report = c.check(text);
        assert_eq!(report.flag_names(), ["explicit_advice"]);
        let span = report.flags[0].spans[0].clone();
        assert_eq!(&text[span], "You should");
        assert_eq!(
            flags("Take a break. You’ve earned it."),
            ["explicit_advice"]
        );
        assert_eq!(flags("Tonight, just sleep."), ["explicit_advice"]);
        assert_eq!(
            flags("Maybe apologise to him over breakfast."),
            ["explicit_advice"]
        );
        assert_eq!(
            flags("Don't beat yourself up over it."),
            ["explicit_advice"]
        );
        assert_eq!(flags("You might keep it by the bed."), ["explicit_advice"]);
    }

    #[test]
    fn the_persons_own_words_are_not_the_mirrors() {
        assert!(flags("You wrote that you 'should' call your sister more.").is_empty());
        assert!(flags("You said you have to finish the report by Friday.").is_empty());
        assert!(flags("You mentioned your mom says you must come home for Easter.").is_empty());
        assert!(flags("I notice you wrote “I should be grateful” twice.").is_empty());
        // But advice after the report is still advice.
        assert_eq!(
            flags("You said you’re tired, so you should rest."),
            ["explicit_advice"]
        );
    }

    #[test]
    fn questions_and_descriptions_are_compliant() {
        assert!(
            flags("What would it mean to let yourself rest, even for an afternoon?").is_empty()
        );
        assert!(flags("It sounds like part of you needs rest.").is_empty());
        assert!(flags("You seem tired in a way that sleep alone might not touch.").is_empty());
        assert!(flags("Let me reflect back what I heard.").is_empty());
        assert_eq!(flags("Why don't you call her?"), ["explicit_advice"]);
    }

    #[test]
    fn outcomes_and_density() {
        assert_eq!(
            flags("Naming your grief will help you heal faster."),
            ["outcome_optimization"]
        );
        let report = checker().check("You must rest. You must eat. You need to sleep more.");
        assert_eq!(report.directive_words, 3);
        assert!(report.flag_names().contains(&"directive"));
        // "need to" counts once, as one directive term.
        let report = checker().check("need to");
        assert_eq!((report.words, report.directive_words), (2, 1));
    }

    /// Sentences written for these tests (not from any evaluation set), in
    /// the many shapes advice takes, and mirrorbacks that only look risky.
    #[test]
    fn advice_in_its_many_disguises_is_caught() {
        for text in [
            "Go for a walk and clear your head.",
            "Stop being so hard on yourself.",
            "Remember that you are loved.",
            "Just breathe.",
            "You need to set boundaries with him.",
            "It's important to take time for yourself.",
            "I'd encourage you to reach out to a friend.",
            "The best thing you can do is rest.",
            "If I were you, I'd quit.",
            "Why not try journaling before bed?",
            "Have you considered therapy?",
            "Write three things you're grateful for each night.",
            "Focus on what you can control.",
            "Give yourself permission to rest.",
            "Never settle for less than you deserve.",
            "Be gentle with yourself today.",
            "Let go of what you can't change.",
            "You could try a warm bath.",
            "Please don't give up.",
            "It sounds hard. For now, rest.",
            "Notice how often the word never appears.",
        ] {
            let found = flags(text);
            assert!(
                found.contains(&"explicit_advice"),
                "missed advice in {text:?}: {found:?}"
            );
        }
        for text in [
            "Being honest with her will help you move on.",
            "Talking to someone could help you feel lighter.",
            "Consistency is the key to lasting change.",
            "Taking breaks leads to better focus.",
            "Set an alarm so you can wake up on time.",
        ] {
            let found = flags(text);
            assert!(
                found.contains(&"outcome_optimization"),
                "missed outcome in {text:?}: {found:?}"
            );
        }
    }

    #[test]
    fn mirrorbacks_that_only_look_risky_pass() {
        for text in [
            "You wrote that you need to get out more. It sounds like the walls are closing in.",
            "It sounds like rest has been hard to come by.",
            "What would it feel like to say no this time?",
            "There's a lot of 'should' in this entry.",
            "I notice you described yourself as 'always late'.",
            "You said you must get it right. I wonder where that pressure comes from.",
            "Part of you seems to want closeness, and part of you wants space.",
            "Your sister says you have to come to the wedding. That sounds like a lot of pressure.",
            "Sleep seems to have been scarce this week.",
            "You mentioned wanting to try yoga.",
            "It sounds like you keep trying to make everyone happy.",
            "Rest sounds like something you have been longing for.",
            "Keeping it all together sounds exhausting.",
            "Letting go seems to feel like giving up.",
            "You don't have to have it figured out.",
            "I wonder what would happen if you let yourself rest.",
            "Maybe you're right about that.",
            "So much of this entry is about other people.",
            "How does it feel to read this back?",
        ] {
            let report = checker().check(text);
            assert!(
                report.is_compliant(),
                "{text:?} flagged: {}",
                report.describe()
            );
        }
    }

    /// The forms models give when told not to advise (written for this
    /// test, one or two per shape of `[indirect_advice]`).
    #[test]
    fn indirect_advice_is_caught() {
        for text in [
            "A long soak might be just what you need after that shift.",
            "It could be good to sleep on the decision.",
            "Fresh air would probably do you good.",
            "Drawing is a great way to quiet a busy head.",
            "How about a slow morning on Saturday?",
            "Have you considered simply asking him?",
            "What if you just cancelled the trip?",
            "Could a night off help?",
            "The writer must stop apologising for everything.",
            "This author would benefit from a break.",
            "Most people in your position would turn the offer down.",
            "Many tired parents find that an early night helps.",
            "Go easy on yourself this week.",
            "In your shoes, I'd say yes.",
            "I'd phone the school tomorrow.",
            "The sensible move is to wait a week.",
            "The answer here is to rest.",
            "Replaying the call won't help.",
            "It's important that you look after yourself.",
        ] {
            let found = flags(text);
            assert!(
                found.contains(&"explicit_advice"),
                "missed indirect advice in {text:?}: {found:?}"
            );
        }
    }

    /// Their look-alikes: the person's own considerations, reported speech
    /// and open questions about experience.
    #[test]
    fn the_persons_considerations_are_theirs() {
        for text in [
            "You keep wondering whether an early night would help.",
            "You're asking yourself if it might be time to sell the car.",
            "Your brother's advice to let it go seems to sting.",
            "You said the long soak was just what you needed.",
            "What would a slow morning be like for you?",
            "How does the thought of cancelling the trip sit with you?",
            "Most of this entry is about your brother.",
            "Anyone reading this would hear how much you care.",
            "The writer in you seems to want room.",
            "Resting sounds like something you have to earn.",
            "It sounds like the walk did you good.",
            "Going easy on yourself does not seem to come naturally.",
        ] {
            let report = checker().check(text);
            assert!(
                report.is_compliant(),
                "{text:?} flagged: {}",
                report.describe()
            );
        }
    }

    #[test]
    fn word_boundaries_hold() {
        // "shoulder" is not "should"; "musty" is not "must".
        let report = checker().check("Your shoulder and the musty basement.");
        assert_eq!(report.directive_words, 0);
    }
}
