//! Pipeline parallel: a replica's layers split into `pp` stages of `tp` ranks each.
//!
//! - Each stage holds ⌈layers / pp⌉ layers (the slowest stage sets the pace), so a stage's step
//!   is the step of the model cut to those layers ([`stage_model`]); its weights and KV cache per
//!   token shrink by the same factor. Simplification: every stage is costed with the embedding and
//!   LM head (they are a few percent of a large model's weights and FLOPs).
//! - At each of the pp − 1 stage boundaries a micro-batch's activations move to the next stage:
//!   `tokens × hidden × 2` bytes (bf16) over the chip-to-chip link when the replica's stages
//!   share an instance, over EFA when they span instances ([`StageLink`]).
//! - A replica keeps up to `pp` micro-batches in flight (one per virtual engine, vLLM's design);
//!   stages serve micro-batches first come, first served.
//!
//! Closed form (decode-only steady state, B sequences split into pp micro-batches of B/pp, each
//! stage taking `s` ns for a micro-batch, `x` ns per boundary transfer): every micro-batch passes
//! the pp stages one after another, and the stages never make one wait (a stage is busy pp·s per
//! round and a round lasts pp·s + (pp − 1)·x), so
//!   time per output token (TPOT) = pp·s + (pp − 1)·x,
//!   throughput = B / (pp·s + (pp − 1)·x) tokens per ns.
//! Against one stage holding the whole model (step S(B)): TPOT changes from S(B) to
//! pp·s(B/pp) + (pp − 1)·x, throughput by the inverse ratio.

use crate::hw::Hardware;
use crate::model::ModelSpec;

/// The model one stage runs: ⌈layers / pp⌉ layers, everything else unchanged.
pub fn stage_model(model: &ModelSpec, pp: u32) -> ModelSpec {
    let mut m = model.clone();
    m.layers = model.layers.div_ceil(pp.max(1)).max(1);
    m
}

/// The link between consecutive stages of one replica.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StageLink {
    pub latency_ns: f64,
    pub bytes_per_ns: f64,
    /// Activation bytes per token crossing a boundary.
    pub bytes_per_token: f64,
    /// Over EFA (stages on different instances).
    pub efa: bool,
}

impl StageLink {
    /// Stages of `tp` ranks each; a replica of tp·pp ranks that fits one instance talks over the
    /// chip link, one that spans instances over EFA (every boundary is costed as the slower EFA
    /// hop, which is exact when each stage fills whole instances).
    pub fn new(hw: &Hardware, model: &ModelSpec, tp: u32, pp: u32) -> StageLink {
        let ranks = hw.ranks_per_instance().max(1);
        let bytes_per_token = model.hidden as f64 * 2.0;
        if tp * pp <= ranks {
            StageLink {
                latency_ns: hw.chip.link.latency_us * 1e3,
                bytes_per_ns: hw.chip.link.bandwidth_gb_s,
                bytes_per_token,
                efa: false,
            }
        } else {
            // A stage's share of its instances' EFA (Gbit/s → bytes/ns): tp / ranks of one
            // instance's, or whole instances' when the stage spans several.
            let share = tp as f64 / ranks as f64;
            StageLink {
                latency_ns: hw.instance.efa_latency_us * 1e3,
                bytes_per_ns: hw.instance.efa_gbps / 8.0 * share,
                bytes_per_token,
                efa: true,
            }
        }
    }

    /// Time to move `tokens` tokens' activations across one stage boundary.
    pub fn transfer_ns(&self, tokens: u64) -> f64 {
        if self.bytes_per_ns <= 0.0 {
            return f64::INFINITY;
        }
        self.latency_ns + tokens as f64 * self.bytes_per_token / self.bytes_per_ns
    }
}

/// The closed-form decode steady state above: (TPOT ns, output tokens per second).
pub fn decode_steady_state(batch: u32, pp: u32, stage_ns: f64, transfer_ns: f64) -> (f64, f64) {
    let p = pp.max(1) as f64;
    let tpot = p * stage_ns + (p - 1.0) * transfer_ns;
    (tpot, batch as f64 / tpot * 1e9)
}
