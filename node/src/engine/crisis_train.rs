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
