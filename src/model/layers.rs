//! Which kind of token mixer each layer has, as the 2025–2026 models mix them: full attention,
//! sliding-window attention (gpt-oss alternates a 128-token window with full layers; Gemma and
//! Mistral windows), chunked local attention (Llama 4: 8192-token chunks on 3 of 4 layers, the
//! fourth a full NoPE layer), and linear attention with a constant-size recurrent state per
//! sequence (Qwen3-Next: Gated DeltaNet on 3 of 4 layers). What each holds per sequence:
//!
//! - a full layer: every token of the sequence, `2 · kv_heads · head_dim` elements per token;
//! - a sliding layer: the last `window` tokens at most (`min(len, window)`);
//! - a chunked layer: the tokens of the current chunk, at most `chunk`. codesim counts the bound
//!   `min(len, chunk)` for both what is held and what is read (an engine frees the earlier chunks'
//!   blocks as a new chunk starts, so past the first chunk this over-counts by up to one chunk);
//! - a linear layer: one recurrent state of `value_heads · key_head_dim · value_head_dim`
//!   elements plus the causal convolution's last `conv_kernel − 1` inputs, whatever the length.
//!
//! Attention sinks (gpt-oss) are one learned logit per head and layer: weights, no KV.

use serde::{Deserialize, Serialize};

use super::{Attention, ModelSpec};
use crate::error::{Error, Result};

/// The token mixer of one layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LayerKind {
    Full,
    Sliding,
    Chunked,
    Linear,
}

impl LayerKind {
    pub const NAMES: [&'static str; 4] = ["full", "sliding", "chunked", "linear"];
}

/// The layers' kinds, as a pattern repeated over the layers: layer `i` has `pattern[i % len]`
/// (gpt-oss: `["sliding", "full"]`; Llama 4: `["chunked", "chunked", "chunked", "full"]`;
/// Qwen3-Next: `["linear", "linear", "linear", "full"]`). A pattern as long as the model lists
/// every layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerPattern {
    pub pattern: Vec<LayerKind>,
    /// Tokens a sliding layer attends to (and holds), the current one included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<u32>,
    /// Tokens of one chunk of a chunked layer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunk: Option<u32>,
}

/// Gated DeltaNet-style linear attention (Qwen3-Next's `linear_*` config keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinearAttention {
    pub key_heads: u32,
    pub value_heads: u32,
    pub key_head_dim: u32,
    pub value_head_dim: u32,
    /// Width of the causal depthwise convolution over q, k and v.
    pub conv_kernel: u32,
}

impl LinearAttention {
    /// Channels of q + k + v (the convolution's width).
    fn conv_channels(&self) -> f64 {
        let key = f64::from(self.key_heads) * f64::from(self.key_head_dim);
        2.0 * key + f64::from(self.value_heads) * f64::from(self.value_head_dim)
    }

    /// Elements of one layer's per-sequence state: the recurrent state (`value_heads ·
    /// key_head_dim · value_head_dim`) and the convolution's last `conv_kernel − 1` inputs.
    pub fn state_elements(&self) -> f64 {
        let recurrent = f64::from(self.value_heads) * f64::from(self.key_head_dim) * f64::from(self.value_head_dim);
        recurrent + f64::from(self.conv_kernel.saturating_sub(1)) * self.conv_channels()
    }

    /// Weights of one linear-attention layer (Qwen3-Next `Qwen3NextGatedDeltaNet`): the q, k, v
    /// and output-gate z projections, the β and decay-rate projections (one per value head
    /// each), the convolution, per-head decay and bias terms, the gated norm and the output
    /// projection.
    pub fn params(&self, hidden: f64) -> f64 {
        let value = f64::from(self.value_heads) * f64::from(self.value_head_dim);
        let heads = f64::from(self.value_heads);
        let qkvz = hidden * (self.conv_channels() + value);
        let beta_decay = hidden * 2.0 * heads;
        let conv = self.conv_channels() * f64::from(self.conv_kernel);
        qkvz + beta_decay + conv + 2.0 * heads + f64::from(self.value_head_dim) + value * hidden
    }

    /// FLOPs per token of one layer's recurrence (projections apart): per value head, reading
    /// the state against the key (`2 · dk · dv`), the rank-one delta update (`2 · dk · dv`) and
    /// the output against the query (`2 · dk · dv`). The chunked prefill form does the same
    /// work per token in blocks (fla's chunk_gated_delta_rule).
    pub fn flops_per_token(&self) -> f64 {
        6.0 * f64::from(self.value_heads) * f64::from(self.key_head_dim) * f64::from(self.value_head_dim)
    }
}

/// Ranges accepted for the layer-pattern keys.
pub const MAX_WINDOW: u32 = 1 << 24;

impl ModelSpec {
    /// Layers of `kind` among the model's layers (every layer is full without a pattern).
    pub fn layers_of(&self, kind: LayerKind) -> u32 {
        let Some(p) = self.layer_pattern.as_ref().filter(|p| !p.pattern.is_empty()) else {
            return if kind == LayerKind::Full { self.layers } else { 0 };
        };
        let len = p.pattern.len() as u32;
        let per_cycle = p.pattern.iter().filter(|&&k| k == kind).count() as u32;
        let rest = self.layers % len;
        let in_rest = p.pattern[..rest as usize].iter().filter(|&&k| k == kind).count() as u32;
        (self.layers / len) * per_cycle + in_rest
    }

    /// Layers with softmax attention (full, sliding or chunked): the ones with a KV cache.
    pub fn attention_layers(&self) -> u32 {
        self.layers - self.layers_of(LayerKind::Linear)
    }

    /// Layers whose KV is bounded per sequence (sliding or chunked).
    pub fn local_layers(&self) -> u32 {
        self.layers_of(LayerKind::Sliding) + self.layers_of(LayerKind::Chunked)
    }

    /// Tokens a local (sliding or chunked) layer holds at most per sequence; `None` without one.
    pub fn local_tokens(&self) -> Option<u32> {
        let p = self.layer_pattern.as_ref()?;
        if self.local_layers() == 0 {
            return None;
        }
        p.window.or(p.chunk)
    }

    /// The layers by kind for people: `full`, `mla`, or e.g. `18 sliding(128) + 18 full`.
    pub fn layer_summary(&self) -> String {
        if self.layer_pattern.is_none() {
            return if self.attention == Attention::Gqa {
                "full"
            } else {
                "mla"
            }
            .to_string();
        }
        let window = |k: LayerKind| match (k, self.layer_pattern.as_ref()) {
            (LayerKind::Sliding, Some(p)) => format!("({})", p.window.unwrap_or(0)),
            (LayerKind::Chunked, Some(p)) => format!("({})", p.chunk.unwrap_or(0)),
            _ => String::new(),
        };
        [
            LayerKind::Sliding,
            LayerKind::Chunked,
            LayerKind::Linear,
            LayerKind::Full,
        ]
        .into_iter()
        .filter(|&k| self.layers_of(k) > 0)
        .map(|k| format!("{} {}{}", self.layers_of(k), LayerKind::NAMES[k as usize], window(k)))
        .collect::<Vec<_>>()
        .join(" + ")
    }

    /// Checks the layer pattern and the linear-attention settings (called by `validate`).
    pub(super) fn validate_layers(&self, file: &str) -> Result<()> {
        let bad = |key: &str, message: String| Err(Error::input(file, key, message));
        let Some(p) = &self.layer_pattern else {
            if self.linear_attention.is_some() {
                return bad(
                    "linear_attention",
                    "is set but no layer is linear; accepted: a [layer_pattern] with \"linear\" layers, or remove it"
                        .into(),
                );
            }
            return Ok(());
        };
        if p.pattern.is_empty() || p.pattern.len() > self.layers as usize {
            return bad(
                "layer_pattern.pattern",
                format!(
                    "has {} kinds; accepted: 1 to layers = {} of {}",
                    p.pattern.len(),
                    self.layers,
                    LayerKind::NAMES.join(", ")
                ),
            );
        }
        if self.attention != Attention::Gqa {
            return bad(
                "layer_pattern",
                "is set with MLA attention; accepted: a layer pattern with GQA attention only".into(),
            );
        }
        let has = |k: LayerKind| self.layers_of(k) > 0;
        if has(LayerKind::Sliding) && has(LayerKind::Chunked) {
            return bad(
                "layer_pattern.pattern",
                "mixes sliding and chunked layers; accepted: one kind of local layer per model".into(),
            );
        }
        if self.attention_layers() == 0 {
            return bad(
                "layer_pattern.pattern",
                "has no attention layer; accepted: at least one full, sliding or chunked layer".into(),
            );
        }
        for (key, value, kind) in [
            ("layer_pattern.window", p.window, LayerKind::Sliding),
            ("layer_pattern.chunk", p.chunk, LayerKind::Chunked),
        ] {
            match (value, has(kind)) {
                (None, true) => {
                    return bad(
                        key,
                        format!("is missing with {kind:?} layers; accepted: 1 to {MAX_WINDOW} tokens"),
                    );
                }
                (Some(_), false) => {
                    return bad(key, format!("is set but no layer is {kind:?}; accepted: remove it"));
                }
                (Some(v), true) if v == 0 || v > MAX_WINDOW => {
                    return bad(key, format!("is {v}; accepted: 1 to {MAX_WINDOW} tokens"));
                }
                _ => {}
            }
        }
        self.validate_linear(file, has(LayerKind::Linear))
    }

    fn validate_linear(&self, file: &str, has_linear: bool) -> Result<()> {
        let bad = |key: &str, message: String| Err(Error::input(file, key, message));
        match (&self.linear_attention, has_linear) {
            (None, true) => bad(
                "linear_attention",
                "is missing with linear layers; accepted: a [linear_attention] table (key_heads, value_heads, key_head_dim, value_head_dim, conv_kernel)".into(),
            ),
            (Some(_), false) => bad(
                "linear_attention",
                "is set but no layer is linear; accepted: remove it".into(),
            ),
            (Some(l), true) => {
                for (key, value, max) in [
                    ("linear_attention.key_heads", l.key_heads, 16_384),
                    ("linear_attention.value_heads", l.value_heads, 16_384),
                    ("linear_attention.key_head_dim", l.key_head_dim, 4096),
                    ("linear_attention.value_head_dim", l.value_head_dim, 4096),
                    ("linear_attention.conv_kernel", l.conv_kernel, 64),
                ] {
                    if value == 0 || value > max {
                        return bad(key, format!("is {value}; accepted: 1 to {max}"));
                    }
                }
                Ok(())
            }
            (None, false) => Ok(()),
        }
    }
}
