//! Replays every committed fuzz corpus file (`fuzz/corpus/<target>/*`) through the same entry
//! points as the libFuzzer targets, on stable Rust, so `cargo test` guards the crashes the fuzzers
//! found (their minimized inputs are in the corpus) without needing nightly or cargo-fuzz.
//! Each entry asserts "a value or a codesim input error naming its file, never a panic".

#[path = "../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod entries;

use std::path::{Path, PathBuf};

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus").join(target)
}

fn files(target: &str) -> Vec<PathBuf> {
    let dir = corpus_dir(target);
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    v
}

#[test]
fn every_corpus_file_is_read_without_panic() {
    let mut failures = Vec::new();
    for target in entries::TARGETS {
        let inputs = files(target);
        assert!(!inputs.is_empty(), "fuzz/corpus/{target} has no seed");
        for file in inputs {
            let data = std::fs::read(&file).unwrap();
            let outcome = std::panic::catch_unwind(|| entries::run(target, &data));
            if outcome.is_err() {
                failures.push(format!("{target}: {}", file.display()));
            }
        }
    }
    assert!(failures.is_empty(), "panicked on:\n{}", failures.join("\n"));
}

#[test]
fn corpus_folders_match_the_targets() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let mut dirs: Vec<String> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    dirs.sort();
    let mut targets: Vec<String> = entries::TARGETS.iter().map(|t| t.to_string()).collect();
    targets.sort();
    assert_eq!(
        dirs, targets,
        "every corpus folder is a fuzz target and every target has one"
    );
}

#[test]
fn entries_reject_what_the_cli_rejects() {
    // The entries are not vacuous: a panic inside a reader would fail them. Bad inputs give
    // input errors, so these return normally; an unknown target name is a bug in the harness.
    entries::run("scenario", b"[hardware\n");
    entries::run(
        "trace_vidur",
        b"arrived_at,num_prefill_tokens,num_decode_tokens\n0,0,1\n",
    );
    assert!(std::panic::catch_unwind(|| entries::run("no-such-target", b"")).is_err());
}

// ---------------------------------------------------------------------------------------------
// Crashes the fuzzers found, each with the error it must give now. Their inputs are also in the
// corpus above.

const WORKLOAD: &str = "[workload]\nrequests = 10\narrival = { kind = \"poisson\", rate_per_s = 1.0 }\ninput = { kind = \"fixed\", tokens = 100 }\noutput = { kind = \"fixed\", tokens = 10 }\n";

/// The one-line message of a scenario that must be refused as bad input.
fn scenario_input_error(text: &str) -> String {
    let path = Path::new("/nonexistent/s.toml");
    match codesim::scenario::load_str(text, path) {
        Err(e @ codesim::Error::Input(_)) => e.to_string(),
        Err(e) => panic!("expected an input error, got {e:?}"),
        Ok(_) => panic!("expected an input error, the scenario loaded:\n{text}"),
    }
}

fn assert_has(msg: &str, parts: &[&str]) {
    for p in parts {
        assert!(msg.contains(p), "`{msg}` lacks `{p}`");
    }
}

#[test]
fn chip_override_of_zero_ranks_is_refused() {
    // Was a division by zero in check_pool (TP modulo the instance's ranks).
    let e = scenario_input_error(&format!(
        "[hardware]\ninstance = \"inf2.48xlarge\"\nchip = {{ ranks_per_chip = 0 }}\n[model]\nname = \"llama-3-8b\"\n{WORKLOAD}"
    ));
    assert_has(
        &e,
        &["/nonexistent/s.toml", "hardware.chip.ranks_per_chip", "at least 1"],
    );
    let e = scenario_input_error(&format!(
        "[hardware]\ninstance = \"inf2.48xlarge\"\ninstance_overrides = {{ chips = 0 }}\n[model]\nname = \"llama-3-8b\"\n{WORKLOAD}"
    ));
    assert_has(&e, &["hardware.instance_overrides.chips", "at least 1"]);
    let e = scenario_input_error(&format!(
        "[hardware]\ninstance = \"inf2.48xlarge\"\nchip = {{ ranks_per_chip = 65536 }}\ninstance_overrides = {{ chips = 65536 }}\n[model]\nname = \"llama-3-8b\"\n{WORKLOAD}"
    ));
    assert_has(&e, &["hardware.instance", "4294967296 ranks", "4096"]);
}

#[test]
fn ranks_beyond_any_fleet_are_refused() {
    // TP 3221225472 (a multiple of inf2's 24 ranks) × PP 2 overflowed the u32 rank count.
    let e = scenario_input_error(&format!(
        "[hardware]\ninstance = \"inf2.48xlarge\"\n[model]\nname = \"llama-3-8b\"\n[deployment]\ntp = 3221225472\npp = 2\n{WORKLOAD}"
    ));
    assert_has(
        &e,
        &["deployment", "TP 3221225472 × PP 2 = 6442450944 ranks", "1048576"],
    );
    // Pools each within the limit but over it together.
    let group = "{ tp = 24, pp = 32, replicas = 1000 }";
    let e = scenario_input_error(&format!(
        "[hardware]\ninstance = \"inf2.48xlarge\"\n[model]\nname = \"llama-3-8b\"\n[deployment]\ngroups = [{group}, {group}]\n{WORKLOAD}"
    ));
    assert_has(&e, &["deployment", "1536000 ranks in all"]);
}

#[test]
fn plan_sizes_beyond_i64_are_refused_when_the_plan_is_read() {
    // units × the base's replicas overflowed i64 in plan::scenario_table; the plan loader now
    // refuses such a base (and such a max_replicas) before any probe is built.
    let text = "[demand]\nrate_per_s = 1.0\nrequests = 10\ninput = { kind = \"fixed\", tokens = 10 }\noutput = { kind = \"fixed\", tokens = 10 }\n[slo]\nttft_p99_ms = 100.0\n[[candidate]]\nname = \"c\"\nmax_replicas = 4294967295\nscenario = { hardware = { instance = \"p5.48xlarge\" }, model = { name = \"llama-3-8b\" }, deployment = { replicas = 9223372036854775807 } }\n";
    let path = Path::new("/nonexistent/plan.toml");
    let Err(codesim::Error::Input(e)) = codesim::plan::load_str(text, path) else {
        panic!("a plan whose probes would overflow must be refused");
    };
    let e = e.to_string();
    assert_has(&e, &["plan.toml", "candidate `c`"]);
    assert!(e.contains("9223372036854775807") || e.contains("4294967295"), "{e}");
}

#[test]
fn sizes_the_simulation_would_allocate_are_bounded() {
    // block_tokens = 2^32 - 1 made every replica allocate a 16 GiB counter table; 2^32 - 1
    // prefix groups or sessions a 32 GiB weight table and a 16 GiB session table.
    let base = "[hardware]\ninstance = \"p5.48xlarge\"\n[model]\nname = \"llama-3-8b\"\n";
    let e = scenario_input_error(&format!("{base}[serving]\nblock_tokens = 4294967295\n{WORKLOAD}"));
    assert_has(&e, &["serving.block_tokens", "4096"]);
    let prefix = |k: &str| {
        format!(
            "{base}[serving]\nprefix_cache = {{ enabled = true }}\n{WORKLOAD}prefix = {{ system_tokens = 64, {k} = 4294967295 }}\n"
        )
    };
    assert_has(
        &scenario_input_error(&prefix("groups")),
        &["workload.prefix.groups", "1048576"],
    );
    assert_has(
        &scenario_input_error(&prefix("sessions")),
        &["workload.prefix.sessions", "16777216"],
    );
    // The largest accepted sizes load.
    let sc = codesim::scenario::load_str(
        &format!("{base}[serving]\nblock_tokens = 4096\n{WORKLOAD}"),
        Path::new("/nonexistent/s.toml"),
    )
    .unwrap();
    assert_eq!(sc.scheduler.block_tokens, 4096);
}

#[test]
fn plan_seeds_must_fit_a_scenario_seed() {
    // Probe seeds past 2^63 - 1 were written into scenarios as negative TOML integers.
    let plan = |head: &str| {
        format!(
            "{head}\n[demand]\nrate_per_s = 1.0\nrequests = 10\ninput = {{ kind = \"fixed\", tokens = 10 }}\noutput = {{ kind = \"fixed\", tokens = 10 }}\n[slo]\nttft_p99_ms = 100.0\n[[candidate]]\nname = \"c\"\nscenario = {{ hardware = {{ instance = \"p5.48xlarge\" }}, model = {{ name = \"llama-3-8b\" }} }}\n"
        )
    };
    let path = Path::new("/nonexistent/plan.toml");
    let err = |head: &str| match codesim::plan::load_str(&plan(head), path) {
        Err(e @ codesim::Error::Input(_)) => e.to_string(),
        other => panic!("expected an input error, got {other:?}"),
    };
    assert_has(&err("seed = 18446744073709551615"), &["plan.toml", "seed", "2^63 - 1"]);
    assert_has(&err("seed = 9223372036854775807"), &["seed", "seeds_per_probe (2)"]);
    assert_has(
        &err("seed = 9223372036854775807\nseeds_per_probe = 1"),
        &["verify_seed", "2^63 - 1"],
    );
    let p = codesim::plan::load_str(&plan("seed = 9223372036854775806\nverify_seed = 0"), path).unwrap();
    assert_eq!((p.seed, p.verify_seed), (9223372036854775806, 0));
}

#[test]
fn chip_overrides_are_checked_like_profile_entries() {
    let e = scenario_input_error(&format!(
        "[hardware]\ninstance = \"p5.48xlarge\"\nchip = {{ tdp_w = 0.0 }}\n[model]\nname = \"llama-3-8b\"\n{WORKLOAD}"
    ));
    assert_has(&e, &["/nonexistent/s.toml", "tdp_w", "> 0"]);
    let e = scenario_input_error(&format!(
        "[hardware]\ninstance = \"c8g.16xlarge\"\nchip = {{ physical_cores_per_chip = 0 }}\n[model]\nname = \"llama-3-8b\"\n{WORKLOAD}"
    ));
    assert_has(&e, &["physical_cores_per_chip", "at least 1"]);
    // A chip's kind picks its cost model before overrides apply: renaming it is refused.
    let e = scenario_input_error(&format!(
        "[hardware]\ninstance = \"p5.48xlarge\"\nchip = {{ kind = \"cpu\" }}\n[model]\nname = \"llama-3-8b\"\n{WORKLOAD}"
    ));
    assert_has(&e, &["hardware.chip.kind", "choose another instance"]);
}

#[test]
fn host_and_front_end_core_counts_are_bounded() {
    // scenario_values: a front-end count of 2^32 - 1 overflowed vCPUs × count in
    // Frontend::cores; a host_vcpus override near 2^32 made the simulation queue on that many
    // cores (a heap entry each).
    let base = "[hardware]\ninstance = \"p5.48xlarge\"\n[model]\nname = \"llama-3-8b\"\n";
    let e = scenario_input_error(&format!(
        "{base}{WORKLOAD}[infrastructure]\nfrontend = {{ instance = \"c8g.4xlarge\", count = 4294967295 }}\n"
    ));
    assert_has(&e, &["infrastructure.frontend.count", "10000"]);
    let e = scenario_input_error(&format!(
        "[hardware]\ninstance = \"p5.48xlarge\"\ninstance_overrides = {{ host_vcpus = 4294967295 }}\n[model]\nname = \"llama-3-8b\"\n{WORKLOAD}"
    ));
    assert_has(&e, &["hardware.instance_overrides.host_vcpus", "4096"]);
}
