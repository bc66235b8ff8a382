//! The fixed costs of a step: what an execution pays besides its FLOPs, bytes and collectives.
//! At batch 1 they are a large share of a step (a short prompt's prefill, a small model's
//! decode); at large batches they vanish behind the work.
//!
//! - **Launches.** An eager execution has the host issue every kernel (`kernels_per_layer` per
//!   layer, `eager_launch_us` each) while the device runs the ones already issued, so the issue
//!   hides behind device time and only what exceeds it shows (a launch-bound step), never less
//!   than the first launch: `max(kernels · t_launch − busy, t_launch)`. A captured graph is one
//!   launch, `graph_launch_us`, before the device starts. `graphs` says which executions are
//!   captured: none; decode steps up to `graph_max_batch` (CUDA graphs in vLLM and
//!   TensorRT-LLM; prompts run eagerly), padded to the next captured batch size (1, 2, 4, then
//!   multiples of 8: vLLM's default capture list, and TensorRT-LLM's with padding up to 128),
//!   the padded rows going through the GEMMs and all-reduces; or every execution (Neuron
//!   compiles context encoding and token generation alike).
//! - **Sampling.** `sampling_us` per execution for the sampler's kernels, which run outside the
//!   graph. The LM head runs only on the rows that are sampled (the last token of each prompt
//!   chunk, every decode row, every position a speculative verification scores), and their fp32
//!   logits (vocab × 4 bytes a row) are written by the head and read by the sampler: memory
//!   time in the roofline of `step.rs` ([`LOGIT_BYTES`]).
//! - **Host ↔ device.** `host_sync_us` per execution: the step's inputs copied to the device,
//!   the sampled tokens copied back and the synchronisation between (PCIe round trips), plus
//!   their bytes over the instance's `host_link_gb_s`: [`INPUT_BYTES_PER_TOKEN`] per new token
//!   in, [`OUTPUT_BYTES_PER_ROW`] per sampled row out. A CPU device has no host link.
//! - `step_overhead_us` and `layer_overhead_us` stay: what a stack spends per execution and per
//!   layer beyond the named parts (scheduling, engine synchronisation, gaps between kernels).
//!
//! Every part is overhead time in a step's breakdown except the logits' bytes (memory).

use super::BatchShape;
use crate::hw::{ChipKind, GraphMode, Hardware};

/// Bytes copied to the device per new token: its id (int32), position (int64) and KV-cache slot
/// (int64), as vLLM's `input_ids`, `positions` and `slot_mapping` (vllm-project/vllm
/// `vllm/v1/worker/gpu_model_runner.py`).
pub const INPUT_BYTES_PER_TOKEN: f64 = 20.0;
/// Bytes copied back per sampled row: its token id (int64).
pub const OUTPUT_BYTES_PER_ROW: f64 = 8.0;
/// HBM bytes per logit of a sampled row: written in fp32 by the LM head, read by the sampler.
pub const LOGIT_BYTES: f64 = 8.0;

/// The fixed costs of one deployment's executions, in ns.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FixedCosts {
    /// `step_overhead_us` + `layer_overhead_us` × layers.
    pub step_ns: f64,
    pub graphs: GraphMode,
    pub graph_max_batch: u32,
    pub graph_launch_ns: f64,
    /// One kernel's issue, and all of an eager execution's (kernels per layer × layers).
    pub eager_launch_ns: f64,
    pub eager_issue_ns: f64,
    pub sampling_ns: f64,
    pub host_sync_ns: f64,
    /// The host link, bytes per ns (GB/s); 0 when the device is the host (a CPU).
    pub host_bytes_per_ns: f64,
    /// HBM bytes of one sampled row's logits.
    pub logit_bytes_per_row: f64,
}

impl FixedCosts {
    /// The fixed costs of `layers` layers of a model with `vocab` tokens on `hw`. Errors name
    /// a negative or non-finite key.
    /// The chip's fixed-cost keys are range-checked when its profile loads and after the
    /// scenario's overrides (`hw::check_ranges`).
    pub fn new(hw: &Hardware, layers: f64, vocab: f64) -> FixedCosts {
        let e = &hw.chip.efficiency;
        let host = hw.instance.host_link_gb_s;
        FixedCosts {
            step_ns: (e.step_overhead_us + e.layer_overhead_us * layers) * 1e3,
            graphs: e.graphs,
            graph_max_batch: e.graph_max_batch,
            graph_launch_ns: e.graph_launch_us * 1e3,
            eager_launch_ns: e.eager_launch_us * 1e3,
            eager_issue_ns: e.kernels_per_layer * layers * e.eager_launch_us * 1e3,
            sampling_ns: e.sampling_us * 1e3,
            host_sync_ns: e.host_sync_us * 1e3,
            host_bytes_per_ns: if hw.chip.kind != ChipKind::Cpu && host.is_finite() && host > 0.0 {
                host
            } else {
                0.0
            },
            logit_bytes_per_row: vocab * LOGIT_BYTES,
        }
    }

    /// Whether the execution of `b` replays one captured graph.
    pub fn captured(&self, b: &BatchShape) -> bool {
        match self.graphs {
            GraphMode::None => false,
            GraphMode::All => true,
            GraphMode::Decode => {
                // A verification in prefill form scores every position: a uniform decode batch.
                let verification =
                    b.extra_logit_rows > 0 && b.prefill_tokens == b.prefill_seqs as u64 + b.extra_logit_rows;
                let rows = b.decode_seqs + if verification { b.prefill_seqs } else { 0 };
                (b.prefill_seqs == 0 || verification) && (self.graph_max_batch == 0 || rows <= self.graph_max_batch)
            }
        }
    }

    /// The decode rows an execution computes: a captured decode batch is padded to the next
    /// captured size.
    pub fn graph_rows(&self, b: &BatchShape, captured: bool) -> u32 {
        if captured && self.graphs == GraphMode::Decode && b.prefill_seqs == 0 {
            captured_batch(b.decode_seqs)
        } else {
            b.decode_seqs
        }
    }

    /// The overhead of one execution of `tokens` new tokens and `rows` sampled rows whose
    /// compute, memory and communication take `busy_ns`.
    pub fn overhead_ns(&self, tokens: f64, rows: f64, busy_ns: f64, captured: bool) -> f64 {
        let launch = if captured {
            self.graph_launch_ns
        } else {
            (self.eager_issue_ns - busy_ns).max(self.eager_launch_ns)
        };
        let bytes = tokens * INPUT_BYTES_PER_TOKEN + rows * OUTPUT_BYTES_PER_ROW;
        let copies = if self.host_bytes_per_ns > 0.0 {
            bytes / self.host_bytes_per_ns
        } else {
            0.0
        };
        self.step_ns + launch + self.sampling_ns + self.host_sync_ns + copies
    }
}

/// The captured batch size a decode batch of `rows` is padded to: 1, 2, 4, then the next
/// multiple of 8.
pub fn captured_batch(rows: u32) -> u32 {
    match rows {
        0..=2 => rows,
        3 | 4 => 4,
        r => r.div_ceil(8) * 8,
    }
}

#[cfg(test)]
mod tests;
