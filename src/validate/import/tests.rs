//! Each format read into the cases it should become, values checked by hand against the
//! synthetic fixtures in `tests/fixtures/import/` (README there).

use super::table::{Block, ms_per};
use super::*;
use crate::validate::{Case, LoadKind, TpUnit};
use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/import")
        .join(name)
}

fn ctx() -> Context {
    Context::read(&fixture("context.toml")).unwrap()
}

fn cases_with(name: &str, c: &Context) -> Vec<Case> {
    crate::validate::load(&fixture(name), Some(c)).unwrap()
}

fn one(name: &str, c: &Context) -> Case {
    let mut v = cases_with(name, c);
    assert_eq!(v.len(), 1, "{name}");
    let case = v.remove(0);
    case.check(&fixture(name)).unwrap();
    case
}

fn close(a: Option<f64>, b: f64) -> bool {
    a.is_some_and(|a| (a - b).abs() < 1e-9 * b.abs().max(1.0))
}

/// The context's keys land in every case: p5.48xlarge, one H100 at TP 1, bf16 (compute
/// defaults to the weights'), vLLM.
fn assert_context(c: &Case) {
    assert_eq!(c.instance, "p5.48xlarge");
    assert_eq!((c.tp, c.tp_unit, c.chips, c.instances), (1, TpUnit::Gpu, 1, 1));
    assert_eq!(c.model, "llama-3.1-8b");
    assert_eq!((c.weights, c.compute), (Dtype::Bf16, Dtype::Bf16));
    assert_eq!(c.engine.as_deref(), Some("vllm"));
    let note = c.imported.as_deref().unwrap();
    assert!(
        note.contains("compute = bf16 (default") && note.contains("tp_unit = gpu"),
        "{note}"
    );
}

use crate::dtype::Dtype;

#[test]
fn vllm_closed_loop_maps_itl_to_tpot_and_tpot_to_request_tpot() {
    let c = one("vllm-closed.json", &ctx());
    assert_context(&c);
    assert_eq!(c.id, "vllm-closed");
    // --request-rate inf with --max-concurrency 8: a closed loop of 8 vllm-bench clients.
    assert_eq!(
        (c.load, c.concurrency, c.requests),
        (LoadKind::Closed, Some(8), Some(64))
    );
    assert_eq!(c.client.as_deref(), Some("vllm-bench"));
    // 65,536 / 64 = 1,024 input and 8,192 / 64 = 128 output tokens, fixed (no --save-detailed).
    assert_eq!((c.input_tokens, c.output_tokens), (Some(1024), Some(128)));
    let m = c.measured;
    assert!(close(m.output_tok_s, 950.0) && close(m.ttft_p50_ms, 40.0) && close(m.ttft_p99_ms, 120.0));
    assert!(
        close(m.tpot_p50_ms, 7.9) && close(m.tpot_p99_ms, 12.0),
        "ITL → gap distribution"
    );
    assert!(
        close(m.request_tpot_p50_ms, 8.0) && close(m.request_tpot_p99_ms, 9.5),
        "TPOT → per request"
    );
    assert_eq!((m.e2e_p50_ms, m.e2e_p99_ms), (None, None));
    assert!(c.imported.unwrap().contains("means only"));
}

#[test]
fn vllm_appended_results_are_one_case_each_with_gamma_and_detailed_lengths() {
    let v = cases_with("vllm-append.json", &ctx());
    assert_eq!(
        v.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
        ["vllm-append#1", "vllm-append#2"]
    );
    let (a, b) = (&v[0], &v[1]);
    // --burstiness 0.25: gamma of shape k = 0.25, cv = 1/√k = 2.
    assert_eq!(
        (a.load, a.qps, a.cv, a.max_concurrency),
        (LoadKind::Gamma, Some(4.0), Some(2.0), None)
    );
    assert_eq!(a.requests, Some(4));
    // input_lens [100, 200, 300, 400]: mean 250, population sd √12,500 = 111.80.
    let Some(Lengths::Normal { mean, stddev, min, max }) = a.input else {
        panic!("{:?}", a.input)
    };
    assert!((mean - 250.0).abs() < 1e-9 && (stddev - 12_500f64.sqrt()).abs() < 1e-9 && (min, max) == (100, 400));
    // output_lens [50, 50, 60, 0]: the failed request's 0 is not a length; mean 53.33, sd 4.714.
    let Some(Lengths::Normal { mean, stddev, min, max }) = a.output else {
        panic!("{:?}", a.output)
    };
    assert!((mean - 160.0 / 3.0).abs() < 1e-9 && (stddev - (200.0f64 / 9.0).sqrt()).abs() < 1e-9);
    assert_eq!((min, max), (50, 60));
    assert!(close(a.measured.e2e_p50_ms, 420.0) && close(a.measured.e2e_p99_ms, 498.4));
    assert!(a.imported.as_deref().unwrap().contains("1 requests failed"));
    // A Poisson rate of 2/s with --max-concurrency 4: the cap stays the client's.
    assert_eq!(
        (b.load, b.qps, b.cv, b.max_concurrency),
        (LoadKind::Poisson, Some(2.0), None, Some(4))
    );
    assert_eq!(
        (b.requests, b.input_tokens, b.output_tokens),
        (Some(200), Some(512), Some(128))
    );
    let hw = crate::hw::Catalog::builtin().unwrap().hardware("p5.48xlarge").unwrap();
    let t = a.scenario_toml(&hw).unwrap();
    assert!(
        t.contains("kind = \"gamma\", rate_per_s = 4.0, cv = 2.0, client = \"vllm-bench\""),
        "{t}"
    );
    assert!(b.scenario_toml(&hw).unwrap().contains("max_concurrency = 4"));
}

/// genai-perf's figures, as the JSON and the CSV export give them.
fn assert_genai_perf(c: &Case, output_sd: f64) {
    assert_eq!(
        (c.load, c.concurrency, c.requests),
        (LoadKind::Closed, Some(4), Some(10))
    );
    assert_eq!(c.client.as_deref(), Some("genai-perf"));
    assert_eq!(c.input_tokens, Some(550));
    let Some(Lengths::Normal { mean, stddev, min, max }) = c.output else {
        panic!("{:?}", c.output)
    };
    assert!((mean - 200.0).abs() < 1e-9 && (stddev - output_sd).abs() < 1e-3 && (min, max) == (180, 220));
    let m = c.measured;
    assert!(close(m.output_tok_s, 510.0) && close(m.ttft_p50_ms, 30.0) && close(m.ttft_p99_ms, 45.0));
    // genai-perf's inter_token_latency is per request: request_tpot, never the gap distribution.
    assert!(close(m.request_tpot_p50_ms, 7.5) && close(m.request_tpot_p99_ms, 8.0));
    assert_eq!((m.tpot_p50_ms, m.tpot_p99_ms), (None, None));
    assert!(close(m.e2e_p50_ms, 1525.0) && close(m.e2e_p99_ms, 1600.0));
}

#[test]
fn genai_perf_json_and_csv_give_the_same_case() {
    let json = one("genai-perf.json", &ctx());
    assert_context(&json);
    assert_genai_perf(&json, 10.0);
    let csv_ctx = Context {
        concurrency: Some(4),
        ..ctx()
    };
    let csv = one("genai-perf.csv", &csv_ctx);
    // No std column in genai-perf's CSV: (206.75 − 193.25) / 1.349 = 10.0074.
    assert_genai_perf(&csv, 13.5 / 1.349);
    assert!(csv.imported.unwrap().contains("estimated from the quartiles"));
    // The CSV holds no load: without one in the context it is refused, naming what to give.
    let e = crate::validate::load(&fixture("genai-perf.csv"), Some(&ctx())).unwrap_err();
    assert!(e.to_string().contains("concurrency = N") && e.exit_code() == 2, "{e}");
}

/// AIPerf's figures, as the JSON and the CSV export give them.
fn assert_aiperf(c: &Case) {
    assert_eq!(c.client.as_deref(), Some("aiperf"));
    assert_eq!((c.requests, c.output_tokens), (Some(100), Some(100)));
    let Some(Lengths::Normal { mean, stddev, min, max }) = c.input else {
        panic!("{:?}", c.input)
    };
    assert_eq!((mean, stddev, min, max), (2000.0, 100.0, 1790, 2210));
    let m = c.measured;
    assert!(close(m.output_tok_s, 198.0) && close(m.ttft_p50_ms, 55.0) && close(m.ttft_p99_ms, 110.0));
    assert!(close(m.request_tpot_p50_ms, 7.35) && close(m.request_tpot_p99_ms, 8.1));
    assert!(close(m.e2e_p50_ms, 790.0) && close(m.e2e_p99_ms, 950.0));
}

#[test]
fn aiperf_json_and_csv() {
    let json = one("aiperf.json", &ctx());
    // --request-rate 2 --request-rate-mode constant --concurrency 16: constant gaps, capped.
    assert_eq!(
        (json.load, json.qps, json.max_concurrency),
        (LoadKind::Constant, Some(2.0), Some(16))
    );
    assert_aiperf(&json);
    let hw = crate::hw::Catalog::builtin().unwrap().hardware("p5.48xlarge").unwrap();
    let t = json.scenario_toml(&hw).unwrap();
    assert!(
        t.contains("kind = \"constant\"") && t.contains("max_concurrency = 16"),
        "{t}"
    );
    // The CSV with a rate from the context: AIPerf's default mode, Poisson.
    let csv = one(
        "aiperf.csv",
        &Context {
            qps: Some(2.0),
            ..ctx()
        },
    );
    assert_eq!(
        (csv.load, csv.qps, csv.max_concurrency),
        (LoadKind::Poisson, Some(2.0), None)
    );
    assert_aiperf(&csv);
}

#[test]
fn llmperf_summary_in_seconds_becomes_milliseconds() {
    let c = one("llmperf_summary.json", &ctx());
    assert_eq!(
        (c.load, c.concurrency, c.requests),
        (LoadKind::Closed, Some(2), Some(10))
    );
    assert_eq!(c.client.as_deref(), Some("llmperf"));
    let m = c.measured;
    assert!(close(m.ttft_p50_ms, 35.0) && close(m.ttft_p99_ms, 62.0));
    assert!(close(m.e2e_p50_ms, 1200.0) && close(m.e2e_p99_ms, 2600.0) && close(m.output_tok_s, 230.0));
    // LLMPerf's inter-token latency is E2E / output: compared with nothing.
    assert_eq!((m.tpot_p50_ms, m.request_tpot_p50_ms), (None, None));
    // "420" and "700": numpy integers json.dump wrote as strings.
    assert_eq!(
        c.input,
        Some(Lengths::Normal {
            mean: 551.5,
            stddev: 75.0,
            min: 420,
            max: 700
        })
    );
    // A legacy LLMPerf run: the context names its client.
    let legacy = one(
        "llmperf_summary.json",
        &Context {
            client: Some("llmperf-legacy".into()),
            ..ctx()
        },
    );
    assert_eq!(legacy.client.as_deref(), Some("llmperf-legacy"));
}

#[test]
fn llmperf_individual_responses_give_percentiles_over_successful_requests() {
    let c = one(
        "llmperf_individual_responses.json",
        &Context {
            concurrency: Some(2),
            ..ctx()
        },
    );
    // Three successful requests (the error_code 500 one left out).
    assert_eq!(c.requests, Some(3));
    let m = c.measured;
    // TTFT [50, 60, 70] ms: p50 60; p99 at rank 0.99 × 2 = 1.98: 60 + 0.98 × 10 = 69.8.
    assert!(close(m.ttft_p50_ms, 60.0) && close(m.ttft_p99_ms, 69.8), "{m:?}");
    // E2E [1,050, 1,160, 1,270] ms: p99 = 1,160 + 0.98 × 110 = 1,267.8.
    assert!(close(m.e2e_p50_ms, 1160.0) && close(m.e2e_p99_ms, 1267.8));
    // (E2E − TTFT) / (101 − 1): [10, 11, 12] ms.
    assert!(close(m.request_tpot_p50_ms, 11.0) && close(m.request_tpot_p99_ms, 11.98));
    assert_eq!(m.output_tok_s, None);
    assert_eq!(c.output_tokens, Some(101));
}

#[test]
fn time_units_convert_to_milliseconds_and_unknown_ones_are_refused() {
    let block = |unit: &str, v: f64| Block {
        unit: unit.into(),
        stats: [("p50".to_string(), v)].into(),
        at: "key `x`".into(),
    };
    let f = Path::new("r.json");
    assert_eq!(block("s", 0.5).ms(f, "p50").unwrap(), Some(500.0));
    assert_eq!(block("sec", 2.0).ms(f, "p50").unwrap(), Some(2000.0));
    assert_eq!(block("ns", 2e6).ms(f, "p50").unwrap(), Some(2.0));
    assert_eq!(block("us", 1500.0).ms(f, "p50").unwrap(), Some(1.5));
    assert_eq!(block("ms", 7.0).ms(f, "p99").unwrap(), None);
    assert_eq!(ms_per("minutes"), None);
    let e = block("fortnights", 1.0).ms(f, "p50").unwrap_err().to_string();
    assert!(
        e.contains("fortnights") && e.contains("ms") && e.contains("key `x`"),
        "{e}"
    );
    let e = block("tokens/min", 1.0).tokens_per_s(f, "p50").unwrap_err().to_string();
    assert!(e.contains("tokens/min") && e.contains("tokens/sec"), "{e}");
}

#[test]
fn formats_are_recognised_by_content_not_name() {
    let f = Path::new("renamed.txt");
    let read = |n: &str| std::fs::read_to_string(fixture(n)).unwrap();
    let sniff = |n: &str| super::sniff(&read(n), f, None).unwrap();
    assert_eq!(sniff("vllm-closed.json"), Some(Format::VllmBench));
    assert_eq!(sniff("vllm-append.json"), Some(Format::VllmBench));
    assert_eq!(sniff("genai-perf.json"), Some(Format::GenaiPerf));
    assert_eq!(sniff("genai-perf.csv"), Some(Format::GenaiPerfCsv));
    assert_eq!(sniff("aiperf.json"), Some(Format::Aiperf));
    assert_eq!(sniff("aiperf.csv"), Some(Format::AiperfCsv));
    assert_eq!(sniff("llmperf_summary.json"), Some(Format::LlmperfSummary));
    assert_eq!(
        sniff("llmperf_individual_responses.json"),
        Some(Format::LlmperfIndividual)
    );
    assert_eq!(sniff("context.toml"), None, "TOML is a validation file");
    assert_eq!(super::sniff("[[case]]\nid = \"a\"\n", f, None).unwrap(), None);
    // Metric blocks without an input_config: the context's `format` decides.
    let bare = r#"{"time_to_first_token": {"unit": "ms", "p50": 1.0}}"#;
    assert!(
        super::sniff(bare, f, None)
            .unwrap_err()
            .to_string()
            .contains("format = ")
    );
    assert_eq!(
        super::sniff(bare, f, Some(Format::Aiperf)).unwrap(),
        Some(Format::Aiperf)
    );
    let e = super::sniff(r#"{"hello": 1}"#, f, None).unwrap_err().to_string();
    assert!(e.contains("renamed.txt") && e.contains("vllm bench serve"), "{e}");
}

#[test]
fn bad_files_and_contexts_are_refused_naming_file_key_and_value() {
    let err = |name: &str, c: &Context| crate::validate::load(&fixture(name), Some(c)).unwrap_err();
    let e = err("bad-ramp-up.json", &ctx());
    assert!(e.to_string().contains("ramp_up_strategy") && e.exit_code() == 2, "{e}");
    let e = err("bad-value.json", &ctx()).to_string();
    assert!(
        e.contains("bad-value.json") && e.contains("median_ttft_ms") && e.contains("\"fast\""),
        "{e}"
    );
    let e = err("bad-unit.json", &ctx()).to_string();
    assert!(e.contains("time_to_first_token") && e.contains("fortnights"), "{e}");
    // No context: the first key it needs, and how to give it.
    let e = err("vllm-closed.json", &Context::default()).to_string();
    assert!(e.contains("`instance`") && e.contains("--instance"), "{e}");
    let e = err(
        "vllm-closed.json",
        &Context {
            instance: Some("p9.huge".into()),
            ..ctx()
        },
    )
    .to_string();
    assert!(e.contains("context.toml") && e.contains("p9.huge"), "{e}");
    let e = err(
        "vllm-closed.json",
        &Context {
            engine: Some("vllm2".into()),
            ..ctx()
        },
    )
    .to_string();
    assert!(
        e.contains("`engine`") && e.contains("vllm2") && e.contains("did you mean"),
        "{e}"
    );
    // The file holds its load: a context load is a contradiction, not an override.
    let e = err(
        "vllm-closed.json",
        &Context {
            concurrency: Some(3),
            ..ctx()
        },
    )
    .to_string();
    assert!(e.contains("`concurrency`") && e.contains("already says"), "{e}");
    // A validation TOML with a context: the context would be silently ignored.
    let toml = Path::new(env!("CARGO_MANIFEST_DIR")).join("validation/neuron-features.toml");
    let e = crate::validate::load(&toml, Some(&ctx())).unwrap_err().to_string();
    assert!(e.contains("applies to benchmark result files only"), "{e}");
}
