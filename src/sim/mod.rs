//! The simulation: cluster + workload + engine. `simulate(&Scenario) -> RunResult` is the whole
//! library in one call.

mod admit;
mod audit;
mod autoscale;
mod cluster;
mod encode_pool;
mod features;
mod fleet;
mod flow;
mod frontend;
mod handoff;
mod kv_offload;
mod lora;
mod losses;
mod multimodal;
mod purchase;
mod record;
mod sessions;
mod summary;
mod tenants;
pub mod timeline;

use crate::engine::{EventQueue, MAX_SIM_NS, MAX_SIM_S, SimTime};
use crate::error::{Error, Result};
use crate::hash::mix64;
use crate::metrics::{RequestRow, RunResult, SaturationProbe};
use crate::perf::PerfModel;
use crate::rng::Stream;
use crate::scenario::Scenario;
// Re-exported: the overload tests drive a run past it.
pub use crate::scenario::limits::MAX_IN_SYSTEM;
use crate::serve::replica::{Replica, StepOutcome};
use crate::serve::router::Router;
use crate::serve::{ReplicaId, ReqState, RequestId};
use crate::workload::{ArrivalSpec, CapMode, ClosedLoop, ConcurrencyCap, Generator, LengthSampler, NewRequest};
use cluster::Cluster;
use rand::RngExt;
use rand::rngs::ChaCha8Rng;
use std::sync::Arc;

#[derive(Debug, Clone, Copy)]
enum Event {
    /// The next open-loop request arrives (it is held in `Simulation::pending`).
    Arrival,
    /// A closed-loop client sends its next request.
    ClientSend(u32),
    StepEnd(ReplicaId),
    /// An idle replica that received work plans its next step. Queued behind every event already
    /// due at the same time, so requests arriving together are batched together.
    Kick(ReplicaId),
    /// A prefilled request's KV cache has reached its decode replica.
    KvArrive(RequestId, ReplicaId),
    /// A request held on the front-end path (Nitro, front-end tier, tokenizer) reaches the router.
    Ready(u32),
    /// The gateway's (`flow.rs`).
    Flow(flow::FlowEvent),
    /// The autoscaler's (`autoscale.rs`).
    Fleet(autoscale::FleetEvent),
}

/// Why a run stopped before every request finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cut {
    /// `workload.horizon_s` was reached.
    Horizon,
    /// More than [`MAX_IN_SYSTEM`] requests were queued or running at once: the queue grows
    /// without bound, and simulating it further would only exhaust memory.
    Backlog,
}

/// Options that change what a run records, not what it simulates.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    /// Keep one row per finished request (for `--requests`).
    pub keep_requests: bool,
    /// Check the engine's invariants after every event (time, KV accounting, request and token
    /// balance) and report violations in `RunResult::audit`. For tests: O(running sequences) per
    /// event; nothing is checked when off.
    pub audit: bool,
    /// Record the steps and a sample of the requests over time (for `--trace` and `explain`).
    pub timeline: Option<timeline::TimelineSpec>,
}

pub struct Simulation {
    sc: Scenario,
    queue: EventQueue<Event>,
    reqs: Vec<ReqState>,
    free_slots: Vec<u32>,
    /// The replicas, their pools, pipelines and KV links.
    cluster: Cluster,
    decode_router: Router,
    class_rng: ChaCha8Rng,
    in_system: u64,
    probe: SaturationProbe,
    last_arrival_sample: (u64, u64, u64, u64),
    waiting_at_last_arrival: u64,
    /// The event loop runs (arrivals due "now" can be admitted directly).
    started: bool,
    /// A Kick is queued for this replica.
    kicked: Vec<bool>,
    router: Router,
    generator: Generator,
    pending: Option<NewRequest>,
    /// When closed-loop clients send (None for other arrivals), and a buffer of its sends.
    closed: Option<ClosedLoop>,
    sends: Vec<(u32, SimTime)>,
    /// A rate client's `max_concurrency`: its slots and the requests waiting for one.
    cap: Option<ConcurrencyCap>,
    /// Prompts as block hashes (prefix cache), and those of requests not yet routed, by
    /// (prefix key, prompt tokens).
    prompts: features::PromptSource,
    prompt_blocks: features::PendingPrompts,
    remote_tier: Option<features::RemoteTier>,
    /// Each request's LoRA adapter (`serving.lora`), if on.
    adapters: Option<lora::AdapterDraw>,
    /// Which requests carry images (`workload.multimodal`) and the encode pool, if on.
    images: Option<multimodal::ImageDraw>,
    encode_pool: Option<encode_pool::EncodePool>,
    arrivals_left: u64,
    next_seq: u64,
    outcome: StepOutcome,
    /// What the run measured: latency distributions, counts, per-request rows.
    rec: record::Recorder,
    /// Where the run was cut short, if it was: the simulated time and why.
    cut: Option<(SimTime, Cut)>,
    /// Why the run could not go on: the clock passed [`MAX_SIM_NS`] or a step took more than a
    /// day. The run then ends with an error, not a clamped answer.
    overflow: Option<String>,
    notes: Vec<String>,
    front: frontend::FrontPath,
    /// The engine's max_model_len: the model's context, capped at the smallest replica's KV
    /// cache (vLLM refuses to start with a longer one). A request without a client
    /// `max_tokens` may generate up to it minus its prompt (vLLM's default).
    max_model_len: u32,
    /// Requests that took the engine's default `max_tokens`, and those whose output stopped at
    /// their `max_tokens` (for the notes).
    default_max_tokens: u64,
    truncated: u64,
    /// The invariant audit, when `RunOptions::audit` asks for it.
    audit: Option<audit::Audit>,
    timeline: Option<timeline::Timeline>,
    /// `[fleet]`: per-window metrics (None: nothing per window).
    fleet: Option<fleet::FleetState>,
    /// The gateway in front of the router, when `[gateway]` sets one.
    flow: Option<flow::Flow>,
    /// `[workload.sessions]`: multi-turn sessions (`sessions.rs`); the run's requests are turns.
    sessions: Option<crate::workload::sessions::Sessions>,
    /// `[[workload.tenants]]`: their merged arrival streams and counts (`tenants.rs`).
    tenants: Option<tenants::Tenants>,
}

/// Simulates a scenario to the end and summarises it.
pub fn simulate(sc: &Scenario) -> Result<RunResult> {
    Ok(Simulation::new(sc, RunOptions::default())?.run()?.0)
}

impl Simulation {
    pub fn new(sc: &Scenario, opts: RunOptions) -> Result<Simulation> {
        let mut notes = sc.notes.clone();
        let cluster = Cluster::build(sc, &mut notes)?;
        let front = frontend::FrontPath::new(sc, &cluster.pools, &cluster.pool_instances);
        let input = LengthSampler::new(&sc.input, sc.input_column.clone());
        let output = LengthSampler::new(&sc.output, sc.output_column.clone());
        let generator = Generator::new(
            &sc.arrival,
            input,
            output,
            sc.model.max_context,
            sc.requests,
            sc.seed,
            sc.trace.clone(),
        );
        let remote_tier = features::RemoteTier::new(sc, &cluster.pools[0], &cluster.replicas[0].perf);
        let generator = generator
            .with_max_tokens(sc.max_tokens)
            .with_max_tokens_per_request(sc.max_tokens_per_request)
            .with_profile(sc.profile.as_ref());
        let closed = match sc.arrival {
            ArrivalSpec::Closed {
                clients,
                think_time_s,
                client,
                send_delay_ms,
            } => Some(ClosedLoop::new(client, clients, think_time_s, send_delay_ms, sc.seed)),
            _ => None,
        };
        let cap = sc.arrival.max_concurrency().map(|n| {
            let mode = sc.arrival.client().cap_mode().unwrap_or(CapMode::Queue);
            ConcurrencyCap::new(mode, n)
        });
        let kv_tokens = cluster.replicas.iter().map(Replica::kv_tokens).min().unwrap_or(0);
        let max_model_len = kv_tokens.min(sc.model.max_context as u64) as u32;
        let n_replicas = cluster.replicas.len();
        let fleet = fleet::FleetState::new(sc, &cluster, &mut notes);
        let sessions = sessions::build(sc);
        let requests = sessions.as_ref().map_or(sc.requests, |s| s.total_turns());
        let mut sim = Simulation {
            queue: EventQueue::new(),
            reqs: Vec::new(),
            free_slots: Vec::new(),
            started: false,
            kicked: vec![false; cluster.replicas.len()],
            decode_router: Router::new(sc.routing, Stream::DecodeRouter.rng(sc.seed)),
            class_rng: Stream::Classes.rng(sc.seed),
            in_system: 0,
            probe: SaturationProbe::default(),
            last_arrival_sample: (0, 0, 0, 0),
            waiting_at_last_arrival: 0,
            router: Router::new(sc.routing, Stream::Router.rng(sc.seed)),
            generator,
            pending: None,
            closed,
            sends: Vec::new(),
            cap,
            prompts: features::PromptSource::new(sc),
            prompt_blocks: features::PendingPrompts::new(),
            remote_tier,
            adapters: lora::AdapterDraw::new(sc),
            images: multimodal::ImageDraw::new(sc),
            encode_pool: encode_pool::EncodePool::new(sc),
            arrivals_left: requests,
            next_seq: 0,
            outcome: StepOutcome::default(),
            rec: record::Recorder::new(sc.classes.len(), opts.keep_requests, requests),
            cut: None,
            overflow: None,
            notes,
            front,
            max_model_len,
            default_max_tokens: 0,
            truncated: 0,
            cluster,
            audit: opts.audit.then(audit::Audit::default),
            timeline: opts.timeline.map(|t| timeline::Timeline::new(t, n_replicas)),
            fleet,
            flow: sc.gateway.as_ref().map(|g| flow::Flow::new(g, n_replicas)),
            sessions,
            tenants: tenants::Tenants::new(sc),
            sc: Scenario { requests, ..sc.clone() },
        };
        sim.autoscale_start();
        Ok(sim)
    }

    pub fn perf(&self) -> &PerfModel {
        &self.cluster.replicas[0].perf
    }

    /// Runs to the end. Returns the summary and, if asked for, one row per finished request; an
    /// error when the inputs drove the clock past [`MAX_SIM_S`] or a step past a day.
    pub fn run(self) -> Result<(RunResult, Vec<RequestRow>)> {
        let (r, rows, _) = self.run_timeline()?;
        Ok((r, rows))
    }

    /// [`Simulation::run`], and the timeline when `RunOptions::timeline` asked for one.
    pub fn run_timeline(mut self) -> Result<(RunResult, Vec<RequestRow>, Option<timeline::Timeline>)> {
        let wall = std::time::Instant::now();
        match self.closed.as_mut() {
            Some(closed) => {
                closed.start(self.arrivals_left, &mut self.sends);
                self.push_sends();
            }
            None => self.schedule_next_arrival(),
        }
        self.started = true;
        while let Some((now, ev)) = self.queue.pop() {
            if let Some(h) = self.sc.horizon_ns
                && now.0 > h
            {
                self.cut = Some((SimTime(h), Cut::Horizon));
                self.discount_cut_steps(h);
                break;
            }
            if now.0 > MAX_SIM_NS {
                self.overflow = Some(format!(
                    "simulated time passed {MAX_SIM_S:e} s (about 31 years), the simulator's clock, after {} of {} requests arrived: the inputs imply times no run can reach (an arrival rate, think time, bandwidth or efficiency far too small); fix that number or set workload.horizon_s",
                    self.rec.counts.arrived, self.sc.requests
                ));
                break;
            }
            if self.fleet.is_some() && !self.fleet_before(now, &ev) {
                continue;
            }
            match ev {
                Event::Arrival => {
                    if let Some(nr) = self.pending.take() {
                        self.send_open(now, nr);
                    }
                    self.schedule_next_arrival();
                }
                Event::Kick(rid) => {
                    self.kicked[rid.index()] = false;
                    if !self.cluster.replicas[rid.index()].is_busy() {
                        self.start_step(now, rid);
                    }
                }
                Event::ClientSend(c) if self.sessions.is_some() => self.session_send(now, c),
                Event::ClientSend(c) => self.client_send(now, c),
                Event::StepEnd(rid) => self.step_end(now, rid),
                Event::KvArrive(id, rid) => self.kv_arrive(now, id, rid),
                Event::Ready(i) => {
                    let h = self.front.release(i);
                    self.admit_routed(now, h);
                }
                Event::Flow(e) => self.flow_event(now, e),
                Event::Fleet(e) => self.fleet_event(now, e),
            }
            if let Some(a) = self.audit.as_mut() {
                a.event(now, &self.cluster.replicas, &self.reqs, self.in_system);
            }
            if self.cut.is_some() || self.overflow.is_some() {
                break;
            }
        }
        if let Some(why) = self.overflow.take() {
            return Err(Error::infeasible(&self.sc.file, "", why));
        }
        self.sample_at_cut();
        if let Some(note) = self.cap.as_ref().and_then(ConcurrencyCap::note) {
            self.notes.push(note);
        }
        let wall_s = wall.elapsed().as_secs_f64();
        let rows = std::mem::take(&mut self.rec.rows);
        let violations = self.audit.take().map(|a| {
            let late = self.queue.late_pushes();
            a.finish(
                self.queue.now(),
                &self.cluster.replicas,
                &self.rec.counts,
                self.in_system,
                late,
                self.cut.is_some(),
            )
        });
        let tl = self.timeline.take();
        let windows = self.fleet_finish();
        let mut result = self.summarise(wall_s);
        result.windows = windows;
        result.audit = violations.unwrap_or_default();
        Ok((result, rows, tl))
    }

    /// Pulls the next open-loop request; requests due now are admitted at once (so that a burst
    /// at one instant lands in the queues before any replica plans its step), the first later
    /// one is held in `pending` with an Arrival event.
    fn schedule_next_arrival(&mut self) {
        while self.arrivals_left > 0 && self.cut.is_none() {
            if self.cap.as_ref().is_some_and(ConcurrencyCap::holds_arrivals) {
                return;
            }
            let Some(nr) = self.next_generated() else {
                return;
            };
            let now = self.queue.now();
            let t = SimTime(nr.arrival_ns).max(now);
            if t == now && self.started {
                self.send_open(now, nr);
                continue;
            }
            self.pending = Some(nr);
            // The one pending arrival waits beside the heap (same order, no heap operations).
            self.queue.push_side(t, Event::Arrival);
            return;
        }
    }

    /// An open-loop request due at `now`: sent at once, or, when the client's `max_concurrency`
    /// slots are all taken, held in the client until one frees ([`Simulation::client_next`]).
    fn send_open(&mut self, now: SimTime, nr: NewRequest) {
        if self.sessions.is_some() {
            return self.session_start(now);
        }
        let slot = match self.cap.as_mut() {
            None => None,
            Some(cap) => match cap.take_slot() {
                Some(slot) => Some(slot),
                None => {
                    cap.wait(nr);
                    // The client's queue is in the system too: beyond the bound it only grows.
                    let held = self.in_system + self.front.in_flight() + cap.waiting();
                    if held > MAX_IN_SYSTEM && self.cut.is_none() {
                        self.cut = Some((now, Cut::Backlog));
                    }
                    return;
                }
            },
        };
        let prefix = self.prefix_of(&nr);
        self.admit(now, &nr, slot, prefix);
    }

    /// The prefix key of a request: the first block hash of a trace row, or a synthetic prefix
    /// group drawn uniformly (its own RNG stream, so other draws do not change).
    fn prefix_of(&mut self, nr: &NewRequest) -> Option<u64> {
        if let Some(blocks) = self.prompts.blocks(&self.sc, nr) {
            let key = blocks.first().copied();
            self.prompt_blocks
                .entry((key, nr.input_tokens))
                .or_default()
                .push_back(blocks);
            return key;
        }
        if let (Some(row), Some(t)) = (nr.trace_row, &self.sc.trace) {
            if let Some(&h) = t.requests.get(row as usize).and_then(|r| r.hash_ids.first()) {
                return Some(h);
            }
        }
        if self.sc.prefix_groups > 0 {
            let g: u32 = self.class_rng.random_range(0..self.sc.prefix_groups);
            return Some(mix64(g as u64));
        }
        None
    }

    fn admit(&mut self, now: SimTime, nr: &NewRequest, client: Option<u32>, prefix: Option<u64>) {
        let (input, media) = self.with_images(nr.input_tokens);
        let (output, max_tokens) = if media.images > 0 {
            // The engine's default max_tokens leaves room for the image tokens too.
            self.limit_output(&NewRequest {
                input_tokens: input,
                ..nr.clone()
            })
        } else {
            self.limit_output(nr)
        };
        self.arrivals_left -= 1;
        self.rec.counts.arrived += 1;
        self.rec.counts.output_tokens_asked += output as u64;
        if let Some(f) = self.fleet.as_mut() {
            f.windows.arrival();
        }
        let class = self.draw_class();
        let rtt_ns = self.front.draw_rtt();
        let ready = self.front.ready_at(now.after(rtt_ns / 2), input);
        let held = frontend::Held {
            arrival: now,
            input,
            output,
            max_tokens,
            client,
            prefix,
            class,
            ticket: self.rec.counts.arrived,
            predicted_output: self.predicted_output(nr),
            rtt_ns,
            images: media.images,
            media_tokens: media.tokens,
            media_hash: media.hash,
            encode_ns: None,
        };
        if self.flow.is_some() {
            self.flow_arrived(now, held.ticket, ready > now);
        }
        if ready == now {
            self.admit_routed(now, held);
        } else {
            let i = self.front.hold(held);
            self.queue.push(ready, Event::Ready(i));
        }
        // Requests on the front-end path and in the gateway are in the system and waiting.
        let in_system = self.in_system + self.front.in_flight() + self.flow.as_ref().map_or(0, flow::Flow::held);
        if in_system > MAX_IN_SYSTEM && self.cut.is_none() {
            self.cut = Some((now, Cut::Backlog));
        }
        self.probe
            .push(now.0, in_system, self.rec.counts.arrived, self.rec.counts.completed);
        if self.arrivals_left == 0 {
            self.last_arrival_sample = (now.0, in_system, self.rec.counts.arrived, self.rec.counts.completed);
            self.waiting_at_last_arrival =
                self.cluster.replicas.iter().map(|r| r.queue_len() as u64).sum::<u64>() + self.front.in_flight();
        }
    }

    /// A request reaches the router at `now`, through the gateway when there is one.
    fn admit_routed(&mut self, now: SimTime, h: frontend::Held) {
        if h.images > 0 && h.encode_ns.is_none() && self.encode_pool.is_some() {
            return self.encode_first(now, h);
        }
        match self.flow {
            Some(_) => self.gate_offer(now, h),
            None => _ = self.route(now, h),
        }
    }

    /// Routes a request: to a replica's queue (its slot returned), or dropped when no replica
    /// could ever hold it, or rejected when the chosen replica's queue is full.
    fn route(&mut self, now: SimTime, h: frontend::Held) -> Option<RequestId> {
        let blocks = self.take_prompt_blocks(h.prefix, h.input);
        let (adapter, key) = self.adapter_and_key(&h);
        let rid = self.pick_for(h.class, key);
        if !self.cluster.fits(rid, h.input, h.max_tokens) {
            self.rec.counts.dropped += 1;
            if self.rec.counts.dropped == 1 {
                self.notes.push(format!(
                    "requests dropped: a request of {} prompt + {} max_tokens tokens exceeds the model's {}-token context or a replica's KV cache ({} tokens), as a server refuses prompt + max_tokens > max_model_len",
                    h.input,
                    h.max_tokens,
                    self.sc.model.max_context,
                    self.cluster.replicas[0].kv_tokens()
                ));
            }
            self.tenant_turned_away(h.class);
            self.turned_away(now, h.client);
            return None;
        }
        if self.cluster.replicas[rid.index()].queue_full() {
            self.rec.counts.rejected += 1;
            if self.rec.counts.rejected == 1 {
                self.notes.push(format!(
                    "requests rejected: a replica's waiting queue reached serving.max_queue = {}",
                    self.sc.scheduler.max_queue.unwrap_or(0)
                ));
            }
            self.tenant_turned_away(h.class);
            self.turned_away(now, h.client);
            return None;
        }
        self.in_system += 1;
        let id = self.insert_request(self.next_seq, h.arrival, h.input, h.output, h.client);
        self.next_seq += 1;
        let network_ns = self.front.network_ns() + h.rtt_ns / 2;
        let state = &mut self.reqs[id.index()];
        state.max_tokens = h.max_tokens;
        state.predicted_output = h.predicted_output;
        state.class = h.class as u16;
        state.priority = self.sc.classes.get(h.class).map_or(0, |c| c.priority);
        state.prefix = h.prefix;
        state
            .ledger
            .routed(h.arrival, now, network_ns, h.encode_ns.unwrap_or(0));
        state.cache.hashes = blocks;
        state.adapter = adapter;
        state.images = h.images;
        state.media_hash = h.media_hash;
        if let (Some(rt), Some(b)) = (self.remote_tier.as_mut(), state.cache.hashes.as_ref()) {
            state.cache.remote_blocks = rt.route(b);
        }
        state.prefill_only = self.cluster.decode.is_some();
        self.front.set_back(id, h.rtt_ns);
        let replica = &mut self.cluster.replicas[rid.index()];
        replica.enqueue(id, &mut self.reqs[id.index()]);
        if !replica.is_busy() && !self.kicked[rid.index()] {
            self.kicked[rid.index()] = true;
            self.queue.push(now, Event::Kick(rid));
        }
        Some(id)
    }

    /// A request that was dropped or rejected: its closed-loop client, if any, sends again.
    fn turned_away(&mut self, now: SimTime, client: Option<u32>) {
        if let Some(c) = client {
            self.client_next(now, c);
        }
    }

    fn take_prompt_blocks(&mut self, prefix: Option<u64>, input: u32) -> Option<Arc<[u64]>> {
        let q = self.prompt_blocks.get_mut(&(prefix, input))?;
        let b = q.pop_front();
        if q.is_empty() {
            self.prompt_blocks.remove(&(prefix, input));
        }
        b
    }

    fn start_step(&mut self, now: SimTime, rid: ReplicaId) {
        if let Some(cost) = self.cluster.replicas[rid.index()].plan_step(now, &mut self.reqs) {
            if cost.total_ns as f64 >= crate::perf::MAX_STEP_NS {
                self.overflow = Some(format!(
                    "replica {} planned a step of {} tokens that takes more than a day (compute {:.3e} s, memory {:.3e} s, communication {:.3e} s, overheads {:.3e} s): a hardware number (efficiency, bandwidth, peak) or model size is degenerate",
                    rid.index(),
                    self.cluster.replicas[rid.index()].step_tokens(),
                    cost.compute_ns * 1e-9,
                    cost.memory_ns * 1e-9,
                    cost.comm_ns * 1e-9,
                    cost.overhead_ns * 1e-9
                ));
                return;
            }
            let phases = crate::hw::power::Phases::new(cost.compute_ns, cost.memory_ns, cost.comm_ns, cost.overhead_ns);
            let dynamic = self.cluster.lane_power[rid.index()].step_dynamic_ns(cost.total_ns as f64, &phases);
            self.cluster.dynamic_ns[rid.index()] += dynamic;
            self.front.step(now, self.cluster.lane_pool[rid.index()]);
            let end = match self.cluster.lane_pipeline[rid.index()] {
                None => now.after(cost.total_ns),
                Some(p) => {
                    let tokens = self.cluster.replicas[rid.index()].step_tokens();
                    SimTime(self.cluster.pipelines[p].run(now.0, cost.total_ns, tokens))
                }
            };
            self.cluster.in_flight[rid.index()] = Some((now.0, end.0, dynamic));
            if let Some(tl) = self.timeline.as_mut() {
                tl.step(&self.cluster.replicas[rid.index()], now, end, &cost);
            }
            self.queue.push(end, Event::StepEnd(rid));
        }
    }

    /// A horizon at `h` cut the steps in flight: only their part before it counts (busy time,
    /// its breakdown and energy pro rata; their tokens not at all, as none was delivered).
    fn discount_cut_steps(&mut self, h: u64) {
        for (i, f) in self.cluster.in_flight.iter().enumerate() {
            let Some((start, end, dynamic)) = *f else {
                continue;
            };
            if end <= h || !self.cluster.replicas[i].is_busy() {
                continue;
            }
            let late = (end - h.max(start)) as f64 / (end - start).max(1) as f64;
            self.cluster.replicas[i].discount_unfinished_step(late);
            self.cluster.dynamic_ns[i] -= late * dynamic;
        }
    }

    fn step_end(&mut self, now: SimTime, rid: ReplicaId) {
        // The outcome's lists are read by index: what handles a completion never touches them
        // (only this function does), and they are not moved out and back each step.
        self.cluster.replicas[rid.index()].finish_step(now, &mut self.reqs, &mut self.outcome);
        for &(gap_ns, n) in &self.outcome.itl {
            self.rec.itl.push(gap_ns as f64 * 1e-6, n);
        }
        for i in 0..self.outcome.completed.len() {
            let id = self.outcome.completed[i];
            let generated = self.reqs[id.index()].progress().generated;
            self.front
                .detokenize(now, self.cluster.lane_pool[rid.index()], generated);
            if self.sessions.is_some() {
                self.session_completing(rid, id);
            }
            if self.flow.is_none() || !self.abandoned_at_completion(now, rid, id) {
                self.complete(now, id);
            }
        }
        for i in 0..self.outcome.handoff.len() {
            self.hand_off(now, rid, self.outcome.handoff[i]);
        }
        if self.flow.is_some() {
            self.flow_step_end(now, rid);
        }
        if self.fleet.is_some() && self.lost_at_step_end(now, rid) {
            return;
        }
        self.start_step(now, rid);
        if self.fleet.is_some() {
            self.drain_done(now, rid);
        }
    }

    fn complete(&mut self, now: SimTime, id: RequestId) {
        if let Some(a) = self.audit.as_mut() {
            a.completion(now, &self.reqs[id.index()]);
        }
        let (r, back_ns) = (&self.reqs[id.index()], self.front.back_ns(id));
        let slo = self.sc.classes.get(r.class as usize).and_then(|k| k.slo.as_ref());
        self.rec.completed(now, r, slo, back_ns);
        if let Some(f) = self.fleet.as_mut() {
            f.completed(now, r, slo);
        }
        if let Some(tl) = self.timeline.as_mut() {
            tl.request(r, now);
        }
        self.in_system -= 1;
        let client = r.client;
        self.free_slots.push(id.0);
        if let Some(c) = client {
            // The client hears of the completion once the last token has reached it.
            self.client_next(now.after(back_ns), c);
        }
    }
}

#[cfg(test)]
mod tests;
