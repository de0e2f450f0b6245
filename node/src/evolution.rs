//! The evolution engine: how the node notices its own engine's behaviour.
//!
//! * An [`Observer`] sees each event as it happens (a reflection with its
//!   patterns and tensions, a mirrorback and its engine run, a rating) and
//!   may raise [`Finding`]s.
//! * A [`Critic`] reads the history ([`Stats`] over a window of days) and
//!   turns it into findings with recommendations, such as "a prompt
//!   adjustment" when more than 5% of model runs failed the directive
//!   threshold.
//! * The [`Registry`] runs the enabled ones. It runs observers *after* the
//!   reflection is stored, each on its own thread, catching panics, and
//!   waits for them only a short while: a failing or slow observer never
//!   blocks or loses a reflection.
//!
//! Findings are stored as evolution events (kind `finding`), keyed so the
//! same finding is recorded once per day; `mirror proposal new
//! --from-finding ID` drafts a governance proposal from one, with the
//! finding as evidence. Nothing here leaves the node.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::model::{
    EngineFeedback, EngineMode, EngineRun, EvolutionEvent, EvolutionEventKind, Id, Metadata,
    Mirrorback, Timestamp,
};
use crate::store::{Batch, Store};
use crate::telemetry::is_directive_flag;

/// Something that happened on the reflection pipeline.
#[derive(Debug, Clone)]
pub enum Event {
    /// A reflection was stored and mirrored: its patterns, tensions, the
    /// mirrorback and the engine run.
    Reflected {
        patterns: Vec<String>,
        tensions: Vec<String>,
        mirrorback: Box<Mirrorback>,
        run: Box<EngineRun>,
    },
    /// The person rated a run.
    Feedback(EngineFeedback),
}

/// What an observer or critic noticed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// Stable within a day: the same finding is stored once.
    pub key: String,
    /// Who noticed it.
    pub source: String,
    pub summary: String,
    /// The measurements behind it.
    pub data: Value,
    /// What the critic suggests, if anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recommendation: Option<Recommendation>,
}

/// A suggested governance proposal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recommendation {
    /// A proposal type (`prompt_adjustment`, `pattern_detection`, …).
    pub proposal_type: String,
    pub title: String,
    /// A concrete first edit: a numeric parameter of the pack (JSON
    /// Pointer) and how much to change it by. The person may change the
    /// draft before submitting it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub increment: Option<(String, i64)>,
}

pub trait Observer: Send + Sync {
    fn name(&self) -> &'static str;
    /// Look at one event, with the history up to and including it.
    fn observe(&self, event: &Event, history: &History) -> Result<Vec<Finding>, String>;
}

pub trait Critic: Send + Sync {
    fn name(&self) -> &'static str;
    fn review(&self, stats: &Stats) -> Vec<Finding>;
}

/// The store's recent history, read once per notification: the records of
/// the last [`HISTORY_DAYS`] days ([`Store::window`]), never the whole
/// journal, so observing costs the same at 100 entries as at 100,000.
pub struct History {
    pub batch: Batch,
    pub now: Timestamp,
}

const DAY_MICROS: i64 = 86_400_000_000;

/// The longest look back an observer takes: the drift observer's week and
/// the 30 days before it.
pub const HISTORY_DAYS: i64 = 37;

fn day(t: Timestamp) -> i64 {
    t.as_micros().div_euclid(DAY_MICROS)
}

/// How the engine did over a window of days.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Stats {
    pub days: u32,
    pub reflections: u64,
    pub runs: u64,
    /// Pattern → runs in which it was noticed.
    pub patterns: BTreeMap<String, u64>,
    /// Compliance flag → runs that raised it.
    pub flags: BTreeMap<String, u64>,
    /// Per engine mode: runs, runs with a directive violation, fallbacks.
    pub engines: BTreeMap<String, EngineStats>,
    /// Rating (1–5) → how many.
    pub ratings: BTreeMap<u8, u64>,
    pub duration_ms_median: Option<u64>,
    pub duration_ms_p90: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct EngineStats {
    pub runs: u64,
    pub directive_violations: u64,
    pub fallbacks: u64,
}

impl Stats {
    /// Over the `days` days up to `now`.
    pub fn from_history(batch: &Batch, now: Timestamp, days: u32) -> Stats {
        let from = now.as_micros() - i64::from(days) * DAY_MICROS;
        let inside = |t: Timestamp| t.as_micros() > from && t.as_micros() <= now.as_micros();
        let mut s = Stats {
            days,
            ..Stats::default()
        };
        s.reflections = batch
            .reflections
            .iter()
            .filter(|r| inside(r.created_at))
            .count() as u64;
        let fell_back: BTreeMap<Id, bool> = batch
            .mirrorbacks
            .iter()
            .map(|m| (m.reflection_id, m.fell_back))
            .collect();
        let mut durations = Vec::new();
        for run in batch.engine_runs.iter().filter(|r| inside(r.created_at)) {
            s.runs += 1;
            durations.push(run.duration_ms);
            for p in &run.patterns {
                *s.patterns.entry(p.clone()).or_default() += 1;
            }
            let mut seen: Vec<&String> = run.flags.iter().collect();
            seen.sort();
            seen.dedup();
            for f in seen {
                *s.flags.entry(f.clone()).or_default() += 1;
            }
            let e = s.engines.entry(run.mode.to_string()).or_default();
            e.runs += 1;
            if run.flags.iter().any(|f| is_directive_flag(f)) {
                e.directive_violations += 1;
            }
            if run.mode != EngineMode::Manual
                && fell_back.get(&run.reflection_id).copied().unwrap_or(false)
            {
                e.fallbacks += 1;
            }
        }
        for f in batch
            .engine_feedback
            .iter()
            .filter(|f| inside(f.created_at))
        {
            *s.ratings.entry(f.rating).or_default() += 1;
        }
        durations.sort_unstable();
        if !durations.is_empty() {
            s.duration_ms_median = Some(durations[durations.len() / 2]);
            s.duration_ms_p90 =
                Some(durations[(durations.len() * 9 / 10).min(durations.len() - 1)]);
        }
        s
    }
}

/// Watches pattern and flag frequencies, violations and fallbacks per
/// engine, ratings and durations; raises a finding the moment a model run's
/// answer had to be refused for directives.
pub struct PerformanceObserver;

impl Observer for PerformanceObserver {
    fn name(&self) -> &'static str {
        "performance"
    }

    fn observe(&self, event: &Event, history: &History) -> Result<Vec<Finding>, String> {
        let Event::Reflected { run, .. } = event else {
            return Ok(Vec::new());
        };
        if !run.flags.iter().any(|f| is_directive_flag(f)) {
            return Ok(Vec::new());
        }
        let stats = Stats::from_history(&history.batch, history.now, 7);
        let e = stats
            .engines
            .get(&run.mode.to_string())
            .cloned()
            .unwrap_or_default();
        Ok(vec![Finding {
            key: format!("performance:directive:{}:{}", run.mode, day(history.now)),
            source: self.name().into(),
            summary: format!(
                "{} of {} {} run(s) in the last 7 days had an answer refused for directives",
                e.directive_violations, e.runs, run.mode
            ),
            data: json!({"engine": run.mode.to_string(), "runs": e.runs, "directive_violations": e.directive_violations, "fallbacks": e.fallbacks, "flags": run.flags}),
            recommendation: None,
        }])
    }
}

/// Notices a pattern or flag whose rate over the last 7 days moved far from
/// its rate over the 30 days before.
pub struct DriftObserver;

impl Observer for DriftObserver {
    fn name(&self) -> &'static str {
        "drift"
    }

    fn observe(&self, event: &Event, history: &History) -> Result<Vec<Finding>, String> {
        if !matches!(event, Event::Reflected { .. }) {
            return Ok(Vec::new());
        }
        let recent = Stats::from_history(&history.batch, history.now, 7);
        let earlier_now = Timestamp::from_micros(history.now.as_micros() - 7 * DAY_MICROS)
            .map_err(|e| e.to_string())?;
        let baseline = Stats::from_history(&history.batch, earlier_now, 30);
        if recent.runs < 10 || baseline.runs < 30 {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        let names: std::collections::BTreeSet<(&str, &String)> = recent
            .patterns
            .keys()
            .chain(baseline.patterns.keys())
            .map(|k| ("pattern", k))
            .chain(
                recent
                    .flags
                    .keys()
                    .chain(baseline.flags.keys())
                    .map(|k| ("flag", k)),
            )
            .collect();
        for (what, name) in names {
            let (r, b) = match what {
                "pattern" => (&recent.patterns, &baseline.patterns),
                _ => (&recent.flags, &baseline.flags),
            };
            let rr = *r.get(name).unwrap_or(&0) as f64 / recent.runs as f64;
            let br = *b.get(name).unwrap_or(&0) as f64 / baseline.runs as f64;
            // Far: at least 15 points, and beyond three standard errors of
            // the baseline rate.
            let se = (br * (1.0 - br) / recent.runs as f64).sqrt().max(1e-9);
            if (rr - br).abs() >= 0.15 && (rr - br).abs() > 3.0 * se {
                out.push(Finding {
                    key: format!("drift:{what}:{name}:{}", day(history.now)),
                    source: self.name().into(),
                    summary: format!(
                        "the {what} {name} appears in {:.0}% of runs this week, against {:.0}% in the 30 days before",
                        rr * 100.0,
                        br * 100.0
                    ),
                    data: json!({"kind": what, "name": name, "recent_permille": permille(rr), "baseline_permille": permille(br), "recent_runs": recent.runs, "baseline_runs": baseline.runs}),
                    recommendation: None,
                });
            }
        }
        Ok(out)
    }
}

/// A share as a whole number per thousand: findings become evidence in
/// commons records, whose canonical JSON has integers only.
fn permille(share: f64) -> i64 {
    (share * 1000.0).round() as i64
}

/// Turns the week's statistics into recommendations.
pub struct RecommendationCritic;

/// Above this share of a model's runs failing the directive threshold, a
/// prompt adjustment is suggested.
pub const DIRECTIVE_RATE_THRESHOLD: f64 = 0.05;

impl Critic for RecommendationCritic {
    fn name(&self) -> &'static str {
        "recommendations"
    }

    fn review(&self, stats: &Stats) -> Vec<Finding> {
        let mut out = Vec::new();
        for (engine, e) in &stats.engines {
            if engine == "manual" || e.runs < 5 {
                continue;
            }
            let rate = e.directive_violations as f64 / e.runs as f64;
            if rate > DIRECTIVE_RATE_THRESHOLD {
                out.push(Finding {
                    key: format!("critic:directive_rate:{engine}:{}", stats.days),
                    source: self.name().into(),
                    summary: format!(
                        "{:.0}% of {engine} runs ({} of {}) had answers refused for directives, above the {:.0}% line: a prompt adjustment may help",
                        rate * 100.0,
                        e.directive_violations,
                        e.runs,
                        DIRECTIVE_RATE_THRESHOLD * 100.0
                    ),
                    data: json!({"engine": engine, "runs": e.runs, "directive_violations": e.directive_violations, "rate_permille": permille(rate), "threshold_permille": permille(DIRECTIVE_RATE_THRESHOLD), "days": stats.days}),
                    recommendation: Some(Recommendation {
                        proposal_type: "prompt_adjustment".into(),
                        title: format!("Fewer directive answers from {engine}"),
                        // One more regeneration under the stricter prompt
                        // before the built-in mirror stands in.
                        increment: Some(("/thresholds/max_regenerations".into(), 1)),
                    }),
                });
            }
            let fallback = e.fallbacks as f64 / e.runs as f64;
            if fallback > 0.10 {
                out.push(Finding {
                    key: format!("critic:fallback_rate:{engine}:{}", stats.days),
                    source: self.name().into(),
                    summary: format!(
                        "the built-in mirror stood in for {engine} in {:.0}% of runs",
                        fallback * 100.0
                    ),
                    data: json!({"engine": engine, "runs": e.runs, "fallbacks": e.fallbacks, "rate_permille": permille(fallback)}),
                    recommendation: Some(Recommendation {
                        proposal_type: "prompt_adjustment".into(),
                        title: format!("Fewer fallbacks from {engine}"),
                        increment: None,
                    }),
                });
            }
        }
        let rated: u64 = stats.ratings.values().sum();
        if rated >= 5 {
            let mean = stats
                .ratings
                .iter()
                .map(|(r, n)| f64::from(*r) * *n as f64)
                .sum::<f64>()
                / rated as f64;
            if mean < 2.5 {
                out.push(Finding {
                    key: format!("critic:low_ratings:{}", stats.days),
                    source: self.name().into(),
                    summary: format!("mirrorbacks were rated {mean:.1} of 5 on average ({rated} ratings)"),
                    data: json!({"ratings": stats.ratings, "mean_tenths": (mean * 10.0).round() as i64}),
                    recommendation: None,
                });
            }
        }
        out
    }
}

/// One observer's answer: its name and its findings or why it failed.
pub type Answer = (&'static str, Result<Vec<Finding>, String>);

/// How [`Registry::notify_with`] waits: given the channel and the observers
/// not heard from yet, the next answer, or `None` to stop waiting.
pub type Wait<'a> = dyn FnMut(&mpsc::Receiver<Answer>, &[&'static str]) -> Option<Answer> + 'a;

/// The observers and critics a node runs.
pub struct Registry {
    observers: Vec<Arc<dyn Observer>>,
    critics: Vec<Box<dyn Critic>>,
    /// How long the pipeline waits for observers, in total.
    pub budget: Duration,
}

/// What one notification did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Notified {
    pub findings: Vec<Finding>,
    /// Observers that failed (error or panic), with why.
    pub failed: Vec<(String, String)>,
    /// Observers that did not answer within the budget.
    pub timed_out: Vec<String>,
}

impl Registry {
    /// The built-in observers whose names are in `enabled`, and the critic.
    pub fn enabled(enabled: &[String]) -> Registry {
        let mut r = Registry::builtin();
        r.observers
            .retain(|o| enabled.iter().any(|n| n == o.name()));
        r
    }

    /// The built-in observers and critic.
    pub fn builtin() -> Registry {
        Registry {
            observers: vec![Arc::new(PerformanceObserver), Arc::new(DriftObserver)],
            critics: vec![Box::new(RecommendationCritic)],
            budget: Duration::from_millis(500),
        }
    }

    pub fn new(
        observers: Vec<Arc<dyn Observer>>,
        critics: Vec<Box<dyn Critic>>,
        budget: Duration,
    ) -> Registry {
        Registry {
            observers,
            critics,
            budget,
        }
    }

    /// Run every observer on `event`, each on its own thread; collect what
    /// arrives within the budget. Never fails and never panics.
    pub fn notify(&self, event: &Event, history: Arc<History>) -> Notified {
        let deadline = std::time::Instant::now() + self.budget;
        self.notify_with(event, history, &mut |rx, _waiting_on| {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            rx.recv_timeout(left).ok()
        })
    }

    /// [`Registry::notify`] with the waiting injected: `wait` gets the
    /// channel and the observers not heard from yet, and returns the next
    /// answer or `None` to stop waiting. The node waits on the clock; a test
    /// can stop exactly when only the observer it holds back is left, so
    /// what it checks does not depend on how fast the machine is.
    pub fn notify_with(
        &self,
        event: &Event,
        history: Arc<History>,
        wait: &mut Wait<'_>,
    ) -> Notified {
        let (tx, rx) = mpsc::channel();
        for obs in &self.observers {
            let name = obs.name();
            let (worker, worker_tx, event, history) =
                (obs.clone(), tx.clone(), event.clone(), history.clone());
            let spawned = std::thread::Builder::new()
                .name(format!("observer-{name}"))
                .spawn(move || {
                    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        worker.observe(&event, &history)
                    }))
                    .unwrap_or_else(|_| Err("panicked".into()));
                    let _ = worker_tx.send((name, result));
                });
            if let Err(e) = spawned {
                let _ = tx.send((name, Err(format!("could not start: {e}"))));
            }
        }
        drop(tx);
        let mut out = Notified::default();
        let mut answered = Vec::new();
        while answered.len() < self.observers.len() {
            let waiting_on: Vec<&'static str> = self
                .observers
                .iter()
                .map(|o| o.name())
                .filter(|n| !answered.contains(n))
                .collect();
            match wait(&rx, &waiting_on) {
                Some((name, Ok(findings))) => {
                    answered.push(name);
                    out.findings.extend(findings);
                }
                Some((name, Err(why))) => {
                    answered.push(name);
                    tracing::warn!(observer = name, %why, "observer failed");
                    out.failed.push((name.to_string(), why));
                }
                None => break,
            }
        }
        for obs in &self.observers {
            if !answered.contains(&obs.name()) {
                tracing::warn!(observer = obs.name(), "observer too slow; not waited for");
                out.timed_out.push(obs.name().to_string());
            }
        }
        out
    }

    /// Every critic over `stats`.
    pub fn review(&self, stats: &Stats) -> Vec<Finding> {
        self.critics.iter().flat_map(|c| c.review(stats)).collect()
    }
}

/// Store findings not stored yet (by key); returns the events stored now
/// and the ones already there.
pub fn record_findings(
    store: &Store,
    findings: &[Finding],
) -> Result<Vec<EvolutionEvent>, crate::store::StoreError> {
    // Only the evolution table: findings are few, the journal is not.
    let existing = store.list::<EvolutionEvent>(usize::MAX)?;
    let mut out = Vec::new();
    for f in findings {
        if let Some(e) = existing.iter().find(|e| {
            e.kind == EvolutionEventKind::Finding
                && e.details.0.get("key").and_then(Value::as_str) == Some(&f.key)
        }) {
            out.push(e.clone());
            continue;
        }
        let details: Metadata =
            serde_json::from_value(serde_json::to_value(f).unwrap_or(Value::Null))
                .unwrap_or_default();
        let event = EvolutionEvent {
            id: Id::new(),
            kind: EvolutionEventKind::Finding,
            summary: f.summary.chars().take(2000).collect(),
            details,
            created_at: Timestamp::now(),
        };
        store.insert_evolution_event(&event)?;
        out.push(event);
    }
    Ok(out)
}

/// Run the observers after a reflection was stored: best effort, bounded,
/// never an error for the caller (the reflection is already safe).
pub fn after_reflection(store: &Store, enabled: &[String], event: Event) -> Notified {
    let registry = Registry::enabled(enabled);
    if registry.observers.is_empty() {
        return Notified::default();
    }
    let now = Timestamp::now();
    let from = Timestamp::from_micros(now.as_micros() - HISTORY_DAYS * DAY_MICROS).unwrap_or(now);
    let batch = match store.window(from, now) {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(error = %e, "evolution: history unreadable; observers skipped");
            return Notified::default();
        }
    };
    let history = Arc::new(History { batch, now });
    let notified = registry.notify(&event, history);
    if let Err(e) = record_findings(store, &notified.findings) {
        tracing::warn!(error = %e, "evolution: findings not stored");
    }
    notified
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fails;
    impl Observer for Fails {
        fn name(&self) -> &'static str {
            "fails"
        }
        fn observe(&self, _: &Event, _: &History) -> Result<Vec<Finding>, String> {
            Err("broken on purpose".into())
        }
    }

    struct Panics;
    impl Observer for Panics {
        fn name(&self) -> &'static str {
            "panics"
        }
        fn observe(&self, _: &Event, _: &History) -> Result<Vec<Finding>, String> {
            panic!("observer bug")
        }
    }

    /// Blocks until the test lets it go: a slow observer.
    struct Stuck(Arc<std::sync::Mutex<()>>);
    impl Observer for Stuck {
        fn name(&self) -> &'static str {
            "stuck"
        }
        fn observe(&self, _: &Event, _: &History) -> Result<Vec<Finding>, String> {
            let _held = self.0.lock().map_err(|e| e.to_string())?;
            Ok(Vec::new())
        }
    }

    struct Notices;
    impl Observer for Notices {
        fn name(&self) -> &'static str {
            "notices"
        }
        fn observe(&self, _: &Event, _: &History) -> Result<Vec<Finding>, String> {
            Ok(vec![Finding {
                key: "k".into(),
                source: "notices".into(),
                summary: "seen".into(),
                data: json!({}),
                recommendation: None,
            }])
        }
    }

    fn event() -> Event {
        Event::Feedback(EngineFeedback {
            id: Id::new(),
            run_id: Id::new(),
            rating: 4,
            flags: vec![],
            note: None,
            created_at: Timestamp::now(),
        })
    }

    #[test]
    fn failing_panicking_and_slow_observers_neither_block_nor_hide_the_others() {
        let gate = Arc::new(std::sync::Mutex::new(()));
        let held = gate.lock().unwrap();
        let registry = Registry::new(
            vec![
                Arc::new(Fails),
                Arc::new(Panics),
                Arc::new(Stuck(gate.clone())),
                Arc::new(Notices),
            ],
            vec![],
            Duration::from_millis(300),
        );
        let history = Arc::new(History {
            batch: Batch::default(),
            now: Timestamp::now(),
        });
        // Wait for every answer but the held-back one's, however long a
        // panicking observer's backtrace takes; then stop, as the budget
        // would.
        let out = registry.notify_with(&event(), history, &mut |rx, waiting_on| {
            if waiting_on == ["stuck"] {
                None
            } else {
                rx.recv().ok()
            }
        });
        drop(held);
        assert_eq!(out.findings.len(), 1);
        assert_eq!(out.timed_out, vec!["stuck".to_string()]);
        let failed: Vec<&str> = out.failed.iter().map(|(n, _)| n.as_str()).collect();
        assert!(
            failed.contains(&"fails") && failed.contains(&"panics"),
            "{failed:?}"
        );
    }

    #[test]
    fn the_critic_recommends_a_prompt_adjustment_above_five_percent() {
        let mut stats = Stats {
            days: 7,
            ..Stats::default()
        };
        stats.engines.insert(
            "ollama".into(),
            EngineStats {
                runs: 20,
                directive_violations: 1,
                fallbacks: 0,
            },
        );
        // 5% exactly: not above the line.
        assert!(RecommendationCritic.review(&stats).is_empty());
        stats
            .engines
            .get_mut("ollama")
            .unwrap()
            .directive_violations = 2;
        let found = RecommendationCritic.review(&stats);
        assert_eq!(found.len(), 1);
        let r = found[0].recommendation.as_ref().unwrap();
        assert_eq!(r.proposal_type, "prompt_adjustment");
        assert_eq!(
            r.increment,
            Some(("/thresholds/max_regenerations".into(), 1))
        );
    }
}
