//! vLLM (v0) continuous batching, prefill-first: a step runs either new prompts' prefills or one
//! decode token for every running sequence.

use super::PolicyTraits;
use crate::engine::SimTime;
use crate::perf::BatchShape;
use crate::serve::ReqState;
use crate::serve::replica::Replica;

pub const TRAITS: PolicyTraits = PolicyTraits {
    reserves_whole_length: false,
    pads_finished_rows: false,
    forms_batch_when_idle: false,
};

pub fn fill_step(r: &mut Replica, now: SimTime, reqs: &mut [ReqState], shape: &mut BatchShape, admit_new: bool) {
    if admit_new {
        admit_whole_prompts(r, now, reqs, shape);
    }
    if shape.prefill_seqs == 0 && !r.batch.is_empty() {
        r.add_decode(reqs, shape);
    }
}

/// vLLM v0: admit whole prompts FCFS while batch slots, the token budget and KV blocks last.
fn admit_whole_prompts(rep: &mut Replica, now: SimTime, reqs: &mut [ReqState], shape: &mut BatchShape) {
    while let Some(id) = rep.waiting_front(reqs) {
        let r = &reqs[id.index()];
        let p = &r.progress;
        let need = (p.prompt_len as u64 - p.prefilled as u64).min(p.prompt_len as u64 - rep.cached_prefix_tokens(r));
        let running = rep.batch.len() + shape.prefill_seqs as usize;
        if running >= rep.cfg.max_batch as usize {
            break;
        }
        if shape.prefill_seqs > 0 && shape.prefill_tokens + need > rep.cfg.max_batched_tokens as u64 {
            break;
        }
        let watermark = rep.watermark();
        if !rep.admit_whole(id, reqs, now, watermark) {
            break;
        }
        let p = &mut reqs[id.index()].progress;
        if p.recomputing {
            rep.plan.recompute_tokens += need;
        }
        shape.add_prefill(need, p.prefilled as u64);
        rep.plan.chunks.push((id, need as u32));
        p.prefilled = p.prompt_len;
        rep.prefill_completes(id);
    }
}
