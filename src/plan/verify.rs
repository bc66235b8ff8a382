//! The best fleet checked: re-simulated with another seed and one unit smaller, and how much more
//! traffic it sustains.

use super::probe::{Achieved, ProbeAt, probe_with};
use super::record::Control;
use super::search::Fleet;
use super::{Plan, Variation};
use crate::error::Result;
use serde::{Deserialize, Serialize};

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
    /// How the re-check's seed sampled the demand when that is not obvious (a trace: its block
    /// bootstrap).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample: Option<String>,
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

/// Ceiling of the headroom search (× the demand).
const HEADROOM_MAX: f64 = 8.0;
const HEADROOM_RESOLUTION: f64 = 0.05;

/// Re-simulates the fleet with the plan's verify seed, and one unit smaller.
pub fn verify(plan: &Plan, var: &Variation, fleet: &Fleet) -> Result<Verification> {
    verify_with(plan, var, fleet, &Control::default())
}

/// [`verify`], keeping probes and stopping as `ctl` says.
pub(super) fn verify_with(plan: &Plan, var: &Variation, fleet: &Fleet, ctl: &Control) -> Result<Verification> {
    let seed = plan.verify_seed;
    let at = |units| ProbeAt {
        candidate: &fleet.candidate,
        units,
        traffic: var.traffic_scale,
        seed,
        seeds: 1,
    };
    let p = probe_with(plan, var, ctl, &at(fleet.units))?;
    let smaller = if fleet.units > 1 {
        Some(probe_with(plan, var, ctl, &at(fleet.units - 1))?)
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
        sample: plan.demand.resample_label(seed),
    })
}

/// The largest traffic scale the fleet sustains within the SLO: doubling, then bisection.
pub fn headroom(plan: &Plan, var: &Variation, fleet: &Fleet) -> Result<Headroom> {
    headroom_with(plan, var, fleet, &Control::default())
}

/// [`headroom`], keeping probes and stopping as `ctl` says.
pub(super) fn headroom_with(plan: &Plan, var: &Variation, fleet: &Fleet, ctl: &Control) -> Result<Headroom> {
    let run = |s: f64| {
        let at = ProbeAt {
            candidate: &fleet.candidate,
            units: fleet.units,
            traffic: var.traffic_scale * s,
            seed: plan.seed,
            seeds: plan.seeds_per_probe,
        };
        probe_with(plan, var, ctl, &at)
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
