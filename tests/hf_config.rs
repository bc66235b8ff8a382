//! Hugging Face config.json files that must be refused at load (issue 18, class 5; issue 19):
//! heads that do not divide hidden_size without head_dim, fields of the wrong type, absurd
//! layer, expert and size counts, bad layer kinds. Each through the binary: exit 2, one line
//! naming the file, the config key, the bad value and what is accepted.

use std::path::{Path, PathBuf};
use std::process::Command;

const LLAMA: &str = r#"{"model_type": "llama", "hidden_size": 4096, "num_hidden_layers": 32,
 "num_attention_heads": 32, "num_key_value_heads": 8, "intermediate_size": 14336,
 "vocab_size": 128256, "max_position_embeddings": 8192, "tie_word_embeddings": false}"#;

const MIXTRAL: &str = r#"{"model_type": "mixtral", "hidden_size": 4096, "num_hidden_layers": 32,
 "num_attention_heads": 32, "num_key_value_heads": 8, "intermediate_size": 14336,
 "num_local_experts": 8, "num_experts_per_tok": 2, "vocab_size": 32000,
 "max_position_embeddings": 32768}"#;

const GPT_OSS: &str = r#"{"model_type": "gpt_oss", "hidden_size": 2880, "num_hidden_layers": 4,
 "num_attention_heads": 64, "num_key_value_heads": 8, "head_dim": 64, "intermediate_size": 2880,
 "num_local_experts": 32, "num_experts_per_tok": 4, "vocab_size": 201088,
 "max_position_embeddings": 131072, "sliding_window": 128,
 "layer_types": ["sliding_attention", "full_attention", "sliding_attention", "full_attention"]}"#;

fn dir(test: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("codesim-hf-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(d.join("m")).unwrap();
    d
}

/// Runs a scenario on `config` as `m/config.json`: (exit code, stderr).
fn run_on(d: &Path, config: &str) -> (i32, String) {
    std::fs::write(d.join("m/config.json"), config).unwrap();
    let scenario = "[hardware]\ninstance = \"p5en.48xlarge\"\n[model]\nname = \"m/config.json\"\n[workload]\nrequests = 4\narrival = { kind = \"poisson\", rate_per_s = 1.0 }\ninput = { kind = \"fixed\", tokens = 100 }\noutput = { kind = \"fixed\", tokens = 10 }\n";
    std::fs::write(d.join("s.toml"), scenario).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_codesim"))
        .args(["run", "s.toml"])
        .current_dir(d)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_hf_configs_are_refused_naming_key_value_and_range() {
    let d = dir("bad");
    let cases: Vec<(&str, String, Vec<&str>)> = vec![
        (
            "heads do not divide hidden_size",
            LLAMA.replace("\"num_attention_heads\": 32", "\"num_attention_heads\": 30"),
            vec![
                "num_attention_heads",
                "is 30",
                "does not divide hidden_size = 4096",
                "head_dim",
            ],
        ),
        (
            "a number as a string",
            LLAMA.replace("\"hidden_size\": 4096", "\"hidden_size\": \"4096\""),
            vec!["hidden_size", "\"4096\"", "non-negative integer"],
        ),
        (
            "a fraction",
            LLAMA.replace("\"num_hidden_layers\": 32", "\"num_hidden_layers\": 32.5"),
            vec!["num_hidden_layers", "32.5", "non-negative integer"],
        ),
        (
            "a string for a boolean",
            LLAMA.replace("\"tie_word_embeddings\": false", "\"tie_word_embeddings\": \"no\""),
            vec!["tie_word_embeddings", "\"no\"", "true or false"],
        ),
        (
            "beyond u32",
            LLAMA.replace("\"vocab_size\": 128256", "\"vocab_size\": 100000000000000000000"),
            vec!["vocab_size", "1e+20", "up to 4294967295"],
        ),
        (
            "120 M experts",
            MIXTRAL.replace("\"num_local_experts\": 8", "\"num_local_experts\": 120000000"),
            vec!["num_local_experts (model moe.experts)", "is 120000000", "1 to 4096"],
        ),
        (
            "a billion layers",
            LLAMA.replace("\"num_hidden_layers\": 32", "\"num_hidden_layers\": 1000000000"),
            vec!["num_hidden_layers", "is 1000000000", "1 to 1024"],
        ),
        (
            "a 4-billion-wide hidden state",
            LLAMA.replace("\"hidden_size\": 4096", "\"hidden_size\": 4000000000"),
            vec!["hidden_size (model hidden)", "is 4000000000", "1 to 131072"],
        ),
        (
            "an unknown layer type",
            GPT_OSS.replace(
                "\"sliding_attention\", \"full_attention\", \"sliding",
                "\"global_attention\", \"full_attention\", \"sliding",
            ),
            vec![
                "layer_types[0]",
                "\"global_attention\"",
                "full_attention, sliding_attention",
            ],
        ),
        (
            "layer_types of the wrong length",
            GPT_OSS.replace("\"num_hidden_layers\": 4", "\"num_hidden_layers\": 6"),
            vec!["layer_types", "num_hidden_layers = 6"],
        ),
        (
            "a window of 0",
            GPT_OSS.replace("\"sliding_window\": 128", "\"sliding_window\": 0"),
            vec!["sliding_window (model layer_pattern.window)", "is 0", "1 to"],
        ),
        (
            "a quantization_config that is not an object",
            LLAMA.replace("\"tie_word_embeddings\": false", "\"quantization_config\": \"fp8\""),
            vec!["quantization_config", "\"fp8\"", "quant_method"],
        ),
        (
            "Llama 4 without its text_config",
            r#"{"model_type": "llama4"}"#.to_string(),
            vec!["text_config", "missing", "JSON object"],
        ),
    ];
    for (what, config, words) in cases {
        let (code, err) = run_on(&d, &config);
        assert_eq!(code, 2, "{what}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{what}: one line, got {err}");
        assert!(err.contains("config.json"), "{what}: names the file: {err}");
        assert!(!err.contains("panicked"), "{what}: {err}");
        for w in words {
            assert!(err.contains(w), "{what}: `{w}` missing from {err}");
        }
    }
    let _ = std::fs::remove_dir_all(&d);
}

/// The new keys are understood: a gpt-oss config runs, and an MXFP4 one records the format.
#[test]
fn a_gpt_oss_config_runs() {
    let d = dir("good");
    let config = GPT_OSS.replace(
        "\"sliding_window\"",
        "\"quantization_config\": {\"quant_method\": \"mxfp4\"}, \"sliding_window\"",
    );
    let (code, err) = run_on(&d, &config);
    assert_eq!(code, 0, "{err}");
    let _ = std::fs::remove_dir_all(&d);
}
