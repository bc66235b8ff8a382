//! Audio clips (`workload.multimodal.audio_s`) through a Whisper-style encoder (Qwen2-Audio),
//! against hand calculations: a clip's prompt tokens by Qwen2-Audio's formula, the encoder's
//! parameters and FLOPs, and a lone clip's TTFT, longer than the same prompt's as text by
//! exactly the encoder's roofline time (inline) or that plus its embeddings' transfer (pool).

use super::{err, run_rows as run, scenario};
use codesim::metrics::attribution::Part;

/// One qwen2-audio-7b replica on a p5.48xlarge (TP 1), `requests` offline requests of `input`
/// text tokens and 4 output tokens.
fn lone(requests: u32, input: u32, extra: &str) -> String {
    super::lone("qwen2-audio-7b", requests, input, extra)
}

/// Qwen2-Audio's encoder (Whisper-large-v3's, its config.json's audio_config), by hand: conv1
/// 3 · 128 · 1280 = 491,520; conv2 3 · 1280² = 4,915,200; a layer 4 · 1280² + 2 · 1280 · 5120
/// = 6,553,600 + 13,107,200 = 19,660,800 (× 32 = 629,145,600); the projector 1280 · 4096 =
/// 5,242,880. Total 639,795,200.
const PARAMS: f64 = 639_795_200.0;

#[test]
fn a_clip_becomes_frames_and_tokens_by_qwen2_audios_formula() {
    let m = scenario(&lone(1, 100, "")).model;
    let a = m.audio.expect("the preset has an [audio] table");
    // 30 s: 3000 mel frames at 100/s; conv2 (stride 2): (3000 − 1) div 2 + 1 = 1500 frames
    // (50/s); the ×2 pool: (1500 − 2) div 2 + 1 = 750 tokens (25/s).
    assert_eq!((a.frames(30.0), a.tokens(30.0)), (1500, 750));
    // 10 s: 1000 → 500 → 250. 0.5 s: 50 → 25 → (25 − 2) div 2 + 1 = 12.
    assert_eq!((a.frames(10.0), a.tokens(10.0)), (500, 250));
    assert_eq!((a.frames(0.5), a.tokens(0.5)), (25, 12));
    assert_eq!(a.window_s(), 30.0);
    assert_eq!(a.params(m.hidden), PARAMS);
}

/// One clip's window (n = 1500 frames, 3000 mel frames, 750 tokens) on one H100, by hand:
/// FLOPs 2 · 3000 · conv1 + 2 · 1500 · (conv2 + 32 layers) + 2 · 750 · projector + 4 · 1280 ·
/// 32 · 1500² = 2,949,120,000 + 1,902,182,400,000 + 7,864,320,000 + 368,640,000,000 =
/// 2,281,635,840,000; bytes the bf16 weights 1,279,590,400 + 1500 · 32 · (8 · 1280 + 2 · 5120)
/// · 2 = 1,966,080,000 activations. Time max(FLOPs / (peak · ε_c(1500)), bytes / (HBM · ε_m)).
fn encoder_ns(perf: &codesim::perf::PerfModel) -> f64 {
    let flops = 2_281_635_840_000.0;
    let bytes = PARAMS * 2.0 + 1_966_080_000.0;
    let (peak, bw, eff_c, eff_m) = perf.roofline_rates(1500.0);
    (flops / (peak * 1e-9 * eff_c)).max(bytes / (bw * 1e-9 * eff_m))
}

#[test]
fn a_lone_clip_waits_exactly_the_encoder_roofline_time_more_than_its_text() {
    // A 10 s clip (250 tokens) + 100 text tokens, or 350 text tokens.
    let (r, rows, perf) = run(&lone(1, 100, "[workload.multimodal]\naudio_s = 10.0\n"));
    let (_, rows0, _) = run(&lone(1, 350, ""));
    let m = r.multimodal.unwrap();
    assert_eq!(
        (m.images_encoded, m.image_tokens, m.audio_s),
        (1, 250, Some([10.0, 10.0]))
    );
    let enc = encoder_ns(&perf);
    assert!((m.encoder_s * 1e9 - enc).abs() < 1e-3, "{} vs {enc}", m.encoder_s * 1e9);
    // Each step's time is rounded to a ns once.
    assert!(
        (rows[0].ttft_ns as f64 - rows0[0].ttft_ns as f64 - enc).abs() <= 1.0,
        "TTFT +{} vs +{enc}",
        rows[0].ttft_ns as f64 - rows0[0].ttft_ns as f64
    );
}

#[test]
fn on_the_encode_pool_a_clip_adds_its_encode_and_its_embeddings_transfer() {
    let pool = "[workload.multimodal]\naudio_s = 10.0\nencoder = \"pool\"\n[workload.multimodal.pool]\ninstance = \"p5.4xlarge\"\n";
    let (r, rows, perf) = run(&lone(1, 100, pool));
    let (_, rows0, _) = run(&lone(1, 350, ""));
    let enc = encoder_ns(&perf).round() as u64;
    // 250 tokens × 4096 × 2 B = 2,048,000 B over 12.5 B/ns (100 Gbit/s) = 163,840 ns, + 15 µs
    // EFA + 2 µs Nitro latency = 180,840 ns.
    let transfer = 180_840;
    assert_eq!(rows[0].ttft_parts.get(Part::Encode), enc + transfer);
    assert_eq!(rows[0].ttft_ns, rows0[0].ttft_ns + enc + transfer);
    let p = r.multimodal.unwrap().encode_pool.unwrap();
    assert_eq!(p.embedding_bytes, 2_048_000.0);
}

#[test]
fn clips_of_drawn_lengths_add_their_own_tokens() {
    let mm = "[workload.multimodal]\naudio_s = { min = 2.0, max = 30.0 }\nshare = 0.5\n";
    let (r, _, _) = run(&lone(100, 64, mm));
    let m = r.multimodal.unwrap();
    // Every clip costs one window; its tokens are 25 per second, 50 to 750.
    assert!(m.images_encoded > 25 && m.images_encoded < 75, "{}", m.images_encoded);
    assert!(m.image_tokens >= 50 * m.images_encoded && m.image_tokens <= 750 * m.images_encoded);
    let (again, _, _) = run(&lone(100, 64, mm));
    assert_eq!(again.multimodal.unwrap().image_tokens, m.image_tokens);
}

#[test]
fn a_hf_config_with_an_audio_config_reads_the_encoder() {
    // Qwen2-Audio-7B-Instruct's audio_config, on a qwen2 text model of its sizes.
    let hf = super::from_hf_config(
        "audio",
        r#"{"model_type": "qwen2", "hidden_size": 4096, "intermediate_size": 11008,
        "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 32,
        "vocab_size": 156032, "max_position_embeddings": 8192,
        "audio_config": {"model_type": "qwen2_audio_encoder", "num_mel_bins": 128,
        "encoder_layers": 32, "encoder_attention_heads": 20, "encoder_ffn_dim": 5120,
        "d_model": 1280, "max_source_positions": 1500, "activation_function": "gelu"}}"#,
    );
    let preset = scenario(&lone(1, 100, "")).model;
    let (a, b) = (hf.audio.unwrap(), preset.audio.unwrap());
    assert_eq!(a.params(hf.hidden), b.params(preset.hidden));
    assert_eq!((a.tokens(30.0), a.pool), (750, 2));
}

#[test]
fn bad_audio_sections_name_the_key_and_what_is_accepted() {
    let e = err(&lone(1, 100, "[workload.multimodal]\naudio_s = 40.0\n"));
    assert!(
        e.contains("workload.multimodal.audio_s") && e.contains("(0, 30]"),
        "{e}"
    );
    let e = err(&lone(
        1,
        100,
        "[workload.multimodal]\naudio_s = { min = 5.0, max = 2.0 }\n",
    ));
    assert!(e.contains("workload.multimodal.audio_s") && e.contains("min"), "{e}");
    let e = err(&lone(
        1,
        100,
        "[workload.multimodal]\naudio_s = 5.0\nimage_px = [448, 448]\n",
    ));
    assert!(e.contains("exactly one"), "{e}");
    let e = err(&lone(1, 100, "[workload.multimodal]\nshare = 0.5\n"));
    assert!(e.contains("exactly one"), "{e}");
    let e = err(&lone(1, 100, "[workload.multimodal]\nimage_px = [448, 448]\n"));
    assert!(e.contains("image_px") && e.contains("no vision encoder"), "{e}");
    let e = err(&lone(1, 100, "[workload.multimodal]\naudio_s = 5.0\n").replace("qwen2-audio-7b", "qwen2.5-vl-7b"));
    assert!(e.contains("audio_s") && e.contains("no audio encoder"), "{e}");
}
