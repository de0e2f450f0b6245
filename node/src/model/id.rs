//! Record identifiers: UUIDv7, so ids sort by creation time.
//!
//! Time-ordered ids let the store list "newest first" by walking a primary
//! key backwards, and keep redb's B-tree inserts append-mostly.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

use super::ValidationError;

/// A time-ordered record id (UUIDv7).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Id(Uuid);

impl Id {
    /// A fresh id, ordered after every id this process made before.
    pub fn new() -> Self {
        Id(Uuid::now_v7())
    }

    /// The id as a big-endian integer: the store's key type, which keeps the
    /// UUID's byte order (and so its time order).
    pub fn as_u128(self) -> u128 {
        self.0.as_u128()
    }

    pub fn from_u128(value: u128) -> Self {
        Id(Uuid::from_u128(value))
    }

    /// Milliseconds since the Unix epoch encoded in the id.
    pub fn unix_millis(self) -> Option<u64> {
        self.0.get_timestamp().map(|ts| {
            let (secs, nanos) = ts.to_unix();
            secs * 1000 + u64::from(nanos) / 1_000_000
        })
    }

    /// The last eight hex digits, for people reading a list. (The leading
    /// digits of a UUIDv7 are its timestamp, alike for ids made together;
    /// the tail is random.) `Store::resolve` accepts them back.
    pub fn short(self) -> String {
        self.0.simple().to_string()[24..].to_string()
    }
}

impl Default for Id {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Id({})", self.0.hyphenated())
    }
}

impl FromStr for Id {
    type Err = ValidationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let uuid = Uuid::try_parse(s.trim()).map_err(|_| ValidationError::InvalidId {
            value: s.chars().take(64).collect(),
        })?;
        if uuid.get_version_num() != 7 {
            return Err(ValidationError::InvalidId {
                value: s.chars().take(64).collect(),
            });
        }
        Ok(Id(uuid))
    }
}

// Human-readable formats (JSON bundles) carry the hyphenated string; binary
// formats (the store) carry the 16 bytes.
impl Serialize for Id {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.collect_str(self)
        } else {
            serializer.serialize_u128(self.as_u128())
        }
    }
}

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let text = String::deserialize(deserializer)?;
            text.parse().map_err(serde::de::Error::custom)
        } else {
            Ok(Id::from_u128(u128::deserialize(deserializer)?))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_time_ordered_and_round_trip() {
        let a = Id::new();
        let b = Id::new();
        assert!(a < b);
        assert!(a.as_u128() < b.as_u128());
        assert_eq!(a.to_string().parse::<Id>().unwrap(), a);
        assert_eq!(Id::from_u128(a.as_u128()), a);
    }

    #[test]
    fn non_v7_and_garbage_ids_are_rejected() {
        assert!("not-an-id".parse::<Id>().is_err());
        assert!(
            "00000000-0000-4000-8000-000000000000"
                .parse::<Id>()
                .is_err()
        );
    }
}
