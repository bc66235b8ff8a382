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
    /// Every layer is full attention: the extras are all zero, and the per-step calls return at
    /// once (most models; keeps the decode loop's cost where it was).
    pub full_only: bool,
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
        let mut mix = LayerMix {
            local_ratio: f64::from(model.bounded_kv_layers()) / growing,
            local_tokens: per_rank.local_tokens as f64,
            local_kv_bytes_per_token: per_rank.local_per_token,
            state_bytes_per_seq: per_rank.state_per_seq,
            linear_flops_per_token: model.linear_attention_flops_per_token() * compute_share,
            full_only: false,
        };
        mix.full_only = mix == LayerMix::default();
        mix
    }

    /// Local pairs bounded by the window: min(pairs, queries · window).
    fn local_pairs(&self, pairs: f64, queries: f64) -> f64 {
        pairs.min(queries * self.local_tokens)
    }

    /// Decode: `rows` sequences, `queries` tokens each, `pairs` full-layer pairs, reading
    /// `kv_tokens` tokens of full-layer KV. `bytes` is what is written: the linear state, once
    /// per row (its read is in [`LayerMix::decode_read`]).
    pub fn decode(&self, rows: f64, queries: f64, pairs: f64) -> Extra {
        if self.full_only {
            return Extra::default();
        }
        Extra {
            pair_units: self.local_ratio * self.local_pairs(pairs, rows * queries),
            flops: self.linear_flops_per_token * rows * queries,
            bytes: self.state_bytes_per_seq * rows,
        }
    }

    /// Bytes decode rows read besides the full layers' KV: a window per row (at most the
    /// `kv_tokens` the full layers read) and a state per row.
    pub fn decode_read(&self, rows: f64, kv_tokens: f64) -> f64 {
        if self.full_only {
            return 0.0;
        }
        self.local_kv_bytes_per_token * kv_tokens.min(rows * self.local_tokens) + self.state_bytes_per_seq * rows
    }

    /// Prefill: `seqs` chunks of `tokens` new tokens after `cached` cached ones, `pairs`
    /// full-layer pairs. A local layer reads at most a window of cached context per chunk and
    /// writes every new token; the linear state is read and written once per chunk.
    pub fn prefill(&self, seqs: f64, tokens: f64, cached: f64, pairs: f64) -> Extra {
        if self.full_only {
            return Extra::default();
        }
        let local_kv = cached.min(seqs * self.local_tokens) + tokens;
        Extra {
            pair_units: self.local_ratio * self.local_pairs(pairs, tokens),
            flops: self.linear_flops_per_token * tokens,
            bytes: self.local_kv_bytes_per_token * local_kv + 2.0 * self.state_bytes_per_seq * seqs,
        }
    }

    /// KV bytes per rank prompt chunks read beyond the full layers': a window of their cached
    /// context and a state per chunk.
    pub fn prefill_read(&self, seqs: f64, cached: f64) -> f64 {
        if self.full_only {
            return 0.0;
        }
        self.local_kv_bytes_per_token * cached.min(seqs * self.local_tokens) + self.state_bytes_per_seq * seqs
    }
}

#[cfg(test)]
mod tests {
    use crate::dtype::Dtype;
    use crate::perf::BatchShape;
    use crate::perf::tests::perf;

    /// gpt-oss-120b at TP 4 on a p5en (bf16 KV): a rank holds 2 of 8 KV heads, so 18 full layers
    /// × 2 · 2 · 64 · 2 B = 9,216 B per token, and the 18 sliding layers as much per token
    /// within their window of 128. A sequence's bounded part is 18 · 128 · 512 = 1,179,648 B per
    /// rank = 128 tokens of the full layers'. Ten decode rows at context 1,024 read the full
    /// layers' 10,240 tokens (as the paged layout reads them) and 10 windows of 128 tokens.
    #[test]
    fn a_sliding_window_model_reads_one_window_per_sequence() {
        let p = perf("p5en.48xlarge", "gpt-oss-120b", 4, Dtype::Fp8);
        assert_eq!(p.memory.kv_bytes_per_token_per_rank, 9216.0);
        assert_eq!(p.memory.kv_footprint_per_rank.bounded_bytes(u64::MAX), 1_179_648.0);
        assert_eq!(p.memory.bounded_tokens_per_seq(100_000), 128);
        assert_eq!(p.memory.bounded_tokens_per_seq(50), 50);
        let mut b = BatchShape::default();
        for _ in 0..10 {
            b.add_decode(1024);
        }
        let paged = p.shape_rules().decode_read_tokens(&b);
        assert_eq!(p.kv_read_bytes_per_rank(&b), 9216.0 * paged + 9216.0 * 1280.0);
    }

    /// Qwen3-Next at TP 2: a rank holds 1 of 2 KV heads of the 12 full layers (12 · 2 · 256 · 2 =
    /// 12,288 B per token) and 16 of the 32 value heads' state of the 36 linear layers
    /// (39,518,208 / 2 = 19,759,104 B), whatever the length: 1,608 tokens' worth. A decode step
    /// reads the full layers' KV and reads and writes each row's state once.
    #[test]
    fn a_linear_layer_state_is_read_once_per_sequence_and_step() {
        let p = perf("p5en.48xlarge", "qwen3-next-80b-a3b", 2, Dtype::Bf16);
        assert_eq!(p.memory.kv_bytes_per_token_per_rank, 12_288.0);
        let f = p.memory.kv_footprint_per_rank;
        assert_eq!(f.state_per_seq, 19_759_104.0);
        assert_eq!(p.memory.bounded_tokens_per_seq(1), 1608);
        assert_eq!(p.memory.bounded_tokens_per_seq(1_000_000), 1608);
        let mut b = BatchShape::default();
        for _ in 0..4 {
            b.add_decode(4096);
        }
        let paged = p.shape_rules().decode_read_tokens(&b);
        assert_eq!(p.kv_read_bytes_per_rank(&b), 12_288.0 * paged + 4.0 * 19_759_104.0);
        // The step's memory floor grows with the state: one row at context 2 costs at least its
        // state read and write over the rank's bandwidth.
        let one = p.decode_step(1, 2);
        assert!(one.ideal_memory_ns * p.hbm_bw * 1e-9 >= 2.0 * 19_759_104.0);
    }

    /// The window saves exactly its bytes: gpt-oss-120b at TP 4 decoding 64 rows at context
    /// 32,768 reads 9,216 B per token of the full layers and one 128-token window per row of the
    /// sliding ones; with every layer full it would read 18,432 B per token. The step's ideal
    /// memory time differs by 9,216 · (paged − 64 · 128) B over the rank's bandwidth.
    #[test]
    fn a_window_saves_exactly_the_bytes_past_it() {
        use crate::perf::{Parallelism, PerfModel};
        let p = perf("p5en.48xlarge", "gpt-oss-120b", 4, Dtype::Fp8);
        let mut full_model = crate::perf::tests::model("gpt-oss-120b");
        full_model.layer_pattern = None;
        let mut hw = crate::hw::Catalog::builtin()
            .unwrap()
            .hardware("p5en.48xlarge")
            .unwrap();
        hw.chip = crate::hw::engine::with_default_engine(&hw.chip).unwrap();
        let full = PerfModel::new(&hw, &full_model, Parallelism { tp: 4 }, p.precision, 0.1, "t").unwrap();
        assert_eq!(full.memory.kv_bytes_per_token_per_rank, 18_432.0);
        let mut b = BatchShape::default();
        for _ in 0..64 {
            b.add_decode(32_768);
        }
        let paged = p.shape_rules().decode_read_tokens(&b);
        let saved_bytes = 9216.0 * (paged - 64.0 * 128.0);
        let saved_ns = full.step(&b).ideal_memory_ns - p.step(&b).ideal_memory_ns;
        let expected_ns = saved_bytes / p.hbm_bw * 1e9;
        assert!(
            (saved_ns / expected_ns - 1.0).abs() < 1e-9,
            "{saved_ns} vs {expected_ns}"
        );
        // Fewer pairs too: the sliding layers score 128 positions per row, not 32,768.
        assert!(p.step(&b).ideal_compute_ns < full.step(&b).ideal_compute_ns);
    }
}
