//! Capacity planning: monotone in traffic and in the SLO, the plan re-simulated with another seed
//! meets its SLO and one unit fewer does not, rejections carry their reason, and the CLI's JSON and
//! report. Small scenarios (Llama-3.1-8B on one-H100 instances, 400 requests per probe).

use codesim::plan::{self, Plan, Variation};
use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_codesim");

/// A plan at `rate` req/s with an extra `[pricing]`/`[[whatif]]` tail.
fn plan_text(rate: f64, tail: &str) -> String {
    format!(
        r#"name = "tiny"
seed = 7
[demand]
rate_per_s = {rate}
requests = 400
input = {{ kind = "lognormal", mean = 500.0, cv = 1.0, max = 4000 }}
output = {{ kind = "lognormal", mean = 100.0, cv = 1.0, max = 1000 }}
[slo]
ttft_p95_ms = 500.0
tpot_p99_ms = 30.0
min_goodput = 0.95
[[candidate]]
name = "h100 8b"
max_replicas = 16
scenario = {{ hardware = {{ instance = "p5.4xlarge" }}, model = {{ name = "llama-3.1-8b" }}, deployment = {{ tp = 1 }} }}
[[candidate]]
name = "h100 70b bf16"
scenario = {{ hardware = {{ instance = "p5.4xlarge" }}, model = {{ name = "llama-3.3-70b" }}, deployment = {{ tp = 1 }} }}
[[candidate]]
name = "inf2 8b"
max_replicas = 16
scenario = {{ hardware = {{ instance = "inf2.xlarge" }}, model = {{ name = "llama-3.1-8b" }}, deployment = {{ tp = 2 }} }}
{tail}
"#
    )
}

fn plan_at(rate: f64, tail: &str) -> Plan {
    plan::load_str(&plan_text(rate, tail), Path::new("plan.toml")).unwrap()
}

fn best_cost(p: &Plan, v: &Variation) -> f64 {
    let r = plan::search(p, v).unwrap();
    r.best.map_or(f64::INFINITY, |b| b.usd_per_hour)
}

fn var(traffic: f64, slo: f64) -> Variation {
    Variation {
        traffic_scale: traffic,
        slo_scale: slo,
        ..Variation::default()
    }
}

#[test]
fn more_traffic_never_yields_a_cheaper_best_fleet() {
    let p = plan_at(30.0, "");
    let costs: Vec<f64> = [1.0, 1.5, 2.0, 3.0]
        .iter()
        .map(|&t| best_cost(&p, &var(t, 1.0)))
        .collect();
    // One $6.88/hour instance at 30 req/s; the fleet grows with the traffic.
    assert!((costs[0] - 6.88).abs() < 1e-6, "{costs:?}");
    for w in costs.windows(2) {
        assert!(w[1] >= w[0], "more traffic gave a cheaper fleet: {costs:?}");
    }
    assert!(
        costs[3] > costs[0],
        "three times the traffic on the same fleet: {costs:?}"
    );
}

#[test]
fn a_looser_slo_never_yields_a_dearer_best_fleet() {
    let p = plan_at(60.0, "");
    // SLO limits × 0.5 (tight), × 1, × 2 and × 4 (loose).
    let costs: Vec<f64> = [0.5, 1.0, 2.0, 4.0]
        .iter()
        .map(|&k| best_cost(&p, &var(1.0, k)))
        .collect();
    for w in costs.windows(2) {
        assert!(w[1] <= w[0], "a looser SLO gave a dearer fleet: {costs:?}");
    }
    assert!(costs[3] < costs[0], "the SLO never mattered: {costs:?}");
}

#[test]
fn the_plan_meets_its_slo_with_another_seed_and_one_unit_fewer_does_not() {
    let p = plan_at(60.0, "");
    let base = Variation::default();
    let r = plan::search(&p, &base).unwrap();
    let best = r.best.expect("a feasible fleet");
    assert_eq!(best.candidate, "h100 8b");
    assert!(
        best.units >= 2,
        "the test needs a fleet of two units or more, got {}",
        best.units
    );
    let seed = p.seed + 100;
    let again = plan::probe(&p, &base, &best.candidate, best.units, 1.0, seed, 1).unwrap();
    assert!(again.meets, "seed {seed}: {}", again.why);
    let smaller = plan::probe(&p, &base, &best.candidate, best.units - 1, 1.0, seed, 1).unwrap();
    assert!(
        !smaller.meets,
        "one unit fewer meets the SLO with seed {seed}: {smaller:?}"
    );
    // The plan's own verification agrees.
    let v = plan::verify(&p, &base, &best).unwrap();
    assert!(v.meets, "{v:?}");
    assert_eq!(v.smaller_meets, Some(false), "{v:?}");
}

#[test]
fn rejections_name_memory_latency_budget_and_power() {
    let p = plan_at(30.0, "");
    let r = plan::search(&p, &Variation::default()).unwrap();
    let why = |c: &str| r.rejected.iter().find(|x| x.candidate == c).cloned();
    let mem = why("h100 70b bf16").expect("70B bf16 on one H100 is rejected");
    assert_eq!(mem.reason, "memory");
    assert!(mem.detail.contains("does not fit"), "{}", mem.detail);
    let lat = why("inf2 8b").expect("inf2 misses a 30 ms TPOT at any size");
    assert_eq!(lat.reason, "latency");
    assert!(lat.detail.contains("TPOT"), "{}", lat.detail);
    assert!(r.feasible.iter().all(|f| f.candidate == "h100 8b"));

    // A budget below one instance's price, and a power limit below one instance's draw.
    let p = plan_at(30.0, "[pricing]\nbudget_usd_per_hour = 5.0\n");
    let r = plan::search(&p, &Variation::default()).unwrap();
    assert!(r.best.is_none());
    let b = r.rejected.iter().find(|x| x.candidate == "h100 8b").unwrap();
    assert_eq!(b.reason, "budget", "{b:?}");
    let p = plan_at(120.0, "[pricing]\npower_limit_w = 2500.0\n");
    let r = plan::search(&p, &Variation::default()).unwrap();
    let w = r.rejected.iter().find(|x| x.candidate == "h100 8b").unwrap();
    assert_eq!(w.reason, "power", "{w:?}");
}

#[test]
fn search_is_deterministic_on_any_thread_count() {
    let p = plan_at(60.0, "");
    let on = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| plan::search(&p, &Variation::default()).unwrap())
    };
    let one = on(1);
    assert_eq!(one, on(1), "the same plan twice on one thread");
    assert_eq!(one, on(4), "one thread and four give the same plan");
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("codesim-plan-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn cli_prints_json_and_writes_the_report_with_whatifs() {
    let dir = temp_dir("cli");
    let file = dir.join("plan.toml");
    let tail = "[[whatif]]\nname = \"traffic x2\"\ntraffic_scale = 2.0\n[[whatif]]\nname = \"hbm +50%\"\nchip_overrides = { \"h100-sxm\" = { hbm_bandwidth_gb_s = 5025.0 } }\n[[whatif]]\nname = \"half price\"\nprice_scale = 0.5\n";
    std::fs::write(&file, plan_text(30.0, tail)).unwrap();
    let out = dir.join("out");
    let o = Command::new(BIN)
        .args(["plan", file.to_str().unwrap(), "--json", "--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let best = &v["best"];
    assert_eq!(best["instance"], "p5.4xlarge");
    assert_eq!(best["instances"], 1);
    assert_eq!(best["parallelism"], "1×TP1");
    assert!(best["usd_per_hour"].as_f64().unwrap() > 0.0);
    assert!(best["usd_per_mtok_output"].as_f64().unwrap() > 0.0);
    assert_eq!(best["achieved"].as_array().unwrap().len(), 2);
    assert_eq!(v["feasible"].as_array().unwrap().len(), 1);
    assert_eq!(v["rejected"].as_array().unwrap().len(), 2);
    let w = v["whatifs"].as_array().unwrap();
    assert_eq!(w.len(), 3);
    let cost = |i: usize| w[i]["best"]["usd_per_hour"].as_f64().unwrap();
    let base = best["usd_per_hour"].as_f64().unwrap();
    assert!(cost(0) > base, "traffic ×2 costs more");
    assert!((cost(2) - base * 0.5).abs() < 1e-9, "half price halves the cost");
    for f in [
        "plan.json",
        "plan.md",
        "plots/whatif.png",
        "plots/whatif.svg",
        "plots/pareto.png",
        "plots/pareto.svg",
    ] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    let md = std::fs::read_to_string(out.join("plan.md")).unwrap();
    assert!(md.contains("## What-if studies") && md.contains("memory"), "{md}");
}

#[test]
fn plan_file_errors_exit_2_and_name_the_key() {
    let dir = temp_dir("errors");
    let file = dir.join("bad.toml");
    std::fs::write(&file, plan_text(30.0, "").replace("ttft_p95_ms", "ttft_p97_ms")).unwrap();
    let o = Command::new(BIN)
        .args(["plan", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("slo.ttft_p97_ms"), "{e}");
    let e = plan::load_str(
        &plan_text(30.0, "").replace("requests = 400\n", ""),
        Path::new("p.toml"),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("demand.requests"), "{e}");
    for (bad, says) in [
        ("bootstrap_block = 0\n", "1 or more"),
        ("bootstrap_block = 8\n", "resamples a trace"),
    ] {
        let e = plan::load_str(
            &plan_text(30.0, "").replace("requests = 400\n", &format!("requests = 400\n{bad}")),
            Path::new("p.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("demand.bootstrap_block") && e.contains(says), "{e}");
    }
    // The demand replaces a candidate's workload: tenants there would be dropped silently.
    let tenants = plan_text(30.0, "").replacen(
        "deployment = { tp = 1 } }",
        "deployment = { tp = 1 }, workload = { tenants = [{ name = \"a\", requests = 10, arrival = { kind = \"poisson\", rate_per_s = 1.0 }, input = { kind = \"fixed\", tokens = 10 }, output = { kind = \"fixed\", tokens = 10 } }] } }",
        1,
    );
    let e = plan::load_str(&tenants, Path::new("p.toml")).unwrap_err().to_string();
    assert!(
        e.contains("candidate[0].scenario.workload.tenants") && e.contains("[demand]"),
        "{e}"
    );
}

/// Files of a directory, sorted by name, with their bytes.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter(|e| e.path().is_file())
                .map(|e| {
                    (
                        e.file_name().to_string_lossy().to_string(),
                        std::fs::read(e.path()).unwrap(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn ctrl_c_stops_a_plan_and_resume_gives_the_same_plan() {
    use std::time::{Duration, Instant};
    /// How long the test waits for the plan before calling it hung: a guard, never a speed limit.
    const HANG_GUARD: Duration = Duration::from_secs(600);
    let dir = temp_dir("sigint");
    let tail = "[[whatif]]\nname = \"traffic x2\"\ntraffic_scale = 2.0\n";
    std::fs::write(
        dir.join("plan.toml"),
        plan_text(60.0, tail).replace("requests = 400\n", "requests = 2000\n"),
    )
    .unwrap();
    // The same relative command in two directories, so plan.md (which quotes it) compares too.
    let (full, cut) = (dir.join("full"), dir.join("cut"));
    for d in [&full, &cut] {
        std::fs::create_dir_all(d).unwrap();
    }
    let args = ["plan", "../plan.toml", "--out", "out"];
    let o = Command::new(BIN).args(args).current_dir(&full).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let all = files(&full.join("out/probes")).len();

    let child = Command::new(BIN)
        .args(args)
        .current_dir(&cut)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let probes = cut.join("out/probes");
    let start = Instant::now();
    while files(&probes).len() < 3 {
        // A hang guard, not a speed limit: the child must still be running while we wait.
        assert!(start.elapsed() < HANG_GUARD, "no probe finished");
        std::thread::sleep(Duration::from_millis(2));
    }
    // SAFETY: kill(2) on a child we spawned and have not yet waited for.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(130), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.contains("--resume") && err.contains("probes simulated"), "{err}");
    let kept = files(&probes);
    assert!(
        kept.len() < all,
        "the plan finished before it was stopped: {} of {all} probes",
        kept.len()
    );
    assert!(!cut.join("out/plan.json").exists(), "a stopped plan writes no report");
    for (name, bytes) in &kept {
        assert!(
            !name.ends_with(".tmp") && !name.contains(".partial"),
            "{name} left behind"
        );
        let rec: toml::Table = toml::from_str(std::str::from_utf8(bytes).unwrap()).unwrap();
        assert!(rec.contains_key("key") && rec.contains_key("probe"), "{name}");
    }

    let mut resume = args.to_vec();
    resume.push("--resume");
    let o = Command::new(BIN).args(&resume).current_dir(&cut).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let said = String::from_utf8_lossy(&o.stdout);
    let reused: usize = said
        .split(" probes read back")
        .next()
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("{said}"));
    assert!(reused >= kept.len(), "{said}");
    for f in ["plan.json", "plan.md", "plots/pareto.svg", "plots/whatif.svg"] {
        let (a, b) = (
            std::fs::read(full.join("out").join(f)).unwrap(),
            std::fs::read(cut.join("out").join(f)).unwrap(),
        );
        assert!(a == b, "{f} differs between the resumed and the uninterrupted plan");
    }
    assert!(
        files(&probes) == files(&full.join("out/probes")),
        "probe records differ"
    );

    // --resume needs the directory of the interrupted plan.
    let o = Command::new(BIN)
        .args(["plan", "../plan.toml", "--resume"])
        .current_dir(&cut)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--out"));
}

#[test]
fn every_example_plan_loads() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.file_name().is_some_and(|f| f.to_string_lossy().starts_with("plan-")) {
            plan::load(&p).unwrap_or_else(|e| panic!("{e}"));
            n += 1;
        }
    }
    assert!(n >= 1, "no scenarios/plan-*.toml");
}

/// `--resume` reuses a probe only if everything it read is unchanged: edit the trace the demand
/// replays and every probe is simulated again.
#[test]
fn resume_does_not_reuse_probes_after_their_trace_changed() {
    let dir = temp_dir("resume-trace");
    let rows = |out: u32| {
        let mut t = String::from("TIMESTAMP,ContextTokens,GeneratedTokens\n");
        for i in 0..300 {
            t.push_str(&format!(
                "2023-11-16 18:{:02}:{:02}.0,{},{out}\n",
                i / 60,
                i % 60,
                200 + (i * 37) % 900
            ));
        }
        t
    };
    std::fs::write(dir.join("t.csv"), rows(60)).unwrap();
    let text = plan_text(1.0, "")
        .replace("rate_per_s = 1\n", "trace = \"t.csv\"\nrate_scale = 4.0\n")
        .replace("requests = 400\n", "requests = 300\n")
        .replace(
            r#"input = { kind = "lognormal", mean = 500.0, cv = 1.0, max = 4000 }"#,
            "",
        )
        .replace(
            r#"output = { kind = "lognormal", mean = 100.0, cv = 1.0, max = 1000 }"#,
            "",
        );
    std::fs::write(dir.join("plan.toml"), text).unwrap();
    let run = |resume: bool| {
        let mut args = vec!["plan", "plan.toml", "--out", "out"];
        if resume {
            args.push("--resume");
        }
        let o = Command::new(BIN).args(&args).current_dir(&dir).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let said = String::from_utf8_lossy(&o.stdout).to_string();
        let reused: usize = if resume {
            said.split(" probes read back")
                .next()
                .and_then(|n| n.trim().rsplit(' ').next().and_then(|n| n.parse().ok()))
                .unwrap_or_else(|| panic!("{said}"))
        } else {
            0
        };
        (reused, files(&dir.join("out/probes")).len())
    };
    let (_, probes) = run(false);
    assert!(probes > 0);
    let (reused, _) = run(true);
    // (A probe the search asks for twice is read back twice.)
    assert!(
        reused >= probes,
        "an unchanged plan reuses every probe: {reused} of {probes}"
    );
    std::fs::write(dir.join("t.csv"), rows(400)).unwrap();
    let (reused_after, after) = run(true);
    // Every probe is simulated anew under a new key (the old records stay, unused); what is read
    // back is only what the search asks for twice within this run.
    assert_eq!(
        after,
        2 * probes,
        "a changed trace must not reuse probes simulated with the old one"
    );
    assert_eq!(reused_after, reused - probes);
}

/// A trace demand: the plan's seed replays the trace as recorded, the re-check's seed a block
/// bootstrap of it (another sample, said in the report); the reports show $ per million total
/// tokens beside output tokens, and a min_goodput left unset is printed as the default it is.
#[test]
fn a_trace_plan_rechecks_on_a_bootstrap_sample_and_prints_its_defaults() {
    let dir = temp_dir("trace-verify");
    let mut t = String::from("TIMESTAMP,ContextTokens,GeneratedTokens\n");
    for i in 0..300 {
        let s = i * 2 + (i * 7) % 3;
        t.push_str(&format!(
            "2023-11-16 18:{:02}:{:02}.0,{},{}\n",
            s / 60,
            s % 60,
            200 + (i * 37) % 900,
            20 + (i * 13) % 90
        ));
    }
    std::fs::write(dir.join("t.csv"), t).unwrap();
    let text = plan_text(1.0, "")
        .replace(
            "rate_per_s = 1\n",
            "trace = \"t.csv\"\nrate_scale = 4.0\nbootstrap_block = 16\n",
        )
        .replace("requests = 400\n", "requests = 200\n")
        .replace("min_goodput = 0.95\n", "")
        .replace(
            r#"input = { kind = "lognormal", mean = 500.0, cv = 1.0, max = 4000 }"#,
            "",
        )
        .replace(
            r#"output = { kind = "lognormal", mean = 100.0, cv = 1.0, max = 1000 }"#,
            "",
        );
    std::fs::write(dir.join("plan.toml"), &text).unwrap();
    let p = plan::load(&dir.join("plan.toml")).unwrap();
    let load = |seed: u64| {
        let t = plan::scenario_table(&p, &Variation::default(), &p.candidates[0], 1, 1.0, None, seed).unwrap();
        let sc = codesim::scenario::load_str(&toml::to_string(&t).unwrap(), &dir.join("plan.toml")).unwrap();
        (t["workload"]["arrival"].get("bootstrap_block").cloned(), sc.trace)
    };
    let (none, recorded) = load(p.seed);
    let (block, resampled) = load(p.verify_seed);
    assert_eq!(none, None);
    assert_eq!(block, Some(toml::Value::Integer(16)));
    assert_ne!(recorded, resampled, "the re-check seed replays another sample");
    let o = Command::new(BIN)
        .args(["plan", "plan.toml", "--out", "out"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let said = String::from_utf8_lossy(&o.stdout);
    assert!(
        said.contains("min_goodput 0.99 (default; set [slo] min_goodput)"),
        "{said}"
    );
    assert!(said.contains("/M total tok"), "{said}");
    assert!(
        said.contains("replaying a block bootstrap of the trace drawn from seed"),
        "{said}"
    );
    let md = std::fs::read_to_string(dir.join("out/plan.md")).unwrap();
    assert!(md.contains("min_goodput 0.99 (default; set [slo] min_goodput)"), "{md}");
    assert!(
        md.contains("| $/M total tok |") && md.contains("per million tokens, prompt and output"),
        "{md}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("out/plan.json")).unwrap()).unwrap();
    assert!(json["best"]["usd_per_mtok_total"].as_f64().unwrap() > 0.0);
    assert!(
        json["verification"]["sample"]
            .as_str()
            .unwrap()
            .contains("blocks of 16 rows")
    );
    // A trace demand at a target rate: the 200 rows replayed at a mean of 2 req/s, doubled by a
    // traffic scale of 2.
    let p = plan::load_str(
        &text.replace("rate_scale = 4.0", "rate_per_s = 2.0"),
        &dir.join("plan.toml"),
    )
    .unwrap();
    assert!(p.demand.label().contains("at 2 req/s"), "{}", p.demand.label());
    for (traffic, rate) in [(1.0, 2.0), (2.0, 4.0)] {
        let t = plan::scenario_table(&p, &Variation::default(), &p.candidates[0], 1, traffic, None, p.seed).unwrap();
        let sc = codesim::scenario::load_str(&toml::to_string(&t).unwrap(), &dir.join("plan.toml")).unwrap();
        let tr = sc.trace.unwrap();
        assert_eq!(tr.requests.len(), 200);
        assert!((tr.mean_rate_per_s() - rate).abs() < 1e-6, "{}", tr.mean_rate_per_s());
    }
}

/// A rate demand's arrival process changes the fleet (burstier traffic needs more): the label
/// every report prints says it, and says when it is the default.
#[test]
fn a_rate_demand_prints_its_arrival_process_and_whether_it_is_the_default() {
    let p = plan_at(4.0, "");
    assert!(
        p.demand
            .label()
            .contains("4 req/s, Poisson arrivals (default; set demand.cv)"),
        "{}",
        p.demand.label()
    );
    let text = plan_text(4.0, "").replace("requests = 400\n", "requests = 400\ncv = 2.0\n");
    let g = plan::load_str(&text, Path::new("plan.toml")).unwrap();
    assert!(
        g.demand.label().contains("4 req/s, Gamma arrivals (cv 2)"),
        "{}",
        g.demand.label()
    );
}
