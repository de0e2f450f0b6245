//! Disk faults: some honest nodes keep their commons in a real redb file
//! (`Commons::open`, the daemon's store) instead of memory, and their
//! store's commits fail now and then (`Commons::inject_store_faults`, a
//! failing disk as the store itself reports it) while records flow.
//!
//! What must hold: a record whose commit failed is not held in memory
//! either (the core rolls the document back and ignores the gossip, so the
//! node neither lists nor forwards nor serves it); the node gets it later
//! by sync, once its disk works; no one is struck for a node's own disk
//! (the failure is local); and at the end each faulty node's file, opened
//! afresh, holds exactly the accepted set the node had in memory, which is
//! every honest node's set.

use std::collections::BTreeSet;
use std::path::Path;

use mirror_commons::gate::Gate;
use mirror_commons::record::RecordId;
use mirror_commons::service::{Commons, CommonsError};

use crate::scenarios::honest_plan;
use crate::sim::{Config, NodeId, Report};

/// A run's sizes.
#[derive(Debug, Clone, Copy)]
pub struct FaultsConfig {
    pub nodes: usize,
    /// Honest nodes on a redb file (the first ones that publish nothing).
    pub disk_nodes: usize,
    pub records: usize,
    /// How many times a disk node's next commits are made to fail (1 to 3
    /// commits each time), at random times while records flow.
    pub faults: usize,
    pub seed: u64,
}

/// What the run showed.
#[derive(Debug, Clone)]
pub struct FaultsReport {
    pub report: Report,
    pub disk_nodes: usize,
    /// Commits made to fail, in all.
    pub failed_commits: usize,
    /// Disk nodes whose file, opened afresh, held exactly what the node
    /// held in memory (its accepted set and its documents alike).
    pub disk_matches_memory: usize,
    /// Honest nodes whose documents (what sync serves) held a record they
    /// had not accepted, or lacked one they had, at the end.
    pub docs_unlike_accepted: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum FaultsError {
    #[error("opening a node's commons file: {0}")]
    Open(#[from] CommonsError),
    #[error("more disk nodes ({disk}) than nodes that publish nothing ({free})")]
    TooManyDiskNodes { disk: usize, free: usize },
}

/// Run it, with the disk nodes' files under `dir`.
pub fn faults(cfg: FaultsConfig, dir: &Path) -> Result<FaultsReport, FaultsError> {
    let config = Config::new(cfg.seed, cfg.nodes);
    let commons = config.commons.clone();
    let (mut sim, plan) = honest_plan(config, cfg.records, 500);
    // Disk nodes publish nothing: a publication that fails to commit is
    // the publisher's own error to show its user, not what this measures.
    let publishers: BTreeSet<NodeId> = plan.iter().map(|p| p.node).collect();
    let disk: Vec<NodeId> = (0..cfg.nodes)
        .filter(|n| !publishers.contains(n))
        .take(cfg.disk_nodes)
        .collect();
    if disk.len() < cfg.disk_nodes {
        return Err(FaultsError::TooManyDiskNodes {
            disk: cfg.disk_nodes,
            free: disk.len(),
        });
    }
    let path = |n: NodeId| dir.join(format!("node-{n}.redb"));
    for &n in &disk {
        let mut core = Commons::open(&path(n), commons.clone(), Gate::default())?;
        core.seed_actors(sim.random_seed());
        sim.replace_core(n, core);
    }
    // The faults, drawn up front so the run is a function of its seed.
    let last_publication = plan.last().map_or(0, |p| p.at);
    let mut faults: Vec<(i64, NodeId, u32)> = (0..cfg.faults)
        .map(|_| {
            let at = 1_000 + sim.random_below(last_publication.max(1) as u64) as i64;
            let node = disk[sim.random_below(disk.len() as u64) as usize];
            let commits = 1 + sim.random_below(3) as u32;
            (at, node, commits)
        })
        .collect();
    faults.sort_unstable();
    let mut failed_commits = 0;
    for (at, node, commits) in faults {
        sim.run_until(at);
        sim.core_mut(node).inject_store_faults(commits);
        failed_commits += commits as usize;
    }
    sim.run_until_converged(1_000, last_publication + 10 * 60 * 1000);
    let report = sim.report();
    let docs_unlike_accepted = (0..cfg.nodes)
        .filter(|&n| {
            let core = sim.core_mut(n);
            core.doc_record_ids() != core.accepted_ids()
        })
        .count();
    // Each disk node's file, opened afresh, against its memory.
    let mut disk_matches_memory = 0;
    for &n in &disk {
        let in_memory: BTreeSet<RecordId> = sim.core_mut(n).accepted_ids();
        // Close the file (redb holds a lock) before opening it again.
        drop(sim.replace_core(n, Commons::in_memory(commons.clone(), Gate::default())));
        let reopened = Commons::open(&path(n), commons.clone(), Gate::default())?;
        if reopened.accepted_ids() == in_memory && reopened.doc_record_ids() == in_memory {
            disk_matches_memory += 1;
        }
    }
    Ok(FaultsReport {
        report,
        disk_nodes: disk.len(),
        failed_commits,
        disk_matches_memory,
        docs_unlike_accepted,
    })
}
