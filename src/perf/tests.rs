use super::*;
use crate::hw::Catalog;
use crate::model::builtin_presets;

fn model(name: &str) -> ModelSpec {
    builtin_presets().unwrap().into_iter().find(|m| m.name == name).unwrap()
}

fn perf(instance: &str, m: &str, tp: u32, w: Dtype) -> PerfModel {
    let hw = Catalog::builtin().unwrap().hardware(instance).unwrap();
    let compute = if w == Dtype::Int8 { Dtype::Bf16 } else { w };
    let prec = Precision {
        weights: w,
        compute,
        kv_cache: Dtype::Bf16,
        activations: Dtype::Bf16,
        weight_format: crate::dtype::WeightFormat::Plain,
    };
    PerfModel::new(&hw, &model(m), Parallelism { tp }, prec, 0.1, "test").unwrap()
}

fn shapes() -> Vec<BatchShape> {
    let mut v = Vec::new();
    for &(seqs, ctx) in &[(1u32, 128u64), (8, 2048), (64, 1024), (256, 4096)] {
        let mut b = BatchShape::default();
        for _ in 0..seqs {
            b.add_decode(ctx);
        }
        v.push(b);
    }
    for &(n, before) in &[(128u64, 0u64), (2048, 0), (8192, 0), (512, 4096)] {
        let mut b = BatchShape::default();
        b.add_prefill(n, before);
        v.push(b);
    }
    v
}

/// No prediction beats physics: a step never takes less than the weight bytes per rank over HBM
/// bandwidth, nor less than its FLOPs over peak.
#[test]
fn no_step_beats_the_roofline() {
    for (inst, m, tp, w) in [
        ("p5.48xlarge", "llama-2-7b", 1, Dtype::Bf16),
        ("p5.48xlarge", "llama-3.3-70b", 2, Dtype::Fp8),
        ("inf2.48xlarge", "llama-3-8b", 24, Dtype::Int8),
        ("trn1.32xlarge", "llama-2-70b", 32, Dtype::Bf16),
        ("p5en.48xlarge", "mixtral-8x7b", 8, Dtype::Bf16),
        ("trn2.48xlarge", "llama-3.1-405b", 64, Dtype::Bf16),
    ] {
        let p = perf(inst, m, tp, w);
        for b in shapes() {
            let c = p.step(&b);
            let (mem_floor, flop_floor) = p.physics_floor_ns(&b);
            assert!(
                c.total_ns as f64 >= mem_floor,
                "{inst} {m}: {} ns < memory floor {mem_floor}",
                c.total_ns
            );
            assert!(
                c.total_ns as f64 >= flop_floor,
                "{inst} {m}: {} ns < compute floor {flop_floor}",
                c.total_ns
            );
            let parts = c.compute_ns + c.memory_ns + c.comm_ns + c.overhead_ns;
            assert!(
                (parts - c.total_ns as f64).abs() <= 1.0,
                "breakdown {parts} vs total {}",
                c.total_ns
            );
        }
    }
}

#[test]
fn more_work_never_takes_less_time() {
    let p = perf("p5.48xlarge", "llama-3-8b", 1, Dtype::Bf16);
    let mut last = 0;
    for seqs in [1u32, 2, 4, 8, 16, 32, 64, 128, 256] {
        let t = p.decode_step(seqs, 1024).total_ns;
        assert!(t >= last, "decode batch {seqs}: {t} < {last}");
        last = t;
    }
    let mut last = 0;
    for n in [16u64, 128, 512, 2048, 8192] {
        let t = p.prefill_step(n).total_ns;
        assert!(t >= last);
        last = t;
    }
}

#[test]
fn tensor_parallel_costs_communication_only_when_split() {
    let one = perf("p5.48xlarge", "llama-3-8b", 1, Dtype::Bf16).decode_step(8, 512);
    let eight = perf("p5.48xlarge", "llama-3-8b", 8, Dtype::Bf16).decode_step(8, 512);
    assert_eq!(one.comm_ns, 0.0);
    assert!(eight.comm_ns > 0.0);
    assert!(eight.memory_ns < one.memory_ns / 4.0, "weights split 8 ways");
}

#[test]
fn weights_that_do_not_fit_are_refused_with_bytes() {
    let hw = Catalog::builtin().unwrap().hardware("inf2.xlarge").unwrap();
    let prec = Precision {
        weights: Dtype::Bf16,
        compute: Dtype::Bf16,
        kv_cache: Dtype::Bf16,
        activations: Dtype::Bf16,
        weight_format: crate::dtype::WeightFormat::Plain,
    };
    let e = PerfModel::new(&hw, &model("llama-3-70b"), Parallelism { tp: 2 }, prec, 0.1, "s.toml").unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("does not fit") && msg.contains("GB"), "{msg}");
    assert_eq!(e.exit_code(), 2);
}

#[test]
fn small_moe_batches_touch_few_experts() {
    let p = perf("p5en.48xlarge", "mixtral-8x7b", 8, Dtype::Bf16);
    let per_layer = |t: f64| p.experts_touched(t) / 32.0;
    assert!(
        (per_layer(1.0) - 2.0).abs() < 1e-9,
        "one token touches top-k = 2 experts"
    );
    assert!(per_layer(4.0) > 2.0 && per_layer(4.0) < 8.0);
    assert!(per_layer(256.0) > 7.99);
}
