//! `eval`, `analyze`, `config`, `consent`, `constitution`.

use std::fmt::Write as _;

use anyhow::Context as _;
use serde_json::json;

use super::render::Output;
use super::{
    ConfigCommand, ConsentCommand, ConstitutionCommand, Context, EmbeddingsCommand, EvalCommand,
    UsageError,
};
use crate::engine::eval;
use crate::model::ConsentCategory;

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

pub fn eval(ctx: &Context, cmd: &EvalCommand) -> anyhow::Result<Output> {
    let engine = ctx.engine()?;
    match cmd {
        EvalCommand::Patterns { file, misses }
        | EvalCommand::Tensions { file, misses }
        | EvalCommand::Feelings { file, misses, .. } => {
            let report = match cmd {
                EvalCommand::Patterns { .. } => eval::eval_patterns(&engine, file)?,
                EvalCommand::Feelings { lexicons_only, .. } => {
                    eval::eval_feelings(&engine, file, *lexicons_only)?
                }
                _ => eval::eval_tensions(&engine, file)?,
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
        EvalCommand::Crisis { file } => {
            let report = eval::eval_crisis(&engine, file)?;
            let mut human = format!(
                "{}: crisis recall {:.3} ({} of {}), look-alikes flagged {:.3} ({} of {})\n",
                report.file,
                report.recall,
                report.caught,
                report.crisis_items,
                report.look_alike_rate,
                report.flagged.len(),
                report.look_alikes
            );
            for (lang, (caught, total)) in &report.by_language {
                human.push_str(&format!("  {lang}: {caught} of {total}\n"));
            }
            for m in &report.missed {
                human.push_str(&format!("missed: {m}\n"));
            }
            for f in &report.flagged {
                human.push_str(&format!("flagged: {f}\n"));
            }
            Output::new(&report, human.trim_end().to_string())
        }
        EvalCommand::Mirrorbacks { file, out, region } => {
            let answers = eval::answer_set(&engine, file, region.as_deref())?;
            let checks = eval::check_answers(&engine, &answers);
            if let Some(path) = out {
                let mut text = String::new();
                for a in &answers {
                    text.push_str(&serde_json::to_string(a)?);
                    text.push('\n');
                }
                std::fs::write(path, text)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            let mut human = format!(
                "{} answers: {} not compliant, {} grammar slips, {} in the wrong language, {} crisis answers without help, {} end with a question; the most repeated question ends {} ({:?})\n",
                checks.answers,
                checks.non_compliant.len(),
                checks.grammar_slips.len(),
                checks.wrong_language.len(),
                checks.crisis_without_help.len(),
                checks.with_question,
                checks.most_repeated_question.0,
                checks.most_repeated_question.1,
            );
            for (id, slip) in &checks.grammar_slips {
                human.push_str(&format!("slip: {id}: {slip}\n"));
            }
            if out.is_none() {
                for a in &answers {
                    human.push_str(&format!("\n[{}] {}\n→ {}\n", a.id, a.text, a.answer));
                }
            }
            Output::new(
                json!({"checks": checks, "answers": answers}),
                human.trim_end().to_string(),
            )
        }
    }
}

pub fn analyze(ctx: &Context, words: &[String]) -> anyhow::Result<Output> {
    let text = if words.is_empty() {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)?;
        text
    } else {
        words.join(" ")
    };
    let engine = ctx.engine()?;
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

pub fn config(ctx: &Context, cmd: &ConfigCommand) -> anyhow::Result<Output> {
    match cmd {
        ConfigCommand::Test => {
            use crate::engine::llm::LlmAdapter as _;
            let config = ctx.home.load_config()?;
            let mode = config.engine.mode;
            let Some(adapter) =
                crate::engine::pipeline::AnyAdapter::from_config(&config.engine, mode)
            else {
                return Output::new(
                    json!({"engine": mode, "ok": true, "message": "The built-in mirror runs on this machine: there is nothing to reach."}),
                    "The built-in mirror runs on this machine: there is nothing to reach.",
                );
            };
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let endpoint = adapter.endpoint().to_string();
            let model = adapter.model().to_string();
            let message = match runtime.block_on(adapter.health()) {
                Ok(()) => format!("{mode} at {endpoint} answers (model {model})."),
                Err(e) => anyhow::bail!("{mode} at {endpoint} does not answer: {e}"),
            };
            Output::new(
                json!({"engine": mode, "ok": true, "endpoint": endpoint, "model": model, "message": message}),
                message.clone(),
            )
        }
        ConfigCommand::Show => {
            let config = ctx.home.load_config()?;
            let params = ctx.home.engine_params()?;
            let governed = crate::governed::governed_values(&config, &params);
            let text = toml::to_string_pretty(&config)?;
            let mut human = format!("# {}\n{text}", ctx.home.config_path().display());
            // Values the commons governs: which is in force, and why.
            let _ = writeln!(
                human,
                "\n# Governed by the commons (the pack in force; `mirror params show`):"
            );
            for g in &governed {
                let _ = writeln!(
                    human,
                    "# {} = {}  ({})",
                    g.key,
                    g.in_force,
                    match g.source {
                        crate::governed::Source::Pack => format!(
                            "from the pack, {}; set it here to override on this node",
                            g.pointer
                        ),
                        crate::governed::Source::Config => format!(
                            "your setting; the pack says {} (`mirror config unset {}` follows the pack)",
                            g.pack, g.key
                        ),
                    }
                );
            }
            Output::new(
                json!({ "path": ctx.home.config_path(), "config": config, "governed": governed }),
                human.trim_end().to_string(),
            )
        }
        ConfigCommand::Unset { key } => {
            let config = ctx.home.unset_config_value(key).map_err(|e| match e {
                crate::home::HomeError::BadSetting(m) => anyhow::Error::new(UsageError(m)),
                other => other.into(),
            })?;
            Output::new(
                json!({ "path": ctx.home.config_path(), "config": config }),
                format!(
                    "Removed {key} from {}; its default is in force.",
                    ctx.home.config_path().display()
                ),
            )
        }
        ConfigCommand::Set { key, value } => {
            // A region the helpline directory does not know would leave the
            // crisis answer with the fallback: say so now, not in a crisis.
            if key == "safety.region" {
                let code = value.trim();
                let engine = ctx.engine()?;
                if !code.is_empty() && engine.safety().region(code).is_none() {
                    let known: Vec<&str> = engine
                        .safety()
                        .regions
                        .iter()
                        .map(|r| r.code.as_str())
                        .collect();
                    return Err(UsageError(format!(
                        "safety.region {value:?}: the helpline directory has no entry for it (known: {}); leave it empty for the locale's region or the international fallback",
                        known.join(", ")
                    ))
                    .into());
                }
            }
            let config = ctx.home.set_config_value(key, value).map_err(|e| match e {
                crate::home::HomeError::BadSetting(m) => anyhow::Error::new(UsageError(m)),
                other => other.into(),
            })?;
            Output::new(
                json!({ "path": ctx.home.config_path(), "config": config }),
                format!(
                    "Set {key} = {value} in {}.",
                    ctx.home.config_path().display()
                ),
            )
        }
    }
}

/// `mirror safety show`: the resources the crisis answer shows here.
/// `mirror params show`: the pack in force, the release that put it there,
/// its hash, and every value (or those under `pointer`).
pub fn params_show(ctx: &Context, pointer: Option<&str>) -> anyhow::Result<Output> {
    let params = ctx.home.engine_params()?;
    let state = crate::release::applied_state(&ctx.home)?;
    let release = state.stack.last();
    let prefix = pointer.unwrap_or("");
    if !prefix.is_empty() && !prefix.starts_with('/') {
        return Err(UsageError(format!(
            "{prefix:?} is not a JSON Pointer (it starts with /, e.g. /thresholds)"
        ))
        .into());
    }
    let values: Vec<(String, serde_json::Value)> = params
        .leaves()
        .into_iter()
        .filter(|(p, _)| p == prefix || prefix.is_empty() || p.starts_with(&format!("{prefix}/")))
        .collect();
    if values.is_empty() {
        return Err(UsageError(format!("the pack in force has no value under {prefix}")).into());
    }
    let mut text = String::new();
    let _ = writeln!(
        text,
        "release  {}",
        match release {
            Some(r) if !r.release_id.is_empty() =>
                format!("{} (record {})", r.version, r.release_id),
            Some(r) => format!("{} (applied from a file)", r.version),
            None => "none: the genesis pack".into(),
        }
    );
    let _ = writeln!(
        text,
        "pack     version {}, hash {}",
        params.version,
        params.hash()
    );
    let governed = crate::governed::governed_values(&ctx.home.load_config()?, &params);
    for g in governed
        .iter()
        .filter(|g| g.source == crate::governed::Source::Config)
    {
        let _ = writeln!(
            text,
            "note     {} is overridden on this node by config {} = {}",
            g.pointer, g.key, g.in_force
        );
    }
    let _ = writeln!(text);
    for (p, v) in &values {
        let _ = writeln!(text, "{p} = {v}");
    }
    Output::new(
        json!({
            "release": release,
            "params_version": params.version,
            "params_hash": params.hash(),
            "values": values.iter().map(|(p, v)| json!({"pointer": p, "value": v})).collect::<Vec<_>>(),
            "overridden": governed.iter().filter(|g| g.source == crate::governed::Source::Config).collect::<Vec<_>>(),
        }),
        text.trim_end().to_string(),
    )
}

pub fn safety_show(ctx: &Context) -> anyhow::Result<Output> {
    use crate::engine::safety::Why;
    let engine = ctx.engine()?;
    let config = ctx.home.load_config()?;
    let locale = crate::home::locale_vars();
    let region = config.safety.region(locale.clone());
    let resources = engine.safety_resources(region.as_deref());
    let r = resources.region;
    let why = match (resources.why, config.safety.region.is_empty()) {
        (Why::Set, false) => format!("set with `mirror config set safety.region {}`", r.code),
        (Why::Set, true) => format!(
            "read from the locale ({}); set it with `mirror config set safety.region CODE`",
            locale
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        (Why::Unknown, _) => format!(
            "the directory has no entry for {}, so the international fallback is shown",
            region.as_deref().unwrap_or("")
        ),
        (Why::Default, _) => {
            "no region set or found in the locale; set it with `mirror config set safety.region CODE`"
                .to_string()
        }
    };
    let line = |l: &mirror_governance::params::Helpline| {
        format!(
            "{}{}{} ({}; checked against {})",
            l.name,
            if l.number.is_empty() { "" } else { ": " },
            l.number,
            if l.url.is_empty() { &l.hours } else { &l.url },
            l.source
        )
    };
    let mut human = format!(
        "Region: {} ({}), {why}.\n\n  Emergency: {} (checked against {})\n  Crisis line: {}\n",
        r.name,
        r.code,
        r.emergency,
        r.emergency_source,
        line(&r.crisis)
    );
    if let Some(abuse) = &r.abuse {
        human.push_str(&format!("  Abuse line: {}\n", line(abuse)));
    }
    let codes: Vec<&str> = engine
        .safety()
        .regions
        .iter()
        .map(|x| x.code.as_str())
        .collect();
    human.push_str(&format!(
        "\nWhen an entry shows acute risk, the node answers it itself with these, in the entry's language; nothing is analysed or sent anywhere.\nRegions in the directory: {}.",
        codes.join(", ")
    ));
    Output::new(
        json!({
            "region": r,
            "why": format!("{:?}", resources.why).to_lowercase(),
            "configured": config.safety.region,
            "regions": codes,
        }),
        human,
    )
}

pub fn embeddings(ctx: &Context, cmd: &EmbeddingsCommand) -> anyhow::Result<Output> {
    match cmd {
        EmbeddingsCommand::Install { from } => {
            let dir = ctx.home.install_embeddings(from)?;
            // Built once here, so a model that cannot run is found now and
            // not at the next entry.
            let engine = ctx.engine()?;
            let loads = engine.has_semantic();
            Output::new(
                json!({"installed": true, "dir": dir, "loads": loads}),
                if loads {
                    format!(
                        "Installed the embedding model in {}. English entries are now also read for tensions in any words; `mirror embeddings remove` undoes it.",
                        dir.display()
                    )
                } else {
                    format!(
                        "Copied the embedding model to {}, but it does not load (see the warning above); tensions are found by the pack's lexicons alone.",
                        dir.display()
                    )
                },
            )
        }
        EmbeddingsCommand::Status => {
            let installed = ctx.home.embeddings_installed();
            let loads = installed && ctx.engine()?.has_semantic();
            let dir = ctx.home.embeddings_dir();
            Output::new(
                json!({"installed": installed, "dir": dir, "loads": loads}),
                match (installed, loads) {
                    (false, _) => "No embedding model installed: tensions are found by the pack's lexicons alone. `mirror embeddings install --from DIR` adds all-MiniLM-L6-v2 (see `mirror embeddings install --help`).".to_string(),
                    (true, true) => format!("The embedding model in {} is in use for English entries.", dir.display()),
                    (true, false) => format!("The embedding model in {} does not load; tensions are found by the pack's lexicons alone. Install it again or remove it.", dir.display()),
                },
            )
        }
        EmbeddingsCommand::Remove => {
            let removed = ctx.home.remove_embeddings()?;
            Output::new(
                json!({"removed": removed}),
                if removed {
                    "Removed the embedding model."
                } else {
                    "No embedding model was installed."
                },
            )
        }
    }
}

pub fn consent(ctx: &Context, cmd: &ConsentCommand) -> anyhow::Result<Output> {
    // Showing opens read-only (no header sync, works on a read-only disk).
    let store = match cmd {
        ConsentCommand::Show | ConsentCommand::History | ConsentCommand::Egress { .. } => {
            ctx.store_read()?
        }
        _ => ctx.store()?,
    };
    let describe = |c: ConsentCategory| c.describe();
    match cmd {
        ConsentCommand::Show => {
            let consents = store.consents()?;
            let mut human = String::new();
            for (category, setting) in &consents {
                let state = match setting {
                    Some(s) if s.granted => format!("granted {}", s.updated_at),
                    Some(s) => format!("revoked {}", s.updated_at),
                    None => "off (never granted)".to_string(),
                };
                human.push_str(&format!(
                    "{:<20} {:<40} {}\n",
                    category.as_str(),
                    state,
                    describe(*category)
                ));
            }
            let json: Vec<_> = consents
                .iter()
                .map(|(c, s)| json!({ "category": c, "granted": s.as_ref().is_some_and(|s| s.granted), "setting": s }))
                .collect();
            Output::new(json!({ "consent": json }), human.trim_end().to_string())
        }
        ConsentCommand::History => {
            let changes = store.list::<crate::model::ConsentChange>(usize::MAX)?;
            let human = if changes.is_empty() {
                "No consent decided yet: every category is off.".to_string()
            } else {
                changes
                    .iter()
                    .map(|c| {
                        format!(
                            "{}  {:<8} {}",
                            super::render::when(c.at),
                            if c.granted { "granted" } else { "revoked" },
                            c.category
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            Output::new(json!({ "changes": changes }), human)
        }
        ConsentCommand::Egress { limit } => {
            let sent = store.list::<crate::model::EgressRecord>(*limit)?;
            let human = if sent.is_empty() {
                "Nothing has left this node.".to_string()
            } else {
                sent.iter()
                    .map(|e| {
                        format!(
                            "{}  {:<10} {:>8} bytes  {}  {}",
                            super::render::when(e.at),
                            e.kind.as_str(),
                            e.bytes,
                            e.destination,
                            e.summary
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            Output::new(json!({ "egress": sent }), human)
        }
        ConsentCommand::Grant { category } | ConsentCommand::Revoke { category } => {
            let granted = matches!(cmd, ConsentCommand::Grant { .. });
            let setting = store.set_consent(*category, granted)?;
            // Revoking empties what waits to be sent.
            if !granted && *category == ConsentCategory::Telemetry {
                crate::telemetry::discard_pending(&ctx.home)?;
            }
            let human = if granted {
                format!(
                    "Granted {category}: {}. Revoke any time with `mirror consent revoke {category}`.",
                    describe(*category)
                )
            } else {
                format!("Revoked {category}. Nothing in this category leaves the node.")
            };
            Output::new(json!({ "consent": setting }), human)
        }
    }
}

pub fn constitution(ctx: &Context, cmd: &ConstitutionCommand) -> anyhow::Result<Output> {
    let genesis = mirror_constitution::ConstitutionHash::genesis();
    match cmd {
        ConstitutionCommand::Show => {
            let constitution = ctx.home.constitution()?;
            let hash = constitution.hash();
            let invariants = constitution.invariants()?;
            let mut human = format!(
                "Constitution {hash}{}\n",
                if hash == genesis { " (genesis)" } else { "" }
            );
            for i in &invariants {
                human.push_str(&format!("  {}  {}\n", i.id, i.statement));
            }
            human.push_str("\nDocuments:\n");
            for (path, text) in constitution.files() {
                let title = text
                    .lines()
                    .next()
                    .unwrap_or("")
                    .trim_start_matches('#')
                    .trim();
                human.push_str(&format!("  {path:<34} {title}\n"));
            }
            if ctx.home.constitution_dir().is_dir() {
                human.push_str(&format!(
                    "\nRead them in {}",
                    ctx.home.constitution_dir().display()
                ));
            }
            let files: Vec<_> = constitution
                .files()
                .map(|(p, t)| json!({ "path": p, "text": t }))
                .collect();
            Output::new(
                json!({ "hash": hash.to_hex(), "genesis": hash == genesis, "invariants": invariants, "files": files }),
                human.trim_end().to_string(),
            )
        }
        ConstitutionCommand::Verify => {
            let constitution = ctx.home.constitution()?;
            let hash = constitution.hash();
            Output::new(
                json!({ "hash": hash.to_hex(), "genesis": hash == genesis, "verified": true }),
                format!(
                    "The constitution in use is {} ({hash}).",
                    if hash == genesis {
                        "the genesis"
                    } else {
                        "a ratified amendment"
                    }
                ),
            )
        }
    }
}

/// `mirror evolution report`: the week's statistics, the critics' findings
/// (stored, so a proposal can be drafted from one) and what observers
/// noticed.
pub fn evolution_report(ctx: &Context, days: u32) -> anyhow::Result<Output> {
    use std::fmt::Write as _;
    if days == 0 || days > 3660 {
        return Err(UsageError("--days is 1 to 3660".into()).into());
    }
    let store = ctx.store()?;
    let now = crate::model::Timestamp::now();
    let from =
        crate::model::Timestamp::from_micros(now.as_micros() - i64::from(days) * 86_400_000_000)?;
    let batch = store.window(from, now)?;
    let stats = crate::evolution::Stats::from_history(&batch, now, days);
    let findings = crate::evolution::Registry::builtin().review(&stats);
    let stored = crate::evolution::record_findings(&store, &findings)?;
    let from = now.as_micros() - i64::from(days) * 86_400_000_000;
    let observed: Vec<crate::model::EvolutionEvent> = store
        .list::<crate::model::EvolutionEvent>(usize::MAX)?
        .into_iter()
        .filter(|e| {
            e.kind == crate::model::EvolutionEventKind::Finding && e.created_at.as_micros() > from
        })
        .filter(|e| !stored.iter().any(|s| s.id == e.id))
        .collect();
    let mut text = format!(
        "The last {days} day(s): {} reflection(s), {} engine run(s)\n",
        stats.reflections, stats.runs
    );
    for (engine, e) in &stats.engines {
        let _ = writeln!(
            text,
            "  {engine:<10} {} run(s), {} refused for directives, {} fell back",
            e.runs, e.directive_violations, e.fallbacks
        );
    }
    if !stats.patterns.is_empty() {
        let _ = writeln!(
            text,
            "patterns   {}",
            stats
                .patterns
                .iter()
                .map(|(p, n)| format!("{p} {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if !stats.flags.is_empty() {
        let _ = writeln!(
            text,
            "flags      {}",
            stats
                .flags
                .iter()
                .map(|(p, n)| format!("{p} {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if !stats.ratings.is_empty() {
        let _ = writeln!(
            text,
            "ratings    {}",
            stats
                .ratings
                .iter()
                .map(|(r, n)| format!("{r}★ {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if let (Some(m), Some(p)) = (stats.duration_ms_median, stats.duration_ms_p90) {
        let _ = writeln!(text, "duration   median {m} ms, p90 {p} ms");
    }
    for e in stored.iter().chain(observed.iter()) {
        let _ = writeln!(text, "finding {}  {}", e.id, e.summary);
        if let Some(r) = e.details.0.get("recommendation").filter(|r| !r.is_null()) {
            let _ = writeln!(
                text,
                "  suggests a {} proposal: `mirror proposal new --from-finding {}`",
                r["proposal_type"].as_str().unwrap_or("governance"),
                e.id.short()
            );
        }
    }
    Output::new(
        json!({"stats": stats, "findings": stored, "observed": observed}),
        text.trim_end().to_string(),
    )
}
