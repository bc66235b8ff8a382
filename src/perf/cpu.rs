//! CPUs as inference devices (Graviton, Xeon): the whole instance is one device, one rank.
//!
//! The generic roofline of [`super::PerfModel`] applies unchanged — a GEMM takes
//! `max(FLOPs / (peak · ε_c(T)), bytes / (bandwidth · ε_m))` — with two CPU-specific inputs
//! computed here from the threads the process uses:
//!
//! - Compute: the chip's peak is for all of its cores; n threads reach
//!   `peak · S(n) / cores` with the thread-scaling curve `S(n) = n / (1 + (n − 1) / N½)`
//!   (`efficiency.thread_half_cores` = N½): each added thread pays a little for the barrier after
//!   every operation and for the shared L3 and mesh, so per-thread efficiency `S(n)/n` falls
//!   smoothly, to one half near N½ threads. Prefill, compute-bound, scales with it.
//! - Memory: n threads draw `min(n · core_bandwidth_gb_s, the instance's share of the socket's
//!   DRAM bandwidth)`. One core cannot keep enough misses in flight to fill the DRAM channels,
//!   but a dozen or so can: past that, more cores do not make decode (bandwidth-bound on the
//!   weights) any faster, more bandwidth does.
//!
//! Quantized weights: llama.cpp's Q4_0 and Q8_0 kernels quantize the activations to 8 bits and
//! compute the dot products in int8 (SDOT/SMMLA on Arm, VNNI on x86), so a block-format
//! deployment computes at the chip's int8 peak (the scenario's default `model.compute` for a block
//! format is int8) and reads 4.5 or 8.5 bits per weight (block scales included).
//!
//! Why batching buys little on a CPU: its ridge point is low. At the assumed efficiencies a
//! c8g.16xlarge computes about 5 int8 TOP/s on large batches but streams about 230 GB/s, i.e.
//! about 410 G Q4_0 weights per second at 2 ops per weight per token: past 6 or 7 tokens per step
//! the weight read no longer hides the compute and each further sequence adds its full FLOP time
//! (Llama-3-8B Q4_0, batch 1 to 8: 5.2x the throughput, against 7.8x on an H100; 1 to 32: 6.2x
//! against 28x). An H100 reaches its ridge near 250 tokens per step.

use crate::error::{Error, Result};
use crate::hw::Chip;

/// Cores' worth of compute n threads deliver: `n / (1 + (n − 1) / half)`; linear when `half`
/// is 0 (or not finite).
pub fn thread_scaling(threads: f64, half: f64) -> f64 {
    if !(half.is_finite() && half > 0.0) {
        return threads;
    }
    threads / (1.0 + (threads - 1.0).max(0.0) / half)
}

/// Threads the deployment runs on `chip`: `efficiency.threads`, default all cores.
pub fn threads(chip: &Chip) -> u32 {
    chip.efficiency.threads.unwrap_or(chip.physical_cores_per_chip)
}

/// The FLOP/s and bytes/s one CPU device reaches with its threads, from the chip's all-core
/// peak FLOP/s and its DRAM bandwidth (bytes/s).
pub fn rates(chip: &Chip, peak_flops: f64, dram_bw: f64, where_: &str, notes: &mut Vec<String>) -> Result<(f64, f64)> {
    let cores = chip.physical_cores_per_chip.max(1);
    let n = threads(chip);
    if n == 0 || n > cores {
        return Err(Error::input(
            where_,
            "hardware.chip.efficiency.threads",
            format!(
                "{} has {cores} cores; accepted: 1..={cores} threads, got {n}",
                chip.name
            ),
        ));
    }
    let eff = &chip.efficiency;
    let nf = n as f64;
    let flops = peak_flops * thread_scaling(nf, eff.thread_half_cores) / cores as f64;
    let per_core = eff.core_bandwidth_gb_s * 1e9;
    let bw = if per_core > 0.0 {
        (nf * per_core).min(dram_bw)
    } else {
        dram_bw
    };
    if n < cores {
        notes.push(format!(
            "{}: {n} of {cores} cores: {:.1} TFLOP/s and {:.0} GB/s reachable",
            chip.name,
            flops / 1e12,
            bw / 1e9
        ));
    }
    Ok((flops, bw))
}

#[cfg(test)]
mod tests;
