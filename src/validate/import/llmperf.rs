//! LLMPerf's two result files, as `ray-project/llmperf@f1d6bed:token_benchmark_ray.py` writes
//! them (`run_token_benchmark`): `<model>_<mean in>_<mean out>_summary.json`, the metadata and
//! `metrics_summary` flattened with "_" (`src/llmperf/utils.py:flatten_dict`), and
//! `…_individual_responses.json`, a list of per-request metrics (`src/llmperf/common_metrics.py`
//! names), seconds throughout.
//!
//! The summary's keys read: `num_concurrent_requests` (the closed loop's clients),
//! `results_num_completed_requests`, `results_mean_output_throughput_token_per_s` (output tokens
//! of the completed requests over the run's wall time), `results_ttft_s_quantiles_p50` / `_p99`,
//! `results_end_to_end_latency_s_quantiles_p50` / `_p99` (pandas quantiles, linear), and
//! `results_number_input_tokens_mean` / `_stddev` / `_min` / `_max` (likewise output). Whole
//! numbers such as `_min` come from numpy integers, which `json.dump(…, default=str)` writes as
//! strings ("523"): read as numbers.
//!
//! LLMPerf's `inter_token_latency_s` is each request's sum of its chunks' gaps with the TTFT
//! included, over its output tokens (`openai_chat_completions_client.py`, then divided in
//! `get_token_throughput_latencies`): about E2E / output, which is neither of codesim's per-token
//! metrics, so it is not compared. The per-request file gives codesim's TPOT exactly:
//! (`end_to_end_latency_s` − `ttft_s`) / (`number_output_tokens` − 1) per request.

use super::{Format, LenStats, Load, Measurement};
use crate::error::{Error, Result};
use crate::validate::case::Measured;
use crate::validate::quantile;
use serde_json::Value;
use std::path::Path;

/// A number at top-level key `k`, also from a numeric string (numpy integers, see above).
fn num(doc: &Value, file: &Path, k: &str) -> Result<Option<f64>> {
    let bad = |v: &Value| {
        Error::input(
            file,
            format!("key `{k}`"),
            format!("must be a number, got {}", super::table::shown(v)),
        )
    };
    match doc.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => s
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|x| x.is_finite())
            .map(Some)
            .ok_or_else(|| bad(&doc[k])),
        Some(v) => v.as_f64().filter(|x| x.is_finite()).map(Some).ok_or_else(|| bad(v)),
    }
}

/// A summary file.
pub fn read_summary(doc: &Value, file: &Path) -> Result<Measurement> {
    let s_to_ms = |k: &str| Ok::<_, Error>(num(doc, file, k)?.map(|v| v * 1e3));
    let measured = Measured {
        output_tok_s: num(doc, file, "results_mean_output_throughput_token_per_s")?,
        ttft_p50_ms: s_to_ms("results_ttft_s_quantiles_p50")?,
        ttft_p99_ms: s_to_ms("results_ttft_s_quantiles_p99")?,
        e2e_p50_ms: s_to_ms("results_end_to_end_latency_s_quantiles_p50")?,
        e2e_p99_ms: s_to_ms("results_end_to_end_latency_s_quantiles_p99")?,
        ..Measured::default()
    };
    let concurrency = match num(doc, file, "num_concurrent_requests")? {
        Some(c) if c >= 1.0 && c.fract() == 0.0 && c <= u32::MAX as f64 => c as u32,
        other => {
            return Err(Error::input(
                file,
                "key `num_concurrent_requests`",
                format!("must be a whole number ≥ 1 (LLMPerf's --num-concurrent-requests), got {other:?}"),
            ));
        }
    };
    let lengths = |what: &str| -> Result<LenStats> {
        let k = |stat: &str| format!("results_number_{what}_tokens_{stat}");
        let mean = num(doc, file, &k("mean"))?
            .filter(|&m| m > 0.0)
            .ok_or_else(|| Error::input(file, format!("key `{}`", k("mean")), "must be a token count > 0"))?;
        Ok(LenStats {
            mean,
            std: num(doc, file, &k("stddev"))?.unwrap_or(0.0),
            min: num(doc, file, &k("min"))?.unwrap_or(mean),
            max: num(doc, file, &k("max"))?.unwrap_or(mean),
        })
    };
    let requests = num(doc, file, "results_num_completed_requests")?.map(|n| n.round() as u64);
    Ok(Measurement {
        format: Format::LlmperfSummary,
        load: Some(Load::Closed { concurrency }),
        requests,
        input: lengths("input")?,
        output: lengths("output")?,
        measured,
        notes: vec!["LLMPerf's inter-token latency (E2E over output tokens, TTFT included) is not compared".into()],
    })
}

/// Percentiles p50 and p99 of `xs` (numpy's linear interpolation, as pandas'), in ms from s.
fn p50_p99_ms(mut xs: Vec<f64>) -> (Option<f64>, Option<f64>) {
    if xs.is_empty() {
        return (None, None);
    }
    xs.sort_by(f64::total_cmp);
    (Some(quantile(&xs, 0.5) * 1e3), Some(quantile(&xs, 0.99) * 1e3))
}

/// A per-request file: the successful requests' figures (the load is the context's).
pub fn read_individual(doc: &Value, file: &Path) -> Result<Measurement> {
    let rows = doc.as_array().map(Vec::as_slice).unwrap_or_default();
    let (mut ttft, mut e2e, mut tpot, mut input, mut output) = (vec![], vec![], vec![], vec![], vec![]);
    for (i, r) in rows.iter().enumerate() {
        if r.get("error_code").is_some_and(|c| !c.is_null()) {
            continue;
        }
        let get = |k: &str| -> Result<f64> {
            r.get(k)
                .and_then(Value::as_f64)
                .filter(|x| x.is_finite() && *x >= 0.0)
                .ok_or_else(|| {
                    Error::input(
                        file,
                        format!("key `[{i}].{k}`"),
                        format!(
                            "must be a number ≥ 0 in a successful request (error_code null), got {}",
                            r.get(k).map_or("nothing".into(), super::table::shown)
                        ),
                    )
                })
        };
        let (t, e, n) = (
            get("ttft_s")?,
            get("end_to_end_latency_s")?,
            get("number_output_tokens")?,
        );
        ttft.push(t);
        e2e.push(e);
        if n > 1.0 {
            tpot.push((e - t) / (n - 1.0));
        }
        input.push(get("number_input_tokens")?);
        output.push(n);
    }
    let n = ttft.len();
    let (Some(i), Some(o)) = (LenStats::of(&input), LenStats::of(&output)) else {
        return Err(Error::input(
            file,
            "",
            "holds no successful request (every error_code is set)",
        ));
    };
    let (ttft_p50_ms, ttft_p99_ms) = p50_p99_ms(ttft);
    let (e2e_p50_ms, e2e_p99_ms) = p50_p99_ms(e2e);
    let (request_tpot_p50_ms, request_tpot_p99_ms) = p50_p99_ms(tpot);
    Ok(Measurement {
        format: Format::LlmperfIndividual,
        load: None,
        requests: Some(n as u64),
        input: i,
        output: o,
        measured: Measured {
            ttft_p50_ms,
            ttft_p99_ms,
            e2e_p50_ms,
            e2e_p99_ms,
            request_tpot_p50_ms,
            request_tpot_p99_ms,
            ..Measured::default()
        },
        notes: vec![format!(
            "percentiles over its {n} successful requests; no throughput (the file has no run duration: import the summary for it)"
        )],
    })
}
