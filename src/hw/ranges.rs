//! An instance's numbers are physical: its links' bandwidths and latencies, host memory and
//! prices finite and not negative (NaN and ±inf refused), checked when a profile is loaded and
//! again after a scenario's `instance_overrides`.

use super::{BucketList, Chip, Instance};
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

/// The chip's other numbers are physical: finite, latencies, overheads, bandwidths and peaks
/// not negative, idle power within [0, TDP], the KV-read efficiency a fraction of the bandwidth.
pub(super) fn check_ranges(c: &Chip, file: &Path) -> Result<()> {
    let at = |k: &str| format!("chip `{}`.{k}", c.name);
    let e = &c.efficiency;
    let p = &c.peak_tflops;
    let non_negative = [
        ("sram_mib", Some(c.sram_mib)),
        ("link.bandwidth_gb_s", Some(c.link.bandwidth_gb_s)),
        ("link.latency_us", Some(c.link.latency_us)),
        ("efficiency.compute_half_tokens", Some(e.compute_half_tokens)),
        ("efficiency.attention_score_bytes", Some(e.attention_score_bytes)),
        ("efficiency.step_overhead_us", Some(e.step_overhead_us)),
        ("efficiency.layer_overhead_us", Some(e.layer_overhead_us)),
        ("efficiency.collective_latency_us", Some(e.collective_latency_us)),
        ("efficiency.thread_half_cores", Some(e.thread_half_cores)),
        ("efficiency.core_bandwidth_gb_s", Some(e.core_bandwidth_gb_s)),
        ("efficiency.graph_launch_us", Some(e.graph_launch_us)),
        ("efficiency.eager_launch_us", Some(e.eager_launch_us)),
        ("efficiency.kernels_per_layer", Some(e.kernels_per_layer)),
        ("efficiency.sampling_us", Some(e.sampling_us)),
        ("efficiency.host_sync_us", Some(e.host_sync_us)),
    ];
    let peaks = p.entries().map(|(d, v)| (format!("peak_tflops.{d}"), v));
    let others = non_negative.into_iter().map(|(k, v)| (k.to_string(), v));
    for (k, v) in others.chain(peaks) {
        if let Some(v) = v.filter(|v| !(v.is_finite() && *v >= 0.0)) {
            return Err(Error::input(
                file,
                at(&k),
                format!("must be a finite number ≥ 0, got {}", crate::error::given(v)),
            ));
        }
    }
    if !(c.idle_w.is_finite() && (0.0..=c.tdp_w).contains(&c.idle_w)) {
        return Err(Error::input(
            file,
            at("idle_w"),
            format!("must be within [0, tdp_w = {} W], got {}", c.tdp_w, c.idle_w),
        ));
    }
    if let Some(v) = e.kv_memory.filter(|v| !(v.is_finite() && *v > 0.0 && *v <= 1.0)) {
        return Err(Error::input(
            file,
            at("efficiency.kv_memory"),
            format!(
                "is a fraction of the HBM bandwidth: must be in (0, 1], got {}",
                crate::error::given(v)
            ),
        ));
    }
    Ok(())
}

/// Every `[chip.power]` fraction is in [0, 1]: a phase draws between idle and TDP.
pub(super) fn check_power(c: &Chip, file: &Path) -> Result<()> {
    for (k, v) in c.power.entries() {
        if let Some(v) = v.filter(|v| !(v.is_finite() && (0.0..=1.0).contains(v))) {
            return Err(Error::input(
                file,
                format!("chip `{}`.power.{k}", c.name),
                format!(
                    "is a fraction of the dynamic range (TDP − idle): must be in [0, 1], got {}",
                    crate::error::given(v)
                ),
            ));
        }
    }
    Ok(())
}

/// Bucket lists are non-empty and strictly increasing token counts ≥ 1; KV blocks hold a token.
pub(super) fn check_shapes(c: &Chip, file: &Path) -> Result<()> {
    let at = |k: &str| format!("chip `{}`.efficiency.{k}", c.name);
    let e = &c.efficiency;
    for (k, list) in [
        ("context_buckets", &e.context_buckets),
        ("token_buckets", &e.token_buckets),
    ] {
        let Some(BucketList::Tokens(v)) = list else {
            continue;
        };
        let increasing = v.windows(2).all(|w| w[0] < w[1]);
        if v.is_empty() || v[0] == 0 || !increasing {
            return Err(Error::input(
                file,
                at(k),
                format!(
                    "must be \"pow2\", \"none\" or a non-empty list of strictly increasing token counts ≥ 1, got {v:?}"
                ),
            ));
        }
    }
    if e.kv_block_tokens == 0 {
        return Err(Error::input(
            file,
            at("kv_block_tokens"),
            "must be at least 1 (tokens per KV block)",
        ));
    }
    if e.bucket_min_tokens == 0 {
        return Err(Error::input(file, at("bucket_min_tokens"), "must be at least 1"));
    }
    Ok(())
}
