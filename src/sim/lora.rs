//! Wiring of `serving.lora` into a run: each request's adapter (drawn by its class's mix, on its
//! own random stream), the routing key adapter affinity uses, each replica's adapter slots and
//! the KV memory they take, and the run's adapter summary.

use super::Simulation;
use super::frontend::Held;
use crate::metrics::LoraResult;
use crate::perf::PerfModel;
use crate::scenario::{Pool, Scenario};
use crate::serve::lora::{AdapterMix, AdapterRegistry, LoraConfig};
use crate::serve::replica::{Replica, ReplicaSpec};
use crate::serve::router::RoutingPolicy;
use rand::RngExt;
use rand::rngs::ChaCha8Rng;

/// Per class: its mix and the cumulative popularity of its adapters.
pub struct AdapterDraw {
    classes: Vec<(AdapterMix, Vec<f64>)>,
    rng: ChaCha8Rng,
}

impl AdapterDraw {
    pub fn new(sc: &Scenario) -> Option<AdapterDraw> {
        let l = sc.features.lora.as_ref()?;
        let classes = l.mixes.iter().map(|m| (m.clone(), cdf(m.count, m.zipf))).collect();
        Some(AdapterDraw {
            classes,
            rng: crate::rng::Stream::Adapters.rng(sc.seed),
        })
    }

    /// A request of class `class`: its adapter, or None for the base model.
    pub fn draw(&mut self, class: usize) -> Option<u32> {
        let (m, cdf) = self.classes.get(class)?;
        if m.base_share > 0.0 {
            let u: f64 = self.rng.random();
            if u < m.base_share {
                return None;
            }
        }
        let u: f64 = self.rng.random();
        let k = cdf.partition_point(|&c| c < u).min(cdf.len() - 1);
        Some(m.first + k as u32)
    }
}

/// P(adapter ≤ k) for `n` adapters whose k-th (from 1) has weight k^−zipf.
fn cdf(n: u32, zipf: f64) -> Vec<f64> {
    let w: Vec<f64> = (1..=n).map(|k| (k as f64).powf(-zipf)).collect();
    let total: f64 = w.iter().sum();
    let mut acc = 0.0;
    w.iter()
        .map(|x| {
            acc += x / total;
            acc
        })
        .collect()
}

impl Simulation {
    /// A routed request's adapter, and the key its routing policy hashes: the adapter under
    /// adapter affinity, else the prompt prefix.
    pub(super) fn adapter_and_key(&mut self, h: &Held) -> (Option<u32>, Option<u64>) {
        let adapter = self.adapters.as_mut().and_then(|a| a.draw(h.class));
        let key = match self.router.policy() {
            RoutingPolicy::AdapterAffinity => adapter.map(|a| crate::hash::mix64(a as u64 ^ 0xADA9_7E00_0000_0000)),
            _ => h.prefix,
        };
        (adapter, key)
    }
}

/// What every replica of a pool shares: the load path and the KV blocks the slots take.
pub struct PoolLora {
    config: LoraConfig,
    tp: u32,
    host_bytes_per_ns: f64,
    storage_share: f64,
    slot_blocks: u64,
}

impl PoolLora {
    pub fn new(sc: &Scenario, pool: &Pool, perf: &PerfModel, notes: &mut Vec<String>) -> Option<PoolLora> {
        let config = sc.features.lora.clone()?;
        let hw = &pool.hardware;
        // Each rank holds 1/tp of every slot's adapter (sharded as the base weights are).
        let slot_bytes_per_rank = config.spec.slots as f64 * config.spec.adapter_bytes() / pool.tp.max(1) as f64;
        let block_bytes_per_rank = perf.memory.kv_bytes_per_token_per_rank * sc.scheduler.block_tokens.max(1) as f64;
        let slot_blocks = (slot_bytes_per_rank / block_bytes_per_rank.max(1e-9)).ceil() as u64;
        let note = format!(
            "LoRA: {} adapter slots take {:.2} GB per rank, {} KV blocks per replica",
            config.spec.slots,
            slot_bytes_per_rank / 1e9,
            slot_blocks
        );
        if !notes.contains(&note) {
            notes.push(note);
        }
        Some(PoolLora {
            tp: pool.tp,
            host_bytes_per_ns: hw.instance.host_link_gb_s * pool.chips_per_replica() as f64,
            storage_share: pool.ranks_per_replica() as f64 / hw.ranks_per_instance().max(1) as f64,
            slot_blocks,
            config,
        })
    }

    /// Gives a replica its adapter slots, their memory out of its KV blocks.
    pub fn setup_replica(&self, r: &mut ReplicaSpec) {
        r.total_blocks = r.total_blocks.saturating_sub(self.slot_blocks);
        let mut reg = AdapterRegistry::new(
            &self.config.spec,
            self.tp,
            self.host_bytes_per_ns,
            self.storage_share.min(1.0),
        );
        reg.kv_blocks = self.slot_blocks;
        r.lora = Some(reg);
    }
}

pub fn lora_result(sc: &Scenario, replicas: &[Replica]) -> Option<LoraResult> {
    let l = sc.features.lora.as_ref()?;
    let mut s = crate::serve::lora::LoraStats::default();
    for r in replicas {
        if let Some(reg) = &r.lora {
            s.add(&reg.stats);
        }
    }
    let admissions = s.hits + s.loads;
    Some(LoraResult {
        adapters: l.spec.adapters,
        slots_per_replica: l.spec.slots,
        adapter_bytes: l.spec.adapter_bytes(),
        hits: s.hits,
        hit_rate: if admissions > 0 {
            s.hits as f64 / admissions as f64
        } else {
            0.0
        },
        loads: s.loads,
        storage_reads: s.storage_reads,
        evictions: s.evictions,
        load_s: s.load_ns * 1e-9,
        adapter_tokens: s.adapter_tokens,
        kv_blocks_for_adapters: replicas.iter().find_map(|r| r.lora.as_ref()).map_or(0, |r| r.kv_blocks),
    })
}
