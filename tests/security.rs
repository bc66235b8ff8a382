//! Security (robustness issue): codesim never opens a network connection. Its dependencies do
//! carry networking code (polars links tokio), so this is checked where it matters, on the
//! system calls of real runs: `strace -f -e trace=network` must record no socket at all while
//! codesim simulates, sweeps in parallel and writes every output format.

use std::path::{Path, PathBuf};
use std::process::Command;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("codesim-security-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs codesim with `args` under strace; returns the network system calls it made.
fn network_calls(dir: &Path, args: &[&str]) -> Vec<String> {
    let log = dir.join("strace.log");
    let status = Command::new("strace")
        .args(["-f", "-qq", "-e", "trace=network", "-o"])
        .arg(&log)
        .arg(env!("CARGO_BIN_EXE_codesim"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap_or_else(|e| panic!("strace is needed for this test (apt-get install strace): {e}"));
    assert!(
        status.status.success(),
        "codesim {args:?}: {}",
        String::from_utf8_lossy(&status.stderr)
    );
    std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .filter(|l| !l.contains("+++ exited") && !l.contains("--- SIG"))
        .map(str::to_string)
        .collect()
}

#[test]
fn runs_and_parallel_sweeps_open_no_socket() {
    let dir = tmp("net");
    let out = dir.join("run");
    let calls = network_calls(
        &dir,
        &[
            "run",
            "scenarios/load-trace.toml",
            "--out",
            out.to_str().unwrap(),
            "--requests",
        ],
    );
    assert!(calls.is_empty(), "network system calls during `run`: {calls:?}");
    assert!(out.join("requests.parquet").is_file() && out.join("summary.json").is_file());

    let sweep = dir.join("sweep.toml");
    std::fs::write(
        &sweep,
        r#"name = "net"
[axes]
"workload.arrival.rate_per_s" = [1.0, 2.0, 3.0, 4.0]
[base]
[base.hardware]
instance = "p5.48xlarge"
[base.model]
name = "llama-3.1-8b"
[base.workload]
requests = 50
arrival = { kind = "poisson", rate_per_s = 1.0 }
input = { kind = "fixed", tokens = 256 }
output = { kind = "fixed", tokens = 32 }
"#,
    )
    .unwrap();
    let sout = dir.join("sweep");
    let calls = network_calls(
        &dir,
        &[
            "sweep",
            sweep.to_str().unwrap(),
            "--out",
            sout.to_str().unwrap(),
            "--jobs",
            "2",
        ],
    );
    assert!(calls.is_empty(), "network system calls during `sweep`: {calls:?}");
    assert!(sout.join("results.parquet").is_file());
    std::fs::remove_dir_all(&dir).ok();
}
