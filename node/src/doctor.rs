//! `mirror doctor`: is the journal intact, and if not, what can be saved.
//!
//! The checks never write to the database: it is opened read-only (or, when
//! it needs crash recovery, a copy is recovered and read), walked record by
//! record ([`Store::verify`]) and its pages checked by redb on another copy
//! ([`integrity::page_check`]). A salvage reads every record that can be read
//! ([`Store::salvage`]) and writes it to a *new* store or bundle, naming what
//! was lost; with `with_backup`, records the damaged file lost but the
//! newest rolling backup still has are taken from the backup.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::bundle::{self, BundleError, ExportOptions};
use crate::home::{Home, SecretKey};
use crate::model::{Id, Identity, Keyed, Timestamp};
use crate::store::backup::{self, BackupFile};
use crate::store::integrity::{self, PageCheck, Problem};
use crate::store::{Batch, Store, StoreError};

/// What `mirror doctor` found.
#[derive(Debug, Clone, Serialize)]
pub struct Diagnosis {
    pub database: PathBuf,
    pub ok: bool,
    /// redb's check of every page checksum.
    pub pages: PageCheck,
    /// Records read intact, per table.
    pub readable: Vec<(&'static str, u64)>,
    pub problems: Vec<Problem>,
    /// Whether the file carried a damage mark, and whether this check
    /// cleared it (it passed).
    pub was_marked: bool,
    pub mark_cleared: bool,
    pub backups: Vec<BackupFile>,
}

#[derive(Debug, thiserror::Error)]
pub enum DoctorError {
    #[error("there is no database at {} yet", path.display())]
    NoDatabase { path: PathBuf },
    #[error("{} already exists; salvage writes to a new file only", path.display())]
    OutputExists { path: PathBuf },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Bundle(#[from] BundleError),
}

/// Check the home's database completely, without writing to it. A store
/// that passes has its damage mark (if any) cleared.
pub fn diagnose(home: &Home) -> Result<Diagnosis, DoctorError> {
    let db = home.db_path();
    if !db.exists() {
        return Err(DoctorError::NoDatabase { path: db });
    }
    let was_marked = integrity::is_marked_damaged(&db);
    let pages = integrity::page_check(&db)?;
    let (readable, problems) = match Store::open_for_inspection(&db) {
        Ok(inspection) => {
            let report = inspection.store.verify();
            (report.readable, report.problems)
        }
        Err(StoreError::InUse { path }) => return Err(StoreError::InUse { path }.into()),
        Err(e) => (
            Vec::new(),
            vec![Problem {
                table: "database",
                key: None,
                reason: e.to_string(),
            }],
        ),
    };
    let ok = problems.is_empty() && pages != PageCheck::Damaged;
    let mut mark_cleared = false;
    if ok && was_marked {
        mark_cleared = integrity::clear_mark(&db).unwrap_or(false);
    }
    Ok(Diagnosis {
        database: db.clone(),
        ok,
        pages,
        readable,
        problems,
        was_marked,
        mark_cleared,
        backups: backup::list(&db),
    })
}

/// What a salvage wrote.
#[derive(Debug, Clone, Serialize)]
pub struct SalvageReport {
    pub out: PathBuf,
    /// Records written, per table.
    pub saved: Vec<(&'static str, u64)>,
    /// What could not be saved.
    pub lost: Vec<Problem>,
    /// Records taken from the backup because the damaged file lost them.
    pub from_backup: u64,
    pub backup: Option<PathBuf>,
}

/// Rebuild each identity the salvaged records point at whose own record
/// was lost, from its key file: the id and the public key are what the
/// records and the key need, and a lost identity record (a few dozen bytes
/// on one page) would otherwise take every reflection with it. Its name
/// is gone; it is named "restored" and the report says so. An identity
/// with no readable key file stays lost, and its records with it.
fn restore_identities(home: &Home, s: &mut integrity::Salvaged) {
    let have: HashSet<Id> = s.batch.identities.iter().map(|i| i.id).collect();
    let mut wanted: Vec<(Id, Timestamp)> = Vec::new();
    let referenced = s
        .batch
        .reflections
        .iter()
        .map(|r| (r.identity_id, Some(r.created_at)))
        .chain(s.batch.threads.iter().map(|t| (t.identity_id, None)))
        .chain(s.batch.tensions.iter().map(|t| (t.identity_id, None)));
    for (id, at) in referenced {
        if have.contains(&id) {
            continue;
        }
        match wanted.iter_mut().find(|(w, _)| *w == id) {
            Some((_, first)) => {
                if let Some(at) = at
                    && at < *first
                {
                    *first = at;
                }
            }
            None => wanted.push((id, at.unwrap_or_else(Timestamp::now))),
        }
    }
    for (id, created_at) in wanted {
        let path = home.key_path(id);
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let Ok(key) = SecretKey::from_file_text(&text, &path) else {
            continue;
        };
        s.batch.identities.push(Identity {
            id,
            name: "restored".into(),
            public_key: key.public_key(),
            created_at,
        });
        s.lost.push(Problem {
            table: "identities",
            key: Some(id.to_string()),
            reason: "its record was unreadable; rebuilt from its key file so its writing is kept (its name was lost: it is now \"restored\")".into(),
        });
    }
}

/// Records of `backup` whose ids the salvaged batch lacks, added to it.
fn fill_from(batch: &mut Batch, backup: Batch) -> u64 {
    fn add<R: Keyed>(ours: &mut Vec<R>, theirs: Vec<R>) -> u64 {
        let have: HashSet<_> = ours.iter().map(Keyed::id).collect();
        let before = ours.len();
        ours.extend(theirs.into_iter().filter(|r| !have.contains(&r.id())));
        (ours.len() - before) as u64
    }
    let mut n = 0;
    n += add(&mut batch.identities, backup.identities);
    n += add(&mut batch.reflections, backup.reflections);
    n += add(&mut batch.mirrorbacks, backup.mirrorbacks);
    n += add(&mut batch.tensions, backup.tensions);
    n += add(&mut batch.tension_evidence, backup.tension_evidence);
    n += add(&mut batch.tension_suggestions, backup.tension_suggestions);
    n += add(&mut batch.threads, backup.threads);
    n += add(&mut batch.engine_runs, backup.engine_runs);
    n += add(&mut batch.engine_feedback, backup.engine_feedback);
    n += add(&mut batch.evolution_events, backup.evolution_events);
    n += add(&mut batch.evolution_history, backup.evolution_history);
    n += add(&mut batch.integrations, backup.integrations);
    n += add(&mut batch.consent_changes, backup.consent_changes);
    n += add(&mut batch.egress_log, backup.egress_log);
    let members: HashSet<_> = batch
        .thread_members
        .iter()
        .map(|m| (m.thread_id, m.reflection_id))
        .collect();
    for m in backup.thread_members {
        if !members.contains(&(m.thread_id, m.reflection_id)) {
            batch.thread_members.push(m);
            n += 1;
        }
    }
    let consent: HashSet<_> = batch.consent.iter().map(|c| c.category).collect();
    for c in backup.consent {
        // Consent lost with the damage comes back as "no": a backup never
        // grants what the damaged file can no longer show was granted.
        if !consent.contains(&c.category) && !c.granted {
            batch.consent.push(c);
            n += 1;
        }
    }
    n
}

/// Write every readable record of the home's database to `out`: a new
/// store, or a bundle when `out` ends in `.tar.gz`. The damaged file is
/// never written.
pub fn salvage(home: &Home, out: &Path, with_backup: bool) -> Result<SalvageReport, DoctorError> {
    let db = home.db_path();
    if !db.exists() {
        return Err(DoctorError::NoDatabase { path: db });
    }
    if out.exists() {
        return Err(DoctorError::OutputExists {
            path: out.to_path_buf(),
        });
    }
    let mut salvaged = match Store::open_for_inspection(&db) {
        Ok(inspection) => inspection.store.salvage_unpruned(),
        Err(StoreError::InUse { path }) => return Err(StoreError::InUse { path }.into()),
        // Not even openable (a damaged header or root): what is left is
        // the values themselves, found in the raw file.
        Err(e) => {
            let bytes = std::fs::read(&db).map_err(|source| StoreError::Io {
                context: format!("reading {}", db.display()),
                source,
            })?;
            let mut batch = Batch::default();
            integrity::merge_scanned(&mut batch, integrity::scan_file(&bytes));
            integrity::Salvaged {
                batch,
                lost: vec![Problem {
                    table: "database",
                    key: None,
                    reason: format!(
                        "the database cannot be opened ({e}); records were recovered by scanning the file, and any whose bytes are damaged are lost"
                    ),
                }],
            }
        }
    };
    let mut from_backup = 0;
    let mut used_backup = None;
    if with_backup
        && let Some(newest) = backup::list(&db)
            .into_iter()
            .rev()
            .find(|b| b.kind == "daily")
    {
        match Store::open_for_inspection(&newest.path) {
            Ok(copy) => {
                let theirs = copy.store.salvage();
                from_backup = fill_from(&mut salvaged.batch, theirs.batch);
                used_backup = Some(newest.path);
            }
            Err(e) => {
                tracing::warn!(backup = %newest.path.display(), error = %e, "the backup could not be read")
            }
        }
    }
    // An identity whose own record is unreadable is rebuilt from its key
    // file, so the writing that points at it is kept; records from the
    // backup may complete other references; drop what still dangles,
    // naming it.
    restore_identities(home, &mut salvaged);
    salvaged.prune();
    let saved = salvaged.batch.counts();
    let bundle_out = out
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.ends_with(".tar.gz") || n.ends_with(".tgz"));
    if bundle_out {
        let dir = tempfile::Builder::new()
            .prefix(".mirror-salvage-")
            .tempdir_in(home.dir())
            .map_err(|source| StoreError::Io {
                context: "creating a working directory for the salvage".into(),
                source,
            })?;
        let store = Store::open(&dir.path().join("salvaged.redb"))?;
        store.import(&salvaged.batch)?;
        bundle::export(
            &store,
            home,
            out,
            &ExportOptions {
                include_keys: false,
                constitution_hash: None,
            },
        )?;
    } else {
        let store = Store::open(out)?;
        store.import(&salvaged.batch)?;
    }
    Ok(SalvageReport {
        out: out.to_path_buf(),
        saved,
        lost: salvaged.lost,
        from_backup,
        backup: used_backup,
    })
}
