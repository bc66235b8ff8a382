//! The whole plan: search, verification, headroom, what-ifs.

use super::record::Control;
use super::search::{CandidateSearch, Fleet, FrontierPoint, Rejection, search_with};
use super::verify::{Headroom, Verification, headroom_with, verify_with};
use super::{Plan, Pricing, Variation, fmt};
use crate::error::Result;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::Path;

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

impl PlanReport {
    /// The report without every probe (those are in plan.json): what `codesim plan --json`
    /// prints and `codesim.plan()` returns in Python.
    pub fn summary_json(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).expect("a plan report serialises");
        if let Some(o) = v.as_object_mut() {
            o.remove("searches");
        }
        v
    }
}

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
