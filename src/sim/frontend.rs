//! The path a request takes before a replica sees it, and the host CPU work around the
//! replicas: Nitro's per-request latency, the front-end tier (API gateway, router) and the
//! host's tokenizer, each a pool of cores served first come, first served (a multi-server
//! queue: a request takes the core that frees first). Detokenization and the engine's per-step
//! scheduling CPU occupy the same host cores without delaying the request they serve (they
//! overlap with the accelerator), so they show up as queueing for later tokenizations and in
//! the host's utilisation. The hosts of a pool's instances are pooled into one queue; an
//! autoscaled pool's queue has the cores of the instances its serving replicas occupy.

use crate::engine::SimTime;
use crate::scenario::Scenario;
use crate::scenario::infra::usable_cores;

/// Utilisation above which a CPU tier is reported as the bottleneck.
pub const BOTTLENECK_UTILISATION: f64 = 0.95;

/// The usable host cores of `instances` instances of `pool` (at least one instance's; partial
/// instances round their vCPUs up).
pub fn host_cores(pool: &crate::scenario::Pool, instances: f64, nitro: &crate::hw::nitro::Nitro) -> u32 {
    let vcpus = pool.hardware.instance.host_vcpus as f64 * instances.max(1.0);
    usable_cores(vcpus.ceil() as u32, nitro)
}

/// A tier is the bottleneck when it ran above [`BOTTLENECK_UTILISATION`] while requests came
/// through and requests waited longer for its cores than in the replicas' queues (an offline
/// burst keeps every tier busy for a moment; only a tier that holds requests back counts).
pub fn is_bottleneck(q: &CoreQueue, replica_queue_ms: f64) -> bool {
    q.utilisation() > BOTTLENECK_UTILISATION && q.mean_wait_ns() * 1e-6 >= replica_queue_ms
}

/// A pool of identical cores serving jobs FCFS.
#[derive(Debug, Clone)]
pub struct CoreQueue {
    /// When each core frees, ascending: `free_ns[head..]`. The cores are identical, so only
    /// this multiset matters: a job takes its least element. Kept sorted rather than in a heap
    /// because a job usually ends after every core already booked or just before the last few
    /// (jobs come in time order and take similar times), so its end joins at or near the back
    /// and the least leaves at the front, in O(1). The vector slides: the front advances past
    /// taken entries, which are dropped in one move once they are as many as the cores.
    free_ns: Vec<u64>,
    head: usize,
    pub cores: u32,
    pub busy_ns: f64,
    /// Σ time requests waited for a core, and how many passed.
    pub wait_ns: f64,
    jobs: u64,
    /// (busy core-ns booked, end time) when the latest request left the tier.
    at_last_job: (f64, f64),
    /// (time, cores before it) of each change of the core count ([`CoreQueue::set_cores`], an
    /// autoscaled fleet's hosts), in time order: utilisation is then over Σ cores × time, not
    /// cores × the span. Empty for a pool that never changes.
    resized: Vec<(u64, u32)>,
}

impl CoreQueue {
    pub fn new(cores: u32) -> CoreQueue {
        let cores = cores.max(1);
        CoreQueue {
            free_ns: vec![0; cores as usize],
            head: 0,
            cores,
            busy_ns: 0.0,
            wait_ns: 0.0,
            jobs: 0,
            at_last_job: (0.0, 0.0),
            resized: Vec::new(),
        }
    }

    /// From `now` on the pool has `cores` cores (at least one): cores added are free from `now`;
    /// cores taken away are those that free first (an instance leaves the fleet idle). A
    /// count that does not change changes nothing.
    pub fn set_cores(&mut self, now: u64, cores: u32) {
        let cores = cores.max(1);
        if cores == self.cores {
            return;
        }
        let since = self.resized.last().map_or(0, |&(t, _)| t);
        self.resized.push((now.max(since), self.cores));
        if cores > self.cores {
            let at = self.head + self.free_ns[self.head..].partition_point(|&f| f <= now);
            let added = (cores - self.cores) as usize;
            self.free_ns.splice(at..at, std::iter::repeat_n(now, added));
        } else {
            self.head += (self.cores - cores) as usize;
        }
        self.cores = cores;
    }

    /// Σ cores × ns from 0 to `t_ns`.
    fn core_ns(&self, t_ns: f64) -> f64 {
        let mut from = 0.0;
        let mut core_ns = 0.0;
        for &(t, cores) in &self.resized {
            let to = (t as f64).min(t_ns);
            core_ns += cores as f64 * (to - from).max(0.0);
            from = from.max(to);
        }
        core_ns + self.cores as f64 * (t_ns - from).max(0.0)
    }

    /// The mean number of cores over the first `span_ns`.
    pub fn mean_cores(&self, span_ns: f64) -> f64 {
        if span_ns > 0.0 {
            self.core_ns(span_ns) / span_ns
        } else {
            self.cores as f64
        }
    }

    /// Runs a job of `ns` arriving at `now` on the first core to free; returns when it ends.
    pub fn serve(&mut self, now: u64, ns: f64) -> u64 {
        if ns <= 0.0 {
            return now;
        }
        if self.head >= self.cores as usize {
            self.free_ns.drain(..self.head);
            self.head = 0;
        }
        let free = self.free_ns[self.head];
        self.head += 1;
        let start = now.max(free);
        let end = start.saturating_add(crate::float::round(ns) as u64);
        let v = &mut self.free_ns;
        let n = v.len();
        if v[n - 1] <= end {
            v.push(end);
        } else {
            // Few cores are booked past a new job's end (the rest are idle or free sooner):
            // up to eight of them move up one place, else its place is found by bisection.
            let near = n.saturating_sub(8).max(self.head);
            let mut at = n - 1;
            while at > near && v[at - 1] > end {
                at -= 1;
            }
            if at == near && at > self.head && v[at - 1] > end {
                at = self.head + v[self.head..at].partition_point(|&f| f <= end);
                v.insert(at, end);
            } else {
                v.push(end);
                for j in (at..n).rev() {
                    v[j + 1] = v[j];
                }
                v[at] = end;
            }
        }
        self.busy_ns += ns;
        end
    }

    /// [`Self::serve`] for a request on its way to a replica (counted in waits and utilisation).
    pub fn pass(&mut self, now: u64, ns: f64) -> u64 {
        let before = self.free_ns.get(self.head).copied().unwrap_or(0);
        let end = self.serve(now, ns);
        self.wait_ns += before.saturating_sub(now) as f64;
        self.jobs += 1;
        if end as f64 >= self.at_last_job.1 {
            self.at_last_job = (self.busy_ns, end as f64);
        }
        end
    }

    /// Busy core-time over available core-time while requests came through: up to the moment
    /// the last request left this tier (a tier saturated by the arrivals counts as fully busy
    /// even when the run then went on draining on the accelerators).
    pub fn utilisation(&self) -> f64 {
        let (busy, window) = self.at_last_job;
        let core_ns = self.core_ns(window);
        if window > 0.0 && core_ns > 0.0 {
            (busy / core_ns).min(1.0)
        } else {
            0.0
        }
    }

    /// Mean wait for a core of the requests that passed.
    pub fn mean_wait_ns(&self) -> f64 {
        if self.jobs > 0 {
            self.wait_ns / self.jobs as f64
        } else {
            0.0
        }
    }

    /// Busy core-time over available core-time over the whole run (for the host's power).
    pub fn mean_utilisation(&self, span_ns: f64) -> f64 {
        if span_ns > 0.0 {
            (self.busy_ns / self.core_ns(span_ns)).min(1.0)
        } else {
            0.0
        }
    }
}

/// A request held on the front-end path.
#[derive(Debug, Clone, Copy)]
pub struct Held {
    pub arrival: SimTime,
    pub input: u32,
    pub output: u32,
    /// The engine's limit on the output (see `ReqState::max_tokens`).
    pub max_tokens: u32,
    pub client: Option<u32>,
    pub prefix: Option<u64>,
    pub class: usize,
    /// Its arrival number (1, 2, …): how the gateway and a cancelling client name it.
    pub ticket: u64,
    /// Its trace row's `predicted_output`, if any (see `ReqState::predicted_output`).
    pub predicted_output: Option<u32>,
    /// The client's network round trip (`workload.client_rtt`): half of it before the request
    /// reached the front end, half after its tokens leave the server.
    pub rtt_ns: u64,
    /// Images (or audio clips) it carries (`workload.multimodal`), and the prompt tokens
    /// they add.
    pub images: u16,
    pub media_tokens: u32,
    /// Its media's content hash (`workload.multimodal.repeat_share`; 0 without).
    pub media_hash: u64,
    /// Its time on the encode pool (queue, encode, embeddings' transfer), once encoded there.
    pub encode_ns: Option<u64>,
}

/// The front-end path and the host CPUs of every pool.
#[derive(Debug)]
pub struct FrontPath {
    request_ns: u64,
    frontend_ns: f64,
    tokenize_ns_per_token: f64,
    detokenize_ns_per_token: f64,
    step_cpu_ns: f64,
    pub frontend: Option<CoreQueue>,
    /// One per pool.
    pub hosts: Vec<CoreQueue>,
    held: Vec<Held>,
    free: Vec<u32>,
    /// Σ time from arrival to the router, and requests.
    path_ns: f64,
    paths: u64,
    /// `workload.client_rtt` and its random stream, if set; each request's return half, by
    /// request slot.
    rtt: Option<(crate::workload::sessions::DelaySpec, rand::rngs::ChaCha8Rng)>,
    rtt_ns: Vec<u64>,
}

impl FrontPath {
    /// `pool_instances`: instances per pool (whole instances, rounded up).
    pub fn new(sc: &Scenario, pools: &[crate::scenario::Pool], pool_instances: &[f64]) -> FrontPath {
        let infra = &sc.infra;
        let hosts = pools
            .iter()
            .zip(pool_instances)
            .map(|(p, &n)| CoreQueue::new(host_cores(p, n, &infra.nitro)))
            .collect();
        FrontPath {
            request_ns: (infra.nitro.request_latency_us * 1e3).round() as u64,
            frontend_ns: infra.host.frontend_us_per_request * 1e3,
            tokenize_ns_per_token: infra.host.tokenize_us_per_token * 1e3,
            detokenize_ns_per_token: infra.host.detokenize_us_per_token * 1e3,
            step_cpu_ns: infra.step_cpu_ns(),
            frontend: infra.frontend.as_ref().map(|f| CoreQueue::new(f.cores(&infra.nitro))),
            hosts,
            held: Vec::new(),
            free: Vec::new(),
            path_ns: 0.0,
            paths: 0,
            rtt: sc.client_rtt.map(|d| (d, crate::rng::Stream::ClientRtt.rng(sc.seed))),
            rtt_ns: Vec::new(),
        }
    }

    /// One request's client round trip, ns (0 without `workload.client_rtt`).
    pub fn draw_rtt(&mut self) -> u64 {
        self.rtt.as_mut().map_or(0, |(d, rng)| d.sample_ns(rng))
    }

    /// Request slot `id` holds a request of round trip `rtt_ns`: its return half (the larger
    /// half when the round trip is odd), for [`FrontPath::back_ns`].
    pub fn set_back(&mut self, id: crate::serve::RequestId, rtt_ns: u64) {
        if self.rtt.is_some() {
            let i = id.index();
            if self.rtt_ns.len() <= i {
                self.rtt_ns.resize(i + 1, 0);
            }
            self.rtt_ns[i] = rtt_ns;
        }
    }

    /// Request slot `id`'s whole round trip (a request routed again keeps its own).
    pub fn rtt_ns(&self, id: crate::serve::RequestId) -> u64 {
        self.rtt_ns.get(id.index()).copied().unwrap_or(0)
    }

    /// The return half of request slot `id`'s round trip: its tokens reach the client this
    /// long after they leave the server.
    pub fn back_ns(&self, id: crate::serve::RequestId) -> u64 {
        let rtt_ns = self.rtt_ns(id);
        rtt_ns - rtt_ns / 2
    }

    /// When a request arriving at `now` with `input` prompt tokens reaches the router.
    pub fn ready_at(&mut self, now: SimTime, input: u32) -> SimTime {
        let mut t = now.0.saturating_add(self.request_ns);
        if let Some(f) = &mut self.frontend {
            t = f.pass(t, self.frontend_ns);
        }
        if let Some(h) = self.hosts.first_mut() {
            t = h.pass(t, self.tokenize_ns_per_token * input as f64);
        }
        self.path_ns += (t - now.0) as f64;
        self.paths += 1;
        SimTime(t)
    }

    /// Nitro's per-request latency: the network part of every request's way to the router.
    pub fn network_ns(&self) -> u64 {
        self.request_ns
    }

    /// Mean time from arrival to the router, ms.
    pub fn mean_path_ms(&self) -> f64 {
        if self.paths > 0 {
            self.path_ns * 1e-6 / self.paths as f64
        } else {
            0.0
        }
    }

    pub fn hold(&mut self, h: Held) -> u32 {
        match self.free.pop() {
            Some(i) => {
                self.held[i as usize] = h;
                i
            }
            None => {
                self.held.push(h);
                self.held.len() as u32 - 1
            }
        }
    }

    /// Requests on the front-end path now.
    pub fn in_flight(&self) -> u64 {
        (self.held.len() - self.free.len()) as u64
    }

    pub fn release(&mut self, i: u32) -> Held {
        self.free.push(i);
        self.held[i as usize]
    }

    /// A replica of `pool` starts a step at `now`.
    pub fn step(&mut self, now: SimTime, pool: usize) {
        if let Some(h) = self.hosts.get_mut(pool) {
            h.serve(now.0, self.step_cpu_ns);
        }
    }

    /// A request finished on a replica of `pool` with `output` tokens to detokenize.
    pub fn detokenize(&mut self, now: SimTime, pool: usize, output: u32) {
        if let Some(h) = self.hosts.get_mut(pool) {
            h.serve(now.0, self.detokenize_ns_per_token * output as f64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng, rngs::ChaCha8Rng};

    /// A pool whose core count changes (an autoscaled fleet's hosts): cores added are free
    /// from the change, cores taken away are those that free first, and utilisation is over
    /// Σ cores × time. By hand: 2 cores from 0 (two 10 s jobs: busy to 10 s), 4 from 10 s
    /// (four 10 s jobs at 10 s start at once: busy to 20 s), 1 from 20 s (one 5 s job): 65
    /// core-s of work over 2 × 10 + 4 × 10 + 1 × 5 = 65 core-s, fully busy; 3 cores on average
    /// over the first 20 s. An unchanged count is no change at all.
    #[test]
    fn a_resized_pool_serves_and_counts_its_core_time() {
        const S: u64 = 1_000_000_000;
        let mut q = CoreQueue::new(2);
        q.set_cores(0, 2);
        assert!(q.resized.is_empty(), "an unchanged count changes nothing");
        for _ in 0..2 {
            assert_eq!(q.pass(0, 10e9), 10 * S);
        }
        q.set_cores(10 * S, 4);
        for _ in 0..4 {
            assert_eq!(q.pass(10 * S, 10e9), 20 * S, "every core free at 10 s");
        }
        assert!((q.mean_cores(20e9) - 3.0).abs() < 1e-12);
        assert!((q.mean_utilisation(20e9) - 1.0).abs() < 1e-12);
        q.set_cores(20 * S, 1);
        assert_eq!(q.pass(20 * S, 5e9), 25 * S);
        assert!((q.mean_utilisation(25e9) - 1.0).abs() < 1e-12);
        assert!((q.utilisation() - 1.0).abs() < 1e-12);
        assert!((q.mean_cores(25e9) - 65.0 / 25.0).abs() < 1e-12);
        // Half as busy over twice the time.
        assert!((q.mean_utilisation(50e9) - 65.0 / 90.0).abs() < 1e-12);

        // A core added is free at once; the core taken away is the one that frees first.
        let mut q = CoreQueue::new(2);
        assert_eq!(q.pass(0, 30e9), 30 * S);
        assert_eq!(q.pass(0, 5e9), 5 * S);
        q.set_cores(10 * S, 3);
        assert_eq!(q.pass(10 * S, 1e9), 11 * S, "the new core, free at 10 s");
        // Free at 5, 11 and 30 s: going down to two drops the 5 s one.
        q.set_cores(12 * S, 2);
        assert_eq!(q.pass(12 * S, 1e9), 13 * S, "the core that freed at 11 s");
        assert_eq!(
            q.pass(12 * S, 1e9),
            14 * S,
            "the same core again, not the one busy to 30 s"
        );
        assert_eq!(q.pass(12 * S, 20e9), 34 * S, "both busy: the first to free, at 14 s");
        assert_eq!(q.pass(12 * S, 1e9), 31 * S, "then the one busy to 30 s");
    }

    /// The sorted queue of free times serves exactly as the definition does: each job takes the
    /// core that frees first (a linear scan over every core here). Arrival times go backwards
    /// now and then (a request's path is booked ahead of the steps booked at `now`), durations
    /// vary over three decades, and some jobs outlast every core booked.
    #[test]
    fn jobs_take_the_core_that_frees_first() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for cores in [1u32, 2, 7, 192] {
            let mut q = CoreQueue::new(cores);
            let mut free = vec![0u64; cores as usize];
            let (mut now, mut wait) = (0u64, 0.0);
            for _ in 0..20_000 {
                now = match rng.random_range(0..10) {
                    0 => now.saturating_sub(rng.random_range(0..50_000)),
                    _ => now + rng.random_range(0..20_000),
                };
                let ns: f64 = match rng.random_range(0..3) {
                    0 => rng.random_range(0.0..100.0),
                    1 => rng.random_range(0.0..10_000.0),
                    _ => rng.random_range(0.0..1e6),
                };
                let k = (0..free.len()).min_by_key(|&k| free[k]).unwrap();
                let end = now.max(free[k]) + ns.round() as u64;
                wait += free[k].saturating_sub(now) as f64;
                free[k] = end;
                assert_eq!(q.pass(now, ns), end);
                assert_eq!(q.wait_ns, wait);
                let held = &q.free_ns[q.head..];
                assert_eq!(held.len(), cores as usize);
                assert!(held.windows(2).all(|w| w[0] <= w[1]));
            }
            let mut left: Vec<u64> = q.free_ns[q.head..].to_vec();
            free.sort_unstable();
            left.sort_unstable();
            assert_eq!(left, free);
        }
    }
}
