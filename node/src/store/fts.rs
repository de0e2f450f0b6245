//! Full-text search over reflections: an inverted index of block posting
//! lists in redb, kept up to date in batches.
//!
//! **Layout.** For each term, the ids of the reflections containing it are
//! kept sorted, in blocks of up to [`BLOCK_IDS`] ids; a block's key is
//! `(term, its first id)` and its value the ids as 16-byte big-endian
//! integers. Ids are time-ordered, so new postings almost always append to a
//! term's last block.
//!
//! **Batched upkeep.** Writing a reflection touches no posting list, so a
//! durable write does not pay for dozens of index updates. The index keeps
//! a *watermark*, the highest id it covers: reflections with higher ids
//! (normally every new one, ids being time-ordered) are simply the records
//! above it, and the rare new id at or below it (a clock that went
//! backwards) is queued in a pending table. Before a search reads the
//! index, everything above the watermark and everything pending is indexed
//! together in one transaction, term by term in key order; a bulk import
//! indexes its whole batch the same way. Watermark and queue are durable,
//! so a crash never loses track of what still needs indexing.
//!
//! **Queries.** Words are ANDed. The intersection is a *leapfrog* join:
//! take the newest candidate from one term, seek every other term to the
//! newest id at or below it, and repeat with the smallest id seen until all
//! agree. A seek is one B-tree descent plus a binary search in one block, so
//! a query costs about `results × terms × log(postings)`, whatever the size
//! of the index. A word ending in `*` matches every term with that prefix;
//! those are gathered into a set first and used as a filter.

use std::collections::HashSet;

use mirror_constitution::text;
use redb::{ReadableTable, ReadableTableMetadata, Table, WriteTransaction};
use rustc_hash::FxHashMap;

use super::tables::{FTS_BLOCKS, FTS_PENDING, FTS_STATE, FTS_WATERMARK_KEY, record_table};
use super::{StoreError, codec};
use crate::model::{Record, Reflection};

/// Ids per posting block: 4 KiB of ids, one redb page.
pub const BLOCK_IDS: usize = 256;
const ID_BYTES: usize = 16;

/// One word of a parsed query.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum QueryTerm {
    Exact(String),
    Prefix(String),
    /// A word and its stems in the languages search knows: a reflection
    /// matches with any of them ("herons" finds "heron").
    AnyOf(Vec<String>),
}

/// The languages whose Snowball stemmers search uses: a reflection is
/// stemmed in its own language (detected), a query word in each of these.
const STEMMED: [(whatlang::Lang, rust_stemmers::Algorithm); 7] = [
    (whatlang::Lang::Eng, rust_stemmers::Algorithm::English),
    (whatlang::Lang::Spa, rust_stemmers::Algorithm::Spanish),
    (whatlang::Lang::Fra, rust_stemmers::Algorithm::French),
    (whatlang::Lang::Deu, rust_stemmers::Algorithm::German),
    (whatlang::Lang::Por, rust_stemmers::Algorithm::Portuguese),
    (whatlang::Lang::Ita, rust_stemmers::Algorithm::Italian),
    (whatlang::Lang::Nld, rust_stemmers::Algorithm::Dutch),
];

/// Very common function words of each language in [`STEMMED`] (same
/// order), for [`clear_language`].
const FUNCTION_WORDS: [&[&str]; 7] = [
    &[
        "the", "and", "to", "of", "is", "that", "it", "was", "for", "on", "with", "my", "i", "me",
        "but", "have", "this", "be", "not", "at", "so", "he", "she", "we", "they", "you", "had",
        "just", "what", "when",
    ],
    &[
        "el", "los", "las", "y", "en", "que", "un", "una", "por", "con", "para", "es", "se", "lo",
        "pero", "mi", "muy", "del", "al", "yo", "como", "cuando", "hoy", "estoy", "fue",
    ],
    &[
        "le", "les", "et", "est", "un", "une", "qui", "dans", "pour", "pas", "je", "ne", "ce",
        "il", "elle", "mais", "avec", "du", "des", "au", "suis", "j", "c", "aujourd", "ai",
    ],
    &[
        "der", "die", "das", "und", "ist", "nicht", "ich", "sie", "es", "ein", "eine", "zu", "mit",
        "auf", "den", "dem", "auch", "war", "habe", "heute", "aber", "wie", "mich",
    ],
    &[
        "o", "os", "e", "do", "da", "em", "um", "uma", "para", "com", "não", "é", "eu", "mas",
        "se", "no", "na", "foi", "estou", "hoje", "muito", "meu", "minha",
    ],
    &[
        "il", "di", "che", "è", "un", "una", "per", "non", "sono", "mi", "ma", "con", "del",
        "della", "gli", "ho", "oggi", "io", "nel", "anche", "molto",
    ],
    &[
        "de", "het", "een", "en", "van", "ik", "is", "niet", "dat", "op", "te", "met", "voor",
        "zijn", "maar", "vandaag", "heb", "ook", "naar", "mijn",
    ],
];

/// The language of `head` when its function words leave no doubt (at
/// least four of one language's, and more than twice as many as of any
/// other), else `None`. A few hash lookups a word against whatlang's
/// trigram scoring of seven models, which was half of a large import; it
/// agrees with whatlang on the texts it decides (see the tests).
fn clear_language(head: &str) -> Option<usize> {
    static WORDS: std::sync::OnceLock<FxHashMap<&'static str, u8>> = std::sync::OnceLock::new();
    let words = WORDS.get_or_init(|| {
        let mut map: FxHashMap<&'static str, u8> = FxHashMap::default();
        for (i, list) in FUNCTION_WORDS.iter().enumerate() {
            for w in *list {
                *map.entry(w).or_default() |= 1 << i;
            }
        }
        map
    });
    let mut counts = [0u32; 7];
    let mut lower = String::new();
    for word in head.split(|c: char| !c.is_alphanumeric()) {
        if word.is_empty() || word.len() > 8 {
            continue;
        }
        lower.clear();
        lower.extend(word.chars().flat_map(char::to_lowercase));
        if let Some(&langs) = words.get(lower.as_str()) {
            for (i, count) in counts.iter_mut().enumerate() {
                *count += u32::from((langs >> i) & 1);
            }
        }
    }
    let (best, &top) = counts.iter().enumerate().max_by_key(|(_, c)| **c)?;
    let second = counts
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != best)
        .map(|(_, c)| *c)
        .max()
        .unwrap_or(0);
    (top >= 4 && top > 2 * second).then_some(best)
}

/// The stemmer for a reflection's language, if search knows it. The
/// language is read from the first 300 characters: enough for the
/// trigram model, and the cost stays flat for long entries. A text whose
/// function words make its language clear skips the trigram model.
fn stemmer_for(content: &str) -> Option<(u8, rust_stemmers::Stemmer)> {
    let head = content
        .char_indices()
        .nth(300)
        .map_or(content, |(i, _)| &content[..i]);
    let i = match clear_language(head) {
        Some(i) => i,
        None => {
            let lang = detect_language(head)?;
            STEMMED.iter().position(|(l, _)| *l == lang)?
        }
    };
    Some((i as u8, rust_stemmers::Stemmer::create(STEMMED[i].1)))
}

/// whatlang's answer among the stemmed languages only (it scores far fewer
/// models than with every language of the script).
fn detect_language(head: &str) -> Option<whatlang::Lang> {
    static DETECTOR: std::sync::OnceLock<whatlang::Detector> = std::sync::OnceLock::new();
    DETECTOR
        .get_or_init(|| {
            whatlang::Detector::with_allowlist(STEMMED.iter().map(|(l, _)| *l).collect())
        })
        .detect_lang(head)
}

/// A folded query word with its stems in every language search knows.
fn with_stems(word: String) -> QueryTerm {
    let mut all = vec![word.clone()];
    for (_, algorithm) in STEMMED {
        let stem = rust_stemmers::Stemmer::create(algorithm)
            .stem(&word)
            .into_owned();
        if !stem.is_empty() && !all.contains(&stem) {
            all.push(stem);
        }
    }
    if all.len() == 1 {
        QueryTerm::Exact(word)
    } else {
        all.sort();
        QueryTerm::AnyOf(all)
    }
}

/// A term as the index keeps it: accents folded away (NFD, combining marks
/// dropped), so "vacia" finds "vacía" and "cafe" finds "café". ASCII, most
/// terms, passes through untouched.
pub(crate) fn fold(term: &str) -> std::borrow::Cow<'_, str> {
    use unicode_normalization::UnicodeNormalization;
    use unicode_normalization::char::is_combining_mark;
    if term.is_ascii() {
        return std::borrow::Cow::Borrowed(term);
    }
    std::borrow::Cow::Owned(term.nfd().filter(|c| !is_combining_mark(*c)).collect())
}

/// Stems already computed, by language and folded term: bulk indexing
/// meets the same words again and again.
pub(crate) type StemCache = FxHashMap<(u8, String), String>;

/// Every index term of `content`, folded (see [`fold`]), and its stem in
/// the language of `content` where that differs.
pub(crate) fn for_each_term(content: &str, buf: &mut String, f: impl FnMut(&str)) {
    for_each_term_cached(content, buf, &mut StemCache::default(), f);
}

/// [`for_each_term`] with a cache of stems kept across documents.
pub(crate) fn for_each_term_cached(
    content: &str,
    buf: &mut String,
    cache: &mut StemCache,
    mut f: impl FnMut(&str),
) {
    let stemmer = stemmer_for(content);
    text::for_each_index_term(content, buf, |term| {
        let folded = fold(term);
        f(&folded);
        if let Some((lang, s)) = &stemmer {
            let key = (*lang, folded.into_owned());
            let stem = match cache.get(&key) {
                Some(stem) => stem.as_str(),
                None => {
                    let stem = s.stem(&key.1).into_owned();
                    cache.entry(key.clone()).or_insert(stem).as_str()
                }
            };
            if !stem.is_empty() && stem != key.1 {
                f(stem);
            }
        }
    });
}

/// Parse what a person typed: words are ANDed; `word*` is a prefix.
pub fn parse_query(query: &str) -> Vec<QueryTerm> {
    let mut terms = Vec::new();
    for chunk in query.split_whitespace() {
        let prefix = chunk.ends_with('*');
        let tokens = text::tokenize(chunk);
        let last = tokens.len().saturating_sub(1);
        for (i, token) in tokens.into_iter().enumerate() {
            if prefix && i == last {
                terms.push(QueryTerm::Prefix(fold(&token.norm).into_owned()));
            } else {
                terms.push(with_stems(fold(&token.norm).into_owned()));
            }
        }
    }
    terms.sort();
    terms.dedup();
    terms
}

/// A short passage of `content` around the first word a query matched,
/// every matched word in it marked `**word**`, about `width` characters,
/// with `…` where it was cut.
pub fn snippet(terms: &[QueryTerm], content: &str, width: usize) -> String {
    let tokens = text::tokenize(content);
    let stemmer = stemmer_for(content);
    let hit = |norm: &str| {
        let norm = fold(norm);
        let stem = stemmer.as_ref().map(|(_, s)| s.stem(&norm).into_owned());
        terms.iter().any(|t| match t {
            QueryTerm::Exact(w) => *w == norm || stem.as_deref() == Some(w.as_str()),
            QueryTerm::Prefix(p) => norm.starts_with(p.as_str()),
            QueryTerm::AnyOf(words) => words
                .iter()
                .any(|w| *w == norm || stem.as_deref() == Some(w.as_str())),
        })
    };
    // Start a few words before the first match, and end on a word.
    let hit_at = tokens.iter().position(|t| hit(&t.norm)).unwrap_or(0);
    let first = tokens.get(hit_at).map_or(0, |t| t.span.start);
    let lead = width / 4;
    let mut start = first;
    for t in tokens[..hit_at].iter().rev() {
        if content[t.span.start..first].chars().count() > lead {
            break;
        }
        start = t.span.start;
    }
    if tokens.first().is_some_and(|t| t.span.start == start) {
        start = 0;
    }
    let limit = content[start..]
        .char_indices()
        .nth(width)
        .map_or(content.len(), |(i, _)| start + i);
    let end = if limit == content.len() {
        limit
    } else {
        tokens
            .iter()
            .filter(|t| t.span.end <= limit && t.span.start >= start)
            .map(|t| t.span.end)
            .max()
            .unwrap_or(limit)
    };
    let mut out = String::new();
    if start > 0 {
        out.push('…');
    }
    let mut at = start;
    for t in tokens
        .iter()
        .filter(|t| t.span.start >= start && t.span.end <= end)
    {
        if hit(&t.norm) {
            out.push_str(&content[at..t.span.start]);
            out.push_str("**");
            out.push_str(&content[t.span.clone()]);
            out.push_str("**");
            at = t.span.end;
        }
    }
    out.push_str(&content[at..end]);
    if end < content.len() {
        out.push('…');
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Whether `content` has every term, as the index would find it: the same
/// terms, without the index (for reflections it does not cover yet).
pub(crate) fn matches(terms: &[QueryTerm], content: &str) -> bool {
    if terms.is_empty() {
        return false;
    }
    let mut present: HashSet<String> = HashSet::new();
    let mut buf = String::new();
    for_each_term(content, &mut buf, |term| {
        present.insert(term.to_string());
    });
    terms.iter().all(|t| match t {
        QueryTerm::Exact(word) => present.contains(word),
        QueryTerm::Prefix(prefix) => present.iter().any(|p| p.starts_with(prefix.as_str())),
        QueryTerm::AnyOf(words) => words.iter().any(|w| present.contains(w)),
    })
}

type Blocks<'txn> = Table<'txn, (&'static str, u128), &'static [u8]>;

fn decode_ids(bytes: &[u8]) -> impl DoubleEndedIterator<Item = u128> + '_ {
    bytes
        .chunks_exact(ID_BYTES)
        .map(|c| u128::from_be_bytes(c.try_into().unwrap_or([0; ID_BYTES])))
}

fn encode_ids(ids: &[u128]) -> Vec<u8> {
    let mut out = Vec::with_capacity(ids.len() * ID_BYTES);
    for id in ids {
        out.extend_from_slice(&id.to_be_bytes());
    }
    out
}

/// Write `ids` as fresh blocks of `term`.
fn write_blocks(blocks: &mut Blocks, term: &str, ids: &[u128]) -> Result<(), StoreError> {
    for chunk in ids.chunks(BLOCK_IDS) {
        blocks.insert((term, chunk[0]), encode_ids(chunk).as_slice())?;
    }
    Ok(())
}

/// Merge sorted, deduplicated `new` ids into `term`'s posting list.
fn add_postings(blocks: &mut Blocks, term: &str, new: &[u128]) -> Result<(), StoreError> {
    let Some(&first_new) = new.first() else {
        return Ok(());
    };
    let last = blocks
        .range((term, 0u128)..=(term, u128::MAX))?
        .next_back()
        .transpose()?
        .map(|(k, v)| (k.value().1, decode_ids(v.value()).collect::<Vec<u128>>()));
    match last {
        None => write_blocks(blocks, term, new),
        // The common case: everything new is newer than the list. Top up
        // the last block, then start new ones.
        Some((first_id, mut ids)) if ids.last().is_some_and(|max| *max < first_new) => {
            let room = BLOCK_IDS.saturating_sub(ids.len()).min(new.len());
            if room > 0 {
                ids.extend_from_slice(&new[..room]);
                blocks.insert((term, first_id), encode_ids(&ids).as_slice())?;
            }
            write_blocks(blocks, term, &new[room..])
        }
        // Older ids arriving (an import of old writing into a newer store):
        // rebuild this term's list, merged and deduplicated.
        Some(_) => {
            let mut keys = Vec::new();
            let mut all: Vec<u128> = new.to_vec();
            for entry in blocks.range((term, 0u128)..=(term, u128::MAX))? {
                let (k, v) = entry?;
                keys.push(k.value().1);
                all.extend(decode_ids(v.value()));
            }
            for key in keys {
                blocks.remove((term, key))?;
            }
            all.sort_unstable();
            all.dedup();
            write_blocks(blocks, term, &all)
        }
    }
}

/// Postings of many documents, grouped by term.
pub(crate) type Postings = FxHashMap<String, Vec<u128>>;

/// Group the postings of many documents by term. Tokenising is most of the
/// cost of indexing, so large batches are split across the cores. Pure
/// computation: callers may run it beside a transaction.
pub(crate) fn group_terms(docs: &[(u128, &str)]) -> Postings {
    fn group(docs: &[(u128, &str)]) -> FxHashMap<String, Vec<u128>> {
        let mut by_term: FxHashMap<String, Vec<u128>> = FxHashMap::default();
        let mut buf = String::new();
        let mut stems = StemCache::default();
        for &(id, content) in docs {
            for_each_term_cached(content, &mut buf, &mut stems, |term| {
                match by_term.get_mut(term) {
                    // A term repeated within one document is posted once.
                    Some(ids) if ids.last() == Some(&id) => {}
                    Some(ids) => ids.push(id),
                    None => {
                        by_term.insert(term.to_string(), vec![id]);
                    }
                }
            });
        }
        by_term
    }
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
    if workers < 2 || docs.len() < 2048 {
        return group(docs);
    }
    let chunk = docs.len().div_ceil(workers);
    let parts: Vec<FxHashMap<String, Vec<u128>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = docs
            .chunks(chunk)
            .map(|part| scope.spawn(move || group(part)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    // Merge in document order, so lists of documents given in id order stay
    // sorted.
    let mut parts = parts.into_iter();
    let mut merged = parts.next().unwrap_or_default();
    for part in parts {
        for (term, ids) in part {
            merged.entry(term).or_default().extend(ids);
        }
    }
    merged
}

/// Index many reflections at once: group postings by term, then write each
/// term's list once, in key order.
pub(crate) fn index_many(blocks: &mut Blocks, docs: &[(u128, &str)]) -> Result<usize, StoreError> {
    write_postings(blocks, group_terms(docs))?;
    Ok(docs.len())
}

/// Merge grouped postings into the index, term by term in key order.
pub(crate) fn write_postings(blocks: &mut Blocks, postings: Postings) -> Result<(), StoreError> {
    let mut by_term: Vec<(String, Vec<u128>)> = postings.into_iter().collect();
    by_term.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    for (term, mut ids) in by_term {
        if !ids.is_sorted_by(|a, b| a < b) {
            ids.sort_unstable();
            ids.dedup();
        }
        add_postings(blocks, &term, &ids)?;
    }
    Ok(())
}

/// The highest reflection id the index covers (0 for none).
pub(crate) fn watermark(txn: &impl WatermarkSource) -> Result<u128, StoreError> {
    txn.watermark()
}

/// Reading the watermark from read and write transactions alike.
pub(crate) trait WatermarkSource {
    fn watermark(&self) -> Result<u128, StoreError>;
}

impl WatermarkSource for WriteTransaction {
    fn watermark(&self) -> Result<u128, StoreError> {
        Ok(self
            .open_table(FTS_STATE)?
            .get(FTS_WATERMARK_KEY)?
            .map_or(0, |v| v.value()))
    }
}

impl WatermarkSource for redb::ReadTransaction {
    fn watermark(&self) -> Result<u128, StoreError> {
        Ok(self
            .open_table(FTS_STATE)?
            .get(FTS_WATERMARK_KEY)?
            .map_or(0, |v| v.value()))
    }
}

/// Whether anything awaits indexing.
pub(crate) fn has_pending(txn: &redb::ReadTransaction) -> Result<bool, StoreError> {
    let mark = txn.watermark()?;
    let records = txn.open_table(record_table(Reflection::TABLE))?;
    let above = match mark.checked_add(1) {
        Some(next) => records.range(next..)?.next().is_some(),
        None => false,
    };
    Ok(above || !txn.open_table(FTS_PENDING)?.is_empty()?)
}

/// Move the watermark to the newest reflection, once everything up to it is
/// indexed.
pub(crate) fn advance_watermark(txn: &WriteTransaction) -> Result<(), StoreError> {
    let records = txn.open_table(record_table(Reflection::TABLE))?;
    let newest = records.last()?.map_or(0, |(k, _)| k.value());
    if newest > watermark(txn)? {
        txn.open_table(FTS_STATE)?
            .insert(FTS_WATERMARK_KEY, newest)?;
    }
    Ok(())
}

/// Index everything above the watermark and everything pending, then move
/// the watermark up and clear the queue, in `txn`. Returns how many
/// reflections were indexed.
pub(crate) fn catch_up(txn: &WriteTransaction) -> Result<usize, StoreError> {
    let mark = watermark(txn)?;
    let records = txn.open_table(record_table(Reflection::TABLE))?;
    let mut pending = txn.open_table(FTS_PENDING)?;
    let mut docs = Vec::new();
    if let Some(next) = mark.checked_add(1) {
        for entry in records.range(next..)? {
            let (key, value) = entry?;
            let reflection: Reflection = codec::decode(value.value())?;
            docs.push((key.value(), reflection.content));
        }
    }
    for entry in pending.iter()? {
        let id = entry?.0.value();
        if let Some(value) = records.get(id)? {
            let reflection: Reflection = codec::decode(value.value())?;
            docs.push((id, reflection.content));
        }
    }
    drop(records);
    if docs.is_empty() {
        return Ok(0);
    }
    let mut blocks = txn.open_table(FTS_BLOCKS)?;
    let docs: Vec<(u128, &str)> = docs.iter().map(|(id, c)| (*id, c.as_str())).collect();
    let n = index_many(&mut blocks, &docs)?;
    pending.retain(|_, _| false)?;
    drop(pending);
    advance_watermark(txn)?;
    Ok(n)
}

/// Take reflection `id` out of the index: out of the posting list of every
/// term of `content` (the text it was indexed with) and out of the queue.
/// For a reflection deleted, or edited (its new text is queued after).
/// Costs one block per term of the text, whatever the size of the index.
pub(crate) fn unindex(txn: &WriteTransaction, id: u128, content: &str) -> Result<(), StoreError> {
    txn.open_table(FTS_PENDING)?.remove(id)?;
    let mut terms: HashSet<String> = HashSet::new();
    let mut buf = String::new();
    for_each_term(content, &mut buf, |term| {
        if !terms.contains(term) {
            terms.insert(term.to_string());
        }
    });
    let mut blocks = txn.open_table(FTS_BLOCKS)?;
    for term in &terms {
        let term = term.as_str();
        let block = blocks
            .range((term, 0u128)..=(term, id))?
            .next_back()
            .transpose()?
            .map(|(k, v)| (k.value().1, decode_ids(v.value()).collect::<Vec<u128>>()));
        let Some((first, mut ids)) = block else {
            continue;
        };
        let Ok(at) = ids.binary_search(&id) else {
            continue;
        };
        ids.remove(at);
        blocks.remove((term, first))?;
        if let Some(&new_first) = ids.first() {
            blocks.insert((term, new_first), encode_ids(&ids).as_slice())?;
        }
    }
    Ok(())
}

/// Queue reflection `id` to be indexed again (its text changed). One above
/// the watermark is indexed by the next catch-up anyway.
pub(crate) fn requeue(txn: &WriteTransaction, id: u128) -> Result<(), StoreError> {
    if id <= watermark(txn)? {
        txn.open_table(FTS_PENDING)?.insert(id, ())?;
    }
    Ok(())
}

/// The newest id ≤ `at_most` that has `term`, if any.
fn seek(
    blocks: &impl ReadableTable<(&'static str, u128), &'static [u8]>,
    term: &str,
    at_most: u128,
) -> Result<Option<u128>, StoreError> {
    let Some(entry) = blocks.range((term, 0u128)..=(term, at_most))?.next_back() else {
        return Ok(None);
    };
    let (_, value) = entry?;
    let bytes = value.value();
    // The block starts at or below `at_most`; find the last id ≤ at_most.
    let count = bytes.len() / ID_BYTES;
    let id_at = |i: usize| {
        u128::from_be_bytes(
            bytes[i * ID_BYTES..(i + 1) * ID_BYTES]
                .try_into()
                .unwrap_or([0; ID_BYTES]),
        )
    };
    let (mut lo, mut hi) = (0usize, count);
    while lo < hi {
        let mid = (lo + hi) / 2;
        if id_at(mid) <= at_most {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    Ok(lo.checked_sub(1).map(id_at))
}

fn prefix_ids(
    blocks: &impl ReadableTable<(&'static str, u128), &'static [u8]>,
    prefix: &str,
) -> Result<HashSet<u128>, StoreError> {
    let mut ids = HashSet::new();
    for entry in blocks.range((prefix, 0u128)..)? {
        let (key, value) = entry?;
        if !key.value().0.starts_with(prefix) {
            break;
        }
        ids.extend(decode_ids(value.value()));
    }
    Ok(ids)
}

/// The newest id ≤ `at_most` that has any of `words` (a word and its
/// stems): one seek per alternative, so a stemmed word costs a few seeks,
/// not a walk of its postings.
fn seek_any(
    blocks: &impl ReadableTable<(&'static str, u128), &'static [u8]>,
    words: &[&str],
    at_most: u128,
) -> Result<Option<u128>, StoreError> {
    let mut best = None;
    for w in words {
        if let Some(id) = seek(blocks, w, at_most)? {
            best = best.max(Some(id));
        }
    }
    Ok(best)
}

/// Ids of reflections containing every term, newest first, as many as
/// `accept` keeps (it sees each candidate and says whether it counts) up to
/// `limit`.
pub(crate) fn search(
    blocks: &impl ReadableTable<(&'static str, u128), &'static [u8]>,
    terms: &[QueryTerm],
    limit: usize,
    mut accept: impl FnMut(u128) -> Result<bool, StoreError>,
) -> Result<Vec<u128>, StoreError> {
    // Words (each with its stems as alternatives) are intersected by
    // leapfrog; prefixes are sets of ids, used as filters.
    let exact: Vec<Vec<&str>> = terms
        .iter()
        .filter_map(|t| match t {
            QueryTerm::Exact(s) => Some(vec![s.as_str()]),
            QueryTerm::AnyOf(words) => Some(words.iter().map(String::as_str).collect()),
            QueryTerm::Prefix(_) => None,
        })
        .collect();
    let prefix_sets = terms
        .iter()
        .filter_map(|t| match t {
            QueryTerm::Prefix(p) => Some(prefix_ids(blocks, p)),
            _ => None,
        })
        .collect::<Result<Vec<_>, _>>()?;
    let in_prefix_sets = |id: u128| prefix_sets.iter().all(|set| set.contains(&id));

    let mut found = Vec::new();
    if limit == 0 || terms.is_empty() {
        return Ok(found);
    }

    if exact.is_empty() {
        // Only prefixes: walk the smallest set, newest first.
        let Some(smallest) = prefix_sets.iter().min_by_key(|s| s.len()) else {
            return Ok(found);
        };
        let mut ids: Vec<u128> = smallest
            .iter()
            .copied()
            .filter(|id| in_prefix_sets(*id))
            .collect();
        ids.sort_unstable_by(|a, b| b.cmp(a));
        for id in ids {
            if accept(id)? {
                found.push(id);
                if found.len() == limit {
                    break;
                }
            }
        }
        return Ok(found);
    }

    // Leapfrog intersection of the exact terms, from the newest id down.
    let mut upper = u128::MAX;
    'candidates: loop {
        let mut candidate = match seek_any(blocks, &exact[0], upper)? {
            Some(id) => id,
            None => break,
        };
        let mut agreed = 1;
        let mut i = 1 % exact.len();
        while agreed < exact.len() {
            match seek_any(blocks, &exact[i], candidate)? {
                None => break 'candidates,
                Some(id) if id == candidate => agreed += 1,
                Some(id) => {
                    candidate = id;
                    agreed = 1;
                }
            }
            i = (i + 1) % exact.len();
        }
        if in_prefix_sets(candidate) && accept(candidate)? {
            found.push(candidate);
            if found.len() == limit {
                break;
            }
        }
        if candidate == 0 {
            break;
        }
        upper = candidate - 1;
    }
    Ok(found)
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_snippet_marks_the_matched_words_and_cuts_on_words() {
        let terms = parse_query("heron shallow*");
        let text = "This morning I went down to the river before work and there it was again, the heron, standing perfectly still in the shallows while the light came up.";
        let s = snippet(&terms, text, 60);
        assert!(s.starts_with('…') && s.ends_with('…'), "{s}");
        assert!(s.contains("**heron**"), "{s}");
        assert!(snippet(&terms, "A heron.", 60) == "A **heron**.");
    }

    use super::*;
    use redb::{Database, ReadableDatabase};

    #[test]
    fn query_words_and_prefixes() {
        let terms = parse_query("Mum’s  garden*");
        assert_eq!(terms.len(), 2, "{terms:?}");
        assert!(
            terms.iter().any(|t| matches!(t, QueryTerm::AnyOf(w) if w.contains(&"mum's".to_string()) && w.contains(&"mum".to_string()))),
            "{terms:?}"
        );
        assert!(terms.contains(&QueryTerm::Prefix("garden".into())));
        // A word no stemmer changes stays exact (the fast path).
        assert_eq!(parse_query("the"), vec![QueryTerm::Exact("the".into())]);
        assert!(parse_query("  ... ").is_empty());
    }

    #[test]
    fn blocks_split_append_and_merge_out_of_order_ids() {
        let db = Database::builder()
            .create_with_backend(redb::backends::InMemoryBackend::new())
            .unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut blocks = txn.open_table(FTS_BLOCKS).unwrap();
            let evens: Vec<u128> = (0..600).map(|i| i * 2 + 10).collect();
            add_postings(&mut blocks, "sea", &evens[..300]).unwrap();
            add_postings(&mut blocks, "sea", &evens[300..]).unwrap();
            // Older ids arrive later, with duplicates.
            let odds: Vec<u128> = (0..50).map(|i| i * 2 + 11).chain([10, 12]).collect();
            let mut odds = odds;
            odds.sort_unstable();
            odds.dedup();
            add_postings(&mut blocks, "sea", &odds).unwrap();
        }
        txn.commit().unwrap();
        let read = db.begin_read().unwrap();
        let blocks = read.open_table(FTS_BLOCKS).unwrap();
        let mut all = Vec::new();
        for entry in blocks.range(("sea", 0u128)..=("sea", u128::MAX)).unwrap() {
            let (k, v) = entry.unwrap();
            let ids: Vec<u128> = decode_ids(v.value()).collect();
            assert_eq!(k.value().1, ids[0], "a block's key is its first id");
            assert!(ids.len() <= BLOCK_IDS);
            all.extend(ids);
        }
        assert_eq!(all.len(), 650);
        assert!(all.windows(2).all(|w| w[0] < w[1]), "sorted and unique");
        assert_eq!(seek(&blocks, "sea", 11).unwrap(), Some(11));
        assert_eq!(seek(&blocks, "sea", 9).unwrap(), None);
        assert_eq!(seek(&blocks, "sea", u128::MAX).unwrap(), Some(599 * 2 + 10));
        assert_eq!(seek(&blocks, "salt", u128::MAX).unwrap(), None);
    }

    /// The function-word shortcut on the crisis corpus (short first-person
    /// texts like journal entries, one file a language): where it decides,
    /// it names the file's language. (On the same lines whatlang is wrong
    /// about 7 of the ~500 it decides, reading English as Dutch or German.)
    #[test]
    fn clear_languages_are_the_texts_languages() {
        let corpus = [
            (0, include_str!("../../eval/train/crisis-en.txt")),
            (1, include_str!("../../eval/train/crisis-es.txt")),
            (2, include_str!("../../eval/train/crisis-fr.txt")),
            (3, include_str!("../../eval/train/crisis-de.txt")),
            (4, include_str!("../../eval/train/crisis-pt.txt")),
            (5, include_str!("../../eval/train/crisis-it.txt")),
            (6, include_str!("../../eval/train/crisis-nl.txt")),
        ];
        let (mut decided, mut right, mut total) = (0, 0, 0);
        for (lang, text) in corpus {
            for line in text.lines() {
                let text = line.trim().trim_start_matches(['+', '-']).trim();
                if text.is_empty() || line.starts_with('#') {
                    continue;
                }
                total += 1;
                if let Some(i) = clear_language(text) {
                    decided += 1;
                    right += usize::from(i == lang);
                    assert_eq!(i, lang, "{text}");
                }
            }
        }
        assert!(decided * 5 > total * 2, "decided {decided} of {total}");
        assert_eq!(right, decided);
    }
}
