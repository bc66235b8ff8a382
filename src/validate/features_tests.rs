//! Tests of the optional feature keys of a validation case: each key reaches the generated
//! scenario, the simulation does what the key says, bad values are input errors (exit 2) naming
//! the case, the key and the value, and `validation/neuron-features.toml` builds in full.

use super::*;
use crate::hw::Catalog;
use std::path::Path;

const FILE: &str = "v.toml";

/// One case on one H100 (TP 1) with `load` and `extra` keys before `[case.measured]`.
fn case_text(load: &str, extra: &str) -> String {
    format!(
        r#"
[[case]]
id = "t1"
source = "test"
instance = "p5.48xlarge"
instances = 1
chips = 1
model = "llama-3-8b"
weights = "bf16"
compute = "bf16"
tp = 1
tp_unit = "gpu"
{load}
{extra}
[case.measured]
ttft_p50_ms = 100.0
"#
    )
}

fn one_case(text: &str) -> Case {
    let mut f = parse(text, Path::new(FILE)).unwrap();
    let c = f.case.remove(0);
    c.check(Path::new(FILE)).unwrap();
    c
}

/// The scenario of a checked case, and that it loads as a user's scenario would.
fn scenario_of(c: &Case) -> String {
    let catalog = Catalog::builtin().unwrap();
    let hw = catalog.hardware(&c.instance).unwrap();
    let text = c.scenario_toml(&hw).unwrap();
    if let Err(e) = crate::scenario::load_str(&text, Path::new("case.toml")) {
        panic!("{e}\n{text}");
    }
    text
}

const CLOSED: &str = "load = \"closed\"\nconcurrency = 2";
const POISSON: &str = "load = \"poisson\"\nqps = 2.0\nrequests = 200";
const FIXED: &str = "input_tokens = 1024\noutput_tokens = 32";

#[test]
fn a_plain_case_becomes_the_same_scenario_as_before_the_feature_keys() {
    // Byte for byte: the load fixes only what the benchmark fixes (closed clients: the batch);
    // the scheduler is the engine's (here the chip's default engine, no `engine` key).
    let c = one_case(&case_text(CLOSED, "input_tokens = 128\noutput_tokens = 16"));
    assert_eq!(c.features(), "");
    assert_eq!(
        scenario_of(&c),
        "name = \"t1\"\nseed = 1\n\n[hardware]\ninstance = \"p5.48xlarge\"\n\n[model]\nname = \"llama-3-8b\"\nweights = \"bf16\"\ncompute = \"bf16\"\nkv_cache = \"bf16\"\n\n[deployment]\ntp = 1\nreplicas = 1\n\n[serving]\nmax_batch = 2\n\n[workload]\nrequests = 16\narrival = { kind = \"closed\", clients = 2 }\ninput = { kind = \"fixed\", tokens = 128 }\noutput = { kind = \"fixed\", tokens = 16 }\n"
    );
}

#[test]
fn a_speculative_case_carries_draft_gamma_and_acceptance_and_meets_the_closed_form() {
    let spec = "[case.speculative]\ndraft_model = \"llama-3.2-1b\"\nspeculation_length = 7\nacceptance = 0.8\nacceptance_source = \"assumption: test\"";
    let text = case_text(CLOSED, &format!("{FIXED}\n{spec}"))
        .replace("ttft_p50_ms = 100.0", "ttft_p50_ms = 100.0\ntpot_p50_ms = 5.0");
    let c = one_case(&text);
    let sc = scenario_of(&c);
    assert!(
        sc.contains("\n[serving.speculative]\nmethod = \"draft\"\ndraft_model = \"llama-3.2-1b\"\ngamma = 7\nacceptance = 0.8\n\n[workload]\n"),
        "{sc}"
    );
    assert_eq!(c.features(), "speculative: draft llama-3.2-1b γ 7 α 0.8");
    let r = run_cases(&parse(&text, Path::new(FILE)).unwrap().case, Path::new(FILE)).unwrap();
    assert!(r.skipped.is_empty(), "{:?}", r.skipped);
    // Tokens per step at α = 0.8, γ = 7: (1 − 0.8⁸) / (1 − 0.8) = (1 − 0.16777) / 0.2 = 4.16.
    assert!(
        r.rows[0].features.contains("(closed form 4.16)"),
        "{}",
        r.rows[0].features
    );
    // TPOT is the per-request figure: 3.16 of every 4.16 tokens arrive with a zero gap (76 %),
    // so the gap distribution's median would be 0 ms.
    let tpot = r.rows.iter().find(|x| x.metric == "tpot_p50_ms").unwrap();
    assert!(tpot.predicted > 0.0, "{tpot:?}");

    let by_pos = "[case.speculative]\ndraft_model = \"llama-3.2-1b\"\nspeculation_length = 2\nacceptance_by_position = [0.9, 0.5]\nacceptance_source = \"assumption: test\"";
    let c = one_case(&case_text(POISSON, &format!("{FIXED}\n{by_pos}")));
    let sc = scenario_of(&c);
    assert!(sc.contains("gamma = 2\nacceptance_by_position = [0.9, 0.5]\n"), "{sc}");
}

#[test]
fn a_prefix_hit_rate_becomes_a_shared_system_prompt_that_hits_at_that_rate() {
    let text = case_text(POISSON, &format!("{FIXED}\nprefix_hit_rate = 0.5"));
    let c = one_case(&text);
    let sc = scenario_of(&c);
    // 0.5 × 1024 = 512 shared tokens in front of every prompt.
    assert!(sc.contains("\n[serving.prefix_cache]\nenabled = true\n"), "{sc}");
    assert!(
        sc.ends_with("\n[workload.prefix]\ngroups = 1\nsystem_tokens = 512\n"),
        "{sc}"
    );
    assert_eq!(c.features(), "prefix cache: hit rate 0.5");
    let r = run_cases(&parse(&text, Path::new(FILE)).unwrap().case, Path::new(FILE)).unwrap();
    assert!(r.skipped.is_empty(), "{:?}", r.skipped);
    // 1024 tokens = 64 blocks of 16, the first 512 tokens = 32 blocks shared. The first of the
    // 200 prompts misses; each later one hits its 32 shared blocks:
    // 32 · 199 / (64 · 200) = 6368 / 12800 = 0.4975.
    assert!(
        r.rows[0].features.contains("simulated hit rate 0.497"),
        "{}",
        r.rows[0].features
    );
}

#[test]
fn replicas_max_batch_and_length_distributions_reach_the_scenario() {
    let text = case_text(
        POISSON,
        "replicas = 2\nmax_batch = 4\ninput = { kind = \"lognormal\", mean = 1000.0, cv = 0.5, max = 4000 }\noutput = { kind = \"uniform\", min = 10, max = 30 }",
    )
    .replace("chips = 1", "chips = 2");
    let c = one_case(&text);
    let sc = scenario_of(&c);
    for needle in [
        "\nreplicas = 2\n",
        "\nmax_batch = 4\n",
        "\ninput = { kind = \"lognormal\", mean = 1000.0, cv = 0.5, min = 1, max = 4000 }\n",
        "\noutput = { kind = \"uniform\", min = 10, max = 30 }\n",
    ] {
        assert!(sc.contains(needle), "{needle} not in\n{sc}");
    }
    assert_eq!(
        c.features(),
        "2 replicas; max_batch 4; input lognormal mean 1000 cv 0.5 in [1, 4000]; output uniform 10–30"
    );
    let r = run_cases(std::slice::from_ref(&c), Path::new(FILE)).unwrap();
    assert!(r.skipped.is_empty() && r.rows[0].predicted.is_finite(), "{r:?}");

    // Two replicas of TP 1 are two GPUs: a case that says one is refused with the arithmetic.
    let mut one_chip = c;
    one_chip.chips = 1;
    let hw = Catalog::builtin().unwrap().hardware("p5.48xlarge").unwrap();
    let e = one_chip.ranks(&hw).unwrap_err();
    assert!(e.contains("× 2 replicas is 2 chips") && e.contains("chips = 1"), "{e}");
}

/// Each (load, the case's extra keys, needles) is an input error, exit 2, naming the file, the
/// case and every needle.
fn assert_input_errors(cases: Vec<(&str, String, Vec<&str>)>) {
    for (load, extra, needles) in cases {
        let text = case_text(load, &extra);
        let f = parse(&text, Path::new(FILE)).unwrap_or_else(|e| panic!("{extra}: {e}"));
        let e = run_cases(&f.case, Path::new(FILE)).unwrap_err();
        assert_eq!(e.exit_code(), 2, "{extra}");
        let msg = e.to_string();
        assert!(msg.contains(FILE) && msg.contains("case `t1`"), "{msg}");
        for n in needles {
            assert!(msg.contains(n), "{extra}: `{n}` not in: {msg}");
        }
    }
}

#[test]
fn bad_lengths_prefix_replicas_and_batch_are_input_errors_naming_key_and_value() {
    assert_input_errors(vec![
        (
            POISSON,
            "input_tokens = 5\ninput = { kind = \"uniform\", min = 1, max = 9 }\noutput_tokens = 5".into(),
            vec!["`input`", "not both"],
        ),
        (
            POISSON,
            "output_tokens = 5".into(),
            vec!["input_tokens", "is required", "lognormal"],
        ),
        (POISSON, "input_tokens = 5".into(), vec!["output_tokens", "is required"]),
        (
            POISSON,
            "input_tokens = 0\noutput_tokens = 5".into(),
            vec!["input_tokens", "at least 1, got 0"],
        ),
        (
            POISSON,
            "input = { kind = \"uniform\", min = 9, max = 3 }\noutput_tokens = 5".into(),
            vec!["input.max", "must be >= min (9), got 3"],
        ),
        (
            POISSON,
            "input = { kind = \"uniform\", min = 0, max = 3 }\noutput_tokens = 5".into(),
            vec!["input.min", "at least 1, got 0"],
        ),
        (
            POISSON,
            "input_tokens = 5\noutput = { kind = \"lognormal\", mean = 100.0, cv = nan, max = 300 }".into(),
            vec!["output.cv", "NaN", "finite number > 0"],
        ),
        (
            POISSON,
            "input_tokens = 5\noutput = { kind = \"lognormal\", mean = -1.0, cv = 1.0, max = 300 }".into(),
            vec!["output.mean", "-1", "finite number > 0"],
        ),
        (
            POISSON,
            format!("{FIXED}\nprefix_hit_rate = 1.0"),
            vec!["prefix_hit_rate", "got 1", "[0, 1)"],
        ),
        (
            POISSON,
            format!("{FIXED}\nprefix_hit_rate = nan"),
            vec!["prefix_hit_rate", "NaN"],
        ),
        (
            CLOSED,
            format!("{FIXED}\nprefix_hit_rate = 0.5"),
            vec!["prefix_hit_rate", "`closed`", "poisson"],
        ),
        (
            POISSON,
            format!("{FIXED}\nreplicas = 0"),
            vec!["replicas", "at least 1, got 0"],
        ),
        (
            POISSON,
            format!("{FIXED}\nmax_batch = 0"),
            vec!["max_batch", "at least 1, got 0"],
        ),
        (
            "load = \"static\"\nconcurrency = 2",
            format!("{FIXED}\nmax_batch = 4"),
            vec!["max_batch", "`static`"],
        ),
    ]);
}

#[test]
fn bad_speculative_values_are_input_errors_naming_key_and_value() {
    let spec = |body: &str| format!("{FIXED}\n[case.speculative]\ndraft_model = \"llama-3.2-1b\"\n{body}");
    let ok_src = "acceptance_source = \"assumption: test\"";
    assert_input_errors(vec![
        (
            CLOSED,
            spec(&format!("speculation_length = 0\nacceptance = 0.7\n{ok_src}")),
            vec!["speculative.speculation_length", "1..=16, got 0"],
        ),
        (
            CLOSED,
            spec(&format!("speculation_length = 17\nacceptance = 0.7\n{ok_src}")),
            vec!["speculative.speculation_length", "got 17"],
        ),
        (
            CLOSED,
            spec(&format!("speculation_length = 2\nacceptance = 1.5\n{ok_src}")),
            vec!["speculative.acceptance", "[0, 1], got 1.5"],
        ),
        (
            CLOSED,
            spec(&format!("speculation_length = 2\n{ok_src}")),
            vec!["speculative.acceptance", "is required"],
        ),
        (
            CLOSED,
            spec(&format!(
                "speculation_length = 2\nacceptance = 0.7\nacceptance_by_position = [0.7, 0.7]\n{ok_src}"
            )),
            vec!["acceptance_by_position", "not both"],
        ),
        (
            CLOSED,
            spec(&format!(
                "speculation_length = 2\nacceptance_by_position = [0.7, 0.7, 0.7]\n{ok_src}"
            )),
            vec!["acceptance_by_position", "speculation_length = 2 values, got 3"],
        ),
        (
            CLOSED,
            spec(&format!(
                "speculation_length = 2\nacceptance_by_position = [0.7, -0.1]\n{ok_src}"
            )),
            vec!["speculative.acceptance_by_position[1]", "-0.1"],
        ),
        (
            CLOSED,
            spec("speculation_length = 2\nacceptance = 0.7\nacceptance_source = \"  \""),
            vec!["speculative.acceptance_source", "assumption"],
        ),
        (
            "load = \"static\"\nconcurrency = 2",
            spec(&format!("speculation_length = 2\nacceptance = 0.7\n{ok_src}")),
            vec!["`speculative`", "static"],
        ),
    ]);
}

#[test]
fn misspelled_or_missing_feature_keys_are_refused_when_parsing() {
    let spec_ok = format!(
        "{FIXED}\n[case.speculative]\ndraft_model = \"llama-3.2-1b\"\nspeculation_length = 2\nacceptance = 0.7\nacceptance_source = \"x\""
    );
    for (extra, needles) in [
        (
            spec_ok.replace("speculation_length", "speculation_lenght"),
            vec!["speculation_lenght", "did you mean"],
        ),
        (
            spec_ok.replace("acceptance_source = \"x\"", ""),
            vec!["acceptance_source"],
        ),
        (
            format!("{FIXED}\nprefix_hitrate = 0.5"),
            vec!["prefix_hitrate", "prefix_hit_rate"],
        ),
        (format!("{FIXED}\nreplica = 2"), vec!["replica", "replicas"]),
        (
            "input = { kind = \"lognormal\", mean = 9.0, cv = 1.0, maxx = 9 }\noutput_tokens = 5".to_string(),
            vec!["maxx"],
        ),
        (
            "input = { kind = \"fixed\", tokens = 9 }\noutput_tokens = 5".to_string(),
            vec!["fixed", "uniform", "lognormal"],
        ),
    ] {
        let e = parse(&case_text(POISSON, &extra), Path::new(FILE)).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        let msg = e.to_string();
        for n in needles {
            assert!(msg.contains(FILE) && msg.contains(n), "`{n}` not in: {msg}");
        }
    }
}

const NEURON_FEATURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/validation/neuron-features.toml");

/// The held-out feature file: it parses, every case is well-formed and becomes a scenario that
/// loads, every case simulates (none skipped) with finite predictions, and the cases come in
/// pairs that differ only in the feature.
#[test]
fn neuron_features_file_builds_and_simulates_every_case() {
    let path = Path::new(NEURON_FEATURES);
    let text = crate::input::read_text(path).unwrap();
    let file = parse(&text, path).unwrap();
    assert_eq!(file.case.len(), 10);
    for c in &file.case {
        c.check(path).unwrap();
        scenario_of(c);
        let f = c.features();
        assert_eq!(
            c.speculative.is_some(),
            f.contains("speculative: draft llama-3.2-1b γ 7"),
            "{}",
            c.id
        );
        assert_eq!(
            c.prefix_hit_rate.is_some(),
            f.contains("prefix cache: hit rate"),
            "{}",
            c.id
        );
    }
    let report = run_cases(&file.case, path).unwrap();
    assert!(report.skipped.is_empty(), "{:?}", report.skipped);
    for c in &file.case {
        let rows: Vec<&Row> = report.rows.iter().filter(|r| r.id == c.id).collect();
        assert_eq!(rows.len(), c.measured.present().len(), "{}", c.id);
        assert!(
            rows.iter().all(|r| r.predicted.is_finite() && r.predicted > 0.0),
            "{}",
            c.id
        );
    }
    // Pairs: the feature off and on, everything else equal.
    let partner = |id: &str| -> Option<String> {
        id.strip_suffix("-on")
            .map(|b| format!("{b}-off"))
            .or_else(|| id.strip_suffix("-spec-1b-g7").map(|b| format!("{b}-nospec")))
    };
    let mut paired = 0;
    for on in &file.case {
        let Some(off_id) = partner(&on.id) else {
            continue;
        };
        let off = file
            .case
            .iter()
            .find(|c| c.id == off_id)
            .unwrap_or_else(|| panic!("{off_id}"));
        let mut same = on.clone();
        same.id.clone_from(&off.id);
        same.source.clone_from(&off.source);
        same.line = off.line;
        same.measured = off.measured;
        same.prefix_hit_rate = None;
        same.speculative = None;
        assert_eq!(&same, off, "{} and {off_id} differ beyond the feature", on.id);
        paired += 1;
    }
    assert_eq!(paired, 5);
}
