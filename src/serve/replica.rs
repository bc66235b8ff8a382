//! One replica: FCFS continuous batching (prefill-first, or chunked and decode-first), static
//! batching, and a paged KV cache with preemption by recompute or by swap to host memory.
//!
//! The waiting queue is ordered by (priority, arrival): with one class that is FCFS, and a
//! sequence preempted by recompute (older than every waiting request) goes back to its head.
//! Preemption picks its victim among running sequences by (lowest priority, youngest).
//!
//! A decode step does not touch every running sequence (DESIGN.md invariant 6). Each sequence's
//! context grows by one token per decode step, so the replica keeps the sum of contexts as a
//! counter, finds finishing sequences in a heap keyed by the step at which they finish, and
//! counts the KV blocks a step needs from a histogram of contexts modulo the block size: a
//! sequence needs a new block exactly when its cached tokens are a multiple of the block size.

use super::prefix_cache::PrefixCache;
use super::spec::SpecDecoder;
use super::{KvAdmission, NO_TIME, PreemptionMode, ReplicaId, ReqState, RequestId, SchedulerConfig, SchedulerKind};
use crate::engine::SimTime;
use crate::perf::{BatchShape, PerfModel, StepCost};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};
use std::sync::Arc;

/// What a finished step did, for the simulation to record.
#[derive(Debug, Default)]
pub struct StepOutcome {
    /// Requests that produced their first token in this step.
    pub first_tokens: Vec<RequestId>,
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
    /// Σ step duration × activity (0..1), for the power model.
    pub active_ns: f64,
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
}

#[derive(Debug, Default)]
struct Plan {
    prefill_done: Vec<RequestId>,
    decode_seqs: u32,
    start: SimTime,
    cost: StepCost,
    /// Swap copies that block this step (swap-outs of victims, swap-ins of resumed sequences).
    extra_ns: f64,
    recompute_tokens: u64,
    tokens: u64,
}

pub struct Replica {
    pub id: ReplicaId,
    pub perf: Arc<PerfModel>,
    cfg: SchedulerConfig,
    /// Waiting requests by (priority, arrival order).
    waiting: BTreeMap<(u32, u64), RequestId>,
    /// Sequences swapped out to host memory, resumed before any new prompt is admitted.
    swapped: BTreeMap<(u32, u64), RequestId>,
    /// Sequences whose KV cache arrived from a prefill replica, waiting for blocks.
    incoming: VecDeque<RequestId>,
    /// Swap: KV bytes per cached token (all ranks of the replica), host-link bytes per ns, and
    /// the host memory the replica may fill.
    swap_bytes_per_token: f64,
    swap_bytes_per_ns: f64,
    host_capacity_bytes: f64,
    host_used_bytes: f64,
    /// Admitted, prompt partly processed (chunked prefill).
    prefilling: VecDeque<RequestId>,
    decoding: Vec<RequestId>,
    finish: BinaryHeap<Reverse<(u64, u32, u32)>>,
    /// Decode steps completed.
    counter: u64,
    /// Σ of the next decode step's context over decoding sequences (and static padding rows).
    ctx_sum: u64,
    /// Decoding sequences by (ctx_join − 1 − step_join) mod block_tokens.
    crossing: Vec<u32>,
    /// Multiset of ctx_join − step_join: the longest context is its maximum plus `counter`.
    ctx_offsets: BTreeMap<i64, u32>,
    total_blocks: u64,
    used_blocks: u64,
    /// Static batching: finished rows still padding the batch.
    pad_rows: u32,
    busy: bool,
    plan: Plan,
    last_decode_end: SimTime,
    /// Sequences that joined decode since the last decode step (their next gap is measured from
    /// their first token, not from the previous decode step).
    fresh: Vec<RequestId>,
    pub outstanding_requests: u32,
    pub outstanding_tokens: u64,
    pub stats: ReplicaStats,
    /// KV blocks are reserved for a request's whole length at admission (static batching,
    /// `KvAdmission::Reserve`): no per-token allocation, no preemption.
    reserve_full: bool,
    /// This step preempted a sequence: it admits no new prompt.
    preempted_now: bool,
    /// Block-level prompt cache (`serving.prefix_cache`), if on.
    pub prefix: Option<PrefixCache>,
    /// Speculative decoding (`serving.speculative`), if on: sequences then advance by different
    /// amounts per step (O(batch) per decode step, see `spec.rs`).
    pub spec: Option<SpecDecoder>,
    /// KV blocks reserved for this step's speculative lookahead (γ + 1 slots per sequence).
    spec_reserved: u64,
}

impl Replica {
    pub fn new(id: ReplicaId, perf: Arc<PerfModel>, cfg: SchedulerConfig) -> Replica {
        let bt = cfg.block_tokens.max(1);
        let total_blocks = perf.memory.kv_capacity_tokens / bt as u64;
        Replica {
            id,
            perf,
            cfg,
            waiting: BTreeMap::new(),
            swapped: BTreeMap::new(),
            incoming: VecDeque::new(),
            swap_bytes_per_token: 0.0,
            swap_bytes_per_ns: 0.0,
            host_capacity_bytes: 0.0,
            host_used_bytes: 0.0,
            prefilling: VecDeque::new(),
            decoding: Vec::new(),
            finish: BinaryHeap::new(),
            counter: 0,
            ctx_sum: 0,
            crossing: vec![0; bt as usize],
            ctx_offsets: BTreeMap::new(),
            total_blocks,
            used_blocks: 0,
            pad_rows: 0,
            busy: false,
            plan: Plan::default(),
            last_decode_end: SimTime::ZERO,
            fresh: Vec::new(),
            outstanding_requests: 0,
            outstanding_tokens: 0,
            stats: ReplicaStats::default(),
            reserve_full: cfg.kind == SchedulerKind::Static || cfg.kv_admission == KvAdmission::Reserve,
            preempted_now: false,
            prefix: None,
            spec: None,
            spec_reserved: 0,
        }
    }

    pub fn total_blocks(&self) -> u64 {
        self.total_blocks
    }
    /// A pipeline-parallel replica is scheduled as `pp` virtual engines (vLLM's design), each
    /// with its share of the KV cache.
    pub fn set_total_blocks(&mut self, blocks: u64) {
        self.total_blocks = blocks;
    }
    /// Swap to host memory: KV bytes per token of the whole replica, the host link's bytes per
    /// ns, and the host memory (bytes) the replica's swapped KV may occupy.
    pub fn configure_swap(&mut self, bytes_per_token: f64, bytes_per_ns: f64, capacity_bytes: f64) {
        self.swap_bytes_per_token = bytes_per_token;
        self.swap_bytes_per_ns = bytes_per_ns;
        self.host_capacity_bytes = capacity_bytes;
    }
    /// Whether the waiting queue is at the admission limit.
    pub fn queue_full(&self) -> bool {
        self.cfg.max_queue.is_some_and(|m| self.waiting.len() >= m as usize)
    }
    /// Tokens of the step in flight (for pipeline activation transfers).
    pub fn step_tokens(&self) -> u64 {
        self.plan.tokens
    }
    pub fn used_blocks(&self) -> u64 {
        self.used_blocks
    }
    pub fn is_busy(&self) -> bool {
        self.busy
    }
    pub fn queue_len(&self) -> usize {
        self.waiting.len() + self.swapped.len() + self.incoming.len()
    }
    pub fn running(&self) -> usize {
        self.decoding.len() + self.prefilling.len()
    }

    fn blocks_for(&self, tokens: u64) -> u64 {
        tokens.div_ceil(self.cfg.block_tokens as u64)
    }

    /// Whether a request of this size could ever run here (its whole KV fits the cache).
    pub fn can_ever_fit(&self, input: u32, output: u32) -> bool {
        self.blocks_for(input as u64 + output as u64) <= self.total_blocks
    }

    pub fn enqueue(&mut self, id: RequestId, r: &mut ReqState) {
        r.replica = self.id;
        self.outstanding_requests += 1;
        self.outstanding_tokens += (r.input + r.output) as u64;
        self.waiting.insert((r.priority, r.seq), id);
    }

    /// A sequence whose prompt was prefilled elsewhere is on its way here with its KV cache
    /// (it counts as outstanding from now on).
    pub fn enqueue_transferred(&mut self, _id: RequestId, r: &mut ReqState) {
        r.replica = self.id;
        self.outstanding_requests += 1;
        self.outstanding_tokens += (r.input + r.output) as u64;
    }

    /// Its KV cache has arrived: it joins the decode batch as soon as blocks and a batch slot
    /// are free.
    pub fn mark_arrived(&mut self, id: RequestId) {
        self.incoming.push_back(id);
    }

    fn waiting_front(&self) -> Option<RequestId> {
        self.waiting.first_key_value().map(|(_, &id)| id)
    }

    /// Blocks kept free when admitting or resuming sequences, so that the next block crossing
    /// does not preempt them at once (vLLM's 1 % watermark). None is needed when every sequence
    /// holds a reservation for its whole length, or when nothing runs.
    fn watermark(&self) -> u64 {
        if self.reserve_full || (self.decoding.is_empty() && self.prefilling.is_empty()) {
            0
        } else {
            self.total_blocks / 100
        }
    }

    /// Resumes swapped-out sequences (swap-in over the host link) and admits sequences whose KV
    /// arrived from a prefill replica, while blocks and batch slots last.
    fn resume(&mut self, reqs: &mut [ReqState]) {
        while let Some((_, &id)) = self.swapped.first_key_value() {
            if self.decoding.len() + self.prefilling.len() >= self.cfg.max_batch as usize {
                return;
            }
            let cached = reqs[id.index()].prompt_len as u64;
            let blocks = self.blocks_for(cached);
            if self.used_blocks + blocks + self.watermark() > self.total_blocks {
                return;
            }
            self.swapped.pop_first();
            self.used_blocks += blocks;
            let bytes = cached as f64 * self.swap_bytes_per_token;
            self.host_used_bytes = (self.host_used_bytes - bytes).max(0.0);
            self.swap_copy(bytes);
            self.join_decode(id, reqs);
        }
        while let Some(&id) = self.incoming.front() {
            if self.decoding.len() + self.prefilling.len() >= self.cfg.max_batch as usize {
                return;
            }
            let blocks = self.admission_blocks(&reqs[id.index()]);
            if self.used_blocks + blocks + self.watermark() > self.total_blocks {
                return;
            }
            self.incoming.pop_front();
            self.used_blocks += blocks;
            reqs[id.index()].blocks = blocks as u32;
            self.join_decode(id, reqs);
        }
    }

    fn swap_copy(&mut self, bytes: f64) {
        let ns = if self.swap_bytes_per_ns > 0.0 {
            bytes / self.swap_bytes_per_ns
        } else {
            0.0
        };
        self.plan.extra_ns += ns;
        self.stats.swap_bytes += bytes;
        self.stats.swap_ns += ns;
    }

    /// Evictable cached blocks may fill the KV memory the running batch leaves free.
    fn fit_prefix_cache(&mut self) {
        if let Some(c) = self.prefix.as_mut() {
            let free_tokens = self.total_blocks.saturating_sub(self.used_blocks) * self.cfg.block_tokens as u64;
            c.set_capacity(free_tokens / c.block_tokens as u64);
        }
    }

    /// Prompt tokens a waiting request would find cached (whole blocks of its longest cached
    /// prefix; at least one token is always computed, for the logits).
    fn cached_prefix_tokens(&self, r: &ReqState) -> u64 {
        match (&self.prefix, &r.prompt_blocks) {
            (Some(c), Some(b)) if !r.cache_pinned && r.prefilled == 0 => {
                let blocks = (c.peek(b).blocks()).max(r.remote_prefix_blocks);
                let hit = blocks as u64 * c.block_tokens as u64;
                hit.min(r.prompt_len.saturating_sub(1) as u64)
            }
            _ => 0,
        }
    }

    /// Admission: pins the prompt's blocks in the cache and skips its cached prefix. A prefix
    /// found in the host tier is swapped in over the host link (the copy blocks the step).
    fn pin_prefix(&mut self, id: RequestId, reqs: &mut [ReqState]) {
        let r = &mut reqs[id.index()];
        let (Some(c), Some(blocks)) = (self.prefix.as_mut(), r.prompt_blocks.as_ref()) else {
            return;
        };
        if r.cache_pinned {
            return;
        }
        // What `cached_prefix_tokens` would say, from the admission's own lookup.
        let hit = c.admit(blocks);
        let skip = if r.prefilled == 0 {
            let cached = hit.blocks().max(r.remote_prefix_blocks) as u64 * c.block_tokens as u64;
            cached.min(r.prompt_len.saturating_sub(1) as u64)
        } else {
            0
        };
        r.cache_pinned = true;
        let remote = r.remote_prefix_blocks.saturating_sub(hit.blocks());
        if remote > 0 && skip > 0 {
            // The rest of the prefix comes from the remote tier over EFA (the fetch blocks the step).
            c.stats.hit_blocks += remote as u64;
            c.stats.hit_blocks_remote += remote as u64;
            let bytes = remote as f64 * c.remote_bytes_per_block;
            let ns = c.remote_latency_ns + bytes / c.remote_bytes_per_ns.max(1e-9);
            c.stats.remote_bytes += bytes;
            c.stats.remote_ns += ns;
            self.plan.extra_ns += ns;
        }
        if skip > r.prefilled as u64 {
            c.stats.saved_prefill_tokens += skip - r.prefilled as u64;
            r.prefilled = skip as u32;
        }
        if hit.host_blocks > 0 && self.swap_bytes_per_ns > 0.0 {
            let bytes = hit.host_blocks as f64 * c.block_tokens as f64 * self.swap_bytes_per_token;
            let ns = bytes / self.swap_bytes_per_ns;
            c.stats.host_swap_bytes += bytes;
            c.stats.host_swap_ns += ns;
            self.plan.extra_ns += ns;
        }
    }

    /// The request leaves the batch: its cached blocks become evictable.
    fn unpin_prefix(&mut self, id: RequestId, reqs: &mut [ReqState]) {
        let r = &mut reqs[id.index()];
        if !r.cache_pinned {
            return;
        }
        r.cache_pinned = false;
        if let (Some(c), Some(b)) = (self.prefix.as_mut(), r.prompt_blocks.as_ref()) {
            c.release(b);
        }
    }

    /// Speculative decoding: KV slots for γ + 1 tokens per sequence (at most the tokens it has
    /// left) are claimed before the step (what is not accepted is given back after it); the
    /// youngest sequences are preempted while blocks run short. O(batch).
    fn reserve_lookahead(&mut self, reqs: &mut [ReqState]) {
        self.spec_reserved = 0;
        if self.reserve_full {
            return;
        }
        let ahead = self.spec.as_ref().map_or(1, |s| s.gamma as u64 + 1);
        loop {
            let need: u64 = self
                .decoding
                .iter()
                .map(|id| {
                    let r = &reqs[id.index()];
                    let kv = self.ctx_next(r) - 1;
                    // No slots beyond the sequence's last token: a sequence that fits the cache
                    // always fits its lookahead.
                    let left = r.output as u64 - (r.generated as u64 + kv - r.prompt_len as u64);
                    self.blocks_for(kv + ahead.min(left)) - self.blocks_for(kv)
                })
                .sum();
            if self.used_blocks + need <= self.total_blocks || self.decoding.is_empty() {
                self.used_blocks += need;
                self.spec_reserved = need;
                return;
            }
            self.preempt_youngest(reqs);
        }
    }

    /// Inter-token gaps of a decode step ending at `now`: sequences that joined since the last
    /// decode step measure from their last token, the rest share one gap (one entry, weighted).
    fn record_decode_gaps(&mut self, now: SimTime, reqs: &[ReqState], out: &mut StepOutcome) {
        let gap_shared = now.since(self.last_decode_end);
        let fresh_n = self.fresh.len() as u32;
        for &f in &self.fresh {
            out.itl.push((now.since(reqs[f.index()].last_token), 1));
        }
        self.fresh.clear();
        let shared = self.decoding.len() as u32 - fresh_n;
        if shared > 0 {
            out.itl.push((gap_shared, shared));
        }
        self.last_decode_end = now;
    }

    /// The end of a speculative decode step: each sequence advances by its accepted tokens + 1
    /// (cut at its output length); unused lookahead blocks go back.
    fn finish_speculative(&mut self, now: SimTime, reqs: &mut [ReqState], out: &mut StepOutcome) {
        self.record_decode_gaps(now, reqs, out);
        let ahead = self.spec.as_ref().map_or(1, |s| s.gamma as u64 + 1);
        let b = self.cfg.block_tokens as u64;
        let mut used_lookahead = 0u64;
        let mut extra_tokens = 0u64;
        for i in (0..self.decoding.len()).rev() {
            let id = self.decoding[i];
            let accepted = self.spec.as_mut().map_or(0, |s| s.draw_accepted()) as u64;
            let r = &reqs[id.index()];
            let ctx = self.ctx_next(r);
            let kv = ctx - 1;
            let done = r.generated as u64 + (kv - r.prompt_len as u64);
            let remaining = (r.output as u64).saturating_sub(done).max(1);
            let adv = (accepted + 1).min(remaining);
            extra_tokens += adv - 1;
            self.stats.output_tokens += adv;
            if !self.reserve_full {
                used_lookahead += self.blocks_for(kv + adv) - self.blocks_for(kv);
            }
            if adv == remaining {
                self.remove_decoding(id, reqs);
                reqs[id.index()].generated = reqs[id.index()].output;
                self.release(id, reqs, kv + adv);
                out.completed.push(id);
                continue;
            }
            // Shift the join context so that ctx_next grows by `adv` once the counter steps.
            let old_key = self.crossing_key(r);
            let old_off = r.ctx_join as i64 - r.step_join as i64;
            let r = &mut reqs[id.index()];
            r.ctx_join += adv - 1;
            let new_off = old_off + adv as i64 - 1;
            let new_key = ((r.ctx_join - 1 + b - r.step_join % b) % b) as usize;
            if !self.reserve_full {
                self.crossing[old_key] -= 1;
                self.crossing[new_key] += 1;
            }
            if let Some(n) = self.ctx_offsets.get_mut(&old_off) {
                *n -= 1;
                if *n == 0 {
                    self.ctx_offsets.remove(&old_off);
                }
            }
            *self.ctx_offsets.entry(new_off).or_insert(0) += 1;
            self.ctx_sum += adv;
        }
        if extra_tokens > 0 {
            out.itl.push((0, extra_tokens.min(u32::MAX as u64) as u32));
        }
        self.used_blocks -= self.spec_reserved - used_lookahead.min(self.spec_reserved);
        self.spec_reserved = 0;
        self.counter += 1;
        let _ = ahead;
    }

    /// Forms the next step, if there is work. Returns its cost; the caller schedules its end.
    pub fn plan_step(&mut self, now: SimTime, reqs: &mut [ReqState]) -> Option<StepCost> {
        debug_assert!(!self.busy);
        self.plan.prefill_done.clear();
        self.plan.decode_seqs = 0;
        self.plan.extra_ns = 0.0;
        self.plan.recompute_tokens = 0;
        self.preempted_now = false;
        let mut shape = BatchShape::default();
        // A static replica forms a batch only when idle: of arrived KV caches (a decode pool) or
        // of waiting prompts.
        if self.cfg.kind != SchedulerKind::Static || self.decoding.is_empty() {
            self.resume(reqs);
        }
        self.fit_prefix_cache();
        // vLLM v0: no new prompt while a swapped-out sequence waits to come back.
        let admit_new = self.swapped.is_empty();
        match self.cfg.kind {
            SchedulerKind::Continuous => {
                if admit_new {
                    self.admit_whole_prompts(now, reqs, &mut shape);
                }
                if shape.prefill_seqs == 0 && !self.decoding.is_empty() {
                    self.add_decode(reqs, &mut shape);
                }
            }
            SchedulerKind::Chunked => {
                if !self.decoding.is_empty() {
                    self.add_decode(reqs, &mut shape);
                }
                self.add_chunks(now, reqs, &mut shape, admit_new);
            }
            SchedulerKind::Static => {
                if self.decoding.is_empty() {
                    self.admit_static_batch(now, reqs, &mut shape);
                } else {
                    self.add_decode(reqs, &mut shape);
                }
            }
        }
        if shape.tokens() == 0 {
            return None;
        }
        let mut cost = match self.spec.as_mut() {
            Some(spec) => spec.step_cost(&self.perf, &shape),
            None => self.perf.step(&shape),
        };
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
        self.busy = true;
        self.plan.start = now;
        self.plan.cost = cost;
        self.stats.steps += 1;
        self.stats.busy_ns = self.stats.busy_ns.saturating_add(cost.total_ns);
        self.stats.compute_ns += cost.compute_ns;
        self.stats.memory_ns += cost.memory_ns;
        self.stats.comm_ns += cost.comm_ns;
        self.stats.overhead_ns += cost.overhead_ns;
        let activity = (cost.ideal_compute_ns.max(cost.ideal_memory_ns) / cost.total_ns as f64).min(1.0);
        self.stats.active_ns += activity * cost.total_ns as f64;
        self.stats.prefill_tokens += shape.prefill_tokens;
        self.stats.decode_tokens += shape.decode_seqs as u64;
        self.stats.max_blocks_used = self.stats.max_blocks_used.max(self.used_blocks);
        Some(cost)
    }

    /// vLLM v0: admit whole prompts FCFS while batch slots, the token budget and KV blocks last.
    fn admit_whole_prompts(&mut self, now: SimTime, reqs: &mut [ReqState], shape: &mut BatchShape) {
        while let Some(id) = self.waiting_front() {
            let r = &reqs[id.index()];
            let need =
                (r.prompt_len as u64 - r.prefilled as u64).min(r.prompt_len as u64 - self.cached_prefix_tokens(r));
            let running = self.decoding.len() + shape.prefill_seqs as usize;
            if running >= self.cfg.max_batch as usize {
                break;
            }
            if shape.prefill_seqs > 0 && shape.prefill_tokens + need > self.cfg.max_batched_tokens as u64 {
                break;
            }
            let blocks = self.admission_blocks(r);
            if self.used_blocks + blocks + self.watermark() > self.total_blocks {
                break;
            }
            self.waiting.pop_first();
            self.used_blocks += blocks;
            self.pin_prefix(id, reqs);
            let r = &mut reqs[id.index()];
            r.blocks = blocks as u32;
            if r.scheduled == NO_TIME {
                r.scheduled = now;
            }
            if r.recomputing {
                self.plan.recompute_tokens += need;
            }
            shape.add_prefill(need, r.prefilled as u64);
            r.prefilled = r.prompt_len;
            self.plan.prefill_done.push(id);
        }
    }

    /// Sarathi-Serve: continue partial prompts, then admit new ones, in chunks up to the budget
    /// left after the decode tokens.
    fn add_chunks(&mut self, now: SimTime, reqs: &mut [ReqState], shape: &mut BatchShape, admit_new: bool) {
        let budget = self.cfg.max_batched_tokens as u64;
        let mut i = 0;
        loop {
            let used = shape.tokens();
            if used >= budget {
                break;
            }
            let id = if i < self.prefilling.len() {
                self.prefilling[i]
            } else {
                let running = self.decoding.len() + self.prefilling.len();
                match self.waiting_front() {
                    Some(id) if admit_new && running < self.cfg.max_batch as usize => id,
                    _ => break,
                }
            };
            let r = &reqs[id.index()];
            let admitting = i >= self.prefilling.len();
            if admitting && self.preempted_now {
                break;
            }
            // A new prompt starts after its cached prefix, whose blocks it claims with its chunk.
            let start = if admitting {
                (r.prefilled as u64).max(self.cached_prefix_tokens(r))
            } else {
                r.prefilled as u64
            };
            let held = if admitting { 0 } else { self.blocks_for(start) };
            let chunk = (r.prompt_len as u64 - start).min(budget - used);
            let (blocks, reserve) = match (self.reserve_full, admitting) {
                (true, true) => (self.admission_blocks(r), self.watermark()),
                (true, false) => (0, 0),
                (false, a) => (
                    self.blocks_for(start + chunk) - held,
                    if a { self.watermark() } else { 0 },
                ),
            };
            if self.used_blocks + blocks + reserve > self.total_blocks {
                break;
            }
            if i >= self.prefilling.len() {
                self.waiting.pop_first();
                self.prefilling.push_back(id);
                self.pin_prefix(id, reqs);
            }
            self.used_blocks += blocks;
            let r = &mut reqs[id.index()];
            r.blocks += blocks as u32;
            if r.scheduled == NO_TIME {
                r.scheduled = now;
            }
            if r.recomputing {
                self.plan.recompute_tokens += chunk;
            }
            shape.add_prefill(chunk, r.prefilled as u64);
            r.prefilled += chunk as u32;
            if r.prefilled == r.prompt_len {
                self.plan.prefill_done.push(id);
            }
            i += 1;
        }
        // Prompts finished this step leave the prefilling queue (they are at its front, in order).
        let done = self.plan.prefill_done.len();
        for _ in 0..done {
            self.prefilling.pop_front();
        }
    }

    /// Static batching: take up to `max_batch` waiting requests, reserving KV for their whole
    /// length, and prefill them together.
    fn admit_static_batch(&mut self, now: SimTime, reqs: &mut [ReqState], shape: &mut BatchShape) {
        self.pad_rows = 0;
        self.ctx_sum = 0;
        while let Some(id) = self.waiting_front() {
            if shape.prefill_seqs >= self.cfg.max_batch {
                break;
            }
            let r = &reqs[id.index()];
            let blocks = self.admission_blocks(r);
            if self.used_blocks + blocks > self.total_blocks {
                break;
            }
            self.waiting.pop_first();
            self.used_blocks += blocks;
            self.pin_prefix(id, reqs);
            let r = &mut reqs[id.index()];
            r.blocks = blocks as u32;
            if r.scheduled == NO_TIME {
                r.scheduled = now;
            }
            shape.add_prefill((r.prompt_len - r.prefilled) as u64, r.prefilled as u64);
            r.prefilled = r.prompt_len;
            self.plan.prefill_done.push(id);
        }
    }

    /// One token for every decoding sequence; preempts the youngest while KV blocks run short.
    fn add_decode(&mut self, reqs: &mut [ReqState], shape: &mut BatchShape) {
        if self.spec.is_some() {
            self.reserve_lookahead(reqs);
        } else if !self.reserve_full {
            loop {
                let need = self.blocks_needed_now();
                if self.used_blocks + need <= self.total_blocks || self.decoding.is_empty() {
                    break;
                }
                self.preempt_youngest(reqs);
            }
            if self.decoding.is_empty() {
                return;
            }
            self.used_blocks += self.blocks_needed_now();
        }
        let seqs = self.decoding.len() as u32 + self.pad_rows;
        shape.decode_seqs += seqs;
        shape.decode_ctx_tokens += self.ctx_sum;
        if let Some((&off, _)) = self.ctx_offsets.last_key_value() {
            shape.decode_max_ctx = shape.decode_max_ctx.max((off + self.counter as i64) as u64);
        }
        self.plan.decode_seqs = seqs;
    }

    /// Blocks a waiting request claims when admitted: its prompt, or (reserving) its whole
    /// remaining length.
    fn admission_blocks(&self, r: &ReqState) -> u64 {
        if self.reserve_full {
            self.blocks_for((r.prompt_len + r.output - r.generated) as u64)
        } else {
            self.blocks_for(r.prompt_len as u64)
        }
    }

    fn key_now(&self) -> usize {
        let b = self.cfg.block_tokens as u64;
        ((b - self.counter % b) % b) as usize
    }

    fn blocks_needed_now(&self) -> u64 {
        self.crossing[self.key_now()] as u64
    }

    fn ctx_next(&self, r: &ReqState) -> u64 {
        r.ctx_join + (self.counter - r.step_join)
    }

    fn crossing_key(&self, r: &ReqState) -> usize {
        let b = self.cfg.block_tokens as u64;
        ((r.ctx_join - 1 + b - r.step_join % b) % b) as usize
    }

    fn remove_decoding(&mut self, id: RequestId, reqs: &mut [ReqState]) -> u64 {
        let r = &reqs[id.index()];
        let pos = r.pos as usize;
        let ctx = self.ctx_next(r);
        let key = self.crossing_key(r);
        let off = r.ctx_join as i64 - r.step_join as i64;
        self.decoding.swap_remove(pos);
        if let Some(&moved) = self.decoding.get(pos) {
            reqs[moved.index()].pos = pos as u32;
        }
        self.ctx_sum -= ctx;
        if !self.reserve_full {
            self.crossing[key] -= 1;
        }
        // Static batches keep finished rows (and their context) until the batch ends.
        if self.cfg.kind != SchedulerKind::Static {
            if let Some(n) = self.ctx_offsets.get_mut(&off) {
                *n -= 1;
                if *n == 0 {
                    self.ctx_offsets.remove(&off);
                }
            }
        }
        reqs[id.index()].epoch += 1;
        ctx
    }

    /// Preempts the running sequence of lowest priority, youngest first. By recompute (vLLM's
    /// default) it frees its KV and goes back to the queue to prefill prompt + generated tokens
    /// again; by swap its KV is copied to host memory (the copy blocks this step) and comes
    /// back over the host link before any new prompt is admitted.
    fn preempt_youngest(&mut self, reqs: &mut [ReqState]) {
        let Some(&victim) = self
            .decoding
            .iter()
            .max_by_key(|id| (reqs[id.index()].priority, reqs[id.index()].seq))
        else {
            return;
        };
        let ctx = self.remove_decoding(victim, reqs);
        let cached = ctx - 1;
        self.used_blocks -= self.blocks_for(cached);
        self.unpin_prefix(victim, reqs);
        self.fresh.retain(|&f| f != victim);
        let last_decode_end = self.last_decode_end;
        let r = &mut reqs[victim.index()];
        // Tokens decoded since the sequence joined: the KV beyond its (re)prefilled prompt.
        r.generated += (cached - r.prompt_len as u64) as u32;
        r.last_token = r.last_token.max(last_decode_end);
        r.preemptions += 1;
        self.stats.preemptions += 1;
        self.preempted_now = true;
        let bytes = cached as f64 * self.swap_bytes_per_token;
        if self.cfg.preemption == PreemptionMode::Swap && self.host_used_bytes + bytes <= self.host_capacity_bytes {
            r.prompt_len = cached as u32;
            r.prefilled = r.prompt_len;
            let key = (r.priority, r.seq);
            self.host_used_bytes += bytes;
            self.swap_copy(bytes);
            self.swapped.insert(key, victim);
        } else {
            r.prompt_len = r.input + r.generated;
            r.prefilled = 0;
            r.blocks = 0;
            r.recomputing = true;
            self.waiting.insert((r.priority, r.seq), victim);
        }
    }

    fn join_decode(&mut self, id: RequestId, reqs: &mut [ReqState]) {
        let counter = self.counter;
        let r = &mut reqs[id.index()];
        r.ctx_join = r.prompt_len as u64 + 1;
        r.step_join = counter;
        r.pos = self.decoding.len() as u32;
        let finish_at = counter + (r.output - r.generated) as u64;
        let (epoch, ctx) = (r.epoch, r.ctx_join);
        self.ctx_sum += ctx;
        *self.ctx_offsets.entry(ctx as i64 - counter as i64).or_insert(0) += 1;
        let key = self.crossing_key(&reqs[id.index()]);
        if !self.reserve_full {
            self.crossing[key] += 1;
        }
        self.decoding.push(id);
        if self.spec.is_none() {
            self.finish.push(Reverse((finish_at, id.0, epoch)));
        }
        self.fresh.push(id);
    }

    fn release(&mut self, id: RequestId, reqs: &mut [ReqState], kv_tokens: u64) {
        self.unpin_prefix(id, reqs);
        let r = &reqs[id.index()];
        let blocks = if self.reserve_full {
            r.blocks as u64
        } else {
            self.blocks_for(kv_tokens)
        };
        self.used_blocks -= blocks;
        self.outstanding_requests -= 1;
        self.outstanding_tokens -= (r.input + r.output) as u64;
    }

    /// Applies the step that ends at `now`: tokens, first tokens, completions.
    pub fn finish_step(&mut self, now: SimTime, reqs: &mut [ReqState], out: &mut StepOutcome) {
        out.first_tokens.clear();
        out.completed.clear();
        out.itl.clear();
        out.handoff.clear();
        self.busy = false;
        if self.plan.decode_seqs > 0 && self.spec.is_some() {
            self.finish_speculative(now, reqs, out);
        } else if self.plan.decode_seqs > 0 {
            // Decode part: every decoding sequence produced one token.
            self.stats.output_tokens += self.decoding.len() as u64;
            self.record_decode_gaps(now, reqs, out);
            self.counter += 1;
            self.ctx_sum += self.plan.decode_seqs as u64;
            while let Some(&Reverse((at, raw, epoch))) = self.finish.peek() {
                if at > self.counter {
                    break;
                }
                self.finish.pop();
                let id = RequestId(raw);
                if reqs[id.index()].epoch != epoch {
                    continue; // preempted since; a stale entry
                }
                let ctx = self.remove_decoding(id, reqs);
                if self.cfg.kind == SchedulerKind::Static {
                    // The finished row keeps padding the batch until the batch ends.
                    self.pad_rows += 1;
                    self.ctx_sum += ctx;
                }
                let r = &mut reqs[id.index()];
                r.generated = r.output;
                self.release(id, reqs, ctx - 1);
                out.completed.push(id);
            }
            if self.cfg.kind == SchedulerKind::Static && self.decoding.is_empty() {
                self.pad_rows = 0;
                self.ctx_sum = 0;
                self.ctx_offsets.clear();
            }
        }
        // Prefill part: prompts that completed produce their first (or next) token.
        self.stats.output_tokens += self.plan.prefill_done.len() as u64;
        for i in 0..self.plan.prefill_done.len() {
            let id = self.plan.prefill_done[i];
            let r = &mut reqs[id.index()];
            r.generated += 1;
            r.recomputing = false;
            r.last_token = now;
            let done = r.generated >= r.output;
            // A prefill replica's first token reaches the user with the KV cache's transfer.
            if r.first_token == NO_TIME && (done || !r.prefill_only) {
                r.first_token = now;
                out.first_tokens.push(id);
            }
            if done {
                let kv = r.prompt_len as u64;
                self.release(id, reqs, kv);
                out.completed.push(id);
            } else if r.prefill_only {
                r.prefill_only = false;
                let kv = r.prompt_len as u64;
                self.release(id, reqs, kv);
                out.handoff.push(id);
            } else {
                self.join_decode(id, reqs);
            }
        }
    }
}

/// The invariant audit (`RunOptions::audit`): recomputes from the running sequences what the
/// O(1) counters claim. O(running sequences + finishing heap) per call, for tests and debugging;
/// nothing calls it when the audit is off.
impl Replica {
    /// Checks KV blocks (never beyond the cache; equal to the blocks the running sequences hold),
    /// the context sum, the block-crossing histogram, the context offsets, the finishing heap,
    /// batch positions, outstanding counts and prefix-cache pins. Between a step's plan and its
    /// end (`is_busy`), the step's prompts and its decode tokens' blocks are held as well.
    pub fn audit(&self, reqs: &[ReqState]) -> Result<(), String> {
        let fail = |what: String| Err(format!("replica {}: {what}", self.id.0));
        if self.used_blocks > self.total_blocks {
            return fail(format!("{} KV blocks used of {}", self.used_blocks, self.total_blocks));
        }
        let in_flight: &[RequestId] = if self.busy { &self.plan.prefill_done } else { &[] };
        // A planned decode step has claimed the block of the token it is producing.
        let decoding_now = u64::from(self.busy && self.plan.decode_seqs > 0 && self.spec.is_none());
        let bt = self.cfg.block_tokens as usize;
        let mut blocks = self.spec_reserved;
        let mut ctx_sum = 0u64;
        let mut crossing = vec![0u32; bt];
        let mut offsets: BTreeMap<i64, u32> = BTreeMap::new();
        let live: std::collections::HashMap<(u32, u32), u64> = self
            .finish
            .iter()
            .map(|&Reverse((at, raw, epoch))| ((raw, epoch), at))
            .collect();
        for (i, &id) in self.decoding.iter().enumerate() {
            let r = &reqs[id.index()];
            if r.pos as usize != i || r.replica != self.id {
                return fail(format!(
                    "decoding request {} at position {i} says pos {} on replica {}",
                    r.seq, r.pos, r.replica.0
                ));
            }
            let ctx = self.ctx_next(r);
            ctx_sum += ctx;
            *offsets.entry(r.ctx_join as i64 - r.step_join as i64).or_insert(0) += 1;
            if self.reserve_full {
                blocks += r.blocks as u64;
            } else {
                blocks += self.blocks_for(ctx - 1 + decoding_now);
                crossing[self.crossing_key(r)] += 1;
            }
            let kv = ctx - 1;
            let done = r.generated as u64 + (kv - r.prompt_len as u64);
            if done >= r.output as u64 {
                return fail(format!(
                    "request {} still decoding with {done} of {} tokens produced",
                    r.seq, r.output
                ));
            }
            if self.spec.is_none() {
                let finish_at = r.step_join + (r.output - r.generated) as u64;
                if live.get(&(id.0, r.epoch)) != Some(&finish_at) {
                    return fail(format!(
                        "request {} (epoch {}) should finish at decode step {finish_at}, the heap has {:?}",
                        r.seq,
                        r.epoch,
                        live.get(&(id.0, r.epoch))
                    ));
                }
            }
        }
        for &id in self.prefilling.iter().chain(in_flight) {
            let r = &reqs[id.index()];
            blocks += r.blocks as u64;
            if !self.reserve_full && !in_flight.contains(&id) && r.blocks as u64 != self.blocks_for(r.prefilled as u64)
            {
                return fail(format!(
                    "request {} holds {} blocks for {} prefilled tokens",
                    r.seq, r.blocks, r.prefilled
                ));
            }
        }
        if blocks != self.used_blocks {
            return fail(format!(
                "used_blocks = {} but the running sequences hold {blocks}",
                self.used_blocks
            ));
        }
        if self.cfg.kind == SchedulerKind::Static {
            // Finished rows keep padding the batch (and its context) until it ends.
            if ctx_sum > self.ctx_sum || (self.pad_rows == 0 && ctx_sum != self.ctx_sum) {
                return fail(format!(
                    "ctx_sum = {} with {} padding rows, sequences sum to {ctx_sum}",
                    self.ctx_sum, self.pad_rows
                ));
            }
            if let Some((off, n)) = offsets
                .iter()
                .find(|(o, n)| self.ctx_offsets.get(o).is_none_or(|m| m < n))
            {
                return fail(format!("context offset {off} (×{n}) missing from the multiset"));
            }
        } else {
            if ctx_sum != self.ctx_sum {
                return fail(format!(
                    "ctx_sum = {} but the decoding sequences sum to {ctx_sum}",
                    self.ctx_sum
                ));
            }
            if offsets != self.ctx_offsets {
                return fail(format!(
                    "context offsets {:?}, recomputed {offsets:?}",
                    self.ctx_offsets
                ));
            }
        }
        if crossing != self.crossing {
            return fail(format!(
                "block-crossing histogram {:?}, recomputed {crossing:?}",
                self.crossing
            ));
        }
        let held = self.waiting.len()
            + self.swapped.len()
            + self.incoming.len()
            + self.prefilling.len()
            + self.decoding.len()
            + in_flight.len();
        // Requests whose KV is still on its way here count as outstanding but sit in no queue.
        if (self.outstanding_requests as usize) < held {
            return fail(format!(
                "{} outstanding requests but {held} in queues and batch",
                self.outstanding_requests
            ));
        }
        if let Some(c) = &self.prefix {
            let queued = self.waiting.values().chain(self.swapped.values()).chain(&self.incoming);
            if let Some(&id) = queued.clone().find(|id| reqs[id.index()].cache_pinned) {
                return fail(format!(
                    "request {} pins prefix-cache blocks while not running",
                    reqs[id.index()].seq
                ));
            }
            let running = self.prefilling.iter().chain(in_flight).chain(&self.decoding);
            let pins: u64 = running
                .map(|id| &reqs[id.index()])
                .filter(|r| r.cache_pinned)
                .map(|r| r.prompt_blocks.as_ref().map_or(0, |b| b.len() as u64))
                .sum();
            if c.pinned_blocks() != pins {
                return fail(format!(
                    "prefix cache holds {} pins, running requests pin {pins} blocks",
                    c.pinned_blocks()
                ));
            }
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
        if self.used_blocks != 0 || self.spec_reserved != 0 {
            return fail(format!(
                "{} KV blocks still used ({} speculative)",
                self.used_blocks, self.spec_reserved
            ));
        }
        if self.outstanding_requests != 0 || self.outstanding_tokens != 0 {
            return fail(format!(
                "{} requests / {} tokens still outstanding",
                self.outstanding_requests, self.outstanding_tokens
            ));
        }
        // Less than one token's KV left in host swap space (float sums of equal byte counts).
        if self.host_used_bytes > self.swap_bytes_per_token.max(1.0) {
            return fail(format!("{} bytes still swapped out", self.host_used_bytes));
        }
        if let Some(c) = self.prefix.as_ref().filter(|c| c.pinned_blocks() > 0) {
            return fail(format!("{} prefix-cache blocks still pinned", c.pinned_blocks()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtype::{Dtype, WeightFormat};
    use crate::hw::Catalog;
    use crate::model::builtin_presets;
    use crate::perf::{Parallelism, Precision};

    fn replica(kind: SchedulerKind) -> Replica {
        let hw = Catalog::builtin().unwrap().hardware("p5.48xlarge").unwrap();
        let model = builtin_presets()
            .unwrap()
            .into_iter()
            .find(|m| m.name == "llama-3.2-1b")
            .unwrap();
        let prec = Precision {
            weights: Dtype::Bf16,
            compute: Dtype::Bf16,
            kv_cache: Dtype::Bf16,
            activations: Dtype::Bf16,
            weight_format: WeightFormat::Plain,
        };
        let perf = PerfModel::new(&hw, &model, Parallelism { tp: 1 }, prec, 0.1, "test").unwrap();
        let cfg = SchedulerConfig {
            kind,
            max_batch: 8,
            max_batched_tokens: 64,
            block_tokens: 16,
            kv_admission: KvAdmission::Optimistic,
            preemption: PreemptionMode::Recompute,
            max_queue: None,
        };
        Replica::new(ReplicaId(0), Arc::new(perf), cfg)
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
                audited_decoding |= !r.decoding.is_empty();
                now = now.after(cost.total_ns);
                for corrupt in 0..3 {
                    let (used, ctx, crossing) = (r.used_blocks, r.ctx_sum, r.crossing.clone());
                    match corrupt {
                        0 => r.used_blocks += 1,
                        1 if !r.decoding.is_empty() => r.ctx_sum += 1,
                        2 if !r.decoding.is_empty() && kind != SchedulerKind::Static => r.crossing[0] += 1,
                        _ => continue,
                    }
                    assert!(r.audit(&reqs).is_err(), "{kind:?}: corruption {corrupt} not caught");
                    (r.used_blocks, r.ctx_sum, r.crossing) = (used, ctx, crossing);
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
