//! Indirect advice: the forms advice takes when the speaker was told not
//! to advise.
//!
//! Small models asked only to reflect rarely write "you should"; they write
//! "a warm bath might be just what you need", "how about asking her?",
//! "the writer needs to slow down", "most people in your situation find it
//! useful to…", "be gentle with yourself", "in your place I would…". Each
//! shape is one rule here, driven by a list in `compliance.toml`'s
//! `[indirect_advice]` section, and each raises `explicit_advice`.
//!
//! Their look-alikes are the person's own considerations ("you keep asking
//! yourself whether a break would help"), which [`Indirect::mark_considerations`]
//! hands to the person before any rule looks, as reported speech already is.

use serde::Deserialize;

use super::{Flag, FlagKind, Layout, Phrase, matches_at, phrases, words};
use crate::text::Token;

/// `[indirect_advice]` as written. Every list is optional, so a
/// constitution from before this section existed still loads.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IndirectLexicon {
    pub imperative_verbs: Vec<String>,
    pub softeners: Vec<String>,
    pub hedged_phrases: Vec<String>,
    pub modal_predicates: Vec<String>,
    pub modals: Vec<String>,
    pub modal_benefits: Vec<String>,
    pub good_for: Vec<String>,
    pub solution_nouns: Vec<String>,
    pub general_quantifiers: Vec<String>,
    pub general_nouns: Vec<String>,
    pub impersonal_adjectives: Vec<String>,
    pub praise_adjectives: Vec<String>,
    pub remedy_nouns: Vec<String>,
    pub choice_adjectives: Vec<String>,
    pub choice_nouns: Vec<String>,
    pub question_openers: Vec<String>,
    pub question_openers_before_action: Vec<String>,
    pub experience_verbs: Vec<String>,
    pub past_actions: Vec<String>,
    pub third_person_subjects: Vec<String>,
    pub prescriptions: Vec<String>,
    pub general_subjects: Vec<String>,
    pub general_predicates: Vec<String>,
    pub in_your_place: Vec<String>,
    pub reading_verbs: Vec<String>,
    pub reading_objects: Vec<String>,
    pub consideration_verbs: Vec<String>,
    pub consideration_auxiliaries: Vec<String>,
    pub consideration_words: Vec<String>,
    pub consideration_nouns: Vec<String>,
}

/// The compiled section.
#[derive(Debug, Clone, Default)]
pub(super) struct Indirect {
    hedged: PhraseIndex,
    modal_predicates: PhraseIndex,
    modals: Vec<String>,
    modal_benefits: Vec<String>,
    good_for: Vec<String>,
    solution_nouns: Vec<Phrase>,
    general_quantifiers: PhraseIndex,
    general_nouns: Vec<String>,
    impersonal_adjectives: Vec<String>,
    praise_adjectives: Vec<String>,
    remedy_nouns: Vec<String>,
    choice_adjectives: Vec<String>,
    choice_nouns: Vec<Phrase>,
    question_openers: PhraseIndex,
    openers_before_action: PhraseIndex,
    experience_verbs: Vec<String>,
    past_actions: Vec<Phrase>,
    third_person_subjects: PhraseIndex,
    prescriptions: PhraseIndex,
    /// The same, in order, for scanning after a generalising subject.
    prescription_list: Vec<Phrase>,
    general_subjects: PhraseIndex,
    general_predicates: Vec<Phrase>,
    in_your_place: PhraseIndex,
    reading_verbs: Vec<String>,
    reading_objects: Vec<String>,
    consideration_verbs: Vec<String>,
    consideration_auxiliaries: PhraseIndex,
    consideration_words: Vec<String>,
    consideration_nouns: PhraseIndex,
}

/// Adverbs that may stand inside a rule's words without changing it
/// ("would *really* help", "the writer *clearly* needs").
const ADVERBS: &[&str] = &[
    "really",
    "probably",
    "definitely",
    "also",
    "just",
    "perhaps",
    "maybe",
    "certainly",
    "clearly",
    "simply",
    "obviously",
    "truly",
    "honestly",
    "still",
    "even",
    "surely",
    "actually",
    "genuinely",
    "possibly",
    "likely",
    "only",
    "so",
    "very",
    "quite",
    "most",
    "personally",
    "absolutely",
    "always",
    "often",
    "usually",
    "sometimes",
    "all",
];

/// Question words: a question that opens with one asks about experience.
const WH: &[&str] = &[
    "what", "what's", "how", "how's", "which", "where", "when", "who", "why", "whose",
];

/// Words that may come before a question's opener ("So, how about…?").
const LEAD_INS: &[&str] = &[
    "so", "and", "but", "then", "maybe", "perhaps", "well", "or", "also", "just", "honestly", "ok",
    "okay", "now",
];

/// The person speaking, or someone in particular: "you would help anyone".
const PERSONAL: &[&str] = &[
    "you", "i", "we", "they", "he", "she", "nothing", "nobody", "what", "which", "who",
];

/// Auxiliaries that, before "you", make a question ("have you thought…").
const INVERTING: &[&str] = &[
    "have",
    "did",
    "do",
    "would",
    "could",
    "can",
    "will",
    "are",
    "were",
    "don't",
    "haven't",
    "didn't",
    "wouldn't",
    "couldn't",
    "won't",
    "might",
    "should",
    "shouldn't",
    "aren't",
];

/// Adjectives after "would/could be" that recommend ("could be really
/// helpful"), with adverbs allowed before them.
const RECOMMENDING: &[&str] = &[
    "helpful",
    "useful",
    "beneficial",
    "wise",
    "smart",
    "sensible",
    "worthwhile",
    "healthy",
    "advisable",
    "valuable",
    "healing",
    "freeing",
    "restorative",
];

/// Objects after a benefit verb: "lift *your* spirits", "ease *the* ache".
const BENEFIT_OBJECTS: &[&str] = &[
    "you",
    "your",
    "yourself",
    "the",
    "things",
    "some",
    "a",
    "it",
    "this",
    "that",
    "everything",
    "them",
    "up",
    "off",
];

/// Adjectives that, before "that you…", make a prescription ("it's
/// important that you rest").
const THAT_YOU: &[&str] = &[
    "important",
    "essential",
    "crucial",
    "vital",
    "necessary",
    "best",
    "better",
    "wise",
    "wiser",
    "imperative",
];

/// What "would make it…" promises: "could make them feel smaller".
const EASING: &[&str] = &[
    "easier",
    "lighter",
    "smaller",
    "better",
    "simpler",
    "manageable",
    "bearable",
    "calmer",
    "clearer",
];

/// Objects after "to" that make "important to" a description, not advice.
const TO_OBJECTS: &[&str] = &[
    "you", "him", "her", "them", "me", "us", "everyone", "anyone", "someone", "yourself",
];

/// Verbs after "it's good to" that are the Mirror reading ("good to hear").
const READING_INFINITIVES: &[&str] = &["see", "hear", "read", "know", "notice"];

/// Words between an impersonal "it" and its adjective.
const IMPERSONAL_BRIDGE: &[&str] = &[
    "would",
    "could",
    "might",
    "may",
    "can",
    "will",
    "be",
    "is",
    "probably",
    "really",
    "also",
    "perhaps",
    "maybe",
    "definitely",
    "certainly",
    "just",
    "so",
    "very",
    "quite",
    "most",
    "more",
    "even",
    "truly",
    "actually",
    "genuinely",
    "possibly",
    "always",
    "often",
];

/// Forms of "be" before "a great way to…" that praise a remedy in general.
const COPULAS: &[&str] = &[
    "is", "are", "be", "makes", "make", "remains", "it's", "that's", "they're", "'s",
];

impl Indirect {
    pub(super) fn new(lexicon: &IndirectLexicon) -> Result<Indirect, super::LexiconError> {
        let l = lexicon;
        Ok(Indirect {
            hedged: PhraseIndex::new(phrases(
                &l.hedged_phrases,
                "indirect_advice.hedged_phrases",
            )?),
            modal_predicates: PhraseIndex::new(phrases(
                &l.modal_predicates,
                "indirect_advice.modal_predicates",
            )?),
            modals: words(&l.modals),
            modal_benefits: words(&l.modal_benefits),
            good_for: words(&l.good_for),
            solution_nouns: phrases(&l.solution_nouns, "indirect_advice.solution_nouns")?,
            general_quantifiers: PhraseIndex::new(phrases(
                &l.general_quantifiers,
                "indirect_advice.general_quantifiers",
            )?),
            general_nouns: words(&l.general_nouns),
            impersonal_adjectives: words(&l.impersonal_adjectives),
            praise_adjectives: words(&l.praise_adjectives),
            remedy_nouns: words(&l.remedy_nouns),
            choice_adjectives: words(&l.choice_adjectives),
            choice_nouns: phrases(&l.choice_nouns, "indirect_advice.choice_nouns")?,
            question_openers: PhraseIndex::new(phrases(
                &l.question_openers,
                "indirect_advice.question_openers",
            )?),
            openers_before_action: PhraseIndex::new(phrases(
                &l.question_openers_before_action,
                "indirect_advice.question_openers_before_action",
            )?),
            experience_verbs: words(&l.experience_verbs),
            past_actions: phrases(&l.past_actions, "indirect_advice.past_actions")?,
            third_person_subjects: PhraseIndex::new(phrases(
                &l.third_person_subjects,
                "indirect_advice.third_person_subjects",
            )?),
            prescription_list: phrases(&l.prescriptions, "indirect_advice.prescriptions")?,
            prescriptions: PhraseIndex::new(phrases(
                &l.prescriptions,
                "indirect_advice.prescriptions",
            )?),
            general_subjects: PhraseIndex::new(phrases(
                &l.general_subjects,
                "indirect_advice.general_subjects",
            )?),
            general_predicates: phrases(
                &l.general_predicates,
                "indirect_advice.general_predicates",
            )?,
            in_your_place: PhraseIndex::new(phrases(
                &l.in_your_place,
                "indirect_advice.in_your_place",
            )?),
            reading_verbs: words(&l.reading_verbs),
            reading_objects: words(&l.reading_objects),
            consideration_verbs: words(&l.consideration_verbs),
            consideration_auxiliaries: PhraseIndex::new(phrases(
                &l.consideration_auxiliaries,
                "indirect_advice.consideration_auxiliaries",
            )?),
            consideration_words: words(&l.consideration_words),
            consideration_nouns: PhraseIndex::new(phrases(
                &l.consideration_nouns,
                "indirect_advice.consideration_nouns",
            )?),
        })
    }

    /// Give the person what is theirs: after "you (keep) wonder(ing)", after
    /// "whether", after "your coach's advice to", the rest of the clause is
    /// a consideration of theirs, not the Mirror's suggestion.
    pub(super) fn mark_considerations(
        &self,
        tokens: &[Token],
        layout: &Layout,
        theirs: &mut [bool],
    ) {
        let mark_from = |start: usize, theirs: &mut [bool]| {
            let mut j = start;
            while j < tokens.len() && !layout.ends_report(j) {
                theirs[j] = true;
                j += 1;
            }
        };
        for i in 0..tokens.len() {
            let word = tokens[i].norm.as_str();
            // "Have you thought about…?" asks the Mirror's question; it
            // reports nothing the person considered.
            let inverted = i > 0 && INVERTING.contains(&tokens[i - 1].norm.as_str());
            if matches!(word, "you" | "you're" | "you've" | "you'd" | "you'll") && !inverted {
                let mut j = i + 1;
                for _ in 0..4 {
                    match self.consideration_auxiliaries.find(tokens, j) {
                        Some(p) => j += p.len(),
                        None => break,
                    }
                }
                if j < tokens.len()
                    && self.consideration_verbs.contains(&tokens[j].norm)
                    && layout.clause_of[i] == layout.clause_of[j]
                {
                    mark_from(j + 1, theirs);
                }
            } else if self.consideration_words.iter().any(|w| w == word) {
                mark_from(i + 1, theirs);
            } else if let Some(p) = self.consideration_nouns.find(tokens, i) {
                mark_from(i + p.len(), theirs);
            }
        }
    }

    /// Every indirect advice in the text, outside the person's words.
    pub(super) fn flags(
        &self,
        text: &str,
        tokens: &[Token],
        layout: &Layout,
        theirs: &[bool],
        imperative_verbs: &[String],
    ) -> Vec<Flag> {
        let mut flags = Vec::new();
        let free = |range: std::ops::Range<usize>| {
            range.end <= tokens.len() && !range.clone().any(|j| theirs[j])
        };
        let mut push = |rule: &str, from: usize, to: usize| {
            let span = tokens[from].span.start..tokens[to - 1].span.end;
            flags.push(Flag {
                kind: FlagKind::ExplicitAdvice,
                evidence: text[span.clone()].to_string(),
                spans: vec![span],
                rule: format!("indirect: {rule}"),
            });
        };
        let norm = |j: usize| tokens.get(j).map_or("", |t| t.norm.as_str());
        let skip_adverbs = |mut j: usize, max: usize| {
            let mut n = 0;
            while n < max && ADVERBS.contains(&norm(j)) {
                j += 1;
                n += 1;
            }
            j
        };
        let longest = |list: &PhraseIndex, j: usize| list.find(tokens, j).map(Vec::len);
        let loose = |list: &PhraseIndex, j: usize| list.loose(tokens, j);
        let sentence_start = sentence_starts(text, tokens);
        // The question sentence's first word, past lead-ins and commas.
        let opener_at = |i: usize| {
            let mut j = i;
            while LEAD_INS.contains(&norm(j)) {
                j += 1;
            }
            j
        };

        let mut i = 0;
        while i < tokens.len() {
            // Suggestions dressed as possibilities.
            if let Some(n) = loose(&self.hedged, i)
                && free(i..i + n)
            {
                push("hedged", i, i + n);
                i += n;
                continue;
            }
            // "a walk would (really) help", "that could do you good".
            let w = norm(i);
            let modal = self.modals.iter().any(|m| m == w)
                || (w.ends_with("'d") && !matches!(w, "i'd" | "you'd" | "we'd"));
            if modal && i > 0 && !PERSONAL.contains(&norm(i - 1)) {
                let j = skip_adverbs(i + 1, 2);
                let predicate = longest(&self.modal_predicates, j).or_else(|| {
                    // "could be really helpful"; "would make them feel
                    // smaller"; "could lift your spirits"; "could be a nice
                    // distraction".
                    if norm(j) == "be" {
                        let k = skip_adverbs(j + 1, 2);
                        RECOMMENDING
                            .contains(&norm(k))
                            .then_some(k + 1 - j)
                            .or_else(|| self.praise(tokens, j + 1).map(|end| end - j))
                    } else if self.modal_benefits.iter().any(|v| v == norm(j))
                        && BENEFIT_OBJECTS.contains(&norm(j + 1))
                    {
                        Some(2)
                    } else if norm(j) == "make" {
                        (j + 1..j + 5)
                            .find(|&k| EASING.contains(&norm(k)))
                            .map(|k| k + 1 - j)
                    } else {
                        None
                    }
                });
                // "will help you…" is an outcome, which the outcome lexicon
                // names; this rule is for the suggestion.
                let outcome = norm(j) == "help" && norm(j + 1) == "you";
                if let Some(n) = predicate.filter(|_| !outcome)
                    && free(i..j + n)
                {
                    let s = sentence_start[i];
                    let open_question = layout.in_question(i) && WH.contains(&norm(opener_at(s)));
                    if !open_question {
                        push("hedged", i, j + n);
                        i = j + n;
                        continue;
                    }
                }
            }
            // "It could be helpful to…", "it'd be smart to…".
            if matches!(w, "it" | "it's" | "it'd" | "it'll")
                && let Some(flag_end) = self.impersonal(tokens, i)
                && free(i..flag_end)
            {
                push("hedged", i, flag_end);
                i = flag_end;
                continue;
            }
            // "Meditation is a wonderful tool for…", "time outside is great
            // for clearing the mind".
            if COPULAS.contains(&w) || w.ends_with("'s") {
                let good_for = {
                    let k = skip_adverbs(i + 1, 2);
                    let congratulation = norm(k + 2) == "you"
                        && sentence_start.get(k + 3).is_none_or(|&s| s == k + 3);
                    (self.good_for.iter().any(|g| g == norm(k))
                        && norm(k + 1) == "for"
                        && !congratulation)
                        .then_some(k + 2)
                };
                if let Some(end) = self.praise(tokens, i + 1).or(good_for)
                    && free(i..end)
                {
                    push("hedged", i, end);
                    i = end;
                    continue;
                }
            }
            // "The smart move is to…", "your best option would be…".
            if matches!(w, "the" | "your")
                && let Some(end) = self.choice(tokens, i)
                && free(i..end)
            {
                push("prescription", i, end);
                i = end;
                continue;
            }
            // "The writer (clearly) needs to slow down."
            if let Some(n) = longest(&self.third_person_subjects, i) {
                let j = skip_adverbs(i + n, 2);
                if let Some(m) = longest(&self.prescriptions, j)
                    && free(i..j + m)
                {
                    push("third person", i, j + m);
                    i = j + m;
                    continue;
                }
            }
            // "Most people in your situation find it useful to…", "most new
            // parents find…".
            let quantified = longest(&self.general_quantifiers, i).and_then(|q| {
                (i + q..i + q + 3)
                    .take_while(|&k| !matches!(norm(k), "of" | "the" | "your" | "my" | "these"))
                    .find(|&k| self.general_nouns.iter().any(|n| n == norm(k)))
                    .map(|k| k + 1 - i)
            });
            if let Some(n) = quantified.or_else(|| longest(&self.general_subjects, i))
                && free(i..i + n)
                && !(i > 0
                    && matches!(
                        norm(i - 1),
                        "the"
                            | "these"
                            | "those"
                            | "your"
                            | "my"
                            | "other"
                            | "his"
                            | "her"
                            | "their"
                            | "our"
                            | "of"
                    ))
                && let Some(end) = self.general_predicate(tokens, layout, i + n, imperative_verbs)
                && free(i..end)
            {
                push("generalised", i, end);
                i = end;
                continue;
            }
            // "In your place I would…", "I'd take the job."
            if matches!(w, "i'd" | "i") && free(i..i + 1) {
                let verb_from = if w == "i'd" {
                    Some(i + 1)
                } else if matches!(norm(i + 1), "would" | "'d") {
                    Some(i + 2)
                } else {
                    None
                };
                if let Some(v) = verb_from.map(|v| skip_adverbs(v, 2))
                    && v < tokens.len()
                    && free(v..v + 1)
                {
                    let s = sentence_start[i];
                    let e = sentence_end(&sentence_start, i);
                    let in_place = (s..e)
                        .any(|k| longest(&self.in_your_place, k).is_some_and(|n| free(k..k + n)));
                    let verb = norm(v);
                    let acts = imperative_verbs.iter().any(|x| x == verb)
                        && !self.reading_verbs.iter().any(|x| x == verb)
                        && !self.reading_objects.iter().any(|x| x == norm(v + 1));
                    let not_question = !layout.in_question(i);
                    if not_question && (in_place && verb != "be" || acts) {
                        push("in your place", i, v + 1);
                        i = v + 1;
                        continue;
                    }
                }
            }
            i += 1;
        }

        // Advice asked as a question: judged once per question sentence.
        for (s, &start) in sentence_start.iter().enumerate() {
            if start != s || !layout.in_question(s) {
                continue;
            }
            let mut opens = vec![opener_at(s)];
            // "I hear that, but have you thought about…?"
            let end = sentence_end(&sentence_start, s);
            opens.extend(
                (s + 1..end)
                    .filter(|&k| layout.comma_before(k))
                    .map(opener_at),
            );
            for j in opens {
                if let Some(end) = self.advice_question(tokens, j, imperative_verbs)
                    && free(j..end)
                {
                    push("question", j, end);
                    break;
                }
            }
            // "Could a short break help?", "Wouldn't a walk clear your
            // head?": a modal opens the question, a remedy is its subject.
            let first = opener_at(s);
            // "Maybe try writing it down?": an instruction with a question mark.
            let verb = norm(first);
            if imperative_verbs.iter().any(|v| v == verb)
                && !self.experience_verbs.iter().any(|v| v == verb)
                && free(first..first + 1)
            {
                push("question", first, first + 1);
                continue;
            }
            // "Is there any chance you could delegate?": "you could <act>"
            // inside a question that does not ask what or how.
            if !WH.contains(&norm(first))
                && let Some(k) = (first..end.saturating_sub(2)).find(|&k| {
                    norm(k) == "you" && matches!(norm(k + 1), "could" | "can" | "might") && {
                        let v = norm(skip_adverbs(k + 2, 2));
                        imperative_verbs.iter().any(|x| x == v)
                            && !self.experience_verbs.iter().any(|x| x == v)
                    }
                })
                && free(k..k + 3)
            {
                push("question", k, k + 3);
                continue;
            }
            let opens_with_modal = matches!(
                norm(first),
                "could" | "would" | "might" | "can" | "will" | "wouldn't" | "couldn't" | "won't"
            ) && !matches!(
                norm(first + 1),
                "you" | "i" | "we" | "it" | "that" | "this"
            );
            if opens_with_modal
                && let Some((k, n)) = (first + 1..end)
                    .find_map(|k| longest(&self.modal_predicates, k).map(|n| (k, n)))
                && free(first..k + n)
            {
                push("question", first, k + n);
            }
        }
        flags
    }

    /// Where an impersonal suggestion starting at `it` ends, if it is one.
    fn impersonal(&self, tokens: &[Token], it: usize) -> Option<usize> {
        let norm = |j: usize| tokens.get(j).map_or("", |t| t.norm.as_str());
        let mut j = it + 1;
        let mut bridged = matches!(norm(it), "it's" | "it'd" | "it'll");
        while IMPERSONAL_BRIDGE.contains(&norm(j)) && j < it + 6 {
            bridged = true;
            j += 1;
        }
        if !bridged || !self.impersonal_adjectives.iter().any(|a| a == norm(j)) {
            return None;
        }
        // "It's important that you take care of yourself."
        if THAT_YOU.contains(&norm(j))
            && norm(j + 1) == "that"
            && matches!(norm(j + 2), "you" | "your")
        {
            return Some(j + 3);
        }
        // The first "to" that opens an infinitive: "kind to yourself to skip".
        let mut k = j + 1;
        while k < tokens.len() && k < j + 5 {
            if norm(k) == "to" {
                let next = norm(k + 1);
                if TO_OBJECTS.contains(&next) {
                    k += 2;
                    continue;
                }
                if next.is_empty() || READING_INFINITIVES.contains(&next) {
                    return None;
                }
                return Some(k + 2);
            }
            if !matches!(
                norm(k),
                "for" | "you" | "yourself" | "now" | "here" | "then"
            ) {
                return None;
            }
            k += 1;
        }
        None
    }

    /// "(a) (really) great way(s)" after a copula; where it ends.
    fn praise(&self, tokens: &[Token], from: usize) -> Option<usize> {
        let norm = |j: usize| tokens.get(j).map_or("", |t| t.norm.as_str());
        let mut j = from;
        while ADVERBS.contains(&norm(j)) && j < from + 2 {
            j += 1;
        }
        if matches!(norm(j), "a" | "an") {
            j += 1;
        }
        if matches!(norm(j), "really" | "truly" | "very" | "such" | "so") {
            j += 1;
        }
        if !self.praise_adjectives.iter().any(|a| a == norm(j)) {
            return None;
        }
        let noun = norm(j + 1);
        let singular = noun.strip_suffix('s').unwrap_or(noun);
        (self.remedy_nouns.iter().any(|n| n == noun || n == singular)).then_some(j + 2)
    }

    /// "the smart move is", "the wise thing would be": where it ends.
    fn choice(&self, tokens: &[Token], the: usize) -> Option<usize> {
        let norm = |j: usize| tokens.get(j).map_or("", |t| t.norm.as_str());
        // "The solution (here) is to slow down."
        if let Some(n) = self
            .solution_nouns
            .iter()
            .find(|p| matches_at(tokens, the + 1, p))
            .map(Vec::len)
        {
            let mut k = the + 1 + n;
            if matches!(norm(k), "here" | "now") {
                k += 1;
            }
            if matches!(
                norm(k),
                "might" | "may" | "could" | "would" | "should" | "will"
            ) && norm(k + 1) == "be"
            {
                k += 1;
            }
            let next = norm(k + 1);
            let prescribes = matches!(norm(k), "is" | "be" | "'s")
                && (next == "to" || next == "simple" || (next.ends_with("ing") && next.len() > 4));
            return prescribes.then_some(k + 2);
        }
        let adjective = the + 1;
        if !self.choice_adjectives.iter().any(|a| a == norm(adjective)) {
            return None;
        }
        let n = self
            .choice_nouns
            .iter()
            .find(|p| matches_at(tokens, adjective + 1, p))?
            .len();
        let mut k = adjective + 1 + n;
        if norm(k) == "to" && norm(k + 1) == "do" {
            k += 2;
        }
        if matches!(norm(k), "here" | "now" | "for") {
            k += 1;
            if norm(k) == "you" {
                k += 1;
            }
        }
        let copula = matches!(
            norm(k),
            "is" | "would" | "might" | "may" | "could" | "will" | "'s"
        );
        let preceded = the > 0 && matches!(norm(the - 1), "is" | "be" | "it's" | "that's");
        (copula || preceded).then_some(k.max(adjective + 1 + n))
    }

    /// A generalising subject's advising predicate within its clause.
    fn general_predicate(
        &self,
        tokens: &[Token],
        layout: &Layout,
        from: usize,
        imperative_verbs: &[String],
    ) -> Option<usize> {
        let norm = |j: usize| tokens.get(j).map_or("", |t| t.norm.as_str());
        let clause = layout.clause_of.get(from.saturating_sub(1)).copied()?;
        for j in from..(from + 10).min(tokens.len()) {
            if layout.clause_of[j] != clause {
                break;
            }
            if let Some(n) = self
                .general_predicates
                .iter()
                // Not a bare "need": "others seem to need you".
                .chain(
                    self.prescription_list
                        .iter()
                        .filter(|p| !(p.len() == 1 && matches!(p[0].as_str(), "need" | "needs"))),
                )
                .find_map(|p| matches_loose(tokens, j, p))
            {
                return Some(j + n);
            }
            if matches!(norm(j), "would" | "'d" | "will") {
                let mut v = j + 1;
                while ADVERBS.contains(&norm(v)) {
                    v += 1;
                }
                let verb = norm(v);
                if imperative_verbs.iter().any(|x| x == verb)
                    && !self.experience_verbs.iter().any(|x| x == verb)
                {
                    return Some(v + 1);
                }
            }
        }
        None
    }

    /// Whether the question opening at `j` asks for an action; where the
    /// advice ends.
    fn advice_question(
        &self,
        tokens: &[Token],
        j: usize,
        imperative_verbs: &[String],
    ) -> Option<usize> {
        let norm = |k: usize| tokens.get(k).map_or("", |t| t.norm.as_str());
        if let Some(p) = self.question_openers.find(tokens, j) {
            let after = j + p.len();
            // "Have you thought about what you want?" asks, it does not advise.
            let asks = matches!(
                p.last().map(String::as_str),
                Some("about" | "of" | "considered")
            ) && (WH.contains(&norm(after)) || norm(after) == "whether");
            return (!asks).then_some(after.min(tokens.len()));
        }
        let p = self.openers_before_action.find(tokens, j)?;
        let mut v = j + p.len();
        while matches!(norm(v), "just" | "simply" | "maybe" | "perhaps" | "even") {
            v += 1;
        }
        let word = norm(v);
        let acts = match p.first().map(String::as_str) {
            Some("what") if p.get(1).is_some_and(|w| w == "about") => {
                (word.ends_with("ing") && word.len() > 4) || matches!(word, "a" | "an" | "some")
            }
            Some("what") => self.past_actions.iter().any(|a| matches_at(tokens, v, a)),
            _ => {
                imperative_verbs.iter().any(|x| x == word)
                    && !self.experience_verbs.iter().any(|x| x == word)
            }
        };
        acts.then_some((v + 1).min(tokens.len()))
    }
}

/// Phrases by their first word, so finding which of a list's phrases
/// starts at a word is one lookup, not a scan of the list at every word.
#[derive(Debug, Clone, Default)]
struct PhraseIndex {
    /// First word → its phrases, longest first.
    by_first: std::collections::HashMap<String, Vec<Phrase>>,
}

impl PhraseIndex {
    /// `phrases` longest first (as [`phrases`] returns them).
    fn new(phrases: Vec<Phrase>) -> PhraseIndex {
        let mut by_first: std::collections::HashMap<String, Vec<Phrase>> = Default::default();
        for p in phrases {
            by_first.entry(p[0].clone()).or_default().push(p);
        }
        PhraseIndex { by_first }
    }

    fn candidates(&self, tokens: &[Token], j: usize) -> &[Phrase] {
        tokens
            .get(j)
            .and_then(|t| self.by_first.get(&t.norm))
            .map_or(&[], Vec::as_slice)
    }

    /// The longest phrase that matches at `j`.
    fn find(&self, tokens: &[Token], j: usize) -> Option<&Phrase> {
        self.candidates(tokens, j)
            .iter()
            .find(|p| matches_at(tokens, j, p))
    }

    /// The first phrase that matches at `j` with adverbs between its words;
    /// the tokens it covers.
    fn loose(&self, tokens: &[Token], j: usize) -> Option<usize> {
        self.candidates(tokens, j)
            .iter()
            .find_map(|p| matches_loose(tokens, j, p))
    }
}

/// Whether `phrase` matches at `i` with adverbs allowed between its words
/// ("there's *really* no point in"); how many tokens it covers.
fn matches_loose(tokens: &[Token], i: usize, phrase: &[String]) -> Option<usize> {
    let mut j = i;
    for (k, word) in phrase.iter().enumerate() {
        if k > 0 {
            let mut skipped = 0;
            while skipped < 2
                && tokens
                    .get(j)
                    .is_some_and(|t| t.norm != *word && ADVERBS.contains(&t.norm.as_str()))
            {
                j += 1;
                skipped += 1;
            }
        }
        if tokens.get(j).is_none_or(|t| t.norm != *word) {
            return None;
        }
        j += 1;
    }
    Some(j - i)
}

/// For each token, the index of the first token of its sentence.
fn sentence_starts(text: &str, tokens: &[Token]) -> Vec<usize> {
    let mut starts = Vec::with_capacity(tokens.len());
    let mut start = 0;
    for i in 0..tokens.len() {
        if i > 0 {
            let gap = &text[tokens[i - 1].span.end..tokens[i].span.start];
            if gap.contains(['.', '!', '?', '\n']) {
                start = i;
            }
        }
        starts.push(start);
    }
    starts
}

/// One past the last token of the sentence holding token `i`.
fn sentence_end(starts: &[usize], i: usize) -> usize {
    let s = starts[i];
    (i..starts.len())
        .find(|&k| starts[k] != s)
        .unwrap_or(starts.len())
}
