//! Static batching (Transformers NeuronX, early TensorRT): a batch is formed when the replica is
//! idle and runs to completion, its finished sequences padding the batch.

use super::PolicyTraits;
use crate::engine::SimTime;
use crate::perf::BatchShape;
use crate::serve::ReqState;
use crate::serve::replica::Replica;

pub const TRAITS: PolicyTraits = PolicyTraits {
    reserves_whole_length: true,
    pads_finished_rows: true,
    forms_batch_when_idle: true,
};

pub fn fill_step(r: &mut Replica, now: SimTime, reqs: &mut [ReqState], shape: &mut BatchShape) {
    if r.batch.is_empty() {
        admit_batch(r, now, reqs, shape);
    } else {
        r.add_decode(reqs, shape);
    }
}

/// Take up to `max_batch` waiting requests, reserving KV for their whole length, and prefill
/// them together.
fn admit_batch(rep: &mut Replica, now: SimTime, reqs: &mut [ReqState], shape: &mut BatchShape) {
    rep.batch.start_padded_batch();
    while let Some(id) = rep.waiting_front(reqs) {
        if shape.prefill_seqs >= rep.cfg.max_batch {
            break;
        }
        if !rep.admit_whole(id, reqs, now, 0) {
            break;
        }
        let p = &mut reqs[id.index()].progress;
        let chunk = p.prompt_len - p.prefilled;
        shape.add_prefill(chunk as u64, p.prefilled as u64);
        rep.plan.chunks.push((id, chunk));
        p.prefilled = p.prompt_len;
        rep.prefill_completes(id);
    }
}
