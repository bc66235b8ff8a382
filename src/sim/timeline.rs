//! What a run did over time, when asked (`RunOptions::timeline`): every step of every replica
//! (its batch, tokens, KV use, queue and time breakdown) and a sample of the requests (their
//! milestones and attribution), within a window of simulated time and up to a number of
//! records, so a long run's timeline stays bounded. Nothing is recorded when it is off (one
//! branch per step and per completion). `trace_json` writes it as Chrome trace-event JSON
//! (the format Perfetto and chrome://tracing read).

use crate::engine::SimTime;
use crate::metrics::attribution::{Part, Parts};
use crate::perf::StepCost;
use crate::serve::ReqState;
use crate::serve::replica::Replica;
use serde_json::{Value, json};

/// Which part of a run to record.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimelineSpec {
    /// Simulated time window, ns: steps that start and requests that arrive in it.
    pub from_ns: u64,
    pub to_ns: u64,
    /// Keep one request in `sample_every` (by arrival order).
    pub sample_every: u64,
    /// The most step and request records kept; beyond, recording stops (`truncated`).
    pub max_records: usize,
}

impl Default for TimelineSpec {
    fn default() -> TimelineSpec {
        TimelineSpec {
            from_ns: 0,
            to_ns: u64::MAX,
            sample_every: 1,
            max_records: 2_000_000,
        }
    }
}

/// One step of one replica.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepRecord {
    pub replica: u32,
    pub start_ns: u64,
    pub end_ns: u64,
    pub prefill_tokens: u64,
    pub decode_rows: u64,
    pub chunks: u32,
    /// Requests queued (waiting, swapped, arrived KV) and running when it started.
    pub queued: u32,
    pub running: u32,
    pub kv_used_blocks: u64,
    pub kv_total_blocks: u64,
    pub compute_ns: f64,
    pub memory_ns: f64,
    pub comm_ns: f64,
    pub overhead_ns: f64,
}

/// One finished request of the sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RequestRecord {
    pub seq: u64,
    pub replica: u32,
    pub class: u16,
    pub input: u32,
    pub output: u32,
    pub arrival_ns: u64,
    pub routed_ns: u64,
    pub scheduled_ns: u64,
    pub first_token_ns: u64,
    pub end_ns: u64,
    pub preemptions: u32,
    pub ttft: Parts,
    pub e2e: Parts,
}

#[derive(Debug, Clone, Default)]
pub struct Timeline {
    pub spec: TimelineSpec,
    pub steps: Vec<StepRecord>,
    pub requests: Vec<RequestRecord>,
    /// Recording stopped at `max_records`.
    pub truncated: bool,
    pub replicas: u32,
}

impl Timeline {
    pub fn new(spec: TimelineSpec, replicas: usize) -> Timeline {
        Timeline {
            spec,
            replicas: replicas as u32,
            ..Timeline::default()
        }
    }

    fn room(&mut self) -> bool {
        let ok = self.steps.len() + self.requests.len() < self.spec.max_records;
        self.truncated |= !ok;
        ok
    }

    /// Replica `rep` started a step at `start` that ends at `end`.
    pub fn step(&mut self, rep: &Replica, start: SimTime, end: SimTime, cost: &StepCost) {
        if start.0 < self.spec.from_ns || start.0 > self.spec.to_ns || !self.room() {
            return;
        }
        let (prefill_tokens, decode_rows, chunks) = rep.step_shape();
        self.steps.push(StepRecord {
            replica: rep.id.0,
            start_ns: start.0,
            end_ns: end.0,
            prefill_tokens,
            decode_rows,
            chunks,
            queued: rep.queue_len() as u32,
            running: rep.running() as u32,
            kv_used_blocks: rep.used_blocks(),
            kv_total_blocks: rep.total_blocks(),
            compute_ns: cost.compute_ns,
            memory_ns: cost.memory_ns,
            comm_ns: cost.comm_ns,
            overhead_ns: cost.overhead_ns,
        });
    }

    /// Request `r` finished at `now`.
    pub fn request(&mut self, r: &ReqState, now: SimTime) {
        let a = r.arrival.0;
        if a < self.spec.from_ns || a > self.spec.to_ns || r.seq % self.spec.sample_every.max(1) != 0 {
            return;
        }
        if !self.room() {
            return;
        }
        let l = &r.ledger;
        let t = r.times();
        self.requests.push(RequestRecord {
            seq: r.seq,
            replica: r.replica().0,
            class: r.class,
            input: r.input,
            output: r.output,
            arrival_ns: a,
            routed_ns: a + l.parts.get(Part::Network) + l.parts.get(Part::Frontend),
            scheduled_ns: t.scheduled.0.min(t.first_token.0),
            first_token_ns: t.first_token.0,
            end_ns: now.0,
            preemptions: r.progress().preemptions,
            ttft: l.ttft,
            e2e: l.parts,
        });
    }
}

const REPLICAS_PID: u32 = 1;
const REQUESTS_PID: u32 = 2;

/// Whole microseconds (the format's unit): a step's end and the next one's start are then the
/// same number, where fractional microseconds in floating point could overlap by an ulp and
/// make viewers nest abutting steps.
fn us(ns: u64) -> u64 {
    ns / 1_000
}

fn parts_ms(p: &Parts) -> Value {
    let mut m = serde_json::Map::new();
    for part in Part::ALL {
        let ns = p.get(part);
        if ns > 0 {
            m.insert(part.name().to_string(), json!(ns as f64 * 1e-6));
        }
    }
    Value::Object(m)
}

fn meta(pid: u32, tid: Option<u64>, what: &str, name: &str) -> Value {
    let mut e = json!({ "ph": "M", "pid": pid, "ts": 0, "name": what, "args": { "name": name } });
    e["tid"] = json!(tid.unwrap_or(0));
    e
}

fn step_events(s: &StepRecord, out: &mut Vec<Value>) {
    let name = match (s.prefill_tokens > 0, s.decode_rows > 0) {
        (true, true) => "prefill+decode",
        (true, false) => "prefill",
        _ => "decode",
    };
    out.push(json!({
        "ph": "X", "cat": "step", "name": name, "pid": REPLICAS_PID, "tid": s.replica,
        "ts": us(s.start_ns), "dur": us(s.end_ns) - us(s.start_ns),
        "args": {
            "prefill_tokens": s.prefill_tokens, "decode_rows": s.decode_rows, "prompt_chunks": s.chunks,
            "queued": s.queued, "running": s.running,
            "kv_used_blocks": s.kv_used_blocks, "kv_total_blocks": s.kv_total_blocks,
            "compute_ms": s.compute_ns * 1e-6, "memory_ms": s.memory_ns * 1e-6,
            "comm_ms": s.comm_ns * 1e-6, "overhead_ms": s.overhead_ns * 1e-6,
        }
    }));
    let kv_pct = 100.0 * s.kv_used_blocks as f64 / s.kv_total_blocks.max(1) as f64;
    out.push(
        json!({ "ph": "C", "name": format!("queue r{}", s.replica), "pid": REPLICAS_PID, "tid": s.replica,
        "ts": us(s.start_ns), "args": { "queued": s.queued, "running": s.running } }),
    );
    out.push(
        json!({ "ph": "C", "name": format!("kv use r{}", s.replica), "pid": REPLICAS_PID, "tid": s.replica,
        "ts": us(s.start_ns), "args": { "kv_used_pct": kv_pct } }),
    );
}

fn request_events(r: &RequestRecord, out: &mut Vec<Value>) {
    let tid = r.seq;
    let span = |name: &str, from: u64, to: u64, args: Value| {
        json!({ "ph": "X", "cat": "request", "name": name, "pid": REQUESTS_PID, "tid": tid,
            "ts": us(from), "dur": us(to).saturating_sub(us(from)), "args": args })
    };
    out.push(span(
        "front end",
        r.arrival_ns,
        r.routed_ns,
        json!({ "replica": r.replica }),
    ));
    out.push(span("queued", r.routed_ns, r.scheduled_ns, json!({})));
    out.push(span(
        "prefill",
        r.scheduled_ns,
        r.first_token_ns,
        json!({ "input_tokens": r.input, "ttft_ms": parts_ms(&r.ttft) }),
    ));
    let preempted = r.e2e.get(Part::Preempt);
    out.push(span(
        if preempted > 0 { "decode (preempted)" } else { "decode" },
        r.first_token_ns,
        r.end_ns,
        json!({ "output_tokens": r.output, "preemptions": r.preemptions, "e2e_ms": parts_ms(&r.e2e) }),
    ));
}

/// The timeline as Chrome trace-event JSON: a process of replica tracks (one thread per
/// replica: its steps, and counters of its queue and KV use) and one of request tracks (one
/// thread per sampled request: front end, queued, prefill, decode). Times in microseconds.
pub fn trace_json(t: &Timeline, notes: &[String]) -> Value {
    let mut ev = vec![
        meta(REPLICAS_PID, None, "process_name", "replicas"),
        meta(REQUESTS_PID, None, "process_name", "requests"),
    ];
    for i in 0..t.replicas {
        ev.push(meta(
            REPLICAS_PID,
            Some(i as u64),
            "thread_name",
            &format!("replica {i}"),
        ));
    }
    for r in &t.requests {
        ev.push(meta(
            REQUESTS_PID,
            Some(r.seq),
            "thread_name",
            &format!("request {}", r.seq),
        ));
    }
    for s in &t.steps {
        step_events(s, &mut ev);
    }
    for r in &t.requests {
        request_events(r, &mut ev);
    }
    json!({
        "traceEvents": ev,
        "displayTimeUnit": "ms",
        "otherData": {
            "generator": "codesim",
            "window_s": [t.spec.from_ns as f64 * 1e-9, if t.spec.to_ns == u64::MAX { Value::Null } else { json!(t.spec.to_ns as f64 * 1e-9) }],
            "request_sample_every": t.spec.sample_every,
            "truncated": t.truncated,
            "notes": notes,
        }
    })
}
