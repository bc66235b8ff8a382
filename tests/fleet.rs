//! The fleet over time (issue 23): time-varying demand and per-window metrics, each checked
//! against a closed form or a hand calculation.

use codesim::sim::{RunOptions, Simulation};
use std::path::Path;

fn run(text: &str) -> codesim::metrics::RunResult {
    let sc = codesim::scenario::load_str(text, Path::new("fleet-test.toml")).unwrap_or_else(|e| panic!("{e}"));
    let (mut r, _) = Simulation::new(&sc, RunOptions::default()).unwrap().run().unwrap();
    r.sim.wall_s = 0.0;
    r
}

const BASE: &str = r#"
name = "fleet-test"
[hardware]
instance = "p5.48xlarge"
[model]
name = "llama-2-7b"
[deployment]
tp = 1
replicas = 2
[serving]
max_batch = 64
[workload]
requests = 3000
arrival = { kind = "poisson", rate_per_s = 20.0 }
input = { kind = "lognormal", mean = 400.0, cv = 1.0, max = 3000 }
output = { kind = "lognormal", mean = 100.0, cv = 1.0, max = 800 }
[slo]
ttft_ms = 100
"#;

/// A flat profile is the run without one: every arrival time maps to itself exactly (the
/// integrated multiplier is the identity, and a + (s − a) = s in floating point for the
/// profile's integer edges), so the summary is the same bytes apart from the two notes that
/// say a profile and windows were asked for.
#[test]
fn a_static_profile_reproduces_the_run_byte_for_byte() {
    let plain = run(BASE);
    let flat = run(&format!(
        "{BASE}\n[workload.profile]\ndaily = [{}]\n",
        vec!["1.0"; 24].join(", ")
    ));
    assert!(!flat.windows.is_empty(), "a profile records windows");
    let mut flat = flat;
    flat.notes
        .retain(|n| !n.starts_with("workload.profile:") && !n.starts_with("per-window metrics"));
    let (a, b) = (
        serde_json::to_string_pretty(&plain).unwrap(),
        serde_json::to_string_pretty(&flat).unwrap(),
    );
    assert!(a == b, "a flat profile changed the run");
}

/// The windows add up to the run: every arrival and completion lands in exactly one window,
/// the windows tile the run's span, and a profile with hour 0 at ×2 and hour 1 at ×0 sees its
/// arrivals only in the first hour, at twice the base rate.
#[test]
fn windows_tile_the_run_and_follow_the_profile() {
    let mut daily = vec!["0.0"; 24];
    daily[0] = "2.0";
    daily[2] = "1.0";
    let text = BASE
        .replace("requests = 3000", "requests = 100000\nhorizon_s = 10800")
        .replace("rate_per_s = 20.0", "rate_per_s = 2.0");
    let r = run(&format!(
        "{text}\n[workload.profile]\ndaily = [{}]\n[fleet]\nwindow_s = 600\n",
        daily.join(", ")
    ));
    let w = &r.windows;
    assert_eq!(w.len(), 18, "three hours of 10-minute windows");
    for (i, row) in w.iter().enumerate() {
        assert_eq!(row.start_s, i as f64 * 600.0);
        assert_eq!(row.end_s, row.start_s + 600.0);
    }
    let arrivals: u64 = w.iter().map(|x| x.arrivals).sum();
    assert_eq!(arrivals, r.requests.arrived);
    let completions: u64 = w.iter().map(|x| x.completions).sum();
    assert_eq!(completions, r.requests.completed);
    let hour = |h: usize| w[h * 6..h * 6 + 6].iter().map(|x| x.arrivals).sum::<u64>() as f64;
    assert_eq!(hour(1), 0.0, "a zero hour receives nothing");
    // Poisson counts: mean 2 × 2 × 3600 = 14400 in hour 0, 7200 in hour 2; 5 σ bounds.
    assert!((hour(0) - 14_400.0).abs() < 5.0 * 14_400f64.sqrt(), "{}", hour(0));
    assert!((hour(2) - 7_200.0).abs() < 5.0 * 7_200f64.sqrt(), "{}", hour(2));
    // The instances (one p5.48xlarge) are paid in every window, idle or not, and the windows'
    // dollars add up to the run's.
    assert!(w.iter().all(|x| (x.usd_per_hour - r.cost.usd_per_hour).abs() < 1e-9));
    let usd: f64 = w.iter().map(|x| x.usd_per_hour * (x.end_s - x.start_s) / 3600.0).sum();
    assert!(
        (usd - r.cost.usd_total).abs() < 1e-9 * r.cost.usd_total,
        "{usd} vs {}",
        r.cost.usd_total
    );
}

/// Bad profile values are errors naming the key.
#[test]
fn a_profile_on_a_closed_loop_is_refused_naming_the_key() {
    let text = BASE.replace(
        r#"arrival = { kind = "poisson", rate_per_s = 20.0 }"#,
        r#"arrival = { kind = "closed", clients = 4 }"#,
    );
    let e = codesim::scenario::load_str(
        &format!("{text}\n[workload.profile]\ndaily = [1.0]\n"),
        Path::new("x.toml"),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("workload.profile") && e.contains("rate arrivals"), "{e}");
    let e = codesim::scenario::load_str(&format!("{BASE}\n[fleet]\nwindow_s = 0\n"), Path::new("x.toml"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("fleet.window_s"), "{e}");
}

/// `codesim run --out` writes the windows as Parquet and CSV and the timeline as PNG and SVG,
/// one CSV row per window after the header.
#[test]
fn run_out_writes_the_windows_table_and_the_timeline() {
    let dir = std::env::temp_dir().join(format!("codesim-fleet-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("s.toml");
    std::fs::write(&file, format!("{BASE}\n[fleet]\nwindow_s = 30\n")).unwrap();
    let out = dir.join("out");
    let st = std::process::Command::new(env!("CARGO_BIN_EXE_codesim"))
        .args(["run", file.to_str().unwrap(), "--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    for f in ["windows.parquet", "windows.csv", "timeline.png", "timeline.svg"] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let span_s = summary["sim"]["sim_time_s"].as_f64().unwrap();
    let csv = std::fs::read_to_string(out.join("windows.csv")).unwrap();
    assert!(csv.starts_with("start_s,end_s,arrivals,completions,replicas_ready"));
    let rows = csv.lines().count() - 1;
    assert!(span_s > 30.0, "{span_s}");
    assert_eq!(
        rows,
        (span_s / 30.0).ceil() as usize,
        "one row per 30 s window of {span_s} s"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A spike the fleet cannot absorb, drained long before the last arrival: 20 req/s, ×4 for 30 s
/// from t = 20 s, two llama-2-7b replicas of 16 sequences. The steady-state probe reads the run
/// after its queue drained and called it stable (TTFT p99 27.6 s before this rule); the windows
/// see the backlog: the first window that ended with more requests waiting than it completed
/// makes the run `backlogged`, named in a note, and that window is one the table shows. The
/// same load without the spike stays stable, with no such window.
#[test]
fn a_window_that_ends_with_a_backlog_longer_than_itself_makes_the_run_backlogged() {
    let base = BASE
        .replace("max_batch = 64", "max_batch = 16")
        .replace("requests = 3000", "requests = 8000");
    let calm = run(&format!(
        "{base}[fleet]\nwindow_s = 5\n[workload.profile]\ndaily = [1.0]\n"
    ));
    assert_eq!(calm.saturation, "stable");
    assert!(calm.windows.iter().all(|w| w.queued <= w.completions));
    let spiked = run(&format!(
        "{base}[fleet]\nwindow_s = 5\n[workload.profile]\ndaily = [1.0]\n[[workload.profile.spikes]]\nstart_s = 20.0\nduration_s = 30.0\nfactor = 4.0\n"
    ));
    assert_eq!(spiked.saturation, "backlogged");
    let note = spiked
        .notes
        .iter()
        .find(|n| n.starts_with("saturation: backlogged from the window"))
        .expect("the backlog note");
    let first = spiked
        .windows
        .iter()
        .find(|w| w.completions > 0 && w.queued > w.completions)
        .expect("a backlogged window");
    assert!(
        note.contains(&format!("{:.0}-{:.0} s", first.start_s, first.end_s))
            && note.contains(&format!("{} requests waited", first.queued)),
        "{note}"
    );
    assert!(first.start_s >= 20.0, "the backlog starts with the spike: {first:?}");
}

/// The week-long examples (`scenarios/week/`, kept out of `scenarios/` whose every file the
/// tests run in a debug build) load as a week of 50 req/s on average, autoscaled, and their
/// first ten minutes run: requests conserved, the fleet within its bounds, a window per 600 s.
#[test]
fn the_week_examples_load_as_a_week_and_their_first_minutes_run() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/week");
    for name in ["week-azure-p5.toml", "week-azure-trn2.toml"] {
        let path = dir.join(name);
        let text = std::fs::read_to_string(&path).unwrap();
        let sc = codesim::scenario::load(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(sc.horizon_ns, Some(604_800_000_000_000), "{name}");
        let daily = &sc.profile.as_ref().expect("a profile").daily;
        assert!(
            (daily.iter().sum::<f64>() / daily.len() as f64 - 1.0).abs() < 1e-9,
            "{name}"
        );
        let fleet = sc.fleet.as_ref().expect("a fleet");
        let scale = fleet.autoscale.as_ref().expect("autoscaled");
        let short = text.replace("horizon_s = 604800", "horizon_s = 600");
        let sc = codesim::scenario::load_str(&short, &path).unwrap();
        let (r, _) = Simulation::new(&sc, RunOptions::default()).unwrap().run().unwrap();
        let c = &r.requests;
        assert_eq!(c.arrived, c.completed + c.unfinished, "{name}: {c:?}");
        assert!(c.completed > 10_000, "{name}: 600 s at 22 req/s: {c:?}");
        assert_eq!(r.windows.len(), 1, "{name}");
        let w = &r.windows[0];
        let provisioned = w.replicas_ready + w.replicas_starting + w.replicas_draining;
        assert!(
            (scale.min_replicas..=scale.max_replicas).contains(&provisioned),
            "{name}: {w:?}"
        );
    }
}

/// A window's batch slots used are the ready replicas' requests over their slots: 100 requests
/// at t = 0 on two replicas of 64 slots each, none finished when the first 50 ms window closes
/// (each has 500 tokens to generate), read 100 / (2 × 64) = 0.78125; with twice the slots,
/// half as much.
#[test]
fn a_window_reads_its_batch_slots_used_as_requests_over_slots() {
    for (max_batch, used) in [(64, 100.0 / 128.0), (128, 100.0 / 256.0)] {
        let text = BASE
            .replace("max_batch = 64", &format!("max_batch = {max_batch}"))
            .replace("requests = 3000", "requests = 100")
            .replace("{ kind = \"poisson\", rate_per_s = 20.0 }", "{ kind = \"offline\" }")
            .replace(
                "{ kind = \"lognormal\", mean = 100.0, cv = 1.0, max = 800 }",
                "{ kind = \"fixed\", tokens = 500 }",
            )
            + "[fleet]\nwindow_s = 0.05\n";
        let r = run(&text);
        let w = &r.windows[0];
        assert_eq!((w.end_s, w.completions, w.in_system), (0.05, 0, 100), "{w:?}");
        assert_eq!(w.batch_slots_used, Some(used), "{w:?}");
    }
}

/// A window's KV used is the ready replicas' blocks held over their blocks. Two requests of
/// 512 prompt tokens, one per replica, are in their prefill when the first 5 ms window closes
/// (it ends at 14.8 ms): each holds ⌈512 / 16⌉ = 32 blocks of 16 tokens, nothing decoded yet,
/// 64 of the two replicas' blocks (7,609 each, as the step timeline reads them); prompts of
/// 1,024 tokens hold twice as many.
#[test]
fn a_window_reads_its_kv_used_as_blocks_held_over_blocks() {
    for (input, held) in [(512, 64.0), (1024, 128.0)] {
        let text = BASE
            .replace("requests = 3000", "requests = 2")
            .replace("{ kind = \"poisson\", rate_per_s = 20.0 }", "{ kind = \"offline\" }")
            .replace(
                "{ kind = \"lognormal\", mean = 400.0, cv = 1.0, max = 3000 }",
                &format!("{{ kind = \"fixed\", tokens = {input} }}"),
            )
            .replace(
                "{ kind = \"lognormal\", mean = 100.0, cv = 1.0, max = 800 }",
                "{ kind = \"fixed\", tokens = 500 }",
            )
            + "[fleet]\nwindow_s = 0.005\n";
        let sc = codesim::scenario::load_str(&text, Path::new("fleet-test.toml")).unwrap();
        let opts = RunOptions {
            timeline: Some(Default::default()),
            ..RunOptions::default()
        };
        let (r, _, tl) = Simulation::new(&sc, opts).unwrap().run_timeline().unwrap();
        let tl = tl.expect("a timeline was asked for");
        let first: Vec<_> = tl.steps.iter().filter(|s| s.start_ns == tl.steps[0].start_ns).collect();
        assert_eq!(first.len(), 2, "one prefill per replica");
        for s in &first {
            assert_eq!((s.prefill_tokens, s.decode_rows), (input, 0), "{s:?}");
            assert!(
                s.start_ns < 5_000_000 && s.end_ns > 5_000_000,
                "the prefill spans the window's end: {s:?}"
            );
        }
        let blocks = (first[0].kv_total_blocks + first[1].kv_total_blocks) as f64;
        assert_eq!(blocks, 2.0 * 7609.0);
        let w = &r.windows[0];
        assert_eq!((w.end_s, w.in_system, w.completions), (0.005, 2, 0), "{w:?}");
        assert_eq!(w.kv_used, Some(held / blocks), "{w:?}");
    }
}
