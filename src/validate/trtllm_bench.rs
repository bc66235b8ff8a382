//! What `trtllm-bench throughput` configures when a published TensorRT-LLM case ran it at max
//! load: it sizes max_batch_size and max_num_tokens from the KV cache's capacity for the
//! dataset's lengths instead of the engine's API defaults (2048 / 8192).
//!
//! Source: NVIDIA/TensorRT-LLM@04cba882084a:tensorrt_llm/bench/build/tuning.py
//! (`calc_engine_setting`, `finetune_setting`) and @0171265edef1:
//! tensorrt_llm/bench/benchmark/utils/general.py (`get_settings`), as summarised with worked
//! values in engines/README.md ("trtllm-bench").

use crate::hw::Hardware;
use crate::model::ModelSpec;

/// `kv_cache_free_gpu_mem_fraction`'s default in trtllm-bench.
const KV_FRACTION: f64 = 0.90;
/// Most requests trtllm-bench sizes a batch for.
const MAX_REQUESTS: f64 = 4096.0;
/// Most tokens per step it sizes for.
const MAX_TOKENS: f64 = 32768.0;

fn round_up(x: f64, to: f64) -> u32 {
    ((x / to).ceil() * to) as u32
}

/// `(max_batch_size, max_num_tokens)` for a case of `isl`/`osl` tokens at TP `tp` on `hw`, with
/// `weight_bytes` and `kv_bytes` per element.
pub fn settings(
    hw: &Hardware,
    model: &ModelSpec,
    tp: u32,
    weight_bytes: f64,
    kv_bytes: f64,
    isl: u32,
    osl: u32,
) -> (u32, u32) {
    let per_token = 2.0 * model.layers as f64 * tp.max(model.kv_heads) as f64 * model.head_dim as f64 * kv_bytes;
    let memory = hw.chip.hbm_bytes() * tp as f64;
    let weights = model.params_total() * weight_bytes;
    let requests = ((memory - weights).max(0.0) * KV_FRACTION / (per_token * (isl + osl) as f64)).floor();
    let batch = requests.min(MAX_REQUESTS);
    let tokens = (batch * (1.0 + isl as f64 / osl.max(1) as f64)).min(MAX_TOKENS);
    let max_batch = if batch < 256.0 {
        round_up(batch, 32.0).max(64)
    } else if batch < 1024.0 {
        round_up(batch, 128.0)
    } else {
        round_up(batch, 256.0)
    };
    let mut max_tokens = if tokens < 4096.0 {
        round_up(tokens, 256.0).max(2048)
    } else if tokens < 8192.0 {
        round_up(tokens, 512.0)
    } else {
        round_up(tokens, 1024.0)
    };
    // Without chunked prefill (its default) a whole prompt and a decode token for every other
    // sequence must fit in one step.
    max_tokens = max_tokens.max(isl + max_batch);
    (max_batch, max_tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// engines/README.md's worked values for Llama-3.1-8B FP8 at TP 1 on an 80 GiB H100.
    #[test]
    fn reproduces_the_worked_values_for_llama_3_1_8b_fp8_on_h100() {
        let hw = crate::hw::Catalog::builtin().unwrap().hardware("p5.48xlarge").unwrap();
        let m = crate::model::resolve_builtin(
            "llama-3.1-8b",
            std::path::Path::new("."),
            std::path::Path::new("t"),
            "model",
        )
        .unwrap();
        let s = |i, o| settings(&hw, &m, 1, 1.0, 1.0, i, o);
        // 65,536 B of FP8 KV per token (2 x 32 layers x 8 heads x 128); (85.9e9 - 8.03e9 B) x 0.9
        // / (65,536 x 256) = 4,178 requests, capped at 4,096; 4,096 x 2 = 8,192 tokens.
        assert_eq!(s(128, 128), (4096, 8192));
        // 534 requests -> 640 (by 128); 1,068 tokens -> 2,048 (the floor).
        assert_eq!(s(1000, 1000), (640, 2048));
        assert_eq!(s(20000, 2000), (64, 20064));
    }
}
