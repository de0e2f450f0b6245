//! The rule matcher: finds where a parameter pack's phrases and rules hold
//! in a text.
//!
//! A text is read once into a [`Doc`]: its word tokens (the constitution's
//! tokenizer), which sentence each belongs to, whether that sentence is a
//! question, and where clauses break (commas, semicolons), so the rules see
//! structure, not just words. Phrases are compiled once per pack into
//! sequences of [`Elem`]s.

use std::ops::Range;

use mirror_constitution::text::{Token, tokenize};
use mirror_governance::params::{Context, PatternRule, QuestionRule, SubjectRule, WordClasses};

/// One element of a compiled phrase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Elem {
    Word(String),
    /// `plan*`: any word starting with the stem.
    Prefix(String),
    Num,
    Past,
    Name,
    Any,
}

pub type Phrase = Vec<Elem>;

pub fn compile_phrase(text: &str) -> Phrase {
    let mut phrase = Vec::new();
    for w in text.split_whitespace() {
        match w {
            "<num>" => phrase.push(Elem::Num),
            "<past>" => phrase.push(Elem::Past),
            "<name>" => phrase.push(Elem::Name),
            "<any>" => phrase.push(Elem::Any),
            word => {
                // Split as the tokenizer splits ("self-harm" is two words,
                // "bateu-me" too), so a hyphenated cue can match at all;
                // a stem's `*` applies to its last part.
                let stem = word.len() > 3 && word.ends_with('*');
                let body = word.trim_end_matches('*');
                let parts = tokenize(body);
                let n = parts.len();
                for (k, t) in parts.into_iter().enumerate() {
                    if stem && k + 1 == n {
                        phrase.push(Elem::Prefix(t.norm));
                    } else {
                        phrase.push(Elem::Word(t.norm));
                    }
                }
            }
        }
    }
    phrase
}

pub fn compile_phrases(texts: &[String]) -> Vec<Phrase> {
    let mut phrases: Vec<Phrase> = texts.iter().map(|t| compile_phrase(t)).collect();
    // Longest first, so the most specific phrase claims a position.
    phrases.sort_by_key(|p| std::cmp::Reverse(p.len()));
    phrases
}

/// Phrases indexed by their first element, so finding which of thousands
/// of phrases start at a token costs a hash lookup, not a scan.
///
/// Cost model: building is one pass over the phrases; a query at token `i`
/// looks up the token's word, then tries the few phrases that start with a
/// stem (`plan*`) or a token class (`<name>`). Matching a whole text
/// ([`PhraseSet::starts`]) asks only the tokens where a phrase's first
/// word or stem stands, found in the text's word index (built once per
/// [`Doc`], O(tokens × log tokens)): O(first words × log tokens + those
/// tokens × their phrases), where asking every token was O(tokens) lookups
/// per set, and a pack has hundreds of sets.
#[derive(Debug, Clone, Default)]
pub struct PhraseSet {
    phrases: Vec<Phrase>,
    /// First word → indices into `phrases`, longest phrase first.
    by_word: rustc_hash::FxHashMap<String, Vec<usize>>,
    /// Phrases that start with a stem or a token class, longest first.
    open: Vec<usize>,
    /// The stems open phrases start with, each once.
    stems: Vec<String>,
    /// Whether a phrase starts with a token class (`<num>`, `<name>`…),
    /// which may stand at any token.
    classes: bool,
}

impl PhraseSet {
    pub fn new(phrases: Vec<Phrase>) -> PhraseSet {
        let mut phrases = phrases;
        phrases.retain(|p| !p.is_empty());
        phrases.sort_by_key(|p| std::cmp::Reverse(p.len()));
        let mut by_word: rustc_hash::FxHashMap<String, Vec<usize>> =
            rustc_hash::FxHashMap::default();
        let mut open = Vec::new();
        let mut stems: Vec<String> = Vec::new();
        let mut classes = false;
        for (i, p) in phrases.iter().enumerate() {
            match &p[0] {
                Elem::Word(w) => by_word.entry(w.clone()).or_default().push(i),
                Elem::Prefix(stem) => {
                    if !stems.contains(stem) {
                        stems.push(stem.clone());
                    }
                    open.push(i);
                }
                _ => {
                    classes = true;
                    open.push(i);
                }
            }
        }
        PhraseSet {
            phrases,
            by_word,
            open,
            stems,
            classes,
        }
    }

    pub fn from_texts(texts: &[String]) -> PhraseSet {
        PhraseSet::new(texts.iter().map(|t| compile_phrase(t)).collect())
    }

    pub fn is_empty(&self) -> bool {
        self.phrases.is_empty()
    }

    /// The longest phrase matching at token `i`, as its index and length.
    pub fn longest_at(&self, doc: &Doc, words: &Words, i: usize) -> Option<(usize, usize)> {
        let word = doc.tokens.get(i)?.norm.as_str();
        let mut best: Option<(usize, usize)> = None;
        let candidates = self
            .by_word
            .get(word)
            .into_iter()
            .flatten()
            .chain(self.open.iter());
        for &k in candidates {
            let p = &self.phrases[k];
            if best.is_some_and(|(_, len)| len >= p.len()) {
                continue;
            }
            if doc.matches(words, p, i) {
                best = Some((k, p.len()));
            }
        }
        best
    }

    /// The tokens of `doc` where a phrase of the set may start, in order:
    /// where one of the phrases' first words stands or a word starting
    /// with one of their first stems, or every token when a phrase starts
    /// with a class. A token not listed never starts a match, so a scan
    /// may skip it.
    ///
    /// Why: a pack holds hundreds of rules, each with its own few cues; a
    /// scan asking every rule at every token of a 2,000-word entry cost
    /// a hash lookup per rule and token (~1M lookups, most of a reflect).
    /// Looking each cue's first word up in the entry's word index costs one
    /// lookup per cue.
    pub fn starts(&self, doc: &Doc) -> Vec<usize> {
        if self.classes || self.by_word.len() + self.stems.len() >= doc.len() {
            return (0..doc.len()).collect();
        }
        let mut out: Vec<usize> = self
            .by_word
            .keys()
            .flat_map(|w| doc.positions(w))
            .chain(self.stems.iter().flat_map(|stem| doc.positions_from(stem)))
            .map(|&i| i as usize)
            .collect();
        out.sort_unstable();
        // A word may start with two stems.
        out.dedup();
        out
    }

    /// Every (start, length) where some phrase matches, longest at each
    /// start, not overlapping an earlier match.
    pub fn find_all(&self, doc: &Doc, words: &Words) -> Vec<Range<usize>> {
        let mut out: Vec<Range<usize>> = Vec::new();
        let mut next = 0;
        for i in self.starts(doc) {
            if i < next {
                continue;
            }
            if let Some((_, len)) = self.longest_at(doc, words, i) {
                out.push(i..i + len);
                next = i + len;
            }
        }
        out
    }

    /// Whether any phrase matches anywhere in `range` of tokens.
    pub fn any_in(&self, doc: &Doc, words: &Words, range: Range<usize>) -> bool {
        range.clone().any(|i| {
            self.longest_at(doc, words, i)
                .is_some_and(|(_, len)| i + len <= range.end)
        })
    }
}

/// A compiled [`Context`].
#[derive(Debug, Clone)]
pub struct CompiledContext {
    pub phrases: Vec<Phrase>,
    pub window: usize,
}

impl CompiledContext {
    fn new(context: &Context) -> Self {
        CompiledContext {
            phrases: compile_phrases(&context.phrases),
            window: context.window,
        }
    }
}

/// A compiled [`PatternRule`].
#[derive(Debug, Clone)]
pub struct CompiledRule {
    pub id: String,
    /// The language the rule reads ("en" when the pack names none).
    pub lang: String,
    pub cues: PhraseSet,
    pub subject: SubjectRule,
    pub before: Option<CompiledContext>,
    pub not_before: Option<CompiledContext>,
    pub after: Option<CompiledContext>,
    pub not_after: Option<CompiledContext>,
    pub not_near: Option<CompiledContext>,
    pub elsewhere: Vec<Phrase>,
    pub questions: QuestionRule,
}

impl CompiledRule {
    pub fn new(rule: &PatternRule) -> Self {
        CompiledRule {
            id: rule.id.clone(),
            lang: rule.lang.clone().unwrap_or_else(|| "en".into()),
            cues: PhraseSet::from_texts(&rule.cues),
            subject: rule.subject,
            before: rule.before.as_ref().map(CompiledContext::new),
            not_before: rule.not_before.as_ref().map(CompiledContext::new),
            after: rule.after.as_ref().map(CompiledContext::new),
            not_after: rule.not_after.as_ref().map(CompiledContext::new),
            not_near: rule.not_near.as_ref().map(CompiledContext::new),
            elsewhere: compile_phrases(&rule.elsewhere),
            questions: rule.questions,
        }
    }
}

/// The word classes, ready for lookups.
#[derive(Debug, Clone)]
pub struct Words {
    first_person: Vec<String>,
    second_person: Vec<String>,
    third_person: Vec<String>,
    inanimate: Vec<String>,
    determiners: Vec<String>,
    person_nouns: Vec<String>,
    subject_skip: Vec<String>,
    clause_joiners: Vec<String>,
    irregular_past: Vec<String>,
}

fn norm_all(list: &[String]) -> Vec<String> {
    list.iter()
        .map(|w| mirror_constitution::text::normalize_word(w.trim()))
        .collect()
}

impl Words {
    pub fn new(words: &WordClasses) -> Self {
        Words {
            first_person: norm_all(&words.first_person),
            second_person: norm_all(&words.second_person),
            third_person: norm_all(&words.third_person),
            inanimate: norm_all(&words.inanimate),
            determiners: norm_all(&words.determiners),
            person_nouns: norm_all(&words.person_nouns),
            subject_skip: norm_all(&words.subject_skip),
            clause_joiners: norm_all(&words.clause_joiners),
            irregular_past: norm_all(&words.irregular_past),
        }
    }

    fn has(list: &[String], word: &str) -> bool {
        list.iter().any(|w| w == word)
    }

    fn is_past(&self, word: &str) -> bool {
        (word.len() >= 4 && word.ends_with("ed") && !word.ends_with("eed"))
            || Self::has(&self.irregular_past, word)
    }
}

/// A text, tokenised and segmented for rule matching.
pub struct Doc<'a> {
    pub text: &'a str,
    pub tokens: Vec<Token>,
    sentence: Vec<usize>,
    sentence_start: Vec<bool>,
    /// A comma, semicolon or colon stands before this token.
    clause_break: Vec<bool>,
    question: Vec<bool>,
    capitalised: Vec<bool>,
    /// Byte range of each sentence.
    pub sentences: Vec<Range<usize>>,
    /// Token indices ordered by word, then position: where each word
    /// stands, found by binary search. Built on first use.
    by_word: std::cell::OnceCell<Vec<u32>>,
}

impl<'a> Doc<'a> {
    pub fn new(text: &'a str) -> Doc<'a> {
        let tokens = tokenize(text);
        let n = tokens.len();
        let gap = |i: usize| -> &str {
            let from = if i == 0 { 0 } else { tokens[i - 1].span.end };
            &text[from..tokens[i].span.start]
        };
        let mut sentence = vec![0; n];
        let mut sentence_start = vec![false; n];
        let mut clause_break = vec![false; n];
        let mut current = 0;
        for i in 0..n {
            let g = gap(i);
            // An ellipsis before a lowercase word is a pause, not an end
            // ("I keep waiting to feel awful and I just... don't").
            let pause = {
                let mark = g.trim();
                mark.len() > 1
                    && mark.chars().all(|c| c == '.')
                    && text[tokens[i].span.clone()]
                        .chars()
                        .next()
                        .is_some_and(char::is_lowercase)
            };
            if i == 0 {
                sentence_start[i] = true;
            } else if g.contains(['.', '!', '?', '\n']) && !pause {
                current += 1;
                sentence_start[i] = true;
            }
            clause_break[i] = g.contains([',', ';', ':', '—', '–']) || (g.contains(" - "));
            sentence[i] = current;
        }
        let count = if n == 0 { 0 } else { current + 1 };
        // Sentence byte ranges and whether each ends with a question mark.
        let mut sentences = vec![0..0; count];
        let mut is_question = vec![false; count];
        // Each sentence's first and last token, in one pass (`sentence` is
        // ascending and every sentence has a token).
        let mut bounds = vec![(0, 0); count];
        for (i, &s) in sentence.iter().enumerate() {
            if sentence_start[i] {
                bounds[s].0 = i;
            }
            bounds[s].1 = i;
        }
        for s in 0..count {
            let (first, last) = bounds[s];
            let end_search_to = tokens.get(last + 1).map_or(text.len(), |t| t.span.start);
            let tail = &text[tokens[last].span.end..end_search_to];
            let terminal = tail.find(['.', '!', '?', '\n']);
            let end = terminal.map_or(end_search_to, |k| tokens[last].span.end + k + 1);
            sentences[s] = tokens[first].span.start..end.min(text.len());
            is_question[s] = tail
                .trim_start_matches(['"', '\'', '”', '’', ')'])
                .contains('?')
                && terminal.is_some_and(|k| tail[k..].starts_with('?'));
        }
        let question = sentence.iter().map(|s| is_question[*s]).collect();
        let capitalised = tokens
            .iter()
            .map(|t| {
                text[t.span.clone()]
                    .chars()
                    .next()
                    .is_some_and(char::is_uppercase)
            })
            .collect();
        Doc {
            text,
            tokens,
            sentence,
            sentence_start,
            clause_break,
            question,
            capitalised,
            sentences,
            by_word: std::cell::OnceCell::new(),
        }
    }

    /// Token indices ordered by word, then position.
    fn word_index(&self) -> &[u32] {
        self.by_word.get_or_init(|| {
            let mut order: Vec<u32> = (0..self.tokens.len() as u32).collect();
            // Stable: equal words keep their order.
            order.sort_by(|&a, &b| {
                self.tokens[a as usize]
                    .norm
                    .cmp(&self.tokens[b as usize].norm)
            });
            order
        })
    }

    /// The tokens whose word is `word`, in order.
    pub fn positions(&self, word: &str) -> &[u32] {
        let index = self.word_index();
        let norm = |k: &u32| self.tokens[*k as usize].norm.as_str();
        let from = index.partition_point(|k| norm(k) < word);
        let to = from + index[from..].partition_point(|k| norm(k) == word);
        &index[from..to]
    }

    /// The tokens whose word starts with `stem`, ordered by word (words
    /// starting with a stem sort together, right after the stem).
    pub fn positions_from(&self, stem: &str) -> &[u32] {
        let index = self.word_index();
        let norm = |k: &u32| self.tokens[*k as usize].norm.as_str();
        let from = index.partition_point(|k| norm(k) < stem);
        let to = from + index[from..].partition_point(|k| norm(k).starts_with(stem));
        &index[from..to]
    }

    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    pub fn sentence_of(&self, token: usize) -> usize {
        self.sentence[token]
    }

    /// Whether `phrase` matches the tokens starting at `i`.
    pub fn matches(&self, words: &Words, phrase: &[Elem], i: usize) -> bool {
        if i + phrase.len() > self.tokens.len() {
            return false;
        }
        phrase.iter().enumerate().all(|(k, elem)| {
            let token = &self.tokens[i + k];
            let word = token.norm.as_str();
            // A phrase never spans two sentences.
            if k > 0 && self.sentence[i + k] != self.sentence[i] {
                return false;
            }
            match elem {
                Elem::Word(w) => w == word,
                Elem::Prefix(stem) => word.starts_with(stem.as_str()),
                Elem::Num => word.chars().all(|c| c.is_ascii_digit()),
                Elem::Past => words.is_past(word),
                Elem::Name => {
                    self.capitalised[i + k]
                        && !self.sentence_start[i + k]
                        && !Words::has(&words.first_person, word)
                }
                Elem::Any => true,
            }
        })
    }

    /// Every position where `phrase` matches.
    pub fn find_all<'p>(
        &'p self,
        words: &'p Words,
        phrase: &'p [Elem],
    ) -> impl Iterator<Item = usize> + 'p {
        (0..self.tokens.len()).filter(move |&i| self.matches(words, phrase, i))
    }

    /// The tokens of sentence `s`.
    pub fn sentence_tokens(&self, s: usize) -> Range<usize> {
        let start = self.sentence.partition_point(|x| *x < s);
        let end = self.sentence.partition_point(|x| *x <= s);
        start..end
    }

    /// Whether the sentence of `token` ends with a question mark.
    pub fn is_question(&self, token: usize) -> bool {
        self.question.get(token).copied().unwrap_or(false)
    }

    /// The token whose word starts at byte `at`: where a match found by
    /// its byte span sits (tokens are in text order, so a binary search).
    pub fn token_starting_at(&self, at: usize) -> Option<usize> {
        self.tokens.binary_search_by(|t| t.span.start.cmp(&at)).ok()
    }

    /// Byte span of tokens `from..to`.
    pub fn span(&self, tokens: Range<usize>) -> Range<usize> {
        self.tokens[tokens.start].span.start..self.tokens[tokens.end - 1].span.end
    }

    /// The sentence containing `token`, as written.
    pub fn sentence_text(&self, token: usize) -> &'a str {
        self.text[self.sentences[self.sentence[token]].clone()].trim()
    }

    /// For each token, whether it lies in someone else's words: inside
    /// quotation marks, or what a third person is reported to have said
    /// ("Dad said I'd never…", "my boss keeps saying we must…"), from the
    /// verb to the end of the sentence or to a clause break after which the
    /// writer speaks again (", and I…").
    pub fn reported(&self, words: &Words) -> Vec<bool> {
        let n = self.tokens.len();
        let mut out = vec![false; n];
        for quoted in quotations(self.text) {
            for (i, t) in self.tokens.iter().enumerate() {
                if t.span.start >= quoted.start && t.span.end <= quoted.end {
                    out[i] = true;
                }
            }
        }
        for v in 0..n {
            if !REPORTING.contains(&self.tokens[v].norm.as_str()) {
                continue;
            }
            // "keeps saying": the subject is found from the helper verb.
            let helper = v > 0
                && !self.sentence_start[v]
                && matches!(self.tokens[v - 1].norm.as_str(), "keeps" | "kept" | "keep");
            let third = self.about_someone_else(words, v)
                || (helper && self.about_someone_else(words, v - 1));
            if !third {
                continue;
            }
            // What they said follows the verb; the clause's subject and its
            // adverbs are the writer's words about them ("everyone says
            // so" is the writer's "everyone").
            let object = matches!(
                self.tokens[v].norm.as_str(),
                "told" | "tells" | "telling" | "warned" | "warns" | "reminded" | "reminds"
            ) && self.tokens.get(v + 1).is_some_and(|t| {
                matches!(
                    t.norm.as_str(),
                    "me" | "him"
                        | "her"
                        | "them"
                        | "us"
                        | "everyone"
                        | "everybody"
                        | "people"
                        | "anyone"
                )
            });
            let start = if object { v + 2 } else { v + 1 };
            let mut end = start;
            while end < n && !self.sentence_start[end] {
                let writer_again = self.clause_break[end]
                    && (end..(end + 3).min(n))
                        .any(|k| Words::has(&words.first_person, self.tokens[k].norm.as_str()));
                if writer_again {
                    break;
                }
                end += 1;
            }
            for slot in &mut out[start..end] {
                *slot = true;
            }
        }
        out
    }

    /// Whether the clause a cue at `i` sits in is about someone else ("the
    /// staff are lovely", "he's been struggling"): their feeling, not the
    /// writer's.
    pub fn about_someone_else(&self, words: &Words, i: usize) -> bool {
        self.subject_of(words, i) == Subject::Third
    }

    /// Whether a feeling word at `i` is someone else's: [`Self::about_someone_else`],
    /// or, when the word just before it is an unknown one (a verb), a
    /// person a few words further back with no "I" before them in the
    /// clause ("Mum came back happy", "the kids ran off laughing"; not "I
    /// hugged Mum goodbye feeling sad", where Mum is the object). Patterns
    /// keep the one-word look, which their figures were measured with; a
    /// feeling named for the wrong person reads worse than one not named.
    pub fn feeling_of_someone_else(&self, words: &Words, i: usize) -> bool {
        const VERBS_SKIPPED: usize = 3;
        // A feeling joined by "and" to what came before shares its subject
        // ("she's eight and terrified", "came home drunk and angry"): ask
        // from the "and".
        let mut before = i;
        while before > 0 && !self.sentence_start[before] {
            before -= 1;
            let w = self.tokens[before].norm.as_str();
            if w == "and" {
                return before > 0
                    && !self.sentence_start[before]
                    && (self.feeling_of_someone_else(words, before)
                        || self.lead_is_someone_else(words, before));
            }
            if !Words::has(&words.subject_skip, w) {
                break;
            }
        }
        let mut k = i;
        for step in 0..=VERBS_SKIPPED {
            match self.subject_of(words, k) {
                Subject::Third if step == 0 => return true,
                Subject::Third => return !self.writer_before(words, k),
                Subject::Unknown => {
                    // Step over the unknown word and ask again from it.
                    let mut j = k;
                    while j > 0 {
                        j -= 1;
                        let w = self.tokens[j].norm.as_str();
                        if !Words::has(&words.subject_skip, w) {
                            break;
                        }
                    }
                    if j == k || self.sentence_start[j] || self.clause_break[j] {
                        return false;
                    }
                    k = j;
                }
                _ => return false,
            }
        }
        false
    }

    /// Whether the one doing what follows an "and" at `and` with no
    /// subject of its own ("Martin said it in front of everyone, and then
    /// laughed") is someone else. The word before the "and" is often an
    /// object ("everyone", "my rent"), so the doer is found further back in
    /// the sentence, outside quotations: the nearest of an "I", "we", "he",
    /// "she" or "they", or a person or a name followed by a verb in the
    /// past ("Martin said", "Mum came"), decides. A name that is only an
    /// object ("told Martin about it, and then cried") is not a doer.
    fn lead_is_someone_else(&self, words: &Words, and: usize) -> bool {
        const NOMINATIVE_OTHERS: &[&str] = &[
            "he", "she", "they", "he's", "she's", "they're", "they've", "he'd", "she'd", "they'd",
        ];
        let quoted = quotations(self.text);
        let outside = |k: usize| {
            let span = &self.tokens[k].span;
            !quoted
                .iter()
                .any(|q| span.start >= q.start && span.end <= q.end)
        };
        let start = self.sentence_tokens(self.sentence[and]).start;
        for k in (start..and).rev().filter(|&k| outside(k)) {
            let w = self.tokens[k].norm.as_str();
            if Words::has(&words.first_person, w) {
                return false;
            }
            if NOMINATIVE_OTHERS.contains(&w) {
                return true;
            }
            let verb_after = (k + 1..and)
                .find(|&j| !Words::has(&words.subject_skip, self.tokens[j].norm.as_str()))
                .map(|j| self.tokens[j].norm.as_str());
            let reports = verb_after.is_some_and(|v| REPORTING.contains(&v));
            let past = verb_after.is_some_and(|v| words.is_past(v) || REPORTING.contains(&v));
            // Every sentence opens on a capital ("Yesterday went…", "Then
            // cried…"), so a first word is a name only where it is one
            // elsewhere or says something.
            let name = self.capitalised[k]
                && (!self.sentence_start[k] || self.named_elsewhere(k) || reports);
            if past && (name || Words::has(&words.person_nouns, w)) {
                return true;
            }
        }
        false
    }

    /// Whether the writer ("I", "we") appears in the clause before token
    /// `i`.
    fn writer_before(&self, words: &Words, i: usize) -> bool {
        let mut k = i;
        while k > 0 && !self.sentence_start[k] && !self.clause_break[k] {
            k -= 1;
            if Words::has(&words.first_person, self.tokens[k].norm.as_str()) {
                return true;
            }
        }
        false
    }

    /// Whether the word at `k` is written capitalised inside a sentence
    /// somewhere else in the text: a name ("shouted at Ollie … Ollie cried
    /// the whole way home"), which at the start of a sentence looks like
    /// any other first word.
    fn named_elsewhere(&self, k: usize) -> bool {
        let norm = &self.tokens[k].norm;
        (0..self.tokens.len()).any(|j| {
            j != k && self.capitalised[j] && !self.sentence_start[j] && self.tokens[j].norm == *norm
        })
    }

    /// Who is the subject of the clause a cue at `i` sits in.
    fn subject_of(&self, words: &Words, i: usize) -> Subject {
        let mut k = i;
        while k > 0 {
            if self.sentence_start[k] || self.clause_break[k] {
                return Subject::None;
            }
            k -= 1;
            let word = self.tokens[k].norm.as_str();
            if Words::has(&words.subject_skip, word) {
                continue;
            }
            if Words::has(&words.clause_joiners, word) {
                return Subject::None;
            }
            if Words::has(&words.first_person, word) {
                return Subject::Writer;
            }
            if Words::has(&words.second_person, word) {
                return Subject::Reader;
            }
            if Words::has(&words.third_person, word) || Words::has(&words.person_nouns, word) {
                return Subject::Third;
            }
            if Words::has(&words.inanimate, word) {
                return Subject::Thing;
            }
            if self.capitalised[k] && (!self.sentence_start[k] || self.named_elsewhere(k)) {
                return Subject::Third;
            }
            // A noun: a thing when it follows a determiner ("the package").
            let det_before = (k.saturating_sub(2)..k)
                .any(|j| Words::has(&words.determiners, self.tokens[j].norm.as_str()));
            return if det_before {
                Subject::Thing
            } else {
                Subject::Unknown
            };
        }
        Subject::None
    }

    fn context_before(&self, words: &Words, ctx: &CompiledContext, i: usize) -> bool {
        ctx.phrases.iter().any(|p| {
            (1..=ctx.window + p.len() - 1).any(|back| {
                back <= i && {
                    let start = i - back;
                    let end = start + p.len();
                    end <= i
                        && i - end < ctx.window
                        && self.sentence[start] == self.sentence[i]
                        && self.matches(words, p, start)
                }
            })
        })
    }

    /// Where the first phrase of `ctx` that starts within its window after
    /// `end` ends, if any.
    fn context_after(&self, words: &Words, ctx: &CompiledContext, end: usize) -> Option<usize> {
        (end..end + ctx.window).find_map(|start| {
            if start >= self.tokens.len()
                || end == 0
                || self.sentence[start] != self.sentence[end - 1]
            {
                return None;
            }
            ctx.phrases
                .iter()
                .find(|p| self.matches(words, p, start))
                .map(|p| start + p.len())
        })
    }

    /// Where `rule` holds: the token range of each cue occurrence that
    /// meets every condition.
    pub fn rule_matches(&self, words: &Words, rule: &CompiledRule) -> Vec<Range<usize>> {
        let mut out: Vec<Range<usize>> = Vec::new();
        for i in rule.cues.starts(self) {
            // The longest cue matching here.
            let Some((_, cue_len)) = rule.cues.longest_at(self, words, i) else {
                continue;
            };
            let end = i + cue_len;
            if out.iter().any(|r| r.start <= i && i < r.end) {
                continue;
            }
            if rule.questions == QuestionRule::Never && self.question[i] {
                continue;
            }
            if !subject_allows(rule.subject, self.subject_of(words, i)) {
                continue;
            }
            if let Some(ctx) = &rule.before
                && !self.context_before(words, ctx, i)
            {
                continue;
            }
            if let Some(ctx) = &rule.not_before
                && self.context_before(words, ctx, i)
            {
                continue;
            }
            // A required phrase after the cue belongs to the evidence ("I'm
            // such" + "an idiot").
            let mut evidence_end = end;
            if let Some(ctx) = &rule.after {
                match self.context_after(words, ctx, end) {
                    Some(after_end) => evidence_end = after_end,
                    None => continue,
                }
            }
            if let Some(ctx) = &rule.not_after
                && self.context_after(words, ctx, end).is_some()
            {
                continue;
            }
            if let Some(ctx) = &rule.not_near
                && (self.context_before(words, ctx, i)
                    || self.context_after(words, ctx, end).is_some())
            {
                continue;
            }
            if !rule.elsewhere.is_empty() {
                let found = rule.elsewhere.iter().any(|p| {
                    self.find_all(words, p)
                        .any(|j| j + p.len() <= i || j >= end)
                });
                if !found {
                    continue;
                }
            }
            out.push(i..evidence_end);
        }
        out
    }
}

/// Who a clause is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Subject {
    /// "I", "we".
    Writer,
    /// "you".
    Reader,
    /// "she", "my sister", "Dad".
    Third,
    /// "it", "the package".
    Thing,
    /// A word we cannot place.
    Unknown,
    /// No subject before the cue in its clause ("Need to call Mum").
    None,
}

/// Verbs that report what someone said.
const REPORTING: &[&str] = &[
    "said", "says", "saying", "told", "tells", "telling", "insists", "insisted", "warned", "warns",
    "yelled", "shouted", "reminded", "reminds", "texted", "claims", "claimed",
];

/// Byte ranges of the quotations in `text`, marks included: “…”, «…», „…“,
/// "…", ‘…’ and '…' (an apostrophe, a quote mark between two letters, opens
/// and closes nothing).
pub(crate) fn quotations(text: &str) -> Vec<Range<usize>> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let letter = |k: Option<&(usize, char)>| k.is_some_and(|(_, c)| c.is_alphanumeric());
    let mut out = Vec::new();
    let mut open: Option<(usize, char)> = None;
    for (k, &(at, c)) in chars.iter().enumerate() {
        let before = k.checked_sub(1).and_then(|j| chars.get(j));
        let after = chars.get(k + 1);
        let apostrophe = matches!(c, '\'' | '’') && letter(before) && letter(after);
        if apostrophe {
            continue;
        }
        match open {
            Some((from, close)) if c == close => {
                out.push(from..at + c.len_utf8());
                open = None;
            }
            Some(_) => {}
            None => {
                let close = match c {
                    '"' => '"',
                    '“' => '”',
                    '«' => '»',
                    '„' => '“',
                    '‘' => '’',
                    '\'' if !letter(before) => '\'',
                    _ => continue,
                };
                open = Some((at, close));
            }
        }
    }
    out
}

fn subject_allows(rule: SubjectRule, subject: Subject) -> bool {
    match rule {
        SubjectRule::Any => true,
        SubjectRule::Writer => matches!(subject, Subject::Writer | Subject::None),
        SubjectRule::WriterOrReader => {
            matches!(subject, Subject::Writer | Subject::Reader | Subject::None)
        }
        SubjectRule::ThirdPerson => subject == Subject::Third,
        SubjectRule::NotThirdPerson => subject != Subject::Third,
        SubjectRule::NotInanimate => subject != Subject::Thing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mirror_governance::params::EngineParams;

    fn words() -> Words {
        Words::new(&EngineParams::genesis().unwrap().words)
    }

    #[test]
    fn an_ellipsis_before_a_lowercase_word_ends_no_sentence() {
        let doc = Doc::new("I just... don't. Sleeping fine... Then it came back.");
        let got: Vec<&str> = doc.sentences.iter().map(|r| &doc.text[r.clone()]).collect();
        assert_eq!(
            got,
            ["I just... don't.", "Sleeping fine.", "Then it came back."]
        );
    }

    #[test]
    fn token_classes_match() {
        let w = words();
        let doc = Doc::new("It has been a year since Mom died. When I was 12, Sam moved.");
        let since = doc.tokens.iter().position(|t| t.norm == "since").unwrap();
        assert!(doc.matches(&w, &compile_phrase("since mom <past>"), since));
        let was = doc.tokens.iter().position(|t| t.norm == "was").unwrap();
        assert!(doc.matches(&w, &compile_phrase("was <num>"), was));
        let sam = doc.tokens.iter().position(|t| t.norm == "sam").unwrap();
        assert!(doc.matches(&w, &compile_phrase("<name> <past>"), sam));
        // "I" is capitalised but is not a name; sentence starts are not names.
        assert!(!doc.matches(&w, &compile_phrase("<name>"), 0));
        // "need" is not a past tense.
        assert!(!w.is_past("need"));
    }

    #[test]
    fn someone_elses_words_are_marked_as_theirs() {
        let w = words();
        let marked = |text: &str| -> Vec<String> {
            let doc = Doc::new(text);
            let r = doc.reported(&w);
            doc.tokens
                .iter()
                .zip(r)
                .filter(|(_, r)| *r)
                .map(|(t, _)| t.norm.clone())
                .collect()
        };
        assert_eq!(
            marked("Dad always said I'd never amount to anything. I got the job."),
            ["i'd", "never", "amount", "to", "anything"]
        );
        assert_eq!(marked("Everyone says so."), ["so"]);
        // Whom they told is the writer's word; what they told them is theirs.
        assert_eq!(
            marked("Mum tells everyone at church I'm perfect."),
            ["at", "church", "i'm", "perfect"]
        );
        assert!(marked("My boss keeps saying we must be perfect.").contains(&"must".to_string()));
        assert!(
            marked("Mum said 'you always give up' and I laughed.").contains(&"always".to_string())
        );
        // The writer speaking again after a clause break is the writer.
        let again = marked("He told me I never listen, and I always do.");
        assert!(again.contains(&"never".to_string()));
        assert!(!again.contains(&"always".to_string()), "{again:?}");
        // The writer's own words, and apostrophes, are not someone else's.
        assert!(marked("I always give up, I said to myself.").is_empty());
        assert!(marked("I can't stop, it's always like this.").is_empty());
    }

    #[test]
    fn subjects_are_found_past_adverbs() {
        let w = words();
        let subject = |text: &str, cue: &str| {
            let doc = Doc::new(text);
            let i = doc.tokens.iter().position(|t| t.norm == cue).unwrap();
            doc.subject_of(&w, i)
        };
        assert_eq!(subject("I really need to sleep.", "need"), Subject::Writer);
        assert_eq!(
            subject("The package should arrive Tuesday.", "should"),
            Subject::Thing
        );
        assert_eq!(subject("My sister has to stop.", "has"), Subject::Third);
        assert_eq!(
            subject("It was supposed to rain.", "supposed"),
            Subject::Thing
        );
        assert_eq!(subject("Need to renew my passport.", "need"), Subject::None);
        assert_eq!(subject("Dad has to take his pills.", "has"), Subject::Third);
    }

    #[test]
    fn questions_are_detected_per_sentence() {
        let doc = Doc::new("Am I supposed to be over it? I don't know.");
        assert!(doc.question[0]);
        assert!(!doc.question[doc.len() - 1]);
    }
}

#[cfg(test)]
mod index_tests {
    //! The word index only skips tokens where nothing can start: every
    //! phrase set of the genesis pack finds, on real text in seven
    //! languages, exactly what asking every token finds.
    use super::*;
    use mirror_governance::params::EngineParams;

    const TEXTS: &[&str] = &[
        include_str!("../../eval/train/crisis-en.txt"),
        include_str!("../../eval/train/crisis-fr.txt"),
        include_str!("../../eval/train/crisis-de.txt"),
        include_str!("../../eval/train/crisis-es.txt"),
        include_str!("../../eval/train/crisis-pt.txt"),
        include_str!("../../eval/train/crisis-long.txt"),
    ];

    /// `find_all` as first written: a match tried at every token.
    fn scan(set: &PhraseSet, doc: &Doc, words: &Words) -> Vec<Range<usize>> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < doc.len() {
            match set.longest_at(doc, words, i) {
                Some((_, len)) => {
                    out.push(i..i + len);
                    i += len;
                }
                None => i += 1,
            }
        }
        out
    }

    #[test]
    fn every_phrase_set_finds_what_a_scan_finds() {
        // The pack as the engine reads it: genesis with the floor's rules.
        let params = crate::engine::floor::apply(EngineParams::genesis().unwrap()).unwrap();
        let words = Words::new(&params.words);
        let mut sets: Vec<PhraseSet> = params
            .patterns
            .values()
            .flat_map(|p| p.rules.iter().map(|r| PhraseSet::from_texts(&r.cues)))
            .collect();
        for axis in &params.tensions.axes {
            sets.push(PhraseSet::from_texts(&axis.a.cues));
            sets.push(PhraseSet::from_texts(&axis.b.cues));
        }
        let safety = params.safety.as_ref().expect("a safety section");
        for rules in safety.signals.values() {
            sets.extend(rules.iter().map(|r| PhraseSet::from_texts(&r.cues)));
        }
        for lists in [
            &safety.look_alikes,
            &safety.sentence_look_alikes,
            &safety.acute,
        ] {
            sets.push(PhraseSet::from_texts(
                &lists.values().flatten().cloned().collect::<Vec<_>>(),
            ));
        }
        for lang in params.languages.values() {
            sets.push(PhraseSet::from_texts(&lang.contrast));
            sets.extend(lang.emotions.values().map(|c| PhraseSet::from_texts(c)));
        }
        assert!(sets.len() > 100, "{}", sets.len());
        // Long texts (a whole file) and short ones (each line), so both
        // the index and the scan fallback run.
        let mut docs: Vec<&str> = TEXTS.to_vec();
        docs.extend(TEXTS.iter().flat_map(|t| t.lines().step_by(7)));
        let mut found = 0;
        for text in docs {
            let doc = Doc::new(text);
            for set in &sets {
                let want = scan(set, &doc, &words);
                found += want.len();
                assert_eq!(set.find_all(&doc, &words), want);
                let starts = set.starts(&doc);
                assert!(starts.windows(2).all(|w| w[0] < w[1]));
                for i in 0..doc.len() {
                    if set.longest_at(&doc, &words, i).is_some() {
                        assert!(starts.binary_search(&i).is_ok(), "{i} in {text}");
                    }
                }
            }
        }
        assert!(found > 1000, "{found}");
    }

    #[test]
    fn positions_list_a_word_and_a_stem_in_order() {
        let doc = Doc::new("Plan the plans. A planner plans; the plane plunged.");
        let at = |r: &[u32]| r.iter().map(|&i| i as usize).collect::<Vec<_>>();
        assert_eq!(at(doc.positions("plans")), vec![2, 5]);
        assert_eq!(at(doc.positions("plan")), vec![0]);
        assert!(doc.positions("plank").is_empty());
        let mut stem = at(doc.positions_from("plan"));
        stem.sort_unstable();
        assert_eq!(stem, vec![0, 2, 4, 5, 7]);
    }

    #[test]
    fn sentences_start_at_their_first_token() {
        for text in TEXTS {
            let doc = Doc::new(text);
            for (s, range) in doc.sentences.iter().enumerate() {
                let first = doc.sentence.iter().position(|x| *x == s).unwrap();
                let last = doc.sentence.iter().rposition(|x| *x == s).unwrap();
                assert_eq!(range.start, doc.tokens[first].span.start);
                assert!(range.end >= doc.tokens[last].span.end);
            }
        }
    }
}
