//! Tags: `#word` in a reflection's text, and the ones given with `--tag`
//! (kept in its metadata under `tags`). Lowercase, letters, digits, `_` and
//! `-`, as a journal writer types them (`#work`, `#año-nuevo`).

use super::Reflection;

/// One tag as it is indexed: without the `#`, lowercase. `None` for text
/// that is not a tag (empty, or starting with a digit, like `#1`).
pub fn normalise(text: &str) -> Option<String> {
    let word = text.strip_prefix('#').unwrap_or(text);
    let tag: String = word
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '-')
        .flat_map(char::to_lowercase)
        .collect();
    let tag = tag.trim_end_matches(['-', '_']).to_string();
    let first = tag.chars().next()?;
    if first.is_numeric() || tag.len() > 64 {
        return None;
    }
    Some(tag)
}

/// The tags of a text: each `#word` that starts a word.
pub fn in_text(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut previous = ' ';
    for (i, c) in text.char_indices() {
        if c == '#'
            && (previous.is_whitespace() || matches!(previous, '(' | '[' | '"' | '\''))
            && let Some(tag) = normalise(&text[i..])
            && !out.contains(&tag)
        {
            out.push(tag);
        }
        previous = c;
    }
    out
}

/// Every tag of a reflection: from its text and its metadata, once each.
pub fn of(reflection: &Reflection) -> Vec<String> {
    let mut out = in_text(&reflection.content);
    if let Some(list) = reflection.metadata.0.get("tags").and_then(|v| v.as_array()) {
        for tag in list.iter().filter_map(|v| v.as_str()).filter_map(normalise) {
            if !out.contains(&tag) {
                out.push(tag);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_words_are_tags() {
        assert_eq!(
            in_text(
                "#Work was long. Dinner with (#family) and #año-nuevo plans, issue #12, a#b, #"
            ),
            vec!["work", "family", "año-nuevo"]
        );
        assert_eq!(normalise("#Work!"), Some("work".into()));
        assert_eq!(normalise("#"), None);
        assert_eq!(normalise("#2026"), None);
    }
}
