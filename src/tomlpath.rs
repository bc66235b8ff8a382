//! Dotted key paths in TOML tables (`serving.max_batch`), as sweeps, plans and validation cases
//! edit a base scenario, and the short labels of TOML values. A leaf.

/// Sets a dotted key path in a table, creating tables on the way; a parent that exists but is not
/// a table is an error.
pub fn set_path(t: &mut toml::Table, key: &str, value: toml::Value) -> std::result::Result<(), String> {
    let parts: Vec<&str> = key.split('.').collect();
    let mut cur = t;
    for (i, p) in parts[..parts.len() - 1].iter().enumerate() {
        let entry = cur
            .entry(p.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        match entry {
            toml::Value::Table(next) => cur = next,
            other => {
                return Err(format!(
                    "`{}` in the base scenario is a {}, not a table, so `{key}` cannot be set",
                    parts[..=i].join("."),
                    other.type_str()
                ));
            }
        }
    }
    cur.insert(parts[parts.len() - 1].to_string(), value);
    Ok(())
}

/// A number's value, for numeric axes.
pub fn as_f64(v: &toml::Value) -> Option<f64> {
    match v {
        toml::Value::Integer(i) => Some(*i as f64),
        toml::Value::Float(f) => Some(*f),
        _ => None,
    }
}

/// A value as a short label: strings bare, numbers as written, anything else as inline TOML.
pub fn value_label(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) => format!("{f}"),
        toml::Value::Boolean(b) => b.to_string(),
        other => other.to_string(),
    }
}
