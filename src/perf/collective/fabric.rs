//! The chip-level fabric of one instance (level 1 of a collective): how the chips a group uses
//! are wired, and the α–β cost of a reduce-scatter, all-reduce or all-to-all over them.
//!
//! A chip's `link.bandwidth_gb_s` (B) is its total egress over all its chip links, per
//! direction. On a switch (NVSwitch) every chip reaches the switch with all of B. On a ring (two
//! links a chip, inf2) or a 2D torus (four links a chip, trn1/trn2: 4 × 4) each directed link
//! carries β_l = B / links. A dimension whose chips close their ring (the group uses all of it,
//! and it has at least three chips) runs two counter-rotating rings, 2β_l per chip; a dimension
//! the group uses only part of is a line, and a ring embedded in a line uses each link once per
//! direction, β_l per chip.
//!
//! All-reduce on a torus a × b (assumption: the runtime keeps all of a chip's links busy, as a
//! bandwidth-optimal torus all-reduce does): the message is split in halves; one half
//! reduce-scatters along x then y, the other along y then x, at the same time on disjoint links;
//! all-gathers mirror. In lockstep phases:
//!   RS_d(m) = (k_d − 1) α + (k_d − 1)/k_d · m / bw_d
//!   all-reduce = 2 · [max(RS_x(n/2), RS_y(n/2)) + max(RS_y(n/(2a)), RS_x(n/(2b)))]
//! On a full 4 × 4 torus this is 12 α + 1.875 n / B: the bandwidth term of a ring at the chip's
//! whole B (each chip sends 2(p−1)/p · n over its 4β_l = B), with 12 hops instead of 30. A group
//! on one dimension is a ring (or a line): 2 RS_x(n).

use super::super::network::Link;
use crate::hw::{Hardware, Topology};

/// One dimension of a ring or torus, as the group uses it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dim {
    /// Chips along the dimension.
    pub chips: u32,
    /// The chips close their ring (else they form a line).
    pub wrap: bool,
    /// One directed link's bandwidth, bytes/ns.
    pub link_bytes_per_ns: f64,
}

impl Dim {
    /// A chip's bandwidth along this dimension for a ring collective: both directions of a
    /// closed ring, one of a line.
    pub fn ring_bytes_per_ns(&self) -> f64 {
        if self.wrap {
            2.0 * self.link_bytes_per_ns
        } else {
            self.link_bytes_per_ns
        }
    }

    /// Reduce-scatter (or all-gather) of `bytes` per chip along the dimension.
    pub fn reduce_scatter_ns(&self, bytes: f64, latency_ns: f64) -> f64 {
        if self.chips <= 1 {
            return 0.0;
        }
        let k = self.chips as f64;
        (k - 1.0) * latency_ns + xfer((k - 1.0) / k * bytes, self.ring_bytes_per_ns())
    }

    /// Bytes on the busiest directed link when every chip of the dimension sends 1 byte to every
    /// other (shortest paths; equidistant traffic split between both ways round a ring): a ring
    /// of k carries Σ_{d=1}^{k−1} min(d, k−d) / 2 on each link; a line ⌊k/2⌋·⌈k/2⌉ on its middle
    /// link.
    pub fn all_to_all_link_load(&self) -> f64 {
        let k = self.chips as u64;
        if k <= 1 {
            return 0.0;
        }
        if self.wrap {
            (1..k).map(|d| d.min(k - d)).sum::<u64>() as f64 / 2.0
        } else {
            ((k / 2) * k.div_ceil(2)) as f64
        }
    }
}

/// How the chips of a group inside one instance are connected.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fabric {
    /// One chip: no chip-level step.
    Single,
    /// Every chip has all of its link to a switch (NVSwitch).
    Switch { chips: u32, link: Link },
    /// A ring (y has one chip) or a 2D torus.
    Torus { x: Dim, y: Dim, latency_ns: f64 },
}

impl Fabric {
    /// The fabric joining `chips` chips of the instance (the group is packed onto as few chips,
    /// and as compact a block of the torus, as it fits).
    pub fn of(hw: &Hardware, chips: u32) -> Fabric {
        let total = hw.instance.chips.max(1);
        let chips = chips.clamp(1, total);
        // What the collective library achieves of the links' bandwidth.
        let b = hw.chip.link.bandwidth_gb_s * hw.chip.efficiency.collective_bandwidth;
        let latency_ns = hw.chip.link.latency_us * 1e3;
        if chips <= 1 {
            return Fabric::Single;
        }
        match hw.instance.topology {
            Topology::Switch | Topology::None => Fabric::Switch {
                chips,
                link: Link::from_gb_s(b, hw.chip.link.latency_us),
            },
            Topology::Ring => Fabric::Torus {
                x: dim(chips, total, b / 2.0),
                y: dim(1, 1, b / 2.0),
                latency_ns,
            },
            Topology::Torus2d => {
                let (short, long) = torus_dims(total);
                // A row of the long dimension first, then rows of it stacked along the short.
                let x_chips = chips.min(long);
                let y_chips = chips.div_ceil(x_chips).min(short);
                Fabric::Torus {
                    x: dim(x_chips, long, b / 4.0),
                    y: dim(y_chips, short, b / 4.0),
                    latency_ns,
                }
            }
        }
    }

    /// All-reduce of `bytes` held by each chip.
    pub fn allreduce_ns(&self, bytes: f64) -> f64 {
        match *self {
            Fabric::Single => 0.0,
            Fabric::Switch { chips, link } => super::super::network::ring_allreduce(bytes, chips, link),
            Fabric::Torus { x, y, latency_ns } => {
                if x.chips <= 1 || y.chips <= 1 {
                    let d = if x.chips > 1 { x } else { y };
                    return 2.0 * d.reduce_scatter_ns(bytes, latency_ns);
                }
                let (a, b) = (x.chips as f64, y.chips as f64);
                let rs = |d: Dim, m: f64| d.reduce_scatter_ns(m, latency_ns);
                let first = rs(x, bytes / 2.0).max(rs(y, bytes / 2.0));
                let second = rs(y, bytes / (2.0 * a)).max(rs(x, bytes / (2.0 * b)));
                2.0 * (first + second)
            }
        }
    }

    /// All-to-all among the chips: each chip sends `bytes` to every other chip of the group.
    /// Pairwise rounds, one α each; on a ring or torus the traffic is routed dimension by
    /// dimension and the busiest directed link sets the bandwidth term (x and y links are
    /// disjoint and run at once): an x link of row-length X carries Y · load(X) pairs' bytes.
    pub fn all_to_all_ns(&self, bytes: f64) -> f64 {
        match *self {
            Fabric::Single => 0.0,
            Fabric::Switch { chips, link } => {
                let peers = (chips - 1) as f64;
                peers * link.latency_ns + xfer(peers * bytes, link.bytes_per_ns)
            }
            Fabric::Torus { x, y, latency_ns } => {
                let peers = (x.chips * y.chips - 1) as f64;
                let x_ns = xfer(y.chips as f64 * x.all_to_all_link_load() * bytes, x.link_bytes_per_ns);
                let y_ns = xfer(x.chips as f64 * y.all_to_all_link_load() * bytes, y.link_bytes_per_ns);
                peers * latency_ns + x_ns.max(y_ns)
            }
        }
    }

    /// Chips in the group.
    pub fn chips(&self) -> u32 {
        match *self {
            Fabric::Single => 1,
            Fabric::Switch { chips, .. } => chips,
            Fabric::Torus { x, y, .. } => x.chips * y.chips,
        }
    }
}

/// The dimension of `chips` chips out of a ring of `of`, each directed link `link_gb_s`.
fn dim(chips: u32, of: u32, link_gb_s: f64) -> Dim {
    Dim {
        chips,
        wrap: chips == of && chips >= 3,
        link_bytes_per_ns: link_gb_s,
    }
}

/// The sides of the most square a × b torus of `chips` chips (a ≤ b): 16 → 4 × 4.
pub fn torus_dims(chips: u32) -> (u32, u32) {
    let chips = chips.max(1);
    let a = (1..=chips)
        .take_while(|a| a * a <= chips)
        .filter(|a| chips % a == 0)
        .last()
        .unwrap_or(1);
    (a, chips / a)
}

/// Time to move `bytes` at `bytes_per_ns`; nothing to move takes no time (even on a link of no
/// bandwidth).
pub(super) fn xfer(bytes: f64, bytes_per_ns: f64) -> f64 {
    if bytes <= 0.0 { 0.0 } else { bytes / bytes_per_ns }
}
