//! The reserved base of a fleet whose size follows a curve n(t) over a horizon H: reserving R
//! replicas costs R·p_res·H whether they serve or not, and what the curve needs above them is
//! bought on demand, ∫ max(0, n(t) − R)·p_od dt. One more reserved replica saves p_od for every
//! moment n(t) > R and costs p_res for every moment: the cost falls while the share of time
//! n(t) > R exceeds p_res / p_od (the newsvendor's critical ratio), so the cheapest R is the
//! smallest with share(n > R) ≤ p_res / p_od. On a step curve the cost is evaluated exactly at
//! every R from 0 to the peak and the least is taken (ties: the smallest R).

use serde::{Deserialize, Serialize};

/// A replica-count curve: (replicas, seconds) pieces.
pub type Curve = [(u32, f64)];

/// The reserved base chosen for a curve, with what it costs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BaseChoice {
    pub reserved: u32,
    /// p_res / p_od: the share of time above the base at which one more reserved replica pays.
    pub critical_ratio: f64,
    /// Share of the horizon the curve stays above the chosen base.
    pub share_above: f64,
    /// R·p_res·H and ∫ max(0, n − R)·p_od dt, USD (prices per replica-hour).
    pub reserved_usd: f64,
    pub on_demand_usd: f64,
    /// The same curve bought all on demand, USD.
    pub all_on_demand_usd: f64,
}

/// The cost of reserving `r` over `curve` at `p_res` and `p_od` per replica-hour: (reserved,
/// on demand), USD.
pub fn cost(curve: &Curve, r: u32, p_res: f64, p_od: f64) -> (f64, f64) {
    let h: f64 = curve.iter().map(|&(_, s)| s).sum::<f64>() / 3600.0;
    let above: f64 = curve
        .iter()
        .map(|&(n, s)| n.saturating_sub(r) as f64 * s / 3600.0)
        .fold(0.0, |a, x| a + x);
    (r as f64 * p_res * h, above * p_od)
}

/// The reserved base that buys `curve` cheapest at `p_res` and `p_od` per replica-hour.
pub fn choose(curve: &Curve, p_res: f64, p_od: f64) -> BaseChoice {
    let peak = curve.iter().map(|&(n, _)| n).max().unwrap_or(0);
    let total_s: f64 = curve.iter().map(|&(_, s)| s).fold(0.0, |a, x| a + x);
    let mut best: Option<(u32, f64)> = None;
    for r in 0..=peak {
        let (a, b) = cost(curve, r, p_res, p_od);
        // Strictly cheaper (beyond rounding) to move up: ties keep the smaller base.
        if best.is_none_or(|(_, c)| a + b < c - 1e-9 * c.abs().max(1.0)) {
            best = Some((r, a + b));
        }
    }
    let r = best.map_or(0, |b| b.0);
    let (reserved_usd, on_demand_usd) = cost(curve, r, p_res, p_od);
    let above_s: f64 = curve
        .iter()
        .filter(|&&(n, _)| n > r)
        .map(|&(_, s)| s)
        .fold(0.0, |a, x| a + x);
    BaseChoice {
        reserved: r,
        critical_ratio: if p_od > 0.0 { p_res / p_od } else { f64::INFINITY },
        share_above: if total_s > 0.0 { above_s / total_s } else { 0.0 },
        reserved_usd,
        on_demand_usd,
        all_on_demand_usd: cost(curve, 0, p_res, p_od).1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// n = 2 for 16 h and 6 for 8 h, p_od = $1, p_res = $0.6 per replica-hour (ratio 0.6).
    /// Share of time above R: R = 0, 1: 1 (> 0.6, reserve more); R = 2..5: 8/24 = 1/3 (≤ 0.6):
    /// R = 2. By hand: R = 2 costs 2 × 0.6 × 24 = $28.80 reserved + (6 − 2) × 8 h × $1 = $32 on
    /// demand, $60.80; R = 1: 14.40 + 16 + 40 = $70.40; R = 3: 43.20 + 24 = $67.20; R = 6:
    /// $86.40; all on demand: 2 × 16 + 6 × 8 = $80.
    #[test]
    fn the_newsvendor_base_on_a_hand_made_curve() {
        let h = 3600.0;
        let curve = [(2, 16.0 * h), (6, 8.0 * h)];
        let c = choose(&curve, 0.6, 1.0);
        assert_eq!(c.reserved, 2);
        assert!((c.reserved_usd - 28.8).abs() < 1e-9 && (c.on_demand_usd - 32.0).abs() < 1e-9);
        assert!((c.share_above - 1.0 / 3.0).abs() < 1e-12 && c.share_above <= c.critical_ratio);
        assert!((c.all_on_demand_usd - 80.0).abs() < 1e-9);
        let total = |r| {
            let (a, b) = cost(&curve, r, 0.6, 1.0);
            a + b
        };
        assert!((total(1) - 70.4).abs() < 1e-9 && (total(3) - 67.2).abs() < 1e-9);
        assert!((total(6) - 86.4).abs() < 1e-9);
        // The pieces may come in any order and be split: the same answer.
        let split = [(6, 4.0 * h), (2, 10.0 * h), (6, 4.0 * h), (2, 6.0 * h)];
        assert_eq!(choose(&split, 0.6, 1.0).reserved, 2);
        // A ratio just above the share of time at the peak (0.34 > 1/3): reserving above the
        // floor of 2 does not pay; just below (0.3 < 1/3), the whole peak is reserved.
        assert_eq!(choose(&curve, 0.34, 1.0).reserved, 2);
        assert_eq!(choose(&curve, 0.3, 1.0).reserved, 6);
        // Reserved dearer than on demand: nothing reserved.
        assert_eq!(choose(&curve, 1.2, 1.0).reserved, 0);
    }
}
