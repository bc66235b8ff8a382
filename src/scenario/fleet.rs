//! `[fleet]`: the fleet over time — per-window metrics (`window_s`), and with them a run that
//! spans days (`[workload.profile]`). Resolved into [`Fleet`]; the mechanisms live in
//! `sim/fleet.rs` and `sim/windows.rs`.

use crate::error::{Error, Result};
use crate::workload::profile::ProfileSpec;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Window of the per-window metrics when `[fleet]` leaves it unset (seconds).
pub const DEFAULT_WINDOW_S: f64 = 60.0;

/// `[fleet]` as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct FleetSection {
    /// Width of the per-window metrics (arrivals, replicas, latency percentiles, cost), seconds.
    #[serde(default)]
    pub window_s: Option<f64>,
    /// `[fleet.autoscale]`: the fleet grows and shrinks with its load (`autoscale.rs`).
    #[serde(default)]
    pub autoscale: Option<super::autoscale::AutoscaleSection>,
    /// `[fleet.failures]`, `[fleet.spot]` and what becomes of a lost replica's requests.
    #[serde(default)]
    pub failures: Option<super::failures::FailuresSection>,
    #[serde(default)]
    pub spot: Option<super::failures::SpotSection>,
    #[serde(default)]
    pub on_loss: Option<super::failures::OnLoss>,
    /// `[fleet.purchase]`: a reserved base, on-demand and spot replicas (`purchase.rs`).
    #[serde(default)]
    pub purchase: Option<super::purchase::PurchaseSection>,
}

/// `[fleet]` resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Fleet {
    pub window_ns: u64,
    /// None: the fleet stays as deployed.
    pub autoscale: Option<super::autoscale::Autoscale>,
    /// None: no instance fails or is reclaimed.
    pub losses: Option<super::failures::Losses>,
    /// None: every replica at the scenario's pricing.
    pub purchase: Option<super::purchase::Purchase>,
}

/// The fleet of a run that has `[fleet]` or `[workload.profile]`; `None` otherwise (then the
/// run records nothing per window and costs nothing more).
pub(super) fn resolve(
    f: Option<&FleetSection>,
    profile: Option<&ProfileSpec>,
    cx: &super::autoscale::AutoscaleContext,
    path: &Path,
    notes: &mut Vec<String>,
) -> Result<Option<Fleet>> {
    if f.is_none() && profile.is_none() {
        return Ok(None);
    }
    let window_s = match f.and_then(|f| f.window_s) {
        Some(w) => {
            if !(w.is_finite() && (0.001..=86_400.0).contains(&w)) {
                return Err(Error::input(
                    path,
                    "fleet.window_s",
                    format!("is {w}; accepted: seconds from 0.001 to 86400"),
                ));
            }
            w
        }
        None => {
            notes.push(format!(
                "per-window metrics every {DEFAULT_WINDOW_S} s (default fleet.window_s)"
            ));
            DEFAULT_WINDOW_S
        }
    };
    let mut autoscale = match f.and_then(|f| f.autoscale.as_ref()) {
        Some(a) => Some(super::autoscale::resolve(a, cx, path, notes)?),
        None => None,
    };
    let purchase = match f.and_then(|f| f.purchase.as_ref()) {
        Some(p) => Some(super::purchase::resolve(
            p,
            autoscale.as_mut(),
            cx.initial_replicas,
            cx.instance,
            path,
            notes,
        )?),
        None => None,
    };
    if cx.lora && f.is_some_and(|f| f.failures.is_some() || f.spot.is_some()) {
        return Err(Error::input(
            path,
            "fleet.failures",
            "is set with [serving.lora]; accepted: failures and spot reclaims without LoRA adapters (a retried request would draw another adapter)",
        ));
    }
    let losses = super::failures::resolve(
        f.and_then(|f| f.failures.as_ref()),
        f.and_then(|f| f.spot.as_ref()),
        f.and_then(|f| f.on_loss),
        cx.instance,
        autoscale.is_some(),
        path,
        notes,
    )?;
    Ok(Some(Fleet {
        window_ns: (window_s * 1e9).round() as u64,
        autoscale,
        losses,
        purchase,
    }))
}
