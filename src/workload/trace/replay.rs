//! The rows a run replays from a trace: a time window, a block bootstrap of the rows, requests
//! beyond the context dropped or clipped, and the arrival times scaled to a target mean rate.
//! Each step is a pure function of a [`Trace`] (and a seed for the bootstrap); the scenario's
//! resolver applies them in that order and reports what they did in the run notes.

use super::{Trace, TraceRequest};
use rand::RngExt;
use serde::{Deserialize, Serialize};

/// What to do with a request whose prompt + output (or prompt + `max_tokens`) exceed the
/// deployment's context (`workload.over_context`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OverContext {
    /// Refuse the scenario, naming the first such row (the default).
    #[default]
    Error,
    /// Leave the row out of the replay, counted.
    Drop,
    /// Cut the prompt so that prompt + output fit (and the output to context − 1 when even a
    /// one-token prompt would not fit), counted.
    Clip,
}

impl OverContext {
    pub fn name(self) -> &'static str {
        match self {
            OverContext::Error => "error",
            OverContext::Drop => "drop",
            OverContext::Clip => "clip",
        }
    }
}

/// Rows arriving in `[start_ns, end_ns)` (no end: to the last row), their arrivals re-based so
/// the first kept row arrives at 0, as every trace starts.
pub fn window(t: &Trace, start_ns: u64, end_ns: Option<u64>) -> Trace {
    let kept: Vec<TraceRequest> = t
        .requests
        .iter()
        .filter(|r| r.arrival_ns >= start_ns && end_ns.is_none_or(|e| r.arrival_ns < e))
        .cloned()
        .collect();
    let first = kept.first().map_or(0, |r| r.arrival_ns);
    Trace {
        requests: kept
            .into_iter()
            .map(|r| TraceRequest {
                arrival_ns: r.arrival_ns - first,
                ..r
            })
            .collect(),
        ..t.clone()
    }
}

/// A moving-block bootstrap of the rows: blocks of `block` consecutive rows (at most the rows
/// there are), each starting at a uniformly drawn row, concatenated until as many rows as the
/// trace has. Each row keeps the gap to the row before it in the trace, so bursts within a
/// block stay as they were; a block's first row keeps its own gap too (the trace's first row,
/// which has none, takes the trace's mean gap). The first row of the result arrives at 0. The
/// draws come from the run's `TraceSample` stream of `seed`.
pub fn block_bootstrap(t: &Trace, block: usize, seed: u64) -> Trace {
    let mut rng = crate::rng::Stream::TraceSample.rng(seed);
    let n = t.requests.len();
    let block = block.clamp(1, n.max(1));
    let mean_gap = if n >= 2 {
        t.requests[n - 1].arrival_ns / (n as u64 - 1)
    } else {
        0
    };
    let gap = |i: usize| {
        if i == 0 {
            mean_gap
        } else {
            t.requests[i].arrival_ns - t.requests[i - 1].arrival_ns
        }
    };
    let mut out: Vec<TraceRequest> = Vec::with_capacity(n);
    let mut now = 0u64;
    while out.len() < n {
        let start = rng.random_range(0..=n - block);
        for i in start..(start + block).min(start + n - out.len()) {
            if !out.is_empty() {
                now = now.saturating_add(gap(i));
            }
            out.push(TraceRequest {
                arrival_ns: now,
                ..t.requests[i].clone()
            });
        }
    }
    Trace {
        requests: out,
        ..t.clone()
    }
}

/// What [`fit_context`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Fitted {
    /// Rows left out (`drop`) or cut (`clip`) among those replayed.
    pub changed: u64,
    /// The first such row (0-based in the trace given), for the error of `error`.
    pub first: Option<usize>,
}

/// Tokens a row needs in the context: its prompt and the most it may generate (its
/// `max_tokens` when it carries one, else its output).
fn needs(r: &TraceRequest) -> u64 {
    r.input_tokens as u64 + r.max_tokens.unwrap_or(r.output_tokens).max(r.output_tokens) as u64
}

/// Keeps the first `limit` rows (all without one) that fit `context` tokens, dropping or
/// clipping those that do not as `how` says; with `Error` nothing changes and `first` names the
/// first row that does not fit. Arrival times are kept as they are (a dropped row leaves its
/// gap).
pub fn fit_context(t: &Trace, context: u32, how: OverContext, limit: Option<u64>) -> (Trace, Fitted) {
    let ctx = context as u64;
    let limit = limit.unwrap_or(u64::MAX) as usize;
    let mut fitted = Fitted::default();
    let mut out = Vec::with_capacity(t.requests.len().min(limit));
    for (i, r) in t.requests.iter().enumerate() {
        if out.len() >= limit {
            break;
        }
        if needs(r) <= ctx {
            out.push(r.clone());
            continue;
        }
        fitted.changed += 1;
        fitted.first.get_or_insert(i);
        match how {
            OverContext::Drop => {}
            OverContext::Error => out.push(r.clone()),
            OverContext::Clip => out.push(clip(r, context)),
        }
    }
    let first_at = out.first().map_or(0, |r| r.arrival_ns);
    for r in &mut out {
        r.arrival_ns -= first_at;
    }
    (
        Trace {
            requests: out,
            ..t.clone()
        },
        fitted,
    )
}

/// A row cut to fit `context`: the output (and `max_tokens`) at most context − 1, the prompt
/// what is left, at least 1. Hash ids beyond the clipped prompt's blocks are cut with it.
fn clip(r: &TraceRequest, context: u32) -> TraceRequest {
    let out_cap = context.saturating_sub(1).max(1);
    let output = r.output_tokens.min(out_cap);
    let max_tokens = r.max_tokens.map(|m| m.min(out_cap));
    let room = context.saturating_sub(max_tokens.unwrap_or(output).max(output)).max(1);
    let input = r.input_tokens.min(room);
    let mut c = TraceRequest {
        input_tokens: input,
        output_tokens: output,
        max_tokens,
        ..r.clone()
    };
    if !c.hash_ids.is_empty() && r.input_tokens > 0 {
        let keep = (c.hash_ids.len() as u64 * input as u64).div_ceil(r.input_tokens as u64) as usize;
        c.hash_ids.truncate(keep.max(1));
    }
    c
}

/// The factor dividing every arrival time so that the rows' mean rate, (rows − 1) / (last −
/// first arrival), is `rate_per_s`; None with fewer than two rows or all at one instant.
pub fn scale_for_rate(t: &Trace, rate_per_s: f64) -> Option<f64> {
    let rate = t.mean_rate_per_s();
    (t.requests.len() >= 2 && rate > 0.0).then(|| rate_per_s / rate)
}

/// Every arrival divided by `scale` (rounded to the nanosecond, as replay at `rate_scale` does).
pub fn scaled(t: &Trace, scale: f64) -> Trace {
    Trace {
        requests: t
            .requests
            .iter()
            .map(|r| TraceRequest {
                arrival_ns: (r.arrival_ns as f64 / scale).round() as u64,
                ..r.clone()
            })
            .collect(),
        ..t.clone()
    }
}

#[cfg(test)]
mod tests;
