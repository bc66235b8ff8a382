use super::*;
use crate::dtype::Dtype;
use crate::hw::{Catalog, Hardware};
use crate::perf::tests::{bf16, model};
use crate::perf::{BatchShape, Parallelism, PerfModel};

/// An H100 of a p5.48xlarge with every number the hand calculations use written out, so a refit
/// of the catalogue does not move them.
fn h100() -> Hardware {
    let mut hw = Catalog::builtin().unwrap().hardware("p5.48xlarge").unwrap();
    hw.chip.hbm_bandwidth_gb_s = 3350.0;
    hw.chip.peak_tflops.bf16 = Some(989.4);
    let e = &mut hw.chip.efficiency;
    e.compute = 0.5232;
    e.compute_half_tokens = 56.7648;
    e.memory = 0.8631;
    e.kv_memory = None;
    e.step_overhead_us = 184.5577;
    e.layer_overhead_us = 5.0;
    e.graphs = GraphMode::Decode;
    e.graph_max_batch = 128;
    e.graph_launch_us = 5.0;
    e.eager_launch_us = 5.0;
    e.kernels_per_layer = 12.0;
    e.sampling_us = 10.0;
    e.host_sync_us = 20.0;
    hw.instance.host_link_gb_s = 31.5;
    hw
}

fn perf_on(hw: &Hardware, m: &str, tp: u32) -> PerfModel {
    PerfModel::new(hw, &model(m), Parallelism { tp }, bf16(), 0.1, "test").unwrap()
}

fn decode(rows: u32, ctx: u64) -> BatchShape {
    let mut b = BatchShape::default();
    for _ in 0..rows {
        b.add_decode(ctx);
    }
    b
}

/// Batch-1 decode of Llama-3-8B (bf16) on one H100, its token attending to 128 tokens, by hand:
/// - weights: 8,030,261,248 parameters × 2 B = 16.06 GB over 3350 GB/s × 0.8631 = 5554.61 µs
///   (the GEMMs' 15.06 GFLOP at 989.4 TFLOP/s × 0.5232 × 1/57.76 take 1674.9 µs: hidden);
/// - attention: 128 pairs × 32 layers × 2 · 32 heads · 256 = 67.1 MFLOP at the same 8.96 TFLOP/s
///   a one-row step reaches = 7.49 µs, more than its KV read (128 × 131,072 B = 5.80 µs);
/// - logits: 128,256 × 8 B (fp32 written and read) = 0.35 µs;
/// - fixed: 184.5577 + 32 layers × 5 + graph launch 5 + sampling 10 + host sync 20
///   + (20 B in + 8 B out) / 31.5 GB/s = 379.56 µs.
///
/// Total 5942.01 µs. Before the named fixed parts, the fitted step overhead (219.56 µs) carried
/// them: the total is the same, the launch, sampling and copies now their own terms.
#[test]
fn llama3_8b_batch1_decode_on_one_h100_by_hand() {
    let p = perf_on(&h100(), "llama-3-8b", 1);
    let c = p.decode_step(1, 128);
    let (want_memory_us, want_compute_us, want_overhead_us) = (5554.6122 + 0.3549, 7.4886, 379.5586);
    assert!(
        (c.memory_ns / 1e3 - want_memory_us).abs() < 0.001,
        "memory {} µs",
        c.memory_ns / 1e3
    );
    assert!(
        (c.compute_ns / 1e3 - want_compute_us).abs() < 0.001,
        "compute {} µs",
        c.compute_ns / 1e3
    );
    assert!(
        (c.overhead_ns / 1e3 - want_overhead_us).abs() < 0.001,
        "overhead {} µs",
        c.overhead_ns / 1e3
    );
    assert!(
        (c.total_ns as f64 / 1e3 - 5942.014).abs() < 0.002,
        "total {} µs",
        c.total_ns as f64 / 1e3
    );
}

/// Captured decode batches are padded to 1, 2, 4, then multiples of 8: a batch of 5 computes
/// the GEMMs (and LM head) of 8 rows; beyond `graph_max_batch` the batch runs eagerly, unpadded.
#[test]
fn captured_decode_batches_pad_to_the_next_captured_size() {
    let sizes: Vec<u32> = [0, 1, 2, 3, 4, 5, 8, 9, 17, 129]
        .iter()
        .map(|&r| captured_batch(r))
        .collect();
    assert_eq!(sizes, vec![0, 1, 2, 4, 4, 8, 8, 16, 24, 136]);
    let hw = h100();
    let p = perf_on(&hw, "llama-3-8b", 1);
    let m = model("llama-3-8b");
    let per_row = m.linear_flops_per_token() / (989.4e12 * 1e-9);
    let attn = |rows: f64| rows * 100.0 * m.attention_flops_per_pair(false) * 32.0 / (989.4e12 * 1e-9);
    let five = p.decode_step(5, 100);
    assert!((five.ideal_compute_ns - (8.0 * per_row + attn(5.0))).abs() < 1e-6 * five.ideal_compute_ns);
    let big = p.decode_step(129, 100);
    assert!((big.ideal_compute_ns - (129.0 * per_row + attn(129.0))).abs() < 1e-6 * big.ideal_compute_ns);
    assert!(p.fixed.captured(&decode(128, 100)));
    assert!(!p.fixed.captured(&decode(129, 100)));
}

/// An eager execution's kernel issue hides behind device time and shows only where it exceeds
/// it. Llama-3.2-1B at batch 1 with a PyTorch-eager issue of 20 µs a kernel: 16 layers × 12
/// kernels × 20 µs = 3840 µs, more than the 2.47 GB of weights take (855 µs): launch-bound,
/// the step is the issue time plus the other fixed parts. With 5 µs a kernel (960 µs) against
/// a 2048-token prompt's milliseconds of work, only the first launch shows.
#[test]
fn an_eager_step_is_launch_bound_only_where_the_issue_exceeds_the_work() {
    let mut hw = h100();
    hw.chip.efficiency.graphs = GraphMode::None;
    hw.chip.efficiency.eager_launch_us = 20.0;
    let p = perf_on(&hw, "llama-3.2-1b", 1);
    let c = p.decode_step(1, 128);
    let busy = c.compute_ns + c.memory_ns + c.comm_ns;
    let fixed_us = 184.5577 + 16.0 * 5.0 + 10.0 + 20.0 + 28.0 / 31.5e3;
    assert!(busy < 3_840e3, "busy {busy} ns");
    assert!(
        (c.total_ns as f64 / 1e3 - (3840.0 + fixed_us)).abs() < 0.002,
        "{} µs",
        c.total_ns as f64 / 1e3
    );
    // Graphs: one 5 µs launch instead.
    hw.chip.efficiency.graphs = GraphMode::Decode;
    let g = perf_on(&hw, "llama-3.2-1b", 1).decode_step(1, 128);
    assert!((g.overhead_ns / 1e3 - (fixed_us + 5.0)).abs() < 0.001);
    // A long prompt hides the issue: 5 µs for the first kernel.
    hw.chip.efficiency.eager_launch_us = 5.0;
    let p = perf_on(&hw, "llama-3.2-1b", 1);
    let long = p.prefill_step(2048);
    let tokens_us = (2048.0 * 20.0 + 8.0) / 31.5e3;
    let want = 184.5577 + 80.0 + 5.0 + 10.0 + 20.0 + tokens_us;
    assert!(long.compute_ns + long.memory_ns > 960e3);
    assert!(
        (long.overhead_ns / 1e3 - want).abs() < 0.001,
        "{} µs",
        long.overhead_ns / 1e3
    );
}

/// Every compiled Neuron graph is one launch: with sequential prefill a step of 4 prompts runs
/// 4 context-encoding graphs and pays 4 launches (and 4 samplings and host syncs).
#[test]
fn every_compiled_graph_execution_pays_its_launch() {
    let mut hw = Catalog::builtin().unwrap().hardware("inf2.48xlarge").unwrap();
    // Sequential prefill is a trait of the Neuron engines (engines/nxdi.toml).
    hw.chip = crate::hw::engine::with_default_engine(&hw.chip).unwrap();
    assert_eq!(hw.chip.efficiency.graphs, GraphMode::All);
    assert!(hw.chip.efficiency.sequential_prefill);
    let mut b = BatchShape::default();
    for _ in 0..4 {
        b.add_prefill(128, 0);
    }
    let base = perf_on(&hw, "llama-3-8b", 24).step(&b);
    let e = &mut hw.chip.efficiency;
    (e.graph_launch_us, e.sampling_us, e.host_sync_us) = (100.0, 30.0, 20.0);
    let more = perf_on(&hw, "llama-3-8b", 24).step(&b);
    assert!((more.overhead_ns - base.overhead_ns - 4.0 * 150e3).abs() < 1e-6);
    assert_eq!(more.memory_ns, base.memory_ns);
}

/// A speculative verification run as prefill chunks scores every drafted position: its rows
/// go through the LM head, and on a stack that captures decode it replays a graph.
#[test]
fn a_verification_scores_every_position_and_is_captured() {
    let hw = h100();
    let p = perf_on(&hw, "llama-3-8b", 1);
    let m = model("llama-3-8b");
    let b = decode(4, 1000);
    let v = p.verify_step(&b, 5);
    // 4 rows × 5 queries: 20 tokens through every weight, the LM head included.
    let pairs = 5.0 * (4.0 * 999.0) + 4.0 * 15.0;
    let flops = 20.0 * m.linear_flops_per_token() + pairs * m.attention_flops_per_pair(false) * 32.0;
    assert!((v.ideal_compute_ns / (flops / (989.4e12 * 1e-9)) - 1.0).abs() < 1e-9);
    let fixed_us = 184.5577 + 160.0 + 5.0 + 10.0 + 20.0 + (20.0 * 20.0 + 20.0 * 8.0) / 31.5e3;
    assert!(
        (v.overhead_ns / 1e3 - fixed_us).abs() < 0.001,
        "{} µs",
        v.overhead_ns / 1e3
    );
}

/// A negative or non-finite fixed cost is refused, naming the key.
#[test]
fn a_negative_fixed_cost_is_refused_naming_its_key() {
    for key in [
        "graph_launch_us",
        "eager_launch_us",
        "kernels_per_layer",
        "sampling_us",
        "host_sync_us",
    ] {
        let mut hw = h100();
        let e = &mut hw.chip.efficiency;
        match key {
            "graph_launch_us" => e.graph_launch_us = -1.0,
            "eager_launch_us" => e.eager_launch_us = -1.0,
            "kernels_per_layer" => e.kernels_per_layer = f64::NAN,
            "sampling_us" => e.sampling_us = -1.0,
            _ => e.host_sync_us = f64::INFINITY,
        }
        // Checked where every chip number is: when a profile loads and after a scenario's
        // overrides (`hardware.chip.efficiency.*` in a scenario, tests/robustness.rs).
        let err = crate::hw::validate_chip(&hw.chip, std::path::Path::new("s.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains(&format!("efficiency.{key}")), "{err}");
        assert!(err.contains("≥ 0"), "{err}");
    }
}

/// One more decode row never takes less time, across the captured sizes' padding and the switch
/// from a graph to eager launches beyond `graph_max_batch` (the built-in H100: a 5 µs graph
/// launch, a 5 µs first kernel).
#[test]
fn one_more_decode_row_never_takes_less_time() {
    let p = crate::perf::tests::perf("p5.48xlarge", "llama-3-8b", 1, Dtype::Bf16);
    let mut last = 0;
    for rows in 1..=300 {
        let t = p.decode_step(rows, 1).total_ns;
        assert!(t >= last, "{rows} rows: {t} ns < {last} ns");
        last = t;
    }
}
