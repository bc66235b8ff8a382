//! The disaggregated encode pool (`workload.multimodal.encoder = "pool"`, resolved in
//! `scenario/encode_pool.rs`): a request carrying images, past the front-end path, waits for the
//! first free encoder (FCFS over `replicas` encoders, a multi-server queue), is encoded there in
//! one encoder step (all its images, the roofline of `perf/encoder.rs` on the pool's chip: the
//! encoder's weights read once per step plus the images' FLOPs and activations, split over the
//! encoder's tp ranks), and its embeddings cross EFA to the LLM replica (α + bytes / β; the
//! encoder is free again while they travel). Then it reaches the router with its image tokens
//! in its prompt. The pool's instances are paid for and draw power over the whole run (idle, and
//! the encoder steps' dynamic energy), like the LLM pools.

use super::frontend::{CoreQueue, Held};
use super::{Event, Simulation};
use crate::engine::SimTime;
use crate::hw::power::{ChipPower, Phases};
use crate::metrics::EncodePoolResult;
use crate::metrics::accounting::PoolUsage;
use crate::metrics::pricing::PoolPrices;
use crate::perf::network::{Link, p2p};
use crate::perf::{EncoderRates, StepCost};
use crate::scenario::Scenario;
use crate::scenario::encode_pool::EncodePoolConfig;
use crate::serve::encoder::ImageEncoder;

/// The encode pool's state in a run.
pub struct EncodePool {
    config: EncodePoolConfig,
    /// The encoders, each serving one request at a time.
    encoders: CoreQueue,
    /// One image's work per rank of an encoder, and the weights per rank.
    encoder: ImageEncoder,
    rates: EncoderRates,
    link: Link,
    embed_bytes_per_token: f64,
    power: ChipPower,
    /// Chips of one encoder (its tp ranks over the chip's ranks).
    chips_per_encoder: f64,
    stats: Stats,
}

#[derive(Debug, Clone, Copy, Default)]
struct Stats {
    requests: u64,
    images: u64,
    wait_ns: f64,
    encode_ns: f64,
    transfer_ns: f64,
    tokens: u64,
    /// Σ over encoder steps of their dynamic energy in ns at the full range, per chip.
    dynamic_ns: f64,
}

impl EncodePool {
    pub fn new(sc: &Scenario) -> Option<EncodePool> {
        let m = sc.features.multimodal.as_ref()?;
        let config = m.pool.clone()?;
        let hw = &config.hardware;
        Some(EncodePool {
            encoders: CoreQueue::new(config.replicas),
            encoder: ImageEncoder::new(m.image, m.weight_bytes, config.tp),
            rates: config.rates,
            link: config.link,
            embed_bytes_per_token: config.embed_bytes_per_token,
            power: ChipPower::new(&hw.chip, sc.infra.power_cap(hw).as_ref()),
            chips_per_encoder: config.tp as f64 / hw.chip.ranks_per_chip.max(1) as f64,
            stats: Stats::default(),
            config,
        })
    }

    /// One encoder step of `images` images: its roofline on one rank of the pool's chip.
    pub fn encode_cost(&self, images: u64) -> StepCost {
        self.rates.cost(&self.encoder.step_work(images))
    }

    /// The embeddings of `tokens` media tokens crossing to the LLM replica, ns.
    pub fn transfer_ns(&self, tokens: u64) -> u64 {
        p2p(self.embed_bytes_per_token * tokens as f64, self.link).round() as u64
    }

    /// A request with `images` images (or clips) of `tokens` prompt tokens reaching the pool
    /// at `now_ns`: when its embeddings reach the LLM replica.
    pub fn encode(&mut self, now_ns: u64, images: u64, tokens: u64) -> u64 {
        let cost = self.encode_cost(images);
        let end = self.encoders.pass(now_ns, cost.total_ns as f64);
        let transfer = self.transfer_ns(tokens);
        let s = &mut self.stats;
        s.requests += 1;
        s.images += images;
        s.wait_ns += (end - now_ns - cost.total_ns) as f64;
        s.encode_ns += cost.total_ns as f64;
        s.transfer_ns += transfer as f64;
        s.tokens += tokens;
        let phases = Phases::new(cost.compute_ns, cost.memory_ns, 0.0, 0.0);
        s.dynamic_ns += self.power.step_dynamic_ns(cost.total_ns as f64, &phases);
        end.saturating_add(transfer)
    }

    /// The pool's part of the run's cost and energy.
    fn usage(&self, usd_per_instance_hour: f64) -> PoolUsage {
        let hw = &self.config.hardware;
        PoolUsage {
            instances: self.config.instances as f64,
            usd_per_instance_hour,
            chips_per_instance: hw.instance.chips as f64,
            chip_idle_w: hw.chip.idle_w,
            chip_tdp_w: hw.chip.tdp_w,
            busy_chip_ns: self.stats.dynamic_ns * self.chips_per_encoder,
            // assumption: the encoders' hosts do no tokenization or scheduling the run models;
            // they draw their idle power.
            host_w: crate::hw::power::host_power_w(&hw.host, 0.0),
        }
    }

    pub fn result(&self) -> EncodePoolResult {
        let s = &self.stats;
        let per = |ns: f64| {
            if s.requests > 0 {
                ns * 1e-6 / s.requests as f64
            } else {
                0.0
            }
        };
        EncodePoolResult {
            encoders: self.config.replicas,
            tp: self.config.tp,
            instances: self.config.instances,
            requests: s.requests,
            images: s.images,
            mean_wait_ms: per(s.wait_ns),
            mean_encode_ms: per(s.encode_ns),
            mean_transfer_ms: per(s.transfer_ns),
            utilisation: self.encoders.utilisation(),
            embedding_bytes: s.tokens as f64 * self.embed_bytes_per_token,
        }
    }
}

impl Simulation {
    /// A request with images reaches the encode pool at `now`: it goes on to the router (as a
    /// front-end path request, held and counted in the system) once its embeddings arrive.
    pub(super) fn encode_first(&mut self, now: SimTime, mut h: Held) {
        let pool = self.encode_pool.as_mut().expect("encode pool");
        let done = pool.encode(now.0, h.images as u64, h.media_tokens as u64);
        h.encode_ns = Some(done - now.0);
        let i = self.front.hold(h);
        self.queue.push(SimTime(done), Event::Ready(i));
    }

    /// The encode pool's part of the cost and energy (none without one).
    pub(super) fn encode_pool_usage(&self) -> Option<PoolUsage> {
        let p = self.encode_pool.as_ref()?;
        let instance = &p.config.hardware.instance;
        // Validated like the LLM pools' instances when the scenario was resolved.
        let usd = self
            .sc
            .infra
            .pricing
            .usd_per_hour(instance, &self.sc.file, "infrastructure.pricing")
            .unwrap_or(instance.price.on_demand_usd_per_hour);
        Some(p.usage(usd))
    }

    /// The encode pool's instances at each catalog price (no ownership figures: under
    /// `pricing = "own"` the run's owned cost then covers the LLM pools only).
    pub(super) fn encode_pool_prices(&self) -> Option<PoolPrices> {
        let p = self.encode_pool.as_ref()?;
        let price = &p.config.hardware.instance.price;
        Some(PoolPrices {
            instances: p.config.instances as f64,
            on_demand_usd_per_hour: price.on_demand_usd_per_hour,
            reserved_usd_per_hour: price.reserved_usd_per_hour,
            spot_usd_per_hour: price.spot_usd_per_hour,
            own: None,
        })
    }

    pub(super) fn encode_pool_instances(&self) -> u32 {
        self.encode_pool.as_ref().map_or(0, |p| p.config.instances)
    }

    pub(super) fn encode_pool_result(&self) -> Option<EncodePoolResult> {
        self.encode_pool.as_ref().map(EncodePool::result)
    }
}
