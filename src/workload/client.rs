//! The benchmark clients behind published serving numbers, modelled as their source code behaves
//! (issue 17). A closed-loop or rate arrival names one with `client`; `ideal` (the default) is
//! the noise-free client codesim always had.
//!
//! What each tool does, read from its source (nothing here is a guess; what the sources leave
//! open is said so and not modelled):
//!
//! - **LLMPerf** (`ray-project/llmperf@f1d6bed:token_benchmark_ray.py`, Dec 2024 and later):
//!   `--num-concurrent-requests` threads are started in a loop, each with its own Ray actor, and
//!   each sends its next request as soon as the last returns: no sleep, no ramp. Lengths are
//!   drawn up front (`random.seed(11111)`): the prompt from a normal(`--mean-input-tokens`,
//!   `--stddev-input-tokens`) redrawn until positive (`utils.py:sample_random_positive_int`),
//!   `max_tokens` from a normal(`--mean-output-tokens`, `--stddev-output-tokens`); CLI defaults
//!   550 ± 150 and 150 ± 80. The output ends at that `max_tokens` (the prompt asks the model not
//!   to stop early). The Ray actor's start-up staggers the threads' first requests by an amount
//!   the sources do not give: not modelled. The run stops after `--max-num-completed-requests`
//!   completions, discarding the requests then in flight: not modelled (codesim sends exactly
//!   `workload.requests` and measures them all).
//! - **LLMPerf before PR #59** (`ray-project/llmperf@03872a4:token_benchmark_ray.py`, Dec 2023
//!   to Dec 2024): one loop launches a request per free actor and, every
//!   `num_concurrent_requests` launches, waits for every request in flight
//!   (`RequestsLauncher.get_next_ready` drains the actor pool): the clients run in waves, the
//!   next wave only when the whole last one has returned.
//! - **genai-perf** (`triton-inference-server/perf_analyzer@263c5f6`): concurrency mode keeps
//!   `--concurrency` requests in flight from the start (`src/concurrency_worker.cc`:
//!   `SendInferRequests` sends while a context is free, again on each response), no warm-up by
//!   default (`config_defaults.py: WARMUP_REQUEST_COUNT = 0`), and measures exactly
//!   max(10, 2 × concurrency) requests (`perf_analyzer_config.py:_calculate_request_count`).
//!   Synthetic prompts are normal(550, 0): fixed; `max_tokens` is sent only with
//!   `--output-tokens-mean` (then normal with stddev 0 by default). Request-rate mode sends at
//!   constant intervals (perf_analyzer's `--request-distribution` defaults to `constant`, which
//!   genai-perf does not change; `src/request_rate_manager.cc` schedules the first request one
//!   interval after the start).
//! - **AIPerf** (`ai-dynamo/aiperf@db4f639`): concurrency alone selects `concurrency_burst`
//!   (`aiperf/common/config/user_config.py`): credits are issued with no delay up to the
//!   concurrency and one more per returned credit (`aiperf/timing/request_rate_strategy.py`);
//!   the warm-up phase, 0 requests by default, completes before profiling starts; 10 requests by
//!   default. A request rate issues the first credit at once and then sleeps a Poisson
//!   (default) or constant (`--request-rate-mode constant`) interval; no gamma. With
//!   `--concurrency` as well, each credit first acquires the semaphore and the interval is slept
//!   after the credit is dropped: while every slot is taken, the schedule pauses.
//! - **vllm bench serve** (`vllm-project/vllm@009e6d4:vllm/benchmarks/serve.py`):
//!   `--request-rate inf` (the default) creates every request at t = 0 and
//!   `--max-concurrency` lets that many through an `asyncio.Semaphore`, one more on each
//!   completion: a closed loop. A finite rate draws gamma gaps of shape `--burstiness`
//!   (1: Poisson; inf: constant 1/rate) for every request including the first, then rescales
//!   the cumulative delays so that the last request is due at exactly requests / rate
//!   (`get_request`); with `--max-concurrency` as well, a request due while every slot is taken
//!   waits on the semaphore, first come first served, and its TTFT starts when it is sent
//!   (`limited_request_func`). `--random-range-ratio` 0 (the default) gives every request the same
//!   input and output length (`vllm/benchmarks/datasets/random.py`); `max_tokens` is each
//!   request's output length. `--ramp-up-strategy` (a rate rising from start to end RPS over
//!   the run) is not modelled; a sweep over `rate_per_s` asks the same question.
//! - **trtllm-bench** is an offline throughput tool (every request queued at once): that is
//!   `kind = "offline"`, not a client of this list.
//!
//! None of the tools staggers its clients' start or sleeps between requests in concurrency
//! mode: every client starts at t = 0, as `ideal` does. What sets them apart is the waves of
//! old LLMPerf, the `max_tokens` each request carries, and, for rates, the interval process.
//! Lengths always stay as `workload.input`/`output` say; LLMPerf's sampler is
//! `{ kind = "normal", mean, stddev, max }` (see [`Client::default_length_stddev`]).
//!
//! For layers that write scenarios (validation cases): [`Client::from_name`] parses a case's
//! `client`, [`Client::closed_arrival`] writes its arrival table, [`Client::default_requests`]
//! and [`Client::default_length_stddev`] give the tool's defaults a case may leave unstated.

use rand::rngs::ChaCha8Rng;
use rand_distr::{Distribution, Exp1};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

use crate::engine::SimTime;
use crate::workload::NewRequest;

/// The benchmark client driving a closed-loop or rate arrival.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Client {
    /// Noise-free: every client at t = 0, the next request the instant the last completes (plus
    /// `think_time_s`); rates exactly as the arrival kind says, the first request at t = 0.
    #[default]
    Ideal,
    /// LLMPerf (Dec 2024 and later): one thread per client, the next request on completion.
    Llmperf,
    /// LLMPerf before PR #59 (Dec 2023 to Dec 2024): the clients in waves.
    LlmperfLegacy,
    /// NVIDIA genai-perf (perf_analyzer).
    GenaiPerf,
    /// NVIDIA AIPerf, genai-perf's successor.
    Aiperf,
    /// `vllm bench serve` (formerly `benchmarks/benchmark_serving.py`).
    VllmBench,
}

/// How the clients of a closed loop send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dispatch {
    /// Each client sends its next request when its last one ends.
    OnCompletion,
    /// All clients send together; the next wave when every request of the last has ended.
    Waves,
}

/// The interval process of a rate arrival, for [`Client::rate_schedule`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateKind {
    Poisson,
    Gamma,
    /// Weibull gaps (`kind = "weibull"`): no benchmark tool draws them; only `ideal` sends them.
    Weibull,
    Constant,
}

/// Where a rate client puts its requests in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateSchedule {
    /// The first request at t = 0, then one gap after another.
    FirstAtZero,
    /// The first request one gap after the start, then one gap after another.
    FirstAfterGap,
    /// One gap before every request, the cumulative times rescaled so that the last request is
    /// due at requests / rate (vLLM's `get_request`).
    Normalised,
}

/// How a rate client holds requests due beyond its `max_concurrency`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapMode {
    /// The schedule runs on; requests due beyond the cap wait in order for a free slot (vLLM:
    /// every request is a task created on schedule that waits on an `asyncio.Semaphore`,
    /// which wakes its waiters first come, first served). `ideal` too.
    Queue,
    /// The schedule pauses: the next request is due one gap after the last was sent (AIPerf
    /// acquires the semaphore, drops the credit, then sleeps the interval).
    Paused,
}

impl Client {
    pub const ALL: [Client; 6] = [
        Client::Ideal,
        Client::Llmperf,
        Client::LlmperfLegacy,
        Client::GenaiPerf,
        Client::Aiperf,
        Client::VllmBench,
    ];

    /// The scenario key's value.
    pub fn name(self) -> &'static str {
        match self {
            Client::Ideal => "ideal",
            Client::Llmperf => "llmperf",
            Client::LlmperfLegacy => "llmperf-legacy",
            Client::GenaiPerf => "genai-perf",
            Client::Aiperf => "aiperf",
            Client::VllmBench => "vllm-bench",
        }
    }

    /// The client of a scenario key's value (for validation cases and sweeps).
    pub fn from_name(name: &str) -> Option<Client> {
        Client::ALL.into_iter().find(|c| c.name() == name)
    }

    /// The accepted values, for messages.
    pub fn accepted() -> String {
        Client::ALL.map(Client::name).join(", ")
    }

    /// The `workload.arrival` inline table of `clients` closed-loop clients of this client, as
    /// a scenario (or a validation case's) writes it; `ideal` leaves the key out, so its
    /// scenarios read as they always did.
    pub fn closed_arrival(self, clients: u32) -> String {
        match self {
            Client::Ideal => format!("{{ kind = \"closed\", clients = {clients} }}"),
            c => format!(
                "{{ kind = \"closed\", clients = {clients}, client = \"{}\" }}",
                c.name()
            ),
        }
    }

    /// How its closed-loop clients send.
    pub fn dispatch(self) -> Dispatch {
        match self {
            Client::LlmperfLegacy => Dispatch::Waves,
            _ => Dispatch::OnCompletion,
        }
    }

    /// Whether every request carries its own output length as `max_tokens` (every tool asks
    /// for exactly the output it drew), rather than the workload's one `max_tokens`.
    pub fn max_tokens_per_request(self) -> bool {
        self != Client::Ideal
    }

    /// Whether a think time between requests is the client's to have: only `ideal`'s; no tool
    /// sleeps between requests in concurrency mode.
    pub fn allows_think_time(self) -> bool {
        self == Client::Ideal
    }

    /// The requests the tool sends by default at `clients` concurrency, if it has a default:
    /// LLMPerf's `--max-num-completed-requests` (10), genai-perf's max(10, 2 × concurrency),
    /// AIPerf's `--request-count` (10), vLLM's `--num-prompts` (1000).
    pub fn default_requests(self, clients: u32) -> Option<u64> {
        match self {
            Client::Ideal => None,
            Client::Llmperf | Client::LlmperfLegacy | Client::Aiperf => Some(10),
            Client::GenaiPerf => Some((2 * clients as u64).max(10)),
            Client::VllmBench => Some(1000),
        }
    }

    /// The tool's default standard deviations of (input, output) tokens around the means a
    /// case gives, when it draws lengths from a normal by default: LLMPerf's
    /// `--stddev-input-tokens` 150 and `--stddev-output-tokens` 80. `None`: the tool's
    /// default lengths are fixed (genai-perf and AIPerf stddev 0; vLLM's range ratio 0).
    pub fn default_length_stddev(self) -> Option<(f64, f64)> {
        match self {
            Client::Llmperf | Client::LlmperfLegacy => Some((150.0, 80.0)),
            _ => None,
        }
    }

    /// One line for the run notes: what this client does in a closed loop of `clients`.
    pub fn closed_note(self, clients: u32) -> String {
        let what = match self {
            Client::Ideal => {
                "noise-free: all start at t = 0, each sends the instant its last request ends (plus think_time_s)"
            }
            Client::Llmperf => {
                "as LLMPerf (ray-project/llmperf@f1d6bed): one thread each, all started at t = 0, each sends the instant its last request returns (no sleep); every request's max_tokens is its output length"
            }
            Client::LlmperfLegacy => {
                "as LLMPerf before PR #59 (ray-project/llmperf@03872a4): in waves, all sending together and the next wave only when the whole last one has returned; every request's max_tokens is its output length"
            }
            Client::GenaiPerf => {
                "as genai-perf concurrency mode (perf_analyzer@263c5f6): all in flight from t = 0, each context sends again on its response; every request's max_tokens is its output length"
            }
            Client::Aiperf => {
                "as AIPerf concurrency_burst (ai-dynamo/aiperf@db4f639): credits issued at once up to the concurrency, one more per returned credit; every request's max_tokens is its output length"
            }
            Client::VllmBench => {
                "as vllm bench serve --request-rate inf --max-concurrency (vllm@009e6d4): every request due at t = 0 behind a semaphore of the concurrency, one more on each completion; every request's max_tokens is its output length"
            }
        };
        format!("client: {} × {} — {what}", clients, self.name())
    }

    /// Where this client puts the requests of a rate arrival of `kind`, or why it cannot.
    pub fn rate_schedule(self, kind: RateKind) -> Result<RateSchedule, String> {
        match (self, kind) {
            (Client::Ideal, _) | (Client::Aiperf, RateKind::Poisson | RateKind::Constant) => {
                Ok(RateSchedule::FirstAtZero)
            }
            (Client::GenaiPerf, RateKind::Poisson | RateKind::Constant) => Ok(RateSchedule::FirstAfterGap),
            (Client::VllmBench | Client::Aiperf | Client::GenaiPerf, RateKind::Weibull) => Err(format!(
                "{} has no weibull intervals (no benchmark tool draws them); use client = \"ideal\"",
                self.name()
            )),
            (Client::VllmBench, _) => Ok(RateSchedule::Normalised),
            (Client::Aiperf | Client::GenaiPerf, RateKind::Gamma) => Err(format!(
                "{} has no gamma intervals (only poisson and constant); use kind = \"poisson\" or \"constant\"",
                self.name()
            )),
            (Client::Llmperf | Client::LlmperfLegacy, _) => Err(format!(
                "{} has no request-rate mode (only concurrent clients); use kind = \"closed\"",
                self.name()
            )),
        }
    }

    /// How this client caps a rate arrival's requests in flight, or why it cannot.
    pub fn cap_mode(self) -> Result<CapMode, String> {
        match self {
            Client::Ideal | Client::VllmBench => Ok(CapMode::Queue),
            Client::Aiperf => Ok(CapMode::Paused),
            Client::GenaiPerf => Err(
                "genai-perf runs either a concurrency or a request rate, not both (perf_analyzer's --concurrency-range or --request-rate-range); remove max_concurrency or use kind = \"closed\""
                    .into(),
            ),
            Client::Llmperf | Client::LlmperfLegacy => Err(format!("{} has no request-rate mode", self.name())),
        }
    }

    /// One line for the run notes: what this client does with a rate arrival of `kind`.
    pub fn rate_note(self, kind: RateKind) -> String {
        let what = match (self, kind) {
            (Client::Ideal, _) => "the first request at t = 0, then independent gaps",
            (Client::GenaiPerf, RateKind::Constant) => {
                "as genai-perf request-rate mode (perf_analyzer's default constant distribution): the first request one interval after the start"
            }
            (Client::GenaiPerf, _) => {
                "as genai-perf with perf_analyzer's --request-distribution poisson: the first request one gap after the start"
            }
            (Client::Aiperf, RateKind::Constant) => {
                "as AIPerf --request-rate-mode constant: the first credit at t = 0, then a fixed interval"
            }
            (Client::Aiperf, _) => {
                "as AIPerf request-rate mode (poisson, its default): the first credit at t = 0, then exponential intervals"
            }
            (Client::VllmBench, _) => {
                "as vllm bench serve --request-rate (vllm@009e6d4 get_request): a gap before every request, the cumulative times rescaled so the last is due at requests / rate"
            }
            (Client::Llmperf | Client::LlmperfLegacy, _) => "no rate mode",
        };
        format!("client: {} — {what}", self.name())
    }
}

/// The closed-loop clients of a run: when each sends. The simulation asks [`ClosedLoop::start`]
/// for the first sends and tells [`ClosedLoop::ended`] each time a client's request ends
/// (completed, dropped or rejected).
#[derive(Debug)]
pub struct ClosedLoop {
    dispatch: Dispatch,
    clients: u32,
    think_ns: u64,
    /// Mean of the exponential delay before each send, in nanoseconds (0: none).
    delay_mean_ns: f64,
    delay_rng: ChaCha8Rng,
    /// Requests of the current wave not yet ended ([`Dispatch::Waves`]).
    outstanding: u32,
}

impl ClosedLoop {
    /// `clients` of `client`, `think_time_s` after each completion, an exponential delay of
    /// mean `send_delay_ms` before each send (drawn from the run's client-delay stream).
    pub fn new(client: Client, clients: u32, think_time_s: f64, send_delay_ms: f64, seed: u64) -> ClosedLoop {
        ClosedLoop {
            dispatch: client.dispatch(),
            clients,
            think_ns: crate::engine::secs_to_ns(think_time_s),
            delay_mean_ns: send_delay_ms * 1e6,
            delay_rng: crate::rng::Stream::ClientDelay.rng(seed),
            outstanding: 0,
        }
    }

    /// The first sends, one per client up to `limit` requests: every client at t = 0 (plus
    /// its send delay).
    pub fn start(&mut self, limit: u64, out: &mut Vec<(u32, SimTime)>) {
        let n = (self.clients as u64).min(limit) as u32;
        self.outstanding = n;
        for c in 0..n {
            let t = self.after(SimTime::ZERO, 0);
            out.push((c, t));
        }
    }

    /// Client `c`'s request ended at `now`: the sends that follow, into `out`.
    pub fn ended(&mut self, c: u32, now: SimTime, out: &mut Vec<(u32, SimTime)>) {
        match self.dispatch {
            Dispatch::OnCompletion => {
                let t = self.after(now, self.think_ns);
                out.push((c, t));
            }
            Dispatch::Waves => {
                self.outstanding = self.outstanding.saturating_sub(1);
                if self.outstanding == 0 {
                    self.outstanding = self.clients;
                    for c in 0..self.clients {
                        let t = self.after(now, self.think_ns);
                        out.push((c, t));
                    }
                }
            }
        }
    }

    /// `now` plus `wait_ns` plus one send delay.
    fn after(&mut self, now: SimTime, wait_ns: u64) -> SimTime {
        let delay_ns = if self.delay_mean_ns > 0.0 {
            let e: f64 = Exp1.sample(&mut self.delay_rng);
            (e * self.delay_mean_ns).round() as u64
        } else {
            0
        };
        now.after(wait_ns.saturating_add(delay_ns))
    }
}

/// A rate client's cap on requests in flight: its slots (the closed loop's clients, numbered
/// the same way) and the requests due while all are taken.
#[derive(Debug)]
pub struct ConcurrencyCap {
    mode: CapMode,
    limit: u32,
    /// Free slots, the lowest number last (taken first).
    free: Vec<u32>,
    waiting: VecDeque<NewRequest>,
    /// Requests that waited, and their summed wait, for the run notes.
    waited: u64,
    waited_ns: u64,
}

impl ConcurrencyCap {
    pub fn new(mode: CapMode, limit: u32) -> ConcurrencyCap {
        ConcurrencyCap {
            mode,
            limit,
            free: (0..limit).rev().collect(),
            waiting: VecDeque::new(),
            waited: 0,
            waited_ns: 0,
        }
    }

    /// A free slot to send a due request on now, if any.
    pub fn take_slot(&mut self) -> Option<u32> {
        self.free.pop()
    }

    /// A due request waits: every slot is taken.
    pub fn wait(&mut self, nr: NewRequest) {
        self.waiting.push_back(nr);
    }

    /// Slot `slot` is free at `now`: the first waiting request, to send on it now (the slot
    /// stays taken), or `None` (the slot is free).
    pub fn release(&mut self, slot: u32, now: SimTime) -> Option<NewRequest> {
        match self.waiting.pop_front() {
            Some(nr) => {
                self.waited += 1;
                self.waited_ns += now.0.saturating_sub(nr.arrival_ns);
                Some(nr)
            }
            None => {
                self.free.push(slot);
                None
            }
        }
    }

    pub fn mode(&self) -> CapMode {
        self.mode
    }

    /// Requests due and waiting for a slot.
    pub fn waiting(&self) -> u64 {
        self.waiting.len() as u64
    }

    /// The schedule holds its next request back ([`CapMode::Paused`] with one waiting).
    pub fn holds_arrivals(&self) -> bool {
        self.mode == CapMode::Paused && !self.waiting.is_empty()
    }

    /// The run note on the cap's waits, if any request waited.
    pub fn note(&self) -> Option<String> {
        (self.waited > 0).then(|| {
            format!(
                "client: {} requests waited for one of the max_concurrency = {} slots ({:.1} ms on average); TTFT and E2E start at the send, as the tools measure them",
                self.waited,
                self.limit,
                self.waited_ns as f64 * 1e-6 / self.waited as f64
            )
        })
    }
}

#[cfg(test)]
mod tests;
