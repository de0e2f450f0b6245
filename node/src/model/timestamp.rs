//! Timestamps: microseconds since the Unix epoch, UTC.
//!
//! Stored as an `i64` (compact, and orderable as an index key), shown and
//! exported as RFC 3339 so bundles stay readable without Mirror.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, SecondsFormat, TimeZone, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::ValidationError;

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    /// Earliest accepted instant (1970-01-01) and latest (9999-12-31): every
    /// value in between renders as RFC 3339 and round-trips.
    pub const MIN: Timestamp = Timestamp(0);
    pub const MAX: Timestamp = Timestamp(253_402_300_799_999_999);

    pub fn now() -> Self {
        Timestamp(Utc::now().timestamp_micros())
    }

    pub fn from_micros(micros: i64) -> Result<Self, ValidationError> {
        if (Self::MIN.0..=Self::MAX.0).contains(&micros) {
            Ok(Timestamp(micros))
        } else {
            Err(ValidationError::InvalidTimestamp {
                value: micros.to_string(),
            })
        }
    }

    /// How far ahead of this machine's clock a time from outside (a bundle's
    /// record, `--at`) may be. Last-writer-wins merges trust `updated_at`, so
    /// a time far in the future would win every merge for good; a day covers
    /// clocks that disagree and a bare date typed east of UTC.
    pub const MAX_FUTURE_SKEW_MICROS: i64 = 24 * 3600 * 1_000_000;

    /// Refuse a time more than [`Self::MAX_FUTURE_SKEW_MICROS`] after `now`,
    /// naming the field it came from.
    pub fn check_not_future(
        self,
        field: &'static str,
        now: Timestamp,
    ) -> Result<(), ValidationError> {
        let limit = now.0.saturating_add(Self::MAX_FUTURE_SKEW_MICROS);
        if self.0 > limit {
            return Err(ValidationError::Invalid {
                field,
                reason: format!(
                    "{self} is in the future (this machine's clock says {now}); times more than a day ahead are refused"
                ),
            });
        }
        Ok(())
    }

    pub fn as_micros(self) -> i64 {
        self.0
    }

    pub fn to_datetime(self) -> DateTime<Utc> {
        // In range by construction (MIN..=MAX), so the fallback never fires.
        Utc.timestamp_micros(self.0).single().unwrap_or_default()
    }

    /// `YYYY-MM-DD` of the instant, in UTC: how bundles group reflections.
    pub fn day(self) -> String {
        self.to_datetime().format("%Y-%m-%d").to_string()
    }

    /// Parse RFC 3339, or a bare `YYYY-MM-DD` (midnight UTC), as people type
    /// on the command line.
    pub fn parse_flexible(text: &str) -> Result<Self, ValidationError> {
        let text = text.trim();
        let invalid = || ValidationError::InvalidTimestamp {
            value: text.chars().take(64).collect(),
        };
        let micros = if let Ok(dt) = DateTime::parse_from_rfc3339(text) {
            dt.timestamp_micros()
        } else if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
            date.and_hms_opt(0, 0, 0)
                .ok_or_else(invalid)?
                .and_utc()
                .timestamp_micros()
        } else {
            return Err(invalid());
        };
        Self::from_micros(micros).map_err(|_| invalid())
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            &self
                .to_datetime()
                .to_rfc3339_opts(SecondsFormat::Micros, true),
        )
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for Timestamp {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse_flexible(s)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.collect_str(self)
        } else {
            serializer.serialize_i64(self.0)
        }
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let text = String::deserialize(deserializer)?;
            // Bundles carry full RFC 3339; a bare date is a CLI convenience.
            let dt = DateTime::parse_from_rfc3339(&text).map_err(|_| {
                serde::de::Error::custom(ValidationError::InvalidTimestamp {
                    value: text.chars().take(64).collect(),
                })
            })?;
            Timestamp::from_micros(dt.timestamp_micros()).map_err(serde::de::Error::custom)
        } else {
            Timestamp::from_micros(i64::deserialize(deserializer)?)
                .map_err(serde::de::Error::custom)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_rfc3339() {
        let now = Timestamp::now();
        assert_eq!(now.to_string().parse::<Timestamp>().unwrap(), now);
        assert_eq!(
            Timestamp::parse_flexible("2026-01-02").unwrap().to_string(),
            "2026-01-02T00:00:00.000000Z"
        );
    }

    #[test]
    fn rejects_out_of_range_and_garbage() {
        assert!(Timestamp::from_micros(-1).is_err());
        assert!("yesterday".parse::<Timestamp>().is_err());
    }
}
