//! `[cost]`: owning the servers and the managed price a run is compared with. Every key is
//! optional; the defaults come from `costs/ownership.toml` (per instance type) and
//! `costs/managed.toml` (per model preset).
//!
//! ```toml
//! [cost]
//! managed = "bedrock/llama-3.3-70b"   # default: the managed price of the model preset, if any
//! [cost.ownership]                    # per server of hardware.instance; rates for every server
//! accelerators_usd = 200000.0
//! host_usd = 70000.0
//! network_usd = 63000.0
//! rack_usd = 10000.0
//! operations_usd_per_server_year = 10000.0
//! depreciation_years = 5.0
//! cost_of_capital = 0.08              # annual; 0: straight-line depreciation
//! usd_per_kwh = 0.0806                # on the run's measured energy (IT × infrastructure.pue)
//! facility_usd_per_kw_month = 150.0   # on each server's nameplate kW (chips × TDP + host TDP)
//! ```

use super::Pool;
use super::infra::PricingMode;
use crate::error::{Error, Result};
use crate::tco::{CostCatalog, ManagedPrice, Ownership, Rates, ServerCost, check};
use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CostSection {
    /// A managed price's name (`costs/managed.toml`).
    #[serde(default)]
    pub managed: Option<String>,
    #[serde(default)]
    pub ownership: Option<OwnershipSection>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OwnershipSection {
    pub accelerators_usd: Option<f64>,
    pub host_usd: Option<f64>,
    pub network_usd: Option<f64>,
    pub rack_usd: Option<f64>,
    pub operations_usd_per_server_year: Option<f64>,
    pub depreciation_years: Option<f64>,
    pub cost_of_capital: Option<f64>,
    pub usd_per_kwh: Option<f64>,
    pub facility_usd_per_kw_month: Option<f64>,
}

impl OwnershipSection {
    fn server_keys(&self) -> [(&'static str, Option<f64>); 5] {
        [
            ("accelerators_usd", self.accelerators_usd),
            ("host_usd", self.host_usd),
            ("network_usd", self.network_usd),
            ("rack_usd", self.rack_usd),
            ("operations_usd_per_server_year", self.operations_usd_per_server_year),
        ]
    }
}

/// `[cost]`, resolved.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Costs {
    /// Per pool: one of its servers owned (None: no ownership figures for its instance type).
    pub ownership: Vec<Option<Ownership>>,
    /// The price of energy of owned servers, $/kWh.
    pub usd_per_kwh: f64,
    pub managed: Option<ManagedPrice>,
}

const AT: &str = "cost.ownership";

/// Resolves `[cost]` for the pools: catalog defaults, the scenario's keys over them, every value
/// checked. Under `infrastructure.pricing = "own"` every pool must have ownership figures.
pub fn resolve(
    s: Option<&CostSection>,
    main_instance: &str,
    model: &str,
    pools: &[Pool],
    pricing: PricingMode,
    file: &Path,
) -> Result<Costs> {
    let catalog = CostCatalog::builtin()?;
    let o = s.and_then(|s| s.ownership).unwrap_or_default();
    let at = |k: &str| format!("{AT}.{k}");
    let pick = |v: Option<f64>, d: f64, k: &str| -> Result<f64> {
        let v = v.unwrap_or(d);
        check(file, &at, k, v)?;
        Ok(v)
    };
    let d = catalog.defaults;
    let rates = Rates {
        depreciation_years: pick(o.depreciation_years, d.depreciation_years, "depreciation_years")?,
        cost_of_capital: pick(o.cost_of_capital, d.cost_of_capital, "cost_of_capital")?,
        usd_per_kwh: pick(o.usd_per_kwh, d.usd_per_kwh, "usd_per_kwh")?,
        facility_usd_per_kw_month: pick(
            o.facility_usd_per_kw_month,
            d.facility_usd_per_kw_month,
            "facility_usd_per_kw_month",
        )?,
    };
    for (k, v) in o.server_keys() {
        if let Some(v) = v {
            check(file, &at, k, v)?;
        }
    }
    let mut ownership = Vec::with_capacity(pools.len());
    for p in pools {
        let name = &p.hardware.instance.name;
        let overrides = if name == main_instance { Some(&o) } else { None };
        let server = server_cost(catalog.server(name), overrides);
        if server.is_none() && overrides.is_some_and(|o| o.server_keys().iter().any(|(_, v)| v.is_some())) {
            let missing: Vec<&str> = o
                .server_keys()
                .iter()
                .filter(|(_, v)| v.is_none())
                .map(|(k, _)| *k)
                .collect();
            return Err(Error::input(
                file,
                AT,
                format!(
                    "`costs/ownership.toml` has no server `{name}` to fill in the other keys; accepted: all five server keys, missing {}",
                    missing.join(", ")
                ),
            ));
        }
        if server.is_none() && pricing == PricingMode::Own {
            return Err(no_ownership(file, name, overrides.is_some()));
        }
        ownership.push(server.map(|server| Ownership {
            server,
            rates,
            provisioned_kw: provisioned_kw(p),
        }));
    }
    let managed = match s.and_then(|s| s.managed.as_deref()) {
        Some(n) => Some(
            catalog
                .managed(n)
                .map_err(|m| Error::input(file, "cost.managed", m))?
                .clone(),
        ),
        None => catalog.managed_for_model(model).cloned(),
    };
    Ok(Costs {
        ownership,
        usd_per_kwh: rates.usd_per_kwh,
        managed,
    })
}

/// The catalog's server with the scenario's keys over it; without a catalog entry, the scenario's
/// keys if it gives all five.
fn server_cost(base: Option<&ServerCost>, over: Option<&OwnershipSection>) -> Option<ServerCost> {
    let keys = over.map(|o| o.server_keys());
    let given = |i: usize| keys.and_then(|k| k[i].1);
    let base = match base {
        Some(b) => *b,
        None if (0..5).all(|i| given(i).is_some()) => ServerCost::default(),
        None => return None,
    };
    Some(ServerCost {
        accelerators_usd: given(0).unwrap_or(base.accelerators_usd),
        host_usd: given(1).unwrap_or(base.host_usd),
        network_usd: given(2).unwrap_or(base.network_usd),
        rack_usd: given(3).unwrap_or(base.rack_usd),
        operations_usd_per_server_year: given(4).unwrap_or(base.operations_usd_per_server_year),
    })
}

/// A server's nameplate power, kW: every chip at its TDP plus every host socket at its TDP.
pub fn provisioned_kw(p: &Pool) -> f64 {
    let hw = &p.hardware;
    (hw.instance.chips as f64 * hw.chip.tdp_w + hw.host.tdp_w * hw.host.sockets.max(1) as f64) / 1e3
}

fn no_ownership(file: &Path, instance: &str, main: bool) -> Error {
    let how = if main {
        "set all five of cost.ownership.accelerators_usd, host_usd, network_usd, rack_usd and operations_usd_per_server_year"
    } else {
        "only hardware.instance takes [cost.ownership] server keys; choose a pricing mode other than own"
    };
    Error::input(
        file,
        "infrastructure.pricing",
        format!(
            "`own` needs the ownership cost of every server, and `costs/ownership.toml` has none for instance `{instance}`; accepted: an instance it lists, or {how}"
        ),
    )
}
