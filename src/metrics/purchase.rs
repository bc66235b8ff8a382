//! What a fleet's purchase mix cost (`[fleet.purchase]`): the reserved base, the on-demand and
//! the spot parts, and the SLO minutes lost over the run (from the per-window metrics).

use super::windows::WindowRow;
use serde::{Deserialize, Serialize};

/// The purchase mix of a run, part by part.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct PurchaseResult {
    pub reserved_replicas: u32,
    pub spot_share: f64,
    /// Instance-hours of each part: the reserved base over the whole span; on demand and spot
    /// while provisioned (starting, ready or draining).
    pub reserved_instance_h: f64,
    pub on_demand_instance_h: f64,
    pub spot_instance_h: f64,
    pub reserved_usd: f64,
    pub on_demand_usd: f64,
    pub spot_usd: f64,
    /// reserved + on demand + spot (the run's `cost.usd_total` less any front-end tier).
    pub total_usd: f64,
    /// Minutes of the windows whose SLO attainment fell below the SLO's target (None: no SLO).
    pub slo_minutes_lost: Option<f64>,
    /// The target: the SLO's percentile / 100 (the strictest class's).
    pub slo_target: Option<f64>,
}

/// Sum of the widths, minutes, of the windows whose SLO attainment (the share of the requests
/// completed in the window that met their SLO) is below `target`. A window that completed
/// nothing is not judged (it loses nothing).
pub fn slo_minutes_lost(rows: &[WindowRow], target: f64) -> f64 {
    rows.iter()
        .filter(|w| w.slo_attainment.is_some_and(|a| a < target))
        .fold(0.0, |m, w| m + (w.end_s - w.start_s) / 60.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minutes_lost_are_the_widths_of_the_windows_below_target() {
        let w = |start_s: f64, end_s: f64, a: Option<f64>| WindowRow {
            start_s,
            end_s,
            slo_attainment: a,
            ..WindowRow::default()
        };
        // Target 0.99: the windows at 0.98 (60 s) and 0.5 (the last, 30 s wide) are lost;
        // 0.99 itself, 1.0 and a window with no completions are not: 1.0 + 0.5 = 1.5 minutes.
        let rows = [
            w(0.0, 60.0, Some(1.0)),
            w(60.0, 120.0, Some(0.98)),
            w(120.0, 180.0, Some(0.99)),
            w(180.0, 240.0, None),
            w(240.0, 270.0, Some(0.5)),
        ];
        assert!((slo_minutes_lost(&rows, 0.99) - 1.5).abs() < 1e-12);
    }
}
