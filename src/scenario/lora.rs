//! `[serving.lora]`: LoRA adapters on the served model (`serve::lora`). The adapter shape comes
//! from the model config (every target module's input and output width), the load path from the
//! instance's host link and a storage tier of the catalog (`hw-profiles/storage.toml`).

use crate::dtype::Dtype;
use crate::error::{Error, Result};
use crate::hw::Catalog;
use crate::model::{Attention, ModelSpec};
use crate::serve::lora::{AdapterMix, LoraConfig, LoraSpec, Target};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// Most adapters a scenario may declare (the draw keeps a popularity table per class).
pub const MAX_ADAPTERS: u32 = 1_000_000;
/// Target modules when none are given: the four attention projections (S-LoRA's and Punica's
/// evaluations adapt q, k, v and o).
pub const DEFAULT_TARGETS: [&str; 4] = ["q_proj", "k_proj", "v_proj", "o_proj"];
/// Accepted target modules (the Hugging Face PEFT names of a Llama-style layer).
pub const TARGETS: [&str; 7] = [
    "q_proj",
    "k_proj",
    "v_proj",
    "o_proj",
    "gate_proj",
    "up_proj",
    "down_proj",
];
/// Storage tier adapters are read from when the host does not hold them.
pub const DEFAULT_STORAGE: &str = "nvme";

/// `[serving.lora]` as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoraSection {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Adapters that exist (ids 0..adapters).
    pub adapters: u32,
    /// LoRA rank r.
    pub rank: u32,
    /// Adapted projections (default: q, k, v, o).
    #[serde(default)]
    pub target_modules: Option<Vec<String>>,
    /// Adapter weight format (default bf16).
    #[serde(default)]
    pub dtype: Option<Dtype>,
    /// Adapters a replica holds in device memory at once (vLLM `max_loras`).
    pub slots: u32,
    /// Adapters a replica's host memory keeps (vLLM `max_cpu_loras`; default: all of them).
    #[serde(default)]
    pub host_slots: Option<u32>,
    /// Storage tier adapters are read from on a host miss (default `nvme`).
    #[serde(default)]
    pub storage: Option<String>,
    /// Zipf exponent of the adapters' popularity (default 0: uniform).
    #[serde(default)]
    pub zipf: Option<f64>,
    /// Fraction of requests on the base model, without an adapter (default 0).
    #[serde(default)]
    pub base_share: Option<f64>,
    /// Per workload class: which adapters its requests use.
    #[serde(default)]
    pub classes: BTreeMap<String, LoraClassSection>,
}

/// `[serving.lora.classes.<class>]`: the adapters one workload class uses (unset keys: the
/// section's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoraClassSection {
    /// First adapter id of the class's range (default 0).
    #[serde(default)]
    pub first_adapter: Option<u32>,
    /// Adapters in the class's range (default: from first_adapter to the last).
    #[serde(default)]
    pub adapters: Option<u32>,
    #[serde(default)]
    pub zipf: Option<f64>,
    #[serde(default)]
    pub base_share: Option<f64>,
}

fn yes() -> bool {
    true
}

/// What the section is checked against.
pub struct LoraContext<'a> {
    pub model: &'a ModelSpec,
    pub catalog: &'a Catalog,
    /// Workload class names, in order.
    pub classes: Vec<&'a str>,
    /// Every pool unified, pp = 1, no speculative decoding: what the adapter model covers.
    pub unsupported: Option<&'static str>,
}

pub fn resolve(s: &LoraSection, cx: &LoraContext, path: &Path, notes: &mut Vec<String>) -> Result<Option<LoraConfig>> {
    if !s.enabled {
        return Ok(None);
    }
    let key = |k: &str| format!("serving.lora.{k}");
    if let Some(why) = cx.unsupported {
        return Err(Error::input(
            path,
            "serving.lora",
            format!("LoRA adapters are not modelled {why}"),
        ));
    }
    in_range(path, &key("adapters"), s.adapters, 1, MAX_ADAPTERS)?;
    in_range(path, &key("rank"), s.rank, 1, 4096)?;
    in_range(path, &key("slots"), s.slots, 1, s.adapters)?;
    let host_slots = s.host_slots.unwrap_or(s.adapters);
    in_range(path, &key("host_slots"), host_slots, s.slots, s.adapters)?;
    let targets = targets(s, cx.model, path)?;
    let storage_name = s.storage.as_deref().unwrap_or(DEFAULT_STORAGE);
    let storage = cx
        .catalog
        .storage(storage_name)
        .map_err(|m| Error::input(path, key("storage"), m))?
        .clone();
    let dtype = s.dtype.unwrap_or(Dtype::Bf16);
    let spec = LoraSpec {
        adapters: s.adapters,
        rank: s.rank,
        targets,
        layers: cx.model.layers,
        dtype_bytes: dtype.bytes(),
        slots: s.slots,
        host_slots,
        storage,
    };
    let mixes = mixes(s, cx, path)?;
    notes.push(format!(
        "LoRA: {} adapters of rank {} on {} ({:.1} MB each in {}), {} device slots per replica, host keeps {}, read from `{}` on a host miss; zipf {} base share {} unless a class says otherwise",
        s.adapters,
        s.rank,
        spec.targets.iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join(", "),
        spec.adapter_bytes() / 1e6,
        dtype.name(),
        s.slots,
        host_slots,
        storage_name,
        s.zipf.unwrap_or(0.0),
        s.base_share.unwrap_or(0.0),
    ));
    Ok(Some(LoraConfig { spec, mixes }))
}

fn in_range(path: &Path, key: &str, v: u32, lo: u32, hi: u32) -> Result<()> {
    if (lo..=hi).contains(&v) {
        Ok(())
    } else {
        Err(Error::input(path, key, format!("must be in {lo}..={hi}, got {v}")))
    }
}

/// Each target's input and output width, from the model config.
fn targets(s: &LoraSection, m: &ModelSpec, path: &Path) -> Result<Vec<Target>> {
    let names: Vec<String> = match &s.target_modules {
        Some(v) => v.clone(),
        None => DEFAULT_TARGETS.iter().map(|t| t.to_string()).collect(),
    };
    if names.is_empty() {
        return Err(Error::input(
            path,
            "serving.lora.target_modules",
            format!("needs at least one module; accepted: {}", TARGETS.join(", ")),
        ));
    }
    let q = m.heads * m.head_dim;
    let kv = m.kv_heads * m.head_dim;
    let mut out = Vec::new();
    for (i, n) in names.iter().enumerate() {
        let at = format!("serving.lora.target_modules[{i}]");
        if names[..i].contains(n) {
            return Err(Error::input(path, at, format!("`{n}` is listed twice")));
        }
        let (d_in, d_out) = match n.as_str() {
            "q_proj" => (m.hidden, q),
            "k_proj" | "v_proj" => (m.hidden, kv),
            "o_proj" => (q, m.hidden),
            "gate_proj" | "up_proj" => (m.hidden, m.ffn),
            "down_proj" => (m.ffn, m.hidden),
            _ => {
                return Err(Error::input(path, at, crate::scenario::suggest(n, &TARGETS)));
            }
        };
        let attn = DEFAULT_TARGETS.contains(&n.as_str());
        if attn && (m.attention != Attention::Gqa || m.linear_attention.is_some()) {
            return Err(Error::input(
                path,
                at,
                format!(
                    "`{n}`: adapters on {}'s attention (MLA or linear layers) are not modelled; adapt the MLP (gate_proj, up_proj, down_proj) of a dense model instead",
                    m.name
                ),
            ));
        }
        if !attn && m.moe.is_some() {
            return Err(Error::input(
                path,
                at,
                format!(
                    "`{n}`: {} is an MoE model; adapters on its experts are not modelled (adapt q/k/v/o_proj)",
                    m.name
                ),
            ));
        }
        if n == "gate_proj" && !m.gated_ffn {
            return Err(Error::input(
                path,
                at,
                format!("{} has no gate projection (plain MLP)", m.name),
            ));
        }
        out.push(Target {
            name: n.clone(),
            d_in,
            d_out,
        });
    }
    Ok(out)
}

/// One adapter mix per workload class.
fn mixes(s: &LoraSection, cx: &LoraContext, path: &Path) -> Result<Vec<AdapterMix>> {
    for name in s.classes.keys() {
        if !cx.classes.contains(&name.as_str()) {
            return Err(Error::input(
                path,
                format!("serving.lora.classes.{name}"),
                format!(
                    "no workload class `{name}`; {}",
                    crate::scenario::suggest(name, &cx.classes)
                ),
            ));
        }
    }
    let mut out = Vec::new();
    for name in &cx.classes {
        let c = s.classes.get(*name);
        let at = |k: &str| match c {
            Some(_) => format!("serving.lora.classes.{name}.{k}"),
            None => format!("serving.lora.{k}"),
        };
        let first = c.and_then(|c| c.first_adapter).unwrap_or(0);
        in_range(path, &at("first_adapter"), first, 0, s.adapters - 1)?;
        let count = c.and_then(|c| c.adapters).unwrap_or(s.adapters - first);
        in_range(path, &at("adapters"), count, 1, s.adapters - first)?;
        let zipf = c.and_then(|c| c.zipf).or(s.zipf).unwrap_or(0.0);
        if !(zipf.is_finite() && zipf >= 0.0) {
            return Err(Error::input(
                path,
                at("zipf"),
                format!("must be a finite number >= 0, got {zipf}"),
            ));
        }
        let base_share = c.and_then(|c| c.base_share).or(s.base_share).unwrap_or(0.0);
        if !(0.0..=1.0).contains(&base_share) {
            return Err(Error::input(
                path,
                at("base_share"),
                format!("must be in [0, 1], got {}", crate::error::given(base_share)),
            ));
        }
        out.push(AdapterMix {
            first,
            count,
            zipf,
            base_share,
        });
    }
    Ok(out)
}
