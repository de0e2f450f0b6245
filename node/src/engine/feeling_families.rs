//! The feeling model's families and corpus settings: shared by the crate
//! ([`super::feeling_model`]) and by `node/build.rs`, which trains the
//! model at build time, so both read one list. Included by path from the
//! build script: it names nothing outside this file.

/// The families, as the pack's emotion lexicons name them (the English
/// lexicon's 21, which hold the other languages' 14).
pub const FAMILIES: [&str; 21] = [
    "joy",
    "pride",
    "relief",
    "gratitude",
    "love",
    "calm",
    "hope",
    "sadness",
    "grief",
    "longing",
    "loneliness",
    "fear",
    "anger",
    "frustration",
    "shame",
    "guilt",
    "exhaustion",
    "overwhelm",
    "envy",
    "confusion",
    "numbness",
];

/// Texts a feature must appear in to be kept: a word met once says more
/// about its writer than about a feeling, and costs every binary its row.
pub const MIN_TEXTS: usize = 2;

/// The corpus files (`node/eval/train/feelings-<name>.jsonl`), in the
/// order the model reads them.
pub const CORPUS: [&str; 6] = ["0", "1", "2", "3", "4", "5"];
