//! `sweep`, `merge`, `plot`: many runs in parallel with a progress bar, their tables, plots and
//! report.

use super::{ensure_out_dir, interrupt};
use codesim::error::{Error, Result};
use codesim::report::sweep::write_all;
use codesim::sweep::exec::{RunRecord, read_manifest};
use codesim::sweep::{self, ExecOptions, Manifest, Shard};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub struct SweepArgs {
    pub file: PathBuf,
    pub out: Option<PathBuf>,
    pub jobs: Option<usize>,
    pub shard: Option<String>,
    pub resume: bool,
    pub no_plots: bool,
}

/// `--jobs`: at least one. Runs are CPU-bound: threads beyond the runs or a few per core only
/// slow a sweep down and its stop, so more are capped (at the runs and at 4 per core), with a
/// note on stderr. 0 is refused; `None` stays one per core.
fn effective_jobs(jobs: Option<usize>, runs: usize) -> Result<Option<usize>> {
    let Some(j) = jobs else { return Ok(None) };
    if j == 0 {
        return Err(Error::input("--jobs", "", "must be at least 1"));
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (capped, why) = cap_jobs(j, runs, cores);
    if let Some(why) = why {
        eprintln!("note: --jobs {j} capped at {capped}: {why}");
    }
    Ok(Some(capped))
}

/// `jobs` capped at `runs` and at 4 per core, and why if it was.
fn cap_jobs(jobs: usize, runs: usize, cores: usize) -> (usize, Option<String>) {
    let per_core = 4 * cores.max(1);
    let runs = runs.max(1);
    if jobs <= runs.min(per_core) {
        (jobs, None)
    } else if runs <= per_core {
        (runs, Some(format!("the sweep has {runs} runs")))
    } else {
        (per_core, Some(format!("4 per core on this machine ({cores} cores)")))
    }
}

pub fn run(a: SweepArgs) -> Result<()> {
    if a.jobs == Some(0) {
        return Err(Error::input("--jobs", "", "must be at least 1"));
    }
    let sw = sweep::load(&a.file)?;
    let m = &sw.manifest;
    let jobs = effective_jobs(a.jobs, m.runs)?;
    let shard = match &a.shard {
        Some(s) => Shard::parse(s, |k| std::env::var(k).ok()).map_err(|msg| Error::input("--shard", "", msg))?,
        None => Shard::ALL,
    };
    let out = a.out.clone().unwrap_or_else(|| Path::new("reports").join(&m.name));
    ensure_out_dir(&out)?;

    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::hidden());
    if std::io::stderr().is_terminal() {
        bar.set_draw_target(ProgressDrawTarget::stderr());
    }
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} runs, ETA {eta} {msg}")
            .expect("a valid progress template")
            .progress_chars("=> "),
    );
    let best: Mutex<Option<(f64, String)>> = Mutex::new(None);
    let slo = m.primary_slo();
    let on_start = |planned: usize, resumed: usize| {
        bar.set_length(planned as u64);
        bar.set_position(resumed as u64);
        bar.reset_eta();
    };
    let on_done = |rec: &RunRecord| {
        if let Some(r) = rec.ok() {
            if slo.is_none_or(|s| s.met_by(r)) && r.requests.completed > 0 {
                let mut b = best.lock().expect("the best-run lock is not poisoned");
                let cost = r.cost.usd_per_mtok_output;
                if b.as_ref()
                    .is_none_or(|(c, id)| cost < *c || (cost == *c && rec.id < *id))
                {
                    *b = Some((cost, rec.id.clone()));
                    bar.set_message(format!(
                        "best {}: ${:.3}/M output tok{}",
                        rec.id,
                        cost,
                        slo.map_or(String::new(), |s| format!(" at {}", s.label()))
                    ));
                }
            }
        }
        bar.inc(1);
    };
    let opts = ExecOptions {
        jobs: jobs.unwrap_or(0),
        shard,
        resume: a.resume,
        stop: Some(interrupt::flag()),
    };
    interrupt::install()?;
    let outcome = sweep::execute(&sw, &out, opts, &on_start, &on_done)?;
    bar.finish_and_clear();
    let shard_text = if shard.count > 1 {
        format!(" (shard {}/{})", shard.index, shard.count)
    } else {
        String::new()
    };
    println!(
        "{}{shard_text}: {} runs, {} simulated now, {} kept from before, {} skipped; records in {}",
        m.name,
        outcome.planned,
        outcome.ran,
        outcome.resumed,
        outcome.skipped,
        out.join("runs").display()
    );
    if outcome.not_started > 0 {
        let done = outcome.resumed + outcome.ran;
        let shard_arg = a.shard.as_ref().map_or(String::new(), |s| format!(" --shard {s}"));
        let jobs_arg = jobs.map_or(String::new(), |j| format!(" --jobs {j}"));
        return Err(Error::Interrupted {
            message: format!(
                "stopped after {done} of {} runs ({} simulated now, every one written to {}); {} not started. `codesim sweep {} --out {}{shard_arg}{jobs_arg} --resume` finishes the rest",
                outcome.planned,
                outcome.ran,
                out.join("runs").display(),
                outcome.not_started,
                a.file.display(),
                out.display()
            ),
        });
    }
    if shard.count > 1 {
        println!(
            "merge the {} shards with: codesim merge <shard dirs>... --out <dir>",
            shard.count
        );
        return Ok(());
    }
    let records = sweep::collect(&out, m)?;
    finish(&out, m, &records, !a.no_plots)
}

pub fn merge(dirs: &[PathBuf], out: Option<&Path>, no_plots: bool) -> Result<()> {
    let out = out.map(Path::to_path_buf).or_else(|| dirs.first().cloned());
    let Some(out) = out else {
        return Err(Error::input("merge", "", "give at least one sweep output directory"));
    };
    ensure_out_dir(&out)?;
    let (m, records) = sweep::merge(dirs, &out)?;
    println!(
        "{}: merged {} runs from {} directories",
        m.name,
        records.len(),
        dirs.len()
    );
    finish(&out, &m, &records, !no_plots)
}

pub fn plot(dir: &Path) -> Result<()> {
    let m = read_manifest(dir)?;
    let records = sweep::collect(dir, &m)?;
    finish(dir, &m, &records, true)
}

/// Tables, then plots and the report.
fn finish(out: &Path, m: &Manifest, records: &[RunRecord], plots: bool) -> Result<()> {
    let command = format!("codesim sweep {} --out {}", m.file, out.display());
    let plotted = write_all(out, m, records, plots, &command)?;
    println!("wrote {}", out.join("results.parquet").display());
    println!("wrote {}", out.join("results.csv").display());
    if let Some(n) = plotted {
        println!("wrote {n} plots (PNG and SVG) in {}", out.join("plots").display());
        println!("wrote {}", out.join("report.md").display());
        println!("wrote {}", out.join("report.html").display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::cap_jobs;

    #[test]
    fn jobs_are_capped_at_the_runs_and_four_per_core() {
        assert_eq!(cap_jobs(3, 10, 2), (3, None));
        assert_eq!(cap_jobs(8, 10, 2), (8, None));
        // 100000 threads for 6 runs on 2 cores: 6 (the runs bind before 4 × 2 = 8).
        assert_eq!(cap_jobs(100_000, 6, 2).0, 6);
        // 100000 threads for 500 runs on 2 cores: 4 × 2 = 8.
        let (j, why) = cap_jobs(100_000, 500, 2);
        assert_eq!(j, 8);
        assert!(why.unwrap().contains("4 per core"));
    }
}
