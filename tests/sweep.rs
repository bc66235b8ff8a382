//! Sweeps through the `codesim` binary: results independent of threads and shards, resuming a
//! killed sweep, plots and report, sweep-file errors.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// How long a test waits for a child process before calling it hung: a guard against a CI that
/// never ends, far above any run's time, never a speed limit.
const HANG_GUARD: Duration = Duration::from_secs(600);

const BIN: &str = env!("CARGO_BIN_EXE_codesim");

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("codesim-sweep-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A small sweep: three configurations (the third infeasible: TP 3 does not divide 32 heads)
/// by `rates`, `requests` each.
fn sweep_file(dir: &Path, rates: &str, requests: u32) -> PathBuf {
    let text = format!(
        r#"name = "tiny"
zip = [["hardware.instance", "deployment.tp"]]
[axes]
"hardware.instance" = ["p5.48xlarge", "p4de.24xlarge", "p5.48xlarge"]
"deployment.tp" = [1, 2, 3]
"workload.arrival.rate_per_s" = [{rates}]
[[slo]]
tpot_ms = 20.0
[plot]
group_by = ["hardware.instance", "deployment.tp"]
[base]
seed = 3
[base.hardware]
instance = "p5.48xlarge"
[base.model]
name = "llama-3.2-1b"
[base.workload]
requests = {requests}
arrival = {{ kind = "poisson", rate_per_s = 1.0 }}
input = {{ kind = "lognormal", mean = 300.0, cv = 1.0, max = 2000 }}
output = {{ kind = "lognormal", mean = 60.0, cv = 1.0, max = 400 }}
"#
    );
    let p = dir.join("sweep-tiny.toml");
    std::fs::write(&p, text).unwrap();
    p
}

fn codesim(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(BIN);
    c.args(args);
    for k in [
        "SLURM_ARRAY_TASK_ID",
        "SLURM_ARRAY_TASK_MIN",
        "AWS_BATCH_JOB_ARRAY_INDEX",
        "JOB_COMPLETION_INDEX",
    ] {
        c.env_remove(k);
    }
    c.envs(env.iter().copied());
    c.output().unwrap()
}

fn ok(args: &[&str], env: &[(&str, &str)]) -> String {
    let o = codesim(args, env);
    assert!(
        o.status.success(),
        "codesim {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn results_do_not_depend_on_jobs_or_sharding() {
    let d = temp_dir("determinism");
    let f = sweep_file(&d, "5, 20, 80", 150);
    let (one, three, a, b, merged) = (
        d.join("one"),
        d.join("three"),
        d.join("a"),
        d.join("b"),
        d.join("merged"),
    );
    ok(&["sweep", s(&f), "--out", s(&one), "--jobs", "1", "--no-plots"], &[]);
    ok(&["sweep", s(&f), "--out", s(&three), "--jobs", "3", "--no-plots"], &[]);
    // Shard 0 by argument, shard 1 from a Slurm array index starting at 1.
    let out = ok(&["sweep", s(&f), "--out", s(&a), "--shard", "0/2"], &[]);
    assert!(out.contains("shard 0/2"), "{out}");
    assert!(!a.join("results.csv").exists(), "a shard writes no tables");
    ok(
        &["sweep", s(&f), "--out", s(&b), "--shard", "auto/2", "--jobs", "2"],
        &[("SLURM_ARRAY_TASK_ID", "2"), ("SLURM_ARRAY_TASK_MIN", "1")],
    );
    ok(&["merge", s(&a), s(&b), "--out", s(&merged), "--no-plots"], &[]);

    for name in ["results.csv", "results.parquet"] {
        let reference = read(&one.join(name));
        assert!(!reference.is_empty());
        assert!(
            reference == read(&three.join(name)),
            "{name} differs between --jobs 1 and 3"
        );
        assert!(
            reference == read(&merged.join(name)),
            "{name} differs between unsharded and merged"
        );
    }
    let csv = String::from_utf8(read(&one.join("results.csv"))).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 1 + 9);
    let header = lines[0];
    for col in [
        "run",
        "hardware.instance",
        "deployment.tp",
        "workload.arrival.rate_per_s",
        "status",
        "skip_reason",
        "ttft_ms_p99",
        "tpot_ms_p50",
        "output_tok_s",
        "goodput_fraction",
        "usd_per_mtok_output",
        "j_per_output_token",
        "compute_s",
        "saturation",
    ] {
        assert!(header.split(',').any(|c| c == col), "no column {col} in {header}");
    }
    assert!(!header.contains("wall"), "{header}");
    // The infeasible configuration is three skipped rows with the reason.
    let skipped: Vec<&&str> = lines.iter().filter(|l| l.contains(",skipped,")).collect();
    assert_eq!(skipped.len(), 3, "{csv}");
    assert!(skipped[0].starts_with("r0006,p5.48xlarge,3,5"), "{}", skipped[0]);
    assert!(skipped[0].contains("deployment.tp"), "{}", skipped[0]);

    // Merging shards that do not cover the sweep is an error naming what is missing.
    let o = codesim(&["merge", s(&a), "--out", s(&d.join("partial")), "--no-plots"], &[]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("r0001"), "{err}");
}

#[test]
fn a_killed_sweep_resumes_without_recomputing_finished_runs() {
    use std::os::unix::fs::MetadataExt;
    let d = temp_dir("resume");
    let rates = (1..=30).map(|r| (r * 4).to_string()).collect::<Vec<_>>().join(", ");
    let f = sweep_file(&d, &rates, 1500);
    let out = d.join("out");
    let summaries = |dir: &Path| -> Vec<(String, u64, i64, i64)> {
        let mut v: Vec<_> = std::fs::read_dir(dir.join("runs"))
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .filter_map(|e| {
                        let p = e.path().join("summary.json");
                        let m = std::fs::metadata(&p).ok()?;
                        Some((
                            e.file_name().to_string_lossy().to_string(),
                            m.ino(),
                            m.mtime(),
                            m.mtime_nsec(),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    };

    let mut child = Command::new(BIN)
        .args(["sweep", s(&f), "--out", s(&out), "--jobs", "1", "--no-plots"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while summaries(&out).len() < 3 {
        // A hang guard, not a speed limit: the child must still be running while we wait.
        assert!(
            child.try_wait().unwrap().is_none(),
            "the sweep ended before three runs finished"
        );
        assert!(start.elapsed() < HANG_GUARD, "no runs finished");
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let before = summaries(&out);
    assert!(
        before.len() < 90,
        "the sweep finished before it was killed; make its runs longer"
    );

    let msg = ok(
        &[
            "sweep",
            s(&f),
            "--out",
            s(&out),
            "--jobs",
            "2",
            "--resume",
            "--no-plots",
        ],
        &[],
    );
    assert!(msg.contains(&format!("{} kept from before", before.len())), "{msg}");
    let after = summaries(&out);
    assert_eq!(after.len(), 90);
    for b in &before {
        let a = after.iter().find(|a| a.0 == b.0).unwrap();
        assert_eq!(a, b, "run {} was rewritten", b.0);
    }
    let csv = String::from_utf8(read(&out.join("results.csv"))).unwrap();
    let mut ids: Vec<&str> = csv.lines().skip(1).map(|l| l.split(',').next().unwrap()).collect();
    assert_eq!(ids.len(), 90);
    ids.dedup();
    assert_eq!(ids.len(), 90, "a run appears twice");
    // Nothing was lost: the same table as an uninterrupted sweep.
    let full = d.join("full");
    ok(&["sweep", s(&f), "--out", s(&full), "--jobs", "2", "--no-plots"], &[]);
    assert!(read(&full.join("results.csv")) == read(&out.join("results.csv")));
}

#[test]
fn plots_and_report_have_every_series() {
    let d = temp_dir("plots");
    let f = sweep_file(&d, "5, 40, 160", 120);
    let out = d.join("out");
    ok(&["sweep", s(&f), "--out", s(&out)], &[]);
    let index: serde_json::Value = serde_json::from_slice(&read(&out.join("plots/index.json"))).unwrap();
    let plots = index.as_array().unwrap();
    let series = |stem: &str| -> Vec<String> {
        let p = plots
            .iter()
            .find(|p| p["stem"] == stem)
            .unwrap_or_else(|| panic!("no plot {stem}"));
        p["series"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect()
    };
    // Three configurations, one of them skipped entirely: two with runs.
    let configs = 2;
    let expected = [
        ("latency-ttft", 3 * 2),
        ("latency-tpot", 3 * 2),
        ("cost-vs-latency", 3 + 1),
        ("cdf-ttft", configs),
        ("cdf-tpot", configs),
        ("breakdown", configs),
    ];
    for (stem, n) in expected {
        assert_eq!(series(stem).len(), n, "{stem}: {:?}", series(stem));
    }
    for stem in ["bars-cost", "bars-energy"] {
        assert!(series(stem).len() <= configs, "{stem}");
    }
    for p in plots {
        let stem = p["stem"].as_str().unwrap();
        for ext in ["png", "svg"] {
            let bytes = read(&out.join(format!("plots/{stem}.{ext}")));
            assert!(bytes.len() > 1000, "{stem}.{ext} is nearly empty");
        }
        let svg = String::from_utf8(read(&out.join(format!("plots/{stem}.svg")))).unwrap();
        let title = p["title"].as_str().unwrap().replace('&', "&amp;");
        assert!(
            svg.contains(&title) || svg.contains(title.split(" — ").next().unwrap()),
            "{stem}: no title"
        );
        for label in series(stem) {
            let shown = label.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
            let shown = shown.split(" (r").next().unwrap().to_string();
            assert!(svg.contains(&shown), "{stem}: no legend entry {label}");
        }
    }
    let md = String::from_utf8(read(&out.join("report.md"))).unwrap();
    assert!(md.contains("## Winner at each SLO"), "{md}");
    assert!(md.contains("p99 TPOT ≤ 20 ms"), "{md}");
    assert!(md.contains("plots/cost-vs-latency.png"), "{md}");
    assert!(md.contains("## Skipped runs"), "{md}");
    assert!(md.contains("codesim sweep"), "{md}");
    let html = String::from_utf8(read(&out.join("report.html"))).unwrap();
    assert_eq!(
        html.matches("<svg").count(),
        plots.len(),
        "every plot inline in the HTML"
    );

    // `plot` redraws the same files from the records.
    let before = read(&out.join("report.md"));
    let svg = read(&out.join("plots/latency-tpot.svg"));
    ok(&["plot", s(&out)], &[]);
    assert!(before == read(&out.join("report.md")));
    assert!(svg == read(&out.join("plots/latency-tpot.svg")));
}

#[test]
fn sweep_file_errors_exit_2_and_name_the_place() {
    let d = temp_dir("errors");
    let cases = [
        (
            "zip = [[\"deployment.tp\", \"deployment.replicas\"]]\n[axes]\n\"deployment.tp\" = [1, 2]\n\"deployment.replicas\" = [1]\n",
            "zip[0]",
        ),
        ("[axes]\n\"workload.arrival.rate_per_s\" = []\n", "empty"),
        ("[axes]\n\"model.name.size\" = [1]\n", "not a table"),
        ("sweeps = 1\n[axes]\n\"deployment.tp\" = [1]\n", "sweeps"),
    ];
    for (i, (text, expect)) in cases.iter().enumerate() {
        let f = d.join(format!("bad{i}.toml"));
        std::fs::write(
            &f,
            format!(
                "{text}[base]\n[base.hardware]\ninstance = \"p5.48xlarge\"\n[base.model]\nname = \"llama-3.2-1b\"\n"
            ),
        )
        .unwrap();
        let o = codesim(&["sweep", s(&f), "--out", s(&d.join("out"))], &[]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{text}: {err}");
        assert!(
            err.contains(&format!("bad{i}.toml")) && err.contains(expect),
            "{text}: {err}"
        );
    }
    let o = codesim(&["sweep", "nope.toml", "--shard", "auto/4"], &[]);
    assert_eq!(o.status.code(), Some(2));
    let f = sweep_file(&d, "5", 10);
    let o = codesim(&["sweep", s(&f), "--shard", "auto/4", "--out", s(&d.join("o"))], &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("SLURM_ARRAY_TASK_ID"));
}

fn signal(child: &std::process::Child, sig: i32) {
    // SAFETY: kill(2) on a child we spawned and have not yet waited for.
    let r = unsafe { libc::kill(child.id() as i32, sig) };
    assert_eq!(r, 0, "kill failed");
}

/// Records of the runs that finished: (id, bytes), sorted.
fn records(out: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(out.join("runs"))
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| {
                    let bytes = std::fs::read(e.path().join("summary.json")).ok()?;
                    Some((e.file_name().to_string_lossy().to_string(), bytes))
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn leftovers(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.to_string_lossy().ends_with(".tmp") || p.to_string_lossy().contains(".partial") {
                found.push(p);
            }
        }
    }
    found
}

#[test]
fn ctrl_c_stops_a_sweep_cleanly_and_resume_finishes_it_identically() {
    let d = temp_dir("sigint");
    let rates = (1..=30).map(|r| (r * 4).to_string()).collect::<Vec<_>>().join(", ");
    let f = sweep_file(&d, &rates, 1500);
    let out = d.join("out");
    let mut child = Command::new(BIN)
        .args(["sweep", s(&f), "--out", s(&out), "--jobs", "2", "--no-plots"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while records(&out).len() < 3 {
        // A hang guard, not a speed limit: the child must still be running while we wait.
        assert!(
            child.try_wait().unwrap().is_none(),
            "the sweep ended before three runs finished"
        );
        assert!(start.elapsed() < HANG_GUARD, "no runs finished");
        std::thread::sleep(Duration::from_millis(2));
    }
    signal(&child, libc::SIGINT);
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(130), "{err}");
    assert!(!err.contains("panicked") && !err.contains("RUST_BACKTRACE"), "{err}");
    assert!(
        err.contains("no new run starts"),
        "the first signal is acknowledged: {err}"
    );
    let kept = records(&out);
    assert!(
        kept.len() < 90,
        "the sweep finished before it was stopped; make its runs longer"
    );
    assert!(
        err.contains(&format!("stopped after {} of 90 runs", kept.len())) && err.contains("--resume"),
        "{err}"
    );
    // Every record on disk is whole, and no temporary file is left.
    for (id, bytes) in &kept {
        let v: serde_json::Value = serde_json::from_slice(bytes).unwrap_or_else(|e| panic!("{id}: {e}"));
        assert_eq!(v["id"], id.as_str());
    }
    assert!(leftovers(&out).is_empty(), "{:?}", leftovers(&out));
    assert!(!out.join("results.csv").exists(), "a stopped sweep writes no tables");

    let msg = ok(
        &[
            "sweep",
            s(&f),
            "--out",
            s(&out),
            "--jobs",
            "2",
            "--resume",
            "--no-plots",
        ],
        &[],
    );
    assert!(msg.contains(&format!("{} kept from before", kept.len())), "{msg}");
    let after = records(&out);
    for (id, bytes) in &kept {
        let again = &after.iter().find(|a| &a.0 == id).unwrap().1;
        assert!(again == bytes, "run {id} was rewritten");
    }
    let full = d.join("full");
    ok(&["sweep", s(&f), "--out", s(&full), "--jobs", "2", "--no-plots"], &[]);
    assert!(records(&full) == after, "a record differs from the uninterrupted sweep");
    for name in ["results.csv", "results.parquet"] {
        assert!(
            read(&full.join(name)) == read(&out.join(name)),
            "{name} differs from the uninterrupted sweep"
        );
    }

    // SIGTERM stops the same way, with 128 + 15.
    let term = d.join("term");
    let child = Command::new(BIN)
        .args(["sweep", s(&f), "--out", s(&term), "--jobs", "1", "--no-plots"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    while records(&term).is_empty() {
        std::thread::sleep(Duration::from_millis(2));
    }
    signal(&child, libc::SIGTERM);
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(143), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn a_second_ctrl_c_aborts_the_runs_in_flight() {
    let d = temp_dir("sigint-twice");
    // Two long runs (400 000 requests each): the first is in flight when the signals come.
    let f = sweep_file(&d, "40, 80", 400_000);
    let out = d.join("out");
    let mut child = Command::new(BIN)
        .args(["sweep", s(&f), "--out", s(&out), "--jobs", "1", "--no-plots"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // runs/ exists once the handlers are installed and the first run has started.
    while !out.join("runs").is_dir() {
        std::thread::sleep(Duration::from_millis(2));
    }
    std::thread::sleep(Duration::from_millis(200));
    signal(&child, libc::SIGINT);
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the first Ctrl-C waits for the run in flight"
    );
    signal(&child, libc::SIGINT);
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(130), "{err}");
    assert!(records(&out).is_empty(), "the run in flight was abandoned, not written");
}

/// Issue "Nothing silently wrong", item 1: sweep A finished in a directory; sweep B (the same axes,
/// one base value changed) started there afresh and was killed before any run finished, leaving
/// B's sweep.json beside A's records. `--resume` must simulate every run of B, not adopt A's
/// records, and give B's uninterrupted results.
#[test]
fn resume_never_adopts_another_sweeps_records() {
    let d = temp_dir("adopt");
    let a = sweep_file(&d, "1, 2", 40);
    let out = d.join("out");
    ok(&["sweep", s(&a), "--out", s(&out), "--jobs", "1", "--no-plots"], &[]);
    // Sweep B: 41 requests instead of 40, same axes and run ids.
    let bdir = d.join("b");
    std::fs::create_dir_all(&bdir).unwrap();
    let b = sweep_file(&bdir, "1, 2", 41);
    let full = d.join("full");
    ok(&["sweep", s(&b), "--out", s(&full), "--jobs", "1", "--no-plots"], &[]);
    // B's fresh start writes its manifest first; killed then, A's records are left beside it.
    std::fs::copy(full.join("sweep.json"), out.join("sweep.json")).unwrap();
    let msg = ok(
        &[
            "sweep",
            s(&b),
            "--out",
            s(&out),
            "--jobs",
            "1",
            "--resume",
            "--no-plots",
        ],
        &[],
    );
    assert!(
        !msg.contains("kept from before") || msg.contains("0 kept from before"),
        "{msg}"
    );
    assert!(
        read(&full.join("results.csv")) == read(&out.join("results.csv")),
        "B's table differs"
    );
}

/// The results table counts every request a run turned away (`serving.max_queue`) and every one
/// still in flight at the horizon, so a row never hides lost requests: per row, arrived =
/// completed + dropped + rejected + unfinished (each arrival ends in exactly one of the four).
#[test]
fn results_count_rejected_and_unfinished_requests() {
    let d = temp_dir("counts");
    let f = d.join("sweep-counts.toml");
    std::fs::write(
        &f,
        r#"name = "counts"
[axes]
"serving.max_queue" = [4, 1000]
"workload.horizon_s" = [0.2, 1000]
[base]
seed = 3
[base.hardware]
instance = "p5.48xlarge"
[base.model]
name = "llama-3.2-1b"
[base.serving]
max_batch = 4
[base.workload]
requests = 60
arrival = { kind = "poisson", rate_per_s = 200.0 }
input = { kind = "fixed", tokens = 500 }
output = { kind = "fixed", tokens = 100 }
"#,
    )
    .unwrap();
    let out = d.join("out");
    ok(&["sweep", s(&f), "--out", s(&out), "--no-plots"], &[]);
    let csv = String::from_utf8(read(&out.join("results.csv"))).unwrap();
    let mut lines = csv.lines();
    let head: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| {
        head.iter()
            .position(|h| *h == name)
            .unwrap_or_else(|| panic!("no {name} in {head:?}"))
    };
    let [arrived, completed, dropped, rejected, unfinished] = [
        "requests_arrived",
        "requests_completed",
        "requests_dropped",
        "requests_rejected",
        "requests_unfinished",
    ]
    .map(col);
    let (mut any_rejected, mut any_unfinished) = (false, false);
    for line in lines {
        let v: Vec<&str> = line.split(',').collect();
        let n = |i: usize| -> f64 { v[i].parse().unwrap_or_else(|_| panic!("{line}")) };
        assert_eq!(
            n(arrived),
            n(completed) + n(dropped) + n(rejected) + n(unfinished),
            "{line}"
        );
        any_rejected |= n(rejected) > 0.0;
        any_unfinished |= n(unfinished) > 0.0;
    }
    assert!(any_rejected && any_unfinished, "{csv}");
}

/// An absurd `--jobs` (it once started 12,800 threads that took minutes to stop) is capped at
/// the runs of the sweep, with a note on stderr; 0 is refused before the sweep is read.
#[test]
fn absurd_job_counts_are_capped_and_said() {
    let d = temp_dir("jobs");
    let f = sweep_file(&d, "5", 10);
    let o = codesim(
        &[
            "sweep",
            s(&f),
            "--out",
            s(&d.join("o")),
            "--no-plots",
            "--jobs",
            "100000",
        ],
        &[],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    // 3 runs (one skipped); 3 < 4 per core on any machine.
    assert!(err.contains("--jobs 100000 capped at 3: the sweep has 3 runs"), "{err}");
    let o = codesim(&["sweep", "no-such-sweep.toml", "--jobs", "0"], &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--jobs"));
}
