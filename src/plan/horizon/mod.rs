//! Planning over a horizon (`[horizon]` in a plan file, issue 23 item 5): the demand follows a
//! `[workload.profile]` over hours or days, each candidate is autoscaled, and the plan chooses per
//! candidate the autoscaling target, the reserved base and the spot share that keep the SLO
//! minutes lost within a budget at the least total cost.
//!
//! Per candidate and target, one autoscaled all-on-demand run gives the replica curve n(t) and
//! its SLO minutes lost; the reserved base is the newsvendor's choice on that curve
//! (`newsvendor.rs`: the smallest R with share(n > R) ≤ p_res / p_od); then every spot share of
//! the grid is simulated with that base (spot reclaims can only hurt the SLO, and the share-0 run
//! verifies the base). The cheapest mix within the budget is the candidate's; the cheapest
//! candidate is the plan. What-ifs change the weekly growth, the failure rate, the spot price
//! and the reclaim rate, and plan again.

mod newsvendor;
mod search;

pub use newsvendor::{BaseChoice, choose as choose_base, cost as base_cost};
pub use search::{CandidateHorizon, HorizonReport, HorizonResult, HorizonWhatIfResult, Trial, run};

use crate::error::{Error, Result};
use crate::workload::profile::ProfileSpec;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Per-window metrics over a horizon unless `horizon.window_s` says otherwise (seconds).
pub const DEFAULT_HORIZON_WINDOW_S: f64 = 300.0;

/// `[horizon]` as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HorizonFile {
    /// Simulated hours.
    pub hours: f64,
    /// The demand's shape over the horizon (`[workload.profile]` keys), multiplying
    /// `demand.rate_per_s`. Default: flat.
    #[serde(default)]
    pub profile: Option<ProfileSpec>,
    #[serde(default)]
    pub window_s: Option<f64>,
    /// `[fleet.autoscale]` keys of every candidate (policy, bounds, delays), without the target.
    pub autoscale: toml::Table,
    /// The autoscaling targets tried (the policy's target key).
    pub targets: Vec<f64>,
    /// Spot shares tried above the reserved base. Default `[0.0]`.
    #[serde(default)]
    pub spot_shares: Option<Vec<f64>>,
    /// Spot reclaims per instance-hour (needed when a spot share is above 0).
    #[serde(default)]
    pub reclaims_per_h: Option<f64>,
    /// Instance failures: MTBF, hours (default: none simulated).
    #[serde(default)]
    pub mtbf_h: Option<f64>,
    /// SLO minutes lost allowed over the horizon. Default 0.
    #[serde(default)]
    pub slo_minutes_budget: Option<f64>,
    #[serde(default, rename = "whatif")]
    pub whatifs: Vec<HorizonWhatIfFile>,
}

/// `[[horizon.whatif]]` as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HorizonWhatIfFile {
    pub name: String,
    /// Replaces the profile's weekly growth.
    #[serde(default)]
    pub growth_per_week: Option<f64>,
    /// × the MTBF (0.5: instances fail twice as often).
    #[serde(default)]
    pub mtbf_scale: Option<f64>,
    /// × the instance's spot price.
    #[serde(default)]
    pub spot_price_scale: Option<f64>,
    /// × the spot reclaim rate.
    #[serde(default)]
    pub reclaim_scale: Option<f64>,
}

/// One set of horizon inputs: the base, or a what-if's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HorizonCase {
    pub name: String,
    pub growth_per_week: f64,
    pub mtbf_scale: f64,
    pub spot_price_scale: f64,
    pub reclaim_scale: f64,
}

/// `[horizon]` resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Horizon {
    pub horizon_s: f64,
    pub profile: ProfileSpec,
    pub window_s: f64,
    pub autoscale: toml::Table,
    /// The `[fleet.autoscale]` key the targets set.
    pub target_key: &'static str,
    pub targets: Vec<f64>,
    pub spot_shares: Vec<f64>,
    pub reclaims_per_h: f64,
    pub mtbf_h: Option<f64>,
    pub budget_min: f64,
    /// The scenario `[slo]` of every run, and the share of a window's requests that must meet it.
    pub slo: toml::Table,
    pub slo_target: f64,
    pub whatifs: Vec<HorizonCase>,
    /// Defaults taken and inputs set aside, for the report.
    pub notes: Vec<String>,
}

fn bad(path: &Path, key: &str, msg: String) -> Error {
    Error::input(path, format!("horizon.{key}"), msg)
}

fn scale(path: &Path, key: &str, v: Option<f64>) -> Result<f64> {
    match v {
        None => Ok(1.0),
        Some(x) if x.is_finite() && x > 0.0 && x <= 1e6 => Ok(x),
        Some(x) => Err(bad(path, key, format!("is {x}; accepted: a factor > 0, at most 1e6"))),
    }
}

/// Resolves `[horizon]` against the plan's demand and SLO, every default printed in `notes`.
pub(super) fn resolve(f: &HorizonFile, demand: &super::Demand, slo: &super::PlanSlo, path: &Path) -> Result<Horizon> {
    let mut notes = Vec::new();
    if !(f.hours.is_finite() && f.hours > 0.0 && f.hours <= 24.0 * 366.0) {
        return Err(bad(
            path,
            "hours",
            format!("is {}; accepted: hours > 0, at most a year", f.hours),
        ));
    }
    check_demand(demand, path, &mut notes)?;
    let profile = f.profile.clone().unwrap_or_else(|| {
        notes.push("the demand is flat over the horizon (no horizon.profile)".into());
        ProfileSpec {
            daily: vec![1.0],
            weekly: Vec::new(),
            growth_per_week: 0.0,
            spikes: Vec::new(),
        }
    });
    profile.check(path)?;
    let window_s = match f.window_s {
        Some(w) if w.is_finite() && (1.0..=86_400.0).contains(&w) => w,
        Some(w) => {
            return Err(bad(
                path,
                "window_s",
                format!("is {w}; accepted: seconds from 1 to 86400"),
            ));
        }
        None => {
            notes.push(format!(
                "SLO minutes are judged per {DEFAULT_HORIZON_WINDOW_S} s window (default horizon.window_s)"
            ));
            DEFAULT_HORIZON_WINDOW_S
        }
    };
    let target_key = target_key(f, path)?;
    let (spot_shares, reclaims_per_h) = spot(f, path, &mut notes)?;
    if let Some(m) = f.mtbf_h
        && !(m.is_finite() && m > 0.0 && m <= 1e9)
    {
        return Err(bad(path, "mtbf_h", format!("is {m}; accepted: hours > 0, at most 1e9")));
    }
    if f.mtbf_h.is_none() {
        notes.push("no instance failures simulated (no horizon.mtbf_h)".into());
    }
    let budget_min = match f.slo_minutes_budget {
        Some(b) if b.is_finite() && b >= 0.0 => b,
        Some(b) => {
            return Err(bad(
                path,
                "slo_minutes_budget",
                format!("is {b}; accepted: minutes >= 0"),
            ));
        }
        None => {
            notes.push("no SLO minute may be lost (default horizon.slo_minutes_budget = 0)".into());
            0.0
        }
    };
    let (slo_table, slo_target) = scenario_slo(slo, path)?;
    notes.push(format!(
        "a window meets the SLO when at least {} % of the requests it completed meet every threshold; plan's slo.min_goodput is not used over a horizon",
        super::fmt(slo_target * 100.0)
    ));
    let whatifs = whatifs(f, &profile, path)?;
    Ok(Horizon {
        horizon_s: f.hours * 3600.0,
        profile,
        window_s,
        autoscale: f.autoscale.clone(),
        target_key,
        targets: f.targets.clone(),
        spot_shares,
        reclaims_per_h,
        mtbf_h: f.mtbf_h,
        budget_min,
        slo: slo_table,
        slo_target,
        whatifs,
        notes,
    })
}

/// The demand a horizon can shape: a rate, its shape in `horizon.profile` only.
fn check_demand(demand: &super::Demand, path: &Path, notes: &mut Vec<String>) -> Result<()> {
    if demand.trace.is_some() || demand.rate_per_s.is_none() {
        return Err(Error::input(
            path,
            "demand",
            "is not a rate; accepted over a [horizon]: demand.rate_per_s (the horizon's profile shapes it), not a trace",
        ));
    }
    if demand.daily_profile.is_some() || demand.growth != 1.0 {
        return Err(Error::input(
            path,
            "demand.daily_profile",
            "is set with a [horizon], whose horizon.profile (daily, weekly, growth_per_week) shapes the demand; accepted: the shape in horizon.profile only",
        ));
    }
    if demand.requests.is_some() {
        notes.push("demand.requests is not used over a horizon: every run is cut at the horizon".into());
    }
    Ok(())
}

/// The `[fleet.autoscale]` key the targets set, by policy (never set in `horizon.autoscale`).
fn target_key(f: &HorizonFile, path: &Path) -> Result<&'static str> {
    let key = match f.autoscale.get("policy").and_then(toml::Value::as_str) {
        Some("concurrency") => "target_concurrency",
        Some("target-utilization") => "target_utilization",
        Some("scheduled") => "replica_rate_per_s",
        other => {
            return Err(bad(
                path,
                "autoscale.policy",
                format!(
                    "is {}; accepted: \"concurrency\", \"target-utilization\" or \"scheduled\" (horizon.targets sets its target)",
                    other.map_or("missing".to_string(), |p| format!("`{p}`"))
                ),
            ));
        }
    };
    if f.autoscale.contains_key(key) {
        return Err(bad(
            path,
            &format!("autoscale.{key}"),
            "is set; accepted: the targets in horizon.targets only".into(),
        ));
    }
    if f.targets.is_empty() || f.targets.len() > 32 || !f.targets.iter().all(|t| t.is_finite() && *t > 0.0) {
        return Err(bad(
            path,
            "targets",
            format!("is {:?}; accepted: 1 to 32 targets, each > 0", f.targets),
        ));
    }
    Ok(key)
}

/// The spot shares tried and the reclaim rate (needed when a share is above 0).
fn spot(f: &HorizonFile, path: &Path, notes: &mut Vec<String>) -> Result<(Vec<f64>, f64)> {
    let spot_shares = f.spot_shares.clone().unwrap_or_else(|| {
        notes.push("no spot capacity tried (default horizon.spot_shares = [0.0])".into());
        vec![0.0]
    });
    if spot_shares.is_empty() || spot_shares.len() > 16 || !spot_shares.iter().all(|s| (0.0..=1.0).contains(s)) {
        return Err(bad(
            path,
            "spot_shares",
            format!("is {spot_shares:?}; accepted: 1 to 16 shares, each from 0 to 1"),
        ));
    }
    let reclaims_per_h = match f.reclaims_per_h {
        Some(r) if r.is_finite() && (0.0..=1e6).contains(&r) => r,
        Some(r) => return Err(bad(path, "reclaims_per_h", format!("is {r}; accepted: 0 to 1e6"))),
        None if spot_shares.iter().any(|&s| s > 0.0) => {
            return Err(bad(
                path,
                "reclaims_per_h",
                "is missing, and a spot share above 0 is tried; accepted: spot reclaims per instance-hour (0 for none)"
                    .into(),
            ));
        }
        None => 0.0,
    };
    Ok((spot_shares, reclaims_per_h))
}

/// `[[horizon.whatif]]` resolved.
fn whatifs(f: &HorizonFile, profile: &ProfileSpec, path: &Path) -> Result<Vec<HorizonCase>> {
    let mut whatifs = Vec::new();
    for (i, w) in f.whatifs.iter().enumerate() {
        crate::input::check_label(path, &format!("horizon.whatif[{i}].name"), &w.name)?;
        let growth = match w.growth_per_week {
            None => profile.growth_per_week,
            Some(g) if g.is_finite() && g > -1.0 && g <= 100.0 => g,
            Some(g) => {
                return Err(bad(
                    path,
                    &format!("whatif[{i}].growth_per_week"),
                    format!("is {g}; accepted: above -1, at most 100"),
                ));
            }
        };
        let k = |key: &str| format!("whatif[{i}].{key}");
        let case = HorizonCase {
            name: w.name.clone(),
            growth_per_week: growth,
            mtbf_scale: scale(path, &k("mtbf_scale"), w.mtbf_scale)?,
            spot_price_scale: scale(path, &k("spot_price_scale"), w.spot_price_scale)?,
            reclaim_scale: scale(path, &k("reclaim_scale"), w.reclaim_scale)?,
        };
        if case.mtbf_scale != 1.0 && f.mtbf_h.is_none() {
            return Err(bad(
                path,
                &k("mtbf_scale"),
                "is set without horizon.mtbf_h; accepted: with the failures it scales".into(),
            ));
        }
        whatifs.push(case);
    }
    Ok(whatifs)
}

/// The plan's SLO as a scenario's `[slo]` (one percentile for every threshold) and the share of
/// a window's requests that must meet it (that percentile / 100).
fn scenario_slo(slo: &super::PlanSlo, path: &Path) -> Result<(toml::Table, f64)> {
    let p = slo.terms[0].percentile;
    if slo.terms.iter().any(|t| t.percentile != p) {
        return Err(Error::input(
            path,
            "slo",
            format!(
                "mixes percentiles ({}); accepted over a [horizon]: one percentile for every threshold, the share of a window's requests that must meet them all",
                slo.label()
            ),
        ));
    }
    // A scenario's [slo] holds thresholds only; the windows are judged against p / 100 here.
    let mut t = toml::Table::new();
    for term in &slo.terms {
        t.insert(format!("{}_ms", term.metric), term.limit_ms.into());
    }
    Ok((t, p / 100.0))
}

impl Horizon {
    /// The base case: the profile's own growth, the inputs as given.
    pub fn base_case(&self) -> HorizonCase {
        HorizonCase {
            name: "base".into(),
            growth_per_week: self.profile.growth_per_week,
            mtbf_scale: 1.0,
            spot_price_scale: 1.0,
            reclaim_scale: 1.0,
        }
    }
}
