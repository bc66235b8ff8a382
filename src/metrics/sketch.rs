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
    /// The bucket table, for the default α (the only one codesim's metrics use).
    table: Option<&'static BucketTable>,
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
            table: (alpha == RELATIVE_ERROR).then(bucket_table),
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
    ///
    /// The common case inline: a value in a tabulated octave whose bucket is allocated already.
    #[inline]
    pub fn add(&mut self, x: f64, weight: u64) {
        if let Some(i) = self.table.and_then(|t| t.bucket_ready(x)) {
            if let Some(c) = self.counts.get_mut(i.wrapping_sub(self.offset) as u32 as usize) {
                *c += weight;
                self.total += weight;
                return;
            }
        }
        self.add_any(x, weight);
    }

    /// [`Sketch::add`] of any value.
    #[inline(never)]
    fn add_any(&mut self, x: f64, weight: u64) {
        if weight == 0 {
            return;
        }
        self.total += weight;
        if x.is_nan() || x <= ZERO_BELOW || x == f64::INFINITY {
            self.zeros += weight;
            return;
        }
        let i = self.bucket(x);
        // The common case: a bucket already allocated.
        match self.counts.get_mut(i.wrapping_sub(self.offset) as u32 as usize) {
            Some(c) => *c += weight,
            None => self.add_outside(i, weight),
        }
    }

    /// [`Sketch::add`] to bucket `i`, outside the buckets allocated so far.
    #[inline(never)]
    fn add_outside(&mut self, i: i32, weight: u64) {
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

    /// The bucket of a positive finite `x`: exactly ⌈ln(x) / ln γ⌉ as libm computes it, from the
    /// table where it has one, else from [`bucket_of`].
    #[inline]
    fn bucket(&self, x: f64) -> i32 {
        match self.table.and_then(|t| t.bucket(x, self.ln_gamma)) {
            Some(i) => i,
            None => bucket_of(x, self.ln_gamma),
        }
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

/// Mantissa bits that pick a slice of an octave: a slice spans at most ln(1 + 2⁻⁹) < 0.001952
/// in logarithm, less than a bucket of the default α (ln γ = 0.0020000007), so it holds at most
/// one bucket boundary.
const SLICE_BITS: u32 = 9;
const SLICES: usize = 1 << SLICE_BITS;
/// The mantissa bits below a slice's, and their mask.
const LOW_BITS: u32 = 52 - SLICE_BITS;
const LOW_MASK: u64 = (1 << LOW_BITS) - 1;
/// The octaves tabulated: from 2⁻³⁰ (1e-9 ms) up to 2⁴⁰ (1.1e12 ms); values outside take
/// [`bucket_of`].
const FIRST_OCTAVE: i64 = -30;
const OCTAVES: usize = 70;
/// Within this many units in the last place of a slice's edge or of its boundary, a value takes
/// [`bucket_of`] instead of the table. libm's logarithm (error < 1 ulp) can move where the bucket
/// changes by about 25 ulps of x at most (1 ulp of ln x ≤ 28 is 3.6e-15, 1.8e-12 buckets, and
/// the quotient's rounding adds 0.9e-12: 2.7e-12 buckets, a relative 5.4e-15 of x); 1,024 is a
/// fortyfold margin, and a value falls in a guard band with probability about 2⁻³¹.
const GUARD: u64 = 1 << 10;
/// An entry's flag: its slice is never looked up (a slice whose ends are more than one bucket
/// apart by libm, which a monotone logarithm never gives; kept as a safeguard).
const COMPUTE: u64 = 1 << LOW_BITS;

/// The bucket of every value of the default α, by lookup: per octave, per slice (the top
/// [`SLICE_BITS`] of the mantissa), the bucket of the slice's first value and the low mantissa
/// bits of the last value in that bucket, if the slice reaches the next one. A value's bucket is
/// then one load and one comparison. Octaves are filled when first touched (a run's latencies
/// span a dozen of them), once per process, each from libm's own ⌈ln(x) / ln γ⌉, so a lookup
/// returns exactly what [`bucket_of`] returns (tested on every boundary and ten million values).
struct BucketTable {
    octaves: [std::sync::OnceLock<Box<[u64; SLICES]>>; OCTAVES],
}

impl std::fmt::Debug for BucketTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let filled = self.octaves.iter().filter(|o| o.get().is_some()).count();
        write!(f, "BucketTable {{ octaves filled: {filled} }}")
    }
}

fn bucket_table() -> &'static BucketTable {
    static TABLE: std::sync::OnceLock<BucketTable> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| BucketTable {
        octaves: std::array::from_fn(|_| std::sync::OnceLock::new()),
    })
}

impl BucketTable {
    /// The bucket of a positive finite `x` by lookup; None outside the tabulated octaves and in
    /// the guard bands.
    #[inline]
    fn bucket(&self, x: f64, ln_gamma: f64) -> Option<i32> {
        let bits = x.to_bits();
        let k = ((bits >> 52) as i64 - 1023 - FIRST_OCTAVE) as u64;
        if k >= OCTAVES as u64 {
            return None;
        }
        let octave = self.octaves[k as usize].get_or_init(|| octave(k as usize, ln_gamma));
        lookup(octave, bits)
    }

    /// [`BucketTable::bucket`] where it needs neither a new octave nor the zero test: None
    /// outside the octaves filled so far, in octave 0 (which holds [`ZERO_BELOW`]), for a
    /// negative or non-finite value (whose exponent bits fall outside) and in the guard bands.
    #[inline(always)]
    fn bucket_ready(&self, x: f64) -> Option<i32> {
        let bits = x.to_bits();
        let k = ((bits >> 52) as i64 - 1023 - FIRST_OCTAVE) as u64;
        if k.wrapping_sub(1) >= OCTAVES as u64 - 1 {
            return None;
        }
        lookup(self.octaves[k as usize].get()?, bits)
    }
}

/// The bucket of the positive value of `bits` from its octave's entries; None in the guard
/// bands.
#[inline(always)]
fn lookup(octave: &[u64; SLICES], bits: u64) -> Option<i32> {
    let entry = octave[(bits >> LOW_BITS) as usize & (SLICES - 1)];
    let (low, last) = (bits & LOW_MASK, entry & LOW_MASK);
    let near_last = low.wrapping_sub(last).wrapping_add(GUARD) <= 2 * GUARD;
    let near_edge = (low.wrapping_add(GUARD) & LOW_MASK) < 2 * GUARD;
    if near_last || near_edge || entry & COMPUTE != 0 {
        return None;
    }
    Some((entry >> 48) as u16 as i16 as i32 + (low > last) as i32)
}

/// Octave `k`'s entries: the first value's bucket in the top 16 bits; the low bits of the last
/// value in that bucket (all ones when the whole slice is in it); or [`COMPUTE`].
fn octave(k: usize, ln_gamma: f64) -> Box<[u64; SLICES]> {
    let exact = |x: f64| bucket_of(x, ln_gamma);
    let biased = (FIRST_OCTAVE + k as i64 + 1023) as u64;
    let mut out = Box::new([0u64; SLICES]);
    for (s, entry) in out.iter_mut().enumerate() {
        let first_bits = biased << 52 | (s as u64) << LOW_BITS;
        let (first, last) = (f64::from_bits(first_bits), f64::from_bits(first_bits | LOW_MASK));
        let (lo, hi) = (exact(first), exact(last));
        let Ok(lo16) = i16::try_from(lo) else {
            *entry = COMPUTE;
            continue;
        };
        let tail = if hi == lo {
            LOW_MASK
        } else if hi == lo + 1 {
            // The last value of bucket lo, from the closed form γ^lo by ulps (consecutive
            // bit patterns of positive floats are consecutive values).
            let at = |b: u64| exact(f64::from_bits(b));
            let mut b = (lo as f64 * ln_gamma).exp().clamp(first, last).to_bits();
            if at(b) <= lo {
                while b < last.to_bits() && at(b + 1) <= lo {
                    b += 1;
                }
            } else {
                while at(b) > lo {
                    b -= 1;
                }
            }
            b & LOW_MASK
        } else {
            COMPUTE
        };
        *entry = (lo16 as u16 as u64) << 48 | tail;
    }
    out
}

/// The bucket of a positive finite `x`: ⌈ln(x) / ln γ⌉, with libm's logarithm. The table is
/// built from it and defers to it in its guard bands and outside its octaves.
fn bucket_of(x: f64, ln_gamma: f64) -> i32 {
    (x.ln() / ln_gamma).ceil() as i32
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng, rngs::ChaCha8Rng};

    /// The inline path of `add` leaves the sketch as the full path does: over values around
    /// zero and the zero threshold (octave 0 holds it), negative, non-finite, beyond the
    /// tabulated octaves, on guard bands, of weight 0, and a million ordinary latencies, fed in
    /// random order, the buckets, zeros and total are the same.
    #[test]
    fn the_inline_path_of_add_counts_as_the_full_path() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let mut special = vec![
            0.0,
            -0.0,
            -1.0,
            ZERO_BELOW,
            ZERO_BELOW * 1.5,
            f64::from_bits(ZERO_BELOW.to_bits() + 1),
            2f64.powi(-30),
            2f64.powi(-29),
            f64::from_bits(2f64.powi(-29).to_bits() - 1),
            2f64.powi(39) * 1.9,
            2f64.powi(40),
            1e15,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MIN_POSITIVE,
        ];
        // Bucket boundaries (guard bands) and slice edges.
        let ln_gamma = Sketch::default().ln_gamma;
        for i in [-900, -10, 0, 1, 2, 500, 3000] {
            special.push((i as f64 * ln_gamma).exp());
        }
        special.push(f64::from_bits(1.0f64.to_bits() | 1 << LOW_BITS));
        let (mut inline, mut full) = (Sketch::default(), Sketch::default());
        for n in 0..1_000_000u64 {
            let x = if n % 50 == 0 {
                special[rng.random_range(0..special.len())]
            } else {
                rng.random_range(0.01..100.0f64).powi(3)
            };
            let w = rng.random_range(0..4u64);
            inline.add(x, w);
            full.add_any(x, w);
        }
        assert_eq!(
            (inline.offset, &inline.counts, inline.zeros, inline.total),
            (full.offset, &full.counts, full.zeros, full.total)
        );
        assert!(inline.zeros > 0 && inline.counts.len() > 10_000);
    }

    /// The table's bucket is libm's, bit for bit: around every bucket boundary from 1e-9 to
    /// 1e12 (inside the guard band, where the computation decides, and just outside it, where
    /// the table does), around every slice edge, and on ten million values, as f64 and f32.
    #[test]
    fn tabulated_buckets_equal_libm_buckets() {
        let s = Sketch::default();
        let table = s.table.expect("the default α is tabulated");
        let libm = |x: f64| (x.ln() / s.ln_gamma).ceil() as i32;
        let step = |x: f64, ulps: i64| f64::from_bits((x.to_bits() as i64 + ulps) as u64);
        // Checks one value; whether the table answered it.
        let check = |x: f64| {
            assert_eq!(s.bucket(x), libm(x), "x = {x:e} ({:#x})", x.to_bits());
            table.bucket(x, s.ln_gamma).is_some() as u64
        };
        let (lo, hi) = ((1e-9f64).ln() / s.ln_gamma, (1e12f64).ln() / s.ln_gamma);
        let g = GUARD as i64;
        for i in lo.floor() as i32..=hi.ceil() as i32 {
            let b = (i as f64 * s.ln_gamma).exp();
            for centre in [0, g, -g] {
                for d in -4..=4 {
                    _ = check(step(b, centre + d));
                }
            }
        }
        for k in 0..OCTAVES as u64 {
            for slice in 0..SLICES as u64 {
                let edge = f64::from_bits(((k as i64 + FIRST_OCTAVE + 1023) as u64) << 52 | slice << LOW_BITS);
                for d in [-g - 2, -g, -g + 1, -2, -1, 0, 1, g - 1, g, g + 2] {
                    _ = check(step(edge, d));
                }
            }
        }
        let mut rng = ChaCha8Rng::seed_from_u64(12);
        let mut looked_up = 0;
        for _ in 0..5_000_000 {
            let x = 10f64.powf(rng.random_range(-9.0..12.0));
            looked_up += check(x) + check(x as f32 as f64);
        }
        // The table, not the fallback, answered almost all of the random values.
        assert!(looked_up > 9_999_000, "{looked_up} of 10,000,000 looked up");
        // Outside the octaves tabulated: the fallback.
        for x in [1e-10, 1e13, 1e-310, 1e300] {
            assert_eq!(table.bucket(x, s.ln_gamma), None);
            assert_eq!(s.bucket(x), libm(x));
        }
        // Another α has no table.
        assert!(Sketch::new(2e-3).table.is_none());
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
