//! Attention by layer kind (`model/layers.rs`), per rank and per step: the local (sliding or
//! chunked) layers read and score at most their window per sequence, the linear layers read and
//! write their constant state once per sequence and step and run their recurrence per token.
//! The full layers are the cost model's base attention (`PerfModel`'s per-pair constants, over
//! the growing layers).
//!
//! A step carries sums, not per-sequence lists (INV-6), so a local layer's share is bounded from
//! the sums: Σ min(ctx_i, W) ≤ min(Σ ctx_i, rows · W), exact when every context is at least the
//! window or none exceeds it, an over-count otherwise; prefill pairs likewise
//! min(pairs, tokens · W).

use crate::model::{KvFootprint, ModelSpec};

/// The per-rank constants of the layers that are not full attention.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LayerMix {
    /// Local layers per growing (full) layer: their per-pair FLOPs and score bytes are the full
    /// layers' times this.
    pub local_ratio: f64,
    /// The window or chunk, tokens.
    pub local_tokens: f64,
    /// KV bytes per token per rank of the local layers.
    pub local_kv_bytes_per_token: f64,
    /// Linear layers' state bytes per sequence per rank.
    pub state_bytes_per_seq: f64,
    /// Linear layers' recurrence FLOPs per token per rank.
    pub linear_flops_per_token: f64,
}

/// What the local and linear layers add to one attention operation of a step.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Extra {
    /// Attention pairs of the local layers, in full-layer pair units (× the per-pair FLOPs).
    pub pair_units: f64,
    pub flops: f64,
    pub bytes: f64,
}

impl LayerMix {
    /// The mix of `model` on one rank: `kv_rank` is the rank's share of the KV (and of the
    /// linear state and recurrence) as the memory plan computes it.
    pub fn new(model: &ModelSpec, per_rank: &KvFootprint, compute_share: f64) -> LayerMix {
        let growing = f64::from(model.growing_kv_layers().max(1));
        LayerMix {
            local_ratio: f64::from(model.bounded_kv_layers()) / growing,
            local_tokens: per_rank.local_tokens as f64,
            local_kv_bytes_per_token: per_rank.local_per_token,
            state_bytes_per_seq: per_rank.state_per_seq,
            linear_flops_per_token: model.linear_attention_flops_per_token() * compute_share,
        }
    }

    /// Local pairs bounded by the window: min(pairs, queries · window).
    fn local_pairs(&self, pairs: f64, queries: f64) -> f64 {
        pairs.min(queries * self.local_tokens)
    }

    /// Decode: `rows` sequences, `queries` tokens each, `pairs` full-layer pairs, reading
    /// `kv_tokens` tokens of full-layer KV. The linear state is read and written once per row.
    pub fn decode(&self, rows: f64, queries: f64, pairs: f64, kv_tokens: f64) -> Extra {
        Extra {
            pair_units: self.local_ratio * self.local_pairs(pairs, rows * queries),
            flops: self.linear_flops_per_token * rows * queries,
            bytes: self.local_kv_bytes_per_token * kv_tokens.min(rows * self.local_tokens)
                + 2.0 * self.state_bytes_per_seq * rows,
        }
    }

    /// Prefill: `seqs` chunks of `tokens` new tokens after `cached` cached ones, `pairs`
    /// full-layer pairs. A local layer reads at most a window of cached context per chunk and
    /// writes every new token; the linear state is read and written once per chunk.
    pub fn prefill(&self, seqs: f64, tokens: f64, cached: f64, pairs: f64) -> Extra {
        let local_kv = cached.min(seqs * self.local_tokens) + tokens;
        Extra {
            pair_units: self.local_ratio * self.local_pairs(pairs, tokens),
            flops: self.linear_flops_per_token * tokens,
            bytes: self.local_kv_bytes_per_token * local_kv + 2.0 * self.state_bytes_per_seq * seqs,
        }
    }

    /// KV bytes per rank a step reads beyond the full layers': decode rows' windows and states,
    /// and the cached context prompts continue (one window and one state per chunk).
    pub fn read_bytes(&self, rows: f64, decode_tokens: f64, seqs: f64, cached: f64) -> f64 {
        self.local_kv_bytes_per_token
            * (decode_tokens.min(rows * self.local_tokens) + cached.min(seqs * self.local_tokens))
            + self.state_bytes_per_seq * (rows + seqs)
    }
}
