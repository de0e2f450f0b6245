//! Which language an entry is written in.
//!
//! The built-in mirror answers natively in the languages its parameter pack
//! carries data for (English, French, German, Spanish and Portuguese in the
//! genesis pack) and in a neutral form that quotes the writer's words
//! intact in any other. Getting this wrong is costly both ways: English
//! pronouns turned inside a French sentence, or a French frame on an
//! English entry. So two signals are combined:
//!
//! * the pack's function words ("the", "je", "und", "que", "não"): frequent
//!   short words that settle the common case even for a one-line entry;
//! * `whatlang`'s trigram model, for scripts and languages the pack does
//!   not know, and to break ties.
//!
//! Cost: one pass over the tokens plus whatlang over at most the first
//! 2,000 characters.

use std::collections::{BTreeMap, HashSet};

use mirror_constitution::text::Token;

/// An entry's language.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Language {
    /// ISO 639-1 where known ("fr"), else whatlang's ISO 639-3 code ("jpn").
    pub code: String,
    /// Whether the pack has the data to answer in it.
    pub native: bool,
}

/// Function words by language code, ready for counting.
#[derive(Debug, Clone, Default)]
pub struct Detector {
    function_words: BTreeMap<String, HashSet<String>>,
}

/// whatlang's languages that the genesis pack's codes stand for.
fn iso639_1(lang: whatlang::Lang) -> Option<&'static str> {
    use whatlang::Lang::*;
    Some(match lang {
        Eng => "en",
        Fra => "fr",
        Deu => "de",
        Spa => "es",
        Por => "pt",
        Ita => "it",
        Nld => "nl",
        _ => return None,
    })
}

impl Detector {
    pub fn new(languages: &BTreeMap<String, mirror_governance::params::LanguageSpec>) -> Self {
        Detector {
            function_words: languages
                .iter()
                .map(|(code, spec)| {
                    (
                        code.clone(),
                        spec.function_words
                            .iter()
                            .map(|w| mirror_constitution::text::normalize_word(w.trim()))
                            .collect(),
                    )
                })
                .collect(),
        }
    }

    /// The language of `text` (tokenised as `tokens`).
    pub fn detect(&self, text: &str, tokens: &[Token]) -> Language {
        let native = |code: &str| Language {
            code: code.to_string(),
            native: self.function_words.contains_key(code),
        };
        // Function-word hits per native language.
        let mut scores: Vec<(usize, &str)> = self
            .function_words
            .iter()
            .map(|(code, words)| {
                (
                    tokens.iter().filter(|t| words.contains(&t.norm)).count(),
                    code.as_str(),
                )
            })
            .collect();
        scores.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
        let sample: String = text.chars().take(2000).collect();
        let info = whatlang::detect(&sample);
        // A script the pack's languages are not written in settles it.
        if let Some(info) = &info
            && info.script() != whatlang::Script::Latin
        {
            return Language {
                code: info.lang().code().to_string(),
                native: false,
            };
        }
        let (best, best_code) = scores.first().copied().unwrap_or((0, "en"));
        let second = scores.get(1).map_or(0, |s| s.0);
        let whatlang_code = info.as_ref().map(|i| (iso639_1(i.lang()), i));
        // Clear function-word evidence: at least two hits and twice the
        // runner-up (or three ahead of it).
        if best >= 2 && (best >= 2 * second || best >= second + 3) {
            // Unless whatlang is confident of another language the pack
            // does not answer in (Italian shares many words with Spanish).
            if let Some((code, i)) = &whatlang_code
                && i.is_reliable()
                && code.is_none_or(|c| !self.function_words.contains_key(c))
                && i.confidence() > 0.9
            {
                return Language {
                    code: code.map_or_else(|| i.lang().code().to_string(), str::to_string),
                    native: false,
                };
            }
            return native(best_code);
        }
        match whatlang_code {
            Some((Some(code), i)) if i.is_reliable() => native(code),
            Some((None, i)) if i.is_reliable() && best == 0 => Language {
                code: i.lang().code().to_string(),
                native: false,
            },
            // Too little to tell: the pack's first clear candidate, else
            // English (the language of the pack's rules).
            _ if best >= 1 && best > second => native(best_code),
            _ => native("en"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mirror_constitution::text::tokenize;
    use mirror_governance::params::EngineParams;

    fn detect(text: &str) -> Language {
        let params = EngineParams::genesis().unwrap();
        Detector::new(&params.languages).detect(text, &tokenize(text))
    }

    #[test]
    fn the_five_native_languages_and_others() {
        // Sentences written for this test.
        assert_eq!(
            detect("I walked the dog and it rained the whole time.").code,
            "en"
        );
        assert_eq!(
            detect("Je suis rentrée tard et la maison était froide.").code,
            "fr"
        );
        assert_eq!(detect("Ich bin müde, aber der Tag war gut.").code, "de");
        assert_eq!(
            detect("Hoy fui al mercado con mi hermana y no compramos nada.").code,
            "es"
        );
        assert_eq!(
            detect("Hoje fui ao mercado com a minha irmã e não comprei nada.").code,
            "pt"
        );
        let ja = detect("今日は雨でしたが、散歩に行きました。");
        assert!(!ja.native, "{ja:?}");
        // Too short to tell: English, the pack's own language.
        assert_eq!(detect("meh").code, "en");
        assert_eq!(detect("Lonely tonight.").code, "en");
        // A German note of a few words with no article or pronoun.
        assert_eq!(detect("Migräne. Früh ins Bett.").code, "de");
        assert_eq!(detect("Tired. Early to bed.").code, "en");
    }
}
