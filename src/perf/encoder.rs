//! A multimodal encoder's work as one roofline operation: FLOPs over peak × the GEMM efficiency
//! at its patches, bytes (the encoder's weights once, plus the patches' activations) over HBM
//! bandwidth × the memory efficiency. Inline (vLLM runs the vision encoder in the engine step
//! that schedules the image's prompt tokens, before the language model's forward pass) it is a
//! part of that step, at the replica's rates ([`PerfModel::encoder_cost`]); on a disaggregated
//! encode pool it is the whole of an encoder step, at the pool chip's rates
//! ([`EncoderRates::of_chip`]): one formula for both.

use super::{PerfModel, StepCost};
use crate::dtype::Dtype;
use crate::hw::Hardware;

/// Encoder work of a step, per rank.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct EncoderWork {
    pub flops: f64,
    pub bytes: f64,
    /// Patches encoded (the GEMMs' rows).
    pub patches: f64,
}

/// One rank's rates for the encoder's roofline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EncoderRates {
    /// Peak FLOP/s of one rank in the encoder's dtype.
    pub peak_flops: f64,
    /// Asymptotic GEMM efficiency, and the rows at which it reaches half of it.
    pub eff_compute: f64,
    pub half_tokens: f64,
    /// HBM bytes/s of one rank, and the fraction reached streaming.
    pub hbm_bw: f64,
    pub eff_memory: f64,
}

impl EncoderRates {
    /// A rank of `hw`'s chip running the encoder in bf16 (the chip's fallback dtype when it has
    /// no bf16 peak), at the chip's efficiencies; `None` when the chip cannot compute in it.
    pub fn of_chip(hw: &Hardware) -> Option<EncoderRates> {
        let chip = &hw.chip;
        let ranks = chip.ranks_per_chip.max(1) as f64;
        let (peak, _, _) = chip.peak_flops(Dtype::Bf16);
        (peak > 0.0).then(|| EncoderRates {
            peak_flops: peak / ranks,
            eff_compute: chip.efficiency.compute,
            half_tokens: chip.efficiency.compute_half_tokens.max(0.0),
            hbm_bw: chip.hbm_bytes_per_s() / ranks,
            eff_memory: chip.efficiency.memory,
        })
    }

    /// The time of an encoder pass: the larger of its compute and memory time, so never below
    /// FLOPs / peak nor bytes / bandwidth (INV-11).
    pub fn cost(&self, w: &EncoderWork) -> StepCost {
        let mut c = StepCost::default();
        if w.patches <= 0.0 {
            return c;
        }
        let flops_per_ns = self.peak_flops * 1e-9;
        let bytes_per_ns = self.hbm_bw * 1e-9;
        let eff_c = self.eff_compute * w.patches / (w.patches + self.half_tokens);
        let t_c = w.flops / (flops_per_ns * eff_c);
        let t_m = w.bytes / (bytes_per_ns * self.eff_memory);
        c.ideal_compute_ns = w.flops / flops_per_ns;
        c.ideal_memory_ns = w.bytes / bytes_per_ns;
        if t_c >= t_m {
            c.compute_ns = t_c;
        } else {
            c.memory_ns = t_m;
        }
        c.set_total();
        c
    }
}

impl PerfModel {
    /// The replica's rank rates, as its encoder pass sees them.
    pub fn encoder_rates(&self) -> EncoderRates {
        EncoderRates {
            peak_flops: self.peak_flops,
            eff_compute: self.eff_compute,
            half_tokens: self.half_tokens,
            hbm_bw: self.hbm_bw,
            eff_memory: self.eff_memory,
        }
    }

    /// The time of a step's encoder pass, as a part to add to the step's cost.
    pub fn encoder_cost(&self, w: &EncoderWork) -> StepCost {
        self.encoder_rates().cost(w)
    }
}
