//! Several logistic regressions over one shared list of sparse word
//! features, stored as the build wrote them and read in place: the
//! built-in tension model ([`super::tension_model`], one regression per
//! axis) and feeling model ([`super::feeling_model`], one per family).
//!
//! Layout (written by `node/build.rs`, `write_linear`):
//! * `<name>_features.txt`: the features ([`super::crisis_model`]'s words,
//!   word pairs and prefixes), one a line, in byte order;
//! * `<name>_weights.bin`: for each feature, one weight per output, as
//!   little-endian `f64`s;
//! * `<name>_bias.bin`: one bias per output.
//!
//! Why bytes: as a Rust table of `(&str, f64)` the tension model alone was
//! 80 MB of source, and its pointers, relocated when the binary loads, cost
//! every command 16 MB of memory whether it read an entry or not.
//!
//! Invariant: a text's score sums its features' weights in row order, as
//! training summed them, so the built model and one trained again agree bit
//! for bit (each model's test checks it).
//!
//! Cost model: building the index is one hash insert per feature, once per
//! process; scoring is one hash lookup per feature of the text (about three
//! per word) and one add per output for each feature found.

use std::borrow::Cow;

use rustc_hash::FxHashMap;

use super::crisis_model::{fit, pack, rows_of, sigmoid, texts_per_feature};

/// Several regressions over one feature list (see the module doc).
#[derive(Debug, Clone, PartialEq)]
pub struct Linear {
    /// Feature → its row in `weights`.
    index: FxHashMap<Cow<'static, str>, u32>,
    /// One row of `bias.len()` little-endian `f64`s per feature.
    weights: Cow<'static, [u8]>,
    bias: Vec<f64>,
}

impl Linear {
    /// One regression per output, each fitted on `data`: a text and, for
    /// each output, whether the text has it. Features seen in fewer than
    /// `min_texts` texts are dropped after fitting (a word met once says
    /// more about its writer than about the output, and costs every binary
    /// its row).
    pub fn train(outputs: usize, data: &[(Vec<bool>, &str)], min_texts: usize) -> Linear {
        let models: Vec<(Vec<(String, f64)>, f64)> = (0..outputs)
            .map(|o| fit(data.iter().map(|(has, text)| (has[o], *text))))
            .collect();
        let seen = texts_per_feature(data.iter().map(|(_, t)| *t));
        let (features, weights, bias) =
            pack(models, |f| seen.get(f).copied().unwrap_or(0) >= min_texts);
        Linear::with(
            features.into_iter().map(Cow::Owned).collect(),
            Cow::Owned(weights),
            bias,
        )
    }

    /// The model the build wrote (see the module doc).
    pub fn from_built(features: &'static str, weights: &'static [u8], bias: &[u8]) -> Linear {
        let bias = bias.chunks_exact(8).map(le_f64).collect();
        Linear::with(
            features.split('\n').map(Cow::Borrowed).collect(),
            Cow::Borrowed(weights),
            bias,
        )
    }

    fn with(
        features: Vec<Cow<'static, str>>,
        weights: Cow<'static, [u8]>,
        bias: Vec<f64>,
    ) -> Linear {
        let index = features
            .into_iter()
            .enumerate()
            .map(|(i, f)| (f, i as u32))
            .collect();
        Linear {
            index,
            weights,
            bias,
        }
    }

    /// How many outputs the model has.
    pub fn outputs(&self) -> usize {
        self.bias.len()
    }

    /// How many features it keeps.
    pub fn features(&self) -> usize {
        self.index.len()
    }

    fn weight(&self, row: u32, output: usize) -> f64 {
        let at = (row as usize * self.bias.len() + output) * 8;
        le_f64(&self.weights[at..at + 8])
    }

    /// Each output's probability for `text` read whole.
    pub fn scores(&self, text: &str) -> Vec<f64> {
        let mut z = self.bias.clone();
        for row in rows_of(&self.index, text) {
            for (output, z) in z.iter_mut().enumerate() {
                *z += self.weight(row, output);
            }
        }
        z.into_iter().map(sigmoid).collect()
    }
}

fn le_f64(bytes: &[u8]) -> f64 {
    let mut raw = [0u8; 8];
    raw.copy_from_slice(bytes);
    f64::from_le_bytes(raw)
}
