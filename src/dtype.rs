//! Numeric formats of weights, activations and the KV cache.

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
}

impl Dtype {
    pub const ALL: [Dtype; 6] = [
        Dtype::Fp32,
        Dtype::Bf16,
        Dtype::Fp16,
        Dtype::Fp8,
        Dtype::Int8,
        Dtype::Int4,
    ];

    /// Storage bytes per element, without block-scale overhead.
    pub fn bytes(self) -> f64 {
        match self {
            Dtype::Fp32 => 4.0,
            Dtype::Bf16 | Dtype::Fp16 => 2.0,
            Dtype::Fp8 | Dtype::Int8 => 1.0,
            Dtype::Int4 => 0.5,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Dtype::Fp32 => "fp32",
            Dtype::Bf16 => "bf16",
            Dtype::Fp16 => "fp16",
            Dtype::Fp8 => "fp8",
            Dtype::Int8 => "int8",
            Dtype::Int4 => "int4",
        }
    }

    pub fn parse(s: &str) -> Option<Dtype> {
        Dtype::ALL.into_iter().find(|d| d.name() == s)
    }

    pub fn accepted() -> &'static str {
        "fp32, bf16, fp16, fp8, int8, int4"
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
