//! `[workload]`: the arrival process (and its trace), how many requests, until when, and their
//! lengths, checked against the model's context.

use super::{at_least_one, positive};
use crate::error::{Error, Result};
use crate::model::ModelSpec;
use crate::scenario::WorkloadSection;
use crate::scenario::limits::{MAX_IN_SYSTEM, MAX_REQUESTS};
use crate::workload::trace::{Trace, read_trace};
use crate::workload::{ArrivalSpec, LengthSpec};
use std::path::Path;
use std::sync::Arc;

/// The requests of a run, resolved: how many, until when, and their lengths, with the traces
/// they read loaded once.
pub(super) struct Workload {
    pub requests: u64,
    /// `workload.horizon_s` in nanoseconds (None: run to completion).
    pub horizon_ns: Option<u64>,
    pub input: LengthSpec,
    pub output: LengthSpec,
    pub trace: Option<Arc<Trace>>,
    pub input_column: Option<Arc<Vec<u32>>>,
    pub output_column: Option<Arc<Vec<u32>>>,
}

pub(super) fn resolve(w: &WorkloadSection, model: &ModelSpec, dir: &Path, path: &Path) -> Result<Workload> {
    let trace = arrival_trace(w, dir, path)?;
    let requests = request_count(w, trace.as_deref(), path)?;
    let horizon_ns = horizon_ns(w.horizon_s, path)?;
    if requests > MAX_REQUESTS {
        return Err(Error::input(
            path,
            "workload.requests",
            format!(
                "{requests} is more than the {MAX_REQUESTS} requests one run accepts; split the study into several runs"
            ),
        ));
    }
    let input = length_spec(&w.input, "workload.input", &w.arrival, path)?;
    let input_column = length_column(&input, "workload.input", true, dir, path)?;
    let output = length_spec(&w.output, "workload.output", &w.arrival, path)?;
    let output_column = length_column(&output, "workload.output", false, dir, path)?;
    let workload = Workload {
        requests,
        horizon_ns,
        input,
        output,
        trace,
        input_column,
        output_column,
    };
    workload.check_context(model, path)?;
    Ok(workload)
}

/// Checks the arrival process; with trace arrivals, reads the trace.
fn arrival_trace(w: &WorkloadSection, dir: &Path, path: &Path) -> Result<Option<Arc<Trace>>> {
    let mut trace = None;
    match &w.arrival {
        ArrivalSpec::Poisson { rate_per_s } => positive(path, "workload.arrival.rate_per_s", *rate_per_s)?,
        ArrivalSpec::Gamma { rate_per_s, cv } => {
            positive(path, "workload.arrival.rate_per_s", *rate_per_s)?;
            positive(path, "workload.arrival.cv", *cv)?;
        }
        ArrivalSpec::Closed { clients, think_time_s } => {
            at_least_one(path, "workload.arrival.clients", *clients as u64)?;
            // Each client holds a request in the system: beyond the engine's in-system bound the
            // run could only stop as overloaded.
            if *clients as u64 > MAX_IN_SYSTEM {
                return Err(Error::input(
                    path,
                    "workload.arrival.clients",
                    format!(
                        "{clients} clients are more than the {} requests one run holds at once; model that many users with open-loop (poisson) arrivals",
                        MAX_IN_SYSTEM
                    ),
                ));
            }
            if !(think_time_s.is_finite() && *think_time_s >= 0.0) {
                return Err(Error::input(
                    path,
                    "workload.arrival.think_time_s",
                    format!("must be a finite number >= 0, got {think_time_s}"),
                ));
            }
        }
        ArrivalSpec::Static { batch } => at_least_one(path, "workload.arrival.batch", *batch as u64)?,
        ArrivalSpec::Offline {} => {}
        ArrivalSpec::Trace {
            path: tp,
            format,
            rate_scale,
        } => {
            positive(path, "workload.arrival.rate_scale", *rate_scale)?;
            if w.input.is_some() || w.output.is_some() {
                return Err(Error::input(
                    path,
                    "workload.input",
                    "trace arrivals take their lengths from the trace; remove workload.input and workload.output",
                ));
            }
            trace = Some(Arc::new(read_trace(&dir.join(tp), *format)?));
        }
    }
    Ok(trace)
}

/// Requests to simulate: as set, or the trace's rows, or the static batch.
fn request_count(w: &WorkloadSection, trace: Option<&Trace>, path: &Path) -> Result<u64> {
    let requests = match (&w.arrival, w.requests) {
        (ArrivalSpec::Trace { .. }, r) => {
            let rows = trace.map_or(0, |t| t.requests.len() as u64);
            r.unwrap_or(rows).min(rows)
        }
        (ArrivalSpec::Static { batch }, r) => r.unwrap_or(*batch as u64),
        (_, Some(r)) => r,
        (_, None) => {
            return Err(Error::input(
                path,
                "workload.requests",
                format!(
                    "is required for `{}` arrivals: how many requests to simulate",
                    w.arrival.kind()
                ),
            ));
        }
    };
    at_least_one(path, "workload.requests", requests)?;
    Ok(requests)
}

fn horizon_ns(horizon_s: Option<f64>, path: &Path) -> Result<Option<u64>> {
    let Some(h) = horizon_s else {
        return Ok(None);
    };
    positive(path, "workload.horizon_s", h)?;
    if h > 1e9 {
        return Err(Error::input(
            path,
            "workload.horizon_s",
            format!("{h} s is beyond the simulator's clock (at most 1e9 s, about 31 years)"),
        ));
    }
    Ok(Some(crate::engine::secs_to_ns(h)))
}

/// A length distribution as set; trace arrivals carry their lengths, so theirs is a placeholder.
fn length_spec(spec: &Option<LengthSpec>, key: &str, arrival: &ArrivalSpec, path: &Path) -> Result<LengthSpec> {
    match (spec, arrival) {
        (Some(s), _) => Ok(s.clone()),
        (None, ArrivalSpec::Trace { .. }) => Ok(LengthSpec::Fixed { tokens: 1 }),
        (None, _) => Err(Error::input(
            path,
            key,
            "is required: a length distribution, e.g. { kind = \"fixed\", tokens = 512 }",
        )),
    }
}

/// Checks a length distribution; an empirical one reads its column (input or output tokens)
/// from its trace.
fn length_column(spec: &LengthSpec, key: &str, input: bool, dir: &Path, path: &Path) -> Result<Option<Arc<Vec<u32>>>> {
    match spec {
        LengthSpec::Trace { path: tp, format } => {
            let t = read_trace(&dir.join(tp), *format)?;
            Ok(Some(Arc::new(
                t.requests
                    .iter()
                    .map(|r| if input { r.input_tokens } else { r.output_tokens })
                    .collect::<Vec<u32>>(),
            )))
        }
        LengthSpec::Fixed { tokens } => {
            at_least_one(path, &format!("{key}.tokens"), *tokens as u64)?;
            Ok(None)
        }
        LengthSpec::Uniform { min, max } => {
            bounds(path, key, *min, *max)?;
            Ok(None)
        }
        LengthSpec::Lognormal { mean, cv, min, max } => {
            positive(path, &format!("{key}.mean"), *mean)?;
            positive(path, &format!("{key}.cv"), *cv)?;
            bounds(path, key, *min, *max)?;
            Ok(None)
        }
    }
}

impl Workload {
    /// Lengths beyond the model context are an error (lognormal draws are clamped to max).
    fn check_context(&self, model: &ModelSpec, path: &Path) -> Result<()> {
        let ctx = model.max_context as u64;
        if let Some(t) = &self.trace {
            if let Some((i, r)) = t
                .requests
                .iter()
                .enumerate()
                .find(|(_, r)| r.input_tokens as u64 + r.output_tokens as u64 > ctx)
            {
                return Err(Error::input(
                    path,
                    "workload.arrival.path",
                    format!(
                        "request {} of the trace has {} input + {} output tokens, beyond the {} context of {}; use a model with a longer context or filter the trace",
                        i + 1,
                        r.input_tokens,
                        r.output_tokens,
                        ctx,
                        model.name
                    ),
                ));
            }
        } else {
            let max_in = self
                .input
                .max_tokens(self.input_column.as_deref().map_or(&[], |v| v.as_slice())) as u64;
            let max_out =
                self.output
                    .max_tokens(self.output_column.as_deref().map_or(&[], |v| v.as_slice())) as u64;
            if max_in + max_out > ctx {
                return Err(Error::input(
                    path,
                    "workload.input",
                    format!(
                        "the longest request ({max_in} input + {max_out} output tokens) exceeds the {ctx}-token context of {}; accepted: input + output <= {ctx}",
                        model.name
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// A length distribution's bounds: `min` at least 1, `max` not below it.
fn bounds(path: &Path, key: &str, min: u32, max: u32) -> Result<()> {
    at_least_one(path, &format!("{key}.min"), min as u64)?;
    if max < min {
        return Err(Error::input(
            path,
            format!("{key}.max"),
            format!("must be >= min ({min}), got {max}"),
        ));
    }
    Ok(())
}
