//! Preemption: when KV blocks run out, a running sequence gives its blocks up, by recompute
//! (vLLM's default: drop the KV, prefill prompt + generated tokens again later) or by swap (copy
//! the KV to host memory and back); and the resumption of swapped-out sequences and of sequences
//! whose KV arrived from a prefill replica.

use super::attribution::Segment;
use super::replica::Replica;
use super::{Phase, PreemptionMode, ReqState};

impl Replica {
    /// Resumes swapped-out sequences (swap-in over the host link) and admits sequences whose KV
    /// arrived from a prefill replica, while blocks and batch slots last.
    pub(super) fn resume(&mut self, reqs: &mut [ReqState]) {
        while let Some((_, &id)) = self.swapped.first_key_value() {
            if !self.batch_slot_free() {
                return;
            }
            let cached = reqs[id.index()].progress.prompt_len as u64;
            let fixed = reqs[id.index()].kv_fixed_blocks as u64;
            let blocks = self.kv.blocks_for(cached) + fixed;
            if !self.kv.fits(blocks, self.watermark()) {
                return;
            }
            if self
                .lora
                .as_ref()
                .is_some_and(|l| !l.admissible(reqs[id.index()].adapter))
            {
                return;
            }
            self.swapped.pop_first();
            self.kv.claim(blocks);
            self.acquire_adapter(id, reqs);
            if !(self.tiers.is_some() && self.unpark_resumed(id)) {
                let bytes = self.swap.bytes_for(cached + fixed * self.cfg.block_tokens as u64);
                self.swap.swap_in(bytes);
                self.swap_copy(bytes);
            }
            self.join_decode(id, reqs, self.plan.start);
        }
        while let Some(&id) = self.incoming.front() {
            if !self.batch_slot_free() {
                return;
            }
            let blocks = self.kv.admission_blocks(&reqs[id.index()]);
            if !self.kv.fits(blocks, self.watermark()) {
                return;
            }
            self.incoming.pop_front();
            self.kv.claim(blocks);
            reqs[id.index()].progress.blocks = blocks as u32;
            self.join_decode(id, reqs, self.plan.start);
        }
    }

    /// A copy over the host link: it blocks the step being planned.
    pub(super) fn swap_copy(&mut self, bytes: f64) {
        let ns = self.swap.copy_ns(bytes);
        self.plan.extra_ns += ns;
        self.stats.swap_bytes += bytes;
        self.stats.swap_ns += ns;
    }

    /// Preempts a running sequence of the lowest priority, chosen by `serving.preemption_victim`
    /// (`victim.rs`; default the youngest).
    pub(super) fn preempt_youngest(&mut self, reqs: &mut [ReqState]) {
        if let Some(victim) = self.choose_victim(reqs, None) {
            self.preempt(victim, reqs);
        }
    }

    /// Preempts `victim`. By recompute (vLLM's default) it frees its KV and goes back to the
    /// queue to prefill prompt + generated tokens again; by swap its KV is copied to host memory
    /// (the copy blocks this step) and comes back over the host link before any new prompt is
    /// admitted.
    pub(super) fn preempt(&mut self, victim: super::RequestId, reqs: &mut [ReqState]) {
        let ctx = self.batch.remove(victim, reqs);
        let cached = ctx - 1;
        let fixed = reqs[victim.index()].kv_fixed_blocks as u64;
        self.kv.give_back(self.kv.blocks_for(cached) + fixed);
        self.unpin_prefix(victim, reqs);
        self.release_adapter(victim, reqs);
        self.batch.forget_fresh(victim);
        let last_decode_end = self.batch.last_decode_end();
        let r = &mut reqs[victim.index()];
        r.ledger.enter(self.plan.start, Segment::Preempted, &self.attr);
        // Tokens decoded since the sequence joined: the KV beyond its (re)prefilled prompt.
        r.progress.generated += (cached - r.progress.prompt_len as u64) as u32;
        r.times.last_token = r.times.last_token.max(last_decode_end);
        r.progress.preemptions += 1;
        self.stats.preemptions += 1;
        self.preempted_now = true;
        // The window KV and the state travel with the growing KV.
        let bytes = self.swap.bytes_for(cached + fixed * self.cfg.block_tokens as u64);
        let key = (r.priority, r.seq);
        let p = &mut r.progress;
        let swap = self.cfg.preemption == PreemptionMode::Swap && self.swap.has_room(bytes);
        // Or parked in a KV offload tier (`kv_tiers.rs`), the write blocking this step.
        if swap || (self.tiers.is_some() && self.park_preempted(victim, bytes)) {
            p.prompt_len = cached as u32;
            p.prefilled = p.prompt_len;
            r.phase = Phase::Swapped;
            if swap {
                self.swap.swap_out(bytes);
                self.swap_copy(bytes);
            }
            self.swapped.insert(key, victim);
        } else {
            p.prompt_len = r.input + p.generated;
            p.prefilled = 0;
            p.blocks = 0;
            p.recomputing = true;
            r.phase = Phase::Queued;
            self.insert_waiting(victim, r);
        }
    }
}
