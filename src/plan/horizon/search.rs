//! The horizon plan's runs: per candidate and autoscaling target, one all-on-demand run (the
//! replica curve), the newsvendor's reserved base on it, and one run per spot share with that
//! base; the cheapest mix within the SLO-minutes budget per candidate, and over candidates.

use super::newsvendor::{BaseChoice, Curve, choose};
use super::{Horizon, HorizonCase};
use crate::error::{Error, Result};
use crate::metrics::RunResult;
use crate::plan::{Candidate, Plan, Variation, scenario_table};
use crate::scenario::Scenario;
use crate::sim::{RunOptions, Simulation};
use crate::tomlpath::set_path;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// One simulated mix of a candidate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trial {
    pub target: f64,
    pub reserved: u32,
    pub spot_share: f64,
    pub reserved_usd: f64,
    pub on_demand_usd: f64,
    pub spot_usd: f64,
    pub total_usd: f64,
    pub slo_minutes_lost: f64,
    /// Most replicas provisioned at a window's end, and replica-hours over the horizon.
    pub peak_replicas: u32,
    pub replica_hours: f64,
    pub meets: bool,
}

/// A candidate over the horizon: every trial, the base chosen per target, and the cheapest mix
/// within the budget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CandidateHorizon {
    pub name: String,
    pub instance: String,
    /// $/instance-hour: on demand, reserved and spot (None: the catalog has none).
    pub on_demand_usd_per_hour: f64,
    pub reserved_usd_per_hour: Option<f64>,
    pub spot_usd_per_hour: Option<f64>,
    /// Per target whose on-demand run met the budget: the newsvendor's base on its curve.
    pub bases: Vec<(f64, BaseChoice)>,
    pub trials: Vec<Trial>,
    pub chosen: Option<Trial>,
    /// Why the candidate could not run at all, or why it has no mix within the budget.
    pub rejected: Option<String>,
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HorizonResult {
    pub case: HorizonCase,
    pub candidates: Vec<CandidateHorizon>,
    /// Index into `candidates` of the cheapest chosen mix.
    pub best: Option<usize>,
}

impl HorizonResult {
    pub fn best(&self) -> Option<&CandidateHorizon> {
        self.best.map(|i| &self.candidates[i])
    }
}

/// A what-if's best candidate beside the base plan's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HorizonWhatIfResult {
    pub case: HorizonCase,
    pub best: Option<String>,
    pub chosen: Option<Trial>,
}

/// Everything a horizon plan reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HorizonReport {
    pub name: String,
    pub description: Option<String>,
    pub file: String,
    pub demand: String,
    pub slo: String,
    pub slo_target: f64,
    pub hours: f64,
    pub window_s: f64,
    pub slo_minutes_budget: f64,
    pub target_key: String,
    pub targets: Vec<f64>,
    pub spot_shares: Vec<f64>,
    pub reclaims_per_h: f64,
    pub mtbf_h: Option<f64>,
    pub seed: u64,
    pub notes: Vec<String>,
    pub base: HorizonResult,
    pub whatifs: Vec<HorizonWhatIfResult>,
    pub simulations: usize,
    pub codesim_version: String,
}

/// Plans over the horizon: the base case and every what-if.
pub fn run(plan: &Plan) -> Result<HorizonReport> {
    let hz = plan.horizon.as_ref().ok_or_else(|| {
        Error::input(
            &plan.file,
            "horizon",
            "is missing; a horizon plan needs a [horizon] table",
        )
    })?;
    let base = plan_case(plan, hz, &hz.base_case())?;
    let mut sims = count(&base);
    let mut whatifs = Vec::new();
    for case in &hz.whatifs {
        let r = plan_case(plan, hz, case)?;
        sims += count(&r);
        let best = r.best();
        whatifs.push(HorizonWhatIfResult {
            case: case.clone(),
            best: best.map(|c| c.name.clone()),
            chosen: best.and_then(|c| c.chosen.clone()),
        });
    }
    Ok(HorizonReport {
        name: plan.name.clone(),
        description: plan.description.clone(),
        file: plan.file.display().to_string(),
        demand: format!(
            "{} req/s × the horizon's profile, {} arrivals",
            crate::plan::fmt(plan.demand.rate_per_s.unwrap_or(0.0)),
            if plan.demand.cv.is_some() { "Gamma" } else { "Poisson" }
        ),
        slo: plan.slo.terms.iter().map(|t| t.label()).collect::<Vec<_>>().join(", "),
        slo_target: hz.slo_target,
        hours: hz.horizon_s / 3600.0,
        window_s: hz.window_s,
        slo_minutes_budget: hz.budget_min,
        target_key: hz.target_key.to_string(),
        targets: hz.targets.clone(),
        spot_shares: hz.spot_shares.clone(),
        reclaims_per_h: hz.reclaims_per_h,
        mtbf_h: hz.mtbf_h,
        seed: plan.seed,
        notes: hz.notes.clone(),
        base,
        whatifs,
        simulations: sims,
        codesim_version: env!("CARGO_PKG_VERSION").to_string(),
    })
}

fn count(r: &HorizonResult) -> usize {
    r.candidates.iter().map(|c| c.trials.len()).sum()
}

/// Every candidate under one case (in parallel; the results do not depend on the threads).
fn plan_case(plan: &Plan, hz: &Horizon, case: &HorizonCase) -> Result<HorizonResult> {
    let candidates: Vec<CandidateHorizon> = plan
        .candidates
        .par_iter()
        .map(|c| plan_candidate(plan, hz, case, c))
        .collect::<Result<_>>()?;
    let best = candidates
        .iter()
        .enumerate()
        .filter_map(|(i, c)| c.chosen.as_ref().map(|t| (i, t.total_usd)))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(i, _)| i);
    Ok(HorizonResult {
        case: case.clone(),
        candidates,
        best,
    })
}

/// One mix to simulate.
#[derive(Debug, Clone, Copy)]
struct Mix {
    target: f64,
    reserved: u32,
    spot_share: f64,
}

fn plan_candidate(plan: &Plan, hz: &Horizon, case: &HorizonCase, cand: &Candidate) -> Result<CandidateHorizon> {
    let first = Mix {
        target: hz.targets[0],
        reserved: 0,
        spot_share: 0.0,
    };
    let mut out = CandidateHorizon {
        name: cand.name.clone(),
        instance: String::new(),
        on_demand_usd_per_hour: 0.0,
        reserved_usd_per_hour: None,
        spot_usd_per_hour: None,
        bases: Vec::new(),
        trials: Vec::new(),
        chosen: None,
        rejected: None,
        notes: Vec::new(),
    };
    let sc = match load(plan, hz, case, cand, first, None) {
        Ok(sc) => sc,
        Err(Error::Infeasible(e)) => {
            out.rejected = Some(e.message);
            return Ok(out);
        }
        Err(e) => return Err(e),
    };
    let price = &sc.hardware().instance.price;
    out.instance = sc.hardware().instance.name.clone();
    out.on_demand_usd_per_hour = price.on_demand_usd_per_hour;
    out.reserved_usd_per_hour = price.reserved_usd_per_hour;
    out.spot_usd_per_hour = price.spot_usd_per_hour.map(|p| p * case.spot_price_scale);
    if out.reserved_usd_per_hour.is_none() {
        out.notes.push(format!(
            "`{}` has no reserved price in the catalog: nothing reserved (set [hardware.instance_overrides.price] reserved_usd_per_hour in the candidate)",
            out.instance
        ));
    }
    let spot_price = price.spot_usd_per_hour;
    let shares: Vec<f64> = hz
        .spot_shares
        .iter()
        .copied()
        .filter(|&s| s == 0.0 || spot_price.is_some())
        .collect();
    if shares.len() < hz.spot_shares.len() {
        out.notes.push(format!(
            "`{}` has no spot price in the catalog: no spot share tried",
            out.instance
        ));
    }
    for &target in &hz.targets {
        let od = simulate(plan, hz, case, cand, Mix { target, ..first }, spot_price)?;
        let meets = od.meets;
        let curve = od_curve(&od.1);
        out.trials.push(od.0.clone());
        if !meets {
            continue;
        }
        let base = match out.reserved_usd_per_hour {
            Some(p_res) => choose(&curve, p_res, out.on_demand_usd_per_hour),
            None => choose(&curve, f64::INFINITY, out.on_demand_usd_per_hour),
        };
        out.bases.push((target, base));
        for &s in &shares {
            if base.reserved == 0 && s == 0.0 {
                continue; // the on-demand run itself
            }
            let mix = Mix {
                target,
                reserved: base.reserved,
                spot_share: s,
            };
            let t = simulate(plan, hz, case, cand, mix, spot_price)?;
            out.trials.push(t.0);
        }
    }
    out.chosen = out
        .trials
        .iter()
        .filter(|t| t.meets)
        .min_by(|a, b| a.total_usd.total_cmp(&b.total_usd))
        .cloned();
    if out.chosen.is_none() {
        out.rejected = Some(format!(
            "no target keeps the SLO minutes lost within {} (least lost: {:.1} min)",
            crate::plan::fmt(hz.budget_min),
            out.trials
                .iter()
                .map(|t| t.slo_minutes_lost)
                .fold(f64::INFINITY, f64::min)
        ));
    }
    Ok(out)
}

/// A trial's figures and the run's windows.
struct Simulated(Trial, RunResult);

impl std::ops::Deref for Simulated {
    type Target = Trial;
    fn deref(&self) -> &Trial {
        &self.0
    }
}

/// The provisioned replicas (ready, starting, draining) at each window's end, over its width.
fn od_curve(r: &RunResult) -> Vec<(u32, f64)> {
    r.windows
        .iter()
        .map(|w| {
            (
                w.replicas_ready + w.replicas_starting + w.replicas_draining,
                w.end_s - w.start_s,
            )
        })
        .collect()
}

fn simulate(
    plan: &Plan,
    hz: &Horizon,
    case: &HorizonCase,
    cand: &Candidate,
    mix: Mix,
    spot_price: Option<f64>,
) -> Result<Simulated> {
    let sc = load(plan, hz, case, cand, mix, spot_price)?;
    let (r, _) = Simulation::new(&sc, RunOptions::default())?.run()?;
    let p = r.purchase.unwrap_or_default();
    let curve: &Curve = &od_curve(&r);
    let lost = crate::metrics::purchase::slo_minutes_lost(&r.windows, hz.slo_target);
    let trial = Trial {
        target: mix.target,
        reserved: mix.reserved,
        spot_share: mix.spot_share,
        reserved_usd: p.reserved_usd,
        on_demand_usd: p.on_demand_usd,
        spot_usd: p.spot_usd,
        total_usd: p.total_usd,
        slo_minutes_lost: lost,
        peak_replicas: curve.iter().map(|&(n, _)| n).max().unwrap_or(0),
        replica_hours: curve
            .iter()
            .map(|&(n, s)| n as f64 * s / 3600.0)
            .fold(0.0, |a, x| a + x),
        meets: lost <= hz.budget_min + 1e-9,
    };
    Ok(Simulated(trial, r))
}

/// The candidate's scenario for one mix over the horizon.
fn load(
    plan: &Plan,
    hz: &Horizon,
    case: &HorizonCase,
    cand: &Candidate,
    mix: Mix,
    spot_price: Option<f64>,
) -> Result<Scenario> {
    let t = table(plan, hz, case, cand, mix, spot_price).map_err(|m| candidate_error(cand, m))?;
    let text = toml::to_string(&t).map_err(|e| candidate_error(cand, e.to_string()))?;
    crate::scenario::load_str(&text, &cand.base_path).map_err(|e| match e {
        Error::Infeasible(_) => e,
        e => candidate_error(cand, e.to_string()),
    })
}

fn candidate_error(cand: &Candidate, m: String) -> Error {
    Error::input(
        &cand.base_path,
        format!("candidate `{}` over the horizon", cand.name),
        m,
    )
}

fn table(
    plan: &Plan,
    hz: &Horizon,
    case: &HorizonCase,
    cand: &Candidate,
    mix: Mix,
    spot_price: Option<f64>,
) -> std::result::Result<toml::Table, String> {
    let mut t = scenario_table(plan, &Variation::default(), cand, 1, 1.0, None, plan.seed)?;
    let v = |x: f64| toml::Value::Float(x);
    set_path(
        &mut t,
        "workload.requests",
        toml::Value::Integer(crate::scenario::MAX_REQUESTS as i64),
    )?;
    set_path(&mut t, "workload.horizon_s", v(hz.horizon_s))?;
    let profile = crate::workload::profile::ProfileSpec {
        growth_per_week: case.growth_per_week,
        ..hz.profile.clone()
    };
    let profile = toml::Value::try_from(&profile).map_err(|e| e.to_string())?;
    set_path(&mut t, "workload.profile", profile)?;
    let base = t
        .get("deployment")
        .and_then(|d| d.get("replicas"))
        .and_then(toml::Value::as_integer)
        .unwrap_or(1);
    set_path(
        &mut t,
        "deployment.replicas",
        toml::Value::Integer(base.max(mix.reserved as i64)),
    )?;
    set_path(&mut t, "fleet.window_s", v(hz.window_s))?;
    let mut scale = hz.autoscale.clone();
    scale.insert(hz.target_key.into(), v(mix.target));
    // The fleet starts from its base deployment; min_replicas follows (the reserved base raises it).
    set_path(&mut t, "fleet.autoscale", toml::Value::Table(scale))?;
    set_path(
        &mut t,
        "fleet.purchase.reserved",
        toml::Value::Integer(mix.reserved as i64),
    )?;
    set_path(&mut t, "fleet.purchase.spot_share", v(mix.spot_share))?;
    if mix.spot_share > 0.0 {
        set_path(
            &mut t,
            "fleet.spot.reclaims_per_h",
            v(hz.reclaims_per_h * case.reclaim_scale),
        )?;
        if let Some(p) = spot_price
            && case.spot_price_scale != 1.0
        {
            set_path(
                &mut t,
                "hardware.instance_overrides.price.spot_usd_per_hour",
                v(p * case.spot_price_scale),
            )?;
        }
    }
    if let Some(m) = hz.mtbf_h {
        set_path(&mut t, "fleet.failures.mtbf_h", v(m * case.mtbf_scale))?;
    }
    if hz.mtbf_h.is_some() || mix.spot_share > 0.0 {
        set_path(&mut t, "fleet.on_loss", "retry".into())?;
    }
    t.insert("slo".into(), toml::Value::Table(hz.slo.clone()));
    Ok(t)
}
