//! What the importers read: a metric as a named block of statistics in a stated unit, whether it
//! came from a JSON object (`{"unit": "ms", "avg": …, "p50": …}`, genai-perf's and AIPerf's
//! shape) or a row of their CSV exports; and the unit conversions, each refused when unknown.

use crate::error::{Error, Result};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// One metric's statistics, as its file states them.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    /// The unit as written ("ms", "tokens/sec", …); empty when the file gives none.
    pub unit: String,
    /// Statistic name ("avg", "p50", "p99", "std", "min", "max", …) → value.
    pub stats: BTreeMap<String, f64>,
    /// Where the block is, for errors: a JSON key path or a CSV line.
    pub at: String,
}

/// Metric tag (`time_to_first_token`, `output_token_throughput`, …) → its block.
pub type Metrics = BTreeMap<String, Block>;

/// Milliseconds per unit of a time metric; `None` for a unit codesim does not know.
pub fn ms_per(unit: &str) -> Option<f64> {
    match unit.trim() {
        "ns" => Some(1e-6),
        "us" | "µs" => Some(1e-3),
        "ms" => Some(1.0),
        "s" | "sec" => Some(1e3),
        _ => None,
    }
}

/// The accepted time units, for messages.
pub const TIME_UNITS: &str = "ns, us, ms, s (or sec)";

/// Whether a throughput unit is output tokens per second.
pub fn is_tokens_per_s(unit: &str) -> bool {
    matches!(unit.trim(), "tokens/sec" | "tokens/s" | "tok/s" | "tokens per second")
}

impl Block {
    /// Statistic `stat` converted to milliseconds, if present.
    pub fn ms(&self, file: &Path, stat: &str) -> Result<Option<f64>> {
        let Some(&v) = self.stats.get(stat) else {
            return Ok(None);
        };
        let per = ms_per(&self.unit).ok_or_else(|| {
            Error::input(
                file,
                format!("{}, unit", self.at),
                format!(
                    "time unit `{}` is not one codesim converts; accepted: {TIME_UNITS}",
                    self.unit
                ),
            )
        })?;
        Ok(Some(v * per))
    }

    /// Statistic `stat` of a tokens/s throughput, if present.
    pub fn tokens_per_s(&self, file: &Path, stat: &str) -> Result<Option<f64>> {
        let Some(&v) = self.stats.get(stat) else {
            return Ok(None);
        };
        if !is_tokens_per_s(&self.unit) {
            return Err(Error::input(
                file,
                format!("{}, unit", self.at),
                format!(
                    "throughput unit `{}` is not output tokens per second; accepted: tokens/sec, tokens/s, tok/s",
                    self.unit
                ),
            ));
        }
        Ok(Some(v))
    }
}

/// `value` at dotted `path` of a JSON object (`None` when any step is missing or null).
pub fn at<'v>(value: &'v Value, path: &str) -> Option<&'v Value> {
    let mut v = value;
    for k in path.split('.') {
        v = v.get(k)?;
    }
    (!v.is_null()).then_some(v)
}

/// A JSON value for an error message, shortened.
pub fn shown(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 60 {
        format!("{}…", s.chars().take(60).collect::<String>())
    } else {
        s
    }
}

/// The number at `path`, if present; a value that is not a finite number is an error naming the
/// key, the value and `what` would be accepted.
pub fn number(file: &Path, value: &Value, path: &str, what: &str) -> Result<Option<f64>> {
    match at(value, path) {
        None => Ok(None),
        Some(v) => match v.as_f64().filter(|x| x.is_finite()) {
            Some(x) => Ok(Some(x)),
            None => Err(Error::input(
                file,
                format!("key `{path}`"),
                format!("must be a number ({what}), got {}", shown(v)),
            )),
        },
    }
}

/// A count at `path` (a whole number ≥ 0, written as an integer or a float like 10.0), if present.
pub fn count(file: &Path, value: &Value, path: &str, what: &str) -> Result<Option<u64>> {
    match number(file, value, path, what)? {
        None => Ok(None),
        Some(x) if x >= 0.0 && x.fract() == 0.0 && x < 1e15 => Ok(Some(x as u64)),
        Some(x) => Err(Error::input(
            file,
            format!("key `{path}`"),
            format!("must be a whole number ≥ 0 ({what}), got {}", crate::error::given(x)),
        )),
    }
}

/// The metric blocks of a genai-perf / AIPerf JSON export: every top-level object holding a
/// `unit` string and numeric statistics.
pub fn json_metrics(file: &Path, doc: &Value) -> Result<Metrics> {
    let mut out = Metrics::new();
    let Some(obj) = doc.as_object() else {
        return Ok(out);
    };
    for (tag, v) in obj {
        let Some(unit) = v.get("unit").and_then(Value::as_str) else {
            continue;
        };
        let mut stats = BTreeMap::new();
        for (stat, x) in v.as_object().into_iter().flatten() {
            if stat == "unit" || x.is_null() {
                continue;
            }
            let n = x.as_f64().filter(|n| n.is_finite()).ok_or_else(|| {
                Error::input(
                    file,
                    format!("key `{tag}.{stat}`"),
                    format!("must be a number (a statistic of {tag}), got {}", shown(x)),
                )
            })?;
            stats.insert(stat.clone(), n);
        }
        out.insert(
            tag.clone(),
            Block {
                unit: unit.to_string(),
                stats,
                at: format!("key `{tag}`"),
            },
        );
    }
    Ok(out)
}

/// Splits one CSV line into fields (RFC 4180 quotes; `""` inside quotes is a quote).
fn fields(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => out.push(std::mem::take(&mut cur)),
            (c, _) => cur.push(c),
        }
    }
    out.push(cur);
    out
}

/// The first row's header of a CSV export, if it is one of genai-perf's or AIPerf's tables
/// (`Metric,avg,…`).
pub fn csv_header(text: &str) -> Option<Vec<String>> {
    let first = text
        .trim_start_matches('\u{feff}')
        .lines()
        .find(|l| !l.trim().is_empty())?;
    let f = fields(first.trim_end_matches('\r'));
    (f.first().map(|s| s.trim()) == Some("Metric") && f.len() >= 2).then_some(f)
}

/// A metric's tag from its CSV name: "Time To First Token (ms)" → (`time_to_first_token`, `ms`).
fn tag_and_unit(name: &str) -> (String, String) {
    let name = name.trim();
    let (base, unit) = match (name.rfind('('), name.ends_with(')')) {
        (Some(i), true) => (&name[..i], &name[i + 1..name.len() - 1]),
        _ => (name, ""),
    };
    let tag = base
        .trim()
        .to_lowercase()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join("_");
    (tag, unit.trim().to_string())
}

/// The metric blocks of a genai-perf / AIPerf CSV export: sections separated by blank lines,
/// each headed `Metric,<stat>,…` (request metrics) or `Metric,Value` (system metrics, read as
/// `avg`). Numbers may carry thousands separators (genai-perf writes `{:,.2f}`); `N/A` and empty
/// cells are absent.
pub fn csv_metrics(file: &Path, text: &str) -> Result<Metrics> {
    let mut out = Metrics::new();
    let mut header: Option<Vec<String>> = None;
    for (i, raw) in text.trim_start_matches('\u{feff}').lines().enumerate() {
        let line = raw.trim_end_matches('\r');
        if line.trim().is_empty() {
            header = None;
            continue;
        }
        let f = fields(line);
        if f[0].trim() == "Metric" {
            header = Some(f.iter().map(|s| s.trim().to_lowercase()).collect());
            continue;
        }
        let Some(h) = &header else {
            return Err(Error::input(
                file,
                format!("line {}", i + 1),
                "a row before any `Metric,…` header; a genai-perf or AIPerf CSV export starts each table with one",
            ));
        };
        let (tag, unit) = tag_and_unit(&f[0]);
        let mut stats = BTreeMap::new();
        for (col, cell) in h.iter().zip(&f).skip(1) {
            let cell = cell.trim().replace(',', "");
            if cell.is_empty() || cell == "N/A" {
                continue;
            }
            let v: f64 = cell.parse().ok().filter(|v: &f64| v.is_finite()).ok_or_else(|| {
                Error::input(
                    file,
                    format!("line {}, metric `{}`, column `{col}`", i + 1, f[0].trim()),
                    format!("must be a number, got `{cell}`"),
                )
            })?;
            let stat = if col == "value" { "avg".to_string() } else { col.clone() };
            stats.insert(stat, v);
        }
        out.insert(
            tag,
            Block {
                unit,
                stats,
                at: format!("line {}, metric `{}`", i + 1, f[0].trim()),
            },
        );
    }
    Ok(out)
}
