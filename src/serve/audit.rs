//! The invariant audit (`RunOptions::audit`): recomputes from the running sequences what the
//! O(1) counters claim. O(running sequences + finishing wheel) per call, for tests and debugging;
//! nothing calls it when the audit is off.

use super::replica::Replica;
use super::{Phase, ReqState, RequestId};
use std::collections::BTreeMap;

/// The decode batch's counters, recomputed from its sequences.
struct Recount {
    blocks: u64,
    ctx_sum: u64,
    crossing: Vec<u32>,
    offsets: BTreeMap<i64, u32>,
}

impl Replica {
    /// Checks KV blocks (never beyond the cache; equal to the blocks the running sequences hold),
    /// the context sum, the block-crossing histogram, the context offsets, the finishing wheel,
    /// batch positions, each queue's phase, outstanding counts and prefix-cache pins. Between a
    /// step's plan and its end (`is_busy`), the step's prompts and its decode tokens' blocks are
    /// held as well.
    pub fn audit(&self, reqs: &[ReqState]) -> Result<(), String> {
        self.audit_running(reqs)
            .map_err(|what| format!("replica {}: {what}", self.id.0))
    }

    /// The prompts of the step in flight (they have left every queue).
    fn in_flight(&self) -> &[RequestId] {
        if self.busy { &self.plan.prefill_done } else { &[] }
    }

    fn audit_running(&self, reqs: &[ReqState]) -> Result<(), String> {
        if self.kv.used() > self.kv.total() {
            return Err(format!("{} KV blocks used of {}", self.kv.used(), self.kv.total()));
        }
        let mut recount = self.recount_decoding(reqs)?;
        recount.blocks += self.prefilling_blocks(reqs)?;
        if recount.blocks != self.kv.used() {
            return Err(format!(
                "used_blocks = {} but the running sequences hold {}",
                self.kv.used(),
                recount.blocks
            ));
        }
        self.check_decode_counters(&recount)?;
        self.check_kv_reads()?;
        self.check_queues(reqs)?;
        if let Some(t) = &self.tiers {
            t.audit()?;
        }
        self.check_prefix_pins(reqs)
    }

    /// Recounts blocks, contexts, crossings and offsets from the decoding sequences, checking
    /// their positions, their progress and their finishing-wheel entries on the way.
    fn recount_decoding(&self, reqs: &[ReqState]) -> Result<Recount, String> {
        // A planned decode step has claimed the block of the token it is producing.
        let decoding_now = u64::from(self.busy && self.plan.decode_seqs > 0 && self.spec.is_none());
        let batch = &self.batch;
        let mut n = Recount {
            blocks: self.kv.spec_reserved(),
            ctx_sum: 0,
            crossing: vec![0u32; self.cfg.block_tokens as usize],
            offsets: BTreeMap::new(),
        };
        let live = batch.finish_steps();
        for (i, &id) in batch.seqs().iter().enumerate() {
            let r = &reqs[id.index()];
            if r.slot.pos as usize != i || r.replica != self.id {
                return Err(format!(
                    "decoding request {} at position {i} says pos {} on replica {}",
                    r.seq, r.slot.pos, r.replica.0
                ));
            }
            let ctx = batch.ctx_next(r);
            n.ctx_sum += ctx;
            *n.offsets
                .entry(r.slot.ctx_join as i64 - r.slot.step_join as i64)
                .or_insert(0) += 1;
            if self.kv.reserves_full_length() {
                n.blocks += r.progress.blocks as u64;
            } else {
                n.blocks += self.kv.blocks_for(ctx - 1 + decoding_now) + r.kv_fixed_blocks as u64;
                n.crossing[batch.crossing_key(r)] += 1;
            }
            let kv = ctx - 1;
            let done = r.progress.generated as u64 + (kv - r.progress.prompt_len as u64);
            if done >= r.output as u64 {
                return Err(format!(
                    "request {} still decoding with {done} of {} tokens produced",
                    r.seq, r.output
                ));
            }
            if self.spec.is_none() {
                let finish_at = r.slot.step_join + (r.output - r.progress.generated) as u64;
                if live.get(&(id.0, r.slot.epoch)) != Some(&finish_at) {
                    return Err(format!(
                        "request {} (epoch {}) should finish at decode step {finish_at}, the heap has {:?}",
                        r.seq,
                        r.slot.epoch,
                        live.get(&(id.0, r.slot.epoch))
                    ));
                }
            }
        }
        Ok(n)
    }

    /// Physics: the next decode step's rows, as the cost model's KV layout reads them, never read
    /// more KV bytes per rank than the rank's KV budget holds.
    fn check_kv_reads(&self) -> Result<(), String> {
        let mut shape = crate::perf::BatchShape::default();
        self.batch.add_to(&mut shape);
        self.perf.check_kv_reads(&shape)
    }

    /// Blocks held by prompts being prefilled (and those of the step in flight).
    fn prefilling_blocks(&self, reqs: &[ReqState]) -> Result<u64, String> {
        let in_flight = self.in_flight();
        let mut blocks = 0;
        for &id in self.prefilling.iter().chain(in_flight) {
            let r = &reqs[id.index()];
            let p = &r.progress;
            blocks += p.blocks as u64;
            if !self.kv.reserves_full_length()
                && !in_flight.contains(&id)
                && p.blocks as u64 != self.kv.blocks_for(p.prefilled as u64) + r.kv_fixed_blocks as u64
            {
                return Err(format!(
                    "request {} holds {} blocks for {} prefilled tokens",
                    r.seq, p.blocks, p.prefilled
                ));
            }
        }
        Ok(blocks)
    }

    fn check_decode_counters(&self, n: &Recount) -> Result<(), String> {
        let batch = &self.batch;
        if batch.pads_finished_rows() {
            // Finished rows keep padding the batch (and its context) until it ends.
            if n.ctx_sum > batch.ctx_sum() || (batch.pad_rows() == 0 && n.ctx_sum != batch.ctx_sum()) {
                return Err(format!(
                    "ctx_sum = {} with {} padding rows, sequences sum to {}",
                    batch.ctx_sum(),
                    batch.pad_rows(),
                    n.ctx_sum
                ));
            }
            // The multiset is kept only where the cost model reads the longest context.
            if batch.tracks_longest()
                && let Some((off, k)) = n
                    .offsets
                    .iter()
                    .find(|(o, k)| batch.ctx_offsets().get(o).is_none_or(|m| m < k))
            {
                return Err(format!("context offset {off} (×{k}) missing from the multiset"));
            }
        } else {
            if n.ctx_sum != batch.ctx_sum() {
                return Err(format!(
                    "ctx_sum = {} but the decoding sequences sum to {}",
                    batch.ctx_sum(),
                    n.ctx_sum
                ));
            }
            if batch.tracks_longest() && &n.offsets != batch.ctx_offsets() {
                return Err(format!(
                    "context offsets {:?}, recomputed {:?}",
                    batch.ctx_offsets(),
                    n.offsets
                ));
            }
        }
        if n.crossing != batch.crossing() {
            return Err(format!(
                "block-crossing histogram {:?}, recomputed {:?}",
                batch.crossing(),
                n.crossing
            ));
        }
        Ok(())
    }

    /// Every queued or running request is in the phase of its queue, and counted as outstanding.
    fn check_queues(&self, reqs: &[ReqState]) -> Result<(), String> {
        let mut held = 0;
        held += in_phase(reqs, "waiting", Phase::Queued, self.waiting.ids())?;
        held += in_phase(reqs, "swapped", Phase::Swapped, self.swapped.values())?;
        held += in_phase(reqs, "incoming", Phase::Transferring, &self.incoming)?;
        held += in_phase(reqs, "prefilling", Phase::Prefilling, &self.prefilling)?;
        held += in_phase(reqs, "in-flight prefill", Phase::Prefilling, self.in_flight())?;
        held += in_phase(reqs, "decoding", Phase::Decoding, self.batch.seqs())?;
        // Requests whose KV is still on its way here count as outstanding but sit in no queue.
        if (self.outstanding_requests as usize) < held {
            return Err(format!(
                "{} outstanding requests but {held} in queues and batch",
                self.outstanding_requests
            ));
        }
        Ok(())
    }

    /// Queued requests pin nothing; running ones pin their prompt's blocks, and nothing else is.
    fn check_prefix_pins(&self, reqs: &[ReqState]) -> Result<(), String> {
        let Some(c) = &self.prefix else {
            return Ok(());
        };
        let in_flight = self.in_flight();
        let mut queued = self.waiting.ids().chain(self.swapped.values()).chain(&self.incoming);
        if let Some(&id) = queued.find(|id| reqs[id.index()].cache.pinned) {
            return Err(format!(
                "request {} pins prefix-cache blocks while not running",
                reqs[id.index()].seq
            ));
        }
        let running = self.prefilling.iter().chain(in_flight).chain(self.batch.seqs());
        let pins: u64 = running
            .map(|id| &reqs[id.index()])
            .filter(|r| r.cache.pinned)
            .map(|r| r.cache.hashes.as_ref().map_or(0, |b| b.len() as u64))
            .sum();
        if c.pinned_blocks() != pins {
            return Err(format!(
                "prefix cache holds {} pins, running requests pin {pins} blocks",
                c.pinned_blocks()
            ));
        }
        Ok(())
    }

    /// At the end of a run: nothing queued, running or held (KV blocks, host swap space,
    /// prefix-cache pins, outstanding counts).
    pub fn audit_drained(&self) -> Result<(), String> {
        let fail = |what: String| Err(format!("replica {} at the end: {what}", self.id.0));
        if self.busy || self.queue_len() > 0 || self.running() > 0 {
            return fail(format!(
                "busy {}, {} queued, {} running",
                self.busy,
                self.queue_len(),
                self.running()
            ));
        }
        if self.kv.used() != 0 || self.kv.spec_reserved() != 0 {
            return fail(format!(
                "{} KV blocks still used ({} speculative)",
                self.kv.used(),
                self.kv.spec_reserved()
            ));
        }
        if self.outstanding_requests != 0 || self.outstanding_tokens != 0 {
            return fail(format!(
                "{} requests / {} tokens still outstanding",
                self.outstanding_requests, self.outstanding_tokens
            ));
        }
        // Less than one token's KV left in host swap space (float sums of equal byte counts).
        if self.swap.used_bytes() > self.swap.bytes_per_token.max(1.0) {
            return fail(format!("{} bytes still swapped out", self.swap.used_bytes()));
        }
        if let Some(c) = self.prefix.as_ref().filter(|c| c.pinned_blocks() > 0) {
            return fail(format!("{} prefix-cache blocks still pinned", c.pinned_blocks()));
        }
        if let Some(t) = self.tiers.as_ref().filter(|t| t.parked() > 0) {
            return fail(format!("{} sequences still parked in KV offload tiers", t.parked()));
        }
        Ok(())
    }
}

/// Checks that the requests of one queue are in its phase; returns how many there are.
fn in_phase<'a>(
    reqs: &[ReqState],
    queue: &str,
    phase: Phase,
    ids: impl IntoIterator<Item = &'a RequestId>,
) -> Result<usize, String> {
    let mut n = 0;
    for id in ids {
        let r = &reqs[id.index()];
        if r.phase != phase {
            return Err(format!("request {} in the {queue} queue is {:?}", r.seq, r.phase));
        }
        n += 1;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtype::Dtype;
    use crate::engine::SimTime;
    use crate::serve::replica::{ReplicaSpec, StepOutcome};
    use crate::serve::{KvAdmission, PreemptionMode, ReplicaId, SchedulerConfig, SchedulerKind};
    use std::sync::Arc;

    fn replica(kind: SchedulerKind) -> Replica {
        let perf = crate::perf::tests::perf("p5.48xlarge", "llama-3.2-1b", 1, Dtype::Bf16);
        let cfg = SchedulerConfig {
            kind,
            max_batch: 8,
            max_batched_tokens: 64,
            block_tokens: 16,
            kv_admission: KvAdmission::Optimistic,
            preemption: PreemptionMode::Recompute,
            max_queue: None,
            order: crate::serve::QueueOrder::Priority,
            victim: crate::serve::VictimChoice::Newest,
            priority_preemption: false,
        };
        let spec = ReplicaSpec::new(cfg, &perf, 32_768);
        Replica::new(ReplicaId(0), Arc::new(perf), spec)
    }

    /// The audit recomputes what the counters claim, so corrupting any counter is caught, while
    /// or between steps; a replica that ran its requests to the end passes the drained check.
    #[test]
    fn audit_catches_corrupted_counters_and_passes_a_clean_run() {
        for kind in [SchedulerKind::Continuous, SchedulerKind::Chunked, SchedulerKind::Static] {
            let mut r = replica(kind);
            let mut reqs: Vec<ReqState> = (0..3)
                .map(|i| ReqState::new(i, SimTime::ZERO, 40 + 30 * i as u32, 5, None))
                .collect();
            for i in 0..3 {
                r.enqueue(RequestId(i), &mut reqs[i as usize]);
            }
            let mut out = StepOutcome::default();
            let mut now = SimTime::ZERO;
            let mut audited_decoding = false;
            while let Some(cost) = r.plan_step(now, &mut reqs) {
                r.audit(&reqs).unwrap();
                audited_decoding |= !r.batch.is_empty();
                now = now.after(cost.total_ns);
                for corrupt in 0..3 {
                    // Each corruption is undone by its opposite.
                    let undo = match corrupt {
                        0 => {
                            r.kv.corrupt_used(1);
                            0
                        }
                        1 if !r.batch.is_empty() => {
                            r.batch.corrupt(1, 0);
                            1
                        }
                        2 if !r.batch.is_empty() && kind != SchedulerKind::Static => {
                            r.batch.corrupt(0, 1);
                            2
                        }
                        _ => continue,
                    };
                    assert!(r.audit(&reqs).is_err(), "{kind:?}: corruption {corrupt} not caught");
                    match undo {
                        0 => r.kv.corrupt_used(-1),
                        1 => r.batch.corrupt(-1, 0),
                        _ => r.batch.corrupt(0, -1),
                    }
                }
                r.finish_step(now, &mut reqs, &mut out);
                r.audit(&reqs).unwrap();
            }
            assert!(audited_decoding, "{kind:?}: the run must decode");
            r.audit_drained().unwrap();
            assert_eq!(r.stats.output_tokens, 15, "{kind:?}: 3 requests × 5 tokens");
            r.outstanding_requests += 1;
            assert!(r.audit_drained().is_err());
        }
    }
}
