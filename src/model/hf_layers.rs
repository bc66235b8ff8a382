//! The parts of a Hugging Face config that say what each layer is and how the model is
//! published: the FFN and MoE keys of each family, layer kinds (`layer_types`,
//! `sliding_window`, Llama 4's `attention_chunk_size` / `no_rope_layers`, Qwen3-Next's
//! `full_attention_interval` and `linear_*` keys) and `quantization_config`.

use serde_json::Value;

use super::hf::HfConfig;
use super::{LayerKind, LayerPattern, LinearAttention, MoeSpec};
use crate::error::{Error, Result};

/// `layer_types` names and the kinds they map to.
const LAYER_TYPES: [(&str, LayerKind); 4] = [
    ("full_attention", LayerKind::Full),
    ("sliding_attention", LayerKind::Sliding),
    ("chunked_attention", LayerKind::Chunked),
    ("linear_attention", LayerKind::Linear),
];

impl HfConfig<'_> {
    /// The dense FFN width: Llama 4 names it `intermediate_size_mlp` (its `intermediate_size`
    /// is an expert's).
    pub(super) fn dense_ffn(&self, model_type: &str) -> Result<u32> {
        match model_type {
            "llama4" | "llama4_text" => self.required("intermediate_size_mlp"),
            _ => self.required("intermediate_size"),
        }
    }

    pub(super) fn moe(&self, model_type: &str, is_deepseek: bool, ffn: u32) -> Result<Option<MoeSpec>> {
        let routed = |experts_key: &str, expert_ffn: u32, shared: u32, every: u32| -> Result<MoeSpec> {
            Ok(MoeSpec {
                experts: self.required(experts_key)?,
                top_k: self.required("num_experts_per_tok")?,
                shared_experts: shared,
                expert_ffn,
                shared_expert_ffn: None,
                first_dense_layers: 0,
                moe_every: every,
            })
        };
        Ok(match model_type {
            "mixtral" => Some(routed("num_local_experts", ffn, 0, 1)?),
            // gpt-oss: every layer MoE, experts of intermediate_size, no shared expert.
            "gpt_oss" => Some(routed("num_local_experts", self.required("intermediate_size")?, 0, 1)?),
            // Llama 4: one shared expert of intermediate_size beside the routed ones; MoE every
            // interleave_moe_layer_step-th layer (HF puts them on layers step−1, 2·step−1, …;
            // codesim's rule on 0, step, …: the same count).
            "llama4" | "llama4_text" => {
                let every = self.optional("interleave_moe_layer_step")?.unwrap_or(1);
                Some(routed(
                    "num_local_experts",
                    self.required("intermediate_size")?,
                    1,
                    every,
                )?)
            }
            "qwen3_moe" | "qwen3_next" => Some(self.qwen3_moe()?),
            _ if is_deepseek => Some(MoeSpec {
                experts: self.required("n_routed_experts")?,
                top_k: self.required("num_experts_per_tok")?,
                shared_experts: self.optional("n_shared_experts")?.unwrap_or(0),
                expert_ffn: self.required("moe_intermediate_size")?,
                shared_expert_ffn: None,
                first_dense_layers: self.optional("first_k_dense_replace")?.unwrap_or(0),
                moe_every: self.optional("moe_layer_freq")?.unwrap_or(1),
            }),
            _ => None,
        })
    }

    /// The layers' kinds and the linear-attention shape, if the model mixes kinds.
    pub(super) fn layer_kinds(
        &self,
        model_type: &str,
        layers: u32,
    ) -> Result<(Option<LayerPattern>, Option<LinearAttention>)> {
        let kinds = match self.get("layer_types") {
            Some(v) => self.listed_layer_types(v, layers)?,
            None => self.family_layer_kinds(model_type, layers)?,
        };
        if kinds.iter().all(|&k| k == LayerKind::Full) {
            return Ok((None, None));
        }
        let has = |k: LayerKind| kinds.contains(&k);
        let window = if has(LayerKind::Sliding) {
            Some(self.required("sliding_window")?)
        } else {
            None
        };
        let chunk = if has(LayerKind::Chunked) {
            Some(self.required("attention_chunk_size")?)
        } else {
            None
        };
        let linear = if has(LayerKind::Linear) {
            Some(LinearAttention {
                key_heads: self.required("linear_num_key_heads")?,
                value_heads: self.required("linear_num_value_heads")?,
                key_head_dim: self.required("linear_key_head_dim")?,
                value_head_dim: self.required("linear_value_head_dim")?,
                conv_kernel: self.required("linear_conv_kernel_dim")?,
            })
        } else {
            None
        };
        let pattern = LayerPattern {
            pattern: shortest_period(&kinds),
            window,
            chunk,
        };
        Ok((Some(pattern), linear))
    }

    /// An explicit `layer_types` list: one known name per layer.
    fn listed_layer_types(&self, v: &Value, layers: u32) -> Result<Vec<LayerKind>> {
        let names = LAYER_TYPES.map(|(n, _)| n).join(", ");
        let Some(list) = v.as_array().filter(|a| a.len() == layers as usize) else {
            return Err(Error::input(
                self.path,
                self.key("layer_types"),
                format!(
                    "is {}; accepted: a list of num_hidden_layers = {layers} names among {names}",
                    short(v)
                ),
            ));
        };
        list.iter()
            .enumerate()
            .map(|(i, item)| {
                let kind = item
                    .as_str()
                    .and_then(|s| LAYER_TYPES.iter().find(|(n, _)| *n == s).map(|&(_, k)| k));
                kind.ok_or_else(|| {
                    Error::input(
                        self.path,
                        self.key(&format!("layer_types[{i}]")),
                        format!("is {}; accepted: one of {names}", short(item)),
                    )
                })
            })
            .collect()
    }

    /// Layer kinds from each family's own keys when there is no `layer_types` list.
    fn family_layer_kinds(&self, model_type: &str, layers: u32) -> Result<Vec<LayerKind>> {
        use LayerKind::{Full, Linear, Sliding};
        let n = layers as usize;
        let every = |period: u32, local: LayerKind| -> Vec<LayerKind> {
            (0..layers)
                .map(|i| if (i + 1) % period.max(1) == 0 { Full } else { local })
                .collect()
        };
        Ok(match model_type {
            // HF GptOssConfig's default: sliding on even layers, full on odd ones.
            "gpt_oss" if self.get("sliding_window").is_some() => every(2, Sliding),
            // Mistral v0.1's window applies to every layer.
            "mistral" | "mixtral" if self.get("sliding_window").is_some() => vec![Sliding; n],
            "qwen2" | "qwen3" | "qwen3_moe" if self.bool_or("use_sliding_window", false)? => {
                return Err(Error::input(
                    self.path,
                    self.key("use_sliding_window"),
                    "is true; accepted: false (Qwen's max_window_layers split is not modelled; give layer_types instead)",
                ));
            }
            "llama4" | "llama4_text" if self.get("attention_chunk_size").is_some() => self.llama4_kinds(layers)?,
            "qwen3_next" => every(self.optional("full_attention_interval")?.unwrap_or(4), Linear),
            "gemma3_text" if self.get("sliding_window").is_some() => {
                every(self.optional("sliding_window_pattern")?.unwrap_or(6), Sliding)
            }
            _ => vec![Full; n],
        })
    }

    /// Llama 4: `no_rope_layers[i]` is 1 for a RoPE layer (chunked attention) and 0 for a NoPE
    /// layer (full attention); without the list, every `no_rope_layer_interval`-th layer
    /// (default 4) is NoPE, as HF's Llama4TextConfig derives it.
    fn llama4_kinds(&self, layers: u32) -> Result<Vec<LayerKind>> {
        let listed = self
            .get("no_rope_layers")
            .and_then(Value::as_array)
            .filter(|a| !a.is_empty());
        let Some(list) = listed else {
            let period = self.optional("no_rope_layer_interval")?.unwrap_or(4).max(1);
            return Ok((0..layers)
                .map(|i| {
                    if (i + 1) % period == 0 {
                        LayerKind::Full
                    } else {
                        LayerKind::Chunked
                    }
                })
                .collect());
        };
        if list.len() != layers as usize {
            return Err(Error::input(
                self.path,
                self.key("no_rope_layers"),
                format!("has {} entries; accepted: one 0 or 1 per layer ({layers})", list.len()),
            ));
        }
        list.iter()
            .enumerate()
            .map(|(i, v)| match v.as_u64() {
                Some(1) => Ok(LayerKind::Chunked),
                Some(0) => Ok(LayerKind::Full),
                _ => Err(Error::input(
                    self.path,
                    self.key(&format!("no_rope_layers[{i}]")),
                    format!(
                        "is {}; accepted: 0 (NoPE, full attention) or 1 (RoPE, chunked)",
                        short(v)
                    ),
                )),
            })
            .collect()
    }

    /// The published weight format from `quantization_config`, if any: `fp8`, `int4`/`int8`
    /// (GPTQ, AWQ by bits), `mxfp4`, `nvfp4`, or the method's own name.
    pub(super) fn published_weights(&self) -> Result<Option<String>> {
        const KEY: &str = "quantization_config";
        let Some(q) = self.get(KEY) else {
            return Ok(None);
        };
        let method = q
            .as_object()
            .and_then(|o| o.get("quant_method"))
            .and_then(Value::as_str);
        let Some(method) = method else {
            return Err(Error::input(
                self.path,
                self.key(KEY),
                format!(
                    "is {}; accepted: an object with a quant_method string (fp8, mxfp4, gptq, awq, …)",
                    short(q)
                ),
            ));
        };
        let bits = q.get("bits").and_then(Value::as_u64);
        let algo = q.get("quant_algo").and_then(Value::as_str).unwrap_or("");
        Ok(Some(match (method, bits) {
            ("gptq" | "awq", Some(4)) => "int4".to_string(),
            ("gptq" | "awq", Some(8)) => "int8".to_string(),
            ("modelopt", _) if algo.eq_ignore_ascii_case("nvfp4") => "nvfp4".to_string(),
            (m, _) => m.to_ascii_lowercase(),
        }))
    }
}

/// The shortest prefix whose repetition gives `kinds` (the whole list when nothing repeats).
fn shortest_period(kinds: &[LayerKind]) -> Vec<LayerKind> {
    let p = (1..=kinds.len())
        .find(|&p| kinds.iter().enumerate().all(|(i, k)| *k == kinds[i % p]))
        .unwrap_or(kinds.len());
    kinds[..p].to_vec()
}

/// A JSON value for an error message, cut short.
fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 60 {
        format!("{}…", s.chars().take(60).collect::<String>())
    } else {
        s
    }
}
