use super::*;
use crate::workload::{ArrivalSpec, Client, Generator, LengthSampler, LengthSpec};
use rand::SeedableRng;

/// Mean and standard error of the mean of `xs`.
fn mean_se(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let m = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0);
    (m, (var / n).sqrt())
}

#[test]
fn gamma_and_normal_cdf_match_known_values() {
    // Γ(5) = 4! = 24; Γ(1/2) = √π; Γ(3/2) = √π / 2; Γ(0.1) = 9.513507698668732 (tables).
    let sqrt_pi = std::f64::consts::PI.sqrt();
    assert!((gamma_fn(5.0) - 24.0).abs() < 1e-11);
    assert!((gamma_fn(0.5) - sqrt_pi).abs() < 1e-13);
    assert!((gamma_fn(1.5) - sqrt_pi / 2.0).abs() < 1e-13);
    assert!((gamma_fn(0.1) - 9.513_507_698_668_732).abs() < 1e-11);
    // Φ(0) = 1/2, Φ(1.959964) = 0.975, Φ(−1) = 0.158655254 (tables).
    assert!((normal_cdf(0.0) - 0.5).abs() < 1e-7);
    assert!((normal_cdf(1.959_964) - 0.975).abs() < 1e-7);
    assert!((normal_cdf(-1.0) - 0.158_655_254).abs() < 1e-7);
}

/// Weibull gaps at rate λ = 10/s, shape k = 0.7, through the generator: the mean gap is 1/λ
/// (the scale θ = 1/(λ Γ(1 + 1/k)) makes it so), and half the gaps are below the median
/// θ (ln 2)^{1/k}. Tolerances: 4 standard errors. The mean's SE is cv/(λ√n) with
/// cv² = Γ(1 + 2/k)/Γ(1 + 1/k)² − 1 (≈ 1.46² at k = 0.7); the median fraction's is √(¼/n).
#[test]
fn weibull_gaps_have_the_closed_form_mean_and_median() {
    let (rate, k, n) = (10.0, 0.7, 100_000u64);
    let mut g = Generator::new(
        &ArrivalSpec::Weibull {
            rate_per_s: rate,
            shape: k,
            client: Client::Ideal,
            max_concurrency: None,
        },
        LengthSampler::Fixed(10),
        LengthSampler::Fixed(10),
        4096,
        n,
        3,
        None,
    );
    let times: Vec<f64> = std::iter::from_fn(|| g.next_request())
        .map(|r| r.arrival_ns as f64 * 1e-9)
        .collect();
    let gaps: Vec<f64> = times.windows(2).map(|w| w[1] - w[0]).collect();
    let g1 = gamma_fn(1.0 + 1.0 / k);
    let cv = (gamma_fn(1.0 + 2.0 / k) / (g1 * g1) - 1.0).sqrt();
    let (mean, _) = mean_se(&gaps);
    let se = cv / rate / (gaps.len() as f64).sqrt();
    assert!((mean - 1.0 / rate).abs() < 4.0 * se, "mean gap {mean}, se {se}");
    let median = weibull_scale_s(rate, k) * std::f64::consts::LN_2.powf(1.0 / k);
    let below = gaps.iter().filter(|&&x| x <= median).count() as f64 / gaps.len() as f64;
    let se = (0.25 / gaps.len() as f64).sqrt();
    assert!((below - 0.5).abs() < 4.0 * se, "fraction below the median {below}");
    // Shape 1 is Poisson: θ = 1/λ exactly (Γ(2) = 1).
    assert!((weibull_scale_s(rate, 1.0) - 0.1).abs() < 1e-12);
}

/// Exponential lengths of mean θ = 200, rounded: E[round(θE)] = Σ_{j≥1} P(θE ≥ j − ½)
/// = e^{1/(2θ)} / (e^{1/θ} − 1), and the clamp to min = 1 adds P(θE < ½) = 1 − e^{−1/(2θ)}
/// (those 0s become 1s): 200.000… + 0.0025. P(len ≤ 138) = P(θE < 138.5) = 1 − e^{−138.5/200}.
#[test]
fn exponential_lengths_have_the_closed_form_mean_and_quantile() {
    let theta = 200.0f64;
    let s = LengthSampler::new(
        &LengthSpec::Exponential {
            mean: theta,
            min: 1,
            max: 1_000_000,
        },
        None,
    );
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let xs: Vec<f64> = (0..200_000).map(|_| s.sample(&mut rng, 0.0) as f64).collect();
    let want = (0.5 / theta).exp() / ((1.0 / theta).exp() - 1.0) + 1.0 - (-0.5 / theta).exp();
    let (mean, se) = mean_se(&xs);
    assert!((mean - want).abs() < 4.0 * se, "mean {mean} want {want} se {se}");
    let p = 1.0 - (-138.5 / theta).exp();
    let got = xs.iter().filter(|&&x| x <= 138.0).count() as f64 / xs.len() as f64;
    let se = (p * (1.0 - p) / xs.len() as f64).sqrt();
    assert!((got - p).abs() < 4.0 * se, "P(len <= 138) {got} want {p}");
    let c = LengthSampler::new(
        &LengthSpec::Exponential {
            mean: theta,
            min: 50,
            max: 300,
        },
        None,
    );
    assert!(
        (0..1000)
            .map(|_| c.sample(&mut rng, 0.0))
            .all(|x| (50..=300).contains(&x))
    );
}

/// ServeGen's Pareto–log-normal input lengths: body log-normal (mean 800, cv 1), tail weight
/// w = 0.1 of Pareto scale t = 2000, index α = 3. Mean (1 − w)·800 + w·α t/(α − 1)
/// = 720 + 0.1 · 3000 = 1020. CDF at 1000.5 (len ≤ 1000): body only, 0.9 Φ((ln 1000.5 − μ)/σ);
/// at 4000.5 (len ≤ 4000): 0.9 Φ(…) + 0.1 (1 − (2000/4000.5)³) (the tail's quantile
/// t (w/(1 − p))^{1/α} read the other way). Tolerances: 4 standard errors.
#[test]
fn pareto_lognormal_lengths_have_the_closed_form_mean_and_quantiles() {
    let spec = LengthSpec::ParetoLognormal {
        mean: 800.0,
        cv: 1.0,
        tail_weight: 0.1,
        tail_min: 2000.0,
        tail_alpha: 3.0,
        min: 1,
        max: 4_000_000_000,
    };
    let s = LengthSampler::new(&spec, None);
    let LengthSampler::ParetoLognormal(d) = &s else {
        panic!("a pareto-lognormal sampler")
    };
    assert!((d.mean() - 1020.0).abs() < 1e-9);
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let xs: Vec<f64> = (0..400_000).map(|_| s.sample(&mut rng, 0.0) as f64).collect();
    let (mean, se) = mean_se(&xs);
    assert!((mean - 1020.0).abs() < 4.0 * se, "mean {mean} se {se}");
    for k in [1000.0, 4000.0] {
        let p = d.cdf(k + 0.5);
        let got = xs.iter().filter(|&&x| x <= k).count() as f64 / xs.len() as f64;
        let se = (p * (1.0 - p) / xs.len() as f64).sqrt();
        assert!((got - p).abs() < 4.0 * se, "P(len <= {k}) {got} want {p}");
    }
    // The tail above t: P(X > x) = w (t/x)^α for the Pareto part alone; at x = 4000 the
    // log-normal body adds (1 − w)(1 − Φ(…)), so the CDF there exceeds 1 − 0.1/8 = 0.9875 less
    // the body's tail: a sanity check that the closed form has both parts.
    assert!(d.cdf(4000.5) < 1.0 - 0.1 * (2000.0f64 / 4000.5).powi(3));
}
