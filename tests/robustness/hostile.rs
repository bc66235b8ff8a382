//! Hostile inputs beyond single bad keys: names that try to escape the output directory,
//! FIFOs and standard input.

use super::files::{SWEEP_BASE, case, plan};
use super::{BASE, WORKLOAD, codesim, dir, trace_scenario};
use std::path::Path;
use std::process::Command;
// ---------------------------------------------------------------------------------------------
// Output confinement

/// Every path under `root`, relative, sorted.
fn tree(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            out.push(p.strip_prefix(root).unwrap().to_string_lossy().into_owned());
            if p.is_dir() && !p.is_symlink() {
                stack.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Entries of the system temporary folder whose names say they escaped.
fn escaped_into_temp() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("escape"))
        .collect();
    v.sort();
    v
}

#[test]
fn hostile_names_write_nothing_outside_the_output_directory() {
    let root = dir("confine");
    // Four levels deep, so `../../../..` from the working directory still lands inside `root`.
    let work = root.join("a/b/c/work");
    std::fs::create_dir_all(&work).unwrap();
    let abs = root.join("abs-escape");
    let abs_s = abs.to_str().unwrap();
    let axis = "[axes]\n\"workload.arrival.rate_per_s\" = [1, 2]\n";

    // Refused: sweep names that would put the default output folder (reports/<name>) elsewhere.
    let hostile = [
        "../../../../escape",
        "../escape",
        "..",
        ".",
        ".escape",
        abs_s,
        "a\\\\..\\\\..\\\\escape",
        "escape\\u0000x",
        "escape\\nx",
        "",
    ];
    let mut files = vec![(
        "base.toml",
        format!("name = \"../../../../scenario-escape\"\n{BASE}{WORKLOAD}"),
    )];
    for (i, name) in hostile.iter().enumerate() {
        files.push((
            Box::leak(format!("hostile{i}.toml").into_boxed_str()),
            format!("name = \"{name}\"\n{axis}\n{SWEEP_BASE}"),
        ));
    }
    // Accepted: names that are never paths (a scenario's, a label axis's values, a plan's and its
    // candidates', a validation case's id) carrying the same strings.
    files.push((
        "labels.toml",
        format!(
            "name = \"labels\"\nbase = \"base.toml\"\nzip = [[\"_config\", \"workload.arrival.rate_per_s\"]]\n[axes]\n\"_config\" = [\"../../../../label-escape\", \"{abs_s}\"]\n\"workload.arrival.rate_per_s\" = [1, 2]\n"
        ),
    ));
    files.push((
        "plan.toml",
        String::from_utf8(plan(&[
            ("name = \"p\"", "name = \"../../../../plan-escape\""),
            ("name = \"h100\"", &format!("name = \"{abs_s}\"")),
        ]))
        .unwrap()
            + "[[whatif]]\nname = \"../../../../whatif-escape\"\nprice_scale = 0.5\n[[whatif.candidate]]\nname = \"../../../../candidate-escape\"\nscenario = { hardware = { instance = \"p5.4xlarge\" }, model = { name = \"llama-3.2-1b\" } }\n",
    ));
    files.push((
        "published.toml",
        String::from_utf8(case(&[("id = \"x\"", "id = \"../../../../case-escape\"")])).unwrap(),
    ));
    for (name, text) in &files {
        std::fs::write(work.join(name), text).unwrap();
    }

    let before = tree(&root);
    let temp_before = escaped_into_temp();
    for (i, name) in hostile.iter().enumerate() {
        let f = format!("hostile{i}.toml");
        let (code, stderr) = codesim(&["sweep", &f, "--no-plots"], &work);
        assert_eq!(code, 2, "{name:?}: {stderr}");
        assert!(stderr.contains("name"), "{name:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    }
    assert_eq!(tree(&root), before, "a refused sweep wrote something");

    let runs: [&[&str]; 4] = [
        &["sweep", "labels.toml", "--out", "out-sweep"],
        &["plan", "plan.toml", "--out", "out-plan"],
        &["run", "base.toml", "--out", "out-run", "--requests"],
        &["validate", "published.toml", "--out", "out-validate"],
    ];
    for args in runs {
        let (code, stderr) = codesim(args, &work);
        assert_eq!(code, 0, "{args:?}: {stderr}");
    }
    let after = tree(&root);
    let new: Vec<&String> = after.iter().filter(|p| !before.contains(p)).collect();
    assert!(new.len() > 20, "the commands wrote their outputs: {new:?}");
    for p in &new {
        let inside = ["out-sweep", "out-plan", "out-run", "out-validate"]
            .iter()
            .any(|o| p.starts_with(&format!("a/b/c/work/{o}")));
        assert!(inside, "{p} was written outside the output directories");
    }
    assert!(!abs.exists(), "{abs_s} was created");
    assert_eq!(
        escaped_into_temp(),
        temp_before,
        "something escaped into the temporary folder"
    );
}

/// Runs codesim with `stdin` piped in, killing it after 60 s: a read that blocks (a FIFO with no
/// writer) fails the test instead of hanging it.
fn codesim_with_stdin(args: &[&str], cwd: &Path, stdin: &[u8]) -> (i32, String) {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_codesim"))
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A refused input may exit before reading: a broken pipe here is fine.
    let _ = child.stdin.take().unwrap().write_all(stdin);
    let start = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > std::time::Duration::from_secs(60) {
            child.kill().unwrap();
            panic!("codesim {args:?} still running after 60 s: it blocked on its input");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Issue 18, item 8: a FIFO given as scenario, trace or HF config.json is refused before it is
/// opened (opening one blocks until a writer comes), with one line naming it; standard input
/// (`-` or `/dev/stdin`) is still read. Skipped where `mkfifo` is not available.
#[test]
fn fifos_are_refused_and_standard_input_is_read() {
    let d = dir("fifo");
    std::fs::create_dir_all(d.join("m")).unwrap();
    let made = ["pipe", "m/config.json"].iter().all(|f| {
        Command::new("mkfifo")
            .arg(d.join(f))
            .status()
            .is_ok_and(|s| s.success())
    });
    if !made {
        eprintln!("skipped: mkfifo is not available");
        return;
    }
    std::fs::write(d.join("trace.toml"), trace_scenario("pipe")).unwrap();
    let hf = format!("[hardware]\ninstance = \"p5.48xlarge\"\n[model]\nname = \"m/config.json\"\n{WORKLOAD}");
    std::fs::write(d.join("hf.toml"), hf).unwrap();
    let cases: [(&str, &[&str], &str); 3] = [
        ("FIFO as scenario", &["run", "pipe"], "pipe"),
        ("FIFO as trace", &["run", "trace.toml"], "pipe"),
        ("FIFO as HF config.json", &["run", "hf.toml"], "config.json"),
    ];
    for (what, args, file) in cases {
        let (code, stderr) = codesim_with_stdin(args, &d, b"");
        assert_eq!(code, 2, "{what}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{what}: one line: {stderr}");
        for n in [file, "FIFO", "not a file"] {
            assert!(stderr.contains(n), "{what}: expected `{n}` in: {stderr}");
        }
    }
    let scenario = format!("{BASE}{WORKLOAD}");
    for path in ["-", "/dev/stdin"] {
        let (code, stderr) = codesim_with_stdin(&["run", path], &d, scenario.as_bytes());
        assert_eq!(code, 0, "run {path} with the scenario on standard input: {stderr}");
    }
}

/// Issue 18, item 8: standard input carries a scenario-sized file; an endless stream (`yes |
/// codesim run -`) is refused after 64 MiB, not read to gigabytes.
#[test]
fn endless_standard_input_is_refused_at_a_scenario_size() {
    let d = dir("stdin-cap");
    let flood = b"y\n".repeat((64 << 20) / 2 + 1024);
    let (code, stderr) = codesim_with_stdin(&["run", "-"], &d, &flood);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("64 MiB") && stderr.contains("standard input"),
        "{stderr}"
    );
}
