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
//! Invariant: training is deterministic (full-batch gradient descent over
//! the corpus in a fixed order), so the built model and one trained again
//! hold the same features, weights and biases bit for bit (each model's
//! test checks it). A text's score is its bias plus the sum, from zero and
//! in row order, of its features' weights.
//!
//! Cost model: building the index is one hash insert per feature, once per
//! process; scoring is one hash lookup per feature of the text (about three
//! per word) and one add per output for each feature found.

use std::borrow::Cow;

use rustc_hash::FxHashMap;

use super::crisis_model::{fit, pack, rows_of, sigmoid, texts_per_feature};

/// The model `node/build.rs` wrote as `$name` (see the module doc), read
/// in place from the binary: `built_linear!("tension")`.
macro_rules! built_linear {
    ($name:literal) => {
        $crate::engine::linear::Linear::from_built(
            include_str!(concat!(env!("OUT_DIR"), "/", $name, "_features.txt")),
            include_bytes!(concat!(env!("OUT_DIR"), "/", $name, "_weights.bin")),
            include_bytes!(concat!(env!("OUT_DIR"), "/", $name, "_bias.bin")),
        )
    };
}
pub(crate) use built_linear;

/// Several regressions over one feature list (see the module doc).
#[derive(Debug, Clone)]
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
        let seen = if min_texts > 1 {
            texts_per_feature(data.iter().map(|(_, t)| *t))
        } else {
            Default::default()
        };
        let (features, weights, bias) = pack(models, |f| {
            min_texts <= 1 || seen.get(f).copied().unwrap_or(0) >= min_texts
        });
        Linear::with(
            features.into_iter().map(Cow::Owned).collect(),
            Cow::Owned(weights),
            bias,
        )
    }

    /// The model the build wrote (see the module doc).
    ///
    /// # Panics
    /// If the three parts do not fit together: the build wrote them, so
    /// that is a broken build, found when the model is first built.
    pub fn from_built(features: &'static str, weights: &'static [u8], bias: &[u8]) -> Linear {
        assert_eq!(bias.len() % 8, 0, "a model's biases are whole f64s");
        let bias = bias.chunks_exact(8).map(le_f64).collect();
        let features = if features.is_empty() {
            Vec::new()
        } else {
            features.split('\n').map(Cow::Borrowed).collect()
        };
        Linear::with(features, Cow::Borrowed(weights), bias)
    }

    fn with(
        features: Vec<Cow<'static, str>>,
        weights: Cow<'static, [u8]>,
        bias: Vec<f64>,
    ) -> Linear {
        assert_eq!(
            weights.len(),
            features.len() * bias.len() * 8,
            "a row of weights for every feature"
        );
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
        self.read(text).0
    }

    /// [`Linear::scores`], and how many of the model's features `text`
    /// holds (how much of it the model could read).
    pub fn read(&self, text: &str) -> (Vec<f64>, usize) {
        let rows = rows_of(&self.index, text);
        let mut z = vec![0.0; self.bias.len()];
        for &row in &rows {
            for (output, z) in z.iter_mut().enumerate() {
                *z += self.weight(row, output);
            }
        }
        let scores = self
            .bias
            .iter()
            .zip(z)
            .map(|(b, z)| sigmoid(b + z))
            .collect();
        (scores, rows.len())
    }
}

/// The same features, weights and biases, bit for bit (`-0.0` is not
/// `0.0` here).
impl PartialEq for Linear {
    fn eq(&self, other: &Linear) -> bool {
        self.index == other.index
            && self.weights == other.weights
            && self.bias.len() == other.bias.len()
            && self
                .bias
                .iter()
                .zip(&other.bias)
                .all(|(a, b)| a.to_bits() == b.to_bits())
    }
}

fn le_f64(bytes: &[u8]) -> f64 {
    let mut raw = [0u8; 8];
    raw.copy_from_slice(bytes);
    f64::from_le_bytes(raw)
}
