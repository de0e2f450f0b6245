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

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let scenario = args.first().map(String::as_str).unwrap_or("");
    let nodes = arg(&args, "--nodes", 1000) as usize;
    let records = arg(&args, "--records", 100) as usize;
    let sybils = arg(&args, "--sybils", 250) as usize;
    let seed = arg(&args, "--seed", 1);
    let started = std::time::Instant::now();
    match scenario {
        "honest" => {
            header();
            row(&scenarios::honest(nodes, records, seed));
        }
        "partition" => {
            let r = scenarios::churn_and_partition(nodes, records, seed);
            header();
            row(&r.report);
            println!(
                "\nconverged {:?} ms after the partition healed",
                r.converge_after_heal_ms
            );
        }
        "skew" => {
            let spread = arg(&args, "--spread-ms", 86_400_000) as i64;
            header();
            row(&scenarios::version_skew(nodes, records, spread, seed));
        }
        "life" => {
            let r = mirror_simulations::life::proposal_life(mirror_simulations::life::LifeConfig {
                nodes,
                members: arg(&args, "--members", nodes as u64) as usize,
                period_ms: arg(&args, "--period-ms", 20 * 60_000) as i64,
                churn_pct: arg(&args, "--churn-pct", 10),
                seed,
            });
            header();
            row(&r.report);
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
        "sybils" => {
            let (base, attacked) = scenarios::sybils(nodes, sybils, records, seed);
            header();
            row(&base);
            row(&attacked);
        }
        _ => {
            eprintln!(
                "usage: mirror-simulations honest|partition|skew|sybils|life|plot [--spread-ms MS] [--members M] [--period-ms MS] [--churn-pct P] [--nodes N] [--records R] [--sybils S] [--seed X]"
            );
            std::process::exit(2);
        }
    }
    eprintln!("(wall time {:.1} s)", started.elapsed().as_secs_f64());
}
