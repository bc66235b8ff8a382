use super::*;
use crate::dtype::Dtype;
use std::fs;
use std::path::{Path, PathBuf};

fn presets_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/models")
}

fn preset(name: &str) -> ModelSpec {
    load_preset(name, &presets_dir()).unwrap()
}

/// A scratch directory removed on drop, unique per test and process.
struct TempDir(PathBuf);

impl TempDir {
    fn new(test: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("codesim-model-{}-{test}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn write(&self, relative: &str, text: &str) -> PathBuf {
        let path = self.0.join(relative);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn assert_close(what: &str, got: f64, published: f64, tolerance: f64) {
    let error = (got - published).abs() / published;
    assert!(
        error <= tolerance,
        "{what}: {got:.4e} vs published {published:.4e} ({:.2}% off)",
        error * 100.0
    );
}

#[test]
fn param_totals_match_published_figures() {
    let published = [
        ("llama-2-7b", 6.74e9),
        ("llama-2-13b", 13.0e9),
        ("llama-2-70b", 69.0e9),
        ("llama-3-8b", 8.03e9),
        ("llama-3-70b", 70.6e9),
        ("llama-3.1-8b", 8.03e9),
        ("llama-3.1-70b", 70.6e9),
        ("llama-3.3-70b", 70.6e9),
        ("llama-3.1-405b", 405.9e9),
        ("llama-3.2-1b", 1.24e9),
        ("llama-3.2-3b", 3.21e9),
        ("mistral-7b-v0.2", 7.24e9),
        ("codellama-13b", 13.0e9),
        ("mixtral-8x7b", 46.7e9),
        ("qwen3-235b-a22b", 235e9),
        ("deepseek-v3", 671e9),
    ];
    for (name, total) in published {
        assert_close(name, preset(name).params_total(), total, 0.015);
    }
}

#[test]
fn active_params_count_only_the_experts_a_token_visits() {
    for (name, active) in [
        ("mixtral-8x7b", 12.9e9),
        ("qwen3-235b-a22b", 22e9),
        ("deepseek-v3", 37e9),
    ] {
        assert_close(name, preset(name).params_active(), active, 0.015);
    }
    // DeepSeek's own finer figure, 36.6B, leaves out the input embedding (0.9B).
    let ds = preset("deepseek-v3");
    let input_embedding = f64::from(ds.vocab) * f64::from(ds.hidden);
    assert_close(
        "deepseek-v3 without embedding",
        ds.params_active() - input_embedding,
        36.6e9,
        0.005,
    );
    let dense = preset("llama-3-8b");
    assert_eq!(dense.params_active(), dense.params_total());
}

#[test]
fn moe_layers_follow_first_dense_layers_and_period() {
    let ds = preset("deepseek-v3");
    assert_eq!((ds.dense_layer_count(), ds.moe_layer_count()), (3, 58));
    assert!(!ds.is_moe_layer(2) && ds.is_moe_layer(3) && ds.is_moe_layer(60) && !ds.is_moe_layer(61));
    let mut every_other = ds.clone();
    every_other.moe.as_mut().unwrap().moe_every = 2;
    let counted = (0..every_other.layers).filter(|&l| every_other.is_moe_layer(l)).count() as u32;
    assert_eq!(every_other.moe_layer_count(), counted);
    assert_eq!(preset("mixtral-8x7b").moe_layer_count(), 32);
    assert_eq!(preset("llama-3-8b").dense_layer_count(), 32);
}

#[test]
fn kv_bytes_per_token() {
    assert_eq!(preset("llama-3-8b").kv_bytes_per_token(Dtype::Bf16), 131072.0);
    assert_eq!(preset("llama-2-7b").kv_bytes_per_token(Dtype::Fp16), 524288.0);
    // MLA caches the 512-wide latent and the 64-wide RoPE key: 576 elements per layer.
    assert_eq!(
        preset("deepseek-v3").kv_bytes_per_token(Dtype::Bf16),
        576.0 * 61.0 * 2.0
    );
}

#[test]
fn linear_flops_are_twice_the_active_matmul_weights() {
    let m = preset("llama-3-8b");
    let lookup = f64::from(m.vocab) * f64::from(m.hidden);
    assert_eq!(
        m.linear_flops_per_token(),
        2.0 * (m.params_active() - lookup - m.norm_params())
    );
    // A tied LM head is still a matmul.
    let tied = preset("llama-3.2-1b");
    assert_eq!(
        tied.linear_flops_per_token(),
        2.0 * (tied.params_active() - tied.norm_params())
    );
    let moe = preset("mixtral-8x7b");
    let lookup = f64::from(moe.vocab) * f64::from(moe.hidden);
    assert_eq!(
        moe.linear_flops_per_token(),
        2.0 * (moe.params_active() - lookup - moe.norm_params())
    );
}

#[test]
fn attention_flops_are_causal_and_additive_over_chunks() {
    let m = preset("llama-3-8b");
    let per_position_all_layers = 4.0 * 32.0 * 128.0 * 32.0;
    // One decode token after 99 cached ones sees 100 positions.
    assert_eq!(m.attention_flops(1, 99), 100.0 * per_position_all_layers);
    // A 4-token prefill sees 1 + 2 + 3 + 4 positions.
    assert_eq!(m.attention_flops(4, 0), 10.0 * per_position_all_layers);
    assert_eq!(m.attention_flops(0, 1000), 0.0);
    // Chunked prefill costs the same as one prefill.
    assert_eq!(
        m.attention_flops(4096, 0),
        m.attention_flops(1024, 0) + m.attention_flops(3072, 1024)
    );
    // MLA: 192-wide scores, 128-wide values.
    let ds = preset("deepseek-v3");
    assert_eq!(ds.attention_flops(1, 0), 2.0 * 128.0 * (192.0 + 128.0) * 61.0);
}

#[test]
fn absorbed_mla_flops_per_pair_for_deepseek_v3() {
    let ds = preset("deepseek-v3");
    // Naive: 128 heads · 2 · (192 + 128) = 81,920 FLOPs per pair per layer.
    assert_eq!(ds.attention_flops_per_pair(false), 81_920.0);
    // Absorbed: scores 2 · (512 + 64) = 1,152 and values 2 · 512 = 1,024 per head:
    // 128 · 2,176 = 278,528, 3.4 × the naive form (the price of reading only the latent).
    assert_eq!(ds.attention_flops_per_pair(true), 278_528.0);
    // Expanding a cached latent: 2 · 512 · 128 · (128 + 128) = 33,554,432 per layer.
    assert_eq!(ds.mla_expand_flops_per_token(), 33_554_432.0);
    // GQA has one form: Llama-3-8B, 32 heads · 2 · (128 + 128) = 16,384.
    let l = preset("llama-3-8b");
    assert_eq!(l.attention_flops_per_pair(true), 16_384.0);
    assert_eq!(l.attention_flops_per_pair(false), 16_384.0);
    assert_eq!(l.mla_expand_flops_per_token(), 0.0);
    // The latent cache is per token, not per head: (512 + 64) · 1 byte · 61 layers in FP8.
    assert_eq!(ds.kv_bytes_per_token(Dtype::Fp8), 576.0 * 61.0);
}

#[test]
fn weight_bytes_with_block_scales() {
    let m = preset("llama-2-7b");
    let params = m.params_total();
    assert_eq!(m.weight_bytes(Dtype::Bf16), 2.0 * params);
    assert_eq!(m.weight_bytes_with_scales(Dtype::Int4, Some(32)) * 8.0 / params, 4.5);
    assert_eq!(m.weight_bytes_with_scales(Dtype::Int8, Some(32)) * 8.0 / params, 8.5);
    assert_eq!(
        m.weight_bytes_with_scales(Dtype::Int4, None),
        m.weight_bytes(Dtype::Int4)
    );
    assert_eq!(
        m.weight_bytes_with_scales(Dtype::Int4, Some(0)),
        m.weight_bytes(Dtype::Int4)
    );
}

#[test]
fn every_preset_loads_validates_and_is_sorted() {
    let specs = list_presets(&presets_dir()).unwrap();
    let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    for required in [
        "llama-2-7b",
        "llama-2-13b",
        "llama-2-70b",
        "llama-3-8b",
        "llama-3-70b",
        "llama-3.1-8b",
        "llama-3.1-70b",
        "llama-3.3-70b",
        "llama-3.1-405b",
        "llama-3.2-1b",
        "llama-3.2-3b",
        "mistral-7b-v0.2",
        "codellama-13b",
        "mixtral-8x7b",
        "qwen3-235b-a22b",
        "deepseek-v3",
    ] {
        assert!(names.contains(&required), "missing preset {required}");
        let text = fs::read_to_string(presets_dir().join(format!("{required}.toml"))).unwrap();
        assert!(
            text.starts_with("# source: "),
            "{required}.toml lacks its source comment"
        );
    }
}

#[test]
fn specs_round_trip_through_toml() {
    for name in ["llama-3-8b", "mixtral-8x7b", "deepseek-v3"] {
        let spec = preset(name);
        let text = toml::to_string(&spec).unwrap();
        assert_eq!(toml::from_str::<ModelSpec>(&text).unwrap(), spec, "{text}");
    }
}

#[test]
fn unknown_preset_suggests_the_closest_name() {
    let err = load_preset("llama-3-8", &presets_dir()).unwrap_err().to_string();
    assert!(err.contains("unknown model preset `llama-3-8`"), "{err}");
    assert!(err.contains("did you mean `llama-3-8b`?"), "{err}");
    assert!(err.contains("deepseek-v3, gpt-oss-120b"), "{err}");
}

#[test]
fn bad_presets_are_rejected_naming_file_and_key() {
    let dir = TempDir::new("bad-presets");
    let base = fs::read_to_string(presets_dir().join("mixtral-8x7b.toml")).unwrap();
    let cases = [
        ("kv_heads = 8", "kv_heads = 5", "kv_heads", "divisor of heads"),
        ("layers = 32", "layers = 0", "layers", "positive integer"),
        ("top_k = 2", "top_k = 9", "moe.top_k", "accepted: 1 to 8"),
        (
            "top_k = 2",
            "top_k = 2\nfirst_dense_layers = 32",
            "moe.first_dense_layers",
            "no MoE layer",
        ),
        ("name = \"mixtral-8x7b\"", "name = \"other\"", "name", "accepted: `bad`"),
        (
            "hidden = 4096",
            "hidden = 4096\nhiden = 1",
            "line 7",
            "unknown field `hiden`",
        ),
        ("hidden = 4096", "hidden = \"big\"", "line 6", "invalid type"),
        ("hidden = 4096\n", "", "", "missing field `hidden`"),
        ("expert_ffn = 14336", "", "line 14", "missing field `expert_ffn`"),
    ];
    for (from, to, key, accepted) in cases {
        assert!(base.contains(from), "{from}");
        let path = dir.write("bad.toml", &base.replacen(from, to, 1));
        let err = load_preset("bad", &dir.0).unwrap_err();
        let Error::Input(input) = &err else { panic!("{err}") };
        assert_eq!(input.file, path.display().to_string());
        assert_eq!(input.location, key, "{err}");
        assert!(input.message.contains(accepted), "{err}");
    }
}

#[test]
fn mla_head_dim_must_match_its_parts() {
    let mut ds = preset("deepseek-v3");
    ds.head_dim = 128;
    let err = ds.validate("ds.toml").unwrap_err().to_string();
    assert!(err.contains("ds.toml: head_dim:") && err.contains("= 192"), "{err}");
}

const LLAMA_3_8B_CONFIG: &str = r#"{
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_act": "silu",
    "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32,
    "num_attention_heads": 32, "num_key_value_heads": 8, "vocab_size": 128256,
    "max_position_embeddings": 8192, "rope_theta": 500000.0, "rms_norm_eps": 1e-05,
    "tie_word_embeddings": false, "torch_dtype": "bfloat16", "rope_scaling": null
}"#;

const LLAMA_3_2_1B_CONFIG: &str = r#"{
    "model_type": "llama", "hidden_size": 2048, "intermediate_size": 8192, "head_dim": 64,
    "num_hidden_layers": 16, "num_attention_heads": 32, "num_key_value_heads": 8,
    "vocab_size": 128256, "max_position_embeddings": 131072, "tie_word_embeddings": true,
    "rope_scaling": {"factor": 32.0, "rope_type": "llama3"}
}"#;

const MIXTRAL_CONFIG: &str = r#"{
    "model_type": "mixtral", "hidden_size": 4096, "intermediate_size": 14336,
    "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8,
    "num_local_experts": 8, "num_experts_per_tok": 2, "vocab_size": 32000,
    "max_position_embeddings": 32768, "sliding_window": null, "tie_word_embeddings": false
}"#;

const QWEN3_MOE_CONFIG: &str = r#"{
    "model_type": "qwen3_moe", "hidden_size": 4096, "intermediate_size": 12288, "head_dim": 128,
    "num_hidden_layers": 94, "num_attention_heads": 64, "num_key_value_heads": 4,
    "num_experts": 128, "num_experts_per_tok": 8, "moe_intermediate_size": 1536,
    "decoder_sparse_step": 1, "mlp_only_layers": [], "norm_topk_prob": true,
    "vocab_size": 151936, "max_position_embeddings": 40960, "tie_word_embeddings": false
}"#;

const DEEPSEEK_V3_CONFIG: &str = r#"{
    "model_type": "deepseek_v3", "hidden_size": 7168, "intermediate_size": 18432,
    "num_hidden_layers": 61, "num_attention_heads": 128, "num_key_value_heads": 128,
    "q_lora_rank": 1536, "kv_lora_rank": 512, "qk_nope_head_dim": 128, "qk_rope_head_dim": 64,
    "v_head_dim": 128, "n_routed_experts": 256, "n_shared_experts": 1, "num_experts_per_tok": 8,
    "moe_intermediate_size": 2048, "first_k_dense_replace": 3, "moe_layer_freq": 1,
    "num_nextn_predict_layers": 1, "vocab_size": 129280, "max_position_embeddings": 163840,
    "tie_word_embeddings": false, "quantization_config": {"quant_method": "fp8"}
}"#;

/// A preset without its `source` (a config.json read from disk has none).
fn unsourced(mut m: ModelSpec) -> ModelSpec {
    m.source = None;
    m
}

#[test]
fn hf_configs_parse_to_their_presets() {
    let dir = TempDir::new("hf-configs");
    for (name, config) in [
        ("llama-3-8b", LLAMA_3_8B_CONFIG),
        ("llama-3.2-1b", LLAMA_3_2_1B_CONFIG),
        ("mixtral-8x7b", MIXTRAL_CONFIG),
        ("qwen3-235b-a22b", QWEN3_MOE_CONFIG),
        ("deepseek-v3", DEEPSEEK_V3_CONFIG),
    ] {
        let path = dir.write(&format!("{name}/config.json"), config);
        assert_eq!(from_hf_config(&path).unwrap(), unsourced(preset(name)), "{name}");
    }
    // A byte-order mark (as Windows editors write) changes nothing.
    let path = dir.write("bom/llama-3-8b.json", &format!("\u{feff}{LLAMA_3_8B_CONFIG}"));
    let with_bom = from_hf_config(&path).unwrap();
    assert_eq!(with_bom.layers, preset("llama-3-8b").layers);
    assert_eq!(with_bom.params_total(), preset("llama-3-8b").params_total());
}

#[test]
fn hf_config_errors_name_the_missing_field() {
    let dir = TempDir::new("hf-errors");
    let path = dir.write(
        "m/config.json",
        &LLAMA_3_8B_CONFIG.replace("\"vocab_size\": 128256,", ""),
    );
    let err = from_hf_config(&path).unwrap_err().to_string();
    assert!(
        err.starts_with(&format!("{}: vocab_size: is missing", path.display())),
        "{err}"
    );

    let path = dir.write("m/config.json", &LLAMA_3_8B_CONFIG.replace("\"llama\"", "\"lama\""));
    let err = from_hf_config(&path).unwrap_err().to_string();
    assert!(
        err.contains("model_type: unsupported model type `lama` (did you mean `llama`?)"),
        "{err}"
    );

    let path = dir.write(
        "m/config.json",
        &LLAMA_3_8B_CONFIG.replace("\"num_hidden_layers\": 32", "\"num_hidden_layers\": -1"),
    );
    let err = from_hf_config(&path).unwrap_err().to_string();
    assert!(
        err.contains("num_hidden_layers: is -1; accepted: a non-negative integer"),
        "{err}"
    );

    let path = dir.write("m/config.json", "{ not json");
    assert!(
        from_hf_config(&path)
            .unwrap_err()
            .to_string()
            .contains("line 1: invalid JSON")
    );
}

#[test]
fn hf_config_defaults_and_names() {
    let dir = TempDir::new("hf-defaults");
    let minimal = r#"{"model_type": "mistral", "hidden_size": 4096, "intermediate_size": 14336,
        "num_hidden_layers": 32, "num_attention_heads": 32, "vocab_size": 32000,
        "max_position_embeddings": 32768}"#;
    let spec = from_hf_config(&dir.write("my-model.json", minimal)).unwrap();
    assert_eq!(spec.name, "my-model");
    assert_eq!((spec.kv_heads, spec.head_dim, spec.tied_embeddings), (32, 128, false));
    let spec = from_hf_config(&dir.write("config.json", minimal)).unwrap();
    assert_eq!(spec.name, dir.0.file_name().unwrap().to_str().unwrap());
}

#[test]
fn resolve_accepts_presets_configs_and_spec_files() {
    let dir = TempDir::new("resolve");
    let models = presets_dir();
    assert_eq!(resolve("llama-3-8b", &models, &dir.0).unwrap(), preset("llama-3-8b"));
    dir.write("hf/llama-3-8b/config.json", LLAMA_3_8B_CONFIG);
    let by_file = resolve("hf/llama-3-8b/config.json", &models, &dir.0).unwrap();
    assert_eq!(by_file, unsourced(preset("llama-3-8b")));
    assert_eq!(resolve("hf/llama-3-8b", &models, &dir.0).unwrap(), by_file);
    let absolute = dir.0.join("hf/llama-3-8b/config.json");
    assert_eq!(
        resolve(absolute.to_str().unwrap(), &models, Path::new("/nonexistent")).unwrap(),
        by_file
    );
    let toml_path = dir.write(
        "mine.toml",
        &fs::read_to_string(models.join("mixtral-8x7b.toml")).unwrap(),
    );
    assert_eq!(resolve("mine.toml", &models, &dir.0).unwrap(), preset("mixtral-8x7b"));
    let err = resolve("missing.json", &models, &dir.0).unwrap_err();
    assert!(
        matches!(err, Error::Input(_))
            && err.to_string().contains("missing.json")
            && err.to_string().contains("not found"),
        "{err}"
    );
    let err = resolve("gpt-5", &models, &dir.0).unwrap_err().to_string();
    assert!(err.contains("unknown model preset `gpt-5`"), "{err}");
    drop(toml_path);
}

/// Llama 3.1 70B and 3.3 70B are one architecture (Meta's llama-models sku_list gives both the
/// same model_args): the presets differ in their names only.
#[test]
fn llama_3_1_70b_has_the_shapes_of_llama_3_3_70b() {
    let a = preset("llama-3.1-70b");
    let b = ModelSpec {
        name: a.name.clone(),
        source: a.source.clone(),
        ..preset("llama-3.3-70b")
    };
    assert_eq!(a, b);
    // intermediate_size from Meta's FeedForward: int(1.3 · int(2 · 4 · 8192 / 3)) rounded up to
    // a multiple of 4096.
    let ffn = (1.3 * (2 * 4 * 8192 / 3) as f64) as u32;
    assert_eq!(a.ffn, ffn.div_ceil(4096) * 4096);
}

mod layers;
