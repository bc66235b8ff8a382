//! Resolution: every default filled in, the first pool read through its accessors, SLOs and class
//! shares resolved, limits enforced with the key named.

use super::*;
use crate::error::Error;

const MINIMAL: &str = "[hardware]\ninstance = \"p5.48xlarge\"\n[model]\nname = \"llama-3-8b\"\n[workload]\nrequests = 10\narrival = { kind = \"poisson\", rate_per_s = 1.0 }\ninput = { kind = \"fixed\", tokens = 100 }\noutput = { kind = \"fixed\", tokens = 10 }\n";

fn load(text: &str) -> Result<Scenario> {
    load_str(text, Path::new("scenario-test.toml"))
}

#[test]
fn a_minimal_file_resolves_to_one_unified_pool_with_every_default() {
    let sc = load(MINIMAL).unwrap();
    assert_eq!(sc.pools.len(), 1);
    let p = &sc.pools[0];
    assert_eq!(p.role, crate::serve::PoolRole::Unified);
    assert_eq!((p.tp, p.pp, p.replicas), (1, 1, 1));
    assert_eq!(sc.hardware().instance.name, "p5.48xlarge");
    assert_eq!(sc.parallelism().tp, 1);
    assert_eq!(sc.replicas(), 1);
    assert_eq!(sc.classes.len(), 1, "one class of every request");
    assert_eq!(sc.classes[0].share, 1.0);
    assert!(sc.slo.is_none() && sc.classes[0].slo.is_none());
}

#[test]
fn class_shares_are_normalised_and_slos_resolve_to_the_one_slo_type() {
    let text = format!(
        "{MINIMAL}[slo]\ntpot_ms = 80.0\n[[workload.classes]]\nname = \"a\"\nshare = 3.0\nslo = {{ ttft_ms = 500.0 }}\n[[workload.classes]]\nname = \"b\"\nshare = 1.0\n"
    );
    let sc = load(&text).unwrap();
    let shares: Vec<f64> = sc.classes.iter().map(|c| c.share).collect();
    assert_eq!(shares, [0.75, 0.25]);
    let a = sc.classes[0].slo.as_ref().unwrap();
    assert_eq!(
        (a.ttft_ms, a.tpot_ms),
        (Some(500.0), None),
        "a class's own SLO replaces [slo]"
    );
    let b = sc.classes[1].slo.as_ref().unwrap();
    assert_eq!(
        (b.ttft_ms, b.tpot_ms),
        (None, Some(80.0)),
        "a class without one takes [slo]"
    );
    assert!(b.met_by_request(1e9, 79.0, 1e9) && !b.met_by_request(0.0, 81.0, 0.0));
}

#[test]
fn more_closed_loop_clients_than_a_run_can_hold_are_refused_by_key() {
    let text = MINIMAL.replace(
        "arrival = { kind = \"poisson\", rate_per_s = 1.0 }",
        &format!(
            "arrival = {{ kind = \"closed\", clients = {} }}",
            limits::MAX_IN_SYSTEM + 1
        ),
    );
    match load(&text) {
        Err(Error::Input(e)) => {
            assert_eq!(e.location, "workload.arrival.clients");
            assert!(e.message.contains(&limits::MAX_IN_SYSTEM.to_string()), "{}", e.message);
        }
        other => panic!("expected an input error, got {other:?}"),
    }
}

#[test]
fn names_printed_to_the_terminal_are_one_plain_line() {
    for (text, key) in [
        (format!("name = \"run\\u001b[2J\"\n{MINIMAL}"), "name"),
        (
            format!("{MINIMAL}[[workload.classes]]\nname = \"a\\nb\"\nshare = 1.0\n"),
            "workload.classes[0].name",
        ),
    ] {
        match load(&text) {
            Err(Error::Input(e)) => {
                assert_eq!(e.location, key);
                assert!(e.message.contains("control character"), "{}", e.message);
            }
            other => panic!("{key}: expected an input error, got {other:?}"),
        }
    }
}
