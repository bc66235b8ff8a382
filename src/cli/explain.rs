//! `explain`: why the slowest requests were slow.

use super::{ensure_out_dir, write_atomic};
use codesim::error::Result;
use std::path::Path;

pub fn run(path: &Path, out: Option<&Path>, seed: Option<u64>, what_if: bool) -> Result<()> {
    let mut sc = codesim::scenario::load(path)?;
    if let Some(s) = seed {
        sc.seed = s;
    }
    if let Some(dir) = out {
        ensure_out_dir(dir)?;
    }
    let ex = codesim::explain::explain(&sc, what_if)?;
    match out {
        Some(dir) => {
            let plots = codesim::report::explain::write_plots(dir, &ex)?;
            let md = codesim::report::explain::markdown(&ex, &plots);
            write_atomic(&dir.join("explain.md"), md.as_bytes())?;
            let json = serde_json::to_string_pretty(&ex).expect("explanation serialises");
            write_atomic(&dir.join("explain.json"), json.as_bytes())?;
            println!("{}", md.lines().nth(2).unwrap_or(""));
            println!("wrote {}", dir.join("explain.md").display());
        }
        None => print!("{}", codesim::report::explain::markdown(&ex, &[])),
    }
    Ok(())
}
