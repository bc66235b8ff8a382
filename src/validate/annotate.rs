//! The engine behind each published case (`validation/engines.toml`, embedded): the published
//! files are kept as published, so the engine is read from each case's `source` by rules.

use super::case::ValidationFile;
use crate::error::{Error, Result};
use serde::Deserialize;
use std::path::Path;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Rule {
    source_contains: Vec<String>,
    #[serde(default)]
    id_prefix: Option<String>,
    engine: String,
    #[serde(default)]
    engine_version: Option<String>,
    /// Where the attribution comes from.
    #[allow(dead_code)]
    why: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Rules {
    rule: Vec<Rule>,
}

fn rules() -> Result<Vec<Rule>> {
    let r: Rules = crate::input::parse_toml(crate::assets::VALIDATION_ENGINES, Path::new("validation/engines.toml"))?;
    for (i, rule) in r.rule.iter().enumerate() {
        crate::hw::engine::find(&rule.engine)
            .map_err(|m| Error::input(Path::new("validation/engines.toml"), format!("rule[{i}].engine"), m))?;
    }
    Ok(r.rule)
}

/// Fills `engine` / `engine_version` of every case that sets neither, from the first rule that
/// matches its source and id.
pub fn apply(file: &mut ValidationFile) -> Result<()> {
    let rules = rules()?;
    for c in file.case.iter_mut().filter(|c| c.engine.is_none()) {
        let hit = rules.iter().find(|r| {
            r.source_contains.iter().all(|s| c.source.contains(s.as_str()))
                && r.id_prefix.as_ref().is_none_or(|p| c.id.starts_with(p.as_str()))
        });
        if let Some(r) = hit {
            c.engine = Some(r.engine.clone());
            if c.engine_version.is_none() {
                c.engine_version = r.engine_version.clone();
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_rules_parse_and_name_known_engines_and_versions() {
        for r in rules().unwrap() {
            let e = crate::hw::engine::find(&r.engine).unwrap();
            e.version(r.engine_version.as_deref()).unwrap();
        }
    }

    #[test]
    fn a_case_that_names_its_engine_keeps_it_and_others_get_the_rule() {
        let text = |src: &str, engine: &str| {
            format!(
                "[[case]]\nid = \"a\"\nsource = \"{src}\"\ninstance = \"p5.48xlarge\"\ninstances = 1\nchips = 1\nmodel = \"llama-3-8b\"\nweights = \"bf16\"\ncompute = \"bf16\"\ntp = 1\ntp_unit = \"gpu\"\nload = \"offline\"\nrequests = 10\ninput_tokens = 10\noutput_tokens = 10\n{engine}[case.measured]\noutput_tok_s = 1.0\n"
            )
        };
        let p = Path::new("v.toml");
        let mut f = super::super::case::parse(&text("TensorRT-LLM v0.13.0 revision", ""), p).unwrap();
        apply(&mut f).unwrap();
        assert_eq!(f.case[0].engine.as_deref(), Some("trtllm"));
        assert_eq!(f.case[0].engine_version.as_deref(), Some("0.13"));
        let mut f = super::super::case::parse(&text("TensorRT-LLM v0.13.0", "engine = \"vllm\"\n"), p).unwrap();
        apply(&mut f).unwrap();
        assert_eq!(f.case[0].engine.as_deref(), Some("vllm"));
        assert_eq!(f.case[0].engine_version, None);
        let mut f = super::super::case::parse(&text("a blog", ""), p).unwrap();
        apply(&mut f).unwrap();
        assert_eq!(f.case[0].engine, None);
    }
}
