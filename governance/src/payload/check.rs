//! The checks every kind's `check` is written with: ranges, counts, text and formats, each naming the field.

use super::*;

pub(super) fn invalid(
    kind: &'static str,
    field: impl Into<String>,
    problem: impl Into<String>,
) -> PayloadError {
    PayloadError::Invalid {
        kind,
        field: field.into(),
        problem: problem.into(),
    }
}

/// `$.a.b[0]` (the canonical encoder's paths) → `a.b[0]`.
pub(super) fn json_path(path: &str) -> String {
    path.strip_prefix("$.")
        .or_else(|| path.strip_prefix('$'))
        .unwrap_or(path)
        .to_string()
}

/// A closed enum's wire name.
pub(super) fn wire<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(Value::String(s)) => s,
        _ => String::new(),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Lines {
    /// No control characters at all.
    Single,
    /// Only `\n` and `\t`.
    Multi,
}

/// Checks for one kind, building errors that name it.
pub(super) struct Check(pub(super) &'static str);

impl Check {
    pub(super) fn invalid(
        &self,
        field: impl Into<String>,
        problem: impl Into<String>,
    ) -> PayloadError {
        invalid(self.0, field, problem)
    }

    pub(super) fn range(
        &self,
        field: impl Into<String>,
        problem: impl Into<String>,
    ) -> PayloadError {
        PayloadError::OutOfRange {
            kind: self.0,
            field: field.into(),
            problem: problem.into(),
        }
    }

    pub(super) fn missing(&self, field: impl Into<String>) -> PayloadError {
        PayloadError::MissingField {
            kind: self.0,
            field: field.into(),
        }
    }

    pub(super) fn text(
        &self,
        field: &str,
        s: &str,
        max: usize,
        lines: Lines,
    ) -> Result<(), PayloadError> {
        let chars = s.chars().count();
        if chars == 0 || chars > max {
            return Err(self.range(field, format!("{chars} characters; must be 1 to {max}")));
        }
        let allowed = |c: char| lines == Lines::Multi && (c == '\n' || c == '\t');
        if let Some(c) = s.chars().find(|&c| c.is_control() && !allowed(c)) {
            let what = match lines {
                Lines::Single => "single-line text may not contain control characters",
                Lines::Multi => "text may not contain control characters other than \\n and \\t",
            };
            return Err(self.invalid(field, format!("{what} (found U+{:04X})", u32::from(c))));
        }
        Ok(())
    }

    /// A lowercase identifier: a letter, then letters, digits, `_` and any
    /// of `extra`.
    pub(super) fn identifier(
        &self,
        field: &str,
        s: &str,
        max: usize,
        extra: &str,
    ) -> Result<(), PayloadError> {
        let mut chars = s.chars();
        let ok = s.len() <= max
            && chars.next().is_some_and(|c| c.is_ascii_lowercase())
            && chars.all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || extra.contains(c)
            });
        if ok {
            Ok(())
        } else {
            Err(self.invalid(
                field,
                format!(
                    "{s:?} is not a lowercase identifier (a letter, then letters, digits, '_'{}; at most {max})",
                    extra
                        .chars()
                        .map(|c| format!(", '{c}'"))
                        .collect::<String>()
                ),
            ))
        }
    }

    pub(super) fn count(
        &self,
        field: &str,
        n: usize,
        min: usize,
        max: usize,
    ) -> Result<(), PayloadError> {
        if n < min || n > max {
            let want = if min == max {
                format!("exactly {min}")
            } else {
                format!("{min} to {max}")
            };
            return Err(self.range(
                field,
                format!("{n} item{}; must be {want}", if n == 1 { "" } else { "s" }),
            ));
        }
        Ok(())
    }

    pub(super) fn int(
        &self,
        field: &str,
        v: u64,
        min: u64,
        max: u64,
        want: &str,
    ) -> Result<(), PayloadError> {
        if v < min || v > max {
            return Err(self.range(field, format!("{v}; must be {want}")));
        }
        Ok(())
    }

    pub(super) fn signed(&self, field: &str, v: i64) -> Result<(), PayloadError> {
        if v.unsigned_abs() > MAX_SAFE_INTEGER {
            return Err(self.range(
                field,
                format!("{v}; must be a safe integer (|n| ≤ 2^53 − 1)"),
            ));
        }
        Ok(())
    }

    pub(super) fn unique<T: Ord + fmt::Display>(
        &self,
        field: &str,
        items: &[T],
    ) -> Result<(), PayloadError> {
        let mut seen = BTreeSet::new();
        for (i, item) in items.iter().enumerate() {
            if !seen.insert(item) {
                return Err(self.invalid(format!("{field}[{i}]"), format!("{item} repeats")));
            }
        }
        Ok(())
    }
}
