//! Canonical JSON: one byte string for one value, so signatures and hashes
//! agree on every node and in every implementation.
//!
//! The rules are those of RFC 8785 (JSON Canonicalization Scheme) for the
//! subset Mirror uses, which makes them easy to reproduce in any language:
//!
//! * objects: members sorted by key (keys are ASCII, so byte order is the
//!   RFC's UTF-16 order), no duplicate keys, no whitespace anywhere;
//! * numbers: integers only, written in plain decimal (floats are refused:
//!   their text forms differ between libraries);
//! * strings: UTF-8, escaping only `"`, `\` and control characters (`\b`,
//!   `\f`, `\n`, `\r`, `\t`, others as `\u00XX` in lowercase hex);
//! * `true`, `false`, `null` as themselves.

use serde::Serialize;
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CanonicalError {
    #[error("floating-point numbers have no canonical form here (at {path})")]
    Float { path: String },
    #[error("object key {key:?} is not ASCII (at {path})")]
    NonAsciiKey { path: String, key: String },
    #[error("cannot encode: {0}")]
    Serialize(String),
}

/// The canonical bytes of any serialisable value.
pub fn to_vec<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, CanonicalError> {
    let value =
        serde_json::to_value(value).map_err(|e| CanonicalError::Serialize(e.to_string()))?;
    let mut out = Vec::new();
    write(&value, &mut out, "$")?;
    Ok(out)
}

/// Whether `bytes` are exactly the canonical form of the JSON they hold.
pub fn is_canonical(bytes: &[u8]) -> bool {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(value) => to_vec(&value).is_ok_and(|c| c == bytes),
        Err(_) => false,
    }
}

fn write(value: &Value, out: &mut Vec<u8>, path: &str) -> Result<(), CanonicalError> {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                out.extend_from_slice(i.to_string().as_bytes());
            } else if let Some(u) = n.as_u64() {
                out.extend_from_slice(u.to_string().as_bytes());
            } else {
                return Err(CanonicalError::Float { path: path.into() });
            }
        }
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write(item, out, &format!("{path}[{i}]"))?;
            }
            out.push(b']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            if let Some(bad) = keys.iter().find(|k| !k.is_ascii()) {
                return Err(CanonicalError::NonAsciiKey {
                    path: path.into(),
                    key: (*bad).clone(),
                });
            }
            keys.sort();
            out.push(b'{');
            for (i, key) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(key, out);
                out.push(b':');
                write(&map[*key], out, &format!("{path}.{key}"))?;
            }
            out.push(b'}');
        }
    }
    Ok(())
}

fn write_string(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\u{08}' => out.extend_from_slice(b"\\b"),
            '\u{0C}' => out.extend_from_slice(b"\\f"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            c if (c as u32) < 0x20 => {
                out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes())
            }
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn sorted_compact_and_escaped() {
        let v = json!({"b": [1, -2, true, null], "a": "q\"\\\n\u{1}é", "c": {}});
        assert_eq!(
            String::from_utf8(to_vec(&v).unwrap()).unwrap(),
            r#"{"a":"q\"\\\n\u0001é","b":[1,-2,true,null],"c":{}}"#
        );
        assert!(matches!(
            to_vec(&json!({"x": 1.5})),
            Err(CanonicalError::Float { .. })
        ));
        assert!(is_canonical(br#"{"a":1,"b":2}"#));
        assert!(!is_canonical(br#"{"b":2,"a":1}"#));
        assert!(!is_canonical(br#"{"a": 1}"#));
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|i| json!(i)),
            any::<String>().prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map("[a-z_]{1,8}", inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// Decoding canonical bytes and encoding again gives the same bytes;
        /// the form does not depend on how the value was built.
        #[test]
        fn canonical_form_is_a_fixed_point(v in arb_json()) {
            let bytes = to_vec(&v).unwrap();
            let back: Value = serde_json::from_slice(&bytes).unwrap();
            prop_assert_eq!(&back, &v);
            prop_assert_eq!(to_vec(&back).unwrap(), bytes.clone());
            prop_assert!(is_canonical(&bytes));
        }
    }
}
