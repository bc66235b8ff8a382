//! `[[workload.tenants]]` (`scenario::tenants`): each tenant checked, then the file rewritten so
//! the rest of resolution sees one workload: the tenants as workload classes (shares by their
//! requests), a Poisson arrival at the sum of their rates (for the span check), and lengths
//! that bound every tenant's (the longest prompt and the largest `max_tokens` of any tenant,
//! for the fit and token-budget checks). What tenants cannot be combined with is refused.

use super::{at_least_one, positive};
use crate::error::{Error, Result};
use crate::model::ModelSpec;
use crate::scenario::limits::MAX_REQUESTS;
use crate::scenario::tenants::{Tenant, TenantSection};
use crate::scenario::{ClassSection, ScenarioFile};
use crate::workload::{ArrivalSpec, Client, LengthSpec};
use std::path::Path;
use std::sync::Arc;

/// The tenants of `f` (none without `[[workload.tenants]]`) and the file as the rest of
/// resolution reads it. Without tenants, `workload.arrival` is required.
pub(super) fn expand(
    mut f: ScenarioFile,
    model: &ModelSpec,
    dir: &Path,
    path: &Path,
    notes: &mut Vec<String>,
) -> Result<(ScenarioFile, Vec<Tenant>, Models)> {
    let models = models(&f, model, dir, path, notes)?;
    if f.workload.tenants.is_empty() {
        if let Some(g) = models.group.iter().position(|&m| m > 0) {
            return Err(Error::input(
                path,
                format!("deployment.groups[{g}].model"),
                format!(
                    "the fleet serves several models ({}); declare [[workload.tenants]], each naming the model it calls (`model`), so requests know where to go",
                    models.names.join(", ")
                ),
            ));
        }
        if f.workload.arrival_spec.is_none() {
            return Err(Error::input(
                path,
                "workload.arrival",
                "is required: how requests arrive, e.g. { kind = \"poisson\", rate_per_s = 2.0 } (or [[workload.tenants]], each with its own)",
            ));
        }
        return Ok((f, Vec::new(), models));
    }
    refuse_with_tenants(&f, path)?;
    let sections = std::mem::take(&mut f.workload.tenants);
    let mut tenants = Vec::with_capacity(sections.len());
    for (i, t) in sections.iter().enumerate() {
        let key = format!("workload.tenants[{i}]");
        crate::input::check_label(path, &format!("{key}.name"), &t.name)?;
        if sections[..i].iter().any(|o| o.name == t.name) {
            return Err(Error::input(
                path,
                format!("{key}.name"),
                format!("tenant `{}` is declared twice; accepted: a name of its own", t.name),
            ));
        }
        let (m, pools) = tenant_model(t, &key, &models, path)?;
        let mut resolved = tenant(t, &key, f.workload.horizon_s.is_some(), &models.specs[m], dir, path)?;
        (resolved.model, resolved.model_name, resolved.pools) = (m, models.names[m].clone(), pools);
        tenants.push(resolved);
    }
    let total: u64 = tenants.iter().map(|t| t.requests).sum();
    if total > MAX_REQUESTS {
        return Err(Error::input(
            path,
            "workload.tenants",
            format!(
                "the tenants send {total} requests, more than the {MAX_REQUESTS} one run accepts; split the study into several runs"
            ),
        ));
    }
    let longest_prompt = tenants
        .iter()
        .map(|t| max_len(&t.input, &t.input_column))
        .max()
        .unwrap_or(1);
    let most_tokens = tenants.iter().map(|t| t.max_tokens).max().unwrap_or(1);
    let rate: f64 = tenants.iter().map(|t| t.rate_per_s).sum();
    notes.push(format!(
        "workload.tenants: {} tenants ({}) share the fleet, {total} requests at {rate:.4} req/s in all, each a workload class with its own arrival stream, merged in time order; the fit checks bound every tenant by the longest prompt ({longest_prompt}) and the largest max_tokens ({most_tokens}) of any",
        tenants.len(),
        tenants.iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join(", ")
    ));
    let w = &mut f.workload;
    w.arrival_spec = Some(ArrivalSpec::Poisson {
        rate_per_s: rate,
        client: Client::Ideal,
        max_concurrency: None,
    });
    w.requests = Some(total);
    w.input = Some(LengthSpec::Fixed { tokens: longest_prompt });
    w.output = Some(LengthSpec::Fixed { tokens: most_tokens });
    w.classes = sections
        .iter()
        .zip(&tenants)
        .map(|(s, t)| ClassSection {
            name: t.name.clone(),
            share: t.requests as f64,
            priority: s.priority,
            slo: s.slo,
        })
        .collect();
    Ok((f, tenants, models))
}

/// What tenants replace (the workload's own arrival, lengths, count, classes and profile) and
/// what is not modelled with them (sessions, synthetic prefixes, a gateway, the fleet over
/// time: their per-tenant accounts would not add up).
fn refuse_with_tenants(f: &ScenarioFile, path: &Path) -> Result<()> {
    let w = &f.workload;
    let replaced = [
        ("workload.arrival", w.arrival_spec.is_some()),
        ("workload.requests", w.requests.is_some()),
        ("workload.input", w.input.is_some()),
        ("workload.output", w.output.is_some()),
        ("workload.max_tokens", w.max_tokens.is_some()),
        ("workload.classes", !w.classes.is_empty()),
        ("workload.profile", w.profile.is_some()),
    ];
    if let Some((key, _)) = replaced.iter().find(|(_, set)| *set) {
        let own = key.trim_start_matches("workload.");
        return Err(Error::input(
            path,
            *key,
            format!(
                "is set with [[workload.tenants]], whose tenants each carry their own (workload.tenants[].{}); remove it",
                if own == "classes" {
                    "name, priority and slo"
                } else {
                    own
                }
            ),
        ));
    }
    let unsupported = [
        ("workload.sessions", w.sessions.is_some(), "multi-turn sessions"),
        ("workload.prefix", w.prefix.is_some(), "synthetic shared prefixes"),
        (
            "gateway",
            f.gateway.is_some(),
            "a gateway (its sheds and timeouts are not counted per tenant)",
        ),
        (
            "fleet",
            f.fleet.is_some(),
            "the fleet over time (autoscaling, losses, windows)",
        ),
    ];
    if let Some((key, _, what)) = unsupported.iter().find(|(_, set, _)| *set) {
        return Err(Error::input(
            path,
            *key,
            format!("{what} with [[workload.tenants]] is not modelled; remove one"),
        ));
    }
    Ok(())
}

/// One tenant, checked: a rate arrival of the ideal client, lengths within the context.
fn tenant(t: &TenantSection, key: &str, horizon: bool, model: &ModelSpec, dir: &Path, path: &Path) -> Result<Tenant> {
    let rate = check_arrival(&t.arrival, key, path)?;
    at_least_one(path, &format!("{key}.requests"), t.requests)?;
    if !horizon {
        super::workload::check_span(&t.arrival, t.requests, None, path)
            .map_err(|e| relocate(e, "workload.arrival", &format!("{key}.arrival")))?;
    }
    let input_column = super::workload::length_column(&t.input, &format!("{key}.input"), true, dir, path)?;
    let output_column = super::workload::length_column(&t.output, &format!("{key}.output"), false, dir, path)?;
    if let Some(slo) = &t.slo {
        super::classes::check_slo(slo, &format!("{key}.slo"), path)?;
    }
    let ctx = model.max_context;
    let longest = max_len(&t.input, &input_column);
    let max_out = max_len(&t.output, &output_column);
    let max_tokens = match t.max_tokens {
        Some(m) => {
            at_least_one(path, &format!("{key}.max_tokens"), m as u64)?;
            m
        }
        None => max_out,
    };
    if longest as u64 + max_out.min(max_tokens) as u64 > ctx as u64 {
        return Err(Error::input(
            path,
            format!("{key}.input"),
            format!(
                "the tenant's longest request ({longest} input + {} output tokens) exceeds the {ctx}-token context of {}; accepted: input + output <= {ctx}",
                max_out.min(max_tokens),
                model.name
            ),
        ));
    }
    if let Some(p) = &t.profile {
        p.check(path)
            .map_err(|e| relocate(e, "workload.profile", &format!("{key}.profile")))?;
    }
    let mean = t.profile.as_ref().map_or(1.0, |p| p.mean_over_week());
    Ok(Tenant {
        name: t.name.clone(),
        arrival: t.arrival.clone(),
        input: t.input.clone(),
        output: t.output.clone(),
        input_column,
        output_column,
        requests: t.requests,
        max_tokens: max_tokens.min(ctx.saturating_sub(1).max(1)),
        profile: t.profile.clone(),
        rate_per_s: rate * mean,
        model: 0,
        model_name: String::new(),
        pools: Vec::new(),
    })
}

/// A tenant's arrival: a rate process (poisson, gamma, weibull, constant) of the ideal client,
/// without a concurrency cap. Returns its rate.
fn check_arrival(a: &ArrivalSpec, key: &str, path: &Path) -> Result<f64> {
    let Some(rate) = a.rate_per_s() else {
        return Err(Error::input(
            path,
            format!("{key}.arrival.kind"),
            format!(
                "is \"{}\"; accepted for a tenant: \"poisson\", \"gamma\", \"weibull\", \"constant\" (a tenant is an open-loop stream of its own)",
                a.kind()
            ),
        ));
    };
    positive(path, &format!("{key}.arrival.rate_per_s"), rate)?;
    match a {
        ArrivalSpec::Gamma { cv, .. } => positive(path, &format!("{key}.arrival.cv"), *cv)?,
        ArrivalSpec::Weibull { shape, .. } if !(shape.is_finite() && (0.1..=100.0).contains(shape)) => {
            return Err(Error::input(
                path,
                format!("{key}.arrival.shape"),
                format!("is {}; accepted: 0.1 to 100", crate::error::given(*shape)),
            ));
        }
        _ => {}
    }
    if a.client() != Client::Ideal {
        return Err(Error::input(
            path,
            format!("{key}.arrival.client"),
            format!(
                "is \"{}\"; accepted for a tenant: \"ideal\" (benchmark clients send one stream)",
                a.client().name()
            ),
        ));
    }
    if a.max_concurrency().is_some() {
        return Err(Error::input(
            path,
            format!("{key}.arrival.max_concurrency"),
            "is not modelled for tenants; remove it",
        ));
    }
    Ok(rate)
}

fn max_len(spec: &LengthSpec, column: &Option<std::sync::Arc<Vec<u32>>>) -> u32 {
    spec.max_tokens(column.as_deref().map_or(&[], |v| v.as_slice())).max(1)
}

/// An error of a check written for the workload's own key, moved to the tenant's.
fn relocate(e: Error, from: &str, to: &str) -> Error {
    match e {
        Error::Input(mut i) if i.location.starts_with(from) => {
            i.location = i.location.replacen(from, to, 1);
            Error::Input(i)
        }
        e => e,
    }
}

/// The models of the run: `[model]` first, then each other model a deployment group names.
pub(super) struct Models {
    pub specs: Vec<Arc<ModelSpec>>,
    /// As written (`[model] name`, a group's `model`).
    pub names: Vec<String>,
    /// Each deployment group's model (an index into `specs`); empty without groups.
    pub group: Vec<usize>,
    /// Each deployment group's dtypes when it sets its own `weights`.
    pub precision: Vec<Option<crate::perf::Precision>>,
}

impl Models {
    /// The model of pool `pi` when it is not `[model]`'s.
    pub fn of_pool(&self, pi: usize) -> Option<Arc<ModelSpec>> {
        self.group.get(pi).filter(|&&m| m > 0).map(|&m| self.specs[m].clone())
    }

    /// The pools (deployment groups) serving model `m`; every pool without groups.
    fn pools_of(&self, m: usize) -> Vec<usize> {
        (0..self.group.len()).filter(|&g| self.group[g] == m).collect()
    }
}

/// `deployment.groups[].model`, each resolved as `[model] name` is (a preset or a path, at
/// `[model]`'s dtypes and its nominal context). Dense models only: an expert layout is set
/// per deployment, for one model.
pub(super) fn models(
    f: &ScenarioFile,
    main: &ModelSpec,
    dir: &Path,
    path: &Path,
    notes: &mut Vec<String>,
) -> Result<Models> {
    let mut m = Models {
        specs: vec![Arc::new(main.clone())],
        names: vec![f.model.name.clone()],
        group: Vec::new(),
        precision: Vec::new(),
    };
    if let Some(d) = &f.disaggregation {
        for (pool, p) in [("prefill", &d.prefill), ("decode", &d.decode)] {
            for (k, set) in [("model", p.model.is_some()), ("weights", p.weights.is_some())] {
                if set {
                    return Err(Error::input(
                        path,
                        format!("disaggregation.{pool}.{k}"),
                        format!(
                            "is set; a {k} of its own is for deployment groups ([[deployment.groups]]); prefill and decode serve `[model]`: remove it"
                        ),
                    ));
                }
            }
        }
    }
    for (i, g) in f.deployment.groups.iter().enumerate() {
        m.precision.push(match g.weights.filter(|&w| w != f.model.weights) {
            Some(w) => {
                let section = crate::scenario::ModelSection {
                    weights: w,
                    ..f.model.clone()
                };
                let key = format!("deployment.groups[{i}].weights");
                Some(super::model::precision(&section, path).map_err(|e| relocate(e, "model.weight_format", &key))?)
            }
            None => None,
        });
        let Some(name) = g.model.as_ref().filter(|n| **n != f.model.name) else {
            m.group.push(0);
            continue;
        };
        let key = format!("deployment.groups[{i}].model");
        let idx = match m.names.iter().position(|n| n == name) {
            Some(idx) => idx,
            None => {
                let spec = crate::model::resolve_builtin(name, dir, path, &key)?;
                m.specs.push(Arc::new(spec));
                m.names.push(name.clone());
                m.specs.len() - 1
            }
        };
        for spec in [&m.specs[idx], &m.specs[0]] {
            if spec.moe.is_some() {
                return Err(Error::input(
                    path,
                    key,
                    format!(
                        "`{name}` with `[model]` {}: a fleet of several models is modelled for dense models only ({} is a mixture of experts, whose expert layout is set for one model)",
                        f.model.name, spec.name
                    ),
                ));
            }
        }
        m.group.push(idx);
    }
    let own_weights = m.precision.iter().any(Option::is_some);
    if m.specs.len() > 1 || own_weights {
        let s = &f.serving;
        let features = [
            ("serving.prefix_cache", s.prefix_cache.is_some()),
            ("serving.speculative", s.speculative.is_some()),
            ("serving.lora", s.lora.is_some()),
            ("serving.kv_offload", s.kv_offload.is_some()),
            ("workload.multimodal", f.workload.multimodal.is_some()),
        ];
        if let Some((key, _)) = features.iter().find(|(_, on)| *on) {
            return Err(Error::input(
                path,
                *key,
                format!(
                    "is set on a fleet of several models or weight dtypes ({}); it is modelled for one: remove it or serve one model at one dtype",
                    m.names.join(", ")
                ),
            ));
        }
        if m.specs.len() > 1 {
            notes.push(format!(
            "deployment.groups: the fleet serves {} models ({}); each group's cost model, KV cache, fit checks and context use its own, at [model]'s dtypes; a request is routed only to the groups serving its tenant's model",
            m.specs.len(),
            m.names.join(", ")
        ));
        }
    }
    Ok(m)
}

/// A tenant's model, named as a deployment group's `model` or `[model] name`, and the pools
/// serving it.
fn tenant_model(t: &TenantSection, key: &str, models: &Models, path: &Path) -> Result<(usize, Vec<usize>)> {
    let m = match &t.model {
        None => 0,
        Some(name) => models.names.iter().position(|n| n == name).ok_or_else(|| {
            Error::input(
                path,
                format!("{key}.model"),
                format!(
                    "`{name}` is served by no deployment group; accepted: {} (`[model] name` or a group's `model`)",
                    models
                        .names
                        .iter()
                        .map(|n| format!("`{n}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        })?,
    };
    if models.specs.len() == 1 {
        return Ok((m, Vec::new()));
    }
    let pools = models.pools_of(m);
    if pools.is_empty() {
        return Err(Error::input(
            path,
            format!("{key}.model"),
            format!(
                "`{}` is served by no deployment group (every group names another model: {}); add a group for it or call a served model",
                models.names[m],
                models
                    .group
                    .iter()
                    .map(|&g| format!("`{}`", models.names[g]))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    Ok((m, pools))
}

/// The model the workload's lengths are checked against: `[model]`, or with tenants (each
/// checked against its own model's context already) one without a context bound, so that the
/// bounding lengths of tenants of different models are not refused together.
pub(super) fn context_bound<'a>(model: &'a ModelSpec, tenants: &[Tenant]) -> std::borrow::Cow<'a, ModelSpec> {
    if tenants.is_empty() {
        return std::borrow::Cow::Borrowed(model);
    }
    let mut unbounded = model.clone();
    unbounded.max_context = u32::MAX;
    std::borrow::Cow::Owned(unbounded)
}
