//! Model and serving tricks a scenario can turn on: prompt (prefix) caching, speculative
//! decoding, expert parallelism and routing skew. Their TOML sections and validation.

use super::limits::{MAX_PREFIX_GROUPS, MAX_PREFIX_SESSIONS};
use crate::error::{Error, Result};
use crate::model::{self, ModelSpec};
use crate::serve::spec::SpecMethod;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// `[serving.prefix_cache]`: a block-level prompt cache per replica.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrefixCacheSection {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Host memory per replica that keeps blocks evicted from HBM (swapped back in over the host
    /// link on a hit). Default: none.
    #[serde(default)]
    pub host_tier_gib: Option<f64>,
    /// A cluster-wide remote tier (Mooncake-store style, pooled host memory across instances):
    /// every routed prompt's blocks are stored there, LRU within this capacity; a prefix found
    /// there and not locally is fetched over EFA. Default: none.
    #[serde(default)]
    pub remote_tier_gib: Option<f64>,
}

fn yes() -> bool {
    true
}

/// `[serving.speculative]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpeculativeSection {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// `draft` (a draft model, `draft_model`) or `heads` (EAGLE / Medusa / MTP heads).
    pub method: SpecMethod,
    /// A model preset or file, run on the same chips with the target's TP.
    #[serde(default)]
    pub draft_model: Option<String>,
    /// Drafted tokens per step (lookahead γ).
    #[serde(default = "gamma")]
    pub gamma: u32,
    /// Probability that a drafted token is accepted (given every earlier one was).
    #[serde(default)]
    pub acceptance: Option<f64>,
    /// Or one acceptance probability per drafted position (γ values).
    #[serde(default)]
    pub acceptance_by_position: Option<Vec<f64>>,
    /// Heads: the cost of drafting one token, as a fraction of one target layer (default
    /// [`heads_layer_fraction`]; refused with `method = "draft"`, which it does not apply to).
    #[serde(default)]
    pub heads_layer_fraction: Option<f64>,
}

fn gamma() -> u32 {
    4
}
fn heads_layer_fraction() -> f64 {
    0.5
}
/// Acceptance when none is given (EAGLE-class heads and well-matched drafts report 0.6–0.8).
pub const DEFAULT_ACCEPTANCE: f64 = 0.7;

/// `[workload.prefix]`: synthetic prompts as block hashes (see `serve::prefix_cache`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyntheticPrefixSection {
    /// Shared system prompts.
    #[serde(default = "one")]
    pub groups: u32,
    /// Tokens of each system prompt (the start of every prompt, within its drawn length).
    pub system_tokens: u32,
    /// Zipf exponent of the system prompts' popularity (0: uniform).
    #[serde(default)]
    pub zipf: f64,
    /// Multi-turn conversations that resend their history (0: every prompt is new after the
    /// system prompt).
    #[serde(default)]
    pub sessions: u32,
    /// Tokens per hashed block. Default: `serving.block_tokens`.
    #[serde(default)]
    pub block_tokens: Option<u32>,
}

fn one() -> u32 {
    1
}

/// Validated speculative decoding.
#[derive(Debug, Clone)]
pub struct SpecConfig {
    pub method: SpecMethod,
    pub draft: Option<ModelSpec>,
    pub gamma: u32,
    /// One value for every position, or γ values.
    pub acceptance: Vec<f64>,
    pub heads_layer_fraction: f64,
}

/// Validated features of a scenario.
#[derive(Debug, Clone, Default)]
pub struct Features {
    /// Prefix cache on, with this much host tier per replica (GiB, 0: none).
    pub prefix_cache: Option<f64>,
    /// Remote tier capacity, GiB (0: none).
    pub remote_tier_gib: f64,
    pub speculative: Option<SpecConfig>,
    pub synthetic_prefix: Option<SyntheticPrefixSection>,
    /// Expert-parallel groups (1: none).
    pub ep: u32,
    /// Routing probability per expert (empty: uniform, the closed-form default).
    pub expert_shares: Vec<f64>,
    /// LoRA adapters (`serving.lora`), if on.
    pub lora: Option<crate::serve::lora::LoraConfig>,
    /// KV offload tiers (`serving.kv_offload`), if on.
    pub kv_offload: Option<crate::serve::kv_tiers::OffloadConfig>,
    /// Requests carrying images (`workload.multimodal`), if on.
    pub multimodal: Option<super::multimodal::MultimodalConfig>,
}

/// The feature sections of a scenario file, as written, wherever they sit in it.
#[derive(Debug, Clone, Copy)]
pub struct FeatureSections<'a> {
    /// `[serving.prefix_cache]`.
    pub prefix_cache: Option<&'a PrefixCacheSection>,
    /// `[serving.speculative]`.
    pub speculative: Option<&'a SpeculativeSection>,
    /// `[workload.prefix]`.
    pub synthetic_prefix: Option<&'a SyntheticPrefixSection>,
    /// `deployment.ep`.
    pub ep: u32,
    /// `model.expert_skew_zipf`.
    pub expert_skew_zipf: Option<f64>,
    /// `model.expert_shares`.
    pub expert_shares: Option<&'a [f64]>,
}

/// What the features are checked against: the model, the TP of its (first) pool, and whether
/// batching is static.
#[derive(Debug, Clone, Copy)]
pub struct ServedModel<'a> {
    pub model: &'a ModelSpec,
    pub tp: u32,
    pub static_batching: bool,
}

fn fraction(path: &Path, key: &str, v: f64) -> Result<()> {
    if (0.0..=1.0).contains(&v) {
        Ok(())
    } else {
        Err(Error::input(
            path,
            key,
            format!("must be in [0, 1], got {}", crate::error::given(v)),
        ))
    }
}

/// Validates the feature sections against the served model (`path` is what errors name, `dir`
/// where a draft model file resolves from).
pub fn resolve(path: &Path, dir: &Path, served: &ServedModel, asked: &FeatureSections) -> Result<Features> {
    let mut f = Features {
        ep: asked.ep.max(1),
        ..Features::default()
    };
    if let Some(pc) = asked.prefix_cache.filter(|p| p.enabled) {
        (f.prefix_cache, f.remote_tier_gib) = prefix_cache(pc, path)?;
    }
    if let Some(s) = asked.synthetic_prefix {
        check_synthetic_prefix(s, path)?;
        f.synthetic_prefix = Some(s.clone());
    }
    if let Some(s) = asked.speculative.filter(|s| s.enabled) {
        f.speculative = Some(speculative(s, served, dir, path)?);
    }
    f.expert_shares = expert_shares(served.model, asked, path)?;
    Ok(f)
}

/// The host tier (Some, 0: none) and remote tier capacities, GiB.
fn prefix_cache(pc: &PrefixCacheSection, path: &Path) -> Result<(Option<f64>, f64)> {
    let gib = pc.host_tier_gib.unwrap_or(0.0);
    if !(gib.is_finite() && gib >= 0.0) {
        return Err(Error::input(
            path,
            "serving.prefix_cache.host_tier_gib",
            format!("must be a finite number >= 0, got {gib}"),
        ));
    }
    let remote = pc.remote_tier_gib.unwrap_or(0.0);
    if !(remote.is_finite() && remote >= 0.0) {
        return Err(Error::input(
            path,
            "serving.prefix_cache.remote_tier_gib",
            format!("must be a finite number >= 0, got {remote}"),
        ));
    }
    Ok((Some(gib), remote))
}

fn check_synthetic_prefix(s: &SyntheticPrefixSection, path: &Path) -> Result<()> {
    if s.groups == 0 {
        return Err(Error::input(
            path,
            "workload.prefix.groups",
            "must be at least 1, got 0",
        ));
    }
    // The simulation keeps a popularity weight per group and a slot per session.
    for (k, v, max) in [
        ("groups", s.groups, MAX_PREFIX_GROUPS),
        ("sessions", s.sessions, MAX_PREFIX_SESSIONS),
    ] {
        if v > max {
            return Err(Error::input(
                path,
                format!("workload.prefix.{k}"),
                format!("{v} is more than the {max} accepted"),
            ));
        }
    }
    if s.block_tokens == Some(0) {
        return Err(Error::input(
            path,
            "workload.prefix.block_tokens",
            "must be at least 1, got 0",
        ));
    }
    if !(s.zipf.is_finite() && s.zipf >= 0.0) {
        return Err(Error::input(
            path,
            "workload.prefix.zipf",
            format!("must be a finite number >= 0, got {}", s.zipf),
        ));
    }
    Ok(())
}

fn speculative(s: &SpeculativeSection, served: &ServedModel, dir: &Path, path: &Path) -> Result<SpecConfig> {
    if !(1..=16).contains(&s.gamma) {
        return Err(Error::input(
            path,
            "serving.speculative.gamma",
            format!("must be in 1..=16, got {}", s.gamma),
        ));
    }
    if served.static_batching {
        return Err(Error::input(
            path,
            "serving.speculative",
            "speculative decoding needs continuous or chunked batching, not static",
        ));
    }
    let acceptance = acceptance(s, path)?;
    let draft = match (s.method, &s.draft_model) {
        (SpecMethod::Draft, Some(name)) => Some(model::resolve_builtin(
            name,
            dir,
            path,
            "serving.speculative.draft_model",
        )?),
        (SpecMethod::Draft, None) => {
            return Err(Error::input(
                path,
                "serving.speculative.draft_model",
                "is required with method = \"draft\": a model preset, e.g. \"llama-3.2-1b\"",
            ));
        }
        (SpecMethod::Heads, Some(name)) => {
            return Err(Error::input(
                path,
                "serving.speculative.draft_model",
                format!(
                    "{name:?} would be ignored: method = \"heads\" drafts with heads on the target (EAGLE, Medusa, MTP); remove draft_model or use method = \"draft\""
                ),
            ));
        }
        (SpecMethod::Heads, None) => None,
    };
    if s.method == SpecMethod::Draft && s.heads_layer_fraction.is_some() {
        return Err(Error::input(
            path,
            "serving.speculative.heads_layer_fraction",
            "would be ignored: it is the cost of drafting heads (method = \"heads\"); a draft model's cost is its own",
        ));
    }
    let heads_layer_fraction = s.heads_layer_fraction.unwrap_or_else(heads_layer_fraction);
    if !(heads_layer_fraction.is_finite() && heads_layer_fraction > 0.0) {
        return Err(Error::input(
            path,
            "serving.speculative.heads_layer_fraction",
            format!("must be a finite number > 0, got {heads_layer_fraction}"),
        ));
    }
    Ok(SpecConfig {
        method: s.method,
        draft,
        gamma: s.gamma,
        acceptance,
        heads_layer_fraction,
    })
}

/// One acceptance probability for every position, or one per drafted position.
fn acceptance(s: &SpeculativeSection, path: &Path) -> Result<Vec<f64>> {
    match (&s.acceptance, &s.acceptance_by_position) {
        (Some(_), Some(_)) => Err(Error::input(
            path,
            "serving.speculative.acceptance_by_position",
            "set either acceptance or acceptance_by_position, not both",
        )),
        (Some(a), None) => {
            fraction(path, "serving.speculative.acceptance", *a)?;
            Ok(vec![*a])
        }
        (None, Some(v)) => {
            if v.len() != s.gamma as usize {
                return Err(Error::input(
                    path,
                    "serving.speculative.acceptance_by_position",
                    format!("needs gamma = {} values, got {}", s.gamma, v.len()),
                ));
            }
            for (i, a) in v.iter().enumerate() {
                fraction(path, &format!("serving.speculative.acceptance_by_position[{i}]"), *a)?;
            }
            Ok(v.clone())
        }
        (None, None) => Ok(vec![DEFAULT_ACCEPTANCE]),
    }
}

/// Expert parallelism and routing skew need an MoE model; returns the routing probability per
/// expert when skew or expert parallelism is asked for (else empty: uniform).
fn expert_shares(model: &ModelSpec, asked: &FeatureSections, path: &Path) -> Result<Vec<f64>> {
    let (ep, zipf, shares) = (asked.ep, asked.expert_skew_zipf, asked.expert_shares);
    let moe_asked = ep > 1 || zipf.is_some() || shares.is_some();
    match &model.moe {
        None if moe_asked => {
            return Err(Error::input(
                path,
                "deployment.ep",
                format!(
                    "{} is a dense model: expert parallelism and expert skew need an MoE model (e.g. mixtral-8x7b, qwen3-235b-a22b, deepseek-v3)",
                    model.name
                ),
            ));
        }
        Some(m) => {
            // Each pool's ep is checked against its tp and the expert slots where the pools are
            // resolved (scenario::resolve::deployment).
            if ep == 0 {
                return Err(Error::input(
                    path,
                    "deployment.ep",
                    format!(
                        "must be at least 1 for the {} experts of {}, got 0",
                        m.experts, model.name
                    ),
                ));
            }
            if let Some(z) = zipf {
                if !(z.is_finite() && z >= 0.0) {
                    return Err(Error::input(
                        path,
                        "model.expert_skew_zipf",
                        format!("must be a finite number >= 0, got {z}"),
                    ));
                }
            }
            if let Some(v) = shares {
                if v.len() != m.experts as usize || v.iter().any(|x| !(x.is_finite() && *x >= 0.0)) {
                    return Err(Error::input(
                        path,
                        "model.expert_shares",
                        format!("needs {} non-negative values (one per expert)", m.experts),
                    ));
                }
                if v.iter().sum::<f64>() <= 0.0 {
                    // All zero would silently become uniform routing.
                    return Err(Error::input(
                        path,
                        "model.expert_shares",
                        "are the experts' routing shares: at least one must be > 0 (all zero, got 0 in total)",
                    ));
                }
            }
            if moe_asked {
                return Ok(crate::perf::moe::expert_shares(m.experts, zipf.unwrap_or(0.0), shares));
            }
        }
        None => {}
    }
    Ok(Vec::new())
}
