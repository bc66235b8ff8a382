//! Expert load balance: where the experts sit (a static contiguous split, or DeepSeek's expert
//! parallelism load balancer with redundant replicas of the hottest experts) and the expected
//! load of the busiest group in a step of T tokens.
//!
//! A step routes T·k token-expert assignments; group g receives n_g of them, a multinomial with
//! shares s_g. The busiest group sets the pace, so what matters is E[max_g n_g], not the mean. In
//! the Gaussian limit with equal shares the multinomial is n_g = μ + √μ · (Z_g − Z̄), Z iid
//! standard normal (covariance μ(I − J/n), as the multinomial's), so
//! E[max] = μ + √μ · e_n, e_n the expected maximum of n standard normals (the constraint Σ n_g =
//! T·k removes Z̄, whose mean is 0). e_n is Blom's approximation Φ⁻¹((n − 0.375)/(n + 0.25)),
//! within 4 % of the exact value at n = 2 and 1 % from n = 8 on; the extreme-value form
//! √(2 ln n) overstates e_8 by 43 %. With unequal shares each group is taken at μ_g + √μ_g · e_n
//! and the largest wins (exact for equal shares, an upper estimate otherwise). Top-k picks
//! distinct experts, which lowers the variance by (E − k)/(E − 1) (3 % for 8 of 256): ignored.

/// Expected maximum of `n` independent standard normals (Blom's plotting position).
pub fn expected_max_std_normal(n: u32) -> f64 {
    if n <= 1 {
        return 0.0;
    }
    let n = n as f64;
    inverse_normal_cdf((n - 0.375) / (n + 0.25))
}

/// Φ⁻¹(p) for p in (0, 1): Acklam's rational approximation (relative error below 1.2e-9).
pub fn inverse_normal_cdf(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    const LOW: f64 = 0.02425;
    if p < LOW {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - LOW {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

/// Expected assignments the busiest group receives out of `assignments` (T·k), groups with
/// shares `group_shares`, `z` = [`expected_max_std_normal`] of the group count. Never above
/// `cap` (a group takes at most min(k, its experts) of a token's k picks).
pub fn expected_max_load(assignments: f64, group_shares: &[f64], z: f64, cap: f64) -> f64 {
    if assignments <= 0.0 {
        return 0.0;
    }
    let busiest = group_shares
        .iter()
        .map(|&s| {
            let mu = assignments * s;
            mu + mu.sqrt() * z
        })
        .fold(0.0, f64::max);
    busiest.min(cap)
}

/// Where the experts of one MoE layer sit: each group's routing share, and the share of each
/// expert replica in the busiest group (for the weights it reads).
#[derive(Debug, Clone, PartialEq)]
pub struct Placement {
    pub group_shares: Vec<f64>,
    pub busiest_replicas: Vec<f64>,
}

/// Static placement: experts split into `ep` contiguous groups of E/ep.
fn contiguous(shares: &[f64], ep: usize) -> Vec<Vec<f64>> {
    let per_group = shares.len().div_ceil(ep).max(1);
    shares.chunks(per_group).map(<[f64]>::to_vec).collect()
}

/// DeepSeek's EPLB (deepseek-ai/EPLB): `redundant` extra replicas go one by one to the expert
/// with the highest load per replica (its load split evenly over its replicas), then replicas,
/// heaviest first, are packed into the lightest group that has a free slot ((E + R)/ep slots a
/// group). Ties go to the lowest index, so the placement is deterministic.
fn balanced(shares: &[f64], ep: usize, redundant: usize) -> Vec<Vec<f64>> {
    let mut copies = vec![1usize; shares.len()];
    for _ in 0..redundant {
        let hottest = (0..shares.len())
            .max_by(|&a, &b| {
                let (la, lb) = (shares[a] / copies[a] as f64, shares[b] / copies[b] as f64);
                la.total_cmp(&lb).then(b.cmp(&a))
            })
            .unwrap_or(0);
        copies[hottest] += 1;
    }
    let mut replicas: Vec<f64> = shares
        .iter()
        .zip(&copies)
        .flat_map(|(&s, &c)| std::iter::repeat_n(s / c as f64, c))
        .collect();
    replicas.sort_by(|a, b| b.total_cmp(a));
    let slots = replicas.len().div_ceil(ep).max(1);
    let mut groups: Vec<Vec<f64>> = vec![Vec::with_capacity(slots); ep];
    let mut loads = vec![0.0f64; ep];
    for r in replicas {
        let g = (0..ep)
            .filter(|&g| groups[g].len() < slots)
            .min_by(|&a, &b| loads[a].total_cmp(&loads[b]).then(a.cmp(&b)))
            .unwrap_or(0);
        groups[g].push(r);
        loads[g] += r;
    }
    groups
}

/// The placement of `shares` over `ep` groups: contiguous when `redundant` is None, EPLB with
/// that many redundant replicas otherwise.
pub fn place(shares: &[f64], ep: u32, redundant: Option<u32>) -> Placement {
    let ep = ep.max(1) as usize;
    let groups = match redundant {
        None => contiguous(shares, ep),
        Some(r) => balanced(shares, ep, r as usize),
    };
    let group_shares: Vec<f64> = groups.iter().map(|g| g.iter().sum()).collect();
    let busiest = (0..groups.len())
        .max_by(|&a, &b| group_shares[a].total_cmp(&group_shares[b]).then(b.cmp(&a)))
        .unwrap_or(0);
    Placement {
        busiest_replicas: groups.get(busiest).cloned().unwrap_or_default(),
        group_shares,
    }
}

/// Expected distinct groups a token's top-k picks land in, experts spread evenly (E/ep a
/// group) and picked uniformly without replacement: ep · (1 − C(E − E/ep, k) / C(E, k)).
pub fn distinct_groups(experts: u32, top_k: u32, ep: u32) -> f64 {
    let (e, ep) = (experts.max(1) as f64, ep.max(1) as f64);
    let others = e - e / ep;
    let mut miss = 1.0;
    for i in 0..top_k {
        let i = i as f64;
        miss *= ((others - i) / (e - i)).max(0.0);
    }
    ep * (1.0 - miss)
}
