//! `init`, `export`, `import`, `migrate`, `status`.

use std::path::Path;

use serde_json::json;

use super::render::Output;
use super::{Context, MigrateCommand, announce_init};
use crate::bundle::{self, ExportOptions, ImportLimits};
use crate::model::{Identity, Timestamp};
use crate::store::{CURRENT_VERSION, MIGRATIONS, Store};

pub fn init(ctx: &Context, name: &str) -> anyhow::Result<Output> {
    let report = ctx.home.init(name)?;
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
            "home": report.home,
            "database": report.database,
            "config": report.config,
            "key_file": report.key_file,
            "identity": report.identity,
        }),
        human,
    )
}

pub fn export(ctx: &Context, out: Option<&Path>, include_keys: bool) -> anyhow::Result<Output> {
    let store = ctx.store()?;
    let out = match out {
        Some(path) => path.to_path_buf(),
        None => Path::new(".").join(bundle::default_file_name(Timestamp::now())),
    };
    let summary = bundle::export(
        &store,
        &ctx.home,
        &out,
        &ExportOptions {
            include_keys,
            constitution_hash: None,
        },
    )?;
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
    Output::new(summary, human)
}

pub fn import(ctx: &Context, file: &Path, dry_run: bool) -> anyhow::Result<Output> {
    let limits = ImportLimits::from(&ctx.home.load_config()?.import);
    let verified = bundle::read_bundle(file, &limits)?;
    let total = verified.batch.len();
    if dry_run {
        let human = format!(
            "{} is a valid bundle: {total} records (schema {}, written by mirror {} at {}). Nothing was imported.",
            file.display(),
            verified.manifest.schema_version,
            verified.manifest.node_version,
            verified.manifest.created_at
        );
        return Output::new(
            json!({ "valid": true, "manifest": verified.manifest }),
            human,
        );
    }
    let store = ctx.store()?;
    let summary = bundle::apply(&store, &ctx.home, &verified)?;
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
    for key in &summary.keys_written {
        human.push_str(&format!("\nRestored secret key {}.", key.display()));
    }
    Output::new(summary, human)
}

pub fn migrate(ctx: &Context, cmd: &MigrateCommand) -> anyhow::Result<Output> {
    ctx.home.ensure_dir()?;
    let mut store = Store::open_unmigrated(&ctx.home.db_path())?;
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
    let store = ctx.store()?;
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
    Output::new(
        json!({
            "home": ctx.home.dir(),
            "database": ctx.home.db_path(),
            "database_bytes": store.file_size(),
            "schema_version": store.schema_version(),
            "identity": identity,
            "record_counts": counts.iter().map(|(t, n)| (t.to_string(), *n)).collect::<std::collections::BTreeMap<_, _>>(),
            "consent": consents.iter().map(|(c, s)| (c.as_str(), s.as_ref().is_some_and(|s| s.granted))).collect::<std::collections::BTreeMap<_, _>>(),
        }),
        human,
    )
}
