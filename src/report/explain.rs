//! The `explain` report: markdown and three plots (queue length, KV use, TTFT p99 over time),
//! each a PNG and an SVG.

use super::plot::{Chart, RefLine, Series, SeriesStyle, draw_chart};
use crate::error::Result;
use crate::explain::Explanation;
use std::fmt::Write;
use std::path::Path;

/// Replicas drawn one line each; beyond, the sum (queue) and the most used (KV) only.
const MAX_LINES: usize = 8;

/// Writes `queue`, `kv` and `p99` (PNG + SVG) into `dir`; returns their stems.
pub fn write_plots(dir: &Path, ex: &Explanation) -> Result<Vec<&'static str>> {
    let per = &ex.per_replica;
    let lines = |f: &dyn Fn(&(f64, f64, f64)) -> f64| -> Vec<Series> {
        per.iter()
            .enumerate()
            .take(if per.len() <= MAX_LINES { MAX_LINES } else { 0 })
            .map(|(i, v)| {
                Series::new(
                    format!("replica {i}"),
                    v.iter().map(|p| (p.0, f(p))).collect(),
                    SeriesStyle::Line,
                )
            })
            .collect()
    };
    let mut queue = lines(&|p| p.1);
    queue.push(Series::new(
        "all replicas",
        ex.series.iter().map(|p| (p.t_s, p.queued)).collect(),
        SeriesStyle::LineAndPoints,
    ));
    let mut kv = lines(&|p| p.2);
    kv.push(Series::new(
        "most used",
        ex.series.iter().map(|p| (p.t_s, p.kv_used_pct)).collect(),
        SeriesStyle::LineAndPoints,
    ));
    let p99 = vec![Series::new(
        "TTFT p99 of arrivals",
        ex.series.iter().map(|p| (p.t_s, p.ttft_p99_ms)).collect(),
        SeriesStyle::LineAndPoints,
    )];
    let chart = |title: &str, y: &str, series: Vec<Series>, refs: Vec<RefLine>| Chart {
        title: format!("{}: {title}", ex.scenario),
        x_label: "simulated time (s)".into(),
        y_label: y.into(),
        series,
        reference_lines: refs,
        ..Chart::default()
    };
    let target = RefLine::Horizontal {
        y: ex.target_ttft_ms,
        label: "target".into(),
    };
    draw_chart(
        &chart("requests queued (mean per step)", "requests queued", queue, vec![]),
        &dir.join("queue"),
    )?;
    draw_chart(
        &chart("KV cache in use", "KV blocks used (%)", kv, vec![]),
        &dir.join("kv"),
    )?;
    draw_chart(
        &chart("TTFT p99 by arrival window", "TTFT p99 (ms)", p99, vec![target]),
        &dir.join("p99"),
    )?;
    Ok(vec!["queue", "kv", "p99"])
}

fn parts(v: &[(String, f64)]) -> String {
    v.iter()
        .map(|(k, ms)| format!("{k} {ms:.1}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The report as markdown (`plots`: the stems written beside it).
pub fn markdown(ex: &Explanation, plots: &[&str]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Why: {}\n", ex.scenario);
    let _ = writeln!(
        s,
        "{} requests; TTFT target {:.1} ms ({}); {} missed it. **Cause: {}**: {}.\n",
        ex.requests,
        ex.target_ttft_ms,
        ex.target_source,
        ex.misses,
        ex.cause.label(),
        ex.why
    );
    let _ = writeln!(s, "## The 10 slowest requests (by TTFT; parts in ms)\n");
    let _ = writeln!(
        s,
        "| request | replica | class | arrival (s) | TTFT (ms) | E2E (ms) | dominant | TTFT parts | E2E parts |"
    );
    let _ = writeln!(s, "|---:|---:|---:|---:|---:|---:|---|---|---|");
    for r in &ex.slowest {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {:.3} | {:.1} | {:.1} | {} | {} | {} |",
            r.id,
            r.replica,
            r.class,
            r.arrival_s,
            r.ttft_ms,
            r.e2e_ms,
            r.dominant,
            parts(&r.ttft_parts_ms),
            parts(&r.e2e_parts_ms)
        );
    }
    let _ = writeln!(s, "\n## When the target was missed\n");
    let _ = writeln!(s, "| arrivals from (s) | to (s) | misses | arrivals | cause | why |");
    let _ = writeln!(s, "|---:|---:|---:|---:|---|---|");
    for e in &ex.episodes {
        let _ = writeln!(
            s,
            "| {:.2} | {:.2} | {} | {} | {} | {} |",
            e.from_s,
            e.to_s,
            e.misses,
            e.arrivals,
            e.cause.label(),
            e.why
        );
    }
    if let Some(c) = &ex.counterfactual {
        let _ = writeln!(
            s,
            "\n## What if (request {}: TTFT {:.1} ms, E2E {:.1} ms; run TTFT p99 {:.1} ms)\n",
            c.request, c.ttft_ms, c.e2e_ms, c.run_ttft_p99_ms
        );
        let _ = writeln!(
            s,
            "| change | its TTFT (ms) | its E2E (ms) | its dominant part | run TTFT p99 (ms) |"
        );
        let _ = writeln!(s, "|---|---:|---:|---|---:|");
        let opt = |v: Option<f64>| v.map_or("not completed".to_string(), |x| format!("{x:.1}"));
        for a in &c.alternatives {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {:.1} |",
                a.change,
                opt(a.ttft_ms),
                opt(a.e2e_ms),
                a.dominant.as_deref().unwrap_or("-"),
                a.run_ttft_p99_ms
            );
        }
        let _ = writeln!(s, "\nMethod: {}.", c.method);
    }
    if !plots.is_empty() {
        let _ = writeln!(s, "\n## Over time\n");
        for p in plots {
            let _ = writeln!(s, "![{p}]({p}.png)");
        }
    }
    if !ex.notes.is_empty() {
        let _ = writeln!(s, "\n## Notes\n");
        for n in &ex.notes {
            let _ = writeln!(s, "- {n}");
        }
    }
    s
}
