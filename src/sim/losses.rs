//! Instance failures and spot reclaims of an autoscaled fleet (`[fleet.failures]`,
//! `[fleet.spot]`): each ready replica's instance fails after an exponential time at 1 / MTBF
//! and is reclaimed after one at the spot rate (memoryless, so drawn when the replica becomes
//! ready; the events carry its generation and go stale when it stops). A reclaim first drains
//! the replica for the notice, then takes it. A lost replica's requests leave it at once (at the
//! end of its step in flight, if any) and are sent to the router again, their work lost, or
//! ended as failed (`fleet.on_loss`); the autoscaler's next sync sees the fleet short and starts
//! a replacement (a whole cold start). Draws come from their own stream (`Stream::FleetLosses`).

use super::autoscale::{FleetEvent, Life};
use super::{Event, Simulation, frontend};
use crate::engine::SimTime;
use crate::metrics::Counts;
use crate::rng::Stream;
use crate::scenario::failures::{Losses, OnLoss};
use crate::serve::{Phase, ReplicaId, RequestId};
use rand::RngExt;
use rand::rngs::ChaCha8Rng;

pub(super) struct LossState {
    spec: Losses,
    /// Instances a replica occupies (its share when smaller than one): its rates' multiplier.
    instances_per_replica: f64,
    rng: ChaCha8Rng,
    /// A replica lost while its step was in flight: taken when the step ends.
    pending: Vec<bool>,
    failures: u64,
    reclaims: u64,
    lost: u64,
}

impl LossState {
    pub fn new(spec: Losses, instances_per_replica: f64, replicas: usize, seed: u64) -> LossState {
        LossState {
            spec,
            instances_per_replica,
            rng: Stream::FleetLosses.rng(seed),
            pending: vec![false; replicas],
            failures: 0,
            reclaims: 0,
            lost: 0,
        }
    }

    /// An exponential time at `per_instance_ns` × the replica's instances, ns (None: rate 0).
    fn draw_ns(&mut self, per_instance_ns: f64) -> Option<u64> {
        let rate = per_instance_ns * self.instances_per_replica;
        if rate <= 0.0 {
            return None;
        }
        let u: f64 = self.rng.random();
        Some((-(1.0 - u).ln() / rate).min(crate::engine::MAX_SIM_NS as f64) as u64)
    }

    pub fn note(&self, c: &Counts) -> String {
        let attribution = if c.retried > 0 {
            "; a retried request's latency attribution counts its time before the loss as front end (no part of its own yet)"
        } else {
            ""
        };
        format!(
            "losses: {} instance failures, {} spot reclaim notices; {} replicas lost with their requests (a reclaimed replica that drained within its notice lost none): {} retried, {} failed, {} output tokens lost{attribution}",
            self.failures, self.reclaims, self.lost, c.retried, c.failed, c.lost_output_tokens
        )
    }
}

impl Simulation {
    fn losses(&mut self) -> Option<&mut LossState> {
        self.fleet.as_mut()?.scaler.as_mut()?.losses.as_mut()
    }

    /// Replica `i` became ready: its failure and its reclaim are drawn.
    pub(super) fn arm_losses(&mut self, now: SimTime, i: usize) {
        let Some((generation, spot)) = self.scaler().map(|s| (s.generation[i], s.reclaimable(i as u32))) else {
            return;
        };
        let Some(l) = self.losses() else {
            return;
        };
        let (fail, reclaim) = (l.spec.failures_per_instance_ns, l.spec.reclaims_per_instance_ns);
        // Without a purchase mix every replica is reclaimable; with one, only the spot ones (and
        // no draw is made for the others).
        let reclaim = if spot { reclaim } else { 0.0 };
        let (fail, reclaim) = (l.draw_ns(fail), l.draw_ns(reclaim));
        let rid = ReplicaId(i as u32);
        if let Some(d) = fail {
            self.queue
                .push(now.after(d), Event::Fleet(FleetEvent::Fail(rid, generation)));
        }
        if let Some(d) = reclaim {
            self.queue
                .push(now.after(d), Event::Fleet(FleetEvent::Reclaim(rid, generation)));
        }
    }

    /// Whether replica `i` is still the generation `g` and in service (ready or draining).
    fn serving(&self, i: usize, g: u32) -> bool {
        self.scaler()
            .is_some_and(|s| s.generation[i] == g && matches!(s.life[i], Life::Ready | Life::Draining))
    }

    pub(super) fn failed(&mut self, now: SimTime, i: usize, g: u32) {
        if self.serving(i, g) && !self.losses().expect("losses").pending[i] {
            self.losses().expect("losses").failures += 1;
            self.lose(now, i);
        }
    }

    /// The reclaim notice: the replica drains, and is gone when the notice ends.
    pub(super) fn reclaimed(&mut self, now: SimTime, i: usize, g: u32) {
        if !self.serving(i, g) {
            return;
        }
        let l = self.losses().expect("losses");
        l.reclaims += 1;
        let notice_ns = l.spec.notice_ns;
        self.stop_routing(now, i);
        let rid = ReplicaId(i as u32);
        self.queue
            .push(now.after(notice_ns), Event::Fleet(FleetEvent::Lost(rid, g)));
    }

    pub(super) fn gone(&mut self, now: SimTime, i: usize, g: u32) {
        if self.serving(i, g) {
            self.lose(now, i);
        }
    }

    /// A ready replica takes no new requests (draining, not counted as a scale-down).
    fn stop_routing(&mut self, now: SimTime, i: usize) {
        let f = self.fleet.as_mut().expect("fleet");
        if f.scaler.as_ref().is_some_and(|s| s.life[i] == Life::Ready) {
            f.set_life(now.0, i, Life::Draining);
            f.scaler.as_mut().expect("autoscaling").drained -= 1;
        }
    }

    /// Replica `i`'s instance is gone: now, or when its step in flight ends.
    fn lose(&mut self, now: SimTime, i: usize) {
        let l = self.losses().expect("losses");
        if l.pending[i] {
            // Already lost, waiting for its step to end.
            return;
        }
        l.lost += 1;
        if self.cluster.replicas[i].is_busy() {
            self.stop_routing(now, i);
            self.losses().expect("losses").pending[i] = true;
        } else {
            self.lose_now(now, i);
        }
    }

    /// After a step ends on replica `rid`: true when its instance was lost during the step (its
    /// requests then leave, and it plans no further step).
    pub(super) fn lost_at_step_end(&mut self, now: SimTime, rid: ReplicaId) -> bool {
        let i = rid.index();
        match self.losses() {
            Some(l) if l.pending[i] => {
                l.pending[i] = false;
                self.lose_now(now, i);
                true
            }
            _ => false,
        }
    }

    /// Every request on replica `i` leaves it (its KV given back, its tokens so far lost); the
    /// replica stops; then each is retried or ends as failed.
    fn lose_now(&mut self, now: SimTime, i: usize) {
        let rid = ReplicaId(i as u32);
        let ids: Vec<RequestId> = (0..self.reqs.len())
            .filter(|&k| self.reqs[k].phase() != Phase::Done && self.reqs[k].replica() == rid)
            .map(|k| RequestId(k as u32))
            .collect();
        let mut held = Vec::with_capacity(ids.len());
        for id in ids {
            let Some(produced) = self.cluster.replicas[i].cancel(id, &mut self.reqs) else {
                continue;
            };
            self.rec.counts.lost_output_tokens += produced;
            let r = &self.reqs[id.index()];
            held.push((
                frontend::Held {
                    arrival: r.arrival,
                    input: r.input,
                    output: r.output,
                    max_tokens: r.max_tokens,
                    client: r.client,
                    prefix: r.prefix,
                    class: r.class as usize,
                    ticket: 0,
                    predicted_output: r.predicted_output,
                    rtt_ns: self.front.rtt_ns(id),
                    images: r.images,
                    media_tokens: 0,
                    media_hash: r.media_hash,
                    // Its embeddings were made once; the retry is not encoded again.
                    encode_ns: Some(r.ledger.parts.get(crate::metrics::attribution::Part::Encode)),
                },
                r.cache.hashes.clone(),
            ));
            self.in_system -= 1;
            self.free_slots.push(id.0);
        }
        self.fleet.as_mut().expect("fleet").set_life(now.0, i, Life::Off);
        self.sync_host_cores(now);
        let on_loss = self.losses().expect("losses").spec.on_loss;
        for (h, hashes) in held {
            match on_loss {
                OnLoss::Drop => {
                    self.rec.counts.failed += 1;
                    self.turned_away(now, h.client);
                }
                OnLoss::Retry => {
                    self.rec.counts.retried += 1;
                    if let Some(b) = hashes {
                        self.prompt_blocks.entry((h.prefix, h.input)).or_default().push_front(b);
                    }
                    self.route(now, h);
                }
            }
        }
    }
}
