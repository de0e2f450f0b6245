//! A journal written over years: what observers and telemetry read is a
//! window of it, and that window gives the same answers as the whole store.

use mirror_node::evolution::{HISTORY_DAYS, Stats};
use mirror_node::home::Home;
use mirror_node::model::*;
use mirror_node::store::Batch;

const DAY: i64 = 86_400_000_000;

/// A UUIDv7 made at `micros`, as `Id::new` would have made it then.
fn id_at(micros: i64, salt: u64) -> Id {
    let ms = (micros / 1000) as u128;
    let rand = u128::from(salt.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    Id::from_u128(
        (ms << 80)
            | (0x7 << 76)
            | ((rand & 0xfff) << 64)
            | (0b10 << 62)
            | (rand >> 2 & ((1 << 62) - 1)),
    )
}

fn at(micros: i64) -> Timestamp {
    Timestamp::from_micros(micros).unwrap()
}

#[test]
fn the_window_holds_what_observers_need_and_gives_the_same_statistics() {
    let dir = tempfile::tempdir().unwrap();
    let home = Home::at(dir.path());
    let store = home.open_store().unwrap();
    let identity = home.init_with(&store, "tester").unwrap().identity;
    let now = Timestamp::now().as_micros();
    let mut batch = Batch {
        identities: vec![identity.clone()],
        ..Default::default()
    };
    // Two years of writing, one entry every 9 hours, each mirrored and run
    // at the moment it was written; some runs refused for directives, some
    // fallbacks, some rated.
    let mut n = 0u64;
    let mut t = now - 730 * DAY;
    while t < now - 3_600_000_000 {
        n += 1;
        let reflection = Reflection {
            id: id_at(t, n),
            identity_id: identity.id,
            content: format!("entry {n}"),
            content_type: ContentType::PlainText,
            visibility: Visibility::LocalOnly,
            source: Source::Cli,
            created_at: at(t),
            metadata: Metadata::default(),
        };
        let mode = if n.is_multiple_of(2) {
            EngineMode::Ollama
        } else {
            EngineMode::Manual
        };
        batch.mirrorbacks.push(Mirrorback {
            id: id_at(t + 1000, n),
            reflection_id: reflection.id,
            text: "seen".into(),
            engine_mode: mode,
            engine_version: "test".into(),
            model: None,
            attempts: 1,
            fell_back: n.is_multiple_of(5),
            flags: vec![],
            created_at: at(t + 1000),
        });
        let run = EngineRun {
            id: id_at(t + 2000, n),
            reflection_id: reflection.id,
            mode,
            model: None,
            duration_ms: n % 17,
            patterns: if n.is_multiple_of(3) {
                vec!["rumination".into()]
            } else {
                vec![]
            },
            flags: if n.is_multiple_of(7) {
                vec!["explicit_advice".into()]
            } else {
                vec![]
            },
            sync_allowed: false,
            created_at: at(t + 2000),
        };
        if n.is_multiple_of(4) {
            batch.engine_feedback.push(EngineFeedback {
                id: id_at(t + 60_000_000, n),
                run_id: run.id,
                rating: (n % 5 + 1) as u8,
                flags: vec![],
                note: None,
                created_at: at(t + 60_000_000),
            });
        }
        batch.engine_runs.push(run);
        batch.reflections.push(reflection);
        t += 9 * 3_600_000_000;
    }
    // Written today about a day three years ago (`--at`): its run is today.
    let dated = Reflection {
        id: id_at(now - 1000, 1),
        identity_id: identity.id,
        content: "about the old days".into(),
        content_type: ContentType::PlainText,
        visibility: Visibility::LocalOnly,
        source: Source::Cli,
        created_at: at(now - 1100 * DAY),
        metadata: Metadata::default(),
    };
    batch.engine_runs.push(EngineRun {
        id: id_at(now - 500, 2),
        reflection_id: dated.id,
        mode: EngineMode::Manual,
        model: None,
        duration_ms: 1,
        patterns: vec![],
        flags: vec![],
        sync_allowed: false,
        created_at: at(now - 500),
    });
    batch.reflections.push(dated.clone());
    store.import(&batch).unwrap();

    let now = at(now);
    let from = at(now.as_micros() - HISTORY_DAYS * DAY);
    let window = store.window(from, now).unwrap();
    let whole = store.snapshot().unwrap();
    assert!(window.reflections.len() * 10 < whole.reflections.len());
    for days in [1, 7, 30, 37] {
        assert_eq!(
            Stats::from_history(&window, now, days),
            Stats::from_history(&whole, now, days),
            "{days} days"
        );
    }
    let week_before = at(now.as_micros() - 7 * DAY);
    assert_eq!(
        Stats::from_history(&window, week_before, 30),
        Stats::from_history(&whole, week_before, 30)
    );
    // The dated reflection's run is in the window; the reflection, dated
    // years back, is not.
    assert!(
        window
            .engine_runs
            .iter()
            .any(|r| r.reflection_id == dated.id)
    );
    assert!(!window.reflections.iter().any(|r| r.id == dated.id));
    // Exactly the records made in the window.
    let inside = |t: Timestamp| from <= t && t <= now;
    assert_eq!(
        window.mirrorbacks.len(),
        whole
            .mirrorbacks
            .iter()
            .filter(|m| inside(m.created_at))
            .count()
    );
    assert_eq!(
        window.engine_feedback.len(),
        whole
            .engine_feedback
            .iter()
            .filter(|f| inside(f.created_at))
            .count()
    );
}
