//! Total cost of ownership: what an owned server costs per hour, and what managed endpoints charge
//! per token. Two embedded data files (`costs/ownership.toml`, `costs/managed.toml`), every number
//! with its source or assumption, and the arithmetic:
//!
//! - capital: (accelerators + host + network + rack) × CRF(r, n) / 8760 per server-hour, where
//!   CRF(r, n) = r (1 + r)^n / ((1 + r)^n − 1) is the capital recovery factor (the level annual
//!   payment that repays 1 $ over n years at interest r; 1 / n when r = 0: straight-line);
//! - facility: $/kW-month × the server's provisioned kW / 730 h, provisioned kW = its nameplate
//!   (chips × chip TDP + host TDP × sockets), what a colocation contract reserves whatever the
//!   server draws;
//! - operations: $/server-year / 8760;
//! - energy is not per server: the run's measured energy (IT × PUE) × $/kWh (`metrics::pricing`).

use crate::error::{Error, Result};
use crate::input::parse_toml;
use serde::{Deserialize, Serialize};
use std::path::Path;

pub const HOURS_PER_YEAR: f64 = 8760.0;
pub const HOURS_PER_MONTH: f64 = HOURS_PER_YEAR / 12.0;
/// The file the ownership defaults are read from, as errors name it.
pub const OWNERSHIP_FILE: &str = "costs/ownership.toml";
/// The file the managed prices are read from, as errors name it.
pub const MANAGED_FILE: &str = "costs/managed.toml";

/// One server's capital and yearly operations cost, $.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerCost {
    pub accelerators_usd: f64,
    pub host_usd: f64,
    pub network_usd: f64,
    pub rack_usd: f64,
    pub operations_usd_per_server_year: f64,
}

impl ServerCost {
    pub fn capital_usd(&self) -> f64 {
        self.accelerators_usd + self.host_usd + self.network_usd + self.rack_usd
    }

    /// The keys with their values, in the order the docs list them.
    pub fn entries(&self) -> [(&'static str, f64); 5] {
        [
            ("accelerators_usd", self.accelerators_usd),
            ("host_usd", self.host_usd),
            ("network_usd", self.network_usd),
            ("rack_usd", self.rack_usd),
            ("operations_usd_per_server_year", self.operations_usd_per_server_year),
        ]
    }
}

/// What every owned server pays besides its own capital.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rates {
    pub depreciation_years: f64,
    /// Annual interest on the capital (0.08 = 8 %).
    pub cost_of_capital: f64,
    pub usd_per_kwh: f64,
    pub facility_usd_per_kw_month: f64,
}

/// The accepted range of each key, checked wherever a value comes from (data file or scenario).
pub const RANGES: [(&str, f64, f64); 9] = [
    ("accelerators_usd", 0.0, 1e9),
    ("host_usd", 0.0, 1e9),
    ("network_usd", 0.0, 1e9),
    ("rack_usd", 0.0, 1e9),
    ("operations_usd_per_server_year", 0.0, 1e9),
    ("depreciation_years", 0.1, 50.0),
    ("cost_of_capital", 0.0, 1.0),
    ("usd_per_kwh", 0.0, 10.0),
    ("facility_usd_per_kw_month", 0.0, 1e5),
];

/// `v` for `key` within its range, else an error naming `file`, `at(key)`, the value and the range.
pub fn check(file: &Path, at: &dyn Fn(&str) -> String, key: &str, v: f64) -> Result<()> {
    let (_, lo, hi) = RANGES
        .iter()
        .find(|r| r.0 == key)
        .copied()
        .unwrap_or((key, 0.0, f64::MAX));
    if v.is_finite() && v >= lo && v <= hi {
        return Ok(());
    }
    let what = if key == "depreciation_years" {
        format!("must be a number of years in [{lo}, {hi}], got {v}")
    } else {
        format!("must be a finite number in [{lo}, {hi}], got {v}")
    };
    Err(Error::input(file, at(key), what))
}

impl Rates {
    pub fn entries(&self) -> [(&'static str, f64); 4] {
        [
            ("depreciation_years", self.depreciation_years),
            ("cost_of_capital", self.cost_of_capital),
            ("usd_per_kwh", self.usd_per_kwh),
            ("facility_usd_per_kw_month", self.facility_usd_per_kw_month),
        ]
    }
}

/// The capital recovery factor: the annual payment, as a fraction of the capital, that repays it
/// over `years` at interest `rate` (straight-line 1 / years when the rate is 0).
pub fn capital_recovery_factor(rate: f64, years: f64) -> f64 {
    if rate.abs() < 1e-12 {
        return 1.0 / years;
    }
    let g = (1.0 + rate).powf(years);
    rate * g / (g - 1.0)
}

/// One owned server's fixed cost per hour, split.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerHour {
    pub capital_usd_per_hour: f64,
    pub facility_usd_per_hour: f64,
    pub operations_usd_per_hour: f64,
}

impl ServerHour {
    pub fn total(&self) -> f64 {
        self.capital_usd_per_hour + self.facility_usd_per_hour + self.operations_usd_per_hour
    }
}

/// One server of a pool, owned: its costs, the rates and its provisioned power.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ownership {
    pub server: ServerCost,
    pub rates: Rates,
    /// Nameplate power the facility provisions for the server, kW.
    pub provisioned_kw: f64,
}

impl Ownership {
    pub fn hourly(&self) -> ServerHour {
        let r = &self.rates;
        ServerHour {
            capital_usd_per_hour: self.server.capital_usd()
                * capital_recovery_factor(r.cost_of_capital, r.depreciation_years)
                / HOURS_PER_YEAR,
            facility_usd_per_hour: r.facility_usd_per_kw_month * self.provisioned_kw / HOURS_PER_MONTH,
            operations_usd_per_hour: self.server.operations_usd_per_server_year / HOURS_PER_YEAR,
        }
    }
}

/// A managed endpoint's per-token price.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManagedPrice {
    pub name: String,
    pub provider: String,
    /// The codesim model preset it serves.
    pub model: String,
    pub usd_per_mtok_input: f64,
    pub usd_per_mtok_output: f64,
    pub price_date: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerEntry {
    instance: String,
    accelerators_usd: f64,
    host_usd: f64,
    network_usd: f64,
    rack_usd: f64,
    operations_usd_per_server_year: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OwnershipFile {
    defaults: Rates,
    #[serde(default)]
    server: Vec<ServerEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ManagedFile {
    #[serde(default)]
    managed: Vec<ManagedPrice>,
}

/// The ownership defaults and the managed prices.
#[derive(Debug, Clone, PartialEq)]
pub struct CostCatalog {
    pub defaults: Rates,
    /// (instance type, its server's costs).
    pub servers: Vec<(String, ServerCost)>,
    pub managed: Vec<ManagedPrice>,
}

impl CostCatalog {
    /// The catalog shipped with codesim (embedded), parsed and checked once per process.
    pub fn builtin() -> Result<CostCatalog> {
        static BUILTIN: std::sync::OnceLock<std::result::Result<CostCatalog, String>> = std::sync::OnceLock::new();
        match BUILTIN.get_or_init(|| {
            CostCatalog::parse(crate::assets::OWNERSHIP_COSTS, crate::assets::MANAGED_PRICES).map_err(|e| e.to_string())
        }) {
            Ok(c) => Ok(c.clone()),
            Err(m) => Err(Error::input(Path::new("costs"), "", m.clone())),
        }
    }

    /// Parses and checks the two files' texts.
    pub fn parse(ownership: &str, managed: &str) -> Result<CostCatalog> {
        let (of, mf) = (Path::new(OWNERSHIP_FILE), Path::new(MANAGED_FILE));
        let o: OwnershipFile = parse_toml(ownership, of)?;
        let m: ManagedFile = parse_toml(managed, mf)?;
        for (k, v) in o.defaults.entries() {
            check(of, &|k| format!("defaults.{k}"), k, v)?;
        }
        let mut servers = Vec::new();
        for s in o.server {
            let cost = ServerCost {
                accelerators_usd: s.accelerators_usd,
                host_usd: s.host_usd,
                network_usd: s.network_usd,
                rack_usd: s.rack_usd,
                operations_usd_per_server_year: s.operations_usd_per_server_year,
            };
            let at = |k: &str| format!("server `{}`.{k}", s.instance);
            for (k, v) in cost.entries() {
                check(of, &at, k, v)?;
            }
            servers.push((s.instance, cost));
        }
        for p in &m.managed {
            for (k, v) in [
                ("usd_per_mtok_input", p.usd_per_mtok_input),
                ("usd_per_mtok_output", p.usd_per_mtok_output),
            ] {
                if !(v.is_finite() && v >= 0.0) {
                    return Err(Error::input(
                        mf,
                        format!("managed `{}`.{k}", p.name),
                        format!("must be a finite number ≥ 0, got {v}"),
                    ));
                }
            }
        }
        Ok(CostCatalog {
            defaults: o.defaults,
            servers,
            managed: m.managed,
        })
    }

    /// The ownership defaults of an instance type's server, if the catalog has them.
    pub fn server(&self, instance: &str) -> Option<&ServerCost> {
        self.servers.iter().find(|(n, _)| n == instance).map(|(_, c)| c)
    }

    /// A managed price by name; the error lists the names.
    pub fn managed(&self, name: &str) -> std::result::Result<&ManagedPrice, String> {
        self.managed.iter().find(|p| p.name == name).ok_or_else(|| {
            let names: Vec<&str> = self.managed.iter().map(|p| p.name.as_str()).collect();
            format!("unknown managed price `{name}`; accepted: {}", names.join(", "))
        })
    }

    /// The managed price of a model preset, if the table has one.
    pub fn managed_for_model(&self, model: &str) -> Option<&ManagedPrice> {
        self.managed.iter().find(|p| p.model == model)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capital_recovery_factor_matches_the_annuity_formula_and_straight_line_at_zero() {
        // 8 % over 5 years: 0.08 × 1.08^5 / (1.08^5 − 1) = 0.250456…
        let g: f64 = 1.08f64.powi(5);
        assert!((capital_recovery_factor(0.08, 5.0) - 0.08 * g / (g - 1.0)).abs() < 1e-15);
        assert!((capital_recovery_factor(0.08, 5.0) - 0.250_456_45).abs() < 1e-7);
        assert_eq!(capital_recovery_factor(0.0, 4.0), 0.25);
        // Paying it every year for n years repays the capital with interest: the present value of
        // the payments at rate r is exactly 1.
        let (r, n) = (0.1, 6);
        let pv: f64 = (1..=n)
            .map(|k| capital_recovery_factor(r, n as f64) / (1.0 + r).powi(k))
            .sum();
        assert!((pv - 1.0).abs() < 1e-12);
    }

    #[test]
    fn a_server_hour_splits_capital_facility_and_operations() {
        let o = Ownership {
            server: ServerCost {
                accelerators_usd: 200_000.0,
                host_usd: 70_000.0,
                network_usd: 63_000.0,
                rack_usd: 10_000.0,
                operations_usd_per_server_year: 8_760.0,
            },
            rates: Rates {
                depreciation_years: 4.0,
                cost_of_capital: 0.0,
                usd_per_kwh: 0.1,
                facility_usd_per_kw_month: 146.0,
            },
            provisioned_kw: 10.0,
        };
        let h = o.hourly();
        // 343,000 $ / (4 × 8760 h) = 9.7888 $/h; 146 $/kW-month × 10 kW / 730 h = 2 $/h; 1 $/h.
        assert!((h.capital_usd_per_hour - 343_000.0 / (4.0 * 8760.0)).abs() < 1e-9);
        assert!((h.facility_usd_per_hour - 2.0).abs() < 1e-12);
        assert!((h.operations_usd_per_hour - 1.0).abs() < 1e-12);
    }

    #[test]
    fn the_shipped_catalog_parses_and_covers_the_accelerator_instances() {
        let c = CostCatalog::builtin().unwrap();
        for i in [
            "p5.48xlarge",
            "p5en.48xlarge",
            "p4de.24xlarge",
            "trn2.48xlarge",
            "inf2.48xlarge",
        ] {
            assert!(c.server(i).is_some(), "{i}");
        }
        assert_eq!(
            c.managed_for_model("llama-3.3-70b").unwrap().name,
            "bedrock/llama-3.3-70b"
        );
        assert!(c.managed("nope").unwrap_err().contains("bedrock/llama-3.3-70b"));
        let hw = crate::hw::Catalog::builtin().unwrap();
        for (i, _) in &c.servers {
            assert!(hw.instance(i).is_ok(), "{i} is not an instance of hw-profiles");
        }
    }

    /// Every number of `costs/*.toml`, and every date, says where it comes from.
    #[test]
    fn every_price_and_cost_has_a_source_or_an_assumption() {
        let forms = ["# source:", "# assumption:", "# derived:"];
        for (name, text) in [
            ("ownership.toml", crate::assets::OWNERSHIP_COSTS),
            ("managed.toml", crate::assets::MANAGED_PRICES),
        ] {
            for (i, line) in text.lines().enumerate() {
                let code = line.split('#').next().unwrap_or("");
                let Some((key, value)) = code.split_once('=') else {
                    continue;
                };
                let v = value.trim_start();
                let number = v.starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '.');
                if number || key.trim() == "price_date" {
                    assert!(
                        forms.iter().any(|f| line.contains(f)),
                        "costs/{name} line {}: no `# source:`/`# assumption:`/`# derived:`: {line}",
                        i + 1
                    );
                }
            }
        }
    }

    #[test]
    fn bad_numbers_in_the_data_files_are_refused_with_their_key() {
        let good = crate::assets::OWNERSHIP_COSTS;
        let bad = good.replacen("rack_usd = 10000.0", "rack_usd = -1.0", 1);
        let e = CostCatalog::parse(&bad, crate::assets::MANAGED_PRICES)
            .unwrap_err()
            .to_string();
        assert!(e.contains("server `p5.48xlarge`.rack_usd") && e.contains("-1"), "{e}");
        let bad = good.replacen("depreciation_years = 5.0", "depreciation_years = 0.0", 1);
        let e = CostCatalog::parse(&bad, crate::assets::MANAGED_PRICES)
            .unwrap_err()
            .to_string();
        assert!(e.contains("defaults.depreciation_years"), "{e}");
    }
}
