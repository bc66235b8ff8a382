//! Owning the servers: the owned $/Mtok of a run against a hand calculation, utilisation spreading
//! the fixed cost, the headline cost under `pricing = "own"`, a plan ranked by ownership cost, and
//! bad ownership inputs refused with the file, key, value and what is accepted (exit 2).

use codesim::metrics::RunResult;
use codesim::plan;
use codesim::sim::{RunOptions, Simulation};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Llama-3.1-8B on a p5.48xlarge (8 × H100 at 700 W, two 225 W AMD Milan sockets), PUE 1.3.
fn scenario(workload: &str, cost: &str) -> String {
    format!(
        r#"name = "own"
seed = 3
[hardware]
instance = "p5.48xlarge"
[model]
name = "llama-3.1-8b"
[deployment]
tp = 8
[infrastructure]
pue = 1.3
{workload}
{cost}
"#
    )
}

const WORKLOAD: &str = r#"[workload]
requests = 300
arrival = { kind = "poisson", rate_per_s = 5.0 }
input = { kind = "fixed", tokens = 500 }
output = { kind = "fixed", tokens = 100 }"#;

fn run(text: &str) -> RunResult {
    let sc = codesim::scenario::load_str(text, Path::new("own.toml")).unwrap();
    Simulation::new(&sc, RunOptions::default()).unwrap().run().unwrap().0
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * b.abs().max(1.0)
}

#[test]
fn owned_cost_per_token_is_the_hand_calculation() {
    let cost = r#"[cost.ownership]
accelerators_usd = 200000.0
host_usd = 70000.0
network_usd = 63000.0
rack_usd = 10000.0
operations_usd_per_server_year = 8760.0
depreciation_years = 4.0
cost_of_capital = 0.0
usd_per_kwh = 0.1
facility_usd_per_kw_month = 146.0"#;
    let r = run(&scenario(WORKLOAD, cost));
    let own = r.pricing.own.expect("p5.48xlarge has ownership figures");
    let hours = r.sim.sim_time_s / 3600.0;
    let tokens = (r.requests.input_tokens + r.requests.output_tokens_produced) as f64;
    assert_eq!(tokens, 300.0 * 600.0);
    // (capital / depreciation hours + energy × $/kWh × PUE + facility + operations per hour)
    //   / tokens per hour.
    let capital_per_hour = 343_000.0 / (4.0 * 8760.0);
    let it_kwh = (r.energy.chip_idle_j + r.energy.chip_dynamic_j + r.energy.host_j) / 3.6e6;
    let energy_per_hour = it_kwh * 0.1 * 1.3 / hours;
    // Nameplate: 8 × 700 W + 2 × 225 W = 6.05 kW at 146 $/kW-month, 730 h a month.
    let facility_per_hour = 146.0 * 6.05 / 730.0;
    let operations_per_hour = 8760.0 / 8760.0;
    let per_hour = capital_per_hour + energy_per_hour + facility_per_hour + operations_per_hour;
    let usd_per_mtok = per_hour / (tokens / hours) * 1e6;
    assert!(
        close(own.cost.usd_per_mtok_total, usd_per_mtok),
        "{} vs {usd_per_mtok}",
        own.cost.usd_per_mtok_total
    );
    assert!(close(own.capital_usd_per_hour, capital_per_hour));
    assert!(close(own.facility_usd_per_hour, facility_per_hour));
    assert!(close(own.energy_usd_per_hour, energy_per_hour));
    assert!(close(own.cost.usd_per_mtok_output, per_hour * hours / 30_000.0 * 1e6));
    // The rented figures of the same run: 55.04 $/h on demand (hw-profiles), no reserved price.
    assert!(close(r.pricing.on_demand.usd_per_hour, 55.04));
    assert!(r.pricing.reserved.is_none());
    // Bedrock's Llama 3.1 8B at 0.22 $/Mtok in and out: 0.22 $/Mtok of all tokens.
    let m = r.pricing.managed.expect("the model preset has a managed price");
    assert!(close(m.cost.usd_per_mtok_total, 0.22));
}

#[test]
fn cost_of_capital_recovers_the_capital_as_an_annuity() {
    let cost = "[cost.ownership]\ncost_of_capital = 0.08\ndepreciation_years = 5.0\n";
    let r = run(&scenario(WORKLOAD, cost));
    let own = r.pricing.own.unwrap();
    // The p5.48xlarge default capital, 343,000 $, × r (1 + r)^n / ((1 + r)^n − 1) a year.
    let g = 1.08f64.powi(5);
    let annual = 343_000.0 * 0.08 * g / (g - 1.0);
    assert!(
        close(own.capital_usd_per_hour, annual / 8760.0),
        "{}",
        own.capital_usd_per_hour
    );
}

#[test]
fn half_the_load_doubles_the_fixed_cost_per_token() {
    let at = |rate: f64| {
        let w = format!(
            "[workload]\nrequests = 400\narrival = {{ kind = \"constant\", rate_per_s = {rate} }}\ninput = {{ kind = \"fixed\", tokens = 500 }}\noutput = {{ kind = \"fixed\", tokens = 100 }}"
        );
        run(&scenario(&w, ""))
    };
    let (full, half) = (at(8.0), at(4.0));
    let fixed = |r: &RunResult| {
        let o = r.pricing.own.unwrap();
        o.capital_usd_per_mtok + o.facility_usd_per_mtok + o.operations_usd_per_mtok
    };
    // The same server costs the same per hour; half the load brings half the tokens per hour
    // (400 requests over ≈ 50 s, then ≈ 100 s; the last request's latency is the only excess).
    let fixed_per_hour = |r: &RunResult| {
        let o = r.pricing.own.unwrap();
        o.capital_usd_per_hour + o.facility_usd_per_hour + o.operations_usd_per_hour
    };
    assert!(close(fixed_per_hour(&full), fixed_per_hour(&half)));
    let ratio = fixed(&half) / fixed(&full);
    assert!((ratio - 2.0).abs() < 0.04, "fixed cost per token ×{ratio}");
    // Energy does not double: the dynamic part follows the tokens, only idle power is spread.
    let energy = |r: &RunResult| r.pricing.own.unwrap().energy_usd_per_mtok;
    assert!(
        energy(&half) / energy(&full) < ratio,
        "energy per token ×{}",
        energy(&half) / energy(&full)
    );
}

#[test]
fn pricing_own_makes_the_owned_price_the_headline_cost() {
    let text = scenario(WORKLOAD, "").replace("pue = 1.3", "pue = 1.3\npricing = \"own\"");
    let r = run(&text);
    let own = r.pricing.own.unwrap();
    assert_eq!(r.cost.usd_per_hour, own.cost.usd_per_hour);
    assert_eq!(r.cost.usd_per_mtok_output, own.cost.usd_per_mtok_output);
    assert!(r.cost.usd_per_hour < r.pricing.on_demand.usd_per_hour);
}

#[test]
fn a_plan_ranks_by_ownership_cost() {
    let text = r#"name = "own"
seed = 7
[demand]
rate_per_s = 2.0
requests = 200
input = { kind = "fixed", tokens = 300 }
output = { kind = "fixed", tokens = 50 }
[slo]
tpot_p99_ms = 100.0
[pricing]
mode = "own"
[[candidate]]
name = "p5.4xlarge 8b"
max_replicas = 4
scenario = { hardware = { instance = "p5.4xlarge" }, model = { name = "llama-3.1-8b" }, deployment = { tp = 1 } }
"#;
    let p = plan::load_str(text, Path::new("plan.toml")).unwrap();
    let probe = plan::probe(&p, &plan::Variation::default(), "p5.4xlarge 8b", 1, 1.0, 7, 1).unwrap();
    // One p5.4xlarge owned: an eighth of the p5 server's costs (costs/ownership.toml), far below
    // its 6.88 $/h on demand; the probe's $/h is the owned fleet's.
    let capital = 42_875.0 * 0.250_456_45 / 8760.0;
    assert!(
        probe.usd_per_hour > capital && probe.usd_per_hour < 3.0,
        "{}",
        probe.usd_per_hour
    );
    let bad = text.replace(
        "[[candidate]]",
        "[[whatif]]\nname = \"cheaper\"\nprices = { \"p5.4xlarge\" = 1.0 }\n[[candidate]]",
    );
    let e = plan::load_str(&bad, Path::new("plan.toml")).unwrap_err().to_string();
    assert!(e.contains("prices") && e.contains("own"), "{e}");
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("codesim-own-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs `codesim run` on `text`: (exit code, stderr).
fn run_cli(name: &str, text: &str) -> (i32, String) {
    let d = temp_dir(name);
    let f = d.join("s.toml");
    std::fs::write(&f, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_codesim"))
        .args(["run", f.to_str().unwrap()])
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_ownership_inputs_exit_2_naming_file_key_value_and_what_is_accepted() {
    let cases: [(&str, String, &[&str]); 8] = [
        (
            "negative capital",
            scenario(WORKLOAD, "[cost.ownership]\naccelerators_usd = -5.0"),
            &["cost.ownership.accelerators_usd", "-5", "[0, 1000000000]"],
        ),
        (
            "NaN price of energy",
            scenario(WORKLOAD, "[cost.ownership]\nusd_per_kwh = nan"),
            &["cost.ownership.usd_per_kwh", "NaN", "[0, 10]"],
        ),
        (
            "zero years",
            scenario(WORKLOAD, "[cost.ownership]\ndepreciation_years = 0.0"),
            &["cost.ownership.depreciation_years", "got 0", "[0.1, 50]"],
        ),
        (
            "cost of capital above 1",
            scenario(WORKLOAD, "[cost.ownership]\ncost_of_capital = 8.0"),
            &["cost.ownership.cost_of_capital", "8", "[0, 1]"],
        ),
        (
            "unknown ownership key",
            scenario(WORKLOAD, "[cost.ownership]\ngpu_usd = 1.0"),
            &["gpu_usd", "accelerators_usd"],
        ),
        (
            "unknown managed price",
            scenario(WORKLOAD, "[cost]\nmanaged = \"bedrock/llama-9\""),
            &["cost.managed", "bedrock/llama-9", "bedrock/llama-3.1-8b"],
        ),
        (
            "own without ownership figures",
            scenario(WORKLOAD, "")
                .replace("p5.48xlarge", "c7g.16xlarge")
                .replace("tp = 8", "tp = 1")
                .replace("pue = 1.3", "pricing = \"own\""),
            &["infrastructure.pricing", "c7g.16xlarge", "costs/ownership.toml"],
        ),
        (
            "server keys for an instance without defaults, incomplete",
            scenario(WORKLOAD, "[cost.ownership]\naccelerators_usd = 1000.0")
                .replace("p5.48xlarge", "c7g.16xlarge")
                .replace("tp = 8", "tp = 1"),
            &["cost.ownership", "c7g.16xlarge", "host_usd"],
        ),
    ];
    for (what, text, words) in cases {
        let (code, err) = run_cli(&what.replace(' ', "-"), &text);
        assert_eq!(code, 2, "{what}: {err}");
        assert!(err.contains("s.toml"), "{what}: no file in {err}");
        for w in words {
            assert!(err.contains(w), "{what}: `{w}` not in {err}");
        }
        assert!(!err.contains("panicked"), "{what}: {err}");
    }
}

#[test]
fn ownership_keys_are_sweepable() {
    let d = temp_dir("sweep");
    let base = scenario(WORKLOAD, "").replace("name = \"own\"\nseed = 3\n", "");
    let mut text = String::from(
        "name = \"kwh\"\n[axes]\n\"cost.ownership.usd_per_kwh\" = [0.05, 0.5]\n\"cost.ownership.depreciation_years\" = [3.0, 6.0]\n[base]\nseed = 3\n",
    );
    // The scenario's tables under [base].
    for line in base.lines() {
        let line = match line.strip_prefix('[') {
            Some(rest) => format!("[base.{rest}"),
            None => line.to_string(),
        };
        text.push_str(&line);
        text.push('\n');
    }
    std::fs::write(d.join("sweep.toml"), text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_codesim"))
        .args(["sweep", "sweep.toml", "--out", "out"])
        .current_dir(&d)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let csv = std::fs::read_to_string(d.join("out/results.csv")).unwrap();
    let mut lines = csv.lines();
    let head: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = head.iter().position(|h| *h == "usd_per_mtok_total_own").unwrap();
    let own: Vec<f64> = lines.map(|l| l.split(',').nth(col).unwrap().parse().unwrap()).collect();
    assert_eq!(own.len(), 4);
    // The same simulated runs: dearer power and a shorter depreciation each raise the owned price.
    let mut sorted = own.clone();
    sorted.dedup();
    assert_eq!(sorted.len(), 4, "{own:?}");
}
