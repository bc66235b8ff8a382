//! Running a sweep: runs in parallel, each one's record written atomically to
//! `runs/<id>/summary.json` as it finishes; resuming, sharding and merging are all about which
//! of those files exist.
//!
//! A record holds the run's axis values, its status, the `RunResult` (wall time zeroed, so
//! records are byte-identical whatever the threads or machines), the goodput under the primary
//! SLO (from per-request latencies) and 101 quantiles (q = 0, 0.01, …, 1) of TTFT and TPOT, from
//! which CDF plots are drawn without keeping per-request rows.

use super::{Manifest, RunSpec, Sweep};
use crate::atomic::write_atomic;
use crate::error::{Error, Result};
use crate::metrics::{RunResult, quantile_sorted};
use crate::sim::{RunOptions, Simulation};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

pub const MANIFEST_FILE: &str = "sweep.json";
pub const RUNS_DIR: &str = "runs";
pub const SUMMARY_FILE: &str = "summary.json";
/// Points of the stored CDFs.
pub const CDF_POINTS: usize = 101;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    Ok,
    Skipped,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Ok => "ok",
            RunStatus::Skipped => "skipped",
        }
    }
}

/// Requests meeting the primary SLO, judged one by one.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Goodput {
    /// Of the requests that arrived, the fraction that completed within every threshold.
    pub fraction: f64,
    /// Those requests per second of simulated time.
    pub requests_s: f64,
}

/// Quantiles of per-request latencies, `CDF_POINTS` evenly spaced in q from 0 to 1.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Cdf {
    pub ttft_ms: Vec<f64>,
    pub tpot_ms: Vec<f64>,
}

/// What one run of a sweep left behind: `runs/<id>/summary.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub id: String,
    pub index: usize,
    /// (axis key, value) in axis order.
    pub axes: Vec<(String, toml::Value)>,
    pub status: RunStatus,
    /// Why a skipped run did not run.
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub seed: Option<u64>,
    #[serde(default)]
    pub goodput: Option<Goodput>,
    #[serde(default)]
    pub result: Option<RunResult>,
    #[serde(default)]
    pub cdf: Option<Cdf>,
    /// Which sweep and scenario this record is the result of: [`run_key`]. A record whose key
    /// differs (another sweep's, with the same axes but another base; an older record without
    /// one) is never adopted by `--resume` nor collected into a report.
    #[serde(default)]
    pub key: String,
}

/// The key of run `spec` of sweep `m`: FNV-1a (hex) of everything its record depends on — the
/// run's whole scenario text (base, seed and the run's axis values) and the sweep's SLOs (its
/// goodput). O(one run), not O(the manifest): `--resume` and reports key every record.
pub fn run_key(m: &Manifest, spec: &RunSpec) -> String {
    let mut h = crate::hash::Fnv64::new();
    h.bytes(serde_json::to_string(&m.slo).expect("SLOs serialise").as_bytes());
    h.bytes(&[0]);
    h.bytes(m.scenario_text(spec).unwrap_or_default().as_bytes());
    format!("{:016x}", h.finish())
}

impl RunRecord {
    /// Whether this record is the run `spec` of the sweep `m`.
    pub fn matches(&self, m: &Manifest, spec: &RunSpec) -> bool {
        self.key == run_key(m, spec)
            && self.id == spec.id
            && self.index == spec.index
            && self.axes.len() == m.axes.len()
            && self
                .axes
                .iter()
                .zip(m.axes.iter().zip(&spec.values))
                .all(|((k, v), (a, w))| *k == a.key && v == w)
    }
    pub fn ok(&self) -> Option<&RunResult> {
        match self.status {
            RunStatus::Ok => self.result.as_ref(),
            RunStatus::Skipped => None,
        }
    }
}

/// The K-th of N deterministic slices of a sweep: runs whose index % N == K (K from 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    /// Parses `K/N` (K in 0..N) or `auto/N`, which takes K from the array-job index of Slurm
    /// (`SLURM_ARRAY_TASK_ID` − `SLURM_ARRAY_TASK_MIN`), AWS Batch (`AWS_BATCH_JOB_ARRAY_INDEX`) or
    /// a Kubernetes Indexed Job (`JOB_COMPLETION_INDEX`).
    pub fn parse(text: &str, env: impl Fn(&str) -> Option<String>) -> std::result::Result<Shard, String> {
        let (k, n) = text
            .split_once('/')
            .ok_or_else(|| format!("`{text}` is not K/N or auto/N (e.g. 0/4)"))?;
        let count: u32 = n
            .trim()
            .parse()
            .ok()
            .filter(|&n| n >= 1)
            .ok_or_else(|| format!("shard count `{n}` is not a whole number >= 1"))?;
        let index: u32 = if k.trim() == "auto" {
            let slurm = env("SLURM_ARRAY_TASK_ID").map(|id| {
                let min = env("SLURM_ARRAY_TASK_MIN").unwrap_or_else(|| "0".into());
                (id, min)
            });
            let parse = |name: &str, v: &str| -> std::result::Result<u32, String> {
                v.trim()
                    .parse()
                    .map_err(|_| format!("{name}={v} is not a whole number"))
            };
            if let Some((id, min)) = slurm {
                let id = parse("SLURM_ARRAY_TASK_ID", &id)?;
                let min = parse("SLURM_ARRAY_TASK_MIN", &min)?;
                id.checked_sub(min)
                    .ok_or_else(|| format!("SLURM_ARRAY_TASK_ID={id} is below SLURM_ARRAY_TASK_MIN={min}"))?
            } else if let Some(v) = env("AWS_BATCH_JOB_ARRAY_INDEX") {
                parse("AWS_BATCH_JOB_ARRAY_INDEX", &v)?
            } else if let Some(v) = env("JOB_COMPLETION_INDEX") {
                parse("JOB_COMPLETION_INDEX", &v)?
            } else {
                return Err(
                    "--shard auto/N needs an array-job index: none of SLURM_ARRAY_TASK_ID, AWS_BATCH_JOB_ARRAY_INDEX, JOB_COMPLETION_INDEX is set"
                        .into(),
                );
            }
        } else {
            k.trim()
                .parse()
                .map_err(|_| format!("shard index `{k}` is not a whole number or `auto`"))?
        };
        if index >= count {
            return Err(format!(
                "shard index {index} is not below the shard count {count} (indices start at 0)"
            ));
        }
        Ok(Shard { index, count })
    }

    pub fn takes(&self, index: usize) -> bool {
        index % self.count as usize == self.index as usize
    }
}

#[derive(Debug, Clone, Copy)]
pub struct ExecOptions {
    /// Worker threads (0: one per core).
    pub jobs: usize,
    pub shard: Shard,
    /// Keep runs whose summary.json exists and belongs to this sweep.
    pub resume: bool,
    /// Set (by a Ctrl-C handler) to stop early: no run starts once it is set; the runs in flight
    /// finish and are written, and `Outcome::not_started` counts the rest.
    pub stop: Option<&'static AtomicBool>,
}

/// What `execute` did.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// Runs of this shard.
    pub planned: usize,
    /// Runs kept from an earlier, interrupted invocation.
    pub resumed: usize,
    /// Runs simulated now.
    pub ran: usize,
    pub skipped: usize,
    /// Runs left undone because `ExecOptions::stop` was set; `resume` finishes them.
    pub not_started: usize,
}

pub fn runs_dir(out: &Path) -> PathBuf {
    out.join(RUNS_DIR)
}

pub fn summary_path(out: &Path, id: &str) -> PathBuf {
    out.join(RUNS_DIR).join(id).join(SUMMARY_FILE)
}

/// Simulates one run (never fails: a scenario that does not load or run is a skipped record).
pub fn run_one(sweep: &Sweep, spec: &RunSpec) -> RunRecord {
    let m = &sweep.manifest;
    let mut rec = RunRecord {
        id: spec.id.clone(),
        index: spec.index,
        axes: m
            .axes
            .iter()
            .zip(&spec.values)
            .map(|(a, v)| (a.key.clone(), v.clone()))
            .collect(),
        status: RunStatus::Skipped,
        reason: None,
        seed: None,
        goodput: None,
        result: None,
        cdf: None,
        key: run_key(m, spec),
    };
    let text = match m.scenario_text(spec) {
        Ok(t) => t,
        Err(msg) => {
            rec.reason = Some(msg);
            return rec;
        }
    };
    let sim = crate::scenario::load_str(&text, &sweep.base_path).and_then(|sc| {
        Simulation::new(
            &sc,
            RunOptions {
                keep_requests: true,
                ..RunOptions::default()
            },
        )
        .map(|s| (sc, s))
    });
    let (sc, sim) = match sim {
        Ok(x) => x,
        Err(e) => {
            rec.reason = Some(e.to_string());
            return rec;
        }
    };
    let (mut result, rows) = match sim.run() {
        Ok(x) => x,
        Err(e) => {
            rec.reason = Some(e.to_string());
            return rec;
        }
    };
    // The one figure that depends on the machine; records must not.
    result.sim.wall_s = 0.0;
    let sorted = |f: &dyn Fn(&crate::metrics::RequestRow) -> f64| {
        let mut v: Vec<f32> = rows.iter().map(f).filter(|x| x.is_finite()).map(|x| x as f32).collect();
        v.sort_by(f32::total_cmp);
        v
    };
    let quantiles = |v: &[f32]| -> Vec<f64> {
        if v.is_empty() {
            return Vec::new();
        }
        (0..CDF_POINTS)
            .map(|i| quantile_sorted(v, i as f64 / (CDF_POINTS - 1) as f64))
            .collect()
    };
    rec.cdf = Some(Cdf {
        ttft_ms: quantiles(&sorted(&|r| r.ttft_ms)),
        tpot_ms: quantiles(&sorted(&|r| r.tpot_ms)),
    });
    if let Some(slo) = m.primary_slo() {
        let good = rows
            .iter()
            .filter(|r| slo.met_by_request(r.ttft_ms, r.tpot_ms, r.e2e_ms))
            .count() as f64;
        let arrived = result.requests.arrived as f64;
        rec.goodput = Some(Goodput {
            fraction: if arrived > 0.0 { good / arrived } else { 0.0 },
            requests_s: if result.sim.sim_time_s > 0.0 {
                good / result.sim.sim_time_s
            } else {
                0.0
            },
        });
    }
    rec.seed = Some(sc.seed);
    rec.status = RunStatus::Ok;
    rec.result = Some(result);
    rec
}

/// Reads a record if it exists, parses, and is the run `spec` of this sweep.
fn existing(out: &Path, m: &Manifest, spec: &RunSpec) -> Option<RunRecord> {
    let text = std::fs::read_to_string(summary_path(out, &spec.id)).ok()?;
    let rec: RunRecord = serde_json::from_str(&text).ok()?;
    rec.matches(m, spec).then_some(rec)
}

fn record_json(rec: &RunRecord) -> String {
    let mut s = serde_json::to_string_pretty(rec).expect("a run record serialises");
    s.push('\n');
    s
}

fn manifest_json(m: &Manifest) -> String {
    let mut s = serde_json::to_string_pretty(m).expect("a manifest serialises");
    s.push('\n');
    s
}

/// Reads `DIR/sweep.json`.
pub fn read_manifest(dir: &Path) -> Result<Manifest> {
    let p = dir.join(MANIFEST_FILE);
    if !p.exists() {
        return Err(Error::input(
            dir,
            "",
            format!("no {MANIFEST_FILE} here: not the output directory of `codesim sweep`"),
        ));
    }
    let text = crate::input::read_text(&p)?;
    serde_json::from_str(&text).map_err(|e| Error::input(&p, format!("line {}", e.line()), e.to_string()))
}

/// Writes `DIR/sweep.json`, or checks that the one there describes the same sweep (unless
/// `replace`: a fresh, non-resumed sweep rewrites every one of its runs anyway).
fn claim_dir(out: &Path, m: &Manifest, replace: bool) -> Result<()> {
    let runs = runs_dir(out);
    std::fs::create_dir_all(&runs).map_err(|e| {
        Error::input(
            &runs,
            "",
            format!("cannot create the folder of run records ({e}); it must be a directory codesim can write"),
        )
    })?;
    let p = out.join(MANIFEST_FILE);
    if p.exists() && !replace {
        let old = read_manifest(out)?;
        if !old.same_sweep(m) {
            return Err(Error::input(
                out,
                "",
                format!(
                    "holds the output of a different sweep (`{}`, {} runs; its {MANIFEST_FILE} differs): choose another directory, or run without --resume to start over",
                    old.name, old.runs
                ),
            ));
        }
        return Ok(());
    }
    write_atomic(&p, manifest_json(m).as_bytes())
}

/// Runs the shard's runs of a sweep into `out`, in parallel, calling `on_done` (from worker
/// threads) as each finishes. Records are written as they finish, so a killed sweep loses only the
/// runs in flight, and a stopped one (`opts.stop`) none; with `resume`, runs already recorded are
/// kept untouched.
pub fn execute(
    sweep: &Sweep,
    out: &Path,
    opts: ExecOptions,
    on_start: &(dyn Fn(usize, usize) + Sync),
    on_done: &(dyn Fn(&RunRecord) + Sync),
) -> Result<Outcome> {
    let m = &sweep.manifest;
    claim_dir(out, m, !opts.resume)?;
    let mine: Vec<RunSpec> = m.runs().into_iter().filter(|r| opts.shard.takes(r.index)).collect();
    let mut outcome = Outcome {
        planned: mine.len(),
        ..Outcome::default()
    };
    let mut todo = Vec::new();
    for spec in mine {
        match opts.resume.then(|| existing(out, m, &spec)).flatten() {
            Some(rec) => {
                outcome.resumed += 1;
                outcome.skipped += usize::from(rec.status == RunStatus::Skipped);
            }
            None => todo.push(spec),
        }
    }
    on_start(outcome.planned, outcome.resumed);
    // No more threads than runs to do (0: one per core, rayon's default).
    let threads = if opts.jobs == 0 {
        0
    } else {
        opts.jobs.min(todo.len().max(1))
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| Error::input(out, "--jobs", format!("cannot start the worker threads: {e}")))?;
    let stopped = || opts.stop.is_some_and(|s| s.load(Ordering::SeqCst));
    let results: Vec<Result<Option<RunStatus>>> = pool.install(|| {
        todo.par_iter()
            .map(|spec| {
                if stopped() {
                    return Ok(None);
                }
                let rec = run_one(sweep, spec);
                let dir = runs_dir(out).join(&spec.id);
                std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
                write_atomic(&dir.join(SUMMARY_FILE), record_json(&rec).as_bytes())?;
                on_done(&rec);
                Ok(Some(rec.status))
            })
            .collect()
    });
    for r in results {
        match r? {
            Some(status) => {
                outcome.ran += 1;
                outcome.skipped += usize::from(status == RunStatus::Skipped);
            }
            None => outcome.not_started += 1,
        }
    }
    Ok(outcome)
}

/// Every record of the sweep in `dir`, in index order; an error names missing runs.
pub fn collect(dir: &Path, m: &Manifest) -> Result<Vec<RunRecord>> {
    let mut found = Vec::with_capacity(m.runs);
    let mut missing = Vec::new();
    for spec in m.runs() {
        match existing(dir, m, &spec) {
            Some(r) => found.push(r),
            None => missing.push(spec.id),
        }
    }
    if !missing.is_empty() {
        let shown: Vec<&str> = missing.iter().take(8).map(String::as_str).collect();
        return Err(Error::input(
            dir,
            "",
            format!(
                "{} of {} runs have no valid {RUNS_DIR}/<id>/{SUMMARY_FILE} ({}{}); finish the sweep with --resume, or merge the other shards",
                missing.len(),
                m.runs,
                shown.join(", "),
                if missing.len() > shown.len() { ", …" } else { "" }
            ),
        ));
    }
    Ok(found)
}

/// Gathers the runs of shard directories into `out` (which may be one of them) and returns the
/// sweep's manifest and every record. Every directory must hold the same sweep; a run present in
/// several must have identical records.
pub fn merge(dirs: &[PathBuf], out: &Path) -> Result<(Manifest, Vec<RunRecord>)> {
    let Some(first) = dirs.first() else {
        return Err(Error::input("merge", "", "give at least one sweep output directory"));
    };
    let m = read_manifest(first)?;
    let mut texts: BTreeMap<usize, (String, PathBuf)> = BTreeMap::new();
    let specs = m.runs();
    for d in dirs {
        let dm = read_manifest(d)?;
        if !dm.same_sweep(&m) {
            return Err(Error::input(
                d,
                "",
                format!(
                    "holds a different sweep than {} (`{}` vs `{}`; their {MANIFEST_FILE} differ)",
                    first.display(),
                    dm.name,
                    m.name
                ),
            ));
        }
        for spec in &specs {
            let p = summary_path(d, &spec.id);
            let Ok(text) = std::fs::read_to_string(&p) else {
                continue;
            };
            let rec: RunRecord = serde_json::from_str(&text)
                .map_err(|e| Error::input(&p, format!("line {}", e.line()), e.to_string()))?;
            if !rec.matches(&m, spec) {
                return Err(Error::input(&p, "", format!("is not run {} of this sweep", spec.id)));
            }
            match texts.get(&spec.index) {
                Some((t, other)) if *t != text => {
                    return Err(Error::input(
                        &p,
                        "",
                        format!("differs from {} for the same run", other.display()),
                    ));
                }
                Some(_) => {}
                None => {
                    texts.insert(spec.index, (text, p));
                }
            }
        }
    }
    claim_dir(out, &m, false)?;
    for spec in &specs {
        if let Some((text, src)) = texts.get(&spec.index) {
            let dst = summary_path(out, &spec.id);
            let same_file = std::fs::canonicalize(src).ok().zip(std::fs::canonicalize(&dst).ok());
            if same_file.is_some_and(|(a, b)| a == b) {
                continue;
            }
            let dir = runs_dir(out).join(&spec.id);
            std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
            write_atomic(&dst, text.as_bytes())?;
        }
    }
    let records = collect(out, &m)?;
    Ok((m, records))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_parse_from_arguments_and_array_job_variables() {
        let none = |_: &str| None;
        assert_eq!(Shard::parse("1/4", none), Ok(Shard { index: 1, count: 4 }));
        assert!(Shard::parse("4/4", none).is_err());
        assert!(
            Shard::parse("auto/4", none)
                .unwrap_err()
                .contains("SLURM_ARRAY_TASK_ID")
        );
        let slurm = |k: &str| match k {
            "SLURM_ARRAY_TASK_ID" => Some("3".to_string()),
            "SLURM_ARRAY_TASK_MIN" => Some("1".to_string()),
            _ => None,
        };
        assert_eq!(Shard::parse("auto/4", slurm), Ok(Shard { index: 2, count: 4 }));
        let batch = |k: &str| (k == "AWS_BATCH_JOB_ARRAY_INDEX").then(|| "0".to_string());
        assert_eq!(Shard::parse("auto/2", batch), Ok(Shard { index: 0, count: 2 }));
        let k8s = |k: &str| (k == "JOB_COMPLETION_INDEX").then(|| "5".to_string());
        assert!(Shard::parse("auto/4", k8s).is_err());
        assert!(Shard { index: 1, count: 3 }.takes(4));
    }
}
