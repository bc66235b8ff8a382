//! What each fuzz target does with its input, shared by the libFuzzer targets in `fuzz_targets/`
//! and by `tests/fuzz_corpus.rs`, which replays the committed corpus on stable Rust (it includes
//! this file with `#[path]`, so it must only use `std` and `codesim`).
//!
//! Every entry feeds the bytes to a reader as the CLI would and asserts the outcome: a value, or a
//! codesim input error (exit code 2) that names its file and says what is wrong. A panic, an
//! output error, or a generated scenario that is not valid TOML fails the target.

mod combos;

use codesim::error::Error;
use codesim::workload::TraceFormat;
pub use combos::{hf_config, plan_values, sweep_values};
use std::path::{Path, PathBuf};

/// Where the fuzzed files pretend to live: relative paths in them (traces, profiles, base
/// scenarios) resolve here and are not found, so every input is self-contained.
pub const FAKE_DIR: &str = "/nonexistent/codesim-fuzz";

/// The fuzz targets, by name (the corpus folder of each is `fuzz/corpus/<name>`).
pub const TARGETS: [&str; 13] = [
    "scenario",
    "scenario_values",
    "trace_azure",
    "trace_mooncake",
    "trace_burstgpt",
    "trace_vidur",
    "sweep",
    "plan",
    "validation",
    "hf_config",
    "sweep_values",
    "plan_values",
    "import",
];

/// Runs the target `name` on `data`; panics on an unknown name.
pub fn run(name: &str, data: &[u8]) {
    match name {
        "scenario" => scenario(data),
        "scenario_values" => scenario_values(data),
        "trace_azure" => trace(data, TraceFormat::AzureCsv),
        "trace_mooncake" => trace(data, TraceFormat::MooncakeJsonl),
        "trace_burstgpt" => trace(data, TraceFormat::BurstgptCsv),
        "trace_vidur" => trace(data, TraceFormat::VidurCsv),
        "sweep" => sweep(data),
        "plan" => plan(data),
        "validation" => validation(data),
        "import" => import(data),
        "hf_config" => hf_config(data),
        "sweep_values" => sweep_values(data),
        "plan_values" => plan_values(data),
        other => panic!("unknown fuzz target `{other}`; targets: {}", TARGETS.join(", ")),
    }
}

fn fake_path(file: &str) -> PathBuf {
    Path::new(FAKE_DIR).join(file)
}

/// The value, or `None` for an error a user can act on. Panics on any other outcome.
/// With `CODESIM_FUZZ_VERBOSE` set, every error is printed (to see how far a seed gets).
fn check<T>(what: &str, r: codesim::Result<T>) -> Option<T> {
    if let Err(e) = &r {
        if std::env::var_os("CODESIM_FUZZ_VERBOSE").is_some() {
            eprintln!("{what}: {e}");
        }
    }
    match r {
        Ok(v) => Some(v),
        Err(Error::Input(e) | Error::Infeasible(e)) => {
            assert!(
                !e.file.is_empty() && !e.message.trim().is_empty(),
                "{what}: an input error must name its file and say what is wrong: {e:?}"
            );
            None
        }
        // A path in the input that exists but cannot be read (e.g. a directory's child).
        Err(Error::Io { .. }) => None,
        Err(e @ (Error::Output { .. } | Error::Interrupted { .. })) => {
            panic!("{what}: reading input gave an output or interruption error: {e}")
        }
    }
}

/// Like [`check`], for a scenario codesim generated itself: its text must be valid TOML.
fn check_generated<T>(what: &str, r: codesim::Result<T>) -> Option<T> {
    if let Err(Error::Input(e)) = &r {
        assert!(
            !e.message.starts_with("TOML syntax error"),
            "{what}: codesim generated a scenario that is not valid TOML: {e}"
        );
    }
    check(what, r)
}

/// TOML files are read as UTF-8 text first (`input::read_text`); other bytes never reach the
/// parsers.
fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

/// `codesim run FILE`: parse and validate a scenario, then set up its simulation (replicas, KV
/// caches, prefix and speculative state) without running it, for fleets of at most
/// [`MAX_STAGES`] replica stages: what a scenario asks for must be refused by validation, not
/// allocated.
pub fn scenario(data: &[u8]) {
    let Some(text) = text(data) else { return };
    let Some(sc) = check(
        "scenario",
        codesim::scenario::load_str(text, &fake_path("scenario.toml")),
    ) else {
        return;
    };
    let stages: u64 = sc.pools.iter().map(|p| p.replicas as u64 * p.pp as u64).sum();
    if stages <= MAX_STAGES {
        let opts = codesim::sim::RunOptions::default();
        check("simulation setup", codesim::sim::Simulation::new(&sc, opts));
    }
}

/// Fleets the scenario target sets up (replicas × pipeline stages); bigger ones are valid but slow.
pub const MAX_STAGES: u64 = 64;

/// A trace read as `format`, then with format detection.
pub fn trace(data: &[u8], format: TraceFormat) {
    for f in [format, TraceFormat::Auto] {
        if let Some(t) = check("trace", codesim::workload::trace::parse_trace(data, "fuzz-trace", f)) {
            assert!(!t.requests.is_empty(), "a trace read without error has requests");
            assert_ne!(t.format, TraceFormat::Auto, "the format read is never `auto`");
            assert_eq!(
                t.requests[0].arrival_ns, 0,
                "arrivals are relative to the first request"
            );
            assert!(
                t.requests.windows(2).all(|w| w[0].arrival_ns <= w[1].arrival_ns),
                "arrivals are in order"
            );
            assert!(
                t.requests.iter().all(|r| r.input_tokens >= 1 && r.output_tokens >= 1),
                "every request has at least one input and one output token"
            );
            let _ = t.mean_rate_per_s();
        }
    }
}

/// `codesim sweep FILE`: parse the sweep, then build the scenarios of its first and last runs as
/// the executor does (without simulating them).
pub fn sweep(data: &[u8]) {
    let Some(text) = text(data) else { return };
    let Some(s) = check("sweep", codesim::sweep::load_str(text, &fake_path("sweep.toml"))) else {
        return;
    };
    let m = &s.manifest;
    let _ = (m.x_axis(), m.group_axes(), m.primary_slo().map(|s| s.label()));
    if m.runs > 4096 {
        return;
    }
    let runs = m.runs();
    assert_eq!(runs.len(), m.runs, "the manifest's run count matches its runs");
    for r in runs.iter().take(3).chain(runs.last()) {
        assert_eq!(
            m.index_of(&r.id),
            Some(r.index),
            "run id `{}` maps back to its index",
            r.id
        );
        if let Ok(text) = m.scenario_text(r) {
            check_generated("sweep run", codesim::scenario::load_str(&text, &s.base_path));
        }
    }
}

/// `codesim plan FILE`: parse the plan, then build candidates' scenarios as the search does
/// (without simulating them): every base candidate at the light-load probe and at its largest
/// size; per what-if, its own candidates and the first base candidate at its traffic.
pub fn plan(data: &[u8]) {
    use codesim::plan::{Candidate, Plan, Variation, scenario_table};
    let Some(text) = text(data) else { return };
    let Some(p) = check("plan", codesim::plan::load_str(text, &fake_path("plan.toml"))) else {
        return;
    };
    let _ = (p.demand.label(), p.slo.label());
    let probe = |var: &Variation, cand: &Candidate, units: u32, traffic: f64, cap: Option<u64>, p: &Plan| {
        let Ok(t) = scenario_table(p, var, cand, units, traffic, cap, p.seed) else {
            return;
        };
        if let Ok(text) = toml::to_string(&t) {
            check_generated("plan probe", codesim::scenario::load_str(&text, &cand.base_path));
        }
    };
    let base = Variation::default();
    for cand in &p.candidates {
        probe(&base, cand, 1, 0.01, Some(64), &p);
        probe(&base, cand, cand.max_units, 1.0, None, &p);
    }
    for var in &p.whatifs {
        for cand in p.candidates.iter().take(1).chain(&var.extra_candidates) {
            probe(var, cand, cand.max_units, var.traffic_scale, None, &p);
        }
    }
}

/// `codesim validate FILE`: parse the published measurements, check each case and build its
/// scenario (without simulating it).
pub fn validation(data: &[u8]) {
    let Some(text) = text(data) else { return };
    let path = fake_path("published.toml");
    let Some(f) = check("validation", codesim::validate::parse(text, &path)) else {
        return;
    };
    let Some(catalog) = check("catalog", codesim::hw::Catalog::builtin()) else {
        panic!("the built-in catalog loads");
    };
    for c in &f.case {
        if check("validation case", c.check(&path)).is_none() {
            continue;
        }
        let Ok(hw) = catalog.hardware(&c.instance) else {
            continue;
        };
        let Ok(text) = c.scenario_toml(&hw) else { continue };
        check_generated("validation case", codesim::scenario::load_str(&text, &path));
    }
}

/// `codesim validate RESULT --context …`: recognise a benchmark result file by its content, read
/// it into cases with a fixed context, check each case and build its scenario (not simulated).
pub fn import(data: &[u8]) {
    use codesim::validate::import::{Context, cases, sniff};
    let Some(text) = text(data) else { return };
    let path = fake_path("result.json");
    let Some(Some(format)) = check("import", sniff(text, &path, None)) else {
        return;
    };
    let ctx = Context {
        instance: Some("p5.48xlarge".into()),
        model: Some("llama-3.1-8b".into()),
        weights: Some(codesim::dtype::Dtype::Bf16),
        tp: Some(1),
        ..Context::default()
    };
    let Some(cs) = check("import", cases(text, &path, format, &ctx)) else {
        return;
    };
    let Some(catalog) = check("catalog", codesim::hw::Catalog::builtin()) else {
        panic!("the built-in catalog loads");
    };
    let Ok(hw) = catalog.hardware("p5.48xlarge") else {
        panic!("p5.48xlarge is in the catalog");
    };
    for c in &cs {
        if check("imported case", c.check(&path)).is_none() {
            continue;
        }
        let Ok(text) = c.scenario_toml(&hw) else { continue };
        check_generated("imported case", codesim::scenario::load_str(&text, &path));
    }
}

// ---------------------------------------------------------------------------------------------
// Structured scenarios: byte-driven edits of valid scenarios

/// Scenarios the structured target starts from (a byte picks one).
const BASES: [&str; 10] = [
    include_str!("../corpus/scenario/quickstart.toml"),
    include_str!("../corpus/scenario/serving-disaggregated.toml"),
    include_str!("../corpus/scenario/serving-fleet.toml"),
    include_str!("../corpus/scenario/serving-pipeline.toml"),
    include_str!("../corpus/scenario/feature-prefix-cache.toml"),
    include_str!("../corpus/scenario/feature-speculative.toml"),
    include_str!("../corpus/scenario/feature-moe-ep.toml"),
    include_str!("../corpus/scenario/infra-frontend.toml"),
    include_str!("../corpus/scenario/load-closed.toml"),
    include_str!("../corpus/scenario/cpu-graviton-8b-int4.toml"),
];

/// What a key holds, so that edits are mostly well typed and reach validation, not serde.
#[derive(Clone, Copy)]
enum Kind {
    Int,
    Float,
    Bool,
    Str(&'static [&'static str]),
    Floats,
    /// `{ instance, tp, pp, replicas }`, or a list of them.
    Pool,
    Pools,
    /// `[{ name, share, priority, slo }]`.
    Classes,
    /// An arrival or length spec: `{ kind = ..., ... }`.
    Arrival,
    Length,
}

const INSTANCES: &[&str] = &[
    "p5.48xlarge",
    "p5en.48xlarge",
    "p4de.24xlarge",
    "inf2.xlarge",
    "inf2.48xlarge",
    "trn1.32xlarge",
    "trn2.48xlarge",
    "trn2u.48xlarge",
    "c7g.16xlarge",
    "c8g.4xlarge",
    "c7i.16xlarge",
    "",
];
const MODELS: &[&str] = &[
    "llama-3-8b",
    "llama-3.2-1b",
    "llama-3.3-70b",
    "llama-3.1-405b",
    "mixtral-8x7b",
    "qwen3-235b-a22b",
    "deepseek-v3",
    "mistral-7b-v0.2",
    "nope",
    "config.json",
];
const DTYPES: &[&str] = &["bf16", "fp16", "fp8", "int8", "int4", "fp32", "fp4"];

const KEYS: &[(&str, Kind)] = &[
    ("seed", Kind::Int),
    ("hardware.instance", Kind::Str(INSTANCES)),
    ("hardware.chip.kind", Kind::Str(&["gpu", "neuron", "cpu"])),
    ("hardware.chip.ranks_per_chip", Kind::Int),
    ("hardware.chip.physical_cores_per_chip", Kind::Int),
    ("hardware.chip.hbm_gib", Kind::Float),
    ("hardware.chip.hbm_bandwidth_gb_s", Kind::Float),
    ("hardware.chip.sram_mib", Kind::Float),
    ("hardware.chip.tdp_w", Kind::Float),
    ("hardware.chip.idle_w", Kind::Float),
    ("hardware.chip.peak_tflops.bf16", Kind::Float),
    ("hardware.chip.peak_tflops.fp8", Kind::Float),
    ("hardware.chip.peak_tflops.int8", Kind::Float),
    ("hardware.chip.link.bandwidth_gb_s", Kind::Float),
    ("hardware.chip.link.latency_us", Kind::Float),
    ("hardware.chip.efficiency.compute", Kind::Float),
    ("hardware.chip.efficiency.compute_half_tokens", Kind::Float),
    ("hardware.chip.efficiency.memory", Kind::Float),
    ("hardware.chip.efficiency.kv_memory", Kind::Float),
    ("hardware.chip.efficiency.attention_score_bytes", Kind::Float),
    ("hardware.chip.efficiency.step_overhead_us", Kind::Float),
    ("hardware.chip.efficiency.layer_overhead_us", Kind::Float),
    ("hardware.chip.efficiency.collective_latency_us", Kind::Float),
    ("hardware.chip.efficiency.shape_buckets", Kind::Str(&["none", "pow2"])),
    ("hardware.chip.efficiency.bucket_min_tokens", Kind::Int),
    ("hardware.chip.threads", Kind::Int),
    ("hardware.chip.thread_half_cores", Kind::Float),
    ("hardware.chip.core_bandwidth_gb_s", Kind::Float),
    ("hardware.instance_overrides.chips", Kind::Int),
    ("hardware.instance_overrides.efa_gbps", Kind::Float),
    ("hardware.instance_overrides.efa_latency_us", Kind::Float),
    ("hardware.instance_overrides.host_vcpus", Kind::Int),
    ("hardware.instance_overrides.host_memory_gib", Kind::Float),
    ("hardware.instance_overrides.host_link_gb_s", Kind::Float),
    ("hardware.instance_overrides.price.on_demand_usd_per_hour", Kind::Float),
    ("hardware.instance_overrides.price.spot_usd_per_hour", Kind::Float),
    ("model.name", Kind::Str(MODELS)),
    ("model.weights", Kind::Str(DTYPES)),
    ("model.compute", Kind::Str(DTYPES)),
    ("model.kv_cache", Kind::Str(DTYPES)),
    ("model.weight_format", Kind::Str(&["plain", "q4_0", "q8_0"])),
    ("model.expert_skew_zipf", Kind::Float),
    ("model.expert_shares", Kind::Floats),
    ("deployment.tp", Kind::Int),
    ("deployment.pp", Kind::Int),
    ("deployment.replicas", Kind::Int),
    ("deployment.instances", Kind::Int),
    ("deployment.ep", Kind::Int),
    ("deployment.groups", Kind::Pools),
    ("disaggregation.prefill", Kind::Pool),
    ("disaggregation.decode", Kind::Pool),
    ("disaggregation.kv_link", Kind::Str(&["efa", "neuronlink"])),
    ("serving.scheduler", Kind::Str(&["continuous", "chunked", "static"])),
    ("serving.max_batch", Kind::Int),
    ("serving.max_batched_tokens", Kind::Int),
    ("serving.block_tokens", Kind::Int),
    ("serving.kv_reserve_fraction", Kind::Float),
    (
        "serving.routing",
        Kind::Str(&[
            "round-robin",
            "least-outstanding",
            "least-tokens",
            "power-of-two",
            "prefix-affinity",
        ]),
    ),
    ("serving.preemption", Kind::Str(&["recompute", "swap"])),
    ("serving.max_queue", Kind::Int),
    ("serving.kv_admission", Kind::Str(&["optimistic", "reserve"])),
    ("serving.prefix_cache.enabled", Kind::Bool),
    ("serving.prefix_cache.host_tier_gib", Kind::Float),
    ("serving.prefix_cache.remote_tier_gib", Kind::Float),
    ("serving.speculative.enabled", Kind::Bool),
    ("serving.speculative.method", Kind::Str(&["draft", "heads"])),
    ("serving.speculative.draft_model", Kind::Str(MODELS)),
    ("serving.speculative.gamma", Kind::Int),
    ("serving.speculative.acceptance", Kind::Float),
    ("serving.speculative.acceptance_by_position", Kind::Floats),
    ("serving.speculative.heads_layer_fraction", Kind::Float),
    ("workload.requests", Kind::Int),
    ("workload.arrival", Kind::Arrival),
    ("workload.arrival.rate_per_s", Kind::Float),
    ("workload.input", Kind::Length),
    ("workload.output", Kind::Length),
    ("workload.classes", Kind::Classes),
    ("workload.prefix_groups", Kind::Int),
    ("workload.prefix.groups", Kind::Int),
    ("workload.prefix.system_tokens", Kind::Int),
    ("workload.prefix.zipf", Kind::Float),
    ("workload.prefix.sessions", Kind::Int),
    ("workload.prefix.block_tokens", Kind::Int),
    ("slo.ttft_ms", Kind::Float),
    ("slo.tpot_ms", Kind::Float),
    ("infrastructure.pue", Kind::Float),
    ("infrastructure.pricing", Kind::Str(&["on-demand", "reserved", "spot"])),
    ("infrastructure.allreduce", Kind::Str(&["ring", "tree"])),
    ("infrastructure.power_cap_w", Kind::Float),
    ("infrastructure.graph_capture", Kind::Bool),
    ("infrastructure.nitro.enabled", Kind::Bool),
    ("infrastructure.nitro.request_latency_us", Kind::Float),
    ("infrastructure.nitro.host_cpu_share", Kind::Float),
    ("infrastructure.host.step_cpu_us", Kind::Float),
    ("infrastructure.host.frontend_us_per_request", Kind::Float),
    ("infrastructure.frontend.instance", Kind::Str(INSTANCES)),
    ("infrastructure.frontend.count", Kind::Int),
];

const INTS: [i64; 18] = [
    0,
    1,
    2,
    3,
    8,
    16,
    64,
    4096,
    100_000,
    1 << 20,
    1 << 31,
    u32::MAX as i64,
    1 << 32,
    1_000_000_000_000,
    1 << 53,
    i64::MAX,
    -1,
    i64::MIN,
];
const FLOATS: [f64; 16] = [
    0.0,
    -0.0,
    0.5,
    1.0,
    0.95,
    2.0,
    1e-300,
    5e-324,
    1e12,
    1e308,
    f64::MAX,
    f64::INFINITY,
    f64::NEG_INFINITY,
    f64::NAN,
    -1.0,
    4294967296.0,
];

/// A TOML table value from its pairs.
fn table(pairs: Vec<(&str, toml::Value)>) -> toml::Value {
    toml::Value::Table(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

/// Reads the fuzzer's bytes as choices; past the end every choice is 0.
struct Choices<'a>(&'a [u8]);

impl Choices<'_> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }
    fn pick<T: Copy>(&mut self, from: &[T]) -> T {
        from[self.byte() as usize % from.len()]
    }
    fn raw(&mut self) -> u64 {
        (0..8).fold(0u64, |a, _| a << 8 | self.byte() as u64)
    }
    fn int(&mut self) -> i64 {
        match self.byte() % 4 {
            0 | 1 => self.pick(&INTS),
            2 => self.byte() as i64,
            _ => self.raw() as i64,
        }
    }
    fn float(&mut self) -> f64 {
        match self.byte() % 4 {
            0 | 1 => self.pick(&FLOATS),
            2 => self.byte() as f64 / 16.0,
            _ => f64::from_bits(self.raw()),
        }
    }
    fn floats(&mut self) -> toml::Value {
        let n = self.byte() % 40;
        toml::Value::Array((0..n).map(|_| toml::Value::Float(self.float())).collect())
    }
    fn value(&mut self, kind: Kind) -> toml::Value {
        use toml::Value as V;
        match kind {
            Kind::Int => V::Integer(self.int()),
            Kind::Float => V::Float(self.float()),
            Kind::Bool => V::Boolean(self.byte() % 2 == 0),
            Kind::Str(names) => V::String(self.pick(names).to_string()),
            Kind::Floats => self.floats(),
            Kind::Pool => {
                let mut pairs = vec![
                    ("tp", V::Integer(self.int())),
                    ("pp", V::Integer(self.int())),
                    ("replicas", V::Integer(self.int())),
                ];
                if self.byte() % 2 == 0 {
                    pairs.push(("instance", V::String(self.pick(INSTANCES).to_string())));
                }
                table(pairs)
            }
            Kind::Pools => {
                let n = self.byte() % 4;
                V::Array((0..n).map(|_| self.value(Kind::Pool)).collect())
            }
            Kind::Classes => {
                let n = self.byte() % 4;
                V::Array(
                    (0..n)
                        .map(|i| {
                            let slo = table(vec![("ttft_ms", V::Float(self.float()))]);
                            table(vec![
                                (
                                    "name",
                                    V::String(format!("c{}", (u32::from(i) + u32::from(self.byte())) % 3)),
                                ),
                                ("share", V::Float(self.float())),
                                ("priority", V::Integer(self.int())),
                                ("slo", slo),
                            ])
                        })
                        .collect(),
                )
            }
            Kind::Arrival => match self.byte() % 5 {
                0 => table(vec![("kind", "poisson".into()), ("rate_per_s", V::Float(self.float()))]),
                1 => table(vec![
                    ("kind", "gamma".into()),
                    ("rate_per_s", V::Float(self.float())),
                    ("cv", V::Float(self.float())),
                ]),
                2 => table(vec![
                    ("kind", "closed".into()),
                    ("clients", V::Integer(self.int())),
                    ("think_time_s", V::Float(self.float())),
                ]),
                3 => table(vec![("kind", "static".into()), ("batch", V::Integer(self.int()))]),
                _ => table(vec![("kind", "offline".into())]),
            },
            Kind::Length => match self.byte() % 3 {
                0 => table(vec![("kind", "fixed".into()), ("tokens", V::Integer(self.int()))]),
                1 => table(vec![
                    ("kind", "uniform".into()),
                    ("min", V::Integer(self.int())),
                    ("max", V::Integer(self.int())),
                ]),
                _ => table(vec![
                    ("kind", "lognormal".into()),
                    ("mean", V::Float(self.float())),
                    ("cv", V::Float(self.float())),
                    ("min", V::Integer(self.int())),
                    ("max", V::Integer(self.int())),
                ]),
            },
        }
    }
}

/// A valid scenario (chosen by the first byte) with edits read from the rest: each edit sets one
/// key of the schema to a value of its type (often an extreme one: 0, 2^32, NaN, infinity) or
/// removes it. The text then goes through [`scenario`]. Byte-level mutation of TOML text mostly
/// explores the TOML parser; this explores validation and simulation set-up.
pub fn scenario_values(data: &[u8]) {
    let mut c = Choices(data);
    let base = BASES[c.byte() as usize % BASES.len()];
    let mut t: toml::Table = base.parse().expect("the base scenarios are valid TOML");
    for _ in 0..16 {
        if c.0.is_empty() {
            break;
        }
        let (key, kind) = c.pick(KEYS);
        if c.byte() % 16 == 0 {
            remove_path(&mut t, key);
        } else {
            let v = c.value(kind);
            let _ = codesim::tomlpath::set_path(&mut t, key, v);
        }
    }
    if let Ok(text) = toml::to_string(&t) {
        scenario(text.as_bytes());
    }
}

fn remove_path(t: &mut toml::Table, key: &str) {
    match key.split_once('.') {
        None => {
            t.remove(key);
        }
        Some((head, rest)) => {
            if let Some(toml::Value::Table(sub)) = t.get_mut(head) {
                remove_path(sub, rest);
            }
        }
    }
}
