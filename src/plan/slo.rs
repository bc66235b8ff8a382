//! The SLO: its thresholds, how a run and a request are judged against them, and the `[slo]`
//! table they are read from.

use super::file::positive;
use super::fmt;
use crate::error::{Error, Result};
use crate::metrics::{Dist, RunResult};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// One SLO threshold: the `percentile` of `metric` at most `limit_ms`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SloTerm {
    pub metric: String,
    pub percentile: f64,
    pub limit_ms: f64,
}

impl SloTerm {
    pub fn label(&self) -> String {
        format!(
            "p{} {} ≤ {} ms",
            fmt(self.percentile),
            self.metric.to_uppercase(),
            fmt(self.limit_ms)
        )
    }
    /// The term's percentile of the run's distribution of its metric.
    pub fn achieved(&self, r: &RunResult) -> f64 {
        let d: &Dist = match self.metric.as_str() {
            "ttft" => &r.ttft_ms,
            "tpot" => &r.tpot_ms,
            _ => &r.e2e_ms,
        };
        crate::metrics::slo::percentile(d, self.percentile)
    }
}

/// Every threshold, and the fraction of requests that must meet all of them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanSlo {
    pub terms: Vec<SloTerm>,
    pub min_goodput: f64,
    /// `min_goodput` was not set: the default applies (and the reports say so).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub min_goodput_default: bool,
}

impl PlanSlo {
    pub fn label(&self) -> String {
        let mut parts: Vec<String> = self.terms.iter().map(SloTerm::label).collect();
        if self.min_goodput_default {
            parts.push(format!(
                "goodput ≥ {} % (min_goodput {} (default; set [slo] min_goodput))",
                fmt(self.min_goodput * 100.0),
                fmt(self.min_goodput)
            ));
        } else {
            parts.push(format!("goodput ≥ {} %", fmt(self.min_goodput * 100.0)));
        }
        parts.join(", ")
    }
    /// Every limit × `k` (k > 1 is looser).
    pub fn scaled(&self, k: f64) -> PlanSlo {
        let mut s = self.clone();
        for t in &mut s.terms {
            t.limit_ms *= k;
        }
        s
    }
    pub(super) fn request_ok(&self, ttft: f64, tpot: f64, e2e: f64) -> bool {
        self.terms.iter().all(|t| {
            let v = match t.metric.as_str() {
                "ttft" => ttft,
                "tpot" => tpot,
                _ => e2e,
            };
            v.is_nan() && t.metric == "tpot" || v <= t.limit_ms
        })
    }
}

/// The goodput a plan asks for when `[slo] min_goodput` is unset (an answer-changing default:
/// every report prints it).
pub const DEFAULT_MIN_GOODPUT: f64 = 0.99;

pub(super) fn parse_slo(t: &toml::Table, path: &Path) -> Result<PlanSlo> {
    let mut terms = Vec::new();
    let mut min_goodput = DEFAULT_MIN_GOODPUT;
    let min_goodput_default = !t.contains_key("min_goodput");
    for (k, v) in t {
        let loc = format!("slo.{k}");
        let num = match v {
            toml::Value::Float(f) => *f,
            toml::Value::Integer(i) => *i as f64,
            other => {
                return Err(Error::input(
                    path,
                    loc,
                    format!("expected a number, got a {}", other.type_str()),
                ));
            }
        };
        if k == "min_goodput" {
            if !(num > 0.0 && num <= 1.0) {
                return Err(Error::input(path, loc, format!("must be in (0, 1], got {num}")));
            }
            min_goodput = num;
            continue;
        }
        let bad = || {
            Error::input(
                path,
                &loc,
                "is not an SLO key; accepted: <metric>_p<percentile>_ms with metric ttft, tpot or e2e and percentile 50, 90, 95, 99 or 999 (e.g. ttft_p95_ms), and min_goodput",
            )
        };
        let rest = k.strip_suffix("_ms").ok_or_else(bad)?;
        let (metric, p) = rest.split_once("_p").ok_or_else(bad)?;
        if !["ttft", "tpot", "e2e"].contains(&metric) {
            return Err(bad());
        }
        let percentile = match p {
            "50" => 50.0,
            "90" => 90.0,
            "95" => 95.0,
            "99" => 99.0,
            "999" | "99.9" => 99.9,
            _ => return Err(bad()),
        };
        positive(path, &loc, num)?;
        terms.push(SloTerm {
            metric: metric.into(),
            percentile,
            limit_ms: num,
        });
    }
    let rank = |m: &str| ["ttft", "tpot", "e2e"].iter().position(|x| *x == m);
    terms.sort_by(|a, b| {
        rank(&a.metric)
            .cmp(&rank(&b.metric))
            .then(a.percentile.total_cmp(&b.percentile))
    });
    if terms.is_empty() {
        return Err(Error::input(
            path,
            "slo",
            "sets no threshold; give e.g. ttft_p95_ms = 2000.0 and tpot_p99_ms = 100.0",
        ));
    }
    Ok(PlanSlo {
        terms,
        min_goodput,
        min_goodput_default,
    })
}
