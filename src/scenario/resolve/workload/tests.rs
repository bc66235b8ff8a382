use crate::scenario::load_str;
use std::path::Path;

fn with(workload: &str) -> crate::error::Result<crate::scenario::Scenario> {
    load_str(
        &format!(
            "[hardware]\ninstance = \"p5.48xlarge\"\n[model]\nname = \"llama-2-7b\"\n[workload]\nrequests = 10\narrival = {{ kind = \"poisson\", rate_per_s = 1.0 }}\ninput = {{ kind = \"fixed\", tokens = 100 }}\n{workload}"
        ),
        Path::new("w.toml"),
    )
}

fn arriving(arrival: &str, output: &str) -> crate::error::Result<crate::scenario::Scenario> {
    load_str(
        &format!(
            "[hardware]\ninstance = \"p5.48xlarge\"\n[model]\nname = \"llama-2-7b\"\n[workload]\nrequests = 10\narrival = {arrival}\ninput = {{ kind = \"fixed\", tokens = 100 }}\noutput = {output}\n"
        ),
        Path::new("w.toml"),
    )
}

/// What a client cannot do is an error naming the key, the value and what is accepted.
#[test]
fn a_client_is_held_to_what_the_tool_does() {
    let out = "{ kind = \"fixed\", tokens = 10 }";
    for (arrival, key, says) in [
        (
            "{ kind = \"closed\", clients = 2, client = \"llmperf\", think_time_s = 1.0 }",
            "workload.arrival.think_time_s",
            "client = \"ideal\"",
        ),
        (
            "{ kind = \"gamma\", rate_per_s = 1.0, cv = 2.0, client = \"aiperf\" }",
            "workload.arrival.client",
            "no gamma",
        ),
        (
            "{ kind = \"poisson\", rate_per_s = 1.0, client = \"llmperf\" }",
            "workload.arrival.client",
            "kind = \"closed\"",
        ),
        (
            "{ kind = \"closed\", clients = 2, client = \"locust\" }",
            "workload.arrival",
            "unknown variant `locust`, expected one of `ideal`, `llmperf`, `llmperf-legacy`, `genai-perf`, `aiperf`, `vllm-bench`",
        ),
        (
            "{ kind = \"closed\", clients = 2, client = \"llm-perf\" }",
            "workload.arrival",
            "did you mean `llmperf`",
        ),
        (
            "{ kind = \"closed\", clients = 2, send_delay_ms = -1.0 }",
            "workload.arrival.send_delay_ms",
            "0 to 1000000",
        ),
        (
            "{ kind = \"closed\", clients = 2, send_delay_ms = 2e6 }",
            "workload.arrival.send_delay_ms",
            "0 to 1000000",
        ),
        (
            "{ kind = \"constant\", rate_per_s = 0.0 }",
            "workload.arrival.rate_per_s",
            "> 0",
        ),
        (
            "{ kind = \"constant\", rate_per_s = 1.0, client = \"genai-perf\", max_concurrency = 4 }",
            "workload.arrival.max_concurrency",
            "not both",
        ),
        (
            "{ kind = \"poisson\", rate_per_s = 1.0, max_concurrency = 0 }",
            "workload.arrival.max_concurrency",
            "at least 1",
        ),
        (
            "{ kind = \"poisson\", rate_per_s = 1.0, max_concurrency = 3000000 }",
            "workload.arrival.max_concurrency",
            "2097152",
        ),
        (
            "{ kind = \"closed\", clients = 2, max_concurrency = 2 }",
            "workload.arrival",
            "unknown field `max_concurrency`",
        ),
    ] {
        let e = arriving(arrival, out).unwrap_err().to_string();
        assert!(
            e.contains("w.toml") && e.contains(key) && e.contains(says),
            "{arrival}: {e}"
        );
    }
    for (output, key, says) in [
        (
            "{ kind = \"normal\", mean = 0.5, stddev = 1.0, max = 10 }",
            "workload.output.mean",
            "from min (1) to max (10)",
        ),
        (
            "{ kind = \"normal\", mean = 5.0, stddev = -1.0, max = 10 }",
            "workload.output.stddev",
            ">= 0",
        ),
        (
            "{ kind = \"normal\", mean = 5.0, stddev = 1.0 }",
            "max",
            "missing field",
        ),
    ] {
        let e = arriving("{ kind = \"closed\", clients = 2 }", output)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("w.toml") && e.contains(key) && e.contains(says),
            "{output}: {e}"
        );
    }
}

/// A named client says what it does in the run notes; a tool asks for each request's own
/// output as `max_tokens` unless `workload.max_tokens` is set; `ideal` stays as it was.
#[test]
fn a_named_client_is_noted_and_sets_max_tokens_per_request() {
    let normal = "{ kind = \"normal\", mean = 200.0, stddev = 80.0, max = 1000 }";
    let sc = arriving("{ kind = \"closed\", clients = 50, client = \"llmperf\" }", normal).unwrap();
    assert!(
        sc.notes.iter().any(|n| n.starts_with("client: 50 × llmperf — ")),
        "{:?}",
        sc.notes
    );
    assert!(sc.max_tokens_per_request);
    assert_eq!(sc.max_tokens, Some(1000));
    let sc = arriving("{ kind = \"closed\", clients = 50 }", normal).unwrap();
    assert!(sc.notes.iter().all(|n| !n.starts_with("client:")), "{:?}", sc.notes);
    assert!(!sc.max_tokens_per_request);
    let sc = arriving(
        "{ kind = \"poisson\", rate_per_s = 2.0, client = \"vllm-bench\", max_concurrency = 8 }",
        normal,
    )
    .unwrap();
    assert!(sc.notes.iter().any(|n| n.contains("requests / rate")), "{:?}", sc.notes);
    assert!(
        sc.notes
            .iter()
            .any(|n| n.contains("at most 8 requests in flight") && n.contains("first come first served")),
        "{:?}",
        sc.notes
    );
    let sc = load_str(
        &format!(
            "[hardware]\ninstance = \"p5.48xlarge\"\n[model]\nname = \"llama-2-7b\"\n[workload]\nrequests = 10\nmax_tokens = 300\narrival = {{ kind = \"closed\", clients = 2, client = \"genai-perf\", send_delay_ms = 1.5 }}\ninput = {{ kind = \"fixed\", tokens = 100 }}\noutput = {normal}\n"
        ),
        Path::new("w.toml"),
    )
    .unwrap();
    assert!(!sc.max_tokens_per_request);
    assert!(
        sc.notes
            .iter()
            .any(|n| n.contains("mean 1.5 ms") && n.contains("assumption")),
        "{:?}",
        sc.notes
    );
}

/// `workload.max_tokens`: the output distribution's maximum by default, as set when set,
/// refused at 0, at the context (4096 for Llama-2-7B: no room for a prompt), or misspelled.
#[test]
fn max_tokens_defaults_to_the_distributions_maximum_and_is_checked() {
    let fixed = "output = { kind = \"fixed\", tokens = 64 }\n";
    assert_eq!(with(fixed).unwrap().max_tokens, Some(64));
    let lognormal = "output = { kind = \"lognormal\", mean = 200.0, cv = 1.0, max = 2000 }\n";
    assert_eq!(with(lognormal).unwrap().max_tokens, Some(2000));
    let uniform = "output = { kind = \"uniform\", min = 5, max = 700 }\n";
    assert_eq!(with(uniform).unwrap().max_tokens, Some(700));
    assert_eq!(
        with(&format!("{uniform}max_tokens = 300\n")).unwrap().max_tokens,
        Some(300)
    );
    for (bad, says) in [
        ("max_tokens = 0", "must be at least 1"),
        ("max_tokens = 4096", "accepted: 1 to 4095"),
    ] {
        let e = with(&format!("{fixed}{bad}\n")).unwrap_err().to_string();
        assert!(
            e.contains("w.toml") && e.contains("workload.max_tokens") && e.contains(says),
            "{e}"
        );
    }
    let e = with(&format!("{fixed}max_token = 64\n")).unwrap_err().to_string();
    assert!(e.contains("max_token"), "{e}");
}
