//! The rules every node's gate applies to a governance record, after its
//! schema and signature: only what the record shows by itself.
//!
//! A rule here must give the same answer on every node whatever else that
//! node holds (see [`crate::ledger`] for why), so it reads the record and
//! the commons' own identity, never other records. That still refuses a
//! good deal on arrival: a proposal that violates an invariant, a guardian
//! signature that does not verify, a second founding genesis.

use mirror_constitution::compliance::Checker;

use crate::invariants;
use crate::ledger::{Entry, signature_holds};
use crate::payload::{AnyPayload, Hash};

/// Why the gate refuses a governance record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleViolation {
    #[error("proposal violates the constitution: {0}")]
    Invariants(String),
    #[error("guardian signature does not verify with its author's key")]
    BadGuardianSignature,
    #[error("a genesis other than this commons' own must be a rotation (root_version above {0})")]
    SecondGenesis(u64),
    #[error("release: {0}")]
    Release(crate::release::ReleaseError),
}

impl From<crate::release::ReleaseError> for RuleViolation {
    fn from(e: crate::release::ReleaseError) -> Self {
        RuleViolation::Release(e)
    }
}

impl RuleViolation {
    /// A short stable name for counting.
    pub fn reason(&self) -> &'static str {
        match self {
            RuleViolation::Invariants(_) => "invariant_violation",
            RuleViolation::BadGuardianSignature => "bad_guardian_signature",
            RuleViolation::SecondGenesis(_) => "second_genesis",
            RuleViolation::Release(e) => e.reason(),
        }
    }
}

/// Check one record against the rules that need nothing but itself.
/// `commons` is the commons id (its genesis record's id);
/// `founding_root_version` the genesis root version when the genesis is
/// known (rotations must be above it), else 1.
pub fn check(
    entry: &Entry,
    commons: &Hash,
    founding_root_version: u64,
    checker: &Checker,
) -> Result<(), RuleViolation> {
    match &entry.payload {
        AnyPayload::Genesis(g) => {
            if entry.id == *commons || g.root_version > founding_root_version {
                Ok(())
            } else {
                Err(RuleViolation::SecondGenesis(founding_root_version))
            }
        }
        AnyPayload::EvolutionProposal(p) => {
            let report = invariants::check(p, checker);
            if report.is_clean() {
                Ok(())
            } else {
                Err(RuleViolation::Invariants(report.describe()))
            }
        }
        AnyPayload::GuardianSignature(s) => {
            if signature_holds(&entry.author, s) {
                Ok(())
            } else {
                Err(RuleViolation::BadGuardianSignature)
            }
        }
        // A release's TUF metadata must hold together by itself (its own
        // root's signatures, the version chain, every file's hash); whether
        // that root is the guardians' is the ledger's question.
        AnyPayload::ReleaseManifest(m) => crate::release::verify(m).map(|_| ()).map_err(Into::into),
        // A candidate holds together the same way but for its signature
        // counts, and carries its author's own signature.
        AnyPayload::ReleaseCandidate(c) => {
            crate::release::verify_candidate(&c.0, &entry.author).map_err(Into::into)
        }
        _ => Ok(()),
    }
}
