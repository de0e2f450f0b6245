//! The optional semantic step: tensions heard in any words, by a sentence
//! embedding (all-MiniLM-L6-v2) and one small trained head per axis.
//!
//! The pack's lexicons find a tension where both poles are said in words
//! close to its cues; people mostly *show* a pull instead ("twenty years at
//! the council, pension sorted, and this furniture apprenticeship I can't
//! stop reading about at 2am"). A sentence embedding places such an entry
//! near others about the same pull, whatever its words. The step is opt-in
//! and local: `mirror embeddings install --from DIR` copies the model's
//! files into the home (checked against [`MODEL_BLAKE3`]); without them the
//! engine is exactly the built-in one.
//!
//! Layout:
//! * [`Embedder`]: BERT (candle) and its WordPiece tokenizer, built from
//!   the files' bytes (the home reads them; this module does no I/O), mean
//!   pooling and L2 normalisation, as sentence-transformers does.
//! * [`Heads`]: for each axis a logistic regression over the standardised
//!   embedding, trained from `node/eval/train/tensions-*.jsonl` by
//!   [`train`] and shipped as `tension_heads.json` (a few thousand
//!   numbers: data, not model weights). A test trains them again from the
//!   corpus and compares.
//! * [`Semantic::tensions`]: an entry is cut into passages of at most
//!   [`PASSAGE_WORDS`] words at sentence ends; each passage is scored and
//!   an axis is heard where one passage scores at least the heads'
//!   threshold. That passage is the finding's evidence, so a long entry
//!   still names one passage, not the whole text.
//!
//! Invariant: the step only adds axes the rules did not find, only for
//! English (the model was trained on English; other languages embed
//! poorly), and never more than [`super::MAX_TENSIONS`] in all.
//!
//! Cost model (BENCHMARKS.md, "Tensions in any words"): building the model
//! from its 90 MB of weights takes ~0.3 s, once per process (a one-shot
//! `mirror reflect` pays it; nothing is built unless an English entry
//! reaches the step); a passage of ~100 words takes ~0.1 s on one core of
//! the reference machine, so an entry costs at most [`MAX_PASSAGES`]
//! passages. The step is skipped when the lexicons already found three
//! tensions.

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use serde::{Deserialize, Serialize};
use tokenizers::Tokenizer;
use unicode_segmentation::UnicodeSegmentation;

/// The model whose embeddings the heads were trained on: the BLAKE3 hash
/// of all-MiniLM-L6-v2's `model.safetensors`.
pub const MODEL_BLAKE3: &str = "8087e9bf97c265f8435ed268733ecf3791825ad24850fd5d84d89e32ee3a589a";

/// The files the step needs, in a model directory, each with its BLAKE3
/// hash: the heads were trained on this tokenizer and these weights, and
/// only these are installed.
pub const MODEL_FILES: [(&str, &str); 3] = [
    (
        "config.json",
        "02ba870d29dc00b373fe71bd273baca30586d6577def4130456e756c7b286890",
    ),
    (
        "tokenizer.json",
        "82483bb4f0bdb81779f295ecc5a93285d2156834e994a2169f9800e4c8f250c1",
    ),
    ("model.safetensors", MODEL_BLAKE3),
];

/// Passages are cut at sentence ends to at most this many words (about
/// 130 word pieces: the length the model was tuned on).
pub const PASSAGE_WORDS: usize = 100;

/// At most this many passages of one entry are read (about 800 words):
/// each costs ~0.1 s of CPU (BENCHMARKS.md), and the rest of a longer
/// entry is left to the lexicons.
pub const MAX_PASSAGES: usize = 8;

/// The shipped heads.
const HEADS: &str = include_str!("tension_heads.json");

#[derive(Debug, thiserror::Error)]
pub enum SemanticError {
    #[error("the embedding model's config.json is not valid: {0}")]
    Config(String),
    #[error("the embedding model's tokenizer.json is not valid: {0}")]
    Tokenizer(String),
    #[error("the embedding model could not run: {0}")]
    Model(String),
    #[error("the tension heads are not valid: {0}")]
    Heads(String),
}

impl From<candle_core::Error> for SemanticError {
    fn from(e: candle_core::Error) -> Self {
        SemanticError::Model(e.to_string())
    }
}

/// The contents of the model's three files.
pub struct ModelFiles {
    pub config: Vec<u8>,
    pub tokenizer: Vec<u8>,
    pub weights: Vec<u8>,
}

/// A sentence embedder: text in, a unit vector of 384 numbers out.
pub struct Embedder {
    model: BertModel,
    tokenizer: Tokenizer,
}

impl Embedder {
    pub fn load(files: ModelFiles) -> Result<Embedder, SemanticError> {
        let config: Config = serde_json::from_slice(&files.config)
            .map_err(|e| SemanticError::Config(e.to_string()))?;
        let mut tokenizer = Tokenizer::from_bytes(&files.tokenizer)
            .map_err(|e| SemanticError::Tokenizer(e.to_string()))?;
        tokenizer
            .with_truncation(Some(tokenizers::TruncationParams {
                max_length: 256,
                ..Default::default()
            }))
            .map_err(|e| SemanticError::Tokenizer(e.to_string()))?;
        tokenizer.with_padding(None);
        let vb = VarBuilder::from_buffered_safetensors(files.weights, DType::F32, &Device::Cpu)?;
        let model = BertModel::load(vb, &config)?;
        Ok(Embedder { model, tokenizer })
    }

    /// The mean of the last layer over the text's word pieces, scaled to
    /// length 1 (what sentence-transformers' all-MiniLM-L6-v2 does).
    pub fn embed(&self, text: &str) -> Result<Vec<f32>, SemanticError> {
        let encoding = self
            .tokenizer
            .encode(text, true)
            .map_err(|e| SemanticError::Tokenizer(e.to_string()))?;
        let ids = Tensor::new(encoding.get_ids(), &Device::Cpu)?.unsqueeze(0)?;
        let types = ids.zeros_like()?;
        let hidden = self.model.forward(&ids, &types, None)?;
        let mean = hidden.mean(1)?.squeeze(0)?;
        let norm = mean.sqr()?.sum_all()?.sqrt()?;
        Ok(mean.broadcast_div(&norm)?.to_vec1::<f32>()?)
    }
}

/// One axis's head.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Head {
    pub axis_a: String,
    pub axis_b: String,
    pub weights: Vec<f32>,
    pub bias: f32,
}

/// Every axis's head, over embeddings standardised by `mean` and `scale`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Heads {
    /// The model they were trained on ([`MODEL_BLAKE3`]).
    pub model_blake3: String,
    /// What they were trained from, for the record.
    pub corpus: String,
    pub mean: Vec<f32>,
    pub scale: Vec<f32>,
    /// A passage counts for an axis at this probability or above.
    pub threshold: f32,
    pub heads: Vec<Head>,
}

impl Heads {
    /// The heads shipped with this build.
    pub fn shipped() -> Result<Heads, SemanticError> {
        let heads: Heads =
            serde_json::from_str(HEADS).map_err(|e| SemanticError::Heads(e.to_string()))?;
        heads.validate()?;
        Ok(heads)
    }

    fn validate(&self) -> Result<(), SemanticError> {
        let n = self.mean.len();
        if n == 0
            || self.scale.len() != n
            || self.heads.iter().any(|h| h.weights.len() != n)
            || self.scale.iter().any(|s| s.is_nan() || *s <= 0.0)
        {
            return Err(SemanticError::Heads("dimensions disagree".into()));
        }
        Ok(())
    }

    /// Each head's probability for one embedding, in the heads' order.
    pub fn scores(&self, embedding: &[f32]) -> Vec<f32> {
        let x: Vec<f32> = embedding
            .iter()
            .zip(self.mean.iter().zip(&self.scale))
            .map(|(v, (m, s))| (v - m) / s)
            .collect();
        self.heads
            .iter()
            .map(|h| {
                let z: f32 = h.weights.iter().zip(&x).map(|(w, v)| w * v).sum::<f32>() + h.bias;
                1.0 / (1.0 + (-z).exp())
            })
            .collect()
    }
}

/// A tension the semantic step heard.
#[derive(Debug, Clone, PartialEq)]
pub struct Heard {
    pub axis_a: String,
    pub axis_b: String,
    /// The head's probability for the passage.
    pub score: f32,
    /// The passage it was heard in, as written.
    pub passage: String,
}

/// The embedder and the heads together.
pub struct Semantic {
    embedder: Embedder,
    heads: Heads,
}

impl Semantic {
    pub fn new(embedder: Embedder, heads: Heads) -> Semantic {
        Semantic { embedder, heads }
    }

    /// The model's files with the shipped heads.
    pub fn load(files: ModelFiles) -> Result<Semantic, SemanticError> {
        Ok(Semantic::new(Embedder::load(files)?, Heads::shipped()?))
    }

    pub fn embedder(&self) -> &Embedder {
        &self.embedder
    }

    /// The axes heard in `text`, strongest first, each with the passage
    /// that scored highest for it.
    pub fn tensions(&self, text: &str) -> Result<Vec<Heard>, SemanticError> {
        let mut best: Vec<Option<(f32, usize)>> = vec![None; self.heads.heads.len()];
        let passages = passages(text);
        for (i, passage) in passages.iter().enumerate() {
            let scores = self.heads.scores(&self.embedder.embed(passage)?);
            for (slot, score) in best.iter_mut().zip(scores) {
                if score >= self.heads.threshold && slot.is_none_or(|(s, _)| score > s) {
                    *slot = Some((score, i));
                }
            }
        }
        let mut heard: Vec<Heard> = best
            .into_iter()
            .zip(&self.heads.heads)
            .filter_map(|(slot, head)| {
                slot.map(|(score, i)| Heard {
                    axis_a: head.axis_a.clone(),
                    axis_b: head.axis_b.clone(),
                    score,
                    passage: passages[i].clone(),
                })
            })
            .collect();
        heard.sort_by(|x, y| y.score.total_cmp(&x.score));
        Ok(heard)
    }
}

/// `text` cut at sentence ends into passages of at most [`PASSAGE_WORDS`]
/// words, at most [`MAX_PASSAGES`]. A sentence longer than that (or text
/// with no sentence ends the segmenter sees: "lol. then i went" is one
/// sentence to Unicode) is cut between words.
pub fn passages(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut words = 0;
    let pieces = text.unicode_sentences().flat_map(|sentence| {
        let starts: Vec<usize> = sentence.unicode_word_indices().map(|(at, _)| at).collect();
        let cuts: Vec<usize> = starts
            .iter()
            .copied()
            .step_by(PASSAGE_WORDS)
            .skip(1)
            .collect();
        let mut from = 0;
        let mut parts = Vec::new();
        for cut in cuts {
            parts.push(&sentence[from..cut]);
            from = cut;
        }
        parts.push(&sentence[from..]);
        parts
    });
    for piece in pieces {
        let n = piece.unicode_words().count();
        if n == 0 {
            continue;
        }
        if words > 0 && words + n > PASSAGE_WORDS {
            out.push(current.trim().to_string());
            current.clear();
            words = 0;
        }
        current.push_str(piece);
        words += n;
    }
    if words > 0 {
        out.push(current.trim().to_string());
    }
    out.truncate(MAX_PASSAGES);
    out
}

/// One labelled example for [`train`]: an embedding and, per axis in the
/// order given, whether the text holds that tension.
pub struct Example {
    pub embedding: Vec<f32>,
    pub labels: Vec<bool>,
}

/// Train one head per axis: logistic regression with an L2 penalty over
/// standardised embeddings, by deterministic full-batch gradient descent
/// (the same examples in the same order give the same heads, up to float
/// summation order).
pub fn train(
    axes: &[(String, String)],
    examples: &[Example],
    threshold: f32,
    corpus: &str,
) -> Result<Heads, SemanticError> {
    const STEPS: usize = 2000;
    const RATE: f32 = 0.3;
    const L2: f32 = 0.01;
    let n = examples.len();
    let dim = examples.first().map_or(0, |e| e.embedding.len());
    if n == 0 || dim == 0 || examples.iter().any(|e| e.embedding.len() != dim) {
        return Err(SemanticError::Heads(
            "no examples, or of different sizes".into(),
        ));
    }
    if examples.iter().any(|e| e.labels.len() != axes.len()) {
        return Err(SemanticError::Heads("labels and axes disagree".into()));
    }
    let device = Device::Cpu;
    let flat: Vec<f32> = examples
        .iter()
        .flat_map(|e| e.embedding.iter().copied())
        .collect();
    let x = Tensor::from_vec(flat, (n, dim), &device)?;
    let mean = x.mean(0)?;
    let centred = x.broadcast_sub(&mean)?;
    let scale = (centred.sqr()?.mean(0)?.sqrt()? + 1e-6)?;
    let x = centred.broadcast_div(&scale)?;
    let labels: Vec<f32> = examples
        .iter()
        .flat_map(|e| e.labels.iter().map(|&l| if l { 1.0 } else { 0.0 }))
        .collect();
    let y = Tensor::from_vec(labels, (n, axes.len()), &device)?;
    let mut w = Tensor::zeros((dim, axes.len()), DType::F32, &device)?;
    let mut b = Tensor::zeros((1, axes.len()), DType::F32, &device)?;
    let xt = x.t()?.contiguous()?;
    for _ in 0..STEPS {
        let z = x.matmul(&w)?.broadcast_add(&b)?;
        let p = candle_nn::ops::sigmoid(&z)?;
        let g = (p - &y)?;
        let gw = ((xt.matmul(&g)? / n as f64)? + (&w * L2 as f64)?)?;
        let gb = g.mean_keepdim(0)?;
        w = (w - (gw * RATE as f64)?)?;
        b = (b - (gb * RATE as f64)?)?;
    }
    let w = w.t()?.to_vec2::<f32>()?;
    let b = b.squeeze(0)?.to_vec1::<f32>()?;
    Ok(Heads {
        model_blake3: MODEL_BLAKE3.to_string(),
        corpus: corpus.to_string(),
        mean: mean.to_vec1()?,
        scale: scale.to_vec1()?,
        threshold,
        heads: axes
            .iter()
            .zip(w.into_iter().zip(b))
            .map(|((a, b_name), (weights, bias))| Head {
                axis_a: a.clone(),
                axis_b: b_name.clone(),
                weights,
                bias,
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passages_cut_at_sentence_ends() {
        let short = "Twenty years at the council. And this apprenticeship.";
        assert_eq!(passages(short), vec![short.to_string()]);
        let sentence = "One two three four five six seven eight nine ten. ";
        let long = sentence.repeat(25);
        let cut = passages(&long);
        assert_eq!(cut.len(), 3, "250 words in passages of at most 100");
        assert!(
            cut.iter()
                .all(|p| p.unicode_words().count() <= PASSAGE_WORDS)
        );
        assert!(passages("   ").is_empty());
        // No sentence end Unicode sees: cut between words all the same.
        let lower = "one two three four five six seven eight nine ten. ".repeat(25);
        let cut = passages(&lower);
        assert_eq!(cut.len(), 3);
        assert!(
            cut.iter()
                .all(|p| p.unicode_words().count() <= PASSAGE_WORDS)
        );
        assert_eq!(cut.join(" ").split_whitespace().count(), 250);
        let huge = sentence.repeat(1000);
        assert_eq!(passages(&huge).len(), MAX_PASSAGES);
    }

    #[test]
    fn the_shipped_heads_are_valid_and_cover_the_packs_axes() {
        let heads = Heads::shipped().unwrap();
        let engine = super::super::Engine::genesis().unwrap();
        for axis in super::super::suggest::axes(&engine) {
            assert!(
                heads
                    .heads
                    .iter()
                    .any(|h| format!("{}/{}", h.axis_a, h.axis_b) == axis),
                "no head for {axis}"
            );
        }
        assert!(heads.threshold > 0.5 && heads.threshold < 1.0);
    }

    #[test]
    fn training_separates_what_it_is_given() {
        // Two clusters in three dimensions: the head for the first axis
        // must score its own cluster high and the other low.
        let mut examples = Vec::new();
        for i in 0..20 {
            let t = i as f32 / 20.0;
            examples.push(Example {
                embedding: vec![1.0, t, 0.0],
                labels: vec![true],
            });
            examples.push(Example {
                embedding: vec![0.0, t, 1.0],
                labels: vec![false],
            });
        }
        let axes = vec![("a".to_string(), "b".to_string())];
        let heads = train(&axes, &examples, 0.8, "test").unwrap();
        assert!(heads.scores(&[1.0, 0.5, 0.0])[0] > 0.9);
        assert!(heads.scores(&[0.0, 0.5, 1.0])[0] < 0.1);
        assert!(train(&axes, &[], 0.8, "test").is_err());
    }
}
