//! Plots and the report of a sweep, from its manifest and run records alone (so `codesim plot DIR`
//! redraws them from the output directory).
//!
//! Series are the distinct values of the sweep's group-by axes ("configurations"); the x axis of
//! the latency curves is its offered-load axis. "Best at an SLO" is the cheapest run ($ per
//! million output tokens) whose percentile latencies meet every threshold with no request
//! dropped. Every file written is deterministic: the same records give the same bytes.

mod breakeven;
mod document;
mod html;
mod markdown;
mod plots;

use crate::sweep::exec::RunRecord;
use crate::sweep::{Manifest, SloSpec};
use crate::tomlpath::{as_f64, value_label};
use serde::{Deserialize, Serialize};

pub use document::write_report;
pub use plots::write_plots;

pub const PLOTS_DIR: &str = "plots";
pub const PLOT_INDEX: &str = "index.json";

/// One chart written: `plots/<stem>.png` and `.svg`, and the labels of its series (or bars).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlotInfo {
    pub stem: String,
    pub title: String,
    pub series: Vec<String>,
}

/// A configuration: the runs sharing the values of the group-by axes, in load order.
#[derive(Debug, Clone)]
pub struct Group {
    pub label: String,
    /// Indices into the records, sorted by x (then run index).
    pub runs: Vec<usize>,
}

/// Everything a finished sweep writes into `out`: results.parquet and .csv, then with `plots` the
/// plots and report.md/.html (`command` is the command line the report names). Returns how many
/// plots were drawn, `None` without plots.
pub fn write_all(
    out: &std::path::Path,
    m: &Manifest,
    records: &[RunRecord],
    plots: bool,
    command: &str,
) -> crate::error::Result<Option<usize>> {
    crate::sweep::table::write_results(out, m, records)?;
    if !plots {
        return Ok(None);
    }
    let infos = write_plots(out, m, records)?;
    write_report(out, m, records, &infos, command)?;
    Ok(Some(infos.len()))
}

/// The offered load of a run (the x axis value), else its achieved request rate.
fn x_of(m: &Manifest, r: &RunRecord) -> Option<f64> {
    match m.x_axis() {
        Some(a) => as_f64(&r.axes[a].1),
        None => r.ok().map(|res| res.throughput.requests_s),
    }
}

/// Configurations in order of first appearance.
pub fn groups(m: &Manifest, records: &[RunRecord]) -> Vec<Group> {
    let axes = m.group_axes();
    let mut out: Vec<Group> = Vec::new();
    for (i, r) in records.iter().enumerate() {
        let label = if axes.is_empty() {
            m.name.clone()
        } else {
            axes.iter()
                .map(|&a| value_label(&r.axes[a].1))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match out.iter_mut().find(|g| g.label == label) {
            Some(g) => g.runs.push(i),
            None => out.push(Group { label, runs: vec![i] }),
        }
    }
    for g in &mut out {
        g.runs.sort_by(|&a, &b| {
            let (xa, xb) = (x_of(m, &records[a]), x_of(m, &records[b]));
            xa.unwrap_or(f64::INFINITY)
                .total_cmp(&xb.unwrap_or(f64::INFINITY))
                .then(a.cmp(&b))
        });
    }
    out
}

/// The cheapest run among `runs` meeting `slo` (or, without an SLO, the cheapest run).
pub fn best_at(records: &[RunRecord], runs: impl IntoIterator<Item = usize>, slo: Option<&SloSpec>) -> Option<usize> {
    runs.into_iter()
        .filter(|&i| {
            records[i]
                .ok()
                .is_some_and(|r| r.requests.completed > 0 && slo.is_none_or(|s| s.met_by(r)))
        })
        .min_by(|&a, &b| {
            let c = |i: usize| records[i].ok().map_or(f64::INFINITY, |r| r.cost.usd_per_mtok_output);
            c(a).total_cmp(&c(b)).then(a.cmp(&b))
        })
}
