//! # mirror-simulations
//!
//! Many-node runs of the commons: honest and adversarial peers, partitions,
//! churn, with metrics. It drives the same protocol core the daemon runs
//! (the commons gate and documents, [`mirror_commons::service::Commons`])
//! in one process, with simulated time, so properties such as "every honest
//! node converges to the same accepted set" can be checked at scale and
//! reproduced from a seed.
//!
//! [`sim`] is the reactor (time, links, gossip model, peer policy);
//! [`scenarios`] the runs. See `simulations/README.md` for the figures and
//! what the model leaves out.

pub mod eclipse;
pub mod faults;
pub mod gossip;
pub mod life;
pub mod plot;
pub mod real;
pub mod scenarios;
pub mod sim;
