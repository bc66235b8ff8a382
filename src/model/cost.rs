//! What a model costs per token: parameters (total and active), FLOPs of the weight matmuls and
//! of attention, KV-cache bytes and weight bytes. Pure functions of a [`ModelSpec`].

use super::{Attention, ModelSpec};
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
                let q_and_o = 2.0 * hidden * heads * f64::from(self.head_dim);
                let k_and_v = 2.0 * hidden * f64::from(self.kv_heads) * f64::from(self.head_dim);
                q_and_o + k_and_v
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

    /// Weights of one expert (routed or shared); 0 for a dense model.
    pub fn expert_params(&self) -> f64 {
        self.moe.map_or(0.0, |m| {
            self.ffn_matrices() * f64::from(self.hidden) * f64::from(m.expert_ffn)
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

    /// Weights of the FFNs of all layers, given how many experts per MoE layer are counted.
    fn ffn_params(&self, experts_per_moe_layer: f64) -> f64 {
        let dense = f64::from(self.dense_layer_count()) * self.dense_ffn_params();
        let moe = f64::from(self.moe_layer_count())
            * (experts_per_moe_layer * self.expert_params() + self.router_params_per_moe_layer());
        dense + moe
    }

    /// Every parameter of the model.
    pub fn params_total(&self) -> f64 {
        let experts = self.moe.map_or(0.0, |m| f64::from(m.experts + m.shared_experts));
        self.embedding_params() + self.body_params(experts) + self.norm_params()
    }

    /// Parameters one token touches: all but the routed experts it is not sent to (top-k plus
    /// shared experts count). Includes the embedding table and the LM head, as published
    /// "active parameter" figures do.
    pub fn params_active(&self) -> f64 {
        self.embedding_params() + self.body_params(self.experts_per_token()) + self.norm_params()
    }

    /// Experts a token visits per MoE layer (routed top-k plus shared); 0 for a dense model.
    pub fn experts_per_token(&self) -> f64 {
        self.moe.map_or(0.0, |m| f64::from(m.top_k + m.shared_experts))
    }

    /// Attention and FFN weights of all layers.
    fn body_params(&self, experts_per_moe_layer: f64) -> f64 {
        f64::from(self.layers) * self.attn_params_per_layer() + self.ffn_params(experts_per_moe_layer)
    }

    /// FLOPs of all weight matmuls for one token: 2 per active weight, including the LM head
    /// (even when tied) and excluding the embedding lookup, which is a gather.
    pub fn linear_flops_per_token(&self) -> f64 {
        let lm_head = f64::from(self.vocab) * f64::from(self.hidden);
        2.0 * (self.body_params(self.experts_per_token()) + lm_head)
    }

    /// Attention score and value FLOPs, over all layers, for `new_tokens` appended causally after
    /// `context_before` cached tokens: token `i` (1-based) of the chunk attends to
    /// `context_before + i` positions, costing `2 · heads · (qk_head_dim + v_head_dim)` FLOPs per
    /// position per layer. For MLA this is the naive (non-absorbed) form.
    pub fn attention_flops(&self, new_tokens: u64, context_before: u64) -> f64 {
        let n = new_tokens as f64;
        let attended_positions = n * context_before as f64 + n * (n + 1.0) / 2.0;
        f64::from(self.layers) * self.attention_flops_per_pair(false) * attended_positions
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

    /// KV-cache bytes one token occupies, over all layers.
    pub fn kv_bytes_per_token(&self, kv_dtype: Dtype) -> f64 {
        let elements_per_layer = match self.attention {
            Attention::Gqa => 2.0 * f64::from(self.kv_heads) * f64::from(self.head_dim),
            Attention::Mla {
                kv_lora_rank,
                qk_rope_head_dim,
                ..
            } => f64::from(kv_lora_rank + qk_rope_head_dim),
        };
        elements_per_layer * f64::from(self.layers) * kv_dtype.bytes()
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
