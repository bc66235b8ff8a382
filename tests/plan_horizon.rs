//! Planning over a horizon (`[horizon]` in a plan file, issue 23 item 5): a small end-to-end
//! plan in a debug build, its parts against hand arithmetic, and bad input naming the key.

use codesim::plan::horizon::{self, choose_base};
use std::path::Path;

/// One-H100 replicas of Llama-3.1-8B at round-ish prices: $6.88 on demand (the catalog's),
/// $4.362 reserved and $2.957 spot per instance-hour; 90 minutes at 3 req/s, doubled in the
/// second hour of the day's profile (hour 1), autoscaled on concurrency.
const PLAN: &str = r#"
name = "horizon-test"
seed = 7
[demand]
rate_per_s = 3.0
input = { kind = "lognormal", mean = 400.0, cv = 1.0, max = 2000 }
output = { kind = "lognormal", mean = 100.0, cv = 1.0, max = 500 }
[slo]
ttft_p99_ms = 1000.0
tpot_p99_ms = 50.0
[[candidate]]
name = "h100"
[candidate.scenario]
model = { name = "llama-3.1-8b" }
deployment = { tp = 1, replicas = 1 }
serving = { max_batch = 32 }
[candidate.scenario.hardware]
instance = "p5.4xlarge"
[candidate.scenario.hardware.instance_overrides.price]
reserved_usd_per_hour = 4.362
spot_usd_per_hour = 2.957
[horizon]
hours = 1.5
window_s = 300
targets = [4.0]
spot_shares = [0.0, 1.0]
reclaims_per_h = 0.5
slo_minutes_budget = 10.0
profile = { daily = [1.0, 2.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0] }
[horizon.autoscale]
policy = "concurrency"
max_replicas = 6
sync_period_s = 15
storage = "fsx-lustre"
compile_cache = "warm"
boot_s = 60
warmup_s = 30
[[horizon.whatif]]
name = "spot at half price"
spot_price_scale = 0.5
"#;

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-6 * b.abs().max(1.0)
}

#[test]
fn a_small_horizon_plan_chooses_the_newsvendor_base_and_the_cheapest_mix() {
    let plan = codesim::plan::load_str(PLAN, Path::new("tests/horizon-test.toml")).unwrap_or_else(|e| panic!("{e}"));
    let r = horizon::run(&plan).unwrap();
    let c = &r.base.candidates[0];
    assert!(c.rejected.is_none(), "{:?}", c.rejected);
    // One all-on-demand run, then each spot share with the newsvendor's base (the share-0 run
    // only when the base is above 0).
    let od = &c.trials[0];
    assert_eq!((od.reserved, od.spot_share), (0, 0.0));
    let (target, base) = c.bases[0];
    assert_eq!(target, 4.0);
    assert!(base.share_above <= base.critical_ratio + 1e-12);
    assert!(close(base.critical_ratio, 4.362 / 6.88));
    assert!(c.trials.iter().skip(1).all(|t| t.reserved == base.reserved));
    assert!(od.peak_replicas >= 2, "the doubled hour scales the fleet: {od:?}");
    for t in &c.trials {
        // The parts add up; the base is paid for the whole 1.5 h: R × $4.362 × 1.5.
        assert!(
            close(t.reserved_usd + t.on_demand_usd + t.spot_usd, t.total_usd),
            "{t:?}"
        );
        assert!(close(t.reserved_usd, t.reserved as f64 * 4.362 * 1.5), "{t:?}");
    }
    // The chosen mix is the cheapest within the budget, and no dearer than all on demand.
    let chosen = c.chosen.as_ref().expect("a mix within the budget");
    assert!(chosen.meets && chosen.total_usd <= od.total_usd + 1e-9);
    assert!(
        c.trials
            .iter()
            .filter(|t| t.meets)
            .all(|t| t.total_usd >= chosen.total_usd)
    );
    assert_eq!(r.base.best(), Some(c));
    // Spot share 1: every replica above the base is spot, so the mix buys spot.
    let spot = c.trials.iter().find(|t| t.spot_share == 1.0).expect("the spot trial");
    assert!(spot.spot_usd > 0.0 && spot.on_demand_usd == 0.0, "{spot:?}");
    // The what-if halves the spot price: a mix with spot pays half as much for it (the run is
    // the same: the price does not change the dynamics).
    let w = &r.whatifs[0];
    if let Some(t) = &w.chosen
        && t.spot_share == chosen.spot_share
        && t.reserved == chosen.reserved
    {
        assert!(close(t.spot_usd, chosen.spot_usd / 2.0), "{t:?} vs {chosen:?}");
    }
    // The report: each part, the SLO minutes lost, the settings.
    let md = codesim::report::plan_horizon::markdown(&r, "codesim plan horizon-test.toml");
    for s in [
        "## Plan",
        "reserved base",
        "SLO min lost",
        "target_concurrency = 4",
        "spot at half price",
    ] {
        assert!(md.contains(s), "{s} in {md}");
    }
    let json = serde_json::to_string(&r).unwrap();
    let back: horizon::HorizonReport = serde_json::from_str(&json).unwrap();
    assert_eq!(back.base.candidates[0].trials.len(), c.trials.len());
}

/// The newsvendor on the hand-made curve of the brief: n = 2 for 16 h, 6 for 8 h, p_res / p_od
/// = 0.6 → R = 2 ($28.80 reserved + $32 on demand per $1 on-demand replica-hour).
#[test]
fn the_newsvendor_choice_on_a_hand_made_curve() {
    let c = choose_base(&[(2, 16.0 * 3600.0), (6, 8.0 * 3600.0)], 0.6, 1.0);
    assert_eq!(c.reserved, 2);
    assert!(close(c.reserved_usd, 28.8) && close(c.on_demand_usd, 32.0));
}

#[test]
fn bad_horizon_input_names_the_key() {
    let err = |text: &str| match codesim::plan::load_str(text, Path::new("h.toml")) {
        Ok(_) => panic!("an error expected"),
        Err(e) => e.to_string(),
    };
    let e = err(&PLAN.replace("tpot_p99_ms", "tpot_p95_ms"));
    assert!(e.contains("slo") && e.contains("one percentile"), "{e}");
    let e = err(&PLAN.replace("max_replicas = 6", "max_replicas = 6\ntarget_concurrency = 3.0"));
    assert!(e.contains("horizon.autoscale.target_concurrency"), "{e}");
    let e = err(&PLAN.replace("targets = [4.0]", "targets = []"));
    assert!(e.contains("horizon.targets"), "{e}");
    let e = err(&PLAN.replace("spot_shares = [0.0, 1.0]", "spot_shares = [1.5]"));
    assert!(e.contains("horizon.spot_shares"), "{e}");
    let e = err(&PLAN.replace("reclaims_per_h = 0.5\n", ""));
    assert!(e.contains("horizon.reclaims_per_h"), "{e}");
    let e = err(&PLAN.replace("hours = 1.5", "hours = 0.0"));
    assert!(e.contains("horizon.hours"), "{e}");
    let e = err(&PLAN.replace("rate_per_s = 3.0", "rate_per_s = 3.0\ndaily_profile = [1.0]"));
    assert!(e.contains("demand.daily_profile"), "{e}");
    let e = err(&PLAN.replace("spot_price_scale = 0.5", "mtbf_scale = 0.5"));
    assert!(e.contains("mtbf_scale"), "{e}");
    let e = err(&PLAN.replace("window_s = 300", "window_s = 300\nbogus = 1"));
    assert!(e.contains("bogus"), "{e}");
}

/// The example plan loads (running it takes about a minute in a debug build: its figures are in
/// scenarios/README.md).
#[test]
fn the_example_horizon_plan_loads() {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/plan-horizon.toml");
    let plan = codesim::plan::load(&p).unwrap_or_else(|e| panic!("{e}"));
    let h = plan.horizon.expect("[horizon]");
    assert_eq!((h.horizon_s, h.targets.len(), h.whatifs.len()), (6.0 * 3600.0, 2, 3));
}
