//! Embeds `hw-profiles/*.toml`, `scenarios/models/*.toml` and `engines/*.toml` into the binary so that `codesim`
//! works from any directory and never needs the network. Files are sorted by name so the
//! generated code (and so the catalog order) is deterministic.

use std::fs;
use std::path::Path;

fn embed(dir: &str, out: &mut String, konst: &str) {
    println!("cargo:rerun-if-changed={dir}");
    let mut files: Vec<_> = fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.retain(|p: &std::path::PathBuf| p.extension().is_some_and(|e| e == "toml"));
    files.sort();
    out.push_str(&format!("pub const {konst}: &[(&str, &str)] = &[\n"));
    for p in files {
        println!("cargo:rerun-if-changed={}", p.display());
        let abs = fs::canonicalize(&p).expect("canonical path");
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        out.push_str(&format!(
            "    ({name:?}, include_str!({:?})),\n",
            abs.display().to_string()
        ));
    }
    out.push_str("];\n");
}

/// How the binary was optimised, for `codesim bench` to print beside its figures: with a profile
/// (`scripts/pgo.sh build` passes `-Cprofile-use`), instrumented for one (`-Cprofile-generate`),
/// or neither.
fn pgo() -> &'static str {
    let flags = std::env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    // `-Cname=value` or `-C name=value`: the codegen options, without their `-C`.
    let args: Vec<&str> = flags.split('\x1f').collect();
    let codegen: Vec<&str> = args
        .iter()
        .enumerate()
        .filter_map(|(i, a)| match a.strip_prefix("-C") {
            Some("") => args.get(i + 1).copied(),
            Some(opt) => Some(opt),
            None => None,
        })
        .collect();
    let has = |name: &str| codegen.iter().any(|o| o.starts_with(name));
    if has("profile-use") {
        "profile-use"
    } else if has("profile-generate") {
        "profile-generate"
    } else {
        "none"
    }
}

fn main() {
    println!("cargo:rerun-if-env-changed=CARGO_ENCODED_RUSTFLAGS");
    println!("cargo:rustc-env=CODESIM_PGO={}", pgo());
    let mut out = String::new();
    embed("hw-profiles", &mut out, "HW_PROFILES");
    embed("scenarios/models", &mut out, "MODEL_PRESETS");
    embed("engines", &mut out, "ENGINE_PROFILES");
    let dest = Path::new(&std::env::var("OUT_DIR").unwrap()).join("embedded.rs");
    fs::write(dest, out).expect("write embedded.rs");
}
