//! The journal the benches write: N reflections over ten years, each with
//! its mirrorback and engine run made at the same moment (shared by the
//! `journal` and `web` benches).
#![allow(dead_code)]

use mirror_node::model::*;
use mirror_node::store::Batch;

pub const DAY_MICROS: i64 = 86_400_000_000;

/// Deterministic pseudo-random numbers (splitmix64).
pub struct Rng(pub u64);
impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// A UUIDv7 made at `micros` (what `Id::new` would have made then).
pub fn id_at(micros: i64, rng: &mut Rng) -> Id {
    let ms = (micros / 1000) as u128;
    let rand_a = (rng.next() & 0x0fff) as u128;
    let rand_b = (rng.next() & 0x3fff_ffff_ffff_ffff) as u128;
    Id::from_u128((ms << 80) | (0x7 << 76) | (rand_a << 64) | (0b10 << 62) | rand_b)
}

const WORDS: [&str; 40] = [
    "today", "work", "sister", "call", "tired", "walk", "river", "heron", "morning", "coffee",
    "meeting", "deadline", "garden", "rain", "quiet", "friend", "dinner", "letter", "train",
    "music", "anxious", "calm", "proud", "late", "early", "project", "mother", "book", "sleep",
    "run", "city", "window", "light", "evening", "plan", "doubt", "hope", "list", "weekend",
    "phone",
];

pub fn text(rng: &mut Rng) -> String {
    let n = 20 + (rng.next() % 80) as usize;
    let mut out = String::from("I");
    for _ in 0..n {
        out.push(' ');
        out.push_str(WORDS[(rng.next() % WORDS.len() as u64) as usize]);
    }
    out.push('.');
    out
}

/// N reflections spread evenly over the ten years up to an hour ago, each
/// with its mirrorback and engine run made at the same moment.
pub fn journal(identity: &Identity, n: usize, rng: &mut Rng) -> Batch {
    let now = Timestamp::now().as_micros() - 3_600_000_000;
    let span = 3650 * DAY_MICROS;
    let mut batch = Batch {
        identities: vec![identity.clone()],
        ..Default::default()
    };
    for i in 0..n {
        let at = now - span + (span / n as i64) * i as i64;
        let created_at = Timestamp::from_micros(at).unwrap();
        let reflection = Reflection {
            id: id_at(at, rng),
            identity_id: identity.id,
            content: text(rng),
            content_type: ContentType::PlainText,
            visibility: Visibility::LocalOnly,
            source: Source::Cli,
            created_at,
            metadata: Metadata::default(),
        };
        batch.mirrorbacks.push(Mirrorback {
            id: id_at(at + 1000, rng),
            reflection_id: reflection.id,
            text: "You come back to the walk by the river.".into(),
            engine_mode: EngineMode::Manual,
            engine_version: "bench".into(),
            model: None,
            attempts: 1,
            fell_back: false,
            flags: vec![],
            created_at: Timestamp::from_micros(at + 1000).unwrap(),
        });
        batch.engine_runs.push(EngineRun {
            id: id_at(at + 2000, rng),
            reflection_id: reflection.id,
            mode: EngineMode::Manual,
            model: None,
            duration_ms: 3,
            patterns: if i.is_multiple_of(3) {
                vec!["rumination".into()]
            } else {
                vec![]
            },
            flags: vec![],
            sync_allowed: false,
            created_at: Timestamp::from_micros(at + 2000).unwrap(),
        });
        batch.reflections.push(reflection);
    }
    batch
}
