//! The command line: argument parsing, terminal output, exit codes. Nothing below this layer
//! prints.

mod bench;
mod compare;
mod explain;
mod interrupt;
mod output;
mod plan;
mod sweep;
mod validate;

use clap::{Parser, Subcommand};
use codesim::error::{Error, Result};
use std::path::PathBuf;
use std::process::ExitCode;

/// Where every input file format is documented, for `--help`.
const FORMATS_HELP: &str = "File formats (every key, its type, default, accepted values and an example):
  scenario    docs/reference/scenario.md
  sweep       docs/reference/sweep.md
  plan        docs/reference/plan.md
  validation  docs/reference/validation.md
  traces      docs/reference/traces.md   (Azure, BurstGPT, Vidur CSV; Mooncake JSONL)
  config.json docs/reference/hf-config.md (Hugging Face fields read)
  results     docs/reference/import.md   (vllm bench serve, genai-perf, AIPerf, LLMPerf)
in the codesim repository (README.md links them).";

#[derive(Parser)]
#[command(
    name = "codesim",
    version,
    about = "Discrete-event simulator of LLM inference serving in a datacenter",
    after_help = FORMATS_HELP
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Simulate one scenario and print its summary.
    Run {
        /// The scenario TOML file (format: docs/reference/scenario.md).
        scenario: PathBuf,
        /// Print the summary as one JSON object.
        #[arg(long)]
        json: bool,
        /// Write summary.json (and with --requests, requests.parquet) into this directory.
        #[arg(long)]
        out: Option<PathBuf>,
        /// With --out: also write one row per request (Parquet and CSV).
        #[arg(long)]
        requests: bool,
        /// Override the scenario's seed.
        #[arg(long)]
        seed: Option<u64>,
        /// Write a Chrome trace-event / Perfetto JSON timeline of the run to this file.
        #[arg(long, value_name = "FILE")]
        trace: Option<PathBuf>,
        /// The trace's window of simulated time, seconds: FROM,TO (default: the whole run, up to
        /// 100,000 steps and requests).
        #[arg(long, value_name = "FROM,TO")]
        trace_window: Option<String>,
        /// Keep one request in N in the trace's request tracks (default: about 2,000 requests).
        #[arg(long, value_name = "N")]
        trace_sample: Option<u64>,
    },
    /// Why the slowest requests were slow: their attribution, the TTFT misses and their causes,
    /// plots of queue length, KV use and p99 over time, and what one more replica or another
    /// routing policy would have given the slowest request (re-simulated).
    Explain {
        /// The scenario TOML file.
        scenario: PathBuf,
        /// Write explain.md, explain.json and the plots into this directory.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Override the scenario's seed.
        #[arg(long)]
        seed: Option<u64>,
        /// Skip the counterfactual re-simulations.
        #[arg(long)]
        no_counterfactual: bool,
    },
    /// The hardware catalog.
    Hw {
        #[command(subcommand)]
        what: ListCmd,
    },
    /// The model presets.
    Model {
        #[command(subcommand)]
        what: ListCmd,
    },
    /// Measure the simulator's speed on reference workloads (JSON).
    Bench {
        /// Print JSON (the default output is JSON too; the flag is accepted for symmetry).
        #[arg(long)]
        json: bool,
        /// Repetitions per workload (the fastest is reported).
        #[arg(long, default_value_t = 3)]
        repeat: u32,
        /// Folder holding the Azure 2023 traces (AzureLLMInferenceTrace_conv.csv) for the
        /// large workloads; they are reported as skipped when it is missing.
        #[arg(long, default_value = "data/traces")]
        traces: PathBuf,
        /// Run only the workloads whose name contains one of these (repeatable).
        #[arg(long)]
        only: Vec<String>,
    },
    /// Simulate measurements and report the error of each predicted metric: a validation file
    /// of published cases, or your own benchmark result files with a context (--context or the
    /// flags below) saying what ran them.
    ///
    /// Accepted, recognised by content: a validation TOML ([[case]] tables); `vllm bench serve
    /// --save-result` JSON; genai-perf profile_export_genai_perf.json / .csv; AIPerf
    /// profile_export_aiperf.json / .csv; LLMPerf *_summary.json / *_individual_responses.json.
    /// Formats and context keys: docs/reference/import.md.
    Validate {
        /// A validation file (format: docs/reference/validation.md), or one or more benchmark
        /// result files; with `--cv`, one or more validation files.
        #[arg(required = true)]
        file: Vec<PathBuf>,
        #[command(flatten)]
        context: validate::ContextArgs,
        /// Leave-one-group-out cross-validation (group: source × hardware family × engine
        /// version): each group predicted by efficiencies re-fitted on the others.
        #[arg(long)]
        cv: bool,
        /// Print the comparison as one JSON object.
        #[arg(long)]
        json: bool,
        /// Also write validation.json, validation.md and validation.png/.svg into this directory.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Fit the cost-model efficiencies of each chip under each engine version to their cases in a
    /// validation file, or in your own benchmark result files (the formats `validate` reads, with
    /// a context: docs/reference/import.md).
    Calibrate {
        /// A validation file (format: docs/reference/validation.md), or one or more benchmark
        /// result files.
        #[arg(required = true)]
        file: Vec<PathBuf>,
        #[command(flatten)]
        context: validate::ContextArgs,
        /// Chips to fit (default: every chip with cases in the file).
        #[arg(long)]
        chip: Vec<String>,
        /// Write the fitted values into the engine profiles of this directory (`engines`), section
        /// `[versions."V".chips.<chip>]`, with `# fitted:` comments.
        #[arg(long)]
        write: Option<PathBuf>,
    },
    /// Simulate every combination of a sweep file's axes, in parallel; write results.parquet/.csv,
    /// plots and report.md/.html.
    Sweep {
        /// The sweep TOML file (format: docs/reference/sweep.md).
        file: PathBuf,
        /// Output directory (default: reports/<sweep name>).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Worker threads (default: one per core; capped at the runs and 4 per core). Results do
        /// not depend on it.
        #[arg(long)]
        jobs: Option<usize>,
        /// Run only the K-th of N slices (runs with index % N == K, K from 0); `auto/N` takes K
        /// from SLURM_ARRAY_TASK_ID, AWS_BATCH_JOB_ARRAY_INDEX or JOB_COMPLETION_INDEX.
        #[arg(long, value_name = "K/N")]
        shard: Option<String>,
        /// Keep the runs an interrupted sweep already recorded in --out.
        #[arg(long)]
        resume: bool,
        /// Write the tables only, no plots or report.
        #[arg(long)]
        no_plots: bool,
    },
    /// Merge the output directories of sweep shards into one result set (tables, plots, report).
    Merge {
        /// Shard output directories.
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// Where the merged result goes (default: the first directory).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Write the tables only, no plots or report.
        #[arg(long)]
        no_plots: bool,
    },
    /// Size the cheapest fleet meeting a plan's SLOs (bisection on replicas per candidate), with
    /// rejections, Pareto frontier, headroom and what-ifs.
    Plan {
        /// The plan TOML file (format: docs/reference/plan.md).
        file: PathBuf,
        /// Print the result as one JSON object.
        #[arg(long)]
        json: bool,
        /// Write plan.json, plan.md and plots (PNG and SVG) into this directory; every probe's
        /// result is kept in its probes/ folder as it finishes.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Reuse the probes an interrupted plan already recorded in --out instead of simulating
        /// them again.
        #[arg(long)]
        resume: bool,
    },
    /// Two runs or two sweeps side by side: each metric's values, difference and ratio (sweeps
    /// joined on configuration and swept value); Markdown on stdout.
    Compare {
        /// A run (summary.json, or the directory of `codesim run --out`) or a sweep (its output
        /// directory, or its results.parquet).
        a: PathBuf,
        /// The other run or sweep, of the same kind.
        b: PathBuf,
        /// Also write compare.md and compare.html into this directory.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Redraw the plots and report of a sweep's output directory.
    Plot {
        /// The sweep output directory.
        dir: PathBuf,
    },
}

#[derive(Subcommand)]
enum ListCmd {
    /// List entries.
    List {
        #[arg(long)]
        json: bool,
    },
}

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match dispatch(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e @ Error::Interrupted { .. }) => {
            eprintln!("interrupted: {e}");
            ExitCode::from(interrupt::exit_code())
        }
        Err(e) => {
            eprintln!("error: {}", printable(&e.to_string()));
            ExitCode::from(e.exit_code() as u8)
        }
    }
}

/// A message as one safe terminal line: control characters a user's input carried into it (an
/// escape sequence in a name, a newline in a path) are shown escaped (`\u{1b}`), never sent raw
/// to the terminal.
fn printable(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    for c in message.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

fn dispatch(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Run {
            scenario,
            json,
            out,
            requests,
            seed,
            trace,
            trace_window,
            trace_sample,
        } => output::run(output::RunArgs {
            path: &scenario,
            json,
            out: out.as_deref(),
            requests,
            seed,
            trace: trace.as_deref(),
            trace_window: trace_window.as_deref(),
            trace_sample,
        }),
        Command::Explain {
            scenario,
            out,
            seed,
            no_counterfactual,
        } => explain::run(&scenario, out.as_deref(), seed, !no_counterfactual),
        Command::Hw {
            what: ListCmd::List { json },
        } => output::hw_list(json),
        Command::Model {
            what: ListCmd::List { json },
        } => output::model_list(json),
        Command::Bench {
            json: _,
            repeat,
            traces,
            only,
        } => bench::run(repeat, &traces, &only),
        Command::Validate {
            file,
            context,
            cv,
            json,
            out,
        } => validate::run(&file, &context, cv, json, out.as_deref()),
        Command::Calibrate {
            file,
            context,
            chip,
            write,
        } => validate::calibrate(&file, &context, &chip, write.as_deref()),
        Command::Sweep {
            file,
            out,
            jobs,
            shard,
            resume,
            no_plots,
        } => sweep::run(sweep::SweepArgs {
            file,
            out,
            jobs,
            shard,
            resume,
            no_plots,
        }),
        Command::Merge { dirs, out, no_plots } => sweep::merge(&dirs, out.as_deref(), no_plots),
        Command::Plot { dir } => sweep::plot(&dir),
        Command::Compare { a, b, out } => compare::run(&a, &b, out.as_deref()),
        Command::Plan {
            file,
            json,
            out,
            resume,
        } => plan::run(&file, json, out.as_deref(), resume),
    }
}

pub use codesim::atomic::{ensure_out_dir, write_atomic};
