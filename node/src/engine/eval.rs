//! Measuring the engine against labelled sets (JSON Lines).
//!
//! * patterns: `{"id", "text", "patterns": [...]}`
//! * tensions: `{"id", "text", "tensions": [["control", "surrender"], ...]}`
//! * compliance: `{"id", "text", "compliant": bool, "flags": [...]}`
//!
//! Scores are per category: precision, recall and F1 over the items, plus
//! the micro average; every item the engine got wrong is listed, so a rule
//! change can be judged by what it fixes and what it breaks.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::Engine;

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("reading {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} line {line}: {reason}")]
    Line {
        path: String,
        line: usize,
        reason: String,
    },
    #[error("{path} has no items")]
    Empty { path: String },
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Score {
    pub category: String,
    pub support: usize,
    pub true_positives: usize,
    pub false_positives: usize,
    pub false_negatives: usize,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

impl Score {
    fn finish(mut self) -> Score {
        let tp = self.true_positives as f64;
        let p_den = tp + self.false_positives as f64;
        let r_den = tp + self.false_negatives as f64;
        // No predictions and nothing to find is perfect, not undefined.
        self.precision = if p_den == 0.0 { 1.0 } else { tp / p_den };
        self.recall = if r_den == 0.0 { 1.0 } else { tp / r_den };
        self.f1 = if self.precision + self.recall == 0.0 {
            0.0
        } else {
            2.0 * self.precision * self.recall / (self.precision + self.recall)
        };
        self
    }
}

/// An item the engine got wrong.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Miss {
    pub id: String,
    pub text: String,
    pub expected: Vec<String>,
    pub found: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SetReport {
    pub file: String,
    pub items: usize,
    /// Items whose whole label set was right.
    pub exact: usize,
    pub categories: Vec<Score>,
    pub micro: Score,
    pub misses: Vec<Miss>,
}

/// Score label sets: `(id, text, expected, found)` per item.
pub fn score_sets(
    file: &str,
    items: Vec<(String, String, BTreeSet<String>, BTreeSet<String>)>,
) -> SetReport {
    let mut per: BTreeMap<String, Score> = BTreeMap::new();
    let mut micro = Score {
        category: "all".into(),
        ..Default::default()
    };
    let mut misses = Vec::new();
    let mut exact = 0;
    let n = items.len();
    for (id, text, expected, found) in items {
        for category in expected.union(&found) {
            let s = per.entry(category.clone()).or_insert_with(|| Score {
                category: category.clone(),
                ..Default::default()
            });
            let (e, f) = (expected.contains(category), found.contains(category));
            if e {
                s.support += 1;
                micro.support += 1;
            }
            match (e, f) {
                (true, true) => {
                    s.true_positives += 1;
                    micro.true_positives += 1;
                }
                (false, true) => {
                    s.false_positives += 1;
                    micro.false_positives += 1;
                }
                (true, false) => {
                    s.false_negatives += 1;
                    micro.false_negatives += 1;
                }
                (false, false) => {}
            }
        }
        if expected == found {
            exact += 1;
        } else {
            misses.push(Miss {
                id,
                text,
                expected: expected.into_iter().collect(),
                found: found.into_iter().collect(),
            });
        }
    }
    SetReport {
        file: file.to_string(),
        items: n,
        exact,
        categories: per.into_values().map(Score::finish).collect(),
        micro: micro.finish(),
        misses,
    }
}

fn read_lines<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Vec<T>, EvalError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| EvalError::Io {
        path: shown.clone(),
        source,
    })?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        out.push(serde_json::from_str(line).map_err(|e| EvalError::Line {
            path: shown.clone(),
            line: i + 1,
            reason: e.to_string(),
        })?);
    }
    if out.is_empty() {
        return Err(EvalError::Empty { path: shown });
    }
    Ok(out)
}

#[derive(Deserialize)]
struct PatternItem {
    id: String,
    text: String,
    patterns: Vec<String>,
}

#[derive(Deserialize)]
struct TensionItem {
    id: String,
    text: String,
    tensions: Vec<(String, String)>,
}

#[derive(Deserialize)]
struct ComplianceItem {
    id: String,
    text: String,
    compliant: bool,
    flags: Vec<String>,
}

pub fn eval_patterns(engine: &Engine, path: &Path) -> Result<SetReport, EvalError> {
    let items: Vec<PatternItem> = read_lines(path)?;
    let scored = items
        .into_iter()
        .map(|item| {
            let found = engine.analyze(&item.text).pattern_names();
            (
                item.id,
                item.text,
                item.patterns.into_iter().collect(),
                found.into_iter().collect(),
            )
        })
        .collect();
    Ok(score_sets(&path.display().to_string(), scored))
}

pub fn eval_tensions(engine: &Engine, path: &Path) -> Result<SetReport, EvalError> {
    let items: Vec<TensionItem> = read_lines(path)?;
    let scored = items
        .into_iter()
        .map(|item| {
            let found: BTreeSet<String> = engine
                .analyze(&item.text)
                .tensions
                .into_iter()
                .map(|t| format!("{}/{}", t.axis_a, t.axis_b))
                .collect();
            let expected = item
                .tensions
                .into_iter()
                .map(|(a, b)| format!("{a}/{b}"))
                .collect();
            (item.id, item.text, expected, found)
        })
        .collect();
    Ok(score_sets(&path.display().to_string(), scored))
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComplianceReport {
    /// Per-flag scores and the list of items whose flags differ.
    pub flags: SetReport,
    /// Share of items whose compliant/non-compliant verdict was right.
    pub accuracy: f64,
    /// Share of compliant texts the checker flagged anyway.
    pub compliant_flagged: f64,
    pub compliant_items: usize,
}

pub fn eval_compliance(engine: &Engine, path: &Path) -> Result<ComplianceReport, EvalError> {
    let items: Vec<ComplianceItem> = read_lines(path)?;
    let (mut right, mut compliant, mut compliant_flagged) = (0usize, 0usize, 0usize);
    let n = items.len();
    let scored = items
        .into_iter()
        .map(|item| {
            let report = engine.checker().check(&item.text);
            if report.is_compliant() == item.compliant {
                right += 1;
            }
            if item.compliant {
                compliant += 1;
                if !report.is_compliant() {
                    compliant_flagged += 1;
                }
            }
            (
                item.id,
                item.text,
                item.flags.into_iter().collect(),
                report.flag_names().into_iter().map(String::from).collect(),
            )
        })
        .collect();
    Ok(ComplianceReport {
        flags: score_sets(&path.display().to_string(), scored),
        accuracy: right as f64 / n as f64,
        compliant_flagged: if compliant == 0 {
            0.0
        } else {
            compliant_flagged as f64 / compliant as f64
        },
        compliant_items: compliant,
    })
}

/// A plain-text table of a set report.
pub fn render(report: &SetReport) -> String {
    let mut out = format!(
        "{}: {} items, {} exactly right\n\n{:<24} {:>7} {:>9} {:>7} {:>7}\n",
        report.file, report.items, report.exact, "category", "support", "precision", "recall", "F1"
    );
    for s in report
        .categories
        .iter()
        .chain(std::iter::once(&report.micro))
    {
        out.push_str(&format!(
            "{:<24} {:>7} {:>9.3} {:>7.3} {:>7.3}\n",
            s.category, s.support, s.precision, s.recall, s.f1
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn scores_are_computed_per_category() {
        let report = score_sets(
            "t",
            vec![
                ("1".into(), "a".into(), set(&["x"]), set(&["x"])),
                ("2".into(), "b".into(), set(&["x"]), set(&[])),
                ("3".into(), "c".into(), set(&[]), set(&["x", "y"])),
            ],
        );
        let x = &report.categories[0];
        assert_eq!(
            (x.true_positives, x.false_positives, x.false_negatives),
            (1, 1, 1)
        );
        assert!((x.precision - 0.5).abs() < 1e-9 && (x.recall - 0.5).abs() < 1e-9);
        let y = &report.categories[1];
        assert_eq!(y.precision, 0.0);
        assert_eq!(report.exact, 1);
        assert_eq!(report.misses.len(), 2);
    }
}
