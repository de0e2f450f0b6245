//! A store with every kind of record in it.

use mirror_node::home::Home;
use mirror_node::model::*;
use mirror_node::store::{Store, TensionEvidenceInput};

/// A reflection by `identity` with the given text, written at `micros`.
pub fn reflection(identity: Id, content: &str, micros: i64, visibility: Visibility) -> Reflection {
    let mut metadata = serde_json::Map::new();
    metadata.insert("mood".into(), serde_json::json!("unsettled"));
    Reflection {
        id: Id::new(),
        identity_id: identity,
        content: content.to_string(),
        content_type: ContentType::PlainText,
        visibility,
        source: Source::Cli,
        created_at: Timestamp::from_micros(micros).expect("fixture time in range"),
        metadata: Metadata(metadata),
    }
}

/// Set up `home` (identity, key, config) and fill its store with every kind
/// of record. Returns the open store.
pub fn populate(home: &Home) -> Store {
    let store = home.open_store().expect("open store");
    let identity = home.init_with(&store, "fixture").expect("init").identity;
    fill(&store, &identity);
    store
}

/// Every kind of record, for `identity` (which must exist in `store`).
pub fn fill(store: &Store, identity: &Identity) {
    let day = 86_400_000_000i64;
    let base = 1_767_225_600_000_000i64; // 2026-01-01T00:00:00Z
    let texts = [
        "I have to finish the report by Friday, and nobody ever helps.",
        "Part of me wants to call Dad tonight; part of me wants to wait.",
        "My mum’s garden was blooming when I visited. It felt like years ago.",
        "What if the new job does not work out? I keep going back and forth.",
    ];
    let visibilities = [
        Visibility::LocalOnly,
        Visibility::SyncSummary,
        Visibility::LocalOnly,
        Visibility::SyncFullPublic,
    ];
    let mut reflections = Vec::new();
    for (i, (text, visibility)) in texts.iter().zip(visibilities).enumerate() {
        let r = reflection(identity.id, text, base + i as i64 * day, visibility);
        store
            .insert_reflection(&r, None)
            .expect("insert reflection");
        reflections.push(r);
    }

    let now = Timestamp::now();
    let thread = Thread {
        id: Id::new(),
        identity_id: identity.id,
        title: "Family".into(),
        status: ThreadStatus::Active,
        started_at: now,
        last_active: now,
        updated_at: now,
    };
    store.insert_thread(&thread).expect("insert thread");
    store
        .add_to_thread(thread.id, reflections[1].id)
        .expect("add");
    store
        .add_to_thread(thread.id, reflections[2].id)
        .expect("add");

    let tension = Tension {
        id: Id::new(),
        identity_id: identity.id,
        name: "closeness and distance".into(),
        axis_a: "autonomy".into(),
        axis_b: "connection".into(),
        position: 0.25,
        intensity: 0.7,
        origin: TensionOrigin::UserCreated,
        sync_mode: TensionSyncMode::LocalOnly,
        created_at: now,
        updated_at: now,
    };
    store.insert_tension(&tension).expect("insert tension");
    store
        .set_tension_position(
            tension.id,
            -0.4,
            Some(0.8),
            TensionEvidenceInput {
                reflection_id: Some(reflections[1].id),
                excerpt: "part of me wants to wait".into(),
            },
        )
        .expect("position");

    let suggestions = store
        .record_tension_findings(
            identity.id,
            reflections[3].id,
            &[mirror_node::store::TensionFindingInput {
                name: "security and change".into(),
                axis_a: "stability".into(),
                axis_b: "growth".into(),
                position: 0.2,
                intensity: 0.6,
                evidence: "What if the new job does not work out?".into(),
            }],
        )
        .expect("suggestion");
    assert_eq!(suggestions.suggestions.len(), 1);

    let run = EngineRun {
        id: Id::new(),
        reflection_id: reflections[0].id,
        mode: EngineMode::Manual,
        model: None,
        duration_ms: 3,
        patterns: vec!["obligation_language".into(), "absolute_thinking".into()],
        flags: vec![],
        sync_allowed: false,
        created_at: now,
    };
    store.insert_engine_run(&run).expect("run");
    store
        .insert_mirrorback(&Mirrorback {
            id: Id::new(),
            reflection_id: reflections[0].id,
            text: "You wrote that you have to finish the report. What is that like?".into(),
            engine_mode: EngineMode::Manual,
            engine_version: "builtin-1".into(),
            model: None,
            attempts: 1,
            fell_back: false,
            flags: vec![],
            created_at: now,
        })
        .expect("mirrorback");
    store
        .insert_feedback(&EngineFeedback {
            id: Id::new(),
            run_id: run.id,
            rating: 4,
            flags: vec![FeedbackFlag::Insightful],
            note: Some("it noticed the 'have to'".into()),
            created_at: now,
        })
        .expect("feedback");
    store
        .insert_evolution_event(&EvolutionEvent {
            id: Id::new(),
            kind: EvolutionEventKind::Finding,
            summary: "directive rate steady".into(),
            details: Metadata::default(),
            created_at: now,
        })
        .expect("event");
    store
        .insert_evolution_history(&EvolutionHistory {
            id: Id::new(),
            action: EvolutionAction::Applied,
            version: 1,
            pack_hash: "ab".repeat(32),
            previous_pack_hash: None,
            proposal_ids: vec!["cd".repeat(32)],
            at: now,
        })
        .expect("history");
    store
        .put_integration(&Integration {
            id: Id::new(),
            name: "local ollama".into(),
            kind: IntegrationKind::Ollama,
            endpoint: Some("http://127.0.0.1:11434".into()),
            enabled: false,
            settings: Metadata::default(),
            created_at: now,
            updated_at: now,
        })
        .expect("integration");
    store
        .set_consent(ConsentCategory::EvolutionFeedback, true)
        .expect("consent");
    store
        .log_egress(&EgressRecord {
            id: Id::new(),
            kind: EgressKind::LlmRequest,
            destination: "http://127.0.0.1:11434/api/chat".into(),
            bytes: 512,
            content_hash: "ef".repeat(32),
            summary: "mirrorback request".into(),
            at: now,
        })
        .expect("egress");
}

/// An edit and a delete (schema v3 on), so reflection revisions and
/// tombstones hold a record each: the first reflection is rewritten, and a
/// reflection written for the purpose is deleted.
pub fn edit_and_delete(store: &Store) {
    let first = store.snapshot().expect("snapshot").reflections[0].clone();
    store
        .edit_reflection(first.id, "Rewritten later: the report went in on time.")
        .expect("edit");
    let gone = reflection(
        first.identity_id,
        "A note written to be deleted.",
        first.created_at.as_micros() + 3_600_000_000,
        Visibility::LocalOnly,
    );
    store.insert_reflection(&gone, None).expect("insert");
    store.delete_reflection(gone.id).expect("delete");
}
