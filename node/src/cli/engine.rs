//! `eval`.

use super::render::Output;
use super::{Context, EvalCommand};
use crate::engine::{Engine, eval};

fn misses_text(report: &eval::SetReport) -> String {
    let mut out = String::from("\nMisses:\n");
    for m in &report.misses {
        out.push_str(&format!(
            "  {}  expected [{}] found [{}]\n    {}\n",
            m.id,
            m.expected.join(", "),
            m.found.join(", "),
            m.text
        ));
    }
    out
}

pub fn eval(_ctx: &Context, cmd: &EvalCommand) -> anyhow::Result<Output> {
    let engine = Engine::genesis()?;
    match cmd {
        EvalCommand::Patterns { file, misses } | EvalCommand::Tensions { file, misses } => {
            let report = if matches!(cmd, EvalCommand::Patterns { .. }) {
                eval::eval_patterns(&engine, file)?
            } else {
                eval::eval_tensions(&engine, file)?
            };
            let mut human = eval::render(&report);
            if *misses {
                human.push_str(&misses_text(&report));
            }
            Output::new(&report, human.trim_end().to_string())
        }
        EvalCommand::Compliance { file, misses } => {
            let report = eval::eval_compliance(&engine, file)?;
            let mut human = format!(
                "accuracy {:.3}; compliant texts flagged {:.1}% (of {})\n\n{}",
                report.accuracy,
                report.compliant_flagged * 100.0,
                report.compliant_items,
                eval::render(&report.flags)
            );
            if *misses {
                human.push_str(&misses_text(&report.flags));
            }
            Output::new(&report, human.trim_end().to_string())
        }
    }
}

pub fn analyze(_ctx: &Context, words: &[String]) -> anyhow::Result<Output> {
    let text = if words.is_empty() {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)?;
        text
    } else {
        words.join(" ")
    };
    let engine = Engine::genesis()?;
    let analysis = engine.analyze(&text);
    let mut human = String::new();
    if analysis.patterns.is_empty() && analysis.tensions.is_empty() {
        human.push_str("Nothing noticed.");
    }
    for m in &analysis.patterns {
        human.push_str(&format!(
            "{}  \"{}\"  (rule {})\n",
            m.pattern, m.cue, m.rule
        ));
    }
    for t in &analysis.tensions {
        human.push_str(&format!(
            "tension {} ↔ {}  ({}): {} | {}\n",
            t.axis_a,
            t.axis_b,
            t.name,
            t.cues_a.join(", "),
            t.cues_b.join(", ")
        ));
    }
    Output::new(&analysis, human.trim_end().to_string())
}
