//! Speculative decoding: a draft model (a preset on the same chips, with its own cost) or draft
//! heads (EAGLE / Medusa / MTP: a fraction of one target layer per drafted token) propose γ
//! tokens; the target verifies them in one forward pass over γ + 1 tokens per sequence.
//!
//! Acceptance: position i (1..=γ) is accepted with probability α_i if every earlier one was
//! (one α for all positions, or a per-position table), so the accepted count per sequence and
//! step follows the truncated geometric law and the tokens a step yields, accepted + 1, have
//! mean Σ_{i=0..γ} Π_{j≤i} α_j, which is (1 − α^(γ+1)) / (1 − α) for a single α.
//!
//! The draws are per sequence and per step from the replica's own stream, so a speculative
//! replica does O(batch) work per decode step (sequences advance by different amounts); the
//! replica keeps its counters consistent by shifting each sequence's join context instead.

use crate::perf::{BatchShape, PerfModel, StepCost};
use rand::RngExt;
use rand::rngs::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SpecMethod {
    /// A separate draft model on the same chips.
    Draft,
    /// Draft heads on the target (EAGLE, Medusa, MTP).
    Heads,
}

/// Counters of speculative decoding (summed over replicas for the run's summary).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SpecStats {
    /// (sequence, step) pairs that speculated.
    pub seq_steps: u64,
    /// Tokens those steps yielded as drawn (accepted + 1, before cutting at the output length).
    pub drawn_tokens: u64,
    pub accepted: u64,
    pub proposed: u64,
    /// Time spent drafting, ns.
    pub draft_ns: f64,
}

impl SpecStats {
    pub fn add(&mut self, o: &SpecStats) {
        self.seq_steps += o.seq_steps;
        self.drawn_tokens += o.drawn_tokens;
        self.accepted += o.accepted;
        self.proposed += o.proposed;
        self.draft_ns += o.draft_ns;
    }
}

#[derive(Debug)]
pub struct SpecDecoder {
    pub gamma: u32,
    /// Acceptance probability of each drafted position (γ entries).
    accept: Vec<f64>,
    draft: Option<Arc<PerfModel>>,
    /// Heads: the share of one target layer a drafted token costs.
    heads_layer_fraction: f64,
    target_layers: f64,
    rng: ChaCha8Rng,
    pub stats: SpecStats,
}

impl SpecDecoder {
    /// `acceptance`: one α for every position, or γ per-position values; acceptance draws come
    /// from `rng` (the replica's `rng::Stream::Speculative` stream).
    pub fn new(
        gamma: u32,
        acceptance: &[f64],
        draft: Option<Arc<PerfModel>>,
        heads_layer_fraction: f64,
        target_layers: u32,
        rng: ChaCha8Rng,
    ) -> SpecDecoder {
        let accept = (0..gamma as usize)
            .map(|i| acceptance.get(i).or(acceptance.last()).copied().unwrap_or(0.0))
            .collect();
        SpecDecoder {
            gamma,
            accept,
            draft,
            heads_layer_fraction,
            target_layers: target_layers.max(1) as f64,
            rng,
            stats: SpecStats::default(),
        }
    }

    /// Expected tokens per sequence and step: Σ_{i=0..γ} Π_{j<i} α_j.
    pub fn mean_tokens_per_step(&self) -> f64 {
        let mut p = 1.0;
        let mut sum = 1.0;
        for &a in &self.accept {
            p *= a;
            sum += p;
        }
        sum
    }

    /// Draws the drafted tokens one sequence accepts in one step (0..=γ).
    pub fn draw_accepted(&mut self) -> u32 {
        let mut a = 0;
        for i in 0..self.accept.len() {
            let u: f64 = self.rng.random();
            if u >= self.accept[i] {
                break;
            }
            a += 1;
        }
        self.stats.seq_steps += 1;
        self.stats.accepted += a as u64;
        self.stats.drawn_tokens += a as u64 + 1;
        self.stats.proposed += self.gamma as u64;
        a
    }

    /// The cost of a step whose decode sequences speculate: γ draft steps over the batch, then
    /// the target's verification of γ + 1 tokens per sequence ([`PerfModel::verify_step`]: the
    /// KV is read once, the GEMMs see B·(γ+1) tokens, and a stack with compiled shapes pads the
    /// verification graph like any other). Prefill chunks in the same step run alongside.
    pub fn step_cost(&mut self, target: &PerfModel, shape: &BatchShape) -> StepCost {
        if shape.decode_seqs == 0 {
            return target.step(shape);
        }
        let mut cost = target.verify_step(shape, self.gamma as u64 + 1);
        let decode = BatchShape {
            decode_seqs: shape.decode_seqs,
            decode_ctx_tokens: shape.decode_ctx_tokens,
            decode_max_ctx: shape.decode_max_ctx,
            ..BatchShape::default()
        };
        let one = match &self.draft {
            Some(d) => d.step(&decode),
            None => {
                let mut t = target.step(&decode);
                let f = self.heads_layer_fraction / self.target_layers;
                t.compute_ns *= f;
                t.memory_ns *= f;
                t.comm_ns *= f;
                t.overhead_ns *= f;
                t.ideal_compute_ns *= f;
                t.ideal_memory_ns *= f;
                t.total_ns = (t.total_ns as f64 * f).round() as u64;
                t
            }
        };
        let g = self.gamma as f64;
        cost.compute_ns += g * one.compute_ns;
        cost.memory_ns += g * one.memory_ns;
        cost.comm_ns += g * one.comm_ns;
        cost.overhead_ns += g * one.overhead_ns;
        cost.ideal_compute_ns += g * one.ideal_compute_ns;
        cost.ideal_memory_ns += g * one.ideal_memory_ns;
        let draft_ns = g * one.total_ns as f64;
        self.stats.draft_ns += draft_ns;
        cost.total_ns = cost.total_ns.saturating_add(draft_ns.round() as u64);
        cost
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn truncated_geometric_mean_matches_closed_form() {
        let mut s = SpecDecoder::new(4, &[0.7], None, 0.5, 32, ChaCha8Rng::seed_from_u64(7));
        let closed = (1.0 - 0.7f64.powi(5)) / (1.0 - 0.7);
        assert!((s.mean_tokens_per_step() - closed).abs() < 1e-12);
        let n = 200_000;
        let tokens: u64 = (0..n).map(|_| s.draw_accepted() as u64 + 1).sum();
        let mean = tokens as f64 / n as f64;
        assert!((mean / closed - 1.0).abs() < 0.01, "{mean} vs {closed}");
    }

    #[test]
    fn per_position_table() {
        let s = SpecDecoder::new(3, &[0.9, 0.5, 0.0], None, 0.5, 32, ChaCha8Rng::seed_from_u64(7));
        assert!((s.mean_tokens_per_step() - (1.0 + 0.9 + 0.45)).abs() < 1e-12);
    }
}
