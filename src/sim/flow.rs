//! The gateway's place in the run (`[gateway]`, mechanism in `serve::gateway`): requests that
//! reach the router pass through it (released, queued or shed), its queue drains as tokens
//! refill and replicas come out of saturation (read when a replica's step ends), queued
//! requests time out, and clients cancel requests wherever they are. Every request that
//! arrives ends completed, dropped, rejected, shed, timed out or cancelled (INV-7).

use super::frontend::Held;
use super::{Event, Simulation};
use crate::engine::SimTime;
use crate::serve::gateway::{Gateway, Offer, Request};
use crate::serve::{Phase, ReplicaId, RequestId};
use std::collections::{HashMap, HashSet};

/// The gateway's events.
#[derive(Debug, Clone, Copy)]
pub(super) enum FlowEvent {
    /// The token bucket has a token again.
    Wake,
    /// The request of this ticket has waited `gateway.queue_timeout_s` since it reached the
    /// gateway.
    QueueTimeout(u64),
    /// The client of this ticket gives up (`gateway.client_timeout_s` after sending).
    Cancel(u64),
}

/// The gateway and the bookkeeping of cancellation.
#[derive(Debug)]
pub(super) struct Flow {
    gate: Gateway<Held>,
    /// Tickets on the front-end path (only with client cancellation), and those cancelled there
    /// (they end when they reach the gateway).
    at_front: HashSet<u64>,
    cancelled_front: HashSet<u64>,
    /// Routed requests by ticket (only with client cancellation): their slot and sequence
    /// number, to tell a reused slot apart.
    routed: HashMap<u64, (RequestId, u64)>,
    /// Cancellations waiting for their replica's step to end, per replica.
    pending: Vec<Vec<(RequestId, u64)>>,
}

impl Flow {
    pub(super) fn new(spec: &crate::serve::gateway::GatewaySpec, replicas: usize) -> Flow {
        Flow {
            gate: Gateway::new(spec.clone()),
            at_front: HashSet::new(),
            cancelled_front: HashSet::new(),
            routed: HashMap::new(),
            pending: vec![Vec::new(); replicas],
        }
    }

    /// Requests the gateway queue holds (they are in the system).
    pub(super) fn held(&self) -> u64 {
        self.gate.len() as u64
    }
}

impl Simulation {
    fn flow(&mut self) -> &mut Flow {
        self.flow.as_mut().expect("called only with a gateway")
    }

    /// A request arrived at `now` (ticket `ticket`): its client's timeout starts; `at_front`: it
    /// is on the front-end path.
    pub(super) fn flow_arrived(&mut self, now: SimTime, ticket: u64, at_front: bool) {
        let Some(t) = self.flow().gate.spec.client_timeout_ns else {
            return;
        };
        if at_front {
            self.flow().at_front.insert(ticket);
        }
        self.queue.push(now.after(t), Event::Flow(FlowEvent::Cancel(ticket)));
    }

    pub(super) fn flow_event(&mut self, now: SimTime, e: FlowEvent) {
        match e {
            FlowEvent::Wake => {
                if self.flow().gate.wake_at == Some(now.0) {
                    self.flow().gate.wake_at = None;
                }
                self.pump(now);
            }
            FlowEvent::QueueTimeout(ticket) => {
                if let Some(h) = self.flow().gate.remove(ticket) {
                    self.rec.counts.timed_out += 1;
                    self.turned_away(now, h.client);
                }
            }
            FlowEvent::Cancel(ticket) => self.client_gives_up(now, ticket),
        }
    }

    /// A request reaches the gateway at `now`.
    pub(super) fn gate_offer(&mut self, now: SimTime, h: Held) {
        let flow = self.flow();
        flow.at_front.remove(&h.ticket);
        if flow.cancelled_front.remove(&h.ticket) {
            self.rec.counts.cancelled += 1;
            return self.turned_away(now, h.client);
        }
        let class = self.sc.classes.get(h.class);
        let r = Request {
            ticket: h.ticket,
            arrival_ns: h.arrival.0,
            priority: class.map_or(0, |c| c.priority),
            ttft_slo_ns: class
                .and_then(|c| c.slo.as_ref())
                .and_then(|s| s.ttft_ms)
                .map(|ms| (ms * 1e6).round() as u64),
        };
        let saturated = self.saturated();
        match self.flow().gate.offer(h, &r, now.0, saturated) {
            Offer::Release(h) => self.route_and_register(now, h),
            Offer::Queued => {
                if let Some(t) = self.flow().gate.spec.queue_timeout_ns {
                    self.queue
                        .push(now.after(t), Event::Flow(FlowEvent::QueueTimeout(r.ticket)));
                }
                self.pump(now);
            }
            Offer::Shed(h, why) => {
                self.rec.counts.shed += 1;
                if self.rec.counts.shed == 1 {
                    self.notes.push(format!(
                        "requests shed by the gateway (first: {why:?}): sheddable classes (priority ≥ gateway.sheddable_priority) are turned away rather than queued, and a full gateway queue (gateway.max_queue) sheds its lowest-priority, latest request"
                    ));
                }
                self.turned_away(now, h.client);
            }
        }
    }

    /// Whether the gateway holds requests back: every entry replica is saturated while at
    /// least one is busy (an idle fleet always takes work, so the gate cannot hold forever).
    fn saturated(&self) -> bool {
        let Some(f) = self.flow.as_ref() else {
            return false;
        };
        let reps = &self.cluster.replicas[self.cluster.entry.clone()];
        reps.iter().any(|r| r.is_busy())
            && f.gate
                .saturated(reps.iter().map(|r| (r.load(), r.used_blocks(), r.total_blocks())))
    }

    /// Releases queued requests while a token is there and some replica is unsaturated; when
    /// the bucket is empty, wakes up when its next token comes.
    pub(super) fn pump(&mut self, now: SimTime) {
        while !self.flow().gate.is_empty() && !self.saturated() {
            match self.flow().gate.release(now.0) {
                Ok(Some(h)) => self.route_and_register(now, h),
                Ok(None) => return,
                Err(t) => {
                    let gate = &mut self.flow().gate;
                    if gate.wake_at.is_none_or(|w| w > t) {
                        gate.wake_at = Some(t);
                        self.queue.push(SimTime(t), Event::Flow(FlowEvent::Wake));
                    }
                    return;
                }
            }
        }
    }

    fn route_and_register(&mut self, now: SimTime, h: Held) {
        let ticket = h.ticket;
        if let Some(id) = self.route(now, h)
            && self.flow().gate.spec.client_timeout_ns.is_some()
        {
            let seq = self.reqs[id.index()].seq;
            self.flow().routed.insert(ticket, (id, seq));
        }
    }

    /// The client of `ticket` gives up at `now`: its request leaves wherever it is.
    fn client_gives_up(&mut self, now: SimTime, ticket: u64) {
        if let Some(h) = self.flow().gate.remove(ticket) {
            self.rec.counts.cancelled += 1;
            return self.turned_away(now, h.client);
        }
        if self.flow().at_front.remove(&ticket) {
            self.flow().cancelled_front.insert(ticket);
            return;
        }
        // Completed, shed or timed out already when it is not routed.
        let Some((id, seq)) = self.flow().routed.remove(&ticket) else {
            return;
        };
        self.cancel_routed(now, id, seq);
    }

    /// Cancels a routed request now if its replica is between steps, else when its step ends.
    fn cancel_routed(&mut self, now: SimTime, id: RequestId, seq: u64) {
        let r = &self.reqs[id.index()];
        if r.seq != seq || r.phase() == Phase::Done {
            return;
        }
        let rid = r.replica();
        if self.cluster.replicas[rid.index()].is_busy() {
            return self.flow().pending[rid.index()].push((id, seq));
        }
        let Some(produced) = self.cluster.replicas[rid.index()].cancel(id, &mut self.reqs) else {
            // Its KV cache is on its way to `rid`: cancelled when that replica's step ends.
            return self.flow().pending[rid.index()].push((id, seq));
        };
        self.rec.counts.cancelled += 1;
        self.rec.counts.cancelled_output_tokens += produced;
        self.in_system -= 1;
        self.free_slots.push(id.0);
        let client = self.reqs[id.index()].client;
        let replica = &self.cluster.replicas[rid.index()];
        if !replica.is_busy() && replica.queue_len() > 0 && !self.kicked[rid.index()] {
            self.kicked[rid.index()] = true;
            self.queue.push(now, Event::Kick(rid));
        }
        self.turned_away(now, client);
    }

    /// Request `id` produced its last token at `now` on replica `rid`, after its client gave
    /// up during the step: nobody receives it, so it counts as cancelled (its KV is already
    /// back). True when so (the caller does not record it as completed).
    pub(super) fn abandoned_at_completion(&mut self, now: SimTime, rid: ReplicaId, id: RequestId) -> bool {
        let seq = self.reqs[id.index()].seq;
        let pending = &mut self.flow().pending[rid.index()];
        let Some(i) = pending.iter().position(|&p| p == (id, seq)) else {
            return false;
        };
        pending.swap_remove(i);
        let r = &self.reqs[id.index()];
        let client = r.client;
        self.rec.counts.cancelled += 1;
        self.rec.counts.cancelled_output_tokens += r.output as u64;
        self.in_system -= 1;
        self.free_slots.push(id.0);
        self.turned_away(now, client);
        true
    }

    /// Replica `rid`'s step ended at `now` (it is between steps): its pending cancellations
    /// apply, and the gateway reads the replicas' saturation again.
    pub(super) fn flow_step_end(&mut self, now: SimTime, rid: ReplicaId) {
        let pending = std::mem::take(&mut self.flow().pending[rid.index()]);
        for (id, seq) in pending {
            self.cancel_routed(now, id, seq);
        }
        self.pump(now);
    }
}
