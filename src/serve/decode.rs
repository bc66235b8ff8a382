//! Decode bookkeeping without touching every running sequence (DESIGN.md invariant 6). Each
//! sequence's context grows by one token per decode step, so the batch keeps the sum of contexts
//! as a counter, finds finishing sequences in a heap keyed by the step at which they finish, and
//! counts the KV blocks a step needs from a histogram of contexts modulo the block size: a
//! sequence needs a new block exactly when its cached tokens are a multiple of the block size.
//!
//! A sequence records the context it joined with (`ctx_join`) and the step counter then
//! (`step_join`): its next context is ctx_join + (counter − step_join).

use super::replica::StepOutcome;
use super::{ReqState, RequestId};
use crate::engine::SimTime;
use crate::perf::BatchShape;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

#[derive(Debug)]
pub struct DecodeBatch {
    /// The decoding sequences; a sequence's `slot.pos` is its index here.
    seqs: Vec<RequestId>,
    /// (decode step at which it finishes, request, epoch): min-heap.
    finish: BinaryHeap<Reverse<(u64, u32, u32)>>,
    /// Decode steps completed.
    counter: u64,
    /// Σ of the next decode step's context over decoding sequences (and static padding rows).
    ctx_sum: u64,
    /// Decoding sequences by (ctx_join − 1 − step_join) mod block_tokens.
    crossing: Vec<u32>,
    /// Multiset of ctx_join − step_join: the longest context is its maximum plus `counter`.
    /// Kept only when the cost model reads the longest context (`track_longest`).
    ctx_offsets: BTreeMap<i64, u32>,
    /// The step's longest context is kept: padded token buckets or a contiguous KV layout read
    /// it. A paged layout with exact shapes reads only the contexts' sum, and the multiset's
    /// insertions and removals (one each per sequence) are then saved.
    track_longest: bool,
    /// Static batching: finished rows still padding the batch.
    pad_rows: u32,
    last_decode_end: SimTime,
    /// Sequences that joined decode since the last decode step (their next gap is measured from
    /// their first token, not from the previous decode step).
    fresh: Vec<RequestId>,
    block_tokens: u64,
    /// Block crossings are counted (not when every sequence holds a whole-length reservation).
    track_crossings: bool,
    /// Finished rows keep padding the batch, with their context, until it ends (static batching).
    pads_finished_rows: bool,
    /// Sequences finish at a step known when they join (not with speculative decoding, where
    /// they advance by different amounts).
    finish_heap: bool,
    /// Decoding sequences that run with a LoRA adapter.
    adapter_rows: u32,
}

impl DecodeBatch {
    pub fn new(
        block_tokens: u32,
        track_crossings: bool,
        pads_finished_rows: bool,
        finish_heap: bool,
        track_longest: bool,
    ) -> DecodeBatch {
        let bt = block_tokens.max(1);
        DecodeBatch {
            seqs: Vec::new(),
            finish: BinaryHeap::new(),
            counter: 0,
            ctx_sum: 0,
            crossing: vec![0; bt as usize],
            ctx_offsets: BTreeMap::new(),
            track_longest,
            pad_rows: 0,
            last_decode_end: SimTime::ZERO,
            fresh: Vec::new(),
            block_tokens: block_tokens as u64,
            track_crossings,
            pads_finished_rows,
            finish_heap,
            adapter_rows: 0,
        }
    }

    pub fn seqs(&self) -> &[RequestId] {
        &self.seqs
    }
    pub fn len(&self) -> usize {
        self.seqs.len()
    }
    pub fn is_empty(&self) -> bool {
        self.seqs.is_empty()
    }
    /// Decoding sequences that run with a LoRA adapter.
    pub fn adapter_rows(&self) -> u32 {
        self.adapter_rows
    }
    pub fn last_decode_end(&self) -> SimTime {
        self.last_decode_end
    }

    /// The context of the sequence's next decode step.
    pub fn ctx_next(&self, r: &ReqState) -> u64 {
        r.slot.ctx_join + (self.counter - r.slot.step_join)
    }

    pub fn crossing_key(&self, r: &ReqState) -> usize {
        let b = self.block_tokens;
        ((r.slot.ctx_join - 1 + b - r.slot.step_join % b) % b) as usize
    }

    fn key_now(&self) -> usize {
        let b = self.block_tokens;
        ((b - self.counter % b) % b) as usize
    }

    /// KV blocks the next decode step needs: one per sequence crossing a block boundary.
    pub fn blocks_needed_now(&self) -> u64 {
        self.crossing[self.key_now()] as u64
    }

    /// Adds the next decode step's rows (sequences and padding) to the batch; returns them.
    pub fn add_to(&self, shape: &mut BatchShape) -> u32 {
        let seqs = self.seqs.len() as u32 + self.pad_rows;
        shape.decode_seqs += seqs;
        shape.decode_ctx_tokens += self.ctx_sum;
        if let Some((&off, _)) = self.ctx_offsets.last_key_value() {
            shape.decode_max_ctx = shape.decode_max_ctx.max((off + self.counter as i64) as u64);
        }
        seqs
    }

    pub fn join(&mut self, id: RequestId, reqs: &mut [ReqState]) {
        let counter = self.counter;
        let r = &mut reqs[id.index()];
        r.slot.ctx_join = r.progress.prompt_len as u64 + 1;
        r.slot.step_join = counter;
        r.slot.pos = self.seqs.len() as u32;
        let finish_at = counter + (r.output - r.progress.generated) as u64;
        let (epoch, ctx) = (r.slot.epoch, r.slot.ctx_join);
        self.ctx_sum += ctx;
        if self.track_longest {
            *self.ctx_offsets.entry(ctx as i64 - counter as i64).or_insert(0) += 1;
        }
        let key = self.crossing_key(&reqs[id.index()]);
        if self.track_crossings {
            self.crossing[key] += 1;
        }
        self.seqs.push(id);
        self.adapter_rows += reqs[id.index()].adapter.is_some() as u32;
        if self.finish_heap {
            self.finish.push(Reverse((finish_at, id.0, epoch)));
        }
        self.fresh.push(id);
    }

    /// Takes the sequence out of the batch; returns the context its next step would have had.
    pub fn remove(&mut self, id: RequestId, reqs: &mut [ReqState]) -> u64 {
        let r = &reqs[id.index()];
        let pos = r.slot.pos as usize;
        let ctx = self.ctx_next(r);
        let key = self.crossing_key(r);
        let off = r.slot.ctx_join as i64 - r.slot.step_join as i64;
        self.adapter_rows -= r.adapter.is_some() as u32;
        self.seqs.swap_remove(pos);
        if let Some(&moved) = self.seqs.get(pos) {
            reqs[moved.index()].slot.pos = pos as u32;
        }
        self.ctx_sum -= ctx;
        if self.track_crossings {
            self.crossing[key] -= 1;
        }
        // Static batches keep finished rows (and their context) until the batch ends.
        if !self.pads_finished_rows && self.track_longest {
            remove_offset(&mut self.ctx_offsets, off);
        }
        reqs[id.index()].slot.epoch += 1;
        ctx
    }

    /// A preempted sequence's pending gap is no longer measured.
    pub fn forget_fresh(&mut self, id: RequestId) {
        self.fresh.retain(|&f| f != id);
    }

    /// Inter-token gaps of a decode step ending at `now`: sequences that joined since the last
    /// decode step measure from their last token, the rest share one gap (one entry, weighted).
    pub fn record_gaps(&mut self, now: SimTime, reqs: &[ReqState], out: &mut StepOutcome) {
        let gap_shared = now.since(self.last_decode_end);
        let fresh_n = self.fresh.len() as u32;
        for &f in &self.fresh {
            out.itl.push((now.since(reqs[f.index()].times.last_token), 1));
        }
        self.fresh.clear();
        let shared = self.seqs.len() as u32 - fresh_n;
        if shared > 0 {
            out.itl.push((gap_shared, shared));
        }
        self.last_decode_end = now;
    }

    /// Every row of the step (`rows`, padding included) produced one token.
    pub fn advance(&mut self, rows: u32) {
        self.counter += 1;
        self.ctx_sum += rows as u64;
    }

    /// The next sequence that finished with the steps so far, if any (stale heap entries of
    /// sequences preempted since are skipped). It is still in the batch.
    pub fn pop_finished(&mut self, reqs: &[ReqState]) -> Option<RequestId> {
        while let Some(&Reverse((at, raw, epoch))) = self.finish.peek() {
            if at > self.counter {
                return None;
            }
            self.finish.pop();
            let id = RequestId(raw);
            if reqs[id.index()].slot.epoch == epoch {
                return Some(id);
            }
            // preempted since; a stale entry
        }
        None
    }

    /// Static batching: a finished row (of context `ctx`) keeps padding the batch.
    pub fn pad_finished(&mut self, ctx: u64) {
        if self.pads_finished_rows {
            self.pad_rows += 1;
            self.ctx_sum += ctx;
        }
    }

    /// Static batching: once every row finished, the padded batch ends.
    pub fn end_padded_batch(&mut self) {
        if self.pads_finished_rows && self.seqs.is_empty() {
            self.pad_rows = 0;
            self.ctx_sum = 0;
            self.ctx_offsets.clear();
        }
    }

    /// Static batching: a new batch starts with no padding.
    pub fn start_padded_batch(&mut self) {
        self.pad_rows = 0;
        self.ctx_sum = 0;
    }

    /// Speculative decoding: the sequence advanced by `adv` tokens this step instead of one.
    /// Shifts its join context so that ctx_next grows by `adv` once the counter steps.
    pub fn shift(&mut self, id: RequestId, reqs: &mut [ReqState], adv: u64) {
        let b = self.block_tokens;
        let r = &reqs[id.index()];
        let old_key = self.crossing_key(r);
        let old_off = r.slot.ctx_join as i64 - r.slot.step_join as i64;
        let s = &mut reqs[id.index()].slot;
        s.ctx_join += adv - 1;
        let new_off = old_off + adv as i64 - 1;
        let new_key = ((s.ctx_join - 1 + b - s.step_join % b) % b) as usize;
        if self.track_crossings {
            self.crossing[old_key] -= 1;
            self.crossing[new_key] += 1;
        }
        if self.track_longest {
            remove_offset(&mut self.ctx_offsets, old_off);
            *self.ctx_offsets.entry(new_off).or_insert(0) += 1;
        }
        self.ctx_sum += adv;
    }

    /// The end of a speculative step: the counter steps (each sequence's context already grew
    /// through `shift`).
    pub fn step_counter(&mut self) {
        self.counter += 1;
    }
}

fn remove_offset(offsets: &mut BTreeMap<i64, u32>, off: i64) {
    if let Some(n) = offsets.get_mut(&off) {
        *n -= 1;
        if *n == 0 {
            offsets.remove(&off);
        }
    }
}

/// The audit's view: what the counters claim, recomputed from the sequences.
impl DecodeBatch {
    pub fn pads_finished_rows(&self) -> bool {
        self.pads_finished_rows
    }
    pub fn ctx_sum(&self) -> u64 {
        self.ctx_sum
    }
    pub fn pad_rows(&self) -> u32 {
        self.pad_rows
    }
    pub fn crossing(&self) -> &[u32] {
        &self.crossing
    }
    pub fn ctx_offsets(&self) -> &BTreeMap<i64, u32> {
        &self.ctx_offsets
    }
    /// Whether the multiset of context offsets is kept (see `track_longest`).
    pub fn tracks_longest(&self) -> bool {
        self.track_longest
    }
    /// The decode step at which each live heap entry, keyed by (request, epoch), finishes.
    pub fn finish_steps(&self) -> std::collections::HashMap<(u32, u32), u64> {
        self.finish
            .iter()
            .map(|&Reverse((at, raw, epoch))| ((raw, epoch), at))
            .collect()
    }

    #[cfg(test)]
    pub fn corrupt(&mut self, ctx_sum: i64, crossing0: i64) {
        self.ctx_sum = self.ctx_sum.wrapping_add_signed(ctx_sum);
        self.crossing[0] = self.crossing[0].wrapping_add_signed(crossing0 as i32);
    }
}
