//! The stored value format: one version byte, the record in postcard, and a
//! checksum.
//!
//! ```text
//! 0x80 | VERSION   postcard(record)   blake3(first byte ‖ postcard)[..8]
//! ```
//!
//! postcard is compact, deterministic and has a stable, documented wire
//! format. The leading byte is the record's shape version
//! ([`Record::VERSION`]), so a later release can tell an old value from a new
//! one and upgrade it while reading, instead of rewriting every table on
//! upgrade. Its high bit says a checksum follows: redb checks page checksums
//! only when it repairs a file, so without one a changed byte on disk could
//! come back as a silently different reflection. With it, a damaged value is
//! refused as [`StoreError::Corrupt`] instead. Values written before the
//! checksum (high bit clear) are still read, unchecked.

use crate::model::Record;

use super::StoreError;

/// Set in the first byte of every value that ends with a checksum.
const CHECKSUMMED: u8 = 0x80;
const CHECKSUM_BYTES: usize = 8;

fn checksum(head_and_body: &[u8]) -> [u8; CHECKSUM_BYTES] {
    let hash = blake3::hash(head_and_body);
    let mut out = [0u8; CHECKSUM_BYTES];
    out.copy_from_slice(&hash.as_bytes()[..CHECKSUM_BYTES]);
    out
}

pub fn encode<R: Record>(record: &R) -> Result<Vec<u8>, StoreError> {
    let out = vec![R::VERSION | CHECKSUMMED];
    let mut out = postcard::to_extend(record, out).map_err(|e| StoreError::Corrupt {
        table: R::TABLE,
        reason: format!("cannot encode: {e}"),
    })?;
    let sum = checksum(&out);
    out.extend_from_slice(&sum);
    Ok(out)
}

pub fn decode<R: Record>(bytes: &[u8]) -> Result<R, StoreError> {
    let corrupt = |reason: String| StoreError::Corrupt {
        table: R::TABLE,
        reason,
    };
    let (&first, _) = bytes
        .split_first()
        .ok_or_else(|| corrupt("empty value".into()))?;
    let bytes = if first & CHECKSUMMED != 0 {
        let split = bytes
            .len()
            .checked_sub(CHECKSUM_BYTES)
            .filter(|n| *n >= 1)
            .ok_or_else(|| corrupt("value too short for its checksum".into()))?;
        let (value, sum) = bytes.split_at(split);
        if checksum(value) != sum {
            return Err(corrupt(
                "checksum mismatch (the bytes on disk changed)".into(),
            ));
        }
        value
    } else {
        bytes
    };
    let (&version, body) = bytes
        .split_first()
        .ok_or_else(|| corrupt("empty value".into()))?;
    let version = version & !CHECKSUMMED;
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

/// A whole checksummed value of type `R` starting at `bytes[0]`, if there
/// is one: the record and how many bytes it took. For salvage, which looks
/// for values in the raw file when the tree that leads to them is damaged;
/// the checksum is what tells a real value from bytes that happen to parse.
pub fn decode_prefix<R: Record>(bytes: &[u8]) -> Option<(R, usize)> {
    let (&first, body) = bytes.split_first()?;
    if first != R::VERSION | CHECKSUMMED {
        return None;
    }
    let (record, rest) = postcard::take_from_bytes::<R>(body).ok()?;
    let value_len = bytes.len() - rest.len();
    let sum = rest.get(..CHECKSUM_BYTES)?;
    (checksum(&bytes[..value_len]) == sum).then_some((record, value_len + CHECKSUM_BYTES))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ConsentCategory, ConsentSetting, Timestamp};

    fn setting() -> ConsentSetting {
        ConsentSetting {
            category: ConsentCategory::Telemetry,
            granted: true,
            updated_at: Timestamp::from_micros(1_767_225_600_000_000).unwrap(),
        }
    }

    #[test]
    fn every_changed_byte_is_refused_never_read_differently() {
        let bytes = encode(&setting()).unwrap();
        assert_eq!(decode::<ConsentSetting>(&bytes).unwrap(), setting());
        for i in 0..bytes.len() {
            for bit in 0..8 {
                let mut damaged = bytes.clone();
                damaged[i] ^= 1 << bit;
                match decode::<ConsentSetting>(&damaged) {
                    Err(StoreError::Corrupt { .. }) => {}
                    Ok(read) => panic!("byte {i} bit {bit}: read back as {read:?}"),
                    Err(other) => panic!("byte {i} bit {bit}: {other}"),
                }
            }
        }
    }

    #[test]
    fn values_written_before_the_checksum_are_still_read() {
        let mut old = vec![ConsentSetting::VERSION];
        old = postcard::to_extend(&setting(), old).unwrap();
        assert_eq!(decode::<ConsentSetting>(&old).unwrap(), setting());
    }
}
