//! `[fleet.failures]` and `[fleet.spot]`: instances of an autoscaled fleet fail (a Poisson
//! process per instance at 1 / MTBF) or are reclaimed as spot capacity (a Poisson process at a
//! rate, after a notice during which the replica drains); `fleet.on_loss` says what becomes of
//! the requests on a lost replica. The mechanism lives in `sim/losses.rs`.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// AWS's spot interruption notice: two minutes (docs.aws.amazon.com/AWSEC2/latest/UserGuide/spot-instance-termination-notices.html).
pub const SPOT_NOTICE_S: f64 = 120.0;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailuresSection {
    /// Mean time between failures of one instance, hours (default: the instance profile's).
    #[serde(default)]
    pub mtbf_h: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpotSection {
    /// Reclaims per instance-hour.
    pub reclaims_per_h: f64,
    #[serde(default)]
    pub notice_s: Option<f64>,
}

/// What becomes of the requests on a lost replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnLoss {
    /// Sent to the router again (their work lost and counted).
    Retry,
    /// Ended as failed (`requests.failed`).
    Drop,
}

/// Failures and reclaims resolved: rates per instance-ns.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Losses {
    pub failures_per_instance_ns: f64,
    pub reclaims_per_instance_ns: f64,
    pub notice_ns: u64,
    pub on_loss: OnLoss,
}

/// Resolves the two sections (None when neither is set), printing the defaults taken.
pub(super) fn resolve(
    failures: Option<&FailuresSection>,
    spot: Option<&SpotSection>,
    on_loss: Option<OnLoss>,
    instance: &crate::hw::Instance,
    autoscaled: bool,
    path: &Path,
    notes: &mut Vec<String>,
) -> Result<Option<Losses>> {
    if failures.is_none() && spot.is_none() {
        return Ok(None);
    }
    if !autoscaled {
        let key = if failures.is_some() {
            "fleet.failures"
        } else {
            "fleet.spot"
        };
        return Err(Error::input(
            path,
            key,
            "is set without [fleet.autoscale], which replaces a lost replica; accepted: with [fleet.autoscale] (min_replicas = max_replicas for a fleet of fixed size)",
        ));
    }
    let failures_per_instance_ns = match failures {
        None => 0.0,
        Some(f) => {
            let mtbf_h = match (f.mtbf_h, instance.reliability.as_ref()) {
                (Some(m), _) => m,
                (None, Some(r)) => {
                    notes.push(format!(
                        "failures: an instance of `{}` fails every {} h on average (its [instance.reliability] mtbf_h; override with fleet.failures.mtbf_h)",
                        instance.name, r.mtbf_h
                    ));
                    r.mtbf_h
                }
                (None, None) => {
                    return Err(Error::input(
                        path,
                        "fleet.failures.mtbf_h",
                        format!(
                            "is missing and instance `{}` has no [instance.reliability] in its profile; accepted: hours > 0",
                            instance.name
                        ),
                    ));
                }
            };
            if !(mtbf_h.is_finite() && mtbf_h > 0.0 && mtbf_h <= 1e9) {
                return Err(Error::input(
                    path,
                    "fleet.failures.mtbf_h",
                    format!("is {mtbf_h}; accepted: hours greater than 0, at most 1e9"),
                ));
            }
            1.0 / (mtbf_h * 3600e9)
        }
    };
    let (reclaims_per_instance_ns, notice_ns) = match spot {
        None => (0.0, 0),
        Some(s) => {
            if !(s.reclaims_per_h.is_finite() && (0.0..=1e6).contains(&s.reclaims_per_h)) {
                return Err(Error::input(
                    path,
                    "fleet.spot.reclaims_per_h",
                    format!(
                        "is {}; accepted: reclaims per instance-hour from 0 to 1e6",
                        s.reclaims_per_h
                    ),
                ));
            }
            let notice = match s.notice_s {
                Some(n) if n.is_finite() && (0.0..=86_400.0).contains(&n) => n,
                Some(n) => {
                    return Err(Error::input(
                        path,
                        "fleet.spot.notice_s",
                        format!("is {n}; accepted: seconds from 0 to 86400"),
                    ));
                }
                None => {
                    notes.push(format!(
                        "spot: a reclaimed replica drains for {SPOT_NOTICE_S} s, AWS's two-minute interruption notice (default fleet.spot.notice_s)"
                    ));
                    SPOT_NOTICE_S
                }
            };
            (s.reclaims_per_h / 3600e9, (notice * 1e9).round() as u64)
        }
    };
    let on_loss = on_loss.unwrap_or_else(|| {
        notes.push("on a lost replica, requests are sent to the router again, their work lost (default fleet.on_loss = \"retry\")".into());
        OnLoss::Retry
    });
    Ok(Some(Losses {
        failures_per_instance_ns,
        reclaims_per_instance_ns,
        notice_ns,
        on_loss,
    }))
}
