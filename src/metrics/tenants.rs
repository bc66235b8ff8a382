//! Per-tenant results (`[[workload.tenants]]`) and how fairly the fleet served them: Jain's
//! index J(x) = (Σ xᵢ)² / (n · Σ xᵢ²) (Jain, Chiu and Hawe, DEC-TR-301, 1984), 1 when every
//! tenant gets the same x, 1/n when one of n gets everything, over two normalised services:
//! each tenant's served fraction (its throughput over its offered load: completed / arrived,
//! both over the run's span) and each tenant's SLO attainment.

use super::Dist;
use serde::{Deserialize, Serialize};

/// Jain's fairness index of `xs` (None when empty, or when every x is 0: nothing to share).
pub fn jain(xs: &[f64]) -> Option<f64> {
    let sum: f64 = xs.iter().sum();
    let sq: f64 = xs.iter().map(|x| x * x).sum();
    if xs.is_empty() || sq <= 0.0 || !sum.is_finite() || !sq.is_finite() {
        return None;
    }
    Some(sum * sum / (xs.len() as f64 * sq))
}

/// One tenant's part of the run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TenantResult {
    pub name: String,
    /// The model it calls (`[model] name` or a deployment group's `model`).
    pub model: String,
    pub priority: u32,
    /// The tenant's mean rate, req/s: its `rate_per_s` times its profile's daily and weekly
    /// mean (spikes aside; `arrived` over the span counts them).
    pub base_rate_per_s: f64,
    /// arrived = completed + turned_away + unfinished, per tenant; each sums to the run's.
    pub arrived: u64,
    pub completed: u64,
    /// Dropped (too long for any replica) or rejected (`serving.max_queue`).
    pub turned_away: u64,
    pub unfinished: u64,
    pub requests_s: f64,
    pub output_tok_s: f64,
    pub ttft_ms: Dist,
    pub tpot_ms: Dist,
    /// Fraction of the tenant's completed requests meeting its SLO (None: no SLO).
    pub slo_attainment: Option<f64>,
    /// Completed requests per second that met the SLO (None: no SLO).
    pub goodput_requests_s: Option<f64>,
    /// completed / arrived: the tenant's throughput over its offered load (0 when none arrived).
    pub served_fraction: f64,
}

/// Every tenant's results and the fleet's fairness across them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TenantsResult {
    pub tenants: Vec<TenantResult>,
    /// Jain's index over the tenants' served fractions.
    pub jain_served: Option<f64>,
    /// Jain's index over the SLO attainments of the tenants that have an SLO (None: fewer
    /// than two have one).
    pub jain_slo_attainment: Option<f64>,
}

impl TenantsResult {
    pub fn new(tenants: Vec<TenantResult>) -> TenantsResult {
        let served: Vec<f64> = tenants.iter().map(|t| t.served_fraction).collect();
        let slo: Vec<f64> = tenants.iter().filter_map(|t| t.slo_attainment).collect();
        TenantsResult {
            jain_served: jain(&served),
            jain_slo_attainment: if slo.len() >= 2 { jain(&slo) } else { None },
            tenants,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::jain;

    #[test]
    fn jain_closed_forms() {
        // Equal shares: (n·x)² / (n · n·x²) = 1.
        assert!((jain(&[0.7, 0.7, 0.7]).unwrap() - 1.0).abs() < 1e-15);
        assert_eq!(jain(&[1.0, 1.0]), Some(1.0));
        // One of n served: x = (1, 0, 0, 0): 1² / (4 · 1) = 1/4.
        assert_eq!(jain(&[1.0, 0.0, 0.0, 0.0]), Some(0.25));
        // By hand: x = (1, 0.5): (1.5)² / (2 · 1.25) = 2.25 / 2.5 = 0.9.
        assert!((jain(&[1.0, 0.5]).unwrap() - 0.9).abs() < 1e-15);
        // x = (0.9, 0.6, 0.3): 1.8² / (3 · (0.81 + 0.36 + 0.09)) = 3.24 / 3.78 = 0.857142...
        assert!((jain(&[0.9, 0.6, 0.3]).unwrap() - 3.24 / 3.78).abs() < 1e-12);
        // Scale-free: J(c·x) = J(x).
        assert!((jain(&[2.0, 1.0]).unwrap() - 0.9).abs() < 1e-15);
        assert_eq!(jain(&[]), None);
        assert_eq!(jain(&[0.0, 0.0]), None);
    }
}
