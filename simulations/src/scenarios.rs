//! The scenarios: each a function of its size and seed, returning the
//! run's [`Report`]. The CI tests run small versions and assert the
//! properties; `cargo run -p mirror-simulations --release -- SCENARIO`
//! runs the documented sizes.

use ed25519_dalek::SigningKey;
use mirror_commons::record::Record;

use crate::sim::{Config, Report, Sim, T0, packet, packet_under, vote};

/// How long after the last publication a run waits for convergence.
const SETTLE_MS: i64 = 10 * 60 * 1000;

/// Publish `records` records (votes and telemetry packets alternately) from
/// random honest nodes, one every `spacing_ms` from `start`.
fn publish(sim: &mut Sim, records: usize, start: i64, spacing_ms: i64, tag: u64) {
    let honest = sim.config.honest as u64;
    for i in 0..records {
        let at = start + i as i64 * spacing_ms;
        let node = sim.random_below(honest) as usize;
        sim.publish_at(at, node, nth_record(tag, i, T0 + at));
    }
}

/// The `i`th record of a run's series `tag`, made at `at` (unix ms): votes
/// and telemetry packets alternately (the real-network harness publishes
/// the very same ones).
pub fn nth_record(tag: u64, i: usize, at: i64) -> Record {
    let n = (tag << 32) | i as u64;
    if i.is_multiple_of(2) {
        let key = SigningKey::from_bytes(blake3::hash(&n.to_le_bytes()).as_bytes());
        vote(n, at, &key)
    } else {
        packet(n, at)
    }
}

/// One publication of a planned run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Planned {
    /// When, in ms from the run's start.
    pub at: i64,
    /// Which node publishes.
    pub node: usize,
    /// Which record of the series ([`nth_record`] with tag 1).
    pub index: usize,
}

/// The honest run's network and schedule, drawn as [`honest`] draws them:
/// the simulator with its links wired, and `records` publications one every
/// `spacing_ms` from 1 s, from random nodes, already scheduled in it. With
/// `Config::new(seed, nodes)` and a 500 ms spacing, running it to
/// convergence is `honest(nodes, records, seed)` exactly; the real-network
/// harness runs the same plan on real daemons.
pub fn honest_plan(config: Config, records: usize, spacing_ms: i64) -> (Sim, Vec<Planned>) {
    let mut sim = Sim::new(config);
    let honest = sim.config.honest as u64;
    let mut plan = Vec::with_capacity(records);
    for index in 0..records {
        let at = 1_000 + index as i64 * spacing_ms;
        let node = sim.random_below(honest) as usize;
        sim.publish_at(at, node, nth_record(1, index, T0 + at));
        plan.push(Planned { at, node, index });
    }
    (sim, plan)
}

/// Run a planned honest run to convergence (or 10 minutes after the last
/// publication) and report.
pub fn run_plan(mut sim: Sim, plan: &[Planned]) -> Report {
    let end = plan.last().map_or(0, |p| p.at) + SETTLE_MS;
    sim.run_until_converged(1_000, end);
    sim.report()
}

/// Honest nodes only: delivery and propagation.
pub fn honest(nodes: usize, records: usize, seed: u64) -> Report {
    honest_with(Config::new(seed, nodes), records)
}

/// [`honest`] with a given configuration (gossip model, sizes, seed).
pub fn honest_with(config: Config, records: usize) -> Report {
    let mut sim = Sim::new(config);
    publish(&mut sim, records, 1_000, 500, 1);
    let end = 1_000 + records as i64 * 500 + SETTLE_MS;
    sim.run_until_converged(1_000, end);
    sim.report()
}

/// What [`churn_and_partition`] measured.
#[derive(Debug, Clone)]
pub struct PartitionReport {
    pub report: Report,
    /// From the heal to every honest node holding every record, ms.
    pub converge_after_heal_ms: Option<i64>,
    /// When the partition began and healed, ms since the start.
    pub split_ms: i64,
    pub heal_ms: i64,
    /// Every delivered (record, honest node) pair's arrival time, ms since
    /// the start, sorted (for the plot).
    pub held_at_ms: Vec<i64>,
}

/// A tenth of the nodes leave and come back while records flow; then the
/// network splits in two for an hour, both sides keep publishing, and the
/// partition heals.
pub fn churn_and_partition(nodes: usize, records: usize, seed: u64) -> PartitionReport {
    let mut sim = Sim::new(Config::new(seed, nodes));
    let minute = 60_000;
    // Churn: 10% of nodes go away for 2 to 10 minutes during the first
    // quarter hour.
    for _ in 0..(nodes / 10).max(1) {
        let n = sim.random_below(nodes as u64) as usize;
        let leave = sim.random_below(5 * minute as u64) as i64;
        let away = 2 * minute + sim.random_below(8 * minute as u64) as i64;
        sim.set_online_at(leave, n, false);
        sim.set_online_at(leave + away, n, true);
    }
    publish(&mut sim, records / 2, 1_000, 2_000, 2);
    // The partition: two halves for an hour, records on both sides.
    let split = 20 * minute;
    let heal = split + 60 * minute;
    let mut groups = vec![0u8; nodes];
    for g in groups.iter_mut() {
        *g = sim.random_below(2) as u8;
    }
    sim.partition_at(split, Some(groups));
    publish(&mut sim, records - records / 2, split + minute, 2_000, 3);
    sim.partition_at(heal, None);
    sim.run_until(heal);
    let converged = sim.run_until_converged(1_000, heal + 30 * minute);
    let mut held_at_ms: Vec<i64> = (0..nodes)
        .flat_map(|n| sim.arrivals(n).into_iter().filter_map(|(_, t)| t))
        .collect();
    held_at_ms.sort_unstable();
    PartitionReport {
        report: sim.report(),
        converge_after_heal_ms: converged.map(|t| t - heal),
        split_ms: split,
        heal_ms: heal,
        held_at_ms,
    }
}

/// Honest nodes with Sybils spamming invalid records and withholding, from
/// the start (cold boot), against the same network without them.
pub fn sybils(nodes: usize, sybils: usize, records: usize, seed: u64) -> (Report, Report) {
    sybils_with(Config::new(seed, nodes), sybils, records)
}

/// [`sybils`] from a given configuration (gossip model, Sybil behaviour,
/// honest count, seed); the base run has no Sybils.
pub fn sybils_with(config: Config, sybils: usize, records: usize) -> (Report, Report) {
    let run = |sybils: usize| {
        let mut config = config.clone();
        config.sybils = sybils;
        let mut sim = Sim::new(config);
        publish(&mut sim, records, 1_000, 500, 4);
        let end = 1_000 + records as i64 * 500 + SETTLE_MS;
        sim.run_until_converged(1_000, end);
        sim.report()
    };
    (run(0), run(sybils))
}

/// Version skew: a release that changes the metric registry (version 2
/// declares one more metric) reaches the nodes at random times over
/// `spread_ms`; each node's packets declare the version it runs. Every node
/// runs the daemon's gate. No honest node may refuse, strike or ban
/// another, and all end with the same accepted set.
pub fn version_skew(nodes: usize, records: usize, spread_ms: i64, seed: u64) -> Report {
    let mut config = Config::new(seed, nodes);
    config.governance_rules = true;
    let mut sim = Sim::new(config);
    let upgrade: Vec<i64> = (0..nodes)
        .map(|_| sim.random_below(spread_ms.max(1) as u64) as i64)
        .collect();
    let spacing = (spread_ms / records.max(1) as i64).max(1);
    for i in 0..records {
        let at = 1_000 + i as i64 * spacing;
        let node = sim.random_below(nodes as u64) as usize;
        let n = (5 << 32) | i as u64;
        let version = if at >= upgrade[node] { 2 } else { 1 };
        let record = if i % 4 == 0 {
            let key = SigningKey::from_bytes(blake3::hash(&n.to_le_bytes()).as_bytes());
            vote(n, T0 + at, &key)
        } else {
            packet_under(version, n, T0 + at)
        };
        sim.publish_at(at, node, record);
    }
    let end = 1_000 + records as i64 * spacing + SETTLE_MS;
    sim.run_until_converged(1_000, end);
    sim.report()
}
