//! Deserializes from a `Value` like `serde_json::from_value`, but every error
//! carries the path of the field it is about, and unknown and missing fields
//! stay structured rather than becoming messages.

use std::fmt;

use serde::de::{
    self, DeserializeSeed, Deserializer, Expected, MapAccess, SeqAccess, Unexpected, Visitor,
    value::BorrowedStrDeserializer,
};
use serde_json::Value;

use super::PayloadError;

#[derive(Debug)]
pub(super) enum Problem {
    UnknownField(Vec<&'static str>),
    MissingField(&'static str),
    OutOfRange(String),
    Invalid(String),
}

#[derive(Debug)]
pub(super) struct Error {
    path: Option<String>,
    problem: Problem,
}

impl Error {
    fn new(problem: Problem) -> Error {
        Error {
            path: None,
            problem,
        }
    }

    /// The deepest path wins: a path is only set where none is yet.
    fn at(mut self, path: &str) -> Error {
        if self.path.is_none() {
            self.path = Some(path.to_string());
        }
        self
    }

    pub(super) fn into_payload_error(self, kind: &'static str) -> PayloadError {
        let path = self.path.unwrap_or_default();
        match self.problem {
            Problem::UnknownField(expected) => PayloadError::UnknownField {
                kind,
                field: path,
                expected,
            },
            Problem::MissingField(name) => PayloadError::MissingField {
                kind,
                field: join(&path, name),
            },
            Problem::OutOfRange(problem) => PayloadError::OutOfRange {
                kind,
                field: path,
                problem,
            },
            Problem::Invalid(problem) => PayloadError::Invalid {
                kind,
                field: path,
                problem,
            },
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path.as_deref().unwrap_or("");
        match &self.problem {
            Problem::UnknownField(_) => write!(f, "{path}: unknown field"),
            Problem::MissingField(name) => write!(f, "missing field {}", join(path, name)),
            Problem::OutOfRange(p) | Problem::Invalid(p) => write!(f, "{path}: {p}"),
        }
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Error {
        Error::new(Problem::Invalid(msg.to_string()))
    }

    fn invalid_type(unexp: Unexpected<'_>, exp: &dyn Expected) -> Error {
        Error::new(Problem::Invalid(format!(
            "invalid type: {}, expected {exp}",
            describe(&unexp)
        )))
    }

    fn invalid_value(unexp: Unexpected<'_>, exp: &dyn Expected) -> Error {
        match unexp {
            Unexpected::Unsigned(_) | Unexpected::Signed(_) => {
                Error::new(Problem::OutOfRange(format!("{unexp}; expected {exp}")))
            }
            _ => Error::new(Problem::Invalid(format!(
                "invalid value: {unexp}, expected {exp}"
            ))),
        }
    }

    fn unknown_field(_field: &str, expected: &'static [&'static str]) -> Error {
        Error::new(Problem::UnknownField(expected.to_vec()))
    }

    fn missing_field(field: &'static str) -> Error {
        Error::new(Problem::MissingField(field))
    }
}

pub(super) fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

/// Serde's words for what was found, in JSON's terms.
fn describe(unexp: &Unexpected<'_>) -> String {
    match unexp {
        Unexpected::Unit => "null".into(),
        Unexpected::Seq => "an array".into(),
        Unexpected::Map => "an object".into(),
        other => other.to_string(),
    }
}

fn unexpected(value: &Value) -> Unexpected<'_> {
    match value {
        Value::Null => Unexpected::Unit,
        Value::Bool(b) => Unexpected::Bool(*b),
        Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => Unexpected::Unsigned(u),
            (_, Some(i)) => Unexpected::Signed(i),
            _ => Unexpected::Other("floating-point number"),
        },
        Value::String(s) => Unexpected::Str(s),
        Value::Array(_) => Unexpected::Seq,
        Value::Object(_) => Unexpected::Map,
    }
}

pub(super) struct ValueDe<'de> {
    value: &'de Value,
    path: String,
}

impl<'de> ValueDe<'de> {
    pub(super) fn new(value: &'de Value, path: String) -> ValueDe<'de> {
        ValueDe { value, path }
    }

    fn wrong_type(&self, exp: &dyn Expected) -> Error {
        // A wrong type is never "out of range", even for a number.
        Error::new(Problem::Invalid(format!(
            "invalid type: {}, expected {exp}",
            describe(&unexpected(self.value))
        )))
    }
}

impl<'de> Deserializer<'de> for ValueDe<'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Number(n) => {
                if let Some(u) = n.as_u64() {
                    visitor.visit_u64(u)
                } else if let Some(i) = n.as_i64() {
                    visitor.visit_i64(i)
                } else {
                    visitor.visit_f64(n.as_f64().unwrap_or(f64::NAN))
                }
            }
            Value::String(s) => visitor.visit_borrowed_str(s),
            Value::Array(items) => visitor.visit_seq(Seq {
                iter: items.iter().enumerate(),
                path: self.path,
            }),
            Value::Object(map) => visitor.visit_map(Map {
                iter: map.iter(),
                pending: None,
                path: self.path,
            }),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.value {
            Value::String(s) => visitor.visit_enum(BorrowedStrDeserializer::<Error>::new(s)),
            _ => Err(self.wrong_type(&visitor)),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_map(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Value::Object(_) => self.deserialize_any(visitor),
            _ => Err(self.wrong_type(&visitor)),
        }
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Value::Array(_) => self.deserialize_any(visitor),
            _ => Err(self.wrong_type(&visitor)),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Value::String(s) => visitor.visit_borrowed_str(s),
            _ => Err(self.wrong_type(&visitor)),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Value::Bool(b) => visitor.visit_bool(*b),
            _ => Err(self.wrong_type(&visitor)),
        }
    }

    serde::forward_to_deserialize_any! {
        i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char
        bytes byte_buf unit unit_struct identifier ignored_any
    }
}

struct Seq<'de> {
    iter: std::iter::Enumerate<std::slice::Iter<'de, Value>>,
    path: String,
}

impl<'de> SeqAccess<'de> for Seq<'de> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        match self.iter.next() {
            Some((i, value)) => {
                let path = format!("{}[{i}]", self.path);
                seed.deserialize(ValueDe::new(value, path.clone()))
                    .map(Some)
                    .map_err(|e| e.at(&path))
            }
            None => Ok(None),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

struct Map<'de> {
    iter: serde_json::map::Iter<'de>,
    pending: Option<(&'de str, &'de Value)>,
    path: String,
}

impl<'de> MapAccess<'de> for Map<'de> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        match self.iter.next() {
            Some((key, value)) => {
                self.pending = Some((key, value));
                seed.deserialize(BorrowedStrDeserializer::<Error>::new(key))
                    .map(Some)
                    .map_err(|e| e.at(&join(&self.path, key)))
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let Some((key, value)) = self.pending.take() else {
            return Err(de::Error::custom(
                "a map value was asked for before its key",
            ));
        };
        let path = join(&self.path, key);
        seed.deserialize(ValueDe::new(value, path.clone()))
            .map_err(|e| e.at(&path))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}
