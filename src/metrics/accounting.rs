//! What a run costs and the energy it draws, from what each pool did. The simulation gathers the
//! figures (instances, prices, chips' powers, busy time, host power); the sums live here, in one
//! place, so rental prices and per-phase power read the same usage (ownership and managed prices: `pricing.rs`).
//!
//! Energy: every chip of every instance draws its idle power for the whole run; a chip running a
//! step adds its dynamic range (TDP − idle) times the step's dynamic energy, the time of each
//! phase of the step (compute, HBM, collectives, launch and host gaps) weighted by the fraction
//! of the range the chip draws in it (`hw::power`); hosts draw their power at their utilisation;
//! the facility adds (PUE − 1) of all of it. Cost: instance-hours
//! over the whole run at the chosen price, idle capacity included, plus the front-end tier.

use super::{Cost, Energy};

/// One pool's part of a run, as the accounting needs it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PoolUsage {
    /// Instances the pool occupies (fractional when pools share instances).
    pub instances: f64,
    pub usd_per_instance_hour: f64,
    pub chips_per_instance: f64,
    pub chip_idle_w: f64,
    pub chip_tdp_w: f64,
    /// Σ over the pool's chips and steps of the step's dynamic energy in ns at the full dynamic
    /// range: Σ over phases of phase time × the fraction of the range drawn in it
    /// (`hw::power::ChipPower::step_dynamic_ns`).
    pub busy_chip_ns: f64,
    /// One instance's host power at its utilisation over the run, W.
    pub host_w: f64,
}

/// What the run did overall.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RunTotals {
    /// Simulated time the run is measured over, s.
    pub span_s: f64,
    pub output_tokens: f64,
    /// Input + output tokens.
    pub total_tokens: f64,
    pub completed: u64,
    pub instances: u32,
    pub frontend_usd_per_hour: f64,
    /// Power usage effectiveness of the facility (≥ 1).
    pub pue: f64,
}

/// The run's cost.
pub fn cost(pools: &[PoolUsage], t: &RunTotals) -> Cost {
    let usd_per_hour =
        pools.iter().map(|p| p.instances * p.usd_per_instance_hour).sum::<f64>() + t.frontend_usd_per_hour;
    let usd_total = usd_per_hour * t.span_s / 3600.0;
    let per_mtok = |tok: f64| if tok > 0.0 { usd_total / tok * 1e6 } else { 0.0 };
    Cost {
        usd_per_mtok_output: per_mtok(t.output_tokens),
        usd_per_mtok_total: per_mtok(t.total_tokens),
        usd_total,
        usd_per_hour,
        instances: t.instances,
    }
}

/// The run's energy.
pub fn energy(pools: &[PoolUsage], t: &RunTotals) -> Energy {
    let (mut idle_j, mut dynamic_j, mut host_j) = (0.0, 0.0, 0.0);
    for p in pools {
        dynamic_j += (p.chip_tdp_w - p.chip_idle_w).max(0.0) * p.busy_chip_ns * 1e-9;
        idle_j += p.chip_idle_w * p.instances * p.chips_per_instance * t.span_s;
        host_j += p.host_w * p.instances * t.span_s;
    }
    let it_j = idle_j + dynamic_j + host_j;
    let facility_j = it_j * (t.pue - 1.0);
    let j_total = it_j + facility_j;
    Energy {
        j_per_output_token: if t.output_tokens > 0.0 {
            j_total / t.output_tokens
        } else {
            0.0
        },
        j_total,
        avg_power_w: if t.span_s > 0.0 { j_total / t.span_s } else { 0.0 },
        j_per_request: if t.completed > 0 {
            j_total / t.completed as f64
        } else {
            0.0
        },
        chip_idle_j: idle_j,
        chip_dynamic_j: dynamic_j,
        host_j,
        facility_j,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_pool() -> (PoolUsage, RunTotals) {
        (
            PoolUsage {
                instances: 2.0,
                usd_per_instance_hour: 98.32,
                chips_per_instance: 8.0,
                chip_idle_w: 100.0,
                chip_tdp_w: 700.0,
                busy_chip_ns: 8.0 * 1800e9, // 8 chips fully active for half an hour
                host_w: 500.0,
            },
            RunTotals {
                span_s: 3600.0,
                output_tokens: 2e6,
                total_tokens: 5e6,
                completed: 1000,
                instances: 2,
                frontend_usd_per_hour: 1.68,
                pue: 1.2,
            },
        )
    }

    #[test]
    fn cost_is_instance_hours_at_the_price_plus_the_front_end() {
        let (p, t) = one_pool();
        let c = cost(&[p], &t);
        // 2 × $98.32 + $1.68 = $198.32 per hour, for one hour.
        assert!((c.usd_per_hour - 198.32).abs() < 1e-9);
        assert!((c.usd_total - 198.32).abs() < 1e-9);
        assert!((c.usd_per_mtok_output - 198.32 / 2.0).abs() < 1e-9);
        assert!((c.usd_per_mtok_total - 198.32 / 5.0).abs() < 1e-9);
    }

    #[test]
    fn energy_adds_idle_dynamic_host_and_facility() {
        let (p, t) = one_pool();
        let e = energy(&[p], &t);
        // Idle: 100 W × 16 chips × 3600 s = 5.76 MJ. Dynamic: 600 W × 8 chips × 1800 s = 8.64 MJ.
        // Hosts: 500 W × 2 × 3600 s = 3.6 MJ. IT 18 MJ; facility 0.2 × 18 = 3.6 MJ; total 21.6 MJ.
        assert!((e.chip_idle_j - 5.76e6).abs() < 1e-3);
        assert!((e.chip_dynamic_j - 8.64e6).abs() < 1e-3);
        assert!((e.host_j - 3.6e6).abs() < 1e-3);
        assert!((e.facility_j - 3.6e6).abs() < 1e-3);
        assert!((e.j_total - 21.6e6).abs() < 1e-3);
        assert!((e.avg_power_w - 6000.0).abs() < 1e-6);
        assert!((e.j_per_output_token - 10.8).abs() < 1e-9);
        assert!((e.j_per_request - 21_600.0).abs() < 1e-6);
    }

    #[test]
    fn a_run_without_steps_draws_idle_times_span() {
        let (mut p, t) = one_pool();
        p.busy_chip_ns = 0.0;
        p.host_w = 0.0;
        let e = energy(&[p], &t);
        // 100 W idle × 16 chips × 3600 s = 5.76 MJ, no dynamic part; × PUE 1.2 = 6.912 MJ; the
        // average power is 16 × 100 W × 1.2 = 1920 W.
        assert_eq!(e.chip_dynamic_j, 0.0);
        assert!((e.chip_idle_j - 5.76e6).abs() < 1e-6);
        assert!((e.j_total - 6.912e6).abs() < 1e-6);
        assert!((e.avg_power_w - 1920.0).abs() < 1e-9);
    }

    #[test]
    fn an_empty_run_costs_nothing_per_token_and_no_nan() {
        let (p, mut t) = one_pool();
        t.span_s = 0.0;
        t.output_tokens = 0.0;
        t.total_tokens = 0.0;
        t.completed = 0;
        let (c, e) = (cost(&[p], &t), energy(&[p], &t));
        for v in [
            c.usd_per_mtok_output,
            c.usd_total,
            e.j_per_output_token,
            e.avg_power_w,
            e.j_per_request,
        ] {
            assert!(v == 0.0, "{v}");
        }
    }
}
