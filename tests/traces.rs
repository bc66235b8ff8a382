//! The trace readers on the bundled public traces (`data/traces`, copies of `../shared/traces`):
//! their sizes, means and spans must match the published figures.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use codesim::workload::trace::{Trace, TraceFormat, parse_trace, read_trace};

/// The bundled trace `name` in the repository's `data/traces`.
fn trace_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/traces").join(name)
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
