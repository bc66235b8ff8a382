//! The validation file: its schema (one `[[case]]` per published measurement), the checks a
//! case must pass, and the scenario each case becomes.

use super::features::{CaseSpeculative, Lengths};
use super::{CLOSED_ROUNDS, POISSON_DEFAULT_REQUESTS, SEED};
use crate::dtype::Dtype;
use crate::error::{Error, Result};
use crate::hw::{ChipKind, Hardware};
use crate::input::parse_toml;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The file as written: one `[[case]]` each.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidationFile {
    #[serde(default)]
    pub case: Vec<Case>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub id: String,
    pub source: String,
    pub instance: String,
    pub instances: u32,
    pub chips: u32,
    pub model: String,
    pub weights: Dtype,
    pub compute: Dtype,
    /// TP degree as the source counts it, in `tp_unit`s.
    pub tp: u32,
    pub tp_unit: TpUnit,
    pub load: LoadKind,
    /// The serving engine that produced the figures (`engines/*.toml`); default: the chip's
    /// default engine, as in a scenario.
    #[serde(default)]
    pub engine: Option<String>,
    /// The engine's version, where its profile has one for it; default: the engine's default.
    #[serde(default)]
    pub engine_version: Option<String>,
    /// The benchmark client that sent the requests (closed and poisson loads): `llmperf`,
    /// `genai-perf`, `aiperf`, `vllm-bench`, ... (`workload.arrival.client`); default `ideal`.
    #[serde(default)]
    pub client: Option<String>,
    #[serde(default)]
    pub concurrency: Option<u32>,
    #[serde(default)]
    pub requests: Option<u64>,
    #[serde(default)]
    pub qps: Option<f64>,
    /// Coefficient of variation of the gaps of a `gamma` load (vllm bench serve's
    /// `--burstiness` k is cv = 1/√k).
    #[serde(default)]
    pub cv: Option<f64>,
    /// The client's cap on requests in flight under a rate load (vllm bench serve's
    /// `--max-concurrency`, AIPerf's `--concurrency` with a `--request-rate`).
    #[serde(default)]
    pub max_concurrency: Option<u32>,
    /// Fixed prompt length; or `input`, a distribution (exactly one of the two).
    #[serde(default)]
    pub input_tokens: Option<u32>,
    /// Fixed output length; or `output`, a distribution (exactly one of the two).
    #[serde(default)]
    pub output_tokens: Option<u32>,
    #[serde(default)]
    pub input: Option<Lengths>,
    #[serde(default)]
    pub output: Option<Lengths>,
    /// Data-parallel copies of the deployment (default 1); `chips` and `instances` count all of
    /// them.
    #[serde(default)]
    pub replicas: Option<u32>,
    /// The engine's most sequences in one batch (vLLM's `max_num_seqs`); default: the load
    /// kind's (closed: `concurrency`; poisson: the scenario default; offline: trtllm-bench's).
    #[serde(default)]
    pub max_batch: Option<u32>,
    /// Fraction of prompt tokens served from the prefix cache; turns the cache on.
    #[serde(default)]
    pub prefix_hit_rate: Option<f64>,
    /// Speculative decoding with a draft model (`[case.speculative]`).
    #[serde(default)]
    pub speculative: Option<CaseSpeculative>,
    pub measured: Measured,
    /// Line of the case's `[[case]]` header, for error messages (filled in by [`parse`]).
    #[serde(skip)]
    pub line: Option<usize>,
    /// For a case imported from a benchmark tool's result file: how it was read (the tool, the
    /// file, each default the context supplied); the report prints it with the case's features.
    #[serde(skip)]
    pub imported: Option<String>,
}

/// What one TP rank is, as the source counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TpUnit {
    Gpu,
    /// A physical NeuronCore (2 per trn1/inf2 chip, 8 per trn2 chip).
    Neuroncore,
    /// A logical NeuronCore (trn2 with LNC=2: 4 per chip; on trn1/inf2 the same as a NeuronCore).
    LogicalNeuroncore,
}

impl TpUnit {
    pub fn name(self) -> &'static str {
        match self {
            TpUnit::Gpu => "gpu",
            TpUnit::Neuroncore => "neuroncore",
            TpUnit::LogicalNeuroncore => "logical-neuroncore",
        }
    }
}

/// How requests arrive (see the schema).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LoadKind {
    Static,
    Closed,
    Offline,
    Poisson,
    /// One request every 1 / `qps` seconds (genai-perf's request-rate mode, AIPerf's
    /// `--request-rate-mode constant`).
    Constant,
    /// Gamma gaps of coefficient of variation `cv` at `qps` (vllm bench serve's `--burstiness`).
    Gamma,
}

impl LoadKind {
    pub fn name(self) -> &'static str {
        match self {
            LoadKind::Static => "static",
            LoadKind::Closed => "closed",
            LoadKind::Offline => "offline",
            LoadKind::Poisson => "poisson",
            LoadKind::Constant => "constant",
            LoadKind::Gamma => "gamma",
        }
    }

    /// An open-loop load at `qps` requests/s.
    pub fn is_rate(self) -> bool {
        matches!(self, LoadKind::Poisson | LoadKind::Constant | LoadKind::Gamma)
    }
}

/// The published figures of a case; any subset may be present.
///
/// `tpot_*` are compared with codesim's inter-token latency distribution (`itl_ms`), not its
/// per-request TPOT: the Neuron benchmarks and TensorRT-LLM report per-token latency percentiles
/// over all generated tokens, which is the distribution of gaps between consecutive tokens.
/// `request_tpot_*` are percentiles over requests of each request's (E2E − TTFT) / (output − 1),
/// codesim's per-request TPOT (`tpot_ms`): vllm bench serve's TPOT, genai-perf's and AIPerf's
/// "inter token latency".
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Measured {
    pub output_tok_s: Option<f64>,
    pub ttft_p50_ms: Option<f64>,
    pub ttft_p99_ms: Option<f64>,
    pub tpot_p50_ms: Option<f64>,
    pub tpot_p99_ms: Option<f64>,
    pub e2e_p50_ms: Option<f64>,
    #[serde(default)]
    pub request_tpot_p50_ms: Option<f64>,
    #[serde(default)]
    pub request_tpot_p99_ms: Option<f64>,
    #[serde(default)]
    pub e2e_p99_ms: Option<f64>,
}

/// The metrics a case can measure, in report order.
pub const METRICS: [&str; 9] = [
    "output_tok_s",
    "ttft_p50_ms",
    "ttft_p99_ms",
    "tpot_p50_ms",
    "tpot_p99_ms",
    "request_tpot_p50_ms",
    "request_tpot_p99_ms",
    "e2e_p50_ms",
    "e2e_p99_ms",
];

impl Measured {
    /// `(metric, measured value)` for every metric present, in [`METRICS`] order.
    pub fn present(&self) -> Vec<(&'static str, f64)> {
        let all = [
            self.output_tok_s,
            self.ttft_p50_ms,
            self.ttft_p99_ms,
            self.tpot_p50_ms,
            self.tpot_p99_ms,
            self.request_tpot_p50_ms,
            self.request_tpot_p99_ms,
            self.e2e_p50_ms,
            self.e2e_p99_ms,
        ];
        METRICS
            .iter()
            .zip(all)
            .filter_map(|(&m, v)| v.map(|v| (m, v)))
            .collect()
    }
}

/// Parses a validation file's text and notes each case's line.
pub fn parse(text: &str, path: &Path) -> Result<ValidationFile> {
    let mut file: ValidationFile = parse_toml(text, path)?;
    if file.case.is_empty() {
        return Err(Error::input(
            path,
            "case",
            "the file holds no [[case]] table; a validation file lists published measurements, one [[case]] each",
        ));
    }
    let headers = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.trim_start().starts_with("[[case]]"))
        .map(|(i, _)| i + 1);
    for (case, line) in file.case.iter_mut().zip(headers) {
        case.line = Some(line);
    }
    super::annotate::apply(&mut file)?;
    Ok(file)
}

impl Case {
    pub(super) fn error(&self, file: &Path, key: &str, message: impl Into<String>) -> Error {
        let at = match self.line {
            Some(l) => format!("line {l}, case `{}`, key `{key}`", self.id),
            None => format!("case `{}`, key `{key}`", self.id),
        };
        Error::input(file, at, message)
    }

    /// The keys each load kind needs are present, the ones it does not use are absent, and the
    /// numbers are in range.
    pub fn check(&self, file: &Path) -> Result<()> {
        let kind = self.load.name();
        let (needs, unused): (&[&str], &[&str]) = match self.load {
            LoadKind::Static => (&["concurrency"], &["requests", "qps", "cv", "max_concurrency"]),
            // `requests` is optional: default `concurrency` × CLOSED_ROUNDS.
            LoadKind::Closed => (&["concurrency"], &["qps", "cv", "max_concurrency"]),
            LoadKind::Offline => (&["requests"], &["concurrency", "qps", "cv", "max_concurrency"]),
            LoadKind::Poisson | LoadKind::Constant => (&["qps"], &["concurrency", "cv"]),
            LoadKind::Gamma => (&["qps", "cv"], &["concurrency"]),
        };
        let present = |k: &str| match k {
            "concurrency" => self.concurrency.is_some(),
            "requests" => self.requests.is_some(),
            "cv" => self.cv.is_some(),
            "max_concurrency" => self.max_concurrency.is_some(),
            _ => self.qps.is_some(),
        };
        for k in needs {
            if !present(k) {
                return Err(self.error(file, k, format!("is required for `{kind}` load")));
            }
        }
        for k in unused {
            if present(k) {
                return Err(self.error(
                    file,
                    k,
                    format!("is not used by `{kind}` load; remove it (see the schema in the file's header)"),
                ));
            }
        }
        for (k, v) in [
            ("instances", self.instances as u64),
            ("chips", self.chips as u64),
            ("tp", self.tp as u64),
            ("concurrency", self.concurrency.map_or(1, u64::from)),
            ("requests", self.requests.unwrap_or(1)),
            ("max_concurrency", self.max_concurrency.map_or(1, u64::from)),
        ] {
            if v == 0 {
                return Err(self.error(file, k, "must be at least 1, got 0"));
            }
        }
        for (k, v) in [("qps", self.qps), ("cv", self.cv)] {
            if let Some(q) = v {
                if !(q.is_finite() && q > 0.0) {
                    return Err(self.error(file, k, format!("must be a finite number > 0, got {q}")));
                }
            }
        }
        if let Some(name) = &self.client {
            if crate::workload::client::Client::from_name(name).is_none() {
                return Err(self.error(
                    file,
                    "client",
                    format!(
                        "unknown benchmark client `{name}`; accepted: {}",
                        crate::workload::client::Client::accepted()
                    ),
                ));
            }
            if !(self.load == LoadKind::Closed || self.load.is_rate()) {
                return Err(self.error(
                    file,
                    "client",
                    format!("applies to closed and rate (poisson, constant, gamma) loads, not `{kind}`"),
                ));
            }
        }
        self.check_client_load(file)?;
        for (m, v) in self.measured.present() {
            if !(v.is_finite() && v > 0.0) {
                return Err(self.error(
                    file,
                    &format!("measured.{m}"),
                    format!("must be a finite number > 0, got {}", crate::error::given(v)),
                ));
            }
        }
        self.check_features(file)
    }

    /// A rate load's client is one that has the load's interval process and, with
    /// `max_concurrency`, a cap on requests in flight (`workload/client.rs`).
    fn check_client_load(&self, file: &Path) -> Result<()> {
        use crate::workload::client::{Client, RateKind};
        let kind = match self.load {
            LoadKind::Poisson => RateKind::Poisson,
            LoadKind::Constant => RateKind::Constant,
            LoadKind::Gamma => RateKind::Gamma,
            _ => return Ok(()),
        };
        let client = self.client.as_deref().and_then(Client::from_name).unwrap_or_default();
        if let Err(why) = client.rate_schedule(kind) {
            return Err(self.error(file, "client", why));
        }
        if self.max_concurrency.is_some() {
            if let Err(why) = client.cap_mode() {
                return Err(self.error(file, "max_concurrency", why));
            }
        }
        Ok(())
    }

    /// The `workload.arrival` inline table of a rate load.
    fn rate_arrival(&self) -> String {
        let mut t = format!(
            "{{ kind = \"{}\", rate_per_s = {}",
            self.load.name(),
            toml::Value::Float(self.qps.unwrap_or(1.0))
        );
        if let Some(cv) = self.cv.filter(|_| self.load == LoadKind::Gamma) {
            t.push_str(&format!(", cv = {}", toml::Value::Float(cv)));
        }
        if let Some(c) = &self.client {
            t.push_str(&format!(", client = {}", toml::Value::String(c.clone())));
        }
        if let Some(m) = self.max_concurrency {
            t.push_str(&format!(", max_concurrency = {m}"));
        }
        t.push_str(" }");
        t
    }

    /// codesim TP ranks for this case on `hw`, or why the case's parallelism does not map.
    ///
    /// codesim counts `chip.ranks_per_chip` ranks per chip (trn1/inf2: 2 NeuronCores, trn2: 4
    /// logical NeuronCores, a GPU: 1); the source counts `units_per_chip` of its `tp_unit`.
    pub fn ranks(&self, hw: &Hardware) -> std::result::Result<u32, String> {
        let chip = &hw.chip;
        let units_per_chip = match (self.tp_unit, chip.kind) {
            (TpUnit::Gpu, ChipKind::Gpu) => 1,
            (TpUnit::Neuroncore, ChipKind::Neuron) => chip.physical_cores_per_chip,
            (TpUnit::LogicalNeuroncore, ChipKind::Neuron) => chip.ranks_per_chip,
            (unit, kind) => {
                return Err(format!(
                    "tp_unit `{}` does not fit {} ({} chip {})",
                    unit.name(),
                    hw.instance.name,
                    format!("{kind:?}").to_lowercase(),
                    chip.name
                ));
            }
        };
        let replicas = self.replica_count();
        let implied_chips = self.tp.div_ceil(units_per_chip.max(1)) as u64 * replicas as u64;
        if implied_chips != self.chips as u64 {
            let times = if replicas > 1 {
                format!(" × {replicas} replicas")
            } else {
                String::new()
            };
            return Err(format!(
                "TP {} {}s at {units_per_chip} per {} chip{times} is {implied_chips} chips, but the case says chips = {}",
                self.tp,
                self.tp_unit.name(),
                chip.name,
                self.chips
            ));
        }
        let per_instance = hw.instance.chips;
        if self.chips.div_ceil(per_instance) != self.instances {
            return Err(format!(
                "{} chips on {} ({per_instance} chips each) need {} instances, but the case says instances = {}",
                self.chips,
                hw.instance.name,
                self.chips.div_ceil(per_instance),
                self.instances
            ));
        }
        let scaled = self.tp as u64 * chip.ranks_per_chip as u64;
        if scaled % units_per_chip as u64 != 0 {
            return Err(format!(
                "TP {} {}s is not a whole number of codesim ranks ({} per {} chip)",
                self.tp,
                self.tp_unit.name(),
                chip.ranks_per_chip,
                chip.name
            ));
        }
        Ok((scaled / units_per_chip as u64) as u32)
    }

    /// Batch and token limits of an offline (max-load) case: what trtllm-bench configures when
    /// the engine is TensorRT-LLM with fixed lengths; none (the engine's defaults) otherwise.
    fn bench_limits(&self, hw: &Hardware, ranks: u32, kv: Dtype) -> std::result::Result<Option<(u32, u32)>, String> {
        let fixed = self.input_tokens.zip(self.output_tokens);
        match (self.engine.as_deref(), fixed) {
            (Some("trtllm"), Some((i, o))) => {
                let m = crate::model::resolve_builtin(&self.model, Path::new("."), Path::new("case"), "model")
                    .map_err(|e| e.to_string())?;
                let w = self.weights.bytes();
                Ok(Some(super::trtllm_bench::settings(hw, &m, ranks, w, kv.bytes(), i, o)))
            }
            _ => Ok(None),
        }
    }

    /// The scenario TOML of this case on `hw` (checked by [`Case::check`] first).
    pub fn scenario_toml(&self, hw: &Hardware) -> std::result::Result<String, String> {
        let q = |s: &str| toml::Value::String(s.to_string()).to_string();
        let dtype = |d: Dtype| q(&d.to_string());
        let ranks = self.ranks(hw)?;
        // TensorRT-LLM's fp8 checkpoints quantise the KV cache to fp8 as well.
        let kv = if self.weights == Dtype::Fp8 && hw.chip.kind == ChipKind::Gpu {
            Dtype::Fp8
        } else {
            Dtype::Bf16
        };
        let n = |k: Option<u32>| k.unwrap_or(1);
        // The serving keys the benchmark fixes; everything else is the engine's default.
        let (mut serving, requests, arrival) = match self.load {
            LoadKind::Static => {
                let b = n(self.concurrency);
                (
                    vec![("scheduler", q("static")), ("max_batch", b.to_string())],
                    b as u64,
                    format!("{{ kind = \"static\", batch = {b} }}"),
                )
            }
            LoadKind::Closed => {
                let c = n(self.concurrency);
                (
                    vec![("max_batch", c.to_string())],
                    self.requests.unwrap_or(c as u64 * CLOSED_ROUNDS),
                    match self
                        .client
                        .as_deref()
                        .and_then(crate::workload::client::Client::from_name)
                    {
                        Some(client) => client.closed_arrival(c),
                        None => format!("{{ kind = \"closed\", clients = {c} }}"),
                    },
                )
            }
            // trtllm-bench sizes the batch and token limits from the KV capacity for the case's
            // lengths; other engines run their defaults.
            LoadKind::Offline => {
                let limits = self.bench_limits(hw, ranks, kv)?;
                (
                    limits.map_or(Vec::new(), |(b, t)| {
                        vec![("max_batch", b.to_string()), ("max_batched_tokens", t.to_string())]
                    }),
                    self.requests.unwrap_or(1),
                    "{ kind = \"offline\" }".to_string(),
                )
            }
            LoadKind::Poisson | LoadKind::Constant | LoadKind::Gamma => (
                Vec::new(),
                self.requests.unwrap_or(POISSON_DEFAULT_REQUESTS),
                self.rate_arrival(),
            ),
        };
        if let Some(b) = self.max_batch {
            serving.retain(|(k, _)| *k != "max_batch");
            serving.push(("max_batch", b.to_string()));
        }
        for (k, v) in [("engine", &self.engine), ("engine_version", &self.engine_version)] {
            if let Some(v) = v {
                serving.push((k, q(v)));
            }
        }
        let serving: String = serving.iter().map(|(k, v)| format!("{k} = {v}\n")).collect();
        let (serving_features, workload_features) = self.feature_sections();
        Ok(format!(
            "name = {id}\nseed = {SEED}\n\n[hardware]\ninstance = {inst}\n\n[model]\nname = {model}\nweights = {w}\ncompute = {c}\nkv_cache = {kv}\n\n[deployment]\ntp = {ranks}\nreplicas = {replicas}\n\n[serving]\n{serving}{serving_features}\n[workload]\nrequests = {requests}\narrival = {arrival}\ninput = {i}\noutput = {o}\n{workload_features}",
            id = q(&self.id),
            inst = q(&self.instance),
            model = q(&self.model),
            w = dtype(self.weights),
            c = dtype(self.compute),
            kv = dtype(kv),
            replicas = self.replica_count(),
            i = self.input_length().toml(),
            o = self.output_length().toml(),
        ))
    }
}
