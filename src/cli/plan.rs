//! `plan`: the cheapest fleet for a demand within its SLOs, with what-if studies.

use super::{ensure_out_dir, interrupt};
use codesim::error::{Error, Result};
use codesim::plan::{self, Control, PlanReport, RECORD_EXT, fmt};
use std::path::Path;
use std::sync::atomic::Ordering;

/// The folder of probe records in a plan's output directory.
pub const PROBES_DIR: &str = "probes";

pub fn run(file: &Path, json: bool, out: Option<&Path>, resume: bool) -> Result<()> {
    let p = plan::load(file)?;
    if resume && out.is_none() {
        return Err(Error::input(
            "--resume",
            "",
            "needs --out DIR, the output directory of the interrupted plan (its probes/ folder holds the finished probes)",
        ));
    }
    if p.horizon.is_some() {
        if resume {
            return Err(Error::input(
                "--resume",
                "",
                "is for the peak-hour search's probe records; a plan with [horizon] keeps none (run it again)",
            ));
        }
        return run_horizon(&p, file, json, out);
    }
    interrupt::install()?;
    let records = match out {
        Some(dir) => {
            ensure_out_dir(dir)?;
            let probes = dir.join(PROBES_DIR);
            prepare_records(&probes, resume)?;
            Some(probes)
        }
        None => None,
    };
    let ctl = Control {
        records,
        resume,
        stop: Some(interrupt::flag()),
        ..Control::default()
    };
    let report = match plan::run_with(&p, &ctl) {
        Ok(r) => r,
        Err(Error::Interrupted { message }) => {
            let rest = match out {
                Some(dir) => format!(
                    "every finished probe is in {}; `codesim plan {} --out {} --resume` finishes the plan without simulating them again",
                    dir.join(PROBES_DIR).display(),
                    file.display(),
                    dir.display()
                ),
                None => "nothing was kept: run with --out DIR to keep finished probes, and --resume to go on from them"
                    .into(),
            };
            return Err(Error::Interrupted {
                message: format!("{message}; {rest}"),
            });
        }
        Err(e) => return Err(e),
    };
    if let Some(dir) = out {
        let command = format!("codesim plan {} --out {}", file.display(), dir.display());
        codesim::report::plan::write_all(dir, &report, &command)?;
    }
    if resume && !json {
        println!(
            "{} probes read back from {}, {} simulated now",
            ctl.reused.load(Ordering::SeqCst),
            out.map_or(String::new(), |d| d.join(PROBES_DIR).display().to_string()),
            ctl.simulated.load(Ordering::SeqCst)
        );
    }
    if json {
        println!(
            "{}",
            serde_json::to_string(&report.summary_json()).expect("a plan report serialises")
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

/// A plan with `[horizon]`: the purchase mix over the horizon (`plan::horizon`).
fn run_horizon(p: &plan::Plan, file: &Path, json: bool, out: Option<&Path>) -> Result<()> {
    let r = plan::horizon::run(p)?;
    if let Some(dir) = out {
        ensure_out_dir(dir)?;
        let command = format!("codesim plan {} --out {}", file.display(), dir.display());
        codesim::report::plan_horizon::write_all(dir, &r, &command)?;
    }
    if json {
        println!("{}", serde_json::to_string(&r).expect("a horizon report serialises"));
        return Ok(());
    }
    println!(
        "{}: {} over {} h; SLO {} (budget {} SLO minutes lost)",
        r.name,
        r.demand,
        fmt(r.hours),
        r.slo,
        fmt(r.slo_minutes_budget)
    );
    let line = |what: &str, best: Option<&str>, t: Option<&plan::horizon::Trial>| match (best, t) {
        (Some(b), Some(t)) => println!(
            "{what}: {b} — {} = {}, {} reserved, spot share {}: reserved ${:.2} + on demand ${:.2} + spot ${:.2} = ${:.2}, {:.1} SLO minutes lost",
            r.target_key,
            fmt(t.target),
            t.reserved,
            fmt(t.spot_share),
            t.reserved_usd,
            t.on_demand_usd,
            t.spot_usd,
            t.total_usd,
            t.slo_minutes_lost
        ),
        _ => println!("{what}: no candidate within the budget"),
    };
    let best = r.base.best();
    line(
        "best",
        best.map(|c| c.name.as_str()),
        best.and_then(|c| c.chosen.as_ref()),
    );
    for w in &r.whatifs {
        line(
            &format!("what-if {}", w.case.name),
            w.best.as_deref(),
            w.chosen.as_ref(),
        );
    }
    println!("{} simulations", r.simulations);
    if let Some(dir) = out {
        println!(
            "wrote {}, {} and {}",
            dir.join("plan-horizon.md").display(),
            dir.join("plan-horizon.html").display(),
            dir.join("plan-horizon.json").display()
        );
    }
    Ok(())
}

fn print_summary(r: &PlanReport) {
    println!("{}: {}; SLO {}", r.name, r.demand, r.slo);
    match &r.best {
        Some(b) => println!(
            "best: {} — {} × {} ({}, {}), ${:.2}/hour, ${:.3}/M output tok, ${:.3}/M total tok",
            b.candidate,
            b.instances,
            b.instance,
            b.parallelism,
            b.weights,
            b.usd_per_hour,
            b.usd_per_mtok_output,
            b.usd_per_mtok_total
        ),
        None => println!("best: no candidate meets the SLO"),
    }
    for (i, f) in r.feasible.iter().enumerate().skip(1) {
        println!(
            "  #{}: {} — {} × {}, ${:.2}/hour, ${:.3}/M output tok, ${:.3}/M total tok",
            i + 1,
            f.candidate,
            f.instances,
            f.instance,
            f.usd_per_hour,
            f.usd_per_mtok_output,
            f.usd_per_mtok_total
        );
    }
    if let Some(v) = &r.verification {
        println!(
            "re-simulated with seed {}{}: {}{}",
            v.seed,
            v.sample.as_ref().map_or(String::new(), |x| format!(", replaying {x}")),
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

/// Creates the probe-record folder; a fresh (not resumed) plan first removes the records an earlier
/// plan left there, so the folder holds only this plan's probes.
fn prepare_records(dir: &Path, resume: bool) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| {
        Error::input(
            dir,
            "",
            format!("cannot create the folder of probe records ({e}); it must be a directory codesim can write"),
        )
    })?;
    if resume {
        return Ok(());
    }
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for entry in entries.flatten() {
        let path = entry.path();
        let ours = path.extension().is_some_and(|x| x == RECORD_EXT)
            && path
                .file_stem()
                .and_then(|s| s.to_str())
                .is_some_and(|s| s.len() == 16 && s.bytes().all(|b| b.is_ascii_hexdigit()));
        if ours {
            std::fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
        }
    }
    Ok(())
}
