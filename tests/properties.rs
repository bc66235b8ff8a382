//! Property-based tests (proptest) of the engine and the cost model: random small scenarios run
//! under the invariant audit (`RunOptions::audit`) must conserve requests and tokens, keep time
//! monotone and timestamps ordered, and never over-allocate or leak KV blocks; latency must not
//! fall when the same traffic comes faster; the cost model must be monotone, add up and respect
//! the roofline. A failing case prints the scenario TOML that reproduces it
//! (`codesim run case.toml`).

use codesim::dtype::Dtype;
use codesim::hw::{Catalog, GIB, ShapeBuckets};
use codesim::metrics::RequestRow;
use codesim::model::builtin_presets;
use codesim::perf::{BatchShape, Parallelism, PerfModel, Precision};
use codesim::sim::{RunOptions, Simulation};
use proptest::prelude::*;
use proptest::test_runner::{RngSeed, TestCaseError};
use std::fmt::Write as _;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

#[path = "properties/bounds.rs"]
mod bounds;

const INSTANCES: [&str; 3] = ["p5.48xlarge", "inf2.48xlarge", "trn1.32xlarge"];
const MODELS: [&str; 5] = [
    "llama-3.2-1b",
    "llama-3.2-3b",
    "llama-2-7b",
    "llama-3-8b",
    "mixtral-8x7b",
];
const ROUTING: [&str; 5] = [
    "round-robin",
    "least-outstanding",
    "least-tokens",
    "power-of-two",
    "prefix-affinity",
];

/// Tensor-parallel sizes every instance accepts for every model above (an H100 needs TP to
/// divide the attention heads: 32 or 24), and the whole instance.
fn tp_choices(instance: &str) -> Vec<u32> {
    let full = match instance {
        "p5.48xlarge" => 8,
        "inf2.48xlarge" => 24,
        _ => 32,
    };
    let mut v = vec![1, 2, 4, 8];
    if full > 8 {
        v.push(full);
    }
    v
}

#[derive(Debug, Clone)]
enum Arrival {
    Poisson(f64),
    Gamma(f64, f64),
    Closed(u32, f64),
    Static(u32),
    Offline,
}

#[derive(Debug, Clone)]
enum Len {
    Fixed(u32),
    Uniform(u32, u32),
    Lognormal(f64, f64, u32),
}

impl Len {
    fn max(&self) -> u32 {
        match *self {
            Len::Fixed(t) => t,
            Len::Uniform(_, hi) | Len::Lognormal(_, _, hi) => hi,
        }
    }
    fn toml(&self) -> String {
        match *self {
            Len::Fixed(t) => format!("{{ kind = \"fixed\", tokens = {t} }}"),
            Len::Uniform(lo, hi) => format!("{{ kind = \"uniform\", min = {lo}, max = {hi} }}"),
            Len::Lognormal(mean, cv, max) => {
                format!("{{ kind = \"lognormal\", mean = {mean:.1}, cv = {cv:.2}, max = {max} }}")
            }
        }
    }
}

/// How the deployment is laid out.
#[derive(Debug, Clone)]
enum Layout {
    /// `replicas` replicas of `pp` stages (pp > 1 only where the stages fit one instance).
    Unified { replicas: u32, pp: u32 },
    /// One prefill and `decode` decode replicas of the same TP.
    Disaggregated { decode: u32 },
}

#[derive(Debug, Clone)]
struct Serving {
    scheduler: &'static str,
    max_batch: u32,
    max_batched_tokens: u32,
    block_tokens: u32,
    reserve: bool,
    swap: bool,
    max_queue: Option<u32>,
    routing: &'static str,
    /// Prefix cache with a synthetic prompt model: (system prompts, their tokens, host-tier GiB).
    prefix_cache: Option<(u32, u32, f64)>,
    /// Speculative decoding with draft heads: (γ, acceptance).
    speculative: Option<(u32, f64)>,
    /// Queue order, preemption victim, and priority preemption (where it applies).
    order: (&'static str, &'static str, bool),
}

#[derive(Debug, Clone)]
struct Case {
    instance: &'static str,
    model: &'static str,
    tp: u32,
    layout: Layout,
    serving: Serving,
    /// KV cache of a replica, in units of the longest possible request: below 1 some requests
    /// can never fit (they are dropped); near 1 most batches preempt.
    kv_requests: f64,
    requests: u32,
    arrival: Arrival,
    input: Len,
    output: Len,
    prefix_groups: Option<u32>,
    classes: bool,
    seed: u64,
}

fn arrival() -> impl Strategy<Value = Arrival> {
    prop_oneof![
        (0.5f64..60.0).prop_map(Arrival::Poisson),
        (0.5f64..60.0, 0.3f64..4.0).prop_map(|(r, cv)| Arrival::Gamma(r, cv)),
        (1u32..24, prop_oneof![Just(0.0), 0.0f64..0.5]).prop_map(|(c, t)| Arrival::Closed(c, t)),
        (1u32..48).prop_map(Arrival::Static),
        Just(Arrival::Offline),
    ]
}

fn length(max: u32) -> impl Strategy<Value = Len> {
    prop_oneof![
        (1..=max).prop_map(Len::Fixed),
        (1..=max, 0..=max).prop_map(move |(lo, span)| Len::Uniform(lo, (lo + span).min(max).max(lo))),
        (1.0..max as f64, 0.2f64..2.0).prop_map(move |(mean, cv)| Len::Lognormal(mean, cv, max)),
    ]
}

fn serving() -> impl Strategy<Value = Serving> {
    (
        (
            prop::sample::select(vec!["continuous", "chunked", "static"]),
            prop_oneof![1u32..8, 8u32..64],
            prop_oneof![Just(8192u32), 16u32..1024],
            prop::sample::select(vec![1u32, 4, 16, 32]),
            prop::bool::weighted(0.2),
            prop::bool::weighted(0.4),
        ),
        (
            prop::option::weighted(0.15, 1u32..16),
            prop::sample::select(ROUTING.to_vec()),
            prop::option::weighted(0.3, (1u32..6, 0u32..400, prop_oneof![Just(0.0), 0.001f64..0.05])),
            prop::option::weighted(0.3, (1u32..6, 0.0f64..1.0)),
        ),
        (
            prop::sample::select(vec!["priority", "fcfs", "sjf-predicted", "sjf-prompt"]),
            prop::sample::select(vec!["newest", "fewest-blocks", "most-blocks"]),
            prop::bool::weighted(0.5),
        ),
    )
        .prop_map(
            |(
                (scheduler, max_batch, max_batched_tokens, block_tokens, reserve, swap),
                (max_queue, routing, pc, spec),
                order,
            )| {
                Serving {
                    scheduler,
                    max_batch,
                    max_batched_tokens,
                    block_tokens,
                    reserve,
                    swap,
                    max_queue,
                    routing,
                    prefix_cache: pc,
                    // Speculative decoding needs continuous or chunked batching.
                    speculative: spec.filter(|_| scheduler != "static"),
                    order,
                }
            },
        )
}

fn case() -> impl Strategy<Value = Case> {
    let hw = prop::sample::select(INSTANCES.to_vec())
        .prop_flat_map(|i| (Just(i), prop::sample::select(tp_choices(i))))
        .prop_flat_map(|(i, tp)| {
            let layout = prop_oneof![
                6 => (1u32..=4).prop_map(|replicas| Layout::Unified { replicas, pp: 1 }),
                1 => Just(Layout::Unified { replicas: 1, pp: 2 }),
                1 => (1u32..=2).prop_map(|decode| Layout::Disaggregated { decode }),
            ];
            (Just(i), Just(tp), layout)
        });
    (
        hw,
        prop::sample::select(MODELS.to_vec()),
        serving(),
        prop_oneof![1.01f64..1.2, 1.2f64..4.0, 4.0f64..30.0],
        (10u32..100, arrival(), length(600), length(160)),
        (
            prop::option::weighted(0.2, 1u32..8),
            prop::bool::weighted(0.2),
            any::<u64>(),
        ),
    )
        .prop_map(
            |(
                (instance, tp, layout),
                model,
                serving,
                kv_requests,
                (requests, arrival, input, output),
                (prefix_groups, classes, seed),
            )| {
                // Pipeline stages must fit one instance with this TP.
                let layout = match layout {
                    Layout::Unified { pp: 2, .. } if tp * 2 > *tp_choices(instance).last().unwrap() => {
                        Layout::Unified { replicas: 1, pp: 1 }
                    }
                    l => l,
                };
                Case {
                    instance,
                    model,
                    tp,
                    layout,
                    serving,
                    kv_requests,
                    requests,
                    arrival,
                    input,
                    output,
                    prefix_groups,
                    classes,
                    seed,
                }
            },
        )
}

impl Case {
    /// The scenario, with `chip` as its chip overrides.
    fn toml_with_chip(&self, chip: &str) -> String {
        let s = &self.serving;
        let mut t = String::new();
        writeln!(t, "seed = {}", self.seed).unwrap();
        writeln!(t, "[hardware]\ninstance = \"{}\"\n{chip}", self.instance).unwrap();
        writeln!(t, "[model]\nname = \"{}\"", self.model).unwrap();
        match self.layout {
            Layout::Unified { replicas, pp } => {
                writeln!(t, "[deployment]\ntp = {}\npp = {pp}\nreplicas = {replicas}", self.tp).unwrap()
            }
            Layout::Disaggregated { decode } => writeln!(
                t,
                "[disaggregation]\nprefill = {{ tp = {tp}, replicas = 1 }}\ndecode = {{ tp = {tp}, replicas = {decode} }}",
                tp = self.tp
            )
            .unwrap(),
        }
        writeln!(
            t,
            "[serving]\nscheduler = \"{}\"\nmax_batch = {}\nmax_batched_tokens = {}\nblock_tokens = {}\nkv_admission = \"{}\"\npreemption = \"{}\"\nrouting = \"{}\"",
            s.scheduler,
            s.max_batch,
            // Prefill-first batching prefills a prompt whole: its budget holds the longest.
            if s.scheduler == "continuous" {
                s.max_batched_tokens.max(self.input.max())
            } else {
                s.max_batched_tokens
            },
            s.block_tokens,
            if s.reserve { "reserve" } else { "optimistic" },
            if s.swap { "swap" } else { "recompute" },
            s.routing
        )
        .unwrap();
        if let Some(q) = s.max_queue {
            writeln!(t, "max_queue = {q}").unwrap();
        }
        let (order, victim, priority_preemption) = s.order;
        writeln!(t, "queue_order = \"{order}\"\npreemption_victim = \"{victim}\"").unwrap();
        // Priority preemption where it applies: class order, classes, blocks that grow.
        if priority_preemption && order == "priority" && self.classes && !s.reserve && s.scheduler != "static" {
            writeln!(t, "priority_preemption = true").unwrap();
        }
        let open_loop = !matches!(self.arrival, Arrival::Closed(..));
        if let Some((_, _, host_gib)) = s.prefix_cache {
            writeln!(t, "[serving.prefix_cache]\nenabled = true\nhost_tier_gib = {host_gib}").unwrap();
        }
        if let Some((gamma, acceptance)) = s.speculative {
            writeln!(
                t,
                "[serving.speculative]\nmethod = \"heads\"\ngamma = {gamma}\nacceptance = {acceptance:.3}"
            )
            .unwrap();
        }
        let arrival = match self.arrival {
            Arrival::Poisson(r) => format!("{{ kind = \"poisson\", rate_per_s = {r:.3} }}"),
            Arrival::Gamma(r, cv) => format!("{{ kind = \"gamma\", rate_per_s = {r:.3}, cv = {cv:.2} }}"),
            Arrival::Closed(c, think) => {
                format!("{{ kind = \"closed\", clients = {c}, think_time_s = {think:.3} }}")
            }
            Arrival::Static(b) => format!("{{ kind = \"static\", batch = {b} }}"),
            Arrival::Offline => "{ kind = \"offline\" }".into(),
        };
        writeln!(
            t,
            "[workload]\nrequests = {}\narrival = {arrival}\ninput = {}\noutput = {}",
            self.requests,
            self.input.toml(),
            self.output.toml()
        )
        .unwrap();
        if let Some(g) = self.prefix_groups {
            writeln!(t, "prefix_groups = {g}").unwrap();
        }
        if let (Some((groups, system_tokens, _)), true) = (s.prefix_cache, open_loop) {
            writeln!(
                t,
                "[workload.prefix]\ngroups = {groups}\nsystem_tokens = {system_tokens}\nzipf = 0.8"
            )
            .unwrap();
        }
        if self.classes {
            t.push_str("[[workload.classes]]\nname = \"interactive\"\nshare = 0.3\npriority = 0\n");
            t.push_str("[[workload.classes]]\nname = \"batch\"\nshare = 0.7\npriority = 1\n");
        }
        t
    }

    /// The full scenario: the chip's HBM set so that a replica's KV cache holds `kv_requests`
    /// (at least 1) of the longest request (weights, reserve and all; a contiguous layout's slot of it),
    /// whatever the model and TP.
    fn toml(&self) -> Result<String, String> {
        // First with memory to spare, to learn the weights' and a token's bytes per rank.
        let base = self.toml_with_chip("[hardware.chip]\nhbm_gib = 100000.0");
        let sc = load(&base)?;
        let sim = Simulation::new(&sc, RunOptions::default()).map_err(|e| format!("{e}\n{base}"))?;
        let m = &sim.perf().memory;
        let longest = self.input.max() + self.output.max();
        // A contiguous KV layout (Transformers NeuronX chips) holds a whole slot per sequence:
        // the longest request padded to its token bucket, and at least one slot (fewer is an
        // infeasible deployment, refused at load), with 0.1 % to spare for the GiB rounding.
        let (longest, kv_requests) = match sim.perf().max_resident_seqs(longest as u64) {
            Some((_, slot)) => (slot as f64 * 1.001, self.kv_requests.max(1.0)),
            // A block cache: the longest request in whole blocks, in each of a pipeline's pp
            // lanes (which share the cache); one request fits at least (fewer is refused at
            // load, as every such request would be dropped).
            None => {
                let pp = match self.layout {
                    Layout::Unified { pp, .. } => pp,
                    Layout::Disaggregated { .. } => 1,
                };
                let blocks = longest.div_ceil(self.serving.block_tokens) * self.serving.block_tokens;
                (blocks as f64 * pp as f64 * 1.001, self.kv_requests)
            }
        };
        let kv_bytes = (kv_requests * longest).max(2.0) * m.kv_bytes_per_token_per_rank;
        let rank_bytes = (m.weight_bytes_per_rank + kv_bytes) / (1.0 - sc.kv_reserve_fraction);
        let chip_gib = rank_bytes * sc.hardware().chip.ranks_per_chip as f64 / GIB;
        Ok(self.toml_with_chip(&format!("[hardware.chip]\nhbm_gib = {chip_gib:.9}")))
    }
}

fn load(toml: &str) -> Result<codesim::Scenario, String> {
    codesim::scenario::load_str(toml, Path::new("case.toml")).map_err(|e| format!("{e}\n--- scenario ---\n{toml}"))
}

/// Runs a scenario under the audit, keeping its request rows; a panic becomes an error that
/// shows the scenario.
fn run_audited(toml: &str) -> Result<(codesim::RunResult, Vec<RequestRow>), String> {
    let sc = load(toml)?;
    let opts = RunOptions {
        keep_requests: true,
        audit: true,
        timeline: None,
    };
    catch_unwind(AssertUnwindSafe(|| Simulation::new(&sc, opts).and_then(|s| s.run())))
        .map_err(|p| {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            format!("panicked: {msg}\n--- scenario ---\n{toml}")
        })?
        .map_err(|e| format!("{e}\n--- scenario ---\n{toml}"))
}

fn fail(what: String, toml: &str) -> TestCaseError {
    TestCaseError::fail(format!("{what}\n--- scenario (save as case.toml) ---\n{toml}"))
}

/// `cases` cases from a fixed seed, so that every run (and CI) checks the same scenarios; set
/// PROPTEST_RNG_SEED (and PROPTEST_CASES) to explore others. Failures are not persisted to
/// files: the message carries the scenario.
fn config(cases: u32) -> ProptestConfig {
    let mut c = ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    if let Ok(n) = std::env::var("PROPTEST_CASES") {
        c.cases = n.parse().unwrap_or(cases);
    }
    if std::env::var_os("PROPTEST_RNG_SEED").is_none() {
        c.rng_seed = RngSeed::Fixed(0xC0DE_51A1);
    }
    c
}

proptest! {
    #![proptest_config(config(128))]

    /// Properties 1, 3 and 4 on one random scenario: every arrival completes, is dropped (it can
    /// never fit a replica's KV cache) or is rejected (admission limit); completed requests got
    /// exactly the tokens they asked for, which are the tokens the steps produced; under the
    /// audit, time never moved backwards, every request's timestamps are ordered, every
    /// replica's KV blocks stayed within the cache and equal to what its running sequences hold
    /// after every event, and at the end no block, swap space or prefix-cache pin is left. The
    /// result respects the physical bounds of `properties/bounds.rs`: no metric NaN or
    /// negative, no fraction above 1, power ≤ Σ TDP × PUE, output tokens/s ≤ the FLOP bound.
    #[test]
    fn requests_and_tokens_are_conserved_and_invariants_hold(case in case()) {
        let toml = case.toml().map_err(TestCaseError::fail)?;
        let (r, rows) = run_audited(&toml).map_err(TestCaseError::fail)?;
        if !r.audit.is_empty() {
            return Err(fail(format!("audit violations:\n  {}", r.audit.join("\n  ")), &toml));
        }
        let c = r.requests;
        if c.arrived != case.requests as u64 || c.arrived != c.completed + c.dropped + c.rejected {
            return Err(fail(format!("{} requests, arrived {} ≠ completed {} + dropped {} + rejected {}", case.requests, c.arrived, c.completed, c.dropped, c.rejected), &toml));
        }
        let asked_completed: u64 = rows.iter().map(|x| x.output_tokens as u64).sum();
        if rows.len() as u64 != c.completed || c.output_tokens_produced != asked_completed {
            return Err(fail(format!("{} rows for {} completions; produced {} tokens, completed requests asked {asked_completed}", rows.len(), c.completed, c.output_tokens_produced), &toml));
        }
        if c.dropped + c.rejected == 0 && c.output_tokens_asked != c.output_tokens_produced {
            return Err(fail(format!("nothing dropped, yet {} tokens asked and {} produced", c.output_tokens_asked, c.output_tokens_produced), &toml));
        }
        if let Some(x) = rows.iter().find(|x| !(0.0 <= x.queue_ms && x.queue_ms <= x.ttft_ms && x.ttft_ms <= x.e2e_ms)) {
            return Err(fail(format!("request {}: queue {} ms, TTFT {} ms, E2E {} ms out of order", x.id, x.queue_ms, x.ttft_ms, x.e2e_ms), &toml));
        }
        let sc = load(&toml).map_err(TestCaseError::fail)?;
        bounds::check(&sc, &r).map_err(|e| fail(e, &toml))?;
    }
}

/// The audit is not vacuous: a scenario that preempts (a KV cache for ~3 requests under an
/// offline burst), with a prefix cache and swap, is checked after every event and passes; the
/// run also matches the unaudited one exactly (the audit observes, never changes, the run).
#[test]
fn audit_observes_without_changing_the_run() {
    let toml = "[hardware]\ninstance = \"p5.48xlarge\"\n[hardware.chip]\nhbm_gib = 2.9\n[model]\nname = \"llama-3.2-1b\"\n[serving]\npreemption = \"swap\"\nscheduler = \"chunked\"\nmax_batched_tokens = 256\n[serving.prefix_cache]\nenabled = true\n[workload]\nrequests = 60\narrival = { kind = \"offline\" }\ninput = { kind = \"uniform\", min = 100, max = 3000 }\noutput = { kind = \"uniform\", min = 1, max = 600 }\n[workload.prefix]\ngroups = 3\nsystem_tokens = 256\n";
    let (audited, _) = run_audited(toml).unwrap();
    assert!(audited.audit.is_empty(), "{:#?}", audited.audit);
    assert!(audited.requests.preempted > 0, "the scenario must preempt");
    let plain = codesim::simulate(&load(toml).unwrap()).unwrap();
    let strip = |mut r: codesim::RunResult| {
        r.sim.wall_s = 0.0;
        r
    };
    assert_eq!(strip(audited), strip(plain));
}

// ---------------------------------------------------------------------------------------------
// Property 2: monotonicity in load.

#[derive(Debug, Clone)]
struct LoadCase {
    instance: &'static str,
    model: &'static str,
    tp: u32,
    replicas: u32,
    scheduler: &'static str,
    max_batch: u32,
    routing: &'static str,
    requests: u32,
    input: Len,
    output: Len,
    rate: f64,
    factor: f64,
    seed: u64,
}

impl LoadCase {
    fn toml(&self, rate: f64) -> String {
        format!(
            "seed = {}\n[hardware]\ninstance = \"{}\"\n[model]\nname = \"{}\"\n[deployment]\ntp = {}\nreplicas = {}\n[serving]\nscheduler = \"{}\"\nmax_batch = {}\nrouting = \"{}\"\n[workload]\nrequests = {}\narrival = {{ kind = \"poisson\", rate_per_s = {rate} }}\ninput = {}\noutput = {}\n",
            self.seed,
            self.instance,
            self.model,
            self.tp,
            self.replicas,
            self.scheduler,
            self.max_batch,
            self.routing,
            self.requests,
            self.input.toml(),
            self.output.toml()
        )
    }
}

/// (instance, model, TP) whose weights fit the instance's HBM with room for a KV cache.
fn deployments_that_fit() -> Vec<(&'static str, &'static str, u32)> {
    static FIT: std::sync::OnceLock<Vec<(&'static str, &'static str, u32)>> = std::sync::OnceLock::new();
    FIT.get_or_init(|| {
        let mut v = Vec::new();
        for i in INSTANCES {
            for m in MODELS {
                for tp in tp_choices(i) {
                    let t = format!("[hardware]\ninstance = \"{i}\"\n[model]\nname = \"{m}\"\n[deployment]\ntp = {tp}\n[workload]\nrequests = 1\narrival = {{ kind = \"offline\" }}\ninput = {{ kind = \"fixed\", tokens = 1 }}\noutput = {{ kind = \"fixed\", tokens = 1 }}\n");
                    let fits = load(&t).is_ok_and(|sc| Simulation::new(&sc, RunOptions::default()).is_ok());
                    if fits {
                        v.push((i, m, tp));
                    }
                }
            }
        }
        v
    })
    .clone()
}

fn load_case() -> impl Strategy<Value = LoadCase> {
    (
        prop::sample::select(deployments_that_fit()),
        (
            1u32..=3,
            prop::sample::select(vec!["continuous", "chunked"]),
            1u32..64,
            prop::sample::select(ROUTING.to_vec()),
        ),
        (200u32..400, length(2000), length(400)),
        (0.05f64..8.0, 1.5f64..4.0, any::<u64>()),
    )
        .prop_map(
            |(
                (instance, model, tp),
                (replicas, scheduler, max_batch, routing),
                (requests, input, output),
                (rate, factor, seed),
            )| LoadCase {
                instance,
                model,
                tp,
                replicas,
                scheduler,
                max_batch,
                routing,
                requests,
                input,
                output,
                rate,
                factor,
                seed,
            },
        )
}

proptest! {
    #![proptest_config(config(32))]

    /// Property 2. The same traffic (one seed; arrival gaps and lengths draw from independent
    /// streams, so a higher Poisson rate gives the same requests with every gap scaled down) at
    /// 1.5–4× the rate, both runs in a steady state (`saturation` = stable), under continuous or
    /// chunked batching.
    ///
    /// What is not guaranteed, and why the property is stated this way: a request's own E2E can
    /// fall when the traffic comes faster. It waits for the residual of the step in progress when
    /// it arrives, and compressing time changes which step that is (measured: 13 of 299 requests
    /// 0.4–3.6 ms faster at twice the rate on an H100); static batching makes that residual a
    /// whole batch (p50 down 27 % at 2.3× the rate: a request that used to miss a batch now joins
    /// it), and in an overloaded run the latency is the backlog's drain, which fuller batches
    /// speed up (mean down 1.6 %). None of those is a bug, so static batching and overloaded
    /// runs are left out.
    ///
    /// What holds (on 1,600 random cases, 4 seeds × PROPTEST_CASES=400, when this was written; an
    /// observation, not a theorem): the extra queueing and the larger decode batches (slower
    /// steps, property 5) outweigh the phase effects in the mean, which must not fall at all;
    /// the median sits on one request, whose phase can move it by about one step, so p50 may
    /// fall by at most one inter-token gap at the slower rate's p99 (every step a request can
    /// wait on is one such gap for the sequences it stalls).
    #[test]
    fn latency_does_not_fall_when_the_same_traffic_comes_faster(case in load_case()) {
        let slow_toml = case.toml(case.rate);
        let fast_toml = case.toml(case.rate * case.factor);
        let run = |t: &str| -> Result<codesim::RunResult, TestCaseError> {
            codesim::simulate(&load(t).map_err(TestCaseError::fail)?).map_err(|e| fail(e.to_string(), t))
        };
        let (slow, fast) = (run(&slow_toml)?, run(&fast_toml)?);
        prop_assume!(slow.saturation == "stable" && fast.saturation == "stable");
        prop_assert_eq!(slow.requests.completed, fast.requests.completed);
        let (a, b) = (slow.e2e_ms, fast.e2e_ms);
        let p50_slack = slow.itl_ms.p99;
        if b.mean < a.mean || b.p50 < a.p50 - p50_slack {
            return Err(fail(
                format!(
                    "×{:.2} the rate: mean E2E {:.3} → {:.3} ms, p50 {:.3} → {:.3} ms (slack {p50_slack:.3} ms)\n--- slower run ---\n{slow_toml}",
                    case.factor, a.mean, b.mean, a.p50, b.p50
                ),
                &fast_toml,
            ));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Property 5: the cost model.

/// Instances of the cost-model properties: the three of the serving properties and the newer
/// generations of each family.
const PERF_INSTANCES: [&str; 11] = [
    "p5.48xlarge",
    "inf2.48xlarge",
    "trn1.32xlarge",
    "p5en.48xlarge",
    "trn2.48xlarge",
    "p4de.24xlarge",
    "p6-b200.48xlarge",
    "p6-b300.48xlarge",
    "p6e-gb200.36xlarge",
    "trn3.48xlarge",
    "trn3-gen2-server",
];
const PERF_MODELS: [&str; 10] = [
    "llama-3.2-1b",
    "llama-3-8b",
    "mistral-7b-v0.2",
    "llama-2-13b",
    "llama-3.3-70b",
    "mixtral-8x7b",
    "qwen3-235b-a22b",
    // Sliding-window, chunked and linear-attention layers (issue 19).
    "gpt-oss-20b",
    "llama-4-scout-17b-16e",
    "qwen3-next-80b-a3b",
];

#[derive(Debug, Clone, Copy)]
struct Deployment {
    instance: &'static str,
    model: &'static str,
    tp: u32,
    weights: Dtype,
    /// The chip compiles static shape buckets.
    buckets: bool,
}

impl Deployment {
    /// The cost model, if the weights fit (with a KV cache) at this TP.
    fn perf(&self) -> Option<PerfModel> {
        let hw = Catalog::builtin().unwrap().hardware(self.instance).unwrap();
        let model = builtin_presets().unwrap().into_iter().find(|m| m.name == self.model)?;
        if hw.chip.kind == codesim::hw::ChipKind::Gpu && model.heads % self.tp != 0 {
            return None;
        }
        // As a scenario defaults it: integer weights compute in bf16.
        let compute = match self.weights {
            Dtype::Int8 | Dtype::Int4 => Dtype::Bf16,
            w => w,
        };
        let prec = Precision {
            weights: self.weights,
            compute,
            kv_cache: Dtype::Bf16,
            activations: Dtype::Bf16,
            weight_format: codesim::dtype::WeightFormat::Plain,
        };
        PerfModel::new(&hw, &model, Parallelism { tp: self.tp }, prec, 0.1, "property").ok()
    }
}

/// Every (instance, model, TP, weight dtype) whose weights fit, with its cost model.
fn perf_models() -> &'static [(Deployment, PerfModel)] {
    static ALL: std::sync::OnceLock<Vec<(Deployment, PerfModel)>> = std::sync::OnceLock::new();
    ALL.get_or_init(|| {
        let mut v = Vec::new();
        for instance in PERF_INSTANCES {
            let hw = Catalog::builtin().unwrap().hardware(instance).unwrap();
            let ranks = hw.ranks_per_instance();
            for model in PERF_MODELS {
                for tp in [1, 2, 4, 8, 16, 32, 64].into_iter().filter(|&t| t <= ranks) {
                    for weights in [Dtype::Bf16, Dtype::Fp8, Dtype::Int8, Dtype::Nvfp4, Dtype::Mxfp4] {
                        let d = Deployment {
                            instance,
                            model,
                            tp,
                            weights,
                            buckets: hw.chip.efficiency.shape_buckets != ShapeBuckets::None,
                        };
                        if let Some(p) = d.perf() {
                            v.push((d, p));
                        }
                    }
                }
            }
        }
        v
    })
}

/// A batch: `decode` sequences attending to `ctx` tokens each, and `prefill` prompts of `chunk`
/// new tokens after `before` cached ones.
#[derive(Debug, Clone, Copy)]
struct Shape {
    decode: u32,
    ctx: u64,
    prefill: u32,
    chunk: u64,
    before: u64,
}

impl Shape {
    fn batch(&self) -> BatchShape {
        let mut b = BatchShape::default();
        for _ in 0..self.decode {
            b.add_decode(self.ctx);
        }
        for _ in 0..self.prefill {
            b.add_prefill(self.chunk, self.before);
        }
        b
    }
}

fn shape() -> impl Strategy<Value = Shape> {
    (
        0u32..300,
        1u64..32_768,
        0u32..8,
        1u64..8192,
        prop_oneof![Just(0u64), 1u64..16_384],
    )
        .prop_filter("a step has work", |&(d, _, p, _, _)| d + p > 0)
        .prop_map(|(decode, ctx, prefill, chunk, before)| Shape {
            decode,
            ctx,
            prefill,
            chunk,
            before,
        })
}

/// One more unit of work along one axis: a decode sequence, decode context, a prompt, prompt
/// tokens, or cached context before the prompts.
fn grow(s: Shape, axis: usize, by: u64) -> Shape {
    let mut g = s;
    match axis {
        0 => g.decode += by as u32,
        1 => g.ctx += by,
        2 => g.prefill += by as u32,
        3 => g.chunk += by,
        _ => g.before += by,
    }
    g
}

proptest! {
    #![proptest_config(config(512))]

    /// Property 5 on every sampled deployment and batch: a step's parts add up to its total (to
    /// the nanosecond of rounding); no step beats the roofline (weight bytes over HBM bandwidth,
    /// FLOPs over peak); and more work never takes less time: one more decode sequence, a longer
    /// decode context, one more prompt, a longer prompt or more cached context before it.
    #[test]
    fn step_time_adds_up_respects_the_roofline_and_grows_with_work(
        i in any::<prop::sample::Index>(),
        s in shape(),
        axis in 0usize..5,
        by in prop_oneof![Just(1u64), 1u64..4096],
    ) {
        let (d, p) = &perf_models()[i.index(perf_models().len())];
        // Longer contexts or prompts need sequences or prompts to lengthen: else add one.
        let axis = match axis {
            1 if s.decode == 0 => 0,
            3 | 4 if s.prefill == 0 => 2,
            a => a,
        };
        // Stacks with compiled shape buckets (Neuron) pad a prompt without cached context to its
        // bucket, but not one that continues cached context (a later chunk, a prefix-cache hit,
        // a speculative verification): two kernels, each monotone, with a step down between
        // them (see the report of tests/properties.rs). Compare within the second.
        let mut s = s;
        if d.buckets && axis == 4 && s.before == 0 {
            s.before = 1;
        }
        let b = s.batch();
        let c = p.step(&b);
        let parts = c.compute_ns + c.memory_ns + c.comm_ns + c.overhead_ns;
        prop_assert!((parts - c.total_ns as f64).abs() <= 1.0, "{d:?} {s:?}: parts {parts} ns, total {} ns", c.total_ns);
        let (mem_floor, flop_floor) = p.physics_floor_ns(&b);
        prop_assert!(c.total_ns as f64 >= mem_floor.max(flop_floor) * (1.0 - 1e-12),
            "{d:?} {s:?}: {} ns beats the roofline (weights over HBM {mem_floor:.0} ns, FLOPs over peak {flop_floor:.0} ns)", c.total_ns);
        let g = grow(s, axis, by);
        let cg = p.step(&g.batch());
        prop_assert!(cg.total_ns >= c.total_ns, "{d:?}: {s:?} takes {} ns, but with more work {g:?} only {} ns", c.total_ns, cg.total_ns);
    }
}
