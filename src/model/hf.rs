//! Reading a Hugging Face `config.json` into a [`ModelSpec`].
//!
//! Only the fields that shape the cost are read; the rest (RoPE scaling, dtypes, token ids) is
//! ignored. Layer kinds (`layer_types`, `sliding_window`, Llama 4's `attention_chunk_size` and
//! `no_rope_layers`, Qwen3-Next's `full_attention_interval` and `linear_*` keys) are read by
//! `hf_layers.rs`, with `quantization_config` (recorded as the published weight format). QKV
//! biases and Qwen3's per-head q/k norms are not modelled. Llama 4 keeps its text model's
//! fields under `text_config`; they are read from there.

use std::path::Path;

use serde_json::{Map, Value};

use super::{Attention, ModelSpec, MoeSpec};
use crate::error::{Error, Result, did_you_mean};

/// The `model_type` values [`from_hf_config`] understands.
pub const HF_MODEL_TYPES: [&str; 14] = [
    "llama",
    "mistral",
    "mixtral",
    "qwen2",
    "qwen2_5_vl",
    "qwen3",
    "qwen3_moe",
    "qwen3_next",
    "deepseek_v2",
    "deepseek_v3",
    "gpt_oss",
    "llama4",
    "llama4_text",
    "gemma3_text",
];

/// Parses a local Hugging Face `config.json`. The model is named after the directory holding
/// the file when it is called `config.json` (as in a downloaded repository), after the file
/// stem otherwise, and after `model_type` when neither gives a name.
pub fn from_hf_config(path: &Path) -> Result<ModelSpec> {
    let text = crate::input::read_text(path)?;
    // Editors on Windows write a UTF-8 byte-order mark; TOML inputs accept it, so does this.
    let json: Value = serde_json::from_str(text.strip_prefix('\u{feff}').unwrap_or(&text))
        .map_err(|e| Error::input(path, format!("line {}", e.line()), format!("invalid JSON: {e}")))?;
    let Some(fields) = json.as_object() else {
        return Err(Error::input(path, "", "expected a JSON object of config fields"));
    };
    let top = HfConfig {
        path,
        fields,
        prefix: "",
    };
    let model_type = top.model_type()?;
    if !HF_MODEL_TYPES.contains(&model_type.as_str()) {
        return Err(Error::input(
            path,
            "model_type",
            format!(
                "unsupported model type `{model_type}`{}; accepted: {}",
                did_you_mean(&model_type, HF_MODEL_TYPES),
                HF_MODEL_TYPES.join(", ")
            ),
        ));
    }
    let cfg = if model_type == "llama4" {
        top.text_config()?
    } else {
        top
    };
    let mut spec = read_spec(&cfg, &model_type, model_name(path, &model_type))?;
    spec.published_weights = top.published_weights()?;
    spec.vision = super::vision::from_hf(&top)?;
    spec.audio = super::audio::from_hf(&top)?;
    // The spec's checks name its own keys; the config's user wants the config's key.
    spec.validate(&path.display().to_string()).map_err(|e| match e {
        Error::Input(mut input) => {
            if let Some(key) = hf_key(&input.location, &model_type) {
                input.location = format!("{}{key} (model {})", cfg.prefix, input.location);
            }
            Error::Input(input)
        }
        other => other,
    })?;
    Ok(spec)
}

/// The config key a spec key is read from, for errors.
fn hf_key(spec_key: &str, model_type: &str) -> Option<&'static str> {
    let local_experts = matches!(model_type, "mixtral" | "gpt_oss" | "llama4" | "llama4_text");
    Some(match spec_key {
        "layers" => "num_hidden_layers",
        "hidden" => "hidden_size",
        "heads" => "num_attention_heads",
        "kv_heads" => "num_key_value_heads",
        "head_dim" => "head_dim",
        "ffn" if model_type.starts_with("llama4") => "intermediate_size_mlp",
        "ffn" => "intermediate_size",
        "vocab" => "vocab_size",
        "max_context" => "max_position_embeddings",
        "moe.experts" if local_experts => "num_local_experts",
        "moe.experts" if model_type.starts_with("deepseek") => "n_routed_experts",
        "moe.experts" => "num_experts",
        "moe.top_k" => "num_experts_per_tok",
        "moe.expert_ffn" if local_experts => "intermediate_size",
        "moe.expert_ffn" => "moe_intermediate_size",
        "moe.shared_expert_ffn" => "shared_expert_intermediate_size",
        "moe.shared_experts" => "n_shared_experts",
        "moe.first_dense_layers" => "first_k_dense_replace",
        "moe.moe_every" if model_type.starts_with("llama4") => "interleave_moe_layer_step",
        "moe.moe_every" => "moe_layer_freq",
        "layer_pattern.window" => "sliding_window",
        "layer_pattern.chunk" => "attention_chunk_size",
        "linear_attention.key_heads" => "linear_num_key_heads",
        "linear_attention.value_heads" => "linear_num_value_heads",
        "linear_attention.key_head_dim" => "linear_key_head_dim",
        "linear_attention.value_head_dim" => "linear_value_head_dim",
        "linear_attention.conv_kernel" => "linear_conv_kernel_dim",
        k => {
            return k.strip_prefix("attention.").and_then(|k| {
                [
                    "q_lora_rank",
                    "kv_lora_rank",
                    "qk_nope_head_dim",
                    "qk_rope_head_dim",
                    "v_head_dim",
                ]
                .into_iter()
                .find(|&f| f == k)
            });
        }
    })
}

fn read_spec(cfg: &HfConfig, model_type: &str, name: String) -> Result<ModelSpec> {
    let hidden = cfg.required("hidden_size")?;
    let heads = cfg.required("num_attention_heads")?;
    let is_deepseek = model_type.starts_with("deepseek");
    let attention = if is_deepseek { cfg.mla()? } else { Attention::Gqa };
    let head_dim = match attention {
        Attention::Mla {
            qk_nope_head_dim,
            qk_rope_head_dim,
            ..
        } => qk_nope_head_dim + qk_rope_head_dim,
        Attention::Gqa => match cfg.optional("head_dim")? {
            Some(d) => d,
            None => cfg.head_dim_from_hidden(hidden, heads)?,
        },
    };
    let ffn = cfg.dense_ffn(model_type)?;
    let layers = cfg.required("num_hidden_layers")?;
    // Checked before anything is built per layer.
    if layers == 0 || layers > super::limits::LAYERS {
        return Err(Error::input(
            cfg.path,
            cfg.key("num_hidden_layers"),
            format!(
                "is {layers}; accepted: a positive integer, 1 to {}",
                super::limits::LAYERS
            ),
        ));
    }
    let moe = cfg.moe(model_type, is_deepseek, ffn)?;
    let (layer_pattern, linear_attention) = cfg.layer_kinds(model_type, layers)?;
    Ok(ModelSpec {
        name,
        layers,
        hidden,
        heads,
        kv_heads: cfg.optional("num_key_value_heads")?.unwrap_or(heads),
        head_dim,
        ffn,
        vocab: cfg.required("vocab_size")?,
        max_context: cfg.required("max_position_embeddings")?,
        gated_ffn: true,
        tied_embeddings: cfg.bool_or("tie_word_embeddings", false)?,
        attention,
        moe,
        layer_pattern,
        linear_attention,
        attention_sinks: model_type == "gpt_oss",
        attention_output_gate: model_type == "qwen3_next",
        source: None,
        published_weights: None,
        vision: None,
        audio: None,
    })
}

fn model_name(path: &Path, model_type: &str) -> String {
    let stem = if path.file_name().is_some_and(|f| f == "config.json") {
        path.parent().and_then(|dir| dir.file_name())
    } else {
        path.file_stem()
    };
    stem.and_then(|s| s.to_str())
        .filter(|s| !s.is_empty())
        .unwrap_or(model_type)
        .to_string()
}

/// The top-level fields of a config, with the file to blame in errors.
#[derive(Clone, Copy)]
pub(super) struct HfConfig<'a> {
    pub(super) path: &'a Path,
    pub(super) fields: &'a Map<String, Value>,
    /// `text_config.` when the fields are a nested text model's, for errors.
    pub(super) prefix: &'static str,
}

impl HfConfig<'_> {
    /// A field's value, treating JSON `null` as absent.
    pub(super) fn get(&self, key: &str) -> Option<&Value> {
        self.fields.get(key).filter(|v| !v.is_null())
    }

    /// The key path of `key` for errors.
    pub(super) fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// Llama 4's text model, nested under `text_config`.
    fn text_config(&self) -> Result<HfConfig<'_>> {
        match self.get("text_config") {
            Some(Value::Object(fields)) => Ok(HfConfig {
                path: self.path,
                fields,
                prefix: "text_config.",
            }),
            found => Err(Error::input(
                self.path,
                "text_config",
                format!(
                    "is {}; accepted: the text model's fields as a JSON object (model_type llama4)",
                    found.map_or("missing".to_string(), Value::to_string)
                ),
            )),
        }
    }

    /// `hidden_size / num_attention_heads` when the config gives no `head_dim`: they must divide.
    fn head_dim_from_hidden(&self, hidden: u32, heads: u32) -> Result<u32> {
        if heads == 0 || hidden % heads != 0 {
            return Err(Error::input(
                self.path,
                self.key("num_attention_heads"),
                format!(
                    "is {heads}, which does not divide hidden_size = {hidden} and there is no head_dim; accepted: a divisor of hidden_size, or an explicit head_dim"
                ),
            ));
        }
        Ok(hidden / heads)
    }

    fn model_type(&self) -> Result<String> {
        const KEY: &str = "model_type";
        match self.get(KEY) {
            Some(Value::String(s)) => Ok(s.clone()),
            found => Err(Error::input(
                self.path,
                KEY,
                format!(
                    "is {}; accepted: one of {}",
                    found.map_or("missing".to_string(), Value::to_string),
                    HF_MODEL_TYPES.join(", ")
                ),
            )),
        }
    }

    pub(super) fn optional(&self, key: &str) -> Result<Option<u32>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => match v.as_u64().and_then(|n| u32::try_from(n).ok()) {
                Some(n) => Ok(Some(n)),
                None => Err(Error::input(
                    self.path,
                    self.key(key),
                    format!("is {v}; accepted: a non-negative integer up to {}", u32::MAX),
                )),
            },
        }
    }

    pub(super) fn required(&self, key: &str) -> Result<u32> {
        self.optional(key)?.ok_or_else(|| {
            Error::input(
                self.path,
                self.key(key),
                "is missing; accepted: a non-negative integer (this field is required)",
            )
        })
    }

    pub(super) fn bool_or(&self, key: &str, default: bool) -> Result<bool> {
        match self.get(key) {
            None => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(v) => Err(Error::input(
                self.path,
                self.key(key),
                format!("is {v}; accepted: true or false"),
            )),
        }
    }

    pub(super) fn mla(&self) -> Result<Attention> {
        Ok(Attention::Mla {
            q_lora_rank: self.optional("q_lora_rank")?,
            kv_lora_rank: self.required("kv_lora_rank")?,
            qk_nope_head_dim: self.required("qk_nope_head_dim")?,
            qk_rope_head_dim: self.required("qk_rope_head_dim")?,
            v_head_dim: self.required("v_head_dim")?,
        })
    }

    pub(super) fn qwen3_moe(&self) -> Result<MoeSpec> {
        // Qwen puts MoE on layers with (i + 1) % step == 0; that matches our rule only for 1.
        let step = self.optional("decoder_sparse_step")?.unwrap_or(1);
        if step != 1 {
            return Err(Error::input(
                self.path,
                self.key("decoder_sparse_step"),
                format!("is {step}; accepted: 1 (MoE on every layer)"),
            ));
        }
        if self
            .get("mlp_only_layers")
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty())
        {
            return Err(Error::input(
                self.path,
                self.key("mlp_only_layers"),
                "lists dense layers; accepted: [] (MoE on every layer)",
            ));
        }
        let shared_ffn = self.optional("shared_expert_intermediate_size")?.filter(|&w| w > 0);
        Ok(MoeSpec {
            experts: self.required("num_experts")?,
            top_k: self.required("num_experts_per_tok")?,
            shared_experts: u32::from(shared_ffn.is_some()),
            expert_ffn: self.required("moe_intermediate_size")?,
            shared_expert_ffn: shared_ffn,
            first_dense_layers: 0,
            moe_every: 1,
        })
    }
}
