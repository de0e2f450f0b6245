//! `vote`: a member's choice on a proposal.

use super::*;

/// `vote`: a member's choice on a proposal in voting. A later vote by the
/// same member inside the window replaces an earlier one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vote {
    /// The proposal's record id.
    pub proposal: Hash,
    pub choice: Choice,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Choice {
    Approve,
    Reject,
    /// Counts toward quorum only.
    Abstain,
}

impl Payload for Vote {
    const KIND: &'static str = "vote";

    fn check(&self) -> Result<(), PayloadError> {
        Ok(())
    }
}
