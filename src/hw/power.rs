//! The power model: what a chip, a host and the facility draw, from the activity the cost model
//! reports. All of it is assumption-grade and documented here so it can be reviewed.
//!
//! - Chip: P = idle + (TDP − idle) · min(1, w_c · u_c + w_m · u_m), where u_c is the step's
//!   FLOPs at peak over its duration (the fraction of time the matrix engines would need at full
//!   clock) and u_m its bytes at full HBM bandwidth over its duration. `w_c` = 1: a chip running
//!   its matrix engines flat out reaches TDP. `w_m` = 0.5: streaming HBM at full bandwidth with
//!   the engines mostly idle (a decode step) draws about half of the dynamic range; published
//!   decode power of H100/A100 servers sits at 60–75 % of TDP (assumption, no per-chip
//!   measurement split by activity was found).
//! - Host: idle + (TDP − idle) · utilisation of its cores, idle = 30 % of TDP (assumption:
//!   server CPUs idle at a quarter to a third of TDP).
//! - Facility: everything times the PUE (`[infrastructure] pue`, default 1.0: IT power only).
//! - Power cap (`[infrastructure] power_cap_w`, per chip): when a step would draw more than the
//!   cap, the chip lowers its clock until the step's average power equals the cap. The step's
//!   work (its FLOPs and bytes at peak, hence its dynamic energy) is fixed, so its duration
//!   becomes (w_c · ideal_compute + w_m · ideal_memory) / allowed fraction of the dynamic range;
//!   the added time is counted as compute (the clocks, not HBM, slowed). First-order: dynamic
//!   energy per operation is taken as independent of the clock (voltage scaling ignored, so the
//!   slowdown is an upper bound). Steps under the cap, memory-bound decode typically, keep
//!   their time.

use super::{Chip, Host};

/// Weight of compute activity in the chip's dynamic power.
pub const W_COMPUTE: f64 = 1.0;
/// Weight of HBM activity in the chip's dynamic power.
pub const W_MEMORY: f64 = 0.5;
/// A host's idle draw as a fraction of its TDP.
pub const HOST_IDLE_FRACTION: f64 = 0.3;

/// Fraction (0..1) of the chip's dynamic range drawn at compute activity `u_c` and memory
/// activity `u_m` (each 0..1).
pub fn dynamic_fraction(u_c: f64, u_m: f64) -> f64 {
    (W_COMPUTE * u_c + W_MEMORY * u_m).clamp(0.0, 1.0)
}

/// A chip's draw, W, at the given activities.
pub fn chip_power_w(chip: &Chip, u_c: f64, u_m: f64) -> f64 {
    chip.idle_w + (chip.tdp_w - chip.idle_w).max(0.0) * dynamic_fraction(u_c, u_m)
}

/// A host's draw (all sockets), W, at core utilisation `util` (0..1).
pub fn host_power_w(host: &Host, util: f64) -> f64 {
    let tdp = host.tdp_w * host.sockets.max(1) as f64;
    tdp * (HOST_IDLE_FRACTION + (1.0 - HOST_IDLE_FRACTION) * util.clamp(0.0, 1.0))
}

/// The power cap of one chip, precomputed for the cost model's hot path.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PowerCap {
    pub cap_w: f64,
    pub idle_w: f64,
    pub tdp_w: f64,
}

impl PowerCap {
    /// The duration of a step of `total_ns` whose FLOPs and bytes at peak take `ideal_compute_ns`
    /// and `ideal_memory_ns`, under the cap (≥ `total_ns`).
    pub fn capped_ns(&self, total_ns: f64, ideal_compute_ns: f64, ideal_memory_ns: f64) -> f64 {
        let range = (self.tdp_w - self.idle_w).max(1e-9);
        let allowed = ((self.cap_w - self.idle_w) / range).clamp(1e-9, 1.0);
        let work_ns = W_COMPUTE * ideal_compute_ns + W_MEMORY * ideal_memory_ns;
        if total_ns <= 0.0 || dynamic_fraction(ideal_compute_ns / total_ns, ideal_memory_ns / total_ns) <= allowed {
            return total_ns;
        }
        (work_ns / allowed).max(total_ns)
    }
}
