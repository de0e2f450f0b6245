//! Whether a model's answer stays true to the entry: the part of the second
//! gate (`gate.rs`) that asks not "is this a reflection?" but "is this
//! *this person's* entry, as they wrote it?".
//!
//! A small model that passes every other check still misreads. Measured on
//! the development mirrorbacks with SmolLM2-135M, the answers it got
//! through were worse than the built-in mirror's on the rubric's
//! *faithful* line: it turned a self-judgment into a verdict ("You're a
//! terrible mother"), foretold ("you won't have a wonderful day"), and
//! filled in a life the entry never mentioned ("the one with your sister's
//! old laptop"). The issue's rule is "when in doubt, fall back", so these
//! checks are deliberately strict: a false alarm costs a regeneration or
//! the built-in mirror's answer, which is never worse; a miss stores a
//! misreading in the person's journal.
//!
//! Three checks, English only (the model path's other languages are held
//! by the language and invented-facts checks; a stemmer and word lists per
//! language would be needed to do more):
//! - **labels**: "you are a …", "you're the …": a verdict on who the person
//!   is, outside a quotation of their own words;
//! - **foretells**: "you will…", "you won't…", "you're going to…" in a
//!   statement (a question may wonder), unless the entry says it of itself;
//! - **ungrounded**: the answer's content words must come from the entry
//!   (by stem) or from the small vocabulary a reflection is made of; more
//!   than a few new ones, or fewer than half from the entry, is a story
//!   the model told rather than the person's.
//!
//! Cost: one tokenisation and stemming of each text (microseconds beside
//! a model's seconds).

use std::collections::HashSet;

use mirror_constitution::text::{Token, tokenize};
use mirror_governance::params::LanguageSpec;
use rust_stemmers::{Algorithm, Stemmer};

/// What was wrong, and the words that showed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unfaithful {
    Labels(String),
    Foretells(String),
    Generalises(String),
    Ungrounded(Vec<String>),
}

impl Unfaithful {
    /// The evidence, for the stored flags and the regeneration's reason.
    pub fn describe(&self) -> String {
        match self {
            Unfaithful::Labels(w) => format!("labelled the person (\"{w}\")"),
            Unfaithful::Foretells(w) => {
                format!("foretold what the person will do or feel (\"{w}\")")
            }
            Unfaithful::Generalises(w) => {
                format!("spoke of people in general, not of this person (\"{w}\")")
            }
            Unfaithful::Ungrounded(words) => {
                format!("said things the entry does not say ({})", words.join(", "))
            }
        }
    }
}

/// More new content words than this, or fewer from the entry than new
/// ones, and the answer is not grounded in it. One: a reflection may name
/// what the entry implies in a word of its own; the feelings it names are
/// the pack's (its emotion words count as a reflection's vocabulary). On
/// the development mirrorbacks, answers a small model added two or three
/// words of its own to were misreadings every time (BENCHMARKS.md).
const MAX_NEW_WORDS: usize = 1;

/// Checks an English answer against its entry; other languages pass.
/// `spec` is the governed English language pack: the words of its
/// phrasings are a reflection's own vocabulary (the built-in mirror's
/// answers are made of them), so a model may use them too.
pub fn check(
    entry: &str,
    answer: &str,
    code: &str,
    spec: Option<&LanguageSpec>,
) -> Option<Unfaithful> {
    if code != "en" {
        return None;
    }
    let tokens = tokenize(answer);
    let entry_tokens = tokenize(entry);
    let quoted = quote_spans(answer);
    let outside = |t: &Token| !quoted.iter().any(|q| q.contains(&t.span.start));
    for sentence in sentences(answer, &tokens) {
        let words: Vec<&Token> = sentence
            .tokens
            .iter()
            .copied()
            .filter(|t| outside(t))
            .collect();
        if let Some(label) = labels(&words) {
            return Some(Unfaithful::Labels(label));
        }
        if !sentence.question
            && let Some(future) = foretells(&words, &entry_tokens)
        {
            return Some(Unfaithful::Foretells(future));
        }
        if let Some(general) = generalises(&words, &entry_tokens) {
            return Some(Unfaithful::Generalises(general));
        }
    }
    let new = ungrounded(&tokens, &entry_tokens, spec);
    if !new.is_empty() {
        return Some(Unfaithful::Ungrounded(new));
    }
    None
}

struct Sentence<'a> {
    tokens: Vec<&'a Token>,
    question: bool,
}

/// The answer's sentences, each with its words and whether it asks.
fn sentences<'a>(text: &str, tokens: &'a [Token]) -> Vec<Sentence<'a>> {
    let mut out = Vec::new();
    let mut current: Vec<&Token> = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        current.push(t);
        let gap_end = tokens.get(i + 1).map_or(text.len(), |n| n.span.start);
        let gap = &text[t.span.end..gap_end];
        if let Some(end) = gap.find(['.', '!', '?', '\n']) {
            let question = gap[end..].starts_with('?');
            out.push(Sentence {
                tokens: std::mem::take(&mut current),
                question,
            });
        }
    }
    if !current.is_empty() {
        out.push(Sentence {
            tokens: current,
            question: false,
        });
    }
    out
}

/// "you are a failure", "you're the problem", "you are not a good friend".
fn labels(words: &[&Token]) -> Option<String> {
    for (i, w) in words.iter().enumerate() {
        let rest: Vec<&str> = words[i + 1..]
            .iter()
            .take(4)
            .map(|t| t.norm.as_str())
            .collect();
        let after_be = match (w.norm.as_str(), rest.first().copied()) {
            ("you're", _) => &rest[..],
            ("you", Some("are" | "were" | "aren't" | "weren't")) => &rest[1..],
            _ => continue,
        };
        let after_not = match after_be.first() {
            Some(&"not" | &"just" | &"only" | &"really" | &"truly" | &"such" | &"still") => {
                &after_be[1..]
            }
            _ => after_be,
        };
        if matches!(
            after_not.first(),
            Some(&"a" | &"an" | &"the" | &"nothing" | &"no")
        ) || after_not.first().is_some_and(|w| VERDICTS.contains(w))
        {
            let phrase: Vec<&str> = words[i..(i + 1 + rest.len()).min(words.len())]
                .iter()
                .map(|t| t.norm.as_str())
                .collect();
            return Some(phrase.join(" "));
        }
    }
    None
}

/// Words that pass a verdict on a person when said of them ("you're
/// useless"), rather than describe a state ("you're tired").
const VERDICTS: &[&str] = &[
    "useless",
    "worthless",
    "pathetic",
    "stupid",
    "lazy",
    "selfish",
    "weak",
    "hopeless",
    "broken",
    "unlovable",
    "failing",
    "wrong",
    "right",
    "better",
    "worse",
    "fine",
    "okay",
];

/// "you will never…", "you'll be…", "you won't…", "you're going to…",
/// unless the entry says it of itself ("I'll never forgive him").
fn foretells(words: &[&Token], entry: &[Token]) -> Option<String> {
    for (i, w) in words.iter().enumerate() {
        let next = words.get(i + 1).map_or("", |t| t.norm.as_str());
        let after = words.get(i + 2).map_or("", |t| t.norm.as_str());
        let (future, verb) = match (w.norm.as_str(), next) {
            ("you'll", _) => (true, next),
            ("you", "will" | "won't" | "shall") => (true, after),
            ("you're" | "you", "going") if after == "to" => (true, ""),
            ("you", "are") if after == "going" => (true, ""),
            _ => (false, ""),
        };
        if !future {
            continue;
        }
        // "You'll never forgive him" after "I'll never forgive him" is the
        // entry's own future; "you're going to…" after "I'm going to…".
        let said_of_itself = if verb.is_empty() {
            entry
                .windows(2)
                .any(|pair| pair[0].norm == "going" && pair[1].norm == "to")
        } else {
            entry.windows(2).any(|pair| {
                matches!(pair[0].norm.as_str(), "i'll" | "will" | "won't") && pair[1].norm == verb
            })
        };
        if !said_of_itself {
            let phrase: Vec<&str> = words[i..(i + 3).min(words.len())]
                .iter()
                .map(|t| t.norm.as_str())
                .collect();
            return Some(phrase.join(" "));
        }
    }
    None
}

/// "What happens when someone gets their hopes up?": a sentence about
/// people in general, with no "you" in it, when the entry spoke of no
/// such people. A reflection is about the person who wrote.
fn generalises(words: &[&Token], entry: &[Token]) -> Option<String> {
    const GENERAL: &[&str] = &[
        "someone",
        "somebody",
        "people",
        "anyone",
        "anybody",
        "everyone",
        "everybody",
        "one's",
    ];
    const YOU: &[&str] = &[
        "you", "your", "yours", "yourself", "you're", "you've", "you'd", "you'll",
    ];
    if words.iter().any(|t| YOU.contains(&t.norm.as_str())) {
        return None;
    }
    words
        .iter()
        .find(|t| GENERAL.contains(&t.norm.as_str()) && !entry.iter().any(|e| e.norm == t.norm))
        .map(|t| t.norm.clone())
}

/// The answer's content words that neither the entry nor a reflection's
/// own vocabulary has, when there are too many of them.
fn ungrounded(tokens: &[Token], entry: &[Token], spec: Option<&LanguageSpec>) -> Vec<String> {
    let stemmer = Stemmer::create(Algorithm::English);
    let stem = |w: &str| stemmer.stem(w.trim_end_matches("'s")).into_owned();
    let entry_stems: HashSet<String> = entry.iter().map(|t| stem(&t.norm)).collect();
    // The pack's phrasings, by stem (a few hundred short strings: tens of
    // microseconds, beside a model's seconds).
    let pack: HashSet<String> = spec
        .into_iter()
        .flat_map(|spec| {
            spec.phrases
                .values()
                .chain(spec.emotions.values())
                .flatten()
        })
        .flat_map(|phrase| tokenize(phrase))
        .map(|t| stem(&t.norm))
        .collect();
    let mut from_entry = 0usize;
    let mut new: Vec<String> = Vec::new();
    for t in tokens {
        let w = t.norm.as_str();
        if !is_content(w) {
            continue;
        }
        let s = stem(w);
        if entry_stems.contains(&s) {
            from_entry += 1;
        } else if !pack.contains(&s)
            && !REFLECTIVE.contains(&s.as_str())
            && !REFLECTIVE.contains(&w)
            && !new.iter().any(|n| n == w)
        {
            new.push(w.to_string());
        }
    }
    if new.len() > MAX_NEW_WORDS || (!new.is_empty() && from_entry < new.len()) {
        new
    } else {
        Vec::new()
    }
}

/// Whether a word carries content (not a function word, a number or a
/// fragment).
fn is_content(w: &str) -> bool {
    w.chars().count() >= 3
        && w.chars()
            .all(|c| c.is_alphabetic() || c == '\'' || c == '-')
        && !FUNCTION_WORDS.contains(&w)
}

/// English function words: pronouns, determiners, auxiliaries,
/// prepositions, conjunctions, common adverbs.
const FUNCTION_WORDS: &[&str] = &[
    "the",
    "and",
    "but",
    "for",
    "nor",
    "yet",
    "you",
    "your",
    "yours",
    "yourself",
    "you're",
    "you've",
    "you'd",
    "you'll",
    "are",
    "was",
    "were",
    "been",
    "being",
    "have",
    "has",
    "had",
    "having",
    "does",
    "did",
    "doing",
    "done",
    "will",
    "would",
    "shall",
    "should",
    "can",
    "could",
    "may",
    "might",
    "must",
    "not",
    "don't",
    "doesn't",
    "didn't",
    "isn't",
    "aren't",
    "wasn't",
    "weren't",
    "won't",
    "can't",
    "couldn't",
    "wouldn't",
    "shouldn't",
    "haven't",
    "hasn't",
    "hadn't",
    "this",
    "that",
    "these",
    "those",
    "there",
    "here",
    "then",
    "than",
    "when",
    "where",
    "what",
    "which",
    "who",
    "whom",
    "whose",
    "why",
    "how",
    "with",
    "without",
    "from",
    "into",
    "onto",
    "about",
    "above",
    "below",
    "over",
    "under",
    "after",
    "before",
    "while",
    "during",
    "through",
    "between",
    "among",
    "around",
    "against",
    "since",
    "until",
    "upon",
    "within",
    "also",
    "just",
    "only",
    "even",
    "still",
    "too",
    "very",
    "really",
    "quite",
    "rather",
    "much",
    "many",
    "more",
    "most",
    "less",
    "least",
    "some",
    "any",
    "all",
    "each",
    "every",
    "both",
    "either",
    "neither",
    "other",
    "another",
    "such",
    "own",
    "same",
    "its",
    "it's",
    "they",
    "them",
    "their",
    "theirs",
    "themselves",
    "she",
    "her",
    "hers",
    "herself",
    "him",
    "his",
    "himself",
    "our",
    "ours",
    "ourselves",
    "myself",
    "i'm",
    "i've",
    "i'll",
    "i'd",
    "he's",
    "she's",
    "he'd",
    "she'd",
    "he'll",
    "she'll",
    "they're",
    "they've",
    "they'd",
    "they'll",
    "we're",
    "we've",
    "we'd",
    "we'll",
    "let",
    "lets",
    "let's",
    "yes",
    "one",
    "ones",
    "whether",
    "because",
    "though",
    "although",
    "unless",
    "if",
    "so",
    "out",
    "off",
    "down",
    "again",
    "once",
    "ever",
    "never",
    "always",
    "often",
    "sometimes",
    "now",
    "today",
    "something",
    "anything",
    "nothing",
    "everything",
    "someone",
    "anyone",
    "everyone",
    "thing",
    "things",
    "way",
    "ways",
    "lot",
    "bit",
    "kind",
    "sort",
    "well",
    "able",
    "that's",
    "what's",
    "there's",
    "here's",
    "who's",
    "get",
    "got",
    "gets",
    "getting",
    "make",
    "makes",
    "made",
    "making",
    "come",
    "comes",
    "came",
    "coming",
    "going",
    "goes",
    "went",
    "gone",
    "take",
    "takes",
    "took",
    "taken",
];

/// What a reflection is made of, whatever the entry: the words of
/// noticing and asking (by stem and as written). The built-in mirror's
/// answers use these; a model may too.
const REFLECTIVE: &[&str] = &[
    "sound",
    "sounds",
    "seem",
    "seems",
    "feel",
    "feels",
    "felt",
    "feeling",
    "feelings",
    "notic",
    "notice",
    "wonder",
    "wondering",
    "hear",
    "heard",
    "part",
    "parts",
    "moment",
    "moments",
    "time",
    "times",
    "pull",
    "pulls",
    "pulling",
    "weigh",
    "weighs",
    "weight",
    "matter",
    "matters",
    "mean",
    "means",
    "meaning",
    "sens",
    "sense",
    "hold",
    "holds",
    "holding",
    "carri",
    "carry",
    "carrying",
    "side",
    "sides",
    "wrote",
    "write",
    "writ",
    "writing",
    "word",
    "words",
    "say",
    "says",
    "saying",
    "said",
    "tell",
    "telling",
    "think",
    "thinking",
    "thought",
    "thoughts",
    "want",
    "wants",
    "wanting",
    "like",
    "know",
    "knowing",
    "ask",
    "asking",
    "question",
    "read",
    "reading",
    "back",
    "stand",
    "stands",
    "standing",
    "right",
    "alive",
    "close",
    "heavy",
    "hard",
    "big",
    "small",
    "strong",
    "deep",
    "real",
    "still",
    "place",
    "space",
    "room",
    "beside",
    "sit",
    "sits",
    "sitting",
    "stay",
    "stays",
    "look",
    "looking",
    "see",
    "seeing",
    "find",
    "finding",
    "came",
    "come",
    "present",
    "bring",
    "brings",
    "left",
    "leave",
    "touch",
    "touches",
    "speak",
    "speaks",
    "inside",
    "happen",
    "happening",
    "happened",
    "same",
    "different",
    "first",
    "last",
    "again",
    "name",
    "named",
    "naming",
    "voice",
    "clear",
    "unclear",
    "open",
    "tension",
    "tensions",
    "torn",
    "both",
    "between",
    "together",
    "apart",
    "side",
    "most",
    "stand",
    "stood",
    "comes",
    "mind",
    "heart",
    "sound",
    "tone",
    "shape",
    "pattern",
    "patterns",
];

/// Where quotations start and end (straight and curly quotes).
fn quote_spans(text: &str) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut open: Option<(usize, char)> = None;
    for (pos, c) in text.char_indices() {
        match (open, c) {
            (None, '"' | '“' | '«') => open = Some((pos, c)),
            (Some((from, '"')), '"') | (Some((from, '“')), '”') | (Some((from, '«')), '»') => {
                out.push(from..pos);
                open = None;
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENTRY: &str = "I snapped at the kids again this morning before school. I keep telling myself I'm a terrible mother. Then I hate that I think it.";

    fn kind(answer: &str) -> Option<&'static str> {
        check(ENTRY, answer, "en", None).map(|u| match u {
            Unfaithful::Labels(_) => "labels",
            Unfaithful::Foretells(_) => "foretells",
            Unfaithful::Generalises(_) => "generalises",
            Unfaithful::Ungrounded(_) => "ungrounded",
        })
    }

    #[test]
    fn a_verdict_on_the_person_is_a_label() {
        assert_eq!(
            kind("You're a terrible mother, and that weighs on you this morning."),
            Some("labels")
        );
        assert_eq!(
            kind("You are not a bad person for snapping at the kids."),
            Some("labels")
        );
        // Their own words, quoted, are theirs.
        assert_eq!(
            kind("You wrote \"I'm a terrible mother\", and then you hate that you think it."),
            None
        );
        assert_eq!(
            kind("You're useless in the mornings, snapping at the kids."),
            Some("labels")
        );
        // A feeling is not a label.
        assert_eq!(
            kind(
                "It sounds like you are tired of snapping at the kids and then hating the thought."
            ),
            None
        );
    }

    #[test]
    fn a_statement_about_the_future_is_foretelling() {
        assert_eq!(
            kind("You won't have a good morning with the kids until you forgive yourself."),
            Some("foretells")
        );
        assert_eq!(
            kind("You're going to keep snapping at the kids."),
            Some("foretells")
        );
        // A question may wonder.
        assert_eq!(
            kind("What do you think you'll notice the next time you snap at the kids?"),
            None
        );
    }

    #[test]
    fn a_story_the_entry_does_not_tell_is_ungrounded() {
        assert_eq!(
            kind(
                "It sounds like your sister's old laptop broke during the holiday trip to grandma's farm."
            ),
            Some("ungrounded")
        );
        assert_eq!(
            kind(
                "You snapped at the kids this morning, and then you hate that you think you're terrible. What is that morning like?"
            ),
            None
        );
    }

    #[test]
    fn people_in_general_are_not_this_person() {
        assert_eq!(
            kind(
                "You snapped at the kids this morning. What happens when someone gets their hopes up?"
            ),
            Some("generalises")
        );
        assert_eq!(
            kind("What is it like for you when the morning starts with snapping at the kids?"),
            None
        );
    }

    #[test]
    fn other_languages_pass() {
        assert_eq!(
            check("Je suis fatiguée.", "Tu es une mauvaise mère.", "fr", None),
            None
        );
    }
}
