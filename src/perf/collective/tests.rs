//! Each level against its closed form, worked by hand; the torus against an explicit count of
//! the bytes on every directed link; monotonicity; and the no-overcount property.

use super::fabric::{Dim, Fabric, torus_dims};
use super::*;
use crate::hw::Catalog;

fn hw(instance: &str) -> Hardware {
    Catalog::builtin().unwrap().hardware(instance).unwrap()
}

/// Relative closeness (the closed forms are written in another order of operations).
fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

const N: f64 = 1e6; // bytes per rank (a decode step's activations: 64 rows × 8192 × bf16 ≈ 1 MB)

#[test]
fn trn2_tp64_is_four_ranks_on_chip_then_a_4x4_torus() {
    let h = hw("trn2.48xlarge");
    let a = AllReduce::for_tp(&h, 64);
    let alpha = h.chip.link.latency_us * 1e3;
    let fixed = h.chip.efficiency.collective_latency_us * 1e3;
    // Level 0: ring of r = 4 ranks over HBM / 2 = 2900 / 2 = 1450 GB/s shared by 4 flows
    // (362.5 GB/s each): 2·3 α + 2·3/4 · N / 362.5 = 6 α + 6 N / 1450.
    assert!(close(a.on_chip_ns(N), 6.0 * alpha + 6.0 * N / 1450.0));
    // Level 1: 4 × 4 torus, B = 512 GB/s over 4 links: β_l = 128, a closed ring dimension
    // 2β_l = 256. Phase 1: RS of N/2 along x and y at once: 3 α + 3/4 · N/2 / 256; phase 2: RS
    // of N/8: 3 α + 3/4 · N/8 / 256; all-gathers mirror:
    // 2 · (6 α + (3/8 + 3/32) N / 256) = 12 α + 15/16 · N / 256 = 12 α + 1.875 N / 512.
    assert!(close(a.chip_ns(N), 12.0 * alpha + 1.875 * N / 512.0));
    assert_eq!(a.cross_instance_ns(N), 0.0);
    assert!(close(
        a.time_ns(N),
        fixed + 18.0 * alpha + 6.0 * N / 1450.0 + 1.875 * N / 512.0
    ));
    // The old model: a 64-rank ring at 512/4 = 128 GB/s a rank: 2·63/64 · N / 128 = 0.01538 N.
    // The chip term is 4.2× smaller (1.875/512 = 0.00366 N); with the on-chip term
    // (6/1450 = 0.00414 N) the bandwidth part is 0.00780 N, 1.97× smaller.
    let old_bw = 2.0 * 63.0 / 64.0 * N / 128.0;
    let new_bw = 6.0 * N / 1450.0 + 1.875 * N / 512.0;
    assert!((old_bw / new_bw - 1.97).abs() < 0.01, "{}", old_bw / new_bw);
    assert!((old_bw / (1.875 * N / 512.0) - 4.2).abs() < 0.01);
}

#[test]
fn trn1_tp32_is_two_cores_on_chip_then_a_4x4_torus() {
    let h = hw("trn1.32xlarge");
    let a = AllReduce::for_tp(&h, 32);
    let alpha = h.chip.link.latency_us * 1e3;
    // Level 0: r = 2 over 880.5 / 2 = 440.25 GB/s, 220.125 each: 2 α + 2·1/2 · N / 220.125
    // = 2 α + 2 N / 440.25.
    assert!(close(a.on_chip_ns(N), 2.0 * alpha + 2.0 * N / 440.25));
    // Level 1: B = 192, β_l = 48, closed dimension 96: 12 α + 15/16 · N / 96 = 12 α + 1.875 N / 192.
    assert!(close(a.chip_ns(N), 12.0 * alpha + 1.875 * N / 192.0));
}

#[test]
fn inf2_tp24_is_two_cores_on_chip_then_a_ring_of_12() {
    let h = hw("inf2.48xlarge");
    let a = AllReduce::for_tp(&h, 24);
    let alpha = h.chip.link.latency_us * 1e3;
    assert!(close(a.on_chip_ns(N), 2.0 * alpha + 2.0 * N / 440.25));
    // Level 1: 12 chips, the whole ring: two counter-rotating rings, 2 · 103.1/2 = 103.1 GB/s:
    // 2·11 α + 2·11/12 · N / 103.1.
    assert!(close(a.chip_ns(N), 22.0 * alpha + 22.0 / 12.0 * N / 103.1));
    // TP8 on inf2.48xlarge: 4 chips of the 12-ring form a line, one link each way (51.55 GB/s):
    // 2·3 α + 2·3/4 · N / 51.55.
    let a8 = AllReduce::for_tp(&h, 8);
    assert!(close(a8.chip_ns(N), 6.0 * alpha + 1.5 * N / 51.55));
}

#[test]
fn p5_tp8_is_a_ring_over_nvswitch() {
    let h = hw("p5.48xlarge");
    let a = AllReduce::for_tp(&h, 8);
    let alpha = h.chip.link.latency_us * 1e3;
    // No on-chip level (one rank a GPU); every GPU has all of its 450 GB/s to the switch:
    // 2·7 α + 2·7/8 · N / 450.
    assert_eq!(a.on_chip_ns(N), 0.0);
    assert!(close(a.chip_ns(N), 14.0 * alpha + 1.75 * N / 450.0));
}

#[test]
fn two_p5_instances_all_reduce_over_efa() {
    let h = hw("p5.48xlarge");
    let a = AllReduce::for_tp(&h, 16);
    let efa_alpha = h.instance.efa_latency_us * 1e3;
    assert_eq!((a.local_ranks, a.instances), (8, 2));
    // Level 2: each instance's whole message over its 3200 Gbit/s = 400 B/ns EFA, a ring of 2:
    // 2·1 α + 2·1/2 · N / 400.
    assert!(close(a.cross_instance_ns(N), 2.0 * efa_alpha + N / 400.0));
    // Tree of 2: 2·⌈log₂ 2⌉ α + 2 N / 400.
    let t = a.with_algorithm(AllReduceAlgorithm::Tree);
    assert!(close(t.cross_instance_ns(N), 2.0 * efa_alpha + 2.0 * N / 400.0));
    // Trn2 UltraServer, 2 members (TP128): each of the 16 chips moves N/16 over its own
    // 128 GB/s link: 2 α_u + 2·1/2 · (N/16) / 128.
    let u = hw("trn2u.48xlarge");
    let au = AllReduce::for_tp(&u, 128);
    let ua = u.instance.ultraserver.unwrap().link_latency_us * 1e3;
    assert!(close(au.cross_instance_ns(N), 2.0 * ua + N / 16.0 / 128.0));
}

#[test]
fn partial_tori_are_rows_then_blocks() {
    let h = hw("trn2.48xlarge");
    assert_eq!(torus_dims(16), (4, 4));
    assert_eq!(torus_dims(12), (3, 4));
    assert_eq!(torus_dims(7), (1, 7));
    let alpha = h.chip.link.latency_us * 1e3;
    // TP8 = 2 chips: a line of 2 on one link each way (128 GB/s): 2 · (α + 1/2 · N / 128).
    assert!(close(AllReduce::for_tp(&h, 8).chip_ns(N), 2.0 * alpha + N / 128.0));
    // TP16 = 4 chips: a whole row, closed (256 GB/s): 2 · (3 α + 3/4 · N / 256).
    assert!(close(
        AllReduce::for_tp(&h, 16).chip_ns(N),
        6.0 * alpha + 1.5 * N / 256.0
    ));
    // TP32 = 8 chips: a closed row of 4 × a line of 2 (128 GB/s), in lockstep halves.
    let rs = |k: f64, bw: f64, m: f64| (k - 1.0) * alpha + (k - 1.0) / k * m / bw;
    let want = 2.0
        * (rs(4.0, 256.0, N / 2.0).max(rs(2.0, 128.0, N / 2.0)) + rs(2.0, 128.0, N / 8.0).max(rs(4.0, 256.0, N / 4.0)));
    assert!(close(AllReduce::for_tp(&h, 32).chip_ns(N), want));
}

/// The directed links of an a × b torus (x along a, y along b) as the group uses it, and the
/// bytes an explicit run of the halves algorithm puts on each, phase by phase: returns the sum
/// over phases of the busiest link's bytes.
fn simulate_torus_allreduce(x: Dim, y: Dim, n: f64) -> f64 {
    use std::collections::HashMap;
    // One ring reduce-scatter of m bytes per chip along dimension `axis` of every line at once,
    // adding each step's bytes to the directed links it uses.
    let rs = |load: &mut HashMap<(u32, u32, u32, i32), f64>, d: Dim, other: u32, axis: u32, m: f64| {
        let k = d.chips;
        for _step in 1..k {
            for line in 0..other {
                for i in 0..k {
                    if d.wrap {
                        // Two counter-rotating rings, half each.
                        *load.entry((axis, line, i, 1)).or_default() += m / k as f64 / 2.0;
                        *load.entry((axis, line, i, -1)).or_default() += m / k as f64 / 2.0;
                    } else {
                        // A ring embedded in a line: i → i+1 for i < k−1, and k−1 back to 0 over
                        // every link the other way.
                        if i + 1 < k {
                            *load.entry((axis, line, i, 1)).or_default() += m / k as f64;
                        }
                        if i > 0 {
                            *load.entry((axis, line, i, -1)).or_default() += m / k as f64;
                        }
                    }
                }
            }
        }
    };
    let (a, b) = (x.chips, y.chips);
    let mut total = 0.0;
    for (mx, my) in [(n / 2.0, n / 2.0), (n / 2.0 / b as f64, n / 2.0 / a as f64)] {
        let mut load = HashMap::new();
        // Phase 1: half A along x, half B along y; phase 2 the other way round.
        rs(&mut load, x, b, 0, mx);
        rs(&mut load, y, a, 1, my);
        let busiest = load
            .iter()
            .map(|(&(axis, ..), &v)| {
                v / if axis == 0 {
                    x.link_bytes_per_ns
                } else {
                    y.link_bytes_per_ns
                }
            })
            .fold(0.0, f64::max);
        total += busiest;
    }
    2.0 * total // all-gathers mirror the reduce-scatters
}

#[test]
fn torus_all_reduce_charges_exactly_the_bytes_its_links_carry() {
    // α = 0: only bandwidth. The model's time equals the busiest link's bytes / β_l summed over
    // the phases of an explicit run (no link is charged for bytes it does not carry), and is
    // never below the bound of a chip sending 2(p−1)/p · n over all its egress B.
    let b = 512.0;
    for (x, y) in [(4, 4), (4, 2), (4, 1), (2, 1)] {
        let x = Dim {
            chips: x,
            wrap: x == 4,
            link_bytes_per_ns: b / 4.0,
        };
        let y = Dim {
            chips: y,
            wrap: y == 4,
            link_bytes_per_ns: b / 4.0,
        };
        let f = Fabric::Torus { x, y, latency_ns: 0.0 };
        let model = f.allreduce_ns(N);
        let p = f.chips() as f64;
        let bound = 2.0 * (p - 1.0) / p * N / b;
        assert!(model >= bound * (1.0 - 1e-12), "{x:?} {y:?}: {model} < bound {bound}");
        if y.chips > 1 {
            assert!(close(model, simulate_torus_allreduce(x, y, N)), "{x:?} {y:?}");
        } else {
            // One dimension: 2 RS of N, each step N/k on every directed link used.
            let k = x.chips as f64;
            let per_link = 2.0 * (k - 1.0) / k * N / if x.wrap { 2.0 } else { 1.0 };
            assert!(close(model, per_link / x.link_bytes_per_ns));
        }
    }
    // The full 4 × 4 torus reaches the bound: every link busy all the time.
    let d = Dim {
        chips: 4,
        wrap: true,
        link_bytes_per_ns: b / 4.0,
    };
    let f = Fabric::Torus {
        x: d,
        y: d,
        latency_ns: 0.0,
    };
    assert!(close(f.allreduce_ns(N), 2.0 * 15.0 / 16.0 * N / b));
}

#[test]
fn no_level_charges_more_bytes_than_the_algorithm_moves() {
    // The per-chip bandwidth term of each hierarchical all-reduce, against the bytes the
    // algorithm must move over that chip's links (2(C−1)/C · n a chip, whatever its rank count),
    // at the chip's whole egress B: ≤ twice it (a line segment uses half the links), never the
    // ×ranks_per_chip of a per-rank ring.
    for (inst, tp) in [
        ("trn2.48xlarge", 64),
        ("trn1.32xlarge", 32),
        ("inf2.48xlarge", 24),
        ("p5.48xlarge", 8),
    ] {
        let mut h = hw(inst);
        h.chip.link.latency_us = 0.0;
        let a = AllReduce::for_tp(&h, tp);
        let c = a.fabric.chips() as f64;
        let must = 2.0 * (c - 1.0) / c * N / h.chip.link.bandwidth_gb_s;
        let charged = a.chip_ns(N);
        assert!(
            charged >= must * (1.0 - 1e-12) && charged <= must * (1.0 + 1e-12),
            "{inst}: {charged} vs {must}"
        );
    }
}

/// A collective library that achieves a fraction f of the links' bandwidth
/// (`efficiency.collective_bandwidth`) takes 2(C−1)/C · n / (f · B) on the chip fabric: at
/// f = 0.5 exactly twice the time at full bandwidth.
#[test]
fn collective_bandwidth_efficiency_scales_the_chip_fabric_term() {
    let mut h = hw("p5.48xlarge");
    h.chip.link.latency_us = 0.0;
    let full = AllReduce::for_tp(&h, 8).chip_ns(N);
    h.chip.efficiency.collective_bandwidth = 0.5;
    let half = AllReduce::for_tp(&h, 8).chip_ns(N);
    let must = 2.0 * 7.0 / 8.0 * N / (0.5 * h.chip.link.bandwidth_gb_s);
    assert!((half - must).abs() <= must * 1e-12, "{half} vs {must}");
    assert!((half - 2.0 * full).abs() <= half * 1e-12);
}

#[test]
fn more_bytes_never_faster_more_bandwidth_never_slower() {
    let cases = [
        ("trn2.48xlarge", vec![4, 8, 16, 32, 64, 128]),
        ("trn2u.48xlarge", vec![64, 128, 256]),
        ("trn1.32xlarge", vec![2, 8, 32, 64]),
        ("inf2.48xlarge", vec![2, 8, 24, 48]),
        ("p5.48xlarge", vec![2, 8, 16, 32]),
        ("p4de.24xlarge", vec![4, 8, 24]),
    ];
    for (inst, tps) in cases {
        let h = hw(inst);
        let mut fast = h.clone();
        fast.chip.link.bandwidth_gb_s *= 2.0;
        fast.chip.hbm_bandwidth_gb_s *= 2.0;
        fast.instance.efa_gbps *= 2.0;
        if let Some(u) = fast.instance.ultraserver.as_mut() {
            u.link_gb_s *= 2.0;
        }
        for tp in tps {
            for alg in [AllReduceAlgorithm::Ring, AllReduceAlgorithm::Tree] {
                let slow = AllReduce::for_tp(&h, tp).with_algorithm(alg);
                let quick = AllReduce::for_tp(&fast, tp).with_algorithm(alg);
                let (s2a, f2a) = (AllToAll::for_group(&h, tp), AllToAll::for_group(&fast, tp));
                let mut last = (0.0, 0.0);
                for bytes in [0.0, 1.0, 1e3, 1e5, 1e6, 1e8] {
                    let t = (slow.time_ns(bytes), s2a.time_ns(bytes));
                    assert!(t.0.is_finite() && t.1.is_finite(), "{inst} tp{tp}");
                    assert!(
                        t.0 >= last.0 && t.1 >= last.1,
                        "{inst} tp{tp} {bytes}: {t:?} < {last:?}"
                    );
                    assert!(quick.time_ns(bytes) <= t.0, "{inst} tp{tp} {bytes}");
                    assert!(f2a.time_ns(bytes) <= t.1, "{inst} tp{tp} {bytes}");
                    last = t;
                }
            }
        }
    }
}

#[test]
fn all_to_all_levels_against_closed_forms() {
    let h = hw("trn2.48xlarge");
    let alpha = h.chip.link.latency_us * 1e3;
    let fixed = h.chip.efficiency.collective_latency_us * 1e3;
    let a = AllToAll::for_group(&h, 64);
    let m = N / 64.0; // to each member
    // Level 0: 4 ranks, each sends m to 3 peers: 12 m through 1450 GB/s, 3 rounds.
    assert!(close(a.on_chip_ns(N), 3.0 * alpha + 12.0 * m / 1450.0));
    // Level 1: chip to chip v = 4 · 4 · m = 16 m; closed ring of 4 carries (1+2+1)/2 = 2 pairs'
    // bytes a link; an x link serves 4 rows' worth: 8 v = 128 m over β_l = 128: m ns; 15 rounds.
    assert!(close(a.chip_ns(N), 15.0 * alpha + 128.0 * m / 128.0));
    assert!(close(a.time_ns(N), fixed + 18.0 * alpha + 12.0 * m / 1450.0 + m));
    // Never below the chip's egress bound: 15 v over B = 512.
    assert!(a.chip_ns(N) - 15.0 * alpha >= 15.0 * 16.0 * m / 512.0);

    // p5, 16 ranks over 2 instances: 7 GPUs a peer over NVSwitch (m = N/16 each), then each
    // instance's 8 ranks send 8 m each to the other instance: 64 m over 400 B/ns EFA, 1 round.
    let p = hw("p5.48xlarge");
    let a = AllToAll::for_group(&p, 16);
    let (pa, ea) = (p.chip.link.latency_us * 1e3, p.instance.efa_latency_us * 1e3);
    let m = N / 16.0;
    assert_eq!(a.on_chip_ns(N), 0.0);
    assert!(close(a.chip_ns(N), 7.0 * pa + 7.0 * m / 450.0));
    assert!(close(a.cross_instance_ns(N), ea + 64.0 * m / 400.0));

    // inf2, 24 ranks: 2 a chip (m = N/24); the 12-ring carries Σ min(d, 12−d) / 2 = 36/2 = 18
    // pairs' bytes a link, v = 4 m, at β_l = 51.55.
    let i = hw("inf2.48xlarge");
    let a = AllToAll::for_group(&i, 24);
    let ia = i.chip.link.latency_us * 1e3;
    let m = N / 24.0;
    assert!(close(a.chip_ns(N), 11.0 * ia + 18.0 * 4.0 * m / 51.55));
}

#[test]
fn all_to_all_link_loads_match_explicit_routing() {
    // Route every ordered pair of a torus dimension by dimension on shortest paths (equidistant
    // pairs split half each way) and count each directed link's pairs.
    for (a, b, wa, wb) in [
        (4u32, 4u32, true, true),
        (4, 2, true, false),
        (12, 1, true, false),
        (4, 1, false, false),
    ] {
        let mut load = std::collections::HashMap::<(u32, u32, u32, i32), f64>::new();
        let walk = |load: &mut std::collections::HashMap<(u32, u32, u32, i32), f64>,
                    axis,
                    line,
                    from: u32,
                    to: u32,
                    k: u32,
                    wrap: bool| {
            if from == to {
                return;
            }
            let fwd = (to + k - from) % k;
            let ways: Vec<(i32, u32, f64)> = if !wrap {
                vec![(if to > from { 1 } else { -1 }, from.abs_diff(to), 1.0)]
            } else if 2 * fwd == k {
                vec![(1, fwd, 0.5), (-1, fwd, 0.5)]
            } else if 2 * fwd < k {
                vec![(1, fwd, 1.0)]
            } else {
                vec![(-1, k - fwd, 1.0)]
            };
            for (dir, hops, w) in ways {
                let mut at = from;
                for _ in 0..hops {
                    // The link leaving `at` in direction `dir`.
                    *load.entry((axis, line, at, dir)).or_default() += w;
                    at = (at as i64 + dir as i64).rem_euclid(k as i64) as u32;
                }
            }
        };
        for (sx, sy) in (0..a).flat_map(|x| (0..b).map(move |y| (x, y))) {
            for (dx, dy) in (0..a).flat_map(|x| (0..b).map(move |y| (x, y))) {
                walk(&mut load, 0, sy, sx, dx, a, wa); // along x in the source's row
                walk(&mut load, 1, dx, sy, dy, b, wb); // then along y in the destination's column
            }
        }
        let busiest = load.values().cloned().fold(0.0, f64::max);
        let x = Dim {
            chips: a,
            wrap: wa,
            link_bytes_per_ns: 1.0,
        };
        let y = Dim {
            chips: b,
            wrap: wb,
            link_bytes_per_ns: 1.0,
        };
        let f = Fabric::Torus { x, y, latency_ns: 0.0 };
        assert!(
            close(f.all_to_all_ns(1.0), busiest),
            "{a}x{b}: {} vs {busiest}",
            f.all_to_all_ns(1.0)
        );
    }
}
