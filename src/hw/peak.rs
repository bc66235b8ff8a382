//! Peak throughput per dtype, and what a chip computes a dtype at when it has no fast path for it.

use super::Chip;
use crate::dtype::Dtype;
use serde::{Deserialize, Serialize};

/// Dense peak throughput per dtype, TFLOP/s (TOP/s for integers), per chip. `None`: no fast path.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeakTflops {
    pub bf16: Option<f64>,
    pub fp16: Option<f64>,
    pub fp8: Option<f64>,
    pub int8: Option<f64>,
    pub int4: Option<f64>,
    pub fp32: Option<f64>,
    /// NVFP4 (16-element blocks, fp8 scales): Blackwell's FP4 tensor-core rate.
    pub nvfp4: Option<f64>,
    /// MXFP4 (32-element blocks, e8m0 scales): Blackwell's FP4 rate; Trainium3 runs it through
    /// its MXFP8 path.
    pub mxfp4: Option<f64>,
}

impl PeakTflops {
    pub fn get(&self, d: Dtype) -> Option<f64> {
        match d {
            Dtype::Bf16 => self.bf16,
            Dtype::Fp16 => self.fp16,
            Dtype::Fp8 => self.fp8,
            Dtype::Int8 => self.int8,
            Dtype::Int4 => self.int4,
            Dtype::Fp32 => self.fp32,
            Dtype::Nvfp4 => self.nvfp4,
            Dtype::Mxfp4 => self.mxfp4,
        }
    }

    /// Every dtype's key and value, for range checks and listings.
    pub fn entries(&self) -> [(&'static str, Option<f64>); 8] {
        Dtype::ALL.map(|d| (d.name(), self.get(d)))
    }
}

impl Chip {
    /// Peak FLOP/s of `dtype` on this chip, or the dtype it falls back to when the chip has no
    /// fast path for it (e.g. fp8 on A100 runs as fp16/bf16), with a note saying so. FP4 without
    /// a fast path (Hopper, Trainium2; nvfp4 on Trainium3) computes at the chip's fp8 peak, else
    /// bf16: the weights stay stored in 4 bits with their scales (the bytes a step reads are the
    /// format's), only the matrix multiplies run wider.
    pub fn peak_flops(&self, dtype: Dtype) -> (f64, Dtype, Option<String>) {
        if let Some(t) = self.peak_tflops.get(dtype) {
            return (t * 1e12, dtype, None);
        }
        let fallbacks: &[Dtype] = match dtype {
            Dtype::Int4 => &[Dtype::Int8, Dtype::Fp8, Dtype::Bf16, Dtype::Fp16],
            Dtype::Int8 => &[Dtype::Fp8, Dtype::Bf16, Dtype::Fp16],
            Dtype::Fp8 => &[Dtype::Bf16, Dtype::Fp16],
            Dtype::Fp16 => &[Dtype::Bf16],
            Dtype::Bf16 => &[Dtype::Fp16],
            Dtype::Fp32 => &[Dtype::Bf16, Dtype::Fp16],
            Dtype::Nvfp4 | Dtype::Mxfp4 => &[Dtype::Fp8, Dtype::Bf16, Dtype::Fp16],
        };
        for &f in fallbacks {
            if let Some(t) = self.peak_tflops.get(f) {
                let mut note = format!("{} has no {dtype} fast path; compute runs at its {f} peak", self.name);
                if dtype.is_fp4() {
                    note.push_str(&format!(
                        " (weights stay stored as {dtype}, {} bytes per weight with block scales)",
                        dtype.bytes()
                    ));
                }
                return (t * 1e12, f, Some(note));
            }
        }
        (
            0.0,
            dtype,
            Some(format!("{} lists no peak throughput for {dtype}", self.name)),
        )
    }
}
