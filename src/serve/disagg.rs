//! Prefill/decode disaggregation: a prefilled request's KV cache crosses the link from its
//! prefill replica to a decode replica. Transfers from one prefill replica share its link, so
//! they go one after another.

/// The KV link from the prefill pool to the decode pool.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KvTransfer {
    /// KV bytes of one prompt token (the whole model: all growing layers, all heads).
    pub bytes_per_token: f64,
    /// What a sequence carries besides: its local layers' last window of KV and its linear
    /// layers' state (the whole model's; zero for a full-attention model).
    pub bounded: crate::model::KvFootprint,
    pub bytes_per_ns: f64,
    pub latency_ns: f64,
}

impl KvTransfer {
    /// Sends the KV of `tokens` prompt tokens at `now` over a link next free at `*link_free_ns`:
    /// when it arrives. The link is busy until then.
    pub fn send(&self, now: u64, link_free_ns: &mut u64, tokens: u64) -> u64 {
        let bytes = tokens as f64 * self.bytes_per_token + self.bounded.bounded_bytes(tokens);
        let ns = self.latency_ns + bytes / self.bytes_per_ns;
        let start = now.max(*link_free_ns);
        let end = start.saturating_add(ns.round() as u64);
        *link_free_ns = end;
        end
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 1,000 tokens of 128 KiB each over 50 GB/s with 20 µs latency: 20 µs + 131,072,000 B /
    /// 50 B/ns = 2,641,440 ns. A second transfer sent at the same instant waits for the first.
    #[test]
    fn a_transfer_takes_latency_plus_bytes_over_bandwidth_and_they_queue() {
        let kv = KvTransfer {
            bytes_per_token: 131_072.0,
            bounded: Default::default(),
            bytes_per_ns: 50.0,
            latency_ns: 20_000.0,
        };
        let mut free = 0;
        assert_eq!(kv.send(1_000, &mut free, 1_000), 1_000 + 2_641_440);
        assert_eq!(kv.send(1_000, &mut free, 1_000), 1_000 + 2 * 2_641_440);
        assert_eq!(free, 1_000 + 2 * 2_641_440);
    }

    /// gpt-oss-120b in bf16: 18 full layers of 8 KV heads × 64 × 2 (K, V) × 2 B = 36,864 B per
    /// token, and 18 sliding layers as much per token within their 128-token window. 1,000
    /// tokens: 36,864,000 + 128 × 36,864 = 41,582,592 B over 50 B/ns = 831,651.84 ns, + 20 µs.
    #[test]
    fn a_transfer_carries_the_window_once() {
        let kv = KvTransfer {
            bytes_per_token: 36_864.0,
            bounded: crate::model::KvFootprint {
                growing_per_token: 36_864.0,
                local_per_token: 36_864.0,
                local_tokens: 128,
                state_per_seq: 0.0,
            },
            bytes_per_ns: 50.0,
            latency_ns: 20_000.0,
        };
        let mut free = 0;
        assert_eq!(kv.send(0, &mut free, 1_000), 20_000 + 831_652);
    }
}
