//! Mooncake JSONL traces: one JSON object per line, with hash ids of the prompt's blocks.

use super::clock::{Clock, millis_to_ns};
use super::number::{NumErr, count_from_json};
use super::{Ctx, MOONCAKE_BLOCK_TOKENS, Trace, TraceFormat, TraceRequest, snippet};
use crate::error::{Error, Result};

#[derive(serde::Deserialize)]
struct MooncakeRow {
    timestamp: serde_json::Number,
    input_length: serde_json::Number,
    output_length: serde_json::Number,
    #[serde(default)]
    hash_ids: Vec<u64>,
}

const MOONCAKE_SHAPE: &str = "{\"timestamp\": ms, \"input_length\": n, \"output_length\": n, \"hash_ids\": [..]}";

/// Read a Mooncake JSONL trace, one JSON object per non-blank line.
pub(super) fn parse_mooncake<'a>(
    ctx: &Ctx<'a>,
    lines: impl Iterator<Item = (usize, &'a str)>,
    capacity: usize,
) -> Result<Trace> {
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
        // One id per 512-token block of the prompt, the last block partial (Mooncake's
        // FAST'25 traces: every row of both published files holds exactly ceil(input / 512)).
        // A row without ids carries no prefix information and shares nothing.
        let blocks = input.div_ceil(MOONCAKE_BLOCK_TOKENS) as usize;
        if !row.hash_ids.is_empty() && row.hash_ids.len() != blocks {
            return Err(ctx.err(
                no,
                format!(
                    "field `hash_ids` holds {} ids, but `input_length` {input} spans {blocks} blocks of {MOONCAKE_BLOCK_TOKENS} tokens (one id per block, the last partial); the ids must cover the prompt exactly",
                    row.hash_ids.len()
                ),
            ));
        }
        requests.push(TraceRequest {
            arrival_ns: clock.arrival(ctx, no, t)?,
            input_tokens: input,
            output_tokens: output,
            hash_ids: row.hash_ids,
            max_tokens: None,
            predicted_output: None,
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

#[cfg(test)]
mod tests {
    use super::super::testing::assert_rejects;

    #[test]
    fn reports_truncated_last_line() {
        assert_rejects(&[(
            "{\"timestamp\": 0, \"input_length\": 5, \"output_length\": 1, \"hash_ids\": [1]}\n\
             {\"timestamp\": 1, \"input_length\": 5, \"output_len",
            &["line 2", "looks truncated", "JSON"],
        )]);
    }

    #[test]
    fn rejects_a_timestamp_that_is_not_a_number() {
        assert_rejects(&[(
            "{\"timestamp\": \"0\", \"input_length\": 5, \"output_length\": 1}\n",
            &["line 1", "invalid type", "timestamp"],
        )]);
    }

    #[test]
    fn rejects_zero_or_negative_lengths() {
        assert_rejects(&[
            (
                "{\"timestamp\": 0, \"input_length\": 0, \"output_length\": 1}\n",
                &["line 1", "`input_length` is 0"],
            ),
            (
                "{\"timestamp\": 0, \"input_length\": 4, \"output_length\": -2}\n",
                &["line 1", "`output_length`", "`-2`", "negative"],
            ),
            (
                "{\"timestamp\": 0, \"input_length\": 4, \"output_length\": 0}\n",
                &["line 1", "output tokens must be >= 1"],
            ),
            (
                "{\"timestamp\": -5, \"input_length\": 4, \"output_length\": 1}\n",
                &["line 1", "`timestamp`", "negative"],
            ),
        ]);
    }

    #[test]
    fn rejects_hash_ids_that_do_not_cover_the_prompt() {
        // 1025 tokens are 3 blocks of 512 (the last holds 1 token): 2 or 4 ids are wrong.
        for ids in ["[1, 2]", "[1, 2, 3, 4]"] {
            let text =
                format!("{{\"timestamp\": 0, \"input_length\": 1025, \"output_length\": 1, \"hash_ids\": {ids}}}\n");
            assert_rejects(&[(text.as_str(), &["line 1", "hash_ids", "1025 spans 3 blocks of 512"])]);
        }
        let ok = "{\"timestamp\": 0, \"input_length\": 1025, \"output_length\": 1, \"hash_ids\": [1, 2, 3]}\n";
        assert_eq!(
            super::super::testing::parse(ok).unwrap().requests[0].hash_ids,
            vec![1, 2, 3]
        );
    }

    #[test]
    fn rejects_timestamps_that_go_backwards() {
        assert_rejects(&[(
            "{\"timestamp\": 9, \"input_length\": 4, \"output_length\": 1}\n\
             {\"timestamp\": 9, \"input_length\": 4, \"output_length\": 1}\n\
             {\"timestamp\": 3, \"input_length\": 4, \"output_length\": 1}\n",
            &["line 3", "3 ms", "9 ms", "on line 2", "sort"],
        )]);
    }
}
