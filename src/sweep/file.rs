//! The sweep file: its schema, and [`load_str`] reading it in named steps (the base scenario,
//! the axes, the grid, the SLOs, the plot options, the name), each step's errors naming the key.

use super::grid::{dims_of, run_count};
use super::inert::check_axes_apply;
use super::precheck::{check_scenarios, related};
use super::{Axis, Manifest, PlotSpec, SloSpec, Sweep, base_path_error, check_folder_name};
use crate::error::{Error, Result};
use crate::input::{parse_toml, read_text};
use crate::tomlpath::{as_f64, set_path};
use serde::Deserialize;
use std::path::{Path, PathBuf};

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

/// The base scenario as read: its table, the path relative paths resolve from, and where it came
/// from as the manifest records it (the path as written, or "inline").
struct Base {
    table: toml::Table,
    path: PathBuf,
    source: String,
}

/// Reads and checks a sweep file.
pub fn load(path: &Path) -> Result<Sweep> {
    let text = read_text(path)?;
    load_str(&text, path)
}

/// Parses a sweep from text (`path` is what errors name and where relative paths resolve).
pub fn load_str(text: &str, path: &Path) -> Result<Sweep> {
    let f: SweepFile = parse_toml(text, path)?;
    let Base {
        table: mut base,
        path: base_path,
        source: base_source,
    } = read_base(&f.base, path)?;
    if let Some(seed) = f.seed {
        let seed = i64::try_from(seed).map_err(|_| Error::input(path, "seed", "must be below 2^63"))?;
        base.insert("seed".into(), toml::Value::Integer(seed));
    }
    let axes = read_axes(text, &f.axes, &base, path)?;
    check_overlaps(&axes, path)?;
    let dims = dims_of(&axes, &f.zip, path)?;
    let runs = run_count(&axes, &dims, path)?;
    // SLOs: one table or a list; default: the base scenario's [slo].
    let slo = read_slos(f.slo.clone().or_else(|| base.get("slo").cloned()), path)?;
    check_plot_axes(&f.plot, &axes, path)?;
    let name = sweep_name(f.name.clone(), path)?;
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
    check_cdf_runs(&manifest, path)?;
    check_scenarios(path, text, &manifest)?;
    check_axes_apply(path, text, &manifest, &base_path)?;
    Ok(Sweep { manifest, base_path })
}

/// The base scenario: a path relative to the sweep file, or an inline table.
fn read_base(base: &toml::Value, path: &Path) -> Result<Base> {
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    match base {
        toml::Value::String(p) => {
            let bp = dir.join(p);
            let btext = read_text(&bp).map_err(|e| base_path_error(e, path, "base", &bp))?;
            let t: toml::Table = btext
                .parse()
                .map_err(|e: toml::de::Error| Error::input(&bp, "", format!("TOML syntax error: {}", e.message())))?;
            Ok(Base {
                table: t,
                path: bp,
                source: p.clone(),
            })
        }
        toml::Value::Table(t) => Ok(Base {
            table: t.clone(),
            path: path.to_path_buf(),
            source: "inline".to_string(),
        }),
        other => Err(Error::input(
            path,
            "base",
            format!(
                "expected a scenario path (\"scenario.toml\") or an inline [base] table, got a {}",
                other.type_str()
            ),
        )),
    }
}

/// Axes, in the order written (the parsed table is sorted by key; the spans are not), each a
/// non-empty list of finite values whose key path can be set in the base.
fn read_axes(text: &str, table: &toml::Table, base: &toml::Table, path: &Path) -> Result<Vec<Axis>> {
    let order = axis_order(text);
    let mut keys: Vec<&String> = table.keys().collect();
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
        let values = axis_values(k, &table[k], path, &loc)?;
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
            if let Some(bad) = control_string(v) {
                return Err(Error::input(
                    path,
                    format!("{loc}[{i}]"),
                    format!(
                        "`{}` holds a control character (NUL, newline, escape, ...): axis values are printed in tables and labels; give a plain one-line value",
                        bad.escape_debug()
                    ),
                ));
            }
        }
        if !k.starts_with('_') {
            let mut probe = base.clone();
            set_path(&mut probe, k, values[0].clone()).map_err(|m| Error::input(path, &loc, m))?;
        }
        axes.push(Axis { key: k.clone(), values });
    }
    Ok(axes)
}

/// The values of axis `key` (at `loc`): a non-empty list.
fn axis_values(key: &str, value: &toml::Value, path: &Path, loc: &str) -> Result<Vec<toml::Value>> {
    match value {
        toml::Value::Array(a) if !a.is_empty() => Ok(a.clone()),
        toml::Value::Array(_) => Err(Error::input(path, loc, "is an empty list; give at least one value")),
        toml::Value::Table(_) => Err(Error::input(
            path,
            loc,
            format!(
                "expected a list of values, got a table: quote the dotted key path, e.g. \"{key}.<key>\" = [1, 2] (unquoted, `{key}.<key> = [...]` is a nested table)"
            ),
        )),
        other => Err(Error::input(
            path,
            loc,
            format!("expected a list of values, got a {}", other.type_str()),
        )),
    }
}

/// Two axes setting the same key: one a dotted prefix of the other (`deployment` and
/// `deployment.tp`), so the later silently overrides the earlier.
fn check_overlaps(axes: &[Axis], path: &Path) -> Result<()> {
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
    Ok(())
}

/// The SLOs: none, one table, or a list of them.
fn read_slos(value: Option<toml::Value>, path: &Path) -> Result<Vec<SloSpec>> {
    Ok(match value {
        None => Vec::new(),
        Some(toml::Value::Array(a)) => a
            .into_iter()
            .enumerate()
            .map(|(i, v)| slo_from(v, path, &format!("slo[{i}]")))
            .collect::<Result<_>>()?,
        Some(v) => vec![slo_from(v, path, "slo")?],
    })
}

fn slo_from(v: toml::Value, path: &Path, loc: &str) -> Result<SloSpec> {
    let text = toml::to_string(&v).map_err(|e| Error::input(path, loc, e.to_string()))?;
    let s: SloSpec = parse_toml(&text, path).map_err(|e| match e {
        Error::Input(ie) => Error::input(path, format!("{loc}: {}", ie.location), ie.message),
        e => e,
    })?;
    s.check(path, loc)?;
    Ok(s)
}

/// Plot options name axes; the x axis must be numeric.
fn check_plot_axes(plot: &PlotSpec, axes: &[Axis], path: &Path) -> Result<()> {
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
    if let Some(x) = &plot.x {
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
    for g in plot.group_by.iter().flatten() {
        check_axis(g, "plot.group_by")?;
    }
    Ok(())
}

/// The sweep's name: as given, else the file's stem without `sweep-`; it names the report folder.
fn sweep_name(given: Option<String>, path: &Path) -> Result<String> {
    let name = given.unwrap_or_else(|| {
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
    Ok(name)
}

/// Runs whose CDFs are drawn must be runs of this sweep.
fn check_cdf_runs(m: &Manifest, path: &Path) -> Result<()> {
    if let Some(bad) = m.plot.cdf_runs.iter().find(|id| m.index_of(id).is_none()) {
        return Err(Error::input(
            path,
            "plot.cdf_runs",
            format!(
                "`{bad}` is not a run id of this sweep; ids run from {} to {}",
                m.run_id(0),
                m.run_id(m.runs - 1)
            ),
        ));
    }
    Ok(())
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

/// A string inside `v` that holds a control character, if any.
fn control_string(v: &toml::Value) -> Option<&str> {
    match v {
        toml::Value::String(s) if s.chars().any(char::is_control) => Some(s),
        toml::Value::Array(a) => a.iter().find_map(control_string),
        toml::Value::Table(t) => t.values().find_map(control_string),
        _ => None,
    }
}

/// The keys of the `[axes]` table in the order they are written.
fn axis_order(text: &str) -> Vec<String> {
    axis_lines(text).into_iter().map(|(k, _)| k).collect()
}

/// The keys of the `[axes]` table in the order they are written, with their lines.
pub(super) fn axis_lines(text: &str) -> Vec<(String, usize)> {
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
        assert_eq!(sc.parallelism().tp, 2);
        assert_eq!(sc.replicas(), 1);
        assert!(matches!(sc.arrival, crate::workload::ArrivalSpec::Poisson { rate_per_s, .. } if rate_per_s == 4.0));
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
