//! # The Mirror constitution
//!
//! Mirror's behaviour is bounded by a short constitution: a handful of
//! documents written for people, plus machine-readable invariants that every
//! node checks. This crate owns those documents, their genesis hash, and the
//! checks that hold the engine's words to them.
//!
//! It sits at the bottom of the dependency graph (constitution → governance →
//! commons → node) and does no I/O beyond what its callers hand it.
//!
//! * [`text`]: the word tokenizer every other reader of text shares, so the
//!   compliance checker, the pattern detector and the full-text index agree
//!   on what a word is.

pub mod text;
