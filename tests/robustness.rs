//! The bad-input catalogue: every entry is a file codesim is given, the command, and words the
//! one-line error must contain. Each must exit with code 2, print exactly one line naming the
//! file, and never panic.

use std::path::{Path, PathBuf};
use std::process::Command;

const BASE: &str = "[hardware]\ninstance = \"p5.48xlarge\"\n[model]\nname = \"llama-2-7b\"\n";
const WORKLOAD: &str = "[workload]\nrequests = 10\narrival = { kind = \"poisson\", rate_per_s = 1.0 }\ninput = { kind = \"fixed\", tokens = 100 }\noutput = { kind = \"fixed\", tokens = 10 }\n";

fn workload(arrival: &str, input: &str, output: &str) -> String {
    format!("[workload]\nrequests = 10\narrival = {arrival}\ninput = {input}\noutput = {output}\n")
}

fn trace_scenario(file: &str) -> String {
    format!("{BASE}[workload]\narrival = {{ kind = \"trace\", path = \"{file}\" }}\n")
}

fn dir(test: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("codesim-robust-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn codesim(args: &[&str], cwd: &Path) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_codesim"))
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// One entry: what it is, the scenario text, extra files beside it, words the error must contain.
type BadScenario = (&'static str, String, Vec<(&'static str, Vec<u8>)>, Vec<&'static str>);

fn scenario_cases() -> Vec<BadScenario> {
    let fixed = "{ kind = \"fixed\", tokens = 100 }";
    let out10 = "{ kind = \"fixed\", tokens = 10 }";
    let poisson = "{ kind = \"poisson\", rate_per_s = 1.0 }";
    vec![
        ("syntax error", "[hardware\n".into(), vec![], vec!["line 1", "syntax"]),
        ("fp4 KV cache", format!("{BASE}kv_cache = \"nvfp4\"\n{WORKLOAD}"), vec![], vec!["model.kv_cache", "nvfp4", "accepted: bf16, fp16, fp8, int8"]),
        ("unknown weight dtype", format!("{BASE}weights = \"fp4\"\n{WORKLOAD}"), vec![], vec!["model.weights", "fp4", "nvfp4", "mxfp4"]),
        ("empty file", String::new(), vec![], vec!["missing field `hardware`"]),
        ("unknown top-level key", format!("{BASE}{WORKLOAD}[servng]\nmax_batch = 4\n"), vec![], vec!["servng", "did you mean `serving`"]),
        ("unknown serving key", format!("{BASE}[serving]\nmax_batch_size = 8\n{WORKLOAD}"), vec![], vec!["serving.max_batch_size", "did you mean `max_batch`"]),
        ("unknown arrival key", format!("{BASE}{}", workload("{ kind = \"poisson\", rate_per_sec = 1.0 }", fixed, out10)), vec![], vec!["rate_per_sec", "did you mean `rate_per_s`"]),
        ("unknown arrival kind", format!("{BASE}{}", workload("{ kind = \"poison\", rate_per_s = 1.0 }", fixed, out10)), vec![], vec!["poison", "did you mean `poisson`"]),
        ("unknown length kind", format!("{BASE}{}", workload(poisson, "{ kind = \"fixd\", tokens = 5 }", out10)), vec![], vec!["fixd", "did you mean `fixed`"]),
        ("wrong type", format!("{BASE}[serving]\nmax_batch = \"eight\"\n{WORKLOAD}"), vec![], vec!["serving.max_batch", "line"]),
        ("negative integer", format!("{BASE}{}", workload(poisson, "{ kind = \"fixed\", tokens = -5 }", out10)), vec![], vec!["workload.input", "-5"]),
        ("negative rate", format!("{BASE}{}", workload("{ kind = \"poisson\", rate_per_s = -2.0 }", fixed, out10)), vec![], vec!["workload.arrival.rate_per_s", "> 0"]),
        ("zero rate", format!("{BASE}{}", workload("{ kind = \"poisson\", rate_per_s = 0.0 }", fixed, out10)), vec![], vec!["rate_per_s", "> 0"]),
        ("infinite rate", format!("{BASE}{}", workload("{ kind = \"poisson\", rate_per_s = inf }", fixed, out10)), vec![], vec!["rate_per_s", "finite"]),
        ("NaN override", format!("{BASE}{WORKLOAD}[hardware.chip]\nhbm_bandwidth_gb_s = nan\n"), vec![], vec!["hbm_bandwidth_gb_s", "NaN"]),
        ("zero cv", format!("{BASE}{}", workload("{ kind = \"gamma\", rate_per_s = 1.0, cv = 0.0 }", fixed, out10)), vec![], vec!["workload.arrival.cv"]),
        ("zero clients", format!("{BASE}{}", workload("{ kind = \"closed\", clients = 0 }", fixed, out10)), vec![], vec!["workload.arrival.clients", "at least 1"]),
        ("negative think time", format!("{BASE}{}", workload("{ kind = \"closed\", clients = 2, think_time_s = -1.0 }", fixed, out10)), vec![], vec!["think_time_s", ">= 0"]),
        ("think time with a benchmark tool", format!("{BASE}{}", workload("{ kind = \"closed\", clients = 2, client = \"vllm-bench\", think_time_s = 1.0 }", fixed, out10)), vec![], vec!["workload.arrival.think_time_s", "vllm-bench", "client = \"ideal\""]),
        ("unknown client", format!("{BASE}{}", workload("{ kind = \"closed\", clients = 2, client = \"genaiperf\" }", fixed, out10)), vec![], vec!["genaiperf", "did you mean `genai-perf`"]),
        ("a rate the client has not", format!("{BASE}{}", workload("{ kind = \"gamma\", rate_per_s = 1.0, cv = 2.0, client = \"genai-perf\" }", fixed, out10)), vec![], vec!["workload.arrival.client", "no gamma"]),
        ("NaN send delay", format!("{BASE}{}", workload("{ kind = \"closed\", clients = 2, send_delay_ms = nan }", fixed, out10)), vec![], vec!["workload.arrival.send_delay_ms", "NaN"]),
        ("normal mean below min", format!("{BASE}{}", workload(poisson, "{ kind = \"normal\", mean = 3.0, stddev = 1.0, min = 5, max = 10 }", out10)), vec![], vec!["workload.input.mean", "from min (5) to max (10)"]),
        ("zero tokens", format!("{BASE}{}", workload(poisson, "{ kind = \"fixed\", tokens = 0 }", out10)), vec![], vec!["workload.input.tokens", "at least 1"]),
        ("uniform max below min", format!("{BASE}{}", workload(poisson, "{ kind = \"uniform\", min = 50, max = 10 }", out10)), vec![], vec!["workload.input.max", "min"]),
        ("lognormal without max", format!("{BASE}{}", workload(poisson, "{ kind = \"lognormal\", mean = 100.0, cv = 1.0 }", out10)), vec![], vec!["workload.input", "max"]),
        ("missing requests", format!("{BASE}[workload]\narrival = {{ kind = \"poisson\", rate_per_s = 1.0 }}\ninput = {fixed}\noutput = {out10}\n"), vec![], vec!["workload.requests", "required"]),
        ("missing input", format!("{BASE}[workload]\nrequests = 3\narrival = {{ kind = \"poisson\", rate_per_s = 1.0 }}\noutput = {out10}\n"), vec![], vec!["workload.input", "required"]),
        ("zero requests", format!("{BASE}[workload]\nrequests = 0\narrival = {{ kind = \"offline\" }}\ninput = {fixed}\noutput = {out10}\n"), vec![], vec!["workload.requests", "at least 1"]),
        ("huge request count", format!("{BASE}[workload]\nrequests = 1000000000000\narrival = {{ kind = \"offline\" }}\ninput = {fixed}\noutput = {out10}\n"), vec![], vec!["workload.requests", "split"]),
        ("huge replica count", format!("{BASE}[deployment]\nreplicas = 1000000\n{WORKLOAD}"), vec![], vec!["deployment.replicas"]),
        ("zero TP", format!("{BASE}[deployment]\ntp = 0\n{WORKLOAD}"), vec![], vec!["deployment.tp", "at least 1"]),
        ("TP beyond the instance", format!("{BASE}[deployment]\ntp = 12\n{WORKLOAD}"), vec![], vec!["deployment.tp", "multiple of 8"]),
        ("TP not dividing the heads", format!("{BASE}[deployment]\ntp = 3\n{WORKLOAD}"), vec![], vec!["deployment.tp", "does not divide", "32"]),
        ("zero max batch", format!("{BASE}[serving]\nmax_batch = 0\n{WORKLOAD}"), vec![], vec!["serving.max_batch", "at least 1"]),
        ("reserve fraction out of range", format!("{BASE}[serving]\nkv_reserve_fraction = 1.5\n{WORKLOAD}"), vec![], vec!["kv_reserve_fraction", "[0, 0.95)"]),
        ("efficiency above one", format!("{BASE}{WORKLOAD}[hardware.chip.efficiency]\ncompute = 1.5\n"), vec![], vec!["efficiency", "(0, 1]"]),
        ("misspelt chip override", format!("{BASE}{WORKLOAD}[hardware.chip]\nhbm_bandwith_gb_s = 1.0\n"), vec![], vec!["hardware.chip.hbm_bandwith_gb_s", "hbm_bandwidth_gb_s"]),
        ("unknown dtype", format!("[hardware]\ninstance = \"p5.48xlarge\"\n[model]\nname = \"llama-2-7b\"\nweights = \"fp4\"\n{WORKLOAD}"), vec![], vec!["model.weights", "fp4"]),
        ("unknown instance", format!("[hardware]\ninstance = \"p5.48xlarg\"\n[model]\nname = \"llama-2-7b\"\n{WORKLOAD}"), vec![], vec!["hardware.instance", "did you mean `p5.48xlarge`"]),
        ("unknown model", format!("[hardware]\ninstance = \"p5.48xlarge\"\n[model]\nname = \"llama-3-8bb\"\n{WORKLOAD}"), vec![], vec!["model.name", "did you mean `llama-3-8b`"]),
        ("offline arrivals with a rate", format!("{BASE}[workload]\nrequests = 10\narrival = {{ kind = \"offline\", rate_per_s = 5 }}\ninput = {{ kind = \"fixed\", tokens = 100 }}\noutput = {{ kind = \"fixed\", tokens = 10 }}\n"), vec![], vec!["workload.arrival", "rate_per_s"]),
        ("NaN layer overhead", format!("{BASE}{WORKLOAD}[hardware.chip.efficiency]\nlayer_overhead_us = nan\n"), vec![], vec!["efficiency.layer_overhead_us", "finite number ≥ 0", "NaN"]),
        ("negative step overhead", format!("{BASE}{WORKLOAD}[hardware.chip.efficiency]\nstep_overhead_us = -5.0\n"), vec![], vec!["efficiency.step_overhead_us", "≥ 0"]),
        ("power fraction above one", format!("{BASE}{WORKLOAD}[hardware.chip.power]\nmemory = 1.5\n"), vec![], vec!["power.memory", "[0, 1]", "1.5"]),
        ("unknown KV layout", format!("{BASE}{WORKLOAD}[hardware.chip.efficiency]\nkv_layout = \"paged\"\n"), vec![], vec!["kv_layout", "paged", "block", "contiguous"]),
        ("decreasing token buckets", format!("{BASE}{WORKLOAD}[hardware.chip.efficiency]\ntoken_buckets = [512, 256]\n"), vec![], vec!["token_buckets", "strictly increasing", "[512, 256]"]),
        ("unknown graph mode", format!("{BASE}{WORKLOAD}[hardware.chip.efficiency]\ngraphs = \"prefill\"\n"), vec![], vec!["efficiency.graphs", "prefill", "none", "decode", "all"]),
        ("negative graph launch", format!("{BASE}{WORKLOAD}[hardware.chip.efficiency]\ngraph_launch_us = -10.0\n"), vec![], vec!["efficiency.graph_launch_us", "≥ 0", "-10"]),
        ("NaN kernels per layer", format!("{BASE}{WORKLOAD}[hardware.chip.efficiency]\nkernels_per_layer = nan\n"), vec![], vec!["efficiency.kernels_per_layer", "finite number ≥ 0", "NaN"]),
        ("negative sampling cost", format!("{BASE}{WORKLOAD}[hardware.chip.efficiency]\nsampling_us = -1.0\n"), vec![], vec!["efficiency.sampling_us", "≥ 0"]),
        ("infinite host sync", format!("{BASE}{WORKLOAD}[hardware.chip.efficiency]\nhost_sync_us = inf\n"), vec![], vec!["efficiency.host_sync_us", "finite"]),
        ("negative graph batch", format!("{BASE}{WORKLOAD}[hardware.chip.efficiency]\ngraph_max_batch = -1\n"), vec![], vec!["efficiency.graph_max_batch"]),
        ("shared prefixes with closed-loop clients", format!("{BASE}{}[workload.prefix]\ngroups = 4\nsystem_tokens = 64\n", workload("{ kind = \"closed\", clients = 2 }", fixed, out10)), vec![], vec!["workload.prefix", "closed", "silently ignored"]),
        ("draft model with heads", format!("{BASE}{WORKLOAD}[serving.speculative]\nmethod = \"heads\"\ndraft_model = \"llama-3.2-1b\"\n"), vec![], vec!["serving.speculative.draft_model", "ignored", "heads"]),
        ("heads fraction with a draft model", format!("{BASE}{WORKLOAD}[serving.speculative]\nmethod = \"draft\"\ndraft_model = \"llama-3.2-1b\"\nheads_layer_fraction = 0.5\n"), vec![], vec!["serving.speculative.heads_layer_fraction", "ignored"]),
        ("expert shares all zero", format!("[hardware]\ninstance = \"p5.48xlarge\"\n[model]\nname = \"mixtral-8x7b\"\nexpert_shares = [0, 0, 0, 0, 0, 0, 0, 0]\n[deployment]\ntp = 8\nep = 8\n{WORKLOAD}"), vec![], vec!["model.expert_shares", "at least one must be > 0"]),
        ("zero max_tokens", format!("{BASE}[workload]\nrequests = 10\nmax_tokens = 0\narrival = {{ kind = \"poisson\", rate_per_s = 1.0 }}\ninput = {{ kind = \"fixed\", tokens = 100 }}\noutput = {{ kind = \"fixed\", tokens = 10 }}\n"), vec![], vec!["workload.max_tokens", "at least 1", "0"]),
        ("attention_dp not dividing tp", format!("[hardware]\ninstance = \"p5.48xlarge\"\n[model]\nname = \"mixtral-8x7b\"\n[deployment]\ntp = 8\nep = 8\nattention_dp = 3\n{WORKLOAD}"), vec![], vec!["deployment.attention_dp", "divide tp", "3"]),
        ("no contiguous KV slot fits", format!("[hardware]\ninstance = \"inf2.48xlarge\"\n[model]\nname = \"llama-3.3-70b\"\n[deployment]\ntp = 24\n[serving]\nengine = \"transformers-neuronx\"\n{}", workload(poisson, "{ kind = \"fixed\", tokens = 100000 }", out10)), vec![], vec!["deployment.tp", "contiguous KV layout", "131072 tokens", "kv_layout = \"block\""]),
        ("a KV cache no request fits", format!("{BASE}[hardware.chip]\nhbm_gib = 14.0\n{}", workload(poisson, "{ kind = \"fixed\", tokens = 3000 }", "{ kind = \"fixed\", tokens = 1000 }")), vec![], vec!["deployment.tp", "3000 prompt + 1000 max_tokens", "KV cache", "96 tokens", "llama-2-7b on p5.48xlarge, TP 1", "prompt + max_tokens <= 96"]),
        ("run name with an escape sequence", format!("name = \"a\\u001b[2Jb\"\n{BASE}{WORKLOAD}"), vec![], vec!["name", "control character"]),
        ("NaN price", format!("{BASE}{WORKLOAD}[hardware.instance_overrides.price]\non_demand_usd_per_hour = nan\n"), vec![], vec!["hardware.instance_overrides.price.on_demand_usd_per_hour", "finite number ≥ 0", "NaN"]),
        ("negative spot price", format!("{BASE}{WORKLOAD}[hardware.instance_overrides.price]\nspot_usd_per_hour = -1.0\n"), vec![], vec!["price.spot_usd_per_hour", "≥ 0", "-1"]),
        ("infinite EFA latency", format!("{BASE}{WORKLOAD}[hardware.instance_overrides]\nefa_latency_us = inf\n"), vec![], vec!["hardware.instance_overrides.efa_latency_us", "finite"]),
        ("NaN link latency", format!("{BASE}{WORKLOAD}[hardware.chip.link]\nlatency_us = nan\n"), vec![], vec!["link.latency_us", "NaN"]),
        ("negative eager launch", format!("{BASE}{WORKLOAD}[hardware.chip.efficiency]\neager_launch_us = -3.0\n"), vec![], vec!["efficiency.eager_launch_us", "≥ 0", "-3"]),
        ("unknown engine", format!("{BASE}{WORKLOAD}[serving]\nengine = \"vlm\"\n"), vec![], vec!["serving.engine", "vlm", "did you mean `vllm`", "trtllm"]),
        ("engine on a chip it does not run on", format!("{BASE}{WORKLOAD}[serving]\nengine = \"nxdi\"\n"), vec![], vec!["serving.engine", "neuron chips", "accepted"]),
        ("unknown engine version", format!("{BASE}{WORKLOAD}[serving]\nengine = \"trtllm\"\nengine_version = \"0.9\"\n"), vec![], vec!["serving.engine_version", "0.9", "accepted: 0.13, 1.0"]),
        ("page size twice", format!("{BASE}{WORKLOAD}[serving]\nblock_tokens = 16\n[hardware.chip.efficiency]\nkv_block_tokens = 32\n"), vec![], vec!["kv_block_tokens", "serving.block_tokens"]),
        ("idle power above TDP", format!("{BASE}{WORKLOAD}[hardware.chip]\nidle_w = 900.0\n"), vec![], vec!["idle_w", "within [0, tdp_w"]),
        ("infinite peak", format!("{BASE}{WORKLOAD}[hardware.chip.peak_tflops]\nfp8 = inf\n"), vec![], vec!["peak_tflops.fp8", "finite"]),
        ("missing HF config", format!("[hardware]\ninstance = \"p5.48xlarge\"\n[model]\nname = \"nowhere/config.json\"\n{WORKLOAD}"), vec![], vec!["model.name", "not found"]),
        ("model does not fit", format!("[hardware]\ninstance = \"inf2.xlarge\"\n[model]\nname = \"llama-3-70b\"\n[deployment]\ntp = 2\n{WORKLOAD}"), vec![], vec!["does not fit", "GB"]),
        ("lengths beyond the context", format!("{BASE}{}", workload(poisson, "{ kind = \"fixed\", tokens = 4000 }", "{ kind = \"fixed\", tokens = 500 }")), vec![], vec!["context", "4096", "model.max_context"]),
        ("zero max_context", format!("{BASE}max_context = 0\n{WORKLOAD}"), vec![], vec!["model.max_context", "is 0", "positive", "4096"]),
        ("negative max_context", format!("{BASE}max_context = -8192\n{WORKLOAD}"), vec![], vec!["model.max_context", "-8192"]),
        ("max_context beyond u32", format!("{BASE}max_context = 99999999999\n{WORKLOAD}"), vec![], vec!["model.max_context", "99999999999"]),
        ("missing trace", trace_scenario("nope.csv"), vec![], vec!["nope.csv", "not found"]),
        ("empty trace", trace_scenario("empty.csv"), vec![("empty.csv", b"TIMESTAMP,ContextTokens,GeneratedTokens\n".to_vec())], vec!["empty.csv", "no requests"]),
        ("malformed trace row", trace_scenario("bad.csv"), vec![("bad.csv", b"TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.6805900,374,44\n2023-11-16 18:15:47.0,abc,5\n".to_vec())], vec!["bad.csv", "line 3", "abc"]),
        ("unsorted trace", trace_scenario("unsorted.csv"), vec![("unsorted.csv", b"TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:47.0,10,5\n2023-11-16 18:15:46.0,10,5\n".to_vec())], vec!["unsorted.csv", "line 3", "sort"]),
        ("truncated JSONL trace", trace_scenario("cut.jsonl"), vec![("cut.jsonl", b"{\"timestamp\": 0, \"input_length\": 10, \"output_length\": 5, \"hash_ids\": [0]}\n{\"timestamp\": 5, \"input_len".to_vec())], vec!["cut.jsonl", "line 2", "truncated"]),
        ("non-UTF-8 trace", trace_scenario("bytes.csv"), vec![("bytes.csv", b"TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:47.0,1\xff0,5\n".to_vec())], vec!["bytes.csv", "line 2", "UTF-8"]),
        ("a billion closed-loop clients", format!("{BASE}[workload]\nrequests = 10\narrival = {{ kind = \"closed\", clients = 1000000000 }}\ninput = {fixed}\noutput = {fixed}\n"), vec![], vec!["workload.arrival.clients", "1000000000", "2097152"]),
        ("trace that is an endless device", trace_scenario("/dev/zero"), vec![], vec!["/dev/zero", "not a file"]),
        ("unknown trace header", trace_scenario("odd.csv"), vec![("odd.csv", b"when,prompt,answer\n1,2,3\n".to_vec())], vec!["odd.csv", "line 1"]),
        ("trace row beyond the context", trace_scenario("long.csv"), vec![("long.csv", b"TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:47.0,5000,5\n".to_vec())], vec!["request 1", "context"]),
        ("requests beyond the trace's rows", format!("{BASE}[workload]\nrequests = 5\narrival = {{ kind = \"trace\", path = \"t.csv\" }}\n"), vec![("t.csv", b"TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:47.0,10,5\n2023-11-16 18:15:48.0,10,5\n".to_vec())], vec!["workload.requests", "5 is more than the 2 rows", "1 to 2"]),
        ("a prompt above the continuous token budget", format!("{BASE}[serving]\nscheduler = \"continuous\"\nmax_batched_tokens = 512\n{}", workload(poisson, "{ kind = \"uniform\", min = 100, max = 1000 }", out10)), vec![], vec!["serving.max_batched_tokens", "512", "1000 tokens", "scheduler = \"chunked\""]),
        ("trace lengths with trace arrivals", format!("{BASE}[workload]\narrival = {{ kind = \"trace\", path = \"t.csv\" }}\ninput = {fixed}\n"), vec![("t.csv", b"TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:47.0,10,5\n".to_vec())], vec!["workload.input", "from the trace"]),
    ]
}

#[test]
fn every_bad_scenario_is_one_clear_line_and_exit_2() {
    let d = dir("scenarios");
    let cases = scenario_cases();
    assert!(cases.len() >= 40, "the catalogue has {} entries", cases.len());
    for (i, (what, text, extra, needles)) in cases.into_iter().enumerate() {
        let sub = d.join(format!("c{i}"));
        std::fs::create_dir_all(&sub).unwrap();
        for (name, bytes) in extra {
            std::fs::write(sub.join(name), bytes).unwrap();
        }
        std::fs::write(sub.join("scenario.toml"), text).unwrap();
        let (code, stderr) = codesim(&["run", "scenario.toml"], &sub);
        assert_eq!(code, 2, "{what}: exit code, stderr: {stderr}");
        assert!(
            !stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"),
            "{what}: {stderr}"
        );
        assert_eq!(stderr.trim().lines().count(), 1, "{what}: one line: {stderr}");
        assert!(stderr.starts_with("error: "), "{what}: {stderr}");
        assert!(
            stderr.contains(".toml")
                || stderr.contains(".csv")
                || stderr.contains(".jsonl")
                || stderr.contains("/dev/"),
            "{what}: names the file: {stderr}"
        );
        for n in needles {
            assert!(stderr.contains(n), "{what}: expected `{n}` in: {stderr}");
        }
    }
}

#[test]
fn bad_paths_and_output_directories() {
    let d = dir("paths");
    let quick = format!("{BASE}{WORKLOAD}");
    std::fs::write(d.join("ok.toml"), quick).unwrap();
    std::fs::write(d.join("bytes.toml"), b"\xff\xfe[hardware]").unwrap();
    std::fs::write(d.join("a-file"), b"x").unwrap();
    let cases: Vec<(&str, Vec<&str>, Vec<&str>)> = vec![
        (
            "missing scenario",
            vec!["run", "missing.toml"],
            vec!["missing.toml", "not found"],
        ),
        ("scenario is a directory", vec!["run", "."], vec!["directory"]),
        (
            "scenario is an endless device",
            vec!["run", "/dev/zero"],
            vec!["/dev/zero", "not a file"],
        ),
        (
            "non-UTF-8 scenario",
            vec!["run", "bytes.toml"],
            vec!["bytes.toml", "UTF-8"],
        ),
        (
            "output path is a file",
            vec!["run", "ok.toml", "--out", "a-file"],
            vec!["a-file", "not a directory"],
        ),
        (
            "output directory cannot be created",
            vec!["run", "ok.toml", "--out", "/proc/codesim-out"],
            vec!["/proc/codesim-out"],
        ),
        (
            "validation file with the wrong schema",
            vec!["validate", "ok.toml"],
            vec!["ok.toml", "case"],
        ),
        (
            "missing validation file",
            vec!["validate", "none.toml"],
            vec!["none.toml", "not found"],
        ),
    ];
    for (what, args, needles) in cases {
        let (code, stderr) = codesim(&args, &d);
        assert_eq!(code, 2, "{what}: exit code, stderr: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{what}: {stderr}");
        for n in needles {
            assert!(stderr.contains(n), "{what}: expected `{n}` in: {stderr}");
        }
    }
}

#[test]
fn a_bad_validation_case_is_an_input_error_naming_the_case() {
    let d = dir("validation");
    let case = "[[case]]\nid = \"x\"\nsource = \"s\"\ninstance = \"p5.48xlarge\"\ninstances = 1\nchips = 1\nmodel = \"llama-3.1-8b\"\nweights = \"fp8\"\ncompute = \"fp8\"\ntp = 1\ntp_unit = \"gpu\"\nload = \"static\"\ninput_tokens = 10\noutput_tokens = 10\n[case.measured]\noutput_tok_s = 100.0\n";
    std::fs::write(d.join("v.toml"), case).unwrap();
    let (code, stderr) = codesim(&["validate", "v.toml"], &d);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("concurrency") && stderr.contains('x'), "{stderr}");
}

// ---------------------------------------------------------------------------------------------
// Sweep, plan and validation files

/// A sweep's base: complete, small.
const SWEEP_BASE: &str = "[base]\nseed = 3\n[base.hardware]\ninstance = \"p5.48xlarge\"\n[base.model]\nname = \"llama-3.2-1b\"\n[base.workload]\nrequests = 20\narrival = { kind = \"poisson\", rate_per_s = 1.0 }\ninput = { kind = \"fixed\", tokens = 100 }\noutput = { kind = \"fixed\", tokens = 10 }\n";

fn sweep(head: &str) -> Vec<u8> {
    format!("{head}\n{SWEEP_BASE}").into_bytes()
}

const CANDIDATE: &str = "[[candidate]]\nname = \"h100\"\nmax_replicas = 4\nscenario = { hardware = { instance = \"p5.4xlarge\" }, model = { name = \"llama-3.2-1b\" }, deployment = { tp = 1 } }\n";

/// A plan with one small candidate; `edit` replaces text in it.
fn plan(edit: &[(&str, &str)]) -> Vec<u8> {
    let mut t = "name = \"p\"\n[demand]\nrate_per_s = 5.0\nrequests = 50\ngrowth = 1.0\ninput = { kind = \"fixed\", tokens = 100 }\noutput = { kind = \"fixed\", tokens = 10 }\n[slo]\nttft_p95_ms = 500.0\nmin_goodput = 0.9\n[[candidate]]\nname = \"h100\"\nmax_replicas = 4\nscenario = { hardware = { instance = \"p5.4xlarge\" }, model = { name = \"llama-3.2-1b\" }, deployment = { tp = 1 } }\n".to_string();
    for (from, to) in edit {
        assert!(t.contains(from), "{from}");
        t = t.replacen(from, to, 1);
    }
    t.into_bytes()
}

/// A well-formed validation case; `edit` replaces text in it.
fn case(edit: &[(&str, &str)]) -> Vec<u8> {
    let mut t = "[[case]]\nid = \"x\"\nsource = \"s\"\ninstance = \"p5.48xlarge\"\ninstances = 1\nchips = 1\nmodel = \"llama-3.1-8b\"\nweights = \"fp8\"\ncompute = \"fp8\"\ntp = 1\ntp_unit = \"gpu\"\nload = \"static\"\nconcurrency = 1\ninput_tokens = 10\noutput_tokens = 10\n[case.measured]\noutput_tok_s = 100.0\n".to_string();
    for (from, to) in edit {
        assert!(t.contains(from), "{from}");
        t = t.replacen(from, to, 1);
    }
    t.into_bytes()
}

/// One entry: what it is, the file's bytes, extra arguments (`FILE` stands for the file; default
/// `FILE`), files or folders beside it (a name ending in `/` is a folder), words the error
/// must contain.
struct BadFile {
    what: &'static str,
    bytes: Vec<u8>,
    args: Vec<&'static str>,
    extra: Vec<(&'static str, Vec<u8>)>,
    needles: Vec<&'static str>,
}

fn bad(what: &'static str, bytes: Vec<u8>, needles: &[&'static str]) -> BadFile {
    BadFile {
        what,
        bytes,
        args: vec!["FILE"],
        extra: Vec::new(),
        needles: needles.to_vec(),
    }
}

impl BadFile {
    fn args(mut self, args: &[&'static str]) -> Self {
        self.args = args.to_vec();
        self
    }
    fn with(mut self, name: &'static str, bytes: &[u8]) -> Self {
        self.extra.push((name, bytes.to_vec()));
        self
    }
}

fn sweep_cases() -> Vec<BadFile> {
    let axis = "[axes]\n\"workload.arrival.rate_per_s\" = [1, 2]\n";
    let thousand = (0..1000).map(|i| i.to_string()).collect::<Vec<_>>().join(", ");
    let product: &'static str = Box::leak(
        format!("[axes]\n\"workload.requests\" = [{thousand}]\n\"workload.prefix_groups\" = [{thousand}]\n\"seed\" = [{thousand}]\n")
            .into_boxed_str(),
    );
    vec![
        bad(
            "syntax error",
            sweep("[axes\n\"deployment.tp\" = [1]"),
            &["line 1", "syntax"],
        ),
        bad(
            "unknown top-level key",
            sweep(&format!("axis = 1\n{axis}")),
            &["axis", "did you mean `axes`"],
        ),
        bad(
            "wrong type",
            sweep(&format!("seed = \"seven\"\n{axis}")),
            &["seed", "line 1", "seven"],
        ),
        bad(
            "NaN in an axis",
            sweep("[axes]\n\"workload.arrival.rate_per_s\" = [1, nan]"),
            &["axes.\"workload.arrival.rate_per_s\"[1]", "nan", "finite"],
        ),
        bad(
            "infinite SLO threshold",
            sweep(&format!("{axis}[[slo]]\ntpot_ms = inf\n")),
            &["slo[0].tpot_ms", "inf", "> 0"],
        ),
        bad(
            "negative SLO threshold",
            sweep(&format!("{axis}[[slo]]\nttft_ms = -5.0\n")),
            &["slo[0].ttft_ms", "-5", "> 0"],
        ),
        bad(
            "percentile not reported",
            sweep(&format!("{axis}[[slo]]\npercentile = 97\ntpot_ms = 5.0\n")),
            &["slo[0].percentile", "97", "99.9"],
        ),
        bad("no axis", sweep("[axes]\n"), &["axes", "names no axis"]),
        bad(
            "empty axis",
            sweep("[axes]\n\"deployment.tp\" = []"),
            &["axes.\"deployment.tp\"", "empty"],
        ),
        bad(
            "axis naming an unknown scenario key",
            sweep("[axes]\n\"deployment.tpp\" = [1, 2]"),
            &["line 2", "axes.\"deployment.tpp\"", "unknown field `tpp`", "`tp`"],
        ),
        bad(
            "axis misspelling a tagged key",
            sweep("[axes]\n\"workload.arrival.rate_per_sec\" = [1, 2]"),
            &["axes.\"workload.arrival.rate_per_sec\"", "did you mean `rate_per_s`"],
        ),
        bad(
            "axis value of the wrong type",
            sweep("[axes]\n\"deployment.tp\" = [1, \"eight\"]"),
            &["axes.\"deployment.tp\"[1]", "\"eight\"", "u32"],
        ),
        bad(
            "negative axis value for a count",
            sweep("[axes]\n\"deployment.tp\" = [1, -2]"),
            &["axes.\"deployment.tp\"[1]", "-2", "u32"],
        ),
        bad(
            "axis value of an unknown variant",
            sweep("[axes]\n\"serving.scheduler\" = [\"continous\"]"),
            &["axes.\"serving.scheduler\"[0]", "did you mean `continuous`"],
        ),
        bad(
            "duplicate axis",
            sweep("[axes]\n\"deployment.tp\" = [1]\n\"deployment.tp\" = [2]"),
            &["line 3", "duplicate"],
        ),
        bad(
            "overlapping axes",
            sweep("[axes]\n\"deployment\" = [{ tp = 1 }]\n\"deployment.tp\" = [1, 2]"),
            &["axes.\"deployment.tp\"", "overlaps", "`deployment`"],
        ),
        bad(
            "unquoted dotted axis",
            sweep("[axes]\ndeployment.tp = [1, 2]"),
            &["axes.\"deployment\"", "quote"],
        ),
        bad(
            "zip naming an unknown axis",
            sweep(&format!(
                "zip = [[\"deployment.tp\", \"workload.arrival.rate_per_sec\"]]\n{axis}\"deployment.tp\" = [1, 2]\n"
            )),
            &["zip[0]", "not an axis", "did you mean"],
        ),
        bad(
            "zip naming an axis twice",
            sweep(&format!(
                "zip = [[\"deployment.tp\", \"deployment.tp\"]]\n{axis}\"deployment.tp\" = [1, 2]\n"
            )),
            &["zip[0]", "twice"],
        ),
        bad(
            "plot axis that is not an axis",
            sweep(&format!("{axis}[plot]\nx = \"workload.arrival.rate\"\n")),
            &["plot.x", "did you mean `workload.arrival.rate_per_s`"],
        ),
        bad(
            "CDF of an unknown run",
            sweep(&format!("{axis}[plot]\ncdf_runs = [\"r0042\"]\n")),
            &["plot.cdf_runs", "r0042", "r0001"],
        ),
        bad(
            "axis over a key the scenario never reads",
            sweep("[axes]\n\"description\" = [\"a\", \"b\"]\n"),
            &["axes.\"description\"", "same resolved scenario", "label axis"],
        ),
        bad(
            "axis whose values are one value",
            sweep("[axes]\n\"workload.arrival.rate_per_s\" = [2, 2.0]\n"),
            &["axes.\"workload.arrival.rate_per_s\"", "values are all the same"],
        ),
        bad(
            "base scenario with an unknown key",
            sweep(&format!("{axis}[base.serving]\nmax_batch_size = 4\n")),
            &["base", "serving.max_batch_size", "did you mean `max_batch`"],
        ),
        bad(
            "base that is a directory",
            format!("base = \"sub\"\n{axis}").into_bytes(),
            &["sub", "directory"],
        )
        .with("sub/", b""),
        bad(
            "missing base file",
            format!("base = \"none.toml\"\n{axis}").into_bytes(),
            &["none.toml", "not found"],
        ),
        bad(
            "non-UTF-8 bytes",
            b"name = \"\xff\xfe\"\n".to_vec(),
            &["line 1", "UTF-8"],
        ),
        bad(
            "name that climbs out of reports/",
            sweep(&format!("name = \"../../escape\"\n{axis}")),
            &["name", "../../escape", "path separator"],
        ),
        bad(
            "name with a NUL",
            sweep(&format!("name = \"a\\u0000b\"\n{axis}")),
            &["name", "a\\0b", "control character"],
        ),
        bad(
            "10^12 requests in a swept value",
            sweep("[axes]\n\"workload.requests\" = [10, 1000000000000]"),
            &["axes.\"workload.requests\"[1]", "1000000000000", "100000000"],
        ),
        bad(
            "10^6 replicas in a swept value",
            sweep("[axes]\n\"deployment.replicas\" = [1, 1000000]"),
            &["axes.\"deployment.replicas\"[1]", "1000000", "100000"],
        ),
        bad(
            "10^12 requests in the base",
            String::from_utf8(sweep(axis))
                .unwrap()
                .replace("requests = 20", "requests = 1000000000000")
                .into_bytes(),
            &["base", "workload.requests", "1000000000000", "100000000"],
        ),
        bad("10^9 runs", sweep(product), &["axes", "1000000000 runs", "1000000"]),
        bad(
            "output directory is a file",
            sweep(axis),
            &["a-file", "not a directory"],
        )
        .args(&["FILE", "--out", "a-file"])
        .with("a-file", b"x"),
        bad(
            "default output directory blocked by a file",
            sweep(&format!("name = \"s\"\n{axis}")),
            &["reports", "cannot create the output directory"],
        )
        .with("reports", b"x"),
        bad(
            "runs folder blocked by a file",
            sweep(axis),
            &["out/runs", "folder of run records"],
        )
        .args(&["FILE", "--out", "out"])
        .with("out/", b"")
        .with("out/runs", b"x"),
        bad("sweep file is a directory", Vec::new(), &["sub", "directory"])
            .args(&["sub"])
            .with("sub/", b""),
    ]
}

fn plan_cases() -> Vec<BadFile> {
    vec![
        bad("syntax error", plan(&[("[slo]", "[slo")]), &["line 8", "syntax"]),
        bad("unknown key", plan(&[("[[candidate]]", "[[candidates]]")]), &["candidates", "did you mean `candidate`"]),
        bad("wrong type", plan(&[("name = \"p\"", "seed = \"x\"")]), &["seed", "line 1", "\"x\""]),
        bad("NaN rate", plan(&[("rate_per_s = 5.0", "rate_per_s = nan")]), &["demand.rate_per_s", "NaN", "finite number > 0"]),
        bad("negative growth", plan(&[("growth = 1.0", "growth = -2.0")]), &["demand.growth", "-2", "> 0"]),
        bad("zero requests", plan(&[("requests = 50", "requests = 0")]), &["demand.requests", "at least 1"]),
        bad("10^12 requests per probe", plan(&[("requests = 50", "requests = 1000000000000")]), &["demand.requests", "1000000000000", "100000000"]),
        bad("10^7 instances", plan(&[("max_replicas = 4", "max_replicas = 10000000")]), &["candidate `h100`, max_replicas", "10000000", "100000"]),
        bad("10^6 replicas per unit", plan(&[("tp = 1 }", "tp = 1, replicas = 1000000 }")]), &["candidate `h100`", "1000000 replicas per unit", "100000"]),
        bad("unknown SLO key", plan(&[("ttft_p95_ms", "ttft_p97_ms")]), &["slo.ttft_p97_ms", "ttft_p95_ms", "999"]),
        bad("goodput above one", plan(&[("min_goodput = 0.9", "min_goodput = 1.5")]), &["slo.min_goodput", "1.5", "(0, 1]"]),
        bad("empty candidate list", plan(&[("name = \"p\"", "candidate = []\nname = \"p\""), (CANDIDATE, "")]), &["candidate", "no candidate", "[[candidate]]"]),
        bad("no candidate at all", plan(&[(CANDIDATE, "")]), &["missing field `candidate`"]),
        bad("two candidates with one name", plan(&[("[[candidate]]", "[[candidate]]\nname = \"h100\"\nscenario = { hardware = { instance = \"p5.4xlarge\" }, model = { name = \"llama-3.2-1b\" } }\n[[candidate]]")]), &["candidate[1].name", "h100", "two candidates"]),
        bad("candidate scenario that is a directory", plan(&[("scenario = { hardware = { instance = \"p5.4xlarge\" }, model = { name = \"llama-3.2-1b\" }, deployment = { tp = 1 } }", "scenario = \"sub\"")]), &["sub", "directory"]).with("sub/", b""),
        bad("candidate scenario with an unknown key", plan(&[("deployment = { tp = 1 }", "deployment = { tpp = 1 }")]), &["candidate `h100`", "deployment.tpp", "expected one of"]),
        bad("candidate on an unknown instance", plan(&[("p5.4xlarge", "p5.4xlarg")]), &["candidate `h100`", "hardware.instance", "did you mean `p5.4xlarge`"]),
        bad("candidate name with a newline", plan(&[("name = \"h100\"", "name = \"h1\\n00\"")]), &["candidate[0].name", "h1\\n00", "control character"]),
        bad("non-UTF-8 bytes", b"name = \"\xff\"\n".to_vec(), &["line 1", "UTF-8"]),
        bad("daily profile of three hours", plan(&[("growth = 1.0", "daily_profile = [1.0, 2.0, 1.0]")]), &["demand.daily_profile", "24"]),
        bad("both a trace and a rate", plan(&[("growth = 1.0", "trace = \"t.csv\"")]), &["demand", "either `trace` or `rate_per_s`"]),
        bad("zero seeds per probe", plan(&[("name = \"p\"", "seeds_per_probe = 0")]), &["seeds_per_probe", "between 1 and 16"]),
        bad("what-if pricing an unknown instance", { let mut b = plan(&[]); b.extend_from_slice(b"[[whatif]]\nname = \"cheap\"\nprices = { \"p5.48xlarg\" = 20.0 }\n"); b }, &["whatif[0].prices", "unknown instance `p5.48xlarg`", "p5.48xlarge"]),
        bad("what-if overriding an unknown chip", { let mut b = plan(&[]); b.extend_from_slice(b"[[whatif]]\nname = \"faster\"\nchip_overrides = { \"h100\" = { hbm_bandwidth_gb_s = 6000.0 } }\n"); b }, &["whatif[0].chip_overrides", "unknown chip `h100`"]),
        bad("what-if scaling traffic by zero", { let mut b = plan(&[]); b.extend_from_slice(b"[[whatif]]\nname = \"none\"\ntraffic_scale = 0.0\n"); b }, &["whatif[0].traffic_scale", "got 0", "> 0"]),
        bad("output directory is a file", plan(&[]), &["a-file", "not a directory"]).args(&["FILE", "--out", "a-file"]).with("a-file", b"x"),
        bad("probes folder blocked by a file", plan(&[]), &["out/probes", "folder of probe records"]).args(&["FILE", "--out", "out"]).with("out/", b"").with("out/probes", b"x"),
        bad("--resume without --out", plan(&[]), &["--resume", "--out"]).args(&["FILE", "--resume"]),
        bad("plan file is a directory", Vec::new(), &["sub", "directory"]).args(&["sub"]).with("sub/", b""),
    ]
}

fn validation_cases() -> Vec<BadFile> {
    vec![
        bad(
            "no case at all",
            b"# published measurements\n".to_vec(),
            &["case", "no [[case]] table"],
        ),
        bad(
            "syntax error",
            case(&[("[case.measured]", "[case.measured")]),
            &["line 16", "syntax"],
        ),
        bad(
            "unknown key",
            case(&[("concurrency = 1", "concurrency = 1\nqsp = 2.0")]),
            &["qsp", "did you mean `qps`"],
        ),
        bad(
            "wrong type",
            case(&[("tp = 1\n", "tp = \"1\"\n")]),
            &["case", "tp", "\"1\""],
        ),
        bad(
            "negative count",
            case(&[("tp = 1\n", "tp = -1\n")]),
            &["tp", "-1", "u32"],
        ),
        bad(
            "NaN measurement",
            case(&[("output_tok_s = 100.0", "output_tok_s = nan")]),
            &["measured.output_tok_s", "NaN", "> 0"],
        ),
        bad(
            "zero measurement",
            case(&[("output_tok_s = 100.0", "output_tok_s = 0.0")]),
            &["measured.output_tok_s", "got 0", "> 0"],
        ),
        bad(
            "zero instances",
            case(&[("instances = 1", "instances = 0")]),
            &["instances", "at least 1"],
        ),
        bad(
            "infinite rate",
            case(&[("load = \"static\"\nconcurrency = 1", "load = \"poisson\"\nqps = inf")]),
            &["qps", "inf", "finite number > 0"],
        ),
        bad(
            "unknown TP unit",
            case(&[("tp_unit = \"gpu\"", "tp_unit = \"gpus\"")]),
            &["tp_unit", "gpus", "did you mean `gpu`"],
        ),
        bad(
            "unknown load kind",
            case(&[("load = \"static\"", "load = \"statik\"")]),
            &["load", "statik", "did you mean `static`"],
        ),
        bad(
            "unknown measured metric",
            case(&[("output_tok_s = 100.0", "ttft_p95_ms = 100.0")]),
            &["measured", "ttft_p95_ms", "ttft_p99_ms"],
        ),
        bad(
            "missing key",
            case(&[("source = \"s\"\n", "")]),
            &["missing field `source`"],
        ),
        bad(
            "duplicate id",
            {
                let mut b = case(&[]);
                b.extend(case(&[]));
                b
            },
            &["`x`", "id", "unique"],
        ),
        bad(
            "static load without concurrency",
            case(&[("concurrency = 1\n", "")]),
            &["case `x`", "concurrency", "required"],
        ),
        bad(
            "offline load with a rate",
            case(&[(
                "load = \"static\"\nconcurrency = 1",
                "load = \"offline\"\nrequests = 10\nqps = 2.0",
            )]),
            &["case `x`", "qps", "not used"],
        ),
        bad(
            "non-UTF-8 bytes",
            b"[[case]]\nid = \"\xff\"\n".to_vec(),
            &["line 2", "UTF-8"],
        ),
        bad("validation file is a directory", Vec::new(), &["sub", "directory"])
            .args(&["sub"])
            .with("sub/", b""),
        bad("output directory is a file", case(&[]), &["a-file", "not a directory"])
            .args(&["FILE", "--out", "a-file"])
            .with("a-file", b"x"),
    ]
}

/// Runs a catalogue: every entry exits 2 with one line naming the file, quickly, never a panic.
/// Every failing entry is reported, not only the first.
fn check_catalogue(kind: &str, command: &str, file: &str, cases: Vec<BadFile>) -> usize {
    let d = dir(kind);
    let n = cases.len();
    let mut failures = Vec::new();
    for (i, c) in cases.into_iter().enumerate() {
        let sub = d.join(format!("c{i}"));
        std::fs::create_dir_all(&sub).unwrap();
        for (name, bytes) in &c.extra {
            match name.strip_suffix('/') {
                Some(folder) => std::fs::create_dir_all(sub.join(folder)).unwrap(),
                None => std::fs::write(sub.join(name), bytes).unwrap(),
            }
        }
        std::fs::write(sub.join(file), &c.bytes).unwrap();
        let mut args = vec![command];
        args.extend(c.args.iter().map(|a| if *a == "FILE" { file } else { a }));
        let (code, stderr) = codesim(&args, &sub);
        let mut problems = Vec::new();
        if code != 2 {
            problems.push(format!("exit code {code}"));
        }
        if stderr.contains("panicked") || stderr.contains("RUST_BACKTRACE") {
            problems.push("panicked".into());
        }
        if stderr.trim().lines().count() != 1 || !stderr.starts_with("error: ") {
            problems.push("not one `error: ` line".into());
        }
        let at_fault = c
            .args
            .iter()
            .copied()
            .chain(c.extra.iter().map(|(n, _)| n.trim_end_matches('/')));
        if !stderr.contains(file) && !at_fault.filter(|a| *a != "FILE").any(|a| stderr.contains(a)) {
            problems.push("does not name the file or argument at fault".into());
        }
        for needle in &c.needles {
            if !stderr.contains(needle) {
                problems.push(format!("no `{needle}`"));
            }
        }
        if !problems.is_empty() {
            failures.push(format!(
                "{kind}: {}: {}\n    {}",
                c.what,
                problems.join("; "),
                stderr.trim()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {n} entries fail:\n{}",
        failures.len(),
        failures.join("\n")
    );
    n
}

#[test]
fn every_bad_sweep_file_is_one_clear_line_and_exit_2() {
    let n = check_catalogue("sweep", "sweep", "sweep.toml", sweep_cases());
    assert!(n >= 15, "{n} sweep cases");
}

#[test]
fn every_bad_plan_file_is_one_clear_line_and_exit_2() {
    let n = check_catalogue("plan", "plan", "plan.toml", plan_cases());
    assert!(n >= 15, "{n} plan cases");
}

#[test]
fn every_bad_validation_file_is_one_clear_line_and_exit_2() {
    let n = check_catalogue("validation", "validate", "published.toml", validation_cases());
    assert!(n >= 15, "{n} validation cases");
}

// ---------------------------------------------------------------------------------------------
// Output confinement

/// Every path under `root`, relative, sorted.
fn tree(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            out.push(p.strip_prefix(root).unwrap().to_string_lossy().into_owned());
            if p.is_dir() && !p.is_symlink() {
                stack.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Entries of the system temporary folder whose names say they escaped.
fn escaped_into_temp() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("escape"))
        .collect();
    v.sort();
    v
}

#[test]
fn hostile_names_write_nothing_outside_the_output_directory() {
    let root = dir("confine");
    // Four levels deep, so `../../../..` from the working directory still lands inside `root`.
    let work = root.join("a/b/c/work");
    std::fs::create_dir_all(&work).unwrap();
    let abs = root.join("abs-escape");
    let abs_s = abs.to_str().unwrap();
    let axis = "[axes]\n\"workload.arrival.rate_per_s\" = [1, 2]\n";

    // Refused: sweep names that would put the default output folder (reports/<name>) elsewhere.
    let hostile = [
        "../../../../escape",
        "../escape",
        "..",
        ".",
        ".escape",
        abs_s,
        "a\\\\..\\\\..\\\\escape",
        "escape\\u0000x",
        "escape\\nx",
        "",
    ];
    let mut files = vec![(
        "base.toml",
        format!("name = \"../../../../scenario-escape\"\n{BASE}{WORKLOAD}"),
    )];
    for (i, name) in hostile.iter().enumerate() {
        files.push((
            Box::leak(format!("hostile{i}.toml").into_boxed_str()),
            format!("name = \"{name}\"\n{axis}\n{SWEEP_BASE}"),
        ));
    }
    // Accepted: names that are never paths (a scenario's, a label axis's values, a plan's and its
    // candidates', a validation case's id) carrying the same strings.
    files.push((
        "labels.toml",
        format!(
            "name = \"labels\"\nbase = \"base.toml\"\nzip = [[\"_config\", \"workload.arrival.rate_per_s\"]]\n[axes]\n\"_config\" = [\"../../../../label-escape\", \"{abs_s}\"]\n\"workload.arrival.rate_per_s\" = [1, 2]\n"
        ),
    ));
    files.push((
        "plan.toml",
        String::from_utf8(plan(&[
            ("name = \"p\"", "name = \"../../../../plan-escape\""),
            ("name = \"h100\"", &format!("name = \"{abs_s}\"")),
        ]))
        .unwrap()
            + "[[whatif]]\nname = \"../../../../whatif-escape\"\nprice_scale = 0.5\n[[whatif.candidate]]\nname = \"../../../../candidate-escape\"\nscenario = { hardware = { instance = \"p5.4xlarge\" }, model = { name = \"llama-3.2-1b\" } }\n",
    ));
    files.push((
        "published.toml",
        String::from_utf8(case(&[("id = \"x\"", "id = \"../../../../case-escape\"")])).unwrap(),
    ));
    for (name, text) in &files {
        std::fs::write(work.join(name), text).unwrap();
    }

    let before = tree(&root);
    let temp_before = escaped_into_temp();
    for (i, name) in hostile.iter().enumerate() {
        let f = format!("hostile{i}.toml");
        let (code, stderr) = codesim(&["sweep", &f, "--no-plots"], &work);
        assert_eq!(code, 2, "{name:?}: {stderr}");
        assert!(stderr.contains("name"), "{name:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    }
    assert_eq!(tree(&root), before, "a refused sweep wrote something");

    let runs: [&[&str]; 4] = [
        &["sweep", "labels.toml", "--out", "out-sweep"],
        &["plan", "plan.toml", "--out", "out-plan"],
        &["run", "base.toml", "--out", "out-run", "--requests"],
        &["validate", "published.toml", "--out", "out-validate"],
    ];
    for args in runs {
        let (code, stderr) = codesim(args, &work);
        assert_eq!(code, 0, "{args:?}: {stderr}");
    }
    let after = tree(&root);
    let new: Vec<&String> = after.iter().filter(|p| !before.contains(p)).collect();
    assert!(new.len() > 20, "the commands wrote their outputs: {new:?}");
    for p in &new {
        let inside = ["out-sweep", "out-plan", "out-run", "out-validate"]
            .iter()
            .any(|o| p.starts_with(&format!("a/b/c/work/{o}")));
        assert!(inside, "{p} was written outside the output directories");
    }
    assert!(!abs.exists(), "{abs_s} was created");
    assert_eq!(
        escaped_into_temp(),
        temp_before,
        "something escaped into the temporary folder"
    );
}

/// Runs codesim with `stdin` piped in, killing it after 60 s: a read that blocks (a FIFO with no
/// writer) fails the test instead of hanging it.
fn codesim_with_stdin(args: &[&str], cwd: &Path, stdin: &[u8]) -> (i32, String) {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_codesim"))
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A refused input may exit before reading: a broken pipe here is fine.
    let _ = child.stdin.take().unwrap().write_all(stdin);
    let start = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > std::time::Duration::from_secs(60) {
            child.kill().unwrap();
            panic!("codesim {args:?} still running after 60 s: it blocked on its input");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Issue 18, item 8: a FIFO given as scenario, trace or HF config.json is refused before it is
/// opened (opening one blocks until a writer comes), with one line naming it; standard input
/// (`-` or `/dev/stdin`) is still read. Skipped where `mkfifo` is not available.
#[test]
fn fifos_are_refused_and_standard_input_is_read() {
    let d = dir("fifo");
    std::fs::create_dir_all(d.join("m")).unwrap();
    let made = ["pipe", "m/config.json"].iter().all(|f| {
        Command::new("mkfifo")
            .arg(d.join(f))
            .status()
            .is_ok_and(|s| s.success())
    });
    if !made {
        eprintln!("skipped: mkfifo is not available");
        return;
    }
    std::fs::write(d.join("trace.toml"), trace_scenario("pipe")).unwrap();
    let hf = format!("[hardware]\ninstance = \"p5.48xlarge\"\n[model]\nname = \"m/config.json\"\n{WORKLOAD}");
    std::fs::write(d.join("hf.toml"), hf).unwrap();
    let cases: [(&str, &[&str], &str); 3] = [
        ("FIFO as scenario", &["run", "pipe"], "pipe"),
        ("FIFO as trace", &["run", "trace.toml"], "pipe"),
        ("FIFO as HF config.json", &["run", "hf.toml"], "config.json"),
    ];
    for (what, args, file) in cases {
        let (code, stderr) = codesim_with_stdin(args, &d, b"");
        assert_eq!(code, 2, "{what}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{what}: one line: {stderr}");
        for n in [file, "FIFO", "not a file"] {
            assert!(stderr.contains(n), "{what}: expected `{n}` in: {stderr}");
        }
    }
    let scenario = format!("{BASE}{WORKLOAD}");
    for path in ["-", "/dev/stdin"] {
        let (code, stderr) = codesim_with_stdin(&["run", path], &d, scenario.as_bytes());
        assert_eq!(code, 0, "run {path} with the scenario on standard input: {stderr}");
    }
}
