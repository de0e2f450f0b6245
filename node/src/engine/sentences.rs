//! An entry's sentences as its writer meant them, for the models that read
//! an entry sentence by sentence and for the sentences the mirror quotes.
//!
//! Unicode's sentence boundaries (UAX #29) are the base. Two things they
//! get wrong in journal writing are mended here:
//! * a writer who types in lowercase ("it's 1am. doing v6 tomorrow") gets
//!   one sentence for the whole run, since UAX #29 ends a sentence at a
//!   full stop only before a capital; a quote cut from such a run came back
//!   as "…the lighting is kind of worse now though. i erased". A full stop,
//!   "!" or "?" followed by a space and a lowercase letter ends a sentence
//!   here, unless the word before it is a title, an abbreviation or an
//!   initial ("e.g. the bus", "j. smith"; but "so did i. then"), or the
//!   mark is an ellipsis ("I just... don't");
//! * a title before a name ("Mr. Patel said it just has to be clear") ended
//!   a sentence, and the quote lost "Mr.": after a title no sentence ends.
//!
//! Invariant: every sentence is a trimmed, non-empty slice of the text, in
//! order, and together they hold every word of it.
//!
//! Cost model: one pass over the text for UAX #29, and one over each
//! sentence's characters.

use unicode_segmentation::UnicodeSegmentation;

/// Titles before a name, lowercase and without their full stop: after one
/// no sentence ends, even before a capital ("Mr. Patel", "Fr. Weber",
/// "Sra. López"). Only words that rarely end a sentence themselves.
const TITLES: &[&str] = &[
    "mr", "mrs", "ms", "dr", "st", "prof", "mme", "mlle", "sr", "sra", "srta", "dra", "hr", "fr",
];

/// Abbreviations after which a full stop does not end a sentence before a
/// lowercase word ("e.g. the bus"); before a capital it may ("…usw. Das
/// Foto…", "Wanted to say no. I always…"), so Unicode's boundary stands.
const ABBREVIATIONS: &[&str] = &[
    "e.g", "i.e", "etc", "vs", "approx", "ca", "no", "fig", "cf", "bzw", "z.b", "u.a", "usw",
    "p.ex", "av", "nº",
];

/// The sentences of `text`, in order (see the module doc).
pub fn split(text: &str) -> Vec<&str> {
    // UAX #29's spans, a span that ends after a title joined to the next.
    let mut spans: Vec<(usize, usize)> = Vec::new();
    for (start, s) in text.split_sentence_bound_indices() {
        let end = start + s.len();
        match spans.last_mut() {
            Some(last) if ends_in_abbreviation(&text[last.0..last.1]) => last.1 = end,
            _ => spans.push((start, end)),
        }
    }
    let mut out = Vec::new();
    for (start, end) in spans {
        let mut from = start;
        for at in lowercase_breaks(&text[start..end]) {
            out.push(&text[from..start + at]);
            from = start + at;
        }
        out.push(&text[from..end]);
    }
    out.into_iter()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect()
}

/// Whether `piece` ends with a full stop after a word of [`TITLES`].
fn ends_in_abbreviation(piece: &str) -> bool {
    let Some(before) = piece.trim_end().strip_suffix('.') else {
        return false;
    };
    TITLES.contains(&last_word(before).as_str())
}

/// The last word of `text`, lowercase, without the punctuation that can
/// open it ("(e.g" → "e.g").
fn last_word(text: &str) -> String {
    text.rsplit(char::is_whitespace)
        .next()
        .unwrap_or("")
        .trim_start_matches(['(', '"', '“', '‘', '«', '¿', '¡', '\''])
        .to_lowercase()
}

/// Byte offsets in `sentence` where a new sentence starts: after ".", "!"
/// or "?" (one or more), whitespace, then a lowercase letter, where the
/// word before the mark is neither an abbreviation nor a single letter.
fn lowercase_breaks(sentence: &str) -> Vec<usize> {
    let chars: Vec<(usize, char)> = sentence.char_indices().collect();
    let mut breaks = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let (_, c) = chars[i];
        if !matches!(c, '.' | '!' | '?') {
            i += 1;
            continue;
        }
        let mark = i;
        while i < chars.len() && matches!(chars[i].1, '.' | '!' | '?') {
            i += 1;
        }
        let mut j = i;
        while j < chars.len() && chars[j].1.is_whitespace() {
            j += 1;
        }
        if j == i || j >= chars.len() || !chars[j].1.is_lowercase() {
            continue;
        }
        let word = last_word(&sentence[..chars[mark].0]);
        // An initial ("j. smith") is one letter, but "i" ends a lowercase
        // writer's sentences ("so did i. then we left"); a number
        // ("version 5.") ends one like a word.
        let initial =
            word != "i" && word.chars().count() == 1 && word.chars().all(char::is_alphabetic);
        let known = TITLES.contains(&word.as_str()) || ABBREVIATIONS.contains(&word.as_str());
        if chars[mark].1 == '.' && (initial || known) {
            continue;
        }
        // An ellipsis before a lowercase word is a pause inside the
        // sentence ("I keep waiting to feel awful and I just... don't").
        if i - mark > 1 && chars[mark..i].iter().all(|&(_, c)| c == '.') {
            continue;
        }
        breaks.push(chars[j].0);
    }
    breaks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lowercase_writer_gets_sentences() {
        let text = "redid the hands AGAIN. that's version 5. the knuckles are better!! \
                    the lighting is worse now though. i erased so much the paper's fuzzy";
        assert_eq!(
            split(text),
            [
                "redid the hands AGAIN.",
                "that's version 5.",
                "the knuckles are better!!",
                "the lighting is worse now though.",
                "i erased so much the paper's fuzzy",
            ]
        );
    }

    #[test]
    fn an_ellipsis_before_a_lowercase_word_is_a_pause() {
        assert_eq!(
            split("I keep waiting to feel awful and I just... don't. Sleeping fine."),
            [
                "I keep waiting to feel awful and I just... don't.",
                "Sleeping fine."
            ]
        );
        assert_eq!(
            split("so tired.. going to bed!! night"),
            ["so tired.. going to bed!!", "night"]
        );
    }

    #[test]
    fn a_title_keeps_its_name_and_an_abbreviation_ends_nothing() {
        assert_eq!(
            split("Mr. Patel said it just has to be clear. It is clear."),
            ["Mr. Patel said it just has to be clear.", "It is clear."]
        );
        assert_eq!(
            split("Bring things e.g. the bus pass. j. smith called."),
            ["Bring things e.g. the bus pass.", "j. smith called."]
        );
        assert_eq!(
            split("Hab Fr. Weber getroffen. sie war nett."),
            ["Hab Fr. Weber getroffen.", "sie war nett."]
        );
        // A word that is also an abbreviation still ends a sentence before
        // a capital, and "i" is no initial.
        assert_eq!(
            split("Wanted to say no. I always say yes. so did i. then we left (e.g. the bus)."),
            [
                "Wanted to say no.",
                "I always say yes.",
                "so did i.",
                "then we left (e.g. the bus)."
            ]
        );
    }

    proptest::proptest! {
        /// Whatever a person writes, no word is lost or moved, and no
        /// sentence is empty or untrimmed.
        #[test]
        fn any_text_keeps_every_word(text in proptest::prelude::any::<String>()) {
            let sentences = split(&text);
            let joined: String = sentences.concat();
            proptest::prop_assert_eq!(
                joined.split_whitespace().collect::<String>(),
                text.split_whitespace().collect::<String>()
            );
            proptest::prop_assert!(sentences.iter().all(|s| !s.is_empty() && s.trim() == *s));
        }
    }

    #[test]
    fn every_word_is_kept_in_order() {
        for text in [
            "",
            "   ",
            "One. Two! three? four... five",
            "¿Y ahora? no sé. Mañana.",
            "Numbers 3.5 and 1. then more",
            "…",
        ] {
            let joined: String = split(text).concat();
            let words: String = text.split_whitespace().collect();
            assert_eq!(
                joined.split_whitespace().collect::<String>(),
                words,
                "{text}"
            );
            assert!(split(text).iter().all(|s| !s.is_empty() && s.trim() == *s));
        }
    }
}
