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

fn main() {
    let mut out = String::new();
    embed("hw-profiles", &mut out, "HW_PROFILES");
    embed("scenarios/models", &mut out, "MODEL_PRESETS");
    embed("engines", &mut out, "ENGINE_PROFILES");
    let dest = Path::new(&std::env::var("OUT_DIR").unwrap()).join("embedded.rs");
    fs::write(dest, out).expect("write embedded.rs");
}
