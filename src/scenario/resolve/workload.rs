//! `[workload]`: the arrival process (and its trace), how many requests, until when, and their
//! lengths, checked against the model's context.

use super::{at_least_one, positive};
use crate::engine::MAX_SIM_S;
use crate::error::{Error, Result};
use crate::model::ModelSpec;

use crate::scenario::WorkloadSection;
use crate::scenario::limits::{MAX_IN_SYSTEM, MAX_REQUESTS};
use crate::serve::{SchedulerConfig, SchedulerKind};
use crate::workload::trace::replay::OverContext;
use crate::workload::trace::{Trace, read_trace};
use crate::workload::{ArrivalSpec, CapMode, Client, LengthSpec};
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
    /// The client's `max_tokens` on every request, if known before the run (see
    /// [`max_tokens`]).
    pub max_tokens: Option<u32>,
    /// Every request's `max_tokens` is its own output length (a benchmark client's, when
    /// `workload.max_tokens` is unset).
    pub max_tokens_per_request: bool,
    /// Trace rows `workload.over_context` left out, and those it clipped, among those replayed.
    pub dropped_over_context: u64,
    pub clipped_over_context: u64,
}

pub(super) fn resolve(
    w: &WorkloadSection,
    model: &ModelSpec,
    dir: &Path,
    path: &Path,
    seed: u64,
    notes: &mut Vec<String>,
) -> Result<Workload> {
    let read = arrival_trace(w, dir, path)?;
    let (trace, dropped, clipped) = match read {
        Some(t) => {
            let r = super::replay::replay(w, t, model, seed, path, notes)?;
            (Some(Arc::new(r.trace)), r.dropped, r.clipped)
        }
        None => {
            if w.over_context != OverContext::Error {
                return Err(Error::input(
                    path,
                    "workload.over_context",
                    format!(
                        "\"{}\" applies to trace arrivals (kind = \"trace\"); length distributions are checked against the context as a whole; remove it",
                        w.over_context.name()
                    ),
                ));
            }
            (None, 0, 0)
        }
    };
    check_client(w.arrival(), path)?;
    notes.extend(client_notes(w.arrival()));
    let requests = request_count(w, trace.as_deref(), path)?;
    let horizon_ns = horizon_ns(w.horizon_s, path)?;
    if horizon_ns.is_none() {
        check_span(w.arrival(), requests, trace.as_deref(), path)?;
    }
    if requests > MAX_REQUESTS {
        return Err(Error::input(
            path,
            "workload.requests",
            format!(
                "{requests} is more than the {MAX_REQUESTS} requests one run accepts; split the study into several runs"
            ),
        ));
    }
    let input = length_spec(&w.input, "workload.input", w.arrival(), path)?;
    let input_column = length_column(&input, "workload.input", true, dir, path)?;
    let output = length_spec(&w.output, "workload.output", w.arrival(), path)?;
    let output_column = length_column(&output, "workload.output", false, dir, path)?;
    let max_tokens = max_tokens(w, &output, trace.as_deref(), model, path)?;
    let workload = Workload {
        requests,
        horizon_ns,
        input,
        output,
        trace,
        input_column,
        output_column,
        max_tokens,
        max_tokens_per_request: w.arrival().client().max_tokens_per_request() && w.max_tokens.is_none(),
        dropped_over_context: dropped,
        clipped_over_context: clipped,
    };
    workload.check_context(model, path)?;
    Ok(workload)
}

/// Checks the arrival process; with trace arrivals, reads the trace.
fn arrival_trace(w: &WorkloadSection, dir: &Path, path: &Path) -> Result<Option<Trace>> {
    let mut trace = None;
    match w.arrival() {
        ArrivalSpec::Poisson { rate_per_s, .. } | ArrivalSpec::Constant { rate_per_s, .. } => {
            positive(path, "workload.arrival.rate_per_s", *rate_per_s)?
        }
        ArrivalSpec::Gamma { rate_per_s, cv, .. } => {
            positive(path, "workload.arrival.rate_per_s", *rate_per_s)?;
            positive(path, "workload.arrival.cv", *cv)?;
        }
        ArrivalSpec::Weibull { rate_per_s, shape, .. } => {
            positive(path, "workload.arrival.rate_per_s", *rate_per_s)?;
            if !(shape.is_finite() && (0.1..=100.0).contains(shape)) {
                return Err(Error::input(
                    path,
                    "workload.arrival.shape",
                    format!(
                        "is {}; accepted: 0.1 to 100 (below 1 burstier than Poisson, 1 Poisson, above 1 more regular)",
                        crate::error::given(*shape)
                    ),
                ));
            }
        }
        ArrivalSpec::Closed {
            clients, think_time_s, ..
        } => {
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
        ArrivalSpec::Trace { path: tp, format, .. } => {
            if w.input.is_some() || w.output.is_some() {
                return Err(Error::input(
                    path,
                    "workload.input",
                    "trace arrivals take their lengths from the trace; remove workload.input and workload.output",
                ));
            }
            trace = Some(read_trace(&dir.join(tp), *format)?);
        }
    }
    Ok(trace)
}

/// The most `workload.arrival.send_delay_ms` may be: a mean delay of 1000 s before each send is
/// no client's overhead (and its exponential tail stays far inside the clock).
const MAX_SEND_DELAY_MS: f64 = 1e6;

/// Checks what the arrival's benchmark client can do: a think time only with `ideal` (no tool
/// sleeps between requests), a send delay finite and at most [`MAX_SEND_DELAY_MS`], a rate
/// process the client has.
fn check_client(arrival: &ArrivalSpec, path: &Path) -> Result<()> {
    let client = arrival.client();
    if let ArrivalSpec::Closed {
        think_time_s,
        send_delay_ms,
        ..
    } = arrival
    {
        if *think_time_s > 0.0 && !client.allows_think_time() {
            return Err(Error::input(
                path,
                "workload.arrival.think_time_s",
                format!(
                    "{think_time_s} s: {} sends its next request as soon as the last returns (no benchmark tool sleeps between requests); remove think_time_s or use client = \"ideal\"",
                    client.name()
                ),
            ));
        }
        if !(send_delay_ms.is_finite() && (0.0..=MAX_SEND_DELAY_MS).contains(send_delay_ms)) {
            return Err(Error::input(
                path,
                "workload.arrival.send_delay_ms",
                format!("{send_delay_ms}: accepted: a number of milliseconds from 0 to {MAX_SEND_DELAY_MS}"),
            ));
        }
    }
    if let Some(n) = arrival.max_concurrency() {
        let key = "workload.arrival.max_concurrency";
        at_least_one(path, key, n as u64)?;
        if n as u64 > MAX_IN_SYSTEM {
            return Err(Error::input(
                path,
                key,
                format!("{n} is more than the {MAX_IN_SYSTEM} requests one run holds at once"),
            ));
        }
        client
            .cap_mode()
            .map_err(|why| Error::input(path, key, format!("{n} with client \"{}\": {why}", client.name())))?;
    }
    if let Some(kind) = arrival.rate_kind() {
        client.rate_schedule(kind).map_err(|why| {
            Error::input(
                path,
                "workload.arrival.client",
                format!("\"{}\" with kind = \"{}\": {why}", client.name(), arrival.kind()),
            )
        })?;
    }
    Ok(())
}

/// The run notes of a benchmark client: which applies and what it does, in one line (none for
/// `ideal` without a send delay: the behaviour codesim always had).
fn client_notes(arrival: &ArrivalSpec) -> Vec<String> {
    let client = arrival.client();
    let mut notes = Vec::new();
    match arrival {
        ArrivalSpec::Closed {
            clients, send_delay_ms, ..
        } => {
            if client != Client::Ideal {
                notes.push(client.closed_note(*clients));
            }
            if *send_delay_ms > 0.0 {
                notes.push(format!(
                    "client: each send waits an exponential delay of mean {send_delay_ms} ms (workload.arrival.send_delay_ms: an assumption, no tool documents its size)"
                ));
            }
        }
        _ => {
            if let (Some(kind), true) = (arrival.rate_kind(), client != Client::Ideal) {
                notes.push(client.rate_note(kind));
            }
            if let (Some(n), Ok(mode)) = (arrival.max_concurrency(), client.cap_mode()) {
                let how = match mode {
                    CapMode::Queue => {
                        "a request due while all are taken waits in the client, first come first served, while the schedule runs on"
                    }
                    CapMode::Paused => {
                        "while all are taken the schedule pauses; the next request is due one interval after the last was sent"
                    }
                };
                notes.push(format!(
                    "client: at most {n} requests in flight (workload.arrival.max_concurrency): {how}"
                ));
            }
        }
    }
    notes
}

/// Requests to simulate: as set, or the trace's rows, or the static batch.
fn request_count(w: &WorkloadSection, trace: Option<&Trace>, path: &Path) -> Result<u64> {
    let requests = match (w.arrival(), w.requests) {
        (
            ArrivalSpec::Trace {
                path: tp,
                start_s,
                duration_s,
                ..
            },
            r,
        ) => {
            let rows = trace.map_or(0, |t| t.requests.len() as u64);
            let kept = if start_s.is_some() || duration_s.is_some() || w.over_context == OverContext::Drop {
                " (kept by the window and workload.over_context)"
            } else {
                ""
            };
            match r {
                // Replaying fewer rows than asked would be a silently smaller run.
                Some(r) if r > rows => {
                    return Err(Error::input(
                        path,
                        "workload.requests",
                        format!(
                            "{r} is more than the {rows} rows of the trace {tp}{kept}; accepted: 1 to {rows} (the first N rows), or leave it out to replay every row"
                        ),
                    ));
                }
                Some(r) => r,
                None => rows,
            }
        }
        (ArrivalSpec::Static { batch }, r) => r.unwrap_or(*batch as u64),
        (_, Some(r)) => r,
        (_, None) => {
            return Err(Error::input(
                path,
                "workload.requests",
                format!(
                    "is required for `{}` arrivals: how many requests to simulate",
                    w.arrival().kind()
                ),
            ));
        }
    };
    at_least_one(path, "workload.requests", requests)?;
    Ok(requests)
}

/// The client's `max_tokens` on every request: `workload.max_tokens` (at least 1, below the
/// model's context, and not with a trace that carries its own), else the output distribution's
/// maximum (what a client that knows its traffic would ask for). None with lengths from a trace
/// (its largest output is not something a client knows): rows carry theirs in a `max_tokens`
/// column, or the engine's default (max_model_len − prompt) applies.
fn max_tokens(
    w: &WorkloadSection,
    output: &LengthSpec,
    trace: Option<&Trace>,
    model: &ModelSpec,
    path: &Path,
) -> Result<Option<u32>> {
    let key = "workload.max_tokens";
    let Some(m) = w.max_tokens else {
        return Ok(match (w.arrival(), output) {
            (ArrivalSpec::Trace { .. }, _) | (_, LengthSpec::Trace { .. }) => None,
            (_, spec) => Some(spec.max_tokens(&[])),
        });
    };
    at_least_one(path, key, m as u64)?;
    if m >= model.max_context {
        return Err(Error::input(
            path,
            key,
            format!(
                "{m} leaves no room for a prompt in the {}-token context of {}; accepted: 1 to {}",
                model.max_context,
                model.name,
                model.max_context.saturating_sub(1)
            ),
        ));
    }
    if trace.is_some_and(|t| t.requests.iter().any(|r| r.max_tokens.is_some())) {
        return Err(Error::input(
            path,
            key,
            "the trace carries max_tokens per request (its `max_tokens` column); remove workload.max_tokens or the column",
        ));
    }
    Ok(Some(m))
}

/// Refuses arrivals whose expected span passes the simulator's clock ([`MAX_SIM_S`]): a rate of
/// 1e-9/s, a think time of 1e9 s or a trace slowed by 1e-300 cannot be simulated, only clamped.
/// With `workload.horizon_s` set the run stops at the horizon instead, so this is not checked.
pub(super) fn check_span(arrival: &ArrivalSpec, requests: u64, trace: Option<&Trace>, path: &Path) -> Result<()> {
    let (key, value, span_s) = match arrival {
        ArrivalSpec::Poisson { rate_per_s, .. }
        | ArrivalSpec::Constant { rate_per_s, .. }
        | ArrivalSpec::Weibull { rate_per_s, .. }
        | ArrivalSpec::Gamma { rate_per_s, .. } => {
            ("workload.arrival.rate_per_s", *rate_per_s, requests as f64 / rate_per_s)
        }
        ArrivalSpec::Closed {
            clients, think_time_s, ..
        } => {
            let rounds = requests.div_ceil((*clients).max(1) as u64) as f64;
            ("workload.arrival.think_time_s", *think_time_s, rounds * think_time_s)
        }
        ArrivalSpec::Trace { rate_scale, .. } => {
            let last = trace
                .and_then(|t| t.requests.iter().take(requests as usize).map(|r| r.arrival_ns).max())
                .unwrap_or(0);
            (
                "workload.arrival.rate_scale",
                rate_scale.unwrap_or(1.0),
                last as f64 * 1e-9 / rate_scale.unwrap_or(1.0),
            )
        }
        ArrivalSpec::Static { .. } | ArrivalSpec::Offline {} => return Ok(()),
    };
    if span_s.is_finite() && span_s <= MAX_SIM_S {
        return Ok(());
    }
    Err(Error::input(
        path,
        key,
        format!(
            "{} makes {requests} requests arrive over about {} s, beyond the simulator's clock ({MAX_SIM_S:e} s, about 31 years); accepted: a value that keeps the arrivals inside it, or set workload.horizon_s to stop the run earlier",
            crate::error::given(value),
            crate::error::given(span_s)
        ),
    ))
}

fn horizon_ns(horizon_s: Option<f64>, path: &Path) -> Result<Option<u64>> {
    let Some(h) = horizon_s else {
        return Ok(None);
    };
    positive(path, "workload.horizon_s", h)?;
    if h > MAX_SIM_S {
        return Err(Error::input(
            path,
            "workload.horizon_s",
            format!("{h} s is beyond the simulator's clock (at most {MAX_SIM_S:e} s, about 31 years)"),
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
pub(super) fn length_column(
    spec: &LengthSpec,
    key: &str,
    input: bool,
    dir: &Path,
    path: &Path,
) -> Result<Option<Arc<Vec<u32>>>> {
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
        LengthSpec::Normal { mean, stddev, min, max } => {
            bounds(path, key, *min, *max)?;
            normal_moments(path, key, *mean, *stddev, *min, *max)?;
            Ok(None)
        }
        LengthSpec::Exponential { mean, min, max } => {
            positive(path, &format!("{key}.mean"), *mean)?;
            bounds(path, key, *min, *max)?;
            Ok(None)
        }
        LengthSpec::ParetoLognormal {
            mean,
            cv,
            tail_weight,
            tail_min,
            tail_alpha,
            min,
            max,
        } => {
            positive(path, &format!("{key}.mean"), *mean)?;
            positive(path, &format!("{key}.cv"), *cv)?;
            pareto_tail(path, key, *tail_weight, *tail_min, *tail_alpha)?;
            bounds(path, key, *min, *max)?;
            Ok(None)
        }
    }
}

use super::replay::LONGER_CONTEXT;

impl Workload {
    /// The longest prompt the run can send: of the trace rows replayed (the first `requests`),
    /// else the input distribution's maximum.
    pub fn longest_prompt(&self) -> u64 {
        match &self.trace {
            Some(t) => t
                .requests
                .iter()
                .take(self.requests as usize)
                .map(|r| r.input_tokens as u64)
                .max()
                .unwrap_or(0),
            None => self
                .input
                .max_tokens(self.input_column.as_deref().map_or(&[], |v| v.as_slice())) as u64,
        }
    }

    /// Under `continuous` batching a prompt is prefilled whole in one step, within
    /// `serving.max_batched_tokens`: a longer prompt could never be scheduled (vLLM V0 refuses to
    /// start with max_num_batched_tokens below max_model_len without chunked prefill; a prompt
    /// over its prompt limit is ignored).
    pub fn check_token_budget(&self, scheduler: &SchedulerConfig, path: &Path) -> Result<()> {
        let prompt = self.longest_prompt();
        let budget = scheduler.max_batched_tokens as u64;
        if scheduler.kind != SchedulerKind::Continuous || prompt <= budget {
            return Ok(());
        }
        Err(Error::input(
            path,
            "serving.max_batched_tokens",
            format!(
                "{budget} tokens per step is below the longest prompt ({prompt} tokens): `continuous` batching prefills a prompt whole in one step, so it could never be scheduled; accepted: max_batched_tokens >= {prompt}, or scheduler = \"chunked\" (prompts split into chunks)"
            ),
        ))
    }

    /// Lengths beyond the model context are an error (lognormal draws are clamped to max); a
    /// trace's rows were checked as they were replayed ([`super::replay`]).
    fn check_context(&self, model: &ModelSpec, path: &Path) -> Result<()> {
        let ctx = model.max_context as u64;
        if self.trace.is_some() {
            return Ok(());
        }
        let max_in = self
            .input
            .max_tokens(self.input_column.as_deref().map_or(&[], |v| v.as_slice())) as u64;
        let max_out = self
            .output
            .max_tokens(self.output_column.as_deref().map_or(&[], |v| v.as_slice())) as u64;
        if max_in + max_out > ctx {
            return Err(Error::input(
                path,
                "workload.input",
                format!(
                    "the longest request ({max_in} input + {max_out} output tokens) exceeds the {ctx}-token context of {}; accepted: input + output <= {ctx}{LONGER_CONTEXT}",
                    model.name
                ),
            ));
        }
        Ok(())
    }
}

/// A normal length distribution's mean within [min, max] (so that a draw at or above `min`
/// comes at least every other try) and its standard deviation finite and not negative.
fn normal_moments(path: &Path, key: &str, mean: f64, stddev: f64, min: u32, max: u32) -> Result<()> {
    if !(mean.is_finite() && mean >= min as f64 && mean <= max as f64) {
        return Err(Error::input(
            path,
            format!("{key}.mean"),
            format!("{mean}: accepted: a number from min ({min}) to max ({max})"),
        ));
    }
    if !(stddev.is_finite() && stddev >= 0.0) {
        return Err(Error::input(
            path,
            format!("{key}.stddev"),
            format!("must be a finite number >= 0, got {stddev}"),
        ));
    }
    Ok(())
}

/// A length distribution's bounds: `min` at least 1, `max` not below it.
/// The Pareto tail of a `pareto-lognormal` length: a weight in [0, 1], a scale >= 1 token and
/// an index > 1 (a finite mean).
fn pareto_tail(path: &Path, key: &str, weight: f64, tail_min: f64, alpha: f64) -> Result<()> {
    let bad = |k: &str, v: f64, what: &str| {
        Err(Error::input(
            path,
            format!("{key}.{k}"),
            format!("is {}; accepted: {what}", crate::error::given(v)),
        ))
    };
    if !(weight.is_finite() && (0.0..=1.0).contains(&weight)) {
        return bad("tail_weight", weight, "a probability from 0 to 1");
    }
    if !(tail_min.is_finite() && tail_min >= 1.0) {
        return bad("tail_min", tail_min, "a number of tokens >= 1 (the Pareto scale)");
    }
    if !(alpha.is_finite() && alpha > 1.0 && alpha <= 100.0) {
        return bad("tail_alpha", alpha, "a tail index in (1, 100] (above 1: a finite mean)");
    }
    Ok(())
}

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

#[cfg(test)]
mod tests;
