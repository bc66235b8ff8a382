//! `[model]`: the architecture (a preset or a file) and the precision it runs at.

use crate::dtype::{Dtype, WeightFormat};
use crate::error::{Error, Result};
use crate::model::{self, ModelSpec};
use crate::perf::Precision;
use crate::scenario::ModelSection;
use std::path::Path;

pub(super) fn resolve(m: &ModelSection, dir: &Path, path: &Path) -> Result<(ModelSpec, Precision)> {
    let model = model::resolve_builtin(&m.name, dir, path, "model.name")?;
    let format = m.weight_format;
    if let Some(d) = format.dtype().filter(|&d| d != m.weights) {
        return Err(Error::input(
            path,
            "model.weight_format",
            format!(
                "`{format}` stores {d} weights, but model.weights is {}; set weights = \"{d}\"",
                m.weights
            ),
        ));
    }
    // Block formats quantize activations to int8 and run int8 dot products (llama.cpp).
    let compute = m.compute.unwrap_or(match (format, m.weights) {
        (WeightFormat::Q4_0 | WeightFormat::Q8_0, _) => Dtype::Int8,
        (_, Dtype::Fp8 | Dtype::Fp16 | Dtype::Bf16 | Dtype::Fp32) => m.weights,
        (_, Dtype::Int8 | Dtype::Int4) => Dtype::Bf16,
    });
    if matches!(m.kv_cache, Dtype::Int4) {
        return Err(Error::input(
            path,
            "model.kv_cache",
            "int4 KV caches are not modelled; accepted: bf16, fp16, fp8, int8",
        ));
    }
    let precision = Precision {
        weights: m.weights,
        compute,
        kv_cache: m.kv_cache,
        activations: Dtype::Bf16,
        weight_format: format,
    };
    Ok((model, precision))
}
