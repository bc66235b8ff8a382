//! `[deployment]` and `[disaggregation]`: the pools of replicas (one unified pool, deployment
//! groups, or prefill and decode pools), each checked against its hardware and the model, and
//! the fleet they make together.

use super::{at_least_one, hardware};
use crate::error::{Error, Result};
use crate::hw::{Catalog, Hardware};
use crate::model::ModelSpec;
use crate::perf::moe::MoeLayout;
use crate::scenario::limits::{MAX_RANKS, MAX_REPLICAS};
use crate::scenario::{Pool, PoolSection, ScenarioFile, ServingSection, defaults};
use crate::serve::{KvLink, PoolRole};
use std::path::Path;

/// The pools the file asks for, each with the key its errors name.
fn pool_specs(f: &ScenarioFile, path: &Path) -> Result<Vec<(PoolRole, String, PoolSection)>> {
    let d = &f.deployment;
    let single_form_set = d.tp != defaults::tp() || d.pp != defaults::pp() || d.replicas != defaults::replicas();
    let mut pool_specs: Vec<(PoolRole, String, PoolSection)> = Vec::new();
    if let Some(dis) = &f.disaggregation {
        if !d.groups.is_empty() || single_form_set {
            return Err(Error::input(
                path,
                "disaggregation",
                "with [disaggregation], set tp, pp and replicas in its prefill and decode pools, not in [deployment] or [[deployment.groups]]",
            ));
        }
        pool_specs.push((PoolRole::Prefill, "disaggregation.prefill".into(), dis.prefill.clone()));
        pool_specs.push((PoolRole::Decode, "disaggregation.decode".into(), dis.decode.clone()));
    } else if !d.groups.is_empty() {
        if single_form_set {
            return Err(Error::input(
                path,
                "deployment.groups",
                "with [[deployment.groups]], set tp, pp and replicas per group, not in [deployment]",
            ));
        }
        for (i, g) in d.groups.iter().enumerate() {
            pool_specs.push((PoolRole::Unified, format!("deployment.groups[{i}]"), g.clone()));
        }
    } else {
        pool_specs.push((
            PoolRole::Unified,
            "deployment".into(),
            PoolSection {
                instance: None,
                tp: d.tp,
                pp: d.pp,
                replicas: d.replicas,
                ep: None,
                attention_dp: None,
                model: None,
                weights: None,
                engine: None,
            },
        ));
    }
    Ok(pool_specs)
}

/// The pools of replicas, each on its instance type (`main` unless the pool names another).
pub(super) fn pools(
    f: &ScenarioFile,
    catalog: &Catalog,
    main: &Hardware,
    models: &super::tenants::Models,
    path: &Path,
    notes: &mut Vec<String>,
) -> Result<Vec<Pool>> {
    let pool_specs = pool_specs(f, path)?;
    let mut pools = Vec::new();
    let mut total_replicas = 0u64;
    let mut total_ranks = 0u64;
    for (pi, (role, key, ps)) in pool_specs.iter().enumerate() {
        let own = models.of_pool(pi);
        let model = own.as_deref().unwrap_or(&models.specs[0]);
        let hw = pool_hardware(f, catalog, main, key, ps, path, notes)?;
        let (ep, moe_layout) = moe_layout(f, key, model, ps, path)?;
        check_pool(path, key, &hw, model, ps, moe_layout.attention_dp, notes)?;
        total_replicas += ps.replicas as u64;
        total_ranks += ps.tp as u64 * ps.pp as u64 * ps.replicas as u64;
        pools.push(Pool {
            role: *role,
            hardware: hw,
            tp: ps.tp,
            pp: ps.pp,
            replicas: ps.replicas,
            ep,
            moe_layout,
            model: own,
            precision: models.precision.get(pi).copied().flatten(),
        });
    }
    if total_replicas > MAX_REPLICAS as u64 {
        return Err(Error::input(
            path,
            "deployment.replicas",
            format!("{total_replicas} is more than the {MAX_REPLICAS} replicas one run accepts"),
        ));
    }
    if total_ranks > MAX_RANKS {
        return Err(Error::input(
            path,
            "deployment",
            format!(
                "the pools use {total_ranks} ranks in all (replicas × tp × pp), more than the {MAX_RANKS} one run accepts"
            ),
        ));
    }
    Ok(pools)
}

/// A pool's hardware: the scenario's, or its own instance type and/or engine (the engine's
/// kernel traits and efficiencies on the pool's chip; the batching policy stays the scenario's).
fn pool_hardware(
    f: &ScenarioFile,
    catalog: &Catalog,
    main: &Hardware,
    key: &str,
    ps: &PoolSection,
    path: &Path,
    notes: &mut Vec<String>,
) -> Result<Hardware> {
    let name = ps.instance.as_deref().unwrap_or(&f.hardware.instance);
    if name == f.hardware.instance && ps.engine.is_none() {
        return Ok(main.clone());
    }
    let serving = match &ps.engine {
        Some(e) => ServingSection {
            engine: Some(e.clone()),
            engine_version: None,
            ..f.serving.clone()
        },
        None => f.serving.clone(),
    };
    let (hw, engine) = hardware::instance(catalog, &f.hardware, &serving, name, &format!("{key}.instance"), path)
        .map_err(|e| match e {
            Error::Input(mut i) if ps.engine.is_some() && i.location.starts_with("serving.engine") => {
                i.location = format!("{key}.engine");
                Error::Input(i)
            }
            e => e,
        })?;
    if ps.engine.is_some() {
        notes.push(format!(
            "{key} on {name}: {} kernels and traits ({key}.engine, its default version); the batching policy is the scenario's",
            engine.label()
        ));
    } else if !engine.named {
        notes.push(format!(
            "{key} on {name}: {} kernels and traits (the default engine of {}); the batching policy is the scenario's",
            engine.label(),
            hw.chip.name
        ));
    }
    Ok(hw)
}

/// The pools together: the KV link between prefill and decode carries bytes, and the fleet has
/// the instances they need. Returns the KV link.
pub(super) fn check_fleet(f: &ScenarioFile, pools: &[Pool], path: &Path) -> Result<KvLink> {
    let kv_link = f.disaggregation.as_ref().map_or(KvLink::Efa, |x| x.kv_link);
    if let [p, dpool] = pools {
        if p.role == PoolRole::Prefill {
            check_kv_link(path, kv_link, p, dpool)?;
        }
    }
    let needed: u32 = if kv_link == KvLink::Neuronlink && pools.len() == 2 {
        // Co-located pools share instances.
        let ranks: u32 = pools.iter().map(|p| p.ranks_per_replica() * p.replicas).sum();
        ranks.div_ceil(pools[0].hardware.ranks_per_instance().max(1))
    } else {
        pools.iter().map(Pool::instances).sum()
    };
    if let Some(have) = f.deployment.instances {
        if needed > have {
            return Err(Error::infeasible(
                path,
                "deployment.instances",
                format!(
                    "the deployment needs {needed} instances (replicas × tp × pp ranks, packed into instances) but the fleet has {have}; accepted: fewer replicas, smaller tp × pp, or more instances"
                ),
            ));
        }
    }
    Ok(kv_link)
}

/// One pool's parallelism: its size, its placement on its instances, and its split of the
/// model; a head split that pads is noted.
fn check_pool(
    path: &Path,
    key: &str,
    hardware: &Hardware,
    model: &ModelSpec,
    p: &PoolSection,
    attention_dp: u32,
    notes: &mut Vec<String>,
) -> Result<()> {
    check_pool_size(path, key, p)?;
    check_placement(path, key, hardware, p)?;
    // Attention heads split over the tp/attention_dp ranks of one data-parallel group.
    let attention = PoolSection {
        tp: p.tp / attention_dp.max(1),
        ..p.clone()
    };
    check_model_split(path, key, hardware, model, &attention, notes)
}

/// A pool's expert layout: its `ep` and `attention_dp` (or `[deployment]`'s), with
/// `[deployment]`'s `redundant_experts` and `overlap_a2a`, checked against its tp and the model.
fn moe_layout(
    f: &ScenarioFile,
    key: &str,
    model: &ModelSpec,
    p: &PoolSection,
    path: &Path,
) -> Result<(u32, MoeLayout)> {
    let d = &f.deployment;
    let own = |k: &str, v: Option<u32>| match v {
        Some(_) => format!("{key}.{k}"),
        None => format!("deployment.{k}"),
    };
    let (ep, ep_key) = (p.ep.unwrap_or(d.ep), own("ep", p.ep));
    let (dp, dp_key) = (
        p.attention_dp.unwrap_or(d.attention_dp),
        own("attention_dp", p.attention_dp),
    );
    at_least_one(path, &ep_key, ep as u64)?;
    at_least_one(path, &dp_key, dp as u64)?;
    let layout = MoeLayout {
        attention_dp: dp,
        redundant_experts: d.redundant_experts,
        overlap_a2a: d.overlap_a2a,
    };
    let Some(m) = &model.moe else {
        let asked = [
            (ep > 1, ep_key.as_str()),
            (dp > 1, dp_key.as_str()),
            (d.redundant_experts.is_some(), "deployment.redundant_experts"),
            (d.overlap_a2a, "deployment.overlap_a2a"),
        ];
        if let Some((_, k)) = asked.iter().find(|(set, _)| *set) {
            return Err(Error::input(
                path,
                *k,
                format!(
                    "{} is a dense model: expert parallelism, data-parallel attention, redundant experts and all-to-all overlap need an MoE model (e.g. mixtral-8x7b, qwen3-235b-a22b, deepseek-v3)",
                    model.name
                ),
            ));
        }
        return Ok((ep, layout));
    };
    let redundant = d.redundant_experts.unwrap_or(0);
    if redundant > m.experts {
        return Err(Error::input(
            path,
            "deployment.redundant_experts",
            format!(
                "{redundant} is more replicas than the {} experts of {}; accepted: 0..={}",
                m.experts, model.name, m.experts
            ),
        ));
    }
    let slots = m.experts + redundant;
    if p.tp % ep != 0 || slots % ep != 0 {
        return Err(Error::input(
            path,
            ep_key,
            format!(
                "must divide both tp = {} and the {slots} expert slots of {} ({} experts + {redundant} redundant), got {ep}",
                p.tp, model.name, m.experts
            ),
        ));
    }
    if p.tp % dp != 0 || (dp > 1 && ep != p.tp) {
        return Err(Error::input(
            path,
            dp_key,
            format!(
                "data-parallel attention splits tp = {} into groups and spreads the experts over all its ranks: attention_dp must divide tp and, when above 1, needs ep = tp; got attention_dp = {dp} with ep = {ep}",
                p.tp
            ),
        ));
    }
    if d.overlap_a2a && dp == 1 {
        return Err(Error::input(
            path,
            "deployment.overlap_a2a",
            format!(
                "overlaps the all-to-all of data-parallel attention with compute, but {key} has attention_dp = 1 (no all-to-all: tokens are on every rank); accepted: attention_dp > 1, or overlap_a2a = false"
            ),
        ));
    }
    Ok((ep, layout))
}

fn check_pool_size(path: &Path, key: &str, p: &PoolSection) -> Result<()> {
    at_least_one(path, &format!("{key}.tp"), p.tp as u64)?;
    at_least_one(path, &format!("{key}.pp"), p.pp as u64)?;
    at_least_one(path, &format!("{key}.replicas"), p.replicas as u64)?;
    if p.replicas > MAX_REPLICAS {
        return Err(Error::input(
            path,
            format!("{key}.replicas"),
            format!(
                "{} is more than the {MAX_REPLICAS} replicas one run accepts",
                p.replicas
            ),
        ));
    }
    let ranks = p.tp as u64 * p.pp as u64;
    let fleet_ranks = ranks.saturating_mul(p.replicas as u64);
    if fleet_ranks > MAX_RANKS {
        return Err(Error::input(
            path,
            key.to_string(),
            format!(
                "{} replicas × TP {} × PP {} = {fleet_ranks} ranks, more than the {MAX_RANKS} one run accepts",
                p.replicas, p.tp, p.pp
            ),
        ));
    }
    Ok(())
}

/// A replica uses tp × pp ranks. It either fits in one instance, or spans a whole number of
/// instances; when it spans several with tp below an instance's ranks, the stages must pack
/// into instances without straddling one (the instance's ranks a multiple of tp).
fn check_placement(path: &Path, key: &str, hardware: &Hardware, p: &PoolSection) -> Result<()> {
    let ranks = p.tp as u64 * p.pp as u64;
    let per_instance = hardware.ranks_per_instance();
    if p.tp > per_instance && p.tp % per_instance != 0 {
        return Err(Error::infeasible(
            path,
            format!("{key}.tp"),
            format!(
                "TP {} spans instances of {} but is not a multiple of its {per_instance} ranks ({} chips × {} ranks per chip); accepted: 1..={per_instance}, or a multiple of {per_instance}",
                p.tp, hardware.instance.name, hardware.instance.chips, hardware.chip.ranks_per_chip
            ),
        ));
    }
    if ranks > per_instance as u64
        && (ranks % per_instance as u64 != 0 || (p.tp < per_instance && per_instance % p.tp != 0))
    {
        return Err(Error::infeasible(
            path,
            format!("{key}.pp"),
            format!(
                "TP {} × PP {} = {ranks} ranks per replica spans instances of {} ({per_instance} ranks each) but not a whole number of them, or stages straddle instances; a replica uses tp × pp ranks, which must be at most {per_instance} or a multiple of {per_instance} (with tp dividing {per_instance} when smaller)",
                p.tp, p.pp, hardware.instance.name
            ),
        ));
    }
    Ok(())
}

/// Pipeline stages need layers to hold; GPU tensor parallelism needs whole heads per rank.
fn check_model_split(
    path: &Path,
    key: &str,
    hardware: &Hardware,
    model: &ModelSpec,
    p: &PoolSection,
    notes: &mut Vec<String>,
) -> Result<()> {
    if p.pp > model.layers {
        return Err(Error::infeasible(
            path,
            format!("{key}.pp"),
            format!(
                "PP {} exceeds the {} layers of {}; accepted: 1..={}",
                p.pp, model.layers, model.name, model.layers
            ),
        ));
    }
    if hardware.chip.kind == crate::hw::ChipKind::Gpu && model.heads % p.tp != 0 {
        return Err(Error::infeasible(
            path,
            format!("{key}.tp"),
            format!(
                "TP {} does not divide the {} attention heads of {}; accepted: a divisor of {}",
                p.tp, model.heads, model.name, model.heads
            ),
        ));
    }
    if model.heads % p.tp != 0 {
        notes.push(format!(
            "{} heads do not split evenly over TP {}: each rank computes {} heads (padding), as Neuron compilers do",
            model.heads,
            p.tp,
            model.heads_per_rank(p.tp)
        ));
    }
    Ok(())
}

/// The KV link must carry bytes: a zero-bandwidth link would never deliver a KV cache. A
/// NeuronLink transfer needs both pools in one instance.
fn check_kv_link(path: &Path, link: KvLink, prefill: &Pool, decode: &Pool) -> Result<()> {
    match link {
        KvLink::Efa => {
            for (k, p) in [("disaggregation.prefill", prefill), ("disaggregation.decode", decode)] {
                let gbps = p.hardware.instance.efa_gbps;
                if !(gbps.is_finite() && gbps > 0.0) {
                    return Err(Error::infeasible(
                        path,
                        "disaggregation.kv_link",
                        format!(
                            "the KV cache moves over EFA but {} ({k}) has {gbps} Gbit/s of EFA bandwidth; accepted: efa_gbps > 0",
                            p.hardware.instance.name
                        ),
                    ));
                }
            }
        }
        KvLink::Neuronlink => {
            let bw = prefill.hardware.chip.link.bandwidth_gb_s;
            if !(bw.is_finite() && bw > 0.0) {
                return Err(Error::infeasible(
                    path,
                    "disaggregation.kv_link",
                    format!("the KV cache moves over the chip link but it has {bw} GB/s; accepted: bandwidth_gb_s > 0"),
                ));
            }
            let per = prefill.hardware.ranks_per_instance();
            if prefill.hardware.instance.name != decode.hardware.instance.name
                || prefill.ranks_per_replica() + decode.ranks_per_replica() > per
            {
                return Err(Error::infeasible(
                    path,
                    "disaggregation.kv_link",
                    format!(
                        "kv_link = \"neuronlink\" needs a prefill and a decode replica in one instance (same instance type, together at most {per} ranks); use kv_link = \"efa\""
                    ),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    fn load(deployment: &str, model: &str) -> Result<crate::scenario::Scenario, String> {
        let text = format!(
            "[hardware]\ninstance = \"p5en.48xlarge\"\n[model]\nname = \"{model}\"\nweights = \"fp8\"\n[deployment]\n{deployment}\n[workload]\nrequests = 1\narrival = {{ kind = \"offline\" }}\ninput = {{ kind = \"fixed\", tokens = 16 }}\noutput = {{ kind = \"fixed\", tokens = 4 }}\n"
        );
        crate::scenario::load_str(&text, Path::new("t.toml")).map_err(|e| e.to_string())
    }

    /// The wide-EP keys are checked against tp, the experts and the model, naming the key.
    #[test]
    fn wide_ep_keys_are_checked() {
        let ok = load(
            "tp = 8\nep = 8\nattention_dp = 8\nredundant_experts = 8\noverlap_a2a = true",
            "deepseek-v3",
        )
        .unwrap();
        let p = &ok.pools[0];
        assert_eq!(
            (p.ep, p.moe_layout.attention_dp, p.moe_layout.redundant_experts),
            (8, 8, Some(8))
        );
        assert!(p.moe_layout.overlap_a2a);
        for (deployment, model, key) in [
            (
                "tp = 8\nep = 8\nattention_dp = 3",
                "deepseek-v3",
                "deployment.attention_dp",
            ),
            (
                "tp = 8\nep = 4\nattention_dp = 8",
                "deepseek-v3",
                "deployment.attention_dp",
            ),
            (
                "tp = 8\nep = 8\noverlap_a2a = true",
                "deepseek-v3",
                "deployment.overlap_a2a",
            ),
            (
                "tp = 8\nep = 8\nredundant_experts = 257",
                "deepseek-v3",
                "deployment.redundant_experts",
            ),
            ("tp = 8\nep = 8\nredundant_experts = 4", "deepseek-v3", "deployment.ep"),
            ("tp = 8\nep = 0", "deepseek-v3", "deployment.ep"),
            ("tp = 8\nattention_dp = 8", "llama-3.1-8b", "deployment.attention_dp"),
            ("tp = 8\nattention_db = 8", "deepseek-v3", "attention_db"),
        ] {
            let e = load(deployment, model).unwrap_err();
            assert!(e.contains(key), "{deployment}: {e}");
        }
    }

    /// DeepSeek's decode layout: 256 experts + 32 redundant = 288 slots over EP144, which does
    /// not divide 256 alone; per-pool ep/attention_dp override [deployment]'s.
    #[test]
    fn redundant_slots_divide_and_pools_override() {
        assert!(
            load(
                "tp = 16\nep = 16\nattention_dp = 16\nredundant_experts = 32",
                "deepseek-v3"
            )
            .is_ok()
        );
        let e = load("tp = 24\nep = 24\nattention_dp = 24", "deepseek-v3").unwrap_err();
        assert!(e.contains("256 expert slots"), "{e}");
        let sc = load(
            "[[deployment.groups]]\ntp = 8\nep = 8\nattention_dp = 8\n[[deployment.groups]]\ntp = 8",
            "deepseek-v3",
        )
        .unwrap();
        assert_eq!((sc.pools[0].ep, sc.pools[0].moe_layout.attention_dp), (8, 8));
        assert_eq!((sc.pools[1].ep, sc.pools[1].moe_layout.attention_dp), (1, 1));
    }
}
