//! Full-text search over reflections: an inverted index in one redb table.
//!
//! Each posting is a key `(term, reflection id)` with no value. Because ids
//! are time-ordered, a term's postings are already sorted newest-last, and a
//! query that needs every term (AND) is a *leapfrog* intersection: take the
//! newest candidate from one term, seek every other term to the newest id at
//! or below it, and repeat with the smallest id seen until all agree. Each
//! seek is one B-tree descent, so a query costs about
//! `results × terms × log(postings)` whatever the size of the index, which is
//! what keeps it in single-digit milliseconds at 100k reflections.
//!
//! A query word ending in `*` matches every term with that prefix; those
//! words are gathered into a set first and used as a filter.

use std::collections::HashSet;

use mirror_constitution::text;
use redb::{ReadableTable, Table};

use super::StoreError;

/// One word of a parsed query.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum QueryTerm {
    Exact(String),
    Prefix(String),
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
                terms.push(QueryTerm::Prefix(token.norm));
            } else {
                terms.push(QueryTerm::Exact(token.norm));
            }
        }
    }
    terms.sort();
    terms.dedup();
    terms
}

pub(crate) fn index(
    postings: &mut Table<(&str, u128), ()>,
    id: u128,
    content: &str,
) -> Result<(), StoreError> {
    for term in text::index_terms(content) {
        postings.insert((term.as_str(), id), ())?;
    }
    Ok(())
}

/// The newest id ≤ `at_most` that has `term`, if any.
fn seek(
    postings: &impl ReadableTable<(&'static str, u128), ()>,
    term: &str,
    at_most: u128,
) -> Result<Option<u128>, StoreError> {
    let mut range = postings.range((term, 0u128)..=(term, at_most))?;
    match range.next_back() {
        Some(entry) => Ok(Some(entry?.0.value().1)),
        None => Ok(None),
    }
}

fn prefix_ids(
    postings: &impl ReadableTable<(&'static str, u128), ()>,
    prefix: &str,
) -> Result<HashSet<u128>, StoreError> {
    let mut ids = HashSet::new();
    for entry in postings.range((prefix, 0u128)..)? {
        let (key, _) = entry?;
        let (term, id) = key.value();
        if !term.starts_with(prefix) {
            break;
        }
        ids.insert(id);
    }
    Ok(ids)
}

/// Ids of reflections containing every term, newest first, as many as
/// `accept` keeps (it sees each candidate and says whether it counts) up to
/// `limit`.
pub(crate) fn search(
    postings: &impl ReadableTable<(&'static str, u128), ()>,
    terms: &[QueryTerm],
    limit: usize,
    mut accept: impl FnMut(u128) -> Result<bool, StoreError>,
) -> Result<Vec<u128>, StoreError> {
    let exact: Vec<&str> = terms
        .iter()
        .filter_map(|t| match t {
            QueryTerm::Exact(s) => Some(s.as_str()),
            QueryTerm::Prefix(_) => None,
        })
        .collect();
    let prefix_sets = terms
        .iter()
        .filter_map(|t| match t {
            QueryTerm::Prefix(p) => Some(prefix_ids(postings, p)),
            QueryTerm::Exact(_) => None,
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
        let mut candidate = match seek(postings, exact[0], upper)? {
            Some(id) => id,
            None => break,
        };
        let mut agreed = 1;
        let mut i = 1 % exact.len();
        while agreed < exact.len() {
            match seek(postings, exact[i], candidate)? {
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
    use super::*;

    #[test]
    fn query_words_and_prefixes() {
        assert_eq!(
            parse_query("Mum’s  garden*"),
            vec![
                QueryTerm::Exact("mum's".into()),
                QueryTerm::Prefix("garden".into())
            ]
        );
        assert!(parse_query("  ... ").is_empty());
    }
}
