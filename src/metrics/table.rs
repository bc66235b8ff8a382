//! Tables: per-request rows to Parquet (and CSV), with polars.

use super::RequestRow;
use super::attribution::Part;
use crate::error::{Error, Result};
use polars::prelude::*;
use std::path::Path;

pub fn requests_frame(rows: &[RequestRow]) -> Result<DataFrame, PolarsError> {
    let col_u64 =
        |name: &str, f: &dyn Fn(&RequestRow) -> u64| Column::new(name.into(), rows.iter().map(f).collect::<Vec<_>>());
    let col_u32 =
        |name: &str, f: &dyn Fn(&RequestRow) -> u32| Column::new(name.into(), rows.iter().map(f).collect::<Vec<_>>());
    let col_f64 =
        |name: &str, f: &dyn Fn(&RequestRow) -> f64| Column::new(name.into(), rows.iter().map(f).collect::<Vec<_>>());
    let mut columns = vec![
        col_u64("id", &|r| r.id),
        col_u32("replica", &|r| r.replica),
        col_f64("arrival_s", &|r| r.arrival_s),
        col_u32("input_tokens", &|r| r.input_tokens),
        col_u32("output_tokens", &|r| r.output_tokens),
        col_f64("queue_ms", &|r| r.queue_ms),
        col_f64("ttft_ms", &|r| r.ttft_ms),
        col_f64("tpot_ms", &|r| r.tpot_ms),
        col_f64("e2e_ms", &|r| r.e2e_ms),
        col_u32("preemptions", &|r| r.preemptions),
        col_u32("class", &|r| r.class as u32),
        col_u64("ttft_ns", &|r| r.ttft_ns),
        col_u64("e2e_ns", &|r| r.e2e_ns),
    ];
    // The attribution: each part of the TTFT and of the E2E, in integer nanoseconds (they add
    // up exactly to `ttft_ns` and `e2e_ns`).
    for p in Part::ALL {
        columns.push(col_u64(&format!("ttft_{}_ns", p.name()), &|r| r.ttft_parts.get(p)));
    }
    for p in Part::ALL {
        columns.push(col_u64(&format!("e2e_{}_ns", p.name()), &|r| r.e2e_parts.get(p)));
    }
    DataFrame::new(rows.len(), columns)
}

/// Writes a frame as Parquet, atomically (temp file, then rename).
pub fn write_parquet(df: &mut DataFrame, path: &Path) -> Result<()> {
    crate::atomic::write_with(path, |file| {
        ParquetWriter::new(file).finish(df).map_err(|e| Error::Output {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        Ok(())
    })
}

/// Writes a frame as CSV, atomically.
pub fn write_csv(df: &mut DataFrame, path: &Path) -> Result<()> {
    crate::atomic::write_with(path, |file| {
        CsvWriter::new(file).finish(df).map_err(|e| Error::Output {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    })
}
