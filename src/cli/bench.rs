//! `codesim bench`: the simulator's own speed on reference workloads, as JSON, so users can
//! measure their machine the same way.

use codesim::error::Result;
use codesim::sim::{RunOptions, Simulation};
use std::path::Path;

/// (name, scenario text). The first is the reference workload of the core issue: 10,000
/// requests of 512 in / 128 out, Poisson 20 req/s, Llama-2-7B on one H100, max batch 128.
const WORKLOADS: &[(&str, &str)] = &[
    (
        "reference-llama2-7b-h100-10k",
        r#"
seed = 1
[hardware]
instance = "p5.48xlarge"
[model]
name = "llama-2-7b"
[deployment]
tp = 1
[serving]
max_batch = 128
[workload]
requests = 10000
arrival = { kind = "poisson", rate_per_s = 20.0 }
input = { kind = "fixed", tokens = 512 }
output = { kind = "fixed", tokens = 128 }
"#,
    ),
    (
        "decode-loop-batch128",
        r#"
seed = 1
[hardware]
instance = "p5.48xlarge"
[model]
name = "llama-2-7b"
[serving]
max_batch = 128
[workload]
requests = 1280
arrival = { kind = "offline" }
input = { kind = "fixed", tokens = 16 }
output = { kind = "fixed", tokens = 2000 }
"#,
    ),
];

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(|l| l.to_string()))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse::<f64>().ok()))
        .map_or(0.0, |kb| kb / 1024.0)
}

pub fn run(repeat: u32) -> Result<()> {
    let mut rows = Vec::new();
    for (name, text) in WORKLOADS {
        let sc = codesim::scenario::load_str(text, Path::new(&format!("<bench:{name}>")))?;
        let mut best: Option<codesim::RunResult> = None;
        for _ in 0..repeat.max(1) {
            let wall = std::time::Instant::now();
            let (mut r, _) = Simulation::new(&sc, RunOptions::default())?.run();
            // Wall time of the whole run, set-up included.
            r.sim.wall_s = wall.elapsed().as_secs_f64();
            if best.as_ref().is_none_or(|b| r.sim.wall_s < b.sim.wall_s) {
                best = Some(r);
            }
        }
        let r = best.expect("at least one repetition");
        rows.push(serde_json::json!({
            "name": name,
            "requests": r.requests.completed,
            "wall_s": r.sim.wall_s,
            "steps": r.sim.steps,
            "steps_per_s": r.sim.steps as f64 / r.sim.wall_s.max(1e-12),
            "events": r.sim.events,
            "peak_rss_mb": peak_rss_mb(),
        }));
    }
    println!("{}", serde_json::json!({ "workloads": rows }));
    Ok(())
}
