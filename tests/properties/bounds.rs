//! Physical bounds every run's [`RunResult`] must respect (issue 18, "done when"): no metric is
//! NaN, infinite or negative; no busy fraction or share passes 1; the average power stays within
//! what the hardware can draw; output tokens/s stay within what the chips can compute.

use codesim::{RunResult, Scenario};
use serde_json::Value;

/// Fields of a result that are legitimately `null`: an `Option` that is `None` (no SLO set; no
/// reserved or spot price in the catalog, no ownership figures for the instance, no managed price
/// for the model). NaN would also serialise as `null` (serde_json writes no NaN), so every other
/// `null` fails.
const MAY_BE_NULL: [&str; 5] = [
    "slo_attainment",
    ".pricing.reserved",
    ".pricing.spot",
    ".pricing.own",
    ".pricing.managed",
];

/// Every number in the result's JSON is finite and ≥ 0. No field of a `RunResult` may be
/// negative: latencies, rates, counts, costs, energies, fractions and times all start at 0.
pub fn no_nan_or_negative(r: &RunResult) -> Result<(), String> {
    let v = serde_json::to_value(r).map_err(|e| format!("result does not serialise: {e}"))?;
    let mut bad = Vec::new();
    walk(&v, "", &mut bad);
    if bad.is_empty() {
        Ok(())
    } else {
        Err(format!("metrics NaN, infinite or negative: {}", bad.join(", ")))
    }
}

fn walk(v: &Value, path: &str, bad: &mut Vec<String>) {
    match v {
        Value::Number(n) => match n.as_f64() {
            Some(x) if x.is_finite() && x >= 0.0 => {}
            _ => bad.push(format!("{path} = {n}")),
        },
        Value::Null if !MAY_BE_NULL.iter().any(|k| path.ends_with(k)) => bad.push(format!("{path} = null (NaN?)")),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, x)| walk(x, &format!("{path}[{i}]"), bad)),
        Value::Object(o) => o.iter().for_each(|(k, x)| walk(x, &format!("{path}.{k}"), bad)),
        _ => {}
    }
}

/// Fractions the result reports: each is a share of something and lies in [0, 1].
pub fn fractions_at_most_one(r: &RunResult) -> Result<(), String> {
    let mut f = vec![
        ("breakdown.busy_fraction", r.breakdown.busy_fraction),
        ("infrastructure.host_utilisation", r.infrastructure.host_utilisation),
        (
            "infrastructure.frontend_utilisation",
            r.infrastructure.frontend_utilisation,
        ),
    ];
    if let Some(p) = &r.prefix_cache {
        let tiers = p.hit_rate_host + p.hit_rate_remote;
        f.extend([
            ("prefix_cache.hit_rate", p.hit_rate),
            ("prefix_cache.hit_rate_host + remote", tiers),
        ]);
    }
    if let Some(s) = &r.speculative {
        f.push(("speculative.acceptance_rate", s.acceptance_rate));
    }
    for c in &r.classes {
        f.push(("classes[].slo_attainment", c.slo_attainment.unwrap_or(0.0)));
    }
    // A tiny rounding slack: these are ratios of sums of floats.
    match f.iter().find(|(_, x)| *x > 1.0 + 1e-9) {
        Some((k, x)) => Err(format!("{k} = {x} > 1")),
        None => Ok(()),
    }
}

/// Average power ≤ PUE × instances × (chips × TDP + host sockets × host TDP): every chip at
/// its TDP and every host at its full power the whole run is the most a deployment can draw
/// (`metrics::accounting::energy` sums idle + dynamic ≤ TDP per chip and host ≤ its TDP). The
/// instances are the result's own count (`cost.instances`); a fleet takes its most power-hungry
/// instance type for all of them, which keeps the bound an upper bound.
pub fn power_within_tdp(sc: &Scenario, r: &RunResult) -> Result<(), String> {
    let per_instance = sc
        .pools
        .iter()
        .map(|p| {
            let hw = &p.hardware;
            hw.instance.chips as f64 * hw.chip.tdp_w + hw.host.tdp_w * hw.host.sockets.max(1) as f64
        })
        .fold(0.0, f64::max);
    let bound = sc.infra.pue * r.cost.instances as f64 * per_instance;
    if r.energy.avg_power_w > bound * (1.0 + 1e-9) {
        return Err(format!(
            "average power {:.1} W > PUE {} × {} instances × {per_instance:.1} W = {bound:.1} W",
            r.energy.avg_power_w, sc.infra.pue, r.cost.instances
        ));
    }
    Ok(())
}

/// Output tokens/s ≤ Σ over pools of replicas × chips per replica × the chip's peak FLOP/s at
/// the run's compute dtype, over the FLOPs of one token's weight matmuls (2 per active weight,
/// LM head included, embedding gather excluded: `ModelSpec::linear_flops_per_token`). Every
/// output token passes through every layer and the LM head once (speculative drafts are verified
/// by the full model; prefix-cache hits skip only prompt work), and attention adds FLOPs, so no
/// schedule beats this. (A memory-bandwidth bound would not hold: a batch reads the weights once
/// for all its sequences.)
pub fn tokens_within_flop_bound(sc: &Scenario, r: &RunResult) -> Result<(), String> {
    let peak: f64 = sc
        .pools
        .iter()
        .map(|p| {
            let (flops, _, _) = p.hardware.chip.peak_flops(sc.precision.compute);
            (p.replicas * p.chips_per_replica()) as f64 * flops
        })
        .sum();
    let per_token = sc.model.linear_flops_per_token();
    let bound = peak / per_token;
    if r.throughput.output_tok_s > bound * (1.0 + 1e-9) {
        return Err(format!(
            "{:.1} output tok/s > peak {:.3e} FLOP/s / {per_token:.3e} FLOP per token = {bound:.1} tok/s",
            r.throughput.output_tok_s, peak
        ));
    }
    Ok(())
}

/// All the bounds above.
pub fn check(sc: &Scenario, r: &RunResult) -> Result<(), String> {
    no_nan_or_negative(r)?;
    fractions_at_most_one(r)?;
    power_within_tdp(sc, r)?;
    tokens_within_flop_bound(sc, r)
}
