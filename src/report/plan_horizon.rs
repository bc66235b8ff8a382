//! The horizon plan's report: `plan-horizon.md` (and `.html`) and `plan-horizon.json` — per
//! candidate the mix chosen (autoscaling target, reserved base, spot share), the cost of each
//! part, the SLO minutes lost, every trial, and the what-ifs.

use crate::error::Result;
use crate::plan::fmt;
use crate::plan::horizon::{HorizonReport, Trial};
use std::fmt::Write as _;
use std::path::Path;

/// Writes plan-horizon.json, plan-horizon.md and plan-horizon.html into `dir`.
pub fn write_all(dir: &Path, r: &HorizonReport, command: &str) -> Result<()> {
    let text = serde_json::to_string_pretty(r).expect("a horizon report serialises") + "\n";
    crate::atomic::write_atomic(&dir.join("plan-horizon.json"), text.as_bytes())?;
    let md = markdown(r, command);
    crate::atomic::write_atomic(&dir.join("plan-horizon.md"), md.as_bytes())?;
    let html = crate::report::markdown::to_html(&md);
    crate::atomic::write_atomic(&dir.join("plan-horizon.html"), html.as_bytes())
}

fn usd(x: f64) -> String {
    format!("${x:.2}")
}

fn mix(r: &HorizonReport, t: &Trial) -> String {
    format!(
        "{} = {}, {} reserved, spot share {}",
        r.target_key,
        fmt(t.target),
        t.reserved,
        fmt(t.spot_share)
    )
}

/// A mix's table cells: reserved, on-demand, spot and total USD, and the SLO minutes lost.
fn cost_cells(t: &Trial) -> String {
    format!(
        "{} | {} | {} | {} | {:.1}",
        usd(t.reserved_usd),
        usd(t.on_demand_usd),
        usd(t.spot_usd),
        usd(t.total_usd),
        t.slo_minutes_lost
    )
}

fn trial_row(t: &Trial) -> String {
    format!(
        "| {} | {} | {} | {} | {} | {:.1} | {} |\n",
        fmt(t.target),
        t.reserved,
        fmt(t.spot_share),
        cost_cells(t),
        t.peak_replicas,
        t.replica_hours,
        if t.meets { "yes" } else { "no" }
    )
}

/// The report as Markdown.
pub fn markdown(r: &HorizonReport, command: &str) -> String {
    let mut s = String::new();
    header(&mut s, r, command);
    chosen(&mut s, r);
    candidates(&mut s, r);
    whatifs(&mut s, r);
    let _ = writeln!(s, "codesim {}", r.codesim_version);
    s
}

/// The title, the inputs, the method and the notes.
fn header(s: &mut String, r: &HorizonReport, command: &str) {
    let _ = writeln!(s, "# Horizon plan: {}\n", r.name);
    if let Some(d) = &r.description {
        let _ = writeln!(s, "{}\n", d.trim());
    }
    let _ = writeln!(s, "- Demand: {} over {} h", r.demand, fmt(r.hours));
    let _ = writeln!(
        s,
        "- SLO: {}; a window of {} s meets it when at least {} % of its requests meet every threshold; SLO minutes lost = the minutes of the windows that do not",
        r.slo,
        fmt(r.window_s),
        fmt(r.slo_target * 100.0)
    );
    let _ = writeln!(
        s,
        "- Budget: at most {} SLO minutes lost over the horizon",
        fmt(r.slo_minutes_budget)
    );
    let _ = writeln!(
        s,
        "- Tried: {} in {:?}; spot shares {:?} (reclaims {} per instance-hour); failures: {}",
        r.target_key,
        r.targets,
        r.spot_shares,
        fmt(r.reclaims_per_h),
        r.mtbf_h.map_or("none".to_string(), |m| format!("MTBF {} h", fmt(m)))
    );
    let _ = writeln!(
        s,
        "- Method: per target, one autoscaled all-on-demand run gives the replica curve n(t); the reserved base R is the newsvendor's (the smallest R with share of time n(t) > R at most p_reserved / p_on-demand, the cost evaluated at every R); then each spot share is simulated with that base. Seed {}; {} simulations.",
        r.seed, r.simulations
    );
    let _ = writeln!(s, "- Regenerate: `{command}`\n");
    for n in &r.notes {
        let _ = writeln!(s, "- Note: {n}");
    }
    let _ = writeln!(s);
}

/// The plan: the cheapest candidate's mix.
fn chosen(s: &mut String, r: &HorizonReport) {
    match r.base.best() {
        Some(c) => {
            let t = c.chosen.as_ref().expect("the best has a mix");
            let _ = writeln!(
                s,
                "## Plan\n\n**{}** ({}): {}. Over {} h: reserved {}, on demand {}, spot {}, total **{}**; {:.1} SLO minutes lost.\n",
                c.name,
                c.instance,
                mix(r, t),
                fmt(r.hours),
                usd(t.reserved_usd),
                usd(t.on_demand_usd),
                usd(t.spot_usd),
                usd(t.total_usd),
                t.slo_minutes_lost
            );
        }
        None => {
            let _ = writeln!(s, "## Plan\n\nNo candidate meets the SLO within the budget.\n");
        }
    }
}

/// Every candidate's chosen mix, its bases per target and every trial.
fn candidates(s: &mut String, r: &HorizonReport) {
    let _ = writeln!(s, "## Candidates\n");
    let _ = writeln!(
        s,
        "| candidate | instance | $/h on demand / reserved / spot | chosen | reserved | on demand | spot | total | SLO min lost |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|");
    let opt = |p: Option<f64>| p.map_or("-".to_string(), |p| format!("{p:.2}"));
    for c in &r.base.candidates {
        let prices = format!(
            "{:.2} / {} / {}",
            c.on_demand_usd_per_hour,
            opt(c.reserved_usd_per_hour),
            opt(c.spot_usd_per_hour)
        );
        match &c.chosen {
            Some(t) => {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} | {} |",
                    c.name,
                    c.instance,
                    prices,
                    mix(r, t),
                    cost_cells(t)
                );
            }
            None => {
                let why = c.rejected.as_deref().unwrap_or("no mix within the budget");
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | rejected: {} | | | | | |",
                    c.name, c.instance, prices, why
                );
            }
        }
    }
    let _ = writeln!(s);
    for c in &r.base.candidates {
        let _ = writeln!(s, "### {}\n", c.name);
        for n in &c.notes {
            let _ = writeln!(s, "- Note: {n}");
        }
        for (target, b) in &c.bases {
            let _ = writeln!(
                s,
                "- {} = {}: reserved base {} (the curve is above it {:.1} % of the time, at most the ratio p_reserved / p_on-demand = {:.1} %; on the curve, per replica at the instance's prices: reserved {} + on demand {} against {} all on demand)",
                r.target_key,
                fmt(*target),
                b.reserved,
                b.share_above * 100.0,
                b.critical_ratio * 100.0,
                usd(b.reserved_usd),
                usd(b.on_demand_usd),
                usd(b.all_on_demand_usd)
            );
        }
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "| target | reserved | spot share | reserved $ | on-demand $ | spot $ | total $ | SLO min lost | peak replicas | replica-hours | within budget |"
        );
        let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|---|---|");
        for t in &c.trials {
            s.push_str(&trial_row(t));
        }
        let _ = writeln!(s);
    }
}

/// The what-ifs' best candidates and mixes beside the base's.
fn whatifs(s: &mut String, r: &HorizonReport) {
    if !r.whatifs.is_empty() {
        let _ = writeln!(s, "## What-ifs\n");
        let _ = writeln!(
            s,
            "| what-if | growth / week | MTBF × | spot price × | reclaims × | best | chosen | reserved | on demand | spot | total | SLO min lost |"
        );
        let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|---|---|---|");
        let row = |name: &str, case: &crate::plan::horizon::HorizonCase, best: Option<&str>, t: Option<&Trial>| {
            let (m, costs) = match t {
                Some(t) => (mix(r, t), cost_cells(t)),
                None => ("none within the budget".into(), [""; 5].join(" | ")),
            };
            format!(
                "| {name} | {} | {} | {} | {} | {} | {m} | {costs} |\n",
                fmt(case.growth_per_week),
                fmt(case.mtbf_scale),
                fmt(case.spot_price_scale),
                fmt(case.reclaim_scale),
                best.unwrap_or("-")
            )
        };
        let base_best = r.base.best();
        s.push_str(&row(
            "base",
            &r.base.case,
            base_best.map(|c| c.name.as_str()),
            base_best.and_then(|c| c.chosen.as_ref()),
        ));
        for w in &r.whatifs {
            s.push_str(&row(&w.case.name, &w.case, w.best.as_deref(), w.chosen.as_ref()));
        }
        let _ = writeln!(s);
    }
}
