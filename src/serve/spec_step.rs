//! The replica's side of speculative decoding (`spec.rs` draws and costs): KV slots for the
//! lookahead are claimed before a step and the unused ones given back after it, and each
//! sequence advances by its accepted tokens + 1. O(batch) per decode step.

use super::ReqState;
use super::replica::{Replica, StepOutcome};
use crate::engine::SimTime;

impl Replica {
    /// Speculative decoding: KV slots for γ + 1 tokens per sequence (at most the tokens it has
    /// left) are claimed before the step (what is not accepted is given back after it); the
    /// youngest sequences are preempted while blocks run short. O(batch).
    pub(super) fn reserve_lookahead(&mut self, reqs: &mut [ReqState]) {
        self.kv.clear_lookahead();
        if self.kv.reserves_full_length() {
            return;
        }
        let ahead = self.spec.as_ref().map_or(1, |s| s.gamma as u64 + 1);
        loop {
            let need: u64 = self
                .batch
                .seqs()
                .iter()
                .map(|id| {
                    let r = &reqs[id.index()];
                    let kv = self.batch.ctx_next(r) - 1;
                    // No slots beyond the sequence's max_tokens (its true end is not known yet,
                    // INV-12): a sequence that fits the cache always fits its lookahead.
                    let done = r.progress.generated as u64 + kv - r.progress.prompt_len as u64;
                    let left = (r.max_tokens as u64).saturating_sub(done).max(1);
                    self.kv.blocks_for(kv + ahead.min(left)) - self.kv.blocks_for(kv)
                })
                .sum();
            if self.kv.fits(need, 0) || self.batch.is_empty() {
                self.kv.reserve_lookahead(need);
                return;
            }
            self.preempt_youngest(reqs);
        }
    }

    /// The end of a speculative decode step: each sequence advances by its accepted tokens + 1
    /// (cut at its output length); unused lookahead blocks go back.
    pub(super) fn finish_speculative(&mut self, now: SimTime, reqs: &mut [ReqState], out: &mut StepOutcome) {
        self.batch.record_gaps(now, reqs, out);
        let mut used_lookahead = 0u64;
        let mut extra_tokens = 0u64;
        for i in (0..self.batch.len()).rev() {
            let id = self.batch.seqs()[i];
            let accepted = self.spec.as_mut().map_or(0, |s| s.draw_accepted()) as u64;
            let r = &reqs[id.index()];
            let kv = self.batch.ctx_next(r) - 1;
            let done = r.progress.generated as u64 + (kv - r.progress.prompt_len as u64);
            let remaining = (r.output as u64).saturating_sub(done).max(1);
            let adv = (accepted + 1).min(remaining);
            extra_tokens += adv - 1;
            self.stats.output_tokens += adv;
            if !self.kv.reserves_full_length() {
                used_lookahead += self.kv.blocks_for(kv + adv) - self.kv.blocks_for(kv);
            }
            if adv == remaining {
                self.batch.remove(id, reqs);
                self.complete(id, reqs, kv + adv, out);
                continue;
            }
            self.batch.shift(id, reqs, adv);
        }
        if extra_tokens > 0 {
            out.itl.push((0, extra_tokens.min(u32::MAX as u64) as u32));
        }
        self.kv.settle_lookahead(used_lookahead);
        self.batch.step_counter();
    }
}
