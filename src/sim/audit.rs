//! The invariant audit (`RunOptions::audit`). After every event: time has not moved backwards,
//! every replica's KV accounting matches its running sequences (`Replica::audit`), and the
//! requests in the system are the replicas' outstanding ones. At every completion: the request's
//! timestamps are ordered (arrival ≤ scheduled ≤ first token ≤ completion) and it produced the
//! tokens it asked for. At the end: every replica drained, requests and tokens balance. Violations
//! are recorded, not panicked on, so that a test can show the scenario that broke them.

use crate::engine::SimTime;
use crate::metrics::Counts;
use crate::serve::replica::Replica;
use crate::serve::{NO_TIME, ReqState};

/// Violations kept in full; later ones are only counted.
const MAX_RECORDED: usize = 32;

#[derive(Debug, Default)]
pub struct Audit {
    last_ns: u64,
    /// Output tokens asked by the requests that completed.
    asked_completed: u64,
    violations: Vec<String>,
    unrecorded: u64,
}

impl Audit {
    fn record(&mut self, at: SimTime, what: String) {
        if self.violations.len() < MAX_RECORDED {
            self.violations.push(format!("t = {at}: {what}"));
        } else {
            self.unrecorded += 1;
        }
    }

    /// After the event at `now` has been handled.
    pub fn event(&mut self, now: SimTime, replicas: &[Replica], reqs: &[ReqState], in_system: u64) {
        if now.0 < self.last_ns {
            self.record(
                now,
                format!("event popped before the previous one ({} ns)", self.last_ns),
            );
        }
        self.last_ns = self.last_ns.max(now.0);
        let mut outstanding = 0u64;
        for r in replicas {
            outstanding += r.load().outstanding_requests as u64;
            if let Err(e) = r.audit(reqs) {
                self.record(now, e);
            }
        }
        if outstanding != in_system {
            self.record(
                now,
                format!("{in_system} requests in the system, the replicas hold {outstanding}"),
            );
        }
    }

    /// A request completes at `now`.
    pub fn completion(&mut self, now: SimTime, r: &ReqState) {
        self.asked_completed += r.output as u64;
        let t = r.times();
        let ordered = t.scheduled != NO_TIME
            && t.first_token != NO_TIME
            && r.arrival <= t.scheduled
            && t.scheduled <= t.first_token
            && t.first_token <= now;
        if !ordered {
            self.record(
                now,
                format!(
                    "request {}: arrival {} scheduled {} first token {} completion {now} out of order",
                    r.seq, r.arrival.0, t.scheduled.0, t.first_token.0
                ),
            );
        }
        if r.progress().generated != r.output {
            self.record(
                now,
                format!(
                    "request {} completed with {} of {} tokens",
                    r.seq,
                    r.progress().generated,
                    r.output
                ),
            );
        }
        let l = &r.ledger;
        let (ttft, e2e) = (t.first_token.since(r.arrival), now.since(r.arrival));
        if l.ttft.total() != ttft || l.parts.total() != e2e || l.mark != now {
            self.record(
                now,
                format!(
                    "request {}: attribution adds up to {} ns of TTFT {} ns and {} ns of E2E {} ns",
                    r.seq,
                    l.ttft.total(),
                    ttft,
                    l.parts.total(),
                    e2e
                ),
            );
        }
    }

    /// At the end of the run: the violations found, in order.
    pub fn finish(
        mut self,
        now: SimTime,
        replicas: &[Replica],
        counts: &Counts,
        in_system: u64,
        late_events: u64,
        cut: bool,
    ) -> Vec<String> {
        if late_events > 0 {
            self.record(now, format!("{late_events} events scheduled in the past"));
        }
        if cut {
            // Stopped early (horizon or backlog): requests are still in flight by design; only
            // what cannot depend on that is checked.
            if counts.arrived < counts.completed + counts.turned_away() {
                self.record(now, format!("more requests ended than arrived: {counts:?}"));
            }
            let stepped: u64 = replicas.iter().map(|r| r.stats.output_tokens).sum();
            if stepped < counts.output_tokens_produced + counts.cancelled_output_tokens + counts.lost_output_tokens {
                self.record(
                    now,
                    format!("steps produced {stepped} output tokens, fewer than completions counted"),
                );
            }
            return self.violations;
        }
        for r in replicas {
            if let Err(e) = r.audit_drained() {
                self.record(now, e);
            }
        }
        if in_system != 0 {
            self.record(now, format!("{in_system} requests never completed"));
        }
        if counts.arrived != counts.completed + counts.turned_away() {
            self.record(
                now,
                format!(
                    "{} arrived but {} completed + {} dropped + {} rejected + {} shed + {} timed out + {} cancelled + {} failed",
                    counts.arrived,
                    counts.completed,
                    counts.dropped,
                    counts.rejected,
                    counts.shed,
                    counts.timed_out,
                    counts.cancelled,
                    counts.failed
                ),
            );
        }
        // Tokens produced for a request its client then cancelled, or on a replica then lost,
        // were produced, never delivered.
        let stepped: u64 = replicas.iter().map(|r| r.stats.output_tokens).sum();
        let cancelled = counts.cancelled_output_tokens + counts.lost_output_tokens;
        if stepped != counts.output_tokens_produced + cancelled || stepped != self.asked_completed + cancelled {
            self.record(
                now,
                format!(
                    "steps produced {stepped} output tokens, completions counted {}, completed requests asked {}, cancelled ones had {cancelled}",
                    counts.output_tokens_produced, self.asked_completed
                ),
            );
        }
        if self.unrecorded > 0 {
            let n = self.unrecorded;
            self.violations.push(format!("… and {n} more violations"));
        }
        self.violations
    }
}
