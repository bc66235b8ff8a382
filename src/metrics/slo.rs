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

/// Why a run's latency percentiles describe no steady state, or `None` when it reached one.
/// From [`RunResult::saturation`] (the rule is [`super::SaturationProbe`]'s):
///
/// - `overloaded`: over the second half of the arrival window more than 1.05 × as many requests
///   arrived as completed and the number in the system grew steadily (or the run stopped at the
///   in-system bound, or the admission limit rejected 5 % or more);
/// - `backlogged`: when the last request arrived (or the run was cut at its horizon), at least
///   max(2, 5 % of the requests) still waited for a batch slot: arrivals outpaced completions
///   and the tail percentiles include draining that queue.
///
/// A run that completed what it admitted is either only when requests really waited: queue p99
/// above the median service time, E2E p50 − queue p50 (`sim::summary`); otherwise it is `stable`.
pub fn unsteady(r: &RunResult) -> Option<&'static str> {
    match r.saturation.as_str() {
        "overloaded" => Some("overloaded: the queue grew without bound"),
        "backlogged" => Some("backlogged: arrivals outpaced completions"),
        _ => None,
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
    /// A readable name: the thresholds, e.g. "p99 TPOT ≤ 50 ms", after the given name if any
    /// ("interactive (p99 TPOT ≤ 50 ms)"), so the percentile (99 unless set: it changes which
    /// runs pass) is printed wherever the SLO is.
    pub fn label(&self) -> String {
        let p = format!("p{}", self.percentile);
        let mut parts = Vec::new();
        for (what, v) in [("TTFT", self.ttft_ms), ("TPOT", self.tpot_ms), ("E2E", self.e2e_ms)] {
            if let Some(v) = v {
                parts.push(format!("{p} {what} ≤ {} ms", v));
            }
        }
        let thresholds = parts.join(", ");
        match &self.name {
            Some(n) => format!("{n} ({thresholds})"),
            None => thresholds,
        }
    }

    /// The SLO's percentile of a distribution.
    pub fn at(&self, d: &Dist) -> f64 {
        percentile(d, self.percentile)
    }

    /// Whether a run meets the SLO: see [`Slo::miss`].
    pub fn met_by(&self, r: &RunResult) -> bool {
        self.miss(r).is_none()
    }

    /// Why a run misses the SLO, or `None` when it meets it: every request that arrived
    /// completed (none dropped, rejected or unfinished), the run reached a steady state (not
    /// backlogged, not overloaded: see [`unsteady`]), and every threshold holds at the SLO's
    /// percentile. A backlogged or overloaded run never meets an SLO, whatever its percentiles:
    /// they describe how long the run was, not a load the deployment sustains.
    pub fn miss(&self, r: &RunResult) -> Option<String> {
        let c = &r.requests;
        if c.completed == 0 {
            return Some("no request completed".into());
        }
        if let Some(why) = unsteady(r) {
            return Some(why.into());
        }
        if c.dropped > 0 {
            return Some(format!("{} requests dropped", c.dropped));
        }
        if c.completed != c.arrived {
            return Some(format!(
                "{} of {} requests did not complete",
                c.arrived - c.completed,
                c.arrived
            ));
        }
        self.threshold_miss(r)
    }

    /// The first threshold the run's percentiles break, e.g. "p99 TPOT 62.0 ms > 50 ms" (None:
    /// every threshold holds; the run may still miss the SLO, see [`Slo::miss`]).
    pub fn threshold_miss(&self, r: &RunResult) -> Option<String> {
        let p = self.percentile;
        for (what, limit, d) in [
            ("TTFT", self.ttft_ms, &r.ttft_ms),
            ("TPOT", self.tpot_ms, &r.tpot_ms),
            ("E2E", self.e2e_ms, &r.e2e_ms),
        ] {
            if let Some(l) = limit {
                let v = self.at(d);
                if v.is_nan() || v > l {
                    return Some(format!("p{p} {what} {v:.1} ms > {l} ms"));
                }
            }
        }
        None
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
                        format!("must be > 0, got {}", crate::error::given(v)),
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

    fn run(saturation: &str) -> RunResult {
        let mut r = RunResult {
            ttft_ms: dist(),
            tpot_ms: dist(),
            e2e_ms: dist(),
            saturation: saturation.into(),
            ..RunResult::default()
        };
        r.requests.arrived = 10;
        r.requests.completed = 10;
        r
    }

    /// Percentiles within the limits meet the SLO only in a steady state: a backlogged or
    /// overloaded run misses it, with the reason; so do drops and unfinished requests.
    #[test]
    fn a_backlogged_or_overloaded_run_never_meets_an_slo() {
        let slo: Slo = toml::from_str("tpot_ms = 50.0").unwrap();
        assert!(slo.met_by(&run("stable")));
        assert_eq!(slo.miss(&run("stable")), None);
        let why = slo.miss(&run("backlogged")).unwrap();
        assert!(
            why.contains("backlogged") && why.contains("arrivals outpaced completions"),
            "{why}"
        );
        assert!(slo.miss(&run("overloaded")).unwrap().contains("overloaded"));
        assert_eq!(unsteady(&run("stable")), None);
        let mut dropped = run("stable");
        dropped.requests.dropped = 1;
        assert_eq!(slo.miss(&dropped).unwrap(), "1 requests dropped");
        let mut cut = run("stable");
        cut.requests.completed = 7;
        assert_eq!(slo.miss(&cut).unwrap(), "3 of 10 requests did not complete");
        // p99 TPOT is 4 ms in `dist`: a 3 ms limit misses.
        let tight: Slo = toml::from_str("tpot_ms = 3.0").unwrap();
        assert_eq!(tight.miss(&run("stable")).unwrap(), "p99 TPOT 4.0 ms > 3 ms");
    }

    #[test]
    fn defaults_label_and_checks_follow_the_sweep_file() {
        let slo: Slo = toml::from_str("tpot_ms = 50.0").unwrap();
        assert_eq!(slo.percentile, 99.0);
        assert_eq!(slo.at(&dist()), 4.0);
        assert_eq!(slo.label(), "p99 TPOT ≤ 50 ms");
        let named = Slo {
            name: Some("interactive".into()),
            ..slo.clone()
        };
        assert_eq!(named.label(), "interactive (p99 TPOT ≤ 50 ms)");
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
