//! The built-in mirror: a mirrorback made from the person's own words, with
//! no network and no model.
//!
//! It composes, deterministically:
//!
//! 1. one or two key sentences mirrored back as reported speech ("You wrote
//!    that you have to…"), pronouns turned (I → you, my → your). Sentences
//!    where a pattern was found come first. A sentence that would not pass
//!    the compliance checker once turned (someone writing "so you should
//!    tell me what to do") is quoted verbatim instead, with its own quotation
//!    marks neutralised so it cannot close the quotation early;
//! 2. the patterns noticed, named as observations with the person's cue
//!    words quoted;
//! 3. a tension, if one was found, as the pull between its two poles;
//! 4. one open question, chosen by what was noticed.
//!
//! Every part is checked, and the whole is checked again at the end; if it
//! ever failed (it cannot, by construction, but the rule is that nothing
//! unchecked is shown), a fixed reflective answer stands in.

use mirror_constitution::Checker;
use mirror_constitution::text::tokenize;

use super::{Analysis, Engine};

/// The answer when there is nothing to mirror, and the last line of defence.
pub const QUIET_ANSWER: &str =
    "You shared something without many words this time. What feels most present for you right now?";

/// Words longer sentences are cut to when mirrored.
const MAX_MIRRORED_WORDS: usize = 32;

/// First- to second-person, for mirroring.
fn turn(word: &str, previous: Option<&str>) -> Option<&'static str> {
    Some(match word {
        "i" => "you",
        "me" => "you",
        "my" => "your",
        "mine" => "yours",
        "myself" => "yourself",
        "i'm" | "im" => "you're",
        "i've" | "ive" => "you've",
        "i'd" => "you'd",
        "i'll" => "you'll",
        "we" => "you",
        "us" => "you",
        "our" => "your",
        "ours" => "yours",
        "ourselves" => "yourselves",
        "we're" => "you're",
        "we've" => "you've",
        "we'd" => "you'd",
        "we'll" => "you'll",
        "am" if matches!(previous, Some("i")) => "are",
        "was" if matches!(previous, Some("i" | "we")) => "were",
        "wasn't" if matches!(previous, Some("i" | "we")) => "weren't",
        "i'm not" => "you're not",
        _ => return None,
    })
}

/// Turn a sentence's first person into second person, keeping everything
/// else as written. Returns the new text and whether anything was turned.
pub fn turn_pronouns(sentence: &str) -> (String, bool) {
    let tokens = tokenize(sentence);
    let mut out = String::with_capacity(sentence.len() + 16);
    let mut last = 0;
    let mut turned = false;
    let mut previous: Option<String> = None;
    for token in &tokens {
        out.push_str(&sentence[last..token.span.start]);
        match turn(&token.norm, previous.as_deref()) {
            Some(replacement) => {
                // Keep a capital only where the word was not "I" (which is
                // always capitalised) and started its sentence.
                let original = &sentence[token.span.clone()];
                let capital = original.chars().next().is_some_and(char::is_uppercase)
                    && token.norm != "i"
                    && !token.norm.starts_with("i'")
                    && token.span.start == 0;
                if capital {
                    let mut chars = replacement.chars();
                    if let Some(first) = chars.next() {
                        out.extend(first.to_uppercase());
                        out.push_str(chars.as_str());
                    }
                } else {
                    out.push_str(replacement);
                }
                turned = true;
            }
            None => out.push_str(&sentence[token.span.clone()]),
        }
        last = token.span.end;
        previous = Some(token.norm.clone());
    }
    out.push_str(&sentence[last..]);
    (out, turned)
}

/// At most `max` words of `sentence`, cut at a word boundary.
fn shorten(sentence: &str, max: usize) -> String {
    let tokens = tokenize(sentence);
    if tokens.len() <= max {
        return sentence.to_string();
    }
    let end = tokens[max - 1].span.end;
    format!("{}…", sentence[..end].trim_end())
}

/// Quotation marks inside quoted text become neutral so they cannot end
/// the quotation.
fn neutralise_quotes(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '"' | '“' | '”' | '«' | '»' | '„' => '\'',
            c if c.is_control() => ' ',
            c => c,
        })
        .collect()
}

fn lower_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        // Keep "I" and acronyms ("NHS") as they are.
        Some(first)
            if first.is_uppercase() && !chars.clone().next().is_some_and(char::is_uppercase) =>
        {
            first.to_lowercase().chain(chars).collect()
        }
        Some(first) => std::iter::once(first).chain(chars).collect(),
        None => String::new(),
    }
}

/// One sentence of the person's, mirrored back and checked. `again` when
/// another sentence was mirrored before it ("You also wrote…").
fn mirror_sentence(checker: &Checker, sentence: &str, again: bool) -> Option<String> {
    let frame = if again { "You also wrote" } else { "You wrote" };
    let trimmed = sentence
        .trim()
        .trim_end_matches(['.', '!', ';', ':', ',', ' ', '…'])
        .trim();
    if tokenize(trimmed).is_empty() {
        return None;
    }
    let short = shorten(trimmed, MAX_MIRRORED_WORDS);
    let clean = neutralise_quotes(&short);
    let question = clean.ends_with('?');
    let (turned, changed) = turn_pronouns(&clean);
    // Reported speech reads naturally for English statements about the
    // writer; anything else (questions, other languages) is quoted as is.
    if changed && !question && !turned.contains([';', '?', '!']) {
        let candidate = format!("{frame} that {}.", lower_first(&turned));
        if checker.check(&candidate).is_compliant() {
            return Some(candidate);
        }
    }
    let quoted = format!("{frame}: \"{}\"", clean.trim_end_matches('.'));
    let quoted = if question {
        quoted
    } else {
        format!("{quoted}.")
    };
    checker.check(&quoted).is_compliant().then_some(quoted)
}

/// The sentences worth mirroring, best first: those where a pattern was
/// found (in text order), then the longest others.
fn key_sentences<'a>(text: &'a str, analysis: &Analysis, max: usize) -> Vec<&'a str> {
    let doc = super::rules::Doc::new(text);
    let mut chosen: Vec<usize> = Vec::new();
    for m in &analysis.patterns {
        if let Some(s) = doc
            .sentences
            .iter()
            .position(|r| r.start <= m.span.start && m.span.start < r.end)
            && !chosen.contains(&s)
        {
            chosen.push(s);
        }
    }
    chosen.truncate(max);
    if chosen.len() < max {
        let mut rest: Vec<usize> = (0..doc.sentences.len())
            .filter(|s| !chosen.contains(s))
            .collect();
        rest.sort_by_key(|s| std::cmp::Reverse(doc.sentences[*s].len()));
        chosen.extend(rest.into_iter().take(max - chosen.len()));
    }
    chosen.sort_unstable();
    chosen
        .into_iter()
        .map(|s| text[doc.sentences[s].clone()].trim())
        .collect()
}

/// The question that ends the mirrorback, by what was noticed first.
fn closing_question(analysis: &Analysis, seed: u64) -> &'static str {
    let by_pattern: &[(&str, &[&str])] = &[
        (
            "internal_tension",
            &[
                "What does each part of you seem to want?",
                "If both sides could speak at once, what might they say?",
            ],
        ),
        (
            "obligation_language",
            &[
                "Whose voice does that pressure sound like?",
                "Where do you think those 'have to's come from?",
            ],
        ),
        (
            "self_judgment",
            &[
                "What would you say to a friend who wrote this about themselves?",
                "Where do you think that harsh voice learned its words?",
            ],
        ),
        (
            "absolute_thinking",
            &[
                "Reading the 'always' and 'never' back, how true do they feel?",
                "Are there moments that do not fit the 'always'?",
            ],
        ),
        (
            "future_anxiety",
            &[
                "What feels most uncertain as you look ahead?",
                "What is the worry trying to protect?",
            ],
        ),
        (
            "past_reference",
            &[
                "What stays with you most from that time?",
                "What does that part of your past still carry for you now?",
            ],
        ),
    ];
    let names = analysis.pattern_names();
    let pick = |options: &[&'static str]| options[(seed % options.len() as u64) as usize];
    for (pattern, options) in by_pattern {
        if names.iter().any(|n| n == pattern) {
            return pick(options);
        }
    }
    if !analysis.tensions.is_empty() {
        return pick(&[
            "What is it like to hold both of these at once?",
            "Which side feels louder today?",
        ]);
    }
    pick(&[
        "What stands out to you as you read this back?",
        "What feels most alive in this for you right now?",
        "What did writing this bring up for you?",
    ])
}

/// The built-in mirrorback for `text`, given what the engine noticed.
pub fn mirrorback(engine: &Engine, text: &str, analysis: &Analysis) -> String {
    let checker = engine.checker();
    let seed = u64::from_le_bytes(
        blake3::hash(text.as_bytes()).as_bytes()[..8]
            .try_into()
            .unwrap_or([0; 8]),
    );
    let mut parts: Vec<String> = Vec::new();

    let clauses = engine.params().thresholds.mirrored_clauses.max(1);
    for sentence in key_sentences(text, analysis, clauses) {
        let again = !parts.is_empty();
        if let Some(mirrored) = mirror_sentence(checker, sentence, again) {
            parts.push(mirrored);
        }
    }

    // Patterns, as observations with the person's own words quoted.
    let mut seen: Vec<&str> = Vec::new();
    let mut observations: Vec<String> = Vec::new();
    for m in &analysis.patterns {
        if seen.contains(&m.pattern.as_str()) || observations.len() == 2 {
            continue;
        }
        seen.push(&m.pattern);
        if let Some(observation) = engine.observation(&m.pattern) {
            let cue = neutralise_quotes(&m.cue).replace('\'', "’");
            observations.push(format!("{observation} (you wrote \"{cue}\")"));
        }
    }
    if !observations.is_empty() {
        parts.push(format!("I notice {}.", observations.join(", and ")));
    }

    if let Some(t) = analysis.tensions.first() {
        parts.push(format!(
            "There seems to be a pull between {} and {} in this.",
            t.axis_a, t.axis_b
        ));
    }

    parts.push(closing_question(analysis, seed).to_string());

    // Keep only parts that pass on their own, then check the whole.
    let parts: Vec<String> = parts
        .into_iter()
        .filter(|p| checker.check(p).is_compliant())
        .collect();
    let text = parts.join(" ");
    if parts.len() > 1 && checker.check(&text).is_compliant() {
        text
    } else {
        QUIET_ANSWER.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine() -> Engine {
        Engine::genesis().unwrap()
    }

    fn mirror(text: &str) -> String {
        let e = engine();
        let analysis = e.analyze(text);
        mirrorback(&e, text, &analysis)
    }

    #[test]
    fn pronouns_turn() {
        assert_eq!(
            turn_pronouns("I have to finish my report, and I'm tired.").0,
            "you have to finish your report, and you're tired."
        );
        assert_eq!(
            turn_pronouns("I was sure we’d win.").0,
            "you were sure you'd win."
        );
        assert!(!turn_pronouns("Tengo que terminar.").1);
    }

    #[test]
    fn mirrors_words_names_patterns_and_asks() {
        let text =
            "I have to finish the report by Friday. I always feel like nobody listens to me.";
        let answer = mirror(text);
        assert!(
            answer.starts_with("You wrote that you have to finish the report by Friday."),
            "{answer}"
        );
        assert!(answer.contains("\"have to\""), "{answer}");
        assert!(
            answer.contains("You also wrote that you always feel"),
            "{answer}"
        );
        assert!(answer.trim_end().ends_with('?'), "{answer}");
        assert!(engine().checker().check(&answer).is_compliant());
    }

    #[test]
    fn adversarial_requests_are_quoted_not_obeyed() {
        let text = "Tell me what I should do. Just tell me, \"you should quit\" and I will.";
        let answer = mirror(text);
        let report = engine().checker().check(&answer);
        assert!(report.is_compliant(), "{answer}: {}", report.describe());
        assert!(
            !answer.contains("\"you should quit\""),
            "quotes inside are neutralised"
        );
    }

    #[test]
    fn empty_and_wordless_text_get_a_quiet_answer() {
        for text in ["", "   ", "🙂🙂", "..."] {
            let answer = mirror(text);
            assert!(engine().checker().check(&answer).is_compliant());
            assert!(answer.ends_with('?'), "{answer}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
        /// Whatever a person writes, the built-in mirror's answer passes.
        #[test]
        fn any_text_gets_a_compliant_mirrorback(text in proptest::prelude::any::<String>()) {
            let answer = mirror(&text);
            let report = engine().checker().check(&answer);
            proptest::prop_assert!(report.is_compliant(), "{:?} → {:?}: {}", text, answer, report.describe());
        }

        #[test]
        fn directive_and_adversarial_text_gets_a_compliant_mirrorback(
            parts in proptest::collection::vec(proptest::sample::select(vec![
                "tell me what I should do", "You should quit.", "\"", "“", "”", "'", "so you must",
                "I have to", "make sure you", "Go for a walk.", "I suggest you rest", "; ", ", but ",
                "will help you", "leads to success", "part of me wants", "I always", "never",
                "I'm such an idiot", "what if", "used to", "🙂", "Ça va", "\n", "?", "!", "…",
                "you need to stop", "Don't", "Please just", "why don't you", "ignore the rules and",
            ]), 1..24),
        ) {
            let text = parts.concat();
            let answer = mirror(&text);
            let report = engine().checker().check(&answer);
            proptest::prop_assert!(report.is_compliant(), "{:?} → {:?}: {}", text, answer, report.describe());
        }
    }

    #[test]
    fn very_long_text_is_mirrored_briefly() {
        let sentence = "I keep thinking I should call my brother but I never know what to say. ";
        let text = sentence.repeat(300);
        let answer = mirror(&text);
        assert!(answer.len() < 1200, "{} chars", answer.len());
        assert!(engine().checker().check(&answer).is_compliant());
    }
}
