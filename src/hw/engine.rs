//! Serving-engine profiles (`engines/*.toml`): what an engine does to a chip and how it schedules.
//!
//! A cost model's efficiency is a property of the chip *and* of the software that drives it: the
//! same H100 runs a model faster under one TensorRT-LLM release than another, and NxD Inference
//! lays out Trainium's KV cache differently from Transformers NeuronX. An engine profile holds
//! (a) its scheduling defaults as raw scenario `[serving]` keys, which `scenario` resolves, and
//! (b) overlays of `[hardware.chip]` keys (kernel traits and fitted efficiencies), engine-wide and
//! per chip, optionally per version. Chip profiles in `hw-profiles/` hold the hardware and the
//! efficiencies a chip falls back to where no engine overlay sets them.
//!
//! Not to be confused with `crate::engine`, the event queue.

use super::{Chip, ChipKind};
use crate::error::{Error, Result, did_you_mean};
use crate::input::parse_toml;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// One version of an engine where published data shows the version matters.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineVersion {
    /// What identifies the version (release, backend), with its source.
    #[serde(default)]
    pub source: String,
    /// Scenario `[serving]` keys that differ in this version.
    #[serde(default)]
    pub serving: toml::Table,
    /// `[hardware.chip]` keys this version sets on every chip.
    #[serde(default)]
    pub chip: toml::Table,
    /// `[hardware.chip]` keys this version sets on one chip (fitted efficiencies), by chip name.
    #[serde(default)]
    pub chips: BTreeMap<String, toml::Table>,
}

/// A serving engine: vLLM, SGLang, TensorRT-LLM, NxD Inference, Transformers NeuronX, llama.cpp.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineProfile {
    pub name: String,
    pub display_name: String,
    /// Chip kinds the engine runs on.
    pub runs_on: Vec<ChipKind>,
    /// Chip kinds whose default engine this is.
    #[serde(default)]
    pub default_for_kinds: Vec<ChipKind>,
    /// Chip names whose default engine this is (beats `default_for_kinds`).
    #[serde(default)]
    pub default_for: Vec<String>,
    /// The version a scenario gets when it names none; a key of `versions`.
    pub default_version: String,
    /// Scheduling defaults, as scenario `[serving]` keys.
    #[serde(default)]
    pub serving: toml::Table,
    /// `[hardware.chip]` keys the engine sets on every chip.
    #[serde(default)]
    pub chip: toml::Table,
    /// `[hardware.chip]` keys the engine sets on one chip, by chip name.
    #[serde(default)]
    pub chips: BTreeMap<String, toml::Table>,
    pub versions: BTreeMap<String, EngineVersion>,
}

/// An overlay of `[hardware.chip]` keys and where it comes from (for messages and notes).
pub struct Overlay<'a> {
    pub origin: String,
    pub table: &'a toml::Table,
}

/// The chip keys an engine may set: software-dependent efficiencies and the collective's
/// per-hop latency (a property of the collective library as much as of the link).
fn check_chip_overlay(t: &toml::Table, file: &Path, at: &str) -> Result<()> {
    for (k, v) in t {
        match (k.as_str(), v) {
            ("efficiency", toml::Value::Table(_)) => {}
            ("link", toml::Value::Table(l)) if l.keys().all(|k| k == "latency_us") => {}
            _ => {
                return Err(Error::input(
                    file,
                    format!("{at}.{k}"),
                    "an engine sets only software-dependent chip keys: `efficiency.*` and `link.latency_us`; the hardware itself belongs in hw-profiles/",
                ));
            }
        }
    }
    Ok(())
}

impl EngineProfile {
    /// Parses and checks one engine profile.
    pub fn parse(text: &str, file: &Path) -> Result<EngineProfile> {
        let e: EngineProfile = parse_toml(text, file)?;
        if e.runs_on.is_empty() {
            return Err(Error::input(
                file,
                "runs_on",
                "lists no chip kind; accepted: gpu, neuron, cpu",
            ));
        }
        if let Some(k) = e.default_for_kinds.iter().find(|k| !e.runs_on.contains(k)) {
            return Err(Error::input(
                file,
                "default_for_kinds",
                format!("`{}` is not in runs_on", k.name()),
            ));
        }
        if !e.versions.contains_key(&e.default_version) {
            return Err(Error::input(
                file,
                "default_version",
                format!(
                    "`{}` is not a key of [versions]; accepted: {}",
                    e.default_version,
                    e.versions.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            ));
        }
        check_chip_overlay(&e.chip, file, "chip")?;
        for (c, t) in &e.chips {
            check_chip_overlay(t, file, &format!("chips.{c}"))?;
        }
        for (v, ver) in &e.versions {
            check_chip_overlay(&ver.chip, file, &format!("versions.\"{v}\".chip"))?;
            for (c, t) in &ver.chips {
                check_chip_overlay(t, file, &format!("versions.\"{v}\".chips.{c}"))?;
            }
        }
        Ok(e)
    }

    /// The version named (or the default), or why it is not one of this engine's.
    pub fn version(&self, name: Option<&str>) -> Result<(&str, &EngineVersion), String> {
        let name = name.unwrap_or(&self.default_version);
        match self.versions.get_key_value(name) {
            Some((k, v)) => Ok((k.as_str(), v)),
            None => {
                let known: Vec<&str> = self.versions.keys().map(String::as_str).collect();
                Err(format!(
                    "{} has no profile for version `{name}`{}; accepted: {}",
                    self.display_name,
                    did_you_mean(name, known.iter().copied()),
                    known.join(", ")
                ))
            }
        }
    }

    /// Whether the engine runs on `chip`.
    pub fn runs_on(&self, chip: &Chip) -> bool {
        self.runs_on.contains(&chip.kind)
    }

    /// The chip overlays of (this engine, `version`) on `chip`, in the order they apply.
    pub fn chip_overlays<'a>(&'a self, version: &str, chip: &str) -> Vec<Overlay<'a>> {
        let file = format!("engines/{}.toml", self.name);
        let mut out = vec![Overlay {
            origin: format!("{file} [chip]"),
            table: &self.chip,
        }];
        if let Some(t) = self.chips.get(chip) {
            out.push(Overlay {
                origin: format!("{file} [chips.{chip}]"),
                table: t,
            });
        }
        if let Some(v) = self.versions.get(version) {
            out.push(Overlay {
                origin: format!("{file} [versions.\"{version}\".chip]"),
                table: &v.chip,
            });
            if let Some(t) = v.chips.get(chip) {
                out.push(Overlay {
                    origin: format!("{file} [versions.\"{version}\".chips.{chip}]"),
                    table: t,
                });
            }
        }
        out.retain(|o| !o.table.is_empty());
        out
    }

    /// `chip` with this engine's overlays for `version` applied, each checked as chip keys.
    pub fn apply_to(&self, version: &str, chip: &Chip) -> Result<Chip> {
        let mut chip = chip.clone();
        for o in self.chip_overlays(version, &chip.name) {
            chip = crate::input::apply_overrides(&chip, o.table, Path::new(&o.origin), "chip")?;
        }
        Ok(chip)
    }

    /// Scheduling defaults of (this engine, `version`): the engine's, then the version's.
    pub fn serving(&self, version: &str) -> toml::Table {
        let mut t = self.serving.clone();
        if let Some(v) = self.versions.get(version) {
            for (k, val) in &v.serving {
                t.insert(k.clone(), val.clone());
            }
        }
        t
    }
}

/// Every engine profile shipped with codesim (`engines/`, embedded at build time), parsed once.
pub fn builtin() -> Result<&'static [EngineProfile]> {
    static BUILTIN: std::sync::OnceLock<std::result::Result<Vec<EngineProfile>, String>> = std::sync::OnceLock::new();
    let parsed = BUILTIN.get_or_init(|| {
        let mut v = Vec::new();
        for (name, text) in crate::assets::ENGINE_PROFILES {
            let e = EngineProfile::parse(text, Path::new(&format!("engines/{name}"))).map_err(|e| e.to_string())?;
            if format!("{}.toml", e.name) != *name {
                return Err(format!(
                    "engines/{name}: name `{}` does not match the file name",
                    e.name
                ));
            }
            v.push(e);
        }
        check_defaults(&v)?;
        Ok(v)
    });
    match parsed {
        Ok(v) => Ok(v.as_slice()),
        Err(m) => Err(Error::input(Path::new("engines"), "", m.clone())),
    }
}

/// No chip name or kind has two default engines.
fn check_defaults(v: &[EngineProfile]) -> std::result::Result<(), String> {
    let mut seen: BTreeMap<String, &str> = BTreeMap::new();
    for e in v {
        let keys = e
            .default_for
            .iter()
            .cloned()
            .chain(e.default_for_kinds.iter().map(|k| format!("kind {}", k.name())));
        for k in keys {
            if let Some(other) = seen.insert(k.clone(), &e.name) {
                return Err(format!("{k} has two default engines: {other} and {}", e.name));
            }
        }
    }
    Ok(())
}

/// An engine by name, or an error message listing the known ones.
pub fn find(name: &str) -> std::result::Result<&'static EngineProfile, String> {
    let all = builtin().map_err(|e| e.to_string())?;
    all.iter().find(|e| e.name == name).ok_or_else(|| {
        let names: Vec<&str> = all.iter().map(|e| e.name.as_str()).collect();
        format!(
            "unknown engine `{name}`{}; accepted: {}",
            did_you_mean(name, names.iter().copied()),
            names.join(", ")
        )
    })
}

/// The default engine of `chip`: the engine naming the chip, else the one naming its kind.
pub fn default_for(chip: &Chip) -> std::result::Result<&'static EngineProfile, String> {
    let all = builtin().map_err(|e| e.to_string())?;
    all.iter()
        .find(|e| e.default_for.contains(&chip.name))
        .or_else(|| all.iter().find(|e| e.default_for_kinds.contains(&chip.kind)))
        .ok_or_else(|| {
            format!(
                "no engine is the default for chip `{}` ({}); name one with [serving] engine",
                chip.name,
                chip.kind.name()
            )
        })
}

/// The engine and version that drive `chip`: `name` (else the chip's default engine) at
/// `version` (else the engine's default). The error names the key at fault (`engine` or
/// `engine_version`) and why.
pub fn resolve(
    name: Option<&str>,
    version: Option<&str>,
    chip: &Chip,
) -> std::result::Result<(&'static EngineProfile, &'static str), (&'static str, String)> {
    let profile = match name {
        Some(n) => find(n),
        None => default_for(chip),
    }
    .map_err(|m| ("engine", m))?;
    if !profile.runs_on(chip) {
        let kinds: Vec<&str> = profile.runs_on.iter().map(|k| k.name()).collect();
        return Err((
            "engine",
            format!(
                "{} runs on {} chips, not on {} ({}); accepted: an engine whose runs_on includes {} (engines/)",
                profile.display_name,
                kinds.join(", "),
                chip.name,
                chip.kind.name(),
                chip.kind.name()
            ),
        ));
    }
    let (version, _) = profile.version(version).map_err(|m| ("engine_version", m))?;
    Ok((profile, version))
}

/// `chip` as its default engine at its default version drives it (for code that builds hardware
/// without a scenario).
pub fn with_default_engine(chip: &Chip) -> Result<Chip> {
    let (e, version) = resolve(None, None, chip).map_err(|(k, m)| Error::input(Path::new("engines"), k, m))?;
    e.apply_to(version, chip)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_profile_parses_and_every_chip_kind_has_a_default() {
        let all = builtin().expect("engines/ parse");
        assert!(all.len() >= 2);
        let catalog = crate::hw::Catalog::builtin().unwrap();
        for chip in &catalog.chips {
            let e = default_for(chip).unwrap_or_else(|m| panic!("{m}"));
            assert!(
                e.runs_on(chip),
                "{} is the default of {} but does not run on it",
                e.name,
                chip.name
            );
        }
        for e in all {
            for c in e.chips.keys().chain(e.versions.values().flat_map(|v| v.chips.keys())) {
                assert!(
                    catalog.chip(c).is_ok(),
                    "engines/{}.toml names unknown chip {c}",
                    e.name
                );
            }
        }
    }

    #[test]
    fn hardware_keys_are_refused_in_an_engine() {
        let text = "name = \"x\"\ndisplay_name = \"X\"\nruns_on = [\"gpu\"]\ndefault_version = \"1\"\n[versions.\"1\"]\n[chip]\nhbm_gib = 10.0\n";
        let e = EngineProfile::parse(text, Path::new("engines/x.toml")).unwrap_err();
        assert!(e.to_string().contains("chip.hbm_gib"), "{e}");
        let text =
            "name = \"x\"\ndisplay_name = \"X\"\nruns_on = [\"gpu\"]\ndefault_version = \"2\"\n[versions.\"1\"]\n";
        let e = EngineProfile::parse(text, Path::new("engines/x.toml")).unwrap_err();
        assert!(e.to_string().contains("default_version"), "{e}");
    }

    #[test]
    fn overlays_apply_engine_then_chip_then_version() {
        let text = "name = \"x\"\ndisplay_name = \"X\"\nruns_on = [\"gpu\"]\ndefault_version = \"1\"\n[chip]\nefficiency.compute = 0.1\n[chips.h100-sxm]\nefficiency.compute = 0.2\n[versions.\"1\".chip]\nefficiency.memory = 0.3\n[versions.\"1\".chips.h100-sxm]\nefficiency.compute = 0.4\n[versions.\"2\"]\n";
        let e = EngineProfile::parse(text, Path::new("engines/x.toml")).unwrap();
        let o: Vec<String> = e
            .chip_overlays("1", "h100-sxm")
            .iter()
            .map(|o| o.origin.clone())
            .collect();
        assert_eq!(
            o,
            [
                "engines/x.toml [chip]",
                "engines/x.toml [chips.h100-sxm]",
                "engines/x.toml [versions.\"1\".chip]",
                "engines/x.toml [versions.\"1\".chips.h100-sxm]"
            ]
        );
        assert_eq!(e.chip_overlays("2", "a100-80gb").len(), 1);
        assert!(e.version(Some("3")).unwrap_err().contains("accepted: 1, 2"));
    }
}
