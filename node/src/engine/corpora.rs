//! What the built-in models learn, listed once: the tension model's axes
//! and corpus ([`super::tension_model`]) and the feeling model's families
//! and corpus ([`super::feeling_model`]). Shared by the crate and by
//! `node/build.rs`, which trains both models at build time; included by
//! path from the build script, so it names nothing outside this file.

/// The tension axes, in the pack's canonical order.
pub const AXES: [(&str, &str); 8] = [
    ("control", "surrender"),
    ("autonomy", "connection"),
    ("stability", "growth"),
    ("self", "others"),
    ("thinking", "feeling"),
    ("planning", "spontaneity"),
    ("perfection", "acceptance"),
    ("past", "future"),
];

/// The tension corpus files (`node/eval/train/tensions-<name>.jsonl`), in
/// the order the model reads them.
pub const TENSION_CORPUS: [&str; 11] = [
    "en", "en-2", "en-3", "fr", "es", "de", "pt", "fr-2", "es-2", "de-2", "pt-2",
];

/// The tension sets that, once measured and read, join the tension
/// model's corpus (`node/eval/<name>.jsonl`, `"text"` and
/// `"tensions"` of each line), after the corpus and the pole corpus's
/// entries. A model over words learns its writers' words: these are six more
/// writers, who wrote to be read rather than to teach, and a
/// fifth of whose entries hold no pull. The development set
/// (`../shared/eval/tensions-dev.jsonl`) never joins, nor a set not yet
/// measured.
pub const TENSION_SPENT: [&str; 6] = [
    "holdout-tensions",
    "unseen-tensions",
    "unseen-tensions-intl",
    "fresh5-tensions",
    "fresh20-tensions",
    "fresh21-tensions",
];

/// The pole corpus files (`node/eval/train/poles-<name>.jsonl`), in the
/// order the sides model ([`super::sides`]) reads them: each a writer
/// who saw only the corpus's definition.
pub const POLE_CORPUS: [&str; 11] = [
    "en-1", "en-2", "en-3", "fr", "fr-2", "de", "de-2", "es", "es-2", "pt", "pt-2",
];

/// The families, as the pack's emotion lexicons name them (the English
/// lexicon's 21, which hold the other languages' 16).
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

/// The feeling corpus files (`node/eval/train/feelings-<name>.jsonl`), in
/// the order the model reads them.
pub const FEELING_CORPUS: [&str; 6] = ["0", "1", "2", "3", "4", "5"];

/// Further files of the feeling corpus, read by the feeling model only
/// after [`FEELING_CORPUS`]: the ordinary days of the spent crisis sets
/// ([`CRISIS_SPENT`]) that tell of a death, a funeral or a pet put down,
/// or use those words for something else (a game, a phone, a helpline
/// shift, a will), each labelled like the rest from the definition alone.
/// The corpus held 109 grief entries in 3,000, and the model weighed out
/// the grief of most long entries that told a death in details ("Biscuit
/// died Tuesday", "Funeral was at 2"; BENCHMARKS.md, "Grief told in
/// details"). The everyday gate does not read them again: it learns
/// these days already, from their sets.
pub const FEELING_SPENT: [&str; 1] = ["spent"];

/// The crisis sets that, once measured and read, join the crisis scorers'
/// corpus (`node/eval/<name>-crisis.jsonl`, `"crisis"` and `"text"` of each
/// line), in the order the scorers read them after the `.txt` corpus. A
/// scorer over words learns its writers' words: these are seventeen more
/// writers. The development set (`../shared/eval/crisis-dev.jsonl`) never
/// joins, nor a set not yet measured; set 35 stays out, the one spent set
/// a change is still measured against before a fresh one.
pub const CRISIS_SPENT: [&str; 17] = [
    "fresh5", "fresh6", "fresh7", "fresh8", "fresh10", "fresh11", "fresh12", "fresh13", "fresh14",
    "fresh15", "probe", "unseen", "fresh28", "fresh29", "fresh30", "fresh31", "fresh42",
];

/// The mirrorback sets that, once answered, judged and read, join the
/// crisis scorers' corpus after [`CRISIS_SPENT`]
/// (`node/eval/<name>-mirrorbacks.jsonl`: an entry of kind `crisis` is
/// risk, every other one an ordinary day). They are journal entries as a
/// person writes them to be answered, the very kind the scorers gave the
/// crisis answer to one time in fifteen; with them learnt, set 38m (then
/// held out) lost 4 of its 10 false alarms at the same recall elsewhere
/// (BENCHMARKS.md). A set joins only after it was answered and judged.
pub const CRISIS_SPENT_ANSWERED: [&str; 12] = {
    // The sets the tension model reads, then sets 39m to 41m, whose pulls
    // are labelled in the writers' own words.
    let later = ["fresh39", "fresh40", "fresh41"];
    let mut sets = [""; 12];
    let mut i = 0;
    while i < TENSION_SPENT_ANSWERED.len() {
        sets[i] = TENSION_SPENT_ANSWERED[i];
        i += 1;
    }
    while i < sets.len() {
        sets[i] = later[i - TENSION_SPENT_ANSWERED.len()];
        i += 1;
    }
    sets
};

/// The answered mirrorback sets read by the tension model after
/// [`TENSION_SPENT`] (those of [`CRISIS_SPENT_ANSWERED`] whose pulls are
/// labelled with the pack's axes; later sets name them in the writer's
/// own words): an entry labelled with a pack axis is that pull, an
/// ordinary day is none ([`answered_axes`]). They are long entries by new
/// writers who show a pull in acts far apart, the kind the model heard in
/// one of four (set 39m: 5 of 22). A set joins only after it was answered
/// and judged.
pub const TENSION_SPENT_ANSWERED: [&str; 9] = [
    "fresh20",
    "fresh20-short",
    "fresh22",
    "fresh23",
    "fresh32",
    "fresh34",
    "fresh36",
    "fresh38",
    "unseen",
];

/// Kinds of entry in a mirrorback set that may hold a pull their labels
/// do not name (a request for a verdict on a dilemma, a "should I…?"):
/// neither a pull nor none, so the tension model leaves them out.
pub const UNLABELLED_PULL_KINDS: [&str; 4] =
    ["advice_request", "injection", "obligation", "question"];

/// What the tension model learns from an entry of an answered set, given
/// its kind and its tension labels as written (pairs of pole names, in
/// order): the pack axes they name, none for an ordinary day, or `None`
/// to leave it out (a kind in [`UNLABELLED_PULL_KINDS`], or a pull
/// labelled only in the writer's own words, "duty"/"self", that is no
/// pack axis).
pub fn answered_axes(kind: &str, labels: &[&str]) -> Option<Vec<(String, String)>> {
    if UNLABELLED_PULL_KINDS.contains(&kind) {
        return None;
    }
    let axes: Vec<(String, String)> = labels
        .chunks_exact(2)
        .filter(|p| AXES.contains(&(p[0], p[1])))
        .map(|p| (p[0].to_string(), p[1].to_string()))
        .collect();
    if axes.is_empty() && (kind == "implicit_tension" || !labels.is_empty()) {
        return None;
    }
    Some(axes)
}
