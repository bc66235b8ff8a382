//! Sarathi-Serve chunked prefill, decode-first: decode tokens first, then prompt chunks up to
//! the token budget, in one mixed step.

use super::PolicyTraits;
use crate::engine::SimTime;
use crate::perf::BatchShape;
use crate::serve::replica::Replica;
use crate::serve::{ReqState, RequestId};

pub const TRAITS: PolicyTraits = PolicyTraits {
    reserves_whole_length: false,
    pads_finished_rows: false,
    forms_batch_when_idle: false,
};

pub fn fill_step(r: &mut Replica, now: SimTime, reqs: &mut [ReqState], shape: &mut BatchShape, admit_new: bool) {
    if !r.batch.is_empty() {
        r.add_decode(reqs, shape);
    }
    add_chunks(r, now, reqs, shape, admit_new);
}

/// Continue partial prompts, then admit new ones, in chunks up to the budget left after the
/// decode tokens.
fn add_chunks(rep: &mut Replica, now: SimTime, reqs: &mut [ReqState], shape: &mut BatchShape, admit_new: bool) {
    let budget = rep.cfg.max_batched_tokens as u64;
    let mut i = 0;
    loop {
        let used = shape.tokens();
        if used >= budget {
            break;
        }
        let admitting = i >= rep.prefilling.len();
        let Some(id) = next_prompt(rep, reqs, i, admit_new) else {
            break;
        };
        if admitting && rep.preempted_now {
            break;
        }
        let Some((chunk, blocks)) = chunk_that_fits(rep, &reqs[id.index()], admitting, budget - used) else {
            break;
        };
        if admitting {
            rep.prefilling.push_back(id);
            rep.admit_waiting(id, reqs);
        }
        rep.kv.claim(blocks);
        let r = &mut reqs[id.index()];
        r.note_scheduled(now);
        let p = &mut r.progress;
        p.blocks += blocks as u32;
        if p.recomputing {
            rep.plan.recompute_tokens += chunk;
        }
        shape.add_prefill(chunk, p.prefilled as u64);
        rep.plan.chunks.push((id, chunk as u32));
        p.prefilled += chunk as u32;
        if p.prefilled == p.prompt_len {
            rep.prefill_completes(id);
        }
        i += 1;
    }
    // Prompts finished this step leave the prefilling queue (they are at its front, in order).
    let done = rep.plan.prefill_done.len();
    for _ in 0..done {
        rep.prefilling.pop_front();
    }
}

/// The `i`-th prompt of this step: a partial prompt, or the head of the waiting queue while new
/// prompts may be admitted and a batch slot is free.
fn next_prompt(rep: &Replica, reqs: &[ReqState], i: usize, admit_new: bool) -> Option<RequestId> {
    if i < rep.prefilling.len() {
        return Some(rep.prefilling[i]);
    }
    match rep.waiting_front(reqs) {
        Some(id) if admit_new && rep.batch_slot_free() => Some(id),
        _ => None,
    }
}

/// The prompt's next chunk within `room` tokens and the KV blocks it claims, if they fit.
fn chunk_that_fits(rep: &Replica, r: &ReqState, admitting: bool, room: u64) -> Option<(u64, u64)> {
    let p = &r.progress;
    // A new prompt starts after its cached prefix, whose blocks it claims with its chunk.
    let start = if admitting {
        (p.prefilled as u64).max(rep.cached_prefix_tokens(r))
    } else {
        p.prefilled as u64
    };
    let held = if admitting { 0 } else { rep.kv.blocks_for(start) };
    let chunk = (p.prompt_len as u64 - start).min(room);
    let (blocks, reserve) = match (rep.kv.reserves_full_length(), admitting) {
        (true, true) => (rep.kv.admission_blocks(r), rep.watermark()),
        (true, false) => (0, 0),
        (false, a) => (
            rep.kv.blocks_for(start + chunk) - held + if a { r.kv_fixed_blocks as u64 } else { 0 },
            if a { rep.watermark() } else { 0 },
        ),
    };
    rep.kv.fits(blocks, reserve).then_some((chunk, blocks))
}
