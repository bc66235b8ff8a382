//! The bad-input catalogue: every entry is a file codesim is given, the command, and words the
//! one-line error must contain. Each must exit with code 2, print exactly one line naming the
//! file, and never panic.

use std::path::{Path, PathBuf};
use std::process::Command;

const BASE: &str = "[hardware]\ninstance = \"p5.48xlarge\"\n[model]\nname = \"llama-2-7b\"\n";
const WORKLOAD: &str = "[workload]\nrequests = 10\narrival = { kind = \"poisson\", rate_per_s = 1.0 }\ninput = { kind = \"fixed\", tokens = 100 }\noutput = { kind = \"fixed\", tokens = 10 }\n";

fn workload(arrival: &str, input: &str, output: &str) -> String {
    format!("[workload]\nrequests = 10\narrival = {arrival}\ninput = {input}\noutput = {output}\n")
}

fn trace_scenario(file: &str) -> String {
    format!("{BASE}[workload]\narrival = {{ kind = \"trace\", path = \"{file}\" }}\n")
}

fn dir(test: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("codesim-robust-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn codesim(args: &[&str], cwd: &Path) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_codesim"))
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// One entry: what it is, the scenario text, extra files beside it, words the error must contain.
type BadScenario = (&'static str, String, Vec<(&'static str, Vec<u8>)>, Vec<&'static str>);

fn scenario_cases() -> Vec<BadScenario> {
    let fixed = "{ kind = \"fixed\", tokens = 100 }";
    let out10 = "{ kind = \"fixed\", tokens = 10 }";
    let poisson = "{ kind = \"poisson\", rate_per_s = 1.0 }";
    vec![
        ("syntax error", "[hardware\n".into(), vec![], vec!["line 1", "syntax"]),
        ("empty file", String::new(), vec![], vec!["missing field `hardware`"]),
        ("unknown top-level key", format!("{BASE}{WORKLOAD}[servng]\nmax_batch = 4\n"), vec![], vec!["servng", "did you mean `serving`"]),
        ("unknown serving key", format!("{BASE}[serving]\nmax_batch_size = 8\n{WORKLOAD}"), vec![], vec!["serving.max_batch_size", "did you mean `max_batch`"]),
        ("unknown arrival key", format!("{BASE}{}", workload("{ kind = \"poisson\", rate_per_sec = 1.0 }", fixed, out10)), vec![], vec!["rate_per_sec", "did you mean `rate_per_s`"]),
        ("unknown arrival kind", format!("{BASE}{}", workload("{ kind = \"poison\", rate_per_s = 1.0 }", fixed, out10)), vec![], vec!["poison", "did you mean `poisson`"]),
        ("unknown length kind", format!("{BASE}{}", workload(poisson, "{ kind = \"fixd\", tokens = 5 }", out10)), vec![], vec!["fixd", "did you mean `fixed`"]),
        ("wrong type", format!("{BASE}[serving]\nmax_batch = \"eight\"\n{WORKLOAD}"), vec![], vec!["serving.max_batch", "line"]),
        ("negative integer", format!("{BASE}{}", workload(poisson, "{ kind = \"fixed\", tokens = -5 }", out10)), vec![], vec!["workload.input", "-5"]),
        ("negative rate", format!("{BASE}{}", workload("{ kind = \"poisson\", rate_per_s = -2.0 }", fixed, out10)), vec![], vec!["workload.arrival.rate_per_s", "> 0"]),
        ("zero rate", format!("{BASE}{}", workload("{ kind = \"poisson\", rate_per_s = 0.0 }", fixed, out10)), vec![], vec!["rate_per_s", "> 0"]),
        ("infinite rate", format!("{BASE}{}", workload("{ kind = \"poisson\", rate_per_s = inf }", fixed, out10)), vec![], vec!["rate_per_s", "finite"]),
        ("NaN override", format!("{BASE}{WORKLOAD}[hardware.chip]\nhbm_bandwidth_gb_s = nan\n"), vec![], vec!["hbm_bandwidth_gb_s", "NaN"]),
        ("zero cv", format!("{BASE}{}", workload("{ kind = \"gamma\", rate_per_s = 1.0, cv = 0.0 }", fixed, out10)), vec![], vec!["workload.arrival.cv"]),
        ("zero clients", format!("{BASE}{}", workload("{ kind = \"closed\", clients = 0 }", fixed, out10)), vec![], vec!["workload.arrival.clients", "at least 1"]),
        ("negative think time", format!("{BASE}{}", workload("{ kind = \"closed\", clients = 2, think_time_s = -1.0 }", fixed, out10)), vec![], vec!["think_time_s", ">= 0"]),
        ("zero tokens", format!("{BASE}{}", workload(poisson, "{ kind = \"fixed\", tokens = 0 }", out10)), vec![], vec!["workload.input.tokens", "at least 1"]),
        ("uniform max below min", format!("{BASE}{}", workload(poisson, "{ kind = \"uniform\", min = 50, max = 10 }", out10)), vec![], vec!["workload.input.max", "min"]),
        ("lognormal without max", format!("{BASE}{}", workload(poisson, "{ kind = \"lognormal\", mean = 100.0, cv = 1.0 }", out10)), vec![], vec!["workload.input", "max"]),
        ("missing requests", format!("{BASE}[workload]\narrival = {{ kind = \"poisson\", rate_per_s = 1.0 }}\ninput = {fixed}\noutput = {out10}\n"), vec![], vec!["workload.requests", "required"]),
        ("missing input", format!("{BASE}[workload]\nrequests = 3\narrival = {{ kind = \"poisson\", rate_per_s = 1.0 }}\noutput = {out10}\n"), vec![], vec!["workload.input", "required"]),
        ("zero requests", format!("{BASE}[workload]\nrequests = 0\narrival = {{ kind = \"offline\" }}\ninput = {fixed}\noutput = {out10}\n"), vec![], vec!["workload.requests", "at least 1"]),
        ("huge request count", format!("{BASE}[workload]\nrequests = 1000000000000\narrival = {{ kind = \"offline\" }}\ninput = {fixed}\noutput = {out10}\n"), vec![], vec!["workload.requests", "split"]),
        ("huge replica count", format!("{BASE}[deployment]\nreplicas = 1000000\n{WORKLOAD}"), vec![], vec!["deployment.replicas"]),
        ("zero TP", format!("{BASE}[deployment]\ntp = 0\n{WORKLOAD}"), vec![], vec!["deployment.tp", "at least 1"]),
        ("TP beyond the instance", format!("{BASE}[deployment]\ntp = 12\n{WORKLOAD}"), vec![], vec!["deployment.tp", "multiple of 8"]),
        ("TP not dividing the heads", format!("{BASE}[deployment]\ntp = 3\n{WORKLOAD}"), vec![], vec!["deployment.tp", "does not divide", "32"]),
        ("zero max batch", format!("{BASE}[serving]\nmax_batch = 0\n{WORKLOAD}"), vec![], vec!["serving.max_batch", "at least 1"]),
        ("reserve fraction out of range", format!("{BASE}[serving]\nkv_reserve_fraction = 1.5\n{WORKLOAD}"), vec![], vec!["kv_reserve_fraction", "[0, 0.95)"]),
        ("efficiency above one", format!("{BASE}{WORKLOAD}[hardware.chip.efficiency]\ncompute = 1.5\n"), vec![], vec!["efficiency", "(0, 1]"]),
        ("misspelt chip override", format!("{BASE}{WORKLOAD}[hardware.chip]\nhbm_bandwith_gb_s = 1.0\n"), vec![], vec!["hardware.chip.hbm_bandwith_gb_s", "hbm_bandwidth_gb_s"]),
        ("unknown dtype", format!("[hardware]\ninstance = \"p5.48xlarge\"\n[model]\nname = \"llama-2-7b\"\nweights = \"fp4\"\n{WORKLOAD}"), vec![], vec!["model.weights", "fp4"]),
        ("unknown instance", format!("[hardware]\ninstance = \"p5.48xlarg\"\n[model]\nname = \"llama-2-7b\"\n{WORKLOAD}"), vec![], vec!["hardware.instance", "did you mean `p5.48xlarge`"]),
        ("unknown model", format!("[hardware]\ninstance = \"p5.48xlarge\"\n[model]\nname = \"llama-3-8bb\"\n{WORKLOAD}"), vec![], vec!["model.name", "did you mean `llama-3-8b`"]),
        ("missing HF config", format!("[hardware]\ninstance = \"p5.48xlarge\"\n[model]\nname = \"nowhere/config.json\"\n{WORKLOAD}"), vec![], vec!["model.name", "not found"]),
        ("model does not fit", format!("[hardware]\ninstance = \"inf2.xlarge\"\n[model]\nname = \"llama-3-70b\"\n[deployment]\ntp = 2\n{WORKLOAD}"), vec![], vec!["does not fit", "GB"]),
        ("lengths beyond the context", format!("{BASE}{}", workload(poisson, "{ kind = \"fixed\", tokens = 4000 }", "{ kind = \"fixed\", tokens = 500 }")), vec![], vec!["context", "4096"]),
        ("missing trace", trace_scenario("nope.csv"), vec![], vec!["nope.csv", "not found"]),
        ("empty trace", trace_scenario("empty.csv"), vec![("empty.csv", b"TIMESTAMP,ContextTokens,GeneratedTokens\n".to_vec())], vec!["empty.csv", "no requests"]),
        ("malformed trace row", trace_scenario("bad.csv"), vec![("bad.csv", b"TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.6805900,374,44\n2023-11-16 18:15:47.0,abc,5\n".to_vec())], vec!["bad.csv", "line 3", "abc"]),
        ("unsorted trace", trace_scenario("unsorted.csv"), vec![("unsorted.csv", b"TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:47.0,10,5\n2023-11-16 18:15:46.0,10,5\n".to_vec())], vec!["unsorted.csv", "line 3", "sort"]),
        ("truncated JSONL trace", trace_scenario("cut.jsonl"), vec![("cut.jsonl", b"{\"timestamp\": 0, \"input_length\": 10, \"output_length\": 5, \"hash_ids\": [0]}\n{\"timestamp\": 5, \"input_len".to_vec())], vec!["cut.jsonl", "line 2", "truncated"]),
        ("non-UTF-8 trace", trace_scenario("bytes.csv"), vec![("bytes.csv", b"TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:47.0,1\xff0,5\n".to_vec())], vec!["bytes.csv", "line 2", "UTF-8"]),
        ("unknown trace header", trace_scenario("odd.csv"), vec![("odd.csv", b"when,prompt,answer\n1,2,3\n".to_vec())], vec!["odd.csv", "line 1"]),
        ("trace row beyond the context", trace_scenario("long.csv"), vec![("long.csv", b"TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:47.0,5000,5\n".to_vec())], vec!["request 1", "context"]),
        ("trace lengths with trace arrivals", format!("{BASE}[workload]\narrival = {{ kind = \"trace\", path = \"t.csv\" }}\ninput = {fixed}\n"), vec![("t.csv", b"TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:47.0,10,5\n".to_vec())], vec!["workload.input", "from the trace"]),
    ]
}

#[test]
fn every_bad_scenario_is_one_clear_line_and_exit_2() {
    let d = dir("scenarios");
    let cases = scenario_cases();
    assert!(cases.len() >= 40, "the catalogue has {} entries", cases.len());
    for (i, (what, text, extra, needles)) in cases.into_iter().enumerate() {
        let sub = d.join(format!("c{i}"));
        std::fs::create_dir_all(&sub).unwrap();
        for (name, bytes) in extra {
            std::fs::write(sub.join(name), bytes).unwrap();
        }
        std::fs::write(sub.join("scenario.toml"), text).unwrap();
        let (code, stderr) = codesim(&["run", "scenario.toml"], &sub);
        assert_eq!(code, 2, "{what}: exit code, stderr: {stderr}");
        assert!(
            !stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"),
            "{what}: {stderr}"
        );
        assert_eq!(stderr.trim().lines().count(), 1, "{what}: one line: {stderr}");
        assert!(stderr.starts_with("error: "), "{what}: {stderr}");
        assert!(
            stderr.contains(".toml") || stderr.contains(".csv") || stderr.contains(".jsonl"),
            "{what}: names the file: {stderr}"
        );
        for n in needles {
            assert!(stderr.contains(n), "{what}: expected `{n}` in: {stderr}");
        }
    }
}

#[test]
fn bad_paths_and_output_directories() {
    let d = dir("paths");
    let quick = format!("{BASE}{WORKLOAD}");
    std::fs::write(d.join("ok.toml"), quick).unwrap();
    std::fs::write(d.join("bytes.toml"), b"\xff\xfe[hardware]").unwrap();
    std::fs::write(d.join("a-file"), b"x").unwrap();
    let cases: Vec<(&str, Vec<&str>, Vec<&str>)> = vec![
        (
            "missing scenario",
            vec!["run", "missing.toml"],
            vec!["missing.toml", "not found"],
        ),
        ("scenario is a directory", vec!["run", "."], vec!["directory"]),
        (
            "non-UTF-8 scenario",
            vec!["run", "bytes.toml"],
            vec!["bytes.toml", "UTF-8"],
        ),
        (
            "output path is a file",
            vec!["run", "ok.toml", "--out", "a-file"],
            vec!["a-file", "not a directory"],
        ),
        (
            "output directory cannot be created",
            vec!["run", "ok.toml", "--out", "/proc/codesim-out"],
            vec!["/proc/codesim-out"],
        ),
        (
            "validation file with the wrong schema",
            vec!["validate", "ok.toml"],
            vec!["ok.toml", "case"],
        ),
        (
            "missing validation file",
            vec!["validate", "none.toml"],
            vec!["none.toml", "not found"],
        ),
    ];
    for (what, args, needles) in cases {
        let (code, stderr) = codesim(&args, &d);
        assert_eq!(code, 2, "{what}: exit code, stderr: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{what}: {stderr}");
        for n in needles {
            assert!(stderr.contains(n), "{what}: expected `{n}` in: {stderr}");
        }
    }
}

#[test]
fn a_bad_validation_case_is_an_input_error_naming_the_case() {
    let d = dir("validation");
    let case = "[[case]]\nid = \"x\"\nsource = \"s\"\ninstance = \"p5.48xlarge\"\ninstances = 1\nchips = 1\nmodel = \"llama-3.1-8b\"\nweights = \"fp8\"\ncompute = \"fp8\"\ntp = 1\ntp_unit = \"gpu\"\nload = \"static\"\ninput_tokens = 10\noutput_tokens = 10\n[case.measured]\noutput_tok_s = 100.0\n";
    std::fs::write(d.join("v.toml"), case).unwrap();
    let (code, stderr) = codesim(&["validate", "v.toml"], &d);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("concurrency") && stderr.contains('x'), "{stderr}");
}
