//! Replays every committed fuzz corpus file (`fuzz/corpus/<target>/*`) through the same entry
//! points as the libFuzzer targets, on stable Rust, so `cargo test` guards the crashes the fuzzers
//! found (their minimized inputs are in the corpus) without needing nightly or cargo-fuzz.
//! Each entry asserts "a value or a codesim input error naming its file, never a panic".

#[path = "../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod entries;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus").join(target)
}

fn files(target: &str) -> Vec<PathBuf> {
    let dir = corpus_dir(target);
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    v
}

#[test]
fn every_corpus_file_is_read_without_panic() {
    let mut failures = Vec::new();
    let mut slow = Vec::new();
    for target in entries::TARGETS {
        let inputs = files(target);
        assert!(!inputs.is_empty(), "fuzz/corpus/{target} has no seed");
        for file in inputs {
            let data = std::fs::read(&file).unwrap();
            let start = Instant::now();
            let outcome = std::panic::catch_unwind(|| entries::run(target, &data));
            let took = start.elapsed();
            if outcome.is_err() {
                failures.push(format!("{target}: {}", file.display()));
            }
            if took > Duration::from_secs(2) {
                slow.push(format!("{target}: {} took {took:?}", file.display()));
            }
        }
    }
    assert!(failures.is_empty(), "panicked on:\n{}", failures.join("\n"));
    assert!(
        slow.is_empty(),
        "too slow (an input must be refused quickly):\n{}",
        slow.join("\n")
    );
}

#[test]
fn corpus_folders_match_the_targets() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let mut dirs: Vec<String> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    dirs.sort();
    let mut targets: Vec<String> = entries::TARGETS.iter().map(|t| t.to_string()).collect();
    targets.sort();
    assert_eq!(
        dirs, targets,
        "every corpus folder is a fuzz target and every target has one"
    );
}

#[test]
fn entries_reject_what_the_cli_rejects() {
    // The entries are not vacuous: a panic inside a reader would fail them. Bad inputs give
    // input errors, so these return normally; an unknown target name is a bug in the harness.
    entries::run("scenario", b"[hardware\n");
    entries::run(
        "trace_vidur",
        b"arrived_at,num_prefill_tokens,num_decode_tokens\n0,0,1\n",
    );
    assert!(std::panic::catch_unwind(|| entries::run("no-such-target", b"")).is_err());
}
