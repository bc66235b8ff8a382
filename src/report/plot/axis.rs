//! Axes and ticks: ranges padded around the data, tick values computed here (not by plotters) so
//! the same data always gives the same ticks, and the plotters coordinates that use them.

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use super::output::Area;
use super::{AXIS_DESC_PX, FONT, MAX_ABS, MIN_POS, PAD, TICK_PX};

/// One axis: its scale and its (padded) range, lo < hi, both finite (and positive when log).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Axis {
    pub(super) log: bool,
    pub(super) lo: f64,
    pub(super) hi: f64,
}

impl Axis {
    pub(super) fn valid(&self, v: f64) -> bool {
        valid_on(self.log, v)
    }
    /// Value to display space (log10 for a log axis).
    pub(super) fn fwd(&self, v: f64) -> f64 {
        if self.log { v.log10() } else { v }
    }
    pub(super) fn inv(&self, t: f64) -> f64 {
        if self.log { 10f64.powf(t) } else { t }
    }
    /// Position of `v` along the axis, 0 at `lo` and 1 at `hi`.
    pub(super) fn frac(&self, v: f64) -> f64 {
        (self.fwd(v) - self.fwd(self.lo)) / (self.fwd(self.hi) - self.fwd(self.lo))
    }

    /// The axis shown when there is nothing to show: 1..10 (log) or 0..1.
    fn fallback(log: bool) -> Axis {
        let (lo, hi) = if log { (1.0, 10.0) } else { (0.0, 1.0) };
        Axis { log, lo, hi }
    }

    /// The range covering `values` (the invalid ones ignored) with `PAD` on each side.
    pub(super) fn covering(log: bool, values: impl Iterator<Item = f64>) -> Axis {
        let (mut min, mut max) = (f64::INFINITY, f64::NEG_INFINITY);
        for t in values
            .filter(|&v| valid_on(log, v))
            .map(|v| if log { v.log10() } else { v })
        {
            min = min.min(t);
            max = max.max(t);
        }
        if min > max {
            return Axis::fallback(log);
        }
        let scale = min.abs().max(max.abs());
        let span = max - min;
        let (lo, hi) = if span <= 1e-9 * scale || span == 0.0 {
            // One value (or values equal to within rounding): a fixed window around it.
            let half = if log {
                0.3
            } else if min == 0.0 {
                1.0
            } else {
                0.1 * min.abs()
            };
            let mid = 0.5 * (min + max);
            (mid - half, mid + half)
        } else {
            (min - PAD * span, max + PAD * span)
        };
        if log {
            let (lo, hi) = (10f64.powf(lo).max(MIN_POS), 10f64.powf(hi).min(MAX_ABS));
            if lo < hi {
                Axis { log, lo, hi }
            } else {
                Axis::fallback(log)
            }
        } else {
            let (lo, hi) = (lo.max(-MAX_ABS), hi.min(MAX_ABS));
            if lo < hi {
                Axis { log, lo, hi }
            } else {
                Axis::fallback(log)
            }
        }
    }

    /// Labelled ("bold") tick values and unlabelled minor grid values.
    pub(super) fn ticks(&self) -> (Vec<f64>, Vec<f64>) {
        if self.log {
            log_ticks(self.lo, self.hi)
        } else {
            linear_ticks(self.lo, self.hi, 8.0)
        }
    }
}

pub(super) fn valid_on(log: bool, v: f64) -> bool {
    v.is_finite() && v.abs() <= MAX_ABS && (!log || v >= MIN_POS)
}

/// Ticks at multiples of a 1-2-2.5-5 step, about `target` of them, plus minor subdivisions.
pub(super) fn linear_ticks(lo: f64, hi: f64, target: f64) -> (Vec<f64>, Vec<f64>) {
    let span = hi - lo;
    if !(span > 0.0 && span.is_finite()) {
        return (vec![], vec![]);
    }
    let raw = span / target;
    let mag = 10f64.powf(raw.log10().floor());
    let m = raw / mag;
    let (step_m, sub) = match m {
        m if m <= 1.0 => (1.0, 5),
        m if m <= 2.0 => (2.0, 4),
        m if m <= 2.5 => (2.5, 5),
        m if m <= 5.0 => (5.0, 5),
        _ => (10.0, 5),
    };
    let step = step_m * mag;
    let fine = step / f64::from(sub);
    let (k0, k1) = ((lo / fine).ceil(), (hi / fine).floor());
    if !(k0.is_finite() && k1.is_finite()) || k1 - k0 > 1000.0 {
        return (vec![], vec![]);
    }
    let (mut bold, mut light) = (vec![], vec![]);
    let mut k = k0 as i64;
    while k as f64 <= k1 {
        let v = tidy(k as f64 * fine);
        if k.rem_euclid(i64::from(sub)) == 0 {
            bold.push(v);
        } else {
            light.push(v);
        }
        k += 1;
    }
    (bold, light)
}

/// Log-axis ticks: powers of ten when the range spans three or more, else 1-2-5 or 1..9 times
/// powers of ten, else linear ticks for very narrow ranges.
fn log_ticks(lo: f64, hi: f64) -> (Vec<f64>, Vec<f64>) {
    let (a, b) = (lo.log10(), hi.log10());
    if !(a.is_finite() && b.is_finite() && a < b) {
        return (vec![], vec![]);
    }
    let within = |v: f64| v >= lo * (1.0 - 1e-12) && v <= hi * (1.0 + 1e-12);
    let (d_lo, d_hi) = (a.floor() as i32, b.ceil() as i32);
    let with_mults = |mults: &[f64]| -> Vec<f64> {
        (d_lo..=d_hi)
            .flat_map(|d| mults.iter().map(move |m| tidy(m * 10f64.powi(d))))
            .filter(|&v| within(v))
            .collect()
    };
    let decades: Vec<i32> = (d_lo..=d_hi).filter(|&d| within(10f64.powi(d))).collect();
    if decades.len() >= 3 {
        let every = decades.len().div_ceil(10) as i32;
        let bold = decades
            .iter()
            .filter(|d| d.rem_euclid(every) == 0)
            .map(|&d| 10f64.powi(d))
            .collect();
        let light = if every == 1 {
            with_mults(&[2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0])
        } else {
            decades
                .iter()
                .filter(|d| d.rem_euclid(every) != 0)
                .map(|&d| 10f64.powi(d))
                .collect()
        };
        return (bold, light);
    }
    let one_two_five = with_mults(&[1.0, 2.0, 5.0]);
    if one_two_five.len() >= 3 {
        return (one_two_five, with_mults(&[3.0, 4.0, 6.0, 7.0, 8.0, 9.0]));
    }
    let ones_to_nines = with_mults(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]);
    if ones_to_nines.len() >= 3 {
        return (ones_to_nines, vec![]);
    }
    (linear_ticks(lo, hi, 5.0).0, vec![])
}

/// Rounds away float noise (0.30000000000000004 -> 0.3) by keeping 12 significant digits.
fn tidy(v: f64) -> f64 {
    format!("{v:.11e}").parse().unwrap_or(v)
}

/// A plotters coordinate (linear or log) whose ticks are the ones computed here.
pub(super) struct Ticked<R> {
    inner: R,
    bold: Vec<f64>,
    light: Vec<f64>,
}

impl<R> Ticked<R> {
    fn new(inner: R, (bold, light): (Vec<f64>, Vec<f64>)) -> Self {
        Ticked { inner, bold, light }
    }
}

impl<R: Ranged<ValueType = f64>> Ranged for Ticked<R> {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.inner.map(value, limit)
    }
    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            self.light.clone()
        } else {
            self.bold.clone()
        }
    }
    fn range(&self) -> std::ops::Range<f64> {
        self.inner.range()
    }
}

pub(super) fn linear_coord(axis: &Axis, ticks: (Vec<f64>, Vec<f64>)) -> Ticked<RangedCoordf64> {
    Ticked::new((axis.lo..axis.hi).into(), ticks)
}

pub(super) fn log_coord(axis: &Axis) -> Ticked<plotters::coord::combinators::LogCoord<f64>> {
    Ticked::new((axis.lo..axis.hi).log_scale().into(), axis.ticks())
}

/// Width in pixels of the widest tick label, plus room for the axis description.
pub(super) fn y_label_area<DB: DrawingBackend>(
    root: &Area<DB>,
    ticks: &[f64],
    formatter: impl Fn(f64) -> String,
) -> u32 {
    let style = TextStyle::from((FONT, TICK_PX).into_font());
    let widest = ticks
        .iter()
        .map(|&v| {
            root.estimate_text_size(&formatter(v), &style)
                .map(|(w, _)| w)
                .unwrap_or(0)
        })
        .max()
        .unwrap_or(0);
    (widest + AXIS_DESC_PX + 30).clamp(60, 300)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::plot::fmt_num;

    #[test]
    fn ticks_and_numbers() {
        assert_eq!(fmt_num(0.30000000000000004), "0.3");
        assert_eq!(fmt_num(1500.0), "1500");
        assert_eq!(fmt_num(2_500_000.0), "2.5e6");
        assert_eq!(fmt_num(0.0001), "1e-4");
        assert_eq!(linear_ticks(0.0, 1.0, 8.0).0, vec![0.0, 0.2, 0.4, 0.6, 0.8, 1.0]);
        assert_eq!(log_ticks(0.5, 2000.0).0, vec![1.0, 10.0, 100.0, 1000.0]);
        assert_eq!(log_ticks(3.0, 60.0).0, vec![5.0, 10.0, 20.0, 50.0]);
        assert!(log_ticks(2.0, 2.5).0.len() >= 2);
        let wide = log_ticks(1e-30, 1e30).0;
        assert!(wide.len() <= 11 && wide.len() >= 5, "{wide:?}");
    }
}
