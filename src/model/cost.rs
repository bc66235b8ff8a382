//! What a model costs per token: parameters (total and active), FLOPs of the weight matmuls and
//! of attention, KV-cache bytes and weight bytes. Pure functions of a [`ModelSpec`].

use super::{Attention, LayerKind, ModelSpec};
use crate::dtype::Dtype;

impl ModelSpec {
    /// Matrices per FFN: gate, up and down for SwiGLU; up and down otherwise.
    fn ffn_matrices(&self) -> f64 {
        if self.gated_ffn { 3.0 } else { 2.0 }
    }

    /// Weights of one layer's attention projections. GQA: Q, K, V and O. MLA: the query down/up
    /// projections (or the direct query projection), the joint KV down projection with the RoPE
    /// key, the KV up projection to per-head keys and values, and O.
    pub fn attn_params_per_layer(&self) -> f64 {
        let hidden = f64::from(self.hidden);
        let heads = f64::from(self.heads);
        match self.attention {
            Attention::Gqa => {
                // An output gate doubles the query projection's width (Qwen3-Next); sinks add
                // one logit per head (gpt-oss).
                let q = hidden * heads * f64::from(self.head_dim) * if self.attention_output_gate { 2.0 } else { 1.0 };
                let o = hidden * heads * f64::from(self.head_dim);
                let k_and_v = 2.0 * hidden * f64::from(self.kv_heads) * f64::from(self.head_dim);
                let sinks = if self.attention_sinks { heads } else { 0.0 };
                q + o + k_and_v + sinks
            }
            Attention::Mla {
                q_lora_rank,
                kv_lora_rank,
                qk_nope_head_dim,
                qk_rope_head_dim,
                v_head_dim,
            } => {
                let qk_dim = f64::from(qk_nope_head_dim + qk_rope_head_dim);
                let q = match q_lora_rank {
                    Some(rank) => f64::from(rank) * (hidden + heads * qk_dim),
                    None => hidden * heads * qk_dim,
                };
                let kv_down = hidden * f64::from(kv_lora_rank + qk_rope_head_dim);
                let kv_up = f64::from(kv_lora_rank) * heads * f64::from(qk_nope_head_dim + v_head_dim);
                let o = heads * f64::from(v_head_dim) * hidden;
                q + kv_down + kv_up + o
            }
        }
    }

    /// Weights of one dense FFN layer.
    pub fn dense_ffn_params(&self) -> f64 {
        self.ffn_matrices() * f64::from(self.hidden) * f64::from(self.ffn)
    }

    /// Weights of one routed expert; 0 for a dense model.
    pub fn expert_params(&self) -> f64 {
        self.moe.map_or(0.0, |m| {
            self.ffn_matrices() * f64::from(self.hidden) * f64::from(m.expert_ffn)
        })
    }

    /// Weights of the shared experts of one MoE layer (each of `shared_expert_ffn`, or
    /// `expert_ffn` when it is not given); 0 without shared experts.
    pub fn shared_expert_params(&self) -> f64 {
        self.moe.map_or(0.0, |m| {
            let width = m.shared_expert_ffn.unwrap_or(m.expert_ffn);
            f64::from(m.shared_experts) * self.ffn_matrices() * f64::from(self.hidden) * f64::from(width)
        })
    }

    /// Weights of one linear-attention layer; 0 without them.
    pub fn linear_attn_params_per_layer(&self) -> f64 {
        self.linear_attention.map_or(0.0, |l| l.params(f64::from(self.hidden)))
    }

    /// FLOPs per token of the linear layers' recurrences (their projections are in the
    /// weight matmuls), all linear layers.
    pub fn linear_attention_flops_per_token(&self) -> f64 {
        self.linear_attention.map_or(0.0, |l| {
            l.flops_per_token() * f64::from(self.layers_of(LayerKind::Linear))
        })
    }

    /// Weights of the router (gate) of one MoE layer; 0 for a dense model.
    pub fn router_params_per_moe_layer(&self) -> f64 {
        self.moe.map_or(0.0, |m| f64::from(m.experts) * f64::from(self.hidden))
    }

    /// Embedding table plus the LM head (`vocab × hidden` each), or just one when they are tied.
    pub fn embedding_params(&self) -> f64 {
        let table = f64::from(self.vocab) * f64::from(self.hidden);
        if self.tied_embeddings { table } else { 2.0 * table }
    }

    /// RMSNorm weights: two per layer, the final one, and MLA's norms on its compressed latents.
    pub fn norm_params(&self) -> f64 {
        let latent_norms = match self.attention {
            Attention::Gqa => 0.0,
            Attention::Mla {
                q_lora_rank,
                kv_lora_rank,
                ..
            } => f64::from(q_lora_rank.unwrap_or(0)) + f64::from(kv_lora_rank),
        };
        let hidden = f64::from(self.hidden);
        f64::from(self.layers) * (2.0 * hidden + latent_norms) + hidden
    }

    /// Weights of the FFNs of all layers, given how many routed experts per MoE layer are
    /// counted (the shared experts always are).
    fn ffn_params(&self, routed_per_moe_layer: f64) -> f64 {
        let dense = f64::from(self.dense_layer_count()) * self.dense_ffn_params();
        let moe = f64::from(self.moe_layer_count())
            * (routed_per_moe_layer * self.expert_params()
                + self.shared_expert_params()
                + self.router_params_per_moe_layer());
        dense + moe
    }

    /// Every parameter of the model.
    pub fn params_total(&self) -> f64 {
        let experts = self.moe.map_or(0.0, |m| f64::from(m.experts));
        self.embedding_params() + self.body_params(experts) + self.norm_params()
    }

    /// Parameters one token touches: all but the routed experts it is not sent to (top-k plus
    /// shared experts count). Includes the embedding table and the LM head, as published
    /// "active parameter" figures do.
    pub fn params_active(&self) -> f64 {
        let routed = self.moe.map_or(0.0, |m| f64::from(m.top_k));
        self.embedding_params() + self.body_params(routed) + self.norm_params()
    }

    /// Experts a token visits per MoE layer (routed top-k plus shared); 0 for a dense model.
    pub fn experts_per_token(&self) -> f64 {
        self.moe.map_or(0.0, |m| f64::from(m.top_k + m.shared_experts))
    }

    /// Token-mixer (attention or linear attention) and FFN weights of all layers.
    fn body_params(&self, routed_per_moe_layer: f64) -> f64 {
        f64::from(self.attention_layers()) * self.attn_params_per_layer()
            + f64::from(self.layers_of(LayerKind::Linear)) * self.linear_attn_params_per_layer()
            + self.ffn_params(routed_per_moe_layer)
    }

    /// FLOPs of all weight matmuls for one token: 2 per active weight, including the LM head
    /// (even when tied) and excluding the embedding lookup, which is a gather.
    pub fn linear_flops_per_token(&self) -> f64 {
        let lm_head = f64::from(self.vocab) * f64::from(self.hidden);
        let routed = self.moe.map_or(0.0, |m| f64::from(m.top_k));
        2.0 * (self.body_params(routed) + lm_head)
    }

    /// Attention score and value FLOPs, over all layers, for `new_tokens` appended causally after
    /// `context_before` cached tokens: token `i` (1-based) of the chunk attends to
    /// `context_before + i` positions, costing `2 · heads · (qk_head_dim + v_head_dim)` FLOPs per
    /// position per layer. For MLA this is the naive (non-absorbed) form.
    ///
    /// A sliding layer's token attends to at most `window` positions, a chunked layer's to the
    /// positions of its own chunk; linear layers have no pairs (their recurrence is
    /// [`ModelSpec::linear_attention_flops_per_token`]).
    pub fn attention_flops(&self, new_tokens: u64, context_before: u64) -> f64 {
        let n = new_tokens as f64;
        let attended_positions = n * context_before as f64 + n * (n + 1.0) / 2.0;
        let full = f64::from(self.growing_kv_layers()) * attended_positions;
        let local = f64::from(self.bounded_kv_layers()) * self.local_pairs(new_tokens, context_before);
        self.attention_flops_per_pair(false) * (full + local)
    }

    /// (query, key) pairs of one local layer for `new` tokens after `before`: Σ min(p + 1, W)
    /// over positions p for a window W; Σ (p mod C + 1) for chunks of C.
    pub fn local_pairs(&self, new: u64, before: u64) -> f64 {
        let Some(l) = self.local_tokens().map(u64::from) else {
            return 0.0;
        };
        let chunked = self.layers_of(LayerKind::Chunked) > 0;
        // Σ_{x=1..m} min(x, l): the first l terms grow, the rest are l each.
        let capped = |m: u64| -> f64 {
            let ramp = m.min(l) as f64;
            ramp * (ramp + 1.0) / 2.0 + (m.saturating_sub(l)) as f64 * l as f64
        };
        // Σ_{p=0..m-1} (p mod C + 1): whole chunks, then the partial one.
        let chunks = |m: u64| -> f64 {
            let (whole, rest) = ((m / l) as f64, (m % l) as f64);
            whole * l as f64 * (l as f64 + 1.0) / 2.0 + rest * (rest + 1.0) / 2.0
        };
        let upto = |m: u64| if chunked { chunks(m) } else { capped(m) };
        upto(before + new) - upto(before)
    }

    /// Attention FLOPs per (query, key) pair in one layer, all heads, as the engines compute it.
    /// `absorbed = false` is the naive (expanded) form every GQA model and MLA prefill use:
    /// `2 · heads · (qk_head_dim + v_head_dim)`. `absorbed = true` is MLA's decode form
    /// (DeepSeek-V2 §2.1.3; SGLang `forward_absorb`, vLLM's MLA decode path): the key and value
    /// up-projections are folded into the query and output projections, so each head scores
    /// against the cached latent and RoPE key and weighs the latent itself:
    /// `2 · heads · (kv_lora_rank + qk_rope_head_dim) + 2 · heads · kv_lora_rank`. For GQA both
    /// forms are the same.
    pub fn attention_flops_per_pair(&self, absorbed: bool) -> f64 {
        let heads = f64::from(self.heads);
        match self.attention {
            Attention::Mla {
                kv_lora_rank,
                qk_rope_head_dim,
                ..
            } if absorbed => {
                let latent = f64::from(kv_lora_rank);
                2.0 * heads * (latent + f64::from(qk_rope_head_dim)) + 2.0 * heads * latent
            }
            _ => 2.0 * heads * f64::from(self.qk_head_dim() + self.v_head_dim()),
        }
    }

    /// FLOPs per layer to expand one cached MLA latent into per-head keys and values (the naive
    /// prefill form re-projects the cached context it attends to): `2 · kv_lora_rank · heads ·
    /// (qk_nope_head_dim + v_head_dim)`. 0 for GQA, whose cache holds keys and values already.
    pub fn mla_expand_flops_per_token(&self) -> f64 {
        match self.attention {
            Attention::Gqa => 0.0,
            Attention::Mla {
                kv_lora_rank,
                qk_nope_head_dim,
                v_head_dim,
                ..
            } => 2.0 * f64::from(kv_lora_rank) * f64::from(self.heads) * f64::from(qk_nope_head_dim + v_head_dim),
        }
    }

    /// Bytes of all weights stored as `dtype`, without quantization scales.
    pub fn weight_bytes(&self, dtype: Dtype) -> f64 {
        self.params_total() * dtype.bytes()
    }

    /// Bytes of all weights stored as `dtype` in a block format with one fp16 scale per `block`
    /// weights: Q4_0 is `(Int4, Some(32))`, 4.5 bits per weight; Q8_0 is `(Int8, Some(32))`, 8.5.
    /// `None` (or a block of 0) means no scales.
    pub fn weight_bytes_with_scales(&self, dtype: Dtype, block: Option<u32>) -> f64 {
        let scale_bytes_per_weight = block.filter(|&b| b > 0).map_or(0.0, |b| 2.0 / f64::from(b));
        self.params_total() * (dtype.bytes() + scale_bytes_per_weight)
    }
}
