//! One request in flight, grouped by what its fields are: who it is and how long (set once, when
//! it is routed), where it is in its life (`Phase`), its progress, its timestamps, the replica's
//! decode bookkeeping and its prompt's prefix-cache data. Only `serve` writes the last four.

use super::attribution::Ledger;
use super::{NO_TIME, ReplicaId};
use crate::engine::SimTime;
use std::sync::Arc;

/// Where a request is in its life on its current replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Phase {
    /// In the waiting queue: new, or preempted by recompute (its KV dropped).
    #[default]
    Queued,
    /// Admitted: its prompt (or its recompute) is being prefilled, possibly in chunks.
    Prefilling,
    /// In the decode batch, one token (or a speculative run) per decode step.
    Decoding,
    /// Preempted by swap: its KV waits in host memory to come back.
    Swapped,
    /// Its prompt was prefilled elsewhere: its KV cache is on its way to (or has reached) this
    /// decode replica and waits for blocks and a batch slot.
    Transferring,
    /// Every token produced; its slot is about to be reused.
    Done,
}

/// How far the request got.
#[derive(Debug, Clone)]
pub struct Progress {
    /// Tokens the current (re)prefill must process: the prompt, or prompt + generated tokens
    /// after a preemption by recompute.
    pub prompt_len: u32,
    pub prefilled: u32,
    pub generated: u32,
    pub preemptions: u32,
    /// The current prefill recomputes KV that was dropped by a preemption.
    pub recomputing: bool,
    /// KV blocks held, where tracked per request (prefill, static reservations).
    pub blocks: u32,
}

/// When the request reached the milestones of its life.
#[derive(Debug, Clone, Copy)]
pub struct Timestamps {
    pub scheduled: SimTime,
    pub first_token: SimTime,
    /// When the last token was delivered (the start of the next inter-token gap).
    pub last_token: SimTime,
}

impl Timestamps {
    /// No milestone reached yet.
    pub const NONE: Timestamps = Timestamps {
        scheduled: NO_TIME,
        first_token: NO_TIME,
        last_token: NO_TIME,
    };
}

impl Progress {
    /// A new request's: its prompt to prefill, nothing done.
    fn of_prompt(prompt_len: u32) -> Progress {
        Progress {
            prompt_len,
            prefilled: 0,
            generated: 0,
            preemptions: 0,
            recomputing: false,
            blocks: 0,
        }
    }
}

/// Decode bookkeeping: the context of the next decode step is ctx_join + (counter − step_join)
/// (see `decode.rs`); `epoch` tells stale finishing-wheel entries apart, `pos` is the index in
/// the decode batch.
#[derive(Debug, Clone, Copy, Default)]
pub struct DecodeSlot {
    pub ctx_join: u64,
    pub step_join: u64,
    pub epoch: u32,
    pub pos: u32,
}

/// The prompt as seen by the prefix caches.
#[derive(Debug, Clone, Default)]
pub struct PromptCache {
    /// The prompt's block hashes, when a prefix cache is on (trace `hash_ids` or synthetic).
    pub hashes: Option<Arc<[u64]>>,
    /// Leading prompt blocks the cluster's remote KV tier held when the request was routed.
    pub remote_blocks: u32,
    /// Its blocks are pinned in its replica's prefix cache.
    pub(super) pinned: bool,
}

/// One request in flight.
#[derive(Debug, Clone)]
pub struct ReqState {
    /// Order of arrival (the FCFS and preemption order).
    pub seq: u64,
    pub arrival: SimTime,
    pub input: u32,
    /// The true output length: the engine generates until it (as if at EOS), and nothing may
    /// act on it before the request ends (INV-12). Never above `max_tokens`.
    pub output: u32,
    /// What the engine knows of the output before the end: the most it may generate (the
    /// client's `max_tokens`, or the engine's default). Routing, admission and the fit check
    /// read this, never `output`.
    pub max_tokens: u32,
    /// A prediction of its output length that came with it (a trace's `predicted_output`
    /// column: the user's predictor), read only by `serving.sjf_predictor = "trace"`.
    pub predicted_output: Option<u32>,
    /// Workload class (index into the scenario's classes) and its priority (lower runs first).
    pub class: u16,
    pub priority: u32,
    /// Prefix key for prefix-affinity routing (first prompt block), if known.
    pub prefix: Option<u64>,
    /// The closed-loop client that sent it, if any.
    pub client: Option<u32>,
    /// Runs on a prefill replica: after its prefill the KV cache leaves for a decode replica.
    pub prefill_only: bool,
    /// The prompt's prefix-cache data (set by the simulation when the request is routed).
    pub cache: PromptCache,
    /// The LoRA adapter it runs with (`serving.lora`), if any.
    pub adapter: Option<u32>,
    /// Its adapter holds a slot on its replica (from admission until it stops running).
    pub(super) adapter_held: bool,
    /// Images it carries (`workload.multimodal`): encoded in the step its prefill starts.
    pub images: u16,
    /// Its media's content hash, for the encoder cache (`workload.multimodal.repeat_share`).
    pub media_hash: u64,
    pub(super) replica: ReplicaId,
    pub(super) phase: Phase,
    pub(super) progress: Progress,
    pub(super) times: Timestamps,
    pub(super) slot: DecodeSlot,
    /// KV blocks the sequence holds besides its growing KV: its local layers' window and its
    /// linear layers' state, charged from admission to release at the bound for its prompt +
    /// `max_tokens` (`KvBlocks::bounded_blocks`); 0 for a full-attention model.
    pub(super) kv_fixed_blocks: u32,
    /// Its key in its replica's waiting queue, set when it first joins it (`queue_order.rs`).
    pub(super) queue_key: Option<(u64, u64)>,
    /// Where its time went so far (latency attribution).
    pub ledger: Ledger,
}

impl ReqState {
    /// A request whose `max_tokens` is its true output until the caller sets it.
    pub fn new(seq: u64, arrival: SimTime, input: u32, output: u32, client: Option<u32>) -> ReqState {
        ReqState {
            seq,
            arrival,
            input,
            output,
            max_tokens: output,
            predicted_output: None,
            class: 0,
            priority: 0,
            prefix: None,
            client,
            prefill_only: false,
            cache: PromptCache::default(),
            adapter: None,
            adapter_held: false,
            images: 0,
            media_hash: 0,
            replica: ReplicaId(0),
            phase: Phase::Queued,
            progress: Progress::of_prompt(input),
            times: Timestamps::NONE,
            slot: DecodeSlot::default(),
            kv_fixed_blocks: 0,
            queue_key: None,
            ledger: Ledger::default(),
        }
    }

    /// A new request in the table slot this one held, written field by field in place (a
    /// request's state is a few hundred bytes, and every request is routed once): what
    /// [`ReqState::new`] builds, except that its decode epoch continues the old one's, so a
    /// finishing entry the old request left behind (it was cancelled mid-decode) never matches
    /// it. The pattern names every field, so a new field cannot be left stale.
    pub fn renew(&mut self, seq: u64, arrival: SimTime, input: u32, output: u32, client: Option<u32>) {
        let ReqState {
            seq: seq_,
            arrival: arrival_,
            input: input_,
            output: output_,
            max_tokens,
            predicted_output,
            class,
            priority,
            prefix,
            client: client_,
            prefill_only,
            cache,
            adapter,
            adapter_held,
            images,
            media_hash,
            replica,
            phase,
            progress,
            times,
            slot,
            kv_fixed_blocks,
            queue_key,
            ledger,
        } = self;
        *seq_ = seq;
        *arrival_ = arrival;
        *input_ = input;
        *output_ = output;
        *max_tokens = output;
        *predicted_output = None;
        *class = 0;
        *priority = 0;
        *prefix = None;
        *client_ = client;
        *prefill_only = false;
        cache.hashes = None;
        cache.remote_blocks = 0;
        cache.pinned = false;
        *adapter = None;
        *adapter_held = false;
        *images = 0;
        *media_hash = 0;
        *replica = ReplicaId(0);
        *phase = Phase::Queued;
        *progress = Progress::of_prompt(input);
        *times = Timestamps::NONE;
        *slot = DecodeSlot {
            epoch: slot.epoch.wrapping_add(1),
            ..DecodeSlot::default()
        };
        *kv_fixed_blocks = 0;
        *queue_key = None;
        *ledger = Ledger::default();
    }

    /// The replica it was last routed to.
    pub fn replica(&self) -> ReplicaId {
        self.replica
    }
    pub fn phase(&self) -> Phase {
        self.phase
    }
    pub fn progress(&self) -> &Progress {
        &self.progress
    }
    pub fn times(&self) -> &Timestamps {
        &self.times
    }

    /// It is scheduled for the first time at `now` (a later re-admission keeps the first time).
    pub(super) fn note_scheduled(&mut self, now: SimTime) {
        if self.times.scheduled == NO_TIME {
            self.times.scheduled = now;
        }
    }

    /// Its KV cache reached its decode replica at `now`: the first token reaches the user with
    /// it, and the next inter-token gap starts.
    pub fn kv_arrived(&mut self, now: SimTime) {
        self.times.first_token = now;
        self.times.last_token = now;
        self.ledger.kv_arrived(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::attribution::Segment;

    /// A slot renewed in place holds exactly what a new request would, every field of it, but
    /// for its decode epoch, which continues the old request's.
    #[test]
    fn a_renewed_slot_is_a_new_request_with_the_next_epoch() {
        let mut old = ReqState::new(7, SimTime(5), 100, 20, Some(3));
        // Everything a request's life writes, set to something else.
        old.max_tokens = 64;
        old.predicted_output = Some(9);
        old.class = 2;
        old.priority = 4;
        old.prefix = Some(11);
        old.prefill_only = true;
        old.cache.hashes = Some(Arc::from(vec![1u64, 2, 3]));
        old.cache.remote_blocks = 2;
        old.cache.pinned = true;
        old.adapter = Some(1);
        old.adapter_held = true;
        old.images = 2;
        old.media_hash = 99;
        old.replica = ReplicaId(5);
        old.phase = Phase::Done;
        old.progress.generated = 20;
        old.progress.prefilled = 100;
        old.progress.preemptions = 1;
        old.progress.recomputing = true;
        old.progress.blocks = 8;
        old.times.first_token = SimTime(50);
        old.times.scheduled = SimTime(10);
        old.times.last_token = SimTime(80);
        old.slot = DecodeSlot {
            ctx_join: 101,
            step_join: 4,
            epoch: u32::MAX,
            pos: 6,
        };
        old.kv_fixed_blocks = 3;
        old.queue_key = Some((1, 2));
        old.ledger.routed(SimTime(5), SimTime(9), 2, 0);
        old.ledger.enter(SimTime(20), Segment::Done, &Default::default());

        old.renew(8, SimTime(30), 200, 40, None);
        let mut fresh = ReqState::new(8, SimTime(30), 200, 40, None);
        assert_eq!(old.slot.epoch, 0, "the epoch wraps past u32::MAX");
        fresh.slot.epoch = old.slot.epoch;
        assert_eq!(format!("{old:?}"), format!("{fresh:?}"));
    }
}
