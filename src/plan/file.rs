//! The plan file: parsing, checking every value, and refusing a candidate whose scenario is wrong
//! before any simulation.

use super::probe::{LIGHT_LOAD, LoadFailure, Prober};
use super::record::Control;
use super::slo::parse_slo;
use super::{Candidate, DEFAULT_MAX_UNITS, Demand, Plan, Pricing, Variation, one};
use crate::error::{Error, Result};
use crate::input::{parse_toml, read_text};
use crate::scenario::{MAX_REPLICAS, MAX_REQUESTS};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

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
    /// `[horizon]`: plan the purchase mix over a horizon (`plan/horizon/`).
    #[serde(default)]
    horizon: Option<super::horizon::HorizonFile>,
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

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct CandidateFile {
    name: String,
    scenario: toml::Value,
    #[serde(default)]
    max_replicas: Option<u32>,
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

pub fn load(path: &Path) -> Result<Plan> {
    let text = read_text(path)?;
    load_str(&text, path)
}

pub fn load_str(text: &str, path: &Path) -> Result<Plan> {
    let f: PlanFile = parse_toml(text, path)?;
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();

    check_traffic(&f.demand, f.horizon.is_some(), path)?;
    let verify_seed = check_seeds(&f, path)?;
    check_requests(&f.demand, path)?;
    let mut demand = f.demand.clone();
    if let Some(t) = &demand.trace {
        // Absolute, since candidates resolve relative paths from their own files.
        demand.trace = Some(absolute(&dir.join(t)));
    }

    let slo = parse_slo(&f.slo, path)?;
    let horizon = match &f.horizon {
        Some(h) => Some(super::horizon::resolve(h, &demand, &slo, path)?),
        None => None,
    };
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
    let whatifs = parse_whatifs(&f.whatifs, path)?;
    let name = f.name.clone().unwrap_or_else(|| default_name(path));
    crate::input::check_label(path, "name", &name)?;
    for (i, w) in whatifs.iter().enumerate() {
        crate::input::check_label(path, &format!("whatif[{i}].name"), &w.name)?;
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
        horizon,
    };
    check_candidates(&plan)?;
    check_whatif_names(&plan, path)?;
    Ok(plan)
}

/// A what-if's `prices` name instances and its `chip_overrides` name chips that exist (built in,
/// or in a profile file of the what-if or of a candidate): an unknown name would be silently
/// ignored and the what-if would equal the baseline.
fn check_whatif_names(plan: &Plan, path: &Path) -> Result<()> {
    if plan
        .whatifs
        .iter()
        .all(|w| w.prices.is_empty() && w.chip_overrides.is_empty())
    {
        return Ok(());
    }
    let mut catalog = crate::hw::Catalog::builtin()?;
    for c in plan
        .candidates
        .iter()
        .chain(plan.whatifs.iter().flat_map(|w| &w.extra_candidates))
    {
        let dir = c.base_path.parent().map(Path::to_path_buf).unwrap_or_default();
        let listed = c
            .base
            .get("hardware")
            .and_then(|h| h.get("profiles"))
            .and_then(|p| p.as_array());
        for p in listed.into_iter().flatten().filter_map(|p| p.as_str()) {
            catalog.add_file(&dir.join(p))?;
        }
    }
    for (i, w) in plan.whatifs.iter().enumerate() {
        for p in &w.profiles {
            catalog.add_file(Path::new(p))?;
        }
        for inst in w.prices.keys() {
            if plan.pricing.mode == super::PriceMode::Own {
                return Err(Error::input(
                    path,
                    format!("whatif[{i}].prices.\"{inst}\""),
                    "an instance's $/hour has no meaning when the plan owns its servers (pricing.mode = \"own\"); accepted: price_scale, or an ownership cost in the candidate's [cost.ownership]",
                ));
            }
            catalog
                .instance(inst)
                .map_err(|e| Error::input(path, format!("whatif[{i}].prices.\"{inst}\""), e))?;
        }
        for chip in w.chip_overrides.keys() {
            catalog
                .chip(chip)
                .map_err(|e| Error::input(path, format!("whatif[{i}].chip_overrides.\"{chip}\""), e))?;
        }
    }
    Ok(())
}

/// The demand gives its traffic one way (a trace, or a rate with lengths and a request count:
/// over a `horizon`, the horizon bounds the run instead), with positive rates and a daily profile of 24 hours.
fn check_traffic(d: &Demand, horizon: bool, path: &Path) -> Result<()> {
    match (&d.trace, d.rate_per_s) {
        (Some(_), Some(_)) if d.rate_scale.is_some() => {
            return Err(Error::input(
                path,
                "demand.rate_per_s",
                "is set together with demand.rate_scale: with a trace, rate_per_s sets its mean rate and rate_scale multiplies its own; accepted: one of them",
            ));
        }
        (None, None) => {
            return Err(Error::input(
                path,
                "demand",
                "gives no traffic; set `trace = \"file.csv\"` (with `rate_scale`) or `rate_per_s`",
            ));
        }
        (Some(_), _) if d.input.is_some() || d.output.is_some() => {
            return Err(Error::input(
                path,
                if d.input.is_some() {
                    "demand.input"
                } else {
                    "demand.output"
                },
                "a trace carries its lengths in its rows; remove demand.input and demand.output",
            ));
        }
        (None, Some(_)) if d.input.is_none() || d.output.is_none() => {
            return Err(Error::input(
                path,
                "demand",
                "a rate needs `input` and `output` length specs, e.g. input = { kind = \"lognormal\", mean = 1000.0, cv = 1.0, max = 8000 }",
            ));
        }
        (None, Some(_)) if d.requests.is_none() && !horizon => {
            return Err(Error::input(
                path,
                "demand.requests",
                "a rate needs the number of requests per probe",
            ));
        }
        _ => {}
    }
    match (d.bootstrap_block, &d.trace) {
        (Some(0), _) => {
            return Err(Error::input(
                path,
                "demand.bootstrap_block",
                "0: accepted: 1 or more rows per block",
            ));
        }
        (Some(b), None) => {
            return Err(Error::input(
                path,
                "demand.bootstrap_block",
                format!(
                    "{b}: a block bootstrap resamples a trace; a rate demand draws new arrivals on every seed already; remove it"
                ),
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
    if d.growth > MAX_GROWTH {
        return Err(Error::input(
            path,
            "demand.growth",
            format!(
                "{} is more than {MAX_GROWTH}× today's traffic; accepted: (0, {MAX_GROWTH}] (plan a fleet that large as its own plan, with its own demand)",
                crate::error::given(d.growth)
            ),
        ));
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
    Ok(())
}

/// Checks the seeds every probe and the verification simulate with; returns the verify seed.
fn check_seeds(f: &PlanFile, path: &Path) -> Result<u64> {
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
    Ok(verify_seed)
}

/// Requests per probe: at least one, and no more than one simulation accepts.
fn check_requests(d: &Demand, path: &Path) -> Result<()> {
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
    Ok(())
}

/// The `[[whatif]]` tables as variations of the plan (profile paths made absolute).
fn parse_whatifs(files: &[WhatIfFile], path: &Path) -> Result<Vec<Variation>> {
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut whatifs = Vec::new();
    for (i, w) in files.iter().enumerate() {
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
    Ok(whatifs)
}

/// A plan's name when it gives none: its file's stem without `plan-`.
fn default_name(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().trim_start_matches("plan-").to_string())
        .unwrap_or_else(|| "plan".into())
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
    let key = crate::error::key_of_location(&ie.location);
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
            let mut pr = Prober::new(plan, var, cand, &ctl, plan.slo.clone());
            match pr.load(1, LIGHT_LOAD, Some(1), plan.seed) {
                Ok(sc) => pr.chip = Some(sc.hardware().chip.name.clone()),
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
pub(super) fn absolute(p: &Path) -> String {
    std::fs::canonicalize(p)
        .or_else(|_| std::path::absolute(p))
        .unwrap_or_else(|_| p.to_path_buf())
        .display()
        .to_string()
}

/// The largest `demand.growth`: beyond it a rate times growth leaves the range any plan probes.
const MAX_GROWTH: f64 = 1000.0;

pub(super) fn positive(path: &Path, key: &str, v: f64) -> Result<()> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(Error::input(
            path,
            key,
            format!("must be a finite number > 0, got {}", crate::error::given(v)),
        ))
    }
}

fn parse_candidates(files: &[CandidateFile], path: &Path, loc: &str) -> Result<Vec<Candidate>> {
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut out: Vec<Candidate> = Vec::new();
    for (i, c) in files.iter().enumerate() {
        let loc = format!("{loc}[{i}]");
        crate::input::check_label(path, &format!("{loc}.name"), &c.name)?;
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
                    .map_err(|e| crate::error::base_path_error(e, path, &format!("{loc}.scenario"), &bp))?;
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
        if base.get("workload").and_then(|w| w.get("tenants")).is_some() {
            // The demand replaces the scenario's workload (its classes aside): tenants would be
            // dropped without a word.
            return Err(Error::input(
                &base_path,
                format!("{loc}.scenario.workload.tenants"),
                "is set, but a plan's traffic is its [demand], which replaces the scenario's workload (only workload.classes is kept); accepted: a candidate without [[workload.tenants]] (plan each tenant's traffic as the demand, or run the tenants' scenario with `codesim run`)",
            ));
        }
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
