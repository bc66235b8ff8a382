//! `validate`: the comparison with published measurements as a terminal table, JSON, and with
//! `--out` a JSON file, a markdown report and a predicted-vs-measured plot.

use super::{ensure_out_dir, write_atomic};
use codesim::error::{Error, Result};
use codesim::validate::{Report, Summary};
use std::path::Path;

pub fn run(path: &Path, json: bool, out: Option<&Path>) -> Result<()> {
    if let Some(dir) = out {
        ensure_out_dir(dir)?;
    }
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

/// `codesim calibrate`: fit each chip, print before/after, optionally rewrite the profiles.
pub fn calibrate(file: &Path, chips: &[String], write: Option<&Path>) -> Result<()> {
    use codesim::validate::calibrate::{calibrate, rewrite_profile};
    let chips: Vec<String> = if chips.is_empty() {
        let text = codesim::input::read_text(file)?;
        let vf = codesim::validate::parse(&text, file)?;
        let catalog = codesim::hw::Catalog::builtin()?;
        let mut names: Vec<String> = vf
            .case
            .iter()
            .filter_map(|c| catalog.hardware(&c.instance).ok())
            .map(|hw| hw.chip.name)
            .collect();
        names.sort();
        names.dedup();
        names
    } else {
        chips.to_vec()
    };
    let shown = file
        .file_name()
        .map_or_else(|| file.display().to_string(), |n| n.to_string_lossy().to_string());
    for chip in chips {
        let c = calibrate(file, &chip)?;
        println!(
            "{}: {} cases, {} (case, metric) pairs, {} iterations, {} evaluations",
            c.chip, c.cases, c.pairs, c.iterations, c.evaluations
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
            println!("  {:<24} {:>12.4} -> {:>12.4}", p.key, p.before, p.after);
        }
        if let Some(dir) = write {
            let note = format!(
                "codesim calibrate {shown}, {} {} cases ({} pairs)",
                c.cases, c.chip, c.pairs
            );
            let mut written = false;
            let mut entries: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
                .map_err(|e| Error::io(dir, e))?
                .filter_map(|e| e.ok())
                .map(|e| e.path())
                .collect();
            entries.sort();
            for path in entries
                .into_iter()
                .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            {
                let text = codesim::input::read_text(&path)?;
                if let Some(new) = rewrite_profile(&text, &c.chip, &c.params, &note) {
                    super::write_atomic(&path, new.as_bytes())?;
                    println!("  written to {}", path.display());
                    written = true;
                }
            }
            if !written {
                return Err(Error::input(
                    dir,
                    "",
                    format!(
                        "no profile file defines chip `{}` with a [chip.efficiency] section",
                        c.chip
                    ),
                ));
            }
        }
    }
    Ok(())
}
