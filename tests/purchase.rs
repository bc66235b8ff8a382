//! The purchase mix (`[fleet.purchase]`, issue 23 item 5): the reserved base paid for idle
//! hours, spot reclaims only on spot replicas, the parts adding up to the run's cost, each
//! against a hand calculation, under the invariant audit.

use codesim::sim::{RunOptions, Simulation};
use std::path::Path;

fn audited(text: &str) -> codesim::metrics::RunResult {
    let sc = codesim::scenario::load_str(text, Path::new("purchase-test.toml")).unwrap_or_else(|e| panic!("{e}"));
    let opts = RunOptions {
        audit: true,
        ..RunOptions::default()
    };
    let (r, _) = Simulation::new(&sc, opts).unwrap().run().unwrap();
    assert!(r.audit.is_empty(), "audit: {:#?}", r.audit);
    r
}

/// Whole-instance replicas (TP 8 on p5.48xlarge) at round prices: an instance-hour costs $10 on
/// demand, $6 reserved, $3 spot. One hour, cut at the horizon (the span the cost counts).
const FLEET: &str = r#"
seed = 7
[hardware]
instance = "p5.48xlarge"
[hardware.instance_overrides.price]
on_demand_usd_per_hour = 10.0
reserved_usd_per_hour = 6.0
spot_usd_per_hour = 3.0
[model]
name = "llama-2-7b"
[deployment]
tp = 8
[workload]
requests = 1000000
horizon_s = 3600
input = { kind = "lognormal", mean = 300.0, cv = 1.0, max = 2000 }
output = { kind = "lognormal", mean = 60.0, cv = 1.0, max = 400 }
[slo]
ttft_ms = 2000
[fleet]
window_s = 60
"#;

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * b.abs().max(1.0)
}

/// Two reserved replicas, pinned at two, and no load at all in the first half hour (a spike of
/// factor 0): the base is paid for every second all the same, R × price × span =
/// 2 × $6 × 1 h = $12, and nothing else is bought.
#[test]
fn the_reserved_base_is_paid_for_idle_hours() {
    let text = format!(
        r#"{FLEET}
[fleet.autoscale]
policy = "concurrency"
target_concurrency = 4.0
min_replicas = 2
max_replicas = 2
[fleet.purchase]
reserved = 2
spot_share = 0.0
"#
    )
    .replace("[deployment]\ntp = 8", "[deployment]\ntp = 8\nreplicas = 2")
    .replace(
        "[slo]",
        "arrival = { kind = \"poisson\", rate_per_s = 0.5 }\n[workload.profile]\nspikes = [{ start_s = 0.0, duration_s = 1800.0, factor = 0.0 }]\n[slo]",
    );
    let r = audited(&text);
    let p = r.purchase.expect("purchase figures");
    assert_eq!(r.sim.sim_time_s, 3600.0);
    let idle = r.windows.iter().take_while(|w| w.end_s <= 1800.0);
    assert!(idle.clone().all(|w| w.arrivals == 0), "the first half has no load");
    // Each idle window still pays the base: 2 × $6 × 60 s / 3600 s = $0.20.
    assert!(idle.clone().all(|w| close(w.part_usd.unwrap()[0], 0.2)));
    assert!(close(p.reserved_usd, 12.0), "{p:?}");
    assert!(close(p.reserved_instance_h, 2.0));
    assert_eq!((p.on_demand_usd, p.spot_usd), (0.0, 0.0));
    assert!(close(r.cost.usd_total, 12.0), "{}", r.cost.usd_total);
}

/// Replica 0 reserved, 1 on demand, 2 spot (spot share 0.5: replica 1 + j is spot when
/// floor((j+1)/2) > floor(j/2), j = 1), pinned at three, reclaimed 20 times an hour per spot
/// instance. The reclaims take only replica 2: the on-demand replica is provisioned the whole
/// hour (1.0 instance-hours exactly), while the spot one is reclaimed (and replaced at the next
/// sync). The three parts add up to the run's cost.
#[test]
fn spot_reclaims_hit_only_spot_replicas_and_the_parts_sum_to_the_total() {
    let text = format!(
        r#"{FLEET}
[fleet.autoscale]
policy = "concurrency"
target_concurrency = 4.0
min_replicas = 3
max_replicas = 3
sync_period_s = 1
boot_s = 0
warmup_s = 0
storage = "fsx-lustre"
[fleet.spot]
reclaims_per_h = 20.0
notice_s = 10
[fleet.purchase]
reserved = 1
spot_share = 0.5
"#
    )
    .replace("[deployment]\ntp = 8", "[deployment]\ntp = 8\nreplicas = 3")
    .replace("[slo]", "arrival = { kind = \"poisson\", rate_per_s = 1.0 }\n[slo]");
    let r = audited(&text);
    let p = r.purchase.expect("purchase figures");
    let note = r.notes.iter().find(|n| n.starts_with("losses:")).expect("losses note");
    assert!(!note.starts_with("losses: 0 instance failures, 0 spot"), "{note}");
    assert!(
        close(p.reserved_instance_h, 1.0) && close(p.on_demand_instance_h, 1.0),
        "{p:?}"
    );
    assert!(p.spot_instance_h < 1.0 && p.spot_instance_h > 0.9, "{p:?}");
    // $6 + $10 + $3 × spot hours.
    assert!(close(p.reserved_usd, 6.0) && close(p.on_demand_usd, 10.0));
    assert!(close(p.spot_usd, 3.0 * p.spot_instance_h));
    assert!(close(p.reserved_usd + p.on_demand_usd + p.spot_usd, p.total_usd));
    assert!(
        close(r.cost.usd_total, p.total_usd),
        "{} vs {}",
        r.cost.usd_total,
        p.total_usd
    );
    // Per window too: the parts of every window add up to the run's.
    let sum = |k: usize| r.windows.iter().map(|w| w.part_usd.unwrap()[k]).sum::<f64>();
    assert!(close(sum(0), 6.0) && close(sum(1), 10.0) && close(sum(2), p.spot_usd));
    assert!(p.slo_minutes_lost.is_some() && p.slo_target == Some(0.99));

    // Without a purchase mix, the same spot rate reclaims every replica (as before the mix).
    let all = audited(&text.replace("[fleet.purchase]\nreserved = 1\nspot_share = 0.5\n", ""));
    let reclaims = |r: &codesim::metrics::RunResult| {
        let n = r.notes.iter().find(|n| n.starts_with("losses:")).unwrap();
        let at = n.find(" spot reclaim notices").unwrap();
        n[..at].rsplit(' ').next().unwrap().parse::<u64>().unwrap()
    };
    assert!(
        reclaims(&all) > 2 * reclaims(&r),
        "{} vs {}",
        reclaims(&all),
        reclaims(&r)
    );
    assert!(all.purchase.is_none());
}

#[test]
fn bad_purchase_input_names_the_key() {
    let scaled = |purchase: &str| {
        format!(
            "{FLEET}[fleet.autoscale]\npolicy = \"concurrency\"\ntarget_concurrency = 4.0\nmax_replicas = 4\n[fleet.purchase]\n{purchase}\n"
        )
        .replace("[slo]", "arrival = { kind = \"poisson\", rate_per_s = 1.0 }\n[slo]")
    };
    let err = |text: &str| match codesim::scenario::load_str(text, Path::new("p.toml")) {
        Ok(_) => panic!("an error expected"),
        Err(e) => e.to_string(),
    };
    // No reserved price in the shipped p5.48xlarge profile.
    let e = err(&scaled("reserved = 1").replace("reserved_usd_per_hour = 6.0\n", ""));
    assert!(
        e.contains("fleet.purchase.reserved") && e.contains("reserved_usd_per_hour"),
        "{e}"
    );
    let e = err(&scaled("spot_share = 0.5").replace("spot_usd_per_hour = 3.0\n", ""));
    assert!(
        e.contains("fleet.purchase.spot_share") && e.contains("spot_usd_per_hour"),
        "{e}"
    );
    let e = err(&scaled("spot_share = 1.5"));
    assert!(e.contains("fleet.purchase.spot_share") && e.contains("1.5"), "{e}");
    let e = err(&scaled("reserved = 3"));
    assert!(
        e.contains("fleet.purchase.reserved") && e.contains("deployment.replicas"),
        "{e}"
    );
    let e = err(&scaled("bogus = 1"));
    assert!(e.contains("bogus"), "{e}");
    let e = err(&format!("{FLEET}[fleet.purchase]\nreserved = 0\n")
        .replace("[slo]", "arrival = { kind = \"poisson\", rate_per_s = 1.0 }\n[slo]"));
    assert!(e.contains("fleet.purchase") && e.contains("[fleet.autoscale]"), "{e}");
    // The mix prices the fleet: another pricing with it would be ignored, so it is refused.
    for mode in ["own", "reserved", "spot"] {
        let e = err(&format!(
            "{}\n[infrastructure]\npricing = \"{mode}\"\n",
            scaled("reserved = 1")
        ));
        assert!(
            e.contains("infrastructure.pricing")
                && e.contains(&format!("\"{mode}\""))
                && e.contains("[fleet.purchase]"),
            "{e}"
        );
    }
}
