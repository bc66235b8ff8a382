//! The bad-input catalogue: every entry is a file codesim is given, the command, and words the
//! one-line error must contain. Each must exit with code 2, print exactly one line naming the
//! file, and never panic.

use std::path::{Path, PathBuf};
use std::process::Command;

#[path = "robustness/files.rs"]
mod files;
#[path = "robustness/hostile.rs"]
mod hostile;

/// A two-row trace, one second apart.
const TWO_ROWS: &[u8] =
    b"TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:47.0,10,5\n2023-11-16 18:15:48.0,10,5\n";
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
        ("unknown queue order", format!("{BASE}[serving]\nqueue_order = \"sjf\"\n{WORKLOAD}"), vec![], vec!["serving.queue_order", "sjf-predicted"]),
        ("SJF aging of zero", format!("{BASE}[serving]\nqueue_order = \"sjf-prompt\"\nsjf_aging_tokens_per_s = 0.0\n{WORKLOAD}"), vec![], vec!["serving.sjf_aging_tokens_per_s", "is 0", "> 0"]),
        ("NaN SJF aging", format!("{BASE}[serving]\nqueue_order = \"sjf-predicted\"\nsjf_aging_tokens_per_s = nan\n{WORKLOAD}"), vec![], vec!["serving.sjf_aging_tokens_per_s", "NaN"]),
        ("SJF predictor without SJF", format!("{BASE}[serving]\nsjf_predictor = \"history\"\n{WORKLOAD}"), vec![], vec!["serving.sjf_predictor", "would be ignored"]),
        ("unknown predictor", format!("{BASE}[serving]\nqueue_order = \"sjf-predicted\"\nsjf_predictor = \"oracle\"\n{WORKLOAD}"), vec![], vec!["serving.sjf_predictor", "history", "max-tokens"]),
        ("unknown victim", format!("{BASE}[serving]\npreemption_victim = \"oldest\"\n{WORKLOAD}"), vec![], vec!["serving.preemption_victim", "fewest-blocks"]),
        ("priority preemption with one class", format!("{BASE}[serving]\npriority_preemption = true\n{WORKLOAD}"), vec![], vec!["serving.priority_preemption", "same priority"]),
        ("priority preemption with FCFS", format!("{BASE}[serving]\npriority_preemption = true\nqueue_order = \"fcfs\"\n{WORKLOAD}"), vec![], vec!["serving.priority_preemption", "queue_order = \"priority\""]),
        ("priority preemption with reservations", format!("{BASE}[serving]\npriority_preemption = true\nkv_admission = \"reserve\"\n{WORKLOAD}"), vec![], vec!["serving.priority_preemption", "never preempts"]),
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
        ("trace row beyond the context", trace_scenario("long.csv"), vec![("long.csv", b"TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:47.0,5000,5\n".to_vec())], vec!["request 1", "context", "over_context = \"drop\" or \"clip\""]),
        ("requests beyond the trace's rows", format!("{BASE}[workload]\nrequests = 5\narrival = {{ kind = \"trace\", path = \"t.csv\" }}\n"), vec![("t.csv", b"TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:47.0,10,5\n2023-11-16 18:15:48.0,10,5\n".to_vec())], vec!["workload.requests", "5 is more than the 2 rows", "1 to 2"]),
        ("a prompt above the continuous token budget", format!("{BASE}[serving]\nscheduler = \"continuous\"\nmax_batched_tokens = 512\n{}", workload(poisson, "{ kind = \"uniform\", min = 100, max = 1000 }", out10)), vec![], vec!["serving.max_batched_tokens", "512", "1000 tokens", "scheduler = \"chunked\""]),
        ("arrivals beyond the clock", format!("{BASE}{}", workload("{ kind = \"poisson\", rate_per_s = 1e-9 }", fixed, out10)), vec![], vec!["workload.arrival.rate_per_s", "1e-9", "10000000000 s", "beyond the simulator's clock"]),
        ("think time beyond the clock", format!("{BASE}{}", workload("{ kind = \"closed\", clients = 1, think_time_s = 1e9 }", fixed, out10)), vec![], vec!["workload.arrival.think_time_s", "beyond the simulator's clock"]),
        ("trace slowed beyond the clock", format!("{BASE}[workload]\narrival = {{ kind = \"trace\", path = \"t.csv\", rate_scale = 1e-300 }}\n"), vec![("t.csv", b"TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:47.0,10,5\n2023-11-16 18:15:48.0,10,5\n".to_vec())], vec!["workload.arrival.rate_scale", "1e-300", "beyond the simulator's clock"]),
        ("a memory efficiency that makes a step last days", format!("{BASE}{WORKLOAD}[hardware.chip]\nefficiency.memory = 1e-15\n"), vec![], vec!["more than a day", "memory", "degenerate"]),
        ("a link so slow a step lasts days", format!("{BASE}[deployment]\ntp = 8\n{WORKLOAD}[hardware.chip]\nlink.bandwidth_gb_s = 1e-9\n"), vec![], vec!["more than a day", "communication"]),
        ("a KV link so slow the clock runs out", "[hardware]\ninstance = \"p5.48xlarge\"\n[hardware.instance_overrides]\nefa_gbps = 1e-12\n[model]\nname = \"llama-3-8b\"\n[disaggregation]\nprefill = { tp = 1, replicas = 1 }\ndecode = { tp = 1, replicas = 1 }\n[workload]\nrequests = 3\narrival = { kind = \"poisson\", rate_per_s = 1.0 }\ninput = { kind = \"fixed\", tokens = 100 }\noutput = { kind = \"fixed\", tokens = 10 }\n".into(), vec![], vec!["simulated time passed 1e9 s", "bandwidth"]),
        ("a chip kind override", format!("{BASE}{WORKLOAD}[hardware.chip]\nkind = \"cpu\"\n"), vec![], vec!["hardware.chip.kind", "\"cpu\"", "`gpu`", "choose another instance"]),
        ("an instance chip override", format!("{BASE}{WORKLOAD}[hardware.instance_overrides]\nchip = \"h200\"\n"), vec![], vec!["hardware.instance_overrides.chip", "`h100-sxm`"]),
        ("a GPU instance as the front-end tier", format!("{BASE}{WORKLOAD}[infrastructure.frontend]\ninstance = \"p5.48xlarge\"\n"), vec![], vec!["infrastructure.frontend.instance", "h100-sxm accelerators", "CPU instance"]),
        ("an escape sequence in a preset name", format!("[hardware]\ninstance = \"p5.48xlarge\"\n[model]\nname = \"llama\\u001b[2J\"\n{WORKLOAD}"), vec![], vec!["model.name", "llama\\u{1b}[2J"]),
        ("trace rate and rate scale together", format!("{BASE}[workload]\narrival = {{ kind = \"trace\", path = \"t.csv\", rate_scale = 2.0, rate_per_s = 3.0 }}\n"), vec![("t.csv", TWO_ROWS.to_vec())], vec!["workload.arrival.rate_per_s", "rate_scale", "one of them"]),
        ("trace rate of zero", format!("{BASE}[workload]\narrival = {{ kind = \"trace\", path = \"t.csv\", rate_per_s = 0.0 }}\n"), vec![("t.csv", TWO_ROWS.to_vec())], vec!["workload.arrival.rate_per_s", "> 0"]),
        ("trace rate with one instant", format!("{BASE}[workload]\narrival = {{ kind = \"trace\", path = \"t.csv\", rate_per_s = 2.0 }}\n"), vec![("t.csv", b"TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:47.0,10,5\n2023-11-16 18:15:47.0,10,5\n".to_vec())], vec!["workload.arrival.rate_per_s", "one instant"]),
        ("empty trace window", format!("{BASE}[workload]\narrival = {{ kind = \"trace\", path = \"t.csv\", start_s = 5.0, duration_s = 1.0 }}\n"), vec![("t.csv", TWO_ROWS.to_vec())], vec!["workload.arrival.start_s", "duration_s", "none of the 2 rows", "0 to 1.000 s"]),
        ("negative trace window start", format!("{BASE}[workload]\narrival = {{ kind = \"trace\", path = \"t.csv\", start_s = -1.0 }}\n"), vec![("t.csv", TWO_ROWS.to_vec())], vec!["workload.arrival.start_s", "-1", "0 or more"]),
        ("zero trace window", format!("{BASE}[workload]\narrival = {{ kind = \"trace\", path = \"t.csv\", duration_s = 0.0 }}\n"), vec![("t.csv", TWO_ROWS.to_vec())], vec!["workload.arrival.duration_s", "> 0"]),
        ("bootstrap block beyond the rows", format!("{BASE}[workload]\narrival = {{ kind = \"trace\", path = \"t.csv\", bootstrap_block = 3 }}\n"), vec![("t.csv", TWO_ROWS.to_vec())], vec!["workload.arrival.bootstrap_block", "1 to 2"]),
        ("unknown over_context", format!("{BASE}[workload]\nover_context = \"skip\"\narrival = {{ kind = \"trace\", path = \"t.csv\" }}\n"), vec![("t.csv", TWO_ROWS.to_vec())], vec!["over_context", "skip", "drop"]),
        ("over_context without a trace", format!("{BASE}[workload]\nover_context = \"drop\"\nrequests = 2\narrival = {{ kind = \"offline\" }}\ninput = {fixed}\noutput = {out10}\n"), vec![], vec!["workload.over_context", "trace arrivals"]),
        ("every trace row dropped", format!("{BASE}[workload]\nover_context = \"drop\"\narrival = {{ kind = \"trace\", path = \"long.csv\" }}\n"), vec![("long.csv", b"TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:47.0,5000,5\n".to_vec())], vec!["workload.over_context", "none of the trace's rows", "clip"]),
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
            !stderr.trim_end().chars().any(char::is_control),
            "{what}: a control character reached the terminal: {stderr:?}"
        );
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
