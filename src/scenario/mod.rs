//! The scenario file: its TOML schema, the defaults (all in [`defaults`]), and validation that
//! turns it into a [`Scenario`] where every name is resolved and every value checked.

pub mod defaults;
pub mod features;
pub mod infra;
pub mod limits;

pub use limits::{MAX_BLOCK_TOKENS, MAX_HOST_VCPUS, MAX_RANKS, MAX_RANKS_PER_INSTANCE, MAX_REPLICAS, MAX_REQUESTS};

use crate::dtype::{Dtype, WeightFormat};
use crate::error::{Error, Result, did_you_mean};
use crate::hw::{Catalog, Hardware};
use crate::input::{parse_toml, read_text};
use crate::model::{self, ModelSpec};
use crate::perf::{Parallelism, Precision};
use crate::serve::router::RoutingPolicy;
use crate::serve::{KvLink, PoolRole, PreemptionMode, SchedulerConfig, SchedulerKind};
use crate::workload::trace::{Trace, read_trace};
use crate::workload::{ArrivalSpec, LengthSpec};
use limits::MAX_IN_SYSTEM;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;

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
    pub slo: Option<Slo>,
    /// Separate prefill and decode pools (Splitwise, DistServe, Mooncake).
    #[serde(default)]
    pub disaggregation: Option<DisaggregationSection>,
    /// Network algorithm, Nitro, host CPU, front-end tier, power and pricing (`infra.rs`).
    #[serde(default)]
    pub infrastructure: infra::InfrastructureSection,
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
    #[serde(default = "defaults::scheduler")]
    pub scheduler: SchedulerKind,
    #[serde(default = "defaults::max_batch")]
    pub max_batch: u32,
    #[serde(default = "defaults::max_batched_tokens")]
    pub max_batched_tokens: u32,
    #[serde(default = "defaults::block_tokens")]
    pub block_tokens: u32,
    /// Fraction of each rank's HBM kept out of the KV cache (activations, workspace).
    #[serde(default = "defaults::kv_reserve_fraction")]
    pub kv_reserve_fraction: f64,
    #[serde(default = "defaults::routing")]
    pub routing: RoutingPolicy,
    #[serde(default = "defaults::preemption")]
    pub preemption: PreemptionMode,
    /// Waiting requests per replica beyond which arrivals are rejected. Default: unbounded.
    #[serde(default)]
    pub max_queue: Option<u32>,
    #[serde(default = "defaults::kv_admission")]
    pub kv_admission: crate::serve::KvAdmission,
    #[serde(default)]
    pub prefix_cache: Option<features::PrefixCacheSection>,
    #[serde(default)]
    pub speculative: Option<features::SpeculativeSection>,
}

impl Default for ServingSection {
    fn default() -> Self {
        ServingSection {
            scheduler: defaults::scheduler(),
            max_batch: defaults::max_batch(),
            max_batched_tokens: defaults::max_batched_tokens(),
            block_tokens: defaults::block_tokens(),
            kv_reserve_fraction: defaults::kv_reserve_fraction(),
            routing: defaults::routing(),
            preemption: defaults::preemption(),
            max_queue: None,
            kv_admission: defaults::kv_admission(),
            prefix_cache: None,
            speculative: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadSection {
    /// Requests to simulate. Default: the trace's rows (trace arrivals) or the batch (static).
    #[serde(default)]
    pub requests: Option<u64>,
    pub arrival: ArrivalSpec,
    /// Prompt lengths (not with trace arrivals, whose rows carry them).
    #[serde(default)]
    pub input: Option<LengthSpec>,
    /// Output lengths (not with trace arrivals).
    #[serde(default)]
    pub output: Option<LengthSpec>,
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
    pub slo: Option<Slo>,
}

/// Service-level objectives; a request that meets all that are set counts toward goodput.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Slo {
    pub ttft_ms: Option<f64>,
    pub tpot_ms: Option<f64>,
    pub e2e_ms: Option<f64>,
}

/// A validated pool of identical replicas.
#[derive(Debug, Clone)]
pub struct Pool {
    pub role: PoolRole,
    pub hardware: Hardware,
    pub tp: u32,
    pub pp: u32,
    pub replicas: u32,
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
    pub slo: Option<Slo>,
}

/// A validated scenario: everything resolved, ready to simulate.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: String,
    pub file: PathBuf,
    pub seed: u64,
    pub hardware: Hardware,
    pub model: ModelSpec,
    pub precision: Precision,
    pub parallelism: Parallelism,
    pub replicas: u32,
    pub scheduler: SchedulerConfig,
    pub kv_reserve_fraction: f64,
    pub routing: RoutingPolicy,
    pub arrival: ArrivalSpec,
    pub requests: u64,
    /// `workload.horizon_s` in nanoseconds (None: run to completion).
    pub horizon_ns: Option<u64>,
    pub input: LengthSpec,
    pub output: LengthSpec,
    /// Traces the workload reads, loaded once (arrival trace; empirical length columns).
    pub trace: Option<Arc<Trace>>,
    pub input_column: Option<Arc<Vec<u32>>>,
    pub output_column: Option<Arc<Vec<u32>>>,
    pub slo: Option<Slo>,
    pub notes: Vec<String>,
    /// Every pool of replicas; `hardware`, `parallelism` and `replicas` above describe the first.
    /// One unified pool unless the scenario has deployment groups or disaggregation.
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

fn base_dir(path: &Path) -> PathBuf {
    path.parent().map(Path::to_path_buf).unwrap_or_default()
}

fn positive(file: &Path, key: &str, v: f64) -> Result<()> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(Error::input(file, key, format!("must be a finite number > 0, got {v}")))
    }
}

fn at_least_one(file: &Path, key: &str, v: u64) -> Result<()> {
    if v >= 1 {
        Ok(())
    } else {
        Err(Error::input(file, key, "must be at least 1, got 0"))
    }
}

/// Applies a TOML table of overrides onto a value that round-trips through TOML; unknown keys
/// and wrong types are errors naming `key.<path>`.
fn apply_overrides<T: Serialize + serde::de::DeserializeOwned>(
    value: &T,
    over: &toml::Table,
    file: &Path,
    key: &str,
) -> Result<T> {
    let mut base = toml::Table::try_from(value).map_err(|e| Error::input(file, key, e.to_string()))?;
    merge(&mut base, over);
    let text = toml::to_string(&base).map_err(|e| Error::input(file, key, e.to_string()))?;
    let de = toml::Deserializer::parse(&text).map_err(|e| Error::input(file, key, e.message().to_string()))?;
    serde_path_to_error::deserialize(de).map_err(|e| {
        let p = e.path().to_string();
        let msg = e.into_inner().message().to_string();
        Error::input(file, format!("{key}.{p}"), msg)
    })
}

fn merge(base: &mut toml::Table, over: &toml::Table) {
    for (k, v) in over {
        match (base.get_mut(k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            _ => {
                base.insert(k.clone(), v.clone());
            }
        }
    }
}

fn resolve(f: ScenarioFile, path: &Path) -> Result<Scenario> {
    let dir = base_dir(path);
    let mut notes = Vec::new();

    // Hardware.
    let mut catalog = Catalog::builtin()?;
    for p in &f.hardware.profiles {
        catalog.add_file(&dir.join(p))?;
    }
    let hardware = resolve_hardware(&catalog, &f.hardware, &f.hardware.instance, "hardware.instance", path)?;
    if let Some(over) = &f.hardware.chip {
        notes.push(format!(
            "chip overrides: {}",
            over.keys().cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    if let Some(over) = &f.hardware.instance_overrides {
        notes.push(format!(
            "instance overrides: {}",
            over.keys().cloned().collect::<Vec<_>>().join(", ")
        ));
    }

    // Model.
    let model = model::resolve_builtin(&f.model.name, &dir, path, "model.name")?;
    let format = f.model.weight_format;
    if let Some(d) = format.dtype().filter(|&d| d != f.model.weights) {
        return Err(Error::input(
            path,
            "model.weight_format",
            format!(
                "`{format}` stores {d} weights, but model.weights is {}; set weights = \"{d}\"",
                f.model.weights
            ),
        ));
    }
    // Block formats quantize activations to int8 and run int8 dot products (llama.cpp).
    let compute = f.model.compute.unwrap_or(match (format, f.model.weights) {
        (WeightFormat::Q4_0 | WeightFormat::Q8_0, _) => Dtype::Int8,
        (_, Dtype::Fp8 | Dtype::Fp16 | Dtype::Bf16 | Dtype::Fp32) => f.model.weights,
        (_, Dtype::Int8 | Dtype::Int4) => Dtype::Bf16,
    });
    if matches!(f.model.kv_cache, Dtype::Int4) {
        return Err(Error::input(
            path,
            "model.kv_cache",
            "int4 KV caches are not modelled; accepted: bf16, fp16, fp8, int8",
        ));
    }
    let precision = Precision {
        weights: f.model.weights,
        compute,
        kv_cache: f.model.kv_cache,
        activations: Dtype::Bf16,
        weight_format: format,
    };

    // Deployment: one unified pool, deployment groups, or prefill and decode pools.
    let d = &f.deployment;
    let single_form_set = d.tp != defaults::tp() || d.pp != defaults::pp() || d.replicas != defaults::replicas();
    let mut pool_specs: Vec<(PoolRole, String, PoolSection)> = Vec::new();
    if let Some(dis) = &f.disaggregation {
        if !d.groups.is_empty() || single_form_set {
            return Err(Error::input(
                path,
                "disaggregation",
                "with [disaggregation], set tp, pp and replicas in its prefill and decode pools, not in [deployment] or [[deployment.groups]]",
            ));
        }
        pool_specs.push((PoolRole::Prefill, "disaggregation.prefill".into(), dis.prefill.clone()));
        pool_specs.push((PoolRole::Decode, "disaggregation.decode".into(), dis.decode.clone()));
    } else if !d.groups.is_empty() {
        if single_form_set {
            return Err(Error::input(
                path,
                "deployment.groups",
                "with [[deployment.groups]], set tp, pp and replicas per group, not in [deployment]",
            ));
        }
        for (i, g) in d.groups.iter().enumerate() {
            pool_specs.push((PoolRole::Unified, format!("deployment.groups[{i}]"), g.clone()));
        }
    } else {
        pool_specs.push((
            PoolRole::Unified,
            "deployment".into(),
            PoolSection {
                instance: None,
                tp: d.tp,
                pp: d.pp,
                replicas: d.replicas,
            },
        ));
    }
    let mut pools = Vec::new();
    let mut total_replicas = 0u64;
    let mut total_ranks = 0u64;
    for (role, key, ps) in &pool_specs {
        let hw = match &ps.instance {
            Some(name) if *name != f.hardware.instance => {
                resolve_hardware(&catalog, &f.hardware, name, &format!("{key}.instance"), path)?
            }
            _ => hardware.clone(),
        };
        check_pool(path, key, &hw, &model, ps, &mut notes)?;
        total_replicas += ps.replicas as u64;
        total_ranks += ps.tp as u64 * ps.pp as u64 * ps.replicas as u64;
        pools.push(Pool {
            role: *role,
            hardware: hw,
            tp: ps.tp,
            pp: ps.pp,
            replicas: ps.replicas,
        });
    }
    if total_replicas > MAX_REPLICAS as u64 {
        return Err(Error::input(
            path,
            "deployment.replicas",
            format!("{total_replicas} is more than the {MAX_REPLICAS} replicas one run accepts"),
        ));
    }
    if total_ranks > MAX_RANKS {
        return Err(Error::input(
            path,
            "deployment",
            format!(
                "the pools use {total_ranks} ranks in all (replicas × tp × pp), more than the {MAX_RANKS} one run accepts"
            ),
        ));
    }
    let infra = infra::resolve(&f.infrastructure, &catalog, path)?;
    infra::apply_to_pools(&infra, &mut pools, path)?;
    let kv_link = f.disaggregation.as_ref().map_or(KvLink::Efa, |x| x.kv_link);
    if let [p, dpool] = &pools[..] {
        if p.role == PoolRole::Prefill {
            check_kv_link(path, kv_link, p, dpool)?;
        }
    }
    let needed: u32 = if kv_link == KvLink::Neuronlink && pools.len() == 2 {
        // Co-located pools share instances.
        let ranks: u32 = pools.iter().map(|p| p.ranks_per_replica() * p.replicas).sum();
        ranks.div_ceil(pools[0].hardware.ranks_per_instance().max(1))
    } else {
        pools.iter().map(Pool::instances).sum()
    };
    if let Some(have) = d.instances {
        if needed > have {
            return Err(Error::infeasible(
                path,
                "deployment.instances",
                format!(
                    "the deployment needs {needed} instances (replicas × tp × pp ranks, packed into instances) but the fleet has {have}; accepted: fewer replicas, smaller tp × pp, or more instances"
                ),
            ));
        }
    }

    // Serving.
    let s = &f.serving;
    at_least_one(path, "serving.max_batch", s.max_batch as u64)?;
    at_least_one(path, "serving.max_batched_tokens", s.max_batched_tokens as u64)?;
    at_least_one(path, "serving.block_tokens", s.block_tokens as u64)?;
    if s.block_tokens > MAX_BLOCK_TOKENS {
        return Err(Error::input(
            path,
            "serving.block_tokens",
            format!(
                "{} tokens per KV block is more than the {MAX_BLOCK_TOKENS} accepted (vLLM uses 16, TensorRT-LLM 32 to 128)",
                s.block_tokens
            ),
        ));
    }
    if !(0.0..0.95).contains(&s.kv_reserve_fraction) || s.kv_reserve_fraction.is_nan() {
        return Err(Error::input(
            path,
            "serving.kv_reserve_fraction",
            format!("must be in [0, 0.95), got {}", s.kv_reserve_fraction),
        ));
    }

    // Workload.
    let w = &f.workload;
    let mut trace = None;
    match &w.arrival {
        ArrivalSpec::Poisson { rate_per_s } => positive(path, "workload.arrival.rate_per_s", *rate_per_s)?,
        ArrivalSpec::Gamma { rate_per_s, cv } => {
            positive(path, "workload.arrival.rate_per_s", *rate_per_s)?;
            positive(path, "workload.arrival.cv", *cv)?;
        }
        ArrivalSpec::Closed { clients, think_time_s } => {
            at_least_one(path, "workload.arrival.clients", *clients as u64)?;
            // Each client holds a request in the system: beyond the engine's in-system bound the
            // run could only stop as overloaded.
            if *clients as u64 > MAX_IN_SYSTEM {
                return Err(Error::input(
                    path,
                    "workload.arrival.clients",
                    format!(
                        "{clients} clients are more than the {} requests one run holds at once; model that many users with open-loop (poisson) arrivals",
                        MAX_IN_SYSTEM
                    ),
                ));
            }
            if !(think_time_s.is_finite() && *think_time_s >= 0.0) {
                return Err(Error::input(
                    path,
                    "workload.arrival.think_time_s",
                    format!("must be a finite number >= 0, got {think_time_s}"),
                ));
            }
        }
        ArrivalSpec::Static { batch } => at_least_one(path, "workload.arrival.batch", *batch as u64)?,
        ArrivalSpec::Offline => {}
        ArrivalSpec::Trace {
            path: tp,
            format,
            rate_scale,
        } => {
            positive(path, "workload.arrival.rate_scale", *rate_scale)?;
            if w.input.is_some() || w.output.is_some() {
                return Err(Error::input(
                    path,
                    "workload.input",
                    "trace arrivals take their lengths from the trace; remove workload.input and workload.output",
                ));
            }
            trace = Some(Arc::new(read_trace(&dir.join(tp), *format)?));
        }
    }
    let requests = match (&w.arrival, w.requests) {
        (ArrivalSpec::Trace { .. }, r) => {
            let rows = trace.as_ref().map_or(0, |t| t.requests.len() as u64);
            r.unwrap_or(rows).min(rows)
        }
        (ArrivalSpec::Static { batch }, r) => r.unwrap_or(*batch as u64),
        (_, Some(r)) => r,
        (_, None) => {
            return Err(Error::input(
                path,
                "workload.requests",
                format!(
                    "is required for `{}` arrivals: how many requests to simulate",
                    w.arrival.kind()
                ),
            ));
        }
    };
    at_least_one(path, "workload.requests", requests)?;
    let horizon_ns = match w.horizon_s {
        Some(h) => {
            positive(path, "workload.horizon_s", h)?;
            if h > 1e9 {
                return Err(Error::input(
                    path,
                    "workload.horizon_s",
                    format!("{h} s is beyond the simulator's clock (at most 1e9 s, about 31 years)"),
                ));
            }
            Some(crate::engine::secs_to_ns(h))
        }
        None => None,
    };
    if requests > MAX_REQUESTS {
        return Err(Error::input(
            path,
            "workload.requests",
            format!(
                "{requests} is more than the {MAX_REQUESTS} requests one run accepts; split the study into several runs"
            ),
        ));
    }

    let load_column =
        |spec: &Option<LengthSpec>, key: &str, input: bool| -> Result<(LengthSpec, Option<Arc<Vec<u32>>>)> {
            let spec = match (spec, &w.arrival) {
                (Some(s), _) => s.clone(),
                (None, ArrivalSpec::Trace { .. }) => LengthSpec::Fixed { tokens: 1 },
                (None, _) => {
                    return Err(Error::input(
                        path,
                        key,
                        "is required: a length distribution, e.g. { kind = \"fixed\", tokens = 512 }",
                    ));
                }
            };
            let col = match &spec {
                LengthSpec::Trace { path: tp, format } => {
                    let t = read_trace(&dir.join(tp), *format)?;
                    Some(Arc::new(
                        t.requests
                            .iter()
                            .map(|r| if input { r.input_tokens } else { r.output_tokens })
                            .collect::<Vec<u32>>(),
                    ))
                }
                LengthSpec::Fixed { tokens } => {
                    at_least_one(path, &format!("{key}.tokens"), *tokens as u64)?;
                    None
                }
                LengthSpec::Uniform { min, max } => {
                    at_least_one(path, &format!("{key}.min"), *min as u64)?;
                    if max < min {
                        return Err(Error::input(
                            path,
                            format!("{key}.max"),
                            format!("must be >= min ({min}), got {max}"),
                        ));
                    }
                    None
                }
                LengthSpec::Lognormal { mean, cv, min, max } => {
                    positive(path, &format!("{key}.mean"), *mean)?;
                    positive(path, &format!("{key}.cv"), *cv)?;
                    at_least_one(path, &format!("{key}.min"), *min as u64)?;
                    if max < min {
                        return Err(Error::input(
                            path,
                            format!("{key}.max"),
                            format!("must be >= min ({min}), got {max}"),
                        ));
                    }
                    None
                }
            };
            Ok((spec, col))
        };
    let (input, input_column) = load_column(&w.input, "workload.input", true)?;
    let (output, output_column) = load_column(&w.output, "workload.output", false)?;

    // Lengths beyond the model context are an error (lognormal draws are clamped to max).
    let ctx = model.max_context as u64;
    if let Some(t) = &trace {
        if let Some((i, r)) = t
            .requests
            .iter()
            .enumerate()
            .find(|(_, r)| r.input_tokens as u64 + r.output_tokens as u64 > ctx)
        {
            return Err(Error::input(
                path,
                "workload.arrival.path",
                format!(
                    "request {} of the trace has {} input + {} output tokens, beyond the {} context of {}; use a model with a longer context or filter the trace",
                    i + 1,
                    r.input_tokens,
                    r.output_tokens,
                    ctx,
                    model.name
                ),
            ));
        }
    } else {
        let max_in = input.max_tokens(input_column.as_deref().map_or(&[], |v| v.as_slice())) as u64;
        let max_out = output.max_tokens(output_column.as_deref().map_or(&[], |v| v.as_slice())) as u64;
        if max_in + max_out > ctx {
            return Err(Error::input(
                path,
                "workload.input",
                format!(
                    "the longest request ({max_in} input + {max_out} output tokens) exceeds the {ctx}-token context of {}; accepted: input + output <= {ctx}",
                    model.name
                ),
            ));
        }
    }
    if let Some(slo) = &f.slo {
        for (k, v) in [
            ("slo.ttft_ms", slo.ttft_ms),
            ("slo.tpot_ms", slo.tpot_ms),
            ("slo.e2e_ms", slo.e2e_ms),
        ] {
            if let Some(v) = v {
                positive(path, k, v)?;
            }
        }
    }

    let classes = if w.classes.is_empty() {
        vec![WorkloadClass {
            name: "default".into(),
            share: 1.0,
            priority: 0,
            slo: f.slo,
        }]
    } else {
        let mut total = 0.0;
        let mut out = Vec::new();
        for (i, c) in w.classes.iter().enumerate() {
            positive(path, &format!("workload.classes[{i}].share"), c.share)?;
            if w.classes[..i].iter().any(|o| o.name == c.name) {
                return Err(Error::input(
                    path,
                    format!("workload.classes[{i}].name"),
                    format!("class `{}` is declared twice", c.name),
                ));
            }
            if let Some(slo) = &c.slo {
                for (k, v) in [
                    ("ttft_ms", slo.ttft_ms),
                    ("tpot_ms", slo.tpot_ms),
                    ("e2e_ms", slo.e2e_ms),
                ] {
                    if let Some(v) = v {
                        positive(path, &format!("workload.classes[{i}].slo.{k}"), v)?;
                    }
                }
            }
            total += c.share;
            out.push(WorkloadClass {
                name: c.name.clone(),
                share: c.share,
                priority: c.priority,
                slo: c.slo.or(f.slo),
            });
        }
        for c in &mut out {
            c.share /= total;
        }
        out
    };
    if w.prefix_groups == Some(0) {
        return Err(Error::input(
            path,
            "workload.prefix_groups",
            "must be at least 1, got 0",
        ));
    }

    let features = features::resolve(
        path,
        &dir,
        &model,
        pools[0].tp,
        s.scheduler == SchedulerKind::Static,
        s.prefix_cache.as_ref(),
        s.speculative.as_ref(),
        w.prefix.as_ref(),
        d.ep,
        f.model.expert_skew_zipf,
        f.model.expert_shares.as_deref(),
    )?;
    let name = f.name.clone().unwrap_or_else(|| {
        path.file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_default()
    });
    Ok(Scenario {
        name,
        file: path.to_path_buf(),
        seed: f.seed,
        model,
        precision,
        parallelism: Parallelism { tp: pools[0].tp },
        replicas: pools[0].replicas,
        scheduler: SchedulerConfig {
            kind: s.scheduler,
            max_batch: s.max_batch,
            max_batched_tokens: s.max_batched_tokens,
            block_tokens: s.block_tokens,
            preemption: s.preemption,
            max_queue: s.max_queue,
            kv_admission: s.kv_admission,
        },
        kv_reserve_fraction: s.kv_reserve_fraction,
        routing: s.routing,
        arrival: w.arrival.clone(),
        requests,
        horizon_ns,
        input,
        output,
        trace,
        input_column,
        output_column,
        slo: f.slo,
        notes,
        hardware: pools[0].hardware.clone(),
        pools,
        kv_link,
        classes,
        prefix_groups: w.prefix_groups.unwrap_or(0),
        features,
        infra,
    })
}

/// An instance type from the catalog with the scenario's chip and instance overrides (they apply
/// to every pool's hardware), checked.
fn resolve_hardware(
    catalog: &Catalog,
    h: &HardwareSection,
    instance: &str,
    key: &str,
    path: &Path,
) -> Result<Hardware> {
    let mut hardware = catalog.hardware(instance).map_err(|m| Error::input(path, key, m))?;
    if let Some(over) = &h.chip {
        hardware.chip = apply_overrides(&hardware.chip, over, path, "hardware.chip")?;
    }
    if let Some(over) = &h.instance_overrides {
        hardware.instance = apply_overrides(&hardware.instance, over, path, "hardware.instance_overrides")?;
    }
    positive(
        path,
        "hardware.chip.hbm_bandwidth_gb_s",
        hardware.chip.hbm_bandwidth_gb_s,
    )?;
    positive(path, "hardware.chip.hbm_gib", hardware.chip.hbm_gib)?;
    positive(
        path,
        "hardware.chip.efficiency.compute",
        hardware.chip.efficiency.compute,
    )?;
    positive(path, "hardware.chip.efficiency.memory", hardware.chip.efficiency.memory)?;
    if hardware.chip.efficiency.compute > 1.0 || hardware.chip.efficiency.memory > 1.0 {
        return Err(Error::input(
            path,
            "hardware.chip.efficiency",
            "efficiencies are fractions of peak: must be in (0, 1]",
        ));
    }
    // Overrides are checked like a profile's entries: a rank count of 0 would divide by zero.
    if hardware.chip.ranks_per_chip == 0 {
        return Err(Error::input(
            path,
            "hardware.chip.ranks_per_chip",
            "must be at least 1, got 0",
        ));
    }
    if hardware.instance.chips == 0 {
        return Err(Error::input(
            path,
            "hardware.instance_overrides.chips",
            "must be at least 1, got 0",
        ));
    }
    let ranks = hardware.instance.chips as u64 * hardware.chip.ranks_per_chip as u64;
    if ranks > MAX_RANKS_PER_INSTANCE as u64 {
        return Err(Error::input(
            path,
            key,
            format!(
                "{} has {} chips × {} ranks per chip = {ranks} ranks, more than the {MAX_RANKS_PER_INSTANCE} an instance may have; check hardware.chip.ranks_per_chip and hardware.instance_overrides.chips",
                hardware.instance.name, hardware.instance.chips, hardware.chip.ranks_per_chip
            ),
        ));
    }
    // The simulation queues host work on every vCPU of the pool's instances.
    if hardware.instance.host_vcpus > MAX_HOST_VCPUS {
        return Err(Error::input(
            path,
            "hardware.instance_overrides.host_vcpus",
            format!(
                "{} is more than the {MAX_HOST_VCPUS} host vCPUs an instance may have",
                hardware.instance.host_vcpus
            ),
        ));
    }
    crate::hw::validate_chip(&hardware.chip, path)?;
    Ok(hardware)
}

/// A replica uses tp × pp ranks. It either fits in one instance, or spans a whole number of
/// instances; when it spans several with tp below an instance's ranks, the stages must pack
/// into instances without straddling one (the instance's ranks a multiple of tp).
fn check_pool(
    path: &Path,
    key: &str,
    hardware: &Hardware,
    model: &ModelSpec,
    p: &PoolSection,
    notes: &mut Vec<String>,
) -> Result<()> {
    at_least_one(path, &format!("{key}.tp"), p.tp as u64)?;
    at_least_one(path, &format!("{key}.pp"), p.pp as u64)?;
    at_least_one(path, &format!("{key}.replicas"), p.replicas as u64)?;
    if p.replicas > MAX_REPLICAS {
        return Err(Error::input(
            path,
            format!("{key}.replicas"),
            format!(
                "{} is more than the {MAX_REPLICAS} replicas one run accepts",
                p.replicas
            ),
        ));
    }
    let ranks = p.tp as u64 * p.pp as u64;
    let fleet_ranks = ranks.saturating_mul(p.replicas as u64);
    if fleet_ranks > MAX_RANKS {
        return Err(Error::input(
            path,
            key.to_string(),
            format!(
                "{} replicas × TP {} × PP {} = {fleet_ranks} ranks, more than the {MAX_RANKS} one run accepts",
                p.replicas, p.tp, p.pp
            ),
        ));
    }
    let per_instance = hardware.ranks_per_instance();
    if p.tp > per_instance && p.tp % per_instance != 0 {
        return Err(Error::infeasible(
            path,
            format!("{key}.tp"),
            format!(
                "TP {} spans instances of {} but is not a multiple of its {per_instance} ranks ({} chips × {} ranks per chip); accepted: 1..={per_instance}, or a multiple of {per_instance}",
                p.tp, hardware.instance.name, hardware.instance.chips, hardware.chip.ranks_per_chip
            ),
        ));
    }
    if ranks > per_instance as u64
        && (ranks % per_instance as u64 != 0 || (p.tp < per_instance && per_instance % p.tp != 0))
    {
        return Err(Error::infeasible(
            path,
            format!("{key}.pp"),
            format!(
                "TP {} × PP {} = {ranks} ranks per replica spans instances of {} ({per_instance} ranks each) but not a whole number of them, or stages straddle instances; a replica uses tp × pp ranks, which must be at most {per_instance} or a multiple of {per_instance} (with tp dividing {per_instance} when smaller)",
                p.tp, p.pp, hardware.instance.name
            ),
        ));
    }
    if p.pp > model.layers {
        return Err(Error::infeasible(
            path,
            format!("{key}.pp"),
            format!(
                "PP {} exceeds the {} layers of {}; accepted: 1..={}",
                p.pp, model.layers, model.name, model.layers
            ),
        ));
    }
    if hardware.chip.kind == crate::hw::ChipKind::Gpu && model.heads % p.tp != 0 {
        return Err(Error::infeasible(
            path,
            format!("{key}.tp"),
            format!(
                "TP {} does not divide the {} attention heads of {}; accepted: a divisor of {}",
                p.tp, model.heads, model.name, model.heads
            ),
        ));
    }
    if model.heads % p.tp != 0 {
        notes.push(format!(
            "{} heads do not split evenly over TP {}: each rank computes {} heads (padding), as Neuron compilers do",
            model.heads,
            p.tp,
            model.heads_per_rank(p.tp)
        ));
    }
    Ok(())
}

/// The KV link must carry bytes: a zero-bandwidth link would never deliver a KV cache. A
/// NeuronLink transfer needs both pools in one instance.
fn check_kv_link(path: &Path, link: KvLink, prefill: &Pool, decode: &Pool) -> Result<()> {
    match link {
        KvLink::Efa => {
            for (k, p) in [("disaggregation.prefill", prefill), ("disaggregation.decode", decode)] {
                let gbps = p.hardware.instance.efa_gbps;
                if !(gbps.is_finite() && gbps > 0.0) {
                    return Err(Error::infeasible(
                        path,
                        "disaggregation.kv_link",
                        format!(
                            "the KV cache moves over EFA but {} ({k}) has {gbps} Gbit/s of EFA bandwidth; accepted: efa_gbps > 0",
                            p.hardware.instance.name
                        ),
                    ));
                }
            }
        }
        KvLink::Neuronlink => {
            let bw = prefill.hardware.chip.link.bandwidth_gb_s;
            if !(bw.is_finite() && bw > 0.0) {
                return Err(Error::infeasible(
                    path,
                    "disaggregation.kv_link",
                    format!("the KV cache moves over the chip link but it has {bw} GB/s; accepted: bandwidth_gb_s > 0"),
                ));
            }
            let per = prefill.hardware.ranks_per_instance();
            if prefill.hardware.instance.name != decode.hardware.instance.name
                || prefill.ranks_per_replica() + decode.ranks_per_replica() > per
            {
                return Err(Error::infeasible(
                    path,
                    "disaggregation.kv_link",
                    format!(
                        "kv_link = \"neuronlink\" needs a prefill and a decode replica in one instance (same instance type, together at most {per} ranks); use kv_link = \"efa\""
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// The accepted values of an enum-like key, for messages.
pub fn suggest(word: &str, accepted: &[&str]) -> String {
    format!(
        "{}; accepted: {}",
        did_you_mean(word, accepted.iter().copied()),
        accepted.join(", ")
    )
}
