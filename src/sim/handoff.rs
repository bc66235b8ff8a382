//! Disaggregated serving's hand-off: a prefilled request's KV cache leaves its prefill replica
//! for a decode replica the decode router picks, over the KV link.

use super::{Event, Simulation};
use crate::engine::SimTime;
use crate::serve::replica::Replica;
use crate::serve::{ReplicaId, RequestId};

impl Simulation {
    /// A prefill finished on a prefill replica: its KV cache moves to a decode replica (chosen
    /// by the router among the decode pool); the first token reaches the user with it.
    pub(super) fn hand_off(&mut self, now: SimTime, from: ReplicaId, id: RequestId) {
        let (Some(d), Some(kv)) = (self.cluster.decode.clone(), self.cluster.kv) else {
            return;
        };
        let prefix = self.reqs[id.index()].prefix;
        let to = ReplicaId(
            (d.start
                + self
                    .decode_router
                    .pick(self.cluster.replicas[d].iter().map(Replica::load), prefix)) as u32,
        );
        let tokens = self.reqs[id.index()].progress().prompt_len as u64;
        let end = kv.send(now.0, &mut self.cluster.link_free_ns[from.index()], tokens);
        self.rec.kv_transfer.push((end - now.0) as f64 * 1e-6);
        // Reserve the slot on the decode replica now, so routing sees it as outstanding.
        self.cluster.replicas[to.index()].enqueue_transferred(id, &mut self.reqs[id.index()]);
        self.queue.push(SimTime(end), Event::KvArrive(id, to));
    }

    pub(super) fn kv_arrive(&mut self, now: SimTime, id: RequestId, to: ReplicaId) {
        self.reqs[id.index()].kv_arrived(now);
        self.cluster.replicas[to.index()].mark_arrived(id);
        if !self.cluster.replicas[to.index()].is_busy() && !self.kicked[to.index()] {
            self.kicked[to.index()] = true;
            self.queue.push(now, Event::Kick(to));
        }
    }
}
