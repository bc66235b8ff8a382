//! Why a run's slowest requests were slow: the 10 slowest with their attribution, the moments
//! the TTFT target was missed and their likely cause, queue length, KV use and p99 over time,
//! and what one more replica or another routing policy would have given the slowest request.
//!
//! The target is the slowest class SLO's `ttft_ms` when the scenario sets one, else the run's
//! own TTFT p99 (so the misses are its slowest 1 %). The run is cut into [`BINS`] windows of
//! arrival time; a window with misses is an episode, and its cause is read from the misses'
//! summed TTFT attribution and the replicas' state then (`classify`).

mod cause;
pub mod counterfactual;

pub use cause::{Cause, classify};

use crate::error::Result;
use crate::metrics::RequestRow;
use crate::metrics::attribution::{Part, Parts};
use crate::scenario::Scenario;
use crate::sim::timeline::{Timeline, TimelineSpec};
use crate::sim::{RunOptions, Simulation};
use serde::Serialize;

/// Windows of arrival time the run is cut into.
pub const BINS: usize = 50;

/// One of the slowest requests.
#[derive(Debug, Clone, Serialize)]
pub struct SlowRequest {
    pub id: u64,
    pub replica: u32,
    pub class: u16,
    pub arrival_s: f64,
    pub ttft_ms: f64,
    pub e2e_ms: f64,
    pub dominant: String,
    pub ttft_parts_ms: Vec<(String, f64)>,
    pub e2e_parts_ms: Vec<(String, f64)>,
}

/// A window with requests that missed the target.
#[derive(Debug, Clone, Serialize)]
pub struct Episode {
    pub from_s: f64,
    pub to_s: f64,
    pub misses: u64,
    pub arrivals: u64,
    pub cause: Cause,
    pub why: String,
}

/// One window's state: when it starts, the queue summed over replicas, the most used KV
/// cache, the TTFT p99 of the requests that arrived in it.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Point {
    pub t_s: f64,
    pub queued: f64,
    pub kv_used_pct: f64,
    pub ttft_p99_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    pub scenario: String,
    pub requests: u64,
    pub target_ttft_ms: f64,
    pub target_source: String,
    pub misses: u64,
    /// The cause over all misses, and why.
    pub cause: Cause,
    pub why: String,
    pub slowest: Vec<SlowRequest>,
    pub episodes: Vec<Episode>,
    pub series: Vec<Point>,
    /// Per replica over the run: mean queued and the most used KV (for the plots).
    pub per_replica: cause::ReplicaSeries,
    pub counterfactual: Option<counterfactual::Counterfactual>,
    pub notes: Vec<String>,
}

/// The nearest-rank p99 of `v` (sorted here): the value the slowest 1 % are at or above;
/// `None` when `v` is empty.
pub(crate) fn p99_nearest_rank(v: &mut [f64]) -> Option<f64> {
    v.sort_by(f64::total_cmp);
    v.get(((v.len() as f64 * 0.99).ceil() as usize).saturating_sub(1))
        .copied()
}

fn parts_ms(p: &Parts) -> Vec<(String, f64)> {
    p.ms()
        .into_iter()
        .filter(|&(_, v)| v > 0.0)
        .map(|(k, v)| (k.to_string(), v))
        .collect()
}

/// Runs the scenario with its timeline and explains it; `what_if` adds the re-simulations.
pub fn explain(sc: &Scenario, what_if: bool) -> Result<Explanation> {
    let opts = RunOptions {
        keep_requests: true,
        timeline: Some(TimelineSpec {
            sample_every: u64::MAX,
            ..TimelineSpec::default()
        }),
        ..RunOptions::default()
    };
    let (result, rows, tl) = Simulation::new(sc, opts)?.run_timeline()?;
    let tl = tl.unwrap_or_default();
    // The run's p99 from its rows (the summary's is rounded to f32): the slowest 1 % are at or
    // above it.
    let mut ttft: Vec<f64> = rows.iter().map(|r| r.ttft_ms).collect();
    let p99 = p99_nearest_rank(&mut ttft).unwrap_or(result.ttft_ms.p99);
    let (target, source) = target(sc, p99);
    let mut ex = analyse(sc, &rows, &tl, target, source);
    ex.notes = result.notes.clone();
    if tl.truncated {
        ex.notes
            .push(format!("the timeline stopped at {} steps", tl.spec.max_records));
    }
    if what_if && let Some(slow) = ex.slowest.first() {
        ex.counterfactual = Some(counterfactual::run(sc, &rows, slow.id)?);
    }
    Ok(ex)
}

/// The TTFT target: the tightest class SLO on TTFT, else the run's p99.
fn target(sc: &Scenario, p99: f64) -> (f64, String) {
    let slo = sc
        .classes
        .iter()
        .filter_map(|c| c.slo.as_ref().and_then(|s| s.ttft_ms).map(|t| (t, c.name.clone())));
    match slo.min_by(|a, b| a.0.total_cmp(&b.0)) {
        Some((t, name)) => (t, format!("class `{name}` SLO")),
        None => (p99, "the run's TTFT p99 (no SLO set)".to_string()),
    }
}

/// The analysis of a finished run (its rows and timeline) against a TTFT target.
pub fn analyse(sc: &Scenario, rows: &[RequestRow], tl: &Timeline, target_ms: f64, source: String) -> Explanation {
    let mut by_ttft: Vec<&RequestRow> = rows.iter().collect();
    by_ttft.sort_by(|a, b| b.ttft_ns.cmp(&a.ttft_ns).then(a.id.cmp(&b.id)));
    let slowest = by_ttft
        .iter()
        .take(10)
        .map(|r| SlowRequest {
            id: r.id,
            replica: r.replica,
            class: r.class,
            arrival_s: r.arrival_s,
            ttft_ms: r.ttft_ms,
            e2e_ms: r.e2e_ms,
            dominant: r.ttft_parts.dominant().map_or("none", Part::name).to_string(),
            ttft_parts_ms: parts_ms(&r.ttft_parts),
            e2e_parts_ms: parts_ms(&r.e2e_parts),
        })
        .collect();
    // Against the run's own p99, requests at it count too (a batch of equal TTFTs can be it).
    let at_p99 = source.starts_with("the run's");
    let missed: Vec<&RequestRow> = rows
        .iter()
        .filter(|r| r.ttft_ms > target_ms || (at_p99 && r.ttft_ms >= target_ms))
        .collect();
    let end_s = rows
        .iter()
        .map(|r| r.arrival_s + r.e2e_ms * 1e-3)
        .fold(0.0, f64::max)
        .max(1e-9);
    let span = cause::Span::new(rows, tl, end_s);
    // The misses' own window of arrivals (a burst shows against the run's rate there).
    let from = missed.iter().map(|r| r.arrival_s).fold(f64::INFINITY, f64::min);
    let to = missed.iter().map(|r| r.arrival_s).fold(0.0, f64::max);
    let (cause, why) = classify(&missed, &span, from.min(to), to);
    let episodes = cause::episodes(rows, &missed, &span, end_s);
    let (series, per_replica) = span.series(rows);
    Explanation {
        scenario: sc.name.clone(),
        requests: rows.len() as u64,
        target_ttft_ms: target_ms,
        target_source: source,
        misses: missed.len() as u64,
        cause,
        why,
        slowest,
        episodes,
        series,
        per_replica,
        counterfactual: None,
        notes: Vec::new(),
    }
}
