//! From the file as written to a [`Scenario`]: one step per part of the file (hardware, model,
//! deployment, serving, workload, classes, features), each checking its part and naming the key
//! at fault. The steps run in a fixed order, so of several errors the same one is reported.

mod classes;
mod deployment;
pub(crate) mod engine;
mod hardware;
mod model;
mod queue;
mod replay;
mod serving;
mod sessions;
mod tenants;
mod workload;

use super::features::{self, FeatureSections, ServedModel};
use super::{Scenario, ScenarioFile, cost, infra};
use crate::error::{Error, Result};
use crate::serve::SchedulerKind;
use std::path::{Path, PathBuf};

pub(super) fn resolve(f: ScenarioFile, path: &Path) -> Result<Scenario> {
    let dir = base_dir(path);
    let mut notes = Vec::new();
    let (catalog, hardware, engine) = hardware::resolve(&f.hardware, &f.serving, &dir, path, &mut notes)?;
    let serving = serving::resolve(&f.serving, &engine, path, &mut notes)?;
    let (model, precision) = model::resolve(&f.model, &dir, path, &mut notes)?;
    let (f, tenants, models) = tenants::expand(f, &model, &dir, path, &mut notes)?;
    let mut pools = deployment::pools(&f, &catalog, &hardware, &models, path, &mut notes)?;
    pages_are_the_schedulers_blocks(&f, &mut pools, serving.scheduler.block_tokens, path)?;
    let infra = infra::resolve(&f.infrastructure, &catalog, path)?;
    infra::apply_to_pools(&infra, &mut pools, path)?;
    let cost = cost::resolve(
        f.cost.as_ref(),
        &f.hardware.instance,
        &model.name,
        &pools,
        infra.pricing,
        path,
    )?;
    let kv_link = deployment::check_fleet(&f, &pools, path)?;
    let bound = tenants::context_bound(&model, &tenants);
    let workload = workload::resolve(&f.workload, &bound, &dir, path, f.seed, &mut notes)?;
    workload.check_token_budget(&serving.scheduler, path)?;
    let classes = classes::resolve(&f.workload, f.slo, path)?;
    queue::check_inputs(&serving.scheduler, &classes, &workload, path, &mut notes)?;
    prefix_needs_open_loop(&f, path)?;
    let profile = resolve_profile(&f, path, &mut notes)?;
    let sessions = sessions::resolve(&f, workload.requests, &dir, path, &mut notes)?;
    let client_rtt = sessions::client_rtt(&f, path, &mut notes)?;
    let scaling = autoscale_context(&f, &catalog, &pools, profile.is_some());
    let fleet = super::fleet::resolve(f.fleet.as_ref(), profile.as_ref(), &scaling, path, &mut notes)?;
    refuse_pricing_with_purchase(&f, fleet.as_ref(), path)?;
    let gateway = super::gateway::resolve(
        f.gateway.as_ref(),
        &classes,
        serving.scheduler.kind == SchedulerKind::Static,
        path,
    )?;
    let s = &f.serving;
    let mut features = features::resolve(
        path,
        &dir,
        &ServedModel {
            model: &model,
            tp: pools[0].tp,
            static_batching: serving.scheduler.kind == SchedulerKind::Static,
        },
        &FeatureSections {
            prefix_cache: s.prefix_cache.as_ref(),
            speculative: s.speculative.as_ref(),
            synthetic_prefix: f.workload.prefix.as_ref(),
            ep: pools.iter().map(|p| p.ep).max().unwrap_or(f.deployment.ep),
            expert_skew_zipf: f.model.expert_skew_zipf,
            expert_shares: f.model.expert_shares.as_deref(),
        },
    )?;
    let cx = lora_context(&model, &catalog, &classes, &pools, &features);
    features.lora = lora(s, &cx, path, &mut notes)?;
    features.kv_offload = kv_offload(s, &catalog, &features, &serving, &pools, path, &mut notes)?;
    features.multimodal = multimodal(&f, (&catalog, &infra), &model, &pools, &features, path, &mut notes)?;
    let name = scenario_name(&f, path)?;
    Ok(Scenario {
        name,
        file: path.to_path_buf(),
        seed: f.seed,
        model,
        precision,
        scheduler: serving.scheduler,
        kv_reserve_fraction: serving.kv_reserve_fraction,
        engine: engine.label(),
        routing: s.routing,
        arrival: f.workload.arrival().clone(),
        requests: workload.requests,
        horizon_ns: workload.horizon_ns,
        input: workload.input,
        output: workload.output,
        max_tokens: workload.max_tokens,
        max_tokens_per_request: workload.max_tokens_per_request,
        trace: workload.trace,
        dropped_over_context: workload.dropped_over_context,
        clipped_over_context: workload.clipped_over_context,
        input_column: workload.input_column,
        output_column: workload.output_column,
        slo: f.slo.map(classes::resolved),
        notes,
        pools,
        kv_link,
        classes,
        prefix_groups: f.workload.prefix_groups.unwrap_or(0),
        features,
        infra,
        cost,
        profile,
        sessions,
        client_rtt,
        fleet,
        gateway,
        tenants,
    })
}

/// The scenario's `name`, checked (it is printed to the terminal and into reports: one plain
/// line), or the file's stem.
fn scenario_name(f: &ScenarioFile, path: &Path) -> Result<String> {
    if let Some(n) = &f.name {
        crate::input::check_label(path, "name", n)?;
    }
    Ok(f.name.clone().unwrap_or_else(|| file_stem(path)))
}

/// Closed-loop clients send plain prompts: the synthetic shared prefixes would be ignored.
fn prefix_needs_open_loop(f: &ScenarioFile, path: &Path) -> Result<()> {
    if f.workload.prefix.is_some() && matches!(f.workload.arrival(), crate::workload::ArrivalSpec::Closed { .. }) {
        return Err(Error::input(
            path,
            "workload.prefix",
            "shared prompt prefixes are generated for open-loop arrivals only (poisson, gamma, offline, trace); with `closed` clients they would be silently ignored: remove [workload.prefix] or use open-loop arrivals",
        ));
    }
    Ok(())
}

/// What `[fleet.autoscale]` reads of the rest of the scenario.
fn autoscale_context<'a>(
    f: &ScenarioFile,
    catalog: &'a crate::hw::Catalog,
    pools: &'a [super::Pool],
    profiled: bool,
) -> super::autoscale::AutoscaleContext<'a> {
    let unsupported = if pools.len() > 1 {
        Some("the deployment has several pools (disaggregated prefill/decode or deployment groups)")
    } else if pools[0].pp > 1 {
        Some("the deployment is pipeline parallel (pp > 1)")
    } else if f.gateway.is_some() {
        Some("a [gateway] is set")
    } else {
        None
    };
    let profile_rate_per_s = match f.workload.arrival() {
        crate::workload::ArrivalSpec::Poisson { rate_per_s, .. }
        | crate::workload::ArrivalSpec::Gamma { rate_per_s, .. }
        | crate::workload::ArrivalSpec::Constant { rate_per_s, .. } => profiled.then_some(*rate_per_s),
        _ => None,
    };
    super::autoscale::AutoscaleContext {
        catalog,
        instance: &pools[0].hardware.instance,
        initial_replicas: pools[0].replicas,
        lora: f.serving.lora.is_some(),
        unsupported,
        profile_rate_per_s,
    }
}

/// `[workload.profile]`: checked, for rate arrivals only, its mean rate printed.
fn resolve_profile(
    f: &ScenarioFile,
    path: &Path,
    notes: &mut Vec<String>,
) -> Result<Option<crate::workload::profile::ProfileSpec>> {
    let Some(p) = &f.workload.profile else {
        return Ok(None);
    };
    p.check(path)?;
    let rate = match f.workload.arrival().rate_per_s() {
        Some(rate_per_s) => rate_per_s,
        None => {
            let a = f.workload.arrival();
            return Err(Error::input(
                path,
                "workload.profile",
                format!(
                    "applies to rate arrivals (poisson, gamma, weibull, constant), not `{}`; a trace is replayed over its own timestamps: remove [workload.profile]",
                    a.kind()
                ),
            ));
        }
    };
    notes.push(format!(
        "workload.profile: rate(t) = {rate} req/s × daily ({} values) × weekly{} × (1 + {})^(t / week){}; mean over the first week {:.4} req/s (spikes aside)",
        p.daily.len(),
        if p.weekly.is_empty() { " (default: all 1)" } else { "" },
        p.growth_per_week,
        if p.spikes.is_empty() { String::new() } else { format!(" × {} spikes", p.spikes.len()) },
        rate * p.mean_over_week()
    ));
    Ok(Some(p.clone()))
}

/// A paged KV cache reads whole pages, and its pages are the scheduler's blocks: one size for
/// both, `serving.block_tokens`.
fn pages_are_the_schedulers_blocks(
    f: &ScenarioFile,
    pools: &mut [super::Pool],
    block_tokens: u32,
    path: &Path,
) -> Result<()> {
    let explicit = f
        .hardware
        .chip
        .as_ref()
        .and_then(|c| c.get("efficiency"))
        .and_then(|e| e.get("kv_block_tokens"))
        .and_then(|v| v.as_integer());
    if let Some(v) = explicit.filter(|&v| v != block_tokens as i64) {
        return Err(Error::input(
            path,
            "hardware.chip.efficiency.kv_block_tokens",
            format!(
                "is {v} but the scheduler's KV blocks (serving.block_tokens) are {block_tokens} tokens; a paged cache reads whole blocks: set serving.block_tokens alone"
            ),
        ));
    }
    for p in pools {
        if p.hardware.chip.efficiency.kv_layout == crate::hw::KvLayout::Block {
            p.hardware.chip.efficiency.kv_block_tokens = block_tokens;
        }
    }
    Ok(())
}

/// `[serving.kv_offload]`, checked against the catalog's storage tiers, the prompt cache's own
/// tiers, the preemption mode and the deployment.
fn kv_offload(
    s: &super::ServingSection,
    catalog: &crate::hw::Catalog,
    features: &features::Features,
    serving: &serving::Serving,
    pools: &[super::Pool],
    path: &Path,
    notes: &mut Vec<String>,
) -> Result<Option<crate::serve::kv_tiers::OffloadConfig>> {
    let Some(k) = &s.kv_offload else {
        return Ok(None);
    };
    let cx = super::kv_offload::OffloadContext {
        catalog,
        prefix_cache: features.prefix_cache,
        remote_tier_gib: features.remote_tier_gib,
        swap_preemption: serving.scheduler.preemption == crate::serve::PreemptionMode::Swap,
        unsupported: if pools.iter().any(|p| p.role != crate::serve::PoolRole::Unified) {
            Some("with disaggregated prefill and decode pools")
        } else if pools.iter().any(|p| p.pp > 1) {
            Some("with pipeline parallelism (pp > 1)")
        } else {
            None
        },
    };
    super::kv_offload::resolve(k, &cx, path, notes)
}

/// `[serving.lora]`, and the routing policy that needs it.
fn lora(
    s: &super::ServingSection,
    cx: &super::lora::LoraContext,
    path: &Path,
    notes: &mut Vec<String>,
) -> Result<Option<crate::serve::lora::LoraConfig>> {
    let lora = match &s.lora {
        Some(l) => super::lora::resolve(l, cx, path, notes)?,
        None => None,
    };
    if s.routing == crate::serve::router::RoutingPolicy::AdapterAffinity && lora.is_none() {
        return Err(Error::input(
            path,
            "serving.routing",
            "\"adapter-affinity\" routes by LoRA adapter: it needs [serving.lora] (enabled); without adapters use \"least-outstanding\" or \"prefix-affinity\"",
        ));
    }
    Ok(lora)
}

/// What `[serving.lora]` is checked against: the model, the catalog's storage tiers, the
/// classes, and whether the deployment is one the adapter model covers.
fn lora_context<'a>(
    model: &'a crate::model::ModelSpec,
    catalog: &'a crate::hw::Catalog,
    classes: &'a [super::WorkloadClass],
    pools: &[super::Pool],
    features: &features::Features,
) -> super::lora::LoraContext<'a> {
    let unsupported = if pools.iter().any(|p| p.role != crate::serve::PoolRole::Unified) {
        Some("with disaggregated prefill and decode pools")
    } else if pools.iter().any(|p| p.pp > 1) {
        Some("with pipeline parallelism (pp > 1)")
    } else if features.speculative.is_some() {
        Some("with speculative decoding")
    } else {
        None
    };
    super::lora::LoraContext {
        model,
        catalog,
        classes: classes.iter().map(|c| c.name.as_str()).collect(),
        unsupported,
    }
}

/// `[workload.multimodal]`, checked against the model and what the inline encoder model does
/// not cover: a prompt cache (its block hashes are of the text), disaggregated pools, pipeline
/// stages, sessions.
fn multimodal(
    f: &ScenarioFile,
    (catalog, infra): (&crate::hw::Catalog, &infra::Infra),
    model: &crate::model::ModelSpec,
    pools: &[super::Pool],
    features: &features::Features,
    path: &Path,
    notes: &mut Vec<String>,
) -> Result<Option<super::multimodal::MultimodalConfig>> {
    let w = &f.workload;
    let unsupported = if features.prefix_cache.is_some() || features.synthetic_prefix.is_some() {
        Some("with a prefix cache or synthetic prefixes (their block hashes cover the text only)")
    } else if pools.iter().any(|p| p.role != crate::serve::PoolRole::Unified) {
        Some("with disaggregated prefill and decode pools")
    } else if pools.iter().any(|p| p.pp > 1) {
        Some("with pipeline parallelism (pp > 1)")
    } else if w.sessions.is_some() {
        Some("with [workload.sessions] (a later turn's history would have to carry the earlier turns' images)")
    } else {
        None
    };
    let mut config = super::multimodal::resolve(w.multimodal.as_ref(), model, unsupported, path, notes)?;
    if let (Some(c), Some(s)) = (config.as_mut(), w.multimodal.as_ref()) {
        // An encode pool's instance type, resolved as the LLM pools' are.
        let hardware_of = |name: &str, key: &str| {
            let (mut h, _) = hardware::instance(catalog, &f.hardware, &f.serving, name, key, path)?;
            infra::apply_to_hardware(infra, &mut h, path)?;
            Ok(h)
        };
        let llm = &pools[0].hardware;
        super::encode_pool::resolve(s, c, &hardware_of, llm, f.gateway.is_some(), path, notes)?;
        if c.pool.is_some() && f.fleet.is_some() {
            notes.push("multimodal encode pool with [fleet]: the pool's instances are static (not autoscaled) and in the run's cost and energy, not in the per-window $/h".into());
        }
        if c.pool.is_some() && infra.pricing == infra::PricingMode::Own {
            return Err(Error::input(
                path,
                "workload.multimodal.encoder",
                "is \"pool\" under infrastructure.pricing = \"own\"; accepted: \"inline\", or a rented pricing (the encode pool's instances have no ownership figures)",
            ));
        }
    }
    Ok(config)
}

/// A scenario's name when it gives none: its file's stem.
fn file_stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_default()
}

fn base_dir(path: &Path) -> PathBuf {
    path.parent().map(Path::to_path_buf).unwrap_or_default()
}

fn positive(file: &Path, key: &str, v: f64) -> Result<()> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(Error::input(
            file,
            key,
            format!("must be a finite number > 0, got {}", crate::error::given(v)),
        ))
    }
}

fn at_least_one(file: &Path, key: &str, v: u64) -> Result<()> {
    if v >= 1 {
        Ok(())
    } else {
        Err(Error::input(file, key, "must be at least 1, got 0"))
    }
}

/// A purchase mix prices the fleet itself: another `infrastructure.pricing` with it would be
/// silently ignored, so it is refused.
fn refuse_pricing_with_purchase(f: &ScenarioFile, fleet: Option<&super::fleet::Fleet>, path: &Path) -> Result<()> {
    if fleet.is_some_and(|fl| fl.purchase.is_some()) && f.infrastructure.pricing != infra::PricingMode::OnDemand {
        Err(Error::input(
            path,
            "infrastructure.pricing",
            format!(
                "is \"{}\" with [fleet.purchase], whose reserved, on-demand and spot parts price the fleet; accepted: leave infrastructure.pricing unset (on-demand) with a purchase mix, or remove [fleet.purchase]",
                match f.infrastructure.pricing {
                    infra::PricingMode::OnDemand => "on-demand",
                    infra::PricingMode::Reserved => "reserved",
                    infra::PricingMode::Spot => "spot",
                    infra::PricingMode::Own => "own",
                }
            ),
        ))
    } else {
        Ok(())
    }
}
