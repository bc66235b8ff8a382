//! Plots and the report of a sweep, from its manifest and run records alone (so `codesim plot DIR`
//! redraws them from the output directory).
//!
//! Series are the distinct values of the sweep's group-by axes ("configurations"), each with one
//! palette slot (its colour in every chart of the report); the x axis of the latency curves is
//! the axis swept. "Best at an SLO" is the cheapest run ($ per million output tokens) whose
//! percentile latencies meet every threshold with no request dropped, in a steady state: a
//! backlogged or overloaded run is marked wherever it appears (a ⚠ in tables, a hollow crossed
//! marker in plots) and is never a winner nor on a Pareto frontier. Every file written is
//! deterministic: the same records give the same bytes.

mod breakeven;
mod document;
mod html;
mod markdown;
mod plots;

use crate::metrics::slo::unsteady;
use crate::numfmt::sig4 as fmt_num;
use crate::report::plot::Hotspot;
use crate::sweep::exec::RunRecord;
use crate::sweep::{Manifest, SloSpec};
use crate::tomlpath::{as_f64, value_label};
use serde::{Deserialize, Serialize};

pub use document::write_report;
pub use plots::write_plots;

pub const PLOTS_DIR: &str = "plots";
pub const PLOT_INDEX: &str = "index.json";

/// One chart written: `plots/<stem>.png` and `.svg`, the labels of its series (or bars), and
/// where its points with a hover text landed in the SVG (for the interactive report).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlotInfo {
    pub stem: String,
    pub title: String,
    pub series: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hotspots: Vec<Hotspot>,
}

/// A configuration: the runs sharing the values of the group-by axes, in load order.
#[derive(Debug, Clone)]
pub struct Group {
    /// The values of the group-by axes: what identifies the configuration.
    pub label: String,
    /// The label with the fleet of its runs, e.g. "p5 fp8 2×TP4 (1 × p5.48xlarge)".
    pub display: String,
    /// Its palette slot: its position among the configurations, the same in every chart.
    pub slot: usize,
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

/// The marker of a backlogged or overloaded run in tables.
pub const UNSTABLE_MARK: &str = "⚠";

/// Why run `rec` is not a steady state (backlogged or overloaded), if it is not.
pub fn unstable(rec: &RunRecord) -> Option<&'static str> {
    rec.ok().and_then(unsteady)
}

/// A run's id, with the unstable marker when it is not a steady state.
pub fn marked_id(rec: &RunRecord) -> String {
    match unstable(rec) {
        Some(_) => format!("{} {UNSTABLE_MARK}", rec.id),
        None => rec.id.clone(),
    }
}

/// A readable title for a swept key: what the axis counts, with its unit.
pub fn axis_title(key: &str) -> String {
    match key {
        "workload.arrival.rate_per_s" => "rate (req/s)".into(),
        "workload.arrival.clients" => "concurrent clients".into(),
        "deployment.replicas" => "replicas".into(),
        "deployment.tp" => "tensor-parallel ranks (TP)".into(),
        "deployment.pp" => "pipeline stages (PP)".into(),
        "deployment.ep" => "expert-parallel ranks (EP)".into(),
        "serving.max_batch" => "max batch (sequences)".into(),
        "serving.max_batched_tokens" => "token budget per step (tokens)".into(),
        "workload.requests" => "requests".into(),
        "workload.rate_per_s" => "trace rate (req/s)".into(),
        k => {
            let last = k.rsplit('.').next().unwrap_or(k).trim_start_matches('_');
            if !k.contains('.') {
                last.replace('_', " ")
            } else {
                format!("{} ({k})", last.replace('_', " "))
            }
        }
    }
}

/// The instance type of run `rec`: its `hardware.instance` axis value, else the base's.
fn instance_of(m: &Manifest, rec: &RunRecord) -> Option<String> {
    if let Some((_, v)) = rec.axes.iter().find(|(k, _)| k == "hardware.instance") {
        return v.as_str().map(String::from);
    }
    m.base
        .get("hardware")
        .and_then(|h| h.get("instance"))
        .and_then(|v| v.as_str())
        .map(String::from)
}

/// The fleet of a run, e.g. "2 × p5.48xlarge", or "2 instances" without one instance type.
fn fleet_of(m: &Manifest, rec: &RunRecord) -> Option<String> {
    let n = rec.ok()?.cost.instances;
    Some(match instance_of(m, rec) {
        Some(t) => format!("{n} × {t}"),
        None => format!("{n} instance{}", if n == 1 { "" } else { "s" }),
    })
}

/// The fleet every run that ran shares, if they all share one (then labels leave it out and
/// titles say it once).
pub fn common_fleet(m: &Manifest, records: &[RunRecord]) -> Option<String> {
    let mut fleets = records.iter().filter_map(|r| fleet_of(m, r));
    let first = fleets.next()?;
    fleets.all(|f| f == first).then_some(first)
}

/// What the charts' titles name: the sweep, and the fleet when every run shares one.
pub fn subject(m: &Manifest, records: &[RunRecord]) -> String {
    match common_fleet(m, records) {
        Some(f) => format!("{}, each run on {f}", m.name),
        None => m.name.clone(),
    }
}

/// A group's label with its fleet when every run that ran shares one (else with the range of
/// instance counts).
fn display_label(m: &Manifest, records: &[RunRecord], label: &str, runs: &[usize]) -> String {
    let counts: Vec<u32> = runs
        .iter()
        .filter_map(|&i| records[i].ok().map(|r| r.cost.instances))
        .collect();
    let (Some(lo), Some(hi)) = (counts.iter().min(), counts.iter().max()) else {
        return label.to_string();
    };
    if lo == hi {
        let fleet = runs.iter().find_map(|&i| fleet_of(m, &records[i])).unwrap_or_default();
        format!("{label} ({fleet})")
    } else {
        format!("{label} ({lo}–{hi} instances)")
    }
}

/// What the interactive report shows on hover over run `i`: the run, its configuration and fleet,
/// the swept values and the headline figures, and whether it is unstable.
pub fn tip(m: &Manifest, records: &[RunRecord], i: usize, group: &str) -> String {
    let rec = &records[i];
    let mut lines = vec![format!("run {} · {group}", rec.id)];
    if let Some(f) = fleet_of(m, rec) {
        lines.push(format!("fleet: {f}"));
    }
    if let Some(a) = m.x_axis() {
        lines.push(format!(
            "{}: {}",
            axis_title(&m.axes[a].key),
            value_label(&rec.axes[a].1)
        ));
    }
    if let Some(r) = rec.ok() {
        lines.push(format!(
            "TTFT p50 {} / p99 {} ms · TPOT p50 {} / p99 {} ms",
            fmt_num(r.ttft_ms.p50),
            fmt_num(r.ttft_ms.p99),
            fmt_num(r.tpot_ms.p50),
            fmt_num(r.tpot_ms.p99)
        ));
        lines.push(format!(
            "${}/M output tok · {} output tok/s",
            fmt_num(r.cost.usd_per_mtok_output),
            fmt_num(r.throughput.output_tok_s)
        ));
    }
    if let Some(why) = unstable(rec) {
        lines.push(format!("{UNSTABLE_MARK} {why}"));
    }
    lines.join("\n")
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
            None => out.push(Group {
                display: label.clone(),
                label,
                slot: out.len(),
                runs: vec![i],
            }),
        }
    }
    let common = common_fleet(m, records).is_some();
    for g in &mut out {
        if !common {
            g.display = display_label(m, records, &g.label, &g.runs);
        }
        g.runs.sort_by(|&a, &b| {
            let (xa, xb) = (x_of(m, &records[a]), x_of(m, &records[b]));
            xa.unwrap_or(f64::INFINITY)
                .total_cmp(&xb.unwrap_or(f64::INFINITY))
                .then(a.cmp(&b))
        });
    }
    out
}

/// The cheapest run among `runs` meeting `slo` (or, without an SLO, the cheapest steady run).
pub fn best_at(records: &[RunRecord], runs: impl IntoIterator<Item = usize>, slo: Option<&SloSpec>) -> Option<usize> {
    runs.into_iter()
        .filter(|&i| {
            records[i]
                .ok()
                .is_some_and(|r| r.requests.completed > 0 && unsteady(r).is_none() && slo.is_none_or(|s| s.met_by(r)))
        })
        .min_by(|&a, &b| {
            let c = |i: usize| records[i].ok().map_or(f64::INFINITY, |r| r.cost.usd_per_mtok_output);
            c(a).total_cmp(&c(b)).then(a.cmp(&b))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::RunResult;
    use crate::sweep::exec::RunStatus;

    /// A record of a run at `rate` costing `usd` per million output tokens, with TPOT p99 `tpot`.
    fn record(i: usize, rate: f64, usd: f64, tpot: f64, saturation: &str) -> RunRecord {
        let mut r = RunResult::default();
        r.requests.arrived = 10;
        r.requests.completed = 10;
        r.cost.usd_per_mtok_output = usd;
        r.cost.instances = 2;
        r.tpot_ms.p99 = tpot;
        r.saturation = saturation.into();
        RunRecord {
            id: format!("r{i:04}"),
            index: i,
            axes: vec![("workload.arrival.rate_per_s".into(), toml::Value::Float(rate))],
            status: RunStatus::Ok,
            reason: None,
            seed: Some(1),
            goodput: None,
            result: Some(r),
            cdf: None,
            key: String::new(),
        }
    }

    fn manifest(slo: bool) -> Manifest {
        let text = format!(
            "name = \"t\"\n[axes]\n\"workload.arrival.rate_per_s\" = [1.0, 2.0]\n{}[base]\n[base.hardware]\ninstance = \"p5.48xlarge\"\n[base.model]\nname = \"llama-3.2-1b\"\n[base.workload]\nrequests = 10\narrival = {{ kind = \"poisson\", rate_per_s = 1.0 }}\n",
            if slo { "[[slo]]\ntpot_ms = 50.0\n" } else { "" }
        );
        crate::sweep::load_str(&text, std::path::Path::new("t.toml"))
            .unwrap()
            .manifest
    }

    #[test]
    fn an_overloaded_run_is_never_best_is_marked_and_titles_say_the_fleet_once() {
        // The overloaded run is the cheaper one and within the SLO's threshold.
        let records = vec![
            record(0, 1.0, 9.0, 20.0, "stable"),
            record(1, 2.0, 3.0, 30.0, "overloaded"),
        ];
        for slo in [false, true] {
            let m = manifest(slo);
            assert_eq!(best_at(&records, 0..2, m.primary_slo()), Some(0), "slo: {slo}");
        }
        assert_eq!(marked_id(&records[1]), "r0001 ⚠");
        assert_eq!(marked_id(&records[0]), "r0000");
        let m = manifest(true);
        assert_eq!(subject(&m, &records), "t, each run on 2 × p5.48xlarge");
        let t = tip(&m, &records, 1, "g");
        assert!(
            t.starts_with("run r0001 · g\nfleet: 2 × p5.48xlarge\nrate (req/s): 2\n"),
            "{t}"
        );
        assert!(t.ends_with("⚠ overloaded: the queue grew without bound"), "{t}");

        // On the cost chart the overloaded run is drawn (hollow, crossed) but off the frontier,
        // which holds the one steady run.
        let c = plots::cost_chart(&m, &records, &groups(&m, &records));
        let g = &c.series[0];
        assert_eq!(g.points, vec![(20.0, 9.0), (30.0, 3.0)]);
        assert_eq!(g.unstable, vec![false, true]);
        let front = c.series.last().unwrap();
        assert!(front.label.starts_with("Pareto frontier"));
        assert_eq!(front.points, vec![(20.0, 9.0)]);
    }

    #[test]
    fn axis_titles_name_what_was_swept() {
        assert_eq!(axis_title("deployment.replicas"), "replicas");
        assert_eq!(axis_title("workload.arrival.rate_per_s"), "rate (req/s)");
        assert_eq!(axis_title("_config"), "config");
        assert_eq!(
            axis_title("serving.prefix_cache.block_tokens"),
            "block tokens (serving.prefix_cache.block_tokens)"
        );
    }
}
