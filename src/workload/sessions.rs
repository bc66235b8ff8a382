//! Multi-turn and agentic sessions (`[workload.sessions]`, issue 22 item 6): sessions start
//! open-loop (the rate arrival's times); each has a number of turns; turn n sends the session's
//! history (every earlier turn's new tokens and every earlier output) plus its own new tokens, so
//! the context grows turn by turn; the next turn is sent only once the last has completed, plus a
//! think time (a human reading and typing: seconds; an agent's tool call: milliseconds).
//!
//! Prompts as block hashes repeat the history, in `[workload.prefix]`'s scheme (block i of session
//! s hashes `(s, i)`): a full block of the history is the same block in every later turn, so the
//! prefix cache and prefix-affinity routing reuse it. Only full blocks are shared (as vLLM caches
//! only full blocks); a prompt's partial last block is its own. A turn whose prompt plus its
//! `max_tokens` would not fit the engine's max_model_len ends its session (a client cannot send
//! it; the turns it had left are never sent).
//!
//! Each session draws from its own random stream (`rng::Stream::Session`), so its turns, lengths
//! and think times do not depend on the order of events.

use crate::error::{Error, Result};
use crate::hash::mix64;
use crate::workload::LengthSampler;
use rand::RngExt;
use rand::rngs::ChaCha8Rng;
use rand_distr::{Distribution, Exp1, StandardNormal};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;

/// `[workload.sessions]` as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionSpec {
    /// Turns per session.
    pub turns: CountSpec,
    /// New tokens of every turn after the first (a user message, a tool result); the first turn's
    /// are `workload.input`'s. Default: `workload.input`.
    #[serde(default)]
    pub new_tokens: Option<crate::workload::LengthSpec>,
    /// The pause between a turn's completion and the next turn's send.
    pub think: DelaySpec,
}

/// A count (turns per session).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum CountSpec {
    Fixed {
        n: u32,
    },
    Uniform {
        min: u32,
        max: u32,
    },
    /// P(n) = (1 − p)^(n−1) p with p = 1 / mean (a constant chance to stop after each turn), cut at
    /// `max`.
    Geometric {
        mean: f64,
        max: u32,
    },
}

/// A delay, milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum DelaySpec {
    Fixed {
        ms: f64,
    },
    Exponential {
        mean_ms: f64,
    },
    /// Log-normal of the given mean and coefficient of variation.
    Lognormal {
        mean_ms: f64,
        cv: f64,
    },
}

/// The most turns one session may have (and so the longest conversation simulated).
pub const MAX_TURNS: u32 = 100_000;
/// The longest delay accepted: a day.
pub const MAX_DELAY_MS: f64 = 86_400e3;

impl CountSpec {
    pub fn max(&self) -> u32 {
        match *self {
            CountSpec::Fixed { n } => n,
            CountSpec::Uniform { max, .. } | CountSpec::Geometric { max, .. } => max,
        }
    }

    pub fn check(&self, path: &Path, key: &str) -> Result<()> {
        let bad = |k: &str, v: String| {
            Err(Error::input(
                path,
                format!("{key}.{k}"),
                format!("is {v}; accepted: 1 to {MAX_TURNS} turns"),
            ))
        };
        let (min, max) = match *self {
            CountSpec::Fixed { n } => (n, n),
            CountSpec::Uniform { min, max } => (min, max),
            CountSpec::Geometric { mean, max } => {
                if !(mean.is_finite() && mean >= 1.0 && mean <= max as f64) {
                    return Err(Error::input(
                        path,
                        format!("{key}.mean"),
                        format!("is {}; accepted: 1 to max ({max})", crate::error::given(mean)),
                    ));
                }
                (1, max)
            }
        };
        if min < 1 {
            return bad(
                if matches!(self, CountSpec::Fixed { .. }) {
                    "n"
                } else {
                    "min"
                },
                min.to_string(),
            );
        }
        if max > MAX_TURNS || max < min {
            return bad("max", format!("{max} (min {min})"));
        }
        Ok(())
    }

    pub fn sample(&self, rng: &mut ChaCha8Rng) -> u32 {
        match *self {
            CountSpec::Fixed { n } => n,
            CountSpec::Uniform { min, max } => rng.random_range(min..=max),
            CountSpec::Geometric { mean, max } => {
                if mean <= 1.0 {
                    return 1;
                }
                // Inversion: 1 + ⌊ln U / ln(1 − p)⌋, U in (0, 1].
                let u: f64 = 1.0 - rng.random::<f64>();
                let k = 1.0 + (u.ln() / (1.0 - 1.0 / mean).ln()).floor();
                k.min(max as f64) as u32
            }
        }
    }
}

impl DelaySpec {
    pub fn check(&self, path: &Path, key: &str) -> Result<()> {
        let (k, v) = match *self {
            DelaySpec::Fixed { ms } => ("ms", ms),
            DelaySpec::Exponential { mean_ms } => ("mean_ms", mean_ms),
            DelaySpec::Lognormal { mean_ms, cv } => {
                if !(cv.is_finite() && cv > 0.0 && cv <= 100.0) {
                    return Err(Error::input(
                        path,
                        format!("{key}.cv"),
                        format!("is {}; accepted: > 0, at most 100", crate::error::given(cv)),
                    ));
                }
                ("mean_ms", mean_ms)
            }
        };
        if !(v.is_finite() && (0.0..=MAX_DELAY_MS).contains(&v)) {
            return Err(Error::input(
                path,
                format!("{key}.{k}"),
                format!(
                    "is {}; accepted: milliseconds from 0 to {MAX_DELAY_MS:e} (a day)",
                    crate::error::given(v)
                ),
            ));
        }
        Ok(())
    }

    /// The mean delay, ms.
    pub fn mean_ms(&self) -> f64 {
        match *self {
            DelaySpec::Fixed { ms } => ms,
            DelaySpec::Exponential { mean_ms } | DelaySpec::Lognormal { mean_ms, .. } => mean_ms,
        }
    }

    /// One delay, ns.
    pub fn sample_ns(&self, rng: &mut ChaCha8Rng) -> u64 {
        let ms = match *self {
            DelaySpec::Fixed { ms } => ms,
            DelaySpec::Exponential { mean_ms } => {
                let e: f64 = Exp1.sample(rng);
                e * mean_ms
            }
            DelaySpec::Lognormal { mean_ms, cv } => {
                if mean_ms <= 0.0 {
                    return 0;
                }
                let (mu, sigma) = super::dist::lognormal_params(mean_ms, cv);
                let z: f64 = StandardNormal.sample(rng);
                (mu + sigma * z).exp()
            }
        };
        // A day at most (the exponential's and log-normal's far tails stay on the clock).
        (ms.min(MAX_DELAY_MS) * 1e6).round() as u64
    }
}

/// The next turn of a session, or why there is none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turn {
    /// Send a prompt of `prompt` tokens (of which `history` repeat the session so far) with a
    /// true output of `output` tokens.
    Send { prompt: u32, history: u32, output: u32 },
    /// The prompt would not fit the context: the session ends, `unsent` turns never sent.
    Ended { unsent: u32 },
}

/// What the sessions of a run did (for the summary).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SessionCounts {
    pub started: u64,
    /// Sessions that sent and completed every turn.
    pub completed: u64,
    /// Sessions ended because a turn's prompt would not fit the context.
    pub ended_by_context: u64,
    /// Sessions ended because a turn was dropped or rejected.
    pub ended_turned_away: u64,
    pub turns_sent: u64,
    pub turns_completed: u64,
    /// Summed durations of the completed sessions, first send to last completion, ns.
    pub completed_duration_ns: u128,
}

#[derive(Debug)]
struct Active {
    rng: ChaCha8Rng,
    turns: u32,
    sent: u32,
    /// Tokens of the session so far: every prompt's new tokens and every output.
    history: u32,
    /// The turn in flight: its prompt.
    prompt: u32,
    started_ns: u64,
}

/// The sessions of a run: who is in which turn, and their prompts' block hashes.
#[derive(Debug)]
pub struct Sessions {
    spec: SessionSpec,
    first: LengthSampler,
    later: LengthSampler,
    output: LengthSampler,
    seed: u64,
    block_tokens: u32,
    active: HashMap<u32, Active>,
    next_id: u32,
    /// Planned turns of every session, drawn up front (the run's request count).
    total_turns: u64,
    partial: u64,
    pub counts: SessionCounts,
    /// The turn that just completed, (session, generated tokens), until its session hears of it.
    pub completed_turn: Option<(u32, u32)>,
}

const SESSION_SALT: u64 = 0x5E55_2000_0000_0000;
const PARTIAL_SALT: u64 = 0x0A1C_5E55_0000_0000;

impl Sessions {
    /// `sessions` sessions; `first`/`later` draw a turn's new tokens (first turn, later turns).
    pub fn new(
        spec: &SessionSpec,
        first: LengthSampler,
        later: LengthSampler,
        output: LengthSampler,
        sessions: u64,
        seed: u64,
        block_tokens: u32,
    ) -> Sessions {
        let total_turns = (0..sessions.min(u32::MAX as u64) as u32)
            .map(|s| spec.turns.sample(&mut crate::rng::Stream::Session(s).rng(seed)) as u64)
            .sum();
        Sessions {
            spec: spec.clone(),
            first,
            later,
            output,
            seed,
            block_tokens: block_tokens.max(1),
            active: HashMap::new(),
            next_id: 0,
            total_turns,
            partial: 0,
            counts: SessionCounts::default(),
            completed_turn: None,
        }
    }

    /// Every turn of every session, if each runs to its end.
    pub fn total_turns(&self) -> u64 {
        self.total_turns
    }

    /// A new session starts at `now_ns`: its id.
    pub fn start(&mut self, now_ns: u64) -> u32 {
        let s = self.next_id;
        self.next_id += 1;
        let mut rng = crate::rng::Stream::Session(s).rng(self.seed);
        let turns = self.spec.turns.sample(&mut rng);
        self.active.insert(
            s,
            Active {
                rng,
                turns,
                sent: 0,
                history: 0,
                prompt: 0,
                started_ns: now_ns,
            },
        );
        self.counts.started += 1;
        s
    }

    /// Session `s`'s next turn: its prompt (the history and new tokens) and true output, or its
    /// end when the prompt plus `max_tokens` (none: one token) would pass `max_model_len`.
    pub fn next_turn(&mut self, s: u32, max_tokens: Option<u32>, max_model_len: u32) -> Turn {
        let Some(a) = self.active.get_mut(&s) else {
            return Turn::Ended { unsent: 0 };
        };
        let sampler = if a.sent == 0 { &self.first } else { &self.later };
        let row_u: f64 = a.rng.random();
        let new = sampler.sample(&mut a.rng, row_u).max(1);
        let output = self.output.sample(&mut a.rng, row_u).max(1);
        let prompt = a.history as u64 + new as u64;
        if prompt + max_tokens.unwrap_or(1) as u64 > max_model_len as u64 {
            let unsent = a.turns - a.sent;
            self.active.remove(&s);
            self.counts.ended_by_context += 1;
            return Turn::Ended { unsent };
        }
        a.sent += 1;
        a.prompt = prompt as u32;
        self.counts.turns_sent += 1;
        Turn::Send {
            prompt: a.prompt,
            history: a.history,
            output,
        }
    }

    /// Session `s`'s turn completed at `now_ns` with `generated` output tokens: the delay before
    /// its next turn (ns), or `None` when that was its last.
    pub fn turn_done(&mut self, s: u32, generated: u32, now_ns: u64) -> Option<u64> {
        let a = self.active.get_mut(&s)?;
        self.counts.turns_completed += 1;
        a.history = a.prompt.saturating_add(generated);
        if a.sent < a.turns {
            return Some(self.spec.think.sample_ns(&mut a.rng));
        }
        self.counts.completed += 1;
        self.counts.completed_duration_ns += now_ns.saturating_sub(a.started_ns) as u128;
        self.active.remove(&s);
        None
    }

    /// Session `s`'s turn was dropped or rejected: the session ends; the turns it had left.
    pub fn turned_away(&mut self, s: u32) -> u32 {
        match self.active.remove(&s) {
            Some(a) => {
                self.counts.ended_turned_away += 1;
                a.turns - a.sent
            }
            None => 0,
        }
    }

    /// The prefix key of session `s` (its first block): prefix-affinity routing keeps a
    /// session on one replica.
    pub fn key(&self, s: u32) -> u64 {
        block_hash(s, 0)
    }

    /// Block hashes of a `prompt`-token prompt of session `s`: its full blocks are the session's
    /// own, repeated by every later turn; a partial last block is unique.
    pub fn prompt_blocks(&mut self, s: u32, prompt: u32) -> Vec<u64> {
        let full = prompt / self.block_tokens;
        let mut b = self.cached_blocks(s, prompt);
        if prompt % self.block_tokens != 0 {
            self.partial += 1;
            b.push(mix64(PARTIAL_SALT ^ (self.partial << 20) ^ full as u64));
        }
        b
    }

    /// Block hashes of the full blocks of the first `tokens` tokens of session `s` (what a
    /// completed turn leaves cached: its prompt and output).
    pub fn cached_blocks(&self, s: u32, tokens: u32) -> Vec<u64> {
        (0..tokens / self.block_tokens).map(|i| block_hash(s, i)).collect()
    }
}

fn block_hash(s: u32, i: u32) -> u64 {
    mix64(SESSION_SALT ^ ((s as u64) << 24) ^ i as u64)
}

#[cfg(test)]
mod tests;
