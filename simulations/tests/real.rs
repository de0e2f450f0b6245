//! The real-network harness in small: five `mirror node` daemons on
//! loopback, linked as the simulator links them, ten records. Ignored by
//! default (it needs a release `mirror` binary: `cargo build --release -p
//! mirror-node --bin mirror`, or `MIRROR_BIN`); run with `cargo test -p
//! mirror-simulations --test real -- --ignored`.

use mirror_simulations::real::{RealConfig, run};

#[test]
#[ignore = "starts real daemons; needs a release mirror binary"]
fn five_real_daemons_get_every_record_as_the_simulator_does() {
    let bin = std::env::var_os("MIRROR_BIN").map_or_else(
        || std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/mirror"),
        std::path::PathBuf::from,
    );
    let work = std::env::temp_dir().join(format!("mirror-real-test-{}", std::process::id()));
    let c = RealConfig {
        nodes: 5,
        records: 10,
        spacing_ms: 300,
        seed: 1,
        latency_ms: 25.0,
        processing_ms: 0,
        bin,
        work: work.clone(),
        // Gossip carries everything; a sync round (60 s) is not waited for.
        settle_ms: 3_000,
        idle_ms: 1_000,
    };
    let (real, sim) = run(&c).expect("the real run");
    let _ = std::fs::remove_dir_all(&work);
    assert_eq!(real.publish_errors, 0);
    assert_eq!(sim.delivery_pct, 100.0);
    assert_eq!(real.delivery_pct, 100.0, "{real:?}");
    // Every pair but the publishers' own has an arrival time.
    assert_eq!(real.latencies_ms.len(), 5 * 10, "{real:?}");
}
