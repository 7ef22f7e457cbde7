//! The charts of `report.html`, drawn with plotters into SVG text that the page
//! inlines: no script and no network are needed to see them. Each function takes
//! plain points, not the document, so the sweep plot can be fed by whatever carries
//! a sweep's measurements and tested on points made by hand.

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::format::{format_count, format_ms};

/// One measure of a query at one scale of a sweep.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SeriesPoint {
    /// Rows of the scale table.
    pub scale: f64,
    /// The measure there: milliseconds, or rows examined.
    pub value: f64,
}

/// A straight line through (ln scale, ln value): `value = e^intercept × scale^slope`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FittedLine {
    /// The growth exponent.
    pub slope: f64,
    /// ln(value) at a scale of 1 row.
    pub intercept: f64,
}

impl FittedLine {
    fn at(&self, scale: f64) -> f64 {
        (self.intercept + self.slope * scale.ln()).exp()
    }
}

/// One query's measure across a sweep's scales, with its fitted line when there is one.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepSeries {
    /// The query, with its variant when the sweep has several.
    pub label: String,
    pub points: Vec<SeriesPoint>,
    pub fit: Option<FittedLine>,
}

/// What a sweep plot measures on its vertical axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SweepMeasure {
    TimeMs,
    RowsExamined,
    Buffers,
}

impl SweepMeasure {
    fn axis(self) -> &'static str {
        match self {
            SweepMeasure::TimeMs => "time (ms)",
            SweepMeasure::RowsExamined => "rows examined",
            SweepMeasure::Buffers => "shared buffers",
        }
    }

    fn format(self, value: f64) -> String {
        match self {
            SweepMeasure::TimeMs => format_ms(value),
            SweepMeasure::RowsExamined | SweepMeasure::Buffers => format_count(value),
        }
    }
}

/// The colours of a page's queries, in query order: the first (usually the old
/// query) red, the second blue, so the two read apart at a glance.
pub const PALETTE: [RGBColor; 6] = [
    RGBColor(207, 34, 46),
    RGBColor(9, 105, 218),
    RGBColor(26, 127, 55),
    RGBColor(130, 80, 223),
    RGBColor(191, 135, 0),
    RGBColor(87, 96, 106),
];

/// The colour of the query at `index`, as CSS.
pub fn css_colour(index: usize) -> String {
    let RGBColor(r, g, b) = PALETTE[index % PALETTE.len()];
    format!("rgb({r},{g},{b})")
}

type ChartResult = Result<(), Box<dyn std::error::Error>>;

/// A padded range over `values` for a logarithmic axis: never empty, never
/// touching zero, and at least a factor of four wide so the axis has ticks.
fn log_range(values: impl Iterator<Item = f64>) -> Option<std::ops::Range<f64>> {
    let (low, high) = values
        .filter(|value| value.is_finite() && *value > 0.0)
        .fold((f64::MAX, f64::MIN), |(low, high), value| {
            (low.min(value), high.max(value))
        });
    (low <= high).then(|| (low / 2.0)..(high * 2.0))
}

/// Renders `draw` onto an SVG of `size`, returning the SVG text, or a sentence
/// saying why the chart could not be drawn (the page shows it instead).
fn svg(
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<SVGBackend, Shift>) -> ChartResult,
) -> String {
    let mut text = String::new();
    let result = {
        let root = SVGBackend::with_string(&mut text, size).into_drawing_area();
        root.fill(&WHITE)
            .map_err(Into::into)
            .and_then(|()| draw(&root))
            .and_then(|()| root.present().map_err(Into::into))
    };
    match result {
        Ok(()) => text,
        Err(error) => format!("<p class=\"chart-error\">chart not drawn: {error}</p>"),
    }
}

/// Every timed run of each query as a strip plot on a logarithmic time axis (one
/// row per query, runs jittered vertically, the median a bar), or `None` when no
/// query was timed. `queries` is (name, samples in ms), in the page's order.
pub fn timing_strip(queries: &[(String, Vec<f64>)]) -> Option<String> {
    let range = log_range(
        queries
            .iter()
            .flat_map(|(_, samples)| samples.iter().copied()),
    )?;
    let rows = queries.len();
    let size = (960, 70 + 44 * rows as u32);
    Some(svg(size, |root| draw_strip(root, queries, range)))
}

fn draw_strip(
    root: &DrawingArea<SVGBackend, Shift>,
    queries: &[(String, Vec<f64>)],
    range: std::ops::Range<f64>,
) -> ChartResult {
    let names: Vec<String> = queries
        .iter()
        .map(|(name, samples)| match samples.len() {
            0 => format!("{name} (not timed)"),
            _ => name.clone(),
        })
        .collect();
    let mut chart = ChartBuilder::on(root)
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(130)
        .build_cartesian_2d(range.log_scale(), (0..queries.len()).into_segmented())?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        // Queries are categories: a tick between them would read as a value.
        .set_tick_mark_size(LabelAreaPosition::Left, 0)
        .x_desc("time per run (ms, log scale)")
        .x_label_formatter(&|ms| format_ms(*ms))
        .y_label_formatter(&|row| match row {
            SegmentValue::CenterOf(row) if *row < names.len() => {
                // No-break spaces keep the name off the axis, which has no tick marks.
                format!("{}\u{a0}\u{a0}", names[names.len() - 1 - row])
            }
            _ => String::new(),
        })
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 14))
        .light_line_style(RGBColor(238, 240, 242))
        .draw()?;
    for (position, (_, samples)) in queries.iter().enumerate() {
        let colour = PALETTE[position % PALETTE.len()];
        // Rows count from the bottom: the first query is drawn on top, as it is listed.
        let row = queries.len() - 1 - position;
        // A fixed jitter spreads equal runs apart without a random source, so the
        // same report renders the same picture.
        chart.draw_series(samples.iter().enumerate().map(|(run, ms)| {
            let jitter = ((run * 7) % 11) as i32 - 5;
            EmptyElement::at((*ms, SegmentValue::CenterOf(row)))
                + Circle::new((0, jitter * 2), 3, colour.mix(0.55).filled())
        }))?;
        if let Some(median) = median(samples) {
            chart.draw_series(std::iter::once(
                EmptyElement::at((median, SegmentValue::CenterOf(row)))
                    + PathElement::new(vec![(0, -15), (0, 15)], colour.stroke_width(3)),
            ))?;
        }
    }
    Ok(())
}

/// `value` when it is 1, 2 or 5 times a power of ten, else `None`: a log axis
/// labelled at every key point crowds its labels into each other.
fn round_label(value: f64) -> Option<f64> {
    let power = 10f64.powf(value.log10().floor());
    let mantissa = value / power;
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .any(|round| (mantissa - round).abs() < 0.02 * round)
        .then_some(value)
}

fn median(samples: &[f64]) -> Option<f64> {
    let mut sorted: Vec<f64> = samples.iter().copied().filter(|v| v.is_finite()).collect();
    sorted.sort_by(f64::total_cmp);
    let middle = sorted.len() / 2;
    match sorted.len() {
        0 => None,
        n if n % 2 == 1 => Some(sorted[middle]),
        _ => Some((sorted[middle - 1] + sorted[middle]) / 2.0),
    }
}

/// A sweep's `measure` of each series against scale, log-log, with each fitted line
/// dashed and its slope in the legend; `None` when no series has a positive point.
pub fn sweep_plot(measure: SweepMeasure, series: &[SweepSeries]) -> Option<String> {
    let points = || series.iter().flat_map(|series| series.points.iter());
    let scales = log_range(points().map(|point| point.scale))?;
    let values = log_range(points().map(|point| point.value))?;
    // Room above the data for the legend (upper left), a line per series, so that
    // no point hides behind it.
    let reserved = 0.15 + 0.1 * series.len() as f64;
    let span = (values.end / values.start).ln();
    let values = values.start..values.end * (span * reserved / (1.0 - reserved)).exp();
    Some(svg((620, 380), |root| {
        draw_sweep(root, measure, series, (scales, values))
    }))
}

fn draw_sweep(
    root: &DrawingArea<SVGBackend, Shift>,
    measure: SweepMeasure,
    series: &[SweepSeries],
    (scales, values): (std::ops::Range<f64>, std::ops::Range<f64>),
) -> ChartResult {
    let mut chart = ChartBuilder::on(root)
        .margin(12)
        .caption(
            format!("{} against scale (log-log)", measure.axis()),
            ("sans-serif", 20),
        )
        .x_label_area_size(48)
        .y_label_area_size(96)
        .build_cartesian_2d(scales.clone().log_scale(), values.log_scale())?;
    chart
        .configure_mesh()
        .x_desc("scale (rows)")
        .y_desc(measure.axis())
        .x_label_formatter(&|scale| round_label(*scale).map_or_else(String::new, format_count))
        .y_label_formatter(&|value| {
            round_label(*value).map_or_else(String::new, |value| measure.format(value))
        })
        .label_style(("sans-serif", 16))
        .axis_desc_style(("sans-serif", 16))
        .light_line_style(RGBColor(238, 240, 242))
        .draw()?;
    for (index, series) in series.iter().enumerate() {
        let colour = PALETTE[index % PALETTE.len()];
        let label = match series.fit {
            Some(fit) => format!("{} · slope {:.2}", series.label, fit.slope),
            None => series.label.clone(),
        };
        // Every other series is drawn as a larger ring, so two series with the same
        // values (two flat queries) both show.
        let style = match index % 2 {
            0 => (4, colour.filled()),
            _ => (7, colour.stroke_width(2)),
        };
        chart
            .draw_series(
                series
                    .points
                    .iter()
                    .map(move |point| Circle::new((point.scale, point.value), style.0, style.1)),
            )?
            .label(label)
            .legend(move |(x, y)| Circle::new((x + 8, y), style.0, style.1));
        if let Some(fit) = series.fit {
            let ends = [scales.start * 1.5, scales.end / 1.5];
            chart.draw_series(DashedLineSeries::new(
                ends.map(|scale| (scale, fit.at(scale))),
                6,
                4,
                colour.stroke_width(2),
            ))?;
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(208, 215, 222))
        .label_font(("sans-serif", 16))
        .draw()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(label: &str, slope: f64, values: [f64; 3]) -> SweepSeries {
        let scales = [10_000.0, 100_000.0, 1_000_000.0];
        SweepSeries {
            label: label.to_owned(),
            points: scales
                .iter()
                .zip(values)
                .map(|(&scale, value)| SeriesPoint { scale, value })
                .collect(),
            fit: Some(FittedLine {
                slope,
                intercept: values[0].ln() - slope * scales[0].ln(),
            }),
        }
    }

    #[test]
    fn a_sweep_plot_draws_every_point_each_fit_and_its_slope() {
        let svg = sweep_plot(
            SweepMeasure::RowsExamined,
            &[
                series("old", 1.0, [10_000.0, 100_000.0, 1_000_000.0]),
                series("new", 0.0, [26.0, 26.0, 26.0]),
            ],
        )
        .unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..80]);
        assert_eq!(
            svg.matches("<circle").count(),
            6 + 2,
            "six points, two legend marks"
        );
        assert!(svg.contains("old · slope 1.00") && svg.contains("new · slope 0.00"));
        assert!(svg.contains("stroke-dasharray") || svg.matches("<polyline").count() >= 2);
        assert!(svg.contains("rows examined against scale (log-log)"));
    }

    #[test]
    fn a_sweep_plot_needs_a_positive_point() {
        let empty = SweepSeries {
            label: "old".into(),
            points: vec![SeriesPoint {
                scale: 1000.0,
                value: 0.0,
            }],
            fit: None,
        };
        assert_eq!(sweep_plot(SweepMeasure::TimeMs, &[empty]), None);
    }

    #[test]
    fn a_strip_plot_shows_every_run_and_a_median_per_query() {
        let svg = timing_strip(&[
            ("old".into(), vec![1864.2, 1901.7, 1850.3]),
            ("new".into(), vec![0.652, 0.61, 0.7, 0.66]),
        ])
        .unwrap();
        assert_eq!(svg.matches("<circle").count(), 7);
        assert!(svg.contains("\nold\u{a0}") && svg.contains("\nnew\u{a0}"));
        assert_eq!(timing_strip(&[("old".into(), vec![])]), None);
    }

    #[test]
    fn only_round_values_label_a_log_axis() {
        assert_eq!(round_label(200_000.0), Some(200_000.0));
        assert_eq!(round_label(1.0), Some(1.0));
        assert_eq!(round_label(300_000.0), None);
    }

    #[test]
    fn the_median_of_an_even_count_is_the_mean_of_the_middle_two() {
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }
}
