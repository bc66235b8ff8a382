//! The timeline export meets the Chrome trace-event format (the JSON Perfetto and
//! chrome://tracing read), stays within its window and sample, and `explain` names the
//! dominant cause of constructed cases: a burst, a KV-starved replica, a hot prefix routed to
//! one replica, a slow network.

use codesim::explain::{Cause, explain};
use codesim::sim::timeline::{TimelineSpec, trace_json};
use codesim::sim::{RunOptions, Simulation};
use serde_json::Value;
use std::path::Path;

const H100_7B: &str = "[hardware]\ninstance = \"p5.48xlarge\"\n[model]\nname = \"llama-2-7b\"\n";

fn scenario(text: &str) -> codesim::Scenario {
    codesim::scenario::load_str(text, Path::new("test.toml")).unwrap_or_else(|e| panic!("{e}"))
}

/// The trace-event format's schema (the "JSON Object Format" of the Trace Event Format
/// document, as Perfetto's importer reads it), checked event by event: every event has a
/// string `ph` of a known phase, a string `name`, integer `pid` and `tid` and a number `ts`
/// ≥ 0; complete events (`X`) a `dur` ≥ 0; counters (`C`) an `args` object of numbers only;
/// metadata (`M`) a `process_name`/`thread_name` with `args.name` a string.
fn check_trace_schema(v: &Value) -> Result<usize, String> {
    let events = v
        .get("traceEvents")
        .and_then(Value::as_array)
        .ok_or("no traceEvents array")?;
    if let Some(u) = v.get("displayTimeUnit") {
        if !matches!(u.as_str(), Some("ms" | "ns")) {
            return Err(format!("displayTimeUnit {u}"));
        }
    }
    for (i, e) in events.iter().enumerate() {
        let bad = |what: &str| Err(format!("event {i} {what}: {e}"));
        let Some(ph) = e.get("ph").and_then(Value::as_str) else {
            return bad("has no ph");
        };
        if e.get("name").and_then(Value::as_str).is_none() {
            return bad("has no string name");
        }
        if e.get("pid").and_then(Value::as_u64).is_none() || e.get("tid").and_then(Value::as_u64).is_none() {
            return bad("has no integer pid/tid");
        }
        if !e
            .get("ts")
            .and_then(Value::as_f64)
            .is_some_and(|t| t >= 0.0 && t.is_finite())
        {
            return bad("has no ts >= 0");
        }
        match ph {
            "X" => {
                if !e.get("dur").and_then(Value::as_f64).is_some_and(|d| d >= 0.0) {
                    return bad("(complete) has no dur >= 0");
                }
            }
            "C" => {
                let Some(args) = e.get("args").and_then(Value::as_object) else {
                    return bad("(counter) has no args");
                };
                if args.is_empty() || !args.values().all(Value::is_number) {
                    return bad("(counter) args are not all numbers");
                }
            }
            "M" => {
                let n = e["name"].as_str().unwrap();
                if !matches!(n, "process_name" | "thread_name") || e["args"]["name"].as_str().is_none() {
                    return bad("(metadata) is not a named process or thread");
                }
            }
            "i" | "B" | "E" => {}
            _ => return bad("has an unknown phase"),
        }
        if let Some(args) = e.get("args") {
            if !args.is_object() {
                return bad("has args that are not an object");
            }
        }
    }
    Ok(events.len())
}

#[test]
fn the_trace_meets_the_trace_event_schema_and_its_bounds() {
    let sc = scenario(&format!(
        "{H100_7B}[deployment]\nreplicas = 2\n[serving]\nmax_batch = 8\n[workload]\nrequests = 300\narrival = {{ kind = \"poisson\", rate_per_s = 30.0 }}\ninput = {{ kind = \"uniform\", min = 100, max = 2000 }}\noutput = {{ kind = \"uniform\", min = 10, max = 300 }}\n"
    ));
    let spec = TimelineSpec {
        from_ns: 2_000_000_000,
        to_ns: 5_000_000_000,
        sample_every: 3,
        max_records: 100_000,
    };
    let opts = RunOptions {
        timeline: Some(spec),
        ..RunOptions::default()
    };
    let (r, _, tl) = Simulation::new(&sc, opts).unwrap().run_timeline().unwrap();
    let tl = tl.unwrap();
    let v = trace_json(&tl, &r.notes);
    let n = check_trace_schema(&v).unwrap();
    assert!(n > 100, "{n} events");
    let events = v["traceEvents"].as_array().unwrap();
    let phases: std::collections::HashSet<&str> = events.iter().map(|e| e["ph"].as_str().unwrap()).collect();
    assert_eq!(phases, ["X", "C", "M"].into_iter().collect());
    // Steps within the window, requests one in three, both replicas' tracks, both counters.
    for e in events.iter().filter(|e| e["cat"] == "step") {
        let ts = e["ts"].as_f64().unwrap();
        assert!((2e6..=5e6).contains(&ts), "{ts}");
    }
    assert!(
        tl.requests
            .iter()
            .all(|q| q.seq % 3 == 0 && (2e9..=5e9).contains(&(q.arrival_ns as f64)))
    );
    assert!(!tl.requests.is_empty());
    let tids: std::collections::HashSet<u64> = events
        .iter()
        .filter(|e| e["cat"] == "step")
        .map(|e| e["tid"].as_u64().unwrap())
        .collect();
    assert_eq!(tids.len(), 2);
    // A replica's steps follow one another without overlap (viewers nest overlapping events).
    for tid in tids {
        let mut steps: Vec<(u64, u64)> = events
            .iter()
            .filter(|e| e["cat"] == "step" && e["tid"] == tid)
            .map(|e| (e["ts"].as_u64().unwrap(), e["dur"].as_u64().unwrap()))
            .collect();
        steps.sort();
        assert!(steps.windows(2).all(|w| w[0].0 + w[0].1 <= w[1].0), "replica {tid}");
    }
    for name in ["queue r0", "kv use r1"] {
        assert!(events.iter().any(|e| e["ph"] == "C" && e["name"] == name), "{name}");
    }
    // The record cap bounds it.
    let opts = RunOptions {
        timeline: Some(TimelineSpec {
            max_records: 50,
            ..TimelineSpec::default()
        }),
        ..RunOptions::default()
    };
    let (_, _, tl) = Simulation::new(&sc, opts).unwrap().run_timeline().unwrap();
    let tl = tl.unwrap();
    assert!(tl.truncated && tl.steps.len() + tl.requests.len() == 50);
    // A bad window is an input error through the CLI (exit 2).
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_codesim"))
        .args([
            "run",
            "scenarios/quickstart.toml",
            "--trace",
            "/dev/null",
            "--trace-window",
            "5,1",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--trace-window"));
}

fn cause_of(text: &str) -> (Cause, String) {
    let ex = explain(&scenario(text), false).unwrap();
    assert!(ex.misses > 0);
    assert_eq!(ex.slowest.len(), 10);
    (ex.cause, ex.why)
}

/// 1 request/s for 60 s on one replica, and 150 more at t = 30 s: the misses are the burst's.
#[test]
fn explain_names_a_burst() {
    let dir = std::env::temp_dir().join(format!("codesim-burst-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut csv = String::from("arrived_at,num_prefill_tokens,num_decode_tokens\n");
    for i in 0..60 {
        csv.push_str(&format!("{i}.0,800,150\n"));
        if i == 30 {
            csv.push_str(&"30.0,800,150\n".repeat(150));
        }
    }
    let path = dir.join("burst.csv");
    std::fs::write(&path, csv).unwrap();
    let (cause, why) = cause_of(&format!(
        "{H100_7B}[serving]\nmax_batch = 16\n[workload]\narrival = {{ kind = \"trace\", path = \"{}\" }}\n",
        path.display()
    ));
    assert_eq!(cause, Cause::Burst, "{why}");
}

/// One replica whose KV cache holds a few requests (most of the HBM reserved), reserving
/// prompt + max_tokens at admission: the queue waits for KV blocks, not slots.
#[test]
fn explain_names_a_kv_starved_replica() {
    let (cause, why) = cause_of(&format!(
        "{H100_7B}[serving]\nkv_admission = \"reserve\"\nkv_reserve_fraction = 0.78\n[workload]\nrequests = 300\nmax_tokens = 600\narrival = {{ kind = \"poisson\", rate_per_s = 8.0 }}\ninput = {{ kind = \"fixed\", tokens = 1000 }}\noutput = {{ kind = \"fixed\", tokens = 300 }}\n"
    ));
    assert_eq!(cause, Cause::KvStarved, "{why}");
}

/// Four replicas, prefix-affinity routing, and every prompt sharing one prefix: the hot
/// prefix's replica takes the load up to the bound (1.25 × the mean), its overflow goes to the
/// next replica on the ring, and the other two idle: the misses queue on those two.
#[test]
fn explain_names_a_hot_prefix_routed_to_one_replica() {
    let (cause, why) = cause_of(&format!(
        "{H100_7B}[deployment]\nreplicas = 4\n[serving]\nrouting = \"prefix-affinity\"\nmax_batch = 8\n[workload]\nrequests = 600\nprefix_groups = 1\narrival = {{ kind = \"poisson\", rate_per_s = 8.0 }}\ninput = {{ kind = \"fixed\", tokens = 1500 }}\noutput = {{ kind = \"fixed\", tokens = 200 }}\n"
    ));
    assert_eq!(cause, Cause::Imbalance, "{why}");
}

/// 300 ms of network on the way in (Nitro's per-request latency raised) against a lightly
/// loaded replica.
#[test]
fn explain_names_a_slow_network() {
    let (cause, why) = cause_of(&format!(
        "{H100_7B}[infrastructure.nitro]\nrequest_latency_us = 300000.0\n[workload]\nrequests = 200\narrival = {{ kind = \"poisson\", rate_per_s = 2.0 }}\ninput = {{ kind = \"uniform\", min = 100, max = 1000 }}\noutput = {{ kind = \"fixed\", tokens = 50 }}\n"
    ));
    assert_eq!(cause, Cause::SlowNetwork, "{why}");
}

/// Steady short prompts at 2 requests/s, and two 30,000-token prompts at t = 20 s under
/// prefill-first batching: the short ones arriving behind them wait for the steps in flight (the
/// long prefills), at the run's own rate. Not a burst, not overload: prefill work.
#[test]
fn explain_names_long_prefills_ahead_of_short_prompts() {
    let dir = std::env::temp_dir().join(format!("codesim-hol-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut csv = String::from("arrived_at,num_prefill_tokens,num_decode_tokens\n");
    for i in 0..120 {
        let t = i as f64 * 0.5;
        csv.push_str(&format!("{t:.1},200,20\n"));
        if i == 40 {
            csv.push_str("20.0,30000,20\n20.1,30000,20\n20.2,30000,20\n20.3,30000,20\n");
        }
    }
    let path = dir.join("hol.csv");
    std::fs::write(&path, csv).unwrap();
    let (cause, why) = cause_of(&format!(
        "[hardware]\ninstance = \"p5.48xlarge\"\n[model]\nname = \"llama-3.1-8b\"\n[serving]\nscheduler = \"continuous\"\nmax_batched_tokens = 32768\n[workload]\narrival = {{ kind = \"trace\", path = \"{}\" }}\n[slo]\nttft_ms = 500.0\n",
        path.display()
    ));
    assert_eq!(cause, Cause::Prefill, "{why}");
    assert!(
        why.contains("waiting for the step in flight or the token budget"),
        "{why}"
    );
}
