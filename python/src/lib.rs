//! `codesim._codesim`: the simulator as a Python extension (PyO3). Every function calls the
//! library's own entry points (`scenario::load`, `sim::Simulation`, `sweep::execute`,
//! `plan::run`, `validate::run`, the report writers) — the same code the `codesim` command runs —
//! and hands JSON text (parsed by the Python wrapper, `codesim/__init__.py`) and tables (Arrow C
//! data interface, no copy) back. The GIL is released while anything simulates.

mod arrow;
mod source;

use arrow::Frame;
use codesim::error::Error as SimError;
use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyValueError};
use pyo3::prelude::*;
use source::Source;
use std::path::{Path, PathBuf};

create_exception!(
    _codesim,
    Error,
    PyException,
    "A codesim error: the message is the `codesim` command's (file, key path, bad value, what is accepted), `exit_code` its exit status (2: bad input, 1: an output failed)."
);

/// A library error as `codesim.Error`, with the CLI's message and exit code.
fn raise(e: SimError) -> PyErr {
    Python::attach(|py| {
        let err = Error::new_err(e.to_string());
        match err.value(py).setattr("exit_code", e.exit_code()) {
            Ok(()) => err,
            Err(set) => set,
        }
    })
}

/// Simulates one scenario: (summary JSON as `codesim run --json` prints it, requests table).
#[pyfunction]
#[pyo3(signature = (kind, value, seed=None, requests=true))]
fn run(
    py: Python<'_>,
    kind: &str,
    value: String,
    seed: Option<u64>,
    requests: bool,
) -> PyResult<(String, Option<Frame>)> {
    let src = Source::new(kind, value)?;
    py.detach(move || -> Result<(String, Option<Frame>), SimError> {
        let mut sc = match src.text()? {
            (None, path) => codesim::scenario::load(&path)?,
            (Some(text), path) => codesim::scenario::load_str(&text, &path)?,
        };
        if let Some(s) = seed {
            sc.seed = s;
        }
        let opts = codesim::sim::RunOptions {
            keep_requests: requests,
            ..codesim::sim::RunOptions::default()
        };
        let (result, rows) = codesim::sim::Simulation::new(&sc, opts)?.run()?;
        let summary = serde_json::to_string(&result).expect("RunResult serialises");
        let frame = if requests {
            let df = codesim::metrics::table::requests_frame(&rows).map_err(|e| output_error("requests", e))?;
            Some(Frame::new(df, codesim::metrics::table::requests_docs()))
        } else {
            None
        };
        Ok((summary, frame))
    })
    .map_err(raise)
}

fn output_error(what: &str, e: impl std::fmt::Display) -> SimError {
    SimError::Output {
        path: PathBuf::from(what),
        message: e.to_string(),
    }
}

/// Runs a sweep into `out` (default `reports/<name>`, as the CLI): the same files `codesim sweep`
/// writes. Returns (output directory, results table).
#[pyfunction]
#[pyo3(signature = (kind, value, out=None, jobs=None, plots=true))]
fn sweep(
    py: Python<'_>,
    kind: &str,
    value: String,
    out: Option<PathBuf>,
    jobs: Option<usize>,
    plots: bool,
) -> PyResult<(String, Frame)> {
    if jobs == Some(0) {
        return Err(PyValueError::new_err("jobs must be at least 1"));
    }
    let src = Source::new(kind, value)?;
    py.detach(move || -> Result<(String, Frame), SimError> {
        let sw = match src.text()? {
            (None, path) => codesim::sweep::load(&path)?,
            (Some(text), path) => codesim::sweep::load_str(&text, &path)?,
        };
        let m = &sw.manifest;
        let out = out.unwrap_or_else(|| Path::new("reports").join(&m.name));
        codesim::atomic::ensure_out_dir(&out)?;
        let opts = codesim::sweep::ExecOptions {
            jobs: jobs.unwrap_or(0),
            shard: codesim::sweep::Shard::ALL,
            resume: false,
            stop: None,
        };
        codesim::sweep::execute(&sw, &out, opts, &|_, _| {}, &|_| {})?;
        let records = codesim::sweep::collect(&out, m)?;
        let command = format!("codesim.sweep({:?}, out={:?})", m.file, out.display().to_string());
        codesim::report::sweep::write_all(&out, m, &records, plots, &command)?;
        let df = codesim::sweep::table::results_frame(m, &records).map_err(|e| output_error("results", e))?;
        Ok((
            out.display().to_string(),
            Frame::new(df, codesim::sweep::table::results_docs(m)),
        ))
    })
    .map_err(raise)
}

/// Sizes the cheapest fleet of a plan: the JSON `codesim plan --json` prints; with `out`, the
/// files `codesim plan --out` writes (plan.json with every probe, plan.md, plots).
#[pyfunction]
#[pyo3(signature = (kind, value, out=None))]
fn plan(py: Python<'_>, kind: &str, value: String, out: Option<PathBuf>) -> PyResult<String> {
    let src = Source::new(kind, value)?;
    py.detach(move || -> Result<String, SimError> {
        let p = match src.text()? {
            (None, path) => codesim::plan::load(&path)?,
            (Some(text), path) => codesim::plan::load_str(&text, &path)?,
        };
        if let Some(dir) = &out {
            codesim::atomic::ensure_out_dir(dir)?;
        }
        let report = codesim::plan::run(&p)?;
        if let Some(dir) = &out {
            let command = format!("codesim.plan({:?}, out={:?})", report.file, dir.display().to_string());
            codesim::report::plan::write_all(dir, &report, &command)?;
        }
        Ok(serde_json::to_string(&report.summary_json()).expect("a plan report serialises"))
    })
    .map_err(raise)
}

/// Simulates published measurements: the JSON `codesim validate --json` prints (with `cv`, the
/// cross-validation's, over every file).
#[pyfunction]
#[pyo3(signature = (files, cv=false))]
fn validate(py: Python<'_>, files: Vec<PathBuf>, cv: bool) -> PyResult<String> {
    if files.is_empty() {
        return Err(PyValueError::new_err("validate needs at least one validation file"));
    }
    py.detach(move || -> Result<String, SimError> {
        if cv {
            let r = codesim::validate::cv::run(&files)?;
            return Ok(serde_json::to_string(&r).expect("CvReport serialises"));
        }
        let [path] = &files[..] else {
            return Err(SimError::input(
                &files[1],
                "",
                "validate takes one file (several only with cv=True, which pools them)",
            ));
        };
        let report = codesim::validate::run(path)?;
        Ok(serde_json::to_string(&report).expect("Report serialises"))
    })
    .map_err(raise)
}

/// The hardware catalog, as `codesim hw list --json` prints it.
#[pyfunction]
fn hw() -> PyResult<String> {
    let c = codesim::hw::Catalog::builtin().map_err(raise)?;
    Ok(c.to_json().to_string())
}

/// The model presets, as `codesim model list --json` prints them.
#[pyfunction]
fn models() -> PyResult<String> {
    let m = codesim::model::builtin_presets().map_err(raise)?;
    Ok(serde_json::to_string(&m).expect("presets serialise"))
}

#[pymodule]
fn _codesim(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("Error", m.py().get_type::<Error>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<Frame>()?;
    m.add_function(wrap_pyfunction!(run, m)?)?;
    m.add_function(wrap_pyfunction!(sweep, m)?)?;
    m.add_function(wrap_pyfunction!(plan, m)?)?;
    m.add_function(wrap_pyfunction!(validate, m)?)?;
    m.add_function(wrap_pyfunction!(hw, m)?)?;
    m.add_function(wrap_pyfunction!(models, m)?)?;
    Ok(())
}
