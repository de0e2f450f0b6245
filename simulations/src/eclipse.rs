//! An eclipse: Sybils take most of one honest node's links, from the start
//! (cold boot), and withhold: they take every record and pass nothing on,
//! answer no sync request, and send nothing invalid (so no one strikes or
//! bans them). The target keeps `honest_links` links to honest nodes (the
//! ones it dialled), and no other honest node dials it.
//!
//! Measured: the target's delivery and propagation, and the time it takes a
//! target that joins late to catch up by sync, against the same target in
//! the same network without the attack; and the whole network's figures.
//!
//! Under flooding (the default) one honest link always carries every
//! record at once. Under the mesh model ([`eclipse_with`] and
//! `GossipMode::Mesh`) the target dials its Sybils too, they take its
//! GRAFTs and fill its mesh, and it depends on lazy pull through its one
//! honest link, or on sync.

use ed25519_dalek::SigningKey;

use crate::gossip::GossipMode;
use crate::sim::{Config, Eclipse, NodeId, Report, Sim, T0, packet, vote};

/// The target of the attack.
pub const TARGET: NodeId = 0;

/// How one node fared.
#[derive(Debug, Clone, Default)]
pub struct TargetFigures {
    /// The target's links to honest nodes and to Sybils.
    pub honest_links: usize,
    pub sybil_links: usize,
    /// Share of the records the target holds at the end, in %.
    pub delivery_pct: f64,
    /// Publication to the target's acceptance, over the records published
    /// while it was online, simulated ms.
    pub p50_ms: i64,
    pub p99_ms: i64,
    pub max_ms: i64,
    /// From the target joining to it holding every record published before
    /// (None: it never did, or it joined at the start).
    pub caught_up_ms: Option<i64>,
    /// When the target got each record it holds, from the later of its
    /// publication and the target's joining, sorted (for plots).
    pub arrivals_ms: Vec<i64>,
    /// Records published in the run.
    pub records: usize,
}

/// The same network with and without the attack.
#[derive(Debug, Clone)]
pub struct EclipseReport {
    pub base: Report,
    pub attacked: Report,
    pub target_base: TargetFigures,
    pub target_attacked: TargetFigures,
}

/// A run's sizes.
#[derive(Debug, Clone, Copy)]
pub struct EclipseConfig {
    pub nodes: usize,
    /// Sybils, every one linked to the target.
    pub sybils: usize,
    /// The target's honest links under attack.
    pub honest_links: usize,
    pub records: usize,
    /// When the target comes online (0: from the start); records flow from
    /// 1 s, one every 500 ms.
    pub join_ms: i64,
    pub seed: u64,
}

fn figures(sim: &Sim, join_ms: i64) -> TargetFigures {
    let peers = sim.peers(TARGET);
    let honest = sim.config.honest;
    let arrivals = sim.arrivals(TARGET);
    let mut latencies: Vec<i64> = arrivals
        .iter()
        .filter(|(at, _)| *at >= join_ms)
        .filter_map(|(at, got)| got.map(|t| t - at))
        .collect();
    latencies.sort_unstable();
    let pct = |q: f64| -> i64 {
        if latencies.is_empty() {
            return 0;
        }
        latencies[((latencies.len() as f64 - 1.0) * q).round() as usize]
    };
    let before: Vec<Option<i64>> = arrivals
        .iter()
        .filter(|(at, _)| *at < join_ms)
        .map(|(_, got)| *got)
        .collect();
    let caught_up_ms = if join_ms == 0 || before.is_empty() || before.iter().any(Option::is_none) {
        None
    } else {
        before.iter().flatten().max().map(|t| t - join_ms)
    };
    let delivered = arrivals.iter().filter(|(_, got)| got.is_some()).count();
    let mut since: Vec<i64> = arrivals
        .iter()
        .filter_map(|(at, got)| got.map(|t| t - (*at).max(join_ms)))
        .collect();
    since.sort_unstable();
    TargetFigures {
        honest_links: peers.iter().filter(|p| **p < honest).count(),
        sybil_links: peers.iter().filter(|p| **p >= honest).count(),
        delivery_pct: 100.0 * delivered as f64 / arrivals.len().max(1) as f64,
        p50_ms: pct(0.5),
        p99_ms: pct(0.99),
        max_ms: latencies.last().copied().unwrap_or(0),
        caught_up_ms,
        arrivals_ms: since,
        records: arrivals.len(),
    }
}

/// Run the network without the attack, then with it.
pub fn eclipse(c: EclipseConfig) -> EclipseReport {
    let gossip = Config::new(c.seed, c.nodes).gossip;
    eclipse_with(c, gossip)
}

/// [`eclipse`] under a given gossip model.
pub fn eclipse_with(c: EclipseConfig, gossip: GossipMode) -> EclipseReport {
    let run = |attack: bool| {
        let mut config = Config::new(c.seed, c.nodes);
        config.gossip = gossip;
        if attack {
            config.sybils = c.sybils;
            config.sybil_spam = false;
            config.eclipse = Some(Eclipse {
                target: TARGET,
                honest_links: c.honest_links,
            });
        }
        let mut sim = Sim::new(config);
        if c.join_ms > 0 {
            sim.set_online_at(0, TARGET, false);
            sim.set_online_at(c.join_ms, TARGET, true);
        }
        // Records from every honest node but the target (whose own records
        // would be lost while it is away).
        for i in 0..c.records {
            let at = 1_000 + i as i64 * 500;
            let node = 1 + sim.random_below(c.nodes.saturating_sub(1) as u64) as usize;
            let n = (6 << 32) | i as u64;
            let record = if i % 2 == 0 {
                let key = SigningKey::from_bytes(blake3::hash(&n.to_le_bytes()).as_bytes());
                vote(n, T0 + at, &key)
            } else {
                packet(n, T0 + at)
            };
            sim.publish_at(at, node, record);
        }
        let end = (1_000 + c.records as i64 * 500).max(c.join_ms) + 60 * 60_000;
        sim.run_until(c.join_ms);
        sim.run_until_converged(1_000, end);
        (sim.report(), figures(&sim, c.join_ms))
    };
    let (base, target_base) = run(false);
    let (attacked, target_attacked) = run(true);
    EclipseReport {
        base,
        attacked,
        target_base,
        target_attacked,
    }
}
