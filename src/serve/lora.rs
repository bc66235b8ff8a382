//! LoRA adapters on a replica (S-LoRA, Punica, vLLM's multi-LoRA): many fine-tuned adapters
//! share one base model. A replica holds at most `slots` adapters in device memory at once
//! (vLLM's `max_loras`), their weights taking memory from the KV pool; an adapter a request
//! needs and the replica lacks is loaded before its prefill, from host memory over the host link
//! (vLLM's CPU cache of `max_cpu_loras` adapters) or, on a host miss, from storage first. The
//! least recently used idle slot is evicted. Adapters in use are never evicted: a request whose
//! adapter cannot get a slot waits while requests behind it whose adapters can run (vLLM's
//! scheduler skips it). Every step runs the batched adapter GEMMs (Punica's SGMV) for its
//! adapter tokens: FLOPs 2 · r · (d_in + d_out) per token per target module per layer, and the
//! memory traffic of each distinct adapter's weights plus the tokens' activations.

use super::replica::Replica;
use super::{ReqState, RequestId};
use crate::hw::storage::StorageTier;
use crate::perf::{AdapterWork, StepCost};
use std::collections::{BTreeMap, HashMap};

/// Waiting requests examined for one whose adapter can run (a bound on the scan per admission).
pub const SCAN_LIMIT: usize = 1024;
/// Activations are bf16 (the base model's compute dtype for adapters).
const ACT_BYTES: f64 = 2.0;

/// A LoRA target: a projection of every layer, with its input and output width.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub name: String,
    pub d_in: u32,
    pub d_out: u32,
}

/// The adapters of a deployment (validated `serving.lora`).
#[derive(Debug, Clone, PartialEq)]
pub struct LoraSpec {
    /// Adapters that exist (ids 0..adapters).
    pub adapters: u32,
    pub rank: u32,
    pub targets: Vec<Target>,
    /// Layers the targets sit in.
    pub layers: u32,
    /// Bytes per adapter weight.
    pub dtype_bytes: f64,
    /// Adapters held in device memory at once, per replica.
    pub slots: u32,
    /// Adapters the host memory of a replica keeps (loaded from storage once, then LRU).
    pub host_slots: u32,
    /// Where adapters not in host memory are read from.
    pub storage: StorageTier,
}

impl LoraSpec {
    /// Adapter parameters of one layer: r · (d_in + d_out) per target (A is d_in × r, B r × d_out).
    pub fn params_per_layer(&self) -> f64 {
        self.targets
            .iter()
            .map(|t| self.rank as f64 * (t.d_in as f64 + t.d_out as f64))
            .sum()
    }
    /// Bytes of one adapter (all layers, all ranks of a replica).
    pub fn adapter_bytes(&self) -> f64 {
        self.params_per_layer() * self.layers as f64 * self.dtype_bytes
    }
    /// The adapter work of one token and of one distinct adapter, per rank of a `tp`-way
    /// replica (S-LoRA shards adapters as the base weights are sharded: 1/tp each). Per target
    /// and layer a token's shrink (x·A) and expand (·B) take 2 · r · (d_in + d_out) FLOPs and
    /// move its input row (d_in), the rank-r intermediate (written, read back) and its output
    /// row (read, added to, written): d_in + 2r + 2 d_out activations.
    pub fn work_per_rank(&self, tp: u32) -> AdapterWork {
        let tp = tp.max(1) as f64;
        let layers = self.layers as f64;
        let r = self.rank as f64;
        let acts: f64 = self
            .targets
            .iter()
            .map(|t| t.d_in as f64 + 2.0 * r + 2.0 * t.d_out as f64)
            .sum();
        AdapterWork {
            flops_per_token: 2.0 * self.params_per_layer() * layers / tp,
            weight_bytes_per_adapter: self.adapter_bytes() / tp,
            act_bytes_per_token: acts * ACT_BYTES * layers / tp,
            tokens: 0.0,
            adapters: 0.0,
        }
    }
}

/// Which adapters the requests of one class use: with probability `base_share` none (the base
/// model), else one of `count` adapters from `first`, the k-th most popular with weight
/// k^−zipf.
#[derive(Debug, Clone, PartialEq)]
pub struct AdapterMix {
    pub first: u32,
    pub count: u32,
    pub zipf: f64,
    pub base_share: f64,
}

/// Validated `serving.lora`: the adapters and, per workload class, the mix its requests use.
#[derive(Debug, Clone, PartialEq)]
pub struct LoraConfig {
    pub spec: LoraSpec,
    pub mixes: Vec<AdapterMix>,
}

/// What a replica's adapter loads took and did.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoraStats {
    /// Admissions whose adapter was already in a device slot.
    pub hits: u64,
    /// Adapters loaded into a device slot, and those of them read from storage first.
    pub loads: u64,
    pub storage_reads: u64,
    pub evictions: u64,
    /// Time the loads blocked steps, ns.
    pub load_ns: f64,
    /// Prompt and decode tokens that ran through an adapter.
    pub adapter_tokens: u64,
}

impl LoraStats {
    pub fn add(&mut self, o: &LoraStats) {
        self.hits += o.hits;
        self.loads += o.loads;
        self.storage_reads += o.storage_reads;
        self.evictions += o.evictions;
        self.load_ns += o.load_ns;
        self.adapter_tokens += o.adapter_tokens;
    }
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    adapter: u32,
    /// Running sequences using it.
    users: u32,
    last_use: u64,
}

/// Adapters in host memory, least recently used first.
#[derive(Debug, Default)]
struct HostCache {
    capacity: usize,
    tick_of: HashMap<u32, u64>,
    by_tick: BTreeMap<u64, u32>,
}

impl HostCache {
    /// Touches `adapter`; false when it was not there (it is now, the LRU one evicted).
    fn touch(&mut self, adapter: u32, tick: u64) -> bool {
        let had = match self.tick_of.insert(adapter, tick) {
            Some(old) => {
                self.by_tick.remove(&old);
                true
            }
            None => false,
        };
        self.by_tick.insert(tick, adapter);
        if self.by_tick.len() > self.capacity {
            if let Some((_, a)) = self.by_tick.pop_first() {
                self.tick_of.remove(&a);
            }
        }
        had
    }
}

/// A replica's adapter slots.
#[derive(Debug)]
pub struct AdapterRegistry {
    slots: Vec<Slot>,
    capacity: usize,
    /// Slots with at least one user: the distinct adapters a step runs.
    active: u32,
    host: HostCache,
    tick: u64,
    /// Host link to the devices, bytes per ns (the replica's chips together).
    host_bytes_per_ns: f64,
    /// The replica's share of its instance's storage bandwidth.
    storage_share: f64,
    storage: StorageTier,
    adapter_bytes: f64,
    /// Per-rank adapter work of one token and one adapter.
    work: AdapterWork,
    pub stats: LoraStats,
    /// KV blocks the replica gave up to the slots (for the summary).
    pub kv_blocks: u64,
}

impl AdapterRegistry {
    pub fn new(spec: &LoraSpec, tp: u32, host_bytes_per_ns: f64, storage_share: f64) -> AdapterRegistry {
        AdapterRegistry {
            slots: Vec::with_capacity(spec.slots as usize),
            capacity: spec.slots as usize,
            active: 0,
            host: HostCache {
                capacity: spec.host_slots as usize,
                ..HostCache::default()
            },
            tick: 0,
            host_bytes_per_ns,
            storage_share,
            storage: spec.storage.clone(),
            adapter_bytes: spec.adapter_bytes(),
            work: spec.work_per_rank(tp),
            stats: LoraStats::default(),
            kv_blocks: 0,
        }
    }

    /// Time to bring an adapter to the devices, ns: from host memory over the host link, after
    /// a read from storage when the host does not hold it (`from_storage`).
    pub fn load_ns(&self, from_storage: bool) -> f64 {
        let storage = if from_storage {
            self.storage.read_ns(self.adapter_bytes, self.storage_share)
        } else {
            0.0
        };
        storage + self.adapter_bytes / self.host_bytes_per_ns
    }

    /// Whether a sequence using `adapter` could start now: it is resident, or a slot is free or
    /// held by an idle adapter.
    pub fn admissible(&self, adapter: Option<u32>) -> bool {
        match adapter {
            None => true,
            Some(a) => {
                self.slots.len() < self.capacity
                    || self.active < self.capacity as u32
                    || self.slots.iter().any(|s| s.adapter == a)
            }
        }
    }

    /// A sequence starts using `adapter`: returns the load time (0 when resident). Call only
    /// when `admissible`.
    fn acquire(&mut self, adapter: u32) -> f64 {
        self.tick += 1;
        let tick = self.tick;
        if let Some(s) = self.slots.iter_mut().find(|s| s.adapter == adapter) {
            if s.users == 0 {
                self.active += 1;
            }
            s.users += 1;
            s.last_use = tick;
            self.stats.hits += 1;
            self.host.touch(adapter, tick);
            return 0.0;
        }
        let slot = Slot {
            adapter,
            users: 1,
            last_use: tick,
        };
        if self.slots.len() < self.capacity {
            self.slots.push(slot);
        } else {
            let victim = self
                .slots
                .iter()
                .enumerate()
                .filter(|(_, s)| s.users == 0)
                .min_by_key(|(_, s)| s.last_use)
                .map(|(i, _)| i)
                .expect("acquire is called only when a slot is admissible");
            self.slots[victim] = slot;
            self.stats.evictions += 1;
        }
        self.active += 1;
        let from_storage = !self.host.touch(adapter, tick);
        let ns = self.load_ns(from_storage);
        self.stats.loads += 1;
        self.stats.storage_reads += from_storage as u64;
        self.stats.load_ns += ns;
        ns
    }

    fn release(&mut self, adapter: u32) {
        if let Some(s) = self.slots.iter_mut().find(|s| s.adapter == adapter) {
            s.users -= 1;
            if s.users == 0 {
                self.active -= 1;
            }
        }
    }

    /// The work of a step with `tokens` adapter tokens over the adapters in use.
    pub fn step_work(&self, tokens: u64) -> AdapterWork {
        AdapterWork {
            tokens: tokens as f64,
            adapters: self.active as f64,
            ..self.work
        }
    }

    /// Adapters resident and in use now (for the audit and tests).
    pub fn resident(&self) -> (usize, u32) {
        (self.slots.len(), self.active)
    }
}

impl Replica {
    /// The first waiting request (by priority, arrival) whose adapter can run now.
    pub(super) fn first_admissible(&self, reqs: &[ReqState]) -> Option<RequestId> {
        let l = self.lora.as_ref()?;
        self.waiting
            .ids()
            .take(SCAN_LIMIT)
            .copied()
            .find(|id| l.admissible(reqs[id.index()].adapter))
    }

    /// Admission: the request's adapter takes (or shares) a slot; a load blocks the step.
    pub(super) fn acquire_adapter(&mut self, id: RequestId, reqs: &mut [ReqState]) {
        let r = &mut reqs[id.index()];
        let (Some(l), Some(a)) = (self.lora.as_mut(), r.adapter) else {
            return;
        };
        if r.adapter_held {
            return;
        }
        r.adapter_held = true;
        let ns = l.acquire(a);
        if ns > 0.0 {
            self.plan.extra_ns += ns;
            r.ledger.fetched(ns.round() as u64);
        }
    }

    /// The sequence stops running (finished, preempted): its adapter's slot may be evicted.
    pub(super) fn release_adapter(&mut self, id: RequestId, reqs: &mut [ReqState]) {
        let r = &mut reqs[id.index()];
        if let (Some(l), Some(a), true) = (self.lora.as_mut(), r.adapter, r.adapter_held) {
            l.release(a);
            r.adapter_held = false;
        }
    }

    /// Adds the step's batched adapter GEMMs to its cost.
    pub(super) fn add_adapter_cost(&mut self, cost: &mut StepCost, reqs: &[ReqState]) {
        let Some(l) = self.lora.as_mut() else {
            return;
        };
        let prompt: u64 = self
            .plan
            .chunks
            .iter()
            .filter(|(id, _)| reqs[id.index()].adapter.is_some())
            .map(|&(_, n)| n as u64)
            .sum();
        let decode = if self.plan.decode_seqs > 0 {
            self.batch.adapter_rows() as u64
        } else {
            0
        };
        let tokens = prompt + decode;
        if tokens == 0 {
            return;
        }
        l.stats.adapter_tokens += tokens;
        cost.add(&self.perf.adapter_cost(&l.step_work(tokens)));
    }
}

#[cfg(test)]
mod tests;
