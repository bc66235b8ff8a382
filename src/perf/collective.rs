//! α–β models of collectives. A ring all-reduce over p ranks moves 2(p−1)/p of the message over
//! each rank's link in 2(p−1) steps, each paying the link latency; a fixed software cost per
//! collective comes on top. A group spanning instances runs hierarchically: reduce-scatter and
//! all-gather inside each instance, and an all-reduce of the 1/p_local shard across instances
//! over EFA, whose bandwidth the instance's ranks share.

use crate::hw::Hardware;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AllReduce {
    /// Ranks inside one instance taking part.
    pub local_ranks: u32,
    /// Instances taking part.
    pub instances: u32,
    fixed_ns: f64,
    hop_ns: f64,
    link_bytes_per_ns: f64,
    efa_hop_ns: f64,
    efa_bytes_per_ns: f64,
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
            hop_ns: hw.chip.link.latency_us * 1e3,
            // A chip's links are shared by its ranks.
            link_bytes_per_ns: hw.chip.link.bandwidth_gb_s / ranks_per_chip,
            efa_hop_ns: hw.instance.efa_latency_us * 1e3,
            // Gbit/s → bytes/ns, shared by the local ranks.
            efa_bytes_per_ns: hw.instance.efa_gbps / 8.0 / local_ranks as f64,
        }
    }

    /// Time of one all-reduce of `bytes` per rank.
    pub fn time_ns(&self, bytes: f64) -> f64 {
        let p = self.local_ranks as f64;
        let n = self.instances as f64;
        if p <= 1.0 && n <= 1.0 {
            return 0.0;
        }
        let mut t = self.fixed_ns;
        if p > 1.0 {
            t += 2.0 * (p - 1.0) * self.hop_ns + 2.0 * (p - 1.0) / p * bytes / self.link_bytes_per_ns;
        }
        if n > 1.0 {
            let shard = bytes / p;
            t += 2.0 * (n - 1.0) * self.efa_hop_ns + 2.0 * (n - 1.0) / n * shard / self.efa_bytes_per_ns;
        }
        t
    }
}
