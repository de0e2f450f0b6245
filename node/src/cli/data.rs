//! `init`, `export`, `import`, `migrate`, `status`.

use std::path::Path;

use serde_json::json;

use super::render::Output;
use super::{Context, MigrateCommand, UsageError, announce_init};
use std::io::IsTerminal;

use super::render;
use crate::bundle::{self, ApplyOptions, ExportOptions, ImportLimits};
use crate::model::{Identity, Timestamp};
use crate::store::{CURRENT_VERSION, MIGRATIONS};

pub fn init(ctx: &Context, name: Option<&str>) -> anyhow::Result<Output> {
    let mut report = ctx.home.init(name.unwrap_or("me"))?;
    // Already set up: a name given is the identity's new name.
    let renamed = match name {
        Some(name) if !report.created && report.identity.name != name => {
            let store = ctx.store()?;
            report.identity =
                store
                    .rename_identity(report.identity.id, name)
                    .map_err(|e| match e {
                        crate::store::StoreError::Invalid(v) => {
                            anyhow::Error::new(UsageError::from(v))
                        }
                        other => other.into(),
                    })?;
            true
        }
        _ => false,
    };
    let human = if report.created {
        announce_init(&report);
        format!(
            "Mirror is ready.\n  home:     {}\n  database: {}\n  config:   {}\n  identity: {} ({})\n  key:      {} (keep it private; it never leaves this machine unless you export with --include-keys)\n\nWrite your first reflection: mirror reflect \"…\"",
            report.home.display(),
            report.database.display(),
            report.config.display(),
            report.identity.name,
            report.identity.public_key.fingerprint(),
            report.key_file.display()
        )
    } else if renamed {
        format!(
            "Mirror is already set up in {}; the identity is now called {} ({}).",
            report.home.display(),
            report.identity.name,
            report.identity.public_key.fingerprint()
        )
    } else {
        format!(
            "Mirror is already set up in {} (identity {}, {}).",
            report.home.display(),
            report.identity.name,
            report.identity.public_key.fingerprint()
        )
    };
    Output::new(
        json!({
            "created": report.created,
            "renamed": renamed,
            "home": report.home,
            "database": report.database,
            "config": report.config,
            "key_file": report.key_file,
            "identity": report.identity,
        }),
        human,
    )
}

/// `mirror import --from jrnl|day-one|markdown PATH`.
pub fn import_foreign(ctx: &Context, from: &str, path: &Path) -> anyhow::Result<Output> {
    use crate::bundle::foreign::{self, Format};
    let format = match from {
        "jrnl" => Format::Jrnl,
        "day-one" => Format::DayOne,
        _ => Format::Markdown,
    };
    let store = ctx.store()?;
    let identity = ctx.identity(&store)?;
    let working = super::progress::spinner(format!("reading {}…", path.display()), ctx.json);
    let report = foreign::import(&store, &identity, format, path, render::zone());
    working.finish_and_clear();
    let report = report?;
    let mut human = format!(
        "Brought {} entr{} from {} ({}): {} new, {} already here.",
        report.entries,
        if report.entries == 1 { "y" } else { "ies" },
        report.format,
        path.display(),
        report.added,
        report.unchanged
    );
    if !report.skipped.is_empty() {
        human.push_str(&format!(
            "\nSkipped {} file(s) whose names do not start with a date (YYYY-MM-DD) or that are empty.",
            report.skipped.len()
        ));
    }
    for line in &report.left_out {
        human.push_str(&format!("\nLeft out: {line}"));
    }
    Output::new(report, human)
}

/// `mirror export --format md|json`: the reflections for people, to a file
/// or stdout.
pub fn export_journal(
    ctx: &Context,
    format: &str,
    out: Option<&Path>,
    since: Option<&str>,
    until: Option<&str>,
) -> anyhow::Result<Output> {
    use crate::when::Edge;
    let store = ctx.store_read()?;
    let since = since.map(|t| ctx.time(t, Edge::Start)).transpose()?;
    let until = until.map(|t| ctx.time(t, Edge::End)).transpose()?;
    let entries = bundle::journal::entries(&store, since, until, render::zone())?;
    let text = if format == "md" {
        bundle::journal::markdown(&entries)
    } else {
        serde_json::to_string_pretty(&json!({ "reflections": entries }))?
    };
    match out {
        Some(path) if path != Path::new("-") => {
            crate::home::write_atomic(path, text.as_bytes(), 0o600)?;
            Output::new(
                json!({"file": path, "reflections": entries.len(), "format": format}),
                format!(
                    "Wrote {} reflection(s) to {}.",
                    entries.len(),
                    path.display()
                ),
            )
        }
        // To stdout: the document itself is the answer.
        _ => Ok(Output {
            json: json!({ "reflections": entries }),
            human: text.trim_end().to_string(),
        }),
    }
}

pub fn export(ctx: &Context, out: Option<&Path>, include_keys: bool) -> anyhow::Result<Output> {
    let store = ctx.store_read()?;
    let out = match out {
        Some(path) => path.to_path_buf(),
        None => Path::new(".").join(bundle::default_file_name(Timestamp::now())),
    };
    let working = super::progress::spinner(format!("writing {}…", out.display()), ctx.json);
    let summary = bundle::export(
        &store,
        &ctx.home,
        &out,
        &ExportOptions {
            include_keys,
            // The constitution this node runs under, as it is on disk: an
            // export never checks or upgrades it (export always works, I5).
            constitution_hash: ctx.home.constitution_hash_on_disk().ok(),
        },
    )?;
    working.finish_and_clear();
    let records: u64 = summary.record_counts.values().sum();
    let mut human = format!(
        "Exported {records} records ({} files, {} bytes) to {}.",
        summary.files,
        summary.bytes,
        summary.path.display()
    );
    if include_keys {
        human.push_str("\nThis bundle contains your secret keys: keep it somewhere private.");
    }
    if !summary.skipped.is_empty() {
        human.push_str(&format!(
            "\nThe database is damaged: {} record(s) could not be read and are not in the bundle:",
            summary.skipped.len()
        ));
        for p in &summary.skipped {
            human.push_str(&format!(
                "\n  - {} {}: {}",
                p.table,
                p.key.as_deref().unwrap_or("(unknown id)"),
                p.reason
            ));
        }
        human.push_str("\n`mirror doctor` says more.");
    }
    Output::new(summary, human)
}

/// How `mirror import` was asked to run.
#[derive(Debug, Clone, Copy, Default)]
pub struct ImportChoices {
    pub dry_run: bool,
    pub restore_config: bool,
    pub yes: bool,
    pub restore_deleted: bool,
}

/// The settings a bundle would restore, one `key = value` a line, with the
/// ones that decide where text is sent called out.
fn describe_config(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let endpoint = line.contains("base_url")
            || line.starts_with("mode")
            || line.starts_with("bootstrap")
            || line.starts_with("listen");
        out.push_str("  ");
        out.push_str(&render::escape(line));
        if endpoint {
            out.push_str("    <- decides where your writing is sent");
        }
        out.push('\n');
    }
    out
}

pub fn import(ctx: &Context, file: &Path, choices: &ImportChoices) -> anyhow::Result<Output> {
    let limits = ImportLimits::from(&ctx.home.load_config()?.import);
    let working = super::progress::spinner(format!("checking {}…", file.display()), ctx.json);
    let verified = bundle::read_bundle(file, &limits);
    working.finish_and_clear();
    let verified = verified?;
    let total = verified.batch.len();
    if choices.dry_run {
        let mut human = format!(
            "{} is a valid bundle: {total} records (schema {}, written by mirror {} at {}). Nothing was imported.",
            file.display(),
            verified.manifest.schema_version,
            verified.manifest.node_version,
            verified.manifest.created_at
        );
        if let Some(config) = &verified.config {
            human.push_str(&format!(
                "\nIts settings (applied only with --restore-config):\n{}",
                describe_config(config).trim_end()
            ));
        }
        return Output::new(
            json!({ "valid": true, "manifest": verified.manifest, "config": verified.config }),
            human,
        );
    }
    if choices.restore_config {
        // Shown before anything changes, and applied only on a yes.
        let Some(config) = &verified.config else {
            anyhow::bail!(
                "{} has no config.toml to restore; nothing was imported",
                file.display()
            );
        };
        bundle::bundle_config(&verified)?;
        eprintln!(
            "The bundle's settings, which --restore-config applies:\n{}",
            describe_config(config).trim_end()
        );
        if !choices.yes {
            if !std::io::stdin().is_terminal() {
                anyhow::bail!(
                    "--restore-config changes where your writing may be sent; confirm with --yes (nothing was imported)"
                );
            }
            eprint!("Apply these settings? [y/N] ");
            let mut answer = String::new();
            std::io::stdin().read_line(&mut answer)?;
            if !matches!(answer.trim(), "y" | "Y" | "yes") {
                anyhow::bail!("settings not applied; nothing was imported");
            }
        }
    }
    let store = ctx.store()?;
    let working = super::progress::spinner("merging…", ctx.json);
    let summary = bundle::apply_with(
        &store,
        &ctx.home,
        &verified,
        &ApplyOptions {
            restore_config: choices.restore_config,
            restore_deleted: choices.restore_deleted,
        },
    );
    working.finish_and_clear();
    let summary = summary?;
    let mut human = format!(
        "Imported {}: {} records added, {} updated, {} already here.",
        file.display(),
        summary.report.added(),
        summary.report.updated(),
        total as u64 - summary.report.added() - summary.report.updated()
    );
    if let Some(id) = summary.identity_adopted {
        human.push_str(&format!("\nThis node now uses the bundle's identity {id}."));
    }
    if summary.config_restored {
        human.push_str("\nThe bundle's settings were applied (config.toml).");
    }
    for key in &summary.keys_written {
        human.push_str(&format!("\nRestored secret key {}.", key.display()));
    }
    if !summary.left_out.is_empty() {
        human.push_str("\nLeft out:");
        for line in &summary.left_out {
            human.push_str(&format!("\n  - {line}"));
        }
    }
    Output::new(summary, human)
}

pub fn migrate(ctx: &Context, cmd: &MigrateCommand) -> anyhow::Result<Output> {
    let mut store = ctx.home.open_store_unmigrated()?;
    match cmd {
        MigrateCommand::Status => {
            let version = store.schema_version();
            let steps: Vec<_> = MIGRATIONS
                .iter()
                .map(|m| {
                    json!({
                        "version": m.version,
                        "description": m.description,
                        "applied": m.version <= version,
                    })
                })
                .collect();
            let mut human = format!(
                "Schema version {version} (this mirror supports up to {CURRENT_VERSION}).\n"
            );
            for m in MIGRATIONS {
                let mark = if m.version <= version { "✓" } else { " " };
                human.push_str(&format!("  [{mark}] v{}  {}\n", m.version, m.description));
            }
            if version < CURRENT_VERSION {
                human.push_str("Run `mirror migrate up` to upgrade (a backup is written first).");
            }
            Output::new(
                json!({ "version": version, "supported": CURRENT_VERSION, "migrations": steps }),
                human.trim_end().to_string(),
            )
        }
        MigrateCommand::Up => migrate_report(store.migrate_to(CURRENT_VERSION)?),
        MigrateCommand::Down { to } => migrate_report(store.migrate_to(*to)?),
    }
}

fn migrate_report(report: crate::store::MigrationReport) -> anyhow::Result<Output> {
    let mut human = if report.from == report.to {
        format!("Already at schema version {}; nothing to do.", report.to)
    } else {
        format!("Migrated schema {} → {}.", report.from, report.to)
    };
    if let Some(backup) = &report.backup {
        human.push_str(&format!(
            "\nBackup of the previous database: {}",
            backup.display()
        ));
    }
    Output::new(report, human)
}

pub fn status(ctx: &Context) -> anyhow::Result<Output> {
    let store = ctx.store_read()?;
    let config = ctx.home.load_config()?;
    let identity = match config.identity {
        Some(id) => store.get::<Identity>(id)?,
        None => None,
    };
    let counts = store.counts()?;
    let mut human = format!(
        "Home:     {}\nDatabase: {} ({} bytes, schema v{})\n",
        ctx.home.dir().display(),
        ctx.home.db_path().display(),
        store.file_size(),
        store.schema_version()
    );
    match &identity {
        Some(i) => human.push_str(&format!(
            "Identity: {} ({})\n",
            i.name,
            i.public_key.fingerprint()
        )),
        None => human.push_str("Identity: none yet (`mirror init` creates one)\n"),
    }
    for (table, n) in &counts {
        if *n > 0 {
            human.push_str(&format!("  {table:<18} {n}\n"));
        }
    }
    let consents = store.consents()?;
    let granted: Vec<&str> = consents
        .iter()
        .filter(|(_, s)| s.as_ref().is_some_and(|s| s.granted))
        .map(|(c, _)| c.as_str())
        .collect();
    human.push_str(&format!(
        "Consent:  {}",
        if granted.is_empty() {
            "nothing is shared (all off)".to_string()
        } else {
            granted.join(", ")
        }
    ));
    // What each model's recent answers have earned (engine::standing).
    let models = crate::engine::standing::every(
        &store.list::<crate::model::Mirrorback>(crate::engine::standing::SCAN)?,
    );
    for (engine, model, standing) in &models {
        human.push_str(&format!(
            "\nModel:    {model} ({engine}): {}",
            standing.describe()
        ));
    }
    Output::new(
        json!({
            "home": ctx.home.dir(),
            "database": ctx.home.db_path(),
            "database_bytes": store.file_size(),
            "schema_version": store.schema_version(),
            "identity": identity,
            "record_counts": counts.iter().map(|(t, n)| (t.to_string(), *n)).collect::<std::collections::BTreeMap<_, _>>(),
            "consent": consents.iter().map(|(c, s)| (c.as_str(), s.as_ref().is_some_and(|s| s.granted))).collect::<std::collections::BTreeMap<_, _>>(),
            "models": models.iter().map(|(engine, model, s)| json!({
                "engine": engine.as_str(),
                "model": model,
                "answers": s.asked,
                "passed_first_attempt": s.first_try,
                "trusted": s.proven(),
            })).collect::<Vec<_>>(),
        }),
        human,
    )
}

/// `mirror backup [--if-due]`: the daily backup, now or when due.
pub fn backup(ctx: &Context, if_due: bool) -> anyhow::Result<Output> {
    let taken = ctx.home.backup(!if_due)?;
    let human = match &taken {
        Some(path) => format!("Backup written: {}", path.display()),
        None if if_due => "No backup due.".to_string(),
        None => "No backup taken (nothing written yet, backups.keep is 0, one is being taken, or the store is at an older schema after `mirror migrate down`)."
            .to_string(),
    };
    Output::new(json!({ "backup": taken }), human)
}

pub fn doctor(ctx: &Context, salvage: Option<&Path>, with_backup: bool) -> anyhow::Result<Output> {
    if let Some(out) = salvage {
        let report = crate::doctor::salvage(&ctx.home, out, with_backup)?;
        let saved: u64 = report.saved.iter().map(|(_, n)| n).sum();
        let mut human = format!("Saved {saved} records to {}.", report.out.display());
        if let Some(backup) = &report.backup {
            human.push_str(&format!(
                "\n{} of them came from the backup {} (the damaged file had lost them).",
                report.from_backup,
                backup.display()
            ));
        }
        if report.lost.is_empty() {
            human.push_str("\nNothing was lost.");
        } else {
            human.push_str(&format!("\nLost ({}):", report.lost.len()));
            for p in &report.lost {
                human.push_str(&format!(
                    "\n  - {} {}: {}",
                    p.table,
                    p.key.as_deref().unwrap_or("(unknown id)"),
                    p.reason
                ));
            }
        }
        human.push_str(&format!(
            "\nThe damaged database {} was not changed. Consent is not carried over: grant again what you want to share.",
            ctx.home.db_path().display()
        ));
        return Output::new(report, human);
    }
    let d = crate::doctor::diagnose(&ctx.home)?;
    let records: u64 = d.readable.iter().map(|(_, n)| n).sum();
    let mut human = if d.ok {
        format!(
            "The database {} is intact: {records} records read and checked, every page checksum verified.",
            d.database.display()
        )
    } else {
        format!(
            "The database {} is damaged: {records} records are readable, {} problem(s) found{}.",
            d.database.display(),
            d.problems.len(),
            if d.pages == crate::store::integrity::PageCheck::Damaged {
                ", and redb's page checksums fail"
            } else {
                ""
            }
        )
    };
    for p in d.problems.iter().take(20) {
        human.push_str(&format!(
            "\n  - {} {}: {}",
            p.table,
            p.key.as_deref().unwrap_or("(unknown id)"),
            p.reason
        ));
    }
    if d.problems.len() > 20 {
        human.push_str(&format!(
            "\n  … and {} more (--json lists all)",
            d.problems.len() - 20
        ));
    }
    if d.mark_cleared {
        human.push_str("\nThe damage mark was cleared: writing works again.");
    }
    if d.backups.is_empty() {
        human.push_str("\nNo backups yet.");
    } else {
        human.push_str("\nBackups:");
        for b in &d.backups {
            human.push_str(&format!("\n  {} ({} bytes)", b.path.display(), b.bytes));
        }
    }
    if !d.ok {
        human.push_str(
            "\nWriting is stopped so nothing more is lost. `mirror doctor --salvage NEW.redb` copies out every readable record (add --with-backup to take what was lost from the newest backup); then move the new file in place of the old one.",
        );
    }
    Output::new(d, human)
}
