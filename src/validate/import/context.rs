//! The context of an imported result file: what the file does not say (the hardware, model,
//! parallelism and engine that produced it), as a small TOML file whose keys are those of a
//! validation `[[case]]` (`docs/reference/import.md`), or command-line flags that override it.

use super::super::case::TpUnit;
use super::Format;
use crate::dtype::Dtype;
use crate::error::{Error, Result};
use crate::hw::{Catalog, Hardware};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The context keys; every one optional in the file, `instance`, `model`, `weights` and `tp`
/// required in the end (file or flags).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Context {
    /// Instance type, as in `codesim hw list` (e.g. "p5.48xlarge").
    pub instance: Option<String>,
    /// Model preset (`codesim model list`) or a path to a HF config.json, relative to the
    /// context file.
    pub model: Option<String>,
    /// Weight storage format.
    pub weights: Option<Dtype>,
    /// Matmul format; default: the weights' format for bf16/fp16/fp8/fp32, bf16 for weight-only
    /// quantised formats.
    pub compute: Option<Dtype>,
    /// Tensor-parallel degree, in `tp_unit`s.
    pub tp: Option<u32>,
    /// What one TP rank is; default: a GPU, or a logical NeuronCore on Neuron chips (codesim's
    /// ranks).
    pub tp_unit: Option<TpUnit>,
    /// Data-parallel copies of the deployment behind the endpoint (default 1).
    pub replicas: Option<u32>,
    /// Serving engine (`engines/*.toml`); default: the chip's.
    pub engine: Option<String>,
    /// Engine version; default: the engine's.
    pub engine_version: Option<String>,
    /// The engine's most sequences per batch (vLLM's `--max-num-seqs`).
    pub max_batch: Option<u32>,
    /// Fraction of prompt tokens served from the prefix cache (rate and offline loads).
    pub prefix_hit_rate: Option<f64>,
    /// The benchmark client, instead of the one that wrote the file (e.g. "llmperf-legacy" for
    /// LLMPerf before its PR #59).
    pub client: Option<String>,
    /// The format, when the content leaves it open (a genai-perf / AIPerf JSON without its
    /// input_config).
    pub format: Option<Format>,
    /// Where the figures come from; default: the tool and the file.
    pub source: Option<String>,
    /// Closed-loop clients, for a file that does not hold its load (CSV exports, LLMPerf's
    /// per-request file).
    pub concurrency: Option<u32>,
    /// Requests per second, likewise.
    pub qps: Option<f64>,
    /// Requests sent, when the file does not say.
    pub requests: Option<u64>,
    /// The context file, for messages and relative model paths (`None`: flags only).
    #[serde(skip)]
    pub path: Option<PathBuf>,
}

/// The keys the command line sets too (`--instance`, …).
const FLAGS: [&str; 8] = [
    "instance",
    "model",
    "weights",
    "tp",
    "engine",
    "engine_version",
    "concurrency",
    "qps",
];

/// The compute format codesim assumes for `weights` when the context gives none.
pub fn default_compute(weights: Dtype) -> Dtype {
    match weights {
        Dtype::Fp32 | Dtype::Bf16 | Dtype::Fp16 | Dtype::Fp8 => weights,
        _ => Dtype::Bf16,
    }
}

impl Context {
    /// Reads a context file.
    pub fn read(path: &Path) -> Result<Context> {
        let mut c: Context = crate::input::read_toml(path)?;
        c.path = Some(path.to_path_buf());
        Ok(c)
    }

    /// Where the context's keys come from, for messages.
    fn origin(&self) -> PathBuf {
        self.path.clone().unwrap_or_else(|| PathBuf::from("<context flags>"))
    }

    /// An error about context key `key` (given in the file, or by its flag where it has one).
    pub fn error(&self, key: &str, message: impl Into<String>) -> Error {
        let flag = if FLAGS.contains(&key) {
            format!(" (or --{})", key.replace('_', "-"))
        } else {
            String::new()
        };
        Error::input(self.origin(), format!("key `{key}`{flag}"), message)
    }

    /// The engine and version, when given, name a profile and one of its versions.
    pub fn check_engine(&self) -> Result<()> {
        if let Some(name) = &self.engine {
            let e = crate::hw::engine::find(name).map_err(|m| self.error("engine", m))?;
            e.version(self.engine_version.as_deref())
                .map_err(|m| self.error("engine_version", m))?;
        }
        Ok(())
    }

    /// The error for a missing required key.
    fn missing(&self, key: &str, example: &str) -> Error {
        self.error(
            key,
            format!(
                "is required to simulate a benchmark result file (the file does not say what ran it): `{key} = {example}` in the context file (--context)"
            ),
        )
    }

    /// The instance's hardware.
    pub fn hardware(&self) -> Result<Hardware> {
        let name = self
            .instance
            .as_deref()
            .ok_or_else(|| self.missing("instance", "\"p5.48xlarge\""))?;
        Catalog::builtin()?
            .hardware(name)
            .map_err(|m| self.error("instance", m))
    }

    pub fn required_tp(&self) -> Result<u32> {
        match self.tp {
            None => Err(self.missing("tp", "1")),
            Some(0) => Err(self.error("tp", "must be at least 1, got 0")),
            Some(t) => Ok(t),
        }
    }

    pub fn required_weights(&self) -> Result<Dtype> {
        self.weights.ok_or_else(|| self.missing("weights", "\"bf16\""))
    }

    /// The model as a case names it: a preset as written; a config path made absolute against
    /// the context file's folder, so that it resolves wherever the result file is.
    pub fn model_name(&self) -> Result<String> {
        let m = self
            .model
            .as_deref()
            .ok_or_else(|| self.missing("model", "\"llama-3.1-8b\""))?;
        let is_path = m.contains('/') || m.ends_with(".json");
        match (&self.path, is_path) {
            (Some(p), true) if Path::new(m).is_relative() => {
                Ok(p.parent().unwrap_or(Path::new("")).join(m).display().to_string())
            }
            _ => Ok(m.to_string()),
        }
    }

    /// Whether no key is set (no context was given).
    pub fn is_empty(&self) -> bool {
        *self == Context::default()
    }
}
