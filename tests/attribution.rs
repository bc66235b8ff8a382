//! Latency attribution adds up exactly: on every example scenario (sweeps and plans aside),
//! under the audit, each completed request's parts sum to its TTFT and its end-to-end time to
//! the nanosecond (the audit checks every completion), and the per-request rows carry them.

use codesim::sim::{RunOptions, Simulation};
use std::path::Path;

fn example_scenarios() -> Vec<std::path::PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut v: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            name.ends_with(".toml") && !name.starts_with("sweep-") && !name.starts_with("plan-")
        })
        .collect();
    v.sort();
    v
}

#[test]
fn parts_sum_to_ttft_and_e2e_exactly_on_every_example_scenario() {
    for path in example_scenarios() {
        let sc = codesim::scenario::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        // The audit checks every event (O(running) each): on the smaller scenarios only; the
        // rows are checked on all.
        let opts = RunOptions {
            keep_requests: true,
            audit: sc.requests <= 1_000,
            timeline: None,
        };
        let t = std::time::Instant::now();
        let (r, rows) = Simulation::new(&sc, opts).unwrap().run().unwrap();
        assert!(
            r.audit.is_empty(),
            "{}: {:#?}",
            path.display(),
            &r.audit[..r.audit.len().min(5)]
        );
        assert!(!rows.is_empty(), "{}", path.display());
        for row in &rows {
            assert_eq!(
                row.ttft_parts.total(),
                row.ttft_ns,
                "{} request {}",
                path.display(),
                row.id
            );
            assert_eq!(
                row.e2e_parts.total(),
                row.e2e_ns,
                "{} request {}",
                path.display(),
                row.id
            );
        }
        eprintln!("{}: {} requests in {:?}", path.display(), rows.len(), t.elapsed());
    }
}

fn rows(text: &str) -> Vec<codesim::metrics::RequestRow> {
    let sc = codesim::scenario::load_str(text, Path::new("test.toml")).unwrap_or_else(|e| panic!("{e}"));
    let opts = RunOptions {
        keep_requests: true,
        audit: true,
        timeline: None,
    };
    let (r, rows) = Simulation::new(&sc, opts).unwrap().run().unwrap();
    assert!(r.audit.is_empty(), "{:#?}", r.audit);
    rows
}

/// Hand calculation: two prompts arrive together at a replica with one batch slot. The first
/// runs alone: its prefill step is all its TTFT (prefill), its decode steps all the rest
/// (decode). The second waits, for want of a slot, exactly the first's whole life, then runs
/// the same way (same lengths: the same steps).
#[test]
fn the_second_of_two_requests_on_one_slot_waits_the_whole_first_for_a_slot() {
    use codesim::metrics::attribution::Part;
    let rows = rows(
        "[hardware]\ninstance = \"p5.48xlarge\"\n[model]\nname = \"llama-2-7b\"\n[serving]\nmax_batch = 1\n[workload]\nrequests = 2\narrival = { kind = \"offline\" }\ninput = { kind = \"fixed\", tokens = 512 }\noutput = { kind = \"fixed\", tokens = 4 }\n",
    );
    let (a, b) = (&rows[0], &rows[1]);
    // Both spend Nitro's request latency on the network first.
    let net = a.ttft_parts.get(Part::Network);
    assert_eq!((net, b.ttft_parts.get(Part::Network)), (20_000, 20_000));
    assert_eq!(a.ttft_parts.get(Part::Prefill), a.ttft_ns - net);
    assert_eq!(a.e2e_parts.get(Part::Decode), a.e2e_ns - a.ttft_ns);
    assert_eq!(b.e2e_parts.get(Part::QueueSlot), a.e2e_ns - net);
    assert_eq!(b.ttft_parts.get(Part::Prefill), a.ttft_ns - net);
    assert_eq!(b.e2e_parts.get(Part::Decode), a.e2e_ns - a.ttft_ns);
    assert_eq!(b.e2e_ns, 2 * a.e2e_ns - net);
}

/// Hand calculation: with prefill-first batching, a request that arrives while another decodes
/// waits for the decode step in flight (queue_step), is prefilled alone (its prefill is the
/// step), and the decoding request sits through that prefill step as other work. Its decode
/// steps are shared with the other's: the decode share of a pure decode step is all of it.
#[test]
fn a_late_prompt_waits_for_the_step_in_flight_and_stalls_the_decoding_one() {
    use codesim::metrics::attribution::Part;
    let rows = rows(
        "[hardware]\ninstance = \"p5.48xlarge\"\n[model]\nname = \"llama-2-7b\"\n[serving]\nscheduler = \"continuous\"\n[workload]\nrequests = 2\narrival = { kind = \"constant\", rate_per_s = 20.0 }\ninput = { kind = \"fixed\", tokens = 2000 }\noutput = { kind = \"fixed\", tokens = 400 }\n",
    );
    let (a, b) = (&rows[0], &rows[1]);
    // b arrived 50 ms in, mid-step: it waited for that step, then was prefilled alone.
    let wait = b.ttft_parts.get(Part::QueueStep);
    assert!(wait > 0, "{:?}", b.ttft_parts);
    let net = b.ttft_parts.get(Part::Network);
    assert_eq!(b.ttft_parts.get(Part::Prefill), b.ttft_ns - net - wait);
    // a sat through b's prefill step while decoding: exactly b's prefill time.
    assert_eq!(a.e2e_parts.get(Part::OtherWork), b.ttft_parts.get(Part::Prefill));
    assert_eq!(a.e2e_parts.get(Part::Prefill), a.ttft_ns - net);
}
