//! The replica's side of speculative decoding (`spec.rs` draws and costs): KV slots for the
//! lookahead are claimed before a step and the unused ones given back after it, and each
//! sequence advances by its accepted tokens + 1. O(batch) per decode step.

use super::ReqState;
use super::replica::{Replica, StepOutcome};
use crate::engine::SimTime;

impl Replica {
    /// Speculative decoding: KV slots for γ + 1 tokens per sequence (at most the tokens it has
    /// left) are claimed before the step (what is not accepted is given back after it); the
    /// youngest sequences are preempted while blocks run short. O(batch).
    pub(super) fn reserve_lookahead(&mut self, reqs: &mut [ReqState]) {
        self.kv.clear_lookahead();
        if self.kv.reserves_full_length() {
            return;
        }
        let ahead = self.spec.as_ref().map_or(1, |s| s.gamma as u64 + 1);
        loop {
            let need: u64 = self
                .batch
                .seqs()
                .iter()
                .map(|id| {
                    let r = &reqs[id.index()];
                    let kv = self.batch.ctx_next(r) - 1;
                    // No slots beyond the sequence's max_tokens (its true end is not known yet,
                    // INV-12): a sequence that fits the cache always fits its lookahead.
                    let done = r.progress.generated as u64 + kv - r.progress.prompt_len as u64;
                    let left = (r.max_tokens as u64).saturating_sub(done).max(1);
                    self.kv.blocks_for(kv + ahead.min(left)) - self.kv.blocks_for(kv)
                })
                .sum();
            if self.kv.fits(need, 0) || self.batch.is_empty() {
                self.kv.reserve_lookahead(need);
                return;
            }
            self.preempt_youngest(reqs);
        }
    }

    /// The end of a speculative decode step: each sequence advances by its accepted tokens + 1
    /// (cut at its output length); unused lookahead blocks go back.
    pub(super) fn finish_speculative(&mut self, now: SimTime, reqs: &mut [ReqState], out: &mut StepOutcome) {
        self.batch.record_gaps(now, reqs, out);
        let mut used_lookahead = 0u64;
        let mut extra_tokens = 0u64;
        for i in (0..self.batch.len()).rev() {
            let id = self.batch.seqs()[i];
            let accepted = self.spec.as_mut().map_or(0, |s| s.draw_accepted()) as u64;
            let r = &reqs[id.index()];
            let kv = self.batch.ctx_next(r) - 1;
            let done = r.progress.generated as u64 + (kv - r.progress.prompt_len as u64);
            let remaining = (r.output as u64).saturating_sub(done).max(1);
            let adv = (accepted + 1).min(remaining);
            extra_tokens += adv - 1;
            self.stats.output_tokens += adv;
            if !self.kv.reserves_full_length() {
                used_lookahead += self.kv.blocks_for(kv + adv) - self.kv.blocks_for(kv);
            }
            if adv == remaining {
                self.batch.remove(id, reqs);
                self.complete(id, reqs, kv + adv, out);
                continue;
            }
            self.batch.shift(id, reqs, adv);
        }
        if extra_tokens > 0 {
            out.itl.push((0, extra_tokens.min(u32::MAX as u64) as u32));
        }
        self.kv.settle_lookahead(used_lookahead);
        self.batch.step_counter();
    }
}

#[cfg(test)]
mod tests {
    use super::super::replica::{ReplicaSpec, StepOutcome};
    use super::super::spec::SpecDecoder;
    use super::super::{KvAdmission, PreemptionMode, ReplicaId, RequestId, SchedulerConfig, SchedulerKind};
    use super::*;
    use crate::dtype::Dtype;
    use rand::SeedableRng;
    use rand::rngs::ChaCha8Rng;
    use std::sync::Arc;

    /// Runs 16 requests of 600 tokens through a speculating replica (γ, one α, fixed seed);
    /// returns (tokens the decode steps produced, (sequence, step) pairs, tokens drawn).
    fn run(kind: SchedulerKind, gamma: u32, alpha: f64, instance: &str, tp: u32) -> (u64, u64, u64) {
        let (n, output) = (16u32, 600u32);
        let model = crate::perf::tests::model("llama-3.2-1b");
        let perf = crate::perf::tests::perf(instance, "llama-3.2-1b", tp, Dtype::Bf16);
        let cfg = SchedulerConfig {
            kind,
            max_batch: 16,
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
        let rng = ChaCha8Rng::seed_from_u64(42);
        spec.spec = Some(SpecDecoder::new(gamma, &[alpha], None, 0.5, model.layers, rng));
        let mut r = Replica::new(ReplicaId(0), Arc::new(perf), spec);
        let mut reqs: Vec<ReqState> = (0..n)
            .map(|i| ReqState::new(i as u64, SimTime::ZERO, 100, output, None))
            .collect();
        for i in 0..n {
            r.enqueue(RequestId(i), &mut reqs[i as usize]);
        }
        let mut out = StepOutcome::default();
        let mut now = SimTime::ZERO;
        while let Some(cost) = r.plan_step(now, &mut reqs) {
            r.audit(&reqs).unwrap();
            now = now.after(cost.total_ns);
            r.finish_step(now, &mut reqs, &mut out);
            r.audit(&reqs).unwrap();
        }
        assert_eq!(r.stats.output_tokens, n as u64 * output as u64, "every token, once");
        let s = r.spec.as_ref().unwrap().stats;
        // Each request's first token comes from its prefill, the rest from decode steps.
        (r.stats.output_tokens - n as u64, s.seq_steps, s.drawn_tokens)
    }

    /// Tokens per (sequence, step) follow the truncated geometric law, whose mean is
    /// (1 − α^(γ+1)) / (1 − α): no simulated mean beats it beyond sampling noise. The noise is
    /// computed exactly: T = k with probability α^(k−1)(1 − α) for k ≤ γ and α^γ for k = γ + 1.
    #[test]
    fn tokens_per_step_never_beat_the_truncated_geometric_mean() {
        let kinds = [SchedulerKind::Continuous, SchedulerKind::Chunked, SchedulerKind::Static];
        for (kind, instance, tp) in kinds
            .iter()
            .flat_map(|&k| [(k, "p5.48xlarge", 1), (k, "trn2.48xlarge", 4)])
        {
            for (gamma, alpha) in [(4u32, 0.7f64), (7, 0.9), (2, 0.3)] {
                let mean = (1.0 - alpha.powi(gamma as i32 + 1)) / (1.0 - alpha);
                let mut second = 0.0;
                for k in 1..=gamma + 1 {
                    let p = if k <= gamma {
                        alpha.powi(k as i32 - 1) * (1.0 - alpha)
                    } else {
                        alpha.powi(gamma as i32)
                    };
                    second += p * (k * k) as f64;
                }
                let sd = (second - mean * mean).sqrt();
                let (decoded, steps, drawn) = run(kind, gamma, alpha, instance, tp);
                let noise = 4.0 * sd / (steps as f64).sqrt();
                let realised = decoded as f64 / steps as f64;
                let drawn = drawn as f64 / steps as f64;
                // E.g. γ = 4, α = 0.7: (1 − 0.7⁵)/0.3 = 2.7731; sd 1.53; ~3500 steps: ±0.10.
                assert!(
                    realised <= mean + noise,
                    "{kind:?} {instance} γ {gamma} α {alpha}: {realised:.4} tokens per step beat {mean:.4} (+{noise:.4})"
                );
                assert!(
                    (drawn - mean).abs() <= noise,
                    "{instance}: drawn {drawn:.4} vs {mean:.4} ± {noise:.4}"
                );
                // Cutting at the output length only loses tokens.
                assert!(realised <= drawn);
            }
        }
    }
}
