//! `codesim validate` and `codesim calibrate` on benchmark result files (synthetic,
//! schema-shaped fixtures: tests/fixtures/import/README.md), through the binary.

use std::path::Path;
use std::process::Command;

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/import")
        .join(name)
        .display()
        .to_string()
}

/// (exit code, stdout, stderr).
fn codesim(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_codesim")).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Every format at once, as one report: each run a case, each compared metric a row.
#[test]
fn validate_reads_every_format_into_one_report() {
    let ctx = fixture("context.toml");
    let files = [
        "vllm-closed.json",
        "vllm-append.json",
        "genai-perf.json",
        "aiperf.json",
        "llmperf_summary.json",
    ]
    .map(fixture);
    let mut args = vec!["validate", "--json", "--context", ctx.as_str()];
    args.extend(files.iter().map(String::as_str));
    let (code, out, err) = codesim(&args);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let rows = v["cases"].as_array().unwrap();
    let of = |id: &str| rows.iter().filter(|r| r["id"] == id).count();
    // vllm-closed: output, TTFT ×2, ITL ×2, TPOT ×2 = 7 metrics; genai-perf 7; AIPerf 7;
    // LLMPerf summary 5; vllm-append#1 9, #2 7.
    assert_eq!(
        [of("vllm-closed"), of("genai-perf"), of("aiperf"), of("llmperf_summary")],
        [7, 7, 7, 5],
        "{out}"
    );
    assert_eq!((of("vllm-append#1"), of("vllm-append#2")), (9, 7), "{out}");
    assert!(v["skipped"].as_array().unwrap().is_empty(), "{out}");
    for r in rows {
        assert!(r["predicted"].as_f64().unwrap() > 0.0, "{r}");
        assert!(r["features"].as_str().unwrap().starts_with("imported from"), "{r}");
    }
    let metrics: Vec<&str> = v["by_metric"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["metric"].as_str().unwrap())
        .collect();
    assert!(
        metrics.contains(&"request_tpot_p50_ms") && metrics.contains(&"e2e_p99_ms"),
        "{metrics:?}"
    );
}

/// The flags alone are a context; the table names the imported case.
#[test]
fn validate_takes_the_context_as_flags() {
    let f = fixture("vllm-closed.json");
    let (code, out, err) = codesim(&[
        "validate",
        &f,
        "--instance",
        "p5.48xlarge",
        "--model",
        "llama-3.1-8b",
        "--weights",
        "bf16",
        "--tp",
        "1",
        "--engine",
        "vllm",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("vllm-closed") && out.contains("request_tpot_p99_ms"),
        "{out}"
    );
    assert!(out.contains("imported from vllm bench serve"), "{out}");
}

/// One command fits the chip to the user's runs: the fit ends no worse than it started.
#[test]
fn calibrate_fits_to_result_files() {
    let ctx = fixture("context.toml");
    let (a, b) = (fixture("vllm-closed.json"), fixture("genai-perf.json"));
    let (code, out, err) = codesim(&["calibrate", &a, &b, "--context", &ctx]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("under vllm") && out.contains("2 cases, 14 (case, metric) pairs"),
        "{out}"
    );
    let figure = |after: bool| -> f64 {
        let line = out.lines().find(|l| l.contains("|error| before")).unwrap();
        let part = line.split("; after:").nth(usize::from(after)).unwrap();
        part.split("median ")
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert!(figure(true) <= figure(false) + 1e-9, "{out}");
}

/// Bad result files and contexts: exit 2, one line naming the file and what is wrong.
#[test]
fn bad_result_files_exit_2_naming_the_problem() {
    let ctx = fixture("context.toml");
    let cases: Vec<(Vec<String>, Vec<&str>)> = vec![
        (
            vec![fixture("bad-ramp-up.json"), "--context".into(), ctx.clone()],
            vec!["bad-ramp-up.json", "ramp_up_strategy"],
        ),
        (
            vec![fixture("bad-unit.json"), "--context".into(), ctx.clone()],
            vec!["time_to_first_token", "fortnights", "ms"],
        ),
        (
            vec![fixture("bad-value.json"), "--context".into(), ctx.clone()],
            vec!["median_ttft_ms", "\"fast\""],
        ),
        (vec![fixture("vllm-closed.json")], vec!["`instance`", "--instance"]),
        (
            vec![fixture("genai-perf.csv"), "--context".into(), ctx.clone()],
            vec!["genai-perf.csv", "concurrency = N"],
        ),
        (
            vec![
                fixture("vllm-closed.json"),
                "--context".into(),
                ctx.clone(),
                "--weights".into(),
                "fp5".into(),
            ],
            vec!["--weights", "fp5", "bf16"],
        ),
        (
            vec![fixture("vllm-closed.json"), "--context".into(), fixture("README.md")],
            vec!["README.md", "syntax"],
        ),
    ];
    for (args, words) in cases {
        for cmd in ["validate", "calibrate"] {
            let mut a = vec![cmd];
            a.extend(args.iter().map(String::as_str));
            let (code, _, err) = codesim(&a);
            assert_eq!(code, 2, "{cmd} {args:?}: {err}");
            assert_eq!(err.trim().lines().count(), 1, "{err}");
            for w in &words {
                assert!(err.contains(w), "{cmd} {args:?}: `{w}` not in {err}");
            }
        }
    }
}

/// --help says which formats are read.
#[test]
fn help_names_the_accepted_formats() {
    let (code, out, _) = codesim(&["validate", "--help"]);
    assert_eq!(code, 0);
    for w in [
        "vllm bench serve",
        "genai-perf",
        "AIPerf",
        "LLMPerf",
        "docs/reference/import.md",
        "--context",
    ] {
        assert!(out.contains(w), "`{w}` not in {out}");
    }
}

/// Two files whose runs would share an id: the second is refused, not silently merged.
#[test]
fn the_same_run_twice_is_refused() {
    let (ctx, f) = (fixture("context.toml"), fixture("vllm-closed.json"));
    let (code, _, err) = codesim(&["validate", &f, &f, "--context", &ctx]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("vllm-closed") && err.contains("earlier file"), "{err}");
}
