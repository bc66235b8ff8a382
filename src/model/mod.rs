//! Transformer and MoE architectures: what a model is made of, and what that costs per token in
//! parameters, FLOPs and bytes. Everything here is a pure function of a [`ModelSpec`]; the cost
//! model (`perf`) turns these counts into time on a given chip.
//!
//! A spec comes from a preset (`scenarios/models/<name>.toml`), from any TOML file of the same
//! shape, or from a Hugging Face `config.json` ([`from_hf_config`]). [`resolve`] picks the right
//! one from what the user wrote.
//!
//! Counts are `f64`: they feed rates and times, and a 405B model's FLOPs overflow nothing there.

mod audio;
mod cost;
mod hf;
mod hf_layers;
mod kv;
mod layers;
mod preset;
mod vision;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

pub use audio::AudioSpec;
pub use hf::{HF_MODEL_TYPES, from_hf_config};
pub use kv::KvFootprint;
pub use layers::{LayerKind, LayerPattern, LinearAttention};
pub use preset::{builtin_presets, list_presets, load_preset, load_spec_file, preset_names, resolve, resolve_builtin};
pub use vision::{ImageWork, VisionSpec};

/// The architecture of a decoder-only transformer, dense or mixture-of-experts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    pub name: String,
    pub layers: u32,
    /// Width of the residual stream (`hidden_size`).
    pub hidden: u32,
    /// Query heads.
    pub heads: u32,
    /// Key/value heads (GQA groups); equal to `heads` for plain multi-head attention.
    pub kv_heads: u32,
    /// Query/key head dimension. For MLA it must be `qk_nope_head_dim + qk_rope_head_dim`.
    pub head_dim: u32,
    /// Intermediate size of a dense FFN layer (unused when every layer is MoE).
    pub ffn: u32,
    pub vocab: u32,
    /// Longest context the model supports (`max_position_embeddings`); in a resolved scenario, the
    /// context the deployment serves (`model.max_context` when set).
    pub max_context: u32,
    /// SwiGLU-style FFN with gate, up and down matrices; `false` for a plain two-matrix MLP.
    #[serde(default = "default_true")]
    pub gated_ffn: bool,
    /// The LM head shares the embedding matrix.
    #[serde(default)]
    pub tied_embeddings: bool,
    #[serde(default, skip_serializing_if = "Attention::is_gqa")]
    pub attention: Attention,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moe: Option<MoeSpec>,
    /// Each layer's token mixer, as a repeated pattern (`layers.rs`); every layer is full
    /// attention without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer_pattern: Option<LayerPattern>,
    /// The linear-attention layers' shape, required when the pattern has `linear` layers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linear_attention: Option<LinearAttention>,
    /// One learned sink logit per head in every attention layer (gpt-oss): weights, no KV.
    #[serde(default, skip_serializing_if = "is_false")]
    pub attention_sinks: bool,
    /// A sigmoid output gate on the attention layers (Qwen3-Next): the query projection is
    /// twice as wide.
    #[serde(default, skip_serializing_if = "is_false")]
    pub attention_output_gate: bool,
    /// Where the numbers come from (a preset's published config.json).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The weight format the model is published in (`quantization_config`): a fact for the
    /// reader; the deployment's `model.weights` sets what is simulated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published_weights: Option<String>,
    /// A vision encoder in front of the model (`vision.rs`), if multimodal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vision: Option<VisionSpec>,
    /// An audio encoder in front of the model (`audio.rs`), if it hears.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio: Option<AudioSpec>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// How a layer's attention stores keys and values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum Attention {
    /// Grouped-query attention (covers MHA and MQA): K and V of `kv_heads × head_dim` are cached.
    #[default]
    Gqa,
    /// Multi-head latent attention (DeepSeek-V2/V3): one compressed latent of `kv_lora_rank`
    /// plus a shared RoPE key of `qk_rope_head_dim` is cached per token and layer.
    Mla {
        /// Rank of the query compression; `None` projects queries directly from the hidden state.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        q_lora_rank: Option<u32>,
        kv_lora_rank: u32,
        qk_nope_head_dim: u32,
        qk_rope_head_dim: u32,
        v_head_dim: u32,
    },
}

impl Attention {
    fn is_gqa(&self) -> bool {
        *self == Attention::Gqa
    }
}

/// Mixture-of-experts FFN layers.
///
/// Layer `i` (0-based) is an MoE layer when `i >= first_dense_layers` and `i % moe_every == 0`
/// (the DeepSeek convention); every other layer has a dense FFN of `ModelSpec::ffn`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MoeSpec {
    /// Routed experts per MoE layer.
    pub experts: u32,
    /// Routed experts each token visits.
    pub top_k: u32,
    /// Experts every token visits, besides the routed ones (each of `expert_ffn`).
    #[serde(default)]
    pub shared_experts: u32,
    /// Intermediate size of one expert.
    pub expert_ffn: u32,
    /// Intermediate size of a shared expert when it differs from `expert_ffn`
    /// (`shared_expert_intermediate_size`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared_expert_ffn: Option<u32>,
    /// Leading layers that keep a dense FFN (DeepSeek-V3: 3).
    #[serde(default)]
    pub first_dense_layers: u32,
    /// MoE layer period: 1 makes every layer (after the dense ones) MoE.
    #[serde(default = "default_one")]
    pub moe_every: u32,
}

/// The largest sizes a model spec may have: well above every published model (DeepSeek-V3's
/// 61 layers and 256 experts, Llama 4 Scout's 10 M context, Qwen3-Next's 512 experts), low
/// enough that no count can make the cost model allocate or loop without bound (a 300-byte
/// config with 120 M experts once took 84 s and 1.9 GB to refuse).
pub mod limits {
    pub const LAYERS: u32 = 1024;
    /// `hidden`, MLA ranks; FFN widths may be 16 × this.
    pub const WIDTH: u32 = 131_072;
    pub const HEADS: u32 = 16_384;
    pub const HEAD_DIM: u32 = 4096;
    pub const VOCAB: u32 = 4_194_304;
    pub const CONTEXT: u32 = 1 << 28;
    pub const EXPERTS: u32 = 4096;
    pub const SHARED_EXPERTS: u32 = 64;
}

/// `value` is a positive integer up to `max`, or the error names `key`, the value and the range.
fn in_range(file: &str, key: &str, value: u32, max: u32) -> Result<()> {
    if value == 0 || value > max {
        return Err(Error::input(
            file,
            key,
            format!("is {value}; accepted: a positive integer, 1 to {max}"),
        ));
    }
    Ok(())
}

fn default_true() -> bool {
    true
}

fn default_one() -> u32 {
    1
}

impl ModelSpec {
    /// Checks that the sizes describe a model that can exist. `file` is named in the error.
    pub fn validate(&self, file: &str) -> Result<()> {
        let bad = |key: &str, message: String| Err(Error::input(file, key, message));
        if self.name.trim().is_empty() {
            return bad("name", "must not be empty; accepted: any non-empty name".into());
        }
        for (key, value, max) in [
            ("layers", self.layers, limits::LAYERS),
            ("hidden", self.hidden, limits::WIDTH),
            ("heads", self.heads, limits::HEADS),
            ("kv_heads", self.kv_heads, limits::HEADS),
            ("head_dim", self.head_dim, limits::HEAD_DIM),
            ("ffn", self.ffn, limits::WIDTH * 16),
            ("vocab", self.vocab, limits::VOCAB),
            ("max_context", self.max_context, limits::CONTEXT),
        ] {
            in_range(file, key, value, max)?;
        }
        if self.heads % self.kv_heads != 0 {
            return bad(
                "kv_heads",
                format!(
                    "{} does not divide heads = {}; accepted: a divisor of heads",
                    self.kv_heads, self.heads
                ),
            );
        }
        if let Attention::Mla {
            q_lora_rank,
            kv_lora_rank,
            qk_nope_head_dim,
            qk_rope_head_dim,
            v_head_dim,
        } = self.attention
        {
            for (key, value, max) in [
                ("attention.kv_lora_rank", kv_lora_rank, limits::WIDTH),
                ("attention.qk_rope_head_dim", qk_rope_head_dim, limits::HEAD_DIM),
                ("attention.qk_nope_head_dim", qk_nope_head_dim.max(1), limits::HEAD_DIM),
                ("attention.v_head_dim", v_head_dim, limits::HEAD_DIM),
                ("attention.q_lora_rank", q_lora_rank.unwrap_or(1), limits::WIDTH),
            ] {
                in_range(file, key, value, max)?;
            }
            if self.head_dim != qk_nope_head_dim + qk_rope_head_dim {
                return bad(
                    "head_dim",
                    format!(
                        "{} with MLA attention; accepted: qk_nope_head_dim + qk_rope_head_dim = {}",
                        self.head_dim,
                        qk_nope_head_dim + qk_rope_head_dim
                    ),
                );
            }
        }
        self.validate_layers(file)?;
        if let Some(v) = &self.vision {
            v.validate(file, "vision.")?;
        }
        if let Some(a) = &self.audio {
            a.validate(file, "audio.")?;
        }
        self.validate_moe(file)
    }

    fn validate_moe(&self, file: &str) -> Result<()> {
        let bad = |key: &str, message: String| Err(Error::input(file, key, message));
        if let Some(moe) = &self.moe {
            for (key, value, max) in [
                ("moe.experts", moe.experts, limits::EXPERTS),
                ("moe.top_k", moe.top_k, limits::EXPERTS),
                ("moe.expert_ffn", moe.expert_ffn, limits::WIDTH * 16),
                ("moe.moe_every", moe.moe_every, limits::LAYERS),
                (
                    "moe.shared_expert_ffn",
                    moe.shared_expert_ffn.unwrap_or(1),
                    limits::WIDTH * 16,
                ),
            ] {
                in_range(file, key, value, max)?;
            }
            if moe.shared_experts > limits::SHARED_EXPERTS {
                return bad(
                    "moe.shared_experts",
                    format!("is {}; accepted: 0 to {}", moe.shared_experts, limits::SHARED_EXPERTS),
                );
            }
            if moe.first_dense_layers > self.layers {
                return bad(
                    "moe.first_dense_layers",
                    format!("is {}; accepted: 0 to layers = {}", moe.first_dense_layers, self.layers),
                );
            }
            if moe.top_k > moe.experts {
                return bad(
                    "moe.top_k",
                    format!(
                        "{} exceeds experts = {}; accepted: 1 to {}",
                        moe.top_k, moe.experts, moe.experts
                    ),
                );
            }
            if self.moe_layer_count() == 0 {
                return bad(
                    "moe.first_dense_layers",
                    format!(
                        "{} with moe_every = {} leaves no MoE layer among {} layers; accepted: fewer \
                         leading dense layers, or remove [moe]",
                        moe.first_dense_layers, moe.moe_every, self.layers
                    ),
                );
            }
        }
        Ok(())
    }

    /// Whether layer `layer` (0-based) has an MoE FFN; see [`MoeSpec`] for the rule.
    pub fn is_moe_layer(&self, layer: u32) -> bool {
        match &self.moe {
            Some(m) => layer < self.layers && layer >= m.first_dense_layers && layer % m.moe_every == 0,
            None => false,
        }
    }

    /// Layers with an MoE FFN.
    pub fn moe_layer_count(&self) -> u32 {
        match &self.moe {
            // Multiples of `moe_every` in [first_dense_layers, layers).
            Some(m) if m.moe_every > 0 => {
                let multiples_below = |n: u32| n.div_ceil(m.moe_every);
                multiples_below(self.layers).saturating_sub(multiples_below(m.first_dense_layers))
            }
            _ => 0,
        }
    }

    /// Layers with a dense FFN.
    pub fn dense_layer_count(&self) -> u32 {
        self.layers - self.moe_layer_count()
    }

    /// Head dimension of queries and keys (scores).
    pub fn qk_head_dim(&self) -> u32 {
        match self.attention {
            Attention::Gqa => self.head_dim,
            Attention::Mla {
                qk_nope_head_dim,
                qk_rope_head_dim,
                ..
            } => qk_nope_head_dim + qk_rope_head_dim,
        }
    }

    /// Head dimension of values (and of the attention output before `o_proj`).
    pub fn v_head_dim(&self) -> u32 {
        match self.attention {
            Attention::Gqa => self.head_dim,
            Attention::Mla { v_head_dim, .. } => v_head_dim,
        }
    }
}

impl ModelSpec {
    /// Query heads one tensor-parallel rank computes. Stacks that cannot split heads evenly pad
    /// them (Transformers NeuronX runs 32 heads at TP 24 as 2 heads on each of 24 ranks).
    pub fn heads_per_rank(&self, tp: u32) -> u32 {
        self.heads.div_ceil(tp.max(1))
    }

    /// The share of the model's KV cache one rank holds. KV heads split over TP until there are
    /// fewer KV heads than ranks; then each rank keeps (a replica of) one. MLA's latent cache is
    /// not split by heads: every rank holds all of it.
    pub fn kv_fraction_per_rank(&self, tp: u32) -> f64 {
        match self.attention {
            Attention::Mla { .. } => 1.0,
            Attention::Gqa => self.kv_heads.div_ceil(tp.max(1)) as f64 / self.kv_heads as f64,
        }
    }
}

#[cfg(test)]
mod tests;
