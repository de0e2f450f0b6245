//! `on-this-day` and `insights`.

use std::fmt::Write as _;

use serde_json::json;

use super::render::{self, Output};
use super::{Context, UsageError};
use crate::model::Timestamp;
use crate::when::{self, Edge};

pub fn on_this_day(ctx: &Context) -> anyhow::Result<Output> {
    let store = ctx.store_read()?;
    let tz = render::zone();
    let today = when::day_of(Timestamp::now(), tz);
    let days = crate::lookback::on_this_day(&store, today, tz)?;
    let mut text = String::new();
    for day in &days {
        let _ = writeln!(text, "── {} ({}) ──", day.label, day.date);
        for r in &day.reflections {
            let _ = writeln!(text, "{}", render::reflection_line(r));
        }
        text.push('\n');
    }
    if text.is_empty() {
        text = format!(
            "Nothing written on a {} before, nor a month ago.",
            today.strftime("%B %-d")
        );
    }
    Output::new(
        json!({"today": today.to_string(), "days": days}),
        text.trim_end().to_string(),
    )
}

pub fn insights(ctx: &Context, since: Option<&str>) -> anyhow::Result<Output> {
    let store = ctx.store_read()?;
    let tz = render::zone();
    let now = Timestamp::now();
    let since = match since {
        Some(text) => ctx.time(text, Edge::Start)?,
        None => ctx.time("-12w", Edge::Start)?,
    };
    if since > now {
        return Err(UsageError("--since is in the future".into()).into());
    }
    let i = crate::lookback::insights(&store, since, now, tz)?;
    let weeks: Vec<u64> = i.per_week.values().copied().collect();
    let mut text = format!(
        "{} to {}: {} entr{} on {} day(s), {} words\n",
        i.since,
        i.until,
        i.entries,
        if i.entries == 1 { "y" } else { "ies" },
        i.days_written,
        i.words
    );
    let _ = writeln!(
        text,
        "per week   |{}|  (from {}, most {})",
        crate::lookback::sparkline(&weeks),
        i.per_week.keys().next().map(String::as_str).unwrap_or(""),
        weeks.iter().max().copied().unwrap_or(0)
    );
    let _ = writeln!(
        text,
        "streak     {} day(s) now, {} at the longest",
        i.current_streak_days, i.longest_streak_days
    );
    if !i.patterns.is_empty() {
        text.push_str("patterns\n");
        let mut by_total: Vec<(&String, u64, Vec<u64>)> = i
            .patterns
            .iter()
            .map(|(name, per)| {
                let series: Vec<u64> = i
                    .per_week
                    .keys()
                    .map(|w| per.get(w).copied().unwrap_or(0))
                    .collect();
                (name, per.values().sum(), series)
            })
            .collect();
        by_total.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        for (name, total, series) in by_total.iter().take(8) {
            let _ = writeln!(
                text,
                "  {:<22} |{}| {total}",
                name.replace('_', " "),
                crate::lookback::sparkline(series)
            );
        }
    }
    if !i.tensions.is_empty() {
        text.push_str("tensions\n");
        for (name, n) in &i.tensions {
            let _ = writeln!(text, "  {name:<22} {n} time(s)");
        }
    }
    Output::new(json!({ "insights": i }), text.trim_end().to_string())
}
