//! The fleet over time: the per-window metrics of a run with `[fleet]` or `[workload.profile]`.
//! Nothing here runs when the scenario has neither (`Simulation::fleet` is `None`).

use super::Simulation;
use super::cluster::Cluster;
use crate::engine::SimTime;
use crate::metrics::slo::Slo;
use crate::metrics::windows::{Snapshot, Windows};
use crate::scenario::Scenario;
use crate::serve::ReqState;

pub(super) struct FleetState {
    pub windows: Windows,
}

impl FleetState {
    pub fn new(sc: &Scenario, cluster: &Cluster) -> Option<FleetState> {
        let f = sc.fleet.as_ref()?;
        Some(FleetState {
            windows: Windows::new(f.window_ns, fleet_usd_per_hour(sc, &cluster.pool_instances)),
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

/// What the instances cost per hour under the scenario's pricing (the summary's figure).
fn fleet_usd_per_hour(sc: &Scenario, pool_instances: &[f64]) -> f64 {
    sc.pools
        .iter()
        .zip(pool_instances)
        .map(|(p, n)| {
            let hw = &p.hardware;
            let price = sc
                .infra
                .pricing
                .usd_per_hour(&hw.instance, &sc.file, "infrastructure.pricing")
                .unwrap_or(hw.instance.price.on_demand_usd_per_hour);
            n * price
        })
        .sum()
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
        std::mem::take(&mut f.windows.rows)
    }

    fn snapshot(&self) -> Snapshot {
        let queued = self.cluster.replicas.iter().map(|r| r.queue_len() as u64).sum::<u64>() + self.front.in_flight();
        Snapshot {
            ready: self.sc.pools.iter().map(|p| p.replicas).sum(),
            queued,
            in_system: self.in_system + self.front.in_flight(),
        }
    }
}
