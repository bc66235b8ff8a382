//! Layer kinds (sliding, chunked, linear), shared experts and the new presets: each mechanism
//! against its closed form, written out in the test.

use super::*;

/// gpt-oss-120b: 18 sliding layers (window 128) and 18 full layers; one layer's KV per token is
/// K and V of 8 heads × 64 in bf16 = 2 · 8 · 64 · 2 = 2,048 B. A sequence of `len` tokens holds
/// 18 · min(len, 128) · 2,048 + 18 · len · 2,048 bytes.
#[test]
fn window_bounded_kv_bytes_per_sequence() {
    let m = preset("gpt-oss-120b");
    assert_eq!(
        (m.layers_of(LayerKind::Sliding), m.layers_of(LayerKind::Full)),
        (18, 18)
    );
    let f = m.kv_footprint(Dtype::Bf16, Dtype::Bf16);
    assert_eq!(m.kv_bytes_per_token(Dtype::Bf16), 18.0 * 2048.0);
    for len in [1u64, 100, 128, 129, 1000, 131_072] {
        let closed = 18.0 * len.min(128) as f64 * 2048.0 + 18.0 * len as f64 * 2048.0;
        assert_eq!(f.bytes_for(len), closed, "len {len}");
    }
    // Past the window a sequence grows by the full layers only.
    assert_eq!(f.bytes_for(5000) - f.bytes_for(4999), 18.0 * 2048.0);
}

/// Llama 4 Scout: 36 chunked layers (chunk 8192) and 12 full (NoPE) layers of 2 · 8 · 128 · 2 =
/// 4,096 B per token each: 36 · min(len, 8192) · 4,096 + 12 · len · 4,096.
#[test]
fn chunked_kv_is_bounded_by_the_chunk() {
    let m = preset("llama-4-scout-17b-16e");
    assert_eq!(
        (m.layers_of(LayerKind::Chunked), m.layers_of(LayerKind::Full)),
        (36, 12)
    );
    let f = m.kv_footprint(Dtype::Bf16, Dtype::Bf16);
    for len in [1u64, 8191, 8192, 100_000] {
        let closed = 36.0 * len.min(8192) as f64 * 4096.0 + 12.0 * len as f64 * 4096.0;
        assert_eq!(f.bytes_for(len), closed, "len {len}");
    }
}

/// Qwen3-Next: 36 Gated DeltaNet layers, each with a recurrent state of 32 value heads × 128 ×
/// 128 = 524,288 elements and a convolution window of (4 − 1) × (2 · 16 · 128 + 32 · 128) =
/// 24,576 elements: 548,864 elements, 1,097,728 B in bf16, 39,518,208 B over 36 layers, whatever
/// the length. The 12 full layers hold 2 · 2 · 256 · 2 = 2,048 B per token each.
#[test]
fn linear_state_is_constant_in_length() {
    let m = preset("qwen3-next-80b-a3b");
    assert_eq!((m.layers_of(LayerKind::Linear), m.layers_of(LayerKind::Full)), (36, 12));
    let l = m.linear_attention.unwrap();
    assert_eq!(l.state_elements(), 548_864.0);
    let f = m.kv_footprint(Dtype::Bf16, Dtype::Bf16);
    assert_eq!(f.state_per_seq, 39_518_208.0);
    assert_eq!(f.growing_per_token, 12.0 * 2048.0);
    for len in [1u64, 1000, 262_144] {
        assert_eq!(
            f.bytes_for(len) - f.growing_per_token * len as f64,
            39_518_208.0,
            "len {len}"
        );
    }
    // In fp32 the state doubles; the KV dtype does not touch it.
    assert_eq!(
        m.kv_footprint(Dtype::Fp8, Dtype::Fp32).state_per_seq,
        2.0 * 39_518_208.0
    );
}

/// A shared expert adds its weights to every token: Qwen3-Next's is 3 · 2048 · 512 =
/// 3,145,728 weights per MoE layer, 48 layers, so 2 · 3,145,728 · 48 = 301,989,888 FLOPs and
/// (in bf16) 301,989,888 bytes per token; Llama 4 Scout's is 3 · 5120 · 8192 = 125,829,120 per
/// layer.
#[test]
fn shared_expert_bytes_and_flops_per_token() {
    let m = preset("qwen3-next-80b-a3b");
    assert_eq!(m.shared_expert_params(), 3_145_728.0);
    let mut without = m.clone();
    without.moe.as_mut().unwrap().shared_experts = 0;
    assert_eq!(
        m.linear_flops_per_token() - without.linear_flops_per_token(),
        301_989_888.0
    );
    assert_eq!(m.params_active() - without.params_active(), 150_994_944.0);
    assert_eq!(m.params_total() - without.params_total(), 150_994_944.0);
    assert_eq!(preset("llama-4-scout-17b-16e").shared_expert_params(), 125_829_120.0);
    // A shared expert of its own width: 2 · 3 · 2048 · 1024 · 48 more FLOPs than at 512.
    let mut wide = m.clone();
    wide.moe.as_mut().unwrap().shared_expert_ffn = Some(1024);
    assert_eq!(
        wide.linear_flops_per_token() - m.linear_flops_per_token(),
        301_989_888.0
    );
}

/// Published parameter counts: Qwen3-Next-80B-A3B 79,674,391,296 total and 3,874,929,408
/// active (the safetensors headers of the same architecture, Qwen3-Coder-Next; without MTP),
/// gpt-oss-120b 116.83 B (OpenAI's model card), Llama 4 Maverick 400 B and 17 B active (Meta's
/// model card). The small remainders are what the presets list as not counted (biases, the
/// shared expert's gate, q/k norms).
#[test]
fn new_presets_match_published_parameter_counts() {
    let q = preset("qwen3-next-80b-a3b");
    assert_close("qwen3-next total", q.params_total(), 79_674_391_296.0, 0.0002);
    assert_close("qwen3-next active", q.params_active(), 3_874_929_408.0, 0.0002);
    assert_close(
        "gpt-oss-120b total",
        preset("gpt-oss-120b").params_total(),
        116.83e9,
        0.001,
    );
    let mav = preset("llama-4-maverick-17b-128e");
    assert_eq!((mav.moe_layer_count(), mav.dense_layer_count()), (24, 24));
    assert_close("maverick total", mav.params_total(), 400e9, 0.01);
    assert_close("maverick active", mav.params_active(), 17e9, 0.02);
    assert_close("qwen3-32b total", preset("qwen3-32b").params_total(), 32.8e9, 0.01);
    assert_close("qwen3-8b total", preset("qwen3-8b").params_total(), 8.2e9, 0.01);
}

/// Local pairs: a window of 4 over positions 0..6 attends 1 + 2 + 3 + 4 + 4 + 4 = 18 pairs;
/// chunks of 4 attend 1 + 2 + 3 + 4 + 1 + 2 = 13. Both add up over split chunks.
#[test]
fn local_attention_pairs_have_closed_forms() {
    let mut m = preset("gpt-oss-20b");
    m.layer_pattern.as_mut().unwrap().window = Some(4);
    assert_eq!(m.local_pairs(6, 0), 18.0);
    assert_eq!(m.local_pairs(3, 0) + m.local_pairs(3, 3), 18.0);
    let mut c = preset("llama-4-scout-17b-16e");
    c.layer_pattern.as_mut().unwrap().chunk = Some(4);
    assert_eq!(c.local_pairs(6, 0), 13.0);
    assert_eq!(c.local_pairs(2, 0) + c.local_pairs(4, 2), 13.0);
    // gpt-oss-120b prefill of 1,000 tokens: per pair 2 · 64 · (64 + 64) = 16,384 FLOPs; 18 full
    // layers see 1000 · 1001 / 2 = 500,500 pairs, 18 sliding ones 128 · 129 / 2 + 872 · 128 =
    // 119,872.
    let g = preset("gpt-oss-120b");
    assert_eq!(g.local_pairs(1000, 0), 119_872.0);
    assert_eq!(g.attention_flops(1000, 0), 16_384.0 * 18.0 * (500_500.0 + 119_872.0));
}

const QWEN3_NEXT_CONFIG: &str = r#"{
    "model_type": "qwen3_next", "hidden_size": 2048, "num_hidden_layers": 48,
    "num_attention_heads": 16, "num_key_value_heads": 2, "head_dim": 256, "intermediate_size": 5120,
    "vocab_size": 151936, "max_position_embeddings": 262144, "full_attention_interval": 4,
    "linear_num_key_heads": 16, "linear_num_value_heads": 32, "linear_key_head_dim": 128,
    "linear_value_head_dim": 128, "linear_conv_kernel_dim": 4, "num_experts": 512,
    "num_experts_per_tok": 10, "moe_intermediate_size": 512, "shared_expert_intermediate_size": 512,
    "decoder_sparse_step": 1, "mlp_only_layers": [], "tie_word_embeddings": false
}"#;

fn gpt_oss_config(layers: usize, experts: u32) -> String {
    let types = vec![r#""sliding_attention", "full_attention""#; layers / 2].join(", ");
    format!(
        r#"{{"model_type": "gpt_oss", "hidden_size": 2880, "num_hidden_layers": {layers},
        "num_attention_heads": 64, "num_key_value_heads": 8, "head_dim": 64,
        "intermediate_size": 2880, "num_local_experts": {experts}, "num_experts_per_tok": 4,
        "vocab_size": 201088, "max_position_embeddings": 131072, "sliding_window": 128,
        "layer_types": [{types}], "tie_word_embeddings": false,
        "quantization_config": {{"quant_method": "mxfp4"}}}}"#
    )
}

fn llama4_config(experts: u32, step: u32, context: u32) -> String {
    format!(
        r#"{{"model_type": "llama4", "text_config": {{"model_type": "llama4_text",
        "hidden_size": 5120, "num_hidden_layers": 48, "num_attention_heads": 40,
        "num_key_value_heads": 8, "head_dim": 128, "intermediate_size": 8192,
        "intermediate_size_mlp": 16384, "num_local_experts": {experts}, "num_experts_per_tok": 1,
        "interleave_moe_layer_step": {step}, "vocab_size": 202048,
        "max_position_embeddings": {context}, "attention_chunk_size": 8192,
        "no_rope_layers": [], "tie_word_embeddings": false}}}}"#
    )
}

/// Hugging Face configs with the new keys read to the presets (`source` apart).
#[test]
fn new_hf_configs_parse_to_their_presets() {
    let dir = TempDir::new("hf-new");
    for (name, config) in [
        ("gpt-oss-120b", gpt_oss_config(36, 128)),
        ("gpt-oss-20b", gpt_oss_config(24, 32)),
        ("llama-4-scout-17b-16e", llama4_config(16, 1, 10_485_760)),
        ("llama-4-maverick-17b-128e", llama4_config(128, 2, 1_048_576)),
        ("qwen3-next-80b-a3b", QWEN3_NEXT_CONFIG.to_string()),
    ] {
        let path = dir.write(&format!("{name}/config.json"), &config);
        assert_eq!(from_hf_config(&path).unwrap(), unsourced(preset(name)), "{name}");
    }
    // A Mistral v0.1 window applies to every layer; it counts as growing (no full layer).
    let mistral = LLAMA_3_8B_CONFIG
        .replace("\"llama\"", "\"mistral\"")
        .replace("\"vocab_size\"", "\"sliding_window\": 4096, \"vocab_size\"");
    let m = from_hf_config(&dir.write("mistral/config.json", &mistral)).unwrap();
    assert_eq!(m.layer_summary(), "32 sliding(4096)");
    assert_eq!(m.kv_footprint(Dtype::Bf16, Dtype::Bf16).local_per_token, 0.0);
}

/// Bad layer patterns name the key and what is accepted.
#[test]
fn bad_layer_patterns_are_refused() {
    let base = preset("gpt-oss-20b");
    type Case = (fn(&mut ModelSpec), &'static str, &'static str);
    let cases: [Case; 5] = [
        (
            |m| m.layer_pattern.as_mut().unwrap().window = None,
            "layer_pattern.window",
            "1 to",
        ),
        (
            |m| m.layer_pattern.as_mut().unwrap().chunk = Some(8),
            "layer_pattern.chunk",
            "remove it",
        ),
        (
            |m| m.layer_pattern.as_mut().unwrap().pattern = vec![LayerKind::Linear],
            "layer_pattern.pattern",
            "at least one",
        ),
        (
            |m| m.layer_pattern.as_mut().unwrap().pattern.push(LayerKind::Chunked),
            "layer_pattern.pattern",
            "one kind of local layer",
        ),
        (
            |m| m.moe.as_mut().unwrap().experts = 120_000_000,
            "moe.experts",
            "1 to 4096",
        ),
    ];
    for (break_it, key, accepted) in cases {
        let mut m = base.clone();
        break_it(&mut m);
        let err = m.validate("x.toml").unwrap_err();
        let Error::Input(input) = &err else { panic!("{err}") };
        assert_eq!(input.location, key, "{err}");
        assert!(input.message.contains(accepted), "{err}");
    }
}

/// Gemma 3's text model: every 6th layer full (sliding_window_pattern 6), the others a window;
/// quantization_config is recorded as the published format (GPTQ/AWQ by bits, FP8, MXFP4).
#[test]
fn gemma_windows_and_published_formats_are_read() {
    let dir = TempDir::new("hf-gemma");
    let gemma = r#"{"model_type": "gemma3_text", "hidden_size": 2560, "num_hidden_layers": 34,
        "num_attention_heads": 8, "num_key_value_heads": 4, "head_dim": 256,
        "intermediate_size": 10240, "vocab_size": 262208, "max_position_embeddings": 131072,
        "sliding_window": 1024, "sliding_window_pattern": 6, "tie_word_embeddings": true}"#;
    let m = from_hf_config(&dir.write("gemma/config.json", gemma)).unwrap();
    // 34 layers: 5 whole periods of [5 sliding, 1 full] and 4 sliding ones.
    assert_eq!(m.layer_summary(), "29 sliding(1024) + 5 full");
    let f = m.kv_footprint(Dtype::Bf16, Dtype::Bf16);
    assert_eq!(
        f.bytes_for(10_000),
        (29.0 * 1024.0 + 5.0 * 10_000.0) * 2.0 * 4.0 * 256.0 * 2.0
    );
    for (q, published) in [
        (r#"{"quant_method": "fp8"}"#, "fp8"),
        (r#"{"quant_method": "mxfp4"}"#, "mxfp4"),
        (r#"{"quant_method": "gptq", "bits": 4}"#, "int4"),
        (r#"{"quant_method": "awq", "bits": 8}"#, "int8"),
        (r#"{"quant_method": "modelopt", "quant_algo": "NVFP4"}"#, "nvfp4"),
    ] {
        let text = LLAMA_3_8B_CONFIG.replacen('{', &format!("{{\"quantization_config\": {q}, "), 1);
        let m = from_hf_config(&dir.write("q/config.json", &text)).unwrap();
        assert_eq!(m.published_weights.as_deref(), Some(published), "{q}");
    }
}
