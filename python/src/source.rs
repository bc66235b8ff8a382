//! Where an input comes from: a file, TOML text, or JSON text of a Python dict (converted to TOML
//! so it goes through the very parser, checks and messages a file does).

use codesim::error::{Error, Result};
use pyo3::PyResult;
use pyo3::exceptions::PyValueError;
use std::path::PathBuf;

/// What errors name for an input that is not a file; relative paths in it resolve from the
/// working directory.
pub const INLINE: &str = "<inline>";

pub enum Source {
    Path(PathBuf),
    Toml(String),
    Json(String),
}

impl Source {
    pub fn new(kind: &str, value: String) -> PyResult<Source> {
        match kind {
            "path" => Ok(Source::Path(PathBuf::from(value))),
            "toml" => Ok(Source::Toml(value)),
            "json" => Ok(Source::Json(value)),
            _ => Err(PyValueError::new_err(format!(
                "input kind `{kind}`: expected path, toml or json"
            ))),
        }
    }

    /// The text to parse (`None`: read the file, as the CLI does) and the path errors name and
    /// relative paths resolve from.
    pub fn text(self) -> Result<(Option<String>, PathBuf)> {
        match self {
            Source::Path(p) => Ok((None, p)),
            Source::Toml(t) => Ok((Some(t), PathBuf::from(INLINE))),
            Source::Json(j) => Ok((Some(toml_of_json(&j)?), PathBuf::from(INLINE))),
        }
    }
}

/// A dict's JSON as TOML text. JSON's `null` has no TOML form: it is refused, naming the key.
fn toml_of_json(json: &str) -> Result<String> {
    let value: serde_json::Value =
        serde_json::from_str(json).map_err(|e| Error::input(INLINE, "", format!("not a JSON object: {e}")))?;
    if let Some(key) = null_key(&value, "") {
        return Err(Error::input(
            INLINE,
            key,
            "is None: TOML has no null; leave the key out to take its default",
        ));
    }
    let table: toml::Table = serde_json::from_value(value)
        .map_err(|e| Error::input(INLINE, "", format!("cannot be written as TOML: {e}")))?;
    toml::to_string(&table).map_err(|e| Error::input(INLINE, "", format!("cannot be written as TOML: {e}")))
}

/// The dotted path of the first `null` in a JSON value, if any.
fn null_key(v: &serde_json::Value, at: &str) -> Option<String> {
    let join = |k: &str| {
        if at.is_empty() {
            k.to_string()
        } else {
            format!("{at}.{k}")
        }
    };
    match v {
        serde_json::Value::Null => Some(at.to_string()),
        serde_json::Value::Object(o) => o.iter().find_map(|(k, x)| null_key(x, &join(k))),
        serde_json::Value::Array(a) => a
            .iter()
            .enumerate()
            .find_map(|(i, x)| null_key(x, &format!("{at}[{i}]"))),
        _ => None,
    }
}
