//! Golden outputs: the full JSON summary and a digest of the per-request rows of several
//! example scenarios, byte for byte. Speed work on the engine must not change a single result;
//! a deliberate model change regenerates the files with `CODESIM_UPDATE_GOLDEN=1 cargo test
//! --test golden` and says why in its commit.

use codesim::sim::{RunOptions, Simulation};
use std::path::Path;

const SCENARIOS: &[&str] = &[
    "quickstart",
    "load-closed",
    "load-closed-llmperf",
    "load-static",
    "load-trace",
    "serving-chunked",
    "serving-swap",
    "serving-classes",
    "serving-disaggregated",
    "serving-fleet",
    "serving-pipeline",
    "serving-prefix-affinity",
    "feature-prefix-cache",
    "feature-prefix-cache-mooncake",
    "feature-speculative",
    "feature-moe-ep",
    "infra-frontend",
];

/// FNV-1a over the rows' debug text: any change in any request's figures changes it.
fn digest(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

fn golden_text(name: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let path = root.join("scenarios").join(format!("{name}.toml"));
    let sc = codesim::scenario::load(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
    // Future options keep their defaults.
    #[allow(clippy::needless_update)]
    let opts = RunOptions {
        keep_requests: true,
        ..Default::default()
    };
    let (mut r, rows) = Simulation::new(&sc, opts)
        .unwrap_or_else(|e| panic!("{name}: {e}"))
        .run()
        .unwrap();
    r.sim.wall_s = 0.0;
    let rows_text: String = rows.iter().map(|row| format!("{row:?}\n")).collect();
    let mut out = serde_json::to_string_pretty(&r).unwrap();
    out.push_str(&format!("\nrows {} digest {}\n", rows.len(), digest(&rows_text)));
    out
}

#[test]
fn example_scenarios_reproduce_their_golden_outputs_byte_for_byte() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let update = std::env::var_os("CODESIM_UPDATE_GOLDEN").is_some();
    let mut failed = Vec::new();
    for name in SCENARIOS {
        let got = golden_text(name);
        let file = dir.join(format!("{name}.txt"));
        if update {
            std::fs::write(&file, &got).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("{}: {e} (generate with CODESIM_UPDATE_GOLDEN=1)", file.display()));
        if got != want {
            let line = got.lines().zip(want.lines()).position(|(a, b)| a != b).unwrap_or(0);
            failed.push(format!(
                "{name}: first difference at line {}:\n  got  {}\n  want {}",
                line + 1,
                got.lines().nth(line).unwrap_or(""),
                want.lines().nth(line).unwrap_or("")
            ));
        }
    }
    assert!(failed.is_empty(), "golden outputs changed:\n{}", failed.join("\n"));
}
