//! `[[workload.tenants]]`: several traffic streams sharing one fleet. A tenant is a workload
//! class (its priority, SLO and per-class results are the class machinery's) with its own
//! arrival stream: its own rate process, lengths, `max_tokens` and time-varying profile, drawn
//! from its own random streams (`rng::Stream::TenantArrivals` / `TenantLengths`), merged in
//! time order by the simulation (`sim/tenants.rs`). Resolved in `resolve/tenants.rs`.

use super::SloSection;
use crate::workload::profile::ProfileSpec;
use crate::workload::{ArrivalSpec, LengthSpec};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// One `[[workload.tenants]]` table as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantSection {
    pub name: String,
    /// A rate arrival (`poisson`, `gamma`, `weibull`, `constant`) with `client = "ideal"`.
    pub arrival: ArrivalSpec,
    pub input: LengthSpec,
    pub output: LengthSpec,
    /// How many requests this tenant sends.
    pub requests: u64,
    /// Lower runs first (vLLM's convention), as `workload.classes[].priority`.
    #[serde(default)]
    pub priority: u32,
    /// Default: the top-level `[slo]`.
    #[serde(default)]
    pub slo: Option<SloSection>,
    /// The client's `max_tokens`; default: the output distribution's maximum.
    #[serde(default)]
    pub max_tokens: Option<u32>,
    /// A time-varying rate (daily shape, spikes) as `[workload.profile]`, this tenant's only.
    #[serde(default)]
    pub profile: Option<ProfileSpec>,
    /// The model the tenant calls: `[model] name` or a deployment group's `model`, as written.
    /// Default: `[model]`'s.
    #[serde(default)]
    pub model: Option<String>,
}

/// A resolved tenant: its class is the tenant's index in `Scenario::tenants` (and in
/// `Scenario::classes`).
#[derive(Debug, Clone, PartialEq)]
pub struct Tenant {
    pub name: String,
    pub arrival: ArrivalSpec,
    pub input: LengthSpec,
    pub output: LengthSpec,
    pub input_column: Option<Arc<Vec<u32>>>,
    pub output_column: Option<Arc<Vec<u32>>>,
    pub requests: u64,
    pub max_tokens: u32,
    pub profile: Option<ProfileSpec>,
    /// The mean offered rate over the tenant's arrivals, req/s: `rate_per_s`, times the
    /// profile's mean over its first week when it has one (spikes aside).
    pub rate_per_s: f64,
    /// The model it calls (0: `[model]`; else a deployment group's, in order of first mention)
    /// and its name.
    pub model: usize,
    pub model_name: String,
    /// The pools serving that model, when the fleet serves several (empty: every entry pool).
    pub pools: Vec<usize>,
}
