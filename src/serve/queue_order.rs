//! The order of a replica's waiting queue (`serving.queue_order`) and the output-length predictor
//! shortest-job-first reads.
//!
//! The queue is an ordered map keyed by `(key, arrival seq)` (`WaitQueue`: O(1) at its ends,
//! O(log n) or at most 256 moves elsewhere, INV-6); the key is computed once, when a request joins
//! the queue, and kept on the request so a cancelled or preempted request finds its place again.
//! Shortest-job-first ages by folding the wait into the key: a waiting request's effective length
//! is `predicted − aging × wait`, and since every
//! waiting request ages at the same rate, ordering by `predicted − aging × (now − arrival)` is
//! ordering by `arrival + predicted / aging`, a key that never changes while it waits. So a job
//! predicted `ΔL` tokens longer than another goes ahead of every such job arriving more than
//! `ΔL / aging` seconds after it: no stream of short jobs starves a long one forever.
//!
//! No oracle (INV-12): the predictors read what a real scheduler knows, the prompt, the class,
//! the client's `max_tokens`, and the true lengths of requests that have already ended.

use super::replica::Replica;
use super::{Phase, ReqState, RequestId};
use crate::engine::SimTime;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};

/// A waiting request's place: (key, arrival seq).
pub(crate) type QueueKey = (u64, u64);

/// Entries a sorted waiting queue holds before a key out of order turns it into a tree.
const SORTED_MAX: usize = 256;

/// A replica's waiting queue: request ids by [`QueueKey`], least first. While small, or while
/// keys come in order, a sorted `VecDeque`: the FCFS and priority orders key a new request by
/// its arrival, so it joins at the back, and the head leaves first, both in O(1); a key out of
/// order (a preempted request going back, a higher class, shortest-job-first) is placed by binary
/// search. A key out of order into a queue of [`SORTED_MAX`] entries or more turns it into a
/// `BTreeMap` (O(log n) wherever keys land), until it empties. Either way it is the same ordered
/// map, so the order of admission is the same.
#[derive(Debug)]
pub(crate) enum WaitQueue {
    Sorted(VecDeque<(QueueKey, RequestId)>),
    Tree(BTreeMap<QueueKey, RequestId>),
}

impl Default for WaitQueue {
    fn default() -> WaitQueue {
        WaitQueue::Sorted(VecDeque::new())
    }
}

impl WaitQueue {
    pub fn len(&self) -> usize {
        match self {
            WaitQueue::Sorted(q) => q.len(),
            WaitQueue::Tree(t) => t.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Inserts `id` under `key` (replacing the id already there, as a map does).
    pub fn insert(&mut self, key: QueueKey, id: RequestId) {
        match self {
            WaitQueue::Sorted(q) => match q.back() {
                Some(&(last, _)) if last >= key => {
                    let at = q.partition_point(|e| e.0 < key);
                    if q.get(at).is_some_and(|e| e.0 == key) {
                        q[at].1 = id;
                    } else if q.len() >= SORTED_MAX {
                        let mut t: BTreeMap<QueueKey, RequestId> = q.drain(..).collect();
                        t.insert(key, id);
                        *self = WaitQueue::Tree(t);
                    } else {
                        q.insert(at, (key, id));
                    }
                }
                _ => q.push_back((key, id)),
            },
            WaitQueue::Tree(t) => {
                t.insert(key, id);
            }
        }
    }

    /// Removes the entry of `key`, if any.
    pub fn remove(&mut self, key: &QueueKey) -> Option<RequestId> {
        let id = match self {
            WaitQueue::Sorted(q) => {
                let at = match q.front() {
                    Some(e) if e.0 == *key => 0,
                    _ => q.partition_point(|e| e.0 < *key),
                };
                match q.get(at) {
                    Some(e) if e.0 == *key => q.remove(at).map(|e| e.1),
                    _ => None,
                }
            }
            WaitQueue::Tree(t) => t.remove(key),
        };
        self.shrink_when_empty();
        id
    }

    /// Removes the least entry.
    pub fn pop_first(&mut self) -> Option<(QueueKey, RequestId)> {
        let first = match self {
            WaitQueue::Sorted(q) => q.pop_front(),
            WaitQueue::Tree(t) => t.pop_first(),
        };
        self.shrink_when_empty();
        first
    }

    /// The least entry.
    pub fn first(&self) -> Option<(QueueKey, RequestId)> {
        match self {
            WaitQueue::Sorted(q) => q.front().copied(),
            WaitQueue::Tree(t) => t.first_key_value().map(|(&k, &id)| (k, id)),
        }
    }

    /// The ids, least key first.
    pub fn ids(&self) -> impl Iterator<Item = &RequestId> + '_ {
        let (sorted, tree) = match self {
            WaitQueue::Sorted(q) => (Some(q.iter().map(|e| &e.1)), None),
            WaitQueue::Tree(t) => (None, Some(t.values())),
        };
        sorted.into_iter().flatten().chain(tree.into_iter().flatten())
    }

    /// An emptied tree goes back to a sorted queue.
    fn shrink_when_empty(&mut self) {
        if matches!(self, WaitQueue::Tree(t) if t.is_empty()) {
            *self = WaitQueue::default();
        }
    }
}

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
    use rand::{RngExt, SeedableRng, rngs::ChaCha8Rng};

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

    /// The waiting queue is the ordered map it stands for: random inserts (in arrival order,
    /// near the head as a preempted request goes back, anywhere as shortest-job-first puts
    /// them), removals by key and pops of the head give what a `BTreeMap` gives, through
    /// queues that grow past the sorted limit, turn into a tree and empty again.
    #[test]
    fn the_waiting_queue_is_an_ordered_map() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let (mut q, mut m) = (WaitQueue::default(), BTreeMap::new());
        let (mut seq, mut trees) = (0u64, 0);
        for round in 0..40_000u32 {
            // Phases: growth in order, growth out of order, draining.
            let phase = (round / 4_000) % 3;
            let op = rng.random_range(0..10);
            if phase < 2 && op < 6 || m.is_empty() {
                seq += 1;
                let key = match (phase, rng.random_range(0..4)) {
                    (1, _) => (rng.random_range(0..1_000), seq),
                    (_, 0) if seq > 20 => (0, seq - rng.random_range(1..20)),
                    _ => (0, seq),
                };
                let id = RequestId(rng.random_range(0..1_000_000));
                q.insert(key, id);
                m.insert(key, id);
            } else if op < 8 {
                assert_eq!(q.pop_first(), m.pop_first());
            } else {
                let key = match m.keys().nth(rng.random_range(0..m.len().min(50))) {
                    Some(&k) if rng.random_range(0..4) > 0 => k,
                    _ => (rng.random_range(0..1_000), rng.random_range(0..seq + 1)),
                };
                assert_eq!(q.remove(&key), m.remove(&key));
            }
            trees += matches!(q, WaitQueue::Tree(_)) as u32;
            assert_eq!(q.len(), m.len());
            assert_eq!(q.first(), m.first_key_value().map(|(&k, &v)| (k, v)));
            if round % 997 == 0 {
                assert!(q.ids().eq(m.values()));
            }
            if m.is_empty() {
                assert!(matches!(q, WaitQueue::Sorted(_)), "an emptied tree is sorted again");
            }
        }
        assert!(trees > 1_000, "the queue was a tree for {trees} operations");
        assert!(seq > 10_000);
    }
}
