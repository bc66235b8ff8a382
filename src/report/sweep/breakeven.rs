//! Rent, own or buy per token: each configuration's $ per million tokens against load, rented
//! (on demand, reserved, spot), owned, and its tokens bought from a managed endpoint, and the load
//! at which self-hosting falls to the managed price while meeting the primary SLO.
//!
//! Between two loads the gap (self-hosted − managed $/Mtok) is interpolated as a + b / x: a fixed
//! hourly cost spread over tokens that grow with the load x falls as 1 / x, so the crossing of a
//! cost dominated by fixed costs is found where a straight line would overshoot it.

use super::document::Block;
use super::{Group, x_of};
use crate::metrics::RunResult;
use crate::numfmt::sig4 as fmt_num;
use crate::report::plot::{Chart, Series, SeriesStyle};
use crate::sweep::exec::RunRecord;
use crate::sweep::{Manifest, SloSpec};

/// One way of paying: its name and the run's $/Mtok (all tokens) under it.
type Way = (&'static str, fn(&RunResult) -> Option<f64>);

const WAYS: [Way; 4] = [
    ("on-demand", |r| Some(r.pricing.on_demand.usd_per_mtok_total)),
    ("reserved", |r| r.pricing.reserved.map(|c| c.usd_per_mtok_total)),
    ("spot", |r| r.pricing.spot.map(|c| c.usd_per_mtok_total)),
    ("own", |r| r.pricing.own.map(|o| o.cost.usd_per_mtok_total)),
];

fn managed(r: &RunResult) -> Option<f64> {
    r.pricing.managed.as_ref().map(|m| m.cost.usd_per_mtok_total)
}

/// Where a way of paying meets the managed price.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum BreakEven {
    /// Already at or below it at the lowest load that meets the SLO.
    AtOrBelow(f64),
    /// Crosses it at this load.
    At(f64),
    /// Above it at every load that meets the SLO: the lowest gap, $/Mtok, and its load.
    Above { gap: f64, x: f64 },
}

/// The break-even of (load, self-hosted $/Mtok, managed $/Mtok) points meeting the SLO, sorted by
/// load; `None` without points.
pub(super) fn break_even(points: &[(f64, f64, f64)]) -> Option<BreakEven> {
    let gap = |p: &(f64, f64, f64)| p.1 - p.2;
    let first = points.first()?;
    if gap(first) <= 0.0 {
        return Some(BreakEven::AtOrBelow(first.0));
    }
    for w in points.windows(2) {
        let (p, q) = (&w[0], &w[1]);
        let (d1, d2) = (gap(p), gap(q));
        if d2 > 0.0 {
            continue;
        }
        // d = a + b / x through both points; its root -b / a, else a straight line.
        let (u1, u2) = (1.0 / p.0, 1.0 / q.0);
        let b = (d1 - d2) / (u1 - u2);
        let a = d1 - b * u1;
        let x = if a < 0.0 && b > 0.0 {
            -b / a
        } else {
            p.0 + d1 / (d1 - d2) * (q.0 - p.0)
        };
        return Some(BreakEven::At(x.clamp(p.0, q.0)));
    }
    let best = points.iter().min_by(|a, b| gap(a).total_cmp(&gap(b)))?;
    Some(BreakEven::Above {
        gap: gap(best),
        x: best.0,
    })
}

/// A group's (load, way's $/Mtok, managed $/Mtok) over its runs that completed requests, and only
/// those meeting `slo` when given.
fn points(m: &Manifest, records: &[RunRecord], g: &Group, way: &Way, slo: Option<&SloSpec>) -> Vec<(f64, f64, f64)> {
    g.runs
        .iter()
        .filter_map(|&i| {
            let r = records[i].ok().filter(|r| r.requests.completed > 0)?;
            if slo.is_some_and(|s| !s.met_by(r)) {
                return None;
            }
            Some((x_of(m, &records[i])?, way.1(r)?, managed(r)?))
        })
        .collect()
}

fn any_managed(records: &[RunRecord]) -> bool {
    records
        .iter()
        .any(|r| r.ok().is_some_and(|r| r.pricing.managed.is_some()))
}

/// The report's section: per configuration and way of paying, the break-even load.
pub(super) fn section(b: &mut Vec<Block>, m: &Manifest, records: &[RunRecord], groups: &[Group]) {
    if m.x_axis().is_none() || !any_managed(records) {
        return;
    }
    let slo = m.primary_slo();
    let at = slo.map_or("every run".to_string(), SloSpec::label);
    b.push(Block::Heading(2, "Rent, own or buy per token".into()));
    b.push(Block::Para(format!(
        "$ per million tokens (input + output) of each configuration rented, owned and bought from a managed endpoint at the run's own token mix (`pricing` in each run's summary.json); the break-even is the load at which self-hosting costs no more than the managed price, among the runs meeting {at} (interpolated as a + b / load between two runs). Owned servers pay capital recovery, facility and operations per server-hour whether busy or idle, plus the run's measured energy: at low load their fixed cost is spread over few tokens."
    )));
    let mut rows = Vec::new();
    for g in groups {
        let name = records[g.runs[0]]
            .ok()
            .and_then(|r| r.pricing.managed.as_ref().map(|p| p.name.clone()));
        let Some(name) = name else { continue };
        let mut row = vec![g.label.clone(), name];
        for way in &WAYS {
            let cell = match break_even(&points(m, records, g, way, slo)) {
                Some(BreakEven::AtOrBelow(x)) => format!("≤ {}", fmt_num(x)),
                Some(BreakEven::At(x)) => fmt_num(x),
                Some(BreakEven::Above { gap, x }) => format!("not reached (+${gap:.3}/Mtok at {})", fmt_num(x)),
                None if points_any(m, records, g, way.1).is_empty() => "-".into(),
                None => "no run meets the SLO".into(),
            };
            row.push(cell);
        }
        rows.push(row);
    }
    let load = m.x_axis().map_or(String::new(), |a| m.axes[a].key.clone());
    b.push(Block::Para(format!(
        "Break-even `{load}` of each way of paying (`-`: the catalog has no such price for the instance, or no ownership figures; `not reached`: above the managed price at every load meeting the SLO, with the smallest gap):"
    )));
    let mut head = vec!["configuration".to_string(), "managed price".into()];
    head.extend(WAYS.iter().map(|w| w.0.to_string()));
    b.push(Block::Table(head, rows));
}

/// Cost per million tokens against load: every way of paying and the managed price, per
/// configuration (every run that completed requests; the report's table judges the SLO).
pub(super) fn chart(
    m: &Manifest,
    records: &[RunRecord],
    groups: &[Group],
    x_label: String,
    x_log: bool,
) -> Option<Chart> {
    m.x_axis()?;
    let mut series = Vec::new();
    let mut managed_drawn: Vec<String> = Vec::new();
    for g in groups {
        // A configuration keeps its colour; each way of paying has its marker shape.
        for (k, way) in WAYS.iter().enumerate() {
            let pts: Vec<(f64, f64)> = points_any(m, records, g, way.1);
            if !pts.is_empty() {
                let mut s = Series::new(format!("{} {}", g.label, way.0), pts, SeriesStyle::LineAndPoints);
                s.color = Some(g.slot);
                s.marker = Some(k);
                series.push(s);
            }
        }
        // One line per managed price: at a flat price per token it is the same for every
        // configuration serving the same traffic.
        let pts = points_any(m, records, g, managed);
        let name = records[g.runs[0]]
            .ok()
            .and_then(|r| r.pricing.managed.as_ref().map(|p| p.name.clone()));
        if let Some(name) = name.filter(|n| !pts.is_empty() && !managed_drawn.contains(n)) {
            managed_drawn.push(name.clone());
            let mut s = Series::new(format!("managed: {name}"), pts, SeriesStyle::Line);
            s.highlight = true;
            series.push(s);
        }
    }
    Some(Chart {
        title: format!("Cost per million tokens: rent, own or buy — {}", m.name),
        x_label,
        y_label: "cost ($ per million input + output tokens)".into(),
        x_log,
        y_log: true,
        series,
        reference_lines: Vec::new(),
    })
}

fn points_any(m: &Manifest, records: &[RunRecord], g: &Group, get: fn(&RunResult) -> Option<f64>) -> Vec<(f64, f64)> {
    g.runs
        .iter()
        .filter_map(|&i| {
            let r = records[i].ok().filter(|r| r.requests.completed > 0)?;
            Some((x_of(m, &records[i])?, get(r)?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_break_even_of_a_fixed_cost_falling_as_one_over_load_is_found_exactly() {
        // Self-hosted: 10 $/h fixed over 0.5 Mtok/h per unit of load → 20 / x $/Mtok; managed 0.8.
        // They meet at x = 25; runs at 10, 20, 40, 80.
        let pts: Vec<(f64, f64, f64)> = [10.0, 20.0, 40.0, 80.0].iter().map(|&x| (x, 20.0 / x, 0.8)).collect();
        match break_even(&pts) {
            Some(BreakEven::At(x)) => assert!((x - 25.0).abs() < 1e-9, "{x}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(break_even(&pts[2..]), Some(BreakEven::AtOrBelow(40.0)));
        let above = break_even(&pts[..2]).unwrap();
        assert_eq!(
            above,
            BreakEven::Above {
                gap: 1.0 - 0.8,
                x: 20.0
            }
        );
        assert_eq!(break_even(&[]), None);
    }
}
