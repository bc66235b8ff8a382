//! Least loaded: the replica with the fewest outstanding requests, or tokens (ties go to the
//! lowest index).

use super::ReplicaLoad;

pub fn outstanding(loads: impl Iterator<Item = ReplicaLoad>) -> usize {
    argmin(loads, |l| l.outstanding_requests as u64)
}

pub fn tokens(loads: impl Iterator<Item = ReplicaLoad>) -> usize {
    argmin(loads, |l| l.outstanding_tokens)
}

pub fn argmin(loads: impl Iterator<Item = ReplicaLoad>, key: impl Fn(&ReplicaLoad) -> u64) -> usize {
    let mut best = (0, u64::MAX);
    for (i, l) in loads.enumerate() {
        let k = key(&l);
        if i == 0 || k < best.1 {
            best = (i, k);
        }
    }
    best.0
}
