//! What a run measured: latency distributions, throughput, cost, energy, counts, and the
//! simulator's own figures. Percentiles interpolate linearly between closest ranks (numpy's
//! default), over exact sample buffers up to 262,144 samples per distribution and over a
//! streaming sketch with 0.1 % relative error beyond (see [`sketch`]).

pub mod accounting;
pub mod attribution;
mod features;
pub mod pricing;
pub mod purchase;
pub mod sessions;
pub mod sketch;
pub mod slo;
pub mod table;
pub mod tenants;
pub mod windows;

pub use features::{
    EncodePoolResult, KvOffloadResult, KvTierResult, LoraResult, MoeResult, MultimodalResult, PrefixCacheResult,
    SpeculativeResult,
};
pub use sketch::Sketch;

use serde::{Deserialize, Serialize};

/// A latency distribution in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Dist {
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub p999: f64,
}

/// Samples of one distribution: exact (f32 milliseconds) up to [`sketch::EXACT_SAMPLES`], then
/// folded into a [`Sketch`] with relative error [`sketch::RELATIVE_ERROR`], so memory stays
/// bounded however many requests a run has. The mean is always exact.
#[derive(Debug, Clone, Default)]
pub struct Samples {
    values: Vec<f32>,
    sketch: Option<Box<Sketch>>,
    sum: f64,
    n: u64,
}

impl Samples {
    pub fn push(&mut self, ms: f64) {
        self.sum += ms;
        self.n += 1;
        if let Some(s) = self.sketch.as_mut() {
            s.add(ms as f32 as f64, 1);
            return;
        }
        self.values.push(ms as f32);
        if self.values.len() > sketch::EXACT_SAMPLES {
            let mut s = Box::<Sketch>::default();
            for &v in &self.values {
                s.add(v as f64, 1);
            }
            self.values = Vec::new();
            self.sketch = Some(s);
        }
    }
    pub fn len(&self) -> usize {
        self.n as usize
    }
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }
    /// Whether the quantiles are exact (no more samples than [`sketch::EXACT_SAMPLES`]).
    pub fn is_exact(&self) -> bool {
        self.sketch.is_none()
    }
    pub fn summary(&self) -> Dist {
        if self.n == 0 {
            return Dist::default();
        }
        let mean = self.sum / self.n as f64;
        if let Some(s) = &self.sketch {
            return Dist {
                mean,
                p50: s.quantile(0.50),
                p90: s.quantile(0.90),
                p95: s.quantile(0.95),
                p99: s.quantile(0.99),
                p999: s.quantile(0.999),
            };
        }
        let mut keys: Vec<u32> = self.values.iter().map(|&x| order_key(x)).collect();
        radix_sort_by_key(&mut keys, |&k| k);
        let v: Vec<f32> = keys.into_iter().map(from_order_key).collect();
        Dist {
            mean,
            p50: quantile_sorted(&v, 0.50),
            p90: quantile_sorted(&v, 0.90),
            p95: quantile_sorted(&v, 0.95),
            p99: quantile_sorted(&v, 0.99),
            p999: quantile_sorted(&v, 0.999),
        }
    }
}

/// An f32 as an integer in the same total order (`f32::total_cmp`): integer sorts are several
/// times faster than sorts through a float comparison.
fn order_key(x: f32) -> u32 {
    let b = x.to_bits();
    if b >> 31 == 1 { !b } else { b | 0x8000_0000 }
}

/// Stable least-significant-digit radix sort on a 32-bit key: four counting passes of one byte
/// each (passes where every key has the same byte are skipped), O(n) instead of a comparison
/// sort's O(n log n).
fn radix_sort_by_key<T: Copy>(v: &mut [T], key: impl Fn(&T) -> u32) {
    if v.len() < 64 {
        v.sort_by_key(&key);
        return;
    }
    let mut counts = [[0usize; 256]; 4];
    for x in v.iter() {
        let k = key(x);
        for (b, c) in counts.iter_mut().enumerate() {
            c[((k >> (8 * b)) & 0xFF) as usize] += 1;
        }
    }
    let mut scratch: Vec<T> = Vec::with_capacity(v.len());
    for (b, c) in counts.iter().enumerate() {
        if c.contains(&v.len()) {
            continue;
        }
        let mut start = [0usize; 256];
        let mut acc = 0;
        for (s, &n) in start.iter_mut().zip(c.iter()) {
            *s = acc;
            acc += n;
        }
        scratch.clear();
        scratch.extend_from_slice(v);
        for x in scratch.iter() {
            let d = ((key(x) >> (8 * b)) & 0xFF) as usize;
            v[start[d]] = *x;
            start[d] += 1;
        }
    }
}

fn from_order_key(k: u32) -> f32 {
    f32::from_bits(if k >> 31 == 1 { k & 0x7FFF_FFFF } else { !k })
}

/// Linear interpolation between closest ranks of a sorted slice.
pub fn quantile_sorted(v: &[f32], q: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let pos = q.clamp(0.0, 1.0) * (v.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    let frac = pos - lo as f64;
    v[lo] as f64 + (v[hi] as f64 - v[lo] as f64) * frac
}

/// Weighted samples: (value, weight) pairs, e.g. a step's inter-token gap shared by every
/// sequence in the step. The weighted quantile is the smallest value whose cumulative weight
/// reaches q of the total. Exact up to [`sketch::EXACT_SAMPLES`] pairs, then a [`Sketch`].
#[derive(Debug, Clone, Default)]
pub struct WeightedSamples {
    values: Vec<(f32, u32)>,
    sketch: Option<Box<Sketch>>,
    sum: f64,
    weight: u64,
}

impl WeightedSamples {
    pub fn push(&mut self, ms: f64, weight: u32) {
        if weight == 0 {
            return;
        }
        self.sum += ms * weight as f64;
        self.weight += weight as u64;
        if let Some(s) = self.sketch.as_mut() {
            s.add(ms as f32 as f64, weight as u64);
            return;
        }
        self.values.push((ms as f32, weight));
        if self.values.len() > sketch::EXACT_SAMPLES {
            let mut s = Box::<Sketch>::default();
            for &(v, w) in &self.values {
                s.add(v as f64, w as u64);
            }
            self.values = Vec::new();
            self.sketch = Some(s);
        }
    }
    /// Whether the quantiles are exact (no more pairs than [`sketch::EXACT_SAMPLES`]).
    pub fn is_exact(&self) -> bool {
        self.sketch.is_none()
    }
    pub fn summary(&self) -> Dist {
        if self.weight == 0 {
            return Dist::default();
        }
        let mean = self.sum / self.weight as f64;
        if let Some(s) = &self.sketch {
            return Dist {
                mean,
                p50: s.weighted_quantile(0.5),
                p90: s.weighted_quantile(0.9),
                p95: s.weighted_quantile(0.95),
                p99: s.weighted_quantile(0.99),
                p999: s.weighted_quantile(0.999),
            };
        }
        // Sorted by value (ties in insertion order, which does not change any quantile).
        let mut keyed: Vec<(u32, u32)> = self.values.iter().map(|&(x, w)| (order_key(x), w)).collect();
        radix_sort_by_key(&mut keyed, |p| p.0);
        let v: Vec<(f32, u32)> = keyed.into_iter().map(|(k, w)| (from_order_key(k), w)).collect();
        let q = |q: f64| {
            let target = (q * self.weight as f64).max(1.0);
            let mut acc = 0u64;
            for &(x, w) in &v {
                acc += w as u64;
                if acc as f64 >= target {
                    return x as f64;
                }
            }
            v.last().map_or(0.0, |x| x.0 as f64)
        };
        Dist {
            mean,
            p50: q(0.5),
            p90: q(0.9),
            p95: q(0.95),
            p99: q(0.99),
            p999: q(0.999),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Throughput {
    pub output_tok_s: f64,
    pub total_tok_s: f64,
    pub requests_s: f64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Cost {
    pub usd_per_mtok_output: f64,
    pub usd_per_mtok_total: f64,
    pub usd_total: f64,
    pub usd_per_hour: f64,
    pub instances: u32,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Energy {
    pub j_per_output_token: f64,
    pub j_total: f64,
    pub avg_power_w: f64,
    /// j_total over completed requests.
    #[serde(default)]
    pub j_per_request: f64,
    /// Of j_total: chips idle, chips dynamic, hosts (all before PUE), and the facility overhead
    /// (PUE − 1).
    #[serde(default)]
    pub chip_idle_j: f64,
    #[serde(default)]
    pub chip_dynamic_j: f64,
    #[serde(default)]
    pub host_j: f64,
    #[serde(default)]
    pub facility_j: f64,
}

/// The CPU tiers around the accelerators: front end, host (tokenizer, detokenizer, scheduler).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InfraResult {
    /// Busy fraction of the hosts' usable cores (the busiest pool's hosts).
    pub host_utilisation: f64,
    /// An autoscaled fleet's usable host cores on average over the run (its hosts are those of
    /// the instances its serving replicas occupy); absent for a fleet as deployed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_cores_mean: Option<f64>,
    pub host_bottleneck: bool,
    /// Mean wait for a host core before tokenization, ms.
    pub host_wait_ms: f64,
    /// Busy fraction of the front-end tier's cores (0 without a tier).
    pub frontend_utilisation: f64,
    pub frontend_bottleneck: bool,
    /// Cost of the front-end tier, $/hour (included in `cost`).
    pub frontend_usd_per_hour: f64,
    /// `host CPU`, `front-end tier`, or empty: what limits the run outside the accelerators.
    pub bottleneck: String,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Counts {
    pub arrived: u64,
    pub completed: u64,
    pub dropped: u64,
    /// Turned away by the admission limit (`serving.max_queue`): counted, never lost silently.
    #[serde(default)]
    pub rejected: u64,
    /// Still queued or running when the run stopped early (`workload.horizon_s`, or a backlog
    /// beyond what memory allows): never counted in the latency percentiles.
    #[serde(default)]
    pub unfinished: u64,
    /// Turned away by the gateway (`[gateway]`): a sheddable class that would have waited, or
    /// the lowest priority when its queue was full.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub shed: u64,
    /// Waited in the gateway queue past `gateway.queue_timeout_s`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub timed_out: u64,
    /// Given up by their client (`gateway.client_timeout_s`) before completing, wherever they
    /// were; the output tokens produced for them before that are `cancelled_output_tokens`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cancelled: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cancelled_output_tokens: u64,
    /// On a replica lost to an instance failure or a spot reclaim (`[fleet.failures]`,
    /// `[fleet.spot]`): ended as failed (`fleet.on_loss = "drop"`), or sent to the router
    /// again (`retried`, each time); the output tokens the lost replicas had produced for them
    /// are `lost_output_tokens` (produced, never delivered).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub failed: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub retried: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub lost_output_tokens: u64,
    /// Trace rows `workload.over_context = "drop"` left out before the run (they never arrive:
    /// the trace's rows replayed are `arrived` + these).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub dropped_over_context: u64,
    /// Trace rows `workload.over_context = "clip"` cut to fit the context (they arrive, clipped).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub clipped_over_context: u64,
    pub preempted: u64,
    pub output_tokens_asked: u64,
    pub output_tokens_produced: u64,
    /// Prompt tokens of the completed requests (a rejected, dropped or unfinished request's
    /// prompt was not served).
    pub input_tokens: u64,
}

impl Counts {
    /// Requests that ended without completing: dropped, rejected, shed, timed out, cancelled.
    pub fn turned_away(&self) -> u64 {
        self.dropped + self.rejected + self.shed + self.timed_out + self.cancelled + self.failed
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct SimFigures {
    pub events: u64,
    pub steps: u64,
    /// Wall-clock seconds of the run: the one figure that is not deterministic.
    pub wall_s: f64,
    pub sim_time_s: f64,
}

/// Where the replicas' busy time went, summed over steps (seconds).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Breakdown {
    pub compute_s: f64,
    pub memory_s: f64,
    pub communication_s: f64,
    pub overhead_s: f64,
    /// Busy time over the time the replicas could run steps: the run's span × replicas, or,
    /// autoscaled, [`Breakdown::serving_replica_s`].
    pub busy_fraction: f64,
    /// An autoscaled fleet's replica-seconds up (ready or draining); absent for a fleet as
    /// deployed (its replicas are up for the whole span).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serving_replica_s: Option<f64>,
}

/// Everything one run produced: the library's answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    pub scenario: String,
    pub ttft_ms: Dist,
    pub tpot_ms: Dist,
    pub itl_ms: Dist,
    pub e2e_ms: Dist,
    pub queue_ms: Dist,
    pub throughput: Throughput,
    pub cost: Cost,
    pub energy: Energy,
    pub requests: Counts,
    pub breakdown: Breakdown,
    pub sim: SimFigures,
    /// Things the user should know about this run (dtype fallbacks, drops and why).
    pub notes: Vec<String>,
    /// Whether the run reached a steady state: `stable`, `backlogged` (a queue built up but
    /// drained after the arrivals ended) or `overloaded` (the queue grew without bound: its
    /// percentiles describe the run's length, not a steady state). See [`SaturationProbe`].
    #[serde(default)]
    pub saturation: String,
    /// What preemptions cost.
    #[serde(default)]
    pub preemption: PreemptionCost,
    /// KV-cache transfers from prefill to decode replicas (disaggregation; zeros otherwise).
    #[serde(default)]
    pub kv_transfer_ms: Dist,
    /// Per workload class (one `default` class when the scenario declares none).
    #[serde(default)]
    pub classes: Vec<ClassResult>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix_cache: Option<PrefixCacheResult>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speculative: Option<SpeculativeResult>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moe: Option<MoeResult>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lora: Option<LoraResult>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kv_offload: Option<KvOffloadResult>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sessions: Option<sessions::SessionsResult>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multimodal: Option<MultimodalResult>,
    /// Per tenant and fairness (`[[workload.tenants]]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenants: Option<tenants::TenantsResult>,
    /// Host CPU and front-end tier load.
    #[serde(default)]
    pub infrastructure: InfraResult,
    /// The run priced every way: on demand, reserved, spot, owned, and its tokens bought from a
    /// managed endpoint (`cost` is the scenario's own `infrastructure.pricing`).
    #[serde(default)]
    pub pricing: pricing::PricingResult,
    /// Which part of the latency dominates the slowest 1 % of requests (`metrics::attribution`).
    #[serde(default)]
    pub attribution: attribution::AttributionSummary,
    /// The cost of each part of `[fleet.purchase]` and the SLO minutes lost (None without it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purchase: Option<purchase::PurchaseResult>,
    /// Invariant violations found by the audit (`RunOptions::audit`); empty when it is off.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audit: Vec<String>,
    /// Per-window metrics (`[fleet]`), written as their own table, not into the summary.
    #[serde(skip)]
    pub windows: Vec<windows::WindowRow>,
}

/// The cost of preemptions, summed over replicas.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct PreemptionCost {
    /// Prompt and generated tokens prefilled again after preemptions by recompute.
    pub recompute_tokens: u64,
    /// Their share of step time, seconds.
    pub recompute_s: f64,
    /// KV bytes copied to host memory and back (swap), and the time the copies blocked steps.
    pub swap_bytes: f64,
    pub swap_s: f64,
    /// recompute_s + swap_s.
    pub total_s: f64,
    /// Preemptions made to admit a request of a higher class (`serving.priority_preemption`),
    /// among all of them (`requests.preempted`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub for_higher_class: u64,
}

/// Latency and SLO attainment of one workload class.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClassResult {
    pub name: String,
    pub priority: u32,
    pub completed: u64,
    pub ttft_ms: Dist,
    pub tpot_ms: Dist,
    pub e2e_ms: Dist,
    /// Fraction of the class's completed requests meeting every SLO set for it (None: no SLO).
    pub slo_attainment: Option<f64>,
}

/// Samples of the system's occupancy at arrivals, decimated to a bounded buffer, and the rule
/// that classifies a run (`RunResult::saturation`):
///
/// - `overloaded`: over the second half of the arrival window more requests arrived than
///   completed by over 5 % (at least 20 arrivals), and the requests in the system grew by at
///   least max(2, 4 % of those arrivals), steadily (a quarter of the growth already by the
///   window's three-quarter point, so one late burst does not count).
/// - `overloaded` too when the admission limit rejected 5 % or more of the requests.
/// - `backlogged`: not overloaded, but when the last request arrived at least max(2, 5 % of all
///   requests) were still waiting for a batch slot: the tail percentiles include draining a
///   backlog (offline and static batches always are).
/// - `stable` otherwise.
#[derive(Debug, Clone, Default)]
pub struct SaturationProbe {
    /// (time ns, requests in the system, arrived so far, completed so far).
    samples: Vec<(u64, u64, u64, u64)>,
    stride: u64,
    seen: u64,
}

const PROBE_CAPACITY: usize = 4096;

impl SaturationProbe {
    pub fn push(&mut self, t_ns: u64, in_system: u64, arrived: u64, completed: u64) {
        if self.stride == 0 {
            self.stride = 1;
        }
        self.seen += 1;
        if (self.seen - 1) % self.stride != 0 {
            return;
        }
        if self.samples.len() == PROBE_CAPACITY {
            let kept: Vec<_> = self.samples.iter().step_by(2).copied().collect();
            self.samples = kept;
            self.stride *= 2;
            if (self.seen - 1) % self.stride != 0 {
                return;
            }
        }
        self.samples.push((t_ns, in_system, arrived, completed));
    }

    /// `waiting_at_last_arrival`: requests not yet admitted to a batch when the last one arrived;
    /// `rejected`: arrivals turned away by the admission limit (5 % or more of `requests` is an
    /// overload the queue bound hid).
    pub fn classify(
        &self,
        last: (u64, u64, u64, u64),
        waiting_at_last_arrival: u64,
        requests: u64,
        rejected: u64,
    ) -> &'static str {
        if rejected as f64 >= (0.05 * requests as f64).max(1.0) {
            return "overloaded";
        }
        let s = &self.samples;
        if let Some(&first) = s.first() {
            let (t0, t_end) = (first.0, last.0);
            let at = |t: u64| *s.iter().find(|x| x.0 >= t).unwrap_or(&last);
            let mid = at(t0 + (t_end - t0) / 2);
            let q3 = at(t0 + (t_end - t0) * 3 / 4);
            let arrived = last.2 - mid.2;
            let completed = last.3 - mid.3;
            let growth = last.1 as f64 - mid.1 as f64;
            if t_end > t0
                && arrived >= 20
                && arrived as f64 > 1.05 * completed as f64
                && growth >= (0.04 * arrived as f64).max(2.0)
                && q3.1 as f64 - mid.1 as f64 >= 0.25 * growth
            {
                return "overloaded";
            }
        }
        if waiting_at_last_arrival as f64 >= (0.05 * requests as f64).max(2.0) {
            "backlogged"
        } else {
            "stable"
        }
    }
}

/// One finished request, for `--requests` output.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RequestRow {
    pub id: u64,
    pub replica: u32,
    pub arrival_s: f64,
    pub input_tokens: u32,
    pub output_tokens: u32,
    pub queue_ms: f64,
    pub ttft_ms: f64,
    pub tpot_ms: f64,
    pub e2e_ms: f64,
    pub preemptions: u32,
    pub class: u16,
    /// TTFT and E2E in nanoseconds, and their parts (they add up exactly).
    pub ttft_ns: u64,
    pub e2e_ns: u64,
    pub ttft_parts: attribution::Parts,
    pub e2e_parts: attribution::Parts,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate() {
        let mut s = Samples::default();
        for x in 1..=101 {
            s.push(x as f64);
        }
        let d = s.summary();
        assert_eq!(d.p50, 51.0);
        assert_eq!(d.p90, 91.0);
        assert!((d.p999 - 100.9).abs() < 1e-9);
        assert_eq!(d.mean, 51.0);
    }

    #[test]
    fn samples_switch_to_the_sketch_beyond_the_exact_limit_within_its_error_bound() {
        let n = sketch::EXACT_SAMPLES as u64 * 3;
        let value = |i: u64| 1.0 + (i * 7919 % n) as f64 / 100.0;
        let (mut s, mut w) = (Samples::default(), WeightedSamples::default());
        for i in 0..n {
            s.push(value(i));
            w.push(value(i), 1 + (i % 3) as u32);
        }
        assert!(!s.is_exact() && !w.is_exact());
        assert_eq!(s.len() as u64, n);
        assert!(s.values.capacity() == 0 && w.values.capacity() == 0, "buffers released");
        let d = s.summary();
        // The values are 1.00, 1.01, ... in some order: exact quantiles are known.
        for (got, q) in [(d.p50, 0.5), (d.p99, 0.99), (d.p999, 0.999)] {
            let want = 1.0 + q * (n - 1) as f64 / 100.0;
            assert!(
                (got - want).abs() <= sketch::RELATIVE_ERROR * want + 1e-3,
                "q {q}: {got} vs {want}"
            );
        }
        assert!(
            (d.mean - (1.0 + (n - 1) as f64 / 200.0)).abs() < 1e-6,
            "mean stays exact"
        );
        assert!(w.summary().p50 > 0.0);
    }

    #[test]
    fn radix_sort_matches_a_comparison_sort_and_is_stable() {
        let mut x: u64 = 7;
        let mut v: Vec<(u32, u32)> = (0..5000u32)
            .map(|i| {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                // Few distinct high bytes, many ties: exercises skipped passes and stability.
                (((x >> 40) as u32) & 0x00FF_0FFF, i)
            })
            .collect();
        let mut want = v.clone();
        want.sort_by_key(|p| p.0);
        radix_sort_by_key(&mut v, |p| p.0);
        assert_eq!(v, want);
    }

    #[test]
    fn order_keys_sort_floats_as_total_cmp_does() {
        let xs = [3.5f32, -0.0, 0.0, -2.0, f32::INFINITY, 1e-30, -1e30, 7.0];
        let mut a = xs.to_vec();
        a.sort_by(f32::total_cmp);
        let mut k: Vec<u32> = xs.iter().map(|&x| order_key(x)).collect();
        k.sort_unstable();
        let b: Vec<f32> = k.into_iter().map(from_order_key).collect();
        assert_eq!(
            a.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
            b.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
        );
    }

    #[test]
    fn weighted_quantiles_count_weights() {
        let mut w = WeightedSamples::default();
        w.push(1.0, 98);
        w.push(100.0, 2);
        let d = w.summary();
        assert_eq!(d.p50, 1.0);
        assert_eq!(d.p99, 100.0);
        assert!((d.mean - 2.98).abs() < 1e-9);
    }
}
