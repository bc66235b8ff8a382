//! Prefix affinity: consistent hashing of the prefix key with bounded load (Mirrokni et al.).

use super::{ReplicaLoad, least};
use crate::hash::mix64;

/// Virtual nodes per replica on the hash ring.
const RING_POINTS: u64 = 64;
/// Bounded-load factor: no replica takes more than this times the mean load.
const LOAD_BOUND: f64 = 1.25;

/// (point, replica index), sorted: the consistent-hashing ring (built for the pool's size).
#[derive(Debug, Default)]
pub struct Ring(Vec<(u64, u32)>);

impl Ring {
    pub fn pick(&mut self, loads: &[ReplicaLoad], key: u64) -> usize {
        let n = loads.len();
        let ring = &mut self.0;
        if ring.len() != n * RING_POINTS as usize {
            *ring = (0..n as u32)
                .flat_map(|r| (0..RING_POINTS).map(move |v| (mix64(((r as u64) << 32) | v), r)))
                .collect();
            ring.sort_unstable();
        }
        let total: u64 = loads.iter().map(|l| l.outstanding_requests as u64).sum();
        let bound = (LOAD_BOUND * (total + 1) as f64 / n as f64).ceil() as u64;
        let h = mix64(key ^ 0x005E_ED0F_F1C5);
        let start = ring.partition_point(|&(p, _)| p < h);
        for k in 0..ring.len() {
            let r = ring[(start + k) % ring.len()].1 as usize;
            if loads[r].queued == 0 || (loads[r].outstanding_requests as u64) < bound {
                return r;
            }
        }
        least::outstanding(loads.iter().copied())
    }
}
