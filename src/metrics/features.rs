//! What the serving features of a run did (prefix cache, KV offload tiers, images and their
//! encoder, LoRA, speculative decoding, MoE), each a section of the summary present only when the feature is on.

use serde::{Deserialize, Serialize};

/// The prompt (prefix) cache, summed over replicas (`serving.prefix_cache`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct PrefixCacheResult {
    /// Prompt blocks looked up at admission, and those found in a cached prefix.
    pub lookups_blocks: u64,
    pub hit_blocks: u64,
    /// hit_blocks / lookups_blocks (every tier).
    pub hit_rate: f64,
    /// Share of the lookups served from the host tier (swapped in over the host link).
    pub hit_rate_host: f64,
    /// Share served from the cluster's remote tier, fetched over EFA.
    pub hit_rate_remote: f64,
    /// Prompt tokens whose prefill compute the hits skipped.
    pub saved_prefill_tokens: u64,
    pub evicted_blocks: u64,
    /// Time host-tier swap-ins blocked steps, seconds.
    pub host_swap_s: f64,
    /// Time remote-tier fetches over EFA blocked steps, seconds.
    #[serde(default)]
    pub remote_fetch_s: f64,
}

/// KV offload tiers, per tier summed over replicas (`serving.kv_offload`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KvOffloadResult {
    /// What went down the chain: `prompt` or `all`.
    pub blocks: String,
    /// Top first.
    pub tiers: Vec<KvTierResult>,
}

/// One KV offload tier over the run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KvTierResult {
    pub name: String,
    /// One store for every replica of the pool.
    pub shared: bool,
    /// Per replica (in total when shared), GiB; absent: unbounded.
    pub capacity_gib: Option<f64>,
    /// Prompt blocks read back from this tier at admission, and their share of the blocks looked up.
    pub hit_blocks: u64,
    pub hit_rate: f64,
    /// Bytes read back (GB) and the time the requests waited for them (s, summed).
    pub reload_gb: f64,
    pub reload_s: f64,
    /// Blocks written here (evicted from HBM or demoted from above), and their GB.
    pub written_blocks: u64,
    pub written_gb: f64,
    /// Blocks demoted out of this tier (to the next, or dropped from the last).
    pub demoted_blocks: u64,
    /// Preempted sequences parked here, their GB, and the time parks and resumes blocked steps.
    pub parked_seqs: u64,
    pub parked_gb: f64,
    pub park_s: f64,
    pub resume_s: f64,
    /// The most it held (one replica's, or the shared store's), GiB.
    pub max_used_gib: f64,
}

/// Images and their encoder, summed over replicas (`workload.multimodal`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct MultimodalResult {
    pub images_per_request: u32,
    /// Image size after resizing, pixels.
    pub image_px: [u32; 2],
    pub patches_per_image: u64,
    pub tokens_per_image: u64,
    pub encoder_params: f64,
    /// Images encoded (again after a preemption by recompute), their patches and prompt tokens.
    pub images_encoded: u64,
    pub patches_encoded: u64,
    pub image_tokens: u64,
    /// Steps that ran the encoder, and the time it added to them, seconds (inside the prefill
    /// part of the latency attribution; with an encode pool, the pool's encoder steps and
    /// their time, inside the `encode` part).
    pub encoder_steps: u64,
    pub encoder_s: f64,
    /// KV blocks per replica given up to the encoder's weights.
    pub kv_blocks_for_encoder: u64,
    /// Audio clips instead of images (`workload.multimodal.audio_s`): their shortest and
    /// longest length, seconds (`image_tokens` then counts the clips' drawn tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio_s: Option<[f64; 2]>,
    /// Requests whose media was still in the encoder cache and skipped the encoder
    /// (`workload.multimodal.repeat_share`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoder_cache_hits: Option<u64>,
    /// The disaggregated encode pool (`workload.multimodal.encoder = "pool"`), if on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encode_pool: Option<EncodePoolResult>,
}

/// What the encode pool did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct EncodePoolResult {
    pub encoders: u32,
    pub tp: u32,
    pub instances: u32,
    /// Requests and images encoded there.
    pub requests: u64,
    pub images: u64,
    /// Mean per request: the wait for an encoder, the encoder's time and the embeddings'
    /// transfer to the LLM replica, ms.
    pub mean_wait_ms: f64,
    pub mean_encode_ms: f64,
    pub mean_transfer_ms: f64,
    /// Busy encoder-time over available encoder-time until the last request left the pool.
    pub utilisation: f64,
    /// Embedding bytes sent to the LLM replicas.
    pub embedding_bytes: f64,
}

/// LoRA adapters, summed over replicas (`serving.lora`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct LoraResult {
    pub adapters: u32,
    pub slots_per_replica: u32,
    /// Bytes of one adapter.
    pub adapter_bytes: f64,
    /// Admissions whose adapter was resident, and hits / (hits + loads).
    pub hits: u64,
    pub hit_rate: f64,
    /// Adapters loaded into a device slot, those read from storage first, and slots evicted.
    pub loads: u64,
    pub storage_reads: u64,
    pub evictions: u64,
    /// Time adapter loads blocked steps, seconds.
    pub load_s: f64,
    /// Tokens that ran through an adapter (prompt and decode).
    pub adapter_tokens: u64,
    /// KV blocks per replica given up to the adapter slots.
    pub kv_blocks_for_adapters: u64,
}

/// Speculative decoding, summed over replicas (`serving.speculative`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct SpeculativeResult {
    pub gamma: u32,
    /// Tokens per sequence per decode step, as drawn (accepted + 1).
    pub tokens_per_step: f64,
    /// Its expectation: (1 − α^(γ+1)) / (1 − α) for one α.
    pub expected_tokens_per_step: f64,
    /// Accepted / proposed drafted tokens.
    pub acceptance_rate: f64,
    /// Time spent drafting, seconds.
    pub draft_s: f64,
}

/// Mixture-of-experts placement (`deployment.ep`, routing skew).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct MoeResult {
    pub ep: u32,
    /// Load of the most loaded expert group over the mean (1 = balanced): it sets the pace.
    pub imbalance: f64,
}
