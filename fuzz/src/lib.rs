//! What each fuzz target does with its input, shared by the libFuzzer targets in `fuzz_targets/`
//! and by `tests/fuzz_corpus.rs`, which replays the committed corpus on stable Rust (it includes
//! this file with `#[path]`, so it must only use `std` and `codesim`).
//!
//! Every entry feeds the bytes to a reader as the CLI would and asserts the outcome: a value, or a
//! codesim input error (exit code 2) that names its file and says what is wrong. A panic, an
//! output error, or a generated scenario that is not valid TOML fails the target.

use codesim::error::Error;
use codesim::workload::TraceFormat;
use std::path::{Path, PathBuf};

/// Where the fuzzed files pretend to live: relative paths in them (traces, profiles, base
/// scenarios) resolve here and are not found, so every input is self-contained.
pub const FAKE_DIR: &str = "/nonexistent/codesim-fuzz";

/// The fuzz targets, by name (the corpus folder of each is `fuzz/corpus/<name>`).
pub const TARGETS: [&str; 8] = [
    "scenario",
    "trace_azure",
    "trace_mooncake",
    "trace_burstgpt",
    "trace_vidur",
    "sweep",
    "plan",
    "validation",
];

/// Runs the target `name` on `data`; panics on an unknown name.
pub fn run(name: &str, data: &[u8]) {
    match name {
        "scenario" => scenario(data),
        "trace_azure" => trace(data, TraceFormat::AzureCsv),
        "trace_mooncake" => trace(data, TraceFormat::MooncakeJsonl),
        "trace_burstgpt" => trace(data, TraceFormat::BurstgptCsv),
        "trace_vidur" => trace(data, TraceFormat::VidurCsv),
        "sweep" => sweep(data),
        "plan" => plan(data),
        "validation" => validation(data),
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
        Err(e @ Error::Output { .. }) => panic!("{what}: reading input gave an output error: {e}"),
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
        let opts = codesim::sim::RunOptions { keep_requests: false };
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
