//! `[fleet.purchase]`: how an autoscaled fleet's capacity is bought — a reserved base (the first
//! `reserved` replicas, paid every second of the run whether they serve or not, and never scaled
//! below), and above it on-demand and spot replicas in a fixed share. The mechanism (which
//! replica is which, what each part costs) lives in `sim/purchase.rs`.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// `[fleet.purchase]` as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PurchaseSection {
    /// Replicas bought reserved: the first `reserved` replicas, always provisioned.
    #[serde(default)]
    pub reserved: Option<u32>,
    /// Share of the replicas above the reserved base launched as spot, in [0, 1].
    #[serde(default)]
    pub spot_share: Option<f64>,
}

/// `[fleet.purchase]` resolved: the base, the spot share and the three prices of one instance.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Purchase {
    pub reserved: u32,
    pub spot_share: f64,
    pub reserved_usd_per_hour: f64,
    pub on_demand_usd_per_hour: f64,
    pub spot_usd_per_hour: f64,
}

impl Purchase {
    /// Whether replica `i` is a spot replica. Replica R + j above the reserved base R is spot
    /// when ⌊(j + 1)·s⌋ > ⌊j·s⌋, so among the first m replicas above the base exactly ⌊m·s⌋ are
    /// spot (the share is exact by index; 1e-9 absorbs the binary rounding of a decimal share).
    pub fn is_spot(&self, i: u32) -> bool {
        if i < self.reserved || self.spot_share <= 0.0 {
            return false;
        }
        let j = (i - self.reserved) as f64;
        let floor = |x: f64| (x + 1e-9).floor();
        floor((j + 1.0) * self.spot_share) > floor(j * self.spot_share)
    }

    /// An instance's price per hour in part `k` (0 reserved, 1 on demand, 2 spot).
    pub fn usd_per_hour(&self) -> [f64; 3] {
        [
            self.reserved_usd_per_hour,
            self.on_demand_usd_per_hour,
            self.spot_usd_per_hour,
        ]
    }
}

/// Resolves `[fleet.purchase]` against the instance's prices and the autoscaler, whose
/// `min_replicas` rises to the reserved base (printed).
pub(super) fn resolve(
    s: &PurchaseSection,
    autoscale: Option<&mut super::autoscale::Autoscale>,
    initial_replicas: u32,
    instance: &crate::hw::Instance,
    path: &Path,
    notes: &mut Vec<String>,
) -> Result<Purchase> {
    let Some(a) = autoscale else {
        return Err(Error::input(
            path,
            "fleet.purchase",
            "is set without [fleet.autoscale], whose replicas it buys; accepted: with [fleet.autoscale] (min_replicas = max_replicas for a fleet of fixed size)",
        ));
    };
    let reserved = s.reserved.unwrap_or_else(|| {
        notes.push("purchase: no reserved base (default fleet.purchase.reserved = 0)".into());
        0
    });
    if reserved > a.max_replicas || reserved > initial_replicas {
        return Err(Error::input(
            path,
            "fleet.purchase.reserved",
            format!(
                "is {reserved}; accepted: at most deployment.replicas ({initial_replicas}, the fleet at the start, since the reserved replicas are always provisioned) and at most fleet.autoscale.max_replicas ({})",
                a.max_replicas
            ),
        ));
    }
    let spot_share = match s.spot_share {
        Some(x) if x.is_finite() && (0.0..=1.0).contains(&x) => x,
        Some(x) => {
            return Err(Error::input(
                path,
                "fleet.purchase.spot_share",
                format!("is {x}; accepted: a share from 0 to 1 of the replicas above the reserved base"),
            ));
        }
        None => {
            notes.push("purchase: no spot replicas (default fleet.purchase.spot_share = 0)".into());
            0.0
        }
    };
    let price = |p: Option<f64>, key: &str, what: &str| match p {
        Some(v) => Ok(v),
        None => Err(Error::input(
            path,
            key,
            format!(
                "needs {what} capacity, but instance `{}` has no price.{what}_usd_per_hour in its profile; accepted: an instance whose profile has it, or 0 here",
                instance.name
            ),
        )),
    };
    let reserved_usd_per_hour = if reserved > 0 {
        price(
            instance.price.reserved_usd_per_hour,
            "fleet.purchase.reserved",
            "reserved",
        )?
    } else {
        instance.price.reserved_usd_per_hour.unwrap_or(0.0)
    };
    let spot_usd_per_hour = if spot_share > 0.0 {
        price(instance.price.spot_usd_per_hour, "fleet.purchase.spot_share", "spot")?
    } else {
        instance.price.spot_usd_per_hour.unwrap_or(0.0)
    };
    if a.min_replicas < reserved {
        notes.push(format!(
            "purchase: the autoscaler keeps at least the {reserved} reserved replicas (fleet.autoscale.min_replicas {} raised to fleet.purchase.reserved)",
            a.min_replicas
        ));
        a.min_replicas = reserved;
    }
    notes.push(format!(
        "purchase: replicas 0..{reserved} reserved at ${reserved_usd_per_hour}/instance-hour, paid for the whole run; above them, replica {reserved} + j is spot at ${spot_usd_per_hour}/h when floor((j+1)·{spot_share}) > floor(j·{spot_share}) (an exact share by index), else on demand at ${}/h; spot and on-demand replicas pack into instances of their own kind; this mix prices the pool",
        instance.price.on_demand_usd_per_hour
    ));
    Ok(Purchase {
        reserved,
        spot_share,
        reserved_usd_per_hour,
        on_demand_usd_per_hour: instance.price.on_demand_usd_per_hour,
        spot_usd_per_hour,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mix(reserved: u32, spot_share: f64) -> Purchase {
        Purchase {
            reserved,
            spot_share,
            reserved_usd_per_hour: 1.0,
            on_demand_usd_per_hour: 2.0,
            spot_usd_per_hour: 0.5,
        }
    }

    /// Among the first m replicas above the base, exactly floor(m·s) are spot, for every m.
    #[test]
    fn the_spot_share_is_exact_by_index() {
        for (r, s) in [(0, 0.25), (3, 0.29), (2, 0.5), (1, 0.7), (4, 1.0), (2, 0.0), (0, 0.1)] {
            let p = mix(r, s);
            assert!((0..r).all(|i| !p.is_spot(i)), "a reserved replica is never spot");
            let mut spot = 0;
            for m in 1..=200u32 {
                spot += p.is_spot(r + m - 1) as u32;
                assert_eq!(spot, (m as f64 * s + 1e-9).floor() as u32, "r {r} s {s} m {m}");
            }
        }
        // s = 0.25: replicas R+3, R+7, … are spot (j = 3: floor(1.0) = 1 > floor(0.75) = 0).
        let p = mix(2, 0.25);
        let spot: Vec<u32> = (0..12).filter(|&i| p.is_spot(i)).collect();
        assert_eq!(spot, vec![5, 9]);
    }
}
