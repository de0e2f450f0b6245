//! Properties of the decoders that take release metadata from outside, as
//! plain functions shared by the `fuzz/` targets and the replay test
//! (`tests/tests/fuzz_replay.rs`). Each panics only when a property fails.

use crate::payload::ReleaseManifest;
use crate::release;

/// A release manifest with its TUF metadata, as a peer may publish it:
/// parsing and verifying never panic, and a manifest that parses
/// serialises back to one that parses the same.
pub fn release_manifest(data: &[u8]) {
    let Ok(manifest) = serde_json::from_slice::<ReleaseManifest>(data) else {
        return;
    };
    let _ = release::verify(&manifest);
    let _ = release::files(&manifest);
    let text = serde_json::to_vec(&manifest).expect("serialises");
    let again: ReleaseManifest = serde_json::from_slice(&text).expect("parses what it wrote");
    assert_eq!(
        serde_json::to_value(&again).ok(),
        serde_json::to_value(&manifest).ok()
    );
}
