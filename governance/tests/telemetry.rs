//! The aggregate's accuracy: a few hundred simulated nodes with known true
//! values randomise their reports exactly as a node does; every value of the
//! aggregate (a counter's mean, a rate, each histogram bucket's share) must
//! hold the true commons-wide value inside its stated 95% interval in at
//! least 95% of trials. (A histogram's intervals are simultaneous, so each
//! bucket's alone is wider.) Seeds are fixed, so the test is reproducible.

use mirror_governance::params::EngineParams;
use mirror_governance::payload::{MetricKind, TelemetryPacket};
use mirror_governance::telemetry::{TelemetryRegistry, TrueValue, aggregate, randomize};

const NODES: usize = 300;
const TRIALS: usize = 200;

fn splitmix(seed: u64) -> impl FnMut() -> u64 {
    let mut s = seed;
    move || {
        s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

fn registry() -> TelemetryRegistry {
    EngineParams::genesis().unwrap().telemetry
}

/// One node's true values, drawn from known distributions: counts around
/// 6, a violation rate near 8%, ratings skewed high, durations mostly fast.
fn truth(node: usize, draw: &mut dyn FnMut() -> u64) -> Vec<(String, TrueValue)> {
    let mut u = || (draw() >> 11) as f64 / (1u64 << 53) as f64;
    let runs = 5 + (u() * 40.0) as u64;
    let violations = (0..runs).filter(|_| u() < 0.08).count() as u64;
    let fallbacks = (0..runs).filter(|_| u() < 0.02).count() as u64;
    let reflections = (u() * 12.0) as u64 + (node % 3) as u64;
    let noticed = (0..reflections).filter(|_| u() < 0.6).count() as u64;
    let rating = [5.0, 5.0, 4.0, 4.0, 4.0, 3.0, 2.0, 1.0][(u() * 8.0) as usize % 8];
    let duration = if u() < 0.7 {
        30.0
    } else if u() < 0.8 {
        2000.0
    } else {
        400.0
    };
    vec![
        ("reflections.count".into(), TrueValue::Counter(reflections)),
        (
            "patterns.noticed".into(),
            TrueValue::Rate {
                events: noticed,
                opportunities: reflections,
            },
        ),
        (
            "engine.directive_violations".into(),
            TrueValue::Rate {
                events: violations,
                opportunities: runs,
            },
        ),
        (
            "engine.fallbacks".into(),
            TrueValue::Rate {
                events: fallbacks,
                opportunities: runs,
            },
        ),
        ("feedback.rating".into(), TrueValue::Histogram(rating)),
        ("engine.duration_ms".into(), TrueValue::Histogram(duration)),
    ]
}

/// The true commons-wide value of each metric, as the aggregate states it.
fn exact(registry: &TelemetryRegistry, name: &str, all: &[Vec<(String, TrueValue)>]) -> Vec<f64> {
    let spec = registry.get(name).unwrap();
    let clip = |v: u64| v.min(u64::from(spec.max)) as f64;
    let values: Vec<&TrueValue> = all
        .iter()
        .map(|node| &node.iter().find(|(n, _)| n == name).unwrap().1)
        .collect();
    let n = values.len() as f64;
    match spec.kind {
        MetricKind::Counter => vec![
            values
                .iter()
                .map(|v| match v {
                    TrueValue::Counter(c) => clip(*c),
                    _ => 0.0,
                })
                .sum::<f64>()
                / n,
        ],
        MetricKind::Rate => {
            let (mut sum, mut had) = (0.0, 0.0);
            for v in &values {
                if let TrueValue::Rate {
                    events,
                    opportunities,
                } = v
                    && *opportunities > 0
                {
                    sum += (*events).min(*opportunities) as f64 / *opportunities as f64;
                    had += 1.0;
                }
            }
            vec![sum / had]
        }
        MetricKind::Histogram => (0..spec.arity())
            .map(|j| {
                values
                    .iter()
                    .filter(|v| matches!(v, TrueValue::Histogram(x) if spec.bucket_of(*x) == j))
                    .count() as f64
                    / n
            })
            .collect(),
    }
}

#[test]
fn the_true_aggregate_falls_inside_the_stated_interval_in_95_percent_of_trials() {
    let registry = registry();
    // Per metric, per value (a histogram has one per bucket).
    let mut covered: Vec<Vec<usize>> = registry
        .metrics
        .iter()
        .map(|m| {
            vec![
                0;
                m.arity().min(if m.kind == MetricKind::Rate {
                    1
                } else {
                    usize::MAX
                })
            ]
        })
        .collect();
    let mut widths = vec![0.0f64; registry.metrics.len()];
    for trial in 0..TRIALS {
        let mut draw = splitmix(trial as u64 * 7919 + 1);
        let all: Vec<Vec<(String, TrueValue)>> = (0..NODES).map(|i| truth(i, &mut draw)).collect();
        let mut noise = splitmix(0xfeed_0000 + trial as u64);
        let packets: Vec<TelemetryPacket> = all
            .iter()
            .map(|values| TelemetryPacket {
                registry_version: registry.version,
                period: 1,
                metrics: values
                    .iter()
                    .map(|(name, v)| randomize(registry.get(name).unwrap(), v, &mut noise).unwrap())
                    .collect(),
            })
            .collect();
        for p in &packets {
            registry.check_packet(p).unwrap();
        }
        let estimates = aggregate(&registry, &packets);
        for (i, est) in estimates.iter().enumerate() {
            assert!(est.released, "{}", est.name);
            assert_eq!(est.packets, NODES);
            let truth = exact(&registry, &est.name, &all);
            for (j, t) in truth.iter().enumerate() {
                covered[i][j] += usize::from(est.low[j] <= *t && *t <= est.high[j]);
            }
            widths[i] += est
                .high
                .iter()
                .zip(&est.low)
                .map(|(h, l)| h - l)
                .fold(0.0, f64::max)
                / TRIALS as f64;
        }
    }
    for (i, spec) in registry.metrics.iter().enumerate() {
        let rates: Vec<f64> = covered[i]
            .iter()
            .map(|c| *c as f64 / TRIALS as f64)
            .collect();
        eprintln!(
            "{:<30} coverage {rates:.3?}  mean widest interval {:.4}",
            spec.name, widths[i]
        );
        for (j, rate) in rates.iter().enumerate() {
            assert!(
                *rate >= 0.95,
                "{}[{j}]: the truth was inside the interval in {rate:.3} of trials",
                spec.name
            );
        }
    }
    // The intervals say something: a rate is pinned well inside 0..1 and a
    // count to within about one reflection.
    let at = |name: &str| {
        registry
            .metrics
            .iter()
            .position(|m| m.name == name)
            .unwrap()
    };
    assert!(
        widths[at("engine.directive_violations")] < 0.4,
        "{widths:?}"
    );
    assert!(widths[at("reflections.count")] < 2.0, "{widths:?}");
}

#[test]
fn fewer_than_k_packets_release_nothing() {
    let registry = registry();
    let mut draw = splitmix(3);
    let mut noise = splitmix(4);
    let packets: Vec<TelemetryPacket> = (0..registry.min_packets as usize - 1)
        .map(|i| TelemetryPacket {
            registry_version: registry.version,
            period: 1,
            metrics: truth(i, &mut draw)
                .iter()
                .map(|(name, v)| randomize(registry.get(name).unwrap(), v, &mut noise).unwrap())
                .collect(),
        })
        .collect();
    for est in aggregate(&registry, &packets) {
        assert!(!est.released && est.value.is_empty(), "{}", est.name);
    }
}
