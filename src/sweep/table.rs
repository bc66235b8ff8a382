//! The results table of a sweep: one row per run, every axis its own column, then every summary
//! metric. Built only from the run records, in index order, so the same records give the same
//! bytes (a sharded and merged sweep equals an unsharded one). No wall time appears in it.

use super::Manifest;
use super::exec::{RunRecord, RunStatus};
use crate::error::{Error, Result};
use crate::metrics::{Dist, RunResult, table};
use crate::tomlpath::{as_f64, value_label};
use polars::prelude::*;
use std::path::Path;

/// Numeric metrics of a run, as (column, value). Adding a column is one line here.
pub fn metrics(r: &RunResult) -> Vec<(String, f64)> {
    let mut v: Vec<(String, f64)> = Vec::new();
    let dist = |v: &mut Vec<(String, f64)>, name: &str, d: &Dist| {
        for (q, x) in [
            ("mean", d.mean),
            ("p50", d.p50),
            ("p90", d.p90),
            ("p95", d.p95),
            ("p99", d.p99),
            ("p999", d.p999),
        ] {
            v.push((format!("{name}_{q}"), x));
        }
    };
    dist(&mut v, "ttft_ms", &r.ttft_ms);
    dist(&mut v, "tpot_ms", &r.tpot_ms);
    dist(&mut v, "itl_ms", &r.itl_ms);
    dist(&mut v, "e2e_ms", &r.e2e_ms);
    dist(&mut v, "queue_ms", &r.queue_ms);
    let mut push = |name: &str, x: f64| v.push((name.to_string(), x));
    push("output_tok_s", r.throughput.output_tok_s);
    push("total_tok_s", r.throughput.total_tok_s);
    push("requests_s", r.throughput.requests_s);
    push("usd_per_mtok_output", r.cost.usd_per_mtok_output);
    push("usd_per_mtok_total", r.cost.usd_per_mtok_total);
    push("usd_per_hour", r.cost.usd_per_hour);
    push("usd_total", r.cost.usd_total);
    push("instances", r.cost.instances as f64);
    push("j_per_output_token", r.energy.j_per_output_token);
    push("avg_power_w", r.energy.avg_power_w);
    push("requests_arrived", r.requests.arrived as f64);
    push("requests_completed", r.requests.completed as f64);
    push("requests_dropped", r.requests.dropped as f64);
    push("requests_rejected", r.requests.rejected as f64);
    push("requests_unfinished", r.requests.unfinished as f64);
    push("preemptions", r.requests.preempted as f64);
    push("compute_s", r.breakdown.compute_s);
    push("memory_s", r.breakdown.memory_s);
    push("communication_s", r.breakdown.communication_s);
    push("overhead_s", r.breakdown.overhead_s);
    push("busy_fraction", r.breakdown.busy_fraction);
    push("sim_time_s", r.sim.sim_time_s);
    v
}

/// A column that a run may have no value for.
pub type OptionalMetric = (String, Option<f64>);

/// $ per million tokens (all tokens) of a run under each way of paying, as (column, value): `None`
/// where the catalog has no such price (reserved or spot) or no ownership figures, or the model no
/// managed price.
pub fn pricing_metrics(r: &RunResult) -> Vec<OptionalMetric> {
    let p = &r.pricing;
    vec![
        (
            "usd_per_mtok_total_on_demand".into(),
            Some(p.on_demand.usd_per_mtok_total),
        ),
        (
            "usd_per_mtok_total_reserved".into(),
            p.reserved.map(|c| c.usd_per_mtok_total),
        ),
        ("usd_per_mtok_total_spot".into(), p.spot.map(|c| c.usd_per_mtok_total)),
        (
            "usd_per_mtok_total_own".into(),
            p.own.map(|o| o.cost.usd_per_mtok_total),
        ),
        ("usd_per_hour_own".into(), p.own.map(|o| o.cost.usd_per_hour)),
        (
            "usd_per_mtok_total_managed".into(),
            p.managed.as_ref().map(|m| m.cost.usd_per_mtok_total),
        ),
    ]
}

/// Text metrics of a run, as (column, value): e.g. a saturation state. One line per column.
pub fn text_metrics(r: &RunResult) -> Vec<(String, String)> {
    vec![("saturation".to_string(), r.saturation.clone())]
}

/// The results table.
pub fn results_frame(m: &Manifest, records: &[RunRecord]) -> Result<DataFrame, PolarsError> {
    let n = records.len();
    let mut cols: Vec<Column> = Vec::new();
    cols.push(Column::new(
        "run".into(),
        records.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
    ));
    for (a, axis) in m.axes.iter().enumerate() {
        let name: PlSmallStr = axis.key.as_str().into();
        let vals: Vec<&toml::Value> = records.iter().map(|r| &r.axes[a].1).collect();
        let col = if vals.iter().all(|v| v.is_integer()) {
            Column::new(
                name,
                vals.iter().map(|v| v.as_integer().unwrap_or(0)).collect::<Vec<i64>>(),
            )
        } else if vals.iter().all(|v| as_f64(v).is_some()) {
            Column::new(
                name,
                vals.iter().map(|v| as_f64(v).unwrap_or(0.0)).collect::<Vec<f64>>(),
            )
        } else if vals.iter().all(|v| v.is_bool()) {
            Column::new(
                name,
                vals.iter().map(|v| v.as_bool().unwrap_or(false)).collect::<Vec<bool>>(),
            )
        } else {
            Column::new(name, vals.iter().map(|v| value_label(v)).collect::<Vec<String>>())
        };
        cols.push(col);
    }
    cols.push(Column::new(
        "status".into(),
        records.iter().map(|r| r.status.as_str()).collect::<Vec<_>>(),
    ));
    cols.push(Column::new(
        "skip_reason".into(),
        records
            .iter()
            .map(|r| r.reason.clone())
            .collect::<Vec<Option<String>>>(),
    ));
    cols.push(Column::new(
        "seed".into(),
        records.iter().map(|r| r.seed).collect::<Vec<Option<u64>>>(),
    ));
    let slo = m.primary_slo();
    cols.push(Column::new(
        "meets_slo".into(),
        records
            .iter()
            .map(|r| r.ok().zip(slo).map(|(res, s)| s.met_by(res)))
            .collect::<Vec<Option<bool>>>(),
    ));
    cols.push(Column::new(
        "goodput_fraction".into(),
        records
            .iter()
            .map(|r| r.goodput.map(|g| g.fraction))
            .collect::<Vec<Option<f64>>>(),
    ));
    cols.push(Column::new(
        "goodput_requests_s".into(),
        records
            .iter()
            .map(|r| r.goodput.map(|g| g.requests_s))
            .collect::<Vec<Option<f64>>>(),
    ));
    let numeric: Vec<Option<Vec<(String, f64)>>> = records.iter().map(|r| r.ok().map(metrics)).collect();
    for (i, (name, _)) in metrics(&RunResult::default()).into_iter().enumerate() {
        let vals: Vec<Option<f64>> = numeric.iter().map(|m| m.as_ref().map(|m| m[i].1)).collect();
        cols.push(Column::new(name.into(), vals));
    }
    let priced: Vec<Option<Vec<OptionalMetric>>> = records.iter().map(|r| r.ok().map(pricing_metrics)).collect();
    for (i, (name, _)) in pricing_metrics(&RunResult::default()).into_iter().enumerate() {
        let vals: Vec<Option<f64>> = priced.iter().map(|m| m.as_ref().and_then(|m| m[i].1)).collect();
        cols.push(Column::new(name.into(), vals));
    }
    let text: Vec<Option<Vec<(String, String)>>> = records.iter().map(|r| r.ok().map(text_metrics)).collect();
    for (i, (name, _)) in text_metrics(&RunResult::default()).into_iter().enumerate() {
        let vals: Vec<Option<String>> = text.iter().map(|m| m.as_ref().map(|m| m[i].1.clone())).collect();
        cols.push(Column::new(name.into(), vals));
    }
    DataFrame::new(n, cols)
}

/// Writes `results.parquet` and `results.csv` into `dir`.
pub fn write_results(dir: &Path, m: &Manifest, records: &[RunRecord]) -> Result<()> {
    let mut df = results_frame(m, records).map_err(|e| Error::Output {
        path: dir.join("results.parquet"),
        message: e.to_string(),
    })?;
    table::write_parquet(&mut df, &dir.join("results.parquet"))?;
    table::write_csv(&mut df, &dir.join("results.csv"))
}

/// Count of records by status.
pub fn count(records: &[RunRecord], status: RunStatus) -> usize {
    records.iter().filter(|r| r.status == status).count()
}
