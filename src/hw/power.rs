//! The power model: what a chip, a host and the facility draw, from the time a step spends in
//! each of its phases. The fractions are per chip (`[chip.power]` in hw-profiles, each with its
//! source or assumption); defaults per chip kind fill any the profile omits and the run's notes
//! say so.
//!
//! - Chip, within a step of duration t = compute + memory + collective + overhead (the cost
//!   model's `StepCost` parts): P = idle + (TDP − idle) · (f_c·compute + f_m·memory +
//!   f_comm·collective + f_o·overhead) / t. Each f is the fraction of the dynamic range the chip
//!   draws while the step is in that phase:
//!   - compute (matrix engines busy, FLOP-bound operations): f_c, near 1. It is *not* scaled by
//!     the achieved utilisation (ideal / actual time): the fitted compute efficiency (0.52 of peak
//!     on H100) folds the stack's losses (tile quantisation, pipeline bubbles, epilogues) into the
//!     rate while the engines stay clocked and busy, and measured prefill power sits near TDP
//!     (Splitwise, Patel et al. ISCA'24) although its model FLOP utilisation is far below 1;
//!     scaling would put prefill near half of TDP, against the measurement.
//!   - memory (HBM streaming, engines partly busy): f_m.
//!   - collective (links, DMA and reduction busy, HBM read and written): f_comm.
//!   - overhead (launch gaps, host scheduling inside a step; the chip is clocked but idle): f_o.
//! - Between steps (no work): idle power. Every chip draws idle for the whole run
//!   (`metrics::accounting`), so a step adds only its dynamic part.
//! - Host: idle + (TDP − idle) · utilisation of its cores, idle = 30 % of TDP (assumption:
//!   server CPUs idle at a quarter to a third of TDP).
//! - Facility: everything times the PUE (`[infrastructure] pue`, default 1.0: IT power only).
//! - Power cap (`[infrastructure] power_cap_w`, per chip): when a step's average power would
//!   exceed the cap, the chip lowers its clocks until the step's average power equals the cap.
//!   The step's dynamic energy (Σ f·phase time, the same per-phase power as above) is taken as
//!   independent of the clock (first order: voltage scaling ignored, so the slowdown is an upper
//!   bound), so its duration becomes that energy over the allowed fraction of the dynamic range;
//!   the cost model counts the added time as compute (the clocks slowed). A capped step then
//!   draws exactly the cap: the accounting holds every step's dynamic fraction at or below the
//!   cap's ([`ChipPower::step_dynamic_ns`]), which is where the stretched step sits.

use super::{Chip, ChipKind, Host};
use serde::{Deserialize, Serialize};

/// A host's idle draw as a fraction of its TDP.
pub const HOST_IDLE_FRACTION: f64 = 0.3;

/// `[chip.power]` as written in a profile or a scenario override: each key optional, a missing
/// one takes the default of the chip's kind ([`PhasePower::default_for`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PowerSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compute: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collective: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overhead: Option<f64>,
}

impl PowerSpec {
    pub fn is_empty(&self) -> bool {
        *self == PowerSpec::default()
    }

    /// The keys with their values, in the order the docs list them (for checks and notes).
    pub fn entries(&self) -> [(&'static str, Option<f64>); 4] {
        [
            ("compute", self.compute),
            ("memory", self.memory),
            ("collective", self.collective),
            ("overhead", self.overhead),
        ]
    }
}

/// Fractions (0..=1) of a chip's dynamic range (TDP − idle) drawn in each phase of a step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PhasePower {
    pub compute: f64,
    pub memory: f64,
    pub collective: f64,
    pub overhead: f64,
}

impl PhasePower {
    /// HBM accelerators (GPUs and Neuron chips) when a profile gives no `[chip.power]`: the values
    /// the NVIDIA profiles carry (hw-profiles/nvidia.toml, where each is sourced or argued).
    /// Neuron chips share them as an assumption: systolic matrix engines and HBM stacks like a
    /// GPU's, and no per-phase power measurement of Trainium or Inferentia was found.
    pub const ACCELERATOR: PhasePower = PhasePower {
        compute: 0.95,
        memory: 0.65,
        collective: 0.6,
        overhead: 0.1,
    };
    /// CPUs as inference devices (assumption): cores stalled on DRAM still issue and spin, so a
    /// memory-bound phase draws most of the range (STREAM-like loads run near package TDP); the
    /// per-step framework work of the overhead phase runs on the same cores.
    pub const CPU: PhasePower = PhasePower {
        compute: 1.0,
        memory: 0.8,
        collective: 0.5,
        overhead: 0.3,
    };

    pub fn default_for(kind: ChipKind) -> PhasePower {
        match kind {
            ChipKind::Gpu | ChipKind::Neuron => PhasePower::ACCELERATOR,
            ChipKind::Cpu => PhasePower::CPU,
        }
    }

    /// The chip's fractions: its `[chip.power]`, defaults of its kind for any key it omits.
    pub fn of(chip: &Chip) -> PhasePower {
        let d = PhasePower::default_for(chip.kind);
        let s = &chip.power;
        PhasePower {
            compute: s.compute.unwrap_or(d.compute),
            memory: s.memory.unwrap_or(d.memory),
            collective: s.collective.unwrap_or(d.collective),
            overhead: s.overhead.unwrap_or(d.overhead),
        }
    }

    /// The step's dynamic energy by phase, in ns at the full dynamic range.
    pub fn energy(&self, p: &Phases) -> PhaseEnergy {
        PhaseEnergy {
            compute_ns: self.compute * p.compute_ns,
            memory_ns: self.memory * p.memory_ns,
            collective_ns: self.collective * p.comm_ns,
            overhead_ns: self.overhead * p.overhead_ns,
        }
    }
}

/// A step's time by phase, ns (the cost model's `StepCost` parts).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Phases {
    pub compute_ns: f64,
    pub memory_ns: f64,
    pub comm_ns: f64,
    pub overhead_ns: f64,
}

impl Phases {
    pub const fn new(compute_ns: f64, memory_ns: f64, comm_ns: f64, overhead_ns: f64) -> Phases {
        Phases {
            compute_ns,
            memory_ns,
            comm_ns,
            overhead_ns,
        }
    }

    pub fn total_ns(&self) -> f64 {
        self.compute_ns + self.memory_ns + self.comm_ns + self.overhead_ns
    }
}

/// A step's dynamic energy by phase, in ns at the full dynamic range (× (TDP − idle) → joules
/// × 1e9).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PhaseEnergy {
    pub compute_ns: f64,
    pub memory_ns: f64,
    pub collective_ns: f64,
    pub overhead_ns: f64,
}

impl PhaseEnergy {
    pub fn total_ns(&self) -> f64 {
        self.compute_ns + self.memory_ns + self.collective_ns + self.overhead_ns
    }

    fn scaled(&self, k: f64) -> PhaseEnergy {
        PhaseEnergy {
            compute_ns: self.compute_ns * k,
            memory_ns: self.memory_ns * k,
            collective_ns: self.collective_ns * k,
            overhead_ns: self.overhead_ns * k,
        }
    }
}

/// One chip's power model, precomputed once per pool for the simulation's hot path.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChipPower {
    pub phases: PhasePower,
    pub idle_w: f64,
    pub tdp_w: f64,
    /// The most of the dynamic range a step may average: the power cap's share, else 1.
    pub max_fraction: f64,
}

impl ChipPower {
    pub fn new(chip: &Chip, cap: Option<&PowerCap>) -> ChipPower {
        ChipPower {
            phases: PhasePower::of(chip),
            idle_w: chip.idle_w,
            tdp_w: chip.tdp_w,
            max_fraction: cap.map_or(1.0, PowerCap::allowed_fraction).min(1.0),
        }
    }

    /// The dynamic energy of a step of `total_ns` by phase, in ns at the full dynamic range. A
    /// step stretched by the power cap averages exactly the cap: its phases (the added time
    /// counted as compute) would say more, so all of them scale down to the cap's share.
    pub fn step_energy(&self, total_ns: f64, p: &Phases) -> PhaseEnergy {
        let e = self.phases.energy(p);
        let most = self.max_fraction * total_ns;
        let sum = e.total_ns();
        if sum > most && sum > 0.0 {
            e.scaled(most / sum)
        } else {
            e
        }
    }

    /// Σ over phases of the step's dynamic energy, ns at the full dynamic range (O(1), no
    /// allocation: the simulation calls it once per step).
    pub fn step_dynamic_ns(&self, total_ns: f64, p: &Phases) -> f64 {
        let sum = self.phases.energy(p).total_ns();
        sum.min(self.max_fraction * total_ns).max(0.0)
    }

    /// The chip's average draw over a step, W.
    pub fn step_power_w(&self, total_ns: f64, p: &Phases) -> f64 {
        if total_ns <= 0.0 {
            return self.idle_w;
        }
        self.idle_w + (self.tdp_w - self.idle_w).max(0.0) * self.step_dynamic_ns(total_ns, p) / total_ns
    }
}

/// The run note that states a chip's power model: idle between steps, and per phase of a step
/// the fraction of its dynamic range it draws, naming the keys its kind's defaults supplied.
pub fn describe(chip: &Chip) -> String {
    let f = PhasePower::of(chip);
    let defaulted: Vec<&str> = chip
        .power
        .entries()
        .iter()
        .filter(|(_, v)| v.is_none())
        .map(|(k, _)| *k)
        .collect();
    let origin = match defaulted.len() {
        0 => "from its [chip.power]".to_string(),
        4 => format!(
            "the defaults of a {} chip: its profile has no [chip.power]",
            chip.kind.name()
        ),
        _ => format!(
            "{}: the defaults of a {} chip, its [chip.power] omits them",
            defaulted.join(", "),
            chip.kind.name()
        ),
    };
    format!(
        "energy: each {} chip draws its idle {} W between steps and, within a step, idle + (TDP {} W − idle) × {} while compute-bound, × {} while HBM-bound, × {} in collectives, × {} in launch and host gaps ({origin})",
        chip.name, chip.idle_w, chip.tdp_w, f.compute, f.memory, f.collective, f.overhead
    )
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
    /// The chip's per-phase power: the cap judges a step by the same power the accounting counts.
    pub phases: PhasePower,
}

impl PowerCap {
    pub fn new(cap_w: f64, chip: &Chip) -> PowerCap {
        PowerCap {
            cap_w,
            idle_w: chip.idle_w,
            tdp_w: chip.tdp_w,
            phases: PhasePower::of(chip),
        }
    }

    /// The share of the dynamic range the cap leaves (≥ 1: the cap never binds). A cap at or
    /// below idle is refused when the scenario is read (`scenario::infra`).
    pub fn allowed_fraction(&self) -> f64 {
        let range = self.tdp_w - self.idle_w;
        if range <= 0.0 {
            return 1.0;
        }
        ((self.cap_w - self.idle_w) / range).max(1e-9)
    }

    /// The duration of a step with phases `p` under the cap (≥ their sum): unchanged when its
    /// average power is within the cap, else its dynamic energy over the allowed fraction.
    pub fn capped_ns(&self, p: &Phases) -> f64 {
        let t = p.total_ns();
        let work_ns = self.phases.energy(p).total_ns();
        let allowed = self.allowed_fraction();
        if t <= 0.0 || work_ns <= allowed * t {
            return t;
        }
        (work_ns / allowed).max(t)
    }
}
