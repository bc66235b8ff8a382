//! What a run measured: latency distributions, throughput, cost, energy, counts, and the
//! simulator's own figures. Percentiles interpolate linearly between closest ranks (numpy's
//! default), over exact sample buffers.

pub mod table;

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

/// Samples kept compactly (f32 milliseconds) and summarised at the end.
#[derive(Debug, Clone, Default)]
pub struct Samples {
    values: Vec<f32>,
    sum: f64,
}

impl Samples {
    pub fn push(&mut self, ms: f64) {
        self.values.push(ms as f32);
        self.sum += ms;
    }
    pub fn len(&self) -> usize {
        self.values.len()
    }
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
    pub fn sorted(&self) -> Vec<f32> {
        let mut v = self.values.clone();
        v.sort_by(f32::total_cmp);
        v
    }
    pub fn summary(&self) -> Dist {
        if self.values.is_empty() {
            return Dist::default();
        }
        let v = self.sorted();
        Dist {
            mean: self.sum / v.len() as f64,
            p50: quantile_sorted(&v, 0.50),
            p90: quantile_sorted(&v, 0.90),
            p95: quantile_sorted(&v, 0.95),
            p99: quantile_sorted(&v, 0.99),
            p999: quantile_sorted(&v, 0.999),
        }
    }
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
/// reaches q of the total.
#[derive(Debug, Clone, Default)]
pub struct WeightedSamples {
    values: Vec<(f32, u32)>,
    sum: f64,
    weight: u64,
}

impl WeightedSamples {
    pub fn push(&mut self, ms: f64, weight: u32) {
        if weight == 0 {
            return;
        }
        self.values.push((ms as f32, weight));
        self.sum += ms * weight as f64;
        self.weight += weight as u64;
    }
    pub fn summary(&self) -> Dist {
        if self.weight == 0 {
            return Dist::default();
        }
        let mut v = self.values.clone();
        v.sort_by(|a, b| a.0.total_cmp(&b.0));
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
            mean: self.sum / self.weight as f64,
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
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Counts {
    pub arrived: u64,
    pub completed: u64,
    pub dropped: u64,
    pub preempted: u64,
    pub output_tokens_asked: u64,
    pub output_tokens_produced: u64,
    pub input_tokens: u64,
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
    pub busy_fraction: f64,
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
