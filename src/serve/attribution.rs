//! The replica's side of latency attribution (`metrics::attribution` names the parts): each
//! request keeps a ledger of closed parts and one open segment (front end, queue, prefill,
//! decode, preempted, KV transfer) that is closed, whole, into parts at each transition, so the
//! parts add up exactly to the time since arrival. O(1) per transition and per prompt chunk,
//! nothing per decode row (INV-6):
//!
//! - a queued request's wait is split by reason with per-replica running totals of the time the
//!   queue spent blocked for each reason (updated when a step is planned), read at entry and at
//!   exit; a request that arrives while a step runs waits for its end first (`queue_step`) and
//!   enters the totals at the next plan;
//! - a decoding sequence's decode share is the difference of a running total of the decode
//!   rows' share of each step, read when it joins and when it leaves.

use super::replica::Replica;
use super::{ReqState, RequestId};
use crate::engine::SimTime;
use crate::metrics::attribution::{Part, Parts, QUEUE_REASONS, QueueReason};

/// The open segment of a request's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Segment {
    /// Not routed yet (the ledger starts when the request reaches a replica).
    #[default]
    Front,
    /// Queued, arrived during a step: waits for the next plan.
    QueueFresh,
    /// Queued, in the replica's reason totals since `q_snap`.
    Queue,
    Prefill,
    Decode,
    Preempted,
    Transfer,
    Done,
}

/// A request's attribution so far.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ledger {
    pub parts: Parts,
    /// The parts when the first token reached the user.
    pub ttft: Parts,
    /// Start of the open segment.
    pub mark: SimTime,
    pub seg: Segment,
    /// Prefill segment: its chunks' share of steps so far, and its prefix fetches.
    own_ns: u64,
    fetch_ns: u64,
    /// Decode segment: the replica's decode total when it joined.
    decode_snap: u64,
    /// Queue segment: the replica's reason totals when it entered them.
    q_snap: [u64; QUEUE_REASONS],
}

impl Ledger {
    /// A request that reached its replica at `routed`, `network_ns` of its way spent on the
    /// network, `encode_ns` on the encode pool and the rest of it since `arrival` on the
    /// front-end path.
    pub fn routed(&mut self, arrival: SimTime, routed: SimTime, network_ns: u64, encode_ns: u64) {
        let path = routed.since(arrival);
        let net = network_ns.min(path);
        let encode = encode_ns.min(path - net);
        self.parts.add(Part::Network, net);
        self.parts.add(Part::Frontend, path - net - encode);
        if encode > 0 {
            self.parts.add(Part::Encode, encode);
        }
        self.mark = routed;
        self.seg = Segment::QueueFresh;
    }

    /// Closes the open segment at `now` into parts; the replica's totals read the queue and
    /// decode segments.
    fn close(&mut self, now: SimTime, clock: &AttrClock) {
        let len = now.since(self.mark);
        match self.seg {
            // A replica driven without the simulation's routing (unit tests) starts here.
            Segment::Front => self.parts.add(Part::Frontend, len),
            // Nothing happens to a finished request; were it to, the audit would see the sum.
            Segment::Done => {}
            Segment::QueueFresh => self.parts.add(Part::QueueStep, len),
            Segment::Queue => {
                let mut left = len;
                for (i, reason) in [
                    QueueReason::Slot,
                    QueueReason::Kv,
                    QueueReason::Budget,
                    QueueReason::Admission,
                ]
                .into_iter()
                .enumerate()
                {
                    let ns = (clock.q_cum[i] - self.q_snap[i]).min(left);
                    self.parts.add(Part::queue(reason), ns);
                    left -= ns;
                }
                // The totals cover every plan since entry; nothing is left unless a plan was
                // skipped, which the totals would then miss as admission time.
                self.parts.add(Part::QueueAdmission, left);
            }
            Segment::Prefill => {
                let fetch = self.fetch_ns.min(len);
                let own = self.own_ns.min(len - fetch);
                self.parts.add(Part::Fetch, fetch);
                self.parts.add(Part::Prefill, own);
                self.parts.add(Part::OtherWork, len - fetch - own);
            }
            Segment::Decode => {
                let decode = (clock.decode_cum - self.decode_snap).min(len);
                self.parts.add(Part::Decode, decode);
                self.parts.add(Part::OtherWork, len - decode);
            }
            Segment::Preempted => self.parts.add(Part::Preempt, len),
            Segment::Transfer => self.parts.add(Part::KvTransfer, len),
        }
        self.mark = now;
        self.own_ns = 0;
        self.fetch_ns = 0;
    }

    /// Closes the open segment and opens `seg` at `now`.
    pub(super) fn enter(&mut self, now: SimTime, seg: Segment, clock: &AttrClock) {
        self.close(now, clock);
        self.seg = seg;
        match seg {
            Segment::Queue => self.q_snap = clock.q_cum,
            Segment::Decode => self.decode_snap = clock.decode_cum,
            _ => {}
        }
    }

    /// The first token reached the user at `now` (the open segment closes there).
    pub(super) fn first_token(&mut self, now: SimTime, clock: &AttrClock) {
        let seg = self.seg;
        self.enter(now, seg, clock);
        self.ttft = self.parts;
    }

    /// The KV cache arrived at its decode replica at `now`: the transfer ends and, with it, the
    /// time to first token.
    pub fn kv_arrived(&mut self, now: SimTime) {
        let len = now.since(self.mark);
        self.parts.add(Part::KvTransfer, len);
        self.mark = now;
        self.ttft = self.parts;
        self.seg = Segment::QueueFresh;
    }

    /// The request is admitted to a prefill at `now`; a preempted one stays preempted until it
    /// is back where it was.
    pub(super) fn admitted(&mut self, now: SimTime, clock: &AttrClock) {
        if self.seg != Segment::Preempted {
            self.enter(now, Segment::Prefill, clock);
        }
    }

    pub(super) fn chunk_share(&mut self, ns: u64) {
        self.own_ns += ns;
    }
    pub(super) fn fetched(&mut self, ns: u64) {
        self.fetch_ns += ns;
    }
}

/// A replica's running totals for attribution.
#[derive(Debug, Clone, Default)]
pub struct AttrClock {
    /// Time the waiting queue spent blocked for each reason, up to the last plan.
    q_cum: [u64; QUEUE_REASONS],
    q_reason: QueueReason,
    q_since: SimTime,
    /// Requests queued since the last plan (they wait for it first).
    fresh: Vec<RequestId>,
    /// Σ of the decode rows' share of each step.
    decode_cum: u64,
}

impl Replica {
    /// A request joined one of this replica's queues at `now` (waiting, or arrived KV).
    pub(super) fn attr_queued(&mut self, id: RequestId) {
        self.attr.fresh.push(id);
    }

    /// A step is being planned at `now`: the queue's blocked time since the last plan goes to
    /// its reason, and requests that arrived meanwhile enter the totals.
    pub(super) fn attr_plan(&mut self, now: SimTime, reqs: &mut [ReqState]) {
        let c = &mut self.attr;
        c.q_cum[c.q_reason.index()] += now.since(c.q_since);
        c.q_since = now;
        let c = &self.attr;
        for &id in &c.fresh {
            let l = &mut reqs[id.index()].ledger;
            if l.seg == Segment::QueueFresh {
                l.enter(now, Segment::Queue, c);
            }
        }
        self.attr.fresh.clear();
    }

    /// Why the queue waits after this plan (read when the queue is not empty).
    pub(super) fn attr_blocked(&mut self, reason: QueueReason) {
        self.attr.q_reason = reason;
    }

    /// The step that ends at `now` ran `duration` ns: its prompt chunks get their share of it by
    /// tokens, and the decode rows theirs.
    pub(super) fn attr_step_end(&mut self, now: SimTime, reqs: &mut [ReqState]) {
        let duration = now.since(self.plan.start);
        // No libm call on the common path: most steps block on no copy.
        let extra = if self.plan.extra_ns > 0.0 {
            (self.plan.extra_ns.round() as u64).min(duration)
        } else {
            0
        };
        let work = duration - extra;
        let tokens = self.plan.tokens.max(1);
        let share = |t: u64| match work.checked_mul(t) {
            Some(p) => (p / tokens).min(work),
            None => (work as u128 * t as u128 / tokens as u128).min(work as u128) as u64,
        };
        self.attr.decode_cum += if self.plan.decode_rows >= tokens {
            work
        } else {
            share(self.plan.decode_rows)
        };
        for &(id, chunk) in &self.plan.chunks {
            reqs[id.index()].ledger.chunk_share(share(chunk as u64));
        }
    }
}

impl Replica {
    /// Why the head of the queue was not admitted by the step just planned (`shape`).
    pub(super) fn blocked_reason(
        &self,
        reqs: &[ReqState],
        shape: &crate::perf::BatchShape,
        admit_new: bool,
    ) -> QueueReason {
        use super::SchedulerKind;
        let max_batch = self.cfg.max_batch as usize;
        if self.waiting.is_empty() {
            // Arrived KV caches wait for a slot or for blocks.
            let in_batch = self.batch.len() + self.prefilling.len();
            return if in_batch >= max_batch {
                QueueReason::Slot
            } else {
                QueueReason::Kv
            };
        }
        match self.cfg.kind {
            SchedulerKind::Static => {
                if shape.prefill_seqs == 0 && shape.decode_seqs > 0 {
                    QueueReason::Admission
                } else if shape.prefill_seqs as usize >= max_batch {
                    QueueReason::Slot
                } else {
                    QueueReason::Kv
                }
            }
            kind => {
                let continuous = kind == SchedulerKind::Continuous;
                // Prompts finished by this step join the batch when it ends.
                let admitted_now = self.plan.prefill_done.len();
                let budget = self.cfg.max_batched_tokens as u64;
                let head_need = self.waiting_front(reqs).map_or(0, |id| {
                    let p = &reqs[id.index()].progress;
                    (p.prompt_len - p.prefilled) as u64
                });
                let over_budget = if continuous {
                    shape.prefill_seqs > 0 && shape.prefill_tokens + head_need > budget
                } else {
                    shape.tokens() >= budget
                };
                if !admit_new || self.preempted_now {
                    QueueReason::Admission
                } else if self.batch.len() + self.prefilling.len() + admitted_now >= max_batch {
                    QueueReason::Slot
                } else if over_budget {
                    QueueReason::Budget
                } else {
                    QueueReason::Kv
                }
            }
        }
    }
}
