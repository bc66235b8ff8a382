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
