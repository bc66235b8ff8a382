//! KV offload tiers (`serving.kv_offload`), as LMCache (GPU → CPU → local disk → remote
//! backends), vLLM's KV connectors and Mooncake Store (a distributed pool of the instances' DRAM
//! over RDMA) do it: a chain of tiers below HBM, each with a capacity and the physics of its
//! path (bandwidth to read and to write, first-byte latency, queue depth).
//!
//! - **Offload on eviction**: a prompt-cache block evicted from HBM is written to the first tier;
//!   a tier that overflows demotes its least recently arrived blocks to the next one, and the
//!   last tier drops them. A hit moves a local tier's block back up to HBM (exclusive, as the
//!   host tier of `prefix_cache.rs` does), so arrival order is recency: LRU per tier. A shared
//!   tier (a network store) keeps its copy, which every replica of the pool can hit.
//! - **Offload on preemption** (`blocks = "all"`): a preempted sequence's whole KV (prompt and
//!   decode tokens, window and state) is parked in the first tier with room for it (cached blocks
//!   there are demoted to make room) instead of being recomputed, and read back when it resumes.
//!   With `blocks = "prompt"` a preempted sequence is recomputed; its prompt blocks reach the
//!   tiers through the prompt cache like any other.
//! - **Timing**: each tier is, per replica, a queue of `queue_depth` servers in front of one
//!   pipe at the tier's bandwidth: a transfer waits for a free server, pays the first-byte
//!   latency (overlapping other transfers' latencies and bytes), then its bytes go through the
//!   pipe after those ahead of it. Alone it takes latency + bytes / bandwidth; two at once with
//!   depth 1 take 2 · (latency + bytes / bandwidth); with depth ≥ 2, latency + 2 · bytes /
//!   bandwidth. Reads and writes share the pipe (one device, one link).
//! - **What blocks a step**: a reload (prefix hit in a tier, or a parked sequence resuming) blocks
//!   the step that needs it until its last byte is in (the step waits for the latest of its
//!   reloads); a preempted sequence's park blocks the step too (its HBM blocks are reused by it).
//!   Eviction writes are asynchronous, as LMCache's async store: they overlap compute and only
//!   occupy the tier's queue and pipe (a later read waits behind them). A demotion from tier k
//!   to k + 1 is charged as a write on k + 1.
//!
//! Blocks in these tiers are not HBM blocks: KV conservation (INV-9) is untouched; the audit
//! checks that every tier holds no more bytes than its capacity.
//!
//! A shared tier's store is the one piece of state replicas share (`Arc<Mutex<…>>`, locked only
//! on the offload path: an eviction, a lookup at admission, a park or a resume; never per decode
//! row). Runs are single-threaded, so the order of accesses is the event order: deterministic.

use super::prefix_cache::BlockMap;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

/// Which KV leaves HBM for the tiers (`serving.kv_offload.blocks`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OffloadBlocks {
    /// Prompt-cache blocks only (LMCache's default, `save_decode_cache = false`): preempted
    /// sequences are recomputed.
    Prompt,
    /// Prompt blocks, and a preempted sequence's whole KV with its decode tokens.
    All,
}

impl OffloadBlocks {
    pub fn name(self) -> &'static str {
        match self {
            OffloadBlocks::Prompt => "prompt",
            OffloadBlocks::All => "all",
        }
    }
}

/// A tier of the chain as the scenario chose it (`serving.kv_offload.tiers`).
#[derive(Debug, Clone, PartialEq)]
pub struct OffloadTierChoice {
    /// `cpu`, or the name of a storage tier.
    pub name: String,
    /// The storage tier's profile (None for `cpu`: host DRAM over the host link).
    pub storage: Option<crate::hw::storage::StorageTier>,
    /// Capacity given by the scenario, GiB (per replica; a shared tier's in total).
    pub capacity_gib: Option<f64>,
}

/// Validated `serving.kv_offload`.
#[derive(Debug, Clone, PartialEq)]
pub struct OffloadConfig {
    pub tiers: Vec<OffloadTierChoice>,
    pub blocks: OffloadBlocks,
}

/// One tier as a replica sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct TierSpec {
    pub name: String,
    /// Bytes per ns the replica reads and writes at (its share of the tier's path).
    pub read_bytes_per_ns: f64,
    pub write_bytes_per_ns: f64,
    pub latency_ns: f64,
    /// Transfers in flight at once; more wait for the first to finish.
    pub queue_depth: u32,
    /// Bytes the tier holds (the replica's share, or the whole pool's when shared);
    /// `f64::INFINITY`: unbounded.
    pub capacity_bytes: f64,
    /// Every replica of the pool reads and writes the same store.
    pub shared: bool,
}

/// Most servers a tier's queue keeps (a deeper queue than this behaves the same: the pipe, not
/// the queue, limits it).
const MAX_DEPTH: usize = 1024;

/// The blocks (and parked sequences) a tier holds.
#[derive(Debug)]
pub struct TierStore {
    /// Block → tick it arrived at; `queue` holds (tick, block) in arrival order (stale entries
    /// skipped, as in `prefix_cache.rs`).
    blocks: BlockMap<u64>,
    queue: VecDeque<(u64, u64)>,
    tick: u64,
    capacity_bytes: f64,
    block_bytes: f64,
    /// Bytes of preempted sequences parked here (never demoted).
    seq_bytes: f64,
    /// The most bytes it held.
    pub max_used_bytes: f64,
}

impl TierStore {
    pub fn new(capacity_bytes: f64, block_bytes: f64) -> TierStore {
        TierStore {
            blocks: BlockMap::default(),
            queue: VecDeque::new(),
            tick: 0,
            capacity_bytes,
            block_bytes,
            seq_bytes: 0.0,
            max_used_bytes: 0.0,
        }
    }

    pub fn used_bytes(&self) -> f64 {
        self.blocks.len() as f64 * self.block_bytes + self.seq_bytes
    }
    pub fn capacity_bytes(&self) -> f64 {
        self.capacity_bytes
    }
    pub fn contains(&self, h: u64) -> bool {
        self.blocks.contains_key(&h)
    }
    fn remove(&mut self, h: u64) {
        self.blocks.remove(&h);
    }
    fn note_used(&mut self) {
        self.max_used_bytes = self.max_used_bytes.max(self.used_bytes());
    }

    /// Oldest block, if any.
    fn pop_oldest(&mut self) -> Option<u64> {
        while let Some((t, h)) = self.queue.pop_front() {
            if self.blocks.get(&h) == Some(&t) {
                self.blocks.remove(&h);
                return Some(h);
            }
        }
        None
    }

    /// Stores `h` (or refreshes it); blocks beyond the capacity go to `demoted`, oldest first.
    fn insert(&mut self, h: u64, demoted: &mut Vec<u64>) {
        self.tick += 1;
        self.blocks.insert(h, self.tick);
        self.queue.push_back((self.tick, h));
        self.make_room(0.0, demoted);
        self.note_used();
        if self.queue.len() > 2 * self.blocks.len() + 1024 {
            let blocks = &self.blocks;
            self.queue.retain(|&(t, h)| blocks.get(&h) == Some(&t));
        }
    }

    /// Demotes the oldest blocks until `extra` more bytes fit.
    fn make_room(&mut self, extra: f64, demoted: &mut Vec<u64>) {
        while self.used_bytes() + extra > self.capacity_bytes {
            match self.pop_oldest() {
                Some(h) => demoted.push(h),
                None => break,
            }
        }
    }
}

/// A tier's queue and pipe, per replica.
#[derive(Debug, Clone)]
struct Link {
    /// When each of the `queue_depth` servers is free, ns.
    servers: Vec<f64>,
    /// When the pipe has carried every byte ahead, ns.
    pipe_free: f64,
}

impl Link {
    fn new(depth: u32) -> Link {
        Link {
            servers: vec![0.0; (depth as usize).clamp(1, MAX_DEPTH)],
            pipe_free: 0.0,
        }
    }

    /// A transfer of `bytes` asked at `now`: when its last byte is through, ns.
    fn transfer(&mut self, now: f64, bytes: f64, bytes_per_ns: f64, latency_ns: f64) -> f64 {
        let (i, free) = self
            .servers
            .iter()
            .copied()
            .enumerate()
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap_or((0, 0.0));
        let start = now.max(free);
        let first_byte = (start + latency_ns).max(self.pipe_free);
        let end = first_byte + bytes / bytes_per_ns;
        self.pipe_free = end;
        if let Some(s) = self.servers.get_mut(i) {
            *s = end;
        }
        end
    }
}

/// Counters of one tier, per replica (summed for the summary).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TierStats {
    /// Prompt blocks found here at admission, their bytes read back and the time those reads
    /// blocked the requests (ns, summed over requests).
    pub hit_blocks: u64,
    pub reload_bytes: f64,
    pub reload_ns: f64,
    /// Blocks written here (from HBM or demoted from the tier above), and their bytes.
    pub written_blocks: u64,
    pub written_bytes: f64,
    /// Blocks demoted out of this tier (to the next one, or dropped from the last).
    pub demoted_blocks: u64,
    /// Preempted sequences parked here and read back, their bytes and the time the parks and
    /// reads blocked steps (ns).
    pub parked_seqs: u64,
    pub parked_bytes: f64,
    pub park_ns: f64,
    pub resume_ns: f64,
}

impl TierStats {
    pub fn add(&mut self, o: &TierStats) {
        self.hit_blocks += o.hit_blocks;
        self.reload_bytes += o.reload_bytes;
        self.reload_ns += o.reload_ns;
        self.written_blocks += o.written_blocks;
        self.written_bytes += o.written_bytes;
        self.demoted_blocks += o.demoted_blocks;
        self.parked_seqs += o.parked_seqs;
        self.parked_bytes += o.parked_bytes;
        self.park_ns += o.park_ns;
        self.resume_ns += o.resume_ns;
    }
}

/// One tier of a replica's chain.
#[derive(Debug)]
pub struct Tier {
    pub spec: TierSpec,
    pub store: Arc<Mutex<TierStore>>,
    link: Link,
    pub stats: TierStats,
}

impl Tier {
    /// A tier over `store` (a fresh one per replica for a local tier; the pool's for a shared one).
    pub fn new(spec: TierSpec, store: Arc<Mutex<TierStore>>) -> Tier {
        Tier {
            link: Link::new(spec.queue_depth),
            spec,
            store,
            stats: TierStats::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, TierStore> {
        // Runs are single-threaded: a poisoned lock can only follow a panic already under way.
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn read(&mut self, now: f64, bytes: f64) -> f64 {
        self.link
            .transfer(now, bytes, self.spec.read_bytes_per_ns, self.spec.latency_ns)
    }
    fn write(&mut self, now: f64, bytes: f64) -> f64 {
        self.link
            .transfer(now, bytes, self.spec.write_bytes_per_ns, self.spec.latency_ns)
    }
}

/// A replica's chain of offload tiers.
#[derive(Debug)]
pub struct KvTiers {
    pub tiers: Vec<Tier>,
    pub blocks: OffloadBlocks,
    /// KV bytes of one prompt-cache block (all ranks of the replica).
    pub block_bytes: f64,
    /// Preempted sequences parked in a tier: request index → (tier, bytes).
    parked: HashMap<u32, (usize, f64)>,
}

impl KvTiers {
    pub fn new(tiers: Vec<Tier>, blocks: OffloadBlocks, block_bytes: f64) -> KvTiers {
        KvTiers {
            tiers,
            blocks,
            block_bytes,
            parked: HashMap::new(),
        }
    }

    /// The tier holding `h`, if any (the first in the chain).
    fn find(&self, h: u64) -> Option<usize> {
        self.tiers.iter().position(|t| t.lock().contains(h))
    }

    /// Leading blocks of `hashes` found in some tier, without changing anything.
    pub fn peek_run(&self, hashes: &[u64]) -> u32 {
        hashes.iter().take_while(|&&h| self.find(h).is_some()).count() as u32
    }

    /// Blocks evicted from HBM at `now` go down the chain: into the first tier (a block some tier
    /// already holds is not written again), demoting what overflows. The writes run
    /// asynchronously (they overlap compute).
    pub fn offload(&mut self, now: f64, evicted: &[u64]) {
        let incoming: Vec<u64> = evicted.iter().copied().filter(|&h| self.find(h).is_none()).collect();
        self.offload_from(now, 0, incoming);
    }

    /// Writes `incoming` into tier `first`, and what it demotes into the next, and so on; the
    /// last tier drops what it demotes.
    fn offload_from(&mut self, now: f64, first: usize, mut incoming: Vec<u64>) {
        let mut demoted = Vec::new();
        for t in self.tiers.iter_mut().skip(first) {
            if incoming.is_empty() {
                break;
            }
            {
                let mut s = t.lock();
                for &h in &incoming {
                    s.insert(h, &mut demoted);
                }
            }
            // Blocks that passed straight through (a tier smaller than one block) were still
            // written once.
            let bytes = incoming.len() as f64 * self.block_bytes;
            t.stats.written_blocks += incoming.len() as u64;
            t.stats.written_bytes += bytes;
            t.stats.demoted_blocks += demoted.len() as u64;
            t.write(now, bytes);
            std::mem::swap(&mut incoming, &mut demoted);
            demoted.clear();
        }
    }

    /// Admission at `now` of a prompt whose blocks `hashes` follow its HBM hit: the leading run
    /// found in the tiers is read back (each tier's blocks in one transfer, tiers in parallel).
    /// Returns the run's blocks and when its last byte is in HBM (`now` when the run is empty).
    pub fn take_run(&mut self, now: f64, hashes: &[u64]) -> (u32, f64) {
        let mut per_tier = vec![0u64; self.tiers.len()];
        let mut run = 0u32;
        for &h in hashes {
            let Some(k) = self.find(h) else { break };
            per_tier[k] += 1;
            run += 1;
            if !self.tiers[k].spec.shared {
                // Moves up to HBM (a shared tier keeps its copy for the other replicas).
                self.tiers[k].lock().remove(h);
            }
        }
        let mut until = now;
        for (t, &n) in self.tiers.iter_mut().zip(&per_tier) {
            if n == 0 {
                continue;
            }
            let bytes = n as f64 * self.block_bytes;
            let end = t.read(now, bytes);
            t.stats.hit_blocks += n;
            t.stats.reload_bytes += bytes;
            t.stats.reload_ns += end - now;
            until = until.max(end);
        }
        (run, until)
    }

    /// A preempted sequence (request `id`, `bytes` of KV) at `now`: parked in the first tier
    /// whose parked sequences leave room for it (its cached blocks demoted as needed). Returns
    /// when the write ends, or None when no tier has room (or only prompt blocks are offloaded).
    pub fn park(&mut self, now: f64, id: u32, bytes: f64) -> Option<f64> {
        if self.blocks != OffloadBlocks::All {
            return None;
        }
        let k = self.tiers.iter().position(|t| {
            let s = t.lock();
            s.seq_bytes + bytes <= s.capacity_bytes
        })?;
        let mut demoted = Vec::new();
        {
            let mut s = self.tiers[k].lock();
            s.make_room(bytes, &mut demoted);
            s.seq_bytes += bytes;
            s.note_used();
        }
        let t = &mut self.tiers[k];
        t.stats.demoted_blocks += demoted.len() as u64;
        let end = t.write(now, bytes);
        t.stats.parked_seqs += 1;
        t.stats.parked_bytes += bytes;
        t.stats.park_ns += end - now;
        self.parked.insert(id, (k, bytes));
        // The displaced blocks continue down the chain from the next tier.
        self.offload_from(now, k + 1, demoted);
        Some(end)
    }

    /// A parked sequence resumes at `now`: its KV is read back. Returns when it is in HBM, or
    /// None when request `id` is not parked here.
    pub fn unpark(&mut self, now: f64, id: u32) -> Option<f64> {
        let (k, bytes) = self.parked.remove(&id)?;
        let t = &mut self.tiers[k];
        {
            let mut s = t.lock();
            s.seq_bytes = (s.seq_bytes - bytes).max(0.0);
        }
        let end = t.read(now, bytes);
        t.stats.resume_ns += end - now;
        Some(end)
    }

    /// A parked sequence is dropped (its request was cancelled): its bytes are freed, nothing is
    /// read. False when request `id` is not parked here.
    pub fn drop_parked(&mut self, id: u32) -> bool {
        let Some((k, bytes)) = self.parked.remove(&id) else {
            return false;
        };
        let mut s = self.tiers[k].lock();
        s.seq_bytes = (s.seq_bytes - bytes).max(0.0);
        true
    }

    /// Sequences parked now.
    pub fn parked(&self) -> usize {
        self.parked.len()
    }

    /// Every tier holds no more than its capacity (INV-9's lower tiers), for the audit.
    pub fn audit(&self) -> Result<(), String> {
        for t in &self.tiers {
            let s = t.lock();
            // Float sums of equal byte counts: a byte of slack.
            if s.used_bytes() > s.capacity_bytes + 1.0 {
                return Err(format!(
                    "KV offload tier {} holds {} bytes, more than its capacity {}",
                    t.spec.name,
                    s.used_bytes(),
                    s.capacity_bytes
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
