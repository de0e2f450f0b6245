//! The acceptance gate: the one place that decides whether a record enters
//! a node's accepted state.
//!
//! Gossip, catch-up sync and local publishing all go through [`Gate::check`]
//! (or its batch form), so a record cannot reach the document by a side
//! door. The checks run cheapest first: size and shape, then the clock, then
//! the kind's payload schema, then the signature (the expensive part,
//! verified strictly, one record at a time, even in [`Gate::check_batch`]:
//! see there why), then the kind's rules, which governance plugs in through
//! [`Rules`].

use std::collections::BTreeMap;

use crate::record::{Kind, Record, RecordError, RecordId};

/// How far in the future a record's `created_at` may be, for clock skew.
pub const MAX_CLOCK_SKEW_MS: i64 = 10 * 60 * 1000;

/// Why a record was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("malformed record: {0}")]
    Malformed(#[from] RecordError),
    #[error("bad payload for {kind}: {reason}")]
    Schema { kind: Kind, reason: String },
    #[error("signature does not verify")]
    BadSignature,
    #[error("record id {claimed} does not match its bytes ({actual})")]
    WrongId { claimed: String, actual: String },
    #[error("created_at {created_at} is more than 10 minutes ahead of this node's clock ({now})")]
    FromTheFuture { created_at: i64, now: i64 },
    #[error("record {0} was already accepted (replayed)")]
    Replay(RecordId),
    #[error("{kind} record breaks a rule: {reason}")]
    Rule {
        kind: Kind,
        /// A short stable name for the rule, for counting.
        name: &'static str,
        reason: String,
    },
    /// The Automerge change carrying the record does something other than
    /// insert it (delete, overwrite, write elsewhere…).
    #[error("change refused: {detail}")]
    Change {
        reason: &'static str,
        detail: String,
    },
}

impl Rejection {
    /// A short stable name for counting and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            Rejection::Malformed(RecordError::TooLarge { .. }) => "too_large",
            Rejection::Malformed(_) => "malformed",
            Rejection::Schema { .. } => "schema",
            Rejection::BadSignature => "bad_signature",
            Rejection::WrongId { .. } => "wrong_id",
            Rejection::FromTheFuture { .. } => "from_the_future",
            Rejection::Replay(_) => "replay",
            Rejection::Rule { name, .. } => name,
            Rejection::Change { reason, .. } => reason,
        }
    }
}

/// A failed verification as the gate counts it: a malformed S is a bad
/// signature too; a key that is not one is a malformed record.
fn signature_rejection(e: RecordError) -> Rejection {
    match e {
        RecordError::BadSignature
        | RecordError::Field {
            field: "signature", ..
        } => Rejection::BadSignature,
        other => Rejection::Malformed(other),
    }
}

/// What the gate needs to know about the accepted state.
pub trait Accepted {
    fn contains(&self, id: &RecordId) -> bool;
    /// Accepted records of one kind, in id order.
    fn records_of(&self, kind: Kind) -> Vec<Record>;
}

/// The kind-specific rules (membership, votes, releases…). Governance
/// supplies the real ones; a commons without them accepts every record that
/// is well formed and correctly signed.
///
/// A rule sees the record and nothing else: not the accepted state, not
/// this node's pack or registry. Two honest nodes must refuse exactly the
/// same records whatever they hold, or the first release that changes what
/// a node holds would have them refuse, strike and ban each other. What
/// needs more than the record (membership, windows, which registry a
/// packet's metrics belong to) is judged where it is counted, and a record
/// that cannot be judged yet is kept and left out of the counts.
pub trait Rules: Send + Sync {
    fn check(&self, record: &Record) -> Result<(), RuleRefusal>;
}

/// Why a kind's rules refuse a record: a stable name and the detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleRefusal {
    pub name: &'static str,
    pub detail: String,
}

/// Accepts every well-formed, correctly signed record: the structural gate
/// alone.
#[derive(Debug, Default, Clone, Copy)]
pub struct StructuralOnly;

impl Rules for StructuralOnly {
    fn check(&self, _record: &Record) -> Result<(), RuleRefusal> {
        Ok(())
    }
}

/// Rejections counted per peer and reason.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RejectionCounts(pub BTreeMap<String, BTreeMap<&'static str, u64>>);

impl RejectionCounts {
    pub fn count(&mut self, peer: &str, rejection: &Rejection) {
        self.count_reason(peer, rejection.reason());
    }

    pub fn count_reason(&mut self, peer: &str, reason: &'static str) {
        *self
            .0
            .entry(peer.to_string())
            .or_default()
            .entry(reason)
            .or_default() += 1;
    }

    /// How many times `peer` was refused for `reason`.
    pub fn get(&self, peer: &str, reason: &str) -> u64 {
        self.0
            .get(peer)
            .and_then(|m| m.get(reason))
            .copied()
            .unwrap_or(0)
    }

    pub fn total_for(&self, peer: &str) -> u64 {
        self.0.get(peer).map_or(0, |m| m.values().sum())
    }
}

pub struct Gate {
    rules: Box<dyn Rules>,
}

impl Default for Gate {
    fn default() -> Self {
        Gate::new(Box::new(StructuralOnly))
    }
}

impl Gate {
    pub fn new(rules: Box<dyn Rules>) -> Gate {
        Gate { rules }
    }

    /// Everything but the signature and the rules: cheap, and enough to
    /// refuse garbage before spending a verification on it.
    pub fn precheck(&self, bytes: &[u8], now_ms: i64) -> Result<Record, Rejection> {
        let record = Record::decode(bytes)?;
        if record.created_at > now_ms.saturating_add(MAX_CLOCK_SKEW_MS) {
            return Err(Rejection::FromTheFuture {
                created_at: record.created_at,
                now: now_ms,
            });
        }
        mirror_governance::payload::validate(record.kind.as_str(), &record.payload).map_err(
            |e| Rejection::Schema {
                kind: record.kind,
                reason: e.to_string(),
            },
        )?;
        Ok(record)
    }

    /// Check one record completely. `claimed_id` is the id the record
    /// arrived under (a document key), if any.
    pub fn check(
        &self,
        bytes: &[u8],
        claimed_id: Option<&RecordId>,
        now_ms: i64,
        accepted: &dyn Accepted,
    ) -> Result<Record, Rejection> {
        let record = self.precheck(bytes, now_ms)?;
        check_claimed(&record, claimed_id)?;
        record.verify_signature().map_err(signature_rejection)?;
        self.after_signature(record, accepted)
    }

    /// Check many records (a sync message's). Results are in input order.
    /// Rules see the accepted state as it is before the batch: records in
    /// one batch never depend on each other's acceptance here; the caller
    /// re-checks the rejected ones.
    ///
    /// Each signature is verified on its own, strictly, as [`Gate::check`]
    /// does. ed25519 batch verification (cofactorless, with random weights)
    /// passes a signature whose R or key has a small-order component by
    /// chance, about half the time, where strict verification refuses it:
    /// a record built that way would be accepted by some nodes and refused
    /// by others, depending on how it arrived. Making a passing batch sound
    /// takes a scalar multiplication per record, which costs what the batch
    /// saves, so there is no batch.
    pub fn check_batch(
        &self,
        items: &[(&[u8], Option<RecordId>)],
        now_ms: i64,
        accepted: &dyn Accepted,
    ) -> Vec<Result<Record, Rejection>> {
        let out: Vec<Result<Record, Rejection>> = items
            .iter()
            .map(|(bytes, claimed)| {
                let r = self.precheck(bytes, now_ms)?;
                check_claimed(&r, claimed.as_ref())?;
                r.verify_signature().map_err(signature_rejection)?;
                Ok(r)
            })
            .collect();
        out.into_iter()
            .map(|r| r.and_then(|record| self.after_signature(record, accepted)))
            .collect()
    }

    fn after_signature(
        &self,
        record: Record,
        accepted: &dyn Accepted,
    ) -> Result<Record, Rejection> {
        if accepted.contains(&record.id()) {
            return Err(Rejection::Replay(record.id()));
        }
        self.rules
            .check(&record)
            .map_err(|refusal| Rejection::Rule {
                kind: record.kind,
                name: refusal.name,
                reason: refusal.detail,
            })?;
        Ok(record)
    }
}

fn check_claimed(record: &Record, claimed: Option<&RecordId>) -> Result<(), Rejection> {
    match claimed {
        Some(c) if *c != record.id() => Err(Rejection::WrongId {
            claimed: c.to_hex(),
            actual: record.id().to_hex(),
        }),
        _ => Ok(()),
    }
}
