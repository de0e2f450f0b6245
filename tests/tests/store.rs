//! The store's queries, search, validation and failure behaviour.

use std::collections::BTreeSet;

use mirror_node::home::Home;
use mirror_node::model::*;
use mirror_node::store::{ReflectionQuery, Store, StoreError};
use mirror_tests::fixtures::{populate, reflection};
use proptest::prelude::*;

fn identity(store: &Store) -> Identity {
    let key = mirror_node::home::SecretKey::generate().unwrap();
    let identity = Identity {
        id: Id::new(),
        name: "tester".into(),
        public_key: key.public_key(),
        created_at: Timestamp::now(),
    };
    store.insert_identity(&identity).unwrap();
    identity
}

fn ids(rs: &[Reflection]) -> Vec<Id> {
    rs.iter().map(|r| r.id).collect()
}

#[test]
fn lists_by_time_range_visibility_identity_and_thread() {
    let store = Store::in_memory().unwrap();
    let me = identity(&store);
    let other = identity(&store);
    let t0 = 1_767_225_600_000_000; // 2026-01-01
    let day = 86_400_000_000;
    let a = reflection(me.id, "alpha", t0, Visibility::LocalOnly);
    let b = reflection(me.id, "beta", t0 + day, Visibility::SyncSummary);
    let c = reflection(other.id, "gamma", t0 + 2 * day, Visibility::LocalOnly);
    // Written last but dated first: lists follow created_at, not insertion.
    let d = reflection(me.id, "delta", t0 - day, Visibility::LocalOnly);
    for r in [&a, &b, &c, &d] {
        store.insert_reflection(r, None).unwrap();
    }

    let all = store.reflections(&ReflectionQuery::newest(10)).unwrap();
    assert_eq!(ids(&all), [c.id, b.id, a.id, d.id]);
    let oldest = store
        .reflections(&ReflectionQuery {
            oldest_first: true,
            limit: 2,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(ids(&oldest), [d.id, a.id]);

    let range = store
        .reflections(&ReflectionQuery {
            since: Some(Timestamp::from_micros(t0).unwrap()),
            until: Some(Timestamp::from_micros(t0 + 2 * day).unwrap()),
            limit: 10,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(
        ids(&range),
        [b.id, a.id],
        "since is inclusive, until exclusive"
    );

    let mine_local = store
        .reflections(&ReflectionQuery {
            identity: Some(me.id),
            visibility: Some(Visibility::LocalOnly),
            limit: 10,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(ids(&mine_local), [a.id, d.id]);

    let now = Timestamp::now();
    let thread = Thread {
        id: Id::new(),
        identity_id: me.id,
        title: "letters".into(),
        status: ThreadStatus::Active,
        started_at: now,
        last_active: now,
        updated_at: now,
    };
    store.insert_thread(&thread).unwrap();
    assert!(store.add_to_thread(thread.id, b.id).unwrap());
    assert!(store.add_to_thread(thread.id, d.id).unwrap());
    assert!(
        !store.add_to_thread(thread.id, d.id).unwrap(),
        "second add is a no-op"
    );
    let in_thread = store
        .reflections(&ReflectionQuery {
            thread: Some(thread.id),
            limit: 10,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(ids(&in_thread), [b.id, d.id]);
    assert_eq!(store.thread_size(thread.id).unwrap(), 2);
    assert_eq!(store.threads_of(d.id).unwrap()[0].id, thread.id);
}

#[test]
fn search_needs_every_word_and_supports_prefixes() {
    let store = Store::in_memory().unwrap();
    let me = identity(&store);
    let t = 1_767_225_600_000_000;
    let texts = [
        "The garden at Mum’s house",
        "Gardening calms me down",
        "My mum called about the house",
        "Nothing about plants here",
    ];
    let rs: Vec<Reflection> = texts
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let r = reflection(me.id, text, t + i as i64, Visibility::LocalOnly);
            store.insert_reflection(&r, None).unwrap();
            r
        })
        .collect();
    let q = ReflectionQuery::newest(10);
    assert_eq!(
        ids(&store.search("house mum", &q).unwrap()),
        [rs[2].id, rs[0].id]
    );
    assert_eq!(
        ids(&store.search("garden*", &q).unwrap()),
        [rs[1].id, rs[0].id]
    );
    // Stemming reads "Mum's" as "mum", so both entries about Mum match.
    assert_eq!(
        ids(&store.search("MUM'S", &q).unwrap()),
        [rs[2].id, rs[0].id]
    );
    assert!(store.search("house plants", &q).unwrap().is_empty());
    assert_eq!(
        store
            .search("about", &ReflectionQuery::newest(1))
            .unwrap()
            .len(),
        1
    );
    // "all" must not match inside other words.
    assert!(store.search("all", &q).unwrap().is_empty());
}

#[test]
fn bad_values_are_rejected_and_nothing_changes() {
    let dir = tempfile::tempdir().unwrap();
    let home = Home::at(dir.path());
    let store = populate(&home);
    let before = store.snapshot().unwrap();
    let me = before.identities[0].clone();

    let mut tension = before.tensions[0].clone();
    tension.id = Id::new();
    tension.position = 1.5;
    let err = store.insert_tension(&tension).unwrap_err().to_string();
    assert!(
        err.contains("position") && err.contains("-1") && err.contains("1.5"),
        "{err}"
    );

    // Same two poles as the tracked tension, in the other order.
    tension.position = 0.0;
    std::mem::swap(&mut tension.axis_a, &mut tension.axis_b);
    let err = store.insert_tension(&tension).unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");

    let mut orphan = reflection(Id::new(), "no such identity", 1, Visibility::LocalOnly);
    assert!(matches!(
        store.insert_reflection(&orphan, None).unwrap_err(),
        StoreError::NotFound {
            kind: "identity",
            ..
        }
    ));
    // A missing thread aborts the whole write: the reflection is not stored.
    orphan.identity_id = me.id;
    assert!(store.insert_reflection(&orphan, Some(Id::new())).is_err());

    let archived = store
        .set_thread_status(before.threads[0].id, ThreadStatus::Archived)
        .unwrap();
    let err = store
        .add_to_thread(archived.id, before.reflections[0].id)
        .unwrap_err();
    assert!(err.to_string().contains("archived"), "{err}");
    store
        .set_thread_status(archived.id, before.threads[0].status)
        .unwrap();

    let mut after = store.snapshot().unwrap();
    // Only the status round trip touched the thread's updated_at.
    after.threads[0].updated_at = before.threads[0].updated_at;
    assert_eq!(after, before);

    let err = "sideways".parse::<ThreadStatus>().unwrap_err().to_string();
    assert!(
        err.contains("status") && err.contains("active, paused, archived"),
        "{err}"
    );
}

#[test]
fn a_reflection_with_an_older_id_than_the_index_covers_is_still_found() {
    // Ids come from the clock; a clock set back makes a new id older than
    // what the index already covers. It must be queued, not lost.
    let store = Store::in_memory().unwrap();
    let me = identity(&store);
    let newer = reflection(me.id, "lighthouse at dusk", 2, Visibility::LocalOnly);
    store.insert_reflection(&newer, None).unwrap();
    assert_eq!(
        store
            .search("lighthouse", &ReflectionQuery::newest(5))
            .unwrap()
            .len(),
        1
    );
    let mut older = reflection(me.id, "lighthouse at dawn", 1, Visibility::LocalOnly);
    older.id = Id::from_u128(newer.id.as_u128() - 1_000_000);
    store.insert_reflection(&older, None).unwrap();
    let hits = store
        .search("lighthouse dawn", &ReflectionQuery::newest(5))
        .unwrap();
    assert_eq!(ids(&hits), [older.id]);
    assert_eq!(
        store
            .search("lighthouse", &ReflectionQuery::newest(5))
            .unwrap()
            .len(),
        2
    );
    // And the index is complete: nothing left to do.
    assert_eq!(store.index_pending().unwrap(), 0);
}

#[test]
fn ids_resolve_from_full_form_prefix_or_short_suffix() {
    let store = Store::in_memory().unwrap();
    let me = identity(&store);
    let r = reflection(me.id, "resolve me", 1, Visibility::LocalOnly);
    store.insert_reflection(&r, None).unwrap();
    let full = r.id.to_string();
    assert_eq!(
        store.resolve::<Reflection>(&full, "reflection").unwrap(),
        r.id
    );
    assert_eq!(
        store
            .resolve::<Reflection>(&r.id.short(), "reflection")
            .unwrap(),
        r.id
    );
    assert_eq!(
        store
            .resolve::<Reflection>(&full[..13], "reflection")
            .unwrap(),
        r.id
    );
    assert!(matches!(
        store.resolve::<Reflection>("ffffffff", "reflection"),
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store.resolve::<Reflection>("zz", "reflection"),
        Err(StoreError::Invalid(_))
    ));
}

#[test]
fn consent_is_off_until_granted_and_every_change_is_kept() {
    let store = Store::in_memory().unwrap();
    assert!(!store.consent_granted(ConsentCategory::Telemetry).unwrap());
    store.set_consent(ConsentCategory::Telemetry, true).unwrap();
    assert!(store.consent_granted(ConsentCategory::Telemetry).unwrap());
    store
        .set_consent(ConsentCategory::Telemetry, false)
        .unwrap();
    assert!(!store.consent_granted(ConsentCategory::Telemetry).unwrap());
    let changes = store.list::<ConsentChange>(10).unwrap();
    assert_eq!(
        changes.iter().map(|c| c.granted).collect::<Vec<_>>(),
        [false, true],
        "newest first"
    );
}

#[test]
fn a_second_open_of_the_same_file_is_refused_not_blocked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mirror.redb");
    let _first = Store::open(&path).unwrap();
    let err = Store::open(&path).err().expect("second open must fail");
    assert!(matches!(err, StoreError::InUse { .. }), "{err}");
    assert!(err.to_string().contains("in use"), "{err}");
}

fn vocabulary() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["sea", "salt", "sun", "stone", "sky", "seed"]).prop_map(String::from)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    /// The leapfrog index search finds exactly what a plain scan finds.
    #[test]
    fn search_matches_a_naive_scan(
        docs in prop::collection::vec(prop::collection::vec(vocabulary(), 1..6), 1..40),
        query in prop::collection::vec(vocabulary(), 1..3),
        prefix in any::<bool>(),
    ) {
        let store = Store::in_memory().unwrap();
        let me = identity(&store);
        let mut all = Vec::new();
        for (i, words) in docs.iter().enumerate() {
            let r = reflection(me.id, &words.join(" "), i as i64, Visibility::LocalOnly);
            store.insert_reflection(&r, None).unwrap();
            all.push((r.id, words.iter().cloned().collect::<BTreeSet<_>>()));
        }
        let mut text: Vec<String> = query.clone();
        if prefix {
            // Turn the last word into a one-letter prefix ("s*" matches all).
            let last = text.pop().unwrap();
            text.push(format!("{}*", &last[..2]));
        }
        let found: BTreeSet<Id> = ids(&store.search(&text.join(" "), &ReflectionQuery::newest(1000)).unwrap())
            .into_iter().collect();
        let expected: BTreeSet<Id> = all.iter().filter(|(_, words)| {
            text.iter().all(|q| match q.strip_suffix('*') {
                Some(p) => words.iter().any(|w| w.starts_with(p)),
                None => words.contains(q),
            })
        }).map(|(id, _)| *id).collect();
        prop_assert_eq!(found, expected);
    }
}

/// A store that cannot be written (a read-only disk, a full one, a damage
/// mark) still answers a search: from the index, plus a scan of what the
/// index does not cover yet, in the same order a writable search gives.
#[test]
fn search_works_read_only_from_the_index_and_a_scan_of_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mirror.redb");
    let store = Store::open(&path).unwrap();
    let me = identity(&store);
    let base = 1_767_225_600_000_000i64;
    let garden = |i: i64, text: &str| reflection(me.id, text, base + i, Visibility::LocalOnly);
    store
        .insert_reflection(&garden(1, "The garden after rain."), None)
        .unwrap();
    // Indexed now; the next two are written after and not indexed.
    assert_eq!(
        store
            .search("garden", &ReflectionQuery::newest(10))
            .unwrap()
            .len(),
        1
    );
    store
        .insert_reflection(&garden(2, "Garden gloves, the old ones."), None)
        .unwrap();
    store
        .insert_reflection(&garden(3, "Nothing about plants."), None)
        .unwrap();
    let writable: Vec<Id> = ids(&store
        .search("garden", &ReflectionQuery::newest(10))
        .unwrap());
    drop(store);
    // Reopen a copy from before the catch-up: build it again, read-only.
    let path2 = dir.path().join("second.redb");
    let store = Store::open(&path2).unwrap();
    let me2 = identity(&store);
    let mut written = Vec::new();
    for (i, text) in [
        (1, "The garden after rain."),
        (2, "Garden gloves, the old ones."),
        (3, "Nothing about plants."),
    ] {
        let r = reflection(me2.id, text, base + i, Visibility::LocalOnly);
        store.insert_reflection(&r, None).unwrap();
        written.push(r);
        if i == 1 {
            store.index_pending().unwrap();
        }
    }
    drop(store);
    let read_only = Store::open_read_only(&path2).unwrap();
    assert!(matches!(
        read_only.index_pending(),
        Err(StoreError::ReadOnly { .. })
    ));
    let found = read_only
        .search("garden", &ReflectionQuery::newest(10))
        .unwrap();
    assert_eq!(ids(&found), vec![written[1].id, written[0].id]);
    assert_eq!(writable.len(), 2);
    let prefix = read_only
        .search("glove*", &ReflectionQuery::newest(10))
        .unwrap();
    assert_eq!(ids(&prefix), vec![written[1].id]);
}
