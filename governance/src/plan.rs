//! Planning the next release from the ledger, as a pure function: which
//! approved proposals it applies, in which order, to which pack and
//! documents, and what version it is. `mirror release build` signs nothing
//! until this says what the release holds, and any tool can compute the
//! same plan from the same records.

use std::collections::{BTreeMap, BTreeSet};

use crate::change::{self, ChangeError};
use crate::ledger::{Ledger, ProposalStatus};
use crate::params::{EngineParams, ParamsError};
use crate::payload::{ChangeTarget, Hash, ProposalState};

/// What the next release holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub version: u64,
    /// The newest verified release's record id.
    pub previous: Option<Hash>,
    /// The proposals applied, in the order they were approved (then by id).
    pub proposals: Vec<Hash>,
    pub params: EngineParams,
    /// The amended documents, when an amendment is among the proposals.
    pub constitution: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlanError {
    #[error("no approved proposal waits for a release")]
    NothingToRelease,
    #[error("no proposal {0} in the commons")]
    UnknownProposal(String),
    #[error("proposal {id} is {state}, not approved")]
    NotApproved { id: String, state: String },
    #[error("proposal {id}: {error}")]
    Change { id: String, error: ChangeError },
    #[error("the genesis pack: {0}")]
    Params(#[from] ParamsError),
}

/// The plan for the next release at `now`: `chosen` proposals (or, when
/// empty, every approved proposal no verified release has applied yet),
/// applied to the pack of the newest verified release (or the genesis
/// pack); amendments to its documents, or to `documents` (the constitution
/// in force) when no release carried any.
pub fn plan(
    ledger: &Ledger,
    now: i64,
    chosen: &[Hash],
    documents: &BTreeMap<String, String>,
) -> Result<Plan, PlanError> {
    let verified: Vec<(Hash, crate::release::Release)> = ledger
        .releases()
        .into_iter()
        .filter_map(|(e, r)| r.ok().map(|r| (e.id, r)))
        .collect();
    let latest = verified.iter().max_by_key(|(_, r)| r.info.version);
    let released: BTreeSet<Hash> = verified
        .iter()
        .flat_map(|(_, r)| r.info.proposals.clone())
        .collect();
    let ids: Vec<Hash> = if chosen.is_empty() {
        ledger
            .proposals()
            .into_iter()
            .filter(|id| {
                !released.contains(id)
                    && ledger
                        .proposal(id, now)
                        .is_some_and(|s| s.state == ProposalState::Approved)
            })
            .collect()
    } else {
        chosen.to_vec()
    };
    if ids.is_empty() {
        return Err(PlanError::NothingToRelease);
    }
    let mut statuses: Vec<ProposalStatus> = Vec::new();
    for id in &ids {
        let s = ledger
            .proposal(id, now)
            .ok_or_else(|| PlanError::UnknownProposal(id.to_hex()))?;
        if s.state != ProposalState::Approved {
            return Err(PlanError::NotApproved {
                id: id.to_hex(),
                state: serde_json::to_value(s.state)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
            });
        }
        statuses.push(s);
    }
    statuses.sort_by_key(|s| (s.tally.as_ref().map(|t| t.window.closes), s.id));
    let mut params = match latest {
        Some((_, r)) => r.params.clone(),
        None => EngineParams::genesis()?,
    };
    let mut amended: Option<BTreeMap<String, String>> = None;
    for s in &statuses {
        let fail = |error| PlanError::Change {
            id: s.id.to_hex(),
            error,
        };
        match s.proposal.change.target {
            ChangeTarget::Params => {
                params = change::apply_to_params(&params, &s.proposal.change).map_err(fail)?;
            }
            ChangeTarget::Constitution => {
                let base = match (&amended, latest.and_then(|(_, r)| r.constitution.as_ref())) {
                    (Some(d), _) => d.clone(),
                    (None, Some(d)) => d.clone(),
                    (None, None) => documents.clone(),
                };
                amended =
                    Some(change::apply_to_documents(&base, &s.proposal.change).map_err(fail)?);
            }
        }
    }
    Ok(Plan {
        version: latest.map_or(1, |(_, r)| r.info.version + 1),
        previous: latest.map(|(id, _)| *id),
        proposals: statuses.iter().map(|s| s.id).collect(),
        params,
        constitution: amended,
    })
}
