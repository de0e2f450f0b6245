//! # mirror-simulations
//!
//! Many-node runs of the commons: honest and adversarial peers, partitions,
//! churn, with metrics and plots. It drives the same protocol core the
//! daemon runs (the commons gate, document and governance rules) in one
//! process, with simulated time, so properties such as "every honest node
//! converges to the same accepted set" can be checked at scale and
//! reproduced from a seed.
