//! Word tokens shared by every reader of text in Mirror.
//!
//! The compliance checker, the pattern detector and the node's full-text
//! index must agree on what a "word" is, or a phrase could be counted by one
//! and missed by another. The rules live here, once:
//!
//! * words follow Unicode word boundaries (UAX #29), so "finally" never
//!   contains the word "all" and "shoulder" is not "should";
//! * a token is a run containing at least one letter or digit (punctuation
//!   and whitespace segments are dropped);
//! * curly and modifier apostrophes are normalised to `'`, so `don’t` and
//!   `don't` are the same token;
//! * tokens are lowercased for matching, while their byte span always points
//!   into the original, unnormalised text so callers can report evidence.

use std::ops::Range;

use unicode_segmentation::UnicodeSegmentation;

/// One word of a text: its normalised form and where it sits in the original.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// Lowercased, apostrophe-normalised form used for matching.
    pub norm: String,
    /// Byte range of the word in the original text.
    pub span: Range<usize>,
}

/// Characters that people type (or phones substitute) for an apostrophe.
const APOSTROPHES: [char; 5] = ['\u{2019}', '\u{2018}', '\u{02BC}', '\u{FF07}', '\u{0060}'];

/// Replace every apostrophe-like character with `'`.
pub fn normalize_apostrophes(text: &str) -> String {
    text.chars()
        .map(|c| if APOSTROPHES.contains(&c) { '\'' } else { c })
        .collect()
}

/// Normalise one word for matching: apostrophes, then lowercase.
pub fn normalize_word(word: &str) -> String {
    normalize_apostrophes(word).to_lowercase()
}

/// Split `text` into word tokens (see the module docs for the rules).
pub fn tokenize(text: &str) -> Vec<Token> {
    text.split_word_bound_indices()
        .filter(|(_, segment)| segment.chars().any(char::is_alphanumeric))
        .map(|(start, segment)| Token {
            norm: normalize_word(segment),
            span: start..start + segment.len(),
        })
        .collect()
}

/// The distinct normalised terms of `text`, sorted, for indexing.
///
/// Possessive and contracted forms are indexed under their stem as well
/// ("mum's" is found by "mum"), because that is what a person searching for
/// a name expects.
pub fn index_terms(text: &str) -> Vec<String> {
    let mut terms: Vec<String> = Vec::new();
    for token in tokenize(text) {
        if let Some((stem, _)) = token.norm.split_once('\'')
            && !stem.is_empty()
        {
            terms.push(stem.to_string());
        }
        terms.push(token.norm);
    }
    terms.sort_unstable();
    terms.dedup();
    terms
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norms(text: &str) -> Vec<String> {
        tokenize(text).into_iter().map(|t| t.norm).collect()
    }

    #[test]
    fn words_follow_unicode_boundaries() {
        assert_eq!(norms("Finally, overall."), ["finally", "overall"]);
        assert_eq!(norms("my shoulder hurts"), ["my", "shoulder", "hurts"]);
    }

    #[test]
    fn curly_apostrophes_are_normalised_but_spans_stay_original() {
        let text = "I don’t know";
        let tokens = tokenize(text);
        assert_eq!(tokens[1].norm, "don't");
        assert_eq!(&text[tokens[1].span.clone()], "don’t");
    }

    #[test]
    fn punctuation_and_emoji_are_not_words() {
        assert_eq!(norms("— 🙂 ... !!"), Vec::<String>::new());
        assert_eq!(norms("Ça va? Très bien."), ["ça", "va", "très", "bien"]);
    }

    #[test]
    fn index_terms_include_possessive_stems() {
        assert_eq!(
            index_terms("Mum's care, mum"),
            ["care", "mum", "mum's"].map(String::from)
        );
    }

    proptest::proptest! {
        #[test]
        fn spans_always_slice_the_original(text in "\\PC{0,64}") {
            for token in tokenize(&text) {
                let slice = &text[token.span.clone()];
                proptest::prop_assert_eq!(normalize_word(slice), token.norm);
            }
        }
    }
}
