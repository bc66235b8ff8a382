//! Multimodal requests (`workload.multimodal`), against hand calculations: an image's patches
//! and prompt tokens, the vision encoder's parameters, and a lone image request's TTFT, longer
//! than the same prompt's as text by exactly the encoder's roofline time.

use codesim::sim::{RunOptions, Simulation};
use std::path::Path;

// The disaggregated encode pool, the encoder cache and audio clips share this file's helpers.
#[path = "multimodal/audio.rs"]
mod audio;
#[path = "multimodal/encode_pool.rs"]
mod encode_pool;
#[path = "multimodal/encoder_cache.rs"]
mod encoder_cache;

fn scenario(text: &str) -> codesim::Scenario {
    codesim::scenario::load_str(text, Path::new("test.toml")).unwrap_or_else(|e| panic!("{e}"))
}

fn err(text: &str) -> String {
    match codesim::scenario::load_str(text, Path::new("test.toml")) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e.to_string(),
    }
}

/// One `model` replica on a p5.48xlarge (TP 1), `requests` offline requests of `input` text
/// tokens and 4 output tokens.
fn lone(model: &str, requests: u32, input: u32, extra: &str) -> String {
    format!(
        "[hardware]\ninstance = \"p5.48xlarge\"\n[model]\nname = \"{model}\"\n[deployment]\ntp = 1\n[workload]\nrequests = {requests}\narrival = {{ kind = \"offline\" }}\ninput = {{ kind = \"fixed\", tokens = {input} }}\noutput = {{ kind = \"fixed\", tokens = 4 }}\n{extra}"
    )
}

/// A run under the audit: its result, its request rows in id order, and its cost model.
fn run_rows(
    text: &str,
) -> (
    codesim::RunResult,
    Vec<codesim::metrics::RequestRow>,
    codesim::perf::PerfModel,
) {
    let sc = scenario(text);
    let opts = RunOptions {
        keep_requests: true,
        audit: true,
        ..RunOptions::default()
    };
    let sim = Simulation::new(&sc, opts).unwrap();
    let perf = sim.perf().clone();
    let (r, mut rows) = sim.run().unwrap();
    assert!(r.audit.is_empty(), "{:?}", r.audit);
    rows.sort_by_key(|row| row.id);
    (r, rows, perf)
}

/// The model a Hugging Face `config.json` of these contents describes (written to a temporary
/// directory of its own, `tag` naming it, and removed).
fn from_hf_config(tag: &str, json: &str) -> codesim::model::ModelSpec {
    let dir = std::env::temp_dir().join(format!("codesim-mm-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("config.json");
    std::fs::write(&path, json).unwrap();
    let m = codesim::model::from_hf_config(&path).unwrap();
    std::fs::remove_dir_all(&dir).ok();
    m
}

/// [`run_rows`] with the first request's TTFT, ns.
fn run(text: &str) -> (f64, codesim::RunResult, codesim::perf::PerfModel) {
    let (r, rows, perf) = run_rows(text);
    (rows[0].ttft_ms * 1e6, r, perf)
}

/// Qwen2.5-VL-7B's vision encoder (its config.json's vision_config), parameters by hand:
/// patch embedding 3 · 2 · 14 · 14 · 1280 = 1,505,280; a layer 4 · 1280² + 3 · 1280 · 3420 =
/// 6,553,600 + 13,132,800 = 19,686,400 (× 32 = 629,964,800); the merger (d = 1280 · 2² = 5120)
/// 5120² + 5120 · 3584 = 26,214,400 + 18,350,080 = 44,564,480. Total 676,034,560.
const EMBED: f64 = 1_505_280.0;
const LAYER: f64 = 19_686_400.0;
const MERGER: f64 = 44_564_480.0;
const PARAMS: f64 = 676_034_560.0;

#[test]
fn an_image_becomes_patches_and_prompt_tokens() {
    let m = scenario(&lone("qwen2.5-vl-7b", 1, 100, "")).model;
    let v = m.vision.expect("the preset has a [vision] table");
    // 448 px = 32 patches of 14 px a side: 32 · 32 = 1024 patches, / 2² = 256 tokens.
    assert_eq!((v.patches(448, 448), v.tokens(448, 448)), (1024, 256));
    // 1024 × 768 resizes to the nearest multiples of 28: 1024 / 28 = 36.57 → 37 · 28 = 1036,
    // 768 / 28 = 27.43 → 27 · 28 = 756; 74 · 54 = 3996 patches, 999 tokens.
    assert_eq!((v.resized_px(1024), v.resized_px(768)), (1036, 756));
    assert_eq!((v.patches(1024, 768), v.tokens(1024, 768)), (3996, 999));
    // Smaller than 28 px: one merged token (2 × 2 patches).
    assert_eq!((v.patches(10, 10), v.tokens(10, 10)), (4, 1));
    assert_eq!(EMBED + 32.0 * LAYER + MERGER, PARAMS);
    assert_eq!(v.params(m.hidden), PARAMS);
}

/// Encoding one 448 × 448 image (N = 1024 patches, 256 tokens) on one H100, by hand:
/// FLOPs 2 · N · (embed + 32 layers) + 2 · 256 · merger + 4 · 1280 · pairs, the pairs of 4
/// full-attention layers N² and of 28 windowed layers N · 64; bytes: the weights once (bf16)
/// plus N · 32 · (8 · 1280 + 3 · 3420) bf16 activations. Time max(FLOPs / (peak · ε_c(N)),
/// bytes / (HBM · ε_m)).
fn encoder_ns(perf: &codesim::perf::PerfModel) -> f64 {
    let n = 1024.0;
    let pairs = 4.0 * n * n + 28.0 * n * 64.0; // 4,194,304 + 1,835,008
    let flops = 2.0 * n * (EMBED + 32.0 * LAYER) + 2.0 * 256.0 * MERGER + 4.0 * 1280.0 * pairs;
    let bytes = PARAMS * 2.0 + n * 32.0 * (8.0 * 1280.0 + 3.0 * 3420.0) * 2.0;
    let (peak, bw, eff_c, eff_m) = perf.roofline_rates(n);
    (flops / (peak * 1e-9 * eff_c)).max(bytes / (bw * 1e-9 * eff_m))
}

#[test]
fn a_lone_image_request_waits_exactly_the_encoder_roofline_time_more() {
    // The same 356-token prompt, as 100 text tokens + one 448 × 448 image (256 tokens), or as text.
    let image = "[workload.multimodal]\nimage_px = [448, 448]\n";
    let (ttft, r, perf) = run(&lone("qwen2.5-vl-7b", 1, 100, image));
    let (ttft0, r0, _) = run(&lone("qwen2.5-vl-7b", 1, 356, ""));
    assert!(r0.multimodal.is_none());
    let m = r.multimodal.unwrap();
    assert_eq!((m.images_encoded, m.patches_encoded, m.image_tokens), (1, 1024, 256));
    assert_eq!((m.tokens_per_image, m.encoder_steps), (256, 1));
    let enc = encoder_ns(&perf);
    assert!((m.encoder_s * 1e9 - enc).abs() < 1e-3, "{} vs {enc}", m.encoder_s * 1e9);
    // Each step's time is rounded to a ns once.
    assert!((ttft - ttft0 - enc).abs() <= 1.0, "TTFT +{} vs +{enc}", ttft - ttft0);
    // Compute-bound: 1.1 TFLOP against 1.4 GB.
    let (peak, _, _, _) = perf.roofline_rates(1024.0);
    assert!(enc > 1.0e12 / (peak * 1e-9));
    // The encoder's 1.35 GB of weights leave the KV cache (16-token blocks of 28 layers · 4 KV
    // heads · 128 · 2 (K, V) · 2 bytes = 57,344 bytes per token: 917,504 bytes per block).
    let blocks = (PARAMS * 2.0 / 917_504.0).ceil() as u64;
    assert_eq!(m.kv_blocks_for_encoder, blocks);
}

#[test]
fn only_the_share_of_requests_carries_images_and_each_is_encoded_once() {
    let mm = "[workload.multimodal]\nimage_px = [448, 448]\nimages_per_request = 2\nshare = 0.5\n";
    let (_, r, _) = run(&lone("qwen2.5-vl-7b", 200, 64, mm));
    let m = r.multimodal.unwrap();
    // Two images per carrying request, no preemption: every image encoded exactly once.
    assert_eq!(r.preemption.recompute_tokens, 0);
    assert_eq!(m.images_encoded % 2, 0);
    let carrying = m.images_encoded / 2;
    assert!(
        (70..=130).contains(&carrying),
        "{carrying} of 200 requests at share 0.5"
    );
    assert_eq!(m.image_tokens, m.images_encoded * 256);
    // Same seed, same draw.
    let (_, again, _) = run(&lone("qwen2.5-vl-7b", 200, 64, mm));
    assert_eq!(again.multimodal.unwrap().images_encoded, m.images_encoded);
}

#[test]
fn a_hf_config_with_a_vision_config_reads_the_encoder() {
    // Qwen/Qwen2.5-VL-7B-Instruct's config.json, the fields that shape the cost.
    let hf = from_hf_config(
        "vl",
        r#"{"model_type": "qwen2_5_vl", "hidden_size": 3584, "intermediate_size": 18944,
        "num_attention_heads": 28, "num_hidden_layers": 28, "num_key_value_heads": 4,
        "vocab_size": 152064, "max_position_embeddings": 128000, "tie_word_embeddings": false,
        "vision_config": {"depth": 32, "hidden_act": "silu", "hidden_size": 1280,
        "intermediate_size": 3420, "num_heads": 16, "in_chans": 3, "out_hidden_size": 3584,
        "patch_size": 14, "spatial_merge_size": 2, "spatial_patch_size": 14, "window_size": 112,
        "fullatt_block_indexes": [7, 15, 23, 31], "tokens_per_second": 2,
        "temporal_patch_size": 2}}"#,
    );
    let preset = scenario(&lone("qwen2.5-vl-7b", 1, 100, "")).model;
    assert_eq!(hf.vision, preset.vision);
}

#[test]
fn bad_multimodal_sections_name_the_key_and_what_is_accepted() {
    let e = err(&lone(
        "llama-3.1-8b",
        1,
        100,
        "[workload.multimodal]\nimage_px = [448, 448]\n",
    ));
    assert!(
        e.contains("workload.multimodal") && e.contains("no vision encoder"),
        "{e}"
    );
    let e = err(&lone(
        "qwen2.5-vl-7b",
        1,
        100,
        "[workload.multimodal]\nimage_px = [0, 448]\n",
    ));
    assert!(
        e.contains("workload.multimodal.image_px[0]") && e.contains("accepted"),
        "{e}"
    );
    let e = err(&lone(
        "qwen2.5-vl-7b",
        1,
        100,
        "[workload.multimodal]\nimage_px = [448, 448]\nshare = 1.5\n",
    ));
    assert!(e.contains("workload.multimodal.share") && e.contains("1.5"), "{e}");
    let e = err(&lone(
        "qwen2.5-vl-7b",
        1,
        100,
        "[workload.multimodal]\nimage_px = [448, 448]\nimages_per_request = 0\n",
    ));
    assert!(e.contains("workload.multimodal.images_per_request"), "{e}");
    let e = err(&lone(
        "qwen2.5-vl-7b",
        1,
        100,
        "[workload.multimodal]\nimage_px = [448, 448]\nimages = 2\n",
    ));
    assert!(e.contains("images"), "{e}");
    // Sessions: a later turn's history would have to carry the earlier turns' images.
    let e = err(&lone(
        "qwen2.5-vl-7b",
        1,
        100,
        "[workload.multimodal]\nimage_px = [448, 448]\n[workload.sessions]\nturns = { kind = \"fixed\", n = 2 }\nthink = { kind = \"fixed\", ms = 1.0 }\n",
    )
    .replace("kind = \"offline\"", "kind = \"poisson\", rate_per_s = 1.0"));
    assert!(
        e.contains("workload.multimodal") && e.contains("workload.sessions"),
        "{e}"
    );
}

#[test]
fn the_default_max_tokens_leaves_room_for_the_image_tokens() {
    // A trace row without max_tokens: the engine's default is max_model_len − prompt. At a
    // 2048-token context, 1000 text + 256 image tokens leave 792; counting the text alone
    // (1048) would make prompt + max_tokens = 2304 > 2048 and the request would be refused.
    let dir = std::env::temp_dir().join(format!("codesim-mm-trace-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let trace = dir.join("t.csv");
    std::fs::write(
        &trace,
        "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:47.0,1000,10\n",
    )
    .unwrap();
    let text = format!(
        "[hardware]\ninstance = \"p5.48xlarge\"\n[model]\nname = \"qwen2.5-vl-7b\"\nmax_context = 2048\n[workload]\narrival = {{ kind = \"trace\", path = \"{}\" }}\n[workload.multimodal]\nimage_px = [448, 448]\n",
        trace.display()
    );
    let (_, r, _) = run(&text);
    assert_eq!((r.requests.completed, r.requests.dropped), (1, 0));
    assert_eq!(r.multimodal.unwrap().image_tokens, 256);
    std::fs::remove_dir_all(&dir).ok();
}
