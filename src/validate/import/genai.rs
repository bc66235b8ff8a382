//! genai-perf and AIPerf exports. AIPerf's JSON was designed to mimic genai-perf's
//! (`ai-dynamo/aiperf@db4f6397:aiperf/common/models/export_models.py`), so one reader serves
//! both: each metric is a block `{"unit": …, "avg": …, "p50": …, "p99": …, "min": …, "max": …,
//! "std": …}` (JSON) or a row `Name (unit),avg,min,max,…` (CSV), time metrics in ms.
//!
//! Sources: `triton-inference-server/perf_analyzer@263c5f6e:genai-perf/genai_perf/`
//! (`export_data/json_exporter.py`, `export_data/csv_exporter.py`, `metrics/statistics.py`,
//! `profile_data_parser/llm_profile_data_parser.py`, `config/input/config_perf_analyzer.py`)
//! and `ai-dynamo/aiperf@db4f6397:` (`aiperf/exporters/json_exporter.py`, `csv_exporter.py`,
//! `aiperf/metrics/types/inter_token_latency_metric.py`, `aiperf/common/config/loadgen_config.py`,
//! `user_config.py`, `config_defaults.py`).
//!
//! What the metrics are in codesim's terms:
//! - `time_to_first_token` p50/p99 → `ttft_*`;
//! - `inter_token_latency` p50/p99: per request (request latency − TTFT) / (output − 1), in both
//!   tools → `request_tpot_*` (codesim's per-request `tpot_ms`), not the gap distribution;
//! - `request_latency` p50/p99 → `e2e_*`;
//! - `output_token_throughput` avg (tokens/sec, a system metric) → `output_tok_s`;
//! - `request_count` avg → the requests measured;
//! - `input_sequence_length` / `output_sequence_length` avg, std, min, max → lengths (genai-perf's
//!   CSV has no std column: estimated from the quartiles as a normal's, (p75 − p25) / 1.349).
//!
//! The load: genai-perf's JSON `input_config.perf_analyzer.stimulus` (`{"concurrency": N}` or
//! `{"request_rate": R}`; older releases `input_config.concurrency` / `request_rate`), sent at
//! constant intervals (perf_analyzer's default distribution); AIPerf's
//! `input_config.loadgen.concurrency`, `request_rate`, `request_rate_mode` (poisson by default,
//! or constant; with a concurrency as well, the cap on requests in flight); neither: AIPerf's
//! default concurrency 1. The CSV exports hold no load: the context gives it.

use super::table::{Block, Metrics, at, count, csv_metrics, json_metrics, number, shown};
use super::{Format, LenStats, Load, Measurement};
use crate::error::{Error, Result};
use crate::validate::case::{LoadKind, Measured};
use serde_json::Value;
use std::path::Path;

/// genai-perf or AIPerf, for a JSON export with metric blocks.
pub fn which(doc: &Value, file: &Path, forced: Option<Format>) -> Result<Format> {
    let ic = doc.get("input_config");
    let has_ic = |k: &str| ic.is_some_and(|c| c.get(k).is_some());
    if has_ic("loadgen") || doc.get("was_cancelled").is_some() || doc.get("error_summary").is_some() {
        return Ok(Format::Aiperf);
    }
    if has_ic("perf_analyzer") || has_ic("concurrency") || has_ic("request_rate") {
        return Ok(Format::GenaiPerf);
    }
    match forced {
        Some(f @ (Format::GenaiPerf | Format::Aiperf)) => Ok(f),
        _ => Err(Error::input(
            file,
            "key `input_config`",
            "a genai-perf or AIPerf export whose input_config says neither (no `loadgen`, no `perf_analyzer`): set format = \"genai-perf\" or \"aiperf\" in the context",
        )),
    }
}

/// A JSON export.
pub fn read_json(doc: &Value, file: &Path, format: Format) -> Result<Measurement> {
    let metrics = json_metrics(file, doc)?;
    let mut notes = Vec::new();
    let load = match format {
        Format::Aiperf => aiperf_load(doc, file, &mut notes)?,
        _ => genai_perf_load(doc, file)?,
    };
    measurement(&metrics, file, format, Some(load), notes)
}

/// A CSV export (no load in it).
pub fn read_csv(text: &str, file: &Path, format: Format) -> Result<Measurement> {
    let metrics = csv_metrics(file, text)?;
    measurement(&metrics, file, format, None, Vec::new())
}

fn measurement(
    m: &Metrics,
    file: &Path,
    format: Format,
    load: Option<Load>,
    mut notes: Vec<String>,
) -> Result<Measurement> {
    let stat_ms = |tag: &str, stat: &str| m.get(tag).map_or(Ok(None), |b| b.ms(file, stat));
    let measured = Measured {
        output_tok_s: m
            .get("output_token_throughput")
            .map_or(Ok(None), |b| b.tokens_per_s(file, "avg"))?,
        ttft_p50_ms: stat_ms("time_to_first_token", "p50")?,
        ttft_p99_ms: stat_ms("time_to_first_token", "p99")?,
        request_tpot_p50_ms: stat_ms("inter_token_latency", "p50")?,
        request_tpot_p99_ms: stat_ms("inter_token_latency", "p99")?,
        e2e_p50_ms: stat_ms("request_latency", "p50")?,
        e2e_p99_ms: stat_ms("request_latency", "p99")?,
        ..Measured::default()
    };
    let requests = m
        .get("request_count")
        .and_then(|b| b.stats.get("avg"))
        .map(|&n| n.round() as u64);
    let input = lengths(m, "input_sequence_length", file, &mut notes)?;
    let output = lengths(m, "output_sequence_length", file, &mut notes)?;
    Ok(Measurement {
        format,
        load,
        requests,
        input,
        output,
        measured,
        notes,
    })
}

/// A sequence-length block as length statistics.
fn lengths(m: &Metrics, tag: &str, file: &Path, notes: &mut Vec<String>) -> Result<LenStats> {
    let b: &Block = m.get(tag).ok_or_else(|| {
        Error::input(
            file,
            format!("metric `{tag}`"),
            "is missing: both tools export it with every run; codesim needs the requests' lengths",
        )
    })?;
    let get = |s: &str| b.stats.get(s).copied();
    let mean = get("avg")
        .filter(|&v| v > 0.0)
        .ok_or_else(|| Error::input(file, format!("{}, avg", b.at), "must be a token count > 0"))?;
    let std = match (get("std"), get("p25"), get("p75")) {
        (Some(s), _, _) => s,
        (None, Some(q1), Some(q3)) => {
            notes.push(format!(
                "{tag}: standard deviation estimated from the quartiles, (p75 − p25) / 1.349"
            ));
            (q3 - q1) / 1.349
        }
        _ => 0.0,
    };
    Ok(LenStats {
        mean,
        std,
        min: get("min").unwrap_or(mean),
        max: get("max").unwrap_or(mean),
    })
}

fn positive_u32(file: &Path, doc: &Value, path: &str) -> Result<u32> {
    match count(file, doc, path, "requests in flight")? {
        Some(c) if c >= 1 && c <= u32::MAX as u64 => Ok(c as u32),
        _ => Err(Error::input(
            file,
            format!("key `{path}`"),
            format!(
                "must be a whole number ≥ 1, got {}",
                at(doc, path).map_or("nothing".into(), shown)
            ),
        )),
    }
}

fn positive_rate(file: &Path, doc: &Value, path: &str) -> Result<f64> {
    match number(file, doc, path, "requests/s")? {
        Some(r) if r > 0.0 => Ok(r),
        _ => Err(Error::input(
            file,
            format!("key `{path}`"),
            "must be a request rate > 0",
        )),
    }
}

fn genai_perf_load(doc: &Value, file: &Path) -> Result<Load> {
    let stimulus = "input_config.perf_analyzer.stimulus";
    let (conc, rate) = match at(doc, stimulus).and_then(Value::as_object) {
        Some(s) => {
            if let Some(k) = s.keys().find(|k| *k != "concurrency" && *k != "request_rate") {
                return Err(Error::input(
                    file,
                    format!("key `{stimulus}.{k}`"),
                    "is not modelled (sessions and fixed schedules); import concurrency or request_rate runs",
                ));
            }
            (format!("{stimulus}.concurrency"), format!("{stimulus}.request_rate"))
        }
        None => ("input_config.concurrency".into(), "input_config.request_rate".into()),
    };
    match (at(doc, &conc).is_some(), at(doc, &rate).is_some()) {
        (true, false) => Ok(Load::Closed {
            concurrency: positive_u32(file, doc, &conc)?,
        }),
        (false, true) => Ok(Load::Rate {
            qps: positive_rate(file, doc, &rate)?,
            kind: LoadKind::Constant,
            cv: None,
            max_concurrency: None,
        }),
        _ => Err(Error::input(
            file,
            format!("key `{stimulus}`"),
            "must give exactly one of concurrency and request_rate (genai-perf runs one or the other)",
        )),
    }
}

fn aiperf_load(doc: &Value, file: &Path, notes: &mut Vec<String>) -> Result<Load> {
    let lg = "input_config.loadgen";
    if at(doc, "input_config.input.fixed_schedule").is_some_and(|v| v != &Value::Bool(false)) {
        return Err(Error::input(
            file,
            "key `input_config.input.fixed_schedule`",
            "a fixed-schedule (trace) run is not modelled here; replay the trace as a scenario instead",
        ));
    }
    let conc = at(doc, &format!("{lg}.concurrency"))
        .map(|_| positive_u32(file, doc, &format!("{lg}.concurrency")))
        .transpose()?;
    if at(doc, &format!("{lg}.request_rate")).is_none() {
        let concurrency = conc.unwrap_or_else(|| {
            notes.push("concurrency = 1 (AIPerf's default; input_config.loadgen sets none)".into());
            1
        });
        return Ok(Load::Closed { concurrency });
    }
    let qps = positive_rate(file, doc, &format!("{lg}.request_rate"))?;
    let mode_key = format!("{lg}.request_rate_mode");
    let kind = match at(doc, &mode_key).map(|v| v.as_str().map(str::to_lowercase)) {
        None => LoadKind::Poisson,
        Some(Some(m)) if m == "poisson" => LoadKind::Poisson,
        Some(Some(m)) if m == "constant" => LoadKind::Constant,
        Some(_) => {
            return Err(Error::input(
                file,
                format!("key `{mode_key}`"),
                format!(
                    "must be \"poisson\" or \"constant\" with a request rate, got {}",
                    at(doc, &mode_key).map_or(String::new(), shown)
                ),
            ));
        }
    };
    Ok(Load::Rate {
        qps,
        kind,
        cv: None,
        max_concurrency: conc,
    })
}
