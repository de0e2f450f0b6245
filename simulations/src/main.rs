//! `cargo run -p mirror-simulations --release -- SCENARIO [--nodes N]
//! [--records R] [--sybils S] [--members M] [--seed X]`: run one scenario and print its
//! figures as a Markdown table row.

use mirror_simulations::scenarios;
use mirror_simulations::sim::Report;

fn arg(args: &[String], name: &str, default: u64) -> u64 {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn header() {
    println!(
        "| honest | sybils | records | delivery % | gossip ≤10 s % | p50 ms | p99 ms | max ms | bytes/record/node | identical sets | honest bans | sybils banned by all | events |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
}

fn row(r: &Report) {
    println!(
        "| {} | {} | {} | {:.2} | {:.2} | {} | {} | {} | {:.0} | {} | {} | {} | {} |",
        r.honest,
        r.sybils,
        r.records,
        r.delivery_pct,
        r.gossip_delivery_pct,
        r.p50_ms,
        r.p99_ms,
        r.max_ms,
        r.bytes_per_record_per_node,
        r.identical_sets,
        r.honest_bans,
        r.sybils_banned_by_all,
        r.events
    );
}

/// Write one plot, creating its directory; exit on failure.
fn write_plot(path: &str, draw: impl FnOnce(&std::path::Path) -> Result<(), String>) {
    let path = std::path::Path::new(path);
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    if let Err(e) = draw(path) {
        eprintln!("plot: {e}");
        std::process::exit(1);
    }
    println!("wrote {}", path.display());
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let scenario = args.first().map(String::as_str).unwrap_or("");
    let nodes = arg(&args, "--nodes", 1000) as usize;
    let records = arg(&args, "--records", 100) as usize;
    let sybils = arg(&args, "--sybils", 250) as usize;
    let seed = arg(&args, "--seed", 1);
    let gossip = match args
        .iter()
        .position(|a| a == "--gossip")
        .and_then(|i| args.get(i + 1))
    {
        Some(v) => match v.parse::<mirror_simulations::gossip::GossipMode>() {
            Ok(m) => m,
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(2);
            }
        },
        None => mirror_simulations::gossip::GossipMode::Flood,
    };
    mirror_simulations::sim::set_defaults(mirror_simulations::sim::Defaults {
        gossip,
        sybil_spam: arg(&args, "--sybil-spam", 1) != 0,
        sybil_ihave: arg(&args, "--sybil-ihave", 1) != 0,
        // Forget broken IWANT promises over this many seconds (libp2p's
        // `score_parameter_decay`) instead of the default 0.2 a second.
        behaviour_decay: args
            .iter()
            .position(|a| a == "--p7-decay-s")
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse::<f64>().ok())
            .map(|secs| 0.1f64.powf(1.0 / secs.max(1.0))),
        // Peers told of each record taken in by a round (the driver's
        // `PUSH_PEERS` unless given; 0 turns it off).
        push_peers: args
            .iter()
            .position(|a| a == "--push-peers")
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse::<usize>().ok()),
    });
    let started = std::time::Instant::now();
    match scenario {
        "honest" => {
            header();
            let mut config = mirror_simulations::sim::Config::new(seed, nodes);
            config.processing_ms = arg(&args, "--processing-ms", 0) as i64;
            config.latency_ms = arg(&args, "--latency-ms", 25) as f64;
            let (sim, plan) = scenarios::honest_plan(config, records, 500);
            row(&scenarios::run_plan(sim, &plan));
        }
        "partition" => {
            let r = scenarios::churn_and_partition(nodes, records, seed);
            header();
            row(&r.report);
            println!(
                "\nconverged {:?} ms after the partition healed",
                r.converge_after_heal_ms
            );
            let total = r.report.records * r.report.honest;
            write_plot("simulations/plots/partition.svg", |path| {
                mirror_simulations::plot::held_over_time(
                    path,
                    &format!(
                        "{} nodes, 10% churn, split at {} min, healed at {} min",
                        r.report.honest,
                        r.split_ms / 60_000,
                        r.heal_ms / 60_000
                    ),
                    &[(
                        "(record, node) pairs held, of all the run's".to_string(),
                        r.held_at_ms.clone(),
                        total,
                    )],
                )
            });
        }
        "skew" => {
            let spread = arg(&args, "--spread-ms", 86_400_000) as i64;
            let r = scenarios::version_skew(nodes, records, spread, seed);
            header();
            row(&r);
            let total = r.records * r.honest;
            write_plot("simulations/plots/skew.svg", |path| {
                mirror_simulations::plot::delivery_log(
                    path,
                    &format!(
                        "Version skew: {} nodes upgrading over {} min",
                        r.honest,
                        spread / 60_000
                    ),
                    "from publication (simulated ms, log scale)",
                    &[(
                        "(record, node) pairs held".to_string(),
                        r.latencies_ms.clone(),
                        total,
                    )],
                )
            });
        }
        "plot-sybils" => {
            // Propagation under spamming Sybils: 0 and each of 250, 1,000
            // and 4,000 (or --sybils alone) around `nodes` honest nodes.
            let counts: Vec<usize> = match args.iter().position(|a| a == "--sybils") {
                Some(_) => vec![sybils],
                None => vec![250, 1000, 4000],
            };
            let mut runs = Vec::new();
            for (i, s) in counts.into_iter().enumerate() {
                let (base, attacked) = scenarios::sybils(nodes, s, records, seed);
                if i == 0 {
                    row(&base);
                    runs.push(("no Sybils".to_string(), base.latencies_ms));
                }
                row(&attacked);
                runs.push((format!("{s} spamming Sybils"), attacked.latencies_ms));
            }
            write_plot("simulations/plots/sybils.svg", |path| {
                mirror_simulations::plot::propagation_cdf(
                    path,
                    &format!("Propagation among {nodes} honest nodes under spamming Sybils"),
                    &runs,
                )
            });
        }
        "life" => {
            let churn = arg(&args, "--churn-pct", 10);
            let r = mirror_simulations::life::proposal_life(mirror_simulations::life::LifeConfig {
                nodes,
                members: arg(&args, "--members", nodes as u64) as usize,
                period_ms: arg(&args, "--period-ms", 20 * 60_000) as i64,
                churn_pct: churn,
                seed,
            });
            header();
            row(&r.report);
            let total = r.report.records * r.report.honest;
            write_plot("simulations/plots/life.svg", |path| {
                mirror_simulations::plot::delivery_log(
                    path,
                    &format!(
                        "A proposal's life: {} members, {} nodes, {}% churn",
                        r.members, r.report.honest, churn
                    ),
                    "from publication (simulated ms, log scale)",
                    &[(
                        "every record (attestations, proposal, votes, release)".into(),
                        r.report.latencies_ms.clone(),
                        total,
                    )],
                )
            });
            let t = r.tally.as_ref();
            println!(
                "\nmembers {} | churned {} | votes cast on return {} | cast (approve, reject, abstain) {:?} | tally {:?} of {:?} members, quorum {:?}, ignored {:?} | state {:?} | nodes with node 0's state and tally {} of {} | release error {:?} | converged {:?} ms after the release",
                r.members,
                r.churned,
                r.votes_cast_on_return,
                r.cast,
                t.map(|t| (t.approve, t.reject, t.abstain)),
                t.map(|t| t.members),
                t.map(|t| t.quorum),
                t.map(|t| t.ignored_votes.len()),
                r.state,
                r.nodes_agreeing,
                r.report.honest,
                r.release_error,
                r.converged_after_release_ms
            );
        }
        "faults" => {
            let c = mirror_simulations::faults::FaultsConfig {
                nodes,
                disk_nodes: arg(&args, "--disk-nodes", 20) as usize,
                records,
                faults: arg(&args, "--faults", 50) as usize,
                seed,
            };
            let dir = match tempfile::tempdir() {
                Ok(d) => d,
                Err(e) => {
                    eprintln!("a temporary directory for the nodes' files: {e}");
                    std::process::exit(1);
                }
            };
            let r = match mirror_simulations::faults::faults(c, dir.path()) {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("{e}");
                    std::process::exit(1);
                }
            };
            header();
            row(&r.report);
            println!(
                "\n| disk nodes | commits set to fail | files matching memory | documents unlike the accepted set | honest strikes |\n|---|---|---|---|---|\n| {} | {} | {} | {} | {} |",
                r.disk_nodes,
                r.failed_commits,
                r.disk_matches_memory,
                r.docs_unlike_accepted,
                r.report.honest_strikes
            );
        }
        "eclipse" => {
            let c = mirror_simulations::eclipse::EclipseConfig {
                nodes,
                sybils: arg(&args, "--sybils", 7) as usize,
                honest_links: arg(&args, "--honest-links", 1) as usize,
                records,
                join_ms: arg(&args, "--join-ms", 0) as i64,
                seed,
            };
            let r = mirror_simulations::eclipse::eclipse(c);
            header();
            row(&r.base);
            row(&r.attacked);
            println!(
                "\n| run | target's honest links | Sybil links | target delivery % | target p50 ms | p99 ms | max ms | caught up after joining ms |"
            );
            println!("|---|---|---|---|---|---|---|---|");
            for (name, t) in [
                ("no attack", &r.target_base),
                ("eclipse", &r.target_attacked),
            ] {
                println!(
                    "| {name} | {} | {} | {:.2} | {} | {} | {} | {:?} |",
                    t.honest_links,
                    t.sybil_links,
                    t.delivery_pct,
                    t.p50_ms,
                    t.p99_ms,
                    t.max_ms,
                    t.caught_up_ms
                );
            }
        }
        "plot-eclipse" => {
            // The eclipsed late joiner's catch-up: no attack, and 7 and 31
            // Sybils around it with one honest link.
            let join_ms = arg(&args, "--join-ms", 300_000) as i64;
            let mut runs = Vec::new();
            for (i, sybils) in [7usize, 31].into_iter().enumerate() {
                let r = mirror_simulations::eclipse::eclipse(
                    mirror_simulations::eclipse::EclipseConfig {
                        nodes,
                        sybils,
                        honest_links: 1,
                        records,
                        join_ms,
                        seed,
                    },
                );
                for (name, t) in [
                    ("no attack", &r.target_base),
                    ("eclipse", &r.target_attacked),
                ] {
                    println!(
                        "| {sybils} Sybils: {name} | {} | {} | {:.2} | {} | {} | {} | {:?} | network p99 {} ms, delivery {:.2} % |",
                        t.honest_links,
                        t.sybil_links,
                        t.delivery_pct,
                        t.p50_ms,
                        t.p99_ms,
                        t.max_ms,
                        t.caught_up_ms,
                        if name == "no attack" {
                            r.base.p99_ms
                        } else {
                            r.attacked.p99_ms
                        },
                        if name == "no attack" {
                            r.base.delivery_pct
                        } else {
                            r.attacked.delivery_pct
                        },
                    );
                }
                if i == 0 {
                    let t = r.target_base;
                    runs.push(("no attack".to_string(), t.arrivals_ms, t.records));
                }
                let t = r.target_attacked;
                runs.push((
                    format!("1 honest link, {sybils} Sybil links"),
                    t.arrivals_ms,
                    t.records,
                ));
            }
            write_plot("simulations/plots/eclipse.svg", |path| {
                mirror_simulations::plot::delivery_log(
                    path,
                    &format!(
                        "An eclipsed node joining at {} min: its records over time",
                        join_ms / 60_000
                    ),
                    "after joining (simulated ms, log scale)",
                    &runs,
                )
            });
        }
        "plot" => {
            // Propagation CDFs of honest networks of growing size, and of
            // 1,000 honest nodes under Sybils.
            let mut runs = Vec::new();
            for n in [100, 300, nodes] {
                let r = scenarios::honest(n, records, seed);
                runs.push((format!("{n} honest nodes"), r.latencies_ms));
            }
            let (_, attacked) = scenarios::sybils(nodes, sybils, records, seed);
            runs.push((
                format!("{nodes} honest + {sybils} Sybils"),
                attacked.latencies_ms,
            ));
            let path = std::path::Path::new("simulations/plots/propagation.svg");
            if let Some(dir) = path.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            if let Err(e) = mirror_simulations::plot::propagation_cdf(
                path,
                "Propagation of a record (25 ms ± 10% links)",
                &runs,
            ) {
                eprintln!("plot: {e}");
                std::process::exit(1);
            }
            println!("wrote {}", path.display());
        }
        "plot-mesh" => {
            // Flooding against the mesh model, without attack and under
            // withholding Sybils (4 per honest node by default) that fill
            // meshes, with and without IHAVE lies.
            use mirror_simulations::gossip::GossipMode;
            use mirror_simulations::sim::Config;
            let sybils = arg(&args, "--sybils", 4 * nodes as u64) as usize;
            let mut runs = Vec::new();
            let cases = [
                ("flood", GossipMode::Flood, 0, true),
                ("mesh", GossipMode::Mesh, 0, true),
                ("flood", GossipMode::Flood, sybils, true),
                ("mesh", GossipMode::Mesh, sybils, false),
                ("mesh", GossipMode::Mesh, sybils, true),
            ];
            for (name, gossip, s, ihave) in cases {
                let mut c = Config::new(seed, nodes);
                c.gossip = gossip;
                c.sybil_spam = false;
                c.sybil_ihave = ihave;
                c.sybils = s;
                let r = scenarios::honest_with(c, records);
                row(&r);
                let label = match (s, ihave) {
                    (0, _) => format!("{name}, no attack"),
                    (_, false) => format!("{name}, {s} withholding Sybils"),
                    (_, true) if gossip == GossipMode::Flood => {
                        format!("{name}, {s} withholding Sybils")
                    }
                    _ => format!("{name}, {s} withholding Sybils lying by IHAVE"),
                };
                runs.push((label, r.latencies_ms, r.records * r.honest));
            }
            write_plot("simulations/plots/mesh.svg", |path| {
                mirror_simulations::plot::delivery_log(
                    path,
                    &format!("Flooding and gossipsub's mesh, {nodes} honest nodes"),
                    "time from publication (simulated ms, log scale)",
                    &runs,
                )
            });
        }
        "real" => {
            // The honest scenario's plan on real `mirror node` daemons and
            // on the simulator, side by side (see src/real/mod.rs).
            let bin = args
                .iter()
                .position(|a| a == "--bin")
                .and_then(|i| args.get(i + 1))
                .map_or_else(|| "target/release/mirror".into(), std::path::PathBuf::from);
            let work = args
                .iter()
                .position(|a| a == "--work")
                .and_then(|i| args.get(i + 1))
                .map_or_else(
                    || std::env::temp_dir().join(format!("mirror-real-{}", std::process::id())),
                    std::path::PathBuf::from,
                );
            let c = mirror_simulations::real::RealConfig {
                nodes: arg(&args, "--nodes", 50) as usize,
                records: arg(&args, "--records", 100) as usize,
                spacing_ms: arg(&args, "--spacing-ms", 500) as i64,
                seed,
                latency_ms: arg(&args, "--latency-ms", 25) as f64,
                processing_ms: arg(&args, "--processing-ms", 0) as i64,
                bin,
                work,
                settle_ms: arg(&args, "--settle-ms", 15_000),
                idle_ms: arg(&args, "--idle-ms", 10_000),
            };
            eprintln!("real: work dir {}", c.work.display());
            match mirror_simulations::real::run(&c) {
                Ok((real, sim)) => {
                    println!(
                        "| run | nodes | links | records | delivery % | by gossip / by sync | p50 ms | p99 ms | max ms | bytes/record/node |"
                    );
                    println!("|---|---|---|---|---|---|---|---|---|---|");
                    println!(
                        "| real | {} | {} | {} | {:.2} | {} / {} | {} | {} | {} | {:.0} (raw {:.0}; idle {:.0} B/s) |",
                        real.nodes,
                        real.links,
                        real.records,
                        real.delivery_pct,
                        real.by_gossip,
                        real.by_sync,
                        real.p50_ms,
                        real.p99_ms,
                        real.max_ms,
                        real.bytes_per_record_per_node,
                        real.bytes_raw_per_record_per_node,
                        real.idle_bytes_per_s
                    );
                    println!(
                        "| simulator | {} | {} | {} | {:.2} | — | {} | {} | {} | {:.0} |",
                        sim.honest,
                        real.links,
                        sim.records,
                        sim.delivery_pct,
                        sim.p50_ms,
                        sim.p99_ms,
                        sim.max_ms,
                        sim.bytes_per_record_per_node
                    );
                    println!(
                        "\npublication errors {} | nodes short of their links at the start {}",
                        real.publish_errors, real.short_of_peers
                    );
                }
                Err(e) => {
                    eprintln!("real: {e}");
                    std::process::exit(1);
                }
            }
        }
        "sybils" => {
            let (base, attacked) = scenarios::sybils(nodes, sybils, records, seed);
            header();
            row(&base);
            row(&attacked);
        }
        _ => {
            eprintln!(
                "usage: mirror-simulations honest|partition|skew|sybils|life|eclipse|faults|plot|plot-eclipse|plot-sybils|plot-mesh|real [--bin PATH] [--work DIR] [--spacing-ms MS] [--latency-ms MS] [--settle-ms MS] [--idle-ms MS] [--processing-ms MS] [--disk-nodes D] [--faults F] [--honest-links L] [--join-ms MS] [--spread-ms MS] [--members M] [--period-ms MS] [--churn-pct P] [--nodes N] [--records R] [--sybils S] [--seed X] [--gossip flood|mesh] [--sybil-spam 0|1] [--sybil-ihave 0|1] [--p7-decay-s S]"
            );
            std::process::exit(2);
        }
    }
    eprintln!("(wall time {:.1} s)", started.elapsed().as_secs_f64());
}
