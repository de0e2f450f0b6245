//! The gossip model: flooding over every link, or a model of libp2p
//! gossipsub v1.1's mesh (`GossipMode::Mesh`), with the parameters
//! `commons/src/net/behaviour.rs` configures and libp2p-gossipsub 0.50's
//! defaults for the rest.
//!
//! The mesh model follows `libp2p-gossipsub`'s `behaviour.rs`:
//!
//! * **mesh**: on joining a node GRAFTs up to `d` random peers; a GRAFT is
//!   accepted unless the peer is in backoff (then PRUNE and a behaviour
//!   penalty, two if it comes within `graft_flood_ms` of the prune), has a
//!   negative score, or the mesh already holds `d_hi` peers and the peer is
//!   inbound; every heartbeat prunes negative scores, grafts up to `d`
//!   below `d_lo`, trims to `d` at `d_hi` (keeping the `retain_scores` best
//!   and at least `d_out` outbound peers), grafts outbound peers below
//!   `d_out`, and every `opportunistic_graft_ticks` grafts up to 2 peers
//!   scoring above the mesh's median if that median is below the
//!   opportunistic threshold. A PRUNE (sent or received) starts a backoff.
//! * **forwarding**: an accepted message goes to the mesh but its sender;
//!   a node's own publication goes to every peer above the publish
//!   threshold (`flood_publish`, on by default).
//! * **lazy pull**: each heartbeat a node sends IHAVE (accepted ids of the
//!   last `history_gossip` windows) to max(`d_lazy`, 25% of eligible)
//!   random non-mesh peers above the gossip threshold; a node asks IWANT
//!   for ids it has not seen and is not already waiting for (one promise
//!   per id until delivery or `iwant_followup_ms`, a broken promise a
//!   behaviour penalty), at most `max_ihave_per_heartbeat` IHAVEs per peer
//!   per heartbeat; IWANT is answered from the message cache
//!   (`history_length` windows), at most `gossip_retransmission` times per
//!   peer and id.
//! * **score** (`commons/src/net/behaviour.rs::score_params`): P1 time in
//!   mesh (0.01 a second, cap 1000 s), P2 first deliveries (0.5 each, cap
//!   20, decaying over an hour), P3 mesh delivery deficits **off** (weight 0
//!   in the driver: a commons sees too few records for a delivery quota),
//!   P4 invalid messages (−10 × count², decaying over an hour), topic cap
//!   20, application score −5 a strike (the driver's
//!   `set_application_score`), P7 behaviour penalty (−5 × (count − 6)²,
//!   decay 0.2 a second). Below the graylist (−80) everything from the peer
//!   is dropped; below the gossip threshold (−10) no IHAVE/IWANT is
//!   exchanged with it.
//!
//! Sybils (`Role::Sybil`) in the mesh model accept every GRAFT, GRAFT every
//! peer they are not meshed with whenever its backoff allows (aggressive
//! grafting that fills honest meshes), forward nothing and answer no
//! IWANT; with `sybil_ihave` they also advertise by IHAVE every id they
//! receive, at once and at each heartbeat, so honest nodes wait on their
//! broken promises.
//!
//! Not modelled: IDONTWANT, peer exchange, fanout (every node is
//! subscribed), per-IP colocation (Sybils are assumed spread over many
//! addresses), explicit peers, message queues and their limits.
//!
//! Everything is kept in ordered maps or vectors, and every random choice
//! comes from the caller's seeded generator, so a run stays a function of
//! its seed.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use rand::RngExt;
use rand::seq::SliceRandom;
use rand_pcg::Pcg64;

use crate::sim::NodeId;

/// How records travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GossipMode {
    /// Forward every accepted record over every link.
    Flood,
    /// Gossipsub's mesh, IHAVE/IWANT and scoring (see the module doc).
    Mesh,
}

impl std::str::FromStr for GossipMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "flood" => Ok(GossipMode::Flood),
            "mesh" => Ok(GossipMode::Mesh),
            other => Err(format!("unknown gossip mode {other:?} (flood|mesh)")),
        }
    }
}

/// Gossipsub's parameters, as the driver sets them.
#[derive(Debug, Clone)]
pub struct MeshParams {
    /// `mesh_n`, `mesh_n_low`, `mesh_n_high`, `mesh_outbound_min`: the
    /// driver's small-network values (4, 2, 8, 1).
    pub d: usize,
    pub d_lo: usize,
    pub d_hi: usize,
    pub d_out: usize,
    /// `gossip_lazy` and `gossip_factor` (defaults 6, 0.25).
    pub d_lazy: usize,
    pub gossip_factor: f64,
    /// `retain_scores` (default 4).
    pub retain_scores: usize,
    pub heartbeat_ms: i64,
    /// `history_length`, `history_gossip` (defaults 5, 3).
    pub history_length: usize,
    pub history_gossip: usize,
    /// `prune_backoff` 60 s, `backoff_slack` 1 heartbeat,
    /// `graft_flood_threshold` 10 s.
    pub prune_backoff_ms: i64,
    pub backoff_slack_ms: i64,
    pub graft_flood_ms: i64,
    /// `opportunistic_graft_ticks` 60, `opportunistic_graft_peers` 2.
    pub opportunistic_graft_ticks: u64,
    pub opportunistic_graft_peers: usize,
    /// `gossip_retransimission` 3, `iwant_followup_time` 3 s,
    /// `max_ihave_messages` 10 per heartbeat.
    pub gossip_retransmission: u32,
    pub iwant_followup_ms: i64,
    pub max_ihave_per_heartbeat: u32,
    pub flood_publish: bool,
    pub score: ScoreParams,
}

/// The driver's `score_params` (one topic).
#[derive(Debug, Clone)]
pub struct ScoreParams {
    pub time_in_mesh_weight: f64,
    pub time_in_mesh_cap_s: f64,
    pub first_delivery_weight: f64,
    pub first_delivery_cap: f64,
    /// Per heartbeat (the decay interval is 1 s, as the heartbeat).
    pub first_delivery_decay: f64,
    pub invalid_weight: f64,
    pub invalid_decay: f64,
    pub topic_cap: f64,
    /// What a strike does to the application score (`SCORE_PER_STRIKE`).
    pub per_strike: f64,
    pub behaviour_weight: f64,
    pub behaviour_threshold: f64,
    pub behaviour_decay: f64,
    pub decay_to_zero: f64,
    pub gossip_threshold: f64,
    pub publish_threshold: f64,
    pub graylist_threshold: f64,
    pub opportunistic_graft_threshold: f64,
}

/// libp2p's `score_parameter_decay`: the per-second factor that brings a
/// counter to `decay_to_zero` (0.1) after `secs` seconds.
fn decay_over(secs: f64) -> f64 {
    0.1f64.powf(1.0 / secs)
}

impl Default for MeshParams {
    fn default() -> Self {
        MeshParams {
            d: 4,
            d_lo: 2,
            d_hi: 8,
            d_out: 1,
            d_lazy: 6,
            gossip_factor: 0.25,
            retain_scores: 4,
            heartbeat_ms: 1_000,
            history_length: 5,
            history_gossip: 3,
            prune_backoff_ms: 60_000,
            backoff_slack_ms: 1_000,
            graft_flood_ms: 10_000,
            opportunistic_graft_ticks: 60,
            opportunistic_graft_peers: 2,
            gossip_retransmission: 3,
            iwant_followup_ms: 3_000,
            max_ihave_per_heartbeat: 10,
            flood_publish: true,
            score: ScoreParams {
                time_in_mesh_weight: 0.01,
                time_in_mesh_cap_s: 1000.0,
                first_delivery_weight: 0.5,
                first_delivery_cap: 20.0,
                first_delivery_decay: decay_over(3600.0),
                invalid_weight: -10.0,
                invalid_decay: decay_over(3600.0),
                topic_cap: 20.0,
                per_strike: -5.0,
                behaviour_weight: -5.0,
                behaviour_threshold: 6.0,
                behaviour_decay: 0.2,
                decay_to_zero: 0.1,
                gossip_threshold: -10.0,
                publish_threshold: -50.0,
                graylist_threshold: -80.0,
                opportunistic_graft_threshold: 2.0,
            },
        }
    }
}

/// A gossipsub control message or a message carried on a link.
#[derive(Debug, Clone)]
pub enum Control {
    Graft,
    Prune,
    IHave(Vec<u64>),
    IWant(Vec<u64>),
}

/// What a node sends as a result of a mesh step.
#[derive(Debug, Clone)]
pub enum Out {
    Control {
        to: NodeId,
        ctl: Control,
    },
    Message {
        to: NodeId,
        id: u64,
        data: Arc<[u8]>,
    },
}

/// The wire size of a control message: a message id is 32 bytes (blake3),
/// a GRAFT / PRUNE / IHAVE names the topic (about 90 bytes).
pub fn control_bytes(ctl: &Control) -> u64 {
    match ctl {
        Control::Graft | Control::Prune => 100,
        Control::IHave(ids) => 100 + 32 * ids.len() as u64,
        Control::IWant(ids) => 8 + 32 * ids.len() as u64,
    }
}

/// One node's view of one peer.
#[derive(Debug, Clone, Default)]
struct Peer {
    /// This node dialled the peer.
    outbound: bool,
    /// In this node's mesh since (simulated ms).
    mesh_since: Option<i64>,
    first_deliveries: f64,
    invalid: f64,
    behaviour: f64,
    app: f64,
    backoff_until: i64,
    ihaves: u32,
}

/// A cached message: its data and how often each peer asked for it.
struct Cached {
    data: Arc<[u8]>,
    asked: BTreeMap<NodeId, u32>,
}

#[derive(Default)]
struct MeshNode {
    peers: BTreeMap<NodeId, Peer>,
    mesh: BTreeSet<NodeId>,
    /// Message-cache windows, newest first.
    windows: VecDeque<Vec<u64>>,
    cache: HashMap<u64, Cached>,
    /// IWANT promises: id → (peer, deadline).
    promises: BTreeMap<u64, BTreeMap<NodeId, i64>>,
    ticks: u64,
}

/// Every node's gossipsub state.
pub struct Mesh {
    pub params: MeshParams,
    /// Sybils advertise by IHAVE what they withhold.
    pub sybil_ihave: bool,
    nodes: Vec<MeshNode>,
}

/// What the core made of a message, for the score.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Accept,
    Ignore,
    Reject,
}

impl Mesh {
    pub fn new(params: MeshParams, nodes: usize, sybil_ihave: bool) -> Mesh {
        let mut all = Vec::with_capacity(nodes);
        all.resize_with(nodes, MeshNode::default);
        for n in &mut all {
            n.windows.push_front(Vec::new());
        }
        Mesh {
            params,
            sybil_ihave,
            nodes: all,
        }
    }

    /// `dialer` opened a connection to `listener`.
    pub fn on_link(&mut self, dialer: NodeId, listener: NodeId) {
        self.nodes[dialer]
            .peers
            .entry(listener)
            .or_default()
            .outbound = true;
        self.nodes[listener].peers.entry(dialer).or_default();
    }

    /// The score `node` gives `peer` at `now`.
    pub fn score(&self, node: NodeId, peer: NodeId, now: i64) -> f64 {
        let s = &self.params.score;
        let Some(p) = self.nodes[node].peers.get(&peer) else {
            return 0.0;
        };
        let in_mesh = p.mesh_since.map_or(0.0, |t| {
            ((now - t) as f64 / 1000.0).min(s.time_in_mesh_cap_s)
        });
        let topic = s.time_in_mesh_weight * in_mesh
            + s.first_delivery_weight * p.first_deliveries.min(s.first_delivery_cap)
            + s.invalid_weight * p.invalid * p.invalid;
        let excess = (p.behaviour - s.behaviour_threshold).max(0.0);
        topic.min(s.topic_cap) + p.app + s.behaviour_weight * excess * excess
    }

    /// Everything from a graylisted peer is dropped.
    pub fn graylisted(&self, node: NodeId, peer: NodeId, now: i64) -> bool {
        self.score(node, peer, now) < self.params.score.graylist_threshold
    }

    /// The driver lowers the application score with each strike.
    pub fn on_strike(&mut self, node: NodeId, peer: NodeId, count: u32) {
        let per = self.params.score.per_strike;
        if let Some(p) = self.nodes[node].peers.get_mut(&peer) {
            p.app = f64::from(count) * per;
        }
    }

    /// The peers `node` is meshed with.
    pub fn mesh_of(&self, node: NodeId) -> Vec<NodeId> {
        self.nodes[node].mesh.iter().copied().collect()
    }

    /// Joining the topic: an honest node GRAFTs up to `d` random usable
    /// peers; a Sybil GRAFTs all of them.
    pub fn join(
        &mut self,
        node: NodeId,
        sybil: bool,
        usable: &[NodeId],
        now: i64,
        rng: &mut Pcg64,
    ) -> Vec<Out> {
        let mut chosen: Vec<NodeId> = usable.to_vec();
        if !sybil {
            chosen.shuffle(rng);
            chosen.truncate(self.params.d);
        }
        let mut out = Vec::new();
        for p in chosen {
            self.add_to_mesh(node, p, now);
            out.push(Out::Control {
                to: p,
                ctl: Control::Graft,
            });
        }
        out
    }

    fn add_to_mesh(&mut self, node: NodeId, peer: NodeId, now: i64) {
        let n = &mut self.nodes[node];
        if n.mesh.insert(peer) {
            n.peers.entry(peer).or_default().mesh_since = Some(now);
        }
    }

    fn remove_from_mesh(&mut self, node: NodeId, peer: NodeId, now: i64) {
        let backoff = self.params.prune_backoff_ms;
        let n = &mut self.nodes[node];
        n.mesh.remove(&peer);
        let p = n.peers.entry(peer).or_default();
        p.mesh_since = None;
        p.backoff_until = p.backoff_until.max(now + backoff);
    }

    /// Where `node` sends a message: its own publication to every usable
    /// peer above the publish threshold (flood publishing), a forwarded one
    /// to its mesh but the sender.
    pub fn targets(
        &self,
        node: NodeId,
        from: Option<NodeId>,
        usable: &[NodeId],
        now: i64,
    ) -> Vec<NodeId> {
        match from {
            None if self.params.flood_publish => usable
                .iter()
                .copied()
                .filter(|p| self.score(node, *p, now) >= self.params.score.publish_threshold)
                .collect(),
            _ => self.nodes[node]
                .mesh
                .iter()
                .copied()
                .filter(|p| Some(*p) != from && usable.contains(p))
                .collect(),
        }
    }

    /// An honest node published `id`: it goes into the message cache.
    pub fn on_publish(&mut self, node: NodeId, id: u64, data: Arc<[u8]>) {
        self.cache_put(node, id, data);
    }

    fn cache_put(&mut self, node: NodeId, id: u64, data: Arc<[u8]>) {
        let n = &mut self.nodes[node];
        if n.cache.contains_key(&id) {
            return;
        }
        n.cache.insert(
            id,
            Cached {
                data,
                asked: BTreeMap::new(),
            },
        );
        if let Some(w) = n.windows.front_mut() {
            w.push(id);
        }
    }

    /// An honest node got message `id` from `from` for the first time and
    /// the core judged it.
    pub fn on_message(
        &mut self,
        node: NodeId,
        from: NodeId,
        id: u64,
        data: Arc<[u8]>,
        verdict: Verdict,
    ) {
        let cap = self.params.score.first_delivery_cap;
        let n = &mut self.nodes[node];
        n.promises.remove(&id);
        let p = n.peers.entry(from).or_default();
        match verdict {
            Verdict::Accept => {
                p.first_deliveries = (p.first_deliveries + 1.0).min(cap);
                self.cache_put(node, id, data);
            }
            Verdict::Reject => p.invalid += 1.0,
            Verdict::Ignore => {}
        }
    }

    /// A Sybil got message `id`: it keeps the id (to advertise it) and,
    /// with `sybil_ihave`, advertises it at once to every usable peer.
    pub fn on_sybil_message(&mut self, node: NodeId, id: u64, usable: &[NodeId]) -> Vec<Out> {
        let n = &mut self.nodes[node];
        if let Some(w) = n.windows.front_mut() {
            w.push(id);
        }
        if !self.sybil_ihave {
            return Vec::new();
        }
        usable
            .iter()
            .map(|p| Out::Control {
                to: *p,
                ctl: Control::IHave(vec![id]),
            })
            .collect()
    }

    /// A control message from `from` reached `node`. `seen` says whether
    /// `node` already holds a message id.
    #[allow(clippy::too_many_arguments)]
    pub fn on_control(
        &mut self,
        node: NodeId,
        sybil: bool,
        from: NodeId,
        ctl: Control,
        now: i64,
        seen: &dyn Fn(u64) -> bool,
    ) -> Vec<Out> {
        if sybil {
            // Sybils take every GRAFT and answer no IWANT.
            match ctl {
                Control::Graft => self.add_to_mesh(node, from, now),
                Control::Prune => self.remove_from_mesh(node, from, now),
                Control::IHave(_) | Control::IWant(_) => {}
            }
            return Vec::new();
        }
        match ctl {
            Control::Graft => self.on_graft(node, from, now),
            Control::Prune => {
                self.remove_from_mesh(node, from, now);
                Vec::new()
            }
            Control::IHave(ids) => self.on_ihave(node, from, ids, now, seen),
            Control::IWant(ids) => self.on_iwant(node, from, ids, now),
        }
    }

    fn on_graft(&mut self, node: NodeId, from: NodeId, now: i64) -> Vec<Out> {
        let prune = vec![Out::Control {
            to: from,
            ctl: Control::Prune,
        }];
        if self.nodes[node].mesh.contains(&from) {
            return Vec::new();
        }
        let (backoff_until, outbound) = {
            let p = self.nodes[node].peers.entry(from).or_default();
            (p.backoff_until, p.outbound)
        };
        if backoff_until > now {
            // A GRAFT inside the backoff: a penalty, two if it comes soon
            // after the prune.
            let flood =
                backoff_until - now > self.params.prune_backoff_ms - self.params.graft_flood_ms;
            let p = self.nodes[node].peers.entry(from).or_default();
            p.behaviour += if flood { 2.0 } else { 1.0 };
            return prune;
        }
        if self.score(node, from, now) < 0.0
            || (self.nodes[node].mesh.len() >= self.params.d_hi && !outbound)
        {
            self.remove_from_mesh(node, from, now);
            return prune;
        }
        self.add_to_mesh(node, from, now);
        Vec::new()
    }

    fn on_ihave(
        &mut self,
        node: NodeId,
        from: NodeId,
        ids: Vec<u64>,
        now: i64,
        seen: &dyn Fn(u64) -> bool,
    ) -> Vec<Out> {
        if self.score(node, from, now) < self.params.score.gossip_threshold {
            return Vec::new();
        }
        let max = self.params.max_ihave_per_heartbeat;
        let followup = now + self.params.iwant_followup_ms;
        let n = &mut self.nodes[node];
        let p = n.peers.entry(from).or_default();
        p.ihaves += 1;
        if p.ihaves > max {
            return Vec::new();
        }
        let want: Vec<u64> = ids
            .into_iter()
            .filter(|id| !seen(*id) && !n.promises.contains_key(id))
            .collect();
        if want.is_empty() {
            return Vec::new();
        }
        for id in &want {
            n.promises
                .entry(*id)
                .or_default()
                .entry(from)
                .or_insert(followup);
        }
        vec![Out::Control {
            to: from,
            ctl: Control::IWant(want),
        }]
    }

    fn on_iwant(&mut self, node: NodeId, from: NodeId, ids: Vec<u64>, now: i64) -> Vec<Out> {
        if self.score(node, from, now) < self.params.score.gossip_threshold {
            return Vec::new();
        }
        let max = self.params.gossip_retransmission;
        let n = &mut self.nodes[node];
        let mut out = Vec::new();
        for id in ids {
            if let Some(c) = n.cache.get_mut(&id) {
                let asked = c.asked.entry(from).or_insert(0);
                *asked += 1;
                if *asked <= max {
                    out.push(Out::Message {
                        to: from,
                        id,
                        data: c.data.clone(),
                    });
                }
            }
        }
        out
    }

    /// One heartbeat of `node` (online); `usable` are the peers it can
    /// reach now, in order.
    pub fn heartbeat(
        &mut self,
        node: NodeId,
        sybil: bool,
        usable: &[NodeId],
        now: i64,
        rng: &mut Pcg64,
    ) -> Vec<Out> {
        let mut out = Vec::new();
        self.nodes[node].ticks += 1;
        if sybil {
            self.sybil_heartbeat(node, usable, now, &mut out);
        } else {
            self.honest_heartbeat(node, usable, now, rng, &mut out);
        }
        self.shift(node);
        out
    }

    fn sybil_heartbeat(&mut self, node: NodeId, usable: &[NodeId], now: i64, out: &mut Vec<Out>) {
        let slack = self.params.backoff_slack_ms;
        let n = &mut self.nodes[node];
        n.mesh.retain(|p| usable.contains(p));
        for &p in usable {
            let peer = n.peers.entry(p).or_default();
            if !n.mesh.contains(&p) && peer.backoff_until + slack <= now {
                n.mesh.insert(p);
                peer.mesh_since = Some(now);
                out.push(Out::Control {
                    to: p,
                    ctl: Control::Graft,
                });
            }
        }
        if self.sybil_ihave {
            let ids: Vec<u64> = n
                .windows
                .iter()
                .take(self.params.history_gossip)
                .flatten()
                .copied()
                .collect();
            if !ids.is_empty() {
                for &p in usable {
                    out.push(Out::Control {
                        to: p,
                        ctl: Control::IHave(ids.clone()),
                    });
                }
            }
        }
    }

    fn honest_heartbeat(
        &mut self,
        node: NodeId,
        usable: &[NodeId],
        now: i64,
        rng: &mut Pcg64,
        out: &mut Vec<Out>,
    ) {
        let p = self.params.clone();
        let s = &p.score;
        // Broken promises, IHAVE counts, decay.
        {
            let n = &mut self.nodes[node];
            let mut broken: BTreeMap<NodeId, f64> = BTreeMap::new();
            n.promises.retain(|_, peers| {
                peers.retain(|peer, deadline| {
                    if *deadline < now {
                        *broken.entry(*peer).or_default() += 1.0;
                        false
                    } else {
                        true
                    }
                });
                !peers.is_empty()
            });
            for (peer, st) in n.peers.iter_mut() {
                st.ihaves = 0;
                st.first_deliveries *= s.first_delivery_decay;
                st.invalid *= s.invalid_decay;
                st.behaviour *= s.behaviour_decay;
                for v in [&mut st.first_deliveries, &mut st.invalid, &mut st.behaviour] {
                    if *v < s.decay_to_zero {
                        *v = 0.0;
                    }
                }
                st.behaviour += broken.get(peer).copied().unwrap_or(0.0);
            }
        }
        let mut graft: Vec<NodeId> = Vec::new();
        let mut prune: Vec<NodeId> = Vec::new();
        // Gone peers leave the mesh silently; negative scores are pruned.
        let mesh: Vec<NodeId> = self.mesh_of(node);
        for peer in mesh {
            if !usable.contains(&peer) {
                let n = &mut self.nodes[node];
                n.mesh.remove(&peer);
                n.peers.entry(peer).or_default().mesh_since = None;
            } else if self.score(node, peer, now) < 0.0 {
                prune.push(peer);
                self.remove_from_mesh(node, peer, now);
            }
        }
        let candidates = |m: &Mesh, outbound_only: bool, min: f64, strict: bool| -> Vec<NodeId> {
            let n = &m.nodes[node];
            usable
                .iter()
                .copied()
                .filter(|q| {
                    let st = n.peers.get(q);
                    let sc = m.score(node, *q, now);
                    !n.mesh.contains(q)
                        && st.is_none_or(|st| st.backoff_until + p.backoff_slack_ms <= now)
                        && (!outbound_only || st.is_some_and(|st| st.outbound))
                        && if strict { sc > min } else { sc >= min }
                })
                .collect()
        };
        let len = self.nodes[node].mesh.len();
        if len < p.d_lo {
            let mut c = candidates(self, false, 0.0, false);
            c.shuffle(rng);
            c.truncate(p.d - len);
            for q in c {
                self.add_to_mesh(node, q, now);
                graft.push(q);
            }
        }
        let len = self.nodes[node].mesh.len();
        if len >= p.d_hi {
            let mut ranked = self.mesh_of(node);
            ranked.shuffle(rng);
            ranked.sort_by(|a, b| {
                self.score(node, *a, now)
                    .total_cmp(&self.score(node, *b, now))
            });
            if ranked.len() > p.retain_scores {
                let k = ranked.len() - p.retain_scores;
                ranked[..k].shuffle(rng);
            }
            let is_out =
                |m: &Mesh, q: &NodeId| m.nodes[node].peers.get(q).is_some_and(|st| st.outbound);
            let mut outbound = ranked.iter().filter(|q| is_out(self, q)).count();
            let excess = len - p.d;
            let mut removed = 0;
            for q in ranked {
                if removed == excess {
                    break;
                }
                if is_out(self, &q) {
                    if outbound <= p.d_out {
                        continue;
                    }
                    outbound -= 1;
                }
                self.remove_from_mesh(node, q, now);
                prune.push(q);
                removed += 1;
            }
        }
        let len = self.nodes[node].mesh.len();
        if len >= p.d_lo {
            let outbound = self.nodes[node]
                .mesh
                .iter()
                .filter(|q| self.nodes[node].peers.get(q).is_some_and(|st| st.outbound))
                .count();
            if outbound < p.d_out {
                let mut c = candidates(self, true, 0.0, false);
                c.shuffle(rng);
                c.truncate(p.d_out - outbound);
                for q in c {
                    self.add_to_mesh(node, q, now);
                    graft.push(q);
                }
            }
        }
        let len = self.nodes[node].mesh.len();
        if self.nodes[node]
            .ticks
            .is_multiple_of(p.opportunistic_graft_ticks)
            && len > 1
        {
            let mut scores: Vec<f64> = self.nodes[node]
                .mesh
                .iter()
                .map(|q| self.score(node, *q, now))
                .collect();
            scores.sort_by(f64::total_cmp);
            let mid = scores.len() / 2;
            let median = if scores.len().is_multiple_of(2) {
                (scores[mid - 1] + scores[mid]) / 2.0
            } else {
                scores[mid]
            };
            if median < s.opportunistic_graft_threshold {
                let mut c = candidates(self, false, median, true);
                c.shuffle(rng);
                c.truncate(p.opportunistic_graft_peers);
                for q in c {
                    self.add_to_mesh(node, q, now);
                    graft.push(q);
                }
            }
        }
        // IHAVE: the accepted ids of the last `history_gossip` windows.
        let ids: Vec<u64> = self.nodes[node]
            .windows
            .iter()
            .take(p.history_gossip)
            .flatten()
            .copied()
            .collect();
        if !ids.is_empty() {
            let mut eligible: Vec<NodeId> = usable
                .iter()
                .copied()
                .filter(|q| {
                    !self.nodes[node].mesh.contains(q)
                        && self.score(node, *q, now) >= s.gossip_threshold
                })
                .collect();
            let k = p
                .d_lazy
                .max((p.gossip_factor * eligible.len() as f64) as usize);
            eligible.shuffle(rng);
            eligible.truncate(k);
            for q in eligible {
                out.push(Out::Control {
                    to: q,
                    ctl: Control::IHave(ids.clone()),
                });
            }
        }
        for q in graft {
            out.push(Out::Control {
                to: q,
                ctl: Control::Graft,
            });
        }
        for q in prune {
            out.push(Out::Control {
                to: q,
                ctl: Control::Prune,
            });
        }
    }

    /// Shift the message cache: a new window; ids older than
    /// `history_length` windows leave the cache.
    fn shift(&mut self, node: NodeId) {
        let len = self.params.history_length;
        let n = &mut self.nodes[node];
        n.windows.push_front(Vec::new());
        while n.windows.len() > len {
            if let Some(old) = n.windows.pop_back() {
                for id in old {
                    n.cache.remove(&id);
                }
            }
        }
    }

    /// A random phase for a node's first heartbeat.
    pub fn first_heartbeat(&self, rng: &mut Pcg64) -> i64 {
        rng.random_range(0..self.params.heartbeat_ms.max(1))
    }
}
