//! Power of two choices: two replicas drawn at random; the one with fewer outstanding requests.

use super::ReplicaLoad;
use rand::RngExt;
use rand::SeedableRng;
use rand::rngs::ChaCha8Rng;

pub struct PowerOfTwo {
    rng: ChaCha8Rng,
}

impl PowerOfTwo {
    pub fn new(seed: u64) -> PowerOfTwo {
        PowerOfTwo {
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x0707_0707),
        }
    }

    pub fn pick(&mut self, loads: &[ReplicaLoad]) -> usize {
        let n = loads.len();
        let a = self.rng.random_range(0..n);
        let b = self.rng.random_range(0..n);
        if loads[b].outstanding_requests < loads[a].outstanding_requests {
            b
        } else {
            a
        }
    }
}
