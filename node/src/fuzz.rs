//! Properties of the decoders that take bytes from outside the node, as
//! plain functions: the `fuzz/` targets call them with generated inputs and
//! the replay test (`tests/tests/fuzz_replay.rs`) with every corpus and
//! crasher file, so both check the same thing. Each panics only when a
//! property fails; refusing an input is fine.

use crate::bundle::{ImportLimits, Manifest, read_bundle_from};
use crate::home::Config;
use crate::model::*;
use crate::store::Store;

/// Small limits, so a generated bomb is refused quickly.
fn limits() -> ImportLimits {
    ImportLimits {
        max_bundle_bytes: 4 << 20,
        max_unpacked_bytes: 16 << 20,
        max_entries: 10_000,
        max_manifest_bytes: 1 << 20,
    }
}

/// A whole bundle: reading never panics; a bundle that verifies imports
/// into a store either completely or not at all (a refusal leaves the store
/// exactly as it was), and importing it twice adds nothing.
pub fn bundle(data: &[u8]) {
    let Ok(verified) = read_bundle_from(data, data.len() as u64, &limits()) else {
        return;
    };
    let store = Store::in_memory().expect("an in-memory store");
    let before = store.snapshot().expect("snapshot");
    match store.import(&verified.batch) {
        Ok(_) => {
            let again = store
                .import(&verified.batch)
                .expect("a second import works");
            assert_eq!(again.added(), 0, "importing twice adds nothing");
        }
        Err(_) => assert_eq!(
            store.snapshot().expect("snapshot"),
            before,
            "a refused import changes nothing"
        ),
    }
}

/// `MANIFEST.json`: parsing never panics and round-trips.
pub fn manifest(data: &[u8]) {
    if let Ok(m) = serde_json::from_slice::<Manifest>(data) {
        let text = serde_json::to_vec(&m).expect("serialises");
        let again: Manifest = serde_json::from_slice(&text).expect("parses what it wrote");
        assert_eq!(again, m);
    }
}

fn line_as<R: Record>(line: &[u8]) {
    if let Ok(r) = serde_json::from_slice::<R>(line)
        && r.validate().is_ok()
    {
        let text = serde_json::to_vec(&r).expect("serialises");
        let again: R = serde_json::from_slice(&text).expect("parses what it wrote");
        assert_eq!(again, r, "{} round trip", R::TABLE);
    }
}

/// One line of a bundle's `data/<table>.jsonl`, read as every record type:
/// never a panic, and a record that parses and validates round-trips.
pub fn record_line(data: &[u8]) {
    line_as::<Identity>(data);
    line_as::<Reflection>(data);
    line_as::<Mirrorback>(data);
    line_as::<Tension>(data);
    line_as::<TensionEvidence>(data);
    line_as::<TensionSuggestion>(data);
    line_as::<Thread>(data);
    line_as::<ThreadMember>(data);
    line_as::<EngineRun>(data);
    line_as::<EngineFeedback>(data);
    line_as::<EvolutionEvent>(data);
    line_as::<EvolutionHistory>(data);
    line_as::<Integration>(data);
    line_as::<ConsentSetting>(data);
    line_as::<ConsentChange>(data);
    line_as::<EgressRecord>(data);
}

/// `config.toml` (from disk, or from a bundle with `--restore-config`):
/// never a panic; a config that parses and is in range round-trips.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(c) = toml::from_str::<Config>(text)
        && c.validate().is_ok()
    {
        let out = toml::to_string(&c).expect("serialises");
        let again: Config = toml::from_str(&out).expect("parses what it wrote");
        assert_eq!(again, c);
    }
}

fn value_as<R: Record>(bytes: &[u8]) {
    if let Ok(r) = crate::store::codec::decode::<R>(bytes) {
        let again = crate::store::codec::encode(&r).expect("encodes");
        assert_eq!(
            crate::store::codec::decode::<R>(&again).expect("decodes what it wrote"),
            r
        );
    }
    let _ = crate::store::codec::decode_prefix::<R>(bytes);
}

/// A value read from the database file (which a damaged disk can make
/// anything): decoding never panics, and what decodes round-trips.
pub fn stored_value(data: &[u8]) {
    value_as::<Reflection>(data);
    value_as::<Mirrorback>(data);
    value_as::<Thread>(data);
    value_as::<ThreadMember>(data);
    value_as::<ConsentSetting>(data);
    value_as::<EgressRecord>(data);
    let _ = crate::store::integrity::scan_file(data);
}
