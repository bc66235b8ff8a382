//! Output: each chart drawn twice, into an SVG string and a PNG bitmap, both written under temporary
//! names and renamed, with the embedded font registered first.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{FONT, HEIGHT, WIDTH};
use crate::error::{Error, Result};

pub(super) type Area<DB> = DrawingArea<DB, Shift>;
pub(super) type DrawResult = std::result::Result<(), String>;

fn with_suffix(stem: &Path, suffix: &str) -> PathBuf {
    let mut s: OsString = stem.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

pub(super) fn write_both(
    stem: &Path,
    png: impl FnOnce(&Area<BitMapBackend<'_>>) -> DrawResult,
    svg: impl FnOnce(&Area<SVGBackend<'_>>) -> DrawResult,
) -> Result<[PathBuf; 2]> {
    let png_path = with_suffix(stem, ".png");
    let svg_path = with_suffix(stem, ".svg");
    let fail = |path: &Path, message: String| Error::Output {
        path: path.to_path_buf(),
        message,
    };
    ensure_fonts().map_err(|m| fail(&png_path, m))?;
    if let Some(parent) = stem.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| fail(parent, format!("cannot create the output folder: {e}")))?;
    }

    let mut text = String::new();
    {
        let root = SVGBackend::with_string(&mut text, (WIDTH, HEIGHT)).into_drawing_area();
        svg(&root).map_err(|m| fail(&svg_path, m))?;
        root.present().map_err(|e| fail(&svg_path, e.to_string()))?;
    }
    // Both files are written under temporary names and renamed: a run stopped while drawing
    // leaves whole plots (old or new), never a truncated one.
    let svg_tmp = crate::atomic::temp_path(&svg_path);
    std::fs::write(&svg_tmp, text).map_err(|e| fail(&svg_tmp, e.to_string()))?;
    std::fs::rename(&svg_tmp, &svg_path).map_err(|e| fail(&svg_path, e.to_string()))?;

    let png_tmp = crate::atomic::temp_path(&png_path);
    {
        let root = BitMapBackend::new(&png_tmp, (WIDTH, HEIGHT)).into_drawing_area();
        png(&root).map_err(|m| fail(&png_path, m))?;
        root.present().map_err(|e| fail(&png_path, e.to_string()))?;
    }
    std::fs::rename(&png_tmp, &png_path).map_err(|e| fail(&png_path, e.to_string()))?;
    Ok([png_path, svg_path])
}

/// Registers the embedded DejaVu Sans (regular and bold) under "sans-serif", once per process.
fn ensure_fonts() -> DrawResult {
    static FONTS: OnceLock<DrawResult> = OnceLock::new();
    FONTS
        .get_or_init(|| {
            let bad = |_| "the embedded DejaVu Sans font could not be loaded".to_string();
            plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular()).map_err(bad)?;
            plotters::style::register_font(FONT, FontStyle::Bold, dejavu::sans::bold()).map_err(bad)?;
            Ok(())
        })
        .clone()
}

/// A plotters error as the message of a failed drawing.
pub(super) fn de<E: std::fmt::Display>(e: E) -> String {
    format!("drawing failed: {e}")
}

#[cfg(test)]
mod tests {
    use super::super::draw_chart;
    use super::super::tests::{clean_up, scatter, temp_dir};
    use crate::error::Error;

    #[test]
    fn unwritable_output_is_an_error() {
        let dir = temp_dir("unwritable");
        let blocker = dir.join("file");
        std::fs::write(&blocker, b"x").unwrap();
        let err = draw_chart(&scatter(), &blocker.join("sub").join("chart")).unwrap_err();
        assert!(matches!(err, Error::Output { .. }), "{err}");
        clean_up(&dir);
    }
}
