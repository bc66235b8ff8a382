use super::*;
use crate::dtype::Dtype;

#[test]
fn builtin_catalog_has_the_required_hardware() {
    let c = Catalog::builtin().unwrap();
    for chip in [
        "trainium1",
        "trainium2",
        "inferentia2",
        "a100-80gb",
        "h100-sxm",
        "h200-sxm",
    ] {
        assert!(c.chip(chip).is_ok(), "missing chip {chip}");
    }
    for inst in [
        "trn1.32xlarge",
        "trn2.48xlarge",
        "inf2.xlarge",
        "inf2.48xlarge",
        "p4de.24xlarge",
        "p5.48xlarge",
        "p5en.48xlarge",
    ] {
        let hw = c.hardware(inst).unwrap_or_else(|e| panic!("{e}"));
        assert!(hw.instance.price.on_demand_usd_per_hour > 0.0, "{inst} has no price");
    }
    // CPU instances are one device each (hw-profiles/cpu.toml).
    for inst in [
        "c7g.16xlarge",
        "c8g.4xlarge",
        "c8g.16xlarge",
        "c8g.24xlarge",
        "r8g.16xlarge",
        "c7i.16xlarge",
    ] {
        let hw = c.hardware(inst).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(hw.chip.kind, ChipKind::Cpu, "{inst}");
        assert_eq!(hw.ranks_per_instance(), 1, "{inst}");
        assert!(hw.instance.price.on_demand_usd_per_hour > 0.0, "{inst} has no price");
    }
    for host in ["graviton3", "graviton4"] {
        assert!(c.host(host).is_ok(), "missing host {host}");
    }
    // The TP unit on Neuron: NeuronCores are the ranks.
    assert_eq!(c.hardware("trn1.32xlarge").unwrap().ranks_per_instance(), 32);
    assert_eq!(c.hardware("inf2.48xlarge").unwrap().ranks_per_instance(), 24);
    assert_eq!(c.hardware("trn2.48xlarge").unwrap().ranks_per_instance(), 64);
    assert_eq!(c.hardware("p5.48xlarge").unwrap().ranks_per_instance(), 8);
}

#[test]
fn unknown_instance_suggests_the_closest() {
    let c = Catalog::builtin().unwrap();
    let e = c.hardware("p5.48xlarg").unwrap_err();
    assert!(e.contains("did you mean `p5.48xlarge`"), "{e}");
}

#[test]
fn fp8_on_a100_falls_back_with_a_note() {
    let c = Catalog::builtin().unwrap();
    let a100 = c.chip("a100-80gb").unwrap();
    let (peak, used, note) = a100.peak_flops(Dtype::Fp8);
    assert!(peak > 0.0);
    assert_ne!(used, Dtype::Fp8);
    assert!(note.unwrap().contains("fp8"));
}

/// Every line of `hw-profiles/*.toml` that sets a number says where the number comes from.
#[test]
fn every_number_in_hw_profiles_has_a_source() {
    let forms = ["# source:", "# assumption:", "# derived:", "# fitted:"];
    for (name, text) in crate::assets::HW_PROFILES {
        for (i, line) in text.lines().enumerate() {
            let code = line.split('#').next().unwrap_or("");
            let Some((_, value)) = code.split_once('=') else {
                continue;
            };
            let has_number = value
                .trim_start()
                .starts_with(|ch: char| ch.is_ascii_digit() || ch == '-' || ch == '.')
                || value.contains(|ch: char| ch.is_ascii_digit()) && value.contains('{');
            if has_number && !value.trim_start().starts_with('"') {
                assert!(
                    forms.iter().any(|f| line.contains(f)),
                    "hw-profiles/{name} line {}: a number without `# source:`/`# assumption:`/`# derived:`/`# fitted:`: {line}",
                    i + 1
                );
            }
        }
    }
}

// ---- per-phase chip power (hw::power) ----

fn h100() -> Chip {
    Catalog::builtin().unwrap().chip("h100-sxm").unwrap().clone()
}

/// A step that is all matrix work draws idle + f_c · (TDP − idle): H100 70 W + 0.95 × 630 W =
/// 668.5 W, whatever its length.
#[test]
fn a_pure_compute_step_draws_idle_plus_the_compute_fraction_of_the_range() {
    let chip = h100();
    let p = power::ChipPower::new(&chip, None);
    assert_eq!(p.phases.compute, 0.95);
    for t in [1e3, 2.5e6, 1e9] {
        let w = p.step_power_w(t, &power::Phases::new(t, 0.0, 0.0, 0.0));
        assert!((w - (70.0 + 0.95 * 630.0)).abs() < 1e-9, "{w}");
    }
    // Overhead only (launch gaps): 70 + 0.1 × 630 = 133 W; a zero-length step draws idle.
    let w = p.step_power_w(1e6, &power::Phases::new(0.0, 0.0, 0.0, 1e6));
    assert!((w - 133.0).abs() < 1e-9, "{w}");
    assert_eq!(p.step_power_w(0.0, &power::Phases::default()), 70.0);
}

/// Σ of the phases' energies is the step's dynamic energy, and idle + dynamic is the chip's
/// energy over the step. Hand calculation, H100 (range 630 W): 2 ms compute, 5 ms HBM, 1 ms
/// collectives, 0.5 ms gaps → 0.95·2 + 0.65·5 + 0.6·1 + 0.1·0.5 = 1.9 + 3.25 + 0.6 + 0.05 = 5.8 ms
/// at full range = 3.654 J dynamic; idle 70 W × 8.5 ms = 0.595 J; 4.249 J over 8.5 ms = 499.88 W.
#[test]
fn phase_energies_add_up_to_the_chips_energy() {
    let p = power::ChipPower::new(&h100(), None);
    let ph = power::Phases::new(2e6, 5e6, 1e6, 0.5e6);
    let e = p.step_energy(ph.total_ns(), &ph);
    assert!((e.compute_ns - 1.9e6).abs() < 1e-6);
    assert!((e.memory_ns - 3.25e6).abs() < 1e-6);
    assert!((e.collective_ns - 0.6e6).abs() < 1e-6);
    assert!((e.overhead_ns - 0.05e6).abs() < 1e-6);
    assert!((e.total_ns() - p.step_dynamic_ns(ph.total_ns(), &ph)).abs() < 1e-6);
    let joules = 70.0 * 8.5e-3 + 630.0 * e.total_ns() * 1e-9;
    assert!((joules - 4.249).abs() < 1e-9, "{joules}");
    let w = p.step_power_w(ph.total_ns(), &ph);
    assert!((w * 8.5e-3 - joules).abs() < 1e-9, "{w}");
    assert!((w - 499.882).abs() < 1e-3, "{w}");
}

/// Adding collective time to a step never lowers its energy (it adds f_comm × the time ≥ 0), with
/// or without a power cap.
#[test]
fn more_collective_time_never_lowers_energy() {
    let chip = h100();
    let cap = power::PowerCap::new(300.0, &chip);
    for p in [
        power::ChipPower::new(&chip, None),
        power::ChipPower::new(&chip, Some(&cap)),
    ] {
        let mut last = 0.0;
        for comm in [0.0, 1e5, 1e6, 5e6, 2e7] {
            let ph = power::Phases::new(3e6, 2e6, comm, 4e5);
            let t = cap.capped_ns(&ph).max(ph.total_ns());
            let e = p.step_dynamic_ns(t, &ph);
            assert!(e >= last, "comm {comm}: {e} < {last}");
            last = e;
        }
    }
}

/// The cap stretches a step until its average power equals the cap, judged by the same
/// per-phase power the accounting counts. H100 capped at 300 W: allowed = (300 − 70) / 630 =
/// 0.36508. A 10 ms compute step (0.95 × 10 = 9.5 ms of full-range energy) becomes
/// 9.5 / 0.36508 = 26.022 ms and then draws 70 + 630 × 9.5 / 26.022 = 300 W. A step of pure
/// gaps (0.1 of the range, 133 W) keeps its time.
#[test]
fn the_power_cap_uses_the_per_phase_power_and_is_never_exceeded() {
    let chip = h100();
    let cap = power::PowerCap::new(300.0, &chip);
    let allowed: f64 = 230.0 / 630.0;
    assert!((cap.allowed_fraction() - allowed).abs() < 1e-12);
    let compute = power::Phases::new(10e6, 0.0, 0.0, 0.0);
    let t = cap.capped_ns(&compute);
    assert!((t - 9.5e6 / allowed).abs() < 1e-3, "{t}");
    let gaps = power::Phases::new(0.0, 0.0, 0.0, 10e6);
    assert_eq!(cap.capped_ns(&gaps), 10e6);
    let chip_power = power::ChipPower::new(&chip, Some(&cap));
    // Sweep step mixes: the stretched step (its added time counted as compute, as the cost model
    // does) never averages more than the cap, and its energy is the unstretched step's.
    for c in [0.0, 1e6, 5e6, 2e7] {
        for m in [0.0, 1e6, 8e6] {
            for comm in [0.0, 2e6] {
                let ph = power::Phases::new(c, m, comm, 3e5);
                let t0 = ph.total_ns();
                let t = cap.capped_ns(&ph);
                assert!(t >= t0);
                let stretched = power::Phases::new(c + (t - t0), m, comm, 3e5);
                let w = chip_power.step_power_w(t, &stretched);
                assert!(w <= 300.0 + 1e-9, "{c} {m} {comm}: {w} W");
                let e0 = power::ChipPower::new(&chip, None).step_dynamic_ns(t0, &ph);
                let e = chip_power.step_dynamic_ns(t, &stretched);
                assert!((e - e0).abs() <= 1e-9 * e0.max(1.0), "{c} {m} {comm}: {e} vs {e0}");
            }
        }
    }
}

/// A decode step of Llama-3.3-70B at batch 64 on H100 TP 8 (p5.48xlarge) draws 60–75 % of TDP,
/// the band ML.ENERGY's H100 decode measurements bracket (batch 1 ≈ 300 W = 43 %, batch 128 ≈
/// 600 W = 86 %, ML.ENERGY Benchmark v3.0). The split comes from the cost model and is printed;
/// P / TDP = (70 + 630 × (0.95·c + 0.65·m + 0.6·comm + 0.1·o) / t) / 700.
#[test]
fn a_70b_decode_step_at_batch_64_on_h100_draws_60_to_75_percent_of_tdp() {
    use crate::perf::{BatchShape, Parallelism, PerfModel, Precision};
    let c = Catalog::builtin().unwrap();
    let hw = c.hardware("p5.48xlarge").unwrap();
    let model = crate::model::builtin_presets()
        .unwrap()
        .into_iter()
        .find(|m| m.name == "llama-3.3-70b")
        .unwrap();
    let p = power::ChipPower::new(&hw.chip, None);
    for w in [Dtype::Bf16, Dtype::Fp8] {
        let prec = Precision {
            weights: w,
            compute: w,
            kv_cache: Dtype::Bf16,
            activations: Dtype::Bf16,
            weight_format: crate::dtype::WeightFormat::Plain,
        };
        let perf = PerfModel::new(&hw, &model, Parallelism { tp: 8 }, prec, 0.1, "test").unwrap();
        let mut b = BatchShape::default();
        for _ in 0..64 {
            b.add_decode(1100);
        }
        let s = perf.step(&b);
        let ph = power::Phases::new(s.compute_ns, s.memory_ns, s.comm_ns, s.overhead_ns);
        let share = p.step_power_w(s.total_ns as f64, &ph) / hw.chip.tdp_w;
        println!(
            "{w}: {:.2} ms = compute {:.2} + memory {:.2} + comm {:.2} + overhead {:.2} ms → {:.1} % of TDP",
            s.total_ns as f64 * 1e-6,
            s.compute_ns * 1e-6,
            s.memory_ns * 1e-6,
            s.comm_ns * 1e-6,
            s.overhead_ns * 1e-6,
            100.0 * share
        );
        assert!((0.60..=0.75).contains(&share), "{w}: {:.3} of TDP", share);
    }
}

/// `[chip.power]` keys are checked at load: a fraction outside [0, 1] names the key and the range,
/// a misspelled key is refused, a profile without the table takes its kind's defaults and the
/// note says so, and a partial table keeps the defaults for the rest.
#[test]
fn chip_power_is_checked_and_defaults_per_kind() {
    let mut chip = h100();
    chip.power.memory = Some(1.5);
    let e = validate_chip(&chip, Path::new("p.toml")).unwrap_err().to_string();
    assert!(
        e.contains("power.memory") && e.contains("[0, 1]") && e.contains("1.5"),
        "{e}"
    );
    chip.power.memory = Some(f64::NAN);
    assert!(validate_chip(&chip, Path::new("p.toml")).is_err());
    chip.power = power::PowerSpec::default();
    assert_eq!(power::PhasePower::of(&chip), power::PhasePower::ACCELERATOR);
    assert!(
        power::describe(&chip).contains("no [chip.power]"),
        "{}",
        power::describe(&chip)
    );
    chip.power.overhead = Some(0.2);
    let f = power::PhasePower::of(&chip);
    assert_eq!((f.overhead, f.memory), (0.2, 0.65));
    assert!(power::describe(&chip).contains("compute, memory, collective: the defaults of a gpu chip"));
    chip.kind = ChipKind::Cpu;
    chip.power = power::PowerSpec::default();
    assert_eq!(power::PhasePower::of(&chip), power::PhasePower::CPU);
    let (_, nvidia) = crate::assets::HW_PROFILES
        .iter()
        .find(|(n, _)| *n == "nvidia.toml")
        .unwrap();
    let text = nvidia.replacen("\ncompute = 0.95 ", "\nmemroy = 0.5\ncompute = 0.95 ", 1);
    let err = Catalog::default()
        .add_text(&text, Path::new("p.toml"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("memroy"), "{err}");
}

/// Every built-in chip carries its own `[chip.power]` (sourced or argued in the profile), so no
/// built-in run falls back on a default.
#[test]
fn every_builtin_chip_has_its_power_fractions() {
    for chip in &Catalog::builtin().unwrap().chips {
        for (k, v) in chip.power.entries() {
            assert!(v.is_some(), "{}: [chip.power] {k} missing", chip.name);
        }
        assert!(
            power::describe(chip).ends_with("(from its [chip.power])"),
            "{}",
            chip.name
        );
    }
}

/// Bucket lists are "pow2", "none" or increasing token counts; anything else names the key.
#[test]
fn bucket_lists_and_kv_layouts_are_checked() {
    let base = Catalog::builtin().unwrap();
    let chip = base.chip("trainium2").unwrap().clone();
    let text = |extra: &str| {
        let t = toml::to_string(&ProfileFile0 {
            chip: vec![chip.clone()],
        })
        .unwrap();
        let key = extra.split(' ').next().unwrap();
        let t: String = t
            .lines()
            .filter(|l| !l.starts_with(&format!("{key} =")))
            .map(|l| format!("{l}\n"))
            .collect();
        t.replace("[chip.efficiency]\n", &format!("[chip.efficiency]\n{extra}\n"))
    };
    let mut c = Catalog::default();
    c.add_text(&text("token_buckets = [2048, 4096, 12800]"), Path::new("ok.toml"))
        .unwrap();
    let t = &c.chip("trainium2").unwrap().efficiency.token_buckets;
    assert_eq!(t, &Some(BucketList::Tokens(vec![2048, 4096, 12800])));
    for (bad, says) in [
        ("token_buckets = [4096, 2048]", "efficiency.token_buckets"),
        ("context_buckets = []", "efficiency.context_buckets"),
        ("context_buckets = \"pow3\"", "pow3"),
        ("kv_layout = \"paged\"", "paged"),
        ("kv_block_tokens = 0", "kv_block_tokens"),
    ] {
        let e = Catalog::default()
            .add_text(&text(bad), Path::new("bad.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains(says) && e.contains("bad.toml"), "{bad}: {e}");
    }
}

#[derive(serde::Serialize)]
struct ProfileFile0 {
    chip: Vec<Chip>,
}

// ---- the 2026 catalog: Blackwell, GB200 NVL72, Trainium3; FP4 peaks and fallbacks ----

#[test]
fn blackwell_and_trainium3_are_in_the_catalog_with_their_domains() {
    let c = Catalog::builtin().unwrap();
    for (inst, chip, chips, ranks) in [
        ("p6-b200.48xlarge", "b200", 8, 8),
        ("p6-b300.48xlarge", "b300", 8, 8),
        ("p6e-gb200.36xlarge", "gb200", 4, 4),
        ("trn3.48xlarge", "trainium3", 16, 64),
        ("trn3-gen2-server", "trainium3", 4, 16),
    ] {
        let hw = c.hardware(inst).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(hw.chip.name, chip, "{inst}");
        assert_eq!((hw.instance.chips, hw.ranks_per_instance()), (chips, ranks), "{inst}");
        assert!(hw.instance.price.on_demand_usd_per_hour > 0.0, "{inst} has no price");
        assert!(c.profile_file("instance", inst).starts_with("hw-profiles/"), "{inst}");
    }
    // Scale-up domains: 72 GPUs on NVLink switches, 64 and 144 Trainium3 on NeuronSwitch.
    for (inst, members, chips) in [
        ("p6e-gb200.36xlarge", 18, 72),
        ("trn3.48xlarge", 4, 64),
        ("trn3-gen2-server", 36, 144),
    ] {
        let i = c.instance(inst).unwrap();
        let u = i.ultraserver.unwrap();
        assert_eq!((u.instances, u.instances * i.chips), (members, chips), "{inst}");
        assert_eq!(u.fabric, DomainFabric::Switch, "{inst}");
    }
    assert_eq!(c.host("nvidia-grace").unwrap().cores, 72);
}

/// FP4 peaks where the chip has the path; a chip without one computes at its next dtype (fp8,
/// else bf16) and says that the weights stay in 4 bits.
#[test]
fn fp4_runs_at_the_fp4_peak_or_falls_back_with_a_note() {
    let c = Catalog::builtin().unwrap();
    for (chip, nvfp4, mxfp4) in [
        ("b200", 9000.0, 9000.0),
        ("b300", 13125.0, 13125.0),
        ("gb200", 10000.0, 10000.0),
    ] {
        let ch = c.chip(chip).unwrap();
        for (d, want) in [(Dtype::Nvfp4, nvfp4), (Dtype::Mxfp4, mxfp4)] {
            let (peak, used, note) = ch.peak_flops(d);
            assert_eq!((peak, used, note), (want * 1e12, d, None), "{chip} {d}");
        }
    }
    // Trainium3: MXFP4 at its MXFP8 rate; NVFP4 has no path and falls back to fp8.
    let t3 = c.chip("trainium3").unwrap();
    assert_eq!(t3.peak_flops(Dtype::Mxfp4), (2517.0e12, Dtype::Mxfp4, None));
    let (peak, used, note) = t3.peak_flops(Dtype::Nvfp4);
    assert_eq!((peak, used), (2517.0e12, Dtype::Fp8));
    let note = note.unwrap();
    assert!(
        note.contains("no nvfp4 fast path") && note.contains("0.5625 bytes per weight"),
        "{note}"
    );
    // Hopper: fp8; Ampere (no fp8): bf16.
    assert_eq!(c.chip("h100-sxm").unwrap().peak_flops(Dtype::Mxfp4).1, Dtype::Fp8);
    let (_, used, note) = c.chip("a100-80gb").unwrap().peak_flops(Dtype::Nvfp4);
    assert_eq!(used, Dtype::Bf16);
    assert!(note.unwrap().contains("stay stored as nvfp4"));
    // B300 lists no int8 (sources disagree): int8 falls back to its fp8 peak with a note.
    let (peak, used, note) = c.chip("b300").unwrap().peak_flops(Dtype::Int8);
    assert_eq!((peak, used), (4500.0e12, Dtype::Fp8));
    assert!(note.is_some());
}

/// Every new chip resolves with its kind's default engine (vLLM on GPUs, NxD Inference on
/// Neuron) and runs under the engines that list its kind.
#[test]
fn new_chips_resolve_with_their_default_engines() {
    let c = Catalog::builtin().unwrap();
    for (chip, default) in [
        ("b200", "vllm"),
        ("b300", "vllm"),
        ("gb200", "vllm"),
        ("trainium3", "nxdi"),
    ] {
        let ch = c.chip(chip).unwrap();
        assert_eq!(engine::default_for(ch).unwrap().name, default, "{chip}");
        let resolved = engine::with_default_engine(ch).unwrap_or_else(|e| panic!("{chip}: {e}"));
        assert_eq!(resolved.peak_tflops, ch.peak_tflops, "{chip}");
        for e in ["vllm", "trtllm", "sglang"] {
            assert_eq!(
                engine::find(e).unwrap().runs_on(ch),
                ch.kind == ChipKind::Gpu,
                "{e} on {chip}"
            );
        }
    }
    // NxD Inference multiplies quantized weights in fp8 (MXFP8) on Trainium3, in bf16 on Trainium2.
    let t3 = engine::with_default_engine(c.chip("trainium3").unwrap()).unwrap();
    assert_eq!(t3.efficiency.quantized_compute, Some(Dtype::Fp8));
    let t2 = engine::with_default_engine(c.chip("trainium2").unwrap()).unwrap();
    assert_eq!(t2.efficiency.quantized_compute, Some(Dtype::Bf16));
}
