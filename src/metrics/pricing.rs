//! One run priced every way at once: rented on demand, reserved or spot (instance-hours at the
//! catalog's price), owned (capital recovery, facility and operations per server-hour, plus the
//! run's measured energy at a $/kWh), and the same tokens bought from a managed endpoint.
//!
//! Every way pays for the whole run, idle capacity included: utilisation is what spreads a fixed
//! hourly cost over tokens. `usd_per_mtok_input` / `_output` / `_total` are the run's whole cost
//! over its input, output or all tokens (as `Cost::usd_per_mtok_output` is): the managed bill of
//! the same tokens, over the same counts, is the like-for-like comparison.

use crate::tco::{ManagedPrice, ServerHour};
use serde::{Deserialize, Serialize};

/// A run's cost under one way of paying.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct TokenCost {
    pub usd_per_hour: f64,
    pub usd_total: f64,
    pub usd_per_mtok_input: f64,
    pub usd_per_mtok_output: f64,
    pub usd_per_mtok_total: f64,
}

/// The run on owned servers, with where the money goes ($/h and $/Mtok of all tokens).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct OwnCost {
    #[serde(flatten)]
    pub cost: TokenCost,
    pub capital_usd_per_hour: f64,
    pub energy_usd_per_hour: f64,
    pub facility_usd_per_hour: f64,
    pub operations_usd_per_hour: f64,
    /// The front-end tier, rented (it has no ownership entry), $/h.
    pub rented_usd_per_hour: f64,
    pub capital_usd_per_mtok: f64,
    pub energy_usd_per_mtok: f64,
    pub facility_usd_per_mtok: f64,
    pub operations_usd_per_mtok: f64,
    /// The run's measured energy (IT × PUE), kWh, and its price.
    pub kwh: f64,
    pub usd_per_kwh: f64,
}

/// The run's tokens bought from a managed endpoint at its per-token prices.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ManagedCost {
    pub name: String,
    pub provider: String,
    pub price_date: String,
    pub price_usd_per_mtok_input: f64,
    pub price_usd_per_mtok_output: f64,
    /// The bill for the run's tokens, over the run's span ($/h) and per token kind.
    #[serde(flatten)]
    pub cost: TokenCost,
}

/// The run priced every way; a way the catalog has no price for is `None`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PricingResult {
    pub on_demand: TokenCost,
    pub reserved: Option<TokenCost>,
    pub spot: Option<TokenCost>,
    pub own: Option<OwnCost>,
    pub managed: Option<ManagedCost>,
}

/// One pool's instances and what an instance-hour costs each way.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PoolPrices {
    /// Instances (fractional when pools share instances).
    pub instances: f64,
    pub on_demand_usd_per_hour: f64,
    pub reserved_usd_per_hour: Option<f64>,
    pub spot_usd_per_hour: Option<f64>,
    /// One owned server's fixed cost per hour (None: no ownership figures for its instance).
    pub own: Option<ServerHour>,
}

/// What the run did that every price reads.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PricedRun {
    pub span_s: f64,
    pub input_tokens: f64,
    pub output_tokens: f64,
    /// The front-end tier's rental, $/h, added to every way of paying.
    pub frontend_usd_per_hour: f64,
    /// The run's energy, IT × PUE, J.
    pub energy_j: f64,
    pub usd_per_kwh: f64,
    pub managed: Option<ManagedPrice>,
}

impl PricedRun {
    fn token_cost(&self, usd_per_hour: f64) -> TokenCost {
        let usd_total = usd_per_hour * self.span_s / 3600.0;
        let per = |tok: f64| if tok > 0.0 { usd_total / tok * 1e6 } else { 0.0 };
        TokenCost {
            usd_per_hour,
            usd_total,
            usd_per_mtok_input: per(self.input_tokens),
            usd_per_mtok_output: per(self.output_tokens),
            usd_per_mtok_total: per(self.input_tokens + self.output_tokens),
        }
    }

    /// A whole-run bill in $ as a cost: its rate over the span.
    fn bill(&self, usd_total: f64) -> TokenCost {
        let usd_per_hour = if self.span_s > 0.0 {
            usd_total * 3600.0 / self.span_s
        } else {
            0.0
        };
        TokenCost {
            usd_total,
            ..self.token_cost(usd_per_hour)
        }
    }
}

/// A rental mode's cost: every pool needs the price, else `None`.
fn rented(pools: &[PoolPrices], run: &PricedRun, price: fn(&PoolPrices) -> Option<f64>) -> Option<TokenCost> {
    let mut usd_per_hour = run.frontend_usd_per_hour;
    for p in pools {
        usd_per_hour += p.instances * price(p)?;
    }
    Some(run.token_cost(usd_per_hour))
}

fn owned(pools: &[PoolPrices], run: &PricedRun) -> Option<OwnCost> {
    let mut fixed = ServerHour::default();
    for p in pools {
        let h = p.own?;
        fixed.capital_usd_per_hour += p.instances * h.capital_usd_per_hour;
        fixed.facility_usd_per_hour += p.instances * h.facility_usd_per_hour;
        fixed.operations_usd_per_hour += p.instances * h.operations_usd_per_hour;
    }
    let kwh = run.energy_j / 3.6e6;
    let energy_usd_per_hour = if run.span_s > 0.0 {
        kwh * run.usd_per_kwh * 3600.0 / run.span_s
    } else {
        0.0
    };
    let cost = run.token_cost(fixed.total() + energy_usd_per_hour + run.frontend_usd_per_hour);
    let tokens = run.input_tokens + run.output_tokens;
    let per_mtok = |usd_per_hour: f64| {
        if tokens > 0.0 {
            usd_per_hour * run.span_s / 3600.0 / tokens * 1e6
        } else {
            0.0
        }
    };
    Some(OwnCost {
        cost,
        capital_usd_per_hour: fixed.capital_usd_per_hour,
        energy_usd_per_hour,
        facility_usd_per_hour: fixed.facility_usd_per_hour,
        operations_usd_per_hour: fixed.operations_usd_per_hour,
        rented_usd_per_hour: run.frontend_usd_per_hour,
        capital_usd_per_mtok: per_mtok(fixed.capital_usd_per_hour),
        energy_usd_per_mtok: per_mtok(energy_usd_per_hour),
        facility_usd_per_mtok: per_mtok(fixed.facility_usd_per_hour),
        operations_usd_per_mtok: per_mtok(fixed.operations_usd_per_hour),
        kwh,
        usd_per_kwh: run.usd_per_kwh,
    })
}

fn managed(run: &PricedRun) -> Option<ManagedCost> {
    let m = run.managed.as_ref()?;
    let bill = (run.input_tokens * m.usd_per_mtok_input + run.output_tokens * m.usd_per_mtok_output) / 1e6;
    Some(ManagedCost {
        name: m.name.clone(),
        provider: m.provider.clone(),
        price_date: m.price_date.clone(),
        price_usd_per_mtok_input: m.usd_per_mtok_input,
        price_usd_per_mtok_output: m.usd_per_mtok_output,
        cost: run.bill(bill),
    })
}

/// The run priced every way.
pub fn pricing(pools: &[PoolPrices], run: &PricedRun) -> PricingResult {
    PricingResult {
        on_demand: rented(pools, run, |p| Some(p.on_demand_usd_per_hour)).unwrap_or_default(),
        reserved: rented(pools, run, |p| p.reserved_usd_per_hour),
        spot: rented(pools, run, |p| p.spot_usd_per_hour),
        own: owned(pools, run),
        managed: managed(run),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run() -> (PoolPrices, PricedRun) {
        (
            PoolPrices {
                instances: 2.0,
                on_demand_usd_per_hour: 55.04,
                reserved_usd_per_hour: Some(30.0),
                spot_usd_per_hour: None,
                own: Some(ServerHour {
                    capital_usd_per_hour: 10.0,
                    facility_usd_per_hour: 1.5,
                    operations_usd_per_hour: 1.0,
                }),
            },
            PricedRun {
                span_s: 1800.0,
                input_tokens: 3e6,
                output_tokens: 1e6,
                frontend_usd_per_hour: 0.0,
                energy_j: 18e6 * 3.6, // 18 kWh
                usd_per_kwh: 0.1,
                managed: Some(ManagedPrice {
                    name: "m".into(),
                    provider: "p".into(),
                    model: "x".into(),
                    usd_per_mtok_input: 0.5,
                    usd_per_mtok_output: 1.5,
                    price_date: "2025-01".into(),
                }),
            },
        )
    }

    #[test]
    fn each_way_of_paying_prices_the_same_tokens() {
        let (p, r) = run();
        let x = pricing(&[p], &r);
        // On demand: 2 × 55.04 $/h for half an hour = 55.04 $ over 4 M tokens.
        assert!((x.on_demand.usd_total - 55.04).abs() < 1e-9);
        assert!((x.on_demand.usd_per_mtok_total - 55.04 / 4.0).abs() < 1e-9);
        assert!((x.on_demand.usd_per_mtok_input - 55.04 / 3.0).abs() < 1e-9);
        assert!((x.reserved.unwrap().usd_total - 30.0).abs() < 1e-9);
        assert!(x.spot.is_none(), "no spot price: no spot figure");
        // Own: 2 × 12.5 $/h fixed + 18 kWh × 0.1 $ over 0.5 h = 3.6 $/h of energy; 28.6 $/h.
        let o = x.own.unwrap();
        assert!((o.energy_usd_per_hour - 3.6).abs() < 1e-9);
        assert!((o.cost.usd_per_hour - 28.6).abs() < 1e-9);
        assert!((o.cost.usd_total - 14.3).abs() < 1e-9);
        let split =
            o.capital_usd_per_mtok + o.energy_usd_per_mtok + o.facility_usd_per_mtok + o.operations_usd_per_mtok;
        assert!((split - o.cost.usd_per_mtok_total).abs() < 1e-12);
        // Managed: 3 M × 0.5 + 1 M × 1.5 = 3 $ for the run, 0.75 $/Mtok blended.
        let m = x.managed.unwrap();
        assert!((m.cost.usd_total - 3.0).abs() < 1e-12);
        assert!((m.cost.usd_per_mtok_total - 0.75).abs() < 1e-12);
        assert!((m.cost.usd_per_hour - 6.0).abs() < 1e-12);
    }

    #[test]
    fn a_pool_without_ownership_figures_leaves_own_unpriced_and_an_empty_run_has_no_nan() {
        let (mut p, mut r) = run();
        p.own = None;
        assert!(pricing(&[p], &r).own.is_none());
        let (p, _) = run();
        r.span_s = 0.0;
        r.input_tokens = 0.0;
        r.output_tokens = 0.0;
        let x = pricing(&[p], &r);
        let o = x.own.unwrap();
        for v in [
            o.cost.usd_per_mtok_total,
            o.energy_usd_per_hour,
            o.capital_usd_per_mtok,
            x.managed.unwrap().cost.usd_per_hour,
        ] {
            assert_eq!(v, 0.0);
        }
    }
}
