//! # mirror-node
//!
//! The personal node: the part of Mirror a person runs for themselves. It
//! keeps their reflections in a local [`store`] they own, answers with a
//! mirrorback, and lets them take everything out again as an open
//! [`bundle`]. It needs no network: the commons is an optional layer on top.
//!
//! Modules, from the bottom up:
//!
//! * [`model`]: the typed records and their validation;
//! * [`store`]: the redb database, its migrations and queries;
//! * [`home`]: the data directory, the node's config and identity keys;
//! * [`bundle`]: export and import of everything, as one archive;
//! * [`cli`]: the `mirror` command line, a thin layer over the above;
//! * [`web`]: `mirror ui`, the same commands as a local web app.

pub mod bundle;
pub mod cli;
pub mod daemon;
pub mod doctor;
pub mod engine;
pub mod evolution;
pub mod fuzz;
pub mod governed;
pub mod home;
pub mod lookback;
pub mod model;
pub mod release;
pub mod store;
pub mod telemetry;
pub mod web;
pub mod when;
