//! The x-y charts' tests: drawing both backends, legends, reference lines.

use super::super::tests::{check_files, clean_up, scatter, temp_dir};
use super::super::*;

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

/// Lines crossing every corner (a timeline) put the legend in a column right of the plot, so
/// it covers no data: the legend's text starts right of every drawn point. A chart with a free
/// corner keeps its legend there.
#[test]
fn a_legend_that_would_cover_data_in_every_corner_moves_right_of_the_plot() {
    let flat =
        |label: &str, y: f64| Series::new(label, (0..50).map(|i| (f64::from(i), y)).collect(), SeriesStyle::Line);
    let crowded = Chart {
        title: "replicas".into(),
        series: vec![flat("ready", 2.0), flat("draining", 0.0)],
        ..Chart::default()
    };
    let plan = XyPlan::new(&crowded);
    // 34 + 24 + ceil(8 chars × 0.6 × 16 px = 76.8) + 8 = 143 px.
    assert_eq!(plan.legend_column_px, 143);
    let free = Chart {
        series: vec![Series::new(
            "rising",
            (0..50).map(|i| (f64::from(i), f64::from(i))).collect(),
            SeriesStyle::Line,
        )],
        ..Chart::default()
    };
    assert_eq!(
        XyPlan::new(&free).legend_column_px,
        0,
        "a free corner keeps the legend inside"
    );

    let dir = temp_dir("legend-column");
    let svg = check_files(&draw_chart(&crowded, &dir.join("t")).unwrap());
    let x_of = |text: &str| -> f64 {
        let at = svg
            .find(&format!(">\n{text}\n</text>"))
            .unwrap_or_else(|| panic!("no {text}"));
        let tag = &svg[svg[..at].rfind("<text").unwrap()..at];
        let x = tag.split("x=\"").nth(1).unwrap().split('"').next().unwrap();
        x.parse().unwrap()
    };
    // The plot's right edge: WIDTH − the column − the plot's margin 20.
    let plot_right = f64::from(WIDTH - 20 - plan.legend_column_px);
    assert!(x_of("ready") > plot_right && x_of("draining") > plot_right);
    assert!(x_of("draining") < f64::from(WIDTH), "the legend stays inside the image");
    clean_up(&dir);
}
