//! One replica: its queues, its paged KV cache (`kv.rs`), its decode batch (`decode.rs`), and
//! the mechanics of a step: plan it, let the batching policy (`batching/`) choose what goes in,
//! cost it, and apply it when it ends.
//!
//! The waiting queue is ordered by (priority, arrival) by default: with one class that is FCFS,
//! and a sequence preempted by recompute (older than every waiting request) goes back to its
//! head; `serving.queue_order` may order it otherwise (`queue_order.rs`). Preemption
//! (`preempt.rs`) picks its victim among running sequences of the lowest priority, by default
//! the youngest (`victim.rs`).

use super::attribution::{AttrClock, Segment};
use super::decode::DecodeBatch;
use super::kv::{KvBlocks, SwapSpace};
use super::kv_tiers::KvTiers;
use super::lora::AdapterRegistry;
use super::prefix_cache::PrefixCache;
use super::queue_order::{OutputHistory, WaitQueue};
use super::router::ReplicaLoad;
use super::spec::SpecDecoder;
use super::{NO_TIME, Phase, ReplicaId, ReqState, RequestId, SchedulerConfig};
use crate::engine::SimTime;
use crate::perf::{BatchShape, PerfModel, StepCost};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

/// What a finished step did, for the simulation to record.
#[derive(Debug, Default)]
pub struct StepOutcome {
    /// Requests that finished in this step.
    pub completed: Vec<RequestId>,
    /// Inter-token gaps this step produced: (gap ns, number of tokens with that gap).
    pub itl: Vec<(u64, u32)>,
    /// Prefill-only requests whose prompt is done: their KV cache leaves for a decode replica.
    pub handoff: Vec<RequestId>,
}

/// Running totals of a replica, for metrics.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReplicaStats {
    pub steps: u64,
    pub busy_ns: u64,
    pub preemptions: u64,
    pub compute_ns: f64,
    pub memory_ns: f64,
    pub comm_ns: f64,
    pub overhead_ns: f64,
    pub prefill_tokens: u64,
    pub decode_tokens: u64,
    pub max_blocks_used: u64,
    /// Prompt tokens prefilled again after preemptions by recompute, and their share of step time.
    pub recompute_tokens: u64,
    pub recompute_ns: f64,
    /// KV bytes swapped out to host memory and back in, and the time those copies took.
    pub swap_bytes: f64,
    pub swap_ns: f64,
    /// Output tokens the steps produced (counted per step, for the audit's token balance).
    pub output_tokens: u64,
    /// Sequences preempted for a waiting request of a higher class (`serving.priority_preemption`).
    pub priority_preemptions: u64,
}

/// The step being formed or in flight.
#[derive(Debug, Default)]
pub(super) struct Plan {
    pub prefill_done: Vec<RequestId>,
    /// The step's prompt chunks (request, tokens), for their share of its time.
    pub chunks: Vec<(RequestId, u32)>,
    pub decode_seqs: u32,
    pub start: SimTime,
    /// When the step in flight ended (set as it is applied).
    pub end: SimTime,
    cost: StepCost,
    /// Swap copies that block this step (swap-outs of victims, swap-ins of resumed sequences).
    pub extra_ns: f64,
    pub recompute_tokens: u64,
    /// When the step's last reload from a KV offload tier is in HBM (ns; 0: none): the step
    /// waits for it.
    pub reload_until_ns: f64,
    pub tokens: u64,
    /// The step's prompt tokens and decode rows (counted when it starts).
    prefill_tokens: u64,
    pub decode_rows: u64,
}

/// Everything a replica is built from.
pub struct ReplicaSpec {
    pub scheduler: SchedulerConfig,
    /// KV blocks of the replica: its cost model's whole cache, or a share of it (a
    /// pipeline-parallel replica is scheduled as `pp` virtual engines, vLLM's design, each with
    /// its share; a draft model takes its share too).
    pub total_blocks: u64,
    /// Swap to host memory (nothing swaps while its capacity is zero).
    pub swap: SwapSpace,
    /// Block-level prompt cache (`serving.prefix_cache`), if on.
    pub prefix: Option<PrefixCache>,
    /// Speculative decoding (`serving.speculative`), if on.
    pub spec: Option<SpecDecoder>,
    /// LoRA adapter slots (`serving.lora`), if on.
    pub lora: Option<AdapterRegistry>,
    /// KV offload tiers (`serving.kv_offload`), if on.
    pub tiers: Option<KvTiers>,
    /// Vision encoder (`workload.multimodal`), if on.
    pub encoder: Option<super::encoder::ImageEncoder>,
}

impl ReplicaSpec {
    /// A replica with its cost model's whole KV cache, no swap space and no features, serving
    /// sequences of at most `longest` tokens (prompt + max_tokens).
    pub fn new(mut scheduler: SchedulerConfig, perf: &PerfModel, longest: u64) -> ReplicaSpec {
        // A contiguous KV layout gives each sequence a slot of one compiled length: no more
        // sequences than slots run at once (capacity and step time use the same layout).
        if let Some((slots, _)) = perf.max_resident_seqs(longest) {
            scheduler.max_batch = scheduler.max_batch.min(slots.min(u32::MAX as u64) as u32);
        }
        ReplicaSpec {
            scheduler,
            total_blocks: perf.memory.kv_capacity_tokens / scheduler.block_tokens.max(1) as u64,
            swap: SwapSpace::default(),
            prefix: None,
            spec: None,
            lora: None,
            tiers: None,
            encoder: None,
        }
    }
}

pub struct Replica {
    pub id: ReplicaId,
    pub perf: Arc<PerfModel>,
    pub(super) cfg: SchedulerConfig,
    /// Waiting requests by their queue key (`queue_order.rs`; default (priority, arrival)).
    pub(super) waiting: WaitQueue,
    /// Sequences swapped out to host memory, resumed before any new prompt is admitted.
    pub(super) swapped: BTreeMap<(u32, u64), RequestId>,
    /// Sequences whose KV cache arrived from a prefill replica, waiting for blocks.
    pub(super) incoming: VecDeque<RequestId>,
    /// Admitted, prompt partly processed (chunked prefill).
    pub(super) prefilling: VecDeque<RequestId>,
    pub(super) batch: DecodeBatch,
    pub(super) kv: KvBlocks,
    pub(super) swap: SwapSpace,
    pub(super) busy: bool,
    pub(super) plan: Plan,
    pub(super) outstanding_requests: u32,
    pub(super) outstanding_tokens: u64,
    pub stats: ReplicaStats,
    /// This step preempted a sequence: it admits no new prompt.
    pub(super) preempted_now: bool,
    /// Block-level prompt cache (`serving.prefix_cache`), if on.
    pub prefix: Option<PrefixCache>,
    /// Speculative decoding (`serving.speculative`), if on: sequences then advance by different
    /// amounts per step (O(batch) per decode step, see `spec.rs`).
    pub spec: Option<SpecDecoder>,
    /// LoRA adapter slots (`serving.lora`), if on (`lora.rs`).
    pub lora: Option<AdapterRegistry>,
    /// KV offload tiers (`serving.kv_offload`), if on (`kv_tiers.rs`).
    pub tiers: Option<KvTiers>,
    /// Vision encoder (`workload.multimodal`), if on (`encoder.rs`).
    pub encoder: Option<super::encoder::ImageEncoder>,
    /// Running totals for latency attribution (`attribution.rs`).
    pub(super) attr: AttrClock,
    /// Completed outputs, for `serving.queue_order = "sjf-predicted"` with the `history`
    /// predictor (`queue_order.rs`).
    pub(super) history: Option<OutputHistory>,
}

impl Replica {
    pub fn new(id: ReplicaId, perf: Arc<PerfModel>, spec: ReplicaSpec) -> Replica {
        let cfg = spec.scheduler;
        let policy = cfg.kind.traits();
        let reserve_full = policy.reserves_whole_length || cfg.kv_admission == super::KvAdmission::Reserve;
        let kv = KvBlocks::new(cfg.block_tokens, spec.total_blocks, reserve_full).with_bounded(
            perf.memory.kv_footprint_per_rank,
            perf.memory.kv_bytes_per_token_per_rank,
        );
        let track_longest = perf.reads_longest_context();
        Replica {
            id,
            perf,
            cfg,
            waiting: WaitQueue::default(),
            swapped: BTreeMap::new(),
            incoming: VecDeque::new(),
            prefilling: VecDeque::new(),
            batch: DecodeBatch::new(
                cfg.block_tokens,
                !reserve_full,
                policy.pads_finished_rows,
                spec.spec.is_none(),
                track_longest,
            ),
            kv,
            swap: spec.swap,
            busy: false,
            plan: Plan::default(),
            outstanding_requests: 0,
            outstanding_tokens: 0,
            stats: ReplicaStats::default(),
            preempted_now: false,
            prefix: spec.prefix,
            spec: spec.spec,
            lora: spec.lora,
            tiers: spec.tiers,
            encoder: spec.encoder,
            attr: AttrClock::default(),
            history: cfg.order.history(),
        }
    }

    pub fn total_blocks(&self) -> u64 {
        self.kv.total()
    }
    /// Whether the waiting queue is at the admission limit.
    pub fn queue_full(&self) -> bool {
        self.cfg.max_queue.is_some_and(|m| self.waiting.len() >= m as usize)
    }
    /// Tokens of the step in flight (for pipeline activation transfers).
    pub fn step_tokens(&self) -> u64 {
        self.plan.tokens
    }
    /// The step in flight: its prompt tokens, decode rows and prompt chunks.
    pub fn step_shape(&self) -> (u64, u64, u32) {
        (
            self.plan.prefill_tokens,
            self.plan.decode_rows,
            self.plan.chunks.len() as u32,
        )
    }
    pub fn used_blocks(&self) -> u64 {
        self.kv.used()
    }
    pub fn is_busy(&self) -> bool {
        self.busy
    }
    pub fn queue_len(&self) -> usize {
        self.waiting.len() + self.swapped.len() + self.incoming.len()
    }
    pub fn running(&self) -> usize {
        self.batch.len() + self.prefilling.len()
    }
    /// What the router sees of this replica.
    pub fn load(&self) -> ReplicaLoad {
        ReplicaLoad {
            outstanding_requests: self.outstanding_requests,
            outstanding_tokens: self.outstanding_tokens,
            queued: self.queue_len() as u32,
        }
    }

    /// Whether a request could ever run here: its prompt + `max_tokens` fit the whole cache (vLLM
    /// refuses a request whose prompt + max_tokens exceed its max_model_len, itself never more
    /// than the KV cache holds). So a sequence left alone always grows to its end: preemption
    /// makes progress and optimistic admission cannot livelock.
    pub fn can_ever_fit(&self, input: u32, max_tokens: u32) -> bool {
        let longest = input as u64 + max_tokens as u64;
        self.kv.blocks_for(longest) + self.kv.bounded_blocks(longest) <= self.kv.total()
    }

    /// Tokens this replica's KV cache holds: the engine's limit on prompt + output (its
    /// max_model_len is at most this).
    pub fn kv_tokens(&self) -> u64 {
        self.kv.total() * self.cfg.block_tokens as u64
    }

    pub fn enqueue(&mut self, id: RequestId, r: &mut ReqState) {
        r.replica = self.id;
        r.kv_fixed_blocks = self.kv.bounded_blocks(r.input as u64 + r.max_tokens as u64) as u32;
        r.phase = Phase::Queued;
        self.outstanding_requests += 1;
        self.outstanding_tokens += r.input as u64 + r.max_tokens as u64;
        self.insert_waiting(id, r);
        self.attr_queued(id);
    }

    /// A sequence whose prompt was prefilled elsewhere is on its way here with its KV cache
    /// (it counts as outstanding from now on).
    pub fn enqueue_transferred(&mut self, _id: RequestId, r: &mut ReqState) {
        r.replica = self.id;
        r.kv_fixed_blocks = self.kv.bounded_blocks(r.input as u64 + r.max_tokens as u64) as u32;
        r.phase = Phase::Transferring;
        self.outstanding_requests += 1;
        self.outstanding_tokens += r.input as u64 + r.max_tokens as u64;
    }

    /// Its KV cache has arrived: it joins the decode batch as soon as blocks and a batch slot
    /// are free.
    pub fn mark_arrived(&mut self, id: RequestId) {
        self.incoming.push_back(id);
        self.attr_queued(id);
    }

    /// The next waiting request to admit: the first by (priority, arrival) whose LoRA adapter
    /// can run now.
    pub(super) fn waiting_front(&self, reqs: &[ReqState]) -> Option<RequestId> {
        if self.lora.is_some() {
            return self.first_admissible(reqs);
        }
        self.waiting.first().map(|(_, id)| id)
    }

    /// Whether a batch slot is free for one more running sequence.
    pub(super) fn batch_slot_free(&self) -> bool {
        self.batch.len() + self.prefilling.len() < self.cfg.max_batch as usize
    }

    /// The watermark of free blocks kept when admitting or resuming (see `KvBlocks::watermark`).
    pub(super) fn watermark(&self) -> u64 {
        self.kv.watermark(self.batch.is_empty() && self.prefilling.is_empty())
    }

    /// Takes the head of the waiting queue into the running batch: its prompt's cached blocks
    /// are pinned, and its prefill starts.
    pub(super) fn admit_waiting(&mut self, id: RequestId, reqs: &mut [ReqState]) {
        if self.lora.is_some() {
            // The admitted request may stand behind one whose adapter found no slot.
            let r = &reqs[id.index()];
            self.waiting.remove(&r.queue_key.unwrap_or_default());
        } else {
            self.waiting.pop_first();
        }
        reqs[id.index()].ledger.admitted(self.plan.start, &self.attr);
        self.pin_prefix(id, reqs);
        self.acquire_adapter(id, reqs);
        reqs[id.index()].phase = Phase::Prefilling;
    }

    /// Admits the head of the waiting queue whole if its KV blocks fit above `watermark` free
    /// blocks: claims them and starts its prefill at `now`. False (nothing changed) when they do
    /// not fit.
    pub(super) fn admit_whole(&mut self, id: RequestId, reqs: &mut [ReqState], now: SimTime, watermark: u64) -> bool {
        let blocks = self.kv.admission_blocks(&reqs[id.index()]);
        if !self.kv.fits(blocks, watermark) {
            return false;
        }
        self.kv.claim(blocks);
        self.admit_waiting(id, reqs);
        let r = &mut reqs[id.index()];
        r.note_scheduled(now);
        r.progress.blocks = blocks as u32;
        true
    }

    /// Forms the next step, if there is work. Returns its cost; the caller schedules its end.
    pub fn plan_step(&mut self, now: SimTime, reqs: &mut [ReqState]) -> Option<StepCost> {
        debug_assert!(!self.busy);
        self.plan.start = now;
        self.attr_plan(now, reqs);
        self.plan.prefill_done.clear();
        self.plan.chunks.clear();
        self.plan.decode_seqs = 0;
        self.plan.extra_ns = 0.0;
        self.plan.recompute_tokens = 0;
        self.plan.reload_until_ns = 0.0;
        self.preempted_now = false;
        let mut shape = BatchShape::default();
        // A static replica forms a batch only when idle: of arrived KV caches (a decode pool) or
        // of waiting prompts.
        if !self.cfg.kind.traits().forms_batch_when_idle || self.batch.is_empty() {
            self.resume(reqs);
        }
        self.fit_prefix_cache();
        if self.cfg.priority_preemption {
            self.preempt_for_priority(reqs);
        }
        // vLLM v0: no new prompt while a swapped-out sequence waits to come back (of the head's
        // class or a higher one, with priority preemption).
        let admit_new = self.swapped.is_empty() || (self.cfg.priority_preemption && self.swapped_below_head(reqs));
        self.fill_step(now, reqs, &mut shape, admit_new);
        if !self.waiting.is_empty() || !self.incoming.is_empty() {
            let reason = self.blocked_reason(reqs, &shape, admit_new);
            self.attr_blocked(reason);
        }
        if shape.tokens() == 0 {
            return None;
        }
        if self.plan.reload_until_ns > 0.0 {
            self.wait_for_reloads(now);
        }
        let mut cost = match self.spec.as_mut() {
            Some(spec) => spec.step_cost(&self.perf, &shape),
            None => self.perf.step(&shape),
        };
        if self.lora.is_some() {
            self.add_adapter_cost(&mut cost, reqs);
        }
        if self.encoder.is_some() {
            self.add_encoder_cost(&mut cost, reqs);
        }
        if self.plan.extra_ns > 0.0 {
            // Swap copies block the step (vLLM v0 swaps synchronously before the forward pass).
            cost.comm_ns += self.plan.extra_ns;
            cost.total_ns = cost.total_ns.saturating_add(self.plan.extra_ns.round() as u64);
        }
        if self.plan.recompute_tokens > 0 {
            self.stats.recompute_tokens += self.plan.recompute_tokens;
            self.stats.recompute_ns += cost.total_ns as f64 * self.plan.recompute_tokens as f64 / shape.tokens() as f64;
        }
        self.plan.tokens = shape.tokens();
        self.plan.prefill_tokens = shape.prefill_tokens;
        self.plan.decode_rows = shape.decode_seqs as u64;
        self.busy = true;
        self.plan.cost = cost;
        self.record_step(&cost, &shape);
        Some(cost)
    }

    fn record_step(&mut self, cost: &StepCost, shape: &BatchShape) {
        let s = &mut self.stats;
        s.steps += 1;
        s.busy_ns = s.busy_ns.saturating_add(cost.total_ns);
        s.compute_ns += cost.compute_ns;
        s.memory_ns += cost.memory_ns;
        s.comm_ns += cost.comm_ns;
        s.overhead_ns += cost.overhead_ns;
        s.prefill_tokens += shape.prefill_tokens;
        s.decode_tokens += shape.decode_seqs as u64;
        s.max_blocks_used = s.max_blocks_used.max(self.kv.used());
    }

    /// The step in flight will not finish before the run is cut: only its first 1 − `late` of
    /// time counts as busy (and in the breakdown), and none of its tokens.
    pub fn discount_unfinished_step(&mut self, late: f64) {
        let late = late.clamp(0.0, 1.0);
        let c = self.plan.cost;
        let s = &mut self.stats;
        s.busy_ns = s.busy_ns.saturating_sub((late * c.total_ns as f64).round() as u64);
        s.compute_ns -= late * c.compute_ns;
        s.memory_ns -= late * c.memory_ns;
        s.comm_ns -= late * c.comm_ns;
        s.overhead_ns -= late * c.overhead_ns;
        s.prefill_tokens = s.prefill_tokens.saturating_sub(self.plan.prefill_tokens);
        s.decode_tokens = s.decode_tokens.saturating_sub(self.plan.decode_rows);
    }

    /// A prompt (or its last chunk) was added to the step: it produces a token when the step ends.
    pub(super) fn prefill_completes(&mut self, id: RequestId) {
        self.plan.prefill_done.push(id);
    }

    /// One token for every decoding sequence; preempts the youngest while KV blocks run short.
    pub(super) fn add_decode(&mut self, reqs: &mut [ReqState], shape: &mut BatchShape) {
        if self.spec.is_some() {
            self.reserve_lookahead(reqs);
        } else if !self.kv.reserves_full_length() {
            loop {
                let need = self.batch.blocks_needed_now();
                if self.kv.fits(need, 0) || self.batch.is_empty() {
                    break;
                }
                self.preempt_youngest(reqs);
            }
            if self.batch.is_empty() {
                return;
            }
            self.kv.claim(self.batch.blocks_needed_now());
        }
        self.plan.decode_seqs = self.batch.add_to(shape);
    }

    pub(super) fn join_decode(&mut self, id: RequestId, reqs: &mut [ReqState], now: SimTime) {
        reqs[id.index()].ledger.enter(now, Segment::Decode, &self.attr);
        reqs[id.index()].phase = Phase::Decoding;
        self.batch.join(id, reqs);
    }

    /// The request leaves the replica (finished, or handed off with `kv_tokens` of cache).
    pub(super) fn release(&mut self, id: RequestId, reqs: &mut [ReqState], kv_tokens: u64) {
        self.unpin_prefix(id, reqs);
        self.release_adapter(id, reqs);
        let r = &reqs[id.index()];
        let blocks = if self.kv.reserves_full_length() {
            r.progress.blocks as u64
        } else {
            self.kv.blocks_for(kv_tokens) + r.kv_fixed_blocks as u64
        };
        self.kv.give_back(blocks);
        self.outstanding_requests -= 1;
        self.outstanding_tokens -= r.input as u64 + r.max_tokens as u64;
    }

    /// The request produced its last token: it leaves with `kv_tokens` of cache.
    pub(super) fn complete(&mut self, id: RequestId, reqs: &mut [ReqState], kv_tokens: u64, out: &mut StepOutcome) {
        let r = &mut reqs[id.index()];
        r.ledger.enter(self.plan.end, Segment::Done, &self.attr);
        r.progress.generated = r.output;
        r.phase = Phase::Done;
        self.learn_output(&reqs[id.index()]);
        self.release(id, reqs, kv_tokens);
        out.completed.push(id);
    }

    /// Applies the step that ends at `now`: tokens, first tokens, completions.
    pub fn finish_step(&mut self, now: SimTime, reqs: &mut [ReqState], out: &mut StepOutcome) {
        out.completed.clear();
        out.itl.clear();
        out.handoff.clear();
        self.busy = false;
        self.plan.end = now;
        self.attr_step_end(now, reqs);
        if self.plan.decode_seqs > 0 && self.spec.is_some() {
            self.finish_speculative(now, reqs, out);
        } else if self.plan.decode_seqs > 0 {
            self.finish_decode(now, reqs, out);
        }
        self.finish_prefills(now, reqs, out);
    }

    /// Decode part: every decoding sequence produced one token.
    fn finish_decode(&mut self, now: SimTime, reqs: &mut [ReqState], out: &mut StepOutcome) {
        self.stats.output_tokens += self.batch.len() as u64;
        self.batch.record_gaps(now, reqs, out);
        self.batch.advance(self.plan.decode_seqs);
        while let Some(id) = self.batch.pop_finished(reqs) {
            let ctx = self.batch.remove(id, reqs);
            // The finished row keeps padding the batch until the batch ends (static batching).
            self.batch.pad_finished(ctx);
            self.complete(id, reqs, ctx - 1, out);
        }
        self.batch.end_padded_batch();
    }

    /// Prefill part: prompts that completed produce their first (or next) token.
    fn finish_prefills(&mut self, now: SimTime, reqs: &mut [ReqState], out: &mut StepOutcome) {
        self.stats.output_tokens += self.plan.prefill_done.len() as u64;
        for i in 0..self.plan.prefill_done.len() {
            let id = self.plan.prefill_done[i];
            let r = &mut reqs[id.index()];
            r.progress.generated += 1;
            r.progress.recomputing = false;
            r.times.last_token = now;
            let done = r.progress.generated >= r.output;
            // A prefill replica's first token reaches the user with the KV cache's transfer.
            if r.times.first_token == NO_TIME && (done || !r.prefill_only) {
                r.times.first_token = now;
                r.ledger.first_token(now, &self.attr);
            }
            let kv = r.progress.prompt_len as u64;
            if done {
                r.ledger.enter(now, Segment::Done, &self.attr);
                r.phase = Phase::Done;
                self.learn_output(&reqs[id.index()]);
                self.release(id, reqs, kv);
                out.completed.push(id);
            } else if r.prefill_only {
                r.ledger.enter(now, Segment::Transfer, &self.attr);
                r.prefill_only = false;
                r.phase = Phase::Transferring;
                self.release(id, reqs, kv);
                out.handoff.push(id);
            } else {
                self.join_decode(id, reqs, now);
            }
        }
    }
}
