//! The checks of issue 11: a CPU instance as one device, decode bound by DRAM bandwidth on the
//! quantized weights, prefill by compute over the cores, and little to gain from batching.

use super::*;
use crate::dtype::{Dtype, WeightFormat};
use crate::hw::{Catalog, Hardware};
use crate::model::{ModelSpec, builtin_presets};
use crate::perf::{Parallelism, PerfModel, Precision};

fn model(name: &str) -> ModelSpec {
    builtin_presets().unwrap().into_iter().find(|m| m.name == name).unwrap()
}

fn hardware(instance: &str) -> Hardware {
    Catalog::builtin().unwrap().hardware(instance).unwrap()
}

fn precision(format: WeightFormat) -> Precision {
    let weights = format.dtype().unwrap_or(Dtype::Bf16);
    Precision {
        weights,
        compute: if format == WeightFormat::Plain {
            weights
        } else {
            Dtype::Int8
        },
        kv_cache: Dtype::Bf16,
        activations: Dtype::Bf16,
        weight_format: format,
    }
}

fn perf_on(hw: &Hardware, m: &str, format: WeightFormat, tp: u32) -> crate::error::Result<PerfModel> {
    PerfModel::new(hw, &model(m), Parallelism { tp }, precision(format), 0.1, "test")
}

/// Decode tokens per second of one sequence at a 512-token context.
fn decode_tok_s(p: &PerfModel, batch: u32) -> f64 {
    batch as f64 * 1e9 / p.decode_step(batch, 512).total_ns as f64
}

const CPUS: [&str; 4] = ["c7g.16xlarge", "c8g.16xlarge", "r8g.16xlarge", "c7i.16xlarge"];

#[test]
fn decode_is_never_faster_than_quantized_weight_bytes_over_bandwidth() {
    for inst in CPUS {
        let hw = hardware(inst);
        for (m, format, dtype) in [
            ("llama-3.2-1b", WeightFormat::Q4_0, Dtype::Int4),
            ("llama-3-8b", WeightFormat::Q4_0, Dtype::Int4),
            ("llama-3-8b", WeightFormat::Q8_0, Dtype::Int8),
            ("llama-3-70b", WeightFormat::Q4_0, Dtype::Int4),
        ] {
            let Ok(p) = perf_on(&hw, m, format, 1) else {
                continue; // does not fit this instance's DRAM
            };
            let floor_ns = model(m).weight_bytes_with_scales(dtype, Some(32)) / hw.chip.hbm_bytes_per_s() * 1e9;
            for batch in [1u32, 2, 4, 8, 16, 64] {
                let t = p.decode_step(batch, 1024).total_ns as f64;
                assert!(
                    t >= floor_ns,
                    "{inst} {m} {format} batch {batch}: {t} ns < {floor_ns} ns"
                );
            }
        }
    }
}

#[test]
fn block_scales_count_in_the_weight_bytes() {
    let hw = hardware("r8g.16xlarge");
    let m = model("llama-3-70b");
    let q4 = perf_on(&hw, "llama-3-70b", WeightFormat::Q4_0, 1).unwrap();
    let bits = q4.memory.weight_bytes_per_rank * 8.0 / m.params_total();
    assert!((bits - 4.5).abs() < 1e-9, "Q4_0 is 4.5 bits per weight, got {bits}");
    let q8 = perf_on(&hw, "llama-3-70b", WeightFormat::Q8_0, 1).unwrap();
    let bits = q8.memory.weight_bytes_per_rank * 8.0 / m.params_total();
    assert!((bits - 8.5).abs() < 1e-9, "Q8_0 is 8.5 bits per weight, got {bits}");
}

#[test]
fn doubling_cores_at_fixed_bandwidth_barely_changes_decode() {
    let base = hardware("c8g.16xlarge");
    let mut twice = base.clone();
    twice.chip.physical_cores_per_chip *= 2;
    let p = &mut twice.chip.peak_tflops;
    for v in [&mut p.fp32, &mut p.bf16, &mut p.int8] {
        *v = v.map(|x| x * 2.0);
    }
    for m in ["llama-3-8b", "llama-3-70b"] {
        let a = decode_tok_s(&perf_on(&base, m, WeightFormat::Q4_0, 1).unwrap(), 1);
        let b = decode_tok_s(&perf_on(&twice, m, WeightFormat::Q4_0, 1).unwrap(), 1);
        assert!(
            (b / a - 1.0).abs() < 0.10,
            "{m}: {a:.2} -> {b:.2} tok/s with twice the cores"
        );
    }
}

#[test]
fn doubling_bandwidth_speeds_decode() {
    let base = hardware("c8g.16xlarge");
    let mut fast = base.clone();
    fast.chip.hbm_bandwidth_gb_s *= 2.0;
    for m in ["llama-3-8b", "llama-3-70b"] {
        let a = decode_tok_s(&perf_on(&base, m, WeightFormat::Q4_0, 1).unwrap(), 1);
        let b = decode_tok_s(&perf_on(&fast, m, WeightFormat::Q4_0, 1).unwrap(), 1);
        assert!(b / a > 1.6, "{m}: {a:.2} -> {b:.2} tok/s with twice the bandwidth");
    }
}

#[test]
fn prefill_is_compute_bound_and_scales_with_threads() {
    let all = hardware("c8g.16xlarge");
    let mut half = all.clone();
    half.chip.efficiency.threads = Some(32);
    let p64 = perf_on(&all, "llama-3-8b", WeightFormat::Q4_0, 1).unwrap();
    let p32 = perf_on(&half, "llama-3-8b", WeightFormat::Q4_0, 1).unwrap();
    let c = p64.prefill_step(2048);
    assert!(
        c.compute_ns > 10.0 * c.memory_ns,
        "prefill of 2048 tokens is compute-bound: {c:?}"
    );
    let speedup = p32.prefill_step(2048).total_ns as f64 / c.total_ns as f64;
    assert!(
        speedup > 1.6 && speedup < 2.0,
        "32 -> 64 threads: prefill {speedup:.2}x faster"
    );
    assert!(!p32.notes.is_empty(), "running on part of the cores is noted");
}

#[test]
fn threads_beyond_the_cores_are_refused() {
    let mut hw = hardware("c8g.16xlarge");
    hw.chip.efficiency.threads = Some(65);
    let e = perf_on(&hw, "llama-3-8b", WeightFormat::Q4_0, 1)
        .unwrap_err()
        .to_string();
    assert!(e.contains("threads") && e.contains("64"), "{e}");
}

/// Arm reported Llama 3 70B, 4-bit Q4_0-style weights, on a c8g.16xlarge with llama.cpp at
/// 5–10 tokens/s (Arm community blog, 2024-10-21). The bandwidth roofline explains it: 39.7 GB
/// of Q4_0 weights over 358 GB/s (the instance's 64/96 share of 12 DDR5-5600 channels) is at
/// most 9 tokens/s; at 65 % of that bandwidth, about 5.8.
#[test]
fn arm_anchor_llama_3_70b_q4_0_on_c8g() {
    let hw = hardware("c8g.16xlarge");
    let p = perf_on(&hw, "llama-3-70b", WeightFormat::Q4_0, 1).unwrap();
    let tok_s = decode_tok_s(&p, 1);
    let roofline = hw.chip.hbm_bytes_per_s() / p.memory.weight_bytes_per_rank;
    eprintln!("llama-3-70b q4_0 on c8g.16xlarge: {tok_s:.2} tok/s (bandwidth roofline {roofline:.2})");
    assert!((3.0..=15.0).contains(&tok_s), "{tok_s} tok/s");
    assert!(tok_s < roofline);
    let c = p.decode_step(1, 512);
    assert!(c.memory_ns > c.compute_ns, "batch-1 decode is bandwidth-bound: {c:?}");
}

/// A CPU's ridge point is a handful of tokens per step: by batch 8 the GEMMs are compute-bound,
/// so batching multiplies throughput far less than on a GPU, whose weight read hides the
/// compute of hundreds of tokens.
#[test]
fn batching_gains_far_less_on_a_cpu_than_on_a_gpu() {
    let cpu = perf_on(&hardware("c8g.16xlarge"), "llama-3-8b", WeightFormat::Q4_0, 1).unwrap();
    let gpu = perf_on(&hardware("p5.4xlarge"), "llama-3-8b", WeightFormat::Plain, 1).unwrap();
    let gain = |p: &PerfModel, b: u32| decode_tok_s(p, b) / decode_tok_s(p, 1);
    let (cpu8, gpu8) = (gain(&cpu, 8), gain(&gpu, 8));
    let (cpu32, gpu32) = (gain(&cpu, 32), gain(&gpu, 32));
    eprintln!("batch 1 -> 8: cpu {cpu8:.2}x, gpu {gpu8:.2}x; 1 -> 32: cpu {cpu32:.2}x, gpu {gpu32:.2}x");
    assert!(cpu8 < 0.75 * gpu8, "batch 8: cpu {cpu8:.2}x vs gpu {gpu8:.2}x");
    assert!(cpu32 < 0.4 * gpu32, "batch 32: cpu {cpu32:.2}x vs gpu {gpu32:.2}x");
    let c = cpu.decode_step(8, 512);
    assert!(c.compute_ns > c.memory_ns, "cpu batch-8 decode is compute-bound: {c:?}");
    let g = gpu.decode_step(8, 512);
    assert!(
        g.memory_ns > g.compute_ns,
        "gpu batch-8 decode is bandwidth-bound: {g:?}"
    );
}

#[test]
fn llama_3_70b_in_4_bits_fits_an_r8g_but_not_an_inf2_xlarge() {
    assert!(perf_on(&hardware("r8g.16xlarge"), "llama-3-70b", WeightFormat::Q4_0, 1).is_ok());
    let e = perf_on(&hardware("inf2.xlarge"), "llama-3-70b", WeightFormat::Q4_0, 2).unwrap_err();
    assert!(e.to_string().contains("does not fit"), "{e}");
    let plain = PerfModel::new(
        &hardware("inf2.xlarge"),
        &model("llama-3-70b"),
        Parallelism { tp: 2 },
        Precision {
            weight_format: WeightFormat::Plain,
            compute: Dtype::Bf16,
            ..precision(WeightFormat::Q4_0)
        },
        0.1,
        "test",
    );
    assert!(plain.is_err(), "plain int4 (35 GB) does not fit 32 GiB either");
}

#[test]
fn thread_scaling_saturates() {
    assert_eq!(thread_scaling(1.0, 512.0), 1.0);
    assert_eq!(thread_scaling(64.0, 0.0), 64.0);
    let s64 = thread_scaling(64.0, 512.0);
    let s128 = thread_scaling(128.0, 512.0);
    assert!(s64 > 56.0 && s64 < 58.0, "{s64}");
    assert!(s128 > s64 && s128 < 2.0 * s64);
    assert!(thread_scaling(1e9, 512.0) < 513.0, "bounded by N½ + 1");
}

#[test]
fn scenario_weight_format_sets_bytes_and_int8_compute() {
    let text = r#"
        [hardware]
        instance = "c8g.16xlarge"
        [model]
        name = "llama-3-8b"
        weights = "int4"
        weight_format = "q4_0"
        [workload]
        requests = 4
        arrival = { kind = "static", batch = 4 }
        input = { kind = "fixed", tokens = 64 }
        output = { kind = "fixed", tokens = 8 }
    "#;
    let sc = crate::scenario::load_str(text, std::path::Path::new("cpu.toml")).unwrap();
    assert_eq!(sc.precision.weight_format, WeightFormat::Q4_0);
    assert_eq!(sc.precision.compute, Dtype::Int8);
    let bad = text.replace("weights = \"int4\"", "weights = \"int8\"");
    let e = crate::scenario::load_str(&bad, std::path::Path::new("cpu.toml"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("model.weight_format") && e.contains("int4"), "{e}");
}
