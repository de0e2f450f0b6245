//! Writes: one method per thing a person (or the engine) does, each a single
//! durable transaction that validates first and checks what it refers to.

use redb::{ReadableTable, WriteTransaction};

use crate::model::*;

use super::tables::*;
use super::{Result, Store, StoreError, codec, load};

/// Insert or replace a keyed record after validating it.
pub(super) fn put<R: Keyed>(txn: &WriteTransaction, record: &R) -> Result<()> {
    record.validate()?;
    let bytes = codec::encode(record)?;
    txn.open_table(record_table(R::TABLE))?
        .insert(record.id().as_u128(), bytes.as_slice())?;
    Ok(())
}

pub(super) fn fetch<R: Keyed>(txn: &WriteTransaction, id: Id) -> Result<Option<R>> {
    let table = txn.open_table(record_table(R::TABLE))?;
    load(&table, id.as_u128())
}

pub(super) fn exists<R: Keyed>(txn: &WriteTransaction, id: Id) -> Result<bool> {
    Ok(txn
        .open_table(record_table(R::TABLE))?
        .get(id.as_u128())?
        .is_some())
}

pub(super) fn must_exist<R: Keyed>(
    txn: &WriteTransaction,
    id: Id,
    kind: &'static str,
) -> Result<()> {
    if exists::<R>(txn, id)? {
        Ok(())
    } else {
        Err(StoreError::NotFound {
            kind,
            id: id.to_string(),
        })
    }
}

/// Whether a newly stored reflection joins the full-text queue now, or its
/// caller indexes it in the same transaction (bulk import).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Indexing {
    Queue,
    ByCaller,
}

/// Store a reflection with its time index (which also carries identity and
/// visibility), queued for the full-text index unless the caller indexes it.
pub(super) fn insert_reflection_in(
    txn: &WriteTransaction,
    reflection: &Reflection,
    indexing: Indexing,
) -> Result<()> {
    put(txn, reflection)?;
    let id = reflection.id.as_u128();
    let entry = TimeEntry {
        identity: reflection.identity_id.as_u128(),
        visibility: reflection.visibility.to_byte(),
    };
    txn.open_table(REFLECTIONS_BY_TIME)?
        .insert((reflection.created_at.as_micros(), id), entry.encode())?;
    tag_in(txn, reflection, true)?;
    // Indexed for search in a batch later (see `fts`). An id above the
    // watermark needs nothing more; only an out-of-order id is queued.
    if indexing == Indexing::Queue && id <= super::fts::watermark(txn)? {
        txn.open_table(FTS_PENDING)?.insert(id, ())?;
    }
    Ok(())
}

/// Add (or remove) a reflection's tags in the tag index.
pub(super) fn tag_in(txn: &WriteTransaction, reflection: &Reflection, add: bool) -> Result<()> {
    let mut tags = txn.open_table(REFLECTION_TAGS)?;
    for tag in crate::model::tags::of(reflection) {
        let key = (tag.as_str(), reflection.id.as_u128());
        if add {
            tags.insert(key, ())?;
        } else {
            tags.remove(key)?;
        }
    }
    Ok(())
}

pub(super) fn insert_member_in(txn: &WriteTransaction, member: &ThreadMember) -> Result<bool> {
    let key = (member.thread_id.as_u128(), member.reflection_id.as_u128());
    let mut members = txn.open_table(THREAD_MEMBERS)?;
    if members.get(key)?.is_some() {
        return Ok(false);
    }
    let bytes = codec::encode(member)?;
    members.insert(key, bytes.as_slice())?;
    txn.open_table(REFLECTION_THREADS)?
        .insert((key.1, key.0), ())?;
    Ok(true)
}

pub(super) fn insert_mirrorback_in(txn: &WriteTransaction, m: &Mirrorback) -> Result<()> {
    put(txn, m)?;
    txn.open_table(MIRRORBACKS_BY_REFLECTION)?
        .insert((m.reflection_id.as_u128(), m.id.as_u128()), ())?;
    Ok(())
}

pub(super) fn insert_run_in(txn: &WriteTransaction, run: &EngineRun) -> Result<()> {
    put(txn, run)?;
    txn.open_table(RUNS_BY_REFLECTION)?
        .insert((run.reflection_id.as_u128(), run.id.as_u128()), ())?;
    Ok(())
}

pub(super) fn insert_feedback_in(txn: &WriteTransaction, fb: &EngineFeedback) -> Result<()> {
    put(txn, fb)?;
    txn.open_table(FEEDBACK_BY_RUN)?
        .insert((fb.run_id.as_u128(), fb.id.as_u128()), ())?;
    Ok(())
}

pub(super) fn insert_evidence_in(txn: &WriteTransaction, ev: &TensionEvidence) -> Result<()> {
    put(txn, ev)?;
    txn.open_table(EVIDENCE_BY_TENSION)?
        .insert((ev.tension_id.as_u128(), ev.id.as_u128()), ())?;
    Ok(())
}

pub(super) fn put_consent_in(txn: &WriteTransaction, setting: &ConsentSetting) -> Result<()> {
    let bytes = codec::encode(setting)?;
    txn.open_table(CONSENT)?
        .insert(setting.category.as_str(), bytes.as_slice())?;
    Ok(())
}

/// A tension on the same two poles (in either order) as `axis_a`/`axis_b`.
pub(super) fn tension_on_axes(
    txn: &WriteTransaction,
    identity: Id,
    axis_a: &str,
    axis_b: &str,
) -> Result<Option<Tension>> {
    let table = txn.open_table(record_table(Tension::TABLE))?;
    for entry in table.iter()? {
        let tension: Tension = codec::decode(entry?.1.value())?;
        let same = (tension.axis_a == axis_a && tension.axis_b == axis_b)
            || (tension.axis_a == axis_b && tension.axis_b == axis_a);
        if same && tension.identity_id == identity {
            return Ok(Some(tension));
        }
    }
    Ok(None)
}

impl Store {
    pub fn insert_identity(&self, identity: &Identity) -> Result<()> {
        identity.validate()?;
        self.write(|txn| {
            if exists::<Identity>(txn, identity.id)? {
                return Err(StoreError::Conflict(format!(
                    "identity {} already exists",
                    identity.id
                )));
            }
            put(txn, identity)
        })
    }

    /// Give an identity a new name (only the person sees it; the key and id
    /// stay).
    pub fn rename_identity(&self, id: Id, name: &str) -> Result<Identity> {
        self.write(|txn| {
            let mut identity = fetch::<Identity>(txn, id)?.ok_or_else(|| StoreError::NotFound {
                kind: "identity",
                id: id.to_string(),
            })?;
            identity.name = name.to_string();
            identity.validate()?;
            put(txn, &identity)?;
            Ok(identity)
        })
    }

    /// Store a new reflection, optionally straight into a thread.
    pub fn insert_reflection(&self, reflection: &Reflection, thread: Option<Id>) -> Result<()> {
        reflection.validate()?;
        self.write(|txn| {
            must_exist::<Identity>(txn, reflection.identity_id, "identity")?;
            if exists::<Reflection>(txn, reflection.id)? {
                return Err(StoreError::Conflict(format!(
                    "reflection {} already exists",
                    reflection.id
                )));
            }
            insert_reflection_in(txn, reflection, Indexing::Queue)?;
            if let Some(thread_id) = thread {
                add_to_thread_in(txn, thread_id, reflection.id, reflection.created_at)?;
            }
            Ok(())
        })
    }

    pub fn insert_mirrorback(&self, mirrorback: &Mirrorback) -> Result<()> {
        mirrorback.validate()?;
        self.write(|txn| {
            must_exist::<Reflection>(txn, mirrorback.reflection_id, "reflection")?;
            insert_mirrorback_in(txn, mirrorback)
        })
    }

    /// A mirrorback and the engine run that made it, in one transaction
    /// (one durable commit: a commit's fsyncs are most of a write's cost).
    pub fn insert_answer(&self, mirrorback: &Mirrorback, run: &EngineRun) -> Result<()> {
        mirrorback.validate()?;
        run.validate()?;
        self.write(|txn| {
            must_exist::<Reflection>(txn, mirrorback.reflection_id, "reflection")?;
            must_exist::<Reflection>(txn, run.reflection_id, "reflection")?;
            insert_mirrorback_in(txn, mirrorback)?;
            insert_run_in(txn, run)
        })
    }

    pub fn insert_thread(&self, thread: &Thread) -> Result<()> {
        thread.validate()?;
        self.write(|txn| {
            must_exist::<Identity>(txn, thread.identity_id, "identity")?;
            put(txn, thread)
        })
    }

    pub fn set_thread_status(&self, id: Id, status: ThreadStatus) -> Result<Thread> {
        self.write(|txn| {
            let mut thread: Thread = fetch(txn, id)?.ok_or_else(|| StoreError::NotFound {
                kind: "thread",
                id: id.to_string(),
            })?;
            thread.status = status;
            thread.updated_at = Timestamp::now().max(thread.updated_at);
            put(txn, &thread)?;
            Ok(thread)
        })
    }

    /// Add a reflection to a thread. Returns false if it was already there.
    pub fn add_to_thread(&self, thread: Id, reflection: Id) -> Result<bool> {
        self.write(|txn| {
            must_exist::<Reflection>(txn, reflection, "reflection")?;
            add_to_thread_in(txn, thread, reflection, Timestamp::now())
        })
    }

    /// Start tracking a tension. Two tensions on the same two poles would
    /// split the evidence, so that is refused with the existing one named.
    pub fn insert_tension(&self, tension: &Tension) -> Result<()> {
        tension.validate()?;
        self.write(|txn| {
            must_exist::<Identity>(txn, tension.identity_id, "identity")?;
            if let Some(existing) =
                tension_on_axes(txn, tension.identity_id, &tension.axis_a, &tension.axis_b)?
            {
                return Err(StoreError::Conflict(format!(
                    "you already track {} ↔ {} as \"{}\" ({})",
                    existing.axis_a, existing.axis_b, existing.name, existing.id
                )));
            }
            put(txn, tension)
        })
    }

    /// Move a tension; the move itself is kept as evidence.
    pub fn set_tension_position(
        &self,
        id: Id,
        position: f64,
        intensity: Option<f64>,
        evidence: TensionEvidenceInput,
    ) -> Result<(Tension, TensionEvidence)> {
        self.write(|txn| {
            let mut tension: Tension = fetch(txn, id)?.ok_or_else(|| StoreError::NotFound {
                kind: "tension",
                id: id.to_string(),
            })?;
            if let Some(reflection) = evidence.reflection_id {
                must_exist::<Reflection>(txn, reflection, "reflection")?;
            }
            let now = Timestamp::now().max(tension.updated_at);
            tension.position = position;
            if let Some(intensity) = intensity {
                tension.intensity = intensity;
            }
            tension.updated_at = now;
            let record = TensionEvidence {
                id: Id::new(),
                tension_id: id,
                reflection_id: evidence.reflection_id,
                excerpt: evidence.excerpt,
                position: Some(position),
                created_at: now,
            };
            put(txn, &tension)?;
            insert_evidence_in(txn, &record)?;
            Ok((tension, record))
        })
    }

    pub fn add_tension_evidence(&self, evidence: &TensionEvidence) -> Result<()> {
        evidence.validate()?;
        self.write(|txn| {
            must_exist::<Tension>(txn, evidence.tension_id, "tension")?;
            if let Some(reflection) = evidence.reflection_id {
                must_exist::<Reflection>(txn, reflection, "reflection")?;
            }
            insert_evidence_in(txn, evidence)
        })
    }

    pub fn insert_engine_run(&self, run: &EngineRun) -> Result<()> {
        run.validate()?;
        self.write(|txn| {
            must_exist::<Reflection>(txn, run.reflection_id, "reflection")?;
            insert_run_in(txn, run)
        })
    }

    pub fn insert_feedback(&self, feedback: &EngineFeedback) -> Result<()> {
        feedback.validate()?;
        self.write(|txn| {
            must_exist::<EngineRun>(txn, feedback.run_id, "engine run")?;
            insert_feedback_in(txn, feedback)
        })
    }

    pub fn insert_evolution_event(&self, event: &EvolutionEvent) -> Result<()> {
        self.write(|txn| put(txn, event))
    }

    pub fn insert_evolution_history(&self, entry: &EvolutionHistory) -> Result<()> {
        self.write(|txn| put(txn, entry))
    }

    /// Add or update an integration (its secrets never come here).
    pub fn put_integration(&self, integration: &Integration) -> Result<()> {
        self.write(|txn| put(txn, integration))
    }

    /// Record a consent decision, and the change itself.
    pub fn set_consent(&self, category: ConsentCategory, granted: bool) -> Result<ConsentSetting> {
        self.write(|txn| {
            let previous = txn
                .open_table(CONSENT)?
                .get(category.as_str())?
                .map(|v| codec::decode::<ConsentSetting>(v.value()))
                .transpose()?;
            let at = previous
                .as_ref()
                .map_or(Timestamp::now(), |p| Timestamp::now().max(p.updated_at));
            let setting = ConsentSetting {
                category,
                granted,
                updated_at: at,
            };
            put_consent_in(txn, &setting)?;
            put(
                txn,
                &ConsentChange {
                    id: Id::new(),
                    category,
                    granted,
                    at,
                },
            )?;
            Ok(setting)
        })
    }

    pub fn log_egress(&self, record: &EgressRecord) -> Result<()> {
        self.write(|txn| put(txn, record))
    }
}

/// What a person says about why a tension moved.
#[derive(Debug, Clone, Default)]
pub struct TensionEvidenceInput {
    pub reflection_id: Option<Id>,
    pub excerpt: String,
}

fn add_to_thread_in(
    txn: &WriteTransaction,
    thread_id: Id,
    reflection_id: Id,
    at: Timestamp,
) -> Result<bool> {
    let mut thread: Thread = fetch(txn, thread_id)?.ok_or_else(|| StoreError::NotFound {
        kind: "thread",
        id: thread_id.to_string(),
    })?;
    if thread.status == ThreadStatus::Archived {
        return Err(StoreError::Conflict(format!(
            "thread \"{}\" is archived; reopen it before adding to it",
            thread.title
        )));
    }
    let added = insert_member_in(
        txn,
        &ThreadMember {
            thread_id,
            reflection_id,
            added_at: at,
        },
    )?;
    if added && at > thread.last_active {
        thread.last_active = at;
        thread.updated_at = thread.updated_at.max(at);
        put(txn, &thread)?;
    }
    Ok(added)
}

/// A tension the engine found in a reflection, to record.
#[derive(Debug, Clone, PartialEq)]
pub struct TensionFindingInput {
    pub name: String,
    pub axis_a: String,
    pub axis_b: String,
    pub position: f64,
    pub intensity: f64,
    pub evidence: String,
}

/// What recording tension findings did.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct TensionUpdate {
    /// Evidence added to tensions the person already tracks.
    pub evidence: Vec<TensionEvidence>,
    /// New suggestions for the person to accept or dismiss.
    pub suggestions: Vec<TensionSuggestion>,
}

/// A suggestion on the same two poles (in either order), any status.
fn suggestion_on_axes(
    txn: &WriteTransaction,
    identity: Id,
    axis_a: &str,
    axis_b: &str,
) -> Result<Option<TensionSuggestion>> {
    let table = txn.open_table(record_table(TensionSuggestion::TABLE))?;
    for entry in table.iter()? {
        let s: TensionSuggestion = codec::decode(entry?.1.value())?;
        let same = (s.axis_a == axis_a && s.axis_b == axis_b)
            || (s.axis_a == axis_b && s.axis_b == axis_a);
        if same && s.identity_id == identity {
            return Ok(Some(s));
        }
    }
    Ok(None)
}

impl Store {
    /// Record what the engine noticed in a reflection: evidence for
    /// tensions the person tracks, and a suggestion for each new pair of
    /// poles that was neither tracked, suggested nor dismissed before.
    pub fn record_tension_findings(
        &self,
        identity: Id,
        reflection: Id,
        findings: &[TensionFindingInput],
    ) -> Result<TensionUpdate> {
        if findings.is_empty() {
            // Nothing to record: no transaction (a commit costs fsyncs).
            return Ok(TensionUpdate::default());
        }
        self.write(|txn| {
            must_exist::<Reflection>(txn, reflection, "reflection")?;
            let mut update = TensionUpdate::default();
            let now = Timestamp::now();
            for f in findings {
                if let Some(tension) = tension_on_axes(txn, identity, &f.axis_a, &f.axis_b)? {
                    let evidence = TensionEvidence {
                        id: Id::new(),
                        tension_id: tension.id,
                        reflection_id: Some(reflection),
                        excerpt: f.evidence.clone(),
                        position: None,
                        created_at: now,
                    };
                    insert_evidence_in(txn, &evidence)?;
                    update.evidence.push(evidence);
                } else if suggestion_on_axes(txn, identity, &f.axis_a, &f.axis_b)?.is_none() {
                    let suggestion = TensionSuggestion {
                        id: Id::new(),
                        identity_id: identity,
                        reflection_id: reflection,
                        name: f.name.clone(),
                        axis_a: f.axis_a.clone(),
                        axis_b: f.axis_b.clone(),
                        position: f.position,
                        intensity: f.intensity,
                        evidence: f.evidence.clone(),
                        status: SuggestionStatus::Pending,
                        tension_id: None,
                        created_at: now,
                        updated_at: now,
                    };
                    put(txn, &suggestion)?;
                    update.suggestions.push(suggestion);
                }
            }
            Ok(update)
        })
    }

    /// Accept a pending suggestion: it becomes a tracked tension (or, if
    /// the person has started tracking those poles meanwhile, evidence for
    /// that tension).
    pub fn accept_suggestion(&self, id: Id) -> Result<(TensionSuggestion, Tension)> {
        self.write(|txn| {
            let mut s: TensionSuggestion = pending(txn, id)?;
            let now = Timestamp::now().max(s.updated_at);
            let tension = match tension_on_axes(txn, s.identity_id, &s.axis_a, &s.axis_b)? {
                Some(existing) => existing,
                None => {
                    let tension = Tension {
                        id: Id::new(),
                        identity_id: s.identity_id,
                        name: s.name.clone(),
                        axis_a: s.axis_a.clone(),
                        axis_b: s.axis_b.clone(),
                        position: s.position,
                        intensity: s.intensity,
                        origin: TensionOrigin::SystemSeed,
                        sync_mode: TensionSyncMode::LocalOnly,
                        created_at: now,
                        updated_at: now,
                    };
                    put(txn, &tension)?;
                    tension
                }
            };
            insert_evidence_in(
                txn,
                &TensionEvidence {
                    id: Id::new(),
                    tension_id: tension.id,
                    reflection_id: Some(s.reflection_id),
                    excerpt: s.evidence.clone(),
                    position: Some(s.position),
                    created_at: now,
                },
            )?;
            s.status = SuggestionStatus::Accepted;
            s.tension_id = Some(tension.id);
            s.updated_at = now;
            put(txn, &s)?;
            Ok((s, tension))
        })
    }

    /// Dismiss a pending suggestion; those two poles are not suggested again.
    pub fn dismiss_suggestion(&self, id: Id) -> Result<TensionSuggestion> {
        self.write(|txn| {
            let mut s: TensionSuggestion = pending(txn, id)?;
            s.status = SuggestionStatus::Dismissed;
            s.updated_at = Timestamp::now().max(s.updated_at);
            put(txn, &s)?;
            Ok(s)
        })
    }
}

fn pending(txn: &WriteTransaction, id: Id) -> Result<TensionSuggestion> {
    let s: TensionSuggestion = fetch(txn, id)?.ok_or_else(|| StoreError::NotFound {
        kind: "tension suggestion",
        id: id.to_string(),
    })?;
    if s.status != SuggestionStatus::Pending {
        return Err(StoreError::Conflict(format!(
            "that suggestion was already {}",
            s.status
        )));
    }
    Ok(s)
}
