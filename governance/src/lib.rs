//! # mirror-governance
//!
//! How a commons of Mirror nodes decides to change the engine they all run,
//! as pure rules over signed records. This crate will own:
//!
//! * the commons genesis (guardian keys, the k-of-n threshold, voting rules,
//!   the constitution hash) and guardian-set rotation;
//! * membership: attestations and revocations, evaluated at the moment a
//!   proposal opens for voting;
//! * proposals and their lifecycle (draft → testing → review → voting →
//!   approved | rejected → applied), with the invariant checker run at
//!   submission and again at approval;
//! * votes and deterministic tallies (quorum, majority, the supermajority
//!   and guardian threshold for constitutional amendments);
//! * guardian signatures and releases in The Update Framework's format.
//!
//! Today it owns [`params`], the engine parameter pack (prompts, pattern
//! rules, tension templates, thresholds) that releases will carry;
//! [`canonical`], the one JSON encoding every signature and hash is over;
//! [`payload`], the typed payload of every kind of commons record and its
//! validation (what the commons gate checks before a signature);
//! [`invariants`], the checker of I1–I6 over a proposal's content;
//! [`rules`], what the gate refuses from a governance record by itself; and
//! [`ledger`], membership, guardians, proposal states and tallies as a pure
//! function of the accepted records; [`draft`], a proposal drafted from a
//! request, a finding and the pack in force; and [`plan`], the next
//! release's contents.
//!
//! Architecture invariant: **no I/O**. Every rule is a function of the
//! records it is given, so every node computes the same answer from the same
//! records, whatever order they arrived in, and the rules can be tested and
//! simulated without a network. It depends only on `mirror-constitution`.

pub mod canonical;
pub mod change;
pub mod draft;
pub mod fuzz;
pub mod invariants;
pub mod ledger;
pub mod params;
pub mod payload;
pub mod plan;
pub mod release;
pub mod rules;
pub mod telemetry;
