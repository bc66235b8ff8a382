//! The sweep, plan and validation catalogues: every bad file exits 2 with one line naming it.

use super::{codesim, dir};
// ---------------------------------------------------------------------------------------------
// Sweep, plan and validation files

/// A sweep's base: complete, small.
pub(crate) const SWEEP_BASE: &str = "[base]\nseed = 3\n[base.hardware]\ninstance = \"p5.48xlarge\"\n[base.model]\nname = \"llama-3.2-1b\"\n[base.workload]\nrequests = 20\narrival = { kind = \"poisson\", rate_per_s = 1.0 }\ninput = { kind = \"fixed\", tokens = 100 }\noutput = { kind = \"fixed\", tokens = 10 }\n";

fn sweep(head: &str) -> Vec<u8> {
    format!("{head}\n{SWEEP_BASE}").into_bytes()
}

const CANDIDATE: &str = "[[candidate]]\nname = \"h100\"\nmax_replicas = 4\nscenario = { hardware = { instance = \"p5.4xlarge\" }, model = { name = \"llama-3.2-1b\" }, deployment = { tp = 1 } }\n";

/// A plan with one small candidate; `edit` replaces text in it.
pub(crate) fn plan(edit: &[(&str, &str)]) -> Vec<u8> {
    let mut t = "name = \"p\"\n[demand]\nrate_per_s = 5.0\nrequests = 50\ngrowth = 1.0\ninput = { kind = \"fixed\", tokens = 100 }\noutput = { kind = \"fixed\", tokens = 10 }\n[slo]\nttft_p95_ms = 500.0\nmin_goodput = 0.9\n[[candidate]]\nname = \"h100\"\nmax_replicas = 4\nscenario = { hardware = { instance = \"p5.4xlarge\" }, model = { name = \"llama-3.2-1b\" }, deployment = { tp = 1 } }\n".to_string();
    for (from, to) in edit {
        assert!(t.contains(from), "{from}");
        t = t.replacen(from, to, 1);
    }
    t.into_bytes()
}

/// A well-formed validation case; `edit` replaces text in it.
pub(crate) fn case(edit: &[(&str, &str)]) -> Vec<u8> {
    let mut t = "[[case]]\nid = \"x\"\nsource = \"s\"\ninstance = \"p5.48xlarge\"\ninstances = 1\nchips = 1\nmodel = \"llama-3.1-8b\"\nweights = \"fp8\"\ncompute = \"fp8\"\ntp = 1\ntp_unit = \"gpu\"\nload = \"static\"\nconcurrency = 1\ninput_tokens = 10\noutput_tokens = 10\n[case.measured]\noutput_tok_s = 100.0\n".to_string();
    for (from, to) in edit {
        assert!(t.contains(from), "{from}");
        t = t.replacen(from, to, 1);
    }
    t.into_bytes()
}

/// One entry: what it is, the file's bytes, extra arguments (`FILE` stands for the file; default
/// `FILE`), files or folders beside it (a name ending in `/` is a folder), words the error
/// must contain.
struct BadFile {
    what: &'static str,
    bytes: Vec<u8>,
    args: Vec<&'static str>,
    extra: Vec<(&'static str, Vec<u8>)>,
    needles: Vec<&'static str>,
}

fn bad(what: &'static str, bytes: Vec<u8>, needles: &[&'static str]) -> BadFile {
    BadFile {
        what,
        bytes,
        args: vec!["FILE"],
        extra: Vec::new(),
        needles: needles.to_vec(),
    }
}

impl BadFile {
    fn args(mut self, args: &[&'static str]) -> Self {
        self.args = args.to_vec();
        self
    }
    fn with(mut self, name: &'static str, bytes: &[u8]) -> Self {
        self.extra.push((name, bytes.to_vec()));
        self
    }
}

fn sweep_cases() -> Vec<BadFile> {
    let axis = "[axes]\n\"workload.arrival.rate_per_s\" = [1, 2]\n";
    let thousand = (0..1000).map(|i| i.to_string()).collect::<Vec<_>>().join(", ");
    let product: &'static str = Box::leak(
        format!("[axes]\n\"workload.requests\" = [{thousand}]\n\"workload.prefix_groups\" = [{thousand}]\n\"seed\" = [{thousand}]\n")
            .into_boxed_str(),
    );
    vec![
        bad(
            "syntax error",
            sweep("[axes\n\"deployment.tp\" = [1]"),
            &["line 1", "syntax"],
        ),
        bad(
            "unknown top-level key",
            sweep(&format!("axis = 1\n{axis}")),
            &["axis", "did you mean `axes`"],
        ),
        bad(
            "wrong type",
            sweep(&format!("seed = \"seven\"\n{axis}")),
            &["seed", "line 1", "seven"],
        ),
        bad(
            "NaN in an axis",
            sweep("[axes]\n\"workload.arrival.rate_per_s\" = [1, nan]"),
            &["axes.\"workload.arrival.rate_per_s\"[1]", "nan", "finite"],
        ),
        bad(
            "infinite SLO threshold",
            sweep(&format!("{axis}[[slo]]\ntpot_ms = inf\n")),
            &["slo[0].tpot_ms", "inf", "> 0"],
        ),
        bad(
            "negative SLO threshold",
            sweep(&format!("{axis}[[slo]]\nttft_ms = -5.0\n")),
            &["slo[0].ttft_ms", "-5", "> 0"],
        ),
        bad(
            "percentile not reported",
            sweep(&format!("{axis}[[slo]]\npercentile = 97\ntpot_ms = 5.0\n")),
            &["slo[0].percentile", "97", "99.9"],
        ),
        bad("no axis", sweep("[axes]\n"), &["axes", "names no axis"]),
        bad(
            "empty axis",
            sweep("[axes]\n\"deployment.tp\" = []"),
            &["axes.\"deployment.tp\"", "empty"],
        ),
        bad(
            "axis naming an unknown scenario key",
            sweep("[axes]\n\"deployment.tpp\" = [1, 2]"),
            &["line 2", "axes.\"deployment.tpp\"", "unknown field `tpp`", "`tp`"],
        ),
        bad(
            "axis misspelling a tagged key",
            sweep("[axes]\n\"workload.arrival.rate_per_sec\" = [1, 2]"),
            &["axes.\"workload.arrival.rate_per_sec\"", "did you mean `rate_per_s`"],
        ),
        bad(
            "axis value of the wrong type",
            sweep("[axes]\n\"deployment.tp\" = [1, \"eight\"]"),
            &["axes.\"deployment.tp\"[1]", "\"eight\"", "u32"],
        ),
        bad(
            "negative axis value for a count",
            sweep("[axes]\n\"deployment.tp\" = [1, -2]"),
            &["axes.\"deployment.tp\"[1]", "-2", "u32"],
        ),
        bad(
            "axis value of an unknown variant",
            sweep("[axes]\n\"serving.scheduler\" = [\"continous\"]"),
            &["axes.\"serving.scheduler\"[0]", "did you mean `continuous`"],
        ),
        bad(
            "duplicate axis",
            sweep("[axes]\n\"deployment.tp\" = [1]\n\"deployment.tp\" = [2]"),
            &["line 3", "duplicate"],
        ),
        bad(
            "overlapping axes",
            sweep("[axes]\n\"deployment\" = [{ tp = 1 }]\n\"deployment.tp\" = [1, 2]"),
            &["axes.\"deployment.tp\"", "overlaps", "`deployment`"],
        ),
        bad(
            "unquoted dotted axis",
            sweep("[axes]\ndeployment.tp = [1, 2]"),
            &["axes.\"deployment\"", "quote"],
        ),
        bad(
            "zip naming an unknown axis",
            sweep(&format!(
                "zip = [[\"deployment.tp\", \"workload.arrival.rate_per_sec\"]]\n{axis}\"deployment.tp\" = [1, 2]\n"
            )),
            &["zip[0]", "not an axis", "did you mean"],
        ),
        bad(
            "zip naming an axis twice",
            sweep(&format!(
                "zip = [[\"deployment.tp\", \"deployment.tp\"]]\n{axis}\"deployment.tp\" = [1, 2]\n"
            )),
            &["zip[0]", "twice"],
        ),
        bad(
            "plot axis that is not an axis",
            sweep(&format!("{axis}[plot]\nx = \"workload.arrival.rate\"\n")),
            &["plot.x", "did you mean `workload.arrival.rate_per_s`"],
        ),
        bad(
            "CDF of an unknown run",
            sweep(&format!("{axis}[plot]\ncdf_runs = [\"r0042\"]\n")),
            &["plot.cdf_runs", "r0042", "r0001"],
        ),
        bad(
            "axis over a key the scenario never reads",
            sweep("[axes]\n\"description\" = [\"a\", \"b\"]\n"),
            &["axes.\"description\"", "same resolved scenario", "label axis"],
        ),
        bad(
            "axis whose values are one value",
            sweep("[axes]\n\"workload.arrival.rate_per_s\" = [2, 2.0]\n"),
            &["axes.\"workload.arrival.rate_per_s\"", "values are all the same"],
        ),
        bad(
            "base scenario with an unknown key",
            sweep(&format!("{axis}[base.serving]\nmax_batch_size = 4\n")),
            &["base", "serving.max_batch_size", "did you mean `max_batch`"],
        ),
        bad(
            "base that is a directory",
            format!("base = \"sub\"\n{axis}").into_bytes(),
            &["sub", "directory"],
        )
        .with("sub/", b""),
        bad(
            "missing base file",
            format!("base = \"none.toml\"\n{axis}").into_bytes(),
            &["none.toml", "not found"],
        ),
        bad(
            "non-UTF-8 bytes",
            b"name = \"\xff\xfe\"\n".to_vec(),
            &["line 1", "UTF-8"],
        ),
        bad(
            "name that climbs out of reports/",
            sweep(&format!("name = \"../../escape\"\n{axis}")),
            &["name", "../../escape", "path separator"],
        ),
        bad(
            "name with a NUL",
            sweep(&format!("name = \"a\\u0000b\"\n{axis}")),
            &["name", "a\\0b", "control character"],
        ),
        bad(
            "10^12 requests in a swept value",
            sweep("[axes]\n\"workload.requests\" = [10, 1000000000000]"),
            &["axes.\"workload.requests\"[1]", "1000000000000", "100000000"],
        ),
        bad(
            "10^6 replicas in a swept value",
            sweep("[axes]\n\"deployment.replicas\" = [1, 1000000]"),
            &["axes.\"deployment.replicas\"[1]", "1000000", "100000"],
        ),
        bad(
            "10^12 requests in the base",
            String::from_utf8(sweep(axis))
                .unwrap()
                .replace("requests = 20", "requests = 1000000000000")
                .into_bytes(),
            &["base", "workload.requests", "1000000000000", "100000000"],
        ),
        bad("10^9 runs", sweep(product), &["axes", "1000000000 runs", "1000000"]),
        bad(
            "a label value with an escape character",
            sweep("[axes]\n\"_label\" = [\"a\\u001b[31mb\", \"c\"]\n"),
            &["axes.\"_label\"[0]", "control character", "\\u{1b}"],
        ),
        bad(
            "output directory is a file",
            sweep(axis),
            &["a-file", "not a directory"],
        )
        .args(&["FILE", "--out", "a-file"])
        .with("a-file", b"x"),
        bad(
            "default output directory blocked by a file",
            sweep(&format!("name = \"s\"\n{axis}")),
            &["reports", "cannot create the output directory"],
        )
        .with("reports", b"x"),
        bad(
            "runs folder blocked by a file",
            sweep(axis),
            &["out/runs", "folder of run records"],
        )
        .args(&["FILE", "--out", "out"])
        .with("out/", b"")
        .with("out/runs", b"x"),
        bad("sweep file is a directory", Vec::new(), &["sub", "directory"])
            .args(&["sub"])
            .with("sub/", b""),
    ]
}

fn plan_cases() -> Vec<BadFile> {
    vec![
        bad("syntax error", plan(&[("[slo]", "[slo")]), &["line 8", "syntax"]),
        bad("unknown key", plan(&[("[[candidate]]", "[[candidates]]")]), &["candidates", "did you mean `candidate`"]),
        bad("wrong type", plan(&[("name = \"p\"", "seed = \"x\"")]), &["seed", "line 1", "\"x\""]),
        bad("NaN rate", plan(&[("rate_per_s = 5.0", "rate_per_s = nan")]), &["demand.rate_per_s", "NaN", "finite number > 0"]),
        bad("negative growth", plan(&[("growth = 1.0", "growth = -2.0")]), &["demand.growth", "-2", "> 0"]),
        bad("growth beyond bounds", plan(&[("growth = 1.0", "growth = 1e300")]), &["demand.growth", "1e300", "(0, 1000]"]),
        bad("zero requests", plan(&[("requests = 50", "requests = 0")]), &["demand.requests", "at least 1"]),
        bad("10^12 requests per probe", plan(&[("requests = 50", "requests = 1000000000000")]), &["demand.requests", "1000000000000", "100000000"]),
        bad("10^7 instances", plan(&[("max_replicas = 4", "max_replicas = 10000000")]), &["candidate `h100`, max_replicas", "10000000", "100000"]),
        bad("10^6 replicas per unit", plan(&[("tp = 1 }", "tp = 1, replicas = 1000000 }")]), &["candidate `h100`", "1000000 replicas per unit", "100000"]),
        bad("unknown SLO key", plan(&[("ttft_p95_ms", "ttft_p97_ms")]), &["slo.ttft_p97_ms", "ttft_p95_ms", "999"]),
        bad("goodput above one", plan(&[("min_goodput = 0.9", "min_goodput = 1.5")]), &["slo.min_goodput", "1.5", "(0, 1]"]),
        bad("empty candidate list", plan(&[("name = \"p\"", "candidate = []\nname = \"p\""), (CANDIDATE, "")]), &["candidate", "no candidate", "[[candidate]]"]),
        bad("no candidate at all", plan(&[(CANDIDATE, "")]), &["missing field `candidate`"]),
        bad("two candidates with one name", plan(&[("[[candidate]]", "[[candidate]]\nname = \"h100\"\nscenario = { hardware = { instance = \"p5.4xlarge\" }, model = { name = \"llama-3.2-1b\" } }\n[[candidate]]")]), &["candidate[1].name", "h100", "two candidates"]),
        bad("candidate scenario that is a directory", plan(&[("scenario = { hardware = { instance = \"p5.4xlarge\" }, model = { name = \"llama-3.2-1b\" }, deployment = { tp = 1 } }", "scenario = \"sub\"")]), &["sub", "directory"]).with("sub/", b""),
        bad("candidate scenario with an unknown key", plan(&[("deployment = { tp = 1 }", "deployment = { tpp = 1 }")]), &["candidate `h100`", "deployment.tpp", "expected one of"]),
        bad("candidate on an unknown instance", plan(&[("p5.4xlarge", "p5.4xlarg")]), &["candidate `h100`", "hardware.instance", "did you mean `p5.4xlarge`"]),
        bad("candidate name with a newline", plan(&[("name = \"h100\"", "name = \"h1\\n00\"")]), &["candidate[0].name", "h1\\n00", "control character"]),
        bad("non-UTF-8 bytes", b"name = \"\xff\"\n".to_vec(), &["line 1", "UTF-8"]),
        bad("daily profile of three hours", plan(&[("growth = 1.0", "daily_profile = [1.0, 2.0, 1.0]")]), &["demand.daily_profile", "24"]),
        bad("a trace with lengths", plan(&[("growth = 1.0", "trace = \"t.csv\"")]), &["demand.input", "a trace carries its lengths"]),
        bad("a trace's rate and rate scale", plan(&[("growth = 1.0", "trace = \"t.csv\"\nrate_scale = 2.0"), ("input = { kind = \"fixed\", tokens = 100 }\noutput = { kind = \"fixed\", tokens = 10 }\n", "")]), &["demand.rate_per_s", "rate_scale", "one of them"]),
        bad("zero seeds per probe", plan(&[("name = \"p\"", "seeds_per_probe = 0")]), &["seeds_per_probe", "between 1 and 16"]),
        bad("what-if pricing an unknown instance", { let mut b = plan(&[]); b.extend_from_slice(b"[[whatif]]\nname = \"cheap\"\nprices = { \"p5.48xlarg\" = 20.0 }\n"); b }, &["whatif[0].prices", "unknown instance `p5.48xlarg`", "p5.48xlarge"]),
        bad("what-if overriding an unknown chip", { let mut b = plan(&[]); b.extend_from_slice(b"[[whatif]]\nname = \"faster\"\nchip_overrides = { \"h100\" = { hbm_bandwidth_gb_s = 6000.0 } }\n"); b }, &["whatif[0].chip_overrides", "unknown chip `h100`"]),
        bad("what-if scaling traffic by zero", { let mut b = plan(&[]); b.extend_from_slice(b"[[whatif]]\nname = \"none\"\ntraffic_scale = 0.0\n"); b }, &["whatif[0].traffic_scale", "got 0", "> 0"]),
        bad("output directory is a file", plan(&[]), &["a-file", "not a directory"]).args(&["FILE", "--out", "a-file"]).with("a-file", b"x"),
        bad("probes folder blocked by a file", plan(&[]), &["out/probes", "folder of probe records"]).args(&["FILE", "--out", "out"]).with("out/", b"").with("out/probes", b"x"),
        bad("--resume without --out", plan(&[]), &["--resume", "--out"]).args(&["FILE", "--resume"]),
        bad("plan file is a directory", Vec::new(), &["sub", "directory"]).args(&["sub"]).with("sub/", b""),
    ]
}

fn validation_cases() -> Vec<BadFile> {
    vec![
        bad(
            "unknown model",
            case(&[("llama-3.1-8b", "llama-9")]),
            &["case `x`, key `model`", "llama-9"],
        ),
        bad(
            "unknown instance",
            case(&[("instance = \"p5.48xlarge\"", "instance = \"p9.48xlarge\"")]),
            &["case `x`, key `instance`", "did you mean `p5.48xlarge`"],
        ),
        bad(
            "tp beyond the case's chips",
            case(&[("tp = 1", "tp = 16")]),
            &["case `x`, key `tp`", "chips = 1"],
        ),
        bad(
            "more chips than the tp uses",
            case(&[("chips = 1", "chips = 64")]),
            &["case `x`, key `tp`", "chips = 64"],
        ),
        bad(
            "no case at all",
            b"# published measurements\n".to_vec(),
            &["case", "no [[case]] table"],
        ),
        bad(
            "syntax error",
            case(&[("[case.measured]", "[case.measured")]),
            &["line 16", "syntax"],
        ),
        bad(
            "unknown key",
            case(&[("concurrency = 1", "concurrency = 1\nqsp = 2.0")]),
            &["qsp", "did you mean `qps`"],
        ),
        bad(
            "wrong type",
            case(&[("tp = 1\n", "tp = \"1\"\n")]),
            &["case", "tp", "\"1\""],
        ),
        bad(
            "negative count",
            case(&[("tp = 1\n", "tp = -1\n")]),
            &["tp", "-1", "u32"],
        ),
        bad(
            "NaN measurement",
            case(&[("output_tok_s = 100.0", "output_tok_s = nan")]),
            &["measured.output_tok_s", "NaN", "> 0"],
        ),
        bad(
            "zero measurement",
            case(&[("output_tok_s = 100.0", "output_tok_s = 0.0")]),
            &["measured.output_tok_s", "got 0", "> 0"],
        ),
        bad(
            "zero instances",
            case(&[("instances = 1", "instances = 0")]),
            &["instances", "at least 1"],
        ),
        bad(
            "infinite rate",
            case(&[("load = \"static\"\nconcurrency = 1", "load = \"poisson\"\nqps = inf")]),
            &["qps", "inf", "finite number > 0"],
        ),
        bad(
            "unknown TP unit",
            case(&[("tp_unit = \"gpu\"", "tp_unit = \"gpus\"")]),
            &["tp_unit", "gpus", "did you mean `gpu`"],
        ),
        bad(
            "unknown load kind",
            case(&[("load = \"static\"", "load = \"statik\"")]),
            &["load", "statik", "did you mean `static`"],
        ),
        bad(
            "unknown measured metric",
            case(&[("output_tok_s = 100.0", "ttft_p95_ms = 100.0")]),
            &["measured", "ttft_p95_ms", "ttft_p99_ms"],
        ),
        bad(
            "missing key",
            case(&[("source = \"s\"\n", "")]),
            &["missing field `source`"],
        ),
        bad(
            "duplicate id",
            {
                let mut b = case(&[]);
                b.extend(case(&[]));
                b
            },
            &["`x`", "id", "unique"],
        ),
        bad(
            "static load without concurrency",
            case(&[("concurrency = 1\n", "")]),
            &["case `x`", "concurrency", "required"],
        ),
        bad(
            "offline load with a rate",
            case(&[(
                "load = \"static\"\nconcurrency = 1",
                "load = \"offline\"\nrequests = 10\nqps = 2.0",
            )]),
            &["case `x`", "qps", "not used"],
        ),
        bad(
            "non-UTF-8 bytes",
            b"[[case]]\nid = \"\xff\"\n".to_vec(),
            &["line 2", "UTF-8"],
        ),
        bad("validation file is a directory", Vec::new(), &["sub", "directory"])
            .args(&["sub"])
            .with("sub/", b""),
        bad("output directory is a file", case(&[]), &["a-file", "not a directory"])
            .args(&["FILE", "--out", "a-file"])
            .with("a-file", b"x"),
    ]
}

/// Runs a catalogue: every entry exits 2 with one line naming the file, quickly, never a panic.
/// Every failing entry is reported, not only the first.
fn check_catalogue(kind: &str, command: &str, file: &str, cases: Vec<BadFile>) -> usize {
    let d = dir(kind);
    let n = cases.len();
    let mut failures = Vec::new();
    for (i, c) in cases.into_iter().enumerate() {
        let sub = d.join(format!("c{i}"));
        std::fs::create_dir_all(&sub).unwrap();
        for (name, bytes) in &c.extra {
            match name.strip_suffix('/') {
                Some(folder) => std::fs::create_dir_all(sub.join(folder)).unwrap(),
                None => std::fs::write(sub.join(name), bytes).unwrap(),
            }
        }
        std::fs::write(sub.join(file), &c.bytes).unwrap();
        let mut args = vec![command];
        args.extend(c.args.iter().map(|a| if *a == "FILE" { file } else { a }));
        let (code, stderr) = codesim(&args, &sub);
        let mut problems = Vec::new();
        if code != 2 {
            problems.push(format!("exit code {code}"));
        }
        if stderr.contains("panicked") || stderr.contains("RUST_BACKTRACE") {
            problems.push("panicked".into());
        }
        if stderr.trim().lines().count() != 1 || !stderr.starts_with("error: ") {
            problems.push("not one `error: ` line".into());
        }
        if stderr.trim_end().chars().any(char::is_control) {
            problems.push("a control character reached the terminal".into());
        }
        let at_fault = c
            .args
            .iter()
            .copied()
            .chain(c.extra.iter().map(|(n, _)| n.trim_end_matches('/')));
        if !stderr.contains(file) && !at_fault.filter(|a| *a != "FILE").any(|a| stderr.contains(a)) {
            problems.push("does not name the file or argument at fault".into());
        }
        for needle in &c.needles {
            if !stderr.contains(needle) {
                problems.push(format!("no `{needle}`"));
            }
        }
        if !problems.is_empty() {
            failures.push(format!(
                "{kind}: {}: {}\n    {}",
                c.what,
                problems.join("; "),
                stderr.trim()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {n} entries fail:\n{}",
        failures.len(),
        failures.join("\n")
    );
    n
}

#[test]
fn every_bad_sweep_file_is_one_clear_line_and_exit_2() {
    let n = check_catalogue("sweep", "sweep", "sweep.toml", sweep_cases());
    assert!(n >= 15, "{n} sweep cases");
}

#[test]
fn every_bad_plan_file_is_one_clear_line_and_exit_2() {
    let n = check_catalogue("plan", "plan", "plan.toml", plan_cases());
    assert!(n >= 15, "{n} plan cases");
}

#[test]
fn every_bad_validation_file_is_one_clear_line_and_exit_2() {
    let n = check_catalogue("validation", "validate", "published.toml", validation_cases());
    assert!(n >= 15, "{n} validation cases");
}
