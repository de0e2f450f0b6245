//! The reactor: simulated time, links with latency, partitions, churn, and
//! a gossip model, around the real protocol core ([`Commons`]).
//!
//! Every node is a `Commons` held in memory with its actor ids seeded, and
//! everything a node does with a record or a sync message is the core's own
//! call (`publish`, `on_gossip`, `on_sync_request`, `on_sync_response`).
//! What the simulator adds is what the libp2p driver adds in a real node:
//!
//! * **gossip**: each node links to random peers (at least `mesh_degree`
//!   dials each, undirected), drops a message id it has seen, hands a new
//!   one to the core, forwards it on Accept, drops it on Ignore, and
//!   strikes the sender on Reject; it forwards over every link
//!   (`GossipMode::Flood`) or as gossipsub does (`GossipMode::Mesh`: mesh,
//!   heartbeat, IHAVE/IWANT and peer score, in [`crate::gossip`], driven
//!   from the hooks at the end of this file);
//! * **sync**: every `sync_interval_ms` each node runs a catch-up round with
//!   one connected peer, and with several when it comes back online, chosen
//!   by the core's [`SyncPeers`] as the driver chooses (answered peers
//!   first, then untried ones, then those that timed out; a round still
//!   unanswered after a few seconds asks one more peer; a request
//!   unanswered after `sync_timeout_ms` is a miss, and if nobody answered
//!   meanwhile another peer is asked at once);
//! * **peer policy**: the core's [`PeerPolicy`], the very one the libp2p
//!   driver asks (strikes with forgiveness, a ban at `strikes_to_ban`
//!   strikes, gossip rate buckets, sync refusals judged by kind), and any refused
//!   sync message a ban, as `net/driver.rs` does;
//! * **the world**: per-link latency (`latency_ms` ± `jitter`, fixed per
//!   link from the seed), nodes going offline and back, partitions.
//!
//! Events are ordered by (time, sequence number), every choice comes from
//! one seeded PCG, and no output is read from a hash map's order, so a run
//! is a function of its configuration and seed.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashSet};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, Automerge, ROOT, ReadDoc, ScalarValue};
use ed25519_dalek::SigningKey;
use mirror_commons::doc::{DocKey, EpochDoc};
use mirror_commons::gate::Gate;
use mirror_commons::governance::GovernanceRules;
use mirror_commons::policy::{Action, Admission, PeerPolicy};
use mirror_commons::record::{Kind, Record, RecordId};
use mirror_commons::service::{Commons, GossipVerdict, SyncRejection, SyncRequest, SyncResponse};
use mirror_commons::sync_peers::{PUSH_PEERS, SyncPeers};
use rand::{Rng, RngExt, SeedableRng};
use rand_pcg::Pcg64;
use serde_json::{Map, Value, json};

use crate::gossip::{Control, GossipMode, Mesh, MeshParams, Out, Verdict, control_bytes};

/// The commons every simulated node belongs to.
pub const COMMONS: &str = "51a0000000000000000000000000000000000000000000000000000000000001";
/// Simulated time zero, in unix ms (2026-11-24T00:00:00Z).
pub const T0: i64 = 1_795_478_400_000;

pub type NodeId = usize;

/// What a simulated node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Honest,
    /// Sends invalid records (a forged signature in a well-formed change)
    /// every `spam_every_ms` (when `Config::sybil_spam`), forwards nothing
    /// (withholds) and answers no sync request.
    Sybil,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub seed: u64,
    pub honest: usize,
    pub sybils: usize,
    /// Peers each node dials at start (links are undirected, so the mean
    /// degree is about twice this).
    pub mesh_degree: usize,
    /// Links each Sybil dials (to honest nodes).
    pub sybil_links: usize,
    pub latency_ms: f64,
    /// Relative spread of link latency (0.1 = ±10%).
    pub jitter: f64,
    pub sync_interval_ms: i64,
    /// A sync request unanswered this long has timed out (the driver's
    /// default request timeout).
    pub sync_timeout_ms: i64,
    pub strikes_to_ban: u32,
    /// How often each Sybil sends an invalid record to each of its peers.
    pub spam_every_ms: i64,
    /// Run the daemon's gate (governance rules under the genesis
    /// constitution) instead of the structural one.
    pub governance_rules: bool,
    /// The commons id every node belongs to ([`COMMONS`] unless a scenario
    /// founds its own with a genesis record, whose id it then is).
    pub commons: String,
    /// Sybils send invalid records (and get banned for it); without this
    /// they stay silent: they take everything and pass nothing on.
    pub sybil_spam: bool,
    /// Sybils surround one honest node instead of dialling at random.
    pub eclipse: Option<Eclipse>,
    /// Flooding over every link, or gossipsub's mesh (see [`crate::gossip`]).
    pub gossip: GossipMode,
    /// Under the mesh, Sybils advertise by IHAVE what they withhold.
    pub sybil_ihave: bool,
    /// Gossipsub's parameters under the mesh (the driver's by default).
    pub mesh: MeshParams,
    /// What a node takes to handle a record before it forwards it (decode,
    /// gate, store commit, the libp2p task), ms; added to every gossip hop.
    /// 0 by default; real daemons on a shared 2-core machine took about 10
    /// (README, Model against reality).
    pub processing_ms: i64,
    /// Peers a node starts a round with when it accepts a record (by
    /// gossip or sync) or publishes one (the driver's [`PUSH_PEERS`]; 0 turns it off).
    pub push_peers: usize,
}

/// Process-wide defaults for [`Config::new`] (set once by the command line;
/// tests set their `Config` fields instead).
#[derive(Debug, Clone, Copy)]
pub struct Defaults {
    pub gossip: GossipMode,
    pub sybil_spam: bool,
    pub sybil_ihave: bool,
    /// Overrides the behaviour penalty's decay (P7, per second; the
    /// driver leaves libp2p's 0.2).
    pub behaviour_decay: Option<f64>,
    /// Overrides [`PUSH_PEERS`].
    pub push_peers: Option<usize>,
}

static DEFAULTS: OnceLock<Defaults> = OnceLock::new();

/// Set the defaults [`Config::new`] uses (once, before any run).
pub fn set_defaults(d: Defaults) {
    let _ = DEFAULTS.set(d);
}

fn defaults() -> Defaults {
    DEFAULTS.get().copied().unwrap_or(Defaults {
        gossip: GossipMode::Flood,
        sybil_spam: true,
        sybil_ihave: true,
        behaviour_decay: None,
        push_peers: None,
    })
}

/// An eclipse: every Sybil links to `target` (and to no one else), and the
/// target's only honest links are the `honest_links` it dials; no other
/// honest node dials it.
#[derive(Debug, Clone, Copy)]
pub struct Eclipse {
    pub target: NodeId,
    pub honest_links: usize,
}

impl Config {
    /// 25 ms ± 10% links as in the GossipSub v1.1 evaluation, 4 dials per
    /// node (mean degree ≈ 8, inside gossipsub's D_lo..D_hi), sync each
    /// minute, a ban at 5 strikes as the daemon's default.
    pub fn new(seed: u64, honest: usize) -> Config {
        let d = defaults();
        Config {
            seed,
            honest,
            sybils: 0,
            mesh_degree: 4,
            sybil_links: 8,
            latency_ms: 25.0,
            jitter: 0.1,
            sync_interval_ms: 60_000,
            sync_timeout_ms: 30_000,
            strikes_to_ban: 5,
            spam_every_ms: 1_000,
            governance_rules: false,
            commons: COMMONS.to_string(),
            sybil_spam: d.sybil_spam,
            eclipse: None,
            gossip: d.gossip,
            sybil_ihave: d.sybil_ihave,
            mesh: {
                let mut m = MeshParams::default();
                if let Some(decay) = d.behaviour_decay {
                    m.score.behaviour_decay = decay;
                }
                m
            },
            processing_ms: 0,
            push_peers: d.push_peers.unwrap_or(PUSH_PEERS),
        }
    }
}

enum Event {
    Publish {
        node: NodeId,
        record: Record,
    },
    Gossip {
        from: NodeId,
        to: NodeId,
        id: u64,
        data: Arc<[u8]>,
    },
    SyncRequest {
        from: NodeId,
        to: NodeId,
        req: SyncRequest,
    },
    SyncResponse {
        from: NodeId,
        to: NodeId,
        resp: SyncResponse,
    },
    SyncTick {
        node: NodeId,
    },
    /// `node`'s round with `peer` begun at `since` (ms) may have timed out.
    SyncTimeout {
        node: NodeId,
        peer: NodeId,
        since: i64,
    },
    /// `node`'s open rounds may be late enough to ask another peer.
    SyncHedge {
        node: NodeId,
    },
    Spam {
        node: NodeId,
    },
    Online {
        node: NodeId,
        online: bool,
    },
    Partition {
        group_of: Option<Vec<u8>>,
    },
    /// Gossipsub's heartbeat (mesh model only).
    Heartbeat {
        node: NodeId,
    },
    /// A gossipsub control message (mesh model only).
    Control {
        from: NodeId,
        to: NodeId,
        ctl: Control,
    },
}

struct Node {
    role: Role,
    core: Commons,
    name: String,
    online: bool,
    peers: BTreeSet<NodeId>,
    banned: BTreeSet<NodeId>,
    policy: PeerPolicy<NodeId>,
    /// Who answered its sync requests (the core's sync peer choice).
    sync: SyncPeers<NodeId>,
    seen: HashSet<u64>,
    /// Bytes this node sent (gossip payloads and sync messages).
    sent_bytes: u64,
}

/// A record's publication, for the figures.
struct Published {
    id: RecordId,
    at: i64,
    /// When each honest node accepted it.
    arrived: BTreeMap<NodeId, i64>,
}

/// What a run measured.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub honest: usize,
    pub sybils: usize,
    pub records: usize,
    /// Share of (record, honest node) pairs delivered by the end, in %.
    pub delivery_pct: f64,
    /// Share delivered by gossip alone within 10 s of publication, in %.
    pub gossip_delivery_pct: f64,
    /// Propagation (publication to acceptance), simulated ms, over every
    /// delivered pair.
    pub p50_ms: i64,
    pub p99_ms: i64,
    pub max_ms: i64,
    /// Bytes sent by honest nodes per record per honest node.
    pub bytes_per_record_per_node: f64,
    /// Every honest node holds the same accepted set.
    pub identical_sets: bool,
    /// Honest nodes that banned another honest node, and strikes between
    /// honest nodes.
    pub honest_bans: usize,
    pub honest_strikes: u64,
    /// Sybils banned by at least one honest peer / by all of them.
    pub sybils_banned_by_all: usize,
    /// When (simulated ms) every honest online node held every record.
    pub converged_at_ms: Option<i64>,
    pub events: u64,
    /// Publications the publishing node's own gate refused.
    pub refused_publications: usize,
    /// Every delivered pair's propagation time, sorted (for plots).
    pub latencies_ms: Vec<i64>,
}

pub struct Sim {
    pub config: Config,
    rng: Pcg64,
    now: i64,
    seq: u64,
    queue: BinaryHeap<Reverse<(i64, u64, usize)>>,
    /// Events by slot; the heap orders (time, seq, slot).
    slots: Vec<Option<Event>>,
    free: Vec<usize>,
    nodes: Vec<Node>,
    latency: BTreeMap<(NodeId, NodeId), i64>,
    group_of: Option<Vec<u8>>,
    published: Vec<Published>,
    index: BTreeMap<RecordId, usize>,
    events: u64,
    refused_publications: usize,
    /// Publications scheduled and not yet made.
    to_publish: usize,
    base: Instant,
    converged_at: Option<i64>,
    /// Gossipsub's state under [`GossipMode::Mesh`].
    mesh: Option<Mesh>,
}

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

impl Sim {
    pub fn new(config: Config) -> Sim {
        let mut rng = Pcg64::seed_from_u64(config.seed);
        let total = config.honest + config.sybils;
        let base = Instant::now();
        let mut nodes = Vec::with_capacity(total);
        let checker = config.governance_rules.then(|| {
            mirror_constitution::Constitution::genesis()
                .checker()
                .expect("the genesis constitution's lexicon loads")
        });
        for i in 0..total {
            let gate = match &checker {
                Some(c) => Gate::new(Box::new(GovernanceRules::new(
                    &config.commons,
                    1,
                    c.clone(),
                ))),
                None => Gate::default(),
            };
            let mut core = Commons::in_memory(config.commons.clone(), gate);
            let mut seed = [0u8; 32];
            rng.fill_bytes(&mut seed);
            core.seed_actors(seed);
            nodes.push(Node {
                role: if i < config.honest {
                    Role::Honest
                } else {
                    Role::Sybil
                },
                core,
                name: format!("n{i}"),
                online: true,
                peers: BTreeSet::new(),
                banned: BTreeSet::new(),
                policy: PeerPolicy::new(config.strikes_to_ban, 50),
                sync: SyncPeers::new(),
                seen: HashSet::new(),
                sent_bytes: 0,
            });
        }
        let mut sim = Sim {
            config,
            rng,
            now: 0,
            seq: 0,
            queue: BinaryHeap::new(),
            slots: Vec::new(),
            free: Vec::new(),
            nodes,
            latency: BTreeMap::new(),
            group_of: None,
            published: Vec::new(),
            index: BTreeMap::new(),
            events: 0,
            refused_publications: 0,
            to_publish: 0,
            base,
            converged_at: None,
            mesh: None,
        };
        if sim.config.gossip == GossipMode::Mesh {
            let ihave = sim.config.sybil_ihave;
            sim.mesh = Some(Mesh::new(sim.config.mesh.clone(), total, ihave));
        }
        sim.wire();
        sim.join_mesh();
        for n in 0..total {
            // Sync ticks start spread over the first interval.
            let first = sim.rng.random_range(0..sim.config.sync_interval_ms.max(1));
            sim.schedule(first, Event::SyncTick { node: n });
            if sim.nodes[n].role == Role::Sybil && sim.config.sybil_spam {
                let first = sim.rng.random_range(0..sim.config.spam_every_ms.max(1));
                sim.schedule(first, Event::Spam { node: n });
            }
        }
        sim
    }

    /// Random links: every honest node dials `mesh_degree` others; every
    /// Sybil dials `sybil_links` honest nodes. Under an eclipse the target
    /// is left out of that and wired by [`Sim::wire_eclipse`].
    fn wire(&mut self) {
        let honest = self.config.honest;
        let total = self.nodes.len();
        if let Some(e) = self.config.eclipse {
            self.wire_eclipse(e);
            return;
        }
        for n in 0..total {
            let (want, pool) = match self.nodes[n].role {
                Role::Honest => (self.config.mesh_degree, honest),
                Role::Sybil => (self.config.sybil_links, honest),
            };
            let want = want.min(pool.saturating_sub(1));
            let mut tries = 0;
            let mut added = 0;
            while added < want && tries < want * 20 {
                tries += 1;
                let p = self.rng.random_range(0..pool);
                if p != n && self.link(n, p) {
                    added += 1;
                }
            }
        }
    }

    /// The eclipse's links: honest nodes dial each other at random but
    /// never the target; the target dials `honest_links` honest nodes; every
    /// Sybil dials the target.
    fn wire_eclipse(&mut self, e: Eclipse) {
        let honest = self.config.honest;
        let want = self.config.mesh_degree.min(honest.saturating_sub(2));
        for n in (0..honest).filter(|n| *n != e.target) {
            let (mut added, mut tries) = (0, 0);
            while added < want && tries < want * 20 {
                tries += 1;
                let p = self.rng.random_range(0..honest);
                if p != n && p != e.target && self.link(n, p) {
                    added += 1;
                }
            }
        }
        let want = e.honest_links.min(honest.saturating_sub(1));
        let (mut added, mut tries) = (0, 0);
        while added < want && tries < want * 20 + 20 {
            tries += 1;
            let p = self.rng.random_range(0..honest);
            if p != e.target && self.link(e.target, p) {
                added += 1;
            }
        }
        for s in honest..self.nodes.len() {
            // The target dials them (so they count as its outbound peers
            // in the mesh model, which protects none of them).
            self.link(e.target, s);
        }
    }

    fn link(&mut self, a: NodeId, b: NodeId) -> bool {
        if !self.nodes[a].peers.insert(b) {
            return false;
        }
        self.nodes[b].peers.insert(a);
        if let Some(m) = &mut self.mesh {
            m.on_link(a, b);
        }
        let spread = self.config.latency_ms * self.config.jitter;
        let l = self.config.latency_ms + self.rng.random_range(-spread..=spread);
        let l = l.round().max(1.0) as i64;
        self.latency.insert((a.min(b), a.max(b)), l);
        true
    }

    fn schedule(&mut self, delay: i64, event: Event) {
        let slot = match self.free.pop() {
            Some(s) => {
                self.slots[s] = Some(event);
                s
            }
            None => {
                self.slots.push(Some(event));
                self.slots.len() - 1
            }
        };
        self.seq += 1;
        self.queue
            .push(Reverse((self.now + delay.max(0), self.seq, slot)));
    }

    /// Schedule an event at an absolute simulated time.
    fn at(&mut self, time: i64, event: Event) {
        let delay = time - self.now;
        self.schedule(delay, event);
    }

    fn instant(&self) -> Instant {
        self.base + Duration::from_millis(self.now.max(0) as u64)
    }

    fn wall(&self) -> i64 {
        T0 + self.now
    }

    /// Whether a message from `a` to `b` gets through right now.
    fn passes(&self, a: NodeId, b: NodeId) -> bool {
        let (na, nb) = (&self.nodes[a], &self.nodes[b]);
        na.online
            && nb.online
            && !nb.banned.contains(&a)
            && !na.banned.contains(&b)
            && self.group_of.as_ref().is_none_or(|g| g[a] == g[b])
    }

    fn delay(&self, a: NodeId, b: NodeId) -> i64 {
        self.latency
            .get(&(a.min(b), a.max(b)))
            .copied()
            .unwrap_or(self.config.latency_ms as i64)
    }

    /// `node` publishes `record` at simulated time `at`.
    pub fn publish_at(&mut self, at: i64, node: NodeId, record: Record) {
        self.to_publish += 1;
        self.at(at, Event::Publish { node, record });
    }

    pub fn set_online_at(&mut self, at: i64, node: NodeId, online: bool) {
        self.at(at, Event::Online { node, online });
    }

    /// From `at`, nodes only reach nodes of the same group (`None` heals).
    pub fn partition_at(&mut self, at: i64, group_of: Option<Vec<u8>>) {
        self.at(at, Event::Partition { group_of });
    }

    pub fn now(&self) -> i64 {
        self.now
    }

    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Run until simulated time `until` (ms).
    pub fn run_until(&mut self, until: i64) {
        while let Some(Reverse((t, _, slot))) = self.queue.peek().copied() {
            if t > until {
                break;
            }
            self.queue.pop();
            self.now = t;
            let event = self.slots[slot].take();
            self.free.push(slot);
            if let Some(event) = event {
                self.events += 1;
                self.handle(event);
            }
        }
        self.now = until;
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Publish { node, record } => self.on_publish(node, record),
            Event::Gossip { from, to, id, data } => self.on_gossip(from, to, id, data),
            Event::SyncRequest { from, to, req } => self.on_sync_request(from, to, req),
            Event::SyncResponse { from, to, resp } => self.on_sync_response(from, to, resp),
            Event::SyncTick { node } => {
                self.sync_with_best_peers(node, 1);
                let every = self.config.sync_interval_ms;
                self.schedule(every, Event::SyncTick { node });
            }
            Event::Spam { node } => {
                // A Sybil every honest peer has banned is cut off: it stops.
                if self.spam(node) {
                    let every = self.config.spam_every_ms;
                    self.schedule(every, Event::Spam { node });
                }
            }
            Event::SyncTimeout { node, peer, since } => self.on_sync_timeout(node, peer, since),
            Event::SyncHedge { node } => self.on_sync_hedge(node),
            Event::Online { node, online } => {
                self.nodes[node].online = online;
                if online {
                    // Back: catch up with a few peers at once.
                    self.sync_with_best_peers(node, 3);
                } else {
                    // Its requests are lost with it, not its peers' fault.
                    self.nodes[node].sync.forget_pending();
                }
            }
            Event::Partition { group_of } => self.group_of = group_of,
            Event::Heartbeat { node } => self.on_heartbeat(node),
            Event::Control { from, to, ctl } => self.on_control(from, to, ctl),
        }
    }

    fn on_publish(&mut self, node: NodeId, record: Record) {
        self.to_publish -= 1;
        let now = self.wall();
        if !self.nodes[node].online {
            return;
        }
        let (id, change) = match self.nodes[node].core.publish(record.bytes(), now) {
            Ok(published) => published,
            Err(_) => {
                // Counted: a scenario whose own records are refused is
                // broken, and its report says so.
                self.refused_publications += 1;
                return;
            }
        };
        let i = self.published.len();
        self.published.push(Published {
            id,
            at: self.now,
            arrived: BTreeMap::from([(node, self.now)]),
        });
        self.index.insert(id, i);
        let data: Arc<[u8]> = change.into();
        let mid = message_id(&data);
        self.nodes[node].seen.insert(mid);
        if let Some(m) = &mut self.mesh {
            m.on_publish(node, mid, data.clone());
        }
        self.forward(node, None, mid, data);
        self.push(node, None);
    }

    /// Rounds with a few peers that answer (or were not tried), after
    /// `node` took a record in: they carry it where gossip may not.
    fn push(&mut self, node: NodeId, from: Option<NodeId>) {
        let n = self.config.push_peers;
        if n == 0 || !self.nodes[node].online || self.nodes[node].role == Role::Sybil {
            return;
        }
        let candidates: Vec<NodeId> = self.nodes[node]
            .peers
            .iter()
            .copied()
            .filter(|p| Some(*p) != from && self.passes(node, *p))
            .collect();
        let instant = self.instant();
        let rng = &mut self.rng;
        let chosen = self.nodes[node]
            .sync
            .push_targets(&candidates, n, instant, |k| rng.random_range(0..k.max(1)));
        for peer in chosen {
            self.start_push(node, peer);
        }
    }

    /// A push: sync messages for every live document at once, no `Docs`
    /// step (see `Commons::push_start`), timed out like a round.
    fn start_push(&mut self, node: NodeId, peer: NodeId) {
        let now = self.wall();
        let name = self.nodes[peer].name.clone();
        let reqs = self.nodes[node].core.push_start(&name, now);
        self.open_round(node, peer, reqs);
    }

    fn forward(&mut self, node: NodeId, except: Option<NodeId>, id: u64, data: Arc<[u8]>) {
        let peers: Vec<NodeId> = match &self.mesh {
            Some(m) => {
                let usable = self.usable(node);
                m.targets(node, except, &usable, self.now)
            }
            None => self.nodes[node]
                .peers
                .iter()
                .copied()
                .filter(|p| Some(*p) != except && !self.nodes[node].banned.contains(p))
                .collect(),
        };
        for p in peers {
            self.nodes[node].sent_bytes += data.len() as u64;
            let d = self.delay(node, p) + self.config.processing_ms;
            self.schedule(
                d,
                Event::Gossip {
                    from: node,
                    to: p,
                    id,
                    data: data.clone(),
                },
            );
        }
    }

    fn on_gossip(&mut self, from: NodeId, to: NodeId, id: u64, data: Arc<[u8]>) {
        if !self.passes(from, to)
            || self.mesh_graylisted(to, from)
            || !self.nodes[to].seen.insert(id)
        {
            return;
        }
        if self.nodes[to].role == Role::Sybil {
            // Withholds (under the mesh, may advertise it by IHAVE).
            if self.mesh.is_some() {
                let usable = self.usable(to);
                let out = self
                    .mesh
                    .as_mut()
                    .map(|m| m.on_sybil_message(to, id, &usable));
                self.send_mesh(to, out.unwrap_or_default());
            }
            return;
        }
        let instant = self.instant();
        if let Admission::Ignore { then } = self.nodes[to].policy.admit_gossip(&from, instant) {
            self.nodes[to].seen.remove(&id);
            self.act(to, from, then);
            return;
        }
        let now = self.wall();
        let from_name = self.nodes[from].name.clone();
        let verdict = self.nodes[to].core.on_gossip(&from_name, &data, now);
        let action = self.nodes[to]
            .policy
            .on_gossip_verdict(&from, &verdict, instant);
        self.act(to, from, action);
        if let Some(m) = &mut self.mesh {
            let v = match verdict {
                GossipVerdict::Accept(_) => Verdict::Accept,
                GossipVerdict::Ignore => Verdict::Ignore,
                GossipVerdict::Reject(_) => Verdict::Reject,
            };
            m.on_message(to, from, id, data.clone(), v);
        }
        match verdict {
            GossipVerdict::Accept(rid) => {
                self.note_arrival(to, rid);
                self.forward(to, Some(from), id, data);
                self.nodes[to].sync.heard(&from);
                self.push(to, Some(from));
            }
            GossipVerdict::Ignore => {
                // Gossipsub forgets ignored ids, so a copy that arrives
                // later (once its parent is here) is tried again.
                self.nodes[to].seen.remove(&id);
                // A change whose parent `to` lacks: the sender has it, and
                // the core asks for a round with it now (as the driver).
                if !self.nodes[to].core.take_behind().is_empty() {
                    self.sync_with(to, from);
                }
            }
            GossipVerdict::Reject(_) => {}
        }
    }

    /// Carry out what the policy decided (a ban cuts the link both ways).
    fn act(&mut self, node: NodeId, peer: NodeId, action: Action) {
        match action {
            Action::Ban(_) => self.ban(node, peer),
            Action::Strike { count } => {
                // As the driver: a strike lowers the gossipsub score.
                if let Some(m) = &mut self.mesh {
                    m.on_strike(node, peer, count);
                }
            }
            _ => {}
        }
    }

    fn ban(&mut self, node: NodeId, peer: NodeId) {
        self.nodes[node].banned.insert(peer);
        self.nodes[node].policy.note_ban(&peer);
        self.nodes[node].sync.gone(&peer);
        let name = self.nodes[peer].name.clone();
        self.nodes[node].core.peer_gone(&name);
    }

    /// The core refused a sync message: the policy judges it, as in the
    /// driver.
    fn on_sync_rejection(&mut self, node: NodeId, peer: NodeId, e: &SyncRejection) {
        let now = self.instant();
        let action = self.nodes[node].policy.on_sync_rejection(&peer, e, now);
        self.act(node, peer, action);
    }

    fn note_arrival(&mut self, node: NodeId, id: RecordId) {
        if let Some(&i) = self.index.get(&id) {
            self.published[i].arrived.entry(node).or_insert(self.now);
        }
    }

    /// After a sync message was applied: which published records arrived.
    fn note_sync_arrivals(&mut self, node: NodeId, peer: NodeId, before: usize) {
        if self.nodes[node].core.accepted_count() == before {
            return;
        }
        // What came by sync goes on to a few peers too, so a record that
        // gossip left behind spreads along links that answer.
        self.push(node, Some(peer));
        let now = self.now;
        for p in &mut self.published {
            if !p.arrived.contains_key(&node) && self.nodes[node].core.contains(&p.id) {
                p.arrived.insert(node, now);
            }
        }
    }

    /// Start catch-up rounds with the `n` best reachable peers, as the
    /// core's [`SyncPeers`] ranks them (ties drawn from the run's PCG).
    fn sync_with_best_peers(&mut self, node: NodeId, n: usize) {
        if !self.nodes[node].online || self.nodes[node].role == Role::Sybil {
            return;
        }
        let candidates: Vec<NodeId> = self.nodes[node]
            .peers
            .iter()
            .copied()
            .filter(|p| self.passes(node, *p))
            .collect();
        if candidates.is_empty() {
            return;
        }
        let instant = self.instant();
        let rng = &mut self.rng;
        let chosen = self.nodes[node]
            .sync
            .pick(&candidates, n, instant, |k| rng.random_range(0..k.max(1)));
        for peer in chosen {
            self.start_round(node, peer);
        }
        self.schedule_hedge(node);
    }

    /// A round with `peer` now, unless one is running (a gossiped change
    /// showed `node` behind it).
    fn sync_with(&mut self, node: NodeId, peer: NodeId) {
        if !self.nodes[node].online
            || self.nodes[node].role == Role::Sybil
            || !self.passes(node, peer)
            || self.nodes[node].sync.pending_since(&peer).is_some()
        {
            return;
        }
        self.start_round(node, peer);
    }

    fn start_round(&mut self, node: NodeId, peer: NodeId) {
        let name = self.nodes[peer].name.clone();
        let req = self.nodes[node].core.sync_start(&name);
        self.open_round(node, peer, vec![req]);
    }

    /// Send a round's (or a push's) first requests and time it out as
    /// the driver's request timeout would; nothing to send opens nothing.
    fn open_round(&mut self, node: NodeId, peer: NodeId, reqs: Vec<SyncRequest>) {
        if reqs.is_empty() {
            return;
        }
        let instant = self.instant();
        self.nodes[node].sync.started(&peer, instant);
        for req in reqs {
            self.send_request(node, peer, req);
        }
        let timeout = self.config.sync_timeout_ms;
        let since = self.now;
        self.schedule(timeout, Event::SyncTimeout { node, peer, since });
    }

    /// Wake `node` when its open rounds may be late.
    fn schedule_hedge(&mut self, node: NodeId) {
        if let Some(at) = self.nodes[node].sync.next_hedge_at() {
            let ms = at.saturating_duration_since(self.base).as_millis() as i64;
            self.at(ms.max(self.now), Event::SyncHedge { node });
        }
    }

    fn on_sync_hedge(&mut self, node: NodeId) {
        if !self.nodes[node].online {
            return;
        }
        let now = self.instant();
        let late = self.nodes[node].sync.take_late(now);
        if late > 0 {
            self.sync_with_best_peers(node, late);
        } else {
            self.schedule_hedge(node);
        }
    }

    /// A round's first request got no answer in time: a miss for the peer
    /// (never a strike), and if nobody answered since, another peer now.
    fn on_sync_timeout(&mut self, node: NodeId, peer: NodeId, since: i64) {
        let begun = self.base + Duration::from_millis(since.max(0) as u64);
        if !self.nodes[node].online || self.nodes[node].sync.pending_since(&peer) != Some(begun) {
            return; // answered, gone, or a later round
        }
        let now = self.instant();
        self.nodes[node].sync.timed_out(&peer, now);
        if !self.nodes[node].sync.answered_since(begun) {
            self.sync_with_best_peers(node, 1);
        }
    }

    fn send_request(&mut self, from: NodeId, to: NodeId, req: SyncRequest) {
        self.nodes[from].sent_bytes += request_bytes(&req);
        let d = self.delay(from, to);
        self.schedule(d, Event::SyncRequest { from, to, req });
    }

    fn on_sync_request(&mut self, from: NodeId, to: NodeId, req: SyncRequest) {
        if !self.passes(from, to) || self.nodes[to].role == Role::Sybil {
            return;
        }
        let now = self.wall();
        let from_name = self.nodes[from].name.clone();
        let before = self.nodes[to].core.accepted_count();
        let resp = match self.nodes[to].core.on_sync_request(&from_name, req, now) {
            Ok(r) => {
                self.nodes[to].sync.heard(&from);
                r
            }
            Err(e) => {
                self.on_sync_rejection(to, from, &e);
                SyncResponse::Refused {
                    reason: e.reason().to_string(),
                }
            }
        };
        self.note_sync_arrivals(to, from, before);
        self.nodes[to].sent_bytes += response_bytes(&resp);
        let d = self.delay(from, to);
        self.schedule(
            d,
            Event::SyncResponse {
                from: to,
                to: from,
                resp,
            },
        );
    }

    fn on_sync_response(&mut self, from: NodeId, to: NodeId, resp: SyncResponse) {
        if !self.passes(from, to) {
            return;
        }
        let instant = self.instant();
        self.nodes[to].sync.answered(&from, instant);
        let now = self.wall();
        let from_name = self.nodes[from].name.clone();
        let before = self.nodes[to].core.accepted_count();
        match self.nodes[to].core.on_sync_response(&from_name, resp, now) {
            Ok(more) => {
                self.note_sync_arrivals(to, from, before);
                for req in more {
                    self.send_request(to, from, req);
                }
            }
            Err(e) => self.on_sync_rejection(to, from, &e),
        }
    }

    /// A Sybil sends each of its peers a fresh invalid record: a vote whose
    /// signature does not verify, in a change that is otherwise well formed
    /// (so every honest node pays a decode and a signature check for it).
    /// Returns whether the Sybil still has a peer that takes its messages.
    fn spam(&mut self, node: NodeId) -> bool {
        let open: Vec<NodeId> = self.nodes[node]
            .peers
            .iter()
            .copied()
            .filter(|p| !self.nodes[*p].banned.contains(&node))
            .collect();
        if open.is_empty() {
            return false;
        }
        let n = self.seq;
        let data: Arc<[u8]> = forged_vote_change(n, self.wall(), &self.config.commons).into();
        let id = message_id(&data);
        for p in open {
            let d = self.delay(node, p);
            self.schedule(
                d,
                Event::Gossip {
                    from: node,
                    to: p,
                    id,
                    data: data.clone(),
                },
            );
        }
        true
    }

    /// Every honest, online node holds every published record.
    fn converged(&self) -> bool {
        if self.to_publish > 0 {
            return false;
        }
        let online: Vec<NodeId> = (0..self.config.honest)
            .filter(|n| self.nodes[*n].online)
            .collect();
        self.published
            .iter()
            .all(|p| online.iter().all(|n| p.arrived.contains_key(n)))
    }

    /// Run in steps of `step` ms until every honest online node holds every
    /// record or `until`; returns when convergence was first seen.
    pub fn run_until_converged(&mut self, step: i64, until: i64) -> Option<i64> {
        while self.now < until {
            let next = (self.now + step).min(until);
            self.run_until(next);
            if self.converged() {
                self.converged_at.get_or_insert(self.now);
                return Some(self.now);
            }
        }
        None
    }

    /// The figures of the run so far.
    pub fn report(&self) -> Report {
        let honest = self.config.honest;
        let mut latencies = Vec::new();
        let mut delivered = 0usize;
        let mut gossip_fast = 0usize;
        for p in &self.published {
            for (&n, &t) in &p.arrived {
                if n < honest {
                    delivered += 1;
                    latencies.push(t - p.at);
                    if t - p.at <= 10_000 {
                        gossip_fast += 1;
                    }
                }
            }
        }
        latencies.sort_unstable();
        let pct = |q: f64| -> i64 {
            if latencies.is_empty() {
                return 0;
            }
            let i = ((latencies.len() as f64 - 1.0) * q).round() as usize;
            latencies[i.min(latencies.len() - 1)]
        };
        let pairs = (self.published.len() * honest).max(1);
        let reference = self.nodes.first().map(|n| n.core.accepted_ids());
        let identical = (0..honest).all(|n| Some(self.nodes[n].core.accepted_ids()) == reference);
        let mut honest_bans = 0;
        let mut honest_strikes = 0u64;
        let now = self.instant();
        for n in 0..honest {
            honest_bans += self.nodes[n].banned.iter().filter(|p| **p < honest).count();
            let mut policy = self.nodes[n].policy.clone();
            for p in 0..honest {
                honest_strikes += u64::from(policy.strikes(&p, now));
            }
        }
        let sybils_banned_by_all = (honest..self.nodes.len())
            .filter(|s| {
                self.nodes[*s]
                    .peers
                    .iter()
                    .all(|p| self.nodes[*p].banned.contains(s))
            })
            .count();
        let bytes: u64 = (0..honest).map(|n| self.nodes[n].sent_bytes).sum();
        Report {
            honest,
            sybils: self.config.sybils,
            records: self.published.len(),
            delivery_pct: 100.0 * delivered as f64 / pairs as f64,
            gossip_delivery_pct: 100.0 * gossip_fast as f64 / pairs as f64,
            p50_ms: pct(0.5),
            p99_ms: pct(0.99),
            max_ms: latencies.last().copied().unwrap_or(0),
            bytes_per_record_per_node: bytes as f64
                / (self.published.len().max(1) * honest.max(1)) as f64,
            identical_sets: identical,
            honest_bans,
            honest_strikes,
            sybils_banned_by_all,
            converged_at_ms: self.converged_at,
            events: self.events,
            refused_publications: self.refused_publications,
            latencies_ms: latencies,
        }
    }

    /// Every honest node's accepted set, for checks.
    pub fn accepted_sets(&self) -> Vec<BTreeSet<RecordId>> {
        (0..self.config.honest)
            .map(|n| self.nodes[n].core.accepted_ids())
            .collect()
    }

    /// The records of one kind `node` holds (for the governance ledger).
    pub fn records_of(&self, node: NodeId, kind: Kind) -> Vec<Record> {
        self.nodes[node].core.records_of(kind)
    }

    pub fn is_online(&self, node: NodeId) -> bool {
        self.nodes[node].online
    }

    /// Every link once, as (a, b, latency ms) with a < b, in order.
    pub fn edges(&self) -> Vec<(NodeId, NodeId, i64)> {
        self.latency.iter().map(|(&(a, b), &l)| (a, b, l)).collect()
    }

    /// The peers `node` is linked to.
    pub fn peers(&self, node: NodeId) -> Vec<NodeId> {
        self.nodes[node].peers.iter().copied().collect()
    }

    /// When `node` received each published record, as (publication time,
    /// arrival time if it arrived), in publication order.
    pub fn arrivals(&self, node: NodeId) -> Vec<(i64, Option<i64>)> {
        self.published
            .iter()
            .map(|p| (p.at, p.arrived.get(&node).copied()))
            .collect()
    }

    /// A random number from the run's generator (scenarios draw their
    /// choices here so the seed fixes them too).
    pub fn random_below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.rng.random_range(0..n)
        }
    }

    /// A seed from the run's generator (for a core's actor ids).
    pub fn random_seed(&mut self) -> [u8; 32] {
        let mut seed = [0u8; 32];
        self.rng.fill_bytes(&mut seed);
        seed
    }

    /// A node's protocol core, for what a scenario does to it directly
    /// (inject disk faults, read its state).
    pub fn core_mut(&mut self, node: NodeId) -> &mut Commons {
        &mut self.nodes[node].core
    }

    /// Put `core` in place of a node's core (a disk-backed one, say), and
    /// return the old one.
    pub fn replace_core(&mut self, node: NodeId, core: Commons) -> Commons {
        std::mem::replace(&mut self.nodes[node].core, core)
    }
}

/// The hooks of the mesh model ([`crate::gossip`]): the reactor's side of
/// it (who is reachable, scheduling, bytes); the protocol is in `Mesh`.
impl Sim {
    /// The peers `node` can reach right now, in order.
    fn usable(&self, node: NodeId) -> Vec<NodeId> {
        self.nodes[node]
            .peers
            .iter()
            .copied()
            .filter(|p| self.passes(node, *p))
            .collect()
    }

    fn mesh_graylisted(&self, node: NodeId, peer: NodeId) -> bool {
        self.mesh
            .as_ref()
            .is_some_and(|m| m.graylisted(node, peer, self.now))
    }

    /// Every node joins the topic at time 0 and starts its heartbeat.
    fn join_mesh(&mut self) {
        let Some(mut mesh) = self.mesh.take() else {
            return;
        };
        let mut outs = Vec::new();
        for n in 0..self.nodes.len() {
            let usable = self.usable(n);
            let sybil = self.nodes[n].role == Role::Sybil;
            outs.push((n, mesh.join(n, sybil, &usable, self.now, &mut self.rng)));
            let first = mesh.first_heartbeat(&mut self.rng);
            self.schedule(first, Event::Heartbeat { node: n });
        }
        self.mesh = Some(mesh);
        for (n, out) in outs {
            self.send_mesh(n, out);
        }
    }

    fn on_heartbeat(&mut self, node: NodeId) {
        let Some(mut mesh) = self.mesh.take() else {
            return;
        };
        let every = mesh.params.heartbeat_ms;
        let out = if self.nodes[node].online {
            let usable = self.usable(node);
            let sybil = self.nodes[node].role == Role::Sybil;
            mesh.heartbeat(node, sybil, &usable, self.now, &mut self.rng)
        } else {
            Vec::new()
        };
        self.mesh = Some(mesh);
        self.send_mesh(node, out);
        // As the driver, once a second: a graylisted peer is banned.
        if self.nodes[node].role == Role::Honest {
            let gray: Vec<NodeId> = self.nodes[node]
                .peers
                .iter()
                .copied()
                .filter(|p| !self.nodes[node].banned.contains(p) && self.mesh_graylisted(node, *p))
                .collect();
            for p in gray {
                self.ban(node, p);
            }
        }
        self.schedule(every, Event::Heartbeat { node });
    }

    fn on_control(&mut self, from: NodeId, to: NodeId, ctl: Control) {
        if !self.passes(from, to) || self.mesh_graylisted(to, from) {
            return;
        }
        let Some(mut mesh) = self.mesh.take() else {
            return;
        };
        let sybil = self.nodes[to].role == Role::Sybil;
        let seen = &self.nodes[to].seen;
        let out = mesh.on_control(to, sybil, from, ctl, self.now, &|id| seen.contains(&id));
        self.mesh = Some(mesh);
        self.send_mesh(to, out);
    }

    /// Put what a mesh step sends on the links (bytes counted).
    fn send_mesh(&mut self, node: NodeId, out: Vec<Out>) {
        for o in out {
            match o {
                Out::Control { to, ctl } => {
                    self.nodes[node].sent_bytes += control_bytes(&ctl);
                    let d = self.delay(node, to);
                    self.schedule(
                        d,
                        Event::Control {
                            from: node,
                            to,
                            ctl,
                        },
                    );
                }
                Out::Message { to, id, data } => {
                    self.nodes[node].sent_bytes += data.len() as u64;
                    let d = self.delay(node, to);
                    self.schedule(
                        d,
                        Event::Gossip {
                            from: node,
                            to,
                            id,
                            data,
                        },
                    );
                }
            }
        }
    }

    /// The peers `node` is meshed with (empty under flooding).
    pub fn mesh_of(&self, node: NodeId) -> Vec<NodeId> {
        self.mesh
            .as_ref()
            .map(|m| m.mesh_of(node))
            .unwrap_or_default()
    }
}

fn message_id(data: &[u8]) -> u64 {
    let h = blake3::hash(data);
    u64::from_le_bytes(h.as_bytes()[..8].try_into().unwrap_or([0; 8]))
}

fn request_bytes(req: &SyncRequest) -> u64 {
    match req {
        SyncRequest::Docs { commons } => commons.len() as u64 + 16,
        SyncRequest::Sync {
            commons,
            doc,
            message,
        } => (commons.len() + doc.len() + message.len()) as u64 + 32,
    }
}

fn response_bytes(resp: &SyncResponse) -> u64 {
    match resp {
        SyncResponse::Docs { docs } => docs.iter().map(|d| d.len() as u64 + 1).sum::<u64>() + 16,
        SyncResponse::Sync { doc, message } => {
            (doc.len() + message.as_ref().map_or(0, Vec::len)) as u64 + 24
        }
        SyncResponse::Refused { reason } => reason.len() as u64 + 16,
    }
}

/// A vote by `key` on a made-up proposal `n`, made at `at` (unix ms).
pub fn vote(n: u64, at: i64, key: &SigningKey) -> Record {
    let proposal = blake3::hash(&n.to_le_bytes()).to_hex().to_string();
    Record::sign(
        Kind::Vote,
        at,
        object(json!({"proposal": proposal, "choice": "approve"})),
        key,
    )
    .expect("a vote signs")
}

/// A telemetry packet under registry version 1 (anonymous: a fresh actor
/// per record).
pub fn packet(n: u64, at: i64) -> Record {
    packet_under(1, n, at)
}

/// A telemetry packet made under registry `version`: version 2 adds a
/// metric (`commons.syncs`) that version 1 does not declare.
pub fn packet_under(version: u64, n: u64, at: i64) -> Record {
    let key = SigningKey::from_bytes(blake3::hash(&n.to_be_bytes()).as_bytes());
    let metrics = if version >= 2 {
        json!([
            {"name": "reflections.count", "kind": "counter", "values": [n % 7]},
            {"name": "commons.syncs", "kind": "counter", "values": [n % 3]}
        ])
    } else {
        json!([{"name": "reflections.count", "kind": "counter", "values": [n % 7]}])
    };
    Record::sign(
        Kind::TelemetryPacket,
        at,
        object(json!({
            "registry_version": version,
            "period": at / 86_400_000,
            "metrics": metrics
        })),
        &key,
    )
    .expect("a packet signs")
}

/// The change an attacker builds to carry a vote whose signature does not
/// verify: the genesis every node builds, then one put of the forged bytes
/// under their own id.
fn forged_vote_change(n: u64, at: i64, commons: &str) -> Vec<u8> {
    let key = SigningKey::from_bytes(&[0x5b; 32]);
    let record = vote(n ^ 0x5b5b_0000_0000, at, &key);
    let mut forged = record.bytes().to_vec();
    // Flip one hex digit of the proposal: the signature no longer holds.
    if let Some(pos) = forged.windows(12).position(|w| w == b"\"proposal\":\"") {
        let i = pos + 12;
        forged[i] = if forged[i] == b'a' { b'b' } else { b'a' };
    }
    let mut genesis = EpochDoc::new(commons, DocKey::of(Kind::Vote, at));
    let Ok(mut doc) = Automerge::load(&genesis.save()) else {
        return Vec::new();
    };
    let Ok(Some((_, map))) = doc.get(ROOT, Kind::Vote.as_str()) else {
        return Vec::new();
    };
    doc.set_actor(ActorId::from(
        blake3::hash(&n.to_le_bytes()).as_bytes()[..16].to_vec(),
    ));
    let mut tx = doc.transaction();
    let id = RecordId::of(&forged).to_hex();
    if tx
        .put(&map, id.as_str(), ScalarValue::Bytes(forged))
        .is_err()
    {
        return Vec::new();
    }
    let (hash, _) = tx.commit_with(CommitOptions::default().with_time(0));
    hash.and_then(|h| doc.get_change_by_hash(&h))
        .map(|c| c.raw_bytes().to_vec())
        .unwrap_or_default()
}
