//! Mixture-of-experts placement: expert parallelism, data-parallel attention, load balance and
//! the all-to-all.
//!
//! Two layouts of a replica of `tp` ranks:
//! - **TP attention + EP experts** (`attention_dp = 1`, vLLM `--enable-expert-parallel` without
//!   data parallelism): every rank holds every token after the attention all-reduce; the E routed
//!   experts are split over `ep` groups (E/ep experts a group, each sharded over its tp/ep
//!   ranks), each group computes its experts on the tokens routed to it, and the MoE output is
//!   reduced by the all-reduce tensor parallelism does anyway. No all-to-all: tokens are already
//!   everywhere.
//! - **DP attention + wide EP** (`attention_dp = D > 1`, `ep = tp = N`; DeepSeek-V3 §3.4,
//!   open-infra-index day 6, SGLang DP attention + DeepEP, vLLM data-parallel + EP): attention,
//!   dense FFNs, shared experts and the LM head run in D data-parallel groups of tp/D ranks, each
//!   with its own sequences and KV; the routed experts are spread over all N ranks. Each rank
//!   dispatches its tokens' rows once to every distinct rank holding one of their top-k experts
//!   and the rows are combined back: two all-to-alls per MoE layer, no MoE all-reduce.
//!
//! Tokens pick top-k experts with per-expert probabilities p_e (uniform, a Zipf law of exponent
//! s over a fixed pseudo-random ranking of the experts, or measured shares). The busiest group
//! sets the step: its load is the expected maximum over groups of a step's assignments
//! ([`balance`]), which falls toward the skew limit ep · max share as T grows. The expert
//! weights it reads are the replicas it holds that the batch touches, Σ_r 1 − (1 − k·p_r)^T.
//!
//! Touched experts and the load of the busiest group are tabulated at build over T = 2^(i/8),
//! so a step stays O(1).

pub mod balance;
#[cfg(test)]
mod tests;

use super::collective::AllToAll;
use crate::hash::mix64;
use crate::hw::Hardware;
use crate::model::ModelSpec;
use serde::Serialize;

/// Table resolution: entries per doubling of the token count.
const STEPS_PER_OCTAVE: f64 = 8.0;
const TABLE_OCTAVES: usize = 24;

/// How a replica lays out an MoE model beyond its expert groups (`[deployment]` keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MoeLayout {
    /// Data-parallel attention groups (`attention_dp`, 1: tensor-parallel attention).
    pub attention_dp: u32,
    /// EPLB with this many redundant expert replicas (`redundant_experts`); None: static split.
    pub redundant_experts: Option<u32>,
    /// Two micro-batches overlap the all-to-all with compute (`overlap_a2a`).
    pub overlap_a2a: bool,
}

impl Default for MoeLayout {
    fn default() -> Self {
        MoeLayout {
            attention_dp: 1,
            redundant_experts: None,
            overlap_a2a: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ExpertParallel {
    pub ep: u32,
    pub attention_dp: u32,
    /// ep × the largest group's routing share (1 = balanced): the imbalance of a large step.
    pub imbalance: f64,
    /// Expected experts touched in the busiest group, summed over MoE layers, at T = 2^(i/8).
    touched: Vec<f64>,
    /// Expected load of the busiest group over the mean at T = 2^(i/8) tokens.
    busiest: Vec<f64>,
    /// Bytes of one expert held by one rank of its group.
    expert_bytes_per_rank: f64,
    /// Routed-expert FLOPs per token per rank, balanced.
    expert_flops_per_token: f64,
    /// Dispatch bytes per token per rank (wide layout; 0 otherwise): its 1/N share of the
    /// token's rows, one to each distinct destination rank.
    a2a_bytes_per_token: f64,
    moe_layers: f64,
    top_k: f64,
    overlap: bool,
    /// The hierarchical all-to-all over the ep ranks (on chip, chips of an instance, instances).
    a2a: AllToAll,
    fixed_ns: f64,
}

/// Per-expert routing probabilities (summing to 1): uniform (`zipf` 0 and no shares), a Zipf law
/// over a fixed pseudo-random ranking of the experts, or measured shares (normalised).
pub fn expert_shares(experts: u32, zipf: f64, measured: Option<&[f64]>) -> Vec<f64> {
    let e = experts.max(1) as usize;
    let raw: Vec<f64> = match measured {
        Some(m) => (0..e).map(|i| m.get(i).copied().unwrap_or(0.0).max(0.0)).collect(),
        None => {
            // The popularity rank of expert i: experts ordered by a fixed hash.
            let mut order: Vec<usize> = (0..e).collect();
            order.sort_by_key(|&i| mix64(i as u64 ^ 0xE4BE_7000));
            let mut w = vec![0.0; e];
            for (rank, &i) in order.iter().enumerate() {
                w[i] = ((rank + 1) as f64).powf(-zipf);
            }
            w
        }
    };
    let total: f64 = raw.iter().sum();
    if total <= 0.0 {
        return vec![1.0 / e as f64; e];
    }
    raw.iter().map(|w| w / total).collect()
}

/// What the experts cost one rank of the busiest group in a step.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct MoeStep {
    /// Expert weight bytes it reads.
    pub weight_bytes: f64,
    /// Its routed-expert FLOPs at a balanced load.
    pub balanced_flops: f64,
    /// Its routed-expert FLOPs (balanced × the busiest group's load over the mean).
    pub flops: f64,
    /// Token rows its expert GEMMs run on.
    pub rows: f64,
    /// Dispatch + combine time over all MoE layers, ns (0 without the wide layout).
    pub a2a_ns: f64,
}

/// Distribution of a deployment: ranks, expert groups and the data-parallel attention groups.
#[derive(Debug, Clone, Copy)]
pub struct Ranks {
    pub tp: u32,
    pub ep: u32,
    pub layout: MoeLayout,
}

impl ExpertParallel {
    /// `ranks.tp` ranks per replica, `ranks.ep` expert groups (ep divides tp and the expert count;
    /// with data-parallel attention ep = tp). None for a dense model.
    pub fn new(
        hw: &Hardware,
        model: &ModelSpec,
        ranks: Ranks,
        shares: &[f64],
        weight_bytes_per_param: f64,
        activation_bytes: f64,
    ) -> Option<ExpertParallel> {
        let m = model.moe.as_ref()?;
        let (ep, tp) = (ranks.ep.max(1), ranks.tp.max(1));
        let dp = ranks.layout.attention_dp.max(1);
        let k = m.top_k as f64;
        let placement = balance::place(shares, ep, ranks.layout.redundant_experts);
        let max_group = placement.group_shares.iter().copied().fold(0.0, f64::max);
        let moe_layers = model.moe_layer_count() as f64;
        let z = balance::expected_max_std_normal(ep);
        let slots = placement.busiest_replicas.len() as f64;
        let table = |f: &dyn Fn(f64) -> f64| -> Vec<f64> {
            (0..=TABLE_OCTAVES * STEPS_PER_OCTAVE as usize)
                .map(|i| f(2f64.powf(i as f64 / STEPS_PER_OCTAVE)))
                .collect()
        };
        let touched = table(&|t| {
            let per_layer: f64 = placement
                .busiest_replicas
                .iter()
                .map(|&p| 1.0 - (1.0 - (k * p).min(1.0)).powf(t))
                .sum();
            per_layer * moe_layers
        });
        let busiest = table(&|t| {
            let mean = t * k / ep as f64;
            let cap = t * k.min(slots);
            balance::expected_max_load(t * k, &placement.group_shares, z, cap) / mean
        });
        let wide = dp > 1;
        let distinct = balance::distinct_groups(m.experts, m.top_k, ep);
        Some(ExpertParallel {
            ep,
            attention_dp: dp,
            imbalance: max_group * ep as f64,
            touched,
            busiest,
            expert_bytes_per_rank: model.expert_params() * weight_bytes_per_param * ep as f64 / tp as f64,
            expert_flops_per_token: 2.0 * k * model.expert_params() * moe_layers / tp as f64,
            a2a_bytes_per_token: if wide {
                distinct * model.hidden as f64 * activation_bytes / tp as f64
            } else {
                0.0
            },
            moe_layers,
            top_k: k,
            overlap: wide && ranks.layout.overlap_a2a,
            a2a: AllToAll::for_group(hw, ep),
            fixed_ns: hw.chip.efficiency.collective_latency_us * 1e3,
        })
    }

    /// Linear interpolation in a table over T = 2^(i/8).
    fn lookup(table: &[f64], tokens: f64) -> f64 {
        let x = (tokens.log2() * STEPS_PER_OCTAVE).clamp(0.0, (table.len() - 1) as f64);
        let i = x.floor() as usize;
        let j = (i + 1).min(table.len() - 1);
        let f = x - i as f64;
        table[i] * (1.0 - f) + table[j] * f
    }

    /// Experts the most loaded group touches at `tokens` tokens (all MoE layers).
    pub fn touched(&self, tokens: f64) -> f64 {
        if tokens <= 0.0 {
            return 0.0;
        }
        Self::lookup(&self.touched, tokens)
    }

    /// Expected load of the busiest group over the mean in a step of `tokens` tokens (≥ 1).
    pub fn busiest_load(&self, tokens: f64) -> f64 {
        if tokens <= 0.0 {
            return 1.0;
        }
        Self::lookup(&self.busiest, tokens).max(1.0)
    }

    /// Dispatch bytes leaving one rank in one MoE layer for a step of `tokens` tokens (balanced):
    /// its tokens/N rows, each sent once to each distinct rank holding one of its top-k experts.
    pub fn dispatch_bytes_per_rank(&self, tokens: f64) -> f64 {
        self.a2a_bytes_per_token * tokens
    }

    /// Whether two micro-batches overlap the all-to-all with compute.
    pub fn overlap(&self) -> bool {
        self.overlap
    }

    /// Time of one all-to-all of `bytes` held by each rank of the group (1/ep of them to each
    /// rank), ns: the hierarchical all-to-all of `perf::collective` — peers on the rank's chip over
    /// its HBM, on other chips of the instance over the chip fabric, in other instances over EFA.
    /// The in-instance levels and the cross-instance one run at once (DeepEP drives NVLink and
    /// RDMA concurrently), so the slower of the two sets the time.
    pub fn all_to_all_ns(&self, bytes: f64) -> f64 {
        if self.ep <= 1 {
            return 0.0;
        }
        let inside = self.a2a.on_chip_ns(bytes) + self.a2a.chip_ns(bytes);
        self.fixed_ns + inside.max(self.a2a.cross_instance_ns(bytes))
    }

    /// What the routed experts cost a rank of the busiest group for a step of `tokens` tokens.
    pub fn step(&self, tokens: f64) -> MoeStep {
        let load = self.busiest_load(tokens);
        let balanced = self.expert_flops_per_token * tokens;
        // The busiest rank receives `load` × the mean rows; it sends its own share.
        let a2a_ns = if self.a2a_bytes_per_token > 0.0 {
            2.0 * self.moe_layers * self.all_to_all_ns(self.dispatch_bytes_per_rank(tokens) * load)
        } else {
            0.0
        };
        MoeStep {
            weight_bytes: self.expert_bytes_per_rank * self.touched(tokens),
            balanced_flops: balanced,
            flops: balanced * load,
            rows: tokens * self.top_k / self.ep as f64 * load,
            a2a_ns,
        }
    }
}

/// Data-parallel attention groups of an expert-parallel MoE deployment (1 otherwise).
pub(crate) fn attention_dp(spec: &super::DeploymentSpec) -> u32 {
    match spec.expert_parallel {
        Some(_) if spec.model.moe.is_some() => spec.moe_layout.attention_dp.max(1),
        _ => 1,
    }
}

/// Weight bytes one rank holds beyond an even split of the model over its ranks: with
/// data-parallel attention the non-routed weights are split over a group's tp/dp ranks only;
/// redundant experts add R/E of the routed experts, spread over all ranks.
pub(crate) fn layout_weight_bytes(spec: &super::DeploymentSpec, dp: u32) -> f64 {
    let (model, tp) = (spec.model, spec.parallelism.tp.max(1) as f64);
    let Some(m) = model.moe.as_ref().filter(|_| spec.expert_parallel.is_some()) else {
        return 0.0;
    };
    let wbytes = spec.precision.weight_bytes_per_param();
    let routed = model.expert_params() * m.experts as f64 * model.moe_layer_count() as f64;
    let mut extra = 0.0;
    if dp > 1 {
        let tp_attn = tp / dp as f64;
        extra += (model.params_total() - routed) * wbytes * (1.0 / tp_attn - 1.0 / tp);
    }
    if let Some(r) = spec.moe_layout.redundant_experts {
        extra += routed * r as f64 / m.experts.max(1) as f64 * wbytes / tp;
    }
    extra
}
