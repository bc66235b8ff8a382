//! Admission and flow control (`[gateway]`, issue 22 item 2): the token bucket against its
//! closed form end to end, shedding by priority, timeouts and client cancellation, and request
//! conservation (arrived = completed + dropped + rejected + shed + timed out + cancelled) under
//! the invariant audit.

use codesim::metrics::attribution::Part;
use codesim::sim::{RunOptions, Simulation};
use std::path::Path;

fn scenario(text: &str) -> codesim::Scenario {
    codesim::scenario::load_str(text, Path::new("test.toml")).unwrap_or_else(|e| panic!("{e}"))
}

fn audited(text: &str) -> (codesim::RunResult, Vec<codesim::metrics::RequestRow>) {
    let opts = RunOptions {
        audit: true,
        keep_requests: true,
        ..RunOptions::default()
    };
    let (r, rows) = Simulation::new(&scenario(text), opts).unwrap().run().unwrap();
    assert!(r.audit.is_empty(), "audit: {:#?}", r.audit);
    let c = r.requests;
    assert_eq!(
        c.arrived,
        c.completed + c.dropped + c.rejected + c.shed + c.timed_out + c.cancelled,
        "conservation: {c:?}"
    );
    (r, rows)
}

/// Bare metal and no host CPU work, so a request reaches the gateway when it arrives.
const BASE: &str = "[hardware]\ninstance = \"p5.48xlarge\"\n[model]\nname = \"llama-2-7b\"\n[infrastructure.nitro]\nenabled = false\n[infrastructure.host]\ntokenize_us_per_token = 0.0\nfrontend_us_per_request = 0.0\n";

#[test]
fn the_gateway_routes_exactly_rate_times_t_plus_burst_by_time_t() {
    // 60 requests at t = 0 (offline), rate 10/s, burst 5: request k (0-based) is routed at
    // max(0, (k − 4) / 10) s, so by t exactly ⌊10 t + 5⌋ have been routed (hand calculation:
    // 5 at t = 0, 15 at 1 s, 25 at 2 s, the 60th at 5.5 s).
    let text = format!(
        "{BASE}[workload]\nrequests = 60\narrival = {{ kind = \"offline\" }}\ninput = {{ kind = \"fixed\", tokens = 128 }}\noutput = {{ kind = \"fixed\", tokens = 16 }}\n[gateway]\nrate_per_s = 10.0\nburst = 5\n"
    );
    let (r, rows) = audited(&text);
    assert_eq!(r.requests.completed, 60);
    let mut routed: Vec<u64> = rows
        .iter()
        .map(|x| {
            (x.arrival_s * 1e9).round() as u64 + x.ttft_parts.get(Part::Frontend) + x.ttft_parts.get(Part::Network)
        })
        .collect();
    routed.sort_unstable();
    for t_s in [0.0, 0.05, 0.1, 0.45, 1.0, 2.0, 5.5, 6.0] {
        let by_t = routed.iter().filter(|&&ns| ns <= (t_s * 1e9) as u64).count() as f64;
        let closed_form = (10.0 * t_s + 5.0_f64).floor().min(60.0);
        println!("t = {t_s} s: routed {by_t}, ⌊10 t + 5⌋ = {closed_form}");
        assert_eq!(by_t, closed_form, "routed by t = {t_s} s");
    }
}

#[test]
fn a_saturated_fleet_sheds_the_sheddable_class_and_never_the_critical_one() {
    // 300 requests at once against one replica that holds 8 waiting at most before it counts as
    // saturated: the batch class (priority 1) is sheddable, the interactive one queues.
    let text = format!(
        "{BASE}[serving]\nmax_batch = 16\n[workload]\nrequests = 300\narrival = {{ kind = \"poisson\", rate_per_s = 200.0 }}\ninput = {{ kind = \"fixed\", tokens = 1024 }}\noutput = {{ kind = \"fixed\", tokens = 64 }}\n[[workload.classes]]\nname = \"interactive\"\nshare = 0.5\npriority = 0\n[[workload.classes]]\nname = \"batch\"\nshare = 0.5\npriority = 1\n[gateway]\nsheddable_priority = 1\nsaturation_queue_depth = 8\n"
    );
    let (r, _) = audited(&text);
    println!("{:?}", r.requests);
    assert!(r.requests.shed > 0, "the batch class is shed under saturation");
    let interactive = r.classes.iter().find(|c| c.name == "interactive").unwrap();
    let batch = r.classes.iter().find(|c| c.name == "batch").unwrap();
    println!(
        "completed: interactive {}, batch {}",
        interactive.completed, batch.completed
    );
    // Every shed request was of the batch class: the interactive class completed all it sent.
    assert_eq!(r.requests.completed + r.requests.shed, r.requests.arrived);
    assert_eq!(
        interactive.completed + batch.completed + r.requests.shed,
        r.requests.arrived
    );
    assert!(batch.completed < interactive.completed);
    assert_eq!(r.saturation, "overloaded", "a run that sheds 5 % or more is overloaded");
}

#[test]
fn queue_timeouts_and_client_cancellation_are_counted_and_free_their_kv() {
    // A bucket of 2/s against 8/s of traffic: the queue grows, requests time out after 1 s in
    // the gateway queue; clients give up after 3 s, some while running (their KV goes back,
    // which the audit checks after every event and at the end: every replica drains).
    let text = format!(
        "{BASE}[workload]\nrequests = 200\narrival = {{ kind = \"poisson\", rate_per_s = 8.0 }}\ninput = {{ kind = \"fixed\", tokens = 512 }}\noutput = {{ kind = \"uniform\", min = 50, max = 400 }}\n[gateway]\nrate_per_s = 6.0\nburst = 4\nqueue_timeout_s = 1.0\nclient_timeout_s = 3.0\n"
    );
    let (r, rows) = audited(&text);
    let c = r.requests;
    println!("{c:?}");
    assert!(
        c.cancelled > 0 && c.cancelled_output_tokens > 0,
        "running requests cancelled"
    );
    assert!(c.timed_out > 0 && c.completed > 0);
    // Every completed request took less than its client's patience.
    assert!(
        rows.iter().all(|x| x.e2e_ms <= 3000.0),
        "no completion after the client gave up"
    );
}

#[test]
fn a_gateway_section_that_sets_nothing_or_half_a_bucket_is_an_error() {
    for (gw, key) in [
        ("[gateway]\n", "gateway"),
        ("[gateway]\nrate_per_s = 5.0\n", "gateway.burst"),
        ("[gateway]\nburst = 0\nrate_per_s = 1.0\n", "gateway.burst"),
        (
            "[gateway]\nsaturation_kv_fraction = 1.5\n",
            "gateway.saturation_kv_fraction",
        ),
        ("[gateway]\norder = \"deadline\"\n", "gateway.order"),
        ("[gateway]\nclient_timeout_s = -1.0\n", "gateway.client_timeout_s"),
    ] {
        let text = format!(
            "{BASE}[workload]\nrequests = 4\narrival = {{ kind = \"offline\" }}\ninput = {{ kind = \"fixed\", tokens = 16 }}\noutput = {{ kind = \"fixed\", tokens = 4 }}\n{gw}"
        );
        let e = codesim::scenario::load_str(&text, Path::new("test.toml")).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains(key), "{gw:?}: {msg}");
    }
}
