//! The cluster a run simulates, built once from the resolved scenario: its pools, each pool's
//! cost model (one per pipeline stage's layers), the replicas (lanes) and their pipelines, the KV
//! link between a prefill and a decode pool, and the instances it all occupies.

use super::features;
use crate::error::{Error, Result};
use crate::hw::GIB;
use crate::hw::power::ChipPower;
use crate::perf::pipeline::{StageLink, stage_model};
use crate::perf::{DeploymentSpec, Parallelism, PerfModel};
use crate::scenario::{Pool, Scenario};
use crate::serve::disagg::KvTransfer;
use crate::serve::pipeline::Pipeline;
use crate::serve::replica::{Replica, ReplicaSpec};
use crate::serve::{KvLink, PoolRole, ReplicaId, SwapSpace};
use std::ops::Range;
use std::sync::Arc;

/// Host memory a replica may fill with swapped-out KV: its share of the instance's host memory,
/// half of it (the rest stays with the OS, the serving process and pinned buffers). Assumption.
pub(super) const HOST_SWAP_FRACTION: f64 = 0.5;

pub struct Cluster {
    /// One per lane: a replica as the scheduler sees it. With pipeline parallelism a replica has
    /// pp lanes (virtual engines) sharing its pipeline's stages.
    pub replicas: Vec<Replica>,
    /// The pipeline each lane runs on, if any (index into `pipelines`).
    pub lane_pipeline: Vec<Option<usize>>,
    pub pipelines: Vec<Pipeline>,
    pub pools: Vec<Pool>,
    /// Lanes of each pool, and the pool of each lane.
    pub pool_lanes: Vec<Range<usize>>,
    pub lane_pool: Vec<usize>,
    /// Lanes arrivals are routed to (every unified pool, or the prefill pool), and decode lanes.
    pub entry: Range<usize>,
    pub decode: Option<Range<usize>>,
    pub kv: Option<KvTransfer>,
    /// When each prefill lane's KV link is next free (transfers from one replica serialise).
    pub link_free_ns: Vec<u64>,
    /// Instances each pool occupies (fractional when co-located pools share instances), and
    /// their sum rounded.
    pub pool_instances: Vec<f64>,
    pub instances: u32,
    /// Per lane: Σ over steps of the step's dynamic energy, in ns at the chip's full dynamic
    /// range (`hw::power::ChipPower::step_dynamic_ns`).
    pub dynamic_ns: Vec<f64>,
    /// Each lane's step in flight: (start ns, end ns, its dynamic-energy ns), to count only the
    /// part before a horizon that cuts it.
    pub in_flight: Vec<Option<(u64, u64, f64)>>,
    /// Per lane: its chips' per-phase power model (and power cap), precomputed.
    pub lane_power: Vec<ChipPower>,
    /// Per lane: the context of the model it serves (a deployment group's own, or `[model]`'s).
    pub lane_context: Vec<u32>,
}

impl Cluster {
    /// Builds every pool, then how they connect.
    pub fn build(sc: &Scenario, notes: &mut Vec<String>) -> Result<Cluster> {
        let mut pools = sc.pools.clone();
        if let Some(a) = sc.fleet.as_ref().and_then(|f| f.autoscale.as_ref()) {
            // Every replica the fleet may have, built up front; the autoscaler says which serve.
            pools[0].replicas = a.max_replicas;
        }
        let mut c = Cluster {
            replicas: Vec::new(),
            lane_pipeline: Vec::new(),
            pipelines: Vec::new(),
            pool_lanes: Vec::new(),
            lane_pool: Vec::new(),
            entry: 0..0,
            decode: None,
            kv: None,
            link_free_ns: Vec::new(),
            pool_instances: instances_needed(&pools, sc.kv_link),
            instances: 0,
            dynamic_ns: Vec::new(),
            in_flight: Vec::new(),
            lane_power: Vec::new(),
            lane_context: Vec::new(),
            pools: Vec::new(),
        };
        for (pi, pool) in pools.iter().enumerate() {
            let first = c.replicas.len();
            c.build_pool(sc, pool, notes).map_err(|e| group_error(e, pool, pi))?;
            c.pool_lanes.push(first..c.replicas.len());
            c.lane_pool.resize(c.replicas.len(), pi);
        }
        let lanes = c.replicas.len();
        (c.entry, c.decode, c.kv) = match (pools.first(), pools.get(1)) {
            (Some(p), Some(d)) if p.role == PoolRole::Prefill && d.role == PoolRole::Decode => (
                c.pool_lanes[0].clone(),
                Some(c.pool_lanes[1].clone()),
                Some(kv_transfer(sc, p, d)),
            ),
            _ => (0..lanes, None, None),
        };
        c.instances = c.pool_instances.iter().sum::<f64>().round() as u32;
        c.link_free_ns = vec![0; lanes];
        c.dynamic_ns = vec![0.0; lanes];
        c.in_flight = vec![None; lanes];
        c.pools = pools;
        c.check_kv_room(sc)?;
        Ok(c)
    }

    /// The longest request of the run must fit a replica's KV cache (within the context, beyond
    /// which a server refuses it whatever its memory): else every such request would be dropped
    /// at routing (`Replica::can_ever_fit`) while the run reads as served.
    fn check_kv_room(&self, sc: &Scenario) -> Result<()> {
        let longest = |lane: usize| match super::tenants::longest_on_pool(sc, self.lane_pool[lane]) {
            Some(l) => l,
            None => sc.longest_request(),
        };
        // The lane with the least room left for the longest request it may be sent.
        let Some((lane, kv, (prompt, max_tokens))) = (0..self.replicas.len())
            .map(|l| (l, self.replicas[l].kv_tokens(), longest(l)))
            .min_by_key(|&(l, k, (p, m))| k as i128 - (p + m).min(self.lane_context[l] as u64) as i128)
        else {
            return Ok(());
        };
        let need = (prompt + max_tokens).min(self.lane_context[lane] as u64);
        if need <= kv {
            return Ok(());
        }
        let pool = &self.pools[self.lane_pool[lane]];
        Err(Error::infeasible(
            &sc.file,
            "deployment.tp",
            format!(
                "the longest request ({prompt} prompt + {max_tokens} max_tokens tokens) does not fit the KV cache of a replica ({} tokens: {} on {}, TP {}, PP {}): every such request would be dropped; accepted: prompt + max_tokens <= {}; use a larger TP, a smaller weight dtype, a smaller workload.max_tokens or shorter prompts",
                kv,
                pool.model.as_deref().unwrap_or(&sc.model).name,
                pool.hardware.instance.name,
                pool.tp,
                pool.pp,
                kv
            ),
        ))
    }

    /// One pool: its cost model (the layers of one pipeline stage), then its replicas, each
    /// built from its spec.
    fn build_pool(&mut self, sc: &Scenario, pool: &Pool, notes: &mut Vec<String>) -> Result<()> {
        let served = pool.model.as_deref().unwrap_or(&sc.model);
        let model = stage_model(served, pool.pp);
        let file = sc.file.display().to_string();
        let f = &sc.features;
        let perf = PerfModel::build(&DeploymentSpec {
            hardware: &pool.hardware,
            model: &model,
            parallelism: Parallelism { tp: pool.tp },
            precision: pool.precision.unwrap_or(sc.precision),
            kv_reserve_fraction: sc.kv_reserve_fraction,
            allreduce: sc.infra.allreduce,
            power_cap: sc.infra.power_cap(&pool.hardware),
            expert_parallel: (!f.expert_shares.is_empty()).then_some((pool.ep, &f.expert_shares[..])),
            moe_layout: pool.moe_layout,
            file: &file,
        })?;
        let pool_features = features::setup_pool(sc, pool, &perf, notes)?;
        let longest = contiguous_slots(sc, &perf, &file, notes)?;
        let perf = Arc::new(perf);
        for n in &perf.notes {
            if !notes.contains(n) {
                notes.push(n.clone());
            }
        }
        let hw = &pool.hardware;
        let pp = pool.pp.max(1) as u64;
        let bt = sc.scheduler.block_tokens.max(1) as u64;
        let share = pool.ranks_per_replica() as f64 / hw.ranks_per_instance().max(1) as f64;
        let swap_bytes_per_token = perf.memory.kv_bytes_per_token_per_rank * pool.ranks_per_replica() as f64;
        let swap_bytes_per_ns = hw.instance.host_link_gb_s * pool.chips_per_replica() as f64;
        let host_bytes = hw.instance.host_memory_gib * GIB * share * HOST_SWAP_FRACTION / pp as f64;
        for _ in 0..pool.replicas {
            let pipeline = (pp > 1).then(|| {
                let link = StageLink::new(hw, served, pool.tp, pool.pp);
                self.pipelines.push(Pipeline::new(pp as usize, link));
                self.pipelines.len() - 1
            });
            for _ in 0..pp {
                let id = ReplicaId(self.replicas.len() as u32);
                let mut spec = ReplicaSpec::new(sc.scheduler, &perf, longest);
                if pp > 1 {
                    spec.total_blocks = perf.memory.kv_capacity_tokens / bt / pp;
                }
                spec.swap = SwapSpace::new(swap_bytes_per_token, swap_bytes_per_ns, host_bytes);
                features::setup_replica(sc, &pool_features, id, &mut spec);
                self.replicas.push(Replica::new(id, perf.clone(), spec));
                self.lane_pipeline.push(pipeline);
            }
        }
        self.lane_context.resize(self.replicas.len(), served.max_context);
        let cap = sc.infra.power_cap(hw);
        self.lane_power
            .resize(self.replicas.len(), ChipPower::new(&hw.chip, cap.as_ref()));
        let note = crate::hw::power::describe(&hw.chip);
        if !notes.contains(&note) {
            notes.push(note);
        }
        Ok(())
    }
}

impl Cluster {
    /// Whether replica `rid` (and, when disaggregated, some decode replica) could ever hold a
    /// request of this prompt and `max_tokens` within the model's `max_context` (never its true
    /// output: INV-12).
    pub fn fits(&self, rid: ReplicaId, input: u32, max_tokens: u32) -> bool {
        if input as u64 + max_tokens as u64 > self.lane_context[rid.index()] as u64 {
            return false;
        }
        let fits_decode = match &self.decode {
            Some(d) => self.replicas[d.clone()]
                .iter()
                .any(|r| r.can_ever_fit(input, max_tokens)),
            None => true,
        };
        fits_decode && self.replicas[rid.index()].can_ever_fit(input, max_tokens)
    }
}

/// Instances each pool occupies (fractional when co-located pools share instances).
pub(super) fn instances_needed(pools: &[Pool], link: KvLink) -> Vec<f64> {
    if link == KvLink::Neuronlink && pools.len() == 2 && pools[0].role == PoolRole::Prefill {
        let per = pools[0].hardware.ranks_per_instance().max(1);
        let ranks: Vec<u32> = pools.iter().map(|p| p.ranks_per_replica() * p.replicas).collect();
        let total = ranks.iter().sum::<u32>();
        let inst = total.div_ceil(per) as f64;
        return ranks.iter().map(|&r| inst * r as f64 / total as f64).collect();
    }
    pools.iter().map(|p| p.instances() as f64).collect()
}

/// The KV link of a disaggregated deployment. KV bytes are the whole model's (all layers, all
/// heads) per prompt token. Over EFA a replica gets its share of its instances' EFA (tp·pp /
/// ranks per instance of one instance's bandwidth), the slower of the two sides; over NeuronLink
/// every chip of the smaller replica sends its shard over its own link.
fn kv_transfer(sc: &Scenario, prefill: &Pool, decode: &Pool) -> KvTransfer {
    let bytes_per_token = sc.model.kv_bytes_per_token(sc.precision.kv_cache);
    let bounded = sc.model.kv_footprint(sc.precision.kv_cache, sc.precision.activations);
    match sc.kv_link {
        KvLink::Efa => {
            let side = |p: &Pool| {
                p.hardware.instance.efa_gbps / 8.0 * p.ranks_per_replica() as f64
                    / p.hardware.ranks_per_instance().max(1) as f64
            };
            KvTransfer {
                bytes_per_token,
                bounded,
                bytes_per_ns: side(prefill).min(side(decode)),
                latency_ns: prefill
                    .hardware
                    .instance
                    .efa_latency_us
                    .max(decode.hardware.instance.efa_latency_us)
                    * 1e3,
            }
        }
        KvLink::Neuronlink => KvTransfer {
            bytes_per_token,
            bounded,
            bytes_per_ns: prefill.hardware.chip.link.bandwidth_gb_s
                * prefill.chips_per_replica().min(decode.chips_per_replica()) as f64,
            latency_ns: prefill.hardware.chip.link.latency_us * 1e3,
        },
    }
}

/// The longest sequence a replica must hold: the longest prompt plus the output bound (the
/// client's `max_tokens`, else the largest output the workload's distribution or trace can
/// produce), within the model's context. A contiguous KV layout compiles its slots for it
/// (Transformers NeuronX `n_positions`, padded to a token bucket); the run's notes say how many
/// sequences that leaves room for, and a slot the KV cache cannot hold once is an error.
fn contiguous_slots(sc: &Scenario, perf: &PerfModel, file: &str, notes: &mut Vec<String>) -> Result<u64> {
    let empty = Vec::new();
    let input = sc.input.max_tokens(sc.input_column.as_deref().unwrap_or(&empty)) as u64;
    let output = match sc.max_tokens {
        Some(m) => m as u64,
        None => sc.output.max_tokens(sc.output_column.as_deref().unwrap_or(&empty)) as u64,
    };
    let longest = (input + output).min(sc.model.max_context as u64).max(1);
    if let Some((slots, slot)) = perf.max_resident_seqs(longest) {
        if slots == 0 {
            return Err(Error::infeasible(
                file,
                "deployment.tp",
                format!(
                    "the chip's contiguous KV layout gives every sequence a slot of {slot} tokens (the longest request, {longest} tokens of prompt + max_tokens, padded to its token bucket), but a replica's KV cache holds {} tokens: not one slot; use a larger TP, shorter requests (workload.max_tokens, a smaller input max) or a block KV layout (`[hardware.chip.efficiency] kv_layout = \"block\"`)",
                    perf.memory.kv_capacity_tokens
                ),
            ));
        }
        let note = format!(
            "KV layout: contiguous slots of {slot} tokens (the longest request, {longest} tokens, padded to its token bucket): a replica holds at most {slots} sequences at once, so max_batch is at most {slots}"
        );
        if !notes.contains(&note) {
            notes.push(note);
        }
    }
    Ok(longest)
}

/// A pool serving a model of its own names its deployment group in a cost-model error (the
/// weights that do not fit are that group's model's).
fn group_error(e: Error, pool: &Pool, pi: usize) -> Error {
    let key = match (&pool.model, &pool.precision) {
        (Some(_), _) => "model",
        (None, Some(_)) => "weights",
        (None, None) => return e,
    };
    match e {
        Error::Infeasible(mut i) if i.location.starts_with("deployment") => {
            i.location = format!("deployment.groups[{pi}].{key}");
            if let Some(m) = &pool.model {
                i.message = format!("{} on this group: {}", m.name, i.message);
            }
            Error::Infeasible(i)
        }
        e => e,
    }
}
