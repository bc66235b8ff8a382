//! The scenario file as written: the serde types of its TOML sections, with their defaults
//! (all in [`defaults`]). [`super::load`] resolves them into a [`super::Scenario`].

use super::{cost, defaults, features, fleet, infra};
use crate::dtype::{Dtype, WeightFormat};
use crate::serve::router::RoutingPolicy;
use crate::serve::{KvLink, PreemptionMode, SchedulerKind};
use crate::workload::{ArrivalSpec, LengthSpec};
use serde::{Deserialize, Serialize};

/// The file as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default = "defaults::seed")]
    pub seed: u64,
    pub hardware: HardwareSection,
    pub model: ModelSection,
    #[serde(default)]
    pub deployment: DeploymentSection,
    #[serde(default)]
    pub serving: ServingSection,
    pub workload: WorkloadSection,
    #[serde(default)]
    pub slo: Option<SloSection>,
    /// Separate prefill and decode pools (Splitwise, DistServe, Mooncake).
    #[serde(default)]
    pub disaggregation: Option<DisaggregationSection>,
    /// Network algorithm, Nitro, host CPU, front-end tier, power and pricing (`infra.rs`).
    #[serde(default)]
    pub infrastructure: infra::InfrastructureSection,
    /// Owning the servers and the managed price to compare with (`cost.rs`).
    #[serde(default)]
    pub cost: Option<cost::CostSection>,
    /// The fleet over time: per-window metrics (`fleet.rs`).
    #[serde(default)]
    pub fleet: Option<fleet::FleetSection>,
    /// Admission and flow control in front of the router (`gateway.rs`).
    #[serde(default)]
    pub gateway: Option<super::gateway::GatewaySection>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HardwareSection {
    /// An instance type from `hw-profiles/` (see `codesim hw list`).
    pub instance: String,
    /// Extra profile files (chips, instances, hosts), relative to the scenario file.
    #[serde(default)]
    pub profiles: Vec<String>,
    /// Overrides of any field of the instance's chip, e.g. `hbm_bandwidth_gb_s = 6700`.
    #[serde(default)]
    pub chip: Option<toml::Table>,
    /// Overrides of any field of the instance, e.g. `efa_gbps = 6400` or `[price]`.
    #[serde(default)]
    pub instance_overrides: Option<toml::Table>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSection {
    /// A preset name (`codesim model list`) or a path to a Hugging Face `config.json` or a model
    /// spec TOML, relative to the scenario file.
    pub name: String,
    #[serde(default = "defaults::weights")]
    pub weights: Dtype,
    /// Matmul dtype; default: the weight dtype when it is a float format, else bf16.
    #[serde(default)]
    pub compute: Option<Dtype>,
    #[serde(default = "defaults::kv_cache")]
    pub kv_cache: Dtype,
    /// `plain`, or a block format with an fp16 scale per 32 weights: `q4_0` (with
    /// `weights = "int4"`, 4.5 bits per weight) or `q8_0` (with `weights = "int8"`, 8.5 bits), as
    /// llama.cpp stores them. A block format computes in int8 by default.
    #[serde(default)]
    pub weight_format: WeightFormat,
    /// MoE routing skew: Zipf exponent of the experts' popularity (0: uniform).
    #[serde(default)]
    pub expert_skew_zipf: Option<f64>,
    /// Or a measured routing share per expert (normalised).
    #[serde(default)]
    pub expert_shares: Option<Vec<f64>>,
    /// The context the deployment is configured for, tokens (Neuron's `n_positions`, vLLM's
    /// `max_model_len`, a RoPE-scaled context); default: the model's `max_position_embeddings`.
    /// Every context limit of the run reads it: fit checks, the default max_tokens, KV slots.
    #[serde(default)]
    pub max_context: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeploymentSection {
    /// Tensor-parallel ranks per replica (NeuronCores on trn1/inf2, logical NeuronCores on trn2,
    /// GPUs); may span instances when a multiple of an instance's ranks.
    #[serde(default = "defaults::tp")]
    pub tp: u32,
    /// Data-parallel replicas.
    #[serde(default = "defaults::replicas")]
    pub replicas: u32,
    /// Pipeline-parallel stages per replica (each of `tp` ranks).
    #[serde(default = "defaults::pp")]
    pub pp: u32,
    /// Instances the fleet has; a deployment needing more is an error. Default: unbounded.
    #[serde(default)]
    pub instances: Option<u32>,
    /// A heterogeneous fleet: groups of replicas, each with its own instance type and
    /// parallelism (then `tp`, `pp` and `replicas` above stay unset).
    #[serde(default)]
    pub groups: Vec<PoolSection>,
    /// Expert-parallel groups of an MoE model (divides tp and the expert count).
    #[serde(default = "defaults::ep")]
    pub ep: u32,
    /// Data-parallel attention groups of an MoE model (divides tp; > 1 needs ep = tp).
    #[serde(default = "defaults::attention_dp")]
    pub attention_dp: u32,
    /// Redundant expert replicas placed by the expert load balancer (EPLB); unset: static split.
    #[serde(default)]
    pub redundant_experts: Option<u32>,
    /// Two micro-batches overlap the all-to-all with compute (needs attention_dp > 1).
    #[serde(default)]
    pub overlap_a2a: bool,
}

impl Default for DeploymentSection {
    fn default() -> Self {
        DeploymentSection {
            tp: defaults::tp(),
            replicas: defaults::replicas(),
            pp: defaults::pp(),
            instances: None,
            groups: Vec::new(),
            ep: defaults::ep(),
            attention_dp: defaults::attention_dp(),
            redundant_experts: None,
            overlap_a2a: false,
        }
    }
}

/// One pool of identical replicas: a deployment group or a disaggregation pool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolSection {
    /// Instance type; default: `hardware.instance` (with its overrides).
    #[serde(default)]
    pub instance: Option<String>,
    #[serde(default = "defaults::tp")]
    pub tp: u32,
    #[serde(default = "defaults::pp")]
    pub pp: u32,
    #[serde(default = "defaults::replicas")]
    pub replicas: u32,
    /// This pool's `ep` and `attention_dp`; default: `[deployment]`'s.
    #[serde(default)]
    pub ep: Option<u32>,
    #[serde(default)]
    pub attention_dp: Option<u32>,
    /// The model this group serves (a deployment group only): a preset name or a path, as
    /// `[model] name`, at `[model]`'s dtypes. Default: `[model]`'s.
    #[serde(default)]
    pub model: Option<String>,
    /// This group's weight dtype (a deployment group only); default: `model.weights`.
    #[serde(default)]
    pub weights: Option<Dtype>,
    /// This pool's serving engine (`engines/*.toml`, its default version): its kernel traits
    /// and efficiencies on the pool's chip; the batching policy stays the scenario's. Default:
    /// `serving.engine`, else the chip's default engine.
    #[serde(default)]
    pub engine: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisaggregationSection {
    pub prefill: PoolSection,
    pub decode: PoolSection,
    /// How KV caches move from prefill to decode replicas.
    #[serde(default = "defaults::kv_link")]
    pub kv_link: KvLink,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServingSection {
    /// The serving engine (`engines/*.toml`): its scheduling defaults fill the keys below that the
    /// scenario leaves out, and its kernel traits and efficiencies apply to the chip. Default: the
    /// chip's default engine.
    #[serde(default)]
    pub engine: Option<String>,
    /// A version of the engine with its own profile (default: the engine's `default_version`).
    #[serde(default)]
    pub engine_version: Option<String>,
    /// The keys below default to the engine's, then to `scenario::defaults`.
    #[serde(default)]
    pub scheduler: Option<SchedulerKind>,
    #[serde(default)]
    pub max_batch: Option<u32>,
    #[serde(default)]
    pub max_batched_tokens: Option<u32>,
    #[serde(default)]
    pub block_tokens: Option<u32>,
    /// Fraction of each rank's HBM kept out of the KV cache (activations, workspace).
    #[serde(default)]
    pub kv_reserve_fraction: Option<f64>,
    #[serde(default = "defaults::routing")]
    pub routing: RoutingPolicy,
    #[serde(default)]
    pub preemption: Option<PreemptionMode>,
    /// Waiting requests per replica beyond which arrivals are rejected. Default: unbounded.
    #[serde(default)]
    pub max_queue: Option<u32>,
    #[serde(default)]
    pub kv_admission: Option<crate::serve::KvAdmission>,
    #[serde(default)]
    pub prefix_cache: Option<features::PrefixCacheSection>,
    #[serde(default)]
    pub speculative: Option<features::SpeculativeSection>,
    /// LoRA adapters (`scenario::lora`).
    #[serde(default)]
    pub lora: Option<super::lora::LoraSection>,
    /// KV offload tiers (`scenario::kv_offload`).
    #[serde(default)]
    pub kv_offload: Option<super::kv_offload::KvOffloadSection>,
    /// The waiting queue's order and its shortest-job-first keys (`serve::queue_order`).
    #[serde(default)]
    pub queue_order: Option<QueueOrderName>,
    #[serde(default)]
    pub sjf_predictor: Option<crate::serve::Predictor>,
    #[serde(default)]
    pub sjf_aging_tokens_per_s: Option<f64>,
    /// Which running sequence a preemption takes, and preemption for higher classes
    /// (`serve::victim`).
    #[serde(default)]
    pub preemption_victim: Option<crate::serve::VictimChoice>,
    #[serde(default)]
    pub priority_preemption: Option<bool>,
}

/// `serving.queue_order` as spelt in a scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum QueueOrderName {
    Priority,
    Fcfs,
    SjfPredicted,
    SjfPrompt,
}

impl Default for ServingSection {
    fn default() -> Self {
        ServingSection {
            engine: None,
            engine_version: None,
            scheduler: None,
            max_batch: None,
            max_batched_tokens: None,
            block_tokens: None,
            kv_reserve_fraction: None,
            routing: defaults::routing(),
            preemption: None,
            max_queue: None,
            kv_admission: None,
            prefix_cache: None,
            speculative: None,
            lora: None,
            kv_offload: None,
            queue_order: None,
            sjf_predictor: None,
            sjf_aging_tokens_per_s: None,
            preemption_victim: None,
            priority_preemption: None,
        }
    }
}

/// The `[serving]` keys an engine profile sets (`engines/*.toml` `[serving]`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineServing {
    #[serde(default)]
    pub scheduler: Option<SchedulerKind>,
    #[serde(default)]
    pub max_batch: Option<u32>,
    #[serde(default)]
    pub max_batched_tokens: Option<u32>,
    #[serde(default)]
    pub block_tokens: Option<u32>,
    #[serde(default)]
    pub kv_reserve_fraction: Option<f64>,
    #[serde(default)]
    pub preemption: Option<PreemptionMode>,
    #[serde(default)]
    pub kv_admission: Option<crate::serve::KvAdmission>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadSection {
    /// Requests to simulate. Default: the trace's rows (trace arrivals) or the batch (static).
    #[serde(default)]
    pub requests: Option<u64>,
    /// Required, unless `[[workload.tenants]]` give each tenant its own (read it through
    /// [`WorkloadSection::arrival`] once resolution has filled it in).
    #[serde(default, rename = "arrival")]
    pub arrival_spec: Option<ArrivalSpec>,
    /// Prompt lengths (not with trace arrivals, whose rows carry them).
    #[serde(default)]
    pub input: Option<LengthSpec>,
    /// Output lengths (not with trace arrivals).
    #[serde(default)]
    pub output: Option<LengthSpec>,
    /// The client's `max_tokens` on every request: the most the engine may generate (outputs
    /// longer than it stop there). Default: the output distribution's maximum; for lengths from
    /// a trace, the trace's `max_tokens` column or else the engine's default (max_model_len −
    /// prompt).
    #[serde(default)]
    pub max_tokens: Option<u32>,
    /// Priority classes; default: one class of every request.
    #[serde(default)]
    pub classes: Vec<ClassSection>,
    /// Synthetic shared prefixes: each request carries one of this many prefix keys, uniformly
    /// (for prefix-affinity routing when the trace has no `hash_ids`). Default: none.
    #[serde(default)]
    pub prefix_groups: Option<u32>,
    /// Synthetic prompts as block hashes, for the prefix cache.
    #[serde(default)]
    pub prefix: Option<features::SyntheticPrefixSection>,
    /// Stop the run at this simulated time (seconds): requests still queued or running then are
    /// reported as `unfinished`, never in the latency percentiles. Default: run until every
    /// request has finished.
    #[serde(default)]
    pub horizon_s: Option<f64>,
    /// Trace rows whose prompt + output exceed the model's context: `"error"` (default: the
    /// scenario is refused, naming the first), `"drop"` (left out, counted) or `"clip"` (prompt
    /// cut to fit, counted).
    #[serde(default)]
    pub over_context: crate::workload::trace::replay::OverContext,
    /// A time-varying rate multiplying a rate arrival's `rate_per_s` (`workload/profile.rs`).
    #[serde(default)]
    pub profile: Option<crate::workload::profile::ProfileSpec>,
    /// Multi-turn sessions (`workload/sessions.rs`); `requests` then counts sessions.
    #[serde(default)]
    pub sessions: Option<crate::workload::sessions::SessionSpec>,
    /// The client's network round trip per request (`workload/sessions.rs` `DelaySpec`, ms).
    #[serde(default)]
    pub client_rtt: Option<crate::workload::sessions::DelaySpec>,
    /// Requests carrying images (`scenario::multimodal`).
    #[serde(default)]
    pub multimodal: Option<super::multimodal::MultimodalSection>,
    /// Traffic streams sharing the fleet, each with its own arrival process, lengths, priority
    /// and SLO (`scenario::tenants`).
    #[serde(default)]
    pub tenants: Vec<super::tenants::TenantSection>,
}

/// What `arrival` reads when a file has none (refused at resolution unless tenants replace it).
static NO_ARRIVAL: ArrivalSpec = ArrivalSpec::Offline {};

impl WorkloadSection {
    /// The arrival process: as written, or the tenants' merged stream once resolved.
    pub fn arrival(&self) -> &ArrivalSpec {
        self.arrival_spec.as_ref().unwrap_or(&NO_ARRIVAL)
    }
}

/// A class of requests with its priority and SLOs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassSection {
    pub name: String,
    /// Fraction of the requests (shares are normalised to sum to 1).
    pub share: f64,
    /// Lower runs first (vLLM's convention).
    #[serde(default)]
    pub priority: u32,
    #[serde(default)]
    pub slo: Option<SloSection>,
}

/// Service-level objectives as written (`[slo]`, a class's `slo`): a request that meets all that
/// are set counts toward goodput. Resolved into [`crate::metrics::slo::Slo`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SloSection {
    pub ttft_ms: Option<f64>,
    pub tpot_ms: Option<f64>,
    pub e2e_ms: Option<f64>,
}
