//! `validate`: the comparison with published measurements as a terminal table, JSON, and with
//! `--out` a JSON file, a markdown report and a predicted-vs-measured plot.

use super::{ensure_out_dir, write_atomic};
use codesim::error::{Error, Result};
use codesim::validate::{Report, Summary};
use std::path::Path;

pub fn run(files: &[std::path::PathBuf], cv: bool, json: bool, out: Option<&Path>) -> Result<()> {
    if let Some(dir) = out {
        ensure_out_dir(dir)?;
    }
    if cv {
        return cross_validate(files, json, out);
    }
    let [path] = files else {
        return Err(Error::input(
            &files[1],
            "",
            "validate takes one file (several only with --cv, which pools them)",
        ));
    };
    let report = codesim::validate::run(path)?;
    if let Some(dir) = out {
        let text = serde_json::to_string_pretty(&report).expect("Report serialises");
        write_atomic(&dir.join("validation.json"), text.as_bytes())?;
        codesim::report::validation::write(dir, &report, path)?;
    }
    if json {
        println!("{}", serde_json::to_string(&report).expect("Report serialises"));
    } else {
        print_table(&report);
    }
    Ok(())
}

fn cross_validate(files: &[std::path::PathBuf], json: bool, out: Option<&Path>) -> Result<()> {
    let r = codesim::validate::cv::run(files)?;
    if let Some(dir) = out {
        let text = serde_json::to_string_pretty(&r).expect("CvReport serialises");
        write_atomic(&dir.join("cross-validation.json"), text.as_bytes())?;
        let md = codesim::report::validation::cv_markdown(&r, &codesim::validate::cv::shown(files));
        write_atomic(&dir.join("cross-validation.md"), md.as_bytes())?;
    }
    if json {
        println!("{}", serde_json::to_string(&r).expect("CvReport serialises"));
        return Ok(());
    }
    print!(
        "{}",
        codesim::report::validation::cv_markdown(&r, &codesim::validate::cv::shown(files))
    );
    Ok(())
}

fn print_table(r: &Report) {
    let w = r.rows.iter().map(|x| x.id.len()).max().unwrap_or(4).max(4);
    println!(
        "{:<w$}  {:<12} {:>12} {:>12} {:>9}",
        "case", "metric", "predicted", "measured", "error %"
    );
    for x in &r.rows {
        println!(
            "{:<w$}  {:<12} {:>12} {:>12} {:>+9.1}",
            x.id,
            x.metric,
            num(x.predicted),
            num(x.measured),
            x.error_pct
        );
    }
    for (id, f) in codesim::report::validation::case_features(r) {
        println!("features {id}: {f}");
    }
    for s in &r.skipped {
        println!("skipped {}: {}", s.id, s.reason);
    }
    println!();
    print_summaries("metric", &r.by_metric, &r.summary);
    println!();
    print_summaries("family", &r.by_family, &r.summary);
}

fn print_summaries(what: &str, groups: &[(String, Summary)], all: &Summary) {
    println!(
        "{:<14} {:>5} {:>10} {:>10} {:>10}",
        what, "n", "median |e|", "p90 |e|", "max |e|"
    );
    let row = |name: &str, s: &Summary| {
        println!(
            "{:<14} {:>5} {:>9.1}% {:>9.1}% {:>9.1}%",
            name, s.n, s.median_abs_error_pct, s.p90_abs_error_pct, s.max_abs_error_pct
        )
    };
    for (name, s) in groups {
        row(name, s);
    }
    row("all", all);
}

use codesim::numfmt::measured as num;

/// `codesim calibrate`: fit each (chip, engine version) of the file, print before/after,
/// optionally write the values into the engine profiles of a directory.
pub fn calibrate(file: &Path, chips: &[String], write: Option<&Path>) -> Result<()> {
    use codesim::validate::calibrate::{calibrate, rewrite_engine, targets};
    let all = targets(file)?;
    let chosen: Vec<_> = all
        .into_iter()
        .filter(|t| chips.is_empty() || chips.contains(&t.chip))
        .collect();
    if chosen.is_empty() {
        return Err(Error::input(
            file,
            "--chip",
            format!("no runnable case is on chip {}", chips.join(", ")),
        ));
    }
    let shown = file
        .file_name()
        .map_or_else(|| file.display().to_string(), |n| n.to_string_lossy().to_string());
    for t in chosen {
        let c = calibrate(file, &t)?;
        println!(
            "{}: {} cases, {} (case, metric) pairs, {} iterations, {} evaluations",
            t.label(),
            c.cases,
            c.pairs,
            c.iterations,
            c.evaluations
        );
        println!(
            "  |error| before: median {:.1} %, p90 {:.1} %, max {:.1} %; after: median {:.1} %, p90 {:.1} %, max {:.1} %",
            c.before.median_abs_error_pct,
            c.before.p90_abs_error_pct,
            c.before.max_abs_error_pct,
            c.after.median_abs_error_pct,
            c.after.p90_abs_error_pct,
            c.after.max_abs_error_pct
        );
        for p in &c.params {
            println!("  {:<34} {:>12.4} -> {:>12.4}", p.key, p.before, p.after);
        }
        if let Some(dir) = write {
            let note = format!("codesim calibrate {shown}, {} cases ({} pairs)", c.cases, c.pairs);
            let path = dir.join(format!("{}.toml", t.engine));
            let text = codesim::input::read_text(&path)?;
            super::write_atomic(&path, rewrite_engine(&text, &t, &c.params, &note).as_bytes())?;
            println!(
                "  written to {} [versions.\"{}\".chips.{}]",
                path.display(),
                t.version,
                t.chip
            );
        }
    }
    Ok(())
}
