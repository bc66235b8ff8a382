//! The charts of a sweep: latency against load, cost against tail latency with its Pareto frontier,
//! cost and energy of each configuration's best run, latency CDFs and step-time breakdowns of
//! selected runs. Each chart is built from the records first, then drawn.

use super::{Group, PLOT_INDEX, PLOTS_DIR, PlotInfo, axis_title, best_at, groups, subject, tip, unstable, x_of};
use crate::atomic::write_atomic;
use crate::error::{Error, Result};
use crate::frontier::pareto;
use crate::metrics::{Dist, RunResult};
use crate::numfmt::sig4 as fmt_num;
use crate::report::plot::{Bar, BarChart, Chart, RefLine, Series, SeriesStyle, draw_bars_hot, draw_chart_hot};
use crate::sweep::exec::RunRecord;
use crate::sweep::{Manifest, SloSpec};
use crate::tomlpath::{as_f64, value_label};
use std::path::{Path, PathBuf};

/// Whether the load axis spans a factor of 8 or more of positive values (then drawn on a log scale).
fn geometric_x(m: &Manifest) -> bool {
    let Some(a) = m.x_axis() else { return false };
    let xs: Vec<f64> = m.axes[a].values.iter().filter_map(as_f64).collect();
    let lo = xs.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = xs.iter().copied().fold(0.0, f64::max);
    lo > 0.0 && hi / lo >= 8.0
}

/// The x axis title: what was swept (the achieved rate when no axis is numeric).
fn x_label(m: &Manifest) -> String {
    m.x_axis()
        .map_or("throughput (req/s)".into(), |a| axis_title(&m.axes[a].key))
}

/// A run whose CDFs and breakdown are drawn: its record index, a full and a short label, and its
/// configuration's palette slot.
struct SelectedRun {
    index: usize,
    label: String,
    short: String,
    slot: usize,
}

/// The runs whose CDFs and breakdowns are drawn, with a full and a short label.
fn selected_runs(m: &Manifest, records: &[RunRecord], groups: &[Group]) -> Vec<SelectedRun> {
    if !m.plot.cdf_runs.is_empty() {
        return m
            .plot
            .cdf_runs
            .iter()
            .filter_map(|id| records.iter().position(|r| &r.id == id))
            .filter(|&i| records[i].ok().is_some())
            .map(|i| {
                let g = groups.iter().find(|g| g.runs.contains(&i));
                let label = run_label(m, records, i, g.map_or("", |g| g.display.as_str()));
                SelectedRun {
                    index: i,
                    label: label.clone(),
                    short: label,
                    slot: g.map_or(0, |g| g.slot),
                }
            })
            .collect();
    }
    groups
        .iter()
        .filter_map(|g| {
            let i = best_at(records, g.runs.iter().copied(), m.primary_slo())
                .or_else(|| g.runs.iter().copied().find(|&i| records[i].ok().is_some()))?;
            Some(SelectedRun {
                index: i,
                label: run_label(m, records, i, &g.display),
                short: g.display.clone(),
                slot: g.slot,
            })
        })
        .collect()
}

fn run_label(m: &Manifest, records: &[RunRecord], i: usize, group: &str) -> String {
    let r = &records[i];
    match (m.x_axis(), group.is_empty()) {
        (Some(a), false) => format!("{group} @ {} ({})", value_label(&r.axes[a].1), r.id),
        _ => format!("{group} {}", r.id).trim().to_string(),
    }
}

/// Picks one latency distribution of a run.
type DistOf = fn(&RunResult) -> &Dist;
/// Picks one figure of a run.
type FigureOf = fn(&RunResult) -> f64;

/// The latency the cost plot and the winners are judged on: the primary SLO's first threshold.
fn slo_metric(m: &Manifest) -> (&'static str, DistOf, Option<f64>, f64) {
    let slo = m.primary_slo();
    let p = slo.map_or(99.0, |s| s.percentile);
    match slo {
        Some(s) if s.tpot_ms.is_none() && s.ttft_ms.is_some() => ("TTFT", |r| &r.ttft_ms, s.ttft_ms, p),
        Some(s) if s.tpot_ms.is_none() && s.e2e_ms.is_some() => ("E2E", |r| &r.e2e_ms, s.e2e_ms, p),
        Some(s) => ("TPOT", |r| &r.tpot_ms, s.tpot_ms, p),
        None => ("TPOT", |r| &r.tpot_ms, None, p),
    }
}

fn pct_value(p: f64, d: &Dist) -> f64 {
    crate::metrics::slo::percentile(d, p)
}

/// Draws charts into the plots folder and keeps the index of what was drawn.
struct PlotWriter {
    dir: PathBuf,
    written: Vec<PlotInfo>,
}

impl PlotWriter {
    fn chart(&mut self, stem: &str, c: Chart) -> Result<()> {
        let (_, hotspots) = draw_chart_hot(&c, &self.dir.join(stem))?;
        self.written.push(PlotInfo {
            stem: stem.into(),
            title: c.title,
            series: c.series.into_iter().map(|s| s.label).collect(),
            hotspots,
        });
        Ok(())
    }

    fn bars(&mut self, stem: &str, c: BarChart) -> Result<()> {
        let (_, hotspots) = draw_bars_hot(&c, &self.dir.join(stem))?;
        self.written.push(PlotInfo {
            stem: stem.into(),
            title: c.title,
            series: c.groups.into_iter().map(|b| b.label).collect(),
            hotspots,
        });
        Ok(())
    }

    /// Writes `index.json` and returns the charts drawn, in order.
    fn finish(self) -> Result<Vec<PlotInfo>> {
        let mut index = serde_json::to_string_pretty(&self.written).expect("plot index serialises");
        index.push('\n');
        write_atomic(&self.dir.join(PLOT_INDEX), index.as_bytes())?;
        Ok(self.written)
    }
}

/// Draws every chart of a sweep into `dir/plots/` and writes `plots/index.json`.
pub fn write_plots(dir: &Path, m: &Manifest, records: &[RunRecord]) -> Result<Vec<PlotInfo>> {
    let pdir = dir.join(PLOTS_DIR);
    std::fs::create_dir_all(&pdir).map_err(|e| Error::io(&pdir, e))?;
    let groups = groups(m, records);
    let mut out = PlotWriter {
        dir: pdir,
        written: Vec::new(),
    };
    for (stem, c) in latency_charts(m, records, &groups) {
        out.chart(stem, c)?;
    }
    out.chart("cost-vs-latency", cost_chart(m, records, &groups))?;
    if let Some(c) = super::breakeven::chart(m, records, &groups, x_label(m), geometric_x(m)) {
        out.chart("break-even", c)?;
    }
    for (stem, c) in best_run_bars(m, records, &groups) {
        out.bars(stem, c)?;
    }
    let selected = selected_runs(m, records, &groups);
    for (stem, c) in cdf_charts(m, records, &selected) {
        out.chart(stem, c)?;
    }
    out.bars("breakdown", breakdown_chart(m, records, &selected))?;
    out.finish()
}

/// Latency against offered load: p50 and p99 of TTFT, then of TPOT, per configuration.
fn latency_charts(m: &Manifest, records: &[RunRecord], groups: &[Group]) -> Vec<(&'static str, Chart)> {
    let slo = m.primary_slo();
    let latency: [(&str, &str, DistOf, Option<f64>); 2] = [
        ("latency-ttft", "TTFT", |r| &r.ttft_ms, slo.and_then(|s| s.ttft_ms)),
        ("latency-tpot", "TPOT", |r| &r.tpot_ms, slo.and_then(|s| s.tpot_ms)),
    ];
    latency
        .into_iter()
        .map(|(stem, what, pick, limit)| {
            let mut series = Vec::new();
            for g in groups {
                for (q, get) in [("p50", (|d: &Dist| d.p50) as fn(&_) -> f64), ("p99", |d| d.p99)] {
                    let mut s = group_series(m, records, g, format!("{} {q}", g.display), |i| {
                        let r = records[i].ok().filter(|r| r.requests.completed > 0)?;
                        Some((x_of(m, &records[i])?, get(pick(r))))
                    });
                    s.dashed = q == "p99";
                    series.push(s);
                }
            }
            let reference_lines = limit
                .map(|y| {
                    vec![RefLine::Horizontal {
                        y,
                        label: format!("SLO {} ms", fmt_num(y)),
                    }]
                })
                .unwrap_or_default();
            let chart = Chart {
                title: format!(
                    "{what} p50 (solid) and p99 (dashed) against {} — {}",
                    x_label(m),
                    subject(m, records)
                ),
                x_label: x_label(m),
                y_label: format!("{what} (ms)"),
                x_log: geometric_x(m),
                y_log: true,
                series,
                reference_lines,
            };
            (stem, chart)
        })
        .collect()
}

/// Cost against tail latency, with the Pareto frontier.
pub(super) fn cost_chart(m: &Manifest, records: &[RunRecord], groups: &[Group]) -> Chart {
    let (what, pick, limit, p) = slo_metric(m);
    // The frontier is drawn through steady runs only: an overloaded run's percentiles describe
    // the length of the run, not a load the deployment sustains.
    let mut steady = Vec::new();
    let mut series = Vec::new();
    for g in groups {
        let s = group_series(m, records, g, g.display.clone(), |i| {
            let r = records[i].ok().filter(|r| r.requests.completed > 0)?;
            Some((pct_value(p, pick(r)), r.cost.usd_per_mtok_output))
        });
        let mut s = s;
        s.style = SeriesStyle::Points;
        steady.extend((0..s.points.len()).filter(|&k| !s.is_unstable(k)).map(|k| s.points[k]));
        series.push(s);
    }
    let front: Vec<(f64, f64)> = pareto(&steady).into_iter().map(|i| steady[i]).collect();
    let mut frontier = Series::new("Pareto frontier (steady runs)", front, SeriesStyle::LineAndPoints);
    frontier.highlight = true;
    series.push(frontier);
    let p_label = format!("p{}", fmt_num(p));
    Chart {
        title: format!("$/M output tokens against {p_label} {what} — {}", subject(m, records)),
        x_label: format!("{what} {p_label} (ms)"),
        y_label: "cost ($ per million output tokens)".into(),
        x_log: true,
        y_log: true,
        series,
        reference_lines: limit
            .map(|x| {
                vec![RefLine::Vertical {
                    x,
                    label: format!("SLO {} ms", fmt_num(x)),
                }]
            })
            .unwrap_or_default(),
    }
}

/// Cost and energy of each configuration's best run at the primary SLO.
fn best_run_bars(m: &Manifest, records: &[RunRecord], groups: &[Group]) -> Vec<(&'static str, BarChart)> {
    let slo = m.primary_slo();
    let slo_text = slo.map_or("no SLO".to_string(), SloSpec::label);
    let best: Vec<(&Group, usize)> = groups
        .iter()
        .filter_map(|g| best_at(records, g.runs.iter().copied(), slo).map(|i| (g, i)))
        .collect();
    let bar_sets: [(&str, &str, &str, FigureOf); 2] = [
        ("bars-cost", "Cost", "cost ($ per million output tokens)", |r| {
            r.cost.usd_per_mtok_output
        }),
        ("bars-energy", "Energy", "energy (J per output token)", |r| {
            r.energy.j_per_output_token
        }),
    ];
    bar_sets
        .into_iter()
        .map(|(stem, what, y_label, get)| {
            let bars: Vec<Bar> = best
                .iter()
                .filter_map(|(g, i)| {
                    Some(Bar {
                        label: g.display.clone(),
                        value: get(records[*i].ok()?),
                        color: Some(g.slot),
                        tip: tip(m, records, *i, &g.display),
                        parts: vec![],
                    })
                })
                .collect();
            let c = BarChart {
                title: format!("{what} per configuration, cheapest run meeting {slo_text}"),
                y_label: y_label.into(),
                groups: bars,
                parts: vec![],
            };
            (stem, c)
        })
        .collect()
}

/// CDFs of the selected runs' TTFT, then TPOT.
fn cdf_charts(m: &Manifest, records: &[RunRecord], selected: &[SelectedRun]) -> Vec<(&'static str, Chart)> {
    [("cdf-ttft", "TTFT", true), ("cdf-tpot", "TPOT", false)]
        .into_iter()
        .map(|(stem, what, ttft)| {
            let series = selected
                .iter()
                .map(|run| {
                    let q = records[run.index]
                        .cdf
                        .as_ref()
                        .map_or(&[][..], |c| if ttft { &c.ttft_ms[..] } else { &c.tpot_ms[..] });
                    let n = q.len().saturating_sub(1).max(1) as f64;
                    let pts = q.iter().enumerate().map(|(k, &v)| (v, k as f64 / n)).collect();
                    let mut s = Series::new(run.label.clone(), pts, SeriesStyle::Line);
                    s.color = Some(run.slot);
                    s
                })
                .collect();
            let chart = Chart {
                title: format!("{what} distribution of selected runs — {}", subject(m, records)),
                x_label: format!("{what} (ms)"),
                y_label: "fraction of requests".into(),
                x_log: true,
                y_log: false,
                series,
                reference_lines: Vec::new(),
            };
            (stem, chart)
        })
        .collect()
}

/// The parts of the step-time breakdown, bottom up.
const BREAKDOWN_PARTS: [&str; 4] = ["compute", "memory", "communication", "host overhead"];

/// Step-time breakdown of the selected runs: one stacked bar each, parts as shares of busy time.
fn breakdown_chart(m: &Manifest, records: &[RunRecord], selected: &[SelectedRun]) -> BarChart {
    let mut bars = Vec::new();
    for run in selected {
        let Some(r) = records[run.index].ok() else { continue };
        let b = &r.breakdown;
        let raw = [b.compute_s, b.memory_s, b.communication_s, b.overhead_s];
        let busy: f64 = raw.iter().sum();
        let parts: Vec<f64> = raw
            .iter()
            .map(|s| if busy > 0.0 { 100.0 * s / busy } else { 0.0 })
            .collect();
        let shares: Vec<String> = BREAKDOWN_PARTS
            .iter()
            .zip(&parts)
            .map(|(n, v)| format!("{n} {}%", fmt_num(*v)))
            .collect();
        bars.push(Bar {
            label: run.short.clone(),
            value: parts.iter().sum(),
            parts,
            color: Some(run.slot),
            tip: format!("{}\n{}", tip(m, records, run.index, &run.short), shares.join(" · ")),
        });
    }
    BarChart {
        title: format!("Step-time breakdown (runs of the CDF plots) — {}", subject(m, records)),
        y_label: "share of busy step time (%)".into(),
        groups: bars,
        parts: BREAKDOWN_PARTS.iter().map(|p| p.to_string()).collect(),
    }
}

/// A configuration's series over its runs (`point` gives a run's point, if it has one), in its
/// palette slot, with each run's stability and hover text.
fn group_series(
    m: &Manifest,
    records: &[RunRecord],
    g: &Group,
    label: String,
    point: impl Fn(usize) -> Option<(f64, f64)>,
) -> Series {
    let mut s = Series::new(label, Vec::new(), SeriesStyle::LineAndPoints);
    s.color = Some(g.slot);
    for &i in &g.runs {
        if let Some(p) = point(i) {
            s.points.push(p);
            s.unstable.push(unstable(&records[i]).is_some());
            s.tips.push(tip(m, records, i, &g.display));
        }
    }
    s
}
