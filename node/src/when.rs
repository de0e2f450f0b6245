//! Time as a person means it: in their time zone, in the words they use.
//!
//! The store keeps UTC microseconds; people live in a zone. Everything
//! shown is in the zone of the machine (or `time_zone` in config.toml, an
//! IANA name such as `Europe/Madrid`), and everything typed (`--at`,
//! `--since`, `--until`) is read in it, so an evening entry lands on its
//! own day and "since monday" means this person's Monday.
//!
//! Accepted: RFC 3339 with an offset (exact), `YYYY-MM-DD`,
//! `YYYY-MM-DD HH:MM[:SS]` or with a `T` (local), `now`, `today`,
//! `yesterday`, a weekday name (the most recent one before today), and
//! `-7d`, `-2w`, `-3h`, `-30m` (before now).

use jiff::civil::{Date, DateTime, Weekday};
use jiff::tz::TimeZone;
use jiff::{Span, ToSpan, Zoned};

use crate::model::Timestamp;

/// Which end of a day a day-word names: `--since yesterday` starts at its
/// midnight, `--until yesterday` ends at the next midnight (so yesterday is
/// included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edge {
    Start,
    End,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WhenError {
    #[error(
        "{0:?} is not a time this understands: try 2026-11-24, \"2026-11-24 21:30\", today, yesterday, monday, -7d or RFC 3339"
    )]
    Unreadable(String),
    #[error("unknown time zone {0:?} (an IANA name such as Europe/Madrid or America/New_York)")]
    UnknownZone(String),
    #[error("{0}: too far in the future or the past for a journal")]
    OutOfRange(String),
}

/// The zone to show and read times in: `configured` (an IANA name) or the
/// machine's, falling back to UTC when the machine does not say.
pub fn zone(configured: Option<&str>) -> Result<TimeZone, WhenError> {
    match configured {
        Some(name) => TimeZone::get(name).map_err(|_| WhenError::UnknownZone(name.to_string())),
        None => Ok(TimeZone::try_system().unwrap_or(TimeZone::UTC)),
    }
}

fn zoned(t: Timestamp, tz: &TimeZone) -> Zoned {
    jiff::Timestamp::from_microsecond(t.as_micros())
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .to_zoned(tz.clone())
}

/// `2026-11-24 21:30` in `tz`.
pub fn show(t: Timestamp, tz: &TimeZone) -> String {
    zoned(t, tz).strftime("%Y-%m-%d %H:%M").to_string()
}

/// The calendar day `t` falls on in `tz`.
pub fn day_of(t: Timestamp, tz: &TimeZone) -> Date {
    zoned(t, tz).date()
}

/// The instant a local date-time names in `tz` (the earlier one in a
/// repeated hour, the later in a skipped one, as clocks read).
pub fn at_local(dt: DateTime, tz: &TimeZone) -> Result<Timestamp, WhenError> {
    let z = dt
        .to_zoned(tz.clone())
        .map_err(|e| WhenError::OutOfRange(e.to_string()))?;
    Timestamp::from_micros(z.timestamp().as_microsecond())
        .map_err(|_| WhenError::OutOfRange(dt.to_string()))
}

/// Midnight starting `date` in `tz`.
pub fn start_of(date: Date, tz: &TimeZone) -> Result<Timestamp, WhenError> {
    at_local(date.to_datetime(jiff::civil::Time::midnight()), tz)
}

fn day_edge(date: Date, edge: Edge, tz: &TimeZone) -> Result<Timestamp, WhenError> {
    match edge {
        Edge::Start => start_of(date, tz),
        Edge::End => start_of(
            date.tomorrow()
                .map_err(|e| WhenError::OutOfRange(e.to_string()))?,
            tz,
        ),
    }
}

fn weekday(word: &str) -> Option<Weekday> {
    Some(match word {
        "monday" | "mon" => Weekday::Monday,
        "tuesday" | "tue" | "tues" => Weekday::Tuesday,
        "wednesday" | "wed" => Weekday::Wednesday,
        "thursday" | "thu" | "thurs" => Weekday::Thursday,
        "friday" | "fri" => Weekday::Friday,
        "saturday" | "sat" => Weekday::Saturday,
        "sunday" | "sun" => Weekday::Sunday,
        _ => return None,
    })
}

/// `-7d`, `-2w`, `-3h`, `-30m`.
fn relative(text: &str) -> Option<Span> {
    let rest = text.strip_prefix('-')?;
    let unit = rest.chars().last()?;
    let n: i64 = rest[..rest.len() - unit.len_utf8()].parse().ok()?;
    if !(0..=100_000).contains(&n) {
        return None;
    }
    Some(match unit {
        'd' => n.days(),
        'w' => n.weeks(),
        'h' => n.hours(),
        'm' => n.minutes(),
        _ => return None,
    })
}

/// What a person typed, read in `tz` relative to `now`.
pub fn parse(
    text: &str,
    tz: &TimeZone,
    now: Timestamp,
    edge: Edge,
) -> Result<Timestamp, WhenError> {
    read(text, tz, now, edge).map_err(|e| match e {
        WhenError::OutOfRange(_) => WhenError::OutOfRange(text.chars().take(64).collect()),
        other => other,
    })
}

fn read(text: &str, tz: &TimeZone, now: Timestamp, edge: Edge) -> Result<Timestamp, WhenError> {
    let unreadable = || WhenError::Unreadable(text.chars().take(64).collect());
    let word = text.trim().to_lowercase();
    let now_zoned = zoned(now, tz);
    let today = now_zoned.date();
    if word == "now" {
        return Ok(now);
    }
    if word == "today" {
        return day_edge(today, edge, tz);
    }
    if word == "yesterday" {
        let d = today
            .yesterday()
            .map_err(|e| WhenError::OutOfRange(e.to_string()))?;
        return day_edge(d, edge, tz);
    }
    if let Some(w) = weekday(&word) {
        // The most recent such day before today: "monday" on a Monday is a
        // week ago, as in "last monday".
        let mut d = today;
        loop {
            d = d
                .yesterday()
                .map_err(|e| WhenError::OutOfRange(e.to_string()))?;
            if d.weekday() == w {
                return day_edge(d, edge, tz);
            }
        }
    }
    if let Some(span) = relative(&word) {
        let then = now_zoned
            .checked_sub(span)
            .map_err(|e| WhenError::OutOfRange(e.to_string()))?;
        return Timestamp::from_micros(then.timestamp().as_microsecond())
            .map_err(|_| WhenError::OutOfRange(text.to_string()));
    }
    // An instant with its own offset is exact.
    if let Ok(ts) = text.trim().parse::<jiff::Timestamp>() {
        return Timestamp::from_micros(ts.as_microsecond()).map_err(|_| unreadable());
    }
    if let Ok(date) = text.trim().parse::<Date>()
        && text.trim().len() == 10
    {
        return day_edge(date, edge, tz);
    }
    let normalised = text.trim().replacen(' ', "T", 1);
    if let Ok(dt) = normalised.parse::<DateTime>() {
        return at_local(dt, tz);
    }
    Err(unreadable())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn madrid() -> TimeZone {
        TimeZone::get("Europe/Madrid").unwrap()
    }

    /// 2026-11-25 (a Wednesday) 09:00 in Madrid, 08:00 UTC.
    fn now() -> Timestamp {
        Timestamp::from_micros(
            "2026-11-25T08:00:00Z"
                .parse::<jiff::Timestamp>()
                .unwrap()
                .as_microsecond(),
        )
        .unwrap()
    }

    fn utc(text: &str) -> Timestamp {
        Timestamp::from_micros(text.parse::<jiff::Timestamp>().unwrap().as_microsecond()).unwrap()
    }

    #[test]
    fn an_evening_entry_lands_on_its_own_day() {
        // 23:30 in Madrid on the 24th is the 24th there, the 24th in UTC
        // at 22:30; half past midnight on the 25th there is still the 24th
        // in UTC.
        let t = parse("2026-11-25 00:30", &madrid(), now(), Edge::Start).unwrap();
        assert_eq!(t, utc("2026-11-24T23:30:00Z"));
        assert_eq!(show(t, &madrid()), "2026-11-25 00:30");
        assert_eq!(day_of(t, &madrid()).to_string(), "2026-11-25");
        assert_eq!(day_of(t, &TimeZone::UTC).to_string(), "2026-11-24");
    }

    #[test]
    fn words_and_dates_are_read_in_the_zone() {
        let tz = madrid();
        let p = |s: &str, e: Edge| parse(s, &tz, now(), e).unwrap();
        assert_eq!(p("today", Edge::Start), utc("2026-11-24T23:00:00Z"));
        assert_eq!(p("today", Edge::End), utc("2026-11-25T23:00:00Z"));
        assert_eq!(p("yesterday", Edge::Start), utc("2026-11-23T23:00:00Z"));
        assert_eq!(p("yesterday", Edge::End), utc("2026-11-24T23:00:00Z"));
        // Wednesday now: monday is two days ago, wednesday a week ago.
        assert_eq!(p("Monday", Edge::Start), utc("2026-11-22T23:00:00Z"));
        assert_eq!(p("wed", Edge::Start), utc("2026-11-17T23:00:00Z"));
        assert_eq!(p("-7d", Edge::Start), utc("2026-11-18T08:00:00Z"));
        assert_eq!(p("-3h", Edge::Start), utc("2026-11-25T05:00:00Z"));
        assert_eq!(p("2026-11-01", Edge::Start), utc("2026-10-31T23:00:00Z"));
        assert_eq!(p("2026-07-01", Edge::Start), utc("2026-06-30T22:00:00Z"));
        assert_eq!(
            p("2026-11-01T10:00", Edge::Start),
            utc("2026-11-01T09:00:00Z")
        );
        assert_eq!(
            p("2026-11-01T10:00:00Z", Edge::Start),
            utc("2026-11-01T10:00:00Z")
        );
        assert_eq!(p("now", Edge::End), now());
        for bad in ["tomorrow-ish", "-7x", "2026-13-01", "", "--7d"] {
            assert!(parse(bad, &tz, now(), Edge::Start).is_err(), "{bad}");
        }
    }

    #[test]
    fn zones_by_name_or_the_machine() {
        assert!(zone(Some("America/New_York")).is_ok());
        assert_eq!(
            zone(Some("Mars/Olympus")).unwrap_err(),
            WhenError::UnknownZone("Mars/Olympus".into())
        );
        assert!(zone(None).is_ok());
    }
}
