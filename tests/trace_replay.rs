//! Trace replay as users have their traces: at a target mean rate, a time window of it, rows
//! beyond the context dropped or clipped, and a block bootstrap that follows the seed; through
//! the scenario loader (closed forms on the rows replayed) and the `codesim` binary.

use std::path::{Path, PathBuf};
use std::process::Command;

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("codesim-replay-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A Vidur CSV trace: arrivals at 0, 1, 3, 6, 10, 15, 21, 28, 36 and 45 s (gaps 1 to 9 s), each
/// with 100 + 10 i prompt tokens and 20 output tokens; row 5 has a 5000-token prompt, beyond the
/// 4096-token context of Llama-2-7B.
fn write_trace(dir: &Path) {
    let mut csv = String::from("arrived_at,num_prefill_tokens,num_decode_tokens\n");
    let mut t = 0;
    for i in 0..10 {
        t += i;
        let prompt = if i == 5 { 5000 } else { 100 + 10 * i };
        csv += &format!("{t},{prompt},20\n");
    }
    std::fs::write(dir.join("t.csv"), csv).unwrap();
}

fn scenario_text(workload: &str) -> String {
    format!(
        "seed = 7\n[hardware]\ninstance = \"p5.48xlarge\"\n[model]\nname = \"llama-2-7b\"\n[workload]\n{workload}\n"
    )
}

fn load(dir: &Path, workload: &str) -> codesim::Scenario {
    let p = dir.join("s.toml");
    std::fs::write(&p, scenario_text(workload)).unwrap();
    codesim::scenario::load(&p).unwrap_or_else(|e| panic!("{e}"))
}

fn arrivals_s(sc: &codesim::Scenario) -> Vec<f64> {
    let t = sc.trace.as_ref().unwrap();
    t.requests.iter().map(|r| r.arrival_ns as f64 * 1e-9).collect()
}

/// The window [10 s, 10 s + 20 s) holds the rows at 10, 15, 21 and 28 s (row 5, at 15 s, is
/// dropped as over the context): 3 rows at 0, 11 and 18 s. At 0.5 req/s the 2 gaps must span
/// 4 s: every arrival × 4/18.
#[test]
fn a_window_at_a_target_rate_replays_those_rows_at_that_rate() {
    let dir = temp_dir("window");
    write_trace(&dir);
    let sc = load(
        &dir,
        "over_context = \"drop\"\narrival = { kind = \"trace\", path = \"t.csv\", start_s = 10.0, duration_s = 20.0, rate_per_s = 0.5 }",
    );
    assert_eq!(sc.requests, 3);
    assert_eq!(sc.dropped_over_context, 1);
    let a = arrivals_s(&sc);
    let want = [0.0, 11.0 * 4.0 / 18.0, 4.0];
    for (got, want) in a.iter().zip(want) {
        assert!((got - want).abs() < 1e-9, "{a:?}");
    }
    let rate = (a.len() - 1) as f64 / (a[a.len() - 1] - a[0]);
    assert!((rate - 0.5).abs() < 1e-9, "{rate}");
    let notes = sc.notes.join("\n");
    assert!(notes.contains("trace window: 4 of the 10 rows"), "{notes}");
    assert!(notes.contains("trace replayed at 0.5 req/s"), "{notes}");
    assert!(notes.contains("1 requests beyond the 4096-token context"), "{notes}");
}

/// Clipping keeps every row: row 5's prompt is cut to 4096 − 20 = 4076 tokens. With
/// `requests = 6` and `drop`, the first six rows that fit are replayed (row 6 replaces row 5).
#[test]
fn clipping_keeps_every_row_and_dropping_keeps_the_count_asked() {
    let dir = temp_dir("clip");
    write_trace(&dir);
    let sc = load(
        &dir,
        "over_context = \"clip\"\narrival = { kind = \"trace\", path = \"t.csv\" }",
    );
    let t = sc.trace.as_ref().unwrap();
    assert_eq!((t.requests.len(), t.requests[5].input_tokens), (10, 4076));
    assert_eq!((sc.clipped_over_context, sc.dropped_over_context), (1, 0));
    let sc = load(
        &dir,
        "requests = 6\nover_context = \"drop\"\narrival = { kind = \"trace\", path = \"t.csv\" }",
    );
    let t = sc.trace.as_ref().unwrap();
    assert_eq!((sc.requests, sc.dropped_over_context), (6, 1));
    assert_eq!(t.requests[5].input_tokens, 160);
}

/// The block bootstrap follows the seed: another seed, another sample of the same rows.
#[test]
fn a_bootstrap_varies_the_sample_with_the_seed() {
    let dir = temp_dir("boot");
    write_trace(&dir);
    let w = "over_context = \"drop\"\narrival = { kind = \"trace\", path = \"t.csv\", bootstrap_block = 3 }";
    let a = load(&dir, w);
    let b = load(&dir, w);
    assert_eq!(a.trace, b.trace);
    let p = dir.join("s.toml");
    std::fs::write(&p, scenario_text(w).replace("seed = 7", "seed = 8")).unwrap();
    let c = codesim::scenario::load(&p).unwrap();
    assert_ne!(a.trace, c.trace);
    assert!(
        a.notes
            .iter()
            .any(|n| n.contains("block bootstrap of 10 rows in blocks of 3"))
    );
}

/// Through the binary: the summary counts the dropped row, and the rows replayed are the
/// arrived ones plus it (nothing lost silently).
#[test]
fn the_binary_reports_dropped_rows_in_the_summary_and_notes() {
    let dir = temp_dir("bin");
    write_trace(&dir);
    let p = dir.join("s.toml");
    std::fs::write(
        &p,
        scenario_text("over_context = \"drop\"\narrival = { kind = \"trace\", path = \"t.csv\", rate_per_s = 2.0 }"),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_codesim"))
        .args(["run", p.to_str().unwrap(), "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let r = &v["requests"];
    assert_eq!(r["dropped_over_context"], 1);
    assert_eq!(r["arrived"].as_u64().unwrap() + 1, 10);
    assert_eq!(r["completed"], 9);
    let notes = v["notes"].to_string();
    assert!(notes.contains("over_context = \\\"drop\\\": 1 requests"), "{notes}");
    let text = Command::new(env!("CARGO_BIN_EXE_codesim"))
        .args(["run", p.to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("1 over the context dropped before arrival"), "{text}");
}
