//! Which peers to ask for a catch-up round, without I/O: the sync side of
//! the peer policy.
//!
//! A peer that never answers a sync request costs nothing to keep (it
//! sends nothing invalid, so [`crate::policy::PeerPolicy`] never strikes
//! it), but every round spent on it is a round not spent on a peer that
//! answers. Silent Sybils around a joining node (the simulator's eclipse)
//! used to stretch its catch-up from milliseconds to minutes. So this
//! module remembers, per peer, whether sync requests were answered, and:
//!
//! * **ranks** peers for a round: those that answered or were not tried
//!   yet first (at random among them, so an honest network spreads its
//!   rounds, and a new peer is drawn as often as an old one), then those
//!   whose requests timed out, fewest unforgiven misses first;
//! * counts a **timed-out** request as a *miss*: a soft mark, forgiven one
//!   per [`MISS_FORGIVENESS`], that only lowers the peer's rank. It is not
//!   a strike and never leads to a ban: an honest peer may be slow, busy or
//!   briefly away;
//! * **hedges**: a round whose first answer has not come after
//!   [`HEDGE_AFTER`] (and no other peer answered since it began) asks one
//!   more peer, and again each [`HEDGE_AFTER`] while it stays unanswered,
//!   with at most [`MAX_FRESH`] rounds younger than [`HEDGE_AFTER`] at
//!   once (so the search widens 3, 6, 12, 16, 16... peers per 5 s, and
//!   what a node surrounded by silent peers sends stays bounded); a node
//!   whose peers answer never hedges.
//!
//! The libp2p driver (`net/driver.rs`) and the simulator both ask this
//! module, so the choice the simulator measures is the one nodes make. Time
//! and randomness are the caller's (an `Instant` and a `rand_below`
//! function), and per-peer state is in ordered maps, so answers are a
//! function of the inputs.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// A round unanswered this long (and no answer from anyone since it
/// began) asks one more peer. Far above a round trip (tens to hundreds of
/// ms), far below the request timeout (30 s by default).
pub const HEDGE_AFTER: Duration = Duration::from_secs(5);
/// One miss is forgiven per this long: a peer that timed out once ranks
/// with the untried again ten minutes later.
pub const MISS_FORGIVENESS: Duration = Duration::from_secs(10 * 60);
/// Rounds younger than [`HEDGE_AFTER`] at once, at most, counting hedges:
/// bounds what a node surrounded by silent peers sends while it looks for
/// an honest one (at most this many new requests per [`HEDGE_AFTER`],
/// each open until its timeout).
pub const MAX_FRESH: usize = 16;
/// Peers a node starts a round with when it accepts records (by gossip
/// or by sync) or publishes one ([`SyncPeers::push_targets`]). Gossipsub forwards a
/// record eagerly to the mesh only, and a mesh crowded by peers that
/// withhold leaves a node hearing of a record at the next sync tick; a
/// round with a few peers that answer carries it over links gossip does
/// not use, at the cost of a round (its bloom filter and heads) per peer
/// that already has it.
pub const PUSH_PEERS: usize = 5;
/// Untried peers one push may try at most. Each is tried once (then it
/// answered, or it timed out and waits [`MISS_FORGIVENESS`]), so this
/// bounds a burst, not a rate. Trying them all at once matters at cold
/// boot: bounded by the young rounds instead ([`MAX_FRESH`]), the last
/// honest peers were found 5 s later (simulator, 200 honest nodes and
/// 800 withholding Sybils: p99 255 ms and max 5.6 s, against 173 ms and
/// 0.6 s).
pub const MAX_UNTRIED_PUSHES: usize = 64;

/// What is known of one peer's answers.
#[derive(Debug, Clone, Default)]
struct PeerSync {
    /// When a round with it began and is still unanswered, and how many
    /// hedges that round has triggered.
    pending: Option<(Instant, u32)>,
    /// Timed-out requests not yet forgiven, and since when they count.
    misses: u32,
    misses_since: Option<Instant>,
    /// It has shown it speaks the protocol: answered a request of ours,
    /// asked us for a round, or sent us a record we accepted.
    spoke: bool,
}

impl PeerSync {
    fn misses(&mut self, now: Instant) -> u32 {
        if let Some(since) = self.misses_since {
            let forgiven =
                now.saturating_duration_since(since).as_secs() / MISS_FORGIVENESS.as_secs().max(1);
            if forgiven > 0 {
                let forgiven = u32::try_from(forgiven).unwrap_or(u32::MAX);
                self.misses = self.misses.saturating_sub(forgiven);
                self.misses_since = since
                    .checked_add(MISS_FORGIVENESS.saturating_mul(forgiven))
                    .map(|t| t.min(now));
            }
        }
        if self.misses == 0 {
            self.misses_since = None;
        }
        self.misses
    }
}

/// Sync answers of every peer of one node, keyed by `P` (a libp2p peer id
/// in a node, an index in the simulator).
#[derive(Debug, Clone)]
pub struct SyncPeers<P: Ord + Clone> {
    peers: BTreeMap<P, PeerSync>,
    /// When any peer last answered.
    last_answer: Option<Instant>,
}

impl<P: Ord + Clone> Default for SyncPeers<P> {
    fn default() -> Self {
        SyncPeers {
            peers: BTreeMap::new(),
            last_answer: None,
        }
    }
}

impl<P: Ord + Clone> SyncPeers<P> {
    pub fn new() -> SyncPeers<P> {
        SyncPeers::default()
    }

    /// `candidates` best first: answered or untried, then by unforgiven
    /// misses; peers with a round open are left out. Ties are broken with
    /// `rand_below(n)` (a number in `0..n`), so an honest network spreads
    /// its rounds over all its peers.
    pub fn rank(
        &mut self,
        candidates: &[P],
        now: Instant,
        mut rand_below: impl FnMut(usize) -> usize,
    ) -> Vec<P> {
        let mut keyed: Vec<(u32, P)> = Vec::with_capacity(candidates.len());
        for p in candidates {
            let s = self.peers.entry(p.clone()).or_default();
            if s.pending.is_some() {
                continue;
            }
            let misses = s.misses(now);
            keyed.push((misses, p.clone()));
        }
        // Shuffle first (Fisher-Yates), then a stable sort by rank: random
        // within a rank, and the order is a function of `rand_below`.
        for i in (1..keyed.len()).rev() {
            let j = rand_below(i + 1).min(i);
            keyed.swap(i, j);
        }
        keyed.sort_by_key(|(misses, _)| *misses);
        keyed.into_iter().map(|(_, p)| p).collect()
    }

    /// The best `n` of `candidates` (see [`SyncPeers::rank`]).
    pub fn pick(
        &mut self,
        candidates: &[P],
        n: usize,
        now: Instant,
        rand_below: impl FnMut(usize) -> usize,
    ) -> Vec<P> {
        let mut ranked = self.rank(candidates, now, rand_below);
        ranked.truncate(n);
        ranked
    }

    /// Which of `candidates` to tell about records this node just took
    /// in, by a push (see [`PUSH_PEERS`]): `n` peers at random among those
    /// that answered, asked or sent a good record before (see
    /// [`SyncPeers::heard`]), and every untried peer (at most
    /// [`MAX_UNTRIED_PUSHES`]). Never a peer with an unforgiven miss or
    /// a round open. Trying every untried peer once is how a node learns
    /// which peers answer while records flow (at cold boot none has): an
    /// honest one answers and is then one of the `n`; a silent one times
    /// out, takes a miss and is left alone until it is forgiven. So the
    /// cost of learning is one push per link per [`MISS_FORGIVENESS`], and
    /// a record costs `n` pushes once the peers are known.
    pub fn push_targets(
        &mut self,
        candidates: &[P],
        n: usize,
        now: Instant,
        mut rand_below: impl FnMut(usize) -> usize,
    ) -> Vec<P> {
        let (mut spoke, mut untried) = (Vec::new(), Vec::new());
        for p in candidates {
            let s = self.peers.entry(p.clone()).or_default();
            if s.pending.is_some() || s.misses(now) > 0 {
                continue;
            }
            if s.spoke {
                spoke.push(p.clone());
            } else {
                untried.push(p.clone());
            }
        }
        for list in [&mut spoke, &mut untried] {
            for i in (1..list.len()).rev() {
                let j = rand_below(i + 1).min(i);
                list.swap(i, j);
            }
        }
        spoke.truncate(n);
        untried.truncate(MAX_UNTRIED_PUSHES);
        spoke.extend(untried);
        spoke
    }

    /// `peer` asked us for a round or sent a record we accepted: it is
    /// there and speaks the protocol, so it is pushed to before untried
    /// peers. Its misses stay: only an answer to our own request clears
    /// them.
    pub fn heard(&mut self, peer: &P) {
        self.peers.entry(peer.clone()).or_default().spoke = true;
    }

    /// Whether `peer` has no unforgiven miss (a peer not seen yet has none).
    pub fn in_good_standing(&mut self, peer: &P, now: Instant) -> bool {
        self.peers.get_mut(peer).is_none_or(|s| s.misses(now) == 0)
    }

    /// A round with `peer` began (its first request was sent).
    pub fn started(&mut self, peer: &P, now: Instant) {
        self.peers.entry(peer.clone()).or_default().pending = Some((now, 0));
    }

    /// Whether a round with `peer` is open, and since when.
    pub fn pending_since(&self, peer: &P) -> Option<Instant> {
        self.peers.get(peer).and_then(|s| s.pending.map(|(t, _)| t))
    }

    /// Rounds open now.
    pub fn pending(&self) -> usize {
        self.peers.values().filter(|s| s.pending.is_some()).count()
    }

    /// Rounds open for less than [`HEDGE_AFTER`].
    fn fresh(&self, now: Instant) -> usize {
        self.peers
            .values()
            .filter_map(|s| s.pending)
            .filter(|(since, _)| now.saturating_duration_since(*since) < HEDGE_AFTER)
            .count()
    }

    /// `peer` answered a sync request (any answer, a refusal included: it
    /// is there and talking).
    pub fn answered(&mut self, peer: &P, now: Instant) {
        let s = self.peers.entry(peer.clone()).or_default();
        s.pending = None;
        s.misses = 0;
        s.misses_since = None;
        s.spoke = true;
        self.last_answer = Some(now);
    }

    /// A sync request to `peer` timed out (or failed without an answer):
    /// one miss, forgiven after [`MISS_FORGIVENESS`]. Returns the peer's
    /// unforgiven misses. Never a strike: see the module comment.
    pub fn timed_out(&mut self, peer: &P, now: Instant) -> u32 {
        let s = self.peers.entry(peer.clone()).or_default();
        s.pending = None;
        let m = s.misses(now);
        if m == 0 {
            s.misses_since = Some(now);
        }
        s.misses = m.saturating_add(1);
        s.misses
    }

    /// Whether any peer answered at or after `t` (a round that timed out
    /// while another peer answered needs no replacement).
    pub fn answered_since(&self, t: Instant) -> bool {
        self.last_answer.is_some_and(|a| a >= t)
    }

    /// Every open round ends without counting against its peer (this node
    /// went offline: its requests are lost, not its peers').
    pub fn forget_pending(&mut self) {
        for s in self.peers.values_mut() {
            s.pending = None;
        }
    }

    /// The peer is gone (disconnected or banned): its open round ends
    /// without counting against it. A peer with no misses is forgotten
    /// (it would rank as untried anyway), so the map does not grow with
    /// every peer ever met; one with misses keeps them until it returns.
    pub fn gone(&mut self, peer: &P) {
        if let Some(s) = self.peers.get_mut(peer) {
            s.pending = None;
            if s.misses == 0 {
                self.peers.remove(peer);
            }
        }
    }

    /// How many more peers to ask now: one for each open round that is
    /// [`HEDGE_AFTER`] (again) late while nobody answered since it began,
    /// within [`MAX_FRESH`] young rounds. Each hedge is due once: one
    /// that finds no room is skipped, and the round is due again
    /// [`HEDGE_AFTER`] later.
    pub fn take_late(&mut self, now: Instant) -> usize {
        let room = MAX_FRESH.saturating_sub(self.fresh(now));
        let last_answer = self.last_answer;
        let mut late = 0;
        for s in self.peers.values_mut() {
            let Some((since, hedges)) = &mut s.pending else {
                continue;
            };
            if last_answer.is_some_and(|a| a >= *since) {
                continue;
            }
            let due = since.checked_add(HEDGE_AFTER.saturating_mul(*hedges + 1));
            if due.is_some_and(|d| d <= now) {
                *hedges += 1;
                late += 1;
            }
        }
        late.min(room)
    }

    /// When [`SyncPeers::take_late`] may next have something to say, if a
    /// round is open (for a caller that schedules its own wake-ups).
    pub fn next_hedge_at(&self) -> Option<Instant> {
        self.peers
            .values()
            .filter_map(|s| s.pending)
            .filter(|(since, _)| self.last_answer.is_none_or(|a| a < *since))
            .filter_map(|(since, hedges)| since.checked_add(HEDGE_AFTER.saturating_mul(hedges + 1)))
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny seeded generator (splitmix64): the core has no RNG of its
    /// own; the caller's is injected.
    struct Seeded(u64);

    impl Seeded {
        fn below(&mut self, n: usize) -> usize {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            (z % n.max(1) as u64) as usize
        }
    }

    /// A joining node with 7 silent peers and 1 that answers, driven the
    /// way the simulator and the driver drive it: 3 rounds at join, one
    /// more per hedge, a miss at each 30 s timeout, one round a minute.
    /// Returns the round (in 1 s steps of simulated time) in which the
    /// answering peer was first asked.
    fn rounds_to_reach_the_honest_peer(seed: u64, silent: usize) -> u64 {
        const TIMEOUT: Duration = Duration::from_secs(30);
        const INTERVAL: u64 = 60;
        let t0 = Instant::now();
        let mut rng = Seeded(seed);
        let mut s: SyncPeers<usize> = SyncPeers::new();
        let honest = silent; // peers 0..silent are silent
        let peers: Vec<usize> = (0..=silent).collect();
        let ask = |s: &mut SyncPeers<usize>, n: usize, now: Instant, rng: &mut Seeded| {
            let picked = s.pick(&peers, n, now, |k| rng.below(k));
            for p in &picked {
                s.started(p, now);
            }
            picked.contains(&honest)
        };
        if ask(&mut s, 3, t0, &mut rng) {
            return 0;
        }
        for sec in 1..=3600u64 {
            let now = t0 + Duration::from_secs(sec);
            for p in 0..silent {
                if s.pending_since(&p).is_some_and(|t| now >= t + TIMEOUT) {
                    s.timed_out(&p, now);
                }
            }
            let mut n = s.take_late(now);
            if sec % INTERVAL == 0 {
                n += 1;
            }
            if n > 0 && ask(&mut s, n, now, &mut rng) {
                return sec;
            }
        }
        u64::MAX
    }

    /// The same node as it chose before: 3 peers drawn at random at join,
    /// then one a minute, with no memory of who answered.
    fn seconds_with_random_draws(seed: u64, silent: usize) -> u64 {
        let mut rng = Seeded(seed);
        let n = silent + 1;
        if (0..3).any(|_| rng.below(n) == silent) {
            return 0;
        }
        (1..=60u64)
            .find(|_| rng.below(n) == silent)
            .map_or(u64::MAX, |m| m * 60)
    }

    #[test]
    fn seven_silent_peers_delay_the_honest_one_a_few_hedges_at_most() {
        // Before this module (3 peers drawn at random at join, then one a
        // minute, a timeout costing nothing) the honest peer could wait
        // for many minutes; now every peer is tried within
        // ceil((8 - 3) / 3) hedge steps.
        let before = (0..200)
            .map(|seed| seconds_with_random_draws(seed, 7))
            .max();
        assert!(
            before > Some(600),
            "the random draw took {before:?} s at worst"
        );
        for seed in 0..200 {
            let r = rounds_to_reach_the_honest_peer(seed, 7);
            assert!(r <= 10, "seed {seed}: reached after {r} s");
        }
        // With more silent peers the hedges double the young rounds each
        // step up to MAX_FRESH, then ask 16 more peers each 5 s.
        for seed in 0..200 {
            let r = rounds_to_reach_the_honest_peer(seed, 31);
            assert!(r <= 20, "seed {seed}: reached after {r} s");
        }
        for seed in 0..20 {
            let r = rounds_to_reach_the_honest_peer(seed, 1000);
            assert!(r <= 330, "seed {seed}: reached after {r} s");
        }
    }

    #[test]
    fn peers_that_timed_out_rank_last() {
        let t0 = Instant::now();
        let mut rng = Seeded(1);
        let mut s: SyncPeers<u32> = SyncPeers::new();
        for p in [1, 2] {
            s.started(&p, t0);
        }
        s.answered(&1, t0);
        assert_eq!(s.timed_out(&2, t0), 1);
        let mut firsts = BTreeMap::new();
        for _ in 0..40 {
            let r = s.rank(&[1, 2, 3], t0, |n| rng.below(n));
            assert_eq!(r.len(), 3);
            assert_eq!(r[2], 2, "{r:?}");
            *firsts.entry(r[0]).or_insert(0) += 1;
        }
        // Answered and untried peers are drawn alike (a new peer, such as
        // a node that just joined, gets asked too).
        assert_eq!(firsts.len(), 2, "{firsts:?}");
        // A miss is forgiven in time, not a ban: peer 2 ranks with the
        // untried again after MISS_FORGIVENESS.
        assert!(!s.in_good_standing(&2, t0));
        assert!(s.in_good_standing(&2, t0 + MISS_FORGIVENESS));
        let r = s.rank(&[2, 3], t0 + MISS_FORGIVENESS, |n| rng.below(n));
        assert_eq!(r.len(), 2);
        // An answer clears its misses at once.
        s.timed_out(&2, t0);
        s.answered(&2, t0);
        assert!(s.in_good_standing(&2, t0));
    }

    #[test]
    fn no_hedge_once_a_peer_answered() {
        let t0 = Instant::now();
        let mut s: SyncPeers<u32> = SyncPeers::new();
        s.started(&1, t0);
        s.started(&2, t0);
        assert_eq!(s.next_hedge_at(), Some(t0 + HEDGE_AFTER));
        assert_eq!(s.take_late(t0 + HEDGE_AFTER / 2), 0);
        s.answered(&1, t0 + Duration::from_millis(50));
        // Peer 2 is slow, but the node already has an answer: no hedge,
        // and nothing held against peer 2 until its request times out.
        assert_eq!(s.take_late(t0 + HEDGE_AFTER * 3), 0);
        assert_eq!(s.next_hedge_at(), None);
        assert!(s.in_good_standing(&2, t0 + HEDGE_AFTER * 3));
        // Open rounds are not offered again.
        assert_eq!(s.rank(&[1, 2], t0, |_| 0), vec![1]);
    }

    #[test]
    fn a_record_is_pushed_to_a_few_peers_that_answered_and_every_untried_one_never_to_silent_ones()
    {
        let t0 = Instant::now();
        let mut rng = Seeded(7);
        let mut s: SyncPeers<u32> = SyncPeers::new();
        // 1 and 2 answered, 3 timed out, 4 has a round open, 5 and 6 untried.
        for p in [1, 2, 3, 4] {
            s.started(&p, t0);
        }
        s.answered(&1, t0);
        s.answered(&2, t0);
        s.timed_out(&3, t0);
        let all = [1, 2, 3, 4, 5, 6];
        for _ in 0..20 {
            let mut got = s.push_targets(&all, 1, t0, |n| rng.below(n));
            got.sort();
            // One of the peers that answered, and every untried peer; the
            // silent peer and the busy one never.
            assert_eq!(got.len(), 3, "{got:?}");
            assert!(got[0] == 1 || got[0] == 2, "{got:?}");
            assert_eq!(&got[1..], &[5, 6]);
        }
        let mut got = s.push_targets(&all, 10, t0, |n| rng.below(n));
        got.sort();
        assert_eq!(got, vec![1, 2, 5, 6]);
        // Open rounds do not bound them (only MAX_UNTRIED_PUSHES does).
        for p in 10..(10 + MAX_FRESH as u32) {
            s.started(&p, t0);
        }
        let mut got = s.push_targets(&all, 2, t0, |n| rng.below(n));
        got.sort();
        assert_eq!(got, vec![1, 2, 5, 6]);
        let many: Vec<u32> = (100..300).collect();
        assert_eq!(
            s.push_targets(&many, 2, t0, |n| rng.below(n)).len(),
            MAX_UNTRIED_PUSHES
        );
        // Once its miss is forgiven, the silent peer may be tried again.
        let later = s.push_targets(&[3], 1, t0 + MISS_FORGIVENESS, |n| rng.below(n));
        assert_eq!(later, vec![3]);
    }
}
