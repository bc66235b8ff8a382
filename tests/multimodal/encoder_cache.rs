//! The encoder cache (`workload.multimodal.repeat_share`): a request whose image was encoded
//! before and is still cached skips the encoder, and exactly the encoder's time.

use super::{encoder_ns, err, run_rows as run};

/// One qwen2.5-vl-7b replica on a p5.48xlarge (TP 1), `requests` requests 10 s apart (each
/// done long before the next) of `input` text tokens and 4 output tokens.
fn apart(requests: u32, input: u32, extra: &str) -> String {
    format!(
        "[hardware]\ninstance = \"p5.48xlarge\"\n[model]\nname = \"qwen2.5-vl-7b\"\n[deployment]\ntp = 1\n[workload]\nrequests = {requests}\narrival = {{ kind = \"constant\", rate_per_s = 0.1 }}\ninput = {{ kind = \"fixed\", tokens = {input} }}\noutput = {{ kind = \"fixed\", tokens = 4 }}\n{extra}"
    )
}

#[test]
fn a_repeated_image_still_cached_skips_exactly_the_encoder_time() {
    // Every request repeats the one popular image: the first encodes it, the second hits.
    let mm = "[workload.multimodal]\nimage_px = [448, 448]\nrepeat_share = 1.0\nrepeat_items = 1\n";
    let (r, rows, perf) = run(&apart(2, 100, mm));
    let (_, text, _) = run(&apart(2, 356, ""));
    let m = r.multimodal.unwrap();
    assert_eq!((m.images_encoded, m.encoder_cache_hits), (1, Some(1)));
    let enc = encoder_ns(&perf);
    assert!((rows[0].ttft_ns as f64 - text[0].ttft_ns as f64 - enc).abs() <= 1.0);
    // The hit: the same prompt's TTFT as text, to the nanosecond.
    assert_eq!(rows[1].ttft_ns, text[1].ttft_ns);
    // A cache smaller than one image (256 tokens) keeps nothing: both encode.
    let (small, rows_small, _) = run(&apart(2, 100, &format!("{mm}encoder_cache_tokens = 100\n")));
    let m = small.multimodal.unwrap();
    assert_eq!((m.images_encoded, m.encoder_cache_hits), (2, Some(0)));
    assert!((rows_small[1].ttft_ns as f64 - text[1].ttft_ns as f64 - enc).abs() <= 1.0);
}

#[test]
fn bad_repeats_name_the_key_and_what_is_accepted() {
    let mm = "[workload.multimodal]\nimage_px = [448, 448]\n";
    let e = err(&apart(1, 100, &format!("{mm}repeat_items = 5\n")));
    assert!(
        e.contains("workload.multimodal.repeat_items") && e.contains("repeat_share"),
        "{e}"
    );
    let e = err(&apart(1, 100, &format!("{mm}repeat_share = 0.0\n")));
    assert!(
        e.contains("workload.multimodal.repeat_share") && e.contains("(0, 1]"),
        "{e}"
    );
    let e = err(&apart(
        1,
        100,
        &format!("{mm}repeat_share = 0.5\nencoder_cache_tokens = 0\n"),
    ));
    assert!(e.contains("workload.multimodal.encoder_cache_tokens"), "{e}");
    let e = err(&apart(1, 100, &format!("{mm}repeat_share = 0.5\nencoder = \"pool\"\n")));
    assert!(
        e.contains("workload.multimodal.repeat_share") && e.contains("pool"),
        "{e}"
    );
}
