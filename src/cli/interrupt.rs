//! Ctrl-C (SIGINT) and SIGTERM for the long commands, `sweep` and `plan`. The first signal asks
//! for a clean stop: no new run starts, the runs in flight finish and are written, and the command
//! says how many runs are kept and how `--resume` finishes the rest. A second signal ends the
//! process at once (what is in flight is lost, as with SIGKILL; finished runs are on disk).

use codesim::error::{Error, Result};
use signal_hook::consts::{SIGINT, SIGTERM};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Set by the first SIGINT or SIGTERM; sweeps and plans read it before starting each run.
pub static STOP: AtomicBool = AtomicBool::new(false);
/// The signal that asked to stop.
static SIGNAL: AtomicUsize = AtomicUsize::new(0);

const NOTICE: &[u8] =
    b"\ncodesim: stopping: no new run starts; runs in flight finish and are saved (press Ctrl-C again to abort them)\n";

/// Installs the handlers. Call once, before the work starts.
pub fn install() -> Result<()> {
    let fail = |e: std::io::Error| Error::Output {
        path: "<signal handler>".into(),
        message: format!("cannot install the Ctrl-C handler: {e}"),
    };
    for sig in [SIGINT, SIGTERM] {
        // The order matters: the abort runs first and sees STOP only from a second signal on.
        signal_hook::flag::register_conditional_shutdown(sig, 128 + sig, &STOP).map_err(fail)?;
        // SAFETY: the action only reads an atomic and calls write(2), both async-signal-safe.
        unsafe {
            signal_hook::low_level::register(sig, || {
                if !STOP.load(Ordering::SeqCst) {
                    libc::write(2, NOTICE.as_ptr().cast(), NOTICE.len());
                }
            })
        }
        .map_err(fail)?;
        signal_hook::flag::register_usize(sig, &SIGNAL, sig as usize).map_err(fail)?;
        signal_hook::flag::register(sig, &STOP).map_err(fail)?;
    }
    Ok(())
}

/// The flag the library polls.
pub fn flag() -> &'static AtomicBool {
    &STOP
}

/// The exit code of a stopped command: 128 + the signal (130 for Ctrl-C, 143 for SIGTERM).
pub fn exit_code() -> u8 {
    match SIGNAL.load(Ordering::SeqCst) {
        s if s == SIGTERM as usize => 128 + SIGTERM as u8,
        _ => 128 + SIGINT as u8,
    }
}
