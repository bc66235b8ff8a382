//! Numeric formats of weights, activations and the KV cache.
//!
//! The two FP4 formats are block-scaled: 4-bit e2m1 elements in blocks that share one scale, and
//! the scales are part of the format, so they count in every byte a format stores or a step reads:
//!
//! | format | block | scale | bytes per element |
//! |---|---|---|---|
//! | `nvfp4` | 16 | fp8 e4m3 (1 byte), plus one fp32 per tensor | 0.5 + 1/16 = 0.5625 |
//! | `mxfp4` | 32 | e8m0 (1 byte) | 0.5 + 1/32 = 0.53125 |
//!
//! Sources: NVFP4, NVIDIA "Introducing NVFP4 for efficient and accurate low-precision inference"
//! (https://developer.nvidia.com/blog/introducing-nvfp4-for-efficient-and-accurate-low-precision-inference/:
//! 16-value micro-blocks, an FP8 E4M3 scale each and a second-level FP32 scale per tensor);
//! MXFP4, OCP Microscaling Formats (MX) v1.0 (32-element blocks, E8M0 shared scale), as Trainium3
//! runs it (aws-neuron/aws-neuron-sdk nki/guides/architecture/trainium3_arch: group size 32, E8M0
//! scales). NVFP4's one fp32 per tensor (4 bytes for millions of elements) is left out of the
//! per-element figure.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dtype {
    Fp32,
    Bf16,
    Fp16,
    Fp8,
    Int8,
    Int4,
    Nvfp4,
    Mxfp4,
}

impl Dtype {
    pub const ALL: [Dtype; 8] = [
        Dtype::Fp32,
        Dtype::Bf16,
        Dtype::Fp16,
        Dtype::Fp8,
        Dtype::Int8,
        Dtype::Int4,
        Dtype::Nvfp4,
        Dtype::Mxfp4,
    ];

    /// Storage bytes per element, the format's own block scales included (`nvfp4` 0.5625,
    /// `mxfp4` 0.53125); a separate block format (`WeightFormat`) adds its scales on top.
    pub fn bytes(self) -> f64 {
        self.element_bytes()
            + self
                .scale_bytes()
                .map_or(0.0, |(bytes, block)| bytes / f64::from(block))
    }

    /// Bytes of one element alone, without scales.
    pub fn element_bytes(self) -> f64 {
        match self {
            Dtype::Fp32 => 4.0,
            Dtype::Bf16 | Dtype::Fp16 => 2.0,
            Dtype::Fp8 | Dtype::Int8 => 1.0,
            Dtype::Int4 | Dtype::Nvfp4 | Dtype::Mxfp4 => 0.5,
        }
    }

    /// A block-scaled format's (scale bytes, elements per block); `None` for plain formats.
    pub fn scale_bytes(self) -> Option<(f64, u32)> {
        match self {
            Dtype::Nvfp4 => Some((1.0, 16)),
            Dtype::Mxfp4 => Some((1.0, 32)),
            _ => None,
        }
    }

    /// The 4-bit floating-point formats (block-scaled).
    pub fn is_fp4(self) -> bool {
        matches!(self, Dtype::Nvfp4 | Dtype::Mxfp4)
    }

    pub fn name(self) -> &'static str {
        match self {
            Dtype::Fp32 => "fp32",
            Dtype::Bf16 => "bf16",
            Dtype::Fp16 => "fp16",
            Dtype::Fp8 => "fp8",
            Dtype::Int8 => "int8",
            Dtype::Int4 => "int4",
            Dtype::Nvfp4 => "nvfp4",
            Dtype::Mxfp4 => "mxfp4",
        }
    }

    pub fn parse(s: &str) -> Option<Dtype> {
        Dtype::ALL.into_iter().find(|d| d.name() == s)
    }

    pub fn accepted() -> &'static str {
        "fp32, bf16, fp16, fp8, int8, int4, nvfp4, mxfp4"
    }
}

impl fmt::Display for Dtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How weights are stored: plain elements of the weight dtype, or a block format with one fp16
/// scale per block of weights (llama.cpp / GGUF `Q4_0` and `Q8_0`: 32 weights per block, so
/// 4.5 and 8.5 bits per weight). The scale bytes count toward memory and the bytes a step reads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum WeightFormat {
    #[default]
    #[serde(rename = "plain")]
    Plain,
    #[serde(rename = "q4_0")]
    Q4_0,
    #[serde(rename = "q8_0")]
    Q8_0,
}

impl WeightFormat {
    /// The element dtype a block format requires (`None`: any).
    pub fn dtype(self) -> Option<Dtype> {
        match self {
            WeightFormat::Plain => None,
            WeightFormat::Q4_0 => Some(Dtype::Int4),
            WeightFormat::Q8_0 => Some(Dtype::Int8),
        }
    }

    /// Weights per fp16 scale (`None`: no scales).
    pub fn block(self) -> Option<u32> {
        match self {
            WeightFormat::Plain => None,
            WeightFormat::Q4_0 | WeightFormat::Q8_0 => Some(32),
        }
    }

    /// Scale bytes per weight: one fp16 (2 bytes) per block.
    pub fn scale_bytes_per_weight(self) -> f64 {
        self.block().map_or(0.0, |b| 2.0 / f64::from(b))
    }

    pub fn name(self) -> &'static str {
        match self {
            WeightFormat::Plain => "plain",
            WeightFormat::Q4_0 => "q4_0",
            WeightFormat::Q8_0 => "q8_0",
        }
    }
}

impl fmt::Display for WeightFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fp4_bytes_count_their_block_scales() {
        // Closed form: 4-bit elements (0.5 byte) plus one 1-byte scale per block.
        assert_eq!(Dtype::Nvfp4.bytes(), 0.5 + 1.0 / 16.0);
        assert_eq!(Dtype::Mxfp4.bytes(), 0.5 + 1.0 / 32.0);
        assert_eq!(Dtype::Nvfp4.bytes(), 0.5625);
        assert_eq!(Dtype::Mxfp4.bytes(), 0.53125);
        // A 120e9-parameter model in nvfp4: 67.5 GB, in mxfp4 63.75 GB, in int4 (no scales) 60 GB.
        assert_eq!(120e9 * Dtype::Nvfp4.bytes(), 67.5e9);
        assert_eq!(120e9 * Dtype::Mxfp4.bytes(), 63.75e9);
        assert_eq!(120e9 * Dtype::Int4.bytes(), 60e9);
        for d in Dtype::ALL {
            let scales = d.scale_bytes().map_or(0.0, |(b, n)| b / f64::from(n));
            assert_eq!(d.bytes(), d.element_bytes() + scales, "{d}");
            assert_eq!(d.is_fp4(), d.scale_bytes().is_some(), "{d}");
        }
    }

    #[test]
    fn every_dtype_parses_by_name_and_is_listed_as_accepted() {
        for d in Dtype::ALL {
            assert_eq!(Dtype::parse(d.name()), Some(d));
            assert!(Dtype::accepted().contains(d.name()), "{d}");
            let v: Dtype = toml::Value::String(d.name().into()).try_into().unwrap();
            assert_eq!(v, d);
        }
    }
}
