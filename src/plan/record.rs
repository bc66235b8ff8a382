//! Probe records: every finished probe written under a key of everything it read, so an
//! interrupted plan resumes without simulating it again.

use super::file::absolute;
use super::probe::{Probe, Prober};
use crate::error::{Error, Result};
use crate::scenario::Scenario;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// How a plan runs: where its finished probes are kept and when to stop.
///
/// With a `records` folder, every probe simulated is written there as it finishes
/// (`<hash of its inputs>.toml`, atomically), so an interrupted plan loses only the probes in
/// flight; with `resume`, a probe found there is read back instead of simulated again, and the
/// plan comes out byte-identical to an uninterrupted one. `stop`, once set (by a Ctrl-C handler),
/// lets no new probe start: the plan ends with [`Error::Interrupted`].
#[derive(Debug, Default)]
pub struct Control {
    pub records: Option<PathBuf>,
    pub resume: bool,
    pub stop: Option<&'static AtomicBool>,
    /// Probes simulated by this invocation.
    pub simulated: AtomicUsize,
    /// Probes read back from `records`.
    pub reused: AtomicUsize,
}

/// Extension of probe records. TOML, not JSON: its floats read back bit for bit, NaN included.
pub const RECORD_EXT: &str = "toml";

/// A probe record: the inputs it was simulated from, and its result.
#[derive(Debug, Serialize, Deserialize)]
struct ProbeRecord {
    key: String,
    probe: Probe,
}

impl Control {
    pub(super) fn stopped(&self) -> bool {
        self.stop.is_some_and(|s| s.load(Ordering::SeqCst))
    }

    pub(super) fn interrupted(&self) -> Error {
        Error::Interrupted {
            message: format!(
                "stopped before the plan finished: {} probes simulated, {} read back",
                self.simulated.load(Ordering::SeqCst),
                self.reused.load(Ordering::SeqCst)
            ),
        }
    }

    fn record_path(&self, key: &str) -> Option<PathBuf> {
        // FNV-1a: stable across builds and platforms (the key itself is checked on reading).
        let hash = crate::hash::fnv1a(key);
        self.records
            .as_ref()
            .map(|d| d.join(format!("{hash:016x}.{RECORD_EXT}")))
    }

    /// The recorded probe with these inputs, when resuming.
    pub(super) fn recorded(&self, key: &str) -> Option<Probe> {
        if !self.resume {
            return None;
        }
        let text = std::fs::read_to_string(self.record_path(key)?).ok()?;
        let rec: ProbeRecord = toml::from_str(&text).ok()?;
        (rec.key == key).then_some(rec.probe)
    }

    /// Writes the probe's record, when there is a records folder.
    pub(super) fn record(&self, key: &str, probe: &Probe) -> Result<()> {
        let Some(path) = self.record_path(key) else {
            return Ok(());
        };
        let rec = ProbeRecord {
            key: key.to_string(),
            probe: probe.clone(),
        };
        let text = toml::to_string(&rec).map_err(|e| Error::Output {
            path: path.clone(),
            message: format!("cannot write the probe record: {e}"),
        })?;
        crate::atomic::write_atomic(&path, text.as_bytes())
    }
}

impl Prober<'_> {
    /// What identifies a probe's result: everything the simulation and the judgement read.
    /// The scenario text holds the hardware, model, fleet size, demand and seed; the rest is how
    /// the run is judged and priced. The files the scenario names (a trace, a model config, a
    /// hardware profile) enter through a digest of what was read from them, so editing one makes
    /// `--resume` simulate again rather than reuse a stale probe.
    pub(super) fn record_key(
        &self,
        scenario: &str,
        sc: &Scenario,
        units: u32,
        traffic: f64,
        price_factor: f64,
    ) -> String {
        format!(
            "codesim {}\nscenario file: {}\nunits: {units}\ntraffic scale: {traffic:?}\nprice factor: {price_factor:?}\nslo: {}\ninputs read: {:016x}\n\n{scenario}",
            env!("CARGO_PKG_VERSION"),
            absolute(&self.cand.base_path),
            serde_json::to_string(&self.slo).expect("an SLO serialises"),
            inputs_digest(sc),
        )
    }
}

/// FNV-1a over everything a resolved scenario read (hardware, model, traces, length columns):
/// the trace rows are hashed field by field, the rest through its `Debug` text (no hash maps, so
/// it is the same in every process).
fn inputs_digest(sc: &Scenario) -> u64 {
    let mut h = crate::hash::Fnv64::new();
    if let Some(t) = &sc.trace {
        h.u64(t.requests.len() as u64);
        for r in &t.requests {
            h.u64(r.arrival_ns);
            h.u64(((r.input_tokens as u64) << 32) | r.output_tokens as u64);
            h.u64(r.hash_ids.len() as u64);
            for &id in &r.hash_ids {
                h.u64(id);
            }
            if let Some(m) = r.max_tokens {
                h.u64(m as u64);
            }
        }
    }
    for col in [&sc.input_column, &sc.output_column].into_iter().flatten() {
        h.u64(col.len() as u64);
        for &x in col.iter() {
            h.u64(x as u64);
        }
    }
    let rest = Scenario {
        trace: None,
        input_column: None,
        output_column: None,
        ..sc.clone()
    };
    use std::fmt::Write;
    let _ = write!(h, "{rest:?}");
    h.finish()
}
