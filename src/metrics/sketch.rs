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
    /// 1 / ln γ, for [`bucket_of`]'s fast path.
    inv_ln_gamma: f64,
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
            inv_ln_gamma: 1.0 / gamma.ln(),
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
        let i = bucket_of(x, self.ln_gamma, self.inv_ln_gamma);
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

/// `ln(c_j)` and `1 / c_j` at the centres `c_j = 1 + (j + ½)/256` of 256 slices of [1, 2).
struct LnTable {
    ln_c: [f64; 256],
    inv_c: [f64; 256],
}

fn ln_table() -> &'static LnTable {
    static TABLE: std::sync::OnceLock<LnTable> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = LnTable {
            ln_c: [0.0; 256],
            inv_c: [0.0; 256],
        };
        for j in 0..256 {
            let c = 1.0 + (j as f64 + 0.5) / 256.0;
            t.ln_c[j] = c.ln();
            t.inv_c[j] = 1.0 / c;
        }
        t
    })
}

/// Half-width, in buckets, of the band around an integer where [`bucket_of`] asks libm instead
/// of trusting its own logarithm. Its error against `fl(fl(ln x) / ln γ)` is below 1e-9 buckets
/// for ln γ ≥ 1e-4 (see [`bucket_of`]), so 1e-6 is a thousandfold margin.
const NEAR_INTEGER: f64 = 1e-6;

/// The bucket of a positive finite `x`: exactly `⌈ln(x) / ln γ⌉` as libm computes it, faster.
///
/// A sample's bucket costs a logarithm, the sketch's hottest operation (a week-long run adds
/// ~10⁸ samples). Here ln x = e·ln 2 + ln c_j + ln(1 + r), with `x = 2^e·m`, `c_j` the centre of
/// m's 1/256 slice of [1, 2) (its logarithm tabulated by libm) and `r = (m − c_j)/c_j`, |r| <
/// 2⁻⁹, whose series to r⁴ truncates below 2⁻⁴⁵/5 < 6e-15. The sum's rounding errors stay
/// below 3e-13 (|e·ln 2| < 710), so the quotient is within 3e-13/ln γ + 2⁻⁵²·|q| ≤ 1e-9 buckets
/// of libm's for ln γ ≥ 1e-4 (α = 10⁻³ has ln γ = 0.002). Unless it lies within
/// [`NEAR_INTEGER`] of an integer, both round up to the same integer; otherwise libm decides. So
/// the bucket is libm's bucket bit for bit (tested on every bucket boundary and ten million
/// values).
#[inline]
fn bucket_of(x: f64, ln_gamma: f64, inv_ln_gamma: f64) -> i32 {
    let exact = || (x.ln() / ln_gamma).ceil() as i32;
    let bits = x.to_bits();
    let biased = (bits >> 52) as i64;
    if ln_gamma < 1e-4 || biased == 0 || biased == 0x7ff {
        return exact();
    }
    let t = ln_table();
    let j = ((bits >> 44) & 0xff) as usize;
    let m = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000);
    let c = 1.0 + (j as f64 + 0.5) / 256.0;
    let r = (m - c) * t.inv_c[j];
    let series = r * (1.0 + r * (-0.5 + r * (1.0 / 3.0 - r * 0.25)));
    let ln = (biased - 1023) as f64 * std::f64::consts::LN_2 + (t.ln_c[j] + series);
    let q = ln * inv_ln_gamma;
    if q.abs() >= 2e9 {
        return exact();
    }
    let whole = q as i64;
    let frac = q - whole as f64;
    if frac.abs() < NEAR_INTEGER || frac.abs() > 1.0 - NEAR_INTEGER {
        return exact();
    }
    (whole + (frac > 0.0) as i64) as i32
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng, rngs::ChaCha8Rng};

    /// The fast bucket is libm's, bit for bit: on both sides of every bucket boundary from 1e-9
    /// to 1e12 (where the band's fallback must decide), and on ten million values spread over
    /// those decades, as f64 and as f32 (the sample buffers' precision).
    #[test]
    fn fast_buckets_equal_libm_buckets() {
        let s = Sketch::default();
        let libm = |x: f64| (x.ln() / s.ln_gamma).ceil() as i32;
        let fast = |x: f64| bucket_of(x, s.ln_gamma, s.inv_ln_gamma);
        let (lo, hi) = ((1e-9f64).ln() / s.ln_gamma, (1e12f64).ln() / s.ln_gamma);
        let mut checked = 0u64;
        for i in lo.floor() as i32..=hi.ceil() as i32 {
            let b = (i as f64 * s.ln_gamma).exp();
            let mut x = b;
            for _ in 0..4 {
                x = x.next_down();
            }
            for _ in 0..9 {
                assert_eq!(fast(x), libm(x), "x = {x:e} ({:#x})", x.to_bits());
                x = x.next_up();
                checked += 1;
            }
        }
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        for _ in 0..5_000_000 {
            let x = 10f64.powf(rng.random_range(-9.0..12.0));
            assert_eq!(fast(x), libm(x), "x = {x:e}");
            let y = x as f32 as f64;
            assert_eq!(fast(y), libm(y), "y = {y:e}");
            checked += 2;
        }
        assert!(checked > 10_000_000);
        // Outside the fast path's range, libm itself: subnormals, huge values, a coarse γ.
        for x in [1e-310, 1e300, f64::MAX] {
            assert_eq!(fast(x), libm(x));
        }
        let coarse = Sketch::new(1e-6);
        assert_eq!(
            bucket_of(3.7, coarse.ln_gamma, coarse.inv_ln_gamma),
            (3.7f64.ln() / coarse.ln_gamma).ceil() as i32
        );
    }

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
