//! Capacity planning: the cheapest fleet that serves a forecast demand within its SLOs.
//!
//! A plan file gives the demand, the SLOs, candidate deployments, pricing and limits, and what-if
//! variations. For each candidate, [`search`] finds the smallest number of *units* (one unit is
//! the candidate's base deployment: its replicas, groups or prefill/decode pools) whose simulation
//! meets every SLO; the cheapest feasible candidate is the plan.
//!
//! ```toml
//! name = "chat"
//! seed = 42                      # every probe simulates with this seed
//! seeds_per_probe = 2            # a size meets the SLO only on seeds seed .. seed + 1 both
//! verify_seed = 44               # the best fleet is re-simulated with it (default: seed + seeds_per_probe)
//!
//! [demand]                       # a trace, time-scaled ...
//! trace = "../../shared/traces/AzureLLMInferenceTrace_conv.csv"
//! rate_scale = 50.0              # × the trace's arrival rate
//! requests = 5000                # the first N rows (default: all)
//! # ... or a rate:  rate_per_s = 20.0, growth = 1.5, daily_profile = [24 hourly multipliers],
//! #   input = { kind = "lognormal", mean = 1000.0, cv = 1.0, max = 8000 }, output = {...},
//! #   requests = 2000, cv = 2.0 (gamma arrivals; default Poisson).
//! # The plan is for the peak hour: rate × growth × max(daily_profile).
//! prefix_groups = 16             # optional shared-prefix keys per request
//!
//! [slo]                          # <metric>_p<percentile>_ms: metric ttft, tpot or e2e;
//! ttft_p95_ms = 2000.0           # percentile 50, 90, 95, 99 or 999 (99.9)
//! tpot_p99_ms = 100.0
//! min_goodput = 0.95             # fraction of requests that must meet every threshold
//!
//! [[candidate]]
//! name = "p5 fp8 TP8"
//! max_replicas = 64              # most units tried (default 64)
//! scenario = { hardware = { instance = "p5.48xlarge" }, model = { name = "llama-3.3-70b", weights = "fp8" }, deployment = { tp = 8 } }
//! # or scenario = "path/to/scenario.toml" (its [workload] is replaced by the demand)
//!
//! [pricing]
//! mode = "on_demand"             # on_demand, reserved or spot
//! budget_usd_per_hour = 500.0    # optional
//! power_limit_w = 100000.0       # optional: provisioned power (chips × TDP + hosts)
//!
//! [[whatif]]
//! name = "traffic ×2"
//! traffic_scale = 2.0            # also: price_scale, slo_scale,
//! # prices = { "p5.48xlarge" = 40.0 }      ($/hour under the pricing mode)
//! # chip_overrides = { "h100-sxm" = { hbm_bandwidth_gb_s = 5025.0 } }
//! # profiles = ["new-chip.toml"]  (added to every candidate's hardware.profiles)
//! # [[whatif.candidate]] ...      (extra candidates, e.g. on the new chip)
//! ```
//!
//! Search per candidate: one unit at 1 % of the traffic must load (else: rejected, `memory` when
//! the weights do not fit) and meet the SLO (else no size can: `latency`). Then units 1, 2, 4, …
//! up to the most the candidate, the budget and the power limit allow, and bisection between the
//! last failing and the first passing count. Probes are deterministic (fixed seed), candidates run
//! in parallel and results do not depend on the number of threads.

use crate::error::{Error, Result};
use crate::input::{parse_toml, read_text};
use crate::metrics::{Dist, RunResult};
use crate::scenario::{MAX_REPLICAS, MAX_REQUESTS, Scenario};
use crate::sim::{RunOptions, Simulation};
use crate::tomlpath::set_path;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

// ---------------------------------------------------------------------------------------------
// The file

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanFile {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default = "default_seed")]
    seed: u64,
    #[serde(default)]
    verify_seed: Option<u64>,
    #[serde(default = "default_seeds")]
    seeds_per_probe: u32,
    #[serde(default = "yes")]
    headroom: bool,
    demand: Demand,
    slo: toml::Table,
    #[serde(rename = "candidate")]
    candidates: Vec<CandidateFile>,
    #[serde(default)]
    pricing: Pricing,
    #[serde(default, rename = "whatif")]
    whatifs: Vec<WhatIfFile>,
}

fn default_seed() -> u64 {
    42
}
fn default_seeds() -> u32 {
    2
}
fn yes() -> bool {
    true
}
fn one() -> f64 {
    1.0
}

/// The forecast traffic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Demand {
    /// A trace file (relative to the plan file) replayed at `rate_scale` × its rate.
    #[serde(default)]
    pub trace: Option<String>,
    #[serde(default)]
    pub rate_scale: Option<f64>,
    /// Or an open-loop rate (Poisson, or Gamma with `cv`).
    #[serde(default)]
    pub rate_per_s: Option<f64>,
    #[serde(default)]
    pub cv: Option<f64>,
    /// Traffic growth over the planning horizon (multiplies the rate).
    #[serde(default = "one")]
    pub growth: f64,
    /// 24 hourly multipliers of the rate; the plan is sized for the peak hour.
    #[serde(default)]
    pub daily_profile: Option<Vec<f64>>,
    /// Requests per probe (a trace: its first N rows).
    #[serde(default)]
    pub requests: Option<u64>,
    #[serde(default)]
    pub input: Option<toml::Value>,
    #[serde(default)]
    pub output: Option<toml::Value>,
    #[serde(default)]
    pub prefix_groups: Option<u32>,
}

impl Demand {
    /// Multiplier of the base rate the fleet is sized for: growth × peak hour.
    pub fn peak_factor(&self) -> f64 {
        let peak = self
            .daily_profile
            .as_ref()
            .map_or(1.0, |p| p.iter().copied().fold(0.0, f64::max));
        self.growth * peak
    }

    /// A one-line description.
    pub fn label(&self) -> String {
        let mut s = match (&self.trace, self.rate_per_s) {
            (Some(t), _) => format!(
                "trace {} at {}× its rate",
                Path::new(t)
                    .file_name()
                    .map_or(t.clone(), |f| f.to_string_lossy().into()),
                fmt(self.rate_scale.unwrap_or(1.0) * self.peak_factor())
            ),
            (None, Some(r)) => format!("{} req/s", fmt(r * self.peak_factor())),
            _ => String::new(),
        };
        if self.daily_profile.is_some() {
            s.push_str(" (peak hour of the daily profile)");
        }
        if let Some(n) = self.requests {
            s.push_str(&format!(", {n} requests per probe"));
        }
        s
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct CandidateFile {
    name: String,
    scenario: toml::Value,
    #[serde(default)]
    max_replicas: Option<u32>,
}

/// A deployment to size: a base scenario whose replicas are multiplied by the unit count.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub name: String,
    /// The scenario table (its workload is replaced by the demand).
    pub base: toml::Table,
    /// Where its relative paths resolve from.
    pub base_path: PathBuf,
    pub max_units: u32,
}

/// How instances are paid for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PriceMode {
    #[default]
    OnDemand,
    Reserved,
    Spot,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pricing {
    #[serde(default)]
    pub mode: PriceMode,
    #[serde(default)]
    pub budget_usd_per_hour: Option<f64>,
    #[serde(default)]
    pub power_limit_w: Option<f64>,
}

/// One SLO threshold: the `percentile` of `metric` at most `limit_ms`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SloTerm {
    pub metric: String,
    pub percentile: f64,
    pub limit_ms: f64,
}

impl SloTerm {
    pub fn label(&self) -> String {
        format!(
            "p{} {} ≤ {} ms",
            fmt(self.percentile),
            self.metric.to_uppercase(),
            fmt(self.limit_ms)
        )
    }
    /// The term's percentile of the run's distribution of its metric.
    pub fn achieved(&self, r: &RunResult) -> f64 {
        let d: &Dist = match self.metric.as_str() {
            "ttft" => &r.ttft_ms,
            "tpot" => &r.tpot_ms,
            _ => &r.e2e_ms,
        };
        match self.percentile {
            50.0 => d.p50,
            90.0 => d.p90,
            95.0 => d.p95,
            99.0 => d.p99,
            _ => d.p999,
        }
    }
}

/// Every threshold, and the fraction of requests that must meet all of them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanSlo {
    pub terms: Vec<SloTerm>,
    pub min_goodput: f64,
}

impl PlanSlo {
    pub fn label(&self) -> String {
        let mut parts: Vec<String> = self.terms.iter().map(SloTerm::label).collect();
        parts.push(format!("goodput ≥ {} %", fmt(self.min_goodput * 100.0)));
        parts.join(", ")
    }
    /// Every limit × `k` (k > 1 is looser).
    pub fn scaled(&self, k: f64) -> PlanSlo {
        let mut s = self.clone();
        for t in &mut s.terms {
            t.limit_ms *= k;
        }
        s
    }
    fn request_ok(&self, ttft: f64, tpot: f64, e2e: f64) -> bool {
        self.terms.iter().all(|t| {
            let v = match t.metric.as_str() {
                "ttft" => ttft,
                "tpot" => tpot,
                _ => e2e,
            };
            v.is_nan() && t.metric == "tpot" || v <= t.limit_ms
        })
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct WhatIfFile {
    name: String,
    #[serde(default = "one")]
    traffic_scale: f64,
    #[serde(default = "one")]
    price_scale: f64,
    #[serde(default = "one")]
    slo_scale: f64,
    #[serde(default)]
    prices: BTreeMap<String, f64>,
    #[serde(default)]
    chip_overrides: BTreeMap<String, toml::Table>,
    #[serde(default)]
    profiles: Vec<String>,
    #[serde(default, rename = "candidate")]
    candidates: Vec<CandidateFile>,
}

/// A change to the plan's inputs: the base plan is `Variation::default()`.
#[derive(Debug, Clone, PartialEq)]
pub struct Variation {
    pub name: String,
    pub traffic_scale: f64,
    pub price_scale: f64,
    pub slo_scale: f64,
    /// $/hour per instance type, under the pricing mode, replacing the catalog's.
    pub prices: BTreeMap<String, f64>,
    /// Chip name → fields to override (applied through the scenario's `[hardware.chip]`).
    pub chip_overrides: BTreeMap<String, toml::Table>,
    /// Profile files (absolute paths) added to every candidate.
    pub profiles: Vec<String>,
    /// Candidates added for this variation only.
    pub extra_candidates: Vec<Candidate>,
}

impl Default for Variation {
    fn default() -> Self {
        Variation {
            name: "base".into(),
            traffic_scale: 1.0,
            price_scale: 1.0,
            slo_scale: 1.0,
            prices: BTreeMap::new(),
            chip_overrides: BTreeMap::new(),
            profiles: Vec::new(),
            extra_candidates: Vec::new(),
        }
    }
}

/// A loaded plan.
#[derive(Debug, Clone)]
pub struct Plan {
    pub name: String,
    pub description: Option<String>,
    pub file: PathBuf,
    pub seed: u64,
    /// Sample paths each probe simulates (seeds `seed`, `seed + 1`, …); a size meets the SLO only
    /// if it meets it on every one, so the plan does not fit one lucky path.
    pub seeds_per_probe: u32,
    pub verify_seed: u64,
    pub headroom: bool,
    pub demand: Demand,
    pub slo: PlanSlo,
    pub candidates: Vec<Candidate>,
    pub pricing: Pricing,
    pub whatifs: Vec<Variation>,
}

/// The most units a candidate may try unless it says otherwise.
pub const DEFAULT_MAX_UNITS: u32 = 64;
/// Traffic of the light-load probe, as a fraction of the demand.
const LIGHT_LOAD: f64 = 0.01;
/// The arrival rate a scenario offers (a trace: its rows' mean rate over the replayed window).
fn offered_rate(sc: &Scenario) -> f64 {
    use crate::workload::ArrivalSpec;
    match &sc.arrival {
        ArrivalSpec::Poisson { rate_per_s } | ArrivalSpec::Gamma { rate_per_s, .. } => *rate_per_s,
        ArrivalSpec::Trace { rate_scale, .. } => sc.trace.as_ref().map_or(0.0, |t| {
            let n = (sc.requests as usize).min(t.requests.len());
            let span_s = if n >= 2 {
                t.requests[n - 1].arrival_ns as f64 * 1e-9 / rate_scale
            } else {
                0.0
            };
            if span_s > 0.0 { (n - 1) as f64 / span_s } else { 0.0 }
        }),
        _ => 0.0,
    }
}

/// Queueing delay (p99) above which an `overloaded` run fails the SLO.
const OVERLOAD_QUEUE_P99_MS: f64 = 1000.0;
/// Requests of the light-load probe (at most).
const LIGHT_REQUESTS: u64 = 64;

pub fn load(path: &Path) -> Result<Plan> {
    let text = read_text(path)?;
    load_str(&text, path)
}

pub fn load_str(text: &str, path: &Path) -> Result<Plan> {
    let f: PlanFile = parse_toml(text, path)?;
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();

    let d = &f.demand;
    match (&d.trace, d.rate_per_s) {
        (Some(_), Some(_)) => {
            return Err(Error::input(
                path,
                "demand",
                "give either `trace` or `rate_per_s`, not both",
            ));
        }
        (None, None) => {
            return Err(Error::input(
                path,
                "demand",
                "gives no traffic; set `trace = \"file.csv\"` (with `rate_scale`) or `rate_per_s`",
            ));
        }
        (None, Some(_)) if d.input.is_none() || d.output.is_none() => {
            return Err(Error::input(
                path,
                "demand",
                "a rate needs `input` and `output` length specs, e.g. input = { kind = \"lognormal\", mean = 1000.0, cv = 1.0, max = 8000 }",
            ));
        }
        (None, Some(_)) if d.requests.is_none() => {
            return Err(Error::input(
                path,
                "demand.requests",
                "a rate needs the number of requests per probe",
            ));
        }
        _ => {}
    }
    for (k, v) in [
        ("demand.rate_per_s", d.rate_per_s),
        ("demand.rate_scale", d.rate_scale),
        ("demand.growth", Some(d.growth)),
        ("demand.cv", d.cv),
    ] {
        if let Some(v) = v {
            positive(path, k, v)?;
        }
    }
    if let Some(p) = &d.daily_profile {
        if p.len() != 24 || p.iter().any(|x| !(x.is_finite() && *x >= 0.0)) || p.iter().all(|x| *x == 0.0) {
            return Err(Error::input(
                path,
                "demand.daily_profile",
                "must list 24 hourly multipliers, each >= 0, not all zero",
            ));
        }
    }
    if !(1..=16).contains(&f.seeds_per_probe) {
        return Err(Error::input(
            path,
            "seeds_per_probe",
            format!("must be between 1 and 16, got {}", f.seeds_per_probe),
        ));
    }
    // Probes simulate with seeds seed .. seed + seeds_per_probe - 1, written into scenarios as
    // TOML integers (below 2^63).
    let last_seed = f.seed.checked_add(f.seeds_per_probe as u64 - 1);
    if last_seed.is_none_or(|s| s > i64::MAX as u64) {
        return Err(Error::input(
            path,
            "seed",
            format!(
                "{} + seeds_per_probe ({}) goes past the largest seed, 2^63 - 1 = {}",
                f.seed,
                f.seeds_per_probe,
                i64::MAX
            ),
        ));
    }
    let verify_seed = f.verify_seed.unwrap_or(f.seed + f.seeds_per_probe as u64);
    if verify_seed > i64::MAX as u64 {
        return Err(Error::input(
            path,
            "verify_seed",
            format!(
                "{verify_seed} (default: seed + seeds_per_probe) is past the largest seed, 2^63 - 1 = {}",
                i64::MAX
            ),
        ));
    }
    if d.requests == Some(0) {
        return Err(Error::input(path, "demand.requests", "must be at least 1, got 0"));
    }
    if let Some(n) = d.requests.filter(|&n| n > MAX_REQUESTS) {
        return Err(Error::input(
            path,
            "demand.requests",
            format!(
                "{n} requests per probe are more than the {MAX_REQUESTS} one simulation accepts; a few thousand give stable percentiles"
            ),
        ));
    }
    let mut demand = f.demand.clone();
    if let Some(t) = &demand.trace {
        // Absolute, since candidates resolve relative paths from their own files.
        demand.trace = Some(absolute(&dir.join(t)));
    }

    let slo = parse_slo(&f.slo, path)?;
    if f.candidates.is_empty() {
        return Err(Error::input(
            path,
            "candidate",
            "lists no candidate; add a [[candidate]] table",
        ));
    }
    let candidates = parse_candidates(&f.candidates, path, "candidate")?;
    for (k, v) in [
        ("pricing.budget_usd_per_hour", f.pricing.budget_usd_per_hour),
        ("pricing.power_limit_w", f.pricing.power_limit_w),
    ] {
        if let Some(v) = v {
            positive(path, k, v)?;
        }
    }
    let mut whatifs = Vec::new();
    for (i, w) in f.whatifs.iter().enumerate() {
        let loc = format!("whatif[{i}]");
        for (k, v) in [
            ("traffic_scale", w.traffic_scale),
            ("price_scale", w.price_scale),
            ("slo_scale", w.slo_scale),
        ] {
            positive(path, &format!("{loc}.{k}"), v)?;
        }
        for (inst, p) in &w.prices {
            positive(path, &format!("{loc}.prices.\"{inst}\""), *p)?;
        }
        whatifs.push(Variation {
            name: w.name.clone(),
            traffic_scale: w.traffic_scale,
            price_scale: w.price_scale,
            slo_scale: w.slo_scale,
            prices: w.prices.clone(),
            chip_overrides: w.chip_overrides.clone(),
            profiles: w.profiles.iter().map(|p| absolute(&dir.join(p))).collect(),
            extra_candidates: parse_candidates(&w.candidates, path, &format!("{loc}.candidate"))?,
        });
    }
    let name = f.name.clone().unwrap_or_else(|| {
        path.file_stem()
            .map(|s| s.to_string_lossy().trim_start_matches("plan-").to_string())
            .unwrap_or_else(|| "plan".into())
    });
    check_label(path, "name", &name)?;
    for (i, w) in whatifs.iter().enumerate() {
        check_label(path, &format!("whatif[{i}].name"), &w.name)?;
    }
    let plan = Plan {
        name,
        description: f.description.clone(),
        file: path.to_path_buf(),
        seed: f.seed,
        seeds_per_probe: f.seeds_per_probe,
        verify_seed,
        headroom: f.headroom,
        demand,
        slo,
        candidates,
        pricing: f.pricing.clone(),
        whatifs,
    };
    check_candidates(&plan)?;
    Ok(plan)
}

/// A name shown in reports and messages (never a path: nothing is written under it): not
/// empty, one line, no control characters.
fn check_label(path: &Path, key: &str, name: &str) -> Result<()> {
    let why = if name.trim().is_empty() {
        "is empty"
    } else if name.chars().any(char::is_control) {
        "holds a control character (NUL, newline, tab, ...)"
    } else if name.len() > 200 {
        "is longer than 200 bytes"
    } else {
        return Ok(());
    };
    Err(Error::input(
        path,
        key,
        format!("`{}` {why}; give a short one-line name", name.escape_debug()),
    ))
}

/// A candidate's scenario error, placed in the plan: the line numbers of a generated scenario
/// mean nothing to the user, the candidate and the key path do.
fn candidate_error(plan: &Plan, var: &Variation, cand: &Candidate, e: Error) -> Error {
    let Error::Input(ie) = e else {
        return e;
    };
    if ie.file != cand.base_path.display().to_string() {
        return Error::Input(ie);
    }
    let key = crate::sweep::key_of_location(&ie.location);
    let mut loc = format!("candidate `{}`", cand.name);
    if cand.base_path != plan.file {
        loc.push_str(&format!(" (scenario {})", cand.base_path.display()));
    }
    if var.name != Variation::default().name {
        loc.push_str(&format!(" in what-if `{}`", var.name));
    }
    if let Some(k) = key {
        let from_demand = k.starts_with("workload") || k == "seed";
        loc.push_str(&format!(
            ", key `{k}`{}",
            if from_demand { " (set from [demand])" } else { "" }
        ));
    }
    Error::input(&plan.file, loc, ie.message)
}

/// Replicas of a scenario table's base deployment (one unit): its disaggregation pools, its
/// groups or its `deployment.replicas` (default 1).
fn unit_replicas(t: &toml::Table) -> u64 {
    let replicas = |v: Option<&toml::Value>| {
        v.and_then(|p| p.get("replicas"))
            .and_then(toml::Value::as_integer)
            .map_or(1, |n| n.max(0) as u64)
    };
    if let Some(dis) = t.get("disaggregation") {
        return replicas(dis.get("prefill")) + replicas(dis.get("decode"));
    }
    let dep = t.get("deployment");
    match dep.and_then(|d| d.get("groups")).and_then(toml::Value::as_array) {
        Some(groups) if !groups.is_empty() => groups.iter().map(|g| replicas(Some(g))).sum(),
        _ => replicas(dep),
    }
}

/// Every candidate's scenario loads at one unit under the plan and each what-if (a misspelt key
/// or a bad value is the plan's fault, refused before any simulation; a candidate that cannot
/// run, e.g. weights that do not fit, is a rejection the search reports), and its largest fleet
/// stays within what one simulation accepts.
fn check_candidates(plan: &Plan) -> Result<()> {
    let base = Variation::default();
    let vars = std::iter::once(&base).chain(&plan.whatifs);
    for var in vars {
        for cand in plan.candidates.iter().chain(&var.extra_candidates) {
            let per_unit = unit_replicas(&cand.base);
            if per_unit > MAX_REPLICAS as u64 {
                return Err(Error::input(
                    &plan.file,
                    format!("candidate `{}`, scenario", cand.name),
                    format!(
                        "{per_unit} replicas per unit are more than the {MAX_REPLICAS} one simulation accepts; give the smallest deployment, the plan multiplies it"
                    ),
                ));
            }
            if cand.max_units as u64 * per_unit > MAX_REPLICAS as u64 {
                return Err(Error::input(
                    &plan.file,
                    format!("candidate `{}`, max_replicas", cand.name),
                    format!(
                        "{} units of {per_unit} replica{} are {} replicas, more than the {MAX_REPLICAS} one simulation accepts; give max_replicas <= {}",
                        cand.max_units,
                        if per_unit == 1 { "" } else { "s" },
                        cand.max_units as u64 * per_unit,
                        MAX_REPLICAS as u64 / per_unit.max(1)
                    ),
                ));
            }
            let ctl = Control::default();
            let mut pr = Prober {
                plan,
                var,
                cand,
                ctl: &ctl,
                slo: plan.slo.clone(),
                chip: None,
            };
            match pr.load(1, LIGHT_LOAD, Some(1), plan.seed) {
                Ok(sc) => pr.chip = Some(sc.hardware.chip.name.clone()),
                Err(LoadFailure::Infeasible(_)) => continue,
                Err(LoadFailure::Input(e)) => return Err(candidate_error(plan, var, cand, e)),
            }
            if var.chip_overrides.is_empty() {
                continue;
            }
            match pr.load(1, LIGHT_LOAD, Some(1), plan.seed) {
                Ok(_) | Err(LoadFailure::Infeasible(_)) => {}
                Err(LoadFailure::Input(e)) => return Err(candidate_error(plan, var, cand, e)),
            }
        }
    }
    Ok(())
}

/// The path without `.` or `..` (so probe records do not depend on the working directory),
/// or as given when it does not exist.
fn absolute(p: &Path) -> String {
    std::fs::canonicalize(p)
        .or_else(|_| std::path::absolute(p))
        .unwrap_or_else(|_| p.to_path_buf())
        .display()
        .to_string()
}

fn positive(path: &Path, key: &str, v: f64) -> Result<()> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(Error::input(path, key, format!("must be a finite number > 0, got {v}")))
    }
}

fn parse_slo(t: &toml::Table, path: &Path) -> Result<PlanSlo> {
    let mut terms = Vec::new();
    let mut min_goodput = 0.99;
    for (k, v) in t {
        let loc = format!("slo.{k}");
        let num = match v {
            toml::Value::Float(f) => *f,
            toml::Value::Integer(i) => *i as f64,
            other => {
                return Err(Error::input(
                    path,
                    loc,
                    format!("expected a number, got a {}", other.type_str()),
                ));
            }
        };
        if k == "min_goodput" {
            if !(num > 0.0 && num <= 1.0) {
                return Err(Error::input(path, loc, format!("must be in (0, 1], got {num}")));
            }
            min_goodput = num;
            continue;
        }
        let bad = || {
            Error::input(
                path,
                &loc,
                "is not an SLO key; accepted: <metric>_p<percentile>_ms with metric ttft, tpot or e2e and percentile 50, 90, 95, 99 or 999 (e.g. ttft_p95_ms), and min_goodput",
            )
        };
        let rest = k.strip_suffix("_ms").ok_or_else(bad)?;
        let (metric, p) = rest.split_once("_p").ok_or_else(bad)?;
        if !["ttft", "tpot", "e2e"].contains(&metric) {
            return Err(bad());
        }
        let percentile = match p {
            "50" => 50.0,
            "90" => 90.0,
            "95" => 95.0,
            "99" => 99.0,
            "999" | "99.9" => 99.9,
            _ => return Err(bad()),
        };
        positive(path, &loc, num)?;
        terms.push(SloTerm {
            metric: metric.into(),
            percentile,
            limit_ms: num,
        });
    }
    let rank = |m: &str| ["ttft", "tpot", "e2e"].iter().position(|x| *x == m);
    terms.sort_by(|a, b| {
        rank(&a.metric)
            .cmp(&rank(&b.metric))
            .then(a.percentile.total_cmp(&b.percentile))
    });
    if terms.is_empty() {
        return Err(Error::input(
            path,
            "slo",
            "sets no threshold; give e.g. ttft_p95_ms = 2000.0 and tpot_p99_ms = 100.0",
        ));
    }
    Ok(PlanSlo { terms, min_goodput })
}

fn parse_candidates(files: &[CandidateFile], path: &Path, loc: &str) -> Result<Vec<Candidate>> {
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut out: Vec<Candidate> = Vec::new();
    for (i, c) in files.iter().enumerate() {
        let loc = format!("{loc}[{i}]");
        check_label(path, &format!("{loc}.name"), &c.name)?;
        if out.iter().any(|o| o.name == c.name) {
            return Err(Error::input(
                path,
                format!("{loc}.name"),
                format!("`{}` names two candidates", c.name),
            ));
        }
        let (base, base_path) = match &c.scenario {
            toml::Value::String(p) => {
                let bp = dir.join(p);
                let text = read_text(&bp)
                    .map_err(|e| crate::sweep::base_path_error(e, path, &format!("{loc}.scenario"), &bp))?;
                let t: toml::Table = text.parse().map_err(|e: toml::de::Error| {
                    Error::input(&bp, "", format!("TOML syntax error: {}", e.message()))
                })?;
                (t, bp)
            }
            toml::Value::Table(t) => (t.clone(), path.to_path_buf()),
            other => {
                return Err(Error::input(
                    path,
                    format!("{loc}.scenario"),
                    format!(
                        "expected a scenario path or an inline table, got a {}",
                        other.type_str()
                    ),
                ));
            }
        };
        let max_units = c.max_replicas.unwrap_or(DEFAULT_MAX_UNITS);
        if max_units == 0 {
            return Err(Error::input(path, format!("{loc}.max_replicas"), "must be at least 1"));
        }
        out.push(Candidate {
            name: c.name.clone(),
            base,
            base_path,
            max_units,
        });
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Probes

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
    t.remove("slo");
    // The workload: the demand.
    let d = &plan.demand;
    let mut w = toml::Table::new();
    let scale = traffic * d.peak_factor();
    let mut arrival = toml::Table::new();
    if let Some(path) = &d.trace {
        arrival.insert("kind".into(), "trace".into());
        arrival.insert("path".into(), path.clone().into());
        arrival.insert("rate_scale".into(), (d.rate_scale.unwrap_or(1.0) * scale).into());
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
    t.insert("workload".into(), toml::Value::Table(w));

    // Size: multiply every replica count of the base (saturating: a count that large is then
    // refused by the scenario's own check of `replicas`).
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

    // Hardware changes.
    if !var.profiles.is_empty() {
        let mut list: Vec<toml::Value> = match t.get("hardware").and_then(|h| h.get("profiles")) {
            Some(toml::Value::Array(a)) => a.clone(),
            _ => Vec::new(),
        };
        list.extend(var.profiles.iter().map(|p| toml::Value::String(p.clone())));
        set_path(&mut t, "hardware.profiles", toml::Value::Array(list))?;
    }
    Ok(t)
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

/// How a plan runs: where its finished probes are kept and when to stop.
///
/// With a `records` folder, every probe simulated is written there as it finishes
/// (`<hash of its inputs>.json`, atomically), so an interrupted plan loses only the probes in
/// flight; with `resume`, a probe found there is read back instead of simulated again, and the
/// plan comes out byte-identical to an uninterrupted one. `stop`, once set (by a Ctrl-C handler),
/// lets no new probe start: the plan ends with [`Error::Interrupted`].
#[derive(Debug, Default)]
pub struct Control {
    pub records: Option<PathBuf>,
    pub resume: bool,
    pub stop: Option<&'static AtomicBool>,
    /// Probes simulated by this invocation.
    pub simulated: AtomicUsize,
    /// Probes read back from `records`.
    pub reused: AtomicUsize,
}

/// Extension of probe records. TOML, not JSON: its floats read back bit for bit, NaN included.
pub const RECORD_EXT: &str = "toml";

/// A probe record: the inputs it was simulated from, and its result.
#[derive(Debug, Serialize, Deserialize)]
struct ProbeRecord {
    key: String,
    probe: Probe,
}

impl Control {
    fn stopped(&self) -> bool {
        self.stop.is_some_and(|s| s.load(Ordering::SeqCst))
    }

    fn interrupted(&self) -> Error {
        Error::Interrupted {
            message: format!(
                "stopped before the plan finished: {} probes simulated, {} read back",
                self.simulated.load(Ordering::SeqCst),
                self.reused.load(Ordering::SeqCst)
            ),
        }
    }

    fn record_path(&self, key: &str) -> Option<PathBuf> {
        // FNV-1a: stable across builds and platforms (the key itself is checked on reading).
        let hash = crate::hash::fnv1a(key);
        self.records
            .as_ref()
            .map(|d| d.join(format!("{hash:016x}.{RECORD_EXT}")))
    }

    /// The recorded probe with these inputs, when resuming.
    fn recorded(&self, key: &str) -> Option<Probe> {
        if !self.resume {
            return None;
        }
        let text = std::fs::read_to_string(self.record_path(key)?).ok()?;
        let rec: ProbeRecord = toml::from_str(&text).ok()?;
        (rec.key == key).then_some(rec.probe)
    }

    /// Writes the probe's record, when there is a records folder.
    fn record(&self, key: &str, probe: &Probe) -> Result<()> {
        let Some(path) = self.record_path(key) else {
            return Ok(());
        };
        let rec = ProbeRecord {
            key: key.to_string(),
            probe: probe.clone(),
        };
        let text = toml::to_string(&rec).map_err(|e| Error::Output {
            path: path.clone(),
            message: format!("cannot write the probe record: {e}"),
        })?;
        crate::atomic::write_atomic(&path, text.as_bytes())
    }
}

/// What loading a probe's scenario can end in, short of a simulation.
enum LoadFailure {
    /// The candidate cannot run at all (weights do not fit; a parallelism the hardware lacks).
    Infeasible(String),
    /// The plan or the candidate is wrong.
    Input(Error),
}

struct Prober<'a> {
    plan: &'a Plan,
    var: &'a Variation,
    cand: &'a Candidate,
    ctl: &'a Control,
    slo: PlanSlo,
    /// The chip the candidate runs on (known after the first load).
    chip: Option<String>,
}

impl Prober<'_> {
    fn load(
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
    fn probe(
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

    /// What identifies a probe's result: everything the simulation and the judgement read.
    /// The scenario text holds the hardware, model, fleet size, demand and seed; the rest is how
    /// the run is judged and priced. The files the scenario names (a trace, a model config, a
    /// hardware profile) enter through a digest of what was read from them, so editing one makes
    /// `--resume` simulate again rather than reuse a stale probe.
    fn record_key(&self, scenario: &str, sc: &Scenario, units: u32, traffic: f64, price_factor: f64) -> String {
        format!(
            "codesim {}\nscenario file: {}\nunits: {units}\ntraffic scale: {traffic:?}\nprice factor: {price_factor:?}\nslo: {}\ninputs read: {:016x}\n\n{scenario}",
            env!("CARGO_PKG_VERSION"),
            absolute(&self.cand.base_path),
            serde_json::to_string(&self.slo).expect("an SLO serialises"),
            inputs_digest(sc),
        )
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
        let (r, rows) = sim.run();
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
        // The saturation detector reads requests still in flight at the end of a short probe as
        // a backlog; an overload counts when requests also waited for a batch slot.
        if r.saturation == "overloaded" && r.queue_ms.p99 >= OVERLOAD_QUEUE_P99_MS {
            why.push(format!(
                "overloaded (the queue grows without bound; p99 queueing {:.0} ms)",
                r.queue_ms.p99
            ));
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
            power_w,
            avg_power_w: r.energy.avg_power_w,
            offered_requests_s: offered_rate(sc),
            requests_s: r.throughput.requests_s,
            output_tok_s: r.throughput.output_tok_s,
        })
    }

    /// The plan's price of the fleet over the simulation's on-demand price.
    fn price_factor(&self, sc: &Scenario) -> f64 {
        let mut on_demand = 0.0;
        let mut plan = 0.0;
        for p in &sc.pools {
            let inst = &p.hardware.instance;
            let n = p.instances() as f64;
            on_demand += n * inst.price.on_demand_usd_per_hour;
            let price = self.var.prices.get(&inst.name).copied().unwrap_or_else(|| {
                match self.plan.pricing.mode {
                    PriceMode::OnDemand => None,
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

// ---------------------------------------------------------------------------------------------
// Search

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

fn search_candidate(
    plan: &Plan,
    var: &Variation,
    cand: &Candidate,
    slo: &PlanSlo,
    ctl: &Control,
) -> Result<CandidateSearch> {
    let mut pr = Prober {
        plan,
        var,
        cand,
        ctl,
        slo: slo.clone(),
        chip: None,
    };
    let mut out = CandidateSearch {
        candidate: cand.name.clone(),
        fleet: None,
        rejection: None,
        probes: Vec::new(),
    };
    let reject = |out: &mut CandidateSearch, reason: &str, detail: String, achieved: Vec<Achieved>| {
        out.rejection = Some(Rejection {
            candidate: cand.name.clone(),
            reason: reason.into(),
            detail,
            achieved,
        });
    };
    let infeasible = |msg: &str| {
        if msg.contains("does not fit") {
            "memory"
        } else {
            "infeasible"
        }
    };

    // One unit must load; its chip decides which overrides apply.
    match pr.load(1, var.traffic_scale * LIGHT_LOAD, Some(LIGHT_REQUESTS), plan.seed) {
        Ok(sc) => pr.chip = Some(sc.hardware.chip.name.clone()),
        Err(LoadFailure::Infeasible(m)) => {
            reject(&mut out, infeasible(&m), m, Vec::new());
            return Ok(out);
        }
        Err(LoadFailure::Input(e)) => return Err(e),
    }
    // Light load: the latency floor. If one unit misses the SLO alone, no size meets it.
    let light = match pr.probe(1, var.traffic_scale * LIGHT_LOAD, Some(LIGHT_REQUESTS), plan.seed, 1) {
        Ok(p) => p,
        Err(LoadFailure::Infeasible(m)) => {
            reject(&mut out, infeasible(&m), m, Vec::new());
            return Ok(out);
        }
        Err(LoadFailure::Input(e)) => return Err(e),
    };
    out.probes.push(light.clone());
    if !light.meets {
        reject(
            &mut out,
            "latency",
            format!(
                "misses the SLO on one unit at {} % of the traffic, so at any size: {}",
                fmt(LIGHT_LOAD * 100.0),
                light.why
            ),
            light.achieved.clone(),
        );
        return Ok(out);
    }
    // Limits on the size: the candidate's own, the budget, the power limit.
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
    if max_units == 0 {
        let detail = if binding == "budget" {
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
        };
        reject(&mut out, binding, detail, Vec::new());
        return Ok(out);
    }

    let mut cache: BTreeMap<u32, Probe> = BTreeMap::new();
    let mut at = |n: u32, out: &mut CandidateSearch| -> Result<Probe> {
        if let Some(p) = cache.get(&n) {
            return Ok(p.clone());
        }
        let p = match pr.probe(n, var.traffic_scale, None, plan.seed, plan.seeds_per_probe) {
            Ok(p) => p,
            Err(LoadFailure::Infeasible(m)) => {
                return Err(Error::infeasible(&cand.base_path, "", format!("{}: {m}", cand.name)));
            }
            Err(LoadFailure::Input(e)) => return Err(e),
        };
        out.probes.push(p.clone());
        cache.insert(n, p.clone());
        Ok(p)
    };
    // Exponential probing, then bisection.
    let mut lo = 0u32; // largest count known to fail
    let mut n = 1u32;
    let pass = loop {
        let p = at(n, &mut out)?;
        if p.meets {
            break Some((n, p));
        }
        lo = n;
        if n >= max_units {
            break None;
        }
        n = n.saturating_mul(2).min(max_units);
    };
    let Some((mut hi, mut best)) = pass else {
        let last = cache.get(&lo).cloned().expect("the last probe is cached");
        let detail = match binding {
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
        };
        reject(&mut out, binding, detail, last.achieved.clone());
        return Ok(out);
    };
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        let p = at(mid, &mut out)?;
        if p.meets {
            hi = mid;
            best = p;
        } else {
            lo = mid;
        }
    }
    out.fleet = Some(fleet_of(cand, &pr, &best)?);
    Ok(out)
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
        instance: sc.hardware.instance.name.clone(),
        chip: sc.hardware.chip.name.clone(),
        weights: sc.precision.weights.to_string(),
        parallelism,
        disaggregated,
        units: p.units,
        instances: p.instances,
        replicas: p.replicas,
        usd_per_hour: p.usd_per_hour,
        usd_per_mtok_output: p.usd_per_mtok_output,
        power_w: p.power_w,
        achieved: p.achieved.clone(),
        goodput: p.goodput,
        saturation: p.saturation.clone(),
        offered_requests_s: p.offered_requests_s,
    })
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
    probe_with(plan, var, &Control::default(), candidate, units, traffic, seed, seeds)
}

#[allow(clippy::too_many_arguments)]
fn probe_with(
    plan: &Plan,
    var: &Variation,
    ctl: &Control,
    candidate: &str,
    units: u32,
    traffic: f64,
    seed: u64,
    seeds: u32,
) -> Result<Probe> {
    let cand = plan
        .candidates
        .iter()
        .chain(&var.extra_candidates)
        .find(|c| c.name == candidate)
        .ok_or_else(|| Error::input(&plan.file, "candidate", format!("no candidate named `{candidate}`")))?;
    let mut pr = Prober {
        plan,
        var,
        cand,
        ctl,
        slo: plan.slo.scaled(var.slo_scale),
        chip: None,
    };
    let conv = |e: LoadFailure| match e {
        LoadFailure::Infeasible(m) => Error::infeasible(&cand.base_path, "", m),
        LoadFailure::Input(e) => e,
    };
    pr.chip = Some(
        pr.load(1, traffic, Some(1), seed)
            .map_err(conv)?
            .hardware
            .chip
            .name
            .clone(),
    );
    pr.probe(units, traffic, None, seed, seeds).map_err(conv)
}

// ---------------------------------------------------------------------------------------------
// The whole plan: search, verification, headroom, what-ifs

/// The best fleet re-simulated with another seed, and one unit smaller.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verification {
    pub seed: u64,
    pub meets: bool,
    /// Why it misses (empty when it meets).
    pub why: String,
    pub achieved: Vec<Achieved>,
    pub goodput: f64,
    /// One unit fewer (None when the fleet is one unit).
    pub smaller_meets: Option<bool>,
    pub smaller_why: Option<String>,
}

/// The most traffic the best fleet sustains within the SLO.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Headroom {
    /// Largest traffic scale found meeting the SLO (1.0 = the demand), to within `resolution`.
    pub max_traffic_scale: f64,
    pub resolution: f64,
    /// Requests per second offered at that scale.
    pub offered_requests_s: f64,
    /// Whether the search stopped at its ceiling.
    pub at_ceiling: bool,
}

/// One what-if's best fleet, beside the base plan's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WhatIf {
    pub name: String,
    pub traffic_scale: f64,
    pub price_scale: f64,
    pub slo_scale: f64,
    pub changes: String,
    pub best: Option<Fleet>,
    pub feasible: usize,
    pub rejected: usize,
}

/// Everything `codesim plan` reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanReport {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    pub file: String,
    pub demand: String,
    pub slo: String,
    pub pricing: Pricing,
    pub seed: u64,
    pub seeds_per_probe: u32,
    pub best: Option<Fleet>,
    pub feasible: Vec<Fleet>,
    pub rejected: Vec<Rejection>,
    pub pareto: Vec<FrontierPoint>,
    pub verification: Option<Verification>,
    pub headroom: Option<Headroom>,
    pub whatifs: Vec<WhatIf>,
    pub probes: usize,
    pub codesim_version: String,
    /// Every candidate's probes (plan.json only).
    pub searches: Vec<CandidateSearch>,
}

/// Ceiling of the headroom search (× the demand).
const HEADROOM_MAX: f64 = 8.0;
const HEADROOM_RESOLUTION: f64 = 0.05;

/// Runs the plan: the search, the best fleet's verification and headroom, and every what-if.
pub fn run(plan: &Plan) -> Result<PlanReport> {
    run_with(plan, &Control::default())
}

/// [`run`], keeping probes and stopping as `ctl` says.
pub fn run_with(plan: &Plan, ctl: &Control) -> Result<PlanReport> {
    let base_var = Variation::default();
    let base = search_with(plan, &base_var, ctl)?;
    let (verification, headroom) = match &base.best {
        Some(b) => {
            let v = verify_with(plan, &base_var, b, ctl)?;
            let h = if plan.headroom {
                Some(headroom_with(plan, &base_var, b, ctl)?)
            } else {
                None
            };
            (Some(v), h)
        }
        None => (None, None),
    };
    let whatifs = plan
        .whatifs
        .par_iter()
        .map(|v| {
            let r = search_with(plan, v, ctl)?;
            Ok(WhatIf {
                name: v.name.clone(),
                traffic_scale: v.traffic_scale,
                price_scale: v.price_scale,
                slo_scale: v.slo_scale,
                changes: changes_label(v),
                best: r.best.clone(),
                feasible: r.feasible.len(),
                rejected: r.rejected.len(),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(PlanReport {
        name: plan.name.clone(),
        description: plan.description.clone(),
        file: plan.file.display().to_string(),
        demand: plan.demand.label(),
        slo: plan.slo.label(),
        pricing: plan.pricing.clone(),
        seed: plan.seed,
        seeds_per_probe: plan.seeds_per_probe,
        best: base.best.clone(),
        feasible: base.feasible.clone(),
        rejected: base.rejected.clone(),
        pareto: base.pareto.clone(),
        verification,
        headroom,
        whatifs,
        probes: base.probes(),
        codesim_version: env!("CARGO_PKG_VERSION").to_string(),
        searches: base.searches,
    })
}

fn changes_label(v: &Variation) -> String {
    let mut parts = Vec::new();
    if v.traffic_scale != 1.0 {
        parts.push(format!("traffic ×{}", fmt(v.traffic_scale)));
    }
    if v.price_scale != 1.0 {
        parts.push(format!("prices ×{}", fmt(v.price_scale)));
    }
    if v.slo_scale != 1.0 {
        parts.push(format!("SLO limits ×{}", fmt(v.slo_scale)));
    }
    for (i, p) in &v.prices {
        parts.push(format!("{i} ${}/h", fmt(*p)));
    }
    for (chip, over) in &v.chip_overrides {
        let fields: Vec<String> = over.iter().map(|(k, v)| format!("{k} = {v}")).collect();
        parts.push(format!("{chip}: {}", fields.join(", ")));
    }
    for p in &v.profiles {
        let name = Path::new(p)
            .file_name()
            .map_or(p.clone(), |f| f.to_string_lossy().into());
        parts.push(format!("profile {name}"));
    }
    for c in &v.extra_candidates {
        parts.push(format!("+ candidate {}", c.name));
    }
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join("; ")
    }
}

/// Re-simulates the fleet with the plan's verify seed, and one unit smaller.
pub fn verify(plan: &Plan, var: &Variation, fleet: &Fleet) -> Result<Verification> {
    verify_with(plan, var, fleet, &Control::default())
}

fn verify_with(plan: &Plan, var: &Variation, fleet: &Fleet, ctl: &Control) -> Result<Verification> {
    let seed = plan.verify_seed;
    let p = probe_with(
        plan,
        var,
        ctl,
        &fleet.candidate,
        fleet.units,
        var.traffic_scale,
        seed,
        1,
    )?;
    let smaller = if fleet.units > 1 {
        Some(probe_with(
            plan,
            var,
            ctl,
            &fleet.candidate,
            fleet.units - 1,
            var.traffic_scale,
            seed,
            1,
        )?)
    } else {
        None
    };
    Ok(Verification {
        seed,
        meets: p.meets,
        why: p.why,
        achieved: p.achieved,
        goodput: p.goodput,
        smaller_meets: smaller.as_ref().map(|s| s.meets),
        smaller_why: smaller.map(|s| s.why),
    })
}

/// The largest traffic scale the fleet sustains within the SLO: doubling, then bisection.
pub fn headroom(plan: &Plan, var: &Variation, fleet: &Fleet) -> Result<Headroom> {
    headroom_with(plan, var, fleet, &Control::default())
}

fn headroom_with(plan: &Plan, var: &Variation, fleet: &Fleet, ctl: &Control) -> Result<Headroom> {
    let run = |s: f64| {
        probe_with(
            plan,
            var,
            ctl,
            &fleet.candidate,
            fleet.units,
            var.traffic_scale * s,
            plan.seed,
            plan.seeds_per_probe,
        )
    };
    let mut lo = 1.0;
    let mut lo_rate = run(1.0)?.offered_requests_s;
    let mut hi = None;
    let mut s = 1.25;
    while s <= HEADROOM_MAX {
        let p = run(s)?;
        if p.meets {
            lo = s;
            lo_rate = p.offered_requests_s;
            s *= 1.5;
        } else {
            hi = Some(s);
            break;
        }
    }
    let Some(mut hi) = hi else {
        return Ok(Headroom {
            max_traffic_scale: lo,
            resolution: HEADROOM_RESOLUTION,
            offered_requests_s: lo_rate,
            at_ceiling: true,
        });
    };
    while hi - lo > HEADROOM_RESOLUTION {
        let mid = (lo + hi) / 2.0;
        let p = run(mid)?;
        if p.meets {
            lo = mid;
            lo_rate = p.offered_requests_s;
        } else {
            hi = mid;
        }
    }
    Ok(Headroom {
        max_traffic_scale: lo,
        resolution: HEADROOM_RESOLUTION,
        offered_requests_s: lo_rate,
        at_ceiling: false,
    })
}

pub use crate::numfmt::plain as fmt;

/// FNV-1a over everything a resolved scenario read (hardware, model, traces, length columns):
/// the trace rows are hashed field by field, the rest through its `Debug` text (no hash maps, so
/// it is the same in every process).
fn inputs_digest(sc: &Scenario) -> u64 {
    let mut h = crate::hash::Fnv64::new();
    if let Some(t) = &sc.trace {
        h.u64(t.requests.len() as u64);
        for r in &t.requests {
            h.u64(r.arrival_ns);
            h.u64(((r.input_tokens as u64) << 32) | r.output_tokens as u64);
            h.u64(r.hash_ids.len() as u64);
            for &id in &r.hash_ids {
                h.u64(id);
            }
        }
    }
    for col in [&sc.input_column, &sc.output_column].into_iter().flatten() {
        h.u64(col.len() as u64);
        for &x in col.iter() {
            h.u64(x as u64);
        }
    }
    let rest = Scenario {
        trace: None,
        input_column: None,
        output_column: None,
        ..sc.clone()
    };
    use std::fmt::Write;
    let _ = write!(h, "{rest:?}");
    h.finish()
}
