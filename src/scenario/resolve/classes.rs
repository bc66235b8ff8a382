//! `[slo]` and `[[workload.classes]]`: the request classes with their priorities and SLOs (a
//! class without its own SLO takes the scenario's), and the synthetic prefix groups.

use super::positive;
use crate::error::{Error, Result};
use crate::metrics::slo::Slo;
use crate::scenario::{ClassSection, SloSection, WorkloadClass, WorkloadSection};
use std::path::Path;

/// The classes (at least one: without `[[workload.classes]]`, one class of every request);
/// shares are normalised to sum to 1.
pub(super) fn resolve(w: &WorkloadSection, slo: Option<SloSection>, path: &Path) -> Result<Vec<WorkloadClass>> {
    if let Some(slo) = &slo {
        check_slo(slo, "slo", path)?;
    }
    let classes = if w.classes.is_empty() {
        vec![WorkloadClass {
            name: "default".into(),
            share: 1.0,
            priority: 0,
            slo: slo.map(resolved),
        }]
    } else {
        declared(&w.classes, slo, path)?
    };
    if w.prefix_groups == Some(0) {
        return Err(Error::input(
            path,
            "workload.prefix_groups",
            "must be at least 1, got 0",
        ));
    }
    Ok(classes)
}

fn declared(classes: &[ClassSection], slo: Option<SloSection>, path: &Path) -> Result<Vec<WorkloadClass>> {
    let mut total = 0.0;
    let mut out = Vec::new();
    for (i, c) in classes.iter().enumerate() {
        positive(path, &format!("workload.classes[{i}].share"), c.share)?;
        crate::input::check_label(path, &format!("workload.classes[{i}].name"), &c.name)?;
        if classes[..i].iter().any(|o| o.name == c.name) {
            return Err(Error::input(
                path,
                format!("workload.classes[{i}].name"),
                format!("class `{}` is declared twice", c.name),
            ));
        }
        if let Some(slo) = &c.slo {
            check_slo(slo, &format!("workload.classes[{i}].slo"), path)?;
        }
        total += c.share;
        out.push(WorkloadClass {
            name: c.name.clone(),
            share: c.share,
            priority: c.priority,
            slo: c.slo.or(slo).map(resolved),
        });
    }
    for c in &mut out {
        c.share /= total;
    }
    Ok(out)
}

/// Every target that is set must be a finite number > 0; `key` is where the SLO sits.
pub(super) fn check_slo(slo: &SloSection, key: &str, path: &Path) -> Result<()> {
    for (k, v) in [
        ("ttft_ms", slo.ttft_ms),
        ("tpot_ms", slo.tpot_ms),
        ("e2e_ms", slo.e2e_ms),
    ] {
        if let Some(v) = v {
            positive(path, &format!("{key}.{k}"), v)?;
        }
    }
    Ok(())
}

/// A scenario's SLO as the one SLO type: thresholds every request is judged against (a per-request
/// SLO has no percentile of its own; the sweep's default, p99, is what a run-level check reads).
pub(super) fn resolved(s: SloSection) -> Slo {
    Slo {
        name: None,
        percentile: 99.0,
        ttft_ms: s.ttft_ms,
        tpot_ms: s.tpot_ms,
        e2e_ms: s.e2e_ms,
    }
}
