//! Collectives of a deployment's ranks, modelled hierarchically as the hardware is wired, from
//! the α–β formulas of [`super::network`]:
//!
//! - level 0, the ranks of one chip (NeuronCores of a Trainium or Inferentia chip): they share
//!   the chip's HBM, so a byte one rank hands another is one HBM read and one HBM write
//!   (derived: the level's bandwidth is HBM / 2 for the whole chip, shared by its ranks'
//!   concurrent flows); a ring among them, each hop costing the chip link's latency (assumption:
//!   the same DMA descriptors and semaphores drive an on-chip hop as a NeuronLink one);
//! - level 1, the chips of one instance over their links ([`fabric::Fabric`]: NVSwitch, a ring,
//!   or a 2D torus), the chip's ranks' shards moving together as one chip-sized message;
//! - level 2, instances over EFA (or Trn2 UltraServer NeuronLink): each instance holds the whole
//!   message after level 1's reduce-scatter spread over its ranks; their concurrent shards share
//!   the instance's EFA, so the instance moves its whole message over all of the EFA (ring or
//!   tree, `infrastructure.allreduce`). Members of a scale-up domain (`[instance.ultraserver]`:
//!   a Trn2 UltraServer's ring, a GB200 NVL72's NVLink switches, a Trn3 UltraServer's
//!   NeuronSwitch) run it over each chip's own domain link to its peers, each chip moving its
//!   1/chips of the message, with the domain's per-hop latency: no EFA, no Nitro. On a switched
//!   domain the link is the chips' own NVLink/NeuronLink through the switches, so the stack's
//!   `collective_bandwidth` applies to it as to the chip fabric. (A flat ring over all of an
//!   NVL72's 72 GPUs moves the same 2(p−1)/p · n bytes per GPU but pays 142 hops instead of
//!   2·3 + 2·17 = 40; the hierarchical form is the cheaper one the library can run.)
//!
//! An all-to-all on a switched domain is flat: every chip sends to every other chip of the group
//! straight through the switches, whichever instance it is in (on a Trn2 ring, members' chips
//! reach only their ring neighbours, so the levels stay apart).
//!
//! An all-reduce is reduce-scatter down the levels and all-gather back up: on-chip all-reduce of
//! n, chip-level all-reduce of n per chip, cross-instance all-reduce of n per instance (or n/C
//! per chip in an UltraServer), plus the stack's fixed cost per collective
//! (`efficiency.collective_latency_us`). Before this model, each rank got 1/ranks_per_chip of
//! its chip's link while the per-chip ring traffic was charged per rank, overcounting the
//! bandwidth term ×ranks_per_chip (×4 on trn2, ×2 on trn1/inf2) and the hops.

#[cfg(test)]
mod domain_tests;
pub mod fabric;
#[cfg(test)]
mod tests;

use super::network::{self, AllReduceAlgorithm, Link};
use crate::hw::{DomainFabric, Hardware};
use fabric::{Fabric, xfer};

/// Where a group of ranks sits: ranks per chip, chips per instance, instances.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Placement {
    /// Ranks of the group on each chip.
    pub ranks_per_chip: u32,
    /// Chips of the group in each instance.
    pub chips: u32,
    /// Instances the group spans.
    pub instances: u32,
}

impl Placement {
    /// `ranks` ranks packed onto as few chips and instances as hold them.
    pub fn packed(hw: &Hardware, ranks: u32) -> Placement {
        let ranks = ranks.max(1);
        let per_chip = hw.chip.ranks_per_chip.max(1);
        let per_instance = hw.ranks_per_instance().max(1);
        let ranks_per_chip = ranks.min(per_chip);
        let local = ranks.min(per_instance);
        Placement {
            ranks_per_chip,
            chips: local.div_ceil(ranks_per_chip).max(1),
            instances: ranks.div_ceil(per_instance).max(1),
        }
    }
}

/// Level 0: the ranks of one chip, over its shared HBM.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OnChip {
    pub ranks: u32,
    /// The whole chip's on-chip bandwidth (HBM / 2) and the hop latency.
    pub link: Link,
}

impl OnChip {
    fn of(hw: &Hardware, ranks: u32) -> OnChip {
        OnChip {
            ranks,
            link: Link::from_gb_s(hw.chip.hbm_bandwidth_gb_s / 2.0, hw.chip.link.latency_us),
        }
    }

    /// Ring all-reduce of `bytes` per rank: 2(r−1) α + 2(r−1)/r · n per rank at 1/r of the
    /// chip's bandwidth each = 2(r−1) α + 2(r−1) n / (HBM / 2).
    pub fn allreduce_ns(&self, bytes: f64) -> f64 {
        network::ring_allreduce(bytes, self.ranks, self.link.shared(self.ranks as f64))
    }

    /// All-to-all: each rank sends `bytes` to each other rank of the chip, r(r−1) · bytes in all
    /// through the chip's bandwidth, in r−1 rounds.
    pub fn all_to_all_ns(&self, bytes: f64) -> f64 {
        if self.ranks <= 1 {
            return 0.0;
        }
        let r = self.ranks as f64;
        (r - 1.0) * self.link.latency_ns + xfer(r * (r - 1.0) * bytes, self.link.bytes_per_ns)
    }
}

/// Level 2: the cross-instance step.
#[derive(Debug, Clone, Copy, PartialEq)]
struct CrossInstance {
    instances: u32,
    /// The link the step runs over: the instance's whole EFA, or one chip's UltraServer link.
    link: Link,
    /// The share of the message each flow on `link` carries: 1 (the instance's whole message
    /// over its EFA) or 1/chips (each chip's part over its own UltraServer link).
    share: f64,
}

impl CrossInstance {
    /// No cross-instance step (the group is inside one instance or one switched domain).
    fn none() -> CrossInstance {
        CrossInstance {
            instances: 1,
            link: Link::from_gb_s(0.0, 0.0),
            share: 1.0,
        }
    }

    fn of(hw: &Hardware, p: Placement) -> CrossInstance {
        match hw.instance.ultraserver {
            // Inside an UltraServer each chip has its own link to its peers in the other
            // members; no EFA, no Nitro.
            Some(u) if p.instances <= u.instances => {
                let b = match u.fabric {
                    DomainFabric::Switch => u.link_gb_s * hw.chip.efficiency.collective_bandwidth,
                    DomainFabric::Ring => u.link_gb_s,
                };
                CrossInstance {
                    instances: p.instances,
                    link: Link::from_gb_s(b, u.link_latency_us),
                    share: 1.0 / p.chips as f64,
                }
            }
            _ => CrossInstance {
                instances: p.instances,
                link: Link::from_gbps(hw.instance.efa_gbps, hw.instance.efa_latency_us),
                share: 1.0,
            },
        }
    }
}

/// The group spans instances of a scale-up domain (over its links, not EFA).
fn in_domain(hw: &Hardware, p: Placement) -> bool {
    hw.instance
        .ultraserver
        .is_some_and(|u| p.instances > 1 && p.instances <= u.instances)
}

/// The chip-level fabric and cross-instance step of an all-to-all placed as `p`: on a switched
/// domain one flat switch over all the group's chips at the domain link, no cross-instance
/// step; otherwise the instance's fabric, then EFA or a ring domain's links.
fn all_to_all_levels(hw: &Hardware, p: Placement) -> (Fabric, CrossInstance) {
    match hw.instance.ultraserver {
        Some(u) if u.fabric == DomainFabric::Switch && in_domain(hw, p) => {
            let b = u.link_gb_s * hw.chip.efficiency.collective_bandwidth;
            let fabric = Fabric::Switch {
                chips: p.chips * p.instances,
                link: Link::from_gb_s(b, u.link_latency_us),
            };
            (fabric, CrossInstance::none())
        }
        _ => (Fabric::of(hw, p.chips), CrossInstance::of(hw, p)),
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AllReduce {
    /// Ranks inside one instance taking part.
    pub local_ranks: u32,
    /// Instances taking part.
    pub instances: u32,
    fixed_ns: f64,
    on_chip: OnChip,
    fabric: Fabric,
    cross: CrossInstance,
    /// The algorithm of the cross-instance step (inside an instance the fabric's own).
    algorithm: AllReduceAlgorithm,
    /// The group spans instances of a scale-up domain: its cross-instance step runs over the
    /// domain's links.
    domain: bool,
}

impl AllReduce {
    pub fn for_tp(hw: &Hardware, tp: u32) -> AllReduce {
        let p = Placement::packed(hw, tp);
        AllReduce {
            local_ranks: p.ranks_per_chip * p.chips,
            instances: p.instances,
            fixed_ns: hw.chip.efficiency.collective_latency_us * 1e3,
            on_chip: OnChip::of(hw, p.ranks_per_chip),
            fabric: Fabric::of(hw, p.chips),
            cross: CrossInstance::of(hw, p),
            algorithm: AllReduceAlgorithm::Ring,
            domain: in_domain(hw, p),
        }
    }

    /// The group spans instances over a scale-up domain's links rather than EFA.
    pub fn in_domain(&self) -> bool {
        self.domain
    }

    /// The same all-reduce with another cross-instance algorithm.
    pub fn with_algorithm(mut self, algorithm: AllReduceAlgorithm) -> AllReduce {
        self.algorithm = algorithm;
        self
    }

    /// Time of one all-reduce of `bytes` per rank.
    pub fn time_ns(&self, bytes: f64) -> f64 {
        if self.local_ranks <= 1 && self.instances <= 1 {
            return 0.0;
        }
        self.fixed_ns + self.on_chip_ns(bytes) + self.chip_ns(bytes) + self.cross_instance_ns(bytes)
    }

    /// Level 0: among the ranks of each chip.
    pub fn on_chip_ns(&self, bytes: f64) -> f64 {
        self.on_chip.allreduce_ns(bytes)
    }

    /// Level 1: among the chips of each instance, each chip's ranks' shards together.
    pub fn chip_ns(&self, bytes: f64) -> f64 {
        self.fabric.allreduce_ns(bytes)
    }

    /// Level 2: across instances.
    pub fn cross_instance_ns(&self, bytes: f64) -> f64 {
        let c = &self.cross;
        network::allreduce(self.algorithm, bytes * c.share, c.instances, c.link)
    }
}

/// A hierarchical all-to-all (expert-parallel dispatch or combine) among a group of ranks, packed
/// onto chips and instances like a tensor-parallel group. Each rank holds `bytes` and sends
/// 1/p of them to every member (its own 1/p stays): on-chip peers over the chip's HBM, peers on
/// other chips of the instance over the fabric, peers in other instances over EFA (or the
/// UltraServer links). The levels run one after another, each in pairwise rounds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AllToAll {
    pub ranks: u32,
    placement: Placement,
    fixed_ns: f64,
    on_chip: OnChip,
    fabric: Fabric,
    cross: CrossInstance,
}

impl AllToAll {
    pub fn for_group(hw: &Hardware, ranks: u32) -> AllToAll {
        let placement = Placement::packed(hw, ranks);
        let (fabric, cross) = all_to_all_levels(hw, placement);
        AllToAll {
            ranks: ranks.max(1),
            placement,
            fixed_ns: hw.chip.efficiency.collective_latency_us * 1e3,
            on_chip: OnChip::of(hw, placement.ranks_per_chip),
            fabric,
            cross,
        }
    }

    /// Time of one all-to-all of `bytes` held by each rank, ns.
    pub fn time_ns(&self, bytes: f64) -> f64 {
        if self.ranks <= 1 {
            return 0.0;
        }
        self.fixed_ns + self.on_chip_ns(bytes) + self.chip_ns(bytes) + self.cross_instance_ns(bytes)
    }

    /// Level 0: each rank sends bytes/p to each other rank of its chip.
    pub fn on_chip_ns(&self, bytes: f64) -> f64 {
        self.on_chip.all_to_all_ns(bytes / self.ranks as f64)
    }

    /// Level 1: each chip sends r² · bytes/p to each other chip of the instance (r ranks of the
    /// group on each side); in a switched domain, to each other chip of the group.
    pub fn chip_ns(&self, bytes: f64) -> f64 {
        let r = self.placement.ranks_per_chip as f64;
        self.fabric.all_to_all_ns(r * r * bytes / self.ranks as f64)
    }

    /// Level 2: the ranks of an instance (q of them) send bytes/p to each of the p − q ranks
    /// elsewhere: q(p − q) · bytes/p through the instance's EFA (or r(p − q) · bytes/p through
    /// each chip's UltraServer link), in I − 1 rounds.
    pub fn cross_instance_ns(&self, bytes: f64) -> f64 {
        let c = &self.cross;
        if c.instances <= 1 {
            return 0.0;
        }
        let pl = &self.placement;
        let p = self.ranks as f64;
        let q = (pl.ranks_per_chip * pl.chips) as f64;
        let remote = (p - q).max(0.0) * bytes / p;
        let out = q * c.share * remote;
        (c.instances - 1) as f64 * c.link.latency_ns + xfer(out, c.link.bytes_per_ns)
    }
}
