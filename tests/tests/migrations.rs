//! Schema migrations: a v1 database with every kind of record goes up to v2
//! and back down, and nothing is lost; a newer database is refused untouched.

use mirror_node::home::Home;
use mirror_node::store::{CURRENT_VERSION, ReflectionQuery, Store, StoreError};
use mirror_tests::fixtures::populate;

fn file_hash(path: &std::path::Path) -> blake3::Hash {
    blake3::hash(&std::fs::read(path).unwrap())
}

#[test]
fn a_v1_database_migrates_up_and_down_keeping_every_record() {
    let dir = tempfile::tempdir().unwrap();
    let home = Home::at(dir.path());
    let mut store = populate(&home);
    let everything = store.snapshot().unwrap();
    assert!(everything.reflections.len() >= 4);

    // Make it a v1 database: the full-text index goes, the records stay.
    let down = store.migrate_to(1).unwrap();
    assert_eq!((down.from, down.to), (CURRENT_VERSION, 1));
    assert!(down.backup.as_ref().is_some_and(|b| b.exists()));
    assert_eq!(store.schema_version(), 1);
    assert_eq!(store.snapshot().unwrap(), everything);
    assert!(matches!(
        store.search("garden", &ReflectionQuery::newest(5)),
        Err(StoreError::NeedsMigration {
            found: 1,
            needed: CURRENT_VERSION
        })
    ));
    drop(store);

    // Opening a v1 file migrates it, after writing a backup beside it.
    let backups = dir.path().join("backups");
    let before = std::fs::read_dir(&backups).unwrap().count();
    let store = Store::open(&home.db_path()).unwrap();
    assert_eq!(store.schema_version(), CURRENT_VERSION);
    assert_eq!(store.snapshot().unwrap(), everything);
    // The index was rebuilt from the stored reflections.
    let hits = store.search("garden", &ReflectionQuery::newest(5)).unwrap();
    assert_eq!(hits.len(), 1);
    assert!(hits[0].content.contains("garden"));
    let new_backups: Vec<_> = std::fs::read_dir(&backups)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(new_backups.len(), before + 1);
    drop(store);

    // The backup written before the upgrade is the v1 database, whole.
    let v1_backup = new_backups
        .iter()
        .filter(|p| p.to_string_lossy().contains("-v1-"))
        .max()
        .unwrap();
    let copy = dir.path().join("restored.redb");
    std::fs::copy(v1_backup, &copy).unwrap();
    let restored = Store::open_unmigrated(&copy).unwrap();
    assert_eq!(restored.schema_version(), 1);
    assert_eq!(restored.snapshot().unwrap(), everything);
}

#[test]
fn the_base_schema_cannot_be_rolled_back_and_unknown_targets_are_refused() {
    let mut store = Store::in_memory().unwrap();
    assert!(matches!(store.migrate_to(0), Err(StoreError::Migration(_))));
    assert!(matches!(
        store.migrate_to(CURRENT_VERSION + 1),
        Err(StoreError::Migration(_))
    ));
    assert_eq!(store.schema_version(), CURRENT_VERSION);
}

#[test]
fn a_newer_database_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mirror.redb");
    drop(Store::open(&path).unwrap());
    {
        // What a future mirror would leave behind.
        let db = redb::Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(redb::TableDefinition::<&str, u64>::new("meta"))
            .unwrap()
            .insert("schema_version", 99)
            .unwrap();
        txn.commit().unwrap();
    }
    let before = file_hash(&path);
    for attempt in [Store::open(&path), Store::open_unmigrated(&path)] {
        let err = attempt.err().expect("a newer schema must be refused");
        assert!(
            matches!(
                err,
                StoreError::TooNew {
                    found: 99,
                    supported: CURRENT_VERSION,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("nothing was changed"));
    }
    assert_eq!(file_hash(&path), before, "the file must not change");
    assert!(!dir.path().join("backups").exists());
}
