//! `evolution_proposal`: a change to the pack or the constitution, with its evidence and flags.

use super::*;

/// `evolution_proposal`: a proposed change to the engine's parameters or,
/// for an amendment, to the constitution. Its record id is its content hash:
/// any change is a new proposal.
///
/// Beyond the schema: edit paths are distinct and no edit leaves its value
/// as it was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvolutionProposal {
    pub proposal_type: ProposalType,
    /// Single line, at most 200 characters.
    pub title: String,
    /// Multi-line, at most 8000 characters.
    pub description: String,
    pub change: Change,
    /// Why: findings, measurements, examples (at most 32).
    pub evidence: Vec<Evidence>,
    pub flags: Flags,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProposalType {
    PromptAdjustment,
    PatternDetection,
    TensionHeuristic,
    ConstitutionalAmendment,
    SafetyRefinement,
}

impl ProposalType {
    /// What a proposal of this type changes.
    pub fn target(self) -> ChangeTarget {
        match self {
            ProposalType::ConstitutionalAmendment => ChangeTarget::Constitution,
            _ => ChangeTarget::Params,
        }
    }
}

/// The exact change, as edits with the value before and after, so it can be
/// checked (invariants, compliance) and applied (refused when a `before`
/// no longer matches).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Change {
    /// `params` for every type but `constitutional_amendment`, which changes
    /// `constitution`.
    pub target: ChangeTarget,
    /// One to 64 edits.
    pub edits: Vec<Edit>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeTarget {
    /// The engine parameter pack ([`crate::params::EngineParams`]).
    Params,
    /// The constitution documents.
    Constitution,
}

/// One edit. For `params`, `path` is a JSON Pointer (RFC 6901) into the
/// pack's JSON form, e.g. `/patterns/rumination/rules/0/cues`, and the
/// values are any JSON. For `constitution`, `path` is a document's file name
/// (`03-what-the-mirror-may-say.md`) and the values are its whole text.
/// `before` absent: the value is added; `after` absent: it is removed; at
/// least one is present.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Edit {
    pub path: String,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub before: Option<Value>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub after: Option<Value>,
}

/// A piece of evidence: a multi-line text (at most 2000 characters) or a
/// structured object (a finding, a measurement), opaque here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged, expecting = "must be a text (string) or an object")]
pub enum Evidence {
    Text(String),
    Data(Map<String, Value>),
}

/// What the invariant checker reads (I1, I5, I6). The flags are declared by
/// the proposer; the checker also looks at the change itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Flags {
    /// The change collects data (I1: needs `user_consent_required`).
    pub data_collection: bool,
    pub user_consent_required: bool,
    /// The change removes export (I5: always a violation).
    pub removes_export: bool,
    /// The change breaks existing behaviour or data (I6: needs
    /// `migration_path`).
    pub breaking_change: bool,
    /// How people move over, multi-line, at most 2000 characters.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub migration_path: Option<String>,
}

impl Payload for EvolutionProposal {
    const KIND: &'static str = "evolution_proposal";

    fn check(&self) -> Result<(), PayloadError> {
        let c = Check(Self::KIND);
        c.text("title", &self.title, limits::TITLE_CHARS, Lines::Single)?;
        c.text(
            "description",
            &self.description,
            limits::DESCRIPTION_CHARS,
            Lines::Multi,
        )?;
        let target = self.proposal_type.target();
        if self.change.target != target {
            return Err(c.invalid(
                "change.target",
                format!("a {} changes {}", wire(&self.proposal_type), wire(&target)),
            ));
        }
        c.count("change.edits", self.change.edits.len(), 1, limits::EDITS)?;
        let mut paths = BTreeSet::new();
        for (i, edit) in self.change.edits.iter().enumerate() {
            let at = format!("change.edits[{i}]");
            let path_field = format!("{at}.path");
            c.text(
                &path_field,
                &edit.path,
                limits::EDIT_PATH_CHARS,
                Lines::Single,
            )?;
            match target {
                ChangeTarget::Params if !is_json_pointer(&edit.path) => {
                    return Err(c.invalid(
                        path_field,
                        "must be a JSON Pointer into the parameter pack, like /thresholds/max_regenerations",
                    ));
                }
                ChangeTarget::Constitution if !is_document_name(&edit.path) => {
                    return Err(c.invalid(
                        path_field,
                        "must be a constitution document's file name, like 01-core-principle.md",
                    ));
                }
                _ => {}
            }
            if !paths.insert(edit.path.as_str()) {
                return Err(c.invalid(path_field, format!("{:?} is edited twice", edit.path)));
            }
            match (&edit.before, &edit.after) {
                (None, None) => {
                    return Err(c.missing(format!("{at}.after")));
                }
                (Some(b), Some(a)) if a == b => {
                    return Err(c.invalid(format!("{at}.after"), "is the same as before"));
                }
                _ => {}
            }
            if target == ChangeTarget::Constitution {
                for (name, value) in [("before", &edit.before), ("after", &edit.after)] {
                    if value.as_ref().is_some_and(|v| !v.is_string()) {
                        return Err(c.invalid(
                            format!("{at}.{name}"),
                            "must be the document's text (a string)",
                        ));
                    }
                }
            }
        }
        c.count("evidence", self.evidence.len(), 0, limits::EVIDENCE_ITEMS)?;
        for (i, e) in self.evidence.iter().enumerate() {
            if let Evidence::Text(t) = e {
                c.text(
                    &format!("evidence[{i}]"),
                    t,
                    limits::EVIDENCE_TEXT_CHARS,
                    Lines::Multi,
                )?;
            }
        }
        if let Some(path) = &self.flags.migration_path {
            c.text(
                "flags.migration_path",
                path,
                limits::MIGRATION_PATH_CHARS,
                Lines::Multi,
            )?;
        }
        Ok(())
    }
}

pub(super) fn is_json_pointer(path: &str) -> bool {
    let Some(rest) = path.strip_prefix('/') else {
        return false;
    };
    rest.split('/').all(|token| {
        !token.is_empty() && {
            let mut chars = token.chars();
            let mut ok = true;
            while let Some(c) = chars.next() {
                if c == '~' && !matches!(chars.next(), Some('0' | '1')) {
                    ok = false;
                    break;
                }
            }
            ok
        }
    })
}

pub(super) fn is_document_name(path: &str) -> bool {
    let bytes = path.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 100
        && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(b))
}
