//! The router in front of the replicas: picks a replica for each arriving request, from what it
//! can see of them (`ReplicaLoad`). Each policy is one file; `Router::pick` dispatches them in
//! one `match`.
//!
//! Adding a policy: a file here with its `pick`, an arm in `RoutingPolicy` and one in `pick`.

mod least;
mod power_of_two;
mod prefix_affinity;
mod round_robin;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RoutingPolicy {
    RoundRobin,
    /// Fewest requests queued or running.
    LeastOutstanding,
    /// Fewest prompt + `max_tokens` tokens queued or running: what the router knows of a
    /// request (its true output length is revealed only when it ends, INV-12), and what a
    /// `reserve` engine would hold for it.
    LeastTokens,
    /// Two replicas drawn at random; the one with fewer outstanding requests.
    PowerOfTwo,
    /// Requests sharing a prompt prefix go to one replica (for its prompt cache): consistent
    /// hashing of the prefix key with bounded load (Mirrokni et al.): walking the ring from the
    /// key's point, the first replica that has no request waiting for a batch slot, or fewer
    /// outstanding requests than ⌈1.25 · (total + 1) / replicas⌉. Requests without a prefix
    /// key: least outstanding.
    PrefixAffinity,
    /// Requests with the same LoRA adapter go to one replica (its adapter stays loaded):
    /// consistent hashing of the adapter with the same bounded load as prefix affinity. Requests
    /// on the base model: least outstanding.
    AdapterAffinity,
}

/// What the router sees of a replica.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplicaLoad {
    /// Requests queued, running, or on their way (a KV cache in transfer).
    pub outstanding_requests: u32,
    /// Their prompt + `max_tokens` tokens (never their true output lengths).
    pub outstanding_tokens: u64,
    /// Requests waiting for a batch slot (waiting, swapped out, or arrived from a prefill replica).
    pub queued: u32,
}

pub struct Router {
    policy: RoutingPolicy,
    round_robin: round_robin::RoundRobin,
    power_of_two: power_of_two::PowerOfTwo,
    affinity: prefix_affinity::Ring,
    /// The loads of the pool being routed to, reused from one arrival to the next.
    loads: Vec<ReplicaLoad>,
}

impl Router {
    /// A router drawing its random choices from `rng` (the run's router stream).
    pub fn new(policy: RoutingPolicy, rng: rand::rngs::ChaCha8Rng) -> Router {
        Router {
            policy,
            round_robin: round_robin::RoundRobin::default(),
            power_of_two: power_of_two::PowerOfTwo::new(rng),
            affinity: prefix_affinity::Ring::default(),
            loads: Vec::new(),
        }
    }

    pub fn policy(&self) -> RoutingPolicy {
        self.policy
    }

    /// Ties go to the lowest replica index, so the choice is deterministic.
    /// Picks among `loads` (a pool's replicas, in order); returns the index within the pool.
    /// `prefix`: the request's affinity key, if any (its prompt prefix, or its adapter under
    /// adapter affinity).
    pub fn pick(&mut self, loads: impl ExactSizeIterator<Item = ReplicaLoad>, prefix: Option<u64>) -> usize {
        match self.policy {
            RoutingPolicy::RoundRobin => self.round_robin.pick(loads.len()),
            RoutingPolicy::LeastOutstanding => least::outstanding(loads),
            RoutingPolicy::LeastTokens => least::tokens(loads),
            RoutingPolicy::PowerOfTwo => self.power_of_two.pick(collect(&mut self.loads, loads)),
            RoutingPolicy::PrefixAffinity | RoutingPolicy::AdapterAffinity => match prefix {
                Some(key) => self.affinity.pick(collect(&mut self.loads, loads), key),
                None => least::outstanding(loads),
            },
        }
    }
}

/// The loads in the router's reusable buffer, for policies that look at replicas out of order.
fn collect(buf: &mut Vec<ReplicaLoad>, loads: impl Iterator<Item = ReplicaLoad>) -> &[ReplicaLoad] {
    buf.clear();
    buf.extend(loads);
    buf
}

#[cfg(test)]
mod tests;
