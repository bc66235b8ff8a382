//! Client cancellation: a request its client gave up on leaves the replica wherever it is
//! (waiting, prefilling, decoding, swapped out, arrived from a prefill replica), and every KV
//! block it held goes back, as an engine aborts a request between two steps (vLLM's
//! `abort_request` is applied before the next schedule).

use super::replica::Replica;
use super::{Phase, ReqState, RequestId};

impl Replica {
    /// Removes request `id` between two steps (the replica is not busy). Returns the output
    /// tokens the steps produced for it, or `None` when it is not here (its KV cache is still
    /// on its way from a prefill replica) or already done.
    pub fn cancel(&mut self, id: RequestId, reqs: &mut [ReqState]) -> Option<u64> {
        debug_assert!(!self.busy, "a request is cancelled between steps");
        let r = &reqs[id.index()];
        let mut produced = r.progress.generated as u64;
        match r.phase {
            Phase::Done => return None,
            Phase::Queued => {
                self.waiting.remove(&r.queue_key.unwrap_or_default());
            }
            Phase::Swapped => {
                self.swapped.remove(&(r.priority, r.seq));
                let tokens = r.progress.prompt_len as u64 + r.kv_fixed_blocks as u64 * self.cfg.block_tokens as u64;
                let bytes = self.swap.bytes_for(tokens);
                // Parked in a KV offload tier, or swapped to host memory.
                if !self.tiers.as_mut().is_some_and(|t| t.drop_parked(id.0)) {
                    self.swap.swap_in(bytes);
                }
            }
            Phase::Transferring => {
                let pos = self.incoming.iter().position(|&x| x == id)?;
                self.incoming.remove(pos);
            }
            Phase::Prefilling => {
                self.prefilling.retain(|&x| x != id);
                self.kv.give_back(r.progress.blocks as u64);
                self.unpin_prefix(id, reqs);
            }
            Phase::Decoding => {
                let ctx = self.batch.remove(id, reqs);
                self.batch.forget_fresh(id);
                produced += (ctx - 1).saturating_sub(reqs[id.index()].progress.prompt_len as u64);
                // `release` gives back its blocks and its outstanding count.
                self.release(id, reqs, ctx - 1);
                reqs[id.index()].phase = Phase::Done;
                return Some(produced);
            }
        }
        let r = &mut reqs[id.index()];
        r.phase = Phase::Done;
        self.outstanding_requests -= 1;
        self.outstanding_tokens -= r.input as u64 + r.max_tokens as u64;
        Some(produced)
    }
}
