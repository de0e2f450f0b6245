//! `proposal_transition`: a proposal moved along its lifecycle.

use super::*;

/// `proposal_transition`: moves a proposal along its lifecycle.
///
/// The voting window is fixed when voting opens: a transition `to: voting`
/// carries both `voting_opens_at` and `voting_closes_at` (unix ms, closing
/// after opening); every other transition carries neither.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProposalTransition {
    /// The proposal's record id.
    pub proposal: Hash,
    pub to: ProposalState,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub voting_opens_at: Option<u64>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub voting_closes_at: Option<u64>,
}

/// draft → testing → review → voting → approved | rejected → applied, and
/// cancelled (by the proposer, before voting).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProposalState {
    Draft,
    Testing,
    Review,
    Voting,
    Approved,
    Rejected,
    Applied,
    Cancelled,
}

impl Payload for ProposalTransition {
    const KIND: &'static str = "proposal_transition";

    fn check(&self) -> Result<(), PayloadError> {
        let c = Check(Self::KIND);
        match (self.to, self.voting_opens_at, self.voting_closes_at) {
            (ProposalState::Voting, Some(opens), Some(closes)) => {
                c.int(
                    "voting_opens_at",
                    opens,
                    0,
                    MAX_SAFE_INTEGER,
                    "a safe integer",
                )?;
                c.int(
                    "voting_closes_at",
                    closes,
                    0,
                    MAX_SAFE_INTEGER,
                    "a safe integer",
                )?;
                if closes <= opens {
                    return Err(c.range(
                        "voting_closes_at",
                        format!("{closes}; must be after voting_opens_at ({opens})"),
                    ));
                }
                Ok(())
            }
            (ProposalState::Voting, None, _) => Err(c.missing("voting_opens_at")),
            (ProposalState::Voting, _, None) => Err(c.missing("voting_closes_at")),
            (_, Some(_), _) => Err(c.invalid(
                "voting_opens_at",
                "only a transition to voting fixes the voting window",
            )),
            (_, _, Some(_)) => Err(c.invalid(
                "voting_closes_at",
                "only a transition to voting fixes the voting window",
            )),
            _ => Ok(()),
        }
    }
}
