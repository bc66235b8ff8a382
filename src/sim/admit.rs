//! What a request carries when it is admitted: its class, its output under the engine's
//! `max_tokens` limit, and its trace row's predicted output; and what a closed-loop client sends
//! when its request ends.

use super::{Event, Simulation};
use crate::engine::SimTime;
use crate::serve::{ReqState, RequestId};
use crate::workload::{CapMode, NewRequest};
use rand::RngExt;

impl Simulation {
    /// A new request in a free slot of the request table (renewed in place), or in a new one.
    pub(super) fn insert_request(
        &mut self,
        seq: u64,
        arrival: SimTime,
        input: u32,
        output: u32,
        client: Option<u32>,
    ) -> RequestId {
        match self.free_slots.pop() {
            Some(slot) => {
                self.reqs[slot as usize].renew(seq, arrival, input, output, client);
                RequestId(slot)
            }
            None => {
                self.reqs.push(ReqState::new(seq, arrival, input, output, client));
                RequestId(self.reqs.len() as u32 - 1)
            }
        }
    }

    /// Draws a request's class by the classes' shares (no draw with a single class).
    pub(super) fn draw_class(&mut self) -> usize {
        if let Some(tenant) = self.tenant_class() {
            return tenant;
        }
        let classes = &self.sc.classes;
        if classes.len() <= 1 {
            return 0;
        }
        let u: f64 = self.class_rng.random();
        let mut acc = 0.0;
        for (i, c) in classes.iter().enumerate() {
            acc += c.share;
            if u < acc {
                return i;
            }
        }
        classes.len() - 1
    }

    /// The engine's limit on a request's output, and its output under that limit: the client's
    /// `max_tokens`, or the engine's default (max_model_len − prompt); an output longer than
    /// the limit stops there (finish reason "length").
    pub(super) fn limit_output(&mut self, nr: &NewRequest) -> (u32, u32) {
        let max_tokens = match nr.max_tokens {
            Some(m) => m,
            None => {
                self.default_max_tokens += 1;
                self.max_model_len.saturating_sub(nr.input_tokens).max(1)
            }
        };
        if nr.output_tokens > max_tokens {
            self.truncated += 1;
        }
        (nr.output_tokens.min(max_tokens), max_tokens)
    }

    /// The `predicted_output` of the request's trace row, if it came from a trace that has one
    /// (a user's prediction, read only by `serving.sjf_predictor = "trace"`).
    pub(super) fn predicted_output(&self, nr: &NewRequest) -> Option<u32> {
        let (row, trace) = (nr.trace_row?, self.sc.trace.as_ref()?);
        trace.requests.get(row as usize)?.predicted_output
    }

    /// A closed-loop client sends its next request.
    pub(super) fn client_send(&mut self, now: SimTime, c: u32) {
        if self.arrivals_left > 0 {
            let (input_tokens, output_tokens, max_tokens) = self.generator.lengths();
            let nr = NewRequest {
                arrival_ns: now.0,
                input_tokens,
                output_tokens,
                trace_row: None,
                max_tokens,
            };
            self.admit(now, &nr, Some(c), None);
        }
    }

    /// The saturation probe reads a run cut short as if the arrivals ended at the cut.
    pub(super) fn sample_at_cut(&mut self) {
        if let Some((t, _)) = self.cut {
            let in_system = self.in_system + self.front.in_flight();
            self.last_arrival_sample = (t.0, in_system, self.rec.counts.arrived, self.rec.counts.completed);
            self.waiting_at_last_arrival =
                self.cluster.replicas.iter().map(|r| r.queue_len() as u64).sum::<u64>() + self.front.in_flight();
        }
    }

    /// Client `client`'s request ended (completed, dropped or rejected): its next sends.
    pub(super) fn client_next(&mut self, now: SimTime, client: u32) {
        if self.sessions.is_some() {
            return self.session_turn_ended(now, client);
        }
        if self.arrivals_left == 0 {
            return;
        }
        if let Some(closed) = self.closed.as_mut() {
            closed.ended(client, now, &mut self.sends);
            self.push_sends();
        } else if let Some(cap) = self.cap.as_mut() {
            let Some(nr) = cap.release(client, now) else {
                return;
            };
            let paused = cap.mode() == CapMode::Paused;
            let prefix = self.prefix_of(&nr);
            self.admit(now, &nr, Some(client), prefix);
            if paused {
                // The interval process resumes from this send.
                self.generator.delay(now.0.saturating_sub(nr.arrival_ns));
                self.schedule_next_arrival();
            }
        }
    }

    pub(super) fn push_sends(&mut self) {
        for (c, t) in self.sends.drain(..) {
            self.queue.push(t, Event::ClientSend(c));
        }
    }
}
