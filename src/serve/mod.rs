//! Serving: a replica's scheduler and paged KV cache, and the router in front of the replicas.
//!
//! A replica (`replica.rs`) owns the mechanics of a step; a batching policy (`batching/`)
//! decides what goes into it. Its KV blocks (`kv.rs`), decode bookkeeping (`decode.rs`),
//! preemption (`preempt.rs`; its victim, `victim.rs`), queue order (`queue_order.rs`),
//! prefix-cache pins (`prefix_pin.rs`), speculative steps (`spec_step.rs`) and invariant audit (`audit.rs`) each have their file. A request's state is
//! `request.rs`; the router (`router/`) sees replicas only through their `ReplicaLoad`.

pub mod attribution;
mod audit;
pub mod batching;
mod cancel;
mod decode;
pub mod disagg;
pub mod encoder;
pub mod encoder_cache;
pub mod gateway;
mod kv;
pub mod kv_tiers;
mod kv_tiers_pin;
pub mod lora;
pub mod pipeline;
mod preempt;
pub mod prefix_cache;
mod prefix_pin;
pub mod queue_order;
pub mod replica;
mod request;
pub mod router;
pub mod spec;
mod spec_step;
pub mod victim;

pub use batching::SchedulerKind;
pub use kv::SwapSpace;
pub use queue_order::{Predictor, QueueOrder};
pub use request::{Phase, Progress, PromptCache, ReqState, Timestamps};
pub use victim::VictimChoice;

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
    /// The waiting queue's order (`serving.queue_order`).
    pub order: QueueOrder,
    /// Which running sequence a preemption takes (`serving.preemption_victim`).
    pub victim: VictimChoice,
    /// A waiting request of a higher class preempts running ones of lower classes
    /// (`serving.priority_preemption`).
    pub priority_preemption: bool,
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
