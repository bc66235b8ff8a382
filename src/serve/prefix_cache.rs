//! Block-level prompt (prefix) cache of one replica, as vLLM's automatic prefix caching and
//! Mooncake's KV store do it.
//!
//! A prompt is a sequence of block hashes (Mooncake `hash_ids`, 512 tokens a block, or the
//! synthetic model below); equal hashes at equal positions mean equal prefixes. At admission the
//! longest prefix of whole blocks found in the cache is a hit: those tokens skip prefill compute
//! (attention still reads them). Every block of a running request is pinned; when the request
//! leaves, its blocks become evictable, queued in reverse order (the prompt's tail first, as
//! vLLM's free-block queue does), and are evicted least recently released first once the KV
//! memory the running batch leaves free no longer holds them: a shared prefix outlives the
//! unique tails behind it. Evicted blocks may go to a host memory tier (first in, first out),
//! from which a later hit swaps them back in over the host link.
//!
//! Models with sliding, chunked or linear layers (`model/layers.rs`): a cached block is the full
//! (growing) layers' KV of its tokens, as the replica's KV blocks are. A hit skips the prefill of
//! every layer for the hit tokens, which needs the local layers' KV of the hit's last window and
//! the linear layers' state at the hit's end: codesim assumes the engine kept them with the
//! cached prefix (vLLM's hybrid KV cache manager caches sliding-window blocks; SGLang's Mamba
//! radix cache keeps a state per node) and does not charge them to the cache's capacity, an
//! under-count of at most one window and one state per cached prefix. A running sequence is
//! charged its own window and state in full from admission (`KvBlocks::bounded_blocks`), hit or
//! not.
//!
//! Cost per block looked up, pinned or released: O(1) amortised (a hash map with a one-multiply
//! hasher, and FIFO queues whose stale entries are skipped and compacted away).

use crate::hash::mix64;
use rand::RngExt;
use rand::rngs::ChaCha8Rng;
use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasherDefault;

/// A hasher for keys that are already hashes (block ids): one folded multiply, instead of
/// SipHash's dozens of rounds. Deterministic (no random state), so runs stay reproducible.
#[derive(Debug, Clone, Copy, Default)]
pub struct BlockHasher(u64);

impl std::hash::Hasher for BlockHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(b as u64);
        }
    }
    fn write_u64(&mut self, x: u64) {
        // Folded multiply: both halves of the 128-bit product, so low and high bits of the
        // key (sequential Mooncake ids, or mixed hashes) spread over the whole word.
        let p = ((self.0 ^ x) as u128).wrapping_mul(0x9E37_79B9_7F4A_7C15_u128);
        self.0 = (p as u64) ^ ((p >> 64) as u64);
    }
}

/// A hash map keyed by block hashes.
pub type BlockMap<V> = HashMap<u64, V, BuildHasherDefault<BlockHasher>>;

#[derive(Debug, Clone, Copy)]
struct Entry {
    /// Position in the eviction queue while unpinned (the tick it was released at).
    tick: u64,
    /// Running requests holding this block.
    pins: u32,
}

/// Counters of a cache (summed over replicas for the run's summary).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PrefixCacheStats {
    pub lookups_blocks: u64,
    pub hit_blocks: u64,
    pub hit_blocks_host: u64,
    pub hit_blocks_remote: u64,
    pub saved_prefill_tokens: u64,
    pub evicted_blocks: u64,
    /// Bytes swapped in from the host tier, and the time those copies blocked steps (ns).
    pub host_swap_bytes: f64,
    pub host_swap_ns: f64,
    /// Bytes fetched from the remote tier over EFA, and the time those fetches blocked steps.
    pub remote_bytes: f64,
    pub remote_ns: f64,
}

impl PrefixCacheStats {
    pub fn add(&mut self, o: &PrefixCacheStats) {
        self.lookups_blocks += o.lookups_blocks;
        self.hit_blocks += o.hit_blocks;
        self.hit_blocks_host += o.hit_blocks_host;
        self.hit_blocks_remote += o.hit_blocks_remote;
        self.remote_bytes += o.remote_bytes;
        self.remote_ns += o.remote_ns;
        self.saved_prefill_tokens += o.saved_prefill_tokens;
        self.evicted_blocks += o.evicted_blocks;
        self.host_swap_bytes += o.host_swap_bytes;
        self.host_swap_ns += o.host_swap_ns;
    }
}

/// What a lookup found: the longest cached prefix, in blocks, split by tier.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PrefixHit {
    pub hbm_blocks: u32,
    pub host_blocks: u32,
}

impl PrefixHit {
    pub fn blocks(&self) -> u32 {
        self.hbm_blocks + self.host_blocks
    }
}

#[derive(Debug, Clone)]
pub struct PrefixCache {
    /// Tokens per hashed block.
    pub block_tokens: u32,
    hbm: BlockMap<Entry>,
    /// Unpinned HBM blocks in release order, (tick, hash): the eviction order. An entry is
    /// stale (skipped) once its block was pinned again or evicted, i.e. when the block's
    /// current tick differs.
    hbm_queue: VecDeque<(u64, u64)>,
    /// Live (unpinned, resident) entries of `hbm_queue`.
    unpinned: u64,
    /// Unpinned HBM blocks allowed (the KV memory the running batch leaves free).
    capacity_blocks: u64,
    /// Host tier: block -> tick it arrived, and the arrival order (stale entries skipped).
    host: BlockMap<u64>,
    host_queue: VecDeque<(u64, u64)>,
    host_capacity_blocks: u64,
    tick: u64,
    pub stats: PrefixCacheStats,
    /// Remote tier (a cluster-wide KV store over EFA): bytes per block, the replica's share of
    /// EFA in bytes per ns, and the latency of one fetch.
    pub remote_bytes_per_block: f64,
    pub remote_bytes_per_ns: f64,
    pub remote_latency_ns: f64,
    /// Blocks evicted from HBM since the replica last took them, when KV offload tiers catch
    /// evictions (`kv_tiers.rs`); None otherwise.
    pub evicted: Option<Vec<u64>>,
}

impl PrefixCache {
    /// A cache of `block_tokens`-token blocks with an optional host tier of that many blocks.
    pub fn new(block_tokens: u32, host_capacity_blocks: u64) -> PrefixCache {
        PrefixCache {
            block_tokens: block_tokens.max(1),
            hbm: BlockMap::default(),
            hbm_queue: VecDeque::new(),
            unpinned: 0,
            capacity_blocks: u64::MAX,
            host: BlockMap::default(),
            host_queue: VecDeque::new(),
            host_capacity_blocks,
            tick: 0,
            stats: PrefixCacheStats::default(),
            remote_bytes_per_block: 0.0,
            remote_bytes_per_ns: 0.0,
            remote_latency_ns: 0.0,
            evicted: None,
        }
    }

    /// Blocks resident in HBM (pinned or not).
    pub fn resident_blocks(&self) -> usize {
        self.hbm.len()
    }

    /// Pins held on HBM blocks, summed (a block pinned by two running requests counts twice).
    /// O(resident blocks): for the invariant audit.
    pub fn pinned_blocks(&self) -> u64 {
        self.hbm.values().map(|e| e.pins as u64).sum()
    }

    /// Sets how many unpinned blocks HBM may keep, evicting the least recently released beyond it.
    pub fn set_capacity(&mut self, blocks: u64) {
        self.capacity_blocks = blocks;
        self.evict();
    }

    fn evict(&mut self) {
        while self.unpinned > self.capacity_blocks {
            let Some((tick, h)) = self.hbm_queue.pop_front() else {
                break;
            };
            match self.hbm.get(&h) {
                Some(e) if e.pins == 0 && e.tick == tick => {}
                _ => continue,
            }
            self.hbm.remove(&h);
            self.unpinned -= 1;
            self.stats.evicted_blocks += 1;
            if let Some(v) = self.evicted.as_mut() {
                v.push(h);
            }
            if self.host_capacity_blocks > 0 {
                self.tick += 1;
                self.host.insert(h, self.tick);
                self.host_queue.push_back((self.tick, h));
                while self.host.len() as u64 > self.host_capacity_blocks {
                    let Some((t, old)) = self.host_queue.pop_front() else {
                        break;
                    };
                    if self.host.get(&old) == Some(&t) {
                        self.host.remove(&old);
                    }
                }
                compact(&mut self.host_queue, self.host.len() as u64, |t, h| {
                    self.host.get(&h) == Some(&t)
                });
            }
        }
    }

    /// The longest cached prefix of `hashes`, without changing the cache.
    pub fn peek(&self, hashes: &[u64]) -> PrefixHit {
        let hbm = hashes.iter().take_while(|h| self.hbm.contains_key(h)).count();
        let host = if self.host.is_empty() {
            0
        } else {
            hashes[hbm..].iter().take_while(|h| self.host.contains_key(h)).count()
        };
        PrefixHit {
            hbm_blocks: hbm as u32,
            host_blocks: host as u32,
        }
    }

    /// Admits a prompt: finds its longest cached prefix (counted in the statistics), then pins
    /// every block of the prompt in HBM (the missed ones are about to be computed; host hits are
    /// swapped in).
    pub fn admit(&mut self, hashes: &[u64]) -> PrefixHit {
        // One pass: the hit is the run of blocks already resident (then the run found on the
        // host tier) before the first miss, exactly what `peek` would say beforehand.
        let mut hit = PrefixHit::default();
        let mut in_hbm_run = true;
        let mut in_host_run = true;
        for &h in hashes {
            let e = self.hbm.entry(h).or_insert(Entry { tick: 0, pins: 0 });
            let resident = e.pins > 0 || e.tick != 0;
            if e.pins == 0 && e.tick != 0 {
                // Leaves the eviction queue (its entry there goes stale).
                self.unpinned -= 1;
            }
            e.pins += 1;
            e.tick = 0;
            if in_hbm_run && resident {
                hit.hbm_blocks += 1;
                continue;
            }
            in_hbm_run = false;
            let on_host = !resident && !self.host.is_empty() && self.host.remove(&h).is_some();
            if in_host_run && on_host {
                hit.host_blocks += 1;
            } else {
                in_host_run = false;
            }
        }
        self.stats.lookups_blocks += hashes.len() as u64;
        self.stats.hit_blocks += hit.blocks() as u64;
        self.stats.hit_blocks_host += hit.host_blocks as u64;
        hit
    }

    /// The request holding `hashes` left the batch: its blocks become evictable, the prompt's
    /// tail first.
    pub fn release(&mut self, hashes: &[u64]) {
        for &h in hashes.iter().rev() {
            if let Some(e) = self.hbm.get_mut(&h) {
                if e.pins == 0 {
                    continue;
                }
                e.pins -= 1;
                if e.pins == 0 {
                    self.tick += 1;
                    e.tick = self.tick;
                    self.hbm_queue.push_back((self.tick, h));
                    self.unpinned += 1;
                }
            }
        }
        let hbm = &self.hbm;
        compact(&mut self.hbm_queue, self.unpinned, |t, h| {
            hbm.get(&h).is_some_and(|e| e.pins == 0 && e.tick == t)
        });
        self.evict();
    }
}

/// Drops stale entries from a lazily-deleted queue once they outnumber the live ones (keeps its
/// memory within twice the live entries, at O(1) amortised cost).
fn compact(queue: &mut VecDeque<(u64, u64)>, live: u64, is_live: impl Fn(u64, u64) -> bool) {
    if queue.len() as u64 > 2 * live + 1024 {
        queue.retain(|&(t, h)| is_live(t, h));
    }
}

/// Block hit rate of a sequence of prompts replayed through one unbounded cache, in order: the
/// fraction of blocks that belong to a cached prefix when their prompt arrives.
pub fn unbounded_hit_rate<'a>(prompts: impl IntoIterator<Item = &'a [u64]>) -> f64 {
    let mut c = PrefixCache::new(1, 0);
    for p in prompts {
        c.admit(p);
        c.release(p);
    }
    if c.stats.lookups_blocks == 0 {
        0.0
    } else {
        c.stats.hit_blocks as f64 / c.stats.lookups_blocks as f64
    }
}

/// The synthetic prompt model (`[workload.prefix]`): every prompt starts with one of `groups`
/// shared system prompts of `system_tokens` tokens, drawn by a Zipf law of exponent `zipf`
/// (0: uniform); with `sessions` > 0 each request continues one of that many multi-turn
/// conversations (drawn uniformly) and resends its history, so its next blocks are the
/// conversation's; otherwise the rest of the prompt is unique.
#[derive(Debug, Clone)]
pub struct SyntheticPrefix {
    pub block_tokens: u32,
    system_blocks: u32,
    sessions: u32,
    /// Cumulative popularity of the groups.
    cdf: Vec<f64>,
    /// A session's system prompt group (drawn once, at its first turn).
    session_group: Vec<u32>,
    unique: u64,
}

const SYSTEM_SALT: u64 = 0x5157_E000_0000_0000;
const SESSION_SALT: u64 = 0x5E55_1000_0000_0000;
const UNIQUE_SALT: u64 = 0x0A1C_0000_0000_0000;

impl SyntheticPrefix {
    pub fn new(block_tokens: u32, groups: u32, system_tokens: u32, zipf: f64, sessions: u32) -> SyntheticPrefix {
        let weights: Vec<f64> = (1..=groups.max(1)).map(|i| (i as f64).powf(-zipf)).collect();
        let total: f64 = weights.iter().sum();
        let mut acc = 0.0;
        let cdf = weights
            .iter()
            .map(|w| {
                acc += w / total;
                acc
            })
            .collect();
        SyntheticPrefix {
            block_tokens: block_tokens.max(1),
            system_blocks: system_tokens / block_tokens.max(1),
            sessions,
            cdf,
            session_group: vec![u32::MAX; sessions as usize],
            unique: 0,
        }
    }

    fn draw_group(&self, rng: &mut ChaCha8Rng) -> u32 {
        let u: f64 = rng.random();
        self.cdf.partition_point(|&c| c < u).min(self.cdf.len() - 1) as u32
    }

    /// The block hashes of a prompt of `input_tokens` tokens.
    pub fn prompt(&mut self, rng: &mut ChaCha8Rng, input_tokens: u32) -> Vec<u64> {
        let n = input_tokens.div_ceil(self.block_tokens);
        let (group, session) = if self.sessions > 0 {
            let s = rng.random_range(0..self.sessions);
            if self.session_group[s as usize] == u32::MAX {
                self.session_group[s as usize] = self.draw_group(rng);
            }
            (self.session_group[s as usize], Some(s))
        } else {
            (self.draw_group(rng), None)
        };
        self.unique += 1;
        (0..n)
            .map(|i| {
                if i < self.system_blocks {
                    // Chained like Mooncake's ids: block i of group g.
                    mix64(SYSTEM_SALT ^ ((group as u64) << 20) ^ i as u64)
                } else {
                    match session {
                        Some(s) => mix64(SESSION_SALT ^ ((s as u64) << 24) ^ i as u64),
                        None => mix64(UNIQUE_SALT ^ (self.unique << 24) ^ i as u64),
                    }
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn longest_prefix_hits_and_lru_eviction() {
        let mut c = PrefixCache::new(16, 0);
        assert_eq!(c.admit(&[1, 2, 3]).blocks(), 0);
        c.release(&[1, 2, 3]);
        assert_eq!(c.admit(&[1, 2, 9]).hbm_blocks, 2);
        c.release(&[1, 2, 9]);
        // A hit needs the whole prefix: block 3 alone after a miss does not count.
        assert_eq!(c.peek(&[7, 3]).blocks(), 0);
        c.set_capacity(2);
        // Least recently released first, each prompt's tail before its head: 3 (released
        // first), then 9; the shared prefix [1, 2] stays and still hits.
        assert_eq!(c.resident_blocks(), 2);
        assert_eq!(c.peek(&[1, 2, 3]).hbm_blocks, 2);
        assert_eq!(c.peek(&[9]).blocks(), 0);
        assert_eq!(c.stats.evicted_blocks, 2);
        assert_eq!(c.pinned_blocks(), 0);
    }

    #[test]
    fn repinning_and_compaction_keep_the_queue_bounded_and_exact() {
        let mut c = PrefixCache::new(16, 0);
        // One hot prefix re-pinned 10,000 times leaves stale queue entries behind; they are
        // compacted away and never evict a pinned block.
        for i in 0..10_000u64 {
            c.admit(&[1, 2, 100 + i]);
            c.release(&[1, 2, 100 + i]);
            c.set_capacity(3);
        }
        assert!(c.hbm_queue.len() <= 2 * c.unpinned as usize + 1024);
        assert_eq!(c.resident_blocks(), 3);
        c.admit(&[1, 2]);
        c.set_capacity(0);
        assert_eq!(c.peek(&[1, 2]).hbm_blocks, 2, "pinned blocks survive");
        assert_eq!(c.pinned_blocks(), 2);
        c.release(&[1, 2]);
        assert_eq!(c.resident_blocks(), 0);
        assert_eq!(c.stats.evicted_blocks, 10_000 + 2);
    }

    #[test]
    fn pinned_blocks_are_not_evicted_and_host_tier_catches_evictions() {
        let mut c = PrefixCache::new(16, 10);
        c.admit(&[1, 2]);
        c.set_capacity(0);
        assert_eq!(c.peek(&[1, 2]).hbm_blocks, 2);
        c.release(&[1, 2]);
        assert_eq!(c.resident_blocks(), 0);
        let hit = c.admit(&[1, 2, 3]);
        assert_eq!((hit.hbm_blocks, hit.host_blocks), (0, 2));
    }

    #[test]
    fn synthetic_sessions_resend_history() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut s = SyntheticPrefix::new(16, 4, 64, 1.0, 1);
        let a = s.prompt(&mut rng, 160);
        let b = s.prompt(&mut rng, 320);
        assert_eq!(a.len(), 10);
        assert_eq!(&b[..10], &a[..]);
        let mut u = SyntheticPrefix::new(16, 1, 64, 0.0, 0);
        let x = u.prompt(&mut rng, 160);
        let y = u.prompt(&mut rng, 160);
        assert_eq!(&x[..4], &y[..4]);
        assert_ne!(x[4], y[4]);
    }
}
