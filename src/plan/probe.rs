//! Probes: one candidate simulated at a size and a traffic scale, judged against the SLO.

use super::record::Control;
use super::{Candidate, Demand, Plan, PlanSlo, PriceMode, Variation, fmt};
use crate::error::{Error, Result};
use crate::scenario::Scenario;
use crate::sim::{RunOptions, Simulation};
use crate::tomlpath::set_path;
use serde::{Deserialize, Serialize};
use std::sync::atomic::Ordering;

/// One simulation of a candidate at a size and a traffic scale, judged against the SLO.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Probe {
    pub units: u32,
    pub traffic_scale: f64,
    pub seed: u64,
    pub meets: bool,
    /// Why it misses (empty when it meets).
    pub why: String,
    pub achieved: Vec<Achieved>,
    pub goodput: f64,
    pub saturation: String,
    pub instances: u32,
    pub replicas: u32,
    pub usd_per_hour: f64,
    pub usd_per_mtok_output: f64,
    /// $ per million tokens, prompt and output (code traffic has few output tokens a request).
    #[serde(default)]
    pub usd_per_mtok_total: f64,
    /// Provisioned power: chips × TDP + hosts' TDP, over every instance.
    pub power_w: f64,
    /// Average power the simulation drew.
    pub avg_power_w: f64,
    /// Requests per second offered (the arrival rate of the probe's demand).
    pub offered_requests_s: f64,
    /// Requests per second completed over the run, drain included.
    pub requests_s: f64,
    pub output_tok_s: f64,
}

/// An SLO term and the value a run achieved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Achieved {
    pub metric: String,
    pub percentile: f64,
    pub limit_ms: f64,
    pub achieved_ms: f64,
}

/// "p95 TTFT 285 ms, p99 TPOT 86 ms": what a run achieved on each SLO term.
pub fn achieved_label(a: &[Achieved]) -> String {
    a.iter()
        .map(|a| {
            format!(
                "p{} {} {:.0} ms",
                fmt(a.percentile),
                a.metric.to_uppercase(),
                a.achieved_ms
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

impl Probe {
    /// The worst term's achieved / limit (≤ 1 meets the percentiles).
    pub fn slo_ratio(&self) -> f64 {
        self.achieved
            .iter()
            .map(|a| a.achieved_ms / a.limit_ms)
            .fold(0.0, f64::max)
    }
    pub fn achieved_label(&self) -> String {
        achieved_label(&self.achieved)
    }
}

/// Traffic of the light-load probe, as a fraction of the demand.
pub(super) const LIGHT_LOAD: f64 = 0.01;
/// The arrival rate a scenario offers (a trace: its rows' mean rate over the replayed window).
fn offered_rate(sc: &Scenario) -> f64 {
    use crate::workload::ArrivalSpec;
    match &sc.arrival {
        ArrivalSpec::Poisson { rate_per_s, .. }
        | ArrivalSpec::Gamma { rate_per_s, .. }
        | ArrivalSpec::Weibull { rate_per_s, .. }
        | ArrivalSpec::Constant { rate_per_s, .. } => *rate_per_s,
        ArrivalSpec::Trace { rate_scale, .. } => sc.trace.as_ref().map_or(0.0, |t| {
            let n = (sc.requests as usize).min(t.requests.len());
            let span_s = if n >= 2 {
                t.requests[n - 1].arrival_ns as f64 * 1e-9 / rate_scale.unwrap_or(1.0)
            } else {
                0.0
            };
            if span_s > 0.0 { (n - 1) as f64 / span_s } else { 0.0 }
        }),
        _ => 0.0,
    }
}

/// Requests of the light-load probe (at most).
pub(super) const LIGHT_REQUESTS: u64 = 64;

/// A candidate's scenario with `units` × its replicas, the demand at `traffic` × its rate, and a
/// variation's hardware changes.
pub fn scenario_table(
    plan: &Plan,
    var: &Variation,
    cand: &Candidate,
    units: u32,
    traffic: f64,
    requests_cap: Option<u64>,
    seed: u64,
) -> std::result::Result<toml::Table, String> {
    let mut t = cand.base.clone();
    t.insert("seed".into(), toml::Value::Integer(seed as i64));
    let resample = (seed != plan.seed).then(|| plan.demand.bootstrap_rows());
    t.remove("slo");
    let w = demand_workload(&plan.demand, cand, traffic, requests_cap, resample);
    t.insert("workload".into(), toml::Value::Table(w));
    multiply_replicas(&mut t, units)?;
    add_profiles(&mut t, var)?;
    if plan.pricing.mode == PriceMode::Own {
        let infra = t
            .entry("infrastructure")
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        let toml::Value::Table(infra) = infra else {
            return Err("`infrastructure` must be a table".into());
        };
        infra.insert("pricing".into(), "own".into());
    }
    Ok(t)
}

/// The workload: the demand at `traffic` × its rate, at most `requests_cap` requests.
fn demand_workload(
    d: &Demand,
    cand: &Candidate,
    traffic: f64,
    requests_cap: Option<u64>,
    resample: Option<u32>,
) -> toml::Table {
    let mut w = toml::Table::new();
    let scale = traffic * d.peak_factor();
    let mut arrival = demand_arrival(d, scale);
    // Replaying a trace draws nothing from the seed: any seed but the plan's replays a block
    // bootstrap of it, so that another seed is another sample of the same traffic.
    if let (Some(rows), Some(_)) = (resample, &d.trace) {
        arrival.insert("bootstrap_block".into(), toml::Value::Integer(rows as i64));
    }
    w.insert("arrival".into(), toml::Value::Table(arrival));
    let requests = match (d.requests, requests_cap) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    if let Some(n) = requests {
        w.insert("requests".into(), toml::Value::Integer(n as i64));
    }
    for (k, v) in [("input", &d.input), ("output", &d.output)] {
        if let Some(v) = v {
            w.insert(k.into(), v.clone());
        }
    }
    if let Some(g) = d.prefix_groups {
        w.insert("prefix_groups".into(), toml::Value::Integer(g as i64));
    }
    // Keep the base's classes (priorities, per-class SLOs) if it has them.
    if let Some(toml::Value::Table(bw)) = cand.base.get("workload") {
        if let Some(c) = bw.get("classes") {
            w.insert("classes".into(), c.clone());
        }
    }
    w
}

/// The demand's arrival process, its rate × `scale`: the trace time-scaled, or Poisson or Gamma.
fn demand_arrival(d: &Demand, scale: f64) -> toml::Table {
    let mut arrival = toml::Table::new();
    if let Some(path) = &d.trace {
        arrival.insert("kind".into(), "trace".into());
        arrival.insert("path".into(), path.clone().into());
        match d.rate_per_s {
            Some(r) => arrival.insert("rate_per_s".into(), (r * scale).into()),
            None => arrival.insert("rate_scale".into(), (d.rate_scale.unwrap_or(1.0) * scale).into()),
        };
    } else {
        let rate = d.rate_per_s.unwrap_or(1.0) * scale;
        match d.cv {
            Some(cv) => {
                arrival.insert("kind".into(), "gamma".into());
                arrival.insert("cv".into(), cv.into());
            }
            None => {
                arrival.insert("kind".into(), "poisson".into());
            }
        }
        arrival.insert("rate_per_s".into(), rate.into());
    }
    arrival
}

/// Size: multiply every replica count of the base (saturating: a count that large is then
/// refused by the scenario's own check of `replicas`).
fn multiply_replicas(t: &mut toml::Table, units: u32) -> std::result::Result<(), String> {
    let mul = |v: Option<&toml::Value>| -> toml::Value {
        let base = v.and_then(toml::Value::as_integer).unwrap_or(1);
        toml::Value::Integer(base.saturating_mul(units as i64))
    };
    if let Some(toml::Value::Table(dis)) = t.get_mut("disaggregation") {
        for pool in ["prefill", "decode"] {
            if let Some(toml::Value::Table(p)) = dis.get_mut(pool) {
                let v = mul(p.get("replicas"));
                p.insert("replicas".into(), v);
            }
        }
    } else {
        let dep = t
            .entry("deployment")
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        let toml::Value::Table(dep) = dep else {
            return Err("`deployment` in the candidate's scenario is not a table".into());
        };
        match dep.get_mut("groups") {
            Some(toml::Value::Array(groups)) if !groups.is_empty() => {
                for g in groups {
                    if let toml::Value::Table(g) = g {
                        let v = mul(g.get("replicas"));
                        g.insert("replicas".into(), v);
                    }
                }
            }
            _ => {
                let v = mul(dep.get("replicas"));
                dep.insert("replicas".into(), v);
            }
        }
    }
    Ok(())
}

/// Hardware changes: the variation's profiles added to the scenario's.
fn add_profiles(t: &mut toml::Table, var: &Variation) -> std::result::Result<(), String> {
    if !var.profiles.is_empty() {
        let mut list: Vec<toml::Value> = match t.get("hardware").and_then(|h| h.get("profiles")) {
            Some(toml::Value::Array(a)) => a.clone(),
            _ => Vec::new(),
        };
        list.extend(var.profiles.iter().map(|p| toml::Value::String(p.clone())));
        set_path(t, "hardware.profiles", toml::Value::Array(list))?;
    }
    Ok(())
}

/// Adds a variation's chip overrides for the chip the candidate runs on.
fn with_chip_overrides(mut t: toml::Table, var: &Variation, chip: &str) -> std::result::Result<toml::Table, String> {
    if let Some(over) = var.chip_overrides.get(chip) {
        for (k, v) in over {
            set_path(&mut t, &format!("hardware.chip.{k}"), v.clone())?;
        }
    }
    Ok(t)
}

/// What loading a probe's scenario can end in, short of a simulation.
pub(super) enum LoadFailure {
    /// The candidate cannot run at all (weights do not fit; a parallelism the hardware lacks).
    Infeasible(String),
    /// The plan or the candidate is wrong.
    Input(Error),
}

pub(super) struct Prober<'a> {
    pub(super) plan: &'a Plan,
    pub(super) var: &'a Variation,
    pub(super) cand: &'a Candidate,
    pub(super) ctl: &'a Control,
    pub(super) slo: PlanSlo,
    /// The chip the candidate runs on (known after the first load).
    pub(super) chip: Option<String>,
}

impl<'a> Prober<'a> {
    /// A prober judging against `slo`; the chip is learnt from the first load.
    pub(super) fn new(plan: &'a Plan, var: &'a Variation, cand: &'a Candidate, ctl: &'a Control, slo: PlanSlo) -> Self {
        Prober {
            plan,
            var,
            cand,
            ctl,
            slo,
            chip: None,
        }
    }

    pub(super) fn load(
        &self,
        units: u32,
        traffic: f64,
        cap: Option<u64>,
        seed: u64,
    ) -> std::result::Result<Scenario, LoadFailure> {
        self.load_text(&self.scenario_text(units, traffic, cap, seed)?)
    }

    /// The probe's scenario as TOML text.
    fn scenario_text(
        &self,
        units: u32,
        traffic: f64,
        cap: Option<u64>,
        seed: u64,
    ) -> std::result::Result<String, LoadFailure> {
        let t = scenario_table(self.plan, self.var, self.cand, units, traffic, cap, seed)
            .map_err(|m| LoadFailure::Input(Error::input(&self.cand.base_path, "", m)))?;
        let t = match &self.chip {
            Some(chip) => with_chip_overrides(t, self.var, chip)
                .map_err(|m| LoadFailure::Input(Error::input(&self.cand.base_path, "", m)))?,
            None => t,
        };
        toml::to_string(&t).map_err(|e| LoadFailure::Input(Error::input(&self.cand.base_path, "", e.to_string())))
    }

    fn load_text(&self, text: &str) -> std::result::Result<Scenario, LoadFailure> {
        match crate::scenario::load_str(text, &self.cand.base_path) {
            Ok(sc) => Ok(sc),
            Err(Error::Infeasible(e)) => Err(LoadFailure::Infeasible(e.message)),
            Err(e) => Err(LoadFailure::Input(e)),
        }
    }

    /// Simulates on `seeds` sample paths (from `seed`): the worst of each figure, met only if met
    /// on every path.
    pub(super) fn probe(
        &self,
        units: u32,
        traffic: f64,
        cap: Option<u64>,
        seed: u64,
        seeds: u32,
    ) -> std::result::Result<Probe, LoadFailure> {
        let mut worst = self.probe_one(units, traffic, cap, seed)?;
        for k in 1..seeds.max(1) {
            let p = self.probe_one(units, traffic, cap, seed.wrapping_add(k as u64))?;
            for (w, a) in worst.achieved.iter_mut().zip(&p.achieved) {
                w.achieved_ms = w.achieved_ms.max(a.achieved_ms);
            }
            worst.goodput = worst.goodput.min(p.goodput);
            if !p.meets {
                if !worst.why.is_empty() {
                    worst.why.push_str("; ");
                }
                worst.why.push_str(&format!("seed {}: {}", p.seed, p.why));
                worst.meets = false;
            }
            if p.saturation != "stable" {
                worst.saturation = p.saturation;
            }
            worst.usd_per_mtok_output = worst.usd_per_mtok_output.max(p.usd_per_mtok_output);
            worst.usd_per_mtok_total = worst.usd_per_mtok_total.max(p.usd_per_mtok_total);
            worst.requests_s = worst.requests_s.min(p.requests_s);
        }
        Ok(worst)
    }

    fn probe_one(
        &self,
        units: u32,
        traffic: f64,
        cap: Option<u64>,
        seed: u64,
    ) -> std::result::Result<Probe, LoadFailure> {
        let text = self.scenario_text(units, traffic, cap, seed)?;
        let sc = self.load_text(&text)?;
        let price_factor = self.price_factor(&sc);
        let key = self.record_key(&text, &sc, units, traffic, price_factor);
        if let Some(p) = self.ctl.recorded(&key) {
            self.ctl.reused.fetch_add(1, Ordering::SeqCst);
            return Ok(p);
        }
        if self.ctl.stopped() {
            return Err(LoadFailure::Input(self.ctl.interrupted()));
        }
        let p = self.simulate(&sc, units, traffic, seed, price_factor)?;
        self.ctl.simulated.fetch_add(1, Ordering::SeqCst);
        self.ctl.record(&key, &p).map_err(LoadFailure::Input)?;
        Ok(p)
    }

    fn simulate(
        &self,
        sc: &Scenario,
        units: u32,
        traffic: f64,
        seed: u64,
        price_factor: f64,
    ) -> std::result::Result<Probe, LoadFailure> {
        let sim = match Simulation::new(
            sc,
            RunOptions {
                keep_requests: true,
                ..RunOptions::default()
            },
        ) {
            Ok(s) => s,
            Err(Error::Infeasible(e)) => return Err(LoadFailure::Infeasible(e.message)),
            Err(e) => return Err(LoadFailure::Input(e)),
        };
        let (r, rows) = match sim.run() {
            Ok(x) => x,
            Err(Error::Infeasible(e)) => return Err(LoadFailure::Infeasible(e.message)),
            Err(e) => return Err(LoadFailure::Input(e)),
        };
        let good = rows
            .iter()
            .filter(|x| self.slo.request_ok(x.ttft_ms, x.tpot_ms, x.e2e_ms))
            .count() as f64;
        let arrived = r.requests.arrived.max(1) as f64;
        let goodput = good / arrived;
        let achieved: Vec<Achieved> = self
            .slo
            .terms
            .iter()
            .map(|t| Achieved {
                metric: t.metric.clone(),
                percentile: t.percentile,
                limit_ms: t.limit_ms,
                achieved_ms: t.achieved(&r),
            })
            .collect();
        let mut why = Vec::new();
        if r.requests.completed == 0 {
            why.push("no request completed".to_string());
        }
        // A backlogged or overloaded probe meets no SLO, whatever its percentiles: they describe
        // the probe's length, not a load the fleet sustains (`metrics::slo::unsteady`).
        if let Some(state) = crate::metrics::slo::unsteady(&r) {
            why.push(format!("{state} (p99 queueing {:.0} ms)", r.queue_ms.p99));
        }
        for a in &achieved {
            if a.achieved_ms.is_nan() || a.achieved_ms > a.limit_ms {
                why.push(format!(
                    "p{} {} {:.0} ms > {} ms",
                    fmt(a.percentile),
                    a.metric.to_uppercase(),
                    a.achieved_ms,
                    fmt(a.limit_ms)
                ));
            }
        }
        if goodput < self.slo.min_goodput {
            why.push(format!(
                "goodput {:.1} % < {} %",
                goodput * 100.0,
                fmt(self.slo.min_goodput * 100.0)
            ));
        }
        let power_w: f64 = sc
            .pools
            .iter()
            .map(|p| {
                let hw = &p.hardware;
                p.instances() as f64
                    * (hw.instance.chips as f64 * hw.chip.tdp_w + hw.host.tdp_w * hw.host.sockets as f64)
            })
            .sum();
        Ok(Probe {
            units,
            traffic_scale: traffic,
            seed,
            meets: why.is_empty(),
            why: why.join("; "),
            achieved,
            goodput,
            saturation: r.saturation.clone(),
            instances: r.cost.instances,
            replicas: sc.pools.iter().map(|p| p.replicas).sum(),
            usd_per_hour: r.cost.usd_per_hour * price_factor,
            usd_per_mtok_output: r.cost.usd_per_mtok_output * price_factor,
            usd_per_mtok_total: r.cost.usd_per_mtok_total * price_factor,
            power_w,
            avg_power_w: r.energy.avg_power_w,
            offered_requests_s: offered_rate(sc),
            requests_s: r.throughput.requests_s,
            output_tok_s: r.throughput.output_tok_s,
        })
    }

    /// The plan's price of the fleet over the simulation's on-demand price (under `own` the
    /// simulation prices the owned fleet itself: the factor is the what-if's scale).
    fn price_factor(&self, sc: &Scenario) -> f64 {
        if self.plan.pricing.mode == PriceMode::Own {
            return self.var.price_scale;
        }
        let mut on_demand = 0.0;
        let mut plan = 0.0;
        for p in &sc.pools {
            let inst = &p.hardware.instance;
            let n = p.instances() as f64;
            on_demand += n * inst.price.on_demand_usd_per_hour;
            let price = self.var.prices.get(&inst.name).copied().unwrap_or_else(|| {
                match self.plan.pricing.mode {
                    PriceMode::OnDemand | PriceMode::Own => None,
                    PriceMode::Reserved => inst.price.reserved_usd_per_hour,
                    PriceMode::Spot => inst.price.spot_usd_per_hour,
                }
                .unwrap_or(inst.price.on_demand_usd_per_hour)
            });
            plan += n * price * self.var.price_scale;
        }
        if on_demand > 0.0 { plan / on_demand } else { 0.0 }
    }
}

/// Simulates a candidate at `units` and `traffic` × the demand on `seeds` sample paths from
/// `seed`, judged against the plan's SLO (scaled by the variation's `slo_scale`).
pub fn probe(
    plan: &Plan,
    var: &Variation,
    candidate: &str,
    units: u32,
    traffic: f64,
    seed: u64,
    seeds: u32,
) -> Result<Probe> {
    let at = ProbeAt {
        candidate,
        units,
        traffic,
        seed,
        seeds,
    };
    probe_with(plan, var, &Control::default(), &at)
}

/// Where a probe runs: a candidate at `units` and `traffic` × the demand, on `seeds` sample paths
/// from `seed`.
pub(super) struct ProbeAt<'a> {
    pub(super) candidate: &'a str,
    pub(super) units: u32,
    pub(super) traffic: f64,
    pub(super) seed: u64,
    pub(super) seeds: u32,
}

/// [`probe`], keeping the probe and stopping as `ctl` says.
pub(super) fn probe_with(plan: &Plan, var: &Variation, ctl: &Control, at: &ProbeAt<'_>) -> Result<Probe> {
    let cand = plan
        .candidates
        .iter()
        .chain(&var.extra_candidates)
        .find(|c| c.name == at.candidate)
        .ok_or_else(|| {
            Error::input(
                &plan.file,
                "candidate",
                format!("no candidate named `{}`", at.candidate),
            )
        })?;
    let mut pr = Prober::new(plan, var, cand, ctl, plan.slo.scaled(var.slo_scale));
    let conv = |e: LoadFailure| match e {
        LoadFailure::Infeasible(m) => Error::infeasible(&cand.base_path, "", m),
        LoadFailure::Input(e) => e,
    };
    pr.chip = Some(
        pr.load(1, at.traffic, Some(1), at.seed)
            .map_err(conv)?
            .hardware()
            .chip
            .name
            .clone(),
    );
    pr.probe(at.units, at.traffic, None, at.seed, at.seeds).map_err(conv)
}
