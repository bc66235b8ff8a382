//! A replica's encoder cache (vLLM's `EncoderCacheManager`, `encoder_cache_size` in embedding
//! tokens): encoder outputs kept by the media's content hash, so a request whose image (or clip)
//! was encoded before skips the encoder while the entry is still there. Entries are evicted
//! least recently used first when a new one needs the room; one entry per request's media (its
//! images together).

use std::collections::{BTreeMap, HashMap};

/// An LRU of encoder outputs, capacity in embedding tokens.
#[derive(Debug, Clone)]
pub struct EncoderCache {
    capacity_tokens: u64,
    used_tokens: u64,
    /// Hash → (last use, tokens); last use → hash.
    entries: HashMap<u64, (u64, u64)>,
    by_use: BTreeMap<u64, u64>,
    clock: u64,
    pub hits: u64,
    pub misses: u64,
}

impl EncoderCache {
    pub fn new(capacity_tokens: u64) -> EncoderCache {
        EncoderCache {
            capacity_tokens,
            used_tokens: 0,
            entries: HashMap::new(),
            by_use: BTreeMap::new(),
            clock: 0,
            hits: 0,
            misses: 0,
        }
    }

    /// Media of `hash` worth `tokens` embeddings is needed: true on a hit (the encoder is
    /// skipped); on a miss it is encoded and kept, evicting the least recently used entries
    /// that stand in its way (an entry larger than the cache is not kept).
    pub fn lookup(&mut self, hash: u64, tokens: u64) -> bool {
        self.clock += 1;
        if let Some((used, _)) = self.entries.get_mut(&hash) {
            self.by_use.remove(used);
            *used = self.clock;
            self.by_use.insert(self.clock, hash);
            self.hits += 1;
            return true;
        }
        self.misses += 1;
        if tokens > self.capacity_tokens {
            return false;
        }
        while self.used_tokens + tokens > self.capacity_tokens {
            let Some((_, old)) = self.by_use.pop_first() else {
                break;
            };
            if let Some((_, t)) = self.entries.remove(&old) {
                self.used_tokens -= t;
            }
        }
        self.entries.insert(hash, (self.clock, tokens));
        self.by_use.insert(self.clock, hash);
        self.used_tokens += tokens;
        false
    }

    pub fn used_tokens(&self) -> u64 {
        self.used_tokens
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Capacity 2000 tokens, entries of 999: two fit. 1, 2, 1 (hit: 1 most recent); 3 evicts 2
    /// (the least recently used); 1 hits; 2 evicts 3; 3 evicts 1. Hits 2, misses 5.
    #[test]
    fn lru_by_tokens() {
        let mut c = EncoderCache::new(2000);
        assert!(!c.lookup(1, 999));
        assert!(!c.lookup(2, 999));
        assert!(c.lookup(1, 999));
        assert!(!c.lookup(3, 999));
        assert_eq!(c.used_tokens(), 1998);
        assert!(c.lookup(1, 999));
        assert!(!c.lookup(2, 999));
        assert!(!c.lookup(3, 999));
        assert_eq!((c.hits, c.misses), (2, 5));
        assert!(c.lookup(2, 999) && c.lookup(3, 999) && !c.lookup(1, 999));
        // Larger than the cache: never kept.
        assert!(!c.lookup(9, 2001));
        assert!(!c.lookup(9, 2001));
        assert!(c.used_tokens() <= 2000);
    }
}
