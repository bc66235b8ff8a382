//! The purchase mix of an autoscaled fleet (`[fleet.purchase]`): replicas 0..R are the reserved
//! base, paid for every second of the run whether provisioned or not (the autoscaler keeps them
//! and never drains them); above it each replica is spot or on demand by its index
//! (`Purchase::is_spot`). Spot and on-demand replicas pack into instances of their own kind. The
//! autoscaler accrues each part's instance-ns as it accrues its total, so the work per
//! lifecycle change is O(1), and nothing here runs without `[fleet.purchase]`.

use super::Simulation;
use super::autoscale::Autoscaler;
use crate::metrics::purchase::{PurchaseResult, slo_minutes_lost};
use crate::scenario::purchase::Purchase;

/// Instances `n` replicas of `ranks` ranks occupy on instances of `per` ranks: replicas smaller
/// than an instance pack into whole instances, larger ones span whole instances.
pub(super) fn pack(n: u32, ranks: u32, per: u32) -> u32 {
    if ranks >= per {
        n * ranks.div_ceil(per)
    } else {
        n.div_ceil(per / ranks)
    }
}

pub(super) struct PurchaseState {
    pub spec: Purchase,
    /// Provisioned replicas above the base: on demand, spot.
    above: [u32; 2],
    /// Instance-ns of each part (reserved, on demand, spot) up to the autoscaler's last accrual.
    pub part_ns: [u128; 3],
}

impl PurchaseState {
    /// Replicas 0..initial start provisioned.
    pub fn new(spec: Purchase, initial: u32) -> PurchaseState {
        let mut p = PurchaseState {
            spec,
            above: [0, 0],
            part_ns: [0; 3],
        };
        for i in 0..initial {
            p.moved(i, false, true);
        }
        p
    }

    /// Replica `i` went from provisioned (`was`) to provisioned (`now`) or not.
    pub fn moved(&mut self, i: u32, was: bool, now: bool) {
        if i < self.spec.reserved || was == now {
            return;
        }
        let k = self.spec.is_spot(i) as usize;
        if now {
            self.above[k] += 1;
        } else {
            self.above[k] -= 1;
        }
    }

    /// Instances of each part: the whole base, and the on-demand and spot replicas provisioned.
    pub fn instances(&self, ranks: u32, per: u32) -> [u32; 3] {
        [
            pack(self.spec.reserved, ranks, per),
            pack(self.above[0], ranks, per),
            pack(self.above[1], ranks, per),
        ]
    }

    /// Each part's price per hour for `instances`.
    pub fn usd_per_hour(&self, instances: [u32; 3]) -> [f64; 3] {
        let p = self.spec.usd_per_hour();
        [0, 1, 2].map(|k| instances[k] as f64 * p[k])
    }

    /// The run's figures, part by part.
    pub fn result(&self, slo: Option<(f64, f64)>) -> PurchaseResult {
        let h = self.part_ns.map(|ns| ns as f64 / 3600e9);
        let p = self.spec.usd_per_hour();
        let usd = [0, 1, 2].map(|k| h[k] * p[k]);
        PurchaseResult {
            reserved_replicas: self.spec.reserved,
            spot_share: self.spec.spot_share,
            reserved_instance_h: h[0],
            on_demand_instance_h: h[1],
            spot_instance_h: h[2],
            reserved_usd: usd[0],
            on_demand_usd: usd[1],
            spot_usd: usd[2],
            total_usd: usd[0] + usd[1] + usd[2],
            slo_minutes_lost: slo.map(|s| s.0),
            slo_target: slo.map(|s| s.1),
        }
    }
}

impl Autoscaler {
    /// Replica `i` may be drained by a scale-down (no reserved replica is).
    pub(super) fn may_drain(&self, i: u32) -> bool {
        self.purchase.as_ref().is_none_or(|p| i >= p.spec.reserved)
    }

    /// Replica `i` may be reclaimed as spot capacity: every replica without a purchase mix,
    /// only the spot ones with it.
    pub(super) fn reclaimable(&self, i: u32) -> bool {
        self.purchase.as_ref().is_none_or(|p| p.spec.is_spot(i))
    }
}

impl Simulation {
    /// At the run's end: the purchase mix's figures (its windows' SLO minutes lost set), with
    /// their note; None without `[fleet.purchase]`.
    pub(super) fn purchase_finish(
        &mut self,
        rows: &mut [crate::metrics::windows::WindowRow],
    ) -> Option<PurchaseResult> {
        let p = self.scaler()?.purchase.as_ref()?;
        // The strictest class's percentile is the share of requests a window must serve within
        // their SLO.
        let target = self
            .sc
            .classes
            .iter()
            .filter_map(|c| c.slo.as_ref().map(|s| s.percentile / 100.0))
            .reduce(f64::max);
        if let Some(t) = target {
            for w in rows.iter_mut() {
                w.slo_minutes_lost = Some(slo_minutes_lost(std::slice::from_ref(w), t));
            }
        }
        let r = p.result(target.map(|t| (slo_minutes_lost(rows, t), t)));
        let lost = match (r.slo_minutes_lost, r.slo_target) {
            (Some(m), Some(t)) => format!(
                "; SLO minutes lost {m:.1} (the windows whose share of requests within their SLO fell below {t})"
            ),
            _ => "; no SLO, so no SLO minutes lost are counted".into(),
        };
        self.notes.push(format!(
            "purchase: reserved {} replicas, {:.2} instance-hours, ${:.2}; on demand {:.2} instance-hours, ${:.2}; spot {:.2} instance-hours, ${:.2}; total ${:.2}{lost}",
            r.reserved_replicas,
            r.reserved_instance_h,
            r.reserved_usd,
            r.on_demand_instance_h,
            r.on_demand_usd,
            r.spot_instance_h,
            r.spot_usd,
            r.total_usd
        ));
        Some(r)
    }
}
