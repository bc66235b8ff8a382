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
    engines(&mut s, r);
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
    let featured = case_features(r);
    if !featured.is_empty() {
        let _ = writeln!(s, "\n## Case features\n");
        for (id, f) in featured {
            let _ = writeln!(s, "- `{id}`: {}", f.replace('|', "\\|"));
        }
    }
    if !r.skipped.is_empty() {
        let _ = writeln!(s, "\n## Skipped\n");
        for x in &r.skipped {
            let _ = writeln!(s, "- `{}`: {}", x.id, x.reason.replace('|', "\\|"));
        }
    }
    s
}

/// The serving engine and version each case was simulated with: an answer-changing choice that a
/// case without `engine` gets from `validation/engines.toml` (by its `source`), so it is printed.
fn engines(s: &mut String, r: &Report) {
    let mut cases: std::collections::BTreeMap<&str, std::collections::BTreeSet<&str>> = Default::default();
    for x in &r.rows {
        cases.entry(x.engine.as_str()).or_default().insert(x.id.as_str());
    }
    if cases.is_empty() {
        return;
    }
    let _ = writeln!(
        s,
        "## Engines\n\nEach case runs with its `engine` and `engine_version`, or, without them, those `validation/engines.toml` gives its `source` (else the chip's default engine), at seed 1.\n"
    );
    let _ = writeln!(s, "| engine | cases |");
    let _ = writeln!(s, "|---|---:|");
    for (engine, ids) in cases {
        let _ = writeln!(s, "| {engine} | {} |", ids.len());
    }
    let _ = writeln!(s);
}

/// `(case, features)` of every simulated case with features, in case order.
pub fn case_features(r: &Report) -> Vec<(&str, &str)> {
    let mut out: Vec<(&str, &str)> = Vec::new();
    for x in r.rows.iter().filter(|x| !x.features.is_empty()) {
        if out.last().is_none_or(|(id, _)| *id != x.id) {
            out.push((&x.id, &x.features));
        }
    }
    out
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

/// The cross-validation report: per metric and per family, the fit error (shipped profiles,
/// in-sample) beside the held-out error, and what each fold was trained on.
pub fn cv_markdown(r: &crate::validate::cv::CvReport, files: &str) -> String {
    use std::fmt::Write;
    let mut s = format!(
        "# Cross-validation: {files}\n\nEach group (source × hardware family × engine version) is predicted by efficiencies re-fitted on the other groups (`codesim validate --cv`). The held-out error is what to expect on a setup codesim was not fitted to; the fit error is the shipped profiles' on the cases they were fitted to.\n\n| metric | n | fit median | fit p90 | held-out median | held-out p90 |\n|---|---:|---:|---:|---:|---:|\n"
    );
    let find = |v: &[(String, crate::validate::Summary)], k: &str| v.iter().find(|(m, _)| m == k).map(|(_, x)| *x);
    let mut keys: Vec<String> = r.fit.by_metric.iter().map(|(m, _)| m.clone()).collect();
    keys.push("all".into());
    for m in &keys {
        let (f, h) = if m == "all" {
            (Some(r.fit.summary), Some(r.held_out.summary))
        } else {
            (find(&r.fit.by_metric, m), find(&r.held_out.by_metric, m))
        };
        if let (Some(f), Some(h)) = (f, h) {
            let _ = writeln!(
                s,
                "| {m} | {} | {:.1} % | {:.1} % | {:.1} % | {:.1} % |",
                h.n, f.median_abs_error_pct, f.p90_abs_error_pct, h.median_abs_error_pct, h.p90_abs_error_pct
            );
        }
    }
    s.push_str(
        "\n| family | n | fit median | fit p90 | held-out median | held-out p90 |\n|---|---:|---:|---:|---:|---:|\n",
    );
    for (fam, h) in &r.held_out.by_family {
        if let Some(f) = find(&r.fit.by_family, fam) {
            let _ = writeln!(
                s,
                "| {fam} | {} | {:.1} % | {:.1} % | {:.1} % | {:.1} % |",
                h.n, f.median_abs_error_pct, f.p90_abs_error_pct, h.median_abs_error_pct, h.p90_abs_error_pct
            );
        }
    }
    s.push_str("\n| held-out group | cases | target | re-fitted on | training cases | held-out median |\n|---|---:|---|---|---:|---:|\n");
    for f in &r.folds {
        let errs = r
            .held_out
            .rows
            .iter()
            .filter(|row| row.group == f.group)
            .map(|row| row.error_pct);
        let med = crate::validate::Summary::of(errs).median_abs_error_pct;
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {med:.1} % |",
            f.group, f.cases, f.target, f.trained_on, f.training_cases
        );
    }
    if !r.held_out.skipped.is_empty() {
        let _ = writeln!(
            s,
            "\nSkipped: {}.",
            r.held_out
                .skipped
                .iter()
                .map(|k| format!("{} ({})", k.id, k.reason))
                .collect::<Vec<_>>()
                .join("; ")
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::{Row, summarise};

    fn row(id: &str, metric: &str, features: &str) -> Row {
        Row {
            id: id.to_string(),
            family: "trn2".to_string(),
            engine: "AWS NxD Inference 2.26".to_string(),
            group: String::new(),
            metric: metric.to_string(),
            predicted: 110.0,
            measured: 100.0,
            error_pct: 10.0,
            features: features.to_string(),
        }
    }

    #[test]
    fn the_engine_of_every_case_is_printed_with_its_case_count() {
        let r = crate::validate::summarise(
            vec![row("a", "ttft_p50_ms", ""), row("a", "output_tok_s", "")],
            Vec::new(),
        );
        let md = markdown(&r, Path::new("v.toml"));
        assert!(
            md.contains("## Engines") && md.contains("| AWS NxD Inference 2.26 | 1 |"),
            "{md}"
        );
    }

    #[test]
    fn case_features_are_listed_once_per_case_and_only_when_present() {
        let plain = summarise(vec![row("a", "ttft_p50_ms", "")], Vec::new());
        let md = markdown(&plain, Path::new("v.toml"));
        assert!(!md.contains("Case features"), "{md}");
        let featured = summarise(
            vec![
                row("a", "ttft_p50_ms", ""),
                row("b", "ttft_p50_ms", "prefix cache: hit rate 0.5"),
                row("b", "tpot_p50_ms", "prefix cache: hit rate 0.5"),
            ],
            Vec::new(),
        );
        assert_eq!(case_features(&featured), vec![("b", "prefix cache: hit rate 0.5")]);
        let md = markdown(&featured, Path::new("v.toml"));
        assert!(
            md.contains("\n## Case features\n\n- `b`: prefix cache: hit rate 0.5\n"),
            "{md}"
        );
        // A plain row's JSON has no `features` key, so published reports keep their shape.
        let json = serde_json::to_string(&plain.rows[0]).unwrap();
        assert!(!json.contains("features"), "{json}");
    }
}
