//! Each routing policy against what it promises, on hand-made loads.

use super::*;
use rand::SeedableRng;
use rand::rngs::ChaCha8Rng;

fn load(outstanding: u32, tokens: u64, queued: u32) -> ReplicaLoad {
    ReplicaLoad {
        outstanding_requests: outstanding,
        outstanding_tokens: tokens,
        queued,
    }
}

fn router(policy: RoutingPolicy) -> Router {
    Router::new(policy, ChaCha8Rng::seed_from_u64(1))
}

#[test]
fn round_robin_takes_each_replica_in_turn() {
    let mut r = router(RoutingPolicy::RoundRobin);
    let loads = [load(9, 0, 9), load(0, 0, 0), load(5, 0, 0)];
    let picks: Vec<usize> = (0..7).map(|_| r.pick(loads.iter().copied(), None)).collect();
    assert_eq!(picks, [0, 1, 2, 0, 1, 2, 0], "load is ignored");
}

#[test]
fn least_policies_pick_the_minimum_and_break_ties_low() {
    let loads = [load(3, 900, 0), load(1, 5_000, 0), load(1, 100, 0), load(4, 50, 0)];
    assert_eq!(
        router(RoutingPolicy::LeastOutstanding).pick(loads.iter().copied(), None),
        1
    );
    assert_eq!(router(RoutingPolicy::LeastTokens).pick(loads.iter().copied(), None), 3);
}

#[test]
fn power_of_two_never_picks_the_more_loaded_of_two_replicas() {
    // With two replicas the less loaded one loses only when both draws land on the other:
    // probability 1/4, so it wins 3/4 of the picks.
    let mut r = router(RoutingPolicy::PowerOfTwo);
    let loads = [load(7, 0, 0), load(2, 0, 0)];
    let picks: Vec<usize> = (0..200).map(|_| r.pick(loads.iter().copied(), None)).collect();
    let ones = picks.iter().filter(|&&p| p == 1).count();
    // 150 expected of 200 (σ = 6.1).
    assert!(
        (ones as f64 - 150.0).abs() < 25.0,
        "the less loaded replica won {ones} of 200"
    );
    // Over 8 replicas the busiest one wins only when both draws land on it: probability 1/64.
    // 500 picks choose it 7.8 times on average (σ = 2.8); the test allows 4σ.
    let mut many = [load(1, 0, 0); 8];
    many[3] = load(100, 0, 0);
    let busy = (0..500).filter(|_| r.pick(many.iter().copied(), None) == 3).count() as f64;
    assert!(
        (busy - 500.0 / 64.0).abs() < 11.0,
        "busiest replica picked {busy} times of 500"
    );
}

#[test]
fn prefix_affinity_keeps_a_prefix_on_one_replica_until_it_is_overloaded() {
    let mut r = router(RoutingPolicy::PrefixAffinity);
    let idle = vec![load(0, 0, 0); 8];
    let home = r.pick(idle.iter().copied(), Some(42));
    for _ in 0..10 {
        assert_eq!(r.pick(idle.iter().copied(), Some(42)), home, "same key, same replica");
    }
    // The home replica has requests waiting and more than 1.25 × the mean load (⌈1.25 · 21 / 8⌉
    // = 4 outstanding here): the key moves on along the ring.
    let mut busy = idle.clone();
    busy[home] = load(20, 0, 5);
    assert_ne!(r.pick(busy.iter().copied(), Some(42)), home);
    // Without a prefix key: least outstanding.
    assert_ne!(r.pick(busy.iter().copied(), None), home);
}

/// Least tokens counts prompt + `max_tokens` per outstanding request, never the true output
/// (INV-12). Replicas 0 and 1 each hold a 100-token prompt with max_tokens 500 (600 tokens) whose
/// true outputs are 10 and 400; replica 2 holds one with max_tokens 200 (300 tokens) and a true
/// output of 200. The router sees 600, 600, 300 and picks replica 2, although replica 0 has the
/// least true work left; when the requests end the counts drain to 0.
#[test]
fn least_tokens_counts_prompt_plus_max_tokens() {
    use crate::dtype::Dtype;
    use crate::engine::SimTime;
    use crate::serve::replica::{Replica, ReplicaSpec, StepOutcome};
    use crate::serve::{KvAdmission, PreemptionMode, ReplicaId, ReqState, RequestId, SchedulerConfig, SchedulerKind};
    use std::sync::Arc;

    let perf = Arc::new(crate::perf::tests::perf("p5.48xlarge", "llama-3.2-1b", 1, Dtype::Bf16));
    let cfg = SchedulerConfig {
        kind: SchedulerKind::Continuous,
        max_batch: 8,
        max_batched_tokens: 4096,
        block_tokens: 16,
        kv_admission: KvAdmission::Reserve,
        preemption: PreemptionMode::Recompute,
        max_queue: None,
        order: crate::serve::QueueOrder::Priority,
        victim: crate::serve::VictimChoice::Newest,
        priority_preemption: false,
    };
    let mut replicas: Vec<Replica> = (0..3)
        .map(|i| Replica::new(ReplicaId(i), perf.clone(), ReplicaSpec::new(cfg, &perf, 32_768)))
        .collect();
    let mut reqs: Vec<ReqState> = [(10, 500), (400, 500), (200, 200)]
        .iter()
        .enumerate()
        .map(|(i, &(output, max_tokens))| {
            let mut r = ReqState::new(i as u64, SimTime::ZERO, 100, output, None);
            r.max_tokens = max_tokens;
            r
        })
        .collect();
    for (i, rep) in replicas.iter_mut().enumerate() {
        rep.enqueue(RequestId(i as u32), &mut reqs[i]);
    }
    let tokens: Vec<u64> = replicas.iter().map(|r| r.load().outstanding_tokens).collect();
    assert_eq!(tokens, [600, 600, 300]);
    assert_eq!(
        router(RoutingPolicy::LeastTokens).pick(replicas.iter().map(Replica::load), None),
        2
    );
    let mut out = StepOutcome::default();
    for rep in &mut replicas {
        let mut now = SimTime::ZERO;
        while let Some(cost) = rep.plan_step(now, &mut reqs) {
            now = now.after(cost.total_ns);
            rep.finish_step(now, &mut reqs, &mut out);
        }
        assert_eq!(rep.load().outstanding_tokens, 0);
        assert_eq!(
            rep.used_blocks(),
            0,
            "the reservation of 600 / 300 tokens went back whole"
        );
    }
}
