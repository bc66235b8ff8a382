//! Service-level objectives: latency thresholds at one percentile, and the one lookup of a
//! reported percentile in a [`Dist`]. Sweeps judge runs with them; the plan's SLO terms and a
//! scenario's per-class goodput SLO read the same percentiles.

use super::{Dist, RunResult};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The percentiles a [`Dist`] reports, in order: the only ones an SLO can name.
pub const REPORTED_PERCENTILES: [f64; 5] = [50.0, 90.0, 95.0, 99.0, 99.9];

/// The `p`th percentile of a distribution. `p` is one of [`REPORTED_PERCENTILES`]; any other
/// value reads p99.9 (callers check `p` where it is written).
pub fn percentile(d: &Dist, p: f64) -> f64 {
    if p == 50.0 {
        d.p50
    } else if p == 90.0 {
        d.p90
    } else if p == 95.0 {
        d.p95
    } else if p == 99.0 {
        d.p99
    } else {
        d.p999
    }
}

/// A service-level objective for judging runs: every threshold set must hold at `percentile`.
///
/// The serde names and defaults are those of a sweep file's `[slo]` / `[[slo]]` tables.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Slo {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default = "default_percentile")]
    pub percentile: f64,
    #[serde(default)]
    pub ttft_ms: Option<f64>,
    #[serde(default)]
    pub tpot_ms: Option<f64>,
    #[serde(default)]
    pub e2e_ms: Option<f64>,
}

fn default_percentile() -> f64 {
    99.0
}

impl Slo {
    /// A readable name: the given one, or e.g. "p99 TPOT ≤ 50 ms".
    pub fn label(&self) -> String {
        if let Some(n) = &self.name {
            return n.clone();
        }
        let p = format!("p{}", self.percentile);
        let mut parts = Vec::new();
        for (what, v) in [("TTFT", self.ttft_ms), ("TPOT", self.tpot_ms), ("E2E", self.e2e_ms)] {
            if let Some(v) = v {
                parts.push(format!("{p} {what} ≤ {} ms", v));
            }
        }
        parts.join(", ")
    }

    /// The SLO's percentile of a distribution.
    pub fn at(&self, d: &Dist) -> f64 {
        percentile(d, self.percentile)
    }

    /// Whether a run's distributions meet every threshold, with no request dropped and no
    /// unbounded queue (an overloaded run's percentiles describe its length, not a steady state).
    pub fn met_by(&self, r: &RunResult) -> bool {
        let ok = |limit: Option<f64>, d: &Dist| limit.is_none_or(|l| self.at(d) <= l);
        r.requests.completed > 0
            && r.saturation != "overloaded"
            && r.requests.dropped == 0
            && r.requests.completed == r.requests.arrived
            && ok(self.ttft_ms, &r.ttft_ms)
            && ok(self.tpot_ms, &r.tpot_ms)
            && ok(self.e2e_ms, &r.e2e_ms)
    }

    /// Whether one request meets every threshold (its TPOT is NaN when it produced one token).
    pub fn met_by_request(&self, ttft_ms: f64, tpot_ms: f64, e2e_ms: f64) -> bool {
        self.ttft_ms.is_none_or(|l| ttft_ms <= l)
            && self.tpot_ms.is_none_or(|l| tpot_ms.is_nan() || tpot_ms <= l)
            && self.e2e_ms.is_none_or(|l| e2e_ms <= l)
    }

    /// Checks a parsed SLO: a reported percentile, at least one threshold, every threshold a
    /// positive number. Errors name `file` and the key under `loc` (e.g. `slo[1].tpot_ms`).
    pub fn check(&self, file: &Path, loc: &str) -> Result<()> {
        if !REPORTED_PERCENTILES.contains(&self.percentile) {
            return Err(Error::input(
                file,
                format!("{loc}.percentile"),
                format!("{} is not reported; accepted: 50, 90, 95, 99, 99.9", self.percentile),
            ));
        }
        if self.ttft_ms.is_none() && self.tpot_ms.is_none() && self.e2e_ms.is_none() {
            return Err(Error::input(
                file,
                loc,
                "sets no threshold; give ttft_ms, tpot_ms or e2e_ms",
            ));
        }
        for (k, v) in [
            ("ttft_ms", self.ttft_ms),
            ("tpot_ms", self.tpot_ms),
            ("e2e_ms", self.e2e_ms),
        ] {
            if let Some(v) = v {
                if !(v.is_finite() && v > 0.0) {
                    return Err(Error::input(
                        file,
                        format!("{loc}.{k}"),
                        format!("must be > 0, got {v}"),
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dist() -> Dist {
        Dist {
            mean: 0.0,
            p50: 1.0,
            p90: 2.0,
            p95: 3.0,
            p99: 4.0,
            p999: 5.0,
        }
    }

    #[test]
    fn each_reported_percentile_reads_its_field() {
        let read: Vec<f64> = REPORTED_PERCENTILES.iter().map(|&p| percentile(&dist(), p)).collect();
        assert_eq!(read, [1.0, 2.0, 3.0, 4.0, 5.0]);
    }

    #[test]
    fn defaults_label_and_checks_follow_the_sweep_file() {
        let slo: Slo = toml::from_str("tpot_ms = 50.0").unwrap();
        assert_eq!(slo.percentile, 99.0);
        assert_eq!(slo.at(&dist()), 4.0);
        assert_eq!(slo.label(), "p99 TPOT ≤ 50 ms");
        assert!(slo.check(Path::new("s.toml"), "slo").is_ok());
        assert!(slo.met_by_request(1e9, 50.0, 1e9) && slo.met_by_request(1e9, f64::NAN, 1e9));
        assert!(!slo.met_by_request(0.0, 50.5, 0.0));
        let e = Slo {
            percentile: 98.0,
            ..slo.clone()
        }
        .check(Path::new("s.toml"), "slo[1]")
        .unwrap_err()
        .to_string();
        assert!(e.contains("slo[1].percentile") && e.contains("not reported"), "{e}");
        let none = Slo { tpot_ms: None, ..slo };
        let e = none.check(Path::new("s.toml"), "slo").unwrap_err().to_string();
        assert!(e.contains("sets no threshold"), "{e}");
    }
}
