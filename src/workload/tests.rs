use super::*;
use rand::SeedableRng;

fn generate(arrival: ArrivalSpec, n: u64) -> Vec<NewRequest> {
    let mut g = Generator::new(
        &arrival,
        LengthSampler::Fixed(100),
        LengthSampler::Uniform(1, 50),
        4096,
        n,
        7,
        None,
    );
    std::iter::from_fn(|| g.next_request()).collect()
}

#[test]
fn poisson_rate_is_respected() {
    let reqs = generate(
        ArrivalSpec::Poisson {
            rate_per_s: 20.0,
            client: Client::Ideal,
            max_concurrency: None,
        },
        20_000,
    );
    let span_s = reqs.last().unwrap().arrival_ns as f64 * 1e-9;
    let rate = (reqs.len() - 1) as f64 / span_s;
    assert!((rate - 20.0).abs() / 20.0 < 0.03, "rate {rate}");
}

#[test]
fn gamma_cv_is_respected() {
    let reqs = generate(
        ArrivalSpec::Gamma {
            rate_per_s: 10.0,
            cv: 4.0,
            client: Client::Ideal,
            max_concurrency: None,
        },
        50_000,
    );
    let gaps: Vec<f64> = reqs
        .windows(2)
        .map(|w| (w[1].arrival_ns - w[0].arrival_ns) as f64)
        .collect();
    let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
    let var = gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / gaps.len() as f64;
    let cv = var.sqrt() / mean;
    assert!((cv - 4.0).abs() < 0.4, "cv {cv}");
    assert!((1e9 / mean - 10.0).abs() < 1.0);
}

#[test]
fn a_higher_rate_is_the_same_traffic_compressed() {
    let slow = generate(
        ArrivalSpec::Poisson {
            rate_per_s: 1.0,
            client: Client::Ideal,
            max_concurrency: None,
        },
        100,
    );
    let fast = generate(
        ArrivalSpec::Poisson {
            rate_per_s: 4.0,
            client: Client::Ideal,
            max_concurrency: None,
        },
        100,
    );
    for (s, f) in slow.iter().zip(&fast) {
        assert_eq!((s.input_tokens, s.output_tokens), (f.input_tokens, f.output_tokens));
        assert!((s.arrival_ns as f64 / 4.0 - f.arrival_ns as f64).abs() <= 1.0);
    }
}

#[test]
fn lognormal_mean_and_clamp() {
    let s = LengthSampler::new(
        &LengthSpec::Lognormal {
            mean: 500.0,
            cv: 1.0,
            min: 1,
            max: 100_000,
        },
        None,
    );
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let xs: Vec<u32> = (0..50_000).map(|_| s.sample(&mut rng, 0.0)).collect();
    let mean = xs.iter().map(|&x| x as f64).sum::<f64>() / xs.len() as f64;
    assert!((mean - 500.0).abs() / 500.0 < 0.03, "mean {mean}");
    let c = LengthSampler::new(
        &LengthSpec::Lognormal {
            mean: 500.0,
            cv: 2.0,
            min: 10,
            max: 600,
        },
        None,
    );
    assert!(
        (0..1000)
            .map(|_| c.sample(&mut rng, 0.0))
            .all(|x| (10..=600).contains(&x))
    );
}

#[test]
fn lengths_fit_the_context() {
    let mut g = Generator::new(
        &ArrivalSpec::Offline {},
        LengthSampler::Fixed(4000),
        LengthSampler::Fixed(500),
        4096,
        3,
        1,
        None,
    );
    let r = g.next_request().unwrap();
    assert!(r.input_tokens + r.output_tokens <= 4096);
}
