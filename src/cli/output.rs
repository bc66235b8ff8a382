//! `run`, `hw list`, `model list`: terminal tables and JSON.

use super::{ensure_out_dir, write_atomic};
use codesim::error::{Error, Result};
use codesim::hw::Catalog;
use codesim::metrics::{Dist, RunResult, table};
use codesim::sim::timeline::TimelineSpec;
use codesim::sim::{RunOptions, Simulation};
use std::path::Path;

pub struct RunArgs<'a> {
    pub path: &'a Path,
    pub json: bool,
    pub out: Option<&'a Path>,
    pub requests: bool,
    pub seed: Option<u64>,
    pub trace: Option<&'a Path>,
    pub trace_window: Option<&'a str>,
    pub trace_sample: Option<u64>,
}

/// The trace's window (`FROM,TO` seconds) and sample, checked.
fn trace_spec(sc: &codesim::Scenario, a: &RunArgs) -> Result<TimelineSpec> {
    let mut spec = TimelineSpec {
        sample_every: (sc.requests / 2_000).max(1),
        max_records: 100_000,
        ..TimelineSpec::default()
    };
    if let Some(w) = a.trace_window {
        let bad = || {
            Error::input(
                Path::new("--trace-window"),
                "",
                format!("`{w}`: expected FROM,TO in seconds of simulated time, 0 <= FROM < TO (e.g. 10,20)"),
            )
        };
        let (f, t) = w.split_once(',').ok_or_else(bad)?;
        let (f, t): (f64, f64) = (
            f.trim().parse().map_err(|_| bad())?,
            t.trim().parse().map_err(|_| bad())?,
        );
        if !(f.is_finite() && t.is_finite() && f >= 0.0 && f < t) {
            return Err(bad());
        }
        spec.from_ns = (f * 1e9).round() as u64;
        spec.to_ns = (t * 1e9).round() as u64;
    }
    if let Some(n) = a.trace_sample {
        if n == 0 {
            return Err(Error::input(
                Path::new("--trace-sample"),
                "",
                "`0`: expected a whole number >= 1 (keep one request in N)",
            ));
        }
        spec.sample_every = n;
    }
    Ok(spec)
}

pub fn run(a: RunArgs) -> Result<()> {
    let (json, out, requests) = (a.json, a.out, a.requests);
    let mut sc = codesim::scenario::load(a.path)?;
    if let Some(s) = a.seed {
        sc.seed = s;
    }
    if let Some(dir) = out {
        ensure_out_dir(dir)?;
    }
    let timeline = match a.trace {
        Some(_) => Some(trace_spec(&sc, &a)?),
        None => None,
    };
    let sim = Simulation::new(
        &sc,
        RunOptions {
            keep_requests: requests && out.is_some(),
            timeline,
            ..RunOptions::default()
        },
    )?;
    let (result, rows, tl) = sim.run_timeline()?;
    if let (Some(path), Some(tl)) = (a.trace, tl) {
        let v = codesim::sim::timeline::trace_json(&tl, &result.notes);
        let text = serde_json::to_string(&v).expect("trace serialises");
        write_atomic(path, text.as_bytes())?;
        if tl.truncated {
            eprintln!(
                "note: the trace stopped at {} records; narrow it with --trace-window or --trace-sample",
                tl.spec.max_records
            );
        }
    }
    if let Some(dir) = out {
        let text = serde_json::to_string_pretty(&result).expect("RunResult serialises");
        write_atomic(&dir.join("summary.json"), text.as_bytes())?;
        if requests {
            let mut df = table::requests_frame(&rows).map_err(|e| Error::Output {
                path: dir.join("requests.parquet"),
                message: e.to_string(),
            })?;
            table::write_parquet(&mut df, &table::requests_docs(), &dir.join("requests.parquet"))?;
            table::write_csv(&mut df, &dir.join("requests.csv"))?;
        }
        write_windows(dir, &result)?;
    }
    if json {
        println!("{}", serde_json::to_string(&result).expect("RunResult serialises"));
    } else {
        print_summary(&sc, &result);
    }
    Ok(())
}

/// The per-window table and timeline of a run with `[fleet]` (nothing otherwise).
fn write_windows(dir: &Path, result: &RunResult) -> Result<()> {
    if result.windows.is_empty() {
        return Ok(());
    }
    let mut df = codesim::metrics::windows::windows_frame(&result.windows).map_err(|e| Error::Output {
        path: dir.join("windows.parquet"),
        message: e.to_string(),
    })?;
    table::write_parquet(
        &mut df,
        &codesim::metrics::windows::windows_docs(),
        &dir.join("windows.parquet"),
    )?;
    table::write_csv(&mut df, &dir.join("windows.csv"))?;
    codesim::report::fleet::draw_timeline(&result.windows, &result.scenario, &dir.join("timeline"))?;
    Ok(())
}

/// What ran, on one line: the model on every pool of the fleet.
fn deployment_line(sc: &codesim::Scenario, r: &RunResult) -> String {
    let plural = |n: u32| if n == 1 { "" } else { "s" };
    let autoscale = sc.fleet.as_ref().and_then(|f| f.autoscale.as_ref());
    let fleet = if let Some(a) = autoscale {
        format!(
            "up to {} × {} (TP {}, autoscaled from {} to {} replicas, {} at the start)",
            r.cost.instances,
            sc.hardware().instance.name,
            sc.parallelism().tp,
            a.min_replicas,
            a.max_replicas,
            sc.replicas()
        )
    } else if sc.pools.len() == 1 {
        let hw = sc.hardware();
        format!(
            "{} × {} (TP {}, {} replica{})",
            r.cost.instances,
            hw.instance.name,
            sc.parallelism().tp,
            sc.replicas(),
            plural(sc.replicas())
        )
    } else {
        let pools: Vec<String> = sc
            .pools
            .iter()
            .map(|p| {
                let role = match p.role {
                    codesim::serve::PoolRole::Unified => "",
                    codesim::serve::PoolRole::Prefill => "prefill ",
                    codesim::serve::PoolRole::Decode => "decode ",
                };
                let mut pp = if p.pp > 1 {
                    format!(", PP {}", p.pp)
                } else {
                    String::new()
                };
                if let Some(m) = &p.model {
                    pp.push_str(&format!(", {}", m.name));
                }
                if let Some(d) = &p.precision {
                    pp.push_str(&format!(", {} weights", d.weights));
                }
                format!(
                    "{role}{} × {} (TP {}{pp}, {} replica{})",
                    p.instances(),
                    p.hardware.instance.name,
                    p.tp,
                    p.replicas,
                    plural(p.replicas)
                )
            })
            .collect();
        format!("{} instances: {}", r.cost.instances, pools.join(" + "))
    };
    format!(
        "{}: {} on {fleet}, {} weights, {} scheduler",
        r.scenario,
        sc.model.name,
        sc.precision.weights,
        format!("{:?}", sc.scheduler.kind).to_lowercase()
    )
}

/// The trace rows `workload.over_context` dropped before the run or clipped, if any.
fn over_context(c: &codesim::metrics::Counts) -> String {
    let mut s = String::new();
    if c.dropped_over_context > 0 {
        s += &format!("{} over the context dropped before arrival, ", c.dropped_over_context);
    }
    if c.clipped_over_context > 0 {
        s += &format!("{} clipped to the context, ", c.clipped_over_context);
    }
    // The gateway's (`[gateway]`): printed only when it turned requests away.
    for (n, what) in [
        (c.shed, "shed"),
        (c.timed_out, "timed out"),
        (c.cancelled, "cancelled by their client"),
        (c.failed, "failed with their replica"),
        (c.retried, "resends after a lost replica"),
    ] {
        if n > 0 {
            s += &format!("{n} {what}, ");
        }
    }
    s
}

/// The human-readable summary of one run: what ran, its latency table, then its figures.
fn print_summary(sc: &codesim::Scenario, r: &RunResult) {
    println!("{}", deployment_line(sc, r));
    println!();
    if r.requests.completed == 0 {
        // No latency was measured: a table of zeros would read as an instant service.
        println!(
            "latency      none measured: no request completed ({} arrived, {} dropped, {} rejected; see the notes)",
            r.requests.arrived, r.requests.dropped, r.requests.rejected
        );
        println!();
        print_figures(r);
        return;
    }
    println!(
        "{:<12} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}",
        "latency ms", "mean", "p50", "p90", "p95", "p99", "p99.9"
    );
    let row = |name: &str, d: &Dist| {
        println!(
            "{:<12} {:>10.2} {:>10.2} {:>10.2} {:>10.2} {:>10.2} {:>10.2}",
            name, d.mean, d.p50, d.p90, d.p95, d.p99, d.p999
        )
    };
    row("TTFT", &r.ttft_ms);
    row("TPOT", &r.tpot_ms);
    row("ITL", &r.itl_ms);
    row("E2E", &r.e2e_ms);
    row("queueing", &r.queue_ms);
    println!();
    print_tenants(r);
    print_figures(r);
}

/// Each tenant's part and the fairness across them (`[[workload.tenants]]`), when set.
fn print_tenants(r: &RunResult) {
    let Some(t) = &r.tenants else { return };
    println!(
        "{:<12} {:>8} {:>9} {:>7} {:>8} {:>10} {:>10} {:>10} {:>10} {:>8} {:>9}",
        "tenant",
        "arrived",
        "completed",
        "turned",
        "req/s",
        "TTFT p50",
        "TTFT p99",
        "TPOT p50",
        "TPOT p99",
        "SLO met",
        "goodput/s"
    );
    let opt = |x: Option<f64>, digits: usize| x.map_or("-".to_string(), |v| format!("{v:.digits$}"));
    for x in &t.tenants {
        println!(
            "{:<12} {:>8} {:>9} {:>7} {:>8.3} {:>10.2} {:>10.2} {:>10.2} {:>10.2} {:>8} {:>9}",
            x.name,
            x.arrived,
            x.completed,
            x.turned_away,
            x.requests_s,
            x.ttft_ms.p50,
            x.ttft_ms.p99,
            x.tpot_ms.p50,
            x.tpot_ms.p99,
            opt(x.slo_attainment, 3),
            opt(x.goodput_requests_s, 3)
        );
    }
    println!(
        "fairness     Jain's index {} over the tenants' served fractions (completed / arrived), {} over their SLO attainments",
        opt(t.jain_served, 4),
        opt(t.jain_slo_attainment, 4)
    );
    println!();
}

/// The run priced every way: $ per million input, output and all tokens, and $/h.
fn print_pricing(p: &codesim::metrics::pricing::PricingResult) {
    use codesim::metrics::pricing::TokenCost;
    let line = |what: &str, c: Option<&TokenCost>, extra: String| match c {
        Some(c) => println!(
            "  {what:<10} {:>10.4} {:>10.4} {:>10.4} {:>10.2}{extra}",
            c.usd_per_mtok_input, c.usd_per_mtok_output, c.usd_per_mtok_total, c.usd_per_hour
        ),
        None => println!("  {what:<10} {:>10} (no catalog price){extra}", "-"),
    };
    println!(
        "{:<12} {:>10} {:>10} {:>10} {:>10}",
        "pricing", "$/M input", "$/M output", "$/M total", "$/h"
    );
    line("on-demand", Some(&p.on_demand), String::new());
    line("reserved", p.reserved.as_ref(), String::new());
    line("spot", p.spot.as_ref(), String::new());
    match &p.own {
        Some(o) => line(
            "own",
            Some(&o.cost),
            format!(
                "  (per M total: capital {:.4}, energy {:.4}, facility {:.4}, operations {:.4})",
                o.capital_usd_per_mtok, o.energy_usd_per_mtok, o.facility_usd_per_mtok, o.operations_usd_per_mtok
            ),
        ),
        None => println!(
            "  {:<10} {:>10} (no ownership figures for the instance: [cost.ownership])",
            "own", "-"
        ),
    }
    if let Some(m) = &p.managed {
        line(
            "managed",
            Some(&m.cost),
            format!(
                "  ({}: {} in, {} out $/M, {})",
                m.name, m.price_usd_per_mtok_input, m.price_usd_per_mtok_output, m.price_date
            ),
        );
    }
}

/// Images and their encoder (`workload.multimodal`), when on.
fn print_multimodal(r: &RunResult) {
    let Some(m) = &r.multimodal else {
        return;
    };
    let place = if m.encode_pool.is_some() {
        "on the encode pool"
    } else {
        "inside prefill"
    };
    if let Some([lo, hi]) = m.audio_s {
        println!(
            "audio        {} clips of {lo}–{hi} s encoded ({} prompt tokens); encoder {:.3} s in {} steps, {place}",
            m.images_encoded, m.image_tokens, m.encoder_s, m.encoder_steps
        );
    } else {
        println!(
            "images       {} encoded ({} patches, {} prompt tokens; {} × {} px = {} tokens each); encoder {:.3} s in {} steps, {place}",
            m.images_encoded,
            m.patches_encoded,
            m.image_tokens,
            m.image_px[0],
            m.image_px[1],
            m.tokens_per_image,
            m.encoder_s,
            m.encoder_steps
        );
    }
    if let Some(h) = m.encoder_cache_hits {
        println!("enc. cache   {h} requests' media still cached: the encoder skipped");
    }
    if let Some(p) = &m.encode_pool {
        println!(
            "encode pool  {} encoder(s) of tp {} on {} instance(s), {:.1} % busy; per request {:.3} ms waiting, {:.3} ms encoding, {:.3} ms sending embeddings",
            p.encoders,
            p.tp,
            p.instances,
            p.utilisation * 100.0,
            p.mean_wait_ms,
            p.mean_encode_ms,
            p.mean_transfer_ms
        );
    }
}

/// The cost of each part of `[fleet.purchase]` and the SLO minutes lost, when bought so.
fn print_purchase(r: &RunResult) {
    if let Some(p) = &r.purchase {
        let lost = match (p.slo_minutes_lost, p.slo_target) {
            (Some(m), Some(t)) => format!("; SLO minutes lost {m:.1} (windows below {t} within the SLO)"),
            _ => String::new(),
        };
        println!(
            "purchase     reserved {} replicas ${:.2} ({:.2} instance-h), on demand ${:.2} ({:.2}), spot ${:.2} ({:.2}){lost}",
            p.reserved_replicas,
            p.reserved_usd,
            p.reserved_instance_h,
            p.on_demand_usd,
            p.on_demand_instance_h,
            p.spot_usd,
            p.spot_instance_h
        );
    }
}

/// Throughput, cost, energy, where step time went, and what the run counted.
fn print_figures(r: &RunResult) {
    println!(
        "throughput   {:.1} output tok/s, {:.1} total tok/s, {:.3} req/s",
        r.throughput.output_tok_s, r.throughput.total_tok_s, r.throughput.requests_s
    );
    if r.throughput.output_tok_s > 0.0 {
        println!(
            "cost         ${:.4} per M output tokens, ${:.4} per M total tokens, ${:.4} in all (${:.2}/h)",
            r.cost.usd_per_mtok_output, r.cost.usd_per_mtok_total, r.cost.usd_total, r.cost.usd_per_hour
        );
        print_purchase(r);
        println!(
            "energy       {:.4} J per output token, {:.0} W on average",
            r.energy.j_per_output_token, r.energy.avg_power_w
        );
    } else {
        // Per-token figures of a run that produced no token would divide by zero.
        println!(
            "cost         no output token produced: ${:.4} in all (${:.2}/h)",
            r.cost.usd_total, r.cost.usd_per_hour
        );
        println!(
            "energy       no output token produced: {:.0} W on average",
            r.energy.avg_power_w
        );
    }
    print_pricing(&r.pricing);
    print_step_time(&r.breakdown);
    print_multimodal(r);
    print_host(&r.infrastructure);
    let c = &r.requests;
    println!(
        "requests     {} arrived, {} completed, {} dropped, {} rejected, {}{}{} preemptions{} ({:.3} s of recompute and swap)",
        c.arrived,
        c.completed,
        c.dropped,
        c.rejected,
        over_context(c),
        if c.unfinished > 0 {
            format!("{} UNFINISHED (not in the percentiles), ", c.unfinished)
        } else {
            String::new()
        },
        c.preempted,
        match r.preemption.for_higher_class {
            0 => String::new(),
            n => format!(", {n} of them for a higher class"),
        },
        r.preemption.total_s
    );
    println!(
        "saturation   {}{}",
        r.saturation,
        match r.saturation.as_str() {
            "overloaded" => ": the queue grew without bound; percentiles reflect the run's length, not a steady state",
            "backlogged"
                if r.notes
                    .iter()
                    .any(|n| n.starts_with("saturation: backlogged from the window")) =>
            {
                ": a queue built up that the fleet could not serve within a window (see the saturation note)"
            }
            "backlogged" => ": a queue built up and drained after the last arrival",
            _ => "",
        }
    );
    println!(
        "simulator    {} events, {} steps, {:.3} s simulated in {:.3} s of wall time",
        r.sim.events, r.sim.steps, r.sim.sim_time_s, r.sim.wall_s
    );
    for n in &r.notes {
        println!("note: {n}");
    }
}

/// Where the replicas' step time went and how busy they were.
fn print_step_time(b: &codesim::metrics::Breakdown) {
    let busy = b.compute_s + b.memory_s + b.communication_s + b.overhead_s;
    let pct = |x: f64| if busy > 0.0 { 100.0 * x / busy } else { 0.0 };
    let of_what = match b.serving_replica_s {
        Some(s) => format!(" they were up ({:.1} replica-hours ready or draining)", s / 3600.0),
        None => String::new(),
    };
    println!(
        "step time    {:.0}% compute, {:.0}% memory, {:.0}% communication, {:.0}% overhead; replicas busy {:.0}% of the time{of_what}",
        pct(b.compute_s),
        pct(b.memory_s),
        pct(b.communication_s),
        pct(b.overhead_s),
        100.0 * b.busy_fraction
    );
}

/// The CPU tiers around the accelerators.
fn print_host(inf: &codesim::metrics::InfraResult) {
    println!(
        "host CPU     {:.0}% busy{}{}{}",
        100.0 * inf.host_utilisation,
        match inf.host_cores_mean {
            Some(c) => format!(" (of {c:.0} usable cores on average, as the serving instances come and go)"),
            None => String::new(),
        },
        if inf.frontend_usd_per_hour > 0.0 {
            format!(", front-end tier {:.0}% busy", 100.0 * inf.frontend_utilisation)
        } else {
            String::new()
        },
        if inf.bottleneck.is_empty() {
            String::new()
        } else {
            format!("; bottleneck: {} (above 95% busy)", inf.bottleneck)
        }
    );
}

pub fn hw_list(json: bool) -> Result<()> {
    let c = Catalog::builtin()?;
    if json {
        println!("{}", c.to_json());
        return Ok(());
    }
    println!(
        "{:<18} {:<14} {:>5} {:>6} {:>10} {:>10} {:>9} {:>9} {:>10}  {:<22} {:<7}",
        "instance",
        "chip",
        "chips",
        "ranks",
        "HBM GiB",
        "HBM TB/s",
        "BF16 PF",
        "EFA Gb/s",
        "$/hour",
        "scale-up domain",
        "profile"
    );
    for i in &c.instances {
        let chip = c.chip(&i.chip).map_err(|m| Error::input("hw-profiles", &i.name, m))?;
        let n = i.chips as f64;
        let domain = i.ultraserver.map_or("-".to_string(), |u| {
            let f = if u.fabric == codesim::hw::DomainFabric::Switch {
                "switch"
            } else {
                "ring"
            };
            format!("{} chips, {f} {:.0} GB/s", u.instances * i.chips, u.link_gb_s)
        });
        println!(
            "{:<18} {:<14} {:>5} {:>6} {:>10.0} {:>10.2} {:>9.2} {:>9.0} {:>10.2}  {:<22} {}",
            i.name,
            chip.name,
            i.chips,
            i.chips * chip.ranks_per_chip,
            chip.hbm_gib * n,
            chip.hbm_bandwidth_gb_s * n / 1000.0,
            chip.peak_tflops.bf16.unwrap_or(0.0) * n / 1000.0,
            i.efa_gbps,
            i.price.on_demand_usd_per_hour,
            domain,
            c.profile_file("instance", &i.name)
        );
    }
    println!();
    println!(
        "{:<14} {:<40} {:>9} {:>9} {:>9} {:>9} {:>9} {:>10} {:>7}  {:<7}",
        "chip", "", "BF16 TF", "FP8 TF", "NVFP4 TF", "MXFP4 TF", "HBM GiB", "HBM GB/s", "TDP W", "profile"
    );
    for ch in &c.chips {
        let f = |x: Option<f64>| x.map_or("-".to_string(), |v| format!("{v:.0}"));
        let p = &ch.peak_tflops;
        println!(
            "{:<14} {:<40} {:>9} {:>9} {:>9} {:>9} {:>9.0} {:>10.0} {:>7.0}  {}",
            ch.name,
            ch.display_name,
            f(p.bf16),
            f(p.fp8),
            f(p.nvfp4),
            f(p.mxfp4),
            ch.hbm_gib,
            ch.hbm_bandwidth_gb_s,
            ch.tdp_w,
            c.profile_file("chip", &ch.name)
        );
    }
    println!();
    println!(
        "{:<24} {:<36} {:>6} {:>8} {:>9}  {:<7}",
        "host", "", "cores", "sockets", "mem GB/s", "profile"
    );
    for h in &c.hosts {
        println!(
            "{:<24} {:<36} {:>6} {:>8} {:>9.0}  {}",
            h.name,
            h.display_name,
            h.cores,
            h.sockets,
            h.memory_bandwidth_gb_s,
            c.profile_file("host", &h.name)
        );
    }
    println!();
    println!(
        "sources: every number's `# source:`, `# derived:`, `# fitted:` or `# assumption:` comment is on its line of the profile named (hw-profiles/README.md); a `-` peak has no fast path and falls back with a note"
    );
    Ok(())
}

pub fn model_list(json: bool) -> Result<()> {
    use codesim::dtype::Dtype;
    let models = codesim::model::builtin_presets()?;
    if json {
        println!("{}", serde_json::to_string(&models).expect("serialises"));
        return Ok(());
    }
    println!(
        "{:<26} {:>6} {:>6} {:>5} {:>4} {:>11} {:>9} {:>9} {:>9} {:>10} {:>9}  {:<26} source",
        "model",
        "layers",
        "hidden",
        "heads",
        "kv",
        "moe",
        "params B",
        "active B",
        "KV kB/tok",
        "seq MB max",
        "context",
        "layers by kind"
    );
    for m in &models {
        let moe = m.moe.as_ref().map_or("-".to_string(), |x| {
            if x.shared_experts > 0 {
                format!("{}/{}+{}s", x.top_k, x.experts, x.shared_experts)
            } else {
                format!("{}/{}", x.top_k, x.experts)
            }
        });
        let bounded = m.kv_footprint(Dtype::Bf16, Dtype::Bf16).bounded_bytes(u64::MAX);
        println!(
            "{:<26} {:>6} {:>6} {:>5} {:>4} {:>11} {:>9.2} {:>9.2} {:>9.1} {:>10} {:>9}  {:<26} {}",
            m.name,
            m.layers,
            m.hidden,
            m.heads,
            m.kv_heads,
            moe,
            m.params_total() / 1e9,
            m.params_active() / 1e9,
            m.kv_bytes_per_token(Dtype::Bf16) / 1024.0,
            if bounded > 0.0 {
                format!("{:.1}", bounded / 1e6)
            } else {
                "-".to_string()
            },
            m.max_context,
            m.layer_summary(),
            m.source.as_deref().unwrap_or("-")
        );
    }
    println!(
        "KV kB/tok: bf16 KV per token of the layers whose cache grows (full attention); seq MB max: what a sequence holds at most besides (sliding/chunked windows, linear-attention state), bf16"
    );
    Ok(())
}
