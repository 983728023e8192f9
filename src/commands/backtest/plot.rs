//! The equity curve and its drawdown as an SVG picture, written by hand: two panels sharing the
//! time axis, equity above and drawdown below.

use std::fmt::Write;

use chrono::{DateTime, Utc};

const WIDTH: f64 = 960.0;
const HEIGHT: f64 = 540.0;
const LEFT: f64 = 90.0;
const RIGHT: f64 = 20.0;
const EQUITY_TOP: f64 = 40.0;
const EQUITY_BOTTOM: f64 = 340.0;
const DRAWDOWN_TOP: f64 = 380.0;
const DRAWDOWN_BOTTOM: f64 = 500.0;

/// Largest number of columns drawn; longer curves are reduced to the minimum and maximum of
/// each column, so that no peak or trough is lost.
const MAX_COLUMNS: usize = 1_000;

/// Labels of the picture besides the curve.
pub struct PlotLabels<'a> {
    pub title: &'a str,
    pub first_bar: DateTime<Utc>,
    pub last_bar: DateTime<Utc>,
}

/// Renders `equity` (one value per bar) and its drawdown from the running peak as an SVG
/// document.
pub fn equity_svg(equity: &[f64], labels: &PlotLabels<'_>) -> String {
    let drawdown = drawdowns(equity);
    let (low, high) = bounds(equity);
    let deepest = drawdown.iter().copied().fold(0.0_f64, f64::max).max(1e-9);

    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="{LEFT}" y="24" font-size="15">{}</text>"#,
        escape(labels.title)
    );
    frame(&mut svg, EQUITY_TOP, EQUITY_BOTTOM);
    frame(&mut svg, DRAWDOWN_TOP, DRAWDOWN_BOTTOM);

    let to_y = |value: f64| scale(value, low, high, EQUITY_BOTTOM, EQUITY_TOP);
    let line = polyline_points(equity, to_y);
    let _ = writeln!(
        svg,
        r##"<polyline fill="none" stroke="#1f5fbf" stroke-width="1.2" points="{line}"/>"##
    );
    let to_depth = |value: f64| scale(value, 0.0, deepest, DRAWDOWN_TOP, DRAWDOWN_BOTTOM);
    let area = polyline_points(&drawdown, to_depth);
    let x_end = x_of(drawdown.len().saturating_sub(1), drawdown.len());
    let _ = writeln!(
        svg,
        r##"<polygon fill="#d9534f" fill-opacity="0.5" stroke="#b52b27" stroke-width="0.8" points="{LEFT},{DRAWDOWN_TOP} {area} {x_end:.1},{DRAWDOWN_TOP}"/>"##
    );

    axis_labels(&mut svg, low, high, deepest, labels);
    svg.push_str("</svg>\n");
    svg
}

fn frame(svg: &mut String, top: f64, bottom: f64) {
    let width = WIDTH - LEFT - RIGHT;
    let height = bottom - top;
    let _ = writeln!(
        svg,
        r##"<rect x="{LEFT}" y="{top}" width="{width}" height="{height}" fill="none" stroke="#999"/>"##
    );
}

fn axis_labels(svg: &mut String, low: f64, high: f64, deepest: f64, labels: &PlotLabels<'_>) {
    let label_x = LEFT - 6.0;
    let texts = [
        (label_x, EQUITY_TOP + 10.0, "end", format!("{high:.2}")),
        (label_x, EQUITY_BOTTOM, "end", format!("{low:.2}")),
        (label_x, EQUITY_TOP + 150.0, "end", "equity".to_owned()),
        (label_x, DRAWDOWN_TOP + 10.0, "end", "0%".to_owned()),
        (
            label_x,
            DRAWDOWN_BOTTOM,
            "end",
            format!("-{:.2}%", deepest * 100.0),
        ),
        (label_x, DRAWDOWN_TOP + 60.0, "end", "drawdown".to_owned()),
        (
            LEFT,
            DRAWDOWN_BOTTOM + 20.0,
            "start",
            labels.first_bar.to_rfc3339(),
        ),
        (
            WIDTH - RIGHT,
            DRAWDOWN_BOTTOM + 20.0,
            "end",
            labels.last_bar.to_rfc3339(),
        ),
    ];
    for (x, y, anchor, text) in texts {
        let text = escape(&text);
        let _ = writeln!(
            svg,
            r#"<text x="{x}" y="{y}" text-anchor="{anchor}">{text}</text>"#
        );
    }
}

/// Fraction below the running peak at each bar.
fn drawdowns(equity: &[f64]) -> Vec<f64> {
    let mut peak = f64::MIN;
    equity
        .iter()
        .map(|&value| {
            peak = peak.max(value);
            if peak > 0.0 {
                (peak - value) / peak
            } else {
                0.0
            }
        })
        .collect()
}

fn bounds(values: &[f64]) -> (f64, f64) {
    let finite = values.iter().copied().filter(|value| value.is_finite());
    let (low, high) = finite.fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if low > high {
        return (0.0, 1.0);
    }
    if high - low < 1e-9 {
        return (low - 1.0, high + 1.0);
    }
    (low, high)
}

/// Maps `value` from `[low, high]` to `[at_low, at_high]`.
fn scale(value: f64, low: f64, high: f64, at_low: f64, at_high: f64) -> f64 {
    let fraction = if high > low {
        (value - low) / (high - low)
    } else {
        0.0
    };
    at_low + fraction.clamp(0.0, 1.0) * (at_high - at_low)
}

fn x_of(index: usize, count: usize) -> f64 {
    let span = WIDTH - LEFT - RIGHT;
    LEFT + span * index as f64 / count.saturating_sub(1).max(1) as f64
}

/// Points of a polyline over `values`, at most two per column: the column's extremes in the
/// order they occur.
fn polyline_points(values: &[f64], to_y: impl Fn(f64) -> f64) -> String {
    let mut points = String::new();
    let per_column = values.len().div_ceil(MAX_COLUMNS).max(1);
    for (column, chunk) in values.chunks(per_column).enumerate() {
        let first_index = column * per_column;
        let (min_at, max_at) = extremes(chunk);
        let mut picks = [min_at, max_at];
        picks.sort_unstable();
        let picks = if picks[0] == picks[1] {
            &picks[..1]
        } else {
            &picks[..]
        };
        for &offset in picks {
            let x = x_of(first_index + offset, values.len());
            let y = to_y(chunk[offset]);
            let _ = write!(points, "{x:.1},{y:.1} ");
        }
    }
    points.trim_end().to_owned()
}

fn extremes(chunk: &[f64]) -> (usize, usize) {
    let mut min_at = 0;
    let mut max_at = 0;
    for (index, value) in chunk.iter().enumerate() {
        if *value < chunk[min_at] {
            min_at = index;
        }
        if *value > chunk[max_at] {
            max_at = index;
        }
    }
    (min_at, max_at)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels() -> PlotLabels<'static> {
        PlotLabels {
            title: "sma 10/30 <test>",
            first_bar: DateTime::from_timestamp_millis(1_758_240_000_000).unwrap(),
            last_bar: DateTime::from_timestamp_millis(1_758_300_000_000).unwrap(),
        }
    }

    #[test]
    fn svg_has_both_panels_and_labels() {
        let equity = [100.0, 110.0, 99.0, 120.0, 90.0, 100.0];
        let svg = equity_svg(&equity, &labels());
        assert!(svg.starts_with("<svg"));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<polyline").count(), 1);
        assert_eq!(svg.matches("<polygon").count(), 1);
        assert!(svg.contains("sma 10/30 &lt;test&gt;"));
        assert!(svg.contains("-25.00%"), "deepest drawdown label");
        assert!(svg.contains("120.00"), "highest equity label");
        assert!(svg.contains("90.00"), "lowest equity label");
    }

    #[test]
    fn long_curves_keep_extremes_within_column_budget() {
        let equity: Vec<f64> = (0..100_000).map(|i| 1000.0 + (i % 997) as f64).collect();
        let mut spiky = equity.clone();
        spiky[54_321] = 5000.0;
        let points = polyline_points(&spiky, |value| value);
        assert!(points.split(' ').count() <= 2 * MAX_COLUMNS);
        assert!(points.contains(",5000.0"));
    }

    #[test]
    fn drawdown_is_measured_from_running_peak() {
        assert_eq!(
            drawdowns(&[100.0, 50.0, 200.0, 150.0]),
            [0.0, 0.5, 0.0, 0.25]
        );
    }
}
