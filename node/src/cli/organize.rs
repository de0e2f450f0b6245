//! `thread`, `tension`, `feedback`.

use serde_json::json;

use super::reflections::resolve_thread;
use super::render::{self, Output};
use super::{Context, TensionCommand, ThreadCommand, UsageError};
use crate::model::{
    EngineFeedback, EngineRun, FeedbackFlag, Id, Record, Reflection, SuggestionStatus, Tension,
    TensionOrigin, TensionSuggestion, TensionSyncMode, Thread, ThreadStatus, Timestamp,
};
use crate::store::{ReflectionQuery, Store, TensionEvidenceInput};

pub fn thread(ctx: &Context, cmd: &ThreadCommand) -> anyhow::Result<Output> {
    // Reading opens read-only: no header sync (tens of ms), and it works
    // on a read-only disk.
    let store = match cmd {
        ThreadCommand::List { .. } | ThreadCommand::Show { .. } => ctx.store_read()?,
        _ => ctx.store()?,
    };
    match cmd {
        ThreadCommand::New { title } => {
            let identity = ctx.identity(&store)?;
            let now = Timestamp::now();
            let thread = Thread {
                id: Id::new(),
                identity_id: identity.id,
                title: title.trim().to_string(),
                status: ThreadStatus::Active,
                started_at: now,
                last_active: now,
                updated_at: now,
            };
            thread.validate().map_err(UsageError::from)?;
            store.insert_thread(&thread)?;
            let human = format!(
                "Started thread \"{}\" ({}).",
                thread.title,
                thread.id.short()
            );
            Output::new(json!({ "thread": thread }), human)
        }
        ThreadCommand::List { status } => {
            let mut rows = Vec::new();
            for thread in store.list::<Thread>(usize::MAX)? {
                if status.is_some_and(|s| s != thread.status) {
                    continue;
                }
                let size = store.thread_size(thread.id)?;
                rows.push((thread, size));
            }
            rows.sort_by_key(|(t, _)| std::cmp::Reverse(t.last_active));
            let human = if rows.is_empty() {
                "No threads. Start one with `mirror thread new \"title\"`.".to_string()
            } else {
                rows.iter()
                    .map(|(t, n)| render::thread_line(t, *n))
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            let json: Vec<_> = rows
                .iter()
                .map(|(t, n)| json!({ "thread": t, "reflections": n }))
                .collect();
            Output::new(json!({ "threads": json }), human)
        }
        ThreadCommand::Show { id } => {
            let id = resolve_thread(&store, id)?;
            let thread: Thread = store.require(id, "thread")?;
            let reflections = store.reflections(&ReflectionQuery {
                thread: Some(id),
                limit: usize::MAX,
                oldest_first: true,
                ..Default::default()
            })?;
            let mut human = format!(
                "Thread \"{}\" ({})\n{} · started {} · last active {} · {} reflections\n",
                thread.title,
                thread.id,
                thread.status,
                render::when(thread.started_at),
                render::when(thread.last_active),
                reflections.len()
            );
            for r in &reflections {
                human.push_str(&format!("\n{}", render::reflection_line(r)));
            }
            Output::new(
                json!({ "thread": thread, "reflections": reflections }),
                human.trim_end().to_string(),
            )
        }
        ThreadCommand::Add {
            thread,
            reflections,
        } => {
            let thread_id = resolve_thread(&store, thread)?;
            let thread: Thread = store.require(thread_id, "thread")?;
            let mut added = Vec::new();
            let mut already = Vec::new();
            for r in reflections {
                let rid = store.resolve::<Reflection>(r, "reflection")?;
                if store.add_to_thread(thread_id, rid)? {
                    added.push(rid);
                } else {
                    already.push(rid);
                }
            }
            let mut human = format!("Added {} to \"{}\".", added.len(), thread.title);
            if !already.is_empty() {
                human.push_str(&format!(" {} were already there.", already.len()));
            }
            Output::new(
                json!({ "thread": thread_id, "added": added, "already_present": already }),
                human,
            )
        }
        ThreadCommand::Archive { id } => set_status(&store, id, ThreadStatus::Archived, "Archived"),
        ThreadCommand::Pause { id } => set_status(&store, id, ThreadStatus::Paused, "Paused"),
        ThreadCommand::Reopen { id } => set_status(&store, id, ThreadStatus::Active, "Reopened"),
    }
}

fn set_status(store: &Store, id: &str, status: ThreadStatus, verb: &str) -> anyhow::Result<Output> {
    let id = resolve_thread(store, id)?;
    let thread = store.set_thread_status(id, status)?;
    let human = format!("{verb} thread \"{}\".", thread.title);
    Output::new(json!({ "thread": thread }), human)
}

pub fn tension(ctx: &Context, cmd: &TensionCommand) -> anyhow::Result<Output> {
    let store = match cmd {
        TensionCommand::List | TensionCommand::Show { .. } | TensionCommand::Suggestions { .. } => {
            ctx.store_read()?
        }
        _ => ctx.store()?,
    };
    match cmd {
        TensionCommand::Add {
            name,
            axis_a,
            axis_b,
            position,
            intensity,
        } => {
            let identity = ctx.identity(&store)?;
            let now = Timestamp::now();
            let tension = Tension {
                id: Id::new(),
                identity_id: identity.id,
                name: name.trim().to_string(),
                axis_a: axis_a.trim().to_lowercase(),
                axis_b: axis_b.trim().to_lowercase(),
                position: *position,
                intensity: *intensity,
                origin: TensionOrigin::UserCreated,
                sync_mode: TensionSyncMode::LocalOnly,
                created_at: now,
                updated_at: now,
            };
            tension.validate().map_err(UsageError::from)?;
            store.insert_tension(&tension)?;
            let human = format!(
                "Tracking \"{}\" ({}).\n{}",
                tension.name,
                tension.id,
                render::position_bar(&tension)
            );
            Output::new(json!({ "tension": tension }), human)
        }
        TensionCommand::List => {
            let tensions = store.list::<Tension>(usize::MAX)?;
            let human = if tensions.is_empty() {
                "No tensions tracked. Add one with `mirror tension add NAME POLE_A POLE_B`."
                    .to_string()
            } else {
                tensions
                    .iter()
                    .map(render::tension_line)
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            Output::new(json!({ "tensions": tensions }), human)
        }
        TensionCommand::Show { id } => {
            let id = store.resolve::<Tension>(id, "tension")?;
            let tension: Tension = store.require(id, "tension")?;
            let evidence = store.evidence_for(id)?;
            let mut human = format!(
                "Tension \"{}\" ({})\n{}\nintensity {:.2} · {} · {} · since {}\n",
                tension.name,
                tension.id,
                render::position_bar(&tension),
                tension.intensity,
                tension.origin,
                tension.sync_mode,
                render::when(tension.created_at)
            );
            for e in &evidence {
                let at = e
                    .position
                    .map(|p| format!(" → {p:+.2}"))
                    .unwrap_or_default();
                human.push_str(&format!(
                    "\n{}{at}  {}",
                    render::when(e.created_at),
                    render::excerpt(&e.excerpt, 70)
                ));
            }
            Output::new(
                json!({ "tension": tension, "evidence": evidence }),
                human.trim_end().to_string(),
            )
        }
        TensionCommand::Suggestions { all } => {
            let suggestions: Vec<TensionSuggestion> = store
                .list::<TensionSuggestion>(usize::MAX)?
                .into_iter()
                .filter(|s| *all || s.status == SuggestionStatus::Pending)
                .collect();
            let human = if suggestions.is_empty() {
                "No tension suggestions. They appear when a reflection pulls two ways.".to_string()
            } else {
                suggestions
                    .iter()
                    .map(|s| {
                        format!(
                            "{}  {:<9} {} ↔ {}  ({})\n          \"{}\"",
                            s.id.short(),
                            s.status.as_str(),
                            s.axis_a,
                            s.axis_b,
                            s.name,
                            render::excerpt(&s.evidence, 90)
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            Output::new(json!({ "suggestions": suggestions }), human)
        }
        TensionCommand::Accept { id } => {
            let id = store.resolve::<TensionSuggestion>(id, "tension suggestion")?;
            let (suggestion, tension) = store.accept_suggestion(id)?;
            let human = format!(
                "Now tracking \"{}\" ({}).\n{}",
                tension.name,
                tension.id.short(),
                render::position_bar(&tension)
            );
            Output::new(
                json!({ "suggestion": suggestion, "tension": tension }),
                human,
            )
        }
        TensionCommand::Dismiss { id } => {
            let id = store.resolve::<TensionSuggestion>(id, "tension suggestion")?;
            let suggestion = store.dismiss_suggestion(id)?;
            let human = format!(
                "Let go of {} ↔ {}; it will not be suggested again.",
                suggestion.axis_a, suggestion.axis_b
            );
            Output::new(json!({ "suggestion": suggestion }), human)
        }
        TensionCommand::Position {
            id,
            value,
            intensity,
            reflection,
            note,
        } => {
            let id = store.resolve::<Tension>(id, "tension")?;
            crate::model::check_range("position", *value, -1.0, 1.0).map_err(UsageError::from)?;
            if let Some(i) = intensity {
                crate::model::check_range("intensity", *i, 0.0, 1.0).map_err(UsageError::from)?;
            }
            let reflection_id = reflection
                .as_deref()
                .map(|r| store.resolve::<Reflection>(r, "reflection"))
                .transpose()?;
            let excerpt = match (note, reflection_id) {
                (Some(note), _) => note.clone(),
                (None, Some(rid)) => {
                    let r: Reflection = store.require(rid, "reflection")?;
                    render::excerpt(&r.content, 200)
                }
                (None, None) => format!("position set to {value:+.2} by hand"),
            };
            let (tension, evidence) = store.set_tension_position(
                id,
                *value,
                *intensity,
                TensionEvidenceInput {
                    reflection_id,
                    excerpt,
                },
            )?;
            let human = format!(
                "\"{}\" now at {:+.2}.\n{}",
                tension.name,
                tension.position,
                render::position_bar(&tension)
            );
            Output::new(json!({ "tension": tension, "evidence": evidence }), human)
        }
    }
}

pub fn feedback(
    ctx: &Context,
    run: &str,
    rating: u8,
    flags: &[FeedbackFlag],
    note: Option<&str>,
) -> anyhow::Result<Output> {
    let store = ctx.store()?;
    // The run's id, or the reflection's (as `list` shows it): then its
    // newest run is the one rated.
    let run_id = match store.resolve::<EngineRun>(run, "engine run") {
        Ok(id) => id,
        Err(crate::store::StoreError::NotFound { .. }) => {
            let reflection =
                store.resolve::<crate::model::Reflection>(run, "engine run or reflection")?;
            store
                .runs_for(reflection)?
                .into_iter()
                .max_by_key(|r| r.created_at)
                .map(|r| r.id)
                .ok_or_else(|| {
                    UsageError(format!(
                        "reflection {} has no engine run to rate (`mirror mirrorback {}` makes one)",
                        reflection.short(),
                        reflection.short()
                    ))
                })?
        }
        Err(e) => return Err(e.into()),
    };
    let mut flags = flags.to_vec();
    flags.sort();
    flags.dedup();
    let feedback = EngineFeedback {
        id: Id::new(),
        run_id,
        rating,
        flags,
        note: note.map(|n| n.trim().to_string()).filter(|n| !n.is_empty()),
        created_at: Timestamp::now(),
    };
    feedback.validate().map_err(UsageError::from)?;
    store.insert_feedback(&feedback)?;
    let observers = ctx.home.load_config()?.evolution.observers;
    crate::evolution::after_reflection(
        &store,
        &observers,
        crate::evolution::Event::Feedback(feedback.clone()),
    );
    let human = format!(
        "Thank you. Feedback {} recorded for run {}.",
        feedback.id.short(),
        run_id.short()
    );
    Output::new(json!({ "feedback": feedback }), human)
}
