//! `vllm bench serve --save-result` JSON, as `vllm-project/vllm@009e6d4a1cd6:
//! vllm/benchmarks/serve.py` writes it (`main`'s `result_json` merged with `benchmark`'s
//! `result`; `--append-result` appends further objects, one per line).
//!
//! The keys read and what they are in codesim's terms:
//! - load: `request_rate` (a number, or the string "inf"), `burstiness` (gamma shape k: 1 is
//!   Poisson, so the gaps' cv is 1/√k), `max_concurrency` (null or the semaphore's size),
//!   `num_prompts` (requests sent). "inf" with a cap is a closed loop of the cap's size; "inf"
//!   without one sends every request at t = 0 (offline). `ramp_up_strategy` (a rising rate) is
//!   refused: not modelled.
//! - `output_throughput` (tok/s): output tokens over the benchmark's duration.
//! - `median_ttft_ms`, `p99_ttft_ms`: time to first token.
//! - `median_itl_ms`, `p99_itl_ms`: every gap between consecutive streamed chunks of every
//!   request (`itls += outputs[i].itl`) = codesim's `itl_ms`, compared as `tpot_*`.
//! - `median_tpot_ms`, `p99_tpot_ms`: per request (latency − ttft) / (output_len − 1) = codesim's
//!   `tpot_ms`, compared as `request_tpot_*`.
//! - `median_e2el_ms`, `p99_e2el_ms` (only with `--percentile-metrics …,e2el`).
//! - lengths: `input_lens` / `output_lens` per request (only with `--save-detailed`), else the
//!   means `total_input_tokens` / `total_output_tokens` over `completed`.
//!
//! Percentile keys are `p{P}_<metric>_ms` for each of `--metric-percentiles` (default "99").

use super::table::{count, number};
use super::{Format, LenStats, Load, Measurement};
use crate::error::{Error, Result};
use crate::validate::case::{LoadKind, Measured};
use serde_json::Value;
use std::path::Path;

/// Every object of the file, each a measurement.
pub fn read(text: &str, file: &Path) -> Result<Vec<Measurement>> {
    super::json_values(text, file)?
        .iter()
        .map(|v| read_one(v, file))
        .collect()
}

fn read_one(v: &Value, file: &Path) -> Result<Measurement> {
    let mut notes = Vec::new();
    if v.get("ramp_up_strategy").is_some_and(|s| !s.is_null()) {
        return Err(Error::input(
            file,
            "key `ramp_up_strategy`",
            "a ramp-up run (its rate rises over the run) is not modelled; import runs at one --request-rate",
        ));
    }
    let ms = |k: &str| number(file, v, k, "milliseconds");
    let measured = Measured {
        output_tok_s: number(file, v, "output_throughput", "output tokens/s")?,
        ttft_p50_ms: ms("median_ttft_ms")?,
        ttft_p99_ms: ms("p99_ttft_ms")?,
        tpot_p50_ms: ms("median_itl_ms")?,
        tpot_p99_ms: ms("p99_itl_ms")?,
        request_tpot_p50_ms: ms("median_tpot_ms")?,
        request_tpot_p99_ms: ms("p99_tpot_ms")?,
        e2e_p50_ms: ms("median_e2el_ms")?,
        e2e_p99_ms: ms("p99_e2el_ms")?,
    };
    let completed = count(file, v, "completed", "requests completed")?;
    if let Some(f) = count(file, v, "failed", "requests failed")?.filter(|&f| f > 0) {
        notes.push(format!(
            "{f} requests failed in the run; its figures are over the others"
        ));
    }
    let requests = count(file, v, "num_prompts", "requests sent")?.or(completed);
    let (input, output) = lengths(v, file, completed, &mut notes)?;
    Ok(Measurement {
        format: Format::VllmBench,
        load: Some(load(v, file)?),
        requests,
        input,
        output,
        measured,
        notes,
    })
}

/// The load of one run.
fn load(v: &Value, file: &Path) -> Result<Load> {
    let cap = match v.get("max_concurrency") {
        None | Some(Value::Null) => None,
        Some(_) => match count(file, v, "max_concurrency", "requests in flight")? {
            Some(0) | None => return Err(Error::input(file, "key `max_concurrency`", "must be at least 1, got 0")),
            Some(c) => Some(u32::try_from(c).map_err(|_| {
                Error::input(
                    file,
                    "key `max_concurrency`",
                    format!("{c} is beyond any closed loop codesim runs"),
                )
            })?),
        },
    };
    let rate = match v.get("request_rate") {
        Some(Value::String(s)) if s == "inf" => None,
        None | Some(Value::Null) => {
            return Err(Error::input(
                file,
                "key `request_rate`",
                "is missing: vllm bench serve writes a number or \"inf\"",
            ));
        }
        Some(_) => match number(file, v, "request_rate", "requests/s, or \"inf\"")? {
            Some(r) if r > 0.0 => Some(r),
            other => {
                return Err(Error::input(
                    file,
                    "key `request_rate`",
                    format!("must be > 0 or \"inf\", got {other:?}"),
                ));
            }
        },
    };
    let Some(qps) = rate else {
        return Ok(match cap {
            Some(c) => Load::Closed { concurrency: c },
            None => Load::Offline,
        });
    };
    let k = number(file, v, "burstiness", "gamma shape, > 0")?.unwrap_or(1.0);
    if k <= 0.0 {
        return Err(Error::input(
            file,
            "key `burstiness`",
            format!("must be > 0 (1: Poisson), got {k}"),
        ));
    }
    let (kind, cv) = if k == 1.0 {
        (LoadKind::Poisson, None)
    } else {
        (LoadKind::Gamma, Some(1.0 / k.sqrt()))
    };
    Ok(Load::Rate {
        qps,
        kind,
        cv,
        max_concurrency: cap,
    })
}

/// Input and output lengths: per request with `--save-detailed`, else the means.
fn lengths(v: &Value, file: &Path, completed: Option<u64>, notes: &mut Vec<String>) -> Result<(LenStats, LenStats)> {
    let per_request = |key: &str| -> Result<Option<Vec<f64>>> {
        let Some(arr) = v.get(key).and_then(Value::as_array) else {
            return Ok(None);
        };
        let xs: Option<Vec<f64>> = arr.iter().map(Value::as_f64).collect();
        let xs = xs.ok_or_else(|| Error::input(file, format!("key `{key}`"), "must be a list of token counts"))?;
        // Failed requests count 0 output tokens (calculate_metrics); they are not lengths.
        Ok(Some(xs.into_iter().filter(|&x| x > 0.0).collect()))
    };
    if let (Some(i), Some(o)) = (per_request("input_lens")?, per_request("output_lens")?) {
        if let (Some(i), Some(o)) = (LenStats::of(&i), LenStats::of(&o)) {
            return Ok((i, o));
        }
    }
    let n = completed.filter(|&n| n > 0).ok_or_else(|| {
        Error::input(
            file,
            "key `completed`",
            "no request completed, so the run measured nothing",
        )
    })? as f64;
    let mean = |key: &str| -> Result<f64> {
        let total = count(file, v, key, "tokens")?.ok_or_else(|| {
            Error::input(
                file,
                format!("key `{key}`"),
                "is missing: vllm bench serve writes it with every result",
            )
        })?;
        Ok(total as f64 / n)
    };
    let (i, o) = (mean("total_input_tokens")?, mean("total_output_tokens")?);
    notes.push("lengths: the file's means only, as fixed lengths (run with --save-detailed for each request's)".into());
    let fixed = |m: f64| LenStats {
        mean: m,
        std: 0.0,
        min: m,
        max: m,
    };
    Ok((fixed(i), fixed(o)))
}
