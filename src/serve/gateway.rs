//! Admission and flow control in front of the router, as inference gateways do it (the Gateway
//! API Inference Extension's flow control and saturation detector, Envoy's local rate limit):
//! a token bucket on the admission rate, a bounded queue ordered FIFO, by priority or by SLO
//! deadline, load shedding by priority when the queue is full or a sheddable request would have
//! to wait, a queue timeout, and a saturation gate that holds requests while every replica is
//! saturated (queue depth or KV utilisation at or above a threshold).
//!
//! The gateway holds whatever the simulation hands it (`T`); it never reads a request's true
//! output length (INV-12): its decisions use the arrival, the class's priority and the class's
//! TTFT SLO.

use super::router::ReplicaLoad;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// Nanotokens per token: the bucket counts in integers so that its admissions are exact.
const NANO: u64 = 1_000_000_000;

/// A token bucket: `burst` tokens at the start, refilled at `rate_per_s`, never above `burst`;
/// each admission takes one token. Its level is an integer count of nanotokens, so with
/// requests always waiting it admits exactly ⌊rate × t + burst⌋ requests by time t (the
/// fraction of a nanotoken a refill leaves is carried to the next).
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate_per_s: f64,
    cap_nt: u64,
    level_nt: u64,
    /// The fraction of a nanotoken refilled but not yet counted (so refills at close instants
    /// lose nothing).
    carry_nt: f64,
    last_ns: u64,
}

impl TokenBucket {
    /// A full bucket at time 0. `burst` ≥ 1 and `rate_per_s` > 0 are checked at load.
    pub fn new(rate_per_s: f64, burst: u32) -> TokenBucket {
        let cap_nt = burst as u64 * NANO;
        TokenBucket {
            rate_per_s,
            cap_nt,
            level_nt: cap_nt,
            carry_nt: 0.0,
            last_ns: 0,
        }
    }

    fn refill(&mut self, now_ns: u64) {
        let dt = now_ns.saturating_sub(self.last_ns);
        self.last_ns = self.last_ns.max(now_ns);
        // rate tokens/s × dt ns = rate × dt nanotokens; capped before the cast.
        let exact = (self.rate_per_s * dt as f64 + self.carry_nt).min(self.cap_nt as f64);
        let add = exact.floor();
        self.carry_nt = exact - add;
        self.level_nt = (self.level_nt + add as u64).min(self.cap_nt);
        if self.level_nt == self.cap_nt {
            self.carry_nt = 0.0;
        }
    }

    /// Takes a token at `now_ns` if one is there.
    pub fn try_take(&mut self, now_ns: u64) -> bool {
        self.refill(now_ns);
        if self.level_nt >= NANO {
            self.level_nt -= NANO;
            true
        } else {
            false
        }
    }

    /// When the next token will be there (called after `try_take` failed at `now_ns`).
    pub fn next_token_ns(&self, now_ns: u64) -> u64 {
        let need = NANO.saturating_sub(self.level_nt) as f64;
        now_ns + ((need / self.rate_per_s).ceil() as u64).max(1)
    }
}

/// The order in which the gateway queue releases requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GatewayOrder {
    /// First come, first served.
    #[default]
    Fifo,
    /// Lowest priority number first, then by arrival.
    Priority,
    /// Earliest SLO deadline first (arrival + the class's TTFT SLO); requests whose class has
    /// no TTFT SLO come after every request with one, by arrival.
    Deadline,
}

/// When a replica counts as saturated (the Gateway API Inference Extension's saturation
/// detector reads the same two model-server metrics: waiting requests and KV utilisation).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Saturation {
    /// Saturated at this many waiting requests or more.
    pub queue_depth: Option<u32>,
    /// Saturated at this fraction of KV blocks used or more.
    pub kv_fraction: Option<f64>,
}

impl Saturation {
    /// Whether a replica with this load and KV use is saturated.
    pub fn saturated(&self, load: &ReplicaLoad, used_blocks: u64, total_blocks: u64) -> bool {
        let deep = self.queue_depth.is_some_and(|d| load.queued >= d);
        let full = self
            .kv_fraction
            .is_some_and(|f| used_blocks as f64 >= f * total_blocks.max(1) as f64);
        deep || full
    }
}

/// The gateway's configuration, resolved from `[gateway]`.
#[derive(Debug, Clone, PartialEq)]
pub struct GatewaySpec {
    /// Token bucket: (rate per second, burst).
    pub bucket: Option<(f64, u32)>,
    /// Requests the gateway queue holds; when full, the lowest-priority one is shed.
    pub max_queue: Option<u32>,
    pub order: GatewayOrder,
    /// Requests of this priority number or higher are shed rather than queued.
    pub sheddable_priority: Option<u32>,
    /// A request waiting longer than this in the gateway queue is timed out.
    pub queue_timeout_ns: Option<u64>,
    /// The client gives up this long after sending: the request is cancelled wherever it is.
    pub client_timeout_ns: Option<u64>,
    pub saturation: Option<Saturation>,
}

/// Why the gateway turned a request away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shed {
    /// Its priority is sheddable and it would have had to wait.
    Sheddable,
    /// The queue was full and it had the lowest priority (latest arrival among equals).
    QueueFull,
}

/// What the gateway did with an offered request.
#[derive(Debug, PartialEq)]
pub enum Offer<T> {
    /// Pass it to the router now.
    Release(T),
    /// It waits in the gateway queue.
    Queued,
    /// Turned away: this request (the one offered, or one displaced from the queue).
    Shed(T, Shed),
}

/// The queue's sort key: (order key, arrival ticket).
type Key = (u64, u64);

/// The gateway: its bucket, its queue and its shedding rules.
#[derive(Debug)]
pub struct Gateway<T> {
    pub spec: GatewaySpec,
    bucket: Option<TokenBucket>,
    queue: BTreeMap<Key, (u32, T)>,
    /// Ticket → queue key, to remove a request that timed out or was cancelled.
    keys: HashMap<u64, Key>,
    /// A wake-up for the bucket is scheduled at this time.
    pub wake_at: Option<u64>,
}

impl<T> Gateway<T> {
    pub fn new(spec: GatewaySpec) -> Gateway<T> {
        Gateway {
            bucket: spec.bucket.map(|(r, b)| TokenBucket::new(r, b)),
            spec,
            queue: BTreeMap::new(),
            keys: HashMap::new(),
            wake_at: None,
        }
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    fn key(&self, ticket: u64, arrival_ns: u64, priority: u32, ttft_slo_ns: Option<u64>) -> Key {
        let k = match self.spec.order {
            GatewayOrder::Fifo => arrival_ns,
            GatewayOrder::Priority => priority as u64,
            GatewayOrder::Deadline => ttft_slo_ns.map_or(u64::MAX, |s| arrival_ns.saturating_add(s)),
        };
        (k, ticket)
    }

    /// Whether every replica is saturated (never, without a saturation gate).
    pub fn saturated<'a>(&self, replicas: impl Iterator<Item = (ReplicaLoad, u64, u64)> + 'a) -> bool {
        let Some(s) = self.spec.saturation else {
            return false;
        };
        let mut any = false;
        for (load, used, total) in replicas {
            any = true;
            if !s.saturated(&load, used, total) {
                return false;
            }
        }
        any
    }

    /// A request reaches the gateway at `now_ns` (`ticket`: its arrival number, unique and
    /// increasing). `saturated`: every replica is saturated now.
    pub fn offer(&mut self, req: T, r: &Request, now_ns: u64, saturated: bool) -> Offer<T> {
        if self.queue.is_empty() && !saturated && self.take_token(now_ns) {
            return Offer::Release(req);
        }
        if self.spec.sheddable_priority.is_some_and(|p| r.priority >= p) {
            return Offer::Shed(req, Shed::Sheddable);
        }
        let key = self.key(r.ticket, r.arrival_ns, r.priority, r.ttft_slo_ns);
        if self.spec.max_queue.is_some_and(|m| self.queue.len() >= m as usize) {
            // The worst request (highest priority number, latest arrival) goes, maybe this one.
            let worst = self
                .queue
                .iter()
                .max_by_key(|(k, (p, _))| (*p, k.1))
                .map(|(k, (p, _))| (*k, *p));
            match worst {
                Some((wk, wp)) if (wp, wk.1) > (r.priority, r.ticket) => {
                    let (_, shed) = self.queue.remove(&wk).expect("the worst key is in the queue");
                    self.keys.remove(&wk.1);
                    self.queue.insert(key, (r.priority, req));
                    self.keys.insert(r.ticket, key);
                    return Offer::Shed(shed, Shed::QueueFull);
                }
                _ => return Offer::Shed(req, Shed::QueueFull),
            }
        }
        self.queue.insert(key, (r.priority, req));
        self.keys.insert(r.ticket, key);
        Offer::Queued
    }

    fn take_token(&mut self, now_ns: u64) -> bool {
        self.bucket.as_mut().is_none_or(|b| b.try_take(now_ns))
    }

    /// The next request to release at `now_ns`, if the queue has one and a token is there
    /// (the caller checked saturation). When the bucket is empty, `Err(t)`: the next token
    /// comes at `t`.
    pub fn release(&mut self, now_ns: u64) -> Result<Option<T>, u64> {
        if self.queue.is_empty() {
            return Ok(None);
        }
        if !self.take_token(now_ns) {
            let b = self.bucket.as_ref().expect("only a bucket refuses a token");
            return Err(b.next_token_ns(now_ns));
        }
        let (key, (_, req)) = self.queue.pop_first().expect("the queue is not empty");
        self.keys.remove(&key.1);
        Ok(Some(req))
    }

    /// Takes the request of `ticket` out of the queue (it timed out or was cancelled).
    pub fn remove(&mut self, ticket: u64) -> Option<T> {
        let key = self.keys.remove(&ticket)?;
        self.queue.remove(&key).map(|(_, t)| t)
    }
}

/// What the gateway reads of a request.
#[derive(Debug, Clone, Copy)]
pub struct Request {
    pub ticket: u64,
    pub arrival_ns: u64,
    pub priority: u32,
    pub ttft_slo_ns: Option<u64>,
}

#[cfg(test)]
mod tests;
