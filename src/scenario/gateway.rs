//! `[gateway]`: admission and flow control in front of the router (`serve::gateway`), its
//! TOML section and validation.

use super::WorkloadClass;
use crate::engine::MAX_SIM_S;
use crate::error::{Error, Result, given};
use crate::serve::gateway::{GatewayOrder, GatewaySpec, Saturation};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// `[gateway]` as written. Every key is optional; a section must set at least one.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewaySection {
    /// Token bucket refill rate (requests per second); needs `burst`.
    #[serde(default)]
    pub rate_per_s: Option<f64>,
    /// Token bucket size (requests admitted at once from a full bucket); needs `rate_per_s`.
    #[serde(default)]
    pub burst: Option<u32>,
    /// Requests the gateway queue holds; beyond it the lowest-priority request is shed.
    #[serde(default)]
    pub max_queue: Option<u32>,
    /// `fifo` (default), `priority` or `deadline` (arrival + class TTFT SLO, earliest first).
    #[serde(default)]
    pub order: Option<GatewayOrder>,
    /// Classes of this priority number or higher are shed instead of waiting in the queue.
    #[serde(default)]
    pub sheddable_priority: Option<u32>,
    /// Seconds a request may wait in the gateway queue before it is timed out.
    #[serde(default)]
    pub queue_timeout_s: Option<f64>,
    /// Seconds after sending when the client gives up: the request is cancelled wherever it is
    /// (gateway, replica queue, running: its KV freed).
    #[serde(default)]
    pub client_timeout_s: Option<f64>,
    /// Hold requests while every replica has at least this many waiting requests.
    #[serde(default)]
    pub saturation_queue_depth: Option<u32>,
    /// Hold requests while every replica uses at least this fraction of its KV blocks.
    #[serde(default)]
    pub saturation_kv_fraction: Option<f64>,
}

fn seconds_ns(path: &Path, key: &str, v: Option<f64>) -> Result<Option<u64>> {
    let Some(v) = v else { return Ok(None) };
    if !(v.is_finite() && v > 0.0 && v <= MAX_SIM_S) {
        return Err(Error::input(
            path,
            format!("gateway.{key}"),
            format!("must be a number of seconds > 0 and ≤ {MAX_SIM_S:e}, got {}", given(v)),
        ));
    }
    Ok(Some(((v * 1e9).round() as u64).max(1)))
}

fn at_least_one(path: &Path, key: &str, v: Option<u32>) -> Result<()> {
    if v == Some(0) {
        return Err(Error::input(
            path,
            format!("gateway.{key}"),
            "must be at least 1, got 0",
        ));
    }
    Ok(())
}

/// Checks `[gateway]` and resolves it. `static_batching`: a static batch cannot lose a member
/// mid-batch, so client cancellation is refused there.
pub fn resolve(
    g: Option<&GatewaySection>,
    classes: &[WorkloadClass],
    static_batching: bool,
    path: &Path,
) -> Result<Option<GatewaySpec>> {
    let Some(g) = g else { return Ok(None) };
    if *g == GatewaySection::default() {
        return Err(Error::input(
            path,
            "gateway",
            "sets no key, so it would do nothing: set rate_per_s and burst, max_queue, order, sheddable_priority, queue_timeout_s, client_timeout_s, saturation_queue_depth or saturation_kv_fraction, or remove [gateway]",
        ));
    }
    let bucket = match (g.rate_per_s, g.burst) {
        (None, None) => None,
        (Some(r), Some(b)) => {
            if !(r.is_finite() && r > 0.0 && r <= 1e9) {
                return Err(Error::input(
                    path,
                    "gateway.rate_per_s",
                    format!("must be a rate in requests per second > 0 and ≤ 1e9, got {}", given(r)),
                ));
            }
            at_least_one(path, "burst", Some(b))?;
            Some((r, b))
        }
        (Some(_), None) => {
            return Err(Error::input(
                path,
                "gateway.burst",
                "is missing: a token bucket needs rate_per_s and burst (the requests a full bucket admits at once, at least 1)",
            ));
        }
        (None, Some(_)) => {
            return Err(Error::input(
                path,
                "gateway.rate_per_s",
                "is missing: a token bucket needs rate_per_s (its refill rate, requests per second) and burst",
            ));
        }
    };
    at_least_one(path, "max_queue", g.max_queue)?;
    at_least_one(path, "saturation_queue_depth", g.saturation_queue_depth)?;
    if let Some(f) = g.saturation_kv_fraction
        && !(f.is_finite() && f > 0.0 && f <= 1.0)
    {
        return Err(Error::input(
            path,
            "gateway.saturation_kv_fraction",
            format!("must be a fraction in (0, 1], got {}", given(f)),
        ));
    }
    let order = g.order.unwrap_or_default();
    if order == GatewayOrder::Deadline && classes.iter().all(|c| c.slo.as_ref().and_then(|s| s.ttft_ms).is_none()) {
        return Err(Error::input(
            path,
            "gateway.order",
            "is \"deadline\" but no class has a TTFT SLO (slo.ttft_ms or workload.classes[].slo.ttft_ms), so every deadline would be the same: set one, or use \"fifo\" or \"priority\"",
        ));
    }
    let client_timeout_ns = seconds_ns(path, "client_timeout_s", g.client_timeout_s)?;
    if client_timeout_ns.is_some() && static_batching {
        return Err(Error::input(
            path,
            "gateway.client_timeout_s",
            "cannot be used with serving.scheduler = \"static\": a static batch runs until its last member ends and cannot drop a cancelled one; use continuous or chunked batching",
        ));
    }
    let saturation = (g.saturation_queue_depth.is_some() || g.saturation_kv_fraction.is_some()).then_some(Saturation {
        queue_depth: g.saturation_queue_depth,
        kv_fraction: g.saturation_kv_fraction,
    });
    Ok(Some(GatewaySpec {
        bucket,
        max_queue: g.max_queue,
        order,
        sheddable_priority: g.sheddable_priority,
        queue_timeout_ns: seconds_ns(path, "queue_timeout_s", g.queue_timeout_s)?,
        client_timeout_ns,
        saturation,
    }))
}
