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

/// A metric's value: a measured quantity (a `Float64` column) or a count (a `UInt64` column, so
/// readers get integers for request and instance counts).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Num {
    Real(f64),
    Count(u64),
}

/// Numeric metrics of a run, as (column, value). Adding a column is one line here and one in
/// [`metric_doc`].
pub fn metrics(r: &RunResult) -> Vec<(String, Num)> {
    let mut v: Vec<(String, Num)> = Vec::new();
    let dist = |v: &mut Vec<(String, Num)>, name: &str, d: &Dist| {
        for (q, x) in [
            ("mean", d.mean),
            ("p50", d.p50),
            ("p90", d.p90),
            ("p95", d.p95),
            ("p99", d.p99),
            ("p999", d.p999),
        ] {
            v.push((format!("{name}_{q}"), Num::Real(x)));
        }
    };
    dist(&mut v, "ttft_ms", &r.ttft_ms);
    dist(&mut v, "tpot_ms", &r.tpot_ms);
    dist(&mut v, "itl_ms", &r.itl_ms);
    dist(&mut v, "e2e_ms", &r.e2e_ms);
    dist(&mut v, "queue_ms", &r.queue_ms);
    let mut push = |name: &str, x: Num| v.push((name.to_string(), x));
    let (real, count) = (Num::Real, Num::Count);
    push("output_tok_s", real(r.throughput.output_tok_s));
    push("total_tok_s", real(r.throughput.total_tok_s));
    push("requests_s", real(r.throughput.requests_s));
    push("usd_per_mtok_output", real(r.cost.usd_per_mtok_output));
    push("usd_per_mtok_total", real(r.cost.usd_per_mtok_total));
    push("usd_per_hour", real(r.cost.usd_per_hour));
    push("usd_total", real(r.cost.usd_total));
    push("instances", count(u64::from(r.cost.instances)));
    push("j_per_output_token", real(r.energy.j_per_output_token));
    push("avg_power_w", real(r.energy.avg_power_w));
    push("requests_arrived", count(r.requests.arrived));
    push("requests_completed", count(r.requests.completed));
    push("requests_dropped", count(r.requests.dropped));
    push("requests_rejected", count(r.requests.rejected));
    push("requests_unfinished", count(r.requests.unfinished));
    push("preemptions", count(r.requests.preempted));
    push("compute_s", real(r.breakdown.compute_s));
    push("memory_s", real(r.breakdown.memory_s));
    push("communication_s", real(r.breakdown.communication_s));
    push("overhead_s", real(r.breakdown.overhead_s));
    push("busy_fraction", real(r.breakdown.busy_fraction));
    push("sim_time_s", real(r.sim.sim_time_s));
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

/// The columns of [`metrics`]: `Float64` for quantities, `UInt64` for counts; empty for a skipped
/// run.
fn metric_columns(records: &[RunRecord]) -> Vec<Column> {
    let mut cols = Vec::new();
    let numeric: Vec<Option<Vec<(String, Num)>>> = records.iter().map(|r| r.ok().map(metrics)).collect();
    for (i, (name, kind)) in metrics(&RunResult::default()).into_iter().enumerate() {
        let at = |m: &Option<Vec<(String, Num)>>| m.as_ref().map(|m| m[i].1);
        let col = match kind {
            Num::Real(_) => Column::new(
                name.into(),
                numeric
                    .iter()
                    .map(|m| match at(m) {
                        Some(Num::Real(x)) => Some(x),
                        _ => None,
                    })
                    .collect::<Vec<Option<f64>>>(),
            ),
            Num::Count(_) => Column::new(
                name.into(),
                numeric
                    .iter()
                    .map(|m| match at(m) {
                        Some(Num::Count(x)) => Some(x),
                        _ => None,
                    })
                    .collect::<Vec<Option<u64>>>(),
            ),
        };
        cols.push(col);
    }
    cols
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
    cols.extend(metric_columns(records));
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
    table::write_parquet(&mut df, &results_docs(m), &dir.join("results.parquet"))?;
    table::write_csv(&mut df, &dir.join("results.csv"))
}

/// The description of a metric column of [`metrics`], [`pricing_metrics`] or [`text_metrics`].
pub fn metric_doc(column: &str) -> Option<String> {
    let dists = [
        ("ttft_ms_", "time to first token, ms"),
        ("tpot_ms_", "time per output token after the first, ms"),
        (
            "itl_ms_",
            "inter-token latency (gap between consecutive output tokens), ms",
        ),
        ("e2e_ms_", "end-to-end latency, ms"),
        ("queue_ms_", "queueing delay from arrival to first being scheduled, ms"),
    ];
    for (prefix, what) in dists {
        if let Some(q) = column.strip_prefix(prefix) {
            let stat = match q {
                "mean" => "mean".to_string(),
                "p999" => "99.9th percentile".to_string(),
                _ => format!("{}th percentile", q.strip_prefix('p')?),
            };
            return Some(format!("{stat} of the {what}, over the run's completed requests"));
        }
    }
    let text = match column {
        "output_tok_s" => "output tokens per second over the run",
        "total_tok_s" => "input and output tokens per second over the run",
        "requests_s" => "completed requests per second over the run",
        "usd_per_mtok_output" => "$ per million output tokens at the on-demand price",
        "usd_per_mtok_total" => "$ per million tokens (input and output) at the on-demand price",
        "usd_per_hour" => "$ per hour of the fleet at the on-demand price",
        "usd_total" => "$ of the whole run at the on-demand price",
        "instances" => "instances of the fleet",
        "j_per_output_token" => "energy per output token, joules",
        "avg_power_w" => "average power of the fleet, watts",
        "requests_arrived" => "requests that arrived",
        "requests_completed" => "requests that completed",
        "requests_dropped" => "requests dropped (never served)",
        "requests_rejected" => "requests rejected at admission",
        "requests_unfinished" => "requests still in flight when the run ended (not in the percentiles)",
        "preemptions" => "preemptions over the run",
        "compute_s" => "seconds of step time bound by compute, summed over replicas",
        "memory_s" => "seconds of step time bound by memory bandwidth, summed over replicas",
        "communication_s" => "seconds of step time spent in communication, summed over replicas",
        "overhead_s" => {
            "seconds of step time spent in fixed overheads (launches, sampling, host), summed over replicas"
        }
        "busy_fraction" => {
            "fraction of the time the replicas were busy (autoscaled: of the time they were up, ready or draining)"
        }
        "sim_time_s" => "simulated seconds of the run",
        "usd_per_mtok_total_on_demand" => "$ per million tokens (input and output) at the on-demand price",
        "usd_per_mtok_total_reserved" => "$ per million tokens at the reserved price (empty: no such price)",
        "usd_per_mtok_total_spot" => "$ per million tokens at the spot price (empty: no such price)",
        "usd_per_mtok_total_own" => "$ per million tokens owning the servers (empty: no ownership figures)",
        "usd_per_hour_own" => "$ per hour owning the servers (empty: no ownership figures)",
        "usd_per_mtok_total_managed" => "$ per million tokens at the model's managed per-token price (empty: none)",
        "saturation" => {
            "stable, backlogged (a queue built up and drained) or overloaded (the queue grew without bound)"
        }
        _ => return None,
    };
    Some(text.to_string())
}

/// The descriptions of the columns of [`results_frame`], in its order.
pub fn results_docs(m: &Manifest) -> table::Docs {
    let mut d: table::Docs = vec![("run".into(), "the run's id (its folder under runs/)".into())];
    for axis in &m.axes {
        d.push((
            axis.key.clone(),
            format!("sweep axis: the value of `{}` in this run", axis.key),
        ));
    }
    for (c, t) in [
        ("status", "ok, or skipped (the scenario could not run; see skip_reason)"),
        ("skip_reason", "why the run was skipped (empty when it ran)"),
        ("seed", "the run's seed"),
        (
            "meets_slo",
            "whether the run met the sweep's first SLO (empty without an SLO or when skipped)",
        ),
        ("goodput_fraction", "fraction of requests that met their SLO"),
        ("goodput_requests_s", "requests per second that met their SLO"),
    ] {
        d.push((c.into(), t.into()));
    }
    let r = RunResult::default();
    let names = metrics(&r)
        .into_iter()
        .map(|(c, _)| c)
        .chain(pricing_metrics(&r).into_iter().map(|(c, _)| c))
        .chain(text_metrics(&r).into_iter().map(|(c, _)| c));
    for c in names {
        let text = metric_doc(&c).unwrap_or_default();
        d.push((c, text));
    }
    d
}

/// Count of records by status.
pub fn count(records: &[RunRecord], status: RunStatus) -> usize {
    records.iter().filter(|r| r.status == status).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every column of results.parquet has a description (axes, status and every metric), in the
    /// table's order, and the counts are integer columns; the file carries them all.
    #[test]
    fn every_results_column_is_described_and_counts_are_integers() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let sw = crate::sweep::load(&root.join("scenarios/sweep-flagship-70b.toml")).unwrap();
        let m = &sw.manifest;
        let mut df = results_frame(m, &[]).unwrap();
        let columns: Vec<String> = df.get_column_names().iter().map(|c| c.to_string()).collect();
        let docs = results_docs(m);
        let described: Vec<String> = docs.iter().map(|(c, _)| c.clone()).collect();
        assert_eq!(columns, described);
        for (c, t) in &docs {
            assert!(t.len() > 10, "{c}: `{t}`");
        }
        for c in [
            "instances",
            "requests_arrived",
            "requests_completed",
            "preemptions",
            "seed",
        ] {
            assert_eq!(df.column(c).unwrap().dtype(), &DataType::UInt64, "{c}");
        }
        assert_eq!(df.column("ttft_ms_p99").unwrap().dtype(), &DataType::Float64);
        let dir = std::env::temp_dir().join(format!("codesim-results-docs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("results.parquet");
        table::write_parquet(&mut df, &docs, &path).unwrap();
        assert_eq!(crate::metrics::table::tests::described(&path), docs);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn metric_docs_name_the_percentile() {
        assert_eq!(
            metric_doc("ttft_ms_p99").unwrap(),
            "99th percentile of the time to first token, ms, over the run's completed requests"
        );
        assert!(metric_doc("e2e_ms_p999").unwrap().starts_with("99.9th percentile"));
        assert_eq!(metric_doc("no_such_column"), None);
    }
}
