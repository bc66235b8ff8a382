//! The fleet over time: the per-window metrics of a run with `[fleet]` or `[workload.profile]`.
//! Nothing here runs when the scenario has neither (`Simulation::fleet` is `None`).

use super::Simulation;
use super::autoscale::Autoscaler;
use super::cluster::Cluster;
use crate::engine::SimTime;
use crate::metrics::slo::Slo;
use crate::metrics::windows::{Snapshot, Windows};
use crate::scenario::Scenario;
use crate::serve::ReqState;

pub(super) struct FleetState {
    pub windows: Windows,
    /// `[fleet.autoscale]` (None: the fleet stays as deployed).
    pub scaler: Option<Autoscaler>,
    /// Instance-seconds provisioned over the run, once it ended (autoscaling only).
    pub instance_s: Option<f64>,
    /// Replica-seconds up (ready or draining) over the run, once it ended (autoscaling only).
    pub serving_s: Option<f64>,
    /// The first window that ended with a backlog longer than itself, once the run ended.
    pub backlog: Option<WindowBacklog>,
    /// The purchase mix's figures, once the run ended (`[fleet.purchase]` only).
    pub purchase: Option<crate::metrics::purchase::PurchaseResult>,
}

/// A window at whose end more requests waited for a batch slot than the fleet completed in the
/// whole window: a request arriving then waits longer than a window, whatever the steady-state
/// probe (which reads a stationary load) concluded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct WindowBacklog {
    pub start_s: f64,
    pub end_s: f64,
    pub queued: u64,
    pub completions: u64,
}

impl WindowBacklog {
    /// The first window (that completed anything) whose end queue exceeds its completions.
    pub fn first(rows: &[crate::metrics::windows::WindowRow]) -> Option<WindowBacklog> {
        rows.iter()
            .find(|w| w.completions > 0 && w.queued > w.completions)
            .map(|w| WindowBacklog {
                start_s: w.start_s,
                end_s: w.end_s,
                queued: w.queued,
                completions: w.completions,
            })
    }

    pub fn note(&self) -> String {
        format!(
            "saturation: backlogged from the window {:.0}-{:.0} s on: {} requests waited for a batch slot at its end, more than the {} the fleet completed in the whole window, so a request arriving then waited longer than a window (per-window metrics, which a time-varying load needs: the steady-state probe reads a stationary one)",
            self.start_s, self.end_s, self.queued, self.completions
        )
    }
}

impl FleetState {
    pub fn new(sc: &Scenario, cluster: &Cluster, notes: &mut Vec<String>) -> Option<FleetState> {
        let f = sc.fleet.as_ref()?;
        let scaler = Autoscaler::new(sc, cluster, instance_usd_per_hour(sc), notes);
        let usd_per_hour = match &scaler {
            Some(s) => s.usd_per_hour(),
            None => fleet_usd_per_hour(sc, &cluster.pool_instances),
        };
        let mut windows = Windows::new(f.window_ns, usd_per_hour);
        if let Some(parts) = scaler.as_ref().and_then(|s| s.part_usd_per_hour()) {
            windows.set_part_prices(0, usd_per_hour, parts);
        }
        Some(FleetState {
            windows,
            scaler,
            instance_s: None,
            serving_s: None,
            backlog: None,
            purchase: None,
        })
    }

    /// When the fleet next has something to do (a window to close).
    pub fn due_ns(&self) -> u64 {
        self.windows.end_ns
    }

    pub fn completed(&mut self, now: SimTime, r: &ReqState, slo: Option<&Slo>) {
        let ms = |ns: u64| ns as f64 * 1e-6;
        let ttft = ms(r.times().first_token.since(r.arrival));
        let tpot = if r.output > 1 {
            ms(now.since(r.times().first_token)) / (r.output - 1) as f64
        } else {
            f64::NAN
        };
        let met = slo.map(|s| s.met_by_request(ttft, tpot, ms(now.since(r.arrival))));
        self.windows.completion(ttft, tpot, met);
    }
}

/// What one instance of the first pool costs per hour under the scenario's pricing.
fn instance_usd_per_hour(sc: &Scenario) -> f64 {
    pool_instance_usd_per_hour(sc, &sc.pools[0])
}

/// What the instances cost per hour under the scenario's pricing (the summary's figure).
fn fleet_usd_per_hour(sc: &Scenario, pool_instances: &[f64]) -> f64 {
    sc.pools
        .iter()
        .zip(pool_instances)
        .map(|(p, n)| n * pool_instance_usd_per_hour(sc, p))
        .sum()
}

/// One instance of `pool` per hour under the scenario's pricing (its on-demand price when the
/// pricing has none for it).
fn pool_instance_usd_per_hour(sc: &Scenario, pool: &crate::scenario::Pool) -> f64 {
    let instance = &pool.hardware.instance;
    sc.infra
        .pricing
        .usd_per_hour(instance, &sc.file, "infrastructure.pricing")
        .unwrap_or(instance.price.on_demand_usd_per_hour)
}

impl Simulation {
    /// Closes every window that ended at or before `now`.
    pub(super) fn fleet_due(&mut self, now: SimTime) {
        while self.fleet.as_ref().is_some_and(|f| f.due_ns() <= now.0) {
            let snap = self.snapshot();
            let f = self.fleet.as_mut().expect("checked");
            let end = f.windows.end_ns;
            f.windows.close(end, snap);
        }
    }

    /// Closes the last (partial) window at the run's end (the span the summary prices: the cut,
    /// or the last completion) and hands the rows over.
    pub(super) fn fleet_finish(&mut self) -> Vec<crate::metrics::windows::WindowRow> {
        let end = match self.cut {
            Some((t, _)) => t,
            None => self.rec.last_completion,
        };
        self.fleet_due(end);
        let snap = self.snapshot();
        let Some(f) = self.fleet.as_mut() else {
            return Vec::new();
        };
        if end.0 > f.windows.end_ns - f.windows.width_ns {
            f.windows.close(end.0, snap);
        }
        if let Some(s) = f.scaler.as_mut() {
            let instance_s = s.instance_s(end.0);
            f.instance_s = Some(instance_s);
            f.serving_s = Some(s.serving_s(end.0));
            self.notes.push(s.note(instance_s));
            if let Some(l) = &s.losses {
                self.notes.push(l.note(&self.rec.counts));
            }
        }
        f.backlog = WindowBacklog::first(&f.windows.rows);
        if let Some(b) = &f.backlog {
            self.notes.push(b.note());
        }
        let mut rows = std::mem::take(&mut f.windows.rows);
        let purchase = self.purchase_finish(&mut rows);
        if let Some(f) = self.fleet.as_mut() {
            f.purchase = purchase;
        }
        rows
    }

    /// Instances each pool is paid for over the run: as built, or, autoscaling, the mean
    /// provisioned over the span (instance-seconds / span).
    pub(super) fn paid_instances(&self, span_s: f64) -> Vec<f64> {
        let mut n = super::cluster::instances_needed(&self.cluster.pools, self.sc.kv_link);
        if let Some(f) = &self.fleet
            && let (Some(s), Some(instance_s)) = (&f.scaler, f.instance_s)
        {
            n[0] = if span_s > 0.0 {
                instance_s / span_s
            } else {
                s.instances() as f64
            };
        }
        n
    }

    /// Σ `f` over the replicas that take requests (an autoscaled fleet's ready ones, else all),
    /// and how many replicas those are.
    fn over_ready(&self, f: impl Fn(&crate::serve::replica::Replica) -> u64) -> (u64, usize) {
        let reps = &self.cluster.replicas;
        match self.scaler() {
            Some(s) => (s.ready.iter().map(|&i| f(&reps[i as usize])).sum(), s.ready.len()),
            None => (reps.iter().map(f).sum(), reps.len()),
        }
    }

    /// The requests (queued or running) on the replicas that take requests, and how many
    /// replicas those are: an autoscaled fleet's ready ones, else all.
    pub(super) fn ready_requests(&self) -> (u64, usize) {
        self.over_ready(|r| r.load().outstanding_requests as u64)
    }

    fn snapshot(&self) -> Snapshot {
        let queued = self.cluster.replicas.iter().map(|r| r.queue_len() as u64).sum::<u64>() + self.front.in_flight();
        let (ready, starting, draining) = match self.scaler() {
            Some(s) => s.counts(),
            None => (self.sc.pools.iter().map(|p| p.replicas).sum(), 0, 0),
        };
        // The ready replicas' requests over their slots, as the autoscaler's policy reads them.
        let (requests, serving) = self.ready_requests();
        let slots = serving as f64 * self.sc.scheduler.max_batch.max(1) as f64;
        let ((kv_used, _), (kv_total, _)) = (
            self.over_ready(|r| r.used_blocks()),
            self.over_ready(|r| r.total_blocks()),
        );
        Snapshot {
            ready,
            starting,
            draining,
            queued,
            in_system: self.in_system + self.front.in_flight(),
            batch_slots_used: (serving > 0).then(|| requests as f64 / slots),
            kv_used: (kv_total > 0).then(|| kv_used as f64 / kv_total as f64),
        }
    }
}
