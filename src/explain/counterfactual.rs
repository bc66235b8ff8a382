//! What-ifs for one slow request, by re-simulating the whole run from the start with one change
//! (one more replica in the pool it ran on, or another routing policy) and the same seed: the
//! arrivals and lengths are the same draws (every purpose has its own random stream), so the
//! request is found again by its arrival time and lengths, and its TTFT and E2E compared.

use crate::error::Result;
use crate::metrics::RequestRow;
use crate::scenario::Scenario;
use crate::serve::router::RoutingPolicy;
use crate::sim::{RunOptions, Simulation};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Alternative {
    pub change: String,
    /// The request's TTFT and E2E there (None when it did not complete), and the run's p99 TTFT.
    pub ttft_ms: Option<f64>,
    pub e2e_ms: Option<f64>,
    pub dominant: Option<String>,
    pub run_ttft_p99_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Counterfactual {
    pub request: u64,
    pub ttft_ms: f64,
    pub e2e_ms: f64,
    pub run_ttft_p99_ms: f64,
    pub alternatives: Vec<Alternative>,
    pub method: String,
}

/// The routing policies worth trying instead of `now` (prefix affinity only with prefixes).
fn other_policies(sc: &Scenario) -> Vec<RoutingPolicy> {
    let has_prefix = sc.prefix_groups > 0 || sc.trace.is_some() || sc.features.prefix_cache.is_some();
    [
        RoutingPolicy::RoundRobin,
        RoutingPolicy::LeastOutstanding,
        RoutingPolicy::LeastTokens,
        RoutingPolicy::PowerOfTwo,
        RoutingPolicy::PrefixAffinity,
    ]
    .into_iter()
    .filter(|&p| p != sc.routing && (p != RoutingPolicy::PrefixAffinity || has_prefix))
    .collect()
}

fn find<'a>(rows: &'a [RequestRow], like: &RequestRow) -> Option<&'a RequestRow> {
    let key = |r: &RequestRow| (r.arrival_s.to_bits(), r.input_tokens, r.output_tokens);
    rows.iter()
        .find(|r| r.id == like.id && key(r) == key(like))
        .or_else(|| rows.iter().find(|r| key(r) == key(like)))
}

fn alternative(sc: &Scenario, change: String, like: &RequestRow) -> Result<Alternative> {
    let opts = RunOptions {
        keep_requests: true,
        ..RunOptions::default()
    };
    let (r, rows) = Simulation::new(sc, opts)?.run()?;
    let hit = find(&rows, like);
    Ok(Alternative {
        change,
        ttft_ms: hit.map(|h| h.ttft_ms),
        e2e_ms: hit.map(|h| h.e2e_ms),
        dominant: hit.and_then(|h| h.ttft_parts.dominant()).map(|p| p.name().to_string()),
        // The same estimator as the baseline's (nearest rank over the rows), so the column
        // compares like with like.
        run_ttft_p99_ms: super::p99_nearest_rank(&mut rows.iter().map(|x| x.ttft_ms).collect::<Vec<_>>())
            .unwrap_or(r.ttft_ms.p99),
    })
}

/// Re-simulates `sc` with one more replica and with each other routing policy, for request `id`
/// of the baseline `rows`.
pub fn run(sc: &Scenario, rows: &[RequestRow], id: u64) -> Result<Counterfactual> {
    let like = rows.iter().find(|r| r.id == id).copied().unwrap_or(rows[0]);
    let mut ttft: Vec<f64> = rows.iter().map(|r| r.ttft_ms).collect();
    let base_p99 = super::p99_nearest_rank(&mut ttft).unwrap_or(0.0);
    let mut alternatives = Vec::new();
    // The pool the request ran on: pools are laid out in order, replica by replica.
    let mut first = 0u32;
    let pool = sc.pools.iter().position(|p| {
        first += p.replicas;
        like.replica < first
    });
    if let Some(i) = pool {
        let mut more = sc.clone();
        more.pools[i].replicas += 1;
        let what = format!(
            "one more replica in pool {i} ({} → {})",
            sc.pools[i].replicas, more.pools[i].replicas
        );
        alternatives.push(alternative(&more, what, &like)?);
    }
    if sc.replicas() > 1 {
        for p in other_policies(sc) {
            let mut alt = sc.clone();
            alt.routing = p;
            let name = serde_json::to_value(p)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            alternatives.push(alternative(&alt, format!("routing = {name}"), &like)?);
        }
    }
    Ok(Counterfactual {
        request: id,
        ttft_ms: like.ttft_ms,
        e2e_ms: like.e2e_ms,
        run_ttft_p99_ms: base_p99,
        alternatives,
        method: "each alternative re-simulates the whole run from t = 0 with the same seed (same arrivals and lengths, one stream per purpose); the request is matched by arrival time and lengths".to_string(),
    })
}
