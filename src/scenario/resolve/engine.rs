//! `[serving] engine`: which serving engine drives a pool's chips, its kernel overlays on the chip
//! and its scheduling defaults.

use crate::error::{Error, Result};
use crate::hw::Chip;
use crate::hw::engine::{self, EngineProfile};
use crate::scenario::ServingSection;
use crate::scenario::file::EngineServing;
use std::path::Path;

/// The engine and version that drive one chip.
#[derive(Debug, Clone, Copy)]
pub struct EngineChoice {
    pub profile: &'static EngineProfile,
    pub version: &'static str,
    /// Named by the scenario (`[serving] engine`) rather than the chip's default.
    pub named: bool,
}

impl EngineChoice {
    /// "TensorRT-LLM 0.13", for notes and reports.
    pub fn label(&self) -> String {
        format!("{} {}", self.profile.display_name, self.version)
    }
}

/// The engine for `chip`: the scenario's `[serving] engine`, else the chip's default; the
/// version: `engine_version`, else the engine's default.
pub fn choose(s: &ServingSection, chip: &Chip, path: &Path) -> Result<EngineChoice> {
    let (profile, version) = engine::resolve(s.engine.as_deref(), s.engine_version.as_deref(), chip)
        .map_err(|(key, m)| Error::input(path, format!("serving.{key}"), m))?;
    Ok(EngineChoice {
        profile,
        version,
        named: s.engine.is_some(),
    })
}

/// `chip` with the engine's overlays applied (engine-wide, per chip, per version), before the
/// scenario's own `[hardware.chip]` overrides.
pub fn apply_to_chip(choice: &EngineChoice, chip: &Chip) -> Result<Chip> {
    choice.profile.apply_to(choice.version, chip)
}

/// The engine's `[serving]` defaults, checked as scenario keys.
pub fn serving_defaults(choice: &EngineChoice) -> Result<EngineServing> {
    let table = choice.profile.serving(choice.version);
    let file = format!("engines/{}.toml", choice.profile.name);
    let text = toml::to_string(&table).map_err(|e| Error::input(Path::new(&file), "serving", e.to_string()))?;
    crate::input::parse_toml(&text, Path::new(&file))
}
