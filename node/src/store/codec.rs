//! The stored value format: one version byte, then the record in postcard.
//!
//! postcard is compact, deterministic and has a stable, documented wire
//! format. The leading byte is the record's shape version ([`Record::VERSION`]),
//! so a later release can tell an old value from a new one and upgrade it
//! while reading, instead of rewriting every table on upgrade.

use crate::model::Record;

use super::StoreError;

pub fn encode<R: Record>(record: &R) -> Result<Vec<u8>, StoreError> {
    let out = vec![R::VERSION];
    postcard::to_extend(record, out).map_err(|e| StoreError::Corrupt {
        table: R::TABLE,
        reason: format!("cannot encode: {e}"),
    })
}

pub fn decode<R: Record>(bytes: &[u8]) -> Result<R, StoreError> {
    let corrupt = |reason: String| StoreError::Corrupt {
        table: R::TABLE,
        reason,
    };
    let (&version, body) = bytes
        .split_first()
        .ok_or_else(|| corrupt("empty value".into()))?;
    if version != R::VERSION {
        // Every record type is still at its first shape; when one changes,
        // its upgrade from the older shape goes here.
        return Err(corrupt(format!(
            "record version {version} is not readable by this mirror (expects {})",
            R::VERSION
        )));
    }
    let (record, rest) =
        postcard::take_from_bytes::<R>(body).map_err(|e| corrupt(format!("cannot decode: {e}")))?;
    if !rest.is_empty() {
        return Err(corrupt(format!("{} trailing bytes", rest.len())));
    }
    Ok(record)
}
