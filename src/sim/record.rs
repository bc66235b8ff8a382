//! What a run measures as requests finish: the latency distributions (run-wide and per class),
//! SLO attainment per class, the request and token counts, and one row per request when asked.

use crate::engine::SimTime;
use crate::metrics::attribution::{Part, Parts, Slowest};
use crate::metrics::slo::Slo;
use crate::metrics::{Counts, RequestRow, Samples, WeightedSamples};
use crate::serve::{NO_TIME, ReqState};

#[derive(Debug, Clone, Default)]
pub struct Recorder {
    pub ttft: Samples,
    pub tpot: Samples,
    pub e2e: Samples,
    pub queue_delay: Samples,
    pub itl: WeightedSamples,
    pub kv_transfer: Samples,
    /// Per workload class, when there is more than one (with one, its distributions are the
    /// run's: not kept twice).
    pub class_ttft: Vec<Samples>,
    pub class_tpot: Vec<Samples>,
    pub class_e2e: Vec<Samples>,
    /// Completed requests of each class that met its SLO.
    pub class_met: Vec<u64>,
    /// Output tokens of each class's completed requests.
    pub class_output_tokens: Vec<u64>,
    pub counts: Counts,
    pub rows: Vec<RequestRow>,
    pub last_completion: SimTime,
    /// The slowest requests by TTFT and by E2E, with their attribution.
    pub slowest_ttft: Slowest,
    pub slowest_e2e: Slowest,
    keep_requests: bool,
    per_class: bool,
}

impl Recorder {
    pub fn new(classes: usize, keep_requests: bool, requests: u64) -> Recorder {
        let n = classes.max(1);
        Recorder {
            slowest_ttft: Slowest::new(requests),
            slowest_e2e: Slowest::new(requests),
            class_ttft: vec![Samples::default(); n],
            class_tpot: vec![Samples::default(); n],
            class_e2e: vec![Samples::default(); n],
            class_met: vec![0; n],
            class_output_tokens: vec![0; n],
            keep_requests,
            per_class: classes > 1,
            ..Recorder::default()
        }
    }

    /// Request `r` completed at `now`; `slo` is its class's, if any. `back_ns`: the return half
    /// of the client's network round trip (`workload.client_rtt`), after the first token and
    /// after the last: TTFT and E2E are the client's, their `network` part includes it.
    pub fn completed(&mut self, now: SimTime, r: &ReqState, slo: Option<&Slo>, back_ns: u64) {
        // Prompt tokens count once their request is served: a dropped or unfinished request's
        // prompt was never delivered (a horizon that cuts a prefill must not count it).
        self.counts.input_tokens += r.input as u64;
        let ttft_ns = r.times().first_token.since(r.arrival) + back_ns;
        let e2e_ns = now.since(r.arrival) + back_ns;
        let ms = |ns: u64| ns as f64 * 1e-6;
        let tpot_ms = if r.output > 1 {
            ms(now.since(r.times().first_token)) / (r.output - 1) as f64
        } else {
            f64::NAN
        };
        self.ttft.push(ms(ttft_ns));
        self.e2e.push(ms(e2e_ns));
        if r.output > 1 {
            self.tpot.push(tpot_ms);
        }
        let c = r.class as usize;
        self.class_output_tokens[c] += r.progress().generated as u64;
        if self.per_class {
            self.class_ttft[c].push(ms(ttft_ns));
            self.class_e2e[c].push(ms(e2e_ns));
            if r.output > 1 {
                self.class_tpot[c].push(tpot_ms);
            }
        }
        if let Some(slo) = slo {
            // TPOT is NaN for a one-token request, which no TPOT target judges.
            if slo.met_by_request(ms(ttft_ns), tpot_ms, ms(e2e_ns)) {
                self.class_met[c] += 1;
            }
        }
        let queue_ns = if r.times().scheduled == NO_TIME {
            0
        } else {
            r.times().scheduled.since(r.arrival)
        };
        self.queue_delay.push(ms(queue_ns));
        self.counts.completed += 1;
        self.counts.output_tokens_produced += r.progress().generated as u64;
        self.counts.preempted += r.progress().preemptions as u64;
        self.last_completion = self.last_completion.max(now);
        let replica = r.replica().0;
        self.slowest_ttft
            .push(ttft_ns, r.seq, replica, r.class, || client_parts(r, back_ns).0);
        self.slowest_e2e
            .push(e2e_ns, r.seq, replica, r.class, || client_parts(r, back_ns).1);
        if self.keep_requests {
            let (ttft_parts, e2e_parts) = client_parts(r, back_ns);
            self.rows.push(RequestRow {
                id: r.seq,
                replica: r.replica().0,
                arrival_s: r.arrival.as_secs_f64(),
                input_tokens: r.input,
                output_tokens: r.output,
                queue_ms: ms(queue_ns),
                ttft_ms: ms(ttft_ns),
                tpot_ms,
                e2e_ms: ms(e2e_ns),
                preemptions: r.progress().preemptions,
                class: r.class,
                ttft_ns,
                e2e_ns,
                ttft_parts,
                e2e_parts,
            });
        }
    }
}

/// The request's TTFT and E2E parts as its client sees them: the server's, plus the return half
/// of the client's round trip in `network` (so they still add up to the client's TTFT and E2E).
fn client_parts(r: &ReqState, back_ns: u64) -> (Parts, Parts) {
    let (mut ttft, mut e2e) = (r.ledger.ttft, r.ledger.parts);
    if back_ns > 0 {
        ttft.add(Part::Network, back_ns);
        e2e.add(Part::Network, back_ns);
    }
    (ttft, e2e)
}
