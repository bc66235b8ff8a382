//! Sliding-window, chunked and linear-attention models through the whole simulator, with the
//! invariant audit on: KV conservation (each sequence's bounded part claimed at admission and
//! given back at release, preemption and swap), token and request conservation.

use codesim::sim::{RunOptions, Simulation};
use std::path::Path;

fn audited(text: &str, what: &str) -> codesim::RunResult {
    let sc = codesim::scenario::load_str(text, Path::new("test.toml")).unwrap_or_else(|e| panic!("{what}: {e}"));
    let opts = RunOptions {
        keep_requests: false,
        audit: true,
    };
    let (r, _) = Simulation::new(&sc, opts).unwrap().run().unwrap();
    assert!(r.audit.is_empty(), "{what}: {:#?}", r.audit);
    let c = r.requests;
    assert_eq!(c.arrived, c.completed + c.dropped + c.rejected, "{what}");
    assert_eq!(c.output_tokens_produced, c.output_tokens_asked, "{what}");
    r
}

fn example(file: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios").join(file)).unwrap()
}

/// The two examples run clean under the audit.
#[test]
fn the_examples_conserve_kv_under_the_audit() {
    for file in [
        "feature-sliding-window-gpt-oss.toml",
        "feature-hybrid-linear-qwen3-next.toml",
    ] {
        let r = audited(&example(file).replace("requests = 600", "requests = 150"), file);
        assert_eq!(r.requests.completed, 150, "{file}");
    }
}

/// Long prompts on one H200 (gpt-oss-120b in fp8 leaves ~10 GB of KV): sequences are preempted
/// (by recompute, and by swap) and their windows given back and claimed again; Llama 4 Scout's
/// chunks and Qwen3-Next's states likewise, under static, chunked and reserving admission.
#[test]
fn preemption_and_admission_modes_conserve_bounded_kv() {
    let load = "[workload]\nrequests = 100\narrival = { kind = \"poisson\", rate_per_s = 200.0 }\ninput = { kind = \"uniform\", min = 4000, max = 12000 }\noutput = { kind = \"uniform\", min = 500, max = 2000 }\n";
    let mut preempted = 0u64;
    for (model, weights, tp, serving) in [
        (
            "gpt-oss-120b",
            "fp8",
            1,
            "scheduler = \"chunked\"\npreemption = \"recompute\"",
        ),
        (
            "gpt-oss-120b",
            "fp8",
            1,
            "scheduler = \"chunked\"\npreemption = \"swap\"",
        ),
        (
            "gpt-oss-120b",
            "fp8",
            1,
            "scheduler = \"continuous\"\nmax_batched_tokens = 16384",
        ),
        (
            "gpt-oss-20b",
            "bf16",
            1,
            "scheduler = \"static\"\nmax_batch = 8\nmax_batched_tokens = 131072",
        ),
        (
            "llama-4-scout-17b-16e",
            "fp8",
            2,
            "scheduler = \"chunked\"\nkv_admission = \"reserve\"",
        ),
        ("qwen3-next-80b-a3b", "fp8", 1, "scheduler = \"chunked\""),
    ] {
        let text = format!(
            "[hardware]\ninstance = \"p5en.48xlarge\"\n[model]\nname = \"{model}\"\nweights = \"{weights}\"\n[deployment]\ntp = {tp}\n[serving]\n{serving}\n{load}"
        );
        let r = audited(&text, &format!("{model} {serving}"));
        preempted += r.preemption.recompute_tokens + r.preemption.swap_bytes as u64;
    }
    assert!(preempted > 0, "the long prompts should preempt somewhere");
}

/// A disaggregated gpt-oss deployment hands each sequence's window over with its KV.
#[test]
fn disaggregated_windows_travel_with_the_kv() {
    let text = "[hardware]\ninstance = \"p5en.48xlarge\"\n[model]\nname = \"gpt-oss-120b\"\nweights = \"fp8\"\n[disaggregation]\nprefill = { tp = 2, replicas = 1 }\ndecode = { tp = 2, replicas = 1 }\n[workload]\nrequests = 40\narrival = { kind = \"poisson\", rate_per_s = 10.0 }\ninput = { kind = \"uniform\", min = 100, max = 3000 }\noutput = { kind = \"uniform\", min = 10, max = 200 }\n";
    audited(text, "disaggregated gpt-oss");
}
