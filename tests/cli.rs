//! End-to-end checks of the core through the library and the `codesim` binary. One test binary
//! on purpose: each links the whole crate.

#[path = "cli/import.rs"]
mod import;

use codesim::engine::SimTime;
use codesim::sim::{RunOptions, Simulation};
use std::path::{Path, PathBuf};
use std::process::Command;

fn scenario(text: &str) -> codesim::Scenario {
    codesim::scenario::load_str(text, Path::new("test.toml")).unwrap_or_else(|e| panic!("{e}"))
}

fn run(text: &str) -> codesim::RunResult {
    codesim::simulate(&scenario(text)).unwrap()
}

const H100_7B: &str = r#"
[hardware]
instance = "p5.48xlarge"
[model]
name = "llama-2-7b"
"#;

fn with_workload(base: &str, workload: &str) -> String {
    format!("{base}\n{workload}")
}

/// One request alone on an idle replica: TTFT is the front-end path (Nitro's per-request latency
/// and tokenization on the host) plus the cost model's prefill time, and each decode step the
/// cost model's decode time, exactly.
#[test]
fn a_lone_request_takes_exactly_the_cost_models_time() {
    for (inst, model, tp, input, output) in [
        ("p5.48xlarge", "llama-2-7b", 1, 512u32, 128u32),
        ("inf2.48xlarge", "llama-3-8b", 24, 100, 37),
        ("trn1.32xlarge", "llama-2-70b", 32, 1000, 5),
    ] {
        let text = format!(
            "[hardware]\ninstance = \"{inst}\"\n[model]\nname = \"{model}\"\n[deployment]\ntp = {tp}\n[workload]\nrequests = 1\narrival = {{ kind = \"offline\" }}\ninput = {{ kind = \"fixed\", tokens = {input} }}\noutput = {{ kind = \"fixed\", tokens = {output} }}\n"
        );
        let sc = scenario(&text);
        let sim = Simulation::new(
            &sc,
            RunOptions {
                keep_requests: true,
                ..RunOptions::default()
            },
        )
        .unwrap();
        let perf = sim.perf().clone();
        let (r, rows) = sim.run().unwrap();
        let prefill_ns = perf.prefill_step(input as u64).total_ns;
        let decode_ns: u64 = (1..output as u64)
            .map(|k| perf.decode_step(1, input as u64 + k).total_ns)
            .sum();
        // The request reaches the replica after the front-end path.
        let path_ns = (sc.infra.nitro.request_latency_us * 1e3).round() as u64
            + (sc.infra.host.tokenize_us_per_token * 1e3 * input as f64).round() as u64;
        let prefill_ns = path_ns + prefill_ns;
        let ms = |ns: u64| ns as f64 * 1e-6;
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].ttft_ms, ms(prefill_ns), "{inst} {model}: TTFT");
        assert_eq!(rows[0].e2e_ms, ms(prefill_ns + decode_ns), "{inst} {model}: E2E");
        assert_eq!(r.sim.sim_time_s, SimTime(prefill_ns + decode_ns).as_secs_f64());
        assert_eq!(r.requests.output_tokens_produced, output as u64);
    }
}

fn conserves(r: &codesim::RunResult, what: &str) {
    let c = r.requests;
    assert_eq!(
        c.arrived,
        c.completed + c.dropped + c.rejected,
        "{what}: arrived = completed + dropped + rejected"
    );
    if c.dropped == 0 {
        assert_eq!(
            c.output_tokens_produced, c.output_tokens_asked,
            "{what}: tokens out = tokens asked"
        );
    }
}

#[test]
fn every_request_completes_or_is_dropped_under_every_load_kind() {
    let lengths = "input = { kind = \"lognormal\", mean = 600.0, cv = 1.2, max = 3000 }\noutput = { kind = \"uniform\", min = 1, max = 400 }";
    for (arrival, requests) in [
        ("{ kind = \"poisson\", rate_per_s = 30.0 }", 800),
        ("{ kind = \"gamma\", rate_per_s = 30.0, cv = 4.0 }", 800),
        ("{ kind = \"closed\", clients = 16, think_time_s = 0.5 }", 300),
        ("{ kind = \"static\", batch = 16 }", 16),
        ("{ kind = \"offline\" }", 500),
    ] {
        let text = with_workload(
            H100_7B,
            &format!("[workload]\nrequests = {requests}\narrival = {arrival}\n{lengths}"),
        );
        let r = run(&text);
        conserves(&r, arrival);
        assert_eq!(r.requests.arrived, requests, "{arrival}");
    }
}

/// A KV cache too small for the load: sequences are preempted (recompute), all still complete,
/// and the recomputation costs latency.
#[test]
fn a_small_kv_cache_preempts_and_still_completes_everything() {
    let work = "[workload]\nrequests = 100\narrival = { kind = \"offline\" }\ninput = { kind = \"fixed\", tokens = 512 }\noutput = { kind = \"fixed\", tokens = 512 }";
    let small = with_workload(&format!("{H100_7B}[hardware.chip]\nhbm_gib = 16.0\n"), work);
    let big = with_workload(H100_7B, work);
    let (rs, rb) = (run(&small), run(&big));
    conserves(&rs, "small KV");
    assert!(rs.requests.preempted > 0, "expected preemptions with a 16 GiB chip");
    assert_eq!(rb.requests.preempted, 0);
    assert!(rs.e2e_ms.p99 > rb.e2e_ms.p99);
}

fn json_without_wall_time(r: &codesim::RunResult) -> String {
    let mut r = r.clone();
    r.sim.wall_s = 0.0;
    serde_json::to_string(&r).unwrap()
}

#[test]
fn same_seed_same_bytes_different_seed_different_samples() {
    let text = |seed: u64| {
        with_workload(
            &format!("seed = {seed}\n{H100_7B}"),
            "[workload]\nrequests = 500\narrival = { kind = \"poisson\", rate_per_s = 15.0 }\ninput = { kind = \"lognormal\", mean = 800.0, cv = 1.0, max = 3000 }\noutput = { kind = \"lognormal\", mean = 150.0, cv = 1.0, max = 1000 }",
        )
    };
    let a = json_without_wall_time(&run(&text(7)));
    let b = json_without_wall_time(&run(&text(7)));
    let c = json_without_wall_time(&run(&text(8)));
    assert_eq!(a, b);
    assert_ne!(a, c);
}

/// More load never lowers steady-state latency: p50 TTFT at increasing Poisson rates.
#[test]
fn p50_ttft_never_falls_as_the_rate_rises() {
    let mut last = 0.0;
    for rate in [1.0, 2.0, 4.0, 8.0, 16.0, 24.0, 32.0] {
        let r = run(&with_workload(
            H100_7B,
            &format!(
                "[workload]\nrequests = 2000\narrival = {{ kind = \"poisson\", rate_per_s = {rate} }}\ninput = {{ kind = \"lognormal\", mean = 1000.0, cv = 1.0, max = 3500 }}\noutput = {{ kind = \"lognormal\", mean = 200.0, cv = 1.0, max = 500 }}"
            ),
        ));
        assert!(
            r.ttft_ms.p50 >= last,
            "rate {rate}: p50 TTFT {} < {last}",
            r.ttft_ms.p50
        );
        last = r.ttft_ms.p50;
    }
}

// ---- the binary ----

fn codesim(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_codesim")).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn repo(p: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p).display().to_string()
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("codesim-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn run_json_has_the_documented_keys_and_out_writes_files() {
    let dir = temp_dir("out");
    let (code, stdout, stderr) = codesim(&[
        "run",
        &repo("scenarios/quickstart.toml"),
        "--json",
        "--out",
        dir.to_str().unwrap(),
        "--requests",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON object");
    for k in ["ttft_ms", "tpot_ms", "itl_ms", "e2e_ms"] {
        for q in ["mean", "p50", "p90", "p95", "p99", "p999"] {
            assert!(v[k][q].is_number(), "{k}.{q}");
        }
    }
    for (k, sub) in [
        ("throughput", &["output_tok_s", "total_tok_s", "requests_s"][..]),
        ("cost", &["usd_per_mtok_output", "usd_per_mtok_total", "usd_total"][..]),
        ("energy", &["j_per_output_token"][..]),
        ("requests", &["arrived", "completed", "dropped", "preempted"][..]),
        ("sim", &["events", "wall_s", "sim_time_s"][..]),
    ] {
        for s in sub {
            assert!(v[k][s].is_number(), "{k}.{s}");
        }
    }
    assert!(dir.join("summary.json").is_file());
    let parquet = std::fs::read(dir.join("requests.parquet")).unwrap();
    assert_eq!(&parquet[..4], b"PAR1");
    let csv = std::fs::read_to_string(dir.join("requests.csv")).unwrap();
    assert_eq!(
        csv.lines().count(),
        1 + v["requests"]["completed"].as_u64().unwrap() as usize
    );
}

#[test]
fn every_example_scenario_runs() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        // Sweep and plan files live beside the scenarios but are not scenarios.
        let is_sweep = p.file_name().is_some_and(|n| {
            let n = n.to_string_lossy();
            n.starts_with("sweep-") || n.starts_with("plan-")
        });
        if p.extension().is_some_and(|x| x == "toml") && !is_sweep {
            let (code, _, stderr) = codesim(&["run", p.to_str().unwrap(), "--json"]);
            assert_eq!(code, 0, "{}: {stderr}", p.display());
            n += 1;
        }
    }
    assert!(n >= 6, "quickstart plus one example per load kind");
}

#[test]
fn hw_and_model_lists() {
    let (code, out, _) = codesim(&["hw", "list"]);
    assert_eq!(code, 0);
    for name in [
        "trn1.32xlarge",
        "trn2.48xlarge",
        "inf2.xlarge",
        "inf2.48xlarge",
        "p4de.24xlarge",
        "p5.48xlarge",
        "p5en.48xlarge",
        "graviton4",
    ] {
        assert!(out.contains(name), "hw list lacks {name}");
    }
    let (code, out, _) = codesim(&["model", "list"]);
    assert_eq!(code, 0);
    for name in [
        "llama-3.1-405b",
        "mixtral-8x7b",
        "deepseek-v3",
        "qwen3-235b-a22b",
        "codellama-13b",
        "mistral-7b-v0.2",
    ] {
        assert!(out.contains(name), "model list lacks {name}");
    }
}

/// Each bad input: exit code 2, one message naming the file and the key or line, no panic.
#[test]
fn bad_input_is_a_clear_error_never_a_panic() {
    let dir = temp_dir("bad");
    let good_workload = "[workload]\nrequests = 10\narrival = { kind = \"poisson\", rate_per_s = 1.0 }\ninput = { kind = \"fixed\", tokens = 100 }\noutput = { kind = \"fixed\", tokens = 10 }\n";
    std::fs::write(
        dir.join("bad.csv"),
        "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.6805900,374,44\n2023-11-16 18:15:47.0,abc,5\n",
    )
    .unwrap();
    let cases: Vec<(&str, String, Vec<&str>)> = vec![
        (
            "unknown key",
            format!("{H100_7B}[serving]\nmax_batch_size = 8\n{good_workload}"),
            vec!["serving.max_batch_size", "did you mean `max_batch`"],
        ),
        (
            "wrong type",
            format!("{H100_7B}[serving]\nmax_batch = \"eight\"\n{good_workload}"),
            vec!["serving.max_batch", "line"],
        ),
        (
            "negative rate",
            format!(
                "{H100_7B}[workload]\nrequests = 10\narrival = {{ kind = \"poisson\", rate_per_s = -2.0 }}\ninput = {{ kind = \"fixed\", tokens = 100 }}\noutput = {{ kind = \"fixed\", tokens = 10 }}\n"
            ),
            vec!["workload.arrival.rate_per_s", "> 0"],
        ),
        (
            "model does not fit",
            format!(
                "[hardware]\ninstance = \"inf2.xlarge\"\n[model]\nname = \"llama-3-70b\"\n[deployment]\ntp = 2\n{good_workload}"
            ),
            vec!["does not fit", "GB"],
        ),
        (
            "missing trace",
            format!("{H100_7B}[workload]\narrival = {{ kind = \"trace\", path = \"nope.csv\" }}\n"),
            vec!["nope.csv", "not found"],
        ),
        (
            "malformed trace row",
            format!("{H100_7B}[workload]\narrival = {{ kind = \"trace\", path = \"bad.csv\" }}\n"),
            vec!["bad.csv", "line 3", "abc"],
        ),
        (
            "unknown instance",
            format!("[hardware]\ninstance = \"p5.48xlarg\"\n[model]\nname = \"llama-2-7b\"\n{good_workload}"),
            vec!["hardware.instance", "did you mean `p5.48xlarge`"],
        ),
        (
            "unknown model",
            format!("[hardware]\ninstance = \"p5.48xlarge\"\n[model]\nname = \"llama-3-8bb\"\n{good_workload}"),
            vec!["model.name", "did you mean `llama-3-8b`"],
        ),
        (
            "beyond context",
            format!(
                "{H100_7B}[workload]\nrequests = 1\narrival = {{ kind = \"offline\" }}\ninput = {{ kind = \"fixed\", tokens = 4000 }}\noutput = {{ kind = \"fixed\", tokens = 500 }}\n"
            ),
            vec!["context"],
        ),
        (
            "syntax error",
            "[hardware\ninstance = 3\n".to_string(),
            vec!["line 1", "syntax"],
        ),
    ];
    for (what, text, needles) in cases {
        let f = dir.join(format!("{}.toml", what.replace(' ', "_")));
        std::fs::write(&f, text).unwrap();
        let (code, _, stderr) = codesim(&["run", f.to_str().unwrap()]);
        assert_eq!(code, 2, "{what}: exit code; stderr: {stderr}");
        assert!(!stderr.contains("panicked"), "{what}: {stderr}");
        assert!(
            stderr.contains(f.file_name().unwrap().to_str().unwrap())
                || what == "malformed trace row"
                || what == "missing trace",
            "{what}: names the file: {stderr}"
        );
        for n in needles {
            assert!(stderr.contains(n), "{what}: expected `{n}` in: {stderr}");
        }
        assert_eq!(stderr.trim().lines().count(), 1, "{what}: one message: {stderr}");
    }
    let (code, _, stderr) = codesim(&["run", dir.to_str().unwrap()]);
    assert_eq!(code, 2, "a directory: {stderr}");
    assert!(stderr.contains("directory"));
}

/// `bench` refuses what would measure nothing instead of printing an empty result with exit 0.
#[test]
fn bench_refuses_zero_repetitions_and_unknown_workloads() {
    let (code, out, err) = codesim(&["bench", "--repeat", "0"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("--repeat") && err.contains("1 or more"), "{err}");
    let (code, out, err) = codesim(&["bench", "--only", "nope", "--repeat", "1"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("`nope` names no workload") && err.contains("decode-loop-batch128"),
        "{err}"
    );
}

/// `bench` says how its binary was built beside its figures: this test's binary is the debug
/// profile's, built without a PGO profile unless RUSTFLAGS asked for one.
#[test]
fn bench_names_the_build_it_measured() {
    let (code, out, err) = codesim(&["bench", "--only", "reference", "--repeat", "1"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let profile = if cfg!(debug_assertions) { "debug" } else { "release" };
    assert_eq!(v["build"]["profile"], profile, "{out}");
    let flags =
        std::env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default() + &std::env::var("RUSTFLAGS").unwrap_or_default();
    let pgo = if flags.contains("profile-use") {
        "profile-use"
    } else if flags.contains("profile-generate") {
        "profile-generate"
    } else {
        "none"
    };
    assert_eq!(v["build"]["pgo"], pgo, "{out}");
    assert_eq!(v["workloads"][0]["name"], "reference-llama2-7b-h100-10k", "{out}");
    assert!(v["workloads"][0]["wall_s"].as_f64().unwrap() > 0.0, "{out}");
}

/// The run header describes every pool of a fleet, not only the first.
#[test]
fn the_run_header_names_every_pool() {
    let (code, out, err) = codesim(&["run", "scenarios/serving-fleet.toml"]);
    assert_eq!(code, 0, "{err}");
    let header = out.lines().next().unwrap();
    assert!(
        header.contains("p5.48xlarge (TP 2, 2 replicas) + 1 × p4de.24xlarge (TP 2, 2 replicas)"),
        "{header}"
    );
}

/// A run in which every request is dropped (prompt + max_tokens beyond the model's context)
/// measured no latency and produced no token: the summary says so instead of printing a table of
/// zeros and $0 per million tokens.
#[test]
fn a_run_without_completions_says_so_instead_of_printing_zeros() {
    let d = temp_dir("no-completion");
    let f = d.join("dropped.toml");
    std::fs::write(
        &f,
        "[hardware]\ninstance = \"p5.48xlarge\"\n[model]\nname = \"llama-2-7b\"\n[workload]\nrequests = 5\nmax_tokens = 2000\narrival = { kind = \"poisson\", rate_per_s = 1.0 }\ninput = { kind = \"fixed\", tokens = 3000 }\noutput = { kind = \"fixed\", tokens = 10 }\n",
    )
    .unwrap();
    let (code, out, err) = codesim(&["run", f.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("no request completed (5 arrived, 5 dropped, 0 rejected"),
        "{out}"
    );
    assert!(out.contains("no output token produced"), "{out}");
    assert!(!out.contains("TTFT ") && !out.contains("per M output tokens"), "{out}");
}

/// Issue "Nothing silently wrong", item 6: a horizon that cuts the first step (an 8000-token
/// prefill of 50 prompts on one p5 takes far longer than 10 ms) counts only the work before it:
/// replicas at most 100 % busy, no token delivered, and the average draw within the physical
/// bound (8 GPUs at TDP plus the host at its TDP). Before, the whole step counted: "busy 3844 %",
/// 40 M total tok/s and 168 kW.
#[test]
fn a_horizon_counts_only_the_work_before_it() {
    let text = "[hardware]\ninstance = \"p5.48xlarge\"\n[model]\nname = \"llama-3.3-70b\"\n[deployment]\ntp = 8\n[workload]\nrequests = 50\nhorizon_s = 0.01\narrival = { kind = \"offline\" }\ninput = { kind = \"fixed\", tokens = 8000 }\noutput = { kind = \"fixed\", tokens = 100 }\n";
    let sc = scenario(text);
    let r = run(text);
    assert_eq!(r.requests.completed, 0);
    assert!(
        r.breakdown.busy_fraction <= 1.0 + 1e-9,
        "busy {}",
        r.breakdown.busy_fraction
    );
    assert!(
        r.breakdown.busy_fraction > 0.99,
        "the step ran the whole 10 ms: busy {}",
        r.breakdown.busy_fraction
    );
    assert_eq!(r.throughput.total_tok_s, 0.0);
    assert_eq!(r.throughput.output_tok_s, 0.0);
    let hw = sc.hardware();
    let bound = hw.instance.chips as f64 * hw.chip.tdp_w + hw.host.tdp_w * hw.host.sockets.max(1) as f64;
    assert!(r.energy.avg_power_w <= bound, "{} W > {bound} W", r.energy.avg_power_w);
}
