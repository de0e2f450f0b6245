//! Looking back over a journal: the same day in earlier years, how the
//! writing went (entries per week, words, streaks) and what the engine
//! noticed over time. About the person, not the engine (`mirror evolution
//! report` is about the engine).
//!
//! Every read is a time-range query on the store's time index (and the
//! window of engine runs), so the cost follows what is shown, not the size
//! of the journal.

use std::collections::BTreeMap;

use jiff::ToSpan;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde::Serialize;

use crate::model::{Reflection, Timestamp};
use crate::store::{ReflectionQuery, Store, StoreError};
use crate::when;

/// Entries on one earlier day.
#[derive(Debug, Clone, Serialize)]
pub struct EarlierDay {
    /// "1 year ago", "a month ago".
    pub label: String,
    pub date: String,
    pub reflections: Vec<Reflection>,
}

fn day_query(date: Date, tz: &TimeZone, limit: usize) -> Result<ReflectionQuery, StoreError> {
    let range = |d: Date| when::start_of(d, tz).map_err(|e| StoreError::Conflict(e.to_string()));
    Ok(ReflectionQuery {
        since: Some(range(date)?),
        until: Some(range(
            date.tomorrow()
                .map_err(|e| StoreError::Conflict(e.to_string()))?,
        )?),
        limit,
        oldest_first: true,
        ..ReflectionQuery::default()
    })
}

/// `today` a month ago and in each earlier year back to the oldest entry
/// (a 29 February falls back to the 28th), only days with entries.
pub fn on_this_day(
    store: &Store,
    today: Date,
    tz: &TimeZone,
) -> Result<Vec<EarlierDay>, StoreError> {
    let oldest = store
        .reflections(&ReflectionQuery {
            limit: 1,
            oldest_first: true,
            ..ReflectionQuery::default()
        })?
        .first()
        .map(|r| when::day_of(r.created_at, tz));
    let Some(oldest) = oldest else {
        return Ok(Vec::new());
    };
    let mut days: Vec<(String, Date)> = Vec::new();
    if let Ok(d) = today.checked_sub(1.month()) {
        days.push(("a month ago".into(), d));
    }
    for years in 1..=200i16 {
        let Ok(d) = today.checked_sub(years.years()) else {
            break;
        };
        if d < oldest {
            break;
        }
        let label = if years == 1 {
            "1 year ago".to_string()
        } else {
            format!("{years} years ago")
        };
        days.push((label, d));
    }
    let mut out = Vec::new();
    for (label, date) in days {
        let reflections = store.reflections(&day_query(date, tz, 50)?)?;
        if !reflections.is_empty() {
            out.push(EarlierDay {
                label,
                date: date.to_string(),
                reflections,
            });
        }
    }
    Ok(out)
}

/// How the writing went over a span of weeks.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Insights {
    pub since: String,
    pub until: String,
    pub entries: u64,
    pub words: u64,
    /// Monday of each week → entries that week (every week in the span).
    pub per_week: BTreeMap<String, u64>,
    /// Days in a row with an entry, ending today (or yesterday).
    pub current_streak_days: u64,
    pub longest_streak_days: u64,
    pub days_written: u64,
    /// Pattern → runs that noticed it, per week.
    pub patterns: BTreeMap<String, BTreeMap<String, u64>>,
    /// Tension name → evidence recorded in the span.
    pub tensions: BTreeMap<String, u64>,
}

fn monday_of(d: Date) -> Date {
    let back = i64::from(d.weekday().to_monday_zero_offset());
    d.checked_sub(back.days()).unwrap_or(d)
}

/// Insights from `since` to `now`.
pub fn insights(
    store: &Store,
    since: Timestamp,
    now: Timestamp,
    tz: &TimeZone,
) -> Result<Insights, StoreError> {
    let reflections = store.reflections(&ReflectionQuery {
        since: Some(since),
        until: Some(now),
        limit: usize::MAX,
        oldest_first: true,
        ..ReflectionQuery::default()
    })?;
    let first_day = when::day_of(since, tz);
    let today = when::day_of(now, tz);
    let mut out = Insights {
        since: first_day.to_string(),
        until: today.to_string(),
        ..Insights::default()
    };
    // Every week of the span, so a quiet week shows as a zero.
    let mut week = monday_of(first_day);
    while week <= today {
        out.per_week.insert(week.to_string(), 0);
        match week.checked_add(1.week()) {
            Ok(next) => week = next,
            Err(_) => break,
        }
    }
    let mut days = std::collections::BTreeSet::new();
    for r in &reflections {
        out.entries += 1;
        out.words += r.content.split_whitespace().count() as u64;
        let day = when::day_of(r.created_at, tz);
        days.insert(day);
        *out.per_week.entry(monday_of(day).to_string()).or_default() += 1;
    }
    out.days_written = days.len() as u64;
    // Streaks over the days written.
    let mut run = 0u64;
    let mut previous: Option<Date> = None;
    for d in &days {
        run = match previous {
            Some(p) if p.tomorrow().ok() == Some(*d) => run + 1,
            _ => 1,
        };
        out.longest_streak_days = out.longest_streak_days.max(run);
        previous = Some(*d);
    }
    let yesterday = today.yesterday().ok();
    if previous == Some(today) || previous == yesterday {
        out.current_streak_days = run;
    }
    // What the engine noticed, from the runs made in the span.
    let window = store.window(since, now)?;
    for run in &window.engine_runs {
        if run.created_at < since || run.created_at > now {
            continue;
        }
        let week = monday_of(when::day_of(run.created_at, tz)).to_string();
        for p in &run.patterns {
            *out.patterns
                .entry(p.clone())
                .or_default()
                .entry(week.clone())
                .or_default() += 1;
        }
    }
    for (tension, n) in store.evidence_counts_between(since, now)? {
        out.tensions.insert(tension, n);
    }
    Ok(out)
}

/// A compact chart of counts: one block per value, ▁ to █.
pub fn sparkline(values: &[u64]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let max = values.iter().copied().max().unwrap_or(0);
    values
        .iter()
        .map(|v| {
            if max == 0 || *v == 0 {
                ' '
            } else {
                BARS[((*v * 7) / max) as usize]
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparkline_scales_to_the_largest() {
        assert_eq!(sparkline(&[0, 1, 7, 14]), " ▁▄█");
        assert_eq!(sparkline(&[]), "");
    }

    #[test]
    fn weeks_start_on_monday() {
        let d: Date = "2026-11-26".parse().unwrap(); // a Thursday
        assert_eq!(monday_of(d).to_string(), "2026-11-23");
        assert_eq!(
            monday_of("2026-11-23".parse().unwrap()).to_string(),
            "2026-11-23"
        );
    }
}
