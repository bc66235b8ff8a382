//! `codesim compare A B`: two runs or two sweeps side by side.
//!
//! A run is a `summary.json` (written by `codesim run --out`, or a sweep's `runs/<id>/summary.json`)
//! or the directory holding it; a sweep is its output directory (`sweep.json` beside
//! `results.parquet`), or any of the files in it. Runs compare metric by metric: both values, the
//! difference B − A and the ratio B / A. Sweeps are joined on configuration (the values of their
//! group-by axes) and swept value, and compared on the headline metrics. A backlogged or
//! overloaded run's values carry the ⚠ of the sweep report.

use crate::error::{Error, Result};
use crate::metrics::RunResult;
use crate::metrics::slo::unsteady;
use crate::numfmt::sig4 as fmt_num;
use crate::report::markdown::{esc, to_html};
use crate::report::sweep::{UNSTABLE_MARK, axis_title, groups};
use crate::sweep::Manifest;
use crate::sweep::exec::{RunRecord, collect, read_manifest};
use crate::tomlpath::value_label;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// One side of a comparison.
pub enum Side {
    Run {
        path: PathBuf,
        result: Box<RunResult>,
    },
    Sweep {
        dir: PathBuf,
        manifest: Box<Manifest>,
        records: Vec<RunRecord>,
    },
}

/// Files of a sweep's output directory: naming one means its directory.
const SWEEP_FILES: [&str; 5] = [
    "sweep.json",
    "results.parquet",
    "results.csv",
    "report.md",
    "report.html",
];

/// Reads a run or a sweep from `path` (see the module's doc for what is accepted).
pub fn load(path: &Path) -> Result<Side> {
    let accepted = "a run (summary.json, or the directory of `codesim run --out`) or a sweep (its output directory, with sweep.json)";
    if path.is_dir() {
        if path.join("sweep.json").is_file() {
            return load_sweep(path);
        }
        if path.join("summary.json").is_file() {
            return load_run(&path.join("summary.json"));
        }
        return Err(Error::input(
            path,
            "",
            format!("holds neither sweep.json nor summary.json; accepted: {accepted}"),
        ));
    }
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if SWEEP_FILES.contains(&name) {
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        if !dir.join("sweep.json").is_file() {
            return Err(Error::input(
                path,
                "",
                format!("is not in a sweep's output directory (no sweep.json beside it); accepted: {accepted}"),
            ));
        }
        return load_sweep(dir);
    }
    if path.extension().is_some_and(|e| e == "json") {
        return load_run(path);
    }
    Err(Error::input(
        path,
        "",
        format!("not found or not a known file; accepted: {accepted}"),
    ))
}

fn load_sweep(dir: &Path) -> Result<Side> {
    let manifest = read_manifest(dir)?;
    let records = collect(dir, &manifest)?;
    Ok(Side::Sweep {
        dir: dir.to_path_buf(),
        manifest: Box::new(manifest),
        records,
    })
}

/// A run's summary: a `RunResult`, or a sweep run's record holding one.
fn load_run(path: &Path) -> Result<Side> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let v: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| Error::input(path, format!("line {}", e.line()), format!("not JSON: {e}")))?;
    let result: RunResult = if v.get("result").is_some() && v.get("status").is_some() {
        let rec: RunRecord =
            serde_json::from_value(v).map_err(|e| Error::input(path, "", format!("not a sweep run record: {e}")))?;
        let Some(r) = rec.ok().cloned() else {
            return Err(Error::input(
                path,
                "status",
                format!(
                    "run {} was skipped ({}); it has no result to compare",
                    rec.id,
                    rec.reason.unwrap_or_default()
                ),
            ));
        };
        r
    } else {
        serde_json::from_value(v).map_err(|e| {
            Error::input(
                path,
                "",
                format!("not a run summary (summary.json of `codesim run --out`): {e}"),
            )
        })?
    };
    Ok(Side::Run {
        path: path.to_path_buf(),
        result: Box::new(result),
    })
}

/// Picks one figure of a run.
type Figure = (&'static str, fn(&RunResult) -> f64);

/// The metrics of a run comparison, in order.
const RUN_METRICS: [Figure; 20] = [
    ("TTFT p50 (ms)", |r| r.ttft_ms.p50),
    ("TTFT p90 (ms)", |r| r.ttft_ms.p90),
    ("TTFT p99 (ms)", |r| r.ttft_ms.p99),
    ("TPOT p50 (ms)", |r| r.tpot_ms.p50),
    ("TPOT p99 (ms)", |r| r.tpot_ms.p99),
    ("ITL p99 (ms)", |r| r.itl_ms.p99),
    ("E2E p50 (ms)", |r| r.e2e_ms.p50),
    ("E2E p99 (ms)", |r| r.e2e_ms.p99),
    ("queue p99 (ms)", |r| r.queue_ms.p99),
    ("requests/s", |r| r.throughput.requests_s),
    ("output tok/s", |r| r.throughput.output_tok_s),
    ("$/M output tok", |r| r.cost.usd_per_mtok_output),
    ("$/M total tok", |r| r.cost.usd_per_mtok_total),
    ("$/hour", |r| r.cost.usd_per_hour),
    ("instances", |r| f64::from(r.cost.instances)),
    ("J/output tok", |r| r.energy.j_per_output_token),
    ("requests completed", |r| r.requests.completed as f64),
    ("requests dropped", |r| r.requests.dropped as f64),
    ("requests rejected", |r| r.requests.rejected as f64),
    ("requests unfinished", |r| r.requests.unfinished as f64),
];

/// The metrics of a sweep comparison, one table each.
const SWEEP_METRICS: [Figure; 5] = [
    ("TTFT p99 (ms)", |r| r.ttft_ms.p99),
    ("TPOT p99 (ms)", |r| r.tpot_ms.p99),
    ("output tok/s", |r| r.throughput.output_tok_s),
    ("$/M output tok", |r| r.cost.usd_per_mtok_output),
    ("J/output tok", |r| r.energy.j_per_output_token),
];

/// B − A and B / A ("-" when B / A is undefined).
fn delta(a: f64, b: f64) -> [String; 2] {
    let ratio = if a != 0.0 && a.is_finite() && b.is_finite() {
        format!("{:.3}", b / a)
    } else {
        "-".into()
    };
    [fmt_num(b - a), ratio]
}

fn steady_label(r: &RunResult) -> String {
    unsteady(r).map_or("steady".into(), |why| {
        format!("{UNSTABLE_MARK} {}", why.split(':').next().unwrap_or(why))
    })
}

fn table(s: &mut String, head: &[&str], rows: &[Vec<String>]) {
    let _ = writeln!(s, "| {} |", head.join(" | "));
    let _ = writeln!(s, "|{}", "---|".repeat(head.len()));
    for r in rows {
        let cells: Vec<String> = r.iter().map(|c| c.replace('|', "\\|")).collect();
        let _ = writeln!(s, "| {} |", cells.join(" | "));
    }
    s.push('\n');
}

/// The comparison of two runs or two sweeps as Markdown; an error when they are not alike.
pub fn compare(a: &Side, b: &Side) -> Result<String> {
    match (a, b) {
        (Side::Run { path: pa, result: ra }, Side::Run { path: pb, result: rb }) => Ok(runs(pa, ra, pb, rb)),
        (
            Side::Sweep {
                dir: da,
                manifest: ma,
                records: ra,
            },
            Side::Sweep {
                dir: db,
                manifest: mb,
                records: rb,
            },
        ) => sweeps((da, ma, ra), (db, mb, rb)),
        (Side::Run { path, .. }, Side::Sweep { dir, .. }) | (Side::Sweep { dir, .. }, Side::Run { path, .. }) => {
            Err(Error::input(
                dir,
                "",
                format!(
                    "is a sweep and {} a single run; accepted: two runs or two sweeps",
                    path.display()
                ),
            ))
        }
    }
}

fn runs(pa: &Path, ra: &RunResult, pb: &Path, rb: &RunResult) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Comparison of two runs\n");
    let _ = writeln!(
        s,
        "- **A**: `{}` (scenario `{}`)\n- **B**: `{}` (scenario `{}`)\n",
        pa.display(),
        ra.scenario,
        pb.display(),
        rb.scenario
    );
    if unsteady(ra).is_some() || unsteady(rb).is_some() {
        let _ = writeln!(
            s,
            "{UNSTABLE_MARK} marks a backlogged or overloaded run: its percentiles describe how long the run lasted, not a load the deployment sustains.\n"
        );
    }
    let mut rows: Vec<Vec<String>> = RUN_METRICS
        .iter()
        .map(|(name, get)| {
            let (x, y) = (get(ra), get(rb));
            let [d, q] = delta(x, y);
            vec![name.to_string(), fmt_num(x), fmt_num(y), d, q]
        })
        .collect();
    rows.push(vec![
        "state".into(),
        steady_label(ra),
        steady_label(rb),
        "-".into(),
        "-".into(),
    ]);
    table(&mut s, &["metric", "A", "B", "B − A", "B / A"], &rows);
    s
}

type SweepSide<'a> = (&'a Path, &'a Manifest, &'a [RunRecord]);

/// (configuration, swept value) → record index, for the runs that ran.
fn keyed(m: &Manifest, records: &[RunRecord]) -> Vec<((String, String), usize)> {
    let x = m.x_axis();
    let mut out = Vec::new();
    for g in groups(m, records) {
        for &i in &g.runs {
            if records[i].ok().is_some() {
                let xv = x.map_or("-".into(), |a| value_label(&records[i].axes[a].1));
                out.push(((g.label.clone(), xv), i));
            }
        }
    }
    out
}

fn sweeps((da, ma, ra): SweepSide<'_>, (db, mb, rb): SweepSide<'_>) -> Result<String> {
    let xa = ma.x_axis().map(|a| ma.axes[a].key.clone());
    let xb = mb.x_axis().map(|a| mb.axes[a].key.clone());
    if xa != xb {
        return Err(Error::input(
            db,
            "plot.x",
            format!(
                "sweeps along different axes: {} sweeps `{}`, this one `{}`; accepted: two sweeps of the same axis",
                da.display(),
                xa.as_deref().unwrap_or("none"),
                xb.as_deref().unwrap_or("none")
            ),
        ));
    }
    let (ka, kb) = (keyed(ma, ra), keyed(mb, rb));
    let pairs: Vec<(&(String, String), usize, usize)> = ka
        .iter()
        .filter_map(|(k, i)| kb.iter().find(|(kk, _)| kk == k).map(|(_, j)| (k, *i, *j)))
        .collect();
    if pairs.is_empty() {
        let configs = |k: &[((String, String), usize)]| {
            let mut c: Vec<&str> = k.iter().map(|((g, _), _)| g.as_str()).collect();
            c.dedup();
            c.join("; ")
        };
        return Err(Error::input(
            db,
            "",
            format!(
                "has no configuration and swept value in common with {} (A: {}; B: {}); accepted: sweeps sharing at least one configuration (the values of their group-by axes)",
                da.display(),
                configs(&ka),
                configs(&kb)
            ),
        ));
    }
    let x_head = xa.as_deref().map_or("run".to_string(), axis_title);
    let mut s = String::new();
    let _ = writeln!(s, "# Comparison of two sweeps\n");
    let _ = writeln!(
        s,
        "- **A**: `{}` (sweep `{}`, {} runs)\n- **B**: `{}` (sweep `{}`, {} runs)\n",
        da.display(),
        ma.name,
        ra.len(),
        db.display(),
        mb.name,
        rb.len()
    );
    let _ = writeln!(
        s,
        "Runs joined on configuration and {x_head}: {} pairs. {UNSTABLE_MARK} marks a backlogged or overloaded run (its percentiles describe how long the run lasted, not a load the deployment sustains).\n",
        pairs.len()
    );
    for (name, get) in SWEEP_METRICS {
        let _ = writeln!(s, "## {name}\n");
        let rows: Vec<Vec<String>> = pairs
            .iter()
            .map(|((g, x), i, j)| {
                let (a, b) = (
                    ra[*i].ok().expect("keyed runs ran"),
                    rb[*j].ok().expect("keyed runs ran"),
                );
                let mark = |r: &RunResult| {
                    if unsteady(r).is_some() {
                        format!(" {UNSTABLE_MARK}")
                    } else {
                        String::new()
                    }
                };
                let [d, q] = delta(get(a), get(b));
                vec![
                    g.clone(),
                    x.clone(),
                    format!("{}{}", fmt_num(get(a)), mark(a)),
                    format!("{}{}", fmt_num(get(b)), mark(b)),
                    d,
                    q,
                ]
            })
            .collect();
        table(&mut s, &["configuration", &x_head, "A", "B", "B − A", "B / A"], &rows);
    }
    unmatched(&mut s, "A", &ka, &kb);
    unmatched(&mut s, "B", &kb, &ka);
    Ok(s)
}

/// The runs of one side with no partner on the other, if any.
fn unmatched(s: &mut String, side: &str, mine: &[((String, String), usize)], theirs: &[((String, String), usize)]) {
    let alone: Vec<String> = mine
        .iter()
        .filter(|(k, _)| !theirs.iter().any(|(t, _)| t == k))
        .map(|((g, x), _)| format!("{g} @ {x}"))
        .collect();
    if !alone.is_empty() {
        let _ = writeln!(s, "Only in {side} ({} runs): {}.\n", alone.len(), alone.join("; "));
    }
}

/// The comparison as one self-contained HTML page.
pub fn html(md: &str) -> String {
    let title = md.lines().next().unwrap_or("").trim_start_matches("# ");
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n<style>\nbody {{ font-family: sans-serif; max-width: 1250px; margin: 2em auto; padding: 0 1em; }}\ntable {{ border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }}\nth, td {{ border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }}\nth {{ background: #f2f2f2; }}\n</style>\n</head>\n<body>\n{}</body>\n</html>\n",
        esc(title),
        to_html(md)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn difference_and_ratio() {
        assert_eq!(delta(2.0, 3.0), ["1".to_string(), "1.500".to_string()]);
        assert_eq!(delta(0.0, 3.0)[1], "-");
        assert_eq!(delta(4.0, 1.0), ["-3".to_string(), "0.250".to_string()]);
    }
}
