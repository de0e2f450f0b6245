//! The local data model: every kind of record a personal node keeps.
//!
//! Records are plain data with a `validate` method. Validation happens at
//! every entrance (CLI, bundle import, store writes), and its errors name
//! the field and, for closed sets, the allowed values, so a person (or a
//! script) knows exactly what to fix.

mod enums;
mod id;
mod records;
pub mod tags;
mod timestamp;

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer, de::DeserializeOwned};

pub use enums::*;
pub use id::Id;
pub use records::*;
pub use timestamp::Timestamp;

/// Why a value was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ValidationError {
    #[error("invalid value {value:?} for {field}: expected one of {}", allowed.join(", "))]
    InvalidValue {
        field: &'static str,
        value: String,
        allowed: &'static [&'static str],
    },
    #[error("{field} must be between {min} and {max}, got {value}")]
    OutOfRange {
        field: &'static str,
        value: f64,
        min: f64,
        max: f64,
    },
    #[error("{field} must not be empty")]
    Empty { field: &'static str },
    #[error("{field} is too long: {len} characters, at most {max} allowed")]
    TooLong {
        field: &'static str,
        len: usize,
        max: usize,
    },
    #[error(
        "invalid id {value:?}: expected a Mirror id (a UUIDv7 such as 01936d8a-7c3e-7b4a-9f1e-2c5d6e7f8a9b)"
    )]
    InvalidId { value: String },
    #[error(
        "invalid timestamp {value:?}: expected RFC 3339 (2026-11-24T10:00:00Z) or a date (2026-11-24)"
    )]
    InvalidTimestamp { value: String },
    #[error(
        "invalid {field} {value:?}: expected lowercase letters, digits and underscores, starting with a letter (at most 64)"
    )]
    InvalidName { field: &'static str, value: String },
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
}

/// A kind of record the store keeps and bundles carry.
pub trait Record: Serialize + DeserializeOwned + Clone + PartialEq + fmt::Debug {
    /// Table name in the store, and file stem (`data/<TABLE>.jsonl`) in bundles.
    const TABLE: &'static str;
    /// Version of this record's shape. Stored as the first byte of every
    /// value so a later release can still read (and upgrade) older values.
    const VERSION: u8;

    fn validate(&self) -> Result<(), ValidationError>;
}

/// A record with its own id (all but consent settings and thread membership).
pub trait Keyed: Record {
    fn id(&self) -> Id;
}

/// Largest reflection the node accepts, in characters.
pub const MAX_CONTENT_CHARS: usize = 1024 * 1024;
/// Largest mirrorback text the store keeps, in characters.
pub const MAX_MIRRORBACK_CHARS: usize = 64 * 1024;

/// `text` cut to at most `max` bytes on a character boundary, ending in an
/// ellipsis when cut: for text the node makes itself (a mirrorback quoting a
/// very long reflection) that must still fit its record.
pub fn fit_text(mut text: String, max: usize) -> String {
    if text.len() <= max {
        return text;
    }
    let mut end = max.saturating_sub('…'.len_utf8());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text.push('…');
    text
}

/// Largest metadata object, serialised.
pub const MAX_METADATA_BYTES: usize = 64 * 1024;

/// Text that is not blank (`char::is_whitespace`, Unicode's White_Space)
/// and at most `max` characters (Unicode scalar values, as JSON Schema's
/// `maxLength` counts them, so `schemas/bundle/` states the same limits).
pub fn check_text(field: &'static str, value: &str, max: usize) -> Result<(), ValidationError> {
    if value.trim().is_empty() {
        return Err(ValidationError::Empty { field });
    }
    let len = value.chars().count();
    if len > max {
        return Err(ValidationError::TooLong { field, len, max });
    }
    Ok(())
}

pub fn check_range(
    field: &'static str,
    value: f64,
    min: f64,
    max: f64,
) -> Result<(), ValidationError> {
    // NaN fails both comparisons, so it is rejected here too.
    if value >= min && value <= max {
        Ok(())
    } else {
        Err(ValidationError::OutOfRange {
            field,
            value,
            min,
            max,
        })
    }
}

/// Names chosen by code or by people for patterns, flags and axes:
/// `[a-z][a-z0-9_]{0,63}`.
pub fn check_name(field: &'static str, value: &str) -> Result<(), ValidationError> {
    let mut chars = value.chars();
    let ok = value.len() <= 64
        && chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(ValidationError::InvalidName {
            field,
            value: value.chars().take(64).collect(),
        })
    }
}

/// A free-form JSON object attached to a record (for example a reflection's
/// mood or location, or an integration's non-secret settings).
///
/// JSON in bundles; in the store, the same JSON as a string, because the
/// binary encoding cannot carry self-describing values.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Metadata(pub serde_json::Map<String, serde_json::Value>);

impl Metadata {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn validate(&self, field: &'static str) -> Result<(), ValidationError> {
        if self.0.is_empty() {
            return Ok(());
        }
        // Count the serialised bytes without building the string.
        struct Count(usize);
        impl std::io::Write for Count {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0 += buf.len();
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let mut count = Count(0);
        let _ = serde_json::to_writer(&mut count, &self.0);
        let len = count.0;
        if len > MAX_METADATA_BYTES {
            return Err(ValidationError::TooLong {
                field,
                len,
                max: MAX_METADATA_BYTES,
            });
        }
        Ok(())
    }

    /// Parse a JSON object given on the command line.
    pub fn parse(field: &'static str, text: &str) -> Result<Self, ValidationError> {
        match serde_json::from_str::<serde_json::Value>(text) {
            Ok(serde_json::Value::Object(map)) => Ok(Metadata(map)),
            Ok(_) => Err(ValidationError::Invalid {
                field,
                reason: "expected a JSON object such as {\"mood\": \"calm\"}".into(),
            }),
            Err(e) => Err(ValidationError::Invalid {
                field,
                reason: format!("not valid JSON: {e}"),
            }),
        }
    }
}

impl Serialize for Metadata {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            self.0.serialize(serializer)
        } else {
            let text = serde_json::to_string(&self.0).map_err(serde::ser::Error::custom)?;
            serializer.serialize_str(&text)
        }
    }
}

impl<'de> Deserialize<'de> for Metadata {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            Ok(Metadata(serde_json::Map::deserialize(deserializer)?))
        } else {
            let text = String::deserialize(deserializer)?;
            serde_json::from_str(&text)
                .map(Metadata)
                .map_err(serde::de::Error::custom)
        }
    }
}

/// An ed25519 public key: hex in JSON, raw bytes in the store.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey(pub [u8; 32]);

impl PublicKey {
    pub fn to_hex(self) -> String {
        hex::encode(self.0)
    }

    /// A short, stable fingerprint people can compare: the first 16 hex
    /// digits of blake3 over the key.
    pub fn fingerprint(self) -> String {
        blake3::hash(&self.0).to_hex()[..16].to_string()
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_hex())
    }
}

impl std::str::FromStr for PublicKey {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || ValidationError::Invalid {
            field: "public_key",
            reason: "expected 64 hex digits (an ed25519 public key)".into(),
        };
        let bytes = hex::decode(s.trim()).map_err(|_| invalid())?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| invalid())?;
        // Reject encodings that are not points on the curve.
        ed25519_dalek::VerifyingKey::from_bytes(&bytes).map_err(|_| invalid())?;
        Ok(PublicKey(bytes))
    }
}

impl Serialize for PublicKey {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.serialize_str(&self.to_hex())
        } else {
            self.0.serialize(serializer)
        }
    }
}

impl<'de> Deserialize<'de> for PublicKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let text = String::deserialize(deserializer)?;
            text.parse().map_err(serde::de::Error::custom)
        } else {
            Ok(PublicKey(<[u8; 32]>::deserialize(deserializer)?))
        }
    }
}
