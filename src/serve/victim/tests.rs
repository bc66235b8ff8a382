use super::*;
use crate::dtype::Dtype;
use crate::engine::SimTime;
use crate::perf::BatchShape;
use crate::serve::replica::{ReplicaSpec, StepOutcome};
use crate::serve::{KvAdmission, Phase, PreemptionMode, QueueOrder, ReplicaId, SchedulerConfig, SchedulerKind};
use std::sync::Arc;

fn replica(max_batch: u32, total_blocks: u64, victim: VictimChoice, priority_preemption: bool) -> Replica {
    let perf = crate::perf::tests::perf("p5.48xlarge", "llama-3.2-1b", 1, Dtype::Bf16);
    let cfg = SchedulerConfig {
        kind: SchedulerKind::Continuous,
        max_batch,
        max_batched_tokens: 4096,
        block_tokens: 16,
        kv_admission: KvAdmission::Optimistic,
        preemption: PreemptionMode::Recompute,
        max_queue: None,
        order: QueueOrder::Priority,
        victim,
        priority_preemption,
    };
    let mut spec = ReplicaSpec::new(cfg, &perf, 32_768);
    spec.total_blocks = total_blocks;
    Replica::new(ReplicaId(0), Arc::new(perf), spec)
}

/// A request of `input` prompt tokens, `output` true tokens and class `priority`.
fn req(seq: u64, arrival_ns: u64, input: u32, output: u32, priority: u32) -> ReqState {
    let mut r = ReqState::new(seq, SimTime(arrival_ns), input, output, None);
    r.priority = priority;
    r
}

/// Runs one step from `now`; returns its end.
fn step(rep: &mut Replica, now: SimTime, reqs: &mut [ReqState], out: &mut StepOutcome) -> SimTime {
    let cost = rep.plan_step(now, reqs).expect("work to do");
    let end = now.after(cost.total_ns);
    rep.finish_step(end, reqs, out);
    rep.audit(reqs).unwrap();
    end
}

/// Three sequences of one class decoding, with prompts of 100, 20 and 60 tokens: after their
/// prefill each holds ⌈input / 16⌉ blocks = 7, 2 and 4. `newest` takes the last arrival (seq 2),
/// `fewest-blocks` the 20-token one (seq 1), `most-blocks` the 100-token one (seq 0); a sequence
/// of a lower class (priority 1) is taken first whatever the choice.
#[test]
fn each_victim_choice_takes_its_sequence() {
    for (choice, want) in [
        (VictimChoice::Newest, 2),
        (VictimChoice::FewestBlocks, 1),
        (VictimChoice::MostBlocks, 0),
    ] {
        for low_class in [None, Some(1usize)] {
            let mut rep = replica(8, 1000, choice, false);
            let mut reqs: Vec<ReqState> = [100, 20, 60]
                .iter()
                .enumerate()
                .map(|(i, &n)| req(i as u64, 0, n, 50, 0))
                .collect();
            if let Some(i) = low_class {
                reqs[i].priority = 1;
            }
            for i in 0..3 {
                rep.enqueue(RequestId(i), &mut reqs[i as usize]);
            }
            step(&mut rep, SimTime::ZERO, &mut reqs, &mut StepOutcome::default());
            assert_eq!(rep.batch.len(), 3);
            let blocks: Vec<u64> = reqs
                .iter()
                .map(|r| rep.kv.blocks_for(rep.batch.ctx_next(r) - 1))
                .collect();
            assert_eq!(blocks, [7, 2, 4]);
            let got = rep.choose_victim(&reqs, None).unwrap().index();
            assert_eq!(got, low_class.unwrap_or(want), "{choice:?}, low class {low_class:?}");
            // Nothing of a class below priority 1 runs.
            assert_eq!(rep.choose_victim(&reqs, Some(1)), None);
        }
    }
}

/// Hand-built: max_batch = 2, two priority-1 sequences L0 (seq 0) and L1 (seq 1), 200-token
/// prompts and 100 true tokens, prefilled together from t = 0 and then decoding; a priority-0
/// request H (seq 2, 200-token prompt) arrives during their first decode step. Both slots are
/// full, so at the next plan H preempts exactly the newest lower-class sequence, L1 (by
/// recompute: back to the waiting queue with its 1 + 1 generated tokens to prefill again), and is
/// admitted at once. By hand: its first token comes at the end of the step in flight (t2) plus
/// one prefill step of its 200 tokens alone (prefill-first: L0 does not decode in it), so
/// TTFT = t2 + cost(prefill 200) − arrival. Without priority preemption H waits for a slot until
/// L0 and L1 finish, a hundred decode steps later.
#[test]
fn a_higher_class_arrival_preempts_exactly_the_lower_newest_sequence() {
    let run = |preempt: bool| {
        let mut rep = replica(2, 1000, VictimChoice::Newest, preempt);
        let mut reqs = vec![req(0, 0, 200, 100, 1), req(1, 0, 200, 100, 1), req(2, 0, 200, 100, 0)];
        let mut out = StepOutcome::default();
        rep.enqueue(RequestId(0), &mut reqs[0]);
        rep.enqueue(RequestId(1), &mut reqs[1]);
        let t1 = step(&mut rep, SimTime::ZERO, &mut reqs, &mut out);
        // H arrives during the first decode step.
        let cost = rep.plan_step(t1, &mut reqs).unwrap();
        let arrival = t1.after(1);
        reqs[2].arrival = arrival;
        rep.enqueue(RequestId(2), &mut reqs[2]);
        let t2 = t1.after(cost.total_ns);
        rep.finish_step(t2, &mut reqs, &mut out);
        let mut now = t2;
        let prefill_h = rep.perf.step(&{
            let mut b = BatchShape::default();
            b.add_prefill(200, 0);
            b
        });
        let mut first_step_after_arrival = true;
        while reqs[2].times.first_token == crate::serve::NO_TIME {
            now = step(&mut rep, now, &mut reqs, &mut out);
            if first_step_after_arrival && preempt {
                assert_eq!(reqs[1].phase, Phase::Queued, "L1 went back to the queue");
                assert_eq!((reqs[0].progress.preemptions, reqs[1].progress.preemptions), (0, 1));
                assert_eq!(rep.stats.priority_preemptions, 1);
                assert_eq!(
                    reqs[1].progress.prompt_len, 202,
                    "prompt + 2 generated tokens to recompute"
                );
            }
            first_step_after_arrival = false;
        }
        (
            reqs[2].times.first_token.0 - arrival.0,
            t2.0 + prefill_h.total_ns - arrival.0,
            rep.stats.preemptions,
        )
    };
    let (ttft, by_hand, preemptions) = run(true);
    assert_eq!(ttft, by_hand);
    assert_eq!(preemptions, 1);
    let (ttft_fcfs, _, preemptions) = run(false);
    assert_eq!(preemptions, 0);
    assert!(
        ttft_fcfs > 20 * ttft,
        "without preemption H waits 98 more decode steps: {ttft_fcfs} vs {ttft} ns"
    );
}

/// The same for KV blocks: 30 blocks of 16 tokens, max_batch 8; L0 and L1 (priority 1, prompts
/// of 200 tokens) hold ⌈201/16⌉ = 13 blocks each after their first decode step (26; 4 free),
/// watermark ⌊30/100⌋ = 0. H (priority 0, 100-token prompt) needs ⌈100/16⌉ = 7 > 4: L1, the
/// newest lower-class sequence, is preempted (13 blocks back: 17 free) and H is admitted in the
/// same plan.
#[test]
fn a_higher_class_arrival_preempts_for_kv_blocks() {
    let mut rep = replica(8, 30, VictimChoice::Newest, true);
    let mut reqs = vec![req(0, 0, 200, 100, 1), req(1, 0, 200, 100, 1), req(2, 0, 100, 100, 0)];
    let mut out = StepOutcome::default();
    rep.enqueue(RequestId(0), &mut reqs[0]);
    rep.enqueue(RequestId(1), &mut reqs[1]);
    let t1 = step(&mut rep, SimTime::ZERO, &mut reqs, &mut out);
    let t2 = step(&mut rep, t1, &mut reqs, &mut out);
    assert_eq!(rep.kv.used(), 26);
    rep.enqueue(RequestId(2), &mut reqs[2]);
    step(&mut rep, t2, &mut reqs, &mut out);
    assert_eq!((reqs[0].progress.preemptions, reqs[1].progress.preemptions), (0, 1));
    assert_eq!(
        reqs[2].times.first_token, rep.plan.end,
        "H prefilled in the plan that preempted"
    );
    assert_eq!(rep.kv.used(), 13 + 7);
}

/// The same arrival with preemption by swap: L1's KV (its 200-token prompt + 1 decoded token
/// cached: 201 tokens × 1,000 B = 201,000 B) goes to host memory over a 10 B/ns link, a
/// 20,100 ns copy that blocks the step; L1 waits swapped out, yet H, of a higher class, is
/// admitted in the same plan (a swapped-out sequence of a lower class holds no new prompt
/// back). By hand: TTFT = t2 + cost(prefill 200) + 20,100 ns − arrival.
#[test]
fn a_higher_class_arrival_swaps_out_the_lower_sequence() {
    let mut rep = replica(2, 1000, VictimChoice::Newest, true);
    rep.cfg.preemption = PreemptionMode::Swap;
    rep.swap = crate::serve::SwapSpace::new(1000.0, 10.0, 1e12);
    let mut reqs = vec![req(0, 0, 200, 100, 1), req(1, 0, 200, 100, 1), req(2, 0, 200, 100, 0)];
    let mut out = StepOutcome::default();
    rep.enqueue(RequestId(0), &mut reqs[0]);
    rep.enqueue(RequestId(1), &mut reqs[1]);
    let t1 = step(&mut rep, SimTime::ZERO, &mut reqs, &mut out);
    let t2 = step(&mut rep, t1, &mut reqs, &mut out);
    let arrival = t2;
    reqs[2].arrival = arrival;
    rep.enqueue(RequestId(2), &mut reqs[2]);
    step(&mut rep, t2, &mut reqs, &mut out);
    assert_eq!(reqs[1].phase, Phase::Swapped);
    assert_eq!(rep.swap.used_bytes(), 201_000.0);
    let prefill_h = rep.perf.step(&{
        let mut b = BatchShape::default();
        b.add_prefill(200, 0);
        b
    });
    assert_eq!(reqs[2].times.first_token.0 - arrival.0, prefill_h.total_ns + 20_100);
}
