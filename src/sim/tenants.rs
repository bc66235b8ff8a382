//! `[[workload.tenants]]` in the event loop: one generator per tenant, each drawing from its own
//! random streams (`Stream::TenantArrivals`, `Stream::TenantLengths`, keyed by the tenant's
//! name, so adding a tenant shifts no other tenant's draws and none of the run's own), merged in
//! time order (ties to the lower tenant index); each request's class is its tenant. Counts per
//! tenant what arrived and what was turned away; the rest comes from the per-class records. On
//! a fleet of several models (`deployment.groups[].model`) a request is routed only among the
//! lanes of the groups serving its tenant's model, by one router per model.

use super::Simulation;
use crate::metrics::tenants::{TenantResult, TenantsResult};
use crate::rng::Stream;
use crate::scenario::Scenario;
use crate::serve::ReplicaId;
use crate::serve::router::Router;
use crate::workload::{Generator, LengthSampler, NewRequest};
use std::collections::VecDeque;

pub(super) struct Tenants {
    generators: Vec<Generator>,
    /// Each tenant's next request, drawn ahead (None: the tenant has sent all of its).
    heads: Vec<Option<NewRequest>>,
    /// The tenants of the requests drawn and not yet admitted, in order.
    drawn: VecDeque<usize>,
    arrived: Vec<u64>,
    turned_away: Vec<u64>,
    /// Per model of a multi-model fleet: the lanes serving it and its router (empty: one model,
    /// the run's router over every entry lane).
    model_lanes: Vec<Vec<u32>>,
    routers: Vec<Router>,
}

impl Tenants {
    pub(super) fn new(sc: &Scenario) -> Option<Tenants> {
        if sc.tenants.is_empty() {
            return None;
        }
        let mut generators: Vec<Generator> = sc
            .tenants
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let input = LengthSampler::new(&t.input, t.input_column.clone());
                let output = LengthSampler::new(&t.output, t.output_column.clone());
                let h = crate::hash::fnv1a(&t.name);
                let ctx = lane_context_of(sc, i);
                Generator::new(&t.arrival, input, output, ctx, t.requests, sc.seed, None)
                    .with_rngs(
                        Stream::TenantArrivals(h).rng(sc.seed),
                        Stream::TenantLengths(h).rng(sc.seed),
                    )
                    .with_max_tokens(Some(t.max_tokens))
                    .with_profile(t.profile.as_ref())
            })
            .collect();
        let heads = generators.iter_mut().map(Generator::next_request).collect();
        let n = sc.tenants.len();
        let models = sc.tenants.iter().map(|t| t.model + 1).max().unwrap_or(0);
        let multi = sc.tenants.iter().any(|t| !t.pools.is_empty());
        let mut model_lanes = vec![Vec::new(); if multi { models } else { 0 }];
        for t in sc.tenants.iter().filter(|t| !t.pools.is_empty()) {
            if model_lanes[t.model].is_empty() {
                model_lanes[t.model] = t.pools.iter().flat_map(|&p| pool_lanes(sc, p)).collect();
            }
        }
        let routers = match multi {
            true => (0..models as u32)
                .map(|m| Router::new(sc.routing, Stream::ModelRouter(m).rng(sc.seed)))
                .collect(),
            false => Vec::new(),
        };
        Some(Tenants {
            generators,
            heads,
            drawn: VecDeque::new(),
            arrived: vec![0; n],
            turned_away: vec![0; n],
            model_lanes,
            routers,
        })
    }

    /// The earliest of the tenants' next requests (O(tenants)).
    fn next_request(&mut self) -> Option<NewRequest> {
        let i = (0..self.heads.len())
            .filter_map(|i| self.heads[i].as_ref().map(|r| (r.arrival_ns, i)))
            .min()?
            .1;
        let next = self.generators[i].next_request();
        self.drawn.push_back(i);
        std::mem::replace(&mut self.heads[i], next)
    }

    /// The tenant (class) of the request being admitted, the oldest drawn.
    fn admitted(&mut self) -> usize {
        let i = self.drawn.pop_front().unwrap_or(0);
        self.arrived[i] += 1;
        i
    }
}

/// The lanes of pool `p` as the cluster lays them out: pools in order, `replicas × pp` lanes
/// each (the deployment groups of a multi-model fleet are never autoscaled).
fn pool_lanes(sc: &Scenario, p: usize) -> std::ops::Range<u32> {
    let lanes = |pool: &crate::scenario::Pool| pool.replicas * pool.pp.max(1);
    let start: u32 = sc.pools[..p].iter().map(lanes).sum();
    start..start + lanes(&sc.pools[p])
}

/// The context of tenant `i`'s model (its group's, or `[model]`'s).
fn lane_context_of(sc: &Scenario, i: usize) -> u32 {
    let t = &sc.tenants[i];
    t.pools
        .first()
        .and_then(|&p| sc.pools[p].model.as_deref())
        .map_or(sc.model.max_context, |m| m.max_context)
}

/// The longest request a pool may be sent on a multi-model fleet: the longest prompt and the
/// largest `max_tokens` of the tenants calling its model ((1, 1) when none does); None when
/// requests may go to any pool.
pub(super) fn longest_on_pool(sc: &Scenario, pool: usize) -> Option<(u64, u64)> {
    if sc.tenants.iter().all(|t| t.pools.is_empty()) {
        return None;
    }
    let empty = Vec::new();
    let (mut prompt, mut max_tokens) = (1, 1);
    for t in sc.tenants.iter().filter(|t| t.pools.contains(&pool)) {
        prompt = prompt.max(t.input.max_tokens(t.input_column.as_deref().unwrap_or(&empty)) as u64);
        max_tokens = max_tokens.max(t.max_tokens as u64);
    }
    Some((prompt, max_tokens))
}

impl Simulation {
    /// The replica a request of class `class` goes to: among the lanes serving its tenant's
    /// model on a multi-model fleet, else as the run routes every request.
    pub(super) fn pick_for(&mut self, class: usize, key: Option<u64>) -> ReplicaId {
        if let Some(t) = self.tenants.as_mut().filter(|t| !t.routers.is_empty()) {
            let m = self.sc.tenants[class].model;
            let lanes = &t.model_lanes[m];
            let replicas = &self.cluster.replicas;
            let picked = t.routers[m].pick(lanes.iter().map(|&l| replicas[l as usize].load()), key);
            return ReplicaId(lanes[picked]);
        }
        self.pick_replica(key)
    }

    /// The next open-loop request: the workload's, or the earliest of the tenants'.
    pub(super) fn next_generated(&mut self) -> Option<NewRequest> {
        match self.tenants.as_mut() {
            Some(t) => t.next_request(),
            None => self.generator.next_request(),
        }
    }

    /// A tenant's request is admitted: its class is its tenant (None without tenants).
    pub(super) fn tenant_class(&mut self) -> Option<usize> {
        self.tenants.as_mut().map(Tenants::admitted)
    }

    /// A request of class `class` was dropped or rejected.
    pub(super) fn tenant_turned_away(&mut self, class: usize) {
        if let Some(t) = self.tenants.as_mut() {
            t.turned_away[class] += 1;
        }
    }

    pub(super) fn tenants_result(&self, span_s: f64) -> Option<TenantsResult> {
        let t = self.tenants.as_ref()?;
        let per_s = |x: f64| if span_s > 0.0 { x / span_s } else { 0.0 };
        let results = self
            .class_results()
            .into_iter()
            .enumerate()
            .map(|(i, c)| {
                let arrived = t.arrived[i];
                let met = self.rec.class_met[i] as f64;
                TenantResult {
                    name: c.name,
                    model: self.sc.tenants[i].model_name.clone(),
                    priority: c.priority,
                    base_rate_per_s: self.sc.tenants[i].rate_per_s,
                    arrived,
                    completed: c.completed,
                    turned_away: t.turned_away[i],
                    unfinished: arrived.saturating_sub(c.completed + t.turned_away[i]),
                    requests_s: per_s(c.completed as f64),
                    output_tok_s: per_s(self.rec.class_output_tokens[i] as f64),
                    ttft_ms: c.ttft_ms,
                    tpot_ms: c.tpot_ms,
                    goodput_requests_s: c.slo_attainment.map(|_| per_s(met)),
                    slo_attainment: c.slo_attainment,
                    served_fraction: if arrived > 0 {
                        c.completed as f64 / arrived as f64
                    } else {
                        0.0
                    },
                }
            })
            .collect();
        Some(TenantsResult::new(results))
    }
}
