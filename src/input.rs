//! Reading TOML input with errors that name the file, the line, the key path and what would be
//! accepted, plus a "did you mean" for misspelt keys.

use crate::error::{Error, Result, did_you_mean};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::path::Path;

/// 1-based line and column of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text.as_bytes()[..offset];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let col = offset - before.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1) + 1;
    (line, col)
}

/// Parses `text` (the contents of `file`) into `T`. Errors carry `line N` and the dotted key path.
pub fn parse_toml<T: DeserializeOwned>(text: &str, file: &Path) -> Result<T> {
    let de = toml::Deserializer::parse(text).map_err(|e| {
        let loc = e
            .span()
            .map(|s| line_col(text, s.start))
            .map(|(l, c)| format!("line {l}, column {c}"));
        Error::input(
            file,
            loc.unwrap_or_default(),
            format!("TOML syntax error: {}", e.message().trim()),
        )
    })?;
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let mut loc = String::new();
        if let Some(span) = inner.span() {
            let (l, _) = line_col(text, span.start);
            loc = format!("line {l}");
        }
        if path != "." && !path.is_empty() {
            if !loc.is_empty() {
                loc.push_str(", ");
            }
            loc.push_str("key `");
            loc.push_str(&path);
            loc.push('`');
        }
        Error::input(file, loc, explain_serde_message(inner.message()))
    })
}

/// Reads and parses a TOML file; a missing file or a directory is a clear input error.
pub fn read_toml<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let text = read_text(path)?;
    parse_toml(&text, path)
}

/// Reads a UTF-8 text file, with clear errors for a missing path, a directory or non-UTF-8 bytes.
/// The most bytes codesim reads from one input file (scenario, trace, model config): a bigger
/// one, or an endless one such as `/dev/zero`, is refused instead of exhausting memory.
pub const MAX_INPUT_BYTES: u64 = 4 << 30;

/// The most bytes read from standard input. It carries a scenario, sweep, plan or validation file
/// (the largest committed one is under 100 KiB), never a trace; so `yes | codesim run -` stops
/// after 64 MiB instead of reading gigabytes before refusing.
pub const MAX_STDIN_BYTES: u64 = 64 << 20;

/// Paths that name standard input: `-` and `/dev/stdin`. Read from the process's standard input
/// whatever it is (a pipe, a terminal, a redirected file), with the same cap as a file.
fn is_stdin(path: &Path) -> bool {
    path == Path::new("-") || path == Path::new("/dev/stdin")
}

/// Reads a whole input file, at most [`MAX_INPUT_BYTES`]. Only a regular file (or standard
/// input, see [`is_stdin`]) is read: a FIFO, a device or a socket is refused before it is
/// opened, as opening a FIFO blocks until a writer comes and a device may never end.
pub fn read_bytes(path: &Path) -> Result<Vec<u8>> {
    if is_stdin(path) {
        return read_capped(std::io::stdin().lock(), path, MAX_STDIN_BYTES);
    }
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::input(path, "", "file not found"),
        _ => Error::io(path, e),
    })?;
    if meta.is_dir() {
        return Err(Error::input(path, "", "is a directory; expected a file"));
    }
    if !meta.is_file() {
        return Err(Error::input(
            path,
            "",
            format!(
                "is a {}, not a file; give a regular file (or `-` for standard input)",
                special_kind(&meta)
            ),
        ));
    }
    if meta.len() > MAX_INPUT_BYTES {
        return Err(too_big(path, MAX_INPUT_BYTES));
    }
    let file = std::fs::File::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::input(path, "", "file not found"),
        _ => Error::io(path, e),
    })?;
    read_capped(file, path, MAX_INPUT_BYTES)
}

/// Everything `r` yields, refused beyond `cap` bytes (reading at most one byte more).
fn read_capped(r: impl std::io::Read, path: &Path, cap: u64) -> Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    r.take(cap + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(path, e))?;
    if bytes.len() as u64 > cap {
        return Err(too_big(path, cap));
    }
    Ok(bytes)
}

/// What a non-regular, non-directory file is, for the message.
fn special_kind(meta: &std::fs::Metadata) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let t = meta.file_type();
        if t.is_fifo() {
            return "FIFO (named pipe)";
        }
        if t.is_char_device() || t.is_block_device() {
            return "device";
        }
        if t.is_socket() {
            return "socket";
        }
    }
    let _ = meta;
    "special file"
}

fn too_big(path: &Path, cap: u64) -> Error {
    let what = if cap >= 1 << 30 {
        format!(
            "{} GiB, the most one input file may hold; split the trace or sample it",
            cap >> 30
        )
    } else {
        format!(
            "{} MiB, the most read from standard input (a scenario, sweep, plan or validation file; give a trace as a file)",
            cap >> 20
        )
    };
    Error::input(path, "", format!("is larger than {what}"))
}

pub fn read_text(path: &Path) -> Result<String> {
    let bytes = read_bytes(path)?;
    String::from_utf8(bytes).map_err(|e| {
        let off = e.utf8_error().valid_up_to();
        let (l, c) = line_col(std::str::from_utf8(&e.as_bytes()[..off]).unwrap_or(""), off);
        Error::input(path, format!("line {l}, column {c}"), "file is not valid UTF-8 text")
    })
}

/// serde's unknown-field message, with a suggestion for the closest accepted key.
fn explain_serde_message(msg: &str) -> String {
    let msg = msg.trim();
    for prefix in ["unknown field `", "unknown variant `"] {
        if let Some(rest) = msg.strip_prefix(prefix) {
            if let Some(end) = rest.find('`') {
                let word = &rest[..end];
                let accepted: Vec<&str> = rest[end + 1..].split('`').skip(1).step_by(2).collect();
                let hint = did_you_mean(word, accepted.iter().copied());
                return format!("{msg}{hint}");
            }
        }
    }
    msg.to_string()
}

/// A name shown in reports and messages (never a path: nothing is written under it): not
/// empty, one line, no control characters.
pub fn check_label(path: &Path, key: &str, name: &str) -> Result<()> {
    let why = if name.trim().is_empty() {
        "is empty"
    } else if name.chars().any(char::is_control) {
        "holds a control character (NUL, newline, tab, ...)"
    } else if name.len() > 200 {
        "is longer than 200 bytes"
    } else {
        return Ok(());
    };
    Err(Error::input(
        path,
        key,
        format!("`{}` {why}; give a short one-line name", name.escape_debug()),
    ))
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        rate_per_s: f64,
    }
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        arrival: Inner,
    }

    #[test]
    fn unknown_key_names_path_line_and_suggestion() {
        let text = "[arrival]\nrate_per_sec = 3.0\n";
        let e = parse_toml::<Outer>(text, Path::new("x.toml")).unwrap_err().to_string();
        assert!(e.contains("x.toml"), "{e}");
        assert!(e.contains("line 2"), "{e}");
        assert!(e.contains("arrival"), "{e}");
        assert!(e.contains("did you mean `rate_per_s`"), "{e}");
    }

    #[test]
    fn wrong_type_names_key() {
        let e = parse_toml::<Outer>("[arrival]\nrate_per_s = \"fast\"\n", Path::new("y.toml")).unwrap_err();
        let e = e.to_string();
        assert!(e.contains("arrival.rate_per_s"), "{e}");
    }

    #[test]
    fn syntax_error_has_line() {
        let e = parse_toml::<Outer>("[arrival\n", Path::new("z.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 1"), "{e}");
        assert!(e.contains("syntax"), "{e}");
    }
}
