//! Model and serving tricks (issue 5): prompt caching, speculative decoding, MoE expert
//! parallelism and skew, quantization fallbacks. Through the library; small and fast.
//! Each test prints the numbers it compares (`cargo test --test features -- --nocapture`).

use codesim::perf::{BatchShape, DeploymentSpec, Parallelism, PerfModel};
use codesim::serve::prefix_cache::unbounded_hit_rate;
use codesim::sim::{RunOptions, Simulation};
use codesim::workload::trace::{TraceFormat, read_trace};
use std::path::Path;

fn scenario(text: &str) -> codesim::Scenario {
    codesim::scenario::load_str(text, Path::new("test.toml")).unwrap_or_else(|e| panic!("{e}"))
}

fn run(text: &str) -> codesim::RunResult {
    codesim::simulate(&scenario(text)).unwrap()
}

/// The Mooncake conversation trace in the repository's `data/traces`.
fn conversation_trace() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/traces/conversation_trace.jsonl")
}

// ---------------------------------------------------------------------------------------------
// Prompt (prefix) caching.

/// The Mooncake conversation trace: 288,500 prompt blocks, 182,790 distinct, so 36.64 % of the
/// blocks repeat one seen before. Its ids are prefix-chained, so an unbounded cache that only
/// counts longest cached prefixes hits exactly the repeated blocks.
#[test]
fn mooncake_unbounded_hit_rate_is_the_repeated_block_fraction() {
    let path = conversation_trace();
    let t = read_trace(&path, TraceFormat::MooncakeJsonl).unwrap();
    let rate = unbounded_hit_rate(t.requests.iter().map(|r| r.hash_ids.as_slice()));
    println!("unbounded prefix-cache block hit rate: {:.4} %", rate * 100.0);
    assert!((rate - 0.366).abs() < 0.002, "{rate}");
}

/// End to end: the same trace on one replica whose KV cache holds every block (HBM raised to
/// 100 TB), replayed fast. Admission order is arrival order, so the hit rate is the trace's.
#[test]
fn mooncake_end_to_end_hit_rate_with_a_huge_cache() {
    let path = conversation_trace();
    let r = run(&format!(
        "[hardware]\ninstance = \"p5.48xlarge\"\nchip = {{ hbm_gib = 100000.0 }}\n[model]\nname = \"llama-3.1-8b\"\n[serving]\nscheduler = \"chunked\"\n[serving.prefix_cache]\nenabled = true\n[workload]\narrival = {{ kind = \"trace\", path = \"{}\", format = \"mooncake-jsonl\", rate_scale = 1.0 }}\n",
        path.display()
    ));
    let pc = r.prefix_cache.expect("prefix cache summary");
    println!(
        "end to end: hit rate {:.4} %, saved prefill tokens {}, TTFT p50 {:.1} ms",
        pc.hit_rate * 100.0,
        pc.saved_prefill_tokens,
        r.ttft_ms.p50
    );
    assert_eq!(r.requests.completed, 12_031);
    assert!((pc.hit_rate - 0.366).abs() < 0.002, "{}", pc.hit_rate);
    // 36.6 % of 288,500 blocks of 512 tokens, less the partial last blocks.
    assert!(pc.saved_prefill_tokens > 50_000_000);
}

const PREFIX_WORKLOAD: &str = "[workload]\nrequests = 1500\narrival = { kind = \"poisson\", rate_per_s = 30.0 }\ninput = { kind = \"uniform\", min = 2500, max = 3500 }\noutput = { kind = \"uniform\", min = 50, max = 150 }\n[workload.prefix]\ngroups = 48\nsystem_tokens = 2048\nzipf = 0.6\n";

fn prefix_run(routing: &str, cache: bool) -> codesim::RunResult {
    let cache = if cache {
        "[serving.prefix_cache]\nenabled = true\n"
    } else {
        ""
    };
    // A small HBM leaves room for about 10 system prompts per replica beside the batch.
    run(&format!(
        "[hardware]\ninstance = \"p5.48xlarge\"\nchip = {{ hbm_gib = 19.0 }}\n[model]\nname = \"llama-3.1-8b\"\n[deployment]\nreplicas = 4\n[serving]\nrouting = \"{routing}\"\n{cache}{PREFIX_WORKLOAD}"
    ))
}

/// Prefix-affinity routing sends each system prompt to one replica, so every replica caches a
/// quarter of them; round-robin makes each replica cache all of them, in a cache too small.
#[test]
fn prefix_affinity_raises_the_hit_rate_over_round_robin() {
    let rr = prefix_run("round-robin", true);
    let aff = prefix_run("prefix-affinity", true);
    let (h_rr, h_aff) = (rr.prefix_cache.unwrap().hit_rate, aff.prefix_cache.unwrap().hit_rate);
    println!(
        "hit rate: round-robin {:.1} %, prefix-affinity {:.1} %; TTFT p50 {:.1} → {:.1} ms",
        h_rr * 100.0,
        h_aff * 100.0,
        rr.ttft_ms.p50,
        aff.ttft_ms.p50
    );
    assert!(h_aff > h_rr + 0.05, "{h_aff} vs {h_rr}");
}

/// Cached prefixes skip prefill: TTFT falls, the conservation of tokens holds.
#[test]
fn prefix_cache_cuts_ttft() {
    let off = prefix_run("prefix-affinity", false);
    let on = prefix_run("prefix-affinity", true);
    println!("TTFT p50: off {:.1} ms, on {:.1} ms", off.ttft_ms.p50, on.ttft_ms.p50);
    assert!(off.prefix_cache.is_none());
    assert!(on.ttft_ms.p50 < 0.8 * off.ttft_ms.p50);
    assert_eq!(on.requests.output_tokens_produced, on.requests.output_tokens_asked);
}

/// A host tier catches blocks evicted from HBM; hits from it are counted apart.
#[test]
fn host_tier_serves_evicted_blocks() {
    let r = run(&format!(
        "[hardware]\ninstance = \"p5.48xlarge\"\nchip = {{ hbm_gib = 19.0 }}\n[model]\nname = \"llama-3.1-8b\"\n[deployment]\nreplicas = 4\n[serving]\nrouting = \"round-robin\"\n[serving.prefix_cache]\nhost_tier_gib = 64.0\n{PREFIX_WORKLOAD}"
    ));
    let pc = r.prefix_cache.unwrap();
    println!(
        "host tier: hit rate {:.1} % of which host {:.1} %, swap-in {:.3} s",
        pc.hit_rate * 100.0,
        pc.hit_rate_host * 100.0,
        pc.host_swap_s
    );
    assert!(pc.hit_rate_host > 0.01);
    assert!(pc.host_swap_s > 0.0);
}

// ---------------------------------------------------------------------------------------------
// Speculative decoding.

fn spec_text(batch_clients: u32, requests: u32, spec: &str) -> String {
    format!(
        "[hardware]\ninstance = \"p5.48xlarge\"\n[model]\nname = \"llama-3.1-8b\"\n[serving]\nmax_batch = {batch_clients}\n{spec}[workload]\nrequests = {requests}\narrival = {{ kind = \"closed\", clients = {batch_clients}, think_time_s = 0.0 }}\ninput = {{ kind = \"fixed\", tokens = 512 }}\noutput = {{ kind = \"fixed\", tokens = 1000 }}\n"
    )
}

const DRAFT: &str =
    "[serving.speculative]\nmethod = \"draft\"\ndraft_model = \"llama-3.2-1b\"\ngamma = 4\nacceptance = 0.7\n";

/// At batch 1 the mean tokens per step is (1 − α^(γ+1)) / (1 − α): 2.7731 at α = 0.7, γ = 4.
#[test]
fn spec_decoding_mean_tokens_per_step_matches_closed_form_at_batch_1() {
    let r = run(&spec_text(1, 20, DRAFT));
    let s = r.speculative.expect("speculative summary");
    let closed = (1.0 - 0.7f64.powi(5)) / (1.0 - 0.7);
    // Tokens per decode step as the sequences advanced (cut at their output length).
    let decode_tokens = r.requests.output_tokens_produced - r.requests.completed;
    println!(
        "batch 1: drawn {:.4} tokens/step, closed form {closed:.4}, acceptance {:.3}; decode tokens {decode_tokens}",
        s.tokens_per_step, s.acceptance_rate
    );
    assert!((s.tokens_per_step / closed - 1.0).abs() < 0.02);
    assert!((s.expected_tokens_per_step - closed).abs() < 1e-9);
    assert_eq!(r.requests.output_tokens_produced, r.requests.output_tokens_asked);
}

/// Verification of γ + 1 tokens per sequence is nearly free while decode is memory-bound (batch
/// 1) and costs real compute at batch 128: the TPOT gain shrinks.
#[test]
fn spec_decoding_gain_shrinks_as_the_batch_grows() {
    let gain = |b: u32| {
        let base = run(&spec_text(b, 2 * b, ""));
        let spec = run(&spec_text(b, 2 * b, DRAFT));
        let g = base.tpot_ms.mean / spec.tpot_ms.mean;
        println!(
            "batch {b}: TPOT {:.2} → {:.2} ms (×{g:.2}), throughput {:.0} → {:.0} tok/s",
            base.tpot_ms.mean, spec.tpot_ms.mean, base.throughput.output_tok_s, spec.throughput.output_tok_s
        );
        g
    };
    let g1 = gain(1);
    let g128 = gain(128);
    assert!(g1 > 1.4, "{g1}");
    assert!(g128 < g1 - 0.3, "{g128} vs {g1}");
}

/// Found by the property tests (tests/properties.rs): speculative decoding claimed KV slots for
/// γ + 1 tokens per sequence even when fewer remained to be produced. A request that fits the
/// KV cache with a few tokens to spare, alone near its end, then could not fit its lookahead: the
/// replica preempted it, had nothing left to run, went idle and never woke up. The lookahead is
/// now capped at the tokens a sequence still has to produce, so a lone sequence always fits.
#[test]
fn speculative_lookahead_never_strands_a_sequence_that_fits() {
    let text = |scheduler: &str, preemption: &str, output: u64| {
        format!(
            "[hardware]\ninstance = \"p5.48xlarge\"\n[hardware.chip]\nhbm_gib = 2.57\n[model]\nname = \"llama-3.2-1b\"\n[serving]\nscheduler = \"{scheduler}\"\nmax_batch = 1\nblock_tokens = 4\npreemption = \"{preemption}\"\n[serving.speculative]\nmethod = \"heads\"\ngamma = 5\nacceptance = 0.5\n[workload]\nrequests = 4\narrival = {{ kind = \"poisson\", rate_per_s = 0.5 }}\ninput = {{ kind = \"fixed\", tokens = 261 }}\noutput = {{ kind = \"fixed\", tokens = {output} }}\n"
        )
    };
    // Requests one token short of the whole KV cache (a few hundred tokens on this chip).
    let sim = Simulation::new(&scenario(&text("continuous", "recompute", 1)), RunOptions::default()).unwrap();
    let capacity = sim.perf().memory.kv_capacity_tokens / 4 * 4;
    let output = capacity - 261 - 1;
    for preemption in ["recompute", "swap"] {
        for scheduler in ["continuous", "chunked"] {
            let opts = RunOptions {
                audit: true,
                ..RunOptions::default()
            };
            let (r, _) = Simulation::new(&scenario(&text(scheduler, preemption, output)), opts)
                .unwrap()
                .run()
                .unwrap();
            assert!(r.audit.is_empty(), "{scheduler}, {preemption}: {:#?}", r.audit);
            assert_eq!(r.requests.completed, 4, "{scheduler}, {preemption}: every request fits");
        }
    }
}

/// Draft heads cost a fraction of a target layer per drafted token: cheaper than a draft model.
#[test]
fn draft_heads_beat_a_draft_model_at_equal_acceptance() {
    let model = run(&spec_text(1, 10, DRAFT));
    let heads = run(&spec_text(
        1,
        10,
        "[serving.speculative]\nmethod = \"heads\"\ngamma = 4\nacceptance = 0.7\nheads_layer_fraction = 1.0\n",
    ));
    println!(
        "TPOT: draft model {:.2} ms, heads {:.2} ms",
        model.tpot_ms.mean, heads.tpot_ms.mean
    );
    assert!(heads.tpot_ms.mean < model.tpot_ms.mean);
}

// ---------------------------------------------------------------------------------------------
// Mixture of experts.

fn moe_perf(instance: &str, model: &str, tp: u32, ep: u32, zipf: f64) -> PerfModel {
    let sc = scenario(&format!(
        "[hardware]\ninstance = \"{instance}\"\n[model]\nname = \"{model}\"\nweights = \"fp8\"\nexpert_skew_zipf = {zipf}\n[deployment]\ntp = {tp}\nep = {ep}\n[workload]\nrequests = 1\narrival = {{ kind = \"offline\" }}\ninput = {{ kind = \"fixed\", tokens = 16 }}\noutput = {{ kind = \"fixed\", tokens = 16 }}\n"
    ));
    let mut spec = DeploymentSpec::plain(
        sc.hardware(),
        &sc.model,
        Parallelism { tp },
        sc.precision,
        sc.kv_reserve_fraction,
        "test",
    );
    spec.expert_parallel = Some((sc.features.ep, &sc.features.expert_shares[..]));
    PerfModel::build(&spec).unwrap()
}

/// Weights read per step are the experts the batch touches: a batch of 1 reads a few of
/// Qwen3-235B's 128 experts per layer, a batch of 512 nearly all.
#[test]
fn moe_small_batch_reads_fewer_expert_bytes() {
    let p = moe_perf("p5.48xlarge", "qwen3-235b-a22b", 8, 1, 0.0);
    let one = p.decode_step(1, 1024);
    let many = p.decode_step(512, 1024);
    println!(
        "qwen3-235b on 8×H100: decode step batch 1 {:.2} ms (memory {:.2} ms), batch 512 {:.2} ms (memory {:.2} ms)",
        one.total_ns as f64 * 1e-6,
        one.ideal_memory_ns * 1e-6,
        many.total_ns as f64 * 1e-6,
        many.ideal_memory_ns * 1e-6
    );
    assert!(many.ideal_memory_ns > 3.0 * one.ideal_memory_ns);
    let (b1, _) = p.physics_floor_ns(&BatchShape {
        decode_seqs: 1,
        ..Default::default()
    });
    assert!(b1 < one.ideal_memory_ns + 1.0);
}

/// The all-to-all of expert parallelism crosses EFA when the group spans instances.
#[test]
fn ep_all_to_all_costs_more_across_instances() {
    let inside = moe_perf("p5.48xlarge", "qwen3-235b-a22b", 8, 8, 0.0);
    let across = moe_perf("p5.48xlarge", "qwen3-235b-a22b", 16, 16, 0.0);
    let (a, b) = (
        inside.expert_parallel().unwrap().all_to_all_ns(16e6),
        across.expert_parallel().unwrap().all_to_all_ns(16e6),
    );
    let (ci, ca) = (inside.decode_step(256, 2048), across.decode_step(256, 2048));
    println!(
        "all-to-all of 16 MB per rank: inside one instance {:.1} µs, across two {:.1} µs; step comm {:.2} vs {:.2} ms",
        a * 1e-3,
        b * 1e-3,
        ci.comm_ns * 1e-6,
        ca.comm_ns * 1e-6
    );
    assert!(b > 2.0 * a);
}

/// A skewed router loads one expert group more than the others; it sets the step time, and the
/// summary reports the imbalance.
#[test]
fn expert_skew_raises_step_time_and_is_reported() {
    let even = moe_perf("p5.48xlarge", "qwen3-235b-a22b", 8, 8, 0.0);
    let skew = moe_perf("p5.48xlarge", "qwen3-235b-a22b", 8, 8, 1.2);
    let (e, s) = (even.prefill_step(8192), skew.prefill_step(8192));
    let imb = skew.expert_parallel().unwrap().imbalance;
    println!(
        "prefill of 8192 tokens: balanced {:.1} ms, Zipf 1.2 {:.1} ms (imbalance {imb:.2})",
        e.total_ns as f64 * 1e-6,
        s.total_ns as f64 * 1e-6
    );
    assert!((even.expert_parallel().unwrap().imbalance - 1.0).abs() < 1e-9);
    assert!(imb > 1.2);
    assert!(s.total_ns > e.total_ns);
    let r = run(
        "[hardware]\ninstance = \"p5.48xlarge\"\n[model]\nname = \"mixtral-8x7b\"\nexpert_skew_zipf = 1.0\n[deployment]\ntp = 4\nep = 4\n[workload]\nrequests = 20\narrival = { kind = \"offline\" }\ninput = { kind = \"fixed\", tokens = 256 }\noutput = { kind = \"fixed\", tokens = 32 }\n",
    );
    let moe = r.moe.expect("moe summary");
    println!("mixtral ep 4, Zipf 1.0: imbalance {:.2}", moe.imbalance);
    assert_eq!(moe.ep, 4);
    assert!(moe.imbalance > 1.0);
}

#[test]
fn ep_must_divide_experts_and_tp() {
    let e = codesim::scenario::load_str(
        "[hardware]\ninstance = \"p5.48xlarge\"\n[model]\nname = \"mixtral-8x7b\"\n[deployment]\ntp = 8\nep = 3\n[workload]\nrequests = 1\narrival = { kind = \"offline\" }\ninput = { kind = \"fixed\", tokens = 16 }\noutput = { kind = \"fixed\", tokens = 16 }\n",
        Path::new("t.toml"),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("deployment.ep"), "{e}");
}

// ---------------------------------------------------------------------------------------------
// Quantization.

/// An A100 has no fp8 tensor cores: fp8 weights compute in bf16, with a note in the result.
#[test]
fn fp8_on_a100_falls_back_to_bf16_with_a_note() {
    let r = run(
        "[hardware]\ninstance = \"p4de.24xlarge\"\n[model]\nname = \"llama-3.1-8b\"\nweights = \"fp8\"\nkv_cache = \"fp8\"\n[workload]\nrequests = 4\narrival = { kind = \"offline\" }\ninput = { kind = \"fixed\", tokens = 128 }\noutput = { kind = \"fixed\", tokens = 16 }\n",
    );
    println!("notes: {:?}", r.notes);
    assert!(
        r.notes.iter().any(|n| n.contains("fp8") && n.contains("bf16")),
        "{:?}",
        r.notes
    );
}

/// Smaller weights and KV: int4 weights read a quarter of the bf16 bytes, fp8 KV holds twice
/// the tokens.
#[test]
fn quantized_weights_and_kv_change_memory_and_bandwidth() {
    let perf = |w: &str, kv: &str| {
        let sc = scenario(&format!(
            "[hardware]\ninstance = \"p5.48xlarge\"\n[model]\nname = \"llama-3.1-8b\"\nweights = \"{w}\"\nkv_cache = \"{kv}\"\n[workload]\nrequests = 1\narrival = {{ kind = \"offline\" }}\ninput = {{ kind = \"fixed\", tokens = 16 }}\noutput = {{ kind = \"fixed\", tokens = 16 }}\n"
        ));
        PerfModel::new(sc.hardware(), &sc.model, Parallelism { tp: 1 }, sc.precision, 0.1, "t").unwrap()
    };
    let bf16 = perf("bf16", "bf16");
    let int4 = perf("int4", "fp8");
    println!(
        "weights per rank {:.2} → {:.2} GB, KV tokens {} → {}",
        bf16.memory.weight_bytes_per_rank / 1e9,
        int4.memory.weight_bytes_per_rank / 1e9,
        bf16.memory.kv_capacity_tokens,
        int4.memory.kv_capacity_tokens
    );
    assert!((int4.memory.weight_bytes_per_rank / bf16.memory.weight_bytes_per_rank - 0.25).abs() < 0.01);
    assert!(int4.memory.kv_capacity_tokens > 2 * bf16.memory.kv_capacity_tokens);
    assert!(int4.decode_step(1, 512).ideal_memory_ns < 0.5 * bf16.decode_step(1, 512).ideal_memory_ns);
}

/// A cluster-wide remote tier (pooled memory over EFA) serves prefixes a round-robin router
/// sent elsewhere first.
#[test]
fn remote_tier_serves_prefixes_cached_on_other_replicas() {
    let local = prefix_run("round-robin", true);
    let r = run(&format!(
        "[hardware]\ninstance = \"p5.48xlarge\"\nchip = {{ hbm_gib = 19.0 }}\n[model]\nname = \"llama-3.1-8b\"\n[deployment]\nreplicas = 4\n[serving]\nrouting = \"round-robin\"\n[serving.prefix_cache]\nremote_tier_gib = 512.0\n{PREFIX_WORKLOAD}"
    ));
    let (l, pc) = (local.prefix_cache.unwrap(), r.prefix_cache.unwrap());
    println!(
        "round-robin: local only {:.1} %, with remote tier {:.1} % (remote {:.1} %, fetch {:.3} s)",
        l.hit_rate * 100.0,
        pc.hit_rate * 100.0,
        pc.hit_rate_remote * 100.0,
        pc.remote_fetch_s
    );
    assert!(pc.hit_rate_remote > 0.05);
    assert!(pc.hit_rate > l.hit_rate + 0.05);
}
