use super::*;
use crate::workload::trace::TraceFormat;

const S: u64 = 1_000_000_000;

fn row(at_s: f64, input: u32, output: u32) -> TraceRequest {
    TraceRequest {
        arrival_ns: (at_s * 1e9) as u64,
        input_tokens: input,
        output_tokens: output,
        hash_ids: Vec::new(),
        max_tokens: None,
        predicted_output: None,
    }
}

fn trace(rows: Vec<TraceRequest>) -> Trace {
    Trace {
        requests: rows,
        format: TraceFormat::VidurCsv,
        block_tokens: None,
        skipped_rows: 0,
    }
}

fn arrivals_s(t: &Trace) -> Vec<f64> {
    t.requests.iter().map(|r| r.arrival_ns as f64 * 1e-9).collect()
}

/// Rows at 0, 1, ..., 9 s; the window [2.5 s, 2.5 + 4 s) keeps the rows at 3, 4, 5 and 6 s,
/// re-based to start at 0.
#[test]
fn a_window_keeps_the_rows_inside_it_rebased() {
    let t = trace((0..10).map(|i| row(i as f64, 10, 10)).collect());
    let w = window(&t, 2_500_000_000, Some(6_500_000_000));
    assert_eq!(arrivals_s(&w), vec![0.0, 1.0, 2.0, 3.0]);
    assert_eq!(window(&t, 9 * S, None).requests.len(), 1);
    assert!(window(&t, 10 * S, None).requests.is_empty());
}

/// Arrivals at 0, 1, 3 and 7 s: 3 gaps over 7 s, a mean rate of 3/7 per second. At 2 per
/// second the scale is 2 / (3/7) = 14/3, the last arrival 7 × 3/14 = 1.5 s, and 3 gaps over
/// 1.5 s are exactly 2 per second.
#[test]
fn scaling_to_a_rate_gives_that_mean_rate_over_the_rows() {
    let t = trace(vec![row(0.0, 1, 1), row(1.0, 1, 1), row(3.0, 1, 1), row(7.0, 1, 1)]);
    let scale = scale_for_rate(&t, 2.0).unwrap();
    assert!((scale - 14.0 / 3.0).abs() < 1e-12, "{scale}");
    let r = scaled(&t, scale);
    assert_eq!(r.requests[3].arrival_ns, 1_500_000_000);
    assert!((r.mean_rate_per_s() - 2.0).abs() < 1e-9);
    assert_eq!(scale_for_rate(&trace(vec![row(0.0, 1, 1)]), 2.0), None);
    assert_eq!(scale_for_rate(&trace(vec![row(0.0, 1, 1), row(0.0, 1, 1)]), 2.0), None);
}

/// A 100-token context: 50 + 40 and 30 + 30 fit; 90 + 20 and 10 + 95 do not (clipped: 80 + 20,
/// 5 + 95).
#[test]
fn over_context_rows_are_dropped_or_clipped_and_counted() {
    let t = trace(vec![
        row(0.0, 90, 20),
        row(1.0, 50, 40),
        row(2.0, 10, 95),
        row(3.0, 30, 30),
    ]);
    let (d, f) = fit_context(&t, 100, OverContext::Drop, None);
    assert_eq!(
        f,
        Fitted {
            changed: 2,
            first: Some(0)
        }
    );
    assert_eq!(arrivals_s(&d), vec![0.0, 2.0]);
    // With a cap of one row, the dropped first row is counted and the next row replayed.
    let (d, f) = fit_context(&t, 100, OverContext::Drop, Some(1));
    assert_eq!((d.requests.len(), f.changed), (1, 1));
    assert_eq!(d.requests[0].input_tokens, 50);
    let (c, f) = fit_context(&t, 100, OverContext::Clip, None);
    assert_eq!(f.changed, 2);
    let lens: Vec<(u32, u32)> = c.requests.iter().map(|r| (r.input_tokens, r.output_tokens)).collect();
    assert_eq!(lens, vec![(80, 20), (50, 40), (5, 95), (30, 30)]);
    // An output of 150 cannot fit beside even one prompt token: 99 + 1.
    let (c, _) = fit_context(&trace(vec![row(0.0, 10, 150)]), 100, OverContext::Clip, None);
    assert_eq!((c.requests[0].input_tokens, c.requests[0].output_tokens), (1, 99));
    let (e, f) = fit_context(&t, 100, OverContext::Error, None);
    assert_eq!((e, f.first), (t.clone(), Some(0)));
    // A row's max_tokens is what it may generate: 30 + max_tokens 80 needs 110.
    let mut m = row(0.0, 30, 10);
    m.max_tokens = Some(80);
    let (c, _) = fit_context(&trace(vec![m]), 100, OverContext::Clip, None);
    assert_eq!(c.requests[0].input_tokens, 20);
}

/// One block as long as the trace can only start at row 0: the trace itself. Shorter blocks
/// keep the row count and each row's gap to its predecessor, and depend on the seed only.
#[test]
fn a_block_bootstrap_keeps_rows_and_gaps_and_follows_the_seed() {
    let t = trace((0..40).map(|i| row((i * i) as f64 * 0.1, 10 + i, 5)).collect());
    assert_eq!(block_bootstrap(&t, 40, 1), t);
    let a = block_bootstrap(&t, 8, 1);
    assert_eq!(a, block_bootstrap(&t, 8, 1));
    assert_ne!(a, block_bootstrap(&t, 8, 2));
    assert_eq!(a.requests.len(), 40);
    assert_eq!(a.requests[0].arrival_ns, 0);
    for w in a.requests.windows(2) {
        let i = (w[1].input_tokens - 10) as usize;
        let gap = w[1].arrival_ns - w[0].arrival_ns;
        let own = if i == 0 {
            t.requests[39].arrival_ns / 39
        } else {
            t.requests[i].arrival_ns - t.requests[i - 1].arrival_ns
        };
        assert_eq!(gap, own, "row {i}");
    }
}
