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
//! trace = "../data/traces/AzureLLMInferenceTrace_conv.csv"
//! rate_scale = 50.0              # × the trace's arrival rate (or rate_per_s = 275.0: its mean rate)
//! requests = 5000                # the first N rows (default: all)
//! # ... or a rate:  rate_per_s = 20.0, growth = 1.5, daily_profile = [24 hourly multipliers],
//! #   input = { kind = "lognormal", mean = 1000.0, cv = 1.0, max = 8000 }, output = {...},
//! #   requests = 2000, cv = 2.0 (gamma arrivals; default Poisson).
//! # The plan is for the peak hour: rate × growth × max(daily_profile).
//! prefix_groups = 16             # optional shared-prefix keys per request
//! bootstrap_block = 64           # a trace: rows per block of the block bootstrap that every seed
//!                                # but `seed` replays (default 64), so other seeds are other samples
//!
//! [slo]                          # <metric>_p<percentile>_ms: metric ttft, tpot or e2e;
//! ttft_p95_ms = 2000.0           # percentile 50, 90, 95, 99 or 999 (99.9)
//! tpot_p99_ms = 100.0
//! min_goodput = 0.95             # fraction of requests that must meet every threshold (default
//!                                # 0.99, printed as a default in every report)
//!
//! [[candidate]]
//! name = "p5 fp8 TP8"
//! max_replicas = 64              # most units tried (default 64)
//! scenario = { hardware = { instance = "p5.48xlarge" }, model = { name = "llama-3.3-70b", weights = "fp8" }, deployment = { tp = 8 } }
//! # or scenario = "path/to/scenario.toml" (its [workload] is replaced by the demand)
//!
//! [pricing]
//! mode = "on_demand"             # on_demand, reserved, spot or own (rank by ownership cost)
//! budget_usd_per_hour = 500.0    # optional
//! power_limit_w = 100000.0       # optional: provisioned power (chips × TDP + hosts)
//!
//! [[whatif]]
//! name = "traffic ×2"
//! traffic_scale = 2.0            # also: price_scale (under own: × the owned $/hour), slo_scale,
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

mod file;
pub mod horizon;
mod probe;
mod record;
mod run;
mod search;
mod slo;
mod verify;

pub use crate::numfmt::plain as fmt;
pub use file::{load, load_str};
pub use probe::{Achieved, Probe, achieved_label, probe, scenario_table};
pub use record::{Control, RECORD_EXT};
pub use run::{PlanReport, WhatIf, run, run_with};
pub use search::{CandidateSearch, Fleet, FrontierPoint, PlanResult, Rejection, search, search_with};
pub use slo::{PlanSlo, SloTerm};
pub use verify::{Headroom, Verification, headroom, verify};

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn one() -> f64 {
    1.0
}

/// The forecast traffic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Demand {
    /// A trace file (relative to the plan file) replayed at `rate_scale` × its rate, or at a
    /// mean rate of `rate_per_s`.
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
    /// Rows per block of the block bootstrap a trace is replayed as on every seed but the
    /// plan's (default [`DEFAULT_BOOTSTRAP_ROWS`]).
    #[serde(default)]
    pub bootstrap_block: Option<u32>,
}

/// Rows per bootstrap block when `demand.bootstrap_block` is unset. An assumption: long enough
/// to keep a burst of a production trace (seconds of arrivals at tens of req/s) whole, short
/// enough that a few thousand rows give many blocks to draw.
pub const DEFAULT_BOOTSTRAP_ROWS: u32 = 64;

impl Demand {
    /// Rows per bootstrap block (see [`Demand::bootstrap_block`]).
    pub fn bootstrap_rows(&self) -> u32 {
        self.bootstrap_block.unwrap_or(DEFAULT_BOOTSTRAP_ROWS)
    }

    /// How a seed other than the plan's samples the demand: a trace's block bootstrap, said
    /// with its block size and whether that is the default; None for a rate (its seed draws
    /// the arrivals and lengths anew).
    pub fn resample_label(&self, seed: u64) -> Option<String> {
        self.trace.as_ref()?;
        let rows = self.bootstrap_rows();
        let default = if self.bootstrap_block.is_none() {
            " (default; set demand.bootstrap_block)"
        } else {
            ""
        };
        Some(format!(
            "a block bootstrap of the trace drawn from seed {seed}, in blocks of {rows} rows{default}"
        ))
    }

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
            (Some(t), r) => {
                let name = Path::new(t)
                    .file_name()
                    .map_or(t.clone(), |f| f.to_string_lossy().into());
                match r {
                    Some(r) => format!("trace {name} at {} req/s", fmt(r * self.peak_factor())),
                    None => format!(
                        "trace {name} at {}× its rate",
                        fmt(self.rate_scale.unwrap_or(1.0) * self.peak_factor())
                    ),
                }
            }
            // The arrival process changes the answer (burstier needs more): always said, the
            // default as a default.
            (None, Some(r)) => match self.cv {
                Some(cv) => format!("{} req/s, Gamma arrivals (cv {})", fmt(r * self.peak_factor()), fmt(cv)),
                None => format!(
                    "{} req/s, Poisson arrivals (default; set demand.cv)",
                    fmt(r * self.peak_factor())
                ),
            },
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

/// How instances are paid for: rented at one of the catalog's prices, or owned (every probe runs
/// with `infrastructure.pricing = "own"`: capital recovery, facility, operations and the probe's
/// measured energy, `[cost.ownership]` of the candidate's scenario over `costs/ownership.toml`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PriceMode {
    #[default]
    OnDemand,
    Reserved,
    Spot,
    Own,
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
    /// `[horizon]`: the purchase mix over a horizon instead of the peak-hour search.
    pub horizon: Option<horizon::Horizon>,
}

/// The most units a candidate may try unless it says otherwise.
pub const DEFAULT_MAX_UNITS: u32 = 64;
