//! Mixture-of-experts placement: expert parallelism and routing skew.
//!
//! The E routed experts of each MoE layer are spread over `ep` groups of ranks (E/ep experts a
//! group, each expert sharded over the tp/ep ranks of its group). Tokens pick top-k experts with
//! per-expert probabilities p_e (uniform, a Zipf law of exponent s over a fixed pseudo-random
//! ranking of the experts, or measured shares); a group's load is Σ p_e over its experts. The
//! most loaded group sets the step: its expert GEMMs see ep · max share of the mean token load,
//! and the expert weights it reads are the experts of its own that the batch touches,
//! Σ_e 1 − (1 − k·p_e)^T. Dispatch and combine are two all-to-alls per MoE layer (α–β): peers in
//! the same instance over the chip link (NeuronLink, NVLink), peers in other instances over EFA,
//! whose bandwidth the instance's ranks of the group share.
//!
//! Touched experts are tabulated at init over T = 2^(i/8), so a step stays O(1).

use crate::hash::mix64;
use crate::hw::Hardware;
use crate::model::ModelSpec;

/// Table resolution: entries per doubling of the token count.
const STEPS_PER_OCTAVE: f64 = 8.0;
const TABLE_OCTAVES: usize = 24;

#[derive(Debug, Clone, PartialEq)]
pub struct ExpertParallel {
    pub ep: u32,
    /// ep × the largest group's share of routed tokens (1 = balanced).
    pub imbalance: f64,
    /// Expected experts touched in the most loaded group, summed over MoE layers, at
    /// T = 2^(i/8) tokens.
    touched: Vec<f64>,
    /// Bytes of one expert held by one rank of its group.
    expert_bytes_per_rank: f64,
    /// Routed-expert FLOPs per token per rank, balanced.
    expert_flops_per_token: f64,
    /// All-to-all bytes per token per MoE layer (top_k rows of the hidden state), one way.
    a2a_bytes_per_token: f64,
    moe_layers: f64,
    // α–β of the all-to-all.
    local_peers: f64,
    instances: f64,
    fixed_ns: f64,
    hop_ns: f64,
    link_bytes_per_ns: f64,
    efa_hop_ns: f64,
    efa_bytes_per_ns: f64,
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

impl ExpertParallel {
    /// `tp` ranks per replica, `ep` expert groups (ep divides tp and the expert count).
    pub fn new(
        hw: &Hardware,
        model: &ModelSpec,
        tp: u32,
        ep: u32,
        shares: &[f64],
        weight_bytes_per_param: f64,
        activation_bytes: f64,
    ) -> Option<ExpertParallel> {
        let m = model.moe.as_ref()?;
        let ep = ep.max(1);
        let tp = tp.max(1);
        let e = m.experts.max(1) as usize;
        let per_group = e.div_ceil(ep as usize);
        let k = m.top_k as f64;
        let group_share: Vec<f64> = shares.chunks(per_group).map(|c| c.iter().sum()).collect();
        let max_group = group_share.iter().cloned().fold(0.0, f64::max);
        let max_g = group_share.iter().position(|&s| s == max_group).unwrap_or(0);
        let group_experts = &shares[max_g * per_group..((max_g + 1) * per_group).min(e)];
        let moe_layers = model.moe_layer_count() as f64;
        let touched = (0..=TABLE_OCTAVES * STEPS_PER_OCTAVE as usize)
            .map(|i| {
                let t = 2f64.powf(i as f64 / STEPS_PER_OCTAVE);
                let per_layer: f64 = group_experts
                    .iter()
                    .map(|&p| 1.0 - (1.0 - (k * p).min(1.0)).powf(t))
                    .sum();
                per_layer * moe_layers
            })
            .collect();
        let per_instance = hw.ranks_per_instance().max(1);
        let instances = tp.div_ceil(per_instance).max(1);
        let local_peers = (ep / instances).max(1);
        let ranks_per_chip = hw.chip.ranks_per_chip.max(1) as f64;
        Some(ExpertParallel {
            ep,
            imbalance: max_group * ep as f64,
            touched,
            expert_bytes_per_rank: model.expert_params() * weight_bytes_per_param * ep as f64 / tp as f64,
            expert_flops_per_token: 2.0 * k * model.expert_params() * moe_layers / tp as f64,
            a2a_bytes_per_token: k * model.hidden as f64 * activation_bytes,
            moe_layers,
            local_peers: local_peers as f64,
            instances: instances as f64,
            fixed_ns: hw.chip.efficiency.collective_latency_us * 1e3,
            hop_ns: hw.chip.link.latency_us * 1e3,
            link_bytes_per_ns: hw.chip.link.bandwidth_gb_s / ranks_per_chip,
            efa_hop_ns: hw.instance.efa_latency_us * 1e3,
            efa_bytes_per_ns: hw.instance.efa_gbps / 8.0 / local_peers as f64,
        })
    }

    /// Experts the most loaded group touches at `tokens` tokens (all MoE layers).
    pub fn touched(&self, tokens: f64) -> f64 {
        if tokens <= 0.0 {
            return 0.0;
        }
        let x = (tokens.log2() * STEPS_PER_OCTAVE).clamp(0.0, (self.touched.len() - 1) as f64);
        let i = x.floor() as usize;
        let j = (i + 1).min(self.touched.len() - 1);
        let f = x - i as f64;
        self.touched[i] * (1.0 - f) + self.touched[j] * f
    }

    /// Time of one all-to-all of `bytes` leaving each rank of the group, ns.
    pub fn all_to_all_ns(&self, bytes: f64) -> f64 {
        let p = self.ep as f64;
        if p <= 1.0 {
            return 0.0;
        }
        let local = self.local_peers;
        let mut t = self.fixed_ns;
        if local > 1.0 {
            t += (local - 1.0) * self.hop_ns + bytes * (local - 1.0) / p / self.link_bytes_per_ns;
        }
        if self.instances > 1.0 {
            let remote = p - local;
            t += (self.instances - 1.0) * self.efa_hop_ns + bytes * remote / p / self.efa_bytes_per_ns;
        }
        t
    }

    /// For a step of `tokens` tokens: (expert weight bytes a rank of the busiest group reads,
    /// expert FLOPs it does beyond the balanced share, dispatch + combine time in ns).
    pub fn step(&self, tokens: f64) -> (f64, f64, f64) {
        let bytes = self.expert_bytes_per_rank * self.touched(tokens);
        let extra_flops = self.expert_flops_per_token * tokens * (self.imbalance - 1.0).max(0.0);
        // Each rank sends its 1/ep of the tokens' rows; the busiest group receives by its share.
        let per_rank = self.a2a_bytes_per_token * tokens / self.ep as f64 * self.imbalance;
        let a2a = 2.0 * self.moe_layers * self.all_to_all_ns(per_rank);
        (bytes, extra_flops, a2a)
    }
}
