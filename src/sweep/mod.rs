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
//! empty axis, zip of unequal lengths) is an input error, and so is an axis whose values all
//! resolve to the same scenario (a key the base never reads): its rows would repeat one result.

pub mod exec;
mod file;
mod grid;
mod inert;
mod precheck;
pub mod table;

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

pub use exec::{ExecOptions, Outcome, Shard, collect, execute, merge, run_one};
pub use file::{load, load_str};
pub use grid::{Manifest, RunSpec};

/// A sweep's service-level objective: the one SLO type of [`crate::metrics::slo`].
pub use crate::metrics::slo::Slo as SloSpec;

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

/// A sweep ready to run: the manifest and where relative paths resolve from.
#[derive(Debug, Clone)]
pub struct Sweep {
    pub manifest: Manifest,
    /// Path given to `scenario::load_str` for every run.
    pub base_path: PathBuf,
}

/// The most runs one sweep accepts.
pub const MAX_RUNS: usize = 1_000_000;

pub use crate::error::{base_path_error, key_of_location};

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

#[cfg(test)]
mod tests {
    use super::*;

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
    }
}
