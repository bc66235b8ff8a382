//! The likely cause of a set of TTFT misses, from their summed attribution and the replicas'
//! state while they waited. The rules, in order (shares of the misses' summed TTFT):
//!
//! 1. network + KV transfer ≥ 40 %: a slow network;
//! 2. front end ≥ 40 %: the host CPU (front-end tier, tokenizer);
//! 3. preemption ≥ 30 %: a preemption storm (KV pressure on running sequences);
//! 4. prefix fetches ≥ 30 %: cache thrash (prefixes fetched from the host or remote tier);
//! 5. queueing ≥ 40 %, then: KV-starved when waiting for KV blocks is most of the queueing;
//!    imbalance when the fewest replicas holding 90 % of the queueing are at most half of them
//!    and hold ≥ 75 % of the misses; a burst when the arrival rate in the window (or just before it) was
//!    ≥ 2 × the run's; head-of-line blocking by long prefills (prefill work) when waiting for the
//!    step in flight or the token budget is most of the queueing; otherwise sustained overload;
//! 6. else the prefills themselves (long prompts, prompts sharing steps).

use super::{BINS, Episode, Point};
use crate::metrics::RequestRow;
use crate::metrics::attribution::{Part, Parts};
use crate::sim::timeline::Timeline;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Cause {
    SlowNetwork,
    HostCpu,
    PreemptionStorm,
    CacheThrash,
    Imbalance,
    KvStarved,
    Burst,
    Overload,
    Prefill,
    None,
}

impl Cause {
    pub fn label(self) -> &'static str {
        match self {
            Cause::SlowNetwork => "slow network",
            Cause::HostCpu => "host CPU (front end)",
            Cause::PreemptionStorm => "preemption storm",
            Cause::CacheThrash => "cache thrash",
            Cause::Imbalance => "imbalance",
            Cause::KvStarved => "KV-starved replica",
            Cause::Burst => "burst",
            Cause::Overload => "sustained overload",
            Cause::Prefill => "prefill work",
            Cause::None => "none",
        }
    }
}

/// Per replica, per window: (start s, mean queued, mean KV use %).
pub type ReplicaSeries = Vec<Vec<(f64, f64, f64)>>;

/// The run cut into windows: arrivals and, per replica, mean queue and KV use per window.
pub struct Span {
    pub end_s: f64,
    arrivals: Vec<u64>,
    /// [bin][replica] (Σ queued, Σ kv %, steps).
    state: Vec<Vec<(f64, f64, u64)>>,
    replicas: usize,
}

impl Span {
    pub fn new(rows: &[RequestRow], tl: &Timeline, end_s: f64) -> Span {
        let replicas = (tl.replicas as usize).max(1);
        let mut s = Span {
            end_s,
            arrivals: vec![0; BINS],
            state: vec![vec![(0.0, 0.0, 0); replicas]; BINS],
            replicas,
        };
        for r in rows {
            let b = s.bin(r.arrival_s);
            s.arrivals[b] += 1;
        }
        for st in &tl.steps {
            let b = s.bin(st.start_ns as f64 * 1e-9);
            let e = &mut s.state[b][(st.replica as usize).min(replicas - 1)];
            e.0 += st.queued as f64;
            e.1 += 100.0 * st.kv_used_blocks as f64 / st.kv_total_blocks.max(1) as f64;
            e.2 += 1;
        }
        s
    }

    pub fn bin(&self, t_s: f64) -> usize {
        ((t_s / self.end_s * BINS as f64) as usize).min(BINS - 1)
    }
    fn bin_start(&self, b: usize) -> f64 {
        self.end_s * b as f64 / BINS as f64
    }

    /// Mean queued per replica over bins `from..=to`.
    fn mean_queue(&self, from: usize, to: usize) -> Vec<f64> {
        (0..self.replicas)
            .map(|i| {
                let (q, n) = (from..=to).fold((0.0, 0u64), |(q, n), b| {
                    (q + self.state[b][i].0, n + self.state[b][i].2)
                });
                q / n.max(1) as f64
            })
            .collect()
    }

    /// Arrival rate over bins `from..=to` against the run's.
    fn rate_ratio(&self, from: usize, to: usize) -> f64 {
        let n: u64 = self.arrivals[from..=to].iter().sum();
        let all: u64 = self.arrivals.iter().sum();
        let frac = (to - from + 1) as f64 / BINS as f64;
        n as f64 / (all as f64 * frac).max(1e-9)
    }

    /// Per window: the queue (summed over replicas), the most used KV cache, the TTFT p99 of
    /// the requests that arrived in it; and per replica (t, mean queued, mean KV %).
    pub fn series(&self, rows: &[RequestRow]) -> (Vec<Point>, ReplicaSeries) {
        let mut ttft: Vec<Vec<f64>> = vec![Vec::new(); BINS];
        for r in rows {
            ttft[self.bin(r.arrival_s)].push(r.ttft_ms);
        }
        let mut per_replica = vec![Vec::new(); self.replicas];
        let points = (0..BINS)
            .map(|b| {
                let mut q = 0.0;
                let mut kv: f64 = 0.0;
                for (i, &(sq, skv, n)) in self.state[b].iter().enumerate() {
                    let n = n.max(1) as f64;
                    q += sq / n;
                    kv = kv.max(skv / n);
                    per_replica[i].push((self.bin_start(b), sq / n, skv / n));
                }
                let p99 = super::p99_nearest_rank(&mut ttft[b]).unwrap_or(f64::NAN);
                Point {
                    t_s: self.bin_start(b),
                    queued: q,
                    kv_used_pct: kv,
                    ttft_p99_ms: p99,
                }
            })
            .collect();
        (points, per_replica)
    }
}

/// The cause of `missed` (requests that arrived between `from_s` and `to_s`), and why.
pub fn classify(missed: &[&RequestRow], span: &Span, from_s: f64, to_s: f64) -> (Cause, String) {
    let mut sum = Parts::default();
    for r in missed {
        sum.accumulate(&r.ttft_parts);
    }
    let total = sum.total() as f64;
    if total <= 0.0 {
        return (Cause::None, "no request missed the target".to_string());
    }
    let share = |parts: &[Part]| parts.iter().map(|&p| sum.get(p) as f64).sum::<f64>() / total;
    let pct = |x: f64| format!("{:.0} %", 100.0 * x);
    let net = share(&[Part::Network, Part::KvTransfer]);
    if net >= 0.4 {
        return (
            Cause::SlowNetwork,
            format!("network and KV transfer are {} of the misses' TTFT", pct(net)),
        );
    }
    let front = share(&[Part::Frontend]);
    if front >= 0.4 {
        return (
            Cause::HostCpu,
            format!("the front end (tier, tokenizer) is {} of their TTFT", pct(front)),
        );
    }
    let pre = share(&[Part::Preempt]);
    if pre >= 0.3 {
        return (
            Cause::PreemptionStorm,
            format!("preemptions are {} of their TTFT", pct(pre)),
        );
    }
    let fetch = share(&[Part::Fetch]);
    if fetch >= 0.3 {
        return (
            Cause::CacheThrash,
            format!(
                "prefix fetches from the host/remote tier are {} of their TTFT",
                pct(fetch)
            ),
        );
    }
    let queue: Vec<Part> = Part::ALL.iter().copied().filter(|p| p.is_queue()).collect();
    let q = share(&queue);
    if q < 0.4 {
        return (
            Cause::Prefill,
            format!(
                "queueing is only {}; prefill work (own and others' in the same steps) is the rest",
                pct(q)
            ),
        );
    }
    classify_queue(missed, span, (from_s, to_s), &sum, q)
}

/// Rule 5: misses that mostly queued.
fn classify_queue(
    missed: &[&RequestRow],
    span: &Span,
    (from_s, to_s): (f64, f64),
    sum: &Parts,
    q: f64,
) -> (Cause, String) {
    let total = sum.total() as f64;
    let pct = |x: f64| format!("{:.0} %", 100.0 * x);
    let kv = sum.get(Part::QueueKv) as f64 / (q * total);
    if kv >= 0.5 {
        return (
            Cause::KvStarved,
            format!(
                "queueing is {} of their TTFT, {} of it waiting for KV blocks",
                pct(q),
                pct(kv)
            ),
        );
    }
    let (from, to) = (span.bin(from_s), span.bin(to_s));
    if let Some(why) = imbalance(missed, span) {
        return (Cause::Imbalance, why);
    }
    let before = from.saturating_sub(2);
    let rate = span.rate_ratio(before, to).max(span.rate_ratio(from, to));
    if rate >= 2.0 {
        return (
            Cause::Burst,
            format!(
                "queueing is {} of their TTFT; arrivals ran at {rate:.1} × the run's rate",
                pct(q)
            ),
        );
    }
    // Without a burst, queueing mostly behind the step in flight or for the token budget (both
    // held by other prompts' prefills) is head-of-line blocking by long prefills, not load
    // beyond the replicas' rate.
    let step = (sum.get(Part::QueueStep) + sum.get(Part::QueueBudget)) as f64 / (q * total);
    if step >= 0.5 {
        return (
            Cause::Prefill,
            format!(
                "queueing is {} of their TTFT, {} of it waiting for the step in flight or the token budget, at {rate:.1} × the run's arrival rate: long prefills ahead of them (chunked prefill bounds such a wait)",
                pct(q),
                pct(step)
            ),
        );
    }
    (
        Cause::Overload,
        format!(
            "queueing is {} of their TTFT at {rate:.1} × the run's arrival rate: sustained load",
            pct(q)
        ),
    )
}

/// Imbalance: the fewest replicas that hold 90 % of the queueing (mean queue over the run)
/// are at most half of them, and they hold at least 75 % of the misses.
fn imbalance(missed: &[&RequestRow], span: &Span) -> Option<String> {
    let n = span.replicas;
    if n < 2 || missed.is_empty() {
        return None;
    }
    let mq = span.mean_queue(0, BINS - 1);
    let total: f64 = mq.iter().sum();
    if total <= 0.0 {
        return None;
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| mq[b].total_cmp(&mq[a]).then(a.cmp(&b)));
    let (mut held, mut hot) = (0.0, Vec::new());
    for &i in &order {
        if held >= 0.9 * total {
            break;
        }
        held += mq[i];
        hot.push(i);
    }
    let on_hot = missed.iter().filter(|r| hot.contains(&(r.replica as usize))).count();
    (hot.len() * 2 <= n && on_hot as f64 >= 0.75 * missed.len() as f64).then(|| {
        format!(
            "replica(s) {hot:?} of {n} hold {:.0} % of the queueing and {on_hot} of the {} misses",
            100.0 * held / total,
            missed.len()
        )
    })
}

/// Windows with misses, merged while adjacent, each with its cause (the 5 with most misses).
pub fn episodes(rows: &[RequestRow], missed: &[&RequestRow], span: &Span, end_s: f64) -> Vec<Episode> {
    let mut per_bin = vec![Vec::new(); BINS];
    for &r in missed {
        per_bin[span.bin(r.arrival_s)].push(r);
    }
    let mut arrivals = vec![0u64; BINS];
    for r in rows {
        arrivals[span.bin(r.arrival_s)] += 1;
    }
    let mut out = Vec::new();
    let mut b = 0;
    while b < BINS {
        if per_bin[b].is_empty() {
            b += 1;
            continue;
        }
        let start = b;
        while b < BINS && !per_bin[b].is_empty() {
            b += 1;
        }
        let group: Vec<&RequestRow> = per_bin[start..b].iter().flatten().copied().collect();
        let (from_s, to_s) = (end_s * start as f64 / BINS as f64, end_s * b as f64 / BINS as f64);
        let (cause, why) = classify(&group, span, from_s, to_s - 1e-12);
        out.push(Episode {
            from_s,
            to_s,
            misses: group.len() as u64,
            arrivals: arrivals[start..b].iter().sum(),
            cause,
            why,
        });
    }
    out.sort_by(|a, b| b.misses.cmp(&a.misses).then(a.from_s.total_cmp(&b.from_s)));
    out.truncate(5);
    out
}
