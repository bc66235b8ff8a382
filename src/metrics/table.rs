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
    // The `encode` part only when an encode pool ran (a run without one writes the same table).
    let encoded = rows.iter().any(|r| r.e2e_parts.get(Part::Encode) > 0);
    let parts: Vec<Part> = Part::ALL
        .into_iter()
        .filter(|&p| p != Part::Encode || encoded)
        .collect();
    for &p in &parts {
        columns.push(col_u64(&format!("ttft_{}_ns", p.name()), &|r| r.ttft_parts.get(p)));
    }
    for &p in &parts {
        columns.push(col_u64(&format!("e2e_{}_ns", p.name()), &|r| r.e2e_parts.get(p)));
    }
    DataFrame::new(rows.len(), columns)
}

/// A description per column, in column order: (column, description). They go into a Parquet
/// file's metadata twice: as each Arrow field's `description` metadata (pyarrow's
/// `schema.field(name).metadata`) and as the file's key-value pair `description:<column>`
/// (`pyarrow.parquet.read_metadata(f).metadata`, DuckDB's `parquet_kv_metadata`).
pub type Docs = Vec<(String, String)>;

/// The key of a column's description in a Parquet file's key-value metadata.
pub fn doc_key(column: &str) -> String {
    format!("description:{column}")
}

/// The descriptions of the columns of [`requests_frame`], in its order.
pub fn requests_docs() -> Docs {
    let mut d: Docs = [
        ("id", "the request's number, in order of arrival (0-based)"),
        ("replica", "index of the replica that completed it"),
        ("arrival_s", "arrival time, seconds of simulated time from the start of the run"),
        ("input_tokens", "prompt length, tokens"),
        ("output_tokens", "output tokens generated"),
        ("queue_ms", "time from arrival to first being scheduled into a step, ms"),
        ("ttft_ms", "time to first token from arrival, ms"),
        (
            "tpot_ms",
            "time per output token after the first: (completion - first token) / (output tokens - 1), ms; NaN for a one-token request",
        ),
        ("e2e_ms", "end-to-end latency from arrival to completion, ms"),
        ("preemptions", "times the request was preempted"),
        ("class", "index of its request class (workload.classes, in file order; 0 without classes)"),
        ("ttft_ns", "time to first token, integer ns (the ttft_<part>_ns columns add up to it)"),
        ("e2e_ns", "end-to-end latency, integer ns (the e2e_<part>_ns columns add up to it)"),
    ]
    .iter()
    .map(|(c, t)| (c.to_string(), t.to_string()))
    .collect();
    for p in Part::ALL {
        d.push((
            format!("ttft_{}_ns", p.name()),
            format!("part of the TTFT, integer ns: {}", p.describe()),
        ));
    }
    for p in Part::ALL {
        d.push((
            format!("e2e_{}_ns", p.name()),
            format!("part of the end-to-end latency, integer ns: {}", p.describe()),
        ));
    }
    d
}

/// The frame's Arrow schema at the oldest compatibility level (plain `large_string`, no string
/// views), each field carrying its description from `docs` as `description` metadata.
pub fn arrow_schema(df: &DataFrame, docs: &Docs) -> ArrowSchema {
    df.schema()
        .to_arrow(CompatLevel::oldest())
        .into_iter()
        .map(|(name, field)| {
            let field = match docs.iter().find(|(c, _)| *c == name.as_str()) {
                Some((_, text)) => field
                    .with_metadata([(PlSmallStr::from_static("description"), PlSmallStr::from(text.as_str()))].into()),
                None => field,
            };
            (name, field)
        })
        .collect()
}

/// Writes a frame as Parquet, atomically (temp file, then rename), with its column descriptions
/// (`docs`) in the metadata. Columns are written at polars' oldest Arrow compatibility level:
/// plain `large_string` columns, not the string views (Arrow type 24) that polars' own
/// `ParquetWriter` always writes and that pyarrow before 15, DuckDB's older readers and Spark
/// cannot read. The footer carries the Arrow schema, so readers restore the exact column types
/// (unsigned counts stay unsigned integers).
pub fn write_parquet(df: &mut DataFrame, docs: &Docs, path: &Path) -> Result<()> {
    let fail = |e: PolarsError| Error::Output {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    crate::atomic::write_with(path, |file| write_compat(df, docs, file).map_err(fail))
}

fn write_compat(df: &mut DataFrame, docs: &Docs, file: &mut std::fs::File) -> Result<(), PolarsError> {
    use polars_parquet::write::{
        CompressionOptions, FileWriter, KeyValue, StatisticsOptions, Version, WriteOptions, get_dtype_encoding,
        row_group_iter, schema_to_metadata_key,
    };
    df.rechunk_mut();
    let level = CompatLevel::oldest();
    let schema = arrow_schema(df, docs);
    let options = WriteOptions {
        statistics: StatisticsOptions::default(),
        version: Version::V1,
        compression: CompressionOptions::Zstd(None),
        data_page_size: None,
    };
    let encodings: Vec<_> = schema.iter_values().map(|f| get_dtype_encoding(&f.dtype)).collect();
    let mut metadata = vec![schema_to_metadata_key(&schema)];
    for name in df.get_column_names() {
        if let Some((_, text)) = docs.iter().find(|(c, _)| c == name.as_str()) {
            metadata.push(KeyValue {
                key: doc_key(name),
                value: Some(text.clone()),
            });
        }
    }
    let mut writer = FileWriter::try_new(file, schema, options)?;
    let fields = writer.parquet_schema().fields().to_vec();
    for chunk in df.iter_chunks(level, false) {
        let rows = chunk.len() as u64;
        let group = row_group_iter(chunk, encodings.clone().into(), fields.clone(), options);
        writer.write(rows, group)?;
    }
    writer.end(Some(metadata))?;
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
pub(crate) mod tests {
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
        let docs: Docs = ["run", "requests", "ttft_ms"]
            .iter()
            .map(|c| (c.to_string(), format!("what {c} holds")))
            .collect();
        write_parquet(&mut df, &docs, &path).unwrap();
        let types = footer_arrow_types(&path);
        assert_eq!(types, ["LargeUtf8", "UInt32", "Float64"], "{types:?}");
        assert_eq!(described(&path), docs);
        let back = ParquetReader::new(std::fs::File::open(&path).unwrap())
            .finish()
            .unwrap();
        assert!(back.equals_missing(&df), "{back:?} != {df:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Every column of requests.parquet has its description, and no description names a column
    /// the table lacks (the `encode` part's only when a row has one).
    #[test]
    fn every_requests_column_is_described() {
        let docs = requests_docs();
        let described: Vec<String> = docs.iter().map(|(c, _)| c.clone()).collect();
        let columns = |rows: &[RequestRow]| -> Vec<String> {
            let df = requests_frame(rows).unwrap();
            df.get_column_names().iter().map(|c| c.to_string()).collect()
        };
        let without: Vec<String> = described.iter().filter(|c| !c.contains("_encode_")).cloned().collect();
        assert_eq!(columns(&[]), without);
        let mut row = RequestRow {
            id: 0,
            replica: 0,
            arrival_s: 0.0,
            input_tokens: 1,
            output_tokens: 1,
            queue_ms: 0.0,
            ttft_ms: 0.0,
            tpot_ms: 0.0,
            e2e_ms: 0.0,
            preemptions: 0,
            class: 0,
            ttft_ns: 1,
            e2e_ns: 1,
            ttft_parts: Default::default(),
            e2e_parts: Default::default(),
        };
        row.e2e_parts.add(Part::Encode, 1);
        assert_eq!(columns(&[row]), described);
        assert!(docs.iter().all(|(_, t)| t.len() > 10), "{docs:?}");
    }

    /// The descriptions of a Parquet file as a reader finds them, in column order: the file's
    /// `description:<column>` key-value pairs, each checked against the same text in its Arrow
    /// field's metadata.
    pub fn described(path: &Path) -> Docs {
        let mut f = std::fs::File::open(path).unwrap();
        let meta = polars_parquet::read::read_metadata(&mut f).unwrap();
        let kv = meta.key_value_metadata().as_ref().expect("key-value metadata");
        let fields = footer_fields(path);
        fields
            .iter()
            .map(|field| {
                let key = doc_key(&field.name);
                let text = kv
                    .iter()
                    .find(|k| k.key == key)
                    .and_then(|k| k.value.clone())
                    .unwrap_or_else(|| panic!("no {key} in the file's metadata"));
                let meta = field.metadata.as_ref().expect("field metadata");
                assert_eq!(meta.get("description").map(|s| s.as_str()), Some(text.as_str()));
                (field.name.to_string(), text)
            })
            .collect()
    }

    /// The column types of the Arrow schema stored in a Parquet footer (`ARROW:schema`: base64 of
    /// an IPC schema message), as written: what pyarrow reads, before polars' own reader
    /// converts strings to views.
    fn footer_arrow_types(path: &Path) -> Vec<String> {
        footer_fields(path).iter().map(|f| format!("{:?}", f.dtype)).collect()
    }

    /// The fields of the Arrow schema stored in a Parquet footer.
    pub fn footer_fields(path: &Path) -> Vec<polars_arrow::datatypes::Field> {
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
        schema.iter_values().cloned().collect()
    }
}
