use super::*;

fn spec(name: &str, gb_s: f64, latency_ns: f64, depth: u32, capacity_blocks: f64, shared: bool) -> TierSpec {
    TierSpec {
        name: name.into(),
        read_bytes_per_ns: gb_s,
        write_bytes_per_ns: gb_s / 2.0,
        latency_ns,
        queue_depth: depth,
        capacity_bytes: capacity_blocks * BLOCK,
        shared,
    }
}

/// 1 MB blocks.
const BLOCK: f64 = 1e6;

fn tier(s: TierSpec) -> Tier {
    let store = Arc::new(Mutex::new(TierStore::new(s.capacity_bytes, BLOCK)));
    Tier::new(s, store)
}

/// A transfer alone takes latency + bytes / bandwidth; two asked at once serialise whole with
/// queue depth 1 and overlap their latencies with depth 2 (one pipe either way).
#[test]
fn queue_depth_one_serialises_two_reloads_and_depth_two_overlaps_their_latency() {
    // 8 MB at 2 GB/s (2 bytes per ns) after 100 µs: 100,000 + 4,000,000 = 4,100,000 ns.
    let mut one = Link::new(1);
    assert_eq!(one.transfer(0.0, 8e6, 2.0, 1e5), 4.1e6);
    // The second waits for the only server: 4.1e6 + 4.1e6 = 8.2e6 ns.
    assert_eq!(one.transfer(0.0, 8e6, 2.0, 1e5), 8.2e6);
    let mut two = Link::new(2);
    assert_eq!(two.transfer(0.0, 8e6, 2.0, 1e5), 4.1e6);
    // Its latency overlaps the first's bytes; its bytes follow them: 4.1e6 + 4.0e6 = 8.1e6 ns.
    assert_eq!(two.transfer(0.0, 8e6, 2.0, 1e5), 8.1e6);
    // Later, on an idle tier: alone again (asked at 20 ms: 20e6 + 4.1e6).
    assert_eq!(two.transfer(20e6, 8e6, 2.0, 1e5), 24.1e6);
}

/// Evictions fill tier 0, which demotes its oldest blocks into tier 1, which drops its oldest:
/// 10 blocks into capacities of 2 and 3 blocks leave blocks 8, 9 in tier 0 and 5, 6, 7 in tier
/// 1; blocks 0..5 are gone. No tier ever holds more than its capacity.
#[test]
fn evictions_go_down_the_chain_and_no_tier_exceeds_its_capacity() {
    let mut t = KvTiers::new(
        vec![
            tier(spec("cpu", 10.0, 0.0, 1, 2.0, false)),
            tier(spec("nvme", 5.0, 1e5, 4, 3.0, false)),
        ],
        OffloadBlocks::Prompt,
        BLOCK,
    );
    for h in 0..10u64 {
        t.offload(h as f64, &[h]);
        t.audit().unwrap();
        for tr in &t.tiers {
            let s = tr.lock();
            assert!(s.used_bytes() <= s.capacity_bytes(), "{}", tr.spec.name);
        }
    }
    let held = |k: usize| {
        (0..10u64)
            .filter(|&h| t.tiers[k].lock().contains(h))
            .collect::<Vec<_>>()
    };
    assert_eq!(held(0), vec![8, 9]);
    assert_eq!(held(1), vec![5, 6, 7]);
    assert_eq!(t.tiers[0].stats.written_blocks, 10);
    assert_eq!(t.tiers[0].stats.demoted_blocks, 8);
    assert_eq!(t.tiers[1].stats.written_blocks, 8);
    assert_eq!(t.tiers[1].stats.demoted_blocks, 5);
    assert_eq!(t.tiers[1].lock().max_used_bytes, 3.0 * BLOCK);
    // A lookup finds the run 8, 9 (tier 0) then 5 (tier 1), and stops at the missing 4.
    assert_eq!(t.peek_run(&[8, 9, 5, 4, 6]), 3);
    // Reading it back: tier 0 (10 bytes per ns, no latency) 2 MB = 200,000 ns; tier 1 (5 bytes
    // per ns, 100 µs) 1 MB = 100,000 + 200,000 ns; in parallel, done at the later: 300,000 ns
    // after now (asked at 1 s, long after the eviction writes: both pipes are idle).
    let (run, until) = t.take_run(1e9, &[8, 9, 5, 4, 6]);
    assert_eq!(run, 3);
    assert_eq!(until - 1e9, 300_000.0);
    assert_eq!(t.tiers[0].stats.reload_bytes, 2.0 * BLOCK);
    assert_eq!(t.tiers[1].stats.hit_blocks, 1);
    // Local tiers move the hit up to HBM: the blocks left them.
    assert_eq!(t.peek_run(&[8]), 0);
    assert_eq!(t.peek_run(&[6]), 1);
}

/// Two replicas over one shared pool: a block replica A evicted is a hit for replica B, read at
/// B's own bandwidth, and stays in the pool.
#[test]
fn a_block_one_replica_offloaded_to_the_shared_pool_is_hit_by_another() {
    let s = spec("pool", 4.0, 5e4, 8, 100.0, true);
    let store = Arc::new(Mutex::new(TierStore::new(s.capacity_bytes, BLOCK)));
    let mut a = KvTiers::new(vec![Tier::new(s.clone(), store.clone())], OffloadBlocks::Prompt, BLOCK);
    let mut b = KvTiers::new(vec![Tier::new(s, store)], OffloadBlocks::Prompt, BLOCK);
    a.offload(0.0, &[1, 2, 3]);
    assert_eq!(b.peek_run(&[1, 2, 3, 4]), 3);
    // 3 MB at 4 bytes per ns after 50 µs: 50,000 + 750,000 = 800,000 ns.
    let (run, until) = b.take_run(1e9, &[1, 2, 3, 4]);
    assert_eq!((run, until - 1e9), (3, 800_000.0));
    assert_eq!(a.peek_run(&[1, 2, 3]), 3, "a shared tier keeps its copy");
    assert_eq!((a.tiers[0].stats.hit_blocks, b.tiers[0].stats.hit_blocks), (0, 3));
}

/// A preempted sequence parks in the first tier whose parked sequences leave room for it,
/// pushing that tier's cached blocks down; it is read back when it resumes.
#[test]
fn a_preempted_sequence_parks_in_the_first_tier_with_room_and_comes_back() {
    let mut t = KvTiers::new(
        vec![
            tier(spec("cpu", 10.0, 0.0, 1, 4.0, false)),
            tier(spec("nvme", 5.0, 1e5, 4, 100.0, false)),
        ],
        OffloadBlocks::All,
        BLOCK,
    );
    t.offload(0.0, &[1, 2, 3]);
    // 2 MB into the cpu tier (room: 4 blocks of parked sequences): block 1 (oldest) is demoted
    // to nvme to make room. The write: 2 MB at 5 bytes per ns = 400,000 ns, after the cpu
    // pipe's eviction write (3 MB at 5 bytes per ns, 600,000 ns from t = 0).
    let end = t.park(0.0, 7, 2.0 * BLOCK).unwrap();
    assert_eq!(end, 600_000.0 + 400_000.0);
    assert!(t.tiers[1].lock().contains(1));
    assert_eq!(t.tiers[0].lock().used_bytes(), 4.0 * BLOCK);
    // A 3 MB sequence does not fit beside it in the cpu tier (2 + 3 > 4): it parks on nvme.
    t.park(0.0, 8, 3.0 * BLOCK).unwrap();
    assert_eq!(t.parked(), 2);
    t.audit().unwrap();
    // Resuming 7 at 1 s reads 2 MB from the cpu tier at 10 bytes per ns: 200,000 ns.
    assert_eq!(t.unpark(1e9, 7).unwrap() - 1e9, 200_000.0);
    assert_eq!(t.unpark(1e9, 7), None);
    assert_eq!(t.tiers[0].lock().used_bytes(), 2.0 * BLOCK);
    // Prompt-only offload never parks.
    let mut p = KvTiers::new(
        vec![tier(spec("cpu", 10.0, 0.0, 1, 4.0, false))],
        OffloadBlocks::Prompt,
        BLOCK,
    );
    assert_eq!(p.park(0.0, 1, BLOCK), None);
}

/// Replica-level: reloads from the tiers in TTFT, against the same step with the prefix in HBM.
mod replica {
    use super::*;
    use crate::dtype::Dtype;
    use crate::engine::SimTime;
    use crate::metrics::attribution::Part;
    use crate::serve::prefix_cache::PrefixCache;
    use crate::serve::replica::{Replica, ReplicaSpec, StepOutcome};
    use crate::serve::{KvAdmission, PreemptionMode, ReplicaId, ReqState, RequestId, SchedulerConfig, SchedulerKind};

    /// llama-3.2-1b KV: 16 layers × 8 KV heads × 64 dims × (K, V) × 2 bytes = 32,768 bytes per
    /// token; a 16-token block is 524,288 bytes.
    const BLOCK_BYTES: f64 = 524_288.0;
    /// The tier under test: 2 bytes per ns (2 GB/s), 100 µs to the first byte.
    const GB_S: f64 = 2.0;
    const LATENCY_NS: f64 = 100_000.0;

    fn nvme(depth: u32) -> TierSpec {
        TierSpec {
            name: "nvme".into(),
            read_bytes_per_ns: GB_S,
            write_bytes_per_ns: GB_S,
            latency_ns: LATENCY_NS,
            queue_depth: depth,
            capacity_bytes: 1e12,
            shared: false,
        }
    }

    /// A llama-3.2-1b replica on one H100 with a prompt cache of 16-token blocks, and `tiers`.
    fn replica(tiers: Option<Vec<Tier>>) -> Replica {
        let perf = crate::perf::tests::perf("p5.48xlarge", "llama-3.2-1b", 1, Dtype::Bf16);
        assert_eq!(perf.memory.kv_bytes_per_token_per_rank * 16.0, BLOCK_BYTES);
        let cfg = SchedulerConfig {
            kind: SchedulerKind::Continuous,
            max_batch: 8,
            max_batched_tokens: 4096,
            block_tokens: 16,
            kv_admission: KvAdmission::Optimistic,
            preemption: PreemptionMode::Recompute,
            max_queue: None,
            order: crate::serve::QueueOrder::Priority,
            victim: crate::serve::VictimChoice::Newest,
            priority_preemption: false,
        };
        let mut spec = ReplicaSpec::new(cfg, &perf, 32_768);
        let mut c = PrefixCache::new(16, 0);
        if tiers.is_some() {
            c.evicted = Some(Vec::new());
        }
        spec.prefix = Some(c);
        spec.tiers = tiers.map(|t| KvTiers::new(t, OffloadBlocks::Prompt, BLOCK_BYTES));
        Replica::new(ReplicaId(0), Arc::new(perf), spec)
    }

    fn local(spec: TierSpec) -> Tier {
        let store = Arc::new(Mutex::new(TierStore::new(spec.capacity_bytes, BLOCK_BYTES)));
        Tier::new(spec, store)
    }

    /// A 160-token prompt (10 blocks `base + 1 ..= base + 10`) arriving at `at_ns`, 2 tokens out.
    fn prompt(seq: u64, base: u64, at_ns: u64) -> ReqState {
        let mut r = ReqState::new(seq, SimTime(at_ns), 160, 2, None);
        r.cache.hashes = Some((base + 1..=base + 10).collect::<Vec<u64>>().into());
        r
    }

    /// Runs every step from `now` until the replica is idle; returns the cost of the first.
    fn run(r: &mut Replica, reqs: &mut [ReqState], mut now: SimTime) -> u64 {
        let mut out = StepOutcome::default();
        let mut first = None;
        while let Some(cost) = r.plan_step(now, reqs) {
            r.audit(reqs).unwrap();
            first.get_or_insert(cost.total_ns);
            now = now.after(cost.total_ns);
            r.finish_step(now, reqs, &mut out);
        }
        r.audit_drained().unwrap();
        first.unwrap_or(0)
    }

    /// Runs the warm-up prompts (bases), evicts their blocks from HBM when `evict`, then admits
    /// the same prompts again together at 1 s: returns that step's cost and the requests.
    fn second_visit(mut r: Replica, bases: &[u64], evict: bool) -> (u64, Vec<ReqState>, Replica) {
        let n = bases.len() as u32;
        let mut reqs: Vec<ReqState> = bases.iter().enumerate().map(|(i, &b)| prompt(i as u64, b, 0)).collect();
        reqs.extend(
            bases
                .iter()
                .enumerate()
                .map(|(i, &b)| prompt(n as u64 + i as u64, b, 1_000_000_000)),
        );
        for i in 0..n {
            r.enqueue(RequestId(i), &mut reqs[i as usize]);
        }
        run(&mut r, &mut reqs, SimTime::ZERO);
        if evict {
            r.prefix.as_mut().unwrap().set_capacity(0);
            r.offload_evicted();
            assert_eq!(r.prefix.as_ref().unwrap().resident_blocks(), 0);
        }
        for i in n..2 * n {
            r.enqueue(RequestId(i), &mut reqs[i as usize]);
        }
        let cost = run(&mut r, &mut reqs, SimTime(1_000_000_000));
        (cost, reqs, r)
    }

    /// A prefix of 10 blocks found in a tier instead of HBM makes the admitting step, and so the
    /// TTFT, longer by exactly latency + bytes / bandwidth: 100,000 + 10 × 524,288 / 2 =
    /// 100,000 + 2,621,440 = 2,721,440 ns; the ledger puts it in the fetch part.
    #[test]
    fn a_reload_from_a_tier_adds_latency_plus_bytes_over_bandwidth_to_ttft() {
        let (hbm, hbm_reqs, _) = second_visit(replica(None), &[0], false);
        let (tier, reqs, r) = second_visit(replica(Some(vec![local(nvme(1))])), &[0], true);
        assert_eq!(tier - hbm, 2_721_440);
        let ttft = |q: &ReqState| q.times.first_token.since(q.arrival);
        assert_eq!(ttft(&reqs[1]) - ttft(&hbm_reqs[1]), 2_721_440);
        assert_eq!(reqs[1].ledger.ttft.get(Part::Fetch), 2_721_440);
        let t = &r.tiers.as_ref().unwrap().tiers[0].stats;
        assert_eq!((t.hit_blocks, t.reload_bytes), (10, 10.0 * BLOCK_BYTES));
        // Both skipped 159 of 160 prompt tokens (one is computed for the logits).
        assert_eq!(r.prefix.as_ref().unwrap().stats.saved_prefill_tokens, 159);
    }

    /// Two prompts reloaded from one tier in the same step: with queue depth 1 the second waits
    /// for the first, 2 × 2,721,440 = 5,442,880 ns; with depth 2 their latencies overlap and
    /// only the bytes queue, 100,000 + 2 × 2,621,440 = 5,342,880 ns.
    #[test]
    fn with_queue_depth_one_two_simultaneous_reloads_serialise() {
        let (hbm, _, _) = second_visit(replica(None), &[0, 100], false);
        let (one, _, _) = second_visit(replica(Some(vec![local(nvme(1))])), &[0, 100], true);
        let (two, _, _) = second_visit(replica(Some(vec![local(nvme(2))])), &[0, 100], true);
        assert_eq!(one - hbm, 5_442_880);
        assert_eq!(two - hbm, 5_342_880);
    }

    /// Two replicas over one shared pool: replica A's evicted prefix is a hit for replica B,
    /// read at B's bandwidth (latency + bytes / bandwidth, as above), and stays in the pool.
    #[test]
    fn a_prefix_one_replica_offloaded_to_the_shared_pool_is_hit_by_another() {
        let pool = TierSpec {
            name: "mooncake-pool".into(),
            shared: true,
            ..nvme(8)
        };
        let store = Arc::new(Mutex::new(TierStore::new(pool.capacity_bytes, BLOCK_BYTES)));
        let mut a = replica(Some(vec![Tier::new(pool.clone(), store.clone())]));
        let mut reqs = vec![prompt(0, 0, 0), prompt(1, 0, 1_000_000_000)];
        a.enqueue(RequestId(0), &mut reqs[0]);
        run(&mut a, &mut reqs, SimTime::ZERO);
        a.prefix.as_mut().unwrap().set_capacity(0);
        a.offload_evicted();
        let mut b = replica(Some(vec![Tier::new(pool, store.clone())]));
        b.enqueue(RequestId(1), &mut reqs[1]);
        let cost = run(&mut b, &mut reqs, SimTime(1_000_000_000));
        let (hbm, _, _) = second_visit(replica(None), &[0], false);
        assert_eq!(cost - hbm, 2_721_440);
        assert_eq!(b.tiers.as_ref().unwrap().tiers[0].stats.hit_blocks, 10);
        assert!(
            (1..=10).all(|h| store.lock().unwrap().contains(h)),
            "the pool keeps its copy"
        );
    }
}
