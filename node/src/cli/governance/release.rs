//! `mirror release build|sign|propose|pending|publish|verify|export|list|apply|rollback`:
//! releases built from approved proposals (planned by
//! `mirror_governance::plan`), signed by the guardians, verified and applied.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use mirror_commons::record::Record;
use mirror_governance::ledger::Ledger;
use mirror_governance::params::EngineParams;
use mirror_governance::payload::{self, Hash, Hex, ReleaseManifest};
use mirror_governance::release as tuf;
use serde_json::json;

use super::{
    governance_records, ledger, local_time, my_public_key, now, publish, read_json_file,
    resolve_hash, short, signer, write_file,
};
use crate::cli::{Context, Output, UsageError};
use crate::release;

#[derive(Debug, clap::Subcommand)]
pub enum ReleaseCommand {
    /// Build the next release from approved proposals into a file (unsigned)
    Build {
        /// An approved proposal to apply (repeatable) [default: every
        /// approved proposal no verified release has applied yet]
        #[arg(long = "proposal", value_name = "ID")]
        proposals: Vec<String>,
        /// Days until its metadata expires
        #[arg(long, default_value_t = 90)]
        expires_days: u32,
        /// Where to write the release file [default: ./release-<version>.json]
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Add this node's guardian signature to a release file (in place), or
    /// to a release candidate in the commons (sent over the commons)
    Sign {
        /// The release file, or a candidate's record id (or prefix)
        file: PathBuf,
    },
    /// Send a release file to the commons as a candidate, with this node's
    /// signature if its key is a guardian's, for the other guardians to sign
    /// with `mirror release sign ID`
    Propose {
        /// The release file (from `mirror release build`)
        file: PathBuf,
    },
    /// Release candidates in the commons and who has signed them
    Pending,
    /// Publish a release to the commons once the guardians' threshold has
    /// signed it: a signed release file, or a candidate (by anyone)
    Publish {
        /// The signed release file, or a candidate's record id (or prefix)
        file: PathBuf,
    },
    /// Verify a release (a file, a TUF repository directory, or a record id)
    /// as `apply` would, changing nothing
    Verify {
        /// A release file, a TUF repository directory, or a record id (or prefix)
        release: String,
    },
    /// Write a release as a TUF repository (metadata/, targets/) for other
    /// TUF tools
    Export {
        /// A release file, a TUF repository directory, or a record id (or prefix)
        release: String,
        /// The directory to write (created)
        dir: PathBuf,
    },
    /// Releases in the commons, their verdicts, and what is in force here
    List,
    /// Verify, then put a release's parameter pack in force [default: the
    /// newest verified release in the commons]
    Apply {
        /// A release file, a TUF repository directory, or a record id (or prefix)
        release: Option<String>,
    },
    /// Go back to the pack in force before the current release
    Rollback,
}

/// The candidate one of whose records is `spec` (an id or prefix).
fn candidate(ledger: &Ledger, spec: &str) -> anyhow::Result<mirror_governance::ledger::Candidate> {
    let candidates = ledger.release_candidates();
    let known: Vec<Hash> = candidates.iter().flat_map(|c| c.records.clone()).collect();
    let id = resolve_hash(spec, &known, "release file or candidate record id")?;
    candidates
        .into_iter()
        .find(|c| c.records.contains(&id))
        .ok_or_else(|| UsageError(format!("no file and no release candidate {spec}")).into())
}

/// A release given as a record id in the commons, a release file, or a TUF
/// repository directory; with its record id when it has one.
fn load_release(records: &[Record], spec: &str) -> anyhow::Result<(ReleaseManifest, String)> {
    let path = Path::new(spec);
    if path.is_dir() {
        return Ok((release::read_repository(path)?, String::new()));
    }
    if path.is_file() {
        let value = read_json_file(path)?;
        let map = value
            .as_object()
            .cloned()
            .ok_or_else(|| UsageError("a release file is a JSON object".into()))?;
        let m = payload::parse::<ReleaseManifest>(&map)
            .map_err(|e| UsageError(format!("{}: {e}", path.display())))?;
        return Ok((m, String::new()));
    }
    let known: Vec<Hash> = records.iter().map(|r| Hex(r.id().0)).collect();
    let id = resolve_hash(spec, &known, "release (a file, a directory or a record id)")?;
    let record = records
        .iter()
        .find(|r| r.id().0 == id.0)
        .ok_or_else(|| UsageError(format!("no release record {spec} in the commons")))?;
    let m =
        payload::parse::<ReleaseManifest>(&record.payload).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok((m, spec.to_string()))
}

/// Verified releases in the commons, oldest first, with their record ids.
fn verified_releases(ledger: &Ledger) -> Vec<(Hash, tuf::Release)> {
    ledger
        .releases()
        .into_iter()
        .filter_map(|(e, r)| r.ok().map(|r| (e.id, r)))
        .collect()
}

pub fn release_cmd(ctx: &Context, cmd: &ReleaseCommand) -> anyhow::Result<Output> {
    match cmd {
        ReleaseCommand::Build {
            proposals,
            expires_days,
            out,
        } => {
            let (ledger, _) = ledger(ctx)?;
            let t = now();
            let chosen = proposals
                .iter()
                .map(|p| resolve_hash(p, &ledger.proposals(), "proposal id"))
                .collect::<Result<Vec<_>, _>>()?;
            let documents: BTreeMap<String, String> = ctx
                .home
                .constitution()?
                .files()
                .map(|(n, t)| (n.to_string(), t.to_string()))
                .collect();
            let plan = mirror_governance::plan::plan(&ledger, t, &chosen, &documents)
                .map_err(|e| UsageError(e.to_string()))?;
            let mut earlier_guardians = ledger.guardian_history();
            let guardians = earlier_guardians
                .pop()
                .unwrap_or_else(|| ledger.guardians());
            let m = tuf::build(&tuf::BuildSpec {
                version: plan.version,
                previous: plan.previous,
                proposals: plan.proposals.clone(),
                params: &plan.params,
                constitution: plan.constitution.as_ref(),
                guardians: &guardians,
                earlier_guardians: &earlier_guardians,
                earlier_roots: &tuf::chain::carried_roots(&ledger),
                expires_ms: t + i64::from(*expires_days) * 86_400_000,
                root_expires_ms: t + tuf::chain::ROOT_LIFETIME_MS,
            })?;
            let out = out
                .clone()
                .unwrap_or_else(|| PathBuf::from(format!("release-{}.json", m.version)));
            write_file(
                &out,
                &payload::to_payload(&m).map_err(|e| anyhow::anyhow!("{e}"))?,
            )?;
            Output::new(
                json!({"file": out, "version": m.version, "proposals": m.proposals, "params_hash": plan.params.hash()}),
                format!(
                    "release {} built into {} (unsigned; {} of {} guardians sign it with `mirror release sign {}`)",
                    m.version,
                    out.display(),
                    guardians.threshold,
                    guardians.keys.len(),
                    out.display()
                ),
            )
        }
        ReleaseCommand::Sign { file } if !file.exists() => {
            let (ledger, _) = ledger(ctx)?;
            let c = candidate(&ledger, &file.to_string_lossy())?;
            let key = signer(ctx)?;
            let (signed, roles) = tuf::sign(&c.release, &key)?;
            if roles.is_empty() {
                return Err(UsageError(
                    "this node's key is not among the release root's keys: nothing signed".into(),
                )
                .into());
            }
            let (id, how) = publish(ctx, &key, &payload::ReleaseCandidate(signed.clone()))?;
            let complete = tuf::verify(&signed).is_ok();
            Output::new(
                json!({"candidate": c.records[0], "record": id, "roles": roles, "complete": complete}),
                format!(
                    "signed {} of candidate {} (release {}): record {id} {how}{}",
                    roles.join(", "),
                    short(&c.records[0]),
                    c.release.version,
                    if complete {
                        "; the threshold is reached: anyone may `mirror release publish` it"
                    } else {
                        "; more guardians must sign"
                    }
                ),
            )
        }
        ReleaseCommand::Propose { file } => {
            let (m, _) = load_release(&[], &file.to_string_lossy())?;
            let key = signer(ctx)?;
            let (m, roles) = tuf::sign(&m, &key)?;
            if roles.is_empty() {
                return Err(UsageError(
                    "this node's key is not among the release root's keys: a candidate carries its proposer's signature".into(),
                )
                .into());
            }
            let content = tuf::content_id(&m)
                .ok_or_else(|| UsageError("the release's metadata is not JSON".into()))?;
            let (id, how) = publish(ctx, &key, &payload::ReleaseCandidate(m.clone()))?;
            Output::new(
                json!({"id": id, "content": content, "version": m.version, "roles": roles}),
                format!(
                    "release {} proposed as candidate {id} {how}, signed here: {}; guardians sign it with `mirror release sign {}`",
                    m.version,
                    roles.join(", "),
                    short(&id)
                ),
            )
        }
        ReleaseCommand::Pending => {
            let (ledger, _) = ledger(ctx)?;
            let guardians = ledger.guardians();
            // Whether this node may still sign each candidate, so a page
            // (the web app's) offers to sign exactly when `sign` would.
            let me = my_public_key(ctx)?;
            let guardian = guardians.keys.contains(&me);
            let mut rows = Vec::new();
            let mut text = String::new();
            for c in ledger.release_candidates() {
                let signers = tuf::signers(&c.release);
                let on_targets: Vec<String> = signers
                    .get("targets")
                    .into_iter()
                    .flatten()
                    .map(|k| k.to_hex())
                    .collect();
                let (state, phase) = match (&c.published, &c.verdict) {
                    (Some(id), _) => (format!("published as {}", short(id)), "published"),
                    (None, Ok(_)) => ("ready: anyone may publish it".to_string(), "ready"),
                    (None, Err(e)) => (format!("waiting: {e}"), "waiting"),
                };
                let signed_here = on_targets.contains(&me.to_hex());
                let _ = writeln!(
                    text,
                    "{}  v{:<4} signed by {} of {} guardians (threshold {}): {}; {state}",
                    short(&c.records[0]),
                    c.release.version,
                    on_targets.len(),
                    guardians.keys.len(),
                    guardians.threshold,
                    on_targets.iter().map(short).collect::<Vec<_>>().join(", "),
                );
                rows.push(json!({
                    "id": c.records[0],
                    "records": c.records,
                    "content": c.content,
                    "version": c.release.version,
                    "signers": signers,
                    "signed": on_targets.len(),
                    "guardians": guardians.keys.len(),
                    "threshold": guardians.threshold,
                    "state": phase,
                    "ready": c.verdict.is_ok(),
                    "detail": c.verdict.as_ref().err().map(|e| e.to_string()),
                    "published": c.published,
                    "signed_here": signed_here,
                    "may_sign": guardian && !signed_here && c.published.is_none(),
                }));
            }
            if rows.is_empty() {
                text.push_str("no release candidates");
            }
            Output::new(
                json!({"candidates": rows, "me": me, "guardian": guardian}),
                text.trim_end().to_string(),
            )
        }
        ReleaseCommand::Publish { file } if !file.exists() => {
            let (ledger, _) = ledger(ctx)?;
            let c = candidate(&ledger, &file.to_string_lossy())?;
            if let Some(id) = c.published {
                return Err(UsageError(format!("already published as release record {id}")).into());
            }
            c.verdict.map_err(|e| {
                UsageError(format!(
                    "candidate {} cannot be published yet: {e}",
                    short(&c.records[0])
                ))
            })?;
            let (id, how) = publish(ctx, &signer(ctx)?, &c.release)?;
            Output::new(
                json!({"id": id, "version": c.release.version, "candidate": c.records[0]}),
                format!(
                    "release {} published from candidate {}: record {id} {how}",
                    c.release.version,
                    short(&c.records[0])
                ),
            )
        }
        ReleaseCommand::Sign { file } => {
            let (m, _) = load_release(&[], &file.to_string_lossy())?;
            let key = signer(ctx)?;
            let (signed, roles) = tuf::sign(&m, &key)?;
            if roles.is_empty() {
                return Err(UsageError(
                    "this node's key is not among the release root's keys: nothing signed".into(),
                )
                .into());
            }
            write_file(
                file,
                &payload::to_payload(&signed).map_err(|e| anyhow::anyhow!("{e}"))?,
            )?;
            let complete = tuf::verify(&signed).is_ok();
            Output::new(
                json!({"file": file, "roles": roles, "complete": complete}),
                format!(
                    "signed {} in {}{}",
                    roles.join(", "),
                    file.display(),
                    if complete {
                        "; the threshold is reached: `mirror release publish` sends it"
                    } else {
                        "; more guardians must sign"
                    }
                ),
            )
        }
        ReleaseCommand::Publish { file } => {
            let (m, _) = load_release(&[], &file.to_string_lossy())?;
            let (ledger, _) = ledger(ctx)?;
            let r = tuf::verify(&m)?;
            tuf::check_guardians(&r, &ledger.guardians())?;
            let (id, how) = publish(ctx, &signer(ctx)?, &m)?;
            Output::new(
                json!({"id": id, "version": m.version}),
                format!("release {} published: record {id} {how}", m.version),
            )
        }
        ReleaseCommand::Verify { release: spec } => {
            let (ledger, records) = ledger(ctx)?;
            let (m, id) = load_release(&records, spec)?;
            let r = release::verify(&m, &ledger.guardian_history(), now())?;
            let text = format!(
                "release {} verifies: signed by the guardians (root version {}), expires {}, {} proposal(s), pack {}",
                r.info.version,
                r.root_version,
                local_time(r.expires_ms),
                r.info.proposals.len(),
                short(&r.info.params_hash)
            );
            Output::new(
                json!({"ok": true, "id": id, "version": r.info.version, "proposals": r.info.proposals, "params_hash": r.info.params_hash, "expires_ms": r.expires_ms}),
                text,
            )
        }
        ReleaseCommand::Export { release: spec, dir } => {
            let records = if Path::new(spec).exists() {
                Vec::new()
            } else {
                governance_records(ctx)?
            };
            let (m, _) = load_release(&records, spec)?;
            release::write_repository(&m, dir)?;
            Output::new(
                json!({"dir": dir}),
                format!(
                    "written as a TUF repository in {} (metadata/, targets/)",
                    dir.display()
                ),
            )
        }
        ReleaseCommand::List => {
            let (ledger, _) = ledger(ctx)?;
            let state = release::applied_state(&ctx.home)?;
            let current = state.stack.last();
            let mut rows = Vec::new();
            let mut text = String::new();
            for (e, verdict) in ledger.releases() {
                let id = e.id.to_hex();
                let in_force = current.is_some_and(|c| c.release_id == id);
                let (ok, detail, version) = match &verdict {
                    Ok(r) => (true, "verified".to_string(), r.info.version),
                    Err(err) => (false, err.to_string(), 0),
                };
                let _ = writeln!(
                    text,
                    "{}  v{version:<4} {}{}",
                    short(&id),
                    detail,
                    if in_force { "  (in force)" } else { "" }
                );
                rows.push(json!({"id": id, "version": version, "verified": ok, "detail": detail, "in_force": in_force}));
            }
            let _ = writeln!(
                text,
                "in force: {}",
                current.map_or("the genesis pack".to_string(), |c| format!(
                    "release {} (pack {})",
                    c.version,
                    short(&c.params_hash)
                ))
            );
            Output::new(
                json!({"releases": rows, "applied": state}),
                text.trim_end().to_string(),
            )
        }
        ReleaseCommand::Apply { release: spec } => {
            let (ledger, records) = ledger(ctx)?;
            let (m, id) = match spec {
                Some(s) => load_release(&records, s)?,
                None => {
                    let (id, newest) = verified_releases(&ledger)
                        .into_iter()
                        .max_by_key(|(_, r)| r.info.version)
                        .ok_or_else(|| UsageError("no verified release in the commons".into()))?;
                    // Rollback is sticky: what the person took out stays
                    // out until they name it or a newer one arrives.
                    let state = release::applied_state(&ctx.home)?;
                    if state.held_back(newest.info.version) {
                        return Err(UsageError(format!(
                            "release {} was rolled back on this node, so it stays out until you apply it by name (`mirror release apply {}`) or a newer release arrives",
                            newest.info.version,
                            id.to_hex()
                        ))
                        .into());
                    }
                    load_release(&records, &id.to_hex())?
                }
            };
            let t = now();
            let r = release::verify(&m, &ledger.guardian_history(), t)?;
            let (applied, previous) = release::apply(&ctx.home, &r, &id, t)?;
            record_history(
                ctx,
                crate::model::EvolutionAction::Applied,
                &applied,
                previous.as_ref(),
            )?;
            Output::new(
                json!({"applied": applied, "previous": previous}),
                format!(
                    "release {} applied: pack {} in force (was {}); the previous pack is kept, `mirror release rollback` returns to it",
                    applied.version,
                    short(&applied.params_hash),
                    previous
                        .as_ref()
                        .map_or("the genesis pack".into(), |p| format!(
                            "release {}",
                            p.version
                        ))
                ),
            )
        }
        ReleaseCommand::Rollback => {
            let (undone, now_in_force) = release::rollback(&ctx.home)?;
            let back = now_in_force.clone().unwrap_or(release::Applied {
                version: 0,
                release_id: String::new(),
                params_hash: EngineParams::genesis()?.hash(),
                proposals: Vec::new(),
                applied_at: now(),
                constitution: None,
                previous_constitution: None,
            });
            record_history(
                ctx,
                crate::model::EvolutionAction::RolledBack,
                &back,
                Some(&undone),
            )?;
            Output::new(
                json!({"undone": undone, "in_force": now_in_force}),
                format!(
                    "rolled back release {}: {} in force",
                    undone.version,
                    now_in_force.map_or("the genesis pack".into(), |p| format!(
                        "release {}",
                        p.version
                    ))
                ),
            )
        }
    }
}

/// A step in evolution history (the local store).
fn record_history(
    ctx: &Context,
    action: crate::model::EvolutionAction,
    now_in_force: &release::Applied,
    before: Option<&release::Applied>,
) -> anyhow::Result<()> {
    let store = ctx.store()?;
    let entry = crate::model::EvolutionHistory {
        id: crate::model::Id::new(),
        action,
        version: now_in_force.version,
        pack_hash: now_in_force.params_hash.clone(),
        previous_pack_hash: Some(before.map_or_else(
            || {
                EngineParams::genesis()
                    .map(|p| p.hash())
                    .unwrap_or_default()
            },
            |b| b.params_hash.clone(),
        )),
        proposal_ids: now_in_force.proposals.clone(),
        at: crate::model::Timestamp::now(),
    };
    store.insert_evolution_history(&entry)?;
    Ok(())
}
