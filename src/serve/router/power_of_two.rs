//! Power of two choices: two replicas drawn at random; the one with fewer outstanding requests.

use super::ReplicaLoad;
use rand::RngExt;
use rand::rngs::ChaCha8Rng;

pub struct PowerOfTwo {
    rng: ChaCha8Rng,
}

impl PowerOfTwo {
    /// Draws from `rng`: the run's router stream (`rng::Stream::Router` or `DecodeRouter`).
    pub fn new(rng: ChaCha8Rng) -> PowerOfTwo {
        PowerOfTwo { rng }
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
