//! A multimodal encoder's work in a step (vLLM runs the vision encoder in the engine step that
//! schedules the image's prompt tokens, before the language model's forward pass): one roofline
//! operation, FLOPs over peak × the GEMM efficiency at the step's patches, bytes (the encoder's
//! weights once, plus the patches' activations) over HBM bandwidth × the memory efficiency.

use super::{PerfModel, StepCost};

/// Encoder work of a step, per rank.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct EncoderWork {
    pub flops: f64,
    pub bytes: f64,
    /// Patches encoded (the GEMMs' rows).
    pub patches: f64,
}

impl PerfModel {
    /// The time of a step's encoder pass, as a part to add to the step's cost: the larger of
    /// its compute and memory time, so never below FLOPs / peak nor bytes / bandwidth (INV-11).
    pub fn encoder_cost(&self, w: &EncoderWork) -> StepCost {
        let mut c = StepCost::default();
        if w.patches <= 0.0 {
            return c;
        }
        let flops_per_ns = self.peak_flops * 1e-9;
        let bytes_per_ns = self.hbm_bw * 1e-9;
        let t_c = w.flops / (flops_per_ns * self.eff_c(w.patches));
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
