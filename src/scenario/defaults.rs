//! Every default of the scenario file, in one place. `scenarios/README.md` lists the same.

use crate::dtype::Dtype;
use crate::serve::router::RoutingPolicy;
use crate::serve::{KvLink, PreemptionMode, SchedulerKind};

/// The random seed of a run.
pub fn seed() -> u64 {
    42
}
/// Weight storage dtype.
pub fn weights() -> Dtype {
    Dtype::Bf16
}
/// KV-cache dtype.
pub fn kv_cache() -> Dtype {
    Dtype::Bf16
}
/// Tensor-parallel ranks per replica.
pub fn tp() -> u32 {
    1
}
/// Data-parallel replicas.
pub fn replicas() -> u32 {
    1
}
/// vLLM-style FCFS continuous batching.
pub fn scheduler() -> SchedulerKind {
    SchedulerKind::Continuous
}
/// vLLM's default `max_num_seqs`.
pub fn max_batch() -> u32 {
    256
}
/// Token budget of one step (vLLM's chunked-prefill default is 8192 on large GPUs).
pub fn max_batched_tokens() -> u32 {
    8192
}
/// vLLM's default KV block size.
pub fn block_tokens() -> u32 {
    16
}
/// vLLM's default `gpu_memory_utilization` is 0.9: 10 % of HBM stays out of the KV cache.
pub fn kv_reserve_fraction() -> f64 {
    0.10
}
pub fn routing() -> RoutingPolicy {
    RoutingPolicy::LeastOutstanding
}
/// Pipeline-parallel stages per replica.
pub fn pp() -> u32 {
    1
}
/// vLLM's default: preemption by recompute.
pub fn preemption() -> PreemptionMode {
    PreemptionMode::Recompute
}
/// KV caches move between prefill and decode instances over EFA.
pub fn kv_link() -> KvLink {
    KvLink::Efa
}
/// vLLM-style: KV blocks allocated as sequences grow, preemption when they run out.
pub fn kv_admission() -> crate::serve::KvAdmission {
    crate::serve::KvAdmission::Optimistic
}
/// No expert parallelism: every rank holds a TP shard of every expert.
pub fn ep() -> u32 {
    1
}

pub fn attention_dp() -> u32 {
    1
}
