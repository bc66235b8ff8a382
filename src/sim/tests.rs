//! Unit tests of the simulation's own mechanics: named random streams, instance accounting of
//! co-located pools, and a whole run against a hand calculation.

use super::*;
use crate::scenario::load_str;
use crate::serve::KvLink;
use cluster::instances_needed;
use std::path::Path;

fn scenario(text: &str) -> Scenario {
    load_str(text, Path::new("sim-test.toml")).unwrap_or_else(|e| panic!("{e}"))
}

fn rows(sc: &Scenario) -> Vec<RequestRow> {
    let opts = RunOptions {
        keep_requests: true,
        ..Default::default()
    };
    Simulation::new(sc, opts).unwrap().run().unwrap().1
}

const BASE: &str = "[hardware]\ninstance = \"p5.48xlarge\"\n[model]\nname = \"llama-3-8b\"\n[deployment]\nreplicas = 4\n[serving]\nrouting = \"prefix-affinity\"\n[workload]\nrequests = 200\narrival = { kind = \"poisson\", rate_per_s = 20.0 }\ninput = { kind = \"lognormal\", mean = 500.0, cv = 1.0, max = 4000 }\noutput = { kind = \"lognormal\", mean = 100.0, cv = 1.0, max = 800 }\n";

/// Streams are independent (INV-3): drawing prefix groups (the Classes stream) does not move a
/// single arrival time or length, which come from the Arrivals and Lengths streams.
#[test]
fn a_new_draw_on_one_stream_leaves_the_others_alone() {
    let plain = rows(&scenario(BASE));
    let grouped = rows(&scenario(&format!("{BASE}prefix_groups = 6\n")));
    let key = |r: &RequestRow| (r.id, r.arrival_s.to_bits(), r.input_tokens, r.output_tokens);
    let mut a: Vec<_> = plain.iter().map(key).collect();
    let mut b: Vec<_> = grouped.iter().map(key).collect();
    a.sort();
    b.sort();
    assert_eq!(a.len(), 200);
    assert_eq!(a, b, "arrivals and lengths must not depend on the prefix-group draws");
    // The routing did change (prefix affinity sends groups to their replicas), so the test
    // would see a shared stream.
    let replicas = |v: &[RequestRow]| {
        let mut r: Vec<_> = v.iter().map(|r| (r.id, r.replica)).collect();
        r.sort();
        r
    };
    assert_ne!(replicas(&plain), replicas(&grouped));
}

/// Co-located prefill and decode pools over NeuronLink share instances in proportion to their
/// ranks: 2 prefill replicas of TP 8 and 1 decode replica of TP 16 on trn1.32xlarge (32 ranks
/// an instance) need 32 ranks = 1 instance, split 16/32 and 16/32.
#[test]
fn co_located_pools_share_instances_by_their_ranks() {
    let sc = scenario(
        "[hardware]\ninstance = \"trn1.32xlarge\"\n[model]\nname = \"llama-3-8b\"\n[disaggregation]\nprefill = { tp = 8, replicas = 2 }\ndecode = { tp = 16, replicas = 1 }\nkv_link = \"neuronlink\"\n[workload]\nrequests = 1\narrival = { kind = \"offline\" }\ninput = { kind = \"fixed\", tokens = 64 }\noutput = { kind = \"fixed\", tokens = 4 }\n",
    );
    let pools = sc.pools.clone();
    assert_eq!(instances_needed(&pools, KvLink::Neuronlink), vec![0.5, 0.5]);
    // Over EFA each pool has its own instances: 16 ranks and 16 ranks, one instance each.
    assert_eq!(instances_needed(&pools, KvLink::Efa), vec![1.0, 1.0]);
}

/// One request alone: its end-to-end time is its prefill step plus one decode step per further
/// token, each at the cost model's time, plus the host's tokenizer path. Measured against the
/// cost model directly.
#[test]
fn a_lone_request_takes_its_steps_back_to_back() {
    let sc = scenario(
        "[hardware]\ninstance = \"p5.48xlarge\"\n[model]\nname = \"llama-3-8b\"\n[workload]\nrequests = 1\narrival = { kind = \"offline\" }\ninput = { kind = \"fixed\", tokens = 512 }\noutput = { kind = \"fixed\", tokens = 4 }\n",
    );
    let sim = Simulation::new(&sc, RunOptions::default()).unwrap();
    let perf = sim.perf().clone();
    let (r, _) = sim.run().unwrap();
    let prefill_ms = perf.prefill_step(512).total_ns as f64 * 1e-6;
    // Decode steps attend to 513, 514 and 515 tokens (the new token included).
    let decode_ms: f64 = (513..516)
        .map(|ctx| perf.decode_step(1, ctx).total_ns as f64 * 1e-6)
        .sum();
    let front_ms = r.e2e_ms.p50 - (prefill_ms + decode_ms);
    assert!(
        (-1e-4..1.0).contains(&front_ms),
        "e2e {} ms = prefill {prefill_ms} + decode {decode_ms} + front path {front_ms} (tokenizer, < 1 ms)",
        r.e2e_ms.p50
    );
    // The tokenizer runs before the prefill; the decode steps follow the first token at once.
    let tokenizer_ms = r.ttft_ms.p50 - prefill_ms;
    // Latencies are kept as f32: 1e-4 ms is their resolution at ~35 ms.
    assert!((-1e-4..=front_ms + 1e-4).contains(&tokenizer_ms), "{tokenizer_ms}");
    assert!((r.tpot_ms.p50 * 3.0 - decode_ms).abs() < 1e-4 + (front_ms - tokenizer_ms).abs());
}
