//! The end of a run: the summary (latency distributions, throughput, cost and energy, the time
//! breakdown, the infrastructure's bottlenecks, per-class results) and the notes that say how to
//! read it.

use super::{Cut, Simulation, features, frontend};
use crate::metrics::accounting::{self, PoolUsage, RunTotals};
use crate::metrics::pricing::{self, PoolPrices, PricedRun, PricingResult};
use crate::metrics::{
    Breakdown, ClassResult, Counts, Dist, InfraResult, PreemptionCost, RunResult, SimFigures, Throughput,
};
use crate::scenario::infra::PricingMode;
use crate::scenario::limits::MAX_IN_SYSTEM;

impl Simulation {
    /// The simulated time the run is measured over: to the last completion, or to where it was
    /// cut.
    fn span_s(&self) -> f64 {
        match self.cut {
            Some((t, _)) => t.as_secs_f64(),
            None => self.rec.last_completion.as_secs_f64(),
        }
    }

    pub(super) fn summarise(&self, wall_s: f64) -> RunResult {
        let span_s = self.span_s();
        let per_s = |x: f64| if span_s > 0.0 { x / span_s } else { 0.0 };
        let out_tok = self.rec.counts.output_tokens_produced as f64;
        let total_tok = out_tok + self.rec.counts.input_tokens as f64;
        let infra = &self.sc.infra;
        let mut usage = self.pool_usage(span_s);
        usage.extend(self.encode_pool_usage());
        let frontend_usd_per_hour = infra.frontend.as_ref().map_or(0.0, |f| f.usd_per_hour * f.count as f64);
        let totals = RunTotals {
            span_s,
            output_tokens: out_tok,
            total_tokens: total_tok,
            completed: self.rec.counts.completed,
            instances: self.cluster.instances + self.encode_pool_instances(),
            frontend_usd_per_hour,
            pue: infra.pue,
        };
        let energy = accounting::energy(&usage, &totals);
        let priced = self.pricing(span_s, frontend_usd_per_hour, energy.j_total);
        let (breakdown, steps) = self.breakdown(span_s);
        let (queue_ms, e2e_ms) = (self.rec.queue_delay.summary(), self.rec.e2e.summary());
        let saturation = self.saturation(&queue_ms, &e2e_ms).to_string();
        RunResult {
            scenario: self.sc.name.clone(),
            ttft_ms: self.rec.ttft.summary(),
            tpot_ms: self.rec.tpot.summary(),
            itl_ms: self.rec.itl.summary(),
            e2e_ms,
            queue_ms,
            throughput: Throughput {
                output_tok_s: per_s(out_tok),
                total_tok_s: per_s(total_tok),
                requests_s: per_s(self.rec.counts.completed as f64),
            },
            cost: headline_cost(&priced, infra.pricing, accounting::cost(&usage, &totals)),
            energy,
            requests: Counts {
                unfinished: self.unfinished(),
                dropped_over_context: self.sc.dropped_over_context,
                clipped_over_context: self.sc.clipped_over_context,
                ..self.rec.counts
            },
            breakdown,
            sim: SimFigures {
                events: self.queue.events_processed(),
                steps,
                wall_s,
                sim_time_s: span_s,
            },
            notes: self.result_notes(),
            saturation,
            preemption: self.preemption_cost(),
            kv_transfer_ms: self.rec.kv_transfer.summary(),
            classes: self.class_results(),
            attribution: {
                let names: Vec<String> = self.sc.classes.iter().map(|c| c.name.clone()).collect();
                crate::metrics::attribution::summary(
                    &self.rec.slowest_ttft,
                    &self.rec.slowest_e2e,
                    self.rec.counts.completed,
                    &names,
                )
            },
            prefix_cache: features::prefix_cache_result(&self.cluster.replicas),
            speculative: features::speculative_result(&self.cluster.replicas),
            moe: features::moe_result(&self.cluster.replicas),
            lora: super::lora::lora_result(&self.sc, &self.cluster.replicas),
            kv_offload: super::kv_offload::kv_offload_result(&self.sc, &self.cluster.replicas),
            sessions: self.sessions_result(),
            multimodal: self.multimodal_summary(),
            tenants: self.tenants_result(span_s),
            infrastructure: self.infrastructure(frontend_usd_per_hour),
            pricing: priced,
            purchase: self.fleet.as_ref().and_then(|f| f.purchase),
            audit: Vec::new(),
            windows: Vec::new(),
        }
    }

    /// Each pool's part of the run, for cost and energy (metrics::accounting; chips' and hosts'
    /// power from hw::power).
    fn pool_usage(&self, span_s: f64) -> Vec<PoolUsage> {
        let pool_instances = self.paid_instances(span_s);
        let span_ns = span_s * 1e9;
        let infra = &self.sc.infra;
        self.cluster
            .pools
            .iter()
            .enumerate()
            .map(|(pi, pool)| {
                let hw = &pool.hardware;
                let chips_per_replica = pool.chips_per_replica() as f64;
                let dyn_ns: f64 = self.cluster.dynamic_ns[self.cluster.pool_lanes[pi].clone()]
                    .iter()
                    .sum();
                // A pipeline lane's step is one stage's time on each of the pp stages.
                let stage_chips = chips_per_replica / pool.pp.max(1) as f64;
                let util = self.front.hosts.get(pi).map_or(0.0, |h| h.mean_utilisation(span_ns));
                let purchased = self.fleet.as_ref().and_then(|f| f.purchase).filter(|_| pi == 0);
                PoolUsage {
                    instances: pool_instances[pi],
                    // Validated when the scenario was resolved; with a purchase mix, its total
                    // over the instance-hours (the mix's blended price).
                    usd_per_instance_hour: match purchased {
                        Some(p) => blended(p.total_usd, pool_instances[pi] * span_s / 3600.0),
                        None => infra
                            .pricing
                            .usd_per_hour(&hw.instance, &self.sc.file, "infrastructure.pricing")
                            .unwrap_or(hw.instance.price.on_demand_usd_per_hour),
                    },
                    chips_per_instance: hw.instance.chips as f64,
                    chip_idle_w: hw.chip.idle_w,
                    chip_tdp_w: hw.chip.tdp_w,
                    busy_chip_ns: dyn_ns * stage_chips * pool.pp.max(1) as f64,
                    host_w: crate::hw::power::host_power_w(&hw.host, util),
                }
            })
            .collect()
    }

    /// The run priced every way (`metrics::pricing`): each pool's instances at each catalog price
    /// and owned, the front-end tier rented, the run's energy at the owner's $/kWh.
    fn pricing(&self, span_s: f64, frontend_usd_per_hour: f64, energy_j: f64) -> PricingResult {
        let pool_instances = self.paid_instances(span_s);
        let mut pools: Vec<PoolPrices> = self
            .cluster
            .pools
            .iter()
            .enumerate()
            .map(|(pi, pool)| {
                let price = &pool.hardware.instance.price;
                PoolPrices {
                    instances: pool_instances[pi],
                    on_demand_usd_per_hour: price.on_demand_usd_per_hour,
                    reserved_usd_per_hour: price.reserved_usd_per_hour,
                    spot_usd_per_hour: price.spot_usd_per_hour,
                    own: self.sc.cost.ownership.get(pi).copied().flatten().map(|o| o.hourly()),
                }
            })
            .collect();
        pools.extend(self.encode_pool_prices());
        let c = &self.rec.counts;
        pricing::pricing(
            &pools,
            &PricedRun {
                span_s,
                input_tokens: c.input_tokens as f64,
                output_tokens: c.output_tokens_produced as f64,
                frontend_usd_per_hour,
                energy_j,
                usd_per_kwh: self.sc.cost.usd_per_kwh,
                managed: self.sc.cost.managed.clone(),
            },
        )
    }

    /// The CPU tiers around the accelerators and which of them, if any, held requests back.
    fn infrastructure(&self, frontend_usd_per_hour: f64) -> InfraResult {
        // Tokenization runs on the entry pool's hosts.
        let host = self.front.hosts.first();
        let host_utilisation = host.map_or(0.0, |h| h.utilisation());
        let frontend_utilisation = self.front.frontend.as_ref().map_or(0.0, |f| f.utilisation());
        // Queueing at the replicas: arrival to first schedule, less the front-end path.
        let queue_ms = (self.rec.queue_delay.summary().mean - self.front.mean_path_ms()).max(0.0);
        let host_bottleneck = host.is_some_and(|h| frontend::is_bottleneck(h, queue_ms));
        let frontend_bottleneck = self
            .front
            .frontend
            .as_ref()
            .is_some_and(|f| frontend::is_bottleneck(f, queue_ms));
        let span_ns = self.span_s() * 1e9;
        InfraResult {
            host_utilisation,
            host_cores_mean: self.scaler().and(host).map(|h| h.mean_cores(span_ns)),
            host_bottleneck,
            host_wait_ms: host.map_or(0.0, |h| h.mean_wait_ns() * 1e-6),
            frontend_utilisation,
            frontend_bottleneck,
            frontend_usd_per_hour,
            bottleneck: match (frontend_bottleneck, host_bottleneck) {
                (true, _) => "front-end tier".into(),
                (false, true) => "host CPU".into(),
                _ => String::new(),
            },
        }
    }

    /// Where the replicas' step time went, their busy fraction, and the steps run.
    fn breakdown(&self, span_s: f64) -> (Breakdown, u64) {
        let mut b = Breakdown::default();
        let mut steps = 0;
        let mut busy_ns = 0u64;
        for r in &self.cluster.replicas {
            b.compute_s += r.stats.compute_ns * 1e-9;
            b.memory_s += r.stats.memory_ns * 1e-9;
            b.communication_s += r.stats.comm_ns * 1e-9;
            b.overhead_s += r.stats.overhead_ns * 1e-9;
            steps += r.stats.steps;
            busy_ns += r.stats.busy_ns;
        }
        // An autoscaled fleet's replicas could be busy only while up (ready or draining): its
        // replica slots beyond those were off or starting, never available to run a step.
        let serving_s = match self.fleet.as_ref().and_then(|f| f.serving_s) {
            Some(s) => {
                b.serving_replica_s = Some(s);
                s
            }
            None => span_s * self.cluster.replicas.len() as f64,
        };
        b.busy_fraction = if serving_s > 0.0 {
            busy_ns as f64 * 1e-9 / serving_s
        } else {
            0.0
        };
        (b, steps)
    }

    /// Requests still queued or running (non-zero only when the run was cut short).
    fn unfinished(&self) -> u64 {
        let c = &self.rec.counts;
        c.arrived.saturating_sub(c.completed + c.turned_away())
    }

    /// The run's notes, plus how the percentiles were computed when a distribution outgrew the
    /// exact buffers.
    fn result_notes(&self) -> Vec<String> {
        let mut notes = self.notes.clone();
        notes.extend(self.sessions_note());
        if self.default_max_tokens > 0 {
            notes.push(format!(
                "max_tokens: {} requests set none (the trace has no max_tokens column and workload.max_tokens is unset); the engine let each generate up to max_model_len − prompt, max_model_len = {} (the model's {}-token context, capped at the smallest replica's KV cache)",
                self.default_max_tokens, self.max_model_len, self.sc.model.max_context
            ));
        }
        if self.truncated > 0 {
            notes.push(format!(
                "max_tokens: {} requests would have generated more than their max_tokens and stopped there",
                self.truncated
            ));
        }
        let c = &self.rec.counts;
        let unfinished = self.unfinished();
        match self.cut {
            Some((t, Cut::Horizon)) if unfinished > 0 || c.arrived < self.sc.requests => notes.push(format!(
                "the run stopped at the horizon (workload.horizon_s = {} s): {unfinished} requests were still queued or running and {} had not arrived; latency percentiles cover the {} completed requests only",
                t.as_secs_f64(),
                self.sc.requests - c.arrived,
                c.completed
            )),
            Some((t, Cut::Backlog)) => notes.push(format!(
                "the run stopped at {:.1} s simulated: more than {MAX_IN_SYSTEM} requests were in the system at once (the queue grows without bound); {unfinished} were unfinished and {} had not arrived; latency percentiles cover the {} completed requests only and understate the overload",
                t.as_secs_f64(),
                self.sc.requests - c.arrived,
                c.completed
            )),
            _ => {}
        }
        let sketched = !self.rec.ttft.is_exact() || !self.rec.e2e.is_exact() || !self.rec.itl.is_exact();
        if sketched {
            notes.push(format!(
                "latency percentiles beyond {} samples come from a streaming sketch: within {} % of the exact values (means are exact)",
                crate::metrics::sketch::EXACT_SAMPLES,
                crate::metrics::sketch::RELATIVE_ERROR * 100.0
            ));
        }
        notes
    }

    /// The run's steady state (`SaturationProbe::classify`), with one more measurement: a run
    /// that completed every request it admitted is `backlogged` or `overloaded` only when
    /// requests really waited, i.e. the slowest 1 % waited for a batch slot longer than the
    /// median request took once admitted (queue p99 > E2E p50 − queue p50). The probe alone
    /// reads a short run's ramp-up (a batch filling, the in-system count growing with it) as a
    /// growing queue. A run cut at the in-system bound or at its horizon (whose waiting requests
    /// never reach the percentiles), or turned away by the admission limit, keeps the probe's
    /// verdict. With per-window metrics, a window that ended with a backlog longer than itself
    /// (`fleet::WindowBacklog`) makes a stable verdict `backlogged`: under a time-varying load
    /// the probe, which reads a stationary one, can call a run stable whose peak hours queued.
    fn saturation(&self, queue: &Dist, e2e: &Dist) -> &'static str {
        if matches!(self.cut, Some((_, Cut::Backlog))) {
            return "overloaded";
        }
        let c = &self.rec.counts;
        let state = self.probe.classify(
            self.last_arrival_sample,
            self.waiting_at_last_arrival,
            self.sc.requests,
            c.turned_away() - c.dropped,
        );
        if self.fleet.as_ref().is_some_and(|f| f.backlog.is_some()) {
            return if state == "stable" { "backlogged" } else { state };
        }
        if state == "stable" || self.cut.is_some() || c.turned_away() > c.dropped {
            return state;
        }
        let service_ms = e2e.p50 - queue.p50;
        if queue.p99 > service_ms || queue.p99.is_nan() || service_ms.is_nan() {
            state
        } else {
            "stable"
        }
    }

    fn preemption_cost(&self) -> PreemptionCost {
        let mut p = PreemptionCost::default();
        for r in &self.cluster.replicas {
            p.recompute_tokens += r.stats.recompute_tokens;
            p.recompute_s += r.stats.recompute_ns * 1e-9;
            p.swap_bytes += r.stats.swap_bytes;
            p.swap_s += r.stats.swap_ns * 1e-9;
            p.for_higher_class += r.stats.priority_preemptions;
        }
        p.total_s = p.recompute_s + p.swap_s;
        p
    }

    pub(super) fn class_results(&self) -> Vec<ClassResult> {
        self.sc
            .classes
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let one = self.sc.classes.len() == 1;
                let (ttft, tpot, e2e) = if one {
                    (&self.rec.ttft, &self.rec.tpot, &self.rec.e2e)
                } else {
                    (&self.rec.class_ttft[i], &self.rec.class_tpot[i], &self.rec.class_e2e[i])
                };
                let completed = e2e.len() as u64;
                ClassResult {
                    name: c.name.clone(),
                    priority: c.priority,
                    completed,
                    ttft_ms: ttft.summary(),
                    tpot_ms: tpot.summary(),
                    e2e_ms: e2e.summary(),
                    slo_attainment: c.slo.as_ref().map(|_| {
                        if completed > 0 {
                            self.rec.class_met[i] as f64 / completed as f64
                        } else {
                            0.0
                        }
                    }),
                }
            })
            .collect()
    }
}

/// The run's cost at the scenario's pricing: the rental figures, or under `own` the owned ones
/// (validated when the scenario was resolved: every pool has ownership figures).
/// A total's price per instance-hour (0 over no instance-hours).
fn blended(usd: f64, instance_h: f64) -> f64 {
    if instance_h > 0.0 { usd / instance_h } else { 0.0 }
}

fn headline_cost(p: &PricingResult, mode: PricingMode, rented: crate::metrics::Cost) -> crate::metrics::Cost {
    match (mode, &p.own) {
        (PricingMode::Own, Some(o)) => crate::metrics::Cost {
            usd_per_mtok_output: o.cost.usd_per_mtok_output,
            usd_per_mtok_total: o.cost.usd_per_mtok_total,
            usd_total: o.cost.usd_total,
            usd_per_hour: o.cost.usd_per_hour,
            instances: rented.instances,
        },
        _ => rented,
    }
}
