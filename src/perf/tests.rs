use super::*;
use crate::hw::Catalog;
use crate::model::builtin_presets;

/// A built-in model preset (test helper, also used by `serve`'s tests).
pub(crate) fn model(name: &str) -> ModelSpec {
    builtin_presets().unwrap().into_iter().find(|m| m.name == name).unwrap()
}

/// The cost model of `m` on `instance` at TP `tp` with `w` weights (bf16 KV and activations,
/// 10 % reserve); also used by `serve`'s tests.
pub(crate) fn perf(instance: &str, m: &str, tp: u32, w: Dtype) -> PerfModel {
    let mut hw = Catalog::builtin().unwrap().hardware(instance).unwrap();
    hw.chip = crate::hw::engine::with_default_engine(&hw.chip).unwrap();
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

/// Plain bf16 weights, compute, KV cache and activations (also used by `fixed`'s tests).
pub(crate) fn bf16() -> Precision {
    Precision {
        weights: Dtype::Bf16,
        compute: Dtype::Bf16,
        kv_cache: Dtype::Bf16,
        activations: Dtype::Bf16,
        weight_format: crate::dtype::WeightFormat::Plain,
    }
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
    let e = PerfModel::new(&hw, &model("llama-3-70b"), Parallelism { tp: 2 }, bf16(), 0.1, "s.toml").unwrap_err();
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

/// trn2.48xlarge as TP16, Llama-3.3-70B (fp8 weights, bf16 KV), 64 sequences of long context
/// that the paged cache holds: the block layout reads what is held and fits the budget; the old
/// model (every row padded to the bucket of the longest, a contiguous read) read more KV bytes
/// per rank than the rank has.
#[test]
fn trn2_tp16_70b_batch_64_long_contexts_reads_no_more_kv_than_the_rank_holds() {
    let p = perf("trn2.48xlarge", "llama-3.3-70b", 16, Dtype::Fp8);
    // Per rank: 8 KV heads replicated to 16 ranks, one head each: K and V × 128 dims × 2 B ×
    // 80 layers = 40960 B per token.
    assert_eq!(p.memory.kv_bytes_per_token_per_rank, 40_960.0);
    // HBM per rank 96 GiB / 4 = 25.77 GB; 10 % reserve 2.58 GB; fp8 weights 70.55e9 B / 16 =
    // 4.41 GB: about 18.8 GB of KV, 458k tokens.
    let budget = p.memory.kv_bytes_per_rank;
    assert!((budget / 18.78e9 - 1.0).abs() < 0.01, "{budget}");
    // 64 rows of capacity/64 − 64 tokens each (about 7100: the paged cache holds them all), one
    // token longer for the last row; the token bucket is 8192.
    let each = p.memory.kv_capacity_tokens / 64 - 64;
    let mut b = BatchShape::default();
    for _ in 0..63 {
        b.add_decode(each);
    }
    b.add_decode(each + 1);
    assert_eq!(p.shapes.token.pad(b.decode_max_ctx), 8192);
    // Block layout of 32 tokens: Σ ctx + 64 × 31 / 2 tokens.
    let held = (64 * each + 1) as f64 + 64.0 * 15.5;
    assert_eq!(p.kv_read_bytes_per_rank(&b), held * 40_960.0);
    p.check_kv_reads(&b).unwrap();
    // The contiguous read of the old model: 64 × 8192 × 40960 B = 21.47 GB > 18.8 GB.
    let mut hw = Catalog::builtin().unwrap().hardware("trn2.48xlarge").unwrap();
    hw.chip = crate::hw::engine::with_default_engine(&hw.chip).unwrap();
    hw.chip.efficiency.kv_layout = crate::hw::KvLayout::Contiguous;
    let prec = p.precision;
    let old = PerfModel::new(&hw, &model("llama-3.3-70b"), Parallelism { tp: 16 }, prec, 0.1, "t").unwrap();
    assert_eq!(old.kv_read_bytes_per_rank(&b), 64.0 * 8192.0 * 40_960.0);
    assert!(old.kv_read_bytes_per_rank(&b) > budget);
    // With the compiled sequence length (a bounded token-bucket list) the contiguous layout's
    // check holds it to its budget and flags this step.
    hw.chip.efficiency.token_buckets = Some(crate::hw::BucketList::Tokens(vec![2048, 4096, 8192]));
    let old = PerfModel::new(&hw, &model("llama-3.3-70b"), Parallelism { tp: 16 }, prec, 0.1, "t").unwrap();
    assert!(old.check_kv_reads(&b).is_err());
    // Each sequence owns an 8192-token slot: ~458k tokens hold 55 of them, not 64.
    assert_eq!(
        old.max_resident_seqs(100_000),
        Some((old.memory.kv_capacity_tokens / 8192, 8192))
    );
    assert_eq!(old.memory.kv_capacity_tokens / 8192, 55);
    // The step's attention reads the held bytes at the KV bandwidth: memory-bound, so its time
    // is at least held × 40960 B / (725 GB/s × ε_kv) per rank (2900 GB/s / 4 ranks per chip).
    let c = p.step(&b);
    let kv_ns = held * 40_960.0 / (725.0 * p.eff_kv);
    assert!(c.memory_ns >= kv_ns, "{} < {kv_ns}", c.memory_ns);
}

/// NxD Inference quantizes weights only: fp8 weights on Trainium2 multiply at the bf16 peak
/// (a compute-bound prefill takes the same compute time as with bf16 weights), with a note.
#[test]
fn fp8_weights_on_trn2_multiply_at_the_bf16_peak() {
    let fp8 = perf("trn2.48xlarge", "llama-3.3-70b", 64, Dtype::Fp8);
    let bf16 = perf("trn2.48xlarge", "llama-3.3-70b", 64, Dtype::Bf16);
    // 667 TFLOP/s bf16 per chip / 4 logical cores = 166.75 TFLOP/s per rank.
    assert_eq!(fp8.peak_flops, 166.75e12);
    assert!(fp8.notes.iter().any(|n| n.contains("weight-only")), "{:?}", fp8.notes);
    let (a, b) = (fp8.prefill_step(8192), bf16.prefill_step(8192));
    assert!((a.ideal_compute_ns / b.ideal_compute_ns - 1.0).abs() < 1e-12);
    // The GPU path is untouched: fp8 on H100 runs at its fp8 peak (1978.9 TFLOP/s).
    assert_eq!(
        perf("p5.48xlarge", "llama-3.3-70b", 2, Dtype::Fp8).peak_flops,
        1978.9e12
    );
}

/// Speculative verification on a stack with compiled shapes is one token-generation graph of
/// γ + 1 positions per row, its context padded to the token bucket like any decode step (not a
/// prefill padded to a 128-token context bucket per row).
#[test]
fn verification_on_neuron_pads_the_context_not_the_queries() {
    let p = perf("trn2.48xlarge", "llama-3.3-70b", 64, Dtype::Bf16);
    let mut b = BatchShape::default();
    b.add_decode(10_000);
    let v = p.verify_step(&b, 8);
    // FLOPs: 8 tokens through the GEMMs and the LM head (every verified position is scored),
    // and 8 queries × the 16384-token bucket + 8·7/2 pairs among the new tokens.
    let flops =
        (p.linear_flops_per_token + p.lm_head_flops_per_row) * 8.0 + p.attn_flops_per_pair * (8.0 * 16_384.0 + 28.0);
    let ideal = flops / (p.peak_flops * 1e-9);
    assert!(
        (v.ideal_compute_ns / ideal - 1.0).abs() < 1e-12,
        "{} vs {ideal}",
        v.ideal_compute_ns
    );
    // KV read once (10000 tokens + half a 32-token block), weights once, the 8 rows' fp32
    // logits written and read: the memory part.
    let bytes = p.always_read_bytes + 40_960.0 * (10_000.0 + 15.5) + 8.0 * 128_256.0 * 8.0;
    let ideal_mem = bytes / (p.hbm_bw * 1e-9);
    assert!((v.ideal_memory_ns / ideal_mem - 1.0).abs() < 1e-12);
    // A cached prefix does not remove a prompt's padding: 300 new tokens after 1000 cached run
    // the 512-token context graph; its last token alone goes through the LM head.
    let mut c = BatchShape::default();
    c.add_prefill(300, 1000);
    let pairs = 512.0 * 1000.0 + 512.0 * 513.0 / 2.0;
    let flops = p.linear_flops_per_token * 512.0 + p.lm_head_flops_per_row + p.attn_flops_per_pair * pairs;
    let got = p.step(&c).ideal_compute_ns;
    assert!((got / (flops / (p.peak_flops * 1e-9)) - 1.0).abs() < 1e-12);
}

/// The LM head runs on the sampled rows only: a 512-token prompt costs 511 LM heads
/// (2 · 128,256 · 4096 = 1.0507 GFLOP each) less than 512 tokens through every weight, a
/// decode batch of 8 costs 8, and no step's FLOPs beat the physics floor's, which counts the
/// same rows.
#[test]
fn the_lm_head_runs_on_the_sampled_rows_only() {
    let p = perf("p5.48xlarge", "llama-3-8b", 1, Dtype::Bf16);
    let m = model("llama-3-8b");
    let head = 2.0 * 128_256.0 * 4096.0;
    assert_eq!(p.lm_head_flops_per_row, head);
    assert_eq!(p.linear_flops_per_token, m.linear_flops_per_token() - head);
    let mut b = BatchShape::default();
    b.add_prefill(512, 0);
    let flops = m.linear_flops_per_token() * 512.0 - 511.0 * head + m.attention_flops(512, 0);
    let ideal = flops / (p.peak_flops * 1e-9);
    assert!((p.step(&b).ideal_compute_ns / ideal - 1.0).abs() < 1e-12);
    let (_, floor) = p.physics_floor_ns(&b);
    assert!((floor / ideal - 1.0).abs() < 1e-12);
    let d = p.decode_step(8, 100);
    let flops = m.linear_flops_per_token() * 8.0 + 8.0 * 100.0 * m.attention_flops_per_pair(false) * 32.0;
    assert!((d.ideal_compute_ns / (flops / (p.peak_flops * 1e-9)) - 1.0).abs() < 1e-12);
}

/// The all-reduce table is the collective's model at every integer token count it holds, bit
/// for bit, and steps beyond it (or at a fractional count, a micro-batch's half) evaluate the
/// model: the closed form, T = 2L·allreduce(tokens · hidden · 2 B), not a stale copy.
#[test]
fn tabulated_allreduce_equals_the_collective_model() {
    let p = perf("p5.48xlarge", "llama-3.1-70b", 8, Dtype::Bf16);
    let (ar, per_step) = p.allreduce();
    assert_eq!(per_step, 2.0 * 80.0);
    let bytes_per_token = 8192.0 * 2.0;
    for t in [0.0, 1.0, 7.0, 128.0, 1024.0, 1025.0, 4096.0, 64.5] {
        let want = per_step * ar.time_ns(t * bytes_per_token);
        assert_eq!(p.tp_comm_ns(t).to_bits(), want.to_bits(), "{t} tokens");
    }
    assert!(p.tp_comm_ns(128.0) > p.tp_comm_ns(1.0), "more tokens, more bytes");
}

/// A paged layout with exact shapes (vLLM on H100) reads each row's blocks, never the longest
/// context: its steps cost the same bit for bit whatever `decode_max_ctx` says, so the decode
/// batch need not keep it. Padded token buckets (Neuron) pad every row to it and must.
#[test]
fn only_padded_or_contiguous_stacks_read_the_longest_context() {
    let p = perf("p5.48xlarge", "llama-3.1-8b", 1, Dtype::Bf16);
    assert!(!p.reads_longest_context());
    let mut b = BatchShape::default();
    for ctx in [100u64, 900, 3000] {
        b.add_decode(ctx);
    }
    let (with, mut without) = (b, b);
    without.decode_max_ctx = 0;
    assert_eq!(format!("{:?}", p.step(&with)), format!("{:?}", p.step(&without)));
    let n = perf("trn1.32xlarge", "llama-3.1-8b", 8, Dtype::Bf16);
    assert!(n.reads_longest_context());
    assert_ne!(format!("{:?}", n.step(&with)), format!("{:?}", n.step(&without)));
}

/// The linear part of a decode step is tabulated by its token count: a table entry filled by a
/// step of one context serves a step of another exactly as evaluating it would. Each step is
/// timed on a model whose table an earlier step of the same rows and another context filled,
/// and on a fresh copy whose table is empty; their costs agree bit for bit, dense and MoE
/// (whose experts touched, evaluated with `powf`, are in the linear part), past the table's end too.
#[test]
fn a_tabulated_decode_step_costs_what_evaluating_it_costs() {
    for (inst, m, tp) in [
        ("p5.48xlarge", "llama-3.1-70b", 8),
        ("p5en.48xlarge", "mixtral-8x7b", 8),
    ] {
        let warm = perf(inst, m, tp, Dtype::Bf16);
        for rows in [1u32, 2, 3, 7, 64, 128, 1024, 1500] {
            let batch = |ctx: u64| {
                let mut b = BatchShape::default();
                for _ in 0..rows {
                    b.add_decode(ctx);
                }
                b
            };
            warm.step(&batch(100));
            let cold = perf(inst, m, tp, Dtype::Bf16);
            for ctx in [100u64, 5000] {
                let (a, b) = (warm.step(&batch(ctx)), cold.step(&batch(ctx)));
                assert_eq!(format!("{a:?}"), format!("{b:?}"), "{m} rows {rows} ctx {ctx}");
                assert!(a.total_ns > 0);
            }
        }
        // Filled only for the sizes met (1025 entries: 0 to 1024 tokens).
        let filled = warm.linear_table.iter().filter(|c| c.get().is_some()).count();
        assert_eq!(filled, 7, "{m}");
    }
}

/// A decode-only step costs, from the row-count table, exactly what evaluating it in full costs
/// (`step_general`), bit for bit: on every engine that runs on a GPU, a Trainium, an Inferentia
/// and a Graviton (captured graphs or not, padded token buckets or exact, paged or contiguous
/// KV), for dense, MoE, MLA, sliding-window and linear-attention models, across row counts
/// (padded graph sizes included) and contexts (padded buckets and a full KV cache included).
#[test]
fn a_decode_step_from_the_row_table_costs_what_evaluating_it_costs() {
    let engines = ["vllm", "sglang", "trtllm", "nxdi", "transformers-neuronx", "llama-cpp"];
    let (mut models_built, mut fast) = (0, 0);
    for (instance, tp) in [
        ("p5.48xlarge", 8),
        ("trn2.48xlarge", 16),
        ("inf2.48xlarge", 24),
        ("c8g.16xlarge", 1),
    ] {
        let base = Catalog::builtin().unwrap().hardware(instance).unwrap();
        for engine in engines {
            let Ok((profile, version)) = crate::hw::engine::resolve(Some(engine), None, &base.chip) else {
                continue;
            };
            let mut hw = base.clone();
            hw.chip = profile.apply_to(version, &base.chip).unwrap();
            for m in [
                "llama-3.1-8b",
                "llama-3.1-70b",
                "mixtral-8x7b",
                "deepseek-v3",
                "gpt-oss-20b",
                "qwen3-next-80b-a3b",
            ] {
                let Ok(p) = PerfModel::new(&hw, &model(m), Parallelism { tp }, bf16(), 0.1, "test") else {
                    continue;
                };
                models_built += 1;
                let full_kv = p.memory.kv_bytes_per_rank / p.kv_bytes_per_token;
                for rows in [1u32, 2, 3, 5, 8, 9, 31, 64, 100, 128, 129, 256, 513, 1024, 1025] {
                    for ctx in [1u64, 17, 100, 1000, 4097, 32_000, (full_kv / rows as f64) as u64 + 7] {
                        let mut b = BatchShape::default();
                        for i in 0..rows {
                            b.add_decode(1 + (ctx + i as u64 * 37) % ctx.max(1));
                        }
                        let (table, full) = (p.step_one(&b, 1), p.step_general(&b, 1));
                        assert_eq!(
                            format!("{table:?}"),
                            format!("{full:?}"),
                            "{instance} {engine} {m}: {rows} rows, context up to {ctx}"
                        );
                        assert_eq!(p.step(&b), p.capped(full));
                    }
                }
                fast += p
                    .decode_table
                    .iter()
                    .filter(|c| matches!(c.get(), Some(Some(_))))
                    .count();
            }
        }
    }
    assert!(models_built >= 30, "only {models_built} deployments built");
    // The table served the steps it could: 13 of the 15 row counts (1,025 is beyond it, and
    // overlapped micro-batches are evaluated in full), in almost every deployment.
    assert!(
        fast >= 12 * models_built,
        "{fast} table entries over {models_built} deployments"
    );
}
