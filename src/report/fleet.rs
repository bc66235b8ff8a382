//! The fleet's timeline: load, replicas and p99 latency per window, stacked over one time axis.

use crate::error::Result;
use crate::metrics::windows::WindowRow;
use crate::report::plot::{Chart, Series, SeriesStyle, draw_stacked};
use std::path::{Path, PathBuf};

/// Writes `<stem>.png` and `<stem>.svg`. Time in hours when the run spans more than two hours.
pub fn draw_timeline(rows: &[WindowRow], title: &str, stem: &Path) -> Result<[PathBuf; 2]> {
    let span_s = rows.last().map_or(0.0, |r| r.end_s);
    let (unit, div) = if span_s > 7200.0 { ("h", 3600.0) } else { ("s", 1.0) };
    let x = |r: &WindowRow| r.start_s / div;
    let width = |r: &WindowRow| (r.end_s - r.start_s).max(1e-9);
    let line = |label: &str, f: &dyn Fn(&WindowRow) -> Option<f64>| {
        let points = rows.iter().map(|r| (x(r), f(r).unwrap_or(f64::NAN))).collect();
        Series::new(label, points, SeriesStyle::Line)
    };
    let x_label = format!("time ({unit})");
    let load = Chart {
        title: format!("{title}: load"),
        x_label: x_label.clone(),
        y_label: "requests/s".into(),
        series: vec![
            line("arrivals", &|r| Some(r.arrivals as f64 / width(r))),
            line("completions", &|r| Some(r.completions as f64 / width(r))),
        ],
        ..Chart::default()
    };
    let replicas = Chart {
        title: "replicas".into(),
        x_label: x_label.clone(),
        y_label: "replicas".into(),
        series: vec![
            line("ready", &|r| Some(r.replicas_ready as f64)),
            line("starting", &|r| Some(r.replicas_starting as f64)),
            line("draining", &|r| Some(r.replicas_draining as f64)),
        ],
        ..Chart::default()
    };
    let p99 = Chart {
        title: "p99 latency of the requests completed in each window".into(),
        x_label,
        y_label: "ms (log)".into(),
        y_log: true,
        series: vec![
            line("TTFT p99", &|r| r.ttft_p99_ms),
            line("TPOT p99", &|r| r.tpot_p99_ms),
        ],
        ..Chart::default()
    };
    draw_stacked(&[load, replicas, p99], stem)
}
