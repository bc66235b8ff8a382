//! α–β models of point-to-point messages and collectives. A message of `bytes` over a link costs
//! α (its latency) + bytes / β (its bandwidth); a collective over p participants is a sequence of
//! such steps. The formulas are the textbook ones (Thakur, Rabenseifner and Gropp, "Optimization
//! of Collective Communication Operations in MPICH", IJHPCA 2005; NCCL's double binary tree):
//!
//! | collective | latency steps | bytes over each participant's link |
//! |---|---|---|
//! | point to point | 1 | n |
//! | ring all-reduce | 2(p−1) | 2(p−1)/p · n |
//! | tree all-reduce (pipelined double binary tree) | 2⌈log₂ p⌉ | 2 · n ... at most |
//! | all-gather, reduce-scatter (ring) | p−1 | (p−1)/p · n |
//! | all-to-all (pairwise) | p−1 | (p−1)/p · n |
//!
//! `n` is the bytes each participant holds (all-reduce, all-to-all) or the gathered total
//! (all-gather). A ring is bandwidth-optimal and pays p−1 latencies twice; a tree pays only
//! log₂ p latencies but moves the whole message up and down, so it wins for small messages over
//! many participants (decode-step all-reduces across instances), the ring for large ones.
//!
//! Flows that share a link share its bandwidth: [`Link::shared`] gives each of k concurrent
//! flows 1/k of it (the ranks of one chip share its on-chip bandwidth). Only flows that truly
//! cross the same link share it: how a deployment's ranks map onto chips, chip links and
//! instances, level by level, is [`super::collective`]'s.

use serde::{Deserialize, Serialize};

/// One hop: its bandwidth and per-message latency.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Link {
    pub bytes_per_ns: f64,
    pub latency_ns: f64,
}

impl Link {
    /// An EFA (or any NIC) link from Gbit/s and µs.
    pub fn from_gbps(gbps: f64, latency_us: f64) -> Link {
        Link {
            bytes_per_ns: gbps / 8.0,
            latency_ns: latency_us * 1e3,
        }
    }

    /// A chip link from GB/s and µs.
    pub fn from_gb_s(gb_s: f64, latency_us: f64) -> Link {
        Link {
            bytes_per_ns: gb_s,
            latency_ns: latency_us * 1e3,
        }
    }

    /// The link as one of `flows` concurrent flows sees it: 1/flows of the bandwidth, the same
    /// latency.
    pub fn shared(self, flows: f64) -> Link {
        Link {
            bytes_per_ns: self.bytes_per_ns / flows.max(1.0),
            ..self
        }
    }

    fn xfer_ns(&self, bytes: f64) -> f64 {
        if bytes <= 0.0 { 0.0 } else { bytes / self.bytes_per_ns }
    }
}

/// The all-reduce algorithm (`[infrastructure] allreduce`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AllReduceAlgorithm {
    #[default]
    Ring,
    Tree,
}

/// One message of `bytes` from one endpoint to another.
pub fn p2p(bytes: f64, link: Link) -> f64 {
    link.latency_ns + link.xfer_ns(bytes)
}

/// Ring all-reduce of `bytes` per participant over `p` participants: reduce-scatter then
/// all-gather, 2(p−1) steps of n/p bytes.
pub fn ring_allreduce(bytes: f64, p: u32, link: Link) -> f64 {
    if p <= 1 {
        return 0.0;
    }
    let p = p as f64;
    2.0 * (p - 1.0) * link.latency_ns + 2.0 * (p - 1.0) / p * link.xfer_ns(bytes)
}

/// Tree all-reduce (NCCL's pipelined double binary tree): a reduce up and a broadcast down, each
/// ⌈log₂ p⌉ latency steps; pipelining over two trees moves each byte up and down once.
pub fn tree_allreduce(bytes: f64, p: u32, link: Link) -> f64 {
    if p <= 1 {
        return 0.0;
    }
    let depth = (p as f64).log2().ceil();
    2.0 * depth * link.latency_ns + 2.0 * link.xfer_ns(bytes)
}

/// All-reduce by the chosen algorithm.
pub fn allreduce(alg: AllReduceAlgorithm, bytes: f64, p: u32, link: Link) -> f64 {
    match alg {
        AllReduceAlgorithm::Ring => ring_allreduce(bytes, p, link),
        AllReduceAlgorithm::Tree => tree_allreduce(bytes, p, link),
    }
}

/// Ring all-gather: every participant ends with all `bytes_total` (it held 1/p of them).
pub fn all_gather(bytes_total: f64, p: u32, link: Link) -> f64 {
    if p <= 1 {
        return 0.0;
    }
    let p = p as f64;
    (p - 1.0) * link.latency_ns + (p - 1.0) / p * link.xfer_ns(bytes_total)
}

/// Ring reduce-scatter: the mirror of [`all_gather`], same cost.
pub fn reduce_scatter(bytes_total: f64, p: u32, link: Link) -> f64 {
    all_gather(bytes_total, p, link)
}

/// Pairwise all-to-all: each participant holds `bytes` and sends (p−1)/p of them, 1/p to each
/// peer, in p−1 rounds (expert-parallel dispatch or combine).
pub fn all_to_all(bytes: f64, p: u32, link: Link) -> f64 {
    if p <= 1 {
        return 0.0;
    }
    let p = p as f64;
    (p - 1.0) * link.latency_ns + (p - 1.0) / p * link.xfer_ns(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    const L: Link = Link {
        bytes_per_ns: 100.0,
        latency_ns: 1000.0,
    };

    #[test]
    fn one_participant_costs_nothing() {
        assert_eq!(ring_allreduce(1e6, 1, L), 0.0);
        assert_eq!(tree_allreduce(1e6, 1, L), 0.0);
        assert_eq!(all_gather(1e6, 1, L), 0.0);
        assert_eq!(all_to_all(1e6, 1, L), 0.0);
    }

    #[test]
    fn formulas() {
        // 8 ranks, 1 MB: ring 14 α + 1.75 MB / β; tree 6 α + 2 MB / β.
        assert_eq!(ring_allreduce(1e6, 8, L), 14.0 * 1000.0 + 1.75e6 / 100.0);
        assert_eq!(tree_allreduce(1e6, 8, L), 6.0 * 1000.0 + 2e6 / 100.0);
        assert_eq!(all_gather(8e6, 8, L), 7.0 * 1000.0 + 7e6 / 100.0);
        assert_eq!(p2p(1e6, L.shared(4.0)), 1000.0 + 1e6 / 25.0);
    }

    #[test]
    fn tree_wins_small_messages_ring_wins_large() {
        let p = 64;
        assert!(tree_allreduce(1e3, p, L) < ring_allreduce(1e3, p, L));
        assert!(ring_allreduce(1e9, p, L) < tree_allreduce(1e9, p, L));
    }
}
