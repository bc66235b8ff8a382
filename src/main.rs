#![warn(clippy::too_many_lines)]

use std::process::ExitCode;

fn main() -> ExitCode {
    codesim_cli::main()
}

#[path = "cli/mod.rs"]
mod codesim_cli;
