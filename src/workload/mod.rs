//! Where requests come from: arrival processes, length distributions and trace replay.
//!
//! Arrival gaps and lengths draw from two independent random streams, so that changing the rate
//! leaves the sampled lengths unchanged and scales every gap by the same factor (common random
//! numbers: a higher rate is the same traffic, compressed in time).

pub mod client;
pub mod dist;
pub mod profile;
pub mod sessions;
pub mod trace;

use rand::RngExt;
use rand::rngs::ChaCha8Rng;
use rand_distr::{Distribution, Exp1, Gamma, StandardNormal};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

pub use client::{CapMode, Client, ClosedLoop, ConcurrencyCap, RateKind, RateSchedule};
pub use trace::{Trace, TraceFormat, TraceRequest};

/// How requests arrive. `client` names the benchmark client that sends them ([`Client`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum ArrivalSpec {
    /// Open loop, exponential gaps.
    Poisson {
        rate_per_s: f64,
        #[serde(default, skip_serializing_if = "is_ideal")]
        client: Client,
        /// The client's cap on requests in flight (vllm bench's `--max-concurrency`, AIPerf's
        /// `--concurrency` with a rate); a request due beyond it waits in the client.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_concurrency: Option<u32>,
    },
    /// Open loop, Gamma gaps with coefficient of variation `cv` (cv = 1 is Poisson; > 1 bursty).
    Gamma {
        rate_per_s: f64,
        cv: f64,
        #[serde(default, skip_serializing_if = "is_ideal")]
        client: Client,
        /// The client's cap on requests in flight (vllm bench's `--max-concurrency`, AIPerf's
        /// `--concurrency` with a rate); a request due beyond it waits in the client.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_concurrency: Option<u32>,
    },
    /// Open loop, Weibull gaps of `shape` k (k < 1 burstier than Poisson, k = 1 Poisson, k > 1
    /// more regular), scaled so the mean gap is 1 / `rate_per_s` ([`dist`]).
    Weibull {
        rate_per_s: f64,
        shape: f64,
        #[serde(default, skip_serializing_if = "is_ideal")]
        client: Client,
        /// The client's cap on requests in flight, as for the other rate kinds.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_concurrency: Option<u32>,
    },
    /// Open loop, one request every 1 / `rate_per_s` seconds.
    Constant {
        rate_per_s: f64,
        #[serde(default, skip_serializing_if = "is_ideal")]
        client: Client,
        /// The client's cap on requests in flight (vllm bench's `--max-concurrency`, AIPerf's
        /// `--concurrency` with a rate); a request due beyond it waits in the client.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_concurrency: Option<u32>,
    },
    /// Closed loop: `clients` each send their next request `think_time_s` after the last completes.
    Closed {
        clients: u32,
        #[serde(default)]
        think_time_s: f64,
        #[serde(default, skip_serializing_if = "is_ideal")]
        client: Client,
        /// Mean of an exponential delay before each send (the client's own per-request
        /// overhead), in milliseconds; 0: none. No tool documents its size: an assumption to
        /// set explicitly.
        #[serde(default)]
        send_delay_ms: f64,
    },
    /// `batch` requests start together (a static batch, as the Neuron benchmarks run).
    Static { batch: u32 },
    /// Every request arrives at t = 0; the engine batches as it can.
    Offline {},
    /// Replay of a trace file; `rate_scale` multiplies its arrival rate (2.0 = twice as fast),
    /// or `rate_per_s` sets its mean rate (not both; see [`trace::replay`] for the window and
    /// the block bootstrap).
    Trace {
        path: String,
        #[serde(default = "default_format")]
        format: TraceFormat,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rate_scale: Option<f64>,
        /// Target mean arrival rate, (rows − 1) / (last − first arrival) over the replayed rows.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rate_per_s: Option<f64>,
        /// Replay only rows arriving at or after this time of the trace (seconds from its first
        /// row).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        start_s: Option<f64>,
        /// Replay only rows arriving before `start_s` + this (seconds).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        duration_s: Option<f64>,
        /// Resample the trace as blocks of this many consecutive rows drawn with replacement,
        /// deterministically from the seed (a moving-block bootstrap); default: replay as is.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        bootstrap_block: Option<u32>,
    },
}

fn is_ideal(c: &Client) -> bool {
    *c == Client::Ideal
}

fn default_format() -> TraceFormat {
    TraceFormat::Auto
}

impl ArrivalSpec {
    pub fn kind(&self) -> &'static str {
        match self {
            ArrivalSpec::Poisson { .. } => "poisson",
            ArrivalSpec::Gamma { .. } => "gamma",
            ArrivalSpec::Weibull { .. } => "weibull",
            ArrivalSpec::Constant { .. } => "constant",
            ArrivalSpec::Closed { .. } => "closed",
            ArrivalSpec::Static { .. } => "static",
            ArrivalSpec::Offline {} => "offline",
            ArrivalSpec::Trace { .. } => "trace",
        }
    }

    /// The benchmark client sending these requests (`ideal` for the kinds without one).
    pub fn client(&self) -> Client {
        match self {
            ArrivalSpec::Poisson { client, .. }
            | ArrivalSpec::Gamma { client, .. }
            | ArrivalSpec::Weibull { client, .. }
            | ArrivalSpec::Constant { client, .. }
            | ArrivalSpec::Closed { client, .. } => *client,
            _ => Client::Ideal,
        }
    }

    /// The client's cap on requests in flight of a rate arrival, if set.
    pub fn max_concurrency(&self) -> Option<u32> {
        match self {
            ArrivalSpec::Poisson { max_concurrency, .. }
            | ArrivalSpec::Gamma { max_concurrency, .. }
            | ArrivalSpec::Weibull { max_concurrency, .. }
            | ArrivalSpec::Constant { max_concurrency, .. } => *max_concurrency,
            _ => None,
        }
    }

    /// The interval process of a rate arrival.
    pub fn rate_kind(&self) -> Option<RateKind> {
        match self {
            ArrivalSpec::Poisson { .. } => Some(RateKind::Poisson),
            ArrivalSpec::Gamma { .. } => Some(RateKind::Gamma),
            ArrivalSpec::Weibull { .. } => Some(RateKind::Weibull),
            ArrivalSpec::Constant { .. } => Some(RateKind::Constant),
            _ => None,
        }
    }

    /// The mean rate of a rate arrival (poisson, gamma, weibull, constant).
    pub fn rate_per_s(&self) -> Option<f64> {
        match self {
            ArrivalSpec::Poisson { rate_per_s, .. }
            | ArrivalSpec::Gamma { rate_per_s, .. }
            | ArrivalSpec::Weibull { rate_per_s, .. }
            | ArrivalSpec::Constant { rate_per_s, .. } => Some(*rate_per_s),
            _ => None,
        }
    }
}

/// A distribution of token counts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum LengthSpec {
    Fixed {
        tokens: u32,
    },
    Uniform {
        min: u32,
        max: u32,
    },
    /// Log-normal with the given mean and coefficient of variation, clamped to [min, max].
    Lognormal {
        mean: f64,
        cv: f64,
        #[serde(default = "one_u32")]
        min: u32,
        max: u32,
    },
    /// Normal with the given mean and standard deviation, as LLMPerf draws its lengths
    /// (`ray-project/llmperf@f1d6bed:src/llmperf/utils.py:sample_random_positive_int`):
    /// truncated to an integer toward zero and drawn again until at least `min` (1: LLMPerf's
    /// "positive"), then clamped to `max` (LLMPerf has no maximum; the context check needs one).
    Normal {
        mean: f64,
        stddev: f64,
        #[serde(default = "one_u32")]
        min: u32,
        max: u32,
    },
    /// Exponential with the given mean, rounded, clamped to [min, max] (ServeGen's output lengths,
    /// [`dist`]).
    Exponential {
        mean: f64,
        #[serde(default = "one_u32")]
        min: u32,
        max: u32,
    },
    /// A mixture: with probability `tail_weight` a Pareto of scale `tail_min` and index
    /// `tail_alpha`, else a log-normal of `mean` and `cv`; clamped to [min, max] (ServeGen's input
    /// lengths, [`dist`]).
    #[serde(rename = "pareto-lognormal")]
    ParetoLognormal {
        mean: f64,
        cv: f64,
        tail_weight: f64,
        tail_min: f64,
        tail_alpha: f64,
        #[serde(default = "one_u32")]
        min: u32,
        max: u32,
    },
    /// Empirical: the lengths of a trace file (its input or output column), sampled with
    /// replacement. Input and output drawn from the same file come from the same row.
    Trace {
        path: String,
        #[serde(default = "default_format")]
        format: TraceFormat,
    },
}

fn one_u32() -> u32 {
    1
}

impl LengthSpec {
    /// The largest value this distribution can produce (for the context check).
    pub fn max_tokens(&self, column: &[u32]) -> u32 {
        match self {
            LengthSpec::Fixed { tokens } => *tokens,
            LengthSpec::Uniform { max, .. }
            | LengthSpec::Lognormal { max, .. }
            | LengthSpec::Normal { max, .. }
            | LengthSpec::Exponential { max, .. }
            | LengthSpec::ParetoLognormal { max, .. } => *max,
            LengthSpec::Trace { .. } => column.iter().copied().max().unwrap_or(0),
        }
    }
}

/// A length sampler, ready to draw.
#[derive(Debug, Clone)]
pub enum LengthSampler {
    Fixed(u32),
    Uniform(u32, u32),
    Lognormal { mu: f64, sigma: f64, min: u32, max: u32 },
    Normal { mean: f64, stddev: f64, min: u32, max: u32 },
    Exponential { mean: f64, min: u32, max: u32 },
    ParetoLognormal(dist::ParetoLognormal),
    Empirical(Arc<Vec<u32>>),
}

impl LengthSampler {
    pub fn new(spec: &LengthSpec, column: Option<Arc<Vec<u32>>>) -> LengthSampler {
        match spec {
            LengthSpec::Fixed { tokens } => LengthSampler::Fixed(*tokens),
            LengthSpec::Uniform { min, max } => LengthSampler::Uniform(*min, *max),
            LengthSpec::Lognormal { mean, cv, min, max } => {
                let (mu, sigma) = dist::lognormal_params(*mean, *cv);
                LengthSampler::Lognormal {
                    mu,
                    sigma,
                    min: *min,
                    max: *max,
                }
            }
            LengthSpec::Normal { mean, stddev, min, max } => LengthSampler::Normal {
                mean: *mean,
                stddev: *stddev,
                min: *min,
                max: *max,
            },
            LengthSpec::Exponential { mean, min, max } => LengthSampler::Exponential {
                mean: *mean,
                min: *min,
                max: *max,
            },
            LengthSpec::ParetoLognormal {
                mean,
                cv,
                tail_weight,
                tail_min,
                tail_alpha,
                min,
                max,
            } => LengthSampler::ParetoLognormal(dist::ParetoLognormal::new(
                *mean,
                *cv,
                *tail_weight,
                *tail_min,
                *tail_alpha,
                *min,
                *max,
            )),
            LengthSpec::Trace { .. } => LengthSampler::Empirical(column.unwrap_or_default()),
        }
    }

    /// One draw. `row_u` in [0, 1) picks the row of an empirical column, shared by input and
    /// output so that they come from the same trace row.
    pub fn sample(&self, rng: &mut ChaCha8Rng, row_u: f64) -> u32 {
        match self {
            LengthSampler::Fixed(v) => *v,
            LengthSampler::Uniform(lo, hi) => rng.random_range(*lo..=*hi),
            LengthSampler::Lognormal { mu, sigma, min, max } => {
                let z: f64 = StandardNormal.sample(rng);
                let v = crate::float::round((mu + sigma * z).exp());
                (v.clamp(*min as f64, *max as f64)) as u32
            }
            LengthSampler::Normal { mean, stddev, min, max } => {
                // The resolver keeps mean >= min, so each try succeeds with probability >= 1/2.
                loop {
                    let z: f64 = StandardNormal.sample(rng);
                    let v = (mean + stddev * z).trunc();
                    if v >= *min as f64 {
                        return v.min(*max as f64) as u32;
                    }
                }
            }
            LengthSampler::Exponential { mean, min, max } => dist::exponential_len(rng, *mean, *min, *max),
            LengthSampler::ParetoLognormal(d) => d.sample(rng),
            LengthSampler::Empirical(col) => {
                if col.is_empty() {
                    return 1;
                }
                let i = ((row_u * col.len() as f64) as usize).min(col.len() - 1);
                col[i]
            }
        }
    }
}

/// One generated request before it enters the cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRequest {
    pub arrival_ns: u64,
    pub input_tokens: u32,
    pub output_tokens: u32,
    /// Index of the trace row (for prefix hash ids), if replayed from a trace.
    pub trace_row: Option<u32>,
    /// The client's `max_tokens` (what the engine may generate at most), if the client sets one;
    /// `None`: the engine's default applies. `output_tokens` is the true length, which only the
    /// end of the request reveals.
    pub max_tokens: Option<u32>,
}

/// Draws requests of an open-loop (or all-at-once) process in arrival order, lazily, so memory
/// does not grow with the number of requests.
#[derive(Debug)]
pub struct Generator {
    gaps: GapProcess,
    input: LengthSampler,
    output: LengthSampler,
    max_context: u32,
    arrival_rng: ChaCha8Rng,
    length_rng: ChaCha8Rng,
    next_ns: f64,
    emitted: u64,
    limit: u64,
    trace: Option<Arc<Trace>>,
    rate_scale: f64,
    /// Every request's `max_tokens` (`workload.max_tokens`, or the output distribution's
    /// maximum), if the workload sets one; trace rows may carry their own.
    max_tokens: Option<u32>,
    /// Every request's `max_tokens` is its own output length (a benchmark client's).
    max_tokens_per_request: bool,
    /// Where the client puts the requests of a rate arrival.
    schedule: RateSchedule,
    /// Multiplies every arrival time ([`RateSchedule::Normalised`]; 1 otherwise).
    time_scale: f64,
    /// `[workload.profile]`: the time change of a rate arrival, if any.
    warp: Option<profile::Warp>,
}

#[derive(Debug, Clone, Copy)]
enum GapProcess {
    Exponential { mean_s: f64 },
    Gamma { shape: f64, scale_s: f64 },
    Weibull { shape: f64, scale_s: f64 },
    Constant { gap_s: f64 },
    AllAtZero,
    Trace,
}

impl GapProcess {
    /// One gap, in seconds.
    fn draw_s(self, rng: &mut ChaCha8Rng) -> f64 {
        match self {
            GapProcess::Exponential { mean_s } => {
                let e: f64 = Exp1.sample(rng);
                e * mean_s
            }
            GapProcess::Gamma { shape, scale_s } => match Gamma::new(shape, scale_s) {
                Ok(g) => g.sample(rng),
                Err(_) => 0.0,
            },
            GapProcess::Weibull { shape, scale_s } => dist::weibull_gap_s(rng, scale_s, shape),
            GapProcess::Constant { gap_s } => gap_s,
            GapProcess::AllAtZero | GapProcess::Trace => 0.0,
        }
    }
}

impl Generator {
    /// `limit`: how many requests to emit. `seed`: the run's seed.
    pub fn new(
        arrival: &ArrivalSpec,
        input: LengthSampler,
        output: LengthSampler,
        max_context: u32,
        limit: u64,
        seed: u64,
        trace: Option<Arc<Trace>>,
    ) -> Generator {
        let (gaps, rate_scale) = match arrival {
            ArrivalSpec::Poisson { rate_per_s, .. } => (
                GapProcess::Exponential {
                    mean_s: 1.0 / rate_per_s,
                },
                1.0,
            ),
            ArrivalSpec::Constant { rate_per_s, .. } => (
                GapProcess::Constant {
                    gap_s: 1.0 / rate_per_s,
                },
                1.0,
            ),
            ArrivalSpec::Gamma { rate_per_s, cv, .. } => {
                let shape = 1.0 / (cv * cv);
                (
                    GapProcess::Gamma {
                        shape,
                        scale_s: 1.0 / (rate_per_s * shape),
                    },
                    1.0,
                )
            }
            ArrivalSpec::Weibull { rate_per_s, shape, .. } => (
                GapProcess::Weibull {
                    shape: *shape,
                    scale_s: dist::weibull_scale_s(*rate_per_s, *shape),
                },
                1.0,
            ),
            ArrivalSpec::Trace { rate_scale, .. } => (GapProcess::Trace, rate_scale.unwrap_or(1.0)),
            ArrivalSpec::Closed { .. } | ArrivalSpec::Static { .. } | ArrivalSpec::Offline {} => {
                (GapProcess::AllAtZero, 1.0)
            }
        };
        let limit = match (&gaps, &trace) {
            (GapProcess::Trace, Some(t)) => limit.min(t.requests.len() as u64),
            _ => limit,
        };
        let arrival_rng = crate::rng::Stream::Arrivals.rng(seed);
        let schedule = arrival
            .rate_kind()
            .and_then(|k| arrival.client().rate_schedule(k).ok())
            .unwrap_or(RateSchedule::FirstAtZero);
        let time_scale = match (schedule, arrival) {
            (
                RateSchedule::Normalised,
                ArrivalSpec::Poisson { rate_per_s, .. }
                | ArrivalSpec::Gamma { rate_per_s, .. }
                | ArrivalSpec::Weibull { rate_per_s, .. }
                | ArrivalSpec::Constant { rate_per_s, .. },
            ) => normalising_scale(gaps, crate::rng::Stream::Arrivals.rng(seed), limit, *rate_per_s),
            _ => 1.0,
        };
        Generator {
            gaps,
            input,
            output,
            max_context,
            arrival_rng,
            length_rng: crate::rng::Stream::Lengths.rng(seed),
            next_ns: 0.0,
            emitted: 0,
            limit,
            trace,
            rate_scale,
            max_tokens: None,
            max_tokens_per_request: false,
            schedule,
            time_scale,
            warp: None,
        }
    }

    /// Draws from these streams instead of the run's `Arrivals` and `Lengths` (a tenant's own,
    /// `[[workload.tenants]]`). Only for the ideal client (no normalised schedule, whose scale
    /// was drawn from `Arrivals`).
    pub fn with_rngs(mut self, arrivals: ChaCha8Rng, lengths: ChaCha8Rng) -> Generator {
        self.arrival_rng = arrivals;
        self.length_rng = lengths;
        self
    }

    /// A rate arrival follows a time-varying profile (`[workload.profile]`).
    pub fn with_profile(mut self, spec: Option<&profile::ProfileSpec>) -> Generator {
        self.warp = spec.map(profile::Warp::new);
        self
    }

    /// Every request carries its own output length as `max_tokens` (a benchmark client that
    /// asks for exactly the output it drew), instead of [`Generator::with_max_tokens`]'s one.
    pub fn with_max_tokens_per_request(mut self, yes: bool) -> Generator {
        self.max_tokens_per_request = yes;
        self
    }

    /// Every request carries `max_tokens` (None: the engine's default, unless a trace row
    /// carries its own).
    pub fn with_max_tokens(mut self, max_tokens: Option<u32>) -> Generator {
        self.max_tokens = max_tokens;
        self
    }

    pub fn total(&self) -> u64 {
        self.limit
    }

    /// Every later request comes `ns` later: a client that waited `ns` for a free slot before
    /// sending resumes its interval process from the send ([`CapMode::Paused`]).
    pub fn delay(&mut self, ns: u64) {
        self.next_ns += ns as f64 / self.time_scale;
    }

    /// Lengths of one request, cut so that prompt + output fit the context: (input, true
    /// output, the client's `max_tokens`).
    pub fn lengths(&mut self) -> (u32, u32, Option<u32>) {
        let row_u: f64 = self.length_rng.random();
        let input = self.input.sample(&mut self.length_rng, row_u).max(1);
        let output = self.output.sample(&mut self.length_rng, row_u).max(1);
        let input = input.min(self.max_context.saturating_sub(1).max(1));
        let output = output.min(self.max_context.saturating_sub(input).max(1));
        let max_tokens = if self.max_tokens_per_request {
            Some(output)
        } else {
            self.max_tokens
        };
        (input, output, max_tokens)
    }

    /// The next request in arrival order, or `None` when `limit` have been emitted.
    pub fn next_request(&mut self) -> Option<NewRequest> {
        if self.emitted >= self.limit {
            return None;
        }
        let i = self.emitted;
        self.emitted += 1;
        if let (GapProcess::Trace, Some(t)) = (self.gaps, &self.trace) {
            let r = &t.requests[i as usize];
            let (input, output) = (r.input_tokens, r.output_tokens);
            return Some(NewRequest {
                arrival_ns: (r.arrival_ns as f64 / self.rate_scale).round() as u64,
                input_tokens: input,
                output_tokens: output,
                trace_row: Some(i as u32),
                max_tokens: r.max_tokens.or(self.max_tokens),
            });
        }
        // Ideally the first request arrives at t = 0 (after one gap would only shift every
        // metric); some clients wait one gap first.
        if i > 0 || self.schedule != RateSchedule::FirstAtZero {
            self.next_ns += self.gaps.draw_s(&mut self.arrival_rng) * 1e9;
        }
        let (input, output, max_tokens) = self.lengths();
        let mut at_ns = self.next_ns * self.time_scale;
        if let Some(w) = self.warp.as_mut() {
            at_ns = w.map(at_ns);
        }
        Some(NewRequest {
            arrival_ns: crate::float::round(at_ns) as u64,
            input_tokens: input,
            output_tokens: output,
            trace_row: None,
            max_tokens,
        })
    }
}

/// vLLM's rescaling of a rate run (`vllm@009e6d4:vllm/benchmarks/serve.py:get_request`): the
/// factor that brings the sum of `n` gaps to exactly n / rate, drawn from a second generator of
/// the arrival stream so that the run's own draws are the same gaps.
fn normalising_scale(gaps: GapProcess, mut rng: ChaCha8Rng, n: u64, rate_per_s: f64) -> f64 {
    let total_s: f64 = (0..n).map(|_| gaps.draw_s(&mut rng)).sum();
    if total_s > 0.0 {
        n as f64 / rate_per_s / total_s
    } else {
        1.0
    }
}

#[cfg(test)]
mod tests;
