//! Tensor-parallel all-reduce over the deployment's ranks, built from the α–β formulas of
//! [`super::network`]. A ring all-reduce over p ranks moves 2(p−1)/p of the message over each
//! rank's link in 2(p−1) steps, each paying the link latency; a fixed software cost per
//! collective comes on top. A group spanning instances runs hierarchically: reduce-scatter and
//! all-gather inside each instance, and an all-reduce of the 1/p_local shard across instances
//! over EFA, whose bandwidth the instance's ranks share (each local rank runs its own shard's
//! cross-instance all-reduce at once, so p_local flows share the instance's EFA). Members of a
//! Trn2 UltraServer run the cross-instance step over their chips' NeuronLink instead.

use super::network::{self, AllReduceAlgorithm, Link};
use crate::hw::Hardware;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AllReduce {
    /// Ranks inside one instance taking part.
    pub local_ranks: u32,
    /// Instances taking part.
    pub instances: u32,
    fixed_ns: f64,
    /// A rank's share of its chip's link.
    link: Link,
    /// A rank's share of its instance's EFA (or of its chip's UltraServer link).
    efa: Link,
    /// The algorithm of the cross-instance step (inside an instance the ring is used: the chip
    /// links form a ring or a torus, and p_local is small).
    algorithm: AllReduceAlgorithm,
}

impl AllReduce {
    pub fn for_tp(hw: &Hardware, tp: u32) -> AllReduce {
        let per_instance = hw.ranks_per_instance().max(1);
        let local_ranks = tp.min(per_instance).max(1);
        let instances = tp.div_ceil(per_instance).max(1);
        let ranks_per_chip = hw.chip.ranks_per_chip.max(1) as f64;
        AllReduce {
            local_ranks,
            instances,
            fixed_ns: hw.chip.efficiency.collective_latency_us * 1e3,
            // A chip's links are shared by its ranks.
            link: Link::from_gb_s(hw.chip.link.bandwidth_gb_s, hw.chip.link.latency_us).shared(ranks_per_chip),
            efa: match hw.instance.ultraserver {
                // Inside an UltraServer each chip has its own link to its peers in the other
                // members, shared by the chip's ranks; no EFA, no Nitro.
                Some(u) if instances <= u.instances => {
                    Link::from_gb_s(u.link_gb_s, u.link_latency_us).shared(ranks_per_chip)
                }
                _ => Link::from_gbps(hw.instance.efa_gbps, hw.instance.efa_latency_us).shared(local_ranks as f64),
            },
            algorithm: AllReduceAlgorithm::Ring,
        }
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
        self.fixed_ns + self.local_ns(bytes) + self.cross_instance_ns(bytes)
    }

    /// The intra-instance ring part (reduce-scatter + all-gather over the chip links).
    pub fn local_ns(&self, bytes: f64) -> f64 {
        network::ring_allreduce(bytes, self.local_ranks, self.link)
    }

    /// The inter-instance part: an all-reduce of each rank's 1/p_local shard over EFA.
    pub fn cross_instance_ns(&self, bytes: f64) -> f64 {
        let shard = bytes / self.local_ranks as f64;
        network::allreduce(self.algorithm, shard, self.instances, self.efa)
    }
}
