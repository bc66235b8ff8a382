//! The simulation: cluster + workload + engine. `simulate(&Scenario) -> RunResult` is the whole
//! library in one call.

use crate::engine::{EventQueue, SimTime};
use crate::error::Result;
use crate::metrics::{
    Breakdown, Cost, Counts, Energy, RequestRow, RunResult, Samples, SimFigures, Throughput, WeightedSamples,
};
use crate::perf::PerfModel;
use crate::scenario::Scenario;
use crate::serve::replica::{Replica, StepOutcome};
use crate::serve::router::Router;
use crate::serve::{NO_TIME, ReplicaId, ReqState, RequestId};
use crate::workload::{ArrivalSpec, Generator, LengthSampler, NewRequest};
use std::sync::Arc;

/// Host power drawn on average, as a fraction of its TDP (assumption: serving hosts run well
/// below peak; refined by the infrastructure model).
const HOST_POWER_FRACTION: f64 = 0.5;

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
}

/// Options that change what a run records, not what it simulates.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    /// Keep one row per finished request (for `--requests`).
    pub keep_requests: bool,
}

pub struct Simulation {
    sc: Scenario,
    opts: RunOptions,
    queue: EventQueue<Event>,
    reqs: Vec<ReqState>,
    free_slots: Vec<u32>,
    replicas: Vec<Replica>,
    /// The event loop runs (arrivals due "now" can be admitted directly).
    started: bool,
    /// A Kick is queued for this replica.
    kicked: Vec<bool>,
    router: Router,
    generator: Generator,
    pending: Option<NewRequest>,
    arrivals_left: u64,
    next_seq: u64,
    outcome: StepOutcome,
    // Metrics.
    ttft: Samples,
    tpot: Samples,
    e2e: Samples,
    queue_delay: Samples,
    itl: WeightedSamples,
    counts: Counts,
    rows: Vec<RequestRow>,
    last_completion: SimTime,
    notes: Vec<String>,
    instances: u32,
}

/// Simulates a scenario to the end and summarises it.
pub fn simulate(sc: &Scenario) -> Result<RunResult> {
    Ok(Simulation::new(sc, RunOptions::default())?.run().0)
}

impl Simulation {
    pub fn new(sc: &Scenario, opts: RunOptions) -> Result<Simulation> {
        let perf = Arc::new(PerfModel::new(
            &sc.hardware,
            &sc.model,
            sc.parallelism,
            sc.precision,
            sc.kv_reserve_fraction,
            &sc.file.display().to_string(),
        )?);
        let mut notes = sc.notes.clone();
        notes.extend(perf.notes.iter().cloned());
        let replicas: Vec<Replica> = (0..sc.replicas)
            .map(|i| Replica::new(ReplicaId(i), perf.clone(), sc.scheduler))
            .collect();
        // Replicas pack into instances: a replica of TP t uses t ranks.
        let ranks = sc.hardware.ranks_per_instance();
        let instances = if sc.parallelism.tp >= ranks {
            sc.replicas * sc.parallelism.tp.div_ceil(ranks)
        } else {
            sc.replicas.div_ceil(ranks / sc.parallelism.tp)
        };
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
        Ok(Simulation {
            opts,
            queue: EventQueue::new(),
            reqs: Vec::new(),
            free_slots: Vec::new(),
            started: false,
            kicked: vec![false; replicas.len()],
            replicas,
            router: Router::new(sc.routing, sc.seed),
            generator,
            pending: None,
            arrivals_left: sc.requests,
            next_seq: 0,
            outcome: StepOutcome::default(),
            ttft: Samples::default(),
            tpot: Samples::default(),
            e2e: Samples::default(),
            queue_delay: Samples::default(),
            itl: WeightedSamples::default(),
            counts: Counts::default(),
            rows: Vec::new(),
            last_completion: SimTime::ZERO,
            notes,
            instances,
            sc: sc.clone(),
        })
    }

    pub fn perf(&self) -> &PerfModel {
        &self.replicas[0].perf
    }

    /// Runs to the end. Returns the summary and, if asked for, one row per finished request.
    pub fn run(mut self) -> (RunResult, Vec<RequestRow>) {
        let wall = std::time::Instant::now();
        match self.sc.arrival {
            ArrivalSpec::Closed { clients, .. } => {
                for c in 0..clients.min(self.arrivals_left.min(u32::MAX as u64) as u32) {
                    self.queue.push(SimTime::ZERO, Event::ClientSend(c));
                }
            }
            _ => self.schedule_next_arrival(),
        }
        self.started = true;
        while let Some((now, ev)) = self.queue.pop() {
            match ev {
                Event::Arrival => {
                    if let Some(nr) = self.pending.take() {
                        self.admit(now, nr.input_tokens, nr.output_tokens, None);
                    }
                    self.schedule_next_arrival();
                }
                Event::Kick(rid) => {
                    self.kicked[rid.index()] = false;
                    if !self.replicas[rid.index()].is_busy() {
                        self.start_step(now, rid);
                    }
                }
                Event::ClientSend(c) => {
                    if self.arrivals_left > 0 {
                        let (i, o) = self.generator.lengths();
                        self.admit(now, i, o, Some(c));
                    }
                }
                Event::StepEnd(rid) => self.step_end(now, rid),
            }
        }
        let wall_s = wall.elapsed().as_secs_f64();
        let rows = std::mem::take(&mut self.rows);
        (self.summarise(wall_s), rows)
    }

    /// Pulls the next open-loop request; requests due now are admitted at once (so that a burst
    /// at one instant lands in the queues before any replica plans its step), the first later
    /// one is held in `pending` with an Arrival event.
    fn schedule_next_arrival(&mut self) {
        while self.arrivals_left > 0 {
            let Some(nr) = self.generator.next_request() else {
                return;
            };
            let now = self.queue.now();
            let t = SimTime(nr.arrival_ns).max(now);
            if t == now && self.started {
                self.admit(now, nr.input_tokens, nr.output_tokens, None);
                continue;
            }
            self.pending = Some(nr);
            self.queue.push(t, Event::Arrival);
            return;
        }
    }

    fn admit(&mut self, now: SimTime, input: u32, output: u32, client: Option<u32>) {
        self.arrivals_left -= 1;
        self.counts.arrived += 1;
        self.counts.output_tokens_asked += output as u64;
        self.counts.input_tokens += input as u64;
        let rid = self.router.pick(&self.replicas);
        if !self.replicas[rid.index()].can_ever_fit(input, output) {
            self.counts.dropped += 1;
            if self.counts.dropped == 1 {
                self.notes.push(format!(
                    "requests dropped: a request of {input} + {output} tokens needs more KV cache than a replica has ({} tokens)",
                    self.replicas[0].total_blocks() * self.sc.scheduler.block_tokens as u64
                ));
            }
            if let Some(c) = client {
                self.client_next(now, c);
            }
            return;
        }
        let state = ReqState::new(self.next_seq, now, input, output, client);
        self.next_seq += 1;
        let id = match self.free_slots.pop() {
            Some(slot) => {
                self.reqs[slot as usize] = state;
                RequestId(slot)
            }
            None => {
                self.reqs.push(state);
                RequestId(self.reqs.len() as u32 - 1)
            }
        };
        let replica = &mut self.replicas[rid.index()];
        replica.enqueue(id, &mut self.reqs[id.index()]);
        if !replica.is_busy() && !self.kicked[rid.index()] {
            self.kicked[rid.index()] = true;
            self.queue.push(now, Event::Kick(rid));
        }
    }

    fn start_step(&mut self, now: SimTime, rid: ReplicaId) {
        if let Some(cost) = self.replicas[rid.index()].plan_step(now, &mut self.reqs) {
            self.queue.push(now.after(cost.total_ns), Event::StepEnd(rid));
        }
    }

    fn client_next(&mut self, now: SimTime, client: u32) {
        if let ArrivalSpec::Closed { think_time_s, .. } = self.sc.arrival {
            if self.arrivals_left > 0 {
                self.queue.push(
                    now.after(crate::engine::secs_to_ns(think_time_s)),
                    Event::ClientSend(client),
                );
            }
        }
    }

    fn step_end(&mut self, now: SimTime, rid: ReplicaId) {
        let mut out = std::mem::take(&mut self.outcome);
        self.replicas[rid.index()].finish_step(now, &mut self.reqs, &mut out);
        for &(gap_ns, n) in &out.itl {
            self.itl.push(gap_ns as f64 * 1e-6, n);
        }
        for &id in &out.completed {
            self.complete(now, id);
        }
        self.outcome = out;
        self.start_step(now, rid);
    }

    fn complete(&mut self, now: SimTime, id: RequestId) {
        let r = &self.reqs[id.index()];
        let ttft_ns = r.first_token.since(r.arrival);
        let e2e_ns = now.since(r.arrival);
        let ms = |ns: u64| ns as f64 * 1e-6;
        let tpot_ms = if r.output > 1 {
            ms(now.since(r.first_token)) / (r.output - 1) as f64
        } else {
            f64::NAN
        };
        self.ttft.push(ms(ttft_ns));
        self.e2e.push(ms(e2e_ns));
        if r.output > 1 {
            self.tpot.push(tpot_ms);
        }
        let queue_ns = if r.scheduled == NO_TIME {
            0
        } else {
            r.scheduled.since(r.arrival)
        };
        self.queue_delay.push(ms(queue_ns));
        self.counts.completed += 1;
        self.counts.output_tokens_produced += r.generated as u64;
        self.counts.preempted += r.preemptions as u64;
        self.last_completion = self.last_completion.max(now);
        if self.opts.keep_requests {
            self.rows.push(RequestRow {
                id: r.seq,
                replica: r.replica.0,
                arrival_s: r.arrival.as_secs_f64(),
                input_tokens: r.input,
                output_tokens: r.output,
                queue_ms: ms(queue_ns),
                ttft_ms: ms(ttft_ns),
                tpot_ms,
                e2e_ms: ms(e2e_ns),
                preemptions: r.preemptions,
            });
        }
        let client = r.client;
        self.free_slots.push(id.0);
        if let Some(c) = client {
            self.client_next(now, c);
        }
    }

    fn summarise(&self, wall_s: f64) -> RunResult {
        let span_s = self.last_completion.as_secs_f64();
        let per_s = |x: f64| if span_s > 0.0 { x / span_s } else { 0.0 };
        let out_tok = self.counts.output_tokens_produced as f64;
        let total_tok = out_tok + self.counts.input_tokens as f64;
        let hw = &self.sc.hardware;

        let usd_per_hour = self.instances as f64 * hw.instance.price.on_demand_usd_per_hour;
        let usd_total = usd_per_hour * span_s / 3600.0;
        let per_mtok = |tok: f64| if tok > 0.0 { usd_total / tok * 1e6 } else { 0.0 };

        // Power: every chip of every instance draws idle power for the whole run; busy chips
        // add (TDP − idle) × activity; hosts draw a fixed share of their TDP.
        let chips_per_replica = self.sc.parallelism.tp.div_ceil(hw.chip.ranks_per_chip) as f64;
        let all_chips = (self.instances * hw.instance.chips) as f64;
        let active_ns: f64 = self.replicas.iter().map(|r| r.stats.active_ns).sum();
        let dynamic_j = (hw.chip.tdp_w - hw.chip.idle_w).max(0.0) * chips_per_replica * active_ns * 1e-9;
        let idle_j = hw.chip.idle_w * all_chips * span_s;
        let host_j = hw.host.tdp_w * hw.host.sockets as f64 * HOST_POWER_FRACTION * self.instances as f64 * span_s;
        let j_total = dynamic_j + idle_j + host_j;

        let mut b = Breakdown::default();
        let mut steps = 0;
        let mut busy_ns = 0u64;
        for r in &self.replicas {
            b.compute_s += r.stats.compute_ns * 1e-9;
            b.memory_s += r.stats.memory_ns * 1e-9;
            b.communication_s += r.stats.comm_ns * 1e-9;
            b.overhead_s += r.stats.overhead_ns * 1e-9;
            steps += r.stats.steps;
            busy_ns += r.stats.busy_ns;
        }
        b.busy_fraction = if span_s > 0.0 {
            busy_ns as f64 * 1e-9 / (span_s * self.replicas.len() as f64)
        } else {
            0.0
        };

        RunResult {
            scenario: self.sc.name.clone(),
            ttft_ms: self.ttft.summary(),
            tpot_ms: self.tpot.summary(),
            itl_ms: self.itl.summary(),
            e2e_ms: self.e2e.summary(),
            queue_ms: self.queue_delay.summary(),
            throughput: Throughput {
                output_tok_s: per_s(out_tok),
                total_tok_s: per_s(total_tok),
                requests_s: per_s(self.counts.completed as f64),
            },
            cost: Cost {
                usd_per_mtok_output: per_mtok(out_tok),
                usd_per_mtok_total: per_mtok(total_tok),
                usd_total,
                usd_per_hour,
                instances: self.instances,
            },
            energy: Energy {
                j_per_output_token: if out_tok > 0.0 { j_total / out_tok } else { 0.0 },
                j_total,
                avg_power_w: if span_s > 0.0 { j_total / span_s } else { 0.0 },
            },
            requests: self.counts,
            breakdown: b,
            sim: SimFigures {
                events: self.queue.events_processed(),
                steps,
                wall_s,
                sim_time_s: span_s,
            },
            notes: self.notes.clone(),
        }
    }
}
