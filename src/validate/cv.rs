//! `codesim validate --cv FILE...`: leave-one-group-out cross-validation. A group is one source
//! (the publishing document) on one hardware family under one engine version; each group's cases
//! are predicted by efficiencies re-fitted on every other group, so the error is what a user
//! should expect on a setup the fit never saw.
//!
//! A held-out group's own (chip, engine version) has, by construction, no other cases unless
//! another source measured it, so the re-fit falls back, in this order, to the first set of
//! remaining cases that is not empty: the same chip and engine version; the same chip and engine
//! (other versions); the same chip (other engines); the same engine version on other chips of the
//! same kind; every remaining case on chips of the same kind. The shipped profiles' fallback
//! follows the same order (`engines/*.toml` version sections over engine sections over the chip
//! profile), so the cross-validated error is the error of that fallback.

use super::calibrate::{Target, fit, overrides, parameters, start_values};
use super::{Report, Row, Skip, family, parse, run_case_with, summarise};
use crate::error::Result;
use crate::hw::{Catalog, Chip};
use serde::Serialize;
use std::path::PathBuf;

/// One held-out group and what its re-fit was trained on.
#[derive(Debug, Clone, Serialize)]
pub struct Fold {
    pub group: String,
    pub target: String,
    pub cases: usize,
    /// Which fallback level supplied the training cases, and how many.
    pub trained_on: String,
    pub training_cases: usize,
}

/// Fit (in-sample, the shipped profiles) and cross-validated (held-out) errors.
#[derive(Debug, Clone, Serialize)]
pub struct CvReport {
    pub fit: Report,
    pub held_out: Report,
    pub folds: Vec<Fold>,
}

/// A case with where it came from.
struct Item {
    case: super::Case,
    file: PathBuf,
    target: Target,
    chip: Chip,
    group: String,
}

/// The publishing document of a source: the text before its first " (" or ", ".
fn document(source: &str) -> &str {
    let cut = [" (", ", "].iter().filter_map(|p| source.find(p)).min();
    cut.map_or(source, |i| &source[..i])
}

fn items(files: &[PathBuf], catalog: &Catalog) -> Result<(Vec<Item>, Vec<Skip>)> {
    let mut items = Vec::new();
    let mut skipped = Vec::new();
    for file in files {
        let vf = parse(&crate::input::read_text(file)?, file)?;
        for c in vf.case {
            c.check(file)?;
            let Some((target, chip)) = Target::of(&c, catalog) else {
                skipped.push(Skip {
                    id: c.id.clone(),
                    reason: "its instance, engine or version does not resolve".into(),
                    fault: None,
                });
                continue;
            };
            let group = format!(
                "{} × {} × {} {}",
                document(&c.source),
                family(&c.instance),
                target.engine,
                target.version
            );
            items.push(Item {
                case: c,
                file: file.clone(),
                target,
                chip,
                group,
            });
        }
    }
    Ok((items, skipped))
}

/// Whether a remaining case belongs to a fallback level.
type Keep<'k> = dyn Fn(&Item) -> bool + 'k;

/// The training cases of a held-out group: the first non-empty fallback level.
fn training<'a>(rest: &[&'a Item], t: &Target, chip: &Chip) -> (&'static str, Vec<&'a Item>) {
    let levels: [(&'static str, &Keep<'_>); 5] = [
        ("the same chip and engine version", &|i| i.target == *t),
        ("the same chip and engine", &|i| {
            i.target.chip == t.chip && i.target.engine == t.engine
        }),
        ("the same chip", &|i| i.target.chip == t.chip),
        ("the same engine version on other chips of its kind", &|i| {
            i.target.engine == t.engine && i.target.version == t.version && i.chip.kind == chip.kind
        }),
        ("every chip of its kind", &|i| i.chip.kind == chip.kind),
    ];
    for (name, keep) in levels {
        let v: Vec<&Item> = rest.iter().copied().filter(|i| keep(i)).collect();
        if !v.is_empty() {
            return (name, v);
        }
    }
    ("nothing (the shipped profiles)", Vec::new())
}

/// Cross-validates over the cases of `files`.
pub fn run(files: &[PathBuf]) -> Result<CvReport> {
    let catalog = Catalog::builtin()?;
    let (all, mut skipped) = items(files, &catalog)?;
    // Cases that do not run as written are skipped in both reports.
    let runnable: Vec<Item> = all
        .into_iter()
        .filter_map(|i| match run_case_with(&i.case, &catalog, &i.file, "") {
            Ok(_) => Some(i),
            Err(s) => {
                skipped.push(s);
                None
            }
        })
        .collect();
    let mut fit_rows = Vec::new();
    for i in &runnable {
        fit_rows.extend(run_case_with(&i.case, &catalog, &i.file, "").unwrap_or_default());
    }
    let mut groups: Vec<&str> = runnable.iter().map(|i| i.group.as_str()).collect();
    groups.sort();
    groups.dedup();
    let mut held_rows: Vec<Row> = Vec::new();
    let mut folds = Vec::new();
    for g in groups {
        let mine: Vec<&Item> = runnable.iter().filter(|i| i.group == g).collect();
        let rest: Vec<&Item> = runnable.iter().filter(|i| i.group != g).collect();
        let (t, chip) = (&mine[0].target, &mine[0].chip);
        let (level, train) = training(&rest, t, chip);
        let extra = if train.is_empty() {
            String::new()
        } else {
            let cases: Vec<&super::Case> = train.iter().map(|i| &i.case).collect();
            let f = fit(&cases, &catalog, &train[0].file, chip.kind, &start_values(chip));
            overrides(parameters(chip.kind), &f.values)
        };
        for i in &mine {
            match run_case_with(&i.case, &catalog, &i.file, &extra) {
                Ok(rows) => held_rows.extend(rows.into_iter().map(|r| Row {
                    group: g.to_string(),
                    ..r
                })),
                Err(s) => skipped.push(s),
            }
        }
        folds.push(Fold {
            group: g.to_string(),
            target: t.label(),
            cases: mine.len(),
            trained_on: level.to_string(),
            training_cases: train.len(),
        });
    }
    Ok(CvReport {
        fit: summarise(fit_rows, Vec::new()),
        held_out: summarise(held_rows, skipped),
        folds,
    })
}

/// The file a fold's report names.
pub fn shown(files: &[PathBuf]) -> String {
    files
        .iter()
        .map(|f| {
            f.file_name()
                .map_or_else(|| f.display().to_string(), |n| n.to_string_lossy().to_string())
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(id: &str, instance: &str, source: &str) -> Item {
        let text = format!(
            "[[case]]\nid = \"{id}\"\nsource = \"{source}\"\ninstance = \"{instance}\"\ninstances = 1\nchips = 1\nmodel = \"llama-3-8b\"\nweights = \"bf16\"\ncompute = \"bf16\"\ntp = 1\ntp_unit = \"gpu\"\nload = \"offline\"\nrequests = 10\ninput_tokens = 10\noutput_tokens = 10\n[case.measured]\noutput_tok_s = 1.0\n"
        );
        let c = parse(&text, std::path::Path::new("v.toml")).unwrap().case.remove(0);
        let (target, chip) = Target::of(&c, &Catalog::builtin().unwrap()).unwrap();
        Item {
            group: format!("{} × {}", family(instance), target.version),
            case: c,
            file: PathBuf::from("v.toml"),
            target,
            chip,
        }
    }

    /// A held-out group never trains on itself; it falls back to the same chip under another
    /// version of its engine, then to its engine version on other chips.
    #[test]
    fn a_fold_trains_on_the_first_non_empty_fallback_level_and_never_on_itself() {
        let old = "TensorRT-LLM v0.13.0 revision";
        let new = "TensorRT-LLM (trtllm-bench, PyTorch backend)";
        let (a, b, c) = (
            item("a", "p5.48xlarge", old),
            item("b", "p5.48xlarge", new),
            item("c", "p4de.24xlarge", old),
        );
        let (level, train) = training(&[&b, &c], &a.target, &a.chip);
        assert_eq!(
            (level, train.len(), train[0].case.id.as_str()),
            ("the same chip and engine", 1, "b")
        );
        let (level, train) = training(&[&a, &b], &c.target, &c.chip);
        assert_eq!(level, "the same engine version on other chips of its kind");
        assert_eq!(train.iter().map(|i| i.case.id.as_str()).collect::<Vec<_>>(), ["a"]);
        let (level, train) = training(&[&a, &b, &c], &a.target, &a.chip);
        assert_eq!((level, train.len()), ("the same chip and engine version", 1));
    }

    /// Two groups: each is predicted from a fit on the other alone, never on itself, and every
    /// held-out row carries its group.
    #[test]
    fn every_group_is_predicted_by_a_fit_on_the_others() {
        let dir = std::env::temp_dir().join(format!("codesim-cv-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let case = |id: &str, source: &str, tok_s: f64| {
            format!(
                "[[case]]\nid = \"{id}\"\nsource = \"{source}\"\ninstance = \"p5.48xlarge\"\ninstances = 1\nchips = 1\nmodel = \"llama-3.2-1b\"\nweights = \"bf16\"\ncompute = \"bf16\"\ntp = 1\ntp_unit = \"gpu\"\nload = \"offline\"\nrequests = 8\ninput_tokens = 64\noutput_tokens = 16\n[case.measured]\noutput_tok_s = {tok_s:.1}\n"
            )
        };
        let text = case("old", "TensorRT-LLM v0.13.0", 3000.0) + &case("new", "TensorRT-LLM (PyTorch backend)", 6000.0);
        let file = dir.join("v.toml");
        std::fs::write(&file, text).unwrap();
        let r = run(std::slice::from_ref(&file)).unwrap();
        std::fs::remove_dir_all(&dir).ok();
        assert_eq!(r.folds.len(), 2);
        for f in &r.folds {
            assert_eq!(
                (f.trained_on.as_str(), f.training_cases),
                ("the same chip and engine", 1)
            );
        }
        assert_eq!(r.held_out.rows.len(), 2);
        assert!(r.held_out.rows.iter().all(|row| !row.group.is_empty()));
        assert_eq!(r.fit.rows.len(), 2);
    }

    #[test]
    fn a_sources_document_is_its_text_before_the_first_qualifier() {
        assert_eq!(
            document("NVIDIA/TensorRT-LLM:docs/source/performance/perf-overview.md, v0.13.0 revision ('All')"),
            "NVIDIA/TensorRT-LLM:docs/source/performance/perf-overview.md"
        );
        assert_eq!(
            document(
                "aws-neuron/aws-neuron-sdk@81ce03ae261e:about-neuron/benchmarks/inf2/throughput_data_decoder.csv (Neuron 2.18.0, Transformers NeuronX, Batch)"
            ),
            "aws-neuron/aws-neuron-sdk@81ce03ae261e:about-neuron/benchmarks/inf2/throughput_data_decoder.csv"
        );
        assert_eq!(document("a blog"), "a blog");
    }
}
