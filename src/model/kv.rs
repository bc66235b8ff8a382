//! What a sequence holds in the cache, by layer kind (`layers.rs`): KV that grows with every
//! token (full layers), KV bounded by a window or chunk (sliding and chunked layers), and a
//! constant recurrent state (linear layers). Closed forms of the spec; the cost model scales
//! them to a rank and the serving layer counts them in blocks.

use super::{Attention, LayerKind, ModelSpec};
use crate::dtype::Dtype;

/// A sequence's cache, split by how it grows. Bytes over all layers (all heads).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct KvFootprint {
    /// Bytes per token of the layers whose KV grows with the sequence: the full layers (a model
    /// with no full layer counts its local layers here, as if they were full: an over-count
    /// past the window, never an under-count).
    pub growing_per_token: f64,
    /// Bytes per token of the local (sliding or chunked) layers, held for at most
    /// `local_tokens` tokens.
    pub local_per_token: f64,
    /// The window or chunk (0 without local layers).
    pub local_tokens: u64,
    /// Bytes of the linear layers' recurrent and convolution state, per sequence.
    pub state_per_seq: f64,
}

impl KvFootprint {
    /// Bytes a sequence of `len` tokens holds: growing · len + local · min(len, window) + state.
    pub fn bytes_for(&self, len: u64) -> f64 {
        self.growing_per_token * len as f64 + self.bounded_bytes(len)
    }

    /// The part that does not grow past the window: local · min(len, window) + state.
    pub fn bounded_bytes(&self, len: u64) -> f64 {
        self.local_per_token * len.min(self.local_tokens) as f64 + self.state_per_seq
    }

    /// Whether every byte grows with the sequence (full attention only).
    pub fn is_plain(&self) -> bool {
        self.local_per_token == 0.0 && self.state_per_seq == 0.0
    }

    /// The footprint with every part scaled (a rank's share).
    pub fn scaled(&self, kv_share: f64, state_share: f64) -> KvFootprint {
        KvFootprint {
            growing_per_token: self.growing_per_token * kv_share,
            local_per_token: self.local_per_token * kv_share,
            local_tokens: self.local_tokens,
            state_per_seq: self.state_per_seq * state_share,
        }
    }
}

impl ModelSpec {
    /// KV-cache elements one token occupies in one attention layer: K and V of `kv_heads ×
    /// head_dim` (GQA), or MLA's latent plus its RoPE key.
    pub fn kv_elements_per_token_per_layer(&self) -> f64 {
        match self.attention {
            Attention::Gqa => 2.0 * f64::from(self.kv_heads) * f64::from(self.head_dim),
            Attention::Mla {
                kv_lora_rank,
                qk_rope_head_dim,
                ..
            } => f64::from(kv_lora_rank + qk_rope_head_dim),
        }
    }

    /// Attention layers whose KV grows with the sequence: the full layers, or the local ones
    /// when there is no full layer (see [`KvFootprint::growing_per_token`]).
    pub fn growing_kv_layers(&self) -> u32 {
        match self.layers_of(LayerKind::Full) {
            0 => self.local_layers(),
            full => full,
        }
    }

    /// Local layers whose KV is bounded by the window (0 when they count as growing).
    pub fn bounded_kv_layers(&self) -> u32 {
        self.attention_layers() - self.growing_kv_layers()
    }

    /// KV-cache bytes one more token adds once past the window: over the growing layers only.
    /// For a full-attention model, every layer's.
    pub fn kv_bytes_per_token(&self, kv_dtype: Dtype) -> f64 {
        self.kv_elements_per_token_per_layer() * f64::from(self.growing_kv_layers()) * kv_dtype.bytes()
    }

    /// Bytes of the linear layers' state per sequence, in `state_dtype`.
    pub fn state_bytes_per_seq(&self, state_dtype: Dtype) -> f64 {
        self.linear_attention.map_or(0.0, |l| {
            l.state_elements() * f64::from(self.layers_of(LayerKind::Linear)) * state_dtype.bytes()
        })
    }

    /// The cache of one sequence split by how it grows, with KV in `kv_dtype` and the linear
    /// layers' state in `state_dtype`.
    pub fn kv_footprint(&self, kv_dtype: Dtype, state_dtype: Dtype) -> KvFootprint {
        let per_layer = self.kv_elements_per_token_per_layer() * kv_dtype.bytes();
        let bounded = self.bounded_kv_layers();
        KvFootprint {
            growing_per_token: per_layer * f64::from(self.growing_kv_layers()),
            local_per_token: per_layer * f64::from(bounded),
            local_tokens: if bounded > 0 {
                u64::from(self.local_tokens().unwrap_or(0))
            } else {
                0
            },
            state_per_seq: self.state_bytes_per_seq(state_dtype),
        }
    }
}
