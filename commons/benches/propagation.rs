//! Propagation of one record across real libp2p nodes on 127.0.0.1: the time
//! from `publish` on one node until every other node has accepted it (gate,
//! Automerge change, redb commit included).
//!
//! `cargo bench -p mirror-commons --bench propagation` prints a Markdown
//! table for BENCHMARKS.md. The baseline, measured in the same run, is the
//! smallest network: two directly connected nodes, one hop.
//!
//! Every node is a tokio task in this process with its own redb file; all
//! share the machine's cores, so larger networks also measure contention.
//! Arrival is polled every millisecond, which is the resolution of the
//! figures. Periodic sync is off (one round at connect), so records travel by
//! gossip only.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ed25519_dalek::SigningKey;
use libp2p::Multiaddr;
use libp2p::identity::Keypair;
use libp2p::multiaddr::Protocol;
use mirror_commons::gate::Gate;
use mirror_commons::net::{self, NetConfig, NetHandle};
use mirror_commons::record::{Kind, Record, RecordId};
use mirror_commons::service::Commons;
use serde_json::{Map, Value, json};

/// Records timed per network size.
const TRIALS: usize = 200;
/// Pause between publications: well under the per-peer gossip rate limit.
const SPACING: Duration = Duration::from_millis(40);
/// A record not everywhere by then counts as lost (and is reported).
const GIVE_UP: Duration = Duration::from_secs(10);

fn fail(what: &str) -> ! {
    eprintln!("propagation bench: {what}");
    std::process::exit(1)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn vote(n: u64, key: &SigningKey) -> Record {
    let proposal = blake3::hash(&n.to_le_bytes()).to_hex().to_string();
    let Value::Object(payload) = json!({"proposal": proposal, "choice": "approve"}) else {
        fail("payload is not an object")
    };
    let payload: Map<String, Value> = payload;
    Record::sign(Kind::Vote, now_ms(), payload, key).unwrap_or_else(|e| fail(&e.to_string()))
}

struct Node {
    commons: Arc<Mutex<Commons>>,
    handle: NetHandle,
    addr: Multiaddr,
}

fn has(node: &Node, id: &RecordId) -> bool {
    node.commons
        .lock()
        .map(|c| c.get(id).is_some())
        .unwrap_or(false)
}

async fn start(dir: &std::path::Path, i: usize, bootstrap: Vec<Multiaddr>) -> Node {
    let id = blake3::hash(b"mirror propagation bench")
        .to_hex()
        .to_string();
    let commons = Commons::open(&dir.join(format!("{i}.redb")), id, Gate::default())
        .unwrap_or_else(|e| fail(&e.to_string()));
    let commons = Arc::new(Mutex::new(commons));
    let mut config = NetConfig::loopback(Keypair::generate_ed25519());
    config.bootstrap = bootstrap;
    config.sync_interval = Duration::from_secs(3600);
    let (handle, _task) = net::spawn(config, commons.clone())
        .await
        .unwrap_or_else(|e| fail(&e.to_string()));
    let addr = handle
        .listen_addrs()
        .await
        .ok()
        .and_then(|a| a.into_iter().next())
        .unwrap_or_else(|| fail("no listen address"))
        .with(Protocol::P2p(handle.local_peer_id()));
    Node {
        commons,
        handle,
        addr,
    }
}

/// A connected, sparse network: node i dials nodes i-1 and (i-1)/2, so the
/// diameter grows like log2(n) and most records need more than one hop.
async fn network(dir: &std::path::Path, n: usize) -> Vec<Node> {
    let mut nodes: Vec<Node> = Vec::new();
    for i in 0..n {
        let mut dial = Vec::new();
        if i > 0 {
            dial.push(nodes[i - 1].addr.clone());
            let half = (i - 1) / 2;
            if half != i - 1 {
                dial.push(nodes[half].addr.clone());
            }
        }
        nodes.push(start(dir, i, dial).await);
    }
    nodes
}

/// Publish on `origin`, then the time until each other node holds it.
async fn one(nodes: &[Node], origin: usize, record: &Record) -> Option<Vec<Duration>> {
    let started = Instant::now();
    nodes[origin]
        .handle
        .publish(record.bytes().to_vec())
        .await
        .ok()?;
    let id = record.id();
    let mut arrived: Vec<Option<Duration>> = vec![None; nodes.len()];
    arrived[origin] = Some(Duration::ZERO);
    while started.elapsed() < GIVE_UP {
        for (i, node) in nodes.iter().enumerate() {
            if arrived[i].is_none() && has(node, &id) {
                arrived[i] = Some(started.elapsed());
            }
        }
        if arrived.iter().all(Option::is_some) {
            return Some(
                arrived
                    .into_iter()
                    .enumerate()
                    .filter(|(i, _)| *i != origin)
                    .filter_map(|(_, d)| d)
                    .collect(),
            );
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    None
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

async fn measure(n: usize) -> String {
    let dir = tempfile::tempdir().unwrap_or_else(|e| fail(&e.to_string()));
    let nodes = network(dir.path(), n).await;
    let key = SigningKey::from_bytes(&[3; 32]);
    // Warm up until the gossip mesh carries a record everywhere (heartbeats
    // run once a second, so this takes a few seconds).
    let mut serial = 1_000_000u64;
    let warm_deadline = Instant::now() + Duration::from_secs(60);
    loop {
        serial += 1;
        let record = vote(serial, &key);
        if let Some(times) = one(&nodes, 0, &record).await
            && times.iter().all(|t| *t < Duration::from_millis(500))
        {
            break;
        }
        if Instant::now() > warm_deadline {
            fail(&format!("{n} nodes never formed a gossip mesh"));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let mut all_nodes = Vec::new();
    let mut per_node = Vec::new();
    let mut lost = 0;
    for t in 0..TRIALS {
        let record = vote(t as u64, &key);
        match one(&nodes, t % n, &record).await {
            Some(times) => {
                all_nodes.push(times.iter().copied().max().unwrap_or_default());
                per_node.extend(times);
            }
            None => lost += 1,
        }
        tokio::time::sleep(SPACING).await;
    }
    all_nodes.sort();
    per_node.sort();
    for node in &nodes {
        let _ = node.handle.shutdown().await;
    }
    format!(
        "| {n} nodes{} | {} | {} | {} | {} | {} | {lost} |",
        if n == 2 { " (baseline, one hop)" } else { "" },
        ms(percentile(&per_node, 50.0)),
        ms(percentile(&per_node, 99.0)),
        ms(percentile(&all_nodes, 50.0)),
        ms(percentile(&all_nodes, 99.0)),
        ms(all_nodes.last().copied().unwrap_or_default()),
    )
}

fn main() {
    // `cargo test` runs benches with `--bench`-less args; skip then.
    if std::env::args().any(|a| a == "--test") {
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| fail(&e.to_string()));
    println!(
        "| network | to one node p50 | to one node p99 | to all nodes p50 | to all nodes p99 | to all nodes max | lost |"
    );
    println!("|---|---|---|---|---|---|---|");
    for n in [2, 3, 10] {
        let row = runtime.block_on(measure(n));
        println!("{row}");
    }
}
