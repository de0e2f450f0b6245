//! The model against reality: the `honest` scenario's topology and
//! publication schedule run on real `mirror node` daemons (separate
//! processes, libp2p over loopback TCP), and on the simulator, side by
//! side.
//!
//! * **Topology**: the simulator's own links for the seed
//!   ([`scenarios::honest_plan`], every node dials 4 random others), each
//!   real link a TCP proxy with the simulator's latency for that link
//!   ([`proxy`]; the kernel here has no `netem`). A link (a, b), a < b, is
//!   dialled by a (`--bootstrap` at the proxy); mDNS is off, so the
//!   daemons know no one else.
//! * **Schedule**: the plan's publications, at the same offsets from the
//!   start, from the same nodes, the same records ([`scenarios::nth_record`],
//!   dated with the real clock), posted to the publishing daemon's control
//!   API (`POST /publish`).
//! * **Figures**: publication time is the publisher's own log line, arrival
//!   the receiver's `accepted` line ([`logs`]); delivery from each node's
//!   record list at the end (`GET /records`); bytes from the proxies, less
//!   the idle rate measured before the first publication.
//!
//! Not run in CI (a release `mirror` binary and 50 processes); the tiny
//! `#[ignore]`d test in `tests/real.rs` runs five nodes.

pub mod http;
pub mod logs;
pub mod proxy;

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::scenarios::{self, Planned};
use crate::sim::{Config, Report};

/// Why a real run failed.
#[derive(Debug, thiserror::Error)]
pub enum RealError {
    #[error("{what}: {source}")]
    Io {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("node {node} did not start: {tail}")]
    NotStarted { node: usize, tail: String },
    #[error("the control API: {0}")]
    Api(String),
    #[error("only {0} free ports below 32000 on 127.0.0.1")]
    NoPorts(usize),
}

impl RealError {
    /// A mapper for `map_err` naming what was being done.
    pub fn io(what: &'static str) -> impl Fn(std::io::Error) -> RealError {
        move |source| RealError::Io { what, source }
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct RealConfig {
    pub nodes: usize,
    pub records: usize,
    pub spacing_ms: i64,
    pub seed: u64,
    /// Link latency (± 10%, per link from the seed, as in the simulator).
    pub latency_ms: f64,
    /// The simulator half's processing time per hop (`Config::processing_ms`;
    /// the real daemons take what they take).
    pub processing_ms: i64,
    /// The `mirror` binary (a release build).
    pub bin: PathBuf,
    /// Homes, logs and the plan go here (made; left in place).
    pub work: PathBuf,
    /// After the last publication, how long to wait before reading.
    pub settle_ms: u64,
    /// The idle window before the first publication, for the idle byte rate.
    pub idle_ms: u64,
}

/// What the real run measured, in the simulator's terms.
#[derive(Debug, Clone, Default)]
pub struct RealReport {
    pub nodes: usize,
    pub links: usize,
    pub records: usize,
    /// Publications the daemon refused (or the API failed).
    pub publish_errors: usize,
    /// (record, node) pairs held at the end over all pairs, %.
    pub delivery_pct: f64,
    /// Pairs held with an `accepted` log line (gossip) / without (sync).
    pub by_gossip: usize,
    pub by_sync: usize,
    pub p50_ms: i64,
    pub p99_ms: i64,
    pub max_ms: i64,
    /// Bytes through the link proxies per record per node, raw and less
    /// the idle rate (heartbeats, pings, sync rounds with nothing new).
    pub bytes_raw_per_record_per_node: f64,
    pub bytes_per_record_per_node: f64,
    pub idle_bytes_per_s: f64,
    /// Nodes with fewer peers than links when publishing began.
    pub short_of_peers: usize,
    pub latencies_ms: Vec<i64>,
}

/// The running daemons; killed (and waited for) on drop, error or not.
struct Daemons(Vec<Child>);

impl Drop for Daemons {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
        }
        for c in &mut self.0 {
            let _ = c.wait();
        }
    }
}

/// A daemon's control address and token, from its `daemon.json`.
struct Control {
    addr: SocketAddr,
    token: String,
}

impl Control {
    fn read(home: &Path) -> Option<Control> {
        let v: Value =
            serde_json::from_slice(&std::fs::read(home.join("daemon.json")).ok()?).ok()?;
        Some(Control {
            addr: v["addr"].as_str()?.parse().ok()?,
            token: v["token"].as_str()?.to_string(),
        })
    }

    fn get(&self, path: &str) -> Result<Value, RealError> {
        let (status, body) = http::call(self.addr, &self.token, "GET", path, b"")?;
        if status != 200 {
            return Err(RealError::Api(format!("GET {path}: {status}")));
        }
        serde_json::from_slice(&body).map_err(|e| RealError::Api(format!("GET {path}: {e}")))
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// `n` ports free on 127.0.0.1 for the daemons to listen on, below the
/// ephemeral range (32768 and up), so no proxy connection or other
/// outgoing socket can take one between the probe and the daemon's bind.
fn listen_ports(n: usize) -> Result<Vec<u16>, RealError> {
    let first = 20_000 + (std::process::id() % 50) as u16 * 200;
    let ports: Vec<u16> = (first..32_000)
        .filter(|p| TcpListener::bind(("127.0.0.1", *p)).is_ok())
        .take(n)
        .collect();
    if ports.len() < n {
        return Err(RealError::NoPorts(ports.len()));
    }
    Ok(ports)
}

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

/// The simulator's half: the plan, its links, and its run.
pub fn plan(c: &RealConfig) -> (crate::sim::Sim, Vec<Planned>) {
    let mut config = Config::new(c.seed, c.nodes);
    config.latency_ms = c.latency_ms;
    config.processing_ms = c.processing_ms;
    scenarios::honest_plan(config, c.records, c.spacing_ms)
}

/// Run the plan on real daemons, and on the simulator.
pub fn run(c: &RealConfig) -> Result<(RealReport, Report), RealError> {
    let (sim, plan) = plan(c);
    let edges = sim.edges();
    let sim_report = scenarios::run_plan(sim, &plan);
    std::fs::create_dir_all(&c.work).map_err(RealError::io("making the work dir"))?;
    let plan_json = json!({
        "seed": c.seed, "nodes": c.nodes, "latency_ms": c.latency_ms,
        "links": edges.iter().map(|(a, b, l)| json!([a, b, l])).collect::<Vec<_>>(),
        "publications": plan.iter().map(|p| json!({"at_ms": p.at, "node": p.node, "record": p.index})).collect::<Vec<_>>(),
    });
    std::fs::write(c.work.join("plan.json"), plan_json.to_string())
        .map_err(RealError::io("writing plan.json"))?;

    // Ports, links, proxies.
    let ports = listen_ports(c.nodes)?;
    let mut links = Vec::new();
    let mut dials: Vec<Vec<u16>> = vec![Vec::new(); c.nodes];
    let mut degree = vec![0usize; c.nodes];
    for &(a, b, l) in &edges {
        let link = proxy::bind(a, b, Duration::from_millis(l as u64), ports[b])?;
        dials[a].push(link.listen_port);
        degree[a] += 1;
        degree[b] += 1;
        links.push(link);
    }
    let proxies = proxy::Proxies::start(links);

    // Daemons.
    let homes: Vec<PathBuf> = (0..c.nodes).map(|i| c.work.join(format!("n{i}"))).collect();
    let logs: Vec<PathBuf> = (0..c.nodes)
        .map(|i| c.work.join(format!("n{i}.log")))
        .collect();
    let mut daemons = Daemons(Vec::new());
    for i in 0..c.nodes {
        std::fs::create_dir_all(&homes[i]).map_err(RealError::io("making a home"))?;
        let log = File::create(&logs[i]).map_err(RealError::io("a daemon log"))?;
        let mut cmd = Command::new(&c.bin);
        cmd.arg("node")
            .args(["--listen", &format!("/ip4/127.0.0.1/tcp/{}", ports[i])])
            .arg("--no-mdns");
        for p in &dials[i] {
            cmd.args(["--bootstrap", &format!("/ip4/127.0.0.1/tcp/{p}")]);
        }
        let child = cmd
            .env("MIRROR_HOME", &homes[i])
            .env("RUST_LOG", "warn,mirror_commons::net::driver=debug")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(RealError::io("starting mirror node"))?;
        daemons.0.push(child);
    }
    let controls = wait_started(c, &homes, &logs, &mut daemons)?;
    eprintln!("real: {} daemons up", c.nodes);

    // Every node connected to all its links (bounded), then heartbeats to
    // build the gossipsub mesh, then the idle window.
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut short = c.nodes;
    while Instant::now() < deadline {
        short = (0..c.nodes)
            .filter(|&i| {
                controls[i]
                    .get("/status")
                    .ok()
                    .and_then(|v| v["peers"].as_u64())
                    .is_none_or(|p| (p as usize) < degree[i])
            })
            .count();
        if short == 0 {
            break;
        }
        thread::sleep(Duration::from_millis(500));
    }
    eprintln!("real: connected ({short} nodes short of their links)");
    thread::sleep(Duration::from_secs(5));
    let idle_start = (Instant::now(), proxies.bytes.get());
    thread::sleep(Duration::from_millis(c.idle_ms));
    let idle_end = (Instant::now(), proxies.bytes.get());
    let idle_rate = (idle_end.1 - idle_start.1) as f64
        / idle_end
            .0
            .duration_since(idle_start.0)
            .as_secs_f64()
            .max(1e-3);

    // The schedule.
    let start = Instant::now();
    let mut posted: BTreeMap<String, (usize, i64)> = BTreeMap::new();
    let mut publish_errors = 0;
    for p in &plan {
        let due = start + Duration::from_millis(p.at as u64);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            thread::sleep(wait);
        }
        let at = now_ms();
        let record = scenarios::nth_record(1, p.index, at);
        match http::call(
            controls[p.node].addr,
            &controls[p.node].token,
            "POST",
            "/publish",
            record.bytes(),
        ) {
            Ok((200, _)) => {
                posted.insert(record.id().to_hex(), (p.node, at));
            }
            Ok((status, body)) => {
                publish_errors += 1;
                eprintln!(
                    "real: publication {} refused ({status}): {}",
                    p.index,
                    String::from_utf8_lossy(&body)
                );
            }
            Err(e) => {
                publish_errors += 1;
                eprintln!("real: publication {}: {e}", p.index);
            }
        }
    }
    let published_at = Instant::now();
    thread::sleep(Duration::from_millis(c.settle_ms));
    let end = (Instant::now(), proxies.bytes.get());

    // What every node holds.
    let mut held: Vec<BTreeSet<String>> = Vec::new();
    for ctl in &controls {
        let v = ctl.get("/records")?;
        held.push(
            v.as_array()
                .map(|rows| {
                    rows.iter()
                        .filter_map(|r| r["id"].as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
        );
    }
    drop(daemons);
    drop(proxies);
    let node_logs: Vec<logs::NodeLog> = logs
        .iter()
        .map(|p| logs::parse(&std::fs::read_to_string(p).unwrap_or_default()))
        .collect();

    let mut report = figures(c, &posted, &held, &node_logs);
    report.links = edges.len();
    report.publish_errors = publish_errors;
    report.short_of_peers = short;
    let pairs = (c.records * c.nodes).max(1) as f64;
    let bytes = (end.1 - idle_end.1) as f64;
    let secs = end.0.duration_since(idle_end.0).as_secs_f64();
    report.idle_bytes_per_s = idle_rate;
    report.bytes_raw_per_record_per_node = bytes / pairs;
    report.bytes_per_record_per_node = (bytes - idle_rate * secs).max(0.0) / pairs;
    eprintln!(
        "real: published for {:.1} s, settled {:.1} s",
        published_at.duration_since(start).as_secs_f64(),
        c.settle_ms as f64 / 1000.0
    );
    let _ = std::fs::write(
        c.work.join("real.json"),
        json!({
            "delivery_pct": report.delivery_pct, "p50_ms": report.p50_ms, "p99_ms": report.p99_ms,
            "max_ms": report.max_ms, "by_gossip": report.by_gossip, "by_sync": report.by_sync,
            "bytes_per_record_per_node": report.bytes_per_record_per_node,
            "bytes_raw_per_record_per_node": report.bytes_raw_per_record_per_node,
            "idle_bytes_per_s": report.idle_bytes_per_s, "publish_errors": report.publish_errors,
            "latencies_ms": report.latencies_ms,
            "sim": {"delivery_pct": sim_report.delivery_pct, "p50_ms": sim_report.p50_ms,
                    "p99_ms": sim_report.p99_ms, "max_ms": sim_report.max_ms,
                    "bytes_per_record_per_node": sim_report.bytes_per_record_per_node,
                    "latencies_ms": sim_report.latencies_ms},
        })
        .to_string(),
    );
    Ok((report, sim_report))
}

/// Wait (bounded) for every daemon to print that it runs and write its
/// `daemon.json`.
fn wait_started(
    c: &RealConfig,
    homes: &[PathBuf],
    logs: &[PathBuf],
    daemons: &mut Daemons,
) -> Result<Vec<Control>, RealError> {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut controls: Vec<Option<Control>> = (0..c.nodes).map(|_| None).collect();
    while controls.iter().any(Option::is_none) {
        for i in 0..c.nodes {
            if controls[i].is_some() {
                continue;
            }
            if let Ok(Some(_)) = daemons.0[i].try_wait() {
                return Err(RealError::NotStarted {
                    node: i,
                    tail: tail(&logs[i]),
                });
            }
            let up =
                std::fs::read_to_string(&logs[i]).is_ok_and(|t| t.contains("stop with Ctrl-C"));
            if up {
                controls[i] = Control::read(&homes[i]);
            }
        }
        if Instant::now() > deadline {
            let node = controls.iter().position(Option::is_none).unwrap_or(0);
            return Err(RealError::NotStarted {
                node,
                tail: tail(&logs[node]),
            });
        }
        thread::sleep(Duration::from_millis(200));
    }
    Ok(controls.into_iter().flatten().collect())
}

/// Delivery and propagation from what the nodes hold and logged. The
/// publisher counts as delivered at 0 ms, as in the simulator; its own log
/// line is the publication time (the harness's clock before the POST when
/// the line is missing).
fn figures(
    c: &RealConfig,
    posted: &BTreeMap<String, (usize, i64)>,
    held: &[BTreeSet<String>],
    node_logs: &[logs::NodeLog],
) -> RealReport {
    let accepted: Vec<BTreeMap<&str, i64>> = node_logs
        .iter()
        .map(|l| l.accepted.iter().map(|(id, t)| (id.as_str(), *t)).collect())
        .collect();
    let mut r = RealReport {
        nodes: c.nodes,
        records: c.records,
        ..RealReport::default()
    };
    let mut delivered = 0usize;
    for (id, &(publisher, posted_at)) in posted {
        let t0 = node_logs[publisher]
            .published
            .iter()
            .find(|(p, _)| p == id)
            .map_or(posted_at, |(_, t)| *t);
        for n in 0..c.nodes {
            if !held[n].contains(id) {
                continue;
            }
            delivered += 1;
            if n == publisher {
                r.latencies_ms.push(0);
            } else if let Some(t) = accepted[n].get(id.as_str()) {
                r.by_gossip += 1;
                r.latencies_ms.push(t - t0);
            } else {
                r.by_sync += 1;
            }
        }
    }
    r.latencies_ms.sort_unstable();
    let pct = |q: f64| -> i64 {
        let l = &r.latencies_ms;
        if l.is_empty() {
            return 0;
        }
        l[(((l.len() as f64 - 1.0) * q).round() as usize).min(l.len() - 1)]
    };
    r.delivery_pct = 100.0 * delivered as f64 / (c.records * c.nodes).max(1) as f64;
    r.p50_ms = pct(0.5);
    r.p99_ms = pct(0.99);
    r.max_ms = r.latencies_ms.last().copied().unwrap_or(0);
    r
}
