//! The pre-flight check of a sweep: each axis value tried in its place through the scenario
//! schema, so a sweep file's own mistake is an input error before any run starts.

use super::file::axis_lines;
use super::{Manifest, key_of_location};
use crate::error::{Error, Result};
use crate::input::parse_toml;
use crate::tomlpath::set_path;
use std::path::Path;

/// Whether two dotted key paths touch the same key: equal, or one inside the other.
pub(super) fn related(a: &str, b: &str) -> bool {
    let inside = |long: &str, short: &str| {
        long.len() > short.len() && long.starts_with(short) && long.as_bytes()[short.len()] == b'.'
    };
    a == b || inside(a, b) || inside(b, a)
}

/// Checks, before any run, what would make runs fail for the sweep file's sake rather than the
/// combination's: a misspelt or mistyped key in an axis or in the base, a value of the wrong
/// type or out of the schema, more requests or replicas than one run accepts. Each axis value is
/// tried in its place with every other axis at its first value (zipped axes together), through
/// the scenario schema only (no catalog, no trace), so this is cheap. Combinations that do not
/// load (TP 3 of 32 heads; a model that does not fit) stay skipped runs.
pub(super) fn check_scenarios(path: &Path, text: &str, m: &Manifest) -> Result<()> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn related_keys_are_equal_or_nested() {
        assert!(related("deployment", "deployment.tp") && related("a.b", "a.b"));
        assert!(!related("deployment.tp", "deployment.tpp") && !related("a", "b"));
    }
}
