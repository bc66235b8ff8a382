//! Autoscaling (`[fleet.autoscale]`, issue 23 item 2), each mechanism against a hand
//! calculation, under the invariant audit.

use codesim::sim::{RunOptions, Simulation};
use std::path::Path;

fn load(text: &str) -> codesim::scenario::Scenario {
    codesim::scenario::load_str(text, Path::new("autoscale-test.toml")).unwrap_or_else(|e| panic!("{e}"))
}

/// Runs under the audit (conservation, KV, causality after every event) and checks it passed.
fn audited(text: &str) -> codesim::metrics::RunResult {
    let sc = load(text);
    let opts = RunOptions {
        audit: true,
        ..RunOptions::default()
    };
    let (r, _) = Simulation::new(&sc, opts).unwrap().run().unwrap();
    assert!(r.audit.is_empty(), "audit: {:#?}", r.audit);
    r
}

/// One replica of llama-2-7b on a whole p5.48xlarge (TP 8); 2 req/s, ×10 from 100 s on; a
/// schedule that sizes the fleet from the profile (5 req/s per replica, no lead): before the
/// spike ceil(2 / 5) = 1 replica, during it ceil(20 / 5) = 4.
const STEP: &str = r#"
name = "autoscale-step"
[hardware]
instance = "p5.48xlarge"
[model]
name = "llama-2-7b"
[deployment]
tp = 8
replicas = 1
[serving]
max_batch = 64
[workload]
requests = 1000000
horizon_s = 900
arrival = { kind = "poisson", rate_per_s = 2.0 }
input = { kind = "lognormal", mean = 300.0, cv = 1.0, max = 2000 }
output = { kind = "lognormal", mean = 60.0, cv = 1.0, max = 400 }
[workload.profile]
daily = [1.0]
[[workload.profile.spikes]]
start_s = 100.0
duration_s = 100000.0
factor = 10.0
[fleet.autoscale]
policy = "scheduled"
replica_rate_per_s = 5.0
lead_s = 0.0
max_replicas = 4
"#;

/// The cold start by hand, ns: boot 300 s + warm-up 60 s (p5.48xlarge's [instance.startup]) +
/// the weights from S3: 150 ms to first byte (150,000 µs × 1e3 ns), then W bytes (8 ranks × the
/// cost model's bytes per rank; llama-2-7b in bf16: 2 × ~6.7e9 ≈ 13.5 GB) at the whole
/// instance's 8 GB/s (the replica holds all 8 GPUs: share 1) = W / 8 ns ≈ 1.7 s.
fn cold_start_ns(sc: &codesim::scenario::Scenario) -> u64 {
    let sim = Simulation::new(sc, RunOptions::default()).unwrap();
    let w = sim.perf().memory.weight_bytes_per_rank * 8.0;
    assert!((w / 2.0 - 6.7e9).abs() < 0.1e9, "llama-2-7b in bf16: {w} bytes");
    let load_ns = (150_000.0 * 1e3 + w / (8.0 * 1.0)).round() as u64;
    300_000_000_000 + load_ns + 60_000_000_000
}

/// The step's first decision is the sync at 105 s (syncs every 15 s from 15 s; the one at 90 s
/// still reads ×1), so the three new replicas are ready at exactly T = 105 s + cold start. A
/// window ending at T closes before the Ready event at T is handled (1 ready, 3 starting); one
/// ending a nanosecond later sees all four ready.
#[test]
fn a_step_in_load_gives_ready_replicas_after_exactly_decision_plus_boot_load_warmup() {
    let t_ns = 105_000_000_000 + cold_start_ns(&load(STEP));
    for (width_ns, ready, starting) in [(t_ns, 1, 3), (t_ns + 1, 4, 0)] {
        let text = format!("{STEP}\n[fleet]\nwindow_s = {}\n", width_ns as f64 / 1e9);
        let r = audited(&text.replace("[fleet.autoscale]", "[fleet.autoscale]\nstorage = \"s3\""));
        let w = &r.windows[0];
        assert_eq!(w.end_s, width_ns as f64 / 1e9);
        assert_eq!(
            (w.replicas_ready, w.replicas_starting),
            (ready, starting),
            "window [0, {width_ns} ns)"
        );
    }
}

/// The cost counts instance-seconds provisioned: one replica (a whole p5.48xlarge at $55.04/h)
/// for the whole 900 s, three more from their start at 105 s (paid while starting) to the
/// horizon: 900 + 3 × 795 = 3285 instance-seconds, × 55.04 / 3600 = $50.224; the windows'
/// dollars add up to the same.
#[test]
fn cost_is_the_instance_seconds_provisioned_times_the_price() {
    let r = audited(STEP);
    let instance_s = 900.0 + 3.0 * 795.0;
    let usd = instance_s * 55.04 / 3600.0;
    assert!(
        (r.cost.usd_total - usd).abs() < 1e-9 * usd,
        "{} vs {usd}",
        r.cost.usd_total
    );
    let windows: f64 = r
        .windows
        .iter()
        .map(|w| w.usd_per_hour * (w.end_s - w.start_s) / 3600.0)
        .sum();
    assert!((windows - usd).abs() < 1e-9 * usd, "{windows} vs {usd}");
    assert!(
        r.notes.iter().any(|n| n.contains("at most 4 provisioned")),
        "{:#?}",
        r.notes
    );
}

/// The replicas' busy fraction, and the hosts' cores, are over what was up: replica 0 for the
/// whole 900 s, the three new ones from T = 105 s + cold start (ready) to the horizon, so
/// 900 + 3 × (900 − T) replica-seconds, not 4 × 900 (the slots were off or starting before
/// T), and one instance's host cores to T, four instances' after. The busy time is the steps'
/// time, the breakdown's parts summed (each step rounds its total to the ns).
#[test]
fn the_busy_fraction_and_the_host_cores_are_over_what_the_fleet_had_up() {
    let r = audited(STEP);
    let t_s = (105_000_000_000 + cold_start_ns(&load(STEP))) as f64 / 1e9;
    let up_s = 900.0 + 3.0 * (900.0 - t_s);
    let b = &r.breakdown;
    let serving = b.serving_replica_s.expect("an autoscaled run reports its replica time");
    assert!((serving - up_s).abs() < 1e-6, "{serving} vs {up_s}");
    let busy_s = b.compute_s + b.memory_s + b.communication_s + b.overhead_s;
    assert!(
        (b.busy_fraction - busy_s / up_s).abs() < 1e-6,
        "{} vs {}",
        b.busy_fraction,
        busy_s / up_s
    );
    assert!(b.busy_fraction <= 1.0, "{}", b.busy_fraction);
    // Over all four slots for the whole span it would read lower by (4 × 900) / up_s.
    assert!(busy_s / (4.0 * 900.0) < 0.8 * b.busy_fraction, "{busy_s} s busy");
    // The hosts follow the instances up (each replica a whole p5.48xlarge): one instance's
    // usable cores to T, four instances' from T to the horizon.
    let sc = load(STEP);
    let per_instance = |n: u32| {
        codesim::scenario::infra::usable_cores(sc.pools[0].hardware.instance.host_vcpus * n, &sc.infra.nitro) as f64
    };
    let cores = (per_instance(1) * t_s + per_instance(4) * (900.0 - t_s)) / 900.0;
    let mean = r
        .infrastructure
        .host_cores_mean
        .expect("an autoscaled run reports its host cores");
    assert!((mean - cores).abs() < 1e-9 * cores, "{mean} vs {cores}");
}

/// A load that rises and falls, scaled by concurrency: the fleet stays within min and max in
/// every window, drains when the load falls (requests on draining replicas finish: every
/// request that arrived completes, under the audit), and returns to its minimum.
#[test]
fn the_fleet_stays_within_bounds_and_drains_without_losing_requests() {
    let text = STEP
        .replace("requests = 1000000\nhorizon_s = 900", "requests = 7000")
        .replace("duration_s = 100000.0", "duration_s = 300.0")
        .replace(
            "policy = \"scheduled\"\nreplica_rate_per_s = 5.0\nlead_s = 0.0\nmax_replicas = 4",
            "policy = \"concurrency\"\ntarget_concurrency = 4.0\nmin_replicas = 1\nmax_replicas = 3\nscale_down_stabilization_s = 60\nboot_s = 20\nwarmup_s = 5\nstorage = \"fsx-lustre\"",
        )
        + "[fleet]\nwindow_s = 5\n";
    let r = audited(&text);
    let c = &r.requests;
    assert_eq!(c.completed, c.arrived, "nothing lost: {c:?}");
    for w in &r.windows {
        let provisioned = w.replicas_ready + w.replicas_starting + w.replicas_draining;
        assert!(provisioned <= 3 && w.replicas_ready >= 1, "{w:?}");
    }
    assert!(r.windows.iter().any(|w| w.replicas_starting > 0), "it scaled up");
    assert!(r.windows.iter().any(|w| w.replicas_ready == 3), "to its maximum");
    let after = r.windows.iter().filter(|w| w.start_s > 500.0);
    assert!(
        after.clone().any(|w| w.replicas_ready == 1),
        "and back down to its minimum"
    );
    let note = r
        .notes
        .iter()
        .find(|n| n.contains(" drained;"))
        .expect("the autoscaler's note");
    assert!(!note.contains(", 0 drained"), "{note}");
}

/// A fleet pinned at min = max = its deployed size is the static run: same routing, same
/// requests, same cost (whole instances, as a static deployment pays them), byte for byte apart
/// from the autoscaler's notes and its sync events in the event count.
#[test]
fn a_pinned_fleet_reproduces_the_static_run() {
    let base = STEP
        .replace("requests = 1000000\nhorizon_s = 900", "requests = 3000")
        .replace("replicas = 1\n", "replicas = 2\n");
    let (head, _) = base.split_once("[fleet.autoscale]").unwrap();
    let fixed = format!("{head}[fleet]\nwindow_s = 30\n");
    let pinned = format!(
        "{head}[fleet]\nwindow_s = 30\n[fleet.autoscale]\npolicy = \"concurrency\"\ntarget_concurrency = 1.0\nmin_replicas = 2\nmax_replicas = 2\n"
    );
    let run = |t: &str| {
        let mut r = audited(t);
        r.sim.wall_s = 0.0;
        // The autoscaler's own sync events, one per 15 s, change nothing else.
        r.sim.events = 0;
        r.notes.retain(|n| !n.starts_with("autoscale:"));
        r
    };
    let (a, mut b) = (run(&fixed), run(&pinned));
    // The autoscaled run reports the replica-seconds its fleet was up: both replicas, all along.
    let up = b.breakdown.serving_replica_s.take().expect("autoscaled");
    assert!(
        (up - 2.0 * b.sim.sim_time_s).abs() < 1e-6,
        "{up} vs {}",
        b.sim.sim_time_s
    );
    // And its hosts' cores: both instances', all along.
    let sc = load(&pinned);
    let cores = codesim::scenario::infra::usable_cores(sc.pools[0].hardware.instance.host_vcpus * 2, &sc.infra.nitro);
    assert_eq!(b.infrastructure.host_cores_mean.take(), Some(cores as f64));
    assert_eq!(a.windows, b.windows);
    let (a, b) = (
        serde_json::to_string_pretty(&a).unwrap(),
        serde_json::to_string_pretty(&b).unwrap(),
    );
    if a != b {
        let diff: Vec<_> = a.lines().zip(b.lines()).filter(|(x, y)| x != y).take(10).collect();
        panic!("a pinned fleet changed the run: {diff:#?}");
    }
}

/// Bad `[fleet.autoscale]` values are errors naming the key, the value and what is accepted.
#[test]
fn bad_autoscale_input_names_the_key() {
    let err = |from: &str, to: &str| {
        codesim::scenario::load_str(&STEP.replace(from, to), Path::new("x.toml"))
            .unwrap_err()
            .to_string()
    };
    let e = err("replica_rate_per_s = 5.0\n", "");
    assert!(e.contains("fleet.autoscale.replica_rate_per_s"), "{e}");
    let e = err("max_replicas = 4", "max_replicas = 4\nmin_replicas = 5");
    assert!(e.contains("fleet.autoscale.min_replicas"), "{e}");
    let e = err("replicas = 1\n", "replicas = 8\n");
    assert!(e.contains("deployment.replicas"), "{e}");
    let e = err("tp = 8\n", "tp = 4\npp = 2\n");
    assert!(e.contains("fleet.autoscale") && e.contains("pp"), "{e}");
    let e = err("lead_s = 0.0", "lead_s = -1.0");
    assert!(e.contains("fleet.autoscale.lead_s") && e.contains("-1"), "{e}");
    let e = err("lead_s = 0.0", "lead_s = 0.0\nstorage = \"tape\"");
    assert!(e.contains("fleet.autoscale.storage"), "{e}");
    let e = err("max_replicas = 4", "max_replicas = 4\nbogus = 1");
    assert!(e.contains("bogus"), "{e}");
}
