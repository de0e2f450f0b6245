//! The node's floor: rules and words the engine reads in addition to the
//! parameter pack in force.
//!
//! A release carries the whole pack in one commons record, and a record
//! must fit 64 KiB; the crisis signals, pattern rules and tension listings
//! this node grew past that. They live here instead (`floor.toml`, the
//! pack's own schema), appended to the pack's lists when the engine is
//! built. Two consequences, both wanted: the pack's hash and releases are
//! untouched by them, and no release can delete them (I7 asks that the
//! crisis check never be weakened; a pack's look-alikes still apply to
//! floor signals, so look-alike edits deserve the same review).

use std::collections::BTreeMap;

use mirror_governance::params::{EngineParams, ParamsError, PatternRule, TensionAxis};
use serde::Deserialize;

const FLOOR_TOML: &str = include_str!("floor.toml");

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Floor {
    #[serde(default)]
    safety: FloorSafety,
    #[serde(default)]
    patterns: BTreeMap<String, FloorRules>,
    #[serde(default)]
    tensions: FloorTensions,
    #[serde(default)]
    languages: BTreeMap<String, FloorLanguage>,
    #[serde(default)]
    requests: BTreeMap<String, RequestWords>,
}

/// One language's words for what is addressed to the mirror rather than
/// written about the writer's life (floor.toml, `[requests.*]`): lower
/// case, matched as whole words.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestWords {
    /// A sentence holding one instructs the answerer by itself.
    #[serde(default)]
    pub always: Vec<String>,
    /// Words for the answerer, its rules and modes.
    #[serde(default)]
    pub machine: Vec<String>,
    /// Words that instruct whatever is addressed.
    #[serde(default)]
    pub directive: Vec<String>,
    /// Phrases that make an entry an attempt to make the mirror do
    /// something else (with `always`).
    #[serde(default)]
    pub injection: Vec<String>,
    /// Phrases that ask for advice wherever they are.
    #[serde(default)]
    pub advice: Vec<String>,
    /// Phrases that ask for advice opening a sentence that is a question.
    #[serde(default)]
    pub asks: Vec<String>,
    /// Phrases that ask for advice opening any sentence.
    #[serde(default)]
    pub commands: Vec<String>,
    /// Words for the writer, for the one addressed, and the verbs that
    /// open an order: beside an injection, a clause is the writer's own
    /// life when it holds one of `me`, none of `you`, and opens with none
    /// of `orders`.
    #[serde(default)]
    pub me: Vec<String>,
    #[serde(default)]
    pub you: Vec<String>,
    #[serde(default)]
    pub orders: Vec<String>,
    /// Words that speak of a machine as someone's, in the third person
    /// ("its", "our"): a sentence with one is no machine-and-directive
    /// pair.
    #[serde(default)]
    pub about: Vec<String>,
}

/// The floor, parsed once per process: the engine's build appends it to
/// the pack ([`apply`]) and the mirror reads its request words
/// ([`requests`]) from the same parse.
fn floor() -> Result<&'static Floor, ParamsError> {
    static FLOOR: std::sync::OnceLock<Result<Floor, String>> = std::sync::OnceLock::new();
    FLOOR
        .get_or_init(|| toml::from_str(FLOOR_TOML).map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|e| ParamsError::Parse(format!("floor: {e}")))
}

/// Every language's [`RequestWords`]. The floor is the node's own file,
/// checked by its tests; were it unreadable, no request would be
/// recognised, and nothing else would change.
pub fn requests() -> &'static BTreeMap<String, RequestWords> {
    static NONE: BTreeMap<String, RequestWords> = BTreeMap::new();
    floor().map_or(&NONE, |f| &f.requests)
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FloorSafety {
    #[serde(default)]
    signals: BTreeMap<String, Vec<PatternRule>>,
    #[serde(default)]
    look_alikes: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    sentence_look_alikes: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    acute: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FloorRules {
    rules: Vec<PatternRule>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FloorTensions {
    #[serde(default)]
    conflict_markers: Vec<String>,
    #[serde(default)]
    axes: Vec<TensionAxis>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FloorLanguage {
    #[serde(default)]
    contrast: Vec<String>,
    #[serde(default)]
    emotions: BTreeMap<String, Vec<String>>,
}

fn append<T: Clone>(into: &mut BTreeMap<String, Vec<T>>, from: &BTreeMap<String, Vec<T>>) {
    for (key, items) in from {
        into.entry(key.clone())
            .or_default()
            .extend(items.iter().cloned());
    }
}

/// `pack` with the floor appended, validated as a whole. Patterns and
/// languages the pack does not have are left out (the floor extends, it
/// does not invent categories); the safety additions need the pack's
/// safety section, which the engine always has (the genesis one when a pack
/// lacks it).
pub fn apply(mut pack: EngineParams) -> Result<EngineParams, ParamsError> {
    let floor = floor()?;
    if let Some(safety) = pack.safety.as_mut() {
        append(&mut safety.signals, &floor.safety.signals);
        append(&mut safety.look_alikes, &floor.safety.look_alikes);
        append(
            &mut safety.sentence_look_alikes,
            &floor.safety.sentence_look_alikes,
        );
        append(&mut safety.acute, &floor.safety.acute);
    }
    for (name, extra) in &floor.patterns {
        if let Some(spec) = pack.patterns.get_mut(name) {
            spec.rules.extend(extra.rules.iter().cloned());
        }
    }
    pack.tensions
        .conflict_markers
        .extend(floor.tensions.conflict_markers.iter().cloned());
    pack.tensions
        .axes
        .extend(floor.tensions.axes.iter().cloned());
    for (code, extra) in &floor.languages {
        if let Some(lang) = pack.languages.get_mut(code) {
            lang.contrast.extend(extra.contrast.iter().cloned());
            append(&mut lang.emotions, &extra.emotions);
        }
    }
    pack.validate()?;
    Ok(pack)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_floor_reads_and_adds_to_the_genesis_pack() {
        let pack = EngineParams::genesis().unwrap();
        let floored = apply(pack.clone()).unwrap();
        let signals = |p: &EngineParams| -> usize {
            p.safety
                .as_ref()
                .unwrap()
                .signals
                .values()
                .map(Vec::len)
                .sum()
        };
        assert!(signals(&floored) > signals(&pack));
        assert!(floored.tensions.axes.len() > pack.tensions.axes.len());
        // Requests are recognised in each of the pack's languages.
        for code in ["en", "fr", "de", "es", "pt"] {
            let r = &requests()[code];
            assert!(!r.always.is_empty() && !r.advice.is_empty(), "{code}");
        }
        // The pack itself, and so its hash and every release, is untouched.
        assert_eq!(pack, EngineParams::genesis().unwrap());
    }
}
