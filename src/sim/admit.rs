//! What a request carries when it is admitted: its class, its output under the engine's
//! `max_tokens` limit, and its trace row's predicted output.

use super::Simulation;
use crate::workload::NewRequest;
use rand::RngExt;

impl Simulation {
    /// Draws a request's class by the classes' shares (no draw with a single class).
    pub(super) fn draw_class(&mut self) -> usize {
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
}
