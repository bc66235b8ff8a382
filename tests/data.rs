//! The bundled data (`data/traces`, `data/validation`) are copies of `../shared`, which stays the
//! source of truth: where `../shared` is beside the clone, every file it holds must have a
//! byte-identical copy here (and every copy here an original there), so an update to
//! `../shared` that was not copied fails. Without `../shared` (a fresh clone) the copies must
//! still be complete: every file the examples and tests name is present and non-empty.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// The data files of a folder (READMEs and licence texts are the copy's own documents).
fn data_files(dir: &Path, ext: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| ext.iter().any(|x| n.ends_with(x)))
        .collect();
    v.sort();
    v
}

const TRACES: [&str; 4] = [
    "AzureLLMInferenceTrace_code.csv",
    "AzureLLMInferenceTrace_conv.csv",
    "conversation_trace.jsonl",
    "synthetic_trace.jsonl",
];
const VALIDATION: [&str; 2] = ["published-2.toml", "published.toml"];

#[test]
fn bundled_data_is_complete_with_attribution_and_licences() {
    let d = root().join("data");
    assert_eq!(data_files(&d.join("traces"), &[".csv", ".jsonl"]), TRACES);
    assert_eq!(data_files(&d.join("validation"), &[".toml"]), VALIDATION);
    for f in [
        "README.md",
        "traces/README.md",
        "traces/LICENSE-CC-BY-4.0.txt",
        "traces/LICENSE-APACHE-2.0.txt",
        "validation/README.md",
    ] {
        let len = std::fs::metadata(d.join(f)).map(|m| m.len()).unwrap_or(0);
        assert!(len > 0, "data/{f} is missing or empty");
    }
    let readme = std::fs::read_to_string(d.join("traces/README.md")).unwrap();
    for name in TRACES {
        assert!(readme.contains(name), "data/traces/README.md does not attribute {name}");
    }
}

#[test]
fn bundled_data_is_byte_identical_to_shared_when_it_is_beside_the_clone() {
    let shared = root().join("../shared");
    if !shared.is_dir() {
        // Nothing to compare with: the completeness test above still runs.
        eprintln!("note: ../shared is not beside the clone; the copies in data/ are not compared");
        return;
    }
    for (sub, ext) in [("traces", &[".csv", ".jsonl"][..]), ("validation", &[".toml"][..])] {
        let (src, copy) = (shared.join(sub), root().join("data").join(sub));
        let names = data_files(&src, ext);
        assert_eq!(
            names,
            data_files(&copy, ext),
            "data/{sub} and ../shared/{sub} hold different files: copy ../shared/{sub} into data/{sub}"
        );
        for n in names {
            let (a, b) = (
                std::fs::read(src.join(&n)).unwrap(),
                std::fs::read(copy.join(&n)).unwrap(),
            );
            assert!(
                a == b,
                "data/{sub}/{n} differs from ../shared/{sub}/{n} (the source of truth): copy it again"
            );
        }
    }
}
