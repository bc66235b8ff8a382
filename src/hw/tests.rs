use super::*;

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
