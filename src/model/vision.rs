//! A vision encoder (a ViT in front of the language model, as in Qwen2-VL / Qwen2.5-VL): what
//! an image of W × H pixels becomes and what encoding it costs. The image is cut into
//! (W/patch) · (H/patch) patches; every encoder layer runs on each patch (a bidirectional
//! attention over the image's patches, or over windows of them, and an MLP); the merger folds
//! each `spatial_merge`² neighbouring patches into one prompt token of the language model.
//!
//! Parameters: the patch embedding (in_channels · temporal_patch · patch² · hidden), per layer
//! the attention's q, k, v and output projections (4 · hidden²) and the MLP (3 · hidden ·
//! intermediate gated, 2 · hidden · intermediate plain), the merger's two linears
//! ((hidden · merge²)² + hidden · merge² · out_hidden). Biases and norms are left out (< 0.1 %).

use serde::{Deserialize, Serialize};

use super::hf::HfConfig;
use super::in_range;
use super::limits;
use crate::error::{Error, Result};

/// A vision encoder's shape (`[vision]` of a model spec, or a HF config's `vision_config`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VisionSpec {
    /// Encoder layers (`depth`).
    pub layers: u32,
    /// Encoder width (`hidden_size`).
    pub hidden: u32,
    /// MLP width (`intermediate_size`).
    pub intermediate: u32,
    /// Attention heads (`num_heads`).
    pub heads: u32,
    /// Pixels per patch side (`patch_size`).
    pub patch_size: u32,
    /// Patches per side folded into one prompt token (`spatial_merge_size`; 1: none).
    #[serde(default = "one")]
    pub spatial_merge: u32,
    /// Frames per patch (`temporal_patch_size`; an image is repeated to fill them).
    #[serde(default = "one")]
    pub temporal_patch: u32,
    /// Colour channels (`in_chans`).
    #[serde(default = "three")]
    pub in_channels: u32,
    /// SwiGLU MLP (gate, up, down); false: two matrices.
    #[serde(default = "yes")]
    pub gated_mlp: bool,
    /// Width of the merger's output, the language model's hidden (`out_hidden_size`); default:
    /// the model's `hidden`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out_hidden: Option<u32>,
    /// Patches per attention window (Qwen2.5-VL: (window_size / patch_size)² = 64); none: every
    /// layer attends over the whole image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_patches: Option<u32>,
    /// Layers attending over the whole image when the others use windows
    /// (`fullatt_block_indexes`: Qwen2.5-VL 4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_attention_layers: Option<u32>,
}

fn one() -> u32 {
    1
}
fn three() -> u32 {
    3
}
fn yes() -> bool {
    true
}

/// What encoding one image (or one audio clip's window, `audio.rs`: `patches` then holds its
/// frames) costs, for the whole encoder (divide by tp for a rank).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ImageWork {
    pub patches: f64,
    /// Prompt tokens the image becomes: patches / merge².
    pub tokens: f64,
    pub flops: f64,
    /// Activations moved through HBM (weights are counted once per step, not per image).
    pub act_bytes: f64,
}

impl VisionSpec {
    /// The side (in pixels) an image is resized to: the nearest multiple of patch · merge, at
    /// least one (Qwen2-VL's `smart_resize` without its pixel-count limits).
    pub fn resized_px(&self, px: u32) -> u32 {
        let f = self.patch_size * self.spatial_merge;
        let k = ((px as f64 / f as f64).round() as u32).max(1);
        k * f
    }

    /// Patches of an image of `w` × `h` pixels after resizing.
    pub fn patches(&self, w: u32, h: u32) -> u64 {
        (self.resized_px(w) / self.patch_size) as u64 * (self.resized_px(h) / self.patch_size) as u64
    }

    /// Prompt tokens of an image of `w` × `h` pixels: its patches / merge².
    pub fn tokens(&self, w: u32, h: u32) -> u64 {
        self.patches(w, h) / (self.spatial_merge as u64 * self.spatial_merge as u64)
    }

    fn layer_params(&self) -> f64 {
        let h = self.hidden as f64;
        let mats = if self.gated_mlp { 3.0 } else { 2.0 };
        4.0 * h * h + mats * h * self.intermediate as f64
    }
    fn embed_params(&self) -> f64 {
        let p = self.patch_size as f64;
        (self.in_channels * self.temporal_patch) as f64 * p * p * self.hidden as f64
    }
    fn merger_params(&self, model_hidden: u32) -> f64 {
        let d = self.hidden as f64 * (self.spatial_merge * self.spatial_merge) as f64;
        d * d + d * self.out_hidden.unwrap_or(model_hidden) as f64
    }

    /// Parameters of the whole encoder (patch embedding, layers, merger).
    pub fn params(&self, model_hidden: u32) -> f64 {
        self.embed_params() + self.layers as f64 * self.layer_params() + self.merger_params(model_hidden)
    }

    /// Encoding one image of `patches` patches: 2 FLOPs per parameter per patch (the merger per
    /// merged token), and per layer 4 · hidden FLOPs per attention pair (QKᵀ and AV), with
    /// patches² pairs in a full layer and patches · min(window, patches) in a windowed one.
    /// Activations: per patch and layer the layer's input row, its q, k, v, attention output
    /// and residual rows (≈ 8 · hidden) and the MLP's intermediate rows (3 or 2 · intermediate),
    /// at `act_bytes` each.
    pub fn image_work(&self, patches: u64, model_hidden: u32, act_bytes: f64) -> ImageWork {
        let n = patches as f64;
        let m2 = (self.spatial_merge * self.spatial_merge) as f64;
        let tokens = n / m2;
        let layers = self.layers as f64;
        let (full, windowed, window) = match self.window_patches {
            Some(w) => {
                let full = self.full_attention_layers.unwrap_or(0).min(self.layers) as f64;
                (full, layers - full, (w as f64).min(n))
            }
            None => (layers, 0.0, n),
        };
        let pairs = full * n * n + windowed * n * window;
        let h = self.hidden as f64;
        let linear = 2.0 * n * (self.embed_params() + layers * self.layer_params())
            + 2.0 * tokens * self.merger_params(model_hidden);
        let mats = if self.gated_mlp { 3.0 } else { 2.0 };
        ImageWork {
            patches: n,
            tokens,
            flops: linear + 4.0 * h * pairs,
            act_bytes: n * layers * (8.0 * h + mats * self.intermediate as f64) * act_bytes,
        }
    }

    /// Checks the sizes; `key` prefixes the keys named in errors (`vision.`).
    pub fn validate(&self, file: &str, key: &str) -> Result<()> {
        for (k, v, max) in [
            ("layers", self.layers, limits::LAYERS),
            ("hidden", self.hidden, limits::WIDTH),
            ("intermediate", self.intermediate, limits::WIDTH * 16),
            ("heads", self.heads, limits::HEADS),
            ("patch_size", self.patch_size, 1024),
            ("spatial_merge", self.spatial_merge, 64),
            ("temporal_patch", self.temporal_patch, 64),
            ("in_channels", self.in_channels, 64),
        ] {
            in_range(file, &format!("{key}{k}"), v, max)?;
        }
        if let Some(v) = self.out_hidden {
            in_range(file, &format!("{key}out_hidden"), v, limits::WIDTH)?;
        }
        if let Some(v) = self.window_patches {
            in_range(file, &format!("{key}window_patches"), v, 1 << 20)?;
        }
        if let Some(v) = self.full_attention_layers {
            if v > self.layers {
                return Err(Error::input(
                    file,
                    format!("{key}full_attention_layers"),
                    format!("is {v}; accepted: 0 to layers = {}", self.layers),
                ));
            }
        }
        Ok(())
    }
}

/// A HF config's `vision_config` (Qwen2-VL / Qwen2.5-VL names), if it has one.
pub(super) fn from_hf(top: &HfConfig) -> Result<Option<VisionSpec>> {
    let Some(serde_json::Value::Object(fields)) = top.get("vision_config") else {
        return Ok(None);
    };
    let c = HfConfig {
        path: top.path,
        fields,
        prefix: "vision_config.",
    };
    let patch_size = c.required("patch_size")?;
    let window_patches = match c.optional("window_size")? {
        Some(w) if patch_size > 0 => Some((w / patch_size) * (w / patch_size)),
        _ => None,
    };
    let full_attention_layers = match c.get("fullatt_block_indexes") {
        Some(serde_json::Value::Array(a)) => Some(a.len() as u32),
        _ => None,
    };
    let v = VisionSpec {
        layers: c.required("depth")?,
        hidden: c.required("hidden_size")?,
        intermediate: c.required("intermediate_size")?,
        heads: c.required("num_heads")?,
        patch_size,
        spatial_merge: c.optional("spatial_merge_size")?.unwrap_or(1),
        temporal_patch: c.optional("temporal_patch_size")?.unwrap_or(1),
        in_channels: match c.optional("in_chans")? {
            Some(n) => n,
            None => c.optional("in_channels")?.unwrap_or(3),
        },
        gated_mlp: true,
        out_hidden: c.optional("out_hidden_size")?,
        window_patches: window_patches.filter(|_| full_attention_layers.is_some()),
        full_attention_layers,
    };
    v.validate(&top.path.display().to_string(), "vision_config.")?;
    Ok(Some(v))
}
