//! The CSV trace formats (Azure, BurstGPT, Vidur): columns found by header name, one request per
//! data row.

use super::clock::{Clock, parse_datetime, seconds_to_ns};
use super::number::{NumErr, count_from_str};
use super::{Ctx, Trace, TraceFormat, TraceRequest, snippet};
use crate::error::{Error, Result, did_you_mean};

#[derive(Debug, Clone, Copy, PartialEq)]
enum TimeKind {
    /// `YYYY-MM-DD HH:MM:SS[.fffffffff][Z|+HH:MM]`
    DateTime,
    /// Seconds as a decimal number.
    Seconds,
}

struct CsvLayout {
    format: TraceFormat,
    time: &'static str,
    input: &'static str,
    output: &'static str,
    time_kind: TimeKind,
    /// The header as published, for messages.
    header: &'static str,
    /// Whether an output of 0 marks a failed request to skip (BurstGPT) rather than an error.
    zero_output_skips: bool,
}

static LAYOUTS: [CsvLayout; 3] = [
    CsvLayout {
        format: TraceFormat::AzureCsv,
        time: "TIMESTAMP",
        input: "ContextTokens",
        output: "GeneratedTokens",
        time_kind: TimeKind::DateTime,
        header: "TIMESTAMP,ContextTokens,GeneratedTokens",
        zero_output_skips: false,
    },
    CsvLayout {
        format: TraceFormat::BurstgptCsv,
        time: "Timestamp",
        input: "Request tokens",
        output: "Response tokens",
        time_kind: TimeKind::Seconds,
        header: "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type",
        zero_output_skips: true,
    },
    CsvLayout {
        format: TraceFormat::VidurCsv,
        time: "arrived_at",
        input: "num_prefill_tokens",
        output: "num_decode_tokens",
        time_kind: TimeKind::Seconds,
        header: "arrived_at,num_prefill_tokens,num_decode_tokens",
        zero_output_skips: false,
    },
];

impl CsvLayout {
    /// The layout of a CSV format.
    fn of(format: TraceFormat) -> &'static CsvLayout {
        LAYOUTS
            .iter()
            .find(|l| l.format == format)
            .expect("every CSV format has a layout")
    }

    /// Indices of the time, input and output columns, or the first missing column name.
    fn find_columns(&self, header: &[&str]) -> Result<[usize; 3], &'static str> {
        let find = |name: &'static str| header.iter().position(|h| h.eq_ignore_ascii_case(name)).ok_or(name);
        Ok([find(self.time)?, find(self.input)?, find(self.output)?])
    }
}

/// The CSV format whose columns the header line `first` names, if any.
pub(super) fn format_named_by(first: &str) -> Option<TraceFormat> {
    let header: Vec<&str> = split_csv(first).map(clean_header).collect();
    LAYOUTS
        .iter()
        .find(|l| l.find_columns(&header).is_ok())
        .map(|l| l.format)
}

/// Fields of one CSV line. Double-quoted fields may contain commas; the quotes are kept in the
/// returned slice (trimmed by the callers that need it).
fn split_csv(line: &str) -> impl Iterator<Item = &str> {
    let bytes = line.as_bytes();
    let mut start = 0;
    let mut done = false;
    std::iter::from_fn(move || {
        if done {
            return None;
        }
        let mut in_quotes = false;
        let mut i = start;
        while i < bytes.len() {
            match bytes[i] {
                b'"' => in_quotes = !in_quotes,
                b',' if !in_quotes => break,
                _ => {}
            }
            i += 1;
        }
        let field = &line[start..i];
        if i >= bytes.len() {
            done = true;
        }
        start = i + 1;
        Some(field)
    })
}

fn clean_header(h: &str) -> &str {
    let h = h.trim();
    h.strip_prefix('"')
        .and_then(|h| h.strip_suffix('"'))
        .unwrap_or(h)
        .trim()
}

fn unquote(f: &str) -> &str {
    let f = f.trim();
    f.strip_prefix('"').and_then(|f| f.strip_suffix('"')).unwrap_or(f)
}

/// Read the data rows of a CSV trace in `format`, whose header is `header_line` (line
/// `header_no`).
pub(super) fn parse_csv<'a>(
    ctx: &Ctx<'a>,
    format: TraceFormat,
    header_no: usize,
    header_line: &'a str,
    lines: impl Iterator<Item = (usize, &'a str)>,
    capacity: usize,
) -> Result<Trace> {
    let layout = CsvLayout::of(format);
    let columns = Columns::find(ctx, layout, header_no, header_line)?;
    let mut requests = Vec::with_capacity(capacity);
    let mut skipped_rows = 0;
    let mut clock = Clock::new();
    let mut prev_raw_time = "";
    for (no, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let fields = columns.fields(ctx, no, line)?;
        let t = layout.row_time(ctx, no, fields.time)?;
        clock.check_order(ctx, no, t, |v| {
            if v == t {
                format!("`{}`", fields.time)
            } else {
                format!("`{prev_raw_time}`")
            }
        })?;
        prev_raw_time = fields.time;
        let Some((input, output)) = layout.row_tokens(ctx, no, &fields)? else {
            skipped_rows += 1;
            continue;
        };
        let max_tokens = row_max_tokens(ctx, no, &fields, output, layout.output)?;
        let predicted_output = row_predicted_output(ctx, no, &fields)?;
        requests.push(TraceRequest {
            arrival_ns: clock.arrival(ctx, no, t)?,
            input_tokens: input,
            output_tokens: output,
            hash_ids: Vec::new(),
            max_tokens,
            predicted_output,
        });
    }
    if requests.is_empty() {
        let why = if skipped_rows > 0 {
            format!(
                "all {skipped_rows} rows have `{}` == 0, which marks failed requests",
                layout.output
            )
        } else {
            format!("the file has a header (line {header_no}) but no data rows")
        };
        return Err(Error::input(ctx.file, "", format!("trace has no requests: {why}")));
    }
    Ok(Trace {
        requests,
        format: layout.format,
        block_tokens: None,
        skipped_rows,
    })
}

/// Where a CSV trace keeps the columns it is read from, found once from its header line.
struct Columns<'a> {
    /// Every column name of the header, unquoted.
    names: Vec<&'a str>,
    /// The header's line number.
    header_no: usize,
    time: usize,
    input: usize,
    output: usize,
    /// The optional `max_tokens` column.
    max_tokens: Option<usize>,
    /// The optional `predicted_output` column.
    predicted: Option<usize>,
}

/// The time, input, output and `max_tokens` fields of one data row, unquoted (`max_tokens`
/// empty when the trace has no such column).
struct Fields<'a> {
    time: &'a str,
    input: &'a str,
    output: &'a str,
    max_tokens: &'a str,
    predicted: &'a str,
}

/// The optional column of a CSV trace that carries the client's `max_tokens`.
const MAX_TOKENS_COLUMN: &str = "max_tokens";

/// The optional column of a CSV trace that carries a predicted output length.
const PREDICTED_COLUMN: &str = "predicted_output";

/// The predicted output of line `no`: none when the column is absent or the field empty; else a
/// whole number of tokens (any: a prediction may be wrong).
fn row_predicted_output(ctx: &Ctx, no: usize, fields: &Fields) -> Result<Option<u32>> {
    if fields.predicted.is_empty() {
        return Ok(None);
    }
    let p = count_from_str(fields.predicted).map_err(|e| {
        column_error(
            ctx,
            no,
            PREDICTED_COLUMN,
            e,
            fields.predicted,
            "a whole number of tokens, or an empty field",
        )
    })?;
    Ok(Some(p))
}

/// The `max_tokens` of line `no`: none when the column is absent or the field empty; else a
/// whole number >= 1 and >= the row's `output` tokens (a measured request never generates more
/// than its client allowed).
fn row_max_tokens(ctx: &Ctx, no: usize, fields: &Fields, output: u32, output_column: &str) -> Result<Option<u32>> {
    if fields.max_tokens.is_empty() {
        return Ok(None);
    }
    let m = count_from_str(fields.max_tokens).map_err(|e| {
        column_error(
            ctx,
            no,
            MAX_TOKENS_COLUMN,
            e,
            fields.max_tokens,
            "a whole number of tokens >= the row's output tokens, or an empty field",
        )
    })?;
    if m < output {
        return Err(ctx.err(
            no,
            format!(
                "column `{MAX_TOKENS_COLUMN}` is {m}, below the {output} tokens of column `{output_column}`; \
                 a request never generates more than its max_tokens (accepted: >= {output}, or an empty field)"
            ),
        ));
    }
    Ok(Some(m))
}

impl<'a> Columns<'a> {
    fn find(ctx: &Ctx, layout: &CsvLayout, header_no: usize, header_line: &'a str) -> Result<Self> {
        let names: Vec<&str> = split_csv(header_line).map(clean_header).collect();
        let [time, input, output] = layout.find_columns(&names).map_err(|missing| {
            let jsonl = if header_line.trim_start().starts_with('{') {
                " (the file looks like JSONL: use format `mooncake-jsonl` or `auto`)"
            } else {
                ""
            };
            ctx.err(
                header_no,
                format!(
                    "header `{}` has no column `{missing}`{}, which format `{}` needs{jsonl}; expected a \
                     header like `{}` (columns in any order, extra columns allowed)",
                    snippet(header_line),
                    did_you_mean(missing, names.iter().copied()),
                    layout.format,
                    layout.header
                ),
            )
        })?;
        let max_tokens = names.iter().position(|h| h.eq_ignore_ascii_case(MAX_TOKENS_COLUMN));
        let predicted = names.iter().position(|h| h.eq_ignore_ascii_case(PREDICTED_COLUMN));
        Ok(Columns {
            names,
            header_no,
            time,
            input,
            output,
            max_tokens,
            predicted,
        })
    }

    /// The fields of data row `line` (line `no`), which must have one value per header column.
    fn fields(&self, ctx: &Ctx, no: usize, line: &'a str) -> Result<Fields<'a>> {
        let (mut time, mut input, mut output, mut max_tokens, mut predicted) = ("", "", "", "", "");
        let mut count = 0;
        for (k, f) in split_csv(line).enumerate() {
            if k == self.time {
                time = f;
            } else if k == self.input {
                input = f;
            } else if k == self.output {
                output = f;
            } else if Some(k) == self.max_tokens {
                max_tokens = f;
            } else if Some(k) == self.predicted {
                predicted = f;
            }
            count = k + 1;
        }
        let ncols = self.names.len();
        if count != ncols {
            let trunc = if count < ncols && ctx.looks_truncated(line) {
                " (it is the last line and the file does not end with a newline: it looks truncated)"
            } else {
                ""
            };
            return Err(ctx.err(
                no,
                format!(
                    "the row has {count} columns but the header (line {}) has {ncols}{trunc}; every \
                     row needs one value per header column: `{}`",
                    self.header_no,
                    self.names.join(",")
                ),
            ));
        }
        Ok(Fields {
            time: unquote(time),
            input: unquote(input),
            output: unquote(output),
            max_tokens: unquote(max_tokens),
            predicted: unquote(predicted),
        })
    }
}

impl CsvLayout {
    /// The timestamp of line `no` in nanoseconds, from its time field `raw`.
    fn row_time(&self, ctx: &Ctx, no: usize, raw: &str) -> Result<i128> {
        match self.time_kind {
            TimeKind::DateTime => parse_datetime(raw).map_err(|why| {
                ctx.err(
                    no,
                    format!(
                        "column `{}` is `{}`: {why}; expected a date-time like `2023-11-16 \
                         18:15:46.6805900` (0-9 fractional digits, optional `Z` or `+HH:MM` offset)",
                        self.time,
                        snippet(raw)
                    ),
                )
            }),
            TimeKind::Seconds => seconds_to_ns(raw)
                .map_err(|e| column_error(ctx, no, self.time, e, raw, "a time in seconds, a finite number >= 0")),
        }
    }

    /// The input and output tokens of line `no`, or `None` when its output of 0 marks a failed
    /// request this format skips. The output is checked first, so a skipped row's input is not
    /// read.
    fn row_tokens(&self, ctx: &Ctx, no: usize, fields: &Fields) -> Result<Option<(u32, u32)>> {
        let output = count_from_str(fields.output).map_err(|e| {
            column_error(
                ctx,
                no,
                self.output,
                e,
                fields.output,
                "a whole number of output tokens >= 1",
            )
        })?;
        if output == 0 {
            if self.zero_output_skips {
                return Ok(None);
            }
            return Err(ctx.err(
                no,
                format!(
                    "column `{}` is 0; output tokens must be >= 1 (every request generates at least \
                     one token)",
                    self.output
                ),
            ));
        }
        let input = count_from_str(fields.input).map_err(|e| {
            column_error(
                ctx,
                no,
                self.input,
                e,
                fields.input,
                "a whole number of input tokens >= 1",
            )
        })?;
        if input == 0 {
            return Err(ctx.err(no, format!("column `{}` is 0; input tokens must be >= 1", self.input)));
        }
        Ok(Some((input, output)))
    }
}

/// Column `column` of line `line` holds `raw`, which is not the number it should be.
fn column_error(ctx: &Ctx, line: usize, column: &str, e: NumErr, raw: &str, accepted: &str) -> Error {
    ctx.err(
        line,
        format!("column `{column}` {}; expected {accepted}", e.describe(raw)),
    )
}

#[cfg(test)]
mod tests {
    use super::super::testing::{assert_has, assert_rejects, fail, parse};
    use super::*;

    #[test]
    fn rejects_a_header_without_requests() {
        assert_rejects(&[
            (
                "TIMESTAMP,ContextTokens,GeneratedTokens\r\n",
                &["trace has no requests", "header (line 1)", "no data rows"],
            ),
            (
                "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n1,M,3,0,3,API log\n",
                &["trace has no requests", "all 1 rows", "Response tokens"],
            ),
        ]);
    }

    /// The optional `max_tokens` column: read when present (an empty field is none), refused
    /// when below the row's output (a request never outgrows its client's limit) or not a count.
    #[test]
    fn an_optional_max_tokens_column_is_read_and_checked() {
        let t = parse("arrived_at,num_prefill_tokens,num_decode_tokens,MAX_TOKENS\n0,10,5,64\n1,10,7,\n").unwrap();
        let m: Vec<Option<u32>> = t.requests.iter().map(|r| r.max_tokens).collect();
        assert_eq!(m, [Some(64), None]);
        let t = parse("arrived_at,num_prefill_tokens,num_decode_tokens\n0,10,5\n").unwrap();
        assert_eq!(t.requests[0].max_tokens, None);
        let e = fail(
            b"arrived_at,num_prefill_tokens,num_decode_tokens,max_tokens\n0,10,5,64\n1,10,70,64\n",
            TraceFormat::Auto,
        );
        assert_has(
            &e,
            &["line 3", "`max_tokens` is 64", "below the 70", "num_decode_tokens"],
        );
        let e = fail(
            b"arrived_at,num_prefill_tokens,num_decode_tokens,max_tokens\n0,10,5,lots\n",
            TraceFormat::Auto,
        );
        assert_has(&e, &["line 2", "column `max_tokens`", "lots"]);
    }

    /// The optional `predicted_output` column: read when present (an empty field is none; a
    /// prediction may be anything, even above the true output), refused when not a number.
    #[test]
    fn an_optional_predicted_output_column_is_read_and_checked() {
        let t = parse("arrived_at,num_prefill_tokens,num_decode_tokens,predicted_output,max_tokens\n0,10,5,300,64\n1,10,7,,\n2,10,7,0,\n").unwrap();
        let p: Vec<Option<u32>> = t.requests.iter().map(|r| r.predicted_output).collect();
        assert_eq!(p, [Some(300), None, Some(0)]);
        assert_eq!(t.requests[0].max_tokens, Some(64));
        let e = fail(
            b"arrived_at,num_prefill_tokens,num_decode_tokens,predicted_output\n0,10,5,soon\n",
            TraceFormat::Auto,
        );
        assert_has(&e, &["line 2", "column `predicted_output`", "soon"]);
    }

    #[test]
    fn rejects_wrong_column_count() {
        let e = fail(
            b"arrived_at,num_prefill_tokens,num_decode_tokens\n0,1,1\n1,2\n2,3,3\n",
            TraceFormat::Auto,
        );
        assert_has(&e, &["line 3", "has 2 columns", "header (line 1) has 3"]);
        assert!(!e.contains("truncated"));
        let e = fail(
            b"arrived_at,num_prefill_tokens,num_decode_tokens\n0,1,1,9\n",
            TraceFormat::Auto,
        );
        assert_has(&e, &["line 2", "has 4 columns"]);
    }

    #[test]
    fn reports_truncated_last_line() {
        assert_rejects(&[(
            "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46,1,2\n2023-11-16 18:15",
            &["line 3", "truncated"],
        )]);
    }

    #[test]
    fn rejects_unparsable_numbers_showing_the_value() {
        assert_rejects(&[
            (
                "arrived_at,num_prefill_tokens,num_decode_tokens\n0,12x,1\n",
                &["line 2", "`num_prefill_tokens`", "`12x`", "not a number"],
            ),
            (
                "arrived_at,num_prefill_tokens,num_decode_tokens\nsoon,1,1\n",
                &["line 2", "`arrived_at`", "`soon`", "seconds"],
            ),
            (
                "arrived_at,num_prefill_tokens,num_decode_tokens\n0,1.5,1\n",
                &["line 2", "`1.5`", "whole number"],
            ),
            (
                "arrived_at,num_prefill_tokens,num_decode_tokens\n0,1,\n",
                &["line 2", "`num_decode_tokens` is empty"],
            ),
            (
                "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-13-16 18:15:46,1,1\n",
                &["line 2", "`2023-13-16 18:15:46`", "month out of range"],
            ),
            (
                "arrived_at,num_prefill_tokens,num_decode_tokens\n0,99999999999,1\n",
                &["line 2", "too large"],
            ),
        ]);
    }

    #[test]
    fn rejects_zero_or_negative_tokens() {
        assert_rejects(&[
            (
                "arrived_at,num_prefill_tokens,num_decode_tokens\n0,0,1\n",
                &["line 2", "`num_prefill_tokens` is 0", "input tokens must be >= 1"],
            ),
            (
                "arrived_at,num_prefill_tokens,num_decode_tokens\n0,-3,1\n",
                &["line 2", "`-3`", "negative"],
            ),
            (
                "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46,3,-1\n",
                &["line 2", "`GeneratedTokens`", "`-1`", "negative"],
            ),
            (
                "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46,3,0\n",
                &["line 2", "`GeneratedTokens` is 0", "output tokens must be >= 1"],
            ),
        ]);
    }

    #[test]
    fn rejects_nan_and_infinity() {
        assert_rejects(&[
            (
                "arrived_at,num_prefill_tokens,num_decode_tokens\nNaN,1,1\n",
                &["line 2", "`NaN`", "not a finite number"],
            ),
            (
                "arrived_at,num_prefill_tokens,num_decode_tokens\n0,1,1\n1,inf,1\n",
                &["line 3", "`inf`", "not a finite number"],
            ),
        ]);
    }

    #[test]
    fn rejects_timestamps_that_go_backwards() {
        assert_rejects(&[(
            "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.5,1,1\n\
             2023-11-16 18:15:46.4,1,1\n",
            &[
                "line 3",
                "`2023-11-16 18:15:46.4`",
                "`2023-11-16 18:15:46.5`",
                "line 2",
                "sort",
            ],
        )]);
        // Equal timestamps are fine.
        parse("arrived_at,num_prefill_tokens,num_decode_tokens\n1,1,1\n1,1,1\n").unwrap();
    }
}
