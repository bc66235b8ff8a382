//! Wiring of `serving.kv_offload` into a run: each tier's path and capacity for a replica of a
//! pool (the notes say every number), the shared tiers' one store per pool, and the summary.

use super::cluster::HOST_SWAP_FRACTION;
use crate::hw::GIB;
use crate::metrics::{KvOffloadResult, KvTierResult};
use crate::scenario::{Pool, Scenario};
use crate::serve::kv_tiers::{KvTiers, Tier, TierSpec, TierStats, TierStore};
use crate::serve::replica::{Replica, ReplicaSpec};
use std::sync::{Arc, Mutex};

/// What the replicas of a pool share: each tier's spec, and the shared tiers' stores.
pub struct PoolOffload {
    tiers: Vec<(TierSpec, Option<Arc<Mutex<TierStore>>>)>,
    blocks: crate::serve::kv_tiers::OffloadBlocks,
    block_bytes: f64,
}

/// One tier's path and capacity as a replica of `pool` sees it; `notes` says how.
fn tier_spec(choice: &crate::serve::kv_tiers::OffloadTierChoice, pool: &Pool, notes: &mut Vec<String>) -> TierSpec {
    let hw = &pool.hardware;
    // The replica's share of its instance (storage, NIC, host memory).
    let share = (pool.ranks_per_replica() as f64 / hw.ranks_per_instance().max(1) as f64).min(1.0);
    let (spec, how) = match &choice.storage {
        None => {
            let bw = hw.instance.host_link_gb_s * pool.chips_per_replica() as f64;
            let default = hw.instance.host_memory_gib * share * HOST_SWAP_FRACTION;
            let gib = choice.capacity_gib.unwrap_or(default);
            let spec = TierSpec {
                name: choice.name.clone(),
                read_bytes_per_ns: bw,
                write_bytes_per_ns: bw,
                latency_ns: 0.0,
                queue_depth: 1,
                capacity_bytes: gib * GIB,
                shared: false,
            };
            let cap = match choice.capacity_gib {
                Some(_) => "capacity_gib.cpu".to_string(),
                None => format!(
                    "default: {HOST_SWAP_FRACTION} of the replica's {share:.4} share of {} GiB host memory",
                    hw.instance.host_memory_gib
                ),
            };
            (
                spec,
                format!("host link {bw} GB/s read and write, no first-byte latency ({cap})"),
            )
        }
        Some(t) => {
            // A network store is reached through the instance's NIC: at most its EFA.
            let efa = hw.instance.efa_gbps / 8.0;
            let cap_bw = |gb_s: f64| if t.shared { gb_s.min(efa) } else { gb_s } * share;
            let depth = ((t.queue_depth as f64 * share).ceil() as u32).max(1);
            let (gib, cap) = match (choice.capacity_gib, t.capacity_gib) {
                (Some(g), _) => (g, format!("capacity_gib.{}", t.name)),
                (None, Some(c)) if t.shared => (
                    c * pool.instances() as f64,
                    format!("default: {c} GiB from each of {} instances", pool.instances()),
                ),
                (None, Some(c)) => (c * share, format!("default: the replica's {share:.4} share of {c} GiB")),
                (None, None) => (f64::INFINITY, "unbounded".to_string()),
            };
            let spec = TierSpec {
                name: choice.name.clone(),
                read_bytes_per_ns: cap_bw(t.read_gb_s),
                write_bytes_per_ns: cap_bw(t.write_gb_s),
                latency_ns: t.latency_us * 1e3,
                queue_depth: depth,
                capacity_bytes: gib * GIB,
                shared: t.shared,
            };
            let how = format!(
                "{} GB/s read, {} GB/s write (the replica's {share:.4} share{}), {} µs first byte, queue depth {depth}, {}{cap}",
                spec.read_bytes_per_ns,
                spec.write_bytes_per_ns,
                if t.shared {
                    format!(", at most {efa} GB/s of EFA")
                } else {
                    String::new()
                },
                t.latency_us,
                if t.shared {
                    "shared by the pool's replicas; "
                } else {
                    ""
                },
            );
            (spec, how)
        }
    };
    let cap = if spec.capacity_bytes.is_finite() {
        format!("{:.1} GiB", spec.capacity_bytes / GIB)
    } else {
        "unbounded".to_string()
    };
    let note = format!("KV offload tier {}: {cap}, {how}", spec.name);
    if !notes.contains(&note) {
        notes.push(note);
    }
    spec
}

impl PoolOffload {
    pub fn new(sc: &Scenario, pool: &Pool, block_bytes: f64, notes: &mut Vec<String>) -> Option<PoolOffload> {
        let cfg = sc.features.kv_offload.as_ref()?;
        let tiers = cfg
            .tiers
            .iter()
            .map(|c| {
                let spec = tier_spec(c, pool, notes);
                let store = spec
                    .shared
                    .then(|| Arc::new(Mutex::new(TierStore::new(spec.capacity_bytes, block_bytes))));
                (spec, store)
            })
            .collect();
        let note = format!(
            "KV offload: blocks = \"{}\"; eviction writes overlap compute, reloads and parks block the step",
            cfg.blocks.name()
        );
        if !notes.contains(&note) {
            notes.push(note);
        }
        Some(PoolOffload {
            tiers,
            blocks: cfg.blocks,
            block_bytes,
        })
    }

    /// Gives a replica its chain (a fresh store per local tier) and makes its prompt cache hand
    /// over what it evicts.
    pub fn setup_replica(&self, r: &mut ReplicaSpec) {
        let tiers = self
            .tiers
            .iter()
            .map(|(spec, store)| {
                let store = store
                    .clone()
                    .unwrap_or_else(|| Arc::new(Mutex::new(TierStore::new(spec.capacity_bytes, self.block_bytes))));
                Tier::new(spec.clone(), store)
            })
            .collect();
        r.tiers = Some(KvTiers::new(tiers, self.blocks, self.block_bytes));
        if let Some(c) = r.prefix.as_mut() {
            c.evicted = Some(Vec::new());
        }
    }
}

/// Per tier, summed over replicas (a shared tier's store counted once).
pub fn kv_offload_result(sc: &Scenario, replicas: &[Replica]) -> Option<KvOffloadResult> {
    let cfg = sc.features.kv_offload.as_ref()?;
    let lookups: u64 = replicas
        .iter()
        .filter_map(|r| r.prefix.as_ref())
        .map(|c| c.stats.lookups_blocks)
        .sum();
    let mut tiers = Vec::new();
    for (k, choice) in cfg.tiers.iter().enumerate() {
        let mut s = TierStats::default();
        let mut max_used: f64 = 0.0;
        let mut capacity = 0.0;
        let mut shared = false;
        for t in replicas
            .iter()
            .filter_map(|r| r.tiers.as_ref())
            .filter_map(|t| t.tiers.get(k))
        {
            s.add(&t.stats);
            let st = t.store.lock().unwrap_or_else(|e| e.into_inner());
            max_used = max_used.max(st.max_used_bytes);
            capacity = st.capacity_bytes();
            shared = t.spec.shared;
        }
        tiers.push(KvTierResult {
            name: choice.name.clone(),
            shared,
            capacity_gib: capacity.is_finite().then_some(capacity / GIB),
            hit_blocks: s.hit_blocks,
            hit_rate: if lookups > 0 {
                s.hit_blocks as f64 / lookups as f64
            } else {
                0.0
            },
            reload_gb: s.reload_bytes / 1e9,
            reload_s: s.reload_ns * 1e-9,
            written_blocks: s.written_blocks,
            written_gb: s.written_bytes / 1e9,
            demoted_blocks: s.demoted_blocks,
            parked_seqs: s.parked_seqs,
            parked_gb: s.parked_bytes / 1e9,
            park_s: s.park_ns * 1e-9,
            resume_s: s.resume_ns * 1e-9,
            max_used_gib: max_used / GIB,
        });
    }
    Some(KvOffloadResult {
        blocks: cfg.blocks.name().to_string(),
        tiers,
    })
}
