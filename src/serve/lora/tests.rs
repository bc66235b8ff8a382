use super::*;
use crate::hw::storage::StorageTier;

/// Llama-2-7B's attention projections (hidden 4096, 32 heads × 128, 32 KV heads, 32 layers),
/// rank 16, bf16.
fn llama2_7b_qkvo_r16(slots: u32, host_slots: u32) -> LoraSpec {
    let t = |n: &str| Target {
        name: n.into(),
        d_in: 4096,
        d_out: 4096,
    };
    LoraSpec {
        adapters: 100,
        rank: 16,
        targets: vec![t("q_proj"), t("k_proj"), t("v_proj"), t("o_proj")],
        layers: 32,
        dtype_bytes: 2.0,
        slots,
        host_slots,
        storage: StorageTier {
            name: "nvme".into(),
            display_name: "nvme".into(),
            read_gb_s: 6.9,
            write_gb_s: 4.1,
            latency_us: 100.0,
            queue_depth: 32,
            capacity_gib: None,
            shared: false,
        },
    }
}

#[test]
fn adapter_bytes_are_rank_times_widths_times_layers_times_dtype() {
    let s = llama2_7b_qkvo_r16(2, 100);
    // 16 · (4096 + 4096) = 131,072 per projection; × 4 projections × 32 layers = 16,777,216
    // parameters; × 2 bytes = 33,554,432 bytes.
    assert_eq!(s.adapter_bytes(), 33_554_432.0);
    let w = s.work_per_rank(2);
    // 2 FLOPs per parameter per token, split over tp = 2.
    assert_eq!(w.flops_per_token, 2.0 * 16_777_216.0 / 2.0);
    assert_eq!(w.weight_bytes_per_adapter, 33_554_432.0 / 2.0);
    // Per projection: d_in + 2r + 2 d_out = 4096 + 32 + 8192 = 12,320 bf16 values; × 4 × 32 / 2.
    assert_eq!(w.act_bytes_per_token, 12_320.0 * 2.0 * 4.0 * 32.0 / 2.0);
}

#[test]
fn load_time_is_bytes_over_bandwidth_from_host_and_from_storage() {
    let s = llama2_7b_qkvo_r16(2, 100);
    // Host link 64 GB/s = 64 bytes/ns; the replica gets half of the instance's NVMe.
    let reg = AdapterRegistry::new(&s, 1, 64.0, 0.5);
    let bytes = 33_554_432.0;
    assert_eq!(reg.load_ns(false), bytes / 64.0); // 524,288 ns
    // 100 µs to the first byte, then 33.5 MB at 3.45 GB/s, then over the host link.
    let expect = 100_000.0 + bytes / 3.45 + bytes / 64.0;
    assert!((reg.load_ns(true) - expect).abs() < 1e-6, "{}", reg.load_ns(true));
}

#[test]
fn slots_evict_the_least_recently_used_idle_adapter_and_never_one_in_use() {
    let s = llama2_7b_qkvo_r16(2, 100);
    let mut reg = AdapterRegistry::new(&s, 1, 64.0, 1.0);
    let from_storage = reg.load_ns(true);
    let from_host = reg.load_ns(false);
    assert_eq!(reg.acquire(7), from_storage);
    assert_eq!(reg.acquire(8), from_storage);
    assert_eq!(reg.acquire(7), 0.0, "resident: shared, no load");
    assert_eq!(reg.resident(), (2, 2));
    // Both slots in use: a third adapter must wait; a resident one may join.
    assert!(!reg.admissible(Some(9)));
    assert!(reg.admissible(Some(8)));
    assert!(reg.admissible(None));
    reg.release(8);
    assert!(reg.admissible(Some(9)));
    // 8 holds the only idle slot: it is evicted (7 is in use).
    assert_eq!(reg.acquire(9), from_storage);
    assert_eq!(reg.stats.evictions, 1);
    reg.release(7);
    reg.release(7);
    reg.release(9);
    // 7 (last used at tick 3) is older than 9 (tick 4): 7 goes; 8 comes back from host memory.
    assert_eq!(reg.acquire(8), from_host);
    assert!(reg.slots.iter().any(|s| s.adapter == 9));
    assert!(!reg.slots.iter().any(|s| s.adapter == 7));
    assert_eq!(reg.stats.loads, 4);
    assert_eq!(reg.stats.storage_reads, 3);
    assert_eq!(reg.stats.hits, 1);
}

#[test]
fn the_host_cache_keeps_host_slots_adapters_least_recently_used_first() {
    let s = llama2_7b_qkvo_r16(1, 2);
    let mut reg = AdapterRegistry::new(&s, 1, 64.0, 1.0);
    let (st, host) = (reg.load_ns(true), reg.load_ns(false));
    for (a, ns) in [(1, st), (2, st), (1, host), (3, st), (2, st), (1, st)] {
        assert_eq!(reg.acquire(a), ns, "adapter {a}");
        reg.release(a);
    }
}
