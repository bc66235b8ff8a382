//! Bar charts: bars in the given order from zero, each with its value printed at its end, and
//! category labels rotated when they do not fit side by side.

use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::axis::{Axis, Ticked, linear_coord, linear_ticks, valid_on, y_label_area};
use super::output::{Area, DrawResult, de};
use super::{
    AXIS_DESC_PX, BarChart, FONT, Hotspot, LEGEND_PX, PALETTE, PART_PALETTE, TICK_PX, WIDTH, fmt_num, no_data_note,
    title_font,
};

/// The drawing area of a bar chart once its axes are set (x: bar index, y: value).
type BarContext<'a, DB> = ChartContext<'a, DB, Cartesian2d<Ticked<RangedCoordf64>, Ticked<RangedCoordf64>>>;

/// Where things go on a bar chart, worked out before anything is drawn.
struct BarLayout {
    /// The bar labels, shortened to 40 characters.
    labels: Vec<String>,
    /// Whether the labels are too wide to sit side by side, and so are drawn rotated.
    rotate: bool,
    /// Height in pixels of the area below the x axis.
    x_area: u32,
    /// The value range shown.
    lo: f64,
    hi: f64,
}

impl BarLayout {
    fn new<DB: DrawingBackend>(root: &Area<DB>, chart: &BarChart) -> Self {
        let n = chart.groups.len();
        let values = chart.groups.iter().map(|b| b.value).filter(|&v| valid_on(false, v));
        let (min, max) = values.fold((0.0f64, 0.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
        let span = if max > min { max - min } else { 1.0 };
        // Bars start at zero; leave room beyond the bar ends for the value labels.
        let lo = if min < 0.0 { min - 0.1 * span } else { 0.0 };
        // Stacked bars leave room above for the legend of their parts.
        let top = if chart.parts.is_empty() { 0.1 } else { 0.3 };
        let hi = if max > 0.0 || min == 0.0 { max + top * span } else { 0.0 };

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
        BarLayout {
            labels,
            rotate,
            x_area,
            lo,
            hi,
        }
    }
}

/// Draws the chart; pushes onto `hot` the middle of each bar with a tip.
pub(super) fn render_bars<DB: DrawingBackend>(root: &Area<DB>, chart: &BarChart, hot: &mut Vec<Hotspot>) -> DrawResult {
    root.fill(&WHITE).map_err(de)?;
    let layout = BarLayout::new(root, chart);
    let mut ctx = draw_frame(root, chart, &layout)?;
    if layout.rotate {
        draw_rotated_labels(&mut ctx, &layout)?;
    }
    if chart.parts.is_empty() {
        draw_bars_with_values(&mut ctx, chart)?;
    } else {
        draw_stacked_bars(&mut ctx, chart, &layout)?;
    }
    for (i, bar) in chart.groups.iter().enumerate() {
        if !bar.tip.is_empty() && valid_on(false, bar.value) {
            let (x, y) = ctx.backend_coord(&(i as f64, 0.5 * bar.value));
            hot.push(Hotspot {
                x,
                y,
                tip: bar.tip.clone(),
            });
        }
    }
    if chart.groups.is_empty() {
        let mid = (0.0, 0.5 * (layout.lo + layout.hi));
        ctx.draw_series(std::iter::once(no_data_note(mid))).map_err(de)?;
    }
    Ok(())
}

/// The title, axes, value grid, and the bar labels when they are not rotated.
fn draw_frame<'a, DB: DrawingBackend>(
    root: &'a Area<DB>,
    chart: &BarChart,
    layout: &BarLayout,
) -> Result<BarContext<'a, DB>, String> {
    let BarLayout {
        labels,
        rotate,
        x_area,
        lo,
        hi,
    } = layout;
    let (lo, hi, rotate) = (*lo, *hi, *rotate);
    let n = chart.groups.len();
    let (yb, yl) = linear_ticks(lo, hi, 8.0);
    let x_hi = n.max(1) as f64 - 0.5;
    let y_area = y_label_area(root, &yb, fmt_num);
    let mut builder = ChartBuilder::on(root);
    if !chart.title.is_empty() {
        builder.caption(&chart.title, title_font(&chart.title));
    }
    let mut ctx = builder
        .margin(20)
        .x_label_area_size(*x_area)
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
    Ok(ctx)
}

/// The bar labels, turned a quarter and hanging down from the axis.
fn draw_rotated_labels<DB: DrawingBackend>(ctx: &mut BarContext<'_, DB>, layout: &BarLayout) -> DrawResult {
    let style = (FONT, TICK_PX)
        .into_font()
        .transform(FontTransform::Rotate90)
        .color(&BLACK)
        .pos(Pos::new(HPos::Left, VPos::Center));
    let texts = layout
        .labels
        .iter()
        .enumerate()
        .map(|(i, l)| EmptyElement::at((i as f64, layout.lo)) + Text::new(l.clone(), (-3, 10), style.clone()));
    ctx.draw_series(texts).map_err(de)?;
    Ok(())
}

/// Each bar in its colour, its value printed beyond its end (at zero when it cannot be drawn).
fn draw_bars_with_values<DB: DrawingBackend>(ctx: &mut BarContext<'_, DB>, chart: &BarChart) -> DrawResult {
    let value_font = (FONT, TICK_PX).into_font();
    for (i, bar) in chart.groups.iter().enumerate() {
        let c = i as f64;
        let color = PALETTE[bar.color.unwrap_or(i) % PALETTE.len()];
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
    Ok(())
}

/// Stacked bars: each part in its colour with its value inside when it has room, the total on
/// top, and a legend of the parts.
fn draw_stacked_bars<'a, DB: DrawingBackend + 'a>(
    ctx: &mut BarContext<'a, DB>,
    chart: &BarChart,
    layout: &BarLayout,
) -> DrawResult {
    let font = (FONT, TICK_PX).into_font();
    let room = 0.05 * (layout.hi - layout.lo);
    for (k, name) in chart.parts.iter().enumerate() {
        let color = PART_PALETTE[k % PART_PALETTE.len()];
        let mut blocks = Vec::new();
        let mut labels = Vec::new();
        for (i, bar) in chart.groups.iter().enumerate() {
            let below: f64 = bar.parts.iter().take(k).filter(|v| valid_on(false, **v)).sum();
            let Some(&v) = bar.parts.get(k).filter(|v| valid_on(false, **v) && **v > 0.0) else {
                continue;
            };
            let c = i as f64;
            blocks.push(Rectangle::new(
                [(c - 0.35, below), (c + 0.35, below + v)],
                color.filled(),
            ));
            if v >= room {
                let style = font.clone().color(&BLACK).pos(Pos::new(HPos::Center, VPos::Center));
                labels.push(EmptyElement::at((c, below + 0.5 * v)) + Text::new(fmt_num(v), (0, 0), style));
            }
        }
        ctx.draw_series(blocks)
            .map_err(de)?
            .label(name.clone())
            .legend(move |(lx, ly)| Rectangle::new([(lx, ly - 7), (lx + 18, ly + 7)], color.filled()));
        ctx.draw_series(labels).map_err(de)?;
    }
    let totals = chart
        .groups
        .iter()
        .enumerate()
        .filter(|(_, b)| valid_on(false, b.value))
        .map(|(i, b)| {
            let style = font.clone().color(&BLACK).pos(Pos::new(HPos::Center, VPos::Bottom));
            EmptyElement::at((i as f64, b.value)) + Text::new(fmt_num(b.value), (0, -4), style)
        });
    ctx.draw_series(totals).map_err(de)?;
    ctx.configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .margin(12)
        .legend_area_size(30)
        .label_font((FONT, LEGEND_PX))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .draw()
        .map_err(de)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::tests::{check_files, clean_up, temp_dir};
    use super::super::*;

    #[test]
    fn bar_chart() {
        let dir = temp_dir("bars");
        let chart = BarChart {
            title: "Goodput by configuration".into(),
            y_label: "goodput (req/s)".into(),
            groups: ["TP1", "TP2", "TP4 & PP2", "TP8"]
                .iter()
                .zip([12.5, 31.0, 44.25, 39.0])
                .map(|(l, v)| Bar::new(l.to_string(), v))
                .collect(),
            parts: vec![],
        };
        let svg = check_files(&draw_bars(&chart, &dir.join("goodput")).unwrap());
        assert!(svg.contains("TP2") && svg.contains("TP4 &amp; PP2") && svg.contains("44.25"));
        // Many long labels are rotated; negative and NaN values are fine.
        let long = BarChart {
            title: "many".into(),
            y_label: "delta (%)".into(),
            groups: (0..25)
                .map(|i| {
                    Bar::new(
                        format!("a rather long configuration name {i}"),
                        if i == 3 { f64::NAN } else { f64::from(i) - 10.0 },
                    )
                })
                .collect(),
            parts: vec![],
        };
        check_files(&draw_bars(&long, &dir.join("long")).unwrap());
        clean_up(&dir);
    }
}
