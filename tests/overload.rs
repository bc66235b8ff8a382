//! Overload honesty (robustness issue): a run that is stopped before every request finished says
//! so, counts the unfinished requests, and keeps them out of the latency percentiles; a backlog
//! that would exhaust memory stops the run as overloaded instead.

use codesim::sim::{MAX_IN_SYSTEM, RunOptions, Simulation};
use std::path::Path;
use std::process::Command;

const OVERLOADED: &str = r#"
seed = 3
[hardware]
instance = "p5.48xlarge"
[model]
name = "llama-2-7b"
[serving]
max_batch = 32
[workload]
requests = 4000
arrival = { kind = "poisson", rate_per_s = 16.0 }
input = { kind = "fixed", tokens = 1024 }
output = { kind = "fixed", tokens = 256 }
"#;

fn run(text: &str) -> (codesim::RunResult, Vec<codesim::metrics::RequestRow>) {
    let sc = codesim::scenario::load_str(text, Path::new("overload.toml")).unwrap_or_else(|e| panic!("{e}"));
    // The invariant audit runs too: a cut run must still be internally consistent.
    let opts = RunOptions {
        keep_requests: true,
        audit: true,
        timeline: None,
    };
    let (r, rows) = Simulation::new(&sc, opts).unwrap().run().unwrap();
    assert!(r.audit.is_empty(), "audit: {:?}", r.audit);
    (r, rows)
}

#[test]
fn a_horizon_reports_unfinished_requests_and_keeps_them_out_of_the_percentiles() {
    let (full, _) = run(OVERLOADED);
    let (cut, rows) = run(&OVERLOADED.replace("[workload]\n", "[workload]\nhorizon_s = 60.0\n"));
    let c = cut.requests;
    println!(
        "full: {} completed, p50 E2E {:.0} ms; horizon 60 s: {} arrived, {} completed, {} unfinished, p50 E2E {:.0} ms, {}",
        full.requests.completed, full.e2e_ms.p50, c.arrived, c.completed, c.unfinished, cut.e2e_ms.p50, cut.saturation
    );
    assert_eq!(full.requests.unfinished, 0);
    assert_eq!(full.saturation, "overloaded");
    assert!(
        c.unfinished > 100,
        "a 60 s horizon at 2x capacity leaves a queue: {c:?}"
    );
    assert!(
        c.arrived < 1100 && c.arrived > 850,
        "arrivals stop at the horizon: {c:?}"
    );
    assert_eq!(c.arrived, c.completed + c.dropped + c.rejected + c.unfinished);
    // Percentiles are over completed requests only: exactly the rows kept.
    assert_eq!(rows.len() as u64, c.completed);
    let mut e2e: Vec<f32> = rows.iter().map(|r| r.e2e_ms as f32).collect();
    e2e.sort_by(f32::total_cmp);
    assert!((codesim::metrics::quantile_sorted(&e2e, 0.5) - cut.e2e_ms.p50).abs() <= 1e-3 * cut.e2e_ms.p50);
    assert!(rows.iter().all(|r| r.arrival_s * 1e3 + r.e2e_ms <= 60_000.0 + 1e-6));
    assert!((cut.sim.sim_time_s - 60.0).abs() < 1e-9, "measured over the horizon");
    assert_eq!(cut.saturation, "overloaded");
    assert!(
        cut.notes
            .iter()
            .any(|n| n.contains("horizon") && n.contains("still queued")),
        "{:?}",
        cut.notes
    );
    // The truncated run's tail is far below the full run's: that is why it must not pass as
    // the whole story.
    assert!(cut.e2e_ms.p99 < full.e2e_ms.p99);
}

#[test]
fn a_horizon_past_the_end_changes_nothing() {
    let (full, _) = run(OVERLOADED);
    let (same, _) = run(&OVERLOADED.replace("[workload]\n", "[workload]\nhorizon_s = 1e6\n"));
    let strip = |mut r: codesim::RunResult| {
        r.audit.clear();
        r.sim.wall_s = 0.0;
        serde_json::to_string(&r).unwrap()
    };
    assert_eq!(strip(full), strip(same));
}

#[test]
fn a_backlog_beyond_memory_stops_the_run_as_overloaded() {
    let text = OVERLOADED
        .replace("requests = 4000", &format!("requests = {}", MAX_IN_SYSTEM + 50_000))
        .replace(r#"{ kind = "poisson", rate_per_s = 16.0 }"#, r#"{ kind = "offline" }"#);
    let sc = codesim::scenario::load_str(&text, Path::new("overload.toml")).unwrap();
    let (r, _) = Simulation::new(&sc, RunOptions::default()).unwrap().run().unwrap();
    let c = r.requests;
    println!("{c:?} {}", r.saturation);
    assert_eq!(r.saturation, "overloaded");
    assert!(c.unfinished >= MAX_IN_SYSTEM, "{c:?}");
    assert!(c.arrived < MAX_IN_SYSTEM + 50_000);
    assert_eq!(c.arrived, c.completed + c.dropped + c.rejected + c.unfinished);
    assert!(
        r.notes.iter().any(|n| n.contains("grows without bound")),
        "{:?}",
        r.notes
    );
}

#[test]
fn the_cli_shows_unfinished_requests_and_a_bad_horizon_is_refused() {
    let dir = std::env::temp_dir().join(format!("codesim-overload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ok = dir.join("cut.toml");
    std::fs::write(&ok, OVERLOADED.replace("[workload]\n", "[workload]\nhorizon_s = 5.0\n")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_codesim"))
        .arg("run")
        .arg(&ok)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(text.contains("UNFINISHED (not in the percentiles)"), "{text}");
    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        OVERLOADED.replace("[workload]\n", "[workload]\nhorizon_s = -1.0\n"),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_codesim"))
        .arg("run")
        .arg(&bad)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("workload.horizon_s") && err.contains("bad.toml") && err.contains("-1"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// Backlog against a closed form: with `max_batch = 1` and fixed lengths (256 in, 64 out) a
/// replica serves one request at a time, each in the same time S (its prefill and 63 decode
/// steps; measured as a lone request's E2E, which only adds the host's few µs of tokenizing), so
/// its service rate is μ = 1 / S. Nearly periodic arrivals (Gamma, CV 0.05) at λ = 0.5 μ find the
/// replica idle (D/D/1, ρ = 0.5): stable, and the SLO is met. At λ = 1.1 μ and 1.5 μ the queue
/// grows by (λ − μ) per second, so over the second half of the arrivals 1.1 × (or 1.5 ×) as many
/// arrive as complete, more than the 1.05 × the rule allows: overloaded, and the SLO is missed
/// although its threshold (E2E p99 ≤ 10⁶ ms) holds for every request, with the reason given.
#[test]
fn arrivals_beyond_the_closed_form_service_rate_never_meet_an_slo() {
    let text = |requests: u32, rate: f64| {
        format!(
            "[hardware]\ninstance = \"p5.48xlarge\"\n[model]\nname = \"llama-2-7b\"\n[serving]\nmax_batch = 1\n[workload]\nrequests = {requests}\narrival = {{ kind = \"gamma\", rate_per_s = {rate}, cv = 0.05 }}\ninput = {{ kind = \"fixed\", tokens = 256 }}\noutput = {{ kind = \"fixed\", tokens = 64 }}\n"
        )
    };
    let (lone, _) = run(&text(1, 1.0));
    let service_s = lone.e2e_ms.p50 * 1e-3;
    let slo: codesim::metrics::slo::Slo = toml::from_str("e2e_ms = 1e6").unwrap();
    for (load, expect_steady) in [(0.5, true), (1.1, false), (1.5, false)] {
        let (r, _) = run(&text(200, load / service_s));
        let c = r.requests;
        println!(
            "λ = {load} μ (S = {:.1} ms): {}, E2E p99 {:.0} ms, meets: {:?}",
            service_s * 1e3,
            r.saturation,
            r.e2e_ms.p99,
            slo.miss(&r)
        );
        assert_eq!(c.completed, 200, "every request completes");
        assert!(r.e2e_ms.p99 <= 1e6, "the threshold itself holds at λ = {load} μ");
        assert_eq!(slo.met_by(&r), expect_steady, "λ = {load} μ");
        if expect_steady {
            assert_eq!(r.saturation, "stable");
            // D/D/1 below saturation: nobody waits for the replica.
            assert!(
                r.queue_ms.p99 < 0.05 * service_s * 1e3,
                "queue p99 {} ms",
                r.queue_ms.p99
            );
        } else {
            assert_ne!(r.saturation, "stable");
            let why = slo.miss(&r).unwrap();
            assert!(why.contains("overloaded") || why.contains("backlogged"), "{why}");
        }
    }
}
