//! `validate`: the comparison with published measurements as a terminal table, JSON, and with
//! `--out` a JSON file, a markdown report and a predicted-vs-measured plot.

use super::{ensure_out_dir, write_atomic};
use codesim::error::{Error, Result};
use codesim::validate::import::Context;
use codesim::validate::{Report, Summary};
use std::path::{Path, PathBuf};

/// What ran a benchmark result file: a context TOML and flags that override its keys
/// (docs/reference/import.md).
#[derive(clap::Args, Debug, Default)]
pub struct ContextArgs {
    /// Context TOML for benchmark result files: the instance, model, TP and engine they ran on.
    #[arg(long, value_name = "FILE")]
    context: Option<PathBuf>,
    /// Instance type (`codesim hw list`); overrides the context's `instance`.
    #[arg(long)]
    instance: Option<String>,
    /// Model preset or config.json; overrides `model`.
    #[arg(long)]
    model: Option<String>,
    /// Weight format (bf16, fp8, …); overrides `weights`.
    #[arg(long)]
    weights: Option<String>,
    /// Tensor-parallel degree; overrides `tp`.
    #[arg(long)]
    tp: Option<u32>,
    /// Serving engine; overrides `engine`.
    #[arg(long)]
    engine: Option<String>,
    /// Engine version; overrides `engine_version`.
    #[arg(long)]
    engine_version: Option<String>,
    /// Closed-loop clients, for files without their load (CSV exports, LLMPerf per-request).
    #[arg(long)]
    concurrency: Option<u32>,
    /// Requests per second, likewise.
    #[arg(long)]
    qps: Option<f64>,
}

impl ContextArgs {
    /// The context, or `None` when neither a file nor a flag was given.
    fn context(&self) -> Result<Option<Context>> {
        let mut c = match &self.context {
            Some(p) => Context::read(p)?,
            None => Context::default(),
        };
        let flag = |name: &str, m: String| Error::input("<command line>", format!("--{name}"), m);
        if let Some(w) = &self.weights {
            let d = codesim::dtype::Dtype::parse(w).ok_or_else(|| {
                flag(
                    "weights",
                    format!("unknown format `{w}`; accepted: bf16, fp16, fp32, fp8, int8, int4, nvfp4, mxfp4"),
                )
            })?;
            c.weights = Some(d);
        }
        if let Some(q) = self.qps.filter(|q| !(q.is_finite() && *q > 0.0)) {
            return Err(flag("qps", format!("must be a number > 0, got {q}")));
        }
        let set = |dst: &mut Option<String>, v: &Option<String>| {
            if v.is_some() {
                dst.clone_from(v);
            }
        };
        set(&mut c.instance, &self.instance);
        set(&mut c.model, &self.model);
        set(&mut c.engine, &self.engine);
        set(&mut c.engine_version, &self.engine_version);
        c.tp = self.tp.or(c.tp);
        c.concurrency = self.concurrency.or(c.concurrency);
        c.qps = self.qps.or(c.qps);
        Ok((!c.is_empty() || self.context.is_some()).then_some(c))
    }
}

pub fn run(files: &[PathBuf], context: &ContextArgs, cv: bool, json: bool, out: Option<&Path>) -> Result<()> {
    if let Some(dir) = out {
        ensure_out_dir(dir)?;
    }
    let ctx = context.context()?;
    if cv {
        if ctx.is_some() {
            return Err(Error::input(
                "<command line>",
                "--cv",
                "cross-validation pools validation files; a context (--context, --instance, …) is for benchmark result files: validate or calibrate them without --cv",
            ));
        }
        return cross_validate(files, json, out);
    }
    if files.len() > 1 && ctx.is_none() {
        return Err(Error::input(
            &files[1],
            "",
            "validate takes one validation file (several only with --cv, which pools them), or several benchmark result files with a context (--context or --instance, --model, …)",
        ));
    }
    let report = codesim::validate::run_files(files, ctx.as_ref())?;
    let path = &files[0];
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
    // 12 fits the published metrics; the per-request TPOT names are longer.
    let m = r.rows.iter().map(|x| x.metric.len()).max().unwrap_or(0).max(12);
    println!(
        "{:<w$}  {:<m$} {:>12} {:>12} {:>9}",
        "case", "metric", "predicted", "measured", "error %"
    );
    for x in &r.rows {
        println!(
            "{:<w$}  {:<m$} {:>12} {:>12} {:>+9.1}",
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
    let g = groups.iter().map(|(n, _)| n.len()).max().unwrap_or(0).max(14);
    println!(
        "{:<g$} {:>5} {:>10} {:>10} {:>10}",
        what, "n", "median |e|", "p90 |e|", "max |e|"
    );
    let row = |name: &str, s: &Summary| {
        println!(
            "{:<g$} {:>5} {:>9.1}% {:>9.1}% {:>9.1}%",
            name, s.n, s.median_abs_error_pct, s.p90_abs_error_pct, s.max_abs_error_pct
        )
    };
    for (name, s) in groups {
        row(name, s);
    }
    row("all", all);
}

use codesim::numfmt::measured as num;

/// `codesim calibrate`: fit each (chip, engine version) of the files, print before/after,
/// optionally write the values into the engine profiles of a directory.
pub fn calibrate(files: &[PathBuf], context: &ContextArgs, chips: &[String], write: Option<&Path>) -> Result<()> {
    use codesim::validate::calibrate::{calibrate, rewrite_engine, targeted_cases, targets};
    let ctx = context.context()?;
    if files.len() > 1 && ctx.is_none() {
        return Err(Error::input(
            &files[1],
            "",
            "calibrate takes one validation file, or several benchmark result files with a context (--context or --instance, --model, …)",
        ));
    }
    let file = files[0].as_path();
    let mut cases = Vec::new();
    for f in files {
        cases.extend(codesim::validate::load(f, ctx.as_ref())?);
    }
    let (cases, targeted) = targeted_cases(cases, file)?;
    let all = targets(&targeted);
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
        let c = calibrate(&cases, &targeted, file, &t)?;
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
