//! Decode bookkeeping without touching every running sequence (DESIGN.md invariant 6). Each
//! sequence's context grows by one token per decode step, so the batch keeps the sum of contexts
//! as a counter, finds finishing sequences in a timing wheel by the step at which they finish, and
//! counts the KV blocks a step needs from a histogram of contexts modulo the block size: a
//! sequence needs a new block exactly when its cached tokens are a multiple of the block size.
//!
//! A sequence records the context it joined with (`ctx_join`) and the step counter then
//! (`step_join`): its next context is ctx_join + (counter − step_join).

use super::replica::StepOutcome;
use super::{ReqState, RequestId};
use crate::engine::SimTime;
use crate::perf::BatchShape;
use std::collections::BTreeMap;

/// Slots of the finishing wheel: a sequence is found in the slot of its finishing step modulo
/// this (a longer output waits there a lap or more).
const WHEEL: usize = 512;

/// When the decoding sequences finish: a hashed timing wheel of (finishing step, request,
/// epoch) entries, in the slot of their step modulo [`WHEEL`]. A step takes the entries due at
/// it from its slot, least (request, epoch) first: the order of a min-heap on (step, request,
/// epoch), in O(1) per entry instead of O(log n).
#[derive(Debug)]
struct FinishWheel {
    /// Allocated at the first entry.
    slots: Vec<Vec<(u64, u32, u32)>>,
    /// The entries of step `due_step` not yet taken, greatest first (taken from the end).
    due: Vec<(u32, u32)>,
    due_step: u64,
}

impl FinishWheel {
    fn new() -> FinishWheel {
        FinishWheel {
            slots: Vec::new(),
            due: Vec::new(),
            due_step: u64::MAX,
        }
    }

    fn push(&mut self, at: u64, id: u32, epoch: u32) {
        if self.slots.is_empty() {
            self.slots = vec![Vec::new(); WHEEL];
        }
        self.slots[at as usize % WHEEL].push((at, id, epoch));
    }

    /// The next entry due at `step`, least (request, epoch) first; None once all are taken.
    fn pop_due(&mut self, step: u64) -> Option<(u32, u32)> {
        if self.due_step != step {
            self.due_step = step;
            self.due.clear();
            if let Some(slot) = self.slots.get_mut(step as usize % WHEEL) {
                let mut i = 0;
                while i < slot.len() {
                    if slot[i].0 == step {
                        let (_, id, epoch) = slot.swap_remove(i);
                        self.due.push((id, epoch));
                    } else {
                        i += 1;
                    }
                }
            }
            self.due.sort_unstable_by(|a, b| b.cmp(a));
        }
        self.due.pop()
    }

    /// Every entry: ((request, epoch), finishing step).
    fn entries(&self) -> impl Iterator<Item = ((u32, u32), u64)> + '_ {
        let waiting = self.slots.iter().flatten().map(|&(at, id, epoch)| ((id, epoch), at));
        waiting.chain(self.due.iter().map(|&e| (e, self.due_step)))
    }
}

#[derive(Debug)]
pub struct DecodeBatch {
    /// The decoding sequences; a sequence's `slot.pos` is its index here.
    seqs: Vec<RequestId>,
    /// When each finishes (decode step, request, epoch).
    finish: FinishWheel,
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
    finish_wheel: bool,
    /// Decoding sequences that run with a LoRA adapter.
    adapter_rows: u32,
}

impl DecodeBatch {
    pub fn new(
        block_tokens: u32,
        track_crossings: bool,
        pads_finished_rows: bool,
        finish_wheel: bool,
        track_longest: bool,
    ) -> DecodeBatch {
        let bt = block_tokens.max(1);
        DecodeBatch {
            seqs: Vec::new(),
            finish: FinishWheel::new(),
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
            finish_wheel,
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
        // A joining sequence has a token left to produce (it would have finished otherwise).
        debug_assert!(r.output > r.progress.generated);
        let finish_at = counter + (r.output - r.progress.generated).max(1) as u64;
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
        if self.finish_wheel {
            self.finish.push(finish_at, id.0, epoch);
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

    /// The next sequence that finished with the step just counted, if any (stale entries of
    /// sequences preempted since are skipped). It is still in the batch.
    pub fn pop_finished(&mut self, reqs: &[ReqState]) -> Option<RequestId> {
        while let Some((raw, epoch)) = self.finish.pop_due(self.counter) {
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
    /// The decode step at which each live finishing entry, keyed by (request, epoch), finishes.
    pub fn finish_steps(&self) -> std::collections::HashMap<(u32, u32), u64> {
        self.finish.entries().collect()
    }

    #[cfg(test)]
    pub fn corrupt(&mut self, ctx_sum: i64, crossing0: i64) {
        self.ctx_sum = self.ctx_sum.wrapping_add_signed(ctx_sum);
        self.crossing[0] = self.crossing[0].wrapping_add_signed(crossing0 as i32);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng, rngs::ChaCha8Rng};
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;

    /// The wheel gives each step's finishing entries in the order a min-heap on (step, request,
    /// epoch) pops them: entries joining at every step, finishing from one step to several laps
    /// of the wheel later, several per step and per request (stale epochs included).
    #[test]
    fn the_finishing_wheel_pops_as_a_min_heap_does() {
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let (mut wheel, mut heap) = (FinishWheel::new(), BinaryHeap::new());
        let mut popped = 0;
        for step in 1..20_000u64 {
            for _ in 0..rng.random_range(0..4) {
                let at = step
                    + match rng.random_range(0..10) {
                        0 => rng.random_range(1..4 * WHEEL as u64),
                        _ => rng.random_range(1..200),
                    };
                let (id, epoch) = (rng.random_range(0..50u32), rng.random_range(0..3u32));
                wheel.push(at, id, epoch);
                heap.push(Reverse((at, id, epoch)));
            }
            // The step counted: everything due now, least first.
            let mut want = Vec::new();
            while let Some(&Reverse((at, id, epoch))) = heap.peek() {
                if at > step {
                    break;
                }
                heap.pop();
                want.push((id, epoch));
            }
            let mut got = Vec::new();
            while let Some(e) = wheel.pop_due(step) {
                got.push(e);
            }
            assert_eq!(got, want, "step {step}");
            popped += got.len();
            assert_eq!(wheel.entries().count(), heap.len());
        }
        assert!(popped > 20_000);
    }
}
