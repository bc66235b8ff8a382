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
//! extra columns are ignored. A CSV trace may carry an optional `max_tokens` column: the client's
//! limit per request (a whole number >= the row's output tokens; an empty field: none). Rows must be in arrival order; arrivals are returned relative to the
//! first request, so `requests[0].arrival_ns == 0`. Every problem is reported as an
//! [`Error::Input`] naming the file, the 1-based `line N`, what was wrong and what is accepted.

mod clock;
mod csv;
mod mooncake;
mod number;
pub mod replay;

use std::fmt;
use std::path::Path;

use crate::error::{Error, Result};

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
    /// The client's `max_tokens` for this request, from an optional `max_tokens` column (CSV
    /// formats); `None` when the trace has none (the engine's default applies). Never below
    /// `output_tokens`.
    pub max_tokens: Option<u32>,
    /// A prediction of the output length, from an optional `predicted_output` column (CSV
    /// formats): the user's own predictor, read only by `serving.sjf_predictor = "trace"`.
    pub predicted_output: Option<u32>,
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
        TraceFormat::Auto => match csv::format_named_by(first) {
            Some(f) => f,
            None => return Err(ctx.err(first_no, unknown_header_message(first))),
        },
        f => f,
    };
    if format == TraceFormat::MooncakeJsonl {
        return mooncake::parse_mooncake(&ctx, std::iter::once((first_no, first)).chain(lines), capacity);
    }
    csv::parse_csv(&ctx, format, first_no, first, lines, capacity)
}

/// Why no format could be detected from the first non-blank line.
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

// ---------------------------------------------------------------------------------------------
// Shared helpers: where a problem is and how to quote it

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

// ---------------------------------------------------------------------------------------------

/// What the readers' unit tests share: reading small inline traces and checking their errors.
#[cfg(test)]
mod testing {
    use super::*;

    /// Read `text` with format detection.
    pub(super) fn parse(text: &str) -> Result<Trace> {
        parse_trace(text.as_bytes(), "t.csv", TraceFormat::Auto)
    }

    /// The error message (with file and location) of a failing parse.
    pub(super) fn fail(text: &[u8], format: TraceFormat) -> String {
        match parse_trace(text, "t.csv", format) {
            Ok(t) => panic!("expected an error, got {t:?}"),
            Err(e @ Error::Input(_)) => e.to_string(),
            Err(e) => panic!("expected an input error, got {e:?}"),
        }
    }

    pub(super) fn assert_has(msg: &str, parts: &[&str]) {
        for p in parts {
            assert!(msg.contains(p), "`{msg}` lacks `{p}`");
        }
    }

    /// Each case's text, read with format detection, fails with a message holding all its parts.
    pub(super) fn assert_rejects(cases: &[(&str, &[&str])]) {
        for (text, parts) in cases {
            assert_has(&fail(text.as_bytes(), TraceFormat::Auto), parts);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{assert_has, fail, parse};
    use super::*;

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
                hash_ids: vec![],
                max_tokens: None,
                predicted_output: None,
            }
        );

        let jsonl = "\n{\"timestamp\": 3, \"input_length\": 600, \"output_length\": 2, \"hash_ids\": [7, 9]}\n\n\
                     {\"timestamp\": 10, \"input_length\": 5, \"output_length\": 1, \"hash_ids\": [7]}\n";
        let t = parse(jsonl).unwrap();
        assert_eq!(t.format, TraceFormat::MooncakeJsonl);
        assert_eq!(t.block_tokens, Some(512));
        assert_eq!(t.requests[0].hash_ids, vec![7, 9]);
        assert_eq!(t.requests[1].arrival_ns, 7_000_000);

        // An explicit format is honoured.
        let t = parse_trace(vidur.as_bytes(), "t.csv", TraceFormat::VidurCsv).unwrap();
        assert_eq!(t.format, TraceFormat::VidurCsv);
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
    fn rejects_an_empty_file() {
        for text in ["", "\n\n  \r\n"] {
            assert_has(
                &fail(text.as_bytes(), TraceFormat::Auto),
                &["trace has no requests", "empty"],
            );
        }
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
