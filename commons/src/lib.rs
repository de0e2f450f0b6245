//! # mirror-commons
//!
//! The layer that lets personal nodes share signed records without trusting
//! each other. This crate will own:
//!
//! * the record envelope (kind, format version, author key, time, canonical
//!   payload, signature; id = blake3 of the signed bytes) and its test
//!   vectors;
//! * the acceptance gate, the single place that decides whether a record
//!   enters a node's accepted state, on gossip, sync and local publishing
//!   alike, with a typed reason for every rejection;
//! * the Automerge commons document, append-only and checked change by
//!   change before anything from a peer is applied;
//! * the libp2p service: gossipsub with validation, request-response sync,
//!   discovery, limits and peer scoring.
//!
//! Architecture invariant: the gate and the document are deterministic
//! functions of their inputs; network I/O stays in the service module, so
//! the protocol core can run in simulations without sockets. It never
//! depends on the node: data flows constitution → governance → commons →
//! node.

pub mod doc;
pub mod fuzz;
pub mod gate;
pub mod governance;
pub mod net;
pub mod policy;
pub mod record;
pub mod service;
pub mod store;
pub mod sync_peers;
