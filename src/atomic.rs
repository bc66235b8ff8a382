//! Atomic file output: every file codesim writes goes to a hidden temporary sibling and is then
//! renamed over its final name, so a process killed at any moment leaves the old file or the new
//! one, never a part of either. One routine for every writer (summaries, tables, plots, records).

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// The hidden temporary sibling of `path`: `dir/.name.partial.ext`. It is named after the whole
/// file name (so `a.json` and `a.md` never share one) and keeps the extension (plotters and
/// polars pick the format from it).
pub fn temp_path(path: &Path) -> PathBuf {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_default();
    let name = match path.extension() {
        Some(ext) => format!(".{stem}.partial.{}", ext.to_string_lossy()),
        None => format!(".{stem}.partial"),
    };
    path.with_file_name(name)
}

/// Renames a finished temporary file (from [`temp_path`]) over `path`.
pub fn commit(tmp: &Path, path: &Path) -> Result<()> {
    std::fs::rename(tmp, path).map_err(|e| Error::io(path, e))
}

/// Creates `dir` (and parents) or explains why it cannot be used for output (the `--out` of
/// every command, the `out` of the Python package).
pub fn ensure_out_dir(dir: &Path) -> Result<()> {
    if dir.exists() && !dir.is_dir() {
        return Err(Error::input(dir, "", "output path exists and is not a directory"));
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::input(dir, "", format!("cannot create the output directory: {e}")))?;
    let probe = dir.join(".codesim-write-test");
    std::fs::write(&probe, b"").map_err(|e| Error::input(dir, "", format!("output directory is not writable: {e}")))?;
    let _ = std::fs::remove_file(probe);
    Ok(())
}

/// Writes `bytes` to `path` atomically.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = temp_path(path);
    std::fs::write(&tmp, bytes).map_err(|e| Error::io(&tmp, e))?;
    commit(&tmp, path)
}

/// Writes to `path` atomically through a writer: `fill` gets the open temporary file.
pub fn write_with(path: &Path, fill: impl FnOnce(&mut std::fs::File) -> Result<()>) -> Result<()> {
    let tmp = temp_path(path);
    let mut file = std::fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
    if let Err(e) = fill(&mut file) {
        drop(file);
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    drop(file);
    commit(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_names_are_hidden_distinct_and_keep_the_extension() {
        let a = temp_path(Path::new("out/summary.json"));
        let b = temp_path(Path::new("out/summary.md"));
        assert_eq!(a, Path::new("out/.summary.partial.json"));
        assert_ne!(a, b);
        assert_eq!(temp_path(Path::new("x")), Path::new(".x.partial"));
    }

    #[test]
    fn a_write_replaces_the_file_whole_and_leaves_no_temporary() {
        let dir = std::env::temp_dir().join(format!("codesim-atomic-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("f.txt");
        write_atomic(&p, b"old").unwrap();
        write_atomic(&p, b"new").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"new");
        let failed = write_with(&p, |_| Err(Error::input(&p, "", "refused")));
        assert!(failed.is_err());
        assert_eq!(std::fs::read(&p).unwrap(), b"new");
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(left.len(), 1, "only the file itself remains");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
