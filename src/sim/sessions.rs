//! Multi-turn sessions in the event loop (`[workload.sessions]`, `workload/sessions.rs`): the
//! rate arrival starts sessions; each turn is a request whose client is its session; a turn's
//! completion schedules the next after the think time; a turn dropped or rejected, or one whose
//! prompt would not fit the context, ends its session and its unsent turns leave the run's count.
//!
//! A completed turn leaves its prompt's and output's full blocks in its replica's prefix cache
//! (vLLM caches the blocks its decode filled as well as the prompt's), so the next turn finds
//! the whole history there. That insertion is not a lookup: the cache's lookup and hit counters
//! stay as they were; only its evictions count.

use super::{Event, Simulation};
use crate::engine::SimTime;
use crate::metrics::sessions::SessionsResult;
use crate::scenario::Scenario;
use crate::serve::{ReplicaId, RequestId};
use crate::workload::sessions::{Sessions, Turn};
use crate::workload::{LengthSampler, NewRequest};

/// The sessions of a run, if `[workload.sessions]` is set: `sc.requests` sessions.
pub(super) fn build(sc: &Scenario) -> Option<Sessions> {
    let spec = sc.sessions.as_ref()?;
    let first = LengthSampler::new(&sc.input, sc.input_column.clone());
    let later = match &spec.new_tokens {
        Some(l) => LengthSampler::new(l, None),
        None => first.clone(),
    };
    let output = LengthSampler::new(&sc.output, sc.output_column.clone());
    Some(Sessions::new(
        spec,
        first,
        later,
        output,
        sc.requests,
        sc.seed,
        super::features::cache_block_tokens(sc),
    ))
}

impl Simulation {
    /// The rate arrival starts a session now: its first turn is sent.
    pub(super) fn session_start(&mut self, now: SimTime) {
        let Some(s) = self.sessions.as_mut() else {
            return;
        };
        let id = s.start(now.0);
        self.session_send(now, id);
    }

    /// Session `id` sends its next turn now, or ends when the prompt would not fit.
    pub(super) fn session_send(&mut self, now: SimTime, id: u32) {
        let max_tokens = self.sc.max_tokens;
        let Some(s) = self.sessions.as_mut() else {
            return;
        };
        match s.next_turn(id, max_tokens, self.max_model_len) {
            Turn::Ended { unsent } => self.cancel_turns(now, unsent),
            Turn::Send { prompt, output, .. } => {
                let key = s.key(id);
                if self.sc.features.prefix_cache.is_some() {
                    let blocks = s.prompt_blocks(id, prompt);
                    self.prompt_blocks
                        .entry((Some(key), prompt))
                        .or_default()
                        .push_back(blocks.into());
                }
                let nr = NewRequest {
                    arrival_ns: now.0,
                    input_tokens: prompt,
                    output_tokens: output,
                    trace_row: None,
                    max_tokens,
                };
                self.admit(now, &nr, Some(id), Some(key));
            }
        }
    }

    /// Request `id` of a session completes on replica `rid`: its output length is kept for the
    /// history, and its prompt's and output's full blocks stay in the replica's prefix cache.
    pub(super) fn session_completing(&mut self, rid: ReplicaId, id: RequestId) {
        let r = &self.reqs[id.index()];
        let (Some(c), Some(s)) = (r.client, self.sessions.as_mut()) else {
            return;
        };
        let generated = r.progress().generated;
        s.completed_turn = Some((c, generated));
        if let Some(cache) = self.cluster.replicas[rid.index()].prefix.as_mut() {
            let blocks = s.cached_blocks(c, r.input.saturating_add(generated));
            let before = cache.stats;
            cache.admit(&blocks);
            cache.release(&blocks);
            cache.stats = crate::serve::prefix_cache::PrefixCacheStats {
                evicted_blocks: cache.stats.evicted_blocks,
                ..before
            };
        }
    }

    /// Session `id`'s turn ended: completed (the next turn after the think time, or the session
    /// done), or turned away (the session ends).
    pub(super) fn session_turn_ended(&mut self, now: SimTime, id: u32) {
        let Some(s) = self.sessions.as_mut() else {
            return;
        };
        match s.completed_turn.take() {
            Some((c, generated)) if c == id => {
                if let Some(think_ns) = s.turn_done(id, generated, now.0) {
                    self.queue.push(now.after(think_ns), Event::ClientSend(id));
                }
            }
            _ => {
                let unsent = s.turned_away(id);
                self.cancel_turns(now, unsent);
            }
        }
    }

    /// `n` planned turns will never be sent: they leave the run's request count.
    fn cancel_turns(&mut self, now: SimTime, n: u32) {
        if n == 0 {
            return;
        }
        self.arrivals_left -= n as u64;
        self.sc.requests -= n as u64;
        if self.arrivals_left == 0 {
            let in_system = self.in_system + self.front.in_flight();
            self.last_arrival_sample = (now.0, in_system, self.rec.counts.arrived, self.rec.counts.completed);
            self.waiting_at_last_arrival =
                self.cluster.replicas.iter().map(|r| r.queue_len() as u64).sum::<u64>() + self.front.in_flight();
        }
    }

    /// The sessions' summary.
    pub(super) fn sessions_result(&self) -> Option<SessionsResult> {
        let c = self.sessions.as_ref()?.counts;
        Some(SessionsResult {
            started: c.started,
            completed: c.completed,
            ended_by_context: c.ended_by_context,
            ended_turned_away: c.ended_turned_away,
            turns_sent: c.turns_sent,
            turns_completed: c.turns_completed,
            mean_turns: if c.started > 0 {
                c.turns_sent as f64 / c.started as f64
            } else {
                0.0
            },
            mean_duration_s: if c.completed > 0 {
                c.completed_duration_ns as f64 * 1e-9 / c.completed as f64
            } else {
                0.0
            },
        })
    }

    /// The sessions' run note.
    pub(super) fn sessions_note(&self) -> Option<String> {
        let r = self.sessions_result()?;
        Some(format!(
            "sessions: {} started, {} completed every turn, {} ended because a turn's prompt + max_tokens would pass the {}-token max_model_len, {} ended by a dropped or rejected turn; {} turns sent ({:.2} per session); completed sessions lasted {:.3} s on average (first send to last completion)",
            r.started,
            r.completed,
            r.ended_by_context,
            self.max_model_len,
            r.ended_turned_away,
            r.turns_sent,
            r.mean_turns,
            r.mean_duration_s
        ))
    }
}
