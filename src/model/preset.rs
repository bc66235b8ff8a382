//! Where specs come from: the presets in `scenarios/models/` (on disk or embedded at build
//! time), spec TOML files, and [`resolve`] choosing between them and a Hugging Face config.

use std::fs;
use std::path::Path;

use super::{ModelSpec, from_hf_config};
use crate::error::{Error, Result, did_you_mean};

/// Names of the presets in `models_dir` (the stems of its `*.toml` files), sorted.
pub fn preset_names(models_dir: &Path) -> Result<Vec<String>> {
    let entries = fs::read_dir(models_dir).map_err(|e| Error::io(models_dir, e))?;
    let mut names = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| Error::io(models_dir, e))?.path();
        if path.extension().is_none_or(|ext| ext != "toml") {
            continue;
        }
        if let Some(stem) = path.file_stem().and_then(|s| s.to_str()) {
            names.push(stem.to_string());
        }
    }
    names.sort();
    Ok(names)
}

/// Loads and validates the preset `models_dir/<name>.toml`. Its `name` must match the file name.
pub fn load_preset(name: &str, models_dir: &Path) -> Result<ModelSpec> {
    let names = preset_names(models_dir)?;
    if !names.iter().any(|n| n == name) {
        return Err(Error::input(
            models_dir,
            "model",
            format!(
                "unknown model preset `{name}`{}; accepted: {}, or a path to a Hugging Face config.json",
                did_you_mean(name, names.iter().map(String::as_str)),
                if names.is_empty() {
                    "(no presets found)".to_string()
                } else {
                    names.join(", ")
                },
            ),
        ));
    }
    let path = models_dir.join(format!("{name}.toml"));
    let spec = load_spec_file(&path)?;
    if spec.name != name {
        return Err(Error::input(
            &path,
            "name",
            format!("`{}` differs from the file name; accepted: `{name}`", spec.name),
        ));
    }
    Ok(spec)
}

/// Every preset in `models_dir`, loaded and validated, sorted by name.
pub fn list_presets(models_dir: &Path) -> Result<Vec<ModelSpec>> {
    let mut specs = preset_names(models_dir)?
        .iter()
        .map(|name| load_preset(name, models_dir))
        .collect::<Result<Vec<_>>>()?;
    specs.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(specs)
}

/// Parses and validates a model spec TOML file (a preset or a user's own).
pub fn load_spec_file(path: &Path) -> Result<ModelSpec> {
    let text = crate::input::read_text(path)?;
    let spec: ModelSpec = toml::from_str(&text).map_err(|e| {
        let message = e.message().trim_end().to_string();
        // A missing top-level key points at the whole document: "line 1" would mislead.
        let whole_document = e.span().is_none_or(|span| span.start == 0) && message.starts_with("missing");
        let location = match e.span() {
            Some(span) if !whole_document => {
                let before = &text.as_bytes()[..span.start.min(text.len())];
                format!("line {}", 1 + before.iter().filter(|&&b| b == b'\n').count())
            }
            _ => String::new(),
        };
        Error::input(path, location, message)
    })?;
    spec.validate(&path.display().to_string())?;
    Ok(spec)
}

/// Turns what a user wrote for the model into a spec. A `.json` name, an existing file, or a
/// directory holding `config.json` (all relative to `base_dir`) is read as a Hugging Face
/// config; a `.toml` name is read as a spec file; anything else names a preset in `models_dir`.
/// Paths win over presets: a directory named like a preset shadows it.
pub fn resolve(spec_or_path: &str, models_dir: &Path, base_dir: &Path) -> Result<ModelSpec> {
    let path = base_dir.join(spec_or_path);
    if spec_or_path.ends_with(".toml") {
        return load_spec_file(&path);
    }
    if spec_or_path.ends_with(".json") || path.is_file() {
        return from_hf_config(&path);
    }
    if path.is_dir() && path.join("config.json").is_file() {
        return from_hf_config(&path.join("config.json"));
    }
    load_preset(spec_or_path, models_dir)
}

/// The presets shipped with codesim (embedded at build time from `scenarios/models/`), sorted.
pub fn builtin_presets() -> Result<Vec<ModelSpec>> {
    let mut specs = Vec::new();
    for (file, text) in crate::assets::MODEL_PRESETS {
        let label = format!("scenarios/models/{file}");
        let spec: ModelSpec = crate::input::parse_toml(text, Path::new(&label))?;
        spec.validate(&label)?;
        specs.push(spec);
    }
    specs.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(specs)
}

/// Like [`resolve`], with the embedded presets: a path (relative to `base_dir`) to a
/// `config.json`, a directory holding one, or a `.toml` spec; otherwise a preset name.
/// `file` and `key` name where the user wrote it, for the error.
pub fn resolve_builtin(spec_or_path: &str, base_dir: &Path, file: &Path, key: &str) -> Result<ModelSpec> {
    let path = base_dir.join(spec_or_path);
    let looks_like_path = spec_or_path.ends_with(".toml")
        || spec_or_path.ends_with(".json")
        || spec_or_path.contains('/')
        || path.is_file();
    if looks_like_path {
        if !path.exists() {
            return Err(Error::input(
                file,
                key,
                format!(
                    "model file `{}` not found (paths are relative to the scenario file)",
                    path.display()
                ),
            ));
        }
        return resolve(spec_or_path, Path::new(""), base_dir);
    }
    let presets = builtin_presets()?;
    match presets.into_iter().find(|p| p.name == spec_or_path) {
        Some(p) => Ok(p),
        None => {
            let names: Vec<String> = builtin_presets()?.into_iter().map(|p| p.name).collect();
            Err(Error::input(
                file,
                key,
                format!(
                    "unknown model preset `{spec_or_path}`{}; accepted: {}, or a path to a Hugging Face config.json",
                    did_you_mean(spec_or_path, names.iter().map(String::as_str)),
                    names.join(", ")
                ),
            ))
        }
    }
}
