//! `codesim calibrate`: fits a chip's cost-model efficiencies to its cases in a validation file,
//! by Levenberg–Marquardt on the log-ratio of predicted to measured, every (case, metric) pair
//! weighted equally. The same physics serves every case: no per-case term exists to fit.

use super::{Case, Summary, parse, run_case_with};
use crate::error::{Error, Result};
use crate::hw::{Catalog, Chip, ChipKind};
use crate::perf::fit::{FitResult, levenberg_marquardt};
use rayon::prelude::*;
use serde::Serialize;
use std::path::Path;

/// How a parameter is kept in its physical range during the fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Range {
    /// (0, 1): logit.
    Fraction,
    /// (0, 0.95): streaming bandwidth never reaches the pin rate (refresh, bank conflicts).
    Bandwidth,
    /// > 0: log.
    Positive,
}

/// Which efficiencies are fitted, per chip kind. Neuron cases measure TTFT and TPOT as well as
/// throughput, so the KV-read efficiency and attention-score traffic are identifiable there;
/// the GPU cases measure throughput only.
fn parameters(kind: ChipKind) -> &'static [(&'static str, Range)] {
    match kind {
        // Each Neuron chip appears at one TP degree only, where a collective's fixed cost and its
        // per-hop latency cannot be told apart: the per-hop latency is fitted, the fixed cost
        // stays an assumption.
        ChipKind::Neuron => &[
            ("efficiency.compute", Range::Fraction),
            ("efficiency.compute_half_tokens", Range::Positive),
            ("efficiency.memory", Range::Bandwidth),
            ("efficiency.kv_memory", Range::Bandwidth),
            ("efficiency.attention_score_bytes", Range::Positive),
            ("efficiency.step_overhead_us", Range::Positive),
            ("link.latency_us", Range::Positive),
        ],
        ChipKind::Gpu | ChipKind::Cpu => &[
            ("efficiency.compute", Range::Fraction),
            ("efficiency.compute_half_tokens", Range::Positive),
            ("efficiency.memory", Range::Bandwidth),
            ("efficiency.step_overhead_us", Range::Positive),
            ("efficiency.collective_latency_us", Range::Positive),
        ],
    }
}

fn current(chip: &Chip, key: &str) -> f64 {
    let e = &chip.efficiency;
    match key {
        "efficiency.compute" => e.compute,
        "efficiency.compute_half_tokens" => e.compute_half_tokens,
        "efficiency.memory" => e.memory,
        "efficiency.kv_memory" => e.kv_memory.unwrap_or(e.memory),
        "efficiency.attention_score_bytes" => e.attention_score_bytes.max(0.01),
        "efficiency.step_overhead_us" => e.step_overhead_us.max(0.1),
        "efficiency.collective_latency_us" => e.collective_latency_us.max(0.1),
        "link.latency_us" => chip.link.latency_us.max(0.01),
        _ => 0.0,
    }
}

fn to_free(v: f64, r: Range) -> f64 {
    match r {
        Range::Fraction => {
            let v = v.clamp(1e-4, 1.0 - 1e-4);
            (v / (1.0 - v)).ln()
        }
        Range::Bandwidth => to_free(v / MAX_BANDWIDTH_FRACTION, Range::Fraction),
        Range::Positive => v.max(1e-6).ln(),
    }
}

/// The highest fraction of HBM bandwidth a fit may assume.
const MAX_BANDWIDTH_FRACTION: f64 = 0.95;

fn from_free(x: f64, r: Range) -> f64 {
    match r {
        Range::Fraction => 1.0 / (1.0 + (-x).exp()),
        Range::Bandwidth => MAX_BANDWIDTH_FRACTION * from_free(x, Range::Fraction),
        Range::Positive => x.exp(),
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct FittedParam {
    pub key: String,
    pub before: f64,
    pub after: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Calibration {
    pub chip: String,
    pub cases: usize,
    pub pairs: usize,
    pub params: Vec<FittedParam>,
    pub before: Summary,
    pub after: Summary,
    pub iterations: u32,
    pub evaluations: u32,
}

/// The `[hardware.chip]` override table (dotted keys) for parameter values `v`.
fn overrides(keys: &[(&str, Range)], v: &[f64]) -> String {
    let mut t = String::from("\n[hardware.chip]\n");
    for ((k, _), x) in keys.iter().zip(v) {
        t.push_str(&format!("{k} = {}\n", toml::Value::Float(*x)));
    }
    t
}

/// Scale of the robust loss: errors well under 10 % count quadratically, larger ones only
/// logarithmically, so a few cases whose published setup the physics cannot explain (a different
/// compiler configuration, say) do not drag every other prediction off.
const ROBUST_SCALE: f64 = 0.10;

/// Cauchy loss as a residual: r̃² = c² · ln(1 + (r/c)²).
fn robust(r: f64) -> f64 {
    let c = ROBUST_SCALE;
    r.signum() * c * (1.0 + (r / c).powi(2)).ln().sqrt()
}

/// Signed errors (%) and robust log-ratios of every (case, metric) pair of `cases` at parameters `v`.
fn evaluate(
    cases: &[&Case],
    catalog: &Catalog,
    file: &Path,
    keys: &[(&str, Range)],
    v: &[f64],
    pairs: usize,
) -> (Vec<f64>, Vec<f64>) {
    let extra = overrides(keys, v);
    let per_case: Vec<Vec<(f64, f64)>> = cases
        .par_iter()
        .map(|c| match run_case_with(c, catalog, file, &extra) {
            Ok(rows) => rows
                .iter()
                .map(|r| (r.error_pct, robust((r.predicted.max(1e-12) / r.measured).ln())))
                .collect(),
            Err(_) => c.measured.present().iter().map(|_| (1e4, 5.0)).collect(),
        })
        .collect();
    let flat: Vec<(f64, f64)> = per_case.into_iter().flatten().collect();
    debug_assert_eq!(flat.len(), pairs);
    flat.into_iter().unzip()
}

/// Fits the efficiencies of `chip` to its cases in the validation file at `path`.
pub fn calibrate(path: &Path, chip_name: &str) -> Result<Calibration> {
    let text = crate::input::read_text(path)?;
    let vf = parse(&text, path)?;
    let catalog = Catalog::builtin()?;
    let chip = catalog
        .chip(chip_name)
        .map_err(|m| Error::input(path, "--chip", m))?
        .clone();
    let cases: Vec<&Case> = vf
        .case
        .iter()
        .filter(|c| catalog.hardware(&c.instance).is_ok_and(|hw| hw.chip.name == chip.name))
        .filter(|c| run_case_with(c, &catalog, path, "").is_ok())
        .collect();
    if cases.is_empty() {
        return Err(Error::input(
            path,
            "--chip",
            format!("no runnable case uses chip `{}`", chip.name),
        ));
    }
    let keys = parameters(chip.kind);
    let pairs: usize = cases.iter().map(|c| c.measured.present().len()).sum();
    let start: Vec<f64> = keys.iter().map(|(k, _)| current(&chip, k)).collect();
    let (err_before, _) = evaluate(&cases, &catalog, path, keys, &start, pairs);
    let x0: Vec<f64> = start.iter().zip(keys).map(|(v, (_, r))| to_free(*v, *r)).collect();
    let values = |x: &[f64]| -> Vec<f64> { x.iter().zip(keys).map(|(x, (_, r))| from_free(*x, *r)).collect() };
    let fit: FitResult = levenberg_marquardt(|x| evaluate(&cases, &catalog, path, keys, &values(x), pairs).1, &x0, 60);
    let end = values(&fit.x);
    let (err_after, _) = evaluate(&cases, &catalog, path, keys, &end, pairs);
    Ok(Calibration {
        chip: chip.name.clone(),
        cases: cases.len(),
        pairs,
        params: keys
            .iter()
            .zip(start.iter().zip(&end))
            .map(|((k, _), (b, a))| FittedParam {
                key: k.to_string(),
                before: *b,
                after: *a,
            })
            .collect(),
        before: Summary::of(err_before),
        after: Summary::of(err_after),
        iterations: fit.iterations,
        evaluations: fit.evaluations,
    })
}

/// Rewrites the fitted keys of `chip` in a profile file's text (`efficiency.compute` lives in the
/// chip's `[chip.efficiency]` section, `link.latency_us` in `[chip.link]`), each with a
/// `# fitted:` comment. Keys missing from their section are added. `None` when the file does not
/// define the chip.
pub fn rewrite_profile(text: &str, chip: &str, params: &[FittedParam], note: &str) -> Option<String> {
    let mut text = text.to_string();
    let mut sections: Vec<&str> = params
        .iter()
        .filter_map(|p| p.key.split_once('.').map(|(s, _)| s))
        .collect();
    sections.dedup();
    for section in sections {
        let in_section: Vec<FittedParam> = params
            .iter()
            .filter_map(|p| {
                let (s, k) = p.key.split_once('.')?;
                (s == section).then(|| FittedParam {
                    key: k.to_string(),
                    before: p.before,
                    after: p.after,
                })
            })
            .collect();
        text = rewrite_section(&text, chip, section, &in_section, note)?;
    }
    Some(text)
}

fn rewrite_section(text: &str, chip: &str, section: &str, params: &[FittedParam], note: &str) -> Option<String> {
    let header = format!("[chip.{section}]");
    let lines: Vec<&str> = text.lines().collect();
    let name_line = lines.iter().position(|l| {
        let code = l.split('#').next().unwrap_or("");
        code.trim().replace(' ', "") == format!("name=\"{chip}\"")
    })?;
    let sec = (name_line..lines.len()).find(|&i| lines[i].trim() == header)?;
    if lines[name_line..sec].iter().any(|l| l.trim() == "[[chip]]") {
        return None;
    }
    let end = (sec + 1..lines.len())
        .find(|&i| lines[i].trim_start().starts_with('['))
        .unwrap_or(lines.len());
    let mut out: Vec<String> = lines[..=sec].iter().map(|s| s.to_string()).collect();
    let mut done = vec![false; params.len()];
    for l in &lines[sec + 1..end] {
        let key = l.split('=').next().unwrap_or("").trim();
        match params.iter().position(|p| p.key == key) {
            Some(i) => {
                done[i] = true;
                out.push(fitted_line(&params[i], note));
            }
            None => out.push(l.to_string()),
        }
    }
    // New keys go before the trailing blank lines of the section.
    let mut tail = Vec::new();
    while out.last().is_some_and(|l| l.trim().is_empty()) {
        tail.push(out.pop().unwrap_or_default());
    }
    for (i, p) in params.iter().enumerate() {
        if !done[i] {
            out.push(fitted_line(p, note));
        }
    }
    out.extend(tail);
    out.extend(lines[end..].iter().map(|s| s.to_string()));
    let mut s = out.join("\n");
    if text.ends_with('\n') {
        s.push('\n');
    }
    Some(s)
}

fn fitted_line(p: &FittedParam, note: &str) -> String {
    let v = format!("{:.4}", p.after);
    let v = if v.contains('.') { v } else { format!("{v}.0") };
    format!("{:<35} # fitted: {note}", format!("{} = {v}", p.key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewriting_a_profile_replaces_and_adds_keys() {
        let text = "[[chip]]\nname = \"x\"   # source: a\n[chip.efficiency]\ncompute = 0.5   # assumption: b\nmemory = 0.7 # assumption: c\n\n[[chip]]\nname = \"y\"\n[chip.efficiency]\ncompute = 0.1\n";
        let p = vec![
            FittedParam {
                key: "efficiency.compute".into(),
                before: 0.5,
                after: 0.61234,
            },
            FittedParam {
                key: "efficiency.kv_memory".into(),
                before: 0.7,
                after: 0.25,
            },
        ];
        let out = rewrite_profile(text, "x", &p, "n cases").unwrap();
        assert!(out.contains("compute = 0.6123"), "{out}");
        assert!(out.contains("kv_memory = 0.2500"), "{out}");
        assert!(out.contains("memory = 0.7 # assumption: c"));
        assert!(
            out.contains("[[chip]]\nname = \"y\"\n[chip.efficiency]\ncompute = 0.1\n"),
            "{out}"
        );
        assert!(rewrite_profile(text, "z", &p, "").is_none());
    }

    #[test]
    fn free_parameters_round_trip() {
        for (v, r) in [
            (0.37, Range::Fraction),
            (0.8, Range::Bandwidth),
            (123.0, Range::Positive),
        ] {
            assert!((from_free(to_free(v, r), r) - v).abs() < 1e-9);
        }
    }
}
