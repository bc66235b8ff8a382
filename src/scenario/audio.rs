//! `workload.multimodal.audio_s`: requests carrying an audio clip, encoded by the model's audio
//! encoder (`model::AudioSpec`, from the preset's `[audio]` or the HF config's `audio_config`)
//! exactly as images are by a vision encoder: inline in the step that starts the prefill, or on
//! the encode pool. A clip of s seconds becomes the closed form's prompt tokens (Qwen2-Audio:
//! 25 per second); encoding it costs one padded window of the encoder (Whisper's 30 s).

use super::multimodal::{AudioClips, AudioLength, ENCODER_DTYPE_BYTES, MultimodalConfig, MultimodalSection};
use crate::error::{Error, Result, given};
use crate::model::ModelSpec;
use std::path::Path;

/// Clips of `len` seconds on `share` of the requests.
pub fn resolve(
    s: &MultimodalSection,
    len: AudioLength,
    share: f64,
    model: &ModelSpec,
    path: &Path,
    notes: &mut Vec<String>,
) -> Result<MultimodalConfig> {
    let key = "workload.multimodal.audio_s";
    let Some(spec) = model.audio else {
        return Err(Error::input(
            path,
            key,
            format!(
                "is set but model `{}` has no audio encoder; accepted: a model with an [audio] table (preset qwen2-audio-7b) or a HF config with an audio_config",
                model.name
            ),
        ));
    };
    if s.images_per_request.is_some() {
        return Err(Error::input(
            path,
            "workload.multimodal.images_per_request",
            "is set with audio_s; accepted: images_per_request with image_px only (one clip per request)",
        ));
    }
    let (min_s, max_s) = match len {
        AudioLength::Fixed(v) => (v, v),
        AudioLength::Range { min, max } => (min, max),
    };
    let window_s = spec.window_s();
    for v in [min_s, max_s] {
        if !(v > 0.0 && v <= window_s) {
            return Err(Error::input(
                path,
                key,
                format!(
                    "has {}; accepted: seconds in (0, {window_s}] (one encoder window; longer clips are cut by the feature extractor)",
                    given(v)
                ),
            ));
        }
    }
    if min_s > max_s {
        return Err(Error::input(
            path,
            key,
            format!("has min {min_s} > max {max_s}; accepted: min <= max"),
        ));
    }
    let clip = spec.clip_work(model.hidden, ENCODER_DTYPE_BYTES);
    let weight_bytes = spec.params(model.hidden) * ENCODER_DTYPE_BYTES;
    let tokens = spec.tokens(max_s);
    let lengths = if min_s == max_s {
        format!(
            "{max_s} s = {} encoder frames = {tokens} prompt tokens",
            spec.frames(max_s)
        )
    } else {
        format!(
            "uniform in [{min_s}, {max_s}] s (its own random stream) = {} to {tokens} prompt tokens",
            spec.tokens(min_s)
        )
    };
    notes.push(format!(
        "multimodal: one audio clip of {lengths} (⌊100 s⌋ mel frames, (L − 1) div 2 + 1 encoder frames, pooled by {}) on {:.0} % of requests{}, leading the prompt; each encoded as one padded {window_s} s window of {} frames, {:.1} GFLOP, encoder weights {:.2} GB in bf16; {}",
        spec.pool,
        share * 100.0,
        if s.share.is_none() { " (default share 1)" } else { "" },
        spec.max_source_positions,
        clip.flops / 1e9,
        weight_bytes / 1e9,
        match s.encoder.unwrap_or_default() {
            super::encode_pool::Placement::Inline => "inline in the step that starts the prefill, sharded 1/tp out of the KV cache",
            super::encode_pool::Placement::Pool => "on the encode pool",
        }
    ));
    Ok(MultimodalConfig {
        encoder_params: spec.params(model.hidden),
        out_hidden: spec.out_hidden.unwrap_or(model.hidden),
        audio: Some(AudioClips { spec, min_s, max_s }),
        images_per_request: 1,
        share,
        width_px: 0,
        height_px: 0,
        patches_per_image: spec.max_source_positions as u64,
        tokens_per_image: tokens,
        image: clip,
        weight_bytes,
        pool: None,
        cache: None,
    })
}
