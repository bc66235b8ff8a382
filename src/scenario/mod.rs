//! The scenario file: its TOML schema (`file.rs`), the defaults (all in [`defaults`]), the
//! run-size limits ([`limits`]), and validation that turns it into a [`Scenario`] where every name
//! is resolved and every value checked.

pub mod audio;
pub mod autoscale;
pub mod cost;
pub mod defaults;
pub mod encode_pool;
pub mod encoder_cache;
pub mod failures;
pub mod features;
mod file;
pub mod fleet;
pub mod gateway;
pub mod infra;
pub mod kv_offload;
pub mod limits;
pub mod lora;
pub mod multimodal;
pub mod purchase;
mod resolve;
pub mod tenants;

pub use file::{
    ClassSection, DeploymentSection, DisaggregationSection, HardwareSection, ModelSection, PoolSection, ScenarioFile,
    ServingSection, SloSection, WorkloadSection,
};
pub use limits::{MAX_BLOCK_TOKENS, MAX_HOST_VCPUS, MAX_RANKS, MAX_RANKS_PER_INSTANCE, MAX_REPLICAS, MAX_REQUESTS};

use crate::error::{Result, did_you_mean};
use crate::hw::Hardware;
use crate::input::{parse_toml, read_text};
use crate::model::ModelSpec;
use crate::perf::{Parallelism, Precision};
use crate::serve::router::RoutingPolicy;
use crate::serve::{KvLink, PoolRole, SchedulerConfig};
use crate::workload::trace::Trace;
use crate::workload::{ArrivalSpec, LengthSpec};
use resolve::resolve;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A validated pool of identical replicas.
#[derive(Debug, Clone)]
pub struct Pool {
    pub role: PoolRole,
    pub hardware: Hardware,
    pub tp: u32,
    pub pp: u32,
    pub replicas: u32,
    /// Expert-parallel groups (1: none).
    pub ep: u32,
    /// Data-parallel attention, expert load balancing, all-to-all overlap.
    pub moe_layout: crate::perf::moe::MoeLayout,
    /// The model this pool serves when a deployment group names its own (None: `[model]`).
    pub model: Option<std::sync::Arc<ModelSpec>>,
    /// Its dtypes when a deployment group sets its own `weights` (None: the scenario's).
    pub precision: Option<Precision>,
}

impl Pool {
    /// Ranks of one replica: tp per stage, pp stages.
    pub fn ranks_per_replica(&self) -> u32 {
        self.tp * self.pp
    }

    /// Instances the pool occupies: replicas pack into instances, or span whole instances.
    pub fn instances(&self) -> u32 {
        let per = self.hardware.ranks_per_instance().max(1);
        let ranks = self.ranks_per_replica();
        if ranks >= per {
            self.replicas * ranks.div_ceil(per)
        } else {
            self.replicas.div_ceil(per / ranks)
        }
    }

    /// Chips of one replica.
    pub fn chips_per_replica(&self) -> u32 {
        self.ranks_per_replica()
            .div_ceil(self.hardware.chip.ranks_per_chip.max(1))
    }
}

/// A validated workload class.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkloadClass {
    pub name: String,
    pub share: f64,
    pub priority: u32,
    pub slo: Option<crate::metrics::slo::Slo>,
}

/// A validated scenario: everything resolved, ready to simulate.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: String,
    pub file: PathBuf,
    pub seed: u64,
    pub model: ModelSpec,
    pub precision: Precision,
    pub scheduler: SchedulerConfig,
    /// The serving engine and version of the first pool ("TensorRT-LLM 1.0").
    pub engine: String,
    pub kv_reserve_fraction: f64,
    pub routing: RoutingPolicy,
    pub arrival: ArrivalSpec,
    pub requests: u64,
    /// `workload.horizon_s` in nanoseconds (None: run to completion).
    pub horizon_ns: Option<u64>,
    pub input: LengthSpec,
    pub output: LengthSpec,
    /// The client's `max_tokens` on every request (`workload.max_tokens`, or the output
    /// distribution's maximum); `None`: trace rows carry theirs, or the engine's default applies.
    pub max_tokens: Option<u32>,
    /// Every request's `max_tokens` is its own output length: a benchmark client (not `ideal`)
    /// asks for exactly the output it drew, unless `workload.max_tokens` is set.
    pub max_tokens_per_request: bool,
    /// Traces the workload reads, loaded once (arrival trace; empirical length columns).
    pub trace: Option<Arc<Trace>>,
    /// Trace rows `workload.over_context` left out (`drop`) or cut (`clip`) among those
    /// replayed: counted in the run's summary, never lost silently.
    pub dropped_over_context: u64,
    pub clipped_over_context: u64,
    pub input_column: Option<Arc<Vec<u32>>>,
    pub output_column: Option<Arc<Vec<u32>>>,
    pub slo: Option<crate::metrics::slo::Slo>,
    pub notes: Vec<String>,
    /// Every pool of replicas (at least one): one unified pool unless the scenario has
    /// deployment groups or disaggregation. The first pool's hardware, layout and replicas are
    /// what [`Scenario::hardware`], [`Scenario::parallelism`] and [`Scenario::replicas`] read.
    pub pools: Vec<Pool>,
    pub kv_link: KvLink,
    /// Workload classes (at least one).
    pub classes: Vec<WorkloadClass>,
    /// Synthetic prefix keys per request (0: none).
    pub prefix_groups: u32,
    /// Prefix caching, speculative decoding, expert parallelism.
    pub features: features::Features,
    /// `[infrastructure]`, resolved.
    pub infra: infra::Infra,
    /// `[cost]`, resolved: each pool's servers owned, the energy price, the managed price.
    pub cost: cost::Costs,
    /// `[workload.profile]`: the time-varying rate of a rate arrival.
    pub profile: Option<crate::workload::profile::ProfileSpec>,
    /// `[workload.sessions]`: multi-turn sessions; `requests` counts sessions.
    pub sessions: Option<crate::workload::sessions::SessionSpec>,
    /// `workload.client_rtt`: the client's network round trip per request.
    pub client_rtt: Option<crate::workload::sessions::DelaySpec>,
    /// `[fleet]` (or a profile): per-window metrics; `None`: none recorded.
    pub fleet: Option<fleet::Fleet>,
    /// `[gateway]`, resolved (None: requests go straight to the router).
    pub gateway: Option<crate::serve::gateway::GatewaySpec>,
    /// `[[workload.tenants]]`: one arrival stream per class (empty: the workload's one stream).
    pub tenants: Vec<tenants::Tenant>,
}

impl Scenario {
    /// The first pool's hardware (the only pool's, in a unified deployment).
    pub fn hardware(&self) -> &Hardware {
        &self.pools[0].hardware
    }

    /// The first pool's tensor parallelism.
    pub fn parallelism(&self) -> Parallelism {
        Parallelism { tp: self.pools[0].tp }
    }

    /// The first pool's replicas.
    pub fn replicas(&self) -> u32 {
        self.pools[0].replicas
    }

    /// The request that needs the most KV room: (its prompt, its `max_tokens`), the largest
    /// prompt + max_tokens any request of the run can carry. A request without a client
    /// `max_tokens` counts 1 (the engine's default, max_model_len − prompt, fills the rest).
    pub fn longest_request(&self) -> (u64, u64) {
        let ctx = self.model.max_context.max(2) as u64;
        let pairs: Vec<(u64, u64)> = match &self.trace {
            Some(t) => t
                .requests
                .iter()
                .take(self.requests as usize)
                .map(|r| {
                    (
                        r.input_tokens as u64,
                        r.max_tokens.or(self.max_tokens).unwrap_or(1) as u64,
                    )
                })
                .collect(),
            None => {
                fn col(c: &Option<Arc<Vec<u32>>>) -> &[u32] {
                    c.as_deref().map_or(&[], |v| v.as_slice())
                }
                let (ic, oc) = (col(&self.input_column), col(&self.output_column));
                // Benchmark clients ask for the output they drew; empirical columns of equal
                // length are drawn row by row.
                let joint = self.max_tokens_per_request && !ic.is_empty() && ic.len() == oc.len();
                let mut pairs: Vec<(u64, u64)> = if joint {
                    ic.iter().zip(oc).map(|(&i, &o)| (i as u64, o as u64)).collect()
                } else {
                    let input = self.input.max_tokens(ic) as u64;
                    let mt = match (self.max_tokens_per_request, self.max_tokens) {
                        (true, _) => self.output.max_tokens(oc) as u64,
                        (false, m) => m.unwrap_or(1) as u64,
                    };
                    vec![(input, mt)]
                };
                // As the generator draws them: within the context.
                for (i, o) in &mut pairs {
                    *i = (*i).clamp(1, ctx - 1);
                    if self.max_tokens_per_request {
                        *o = (*o).clamp(1, ctx - *i);
                    }
                }
                pairs
            }
        };
        pairs.into_iter().max_by_key(|(i, m)| (i + m, *i)).unwrap_or((1, 1))
    }
}

/// Reads, parses and validates a scenario file.
pub fn load(path: &Path) -> Result<Scenario> {
    let text = read_text(path)?;
    let file: ScenarioFile = parse_toml(&text, path)?;
    resolve(file, path)
}

/// Parses a scenario from text (`path` is where relative paths resolve from and what errors name).
pub fn load_str(text: &str, path: &Path) -> Result<Scenario> {
    let file: ScenarioFile = parse_toml(text, path)?;
    resolve(file, path)
}

/// The accepted values of an enum-like key, for messages.
pub fn suggest(word: &str, accepted: &[&str]) -> String {
    format!(
        "{}; accepted: {}",
        did_you_mean(word, accepted.iter().copied()),
        accepted.join(", ")
    )
}

#[cfg(test)]
mod tests;
