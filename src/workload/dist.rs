//! The closed forms behind the newer arrival and length distributions (issue 22 item 6), as
//! ServeGen characterises production LLM traffic (Xiang et al., "ServeGen: Workload
//! Characterization and Generation of Large Language Model Serving in Production", arXiv
//! 2505.09999, §3): inter-arrival times fit Gamma or **Weibull** better than exponential, input
//! lengths a **mixture of Pareto and log-normal**, output lengths an **exponential**.
//!
//! - Weibull gaps of shape k and rate λ: scale `θ = 1 / (λ Γ(1 + 1/k))` so the mean gap is 1/λ;
//!   drawn by inversion as `θ E^{1/k}` with E ~ Exp(1) (k = 1 is Poisson, k < 1 burstier).
//! - Exponential lengths of mean m: `round(m E)`, clamped to [min, max].
//! - Pareto–log-normal lengths: with probability `tail_weight` a Pareto (type I) draw of scale
//!   `tail_min` and index `tail_alpha` (`tail_min · U^{-1/α}`), else a log-normal of the given
//!   mean and cv; rounded, clamped to [min, max]. Mean `(1 − w) m + w α t / (α − 1)`.

use rand::RngExt;
use rand::rngs::ChaCha8Rng;
use rand_distr::{Distribution, Exp1, StandardNormal};

/// A log-normal's (μ, σ) from its mean and coefficient of variation: σ² = ln(1 + cv²),
/// μ = ln(mean) − σ²/2 (the form every log-normal in `workload` is given in).
pub fn lognormal_params(mean: f64, cv: f64) -> (f64, f64) {
    let s2 = (1.0 + cv * cv).ln();
    (mean.ln() - s2 / 2.0, s2.sqrt())
}

/// Γ(x) for x > 0 (Lanczos, g = 7, nine coefficients: relative error below 1e-13 on (0, 170)).
pub fn gamma_fn(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection: Γ(x) Γ(1 − x) = π / sin(πx).
        return std::f64::consts::PI / ((std::f64::consts::PI * x).sin() * gamma_fn(1.0 - x));
    }
    let x = x - 1.0;
    let t = x + G + 0.5;
    let sum: f64 = C[0] + (1..9).map(|i| C[i] / (x + i as f64)).sum::<f64>();
    (2.0 * std::f64::consts::PI).sqrt() * t.powf(x + 0.5) * (-t).exp() * sum
}

/// Φ(x), the standard normal CDF, through erfc (Chebyshev fit of Numerical Recipes' `erfcc`:
/// fractional error below 1.2e-7 everywhere).
pub fn normal_cdf(x: f64) -> f64 {
    let z = -x / std::f64::consts::SQRT_2;
    let a = z.abs();
    let t = 1.0 / (1.0 + 0.5 * a);
    let poly = -a * a - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98 + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let erfc = t * poly.exp();
    let erfc = if z >= 0.0 { erfc } else { 2.0 - erfc };
    0.5 * erfc
}

/// The Weibull scale (seconds) whose mean gap is 1 / `rate_per_s` at `shape` k.
pub fn weibull_scale_s(rate_per_s: f64, shape: f64) -> f64 {
    1.0 / (rate_per_s * gamma_fn(1.0 + 1.0 / shape))
}

/// One Weibull gap by inversion: `scale E^{1/k}`.
pub fn weibull_gap_s(rng: &mut ChaCha8Rng, scale_s: f64, shape: f64) -> f64 {
    let e: f64 = Exp1.sample(rng);
    scale_s * e.powf(1.0 / shape)
}

fn round_clamp(v: f64, min: u32, max: u32) -> u32 {
    v.round().clamp(min as f64, max as f64) as u32
}

/// One exponential length of mean `mean`, rounded and clamped.
pub fn exponential_len(rng: &mut ChaCha8Rng, mean: f64, min: u32, max: u32) -> u32 {
    let e: f64 = Exp1.sample(rng);
    round_clamp(mean * e, min, max)
}

/// A Pareto–log-normal mixture, ready to draw.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ParetoLognormal {
    /// The log-normal body's μ and σ (of ln x).
    pub mu: f64,
    pub sigma: f64,
    /// The tail's weight w, scale t and index α.
    pub weight: f64,
    pub tail_min: f64,
    pub alpha: f64,
    pub min: u32,
    pub max: u32,
}

impl ParetoLognormal {
    /// From the body's mean and cv (of the log-normal itself, before mixing).
    pub fn new(mean: f64, cv: f64, weight: f64, tail_min: f64, alpha: f64, min: u32, max: u32) -> ParetoLognormal {
        let (mu, sigma) = lognormal_params(mean, cv);
        ParetoLognormal {
            mu,
            sigma,
            weight,
            tail_min,
            alpha,
            min,
            max,
        }
    }

    pub fn sample(&self, rng: &mut ChaCha8Rng) -> u32 {
        let pick: f64 = rng.random();
        let v = if pick < self.weight {
            // U in (0, 1]: 1 − [0, 1).
            let u: f64 = 1.0 - rng.random::<f64>();
            self.tail_min * u.powf(-1.0 / self.alpha)
        } else {
            let z: f64 = StandardNormal.sample(rng);
            (self.mu + self.sigma * z).exp()
        };
        round_clamp(v, self.min, self.max)
    }

    /// The mean before rounding and clamping: `(1 − w) e^{μ + σ²/2} + w α t / (α − 1)`.
    pub fn mean(&self) -> f64 {
        let body = (self.mu + self.sigma * self.sigma / 2.0).exp();
        (1.0 - self.weight) * body + self.weight * self.alpha * self.tail_min / (self.alpha - 1.0)
    }

    /// P(X ≤ x) before rounding and clamping.
    pub fn cdf(&self, x: f64) -> f64 {
        let body = if x > 0.0 {
            normal_cdf((x.ln() - self.mu) / self.sigma)
        } else {
            0.0
        };
        let tail = if x >= self.tail_min {
            1.0 - (self.tail_min / x).powf(self.alpha)
        } else {
            0.0
        };
        (1.0 - self.weight) * body + self.weight * tail
    }
}

#[cfg(test)]
mod tests;
