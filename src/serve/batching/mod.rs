//! Batching policies: what goes into a replica's next step. Each policy is one file; this is the
//! one place they are dispatched (a plain `match`, no trait objects on the hot path: DESIGN.md
//! invariant 4). The policy decides; the replica owns the mechanics (queues, KV blocks, decode
//! bookkeeping, preemption).
//!
//! Adding a policy: a file here with its `fill_step` and its `TRAITS`, and an arm in
//! `SchedulerKind` and in the two matches below.

mod chunked;
mod continuous;
mod static_batch;

use super::ReqState;
use super::replica::Replica;
use crate::engine::SimTime;
use crate::perf::BatchShape;
use serde::{Deserialize, Serialize};

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

/// What the replica's mechanics must know about a policy.
#[derive(Debug, Clone, Copy)]
pub struct PolicyTraits {
    /// KV blocks for a request's whole length are reserved at admission, whatever the
    /// scenario's `kv_admission`: no per-token blocks, no preemption.
    pub reserves_whole_length: bool,
    /// Finished sequences keep padding the batch (their rows and context) until it ends.
    pub pads_finished_rows: bool,
    /// A batch is formed only when the replica is idle: swapped-out and arrived sequences do
    /// not join a batch in progress.
    pub forms_batch_when_idle: bool,
}

impl SchedulerKind {
    pub fn traits(self) -> PolicyTraits {
        match self {
            SchedulerKind::Continuous => continuous::TRAITS,
            SchedulerKind::Chunked => chunked::TRAITS,
            SchedulerKind::Static => static_batch::TRAITS,
        }
    }
}

impl Replica {
    /// Fills the step being planned (`admit_new`: new prompts may be admitted).
    pub(super) fn fill_step(&mut self, now: SimTime, reqs: &mut [ReqState], shape: &mut BatchShape, admit_new: bool) {
        match self.cfg.kind {
            SchedulerKind::Continuous => continuous::fill_step(self, now, reqs, shape, admit_new),
            SchedulerKind::Chunked => chunked::fill_step(self, now, reqs, shape, admit_new),
            SchedulerKind::Static => static_batch::fill_step(self, now, reqs, shape),
        }
    }
}
