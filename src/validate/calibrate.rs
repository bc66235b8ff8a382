//! `codesim calibrate`: fits a chip's cost-model efficiencies to its cases in a validation file,
//! by Levenberg–Marquardt on the log-ratio of predicted to measured, every (case, metric) pair
//! weighted equally. The same physics serves every case: no per-case term exists to fit.

use super::{Case, Summary, run_case_with};
use crate::error::{Error, Result};
use crate::hw::{Catalog, Chip, ChipKind};
use crate::perf::fit::{FitResult, levenberg_marquardt};
use rayon::prelude::*;
use serde::Serialize;
use std::path::Path;

/// How a parameter is kept in its physical range during the fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Range {
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
pub(super) fn parameters(kind: ChipKind) -> &'static [(&'static str, Range)] {
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
            ("efficiency.collective_bandwidth", Range::Fraction),
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
        "efficiency.collective_bandwidth" => e.collective_bandwidth.min(0.95),
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

/// What one fit applies to: a chip under one engine version. Efficiencies are properties of
/// both (the same H100 is faster under one TensorRT-LLM release than another).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Target {
    pub chip: String,
    pub engine: String,
    pub version: String,
}

impl Target {
    /// The target of case `c` (its engine, else the chip's default; its version, else the
    /// engine's default), with the chip under that engine; `None` when the case does not resolve.
    pub fn of(c: &Case, catalog: &Catalog) -> Option<(Target, Chip)> {
        let hw = catalog.hardware(&c.instance).ok()?;
        let (engine, version) =
            crate::hw::engine::resolve(c.engine.as_deref(), c.engine_version.as_deref(), &hw.chip).ok()?;
        let chip = engine.apply_to(version, &hw.chip).ok()?;
        let t = Target {
            chip: hw.chip.name.clone(),
            engine: engine.name.clone(),
            version: version.to_string(),
        };
        Some((t, chip))
    }

    pub fn label(&self) -> String {
        format!("{} under {} {}", self.chip, self.engine, self.version)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Calibration {
    pub target: Target,
    pub cases: usize,
    pub pairs: usize,
    pub params: Vec<FittedParam>,
    pub before: Summary,
    pub after: Summary,
    pub iterations: u32,
    pub evaluations: u32,
}

/// The `[hardware.chip]` override table (dotted keys) for parameter values `v`.
pub(super) fn overrides(keys: &[(&str, Range)], v: &[f64]) -> String {
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
pub(super) fn evaluate(
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

/// The result of one least-squares fit.
pub(super) struct Fit {
    pub values: Vec<f64>,
    pub before: Vec<f64>,
    pub after: Vec<f64>,
    pub iterations: u32,
    pub evaluations: u32,
}

/// Fits the parameters of chip kind `kind`, from `start`, to every (case, metric) pair of `cases`:
/// one set of values for all of them (each case's own chip and engine otherwise).
pub(super) fn fit(cases: &[&Case], catalog: &Catalog, file: &Path, kind: ChipKind, start: &[f64]) -> Fit {
    let keys = parameters(kind);
    let pairs: usize = cases.iter().map(|c| c.measured.present().len()).sum();
    let (before, _) = evaluate(cases, catalog, file, keys, start, pairs);
    let x0: Vec<f64> = start.iter().zip(keys).map(|(v, (_, r))| to_free(*v, *r)).collect();
    let values = |x: &[f64]| -> Vec<f64> { x.iter().zip(keys).map(|(x, (_, r))| from_free(*x, *r)).collect() };
    let f: FitResult = levenberg_marquardt(|x| evaluate(cases, catalog, file, keys, &values(x), pairs).1, &x0, 60);
    let end = values(&f.x);
    let (after, _) = evaluate(cases, catalog, file, keys, &end, pairs);
    Fit {
        values: end,
        before,
        after,
        iterations: f.iterations,
        evaluations: f.evaluations,
    }
}

/// The starting values of a fit: the chip's, as its engine overlays leave them.
pub(super) fn start_values(chip: &Chip) -> Vec<f64> {
    parameters(chip.kind).iter().map(|(k, _)| current(chip, k)).collect()
}

/// A case's target and its chip under the target's engine.
pub type Targeted = (Target, Chip);

/// The runnable cases of `cases` (read from `path`: a validation file or an imported result
/// file, [`super::load`]), each with its target.
pub fn targeted_cases(cases: Vec<Case>, path: &Path) -> Result<(Vec<Case>, Vec<Targeted>)> {
    for c in &cases {
        c.check(path)?;
    }
    let catalog = Catalog::builtin()?;
    let mut runnable = Vec::new();
    let mut targets = Vec::new();
    for c in cases {
        if let Some(t) = Target::of(&c, &catalog).filter(|_| run_case_with(&c, &catalog, path, "").is_ok()) {
            runnable.push(c);
            targets.push(t);
        }
    }
    Ok((runnable, targets))
}

/// Every target of `targeted` (from [`targeted_cases`]), in order, once each.
pub fn targets(targeted: &[Targeted]) -> Vec<Target> {
    let mut v: Vec<Target> = targeted.iter().map(|(t, _)| t.clone()).collect();
    v.sort();
    v.dedup();
    v
}

/// Fits the efficiencies of `target` (a chip under one engine version) to its cases among
/// `cases` (each with its target in `targeted`, from [`targeted_cases`]) read from `path`.
pub fn calibrate(cases: &[Case], targeted: &[Targeted], path: &Path, target: &Target) -> Result<Calibration> {
    let catalog = Catalog::builtin()?;
    let mine: Vec<(&Case, &Chip)> = cases
        .iter()
        .zip(targeted)
        .filter(|(_, (t, _))| t == target)
        .map(|(c, (_, chip))| (c, chip))
        .collect();
    let Some(chip) = mine.first().map(|(_, chip)| (*chip).clone()) else {
        return Err(Error::input(
            path,
            "--chip",
            format!("no runnable case is on {}", target.label()),
        ));
    };
    let cases: Vec<&Case> = mine.iter().map(|(c, _)| *c).collect();
    let keys = parameters(chip.kind);
    let start = start_values(&chip);
    let f = fit(&cases, &catalog, path, chip.kind, &start);
    Ok(Calibration {
        target: target.clone(),
        cases: cases.len(),
        pairs: f.before.len(),
        params: keys
            .iter()
            .zip(start.iter().zip(&f.values))
            .map(|((k, _), (b, a))| FittedParam {
                key: k.to_string(),
                before: *b,
                after: *a,
            })
            .collect(),
        before: Summary::of(f.before),
        after: Summary::of(f.after),
        iterations: f.iterations,
        evaluations: f.evaluations,
    })
}

/// Rewrites (or adds) the section `[versions."V".chips.<chip>]` of an engine profile's text with
/// the fitted keys as dotted keys (`efficiency.compute = …`), each with a `# fitted:` comment;
/// other keys of the section stay.
pub fn rewrite_engine(text: &str, target: &Target, params: &[FittedParam], note: &str) -> String {
    let header = format!("[versions.\"{}\".chips.{}]", target.version, target.chip);
    let lines: Vec<&str> = text.lines().collect();
    let mut out: Vec<String> = Vec::new();
    let mut done = vec![false; params.len()];
    match lines.iter().position(|l| l.trim() == header) {
        Some(sec) => {
            let end = (sec + 1..lines.len())
                .find(|&i| lines[i].trim_start().starts_with('['))
                .unwrap_or(lines.len());
            out.extend(lines[..=sec].iter().map(|s| s.to_string()));
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
            let mut tail = Vec::new();
            while out.last().is_some_and(|l| l.trim().is_empty()) {
                tail.push(out.pop().unwrap_or_default());
            }
            out.extend(
                params
                    .iter()
                    .zip(&done)
                    .filter(|(_, d)| !**d)
                    .map(|(p, _)| fitted_line(p, note)),
            );
            out.extend(tail);
            out.extend(lines[end..].iter().map(|s| s.to_string()));
        }
        None => {
            out.extend(lines.iter().map(|s| s.to_string()));
            if out.last().is_some_and(|l| !l.trim().is_empty()) {
                out.push(String::new());
            }
            out.push(header);
            out.extend(params.iter().map(|p| fitted_line(p, note)));
        }
    }
    let mut s = out.join("\n");
    s.push('\n');
    s
}

fn fitted_line(p: &FittedParam, note: &str) -> String {
    let v = format!("{:.4}", p.after);
    let v = if v.contains('.') { v } else { format!("{v}.0") };
    format!("{:<45} # fitted: {note}", format!("{} = {v}", p.key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewriting_an_engine_adds_then_replaces_its_section() {
        let t = Target {
            chip: "h100-sxm".into(),
            engine: "trtllm".into(),
            version: "0.13".into(),
        };
        let p = |after| {
            vec![FittedParam {
                key: "efficiency.compute".into(),
                before: 0.5,
                after,
            }]
        };
        let text = "name = \"x\"\n[versions.\"0.13\"]\nsource = \"s\"\n[versions.\"1.0\"]\n";
        let once = rewrite_engine(text, &t, &p(0.61234), "n cases");
        let tail = once.rsplit("[versions.\"0.13\".chips.h100-sxm]\n").next().unwrap();
        assert!(
            tail.starts_with("efficiency.compute = 0.6123 ") && tail.ends_with("# fitted: n cases\n"),
            "{once}"
        );
        let twice = rewrite_engine(&once, &t, &p(0.7), "m cases");
        assert_eq!(twice.matches("efficiency.compute").count(), 1, "{twice}");
        assert!(twice.contains("efficiency.compute = 0.7000"), "{twice}");
        let parsed: toml::Table = twice.parse().unwrap();
        assert_eq!(
            parsed["versions"]["0.13"]["chips"]["h100-sxm"]["efficiency"]["compute"].as_float(),
            Some(0.7)
        );
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
