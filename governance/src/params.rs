//! The engine's parameters: what the commons can change by proposal.
//!
//! The reflection engine's behaviour that is not constitutional lives here
//! as data: the prompt templates for language models, the rules that detect
//! patterns, the tension templates with their pole lexicons, and a few
//! thresholds. A release carries a whole parameter pack; a node applies it
//! and the engine behaves accordingly, with no new code.
//!
//! **Rules.** A pattern is a list of [`PatternRule`]s. A rule fires where one
//! of its cue phrases occurs and every condition holds: a subject of the
//! right kind ([`SubjectRule`]), context required or forbidden just before
//! or after the cue ([`Context`]), another phrase elsewhere in the text, and
//! whether questions count. Phrases are words separated by spaces, matched
//! on whole normalised words; a few token classes stand for open sets:
//!
//! * `<num>`: a number written in digits;
//! * `<past>`: a past-tense verb (ending in "-ed" or listed in
//!   `words.irregular_past`);
//! * `<name>`: a capitalised word that does not start its sentence;
//! * `<any>`: any one word;
//! * `stem*`: any word starting with `stem` (at least three letters), so
//!   `plan*` matches "plan", "planned" and "planner".
//!
//! **Canonical form.** A pack's identity is blake3 over its JSON encoding
//! (field order fixed by the types, lists in their given order), so every
//! node computes the same pack hash.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The default pack every node starts with: the engine's rules
/// (`genesis.toml`), the crisis check and its answers (`safety.toml`), the
/// helpline directory (`helplines.toml`) and the language data for each
/// language the built-in mirror answers in natively (`lang-*.toml`). They
/// are one TOML document, kept in several files so each can be read and
/// reviewed on its own.
pub const GENESIS_PARAMS_TOML: &str = concat!(
    include_str!("../params/genesis.toml"),
    "\n",
    include_str!("../params/safety.toml"),
    "\n",
    include_str!("../params/helplines.toml"),
    "\n",
    include_str!("../params/lang-en.toml"),
    "\n",
    include_str!("../params/lang-fr.toml"),
    "\n",
    include_str!("../params/lang-de.toml"),
    "\n",
    include_str!("../params/lang-es.toml"),
    "\n",
    include_str!("../params/lang-pt.toml"),
);

/// The languages the built-in mirror answers in natively. Every genesis
/// pack carries language data for each.
pub const NATIVE_LANGUAGES: &[&str] = &["en", "fr", "de", "es", "pt"];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineParams {
    /// Increases with every release that changes the pack.
    pub version: u64,
    pub prompts: Prompts,
    /// Pattern name → its rules. Names are lowercase identifiers.
    pub patterns: BTreeMap<String, PatternSpec>,
    pub tensions: TensionSpec,
    pub words: WordClasses,
    pub thresholds: Thresholds,
    /// What telemetry may carry (the metric registry).
    pub telemetry: crate::telemetry::TelemetryRegistry,
    /// The crisis check, its answers and the helpline directory. A pack
    /// without it (made before it existed) runs with the genesis pack's:
    /// the check is never off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub safety: Option<SafetySpec>,
    /// Language data by ISO 639-1 code: what the built-in mirror needs to
    /// detect a language and answer in it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub languages: BTreeMap<String, LanguageSpec>,
}

/// Prompt templates for language-model engines. `{reflection}`,
/// `{patterns}` and `{tensions}` are replaced; every prompt must itself pass
/// the constitution's compliance checker (invariant I2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prompts {
    pub system: String,
    pub user: String,
    /// Added to the system prompt when regenerating after a violation;
    /// `{violations}` is replaced by what was wrong.
    pub stricter: String,
    /// Worked examples shown to a model before the entry: an entry and the
    /// mirrorback a good reflection gives it. The mirrorbacks are checked
    /// by I2 like every text the engine speaks.
    #[serde(default)]
    pub examples: Vec<PromptExample>,
}

/// One worked example for the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromptExample {
    pub entry: String,
    pub mirrorback: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatternSpec {
    /// What the pattern means, for people (shown by `mirror show`).
    pub description: String,
    /// How the built-in mirror names it, as an observation.
    pub observation: String,
    pub rules: Vec<PatternRule>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatternRule {
    /// A name for evidence and debugging, unique within its pattern.
    pub id: String,
    /// The language whose texts the rule reads (ISO 639-1); none is English.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lang: Option<String>,
    pub cues: Vec<String>,
    #[serde(default)]
    pub subject: SubjectRule,
    /// One of these must end at most `window` words before the cue.
    #[serde(default)]
    pub before: Option<Context>,
    /// None of these may end at most `window` words before the cue.
    #[serde(default)]
    pub not_before: Option<Context>,
    /// One of these must start at most `window` words after the cue.
    #[serde(default)]
    pub after: Option<Context>,
    /// None of these may start at most `window` words after the cue.
    #[serde(default)]
    pub not_after: Option<Context>,
    /// None of these may occur within `window` words on either side.
    #[serde(default)]
    pub not_near: Option<Context>,
    /// One of these must occur somewhere else in the text.
    #[serde(default)]
    pub elsewhere: Vec<String>,
    #[serde(default)]
    pub questions: QuestionRule,
}

/// Phrases near a cue, within the same sentence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Context {
    pub phrases: Vec<String>,
    pub window: usize,
}

/// Who must be the subject of the clause a cue sits in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubjectRule {
    #[default]
    Any,
    /// The writer ("I", "we") or no subject at all ("Need to call Mum").
    Writer,
    /// The writer, the reader, or no subject.
    WriterOrReader,
    /// Someone else: "she", "my sister", "Dad".
    ThirdPerson,
    /// Anything but someone else (the writer, the reader, a thing, none).
    NotThirdPerson,
    /// Anyone or nothing, but not a thing ("the package should arrive").
    NotInanimate,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuestionRule {
    #[default]
    Any,
    /// The cue does not count inside a question.
    Never,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TensionSpec {
    /// Words and structures that show two things pull against each other.
    pub conflict_markers: Vec<String>,
    pub axes: Vec<TensionAxis>,
}

/// A template axis: two poles, each with the phrases that evoke it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TensionAxis {
    /// A name for people, e.g. "holding on and letting go".
    pub name: String,
    /// Both poles appearing together is already a conflict ("my head says…
    /// my heart says…"), so no conflict marker is needed.
    #[serde(default)]
    pub implicit_conflict: bool,
    /// The language whose texts the axis reads (ISO 639-1); none is English.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lang: Option<String>,
    pub a: Pole,
    pub b: Pole,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pole {
    /// A lowercase identifier, e.g. "control".
    pub name: String,
    pub cues: Vec<String>,
}

/// Open word classes the rules refer to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WordClasses {
    pub first_person: Vec<String>,
    pub second_person: Vec<String>,
    pub third_person: Vec<String>,
    /// Pronouns for things: "it", "this", "there".
    pub inanimate: Vec<String>,
    pub determiners: Vec<String>,
    /// Nouns for people: "mum", "boss", "sister".
    pub person_nouns: Vec<String>,
    /// Words skipped when looking back for a subject: "really", "still".
    pub subject_skip: Vec<String>,
    /// Words that end a clause's subject search: "and", "but", "because".
    pub clause_joiners: Vec<String>,
    pub irregular_past: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    /// How many times a language model's answer is regenerated after a
    /// compliance violation before the built-in mirror stands in.
    pub max_regenerations: u32,
    /// Longest mirrorback accepted from a model, in characters.
    pub max_mirrorback_chars: usize,
    /// At most this many clauses are mirrored back by the built-in mirror.
    pub mirrored_clauses: usize,
}

/// The crisis check: signals of acute risk in each language, the answer the
/// node composes, and where help is.
///
/// The constitution's safety clause (document 07, invariant I7) governs
/// this section: an entry that shows acute risk is met with care and shown
/// where help is before anything else, by the node itself, never by a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SafetySpec {
    /// Kind of risk (suicide, self_harm, abuse, danger) → the rules that
    /// signal it, each with its language.
    pub signals: BTreeMap<String, Vec<PatternRule>>,
    /// Phrases that set a whole entry in a look-alike's context: a joke
    /// ("lol"), fiction, a recovered past, work on the topic. A signal in
    /// such an entry counts only where its own sentence says the risk is
    /// now. By language.
    pub look_alikes: BTreeMap<String, Vec<String>>,
    /// Phrases that make a signal not count in their own sentence only:
    /// everyday scenes and accidents ("chopping onions", "at the
    /// hairdresser") that can sit beside real risk elsewhere in an entry
    /// ("he dragged me into the kitchen"). By language. Left out of the
    /// canonical JSON when empty, so a pack without it hashes and reads as
    /// before on nodes that do not know the field.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sentence_look_alikes: BTreeMap<String, Vec<String>>,
    /// Phrases that say the risk is now ("again", "tonight"): with one of
    /// them anywhere in the entry, look-alikes do not cancel. By language.
    pub acute: BTreeMap<String, Vec<String>>,
    /// The region used when the person has set none and none can be read
    /// from the system's locale.
    pub default_region: String,
    /// The helpline directory.
    pub regions: Vec<Region>,
}

/// Where help is in one region. Every number names the public source it
/// was checked against.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Region {
    /// ISO 3166-1 alpha-2 ("GB"), or "INTL" for the fallback.
    pub code: String,
    /// The region's name in English ("United Kingdom").
    pub name: String,
    /// The emergency number(s), as dialled ("999 or 112").
    pub emergency: String,
    pub emergency_source: String,
    /// A line for someone thinking of suicide or in despair.
    pub crisis: Helpline,
    /// A line for someone being hurt by a partner or family member.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abuse: Option<Helpline>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Helpline {
    pub name: String,
    /// As dialled or texted ("116 123"); empty for a directory website.
    pub number: String,
    /// When it answers and what it costs, in English ("24/7, free").
    pub hours: String,
    /// Answers day and night, every day (said in the crisis answer).
    #[serde(default)]
    pub always_open: bool,
    pub url: String,
    /// The public source the number was checked against.
    pub source: String,
}

/// What the built-in mirror needs to read and answer one language.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LanguageSpec {
    /// The language's own name ("Français").
    pub name: String,
    /// Frequent short words of the language, for telling it from others.
    pub function_words: Vec<String>,
    /// Quotation marks, opening and closing ("«\u{a0}", "\u{a0}»").
    pub quote_open: String,
    pub quote_close: String,
    /// Emotion family → the words that show it. Used cautiously: a family
    /// is named only when its words are the writer's own.
    pub emotions: BTreeMap<String, Vec<String>>,
    /// Words that mark a contrast ("but", "mais", "aber").
    pub contrast: Vec<String>,
    /// Words that mean the writer wants something ("want to", "veux").
    pub wanting: Vec<String>,
    /// Phrasings of the built-in mirror and the crisis answer, by slot
    /// ("feeling.fear", "question.default", "crisis.intro"). Several
    /// variants per slot; `{…}` placeholders are filled by the node.
    pub phrases: BTreeMap<String, Vec<String>>,
}

/// Why a pack was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamsError {
    #[error("parameter pack is not valid TOML/JSON: {0}")]
    Parse(String),
    #[error("parameter pack: {0}")]
    Invalid(String),
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    s.len() <= 64
        && chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn check_phrases(what: &str, phrases: &[String]) -> Result<(), ParamsError> {
    for p in phrases {
        let words: Vec<&str> = p.split_whitespace().collect();
        if words.is_empty() {
            return Err(ParamsError::Invalid(format!("{what}: empty phrase")));
        }
        for w in words {
            if w.ends_with('*') && w.trim_end_matches('*').chars().count() < 3 {
                return Err(ParamsError::Invalid(format!(
                    "{what}: the stem of {w} is shorter than three letters"
                )));
            }
            if w.starts_with('<') && !matches!(w, "<num>" | "<past>" | "<name>" | "<any>") {
                return Err(ParamsError::Invalid(format!(
                    "{what}: unknown token class {w} (known: <num>, <past>, <name>, <any>)"
                )));
            }
        }
    }
    Ok(())
}

impl SafetySpec {
    fn validate(&self, known_lang: &dyn Fn(&Option<String>) -> bool) -> Result<(), ParamsError> {
        let invalid = |m: String| Err(ParamsError::Invalid(m));
        if self.signals.is_empty() {
            return invalid("safety: no signals".into());
        }
        for (kind, rules) in &self.signals {
            if !is_identifier(kind) || rules.is_empty() {
                return invalid(format!(
                    "safety: signal kind {kind:?} is not an identifier with rules"
                ));
            }
            let mut ids = std::collections::HashSet::new();
            for rule in rules {
                let what = format!("safety {kind} rule {}", rule.id);
                if !ids.insert(rule.id.as_str()) {
                    return invalid(format!("{what}: id repeats"));
                }
                if rule.cues.is_empty() {
                    return invalid(format!("{what}: no cues"));
                }
                if !known_lang(&rule.lang) {
                    return invalid(format!("{what}: no language data for {:?}", rule.lang));
                }
                check_phrases(&what, &rule.cues)?;
                check_phrases(&what, &rule.elsewhere)?;
                for ctx in [
                    &rule.before,
                    &rule.not_before,
                    &rule.after,
                    &rule.not_after,
                    &rule.not_near,
                ]
                .into_iter()
                .flatten()
                {
                    check_phrases(&what, &ctx.phrases)?;
                    if ctx.window == 0 || ctx.window > 16 {
                        return invalid(format!("{what}: window must be 1 to 16"));
                    }
                }
            }
        }
        for (lang, phrases) in self
            .look_alikes
            .iter()
            .chain(&self.sentence_look_alikes)
            .chain(&self.acute)
        {
            check_phrases(&format!("safety look-alikes {lang}"), phrases)?;
        }
        let mut codes = std::collections::HashSet::new();
        for region in &self.regions {
            let code = region.code.as_str();
            let ok =
                code == "INTL" || (code.len() == 2 && code.chars().all(|c| c.is_ascii_uppercase()));
            if !ok {
                return invalid(format!(
                    "safety: region code {code:?} is not ISO 3166-1 alpha-2 (or INTL)"
                ));
            }
            if !codes.insert(code) {
                return invalid(format!("safety: region {code} is listed twice"));
            }
            if region.emergency.trim().is_empty() || region.emergency_source.trim().is_empty() {
                return invalid(format!(
                    "safety: region {code} needs an emergency number and the source it was checked against"
                ));
            }
            for line in std::iter::once(&region.crisis).chain(region.abuse.as_ref()) {
                if line.name.trim().is_empty()
                    || line.source.trim().is_empty()
                    || (line.number.trim().is_empty() && line.url.trim().is_empty())
                {
                    return invalid(format!(
                        "safety: region {code}: {:?} needs a name, a number or address, and the source it was checked against",
                        line.name
                    ));
                }
            }
        }
        if !codes.contains(self.default_region.as_str()) {
            return invalid(format!(
                "safety: the default region {:?} is not in the directory",
                self.default_region
            ));
        }
        Ok(())
    }

    /// The directory entry for `code` (case-insensitive), if any.
    pub fn region(&self, code: &str) -> Option<&Region> {
        self.regions
            .iter()
            .find(|r| r.code.eq_ignore_ascii_case(code.trim()))
    }
}

impl EngineParams {
    /// The genesis pack.
    pub fn genesis() -> Result<EngineParams, ParamsError> {
        Self::from_toml(GENESIS_PARAMS_TOML)
    }

    pub fn from_toml(text: &str) -> Result<EngineParams, ParamsError> {
        let params: EngineParams =
            toml::from_str(text).map_err(|e| ParamsError::Parse(e.message().to_string()))?;
        params.validate()?;
        Ok(params)
    }

    pub fn from_json(bytes: &[u8]) -> Result<EngineParams, ParamsError> {
        let params: EngineParams =
            serde_json::from_slice(bytes).map_err(|e| ParamsError::Parse(e.to_string()))?;
        params.validate()?;
        Ok(params)
    }

    /// The canonical bytes: compact JSON in the types' field order.
    pub fn canonical_json(&self) -> Vec<u8> {
        // Serialising plain data (strings, numbers, maps with string keys)
        // cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Every value of the pack, as (JSON Pointer, value) leaves in the
    /// canonical order: what `mirror params show` prints.
    pub fn leaves(&self) -> Vec<(String, serde_json::Value)> {
        fn walk(path: &str, v: &serde_json::Value, out: &mut Vec<(String, serde_json::Value)>) {
            match v {
                serde_json::Value::Object(m) if !m.is_empty() => {
                    for (k, v) in m {
                        let token = k.replace('~', "~0").replace('/', "~1");
                        walk(&format!("{path}/{token}"), v, out);
                    }
                }
                serde_json::Value::Array(a) if !a.is_empty() => {
                    for (i, v) in a.iter().enumerate() {
                        walk(&format!("{path}/{i}"), v, out);
                    }
                }
                other => out.push((path.to_string(), other.clone())),
            }
        }
        let mut out = Vec::new();
        if let Ok(v) = serde_json::to_value(self) {
            walk("", &v, &mut out);
        }
        out
    }

    /// blake3 of the canonical bytes, hex.
    pub fn hash(&self) -> String {
        blake3::hash(&self.canonical_json()).to_hex().to_string()
    }

    pub fn validate(&self) -> Result<(), ParamsError> {
        let invalid = |m: String| Err(ParamsError::Invalid(m));
        self.telemetry.validate().map_err(ParamsError::Invalid)?;
        for (name, spec) in &self.patterns {
            if !is_identifier(name) {
                return invalid(format!(
                    "pattern name {name:?} is not a lowercase identifier"
                ));
            }
            if spec.rules.is_empty() {
                return invalid(format!("pattern {name} has no rules"));
            }
            let mut ids = std::collections::HashSet::new();
            for rule in &spec.rules {
                if !ids.insert(rule.id.as_str()) {
                    return invalid(format!("pattern {name}: rule id {} repeats", rule.id));
                }
                if rule.cues.is_empty() {
                    return invalid(format!("pattern {name} rule {}: no cues", rule.id));
                }
                let what = format!("pattern {name} rule {}", rule.id);
                check_phrases(&what, &rule.cues)?;
                check_phrases(&what, &rule.elsewhere)?;
                for ctx in [
                    &rule.before,
                    &rule.not_before,
                    &rule.after,
                    &rule.not_after,
                    &rule.not_near,
                ]
                .into_iter()
                .flatten()
                {
                    check_phrases(&what, &ctx.phrases)?;
                    if ctx.window == 0 || ctx.window > 16 {
                        return invalid(format!("{what}: window must be 1 to 16"));
                    }
                }
            }
        }
        for axis in &self.tensions.axes {
            for pole in [&axis.a, &axis.b] {
                if !is_identifier(&pole.name) {
                    return invalid(format!(
                        "tension pole {:?} is not a lowercase identifier",
                        pole.name
                    ));
                }
                if pole.cues.is_empty() {
                    return invalid(format!("tension pole {} has no cues", pole.name));
                }
                check_phrases(&format!("tension pole {}", pole.name), &pole.cues)?;
            }
            if axis.a.name == axis.b.name {
                return invalid(format!(
                    "tension axis {} has the same pole twice",
                    axis.name
                ));
            }
        }
        check_phrases("conflict markers", &self.tensions.conflict_markers)?;
        let known_lang = |lang: &Option<String>| match lang {
            None => true,
            Some(l) => l == "en" || self.languages.contains_key(l),
        };
        for (name, spec) in &self.patterns {
            for rule in &spec.rules {
                if !known_lang(&rule.lang) {
                    return invalid(format!(
                        "pattern {name} rule {}: no language data for {:?}",
                        rule.id, rule.lang
                    ));
                }
            }
        }
        for axis in &self.tensions.axes {
            if !known_lang(&axis.lang) {
                return invalid(format!(
                    "tension axis {}: no language data for {:?}",
                    axis.name, axis.lang
                ));
            }
        }
        for (code, lang) in &self.languages {
            let ok_code = code.len() == 2 && code.chars().all(|c| c.is_ascii_lowercase());
            if !ok_code {
                return invalid(format!("language {code:?} is not an ISO 639-1 code"));
            }
            if lang.function_words.is_empty() {
                return invalid(format!("language {code}: no function words"));
            }
            // A blank mark would quote the writer without marks, and the
            // mirror looks for the opening one to tidy a frame around it.
            if lang.quote_open.trim().is_empty() || lang.quote_close.trim().is_empty() {
                return invalid(format!("language {code}: a blank quotation mark"));
            }
            for (family, cues) in &lang.emotions {
                if !is_identifier(family) {
                    return invalid(format!(
                        "language {code}: emotion family {family:?} is not a lowercase identifier"
                    ));
                }
                check_phrases(&format!("language {code} emotion {family}"), cues)?;
            }
            check_phrases(&format!("language {code} contrast"), &lang.contrast)?;
            check_phrases(&format!("language {code} wanting"), &lang.wanting)?;
            for (slot, variants) in &lang.phrases {
                if variants.is_empty() || variants.iter().any(|v| v.trim().is_empty()) {
                    return invalid(format!("language {code}: phrase {slot} is empty"));
                }
            }
        }
        if let Some(safety) = &self.safety {
            safety.validate(&known_lang)?;
        }
        for (field, text) in [
            ("system", &self.prompts.system),
            ("user", &self.prompts.user),
            ("stricter", &self.prompts.stricter),
        ] {
            if text.trim().is_empty() {
                return invalid(format!("prompts.{field} is empty"));
            }
        }
        if !self.prompts.user.contains("{reflection}") {
            return invalid("prompts.user must contain {reflection}".into());
        }
        if self.thresholds.max_regenerations > 10 {
            return invalid("thresholds.max_regenerations is at most 10".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn genesis_pack_is_valid_and_hashes_stably() {
        let params = EngineParams::genesis().unwrap();
        assert_eq!(params.version, 1);
        for name in [
            "obligation_language",
            "absolute_thinking",
            "internal_tension",
            "self_judgment",
            "past_reference",
            "future_anxiety",
        ] {
            assert!(params.patterns.contains_key(name), "{name} missing");
        }
        let mut axes: Vec<(&str, &str)> = params
            .tensions
            .axes
            .iter()
            .map(|a| (a.a.name.as_str(), a.b.name.as_str()))
            .collect();
        axes.sort_unstable();
        axes.dedup();
        assert_eq!(axes.len(), 8, "the eight template axes");
        let again = EngineParams::from_json(&params.canonical_json()).unwrap();
        assert_eq!(again, params);
        assert_eq!(again.hash(), params.hash());
    }

    /// Brazilian and European writers read the same Portuguese answer, so
    /// its phrasings use neither side's own words (a blind review marked
    /// "controlo" as European for a Brazilian writer). "telemóvel" is
    /// allowed only beside "celular", as the emergency line gives both.
    #[test]
    fn portuguese_answers_are_neither_only_brazilian_nor_only_european() {
        let params = EngineParams::genesis().unwrap();
        let words = |s: &str| {
            s.to_lowercase()
                .split(|c: char| !c.is_alphanumeric())
                .filter(|w| !w.is_empty())
                .map(str::to_string)
                .collect::<Vec<_>>()
        };
        const ONE_SIDE: &[&str] = &[
            // European
            "si", "consigo", "controlo", "facto", "equipa", "ecrã", "contacto",
            // Brazilian
            "você", "controle", "fato", "equipe", "tela", "contato", "pra",
        ];
        for (slot, variants) in &params.languages["pt"].phrases {
            for v in variants {
                let w = words(v);
                for word in ONE_SIDE {
                    assert!(
                        !w.contains(&word.to_string()),
                        "pt {slot}: {word:?} in {v:?}"
                    );
                }
                // A gerund ("fazendo") is Brazilian, "a fazer" European.
                const NOT_GERUNDS: &[&str] = &["quando", "mundo", "fundo", "segundo"];
                assert!(
                    !w.iter()
                        .any(|x| x.ends_with("ndo") && !NOT_GERUNDS.contains(&x.as_str())),
                    "pt {slot}: a gerund in {v:?}"
                );
                if w.contains(&"telemóvel".to_string()) {
                    assert!(w.contains(&"celular".to_string()), "pt {slot}: {v:?}");
                }
            }
        }
    }

    #[test]
    fn a_blank_quotation_mark_is_refused() {
        let mut params = EngineParams::genesis().unwrap();
        params.languages.get_mut("fr").unwrap().quote_open = " ".into();
        assert!(
            params
                .validate()
                .unwrap_err()
                .to_string()
                .contains("quotation mark")
        );
    }

    #[test]
    fn bad_packs_are_refused_with_the_reason() {
        let mut params = EngineParams::genesis().unwrap();
        params.patterns.insert(
            "Bad Name".into(),
            params.patterns["absolute_thinking"].clone(),
        );
        assert!(
            params
                .validate()
                .unwrap_err()
                .to_string()
                .contains("Bad Name")
        );
        let mut params = EngineParams::genesis().unwrap();
        params.tensions.axes[0].a.cues.push("<verb>".into());
        assert!(
            params
                .validate()
                .unwrap_err()
                .to_string()
                .contains("<verb>")
        );
    }
}
