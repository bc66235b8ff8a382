//! Workloads people have now (issue 22, item 6): Weibull arrivals, ServeGen's length shapes,
//! multi-turn sessions and the client's network round trip, each against a closed form or a hand
//! calculation written in its test. Llama-3-8B on one H100 (p5.48xlarge, TP 1).

use codesim::metrics::RequestRow;
use codesim::sim::{RunOptions, Simulation};
use std::path::Path;

fn text(workload: &str) -> String {
    format!("[hardware]\ninstance = \"p5.48xlarge\"\n[model]\nname = \"llama-3-8b\"\n[workload]\n{workload}")
}

fn audited(text: &str) -> (codesim::RunResult, Vec<RequestRow>) {
    let sc = codesim::scenario::load_str(text, Path::new("workloads.toml")).unwrap_or_else(|e| panic!("{e}"));
    let opts = RunOptions {
        keep_requests: true,
        audit: true,
        timeline: None,
    };
    Simulation::new(&sc, opts).unwrap().run().unwrap()
}

fn load_err(text: &str) -> String {
    match codesim::scenario::load_str(text, Path::new("workloads.toml")) {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

const LENGTHS: &str = "input = { kind = \"pareto-lognormal\", mean = 500.0, cv = 1.0, tail_weight = 0.1, tail_min = 2000.0, tail_alpha = 2.0, max = 6000 }\noutput = { kind = \"exponential\", mean = 100.0, max = 1000 }\n";

/// Weibull arrivals work as gamma's do: under a client's `max_concurrency` (requests wait, the
/// audit's conservation holds) and under `[workload.profile]`, whose flat profile is the run
/// without one, byte for byte (the profile inverts the arrival process's own draws).
#[test]
fn weibull_arrivals_take_the_concurrency_cap_and_the_profile_as_gamma_does() {
    let arrival = "arrival = { kind = \"weibull\", rate_per_s = 40.0, shape = 0.6, max_concurrency = 4 }\n";
    let base = text(&format!("requests = 300\n{arrival}{LENGTHS}"));
    let (r, rows) = audited(&base);
    assert_eq!(r.requests.completed, 300);
    assert_eq!(rows.len(), 300);
    assert!(
        r.notes
            .iter()
            .any(|n| n.contains("waited for one of the max_concurrency = 4"))
    );
    let flat = format!("{base}[workload.profile]\ndaily = [1.0, 1.0, 1.0]\n");
    let (f, frows) = audited(&flat);
    assert_eq!(
        format!("{:?}{:?}", r.ttft_ms, rows),
        format!("{:?}{:?}", f.ttft_ms, frows)
    );
}

#[test]
fn weibull_and_the_new_lengths_refuse_bad_values_naming_the_key() {
    let w = |arrival: &str, lengths: &str| load_err(&text(&format!("requests = 10\narrival = {arrival}\n{lengths}")));
    let e = w("{ kind = \"weibull\", rate_per_s = 4.0, shape = 0.0 }", LENGTHS);
    assert!(e.contains("workload.arrival.shape") && e.contains("0.1 to 100"), "{e}");
    let e = w(
        "{ kind = \"weibull\", rate_per_s = 4.0, shape = 0.5, client = \"vllm-bench\" }",
        LENGTHS,
    );
    assert!(e.contains("workload.arrival.client") && e.contains("no weibull"), "{e}");
    let e = w(
        "{ kind = \"poisson\", rate_per_s = 4.0 }",
        "input = { kind = \"pareto-lognormal\", mean = 500.0, cv = 1.0, tail_weight = 0.1, tail_min = 2000.0, tail_alpha = 1.0, max = 6000 }\noutput = { kind = \"fixed\", tokens = 10 }\n",
    );
    assert!(e.contains("workload.input.tail_alpha") && e.contains("(1, 100]"), "{e}");
    let e = w(
        "{ kind = \"poisson\", rate_per_s = 4.0 }",
        "input = { kind = \"fixed\", tokens = 10 }\noutput = { kind = \"exponential\", mean = -3.0, max = 100 }\n",
    );
    assert!(e.contains("workload.output.mean"), "{e}");
}

/// One session of three turns: 64 tokens in the first, 32 new in each later one, 16 output
/// tokens each, a fixed 250 ms think time, 16-token blocks.
const SESSION: &str = "requests = 1\narrival = { kind = \"poisson\", rate_per_s = 1.0 }\ninput = { kind = \"fixed\", tokens = 64 }\noutput = { kind = \"fixed\", tokens = 16 }\n[workload.sessions]\nturns = { kind = \"fixed\", n = 3 }\nnew_tokens = { kind = \"fixed\", tokens = 32 }\nthink = { kind = \"fixed\", ms = 250.0 }\n";

/// Turn n's prompt is the history plus its new tokens (by hand: 64; 64 + 16 + 32 = 112;
/// 112 + 16 + 32 = 160), and each turn is sent exactly the think time (250 ms) after the last
/// completed (its arrival − the last one's arrival + E2E).
#[test]
fn a_sessions_nth_prompt_is_its_history_plus_new_tokens_sent_a_think_time_later() {
    let (r, mut rows) = audited(&text(SESSION));
    assert!(r.audit.is_empty(), "{:?}", r.audit);
    rows.sort_by(|a, b| a.arrival_s.total_cmp(&b.arrival_s));
    let prompts: Vec<u32> = rows.iter().map(|r| r.input_tokens).collect();
    assert_eq!(prompts, vec![64, 112, 160]);
    for w in rows.windows(2) {
        let done_s = w[0].arrival_s + w[0].e2e_ns as f64 * 1e-9;
        let gap_s = w[1].arrival_s - done_s;
        assert!((gap_s - 0.25).abs() < 1e-9, "think gap {gap_s}");
    }
    let s = r.sessions.expect("a sessions summary");
    assert_eq!((s.started, s.completed, s.turns_sent, s.turns_completed), (1, 1, 3, 3));
    // First send to last completion: the three E2Es and two think times.
    let want_s = rows.iter().map(|r| r.e2e_ns as f64 * 1e-9).sum::<f64>() + 0.5;
    assert!(
        (s.mean_duration_s - want_s).abs() < 1e-6,
        "{} vs {want_s}",
        s.mean_duration_s
    );
}

/// With the prefix cache on (and nothing evicted), every later turn finds its whole history
/// cached: the prompt's blocks and those its output filled. 16-token blocks: turn 2's history
/// 64 + 16 = 80 tokens (5 blocks), turn 3's 112 + 16 = 128 (8 blocks): 13 blocks hit, 208 tokens,
/// of 64/16 + 112/16 + 160/16 = 4 + 7 + 10 = 21 looked up.
#[test]
fn a_sessions_cache_hits_are_its_history() {
    let (r, _) = audited(&format!(
        "{}[serving]\nblock_tokens = 16\n[serving.prefix_cache]\nenabled = true\n",
        text(SESSION)
    ));
    assert!(r.audit.is_empty(), "{:?}", r.audit);
    let c = r.prefix_cache.expect("a prefix cache summary");
    assert_eq!((c.hit_blocks, c.lookups_blocks, c.evicted_blocks), (13, 21, 0));
    assert_eq!(c.saved_prefill_tokens, 208);
}

/// Many agentic sessions over two replicas with prefix-affinity routing and the cache on: the
/// audit holds after every event, every turn sent completes, the turns add up, and sessions whose
/// prompts outgrow a 2048-token context end there, their unsent turns never counted as requests.
#[test]
fn sessions_conserve_requests_under_the_audit_and_end_at_the_context() {
    let (r, rows) = audited(
        "[hardware]\ninstance = \"p5.48xlarge\"\n[model]\nname = \"llama-3-8b\"\nmax_context = 2048\n[deployment]\nreplicas = 2\n[serving]\nrouting = \"prefix-affinity\"\n[serving.prefix_cache]\nenabled = true\n[workload]\nrequests = 40\narrival = { kind = \"weibull\", rate_per_s = 20.0, shape = 0.7 }\ninput = { kind = \"lognormal\", mean = 300.0, cv = 0.5, max = 1000 }\noutput = { kind = \"exponential\", mean = 60.0, max = 200 }\n[workload.sessions]\nturns = { kind = \"geometric\", mean = 6.0, max = 30 }\nnew_tokens = { kind = \"exponential\", mean = 120.0, max = 600 }\nthink = { kind = \"exponential\", mean_ms = 40.0 }\n",
    );
    assert!(r.audit.is_empty(), "{:?}", r.audit);
    let s = r.sessions.expect("a sessions summary");
    assert_eq!(s.started, 40);
    assert_eq!(s.completed + s.ended_by_context + s.ended_turned_away, 40);
    assert!(s.ended_by_context > 0, "{s:?}");
    assert_eq!(r.requests.arrived, s.turns_sent);
    assert_eq!(r.requests.completed, s.turns_completed);
    assert_eq!(r.requests.completed, r.requests.arrived);
    assert_eq!(rows.len() as u64, r.requests.completed);
    assert!(rows.iter().all(|x| x.input_tokens + 200 <= 2048));
    assert!(r.prefix_cache.unwrap().hit_rate > 0.5);
}

/// A lone request's TTFT and E2E as the client sees them grow by exactly the round trip: 20 ms
/// before the front end sees it, 20 ms after its first token (and its last) leave the server.
/// The `network` part takes the whole 40 ms, so the parts still add up (INV-15); TPOT is
/// unchanged. An odd round trip splits into ⌊rtt/2⌋ in and the rest back: still the whole.
#[test]
fn a_lone_requests_ttft_grows_by_exactly_the_round_trip() {
    let base = "requests = 1\narrival = { kind = \"poisson\", rate_per_s = 1.0 }\ninput = { kind = \"fixed\", tokens = 1000 }\noutput = { kind = \"fixed\", tokens = 50 }\n";
    let (r0, rows0) = audited(&text(base));
    for (rtt, ns) in [("40.0", 40_000_000u64), ("0.000001", 1)] {
        let (r1, rows1) = audited(&text(&format!(
            "{base}client_rtt = {{ kind = \"fixed\", ms = {rtt} }}\n"
        )));
        assert!(r1.audit.is_empty(), "{:?}", r1.audit);
        let (a, b) = (&rows0[0], &rows1[0]);
        assert_eq!(b.ttft_ns - a.ttft_ns, ns);
        assert_eq!(b.e2e_ns - a.e2e_ns, ns);
        assert_eq!(b.tpot_ms, a.tpot_ms);
        let net = codesim::metrics::attribution::Part::Network;
        assert_eq!(b.ttft_parts.get(net) - a.ttft_parts.get(net), ns);
        assert_eq!(b.e2e_parts.get(net) - a.e2e_parts.get(net), ns);
        assert_eq!(b.ttft_parts.total(), b.ttft_ns);
        assert_eq!(b.e2e_parts.total(), b.e2e_ns);
        assert!(r1.ttft_ms.p50 > r0.ttft_ms.p50);
    }
}

/// A session's next turn leaves the think time after its client heard of the completion: the
/// gap between the server's completion and the next send is the return half (20 ms) + think
/// (250 ms) + nothing else; the client's E2E already includes both halves.
#[test]
fn a_session_thinks_after_the_last_token_reaches_its_client() {
    let (r, mut rows) = audited(&text(&format!(
        "client_rtt = {{ kind = \"fixed\", ms = 40.0 }}\n{SESSION}"
    )));
    assert!(r.audit.is_empty(), "{:?}", r.audit);
    rows.sort_by(|a, b| a.arrival_s.total_cmp(&b.arrival_s));
    for w in rows.windows(2) {
        // arrival + client E2E = when the client heard of the completion.
        let heard_s = w[0].arrival_s + w[0].e2e_ns as f64 * 1e-9;
        assert!((w[1].arrival_s - heard_s - 0.25).abs() < 1e-9);
    }
}
