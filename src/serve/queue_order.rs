//! The order of a replica's waiting queue (`serving.queue_order`) and the output-length predictor
//! shortest-job-first reads.
//!
//! The queue is a `BTreeMap` keyed by `(key, arrival seq)` (O(log n) insert and pop, INV-6); the
//! key is computed once, when a request joins the queue, and kept on the request so a cancelled
//! or preempted request finds its place again. Shortest-job-first ages by folding the wait into
//! the key: a waiting request's effective length is `predicted − aging × wait`, and since every
//! waiting request ages at the same rate, ordering by `predicted − aging × (now − arrival)` is
//! ordering by `arrival + predicted / aging`, a key that never changes while it waits. So a job
//! predicted `ΔL` tokens longer than another goes ahead of every such job arriving more than
//! `ΔL / aging` seconds after it: no stream of short jobs starves a long one forever.
//!
//! No oracle (INV-12): the predictors read what a real scheduler knows, the prompt, the class,
//! the client's `max_tokens`, and the true lengths of requests that have already ended.

use super::replica::Replica;
use super::{Phase, ReqState};
use crate::engine::SimTime;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How a replica orders its waiting queue.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum QueueOrder {
    /// Class priority (lower number first), then arrival: FCFS with one class. The default.
    #[default]
    Priority,
    /// Arrival only, whatever the class.
    Fcfs,
    /// Shortest predicted output first, aged: key = arrival + predicted tokens × `ns_per_token`.
    SjfPredicted { predictor: Predictor, ns_per_token: f64 },
    /// Shortest prompt first (tokens still to prefill), aged the same way.
    SjfPrompt { ns_per_token: f64 },
}

/// What shortest-job-first takes as a waiting request's output length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Predictor {
    /// The running mean of the true outputs of requests completed on this replica, per class
    /// and prompt-length bucket (powers of two); the request's own `max_tokens` (the prior)
    /// until its bucket has a completion, and never above its `max_tokens`.
    History,
    /// The client's `max_tokens`.
    MaxTokens,
    /// The trace's `predicted_output` column (a user's own predictor), never above
    /// `max_tokens`; a row without one takes its `max_tokens`.
    Trace,
}

/// Completed outputs per (class, prompt-length bucket): (sum of true outputs, count).
#[derive(Debug, Default)]
pub struct OutputHistory {
    sums: BTreeMap<(u16, u8), (u64, u64)>,
}

/// A prompt's bucket: its bit length (1 token → 1, 2..3 → 2, 4..7 → 3, 256..511 → 9, …).
fn bucket(input: u32) -> u8 {
    (u32::BITS - input.leading_zeros()) as u8
}

impl OutputHistory {
    /// The predicted output of a request of `class` with an `input`-token prompt and
    /// `max_tokens`: its bucket's rounded mean, at most `max_tokens`; `max_tokens` before any
    /// completion in its bucket.
    pub fn predict(&self, class: u16, input: u32, max_tokens: u32) -> u64 {
        match self.sums.get(&(class, bucket(input))) {
            Some(&(sum, n)) if n > 0 => ((sum + n / 2) / n).min(max_tokens as u64),
            _ => max_tokens as u64,
        }
    }

    /// A request ended: its true length is known now and may be learnt.
    pub fn learn(&mut self, class: u16, input: u32, output: u32) {
        let e = self.sums.entry((class, bucket(input))).or_insert((0, 0));
        e.0 += output as u64;
        e.1 += 1;
    }
}

/// `arrival + tokens × ns_per_token`, saturating (a float cast to u64 saturates).
fn aged(arrival: SimTime, tokens: u64, ns_per_token: f64) -> u64 {
    arrival.0.saturating_add((tokens as f64 * ns_per_token).round() as u64)
}

impl QueueOrder {
    /// The history a replica keeps for this order (only the `history` predictor learns).
    pub fn history(self) -> Option<OutputHistory> {
        matches!(
            self,
            QueueOrder::SjfPredicted {
                predictor: Predictor::History,
                ..
            }
        )
        .then(OutputHistory::default)
    }
}

impl Replica {
    /// The waiting-queue key of a request joining the queue now.
    pub(super) fn queue_key(&self, r: &ReqState) -> (u64, u64) {
        match self.cfg.order {
            QueueOrder::Priority => (r.priority as u64, r.seq),
            QueueOrder::Fcfs => (0, r.seq),
            QueueOrder::SjfPredicted {
                predictor,
                ns_per_token,
            } => {
                let predicted = match (predictor, self.history.as_ref()) {
                    (Predictor::History, Some(h)) => h.predict(r.class, r.input, r.max_tokens),
                    (Predictor::Trace, _) => r.predicted_output.unwrap_or(r.max_tokens).min(r.max_tokens) as u64,
                    _ => r.max_tokens as u64,
                };
                (aged(r.arrival, predicted, ns_per_token), r.seq)
            }
            QueueOrder::SjfPrompt { ns_per_token } => (aged(r.arrival, r.input as u64, ns_per_token), r.seq),
        }
    }

    /// Puts a request into the waiting queue under its key (new, or back after a preemption by
    /// recompute: it keeps the key it had, so it goes back where its arrival and prediction put
    /// it, ahead of every later request with the FCFS and priority orders).
    pub(super) fn insert_waiting(&mut self, id: super::RequestId, r: &mut ReqState) {
        if r.queue_key.is_none() {
            r.queue_key = Some(self.queue_key(r));
        }
        self.waiting.insert(r.queue_key.unwrap_or_default(), id);
    }

    /// A request ended here with its true output length: the `history` predictor learns it.
    pub(super) fn learn_output(&mut self, r: &ReqState) {
        if let Some(h) = self.history.as_mut() {
            debug_assert_eq!(r.phase, Phase::Done, "a true length is read only once it ended");
            h.learn(r.class, r.input, r.output);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Prompt buckets are bit lengths; the mean is rounded and never above max_tokens.
    #[test]
    fn history_predicts_the_bucket_mean_capped_by_max_tokens() {
        assert_eq!(
            (bucket(1), bucket(3), bucket(4), bucket(300), bucket(511), bucket(512)),
            (1, 2, 3, 9, 9, 10)
        );
        let mut h = OutputHistory::default();
        // Prior: the request's own max_tokens.
        assert_eq!(h.predict(0, 300, 400), 400);
        // Outputs 100 and 151 in bucket 9 (256..511): mean 125.5, rounded 126.
        h.learn(0, 300, 100);
        h.learn(0, 400, 151);
        assert_eq!(h.predict(0, 260, 400), 126);
        assert_eq!(h.predict(0, 260, 50), 50);
        // Another class or bucket still has its prior.
        assert_eq!(h.predict(1, 300, 400), 400);
        assert_eq!(h.predict(0, 600, 400), 400);
    }

    /// Aging bound, by hand: aging 100 tokens/s = 10 ms per token. A long job (predicted 1,000
    /// tokens) arrives at t = 0: key 0 + 1,000 × 10 ms = 10 s. Short jobs (10 tokens) arrive
    /// every 10 ms from t = 0: the i-th's key is 0.01·i + 0.1 s, below 10 s for i < 990 and
    /// equal at i = 990 (arrival ties go to the earlier request). So exactly 990 short jobs go
    /// ahead of the long one, however many more arrive: it waits for at most those.
    #[test]
    fn aging_bounds_how_many_short_jobs_pass_a_long_one() {
        let ns_per_token = 1e9 / 100.0;
        let long = aged(SimTime::ZERO, 1000, ns_per_token);
        let ahead = (0..5000u64)
            .filter(|&i| (aged(SimTime(i * 10_000_000), 10, ns_per_token), i + 1) < (long, 0))
            .count();
        assert_eq!(long, 10_000_000_000);
        assert_eq!(ahead, 990);
    }
}
