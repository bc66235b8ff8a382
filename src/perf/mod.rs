//! The cost model: (hardware, model, parallelism, batch) → step time, broken down by part.
//!
//! Per tensor-parallel rank and per step (DESIGN.md, "The cost model"):
//! - GEMMs: FLOPs = 2 · tokens · active parameters / TP; bytes = the weights the step touches,
//!   read once per step. Time = max(FLOPs / (peak · ε_c(tokens)), bytes / (HBM_bw · ε_m)).
//!   ε_c(T) = ε_c,max · T / (T + T½): small GEMMs leave the matrix engines idle.
//! - Attention: decode reads every KV byte of every sequence in the batch; prefill FLOPs grow
//!   with chunk × context, and stacks that materialise scores pay HBM traffic for them.
//! - Tensor parallel: two all-reduces per layer, α–β ring over the intra-instance link; across
//!   instances a hierarchical ring with the inter-instance step over EFA.
//! - The LM head runs on the sampled rows only (a prompt chunk's last token, every decode row):
//!   its FLOPs scale with those rows, not with the prompt.
//! - Fixed costs (`fixed.rs`): kernel launches (eager, or one captured graph), the sampler, the
//!   host ↔ device copies and sync, and the stack's own per-step and per-layer overheads.
//!
//! Everything is precomputed in [`PerfModel::new`] so [`PerfModel::step`] is O(1) and allocation
//! free: it is on the simulator's hot path.

pub mod attn;
pub mod collective;
pub mod cpu;
mod encoder;
pub mod fit;
pub mod fixed;
mod lora;
pub mod moe;
pub mod network;
pub mod pipeline;
pub mod shape;
mod step;

pub use encoder::{EncoderRates, EncoderWork};
pub use lora::AdapterWork;

use crate::dtype::{Dtype, WeightFormat};
use crate::error::{Error, Result};
use crate::hw::Hardware;
use crate::model::ModelSpec;
use serde::Serialize;

/// The longest step the model reports, ns (a day).
pub const MAX_STEP_NS: f64 = 86_400e9;

/// How a model is laid out over chips.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Parallelism {
    /// Tensor-parallel ranks (NeuronCores on trn1/inf2, logical NeuronCores on trn2, GPUs).
    pub tp: u32,
}

/// Numeric formats of one deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Precision {
    pub weights: Dtype,
    pub compute: Dtype,
    pub kv_cache: Dtype,
    pub activations: Dtype,
    /// Plain weights, or a block format (Q4_0, Q8_0) whose scales add bytes per weight.
    pub weight_format: WeightFormat,
}

impl Precision {
    /// Stored bytes per weight, block scales included (Q4_0: 4.5 bits, Q8_0: 8.5 bits).
    pub fn weight_bytes_per_param(&self) -> f64 {
        self.weights.bytes() + self.weight_format.scale_bytes_per_weight()
    }

    /// `int4`, or `int4 q4_0` for a block format.
    pub fn weights_label(&self) -> String {
        match self.weight_format {
            WeightFormat::Plain => self.weights.to_string(),
            f => format!("{} {f}", self.weights),
        }
    }
}

/// Aggregate shape of one batch step. Sums, not lists, so the cost is O(1) in the batch size.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct BatchShape {
    /// Sequences generating one token each.
    pub decode_seqs: u32,
    /// Σ over decode sequences of the context each attends to (prompt + generated so far + 1).
    pub decode_ctx_tokens: u64,
    /// Sequences with a prefill chunk in this step.
    pub prefill_seqs: u32,
    /// Σ of new prompt tokens in the prefill chunks.
    pub prefill_tokens: u64,
    /// Σ over new prompt tokens of the context each attends to (causal).
    pub prefill_pairs: f64,
    /// Σ of already-cached context tokens the prefill chunks read (chunked prefill, prefix hits).
    pub prefill_cached_tokens: u64,
    /// Longest decode context in the batch (stacks with compiled shape buckets pad to it).
    pub decode_max_ctx: u64,
    /// Longest prefill chunk in the batch.
    pub prefill_max_chunk: u64,
    /// Prompt tokens beyond the last of each chunk that are scored too (the LM head and the
    /// sampler see them): a speculative verification run as prefill chunks scores every
    /// drafted position.
    pub extra_logit_rows: u64,
}

impl BatchShape {
    pub fn tokens(&self) -> u64 {
        self.decode_seqs as u64 + self.prefill_tokens
    }

    /// Adds a prefill chunk of `new` tokens appended after `before` tokens of context.
    pub fn add_prefill(&mut self, new: u64, before: u64) {
        self.prefill_seqs += 1;
        self.prefill_tokens += new;
        self.prefill_cached_tokens += before;
        self.prefill_pairs += causal_pairs(new, before);
        self.prefill_max_chunk = self.prefill_max_chunk.max(new);
    }

    /// Adds one decode sequence whose new token attends to `ctx` tokens (itself included).
    pub fn add_decode(&mut self, ctx: u64) {
        self.decode_seqs += 1;
        self.decode_ctx_tokens += ctx;
        self.decode_max_ctx = self.decode_max_ctx.max(ctx);
    }

    /// The rows the LM head and the sampler see when each decode row carries `queries` queries:
    /// every decode query, the last token of each prompt chunk (a chunk that does not end its
    /// prompt is scored and the token dropped, as vLLM does), and the positions a verification
    /// in prefill form scores.
    pub fn logit_rows(&self, queries: f64) -> f64 {
        self.decode_seqs as f64 * queries + self.prefill_seqs as f64 + self.extra_logit_rows as f64
    }
}

/// Σ_{i=1..new} (before + i): the attention (query, key) pairs of a causal chunk.
pub fn causal_pairs(new: u64, before: u64) -> f64 {
    let n = new as f64;
    n * before as f64 + n * (n + 1.0) / 2.0
}

/// One step's time and where it went. All in nanoseconds; `total_ns` is the integer the
/// simulator advances its clock by, the parts are floats that add up to it (±1 ns rounding).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct StepCost {
    pub total_ns: u64,
    /// Time in operations bound by FLOP/s.
    pub compute_ns: f64,
    /// Time in operations bound by HBM bandwidth.
    pub memory_ns: f64,
    /// Tensor-parallel collectives.
    pub comm_ns: f64,
    /// Fixed per-step and per-layer costs.
    pub overhead_ns: f64,
    /// FLOPs of the step at 100 % of peak, in ns (a physical floor; the power model weighs the phase times).
    pub ideal_compute_ns: f64,
    /// Bytes of the step at 100 % of HBM bandwidth, in ns.
    pub ideal_memory_ns: f64,
}

impl StepCost {
    /// `n` identical executions back to back.
    pub fn scaled(&self, n: f64) -> StepCost {
        let mut c = StepCost {
            total_ns: 0,
            compute_ns: self.compute_ns * n,
            memory_ns: self.memory_ns * n,
            comm_ns: self.comm_ns * n,
            overhead_ns: self.overhead_ns * n,
            ideal_compute_ns: self.ideal_compute_ns * n,
            ideal_memory_ns: self.ideal_memory_ns * n,
        };
        c.set_total();
        c
    }

    /// Appends another execution that runs after this one.
    pub fn add(&mut self, o: &StepCost) {
        self.compute_ns += o.compute_ns;
        self.memory_ns += o.memory_ns;
        self.comm_ns += o.comm_ns;
        self.overhead_ns += o.overhead_ns;
        self.ideal_compute_ns += o.ideal_compute_ns;
        self.ideal_memory_ns += o.ideal_memory_ns;
        self.set_total();
    }

    /// The integer step time from the parts. A step of more than a day means a degenerate
    /// hardware override (an efficiency near 0); it is held at [`MAX_STEP_NS`] so sums stay
    /// finite, and the engine stops the run with an error when a step reaches it.
    fn set_total(&mut self) {
        let total = self.compute_ns + self.memory_ns + self.comm_ns + self.overhead_ns;
        self.total_ns = crate::float::round(total).clamp(1.0, MAX_STEP_NS) as u64;
    }
}

/// Memory budget of one rank.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MemoryPlan {
    pub hbm_bytes_per_rank: f64,
    pub weight_bytes_per_rank: f64,
    pub reserve_bytes_per_rank: f64,
    pub kv_bytes_per_rank: f64,
    pub kv_bytes_per_token_per_rank: f64,
    /// Tokens of KV cache the deployment can hold (per replica), in tokens of the growing
    /// (full-attention) layers' KV.
    pub kv_capacity_tokens: u64,
    /// A sequence's cache per rank by how it grows: its local layers' window and its linear
    /// layers' state are bounded per sequence (`model/kv.rs`).
    #[serde(skip)]
    pub kv_footprint_per_rank: crate::model::KvFootprint,
}

impl MemoryPlan {
    /// The bounded part of a sequence that may grow to `longest` tokens (its window KV and its
    /// state), per rank, in tokens of the growing layers' KV (rounded up): what the serving layer
    /// charges a sequence on top of its growing KV. 0 for a full-attention model.
    pub fn bounded_tokens_per_seq(&self, longest: u64) -> u64 {
        let f = &self.kv_footprint_per_rank;
        if f.is_plain() || self.kv_bytes_per_token_per_rank <= 0.0 {
            return 0;
        }
        (f.bounded_bytes(longest) / self.kv_bytes_per_token_per_rank).ceil() as u64
    }
}

/// Token counts whose all-reduce time and decode linear part, and row counts whose decode step
/// besides its attention, [`PerfModel`] tabulates (a larger step evaluates them).
const TP_COMM_TABLE: usize = 1025;

/// The precomputed cost model of one deployment (one replica).
#[derive(Debug, Clone)]
pub struct PerfModel {
    pub parallelism: Parallelism,
    pub precision: Precision,
    /// Notes for the user (dtype fallbacks and the like).
    pub notes: Vec<String>,
    pub memory: MemoryPlan,
    // Per-rank constants.
    peak_flops: f64,
    eff_compute: f64,
    half_tokens: f64,
    hbm_bw: f64,
    eff_memory: f64,
    eff_kv: f64,
    /// GEMM FLOPs per token through the layers (the LM head apart).
    linear_flops_per_token: f64,
    /// LM-head FLOPs per sampled row.
    lm_head_flops_per_row: f64,
    always_read_bytes: f64,
    expert_bytes: f64,
    experts_per_layer_rank: f64,
    moe_top_k: f64,
    moe_experts: f64,
    kv_bytes_per_token: f64,
    /// Local (sliding, chunked) and linear layers (`attn.rs`).
    mix: attn::LayerMix,
    /// Attention FLOPs per (query, key) pair per rank: prefill (naive form) and decode
    /// (absorbed for MLA, the same as prefill otherwise).
    attn_flops_per_pair: f64,
    attn_decode_flops_per_pair: f64,
    /// MLA's naive prefill re-expands the cached latents it attends to, per cached token.
    expand_flops_per_cached_token: f64,
    score_bytes_per_pair: f64,
    /// Data-parallel attention groups (1: tensor-parallel attention).
    attention_dp: f64,
    /// Launches, sampling, host copies and the stack's overheads (`fixed.rs`).
    fixed: fixed::FixedCosts,
    allreduce: collective::AllReduce,
    allreduces_per_step: f64,
    activation_bytes_per_token: f64,
    /// [`PerfModel::tp_comm_ns`] at 0, 1, …, [`TP_COMM_TABLE`] − 1 tokens: a decode step's token
    /// count is a small integer, and the collective's model is the step's costliest part to
    /// evaluate. Filled once by `build` from the fields above, which nothing changes after.
    tp_comm_table: std::sync::Arc<[f64]>,
    /// [`PerfModel::linear`] of a step of 0, 1, …, [`TP_COMM_TABLE`] − 1 tokens, all sampled (a
    /// decode step): filled as sizes are first met, from the fields above, so a table entry is
    /// what the evaluation returns, bit for bit.
    linear_table: std::sync::Arc<[std::sync::OnceLock<(StepCost, f64)>]>,
    /// A decode-only step's cost besides its attention, by its 0, 1, …, [`TP_COMM_TABLE`] − 1
    /// rows (`step.rs`): filled as row counts are first met, from the fields above.
    decode_table: std::sync::Arc<[std::sync::OnceLock<Option<step::DecodePart>>]>,
    /// Compiled shape buckets and the KV layout (`shape.rs`).
    shapes: shape::ShapeRules,
    sequential_prefill: bool,
    /// Expert parallelism and routing skew (`deployment.ep`, `model.expert_skew_zipf`).
    expert_parallel: Option<moe::ExpertParallel>,
    /// Per-chip power cap (`[infrastructure] power_cap_w`): stretches a step whose per-phase power would exceed it.
    power_cap: Option<crate::hw::power::PowerCap>,
}

/// Everything the cost model of one deployment (a pool's replica, or one pipeline stage of it) is
/// built from, resolved by the scenario: the model is built once from it, top-down, with no
/// setters called afterwards.
#[derive(Debug, Clone, Copy)]
pub struct DeploymentSpec<'a> {
    pub hardware: &'a Hardware,
    /// The layers this deployment runs (one pipeline stage's, with pipeline parallelism).
    pub model: &'a ModelSpec,
    pub parallelism: Parallelism,
    pub precision: Precision,
    /// Share of each rank's HBM kept free (activations, workspace, fragmentation).
    pub kv_reserve_fraction: f64,
    /// The cross-instance step of tensor-parallel all-reduces (`infrastructure.allreduce`).
    pub allreduce: network::AllReduceAlgorithm,
    /// Per-chip power cap (`infrastructure.power_cap_w`).
    pub power_cap: Option<crate::hw::power::PowerCap>,
    /// Expert parallelism: `deployment.ep` groups and the routing share of each expert.
    pub expert_parallel: Option<(u32, &'a [f64])>,
    /// Data-parallel attention, expert load balancing and all-to-all overlap (`[deployment]`).
    pub moe_layout: moe::MoeLayout,
    /// The scenario file, for errors.
    pub file: &'a str,
}

impl<'a> DeploymentSpec<'a> {
    /// A deployment with the defaults of everything but its layout: ring all-reduce, no power
    /// cap, no expert parallelism.
    pub fn plain(
        hardware: &'a Hardware,
        model: &'a ModelSpec,
        parallelism: Parallelism,
        precision: Precision,
        kv_reserve_fraction: f64,
        file: &'a str,
    ) -> DeploymentSpec<'a> {
        DeploymentSpec {
            hardware,
            model,
            parallelism,
            precision,
            kv_reserve_fraction,
            allreduce: network::AllReduceAlgorithm::default(),
            power_cap: None,
            expert_parallel: None,
            moe_layout: moe::MoeLayout::default(),
            file,
        }
    }
}

/// Per-rank compute and bandwidth of a deployment, after the chip's split into ranks.
struct RankRates {
    peak_flops: f64,
    hbm_bw: f64,
}

impl PerfModel {
    /// Builds the cost model of a deployment with the defaults of everything but its layout
    /// (see [`DeploymentSpec::plain`]).
    pub fn new(
        hw: &Hardware,
        model: &ModelSpec,
        par: Parallelism,
        prec: Precision,
        reserve_fraction: f64,
        where_: &str,
    ) -> Result<PerfModel> {
        PerfModel::build(&DeploymentSpec::plain(hw, model, par, prec, reserve_fraction, where_))
    }

    /// Builds the cost model. Errors when the chip cannot compute in the precision or the weights
    /// do not fit, naming the bytes needed and available.
    pub fn build(spec: &DeploymentSpec) -> Result<PerfModel> {
        let (hw, model, par, prec) = (spec.hardware, spec.model, spec.parallelism, spec.precision);
        let eff = &hw.chip.efficiency;
        let tp = par.tp.max(1) as f64;
        let mut notes = Vec::new();
        let rates = Self::rank_rates(spec, &mut notes)?;
        let memory = Self::memory_plan(spec)?;
        let mut shapes = shape::ShapeRules::from_efficiency(eff);
        if let (Some((0, _)), Some(slot)) = (
            shapes.contiguous_slots(memory.kv_capacity_tokens, 1),
            shapes.token.largest(),
        ) {
            return Err(Error::infeasible(
                spec.file,
                "hardware.chip.efficiency.token_buckets",
                format!(
                    "a contiguous KV slot of the largest token bucket ({slot} tokens) does not fit the {} tokens of KV cache the deployment has; use smaller buckets, a larger TP or kv_layout = \"block\"",
                    memory.kv_capacity_tokens
                ),
            ));
        }
        shapes.kv_capacity_tokens = memory.kv_capacity_tokens;

        let wbytes = prec.weight_bytes_per_param();
        let moe = model.moe.as_ref();
        let expert_params_all = moe.map_or(0.0, |m| {
            model.expert_params() * m.experts as f64 * model.moe_layer_count() as f64
        });
        let always_params = model.params_total() - expert_params_all;

        let dp = moe::attention_dp(spec);
        let tp_attn = par.tp.max(1) / dp;
        let allreduce = collective::AllReduce::for_tp(hw, tp_attn).with_algorithm(spec.allreduce);
        let layers = model.layers as f64;
        // Per-pair attention constants are the growing (full) layers'; `mix` adds the others.
        let attn_layers = model.growing_kv_layers() as f64;
        let fixed = fixed::FixedCosts::new(hw, layers, model.vocab as f64);
        let lm_head_flops = 2.0 * model.vocab as f64 * model.hidden as f64;
        // Per rank: padded heads (a stack that cannot split heads evenly computes the padding);
        // with data-parallel attention a group's heads over its tp/dp ranks, 1/dp of the tokens.
        let heads_rank = if dp > 1 {
            model.heads_per_rank(tp_attn) as f64 / dp as f64
        } else {
            model.heads_per_rank(par.tp) as f64
        };
        let per_head = |absorbed: bool| model.attention_flops_per_pair(absorbed) / model.heads.max(1) as f64;
        let expert_parallel = spec.expert_parallel.and_then(|(ep, shares)| {
            let ranks = moe::Ranks {
                tp: par.tp,
                ep,
                layout: spec.moe_layout,
            };
            moe::ExpertParallel::new(hw, model, ranks, shares, wbytes, prec.activations.bytes())
        });
        // Weights outside the routed experts follow the attention layout.
        let always_read_bytes = if dp > 1 {
            always_params * wbytes / tp_attn as f64
        } else {
            always_params * wbytes / tp
        };

        let mut m = PerfModel {
            parallelism: par,
            precision: prec,
            notes,
            peak_flops: rates.peak_flops,
            eff_compute: eff.compute,
            half_tokens: eff.compute_half_tokens.max(0.0),
            hbm_bw: rates.hbm_bw,
            eff_memory: eff.memory,
            eff_kv: eff.kv_memory.unwrap_or(eff.memory),
            linear_flops_per_token: (model.linear_flops_per_token() - lm_head_flops) / tp,
            lm_head_flops_per_row: lm_head_flops / tp,
            // Weights: everything is sharded over TP except what TP cannot split (KV projections
            // when TP exceeds the KV heads are replicated; the cost is small and ignored here).
            always_read_bytes,
            expert_bytes: model.expert_params() * wbytes / tp,
            experts_per_layer_rank: moe.map_or(0.0, |m| m.experts as f64),
            moe_top_k: moe.map_or(0.0, |m| m.top_k as f64),
            moe_experts: moe.map_or(0.0, |m| m.experts as f64) * model.moe_layer_count() as f64,
            kv_bytes_per_token: memory.kv_bytes_per_token_per_rank,
            mix: attn::LayerMix::new(
                model,
                &memory.kv_footprint_per_rank,
                heads_rank / model.heads.max(1) as f64,
            ),
            attn_flops_per_pair: per_head(false) * heads_rank * attn_layers,
            attn_decode_flops_per_pair: per_head(true) * heads_rank * attn_layers,
            expand_flops_per_cached_token: model.mla_expand_flops_per_token() / model.heads.max(1) as f64
                * heads_rank
                * attn_layers,
            score_bytes_per_pair: eff.attention_score_bytes * heads_rank * attn_layers,
            attention_dp: dp as f64,
            fixed,
            allreduce,
            allreduces_per_step: if tp_attn > 1 || dp == 1 { 2.0 * layers } else { 0.0 },
            activation_bytes_per_token: model.hidden as f64 * prec.activations.bytes(),
            shapes,
            sequential_prefill: eff.sequential_prefill,
            expert_parallel,
            power_cap: spec.power_cap,
            memory,
            tp_comm_table: std::sync::Arc::from(Vec::new()),
            linear_table: (0..TP_COMM_TABLE).map(|_| std::sync::OnceLock::new()).collect(),
            decode_table: (0..TP_COMM_TABLE).map(|_| std::sync::OnceLock::new()).collect(),
        };
        m.tp_comm_table = (0..TP_COMM_TABLE).map(|t| m.tp_comm_eval(t as f64)).collect();
        Ok(m)
    }

    /// The tensor-parallel all-reduces of a step (or micro-batch) of `tokens` tokens, ns.
    pub(super) fn tp_comm_ns(&self, tokens: f64) -> f64 {
        let i = tokens as usize;
        match self.tp_comm_table.get(i) {
            Some(&ns) if i as f64 == tokens => ns,
            _ => self.tp_comm_eval(tokens),
        }
    }

    fn tp_comm_eval(&self, tokens: f64) -> f64 {
        self.allreduces_per_step
            * self
                .allreduce
                .time_ns(tokens / self.attention_dp * self.activation_bytes_per_token)
    }

    /// Peak FLOP/s and HBM bandwidth of one rank. A CPU is one device whose reachable FLOP/s
    /// and bandwidth depend on the threads used.
    fn rank_rates(spec: &DeploymentSpec, notes: &mut Vec<String>) -> Result<RankRates> {
        let chip = &spec.hardware.chip;
        let ranks_per_chip = chip.ranks_per_chip.max(1) as f64;
        let compute = Self::matmul_dtype(spec, notes);
        let (peak_chip, _, note) = chip.peak_flops(compute);
        notes.extend(note);
        if peak_chip <= 0.0 {
            return Err(Error::infeasible(
                spec.file,
                "model.compute",
                format!("{} cannot compute in {}", chip.name, spec.precision.compute),
            ));
        }
        let peak_flops = peak_chip / ranks_per_chip;
        let hbm_bw = chip.hbm_bytes_per_s() / ranks_per_chip;
        let (peak_flops, hbm_bw) = if chip.kind == crate::hw::ChipKind::Cpu {
            cpu::rates(chip, peak_flops, hbm_bw, spec.file, notes)?
        } else {
            (peak_flops, hbm_bw)
        };
        Ok(RankRates { peak_flops, hbm_bw })
    }

    /// The dtype the matrix multiplies run in: the deployment's compute dtype, unless the stack
    /// quantizes fp8/int8/fp4 weights only and multiplies in another (`quantized_compute`).
    fn matmul_dtype(spec: &DeploymentSpec, notes: &mut Vec<String>) -> Dtype {
        let chip = &spec.hardware.chip;
        let compute = spec.precision.compute;
        match chip.efficiency.quantized_compute {
            Some(d) if d != compute && matches!(compute, Dtype::Fp8 | Dtype::Int8 | Dtype::Nvfp4 | Dtype::Mxfp4) => {
                notes.push(format!(
                    "{}: {} weights are quantized weight-only; matrix multiplies run in {d} (chip efficiency.quantized_compute)",
                    chip.name, spec.precision.weights
                ));
                d
            }
            _ => compute,
        }
    }

    /// One rank's HBM: weights, the reserve, and what is left for the KV cache. With
    /// data-parallel attention a sequence's KV lives in one group of tp/dp ranks, so the bytes
    /// per token per rank are the group's over dp (MLA's latent, replicated inside a group,
    /// is not replicated across groups) and the capacity is dp groups'.
    fn memory_plan(spec: &DeploymentSpec) -> Result<MemoryPlan> {
        let (hw, model, par, prec) = (spec.hardware, spec.model, spec.parallelism, spec.precision);
        let chip = &hw.chip;
        let dp = moe::attention_dp(spec);
        let tp_kv = par.tp.max(1) / dp;
        let weight_bytes_per_rank = model.params_total() * prec.weight_bytes_per_param() / par.tp.max(1) as f64
            + moe::layout_weight_bytes(spec, dp);
        let kv_per_rank_fraction = if chip.efficiency.kv_per_query_head && tp_kv > model.kv_heads {
            (model.heads_per_rank(tp_kv) as f64 / model.kv_heads as f64).max(model.kv_fraction_per_rank(tp_kv))
        } else {
            model.kv_fraction_per_rank(tp_kv)
        };
        let kv_per_rank_fraction = if dp > 1 {
            kv_per_rank_fraction / dp as f64
        } else {
            kv_per_rank_fraction
        };
        let kv_bytes_per_token = model.kv_bytes_per_token(prec.kv_cache) * kv_per_rank_fraction;
        // The linear layers' state splits over their value heads as KV splits over KV heads;
        // it is kept in the activation dtype (vLLM's mamba_ssm_cache_dtype "auto").
        let state_fraction = model.linear_attention.map_or(1.0, |l| {
            l.value_heads.div_ceil(tp_kv.max(1)) as f64 / l.value_heads.max(1) as f64 / dp.max(1) as f64
        });
        let kv_footprint_per_rank = model
            .kv_footprint(prec.kv_cache, prec.activations)
            .scaled(kv_per_rank_fraction, state_fraction);
        let hbm_bytes_per_rank = chip.hbm_bytes() / chip.ranks_per_chip.max(1) as f64;
        let reserve_bytes_per_rank = hbm_bytes_per_rank * spec.kv_reserve_fraction;
        let kv_bytes_per_rank = hbm_bytes_per_rank - reserve_bytes_per_rank - weight_bytes_per_rank;
        if kv_bytes_per_rank <= kv_bytes_per_token {
            let gb = |b: f64| b / 1e9;
            return Err(Error::infeasible(
                spec.file,
                "deployment.tp",
                format!(
                    "{} ({} weights) does not fit: needs {:.2} GB of weights per rank at TP {}, but a rank of {} has {:.2} GB of HBM, {:.2} GB of it kept in reserve ({:.0} %), leaving no room for the KV cache; use a larger TP, a smaller weight dtype or an instance with more memory",
                    model.name,
                    prec.weights_label(),
                    gb(weight_bytes_per_rank),
                    par.tp,
                    hw.instance.name,
                    gb(hbm_bytes_per_rank),
                    gb(reserve_bytes_per_rank),
                    spec.kv_reserve_fraction * 100.0
                ),
            ));
        }
        Ok(MemoryPlan {
            hbm_bytes_per_rank,
            weight_bytes_per_rank,
            reserve_bytes_per_rank,
            kv_bytes_per_rank,
            kv_bytes_per_token_per_rank: kv_bytes_per_token,
            kv_capacity_tokens: (kv_bytes_per_rank / kv_bytes_per_token).floor() as u64,
            kv_footprint_per_rank,
        })
    }

    /// GEMM efficiency at `tokens` tokens per step.
    fn eff_c(&self, tokens: f64) -> f64 {
        self.eff_compute * tokens / (tokens + self.half_tokens)
    }

    /// Expected number of distinct experts (over all MoE layers) that `tokens` tokens touch,
    /// each picking top-k of E experts per layer uniformly: E · (1 − (1 − k/E)^T).
    pub fn experts_touched(&self, tokens: f64) -> f64 {
        if self.moe_experts == 0.0 || tokens <= 0.0 {
            return 0.0;
        }
        let e = self.experts_per_layer_rank;
        let miss = (1.0 - self.moe_top_k / e).max(0.0).powf(tokens);
        self.moe_experts * (1.0 - miss)
    }

    /// The tensor-parallel all-reduce and how many run per step.
    pub fn allreduce(&self) -> (&collective::AllReduce, f64) {
        (&self.allreduce, self.allreduces_per_step)
    }

    /// Bytes each rank all-reduces per token (one hidden-state row).
    pub fn activation_bytes_per_token(&self) -> f64 {
        self.activation_bytes_per_token
    }

    pub fn expert_parallel(&self) -> Option<&moe::ExpertParallel> {
        self.expert_parallel.as_ref()
    }

    /// The time of one batch step and its breakdown.
    pub fn step(&self, b: &BatchShape) -> StepCost {
        self.capped(self.step_uncapped(b, 1))
    }

    /// A speculative verification step: every decode row of `b` verifies `queries` tokens (the
    /// γ drafted ones and the bonus token) against its context. A stack without compiled shapes
    /// runs them as a short prefill chunk after each context (vLLM); a stack with compiled
    /// shapes runs a token-generation graph of `queries` positions per row, its context padded to
    /// the token bucket like any decode step.
    pub fn verify_step(&self, b: &BatchShape, queries: u64) -> StepCost {
        let rows = b.decode_seqs as u64;
        if rows == 0 || queries <= 1 {
            return self.step(b);
        }
        if !self.shapes.token.is_exact() {
            return self.capped(self.step_uncapped(b, queries));
        }
        let cached = b.decode_ctx_tokens.saturating_sub(rows);
        let mut v = *b;
        v.decode_seqs = 0;
        v.decode_ctx_tokens = 0;
        v.decode_max_ctx = 0;
        v.prefill_seqs += rows as u32;
        v.prefill_tokens += rows * queries;
        v.prefill_cached_tokens += cached;
        v.prefill_pairs += queries as f64 * cached as f64 + rows as f64 * causal_pairs(queries, 0);
        v.prefill_max_chunk = v.prefill_max_chunk.max(queries);
        v.extra_logit_rows += rows * (queries - 1);
        self.step(&v)
    }

    /// KV bytes per rank one step reads: its decode rows (as the layout reads them) and the
    /// cached context its prompts continue. Physics: never more than the rank's KV budget.
    pub fn kv_read_bytes_per_rank(&self, b: &BatchShape) -> f64 {
        let rows = b.decode_seqs as f64;
        let decode = self.shapes.decode_read_tokens(b);
        let cached = b.prefill_cached_tokens as f64;
        self.decode_read_bytes(rows, decode, b.decode_ctx_tokens as f64, 1.0)
            + cached * self.kv_bytes_per_token
            + self.mix.prefill_read(b.prefill_seqs as f64, cached)
    }

    /// Whether a step's cost depends on its longest decode context (`BatchShape::decode_max_ctx`):
    /// padded token buckets pad every row to it, and a contiguous layout reads each row's slot
    /// up to it. A paged layout with exact shapes reads only the contexts' sum.
    pub fn reads_longest_context(&self) -> bool {
        !self.shapes.token.is_exact() || self.shapes.layout == crate::hw::KvLayout::Contiguous
    }

    /// The physics check of a step's KV reads against the rank's KV budget. It holds for every
    /// layout: block reads what is held; contiguous reads whole slots, and the replica never runs
    /// more sequences than slots ([`PerfModel::max_resident_seqs`]).
    pub fn check_kv_reads(&self, b: &BatchShape) -> std::result::Result<(), String> {
        let read = self.kv_read_bytes_per_rank(b);
        if read > self.memory.kv_bytes_per_rank * (1.0 + 1e-9) {
            return Err(format!(
                "a step of {} decode rows ({}Σ context {}) and {} cached prompt tokens reads {:.3} GB of KV per rank, more than the rank's KV budget of {:.3} GB",
                b.decode_seqs,
                if self.reads_longest_context() {
                    format!("longest context {}, ", b.decode_max_ctx)
                } else {
                    String::new()
                },
                b.decode_ctx_tokens,
                b.prefill_cached_tokens,
                read / 1e9,
                self.memory.kv_bytes_per_rank / 1e9
            ));
        }
        Ok(())
    }

    /// (Sequences, tokens per slot) the KV cache holds at once when its layout fixes a slot per
    /// sequence (contiguous: the largest token bucket, or the deployment's longest sequence,
    /// `longest` tokens, padded to its bucket); `None` for the block layout.
    pub fn max_resident_seqs(&self, longest: u64) -> Option<(u64, u64)> {
        self.shapes.contiguous_slots(self.memory.kv_capacity_tokens, longest)
    }

    /// The shape rules (compiled buckets, KV layout) of this deployment.
    pub fn shape_rules(&self) -> &shape::ShapeRules {
        &self.shapes
    }

    /// Prefill of one prompt of `tokens` tokens alone.
    pub fn prefill_step(&self, tokens: u64) -> StepCost {
        let mut b = BatchShape::default();
        b.add_prefill(tokens, 0);
        self.step(&b)
    }

    /// One decode step of `seqs` sequences each attending to `ctx` tokens.
    pub fn decode_step(&self, seqs: u32, ctx: u64) -> StepCost {
        let b = BatchShape {
            decode_seqs: seqs,
            decode_ctx_tokens: seqs as u64 * ctx,
            decode_max_ctx: ctx,
            ..Default::default()
        };
        self.step(&b)
    }

    /// Lower bounds from physics alone: weight bytes per rank over HBM bandwidth, and FLOPs
    /// over peak. No step can beat them.
    pub fn physics_floor_ns(&self, b: &BatchShape) -> (f64, f64) {
        let tokens = b.tokens() as f64;
        let bytes = self.always_read_bytes + self.expert_bytes * self.experts_touched(tokens);
        let local = self.mix.prefill(
            b.prefill_seqs as f64,
            b.prefill_tokens as f64,
            b.prefill_cached_tokens as f64,
            b.prefill_pairs,
        );
        let flops = self.linear_flops_per_token * tokens
            + self.lm_head_flops_per_row * b.logit_rows(1.0)
            + self.attn_flops_per_pair * (b.prefill_pairs + local.pair_units)
            + local.flops;
        (bytes / self.hbm_bw * 1e9, flops / self.peak_flops * 1e9)
    }
}

#[cfg(test)]
pub(crate) mod tests;
