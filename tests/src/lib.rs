//! Helpers shared by Mirror's cross-crate integration tests.
//!
//! [`fixtures::populate`] fills a store with at least one record of every
//! kind, linked the way real use links them, so round-trip and migration
//! tests can check "every record survives" against something complete.

pub mod fixtures;
