//! The batched LoRA GEMMs of a step (Punica's SGMV, S-LoRA's MBGMM): every adapter token runs
//! its adapter's shrink and expand beside the base model's projections, one kernel over the
//! batch gathering each token's adapter. One roofline operation: FLOPs over peak × the GEMM
//! efficiency at the step's adapter tokens, bytes (each distinct adapter's weights once, plus
//! the tokens' activations) over HBM bandwidth × the memory efficiency.

use super::{PerfModel, StepCost};

/// Adapter work of a step, per rank.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct AdapterWork {
    pub flops_per_token: f64,
    pub weight_bytes_per_adapter: f64,
    pub act_bytes_per_token: f64,
    /// Tokens that run through an adapter in the step.
    pub tokens: f64,
    /// Distinct adapters the step reads.
    pub adapters: f64,
}

impl AdapterWork {
    pub fn flops(&self) -> f64 {
        self.flops_per_token * self.tokens
    }
    pub fn bytes(&self) -> f64 {
        self.weight_bytes_per_adapter * self.adapters + self.act_bytes_per_token * self.tokens
    }
}

impl PerfModel {
    /// The time of a step's adapter GEMMs, as a part to add to the step's cost.
    pub fn adapter_cost(&self, w: &AdapterWork) -> StepCost {
        let mut c = StepCost::default();
        if w.tokens <= 0.0 {
            return c;
        }
        let flops_per_ns = self.peak_flops * 1e-9;
        let bytes_per_ns = self.hbm_bw * 1e-9;
        let t_c = w.flops() / (flops_per_ns * self.eff_c(w.tokens));
        let t_m = w.bytes() / (bytes_per_ns * self.eff_memory);
        c.ideal_compute_ns = w.flops() / flops_per_ns;
        c.ideal_memory_ns = w.bytes() / bytes_per_ns;
        if t_c >= t_m {
            c.compute_ns = t_c;
        } else {
            c.memory_ns = t_m;
        }
        c.set_total();
        c
    }

    /// Peak FLOP/s, HBM bytes/s, the GEMM efficiency at `tokens` and the memory efficiency of a
    /// rank: what a hand calculation of a step needs.
    pub fn roofline_rates(&self, tokens: f64) -> (f64, f64, f64, f64) {
        (self.peak_flops, self.hbm_bw, self.eff_c(tokens), self.eff_memory)
    }
}
