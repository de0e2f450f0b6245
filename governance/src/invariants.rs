//! The invariant checker: what the constitution forbids a proposal to do,
//! decided from the proposal's content alone.
//!
//! It runs when a proposal is submitted (every node's gate refuses a
//! proposal with a violation) and again at approval, on the exact content
//! that was voted on: a proposal's id is the hash of that content, so "the
//! same proposal" can never mean different bytes.
//!
//! I1, I3, I5 and I6 read the flags the proposer set and the change itself:
//! a pack edit's path word by word (whole words, so "no-regression" is not
//! "egress"), a constitution edit by structure (deleting or emptying the
//! document that states an invariant, or leaving an invariant out of
//! `invariants.toml`, removes that invariant);
//! I2 and I3 run the constitution's compliance checker over every text the
//! change would put in front of a person or a model. I4 is not about
//! content: an amendment needs guardian signatures, which the tally counts
//! ([`crate::ledger`]). I7, the safety clause, forbids a change that takes
//! the crisis check or its directory away, and keeps the crisis answer's
//! phrasings out of I2's directive threshold (showing where help is is
//! information, not advice) while still holding them to I3.
//!
//! Flags are the proposer's statement, and the checker does not trust them
//! blindly: an edit that reaches into telemetry or export settings counts as
//! collecting data or removing export whatever the flags say.

use mirror_constitution::compliance::{Checker, FlagKind};
use serde::Serialize;
use serde_json::Value;

use crate::payload::{ChangeTarget, EvolutionProposal};

/// One of the constitution's invariants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Invariant {
    I1,
    I2,
    I3,
    I4,
    I5,
    I6,
    I7,
}

impl Invariant {
    pub fn as_str(self) -> &'static str {
        match self {
            Invariant::I1 => "I1",
            Invariant::I2 => "I2",
            Invariant::I3 => "I3",
            Invariant::I4 => "I4",
            Invariant::I5 => "I5",
            Invariant::I6 => "I6",
            Invariant::I7 => "I7",
        }
    }
}

/// A finding of the checker: which invariant, and what in the proposal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub invariant: Invariant,
    /// Where: a field of the proposal or an edit's path.
    pub at: String,
    pub message: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} at {}: {}",
            self.invariant.as_str(),
            self.at,
            self.message
        )
    }
}

/// The checker's verdict on one proposal.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Any of these refuses the proposal.
    pub violations: Vec<Finding>,
    /// Reported, not refusing (I2 flags under the directive threshold).
    pub warnings: Vec<Finding>,
}

impl Report {
    pub fn is_clean(&self) -> bool {
        self.violations.is_empty()
    }

    /// The violated invariants, sorted and distinct.
    pub fn violated(&self) -> Vec<Invariant> {
        let mut out: Vec<Invariant> = self.violations.iter().map(|f| f.invariant).collect();
        out.sort();
        out.dedup();
        out
    }

    /// One line naming every violation (for a gate rejection).
    pub fn describe(&self) -> String {
        self.violations
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// Parameter-pack fields whose text the engine speaks: to a person (a
/// pattern's observation, said in a mirrorback) or to a language model (the
/// prompts). These are the texts I2 checks. A pattern's `description`
/// documents its lexicon and so names the very words it detects; it is
/// never said to anyone, and is not checked.
const TEXT_FIELDS: &[&str] = &["system", "user", "stricter", "observation", "mirrorback"];

/// Words of a pack path that mean the edit touches what leaves the node.
/// Whole words only: "no-regression" is not "egress".
const DATA_COLLECTION_WORDS: &[&str] = &[
    "telemetry",
    "metric",
    "metrics",
    "egress",
    "collect",
    "collects",
    "collection",
    "upload",
    "uploads",
];

/// Words of a pack path that mean the edit touches export.
const EXPORT_WORDS: &[&str] = &["export", "exports", "bundle", "bundles"];

/// Which invariants each constitution document states, by the number that
/// starts its file name (`06-no-lock-in-no-regression.md` → "06"). Deleting
/// or emptying a document takes its promises out of the constitution, which
/// no amendment may do to an invariant; its wording may change. The file
/// name's number is the document's identity across amendments (titles may
/// be reworded), so this matches the number, never words of the title.
const STATED_IN: &[(&str, &[Invariant])] = &[
    ("01", &[Invariant::I2]),
    ("02", &[Invariant::I1]),
    ("03", &[Invariant::I2, Invariant::I3]),
    ("04", &[Invariant::I4]),
    ("05", &[Invariant::I4]),
    ("06", &[Invariant::I5, Invariant::I6]),
    ("07", &[Invariant::I7]),
];

/// The file that lists the invariants every node checks.
const INVARIANTS_FILE: &str = "invariants.toml";

/// Every invariant, for "which are still listed".
const ALL: [Invariant; 7] = [
    Invariant::I1,
    Invariant::I2,
    Invariant::I3,
    Invariant::I4,
    Invariant::I5,
    Invariant::I6,
    Invariant::I7,
];

/// Whether `path` is one of the crisis answer's phrasings
/// (`/languages/<lang>/phrases/crisis.…`), which I7 takes out of I2.
fn is_crisis_phrase(path: &str) -> bool {
    let parts: Vec<&str> = path.split('/').collect();
    parts.len() >= 5
        && parts[1] == "languages"
        && parts[3] == "phrases"
        && parts[4].starts_with("crisis.")
}

/// I7: whether an edit takes away the crisis check, its directory or its
/// answer. The safety section may be extended and corrected, never emptied.
fn weakens_safety(path: &str, after: Option<&Value>) -> Option<String> {
    let under_safety = path == "/safety" || path.starts_with("/safety/");
    let depth = path.split('/').count();
    let crisis_phrase = is_crisis_phrase(path)
        || path == "/languages"
        || (path.starts_with("/languages/")
            && (depth == 3 || (depth == 4 && path.ends_with("/phrases"))));
    if !under_safety && !crisis_phrase {
        return None;
    }
    let Some(after) = after else {
        return Some(if under_safety {
            "deletes part of the crisis check or its helpline directory".into()
        } else {
            "deletes the crisis answer's phrasings".into()
        });
    };
    let empty = match after {
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        Value::String(s) => s.trim().is_empty(),
        Value::Null => true,
        _ => false,
    };
    if empty {
        return Some("empties part of the crisis check, its directory or its answer".into());
    }
    if path == "/safety" {
        match serde_json::from_value::<crate::params::SafetySpec>(after.clone()) {
            Ok(spec) if !spec.signals.is_empty() && !spec.regions.is_empty() => {}
            _ => {
                return Some(
                    "replaces the crisis check with one that has no signals or no directory".into(),
                );
            }
        }
    }
    // A region must keep its emergency number and crisis line.
    if let Some(rest) = path.strip_prefix("/safety/regions/") {
        let field = rest.split('/').nth(1);
        let keeps = match field {
            None => serde_json::from_value::<crate::params::Region>(after.clone()).is_ok_and(|r| {
                !r.emergency.trim().is_empty()
                    && (!r.crisis.number.trim().is_empty() || !r.crisis.url.trim().is_empty())
            }),
            _ => true,
        };
        if !keeps {
            return Some("leaves a region without an emergency number or crisis line".into());
        }
    }
    None
}

/// Check a proposal's content against I1, I2, I3, I5, I6 and I7.
pub fn check(proposal: &EvolutionProposal, checker: &Checker) -> Report {
    let mut report = Report::default();
    let flags = &proposal.flags;
    let mut violation = |invariant, at: &str, message: String| {
        report.violations.push(Finding {
            invariant,
            at: at.to_string(),
            message,
        });
    };

    // Pack paths are read word by word; constitution edits by structure
    // (which document, which invariant it states), below.
    let params = proposal.change.target == ChangeTarget::Params;

    // I1: collecting data needs the person's consent.
    let touches_data = proposal
        .change
        .edits
        .iter()
        .filter(|_| params)
        .find(|e| has_word(&e.path, DATA_COLLECTION_WORDS));
    if flags.data_collection && !flags.user_consent_required {
        violation(
            Invariant::I1,
            "flags",
            "collects data without requiring the person's consent".into(),
        );
    } else if let Some(edit) = touches_data
        && !(flags.data_collection && flags.user_consent_required)
    {
        violation(
            Invariant::I1,
            &edit.path,
            "changes what data leaves the node but is not flagged data_collection with user_consent_required".into(),
        );
    }

    // I5: export can never be removed.
    if flags.removes_export {
        violation(Invariant::I5, "flags", "removes export".into());
    }
    for edit in &proposal.change.edits {
        if params && has_word(&edit.path, EXPORT_WORDS) && edit.after.is_none() {
            violation(
                Invariant::I5,
                &edit.path,
                "removes export (or part of it)".into(),
            );
        }
    }

    // Every invariant: its document and its entry in invariants.toml stay.
    if proposal.change.target == ChangeTarget::Constitution {
        for edit in &proposal.change.edits {
            for (invariant, message) in removed_invariants(&edit.path, edit.after.as_ref()) {
                violation(invariant, &edit.path, message);
            }
        }
    }

    // I6: a breaking change needs a way through.
    if flags.breaking_change
        && flags
            .migration_path
            .as_deref()
            .is_none_or(|p| p.trim().is_empty())
    {
        violation(
            Invariant::I6,
            "flags",
            "breaking change without a migration path".into(),
        );
    }

    // I7: the crisis check, its directory and its answer stay.
    for edit in &proposal.change.edits {
        if let Some(message) = weakens_safety(&edit.path, edit.after.as_ref()) {
            violation(Invariant::I7, &edit.path, message);
        }
    }

    // I3 over what the proposal says it is for; I2 and I3 over every new
    // text a person or a model would see.
    for (at, text) in [
        ("title", proposal.title.as_str()),
        ("description", proposal.description.as_str()),
    ] {
        for flag in &checker.check(text).flags {
            if flag.kind == FlagKind::OutcomeOptimization {
                report.violations.push(Finding {
                    invariant: Invariant::I3,
                    at: at.into(),
                    message: format!("optimises for outcomes (\"{}\")", flag.evidence),
                });
            }
        }
    }
    if proposal.change.target == ChangeTarget::Params {
        for edit in &proposal.change.edits {
            let Some(after) = &edit.after else { continue };
            let mut texts = Vec::new();
            collect_texts(&edit.path, after, &mut texts);
            for (path, text) in texts {
                let result = checker.check(&text);
                for flag in &result.flags {
                    let finding = Finding {
                        invariant: if flag.kind == FlagKind::OutcomeOptimization {
                            Invariant::I3
                        } else {
                            Invariant::I2
                        },
                        at: path.clone(),
                        message: format!(
                            "{} (\"{}\", directive density {:.3}, threshold {:.3})",
                            flag.kind.as_str(),
                            flag.evidence,
                            result.directive_density,
                            result.threshold
                        ),
                    };
                    // The crisis answer shows where help is: under I7 that
                    // is information, and I2 does not apply to it.
                    if is_crisis_phrase(&path) && flag.kind != FlagKind::OutcomeOptimization {
                        continue;
                    }
                    // Outcome optimisation and failing the directive
                    // threshold refuse; other flags are reported.
                    if matches!(
                        flag.kind,
                        FlagKind::OutcomeOptimization | FlagKind::Directive
                    ) {
                        report.violations.push(finding);
                    } else {
                        report.warnings.push(finding);
                    }
                }
            }
        }
    }
    report
}

/// The words of a JSON Pointer: its tokens split at `-`, `_` and `.`,
/// lowercased (`/telemetry/metrics/0` → telemetry, metrics, 0).
fn path_words(path: &str) -> impl Iterator<Item = String> + '_ {
    path.split('/')
        .flat_map(|token| token.split(['-', '_', '.', '~']))
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_lowercase)
}

/// Whether one of `words` is a whole word of `path`.
fn has_word(path: &str, words: &[&str]) -> bool {
    path_words(path).any(|w| words.contains(&w.as_str()))
}

/// A constitution edit's effect on the invariants: deleting or emptying a
/// document removes what it states ([`STATED_IN`]); deleting
/// `invariants.toml`, or leaving an invariant out of it, removes that
/// invariant from what every node checks.
fn removed_invariants(document: &str, after: Option<&Value>) -> Vec<(Invariant, String)> {
    let text = after.and_then(Value::as_str);
    let emptied = text.is_none_or(|t| t.trim().is_empty());
    if document == INVARIANTS_FILE {
        let listed: Vec<String> = text
            .and_then(|t| toml::from_str::<toml::Table>(t).ok())
            .and_then(|t| t.get("invariant").and_then(|v| v.as_array()).cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|entry| {
                entry
                    .get("id")
                    .and_then(|id| id.as_str())
                    .map(str::to_string)
            })
            .collect();
        return ALL
            .into_iter()
            .filter(|i| !listed.iter().any(|id| id == i.as_str()))
            .map(|i| {
                (
                    i,
                    format!(
                        "takes {} out of the invariants every node checks",
                        i.as_str()
                    ),
                )
            })
            .collect();
    }
    if !emptied {
        return Vec::new();
    }
    let number = document.split(['-', '_', '.']).next().unwrap_or("");
    STATED_IN
        .iter()
        .filter(|(n, _)| *n == number)
        .flat_map(|(_, invariants)| invariants.iter())
        .map(|i| {
            (
                *i,
                format!(
                    "{} the document that states {}",
                    if after.is_none() {
                        "deletes"
                    } else {
                        "empties"
                    },
                    i.as_str()
                ),
            )
        })
        .collect()
}

/// Every string under `value` that lands in a text field, with its full
/// JSON Pointer path.
fn collect_texts(path: &str, value: &Value, out: &mut Vec<(String, String)>) {
    match value {
        Value::String(s) => {
            let last = path.rsplit('/').next().unwrap_or("");
            let in_prompts = path.starts_with("/prompts");
            // The built-in mirror's phrasings are said to a person too.
            let phrasing = path.starts_with("/languages/") && path.contains("/phrases/");
            if phrasing
                || (TEXT_FIELDS.contains(&last) && (in_prompts || path.starts_with("/patterns")))
            {
                out.push((path.to_string(), s.clone()));
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                let escaped = k.replace('~', "~0").replace('/', "~1");
                collect_texts(&format!("{path}/{escaped}"), v, out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                collect_texts(&format!("{path}/{i}"), v, out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::{Change, Edit, Flags, ProposalType};
    use serde_json::json;

    fn checker() -> Checker {
        mirror_constitution::Constitution::genesis()
            .checker()
            .expect("the genesis lexicon loads")
    }

    fn proposal(edits: Vec<Edit>, flags: Flags) -> EvolutionProposal {
        EvolutionProposal {
            proposal_type: ProposalType::PatternDetection,
            title: "Notice more ways of saying always".into(),
            description: "Adds cue words seen in the dev set.".into(),
            change: Change {
                target: ChangeTarget::Params,
                edits,
            },
            evidence: vec![],
            flags,
        }
    }

    fn edit(path: &str, after: Value) -> Edit {
        Edit {
            path: path.into(),
            before: None,
            after: Some(after),
        }
    }

    fn no_flags() -> Flags {
        Flags {
            data_collection: false,
            user_consent_required: false,
            removes_export: false,
            breaking_change: false,
            migration_path: None,
        }
    }

    #[test]
    fn a_plain_lexicon_change_is_clean() {
        let p = proposal(
            vec![edit(
                "/patterns/absolute_thinking/rules/0/cues",
                json!(["always", "never ever"]),
            )],
            no_flags(),
        );
        let r = check(&p, &checker());
        assert!(r.is_clean(), "{r:?}");
    }

    #[test]
    fn each_content_invariant_is_named() {
        let c = checker();
        let mut f = no_flags();
        f.data_collection = true;
        let r = check(
            &proposal(vec![edit("/thresholds/max_regenerations", json!(3))], f),
            &c,
        );
        assert_eq!(r.violated(), vec![Invariant::I1]);

        // Touching telemetry without saying so is I1 too.
        let r = check(
            &proposal(vec![edit("/telemetry/metrics", json!(["x"]))], no_flags()),
            &c,
        );
        assert_eq!(r.violated(), vec![Invariant::I1]);

        let r = check(
            &proposal(
                vec![edit("/prompts/system", json!("You must do this now."))],
                no_flags(),
            ),
            &c,
        );
        assert!(r.violated().contains(&Invariant::I2), "{r:?}");

        let mut p = proposal(
            vec![edit("/thresholds/max_regenerations", json!(3))],
            no_flags(),
        );
        p.description = "Maximise engagement and retention of users.".into();
        assert_eq!(check(&p, &c).violated(), vec![Invariant::I3]);

        let mut f = no_flags();
        f.removes_export = true;
        let r = check(
            &proposal(vec![edit("/thresholds/max_regenerations", json!(3))], f),
            &c,
        );
        assert_eq!(r.violated(), vec![Invariant::I5]);

        let mut f = no_flags();
        f.breaking_change = true;
        let r = check(
            &proposal(
                vec![edit("/thresholds/max_regenerations", json!(3))],
                f.clone(),
            ),
            &c,
        );
        assert_eq!(r.violated(), vec![Invariant::I6]);
        f.migration_path = Some("Old packs are upgraded on apply.".into());
        assert!(
            check(
                &proposal(vec![edit("/thresholds/max_regenerations", json!(3))], f),
                &c
            )
            .is_clean()
        );
    }

    #[test]
    fn the_safety_clause_is_kept_by_i7() {
        let c = checker();
        let gone = Edit {
            path: "/safety".into(),
            before: None,
            after: None,
        };
        assert_eq!(
            check(&proposal(vec![gone], no_flags()), &c).violated(),
            vec![Invariant::I7]
        );
        let empty = edit("/safety/signals/suicide", json!([]));
        assert_eq!(
            check(&proposal(vec![empty], no_flags()), &c).violated(),
            vec![Invariant::I7]
        );
        let no_line = edit(
            "/safety/regions/1",
            json!({"code": "GB", "name": "United Kingdom", "emergency": "", "emergency_source": "x",
                   "crisis": {"name": "x", "number": "", "hours": "", "url": "", "source": "x"}}),
        );
        assert_eq!(
            check(&proposal(vec![no_line], no_flags()), &c).violated(),
            vec![Invariant::I7]
        );
        // Adding a region, or a cue, is welcome.
        let more = edit("/safety/look_alikes/en/0", json!("knitting pattern"));
        assert!(check(&proposal(vec![more], no_flags()), &c).is_clean());
        // The crisis answer may say where help is in the imperative (I2 does
        // not apply), but may not steer toward outcomes (I3 does).
        let call = edit(
            "/languages/en/phrases/crisis.emergency",
            json!(["Call {emergency} now if you are in danger."]),
        );
        assert!(check(&proposal(vec![call], no_flags()), &c).is_clean());
        let steer = edit(
            "/languages/en/phrases/crisis.close",
            json!(["Talking to them will help you feel better."]),
        );
        assert_eq!(
            check(&proposal(vec![steer], no_flags()), &c).violated(),
            vec![Invariant::I3]
        );
        // The mirror's own phrasings are held to I2 like any other text.
        let advice = edit(
            "/languages/en/phrases/question.default",
            json!(["You should call her. You must. You need to."]),
        );
        assert!(
            check(&proposal(vec![advice], no_flags()), &c)
                .violated()
                .contains(&Invariant::I2)
        );
    }

    fn amendment(edits: Vec<Edit>) -> EvolutionProposal {
        EvolutionProposal {
            proposal_type: ProposalType::ConstitutionalAmendment,
            title: "Say it more plainly".into(),
            description: "Rewords a document.".into(),
            change: Change {
                target: ChangeTarget::Constitution,
                edits,
            },
            evidence: vec![],
            flags: no_flags(),
        }
    }

    fn genesis_document(name: &str) -> String {
        mirror_constitution::Constitution::genesis()
            .files()
            .find(|(n, _)| *n == name)
            .map(|(_, t)| t.to_string())
            .expect("a genesis document")
    }

    #[test]
    fn pack_paths_are_read_as_words_not_substrings() {
        let c = checker();
        let verdict = |edit: Edit| check(&proposal(vec![edit], no_flags()), &c).violated();
        let gone = |path: &str| Edit {
            path: path.into(),
            before: Some(json!(1)),
            after: None,
        };
        // Should trigger.
        assert_eq!(
            verdict(edit("/telemetry/metrics/0", json!("x"))),
            vec![Invariant::I1]
        );
        assert_eq!(
            verdict(edit("/engine/egress_log", json!(true))),
            vec![Invariant::I1]
        );
        assert_eq!(
            verdict(edit("/data-collection", json!(true))),
            vec![Invariant::I1]
        );
        assert_eq!(verdict(gone("/export")), vec![Invariant::I5]);
        assert_eq!(verdict(gone("/bundle/format")), vec![Invariant::I5]);
        assert_eq!(verdict(gone("/export_formats/0")), vec![Invariant::I5]);
        // Should not: the words only contain the letters.
        assert!(verdict(edit("/patterns/no_regression/description", json!("x"))).is_empty());
        assert!(verdict(edit("/words/recollections", json!(["x"]))).is_empty());
        assert!(verdict(edit("/patterns/progress_report/description", json!("x"))).is_empty());
        assert!(verdict(gone("/patterns/exported_feelings")).is_empty());
        // Changing (not removing) an export setting keeps export.
        assert!(verdict(edit("/export/format", json!("jsonl"))).is_empty());
    }

    #[test]
    fn amendments_are_read_by_structure() {
        let c = checker();
        let doc06 = "06-no-lock-in-no-regression.md";
        let verdict = |edit: Edit| check(&amendment(vec![edit]), &c).violated();
        // Rewording document 06 is an amendment like any other: its name
        // holds "regression", which is not "egress".
        let reworded = genesis_document(doc06).replace("simple", "plain");
        assert!(
            verdict(Edit {
                path: doc06.into(),
                before: Some(json!(genesis_document(doc06))),
                after: Some(json!(reworded)),
            })
            .is_empty()
        );
        // Deleting it takes I5 and I6 away; emptying it too.
        let deleted = Edit {
            path: doc06.into(),
            before: Some(json!(genesis_document(doc06))),
            after: None,
        };
        assert_eq!(verdict(deleted), vec![Invariant::I5, Invariant::I6]);
        assert_eq!(
            verdict(edit(doc06, json!("  \n"))),
            vec![Invariant::I5, Invariant::I6]
        );
        assert_eq!(
            verdict(Edit {
                path: "02-data-sovereignty.md".into(),
                before: None,
                after: None,
            }),
            vec![Invariant::I1]
        );
        assert_eq!(
            verdict(Edit {
                path: "07-care-in-a-crisis.md".into(),
                before: None,
                after: None,
            }),
            vec![Invariant::I7]
        );
        // invariants.toml: leaving I5 out removes it; rewording keeps all.
        let listed = genesis_document(INVARIANTS_FILE);
        let without_i5 = listed.replace("id = \"I5\"", "id = \"I5-gone\"");
        assert_eq!(
            verdict(edit(INVARIANTS_FILE, json!(without_i5))),
            vec![Invariant::I5]
        );
        let reworded = listed.replace("The user owns", "People own");
        assert!(verdict(edit(INVARIANTS_FILE, json!(reworded))).is_empty());
        assert_eq!(
            verdict(Edit {
                path: INVARIANTS_FILE.into(),
                before: None,
                after: None,
            }),
            ALL.to_vec()
        );
        // A new document states nothing yet: adding one is fine.
        assert!(verdict(edit("08-plain-words.md", json!("# Plain words\n"))).is_empty());
    }

    #[test]
    fn the_genesis_texts_pass_i2_and_i3() {
        let params: Value = serde_json::to_value(
            crate::params::EngineParams::genesis().expect("genesis params parse"),
        )
        .expect("params to JSON");
        let mut edits = Vec::new();
        for key in ["prompts", "patterns", "languages", "safety"] {
            edits.push(edit(&format!("/{key}"), params[key].clone()));
        }
        let r = check(&proposal(edits, no_flags()), &checker());
        assert!(r.is_clean(), "{}", r.describe());
    }
}
