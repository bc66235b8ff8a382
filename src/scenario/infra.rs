//! `[infrastructure]`: the network algorithm, Nitro, host CPU work, the front-end tier, power
//! (PUE, power cap) and the pricing mode. Every key is optional; the defaults reproduce a
//! virtualized EC2 deployment at on-demand prices with the catalog's host costs
//! (`hw-profiles/infrastructure.toml`).
//!
//! ```toml
//! [infrastructure]
//! pue = 1.0                  # facility power / IT power
//! pricing = "on-demand"      # on-demand | reserved | spot | own ([cost.ownership])
//! allreduce = "ring"         # ring | tree (the cross-instance step of TP all-reduces)
//! power_cap_w = 300.0        # per chip; default: none
//! graph_capture = true       # CUDA graphs / compiled graphs shrink host step CPU; default true
//! [infrastructure.nitro]     # overrides of hw-profiles [nitro]
//! enabled = true
//! request_latency_us = 20.0
//! [infrastructure.host]      # overrides of hw-profiles [host_software]
//! tokenize_us_per_token = 1.0
//! [infrastructure.frontend]  # an API gateway / router tier in front of the replicas
//! instance = "c7g.16xlarge"
//! count = 1
//! ```

use super::limits::MAX_FRONTEND_INSTANCES;
use crate::error::{Error, Result};
use crate::hw::nitro::{HostSoftware, Nitro};
use crate::hw::power::PowerCap;
use crate::hw::{Catalog, Hardware, Instance};
use crate::input::apply_overrides;
use crate::perf::network::AllReduceAlgorithm;
use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InfrastructureSection {
    #[serde(default)]
    pub pue: Option<f64>,
    #[serde(default)]
    pub pricing: PricingMode,
    #[serde(default)]
    pub allreduce: AllReduceAlgorithm,
    #[serde(default)]
    pub power_cap_w: Option<f64>,
    #[serde(default)]
    pub graph_capture: Option<bool>,
    #[serde(default)]
    pub nitro: Option<NitroSection>,
    #[serde(default)]
    pub host: Option<toml::Table>,
    #[serde(default)]
    pub frontend: Option<FrontendSection>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NitroSection {
    #[serde(default)]
    pub enabled: Option<bool>,
    pub request_latency_us: Option<f64>,
    pub message_latency_us: Option<f64>,
    pub host_cpu_share: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FrontendSection {
    /// A CPU instance type (`codesim hw list`, e.g. `c7g.16xlarge`).
    pub instance: String,
    #[serde(default = "one")]
    pub count: u32,
}

fn one() -> u32 {
    1
}

/// Which of an instance's prices a run pays, or `own`: the servers bought and run
/// (`[cost.ownership]`, `scenario::cost`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PricingMode {
    #[default]
    OnDemand,
    Reserved,
    Spot,
    Own,
}

impl PricingMode {
    /// The instance's rental $/hour in this mode; a missing price is an error naming the
    /// instance. Under `own` a rented tier (the front end, which has no ownership figures) pays
    /// on demand.
    pub fn usd_per_hour(self, i: &Instance, file: &Path, key: &str) -> Result<f64> {
        let (p, what) = match self {
            PricingMode::OnDemand | PricingMode::Own => {
                (Some(i.price.on_demand_usd_per_hour), "on_demand_usd_per_hour")
            }
            PricingMode::Reserved => (i.price.reserved_usd_per_hour, "reserved_usd_per_hour"),
            PricingMode::Spot => (i.price.spot_usd_per_hour, "spot_usd_per_hour"),
        };
        p.ok_or_else(|| {
            Error::input(
                file,
                key,
                format!(
                    "instance `{}` has no {what} in the catalog; set it under [hardware.instance_overrides.price] (for the main instance) or choose another pricing mode",
                    i.name
                ),
            )
        })
    }
}

/// The front-end tier, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Frontend {
    pub instance: Instance,
    pub count: u32,
    pub usd_per_hour: f64,
}

impl Frontend {
    /// Cores serving requests: vCPUs of the tier (a Graviton vCPU is a core).
    pub fn cores(&self, nitro: &Nitro) -> u32 {
        usable_cores(self.instance.host_vcpus * self.count, nitro)
    }
}

/// vCPUs left to the serving process after Nitro's share (at least one).
pub fn usable_cores(vcpus: u32, nitro: &Nitro) -> u32 {
    ((vcpus as f64 * (1.0 - nitro.host_cpu_share)).floor() as u32).max(1)
}

/// `[infrastructure]`, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Infra {
    pub pue: f64,
    pub pricing: PricingMode,
    pub allreduce: AllReduceAlgorithm,
    pub power_cap_w: Option<f64>,
    pub graph_capture: bool,
    /// Nitro as applied (all zeros when disabled).
    pub nitro: Nitro,
    pub host: HostSoftware,
    pub frontend: Option<Frontend>,
}

impl Default for Infra {
    /// Bare metal, free hosts, on-demand, no cap: what a library user building a `Scenario` by
    /// hand gets.
    fn default() -> Self {
        Infra {
            pue: 1.0,
            pricing: PricingMode::OnDemand,
            allreduce: AllReduceAlgorithm::Ring,
            power_cap_w: None,
            graph_capture: true,
            nitro: Nitro::OFF,
            host: HostSoftware::default(),
            frontend: None,
        }
    }
}

impl Infra {
    /// The power cap of a chip of `hw`, if any.
    pub fn power_cap(&self, hw: &Hardware) -> Option<PowerCap> {
        self.power_cap_w.map(|cap_w| PowerCap::new(cap_w, &hw.chip))
    }

    /// Host CPU time of one replica step, ns.
    pub fn step_cpu_ns(&self) -> f64 {
        1e3 * if self.graph_capture {
            self.host.step_cpu_us_graphs
        } else {
            self.host.step_cpu_us
        }
    }
}

fn check(file: &Path, key: &str, v: f64, min: f64, max: f64) -> Result<()> {
    if v.is_finite() && v >= min && v <= max {
        Ok(())
    } else {
        Err(Error::input(
            file,
            key,
            format!("must be in [{min}, {max}], got {}", crate::error::given(v)),
        ))
    }
}

/// Resolves `[infrastructure]` against the catalog.
pub fn resolve(s: &InfrastructureSection, catalog: &Catalog, file: &Path) -> Result<Infra> {
    let pue = s.pue.unwrap_or(1.0);
    check(file, "infrastructure.pue", pue, 1.0, 5.0)?;
    let nitro = nitro(&s.nitro.clone().unwrap_or_default(), catalog, file)?;
    let host = host_software(s.host.as_ref(), catalog, file)?;
    let frontend = match &s.frontend {
        None => None,
        Some(f) => Some(frontend(f, s.pricing, catalog, file)?),
    };
    if let Some(cap) = s.power_cap_w {
        check(file, "infrastructure.power_cap_w", cap, 1.0, 1e5)?;
    }
    Ok(Infra {
        pue,
        pricing: s.pricing,
        allreduce: s.allreduce,
        power_cap_w: s.power_cap_w,
        graph_capture: s.graph_capture.unwrap_or(true),
        nitro,
        host,
        frontend,
    })
}

/// The catalog's Nitro with the scenario's overrides, checked, or all zeros when disabled.
fn nitro(n: &NitroSection, catalog: &Catalog, file: &Path) -> Result<Nitro> {
    let mut nitro = catalog.nitro.unwrap_or(Nitro::OFF);
    if let Some(v) = n.request_latency_us {
        nitro.request_latency_us = v;
    }
    if let Some(v) = n.message_latency_us {
        nitro.message_latency_us = v;
    }
    if let Some(v) = n.host_cpu_share {
        nitro.host_cpu_share = v;
    }
    check(
        file,
        "infrastructure.nitro.request_latency_us",
        nitro.request_latency_us,
        0.0,
        1e9,
    )?;
    check(
        file,
        "infrastructure.nitro.message_latency_us",
        nitro.message_latency_us,
        0.0,
        1e9,
    )?;
    check(
        file,
        "infrastructure.nitro.host_cpu_share",
        nitro.host_cpu_share,
        0.0,
        0.99,
    )?;
    if n.enabled == Some(false) {
        nitro = Nitro::OFF;
    }
    Ok(nitro)
}

/// The catalog's host software costs with `[infrastructure.host]` applied, checked.
fn host_software(over: Option<&toml::Table>, catalog: &Catalog, file: &Path) -> Result<HostSoftware> {
    let base = catalog.host_software.unwrap_or_default();
    let host = match over {
        Some(over) => apply_overrides(&base, over, file, "infrastructure.host")?,
        None => base,
    };
    for (k, v) in [
        ("tokenize_us_per_token", host.tokenize_us_per_token),
        ("detokenize_us_per_token", host.detokenize_us_per_token),
        ("step_cpu_us", host.step_cpu_us),
        ("step_cpu_us_graphs", host.step_cpu_us_graphs),
        ("frontend_us_per_request", host.frontend_us_per_request),
    ] {
        check(file, &format!("infrastructure.host.{k}"), v, 0.0, 1e9)?;
    }
    Ok(host)
}

fn frontend(f: &FrontendSection, pricing: PricingMode, catalog: &Catalog, file: &Path) -> Result<Frontend> {
    let instance = catalog
        .instance(&f.instance)
        .map_err(|m| Error::input(file, "infrastructure.frontend.instance", m))?
        .clone();
    let chip = catalog
        .chip(&instance.chip)
        .map_err(|m| Error::input(file, "infrastructure.frontend.instance", m))?;
    if chip.kind != crate::hw::ChipKind::Cpu {
        return Err(Error::input(
            file,
            "infrastructure.frontend.instance",
            format!(
                "`{}` carries {} {} accelerators that the front-end tier (routing, tokenisation on host CPUs) would pay for and never use; accepted: a CPU instance (e.g. c8g.4xlarge, c7i.16xlarge; `codesim hw list`)",
                instance.name, instance.chips, chip.name
            ),
        ));
    }
    if f.count == 0 {
        return Err(Error::input(
            file,
            "infrastructure.frontend.count",
            "must be at least 1, got 0",
        ));
    }
    // The simulation queues requests on every vCPU of the tier.
    if f.count > MAX_FRONTEND_INSTANCES {
        return Err(Error::input(
            file,
            "infrastructure.frontend.count",
            format!(
                "{} is more than the {MAX_FRONTEND_INSTANCES} front-end instances accepted",
                f.count
            ),
        ));
    }
    let usd_per_hour = pricing.usd_per_hour(&instance, file, "infrastructure.frontend.instance")?;
    Ok(Frontend {
        instance,
        count: f.count,
        usd_per_hour,
    })
}

/// Applies the infrastructure to the resolved pools: Nitro's per-message latency joins the
/// network latency of every instance, every pool has a price in the chosen mode, and a power cap
/// sits above the chips' idle draw.
pub fn apply_to_pools(infra: &Infra, pools: &mut [super::Pool], file: &Path) -> Result<()> {
    for p in pools.iter_mut() {
        apply_to_hardware(infra, &mut p.hardware, file)?;
    }
    Ok(())
}

/// [`apply_to_pools`] for one instance type's hardware (an encode pool's too).
pub fn apply_to_hardware(infra: &Infra, hardware: &mut Hardware, file: &Path) -> Result<()> {
    hardware.instance.efa_latency_us += infra.nitro.message_latency_us;
    infra
        .pricing
        .usd_per_hour(&hardware.instance, file, "infrastructure.pricing")?;
    if let Some(cap) = infra.power_cap_w {
        if cap <= hardware.chip.idle_w {
            return Err(Error::input(
                file,
                "infrastructure.power_cap_w",
                format!(
                    "{cap} W is at or below the {} W idle draw of {}; accepted: a cap above idle",
                    hardware.chip.idle_w, hardware.chip.name
                ),
            ));
        }
    }
    Ok(())
}
