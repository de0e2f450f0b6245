//! The gossip mesh model (`GossipMode::Mesh`): small runs asserting the
//! properties the large runs in `simulations/README.md` are measured
//! against.

use mirror_simulations::eclipse::{EclipseConfig, eclipse_with};
use mirror_simulations::gossip::GossipMode;
use mirror_simulations::scenarios;
use mirror_simulations::sim::Config;

fn mesh(seed: u64, honest: usize) -> Config {
    let mut c = Config::new(seed, honest);
    c.gossip = GossipMode::Mesh;
    c
}

#[test]
fn honest_nodes_all_receive_every_record_over_the_mesh() {
    let r = scenarios::honest_with(mesh(7, 80), 20);
    assert_eq!(r.records, 20);
    assert!(r.delivery_pct >= 99.9, "{r:?}");
    assert!(r.identical_sets, "{r:?}");
    assert!(r.p99_ms < 1_000, "{r:?}");
    assert_eq!(r.honest_bans, 0);
    assert_eq!(r.honest_strikes, 0);
}

#[test]
fn a_mesh_run_is_a_function_of_its_seed() {
    let mut c = mesh(11, 30);
    c.sybil_spam = false;
    let a = scenarios::sybils_with(c.clone(), 20, 10);
    let b = scenarios::sybils_with(c, 20, 10);
    assert_eq!(format!("{a:?}"), format!("{b:?}"));
}

#[test]
fn withholding_sybils_filling_meshes_leave_honest_delivery_above_99_pct() {
    // 60 honest nodes, 30 Sybils dialling 8 each (4 a node on average):
    // they GRAFT every honest peer as soon as its backoff allows, forward
    // nothing, answer no IWANT and advertise by IHAVE what they withhold.
    let mut c = mesh(5, 60);
    c.sybil_spam = false;
    let (_, attacked) = scenarios::sybils_with(c, 30, 20);
    assert!(attacked.delivery_pct >= 99.0, "{attacked:?}");
    assert_eq!(attacked.honest_bans, 0, "{attacked:?}");
    assert_eq!(attacked.honest_strikes, 0, "{attacked:?}");
}

#[test]
fn spamming_sybils_are_graylisted_and_banned_under_the_mesh() {
    let (_, attacked) = scenarios::sybils_with(mesh(5, 60), 30, 20);
    assert!(attacked.delivery_pct >= 99.0, "{attacked:?}");
    assert!(attacked.identical_sets, "{attacked:?}");
    assert_eq!(attacked.honest_bans, 0, "{attacked:?}");
    assert_eq!(attacked.sybils_banned_by_all, 30, "{attacked:?}");
}

#[test]
fn an_eclipsed_online_target_still_receives_every_record() {
    // The target dials 8 peers, 7 of them Sybils that take its GRAFTs and
    // withhold; it is online from the start.
    let r = eclipse_with(
        EclipseConfig {
            nodes: 60,
            sybils: 7,
            honest_links: 1,
            records: 20,
            join_ms: 0,
            seed: 17,
        },
        GossipMode::Mesh,
    );
    let t = &r.target_attacked;
    assert_eq!((t.honest_links, t.sybil_links), (1, 7), "{t:?}");
    assert_eq!(t.delivery_pct, 100.0, "{t:?}");
    assert!(r.attacked.delivery_pct >= 99.9, "{:?}", r.attacked);
    assert!(r.attacked.identical_sets);
    assert_eq!(r.attacked.honest_bans, 0);
}

#[test]
fn pushes_keep_the_p99_within_twice_no_attack_under_withholding_sybils() {
    // 50 honest nodes, 200 Sybils dialling 8 each (about 32 Sybil links a
    // node, the ratio of 1,000 honest nodes to 4,000 Sybils), cold boot:
    // meshes fill with Sybils that forward nothing and lie by IHAVE.
    let mut c = mesh(1, 50);
    c.sybil_spam = false;
    let (base, attacked) = scenarios::sybils_with(c.clone(), 200, 20);
    assert_eq!(attacked.delivery_pct, 100.0, "{attacked:?}");
    assert!(attacked.identical_sets, "{attacked:?}");
    assert_eq!(attacked.honest_bans, 0, "{attacked:?}");
    assert!(
        attacked.p99_ms <= 2 * base.p99_ms,
        "p99 {} against {} without attack",
        attacked.p99_ms,
        base.p99_ms
    );
    // Without pushes the same run waits for sync ticks (seconds).
    c.push_peers = 0;
    let (base, attacked) = scenarios::sybils_with(c, 200, 20);
    assert!(
        attacked.p99_ms > 10 * base.p99_ms,
        "p99 {} against {} without attack",
        attacked.p99_ms,
        base.p99_ms
    );
}
