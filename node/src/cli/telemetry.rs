//! `mirror telemetry …` (what this node shares, with consent) and
//! `mirror commons telemetry` (what the commons learned from everyone).

use std::fmt::Write as _;

use mirror_commons::record::Kind;
use mirror_governance::payload::{self, TelemetryPacket};
use serde_json::{Value, json};

use super::{Context, Output};
use crate::daemon;
use crate::model::ConsentCategory;
use crate::telemetry;

#[derive(Debug, clap::Subcommand)]
pub enum TelemetryCommand {
    /// The exact bytes the next packet will carry (prepared once per period)
    Preview,
    /// Send the packet that is due now, if consent allows and one is due
    Send,
    /// The privacy budget per metric: spent, left
    Budget,
    /// Every packet this node sent, as sent
    Log,
}

pub fn telemetry_cmd(ctx: &Context, cmd: &TelemetryCommand) -> anyhow::Result<Output> {
    let registry = ctx.home.engine_params()?.telemetry;
    match cmd {
        TelemetryCommand::Preview => {
            let store = ctx.store()?;
            if !store.consent_granted(ConsentCategory::Telemetry)? {
                return Output::new(
                    json!({"consent": false, "pending": null}),
                    "telemetry consent is off: nothing is measured, prepared or sent (`mirror consent grant telemetry` allows it)",
                );
            }
            match telemetry::prepare(&ctx.home, &store, &registry, daemon::now_ms())? {
                Some(p) => {
                    let record: Value = serde_json::from_str(&p.record)?;
                    let text = format!(
                        "the packet for period {} ({} bytes), exactly as it will be sent:\n{}",
                        p.period,
                        p.record.len(),
                        p.record
                    );
                    Output::new(
                        json!({"consent": true, "pending": p, "record": record}),
                        text,
                    )
                }
                None => Output::new(
                    json!({"consent": true, "pending": null}),
                    "nothing is due: the last period was reported, or there is nothing to report",
                ),
            }
        }
        TelemetryCommand::Send => {
            let store = ctx.store()?;
            let Some(p) = telemetry::prepare(&ctx.home, &store, &registry, daemon::now_ms())?
            else {
                let why = if store.consent_granted(ConsentCategory::Telemetry)? {
                    "nothing is due"
                } else {
                    "telemetry consent is off; nothing was sent"
                };
                return Output::new(json!({"sent": false}), why);
            };
            let running = daemon::find(&ctx.home);
            let destination = if running.is_some() {
                "commons (gossip)"
            } else {
                "commons (local store)"
            };
            telemetry::log_departure(&ctx.home, &store, &p, destination)?;
            drop(store);
            let (id, how) = super::governance::publish_bytes(ctx, p.record.as_bytes())?;
            telemetry::mark_sent(&ctx.home, &registry, &p)?;
            Output::new(
                json!({"sent": true, "id": id, "period": p.period}),
                format!("sent the packet for period {}: record {id} {how}", p.period),
            )
        }
        TelemetryCommand::Budget => {
            let st = telemetry::state(&ctx.home)?;
            let mut rows = Vec::new();
            let mut text =
                String::from("metric                          ε/report  spent   budget  left\n");
            for spec in &registry.metrics {
                let spent = st.ledger.spent.get(&spec.name).copied().unwrap_or(0.0);
                let left = (spec.budget - spent).max(0.0);
                let _ = writeln!(
                    text,
                    "{:<31} {:>6.2}  {:>6.2}  {:>6.2}  {:>5.2}{}",
                    spec.name,
                    spec.epsilon,
                    spent,
                    spec.budget,
                    left,
                    if st.ledger.can_spend(spec) {
                        ""
                    } else {
                        "  (spent: no longer reported)"
                    }
                );
                rows.push(json!({"metric": spec.name, "epsilon": spec.epsilon, "spent": spent, "budget": spec.budget, "left": left, "reporting": st.ledger.can_spend(spec)}));
            }
            Output::new(
                json!({"metrics": rows, "last_period": st.last_period}),
                text.trim_end().to_string(),
            )
        }
        TelemetryCommand::Log => {
            let lines = telemetry::sent_log(&ctx.home)?;
            let records: Vec<Value> = lines
                .iter()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect();
            let text = if lines.is_empty() {
                "no packet has been sent".to_string()
            } else {
                lines.join("\n")
            };
            Output::new(json!({ "packets": records }), text)
        }
    }
}

/// `mirror commons telemetry`: the aggregate of the newest period any
/// packet reports (or `period`), each packet judged against the registry
/// version it declares (see [`telemetry::aggregate_period`]).
pub fn commons_telemetry(ctx: &Context, period: Option<u64>) -> anyhow::Result<Output> {
    let in_force = ctx.home.engine_params()?.telemetry;
    let registries = telemetry::known_registries(&ctx.home)?;
    let packets: Vec<TelemetryPacket> =
        super::governance::accepted_records(ctx, Some(Kind::TelemetryPacket))?
            .iter()
            .filter_map(|r| payload::parse::<TelemetryPacket>(&r.payload).ok())
            .collect();
    let Some(period) = period.or_else(|| packets.iter().map(|p| p.period).max()) else {
        return Output::new(
            json!({"period": null, "metrics": []}),
            "no telemetry packets in the commons",
        );
    };
    let of_period: Vec<TelemetryPacket> =
        packets.into_iter().filter(|p| p.period == period).collect();
    let agg = telemetry::aggregate_period(&registries, &in_force, &of_period);
    let estimates = &agg.metrics;
    let mut text = format!(
        "period {period}: {} packet(s), counted under registry version {}; released from {} packets on\n",
        of_period.len(),
        agg.registry_version,
        agg.min_packets
    );
    for (version, n) in &agg.uncounted {
        let _ = writeln!(
            text,
            "{n} packet(s) of registry version {version} not counted here"
        );
    }
    for e in estimates {
        if !e.released {
            let _ = writeln!(text, "{:<30} withheld ({} packet(s))", e.name, e.packets);
            continue;
        }
        let values: Vec<String> = e
            .value
            .iter()
            .zip(e.low.iter().zip(&e.high))
            .map(|(v, (l, h))| format!("{v:.3} [{l:.3}, {h:.3}]"))
            .collect();
        let _ = writeln!(text, "{:<30} {}", e.name, values.join("  "));
    }
    Output::new(
        json!({
            "period": period,
            "packets": of_period.len(),
            "registry_version": agg.registry_version,
            "uncounted": agg.uncounted,
            "metrics": estimates,
        }),
        text.trim_end().to_string(),
    )
}
