//! Collectives inside a switched scale-up domain (GB200 NVL72, Trn3 UltraServers) against their
//! closed forms, and against the same group over EFA.

use super::*;
use crate::hw::Catalog;

fn hw(instance: &str) -> Hardware {
    Catalog::builtin().unwrap().hardware(instance).unwrap()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

const N: f64 = 1e6; // bytes per rank

/// TP72 on a GB200 NVL72: 18 p6e-gb200.36xlarge of 4 GPUs, every GPU on the NVLink switches at
/// its NVLink 5 bandwidth (900 GB/s a direction, α = 2 µs a hop). No EFA: a ring of the 4 GPUs of
/// each instance, then the 18 instances over each GPU's own domain link, each GPU moving its
/// quarter of the message:
///   ring: 2·3 α + 2·3/4 · N/900 + 2·17 α + 2·17/18 · (N/4)/900
///   tree (across instances): 2·3 α + 1.5 N/900 + 2·⌈log₂ 18⌉ α + 2 · (N/4)/900 = … + 10 α + …
/// The same 72 GPUs as 9 p6-b200.48xlarge over EFA: a ring of 8 over NVSwitch (900 GB/s), then
/// the 9 instances, each moving its whole message over its 3200 Gbit/s = 400 GB/s EFA with
/// α_EFA = 15 µs: 2·7 α + 1.75 N/900 + 2·8 α_EFA + 2·8/9 · N/400 (tree: 2·⌈log₂ 9⌉ α_EFA + 2 N/400).
#[test]
fn tp72_in_an_nvl72_domain_runs_over_nvlink_not_efa() {
    let g = hw("p6e-gb200.36xlarge");
    let u = g.instance.ultraserver.unwrap();
    assert_eq!((u.instances, g.instance.chips, u.fabric), (18, 4, DomainFabric::Switch));
    let a = AllReduce::for_tp(&g, 72);
    assert!(a.in_domain());
    assert_eq!(a.instances, 18);
    let alpha = 2.0e3;
    let fixed = g.chip.efficiency.collective_latency_us * 1e3;
    assert_eq!(g.chip.efficiency.collective_bandwidth, 1.0);
    assert_eq!(a.on_chip_ns(N), 0.0);
    assert!(close(a.chip_ns(N), 6.0 * alpha + 1.5 * N / 900.0));
    let ring = 34.0 * alpha + 2.0 * 17.0 / 18.0 * (N / 4.0) / 900.0;
    assert!(
        close(a.cross_instance_ns(N), ring),
        "{} vs {ring}",
        a.cross_instance_ns(N)
    );
    assert!(close(a.time_ns(N), fixed + 6.0 * alpha + 1.5 * N / 900.0 + ring));
    // Per GPU the bytes are a flat 72-ring's, 2·71/72 · N: 1.5 N + 2·17/18 · N/4 = 1.9722 N.
    assert!(close(1.5 + 2.0 * 17.0 / 18.0 / 4.0, 2.0 * 71.0 / 72.0));
    let t = a.with_algorithm(AllReduceAlgorithm::Tree);
    let tree = 10.0 * alpha + 2.0 * (N / 4.0) / 900.0;
    assert!(
        close(t.cross_instance_ns(N), tree),
        "{} vs {tree}",
        t.cross_instance_ns(N)
    );

    // Over EFA: 9 × p6-b200.48xlarge.
    let b = hw("p6-b200.48xlarge");
    let e = AllReduce::for_tp(&b, 72);
    assert!(!e.in_domain());
    let efa_alpha = b.instance.efa_latency_us * 1e3;
    assert_eq!(efa_alpha, 15e3);
    assert!(close(e.chip_ns(N), 14.0 * alpha + 1.75 * N / 900.0));
    let cross = 2.0 * 8.0 * efa_alpha + 2.0 * 8.0 / 9.0 * N / 400.0;
    assert!(close(e.cross_instance_ns(N), cross));
    let efa_tree = e.with_algorithm(AllReduceAlgorithm::Tree);
    assert!(close(
        efa_tree.cross_instance_ns(N),
        2.0 * 4.0 * efa_alpha + 2.0 * N / 400.0
    ));
    // The domain wins at every size: 40 α = 80 µs of hops against 14 α + 16 α_EFA = 268 µs, and
    // 1.972 N / 900 against 1.75 N / 900 + 1.778 N / 400 per byte. At 1 MB a rank (a decode
    // step's 64 rows × 8192 × bf16): 80 + 2.19 = 82.19 µs against 268 + 1.94 + 4.44 = 274.39 µs,
    // the fixed cost per collective aside.
    assert!(
        (a.time_ns(N) - fixed - 82_191.4).abs() < 1.0,
        "{}",
        a.time_ns(N) - fixed
    );
    assert!(
        (e.time_ns(N) - fixed - 274_388.9).abs() < 1.0,
        "{}",
        e.time_ns(N) - fixed
    );
    for n in [16e3, 1e6, 64e6] {
        assert!(a.time_ns(n) < e.time_ns(n), "{n}: {} vs {}", a.time_ns(n), e.time_ns(n));
        assert!(t.time_ns(n) < efa_tree.time_ns(n), "{n}");
    }

    // The same p6e-gb200 instances without the domain fall back to EFA (1600 Gbit/s = 200 GB/s
    // each): a ring of 4 over the chip links, then 18 instances over EFA with their whole message.
    let mut no_domain = g.clone();
    no_domain.instance.ultraserver = None;
    let f = AllReduce::for_tp(&no_domain, 72);
    assert!(!f.in_domain());
    assert!(close(f.chip_ns(N), 6.0 * alpha + 1.5 * N / 900.0));
    assert!(close(
        f.cross_instance_ns(N),
        2.0 * 17.0 * efa_alpha + 2.0 * 17.0 / 18.0 * N / 200.0
    ));
    assert!(a.time_ns(N) < f.time_ns(N));
}

/// A group larger than the domain (TP144 = 36 instances > 18) leaves it: EFA again.
#[test]
fn a_group_beyond_the_domain_falls_back_to_efa() {
    let g = hw("p6e-gb200.36xlarge");
    let a = AllReduce::for_tp(&g, 144);
    assert!(!a.in_domain());
    assert_eq!(a.instances, 36);
    let efa_alpha = g.instance.efa_latency_us * 1e3;
    assert!(close(
        a.cross_instance_ns(N),
        2.0 * 35.0 * efa_alpha + 2.0 * 35.0 / 36.0 * N / 200.0
    ));
    // Inside one instance there is no cross-instance step at all.
    assert!(!AllReduce::for_tp(&g, 4).in_domain());
}

/// EP72 all-to-all on the NVL72: each rank sends bytes/72 to each of the 71 others over the
/// switch, 71 rounds: 71 α + 71 · (N/72) / 900, no cross-instance step.
#[test]
fn ep72_all_to_all_in_the_domain_is_one_switch() {
    let g = hw("p6e-gb200.36xlarge");
    let a = AllToAll::for_group(&g, 72);
    let alpha = 2.0e3;
    assert_eq!(a.cross_instance_ns(N), 0.0);
    assert!(close(a.chip_ns(N), 71.0 * alpha + 71.0 * (N / 72.0) / 900.0));
    // Over EFA (9 × p6-b200): each instance's 8 ranks send 64/72 of their bytes off the instance
    // through its 400 GB/s EFA in 8 rounds: 8 · 15 µs + 8 · 64 · N / 72 / 400.
    let b = hw("p6-b200.48xlarge");
    let e = AllToAll::for_group(&b, 72);
    assert!(close(
        e.cross_instance_ns(N),
        8.0 * 15e3 + 8.0 * 64.0 * N / 72.0 / 400.0
    ));
    assert!(a.time_ns(N) < e.time_ns(N));
}

/// Trn3 Gen1 UltraServer (4 × trn3.48xlarge, 16 Trainium3 each, 4 ranks a chip at LNC 2): TP64
/// fits one instance; TP256 spans the 4 members over NeuronSwitch: a ring of 4 ranks on each chip
/// over its HBM (4900 / 2 GB/s), a ring of the 16 chips on the instance's switch (1280 GB/s),
/// then the 4 members over each chip's domain link (1099.5 GB/s, α_d = 3.595 µs), each chip
/// moving 1/16 of the message:
///   6 α + 6 N / 2450 + 30 α + 30/16 · N / 1280 + 6 α_d + 2·3/4 · (N/16) / 1099.5.
#[test]
fn trn3_ultraservers_are_scale_up_domains() {
    let g1 = hw("trn3.48xlarge");
    assert!(!AllReduce::for_tp(&g1, 64).in_domain());
    let a = AllReduce::for_tp(&g1, 256);
    assert!(a.in_domain());
    let alpha = g1.chip.link.latency_us * 1e3;
    let ad = g1.instance.ultraserver.unwrap().link_latency_us * 1e3;
    assert!(close(a.on_chip_ns(N), 6.0 * alpha + 6.0 * N / 2450.0));
    assert!(close(a.chip_ns(N), 30.0 * alpha + 30.0 / 16.0 * N / 1280.0));
    assert!(close(a.cross_instance_ns(N), 6.0 * ad + 1.5 * (N / 16.0) / 1099.5));
    // Gen2 (36 servers of 4 chips): TP64 spans 4 servers; each chip moves a quarter.
    let g2 = hw("trn3-gen2-server");
    let b = AllReduce::for_tp(&g2, 64);
    assert!(b.in_domain());
    assert_eq!(b.instances, 4);
    assert!(close(b.chip_ns(N), 6.0 * alpha + 1.5 * N / 1280.0));
    assert!(close(b.cross_instance_ns(N), 6.0 * ad + 1.5 * (N / 4.0) / 1099.5));
    // An EP64 all-to-all there is flat: 16 chips, 4 ranks each; each chip sends r² · N/64 =
    // N/4 to each of the 15 others: 15 α_d + 15 · (N/4) / 1099.5 (plus the on-chip level).
    let x = AllToAll::for_group(&g2, 64);
    assert_eq!(x.cross_instance_ns(N), 0.0);
    assert!(close(x.chip_ns(N), 15.0 * ad + 15.0 * (N / 4.0) / 1099.5));
}

/// A Trn2 UltraServer keeps its ring of members (`fabric` defaults to "ring"): its all-to-all
/// levels stay apart.
#[test]
fn trn2_ultraserver_keeps_its_ring_of_members() {
    let u = hw("trn2u.48xlarge");
    assert_eq!(u.instance.ultraserver.unwrap().fabric, DomainFabric::Ring);
    assert!(AllReduce::for_tp(&u, 128).in_domain());
    assert!(AllToAll::for_group(&u, 128).cross_instance_ns(N) > 0.0);
}
