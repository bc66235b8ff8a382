//! An audio encoder (Whisper's encoder in front of the language model, as in Qwen2-Audio): what
//! a clip of `s` seconds becomes and what encoding it costs. The clip becomes log-mel features
//! of `mel_bins` bins at 100 frames per second (Whisper's feature extractor: 16 kHz audio, hop
//! 160 samples); a convolution of kernel 3 (mel_bins → hidden) and one of kernel 3, stride 2
//! (hidden → hidden) halve them to 50 encoder frames per second; every encoder layer runs on
//! each frame (bidirectional attention over the window's frames, a plain GELU MLP); an average
//! pool of `pool` frames (Qwen2-Audio: 2) makes 25 prompt tokens per second, projected to the
//! language model's width.
//!
//! Token count, as Qwen2-Audio computes it (`_get_feat_extract_output_lengths`): mel frames
//! L = ⌊100 · s⌋; encoder frames (L − 1) div 2 + 1; tokens (frames − pool) div pool + 1 (with
//! pool 1: the frames). A 30 s clip: 3000 → 1500 → 750.
//!
//! Work: Whisper's encoder takes a fixed window of `max_source_positions` encoder frames (the
//! feature extractor pads every clip to 30 s; vLLM's Qwen2-Audio runs the padded features and
//! keeps the first `tokens` outputs), so every clip of up to one window costs one window's
//! FLOPs. Parameters: the two convolutions (3 · mel_bins · hidden + 3 · hidden²), per layer
//! 4 · hidden² + 2 · hidden · ffn, the projector hidden · out_hidden. Biases, norms and the
//! positional table are left out (< 0.1 %).

use serde::{Deserialize, Serialize};

use super::hf::HfConfig;
use super::in_range;
use super::limits;
use super::vision::ImageWork;
use crate::error::Result;

/// Mel frames per second of audio (16 kHz, hop 160: Whisper's feature extractor).
pub const MEL_FRAMES_PER_S: f64 = 100.0;
/// The second convolution's stride.
const CONV_STRIDE: u64 = 2;

/// An audio encoder's shape (`[audio]` of a model spec, or a HF config's `audio_config`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AudioSpec {
    /// Encoder layers (`encoder_layers`).
    pub layers: u32,
    /// Encoder width (`d_model`).
    pub hidden: u32,
    /// Attention heads (`encoder_attention_heads`).
    pub heads: u32,
    /// MLP width (`encoder_ffn_dim`).
    pub ffn: u32,
    /// Log-mel bins of the features (`num_mel_bins`).
    pub mel_bins: u32,
    /// Encoder frames of one window (`max_source_positions`: Whisper 1500 = 30 s).
    pub max_source_positions: u32,
    /// Encoder frames averaged into one prompt token (Qwen2-Audio 2; 1: none).
    #[serde(default = "one")]
    pub pool: u32,
    /// Width of the projector's output, the language model's hidden; default the model's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out_hidden: Option<u32>,
}

fn one() -> u32 {
    1
}

impl AudioSpec {
    /// Encoder frames of a clip of `s` seconds: ⌊100 s⌋ mel frames through the stride-2 conv.
    pub fn frames(&self, s: f64) -> u64 {
        let mel = (s * MEL_FRAMES_PER_S).floor().max(1.0) as u64;
        (mel - 1) / CONV_STRIDE + 1
    }

    /// Prompt tokens of a clip of `s` seconds: its frames pooled.
    pub fn tokens(&self, s: f64) -> u64 {
        let (f, p) = (self.frames(s), self.pool.max(1) as u64);
        if f < p { 1 } else { (f - p) / p + 1 }
    }

    /// The longest clip one window holds, seconds (Whisper: 1500 frames = 30 s).
    pub fn window_s(&self) -> f64 {
        self.max_source_positions as f64 * CONV_STRIDE as f64 / MEL_FRAMES_PER_S
    }

    fn layer_params(&self) -> f64 {
        let h = self.hidden as f64;
        4.0 * h * h + 2.0 * h * self.ffn as f64
    }
    fn conv1_params(&self) -> f64 {
        3.0 * self.mel_bins as f64 * self.hidden as f64
    }
    fn conv2_params(&self) -> f64 {
        3.0 * self.hidden as f64 * self.hidden as f64
    }
    fn projector_params(&self, model_hidden: u32) -> f64 {
        self.hidden as f64 * self.out_hidden.unwrap_or(model_hidden) as f64
    }

    /// Parameters of the whole encoder (convolutions, layers, projector).
    pub fn params(&self, model_hidden: u32) -> f64 {
        self.conv1_params()
            + self.conv2_params()
            + self.layers as f64 * self.layer_params()
            + self.projector_params(model_hidden)
    }

    /// Encoding one clip (one padded window of n = `max_source_positions` frames): 2 FLOPs per
    /// parameter per output row (conv1 on the 2n mel frames, conv2 and the layers on the n
    /// frames, the projector on the n / pool tokens) and 4 · hidden per attention pair, n²
    /// pairs per layer; activations as a vision encoder's (≈ 8 · hidden + 2 · ffn per frame and
    /// layer) at `act_bytes`. `patches` holds the frames (the GEMMs' rows).
    pub fn clip_work(&self, model_hidden: u32, act_bytes: f64) -> ImageWork {
        let n = self.max_source_positions as f64;
        let layers = self.layers as f64;
        let tokens = (n / self.pool.max(1) as f64).floor();
        let h = self.hidden as f64;
        let linear = 2.0 * (CONV_STRIDE as f64 * n) * self.conv1_params()
            + 2.0 * n * (self.conv2_params() + layers * self.layer_params())
            + 2.0 * tokens * self.projector_params(model_hidden);
        ImageWork {
            patches: n,
            tokens,
            flops: linear + 4.0 * h * layers * n * n,
            act_bytes: n * layers * (8.0 * h + 2.0 * self.ffn as f64) * act_bytes,
        }
    }

    /// Checks the sizes; `key` prefixes the keys named in errors (`audio.`).
    pub fn validate(&self, file: &str, key: &str) -> Result<()> {
        for (k, v, max) in [
            ("layers", self.layers, limits::LAYERS),
            ("hidden", self.hidden, limits::WIDTH),
            ("heads", self.heads, limits::HEADS),
            ("ffn", self.ffn, limits::WIDTH * 16),
            ("mel_bins", self.mel_bins, 4096),
            ("max_source_positions", self.max_source_positions, 1 << 20),
            ("pool", self.pool, 64),
        ] {
            in_range(file, &format!("{key}{k}"), v, max)?;
        }
        if let Some(v) = self.out_hidden {
            in_range(file, &format!("{key}out_hidden"), v, limits::WIDTH)?;
        }
        Ok(())
    }
}

/// A HF config's `audio_config` (Qwen2-Audio / Whisper names), if it has one. The ×2 pool is
/// Qwen2-Audio's (its `avg_pooler`), read from `model_type = "qwen2_audio_encoder"`.
pub(super) fn from_hf(top: &HfConfig) -> Result<Option<AudioSpec>> {
    let Some(serde_json::Value::Object(fields)) = top.get("audio_config") else {
        return Ok(None);
    };
    let c = HfConfig {
        path: top.path,
        fields,
        prefix: "audio_config.",
    };
    let qwen2_audio = matches!(c.get("model_type"), Some(serde_json::Value::String(t)) if t == "qwen2_audio_encoder");
    let a = AudioSpec {
        layers: c.required("encoder_layers")?,
        hidden: c.required("d_model")?,
        heads: c.required("encoder_attention_heads")?,
        ffn: c.required("encoder_ffn_dim")?,
        mel_bins: c.optional("num_mel_bins")?.unwrap_or(128),
        max_source_positions: c.optional("max_source_positions")?.unwrap_or(1500),
        pool: if qwen2_audio { 2 } else { 1 },
        out_hidden: None,
    };
    a.validate(&top.path.display().to_string(), "audio_config.")?;
    Ok(Some(a))
}
