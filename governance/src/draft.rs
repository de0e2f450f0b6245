//! Drafting a proposal to change the parameter pack, as a pure function of
//! what the proposer asked for and the pack in force.
//!
//! `mirror proposal new` reads the pack, the finding and the constitution
//! from the node's home and hands them here as plain data; the rules that
//! turn them into an [`EvolutionProposal`] (a finding's recommendation sets
//! the type and a first edit, each edit's `before` is read from the pack in
//! force, a removal an invariant forbids is named as the gate would name it)
//! live in this module, so any tool drafts the same proposal from the same
//! request. The messages speak the CLI's flags because the CLI is the one
//! way people draft today.

use mirror_constitution::compliance::Checker;
use serde_json::{Map, Value, json};

use crate::invariants;
use crate::payload::{
    self, Change, ChangeTarget, Edit, Evidence, EvolutionProposal, Flags, ProposalType,
};

/// What a person asked for: the flags of `mirror proposal new`, as data.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// The type; with a finding, its recommendation supplies it otherwise.
    pub proposal_type: Option<ProposalType>,
    pub title: Option<String>,
    pub description: Option<String>,
    /// Replacements, each `/json/pointer=JSON`.
    pub set: Vec<String>,
    /// Additions, each `/json/pointer=JSON` (`-` appends to an array).
    pub add: Vec<String>,
    /// Removals, each a JSON pointer.
    pub remove: Vec<String>,
    /// Evidence in words.
    pub evidence: Vec<String>,
    pub flags: Flags,
    /// The finding the proposal starts from, if any.
    pub finding: Option<Finding>,
}

/// A finding of the evolution report, as the draft needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub id: String,
    pub summary: String,
    /// The finding's details; a non-null `recommendation` object in them
    /// (`proposal_type`, `title`, `increment: [pointer, by]`) shapes the draft.
    pub details: Map<String, Value>,
}

/// Why a draft could not be made. Each names what to give instead.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DraftError {
    #[error("{0:?} is not PATH=JSON")]
    NotAssignment(String),
    #[error("{path}: the value is not JSON ({error}); quote strings: '\"text\"'")]
    NotJson { path: String, error: String },
    #[error("a proposal is a JSON object")]
    NotAnObject,
    #[error("{0}")]
    Invalid(#[from] payload::PayloadError),
    #[error("the finding's recommendation: {0}")]
    Recommendation(String),
    #[error("the finding recommends no proposal type: give --type")]
    FindingWithoutType,
    #[error("--type is needed (or --from-file, --from-finding)")]
    NoType,
    #[error("--title is needed")]
    NoTitle,
    #[error("an amendment changes documents: write it as JSON and use --from-file")]
    Amendment,
    #[error("{0} is not in the pack in force")]
    NotInPack(String),
    #[error("{0} is not a number")]
    NotANumber(String),
    #[error("not drafted: removing {path} violates the constitution: {report}")]
    RemovalViolates { path: String, report: String },
    #[error("a proposal needs at least one --set, --add or --remove")]
    NoEdits,
    #[error("--description is needed: what the change is for, in a sentence or two")]
    NoDescription,
}

/// A whole proposal given as JSON (`--from-file`).
pub fn from_json(value: &Value) -> Result<EvolutionProposal, DraftError> {
    let map = value.as_object().ok_or(DraftError::NotAnObject)?;
    Ok(payload::parse::<EvolutionProposal>(map)?)
}

/// `PATH=JSON`, split at the first `=`.
pub fn parse_assignment(s: &str) -> Result<(String, Value), DraftError> {
    let (path, json) = s
        .split_once('=')
        .ok_or_else(|| DraftError::NotAssignment(s.to_string()))?;
    let value = serde_json::from_str(json).map_err(|e| DraftError::NotJson {
        path: path.to_string(),
        error: e.to_string(),
    })?;
    Ok((path.to_string(), value))
}

/// Draft a proposal to change the pack whose canonical JSON is `pack`.
/// Edits come in a fixed order (the recommendation's increment, then every
/// `set`, `add`, `remove`) so the same request drafts the same proposal.
/// `checker` is the constitution's, to name the invariant when a removal of
/// something the pack does not hold is also one the constitution forbids.
pub fn draft(
    req: &Request,
    pack: &Value,
    checker: &Checker,
) -> Result<EvolutionProposal, DraftError> {
    let recommendation = req
        .finding
        .as_ref()
        .and_then(|f| f.details.get("recommendation"))
        .filter(|r| !r.is_null());
    let proposal_type = match (recommendation, req.proposal_type) {
        (_, Some(t)) => t,
        (Some(r), None) => serde_json::from_value::<ProposalType>(Value::String(
            r["proposal_type"].as_str().unwrap_or("").to_string(),
        ))
        .map_err(|e| DraftError::Recommendation(e.to_string()))?,
        (None, None) if req.finding.is_some() => return Err(DraftError::FindingWithoutType),
        (None, None) => return Err(DraftError::NoType),
    };
    let title = req
        .title
        .clone()
        .or_else(|| recommendation.and_then(|r| r["title"].as_str().map(str::to_string)))
        .ok_or(DraftError::NoTitle)?;
    if proposal_type.target() != ChangeTarget::Params {
        return Err(DraftError::Amendment);
    }
    let in_pack = |path: &str| {
        pack.pointer(path)
            .cloned()
            .ok_or_else(|| DraftError::NotInPack(path.to_string()))
    };
    let mut edits = Vec::new();
    if let Some((path, by)) = recommendation
        .and_then(|r| r["increment"].as_array())
        .and_then(|a| Some((a.first()?.as_str()?.to_string(), a.get(1)?.as_i64()?)))
    {
        let before = in_pack(&path)?;
        let after = before
            .as_i64()
            .and_then(|b| b.checked_add(by))
            .ok_or_else(|| DraftError::NotANumber(path.clone()))?;
        edits.push(Edit {
            path,
            before: Some(before),
            after: Some(json!(after)),
        });
    }
    for s in &req.set {
        let (path, after) = parse_assignment(s)?;
        let before = in_pack(&path)?;
        edits.push(Edit {
            path,
            before: Some(before),
            after: Some(after),
        });
    }
    for s in &req.add {
        let (path, after) = parse_assignment(s)?;
        edits.push(Edit {
            path,
            before: None,
            after: Some(after),
        });
    }
    for path in &req.remove {
        let Some(before) = pack.pointer(path).cloned() else {
            // Removing what the pack does not hold is an error; when the
            // removal is what an invariant forbids (`--remove /export`),
            // the error names the invariant, as the gate would.
            let report = removal_report(path, checker);
            if !report.is_clean() {
                return Err(DraftError::RemovalViolates {
                    path: path.clone(),
                    report: report.describe(),
                });
            }
            return Err(DraftError::NotInPack(path.clone()));
        };
        edits.push(Edit {
            path: path.clone(),
            before: Some(before),
            after: None,
        });
    }
    if edits.is_empty() {
        return Err(DraftError::NoEdits);
    }
    let mut evidence: Vec<Evidence> = Vec::new();
    let mut description = req.description.clone().unwrap_or_default();
    if let Some(f) = &req.finding {
        if description.trim().is_empty() {
            description = f.summary.clone();
        }
        let mut data = f.details.clone();
        data.insert("finding_id".into(), json!(f.id));
        evidence.push(Evidence::Data(data));
    }
    evidence.extend(req.evidence.iter().map(|e| Evidence::Text(e.clone())));
    if description.trim().is_empty() {
        return Err(DraftError::NoDescription);
    }
    Ok(EvolutionProposal {
        proposal_type,
        title,
        description,
        change: Change {
            target: ChangeTarget::Params,
            edits,
        },
        evidence,
        flags: req.flags.clone(),
    })
}

/// The invariant checker's report on removing `path` alone.
fn removal_report(path: &str, checker: &Checker) -> invariants::Report {
    let probe = EvolutionProposal {
        proposal_type: ProposalType::PatternDetection,
        title: "probe".into(),
        description: String::new(),
        change: Change {
            target: ChangeTarget::Params,
            edits: vec![Edit {
                path: path.to_string(),
                before: Some(Value::Null),
                after: None,
            }],
        },
        evidence: Vec::new(),
        flags: Flags {
            data_collection: false,
            user_consent_required: false,
            removes_export: false,
            breaking_change: false,
            migration_path: None,
        },
    };
    invariants::check(&probe, checker)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::EngineParams;
    use crate::payload::Payload;

    fn checker() -> Checker {
        mirror_constitution::Constitution::genesis()
            .checker()
            .expect("the genesis lexicon loads")
    }

    fn pack() -> Value {
        let params = EngineParams::genesis().expect("the genesis pack loads");
        serde_json::from_slice(&params.canonical_json()).expect("canonical JSON parses")
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

    fn request() -> Request {
        Request {
            proposal_type: Some(ProposalType::PatternDetection),
            title: Some("A title".into()),
            description: Some("What it is for.".into()),
            set: Vec::new(),
            add: Vec::new(),
            remove: Vec::new(),
            evidence: Vec::new(),
            flags: no_flags(),
            finding: None,
        }
    }

    /// A numeric leaf of the genesis pack, found rather than hard-coded so
    /// the tests follow the pack: (pointer, value).
    fn number_in(v: &Value, at: &str) -> Option<(String, i64)> {
        match v {
            Value::Number(n) => n.as_i64().map(|n| (at.to_string(), n)),
            Value::Object(m) => m.iter().find_map(|(k, v)| {
                number_in(
                    v,
                    &format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")),
                )
            }),
            _ => None,
        }
    }

    fn a_number() -> (String, i64) {
        number_in(&pack(), "").expect("the genesis pack holds a number")
    }

    fn draft_of(req: &Request) -> Result<EvolutionProposal, DraftError> {
        draft(req, &pack(), &checker())
    }

    #[test]
    fn a_set_reads_its_before_from_the_pack() {
        let (path, n) = a_number();
        let mut req = request();
        req.set = vec![format!("{path}={}", n + 1)];
        req.evidence = vec!["seen twice".into()];
        let p = draft_of(&req).unwrap();
        assert_eq!(
            p.change.edits,
            vec![Edit {
                path,
                before: Some(json!(n)),
                after: Some(json!(n + 1)),
            }]
        );
        assert_eq!(p.change.target, ChangeTarget::Params);
        assert_eq!(p.evidence, vec![Evidence::Text("seen twice".into())]);
        assert_eq!(p.title, "A title");
        p.check().unwrap();
    }

    #[test]
    fn an_add_has_no_before_and_a_remove_no_after() {
        let (path, n) = a_number();
        let mut req = request();
        req.add = vec!["/a_new_key=\"text\"".into()];
        req.remove = vec![path.clone()];
        let p = draft_of(&req).unwrap();
        assert_eq!(
            p.change.edits,
            vec![
                Edit {
                    path: "/a_new_key".into(),
                    before: None,
                    after: Some(json!("text")),
                },
                Edit {
                    path,
                    before: Some(json!(n)),
                    after: None,
                },
            ]
        );
    }

    #[test]
    fn a_findings_recommendation_sets_type_title_first_edit_and_evidence() {
        let (path, n) = a_number();
        let mut details = Map::new();
        details.insert(
            "recommendation".into(),
            json!({"proposal_type": "tension_heuristic", "title": "Raise it", "increment": [path, 2]}),
        );
        let mut req = request();
        req.proposal_type = None;
        req.title = None;
        req.description = None;
        req.finding = Some(Finding {
            id: "f1".into(),
            summary: "Seen in many entries.".into(),
            details: details.clone(),
        });
        let p = draft_of(&req).unwrap();
        assert_eq!(p.proposal_type, ProposalType::TensionHeuristic);
        assert_eq!(p.title, "Raise it");
        assert_eq!(p.description, "Seen in many entries.");
        assert_eq!(
            p.change.edits,
            vec![Edit {
                path,
                before: Some(json!(n)),
                after: Some(json!(n + 2)),
            }]
        );
        details.insert("finding_id".into(), json!("f1"));
        assert_eq!(p.evidence, vec![Evidence::Data(details)]);
    }

    /// A change to the plain request that makes it fail.
    type Spoil = fn(&mut Request);

    #[test]
    fn every_missing_part_is_named() {
        let (path, _) = a_number();
        let set = vec![format!("{path}=1")];
        let cases: Vec<(Spoil, DraftError)> = vec![
            (|r| r.proposal_type = None, DraftError::NoType),
            (|r| r.title = None, DraftError::NoTitle),
            (
                |r| r.proposal_type = Some(ProposalType::ConstitutionalAmendment),
                DraftError::Amendment,
            ),
            (|r| r.set.clear(), DraftError::NoEdits),
            (
                |r| r.description = Some("  ".into()),
                DraftError::NoDescription,
            ),
            (
                |r| r.set = vec!["/no/equals".into()],
                DraftError::NotAssignment("/no/equals".into()),
            ),
            (
                |r| r.set = vec!["/not_in_pack=1".into()],
                DraftError::NotInPack("/not_in_pack".into()),
            ),
            (
                |r| r.remove = vec!["/not_in_pack".into()],
                DraftError::NotInPack("/not_in_pack".into()),
            ),
        ];
        for (change, want) in cases {
            let mut req = request();
            req.set = set.clone();
            change(&mut req);
            assert_eq!(draft_of(&req).unwrap_err(), want);
        }
    }

    #[test]
    fn a_value_that_is_not_json_says_to_quote() {
        let mut req = request();
        req.add = vec!["/x=bare words".into()];
        let e = draft_of(&req).unwrap_err();
        assert!(
            matches!(&e, DraftError::NotJson { path, .. } if path == "/x"),
            "{e:?}"
        );
        assert!(e.to_string().contains("quote strings"), "{e}");
    }

    #[test]
    fn a_finding_without_a_recommendation_needs_a_type() {
        let mut req = request();
        req.proposal_type = None;
        req.set = vec![format!("{}=1", a_number().0)];
        req.finding = Some(Finding {
            id: "f1".into(),
            summary: "s".into(),
            details: Map::new(),
        });
        assert_eq!(draft_of(&req).unwrap_err(), DraftError::FindingWithoutType);
        req.finding.as_mut().unwrap().details.insert(
            "recommendation".into(),
            json!({"proposal_type": "no_such_type"}),
        );
        assert!(matches!(
            draft_of(&req).unwrap_err(),
            DraftError::Recommendation(_)
        ));
    }

    #[test]
    fn an_increment_of_what_is_not_a_number_is_refused() {
        let pack = json!({"name": "text"});
        let mut details = Map::new();
        details.insert("recommendation".into(), json!({"increment": ["/name", 1]}));
        let mut req = request();
        req.finding = Some(Finding {
            id: "f1".into(),
            summary: "s".into(),
            details,
        });
        assert_eq!(
            draft(&req, &pack, &checker()).unwrap_err(),
            DraftError::NotANumber("/name".into())
        );
    }

    #[test]
    fn removing_what_an_invariant_protects_names_the_invariant() {
        let mut req = request();
        req.remove = vec!["/export".into()];
        let pack = json!({"other": 1});
        let e = draft(&req, &pack, &checker()).unwrap_err();
        assert!(
            matches!(&e, DraftError::RemovalViolates { path, report } if path == "/export" && report.contains("I5")),
            "{e:?}"
        );
    }

    #[test]
    fn a_whole_proposal_from_json() {
        assert_eq!(from_json(&json!([1])).unwrap_err(), DraftError::NotAnObject);
        assert!(matches!(
            from_json(&json!({"title": "x"})).unwrap_err(),
            DraftError::Invalid(_)
        ));
        let mut req = request();
        req.set = vec![format!("{}=1", a_number().0)];
        let p = draft_of(&req).unwrap();
        let value = Value::Object(payload::to_payload(&p).unwrap());
        assert_eq!(from_json(&value).unwrap(), p);
    }
}
