//! Benchmark clients as they behave (issue 17, item 2): closed loops of every client against
//! closed forms and hand calculations written in each test. Llama-3-8B on one H100 (p5.48xlarge,
//! TP 1), 1000-token prompts and 200-token outputs unless a test says otherwise. Each test prints
//! the numbers it compares (`cargo test --test clients -- --nocapture`).

use codesim::metrics::RequestRow;
use codesim::sim::{MAX_IN_SYSTEM, RunOptions, Simulation};
use codesim::workload::Client;
use std::path::Path;

const FIXED: &str = "input = { kind = \"fixed\", tokens = 1000 }\noutput = { kind = \"fixed\", tokens = 200 }\n";
/// LLMPerf's default standard deviations (150 input, 80 output tokens) around the same means.
const LLMPERF_NORMAL: &str = "input = { kind = \"normal\", mean = 1000.0, stddev = 150.0, max = 4000 }\noutput = { kind = \"normal\", mean = 200.0, stddev = 80.0, max = 4000 }\n";

/// vLLM V0's prefill-first batching (`engine_version = "0.7"`), whose step arithmetic the
/// phase-lock tests below write out.
fn text(arrival: &str, requests: u64, lengths: &str, seed: u64) -> String {
    format!(
        "seed = {seed}\n[hardware]\ninstance = \"p5.48xlarge\"\n[model]\nname = \"llama-3-8b\"\n[serving]\nengine = \"vllm\"\nengine_version = \"0.7\"\n[workload]\nrequests = {requests}\narrival = {arrival}\n{lengths}"
    )
}

fn closed(clients: u32, client: &str) -> String {
    format!("{{ kind = \"closed\", clients = {clients}, client = \"{client}\" }}")
}

fn run_with(text: &str, audit: bool) -> (codesim::RunResult, Vec<RequestRow>) {
    let sc = codesim::scenario::load_str(text, Path::new("clients.toml")).unwrap_or_else(|e| panic!("{e}"));
    let opts = RunOptions {
        keep_requests: true,
        audit,
        timeline: None,
    };
    Simulation::new(&sc, opts).unwrap().run().unwrap()
}

fn run(text: &str) -> (codesim::RunResult, Vec<RequestRow>) {
    run_with(text, false)
}

/// Everything a run measured, as text (its wall time aside).
fn figures(r: &codesim::RunResult, rows: &[RequestRow]) -> String {
    format!(
        "{:?}{:?}{:?}{:?}{:?}{:?}{:?}",
        r.ttft_ms, r.tpot_ms, r.itl_ms, r.e2e_ms, r.requests, r.throughput, rows
    )
}

/// A lone 1000-token prompt's TTFT: the prefill time of one prompt, t1.
fn lone_ttft_ms() -> f64 {
    run(&text(&closed(1, "ideal"), 4, FIXED, 42)).0.ttft_ms.p50
}

/// `client = "ideal"` is what a closed loop always was: the same run as without the key.
#[test]
fn ideal_is_the_closed_loop_as_it_was() {
    let old = run(&text(
        "{ kind = \"closed\", clients = 16, think_time_s = 0.5 }",
        200,
        LLMPERF_NORMAL,
        42,
    ));
    let new = run(&text(
        "{ kind = \"closed\", clients = 16, think_time_s = 0.5, client = \"ideal\" }",
        200,
        LLMPERF_NORMAL,
        42,
    ));
    assert_eq!(figures(&old.0, &old.1), figures(&new.0, &new.1));
}

/// Identical lengths phase-lock the ideal client: all N prompts arrive together, every round.
/// Prefill-first batching takes ⌊8192 / 1000⌋ = 8 prompts a step (≈ 8 t1), so the median of
/// N requests waits for ⌈N / 16⌉ − 1 full steps before its own: TTFT p50 grows linearly with N
/// (N = 25: 1 step before; N = 50: 3), about 2× from 25 to 50 clients, and at 50 clients is
/// at least 3 steps ≈ 24 t1 (asserted: 12 t1, half of it).
#[test]
fn identical_lengths_phase_lock_the_ideal_client() {
    let t1 = lone_ttft_ms();
    let p50 = |n: u32| run(&text(&closed(n, "ideal"), n as u64 * 16, FIXED, 42)).0.ttft_ms.p50;
    let (p25, p50_50) = (p50(25), p50(50));
    println!("t1 {t1:.1} ms; TTFT p50 at 25 clients {p25:.1} ms, at 50 {p50_50:.1} ms");
    assert!((1.6..=2.4).contains(&(p50_50 / p25)), "p50 ratio {}", p50_50 / p25);
    assert!(p50_50 >= 12.0 * t1, "{p50_50} ms < 12 × {t1} ms");
}

/// No tool staggers its clients or sleeps between requests in concurrency mode, so with fixed
/// lengths genai-perf, AIPerf, vllm bench and LLMPerf (both versions: a wave of identical
/// requests ends together) phase-lock exactly as the ideal client does.
#[test]
fn fixed_length_tools_phase_lock_as_the_ideal_client_does() {
    let ideal = run(&text(&closed(50, "ideal"), 400, FIXED, 42));
    for c in Client::ALL {
        let tool = run(&text(&closed(50, c.name()), 400, FIXED, 42));
        assert_eq!(
            format!("{:?}{:?}", ideal.0.ttft_ms, ideal.0.e2e_ms),
            format!("{:?}{:?}", tool.0.ttft_ms, tool.0.e2e_ms),
            "{c:?}"
        );
    }
}

/// LLMPerf's default length draws (normal, stddev 150 and 80) de-phase the clients: requests
/// then arrive one by one at λ = N / E2E ≈ 50 / 3.2 s, about 0.2 per decode step, so the median
/// request waits at most for the step in progress (a decode step of the 50-batch, d = the ideal
/// run's ITL p50) and is prefilled with at most one other prompt: TTFT p50 ≤ d + 2 t1. The ideal
/// client at the same load is far beyond it.
#[test]
fn llmperfs_length_draws_unlock_the_phase() {
    let t1 = lone_ttft_ms();
    let (ideal, _) = run(&text(&closed(50, "ideal"), 800, FIXED, 42));
    let d = ideal.itl_ms.p50;
    let bound = d + 2.0 * t1;
    let (llmperf, _) = run(&text(&closed(50, "llmperf"), 800, LLMPERF_NORMAL, 42));
    println!(
        "bound {bound:.1} ms (d {d:.2} + 2 × t1 {t1:.1}); TTFT p50 llmperf {:.1} ms, ideal fixed {:.1} ms",
        llmperf.ttft_ms.p50, ideal.ttft_ms.p50
    );
    assert!(llmperf.ttft_ms.p50 <= bound, "{} > {bound}", llmperf.ttft_ms.p50);
    assert!(ideal.ttft_ms.p50 > 5.0 * bound);
}

/// Old LLMPerf runs in waves: 10 clients and 60 requests are 6 waves, each sent at one instant,
/// the next exactly when the last request of the one before has ended.
#[test]
fn legacy_llmperf_sends_in_waves() {
    let (r, mut rows) = run(&text(&closed(10, "llmperf-legacy"), 60, LLMPERF_NORMAL, 7));
    assert_eq!(r.requests.completed, 60);
    rows.sort_by(|a, b| a.arrival_s.total_cmp(&b.arrival_s));
    let waves: Vec<&[RequestRow]> = rows.chunks(10).collect();
    for (k, w) in waves.iter().enumerate() {
        assert!(
            w.iter().all(|x| x.arrival_s == w[0].arrival_s),
            "wave {k} is not one instant"
        );
        if k > 0 {
            let end = waves[k - 1]
                .iter()
                .map(|x| x.arrival_s + x.e2e_ms * 1e-3)
                .fold(0.0, f64::max);
            assert!(
                (w[0].arrival_s - end).abs() < 1e-6,
                "wave {k} at {} s, last ended {end} s",
                w[0].arrival_s
            );
        }
    }
    // The current LLMPerf on the same draws sends as each client's request ends: many instants.
    let (_, now) = run(&text(&closed(10, "llmperf"), 60, LLMPERF_NORMAL, 7));
    let mut instants: Vec<f64> = now.iter().map(|x| x.arrival_s).collect();
    instants.sort_by(f64::total_cmp);
    instants.dedup();
    assert!(instants.len() > 30, "{} instants", instants.len());
}

/// `send_delay_ms`: one client, so each send follows the last completion by one exponential
/// delay of the set mean; over 400 requests the mean gap is within 15 % of 3 ms (standard error
/// 3 / √400 = 5 %), and the first send is one delay after t = 0.
#[test]
fn the_send_delay_is_the_gap_between_a_completion_and_the_next_send() {
    let arrival = "{ kind = \"closed\", clients = 1, client = \"vllm-bench\", send_delay_ms = 3.0 }";
    let (_, mut rows) = run(&text(
        arrival,
        400,
        "input = { kind = \"fixed\", tokens = 100 }\noutput = { kind = \"fixed\", tokens = 4 }\n",
        42,
    ));
    rows.sort_by(|a, b| a.arrival_s.total_cmp(&b.arrival_s));
    assert!(rows[0].arrival_s > 0.0);
    let gaps: Vec<f64> = rows
        .windows(2)
        .map(|w| (w[1].arrival_s - (w[0].arrival_s + w[0].e2e_ms * 1e-3)) * 1e3)
        .collect();
    let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
    println!("mean gap {mean:.3} ms over {} sends", gaps.len());
    assert!((mean - 3.0).abs() < 0.45, "mean gap {mean} ms");
    assert!(gaps.iter().all(|g| *g >= -1e-6));
}

/// Every client conserves requests and tokens and keeps every invariant under the audit.
#[test]
fn every_client_conserves_and_passes_the_audit() {
    for c in Client::ALL {
        let arrival = format!(
            "{{ kind = \"closed\", clients = 12, client = \"{}\", send_delay_ms = 0.5 }}",
            c.name()
        );
        let (r, rows) = run_with(&text(&arrival, 100, LLMPERF_NORMAL, 3), true);
        assert!(r.audit.is_empty(), "{c:?}: {:?}", r.audit);
        let n = r.requests;
        assert_eq!(
            (n.arrived, n.completed, n.dropped, n.rejected),
            (100, 100, 0, 0),
            "{c:?}"
        );
        assert_eq!(n.output_tokens_produced, n.output_tokens_asked, "{c:?}");
        assert_eq!(rows.len(), 100);
    }
    for client in ["ideal", "vllm-bench", "aiperf"] {
        let arrival =
            format!("{{ kind = \"poisson\", rate_per_s = 20.0, client = \"{client}\", max_concurrency = 4 }}");
        let (r, _) = run_with(&text(&arrival, 100, LLMPERF_NORMAL, 3), true);
        assert!(r.audit.is_empty(), "{client}: {:?}", r.audit);
        let n = r.requests;
        assert_eq!((n.arrived, n.completed), (100, 100), "{client}");
        assert_eq!(n.output_tokens_produced, n.output_tokens_asked, "{client}");
    }
}

/// A client queue beyond the in-system bound (a rate far above what four slots serve) stops the
/// run as overloaded, as a server queue would: the requests still in the client never arrived.
#[test]
fn a_client_queue_beyond_memory_stops_the_run_as_overloaded() {
    let arrival = "{ kind = \"constant\", rate_per_s = 1e6, client = \"vllm-bench\", max_concurrency = 4 }";
    let small = "input = { kind = \"fixed\", tokens = 16 }\noutput = { kind = \"fixed\", tokens = 4 }\n";
    let sc = codesim::scenario::load_str(
        &text(arrival, MAX_IN_SYSTEM + 50_000, small, 1),
        Path::new("clients.toml"),
    )
    .unwrap();
    let (r, _) = Simulation::new(&sc, RunOptions::default()).unwrap().run().unwrap();
    let c = r.requests;
    println!("{c:?} {}", r.saturation);
    assert_eq!(r.saturation, "overloaded");
    assert!(c.arrived < 1000, "{c:?}");
    assert_eq!(c.arrived, c.completed + c.dropped + c.rejected + c.unfinished);
    assert!(
        r.notes.iter().any(|n| n.contains("grows without bound")),
        "{:?}",
        r.notes
    );
}

/// Same seed, same results, for every client and the rate clients; another seed draws other
/// lengths and delays.
#[test]
fn same_seed_same_results_for_every_client() {
    let mut arrivals: Vec<String> = Client::ALL
        .iter()
        .map(|c| {
            format!(
                "{{ kind = \"closed\", clients = 8, client = \"{}\", send_delay_ms = 1.0 }}",
                c.name()
            )
        })
        .collect();
    arrivals.push("{ kind = \"poisson\", rate_per_s = 6.0, client = \"vllm-bench\" }".into());
    arrivals.push("{ kind = \"constant\", rate_per_s = 6.0, client = \"genai-perf\" }".into());
    arrivals
        .push("{ kind = \"gamma\", rate_per_s = 6.0, cv = 2.0, client = \"vllm-bench\", max_concurrency = 3 }".into());
    arrivals.push("{ kind = \"poisson\", rate_per_s = 6.0, client = \"aiperf\", max_concurrency = 3 }".into());
    for a in &arrivals {
        let once = run(&text(a, 60, LLMPERF_NORMAL, 11));
        let again = run(&text(a, 60, LLMPERF_NORMAL, 11));
        let other = run(&text(a, 60, LLMPERF_NORMAL, 12));
        assert_eq!(figures(&once.0, &once.1), figures(&again.0, &again.1), "{a}");
        assert_ne!(figures(&once.0, &once.1), figures(&other.0, &other.1), "{a}");
    }
}

/// Rate clients through the simulation: vllm bench's last request is due at exactly
/// requests / rate (its rescaling), genai-perf's constant rate sends its first one interval
/// after the start and then one every 1 / rate.
#[test]
fn rate_clients_place_their_requests_as_the_tools_do() {
    let small = "input = { kind = \"fixed\", tokens = 100 }\noutput = { kind = \"fixed\", tokens = 8 }\n";
    let (_, rows) = run(&text(
        "{ kind = \"poisson\", rate_per_s = 5.0, client = \"vllm-bench\" }",
        200,
        small,
        42,
    ));
    let last = rows.iter().map(|x| x.arrival_s).fold(0.0, f64::max);
    assert!((last - 40.0).abs() < 1e-6, "last request at {last} s");
    let (_, mut rows) = run(&text(
        "{ kind = \"constant\", rate_per_s = 5.0, client = \"genai-perf\" }",
        20,
        small,
        42,
    ));
    rows.sort_by(|a, b| a.arrival_s.total_cmp(&b.arrival_s));
    for (i, x) in rows.iter().enumerate() {
        assert!(
            (x.arrival_s - (i + 1) as f64 * 0.2).abs() < 1e-6,
            "request {i} at {} s",
            x.arrival_s
        );
    }
}

/// The wait in the client, read from its run note ("N requests waited … (X ms on average)").
fn note_wait(r: &codesim::RunResult) -> (u64, f64) {
    let n = r
        .notes
        .iter()
        .find(|n| n.contains("requests waited for one of"))
        .expect("a wait note");
    let count: u64 = n["client: ".len()..].split(' ').next().unwrap().parse().unwrap();
    let ms: f64 = n.split('(').nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
    (count, ms)
}

/// `max_concurrency` with a rate above what one slot serves: 10 requests/s, one slot, every
/// request taking S ≈ 0.2 s alone. vllm bench keeps its schedule (due at 0.1 (i + 1)) and queues
/// in the client: request i is sent at 0.1 + i S and waited i (S − 0.1), on average
/// (S − 0.1) n / 2 over the n − 1 that waited. AIPerf pauses its schedule instead: the next
/// request is due 0.1 after the last send, so it is sent at i S and each waited S − 0.1. Both
/// measure TTFT from the send: every request's TTFT is the lone one's.
#[test]
fn a_rate_clients_concurrency_cap_queues_or_pauses_as_the_tool_does() {
    let lengths = "input = { kind = \"fixed\", tokens = 100 }\noutput = { kind = \"fixed\", tokens = 30 }\n";
    let n = 40u64;
    for (client, first_s, queue) in [("vllm-bench", 0.1, true), ("aiperf", 0.0, false)] {
        let arrival =
            format!("{{ kind = \"constant\", rate_per_s = 10.0, client = \"{client}\", max_concurrency = 1 }}");
        let (r, mut rows) = run(&text(&arrival, n, lengths, 42));
        rows.sort_by(|a, b| a.arrival_s.total_cmp(&b.arrival_s));
        let s = rows[0].e2e_ms * 1e-3;
        assert!(s > 0.15, "{client}: S = {s} s");
        for (i, x) in rows.iter().enumerate() {
            assert!(
                (x.arrival_s - (first_s + i as f64 * s)).abs() < 1e-6,
                "{client}: request {i} sent at {} s",
                x.arrival_s
            );
            assert!((x.ttft_ms - rows[0].ttft_ms).abs() < 1e-6, "{client}: request {i}");
        }
        let (waited, mean_ms) = note_wait(&r);
        let want_ms = if queue { (s - 0.1) * n as f64 / 2.0 } else { s - 0.1 } * 1e3;
        println!(
            "{client}: S {:.1} ms, {waited} waited {mean_ms:.1} ms on average (closed form {want_ms:.1})",
            s * 1e3
        );
        assert_eq!(waited, n - 1, "{client}");
        assert!((mean_ms - want_ms).abs() < 0.1, "{client}: {mean_ms} ms");
    }
}
