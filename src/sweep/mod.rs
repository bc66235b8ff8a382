//! Sweeps: one base scenario, axes of values to vary, every combination simulated.
//!
//! A sweep file names a base scenario (a path, or an inline `[base]` table) and `[axes]`, each a
//! dotted key path into the scenario with a list of values. Axes combine as a product, in the
//! order they are written (the first axis varies slowest); axes listed together in `zip` advance
//! together instead. Each combination is a run with a stable id (`r0007`: its index in that
//! order), so the same run has the same id on any number of threads and in any shard.
//!
//! ```toml
//! name = "rate-sweep"
//! base = "quickstart.toml"          # or an inline [base] table
//! seed = 7                          # optional: overrides the base scenario's seed
//! zip = [["hardware.instance", "deployment.tp"]]
//!
//! [axes]
//! "hardware.instance" = ["p5.48xlarge", "inf2.48xlarge"]
//! "deployment.tp" = [8, 24]
//! "workload.arrival.rate_per_s" = [1, 2, 4, 8]
//!
//! [[slo]]                           # or one [slo] table; the first is the primary SLO
//! percentile = 99                   # 50, 90, 95, 99 or 99.9 (default 99)
//! tpot_ms = 50.0
//!
//! [plot]
//! x = "workload.arrival.rate_per_s" # offered-load axis of the latency curves
//! group_by = ["hardware.instance"]  # one line per distinct value of these axes
//! cdf_runs = ["r0003"]              # runs whose TTFT/TPOT CDFs are drawn
//! ```
//!
//! An axis whose key starts with `_` (e.g. `"_config" = ["p5 TP8", "p5 2×TP4"]`, zipped with the
//! axes it describes) is a label: it names runs in the table and the plots and is not applied.
//!
//! Each run applies its axis values to the base TOML table and loads the result with
//! [`crate::scenario::load_str`], so relative paths resolve from the base file and every check of
//! a scenario applies. A run whose scenario does not load or cannot run (a model that does not
//! fit) is recorded as skipped with the reason. The sweep file itself being wrong (unknown key,
//! empty axis, zip of unequal lengths) is an input error.

pub mod exec;
pub mod table;

use crate::error::{Error, Result};
use crate::input::{parse_toml, read_text};
use crate::metrics::{Dist, RunResult};
use crate::tomlpath::{as_f64, set_path};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub use exec::{ExecOptions, Outcome, Shard, collect, execute, merge, run_one};

/// The sweep file as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct SweepFile {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    base: toml::Value,
    #[serde(default)]
    seed: Option<u64>,
    #[serde(default)]
    zip: Vec<Vec<String>>,
    axes: toml::Table,
    #[serde(default)]
    slo: Option<toml::Value>,
    #[serde(default)]
    plot: PlotSpec,
}

/// One axis: a dotted key path into the scenario and the values it takes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Axis {
    pub key: String,
    pub values: Vec<toml::Value>,
}

impl Axis {
    /// A label axis (`_config`, key starting with `_`) names runs without changing the scenario.
    pub fn is_label(&self) -> bool {
        self.key.starts_with('_')
    }
}

/// A service-level objective for judging runs: every threshold set must hold at `percentile`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SloSpec {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default = "default_percentile")]
    pub percentile: f64,
    #[serde(default)]
    pub ttft_ms: Option<f64>,
    #[serde(default)]
    pub tpot_ms: Option<f64>,
    #[serde(default)]
    pub e2e_ms: Option<f64>,
}

fn default_percentile() -> f64 {
    99.0
}

const PERCENTILES: [f64; 5] = [50.0, 90.0, 95.0, 99.0, 99.9];

impl SloSpec {
    /// A readable name: the given one, or e.g. "p99 TPOT ≤ 50 ms".
    pub fn label(&self) -> String {
        if let Some(n) = &self.name {
            return n.clone();
        }
        let p = format!("p{}", self.percentile);
        let mut parts = Vec::new();
        for (what, v) in [("TTFT", self.ttft_ms), ("TPOT", self.tpot_ms), ("E2E", self.e2e_ms)] {
            if let Some(v) = v {
                parts.push(format!("{p} {what} ≤ {} ms", v));
            }
        }
        parts.join(", ")
    }

    /// The SLO's percentile of a distribution.
    pub fn at(&self, d: &Dist) -> f64 {
        let p = self.percentile;
        if p == 50.0 {
            d.p50
        } else if p == 90.0 {
            d.p90
        } else if p == 95.0 {
            d.p95
        } else if p == 99.0 {
            d.p99
        } else {
            d.p999
        }
    }

    /// Whether a run's distributions meet every threshold, with no request dropped and no
    /// unbounded queue (an overloaded run's percentiles describe its length, not a steady state).
    pub fn met_by(&self, r: &RunResult) -> bool {
        let ok = |limit: Option<f64>, d: &Dist| limit.is_none_or(|l| self.at(d) <= l);
        r.requests.completed > 0
            && r.saturation != "overloaded"
            && r.requests.dropped == 0
            && r.requests.completed == r.requests.arrived
            && ok(self.ttft_ms, &r.ttft_ms)
            && ok(self.tpot_ms, &r.tpot_ms)
            && ok(self.e2e_ms, &r.e2e_ms)
    }

    /// Whether one request meets every threshold (its TPOT is NaN when it produced one token).
    pub fn met_by_request(&self, ttft_ms: f64, tpot_ms: f64, e2e_ms: f64) -> bool {
        self.ttft_ms.is_none_or(|l| ttft_ms <= l)
            && self.tpot_ms.is_none_or(|l| tpot_ms.is_nan() || tpot_ms <= l)
            && self.e2e_ms.is_none_or(|l| e2e_ms <= l)
    }
}

/// Plot options: which axis is the offered load, which axes make a series, which runs get CDFs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlotSpec {
    /// The x axis of the latency–load curves. Default: `workload.arrival.rate_per_s` if swept,
    /// else the last numeric axis.
    #[serde(default)]
    pub x: Option<String>,
    /// Axes whose values name a series. Default: every axis but `x`.
    #[serde(default)]
    pub group_by: Option<Vec<String>>,
    /// Runs whose TTFT and TPOT CDFs are drawn. Default: per series, its cheapest run meeting the
    /// primary SLO (else its lowest-load run).
    #[serde(default)]
    pub cdf_runs: Vec<String>,
}

/// What identifies a sweep: written to `sweep.json` in its output directory, compared on
/// `--resume` and by `merge`, and read back by `plot`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// The sweep file as given on the command line (informational; not compared).
    #[serde(default)]
    pub file: String,
    /// The base scenario table, seed override applied.
    pub base: toml::Table,
    /// Where the base came from: a path (relative paths in it resolve from there) or "inline".
    pub base_source: String,
    pub axes: Vec<Axis>,
    /// Groups of axis indices that advance together, outermost first.
    pub dims: Vec<Vec<usize>>,
    pub slo: Vec<SloSpec>,
    pub plot: PlotSpec,
    pub runs: usize,
    pub codesim_version: String,
}

impl Manifest {
    /// Equal as sweeps: the same runs with the same inputs (the file name may differ).
    pub fn same_sweep(&self, other: &Manifest) -> bool {
        let mut a = self.clone();
        a.file = other.file.clone();
        a.codesim_version = other.codesim_version.clone();
        a == *other
    }
    pub fn primary_slo(&self) -> Option<&SloSpec> {
        self.slo.first()
    }
    pub fn axis_index(&self, key: &str) -> Option<usize> {
        self.axes.iter().position(|a| a.key == key)
    }
    /// The axis of the latency–load curves, if any axis is numeric.
    pub fn x_axis(&self) -> Option<usize> {
        if let Some(x) = &self.plot.x {
            return self.axis_index(x);
        }
        self.axis_index("workload.arrival.rate_per_s").or_else(|| {
            self.axes
                .iter()
                .rposition(|a| a.values.iter().all(|v| as_f64(v).is_some()))
        })
    }
    /// The axes whose values name a series.
    pub fn group_axes(&self) -> Vec<usize> {
        match &self.plot.group_by {
            Some(keys) => keys.iter().filter_map(|k| self.axis_index(k)).collect(),
            None => {
                let x = self.x_axis();
                (0..self.axes.len()).filter(|&i| Some(i) != x).collect()
            }
        }
    }
    /// Run id of an index: `r` and at least four digits, enough for every run of the sweep.
    pub fn run_id(&self, index: usize) -> String {
        let width = self.runs.saturating_sub(1).to_string().len().max(4);
        format!("r{index:0width$}")
    }
    /// Every run, in index order.
    pub fn runs(&self) -> Vec<RunSpec> {
        let sizes: Vec<usize> = self.dims.iter().map(|d| self.axes[d[0]].values.len()).collect();
        (0..self.runs)
            .map(|index| {
                let mut rest = index;
                let mut pick = vec![0usize; self.axes.len()];
                for (d, &n) in self.dims.iter().zip(&sizes).rev() {
                    let k = rest % n;
                    rest /= n;
                    for &a in d {
                        pick[a] = k;
                    }
                }
                RunSpec {
                    index,
                    id: self.run_id(index),
                    values: pick
                        .iter()
                        .enumerate()
                        .map(|(a, &k)| self.axes[a].values[k].clone())
                        .collect(),
                }
            })
            .collect()
    }
    /// The scenario TOML of one run: the base with the run's axis values set.
    pub fn scenario_text(&self, run: &RunSpec) -> std::result::Result<String, String> {
        let mut t = self.base.clone();
        for (axis, v) in self.axes.iter().zip(&run.values) {
            if axis.is_label() {
                continue;
            }
            set_path(&mut t, &axis.key, v.clone())?;
        }
        toml::to_string(&t).map_err(|e| e.to_string())
    }
}

/// One combination of axis values.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSpec {
    pub index: usize,
    pub id: String,
    /// Aligned with `Manifest::axes`.
    pub values: Vec<toml::Value>,
}

/// A sweep ready to run: the manifest and where relative paths resolve from.
#[derive(Debug, Clone)]
pub struct Sweep {
    pub manifest: Manifest,
    /// Path given to `scenario::load_str` for every run.
    pub base_path: PathBuf,
}

/// The most runs one sweep accepts.
pub const MAX_RUNS: usize = 1_000_000;

/// Reads and checks a sweep file.
pub fn load(path: &Path) -> Result<Sweep> {
    let text = read_text(path)?;
    load_str(&text, path)
}

/// Parses a sweep from text (`path` is what errors name and where relative paths resolve).
pub fn load_str(text: &str, path: &Path) -> Result<Sweep> {
    let f: SweepFile = parse_toml(text, path)?;
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let (mut base, base_path, base_source) = match &f.base {
        toml::Value::String(p) => {
            let bp = dir.join(p);
            let btext = read_text(&bp).map_err(|e| base_path_error(e, path, "base", &bp))?;
            let t: toml::Table = btext
                .parse()
                .map_err(|e: toml::de::Error| Error::input(&bp, "", format!("TOML syntax error: {}", e.message())))?;
            (t, bp, p.clone())
        }
        toml::Value::Table(t) => (t.clone(), path.to_path_buf(), "inline".to_string()),
        other => {
            return Err(Error::input(
                path,
                "base",
                format!(
                    "expected a scenario path (\"scenario.toml\") or an inline [base] table, got a {}",
                    other.type_str()
                ),
            ));
        }
    };
    if let Some(seed) = f.seed {
        let seed = i64::try_from(seed).map_err(|_| Error::input(path, "seed", "must be below 2^63"))?;
        base.insert("seed".into(), toml::Value::Integer(seed));
    }

    // Axes, in the order written (the parsed table is sorted by key; the spans are not).
    let order = axis_order(text);
    let mut keys: Vec<&String> = f.axes.keys().collect();
    keys.sort_by_key(|k| order.iter().position(|o| o == *k).unwrap_or(usize::MAX));
    if keys.is_empty() {
        return Err(Error::input(
            path,
            "axes",
            "names no axis; add e.g. \"workload.arrival.rate_per_s\" = [1, 2, 4]",
        ));
    }
    let lines = axis_lines(text);
    let mut axes = Vec::new();
    for k in keys {
        let loc = match lines.iter().find(|(key, _)| key == k) {
            Some((_, line)) => format!("line {line}, axes.\"{k}\""),
            None => format!("axes.\"{k}\""),
        };
        let values = match &f.axes[k] {
            toml::Value::Array(a) if !a.is_empty() => a.clone(),
            toml::Value::Array(_) => return Err(Error::input(path, loc, "is an empty list; give at least one value")),
            toml::Value::Table(_) => {
                return Err(Error::input(
                    path,
                    loc,
                    format!(
                        "expected a list of values, got a table: quote the dotted key path, e.g. \"{k}.<key>\" = [1, 2] (unquoted, `{k}.<key> = [...]` is a nested table)"
                    ),
                ));
            }
            other => {
                return Err(Error::input(
                    path,
                    loc,
                    format!("expected a list of values, got a {}", other.type_str()),
                ));
            }
        };
        if k.is_empty() || k.split('.').any(str::is_empty) {
            return Err(Error::input(
                path,
                loc,
                "is not a dotted key path like `workload.arrival.rate_per_s`",
            ));
        }
        for (i, v) in values.iter().enumerate() {
            if let Some(bad) = non_finite(v) {
                return Err(Error::input(
                    path,
                    format!("{loc}[{i}]"),
                    format!("{bad} is not a finite number; no scenario key accepts NaN or an infinity"),
                ));
            }
        }
        if !k.starts_with('_') {
            let mut probe = base.clone();
            set_path(&mut probe, k, values[0].clone()).map_err(|m| Error::input(path, &loc, m))?;
        }
        axes.push(Axis { key: k.clone(), values });
    }
    // Two axes setting the same key: one a dotted prefix of the other (`deployment` and
    // `deployment.tp`), so the later silently overrides the earlier.
    for (j, b) in axes.iter().enumerate() {
        if let Some(a) = axes[..j].iter().find(|a| !a.is_label() && related(&a.key, &b.key)) {
            return Err(Error::input(
                path,
                format!("axes.\"{}\"", b.key),
                format!(
                    "overlaps the axis `{}`: both set `{}`; sweep the key once (zip axes that must change together)",
                    a.key,
                    if a.key.len() > b.key.len() { &a.key } else { &b.key }
                ),
            ));
        }
    }
    // Dimensions: zip groups and lone axes, in the order of their first axis.
    let mut group_of: Vec<Option<usize>> = vec![None; axes.len()];
    for (g, names) in f.zip.iter().enumerate() {
        let loc = format!("zip[{g}]");
        if names.len() < 2 {
            return Err(Error::input(path, loc, "a zip group names at least two axes"));
        }
        let mut len = None;
        for n in names {
            let Some(i) = axes.iter().position(|a| &a.key == n) else {
                let known: Vec<&str> = axes.iter().map(|a| a.key.as_str()).collect();
                return Err(Error::input(
                    path,
                    loc,
                    format!(
                        "`{n}` is not an axis{}; axes: {}",
                        crate::error::did_you_mean(n, known.iter().copied()),
                        known.join(", ")
                    ),
                ));
            };
            if group_of[i] == Some(g) {
                return Err(Error::input(path, loc, format!("names the axis `{n}` twice")));
            }
            if group_of[i].is_some() {
                return Err(Error::input(
                    path,
                    loc,
                    format!("axis `{n}` is in more than one zip group"),
                ));
            }
            group_of[i] = Some(g);
            let n_values = axes[i].values.len();
            match len {
                None => len = Some((n.clone(), n_values)),
                Some((ref first, l)) if l != n_values => {
                    return Err(Error::input(
                        path,
                        loc,
                        format!("zipped axes must have as many values: `{first}` has {l}, `{n}` has {n_values}"),
                    ));
                }
                Some(_) => {}
            }
        }
    }
    let mut dims: Vec<Vec<usize>> = Vec::new();
    let mut placed = vec![false; f.zip.len()];
    for i in 0..axes.len() {
        match group_of[i] {
            None => dims.push(vec![i]),
            Some(g) if !placed[g] => {
                placed[g] = true;
                dims.push((i..axes.len()).filter(|&j| group_of[j] == Some(g)).collect());
            }
            Some(_) => {}
        }
    }
    let mut runs: usize = 1;
    for d in &dims {
        runs = runs.saturating_mul(axes[d[0]].values.len());
    }
    if runs > MAX_RUNS {
        return Err(Error::input(
            path,
            "axes",
            format!("the axes make {runs} runs, more than the {MAX_RUNS} one sweep accepts"),
        ));
    }

    // SLOs: one table or a list; default: the base scenario's [slo].
    let slo_value = f.slo.clone().or_else(|| base.get("slo").cloned());
    let slo: Vec<SloSpec> = match slo_value {
        None => Vec::new(),
        Some(toml::Value::Array(a)) => a
            .into_iter()
            .enumerate()
            .map(|(i, v)| slo_from(v, path, &format!("slo[{i}]")))
            .collect::<Result<_>>()?,
        Some(v) => vec![slo_from(v, path, "slo")?],
    };

    // Plot options name axes.
    let known: Vec<&str> = axes.iter().map(|a| a.key.as_str()).collect();
    let check_axis = |key: &str, loc: &str| -> Result<()> {
        if known.contains(&key) {
            Ok(())
        } else {
            Err(Error::input(
                path,
                loc,
                format!(
                    "`{key}` is not an axis{}; axes: {}",
                    crate::error::did_you_mean(key, known.iter().copied()),
                    known.join(", ")
                ),
            ))
        }
    };
    if let Some(x) = &f.plot.x {
        check_axis(x, "plot.x")?;
        let i = known.iter().position(|k| k == x).unwrap_or(0);
        if !axes[i].values.iter().all(|v| as_f64(v).is_some()) {
            return Err(Error::input(
                path,
                "plot.x",
                format!("axis `{x}` must have numeric values"),
            ));
        }
    }
    for g in f.plot.group_by.iter().flatten() {
        check_axis(g, "plot.group_by")?;
    }

    let name = f.name.clone().unwrap_or_else(|| {
        path.file_stem()
            .map(|s| s.to_string_lossy().trim_start_matches("sweep-").to_string())
            .unwrap_or_else(|| "sweep".into())
    });
    if let Err(why) = check_folder_name(&name) {
        return Err(Error::input(
            path,
            "name",
            format!(
                "`{}` cannot name the report folder (reports/<name>): {why}",
                name.escape_debug()
            ),
        ));
    }
    let manifest = Manifest {
        name,
        description: f.description.clone(),
        file: path.display().to_string(),
        base,
        base_source,
        axes,
        dims,
        slo,
        plot: f.plot.clone(),
        runs,
        codesim_version: env!("CARGO_PKG_VERSION").to_string(),
    };
    if let Some(bad) = manifest.plot.cdf_runs.iter().find(|id| manifest.index_of(id).is_none()) {
        return Err(Error::input(
            path,
            "plot.cdf_runs",
            format!(
                "`{bad}` is not a run id of this sweep; ids run from {} to {}",
                manifest.run_id(0),
                manifest.run_id(runs - 1)
            ),
        ));
    }
    check_scenarios(path, text, &manifest)?;
    Ok(Sweep { manifest, base_path })
}

/// The key path of an error's location: `line 3, key `a.b`` (a parse error) or `a.b` (a
/// check on a parsed file).
pub fn key_of_location(location: &str) -> Option<String> {
    if let Some((_, rest)) = location.split_once("key `") {
        return rest.split_once('`').map(|(k, _)| k.to_string());
    }
    let plain = !location.is_empty() && !location.starts_with("line ") && !location.contains([' ', '`']);
    plain.then(|| location.to_string())
}

/// A scenario path from an input file that cannot be read (missing, a directory): said from the
/// file that names it, since that is where the fix goes.
pub fn base_path_error(e: Error, file: &Path, key: &str, target: &Path) -> Error {
    match e {
        Error::Input(ie) if ie.location.is_empty() && ie.file == target.display().to_string() => Error::input(
            file,
            key,
            format!(
                "`{}`: {}; give a scenario file's path relative to {} or an inline table",
                target.display(),
                ie.message,
                file.display()
            ),
        ),
        e => e,
    }
}

/// Why `name` cannot be the name of a folder inside the output directory, if it cannot: it must
/// be one plain path component, so that `reports/<name>` stays inside `reports/`.
pub fn check_folder_name(name: &str) -> std::result::Result<(), String> {
    if name.is_empty() {
        Err("it is empty".into())
    } else if name.contains(['/', '\\']) {
        Err("it holds a path separator; give a plain name, e.g. `rate-sweep`".into())
    } else if name.starts_with('.') {
        Err("it starts with a dot (`..` and hidden names are refused); give a plain name, e.g. `rate-sweep`".into())
    } else if name.chars().any(char::is_control) {
        Err("it holds a control character (NUL, newline, ...); give a plain name, e.g. `rate-sweep`".into())
    } else if name.len() > 200 {
        Err(format!("it is {} bytes long; 200 at most", name.len()))
    } else {
        Ok(())
    }
}

/// Whether two dotted key paths touch the same key: equal, or one inside the other.
fn related(a: &str, b: &str) -> bool {
    let inside = |long: &str, short: &str| {
        long.len() > short.len() && long.starts_with(short) && long.as_bytes()[short.len()] == b'.'
    };
    a == b || inside(a, b) || inside(b, a)
}

/// The first NaN or infinity in a value, as written.
fn non_finite(v: &toml::Value) -> Option<String> {
    match v {
        toml::Value::Float(f) if !f.is_finite() => Some(v.to_string()),
        toml::Value::Array(a) => a.iter().find_map(non_finite),
        toml::Value::Table(t) => t.values().find_map(non_finite),
        _ => None,
    }
}

/// Checks, before any run, what would make runs fail for the sweep file's sake rather than the
/// combination's: a misspelt or mistyped key in an axis or in the base, a value of the wrong
/// type or out of the schema, more requests or replicas than one run accepts. Each axis value is
/// tried in its place with every other axis at its first value (zipped axes together), through
/// the scenario schema only (no catalog, no trace), so this is cheap. Combinations that do not
/// load (TP 3 of 32 heads; a model that does not fit) stay skipped runs.
fn check_scenarios(path: &Path, text: &str, m: &Manifest) -> Result<()> {
    let lines = axis_lines(text);
    let with_rows = |d_row: Option<(usize, usize)>| -> std::result::Result<toml::Table, String> {
        let mut t = m.base.clone();
        for (d, dim) in m.dims.iter().enumerate() {
            let row = match d_row {
                Some((dd, k)) if dd == d => k,
                _ => 0,
            };
            for &a in dim {
                let axis = &m.axes[a];
                if !axis.is_label() {
                    set_path(&mut t, &axis.key, axis.values[row].clone())?;
                }
            }
        }
        Ok(t)
    };
    let axis_error = |a: usize, k: usize, msg: &str| {
        let axis = &m.axes[a];
        let loc = match lines.iter().find(|(key, _)| *key == axis.key) {
            Some((_, line)) => format!("line {line}, axes.\"{}\"[{k}]", axis.key),
            None => format!("axes.\"{}\"[{k}]", axis.key),
        };
        Error::input(path, loc, format!("value {}: {msg}", axis.values[k]))
    };
    // Run 0: the base and every first value. A problem no axis touches is the base's.
    let t = with_rows(None).map_err(|msg| Error::input(path, "axes", msg))?;
    if let Some((at, msg)) = scenario_problem(&t, path) {
        if let Some(a) = m.axes.iter().position(|a| !a.is_label() && related(&a.key, &at)) {
            return Err(axis_error(a, 0, &msg));
        }
        let loc = if at.is_empty() {
            format!("base (`{}`)", m.base_source)
        } else {
            format!("base (`{}`), key `{at}`", m.base_source)
        };
        return Err(Error::input(path, loc, msg));
    }
    for (d, dim) in m.dims.iter().enumerate() {
        for k in 1..m.axes[dim[0]].values.len() {
            let t = with_rows(Some((d, k))).map_err(|msg| Error::input(path, "axes", msg))?;
            if let Some((at, msg)) = scenario_problem(&t, path) {
                if let Some(&a) = dim
                    .iter()
                    .find(|&&a| !m.axes[a].is_label() && related(&m.axes[a].key, &at))
                {
                    return Err(axis_error(a, k, &msg));
                }
            }
        }
    }
    Ok(())
}

/// The key path and message of the first problem of a scenario table at the schema level, or
/// with a request or replica count beyond what one run accepts.
fn scenario_problem(t: &toml::Table, path: &Path) -> Option<(String, String)> {
    use crate::scenario::{MAX_REPLICAS, MAX_REQUESTS, ScenarioFile};
    let text = match toml::to_string(t) {
        Ok(text) => text,
        Err(e) => return Some((String::new(), e.to_string())),
    };
    let f: ScenarioFile = match parse_toml(&text, path) {
        Ok(f) => f,
        Err(Error::Input(e)) => {
            // `line 3, key `workload.arrival``: the key path, and for an unknown field the field.
            let mut at = key_of_location(&e.location).unwrap_or_default();
            if let Some(field) = e
                .message
                .strip_prefix("unknown field `")
                .and_then(|rest| rest.split_once('`'))
                .map(|(f, _)| f)
            {
                if at.rsplit('.').next() != Some(field) {
                    at = if at.is_empty() {
                        field.to_string()
                    } else {
                        format!("{at}.{field}")
                    };
                }
            }
            return Some((at, e.message));
        }
        Err(e) => return Some((String::new(), e.to_string())),
    };
    if let Some(n) = f.workload.requests.filter(|&n| n > MAX_REQUESTS) {
        return Some((
            "workload.requests".into(),
            format!("{n} requests are more than the {MAX_REQUESTS} one run accepts; split the study into several runs"),
        ));
    }
    let mut pools: Vec<(String, u32)> = vec![("deployment.replicas".into(), f.deployment.replicas)];
    for (i, g) in f.deployment.groups.iter().enumerate() {
        pools.push((format!("deployment.groups[{i}].replicas"), g.replicas));
    }
    if let Some(dis) = &f.disaggregation {
        pools.push(("disaggregation.prefill.replicas".into(), dis.prefill.replicas));
        pools.push(("disaggregation.decode.replicas".into(), dis.decode.replicas));
    }
    pools.into_iter().find(|(_, n)| *n > MAX_REPLICAS).map(|(at, n)| {
        let at = at.split('[').next().unwrap_or_default().to_string();
        (
            at,
            format!("{n} replicas are more than the {MAX_REPLICAS} one run accepts"),
        )
    })
}

impl Manifest {
    /// The index of a run id, if it belongs to this sweep.
    pub fn index_of(&self, id: &str) -> Option<usize> {
        let n: usize = id.strip_prefix('r')?.parse().ok()?;
        (n < self.runs && self.run_id(n) == id).then_some(n)
    }
}

fn slo_from(v: toml::Value, path: &Path, loc: &str) -> Result<SloSpec> {
    let text = toml::to_string(&v).map_err(|e| Error::input(path, loc, e.to_string()))?;
    let s: SloSpec = parse_toml(&text, path).map_err(|e| match e {
        Error::Input(ie) => Error::input(path, format!("{loc}: {}", ie.location), ie.message),
        e => e,
    })?;
    if !PERCENTILES.contains(&s.percentile) {
        return Err(Error::input(
            path,
            format!("{loc}.percentile"),
            format!("{} is not reported; accepted: 50, 90, 95, 99, 99.9", s.percentile),
        ));
    }
    if s.ttft_ms.is_none() && s.tpot_ms.is_none() && s.e2e_ms.is_none() {
        return Err(Error::input(
            path,
            loc,
            "sets no threshold; give ttft_ms, tpot_ms or e2e_ms",
        ));
    }
    for (k, v) in [("ttft_ms", s.ttft_ms), ("tpot_ms", s.tpot_ms), ("e2e_ms", s.e2e_ms)] {
        if let Some(v) = v {
            if !(v.is_finite() && v > 0.0) {
                return Err(Error::input(
                    path,
                    format!("{loc}.{k}"),
                    format!("must be > 0, got {v}"),
                ));
            }
        }
    }
    Ok(s)
}

/// The keys of the `[axes]` table in the order they are written.
fn axis_order(text: &str) -> Vec<String> {
    axis_lines(text).into_iter().map(|(k, _)| k).collect()
}

/// The keys of the `[axes]` table in the order they are written, with their lines.
fn axis_lines(text: &str) -> Vec<(String, usize)> {
    let Ok(doc) = toml::de::DeTable::parse(text) else {
        return Vec::new();
    };
    let Some((_, axes)) = doc.get_ref().iter().find(|(k, _)| k.get_ref() == "axes") else {
        return Vec::new();
    };
    let toml::de::DeValue::Table(t) = axes.get_ref() else {
        return Vec::new();
    };
    let mut keys: Vec<(usize, String)> = t
        .iter()
        .map(|(k, _)| (k.span().start, k.get_ref().to_string()))
        .collect();
    keys.sort();
    keys.into_iter()
        .map(|(at, k)| (k, crate::input::line_col(text, at).0))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tomlpath::value_label;

    const BASE: &str = r#"
[base.hardware]
instance = "p5.48xlarge"
[base.model]
name = "llama-2-7b"
[base.workload]
requests = 10
arrival = { kind = "poisson", rate_per_s = 1.0 }
input = { kind = "fixed", tokens = 100 }
output = { kind = "fixed", tokens = 10 }
"#;

    fn sweep(extra: &str) -> Result<Sweep> {
        load_str(&format!("{extra}\n{BASE}"), Path::new("s.toml"))
    }

    #[test]
    fn product_order_follows_the_file_and_zip_advances_together() {
        let s = sweep(
            "name = \"t\"\nzip = [[\"deployment.tp\", \"deployment.replicas\"]]\n[axes]\n\"workload.arrival.rate_per_s\" = [1, 2, 4]\n\"deployment.tp\" = [1, 2]\n\"deployment.replicas\" = [2, 1]\n",
        )
        .unwrap();
        let m = &s.manifest;
        assert_eq!(m.runs, 6);
        assert_eq!(m.axes[0].key, "workload.arrival.rate_per_s");
        let runs = m.runs();
        let vals: Vec<String> = runs[1].values.iter().map(value_label).collect();
        assert_eq!(vals, ["1", "2", "1"]);
        assert_eq!(runs[5].id, "r0005");
        let text = m.scenario_text(&runs[5]).unwrap();
        let sc = crate::scenario::load_str(&text, Path::new("s.toml")).unwrap();
        assert_eq!(sc.parallelism.tp, 2);
        assert_eq!(sc.replicas, 1);
        assert!(matches!(sc.arrival, crate::workload::ArrivalSpec::Poisson { rate_per_s } if rate_per_s == 4.0));
    }

    #[test]
    fn sweep_file_errors_name_the_key() {
        let e = sweep("[axes]\n\"deployment.tp\" = []\n").unwrap_err().to_string();
        assert!(e.contains("axes.\"deployment.tp\"") && e.contains("empty"), "{e}");
        let e = sweep("zip = [[\"deployment.tp\", \"deployment.replicas\"]]\n[axes]\n\"deployment.tp\" = [1, 2]\n\"deployment.replicas\" = [1]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("zip[0]") && e.contains("as many values"), "{e}");
        let e = sweep("[axes]\n\"model.name.x\" = [1]\n").unwrap_err().to_string();
        assert!(e.contains("s.toml") && e.contains("not a table"), "{e}");
        let e = sweep("colour = 1\n[axes]\n\"deployment.tp\" = [1]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("colour"), "{e}");
        let e = sweep("[axes]\n\"deployment.tp\" = [1]\n[plot]\nx = \"deployment.tpp\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("did you mean"), "{e}");
    }

    #[test]
    fn folder_names_stay_one_plain_component() {
        for ok in ["rate-sweep", "flagship 70b", "a.b"] {
            assert_eq!(check_folder_name(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "..",
            ".",
            ".x",
            "a/b",
            "/abs",
            "a\\b",
            "a\0b",
            "a\nb",
            &"x".repeat(201),
        ] {
            assert!(check_folder_name(bad).is_err(), "{bad:?}");
        }
        assert!(related("deployment", "deployment.tp") && related("a.b", "a.b"));
        assert!(!related("deployment.tp", "deployment.tpp") && !related("a", "b"));
    }

    #[test]
    fn every_example_sweep_loads() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
        let mut n = 0;
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.file_name().is_some_and(|f| f.to_string_lossy().starts_with("sweep-")) {
                load(&p).unwrap_or_else(|e| panic!("{e}"));
                n += 1;
            }
        }
        assert!(n >= 1);
    }
}
