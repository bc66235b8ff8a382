//! Wiring of the scenario's features into the cluster: expert parallelism on the cost model,
//! prefix caches and speculative decoders on the replicas, prompts as block hashes, and their
//! summaries.

use crate::error::Result;
use crate::hw::GIB;
use crate::metrics::{MoeResult, PrefixCacheResult, SpeculativeResult};
use crate::perf::{Parallelism, PerfModel};
use crate::scenario::{Pool, Scenario};
use crate::serve::ReplicaId;
use crate::serve::prefix_cache::{PrefixCache, PrefixCacheStats, SyntheticPrefix};
use crate::serve::replica::{Replica, ReplicaSpec};
use crate::serve::spec::{SpecDecoder, SpecStats};
use crate::workload::NewRequest;
use rand::rngs::ChaCha8Rng;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

/// Block hashes of requests not yet routed, by (prefix key, prompt tokens), in arrival order.
pub type PendingPrompts = HashMap<(Option<u64>, u32), VecDeque<Arc<[u64]>>>;

/// What every replica of a pool shares.
pub struct PoolFeatures {
    draft: Option<Arc<PerfModel>>,
    /// Share of the target's KV cache left once the draft model's weights and KV are in HBM.
    kv_share: f64,
    /// Host-tier blocks per replica.
    host_tier_blocks: u64,
    cache_block_tokens: u32,
    /// KV bytes of one cached block (all ranks of a replica).
    bytes_per_block: f64,
    /// The replica's share of its instances' EFA, bytes per ns, and its latency.
    efa_bytes_per_ns: f64,
    efa_latency_ns: f64,
    /// LoRA adapter slots (`serving.lora`).
    lora: Option<super::lora::PoolLora>,
    /// KV offload tiers (`serving.kv_offload`).
    offload: Option<super::kv_offload::PoolOffload>,
    /// Vision encoder (`workload.multimodal`).
    encoder: Option<super::multimodal::PoolEncoder>,
}

/// The cluster-wide remote tier: an LRU of blocks, fed with every routed prompt.
pub struct RemoteTier(PrefixCache);

impl RemoteTier {
    pub fn new(sc: &Scenario, pool: &Pool, perf: &PerfModel) -> Option<RemoteTier> {
        let gib = sc.features.remote_tier_gib;
        sc.features.prefix_cache?;
        if gib <= 0.0 {
            return None;
        }
        let bt = cache_block_tokens(sc);
        let per_block = perf.memory.kv_bytes_per_token_per_rank * pool.ranks_per_replica() as f64 * bt as f64;
        let mut c = PrefixCache::new(bt, 0);
        c.set_capacity((gib * GIB / per_block.max(1.0)).floor() as u64);
        Some(RemoteTier(c))
    }

    /// Leading blocks of `blocks` the tier holds now; then stores (or refreshes) all of them.
    pub fn route(&mut self, blocks: &[u64]) -> u32 {
        let hit = self.0.peek(blocks).blocks();
        self.0.admit(blocks);
        self.0.release(blocks);
        hit
    }
}

/// Tokens per hashed prompt block: the trace's (Mooncake: 512), the synthetic model's or, for
/// sessions, the engine's block.
pub fn cache_block_tokens(sc: &Scenario) -> u32 {
    if sc.sessions.is_some() {
        // Sessions hash their prompts in the engine's own blocks.
        return sc.scheduler.block_tokens;
    }
    if let Some(s) = &sc.features.synthetic_prefix {
        return s.block_tokens.unwrap_or(sc.scheduler.block_tokens);
    }
    sc.trace.as_ref().and_then(|t| t.block_tokens).unwrap_or(512)
}

/// What the replicas of a pool share: the draft model and the KV share it leaves, the prefix
/// cache's tiers.
pub fn setup_pool(sc: &Scenario, pool: &Pool, perf: &PerfModel, notes: &mut Vec<String>) -> Result<PoolFeatures> {
    let f = &sc.features;
    let mut kv_share = 1.0;
    let draft = match f.speculative.as_ref().and_then(|s| s.draft.as_ref()) {
        Some(d) => {
            let draft = PerfModel::new(
                &pool.hardware,
                d,
                Parallelism { tp: pool.tp },
                sc.precision,
                sc.kv_reserve_fraction,
                &sc.file.display().to_string(),
            )?;
            let m = &perf.memory;
            let left = (m.kv_bytes_per_rank - draft.memory.weight_bytes_per_rank).max(0.0);
            let per_token = m.kv_bytes_per_token_per_rank;
            kv_share = left / m.kv_bytes_per_rank.max(1.0) * per_token
                / (per_token + draft.memory.kv_bytes_per_token_per_rank);
            notes.push(format!(
                "speculative decoding: draft model {} takes {:.2} GB of weights per rank; the KV cache keeps {:.0} % of its blocks",
                d.name,
                draft.memory.weight_bytes_per_rank / 1e9,
                kv_share * 100.0
            ));
            Some(Arc::new(draft))
        }
        None => None,
    };
    let cache_block_tokens = cache_block_tokens(sc);
    let bytes_per_block =
        perf.memory.kv_bytes_per_token_per_rank * pool.ranks_per_replica() as f64 * cache_block_tokens as f64;
    let host_tier_blocks = match f.prefix_cache {
        Some(gib) if gib > 0.0 && bytes_per_block > 0.0 => (gib * GIB / bytes_per_block).floor() as u64,
        _ => 0,
    };
    let hw = &pool.hardware;
    let share = pool.ranks_per_replica() as f64 / hw.ranks_per_instance().max(1) as f64;
    Ok(PoolFeatures {
        draft,
        kv_share,
        host_tier_blocks,
        cache_block_tokens,
        bytes_per_block,
        efa_bytes_per_ns: hw.instance.efa_gbps / 8.0 * share,
        efa_latency_ns: hw.instance.efa_latency_us * 1e3,
        lora: super::lora::PoolLora::new(sc, pool, perf, notes),
        offload: super::kv_offload::PoolOffload::new(sc, pool, bytes_per_block, notes),
        encoder: super::multimodal::PoolEncoder::new(sc, pool, perf, notes),
    })
}

/// Gives a replica its prefix cache and speculative decoder.
pub fn setup_replica(sc: &Scenario, pf: &PoolFeatures, id: ReplicaId, r: &mut ReplicaSpec) {
    let f = &sc.features;
    if let Some(l) = &pf.lora {
        l.setup_replica(r);
    }
    if let Some(e) = &pf.encoder {
        e.setup_replica(r);
    }
    if f.prefix_cache.is_some() {
        let mut c = PrefixCache::new(pf.cache_block_tokens, pf.host_tier_blocks);
        c.remote_bytes_per_block = pf.bytes_per_block;
        c.remote_bytes_per_ns = pf.efa_bytes_per_ns;
        c.remote_latency_ns = pf.efa_latency_ns;
        r.prefix = Some(c);
    }
    if let Some(o) = &pf.offload {
        o.setup_replica(r);
    }
    if let Some(s) = &f.speculative {
        if pf.kv_share < 1.0 {
            r.total_blocks = (r.total_blocks as f64 * pf.kv_share).floor() as u64;
        }
        r.spec = Some(SpecDecoder::new(
            s.gamma,
            &s.acceptance,
            pf.draft.clone(),
            s.heads_layer_fraction,
            sc.model.layers,
            crate::rng::Stream::Speculative(id.0).rng(sc.seed),
        ));
    }
}

/// Prompts as block hashes, for the prefix cache: a trace row's `hash_ids`, or the synthetic
/// model's (its own random stream).
pub struct PromptSource {
    synthetic: Option<SyntheticPrefix>,
    rng: ChaCha8Rng,
    on: bool,
}

impl PromptSource {
    pub fn new(sc: &Scenario) -> PromptSource {
        let bt = cache_block_tokens(sc);
        PromptSource {
            synthetic: sc
                .features
                .synthetic_prefix
                .as_ref()
                .map(|s| SyntheticPrefix::new(bt, s.groups, s.system_tokens, s.zipf, s.sessions)),
            rng: crate::rng::Stream::Prompts.rng(sc.seed),
            on: sc.features.prefix_cache.is_some(),
        }
    }

    /// The block hashes of a new request's prompt (None when no cache or no hashes).
    pub fn blocks(&mut self, sc: &Scenario, nr: &NewRequest) -> Option<Arc<[u64]>> {
        if !self.on {
            return None;
        }
        if let Some(s) = self.synthetic.as_mut() {
            return Some(s.prompt(&mut self.rng, nr.input_tokens).into());
        }
        let t = sc.trace.as_ref()?;
        let row = t.requests.get(nr.trace_row? as usize)?;
        if row.hash_ids.is_empty() {
            return None;
        }
        Some(row.hash_ids.as_slice().into())
    }
}

pub fn prefix_cache_result(replicas: &[Replica]) -> Option<PrefixCacheResult> {
    let mut s = PrefixCacheStats::default();
    let mut any = false;
    for r in replicas {
        if let Some(c) = &r.prefix {
            s.add(&c.stats);
            any = true;
        }
    }
    any.then(|| {
        let rate = |x: u64| {
            if s.lookups_blocks > 0 {
                x as f64 / s.lookups_blocks as f64
            } else {
                0.0
            }
        };
        PrefixCacheResult {
            lookups_blocks: s.lookups_blocks,
            hit_blocks: s.hit_blocks,
            hit_rate: rate(s.hit_blocks),
            hit_rate_host: rate(s.hit_blocks_host),
            hit_rate_remote: rate(s.hit_blocks_remote),
            saved_prefill_tokens: s.saved_prefill_tokens,
            evicted_blocks: s.evicted_blocks,
            host_swap_s: s.host_swap_ns * 1e-9,
            remote_fetch_s: s.remote_ns * 1e-9,
        }
    })
}

pub fn speculative_result(replicas: &[Replica]) -> Option<SpeculativeResult> {
    let mut s = SpecStats::default();
    let mut first = None;
    for r in replicas {
        if let Some(d) = &r.spec {
            s.add(&d.stats);
            first.get_or_insert(d);
        }
    }
    let d = first?;
    Some(SpeculativeResult {
        gamma: d.gamma,
        tokens_per_step: if s.seq_steps > 0 {
            s.drawn_tokens as f64 / s.seq_steps as f64
        } else {
            0.0
        },
        expected_tokens_per_step: d.mean_tokens_per_step(),
        acceptance_rate: if s.proposed > 0 {
            s.accepted as f64 / s.proposed as f64
        } else {
            0.0
        },
        draft_s: s.draft_ns * 1e-9,
    })
}

pub fn moe_result(replicas: &[Replica]) -> Option<MoeResult> {
    let m = replicas.first()?.perf.expert_parallel()?;
    Some(MoeResult {
        ep: m.ep,
        imbalance: m.imbalance,
    })
}
