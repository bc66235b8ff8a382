//! Compiled shapes and the KV layout: what a step on a stack with static graphs (Neuron)
//! actually computes and reads.
//!
//! - Graphs are compiled for bucketed shapes: context encoding (prefill) per prompt-length
//!   bucket, token generation (decode) per context-length bucket (NxD Inference
//!   `context_encoding_buckets` / `token_generation_buckets`, powers of two from 128 by default).
//!   A step runs the smallest bucket that holds its longest row, every row padded to it, and the
//!   padding costs FLOPs.
//! - The KV bytes a decode step reads depend on the layout. Contiguous (Transformers NeuronX):
//!   each batch slot owns one contiguous region and attention reads every row up to the bucket,
//!   so a slot must own the largest bucket and the capacity is slots × largest bucket. Block
//!   (NxD Inference block KV layout, paged caches): a step reads the blocks its sequences hold.
//!
//! Everything here is O(1) per step (a bucket list is searched in O(log k) over its few entries)
//! and allocation free.

use super::{BatchShape, causal_pairs};
use crate::hw::{BucketList, Efficiency, KvLayout, ShapeBuckets};

/// A resolved bucket list.
#[derive(Debug, Clone, PartialEq)]
pub enum Buckets {
    /// No compiled shapes: a step runs its exact shape.
    Exact,
    /// Powers of two from the smallest bucket.
    Pow2 { min: u64 },
    /// Explicit increasing buckets.
    List(Vec<u64>),
}

impl Buckets {
    fn resolve(list: Option<&BucketList>, default: ShapeBuckets, min: u32) -> Buckets {
        let named = |b: ShapeBuckets| match b {
            ShapeBuckets::None => Buckets::Exact,
            ShapeBuckets::Pow2 => Buckets::Pow2 { min: min.max(1) as u64 },
        };
        match list {
            None => named(default),
            Some(BucketList::Named(b)) => named(*b),
            Some(BucketList::Tokens(v)) => Buckets::List(v.iter().map(|&t| t as u64).collect()),
        }
    }

    /// The padded length a compiled graph processes for `tokens` tokens: the smallest bucket that
    /// holds them. Beyond the largest bucket of a list, whole multiples of the largest (the
    /// rows run as several executions of the largest graph).
    pub fn pad(&self, tokens: u64) -> u64 {
        match self {
            Buckets::Exact => tokens,
            Buckets::Pow2 { min } => tokens.max(*min).next_power_of_two(),
            Buckets::List(v) => match v.binary_search(&tokens) {
                Ok(i) => v[i],
                Err(i) if i < v.len() => v[i],
                Err(_) => {
                    let top = *v.last().unwrap_or(&1);
                    tokens.div_ceil(top) * top
                }
            },
        }
    }

    /// The largest bucket, if the list is bounded.
    pub fn largest(&self) -> Option<u64> {
        match self {
            Buckets::List(v) => v.last().copied(),
            _ => None,
        }
    }

    pub fn is_exact(&self) -> bool {
        *self == Buckets::Exact
    }
}

/// The shape rules of one chip and software stack.
#[derive(Debug, Clone, PartialEq)]
pub struct ShapeRules {
    pub context: Buckets,
    pub token: Buckets,
    pub layout: KvLayout,
    /// Tokens per KV block of the block layout.
    pub block_tokens: u64,
    /// Tokens the KV cache holds (per rank, in whole blocks): no step reads more than is held.
    pub kv_capacity_tokens: u64,
}

/// What one graph execution computes (`compute`, padded) and the KV tokens it reads.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Executed {
    /// The padded shape: GEMM tokens and attention pairs are counted on it.
    pub compute: BatchShape,
    /// KV tokens the decode rows read (per rank bytes = this × KV bytes per token per rank).
    pub decode_kv_tokens: f64,
    /// KV tokens the prefill chunks read (cached context) and write (new tokens).
    pub prefill_kv_tokens: f64,
}

impl ShapeRules {
    pub fn from_efficiency(e: &Efficiency) -> ShapeRules {
        ShapeRules {
            context: Buckets::resolve(e.context_buckets.as_ref(), e.shape_buckets, e.bucket_min_tokens),
            token: Buckets::resolve(e.token_buckets.as_ref(), e.shape_buckets, e.bucket_min_tokens),
            layout: e.kv_layout,
            block_tokens: e.kv_block_tokens.max(1) as u64,
            kv_capacity_tokens: u64::MAX,
        }
    }

    /// The shape one graph execution runs and the KV it reads. Decode rows attend up to the token
    /// bucket of the longest context; prompts are padded to the context bucket of the longest
    /// chunk, whether or not they continue cached context (a prefix-cache hit or an earlier
    /// chunk does not remove a graph's padding); decode rows that verify `queries` speculative
    /// tokens each are one token-generation graph of `queries` positions per row.
    pub fn execute(&self, b: &BatchShape) -> Executed {
        let mut p = *b;
        let rows = b.decode_seqs as u64;
        let mut decode_kv_tokens = 0.0;
        if rows > 0 {
            if !self.token.is_exact() {
                let ctx = self.token.pad(b.decode_max_ctx);
                p.decode_ctx_tokens = rows * ctx;
                p.decode_max_ctx = ctx;
            }
            decode_kv_tokens = self.decode_read_tokens(b);
        }
        let mut prefill_kv_tokens = (b.prefill_cached_tokens + b.prefill_tokens) as f64;
        if b.prefill_seqs > 0 && !self.context.is_exact() {
            let n = self.context.pad(b.prefill_max_chunk);
            let seqs = b.prefill_seqs as u64;
            p.prefill_tokens = seqs * n;
            p.prefill_max_chunk = n;
            // Σ_i causal_pairs(n, before_i) = n · Σ before + seqs · n(n+1)/2: exact from the sums.
            p.prefill_pairs = n as f64 * b.prefill_cached_tokens as f64 + seqs as f64 * causal_pairs(n, 0);
            let written = match self.layout {
                KvLayout::Contiguous => p.prefill_tokens,
                KvLayout::Block => b.prefill_tokens,
            };
            prefill_kv_tokens = (b.prefill_cached_tokens + written) as f64;
        }
        Executed {
            compute: p,
            decode_kv_tokens,
            prefill_kv_tokens,
        }
    }

    /// KV tokens a decode step's rows read. Contiguous: every row up to the token bucket of the
    /// longest context. Block: the blocks the rows hold; a row of c tokens holds ⌈c / B⌉ blocks,
    /// which over rows whose lengths fall anywhere within a block is c + (B − 1)/2 tokens on
    /// average (exact when B = 1), and never more than the cache holds (a full cache holds at
    /// most its capacity, so the average's excess over Σc is capped there).
    pub fn decode_read_tokens(&self, b: &BatchShape) -> f64 {
        let rows = b.decode_seqs as f64;
        match self.layout {
            KvLayout::Contiguous => rows * self.token.pad(b.decode_max_ctx) as f64,
            KvLayout::Block => {
                let held = b.decode_ctx_tokens as f64;
                let average = held + rows * (self.block_tokens - 1) as f64 / 2.0;
                average.min(held.max(self.kv_capacity_tokens as f64))
            }
        }
    }

    /// Contiguous layout: every sequence owns a slot of one compiled sequence length (Transformers
    /// NeuronX `n_positions`): the largest token bucket of a bounded list, otherwise the longest
    /// sequence the deployment must serve (`longest` tokens) padded to its bucket. A cache of
    /// `capacity_tokens` holds capacity / slot sequences. `None` for the block layout.
    pub fn contiguous_slots(&self, capacity_tokens: u64, longest: u64) -> Option<(u64, u64)> {
        match self.layout {
            KvLayout::Contiguous => {
                let slot = self
                    .token
                    .largest()
                    .unwrap_or_else(|| self.token.pad(longest.max(1)))
                    .max(1);
                Some((capacity_tokens / slot, slot))
            }
            KvLayout::Block => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(layout: KvLayout, block_tokens: u64) -> ShapeRules {
        ShapeRules {
            context: Buckets::Pow2 { min: 128 },
            token: Buckets::List(vec![128, 512, 2048, 4096]),
            layout,
            block_tokens,
            kv_capacity_tokens: u64::MAX,
        }
    }

    #[test]
    fn buckets_pad_to_the_smallest_that_holds_the_shape() {
        let p = Buckets::Pow2 { min: 128 };
        // 1 → 128 (the smallest), 129 → 256, 4096 → 4096, 10000 → 16384.
        assert_eq!([1, 129, 4096, 10_000].map(|t| p.pad(t)), [128, 256, 4096, 16_384]);
        let l = Buckets::List(vec![1024, 2048, 12_288]);
        // 10000 fits the 12288 bucket (NxD Inference's max context 12288 in the 70B tutorial).
        assert_eq!([1, 1024, 1025, 10_000].map(|t| l.pad(t)), [1024, 1024, 2048, 12_288]);
        // Beyond the largest: two executions of the 12288 graph, 24576 tokens.
        assert_eq!(l.pad(12_289), 24_576);
        assert_eq!(Buckets::Exact.pad(777), 777);
    }

    #[test]
    fn contiguous_reads_the_padded_rows_block_reads_the_held_blocks() {
        // 64 rows, 63 of 1000 tokens and one of 3000: Σ = 66000, the longest pads to 4096.
        let mut b = BatchShape::default();
        for _ in 0..63 {
            b.add_decode(1000);
        }
        b.add_decode(3000);
        // Contiguous: 64 × 4096 = 262144 tokens read.
        assert_eq!(rules(KvLayout::Contiguous, 1).decode_read_tokens(&b), 262_144.0);
        // Block of 32: 66000 + 64 × 31/2 = 66992 tokens.
        assert_eq!(rules(KvLayout::Block, 32).decode_read_tokens(&b), 66_992.0);
        // Both compute on the padded shape: 64 × 4096 pairs per query.
        for layout in [KvLayout::Contiguous, KvLayout::Block] {
            let e = rules(layout, 32).execute(&b);
            assert_eq!(e.compute.decode_ctx_tokens, 262_144);
        }
    }

    #[test]
    fn a_cached_prefix_keeps_the_prompts_padding() {
        // One prompt: 300 new tokens after a 1000-token cached prefix. The chunk pads to 512.
        let mut b = BatchShape::default();
        b.add_prefill(300, 1000);
        let e = rules(KvLayout::Block, 1).execute(&b);
        assert_eq!(e.compute.prefill_tokens, 512);
        // Pairs: 512 × 1000 + 512 × 513 / 2 = 512000 + 131328 = 643328.
        assert_eq!(e.compute.prefill_pairs, 643_328.0);
        // Block layout: reads the 1000 cached tokens and writes the 300 real ones.
        assert_eq!(e.prefill_kv_tokens, 1300.0);
    }

    #[test]
    fn contiguous_slots_own_the_largest_bucket() {
        // 1,000,000 tokens of cache, slots of 4096: 244 sequences.
        assert_eq!(
            rules(KvLayout::Contiguous, 1).contiguous_slots(1_000_000, 100),
            Some((244, 4096))
        );
        assert_eq!(rules(KvLayout::Block, 32).contiguous_slots(1_000_000, 100), None);
        // An open-ended pow2 list: the slot is the longest sequence padded, 10,000 → 16,384 tokens;
        // 1,000,000 / 16,384 = 61 sequences.
        let mut open = rules(KvLayout::Contiguous, 1);
        open.token = Buckets::Pow2 { min: 128 };
        assert_eq!(open.contiguous_slots(1_000_000, 10_000), Some((61, 16_384)));
    }
}
