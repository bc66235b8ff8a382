//! The search: per candidate, the smallest number of units that meets the SLO; over candidates,
//! the cheapest fleet and the cost/latency frontier.

use super::probe::{Achieved, LIGHT_LOAD, LIGHT_REQUESTS, LoadFailure, Probe, Prober};
use super::record::Control;
use super::{Candidate, Plan, PlanSlo, Variation, fmt};
use crate::error::{Error, Result};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The smallest fleet of a candidate that meets the SLO.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fleet {
    pub candidate: String,
    pub instance: String,
    pub chip: String,
    pub weights: String,
    /// E.g. "TP 8 × 2 replicas" or "prefill 1×TP8, decode 2×TP8".
    pub parallelism: String,
    pub disaggregated: bool,
    pub units: u32,
    pub instances: u32,
    pub replicas: u32,
    pub usd_per_hour: f64,
    pub usd_per_mtok_output: f64,
    /// $ per million tokens, prompt and output.
    #[serde(default)]
    pub usd_per_mtok_total: f64,
    pub power_w: f64,
    pub achieved: Vec<Achieved>,
    pub goodput: f64,
    pub saturation: String,
    /// The demand's arrival rate (req/s).
    pub offered_requests_s: f64,
}

/// Why a candidate has no fleet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rejection {
    pub candidate: String,
    /// `memory`, `infeasible`, `latency`, `budget` or `power`.
    pub reason: String,
    pub detail: String,
    /// The percentiles of the probe that decided it, if one ran.
    #[serde(default)]
    pub achieved: Vec<Achieved>,
}

/// A fleet size that met the SLO, for the cost/latency frontier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrontierPoint {
    pub candidate: String,
    pub units: u32,
    pub instances: u32,
    pub usd_per_hour: f64,
    /// The worst SLO term's achieved / limit.
    pub slo_ratio: f64,
    pub achieved: Vec<Achieved>,
}

/// A candidate's search: its fleet or its rejection, and every probe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CandidateSearch {
    pub candidate: String,
    pub fleet: Option<Fleet>,
    pub rejection: Option<Rejection>,
    pub probes: Vec<Probe>,
}

/// The answer of one search over every candidate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanResult {
    pub variation: String,
    pub slo: PlanSlo,
    pub best: Option<Fleet>,
    /// Every feasible fleet, cheapest first (the best, then the runner-ups).
    pub feasible: Vec<Fleet>,
    pub rejected: Vec<Rejection>,
    /// Passing probes on the cost/latency Pareto frontier, cheapest first.
    pub pareto: Vec<FrontierPoint>,
    pub searches: Vec<CandidateSearch>,
}

impl PlanResult {
    pub fn probes(&self) -> usize {
        self.searches.iter().map(|s| s.probes.len()).sum()
    }
}

/// Sizes every candidate (in parallel) under a variation.
pub fn search(plan: &Plan, var: &Variation) -> Result<PlanResult> {
    search_with(plan, var, &Control::default())
}

/// [`search`], keeping probes and stopping as `ctl` says.
pub fn search_with(plan: &Plan, var: &Variation, ctl: &Control) -> Result<PlanResult> {
    let slo = plan.slo.scaled(var.slo_scale);
    let cands: Vec<&Candidate> = plan.candidates.iter().chain(&var.extra_candidates).collect();
    let searches: Vec<CandidateSearch> = cands
        .par_iter()
        .map(|c| search_candidate(plan, var, c, &slo, ctl))
        .collect::<Result<_>>()?;
    let mut feasible: Vec<Fleet> = searches.iter().filter_map(|s| s.fleet.clone()).collect();
    feasible.sort_by(|a, b| {
        a.usd_per_hour
            .total_cmp(&b.usd_per_hour)
            .then(a.usd_per_mtok_output.total_cmp(&b.usd_per_mtok_output))
    });
    let rejected = searches.iter().filter_map(|s| s.rejection.clone()).collect();
    let mut points: Vec<FrontierPoint> = Vec::new();
    for s in &searches {
        for p in s
            .probes
            .iter()
            .filter(|p| p.meets && p.traffic_scale == var.traffic_scale)
        {
            points.push(FrontierPoint {
                candidate: s.candidate.clone(),
                units: p.units,
                instances: p.instances,
                usd_per_hour: p.usd_per_hour,
                slo_ratio: p.slo_ratio(),
                achieved: p.achieved.clone(),
            });
        }
    }
    let xy: Vec<(f64, f64)> = points.iter().map(|p| (p.usd_per_hour, p.slo_ratio)).collect();
    let pareto = crate::frontier::pareto(&xy)
        .into_iter()
        .map(|i| points[i].clone())
        .collect();
    Ok(PlanResult {
        variation: var.name.clone(),
        slo,
        best: feasible.first().cloned(),
        feasible,
        rejected,
        pareto,
        searches,
    })
}

/// One candidate's search: one unit at light load, then its smallest size meeting the SLO.
fn search_candidate(
    plan: &Plan,
    var: &Variation,
    cand: &Candidate,
    slo: &PlanSlo,
    ctl: &Control,
) -> Result<CandidateSearch> {
    let mut sizing = Sizing {
        pr: Prober::new(plan, var, cand, ctl, slo.clone()),
        out: CandidateSearch {
            candidate: cand.name.clone(),
            fleet: None,
            rejection: None,
            probes: Vec::new(),
        },
        cache: BTreeMap::new(),
    };
    sizing.run()?;
    Ok(sizing.out)
}

/// A candidate's search under way: its prober, what it found so far, and its probes at the full
/// traffic by size (each size simulated once).
struct Sizing<'a> {
    pr: Prober<'a>,
    out: CandidateSearch,
    cache: BTreeMap<u32, Probe>,
}

/// The most units a candidate may try, and what sets it: `latency` (its own `max_replicas`, so
/// only the SLO can stop it), `budget` or `power`.
struct SizeLimit {
    max_units: u32,
    binding: &'static str,
}

impl Sizing<'_> {
    fn run(&mut self) -> Result<()> {
        let Some(light) = self.light_load()? else {
            return Ok(());
        };
        let plan = self.pr.plan;
        let SizeLimit { max_units, binding } = size_limit(plan, self.pr.cand, &light);
        if max_units == 0 {
            let detail = over_the_limit(plan, binding, &light);
            self.reject(binding, detail, Vec::new());
            return Ok(());
        }
        // Exponential probing, then bisection.
        let (lo, pass) = self.double(max_units)?;
        let Some((hi, best)) = pass else {
            let last = self.cache.get(&lo).cloned().expect("the last probe is cached");
            let detail = missed_at_most(plan, binding, lo, &last);
            self.reject(binding, detail, last.achieved.clone());
            return Ok(());
        };
        let best = self.bisect(lo, hi, best)?;
        self.out.fleet = Some(fleet_of(self.pr.cand, &self.pr, &best)?);
        Ok(())
    }

    /// One unit at light load: `None` when that rejects the candidate.
    fn light_load(&mut self) -> Result<Option<Probe>> {
        let (plan, var) = (self.pr.plan, self.pr.var);
        let traffic = var.traffic_scale * LIGHT_LOAD;
        // One unit must load; its chip decides which overrides apply.
        match self.pr.load(1, traffic, Some(LIGHT_REQUESTS), plan.seed) {
            Ok(sc) => self.pr.chip = Some(sc.hardware().chip.name.clone()),
            Err(LoadFailure::Infeasible(m)) => {
                self.reject(infeasible(&m), m, Vec::new());
                return Ok(None);
            }
            Err(LoadFailure::Input(e)) => return Err(e),
        }
        // Light load: the latency floor. If one unit misses the SLO alone, no size meets it.
        let light = match self.pr.probe(1, traffic, Some(LIGHT_REQUESTS), plan.seed, 1) {
            Ok(p) => p,
            Err(LoadFailure::Infeasible(m)) => {
                self.reject(infeasible(&m), m, Vec::new());
                return Ok(None);
            }
            Err(LoadFailure::Input(e)) => return Err(e),
        };
        self.out.probes.push(light.clone());
        if !light.meets {
            self.reject(
                "latency",
                format!(
                    "misses the SLO on one unit at {} % of the traffic, so at any size: {}",
                    fmt(LIGHT_LOAD * 100.0),
                    light.why
                ),
                light.achieved.clone(),
            );
            return Ok(None);
        }
        Ok(Some(light))
    }

    /// Units 1, 2, 4, … up to `max_units` until one meets the SLO: the largest count known to
    /// fail (0 if none), and the first count that meets it with its probe (`None` if none does).
    fn double(&mut self, max_units: u32) -> Result<(u32, Option<(u32, Probe)>)> {
        let mut lo = 0u32; // largest count known to fail
        let mut n = 1u32;
        let pass = loop {
            let p = self.at(n)?;
            if p.meets {
                break Some((n, p));
            }
            lo = n;
            if n >= max_units {
                break None;
            }
            n = n.saturating_mul(2).min(max_units);
        };
        Ok((lo, pass))
    }

    /// Bisection between the last failing count `lo` and the first passing `hi` (its probe
    /// `best`): the smallest passing count's probe.
    fn bisect(&mut self, mut lo: u32, mut hi: u32, mut best: Probe) -> Result<Probe> {
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            let p = self.at(mid)?;
            if p.meets {
                hi = mid;
                best = p;
            } else {
                lo = mid;
            }
        }
        Ok(best)
    }

    /// The probe at `n` units and the full traffic, simulated the first time it is asked for.
    fn at(&mut self, n: u32) -> Result<Probe> {
        if let Some(p) = self.cache.get(&n) {
            return Ok(p.clone());
        }
        let (plan, var, cand) = (self.pr.plan, self.pr.var, self.pr.cand);
        let p = match self
            .pr
            .probe(n, var.traffic_scale, None, plan.seed, plan.seeds_per_probe)
        {
            Ok(p) => p,
            Err(LoadFailure::Infeasible(m)) => {
                return Err(Error::infeasible(&cand.base_path, "", format!("{}: {m}", cand.name)));
            }
            Err(LoadFailure::Input(e)) => return Err(e),
        };
        self.out.probes.push(p.clone());
        self.cache.insert(n, p.clone());
        Ok(p)
    }

    fn reject(&mut self, reason: &str, detail: String, achieved: Vec<Achieved>) {
        self.out.rejection = Some(Rejection {
            candidate: self.pr.cand.name.clone(),
            reason: reason.into(),
            detail,
            achieved,
        });
    }
}

/// The rejection reason of a candidate that cannot run.
fn infeasible(msg: &str) -> &'static str {
    if msg.contains("does not fit") {
        "memory"
    } else {
        "infeasible"
    }
}

/// Limits on the size: the candidate's own, the budget, the power limit.
fn size_limit(plan: &Plan, cand: &Candidate, light: &Probe) -> SizeLimit {
    let mut max_units = cand.max_units;
    let mut binding = "latency";
    if let Some(b) = plan.pricing.budget_usd_per_hour {
        let n = (b / light.usd_per_hour).floor().min(u32::MAX as f64) as u32;
        if n < max_units {
            max_units = n;
            binding = "budget";
        }
    }
    if let Some(w) = plan.pricing.power_limit_w {
        let n = (w / light.power_w).floor().min(u32::MAX as f64) as u32;
        if n < max_units {
            max_units = n;
            binding = "power";
        }
    }
    SizeLimit { max_units, binding }
}

/// Why one unit is already over the binding limit.
fn over_the_limit(plan: &Plan, binding: &str, light: &Probe) -> String {
    if binding == "budget" {
        format!(
            "one unit costs ${:.2}/hour, over the budget of ${}/hour",
            light.usd_per_hour,
            fmt(plan.pricing.budget_usd_per_hour.unwrap_or(0.0))
        )
    } else {
        format!(
            "one unit draws {:.0} W provisioned, over the limit of {} W",
            light.power_w,
            fmt(plan.pricing.power_limit_w.unwrap_or(0.0))
        )
    }
}

/// Why no size up to the limit, `lo` units, meets the SLO (`last`: the probe there).
fn missed_at_most(plan: &Plan, binding: &str, lo: u32, last: &Probe) -> String {
    match binding {
        "budget" => format!(
            "misses the SLO at {lo} units (${:.2}/hour), the most the budget of ${}/hour allows: {}",
            last.usd_per_hour,
            fmt(plan.pricing.budget_usd_per_hour.unwrap_or(0.0)),
            last.why
        ),
        "power" => format!(
            "misses the SLO at {lo} units ({:.0} W), the most the power limit of {} W allows: {}",
            last.power_w,
            fmt(plan.pricing.power_limit_w.unwrap_or(0.0)),
            last.why
        ),
        _ => format!("misses the SLO even at max_replicas = {lo} units: {}", last.why),
    }
}

fn fleet_of(cand: &Candidate, pr: &Prober<'_>, p: &Probe) -> Result<Fleet> {
    let sc = pr
        .load(p.units, p.traffic_scale, Some(1), p.seed)
        .map_err(|e| match e {
            LoadFailure::Infeasible(m) => Error::infeasible(&cand.base_path, "", m),
            LoadFailure::Input(e) => e,
        })?;
    let disaggregated = sc.pools.len() > 1 && sc.pools.iter().any(|p| p.role != sc.pools[0].role);
    let parallelism = sc
        .pools
        .iter()
        .map(|pool| {
            let role = if disaggregated {
                format!("{:?} ", pool.role).to_lowercase()
            } else {
                String::new()
            };
            let pp = if pool.pp > 1 {
                format!(" PP{}", pool.pp)
            } else {
                String::new()
            };
            let inst = if sc.pools.len() > 1 && !disaggregated {
                format!(" on {}", pool.hardware.instance.name)
            } else {
                String::new()
            };
            format!("{role}{}×TP{}{pp}{inst}", pool.replicas, pool.tp)
        })
        .collect::<Vec<_>>()
        .join(", ");
    Ok(Fleet {
        candidate: cand.name.clone(),
        instance: sc.hardware().instance.name.clone(),
        chip: sc.hardware().chip.name.clone(),
        weights: sc.precision.weights.to_string(),
        parallelism,
        disaggregated,
        units: p.units,
        instances: p.instances,
        replicas: p.replicas,
        usd_per_hour: p.usd_per_hour,
        usd_per_mtok_output: p.usd_per_mtok_output,
        usd_per_mtok_total: p.usd_per_mtok_total,
        power_w: p.power_w,
        achieved: p.achieved.clone(),
        goodput: p.goodput,
        saturation: p.saturation.clone(),
        offered_requests_s: p.offered_requests_s,
    })
}
