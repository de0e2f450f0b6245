//! The engine's measured quality, kept from sliding back.
//!
//! The labelled development sets live beside the project (`../shared/eval`);
//! the goals of the reflection-engine issue are asserted on them. The
//! held-out sets in `node/eval/` were written after the rules and never
//! tuned against: they get floors a little under today's figures, so a
//! change that generalises worse fails here rather than in someone's journal.

use std::path::{Path, PathBuf};

use mirror_node::engine::Engine;
use mirror_node::engine::eval::{SetReport, eval_compliance, eval_patterns, eval_tensions};

fn shared(name: &str) -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/eval")
        .join(name);
    p.exists().then_some(p)
}

fn held_out(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("eval")
        .join(name)
}

fn assert_floor(report: &SetReport, precision: f64, recall: f64) {
    for s in &report.categories {
        assert!(
            s.precision >= precision && s.recall >= recall,
            "{}: {} precision {:.3} recall {:.3} (floor {precision}/{recall})",
            report.file,
            s.category,
            s.precision,
            s.recall
        );
    }
}

#[test]
fn pattern_goals_on_the_development_set() {
    let Some(path) = shared("patterns-dev.jsonl") else {
        eprintln!("../shared/eval not present; skipping the development set");
        return;
    };
    let report = eval_patterns(&Engine::genesis().unwrap(), &path).unwrap();
    assert_floor(&report, 0.85, 0.80);
}

#[test]
fn tension_goals_on_the_development_set() {
    let Some(path) = shared("tensions-dev.jsonl") else {
        return;
    };
    let report = eval_tensions(&Engine::genesis().unwrap(), &path).unwrap();
    assert_floor(&report, 0.85, 0.80);
}

#[test]
fn compliance_goals_on_the_development_set() {
    let Some(path) = shared("compliance-dev.jsonl") else {
        return;
    };
    let report = eval_compliance(&Engine::genesis().unwrap(), &path).unwrap();
    assert!(report.accuracy >= 0.90, "accuracy {}", report.accuracy);
    assert!(
        report.compliant_flagged <= 0.05,
        "compliant flagged {}",
        report.compliant_flagged
    );
}

#[test]
fn held_out_sets_do_not_slide_back() {
    let engine = Engine::genesis().unwrap();
    let patterns = eval_patterns(&engine, &held_out("holdout-patterns.jsonl")).unwrap();
    assert_floor(&patterns, 0.90, 0.70);
    let compliance = eval_compliance(&engine, &held_out("holdout-compliance.jsonl")).unwrap();
    assert!(
        compliance.accuracy >= 0.90,
        "accuracy {}",
        compliance.accuracy
    );
    assert!(compliance.compliant_flagged <= 0.05);
    // Tensions on unseen phrasing are the engine's known weak spot (see
    // BENCHMARKS.md): precision must hold even where recall does not.
    let tensions = eval_tensions(&engine, &held_out("holdout-tensions.jsonl")).unwrap();
    assert!(tensions.micro.precision >= 0.90, "{:?}", tensions.micro);
    assert!(tensions.micro.recall >= 0.25, "{:?}", tensions.micro);
}
