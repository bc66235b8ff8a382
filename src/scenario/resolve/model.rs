//! `[model]`: the architecture (a preset or a file), the context it is served at and the precision
//! it runs at.

use crate::dtype::{Dtype, WeightFormat};
use crate::error::{Error, Result};
use crate::model::{self, ModelSpec};
use crate::perf::Precision;
use crate::scenario::ModelSection;
use std::path::Path;

pub(super) fn resolve(
    m: &ModelSection,
    dir: &Path,
    path: &Path,
    notes: &mut Vec<String>,
) -> Result<(ModelSpec, Precision)> {
    let mut model = model::resolve_builtin(&m.name, dir, path, "model.name")?;
    if let Some(tokens) = m.max_context {
        serve_at_context(&mut model, tokens, path, notes)?;
    }
    Ok((model, precision(m, path)?))
}

/// The dtypes `[model]` sets, checked: the weight format against the weights, the compute dtype
/// (default: the weights' when a float format, int8 for a block format, else bf16), the KV cache.
pub(super) fn precision(m: &ModelSection, path: &Path) -> Result<Precision> {
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
    // Block formats quantize activations to int8 and run int8 dot products (llama.cpp). FP4
    // weights multiply in FP4 where the chip has the path (Blackwell; MXFP4 on Trainium3) and
    // fall back to the chip's next dtype with a note where it has not (`Chip::peak_flops`).
    let compute = m.compute.unwrap_or(match (format, m.weights) {
        (WeightFormat::Q4_0 | WeightFormat::Q8_0, _) => Dtype::Int8,
        (_, Dtype::Fp8 | Dtype::Fp16 | Dtype::Bf16 | Dtype::Fp32 | Dtype::Nvfp4 | Dtype::Mxfp4) => m.weights,
        (_, Dtype::Int8 | Dtype::Int4) => Dtype::Bf16,
    });
    if matches!(m.kv_cache, Dtype::Int4 | Dtype::Nvfp4 | Dtype::Mxfp4) {
        return Err(Error::input(
            path,
            "model.kv_cache",
            format!(
                "{} KV caches are not modelled; accepted: bf16, fp16, fp8, int8 (fp8 is the KV format the Blackwell, Hopper and Trainium engines ship)",
                m.kv_cache
            ),
        ));
    }
    Ok(Precision {
        weights: m.weights,
        compute,
        kv_cache: m.kv_cache,
        activations: Dtype::Bf16,
        weight_format: format,
    })
}

/// `model.max_context`: the deployment serves `tokens` of context instead of the model's nominal
/// `max_position_embeddings` (a compiled `n_positions`, a vLLM `max_model_len`, RoPE scaling). The
/// resolved spec carries it, so every context limit of the run reads the configured value. Speed
/// does not depend on what the model was trained for; quality beyond it is not modelled, which
/// the note says.
fn serve_at_context(model: &mut ModelSpec, tokens: u32, path: &Path, notes: &mut Vec<String>) -> Result<()> {
    if tokens == 0 {
        return Err(Error::input(
            path,
            "model.max_context",
            format!(
                "is 0; accepted: a positive number of tokens (the context the deployment is configured for; {}'s nominal context is {})",
                model.name, model.max_context
            ),
        ));
    }
    if tokens > model.max_context {
        notes.push(format!(
            "model.max_context: served at {tokens} tokens beyond the model's nominal {} ({}'s max_position_embeddings); speed is modelled, quality past the trained context is not",
            model.max_context, model.name
        ));
    }
    model.max_context = tokens;
    Ok(())
}
