//! Readers for public request traces of production LLM traffic.
//!
//! Four formats are accepted, each detected from the first non-blank line when the format is
//! [`TraceFormat::Auto`]:
//!
//! - Azure LLM inference 2023 and 2024: `TIMESTAMP,ContextTokens,GeneratedTokens`, timestamps like
//!   `2023-11-16 18:15:46.6805900` or `2024-05-10 00:00:00.009930+00:00` (converted exactly).
//! - Mooncake JSONL: `{"timestamp": ms, "input_length": n, "output_length": n, "hash_ids": [..]}`
//!   per line, one hash id per 512-token prompt block.
//! - BurstGPT: `Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type`, seconds.
//! - Vidur processed CSV: `arrived_at,num_prefill_tokens,num_decode_tokens`, seconds.
//!
//! CSV columns are found by header name (case-insensitive), so their order does not matter and
//! extra columns are ignored. Rows must be in arrival order; arrivals are returned relative to the
//! first request, so `requests[0].arrival_ns == 0`. Every problem is reported as an
//! [`Error::Input`] naming the file, the 1-based `line N`, what was wrong and what is accepted.

use std::fmt;
use std::path::Path;

use crate::error::{Error, Result, did_you_mean};

/// Which trace format to read. `Auto` looks at the first non-blank line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TraceFormat {
    #[default]
    Auto,
    AzureCsv,
    MooncakeJsonl,
    BurstgptCsv,
    VidurCsv,
}

impl TraceFormat {
    /// The name used in scenarios and messages (`azure-csv`, ...).
    pub fn name(self) -> &'static str {
        match self {
            TraceFormat::Auto => "auto",
            TraceFormat::AzureCsv => "azure-csv",
            TraceFormat::MooncakeJsonl => "mooncake-jsonl",
            TraceFormat::BurstgptCsv => "burstgpt-csv",
            TraceFormat::VidurCsv => "vidur-csv",
        }
    }
}

impl fmt::Display for TraceFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One request of a trace.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceRequest {
    /// Arrival time relative to the first request of the trace.
    pub arrival_ns: u64,
    /// Prompt length, >= 1.
    pub input_tokens: u32,
    /// Generated length, >= 1.
    pub output_tokens: u32,
    /// Mooncake: one id per `block_tokens`-token block of the prompt; equal ids mean equal prefix
    /// blocks. Empty when the format has none.
    pub hash_ids: Vec<u64>,
}

/// A whole trace, in arrival order.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    pub requests: Vec<TraceRequest>,
    /// The format actually read (never `Auto`).
    pub format: TraceFormat,
    /// Tokens per hash block: `Some(512)` for Mooncake, `None` for formats without hash ids.
    pub block_tokens: Option<u32>,
    /// Data rows read but not turned into requests. Only BurstGPT skips rows: it marks failed
    /// requests with `Response tokens` == 0, and those rows are dropped and counted here. Always 0
    /// for the other formats, where an output of 0 is an error.
    pub skipped_rows: usize,
}

impl Trace {
    /// Time from the first to the last arrival, in seconds.
    pub fn span_s(&self) -> f64 {
        self.requests.last().map_or(0.0, |r| r.arrival_ns as f64 * 1e-9)
    }

    /// Mean arrival rate as `(requests - 1) / span`: the number of inter-arrival gaps over the
    /// time they cover (the Azure conversation trace gives 5.53 req/s; `requests / span` agrees
    /// to three digits on every bundled trace). 0 when the span is 0.
    pub fn mean_rate_per_s(&self) -> f64 {
        let span = self.span_s();
        if span > 0.0 {
            (self.requests.len() - 1) as f64 / span
        } else {
            0.0
        }
    }
}

/// Tokens per hash block in Mooncake traces.
pub const MOONCAKE_BLOCK_TOKENS: u32 = 512;

/// Read and parse a trace file.
pub fn read_trace(path: &Path, format: TraceFormat) -> Result<Trace> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => {
            return Err(Error::input(
                path,
                "",
                "is a directory, not a trace file; give the path of a trace file (Azure CSV, \
                 Mooncake JSONL, BurstGPT CSV or Vidur CSV)",
            ));
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::input(
                path,
                "",
                "trace file not found; check the path (a relative path is taken from the current \
                 directory)",
            ));
        }
        Err(e) => return Err(Error::io(path, e)),
    }
    let bytes = crate::input::read_bytes(path)?;
    parse_trace(&bytes, &path.display().to_string(), format)
}

/// Parse a trace from bytes; `file_label` names it in error messages.
pub fn parse_trace(text_bytes: &[u8], file_label: &str, format: TraceFormat) -> Result<Trace> {
    let text = match std::str::from_utf8(text_bytes) {
        Ok(t) => t,
        Err(e) => return Err(utf8_error(text_bytes, file_label, e.valid_up_to())),
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text
        .split('\n')
        .enumerate()
        .map(|(i, l)| (i + 1, l.strip_suffix('\r').unwrap_or(l)));
    let Some((first_no, first)) = lines.find(|(_, l)| !l.trim().is_empty()) else {
        return Err(Error::input(
            file_label,
            "",
            "trace has no requests: the file is empty; expected a CSV file with a header line \
             (Azure, BurstGPT, Vidur) or one JSON object per line (Mooncake)",
        ));
    };
    let capacity = text_bytes.iter().filter(|&&b| b == b'\n').count() + 1;
    let ctx = Ctx { file: file_label, text };
    let format = match format {
        TraceFormat::Auto if first.trim_start().starts_with('{') => TraceFormat::MooncakeJsonl,
        TraceFormat::Auto => {
            let header: Vec<&str> = split_csv(first).map(clean_header).collect();
            match LAYOUTS.iter().find(|l| l.find_columns(&header).is_ok()) {
                Some(l) => l.format,
                None => return Err(ctx.err(first_no, unknown_header_message(first))),
            }
        }
        f => f,
    };
    if format == TraceFormat::MooncakeJsonl {
        return parse_mooncake(&ctx, std::iter::once((first_no, first)).chain(lines), capacity);
    }
    let layout = LAYOUTS
        .iter()
        .find(|l| l.format == format)
        .expect("every CSV format has a layout");
    parse_csv(&ctx, layout, first_no, first, lines, capacity)
}

// ---------------------------------------------------------------------------------------------
// Shared helpers

struct Ctx<'a> {
    file: &'a str,
    text: &'a str,
}

impl Ctx<'_> {
    fn err(&self, line: usize, message: impl Into<String>) -> Error {
        Error::input(self.file, format!("line {line}"), message)
    }

    /// Whether `line` (a slice of `self.text`) is the last non-blank line and the file does not
    /// end with a newline: the signature of a file cut off while being written or downloaded.
    fn looks_truncated(&self, line: &str) -> bool {
        let end = line.as_ptr() as usize - self.text.as_ptr() as usize + line.len();
        let rest = &self.text[end..];
        rest.trim().is_empty() && !rest.contains('\n')
    }
}

fn utf8_error(bytes: &[u8], file: &str, valid_up_to: usize) -> Error {
    let line = bytes[..valid_up_to].iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = bytes[..valid_up_to]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |p| p + 1);
    let hint = if bytes.starts_with(&[0x1f, 0x8b]) {
        " (this looks like a gzip file: decompress it first)"
    } else if bytes.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        " (this looks like a zstd file: decompress it first)"
    } else if bytes.starts_with(&[0xff, 0xfe]) || bytes.starts_with(&[0xfe, 0xff]) {
        " (this looks like UTF-16 text: save it as UTF-8)"
    } else {
        ""
    };
    Error::input(
        file,
        format!("line {line}"),
        format!(
            "not valid UTF-8 (byte 0x{:02x} at column {}); a trace must be UTF-8 text{hint}",
            bytes[valid_up_to],
            valid_up_to - line_start + 1
        ),
    )
}

/// `s` shortened to at most 60 characters, for quoting user input in messages.
fn snippet(s: &str) -> String {
    let s = s.trim();
    match s.char_indices().nth(60) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// Why a field is not a usable number.
#[derive(Debug, Clone, Copy, PartialEq)]
enum NumErr {
    Empty,
    NotNumber,
    NotFinite,
    Negative,
    Fraction,
    TooLarge,
}

impl NumErr {
    fn describe(self, raw: &str) -> String {
        let raw = snippet(raw);
        match self {
            NumErr::Empty => "is empty".to_string(),
            NumErr::NotNumber => format!("is `{raw}`, which is not a number"),
            NumErr::NotFinite => format!("is `{raw}`, which is not a finite number"),
            NumErr::Negative => format!("is `{raw}`, which is negative"),
            NumErr::Fraction => format!("is `{raw}`, which is not a whole number"),
            NumErr::TooLarge => format!("is `{raw}`, which is too large"),
        }
    }
}

/// A token count from text: a whole number (`12` or `12.0`), at most `u32::MAX`.
fn count_from_str(s: &str) -> Result<u32, NumErr> {
    let s = s.trim();
    if let Ok(v) = s.parse::<u64>() {
        return u32::try_from(v).map_err(|_| NumErr::TooLarge);
    }
    match s.parse::<f64>() {
        Ok(f) => count_from_f64(f),
        Err(_) if s.is_empty() => Err(NumErr::Empty),
        Err(_) => Err(NumErr::NotNumber),
    }
}

fn count_from_f64(f: f64) -> Result<u32, NumErr> {
    if !f.is_finite() {
        Err(NumErr::NotFinite)
    } else if f < 0.0 {
        Err(NumErr::Negative)
    } else if f.fract() != 0.0 {
        Err(NumErr::Fraction)
    } else if f > u32::MAX as f64 {
        Err(NumErr::TooLarge)
    } else {
        Ok(f as u32)
    }
}

fn count_from_json(n: &serde_json::Number) -> Result<u32, NumErr> {
    if let Some(v) = n.as_u64() {
        u32::try_from(v).map_err(|_| NumErr::TooLarge)
    } else if n.is_i64() {
        Err(NumErr::Negative)
    } else {
        count_from_f64(n.as_f64().unwrap_or(f64::NAN))
    }
}

/// Largest accepted timestamp, in seconds (about 31,700 years).
const MAX_SECONDS: f64 = 1e12;

/// Non-negative seconds (float) to nanoseconds.
fn seconds_to_ns(s: &str) -> Result<i128, NumErr> {
    let s = s.trim();
    match s.parse::<f64>() {
        Ok(f) if !f.is_finite() => Err(NumErr::NotFinite),
        Ok(f) if f < 0.0 => Err(NumErr::Negative),
        Ok(f) if f > MAX_SECONDS => Err(NumErr::TooLarge),
        Ok(f) => Ok((f * 1e9).round() as i128),
        Err(_) if s.is_empty() => Err(NumErr::Empty),
        Err(_) => Err(NumErr::NotNumber),
    }
}

/// Non-negative milliseconds (JSON number) to nanoseconds; exact for integers.
fn millis_to_ns(n: &serde_json::Number) -> Result<i128, NumErr> {
    if let Some(v) = n.as_u64() {
        Ok(i128::from(v) * 1_000_000)
    } else if n.is_i64() {
        Err(NumErr::Negative)
    } else {
        match n.as_f64() {
            Some(f) if f < 0.0 => Err(NumErr::Negative),
            Some(f) if f.is_finite() && f <= MAX_SECONDS * 1e3 => Ok((f * 1e6).round() as i128),
            Some(f) if f.is_finite() => Err(NumErr::TooLarge),
            _ => Err(NumErr::NotFinite),
        }
    }
}

/// Tracks arrival order and converts absolute timestamps to arrivals since the first request.
struct Clock {
    origin: Option<i128>,
    prev: Option<(i128, usize)>,
}

impl Clock {
    fn new() -> Self {
        Clock {
            origin: None,
            prev: None,
        }
    }

    /// Check `t` (from `line`) does not go backwards; `show` renders a timestamp for the message.
    fn check_order(&mut self, ctx: &Ctx, line: usize, t: i128, show: impl Fn(i128) -> String) -> Result<()> {
        if let Some((p, pline)) = self.prev
            && t < p
        {
            return Err(ctx.err(
                line,
                format!(
                    "timestamp {} is earlier than {} on line {pline}; rows must be in arrival \
                     order: sort the file by its timestamp column (keeping the header first)",
                    show(t),
                    show(p)
                ),
            ));
        }
        self.prev = Some((t, line));
        Ok(())
    }

    /// Arrival of a request kept at absolute time `t` (the first kept request defines time 0).
    fn arrival(&mut self, ctx: &Ctx, line: usize, t: i128) -> Result<u64> {
        let origin = *self.origin.get_or_insert(t);
        u64::try_from(t - origin).map_err(|_| {
            ctx.err(
                line,
                "timestamp is more than 584 years after the first request; check the time unit",
            )
        })
    }
}

// ---------------------------------------------------------------------------------------------
// CSV formats

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

const LAYOUTS: [CsvLayout; 3] = [
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
    /// Indices of the time, input and output columns, or the first missing column name.
    fn find_columns(&self, header: &[&str]) -> Result<[usize; 3], &'static str> {
        let find = |name: &'static str| header.iter().position(|h| h.eq_ignore_ascii_case(name)).ok_or(name);
        Ok([find(self.time)?, find(self.input)?, find(self.output)?])
    }
}

fn unknown_header_message(first: &str) -> String {
    let looks_like_data = first.trim_start().starts_with(|c: char| c.is_ascii_digit());
    format!(
        "unrecognised trace header `{}`{}; accepted: Azure `TIMESTAMP,ContextTokens,GeneratedTokens`, \
         BurstGPT `Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type`, Vidur \
         `arrived_at,num_prefill_tokens,num_decode_tokens` (CSV columns in any order, extra columns \
         allowed), or Mooncake JSONL (one `{{\"timestamp\": ms, \"input_length\": n, \
         \"output_length\": n, \"hash_ids\": [..]}}` object per line)",
        snippet(first),
        if looks_like_data {
            " (it looks like data: the file needs a header line)"
        } else {
            ""
        }
    )
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

fn parse_csv<'a>(
    ctx: &Ctx<'a>,
    layout: &CsvLayout,
    header_no: usize,
    header_line: &'a str,
    lines: impl Iterator<Item = (usize, &'a str)>,
    capacity: usize,
) -> Result<Trace> {
    let header: Vec<&str> = split_csv(header_line).map(clean_header).collect();
    let [ti, ii, oi] = layout.find_columns(&header).map_err(|missing| {
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
                did_you_mean(missing, header.iter().copied()),
                layout.format,
                layout.header
            ),
        )
    })?;
    let ncols = header.len();
    let mut requests = Vec::with_capacity(capacity);
    let mut skipped_rows = 0;
    let mut clock = Clock::new();
    let mut prev_raw_time = "";
    for (no, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let (mut t_raw, mut in_raw, mut out_raw) = ("", "", "");
        let mut count = 0;
        for (k, f) in split_csv(line).enumerate() {
            if k == ti {
                t_raw = f;
            } else if k == ii {
                in_raw = f;
            } else if k == oi {
                out_raw = f;
            }
            count = k + 1;
        }
        if count != ncols {
            let trunc = if count < ncols && ctx.looks_truncated(line) {
                " (it is the last line and the file does not end with a newline: it looks truncated)"
            } else {
                ""
            };
            return Err(ctx.err(
                no,
                format!(
                    "the row has {count} columns but the header (line {header_no}) has {ncols}{trunc}; every \
                     row needs one value per header column: `{}`",
                    header.join(",")
                ),
            ));
        }
        let t_raw = unquote(t_raw);
        let col_err = |col: &str, e: NumErr, raw: &str, accepted: &str| {
            ctx.err(no, format!("column `{col}` {}; expected {accepted}", e.describe(raw)))
        };
        let t = match layout.time_kind {
            TimeKind::DateTime => parse_datetime(t_raw).map_err(|why| {
                ctx.err(
                    no,
                    format!(
                        "column `{}` is `{}`: {why}; expected a date-time like `2023-11-16 \
                         18:15:46.6805900` (0-9 fractional digits, optional `Z` or `+HH:MM` offset)",
                        layout.time,
                        snippet(t_raw)
                    ),
                )
            })?,
            TimeKind::Seconds => seconds_to_ns(t_raw)
                .map_err(|e| col_err(layout.time, e, t_raw, "a time in seconds, a finite number >= 0"))?,
        };
        clock.check_order(ctx, no, t, |v| {
            if v == t {
                format!("`{t_raw}`")
            } else {
                format!("`{prev_raw_time}`")
            }
        })?;
        prev_raw_time = t_raw;
        let out_raw = unquote(out_raw);
        let output = count_from_str(out_raw)
            .map_err(|e| col_err(layout.output, e, out_raw, "a whole number of output tokens >= 1"))?;
        if output == 0 {
            if layout.zero_output_skips {
                skipped_rows += 1;
                continue;
            }
            return Err(ctx.err(
                no,
                format!(
                    "column `{}` is 0; output tokens must be >= 1 (every request generates at least \
                     one token)",
                    layout.output
                ),
            ));
        }
        let in_raw = unquote(in_raw);
        let input = count_from_str(in_raw)
            .map_err(|e| col_err(layout.input, e, in_raw, "a whole number of input tokens >= 1"))?;
        if input == 0 {
            return Err(ctx.err(no, format!("column `{}` is 0; input tokens must be >= 1", layout.input)));
        }
        requests.push(TraceRequest {
            arrival_ns: clock.arrival(ctx, no, t)?,
            input_tokens: input,
            output_tokens: output,
            hash_ids: Vec::new(),
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

/// `YYYY-MM-DD[ T]HH:MM:SS[.f{0,9}][Z|±HH:MM|±HHMM|±HH]` to nanoseconds since 1970-01-01 UTC
/// (without an offset the time is taken as UTC). No leap seconds.
fn parse_datetime(s: &str) -> Result<i128, &'static str> {
    let b = s.as_bytes();
    let mut p = 0;
    let num = |digits: usize, p: &mut usize| -> Option<i64> {
        let end = *p + digits;
        let d = b.get(*p..end)?;
        if !d.iter().all(u8::is_ascii_digit) {
            return None;
        }
        *p = end;
        Some(d.iter().fold(0i64, |a, &c| a * 10 + i64::from(c - b'0')))
    };
    let expect = |c: &[u8], p: &mut usize| -> bool {
        if b.get(*p).is_some_and(|x| c.contains(x)) {
            *p += 1;
            true
        } else {
            false
        }
    };
    const SHAPE: &str = "not a date-time";
    let year = num(4, &mut p).ok_or(SHAPE)?;
    if !expect(b"-", &mut p) {
        return Err(SHAPE);
    }
    let month = num(2, &mut p).ok_or(SHAPE)?;
    if !expect(b"-", &mut p) {
        return Err(SHAPE);
    }
    let day = num(2, &mut p).ok_or(SHAPE)?;
    if !expect(b" T", &mut p) {
        return Err(SHAPE);
    }
    let hour = num(2, &mut p).ok_or(SHAPE)?;
    if !expect(b":", &mut p) {
        return Err(SHAPE);
    }
    let minute = num(2, &mut p).ok_or(SHAPE)?;
    if !expect(b":", &mut p) {
        return Err(SHAPE);
    }
    let second = num(2, &mut p).ok_or(SHAPE)?;
    let mut frac_ns = 0i64;
    if expect(b".", &mut p) {
        let start = p;
        while b.get(p).is_some_and(u8::is_ascii_digit) {
            p += 1;
        }
        let digits = &b[start..p];
        if digits.len() > 9 {
            return Err("more than 9 fractional digits");
        }
        let v = digits.iter().fold(0i64, |a, &c| a * 10 + i64::from(c - b'0'));
        frac_ns = v * 10i64.pow(9 - digits.len() as u32);
    }
    let mut offset_s = 0i64;
    match b.get(p) {
        None => {}
        Some(b'Z' | b'z') if p + 1 == b.len() => {}
        Some(&sign @ (b'+' | b'-')) => {
            p += 1;
            let oh = num(2, &mut p).ok_or("bad UTC offset")?;
            expect(b":", &mut p);
            let om = if p < b.len() {
                num(2, &mut p).ok_or("bad UTC offset")?
            } else {
                0
            };
            if p != b.len() || oh > 23 || om > 59 {
                return Err("bad UTC offset");
            }
            offset_s = (oh * 3600 + om * 60) * if sign == b'+' { 1 } else { -1 };
        }
        Some(_) => return Err("unexpected text after the time"),
    }
    if !(1..=12).contains(&month) {
        return Err("month out of range");
    }
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let month_days = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    if day < 1 || day > month_days[month as usize - 1] {
        return Err("day out of range for the month");
    }
    if hour > 23 || minute > 59 || second > 59 {
        return Err("time of day out of range");
    }
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_s;
    Ok(i128::from(secs) * 1_000_000_000 + i128::from(frac_ns))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

// ---------------------------------------------------------------------------------------------
// Mooncake JSONL

#[derive(serde::Deserialize)]
struct MooncakeRow {
    timestamp: serde_json::Number,
    input_length: serde_json::Number,
    output_length: serde_json::Number,
    #[serde(default)]
    hash_ids: Vec<u64>,
}

const MOONCAKE_SHAPE: &str = "{\"timestamp\": ms, \"input_length\": n, \"output_length\": n, \"hash_ids\": [..]}";

fn parse_mooncake<'a>(ctx: &Ctx<'a>, lines: impl Iterator<Item = (usize, &'a str)>, capacity: usize) -> Result<Trace> {
    let mut requests = Vec::with_capacity(capacity);
    let mut clock = Clock::new();
    let mut prev_ms = serde_json::Number::from(0u64);
    for (no, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let row: MooncakeRow = serde_json::from_str(line).map_err(|e| {
            let detail = if e.is_eof() && ctx.looks_truncated(line) {
                format!(
                    "the last line looks truncated (the JSON object ends early: {e}); the file may have \
                     been cut off while being written or downloaded: fetch it again or delete the \
                     partial line"
                )
            } else if e.is_eof() {
                format!("the JSON object ends early ({e})")
            } else {
                format!("not a valid row ({e}): `{}`", snippet(line))
            };
            ctx.err(
                no,
                format!("{detail}; each line must be one JSON object {MOONCAKE_SHAPE}"),
            )
        })?;
        let field_err = |field: &str, e: NumErr, n: &serde_json::Number, accepted: &str| {
            ctx.err(
                no,
                format!("field `{field}` {}; expected {accepted}", e.describe(&n.to_string())),
            )
        };
        let t = millis_to_ns(&row.timestamp)
            .map_err(|e| field_err("timestamp", e, &row.timestamp, "milliseconds, a finite number >= 0"))?;
        clock.check_order(ctx, no, t, |v| {
            if v == t {
                format!("{} ms", row.timestamp)
            } else {
                format!("{prev_ms} ms")
            }
        })?;
        let input = count_from_json(&row.input_length).map_err(|e| {
            field_err(
                "input_length",
                e,
                &row.input_length,
                "a whole number of input tokens >= 1",
            )
        })?;
        if input == 0 {
            return Err(ctx.err(no, "field `input_length` is 0; input tokens must be >= 1"));
        }
        let output = count_from_json(&row.output_length).map_err(|e| {
            field_err(
                "output_length",
                e,
                &row.output_length,
                "a whole number of output tokens >= 1",
            )
        })?;
        if output == 0 {
            return Err(ctx.err(
                no,
                "field `output_length` is 0; output tokens must be >= 1 (every request generates at \
                 least one token)",
            ));
        }
        requests.push(TraceRequest {
            arrival_ns: clock.arrival(ctx, no, t)?,
            input_tokens: input,
            output_tokens: output,
            hash_ids: row.hash_ids,
        });
        prev_ms = row.timestamp;
    }
    if requests.is_empty() {
        return Err(Error::input(
            ctx.file,
            "",
            "trace has no requests: the file has no JSON rows",
        ));
    }
    Ok(Trace {
        requests,
        format: TraceFormat::MooncakeJsonl,
        block_tokens: Some(MOONCAKE_BLOCK_TOKENS),
        skipped_rows: 0,
    })
}

// ---------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::time::Instant;

    fn trace_path(name: &str) -> std::path::PathBuf {
        let p = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/traces")
            .join(name);
        if p.exists() {
            p
        } else {
            Path::new("/work/shared/traces").join(name)
        }
    }

    fn read(name: &str) -> Trace {
        let path = trace_path(name);
        let start = Instant::now();
        let t = read_trace(&path, TraceFormat::Auto).unwrap_or_else(|e| panic!("{e}"));
        eprintln!("{name}: {} rows parsed in {:?}", t.requests.len(), start.elapsed());
        t
    }

    fn mean(v: impl Iterator<Item = u32>) -> f64 {
        let (s, n) = v.fold((0u64, 0u64), |(s, n), x| (s + u64::from(x), n + 1));
        s as f64 / n as f64
    }

    fn median(mut v: Vec<u32>) -> f64 {
        v.sort_unstable();
        let n = v.len();
        if n % 2 == 1 {
            f64::from(v[n / 2])
        } else {
            (f64::from(v[n / 2 - 1]) + f64::from(v[n / 2])) / 2.0
        }
    }

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn azure_conversation_matches_published_facts() {
        let t = read("AzureLLMInferenceTrace_conv.csv");
        assert_eq!(t.format, TraceFormat::AzureCsv);
        assert_eq!(t.block_tokens, None);
        assert_eq!(t.skipped_rows, 0);
        let r = &t.requests;
        assert_eq!(r.len(), 19_366);
        assert_eq!(r[0].arrival_ns, 0);
        // Second row: 18:15:50.9951690 - 18:15:46.6805900, exact from the digits.
        assert_eq!(r[1].arrival_ns, 4_314_579_000);
        assert_eq!((r[0].input_tokens, r[0].output_tokens), (374, 44));
        let input_mean = mean(r.iter().map(|q| q.input_tokens));
        assert!(close(input_mean, 1154.7, 0.05), "{input_mean}");
        assert_eq!(median(r.iter().map(|q| q.input_tokens).collect()), 1020.0);
        assert_eq!(r.iter().map(|q| q.input_tokens).max(), Some(14_050));
        let output_mean = mean(r.iter().map(|q| q.output_tokens));
        assert!(close(output_mean, 211.1, 0.05), "{output_mean}");
        eprintln!(
            "azure conv: input mean {input_mean:.2}, output mean {output_mean:.2}, span {:.3} s, \
             (n-1)/span {:.4}, n/span {:.4}",
            t.span_s(),
            t.mean_rate_per_s(),
            r.len() as f64 / t.span_s()
        );
        assert_eq!(median(r.iter().map(|q| q.output_tokens).collect()), 129.0);
        assert_eq!(r.iter().map(|q| q.output_tokens).max(), Some(1000));
        assert!(close(t.span_s(), 3502.0, 1.0), "{}", t.span_s());
        assert!(close(t.mean_rate_per_s(), 5.53, 0.005), "{}", t.mean_rate_per_s());
        assert!(close(r.len() as f64 / t.span_s(), 5.53, 0.005));
        assert!(r.iter().all(|q| q.hash_ids.is_empty()));
    }

    #[test]
    fn azure_code_reads() {
        let t = read("AzureLLMInferenceTrace_code.csv");
        assert_eq!(t.format, TraceFormat::AzureCsv);
        assert_eq!(t.requests.len(), 8_819);
        assert!(close(t.span_s(), 3436.0, 1.0), "{}", t.span_s());
    }

    #[test]
    fn mooncake_conversation_matches_published_facts() {
        let t = read("conversation_trace.jsonl");
        assert_eq!(t.format, TraceFormat::MooncakeJsonl);
        assert_eq!(t.block_tokens, Some(512));
        let r = &t.requests;
        assert_eq!(r.len(), 12_031);
        let input_mean = mean(r.iter().map(|q| q.input_tokens));
        assert!(close(input_mean, 12_035.1, 0.05), "{input_mean}");
        let output_mean = mean(r.iter().map(|q| q.output_tokens));
        assert!(close(output_mean, 342.6, 0.05), "{output_mean}");
        assert!(close(t.span_s(), 3537.0, 1.0), "{}", t.span_s());
        assert!(close(t.mean_rate_per_s(), 3.40, 0.005), "{}", t.mean_rate_per_s());
        for q in r {
            assert_eq!(q.hash_ids.len(), q.input_tokens.div_ceil(512) as usize);
        }
        let total: usize = r.iter().map(|q| q.hash_ids.len()).sum();
        let distinct: HashSet<u64> = r.iter().flat_map(|q| q.hash_ids.iter().copied()).collect();
        assert_eq!(total, 288_500);
        assert_eq!(distinct.len(), 182_790);
        let hit = 1.0 - distinct.len() as f64 / total as f64;
        eprintln!(
            "mooncake conv: input mean {input_mean:.2}, output mean {output_mean:.2}, span {:.3} s, \
             (n-1)/span {:.4}, n/span {:.4}, blocks {total}, distinct {}, hit {hit:.4}",
            t.span_s(),
            t.mean_rate_per_s(),
            r.len() as f64 / t.span_s(),
            distinct.len()
        );
        assert!(close(hit, 0.366, 0.0005), "{hit}");
    }

    #[test]
    fn mooncake_synthetic_reads() {
        let t = read("synthetic_trace.jsonl");
        assert_eq!(t.requests.len(), 3_993);
        assert!(close(t.span_s(), 1022.0, 1.0), "{}", t.span_s());
    }

    #[test]
    fn parsing_the_bundled_traces_is_fast() {
        // A loose bound that holds in debug builds too; release figures are in the module report.
        let path = trace_path("conversation_trace.jsonl");
        let bytes = std::fs::read(path).unwrap();
        let start = Instant::now();
        parse_trace(&bytes, "conversation_trace.jsonl", TraceFormat::Auto).unwrap();
        let took = start.elapsed();
        eprintln!("mooncake conversation parse: {took:?}");
        assert!(took.as_secs_f64() < 2.0, "{took:?}");
    }

    // --- small inputs -------------------------------------------------------------------------

    fn parse(text: &str) -> Result<Trace> {
        parse_trace(text.as_bytes(), "t.csv", TraceFormat::Auto)
    }

    /// The error message (with file and location) of a failing parse.
    fn fail(text: &[u8], format: TraceFormat) -> String {
        match parse_trace(text, "t.csv", format) {
            Ok(t) => panic!("expected an error, got {t:?}"),
            Err(e @ Error::Input(_)) => e.to_string(),
            Err(e) => panic!("expected an input error, got {e:?}"),
        }
    }

    fn assert_has(msg: &str, parts: &[&str]) {
        for p in parts {
            assert!(msg.contains(p), "`{msg}` lacks `{p}`");
        }
    }

    #[test]
    fn detects_each_format() {
        let azure = "TIMESTAMP,ContextTokens,GeneratedTokens\r\n2023-11-16 18:15:46.6805900,374,44\r\n\
                     2023-11-16 18:15:47,10,2";
        let t = parse(azure).unwrap();
        assert_eq!(t.format, TraceFormat::AzureCsv);
        assert_eq!(t.requests[1].arrival_ns, 319_410_000);

        let azure24 = "TIMESTAMP,ContextTokens,GeneratedTokens\n2024-05-10 00:00:00.009930+00:00,5,6\n\
                       2024-05-10 02:00:01+02:00,7,8\n";
        let t = parse(azure24).unwrap();
        assert_eq!(t.requests[1].arrival_ns, 1_000_000_000 - 9_930_000);

        let burst = "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n\
                     5,ChatGPT,472,18,490,Conversation log\n45,ChatGPT,1087,0,1087,Conversation log\n\
                     118.5,GPT-4,417,276,693,API log\n";
        let t = parse(burst).unwrap();
        assert_eq!(t.format, TraceFormat::BurstgptCsv);
        assert_eq!(t.skipped_rows, 1);
        assert_eq!(t.requests.len(), 2);
        assert_eq!(t.requests[1].arrival_ns, 113_500_000_000);
        assert_eq!((t.requests[1].input_tokens, t.requests[1].output_tokens), (417, 276));

        let vidur = "\"\",num_decode_tokens,arrived_at,num_prefill_tokens,extra\n0,10,0.25,100,x\n\
                     1,20,0.5,200,\"a,b\"\n";
        let t = parse(vidur).unwrap();
        assert_eq!(t.format, TraceFormat::VidurCsv);
        assert_eq!(
            t.requests[1],
            TraceRequest {
                arrival_ns: 250_000_000,
                input_tokens: 200,
                output_tokens: 20,
                hash_ids: vec![]
            }
        );

        let jsonl = "\n{\"timestamp\": 3, \"input_length\": 600, \"output_length\": 2, \"hash_ids\": [7]}\n\n\
                     {\"timestamp\": 10, \"input_length\": 5, \"output_length\": 1, \"hash_ids\": [7]}\n";
        let t = parse(jsonl).unwrap();
        assert_eq!(t.format, TraceFormat::MooncakeJsonl);
        assert_eq!(t.block_tokens, Some(512));
        assert_eq!(t.requests[0].hash_ids, vec![7]);
        assert_eq!(t.requests[1].arrival_ns, 7_000_000);

        // An explicit format is honoured.
        let t = parse_trace(vidur.as_bytes(), "t.csv", TraceFormat::VidurCsv).unwrap();
        assert_eq!(t.format, TraceFormat::VidurCsv);
    }

    #[test]
    fn civil_dates_convert_exactly() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(
            parse_datetime("2023-11-16 18:15:46.6805900"),
            Ok(1_700_158_546_680_590_000)
        );
        assert_eq!(parse_datetime("2024-02-29T00:00:00Z"), Ok(1_709_164_800_000_000_000));
        assert_eq!(parse_datetime("2024-02-29 00:00:00."), Ok(1_709_164_800_000_000_000));
        assert_eq!(
            parse_datetime("2024-02-29 01:00:00.123456789+0100"),
            Ok(1_709_164_800_123_456_789)
        );
        assert!(parse_datetime("2023-02-29 00:00:00").is_err());
        assert!(parse_datetime("2023-11-16 18:15:46.6805900123").is_err());
        assert!(parse_datetime("2023-11-16").is_err());
    }

    #[test]
    fn file_missing_or_directory() {
        let e = read_trace(Path::new("/nonexistent/trace.csv"), TraceFormat::Auto)
            .unwrap_err()
            .to_string();
        assert_has(&e, &["/nonexistent/trace.csv", "not found"]);
        let e = read_trace(Path::new(env!("CARGO_MANIFEST_DIR")), TraceFormat::Auto)
            .unwrap_err()
            .to_string();
        assert_has(&e, &["is a directory", "trace file"]);
    }

    #[test]
    fn rejects_non_utf8_with_its_line() {
        let e = fail(
            b"TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46,1\xff,2\n",
            TraceFormat::Auto,
        );
        assert_has(&e, &["t.csv: line 2:", "UTF-8", "0xff", "column 22"]);
        let e = fail(b"\x1f\x8b\x08\x00", TraceFormat::Auto);
        assert_has(&e, &["line 1", "gzip"]);
    }

    #[test]
    fn rejects_empty_and_header_only() {
        for text in ["", "\n\n  \r\n"] {
            assert_has(
                &fail(text.as_bytes(), TraceFormat::Auto),
                &["trace has no requests", "empty"],
            );
        }
        let e = fail(b"TIMESTAMP,ContextTokens,GeneratedTokens\r\n", TraceFormat::Auto);
        assert_has(&e, &["trace has no requests", "header (line 1)", "no data rows"]);
        let e = fail(
            b"Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n1,M,3,0,3,API log\n",
            TraceFormat::Auto,
        );
        assert_has(&e, &["trace has no requests", "all 1 rows", "Response tokens"]);
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
        let e = fail(
            b"TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46,1,2\n2023-11-16 18:15",
            TraceFormat::Auto,
        );
        assert_has(&e, &["line 3", "truncated"]);
        let e = fail(
            b"{\"timestamp\": 0, \"input_length\": 5, \"output_length\": 1, \"hash_ids\": [1]}\n\
              {\"timestamp\": 1, \"input_length\": 5, \"output_len",
            TraceFormat::Auto,
        );
        assert_has(&e, &["line 2", "looks truncated", "JSON"]);
    }

    #[test]
    fn rejects_unparsable_numbers_showing_the_value() {
        let e = fail(
            b"arrived_at,num_prefill_tokens,num_decode_tokens\n0,12x,1\n",
            TraceFormat::Auto,
        );
        assert_has(&e, &["line 2", "`num_prefill_tokens`", "`12x`", "not a number"]);
        let e = fail(
            b"arrived_at,num_prefill_tokens,num_decode_tokens\nsoon,1,1\n",
            TraceFormat::Auto,
        );
        assert_has(&e, &["line 2", "`arrived_at`", "`soon`", "seconds"]);
        let e = fail(
            b"arrived_at,num_prefill_tokens,num_decode_tokens\n0,1.5,1\n",
            TraceFormat::Auto,
        );
        assert_has(&e, &["line 2", "`1.5`", "whole number"]);
        let e = fail(
            b"arrived_at,num_prefill_tokens,num_decode_tokens\n0,1,\n",
            TraceFormat::Auto,
        );
        assert_has(&e, &["line 2", "`num_decode_tokens` is empty"]);
        let e = fail(
            b"TIMESTAMP,ContextTokens,GeneratedTokens\n2023-13-16 18:15:46,1,1\n",
            TraceFormat::Auto,
        );
        assert_has(&e, &["line 2", "`2023-13-16 18:15:46`", "month out of range"]);
        let e = fail(
            b"{\"timestamp\": \"0\", \"input_length\": 5, \"output_length\": 1}\n",
            TraceFormat::Auto,
        );
        assert_has(&e, &["line 1", "invalid type", "timestamp"]);
        let e = fail(
            b"arrived_at,num_prefill_tokens,num_decode_tokens\n0,99999999999,1\n",
            TraceFormat::Auto,
        );
        assert_has(&e, &["line 2", "too large"]);
    }

    #[test]
    fn rejects_zero_or_negative_tokens() {
        let e = fail(
            b"arrived_at,num_prefill_tokens,num_decode_tokens\n0,0,1\n",
            TraceFormat::Auto,
        );
        assert_has(
            &e,
            &["line 2", "`num_prefill_tokens` is 0", "input tokens must be >= 1"],
        );
        let e = fail(
            b"arrived_at,num_prefill_tokens,num_decode_tokens\n0,-3,1\n",
            TraceFormat::Auto,
        );
        assert_has(&e, &["line 2", "`-3`", "negative"]);
        let e = fail(
            b"TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46,3,-1\n",
            TraceFormat::Auto,
        );
        assert_has(&e, &["line 2", "`GeneratedTokens`", "`-1`", "negative"]);
        let e = fail(
            b"TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46,3,0\n",
            TraceFormat::Auto,
        );
        assert_has(&e, &["line 2", "`GeneratedTokens` is 0", "output tokens must be >= 1"]);
        let e = fail(
            b"{\"timestamp\": 0, \"input_length\": 0, \"output_length\": 1}\n",
            TraceFormat::Auto,
        );
        assert_has(&e, &["line 1", "`input_length` is 0"]);
        let e = fail(
            b"{\"timestamp\": 0, \"input_length\": 4, \"output_length\": -2}\n",
            TraceFormat::Auto,
        );
        assert_has(&e, &["line 1", "`output_length`", "`-2`", "negative"]);
        let e = fail(
            b"{\"timestamp\": 0, \"input_length\": 4, \"output_length\": 0}\n",
            TraceFormat::Auto,
        );
        assert_has(&e, &["line 1", "output tokens must be >= 1"]);
        let e = fail(
            b"{\"timestamp\": -5, \"input_length\": 4, \"output_length\": 1}\n",
            TraceFormat::Auto,
        );
        assert_has(&e, &["line 1", "`timestamp`", "negative"]);
    }

    #[test]
    fn rejects_nan_and_infinity() {
        let e = fail(
            b"arrived_at,num_prefill_tokens,num_decode_tokens\nNaN,1,1\n",
            TraceFormat::Auto,
        );
        assert_has(&e, &["line 2", "`NaN`", "not a finite number"]);
        let e = fail(
            b"arrived_at,num_prefill_tokens,num_decode_tokens\n0,1,1\n1,inf,1\n",
            TraceFormat::Auto,
        );
        assert_has(&e, &["line 3", "`inf`", "not a finite number"]);
    }

    #[test]
    fn rejects_timestamps_that_go_backwards() {
        let e = fail(
            b"TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.5,1,1\n\
              2023-11-16 18:15:46.4,1,1\n",
            TraceFormat::Auto,
        );
        assert_has(
            &e,
            &[
                "line 3",
                "`2023-11-16 18:15:46.4`",
                "`2023-11-16 18:15:46.5`",
                "line 2",
                "sort",
            ],
        );
        let e = fail(
            b"{\"timestamp\": 9, \"input_length\": 4, \"output_length\": 1}\n\
              {\"timestamp\": 9, \"input_length\": 4, \"output_length\": 1}\n\
              {\"timestamp\": 3, \"input_length\": 4, \"output_length\": 1}\n",
            TraceFormat::Auto,
        );
        assert_has(&e, &["line 3", "3 ms", "9 ms", "on line 2", "sort"]);
        // Equal timestamps are fine.
        parse("arrived_at,num_prefill_tokens,num_decode_tokens\n1,1,1\n1,1,1\n").unwrap();
    }

    #[test]
    fn rejects_unknown_formats() {
        let e = fail(b"time,prompt,completion\n0,1,1\n", TraceFormat::Auto);
        assert_has(
            &e,
            &[
                "line 1",
                "unrecognised trace header",
                "TIMESTAMP,ContextTokens",
                "arrived_at",
                "Mooncake",
            ],
        );
        let e = fail(b"\n2023-11-16 18:15:46,1,1\n", TraceFormat::Auto);
        assert_has(&e, &["line 2", "needs a header line"]);
        let e = fail(
            b"TIMESTAMP,ContextTokens,GeneratedTokenz\nx,1,1\n",
            TraceFormat::AzureCsv,
        );
        assert_has(
            &e,
            &[
                "line 1",
                "no column `GeneratedTokens`",
                "did you mean `GeneratedTokenz`",
                "azure-csv",
            ],
        );
        let e = fail(
            b"{\"timestamp\": 0, \"input_length\": 4, \"output_length\": 1}\n",
            TraceFormat::VidurCsv,
        );
        assert_has(&e, &["line 1", "looks like JSONL"]);
        let e = fail(
            b"arrived_at,num_prefill_tokens,num_decode_tokens\n0,1,1\n",
            TraceFormat::MooncakeJsonl,
        );
        assert_has(&e, &["line 1", "JSON object"]);
    }

    #[test]
    fn mangled_input_never_panics() {
        let seeds: [&[u8]; 4] = [
            b"TIMESTAMP,ContextTokens,GeneratedTokens\r\n2023-11-16 18:15:46.6805900,374,44\r\n\
              2023-11-16 18:15:50.99,3,4",
            b"{\"timestamp\": 0, \"input_length\": 600, \"output_length\": 2, \"hash_ids\": [7, 8]}\n\
              {\"timestamp\": 1, \"input_length\": 6, \"output_length\": 2}\n",
            b"Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n\
              5,ChatGPT,472,18,490,Conversation log\n",
            b"arrived_at,num_prefill_tokens,num_decode_tokens\n0.5,\"1\",2\n1e3,3,4\n",
        ];
        let alphabet = b",\n\r\"{}:.-+eE0123456789 TZ\xff\xc3\xa9";
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..20_000 {
            let mut bytes = seeds[(next() % 4) as usize].to_vec();
            for _ in 0..(next() % 4 + 1) {
                let at = (next() as usize) % (bytes.len() + 1);
                match next() % 3 {
                    0 if at < bytes.len() => bytes[at] = alphabet[(next() as usize) % alphabet.len()],
                    1 if at < bytes.len() => {
                        bytes.remove(at);
                    }
                    _ => bytes.insert(at, alphabet[(next() as usize) % alphabet.len()]),
                }
            }
            for format in [TraceFormat::Auto, TraceFormat::AzureCsv, TraceFormat::MooncakeJsonl] {
                if let Err(e) = parse_trace(&bytes, "fuzz", format) {
                    assert!(matches!(e, Error::Input(_)), "{e:?}");
                }
            }
        }
    }

    #[test]
    fn format_names_round_trip_through_serde() {
        let f: TraceFormat = serde_json::from_str("\"burstgpt-csv\"").unwrap();
        assert_eq!(f, TraceFormat::BurstgptCsv);
        assert_eq!(
            serde_json::to_string(&TraceFormat::MooncakeJsonl).unwrap(),
            "\"mooncake-jsonl\""
        );
        assert_eq!(TraceFormat::AzureCsv.to_string(), "azure-csv");
    }
}
