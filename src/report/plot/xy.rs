//! x-y charts: the backend-independent plan (axes, drawable runs of each series, where the legend
//! goes), reference lines clipped to the plot, and the drawing itself.

use plotters::coord::ranged1d::{DefaultFormatting, Ranged};
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::axis::{Axis, linear_coord, log_coord, valid_on, y_label_area};
use super::output::{Area, DrawResult, de};
use super::{
    AXIS_DESC_PX, Chart, FONT, Hotspot, LEGEND_PX, MARKER_LINE_COLOR, NOTE_PX, PALETTE, REF_GREY, RefLine, Series,
    SeriesStyle, TICK_PX, TITLE_PX, UNSTABLE_LEGEND, fmt_num, no_data_note, title_font,
};

/// A series' runs of consecutive drawable points (indices into its points), and how many of its
/// points were skipped.
type SeriesRuns = (Vec<Vec<usize>>, usize);

/// Everything about an x-y chart that does not depend on the backend.
pub(super) struct XyPlan {
    x: Axis,
    y: Axis,
    /// Per series: runs of consecutive drawable points, and how many points were skipped.
    runs: Vec<SeriesRuns>,
    legend_pos: SeriesLabelPosition,
    /// Width of a column right of the plot that holds the legend, pixels; 0: the legend sits in a
    /// corner of the plot. A column when every corner holds data (a timeline's lines cross them
    /// all), so the legend never covers a data point.
    legend_column_px: u32,
    any_points: bool,
}

impl XyPlan {
    pub(super) fn new(chart: &Chart) -> Self {
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

        let runs: Vec<_> = chart.series.iter().map(|s| drawable_runs(s, ok)).collect();
        let any_points = runs.iter().any(|(r, _)| !r.is_empty());

        // Put the legend in the corner holding the fewest points and reference-line samples; a
        // data point weighs as much as a whole reference line across the corner (20 samples): a
        // legend may cover part of a labelled line, never the data.
        let mut occupied: Vec<(f64, f64, usize)> = drawable().map(|(px, py)| (x.frac(px), y.frac(py), 20)).collect();
        for line in &chart.reference_lines {
            for path in ref_line_paths(line, &x, &y) {
                for w in path.windows(2) {
                    for i in 0..=20 {
                        let t = f64::from(i) / 20.0;
                        let fx = x.frac(w[0].0) * (1.0 - t) + x.frac(w[1].0) * t;
                        let fy = y.frac(w[0].1) * (1.0 - t) + y.frac(w[1].1) * t;
                        occupied.push((fx, fy, 1));
                    }
                }
            }
        }
        let (legend_pos, crowded) = least_crowded_corner(&occupied);
        // Only series entries move to the column; a chart with reference-line or unstable-run
        // entries keeps its legend in a corner.
        let other_entries = chart.reference_lines.iter().any(|r| ref_label(r).is_some())
            || chart
                .series
                .iter()
                .any(|s| (0..s.points.len()).any(|k| s.is_unstable(k)));
        let legend_column_px = if crowded && !other_entries {
            legend_column_px(chart)
        } else {
            0
        };
        XyPlan {
            x,
            y,
            runs,
            legend_pos,
            legend_column_px,
            any_points,
        }
    }
}

impl XyPlan {
    /// Gives every plan the widest legend column among them (stacked panels share one x extent).
    pub(super) fn share_legend_column(plans: &mut [XyPlan]) {
        let widest = plans.iter().map(|p| p.legend_column_px).max().unwrap_or(0);
        for p in plans {
            p.legend_column_px = widest;
        }
    }
}

/// A series' runs of consecutive points passing `ok`, and how many of its points did not.
fn drawable_runs(s: &Series, ok: impl Fn((f64, f64)) -> bool) -> SeriesRuns {
    let mut runs: Vec<Vec<usize>> = vec![];
    let mut current = vec![];
    for (k, &p) in s.points.iter().enumerate() {
        if ok(p) {
            current.push(k);
        } else if !current.is_empty() {
            runs.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        runs.push(current);
    }
    let shown: usize = runs.iter().map(Vec::len).sum();
    (runs, s.points.len() - shown)
}

/// The widest legend column right of the plot, pixels: beyond it the plot would shrink too much
/// and the legend stays in a corner.
const MAX_LEGEND_COLUMN_PX: u32 = 320;

/// The width of a legend column holding every label of `chart`, pixels (a label's width is
/// estimated at 0.6 em per character, generous for the embedded font); 0 when it would pass
/// [`MAX_LEGEND_COLUMN_PX`].
fn legend_column_px(chart: &Chart) -> u32 {
    let longest = chart.series.iter().map(|s| s.label.chars().count()).max().unwrap_or(0);
    // Sample line (34) + the legend's margins (2 × 12) + the text + air (8).
    let px = 34 + 24 + (longest as f64 * 0.6 * f64::from(LEGEND_PX)).ceil() as u32 + 8;
    if px > MAX_LEGEND_COLUMN_PX { 0 } else { px }
}

/// The corner whose quarter of the plot holds the least weight of the `occupied` positions
/// (fractions of each axis, weight), the first of upper left, upper right, lower right, lower
/// left on a tie; and whether even that corner holds some.
fn least_crowded_corner(occupied: &[(f64, f64, usize)]) -> (SeriesLabelPosition, bool) {
    let corners = [
        (SeriesLabelPosition::UpperLeft, false, true),
        (SeriesLabelPosition::UpperRight, true, true),
        (SeriesLabelPosition::LowerRight, true, false),
        (SeriesLabelPosition::LowerLeft, false, false),
    ];
    let crowding = |right: bool, upper: bool| {
        occupied
            .iter()
            .filter(|(fx, fy, _)| {
                let in_x = if right { *fx > 0.55 } else { *fx < 0.45 };
                let in_y = if upper { *fy > 0.55 } else { *fy < 0.45 };
                in_x && in_y
            })
            .map(|o| o.2)
            .sum::<usize>()
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
    (legend_pos, best > 0)
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

/// Draws the chart; pushes onto `hot` where each drawable point with a tip landed.
pub(super) fn render_xy<DB: DrawingBackend>(
    root: &Area<DB>,
    chart: &Chart,
    plan: &XyPlan,
    hot: &mut Vec<Hotspot>,
) -> DrawResult {
    let (x, y) = (&plan.x, &plan.y);
    let (lx, ly) = (|| linear_coord(x, x.ticks()), || linear_coord(y, y.ticks()));
    match (x.log, y.log) {
        (false, false) => draw_xy(root, chart, plan, lx(), ly(), hot),
        (true, false) => draw_xy(root, chart, plan, log_coord(x), ly(), hot),
        (false, true) => draw_xy(root, chart, plan, lx(), log_coord(y), hot),
        (true, true) => draw_xy(root, chart, plan, log_coord(x), log_coord(y), hot),
    }
}

/// A hollow circle with a cross through it, `r` pixels in radius: a point that is not a steady
/// state.
macro_rules! unstable_marker {
    ($at:expr, $r:expr, $color:expr) => {{
        let style = $color.stroke_width(2);
        let r: i32 = $r;
        EmptyElement::at($at)
            + Circle::new((0, 0), r, style)
            + PathElement::new(vec![(-r, -r), (r, r)], style)
            + PathElement::new(vec![(-r, r), (r, -r)], style)
    }};
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

/// The drawing area of an x-y chart once its axes are set.
type XyContext<'a, DB, X, Y> = ChartContext<'a, DB, Cartesian2d<X, Y>>;

fn draw_xy<DB, X, Y>(root: &Area<DB>, chart: &Chart, plan: &XyPlan, xc: X, yc: Y, hot: &mut Vec<Hotspot>) -> DrawResult
where
    DB: DrawingBackend,
    X: Ranged<ValueType = f64, FormatOption = DefaultFormatting>,
    Y: Ranged<ValueType = f64, FormatOption = DefaultFormatting>,
{
    let column = plan.legend_column_px;
    let (plot_area, legend_area) = if column > 0 {
        root.fill(&WHITE).map_err(de)?;
        let (plot, legend) = root.split_horizontally(root.dim_in_pixel().0.saturating_sub(column));
        (plot, Some(legend))
    } else {
        (root.clone(), None)
    };
    let mut ctx = draw_frame(&plot_area, chart, plan, xc, yc)?;
    // Reference lines first, so the data sits on top of them.
    let mut any_legend = draw_reference_lines(&mut ctx, chart, plan)?;
    for (i, (series, runs)) in chart.series.iter().zip(&plan.runs).enumerate() {
        draw_series(&mut ctx, i, series, runs)?;
        if legend_area.is_none() {
            series_legend(&mut ctx, i, series, runs)?;
            any_legend = true;
        }
        for &k in runs.0.iter().flatten() {
            if let Some(tip) = series.tips.get(k).filter(|t| !t.is_empty()) {
                let (px, py) = ctx.backend_coord(&series.points[k]);
                hot.push(Hotspot {
                    x: px,
                    y: py,
                    tip: tip.clone(),
                });
            }
        }
    }
    let any_unstable = chart
        .series
        .iter()
        .zip(&plan.runs)
        .any(|(s, runs)| runs.0.iter().flatten().any(|&k| s.is_unstable(k)));
    if any_unstable {
        ctx.draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())
            .map_err(de)?
            .label(UNSTABLE_LEGEND)
            .legend(|(lx, ly)| unstable_marker!((lx + 12, ly), 5, REF_GREY));
    }
    if !plan.any_points {
        let (x, y) = (plan.x, plan.y);
        // Above the middle, where a lone reference line would sit.
        let mid = (
            x.inv(0.5 * (x.fwd(x.lo) + x.fwd(x.hi))),
            y.inv(0.35 * y.fwd(y.lo) + 0.65 * y.fwd(y.hi)),
        );
        ctx.draw_series(std::iter::once(no_data_note(mid))).map_err(de)?;
    }
    if any_legend {
        draw_legend(&mut ctx, plan.legend_pos.clone())?;
    }
    if let Some(area) = &legend_area {
        // The column's legend starts level with the plot's top edge.
        let top = 20 + if chart.title.is_empty() { 0 } else { TITLE_PX + 10 };
        let mut lctx = ChartBuilder::on(area)
            .margin_top(top)
            .build_cartesian_2d(0.0..1.0, 0.0..1.0)
            .map_err(de)?;
        for (i, (series, runs)) in chart.series.iter().zip(&plan.runs).enumerate() {
            series_legend(&mut lctx, i, series, runs)?;
        }
        draw_legend(&mut lctx, SeriesLabelPosition::UpperLeft)?;
    }
    Ok(())
}

fn draw_legend<'a, DB, X, Y>(ctx: &mut XyContext<'a, DB, X, Y>, position: SeriesLabelPosition) -> DrawResult
where
    DB: DrawingBackend + 'a,
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    ctx.configure_series_labels()
        .position(position)
        .margin(12)
        .legend_area_size(34)
        .label_font((FONT, LEGEND_PX))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .draw()
        .map_err(de)
}

/// The white background, title, axes, tick labels and grid.
fn draw_frame<'a, DB, X, Y>(
    root: &'a Area<DB>,
    chart: &Chart,
    plan: &XyPlan,
    xc: X,
    yc: Y,
) -> Result<XyContext<'a, DB, X, Y>, String>
where
    DB: DrawingBackend,
    X: Ranged<ValueType = f64, FormatOption = DefaultFormatting>,
    Y: Ranged<ValueType = f64, FormatOption = DefaultFormatting>,
{
    root.fill(&WHITE).map_err(de)?;
    let y_area = y_label_area(root, &plan.y.ticks().0, fmt_num);
    let mut builder = ChartBuilder::on(root);
    if !chart.title.is_empty() {
        builder.caption(&chart.title, title_font(&chart.title));
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
    Ok(ctx)
}

/// Draws the reference lines with their legend entries and notes; returns whether any has a
/// legend entry.
fn draw_reference_lines<DB, X, Y>(
    ctx: &mut XyContext<'_, DB, X, Y>,
    chart: &Chart,
    plan: &XyPlan,
) -> Result<bool, String>
where
    DB: DrawingBackend,
    X: Ranged<ValueType = f64, FormatOption = DefaultFormatting>,
    Y: Ranged<ValueType = f64, FormatOption = DefaultFormatting>,
{
    let mut any_legend = false;
    let (x, y) = (plan.x, plan.y);
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
    Ok(any_legend)
}

/// How the `i`-th series looks: its colour, marker shape, marker radius, line style and whether
/// its line is dashed.
struct Look {
    color: RGBColor,
    shape: usize,
    radius: i32,
    line: ShapeStyle,
    dashed: bool,
}

fn look(i: usize, series: &Series, runs: &[Vec<usize>]) -> Look {
    let n_points: usize = runs.iter().map(Vec::len).sum();
    let slot = series.color.unwrap_or(i);
    // A highlighted series without a slot of its own (a frontier) is black: never a configuration's colour.
    let color = match (series.highlight, series.color) {
        (true, None) => BLACK,
        _ => PALETTE[slot % PALETTE.len()],
    };
    let radius = match (series.highlight, n_points > 2000) {
        (true, _) => 6,
        (false, true) => 2,
        (false, false) => 4,
    };
    Look {
        color,
        shape: series.marker.unwrap_or(slot / PALETTE.len()),
        radius,
        line: color.stroke_width(if series.highlight { 4 } else { 2 }),
        dashed: series.dashed,
    }
}

/// The `i`-th series' legend entry, on the plot's context or a legend column's.
fn series_legend<'a, DB, X, Y>(
    ctx: &mut XyContext<'a, DB, X, Y>,
    i: usize,
    series: &Series,
    (runs, skipped): &SeriesRuns,
) -> DrawResult
where
    DB: DrawingBackend + 'a,
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    let lk = look(i, series, runs);
    let (color, shape, line) = (lk.color, lk.shape, lk.line);
    // An empty series carries the legend entry, so every series is listed even with no points.
    let mut label = series.label.clone();
    if *skipped > 0 {
        label.push_str(&format!(" ({skipped} of {} not drawable)", series.points.len()));
    }
    let anno = ctx
        .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())
        .map_err(de)?
        .label(label);
    let r = lk.radius.min(5);
    let dash = if lk.dashed { 7 } else { 24 };
    match series.style {
        SeriesStyle::Line => {
            anno.legend(move |(lx, ly)| DashedPathElement::new(vec![(lx, ly), (lx + 24, ly)], dash, 4, line))
        }
        SeriesStyle::Points => anno.legend(move |(lx, ly)| marker::<DB, _>((lx + 12, ly), shape, r, color)),
        SeriesStyle::LineAndPoints => anno.legend(move |(lx, ly)| {
            EmptyElement::at((lx, ly))
                + DashedPathElement::new(vec![(0, 0), (24, 0)], dash, 4, line)
                + marker::<DB, _>((12, 0), shape, r, color)
        }),
    };
    Ok(())
}

/// Draws the `i`-th series (its colour and marker shape follow from `i`).
fn draw_series<'a, DB, X, Y>(
    ctx: &mut XyContext<'a, DB, X, Y>,
    i: usize,
    series: &Series,
    (runs, _): &SeriesRuns,
) -> DrawResult
where
    DB: DrawingBackend + 'a,
    X: Ranged<ValueType = f64, FormatOption = DefaultFormatting>,
    Y: Ranged<ValueType = f64, FormatOption = DefaultFormatting>,
{
    let Look {
        color,
        shape,
        radius,
        line,
        dashed,
    } = look(i, series, runs);
    let (draw_line, draw_points) = match series.style {
        SeriesStyle::Line => (true, false),
        SeriesStyle::Points => (false, true),
        SeriesStyle::LineAndPoints => (true, true),
    };

    for run in runs {
        let pts = run.iter().map(|&k| series.points[k]);
        if draw_line && run.len() >= 2 {
            if dashed {
                ctx.draw_series(DashedLineSeries::new(pts.clone(), 10, 6, line))
                    .map_err(de)?;
            } else {
                ctx.draw_series(LineSeries::new(pts.clone(), line)).map_err(de)?;
            }
        }
        if draw_points {
            let (shaky, steady): (Vec<usize>, Vec<usize>) = run.iter().partition(|&&k| series.is_unstable(k));
            ctx.draw_series(
                steady
                    .iter()
                    .map(|&k| marker::<DB, _>(series.points[k], shape, radius, color)),
            )
            .map_err(de)?;
            ctx.draw_series(
                shaky
                    .iter()
                    .map(|&k| unstable_marker!(series.points[k], radius + 2, color)),
            )
            .map_err(de)?;
        } else if run.len() == 1 {
            // A lone point of a line series would be invisible: show it as a small dot.
            ctx.draw_series(pts.map(|p| Circle::new(p, 3, color.filled())))
                .map_err(de)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
