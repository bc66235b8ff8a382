//! The scenario file: its TOML schema, the defaults (all in [`defaults`]), and validation that
//! turns it into a [`Scenario`] where every name is resolved and every value checked.

pub mod defaults;

use crate::dtype::Dtype;
use crate::error::{Error, Result, did_you_mean};
use crate::hw::{Catalog, Hardware};
use crate::input::{parse_toml, read_text};
use crate::model::{self, ModelSpec};
use crate::perf::{Parallelism, Precision};
use crate::serve::router::RoutingPolicy;
use crate::serve::{SchedulerConfig, SchedulerKind};
use crate::workload::trace::{Trace, read_trace};
use crate::workload::{ArrivalSpec, LengthSpec};
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
}

impl Default for DeploymentSection {
    fn default() -> Self {
        DeploymentSection {
            tp: defaults::tp(),
            replicas: defaults::replicas(),
        }
    }
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
    #[serde(default = "defaults::kv_admission")]
    pub kv_admission: crate::serve::KvAdmission,
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
            kv_admission: defaults::kv_admission(),
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
}

/// Service-level objectives; a request that meets all that are set counts toward goodput.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Slo {
    pub ttft_ms: Option<f64>,
    pub tpot_ms: Option<f64>,
    pub e2e_ms: Option<f64>,
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
    pub input: LengthSpec,
    pub output: LengthSpec,
    /// Traces the workload reads, loaded once (arrival trace; empirical length columns).
    pub trace: Option<Arc<Trace>>,
    pub input_column: Option<Arc<Vec<u32>>>,
    pub output_column: Option<Arc<Vec<u32>>>,
    pub slo: Option<Slo>,
    pub notes: Vec<String>,
}

/// The most requests one run accepts: beyond it memory and time are no longer a laptop's.
pub const MAX_REQUESTS: u64 = 100_000_000;
pub const MAX_REPLICAS: u32 = 100_000;

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
    let mut hardware = catalog
        .hardware(&f.hardware.instance)
        .map_err(|m| Error::input(path, "hardware.instance", m))?;
    if let Some(over) = &f.hardware.chip {
        hardware.chip = apply_overrides(&hardware.chip, over, path, "hardware.chip")?;
        notes.push(format!(
            "chip overrides: {}",
            over.keys().cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    if let Some(over) = &f.hardware.instance_overrides {
        hardware.instance = apply_overrides(&hardware.instance, over, path, "hardware.instance_overrides")?;
        notes.push(format!(
            "instance overrides: {}",
            over.keys().cloned().collect::<Vec<_>>().join(", ")
        ));
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

    // Model.
    let model = model::resolve_builtin(&f.model.name, &dir, path, "model.name")?;
    let compute = f.model.compute.unwrap_or(match f.model.weights {
        Dtype::Fp8 | Dtype::Fp16 | Dtype::Bf16 | Dtype::Fp32 => f.model.weights,
        Dtype::Int8 | Dtype::Int4 => Dtype::Bf16,
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
    };

    // Deployment.
    let d = &f.deployment;
    at_least_one(path, "deployment.tp", d.tp as u64)?;
    at_least_one(path, "deployment.replicas", d.replicas as u64)?;
    if d.replicas > MAX_REPLICAS {
        return Err(Error::input(
            path,
            "deployment.replicas",
            format!(
                "{} is more than the {MAX_REPLICAS} replicas one run accepts",
                d.replicas
            ),
        ));
    }
    let per_instance = hardware.ranks_per_instance();
    if d.tp > per_instance && d.tp % per_instance != 0 {
        return Err(Error::infeasible(
            path,
            "deployment.tp",
            format!(
                "TP {} spans instances of {} but is not a multiple of its {per_instance} ranks ({} chips × {} ranks per chip); accepted: 1..={per_instance}, or a multiple of {per_instance}",
                d.tp, hardware.instance.name, hardware.instance.chips, hardware.chip.ranks_per_chip
            ),
        ));
    }
    if hardware.chip.kind == crate::hw::ChipKind::Gpu && model.heads % d.tp != 0 {
        return Err(Error::infeasible(
            path,
            "deployment.tp",
            format!(
                "TP {} does not divide the {} attention heads of {}; accepted: a divisor of {}",
                d.tp, model.heads, model.name, model.heads
            ),
        ));
    }
    if model.heads % d.tp != 0 {
        notes.push(format!(
            "{} heads do not split evenly over TP {}: each rank computes {} heads (padding), as Neuron compilers do",
            model.heads,
            d.tp,
            model.heads_per_rank(d.tp)
        ));
    }

    // Serving.
    let s = &f.serving;
    at_least_one(path, "serving.max_batch", s.max_batch as u64)?;
    at_least_one(path, "serving.max_batched_tokens", s.max_batched_tokens as u64)?;
    at_least_one(path, "serving.block_tokens", s.block_tokens as u64)?;
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

    let name = f.name.clone().unwrap_or_else(|| {
        path.file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_default()
    });
    Ok(Scenario {
        name,
        file: path.to_path_buf(),
        seed: f.seed,
        hardware,
        model,
        precision,
        parallelism: Parallelism { tp: d.tp },
        replicas: d.replicas,
        scheduler: SchedulerConfig {
            kind: s.scheduler,
            max_batch: s.max_batch,
            max_batched_tokens: s.max_batched_tokens,
            block_tokens: s.block_tokens,
            kv_admission: s.kv_admission,
        },
        kv_reserve_fraction: s.kv_reserve_fraction,
        routing: s.routing,
        arrival: w.arrival.clone(),
        requests,
        input,
        output,
        trace,
        input_column,
        output_column,
        slo: f.slo,
        notes,
    })
}

/// The accepted values of an enum-like key, for messages.
pub fn suggest(word: &str, accepted: &[&str]) -> String {
    format!(
        "{}; accepted: {}",
        did_you_mean(word, accepted.iter().copied()),
        accepted.join(", ")
    )
}
