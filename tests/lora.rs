//! LoRA adapters (`serving.lora`), against hand calculations: an adapter's load time is its
//! bytes over the storage tier's and the host link's bandwidth, and a step with adapter tokens
//! is slower by the closed-form roofline time of their batched adapter GEMMs.

use codesim::perf::AdapterWork;
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

/// One llama-2-7b replica on a p5.48xlarge (TP 1), one request of 512 + 4 tokens.
fn lone(lora: &str) -> String {
    format!(
        "[hardware]\ninstance = \"p5.48xlarge\"\n[model]\nname = \"llama-2-7b\"\n[deployment]\ntp = 1\n[workload]\nrequests = 1\narrival = {{ kind = \"offline\" }}\ninput = {{ kind = \"fixed\", tokens = 512 }}\noutput = {{ kind = \"fixed\", tokens = 4 }}\n{lora}"
    )
}

fn ttft_e2e_ns(text: &str) -> (f64, f64, codesim::RunResult, std::sync::Arc<codesim::perf::PerfModel>) {
    let sc = scenario(text);
    let sim = Simulation::new(
        &sc,
        RunOptions {
            keep_requests: true,
            audit: true,
            ..RunOptions::default()
        },
    )
    .unwrap();
    let perf = std::sync::Arc::new(sim.perf().clone());
    let (r, rows) = sim.run().unwrap();
    assert!(r.audit.is_empty(), "{:?}", r.audit);
    (rows[0].ttft_ms * 1e6, rows[0].e2e_ms * 1e6, r, perf)
}

/// The closed-form time of adapter GEMMs over `tokens` tokens of one rank-16 q/k/v/o adapter of
/// llama-2-7b at TP 1: max(FLOPs / (peak · ε_c), bytes / (HBM · ε_m)).
fn adapter_ns(perf: &codesim::perf::PerfModel, tokens: f64) -> f64 {
    // Per layer and projection: A is 4096 × 16, B is 16 × 4096.
    let params = 16.0 * (4096.0 + 4096.0) * 4.0 * 32.0; // 16,777,216
    let flops = 2.0 * params * tokens;
    let acts = (4096.0 + 2.0 * 16.0 + 2.0 * 4096.0) * 4.0 * 32.0 * 2.0; // bf16 per token
    let bytes = params * 2.0 + acts * tokens;
    let (peak, bw, eff_c, eff_m) = perf.roofline_rates(tokens);
    let w = AdapterWork {
        flops_per_token: 2.0 * params,
        weight_bytes_per_adapter: params * 2.0,
        act_bytes_per_token: acts,
        tokens,
        adapters: 1.0,
    };
    assert_eq!(w.flops(), flops);
    assert_eq!(w.bytes(), bytes);
    (flops / (peak * 1e-9 * eff_c)).max(bytes / (bw * 1e-9 * eff_m))
}

const ONE_ADAPTER: &str = "[serving.lora]\nadapters = 1\nrank = 16\nslots = 1\n";

#[test]
fn a_lone_request_pays_the_load_then_its_adapter_gemms_on_every_step() {
    let (ttft0, e2e0, r0, _) = ttft_e2e_ns(&lone(""));
    let (ttft, e2e, r, perf) = ttft_e2e_ns(&lone(ONE_ADAPTER));
    assert!(r0.lora.is_none());
    // The adapter: 16,777,216 bf16 parameters = 33,554,432 bytes, read from the instance's NVMe
    // (100 µs, then 6.9 GB/s shared by the 8 GPUs of the instance: 0.8625 GB/s for this replica)
    // and copied over the GPU's PCIe Gen5 host link (31.5 GB/s on p5.48xlarge, per direction).
    let bytes = 33_554_432.0;
    let load_ns = 100e3 + bytes / (6.9 / 8.0) + bytes / 31.5;
    let l = r.lora.unwrap();
    assert_eq!(l.adapter_bytes, bytes);
    assert_eq!((l.loads, l.storage_reads, l.hits), (1, 1, 0));
    assert!(
        (l.load_s * 1e9 - load_ns).abs() < 1e-3,
        "{} vs {load_ns}",
        l.load_s * 1e9
    );
    assert_eq!(l.adapter_tokens, 512 + 3);
    // TTFT: the load and the adapter GEMMs of the 512 prompt tokens on top of the same prefill
    // (each step's time is rounded to a ns once).
    let prefill_extra = load_ns + adapter_ns(&perf, 512.0);
    assert!(
        (ttft - ttft0 - prefill_extra).abs() <= 1.5,
        "TTFT +{} vs +{prefill_extra}",
        ttft - ttft0
    );
    // Each of the 3 decode steps runs one adapter token.
    let decode_extra = 3.0 * adapter_ns(&perf, 1.0);
    let got = (e2e - ttft) - (e2e0 - ttft0);
    assert!((got - decode_extra).abs() <= 3.0, "decode +{got} vs +{decode_extra}");
    // Memory-bound at one token: the adapter's 33.5 MB dominate.
    assert!(adapter_ns(&perf, 1.0) > bytes / (perf.roofline_rates(1.0).1 * 1e-9));
}

#[test]
fn a_base_model_request_pays_nothing() {
    let (ttft0, e2e0, _, _) = ttft_e2e_ns(&lone(""));
    let (ttft, e2e, r, _) = ttft_e2e_ns(&lone(&format!("{ONE_ADAPTER}base_share = 1.0\n")));
    assert_eq!((ttft, e2e), (ttft0, e2e0));
    assert_eq!(r.lora.unwrap().loads, 0);
}

/// Many adapters, few slots, two replicas: under the audit every request completes, adapters
/// are conserved, and adapter affinity loads fewer adapters than round robin.
#[test]
fn adapter_affinity_loads_fewer_adapters_than_round_robin() {
    let text = |routing: &str| {
        format!(
            "[hardware]\ninstance = \"p5.48xlarge\"\n[model]\nname = \"llama-3-8b\"\n[deployment]\ntp = 1\nreplicas = 4\n[serving]\nrouting = \"{routing}\"\n[serving.lora]\nadapters = 64\nrank = 8\nslots = 8\nzipf = 1.0\nbase_share = 0.1\n[workload]\nrequests = 1500\narrival = {{ kind = \"poisson\", rate_per_s = 40.0 }}\ninput = {{ kind = \"fixed\", tokens = 400 }}\noutput = {{ kind = \"fixed\", tokens = 60 }}\n"
        )
    };
    let run = |routing: &str| {
        let sc = scenario(&text(routing));
        let sim = Simulation::new(
            &sc,
            RunOptions {
                audit: true,
                ..RunOptions::default()
            },
        )
        .unwrap();
        let (r, _) = sim.run().unwrap();
        assert!(r.audit.is_empty(), "{routing}: {:?}", r.audit);
        assert_eq!(r.requests.completed, 1500, "{routing}");
        r.lora.unwrap()
    };
    let rr = run("round-robin");
    let aff = run("adapter-affinity");
    assert!(rr.evictions > 0, "8 slots for 64 adapters over round robin must evict");
    assert!(
        aff.loads < rr.loads,
        "affinity {} loads vs round robin {}",
        aff.loads,
        rr.loads
    );
    assert!(aff.hit_rate > rr.hit_rate);
}

#[test]
fn bad_lora_sections_name_the_key_and_what_is_accepted() {
    for (lora, key, want) in [
        ("adapters = 4\nrank = 8\nslots = 5\n", "serving.lora.slots", "1..=4"),
        ("adapters = 4\nrank = 0\nslots = 1\n", "serving.lora.rank", "1..=4096"),
        (
            "adapters = 4\nrank = 8\nslots = 1\ntarget_modules = [\"qproj\"]\n",
            "target_modules[0]",
            "q_proj",
        ),
        (
            "adapters = 4\nrank = 8\nslots = 1\nstorage = \"tape\"\n",
            "serving.lora.storage",
            "nvme",
        ),
        (
            "adapters = 4\nrank = 8\nslots = 1\nzipf = -1.0\n",
            "serving.lora.zipf",
            ">= 0",
        ),
        (
            "adapters = 4\nrank = 8\nslots = 1\nbase_share = 2.0\n",
            "serving.lora.base_share",
            "[0, 1]",
        ),
        (
            "adapters = 4\nrank = 8\nslots = 2\nhost_slots = 1\n",
            "serving.lora.host_slots",
            "2..=4",
        ),
        (
            "adapters = 4\nrank = 8\nslots = 1\nalpha = 16\n",
            "alpha",
            "unknown field",
        ),
        (
            "adapters = 4\nrank = 8\nslots = 1\n[serving.lora.classes.chat]\nzipf = 1.0\n",
            "classes.chat",
            "no workload class",
        ),
    ] {
        let e = err(&lone(&format!("[serving.lora]\n{lora}")));
        assert!(e.contains(key) && e.contains(want), "{lora}: {e}");
    }
    let e = err(&lone("[serving]\nrouting = \"adapter-affinity\"\n"));
    assert!(e.contains("serving.routing") && e.contains("[serving.lora]"), "{e}");
    let moe = "[hardware]\ninstance = \"p5.48xlarge\"\n[model]\nname = \"mixtral-8x7b\"\n[deployment]\ntp = 2\n[workload]\nrequests = 1\narrival = { kind = \"offline\" }\ninput = { kind = \"fixed\", tokens = 10 }\noutput = { kind = \"fixed\", tokens = 10 }\n[serving.lora]\nadapters = 2\nrank = 8\nslots = 1\ntarget_modules = [\"up_proj\"]\n";
    let e = err(moe);
    assert!(e.contains("MoE") && e.contains("target_modules[0]"), "{e}");
}

/// Per class: a class's requests use only its range of adapters.
#[test]
fn each_class_draws_from_its_own_adapters() {
    let text = "[hardware]\ninstance = \"p5.48xlarge\"\n[model]\nname = \"llama-2-7b\"\n[deployment]\ntp = 1\n[serving.lora]\nadapters = 10\nrank = 8\nslots = 2\n[serving.lora.classes.a]\nadapters = 1\n[serving.lora.classes.b]\nfirst_adapter = 1\nbase_share = 1.0\n[workload]\nrequests = 200\narrival = { kind = \"poisson\", rate_per_s = 5.0 }\ninput = { kind = \"fixed\", tokens = 100 }\noutput = { kind = \"fixed\", tokens = 10 }\n[[workload.classes]]\nname = \"a\"\nshare = 0.5\n[[workload.classes]]\nname = \"b\"\nshare = 0.5\n";
    let r = codesim::simulate(&scenario(text)).unwrap();
    let l = r.lora.unwrap();
    // Class a always uses adapter 0, class b never an adapter: one load, every other a hit.
    assert_eq!(l.loads, 1);
    let a = r.classes.iter().find(|c| c.name == "a").unwrap().completed;
    assert_eq!(l.hits + l.loads, a);
}
