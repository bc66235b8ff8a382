//! Which running sequence is preempted (`serving.preemption_victim`), and preemption of lower
//! classes for a waiting request of a higher one (`serving.priority_preemption`, vLLM v0's
//! priority policy). What happens to the victim's KV (recompute, swap) is `preempt.rs`'s.

use super::replica::Replica;
use super::{ReqState, RequestId};
use serde::{Deserialize, Serialize};

/// Among the running sequences of the lowest class present (highest priority number), which
/// one is preempted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VictimChoice {
    /// The latest arrival (vLLM's choice: the last of its running queue). The default.
    #[default]
    Newest,
    /// The one holding the fewest KV blocks: the cheapest to recompute (latest arrival among
    /// equals).
    FewestBlocks,
    /// The one holding the most KV blocks: frees the most at once (latest arrival among equals).
    MostBlocks,
}

impl Replica {
    /// The decoding sequence to preempt: of the lowest class (highest priority number) present,
    /// or, with `below = Some(p)`, only among classes of priority number above `p`; within that
    /// class by `serving.preemption_victim`. O(batch), as a preemption already is.
    pub(super) fn choose_victim(&self, reqs: &[ReqState], below: Option<u32>) -> Option<RequestId> {
        let seqs = self.batch.seqs().iter().copied();
        let seqs = seqs.filter(|id| below.is_none_or(|p| reqs[id.index()].priority > p));
        if self.cfg.victim == VictimChoice::Newest {
            // The default reads no KV sizes: the same pass as before victim choices existed.
            return seqs.max_by_key(|id| (reqs[id.index()].priority, reqs[id.index()].seq));
        }
        let key = |id: &RequestId| {
            let r = &reqs[id.index()];
            // KV it holds: its context so far (the next step's context less the token to come).
            let blocks = self.kv.blocks_for(self.batch.ctx_next(r) - 1) as i64;
            let by = if self.cfg.victim == VictimChoice::FewestBlocks {
                -blocks
            } else {
                blocks
            };
            (r.priority, by, r.seq)
        };
        seqs.max_by_key(key)
    }

    /// vLLM v0's priority preemption, before the step is filled: while the waiting queue's head
    /// cannot be admitted (no batch slot, or its prompt's KV blocks do not fit above the
    /// watermark) and a sequence of a lower class runs, that sequence is preempted (victim by
    /// `choose_victim`). The step may then admit the head (the preemption does not count as one
    /// that stops admissions).
    pub(super) fn preempt_for_priority(&mut self, reqs: &mut [ReqState]) {
        let Some(head) = self.waiting_front(reqs) else {
            return;
        };
        let (priority, blocks) = (
            reqs[head.index()].priority,
            self.kv.admission_blocks(&reqs[head.index()]),
        );
        loop {
            let room = self.batch_slot_free() && self.kv.fits(blocks, self.watermark());
            if room {
                break;
            }
            let Some(victim) = self.choose_victim(reqs, Some(priority)) else {
                break;
            };
            self.preempt(victim, reqs);
            self.stats.priority_preemptions += 1;
        }
        self.preempted_now = false;
    }

    /// Every swapped-out sequence is of a lower class than the waiting queue's head, which may
    /// then be admitted before they come back (with priority preemption).
    pub(super) fn swapped_below_head(&self, reqs: &[ReqState]) -> bool {
        match (self.swapped.first_key_value(), self.waiting_front(reqs)) {
            (Some((&(p, _), _)), Some(head)) => p > reqs[head.index()].priority,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests;
