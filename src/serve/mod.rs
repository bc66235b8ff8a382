//! Serving: a replica's scheduler and paged KV cache, and the router in front of the replicas.

pub mod prefix_cache;
pub mod replica;
pub mod router;
pub mod spec;

use crate::engine::SimTime;
use serde::{Deserialize, Serialize};

crate::typed_id!(
    /// A slot in the table of requests in flight (slots are reused after completion).
    RequestId
);
crate::typed_id!(
    /// A replica of the model (one tensor-parallel group).
    ReplicaId
);

pub const NO_TIME: SimTime = SimTime(u64::MAX);

/// How a replica forms batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SchedulerKind {
    /// vLLM (v0) style: FCFS continuous batching; a step runs either new prompts' prefills
    /// (prefill-first) or one decode token for every running sequence.
    Continuous,
    /// Sarathi-Serve style: decode tokens first, then prompt chunks up to the token budget, in
    /// one mixed step.
    Chunked,
    /// Static batching: a batch is formed when the replica is idle and runs to completion, its
    /// finished sequences padding the batch (Transformers NeuronX, early TensorRT).
    Static,
}

/// What a replica does with a running sequence when its KV cache runs out of blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PreemptionMode {
    /// vLLM's default: drop the victim's KV; it prefills prompt + generated tokens again later.
    #[default]
    Recompute,
    /// Copy the victim's KV blocks to host memory over the host link and back when blocks free
    /// up (falls back to recompute when host memory is full).
    Swap,
}

/// When a request is admitted, how much KV cache it claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KvAdmission {
    /// vLLM: blocks for the prompt now, one more whenever a sequence crosses a block boundary;
    /// when they run out, the youngest sequence is preempted. New prompts need a 1 % watermark
    /// of free blocks, and a step that had to preempt admits no new prompt.
    #[default]
    Optimistic,
    /// TensorRT-LLM's GUARANTEED_NO_EVICT: blocks for prompt + maximum output at admission, so
    /// nothing is ever preempted.
    Reserve,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SchedulerConfig {
    pub kind: SchedulerKind,
    pub max_batch: u32,
    pub max_batched_tokens: u32,
    pub block_tokens: u32,
    pub kv_admission: KvAdmission,
    pub preemption: PreemptionMode,
    /// Requests a replica may hold waiting; an arrival beyond it is rejected (None: unbounded).
    pub max_queue: Option<u32>,
}

/// What the replicas of a pool do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PoolRole {
    /// Prefill and decode on the same replica.
    Unified,
    /// Prefill only; the KV cache then moves to a decode replica (disaggregation).
    Prefill,
    /// Decode only (receives KV caches from the prefill pool).
    Decode,
}

/// How KV caches travel from the prefill pool to the decode pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KvLink {
    /// Between instances, over EFA.
    #[default]
    Efa,
    /// Inside one instance, over the chip-to-chip link (NeuronLink, NVLink).
    Neuronlink,
}

/// One request in flight.
#[derive(Debug, Clone)]
pub struct ReqState {
    /// Order of arrival (the FCFS and preemption order).
    pub seq: u64,
    pub arrival: SimTime,
    pub input: u32,
    pub output: u32,
    /// Workload class (index into the scenario's classes) and its priority (lower runs first).
    pub class: u16,
    pub priority: u32,
    /// Prefix key for prefix-affinity routing (first prompt block), if known.
    pub prefix: Option<u64>,
    /// Runs on a prefill replica: after its prefill the KV cache leaves for a decode replica.
    pub prefill_only: bool,
    /// The current prefill recomputes KV that was dropped by a preemption.
    pub recomputing: bool,
    /// When the last token was delivered (the start of the next inter-token gap).
    pub last_token: SimTime,
    /// Tokens the current (re)prefill must process: the prompt, or prompt + generated tokens
    /// after a preemption by recompute.
    pub prompt_len: u32,
    pub prefilled: u32,
    pub generated: u32,
    pub scheduled: SimTime,
    pub first_token: SimTime,
    pub preemptions: u32,
    pub replica: ReplicaId,
    /// The closed-loop client that sent it, if any.
    pub client: Option<u32>,
    /// KV blocks held, where tracked per request (prefill, static reservations).
    pub blocks: u32,
    // Decode bookkeeping: the context of the next decode step is ctx_join + (counter − step_join).
    pub ctx_join: u64,
    pub step_join: u64,
    pub epoch: u32,
    pub pos: u32,
    /// The prompt's block hashes, when a prefix cache is on (trace `hash_ids` or synthetic).
    pub prompt_blocks: Option<std::sync::Arc<[u64]>>,
    /// Its blocks are pinned in its replica's prefix cache.
    pub cache_pinned: bool,
    /// Leading prompt blocks the cluster's remote KV tier held when the request was routed.
    pub remote_prefix_blocks: u32,
}

impl ReqState {
    pub fn new(seq: u64, arrival: SimTime, input: u32, output: u32, client: Option<u32>) -> ReqState {
        ReqState {
            seq,
            arrival,
            input,
            output,
            class: 0,
            priority: 0,
            prefix: None,
            prefill_only: false,
            recomputing: false,
            last_token: NO_TIME,
            prompt_len: input,
            prefilled: 0,
            generated: 0,
            scheduled: NO_TIME,
            first_token: NO_TIME,
            preemptions: 0,
            replica: ReplicaId(0),
            client,
            blocks: 0,
            ctx_join: 0,
            step_join: 0,
            epoch: 0,
            pos: 0,
            prompt_blocks: None,
            cache_pinned: false,
            remote_prefix_blocks: 0,
        }
    }
}
