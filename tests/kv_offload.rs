//! KV offload tiers (`serving.kv_offload`) through the library, under the audit (every tier at
//! most its capacity, KV conserved, attribution adding up after every event). The closed forms
//! (a reload adds latency + bytes / bandwidth to TTFT, queue depth 1 serialises two reloads, a
//! shared pool's hit from another replica) are `serve::kv_tiers::tests`.

use codesim::sim::{RunOptions, Simulation};
use std::path::Path;

fn scenario(text: &str) -> codesim::Scenario {
    codesim::scenario::load_str(text, Path::new("test.toml")).unwrap_or_else(|e| panic!("{e}"))
}

fn err(text: &str) -> String {
    match codesim::scenario::load_str(text, Path::new("test.toml")) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e.to_string(),
    }
}

fn run(sc: &codesim::Scenario, audit: bool) -> codesim::RunResult {
    let sim = Simulation::new(
        sc,
        RunOptions {
            audit,
            ..RunOptions::default()
        },
    )
    .unwrap();
    let (r, _) = sim.run().unwrap();
    assert!(r.audit.is_empty(), "{:?}", r.audit);
    assert_eq!(r.requests.arrived, r.requests.completed);
    assert_eq!(r.requests.output_tokens_produced, r.requests.output_tokens_asked);
    r
}

/// The example: every tier of the chain is written and hit, the shared pool included, and no
/// tier ever held more than its capacity (16 GiB, 64 GiB, the drive's share). (`tests/
/// attribution.rs` runs it under the audit.)
#[test]
fn the_example_runs_under_the_audit_and_every_tier_is_used() {
    let sc = codesim::scenario::load(Path::new("scenarios/feature-kv-offload.toml")).unwrap();
    let r = run(&sc, false);
    assert!(
        r.notes
            .iter()
            .any(|n| n.starts_with("KV offload tier mooncake-pool: 64.0 GiB")),
        "{:?}",
        r.notes
    );
    let k = r.kv_offload.expect("kv_offload summary");
    assert_eq!(k.blocks, "all");
    let names: Vec<&str> = k.tiers.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["cpu", "mooncake-pool", "nvme"]);
    for t in &k.tiers {
        println!(
            "{}: {} hits, {:.1} GB read in {:.2} s, {} written, max {:.1} GiB",
            t.name, t.hit_blocks, t.reload_gb, t.reload_s, t.written_blocks, t.max_used_gib
        );
        assert!(t.hit_blocks > 0 && t.written_blocks > 0, "{}", t.name);
        assert!(t.max_used_gib <= t.capacity_gib.unwrap() + 1e-9, "{}", t.name);
    }
    assert!(k.tiers[1].shared && !k.tiers[0].shared);
    // The drive's share: 3,576 GiB × 4 / 8 GPUs.
    assert_eq!(k.tiers[2].capacity_gib, Some(1788.0));
    let pc = r.prefix_cache.unwrap();
    let tier_hits: u64 = k.tiers.iter().map(|t| t.hit_blocks).sum();
    assert!(pc.hit_blocks > tier_hits);
}

/// Forty Llama-3.1-70B sequences of 2,000 + 1,500 tokens on one TP 2 replica (about 20 GB of
/// KV per rank, ~65k tokens, less than the 140k they grow to): decode runs out of blocks and
/// preempts. With
/// `blocks = "all"` the victims park in the cpu tier instead of being recomputed: nothing is
/// prefilled again, and every parked sequence comes back (the audit's drained check).
#[test]
fn preempted_sequences_park_in_a_tier_instead_of_being_recomputed() {
    let text = |offload: &str| {
        format!(
            "[hardware]\ninstance = \"p5.48xlarge\"\n[model]\nname = \"llama-3.1-70b\"\n[deployment]\ntp = 2\n{offload}[workload]\nrequests = 40\narrival = {{ kind = \"offline\" }}\ninput = {{ kind = \"fixed\", tokens = 2000 }}\noutput = {{ kind = \"fixed\", tokens = 1500 }}\n"
        )
    };
    let base = run(&scenario(&text("")), true);
    assert!(base.preemption.recompute_tokens > 0, "the base run must preempt");
    let r = run(&scenario(&text("[serving.kv_offload]\ntiers = [\"cpu\"]\n")), true);
    let k = r.kv_offload.unwrap();
    let cpu = &k.tiers[0];
    println!(
        "recompute tokens {} -> {}; parked {} ({:.1} GB), park {:.3} s, resume {:.3} s",
        base.preemption.recompute_tokens,
        r.preemption.recompute_tokens,
        cpu.parked_seqs,
        cpu.parked_gb,
        cpu.park_s,
        cpu.resume_s
    );
    assert!(cpu.parked_seqs > 0);
    assert_eq!(r.preemption.recompute_tokens, 0);
    // Parks write and resumes read the same bytes over the host link (31.5 GB/s per H100 on
    // p5.48xlarge, 2 chips: 63 GB/s), each waiting at least for its own bytes (more when
    // several queue in one step).
    let floor_s = cpu.parked_gb / 63.0;
    assert!(cpu.park_s >= floor_s * (1.0 - 1e-9) && cpu.resume_s >= floor_s * (1.0 - 1e-9));
    assert!(r.notes.iter().any(|n| n.contains("default \"all\"")));
}

#[test]
fn bad_offload_input_is_refused_naming_the_key() {
    let base = "[hardware]\ninstance = \"p5.48xlarge\"\n[model]\nname = \"llama-3.1-8b\"\n[workload]\nrequests = 1\narrival = { kind = \"offline\" }\ninput = { kind = \"fixed\", tokens = 100 }\noutput = { kind = \"fixed\", tokens = 10 }\n";
    let with = |s: &str| format!("{base}{s}");
    for (text, key, says) in [
        (
            "[serving.kv_offload]\ntiers = [\"tape\"]\n",
            "serving.kv_offload.tiers[0]",
            "accepted: cpu, nvme",
        ),
        (
            "[serving.kv_offload]\ntiers = []\n",
            "serving.kv_offload.tiers",
            "1 to 8",
        ),
        (
            "[serving.kv_offload]\ntiers = [\"cpu\", \"cpu\"]\n",
            "serving.kv_offload.tiers[1]",
            "each tier once",
        ),
        (
            "[serving.kv_offload]\ntiers = [\"cpu\"]\ncapacity_gib = { nvme = 10.0 }\n",
            "serving.kv_offload.capacity_gib.nvme",
            "names no tier",
        ),
        (
            "[serving.kv_offload]\ntiers = [\"cpu\"]\ncapacity_gib = { cpu = -1.0 }\n",
            "serving.kv_offload.capacity_gib.cpu",
            "> 0",
        ),
        (
            "[serving.kv_offload]\ntiers = [\"cpu\"]\nblocks = \"prompt\"\n",
            "serving.kv_offload.blocks",
            "prompt cache is off",
        ),
        (
            "[serving.kv_offload]\ntiers = [\"cpu\"]\nspeed = 1\n",
            "serving.kv_offload",
            "unknown field",
        ),
        (
            "[serving]\npreemption = \"swap\"\n[serving.kv_offload]\ntiers = [\"cpu\"]\n",
            "serving.preemption",
            "recompute",
        ),
        (
            "[serving.prefix_cache]\nhost_tier_gib = 8.0\n[serving.kv_offload]\ntiers = [\"cpu\"]\n",
            "serving.prefix_cache.host_tier_gib",
            "capacity_gib.cpu",
        ),
        (
            "[serving.kv_offload]\ntiers = [\"cpu\"]\nblocks = \"decode\"\n",
            "blocks",
            "prompt",
        ),
    ] {
        let e = err(&with(text));
        assert!(e.contains(key) && e.contains(says), "{text}: {e}");
    }
    // Absent or disabled: no tiers, no summary.
    let off = scenario(&with("[serving.kv_offload]\nenabled = false\ntiers = [\"tape\"]\n"));
    assert!(off.features.kv_offload.is_none());
}
