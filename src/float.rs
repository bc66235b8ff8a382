//! Float operations codesim needs exactly as the standard library computes them, without the
//! library calls baseline x86-64 makes of some (it has no SSE4.1 rounding instruction). A leaf.

/// `x.round()`, bit for bit (half away from zero), without the library call that baseline
/// x86-64 makes of it (no SSE4.1 rounding instruction): a positive `x` below 2^52 truncates
/// exactly to an integer `i`, `x - i` is then exact too, and `x` rounds up when that is ½ or
/// more. Without a branch on the fraction, which is as good as random.
#[inline]
pub fn round(x: f64) -> f64 {
    const EXACT: f64 = (1u64 << 52) as f64;
    if x > 0.0 && x < EXACT {
        let i = x as i64;
        (i + (x - i as f64 >= 0.5) as i64) as f64
    } else {
        x.round()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `round` is `f64::round` bit for bit: on every half-integer and its neighbours by one ulp
    /// (where rounding turns), across the fast path's edges (0, 2^52, 2^53), on the specials,
    /// and on a million values spread over 600 binades of both signs.
    #[test]
    fn round_is_the_library_round_bit_for_bit() {
        let same = |x: f64| assert_eq!(round(x).to_bits(), x.round().to_bits(), "{x:e}");
        let ulps = |x: f64| [-2i64, -1, 0, 1, 2].map(|d| f64::from_bits((x.to_bits() as i64 + d) as u64));
        for k in 0..200_000u64 {
            for x in ulps(k as f64 + 0.5).into_iter().chain(ulps(k as f64 + 1.0)) {
                same(x);
                same(-x);
            }
        }
        for e in [-1074.0f64, -1022.0, -1.0, 51.0, 52.0, 53.0, 63.0, 64.0, 1023.0] {
            let p = 2f64.powf(e);
            for x in ulps(p).into_iter().chain(ulps(p + 0.5)) {
                same(x);
                same(-x);
            }
        }
        for x in [
            0.0,
            -0.0,
            0.5,
            0.49999999999999994,
            f64::MIN_POSITIVE,
            f64::MAX,
            f64::INFINITY,
            f64::NAN,
        ] {
            same(x);
            same(-x);
        }
        let mut bits = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..1_000_000 {
            bits ^= bits << 13;
            bits ^= bits >> 7;
            bits ^= bits << 17;
            let x = f64::from_bits(bits);
            same(x);
            // Values of ordinary size, where the fast path runs.
            same(f64::from_bits(
                (bits & 0x800F_FFFF_FFFF_FFFF) | ((1003 + bits % 60) << 52),
            ));
        }
        // What the cast downstream sees: `round(x) as u64` equals `x.round() as u64`.
        for x in [0.4, 0.5, 1.5, 2.5, 1e15 + 0.5, 4.5e15 + 0.5, 1.8e19, -3.5] {
            assert_eq!(round(x) as u64, x.round() as u64);
        }
    }
}
