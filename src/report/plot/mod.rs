//! Charts for reports: x-y charts (lines, scatters, log axes, reference lines) and bar charts, each
//! written as a 1200x800 PNG and an SVG.
//!
//! Text is rendered with the DejaVu Sans font embedded in the binary (the `dejavu` crate), registered
//! with plotters under "sans-serif" on first use, so no system fonts are needed. Axis ranges and
//! ticks are computed here from the data, so the output depends only on the input: the same chart
//! gives the same SVG bytes. Points that cannot be drawn (NaN, infinite, or non-positive on a log
//! axis) are skipped and counted in the legend entry of their series; no input makes this panic.

mod axis;
mod bars;
mod output;
mod xy;

use std::path::{Path, PathBuf};

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::error::Result;
use bars::render_bars;
use output::write_both;
use xy::{XyPlan, render_xy};

pub use crate::numfmt::sig4 as fmt_num;

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

/// Series colours, in order (matplotlib's tab10 with its grey replaced by navy, since grey is used
/// for reference lines). After ten series the colours repeat with another marker shape.
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(0, 0, 128),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];
/// Colours of the parts of stacked bars (ColorBrewer Set2), kept apart from the series palette so
/// a part is never mistaken for a configuration.
const PART_PALETTE: [RGBColor; 6] = [
    RGBColor(102, 194, 165),
    RGBColor(252, 141, 98),
    RGBColor(141, 160, 203),
    RGBColor(231, 138, 195),
    RGBColor(166, 216, 84),
    RGBColor(255, 217, 47),
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
    /// Palette slot: a configuration given the same slot keeps its colour (and marker shape) in
    /// every chart. `None`: the series' position in the chart.
    pub color: Option<usize>,
    /// Marker shape (0 filled circle, 1 triangle, 2 cross, 3 hollow circle); `None`: from the slot.
    pub marker: Option<usize>,
    /// Line drawn dashed (a p99 beside its solid p50).
    pub dashed: bool,
    /// Per point: drawn as a hollow, crossed marker (a backlogged or overloaded run). Empty: none.
    pub unstable: Vec<bool>,
    /// Per point: the text the interactive report shows on hover. Empty: no hover.
    pub tips: Vec<String>,
}

impl Series {
    pub fn new(label: impl Into<String>, points: Vec<(f64, f64)>, style: SeriesStyle) -> Self {
        Series {
            label: label.into(),
            points,
            style,
            highlight: false,
            color: None,
            marker: None,
            dashed: false,
            unstable: Vec::new(),
            tips: Vec::new(),
        }
    }

    /// Whether point `k` is drawn as unstable.
    pub fn is_unstable(&self, k: usize) -> bool {
        self.unstable.get(k).copied().unwrap_or(false)
    }
}

/// A point of a drawn chart that the interactive report shows on hover: its position in the
/// SVG's pixels and its text.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Hotspot {
    pub x: i32,
    pub y: i32,
    pub tip: String,
}

/// The legend entry of hollow, crossed markers.
pub const UNSTABLE_LEGEND: &str = "hollow, crossed: backlogged or overloaded run";

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
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Bar {
    pub label: String,
    /// The bar's height (of a stacked bar: the sum of its parts).
    pub value: f64,
    /// A stacked bar's parts, bottom up, in the order of [`BarChart::parts`]. Empty: one block.
    pub parts: Vec<f64>,
    /// Palette slot of a plain bar (see [`Series::color`]); `None`: the bar's position.
    pub color: Option<usize>,
    /// The text the interactive report shows on hover. Empty: no hover.
    pub tip: String,
}

impl Bar {
    pub fn new(label: impl Into<String>, value: f64) -> Self {
        Bar {
            label: label.into(),
            value,
            ..Bar::default()
        }
    }
}

/// Bars in the given order with their value printed on them: one colour each, or, when `parts`
/// names the parts of stacked bars, one colour per part with a legend.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BarChart {
    pub title: String,
    pub y_label: String,
    pub groups: Vec<Bar>,
    /// The names of the stacked parts (legend order, bottom up). Empty: plain bars.
    pub parts: Vec<String>,
}

/// Writes `<stem>.png` (1200x800) and `<stem>.svg`, creating the parent folder if needed.
/// Returns the two paths, PNG first.
pub fn draw_chart(chart: &Chart, stem: &Path) -> Result<[PathBuf; 2]> {
    draw_chart_hot(chart, stem).map(|(paths, _)| paths)
}

/// [`draw_chart`], also returning where the points with a tip landed in the SVG.
pub fn draw_chart_hot(chart: &Chart, stem: &Path) -> Result<([PathBuf; 2], Vec<Hotspot>)> {
    let plan = XyPlan::new(chart);
    let mut hot = Vec::new();
    let paths = write_both(
        stem,
        |root| render_xy(root, chart, &plan, &mut Vec::new()),
        |root| render_xy(root, chart, &plan, &mut hot),
    )?;
    Ok((paths, hot))
}

/// Writes x-y charts stacked top to bottom in one `<stem>.png` (1200x800) and `<stem>.svg` (a
/// timeline's load, replicas and latency over one time axis). Returns the two paths.
pub fn draw_stacked(charts: &[Chart], stem: &Path) -> Result<[PathBuf; 2]> {
    let mut plans: Vec<XyPlan> = charts.iter().map(XyPlan::new).collect();
    // One time axis: when one panel's legend needs a column, every panel gets the widest, so the
    // plots stay aligned.
    XyPlan::share_legend_column(&mut plans);
    write_both(
        stem,
        |root| render_stacked(root, charts, &plans),
        |root| render_stacked(root, charts, &plans),
    )
}

fn render_stacked<DB: DrawingBackend>(
    root: &output::Area<DB>,
    charts: &[Chart],
    plans: &[XyPlan],
) -> output::DrawResult {
    let areas = root.split_evenly((charts.len().max(1), 1));
    for (area, (chart, plan)) in areas.iter().zip(charts.iter().zip(plans)) {
        render_xy(area, chart, plan, &mut Vec::new())?;
    }
    Ok(())
}

/// Writes `<stem>.png` (1200x800) and `<stem>.svg` for a bar chart. Returns the two paths.
pub fn draw_bars(chart: &BarChart, stem: &Path) -> Result<[PathBuf; 2]> {
    draw_bars_hot(chart, stem).map(|(paths, _)| paths)
}

/// [`draw_bars`], also returning where the bars with a tip landed in the SVG.
pub fn draw_bars_hot(chart: &BarChart, stem: &Path) -> Result<([PathBuf; 2], Vec<Hotspot>)> {
    let mut hot = Vec::new();
    let paths = write_both(
        stem,
        |root| render_bars(root, chart, &mut Vec::new()),
        |root| render_bars(root, chart, &mut hot),
    )?;
    Ok((paths, hot))
}

// ---------------------------------------------------------------------------------------------
// Styles shared by both kinds of chart

fn title_font(title: &str) -> TextStyle<'static> {
    (FONT, title_px(title), FontStyle::Bold).into_font().color(&BLACK)
}

/// The title's size: `TITLE_PX`, smaller for a title that would not fit the width at that size
/// (a bold glyph of the embedded font averages about 0.62 of its size; 40 px of margin), never
/// below 14 px. Long titles (a sweep's name and its fleet) were cut off at both edges.
fn title_px(title: &str) -> f64 {
    let chars = title.chars().count().max(1) as f64;
    let fit = (f64::from(WIDTH) - 40.0) / (0.62 * chars);
    fit.clamp(14.0, f64::from(TITLE_PX))
}

/// The grey "no data to plot" note, centred on `at`.
fn no_data_note<C>(at: C) -> Text<'static, C, &'static str> {
    let text = (FONT, AXIS_DESC_PX)
        .into_font()
        .color(&REF_GREY)
        .pos(Pos::new(HPos::Center, VPos::Center));
    Text::new("no data to plot", at, text)
}

// ---------------------------------------------------------------------------------------------

/// Helpers shared by the tests of every chart kind.
#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh folder under the system temp dir, unique to this test and process.
    pub(super) fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("codesim-plot-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Removes a test's folder, unless CODESIM_KEEP_PLOTS is set (to look at the pictures).
    pub(super) fn clean_up(dir: &Path) {
        if std::env::var_os("CODESIM_KEEP_PLOTS").is_none() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }

    pub(super) fn scatter() -> Chart {
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

    pub(super) fn check_files(paths: &[PathBuf; 2]) -> String {
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
            groups: vec![Bar::new("z", 0.0)],
            ..BarChart::default()
        };
        check_files(&draw_bars(&zeros, &dir.join("zero")).unwrap());
        let neg = BarChart {
            groups: vec![Bar::new("n", -4.0)],
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
}

#[cfg(test)]
mod title_tests {
    /// A short title keeps the full size; one of 94 characters shrinks to fit 1160 px:
    /// 1160 / (0.62 × 94) = 19.9 px.
    #[test]
    fn a_long_title_shrinks_to_fit_the_width() {
        assert_eq!(super::title_px("Cost against p99"), 28.0);
        let long = "x".repeat(94);
        assert!((super::title_px(&long) - 1160.0 / (0.62 * 94.0)).abs() < 1e-9);
        assert_eq!(super::title_px(&"x".repeat(1000)), 14.0);
    }
}
