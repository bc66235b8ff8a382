//! The replica's side of the KV offload tiers (`kv_tiers.rs`): evicted prompt-cache blocks go
//! down the chain, a prompt's cached prefix continues into the tiers and is read back before
//! its prefill, a preempted sequence parks in a tier and comes back from it. Every entry point
//! is one `Option` check when the tiers are off.

use super::replica::Replica;
use super::{ReqState, RequestId};
use crate::engine::SimTime;

impl Replica {
    /// The time now on the replica's clock: the step being planned starts at it, or the step
    /// just applied ended at it.
    fn tier_now_ns(&self) -> f64 {
        self.plan.start.0.max(self.plan.end.0) as f64
    }

    /// Blocks the prompt cache evicted from HBM go down the chain (asynchronous writes).
    pub(super) fn offload_evicted(&mut self) {
        let now = self.tier_now_ns();
        let (Some(c), Some(t)) = (self.prefix.as_mut(), self.tiers.as_mut()) else {
            return;
        };
        let Some(v) = c.evicted.as_mut().filter(|v| !v.is_empty()) else {
            return;
        };
        t.offload(now, v);
        v.clear();
    }

    /// Leading blocks of `hashes` the tiers hold (after an HBM hit of `hbm` blocks).
    pub(super) fn tier_run(&self, hashes: &[u64], hbm: u32) -> u32 {
        match &self.tiers {
            Some(t) => t.peek_run(hashes.get(hbm as usize..).unwrap_or(&[])),
            None => 0,
        }
    }

    /// Admission of request `id`, whose prompt hit `hbm` blocks in HBM: the run of its blocks
    /// that follows in the tiers is read back before its prefill (the step waits for it; the
    /// request's ledger counts it as a fetch). Returns the run's blocks.
    pub(super) fn reload_run(&mut self, id: RequestId, reqs: &mut [ReqState], hbm: u32) -> u32 {
        let now = self.plan.start.0 as f64;
        let r = &mut reqs[id.index()];
        let (Some(t), Some(hashes)) = (self.tiers.as_mut(), r.cache.hashes.as_ref()) else {
            return 0;
        };
        let (run, until) = t.take_run(now, hashes.get(hbm as usize..).unwrap_or(&[]));
        if run > 0 {
            self.plan.reload_until_ns = self.plan.reload_until_ns.max(until);
            r.ledger.fetched((until - now).round() as u64);
        }
        run
    }

    /// The step waits for its reloads from the tiers: the latest ends after `now`.
    pub(super) fn wait_for_reloads(&mut self, now: SimTime) {
        let wait = self.plan.reload_until_ns - now.0 as f64;
        if wait > 0.0 {
            self.plan.extra_ns += wait;
        }
    }

    /// A preempted sequence's `bytes` of KV park in the first tier with room (the write blocks
    /// this step). False when the tiers are off, offload only prompt blocks, or have no room.
    pub(super) fn park_preempted(&mut self, id: RequestId, bytes: f64) -> bool {
        let now = self.plan.start.0 as f64;
        let Some(t) = self.tiers.as_mut() else {
            return false;
        };
        match t.park(now, id.0, bytes) {
            Some(end) => {
                self.plan.reload_until_ns = self.plan.reload_until_ns.max(end);
                true
            }
            None => false,
        }
    }

    /// A parked sequence resumes: its KV is read back (the step waits for it). False when
    /// request `id` was not parked in a tier (it was swapped to host memory).
    pub(super) fn unpark_resumed(&mut self, id: RequestId) -> bool {
        let now = self.plan.start.0 as f64;
        let Some(t) = self.tiers.as_mut() else {
            return false;
        };
        match t.unpark(now, id.0) {
            Some(end) => {
                self.plan.reload_until_ns = self.plan.reload_until_ns.max(end);
                true
            }
            None => false,
        }
    }
}
