//! Axes that change nothing: an axis over a key the base scenario never reads (a rate under an
//! offline arrival, a knob another key overrides) gives rows of identical results, each marked
//! ok. Each axis is resolved in full (`scenario::load_str`) at each of its values, with the other
//! axes at their first value; if every value that loads resolves to the same scenario (name,
//! file and notes aside), the axis is tried again with each other axis moved one value at a
//! time, so that an axis which applies only under another axis's value (a rate swept beside an
//! arrival kind) is kept. An axis that never changes the scenario is an input error.

use super::Manifest;
use super::file::axis_lines;
use crate::error::{Error, Result};
use crate::hash::Fnv64;
use crate::tomlpath::{as_f64, set_path};
use std::collections::HashMap;
use std::fmt::Write;
use std::path::Path;

/// The most scenario loads spent on one suspect axis before it is given the benefit of the doubt.
const SUSPECT_BUDGET: usize = 256;

/// Resolved scenarios of grid points (one row per dimension), as digests; `None`: does not load.
struct Points<'a> {
    m: &'a Manifest,
    base_path: &'a Path,
    seen: HashMap<Vec<usize>, Option<u64>>,
}

impl Points<'_> {
    fn digest(&mut self, rows: &[usize]) -> Option<u64> {
        if let Some(d) = self.seen.get(rows) {
            return *d;
        }
        let d = self.resolve(rows);
        self.seen.insert(rows.to_vec(), d);
        d
    }

    fn resolve(&self, rows: &[usize]) -> Option<u64> {
        let t = table_at(self.m, rows).ok()?;
        let text = toml::to_string(&t).ok()?;
        let mut sc = crate::scenario::load_str(&text, self.base_path).ok()?;
        sc.name.clear();
        sc.notes.clear();
        sc.file = Default::default();
        let mut h = Fnv64::new();
        write!(h, "{sc:?}").ok()?;
        Some(h.finish())
    }

    /// Whether dimension `d` changes the scenario with the other dimensions at `rows`: `None` if
    /// fewer than two of its values load there.
    fn varies(&mut self, d: usize, rows: &[usize]) -> Option<bool> {
        let n = self.m.axes[self.m.dims[d][0]].values.len();
        let (mut first, mut loaded) = (None, 0);
        for k in 0..n {
            let mut r = rows.to_vec();
            r[d] = k;
            if let Some(x) = self.digest(&r) {
                loaded += 1;
                if first.is_some_and(|a| a != x) {
                    return Some(true);
                }
                first = Some(x);
            }
        }
        (loaded >= 2).then_some(false)
    }
}

/// The base with each dimension's axes at the given row.
fn table_at(m: &Manifest, rows: &[usize]) -> std::result::Result<toml::Table, String> {
    let mut t = m.base.clone();
    for (dim, &row) in m.dims.iter().zip(rows) {
        for &a in dim {
            let axis = &m.axes[a];
            if !axis.is_label() {
                set_path(&mut t, &axis.key, axis.values[row].clone())?;
            }
        }
    }
    Ok(t)
}

/// Refuses an axis whose values all resolve to the same scenario (see the module doc).
pub(super) fn check_axes_apply(path: &Path, text: &str, m: &Manifest, base_path: &Path) -> Result<()> {
    let mut pts = Points {
        m,
        base_path,
        seen: HashMap::new(),
    };
    let zero = vec![0usize; m.dims.len()];
    for (d, dim) in m.dims.iter().enumerate() {
        let n = m.axes[dim[0]].values.len();
        if n < 2 || dim.iter().all(|&a| m.axes[a].is_label()) {
            continue;
        }
        if pts.varies(d, &zero) != Some(false) || varies_elsewhere(&mut pts, d) {
            continue;
        }
        return Err(inert_error(path, text, m, d));
    }
    Ok(())
}

/// Whether dimension `d` changes the scenario with one other dimension moved off its first
/// value (or the budget ran out, which gives the axis the benefit of the doubt).
fn varies_elsewhere(pts: &mut Points, d: usize) -> bool {
    let m = pts.m;
    let start = pts.seen.len();
    for (e, dim) in m.dims.iter().enumerate() {
        if e == d {
            continue;
        }
        for j in 1..m.axes[dim[0]].values.len() {
            if pts.seen.len() - start > SUSPECT_BUDGET {
                return true;
            }
            let mut rows = vec![0usize; m.dims.len()];
            rows[e] = j;
            if pts.varies(d, &rows) == Some(true) {
                return true;
            }
        }
    }
    false
}

/// The error for dimension `d`: which axis, and why its values change nothing.
fn inert_error(path: &Path, text: &str, m: &Manifest, d: usize) -> Error {
    let applied: Vec<usize> = m.dims[d].iter().copied().filter(|&a| !m.axes[a].is_label()).collect();
    let axis = &m.axes[applied[0]];
    let lines = axis_lines(text);
    let mut loc = match lines.iter().find(|(key, _)| *key == axis.key) {
        Some((_, line)) => format!("line {line}, axes.\"{}\"", axis.key),
        None => format!("axes.\"{}\"", axis.key),
    };
    let others: Vec<String> = applied[1..].iter().map(|&a| format!("`{}`", m.axes[a].key)).collect();
    if !others.is_empty() {
        loc = format!("{loc} (zipped with {})", others.join(", "));
    }
    let all_equal = applied
        .iter()
        .all(|&a| m.axes[a].values.windows(2).all(|w| same_value(&w[0], &w[1])));
    let why = if all_equal {
        "its values are all the same".to_string()
    } else if ["name", "description"].contains(&axis.key.as_str()) {
        format!(
            "`{}` only describes the scenario; to name runs, use a label axis (a key starting with `_`, e.g. \"_{}\")",
            axis.key, axis.key
        )
    } else {
        let hints = hints(m, &axis.key);
        if hints.is_empty() {
            format!(
                "the scenario never reads `{}` here: another key overrides it, or it does not apply under this scheduler, engine or arrival kind",
                axis.key
            )
        } else {
            format!(
                "the scenario never reads `{}` here: it does not apply under {}, or another key overrides it",
                axis.key,
                hints.join(" and ")
            )
        }
    };
    Error::input(
        path,
        loc,
        format!(
            "every value gives the same resolved scenario, so every run would repeat the same results: {why}; sweep a key that changes the scenario, or drop the axis"
        ),
    )
}

/// Equal values, numbers by value (`2` and `2.0` are the same rate).
fn same_value(a: &toml::Value, b: &toml::Value) -> bool {
    match (as_f64(a), as_f64(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// Settings of the first run that decide whether `key` applies: the `kind` of each table the key
/// sits in (`workload.arrival.kind = "offline"`) and, under `serving`, the scheduler.
fn hints(m: &Manifest, key: &str) -> Vec<String> {
    let Ok(t) = table_at(m, &vec![0; m.dims.len()]) else {
        return Vec::new();
    };
    let parts: Vec<&str> = key.split('.').collect();
    let mut out = Vec::new();
    let mut at = &t;
    for (i, p) in parts[..parts.len() - 1].iter().enumerate() {
        let Some(toml::Value::Table(next)) = at.get(*p) else {
            break;
        };
        at = next;
        let prefix = parts[..=i].join(".");
        for setting in ["kind", "scheduler"] {
            if let Some(v) = at.get(setting).filter(|v| v.is_str()) {
                if format!("{prefix}.{setting}") != key {
                    out.push(format!("`{prefix}.{setting} = {v}`"));
                }
            }
        }
    }
    out.reverse();
    out
}

#[cfg(test)]
mod tests {
    use super::super::load_str;
    use std::path::Path;

    /// The load error of a sweep with `head` (top-level keys and `[axes]`) over a small base.
    fn sweep(head: &str) -> String {
        let text = format!(
            "name = \"t\"\n{head}\n[base.hardware]\ninstance = \"p5.48xlarge\"\n[base.model]\nname = \"llama-3.2-1b\"\n[base.workload]\nrequests = 10\narrival = {{ kind = \"poisson\", rate_per_s = 1.0 }}\ninput = {{ kind = \"fixed\", tokens = 100 }}\noutput = {{ kind = \"fixed\", tokens = 10 }}\n"
        );
        load_str(&text, Path::new("s.toml"))
            .err()
            .map_or(String::new(), |e| e.to_string())
    }

    #[test]
    fn an_axis_that_changes_nothing_is_refused_naming_it_and_why() {
        // 2 and 2.0 are one rate: two rows of the same run.
        let e = sweep("[axes]\n\"workload.arrival.rate_per_s\" = [2, 2.0]");
        let at = "s.toml: line 3, axes.\"workload.arrival.rate_per_s\"";
        assert!(e.contains(at) && e.contains("values are all the same"), "{e}");
        // The scenario never reads `description`.
        let e = sweep("[axes]\n\"description\" = [\"a\", \"b\"]");
        assert!(e.contains("axes.\"description\"") && e.contains("label axis"), "{e}");
        // Zipped axes that change nothing together are named together.
        let e = sweep(
            "zip = [[\"seed\", \"workload.requests\", \"_c\"]]\n[axes]\n\"seed\" = [4, 4]\n\"workload.requests\" = [5, 5]\n\"_c\" = [\"x\", \"y\"]",
        );
        assert!(e.contains("axes.\"seed\" (zipped with `workload.requests`)"), "{e}");
    }

    #[test]
    fn axes_that_change_the_scenario_pass() {
        assert_eq!(sweep("[axes]\n\"workload.arrival.rate_per_s\" = [1, 2]"), "");
        assert_eq!(
            sweep("[axes]\n\"_label\" = [\"a\", \"b\"]\n\"seed\" = [1, 2]\n\"workload.requests\" = [10]"),
            ""
        );
        // One value of a zip group changes the scenario: the group applies.
        assert_eq!(
            sweep(
                "zip = [[\"seed\", \"workload.requests\"]]\n[axes]\n\"seed\" = [4, 4]\n\"workload.requests\" = [5, 6]"
            ),
            ""
        );
    }
}
