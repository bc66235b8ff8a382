//! `[serving]`: the scheduler's batch limits, KV blocks and memory reserve.

use super::at_least_one;
use crate::error::{Error, Result};
use crate::scenario::ServingSection;
use crate::scenario::limits::MAX_BLOCK_TOKENS;
use crate::serve::SchedulerConfig;
use std::path::Path;

pub(super) fn resolve(s: &ServingSection, path: &Path) -> Result<SchedulerConfig> {
    at_least_one(path, "serving.max_batch", s.max_batch as u64)?;
    at_least_one(path, "serving.max_batched_tokens", s.max_batched_tokens as u64)?;
    at_least_one(path, "serving.block_tokens", s.block_tokens as u64)?;
    if s.block_tokens > MAX_BLOCK_TOKENS {
        return Err(Error::input(
            path,
            "serving.block_tokens",
            format!(
                "{} tokens per KV block is more than the {MAX_BLOCK_TOKENS} accepted (vLLM uses 16, TensorRT-LLM 32 to 128)",
                s.block_tokens
            ),
        ));
    }
    if !(0.0..0.95).contains(&s.kv_reserve_fraction) || s.kv_reserve_fraction.is_nan() {
        return Err(Error::input(
            path,
            "serving.kv_reserve_fraction",
            format!("must be in [0, 0.95), got {}", s.kv_reserve_fraction),
        ));
    }
    Ok(SchedulerConfig {
        kind: s.scheduler,
        max_batch: s.max_batch,
        max_batched_tokens: s.max_batched_tokens,
        block_tokens: s.block_tokens,
        preemption: s.preemption,
        max_queue: s.max_queue,
        kv_admission: s.kv_admission,
    })
}
