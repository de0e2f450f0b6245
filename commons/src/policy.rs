//! Peer policy without I/O: what to hold against a peer for what the core
//! refused, and how much gossip to take from it.
//!
//! The libp2p driver (`net/driver.rs`) and the simulator both ask this
//! module and carry out what it says (disconnect, block, lower a gossipsub
//! score), so the policy the simulator measures is the one nodes run. It
//! takes the time as an argument, like the core, and keeps its per-peer
//! state in ordered maps, so its answers are a function of its inputs.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use crate::gate::Rejection;
use crate::net::{Strikes, TokenBucket};
use crate::service::{GossipVerdict, SyncRejection};

/// A flooding peer gets at most one strike per this long: a burst from an
/// honest node that is importing records should cost it little.
pub const FLOOD_STRIKE_EVERY: Duration = Duration::from_secs(10);

/// Why a peer is to be banned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BanCause {
    /// Too many strikes (rejected gossip, floods, refused sync records).
    Strikes,
    /// A sync message the core refused whole (reason as counted).
    BadSync(&'static str),
    /// It belongs to another commons.
    ForeignCommons,
}

/// What to do about a peer after an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Nothing,
    /// A strike; `count` is the peer's count after it.
    Strike {
        count: u32,
    },
    Ban(BanCause),
}

/// Whether to hand a gossip message to the core.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Take,
    /// Over the peer's rate: ignore the message, and do `then`.
    Ignore {
        then: Action,
    },
}

/// The policy's state for every peer of one node, keyed by `P` (a libp2p
/// peer id in a node, an index in the simulator).
#[derive(Debug, Clone)]
pub struct PeerPolicy<P: Ord + Clone> {
    strikes_to_ban: u32,
    gossip_rate: u32,
    strikes: BTreeMap<P, Strikes>,
    buckets: BTreeMap<P, (TokenBucket, Option<Instant>)>,
    banned: BTreeSet<P>,
}

impl<P: Ord + Clone> PeerPolicy<P> {
    /// A ban at `strikes_to_ban` strikes (at least 1); `gossip_rate`
    /// messages a second per peer, with a burst of
    /// [`crate::net::BURST_SECONDS`] of it.
    pub fn new(strikes_to_ban: u32, gossip_rate: u32) -> PeerPolicy<P> {
        PeerPolicy {
            strikes_to_ban: strikes_to_ban.max(1),
            gossip_rate,
            strikes: BTreeMap::new(),
            buckets: BTreeMap::new(),
            banned: BTreeSet::new(),
        }
    }

    pub fn is_banned(&self, peer: &P) -> bool {
        self.banned.contains(peer)
    }

    /// Record a ban (the caller carries it out).
    pub fn note_ban(&mut self, peer: &P) {
        self.banned.insert(peer.clone());
    }

    /// The peer's strikes now (after forgiveness).
    pub fn strikes(&mut self, peer: &P, now: Instant) -> u32 {
        self.strikes.get_mut(peer).map_or(0, |s| s.count(now))
    }

    /// The peer disconnected: its rate bucket goes (strikes stay).
    pub fn gone(&mut self, peer: &P) {
        self.buckets.remove(peer);
    }

    /// A gossip message from `peer` arrived: take it, or ignore it (over
    /// the rate) with at most one strike per [`FLOOD_STRIKE_EVERY`].
    pub fn admit_gossip(&mut self, peer: &P, now: Instant) -> Admission {
        let rate = self.gossip_rate;
        let (bucket, last_strike) = self
            .buckets
            .entry(peer.clone())
            .or_insert_with(|| (TokenBucket::new(rate, now), None));
        if bucket.take(now) {
            return Admission::Take;
        }
        let due =
            last_strike.is_none_or(|t| now.saturating_duration_since(t) >= FLOOD_STRIKE_EVERY);
        if !due {
            return Admission::Ignore {
                then: Action::Nothing,
            };
        }
        *last_strike = Some(now);
        Admission::Ignore {
            then: self.strike(peer, now),
        }
    }

    /// The core's verdict on a gossip message from `peer`: a Reject is a
    /// strike; Accept and Ignore are nothing.
    pub fn on_gossip_verdict(&mut self, peer: &P, verdict: &GossipVerdict, now: Instant) -> Action {
        match verdict {
            GossipVerdict::Reject(_) => self.strike(peer, now),
            _ => Action::Nothing,
        }
    }

    /// The core refused a sync message from `peer`. Our own store failing
    /// is not the peer's fault; a record from the future (clocks differ)
    /// or one breaking a kind's rule is a strike; another commons is a
    /// ban, and so is anything else (a forbidden operation, a forged
    /// signature, a malformed message: nothing an honest node sends).
    pub fn on_sync_rejection(&mut self, peer: &P, e: &SyncRejection, now: Instant) -> Action {
        match e {
            SyncRejection::Store(_) => Action::Nothing,
            SyncRejection::OtherCommons(_) => Action::Ban(BanCause::ForeignCommons),
            SyncRejection::Record {
                rejection: Rejection::FromTheFuture { .. } | Rejection::Rule { .. },
                ..
            } => self.strike(peer, now),
            _ => Action::Ban(BanCause::BadSync(e.reason())),
        }
    }

    /// One strike against `peer`; a ban at the threshold.
    pub fn strike(&mut self, peer: &P, now: Instant) -> Action {
        let count = self
            .strikes
            .entry(peer.clone())
            .or_insert_with(|| Strikes::new(now))
            .add(1, now);
        if count >= self.strikes_to_ban {
            Action::Ban(BanCause::Strikes)
        } else {
            Action::Strike { count }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejected_gossip_strikes_until_a_ban() {
        let t0 = Instant::now();
        let mut p: PeerPolicy<u32> = PeerPolicy::new(3, 50);
        let reject = GossipVerdict::Reject(Rejection::BadSignature);
        assert_eq!(
            p.on_gossip_verdict(&1, &GossipVerdict::Ignore, t0),
            Action::Nothing
        );
        assert_eq!(
            p.on_gossip_verdict(&1, &reject, t0),
            Action::Strike { count: 1 }
        );
        assert_eq!(
            p.on_gossip_verdict(&1, &reject, t0),
            Action::Strike { count: 2 }
        );
        assert_eq!(
            p.on_gossip_verdict(&1, &reject, t0),
            Action::Ban(BanCause::Strikes)
        );
        assert_eq!(p.strikes(&2, t0), 0);
    }

    #[test]
    fn a_flood_costs_one_strike_per_interval() {
        let t0 = Instant::now();
        let mut p: PeerPolicy<u32> = PeerPolicy::new(5, 1);
        let taken = (0..20)
            .filter(|_| p.admit_gossip(&1, t0) == Admission::Take)
            .count();
        assert_eq!(taken, crate::net::BURST_SECONDS as usize);
        assert_eq!(p.strikes(&1, t0), 1);
        assert_eq!(p.admit_gossip(&1, t0 + FLOOD_STRIKE_EVERY), Admission::Take);
    }

    #[test]
    fn sync_refusals_are_judged_by_kind() {
        let t0 = Instant::now();
        let mut p: PeerPolicy<u32> = PeerPolicy::new(5, 50);
        assert_eq!(
            p.on_sync_rejection(&1, &SyncRejection::Store("disk".into()), t0),
            Action::Nothing
        );
        assert_eq!(
            p.on_sync_rejection(&1, &SyncRejection::OtherCommons("x".into()), t0),
            Action::Ban(BanCause::ForeignCommons)
        );
        assert_eq!(
            p.on_sync_rejection(&1, &SyncRejection::BadDoc("x".into()), t0),
            Action::Ban(BanCause::BadSync("bad_doc"))
        );
    }
}
