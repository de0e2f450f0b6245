//! The reflection engine: patterns, tensions and the mirrorback.
//!
//! An [`Engine`] is built from two things a node holds: the constitution
//! (whose compliance checker every produced text must pass) and the engine
//! parameter pack (rules and templates the commons may change). Analysis is
//! deterministic and offline: the same text and pack always give the same
//! patterns and tensions.
//!
//! * [`rules`]: the matcher for the pack's phrases and rules;
//! * [`safety`]: the crisis check, which runs on new writing before
//!   anything else, and the answer the node composes for it;
//! * [`language`]: which language an entry is written in;
//! * [`Engine::analyze`]: language, patterns, tensions and the feelings
//!   named in a text;
//! * [`mirror`]: the built-in mirror, which composes a mirrorback from the
//!   person's own words;
//! * [`eval`]: precision and recall against labelled sets.

pub mod corpora;
pub mod crisis_model;
pub mod eval;
pub mod faithful;
pub mod feeling_model;
pub mod floor;
pub mod focus;
pub mod gate;
pub mod kept;
pub mod language;
pub mod linear;
pub mod llm;
pub mod mirror;
pub mod pipeline;
pub mod rules;
pub mod safety;
pub mod semantic;
pub mod sentences;
pub mod shown;
pub mod sides;
pub mod standing;
pub mod suggest;
pub mod tension_model;

use std::ops::Range;
use std::sync::{Arc, OnceLock};

use mirror_constitution::{Checker, Constitution};
use mirror_governance::params::EngineParams;

use std::collections::BTreeMap;

use language::{Detector, Language};
use rules::{CompiledRule, Doc, PhraseSet, Words};
use safety::{CompiledSafety, Crisis};

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
    /// Whether the semantic step heard it (no cues: `evidence` is the
    /// passage it was heard in) rather than the pack's lexicons.
    pub heard: bool,
    /// Heard in one window of an entry longer than the built-in model
    /// reads at once ([`tension_model::WINDOW`]): that the pull is there is
    /// the model's finding, but which two sentences carry it is its guess
    /// (blind-read on a fresh set, the pair was often a detail beside an
    /// aside), so the built-in mirror does not quote them.
    pub partial: bool,
    /// For a heard tension, the sentence that shows each side, where the
    /// [`sides`] model finds both: then `evidence` is those two sentences
    /// in the entry's order, and `partial` is false.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sides: Option<sides::Sides>,
}

/// A feeling named in the writer's own words.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct EmotionMatch {
    /// The emotion family ("fear", "pride").
    pub family: String,
    /// The words, as written.
    pub cue: String,
    /// Byte span of the cue.
    pub span: Range<usize>,
    /// Named by the feeling model alone ([`feeling_model`]): no word of
    /// the entry is its cue (`cue` is empty and `span` is `0..0`).
    pub heard: bool,
}

/// The pack's warm emotion families: named only where the entry is warm,
/// and what makes an entry a good day rather than a problem to look into.
pub(crate) const WARM_FAMILIES: &[&str] = &[
    "joy",
    "pride",
    "calm",
    "gratitude",
    "love",
    "relief",
    "hope",
];

/// Warm words for what the writer did or saw, not what they felt ("smiled
/// through the whole meeting", "a lovely view"): beside a hard feeling, or
/// a loss, they are not named as the entry's feeling.
pub(crate) const SHOWN_NOT_FELT: &[&str] = &[
    "smiled",
    "laughed",
    "fun",
    "lovely",
    "perfect",
    "amazing",
    "wonderful",
];

/// Hard families that, told just after a warm opener, show it was meant
/// the other way ("Super, je suis crevée"). Not fear or sadness: relief
/// and good news come with them sincerely ("Great, I passed. I was so
/// nervous").
const TURNING_FAMILIES: &[&str] = &["anger", "frustration", "exhaustion"];

/// Whether the warm word at token `k` opens its sentence as an
/// interjection ("Super, …", "Wonderful. …", "Genial!") and that sentence
/// or the next turns it around: a word of repetition or of the obvious
/// ("again", "évidemment", "schon wieder", "como siempre") or a hard
/// feeling ([`TURNING_FAMILIES`]). Fresh writers' sarcasm in every
/// language ("Super, le chauffe-eau a lâché. Un dimanche, évidemment")
/// was named back as joy; the pack's irony phrases only held the
/// adjacent forms ("super, encore").
fn opens_ironically(doc: &Doc, k: usize, turns: &[usize], found: &[EmotionMatch]) -> bool {
    let sentence = doc.sentence_of(k);
    if doc.sentence_tokens(sentence).start != k {
        return false;
    }
    // An interjection: the word then a pause ("Super, …"), or a
    // sentence of up to three words ("Super journée.", "Great day.").
    let after = doc.text[doc.tokens[k].span.end..].trim_start_matches([' ', '\u{a0}']);
    let short = doc.sentence_tokens(sentence).len() <= 3;
    if !short && !after.starts_with([',', '!', '.', '…']) {
        return false;
    }
    let last = (sentence + 1).min(doc.sentences.len().saturating_sub(1));
    let reach = (k + 1)..doc.sentence_tokens(last.max(sentence)).end;
    turns.iter().any(|t| reach.contains(t))
        || found.iter().any(|m| {
            TURNING_FAMILIES.contains(&m.family.as_str())
                && doc
                    .token_starting_at(m.span.start)
                    .is_some_and(|t| reach.contains(&t))
        })
}

/// Sentences an entry must have before a warm word said only as a bare
/// interjection inside it is doubted (see [`only_bare_interjections_warm`]).
const INTERJECTION_ENTRY_SENTENCES: usize = 4;

/// Words that make a short sentence a statement by the writer ("Ich bin
/// dankbar.", "Estou feliz."), not an interjection.
const WRITER_AS_SUBJECT: &[&str] = &[
    "i", "i'm", "im", "i've", "i'd", "we", "we're", "ich", "wir", "bin", "je", "j", "suis", "nous",
    "yo", "soy", "estoy", "eu", "sou", "estou", "me", "my", "mich", "mir",
];

/// Whether every warm word of a longer entry is a bare interjection in the
/// middle of it: a sentence of up to three words, neither the first nor
/// the last, without the writer as its subject ("… c'était « à toi, t'es
/// l'aîné ». Super. Ça fait trois ans…", "Schön für Sandra.", "Toll
/// gemacht, Tobias."). Said so, amid what happened, praise is as often
/// meant the other way as not, and nothing else in the entry says which: a
/// fresh writer's set had three such entries named back as "real joy" (a
/// failed exam, a speech imposed, an aunt's remark). A good day is told in
/// more words, or closes on its one ("… Ate it on toast. Lovely."). The
/// warm family is then not named; the entry is answered from the rest.
fn only_bare_interjections_warm(doc: &Doc, found: &[EmotionMatch]) -> bool {
    let n = doc.sentences.len();
    if n < INTERJECTION_ENTRY_SENTENCES {
        return false;
    }
    let mut warm = found
        .iter()
        .filter(|m| WARM_FAMILIES.contains(&m.family.as_str()))
        .peekable();
    warm.peek().is_some()
        && warm.all(|m| {
            doc.token_starting_at(m.span.start).is_some_and(|k| {
                let sentence = doc.sentence_of(k);
                let tokens = doc.sentence_tokens(sentence);
                sentence > 0
                    && sentence + 1 < n
                    && tokens.len() <= 3
                    && !doc.tokens[tokens]
                        .iter()
                        .any(|t| WRITER_AS_SUBJECT.contains(&t.norm.as_str()))
            })
        })
}

/// Everything the engine noticed in one text.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Analysis {
    pub language: Language,
    pub patterns: Vec<PatternMatch>,
    pub tensions: Vec<TensionFinding>,
    pub emotions: Vec<EmotionMatch>,
}

impl Default for Analysis {
    fn default() -> Self {
        Analysis {
            language: Language {
                code: "en".into(),
                native: true,
            },
            patterns: Vec::new(),
            tensions: Vec::new(),
            emotions: Vec::new(),
        }
    }
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
    lang: String,
    a: (String, PhraseSet),
    b: (String, PhraseSet),
    implicit: bool,
}

/// A language's emotion words and contrast markers, compiled.
struct CompiledLanguage {
    emotions: Vec<(String, PhraseSet)>,
}

/// At most this many tension suggestions come from one entry.
pub const MAX_TENSIONS: usize = 3;

/// A parameter pack compiled for matching, with the constitution's checker.
pub struct Engine {
    params: EngineParams,
    params_hash: String,
    words: Words,
    patterns: Vec<(String, Vec<CompiledRule>)>,
    axes: Vec<CompiledAxis>,
    markers: BTreeMap<String, PhraseSet>,
    languages: BTreeMap<String, CompiledLanguage>,
    detector: Detector,
    safety: CompiledSafety,
    checker: Checker,
    semantic: Option<Arc<SemanticSlot>>,
}

/// The semantic step ([`semantic`]), loaded the first time an entry needs
/// it: building the model costs more than many commands that build an
/// engine ever do.
pub struct SemanticSlot {
    load: Box<dyn Fn() -> Result<Option<semantic::Semantic>, String> + Send + Sync>,
    cell: OnceLock<Result<Option<semantic::Semantic>, String>>,
}

impl SemanticSlot {
    /// `load` gives the step, `Ok(None)` when it is not installed; an
    /// error is logged once and the engine goes on with its lexicons.
    pub fn new(
        load: impl Fn() -> Result<Option<semantic::Semantic>, String> + Send + Sync + 'static,
    ) -> SemanticSlot {
        SemanticSlot {
            load: Box::new(load),
            cell: OnceLock::new(),
        }
    }

    fn get(&self) -> Option<&semantic::Semantic> {
        let loaded = self.cell.get_or_init(|| {
            // The files were checked at install, but may be damaged on disk
            // since: a loader that panics on them must not take the entry
            // down with it.
            let loaded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (self.load)()))
                .unwrap_or_else(|_| Err("loading it panicked".into()));
            if let Err(e) = &loaded {
                tracing::warn!(
                    "the embedding model is installed but cannot be used ({e}); tensions are found by the pack's lexicons alone"
                );
            }
            loaded
        });
        loaded.as_ref().ok().and_then(Option::as_ref)
    }
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
        // The crisis check is never off: a pack made before it existed runs
        // with the genesis pack's signals and directory.
        let mut read = params.clone();
        if read.safety.is_none() {
            read.safety = EngineParams::genesis()?.safety;
        }
        // What the engine reads: the pack and the node's floor (see
        // `floor`); `params` stays the pack, whose hash runs are recorded
        // under.
        let read = floor::apply(read)?;
        let patterns = read
            .patterns
            .iter()
            .map(|(name, spec)| {
                (
                    name.clone(),
                    spec.rules.iter().map(CompiledRule::new).collect(),
                )
            })
            .collect();
        let axes = read
            .tensions
            .axes
            .iter()
            .map(|axis| CompiledAxis {
                name: axis.name.clone(),
                lang: axis.lang.clone().unwrap_or_else(|| "en".into()),
                a: (axis.a.name.clone(), PhraseSet::from_texts(&axis.a.cues)),
                b: (axis.b.name.clone(), PhraseSet::from_texts(&axis.b.cues)),
                implicit: axis.implicit_conflict,
            })
            .collect();
        // Conflict markers: the pack's English list, and each language's
        // contrast words for its own axes.
        let mut markers = BTreeMap::new();
        markers.insert(
            "en".to_string(),
            PhraseSet::from_texts(&read.tensions.conflict_markers),
        );
        for (code, lang) in &read.languages {
            if code != "en" {
                markers.insert(code.clone(), PhraseSet::from_texts(&lang.contrast));
            }
        }
        let languages = read
            .languages
            .iter()
            .map(|(code, lang)| {
                (
                    code.clone(),
                    CompiledLanguage {
                        emotions: lang
                            .emotions
                            .iter()
                            .map(|(family, cues)| (family.clone(), PhraseSet::from_texts(cues)))
                            .collect(),
                    },
                )
            })
            .collect();
        let safety_spec = read.safety.clone().ok_or_else(|| {
            mirror_governance::params::ParamsError::Invalid(
                "the genesis pack has no safety section".into(),
            )
        })?;
        Ok(Engine {
            words: Words::new(&read.words),
            markers,
            languages,
            detector: Detector::new(&read.languages),
            safety: CompiledSafety::new(safety_spec),
            params_hash: params.hash(),
            params,
            patterns,
            axes,
            checker,
            semantic: None,
        })
    }

    /// This engine with the semantic step (see [`semantic`]).
    pub fn with_semantic(mut self, slot: Arc<SemanticSlot>) -> Engine {
        self.semantic = Some(slot);
        self
    }

    /// Whether the semantic step is installed and loads.
    pub fn has_semantic(&self) -> bool {
        self.semantic.as_ref().is_some_and(|s| s.get().is_some())
    }

    /// Tensions the semantic step hears in an English entry, added after
    /// the lexicons' (which say where the poles are, so they come first),
    /// on axes they did not find, up to [`MAX_TENSIONS`].
    fn add_heard(&self, text: &str, found: &mut Vec<TensionFinding>) {
        let Some(semantic) = self.semantic.as_ref().and_then(|s| s.get()) else {
            return;
        };
        if found.len() >= MAX_TENSIONS {
            return;
        }
        let heard = match semantic.tensions(text) {
            Ok(heard) => heard,
            Err(e) => {
                tracing::warn!("the semantic step failed on an entry ({e})");
                return;
            }
        };
        for h in heard {
            let score = f64::from(h.score);
            self.push_heard(
                found,
                text,
                "en",
                (h.axis_a, h.axis_b),
                score,
                h.passage,
                false,
            );
        }
    }

    /// Tensions the built-in model ([`tension_model`]) hears, where the
    /// lexicons found none.
    fn add_model_heard(&self, text: &str, lang: &str, found: &mut Vec<TensionFinding>) {
        // Only where the lexicons found none: beside a named pull, the model
        // added a second axis the entry did not hold ("close to my dad, but
        // … I lose myself" is not also self against others).
        if !found.is_empty() {
            return;
        }
        for h in tension_model::builtin().hear(text) {
            let axis = (h.axis_a, h.axis_b);
            self.push_heard(found, text, lang, axis, h.score, h.passage, !h.whole);
        }
    }

    /// A tension heard without cue words (`evidence` is the passage it was
    /// heard in), added to `found` unless it holds [`MAX_TENSIONS`]
    /// already, has that axis, or the pack has no such axis in `lang`.
    #[allow(clippy::too_many_arguments)]
    fn push_heard(
        &self,
        found: &mut Vec<TensionFinding>,
        text: &str,
        lang: &str,
        (axis_a, axis_b): (String, String),
        intensity: f64,
        evidence: String,
        partial: bool,
    ) {
        if found.len() >= MAX_TENSIONS
            || found
                .iter()
                .any(|f| f.axis_a == axis_a && f.axis_b == axis_b)
        {
            return;
        }
        let Some(axis) = self
            .axes
            .iter()
            .find(|a| a.lang == lang && a.a.0 == axis_a && a.b.0 == axis_b)
        else {
            return;
        };
        // Which sentence shows which side, where each is shown clearly:
        // then those two are the evidence, however far apart, in place of
        // the passage the pull was heard in.
        let sides = sides::AXES
            .iter()
            .position(|&(a, b)| a == axis_a && b == axis_b)
            .and_then(|k| sides::builtin().find(text, k));
        let (evidence, partial) = match &sides {
            Some(s) if s.a_first => (format!("{} {}", s.a, s.b), false),
            Some(s) => (format!("{} {}", s.b, s.a), false),
            None => (evidence, partial),
        };
        found.push(TensionFinding {
            name: axis.name.clone(),
            axis_a,
            axis_b,
            position: 0.0,
            intensity,
            evidence,
            cues_a: Vec::new(),
            cues_b: Vec::new(),
            heard: true,
            partial,
            sides,
        });
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

    /// Language, patterns, tensions and named feelings in `text`.
    pub fn analyze(&self, text: &str) -> Analysis {
        self.analyze_weighed(
            text,
            Some((feeling_model::builtin(), feeling_model::SETTING)),
        )
    }

    /// [`Engine::analyze`], with the lexicons' feelings weighed by `weigh`
    /// (a feeling model and its thresholds, see
    /// [`feeling_model::Model::weigh`]) or, with `None`, as the lexicons
    /// found them (for a side by side: `mirror eval feelings
    /// --lexicons-only`, the engine bench).
    pub fn analyze_weighed(
        &self,
        text: &str,
        weigh: Option<(&feeling_model::Model, feeling_model::Setting)>,
    ) -> Analysis {
        // Sentences addressed to the machine are not the writer's: nothing
        // is read into them ([`focus`]). Blanked in place, so every span
        // found still points into `text`.
        let directives = focus::directives(text);
        let reading = focus::blank(text, &directives);
        // The entry's language is the writer's, set-aside sentences and
        // all: a Spanish entry that is mostly a role-play request ("Haz
        // como que eres mi abuela…") is answered in Spanish, not in the
        // fallback a few words left would give.
        let language = if directives.is_empty() {
            None
        } else {
            Some(self.detector.detect(text, &Doc::new(text).tokens))
        };
        let text = reading.as_str();
        let doc = Doc::new(text);
        let language = language.unwrap_or_else(|| self.detector.detect(text, &doc.tokens));
        // Rules are read in the entry's language; an entry in a language
        // the pack does not know is read with none (nothing is guessed).
        let lang = language.code.clone();
        let patterns = self.find_patterns(&doc, &lang);
        let mut tensions = self.find_tensions(&doc, &lang);
        self.add_model_heard(text, &lang, &mut tensions);
        if lang == "en" {
            self.add_heard(text, &mut tensions);
        }
        let (mut emotions, set_aside) = self.find_emotions(&doc, &lang);
        // A loss the lexicon found ("Gran's funeral was today", "Biscuit
        // died Tuesday"), even one the feeling model weighs out below: a
        // laugh at the wake beside it is not a good day ("I laughed and
        // then had to go sit in the car" was answered "This sounds like a
        // good one", set 46m judged blind). Only the laugh: the lexicon's
        // loss may be another kind ("lost my voice" at a concert), and a
        // warm feeling the model hears in the entry stays.
        let loss = emotions.iter().any(|e| e.family == "grief");
        // An entry that acts out a pull between two things without naming
        // a mixed feeling is not a happy one because a warm word appears in
        // it ("everyone's so excited about the new house… tonight I walked
        // round the old one"): its warm words are not named as its feeling.
        let mixed = patterns.iter().any(|p| p.pattern == "internal_tension");
        let no_warm = !tensions.is_empty() && !mixed;
        if no_warm {
            emotions.retain(|e| !WARM_FAMILIES.contains(&e.family.as_str()));
        }
        if let Some((model, setting)) = weigh
            && self.languages.contains_key(&lang)
        {
            let stated: Vec<bool> = emotions.iter().map(|e| stated(&doc, &e.span)).collect();
            let mut weighed = model.weigh(text, &found_of(&emotions), setting, !set_aside);
            for (kept, stated) in weighed.kept.iter_mut().zip(stated) {
                *kept |= stated;
            }
            weigh_feelings(weighed, &mut emotions, no_warm);
        }
        if loss {
            emotions.retain(|e| {
                !WARM_FAMILIES.contains(&e.family.as_str())
                    || !SHOWN_NOT_FELT.contains(&e.cue.to_lowercase().as_str())
            });
        }
        Analysis {
            patterns,
            tensions,
            emotions,
            language,
        }
    }

    /// The crisis check (see [`safety`]): acute risk in `text`, in any of
    /// the pack's languages.
    pub fn crisis(&self, text: &str) -> Option<Crisis> {
        let doc = Doc::new(text);
        self.safety.check(&doc, &self.words)
    }

    /// What the trained scorer made of `text` (see
    /// [`safety::CompiledSafety::scorer_trace`]), for an evaluation's
    /// missed entries.
    pub fn crisis_trace(&self, text: &str) -> String {
        self.safety.scorer_trace(&Doc::new(text), &self.words)
    }

    /// The crisis check's data in force: signals, directory.
    pub fn safety(&self) -> &mirror_governance::params::SafetySpec {
        self.safety.spec()
    }

    /// Where help is for `region` (see [`safety::CompiledSafety::resources`]).
    pub fn safety_resources(&self, region: Option<&str>) -> safety::Resources<'_> {
        self.safety.resources(region)
    }

    /// Which language `text` is in.
    pub fn language(&self, text: &str) -> Language {
        let doc = Doc::new(text);
        self.detector.detect(text, &doc.tokens)
    }

    /// The feelings the lexicons find in the writer's own words, and
    /// whether any match was set aside (asked, negated, wished, someone
    /// else's, or turned by irony).
    fn find_emotions(&self, doc: &Doc, lang: &str) -> (Vec<EmotionMatch>, bool) {
        /// The pack's family of ironic markers, and the warm families irony
        /// turns around.
        const IRONY: &str = "irony";
        /// The pack's words that turn a warm opener around.
        const IRONY_TURN: &str = "irony_turn";
        /// Words that look like a feeling and are not one ("laughed too",
        /// "passed the ketchup"): they claim their stretch of words from a
        /// shorter cue, and are never named.
        const NOT_FELT: &str = "not_felt";
        /// Families named only when the feeling is the writer's: grief,
        /// longing and loneliness are about someone else by nature ("Dad
        /// died"). Fear and tiredness are often told of someone else ("she's
        /// eight and terrified of deep water", "said he was fine, just
        /// tired"), and given back as the writer's they misread the entry.
        const OWN_FAMILIES: &[&str] = &[
            "fear",
            "exhaustion",
            "joy",
            "pride",
            "calm",
            "gratitude",
            "love",
            "relief",
            "hope",
            "sadness",
        ];
        let Some(compiled) = self.languages.get(lang) else {
            return (Vec::new(), false);
        };
        let mut found: Vec<EmotionMatch> = Vec::new();
        let mut set_aside = false;
        // Words that turn a warm opener around ("again", "of course"):
        // a reading aid, never a feeling.
        let mut turns: Vec<usize> = Vec::new();
        for (family, set) in &compiled.emotions {
            if family == IRONY_TURN {
                turns.extend(set.find_all(doc, &self.words).into_iter().map(|r| r.start));
                continue;
            }
            for range in set.find_all(doc, &self.words) {
                // A feeling asked about is wished for, not felt ("why can't
                // I just be happy?").
                if doc.is_question(range.start) {
                    set_aside = true;
                    continue;
                }
                // A negated feeling is not the writer's ("not sad").
                // One or two words back: "haven't laughed", "not really happy".
                let negated = (range.start.saturating_sub(2)..range.start).any(|k| {
                    let before = doc.tokens[k].norm.as_str();
                    matches!(
                        before,
                        "not"
                            | "haven't"
                            | "hasn't"
                            | "hadn't"
                            | "can't"
                            | "couldn't"
                            | "won't"
                            | "wouldn't"
                            | "never"
                            | "no"
                            | "isn't"
                            | "wasn't"
                            | "don't"
                            | "didn't"
                            | "pas"
                            | "nicht"
                            | "kein"
                            | "keine"
                            | "no_"
                            | "nem"
                            | "nunca"
                    ) && doc.sentence_of(k) == doc.sentence_of(range.start)
                });
                if negated {
                    set_aside = true;
                    continue;
                }
                // A feeling the writer means to be is not one they have
                // ("I'll be the calm parent", "I just want to be happy").
                let norm = |k: usize| doc.tokens[k].norm.as_str();
                let wished = range.start >= 1
                    && (norm(range.start - 1) == "be"
                        || (range.start >= 2
                            && norm(range.start - 2) == "be"
                            && matches!(
                                norm(range.start - 1),
                                "the" | "a" | "an" | "more" | "so" | "less" | "really" | "just"
                            )));
                if wished {
                    set_aside = true;
                    continue;
                }
                // Someone else's feeling is not named as the writer's ("the
                // staff are lovely" is not joy in an entry about worry, "he's
                // been struggling" not the writer's sadness).
                if OWN_FAMILIES.contains(&family.as_str())
                    && doc.feeling_of_someone_else(&self.words, range.start)
                {
                    set_aside = true;
                    continue;
                }
                let span = doc.span(range);
                found.push(EmotionMatch {
                    family: family.clone(),
                    cue: doc.text[span.clone()].to_string(),
                    span,
                    heard: false,
                });
            }
        }
        found.sort_by(|a, b| (a.span.start, &a.family).cmp(&(b.span.start, &b.family)));
        // One family per stretch of words: the longest cue claims it.
        let mut kept: Vec<EmotionMatch> = Vec::new();
        for m in found {
            if let Some(prev) = kept.last()
                && prev.span.end > m.span.start
            {
                if m.span.len() > prev.span.len() {
                    kept.pop();
                } else {
                    continue;
                }
            }
            kept.push(m);
        }
        if kept.iter().any(|m| m.family == NOT_FELT) {
            set_aside = true;
            kept.retain(|m| m.family != NOT_FELT);
        }
        // Irony ("oh great", "love that for me") turns the warm words of
        // the entry around: they are not named as felt, and the irony
        // itself is only a reading aid, never named.
        let opened_ironically = kept.iter().any(|m| {
            WARM_FAMILIES.contains(&m.family.as_str())
                && doc
                    .token_starting_at(m.span.start)
                    .is_some_and(|k| opens_ironically(doc, k, &turns, &kept))
        });
        if opened_ironically || kept.iter().any(|m| m.family == IRONY) {
            set_aside = true;
            kept.retain(|m| m.family != IRONY && !WARM_FAMILIES.contains(&m.family.as_str()));
        }
        if only_bare_interjections_warm(doc, &kept) {
            set_aside = true;
            kept.retain(|m| !WARM_FAMILIES.contains(&m.family.as_str()));
        }
        (kept, set_aside)
    }

    fn find_patterns(&self, doc: &Doc, lang: &str) -> Vec<PatternMatch> {
        let mut found = Vec::new();
        // Someone else's words hold their patterns, not the writer's: not
        // counted, named or reflected as the writer's own. Except an
        // obligation: one that others place on the writer is the writer's
        // pressure ("Mum says I have to visit more").
        let reported = doc.reported(&self.words);
        for (name, rules) in &self.patterns {
            for rule in rules.iter().filter(|r| r.lang == lang) {
                for range in doc.rule_matches(&self.words, rule) {
                    if name != "obligation_language"
                        && reported.get(range.start).copied().unwrap_or(false)
                    {
                        continue;
                    }
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

    fn find_tensions(&self, doc: &Doc, lang: &str) -> Vec<TensionFinding> {
        let overlaps = |x: &Range<usize>, y: &Range<usize>| x.start < y.end && y.start < x.end;
        // Where the conflict markers are, by sentence.
        let marker_sentences: Vec<usize> = self
            .markers
            .get(lang)
            .map(|m| m.find_all(doc, &self.words))
            .unwrap_or_default()
            .into_iter()
            .map(|r| doc.sentence_of(r.start))
            .collect();
        let marker_count = marker_sentences.len();
        // (finding, how close its poles sit: sentences apart)
        let mut found: Vec<(TensionFinding, usize)> = Vec::new();
        for axis in self.axes.iter().filter(|a| a.lang == lang) {
            // An axis may be listed twice (narrow and broad cues): once found
            // is enough.
            if found
                .iter()
                .any(|(f, _)| f.axis_a == axis.a.0 && f.axis_b == axis.b.0)
            {
                continue;
            }
            let mut a = axis.a.1.find_all(doc, &self.words);
            let mut b = axis.b.1.find_all(doc, &self.words);
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
            let contrasted_at = |s: usize| marker_sentences.contains(&s);
            // The evidence is one passage: the closest pair of a cue for
            // each pole, preferring a pair whose passage holds a marker.
            let mut best: Option<(bool, usize, usize, usize)> = None;
            for ra in &a {
                let sa = doc.sentence_of(ra.start);
                for rb in &b {
                    let sb = doc.sentence_of(rb.start);
                    let (lo, hi) = (sa.min(sb), sa.max(sb));
                    if hi - lo > 2 {
                        continue;
                    }
                    // Two many-word cues side by side ("the flat to myself",
                    // "the two of us") set the poles against each other
                    // without a marker word.
                    let strong = ra.len() >= 2 && rb.len() >= 2;
                    let marked = strong || (lo..=hi).any(contrasted_at);
                    let key = (marked, hi - lo, lo, hi);
                    let better = match best {
                        None => true,
                        Some((m, d, _, _)) => (marked && !m) || (marked == m && hi - lo < d),
                    };
                    if better {
                        best = Some(key);
                    }
                }
            }
            let Some((marked, distance, lo, hi)) = best else {
                continue;
            };
            if !axis.implicit && !marked {
                continue;
            }
            let in_passage = |r: &Range<usize>| (lo..=hi).contains(&doc.sentence_of(r.start));
            let a: Vec<Range<usize>> = a.into_iter().filter(in_passage).collect();
            let b: Vec<Range<usize>> = b.into_iter().filter(in_passage).collect();
            let (na, nb) = (a.len() as f64, b.len() as f64);
            let evidence = (lo..=hi)
                .map(|s| doc.text[doc.sentences[s].clone()].trim())
                .collect::<Vec<_>>()
                .join(" ");
            let text_of = |r: &Range<usize>| doc.text[doc.span(r.clone())].to_string();
            found.push((
                TensionFinding {
                    name: axis.name.clone(),
                    axis_a: axis.a.0.clone(),
                    axis_b: axis.b.0.clone(),
                    position: ((nb - na) / (na + nb)).clamp(-1.0, 1.0),
                    intensity: (0.4
                        + 0.1 * (marker_count.min(4) as f64)
                        + 0.05 * (na + nb).min(4.0))
                    .clamp(0.0, 1.0),
                    evidence,
                    cues_a: a.iter().map(text_of).collect(),
                    cues_b: b.iter().map(text_of).collect(),
                    heard: false,
                    partial: false,
                    sides: None,
                },
                distance,
            ));
        }
        // The closest-knit tensions first; at most a few per entry, so a
        // long entry is not answered with one suggestion per axis.
        found.sort_by(|(x, dx), (y, dy)| {
            dx.cmp(dy)
                .then(y.intensity.total_cmp(&x.intensity))
                .then(x.evidence.len().cmp(&y.evidence.len()))
        });
        found.truncate(MAX_TENSIONS);
        found.into_iter().map(|(f, _)| f).collect()
    }

    /// How the pack describes a pattern to the person.
    pub fn observation(&self, pattern: &str) -> Option<&str> {
        self.params
            .patterns
            .get(pattern)
            .map(|p| p.observation.as_str())
    }
}

/// The lexicons' feelings as [`feeling_model::Model::weigh`] reads them.
fn found_of(emotions: &[EmotionMatch]) -> Vec<(&str, Range<usize>)> {
    emotions
        .iter()
        .map(|e| (e.family.as_str(), e.span.clone()))
        .collect()
}

/// The feeling model's say on the lexicons' feelings (see
/// [`feeling_model`]): those it does not hear in their words are dropped,
/// and the family it names where none is left is added (not a warm one
/// where `no_warm`). A named family has no cue, so it comes last, after
/// the lexicons' feelings in the order of their cues.
/// How a writer says a feeling is theirs, just before its word ("I was
/// so angry", "je suis épuisée", "ich bin dankbar", "me da vergüenza",
/// "estou com saudades"), each a run of normalised words.
const STATING: &[&[&str]] = &[
    &["i'm"],
    &["im"],
    &["i", "am"],
    &["i", "was"],
    &["i", "feel"],
    &["i", "felt"],
    &["i've", "been"],
    &["i'm", "feeling"],
    &["i", "was", "feeling"],
    &["makes", "me"],
    &["made", "me"],
    &["je", "suis"],
    &["j'étais"],
    &["je", "me", "sens"],
    &["je", "me", "sentais"],
    &["ich", "bin"],
    &["ich", "war"],
    &["bin", "ich"],
    &["war", "ich"],
    &["ich", "fühle", "mich"],
    &["fühle", "ich", "mich"],
    &["estoy"],
    &["estaba"],
    &["me", "siento"],
    &["me", "sentí"],
    &["me", "da"],
    &["me", "dio"],
    &["estou"],
    &["estava"],
    &["estou", "com"],
    &["sinto-me"],
    &["me", "sinto"],
    &["fiquei"],
];

/// Words between a stating phrase and the feeling ("I was *so* angry",
/// "je suis *vraiment* épuisée").
const DEGREE: &[&str] = &[
    "so",
    "really",
    "still",
    "very",
    "just",
    "absolutely",
    "completely",
    "totally",
    "a",
    "bit",
    "little",
    "quite",
    "pretty",
    "too",
    "such",
    "tellement",
    "vraiment",
    "très",
    "trop",
    "encore",
    "si",
    "sehr",
    "echt",
    "total",
    "wirklich",
    "noch",
    "immer",
    "muy",
    "tan",
    "todavía",
    "aún",
    "un",
    "poco",
    "muito",
    "tão",
    "ainda",
    "bem",
    "mesmo",
    "tanta",
    "tanto",
];

/// Whether the feeling whose cue starts at byte `span.start` is stated as
/// the writer's own: the model weighing the words around it may not drop
/// it. Over a fresh writer's entry it dropped "I was so angry" and "I'm
/// still furious" and kept a child's tears as the writer's sadness.
fn stated(doc: &Doc, span: &Range<usize>) -> bool {
    let Some(k) = doc.token_starting_at(span.start) else {
        return false;
    };
    let sentence = doc.sentence_of(k);
    let mut end = k;
    while end > 0
        && doc.sentence_of(end - 1) == sentence
        && DEGREE.contains(&doc.tokens[end - 1].norm.as_str())
        && k - end < 3
    {
        end -= 1;
    }
    STATING.iter().any(|phrase| {
        let start = end.saturating_sub(phrase.len());
        end >= phrase.len()
            && doc.sentence_of(start) == sentence
            && phrase
                .iter()
                .zip(&doc.tokens[start..end])
                .all(|(w, t)| t.norm == *w)
            // "I think I'm content, which isn't the same thing" weighs the
            // feeling rather than stating it, and "she asked if I'm happy"
            // asks it: the model decides.
            && !(start > 0
                && doc.sentence_of(start - 1) == sentence
                && HEDGES.contains(&doc.tokens[start - 1].norm.as_str()))
    })
}

/// Words that, just before "I'm …", make a feeling a guess, a question or
/// a condition rather than a statement ("she asked if I'm happy", "when
/// I'm tired").
const HEDGES: &[&str] = &[
    "think",
    "guess",
    "suppose",
    "maybe",
    "probably",
    "perhaps",
    "if",
    "whether",
    "when",
    "pense",
    "crois",
    "si",
    "quand",
    "glaube",
    "vielleicht",
    "ob",
    "wenn",
    "creo",
    "supongo",
    "quizás",
    "cuando",
    "acho",
    "talvez",
    "se",
    "quando",
];

fn weigh_feelings(
    weighed: feeling_model::Weighed,
    emotions: &mut Vec<EmotionMatch>,
    no_warm: bool,
) {
    debug_assert_eq!(weighed.kept.len(), emotions.len());
    let mut kept = weighed.kept.into_iter();
    emotions.retain(|_| kept.next().unwrap_or(true));
    if let Some((family, _)) = weighed.named
        && !(no_warm && WARM_FAMILIES.contains(&family))
    {
        emotions.push(EmotionMatch {
            family: family.to_string(),
            cue: String::new(),
            span: 0..0,
            heard: true,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(text: &str) -> Vec<String> {
        Engine::genesis().unwrap().analyze(text).pattern_names()
    }

    #[test]
    fn a_feeling_the_writer_states_is_theirs() {
        // Written for this test, not taken from an evaluation set.
        let e = Engine::genesis().unwrap();
        let text = "A woman in the queue shouted at Maya because her scooter touched \
                    the trolley. Called her a brat in front of everyone. I was so angry \
                    my hands were shaking. Maya cried all the way home. I'm still \
                    furious tonight.";
        let families: Vec<String> = e
            .analyze(text)
            .emotions
            .into_iter()
            .map(|m| m.family)
            .collect();
        assert!(families.contains(&"anger".to_string()), "{families:?}");
        // Maya's tears are hers: a name at the start of a sentence is
        // someone else, when the entry writes it capitalised elsewhere.
        assert!(!families.contains(&"sadness".to_string()), "{families:?}");
        let doc = Doc::new("She asked if I'm happy. I think I'm content. I'm so tired.");
        let at = |word: &str| {
            let k = doc.tokens.iter().position(|t| t.norm == word).unwrap();
            doc.tokens[k].span.clone()
        };
        assert!(!stated(&doc, &at("happy")));
        assert!(!stated(&doc, &at("content")));
        assert!(stated(&doc, &at("tired")));
        let doc = Doc::new("Me da vergüenza. Ich bin so dankbar.");
        let at = |word: &str| {
            let k = doc.tokens.iter().position(|t| t.norm == word).unwrap();
            doc.tokens[k].span.clone()
        };
        assert!(stated(&doc, &at("vergüenza")));
        assert!(stated(&doc, &at("dankbar")));
    }

    #[test]
    fn being_fed_up_and_swamped_are_heard_in_every_language() {
        // Sentences written for this test, not taken from an evaluation set.
        // The other four languages named no frustration and no overwhelm:
        // "fed up" was anger there, and "swamped" nothing.
        let e = Engine::genesis().unwrap();
        let has =
            |text: &str, family: &str| e.analyze(text).emotions.iter().any(|m| m.family == family);
        for (text, family) in [
            (
                "Schon wieder Stau auf der A8, ich bin so genervt.",
                "frustration",
            ),
            ("Encore une panne de wifi, j'en ai marre.", "frustration"),
            (
                "Otra reunión que pudo ser un correo, estoy harta.",
                "frustration",
            ),
            (
                "Mais uma vez o ônibus atrasou, estou de saco cheio.",
                "frustration",
            ),
            (
                "Drei Abgaben diese Woche, ich bin total überfordert.",
                "overwhelm",
            ),
            (
                "Trois dossiers à rendre pour lundi, je suis débordée.",
                "overwhelm",
            ),
            ("Tres entregas esta semana y estoy agobiada.", "overwhelm"),
            (
                "Três prazos esta semana, estou sobrecarregada.",
                "overwhelm",
            ),
        ] {
            assert!(has(text, family), "{family} in {text:?}");
            assert!(!has(text, "anger"), "anger in {text:?}");
        }
        // Overtaken on the road is not overwhelmed.
        assert!(!has("On a dépassé Lyon vers midi.", "overwhelm"));
    }

    #[test]
    fn words_that_only_look_like_a_feeling_are_not_named() {
        // Sentences written for this test, not taken from an evaluation set.
        let e = Engine::genesis().unwrap();
        let families = |text: &str| -> Vec<String> {
            e.analyze(text)
                .emotions
                .into_iter()
                .map(|m| m.family)
                .collect()
        };
        let has = |text: &str, family: &str| families(text).iter().any(|f| f == family);
        // A laugh that goes along with someone else's is not joy.
        assert!(!has(
            "The coach joked that I run like a fridge. Everyone laughed. I laughed too.",
            "joy"
        ));
        assert!(!has(
            "She made the comment again and I laughed it off.",
            "joy"
        ));
        assert!(!has("Se burló de mi acento y me reí también.", "joy"));
        assert!(!has(
            "Mi hermano hizo el asado y no se le quemó el vacío.",
            "sadness"
        ));
        assert!(has("Desde que se fue siento un vacío enorme.", "sadness"));
        assert!(has("We laughed for an hour at the pub quiz.", "joy"));
        // A laugh after ", and then" with no subject of its own is the one
        // who spoke before it; the writer's own tears stay the writer's.
        assert!(!has(
            "Ravi said it in front of the whole team, and then laughed like it was nothing.",
            "joy"
        ));
        assert!(!has(
            "Dad made a joke about my hair and then laughed.",
            "joy"
        ));
        assert!(!has("Ravi said it twice and then laughed.", "joy"));
        assert!(!has(
            "'I love that coat,' she said at the bus stop, and then smiled.",
            "joy"
        ));
        assert!(has(
            "I told my sister, and then cried in the car.",
            "sadness"
        ));
        assert!(has(
            "Told Ravi about the move, and then cried in the car.",
            "sadness"
        ));
        assert!(has("When Ravi left, I went upstairs and cried.", "sadness"));
        assert!(has(
            "Finally finished the report and cried at my desk.",
            "sadness"
        ));
        assert!(has("Yesterday went to the gym and cried after.", "sadness"));
        // Passing the salt is not an exam passed.
        assert!(!has(
            "I passed the salt and said nothing all dinner.",
            "pride"
        ));
        assert!(has("I passed the exam! Second try.", "pride"));
        assert!(has("I passed my driving test this morning.", "pride"));
        // Tears of joy are joy's.
        for text in [
            "Cried happy tears in arrivals when she walked through the gate.",
            "Lloré de alegría cuando me dieron la noticia.",
            "Chorei de alegria quando ouvi a voz dele.",
            "Hier soir, j'ai pleuré de joie en lisant la lettre de ma fille.",
            "Ich habe vor Freude geweint, als sie anrief.",
        ] {
            let found = families(text);
            assert!(found.iter().any(|f| f == "joy"), "{text}: {found:?}");
            assert!(!found.iter().any(|f| f == "sadness"), "{text}: {found:?}");
        }
        // Someone else's tears are theirs, in the names a family calls them.
        assert!(!has(
            "The letter came this morning. Mam cried, gran cried.",
            "sadness"
        ));
    }

    #[test]
    fn being_alone_is_loneliness_only_where_it_is_felt() {
        // Sentences written for these tests, not taken from any eval set.
        let lonely = |text: &str| {
            Engine::genesis()
                .unwrap()
                .analyze(text)
                .emotions
                .iter()
                .any(|m| m.family == "loneliness")
        };
        assert!(lonely("Since she moved out I feel so alone in the flat."));
        assert!(lonely(
            "Ate dinner by myself again and scrolled until midnight."
        ));
        assert!(lonely("Nobody to call on a Sunday night."));
        assert!(!lonely(
            "Hiked the ridge alone this morning and loved every minute."
        ));
        assert!(!lonely("He can't pay the rent alone, so we split it."));
        assert!(!lonely(
            "I took the night bus by myself for the first time."
        ));
    }

    #[test]
    fn going_back_to_something_is_named_as_mattering() {
        // Sentences written for these tests, not taken from any eval set.
        let engine = Engine::genesis().unwrap();
        let answer = |text: &str| mirror::mirrorback(&engine, text, &engine.analyze(text));
        let dwelling = engine.params().languages["en"].phrases["dwelling"].clone();
        let dwelt = answer(
            "The job offer from Glasgow came on Monday. I've read the contract five times and closed the laptop each time. Made soup.",
        );
        assert!(
            dwelling.iter().any(|d| dwelt.contains(d.as_str())),
            "{dwelt}"
        );
        let done = answer(
            "Drove for two hours to my brother's. We fixed the fence and ate chips in the van.",
        );
        assert!(
            !dwelling.iter().any(|d| done.contains(d.as_str())),
            "{done}"
        );
        // A pet put down is grief, not a habit to be named.
        let pet = engine.analyze("Had to have Juno put down today. Kept looking at her bowl.");
        assert!(pet.emotions.iter().any(|e| e.family == "grief"));
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
        // "Like an idiot" is a verdict where it says what the writer feels
        // or seems, not where it tells how something was done.
        assert_eq!(names("I feel like an idiot."), ["self_judgment"]);
        assert_eq!(
            names("Honestly I looked like a complete fool."),
            ["self_judgment"]
        );
        assert!(names("Sat in the station car park like an idiot for ten minutes.").is_empty());
        assert_eq!(
            names("Fumbled the whole handover like a total idiot."),
            ["self_judgment"]
        );
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
        // A hopeful "what if" is not a worry.
        assert!(names("What if it works, though? What if it goes well?").is_empty());
        assert!(names("What if there's an explanation for the late nights?").is_empty());
        // Portuguese "e se calhar" is "and maybe", not "and what if".
        assert!(
            !names("A Marta disse que ele não fez por mal, e se calhar não fez.")
                .contains(&"future_anxiety".to_string())
        );
        assert!(
            names("E se eu perder o emprego no próximo mês?")
                .contains(&"future_anxiety".to_string())
        );
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
