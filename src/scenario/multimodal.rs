//! `[workload.multimodal]`: requests carrying images, encoded by the model's vision encoder
//! (`model::VisionSpec`, from the preset's `[vision]` or the HF config's `vision_config`) in the
//! step that starts their prefill (`serve::encoder`). Each image of W × H pixels is resized to
//! multiples of patch · merge, becomes (W/patch) · (H/patch) encoder patches and patches /
//! merge² prompt tokens, added to the request's text prompt. Audio clips (`audio_s`) instead of
//! images: `scenario/audio.rs`.

use crate::error::{Error, Result};
use crate::model::{AudioSpec, ImageWork, ModelSpec};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Bytes per encoder weight and activation: the encoder runs in bf16 (vLLM keeps a VLM's vision
/// tower unquantized in the model's dtype).
pub const ENCODER_DTYPE_BYTES: f64 = 2.0;
/// Most images one request may carry.
pub const MAX_IMAGES: u32 = 64;
/// Largest image side, pixels.
pub const MAX_PX: u32 = 16_384;

/// `[workload.multimodal]` as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MultimodalSection {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Images on a request that carries images (default 1).
    #[serde(default)]
    pub images_per_request: Option<u32>,
    /// Width and height of every image, pixels (or `audio_s`).
    #[serde(default)]
    pub image_px: Option<[u32; 2]>,
    /// Length of every audio clip, seconds: a number, or `{ min, max }` drawn uniformly (or
    /// `image_px`); one clip per request that carries audio.
    #[serde(default)]
    pub audio_s: Option<AudioLength>,
    /// Fraction of requests carrying images (default 1).
    #[serde(default)]
    pub share: Option<f64>,
    /// Where images are encoded: on the replica's chips (`inline`, the default) or on a
    /// disaggregated encode pool (`pool`, `[workload.multimodal.pool]`).
    #[serde(default)]
    pub encoder: Option<super::encode_pool::Placement>,
    /// The encode pool, with `encoder = "pool"`.
    #[serde(default)]
    pub pool: Option<super::encode_pool::EncodePoolSection>,
    /// Share of the carrying requests whose media repeats a popular item (default none: no
    /// repeats, no encoder cache).
    #[serde(default)]
    pub repeat_share: Option<f64>,
    /// Popular items the repeats pick from (default 100).
    #[serde(default)]
    pub repeat_items: Option<u32>,
    /// The encoder cache's capacity, embedding tokens (default vLLM's).
    #[serde(default)]
    pub encoder_cache_tokens: Option<u64>,
}

fn yes() -> bool {
    true
}

/// `audio_s`: one length, or a uniform range.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AudioLength {
    Fixed(f64),
    Range { min: f64, max: f64 },
}

/// Audio clips on requests (`audio_s`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AudioClips {
    pub spec: AudioSpec,
    /// Clip lengths, seconds, drawn uniformly in [min_s, max_s] (equal: no draw).
    pub min_s: f64,
    pub max_s: f64,
}

/// Validated `[workload.multimodal]`.
#[derive(Debug, Clone, PartialEq)]
pub struct MultimodalConfig {
    /// The encoder's parameters and its output width (the LLM's hidden).
    pub encoder_params: f64,
    pub out_hidden: u32,
    /// Audio clips instead of images (`audio_s`): one per carrying request.
    pub audio: Option<AudioClips>,
    pub images_per_request: u32,
    pub share: f64,
    /// Image size after resizing, pixels.
    pub width_px: u32,
    pub height_px: u32,
    pub patches_per_image: u64,
    pub tokens_per_image: u64,
    /// Encoding one image, on the whole encoder.
    pub image: ImageWork,
    /// The encoder's weights, bytes.
    pub weight_bytes: f64,
    /// The disaggregated encode pool (`encoder = "pool"`); none: inline on the replicas.
    pub pool: Option<super::encode_pool::EncodePoolConfig>,
    /// Repeated media and the replicas' encoder cache (`repeat_share`), if on.
    pub cache: Option<super::encoder_cache::EncoderCacheConfig>,
}

/// The section, checked against the model and the deployment (`unsupported`: why the encoder
/// model does not cover it, if so).
pub fn resolve(
    s: Option<&MultimodalSection>,
    model: &ModelSpec,
    unsupported: Option<&str>,
    path: &Path,
    notes: &mut Vec<String>,
) -> Result<Option<MultimodalConfig>> {
    let Some(s) = s.filter(|s| s.enabled) else {
        return Ok(None);
    };
    if let Some(why) = unsupported {
        return Err(Error::input(
            path,
            "workload.multimodal",
            format!("multimodal requests are not modelled {why}"),
        ));
    }
    let share = s.share.unwrap_or(1.0);
    if !(share > 0.0 && share <= 1.0) {
        return Err(Error::input(
            path,
            "workload.multimodal.share",
            format!("is {}; accepted: a fraction in (0, 1]", crate::error::given(share)),
        ));
    }
    let mut config = match (s.image_px, s.audio_s) {
        (Some(px), None) => images(s, px, share, model, path, notes)?,
        (None, Some(len)) => super::audio::resolve(s, len, share, model, path, notes)?,
        _ => {
            return Err(Error::input(
                path,
                "workload.multimodal",
                "sets both image_px and audio_s, or neither; accepted: exactly one of them",
            ));
        }
    };
    config.cache = super::encoder_cache::resolve(s, path, notes)?;
    Ok(Some(config))
}

/// Images of `px` pixels on `share` of the requests.
fn images(
    s: &MultimodalSection,
    px: [u32; 2],
    share: f64,
    model: &ModelSpec,
    path: &Path,
    notes: &mut Vec<String>,
) -> Result<MultimodalConfig> {
    let key = |k: &str| format!("workload.multimodal.{k}");
    let Some(vision) = model.vision else {
        return Err(Error::input(
            path,
            "workload.multimodal.image_px",
            format!(
                "is set but model `{}` has no vision encoder; accepted: a model with a [vision] table (preset qwen2.5-vl-7b) or a HF config with a vision_config",
                model.name
            ),
        ));
    };
    let images = s.images_per_request.unwrap_or(1);
    if images == 0 || images > MAX_IMAGES {
        return Err(Error::input(
            path,
            key("images_per_request"),
            format!("is {images}; accepted: 1 to {MAX_IMAGES}"),
        ));
    }
    for (i, &px) in px.iter().enumerate() {
        if px == 0 || px > MAX_PX {
            return Err(Error::input(
                path,
                format!("workload.multimodal.image_px[{i}]"),
                format!("is {px}; accepted: 1 to {MAX_PX} pixels"),
            ));
        }
    }
    let [w, h] = px;
    let patches = vision.patches(w, h);
    let tokens = vision.tokens(w, h);
    let (wr, hr) = (vision.resized_px(w), vision.resized_px(h));
    let image = vision.image_work(patches, model.hidden, ENCODER_DTYPE_BYTES);
    let weight_bytes = vision.params(model.hidden) * ENCODER_DTYPE_BYTES;
    let defaults = match (s.images_per_request, s.share) {
        (None, None) => " (defaults: images_per_request 1, share 1)",
        (None, Some(_)) => " (default images_per_request 1)",
        (Some(_), None) => " (default share 1)",
        (Some(_), Some(_)) => "",
    };
    notes.push(format!(
        "multimodal: {} image(s) of {w}×{h} px on {:.0} % of requests{defaults}; each resized to {wr}×{hr} (multiples of patch {} × merge {}, no pixel-count limit) = {patches} encoder patches = {tokens} prompt tokens, leading the prompt; {}",
        images,
        share * 100.0,
        vision.patch_size,
        vision.spatial_merge,
        placement_note(s, weight_bytes, image.flops),
    ));
    Ok(MultimodalConfig {
        encoder_params: vision.params(model.hidden),
        out_hidden: vision.out_hidden.unwrap_or(model.hidden),
        audio: None,
        images_per_request: images,
        share,
        width_px: wr,
        height_px: hr,
        patches_per_image: patches,
        tokens_per_image: tokens,
        image,
        weight_bytes,
        pool: None,
        cache: None,
    })
}

/// Where the encoder runs and what it holds, for the run's notes.
fn placement_note(s: &MultimodalSection, weight_bytes: f64, flops: f64) -> String {
    match s.encoder.unwrap_or_default() {
        super::encode_pool::Placement::Inline => format!(
            "encoder inline on the replica's chips, weights {:.2} GB in bf16 sharded 1/tp out of the KV cache, {:.1} GFLOP per image, run in the step that starts the prefill (no separate encoder budget{})",
            weight_bytes / 1e9,
            flops / 1e9,
            if s.repeat_share.is_some() {
                "; the encoder cache below"
            } else {
                " or cache"
            }
        ),
        super::encode_pool::Placement::Pool => format!(
            "encoder on the encode pool (workload.multimodal.encoder = \"pool\"), weights {:.2} GB in bf16, {:.1} GFLOP per image",
            weight_bytes / 1e9,
            flops / 1e9
        ),
    }
}
