//! One error type for the whole crate. Every user-facing failure names the file, the place in it
//! (a key path like `workload.arrival.rate_per_s` or `line 17`), what was wrong and what would be
//! accepted. The CLI maps `Error::Input` and `Error::Infeasible` to exit code 2.

use std::fmt;
use std::path::{Path, PathBuf};

/// A number a user gave, as they would read it back in an error message: plain between 1e-4
/// and 1e15, scientific outside (never 300 digits of a denormal or a 1e300), `NaN`, `inf`.
pub fn given(v: f64) -> String {
    let a = v.abs();
    if !v.is_finite() || a == 0.0 || (1e-4..1e15).contains(&a) {
        format!("{v}")
    } else {
        format!("{v:e}")
    }
}

/// A problem with something the user gave us: a scenario, a profile, a trace, an output path.
#[derive(Debug, Clone, PartialEq)]
pub struct InputError {
    /// The file at fault (or `<scenario>` / `<inline>` when there is none).
    pub file: String,
    /// Where in the file: a dotted key path, `line N`, or empty.
    pub location: String,
    /// What was wrong, and what would be accepted.
    pub message: String,
}

impl InputError {
    pub fn new(file: impl AsRef<Path>, location: impl Into<String>, message: impl Into<String>) -> Self {
        InputError {
            file: file.as_ref().display().to_string(),
            location: location.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.location.is_empty() {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(f, "{}: {}: {}", self.file, self.location, self.message)
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad input: syntax, unknown key, wrong type, out-of-range value, unreadable trace row.
    #[error("{0}")]
    Input(InputError),
    /// The input is well formed but describes something that cannot run (weights do not fit,
    /// TP larger than the instance, a zero-bandwidth link that must carry data).
    #[error("{0}")]
    Infeasible(InputError),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Writing a table (Parquet/CSV) or a plot failed.
    #[error("{path}: {message}")]
    Output { path: PathBuf, message: String },
    /// The user stopped the command (Ctrl-C, SIGTERM) before it finished; `message` says what was
    /// kept and how to finish the rest.
    #[error("{message}")]
    Interrupted { message: String },
}

impl Error {
    pub fn input(file: impl AsRef<Path>, location: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Input(InputError::new(file, location, message))
    }
    pub fn infeasible(file: impl AsRef<Path>, location: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Infeasible(InputError::new(file, location, message))
    }
    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.as_ref().to_path_buf(),
            source,
        }
    }
    /// Exit code for the CLI: 2 for anything the user can fix in their input, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Input(_) | Error::Infeasible(_) => 2,
            Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => 2,
            Error::Io { source, .. } if source.kind() == std::io::ErrorKind::PermissionDenied => 2,
            Error::Io { .. } => 2,
            Error::Output { .. } => 1,
            // 128 + SIGINT, the shell's convention for a command stopped by Ctrl-C.
            Error::Interrupted { .. } => 130,
        }
    }
}

impl From<InputError> for Error {
    fn from(e: InputError) -> Self {
        Error::Input(e)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The Levenshtein distance, for "did you mean" suggestions on unknown names and keys.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// `" (did you mean `x`?)"` when one of `candidates` is close to `word`, else empty.
pub fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    let w = word.to_lowercase();
    // A candidate that is a prefix of the word (or the reverse) counts as close: `max_batch_size`
    // for `max_batch`.
    let best = candidates
        .into_iter()
        .map(|c| {
            let lc = c.to_lowercase();
            let prefix = lc.len() >= 3 && w.len() >= 3 && (w.starts_with(&lc) || lc.starts_with(&w));
            (if prefix { 0 } else { edit_distance(&w, &lc) }, c)
        })
        .min();
    match best {
        Some((d, c)) if d <= 2.max(word.len() / 3) => format!(" (did you mean `{c}`?)"),
        _ => String::new(),
    }
}

/// The key path of an error's location: `line 3, key `a.b`` (a parse error) or `a.b` (a
/// check on a parsed file).
pub fn key_of_location(location: &str) -> Option<String> {
    if let Some((_, rest)) = location.split_once("key `") {
        return rest.split_once('`').map(|(k, _)| k.to_string());
    }
    let plain = !location.is_empty() && !location.starts_with("line ") && !location.contains([' ', '`']);
    plain.then(|| location.to_string())
}

/// A scenario path from an input file that cannot be read (missing, a directory): said from the
/// file that names it, since that is where the fix goes.
pub fn base_path_error(e: Error, file: &Path, key: &str, target: &Path) -> Error {
    match e {
        Error::Input(ie) if ie.location.is_empty() && ie.file == target.display().to_string() => Error::input(
            file,
            key,
            format!(
                "`{}`: {}; give a scenario file's path relative to {} or an inline table",
                target.display(),
                ie.message,
                file.display()
            ),
        ),
        e => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_pick_the_closest_name() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(
            did_you_mean("rate_per_sec", ["rate_per_s", "cv"]),
            " (did you mean `rate_per_s`?)"
        );
        assert_eq!(did_you_mean("zzzz", ["rate_per_s"]), "");
    }
}
