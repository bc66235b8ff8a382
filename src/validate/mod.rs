//! `validate`: simulate published measurements and report the error of each predicted metric.
//!
//! The input file's schema is documented in `docs/reference/validation.md` (and the header of
//! `data/validation/published.toml`);
//! the optional feature keys (length distributions, `[case.speculative]`, `prefix_hit_rate`,
//! `replicas`, `max_batch`) in README.md ("Accuracy") and `validation/neuron-features.toml`.
//! Each case becomes a scenario (generated TOML text through [`crate::scenario::load_str`], so
//! every check a user's scenario gets applies here too), runs with seed 1, and each measured
//! metric is compared with its prediction: `error_pct = 100 · (predicted − measured) / measured`.
//!
//! A case that cannot be simulated here (weights or KV cache that do not fit, no request
//! completing) is reported as skipped with the reason, never dropped. A case that is malformed (a
//! key its load kind needs is missing, an unknown instance or model, a TP that does not match its
//! chips) is an input error naming the case and key: that is the file's fault. A file none of
//! whose cases runs is an error too (no table of NaN %).

mod annotate;
pub mod calibrate;
mod case;
mod context;
pub mod cv;
mod features;
#[cfg(test)]
mod features_tests;
pub mod import;
mod trtllm_bench;

pub use case::{Case, LoadKind, METRICS, Measured, TpUnit, ValidationFile, parse};
pub use features::{CaseSpeculative, Length, Lengths};

use crate::error::{Error, Result};
use crate::hw::Catalog;
use crate::input::read_text;
use crate::metrics::RunResult;
use rayon::prelude::*;
use serde::{Serialize, Serializer};
use std::path::{Path, PathBuf};

/// The seed of every case's run, so a validation is reproducible.
pub const SEED: u64 = 1;

/// Closed-loop cases simulate this many requests per client: enough rounds that the first
/// round's synchronised start no longer dominates the distributions (steady state).
pub const CLOSED_ROUNDS: u64 = 8;

/// Poisson cases without a `requests` key simulate this many requests.
pub const POISSON_DEFAULT_REQUESTS: u64 = 1000;

/// codesim's prediction of `metric` for case `c`: [`predicted`], except that a speculative case
/// compares `tpot_*` with the per-request TPOT. A speculative step emits its accepted tokens
/// together (gaps of zero between them), so the gap distribution's median says nothing about
/// speed; the sources report per-request figures there (LLMPerf's inter-token latency is
/// (end-to-end − TTFT) / output tokens of each request).
pub fn predicted_for(c: &Case, r: &RunResult, metric: &str) -> f64 {
    match (c.speculative.is_some(), metric) {
        (true, "tpot_p50_ms") => r.tpot_ms.p50,
        (true, "tpot_p99_ms") => r.tpot_ms.p99,
        _ => predicted(r, metric),
    }
}

/// codesim's prediction of `metric` (one of [`METRICS`]).
pub fn predicted(r: &RunResult, metric: &str) -> f64 {
    match metric {
        "output_tok_s" => r.throughput.output_tok_s,
        "ttft_p50_ms" => r.ttft_ms.p50,
        "ttft_p99_ms" => r.ttft_ms.p99,
        // Per-token latency over all tokens: the inter-token gap distribution (see `Measured`).
        "tpot_p50_ms" => r.itl_ms.p50,
        "tpot_p99_ms" => r.itl_ms.p99,
        // Per request, (E2E − TTFT) / (output − 1), then percentiles over requests.
        "request_tpot_p50_ms" => r.tpot_ms.p50,
        "request_tpot_p99_ms" => r.tpot_ms.p99,
        "e2e_p50_ms" => r.e2e_ms.p50,
        "e2e_p99_ms" => r.e2e_ms.p99,
        _ => f64::NAN,
    }
}

/// One (case, metric) comparison.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    pub id: String,
    /// Hardware family: the instance name before its first '.', e.g. "inf2", "p5".
    pub family: String,
    /// The serving engine and version the case ran ("TensorRT-LLM 0.13").
    pub engine: String,
    /// Cross-validation: the held-out group the row was predicted in (empty otherwise).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub group: String,
    pub metric: String,
    pub predicted: f64,
    pub measured: f64,
    /// 100 · (predicted − measured) / measured.
    pub error_pct: f64,
    /// The case's features (speculative decoding, prefix cache, replicas, length
    /// distributions) and what the simulation made of them; empty for a plain case.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub features: String,
}

/// A case that could not be simulated, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Skip {
    pub id: String,
    pub reason: String,
    /// The case key at fault when the file is wrong (an unknown instance or model, a TP that
    /// does not match the case's chips): then `validate` refuses the file (exit 2) instead of
    /// skipping the case. `None` when the case is well formed but cannot run here.
    #[serde(skip)]
    pub fault: Option<&'static str>,
}

/// Absolute errors summarised; percentiles interpolate linearly between closest ranks.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Summary {
    pub n: usize,
    pub median_abs_error_pct: f64,
    pub p90_abs_error_pct: f64,
    pub max_abs_error_pct: f64,
}

impl Summary {
    /// The summary of signed errors (NaN figures when there are none).
    pub fn of(errors_pct: impl IntoIterator<Item = f64>) -> Summary {
        let mut abs: Vec<f64> = errors_pct.into_iter().map(f64::abs).collect();
        abs.sort_by(f64::total_cmp);
        Summary {
            n: abs.len(),
            median_abs_error_pct: quantile(&abs, 0.5),
            p90_abs_error_pct: quantile(&abs, 0.9),
            max_abs_error_pct: abs.last().copied().unwrap_or(f64::NAN),
        }
    }
}

/// Linear interpolation between closest ranks of a sorted slice (numpy's default); NaN if empty.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Everything a validation produced.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    #[serde(rename = "cases")]
    pub rows: Vec<Row>,
    pub skipped: Vec<Skip>,
    /// Over every (case, metric) pair.
    pub summary: Summary,
    /// Per metric, in [`METRICS`] order (metrics with no rows left out).
    #[serde(serialize_with = "named_summaries::<_, MetricKey>")]
    pub by_metric: Vec<(String, Summary)>,
    /// Per hardware family, in order of first appearance in the file.
    #[serde(serialize_with = "named_summaries::<_, FamilyKey>")]
    pub by_family: Vec<(String, Summary)>,
}

/// The key naming a group in the JSON objects of `by_metric` / `by_family`.
trait GroupKey {
    const KEY: &'static str;
}
struct MetricKey;
struct FamilyKey;
impl GroupKey for MetricKey {
    const KEY: &'static str = "metric";
}
impl GroupKey for FamilyKey {
    const KEY: &'static str = "family";
}

/// `[(name, summary)]` as `[{"<key>": name, "n": …, …}]`, the name first.
fn named_summaries<S: Serializer, K: GroupKey>(v: &[(String, Summary)], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::{SerializeMap, SerializeSeq};
    struct Named<'a, K>(&'a str, &'a Summary, std::marker::PhantomData<K>);
    impl<K: GroupKey> Serialize for Named<'_, K> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let x = self.1;
            let mut m = s.serialize_map(Some(5))?;
            m.serialize_entry(K::KEY, self.0)?;
            m.serialize_entry("n", &x.n)?;
            m.serialize_entry("median_abs_error_pct", &x.median_abs_error_pct)?;
            m.serialize_entry("p90_abs_error_pct", &x.p90_abs_error_pct)?;
            m.serialize_entry("max_abs_error_pct", &x.max_abs_error_pct)?;
            m.end()
        }
    }
    let mut seq = s.serialize_seq(Some(v.len()))?;
    for (name, sum) in v {
        seq.serialize_element(&Named::<K>(name, sum, std::marker::PhantomData))?;
    }
    seq.end()
}

/// The hardware family of an instance name: its prefix before the first '.'.
pub fn family(instance: &str) -> String {
    instance.split('.').next().unwrap_or(instance).to_string()
}

/// Reads, parses and runs a validation file.
pub fn run(path: &Path) -> Result<Report> {
    run_files(&[path.to_path_buf()], None)
}

/// The cases of `path`: a validation file's `[[case]]`s, or the runs of a benchmark tool's
/// result file (recognised by content, [`import::sniff`]) with what `context` says ran them.
pub fn load(path: &Path, context: Option<&import::Context>) -> Result<Vec<Case>> {
    let text = read_text(path)?;
    let forced = context.and_then(|c| c.format);
    match import::sniff(&text, path, forced)? {
        Some(format) => import::cases(&text, path, format, context.unwrap_or(&import::Context::default())),
        None => {
            if context.is_some_and(|c| !c.is_empty()) {
                return Err(Error::input(
                    path,
                    "",
                    "is a validation file (each [[case]] names its hardware and model); a context (--context, --instance, …) applies to benchmark result files only",
                ));
            }
            Ok(parse(&text, path)?.case)
        }
    }
}

/// Runs the cases of one validation file, or of one or more result files with one context,
/// as one report. Ids must be unique over all of them.
pub fn run_files(files: &[PathBuf], context: Option<&import::Context>) -> Result<Report> {
    let mut rows = Vec::new();
    let mut skipped = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for f in files {
        let cases = load(f, context)?;
        // Ids repeated within one file are that file's error (run_cases); here, across files.
        if let Some(c) = cases.iter().find(|c| seen.contains(&c.id)) {
            return Err(c.error(
                f,
                "id",
                "is the id of a case of an earlier file (an imported case is named after its file): rename one of the files",
            ));
        }
        seen.extend(cases.iter().map(|c| c.id.clone()));
        let r = run_cases(&cases, f)?;
        rows.extend(r.rows);
        skipped.extend(r.skipped);
    }
    Ok(summarise(rows, skipped))
}

/// Checks every case (a malformed one is an input error), then simulates them in parallel.
/// Output order is the cases' order whatever the thread count.
pub fn run_cases(cases: &[Case], file: &Path) -> Result<Report> {
    let mut seen = std::collections::HashSet::new();
    for c in cases {
        c.check(file)?;
        if !seen.insert(c.id.as_str()) {
            return Err(c.error(file, "id", "is used by an earlier case; ids must be unique"));
        }
    }
    let catalog = Catalog::builtin()?;
    let outcomes: Vec<Result<Vec<Row>, Skip>> = cases.par_iter().map(|c| run_case(c, &catalog, file)).collect();
    let mut rows = Vec::new();
    let mut skipped = Vec::new();
    for (c, o) in cases.iter().zip(outcomes) {
        match o {
            Ok(r) => rows.extend(r),
            Err(Skip {
                fault: Some(key),
                reason,
                ..
            }) => return Err(c.error(file, key, reason)),
            Err(s) => skipped.push(s),
        }
    }
    if rows.is_empty() {
        let first = skipped
            .first()
            .map_or(String::new(), |s| format!(" (`{}`: {})", s.id, s.reason));
        return Err(Error::infeasible(
            file,
            "case",
            format!(
                "none of its {} cases could be simulated, so there is no error to report{first}",
                cases.len()
            ),
        ));
    }
    Ok(summarise(rows, skipped))
}

/// Groups rows into the overall, per-metric and per-family summaries.
pub fn summarise(rows: Vec<Row>, skipped: Vec<Skip>) -> Report {
    let summary = Summary::of(rows.iter().map(|r| r.error_pct));
    let by_metric = METRICS
        .iter()
        .filter(|&&m| rows.iter().any(|r| r.metric == m))
        .map(|&m| {
            let s = Summary::of(rows.iter().filter(|r| r.metric == m).map(|r| r.error_pct));
            (m.to_string(), s)
        })
        .collect();
    let mut families: Vec<&str> = Vec::new();
    for r in &rows {
        if !families.contains(&r.family.as_str()) {
            families.push(&r.family);
        }
    }
    let by_family = families
        .iter()
        .map(|&f| {
            let s = Summary::of(rows.iter().filter(|r| r.family == f).map(|r| r.error_pct));
            (f.to_string(), s)
        })
        .collect();
    Report {
        rows,
        skipped,
        summary,
        by_metric,
        by_family,
    }
}

/// The reason an error makes a case unrunnable: its message without the generated file's name.
fn reason(e: &Error) -> String {
    match e {
        Error::Input(i) | Error::Infeasible(i) if i.location.is_empty() => i.message.clone(),
        Error::Input(i) | Error::Infeasible(i) => format!("{}: {}", i.location, i.message),
        other => other.to_string(),
    }
}

fn run_case(c: &Case, catalog: &Catalog, file: &Path) -> Result<Vec<Row>, Skip> {
    run_case_with(c, catalog, file, "")
}

/// Runs one case with `extra` TOML appended to its generated scenario (calibration uses it to
/// override the chip's efficiencies).
pub fn run_case_with(c: &Case, catalog: &Catalog, file: &Path, extra: &str) -> Result<Vec<Row>, Skip> {
    let skip = |reason: String| Skip {
        id: c.id.clone(),
        reason,
        fault: None,
    };
    let fault = |key: &'static str| {
        move |reason: String| Skip {
            id: c.id.clone(),
            reason,
            fault: Some(key),
        }
    };
    let hw = catalog.hardware(&c.instance).map_err(fault("instance"))?;
    let toml = c.scenario_toml(&hw).map_err(fault("tp"))?;
    let (mut text, raised) = context::serve_at_needed_context(c, &hw, file, toml);
    text.push_str(extra);
    // Named after the case, next to the file, so relative model paths resolve as in the file.
    let mut name = file.as_os_str().to_owned();
    name.push(format!("#{}", c.id));
    let scenario_path = PathBuf::from(name);
    let sc = crate::scenario::load_str(&text, &scenario_path).map_err(|e| match &e {
        // The generated scenario names the case's model and instance as written: an input error
        // there is the file's (an unknown model preset or config path).
        Error::Input(i) if i.location.contains("model.") => fault("model")(reason(&e)),
        _ => skip(reason(&e)),
    })?;
    let r = crate::sim::simulate(&sc).map_err(|e| skip(reason(&e)))?;
    if r.requests.dropped > 0 || r.requests.completed == 0 {
        let why = r
            .notes
            .iter()
            .find(|n| n.starts_with("requests dropped"))
            .cloned()
            .unwrap_or_else(|| "no request completed".to_string());
        return Err(skip(format!(
            "does not fit: {} of {} requests dropped ({why})",
            r.requests.dropped, r.requests.arrived
        )));
    }
    let present = c.measured.present();
    if present.is_empty() {
        return Err(skip("no measured metrics in [case.measured]".to_string()));
    }
    let fam = family(&c.instance);
    let features = context::noted(features_simulated(c, &r), raised.as_ref());
    Ok(present
        .into_iter()
        .map(|(metric, measured)| {
            let p = predicted_for(c, &r, metric);
            Row {
                id: c.id.clone(),
                family: fam.clone(),
                engine: sc.engine.clone(),
                group: String::new(),
                metric: metric.to_string(),
                predicted: p,
                measured,
                error_pct: 100.0 * (p - measured) / measured,
                features: features.clone(),
            }
        })
        .collect())
}

/// The case's features and, for speculative decoding and the prefix cache, what the run
/// achieved: tokens per step against the closed form, the simulated hit rate.
fn features_simulated(c: &Case, r: &RunResult) -> String {
    let mut parts = vec![c.features()];
    if let Some(x) = &r.speculative {
        parts.push(format!(
            "simulated {:.2} tokens/step (closed form {:.2})",
            x.tokens_per_step, x.expected_tokens_per_step
        ));
    }
    if let Some(x) = &r.prefix_cache {
        parts.push(format!("simulated hit rate {:.3}", x.hit_rate));
    }
    parts.retain(|p| !p.is_empty());
    parts.join("; ")
}

/// Calibrated accuracy on `published.toml`, pinned by a regression test: (group, median |error| %,
/// p90 |error| %).
#[cfg(test)]
const PINNED_ACCURACY: [(&str, f64, f64); 9] = [
    ("output_tok_s", 1.5, 4.6),
    ("ttft_p50_ms", 7.5, 40.5),
    ("ttft_p99_ms", 7.1, 42.5),
    ("tpot_p50_ms", 1.5, 5.1),
    ("tpot_p99_ms", 2.4, 7.8),
    ("inf2", 2.9, 26.7),
    ("trn1", 2.5, 11.1),
    ("p5", 2.3, 6.2),
    ("all", 2.7, 20.2),
];

#[cfg(test)]
mod tests {
    use super::*;

    const PUBLISHED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/validation/published.toml");

    /// The published measurements (the in-repo copy of `../shared/validation/published.toml`).
    fn published() -> &'static Path {
        Path::new(PUBLISHED)
    }

    fn case_text(instance: &str, load_extra: &str) -> String {
        format!(
            r#"
[[case]]
id = "t1"
source = "test"
instance = "{instance}"
instances = 1
chips = 1
model = "llama-3-8b"
weights = "bf16"
compute = "bf16"
tp = 1
tp_unit = "gpu"
{load_extra}
input_tokens = 128
output_tokens = 16
[case.measured]
output_tok_s = 100.0
"#
        )
    }

    #[test]
    fn published_file_runs_or_skips_every_case() {
        let path = published();
        let text = read_text(path).unwrap();
        let file = parse(&text, path).unwrap();
        assert!(!file.case.is_empty());
        let report = run_cases(&file.case, path).unwrap();
        for s in &report.skipped {
            assert!(!s.reason.trim().is_empty(), "{} skipped without a reason", s.id);
        }
        for c in &file.case {
            let rows = report.rows.iter().filter(|r| r.id == c.id).count();
            let skipped = report.skipped.iter().any(|s| s.id == c.id);
            assert!(
                (skipped && rows == 0) || (!skipped && rows == c.measured.present().len()),
                "case {}: {rows} rows, skipped {skipped}",
                c.id
            );
            assert!(c.line.is_some());
        }
        assert_eq!(report.summary.n, report.rows.len());
        assert!(
            report
                .rows
                .iter()
                .all(|r| r.predicted.is_finite() && r.error_pct.is_finite())
        );
    }

    #[test]
    fn unknown_instance_is_the_files_fault() {
        // An unknown instance is a typo in the file, not a case codesim cannot run: exit 2
        // naming the case and the key, never a table of NaN %.
        let text = case_text("p9.huge", "load = \"static\"\nconcurrency = 1");
        let path = Path::new("v.toml");
        let f = parse(&text, path).unwrap();
        let e = run_cases(&f.case, path).unwrap_err().to_string();
        assert!(e.contains("case `t1`, key `instance`") && e.contains("p9.huge"), "{e}");
    }

    #[test]
    fn every_load_kind_runs() {
        for load in [
            "load = \"static\"\nconcurrency = 2",
            "load = \"closed\"\nconcurrency = 2",
            "load = \"offline\"\nrequests = 20",
            "load = \"poisson\"\nqps = 5.0\nrequests = 20",
            "load = \"poisson\"\nqps = 5.0",
            "load = \"constant\"\nqps = 5.0\nrequests = 20",
            "load = \"gamma\"\nqps = 5.0\ncv = 2.0\nrequests = 20\nmax_concurrency = 4\nclient = \"vllm-bench\"",
            "load = \"closed\"\nconcurrency = 2\nrequests = 6",
        ] {
            let text = case_text("p5.48xlarge", load);
            let path = Path::new("v.toml");
            let f = parse(&text, path).unwrap();
            let r = run_cases(&f.case, path).unwrap();
            assert!(r.skipped.is_empty(), "{load}: {:?}", r.skipped);
            assert_eq!(r.rows.len(), 1);
            let row = &r.rows[0];
            assert_eq!(row.family, "p5");
            assert!(row.predicted > 0.0, "{load}");
            assert!((row.error_pct - (row.predicted - 100.0)).abs() < 1e-9);
        }
    }

    #[test]
    fn rate_load_keys_are_checked_against_the_load_and_client() {
        let err = |extra: &str| {
            let f = parse(&case_text("p5.48xlarge", extra), Path::new("v.toml")).unwrap();
            run_cases(&f.case, Path::new("v.toml")).unwrap_err().to_string()
        };
        assert!(err("load = \"gamma\"\nqps = 1.0").contains("`cv`"));
        assert!(err("load = \"poisson\"\nqps = 1.0\ncv = 2.0").contains("not used by `poisson`"));
        assert!(err("load = \"closed\"\nconcurrency = 2\nmax_concurrency = 2").contains("max_concurrency"));
        let e = err("load = \"constant\"\nqps = 1.0\nmax_concurrency = 2\nclient = \"genai-perf\"");
        assert!(
            e.contains("max_concurrency") && e.contains("genai-perf runs either"),
            "{e}"
        );
        assert!(err("load = \"gamma\"\nqps = 1.0\ncv = 2.0\nclient = \"aiperf\"").contains("no gamma"));
    }

    #[test]
    fn static_without_concurrency_is_an_input_error() {
        let text = case_text("p5.48xlarge", "load = \"static\"");
        let path = Path::new("v.toml");
        let f = parse(&text, path).unwrap();
        let e = run_cases(&f.case, path).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        let e = e.to_string();
        assert!(
            e.contains("t1") && e.contains("concurrency") && e.contains("line 2"),
            "{e}"
        );
    }

    #[test]
    fn a_cases_client_is_checked_and_reaches_its_arrivals() {
        let path = Path::new("v.toml");
        let run = |extra: &str| {
            let f = parse(&case_text("p5.48xlarge", extra), path).unwrap();
            run_cases(&f.case, path)
        };
        let e = run("load = \"closed\"\nconcurrency = 2\nclient = \"llmpref\"")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("client") && e.contains("llmpref") && e.contains("llmperf"),
            "{e}"
        );
        let e = run("load = \"static\"\nconcurrency = 2\nclient = \"llmperf\"")
            .unwrap_err()
            .to_string();
        assert!(e.contains("closed and rate"), "{e}");
        let f = parse(
            &case_text(
                "p5.48xlarge",
                "load = \"closed\"\nconcurrency = 2\nclient = \"llmperf\"",
            ),
            path,
        )
        .unwrap();
        let hw = Catalog::builtin().unwrap().hardware("p5.48xlarge").unwrap();
        assert!(f.case[0].scenario_toml(&hw).unwrap().contains("client = \"llmperf\""));
    }

    #[test]
    fn unknown_key_is_an_input_error() {
        let text = case_text("p5.48xlarge", "load = \"static\"\nconcurency = 1");
        let e = parse(&text, Path::new("v.toml")).unwrap_err().to_string();
        assert!(e.contains("concurency") && e.contains("did you mean"), "{e}");
    }

    #[test]
    fn tp_units_map_to_codesim_ranks() {
        let catalog = Catalog::builtin().unwrap();
        let mut c = parse(
            &case_text("trn2.48xlarge", "load = \"static\"\nconcurrency = 1"),
            Path::new("v.toml"),
        )
        .unwrap()
        .case
        .remove(0);
        let trn2 = catalog.hardware("trn2.48xlarge").unwrap();
        c.tp_unit = TpUnit::LogicalNeuroncore;
        c.tp = 64;
        c.chips = 16;
        assert_eq!(c.ranks(&trn2), Ok(64));
        c.tp_unit = TpUnit::Neuroncore;
        c.tp = 128;
        assert_eq!(c.ranks(&trn2), Ok(64));
        c.chips = 8;
        assert!(c.ranks(&trn2).unwrap_err().contains("chips"));

        let inf2 = catalog.hardware("inf2.48xlarge").unwrap();
        c.tp = 24;
        c.chips = 12;
        assert_eq!(c.ranks(&inf2), Ok(24));
        c.tp_unit = TpUnit::LogicalNeuroncore;
        assert_eq!(c.ranks(&inf2), Ok(24));
        c.tp_unit = TpUnit::Gpu;
        assert!(c.ranks(&inf2).is_err());

        let p5 = catalog.hardware("p5.48xlarge").unwrap();
        c.tp = 16;
        c.chips = 16;
        c.instances = 2;
        assert_eq!(c.ranks(&p5), Ok(16));
        c.instances = 1;
        assert!(c.ranks(&p5).unwrap_err().contains("instances"));
    }

    #[test]
    fn summaries_interpolate() {
        let s = Summary::of([-10.0, 5.0, 1.0, -2.0, 20.0]);
        assert_eq!(s.n, 5);
        assert_eq!(s.median_abs_error_pct, 5.0);
        assert!((s.p90_abs_error_pct - 16.0).abs() < 1e-9);
        assert_eq!(s.max_abs_error_pct, 20.0);
    }

    /// Accuracy regression guard: the per-metric and per-family figures on the published file may
    /// not get worse than the calibrated ones (in percentage points of |error|, with a margin for
    /// harmless numeric drift). Update the table when a change improves accuracy.
    #[test]
    fn accuracy_on_the_published_file_does_not_regress() {
        const MARGIN_PCT: f64 = 1.5;
        // (group, median |error| %, p90 |error| %) as calibrated.
        const PINNED: &[(&str, f64, f64)] = &PINNED_ACCURACY;
        let path = published();
        let report = run(path).unwrap();
        let groups: Vec<(String, Summary)> = report
            .by_metric
            .iter()
            .chain(report.by_family.iter())
            .cloned()
            .chain(std::iter::once(("all".to_string(), report.summary)))
            .collect();
        for (name, median, p90) in PINNED {
            let s = &groups
                .iter()
                .find(|(g, _)| g == name)
                .unwrap_or_else(|| panic!("no group {name}"))
                .1;
            assert!(
                s.median_abs_error_pct <= median + MARGIN_PCT && s.p90_abs_error_pct <= p90 + MARGIN_PCT,
                "{name}: median {:.1} % (pinned {median}), p90 {:.1} % (pinned {p90})",
                s.median_abs_error_pct,
                s.p90_abs_error_pct
            );
        }
    }
}
