//! The router in front of the replicas: picks a replica for each arriving request.

use super::replica::Replica;
use crate::hash::mix64;
use rand::RngExt;
use rand::SeedableRng;
use rand::rngs::ChaCha8Rng;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RoutingPolicy {
    RoundRobin,
    /// Fewest requests queued or running.
    LeastOutstanding,
    /// Fewest prompt + output tokens queued or running.
    LeastTokens,
    /// Two replicas drawn at random; the one with fewer outstanding requests.
    PowerOfTwo,
    /// Requests sharing a prompt prefix go to one replica (for its prompt cache): consistent
    /// hashing of the prefix key with bounded load (Mirrokni et al.): walking the ring from the
    /// key's point, the first replica that has no request waiting for a batch slot, or fewer
    /// outstanding requests than ⌈1.25 · (total + 1) / replicas⌉. Requests without a prefix
    /// key: least outstanding.
    PrefixAffinity,
}

/// Virtual nodes per replica on the hash ring.
const RING_POINTS: u64 = 64;
/// Bounded-load factor: no replica takes more than this times the mean load.
const LOAD_BOUND: f64 = 1.25;

pub struct Router {
    policy: RoutingPolicy,
    next: usize,
    rng: ChaCha8Rng,
    /// (point, replica index), sorted: the consistent-hashing ring.
    ring: Vec<(u64, u32)>,
}

impl Router {
    pub fn new(policy: RoutingPolicy, seed: u64) -> Router {
        Router {
            policy,
            next: 0,
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x0707_0707),
            ring: Vec::new(),
        }
    }

    pub fn policy(&self) -> RoutingPolicy {
        self.policy
    }

    /// Ties go to the lowest replica index, so the choice is deterministic.
    /// Picks among `replicas` (a pool); returns the index within the slice. `prefix`: the
    /// request's prefix key, if any.
    pub fn pick(&mut self, replicas: &[Replica], prefix: Option<u64>) -> usize {
        let n = replicas.len();
        match self.policy {
            RoutingPolicy::RoundRobin => {
                let i = self.next % n;
                self.next = (i + 1) % n;
                i
            }
            RoutingPolicy::LeastOutstanding => argmin(replicas, |r| r.outstanding_requests as u64),
            RoutingPolicy::LeastTokens => argmin(replicas, |r| r.outstanding_tokens),
            RoutingPolicy::PowerOfTwo => {
                let a = self.rng.random_range(0..n);
                let b = self.rng.random_range(0..n);
                if replicas[b].outstanding_requests < replicas[a].outstanding_requests {
                    b
                } else {
                    a
                }
            }
            RoutingPolicy::PrefixAffinity => match prefix {
                Some(key) => self.affinity(replicas, key),
                None => argmin(replicas, |r| r.outstanding_requests as u64),
            },
        }
    }

    fn affinity(&mut self, replicas: &[Replica], key: u64) -> usize {
        let n = replicas.len();
        if self.ring.len() != n * RING_POINTS as usize {
            self.ring = (0..n as u32)
                .flat_map(|r| (0..RING_POINTS).map(move |v| (mix64(((r as u64) << 32) | v), r)))
                .collect();
            self.ring.sort_unstable();
        }
        let total: u64 = replicas.iter().map(|r| r.outstanding_requests as u64).sum();
        let bound = (LOAD_BOUND * (total + 1) as f64 / n as f64).ceil() as u64;
        let h = mix64(key ^ 0x005E_ED0F_F1C5);
        let start = self.ring.partition_point(|&(p, _)| p < h);
        for k in 0..self.ring.len() {
            let r = self.ring[(start + k) % self.ring.len()].1 as usize;
            if replicas[r].queue_len() == 0 || (replicas[r].outstanding_requests as u64) < bound {
                return r;
            }
        }
        argmin(replicas, |r| r.outstanding_requests as u64)
    }
}

fn argmin(replicas: &[Replica], key: impl Fn(&Replica) -> u64) -> usize {
    let mut best = 0;
    for (i, r) in replicas.iter().enumerate() {
        if key(r) < key(&replicas[best]) {
            best = i;
        }
    }
    best
}
