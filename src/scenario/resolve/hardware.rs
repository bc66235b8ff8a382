//! `[hardware]`: the catalog (built in, plus the scenario's profile files) and the instance
//! type with the scenario's chip and instance overrides.

use super::engine::{self, EngineChoice};
use super::positive;
use crate::error::{Error, Result};
use crate::hw::{Catalog, Hardware};
use crate::input::apply_overrides;
use crate::scenario::limits::{MAX_HOST_VCPUS, MAX_RANKS_PER_INSTANCE};
use crate::scenario::{HardwareSection, ServingSection};
use std::path::Path;

/// The catalog the scenario sees and its main instance type; the overrides are noted.
pub(super) fn resolve(
    h: &HardwareSection,
    serving: &ServingSection,
    dir: &Path,
    path: &Path,
    notes: &mut Vec<String>,
) -> Result<(Catalog, Hardware, EngineChoice)> {
    let mut catalog = Catalog::builtin()?;
    for p in &h.profiles {
        catalog.add_file(&dir.join(p))?;
    }
    let (hardware, engine) = instance(&catalog, h, serving, &h.instance, "hardware.instance", path)?;
    if let Some(over) = &h.chip {
        notes.push(format!(
            "chip overrides: {}",
            over.keys().cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    if let Some(over) = &h.instance_overrides {
        notes.push(format!(
            "instance overrides: {}",
            over.keys().cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    Ok((catalog, hardware, engine))
}

/// Refuses an override that renames what the catalog resolved (a chip's name or kind, an
/// instance's name, chip or host): those pick entries before overrides apply, so a changed value
/// would be printed but not simulated. Overrides change numbers; another chip is another instance.
fn keep_identity(over: &toml::Table, identity: &[(&str, &str)], table: &str, path: &Path) -> Result<()> {
    for (key, current) in identity {
        let Some(v) = over.get(*key) else { continue };
        if v.as_str() == Some(*current) {
            continue;
        }
        return Err(Error::input(
            path,
            format!("{table}.{key}"),
            format!(
                "{v} would rename the resolved {key} (`{current}`), which overrides cannot do: they change numbers of the instance chosen by hardware.instance; choose another instance (`codesim hw list`) or remove the key"
            ),
        ));
    }
    Ok(())
}

/// An instance type from the catalog with its engine's chip overlays and then the scenario's chip
/// and instance overrides (they apply to every pool's hardware), checked; and the engine.
pub(super) fn instance(
    catalog: &Catalog,
    h: &HardwareSection,
    serving: &ServingSection,
    instance_type: &str,
    key: &str,
    path: &Path,
) -> Result<(Hardware, EngineChoice)> {
    let mut hardware = catalog
        .hardware(instance_type)
        .map_err(|m| Error::input(path, key, m))?;
    let engine = engine::choose(serving, &hardware.chip, path)?;
    hardware.chip = engine::apply_to_chip(&engine, &hardware.chip)?;
    if let Some(over) = &h.chip {
        let chip = &hardware.chip;
        let kind = chip.kind.name();
        keep_identity(over, &[("name", &chip.name), ("kind", kind)], "hardware.chip", path)?;
        hardware.chip = apply_overrides(&hardware.chip, over, path, "hardware.chip")?;
    }
    if let Some(over) = &h.instance_overrides {
        let i = &hardware.instance;
        let identity = [("name", i.name.as_str()), ("chip", &i.chip), ("host", &i.host)];
        keep_identity(over, &identity, "hardware.instance_overrides", path)?;
        hardware.instance = apply_overrides(&hardware.instance, over, path, "hardware.instance_overrides")?;
        crate::hw::validate_instance(&hardware.instance, path, &|k| {
            format!("hardware.instance_overrides.{k}")
        })?;
    }
    positive(
        path,
        "hardware.chip.hbm_bandwidth_gb_s",
        hardware.chip.hbm_bandwidth_gb_s,
    )?;
    positive(path, "hardware.chip.hbm_gib", hardware.chip.hbm_gib)?;
    positive(
        path,
        "hardware.chip.efficiency.compute",
        hardware.chip.efficiency.compute,
    )?;
    positive(path, "hardware.chip.efficiency.memory", hardware.chip.efficiency.memory)?;
    if hardware.chip.efficiency.compute > 1.0 || hardware.chip.efficiency.memory > 1.0 {
        return Err(Error::input(
            path,
            "hardware.chip.efficiency",
            "efficiencies are fractions of peak: must be in (0, 1]",
        ));
    }
    // Overrides are checked like a profile's entries: a rank count of 0 would divide by zero.
    if hardware.chip.ranks_per_chip == 0 {
        return Err(Error::input(
            path,
            "hardware.chip.ranks_per_chip",
            "must be at least 1, got 0",
        ));
    }
    if hardware.instance.chips == 0 {
        return Err(Error::input(
            path,
            "hardware.instance_overrides.chips",
            "must be at least 1, got 0",
        ));
    }
    let ranks = hardware.instance.chips as u64 * hardware.chip.ranks_per_chip as u64;
    if ranks > MAX_RANKS_PER_INSTANCE as u64 {
        return Err(Error::input(
            path,
            key,
            format!(
                "{} has {} chips × {} ranks per chip = {ranks} ranks, more than the {MAX_RANKS_PER_INSTANCE} an instance may have; check hardware.chip.ranks_per_chip and hardware.instance_overrides.chips",
                hardware.instance.name, hardware.instance.chips, hardware.chip.ranks_per_chip
            ),
        ));
    }
    // The simulation queues host work on every vCPU of the pool's instances.
    if hardware.instance.host_vcpus > MAX_HOST_VCPUS {
        return Err(Error::input(
            path,
            "hardware.instance_overrides.host_vcpus",
            format!(
                "{} is more than the {MAX_HOST_VCPUS} host vCPUs an instance may have",
                hardware.instance.host_vcpus
            ),
        ));
    }
    crate::hw::validate_chip(&hardware.chip, path)?;
    Ok((hardware, engine))
}
