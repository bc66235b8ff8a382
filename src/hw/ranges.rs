//! An instance's numbers are physical: its links' bandwidths and latencies, host memory and
//! prices finite and not negative (NaN and ±inf refused), checked when a profile is loaded and
//! again after a scenario's `instance_overrides`.

use super::Instance;
use crate::error::{Error, Result};
use std::path::Path;

/// `at` turns a key of the instance (`price.spot_usd_per_hour`) into the key path to report.
pub(crate) fn validate_instance(i: &Instance, file: &Path, at: &dyn Fn(&str) -> String) -> Result<()> {
    let u = i.ultraserver.as_ref();
    let non_negative = [
        ("efa_gbps", Some(i.efa_gbps)),
        ("efa_latency_us", Some(i.efa_latency_us)),
        ("host_memory_gib", Some(i.host_memory_gib)),
        ("host_link_gb_s", Some(i.host_link_gb_s)),
        ("ultraserver.link_gb_s", u.map(|u| u.link_gb_s)),
        ("ultraserver.link_latency_us", u.map(|u| u.link_latency_us)),
        ("price.on_demand_usd_per_hour", Some(i.price.on_demand_usd_per_hour)),
        ("price.reserved_usd_per_hour", i.price.reserved_usd_per_hour),
        ("price.spot_usd_per_hour", i.price.spot_usd_per_hour),
    ];
    for (k, v) in non_negative {
        if let Some(v) = v.filter(|v| !(v.is_finite() && *v >= 0.0)) {
            return Err(Error::input(
                file,
                at(k),
                format!("must be a finite number ≥ 0, got {}", crate::error::given(v)),
            ));
        }
    }
    Ok(())
}
