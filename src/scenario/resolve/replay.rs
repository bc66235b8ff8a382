//! Trace arrivals: the rows a run replays, from the trace as read. In order: the time window
//! (`workload.arrival.start_s` / `duration_s`), the block bootstrap (`bootstrap_block`, from
//! the seed), the first `workload.requests` rows that fit the context (`workload.over_context`)
//! and the arrival times scaled to `rate_per_s`. Each step that changes anything says so in the
//! run notes.

use super::positive;
use crate::error::{Error, Result, given};
use crate::model::ModelSpec;
use crate::scenario::WorkloadSection;
use crate::workload::ArrivalSpec;
use crate::workload::trace::Trace;
use crate::workload::trace::replay::{OverContext, block_bootstrap, fit_context, scale_for_rate, scaled, window};
use std::path::Path;

/// The rows replayed, and how many requests `over_context` dropped or clipped.
pub(super) struct Replay {
    pub trace: Trace,
    pub dropped: u64,
    pub clipped: u64,
}

/// How to serve requests longer than the model's nominal context, for the errors that refuse them.
pub(super) const LONGER_CONTEXT: &str =
    ", or set model.max_context when the deployment serves a longer context (n_positions, max_model_len, RoPE scaling)";

/// The rows a trace arrival replays (see the module's documentation).
pub(super) fn replay(
    w: &WorkloadSection,
    read: Trace,
    model: &ModelSpec,
    seed: u64,
    path: &Path,
    notes: &mut Vec<String>,
) -> Result<Replay> {
    let ArrivalSpec::Trace {
        path: tp,
        rate_scale,
        rate_per_s,
        start_s,
        duration_s,
        bootstrap_block,
        ..
    } = w.arrival()
    else {
        unreachable!("replay is called with trace arrivals")
    };
    check_rates(*rate_scale, *rate_per_s, path)?;
    let mut t = windowed(read, tp, *start_s, *duration_s, path, notes)?;
    if let Some(b) = *bootstrap_block {
        let rows = t.requests.len();
        if b == 0 || b as usize > rows {
            return Err(Error::input(
                path,
                "workload.arrival.bootstrap_block",
                format!("{b}: accepted: 1 to {rows} (rows per block, at most the rows replayed)"),
            ));
        }
        t = block_bootstrap(&t, b as usize, seed);
        notes.push(format!(
            "trace resampled: a block bootstrap of {rows} rows in blocks of {b} consecutive rows, drawn from seed {seed} (workload.arrival.bootstrap_block)"
        ));
    }
    let whose = if start_s.is_some() || duration_s.is_some() || bootstrap_block.is_some() {
        format!("of the rows replayed from the trace {tp} (after its window or bootstrap)")
    } else {
        format!("of the trace {tp}")
    };
    let (t, dropped, clipped) = fitted(w, t, model, &whose, path, notes)?;
    let t = match rate_per_s {
        Some(r) => at_rate(t, *r, path, notes)?,
        None => t,
    };
    Ok(Replay {
        trace: t,
        dropped,
        clipped,
    })
}

fn check_rates(rate_scale: Option<f64>, rate_per_s: Option<f64>, path: &Path) -> Result<()> {
    if let Some(s) = rate_scale {
        positive(path, "workload.arrival.rate_scale", s)?;
    }
    if let Some(r) = rate_per_s {
        positive(path, "workload.arrival.rate_per_s", r)?;
        if rate_scale.is_some() {
            return Err(Error::input(
                path,
                "workload.arrival.rate_per_s",
                "is set together with workload.arrival.rate_scale: rate_per_s sets the replay's mean rate, rate_scale multiplies the trace's own; accepted: one of them",
            ));
        }
    }
    Ok(())
}

/// The rows inside `[start_s, start_s + duration_s)` of the trace, if a window is set.
fn windowed(
    t: Trace,
    tp: &str,
    start_s: Option<f64>,
    duration_s: Option<f64>,
    path: &Path,
    notes: &mut Vec<String>,
) -> Result<Trace> {
    if start_s.is_none() && duration_s.is_none() {
        return Ok(t);
    }
    let start = start_s.unwrap_or(0.0);
    if !(start.is_finite() && (0.0..=crate::engine::MAX_SIM_S).contains(&start)) {
        return Err(Error::input(
            path,
            "workload.arrival.start_s",
            format!(
                "{}: accepted: seconds from the trace's first row, 0 or more",
                given(start)
            ),
        ));
    }
    if let Some(d) = duration_s {
        positive(path, "workload.arrival.duration_s", d)?;
    }
    let end = duration_s.map(|d| start + d);
    let kept = window(
        &t,
        crate::engine::secs_to_ns(start),
        end.map(|e| crate::engine::secs_to_ns(e.min(crate::engine::MAX_SIM_S))),
    );
    let to = end.map_or("the end".to_string(), |e| format!("{e} s"));
    if kept.requests.is_empty() {
        return Err(Error::input(
            path,
            "workload.arrival.start_s",
            format!(
                "with workload.arrival.duration_s, the window from {start} s to {to} holds none of the {} rows of the trace {tp}, whose arrivals span 0 to {:.3} s; accepted: a window that overlaps them",
                t.requests.len(),
                t.span_s()
            ),
        ));
    }
    notes.push(format!(
        "trace window: {} of the {} rows of {tp}, those arriving from {start} s to {to} (workload.arrival.start_s / duration_s), replayed from 0",
        kept.requests.len(),
        t.requests.len()
    ));
    Ok(kept)
}

/// The first `workload.requests` rows that fit the context, as `workload.over_context` says.
fn fitted(
    w: &WorkloadSection,
    t: Trace,
    model: &ModelSpec,
    whose: &str,
    path: &Path,
    notes: &mut Vec<String>,
) -> Result<(Trace, u64, u64)> {
    let ctx = model.max_context;
    let (kept, fit) = fit_context(&t, ctx, w.over_context, w.requests);
    match (w.over_context, fit.first) {
        (_, None) => return Ok((kept, 0, 0)),
        (OverContext::Error, Some(i)) => {
            let r = &t.requests[i];
            return Err(Error::input(
                path,
                "workload.arrival.path",
                format!(
                    "request {} {whose} has {} input + {} output tokens, beyond the {ctx} context of {}; set workload.over_context = \"drop\" or \"clip\", use a model with a longer context, filter the trace{LONGER_CONTEXT}",
                    i + 1,
                    r.input_tokens,
                    r.max_tokens.unwrap_or(r.output_tokens).max(r.output_tokens),
                    model.name
                ),
            ));
        }
        _ => {}
    }
    let how = w.over_context;
    if kept.requests.is_empty() {
        return Err(Error::input(
            path,
            "workload.over_context",
            format!(
                "\"drop\" leaves none of the trace's rows: every one exceeds the {ctx}-token context of {}; accepted: \"clip\", or a model with a longer context{LONGER_CONTEXT}",
                model.name
            ),
        ));
    }
    let did = match how {
        OverContext::Drop => "left out (counted as dropped_over_context in the summary)",
        _ => "clipped: prompt cut so that prompt + output fit (counted as clipped_over_context in the summary)",
    };
    notes.push(format!(
        "workload.over_context = \"{}\": {} requests beyond the {ctx}-token context of {} {did}",
        how.name(),
        fit.changed,
        model.name
    ));
    Ok(match how {
        OverContext::Drop => (kept, fit.changed, 0),
        _ => (kept, 0, fit.changed),
    })
}

/// The rows' arrivals scaled so that their mean rate is `rate_per_s` (a single row, at 0, is
/// the same at any rate).
fn at_rate(t: Trace, rate_per_s: f64, path: &Path, notes: &mut Vec<String>) -> Result<Trace> {
    let own = t.mean_rate_per_s();
    if t.requests.len() == 1 {
        // One request has no gap to scale: it arrives at 0 at any rate.
        return Ok(t);
    }
    let Some(scale) = scale_for_rate(&t, rate_per_s) else {
        return Err(Error::input(
            path,
            "workload.arrival.rate_per_s",
            format!(
                "{rate_per_s}: the {} rows replayed arrive at one instant, so they have no rate to scale; accepted: rate_scale, or at least two rows at different times",
                t.requests.len()
            ),
        ));
    };
    notes.push(format!(
        "trace replayed at {rate_per_s} req/s (workload.arrival.rate_per_s): rate_scale {scale:.6} × its own mean rate of {own:.4} req/s over the {} rows replayed",
        t.requests.len()
    ));
    Ok(scaled(&t, scale))
}
