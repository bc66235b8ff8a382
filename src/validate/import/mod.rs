//! A user's own measurements: the result files of `vllm bench serve --save-result`, genai-perf,
//! AIPerf and LLMPerf, read into validation cases so that `codesim validate` and `codesim
//! calibrate` run on them as on the published files (same report, same fit).
//!
//! A result file holds the metrics and the load (rate or concurrency, request count, lengths)
//! but not what ran it: the hardware, model, parallelism and engine come from a context
//! ([`Context`]: a small TOML file with the keys of a `[[case]]`, or command-line flags).
//!
//! The format is recognised by content, not by name ([`sniff`]); each reader cites the source
//! it follows and says which of the tool's definitions match codesim's metrics:
//! - codesim's `ttft_*` are the tools' time to first token, from the request's send;
//! - `tpot_*` (codesim's `itl_ms`) are percentiles over every gap between consecutive tokens of
//!   every request: vllm bench serve's ITL;
//! - `request_tpot_*` (codesim's `tpot_ms`) are percentiles over requests of (E2E − TTFT) /
//!   (output − 1): vllm bench serve's TPOT, genai-perf's and AIPerf's "inter token latency";
//! - LLMPerf's "inter token latency" is neither (each request's latency up to its last token,
//!   TTFT included, over its output tokens) and is not compared.

mod context;
mod genai;
mod llmperf;
pub mod table;
#[cfg(test)]
mod tests;
mod vllm;

pub use context::Context;

use super::case::{Case, LoadKind, Measured, TpUnit};
use super::features::Lengths;
use crate::error::{Error, Result};
use crate::hw::ChipKind;
use serde::Deserialize;
use std::path::Path;

/// The result-file formats codesim reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// `vllm bench serve --save-result` (or `--append-result`: one object per line).
    VllmBench,
    /// genai-perf's `profile_export_genai_perf.json`.
    GenaiPerf,
    /// genai-perf's `profile_export_genai_perf.csv`.
    GenaiPerfCsv,
    /// AIPerf's `profile_export_aiperf.json`.
    Aiperf,
    /// AIPerf's `profile_export_aiperf.csv`.
    AiperfCsv,
    /// LLMPerf's `<model>_<in>_<out>_summary.json`.
    LlmperfSummary,
    /// LLMPerf's `<model>_<in>_<out>_individual_responses.json`.
    LlmperfIndividual,
}

impl Format {
    pub const ALL: [Format; 7] = [
        Format::VllmBench,
        Format::GenaiPerf,
        Format::GenaiPerfCsv,
        Format::Aiperf,
        Format::AiperfCsv,
        Format::LlmperfSummary,
        Format::LlmperfIndividual,
    ];

    /// The context key's value (`format = "…"`).
    pub fn name(self) -> &'static str {
        match self {
            Format::VllmBench => "vllm-bench",
            Format::GenaiPerf => "genai-perf",
            Format::GenaiPerfCsv => "genai-perf-csv",
            Format::Aiperf => "aiperf",
            Format::AiperfCsv => "aiperf-csv",
            Format::LlmperfSummary => "llmperf-summary",
            Format::LlmperfIndividual => "llmperf-individual",
        }
    }

    /// What the tool writes, for notes and messages.
    pub fn describe(self) -> &'static str {
        match self {
            Format::VllmBench => "vllm bench serve --save-result JSON",
            Format::GenaiPerf => "genai-perf profile_export_genai_perf.json",
            Format::GenaiPerfCsv => "genai-perf profile_export_genai_perf.csv",
            Format::Aiperf => "AIPerf profile_export_aiperf.json",
            Format::AiperfCsv => "AIPerf profile_export_aiperf.csv",
            Format::LlmperfSummary => "LLMPerf *_summary.json",
            Format::LlmperfIndividual => "LLMPerf *_individual_responses.json",
        }
    }

    /// The benchmark client that sent the load (`workload.arrival.client`).
    fn client(self) -> &'static str {
        match self {
            Format::VllmBench => "vllm-bench",
            Format::GenaiPerf | Format::GenaiPerfCsv => "genai-perf",
            Format::Aiperf | Format::AiperfCsv => "aiperf",
            Format::LlmperfSummary | Format::LlmperfIndividual => "llmperf",
        }
    }

    /// Every accepted format, for messages.
    pub fn accepted() -> String {
        Format::ALL.map(Format::name).join(", ")
    }
}

/// How the tool sent its requests.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Load {
    /// `concurrency` requests in flight, the next sent when one ends.
    Closed { concurrency: u32 },
    /// Every request sent at once (vllm bench serve's `--request-rate inf` without a cap).
    Offline,
    /// An open loop at `qps`: `kind` is poisson, constant or gamma (`cv`), with the client's cap
    /// on requests in flight if it has one.
    Rate {
        qps: f64,
        kind: LoadKind,
        cv: Option<f64>,
        max_concurrency: Option<u32>,
    },
}

impl Load {
    /// For messages: "a closed loop of 8 clients", "poisson at 2 requests/s, at most 4 in flight".
    pub fn describe(self) -> String {
        match self {
            Load::Closed { concurrency } => format!("a closed loop of {concurrency} clients"),
            Load::Offline => "every request at once".into(),
            Load::Rate {
                qps,
                kind,
                max_concurrency,
                ..
            } => {
                let cap = max_concurrency.map_or(String::new(), |c| format!(", at most {c} in flight"));
                format!("{} at {qps} requests/s{cap}", kind.name())
            }
        }
    }
}

/// Token counts of the requests: mean, standard deviation, least and most.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LenStats {
    pub mean: f64,
    pub std: f64,
    pub min: f64,
    pub max: f64,
}

impl LenStats {
    /// The statistics of a sample (population standard deviation); `None` when it is empty.
    pub fn of(values: &[f64]) -> Option<LenStats> {
        if values.is_empty() {
            return None;
        }
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
        Some(LenStats {
            mean,
            std: var.sqrt(),
            min: values.iter().copied().fold(f64::INFINITY, f64::min),
            max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        })
    }

    /// A fixed length when every request had the same one (or only the mean is known), else a
    /// normal of the measured mean and deviation within the measured range: the shape in which
    /// LLMPerf, genai-perf and AIPerf draw synthetic lengths.
    fn lengths(self) -> (Option<u32>, Option<Lengths>) {
        let (min, max) = (self.min.round().max(1.0) as u32, self.max.round().max(1.0) as u32);
        if min == max || self.std <= 0.0 {
            return (Some(self.mean.round().max(1.0) as u32), None);
        }
        let dist = Lengths::Normal {
            mean: self.mean,
            stddev: self.std,
            min,
            max,
        };
        (None, Some(dist))
    }
}

/// What one result file (or one object of it) measured, in codesim's terms.
#[derive(Debug, Clone, PartialEq)]
pub struct Measurement {
    pub format: Format,
    /// `None` when the file does not hold it (CSV exports, LLMPerf's per-request file): the
    /// context gives it.
    pub load: Option<Load>,
    /// Requests sent (measured), if the file says.
    pub requests: Option<u64>,
    pub input: LenStats,
    pub output: LenStats,
    pub measured: Measured,
    /// How the file was read: defaults taken, metrics left out and why.
    pub notes: Vec<String>,
}

/// Recognises a result file by its content; `None` for anything else (a validation TOML file).
/// `forced` (the context's `format`) decides between genai-perf and AIPerf JSON when the file
/// itself does not say.
pub fn sniff(text: &str, file: &Path, forced: Option<Format>) -> Result<Option<Format>> {
    let t = text.trim_start_matches('\u{feff}').trim_start();
    let json =
        t.starts_with('{') || (t.starts_with('[') && matches!(t[1..].trim_start().chars().next(), Some('{' | ']')));
    if !json {
        return Ok(table::csv_header(text).map(|h| {
            // genai-perf's request table runs avg, min, max, p99, … (csv_exporter.py
            // REQUEST_METRICS_HEADER); AIPerf's avg, min, max, p1, … (constants.py STAT_KEYS).
            if h.get(4).map(|s| s.trim()) == Some("p99") {
                Format::GenaiPerfCsv
            } else {
                Format::AiperfCsv
            }
        }));
    }
    let first = first_json(text, file)?;
    let has = |k: &str| first.get(k).is_some();
    if let Some(arr) = first.as_array() {
        return match arr.first() {
            Some(o) if o.get("ttft_s").is_some() || o.get("end_to_end_latency_s").is_some() => {
                Ok(Some(Format::LlmperfIndividual))
            }
            _ => Err(not_a_result(file, "a JSON array whose first element has no `ttft_s`")),
        };
    }
    if has("num_concurrent_requests")
        || first
            .as_object()
            .is_some_and(|o| o.keys().any(|k| k.starts_with("results_")))
    {
        return Ok(Some(Format::LlmperfSummary));
    }
    if has("num_prompts") || has("median_ttft_ms") || has("endpoint_type") {
        return Ok(Some(Format::VllmBench));
    }
    if has("time_to_first_token") || has("request_throughput") || has("output_token_throughput") {
        return Ok(Some(genai::which(&first, file, forced)?));
    }
    Err(not_a_result(
        file,
        "a JSON object with none of the keys the four tools write",
    ))
}

fn not_a_result(file: &Path, what: &str) -> Error {
    Error::input(
        file,
        "",
        format!(
            "{what}: not a result file codesim reads ({}); nor a validation TOML file",
            Format::ALL.map(Format::describe).join(", ")
        ),
    )
}

/// The first JSON value of `text` (a vLLM `--append-result` file holds several, one per line).
fn first_json(text: &str, file: &Path) -> Result<serde_json::Value> {
    json_values(text, file)?
        .into_iter()
        .next()
        .ok_or_else(|| Error::input(file, "", "empty JSON file"))
}

/// Every JSON value of `text`, in order.
pub fn json_values(text: &str, file: &Path) -> Result<Vec<serde_json::Value>> {
    let text = text.trim_start_matches('\u{feff}');
    serde_json::Deserializer::from_str(text)
        .into_iter::<serde_json::Value>()
        .map(|v| {
            v.map_err(|e| {
                Error::input(
                    file,
                    format!("line {}, column {}", e.line(), e.column()),
                    format!(
                        "not valid JSON: {e} (Python's json.dump writes NaN and Infinity for undefined statistics; replace them with null)"
                    ),
                )
            })
        })
        .collect()
}

/// The measurements of a result file of `format`.
fn read(text: &str, file: &Path, format: Format) -> Result<Vec<Measurement>> {
    match format {
        Format::VllmBench => vllm::read(text, file),
        Format::GenaiPerf | Format::Aiperf => Ok(vec![genai::read_json(&first_json(text, file)?, file, format)?]),
        Format::GenaiPerfCsv | Format::AiperfCsv => Ok(vec![genai::read_csv(text, file, format)?]),
        Format::LlmperfSummary => Ok(vec![llmperf::read_summary(&first_json(text, file)?, file)?]),
        Format::LlmperfIndividual => Ok(vec![llmperf::read_individual(&first_json(text, file)?, file)?]),
    }
}

/// The validation cases of a result file of `format`, with what `ctx` says about the hardware,
/// model and engine.
pub fn cases(text: &str, file: &Path, format: Format, ctx: &Context) -> Result<Vec<Case>> {
    let runs = read(text, file, format)?;
    let base = case_id(file);
    let many = runs.len() > 1;
    runs.into_iter()
        .enumerate()
        .map(|(i, m)| {
            let id = if many {
                format!("{base}#{}", i + 1)
            } else {
                base.clone()
            };
            to_case(m, ctx, id, file)
        })
        .collect()
}

/// A case's id from its file: the file's stem, with its folder in front when the stem is a
/// tool's fixed name (AIPerf and genai-perf write `profile_export_*` into one folder per run).
fn case_id(file: &Path) -> String {
    let stem = file
        .file_stem()
        .map_or_else(String::new, |s| s.to_string_lossy().to_string());
    let parent = file
        .parent()
        .and_then(|p| p.file_name())
        .map(|p| p.to_string_lossy().to_string());
    match parent {
        Some(p) if stem.starts_with("profile_export") && !p.is_empty() => format!("{p}/{stem}"),
        _ => stem,
    }
}

/// The load the context gives, for a file that holds none.
fn context_load(ctx: &Context, file: &Path, format: Format) -> Result<Load> {
    match (ctx.concurrency, ctx.qps) {
        (Some(c), None) => Ok(Load::Closed { concurrency: c }),
        (None, Some(q)) => Ok(Load::Rate {
            qps: q,
            // The tools' default interval processes (workload/client.rs): genai-perf constant,
            // AIPerf poisson.
            kind: if matches!(format, Format::GenaiPerfCsv) {
                LoadKind::Constant
            } else {
                LoadKind::Poisson
            },
            cv: None,
            max_concurrency: None,
        }),
        (Some(_), Some(_)) => Err(ctx.error("qps", "give concurrency or qps, not both")),
        (None, None) => Err(Error::input(
            file,
            "",
            format!(
                "a {} does not hold the load it ran: give `concurrency = N` (closed loop) or `qps = R` (requests/s) in the context file, or --concurrency / --qps",
                format.describe()
            ),
        )),
    }
}

/// One measurement as a case.
fn to_case(m: Measurement, ctx: &Context, id: String, file: &Path) -> Result<Case> {
    let mut notes = m.notes.clone();
    let load = match m.load {
        Some(l) if ctx.concurrency.is_some() || ctx.qps.is_some() => {
            return Err(ctx.error(
                if ctx.qps.is_some() { "qps" } else { "concurrency" },
                format!(
                    "{} already says how it sent its requests ({}); the context's load is for files that do not",
                    file.display(),
                    l.describe()
                ),
            ));
        }
        Some(l) => l,
        None => context_load(ctx, file, m.format)?,
    };
    let hw = ctx.hardware()?;
    ctx.check_engine()?;
    let (tp_unit, unit_note) = match ctx.tp_unit {
        Some(u) => (u, None),
        None if hw.chip.kind == ChipKind::Neuron => (TpUnit::LogicalNeuroncore, Some("logical-neuroncore")),
        None => (TpUnit::Gpu, Some("gpu")),
    };
    if let Some(u) = unit_note {
        notes.push(format!("tp_unit = {u} (default: codesim's ranks)"));
    }
    let units_per_chip = match tp_unit {
        TpUnit::Gpu => 1,
        TpUnit::Neuroncore => hw.chip.physical_cores_per_chip.max(1),
        TpUnit::LogicalNeuroncore => hw.chip.ranks_per_chip.max(1),
    };
    let tp = ctx.required_tp()?;
    let replicas = ctx.replicas.unwrap_or(1);
    let chips = tp.div_ceil(units_per_chip) * replicas;
    let weights = ctx.required_weights()?;
    let compute = ctx.compute.unwrap_or_else(|| {
        let c = context::default_compute(weights);
        notes.push(format!("compute = {c} (default for {weights} weights)"));
        c
    });
    let requests = m.requests.or(ctx.requests);
    let mut case = Case {
        id,
        source: ctx
            .source
            .clone()
            .unwrap_or_else(|| format!("{} {}", m.format.describe(), file.display())),
        instance: hw.instance.name.clone(),
        instances: chips.div_ceil(hw.instance.chips.max(1)),
        chips,
        model: ctx.model_name()?,
        weights,
        compute,
        tp,
        tp_unit,
        load: LoadKind::Offline,
        engine: ctx.engine.clone(),
        engine_version: ctx.engine_version.clone(),
        client: None,
        concurrency: None,
        requests: None,
        qps: None,
        cv: None,
        max_concurrency: None,
        input_tokens: None,
        output_tokens: None,
        input: None,
        output: None,
        replicas: ctx.replicas,
        max_batch: ctx.max_batch,
        prefix_hit_rate: ctx.prefix_hit_rate,
        speculative: None,
        measured: m.measured,
        line: None,
        imported: None,
    };
    let client = ctx.client.clone().unwrap_or_else(|| m.format.client().to_string());
    apply_load(&mut case, load, requests, client, &mut notes);
    (case.input_tokens, case.input) = m.input.lengths();
    (case.output_tokens, case.output) = m.output.lengths();
    if case.measured.present().is_empty() {
        return Err(Error::input(
            file,
            "",
            format!(
                "holds none of the metrics codesim compares ({}); a run without streaming has no TTFT or inter-token figures",
                super::METRICS.join(", ")
            ),
        ));
    }
    if case.engine.is_none() {
        notes.push("engine: the chip's default (set engine in the context)".into());
    }
    case.imported = Some(format!("imported from {}: {}", m.format.describe(), notes.join("; ")));
    Ok(case)
}

/// Sets the case's load keys; `requests` defaults (rate: 1,000; closed: 8 per client) are noted.
fn apply_load(case: &mut Case, load: Load, requests: Option<u64>, client: String, notes: &mut Vec<String>) {
    match load {
        Load::Closed { concurrency } => {
            case.load = LoadKind::Closed;
            case.concurrency = Some(concurrency);
            case.client = Some(client);
            if requests.is_none() {
                notes.push(format!(
                    "requests = {} (default: {} per client; the file does not say)",
                    concurrency as u64 * super::CLOSED_ROUNDS,
                    super::CLOSED_ROUNDS
                ));
            }
        }
        Load::Offline => case.load = LoadKind::Offline,
        Load::Rate {
            qps,
            kind,
            cv,
            max_concurrency,
        } => {
            case.load = kind;
            case.qps = Some(qps);
            case.cv = cv;
            case.max_concurrency = max_concurrency;
            case.client = Some(client);
            if requests.is_none() {
                notes.push(format!(
                    "requests = {} (default; the file does not say)",
                    super::POISSON_DEFAULT_REQUESTS
                ));
            }
        }
    }
    case.requests = match load {
        Load::Offline => Some(requests.unwrap_or(super::POISSON_DEFAULT_REQUESTS)),
        _ => requests,
    };
}
