//! Overrides from a scenario onto a catalog entry (`[hardware.chip]`,
//! `[hardware.instance_overrides]`, `[infrastructure.host]`).

use crate::error::{Error, Result};
use serde::Serialize;
use std::path::Path;

/// Applies a TOML table of overrides onto a value that round-trips through TOML; unknown keys
/// and wrong types are errors naming `key.<path>`.
pub fn apply_overrides<T: Serialize + serde::de::DeserializeOwned>(
    value: &T,
    over: &toml::Table,
    file: &Path,
    key: &str,
) -> Result<T> {
    let mut base = toml::Table::try_from(value).map_err(|e| Error::input(file, key, e.to_string()))?;
    merge(&mut base, over);
    let text = toml::to_string(&base).map_err(|e| Error::input(file, key, e.to_string()))?;
    let de = toml::Deserializer::parse(&text).map_err(|e| Error::input(file, key, e.message().to_string()))?;
    serde_path_to_error::deserialize(de).map_err(|e| {
        let p = e.path().to_string();
        let msg = e.into_inner().message().to_string();
        Error::input(file, format!("{key}.{p}"), msg)
    })
}

fn merge(base: &mut toml::Table, over: &toml::Table) {
    for (k, v) in over {
        match (base.get_mut(k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            _ => {
                base.insert(k.clone(), v.clone());
            }
        }
    }
}
