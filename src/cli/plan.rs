//! `plan`: the cheapest fleet for a demand within its SLOs, with what-if studies.

use super::{ensure_out_dir, write_atomic};
use codesim::error::Result;
use codesim::plan::{self, PlanReport, fmt};
use std::path::Path;

pub fn run(file: &Path, json: bool, out: Option<&Path>) -> Result<()> {
    let p = plan::load(file)?;
    if let Some(dir) = out {
        ensure_out_dir(dir)?;
    }
    let report = plan::run(&p)?;
    if let Some(dir) = out {
        let text = serde_json::to_string_pretty(&report).expect("a plan report serialises") + "\n";
        write_atomic(&dir.join("plan.json"), text.as_bytes())?;
        let plots = plan::report::write_plots(dir, &report)?;
        let command = format!("codesim plan {} --out {}", file.display(), dir.display());
        let md = plan::report::markdown(&report, &plots, &command);
        write_atomic(&dir.join("plan.md"), md.as_bytes())?;
    }
    if json {
        println!(
            "{}",
            serde_json::to_string(&summary_json(&report)).expect("a plan report serialises")
        );
    } else {
        print_summary(&report);
        if let Some(dir) = out {
            println!(
                "wrote {}, {} and plots in {}",
                dir.join("plan.md").display(),
                dir.join("plan.json").display(),
                dir.join("plots").display()
            );
        }
    }
    Ok(())
}

/// The report without every probe (those are in plan.json).
fn summary_json(r: &PlanReport) -> serde_json::Value {
    let mut v = serde_json::to_value(r).expect("a plan report serialises");
    if let Some(o) = v.as_object_mut() {
        o.remove("searches");
    }
    v
}

fn print_summary(r: &PlanReport) {
    println!("{}: {}; SLO {}", r.name, r.demand, r.slo);
    match &r.best {
        Some(b) => println!(
            "best: {} — {} × {} ({}, {}), ${:.2}/hour, ${:.3}/M output tok",
            b.candidate, b.instances, b.instance, b.parallelism, b.weights, b.usd_per_hour, b.usd_per_mtok_output
        ),
        None => println!("best: no candidate meets the SLO"),
    }
    for (i, f) in r.feasible.iter().enumerate().skip(1) {
        println!(
            "  #{}: {} — {} × {}, ${:.2}/hour, ${:.3}/M output tok",
            i + 1,
            f.candidate,
            f.instances,
            f.instance,
            f.usd_per_hour,
            f.usd_per_mtok_output
        );
    }
    if let Some(v) = &r.verification {
        println!(
            "re-simulated with seed {}: {}{}",
            v.seed,
            if v.meets { "meets the SLO" } else { "MISSES the SLO" },
            match v.smaller_meets {
                Some(false) => "; one unit fewer misses it",
                Some(true) => "; one unit fewer also meets it (at the margin)",
                None => "",
            }
        );
    }
    if let Some(h) = &r.headroom {
        println!(
            "headroom: {}{}× the demand ({:.1} req/s offered)",
            if h.at_ceiling { "≥ " } else { "" },
            fmt(h.max_traffic_scale),
            h.offered_requests_s
        );
    }
    for x in &r.rejected {
        println!("rejected: {} ({}): {}", x.candidate, x.reason, x.detail);
    }
    for w in &r.whatifs {
        match &w.best {
            Some(b) => println!(
                "what-if {}: {} × {} ({}), ${:.2}/hour",
                w.name, b.instances, b.instance, b.candidate, b.usd_per_hour
            ),
            None => println!("what-if {}: no feasible fleet", w.name),
        }
    }
}
