//! The validation report: `validation.md` (error summaries by metric and by hardware family, then
//! every case) and the predicted-vs-measured chart.

use crate::atomic::write_atomic;
use crate::error::Result;
use crate::numfmt::measured as num;
use crate::report::plot::{Chart, RefLine, Series, SeriesStyle, draw_chart};
use crate::validate::Report;
use std::fmt::Write as _;
use std::path::Path;

/// Writes `validation.md` and `validation.png`/`.svg` into `dir`; `input` is the measurements file
/// compared against.
pub fn write(dir: &Path, r: &Report, input: &Path) -> Result<()> {
    write_atomic(&dir.join("validation.md"), markdown(r, input).as_bytes())?;
    draw_chart(&chart(r), &dir.join("validation"))?;
    Ok(())
}

pub fn markdown(r: &Report, path: &Path) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# codesim vs published measurements\n");
    let _ = writeln!(
        s,
        "Input: `{}`. {} comparisons over {} cases; {} cases skipped. Error = 100 · (predicted − measured) / measured.\n",
        path.display(),
        r.summary.n,
        distinct_cases(r),
        r.skipped.len()
    );
    for (what, groups) in [("metric", &r.by_metric), ("family", &r.by_family)] {
        let _ = writeln!(s, "## By {what}\n");
        let _ = writeln!(
            s,
            "| {what} | n | median \\|error\\| % | p90 \\|error\\| % | max \\|error\\| % |"
        );
        let _ = writeln!(s, "|---|---:|---:|---:|---:|");
        for (name, x) in groups.iter().chain(std::iter::once(&("all".to_string(), r.summary))) {
            let _ = writeln!(
                s,
                "| {name} | {} | {:.1} | {:.1} | {:.1} |",
                x.n, x.median_abs_error_pct, x.p90_abs_error_pct, x.max_abs_error_pct
            );
        }
        let _ = writeln!(s);
    }
    let _ = writeln!(s, "## Cases\n");
    let _ = writeln!(s, "| case | metric | predicted | measured | error % |");
    let _ = writeln!(s, "|---|---|---:|---:|---:|");
    for x in &r.rows {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {:+.1} |",
            x.id,
            x.metric,
            num(x.predicted),
            num(x.measured),
            x.error_pct
        );
    }
    if !r.skipped.is_empty() {
        let _ = writeln!(s, "\n## Skipped\n");
        for x in &r.skipped {
            let _ = writeln!(s, "- `{}`: {}", x.id, x.reason.replace('|', "\\|"));
        }
    }
    s
}

fn distinct_cases(r: &Report) -> usize {
    let mut ids: Vec<&str> = r.rows.iter().map(|x| x.id.as_str()).collect();
    ids.dedup();
    ids.len()
}

/// Predicted against measured, log-log, one series per hardware family (all metrics together).
pub fn chart(r: &Report) -> Chart {
    let series = r
        .by_family
        .iter()
        .map(|(fam, _)| {
            let points = r
                .rows
                .iter()
                .filter(|x| &x.family == fam)
                .map(|x| (x.measured, x.predicted))
                .collect();
            Series::new(fam.clone(), points, SeriesStyle::Points)
        })
        .collect();
    Chart {
        title: "codesim vs published measurements".to_string(),
        x_label: "measured (ms or tok/s)".to_string(),
        y_label: "predicted (ms or tok/s)".to_string(),
        x_log: true,
        y_log: true,
        series,
        reference_lines: vec![RefLine::Identity, RefLine::Ratio(1.1), RefLine::Ratio(0.9)],
    }
}
