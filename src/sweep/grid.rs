//! The grid of a sweep: axes combined into dimensions (a zip group advances as one, every other
//! axis on its own), and every combination of them a run with a stable index and id.

use super::{Axis, MAX_RUNS, PlotSpec, SloSpec};
use crate::error::{Error, Result};
use crate::tomlpath::{as_f64, set_path};
use serde::{Deserialize, Serialize};
use std::path::Path;

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
    /// The index of a run id, if it belongs to this sweep.
    pub fn index_of(&self, id: &str) -> Option<usize> {
        let n: usize = id.strip_prefix('r')?.parse().ok()?;
        (n < self.runs && self.run_id(n) == id).then_some(n)
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

/// Dimensions: zip groups and lone axes, in the order of their first axis. Errors name the zip
/// group that is wrong (too short, naming an unknown axis or one twice, unequal lengths).
pub(super) fn dims_of(axes: &[Axis], zip: &[Vec<String>], path: &Path) -> Result<Vec<Vec<usize>>> {
    let group_of = zip_groups(axes, zip, path)?;
    let mut dims: Vec<Vec<usize>> = Vec::new();
    let mut placed = vec![false; zip.len()];
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
    Ok(dims)
}

/// The zip group of each axis, if it is in one.
fn zip_groups(axes: &[Axis], zip: &[Vec<String>], path: &Path) -> Result<Vec<Option<usize>>> {
    let mut group_of: Vec<Option<usize>> = vec![None; axes.len()];
    for (g, names) in zip.iter().enumerate() {
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
    Ok(group_of)
}

/// How many runs the dimensions make, if no more than [`MAX_RUNS`].
pub(super) fn run_count(axes: &[Axis], dims: &[Vec<usize>], path: &Path) -> Result<usize> {
    let mut runs: usize = 1;
    for d in dims {
        runs = runs.saturating_mul(axes[d[0]].values.len());
    }
    if runs > MAX_RUNS {
        return Err(Error::input(
            path,
            "axes",
            format!("the axes make {runs} runs, more than the {MAX_RUNS} one sweep accepts"),
        ));
    }
    Ok(runs)
}
