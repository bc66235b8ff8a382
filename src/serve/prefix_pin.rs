//! The replica's side of the prefix cache: how much of a prompt is cached, pinning a running
//! request's prompt blocks (so they are not evicted under it) and unpinning them when it leaves,
//! and sizing the cache to the KV memory the running batch leaves free.

use super::replica::Replica;
use super::{ReqState, RequestId};

impl Replica {
    /// Evictable cached blocks may fill the KV memory the running batch leaves free.
    pub(super) fn fit_prefix_cache(&mut self) {
        if let Some(c) = self.prefix.as_mut() {
            let free_tokens = self.kv.free() * self.cfg.block_tokens as u64;
            c.set_capacity(free_tokens / c.block_tokens as u64);
        }
        if self.tiers.is_some() {
            self.offload_evicted();
        }
    }

    /// Prompt tokens a waiting request would find cached (whole blocks of its longest cached
    /// prefix; at least one token is always computed, for the logits).
    pub(super) fn cached_prefix_tokens(&self, r: &ReqState) -> u64 {
        match (&self.prefix, &r.cache.hashes) {
            (Some(c), Some(b)) if !r.cache.pinned && r.progress.prefilled == 0 => {
                let hit = c.peek(b);
                let tiers = if self.tiers.is_some() {
                    self.tier_run(b, hit.hbm_blocks)
                } else {
                    0
                };
                let blocks = (hit.blocks() + tiers).max(r.cache.remote_blocks);
                let hit = blocks as u64 * c.block_tokens as u64;
                hit.min(r.progress.prompt_len.saturating_sub(1) as u64)
            }
            _ => 0,
        }
    }

    /// Admission: pins the prompt's blocks in the cache and skips its cached prefix. A prefix
    /// found in the host tier is swapped in over the host link (the copy blocks the step).
    pub(super) fn pin_prefix(&mut self, id: RequestId, reqs: &mut [ReqState]) {
        let r = &mut reqs[id.index()];
        let (Some(c), Some(blocks)) = (self.prefix.as_mut(), r.cache.hashes.as_ref()) else {
            return;
        };
        if r.cache.pinned {
            return;
        }
        // What `cached_prefix_tokens` would say, from the admission's own lookup.
        let hit = c.admit(blocks);
        let mut tiers = 0;
        if self.tiers.is_some() && r.progress.prefilled == 0 {
            // The prefix continues in the offload tiers: read back before the prefill.
            tiers = self.reload_run(id, reqs, hit.hbm_blocks);
        }
        self.skip_cached(id, reqs, hit, tiers);
    }

    /// The prompt's cached prefix (`hit`, then `tiers` blocks from the offload tiers, or the
    /// remote tier's) skips its prefill; a prefix found in the host tier is swapped in over the
    /// host link.
    fn skip_cached(&mut self, id: RequestId, reqs: &mut [ReqState], hit: super::prefix_cache::PrefixHit, tiers: u32) {
        let r = &mut reqs[id.index()];
        let Some(c) = self.prefix.as_mut() else {
            return;
        };
        c.stats.hit_blocks += tiers as u64;
        let p = &mut r.progress;
        let skip = if p.prefilled == 0 {
            let cached = (hit.blocks() + tiers).max(r.cache.remote_blocks) as u64 * c.block_tokens as u64;
            cached.min(p.prompt_len.saturating_sub(1) as u64)
        } else {
            0
        };
        r.cache.pinned = true;
        let remote = r.cache.remote_blocks.saturating_sub(hit.blocks());
        if remote > 0 && skip > 0 {
            // The rest of the prefix comes from the remote tier over EFA (the fetch blocks the step).
            c.stats.hit_blocks += remote as u64;
            c.stats.hit_blocks_remote += remote as u64;
            let bytes = remote as f64 * c.remote_bytes_per_block;
            let ns = c.remote_latency_ns + bytes / c.remote_bytes_per_ns.max(1e-9);
            c.stats.remote_bytes += bytes;
            c.stats.remote_ns += ns;
            self.plan.extra_ns += ns;
            r.ledger.fetched(ns.round() as u64);
        }
        if skip > p.prefilled as u64 {
            c.stats.saved_prefill_tokens += skip - p.prefilled as u64;
            p.prefilled = skip as u32;
        }
        if hit.host_blocks > 0 && self.swap.bytes_per_ns > 0.0 {
            let bytes = hit.host_blocks as f64 * c.block_tokens as f64 * self.swap.bytes_per_token;
            let ns = bytes / self.swap.bytes_per_ns;
            c.stats.host_swap_bytes += bytes;
            c.stats.host_swap_ns += ns;
            self.plan.extra_ns += ns;
            r.ledger.fetched(ns.round() as u64);
        }
    }

    /// The request leaves the batch: its cached blocks become evictable.
    pub(super) fn unpin_prefix(&mut self, id: RequestId, reqs: &mut [ReqState]) {
        let r = &mut reqs[id.index()];
        if !r.cache.pinned {
            return;
        }
        r.cache.pinned = false;
        if let (Some(c), Some(b)) = (self.prefix.as_mut(), r.cache.hashes.as_ref()) {
            c.release(b);
        }
        if self.tiers.is_some() {
            self.offload_evicted();
        }
    }
}
