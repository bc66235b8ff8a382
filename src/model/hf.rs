//! Reading a Hugging Face `config.json` into a [`ModelSpec`].
//!
//! Only the fields that shape the cost are read; the rest (RoPE scaling, dtypes, token ids,
//! quantization) is ignored. Sliding-window attention, QKV biases and Qwen3's per-head q/k norms
//! are not modelled.

use std::path::Path;

use serde_json::{Map, Value};

use super::{Attention, ModelSpec, MoeSpec};
use crate::error::{Error, Result, did_you_mean};

/// The `model_type` values [`from_hf_config`] understands.
pub const HF_MODEL_TYPES: [&str; 8] = [
    "llama",
    "mistral",
    "mixtral",
    "qwen2",
    "qwen3",
    "qwen3_moe",
    "deepseek_v2",
    "deepseek_v3",
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
    let cfg = HfConfig { path, fields };

    let model_type = cfg.model_type()?;
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
            None if heads > 0 => hidden / heads,
            None => 0,
        },
    };
    let ffn = cfg.required("intermediate_size")?;
    let moe = match model_type.as_str() {
        "mixtral" => Some(MoeSpec {
            experts: cfg.required("num_local_experts")?,
            top_k: cfg.required("num_experts_per_tok")?,
            shared_experts: 0,
            expert_ffn: ffn,
            first_dense_layers: 0,
            moe_every: 1,
        }),
        "qwen3_moe" => Some(cfg.qwen3_moe()?),
        _ if is_deepseek => Some(MoeSpec {
            experts: cfg.required("n_routed_experts")?,
            top_k: cfg.required("num_experts_per_tok")?,
            shared_experts: cfg.optional("n_shared_experts")?.unwrap_or(0),
            expert_ffn: cfg.required("moe_intermediate_size")?,
            first_dense_layers: cfg.optional("first_k_dense_replace")?.unwrap_or(0),
            moe_every: cfg.optional("moe_layer_freq")?.unwrap_or(1),
        }),
        _ => None,
    };

    let spec = ModelSpec {
        name: model_name(path, &model_type),
        layers: cfg.required("num_hidden_layers")?,
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
    };
    spec.validate(&path.display().to_string())?;
    Ok(spec)
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
struct HfConfig<'a> {
    path: &'a Path,
    fields: &'a Map<String, Value>,
}

impl HfConfig<'_> {
    /// A field's value, treating JSON `null` as absent.
    fn get(&self, key: &str) -> Option<&Value> {
        self.fields.get(key).filter(|v| !v.is_null())
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

    fn optional(&self, key: &str) -> Result<Option<u32>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => match v.as_u64().and_then(|n| u32::try_from(n).ok()) {
                Some(n) => Ok(Some(n)),
                None => Err(Error::input(
                    self.path,
                    key,
                    format!("is {v}; accepted: a non-negative integer"),
                )),
            },
        }
    }

    fn required(&self, key: &str) -> Result<u32> {
        self.optional(key)?.ok_or_else(|| {
            Error::input(
                self.path,
                key,
                "is missing; accepted: a non-negative integer (this field is required)",
            )
        })
    }

    fn bool_or(&self, key: &str, default: bool) -> Result<bool> {
        match self.get(key) {
            None => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(v) => Err(Error::input(self.path, key, format!("is {v}; accepted: true or false"))),
        }
    }

    fn mla(&self) -> Result<Attention> {
        Ok(Attention::Mla {
            q_lora_rank: self.optional("q_lora_rank")?,
            kv_lora_rank: self.required("kv_lora_rank")?,
            qk_nope_head_dim: self.required("qk_nope_head_dim")?,
            qk_rope_head_dim: self.required("qk_rope_head_dim")?,
            v_head_dim: self.required("v_head_dim")?,
        })
    }

    fn qwen3_moe(&self) -> Result<MoeSpec> {
        // Qwen puts MoE on layers with (i + 1) % step == 0; that matches our rule only for 1.
        let step = self.optional("decoder_sparse_step")?.unwrap_or(1);
        if step != 1 {
            return Err(Error::input(
                self.path,
                "decoder_sparse_step",
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
                "mlp_only_layers",
                "lists dense layers; accepted: [] (MoE on every layer)",
            ));
        }
        Ok(MoeSpec {
            experts: self.required("num_experts")?,
            top_k: self.required("num_experts_per_tok")?,
            shared_experts: 0,
            expert_ffn: self.required("moe_intermediate_size")?,
            first_dense_layers: 0,
            moe_every: 1,
        })
    }
}
