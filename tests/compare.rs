//! `codesim compare A B` through the binary: two runs, two sweeps, and inputs that do not match.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_codesim");

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("codesim-compare-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn codesim(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn ok(args: &[&str]) -> String {
    let o = codesim(args);
    assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The cells of the Markdown table row whose first cell is `first`.
fn row(md: &str, first: &str) -> Vec<String> {
    md.lines()
        .find(|l| l.starts_with(&format!("| {first} |")))
        .unwrap_or_else(|| panic!("no row {first} in\n{md}"))
        .trim_matches('|')
        .split(" | ")
        .map(|c| c.trim().to_string())
        .collect()
}

fn scenario(dir: &Path, name: &str, max_batch: u32) -> PathBuf {
    let p = dir.join(format!("{name}.toml"));
    std::fs::write(
        &p,
        format!(
            r#"name = "{name}"
seed = 5
[hardware]
instance = "p5.48xlarge"
[model]
name = "llama-3.2-1b"
[serving]
max_batch = {max_batch}
[workload]
requests = 200
arrival = {{ kind = "poisson", rate_per_s = 20.0 }}
input = {{ kind = "lognormal", mean = 400.0, cv = 1.0, max = 2000 }}
output = {{ kind = "lognormal", mean = 80.0, cv = 1.0, max = 400 }}
"#
        ),
    )
    .unwrap();
    p
}

fn sweep(dir: &Path, name: &str, tps: &str, max_batch: u32) -> PathBuf {
    let p = dir.join(format!("{name}.toml"));
    std::fs::write(
        &p,
        format!(
            r#"name = "{name}"
[axes]
"deployment.tp" = [{tps}]
"workload.arrival.rate_per_s" = [10, 40]
[plot]
group_by = ["deployment.tp"]
[base]
seed = 5
[base.hardware]
instance = "p5.48xlarge"
[base.model]
name = "llama-3.2-1b"
[base.serving]
max_batch = {max_batch}
[base.workload]
requests = 100
arrival = {{ kind = "poisson", rate_per_s = 1.0 }}
input = {{ kind = "lognormal", mean = 400.0, cv = 1.0, max = 2000 }}
output = {{ kind = "lognormal", mean = 80.0, cv = 1.0, max = 400 }}
"#
        ),
    )
    .unwrap();
    p
}

fn summary_figure(dir: &Path, path: &[&str]) -> f64 {
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
    path.iter().fold(&v, |v, k| &v[*k]).as_f64().unwrap()
}

#[test]
fn two_runs_side_by_side_with_difference_and_ratio() {
    let d = temp_dir("runs");
    let (a, b) = (d.join("a"), d.join("b"));
    ok(&["run", s(&scenario(&d, "wide", 64)), "--out", s(&a)]);
    ok(&["run", s(&scenario(&d, "narrow", 4)), "--out", s(&b)]);
    let out = d.join("cmp");
    // A directory and a summary.json file are both a run.
    let md = ok(&["compare", s(&a), s(&b.join("summary.json")), "--out", s(&out)]);
    assert!(md.starts_with("# Comparison of two runs"), "{md}");
    let r = row(&md, "TTFT p99 (ms)");
    let (x, y) = (
        summary_figure(&a, &["ttft_ms", "p99"]),
        summary_figure(&b, &["ttft_ms", "p99"]),
    );
    assert_eq!(r[4], format!("{:.3}", y / x), "{r:?}");
    assert!(y > x, "4 sequences per batch queue longer than 64: {x} vs {y}");
    let inst = row(&md, "instances");
    assert_eq!(&inst[1..], ["1", "1", "0", "1.000"]);
    assert!(md.contains("| state | steady |") || md.contains("⚠"), "{md}");
    assert_eq!(std::fs::read_to_string(out.join("compare.md")).unwrap(), md);
    let html = std::fs::read_to_string(out.join("compare.html")).unwrap();
    assert!(
        html.contains("<strong>A</strong>") && !html.contains("**"),
        "markdown rendered"
    );
    assert!(html.contains("<table>") && html.contains("<td>TTFT p99 (ms)</td>"));
}

#[test]
fn two_sweeps_are_joined_on_configuration_and_load() {
    let d = temp_dir("sweeps");
    let (a, b) = (d.join("a"), d.join("b"));
    ok(&["sweep", s(&sweep(&d, "base", "1, 2", 64)), "--out", s(&a), "--no-plots"]);
    ok(&[
        "sweep",
        s(&sweep(&d, "small-batch", "2, 4", 8)),
        "--out",
        s(&b),
        "--no-plots",
    ]);
    // A sweep's results.parquet names its directory.
    let md = ok(&["compare", s(&a), s(&b.join("results.parquet"))]);
    assert!(md.starts_with("# Comparison of two sweeps"), "{md}");
    assert!(md.contains("2 pairs"), "TP 2 at two rates: {md}");
    assert!(md.contains("## TTFT p99 (ms)") && md.contains("| configuration | rate (req/s) | A | B |"));
    let r = row(&md, "2");
    assert_eq!(r[1], "10", "{r:?}");
    assert!(md.contains("Only in A (2 runs): 1 @ 10; 1 @ 40."), "{md}");
    assert!(md.contains("Only in B (2 runs): 4 @ 10; 4 @ 40."), "{md}");

    // A run against a sweep, sweeps with nothing in common, and a path that is neither: exit 2.
    let c = d.join("c");
    ok(&["sweep", s(&sweep(&d, "other", "8", 64)), "--out", s(&c), "--no-plots"]);
    let run = d.join("run");
    ok(&["run", s(&scenario(&d, "one", 64)), "--out", s(&run)]);
    for (x, y, says) in [
        (a.clone(), run.clone(), "two runs or two sweeps"),
        (a.clone(), c.clone(), "no configuration and swept value in common"),
        (a.clone(), d.join("missing"), "accepted: a run"),
    ] {
        let o = codesim(&["compare", s(&x), s(&y)]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(err.contains(says), "{err}");
    }
}
