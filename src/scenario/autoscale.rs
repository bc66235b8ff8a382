//! `[fleet.autoscale]`: how the fleet grows and shrinks with its load — the policy (HPA target
//! utilisation, KEDA-style concurrency, or a schedule read from `[workload.profile]`), its bounds
//! and delays, and what a new replica waits for (instance boot, weight load, engine warm-up).
//! The mechanism lives in `sim/autoscale.rs`.

use crate::error::{Error, Result};
use crate::hw::storage::StorageTier;
use crate::hw::{Catalog, Startup};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Kubernetes HPA defaults (kubernetes.io/docs/tasks/run-application/horizontal-pod-autoscale/):
/// `--horizontal-pod-autoscaler-sync-period` 15 s; `behavior.scaleUp.stabilizationWindowSeconds`
/// 0 and `behavior.scaleDown.stabilizationWindowSeconds` 300; `--horizontal-pod-autoscaler-tolerance`
/// 0.1 (no change while the metric is within 10 % of its target).
pub const HPA_SYNC_PERIOD_S: f64 = 15.0;
pub const HPA_SCALE_UP_STABILIZATION_S: f64 = 0.0;
pub const HPA_SCALE_DOWN_STABILIZATION_S: f64 = 300.0;
pub const HPA_TOLERANCE: f64 = 0.1;
/// Where a new replica reads its weights when `storage` is unset: an object store, the usual
/// home of model weights for a fleet that scales (assumption; printed).
pub const DEFAULT_WEIGHT_STORAGE: &str = "s3";

/// `[fleet.autoscale]` as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutoscaleSection {
    pub policy: PolicyKind,
    #[serde(default)]
    pub min_replicas: Option<u32>,
    pub max_replicas: u32,
    #[serde(default)]
    pub sync_period_s: Option<f64>,
    #[serde(default)]
    pub scale_up_stabilization_s: Option<f64>,
    #[serde(default)]
    pub scale_down_stabilization_s: Option<f64>,
    /// `target-utilization`: the mean batch occupancy (requests queued or running over
    /// `serving.max_batch`) the fleet aims for, in (0, 1].
    #[serde(default)]
    pub target_utilization: Option<f64>,
    /// `concurrency`: requests in flight or queued per replica the fleet aims for.
    #[serde(default)]
    pub target_concurrency: Option<f64>,
    /// `scheduled`: the rate one replica serves, and how far ahead the schedule looks.
    #[serde(default)]
    pub replica_rate_per_s: Option<f64>,
    #[serde(default)]
    pub lead_s: Option<f64>,
    /// A `[[storage]]` tier the weights are read from.
    #[serde(default)]
    pub storage: Option<String>,
    /// Overrides of the instance profile's `[instance.startup]`.
    #[serde(default)]
    pub boot_s: Option<f64>,
    #[serde(default)]
    pub warmup_s: Option<f64>,
    #[serde(default)]
    pub compile_cache: Option<CompileCache>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PolicyKind {
    TargetUtilization,
    Concurrency,
    Scheduled,
}

/// Whether a starting replica finds its compiled artifacts (Neuron NEFFs, torch.compile's
/// cache) or compiles them first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CompileCache {
    Warm,
    Cold,
}

/// A policy resolved with its parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Policy {
    /// HPA: desired = ceil(ready × utilisation / target), unchanged within the tolerance.
    TargetUtilization { target: f64 },
    /// KEDA: desired = ceil(requests in flight or queued / target per replica).
    Concurrency { target: f64 },
    /// Predictive: desired = ceil(rate_per_s × profile(t + lead) / replica_rate_per_s).
    Scheduled {
        rate_per_s: f64,
        replica_rate_per_s: f64,
        lead_s: f64,
    },
}

/// `[fleet.autoscale]` resolved: every default filled in (and printed).
#[derive(Debug, Clone, PartialEq)]
pub struct Autoscale {
    pub policy: Policy,
    pub min_replicas: u32,
    pub max_replicas: u32,
    pub sync_ns: u64,
    pub up_window_ns: u64,
    pub down_window_ns: u64,
    pub boot_ns: u64,
    /// Warm-up, plus the full compile when the cache is cold.
    pub warmup_ns: u64,
    pub storage: StorageTier,
}

/// What the autoscaler's resolution reads besides its own section.
pub(super) struct AutoscaleContext<'a> {
    pub catalog: &'a Catalog,
    pub instance: &'a crate::hw::Instance,
    pub initial_replicas: u32,
    /// LoRA adapters are drawn per request as it is routed (a retry would draw another).
    pub lora: bool,
    /// Why this deployment cannot autoscale (disaggregation, groups, pipeline parallelism, a
    /// gateway), if it cannot.
    pub unsupported: Option<&'static str>,
    /// The rate arrival's base rate, when the workload has a `[workload.profile]`.
    pub profile_rate_per_s: Option<f64>,
}

fn seconds(path: &Path, key: &str, v: f64, max: f64) -> Result<u64> {
    if !(v.is_finite() && (0.0..=max).contains(&v)) {
        return Err(Error::input(
            path,
            format!("fleet.autoscale.{key}"),
            format!("is {v}; accepted: seconds from 0 to {max}"),
        ));
    }
    Ok((v * 1e9).round() as u64)
}

fn positive(path: &Path, key: &str, v: Option<f64>, what: &str, max: f64) -> Result<f64> {
    match v {
        Some(x) if x.is_finite() && x > 0.0 && x <= max => Ok(x),
        Some(x) => Err(Error::input(
            path,
            format!("fleet.autoscale.{key}"),
            format!("is {x}; accepted: a number > 0 and at most {max}"),
        )),
        None => Err(Error::input(
            path,
            format!("fleet.autoscale.{key}"),
            format!("is missing; {what}"),
        )),
    }
}

/// Resolves `[fleet.autoscale]`, printing every default it takes.
pub(super) fn resolve(
    s: &AutoscaleSection,
    cx: &AutoscaleContext,
    path: &Path,
    notes: &mut Vec<String>,
) -> Result<Autoscale> {
    if let Some(why) = cx.unsupported {
        return Err(Error::input(
            path,
            "fleet.autoscale",
            format!(
                "is set, but {why}; accepted: one unified pool of replicas (no disaggregation, no deployment groups, pp = 1) without a [gateway]"
            ),
        ));
    }
    let min = s.min_replicas.unwrap_or(1);
    if min == 0 || min > s.max_replicas || s.max_replicas > 4096 {
        return Err(Error::input(
            path,
            "fleet.autoscale.min_replicas",
            format!(
                "is {min} with max_replicas {}; accepted: 1 <= min_replicas <= max_replicas <= 4096 (scaling to zero is not modelled)",
                s.max_replicas
            ),
        ));
    }
    if !(min..=s.max_replicas).contains(&cx.initial_replicas) {
        return Err(Error::input(
            path,
            "deployment.replicas",
            format!(
                "is {} (the fleet at the start); accepted: from fleet.autoscale.min_replicas ({min}) to max_replicas ({})",
                cx.initial_replicas, s.max_replicas
            ),
        ));
    }
    if s.min_replicas.is_none() {
        notes.push("autoscale: min_replicas = 1 (default fleet.autoscale.min_replicas)".into());
    }
    let policy = policy(s, cx, path, notes)?;
    let sync_ns = timing(s, path, notes)?;
    let (boot_ns, warmup_ns) = startup(s, cx.instance, path, notes)?;
    let storage_name = s.storage.as_deref().unwrap_or(DEFAULT_WEIGHT_STORAGE);
    let storage = cx
        .catalog
        .storage(storage_name)
        .map_err(|m| Error::input(path, "fleet.autoscale.storage", m))?
        .clone();
    if s.storage.is_none() {
        notes.push(format!(
            "autoscale: a new replica reads its weights from `{DEFAULT_WEIGHT_STORAGE}` (default fleet.autoscale.storage)"
        ));
    }
    Ok(Autoscale {
        policy,
        min_replicas: min,
        max_replicas: s.max_replicas,
        sync_ns: sync_ns.0,
        up_window_ns: sync_ns.1,
        down_window_ns: sync_ns.2,
        boot_ns,
        warmup_ns,
        storage,
    })
}

fn policy(s: &AutoscaleSection, cx: &AutoscaleContext, path: &Path, notes: &mut Vec<String>) -> Result<Policy> {
    Ok(match s.policy {
        PolicyKind::TargetUtilization => Policy::TargetUtilization {
            target: positive(
                path,
                "target_utilization",
                s.target_utilization,
                "policy `target-utilization` needs the batch occupancy to aim for, in (0, 1]",
                1.0,
            )?,
        },
        PolicyKind::Concurrency => Policy::Concurrency {
            target: positive(
                path,
                "target_concurrency",
                s.target_concurrency,
                "policy `concurrency` needs the requests in flight or queued per replica to aim for",
                1e6,
            )?,
        },
        PolicyKind::Scheduled => {
            let Some(rate_per_s) = cx.profile_rate_per_s else {
                return Err(Error::input(
                    path,
                    "fleet.autoscale.policy",
                    "is `scheduled`, which reads the demand of [workload.profile]; accepted: `scheduled` with a [workload.profile] on a rate arrival, or `target-utilization` / `concurrency`",
                ));
            };
            let replica_rate_per_s = positive(
                path,
                "replica_rate_per_s",
                s.replica_rate_per_s,
                "policy `scheduled` needs the rate one replica serves within its SLO (req/s)",
                1e9,
            )?;
            let lead_s = match s.lead_s {
                Some(l) => seconds(path, "lead_s", l, 86_400.0)? as f64 * 1e-9,
                None => {
                    notes.push("autoscale: the schedule looks 600 s ahead (default fleet.autoscale.lead_s)".into());
                    600.0
                }
            };
            Policy::Scheduled {
                rate_per_s,
                replica_rate_per_s,
                lead_s,
            }
        }
    })
}

/// The sync period and the two stabilisation windows, ns (HPA's defaults, printed).
fn timing(s: &AutoscaleSection, path: &Path, notes: &mut Vec<String>) -> Result<(u64, u64, u64)> {
    let mut pick = |key: &str, v: Option<f64>, default: f64| -> Result<u64> {
        match v {
            Some(x) => seconds(path, key, x, 86_400.0),
            None => {
                notes.push(format!(
                    "autoscale: {key} = {default} s (default fleet.autoscale.{key}, the Kubernetes HPA default)"
                ));
                Ok((default * 1e9) as u64)
            }
        }
    };
    let sync = pick("sync_period_s", s.sync_period_s, HPA_SYNC_PERIOD_S)?;
    let up = pick(
        "scale_up_stabilization_s",
        s.scale_up_stabilization_s,
        HPA_SCALE_UP_STABILIZATION_S,
    )?;
    let down = pick(
        "scale_down_stabilization_s",
        s.scale_down_stabilization_s,
        HPA_SCALE_DOWN_STABILIZATION_S,
    )?;
    if sync == 0 {
        return Err(Error::input(
            path,
            "fleet.autoscale.sync_period_s",
            "is 0; accepted: seconds greater than 0, at most 86400",
        ));
    }
    Ok((sync, up, down))
}

/// Boot and warm-up of a new replica, ns: the keys, else the instance profile's
/// `[instance.startup]` (printed).
fn startup(
    s: &AutoscaleSection,
    inst: &crate::hw::Instance,
    path: &Path,
    notes: &mut Vec<String>,
) -> Result<(u64, u64)> {
    let profile = inst.startup.as_ref();
    let from = |key: &str, v: Option<f64>, p: Option<f64>, notes: &mut Vec<String>| -> Result<u64> {
        match (v, p) {
            (Some(x), _) => seconds(path, key, x, 86_400.0),
            (None, Some(x)) => {
                notes.push(format!(
                    "autoscale: {key} = {x} s for `{}` (its [instance.startup]; override with fleet.autoscale.{key})",
                    inst.name
                ));
                seconds(path, key, x, 86_400.0)
            }
            (None, None) => Err(Error::input(
                path,
                format!("fleet.autoscale.{key}"),
                format!(
                    "is missing and instance `{}` has no [instance.startup] in its profile; accepted: seconds from 0 to 86400",
                    inst.name
                ),
            )),
        }
    };
    let boot = from("boot_s", s.boot_s, profile.map(|p: &Startup| p.boot_s), notes)?;
    let warm = from("warmup_s", s.warmup_s, profile.map(|p| p.warmup_s), notes)?;
    let cache = match s.compile_cache {
        Some(c) => c,
        None => {
            notes.push(
                "autoscale: compiled artifacts are cached (default fleet.autoscale.compile_cache = \"warm\")".into(),
            );
            CompileCache::Warm
        }
    };
    let compile = match (cache, profile) {
        (CompileCache::Warm, _) => 0,
        (CompileCache::Cold, Some(p)) => seconds(path, "compile_cache", p.compile_s, 86_400.0)?,
        (CompileCache::Cold, None) => {
            return Err(Error::input(
                path,
                "fleet.autoscale.compile_cache",
                format!(
                    "is \"cold\" but instance `{}` has no [instance.startup] compile_s; accepted: \"warm\" (then warmup_s covers the start)",
                    inst.name
                ),
            ));
        }
    };
    Ok((boot, warm + compile))
}
