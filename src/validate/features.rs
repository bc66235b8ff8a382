//! The optional keys that make a published feature result a case: length distributions instead
//! of fixed lengths, speculative decoding (`[case.speculative]`), a prefix-cache hit rate,
//! `replicas` and `max_batch`; their checks, the scenario sections they become and the note the
//! report prints for them.

use super::case::{Case, LoadKind};
use crate::error::Result;
use serde::Deserialize;
use std::fmt::Write as _;
use std::path::Path;

/// A length distribution, as a scenario's `[workload.input]` writes it (fixed lengths stay
/// `input_tokens` / `output_tokens`, so there is one way to write each).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum Lengths {
    Uniform {
        min: u32,
        max: u32,
    },
    /// Log-normal with this mean and coefficient of variation, clamped to `[min, max]`.
    Lognormal {
        mean: f64,
        cv: f64,
        #[serde(default = "one")]
        min: u32,
        max: u32,
    },
    /// Normal with this mean and standard deviation, drawn again below `min`, clamped to `max`:
    /// how LLMPerf, genai-perf and AIPerf draw synthetic lengths (a scenario's
    /// `{ kind = "normal" }`); imported result files give their measured lengths this shape.
    Normal {
        mean: f64,
        stddev: f64,
        #[serde(default = "one")]
        min: u32,
        max: u32,
    },
}

fn one() -> u32 {
    1
}

/// `[case.speculative]`: a draft model proposes `speculation_length` tokens per step, verified
/// by the target in one pass. The draft runs on the case's chips at the target's TP, which is
/// NxD Inference's fused speculation (draft and target in one compiled model) and vLLM's
/// draft-model speculation alike: codesim's `method = "draft"`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseSpeculative {
    /// A model preset (`codesim model list`), e.g. "llama-3.2-1b".
    pub draft_model: String,
    /// Drafted tokens per step, γ (NxD Inference's `speculation_length`, vLLM's
    /// `num_speculative_tokens`).
    pub speculation_length: u32,
    /// Probability that a drafted token is accepted given every earlier one was.
    #[serde(default)]
    pub acceptance: Option<f64>,
    /// Or one such probability per drafted position (γ values).
    #[serde(default)]
    pub acceptance_by_position: Option<Vec<f64>>,
    /// Where the acceptance comes from: the source's figure, or an assumption and its reason.
    /// Required because sources rarely publish it and it sets the speed-up.
    pub acceptance_source: String,
}

/// The most drafted tokens per step a scenario accepts (`serving.speculative.gamma`).
const MAX_SPECULATION_LENGTH: u32 = 16;

/// A fixed length or a distribution, whichever the case gives.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Length {
    Fixed(u32),
    Dist(Lengths),
}

impl Length {
    /// The distribution's mean (log-normal: before clamping), tokens.
    pub fn mean(self) -> f64 {
        match self {
            Length::Fixed(n) => n as f64,
            Length::Dist(Lengths::Uniform { min, max }) => (min as f64 + max as f64) / 2.0,
            Length::Dist(Lengths::Lognormal { mean, .. } | Lengths::Normal { mean, .. }) => mean,
        }
    }

    /// The scenario's inline table, e.g. `{ kind = "fixed", tokens = 128 }`.
    pub fn toml(self) -> String {
        match self {
            Length::Fixed(n) => format!("{{ kind = \"fixed\", tokens = {n} }}"),
            Length::Dist(Lengths::Uniform { min, max }) => {
                format!("{{ kind = \"uniform\", min = {min}, max = {max} }}")
            }
            Length::Dist(Lengths::Lognormal { mean, cv, min, max }) => format!(
                "{{ kind = \"lognormal\", mean = {}, cv = {}, min = {min}, max = {max} }}",
                toml::Value::Float(mean),
                toml::Value::Float(cv)
            ),
            Length::Dist(Lengths::Normal { mean, stddev, min, max }) => format!(
                "{{ kind = \"normal\", mean = {}, stddev = {}, min = {min}, max = {max} }}",
                toml::Value::Float(mean),
                toml::Value::Float(stddev)
            ),
        }
    }

    /// For the report: nothing for a fixed length, else e.g. "lognormal mean 1000 cv 0.5 ≤ 4000".
    fn note(self) -> Option<String> {
        match self {
            Length::Fixed(_) => None,
            Length::Dist(Lengths::Uniform { min, max }) => Some(format!("uniform {min}–{max}")),
            Length::Dist(Lengths::Lognormal { mean, cv, min, max }) => {
                Some(format!("lognormal mean {mean} cv {cv} in [{min}, {max}]"))
            }
            Length::Dist(Lengths::Normal { mean, stddev, min, max }) => Some(format!(
                "normal mean {} sd {} in [{min}, {max}]",
                crate::numfmt::measured(mean),
                crate::numfmt::measured(stddev)
            )),
        }
    }
}

impl Case {
    /// The prompt length: `input_tokens` or `input` (checked by [`Case::check`] first).
    pub fn input_length(&self) -> Length {
        pick(self.input_tokens, self.input)
    }

    /// The output length: `output_tokens` or `output`.
    pub fn output_length(&self) -> Length {
        pick(self.output_tokens, self.output)
    }

    /// Data-parallel copies of the deployment (1 unless the case says).
    pub fn replica_count(&self) -> u32 {
        self.replicas.unwrap_or(1)
    }

    /// Checks the optional feature keys (the base keys are checked by [`Case::check`]).
    pub(super) fn check_features(&self, file: &Path) -> Result<()> {
        self.check_length(file, "input", self.input_tokens, self.input)?;
        self.check_length(file, "output", self.output_tokens, self.output)?;
        for (k, v) in [("replicas", self.replicas), ("max_batch", self.max_batch)] {
            if v == Some(0) {
                return Err(self.error(file, k, "must be at least 1, got 0"));
            }
        }
        if self.max_batch.is_some() && self.load == LoadKind::Static {
            return Err(self.error(
                file,
                "max_batch",
                "is not used by `static` load (the batch is `concurrency`); remove it",
            ));
        }
        if let Some(h) = self.prefix_hit_rate {
            self.check_prefix(file, h)?;
        }
        if let Some(s) = &self.speculative {
            self.check_speculative(file, s)?;
        }
        Ok(())
    }

    /// `<what>_tokens` or `<what>`, exactly one, in range.
    fn check_length(&self, file: &Path, what: &str, fixed: Option<u32>, dist: Option<Lengths>) -> Result<()> {
        let dist = match (fixed, dist) {
            (Some(_), Some(_)) => {
                return Err(self.error(
                    file,
                    what,
                    format!("set either {what}_tokens (a fixed length) or {what} (a distribution), not both"),
                ));
            }
            (None, None) => {
                return Err(self.error(
                    file,
                    &format!("{what}_tokens"),
                    format!(
                        "is required: {what}_tokens = N (a fixed length) or {what} = {{ kind = \"uniform\", min, max }} / {{ kind = \"lognormal\", mean, cv, max }} / {{ kind = \"normal\", mean, stddev, max }}"
                    ),
                ));
            }
            (Some(0), None) => return Err(self.error(file, &format!("{what}_tokens"), "must be at least 1, got 0")),
            (Some(_), None) => return Ok(()),
            (None, Some(d)) => d,
        };
        let (min, max) = match dist {
            Lengths::Uniform { min, max } => (min, max),
            Lengths::Lognormal { mean, cv, min, max } => {
                for (k, v) in [("mean", mean), ("cv", cv)] {
                    if !(v.is_finite() && v > 0.0) {
                        return Err(self.error(
                            file,
                            &format!("{what}.{k}"),
                            format!("must be a finite number > 0, got {}", crate::error::given(v)),
                        ));
                    }
                }
                (min, max)
            }
            Lengths::Normal { mean, stddev, min, max } => {
                if !(mean.is_finite() && mean > 0.0) {
                    return Err(self.error(
                        file,
                        &format!("{what}.mean"),
                        format!("must be a finite number > 0, got {}", crate::error::given(mean)),
                    ));
                }
                if !(stddev.is_finite() && stddev >= 0.0) {
                    return Err(self.error(
                        file,
                        &format!("{what}.stddev"),
                        format!("must be a finite number >= 0, got {}", crate::error::given(stddev)),
                    ));
                }
                (min, max)
            }
        };
        if min == 0 {
            return Err(self.error(file, &format!("{what}.min"), "must be at least 1, got 0"));
        }
        if max < min {
            return Err(self.error(
                file,
                &format!("{what}.max"),
                format!("must be >= min ({min}), got {max}"),
            ));
        }
        Ok(())
    }

    fn check_prefix(&self, file: &Path, h: f64) -> Result<()> {
        if !(h.is_finite() && (0.0..1.0).contains(&h)) {
            return Err(self.error(
                file,
                "prefix_hit_rate",
                format!(
                    "must be a fraction in [0, 1) of prompt tokens served from the cache, got {h} (a prompt always computes its last token)"
                ),
            ));
        }
        if matches!(self.load, LoadKind::Static | LoadKind::Closed) {
            return Err(self.error(
                file,
                "prefix_hit_rate",
                format!(
                    "needs load = \"poisson\" or \"offline\", got `{}`: codesim's shared prompts ([workload.prefix]) come with open-loop arrivals only",
                    self.load.name()
                ),
            ));
        }
        Ok(())
    }

    fn check_speculative(&self, file: &Path, s: &CaseSpeculative) -> Result<()> {
        let key = |k: &str| format!("speculative.{k}");
        if self.load == LoadKind::Static {
            return Err(self.error(
                file,
                "speculative",
                "needs continuous batching: use load = \"closed\", \"poisson\" or \"offline\", not `static`",
            ));
        }
        if s.draft_model.trim().is_empty() {
            return Err(self.error(
                file,
                &key("draft_model"),
                "must name a model preset, e.g. \"llama-3.2-1b\"",
            ));
        }
        let g = s.speculation_length;
        if !(1..=MAX_SPECULATION_LENGTH).contains(&g) {
            return Err(self.error(
                file,
                &key("speculation_length"),
                format!("must be in 1..={MAX_SPECULATION_LENGTH}, got {g}"),
            ));
        }
        let values: Vec<(String, f64)> = match (&s.acceptance, &s.acceptance_by_position) {
            (Some(_), Some(_)) => {
                return Err(self.error(
                    file,
                    &key("acceptance_by_position"),
                    "set either acceptance or acceptance_by_position, not both",
                ));
            }
            (None, None) => {
                return Err(self.error(
                    file,
                    &key("acceptance"),
                    "is required (or acceptance_by_position): the probability in [0, 1] that a drafted token is accepted",
                ));
            }
            (Some(a), None) => vec![(key("acceptance"), *a)],
            (None, Some(v)) => {
                if v.len() != g as usize {
                    return Err(self.error(
                        file,
                        &key("acceptance_by_position"),
                        format!("needs speculation_length = {g} values, got {}", v.len()),
                    ));
                }
                v.iter()
                    .enumerate()
                    .map(|(i, a)| (format!("{}[{i}]", key("acceptance_by_position")), *a))
                    .collect()
            }
        };
        for (k, a) in values {
            if !(a.is_finite() && (0.0..=1.0).contains(&a)) {
                return Err(self.error(file, &k, format!("must be a probability in [0, 1], got {a}")));
            }
        }
        if s.acceptance_source.trim().is_empty() {
            return Err(self.error(
                file,
                &key("acceptance_source"),
                "must say where the acceptance comes from: the source's figure, or \"assumption: <why>\"",
            ));
        }
        Ok(())
    }

    /// The scenario sections of the case's features: `(serving, workload)` TOML text to append
    /// after the `[serving]` and `[workload]` keys.
    pub(super) fn feature_sections(&self) -> (String, String) {
        let mut serving = String::new();
        let mut workload = String::new();
        if let Some(s) = &self.speculative {
            let acceptance = match (&s.acceptance, &s.acceptance_by_position) {
                (_, Some(v)) => format!("acceptance_by_position = {}", float_array(v)),
                (a, None) => format!("acceptance = {}", toml::Value::Float(a.unwrap_or(f64::NAN))),
            };
            let _ = write!(
                serving,
                "\n[serving.speculative]\nmethod = \"draft\"\ndraft_model = {}\ngamma = {}\n{acceptance}\n",
                toml::Value::String(s.draft_model.clone()),
                s.speculation_length
            );
        }
        if let Some(h) = self.prefix_hit_rate {
            // One shared system prompt of h × the mean prompt: every prompt after the first finds
            // it cached, so that share of its tokens skips prefill.
            let system_tokens = (h * self.input_length().mean()).round() as u32;
            serving.push_str("\n[serving.prefix_cache]\nenabled = true\n");
            let _ = write!(
                workload,
                "\n[workload.prefix]\ngroups = 1\nsystem_tokens = {system_tokens}\n"
            );
        }
        (serving, workload)
    }

    /// What the case turns on beyond a fixed-length single replica, for the report ("" if
    /// nothing).
    pub fn features(&self) -> String {
        let mut parts = Vec::new();
        if let Some(how) = &self.imported {
            parts.push(how.clone());
        }
        if let Some(r) = self.replicas.filter(|&r| r > 1) {
            parts.push(format!("{r} replicas"));
        }
        if let Some(b) = self.max_batch {
            parts.push(format!("max_batch {b}"));
        }
        if let Some(s) = &self.speculative {
            let a = match (&s.acceptance, &s.acceptance_by_position) {
                (_, Some(v)) => format!("α by position {v:?}"),
                (a, None) => format!("α {}", a.unwrap_or(f64::NAN)),
            };
            parts.push(format!(
                "speculative: draft {} γ {} {a}",
                s.draft_model, s.speculation_length
            ));
        }
        if let Some(h) = self.prefix_hit_rate {
            parts.push(format!("prefix cache: hit rate {h}"));
        }
        for (what, l) in [("input", self.input_length()), ("output", self.output_length())] {
            if let Some(n) = l.note() {
                parts.push(format!("{what} {n}"));
            }
        }
        parts.join("; ")
    }
}

fn pick(fixed: Option<u32>, dist: Option<Lengths>) -> Length {
    match (fixed, dist) {
        (_, Some(d)) => Length::Dist(d),
        (f, None) => Length::Fixed(f.unwrap_or(1)),
    }
}

fn float_array(v: &[f64]) -> String {
    let items: Vec<String> = v.iter().map(|x| toml::Value::Float(*x).to_string()).collect();
    format!("[{}]", items.join(", "))
}
