//! Charts for reports: x-y charts (lines, scatters, log axes, reference lines) and bar charts, each
//! written as a 1200x800 PNG and an SVG.
//!
//! Text is rendered with the DejaVu Sans font embedded in the binary (the `dejavu` crate), registered
//! with plotters under "sans-serif" on first use, so no system fonts are needed. Axis ranges and
//! ticks are computed here from the data, so the output depends only on the input: the same chart
//! gives the same SVG bytes. Points that cannot be drawn (NaN, infinite, or non-positive on a log
//! axis) are skipped and counted in the legend entry of their series; no input makes this panic.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::coord::types::RangedCoordf64;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::error::{Error, Result};

/// Size of the PNG in pixels (the SVG has the same nominal size).
pub const WIDTH: u32 = 1200;
pub const HEIGHT: u32 = 800;

const FONT: &str = "sans-serif";
const TITLE_PX: u32 = 28;
const AXIS_DESC_PX: u32 = 20;
const TICK_PX: u32 = 16;
const LEGEND_PX: u32 = 16;
const NOTE_PX: u32 = 16;
/// Fraction of the data span added on each side of an axis.
const PAD: f64 = 0.06;
/// Values beyond these magnitudes are treated as unplottable.
const MAX_ABS: f64 = 1e300;
const MIN_POS: f64 = 1e-300;

/// Series colours, in order (matplotlib's tab10 with its grey replaced by black, since grey is used
/// for reference lines). After ten series the colours repeat with another marker shape.
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(0, 0, 0),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];
const REF_GREY: RGBColor = RGBColor(110, 110, 110);
const MARKER_LINE_COLOR: RGBColor = RGBColor(178, 34, 34);

/// How a series is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SeriesStyle {
    /// Points joined in the given order (not sorted); invalid points break the line.
    Line,
    /// Markers only.
    #[default]
    Points,
    /// Markers joined by a line.
    LineAndPoints,
}

/// One named set of (x, y) points.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
    pub style: SeriesStyle,
    /// Drawn with a thicker line and larger markers (e.g. a Pareto frontier).
    pub highlight: bool,
}

impl Series {
    pub fn new(label: impl Into<String>, points: Vec<(f64, f64)>, style: SeriesStyle) -> Self {
        Series {
            label: label.into(),
            points,
            style,
            highlight: false,
        }
    }
}

/// A line drawn for reference, behind the series.
#[derive(Debug, Clone, PartialEq)]
pub enum RefLine {
    /// y = x, solid grey.
    Identity,
    /// y = r * x, dashed grey (e.g. 1.1 and 0.9 for a ±10 % band).
    Ratio(f64),
    /// y = const, dashed dark red, labelled at its right end (e.g. an SLO).
    Horizontal { y: f64, label: String },
    /// x = const, dashed dark red, labelled at its top.
    Vertical { x: f64, label: String },
}

/// An x-y chart. Axis labels should carry their units, e.g. "TTFT p99 (ms)".
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Chart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub x_log: bool,
    pub y_log: bool,
    pub series: Vec<Series>,
    pub reference_lines: Vec<RefLine>,
}

/// One bar of a bar chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub label: String,
    pub value: f64,
}

/// Bars in the given order, one colour each, with their value printed on them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BarChart {
    pub title: String,
    pub y_label: String,
    pub groups: Vec<Bar>,
}

/// Writes `<stem>.png` (1200x800) and `<stem>.svg`, creating the parent folder if needed.
/// Returns the two paths, PNG first.
pub fn draw_chart(chart: &Chart, stem: &Path) -> Result<[PathBuf; 2]> {
    let plan = XyPlan::new(chart);
    write_both(
        stem,
        |root| render_xy(root, chart, &plan),
        |root| render_xy(root, chart, &plan),
    )
}

/// Writes `<stem>.png` (1200x800) and `<stem>.svg` for a bar chart. Returns the two paths.
pub fn draw_bars(chart: &BarChart, stem: &Path) -> Result<[PathBuf; 2]> {
    write_both(stem, |root| render_bars(root, chart), |root| render_bars(root, chart))
}

// ---------------------------------------------------------------------------------------------
// Output

type Area<DB> = DrawingArea<DB, Shift>;
type DrawResult = std::result::Result<(), String>;

fn with_suffix(stem: &Path, suffix: &str) -> PathBuf {
    let mut s: OsString = stem.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

fn write_both(
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

fn de<E: std::fmt::Display>(e: E) -> String {
    format!("drawing failed: {e}")
}

// ---------------------------------------------------------------------------------------------
// Axes and ticks

/// One axis: its scale and its (padded) range, lo < hi, both finite (and positive when log).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Axis {
    log: bool,
    lo: f64,
    hi: f64,
}

impl Axis {
    fn valid(&self, v: f64) -> bool {
        valid_on(self.log, v)
    }
    /// Value to display space (log10 for a log axis).
    fn fwd(&self, v: f64) -> f64 {
        if self.log { v.log10() } else { v }
    }
    fn inv(&self, t: f64) -> f64 {
        if self.log { 10f64.powf(t) } else { t }
    }
    /// Position of `v` along the axis, 0 at `lo` and 1 at `hi`.
    fn frac(&self, v: f64) -> f64 {
        (self.fwd(v) - self.fwd(self.lo)) / (self.fwd(self.hi) - self.fwd(self.lo))
    }

    /// The axis shown when there is nothing to show: 1..10 (log) or 0..1.
    fn fallback(log: bool) -> Axis {
        let (lo, hi) = if log { (1.0, 10.0) } else { (0.0, 1.0) };
        Axis { log, lo, hi }
    }

    /// The range covering `values` (the invalid ones ignored) with `PAD` on each side.
    fn covering(log: bool, values: impl Iterator<Item = f64>) -> Axis {
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
    fn ticks(&self) -> (Vec<f64>, Vec<f64>) {
        if self.log {
            log_ticks(self.lo, self.hi)
        } else {
            linear_ticks(self.lo, self.hi, 8.0)
        }
    }
}

fn valid_on(log: bool, v: f64) -> bool {
    v.is_finite() && v.abs() <= MAX_ABS && (!log || v >= MIN_POS)
}

/// Ticks at multiples of a 1-2-2.5-5 step, about `target` of them, plus minor subdivisions.
fn linear_ticks(lo: f64, hi: f64, target: f64) -> (Vec<f64>, Vec<f64>) {
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

pub use crate::numfmt::sig4 as fmt_num;

// ---------------------------------------------------------------------------------------------
// x-y charts

/// A series' runs of consecutive drawable points, and how many of its points were skipped.
type SeriesRuns = (Vec<Vec<(f64, f64)>>, usize);

/// Everything about an x-y chart that does not depend on the backend.
struct XyPlan {
    x: Axis,
    y: Axis,
    /// Per series: runs of consecutive drawable points, and how many points were skipped.
    runs: Vec<SeriesRuns>,
    legend_pos: SeriesLabelPosition,
    any_points: bool,
}

impl XyPlan {
    fn new(chart: &Chart) -> Self {
        let ok = |(x, y): (f64, f64)| valid_on(chart.x_log, x) && valid_on(chart.y_log, y);
        let drawable = || {
            chart
                .series
                .iter()
                .flat_map(|s| s.points.iter().copied())
                .filter(|&p| ok(p))
        };
        let ref_x = chart.reference_lines.iter().filter_map(|r| match r {
            RefLine::Vertical { x, .. } => Some(*x),
            _ => None,
        });
        let ref_y = chart.reference_lines.iter().filter_map(|r| match r {
            RefLine::Horizontal { y, .. } => Some(*y),
            _ => None,
        });
        let x = Axis::covering(chart.x_log, drawable().map(|p| p.0).chain(ref_x));
        let y = Axis::covering(chart.y_log, drawable().map(|p| p.1).chain(ref_y));

        let runs: Vec<_> = chart
            .series
            .iter()
            .map(|s| {
                let mut runs: Vec<Vec<(f64, f64)>> = vec![];
                let mut current = vec![];
                for &p in &s.points {
                    if ok(p) {
                        current.push(p);
                    } else if !current.is_empty() {
                        runs.push(std::mem::take(&mut current));
                    }
                }
                if !current.is_empty() {
                    runs.push(current);
                }
                let shown: usize = runs.iter().map(Vec::len).sum();
                (runs, s.points.len() - shown)
            })
            .collect();
        let any_points = runs.iter().any(|(r, _)| !r.is_empty());

        // Put the legend in the corner holding the fewest points and reference-line samples.
        let mut occupied: Vec<(f64, f64)> = drawable().map(|(px, py)| (x.frac(px), y.frac(py))).collect();
        for line in &chart.reference_lines {
            for path in ref_line_paths(line, &x, &y) {
                for w in path.windows(2) {
                    for i in 0..=20 {
                        let t = f64::from(i) / 20.0;
                        let fx = x.frac(w[0].0) * (1.0 - t) + x.frac(w[1].0) * t;
                        let fy = y.frac(w[0].1) * (1.0 - t) + y.frac(w[1].1) * t;
                        occupied.push((fx, fy));
                    }
                }
            }
        }
        let corners = [
            (SeriesLabelPosition::UpperLeft, false, true),
            (SeriesLabelPosition::UpperRight, true, true),
            (SeriesLabelPosition::LowerRight, true, false),
            (SeriesLabelPosition::LowerLeft, false, false),
        ];
        let crowding = |right: bool, upper: bool| {
            occupied
                .iter()
                .filter(|(fx, fy)| {
                    let in_x = if right { *fx > 0.55 } else { *fx < 0.45 };
                    let in_y = if upper { *fy > 0.55 } else { *fy < 0.45 };
                    in_x && in_y
                })
                .count()
        };
        let mut legend_pos = SeriesLabelPosition::UpperLeft;
        let mut best = usize::MAX;
        for (pos, right, upper) in corners {
            let n = crowding(right, upper);
            if n < best {
                best = n;
                legend_pos = pos;
            }
        }
        XyPlan {
            x,
            y,
            runs,
            legend_pos,
            any_points,
        }
    }
}

/// The visible part of a reference line as polylines in data coordinates (empty if none).
fn ref_line_paths(line: &RefLine, x: &Axis, y: &Axis) -> Vec<Vec<(f64, f64)>> {
    let ratio = match line {
        RefLine::Identity => 1.0,
        RefLine::Ratio(r) => *r,
        RefLine::Horizontal { y: v, .. } => {
            return if y.valid(*v) {
                vec![vec![(x.lo, *v), (x.hi, *v)]]
            } else {
                vec![]
            };
        }
        RefLine::Vertical { x: v, .. } => {
            return if x.valid(*v) {
                vec![vec![(*v, y.lo), (*v, y.hi)]]
            } else {
                vec![]
            };
        }
    };
    if !ratio.is_finite() {
        return vec![];
    }
    // y = r*x is straight in display space when both axes have the same scale; else sample it.
    let steps = if x.log == y.log { 1 } else { 256 };
    let (tx0, tx1) = (x.fwd(x.lo), x.fwd(x.hi));
    let (ty0, ty1) = (y.fwd(y.lo), y.fwd(y.hi));
    let sample = |i: usize| {
        let t = tx0 + (tx1 - tx0) * i as f64 / steps as f64;
        let yv = ratio * x.inv(t);
        y.valid(yv).then(|| (t, y.fwd(yv)))
    };
    let mut paths: Vec<Vec<(f64, f64)>> = vec![];
    let mut open = false;
    for i in 0..steps {
        let clipped = match (sample(i), sample(i + 1)) {
            (Some(p), Some(q)) => clip_segment(p, q, (tx0, tx1), (ty0, ty1)),
            _ => None,
        };
        match clipped {
            Some((p, q)) => {
                let (p, q) = ((x.inv(p.0), y.inv(p.1)), (x.inv(q.0), y.inv(q.1)));
                match paths.last_mut() {
                    Some(path) if open => path.push(q),
                    _ => paths.push(vec![p, q]),
                }
                open = true;
            }
            None => open = false,
        }
    }
    paths
}

/// Liang-Barsky: the part of segment p-q inside the rectangle, if any.
fn clip_segment(
    p: (f64, f64),
    q: (f64, f64),
    (x0, x1): (f64, f64),
    (y0, y1): (f64, f64),
) -> Option<((f64, f64), (f64, f64))> {
    let (dx, dy) = (q.0 - p.0, q.1 - p.1);
    let (mut t0, mut t1) = (0.0f64, 1.0f64);
    for (edge_p, edge_q) in [(-dx, p.0 - x0), (dx, x1 - p.0), (-dy, p.1 - y0), (dy, y1 - p.1)] {
        if edge_p == 0.0 {
            if edge_q < 0.0 {
                return None;
            }
        } else {
            let r = edge_q / edge_p;
            if edge_p < 0.0 {
                t0 = t0.max(r);
            } else {
                t1 = t1.min(r);
            }
        }
    }
    (t0 < t1).then_some(((p.0 + t0 * dx, p.1 + t0 * dy), (p.0 + t1 * dx, p.1 + t1 * dy)))
}

/// A plotters coordinate (linear or log) whose ticks are the ones computed here.
struct Ticked<R> {
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

fn linear_coord(axis: &Axis, ticks: (Vec<f64>, Vec<f64>)) -> Ticked<RangedCoordf64> {
    Ticked::new((axis.lo..axis.hi).into(), ticks)
}

fn log_coord(axis: &Axis) -> Ticked<plotters::coord::combinators::LogCoord<f64>> {
    Ticked::new((axis.lo..axis.hi).log_scale().into(), axis.ticks())
}

fn render_xy<DB: DrawingBackend>(root: &Area<DB>, chart: &Chart, plan: &XyPlan) -> DrawResult {
    let (x, y) = (&plan.x, &plan.y);
    match (x.log, y.log) {
        (false, false) => draw_xy(
            root,
            chart,
            plan,
            linear_coord(x, x.ticks()),
            linear_coord(y, y.ticks()),
        ),
        (true, false) => draw_xy(root, chart, plan, log_coord(x), linear_coord(y, y.ticks())),
        (false, true) => draw_xy(root, chart, plan, linear_coord(x, x.ticks()), log_coord(y)),
        (true, true) => draw_xy(root, chart, plan, log_coord(x), log_coord(y)),
    }
}

/// Width in pixels of the widest tick label, plus room for the axis description.
fn y_label_area<DB: DrawingBackend>(root: &Area<DB>, ticks: &[f64], formatter: impl Fn(f64) -> String) -> u32 {
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

fn title_font() -> TextStyle<'static> {
    (FONT, f64::from(TITLE_PX), FontStyle::Bold).into_font().color(&BLACK)
}

/// A marker of one of four shapes (filled circle, triangle, cross, hollow circle).
fn marker<DB: DrawingBackend, C: Clone + 'static>(
    at: C,
    shape: usize,
    radius: i32,
    color: RGBColor,
) -> DynElement<'static, DB, C> {
    match shape % 4 {
        0 => Circle::new(at, radius, color.filled()).into_dyn(),
        1 => TriangleMarker::new(at, radius + 1, color.filled()).into_dyn(),
        2 => Cross::new(at, radius, color.stroke_width(2)).into_dyn(),
        _ => Circle::new(at, radius, color.stroke_width(2)).into_dyn(),
    }
}

fn ref_label(line: &RefLine) -> Option<String> {
    match line {
        RefLine::Identity => Some("y = x".to_string()),
        RefLine::Ratio(r) => Some(format!("y = {}·x", fmt_num(*r))),
        _ => None,
    }
}

fn draw_xy<DB, X, Y>(root: &Area<DB>, chart: &Chart, plan: &XyPlan, xc: X, yc: Y) -> DrawResult
where
    DB: DrawingBackend,
    X: Ranged<ValueType = f64, FormatOption = DefaultFormatting>,
    Y: Ranged<ValueType = f64, FormatOption = DefaultFormatting>,
{
    root.fill(&WHITE).map_err(de)?;
    let y_area = y_label_area(root, &plan.y.ticks().0, fmt_num);
    let mut builder = ChartBuilder::on(root);
    if !chart.title.is_empty() {
        builder.caption(&chart.title, title_font());
    }
    let mut ctx = builder
        .margin(20)
        .x_label_area_size(TICK_PX + AXIS_DESC_PX + 30)
        .y_label_area_size(y_area)
        .build_cartesian_2d(xc, yc)
        .map_err(de)?;
    let fmt = |v: &f64| fmt_num(*v);
    ctx.configure_mesh()
        .x_desc(chart.x_label.as_str())
        .y_desc(chart.y_label.as_str())
        .x_label_formatter(&fmt)
        .y_label_formatter(&fmt)
        .axis_desc_style((FONT, AXIS_DESC_PX))
        .label_style((FONT, TICK_PX))
        .bold_line_style(BLACK.mix(0.15))
        .light_line_style(BLACK.mix(0.05))
        .draw()
        .map_err(de)?;

    let mut any_legend = false;
    let (x, y) = (plan.x, plan.y);

    // Reference lines first, so the data sits on top of them.
    let note_style = |color: &RGBColor, pos: Pos| (FONT, NOTE_PX).into_font().color(color).pos(pos);
    for line in &chart.reference_lines {
        let paths = ref_line_paths(line, &x, &y);
        let (style, dashed) = match line {
            RefLine::Identity => (REF_GREY.stroke_width(2), false),
            RefLine::Ratio(_) => (REF_GREY.stroke_width(2), true),
            _ => (MARKER_LINE_COLOR.stroke_width(2), true),
        };
        for (i, path) in paths.into_iter().enumerate() {
            let anno = if dashed {
                ctx.draw_series(DashedLineSeries::new(path, 10, 6, style)).map_err(de)?
            } else {
                ctx.draw_series(LineSeries::new(path, style)).map_err(de)?
            };
            if let (0, Some(label)) = (i, ref_label(line)) {
                any_legend = true;
                anno.label(label).legend(move |(lx, ly)| {
                    DashedPathElement::new(vec![(lx, ly), (lx + 24, ly)], if dashed { 6 } else { 24 }, 3, style)
                });
            }
        }
        match line {
            RefLine::Horizontal { y: v, label } if y.valid(*v) && !label.is_empty() => {
                let text = note_style(&MARKER_LINE_COLOR, Pos::new(HPos::Right, VPos::Bottom));
                let el = EmptyElement::at((x.hi, *v)) + Text::new(label.clone(), (-8, -6), text);
                ctx.draw_series(std::iter::once(el)).map_err(de)?;
            }
            RefLine::Vertical { x: v, label } if x.valid(*v) && !label.is_empty() => {
                let text = note_style(&MARKER_LINE_COLOR, Pos::new(HPos::Left, VPos::Top));
                let el = EmptyElement::at((*v, y.hi)) + Text::new(label.clone(), (6, 8), text);
                ctx.draw_series(std::iter::once(el)).map_err(de)?;
            }
            _ => {}
        }
    }

    for (i, (series, (runs, skipped))) in chart.series.iter().zip(&plan.runs).enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let shape = i / PALETTE.len();
        let n_points: usize = runs.iter().map(Vec::len).sum();
        let radius = match (series.highlight, n_points > 2000) {
            (true, _) => 6,
            (false, true) => 2,
            (false, false) => 4,
        };
        let line = color.stroke_width(if series.highlight { 4 } else { 2 });
        let (draw_line, draw_points) = match series.style {
            SeriesStyle::Line => (true, false),
            SeriesStyle::Points => (false, true),
            SeriesStyle::LineAndPoints => (true, true),
        };

        // An empty series carries the legend entry, so every series is listed even with no points.
        let mut label = series.label.clone();
        if *skipped > 0 {
            label.push_str(&format!(" ({skipped} of {} not drawable)", series.points.len()));
        }
        let anno = ctx
            .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())
            .map_err(de)?
            .label(label);
        let r = radius.min(5);
        match series.style {
            SeriesStyle::Line => anno.legend(move |(lx, ly)| PathElement::new(vec![(lx, ly), (lx + 24, ly)], line)),
            SeriesStyle::Points => anno.legend(move |(lx, ly)| marker::<DB, _>((lx + 12, ly), shape, r, color)),
            SeriesStyle::LineAndPoints => anno.legend(move |at| {
                EmptyElement::at(at)
                    + PathElement::new(vec![(0, 0), (24, 0)], line)
                    + marker::<DB, _>((12, 0), shape, r, color)
            }),
        };
        any_legend = true;

        for run in runs {
            if draw_line && run.len() >= 2 {
                ctx.draw_series(LineSeries::new(run.iter().copied(), line))
                    .map_err(de)?;
            }
            if draw_points {
                ctx.draw_series(run.iter().map(|&p| marker::<DB, _>(p, shape, radius, color)))
                    .map_err(de)?;
            } else if run.len() == 1 {
                // A lone point of a line series would be invisible: show it as a small dot.
                ctx.draw_series(run.iter().map(|&p| Circle::new(p, 3, color.filled())))
                    .map_err(de)?;
            }
        }
    }

    if !plan.any_points {
        let text = (FONT, AXIS_DESC_PX)
            .into_font()
            .color(&REF_GREY)
            .pos(Pos::new(HPos::Center, VPos::Center));
        // Above the middle, where a lone reference line would sit.
        let mid = (
            x.inv(0.5 * (x.fwd(x.lo) + x.fwd(x.hi))),
            y.inv(0.35 * y.fwd(y.lo) + 0.65 * y.fwd(y.hi)),
        );
        ctx.draw_series(std::iter::once(Text::new("no data to plot", mid, text)))
            .map_err(de)?;
    }

    if any_legend {
        ctx.configure_series_labels()
            .position(plan.legend_pos.clone())
            .margin(12)
            .legend_area_size(34)
            .label_font((FONT, LEGEND_PX))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .draw()
            .map_err(de)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Bar charts

fn render_bars<DB: DrawingBackend>(root: &Area<DB>, chart: &BarChart) -> DrawResult {
    root.fill(&WHITE).map_err(de)?;
    let n = chart.groups.len();
    let values = chart.groups.iter().map(|b| b.value).filter(|&v| valid_on(false, v));
    let (min, max) = values.fold((0.0f64, 0.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let span = if max > min { max - min } else { 1.0 };
    // Bars start at zero; leave room beyond the bar ends for the value labels.
    let lo = if min < 0.0 { min - 0.1 * span } else { 0.0 };
    let hi = if max > 0.0 || min == 0.0 { max + 0.1 * span } else { 0.0 };
    let (yb, yl) = linear_ticks(lo, hi, 8.0);

    let x_hi = n.max(1) as f64 - 0.5;
    let labels: Vec<String> = chart
        .groups
        .iter()
        .map(|b| {
            let chars: Vec<char> = b.label.chars().collect();
            if chars.len() > 40 {
                chars[..39].iter().collect::<String>() + "…"
            } else {
                b.label.clone()
            }
        })
        .collect();
    let tick_font = TextStyle::from((FONT, TICK_PX).into_font());
    let widest = labels
        .iter()
        .map(|l| root.estimate_text_size(l, &tick_font).map(|(w, _)| w).unwrap_or(0))
        .max()
        .unwrap_or(0);
    let slot = f64::from(WIDTH - 200) / n.max(1) as f64;
    let rotate = f64::from(widest) > 0.9 * slot;
    let x_area = if rotate {
        (widest + 30).clamp(60, 360)
    } else {
        TICK_PX + 30
    };

    let y_area = y_label_area(root, &yb, fmt_num);
    let mut builder = ChartBuilder::on(root);
    if !chart.title.is_empty() {
        builder.caption(&chart.title, title_font());
    }
    let mut ctx = builder
        .margin(20)
        .x_label_area_size(x_area)
        .y_label_area_size(y_area)
        .build_cartesian_2d(
            linear_coord(
                &Axis {
                    log: false,
                    lo: -0.5,
                    hi: x_hi,
                },
                ((0..n).map(|i| i as f64).collect(), vec![]),
            ),
            linear_coord(&Axis { log: false, lo, hi }, (yb.clone(), yl)),
        )
        .map_err(de)?;
    // Rotated labels are drawn below (plotters centres axis labels on the tick, whatever the angle).
    let x_fmt = |v: &f64| {
        let i = v.round();
        match labels.get(i as usize) {
            Some(label) if i >= 0.0 && !rotate => label.clone(),
            _ => String::new(),
        }
    };
    let y_fmt = |v: &f64| fmt_num(*v);
    ctx.configure_mesh()
        .disable_x_mesh()
        .y_desc(chart.y_label.as_str())
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .axis_desc_style((FONT, AXIS_DESC_PX))
        .y_label_style((FONT, TICK_PX))
        .x_label_style((FONT, TICK_PX))
        .bold_line_style(BLACK.mix(0.15))
        .light_line_style(BLACK.mix(0.05))
        .draw()
        .map_err(de)?;

    if rotate {
        let style = (FONT, TICK_PX)
            .into_font()
            .transform(FontTransform::Rotate90)
            .color(&BLACK)
            .pos(Pos::new(HPos::Left, VPos::Center));
        let texts = labels
            .iter()
            .enumerate()
            .map(|(i, l)| EmptyElement::at((i as f64, lo)) + Text::new(l.clone(), (-3, 10), style.clone()));
        ctx.draw_series(texts).map_err(de)?;
    }

    let value_font = (FONT, TICK_PX).into_font();
    for (i, bar) in chart.groups.iter().enumerate() {
        let c = i as f64;
        let color = PALETTE[i % PALETTE.len()];
        if valid_on(false, bar.value) {
            let rect = Rectangle::new([(c - 0.35, 0.0), (c + 0.35, bar.value)], color.filled());
            ctx.draw_series(std::iter::once(rect)).map_err(de)?;
        }
        let (anchor, dy) = if bar.value < 0.0 {
            (VPos::Top, 4)
        } else {
            (VPos::Bottom, -4)
        };
        let at = if valid_on(false, bar.value) { bar.value } else { 0.0 };
        let style = value_font.clone().color(&BLACK).pos(Pos::new(HPos::Center, anchor));
        let text = EmptyElement::at((c, at)) + Text::new(fmt_num(bar.value), (0, dy), style);
        ctx.draw_series(std::iter::once(text)).map_err(de)?;
    }
    if n == 0 {
        let text = (FONT, AXIS_DESC_PX)
            .into_font()
            .color(&REF_GREY)
            .pos(Pos::new(HPos::Center, VPos::Center));
        ctx.draw_series(std::iter::once(Text::new(
            "no data to plot",
            (0.0, 0.5 * (lo + hi)),
            text,
        )))
        .map_err(de)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh folder under the system temp dir, unique to this test and process.
    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("codesim-plot-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Removes a test's folder, unless CODESIM_KEEP_PLOTS is set (to look at the pictures).
    fn clean_up(dir: &Path) {
        if std::env::var_os("CODESIM_KEEP_PLOTS").is_none() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }

    fn scatter() -> Chart {
        let series = (0..3)
            .map(|k| {
                let points = (1..=40)
                    .map(|i| {
                        let x = 20.0 * 1.12f64.powi(i);
                        let wobble = 1.0 + 0.12 * f64::from(i * (k + 2)).sin();
                        (x, x * wobble * (1.0 + 0.02 * f64::from(k)))
                    })
                    .collect();
                Series::new(format!("model-{k} sim vs measured"), points, SeriesStyle::Points)
            })
            .collect();
        Chart {
            title: "Simulated vs measured TTFT".into(),
            x_label: "measured TTFT (ms)".into(),
            y_label: "simulated TTFT (ms)".into(),
            x_log: true,
            y_log: true,
            series,
            reference_lines: vec![RefLine::Identity, RefLine::Ratio(1.1), RefLine::Ratio(0.9)],
        }
    }

    fn check_files(paths: &[PathBuf; 2]) -> String {
        let png = std::fs::read(&paths[0]).unwrap();
        assert!(
            png.starts_with(&[0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a]),
            "not a PNG"
        );
        let svg = std::fs::read_to_string(&paths[1]).unwrap();
        assert!(svg.starts_with("<svg"), "not an SVG");
        svg
    }

    #[test]
    fn log_log_scatter_with_reference_lines() {
        let dir = temp_dir("scatter");
        let chart = scatter();
        let paths = draw_chart(&chart, &dir.join("ttft")).unwrap();
        assert_eq!(paths, [dir.join("ttft.png"), dir.join("ttft.svg")]);
        let svg = check_files(&paths);
        for s in &chart.series {
            assert!(svg.contains(&s.label), "legend lacks {}", s.label);
        }
        for text in [
            "Simulated vs measured TTFT",
            "measured TTFT (ms)",
            "y = x",
            "y = 1.1·x",
            "y = 0.9·x",
        ] {
            assert!(svg.contains(text), "svg lacks {text}");
        }
        clean_up(&dir);
    }

    #[test]
    fn lines_with_slo_and_highlight_on_linear_axes() {
        let dir = temp_dir("lines");
        let mut chart = Chart {
            title: "Latency vs load".into(),
            x_label: "offered load (req/s)".into(),
            y_label: "p99 latency (s)".into(),
            ..Chart::default()
        };
        for k in 0..12 {
            let pts = (0..30)
                .map(|i| (f64::from(i), f64::from(i * i) * 0.01 * f64::from(k + 1)))
                .collect();
            let mut s = Series::new(format!("config {k}"), pts, SeriesStyle::LineAndPoints);
            s.highlight = k == 3;
            chart.series.push(s);
        }
        chart.reference_lines = vec![
            RefLine::Horizontal {
                y: 20.0,
                label: "SLO 20 s".into(),
            },
            RefLine::Vertical {
                x: 12.5,
                label: "capacity".into(),
            },
        ];
        let svg = check_files(&draw_chart(&chart, &dir.join("load")).unwrap());
        assert!(svg.contains("config 11") && svg.contains("SLO 20 s") && svg.contains("capacity"));
        clean_up(&dir);
    }

    #[test]
    fn bar_chart() {
        let dir = temp_dir("bars");
        let chart = BarChart {
            title: "Goodput by configuration".into(),
            y_label: "goodput (req/s)".into(),
            groups: ["TP1", "TP2", "TP4 & PP2", "TP8"]
                .iter()
                .zip([12.5, 31.0, 44.25, 39.0])
                .map(|(l, v)| Bar {
                    label: l.to_string(),
                    value: v,
                })
                .collect(),
        };
        let svg = check_files(&draw_bars(&chart, &dir.join("goodput")).unwrap());
        assert!(svg.contains("TP2") && svg.contains("TP4 &amp; PP2") && svg.contains("44.25"));
        // Many long labels are rotated; negative and NaN values are fine.
        let long = BarChart {
            title: "many".into(),
            y_label: "delta (%)".into(),
            groups: (0..25)
                .map(|i| Bar {
                    label: format!("a rather long configuration name {i}"),
                    value: if i == 3 { f64::NAN } else { f64::from(i) - 10.0 },
                })
                .collect(),
        };
        check_files(&draw_bars(&long, &dir.join("long")).unwrap());
        clean_up(&dir);
    }

    #[test]
    fn degenerate_inputs_do_not_panic() {
        let dir = temp_dir("degenerate");
        let pts = |v: &[(f64, f64)]| v.to_vec();
        type Case = (bool, bool, Vec<(f64, f64)>);
        let cases: Vec<Case> = vec![
            (false, false, vec![]),
            (true, true, vec![]),
            (true, true, pts(&[(5.0, 5.0)])),
            (false, false, pts(&[(0.0, 0.0)])),
            (false, false, pts(&[(3.0, -2.0), (3.0, -2.0)])),
            (true, false, pts(&[(0.0, 1.0), (-1.0, 2.0), (f64::NAN, 3.0)])),
            (
                true,
                true,
                pts(&[(f64::INFINITY, 1.0), (1.0, f64::NEG_INFINITY), (-3.0, -3.0)]),
            ),
            (
                false,
                false,
                pts(&[(1e308, -1e308), (-1e308, 1e308), (f64::MAX, f64::MIN)]),
            ),
            (true, true, pts(&[(1e-310, 1e-320), (f64::MIN_POSITIVE, 1e300)])),
            (false, true, pts(&[(1.0, 1.0), (1.0 + 1e-15, 1.0 + 1e-15)])),
            (true, true, pts(&[(2.0, 3.0), (8.0, 7.0)])),
            (true, false, pts(&[(1.0, 1.0), (1.000_001, 2.0)])),
        ];
        for (i, (x_log, y_log, points)) in cases.into_iter().enumerate() {
            let chart = Chart {
                x_log,
                y_log,
                series: vec![
                    Series::new("only", points.clone(), SeriesStyle::LineAndPoints),
                    Series::new("", vec![], SeriesStyle::Line),
                    Series::new("line", points, SeriesStyle::Line),
                ],
                reference_lines: vec![
                    RefLine::Identity,
                    RefLine::Ratio(f64::NAN),
                    RefLine::Ratio(-2.0),
                    RefLine::Ratio(0.0),
                    RefLine::Horizontal {
                        y: -1.0,
                        label: "below zero".into(),
                    },
                    RefLine::Vertical {
                        x: f64::INFINITY,
                        label: String::new(),
                    },
                ],
                ..Chart::default()
            };
            check_files(&draw_chart(&chart, &dir.join(format!("case{i}"))).unwrap());
        }
        check_files(&draw_chart(&Chart::default(), &dir.join("default")).unwrap());
        check_files(&draw_bars(&BarChart::default(), &dir.join("nobars")).unwrap());
        let zeros = BarChart {
            groups: vec![Bar {
                label: "z".into(),
                value: 0.0,
            }],
            ..BarChart::default()
        };
        check_files(&draw_bars(&zeros, &dir.join("zero")).unwrap());
        let neg = BarChart {
            groups: vec![Bar {
                label: "n".into(),
                value: -4.0,
            }],
            ..BarChart::default()
        };
        check_files(&draw_bars(&neg, &dir.join("neg")).unwrap());
        clean_up(&dir);
    }

    #[test]
    fn svg_is_deterministic() {
        let dir = temp_dir("determinism");
        let chart = scatter();
        let a = draw_chart(&chart, &dir.join("a")).unwrap();
        let b = draw_chart(&chart, &dir.join("b")).unwrap();
        assert_eq!(std::fs::read(&a[1]).unwrap(), std::fs::read(&b[1]).unwrap());
        assert_eq!(std::fs::read(&a[0]).unwrap(), std::fs::read(&b[0]).unwrap());
        clean_up(&dir);
    }

    #[test]
    fn unwritable_output_is_an_error() {
        let dir = temp_dir("unwritable");
        let blocker = dir.join("file");
        std::fs::write(&blocker, b"x").unwrap();
        let err = draw_chart(&scatter(), &blocker.join("sub").join("chart")).unwrap_err();
        assert!(matches!(err, Error::Output { .. }), "{err}");
        clean_up(&dir);
    }

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
