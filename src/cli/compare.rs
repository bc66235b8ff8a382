//! `compare`: two runs or two sweeps side by side, as Markdown on stdout and, with `--out`,
//! `compare.md` and `compare.html`.

use super::{ensure_out_dir, write_atomic};
use codesim::error::Result;
use codesim::report::compare::{compare, html, load};
use std::path::Path;

pub fn run(a: &Path, b: &Path, out: Option<&Path>) -> Result<()> {
    let (sa, sb) = (load(a)?, load(b)?);
    let md = compare(&sa, &sb)?;
    print!("{md}");
    if let Some(dir) = out {
        ensure_out_dir(dir)?;
        write_atomic(&dir.join("compare.md"), md.as_bytes())?;
        write_atomic(&dir.join("compare.html"), html(&md).as_bytes())?;
        eprintln!("wrote {}", dir.join("compare.md").display());
        eprintln!("wrote {}", dir.join("compare.html").display());
    }
    Ok(())
}
