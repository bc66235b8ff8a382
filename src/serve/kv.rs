//! A replica's paged KV cache as block counts: the blocks it has and uses, how many a request
//! claims at admission, the watermark kept free for block crossings, the blocks reserved for a
//! speculative step's lookahead, and the host memory preempted sequences may be swapped to.

use super::ReqState;

#[derive(Debug)]
pub struct KvBlocks {
    block_tokens: u64,
    total: u64,
    used: u64,
    /// KV blocks are reserved for a request's whole length at admission (static batching,
    /// `KvAdmission::Reserve`): no per-token allocation, no preemption.
    reserve_full: bool,
    /// KV blocks reserved for this step's speculative lookahead (γ + 1 slots per sequence).
    spec_reserved: u64,
    /// The bounded part of a sequence's cache per rank (local layers' window, linear state) and
    /// the growing KV bytes per token per rank a block's tokens are counted in.
    bounded: Option<(crate::model::KvFootprint, f64)>,
}

impl KvBlocks {
    pub fn new(block_tokens: u32, total: u64, reserve_full: bool) -> KvBlocks {
        KvBlocks {
            block_tokens: block_tokens as u64,
            total,
            used: 0,
            reserve_full,
            spec_reserved: 0,
            bounded: None,
        }
    }

    /// Sequences also hold a bounded part (`footprint`'s window KV and state, per rank),
    /// counted in blocks of `bytes_per_token` (the growing KV per token per rank).
    pub fn with_bounded(mut self, footprint: crate::model::KvFootprint, bytes_per_token: f64) -> KvBlocks {
        if !footprint.is_plain() && bytes_per_token > 0.0 {
            self.bounded = Some((footprint, bytes_per_token));
        }
        self
    }

    /// Blocks of a sequence's bounded part (window KV and linear state) when it may grow to
    /// `longest` tokens: the window layers hold min(longest, window) tokens at most, the linear
    /// layers one state; charged whole from admission (an engine that frees a window's blocks as
    /// they fall out of it holds less early in a sequence; never more).
    pub fn bounded_blocks(&self, longest: u64) -> u64 {
        self.bounded.map_or(0, |(f, per_token)| {
            self.blocks_for((f.bounded_bytes(longest) / per_token).ceil() as u64)
        })
    }

    pub fn total(&self) -> u64 {
        self.total
    }
    pub fn used(&self) -> u64 {
        self.used
    }
    pub fn free(&self) -> u64 {
        self.total.saturating_sub(self.used)
    }
    pub fn reserves_full_length(&self) -> bool {
        self.reserve_full
    }
    pub fn spec_reserved(&self) -> u64 {
        self.spec_reserved
    }

    pub fn blocks_for(&self, tokens: u64) -> u64 {
        tokens.div_ceil(self.block_tokens)
    }

    /// Whether `blocks` more fit with `keep_free` blocks left over.
    pub fn fits(&self, blocks: u64, keep_free: u64) -> bool {
        self.used + blocks + keep_free <= self.total
    }
    pub fn claim(&mut self, blocks: u64) {
        self.used += blocks;
    }
    pub fn give_back(&mut self, blocks: u64) {
        self.used -= blocks;
    }

    /// Blocks kept free when admitting or resuming sequences, so that the next block crossing
    /// does not preempt them at once (vLLM's 1 % watermark). None is needed when every sequence
    /// holds a reservation for its whole length, or when nothing runs (`idle`).
    pub fn watermark(&self, idle: bool) -> u64 {
        if self.reserve_full || idle { 0 } else { self.total / 100 }
    }

    /// Blocks a waiting request claims when admitted: its prompt, or (reserving) the most it
    /// may still grow to: prompt + `max_tokens` (what the engine knows; the true length is
    /// revealed only at the end, INV-12). After a preemption `prompt_len` includes the
    /// `generated` tokens, so the reservation is the same input + `max_tokens`.
    pub fn admission_blocks(&self, r: &ReqState) -> u64 {
        let p = &r.progress;
        let fixed = r.kv_fixed_blocks as u64;
        if self.reserve_full {
            self.blocks_for(p.prompt_len as u64 + (r.max_tokens as u64).saturating_sub(p.generated as u64)) + fixed
        } else {
            self.blocks_for(p.prompt_len as u64) + fixed
        }
    }

    /// Claims the blocks of a speculative step's lookahead.
    pub fn reserve_lookahead(&mut self, blocks: u64) {
        self.used += blocks;
        self.spec_reserved = blocks;
    }
    /// After the step: of the lookahead, `kept` blocks now hold accepted tokens; the rest go back.
    pub fn settle_lookahead(&mut self, kept: u64) {
        self.used -= self.spec_reserved - kept.min(self.spec_reserved);
        self.spec_reserved = 0;
    }
    pub fn clear_lookahead(&mut self) {
        self.spec_reserved = 0;
    }

    #[cfg(test)]
    pub fn corrupt_used(&mut self, delta: i64) {
        self.used = self.used.wrapping_add_signed(delta);
    }
}

/// Host memory for sequences preempted by swap, and the host link their KV travels over.
#[derive(Debug, Clone, Copy, Default)]
pub struct SwapSpace {
    /// KV bytes per cached token (all ranks of the replica).
    pub bytes_per_token: f64,
    /// Host-link bytes per ns.
    pub bytes_per_ns: f64,
    /// The host memory (bytes) the replica's swapped KV may occupy.
    pub capacity_bytes: f64,
    used_bytes: f64,
}

impl SwapSpace {
    pub fn new(bytes_per_token: f64, bytes_per_ns: f64, capacity_bytes: f64) -> SwapSpace {
        SwapSpace {
            bytes_per_token,
            bytes_per_ns,
            capacity_bytes,
            used_bytes: 0.0,
        }
    }

    pub fn bytes_for(&self, tokens: u64) -> f64 {
        tokens as f64 * self.bytes_per_token
    }
    /// Time a copy of `bytes` over the host link takes (none when there is no link).
    pub fn copy_ns(&self, bytes: f64) -> f64 {
        if self.bytes_per_ns > 0.0 {
            bytes / self.bytes_per_ns
        } else {
            0.0
        }
    }
    pub fn has_room(&self, bytes: f64) -> bool {
        self.used_bytes + bytes <= self.capacity_bytes
    }
    pub fn swap_out(&mut self, bytes: f64) {
        self.used_bytes += bytes;
    }
    pub fn swap_in(&mut self, bytes: f64) {
        self.used_bytes = (self.used_bytes - bytes).max(0.0);
    }
    pub fn used_bytes(&self) -> f64 {
        self.used_bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::SimTime;

    /// `reserve` admission claims prompt + `max_tokens`, whatever the true output (INV-12);
    /// optimistic admission claims the prompt. 16-token blocks: prompt 100 + max_tokens 412 =
    /// 512 tokens = 32 blocks; the prompt alone ⌈100 / 16⌉ = 7. After a preemption by recompute
    /// with 50 tokens generated the prompt is 150 and 362 may still come: 512 tokens again, 32
    /// blocks; optimistic ⌈150 / 16⌉ = 10.
    #[test]
    fn reserve_admission_reserves_prompt_plus_max_tokens() {
        let reserve = KvBlocks::new(16, 1000, true);
        let optimistic = KvBlocks::new(16, 1000, false);
        for output in [1, 40, 412] {
            let mut r = ReqState::new(0, SimTime::ZERO, 100, output, None);
            r.max_tokens = 412;
            assert_eq!(reserve.admission_blocks(&r), 32, "true output {output}");
            assert_eq!(optimistic.admission_blocks(&r), 7, "true output {output}");
        }
        let mut r = ReqState::new(0, SimTime::ZERO, 100, 300, None);
        r.max_tokens = 412;
        r.progress.generated = 50;
        r.progress.prompt_len = 150;
        assert_eq!(reserve.admission_blocks(&r), 32);
        assert_eq!(optimistic.admission_blocks(&r), 10);
    }

    /// A window's KV and a linear state are charged once per sequence, in blocks of the growing
    /// layers' KV. gpt-oss-120b at TP 4 (per rank: 9,216 B per token growing, 9,216 B per token
    /// within a 128-token window): a sequence that may reach 100 tokens holds 100 tokens' worth
    /// more, ⌈100 / 16⌉ = 7 blocks; one that may reach 100,000 holds the window, 128 tokens = 8
    /// blocks. Qwen3-Next at TP 2: 19,759,104 B of state over 12,288 B per token = 1,608 tokens,
    /// ⌈1608 / 16⌉ = 101 blocks, at any length.
    #[test]
    fn bounded_parts_are_charged_per_sequence() {
        use crate::model::KvFootprint;
        let window = KvFootprint {
            growing_per_token: 9216.0,
            local_per_token: 9216.0,
            local_tokens: 128,
            state_per_seq: 0.0,
        };
        let kv = KvBlocks::new(16, 1000, false).with_bounded(window, 9216.0);
        assert_eq!((kv.bounded_blocks(100), kv.bounded_blocks(100_000)), (7, 8));
        let state = KvFootprint {
            growing_per_token: 12_288.0,
            state_per_seq: 19_759_104.0,
            ..KvFootprint::default()
        };
        let kv = KvBlocks::new(16, 1000, true).with_bounded(state, 12_288.0);
        assert_eq!((kv.bounded_blocks(1), kv.bounded_blocks(262_144)), (101, 101));
        // Admission claims the growing blocks and the bounded ones.
        let mut r = ReqState::new(0, SimTime::ZERO, 100, 10, None);
        r.max_tokens = 412;
        r.kv_fixed_blocks = kv.bounded_blocks(512) as u32;
        assert_eq!(kv.admission_blocks(&r), 32 + 101);
        // A full-attention model has no bounded part.
        let plain = KvBlocks::new(16, 1000, false).with_bounded(KvFootprint::default(), 9216.0);
        assert_eq!(plain.bounded_blocks(1_000_000), 0);
    }
}
