//! codesim: a discrete-event simulator of LLM inference serving in a datacenter, for
//! hardware/model co-design. `sim::simulate(&scenario::load(path)?)` is the whole library in one
//! call; docs/architecture.md is the design (layers, invariants, cost model).

#![warn(clippy::too_many_lines)]

pub mod assets;
pub mod atomic;
pub mod dtype;
pub mod engine;
pub mod error;
pub mod explain;
pub mod float;
pub mod frontier;
pub mod hash;
pub mod hw;
pub mod input;
pub mod metrics;
pub mod model;
pub mod numfmt;
pub mod perf;
pub mod plan;
pub mod report;
pub mod rng;
pub mod scenario;
pub mod serve;
pub mod sim;
pub mod sweep;
pub mod tco;
pub mod tomlpath;
pub mod validate;
pub mod workload;

pub use error::{Error, Result};
pub use metrics::RunResult;
pub use scenario::Scenario;
pub use sim::simulate;
