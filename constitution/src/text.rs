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
    let mut out = String::with_capacity(word.len());
    normalize_word_into(word, &mut out);
    out
}

/// [`normalize_word`] into a reused buffer (cleared first), so hot loops
/// allocate nothing per word.
pub fn normalize_word_into(word: &str, out: &mut String) {
    out.clear();
    if word.is_ascii() {
        out.push_str(word);
        out.make_ascii_lowercase();
    } else {
        for c in word.chars() {
            if APOSTROPHES.contains(&c) {
                out.push('\'');
            } else {
                out.extend(c.to_lowercase());
            }
        }
    }
}

/// Call `f` with the byte span of every word of `text`, in order.
pub fn for_each_word(text: &str, f: impl FnMut(Range<usize>)) {
    if fast::accepts(text) {
        fast::words(text, f);
    } else {
        unicode_words(text, f);
    }
}

/// Split `text` into word tokens (see the module docs for the rules).
pub fn tokenize(text: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    for_each_word(text, |span| {
        tokens.push(Token {
            norm: normalize_word(&text[span.clone()]),
            span,
        })
    });
    tokens
}

/// The general path: UAX #29 word boundaries from `unicode-segmentation`.
fn unicode_words(text: &str, mut f: impl FnMut(Range<usize>)) {
    for (start, segment) in text.split_word_bound_indices() {
        if segment.chars().any(char::is_alphanumeric) {
            f(start..start + segment.len());
        }
    }
}

#[cfg(test)]
fn tokenize_unicode(text: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    unicode_words(text, |span| {
        tokens.push(Token {
            norm: normalize_word(&text[span.clone()]),
            span,
        })
    });
    tokens
}

/// The distinct normalised terms of `text`, sorted, for indexing.
///
/// Possessive and contracted forms are indexed under their stem as well
/// ("mum's" is found by "mum"), because that is what a person searching for
/// a name expects.
pub fn index_terms(text: &str) -> Vec<String> {
    let mut terms: Vec<String> = Vec::new();
    for_each_index_term(text, &mut String::new(), |term| {
        terms.push(term.to_string())
    });
    terms.sort_unstable();
    terms.dedup();
    terms
}

/// Call `f` with every index term of `text` (as [`index_terms`], but in text
/// order and possibly repeated), normalising into `buf` so nothing is
/// allocated per word. Bulk indexing uses this.
pub fn for_each_index_term(text: &str, buf: &mut String, mut f: impl FnMut(&str)) {
    for_each_word(text, |span| {
        normalize_word_into(&text[span], buf);
        if let Some((stem, _)) = buf.split_once('\'')
            && !stem.is_empty()
        {
            f(stem);
        }
        f(buf);
    });
}

/// The same word boundaries, computed directly for text made only of ASCII
/// and the typographic punctuation people type most (curly quotes, dashes,
/// ellipsis). Most journal text is exactly that, and this path is several
/// times faster than the general one. A property test holds it to the
/// general path.
mod fast {
    use std::ops::Range;

    /// UAX #29 word-break classes of the characters this path accepts.
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Class {
        Letter,
        Digit,
        /// `_`: joins letters and digits (WB13a/b).
        ExtendNumLet,
        /// `:` between letters (WB6/7).
        MidLetter,
        /// `.` `'` `‘` `’`: between letters or between digits.
        MidNumLet,
        /// `,` `;` between digits (WB11/12).
        MidNum,
        Other,
    }

    fn ascii_class(b: u8) -> Class {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' => Class::Letter,
            b'0'..=b'9' => Class::Digit,
            b'_' => Class::ExtendNumLet,
            b':' => Class::MidLetter,
            b'.' | b'\'' => Class::MidNumLet,
            b',' | b';' => Class::MidNum,
            _ => Class::Other,
        }
    }

    /// The class and UTF-8 width of the character at byte `i`, if it is one
    /// this path handles. The typographic ones are all `E2 80 xx`.
    fn at(bytes: &[u8], i: usize) -> Option<(Class, usize)> {
        let b = *bytes.get(i)?;
        if b < 0x80 {
            return Some((ascii_class(b), 1));
        }
        if b != 0xE2 || bytes.get(i + 1) != Some(&0x80) {
            return None;
        }
        let class = match bytes.get(i + 2)? {
            0x98 | 0x99 => Class::MidNumLet,                  // ‘ ’
            0x93 | 0x94 | 0x9C | 0x9D | 0xA6 => Class::Other, // – — “ ” …
            _ => return None,
        };
        Some((class, 3))
    }

    fn joins(c: Class) -> bool {
        matches!(c, Class::Letter | Class::Digit | Class::ExtendNumLet)
    }

    /// Whether every character of `text` is one this path handles.
    pub(super) fn accepts(text: &str) -> bool {
        let bytes = text.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            match at(bytes, i) {
                Some((_, width)) => i += width,
                None => return false,
            }
        }
        true
    }

    /// The words of an accepted text, as byte spans.
    pub(super) fn words(text: &str, mut f: impl FnMut(Range<usize>)) {
        let bytes = text.as_bytes();
        let mut i = 0;
        while let Some((class, width)) = at(bytes, i) {
            if !joins(class) {
                i += width;
                continue;
            }
            let start = i;
            let mut end = i + width;
            let mut here = class;
            let mut alnum = class != Class::ExtendNumLet;
            while let Some((next, next_width)) = at(bytes, end) {
                if joins(next) {
                    here = next;
                    alnum |= next != Class::ExtendNumLet;
                    end += next_width;
                    continue;
                }
                // WB6/7 (letter, mid, letter) and WB11/12 (digit, mid, digit).
                let Some((after, after_width)) = at(bytes, end + next_width) else {
                    break;
                };
                let letters = here == Class::Letter
                    && after == Class::Letter
                    && matches!(next, Class::MidLetter | Class::MidNumLet);
                let digits = here == Class::Digit
                    && after == Class::Digit
                    && matches!(next, Class::MidNum | Class::MidNumLet);
                if !(letters || digits) {
                    break;
                }
                here = after;
                alnum = true;
                end += next_width + after_width;
            }
            if alnum {
                f(start..end);
            }
            i = end;
        }
    }
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
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
        /// The fast path and the general path agree token for token.
        #[test]
        fn fast_path_matches_unicode_segmentation(
            text in "[a-zA-Z0-9_:.,;' \\t\\n!?()\"\u{2018}\u{2019}\u{2013}\u{2014}\u{201C}\u{201D}\u{2026}-]{0,40}"
        ) {
            proptest::prop_assert!(fast::accepts(&text), "every character is on the fast path");
            proptest::prop_assert_eq!(tokenize(&text), tokenize_unicode(&text));
        }

        #[test]
        fn spans_always_slice_the_original(text in "\\PC{0,64}") {
            for token in tokenize(&text) {
                let slice = &text[token.span.clone()];
                proptest::prop_assert_eq!(normalize_word(slice), token.norm);
            }
        }
    }
}
