use super::*;
use crate::workload::{ArrivalSpec, Generator, LengthSampler, LengthSpec, NewRequest};
use rand::SeedableRng;

fn arrival(text: &str) -> ArrivalSpec {
    #[derive(Deserialize)]
    struct W {
        arrival: ArrivalSpec,
    }
    toml::from_str::<W>(&format!("arrival = {text}")).unwrap().arrival
}

#[test]
fn names_round_trip_through_the_scenario_key() {
    for c in Client::ALL {
        assert_eq!(Client::from_name(c.name()), Some(c));
        let a = arrival(&format!(
            "{{ kind = \"closed\", clients = 4, client = \"{}\" }}",
            c.name()
        ));
        assert_eq!(a.client(), c);
    }
    assert_eq!(arrival("{ kind = \"closed\", clients = 4 }").client(), Client::Ideal);
    assert_eq!(Client::Ideal.closed_arrival(8), "{ kind = \"closed\", clients = 8 }");
    for c in Client::ALL {
        assert_eq!(arrival(&c.closed_arrival(8)).client(), c);
    }
    assert_eq!(
        Client::accepted(),
        "ideal, llmperf, llmperf-legacy, genai-perf, aiperf, vllm-bench"
    );
    assert_eq!(Client::from_name("locust"), None);
}

/// Every tool starts all its clients at t = 0 (none staggers or ramps in concurrency mode), as
/// `ideal` does; at most as many as there are requests.
#[test]
fn every_client_starts_all_at_time_zero() {
    for c in Client::ALL {
        let mut l = ClosedLoop::new(c, 8, 0.0, 0.0, 1);
        let mut out = Vec::new();
        l.start(5, &mut out);
        assert_eq!(out, (0..5).map(|i| (i, SimTime::ZERO)).collect::<Vec<_>>(), "{c:?}");
    }
}

/// On completion a client sends again at once (`ideal` after its think time); old LLMPerf waits
/// for the whole wave, then sends it all at that instant.
#[test]
fn completion_and_wave_dispatch() {
    let mut out = Vec::new();
    let mut ideal = ClosedLoop::new(Client::Ideal, 3, 0.5, 0.0, 1);
    ideal.start(100, &mut out);
    out.clear();
    ideal.ended(2, SimTime(1_000), &mut out);
    assert_eq!(out, vec![(2, SimTime(1_000 + 500_000_000))]);

    let mut tool = ClosedLoop::new(Client::Llmperf, 3, 0.0, 0.0, 1);
    tool.start(100, &mut out);
    out.clear();
    tool.ended(1, SimTime(7), &mut out);
    assert_eq!(out, vec![(1, SimTime(7))]);

    let mut waves = ClosedLoop::new(Client::LlmperfLegacy, 3, 0.0, 0.0, 1);
    waves.start(100, &mut out);
    out.clear();
    waves.ended(0, SimTime(10), &mut out);
    waves.ended(2, SimTime(20), &mut out);
    assert!(out.is_empty(), "the wave is not over: {out:?}");
    waves.ended(1, SimTime(30), &mut out);
    assert_eq!(out, vec![(0, SimTime(30)), (1, SimTime(30)), (2, SimTime(30))]);
}

/// The send delay is exponential with the set mean: the mean of 20,000 draws is within 3 % of it
/// (the standard error of the mean of an exponential is mean / √n = 0.7 %), and every draw is
/// its own stream's, so the same seed gives the same delays.
#[test]
fn send_delays_have_the_set_mean_and_repeat_with_the_seed() {
    let draws = |seed: u64| {
        let mut l = ClosedLoop::new(Client::VllmBench, 1, 0.0, 2.0, seed);
        let mut out = Vec::new();
        for _ in 0..20_000 {
            l.ended(0, SimTime::ZERO, &mut out);
        }
        out.into_iter().map(|(_, t)| t.0).collect::<Vec<u64>>()
    };
    let a = draws(3);
    let mean_ms = a.iter().sum::<u64>() as f64 / a.len() as f64 * 1e-6;
    assert!((mean_ms - 2.0).abs() < 0.06, "mean {mean_ms} ms");
    assert_eq!(a, draws(3));
    assert_ne!(a, draws(4));
}

#[test]
fn defaults_the_validation_layer_reads() {
    assert_eq!(Client::GenaiPerf.default_requests(3), Some(10));
    assert_eq!(Client::GenaiPerf.default_requests(50), Some(100));
    assert_eq!(Client::Aiperf.default_requests(50), Some(10));
    assert_eq!(Client::VllmBench.default_requests(50), Some(1000));
    assert_eq!(Client::Llmperf.default_requests(50), Some(10));
    assert_eq!(Client::Ideal.default_requests(50), None);
    assert_eq!(Client::Llmperf.default_length_stddev(), Some((150.0, 80.0)));
    assert_eq!(Client::VllmBench.default_length_stddev(), None);
    assert!(
        Client::ALL
            .iter()
            .all(|c| c.allows_think_time() == (*c == Client::Ideal))
    );
    assert!(
        Client::ALL
            .iter()
            .all(|c| c.max_tokens_per_request() == (*c != Client::Ideal))
    );
}

#[test]
fn rate_processes_each_client_has() {
    use RateKind::*;
    assert_eq!(Client::Ideal.rate_schedule(Gamma), Ok(RateSchedule::FirstAtZero));
    assert_eq!(Client::Aiperf.rate_schedule(Poisson), Ok(RateSchedule::FirstAtZero));
    assert_eq!(
        Client::GenaiPerf.rate_schedule(Constant),
        Ok(RateSchedule::FirstAfterGap)
    );
    assert_eq!(Client::VllmBench.rate_schedule(Gamma), Ok(RateSchedule::Normalised));
    assert!(Client::Aiperf.rate_schedule(Gamma).unwrap_err().contains("no gamma"));
    assert!(Client::GenaiPerf.rate_schedule(Gamma).unwrap_err().contains("no gamma"));
    assert!(
        Client::Llmperf
            .rate_schedule(Poisson)
            .unwrap_err()
            .contains("kind = \"closed\"")
    );
}

fn times(arrival: &ArrivalSpec, n: u64) -> Vec<u64> {
    let mut g = Generator::new(
        arrival,
        LengthSampler::Fixed(10),
        LengthSampler::Fixed(10),
        4096,
        n,
        9,
        None,
    );
    std::iter::from_fn(|| g.next_request()).map(|r| r.arrival_ns).collect()
}

/// Constant rates: ideal and AIPerf send at 0, 1/r, 2/r, ...; genai-perf (perf_analyzer's
/// schedule) and vLLM (one delay before every request) at 1/r, 2/r, ..., n/r.
#[test]
fn constant_rates_start_where_each_tool_starts() {
    let at = |client: &str| {
        times(
            &arrival(&format!(
                "{{ kind = \"constant\", rate_per_s = 4.0, client = \"{client}\" }}"
            )),
            5,
        )
    };
    let quarter = 250_000_000u64;
    assert_eq!(at("ideal"), (0..5).map(|i| i * quarter).collect::<Vec<_>>());
    assert_eq!(at("aiperf"), at("ideal"));
    assert_eq!(at("genai-perf"), (1..=5).map(|i| i * quarter).collect::<Vec<_>>());
    assert_eq!(at("vllm-bench"), at("genai-perf"));
}

/// vLLM's normalisation: the last of n requests is due at exactly n / rate, and every time is
/// the ideal process's next one scaled by one factor (the same gaps, one drawn before the first
/// request): vllm[i] = k × ideal[i + 1], within the two roundings to whole nanoseconds.
#[test]
fn vllm_bench_rescales_the_run_to_requests_over_rate() {
    for kind in [
        "{ kind = \"poisson\", rate_per_s = 5.0",
        "{ kind = \"gamma\", rate_per_s = 5.0, cv = 3.0",
    ] {
        let n = 400;
        let ideal = times(&arrival(&format!("{kind} }}")), n + 1);
        let vllm = times(&arrival(&format!("{kind}, client = \"vllm-bench\" }}")), n);
        let want_last = n as f64 / 5.0 * 1e9;
        assert!(
            (vllm[n as usize - 1] as f64 - want_last).abs() <= 1.0,
            "{kind}: last at {}",
            vllm[n as usize - 1]
        );
        let k = want_last / ideal[n as usize] as f64;
        for i in 0..n as usize {
            assert!(
                (vllm[i] as f64 - k * ideal[i + 1] as f64).abs() <= 2.0,
                "{kind}: request {i}"
            );
        }
    }
}

/// LLMPerf's normal: truncated toward zero, redrawn below `min`; stddev 0 gives the mean's
/// integer part; the sample mean and stddev of a wide one match the set ones (it is almost
/// never cut at min 1 when mean = 1000, stddev = 150: P(z < −6.7) ≈ 1e−11).
#[test]
fn normal_lengths_are_llmperfs() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let fixed = LengthSampler::new(
        &LengthSpec::Normal {
            mean: 550.9,
            stddev: 0.0,
            min: 1,
            max: 4096,
        },
        None,
    );
    assert_eq!(fixed.sample(&mut rng, 0.0), 550);
    let wide = LengthSampler::new(
        &LengthSpec::Normal {
            mean: 1000.0,
            stddev: 150.0,
            min: 1,
            max: 100_000,
        },
        None,
    );
    let xs: Vec<f64> = (0..40_000).map(|_| wide.sample(&mut rng, 0.0) as f64).collect();
    let mean = xs.iter().sum::<f64>() / xs.len() as f64;
    let sd = (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / xs.len() as f64).sqrt();
    // Truncation toward zero lowers the mean by 0.5 on average.
    assert!((mean - 999.5).abs() < 3.0, "mean {mean}");
    assert!((sd - 150.0).abs() < 3.0, "stddev {sd}");
    let cut = LengthSampler::new(
        &LengthSpec::Normal {
            mean: 20.0,
            stddev: 40.0,
            min: 5,
            max: 60,
        },
        None,
    );
    assert!(
        (0..5_000)
            .map(|_| cut.sample(&mut rng, 0.0))
            .all(|x| (5..=60).contains(&x))
    );
}

/// A benchmark client's request carries its own output length as `max_tokens`.
#[test]
fn a_tool_asks_for_exactly_the_output_it_drew() {
    let mut g = Generator::new(
        &ArrivalSpec::Offline {},
        LengthSampler::Fixed(100),
        LengthSampler::Uniform(1, 500),
        4096,
        50,
        2,
        None,
    )
    .with_max_tokens(Some(500))
    .with_max_tokens_per_request(true);
    for _ in 0..50 {
        let (_, output, max_tokens) = g.lengths();
        assert_eq!(max_tokens, Some(output));
    }
}

/// The cap hands out slots 0, 1, … and, when all are taken, queues; a freed slot goes to the
/// first waiting request, or is free again when none waits. A paused client holds its schedule
/// while one waits.
#[test]
fn a_concurrency_cap_hands_out_slots_and_queues_in_order() {
    let req = |t: u64| NewRequest {
        arrival_ns: t,
        input_tokens: 1,
        output_tokens: 1,
        trace_row: None,
        max_tokens: None,
    };
    let mut cap = ConcurrencyCap::new(CapMode::Queue, 2);
    assert_eq!(
        (cap.take_slot(), cap.take_slot(), cap.take_slot()),
        (Some(0), Some(1), None)
    );
    cap.wait(req(10));
    cap.wait(req(20));
    assert!(!cap.holds_arrivals());
    assert_eq!(cap.release(1, SimTime(50)).map(|r| r.arrival_ns), Some(10));
    assert_eq!(cap.release(0, SimTime(60)).map(|r| r.arrival_ns), Some(20));
    assert_eq!(cap.release(0, SimTime(70)), None);
    assert_eq!(cap.take_slot(), Some(0));
    let note = cap.note().unwrap();
    assert!(
        note.starts_with("client: 2 requests waited for one of the max_concurrency = 2 slots (0.0 ms"),
        "{note}"
    );
    let mut paused = ConcurrencyCap::new(CapMode::Paused, 1);
    assert_eq!(paused.take_slot(), Some(0));
    paused.wait(req(5));
    assert!(paused.holds_arrivals());
    assert_eq!(Client::Aiperf.cap_mode(), Ok(CapMode::Paused));
    assert_eq!(Client::VllmBench.cap_mode(), Ok(CapMode::Queue));
    assert!(Client::GenaiPerf.cap_mode().unwrap_err().contains("not both"));
}
