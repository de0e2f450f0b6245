//! Training the crisis scorer: shared by the crate (tests, and anyone who
//! trains on another corpus) and by `node/build.rs`, which trains on the
//! built-in corpus once at build time so a command pays nothing for it.
//!
//! This file is included by path from both places, so it names only its
//! parent's `tokenize` and the standard library.

use std::collections::HashMap;

use super::tokenize;

/// Gradient-descent settings, chosen on the training corpus alone (they
/// fit it without memorising single words; see BENCHMARKS.md).
pub const EPOCHS: usize = 200;
pub const LEARNING_RATE: f64 = 2.0;
pub const L2: f64 = 1e-3;

/// The features of a text: distinct unigrams, bigrams and prefixes.
pub fn features(text: &str) -> Vec<String> {
    let words: Vec<String> = tokenize(text).into_iter().map(|t| t.norm).collect();
    let mut out = Vec::with_capacity(words.len() * 3);
    for (i, w) in words.iter().enumerate() {
        out.push(format!("u:{w}"));
        if w.chars().count() > 5 {
            out.push(format!("p:{}", w.chars().take(5).collect::<String>()));
        }
        if let Some(next) = words.get(i + 1) {
            out.push(format!("b:{w} {next}"));
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// The labelled lines of a corpus file: `+ text` (acute risk) or `- text`
/// (a look-alike or an ordinary entry); `#` starts a comment.
pub fn examples(corpus: &str) -> impl Iterator<Item = (bool, &str)> {
    corpus.lines().filter_map(|line| {
        let line = line.trim();
        let (label, text) = line.split_at_checked(1)?;
        match label {
            "+" => Some((true, text.trim())),
            "-" => Some((false, text.trim())),
            _ => None,
        }
    })
}

/// Sentences a window of a long ordinary entry holds, as the crisis check
/// reads a long entry (`safety::SCORE_WINDOW`).
pub const WINDOW_SENTENCES: usize = 3;

/// The examples of the long-entry corpus as the long scorer learns them:
/// an ordinary entry (`-`) cut into windows of [`WINDOW_SENTENCES`]
/// sentences, since the check reads a long entry window by window and
/// every window of an ordinary entry is ordinary; an entry with acute risk
/// (`+`) whole, since which of its windows holds the risk is not marked.
pub fn long_examples(corpus: &str) -> Vec<(bool, &str)> {
    let mut out = Vec::new();
    for (label, text) in examples(corpus) {
        if label {
            out.push((label, text));
            continue;
        }
        out.extend(windows(text).into_iter().map(|w| (false, w)));
    }
    out
}

/// An ordinary entry cut into windows of [`WINDOW_SENTENCES`] sentences,
/// as the check reads a long entry: every window of an ordinary entry is
/// ordinary.
pub fn windows(text: &str) -> Vec<&str> {
    sentences(text)
        .chunks(WINDOW_SENTENCES)
        .filter_map(|chunk| Some(text[chunk.first()?.0..chunk.last()?.1].trim()))
        .collect()
}

/// The examples the everyday gate learns: every entry with acute risk
/// (`+`) in `corpora` and `everyday` against the ordinary days (`-`) of
/// `everyday` alone. The look-alikes of the other corpora are left out: the
/// gate tells risk from an ordinary evening, and the scorers already tell
/// it from its look-alikes.
pub fn gate_examples<'a>(corpora: &[&'a str], everyday: &'a str) -> Vec<(bool, &'a str)> {
    corpora
        .iter()
        .flat_map(|c| examples(c).filter(|e| e.0))
        .chain(examples(everyday))
        .collect()
}

/// Byte ranges of the sentences of `text`: ended by `.`, `!`, `?` or `…`
/// before whitespace. Plainer than the engine's own splitter, which this
/// file (shared with the build script) cannot name; a window here only
/// needs to be a few sentences long.
fn sentences(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let ends = matches!(c, '.' | '!' | '?' | '…')
            && chars.peek().is_some_and(|(_, n)| n.is_whitespace());
        if ends {
            let end = i + c.len_utf8();
            if !text[start..end].trim().is_empty() {
                out.push((start, end));
            }
            start = end;
        }
    }
    if !text[start..].trim().is_empty() {
        out.push((start, text.len()));
    }
    out
}

pub fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// A logistic regression over sparse binary features, trained by
/// deterministic full-batch gradient descent (the same corpus always gives
/// the same weights, bit for bit). Returns the weights sorted by feature
/// (byte order, for a binary search) and the bias.
pub fn train<'a>(data: impl IntoIterator<Item = (bool, &'a str)>) -> (Vec<(String, f64)>, f64) {
    let mut index: HashMap<String, usize> = HashMap::new();
    let rows: Vec<(f64, Vec<usize>)> = data
        .into_iter()
        .map(|(label, text)| {
            let ids = features(text)
                .into_iter()
                .map(|f| {
                    let next = index.len();
                    *index.entry(f).or_insert(next)
                })
                .collect();
            (if label { 1.0 } else { 0.0 }, ids)
        })
        .collect();
    let mut weights = vec![0.0; index.len()];
    let mut bias = 0.0;
    let n = rows.len().max(1) as f64;
    let mut grad = vec![0.0; weights.len()];
    for _ in 0..EPOCHS {
        grad.iter_mut().for_each(|g| *g = 0.0);
        let mut grad_bias = 0.0;
        for (y, ids) in &rows {
            let z = bias + ids.iter().map(|&k| weights[k]).sum::<f64>();
            let g = sigmoid(z) - y;
            grad_bias += g;
            for &k in ids {
                grad[k] += g;
            }
        }
        bias -= LEARNING_RATE * grad_bias / n;
        for (w, g) in weights.iter_mut().zip(&grad) {
            *w -= LEARNING_RATE * (g / n + L2 * *w);
        }
    }
    let mut sorted: Vec<(String, f64)> = index.into_iter().map(|(f, k)| (f, weights[k])).collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    (sorted, bias)
}

/// In how many of `texts` each feature appears.
pub fn texts_per_feature<'a>(texts: impl Iterator<Item = &'a str>) -> HashMap<String, usize> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    for text in texts {
        for f in features(text) {
            *seen.entry(f).or_insert(0) += 1;
        }
    }
    seen
}

/// Regressions fitted by [`train`] on the same texts (so with the same
/// features, in byte order) as the build writes them for `linear.rs`: the
/// features `keep` keeps, a row of one little-endian `f64` weight per
/// regression for each, and the biases.
pub fn pack(
    models: Vec<(Vec<(String, f64)>, f64)>,
    keep: impl Fn(&str) -> bool,
) -> (Vec<String>, Vec<u8>, Vec<f64>) {
    let bias: Vec<f64> = models.iter().map(|(_, b)| *b).collect();
    let rows = models.first().map_or(0, |(w, _)| w.len());
    let mut features = Vec::new();
    let mut weights = Vec::with_capacity(rows * models.len() * 8);
    for row in 0..rows {
        let feature = &models[0].0[row].0;
        if !keep(feature) {
            continue;
        }
        for (w, _) in &models {
            assert_eq!(&w[row].0, feature, "every regression has the same features");
            weights.extend_from_slice(&w[row].1.to_le_bytes());
        }
        features.push(feature.clone());
    }
    (features, weights, bias)
}
