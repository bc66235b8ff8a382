//! Cases measured beyond a model's nominal context. A benchmark that runs Llama-2 (4,096
//! positions) at 8,192 or 16,384 total tokens configured its deployment for that context (Neuron's
//! `n_positions`, vLLM's `max_model_len`, RoPE scaling); the speed it measured does not depend on
//! what the model was trained for. Such a case is simulated with `model.max_context` raised to
//! what its longest request needs, and its report row says so.

use super::case::Case;
use super::features::{Length, Lengths};
use crate::hw::Hardware;
use crate::perf::shape::ShapeRules;
use std::path::Path;

/// The context a case is served at, beyond its model's nominal one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaisedContext {
    /// `model.max_context` of the case's scenario, tokens.
    pub tokens: u32,
    /// The model's nominal context (`max_position_embeddings`).
    pub nominal: u32,
    /// The case's longest request: the largest prompt plus the largest output, tokens.
    pub longest: u64,
}

impl RaisedContext {
    /// The case's scenario with `model.max_context` set; `None` when the text has no `[model]`
    /// table to set it in (then the case runs, or is skipped, as written).
    pub fn apply(&self, scenario: &str) -> Option<String> {
        let mut doc: toml::Table = scenario.parse().ok()?;
        let model = doc.get_mut("model")?.as_table_mut()?;
        model.insert("max_context".into(), toml::Value::Integer(self.tokens.into()));
        Some(doc.to_string())
    }

    /// For the report's per-case notes.
    pub fn note(&self) -> String {
        format!(
            "served at model.max_context = {} tokens, beyond the model's nominal {} (its longest request, {} tokens, padded to the chip's token bucket)",
            self.tokens, self.nominal, self.longest
        )
    }
}

/// Case `c`'s scenario `text`, served at a raised context when its longest request needs one
/// (and what it was raised to, for [`noted`]).
pub fn serve_at_needed_context(c: &Case, hw: &Hardware, file: &Path, text: String) -> (String, Option<RaisedContext>) {
    match raised_context(c, hw, file).and_then(|r| Some((r.apply(&text)?, r))) {
        Some((raised_text, r)) => (raised_text, Some(r)),
        None => (text, None),
    }
}

/// The report's notes of a case (`features`), with the raised context's note appended.
pub fn noted(features: String, raised: Option<&RaisedContext>) -> String {
    match raised {
        None => features,
        Some(r) if features.is_empty() => r.note(),
        Some(r) => format!("{features}; {}", r.note()),
    }
}

/// The context case `c` must be served at when its longest request exceeds its model's nominal
/// context, else `None` (as also when the model does not resolve: the case's scenario then says
/// why). The longest request is rounded up to the chip's token-generation bucket: a Neuron
/// deployment compiles its decode graphs, and with them its `n_positions`, for bucket lengths, so
/// the context it is configured for is the bucket that holds the longest request (a GPU engine
/// compiles exact shapes and takes the length as is).
pub fn raised_context(c: &Case, hw: &Hardware, file: &Path) -> Option<RaisedContext> {
    let dir = file.parent().unwrap_or(Path::new(""));
    let model = crate::model::resolve_builtin(&c.model, dir, file, "model").ok()?;
    let longest = max_tokens(c.input_length()) + max_tokens(c.output_length());
    if longest <= model.max_context as u64 {
        return None;
    }
    // The buckets are the engine's (the case's, else the chip's default).
    let (engine, version) =
        crate::hw::engine::resolve(c.engine.as_deref(), c.engine_version.as_deref(), &hw.chip).ok()?;
    let chip = engine.apply_to(version, &hw.chip).ok()?;
    let bucket = ShapeRules::from_efficiency(&chip.efficiency).token.pad(longest);
    Some(RaisedContext {
        tokens: u32::try_from(bucket).ok()?,
        nominal: model.max_context,
        longest,
    })
}

/// The largest length a case's prompt or output can take.
fn max_tokens(l: Length) -> u64 {
    match l {
        Length::Fixed(n) => n as u64,
        Length::Dist(Lengths::Uniform { max, .. } | Lengths::Lognormal { max, .. } | Lengths::Normal { max, .. }) => {
            max as u64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hw::Catalog;
    use crate::validate::{parse, run_cases};

    /// A static-batch case of one request of `input` + `output` tokens.
    fn case(instance: &str, model: &str, tp: u32, chips: u32, tp_unit: &str, input: u32, output: u32) -> Case {
        let text = format!(
            "[[case]]\nid = \"c\"\nsource = \"test\"\ninstance = \"{instance}\"\ninstances = 1\nchips = {chips}\nmodel = \"{model}\"\nweights = \"bf16\"\ncompute = \"bf16\"\ntp = {tp}\ntp_unit = \"{tp_unit}\"\nload = \"static\"\nconcurrency = 1\ninput_tokens = {input}\noutput_tokens = {output}\n[case.measured]\noutput_tok_s = 100.0\n"
        );
        parse(&text, Path::new("v.toml")).unwrap().case.remove(0)
    }

    /// Llama-2-7B (4,096 positions) asked for 100 + 4,100 = 4,200 tokens: an H100 engine takes
    /// the length as is; Neuron compiles power-of-two token buckets from 128, so its context is
    /// the bucket that holds 4,200, 8,192.
    #[test]
    fn the_raised_context_is_the_longest_request_padded_to_the_token_bucket() {
        let catalog = Catalog::builtin().unwrap();
        let file = Path::new("v.toml");
        let p5 = catalog.hardware("p5.48xlarge").unwrap();
        let gpu = case("p5.48xlarge", "llama-2-7b", 1, 1, "gpu", 100, 4100);
        let r = raised_context(&gpu, &p5, file).unwrap();
        assert_eq!((r.tokens, r.nominal, r.longest), (4200, 4096, 4200));
        let inf2 = catalog.hardware("inf2.48xlarge").unwrap();
        let neuron = case("inf2.48xlarge", "llama-2-7b", 24, 12, "neuroncore", 100, 4100);
        assert_eq!(raised_context(&neuron, &inf2, file).unwrap().tokens, 8192);
    }

    /// A case whose longest request fits its model's context keeps its scenario as written, so its
    /// figures are those of the same case before `model.max_context` existed.
    #[test]
    fn a_case_that_fits_is_simulated_as_written() {
        let catalog = Catalog::builtin().unwrap();
        let p5 = catalog.hardware("p5.48xlarge").unwrap();
        let fits = case("p5.48xlarge", "llama-2-7b", 1, 1, "gpu", 96, 4000);
        assert_eq!(raised_context(&fits, &p5, Path::new("v.toml")), None);
        let text = fits.scenario_toml(&p5).unwrap();
        let (served, raised) = serve_at_needed_context(&fits, &p5, Path::new("v.toml"), text.clone());
        assert_eq!((served, raised), (text, None));
        assert_eq!(noted(String::new(), None), "");
    }

    /// The case beyond the nominal context runs at the raised context, and its report rows say so.
    #[test]
    fn a_case_beyond_the_nominal_context_runs_and_its_rows_say_at_what_context() {
        let c = case("p5.48xlarge", "llama-2-7b", 1, 1, "gpu", 100, 4100);
        let r = run_cases(std::slice::from_ref(&c), Path::new("v.toml")).unwrap();
        assert!(r.skipped.is_empty(), "{:?}", r.skipped);
        assert_eq!(r.rows.len(), 1);
        let f = &r.rows[0].features;
        assert!(
            f.contains("model.max_context = 4200") && f.contains("nominal 4096"),
            "{f}"
        );
    }

    const PUBLISHED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/validation/published.toml");

    /// The published Neuron benchmarks ran Llama-2 at 8,192 and 16,384 total tokens: the six
    /// cases beyond its 4,096 positions are simulated, none skipped.
    #[test]
    fn the_published_cases_beyond_llama_2s_context_are_simulated() {
        let path = Path::new(PUBLISHED);
        let file = parse(&crate::input::read_text(path).unwrap(), path).unwrap();
        let catalog = Catalog::builtin().unwrap();
        let beyond: Vec<Case> = file
            .case
            .into_iter()
            .filter(|c| {
                let hw = catalog.hardware(&c.instance).unwrap();
                raised_context(c, &hw, path).is_some()
            })
            .collect();
        assert_eq!(
            beyond.len(),
            6,
            "{:?}",
            beyond.iter().map(|c| &c.id).collect::<Vec<_>>()
        );
        let r = run_cases(&beyond, path).unwrap();
        assert!(r.skipped.is_empty(), "{:?}", r.skipped);
        let measured: usize = beyond.iter().map(|c| c.measured.present().len()).sum();
        assert_eq!(r.rows.len(), measured);
        assert!(
            r.rows
                .iter()
                .all(|x| x.features.contains("model.max_context") && x.predicted.is_finite() && x.predicted > 0.0)
        );
    }
}
