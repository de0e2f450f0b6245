//! `telemetry_packet`: one epoch of privatized metrics.

use super::*;

/// `telemetry_packet`: one node's noised aggregates for one reporting
/// period, signed by a throwaway key. No content, no ids, and no time finer
/// than the period.
///
/// Beyond the schema: metric names are distinct.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetryPacket {
    /// The version of the metric registry the metrics are declared in.
    pub registry_version: u64,
    /// The reporting period's index: its start in unix milliseconds divided
    /// by the registry's period length.
    pub period: u64,
    /// At least one metric: with nothing to report, no packet is sent.
    pub metrics: Vec<Metric>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metric {
    /// As declared in the registry: a lowercase identifier (dots allowed).
    pub name: String,
    pub kind: MetricKind,
    /// Noised values: a counter has one, a rate two (events, opportunities),
    /// a histogram one per bucket.
    pub values: Vec<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricKind {
    Histogram,
    Counter,
    Rate,
}

impl Payload for TelemetryPacket {
    const KIND: &'static str = "telemetry_packet";

    fn check(&self) -> Result<(), PayloadError> {
        let c = Check(Self::KIND);
        c.int(
            "registry_version",
            self.registry_version,
            1,
            MAX_SAFE_INTEGER,
            "at least 1",
        )?;
        c.int("period", self.period, 0, MAX_SAFE_INTEGER, "a safe integer")?;
        c.count("metrics", self.metrics.len(), 1, limits::METRICS)?;
        let mut names = BTreeSet::new();
        for (i, m) in self.metrics.iter().enumerate() {
            let at = format!("metrics[{i}]");
            c.identifier(
                &format!("{at}.name"),
                &m.name,
                limits::METRIC_NAME_CHARS,
                ".",
            )?;
            if !names.insert(m.name.as_str()) {
                return Err(c.invalid(format!("{at}.name"), format!("{:?} repeats", m.name)));
            }
            let (lo, hi) = match m.kind {
                MetricKind::Counter => (1, 1),
                MetricKind::Rate => (2, 2),
                MetricKind::Histogram => (1, limits::METRIC_VALUES),
            };
            c.count(&format!("{at}.values"), m.values.len(), lo, hi)?;
            for (j, v) in m.values.iter().enumerate() {
                c.signed(&format!("{at}.values[{j}]"), *v)?;
            }
        }
        Ok(())
    }
}
