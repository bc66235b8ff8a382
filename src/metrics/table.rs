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

/// Writes a frame as Parquet, atomically (temp file, then rename). Columns are written at
/// polars' oldest Arrow compatibility level: plain `large_string` columns, not the string views
/// (Arrow type 24) that polars' own `ParquetWriter` always writes and that pyarrow before 15,
/// DuckDB's older readers and Spark cannot read. The footer carries the Arrow schema, so readers
/// restore the exact column types (unsigned counts stay unsigned integers).
pub fn write_parquet(df: &mut DataFrame, path: &Path) -> Result<()> {
    let fail = |e: PolarsError| Error::Output {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    crate::atomic::write_with(path, |file| write_compat(df, file).map_err(fail))
}

fn write_compat(df: &mut DataFrame, file: &mut std::fs::File) -> Result<(), PolarsError> {
    use polars_parquet::write::{
        CompressionOptions, FileWriter, StatisticsOptions, Version, WriteOptions, get_dtype_encoding, row_group_iter,
    };
    df.rechunk_mut();
    let level = CompatLevel::oldest();
    let schema = df.schema().to_arrow(level);
    let options = WriteOptions {
        statistics: StatisticsOptions::default(),
        version: Version::V1,
        compression: CompressionOptions::Zstd(None),
        data_page_size: None,
    };
    let encodings: Vec<_> = schema.iter_values().map(|f| get_dtype_encoding(&f.dtype)).collect();
    let mut writer = FileWriter::try_new(file, schema, options)?;
    let fields = writer.parquet_schema().fields().to_vec();
    for chunk in df.iter_chunks(level, false) {
        let rows = chunk.len() as u64;
        let group = row_group_iter(chunk, encodings.clone().into(), fields.clone(), options);
        writer.write(rows, group)?;
    }
    writer.end(None)?;
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    /// What an Arrow reader sees in the file: the footer's Arrow schema holds plain
    /// `large_string` columns (type 20), never string views (type 24, unreadable by pyarrow < 15),
    /// counts keep their unsigned integer types, and polars reads the same frame back.
    #[test]
    fn parquet_holds_plain_strings_and_reads_back_identically() {
        let mut df = DataFrame::new(
            3,
            vec![
                Column::new("run".into(), ["r0", "r1", "r2"]),
                Column::new("requests".into(), [10u32, 20, 30]),
                Column::new("ttft_ms".into(), [1.5f64, 2.5, f64::NAN]),
            ],
        )
        .unwrap();
        let dir = std::env::temp_dir().join(format!("codesim-parquet-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.parquet");
        write_parquet(&mut df, &path).unwrap();
        let types = footer_arrow_types(&path);
        assert_eq!(types, ["LargeUtf8", "UInt32", "Float64"], "{types:?}");
        let back = ParquetReader::new(std::fs::File::open(&path).unwrap())
            .finish()
            .unwrap();
        assert!(back.equals_missing(&df), "{back:?} != {df:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// The column types of the Arrow schema stored in a Parquet footer (`ARROW:schema`: base64 of
    /// an IPC schema message), as written: what pyarrow reads, before polars' own reader
    /// converts strings to views.
    fn footer_arrow_types(path: &Path) -> Vec<String> {
        use base64::Engine;
        let mut f = std::fs::File::open(path).unwrap();
        let meta = polars_parquet::read::read_metadata(&mut f).unwrap();
        let kv = meta.key_value_metadata().as_ref().expect("key-value metadata");
        let encoded = kv
            .iter()
            .find(|k| k.key == "ARROW:schema")
            .and_then(|k| k.value.clone())
            .unwrap();
        let bytes = base64::engine::general_purpose::STANDARD.decode(encoded).unwrap();
        // An IPC message may start with the continuation marker and its length.
        let message = if bytes[..4] == [255; 4] {
            &bytes[8..]
        } else {
            &bytes[..]
        };
        let (schema, _, _) = polars_arrow::io::ipc::read::deserialize_schema(message).unwrap();
        schema.iter_values().map(|f| format!("{:?}", f.dtype)).collect()
    }
}
