//! Autoscaling (`[fleet.autoscale]`): every replica the fleet may have is built up front
//! (`max_replicas`, flat Vecs, INV-4), each in a lifecycle state — off, starting, ready,
//! draining. Routing sees only the ready ones. Every sync period the policy recommends a size
//! (HPA target utilisation with its tolerance, KEDA-style concurrency, or a schedule read from
//! `[workload.profile]`), HPA's stabilisation windows and its default scale-up rate limit
//! settle it, and the fleet starts replicas (ready after boot + weight load + warm-up) or drains
//! them (no new requests; off once their last request ends). The fleet is paid for while
//! provisioned — starting, ready or draining — and the summary's cost counts exactly those
//! instance-seconds. Nothing here runs without `[fleet.autoscale]`.

use super::cluster::Cluster;
use super::fleet::FleetState;
use super::{Event, Simulation};
use crate::engine::SimTime;
use crate::scenario::Scenario;
use crate::scenario::autoscale::{Autoscale, HPA_TOLERANCE, Policy};
use crate::serve::ReplicaId;
use std::collections::VecDeque;

#[derive(Debug, Clone, Copy)]
pub(super) enum FleetEvent {
    /// The autoscaler's periodic decision.
    Sync,
    /// A starting replica (of this start: its generation) is ready to serve.
    Ready(ReplicaId, u32),
    /// The instance of a replica (of this generation) fails, is told it will be reclaimed, or
    /// is gone at the end of the notice (`losses.rs`).
    Fail(ReplicaId, u32),
    Reclaim(ReplicaId, u32),
    Lost(ReplicaId, u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Life {
    Off,
    Starting,
    Ready,
    Draining,
}

pub(super) struct Autoscaler {
    spec: Autoscale,
    pub(super) life: Vec<Life>,
    /// Bumped at every start, so a cancelled start's Ready event is recognised as stale.
    pub(super) generation: Vec<u32>,
    /// Failures and spot reclaims (`[fleet.failures]`, `[fleet.spot]`).
    pub(super) losses: Option<super::losses::LossState>,
    /// `[fleet.purchase]`: the reserved base, on-demand and spot parts (`purchase.rs`).
    pub(super) purchase: Option<super::purchase::PurchaseState>,
    /// Ready replicas in index order: what the router sees.
    pub ready: Vec<u32>,
    pub starting: u32,
    pub draining: u32,
    /// Past recommendations within the longer stabilisation window: (time, replicas).
    recs: VecDeque<(u64, u32)>,
    /// From the decision to ready: boot + weight load + warm-up, ns.
    pub cold_start_ns: u64,
    /// Σ provisioned instances × ns, up to `last_ns`.
    instance_ns: u128,
    /// Σ replicas up (ready or draining: those that can run a step) × ns, up to `last_ns`.
    serving_ns: u128,
    last_ns: u64,
    /// Ranks of a replica and of an instance: replicas smaller than an instance pack into
    /// whole instances, larger ones span whole instances (`Pool::instances`).
    ranks_per_replica: u32,
    ranks_per_instance: u32,
    usd_per_instance_hour: f64,
    max_batch: u32,
    started: u64,
    pub(super) drained: u64,
    peak: u32,
}

impl Autoscaler {
    /// The autoscaler of a scenario with `[fleet.autoscale]` (its cold start printed).
    pub fn new(
        sc: &Scenario,
        cluster: &Cluster,
        usd_per_instance_hour: f64,
        notes: &mut Vec<String>,
    ) -> Option<Autoscaler> {
        let spec = sc.fleet.as_ref()?.autoscale.clone()?;
        let pool = &cluster.pools[0];
        let per_instance = pool.hardware.ranks_per_instance().max(1);
        let ranks = pool.ranks_per_replica();
        let share = ranks as f64 / per_instance as f64;
        let weight_bytes = cluster.replicas[0].perf.memory.weight_bytes_per_rank * ranks as f64;
        let load_ns = spec.storage.read_ns(weight_bytes, share).round() as u64;
        let cold_start_ns = spec.boot_ns + load_ns + spec.warmup_ns;
        notes.push(format!(
            "autoscale: a new replica serves {:.1} s after its decision: boot {:.1} s + weight load {:.1} s ({:.2} GB from `{}` at {:.3} of the instance's {} GB/s, after {} µs to first byte) + warm-up {:.1} s",
            cold_start_ns as f64 * 1e-9,
            spec.boot_ns as f64 * 1e-9,
            load_ns as f64 * 1e-9,
            weight_bytes * 1e-9,
            spec.storage.name,
            share,
            spec.storage.read_gb_s,
            spec.storage.latency_us,
            spec.warmup_ns as f64 * 1e-9
        ));
        notes.push(
            "autoscale: the fleet pays for the instances its provisioned replicas (starting, ready or draining) occupy, packed as a static deployment packs them; the cost counts those instance-seconds, not the largest fleet; every start takes the whole cold start, even one that packs into an instance already up".into(),
        );
        notes.push(
            "autoscale: scale-up is limited to max(2 × current, current + 4) replicas per sync (the Kubernetes HPA default scale-up policy); scale-down is not rate-limited (the HPA default)".into(),
        );
        let n = cluster.replicas.len();
        let initial = sc.pools[0].replicas as usize;
        let mut life = vec![Life::Off; n];
        life[..initial].fill(Life::Ready);
        let losses = sc.fleet.as_ref().and_then(|f| f.losses).map(|l| {
            // A replica smaller than an instance is lost at its share of the instance's rate
            // (independently of the replicas it shares the instance with).
            let instances = if ranks >= per_instance {
                ranks.div_ceil(per_instance) as f64
            } else {
                share
            };
            super::losses::LossState::new(l, instances, n, sc.seed)
        });
        let purchase = sc
            .fleet
            .as_ref()
            .and_then(|f| f.purchase)
            .map(|p| super::purchase::PurchaseState::new(p, initial as u32));
        Some(Autoscaler {
            losses,
            purchase,
            life,
            generation: vec![0; n],
            ready: (0..initial as u32).collect(),
            starting: 0,
            draining: 0,
            recs: VecDeque::from([(0, initial as u32)]),
            cold_start_ns,
            instance_ns: 0,
            serving_ns: 0,
            last_ns: 0,
            ranks_per_replica: ranks,
            ranks_per_instance: per_instance,
            usd_per_instance_hour,
            max_batch: sc.scheduler.max_batch.max(1),
            started: 0,
            drained: 0,
            peak: initial as u32,
            spec,
        })
    }

    /// Replicas that can run a step: ready or draining.
    pub fn serving(&self) -> u32 {
        self.ready.len() as u32 + self.draining
    }

    pub fn provisioned(&self) -> u32 {
        self.ready.len() as u32 + self.starting + self.draining
    }

    /// Instances the provisioned replicas occupy.
    pub fn instances(&self) -> u32 {
        let (ranks, per) = (self.ranks_per_replica, self.ranks_per_instance);
        match &self.purchase {
            None => super::purchase::pack(self.provisioned(), ranks, per),
            Some(p) => p.instances(ranks, per).iter().sum(),
        }
    }

    pub fn usd_per_hour(&self) -> f64 {
        match &self.purchase {
            None => self.instances() as f64 * self.usd_per_instance_hour,
            Some(p) => p
                .usd_per_hour(p.instances(self.ranks_per_replica, self.ranks_per_instance))
                .iter()
                .sum(),
        }
    }

    /// Each part's price per hour now (`[fleet.purchase]` only).
    pub(super) fn part_usd_per_hour(&self) -> Option<[f64; 3]> {
        let p = self.purchase.as_ref()?;
        Some(p.usd_per_hour(p.instances(self.ranks_per_replica, self.ranks_per_instance)))
    }

    fn accrue(&mut self, now_ns: u64) {
        if now_ns > self.last_ns {
            let dt = (now_ns - self.last_ns) as u128;
            self.instance_ns += self.instances() as u128 * dt;
            self.serving_ns += self.serving() as u128 * dt;
            if let Some(p) = self.purchase.as_mut() {
                let n = p.instances(self.ranks_per_replica, self.ranks_per_instance);
                for (acc, m) in p.part_ns.iter_mut().zip(n) {
                    *acc += m as u128 * dt;
                }
            }
            self.last_ns = now_ns;
        }
    }

    /// Instance-seconds provisioned up to `end_ns`.
    pub fn instance_s(&mut self, end_ns: u64) -> f64 {
        self.accrue(end_ns);
        self.instance_ns as f64 * 1e-9
    }

    /// Replica-seconds up (ready or draining) to `end_ns`: the time the replicas could be busy.
    pub fn serving_s(&mut self, end_ns: u64) -> f64 {
        self.accrue(end_ns);
        self.serving_ns as f64 * 1e-9
    }

    pub fn note(&self, instance_s: f64) -> String {
        format!(
            "autoscale: {} replicas started, {} drained; at most {} provisioned at once; {:.3} instance-hours provisioned, which the cost counts",
            self.started,
            self.drained,
            self.peak,
            instance_s / 3600.0
        )
    }

    /// HPA's stabilisation (kubernetes pkg/controller/podautoscaler, `stabilizeRecommendationWithBehaviors`):
    /// never below the smallest recommendation of the scale-up window nor above the largest of
    /// the scale-down window, both windows including this one; then the default scale-up limit.
    fn stabilize(&mut self, now_ns: u64, desired: u32, current: u32) -> u32 {
        let (mut up, mut down) = (desired, desired);
        for &(t, r) in &self.recs {
            if t + self.spec.up_window_ns > now_ns {
                up = up.min(r);
            }
            if t + self.spec.down_window_ns > now_ns {
                down = down.max(r);
            }
        }
        self.recs.push_back((now_ns, desired));
        let keep = self.spec.up_window_ns.max(self.spec.down_window_ns);
        while self.recs.front().is_some_and(|&(t, _)| t + keep <= now_ns) {
            self.recs.pop_front();
        }
        let stable = current.max(up).min(down);
        let limit = (2 * current).max(current + 4);
        stable.min(limit).clamp(self.spec.min_replicas, self.spec.max_replicas)
    }
}

impl FleetState {
    /// Replica `i` moves to `to` at `now`: the provisioned time so far is counted at the old size,
    /// the windows' price follows the new one.
    pub(super) fn set_life(&mut self, now_ns: u64, i: usize, to: Life) {
        let s = self.scaler.as_mut().expect("autoscaling");
        s.accrue(now_ns);
        if let Some(p) = s.purchase.as_mut() {
            p.moved(i as u32, s.life[i] != Life::Off, to != Life::Off);
        }
        match s.life[i] {
            Life::Starting => s.starting -= 1,
            Life::Draining => s.draining -= 1,
            Life::Ready => {
                let at = s.ready.binary_search(&(i as u32)).expect("listed");
                s.ready.remove(at);
            }
            Life::Off => {}
        }
        match to {
            Life::Starting => {
                s.starting += 1;
                s.started += 1;
                s.generation[i] += 1;
            }
            Life::Draining => {
                s.draining += 1;
                s.drained += 1;
            }
            Life::Ready => {
                let at = s.ready.binary_search(&(i as u32)).unwrap_err();
                s.ready.insert(at, i as u32);
            }
            Life::Off => {}
        }
        s.life[i] = to;
        s.peak = s.peak.max(s.provisioned());
        let usd = s.usd_per_hour();
        match s.part_usd_per_hour() {
            None => self.windows.set_price(now_ns, usd),
            Some(parts) => self.windows.set_part_prices(now_ns, usd, parts),
        }
    }
}

impl Simulation {
    pub(super) fn scaler(&self) -> Option<&Autoscaler> {
        self.fleet.as_ref().and_then(|f| f.scaler.as_ref())
    }

    /// The first decision, one sync period in.
    pub(super) fn autoscale_start(&mut self) {
        if let Some(s) = self.scaler() {
            let t = SimTime(s.spec.sync_ns);
            let ready = s.ready.clone();
            self.queue.push(t, Event::Fleet(FleetEvent::Sync));
            for i in ready {
                self.arm_losses(SimTime(0), i as usize);
            }
            self.sync_host_cores(SimTime(0));
        }
    }

    /// The entry pool's host cores are those of the instances its serving replicas (ready or
    /// draining) occupy, packed as a static deployment packs them (at least one instance's, as
    /// a static deployment's): called where that count changes. Its hosts were built for every
    /// replica slot.
    pub(super) fn sync_host_cores(&mut self, now: SimTime) {
        let Some(s) = self.scaler() else {
            return;
        };
        let instances = super::purchase::pack(s.serving(), s.ranks_per_replica, s.ranks_per_instance);
        let cores = super::frontend::host_cores(&self.cluster.pools[0], instances as f64, &self.sc.infra.nitro);
        if let Some(h) = self.front.hosts.first_mut() {
            h.set_cores(now.0, cores);
        }
    }

    /// Before an event at `now`: closes the windows due; false for the fleet's own events once
    /// nothing is left to serve (they no longer matter, and must not stretch the run's windows
    /// past its end).
    pub(super) fn fleet_before(&mut self, now: SimTime, ev: &Event) -> bool {
        let idle = self.arrivals_left == 0 && self.in_system == 0 && self.front.in_flight() == 0;
        if matches!(ev, Event::Fleet(_)) && idle {
            return false;
        }
        if self.fleet.as_ref().is_some_and(|f| f.due_ns() <= now.0) {
            self.fleet_due(now);
        }
        true
    }

    /// The replica a request goes to: among all entry replicas, or, autoscaling, the ready ones.
    pub(super) fn pick_replica(&mut self, key: Option<u64>) -> ReplicaId {
        let replicas = &self.cluster.replicas;
        match self.fleet.as_ref().and_then(|f| f.scaler.as_ref()) {
            None => {
                let entry = self.cluster.entry.clone();
                let picked = self.router.pick(replicas[entry.clone()].iter().map(|r| r.load()), key);
                ReplicaId((entry.start + picked) as u32)
            }
            Some(s) => {
                let picked = self
                    .router
                    .pick(s.ready.iter().map(|&i| replicas[i as usize].load()), key);
                ReplicaId(s.ready[picked])
            }
        }
    }

    pub(super) fn fleet_event(&mut self, now: SimTime, e: FleetEvent) {
        match e {
            FleetEvent::Sync => self.autoscale_sync(now),
            FleetEvent::Ready(rid, generation) => {
                let s = self.scaler().expect("autoscaling");
                let i = rid.index();
                if s.life[i] == Life::Starting && s.generation[i] == generation {
                    self.fleet.as_mut().expect("fleet").set_life(now.0, i, Life::Ready);
                    self.sync_host_cores(now);
                    self.arm_losses(now, i);
                }
            }
            FleetEvent::Fail(rid, g) => self.failed(now, rid.index(), g),
            FleetEvent::Reclaim(rid, g) => self.reclaimed(now, rid.index(), g),
            FleetEvent::Lost(rid, g) => self.gone(now, rid.index(), g),
        }
    }

    /// A draining replica whose last request ended stops (and stops being paid for).
    pub(super) fn drain_done(&mut self, now: SimTime, rid: ReplicaId) {
        let i = rid.index();
        if self.scaler().is_some_and(|s| s.life[i] == Life::Draining) && self.idle_replica(i) {
            self.fleet.as_mut().expect("fleet").set_life(now.0, i, Life::Off);
            self.sync_host_cores(now);
        }
    }

    fn idle_replica(&self, i: usize) -> bool {
        let r = &self.cluster.replicas[i];
        !r.is_busy() && r.load().outstanding_requests == 0 && !self.kicked[i]
    }

    /// What the policy asks for now, within min and max (before stabilisation).
    fn recommend(&self, now: SimTime) -> u32 {
        let s = self.scaler().expect("autoscaling");
        let (outstanding, ready) = self.ready_requests();
        let ready = ready as u32;
        let current = ready + s.starting;
        // The per-replica target of a metric averaged over the ready replicas: no change within
        // HPA's tolerance, else ceil(total / target).
        let hpa = |target_per_replica: f64| {
            let ratio = outstanding as f64 / (ready.max(1) as f64 * target_per_replica);
            if (ratio - 1.0).abs() <= HPA_TOLERANCE {
                current
            } else {
                (outstanding as f64 / target_per_replica - 1e-9).ceil().max(0.0) as u32
            }
        };
        let desired = match s.spec.policy {
            Policy::TargetUtilization { target } => hpa(target * s.max_batch as f64),
            Policy::Concurrency { target } => hpa(target),
            Policy::Scheduled {
                rate_per_s,
                replica_rate_per_s,
                lead_s,
            } => {
                let profile = self.sc.profile.as_ref().expect("scheduled needs a profile");
                let rate = rate_per_s * profile.multiplier_at(now.as_secs_f64() + lead_s);
                (rate / replica_rate_per_s - 1e-9).ceil().max(0.0) as u32
            }
        };
        desired.clamp(s.spec.min_replicas, s.spec.max_replicas)
    }

    fn autoscale_sync(&mut self, now: SimTime) {
        let desired = self.recommend(now);
        let s = self
            .fleet
            .as_mut()
            .and_then(|f| f.scaler.as_mut())
            .expect("autoscaling");
        let current = s.ready.len() as u32 + s.starting;
        let target = s.stabilize(now.0, desired, current);
        let sync_ns = s.spec.sync_ns;
        if target > current {
            self.scale_up(now, target - current);
        } else if target < current {
            self.scale_down(now, current - target);
        }
        self.queue.push(now.after(sync_ns), Event::Fleet(FleetEvent::Sync));
    }

    /// Starts `n` replicas (the lowest-numbered off ones; fewer if the others are draining).
    fn scale_up(&mut self, now: SimTime, n: u32) {
        for _ in 0..n {
            let s = self.scaler().expect("autoscaling");
            let Some(i) = s.life.iter().position(|&l| l == Life::Off) else {
                return;
            };
            let ready_at = now.after(s.cold_start_ns);
            let f = self.fleet.as_mut().expect("fleet");
            f.set_life(now.0, i, Life::Starting);
            let generation = f.scaler.as_ref().expect("autoscaling").generation[i];
            self.queue.push(
                ready_at,
                Event::Fleet(FleetEvent::Ready(ReplicaId(i as u32), generation)),
            );
        }
    }

    /// Removes `n` replicas: starting ones first (the newest), then the ready ones with the
    /// fewest requests, which drain.
    fn scale_down(&mut self, now: SimTime, n: u32) {
        for _ in 0..n {
            let s = self.scaler().expect("autoscaling");
            if let Some(i) = s.life.iter().rposition(|&l| l == Life::Starting) {
                self.fleet.as_mut().expect("fleet").set_life(now.0, i, Life::Off);
                continue;
            }
            let Some(&i) = s
                .ready
                .iter()
                .rev()
                .filter(|&&i| s.may_drain(i))
                .min_by_key(|&&i| self.cluster.replicas[i as usize].load().outstanding_requests)
            else {
                return;
            };
            let i = i as usize;
            let f = self.fleet.as_mut().expect("fleet");
            f.set_life(now.0, i, Life::Draining);
            if self.idle_replica(i) {
                self.fleet.as_mut().expect("fleet").set_life(now.0, i, Life::Off);
                self.sync_host_cores(now);
            }
        }
    }
}

impl Autoscaler {
    /// Replicas starting and draining (for the windows' snapshot).
    pub fn counts(&self) -> (u32, u32, u32) {
        (self.ready.len() as u32, self.starting, self.draining)
    }
}
