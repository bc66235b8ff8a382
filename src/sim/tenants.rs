//! `[[workload.tenants]]` in the event loop: one generator per tenant, each drawing from its own
//! random streams (`Stream::TenantArrivals(i)`, `Stream::TenantLengths(i)`, so adding a tenant
//! shifts no other tenant's draws and none of the run's own), merged in time order (ties to the
//! lower tenant index); each request's class is its tenant. Counts per tenant what arrived and
//! what was turned away; the rest comes from the per-class records.

use super::Simulation;
use crate::metrics::tenants::{TenantResult, TenantsResult};
use crate::rng::Stream;
use crate::scenario::Scenario;
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
                let i = i as u32;
                Generator::new(
                    &t.arrival,
                    input,
                    output,
                    sc.model.max_context,
                    t.requests,
                    sc.seed,
                    None,
                )
                .with_rngs(
                    Stream::TenantArrivals(i).rng(sc.seed),
                    Stream::TenantLengths(i).rng(sc.seed),
                )
                .with_max_tokens(Some(t.max_tokens))
                .with_profile(t.profile.as_ref())
            })
            .collect();
        let heads = generators.iter_mut().map(Generator::next_request).collect();
        let n = sc.tenants.len();
        Some(Tenants {
            generators,
            heads,
            drawn: VecDeque::new(),
            arrived: vec![0; n],
            turned_away: vec![0; n],
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

impl Simulation {
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
