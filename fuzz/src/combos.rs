//! Structured targets over combinations of valid inputs: a Hugging Face `config.json` under a
//! scenario, sweeps whose axes set keys of valid scenarios to byte-chosen values, and plans whose
//! candidates are edited valid scenarios with byte-chosen demand, SLO and what-ifs. Byte-level
//! mutation of TOML mostly explores the parser; these reach validation and set-up.

use super::{BASES, Choices, INSTANCES, KEYS, check, plan, scenario, sweep, table};
use toml::Value as V;

/// `[model] name = "<folder>/config.json"`: the bytes as a Hugging Face config under a small
/// valid scenario (read, resolved and set up, not simulated). An accepted config must give finite,
/// non-negative counts.
pub fn hf_config(data: &[u8]) {
    let dir = std::env::temp_dir().join(format!("codesim-fuzz-hf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary folder");
    let file = dir.join("config.json");
    std::fs::write(&file, data).expect("the config is written");
    if let Some(spec) = check("hf config", codesim::model::from_hf_config(&file)) {
        let bf16 = codesim::dtype::Dtype::Bf16;
        for (what, v) in [
            ("parameters", spec.params_total()),
            ("active parameters", spec.params_active()),
            ("KV bytes per token", spec.kv_bytes_per_token(bf16)),
            ("FLOPs per token", spec.linear_flops_per_token()),
        ] {
            assert!(v.is_finite() && v >= 0.0, "{what} = {v} for an accepted config");
        }
        let text = format!(
            "[hardware]\ninstance = \"p5.48xlarge\"\n[model]\nname = {}\n[workload]\nrequests = 4\narrival = {{ kind = \"poisson\", rate_per_s = 1.0 }}\ninput = {{ kind = \"fixed\", tokens = 64 }}\noutput = {{ kind = \"fixed\", tokens = 8 }}\n",
            V::String(file.display().to_string())
        );
        scenario(text.as_bytes());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A base scenario (a byte picks it) as a TOML table.
fn base(c: &mut Choices) -> toml::Table {
    BASES[c.byte() as usize % BASES.len()]
        .parse()
        .expect("the base scenarios are valid TOML")
}

/// A sweep over one of the base scenarios with 1 to 3 axes, each a key of the schema with 1 to 3
/// byte-chosen values, sometimes zipped; then what [`sweep`] does with a file.
pub fn sweep_values(data: &[u8]) {
    let mut c = Choices(data);
    let mut t = toml::Table::new();
    t.insert("name".into(), "fuzz".into());
    t.insert("base".into(), V::Table(base(&mut c)));
    let mut axes = toml::Table::new();
    for _ in 0..1 + c.byte() % 3 {
        let (key, kind) = c.pick(KEYS);
        let n = 1 + c.byte() % 3;
        axes.insert(key.to_string(), V::Array((0..n).map(|_| c.value(kind)).collect()));
    }
    if axes.len() >= 2 && c.byte() % 4 == 0 {
        let keys: Vec<V> = axes.keys().take(2).map(|k| V::String(k.clone())).collect();
        t.insert("zip".into(), V::Array(vec![V::Array(keys)]));
    }
    t.insert("axes".into(), V::Table(axes));
    if let Ok(text) = toml::to_string(&t) {
        sweep(text.as_bytes());
    }
}

/// A plan with one or two candidates (base scenarios without their workload, each with up to 4
/// edits), byte-chosen demand, SLO and replica bounds, and sometimes a what-if with prices; then
/// what [`plan`] does with a file.
pub fn plan_values(data: &[u8]) {
    let mut c = Choices(data);
    let mut t = toml::Table::new();
    t.insert("name".into(), "fuzz".into());
    t.insert("seed".into(), V::Integer(c.int()));
    let fixed = |n: i64| table(vec![("kind", "fixed".into()), ("tokens", V::Integer(n))]);
    let demand = table(vec![
        ("rate_per_s", V::Float(c.float())),
        ("requests", V::Integer(1 + (c.byte() as i64) * 4)),
        ("input", fixed(1 + c.byte() as i64 * 8)),
        ("output", fixed(1 + c.byte() as i64)),
    ]);
    t.insert("demand".into(), demand);
    t.insert("slo".into(), table(vec![("ttft_p95_ms", V::Float(c.float()))]));
    let mut candidates = Vec::new();
    for i in 0..1 + c.byte() % 2 {
        let mut sc = base(&mut c);
        sc.remove("workload");
        for _ in 0..c.byte() % 5 {
            let (key, kind) = c.pick(KEYS);
            if !key.starts_with("workload") {
                let v = c.value(kind);
                let _ = codesim::tomlpath::set_path(&mut sc, key, v);
            }
        }
        let cand = table(vec![
            ("name", V::String(format!("c{i}"))),
            ("max_replicas", V::Integer(c.int())),
            ("scenario", V::Table(sc)),
        ]);
        candidates.push(cand);
    }
    t.insert("candidate".into(), V::Array(candidates));
    if c.byte() % 2 == 0 {
        let prices = table(vec![(c.pick(INSTANCES), V::Float(c.float()))]);
        let w = table(vec![
            ("name", "w".into()),
            ("traffic_scale", V::Float(c.float())),
            ("prices", prices),
        ]);
        t.insert("whatif".into(), V::Array(vec![w]));
    }
    if let Ok(text) = toml::to_string(&t) {
        plan(text.as_bytes());
    }
}
