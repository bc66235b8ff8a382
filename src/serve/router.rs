//! The router in front of the replicas: picks a replica for each arriving request.

use super::ReplicaId;
use super::replica::Replica;
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
}

pub struct Router {
    policy: RoutingPolicy,
    next: usize,
    rng: ChaCha8Rng,
}

impl Router {
    pub fn new(policy: RoutingPolicy, seed: u64) -> Router {
        Router {
            policy,
            next: 0,
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x0707_0707),
        }
    }

    /// Ties go to the lowest replica index, so the choice is deterministic.
    pub fn pick(&mut self, replicas: &[Replica]) -> ReplicaId {
        let n = replicas.len();
        let i = match self.policy {
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
        };
        ReplicaId(i as u32)
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
