//! A streaming quantile sketch with a relative-error guarantee (DDSketch, Masson et al., VLDB
//! 2019): non-negative values fall into logarithmic buckets `(γ^(i−1), γ^i]` with
//! `γ = (1 + α) / (1 − α)`, and a bucket answers with `2γ^i / (γ + 1)`, which is within `α` of
//! every value the bucket holds. So a quantile read from the sketch is within relative error `α`
//! of the sample at that rank, whatever the distribution, in memory proportional to the
//! logarithm of the value range (`ln(max/min) / ln γ` buckets), not to the number of samples.
//!
//! codesim keeps latency samples exactly up to [`EXACT_SAMPLES`] and folds them into a sketch
//! with `α` = [`RELATIVE_ERROR`] beyond that, so peak memory stops growing with the number of
//! requests (see `Samples` and `WeightedSamples`).

/// Samples kept exactly before a distribution switches to the sketch.
pub const EXACT_SAMPLES: usize = 1 << 18;
/// Relative accuracy of the sketch's quantiles (0.1 %).
pub const RELATIVE_ERROR: f64 = 1e-3;
/// Values at or below this (milliseconds) count as zero: an absolute error of at most 1 ps.
const ZERO_BELOW: f64 = 1e-9;

#[derive(Debug, Clone)]
pub struct Sketch {
    ln_gamma: f64,
    gamma: f64,
    /// Bucket index of `counts[0]`.
    offset: i32,
    counts: Vec<u64>,
    zeros: u64,
    total: u64,
}

impl Default for Sketch {
    fn default() -> Sketch {
        Sketch::new(RELATIVE_ERROR)
    }
}

impl Sketch {
    pub fn new(alpha: f64) -> Sketch {
        let gamma = (1.0 + alpha) / (1.0 - alpha);
        Sketch {
            ln_gamma: gamma.ln(),
            gamma,
            offset: 0,
            counts: Vec::new(),
            zeros: 0,
            total: 0,
        }
    }

    /// Weight (number of samples) held.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Buckets allocated (the sketch's memory is 8 bytes each).
    pub fn buckets(&self) -> usize {
        self.counts.len()
    }

    /// Adds `weight` samples of value `x` (negative and non-finite values count as zero; codesim
    /// only records durations, which are finite and non-negative).
    pub fn add(&mut self, x: f64, weight: u64) {
        if weight == 0 {
            return;
        }
        self.total += weight;
        if x.is_nan() || x <= ZERO_BELOW || x.is_infinite() {
            self.zeros += weight;
            return;
        }
        let i = (x.ln() / self.ln_gamma).ceil() as i32;
        if self.counts.is_empty() {
            self.offset = i;
            self.counts.push(0);
        } else if i < self.offset {
            let grow = (self.offset - i) as usize;
            self.counts.splice(0..0, std::iter::repeat_n(0, grow));
            self.offset = i;
        } else if (i - self.offset) as usize >= self.counts.len() {
            self.counts.resize((i - self.offset) as usize + 1, 0);
        }
        self.counts[(i - self.offset) as usize] += weight;
    }

    fn bucket_value(&self, i: i32) -> f64 {
        2.0 * self.gamma.powi(i) / (self.gamma + 1.0)
    }

    /// The sample of 0-based `rank` (in sorted order), within relative error α.
    pub fn at_rank(&self, rank: u64) -> f64 {
        if self.total == 0 {
            return 0.0;
        }
        let rank = rank.min(self.total - 1);
        let mut acc = self.zeros;
        if rank < acc {
            return 0.0;
        }
        for (k, &c) in self.counts.iter().enumerate() {
            acc += c;
            if rank < acc {
                return self.bucket_value(self.offset + k as i32);
            }
        }
        self.bucket_value(self.offset + self.counts.len() as i32 - 1)
    }

    /// Quantile `q` interpolated linearly between the closest ranks (as the exact buffers do):
    /// within relative error α of the exact interpolated quantile.
    pub fn quantile(&self, q: f64) -> f64 {
        if self.total == 0 {
            return 0.0;
        }
        let pos = q.clamp(0.0, 1.0) * (self.total - 1) as f64;
        let (lo, hi) = (pos.floor(), pos.ceil());
        let (a, b) = (self.at_rank(lo as u64), self.at_rank(hi as u64));
        a + (b - a) * (pos - lo)
    }

    /// The smallest value whose cumulative weight reaches `q` of the total (the weighted
    /// quantile), within relative error α.
    pub fn weighted_quantile(&self, q: f64) -> f64 {
        let target = (q * self.total as f64).max(1.0).ceil() as u64;
        self.at_rank(target.saturating_sub(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng, rngs::ChaCha8Rng};

    fn exact(sorted: &[f64], q: f64) -> f64 {
        let pos = q * (sorted.len() - 1) as f64;
        let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
        sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
    }

    #[test]
    fn quantiles_stay_within_the_relative_error_bound_on_heavy_tails() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for shape in [0.5f64, 1.0, 3.0] {
            let mut s = Sketch::default();
            let mut v: Vec<f64> = (0..200_000)
                .map(|_| {
                    // Pareto-like tail over seven decades, plus exact zeros.
                    let u: f64 = rng.random();
                    if u < 0.01 {
                        0.0
                    } else {
                        0.01 * (1.0 - u).powf(-1.0 / shape)
                    }
                })
                .collect();
            for &x in &v {
                s.add(x, 1);
            }
            v.sort_by(f64::total_cmp);
            for q in [0.0, 0.01, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0] {
                let (want, got) = (exact(&v, q), s.quantile(q));
                assert!(
                    (got - want).abs() <= RELATIVE_ERROR * want + 1e-12,
                    "shape {shape} q {q}: sketch {got} vs exact {want}"
                );
            }
            // Memory: buckets for the value range, not for 200,000 samples.
            assert!(s.buckets() < 20_000, "{} buckets", s.buckets());
        }
    }

    #[test]
    fn weighted_quantiles_count_weights() {
        let mut s = Sketch::default();
        s.add(1.0, 98);
        s.add(100.0, 2);
        assert!((s.weighted_quantile(0.5) - 1.0).abs() <= 1e-3 * (1.0 + 1e-9));
        assert!((s.weighted_quantile(0.99) - 100.0).abs() <= 0.1);
        assert_eq!(s.total(), 100);
    }
}
