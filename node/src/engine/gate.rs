//! The second gate for a model's answer, after the compliance checker.
//!
//! Compliance asks whether an answer prescribes. This gate asks whether it
//! is a reflection *to this person about this entry*, which a small model
//! gets wrong in ways compliance cannot see: it talks about "the person" or
//! "the writer" instead of to them, talks about its instructions or its
//! role ("A mirrorback is a reflection companion…"), adds people, places
//! and numbers the entry never mentioned, runs to four paragraphs, or
//! answers a French entry in English.
//!
//! Each check is a plain function of the entry and the answer; a failure
//! names what was wrong, so the regeneration can say so and the stored
//! record can show which checks failed. The built-in mirror's answers pass
//! every check (a test holds it to that), so falling back never trades one
//! failure for another.

use mirror_constitution::text::{Token, tokenize};

use super::Engine;

/// One check of the gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Check {
    /// Not addressed to the person: no "you" (in the entry's language).
    NotAddressed,
    /// Speaks of "the person", "the writer", "the author" in the third
    /// person.
    ThirdPerson,
    /// Talks about its instructions, its prompt, its role, or mirrorbacks.
    AboutItself,
    /// Names people, places or numbers, or quotes words, the entry does
    /// not have.
    InventedFacts,
    /// Not true to the entry: labels the person, foretells, or tells a
    /// story the entry does not (see `faithful.rs`). Asked only of an
    /// answer that passed every other check.
    Unfaithful,
    /// Longer (or shorter) than a reflection.
    Length,
    /// Not in the entry's language.
    Language,
}

impl Check {
    /// The name stored in a mirrorback's flags.
    pub fn as_str(self) -> &'static str {
        match self {
            Check::NotAddressed => "not_addressed",
            Check::ThirdPerson => "third_person",
            Check::AboutItself => "about_itself",
            Check::InventedFacts => "invented_facts",
            Check::Unfaithful => "unfaithful",
            Check::Length => "length",
            Check::Language => "wrong_language",
        }
    }
}

/// A failed check and what showed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub check: Check,
    pub evidence: String,
}

impl Failure {
    /// What a regeneration is told about this failure.
    pub fn reason(&self) -> String {
        match self.check {
            Check::NotAddressed => "was not addressed to the person as \"you\"".into(),
            Check::ThirdPerson => format!(
                "spoke about {} in the third person instead of to them as \"you\"",
                self.evidence
            ),
            Check::AboutItself => format!(
                "talked about its own instructions or role (\"{}\") instead of the entry",
                self.evidence
            ),
            Check::InventedFacts => {
                format!("mentioned {} which the person never wrote", self.evidence)
            }
            Check::Unfaithful => self.evidence.clone(),
            Check::Length => format!("had the wrong length for a reflection ({})", self.evidence),
            Check::Language => format!("was not in the language of the entry ({})", self.evidence),
        }
    }
}

/// How long a reflection may be: two to five sentences are asked for, and
/// a little room is left for a model that runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub min_words: usize,
    pub max_words: usize,
    pub max_sentences: usize,
    pub max_paragraphs: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            min_words: 6,
            max_words: 130,
            max_sentences: 7,
            max_paragraphs: 2,
        }
    }
}

/// Words that address the reader, by language. A gate heuristic, not a
/// grammar: one of them anywhere is enough.
fn second_person(code: &str) -> &'static [&'static str] {
    match code {
        "en" => &[
            "you", "your", "you're", "you've", "you'd", "you'll", "yours", "yourself",
        ],
        "fr" => &[
            "tu", "te", "t'", "toi", "ton", "ta", "tes", "vous", "votre", "vos",
        ],
        "de" => &[
            "du", "dich", "dir", "dein", "deine", "deinen", "deiner", "deines", "sie", "ihnen",
            "ihr",
        ],
        "es" => &["tú", "tu", "te", "ti", "tus", "usted", "contigo", "vos"],
        "pt" => &[
            "você", "tu", "te", "ti", "teu", "tua", "teus", "tuas", "seu", "sua", "seus", "suas",
            "contigo", "vocês", "lhe",
        ],
        "it" => &["tu", "te", "ti", "tuo", "tua", "tuoi", "lei"],
        "nl" => &["je", "jij", "jou", "jouw", "u", "uw"],
        _ => &[],
    }
}

/// Nouns a model uses for the person when it speaks about them.
const PERSON_NOUNS: &[&str] = &[
    "person",
    "writer",
    "author",
    "user",
    "individual",
    "journaler",
    "client",
    "narrator",
];

/// Verbs and auxiliaries that, after "the person", show it is the subject
/// of a sentence about them.
const SUBJECT_VERBS: &[&str] = &[
    "is",
    "was",
    "are",
    "were",
    "has",
    "had",
    "needs",
    "need",
    "should",
    "seems",
    "feels",
    "felt",
    "wants",
    "wanted",
    "wrote",
    "writes",
    "must",
    "can",
    "could",
    "might",
    "would",
    "will",
    "'s",
    "appears",
    "expresses",
    "expressed",
    "describes",
    "described",
    "mentions",
    "mentioned",
    "shares",
    "shared",
    "struggles",
    "does",
    "did",
    "ought",
    "may",
    "keeps",
    "asks",
    "asked",
    "says",
    "said",
    "tells",
    "told",
    "thinks",
    "believes",
    "knows",
    "seemed",
    "clearly",
    "also",
    "really",
];

/// Words that show an answer is about its own making. Each counts only
/// when the entry does not use it (a person may write about instructions
/// at work).
const ABOUT_ITSELF: &[&str] = &[
    "instruction",
    "instructions",
    "instructed",
    "prompt",
    "prompts",
    "prompted",
    "mirrorback",
    "mirrorbacks",
    "assistant",
    "chatbot",
    "ai",
    "guidelines",
    "constitution",
    "companion",
    "role",
    "programmed",
    "model",
];

/// Check `answer` as a reflection on `entry`; every failure, in check order.
pub fn check(engine: &Engine, entry: &str, answer: &str, limits: &Limits) -> Vec<Failure> {
    let entry_tokens = tokenize(entry);
    let tokens = tokenize(answer);
    let entry_lang = engine.language(entry);
    let mut failures = Vec::new();
    let mut fail = |check: Check, evidence: String| failures.push(Failure { check, evidence });
    let in_entry = |word: &str| entry_tokens.iter().any(|t| t.norm == word);

    // Addressed to "you", in the entry's language (unknown languages pass);
    // a question asked of the reader addresses them too ("What made it so
    // good?").
    let you = second_person(&entry_lang.code);
    let addressed = you.is_empty()
        || tokens.iter().any(|t| you.contains(&t.norm.as_str()))
        || answer.contains(['?', '？'])
        || (entry_lang.code == "en" && reflects(&tokens));
    if !addressed {
        fail(Check::NotAddressed, String::new());
    }

    // "the person needs…", "the writer's", "this author".
    if let Some(evidence) = third_person(&tokens, answer)
        && !entry.to_lowercase().contains(&evidence.to_lowercase())
    {
        fail(Check::ThirdPerson, format!("\"{evidence}\""));
    }

    // Its instructions, its prompt, its role.
    let about: Vec<&str> = tokens
        .iter()
        .map(|t| t.norm.as_str())
        .filter(|w| ABOUT_ITSELF.contains(w) && !in_entry(w))
        .collect();
    let lower = answer.to_lowercase();
    let self_talk = [
        "as a mirror",
        "the mirror is",
        "i am the mirror",
        "i'm the mirror",
        "i was asked",
        "i've been asked",
        "i cannot give advice",
        "i can't give advice",
        "not allowed to",
    ]
    .into_iter()
    .find(|p| lower.contains(p) && !entry.to_lowercase().contains(p));
    // A chatbot's voice: "I'm sorry", "I'm glad", "I think he would…". The
    // Mirror may say "I notice", "I wonder", "I hear"; anything else it
    // says of itself is about itself, not the person.
    let chatbot = first_person(&tokens, answer, &entry_tokens);
    if let Some(first) = about.first().copied().or(self_talk).or(chatbot.as_deref()) {
        fail(Check::AboutItself, first.to_string());
    }

    // Names, places, numbers and quotes that are not the entry's.
    let invented = invented(answer, &tokens, entry, &entry_tokens, &entry_lang.code);
    if !invented.is_empty() {
        fail(Check::InventedFacts, invented.join(", "));
    }

    // A reflection's length.
    let sentences = sentences(answer);
    let paragraphs = answer
        .split("\n\n")
        .filter(|p| !p.trim().is_empty())
        .count();
    let why = if tokens.len() > limits.max_words {
        Some(format!(
            "{} words, at most {}",
            tokens.len(),
            limits.max_words
        ))
    } else if tokens.len() < limits.min_words {
        Some(format!(
            "{} words, at least {}",
            tokens.len(),
            limits.min_words
        ))
    } else if sentences > limits.max_sentences {
        Some(format!(
            "{sentences} sentences, at most {}",
            limits.max_sentences
        ))
    } else if paragraphs > limits.max_paragraphs {
        Some(format!(
            "{paragraphs} paragraphs, at most {}",
            limits.max_paragraphs
        ))
    } else {
        None
    };
    if let Some(why) = why {
        fail(Check::Length, why);
    }

    // The entry's language (an entry the detector cannot place passes).
    let answer_lang = engine.language(answer);
    if entry_lang.native && answer_lang.code != entry_lang.code {
        fail(
            Check::Language,
            format!("entry {}, answer {}", entry_lang.code, answer_lang.code),
        );
    }

    // True to the entry: asked only of an answer that passed everything
    // above, so a regeneration is told the plainest fault first.
    if failures.is_empty()
        && let Some(unfaithful) = super::faithful::check(
            entry,
            answer,
            &entry_lang.code,
            engine.params().languages.get("en"),
        )
    {
        failures.push(Failure {
            check: Check::Unfaithful,
            evidence: unfaithful.describe(),
        });
    }
    failures
}

/// The first thing the answer says of itself in the first person, outside
/// quotation marks and other than noticing, wondering or hearing.
fn first_person(tokens: &[Token], text: &str, entry: &[Token]) -> Option<String> {
    let quoted = quote_spans(text);
    for (i, t) in tokens.iter().enumerate() {
        if !matches!(
            t.norm.as_str(),
            "i" | "i'm" | "i've" | "i'll" | "i'd" | "me" | "my" | "myself"
        ) {
            continue;
        }
        if quoted.iter().any(|q| q.contains(&t.span.start)) {
            continue;
        }
        let next = tokens.get(i + 1).map_or("", |n| n.norm.as_str());
        let own = t.norm == "i"
            && matches!(
                next,
                "notice" | "wonder" | "hear" | "noticed" | "wondered" | "heard"
            );
        // Words the entry has too ("I can't say no") are the person's.
        let echoed = entry
            .windows(2)
            .any(|w| w[0].norm == t.norm && w[1].norm == next);
        if !own && !echoed {
            let end = tokens.get(i + 1).map_or(t.span.end, |n| n.span.end);
            return Some(text[t.span.start..end].to_string());
        }
    }
    None
}

/// Byte ranges inside quotation marks.
fn quote_spans(text: &str) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut open: Option<(usize, char)> = None;
    for (pos, c) in text.char_indices() {
        match (open, c) {
            (None, '"' | '“' | '«' | '‘') => open = Some((pos, c)),
            (Some((from, '"')), '"')
            | (Some((from, '“')), '”')
            | (Some((from, '«')), '»')
            | (Some((from, '‘')), '’') => {
                out.push(from..pos);
                open = None;
            }
            _ => {}
        }
    }
    out
}

/// Whether an English answer speaks as a reflection ("It sounds like the
/// loss is very close today"): addressed to the reader without a "you".
fn reflects(tokens: &[Token]) -> bool {
    tokens.iter().any(|t| {
        matches!(
            t.norm.as_str(),
            "sounds" | "seems" | "seem" | "seemed" | "sounded"
        )
    })
}

/// "the person" (or "this writer", "the author's") used as the subject or
/// owner in a sentence about them; the words as written.
fn third_person(tokens: &[Token], text: &str) -> Option<String> {
    for i in 0..tokens.len().saturating_sub(1) {
        if !matches!(tokens[i].norm.as_str(), "the" | "this" | "that") {
            continue;
        }
        let noun = tokens[i + 1].norm.as_str();
        let possessive = noun
            .strip_suffix("'s")
            .is_some_and(|n| PERSON_NOUNS.contains(&n));
        let subject = PERSON_NOUNS.contains(&noun)
            && tokens
                .get(i + 2)
                .is_some_and(|t| SUBJECT_VERBS.contains(&t.norm.as_str()));
        if possessive || subject {
            return Some(text[tokens[i].span.start..tokens[i + 1].span.end].to_string());
        }
    }
    None
}

/// What the answer names that the entry does not: capitalised words inside
/// a sentence (people, places, days), numbers, and quoted words.
fn invented(
    answer: &str,
    tokens: &[Token],
    entry: &str,
    entry_tokens: &[Token],
    code: &str,
) -> Vec<String> {
    let entry_lower = entry.to_lowercase();
    let known = |word: &str| {
        let word = word.strip_suffix("'s").unwrap_or(word);
        entry_tokens
            .iter()
            .any(|t| t.norm == word || t.norm.strip_suffix("'s") == Some(word))
    };
    let mut out: Vec<String> = Vec::new();
    let mut push = |w: String| {
        if !out.contains(&w) {
            out.push(w);
        }
    };
    for (i, t) in tokens.iter().enumerate() {
        let raw = &answer[t.span.clone()];
        if raw.chars().any(|c| c.is_ascii_digit()) {
            if !known(&t.norm) {
                push(raw.to_string());
            }
            continue;
        }
        // German writes every noun with a capital: names cannot be told.
        if code == "de" {
            continue;
        }
        let starts_sentence = i == 0 || {
            let gap = &answer[tokens[i - 1].span.end..t.span.start];
            gap.contains(['.', '!', '?', '\n', ':', '"', '“', '«'])
        };
        let capital = raw.chars().next().is_some_and(char::is_uppercase);
        let pronoun_i = matches!(t.norm.as_str(), "i" | "i'm" | "i've" | "i'd" | "i'll");
        if capital && !starts_sentence && !pronoun_i && !known(&t.norm) {
            push(raw.to_string());
        }
    }
    // Quoted words must be the entry's.
    for quote in quotes(answer) {
        let words: Vec<String> = tokenize(&quote).into_iter().map(|t| t.norm).collect();
        if words.len() >= 2 && !contains_words(&entry_lower, &words) {
            push(format!("\"{quote}\""));
        }
    }
    out
}

/// Whether `words` occur in a row among the words of `text`.
fn contains_words(text: &str, words: &[String]) -> bool {
    let tokens: Vec<String> = tokenize(text).into_iter().map(|t| t.norm).collect();
    tokens.windows(words.len()).any(|w| w == words)
}

/// The text between double quotation marks (straight, curly or guillemets).
fn quotes(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut open: Option<(usize, char)> = None;
    for (pos, c) in text.char_indices() {
        match (open, c) {
            (None, '"' | '“' | '«') => open = Some((pos + c.len_utf8(), c)),
            (Some((from, '"')), '"') | (Some((from, '“')), '”') | (Some((from, '«')), '»') => {
                out.push(text[from..pos].trim().to_string());
                open = None;
            }
            _ => {}
        }
    }
    out
}

/// Sentences in `text`: runs ending in `.`, `!` or `?` (a last one without).
fn sentences(text: &str) -> usize {
    let mut count = 0;
    let mut in_sentence = false;
    for c in text.chars() {
        if matches!(c, '.' | '!' | '?' | '…') {
            if in_sentence {
                count += 1;
            }
            in_sentence = false;
        } else if c.is_alphanumeric() {
            in_sentence = true;
        }
    }
    count + usize::from(in_sentence)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine() -> &'static Engine {
        static ENGINE: std::sync::OnceLock<Engine> = std::sync::OnceLock::new();
        ENGINE.get_or_init(|| Engine::genesis().expect("genesis engine"))
    }

    fn failed(entry: &str, answer: &str) -> Vec<&'static str> {
        check(engine(), entry, answer, &Limits::default())
            .into_iter()
            .map(|f| f.check.as_str())
            .collect()
    }

    const ENTRY: &str = "I got the offer from the studio in Lisbon today. Part of me wants to go, part of me can't imagine leaving Maya and the flat.";

    #[test]
    fn a_reflection_to_the_person_passes() {
        assert!(
            failed(
                ENTRY,
                "Part of you wants to go to Lisbon, and part of you can't picture leaving Maya. Both seem to matter a great deal. What does each part want you to know?"
            )
            .is_empty()
        );
    }

    #[test]
    fn answers_about_the_person_or_itself_fail() {
        assert_eq!(
            failed(
                ENTRY,
                "The person is torn between Lisbon and Maya. What do you feel when you picture both?"
            ),
            ["third_person"]
        );
        assert!(
            failed(
                ENTRY,
                "A mirrorback is a reflection companion. The writer's offer from Lisbon weighs on you."
            )
            .starts_with(&["third_person", "about_itself"])
        );
        assert_eq!(
            failed(
                ENTRY,
                "They were instructed to tell you what they need done in Lisbon."
            ),
            ["about_itself"]
        );
        assert_eq!(
            failed(
                ENTRY,
                "Lisbon and Maya both pull hard, and the choice feels big."
            ),
            ["not_addressed"]
        );
    }

    #[test]
    fn a_chatbot_voice_is_about_itself() {
        assert_eq!(
            failed(
                ENTRY,
                "I'm so sorry, you seem torn between Lisbon and Maya."
            ),
            ["about_itself"]
        );
        assert_eq!(
            failed(
                ENTRY,
                "I think Maya would want you to go to Lisbon, you know?"
            ),
            ["about_itself"]
        );
        // The Mirror noticing, and the person's own "I", quoted, pass.
        assert!(
            failed(
                ENTRY,
                "I notice you wrote \"part of me wants to go\". What is Lisbon to you?"
            )
            .is_empty()
        );
    }

    #[test]
    fn invented_names_numbers_and_quotes_fail() {
        let f = check(
            engine(),
            ENTRY,
            "You seem torn, much as you were in Berlin with Tom 3 years ago.",
            &Limits::default(),
        );
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].check, Check::InventedFacts);
        assert_eq!(f[0].evidence, "Berlin, Tom, 3");
        assert_eq!(
            failed(
                ENTRY,
                "You wrote \"I will never leave\", and Lisbon still calls you."
            ),
            ["invented_facts"]
        );
        // The entry's own words, quoted, pass.
        assert!(
            failed(
                ENTRY,
                "You wrote \"part of me wants to go\", and Maya is in it too."
            )
            .is_empty()
        );
    }

    /// Falling back must never trade one failure for another: the built-in
    /// mirror's answers to the unseen entries (every kind, every language
    /// of the set; crises aside, which the node answers itself) pass.
    #[test]
    fn the_built_in_mirror_passes_the_gate() {
        let set = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("eval/unseen-mirrorbacks.jsonl"),
        )
        .expect("the unseen mirrorback entries");
        let engine = engine();
        let mut failed = Vec::new();
        for line in set.lines().filter(|l| !l.trim().is_empty()) {
            let item: serde_json::Value = serde_json::from_str(line).unwrap();
            let text = item["text"].as_str().unwrap();
            if engine.crisis(text).is_some() {
                continue;
            }
            let answer = super::super::mirror::mirrorback(engine, text, &engine.analyze(text));
            let f = check(engine, text, &answer, &Limits::default());
            if !f.is_empty() {
                failed.push(format!("{}: {answer:?} {f:?}", item["id"]));
            }
        }
        assert!(failed.is_empty(), "{}", failed.join("\n"));
    }

    #[test]
    fn length_and_language() {
        let long = "You seem tired. ".repeat(12);
        assert_eq!(failed(ENTRY, &long), ["length"]);
        assert_eq!(failed(ENTRY, "You seem torn."), ["length"]);
        let paragraphs =
            "You seem torn about Lisbon.\n\nMaya matters to you.\n\nThe flat does too.";
        assert_eq!(failed(ENTRY, paragraphs), ["length"]);
        let french =
            "Je ne sais plus quoi faire avec mon travail, je suis fatiguée et je pense à partir.";
        assert_eq!(
            failed(
                french,
                "You seem tired of your work and you are thinking of leaving it."
            ),
            ["not_addressed", "wrong_language"]
        );
        assert!(
            failed(french, "Tu sembles fatiguée de ton travail, et l'idée de partir est là. Qu'est-ce qui te retient ?").is_empty()
        );
    }
}
