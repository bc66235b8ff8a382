//! `model.max_context`: the context a deployment is configured for replaces the model's nominal
//! one in every context limit of the run (load-time fit checks, the engine's refusal of prompt +
//! max_tokens > max_model_len, the default max_tokens), and changes nothing for a workload that
//! already fits.

use codesim::metrics::RunResult;
use codesim::scenario::load_str;
use codesim::sim::simulate;
use std::path::{Path, PathBuf};

/// Llama-2-7B: a nominal context of 4,096 tokens (`max_position_embeddings`).
const H100_7B: &str = "[hardware]\ninstance = \"p5.48xlarge\"\n[model]\nname = \"llama-2-7b\"\n";

fn with_context(base: &str, max_context: Option<u32>) -> String {
    match max_context {
        Some(n) => base.replacen("[model]\n", &format!("[model]\nmax_context = {n}\n"), 1),
        None => base.to_string(),
    }
}

fn run_at(text: &str, path: &Path) -> RunResult {
    let sc = load_str(text, path).unwrap_or_else(|e| panic!("{e}"));
    let mut r = simulate(&sc).unwrap();
    r.sim.wall_s = 0.0;
    r
}

fn run(text: &str) -> RunResult {
    run_at(text, Path::new("context-test.toml"))
}

/// 3,000-token prompts with max_tokens = 1,200 need 4,200 tokens of context: beyond Llama-2-7B's
/// 4,096 the engine refuses every one (the existing fit check); served at 8,192 every one
/// completes, and the run says at what context it served the model. A configured context below
/// the nominal one binds as well: at 3,500, prompt + max_tokens = 3,000 + 1,000 is refused.
#[test]
fn the_fit_check_reads_the_configured_context() {
    let work = |max_tokens: u32| {
        format!(
            "[workload]\nrequests = 20\nmax_tokens = {max_tokens}\narrival = {{ kind = \"poisson\", rate_per_s = 5.0 }}\ninput = {{ kind = \"fixed\", tokens = 3000 }}\noutput = {{ kind = \"fixed\", tokens = 10 }}\n"
        )
    };
    let nominal = run(&format!("{H100_7B}{}", work(1200)));
    assert_eq!((nominal.requests.completed, nominal.requests.dropped), (0, 20));

    let served = run(&with_context(&format!("{H100_7B}{}", work(1200)), Some(8192)));
    assert_eq!((served.requests.completed, served.requests.dropped), (20, 0));
    assert!(
        served
            .notes
            .iter()
            .any(|n| n.contains("served at 8192 tokens beyond the model's nominal 4096")),
        "{:?}",
        served.notes
    );

    let shorter = run(&with_context(&format!("{H100_7B}{}", work(1000)), Some(3500)));
    assert_eq!((shorter.requests.completed, shorter.requests.dropped), (0, 20));
    assert!(
        shorter.notes.iter().all(|n| !n.contains("model.max_context")),
        "a context below the nominal one is a plain configuration, not noted: {:?}",
        shorter.notes
    );
}

/// Requests that set no max_tokens (a trace without the column) may generate up to
/// max_model_len − prompt, where max_model_len = min(the replica's KV tokens, the configured
/// context): 2,048 on an H100 whose KV cache holds far more, not Llama-2-7B's 4,096.
#[test]
fn the_default_max_tokens_reads_the_configured_context() {
    let dir = std::env::temp_dir().join(format!("codesim-context-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("t.csv"),
        "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:47.0,1000,500\n2023-11-16 18:15:48.0,1000,500\n",
    )
    .unwrap();
    let text = with_context(
        &format!("{H100_7B}[workload]\narrival = {{ kind = \"trace\", path = \"t.csv\" }}\n"),
        Some(2048),
    );
    let path: PathBuf = dir.join("s.toml");
    let r = run_at(&text, &path);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(r.requests.completed, 2);
    assert_eq!(r.requests.output_tokens_produced, 1000, "500 each, within 2048 − 1000");
    assert!(
        r.notes.iter().any(|n| n.contains("max_model_len = 2048")),
        "{:?}",
        r.notes
    );
}

/// A workload that fits the nominal context runs identically whatever context the deployment
/// is configured for, as long as it holds the longest request: the context is a limit, not a
/// cost (attention cost grows with the tokens a sequence holds, never with the context it may
/// reach). Every figure equal, byte for byte, apart from the note that names the raised context.
#[test]
fn a_context_that_holds_the_workload_changes_nothing() {
    let base = format!(
        "{H100_7B}[workload]\nrequests = 200\narrival = {{ kind = \"poisson\", rate_per_s = 20.0 }}\ninput = {{ kind = \"lognormal\", mean = 1000.0, cv = 1.0, max = 3000 }}\noutput = {{ kind = \"uniform\", min = 10, max = 1000 }}\n"
    );
    let json = |mut r: RunResult| {
        r.notes.retain(|n| !n.starts_with("model.max_context"));
        serde_json::to_string(&r).unwrap()
    };
    let nominal = json(run(&base));
    // 4,000 = the longest request (3,000 + 1,000); 4,096 = the nominal context; 32,768 beyond it.
    for ctx in [4000, 4096, 32_768] {
        assert_eq!(
            json(run(&with_context(&base, Some(ctx)))),
            nominal,
            "max_context = {ctx}"
        );
    }
}
