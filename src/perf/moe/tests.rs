use super::balance::*;
use super::*;
use crate::dtype::{Dtype, WeightFormat};
use crate::hw::Catalog;
use crate::model::builtin_presets;
use crate::perf::{BatchShape, DeploymentSpec, Parallelism, PerfModel, Precision};

fn model(name: &str) -> ModelSpec {
    builtin_presets().unwrap().into_iter().find(|m| m.name == name).unwrap()
}

fn fp8() -> Precision {
    Precision {
        weights: Dtype::Fp8,
        compute: Dtype::Fp8,
        kv_cache: Dtype::Fp8,
        activations: Dtype::Bf16,
        weight_format: WeightFormat::Plain,
    }
}

/// DeepSeek-V3 in FP8 on `tp` H200s (p5en), uniform routing, `ep` groups and a layout.
fn deepseek(instance: &str, tp: u32, ep: u32, layout: MoeLayout) -> PerfModel {
    let hw = Catalog::builtin().unwrap().hardware(instance).unwrap();
    let m = model("deepseek-v3");
    let shares = expert_shares(256, 0.0, None);
    let mut spec = DeploymentSpec::plain(&hw, &m, Parallelism { tp }, fp8(), 0.1, "test");
    spec.expert_parallel = Some((ep, &shares));
    spec.moe_layout = layout;
    PerfModel::build(&spec).unwrap()
}

fn wide(dp: u32, overlap: bool) -> MoeLayout {
    MoeLayout {
        attention_dp: dp,
        redundant_experts: None,
        overlap_a2a: overlap,
    }
}

fn decode_batch(seqs: u32, ctx: u64) -> BatchShape {
    let mut b = BatchShape::default();
    for _ in 0..seqs {
        b.add_decode(ctx);
    }
    b
}

fn close(what: &str, got: f64, want: f64, rel: f64) {
    assert!(
        (got - want).abs() <= rel * want.abs(),
        "{what}: got {got}, want {want} (±{:.1} %)",
        rel * 100.0
    );
}

/// Blom's expected maximum of n standard normals against the exact values: e_1 = 0,
/// e_2 = 1/√π = 0.5642 (Blom 0.5895, +4.5 %), e_8 = 1.4236 (Blom 1.4342, +0.7 %). The
/// extreme-value form √(2 ln 8) = 2.039 would overstate e_8 by 43 %.
#[test]
fn expected_max_of_normals_matches_exact_values() {
    assert_eq!(expected_max_std_normal(1), 0.0);
    close(
        "e_2",
        expected_max_std_normal(2),
        1.0 / std::f64::consts::PI.sqrt(),
        0.05,
    );
    close("e_8", expected_max_std_normal(8), 1.423_600, 0.01);
    close("Φ⁻¹(0.975)", inverse_normal_cdf(0.975), 1.959_964, 1e-6);
    close("Φ⁻¹(0.001)", inverse_normal_cdf(0.001), -3.090_232, 1e-6);
}

/// Two groups, 64 uniform assignments: E[max(X, 64 − X)], X ~ Binomial(64, ½), enumerated
/// exactly is 35.179; the closed form 32 + √32 · 0.5895 = 35.334 (+0.44 %).
#[test]
fn expected_max_load_matches_exact_enumeration_for_two_groups() {
    let n = 64u64;
    let mut exact = 0.0;
    let mut choose = 1.0f64; // C(64, x), built up term by term
    for x in 0..=n {
        if x > 0 {
            choose = choose * (n - x + 1) as f64 / x as f64;
        }
        exact += choose * x.max(n - x) as f64;
    }
    exact /= 2f64.powi(64);
    close("exact enumeration", exact, 35.179_096, 1e-6);
    let formula = expected_max_load(64.0, &[0.5, 0.5], expected_max_std_normal(2), 64.0);
    close("closed form", formula, exact, 0.005);
}

/// 128 tokens each pick 8 distinct experts of 256, 32 experts a group over 8 groups; a seeded
/// Monte Carlo of 4,000 steps against μ + √μ · e_8 = 128 + √128 · 1.4342 = 144.22.
#[test]
fn expected_max_load_matches_a_seeded_monte_carlo() {
    let (tokens, experts, k, groups, trials) = (128usize, 256u64, 8usize, 8usize, 4000usize);
    let mut state = 0x5EED_u64;
    let mut next = || {
        state = state.wrapping_add(1);
        crate::hash::mix64(state)
    };
    let mut sum_max = 0.0;
    for _ in 0..trials {
        let mut load = [0u32; 8];
        for _ in 0..tokens {
            let mut picked = [u64::MAX; 8];
            let mut n = 0;
            while n < k {
                let e = next() % experts;
                if !picked[..n].contains(&e) {
                    picked[n] = e;
                    n += 1;
                    load[(e / 32) as usize] += 1;
                }
            }
        }
        sum_max += *load.iter().max().unwrap() as f64;
    }
    let mc = sum_max / trials as f64;
    let shares = vec![1.0 / groups as f64; groups];
    let formula = expected_max_load((tokens * k) as f64, &shares, expected_max_std_normal(8), 1e9);
    close("closed form", formula, 144.22, 0.001);
    println!("E[max load]: Monte Carlo {mc:.2}, closed form {formula:.2}");
    close("against Monte Carlo", formula, mc, 0.01);
}

/// One hot expert of four (shares 0.55, 0.15, 0.15, 0.15) over two groups. Static: groups
/// {0, 1} and {2, 3} carry 0.70 and 0.30, imbalance 2 · 0.70 = 1.4. EPLB with 2 redundant
/// replicas: expert 0 gets two more (0.55/3 = 0.1833 each, still above 0.15 after the first
/// split to 0.275); six replicas, three slots a group, packed heaviest first into the lightest
/// group: g0 .1833, g1 .1833, g0 .3667, g1 .3333, g1 .4833, g0 .5167: imbalance 1.033.
#[test]
fn redundant_experts_spread_the_hot_expert() {
    let shares = [0.55, 0.15, 0.15, 0.15];
    let fixed = place(&shares, 2, None);
    close("static", fixed.group_shares[0], 0.70, 1e-12);
    let eplb = place(&shares, 2, Some(2));
    let max = eplb.group_shares.iter().copied().fold(0.0, f64::max);
    close("EPLB busiest", max, 0.55 / 3.0 * 2.0 + 0.15, 1e-12);
    assert_eq!(eplb.busiest_replicas.len(), 3);
    // Uniform shares stay balanced with or without the balancer.
    let even = place(&[0.25; 4], 2, Some(0));
    assert_eq!(even.group_shares, vec![0.5, 0.5]);
}

/// DeepSeek-V3 (hidden 7168, top-8 of 256) with attention_dp = ep = 8 on one p5en: a token's 8
/// experts land on 8 · (1 − Π_{i<8} (224 − i)/(256 − i)) = 8 · (1 − 0.33817) = 5.2947 distinct
/// ranks, so a rank dispatches T/8 · 5.2947 rows of 7168 bf16 values per MoE layer:
/// 1024 tokens → 128 · 5.2947 · 14,336 B = 9.716 MB. The all-to-all is pairwise α–β over
/// NVLink (450 GB/s, 2 µs a hop): fixed + 7 · 2 µs + 7/8 · bytes / 450 GB/s.
#[test]
fn dispatch_bytes_and_all_to_all_for_dp8_ep8() {
    close("distinct ranks", distinct_groups(256, 8, 8), 5.294_652, 1e-6);
    assert_eq!(distinct_groups(256, 8, 1), 1.0);
    let p = deepseek("p5en.48xlarge", 8, 8, wide(8, false));
    let m = p.expert_parallel().unwrap();
    let bytes = m.dispatch_bytes_per_rank(1024.0);
    close("dispatch bytes", bytes, 128.0 * 5.294_652 * 7168.0 * 2.0, 1e-6);
    let hw = Catalog::builtin().unwrap().hardware("p5en.48xlarge").unwrap();
    let fixed = hw.chip.efficiency.collective_latency_us * 1e3;
    let want = fixed + 7.0 * hw.chip.link.latency_us * 1e3 + 7.0 / 8.0 * bytes / hw.chip.link.bandwidth_gb_s;
    close("all-to-all", m.all_to_all_ns(bytes), want, 1e-9);
    // No MoE all-reduce in this layout: attention runs on one rank per group (tp/dp = 1).
    assert_eq!(p.allreduce().1, 0.0);
}

/// Tensor-parallel attention with expert groups has no all-to-all: every rank holds every
/// token, and the MoE output is reduced by the all-reduce tensor parallelism does anyway.
#[test]
fn tp_attention_with_ep_has_no_all_to_all() {
    let p = deepseek("p5en.48xlarge", 8, 8, MoeLayout::default());
    assert_eq!(p.expert_parallel().unwrap().step(512.0).a2a_ns, 0.0);
    assert_eq!(p.allreduce().1, 2.0 * 61.0);
}

/// MLA's latent (576 values a layer, FP8: 576 · 61 = 35,136 B a token) is replicated on every
/// rank under tensor parallelism; with 8 data-parallel attention groups a sequence's latent lives
/// on one rank only, so a rank holds 35,136 / 8 = 4,392 B per token of the replica's cache, and
/// the replica holds ~8 × the tokens, less what the group-local weights take: the non-routed
/// weights (≈17 B params) are whole on every rank instead of 1/8.
#[test]
fn attention_dp_multiplies_latent_kv_capacity() {
    let tp = deepseek("p5en.48xlarge", 8, 8, MoeLayout::default()).memory;
    let dp = deepseek("p5en.48xlarge", 8, 8, wide(8, false)).memory;
    assert_eq!(tp.kv_bytes_per_token_per_rank, 35_136.0);
    assert_eq!(dp.kv_bytes_per_token_per_rank, 4_392.0);
    let m = model("deepseek-v3");
    let routed = m.expert_params() * 256.0 * 58.0;
    let non_routed = m.params_total() - routed;
    close(
        "extra weights",
        dp.weight_bytes_per_rank - tp.weight_bytes_per_rank,
        non_routed * 7.0 / 8.0,
        1e-9,
    );
    assert_eq!(dp.kv_capacity_tokens, (dp.kv_bytes_per_rank / 4_392.0).floor() as u64);
    println!(
        "DeepSeek-V3 FP8 on p5en: KV capacity TP8 {} tokens, DP8 attention {} tokens ({:.2} ×)",
        tp.kv_capacity_tokens,
        dp.kv_capacity_tokens,
        dp.kv_capacity_tokens as f64 / tp.kv_capacity_tokens as f64
    );
    assert!(dp.kv_capacity_tokens > 5 * tp.kv_capacity_tokens);
}

/// Decode uses the absorbed MLA form (128 heads · 2,176 FLOPs a pair), prefill the naive one
/// (128 · 640); per rank of 8 data-parallel groups, 1/8 of the pairs, all 61 layers.
#[test]
fn decode_attention_is_absorbed_and_prefill_naive() {
    let p = deepseek("p5en.48xlarge", 8, 8, wide(8, false));
    assert_eq!(p.attn_decode_flops_per_pair, 2176.0 * 128.0 / 8.0 * 61.0);
    assert_eq!(p.attn_flops_per_pair, 640.0 * 128.0 / 8.0 * 61.0);
    // TP attention: 16 heads a rank.
    let t = deepseek("p5en.48xlarge", 8, 8, MoeLayout::default());
    assert_eq!(t.attn_decode_flops_per_pair, 2176.0 * 16.0 * 61.0);
}

/// Two micro-batches: the step is overhead + the all-reduces + 2 · C(T/2) + max(0, 2 · A(T/2) −
/// 2 · C(T/2)), where C is a half batch's compute and memory time and A its all-to-all: the
/// all-to-all hides behind compute instead of adding to it. Across 2 instances (16 ranks over
/// EFA) a large decode batch is communication-bound and the overlap saves exactly C' = 2 · C.
#[test]
fn overlap_takes_the_max_of_compute_and_all_to_all() {
    for (instance, tp) in [("p5en.48xlarge", 8), ("p5en.48xlarge", 16)] {
        let serial = deepseek(instance, tp, tp, wide(tp, false));
        let overlap = deepseek(instance, tp, tp, wide(tp, true));
        let b = decode_batch(512, 2048);
        let (half, a2a, ar) = overlap.work(&overlap.shape_rules().execute(&b), 1.0, 0.5);
        let busy = 2.0 * (half.compute_ns + half.memory_ns);
        let got = overlap.step(&b);
        // The fixed costs (fixed.rs, tested there) are the step's overhead part.
        let want = got.overhead_ns + 2.0 * ar + busy + (2.0 * a2a - busy).max(0.0);
        // The step's integer nanoseconds round the sum of its parts.
        assert!(
            (got.total_ns as f64 - want).abs() <= 1.0,
            "overlapped step {} ns, want {want}",
            got.total_ns
        );
        let (full, a2a_full, ar_full) = serial.work(&serial.shape_rules().execute(&b), 1.0, 1.0);
        let s = serial.step(&b);
        let want = s.overhead_ns + ar_full + full.compute_ns + full.memory_ns + a2a_full;
        assert!(
            (s.total_ns as f64 - want).abs() <= 1.0,
            "serial step {} ns, want {want}",
            s.total_ns
        );
        println!(
            "TP{tp}: serial {:.2} ms (compute+memory {:.2}, a2a {:.2}); overlapped {:.2} ms (2 halves {:.2}, a2a {:.2})",
            s.total_ns as f64 * 1e-6,
            (full.compute_ns + full.memory_ns) * 1e-6,
            a2a_full * 1e-6,
            got.total_ns as f64 * 1e-6,
            busy * 1e-6,
            2.0 * a2a * 1e-6
        );
        // The split costs: each half reads the weights again.
        assert!(busy > full.compute_ns + full.memory_ns);
    }
    // A single token is not split.
    let o = deepseek("p5en.48xlarge", 8, 8, wide(8, true));
    let s = deepseek("p5en.48xlarge", 8, 8, wide(8, false));
    assert_eq!(o.decode_step(1, 100), s.decode_step(1, 100));
}

/// The busiest group's expected load falls toward the routing skew's limit as steps grow: at
/// 8 groups, T·k = 8 assignments → 1 + e_8/√1 = 2.43 × the mean; 8,192 tokens → 1 + 1.434/√8192.
#[test]
fn busiest_load_falls_with_tokens() {
    let p = deepseek("p5en.48xlarge", 8, 8, MoeLayout::default());
    let m = p.expert_parallel().unwrap();
    close("T = 1", m.busiest_load(1.0), 1.0 + 1.434_200_2, 1e-6);
    close(
        "T = 8192",
        m.busiest_load(8192.0),
        1.0 + 1.434_200_2 / (8192.0f64).sqrt(),
        1e-6,
    );
    assert!((m.imbalance - 1.0).abs() < 1e-12);
}
