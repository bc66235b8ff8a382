//! Plots and the report of a sweep, from its manifest and run records alone (so `codesim plot DIR`
//! redraws them from the output directory).
//!
//! Series are the distinct values of the sweep's group-by axes ("configurations"); the x axis of
//! the latency curves is its offered-load axis. "Best at an SLO" is the cheapest run ($ per
//! million output tokens) whose percentile latencies meet every threshold with no request
//! dropped. Every file written is deterministic: the same records give the same bytes.

use crate::atomic::write_atomic;
use crate::error::{Error, Result};
use crate::frontier::pareto;
use crate::metrics::RunResult;
use crate::numfmt::sig4 as fmt_num;
use crate::report::plot::{Bar, BarChart, Chart, RefLine, Series, SeriesStyle, draw_bars, draw_chart};
use crate::sweep::exec::{RunRecord, RunStatus};
use crate::sweep::{Manifest, SloSpec};
use crate::tomlpath::{as_f64, value_label};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::path::Path;

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

/// The offered load of a run (the x axis value), else its achieved request rate.
fn x_of(m: &Manifest, r: &RunRecord) -> Option<f64> {
    match m.x_axis() {
        Some(a) => as_f64(&r.axes[a].1),
        None => r.ok().map(|res| res.throughput.requests_s),
    }
}

/// Whether the load axis spans a factor of 8 or more of positive values (then drawn on a log scale).
fn geometric_x(m: &Manifest) -> bool {
    let Some(a) = m.x_axis() else { return false };
    let xs: Vec<f64> = m.axes[a].values.iter().filter_map(as_f64).collect();
    let lo = xs.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = xs.iter().copied().fold(0.0, f64::max);
    lo > 0.0 && hi / lo >= 8.0
}

fn x_label(m: &Manifest) -> String {
    match m.x_axis().map(|a| m.axes[a].key.as_str()) {
        Some("workload.arrival.rate_per_s") => "offered load (requests/s)".into(),
        Some("workload.arrival.clients") => "concurrent clients".into(),
        Some(k) => k.to_string(),
        None => "throughput (requests/s)".into(),
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

/// The runs whose CDFs and breakdowns are drawn, with a full and a short label.
fn selected_runs(m: &Manifest, records: &[RunRecord], groups: &[Group]) -> Vec<(usize, String, String)> {
    if !m.plot.cdf_runs.is_empty() {
        return m
            .plot
            .cdf_runs
            .iter()
            .filter_map(|id| records.iter().position(|r| &r.id == id))
            .filter(|&i| records[i].ok().is_some())
            .map(|i| {
                let g = groups
                    .iter()
                    .find(|g| g.runs.contains(&i))
                    .map_or("", |g| g.label.as_str());
                let label = run_label(m, records, i, g);
                (i, label.clone(), label)
            })
            .collect();
    }
    groups
        .iter()
        .filter_map(|g| {
            let i = best_at(records, g.runs.iter().copied(), m.primary_slo())
                .or_else(|| g.runs.iter().copied().find(|&i| records[i].ok().is_some()))?;
            Some((i, run_label(m, records, i, &g.label), g.label.clone()))
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
type DistOf = fn(&RunResult) -> &crate::metrics::Dist;
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

fn pct_value(p: f64, d: &crate::metrics::Dist) -> f64 {
    SloSpec {
        name: None,
        percentile: p,
        ttft_ms: None,
        tpot_ms: None,
        e2e_ms: None,
    }
    .at(d)
}

fn add_chart(plots: &mut Vec<PlotInfo>, pdir: &Path, stem: &str, c: Chart) -> Result<()> {
    draw_chart(&c, &pdir.join(stem))?;
    plots.push(PlotInfo {
        stem: stem.into(),
        title: c.title,
        series: c.series.into_iter().map(|s| s.label).collect(),
    });
    Ok(())
}

fn add_bars(plots: &mut Vec<PlotInfo>, pdir: &Path, stem: &str, c: BarChart) -> Result<()> {
    draw_bars(&c, &pdir.join(stem))?;
    plots.push(PlotInfo {
        stem: stem.into(),
        title: c.title,
        series: c.groups.into_iter().map(|b| b.label).collect(),
    });
    Ok(())
}

/// Draws every chart of a sweep into `dir/plots/` and writes `plots/index.json`.
pub fn write_plots(dir: &Path, m: &Manifest, records: &[RunRecord]) -> Result<Vec<PlotInfo>> {
    let pdir = dir.join(PLOTS_DIR);
    std::fs::create_dir_all(&pdir).map_err(|e| Error::io(&pdir, e))?;
    let groups = groups(m, records);
    let slo = m.primary_slo();
    let slo_text = slo.map_or("no SLO".to_string(), SloSpec::label);
    let plots: &mut Vec<PlotInfo> = &mut Vec::new();
    let chart = |plots: &mut Vec<PlotInfo>, stem: &str, c: Chart| add_chart(plots, &pdir, stem, c);

    // Latency against offered load.
    let latency: [(&str, &str, DistOf, Option<f64>); 2] = [
        ("latency-ttft", "TTFT", |r| &r.ttft_ms, slo.and_then(|s| s.ttft_ms)),
        ("latency-tpot", "TPOT", |r| &r.tpot_ms, slo.and_then(|s| s.tpot_ms)),
    ];
    for (stem, what, pick, limit) in latency {
        let mut series = Vec::new();
        for g in &groups {
            for (q, get) in [
                ("p50", (|d: &crate::metrics::Dist| d.p50) as fn(&_) -> f64),
                ("p99", |d| d.p99),
            ] {
                let pts = g
                    .runs
                    .iter()
                    .filter_map(|&i| {
                        let r = records[i].ok().filter(|r| r.requests.completed > 0)?;
                        Some((x_of(m, &records[i])?, get(pick(r))))
                    })
                    .collect();
                series.push(Series::new(format!("{} {q}", g.label), pts, SeriesStyle::LineAndPoints));
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
        chart(
            plots,
            stem,
            Chart {
                title: format!("{what} p50 and p99 against load — {}", m.name),
                x_label: x_label(m),
                y_label: format!("{what} (ms)"),
                x_log: geometric_x(m),
                y_log: true,
                series,
                reference_lines,
            },
        )?;
    }

    // Cost against tail latency, with the Pareto frontier.
    let (what, pick, limit, p) = slo_metric(m);
    let mut all = Vec::new();
    let mut series = Vec::new();
    for g in &groups {
        let pts: Vec<(f64, f64)> = g
            .runs
            .iter()
            .filter_map(|&i| {
                let r = records[i].ok().filter(|r| r.requests.completed > 0)?;
                Some((pct_value(p, pick(r)), r.cost.usd_per_mtok_output))
            })
            .collect();
        all.extend(pts.iter().copied());
        series.push(Series::new(g.label.clone(), pts, SeriesStyle::Points));
    }
    let front: Vec<(f64, f64)> = pareto(&all).into_iter().map(|i| all[i]).collect();
    let mut frontier = Series::new("Pareto frontier", front, SeriesStyle::LineAndPoints);
    frontier.highlight = true;
    series.push(frontier);
    let p_label = format!("p{}", fmt_num(p));
    chart(
        plots,
        "cost-vs-latency",
        Chart {
            title: format!("Cost per million output tokens against {p_label} {what} — {}", m.name),
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
        },
    )?;

    // Cost and energy of each configuration's best run at the primary SLO.
    let best: Vec<(String, usize)> = groups
        .iter()
        .filter_map(|g| best_at(records, g.runs.iter().copied(), slo).map(|i| (g.label.clone(), i)))
        .collect();
    let bar_sets: [(&str, &str, &str, FigureOf); 2] = [
        ("bars-cost", "Cost", "cost ($ per million output tokens)", |r| {
            r.cost.usd_per_mtok_output
        }),
        ("bars-energy", "Energy", "energy (J per output token)", |r| {
            r.energy.j_per_output_token
        }),
    ];
    for (stem, what, y_label, get) in bar_sets {
        let bars: Vec<Bar> = best
            .iter()
            .filter_map(|(label, i)| {
                Some(Bar {
                    label: label.clone(),
                    value: get(records[*i].ok()?),
                })
            })
            .collect();
        let c = BarChart {
            title: format!("{what} per configuration, cheapest run meeting {slo_text}"),
            y_label: y_label.into(),
            groups: bars,
        };
        add_bars(plots, &pdir, stem, c)?;
    }

    // CDFs of the selected runs.
    let selected = selected_runs(m, records, &groups);
    for (stem, what, ttft) in [("cdf-ttft", "TTFT", true), ("cdf-tpot", "TPOT", false)] {
        let series = selected
            .iter()
            .map(|(i, label, _)| {
                let q = records[*i]
                    .cdf
                    .as_ref()
                    .map_or(&[][..], |c| if ttft { &c.ttft_ms[..] } else { &c.tpot_ms[..] });
                let n = q.len().saturating_sub(1).max(1) as f64;
                let pts = q.iter().enumerate().map(|(k, &v)| (v, k as f64 / n)).collect();
                Series::new(label.clone(), pts, SeriesStyle::Line)
            })
            .collect();
        chart(
            plots,
            stem,
            Chart {
                title: format!("{what} distribution of selected runs — {}", m.name),
                x_label: format!("{what} (ms)"),
                y_label: "fraction of requests".into(),
                x_log: true,
                y_log: false,
                series,
                reference_lines: Vec::new(),
            },
        )?;
    }

    // Step-time breakdown of the selected runs.
    let mut bars = Vec::new();
    for (i, _, label) in &selected {
        let Some(r) = records[*i].ok() else { continue };
        let b = &r.breakdown;
        let busy = b.compute_s + b.memory_s + b.communication_s + b.overhead_s;
        for (part, s) in [
            ("compute", b.compute_s),
            ("memory", b.memory_s),
            ("communication", b.communication_s),
            ("host overhead", b.overhead_s),
        ] {
            bars.push(Bar {
                label: format!("{label}: {part}"),
                value: if busy > 0.0 { 100.0 * s / busy } else { 0.0 },
            });
        }
    }
    let c = BarChart {
        title: format!("Step-time breakdown (runs of the CDF plots) — {}", m.name),
        y_label: "share of busy step time (%)".into(),
        groups: bars,
    };
    add_bars(plots, &pdir, "breakdown", c)?;

    let plots = std::mem::take(plots);
    let mut index = serde_json::to_string_pretty(&plots).expect("plot index serialises");
    index.push('\n');
    write_atomic(&pdir.join(PLOT_INDEX), index.as_bytes())?;
    Ok(plots)
}

// ---------------------------------------------------------------------------------------------
// The report: one document model rendered as Markdown and as HTML.

enum Block {
    Heading(u8, String),
    Para(String),
    Code(String),
    Table(Vec<String>, Vec<Vec<String>>),
    Image(String, String),
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Inline `code` spans of Markdown, as HTML.
fn inline_html(s: &str) -> String {
    let mut out = String::new();
    for (k, part) in s.split('`').enumerate() {
        if k % 2 == 1 {
            let _ = write!(out, "<code>{}</code>", esc(part));
        } else {
            out.push_str(&esc(part));
        }
    }
    out
}

fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn render_md(blocks: &[Block]) -> String {
    let mut s = String::new();
    for b in blocks {
        match b {
            Block::Heading(l, t) => {
                let _ = writeln!(s, "{} {t}\n", "#".repeat(*l as usize));
            }
            Block::Para(t) => {
                let _ = writeln!(s, "{t}\n");
            }
            Block::Code(t) => {
                let _ = writeln!(s, "```toml\n{}\n```\n", t.trim_end());
            }
            Block::Table(h, rows) => {
                let _ = writeln!(
                    s,
                    "| {} |",
                    h.iter().map(|c| md_cell(c)).collect::<Vec<_>>().join(" | ")
                );
                let _ = writeln!(s, "|{}", "---|".repeat(h.len()));
                for r in rows {
                    let _ = writeln!(
                        s,
                        "| {} |",
                        r.iter().map(|c| md_cell(c)).collect::<Vec<_>>().join(" | ")
                    );
                }
                s.push('\n');
            }
            Block::Image(stem, alt) => {
                let _ = writeln!(s, "![{alt}]({PLOTS_DIR}/{stem}.png)\n");
            }
        }
    }
    s
}

fn render_html(blocks: &[Block], title: &str, dir: &Path) -> Result<String> {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n<style>\nbody {{ font-family: sans-serif; max-width: 1250px; margin: 2em auto; padding: 0 1em; }}\ntable {{ border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }}\nth, td {{ border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }}\nth {{ background: #f2f2f2; }}\npre {{ background: #f6f6f6; padding: 1em; overflow-x: auto; }}\nfigure {{ margin: 1em 0; }}\nfigure svg {{ max-width: 100%; height: auto; }}\n</style>\n</head>\n<body>",
        esc(title)
    );
    for b in blocks {
        match b {
            Block::Heading(l, t) => {
                let _ = writeln!(s, "<h{l}>{}</h{l}>", inline_html(t));
            }
            Block::Para(t) => {
                let _ = writeln!(s, "<p>{}</p>", inline_html(t));
            }
            Block::Code(t) => {
                let _ = writeln!(s, "<pre><code>{}</code></pre>", esc(t.trim_end()));
            }
            Block::Table(h, rows) => {
                s.push_str("<table>\n<tr>");
                for c in h {
                    let _ = write!(s, "<th>{}</th>", inline_html(c));
                }
                s.push_str("</tr>\n");
                for r in rows {
                    s.push_str("<tr>");
                    for c in r {
                        let _ = write!(s, "<td>{}</td>", inline_html(c));
                    }
                    s.push_str("</tr>\n");
                }
                s.push_str("</table>\n");
            }
            Block::Image(stem, alt) => {
                let p = dir.join(PLOTS_DIR).join(format!("{stem}.svg"));
                let svg = std::fs::read_to_string(&p).map_err(|e| Error::io(&p, e))?;
                let body = match svg.find("<svg") {
                    Some(at) => &svg[at..],
                    None => svg.as_str(),
                };
                let _ = writeln!(
                    s,
                    "<figure aria-label=\"{}\">\n{}\n</figure>",
                    esc(alt),
                    body.trim_end()
                );
            }
        }
    }
    s.push_str("</body>\n</html>\n");
    Ok(s)
}

/// Writes `report.md` and `report.html` (plots inline as SVG) into `dir`. `command` is the one
/// command that regenerates the directory.
pub fn write_report(dir: &Path, m: &Manifest, records: &[RunRecord], plots: &[PlotInfo], command: &str) -> Result<()> {
    let groups = groups(m, records);
    let ok = records.iter().filter(|r| r.status == RunStatus::Ok).count();
    let skipped = records.len() - ok;
    let mut seeds: Vec<u64> = records.iter().filter_map(|r| r.seed).collect();
    seeds.sort_unstable();
    seeds.dedup();
    let mut b = Vec::new();
    b.push(Block::Heading(1, format!("Sweep `{}`", m.name)));
    b.push(Block::Para(format!(
        "Generated by codesim {}. Regenerate this directory with one command: `{command}`",
        m.codesim_version
    )));
    if let Some(d) = &m.description {
        b.push(Block::Para(d.trim().to_string()));
    }

    b.push(Block::Heading(2, "What was swept".into()));
    b.push(Block::Para(format!(
        "{} runs ({ok} ran, {skipped} skipped) from the sweep file `{}`; base scenario: {}; seed{}: {}. Axes combine as a product{}.",
        records.len(),
        m.file,
        if m.base_source == "inline" {
            "inline".to_string()
        } else {
            format!("`{}`", m.base_source)
        },
        if seeds.len() == 1 { "" } else { "s" },
        if seeds.is_empty() {
            "-".to_string()
        } else {
            seeds.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
        },
        if m.dims.iter().any(|d| d.len() > 1) {
            "; axes in the same zip group advance together"
        } else {
            ""
        }
    )));
    let axis_rows = m
        .axes
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let dim = m.dims.iter().position(|d| d.contains(&i)).unwrap_or(0);
            let zipped = m.dims[dim].len() > 1;
            vec![
                format!("`{}`", a.key),
                a.values.iter().map(value_label).collect::<Vec<_>>().join(", "),
                if zipped {
                    format!("zip group {}", dim + 1)
                } else {
                    "product".into()
                },
            ]
        })
        .collect();
    b.push(Block::Table(
        vec!["axis".into(), "values".into(), "combined".into()],
        axis_rows,
    ));
    b.push(Block::Para("The base scenario (before the axes are applied):".into()));
    b.push(Block::Code(toml::to_string(&m.base).unwrap_or_default()));

    // Winners.
    b.push(Block::Heading(2, "Winner at each SLO".into()));
    if m.slo.is_empty() {
        b.push(Block::Para(
            "The sweep sets no SLO; add `[[slo]]` tables to judge runs. The cheapest run overall:".into(),
        ));
    } else {
        b.push(Block::Para(
            "The cheapest run ($ per million output tokens) whose latency percentiles meet every threshold of the SLO, with no request dropped.".into(),
        ));
    }
    let all: Vec<usize> = (0..records.len()).collect();
    let slos: Vec<Option<&SloSpec>> = if m.slo.is_empty() {
        vec![None]
    } else {
        m.slo.iter().map(Some).collect()
    };
    let label_of = |i: usize| {
        groups
            .iter()
            .find(|g| g.runs.contains(&i))
            .map_or(String::new(), |g| g.label.clone())
    };
    let x_key = m.x_axis().map(|a| m.axes[a].key.clone());
    let x_text = |i: usize| {
        m.x_axis()
            .map_or("-".to_string(), |a| value_label(&records[i].axes[a].1))
    };
    let mut rows = Vec::new();
    for s in &slos {
        let name = s.map_or("none".to_string(), |s| s.label());
        match best_at(records, all.iter().copied(), *s) {
            Some(i) => {
                let r = records[i].ok().expect("best runs ran");
                rows.push(vec![
                    name,
                    format!("**{}**", label_of(i)),
                    format!("{} ({})", x_text(i), records[i].id),
                    fmt_num(r.cost.usd_per_mtok_output),
                    fmt_num(r.energy.j_per_output_token),
                    fmt_num(r.ttft_ms.p99),
                    fmt_num(r.tpot_ms.p99),
                    fmt_num(r.throughput.output_tok_s),
                ]);
            }
            None => rows.push(vec![
                name,
                "no run meets it".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
            ]),
        }
    }
    let load_head = x_key.clone().map_or("run".to_string(), |k| format!("`{k}` (run)"));
    let head = |first: &str| {
        vec![
            first.to_string(),
            "configuration".into(),
            load_head.clone(),
            "$/M output tok".into(),
            "J/output tok".into(),
            "TTFT p99 (ms)".into(),
            "TPOT p99 (ms)".into(),
            "output tok/s".into(),
        ]
    };
    b.push(Block::Table(head("SLO"), rows));

    let primary = m.primary_slo();
    b.push(Block::Heading(
        3,
        format!(
            "Each configuration at {}",
            primary.map_or("its cheapest run".to_string(), SloSpec::label)
        ),
    ));
    let mut rows = Vec::new();
    for g in &groups {
        match best_at(records, g.runs.iter().copied(), primary) {
            Some(i) => {
                let r = records[i].ok().expect("best runs ran");
                rows.push(vec![
                    g.label.clone(),
                    g.label.clone(),
                    format!("{} ({})", x_text(i), records[i].id),
                    fmt_num(r.cost.usd_per_mtok_output),
                    fmt_num(r.energy.j_per_output_token),
                    fmt_num(r.ttft_ms.p99),
                    fmt_num(r.tpot_ms.p99),
                    fmt_num(r.throughput.output_tok_s),
                ]);
            }
            None => {
                let mut row = vec![g.label.clone(), g.label.clone(), "no run meets it".into()];
                row.extend(std::iter::repeat_n("-".to_string(), 5));
                rows.push(row);
            }
        }
    }
    let mut h = head("configuration");
    h.remove(1);
    for r in &mut rows {
        r.remove(1);
    }
    b.push(Block::Table(h, rows));

    // Plots.
    b.push(Block::Heading(2, "Plots".into()));
    for p in plots {
        b.push(Block::Heading(3, p.title.clone()));
        b.push(Block::Image(p.stem.clone(), p.title.clone()));
    }

    // Every run.
    b.push(Block::Heading(2, "All runs".into()));
    b.push(Block::Para(
        "Latencies in ms; every metric of every run is in `results.csv` and `results.parquet`.".into(),
    ));
    let mut h: Vec<String> = vec!["run".into()];
    h.extend(m.axes.iter().map(|a| format!("`{}`", a.key)));
    h.extend(
        [
            "TTFT p50",
            "TTFT p99",
            "TPOT p50",
            "TPOT p99",
            "output tok/s",
            "$/M output tok",
            "J/output tok",
            "goodput",
            "meets SLO",
        ]
        .map(String::from),
    );
    let rows = records
        .iter()
        .filter_map(|rec| {
            let r = rec.ok()?;
            let mut row = vec![rec.id.clone()];
            row.extend(rec.axes.iter().map(|(_, v)| value_label(v)));
            row.extend([
                fmt_num(r.ttft_ms.p50),
                fmt_num(r.ttft_ms.p99),
                fmt_num(r.tpot_ms.p50),
                fmt_num(r.tpot_ms.p99),
                fmt_num(r.throughput.output_tok_s),
                fmt_num(r.cost.usd_per_mtok_output),
                fmt_num(r.energy.j_per_output_token),
                rec.goodput
                    .map_or("-".into(), |g| format!("{:.1}%", 100.0 * g.fraction)),
                primary.map_or("-".into(), |s| if s.met_by(r) { "yes".into() } else { "no".into() }),
            ]);
            Some(row)
        })
        .collect();
    b.push(Block::Table(h, rows));
    if skipped > 0 {
        b.push(Block::Heading(2, "Skipped runs".into()));
        let mut h: Vec<String> = vec!["run".into()];
        h.extend(m.axes.iter().map(|a| format!("`{}`", a.key)));
        h.push("reason".into());
        let rows = records
            .iter()
            .filter(|r| r.status == RunStatus::Skipped)
            .map(|rec| {
                let mut row = vec![rec.id.clone()];
                row.extend(rec.axes.iter().map(|(_, v)| value_label(v)));
                row.push(rec.reason.clone().unwrap_or_default());
                row
            })
            .collect();
        b.push(Block::Table(h, rows));
    }
    b.push(Block::Heading(2, "Definitions".into()));
    b.push(Block::Para(
        "Goodput: the fraction of arrived requests that completed within every threshold of the primary SLO, judged request by request. CDFs are drawn from 101 stored quantiles of each run's per-request TTFT and TPOT. The step-time breakdown is the share of replica busy time spent compute-bound, memory-bound, in collectives, and in host overhead.".into(),
    ));

    write_atomic(&dir.join("report.md"), render_md(&b).as_bytes())?;
    let html = render_html(&b, &format!("Sweep {}", m.name), dir)?;
    write_atomic(&dir.join("report.html"), html.as_bytes())
}
