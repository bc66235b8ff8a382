//! The disaggregated encode pool (`workload.multimodal.encoder = "pool"`), against hand
//! calculations: a lone image request's TTFT is the same prompt's as text plus the encoder's
//! roofline time on the pool's chip plus its embeddings' bytes over EFA plus the latency; with
//! one encoder, of two simultaneous image requests the second waits exactly one encode; the
//! pool's instances are in the cost and the energy.

use super::{encoder_ns, err, run_rows as run};
use codesim::metrics::attribution::Part;

/// One qwen2.5-vl-7b replica on a p5.48xlarge (TP 1), `requests` offline requests of `input`
/// text tokens and 4 output tokens. The pool's p5.4xlarge has the LLM replica's chip (an H100,
/// bf16, the same engine), so the encoder's roofline rates there are the replica's
/// (`super::encoder_ns`).
fn lone(requests: u32, input: u32, extra: &str) -> String {
    super::lone("qwen2.5-vl-7b", requests, input, extra)
}

/// One 448 × 448 image per request, encoded on `replicas` p5.4xlarge encoders (one H100 each).
fn pool(replicas: u32) -> String {
    format!(
        "[workload.multimodal]\nimage_px = [448, 448]\nencoder = \"pool\"\n[workload.multimodal.pool]\ninstance = \"p5.4xlarge\"\nreplicas = {replicas}\n"
    )
}

/// The embeddings of one image: 256 tokens × 3584 (the LLM's hidden) × 2 bytes = 1,835,008 B
/// over the slower NIC, the p5.4xlarge's 100 Gbit/s = 12.5 B/ns: 146,800.64 ns, + the latency:
/// 15 µs of EFA + Nitro's 2 µs per message (infrastructure defaults) = 163,800.64 → 163,801 ns.
const TRANSFER_NS: u64 = 163_801;

#[test]
fn a_lone_image_request_waits_the_encode_and_the_transfer_more_than_its_text() {
    let (r, rows, perf) = run(&lone(1, 100, &pool(1)));
    // The same 356-token prompt as text, on the same replica (which holds no encoder weights).
    let (r0, rows0, _) = run(&lone(1, 356, ""));
    let enc = encoder_ns(&perf).round() as u64;
    let m = r.multimodal.unwrap();
    let p = m.encode_pool.unwrap();
    assert_eq!(
        (p.requests, p.images, m.image_tokens, m.kv_blocks_for_encoder),
        (1, 1, 256, 0)
    );
    assert_eq!(p.mean_wait_ms, 0.0);
    assert!(
        (p.mean_encode_ms * 1e6 - enc as f64).abs() < 1e-6,
        "{} vs {enc}",
        p.mean_encode_ms * 1e6
    );
    assert!((p.mean_transfer_ms * 1e6 - TRANSFER_NS as f64).abs() < 1e-6);
    assert_eq!(rows[0].ttft_ns, rows0[0].ttft_ns + enc + TRANSFER_NS);
    assert_eq!(rows[0].ttft_parts.get(Part::Encode), enc + TRANSFER_NS);
    assert_eq!(rows0[0].ttft_parts.get(Part::Encode), 0);
    // The LLM replica ran the same steps: no encoder in them, and its whole KV cache.
    assert_eq!(r.sim.steps, r0.sim.steps);
    assert!(r0.multimodal.is_none());
}

#[test]
fn with_one_encoder_the_second_of_two_simultaneous_image_requests_waits_one_encode() {
    let (r, rows, perf) = run(&lone(2, 100, &pool(1)));
    let enc = encoder_ns(&perf).round() as u64;
    let parts: Vec<u64> = rows.iter().map(|row| row.ttft_parts.get(Part::Encode)).collect();
    assert_eq!(parts, vec![enc + TRANSFER_NS, 2 * enc + TRANSFER_NS]);
    let p = r.multimodal.unwrap().encode_pool.unwrap();
    // Mean wait: (0 + one encode) / 2.
    assert!((p.mean_wait_ms * 1e6 - enc as f64 / 2.0).abs() < 1e-6);
    // Two encoders: neither waits.
    let (_, rows2, _) = run(&lone(2, 100, &pool(2)));
    let parts2: Vec<u64> = rows2.iter().map(|row| row.ttft_parts.get(Part::Encode)).collect();
    assert_eq!(parts2, vec![enc + TRANSFER_NS; 2]);
}

#[test]
fn the_pools_instances_are_in_the_cost_and_the_energy() {
    let (r, _, _) = run(&lone(4, 100, &pool(1)));
    let span_s = r.sim.sim_time_s;
    // One p5.48xlarge ($55.04/h) and one p5.4xlarge ($6.88/h): $61.92/h over the run.
    assert_eq!(r.cost.instances, 2);
    assert!((r.cost.usd_per_hour - 61.92).abs() < 1e-9, "{}", r.cost.usd_per_hour);
    assert!((r.cost.usd_total - 61.92 * span_s / 3600.0).abs() < 1e-12);
    assert!((r.pricing.on_demand.usd_per_hour - 61.92).abs() < 1e-9);
    // Idle power: 8 + 1 H100s at 70 W each over the run.
    assert!(
        (r.energy.chip_idle_j - 9.0 * 70.0 * span_s).abs() < 1e-6,
        "{}",
        r.energy.chip_idle_j
    );
    // Inline, the same requests pay for the p5.48xlarge alone.
    let (r0, _, _) = run(&lone(4, 100, "[workload.multimodal]\nimage_px = [448, 448]\n"));
    assert_eq!(r0.cost.instances, 1);
    assert!((r0.cost.usd_per_hour - 55.04).abs() < 1e-9);
    assert!((r0.energy.chip_idle_j - 8.0 * 70.0 * r0.sim.sim_time_s).abs() < 1e-6);
}

#[test]
fn bad_encode_pools_name_the_key_and_what_is_accepted() {
    let mm = "[workload.multimodal]\nimage_px = [448, 448]\n";
    let e = err(&lone(
        1,
        100,
        &format!("{mm}[workload.multimodal.pool]\nreplicas = 2\n"),
    ));
    assert!(e.contains("workload.multimodal.pool") && e.contains("inline"), "{e}");
    let e = err(&lone(1, 100, &pool(1).replace("replicas = 1", "tp = 2")));
    assert!(e.contains("workload.multimodal.pool.tp") && e.contains("1 to 1"), "{e}");
    let e = err(&lone(1, 100, &pool(0)));
    assert!(
        e.contains("workload.multimodal.pool.replicas") && e.contains("is 0"),
        "{e}"
    );
    let e = err(&lone(1, 100, &pool(1).replace("p5.4xlarge", "p9.bogus")));
    assert!(e.contains("workload.multimodal.pool.instance"), "{e}");
    let e = err(&lone(1, 100, &format!("{mm}encoder = \"remote\"\n")));
    assert!(e.contains("encoder") && e.contains("pool"), "{e}");
    let e = err(&lone(1, 100, &format!("{}chips = 1\n", pool(1))));
    assert!(e.contains("chips"), "{e}");
    let e = err(&lone(1, 100, &format!("{}[gateway]\nmax_queue = 10\n", pool(1))));
    assert!(
        e.contains("workload.multimodal.encoder") && e.contains("gateway"),
        "{e}"
    );
    let e = err(&lone(
        1,
        100,
        &format!("{}[infrastructure]\npricing = \"own\"\n", pool(1)),
    ));
    assert!(e.contains("workload.multimodal.encoder") && e.contains("own"), "{e}");
}
