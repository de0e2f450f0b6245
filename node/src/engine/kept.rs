//! Where the writer keeps something back from someone: "Renewed my lease
//! today. Twelve months. Didn't tell Dani yet."
//!
//! New writers mostly *show* a pull rather than name it, and the commonest
//! way they show it is this: a yes said to one person and something kept
//! from them ("Told her fine, Sunday video call, 11am. … Did not mention
//! Sunday."), a plan made and not shown ("…the Figma for the new stall
//! menu with QR ordering, which I have not shown him"), an admission
//! nobody has heard ("Admitida. … no le dije a nadie"). A blind review of
//! a new writer's set (39m) found the built-in mirror giving back a side
//! detail in most of these while the line that carried the entry sat
//! unread; the tension model heard a pull in 5 of its 22.
//!
//! [`kept_back`] finds the first sentence in which the writer keeps
//! something from someone, in the words each of the five languages says it
//! in ([`PHRASES`]), and what is kept: the sentence itself when it says
//! what ("…, which I have not shown him"), or, when it is too short to
//! ("Didn't tell Dani yet."), the sentence before it, so both are given
//! back as the writer set them.
//!
//! Invariant: only the writer's own keeping counts. In English a phrase
//! with no subject of its own ("didn't tell") counts only with the writer
//! as subject or none ("Didn't tell…", "I haven't told…", "…and didn't
//! mention it"), never "he didn't tell me"; the other languages' phrases
//! carry the person in their verb ("no le dije", "je n'ai rien dit").
//! Words inside quotation marks are someone else's and never count.
//! Questions are the writer's to ask and are not given back.
//!
//! Cost: one sentence split and a few substring searches per sentence.

use std::ops::Range;

use mirror_constitution::text::tokenize;

use super::focus::{has_word, unquoted};
use super::rules::Doc;

/// Phrases of keeping something from someone, by language, lower case
/// with straight apostrophes. In English the first list needs the writer
/// as subject (see [`WRITER_BEFORE`]); the second says who does not know.
const PHRASES: &[(&str, &[&str])] = &[
    (
        "fr",
        &[
            "je ne lui ai pas dit",
            "je lui ai pas dit",
            "je ne leur ai pas dit",
            "je leur ai pas dit",
            "je n'ai rien dit",
            "j'ai rien dit",
            "je n'en ai pas parlé",
            "j'en ai pas parlé",
            "je ne l'ai dit à personne",
            "je l'ai dit à personne",
            "je n'ai rien dit à personne",
            "sans lui dire",
            "sans leur dire",
            "sans le lui dire",
            "elle ne sait pas que",
            "il ne sait pas que",
            "elle ne le sait pas",
            "il ne le sait pas",
            "personne ne sait",
            "personne ne le sait",
        ],
    ),
    (
        "es",
        &[
            "no le dije",
            "no les dije",
            "no se lo dije",
            "no le he dicho",
            "no les he dicho",
            "no se lo he dicho",
            "no le conté",
            "no les conté",
            "no se lo conté",
            "no le he contado",
            "no se lo he contado",
            "no dije nada",
            "no he dicho nada",
            "no le he enseñado",
            "no sabe que",
            "nadie lo sabe",
            "nadie sabe",
        ],
    ),
    (
        "de",
        &[
            "nicht erzählt",
            "nichts erzählt",
            "nichts davon erzählt",
            "nichts gesagt",
            "nichts davon gesagt",
            "nicht erwähnt",
            "niemandem erzählt",
            "niemandem gesagt",
            "ohne es ihr zu sagen",
            "ohne es ihm zu sagen",
            "ohne ihr etwas zu sagen",
            "ohne ihm etwas zu sagen",
            "weiß nichts davon",
            "weiß es noch nicht",
            "weiß noch nichts",
        ],
    ),
    (
        "pt",
        &[
            "não contei",
            "não lhe contei",
            "eu não lhe disse",
            "eu não disse nada",
            "não falei nada",
            "não mencionei",
            "não contei a ninguém",
            "ela não sabe",
            "ele não sabe",
            "ninguém sabe",
        ],
    ),
];

/// English phrases that need the writer as subject, or none.
const ENGLISH_WRITER: &[&str] = &[
    "didn't tell",
    "did not tell",
    "didnt tell",
    "haven't told",
    "have not told",
    "havent told",
    "still haven't told",
    "didn't mention",
    "did not mention",
    "didnt mention",
    "haven't mentioned",
    "have not mentioned",
    "haven't shown",
    "have not shown",
    "didn't show",
    "told no one",
    "told nobody",
    "not told anyone",
    "kept it from",
    "keeping it from",
];

/// English phrases that say someone does not know.
const ENGLISH_UNKNOWING: &[&str] = &[
    "doesn't know about",
    "does not know about",
    "doesn't know that",
    "doesn't know i",
    "doesn't know yet",
    "has no idea",
    "have no idea i",
    "nobody knows",
    "no one knows",
];

/// English phrases of keeping quiet, which count only with "I" said
/// before them: a diary drops its subjects, and "Diane held my hand in
/// the car after. Didn't say anything." is Diane's silence.
const ENGLISH_SILENT: &[&str] = &[
    "didn't say anything",
    "did not say anything",
    "haven't said anything",
    "said nothing",
];

/// German phrases here do not say who ("er hat nichts gesagt"): they count
/// in a sentence that holds one of these words for the writer.
const GERMAN_WRITER: &[&str] = &["ich", "hab", "habe"];

/// Words that may stand before an English phrase of [`ENGLISH_WRITER`]
/// with the writer still its subject ("…and didn't mention it", "I still
/// haven't told…", "which I have not shown him").
const WRITER_BEFORE: &[&str] = &[
    "i",
    "and",
    "but",
    "still",
    "yet",
    "just",
    "also",
    "so",
    "then",
    "even",
    "obviously",
];

/// Words a sentence that says what is kept needs; a shorter one ("Didn't
/// tell Dani yet.") is given back with the sentence before it.
const SAYS_WHAT: usize = 8;
/// Words a sentence given back may have at most, so it is quoted whole.
const MAX_WORDS: usize = 24;
/// Words the sentence before needs to say what is kept ("Twelve months."
/// says nothing alone).
const BEFORE_MIN: usize = 4;

/// What the writer keeps back: the sentence that says so, and the sentence
/// before it when that one is needed to say what (`first` is then the
/// sentence before, `second` the keeping).
#[derive(Debug, Clone, PartialEq)]
pub struct Kept {
    pub first: Range<usize>,
    pub second: Option<Range<usize>>,
}

/// The first place in `text` (written in `lang`) where the writer keeps
/// something from someone, with what they keep (see the module doc).
pub fn kept_back(text: &str, lang: &str) -> Option<Kept> {
    let doc = Doc::new(text);
    let sentences = &doc.sentences;
    let usable = |r: &Range<usize>| {
        let body = text[r.clone()].trim();
        !body.ends_with('?') && !body.is_empty() && tokenize(body).len() <= MAX_WORDS
    };
    for (i, range) in sentences.iter().enumerate() {
        if !usable(range) || !keeps(&text[range.clone()], lang) {
            continue;
        }
        let words = tokenize(&text[range.clone()]).len();
        if words >= SAYS_WHAT {
            return Some(Kept {
                first: range.clone(),
                second: None,
            });
        }
        // Too short to say what is kept: the sentences before say it (one,
        // or two when the nearer is a fragment: "Renewed my lease today.
        // Twelve months."), if they can stand as the writer's own lines.
        let mut from = i;
        while from > 0 && i - from < 2 {
            from -= 1;
            let r = &sentences[from];
            if !usable(r) || keeps(&text[r.clone()], lang) {
                from = i;
                break;
            }
            if tokenize(&text[sentences[from].start..sentences[i - 1].end]).len() >= BEFORE_MIN {
                break;
            }
        }
        if from < i {
            let first = sentences[from].start..sentences[i - 1].end;
            if (BEFORE_MIN..=MAX_WORDS).contains(&tokenize(&text[first.clone()]).len()) {
                return Some(Kept {
                    first,
                    second: Some(range.clone()),
                });
            }
        }
    }
    None
}

/// Whether `sentence` tells the writer keeping something from someone.
fn keeps(sentence: &str, lang: &str) -> bool {
    let lower = unquoted(&sentence.to_lowercase().replace('’', "'"));
    if lang == "en" {
        if ENGLISH_UNKNOWING.iter().any(|p| has_word(&lower, p)) {
            return true;
        }
        return ENGLISH_WRITER
            .iter()
            .any(|p| writer_says(&lower, p, WRITER_BEFORE))
            || ENGLISH_SILENT
                .iter()
                .any(|p| writer_says(&lower, p, &["i"]));
    }
    let said = PHRASES
        .iter()
        .find(|(code, _)| *code == lang)
        .is_some_and(|(_, phrases)| phrases.iter().any(|p| has_word(&lower, p)));
    said && (lang != "de" || GERMAN_WRITER.iter().any(|w| has_word(&lower, w)))
}

/// Whether `phrase` stands in `lower` with the writer as its subject:
/// after one of `before`, or, when `before` allows more than "I", at the
/// start of a clause.
fn writer_says(lower: &str, phrase: &str, before_words: &[&str]) -> bool {
    lower.match_indices(phrase).any(|(at, _)| {
        let after = lower[at + phrase.len()..].chars().next();
        if after.is_some_and(char::is_alphanumeric) {
            return false;
        }
        let before = lower[..at].trim_end();
        let clause_start = before.is_empty() || before.ends_with([',', ';', ':', '-', '—', '(']);
        if clause_start {
            return before_words.len() > 1;
        }
        let word = before
            .rsplit(|c: char| !(c.is_alphanumeric() || c == '\''))
            .next()
            .unwrap_or_default();
        before_words.contains(&word)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str, lang: &str) -> Option<(String, Option<String>)> {
        kept_back(text, lang).map(|k| {
            (
                text[k.first].trim().to_string(),
                k.second.map(|s| text[s].trim().to_string()),
            )
        })
    }

    #[test]
    fn a_short_keeping_is_given_back_with_what_is_kept() {
        let text = "Renewed my lease today. Twelve months of the same view. Didn't tell Dani yet. \
                    She's making that chickpea thing on Thursday.";
        assert_eq!(
            lines(text, "en"),
            Some((
                "Twelve months of the same view.".to_string(),
                Some("Didn't tell Dani yet.".to_string())
            ))
        );
    }

    #[test]
    fn a_fragment_before_the_keeping_brings_the_sentence_before_it() {
        let text = "Renewed my lease today. Twelve months. Didn't tell Dani yet.";
        assert_eq!(
            lines(text, "en"),
            Some((
                "Renewed my lease today. Twelve months.".to_string(),
                Some("Didn't tell Dani yet.".to_string())
            ))
        );
        // Nothing before it to say what: nothing is given back.
        assert_eq!(lines("Didn't tell Dani yet. Rain all day.", "en"), None);
    }

    #[test]
    fn a_keeping_that_says_what_stands_alone() {
        let text = "Pa's knee again so I was at the stall from 5am. Spent lunch on the Figma \
                    for the new stall menu with QR ordering, which I have not shown him.";
        let (first, second) = lines(text, "en").unwrap();
        assert!(first.starts_with("Spent lunch"), "{first}");
        assert_eq!(second, None);
    }

    #[test]
    fn someone_elses_keeping_a_question_and_a_quote_are_not_the_writers() {
        for text in [
            "Went to the clinic with Mum. He didn't tell me the results were back.",
            "Renewed my lease today, twelve months. Should I say I didn't tell Dani yet?",
            "Sam read the card out: 'I didn't tell anyone about the party, I swear'.",
            "Long run by the canal, nine miles, legs like lead by the end of it.",
            "Diane held my hand in the car after the funeral. Didn't say anything.",
        ] {
            assert_eq!(lines(text, "en"), None, "{text}");
        }
    }

    #[test]
    fn each_language_says_it_in_its_own_words() {
        for (lang, text, kept) in [
            (
                "es",
                "Me llegó el correo de la Pompeu Fabra, admitida. Lo leí en el metro y no le dije a nadie, ni a Fer.",
                "Lo leí en el metro",
            ),
            (
                "de",
                "Natürlich komm ich zum Schützenfest. Hab ihr nicht erzählt, dass ich mir das WG-Zimmer in Altona angeguckt hab.",
                "Hab ihr nicht erzählt",
            ),
            (
                "fr",
                "Maman a encore laissé le rond du poêle allumé. Je n'ai rien dit, j'ai juste fermé et j'ai fait le souper.",
                "Je n'ai rien dit",
            ),
            (
                "pt",
                "Fui ver o apartamento em Alvalade no sábado de manhã. Não contei à minha mãe.",
                "Fui ver o apartamento",
            ),
        ] {
            let (first, _) = lines(text, lang).unwrap_or_else(|| panic!("{text}"));
            assert!(first.starts_with(kept), "{lang}: {first}");
        }
        // Someone else's silence, in the words each language has for it.
        for (lang, text) in [
            (
                "de",
                "Papa hat heute angerufen. Er hat kurz nichts gesagt und dann ja, okay.",
            ),
            (
                "pt",
                "O meu irmão Zé ligou hoje depois de quase um ano sem dizer nada.",
            ),
        ] {
            assert_eq!(lines(text, lang), None, "{text}");
        }
        // Another language's phrase is not read into an entry.
        assert_eq!(
            lines(
                "Ich hab no le dije gesagt, ganz einfach so und fertig.",
                "de"
            ),
            None
        );
    }
}
