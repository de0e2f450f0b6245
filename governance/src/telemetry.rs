//! Private telemetry: the metric registry, local differential privacy, and
//! the commons-wide aggregate.
//!
//! A node may report only what the registry declares (a name, a kind, its
//! buckets or its clipping bound, and a privacy parameter ε), and every
//! value is randomised on the node before it leaves:
//!
//! * a **counter** (one value in `0..=max`) gets two-sided geometric noise
//!   with α = exp(−ε / max), which is ε-differentially private for any two
//!   values in the range;
//! * a **rate** is two bits by randomized response, ε/2 each: whether the
//!   node had any opportunity in the period, and whether one opportunity
//!   drawn at random was an event. The aggregate is the mean of the nodes'
//!   own rates (over nodes that had opportunities), estimated without any
//!   node's count ever leaving it;
//! * a **histogram** reports one category (the bucket a node's value falls
//!   in) by k-ary randomized response: the true bucket with probability
//!   p = e^ε / (e^ε + k − 1), each other one with q = 1 / (e^ε + k − 1); the
//!   packet carries it one-hot.
//!
//! Every node computes the aggregate from the accepted packets, undoing the
//! noise in expectation (geometric noise has mean zero; randomized response
//! is inverted by (share − q) / (p − q)), with a 95% confidence interval
//! from the packets' own spread, which includes both the nodes' real
//! differences and the noise. A metric's aggregate is released only when at
//! least `min_packets` distinct packets contribute.
//!
//! The registry lives in the engine parameter pack, so governance changes
//! it like any other parameter. Randomness is passed in (`rng` returns
//! uniform 64-bit words), which keeps this module pure and its tests
//! reproducible.

use serde::{Deserialize, Serialize};

use crate::payload::{Metric, MetricKind, TelemetryPacket};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetryRegistry {
    /// Packets name the registry version they were made under.
    pub version: u64,
    /// The reporting period: packets carry its index, nothing finer.
    pub period_ms: u64,
    /// An aggregate is released only from at least this many packets (k).
    pub min_packets: u32,
    pub metrics: Vec<MetricSpec>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricSpec {
    /// A lowercase identifier, dots allowed.
    pub name: String,
    pub kind: MetricKind,
    /// What it measures, for people.
    pub description: String,
    /// Privacy loss per report.
    pub epsilon: f64,
    /// Total privacy loss a node accepts for this metric; it stops
    /// reporting it once the next report would exceed this.
    pub budget: f64,
    /// Counters: values are clipped to `0..=max`.
    #[serde(default)]
    pub max: u32,
    /// Histograms: ascending upper bounds; a value above the last falls in
    /// one more bucket (so `buckets.len() + 1` categories).
    #[serde(default)]
    pub buckets: Vec<f64>,
}

impl MetricSpec {
    /// How many values a packet carries for this metric.
    pub fn arity(&self) -> usize {
        match self.kind {
            MetricKind::Counter => 1,
            MetricKind::Rate => 2,
            MetricKind::Histogram => self.buckets.len() + 1,
        }
    }

    /// The bucket `value` falls in.
    pub fn bucket_of(&self, value: f64) -> usize {
        self.buckets
            .iter()
            .position(|b| value <= *b)
            .unwrap_or(self.buckets.len())
    }
}

/// What a node measured over one period, before any noise.
#[derive(Debug, Clone, PartialEq)]
pub enum TrueValue {
    Counter(u64),
    Rate {
        events: u64,
        opportunities: u64,
    },
    /// The value whose bucket is reported (e.g. the period's median rating).
    Histogram(f64),
}

impl TelemetryRegistry {
    pub fn get(&self, name: &str) -> Option<&MetricSpec> {
        self.metrics.iter().find(|m| m.name == name)
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.period_ms < 60_000 {
            return Err("telemetry.period_ms: at least one minute".into());
        }
        if self.min_packets < 2 {
            return Err("telemetry.min_packets: at least 2".into());
        }
        let mut names = std::collections::BTreeSet::new();
        for m in &self.metrics {
            let ok_name = !m.name.is_empty()
                && m.name.len() <= 64
                && m.name.starts_with(|c: char| c.is_ascii_lowercase())
                && m.name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.');
            if !ok_name || !names.insert(m.name.as_str()) {
                return Err(format!(
                    "telemetry metric {:?}: a distinct lowercase name",
                    m.name
                ));
            }
            if !(m.epsilon.is_finite() && m.epsilon > 0.0 && m.epsilon <= 10.0) {
                return Err(format!("telemetry metric {}: epsilon in (0, 10]", m.name));
            }
            if !(m.budget.is_finite() && m.budget >= m.epsilon) {
                return Err(format!(
                    "telemetry metric {}: budget at least epsilon",
                    m.name
                ));
            }
            match m.kind {
                MetricKind::Counter if m.max == 0 || !m.buckets.is_empty() => {
                    return Err(format!(
                        "telemetry metric {}: a counter has max ≥ 1 and no buckets",
                        m.name
                    ));
                }
                MetricKind::Rate if !m.buckets.is_empty() => {
                    return Err(format!(
                        "telemetry metric {}: a rate has no buckets",
                        m.name
                    ));
                }
                MetricKind::Histogram
                    if m.buckets.is_empty()
                        || m.buckets.len() >= crate::payload::limits::METRIC_VALUES
                        || m.buckets.windows(2).any(|w| w[0] >= w[1])
                        || m.buckets.iter().any(|b| !b.is_finite()) =>
                {
                    return Err(format!(
                        "telemetry metric {}: ascending, finite buckets (1 to 63)",
                        m.name
                    ));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Whether a packet keeps to this registry: its version, only declared
    /// metrics, each in its declared kind and shape. Used when counting (a
    /// packet that does not keep to the registry it declares is left out),
    /// never to refuse a record: see [`check_packet_shape`].
    pub fn check_packet(&self, packet: &TelemetryPacket) -> Result<(), String> {
        if packet.registry_version != self.version {
            return Err(format!(
                "made under metric registry version {}, this registry is {}",
                packet.registry_version, self.version
            ));
        }
        check_packet_shape(packet)?;
        for m in &packet.metrics {
            let Some(spec) = self.get(&m.name) else {
                return Err(format!(
                    "metric {:?} is not declared in the registry",
                    m.name
                ));
            };
            if spec.kind != m.kind || spec.arity() != m.values.len() {
                return Err(format!(
                    "metric {:?} does not have its declared kind and shape",
                    m.name
                ));
            }
        }
        Ok(())
    }
}

/// What a packet must be under any registry: a histogram reports exactly
/// one bucket and a rate two bits. A function of the packet alone, so every
/// node refuses the same packets whichever registry versions it knows.
pub fn check_packet_shape(packet: &TelemetryPacket) -> Result<(), String> {
    for m in &packet.metrics {
        if m.kind == MetricKind::Histogram
            && (m.values.iter().any(|v| *v != 0 && *v != 1) || m.values.iter().sum::<i64>() != 1)
        {
            return Err(format!(
                "histogram {:?} must report exactly one bucket",
                m.name
            ));
        }
        if m.kind == MetricKind::Rate && m.values.iter().any(|v| *v != 0 && *v != 1) {
            return Err(format!("rate {:?} reports two bits", m.name));
        }
    }
    Ok(())
}

/// A uniform number in [0, 1) from 64 random bits.
fn uniform(rng: &mut dyn FnMut() -> u64) -> f64 {
    (rng() >> 11) as f64 / (1u64 << 53) as f64
}

/// Two-sided geometric noise with parameter `alpha` (in (0, 1)).
fn geometric_noise(alpha: f64, rng: &mut dyn FnMut() -> u64) -> i64 {
    let one = |rng: &mut dyn FnMut() -> u64| {
        // 1 - U is in (0, 1], so the logarithm is finite.
        let u = 1.0 - uniform(rng);
        (u.ln() / alpha.ln()).floor() as i64
    };
    one(rng) - one(rng)
}

/// Binary randomized response: the truth is kept with this probability.
fn keep_probability(epsilon: f64) -> f64 {
    epsilon.exp() / (1.0 + epsilon.exp())
}

/// The randomised report of `value` for `spec`.
pub fn randomize(
    spec: &MetricSpec,
    value: &TrueValue,
    rng: &mut dyn FnMut() -> u64,
) -> Option<Metric> {
    let clip = |v: u64| v.min(u64::from(spec.max)) as i64;
    let values = match (spec.kind, value) {
        (MetricKind::Counter, TrueValue::Counter(v)) => {
            let alpha = (-spec.epsilon / f64::from(spec.max)).exp();
            vec![clip(*v) + geometric_noise(alpha, rng)]
        }
        (
            MetricKind::Rate,
            TrueValue::Rate {
                events,
                opportunities,
            },
        ) => {
            let had = *opportunities > 0;
            let event = had
                && uniform(rng) * (*opportunities as f64) < (*events).min(*opportunities) as f64;
            let keep = keep_probability(spec.epsilon / 2.0);
            let mut bit = |b: bool| i64::from(if uniform(rng) < keep { b } else { !b });
            let e = bit(event);
            vec![e, bit(had)]
        }
        (MetricKind::Histogram, TrueValue::Histogram(v)) => {
            let k = spec.arity();
            let truth = spec.bucket_of(*v);
            let e = spec.epsilon.exp();
            let p = e / (e + k as f64 - 1.0);
            let reported = if uniform(rng) < p {
                truth
            } else {
                // One of the other k - 1 buckets, uniformly.
                let other = ((uniform(rng) * (k - 1) as f64) as usize).min(k - 2);
                if other >= truth { other + 1 } else { other }
            };
            (0..k).map(|i| i64::from(i == reported)).collect()
        }
        _ => return None,
    };
    Some(Metric {
        name: spec.name.clone(),
        kind: spec.kind,
        values,
    })
}

/// One metric's commons-wide estimate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Estimate {
    pub name: String,
    pub kind: MetricKind,
    /// Distinct packets that reported it.
    pub packets: usize,
    /// Whether enough packets contributed to release it (k).
    pub released: bool,
    /// Counter: the mean per node per period. Rate: the mean of the nodes'
    /// own rates, over nodes that had opportunities.
    /// Histogram: the share of nodes per bucket. Empty when not released.
    pub value: Vec<f64>,
    /// 95% confidence interval, per value (for a histogram, simultaneous
    /// over its buckets).
    pub low: Vec<f64>,
    pub high: Vec<f64>,
}

const Z95: f64 = 1.959_963_984_540_054;
/// Two-sided 97.5%.
const Z975: f64 = 2.241_402_727_604_947;

#[cfg(test)]
#[test]
fn the_quantile_matches_known_values() {
    for (p, z) in [
        (0.975, Z95),
        (0.987_5, Z975),
        (0.5, 0.0),
        (0.005, -2.575_829_303_548_901),
    ] {
        assert!(
            (normal_quantile(p) - z).abs() < 1e-8,
            "{p}: {}",
            normal_quantile(p)
        );
    }
}

/// The standard normal quantile (Acklam's rational approximation, relative
/// error below 1.2e-9), for simultaneous intervals.
fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let tail = |q: f64| {
        let q = (-2.0 * q.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < 0.02425 {
        tail(p)
    } else if p > 1.0 - 0.02425 {
        -tail(1.0 - p)
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

fn mean_var(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = if xs.len() > 1 {
        xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    (mean, var)
}

/// The aggregate of every declared metric over `packets` (each counted
/// once; the caller passes distinct accepted packets).
pub fn aggregate(registry: &TelemetryRegistry, packets: &[TelemetryPacket]) -> Vec<Estimate> {
    registry
        .metrics
        .iter()
        .map(|spec| {
            // Judged against the registry version each packet declares: a
            // packet of another version, or one that strays from this
            // version's declarations, is kept in the commons but not counted.
            let reports: Vec<&Metric> = packets
                .iter()
                .filter(|p| registry.check_packet(p).is_ok())
                .flat_map(|p| p.metrics.iter())
                .filter(|m| {
                    m.name == spec.name && m.kind == spec.kind && m.values.len() == spec.arity()
                })
                .collect();
            let n = reports.len();
            let released = n >= registry.min_packets as usize && n >= 2;
            let mut est = Estimate {
                name: spec.name.clone(),
                kind: spec.kind,
                packets: n,
                released,
                value: vec![],
                low: vec![],
                high: vec![],
            };
            if !released {
                return est;
            }
            let nf = n as f64;
            match spec.kind {
                MetricKind::Counter => {
                    let xs: Vec<f64> = reports.iter().map(|m| m.values[0] as f64).collect();
                    let (mean, var) = mean_var(&xs);
                    let half = Z95 * (var / nf).sqrt();
                    est.value = vec![mean];
                    est.low = vec![mean - half];
                    est.high = vec![mean + half];
                }
                MetricKind::Rate => {
                    // Undo the randomized response bit by bit. The interval
                    // is the ratio's range over the box of two 97.5%
                    // intervals (Bonferroni), so it holds at 95% at least,
                    // even where the ratio's own estimate is skewed.
                    let p = keep_probability(spec.epsilon / 2.0);
                    let unbias = |b: i64| (b as f64 - (1.0 - p)) / (2.0 * p - 1.0);
                    let es: Vec<f64> = reports.iter().map(|m| unbias(m.values[0])).collect();
                    let os: Vec<f64> = reports.iter().map(|m| unbias(m.values[1])).collect();
                    let (me, ve) = mean_var(&es);
                    let (mo, vo) = mean_var(&os);
                    let (he, ho) = (Z975 * (ve / nf).sqrt(), Z975 * (vo / nf).sqrt());
                    let (e_lo, e_hi, o_lo, o_hi) = (me - he, me + he, mo - ho, mo + ho);
                    if o_lo <= 0.0 {
                        // Too few nodes had opportunities to bound the rate.
                        est.released = false;
                        return est;
                    }
                    let r = me / mo;
                    est.value = vec![r];
                    est.low = vec![if e_lo >= 0.0 {
                        e_lo / o_hi
                    } else {
                        e_lo / o_lo
                    }];
                    est.high = vec![if e_hi >= 0.0 {
                        e_hi / o_lo
                    } else {
                        e_hi / o_hi
                    }];
                }
                MetricKind::Histogram => {
                    let k = spec.arity();
                    let e = spec.epsilon.exp();
                    let p = e / (e + k as f64 - 1.0);
                    let q = 1.0 / (e + k as f64 - 1.0);
                    // Simultaneous 95% intervals over the k buckets
                    // (Bonferroni): all hold together at least 95% of the
                    // time.
                    let z = normal_quantile(1.0 - 0.025 / k as f64);
                    for j in 0..k {
                        let share = reports.iter().filter(|m| m.values[j] == 1).count() as f64 / nf;
                        let f = (share - q) / (p - q);
                        // Wilson's score interval for the reported share,
                        // which keeps its coverage near 0 and 1, mapped
                        // through the same inversion.
                        let z2n = z * z / nf;
                        let centre = (share + z2n / 2.0) / (1.0 + z2n);
                        let half = z / (1.0 + z2n)
                            * (share * (1.0 - share) / nf + z2n / (4.0 * nf)).sqrt();
                        est.value.push(f);
                        est.low.push((centre - half - q) / (p - q));
                        est.high.push((centre + half - q) / (p - q));
                    }
                }
            }
            est
        })
        .collect()
}

/// A node's privacy-loss ledger: the ε spent per metric.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PrivacyLedger {
    pub spent: std::collections::BTreeMap<String, f64>,
}

impl PrivacyLedger {
    /// Whether one more report of `spec` stays within its budget.
    pub fn can_spend(&self, spec: &MetricSpec) -> bool {
        self.spent.get(&spec.name).copied().unwrap_or(0.0) + spec.epsilon <= spec.budget + 1e-9
    }

    pub fn spend(&mut self, spec: &MetricSpec) {
        *self.spent.entry(spec.name.clone()).or_insert(0.0) += spec.epsilon;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator (splitmix64) for reproducible tests.
    fn rng(seed: u64) -> impl FnMut() -> u64 {
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
        crate::params::EngineParams::genesis().unwrap().telemetry
    }

    #[test]
    fn the_genesis_registry_is_valid_and_declares_each_kind() {
        let r = registry();
        r.validate().unwrap();
        for kind in [MetricKind::Counter, MetricKind::Rate, MetricKind::Histogram] {
            assert!(r.metrics.iter().any(|m| m.kind == kind), "{kind:?}");
        }
    }

    #[test]
    fn packets_with_undeclared_or_misshapen_metrics_are_refused() {
        let r = registry();
        let spec = &r.metrics[0];
        let mut g = rng(1);
        let value = match spec.kind {
            MetricKind::Counter => TrueValue::Counter(3),
            MetricKind::Rate => TrueValue::Rate {
                events: 1,
                opportunities: 3,
            },
            MetricKind::Histogram => TrueValue::Histogram(1.0),
        };
        let good = TelemetryPacket {
            registry_version: r.version,
            period: 1,
            metrics: vec![randomize(spec, &value, &mut g).unwrap()],
        };
        r.check_packet(&good).unwrap();
        let mut undeclared = good.clone();
        undeclared.metrics[0].name = "reflections.words".into();
        assert!(
            r.check_packet(&undeclared)
                .unwrap_err()
                .contains("not declared")
        );
        let mut other_version = good.clone();
        other_version.registry_version += 1;
        assert!(r.check_packet(&other_version).is_err());
        let mut misshapen = good;
        misshapen.metrics[0].values.push(0);
        assert!(r.check_packet(&misshapen).is_err());
    }

    #[test]
    fn the_budget_stops_a_metric() {
        let spec = &registry().metrics[0];
        let mut ledger = PrivacyLedger::default();
        let mut reports = 0;
        while ledger.can_spend(spec) && reports < 10_000 {
            ledger.spend(spec);
            reports += 1;
        }
        assert_eq!(
            reports,
            (spec.budget / spec.epsilon + 1e-9).floor() as usize
        );
    }

    #[test]
    fn randomized_response_reports_one_bucket() {
        let r = registry();
        let spec = r
            .metrics
            .iter()
            .find(|m| m.kind == MetricKind::Histogram)
            .unwrap();
        let mut g = rng(7);
        for i in 0..200 {
            let m = randomize(spec, &TrueValue::Histogram(i as f64), &mut g).unwrap();
            assert_eq!(m.values.iter().sum::<i64>(), 1);
            assert_eq!(m.values.len(), spec.arity());
        }
    }
}
