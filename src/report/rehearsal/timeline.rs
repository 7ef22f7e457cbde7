//! The timeline of one rehearsed run as an SVG chart: what the traffic felt and which
//! locks caused it, on the run's one clock. Above, every traffic execution's stall
//! (log scale, a colour per stream, failed executions as red crosses) over shaded
//! bands for the steps and the stall limit as a dashed line; below, lock lanes (one
//! per session and relation): holds as solid bars, waits as hatched ones, coloured by
//! the mode's strength so ACCESS EXCLUSIVE stands out.
//!
//! Written by hand rather than with plotters (which draws `report.html`'s charts): the
//! chart needs hatched bars, bands that run through both panels, and tooltips
//! (`<title>`) on bands, bars and the stalls over the limit, which plotters' SVG
//! backend cannot say. The text is deterministic: the same run, the same bytes.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::{UNSEEN, held_text, lock_strength, seconds, unseen_locks};
use crate::format::{format_count, format_ms};
use crate::outcome::rehearsal::{LatencyPoint, Limits, MigrationRun, TimelineLock};

const WIDTH: f64 = 1200.0;
/// Room on the left for the lock lanes' names and the stall axis's labels.
const LEFT: f64 = 190.0;
const RIGHT: f64 = 24.0;
const PLOT_HEIGHT: f64 = 300.0;
const LANE_HEIGHT: f64 = 22.0;
/// Lanes beyond this many are counted, not drawn.
const MAX_LANES: usize = 24;
/// Up to this many executions are all drawn; past it, per stream and pixel column only
/// the slowest and the fastest (and every one over the limit).
pub(super) const MAX_POINTS: usize = 4_000;
/// The stall axis starts here: anything faster is drawn at its floor.
const FLOOR_MS: f64 = 0.1;
const FONT: &str = "system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif";

/// The streams' colours, in the run's traffic order. Red is left out: it marks failed
/// executions and ACCESS EXCLUSIVE.
const STREAM_COLOURS: [&str; 6] = [
    "#0969da", "#1a7f37", "#8250df", "#bf8700", "#1b7c83", "#57606a",
];
const FAILED_COLOUR: &str = "#cf222e";

/// The colour of a stream, as the chart and the page's legend draw it.
pub(super) fn stream_colour(stream: usize) -> &'static str {
    STREAM_COLOURS[stream % STREAM_COLOURS.len()]
}

/// A lock mode's colour by strength: ACCESS EXCLUSIVE red, the other modes that block
/// writes orange to amber, SHARE UPDATE EXCLUSIVE teal, weaker modes grey.
fn mode_colour(mode: &str) -> &'static str {
    match lock_strength(mode) {
        8 => "#cf222e",
        6 | 7 => "#e16f24",
        5 => "#d4a72c",
        4 => "#1b7c83",
        3 => "#6e7781",
        _ => "#afb8c1",
    }
}

/// Text on a bar of `mode`'s colour: white on the dark ones.
fn mode_text_colour(mode: &str) -> &'static str {
    match lock_strength(mode) {
        5 | 0..=2 => "#1f2328",
        _ => "#ffffff",
    }
}

/// `AE` for ACCESS EXCLUSIVE: a mode's initials, for a bar too short for its name.
fn mode_initials(mode: &str) -> String {
    mode.split_whitespace()
        .filter_map(|word| word.chars().next())
        .collect()
}

/// The width `text` takes at `size` px, near enough for laying labels out.
fn text_width(text: &str, size: f64) -> f64 {
    text.chars().count() as f64 * size * 0.58
}

/// A coordinate with one decimal, without a trailing `.0`.
fn n(value: f64) -> String {
    let text = format!("{value:.1}");
    match text.strip_suffix(".0") {
        Some(whole) => whole.to_owned(),
        None => text,
    }
}

/// Text safe inside an SVG element or attribute.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Where things go: the time axis and the stall axis in pixels.
struct Frame {
    duration_ms: f64,
    plot_top: f64,
    plot_bottom: f64,
    /// log10 of the stall axis's ends.
    low: f64,
    high: f64,
}

impl Frame {
    fn x(&self, ms: f64) -> f64 {
        LEFT + (ms / self.duration_ms).clamp(0.0, 1.0) * (WIDTH - LEFT - RIGHT)
    }

    fn y(&self, stall_ms: f64) -> f64 {
        let log = stall_ms.max(FLOOR_MS).log10().clamp(self.low, self.high);
        self.plot_bottom
            - (log - self.low) / (self.high - self.low) * (self.plot_bottom - self.plot_top)
    }
}

/// The timeline of `run` as SVG text; `limits` gives the stall limit drawn across it.
/// Stream colours follow the order of `run.traffic`, as the page's tables list them.
pub fn timeline_svg(run: &MigrationRun, limits: &Limits) -> String {
    // The ids of the chart's patterns, unique among the charts of one page.
    let id = super::timeline_file(run)
        .trim_start_matches("timeline-")
        .trim_end_matches(".svg")
        .to_owned();
    let names: Vec<&str> = run
        .traffic
        .iter()
        .map(|stream| stream.name.as_str())
        .collect();
    let mut body = String::new();
    let legend_bottom = legend(&mut body, &names, &id);
    // Two rows of step numbers go between the legend and the plot.
    let frame = frame(run, limits, legend_bottom + 40.0);
    let bars = lock_bars(run);
    let lanes = lanes(&bars);
    let lanes_top = frame.plot_bottom + 46.0;
    let shown = lanes.len().min(MAX_LANES);
    let lanes_bottom = lanes_top + 20.0 + shown as f64 * LANE_HEIGHT;
    let mut svg = String::new();
    step_bands(&mut svg, run, &frame, lanes_bottom, limits);
    axes(&mut svg, &frame);
    limit_line(&mut svg, &frame, limits.max_stall_ms);
    let note = points(&mut svg, run, &frame, limits.max_stall_ms, &names);
    let patterns = lock_lanes(&mut svg, &lanes, &frame, lanes_top, &id);
    let not_drawn = (lanes.len() > MAX_LANES).then(|| {
        format!(
            "{} more lock lanes not drawn; every hold and wait is in rehearsal.json.",
            lanes.len() - MAX_LANES
        )
    });
    let mut bottom = lanes_bottom + 8.0;
    for line in note.iter().chain(not_drawn.iter()) {
        bottom += 16.0;
        let _ = writeln!(
            svg,
            r##"<text x="{}" y="{}" fill="#57606a">{}</text>"##,
            n(LEFT),
            n(bottom),
            escape(line)
        );
    }
    let mut out = svg_head(run, (bottom + 12.0).ceil(), &patterns);
    out.push_str(&body);
    out.push_str(&svg);
    out.push_str("</svg>\n");
    out
}

/// The chart's opening: its size, title, background, the hatch patterns its waits
/// use, and the title written at its top.
fn svg_head(run: &MigrationRun, height: f64, patterns: &[(String, String)]) -> String {
    let title = format!(
        "{} at {} rows{}: traffic stalls and locks",
        run.migration,
        format_count(run.scale as f64),
        super::repetition_words(run.repetition)
    );
    let mut out = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="{FONT}" font-size="12" role="img" aria-label="{t}">
<title>{t}</title>
<rect width="{w}" height="{h}" fill="#ffffff"/>
"##,
        w = n(WIDTH),
        h = n(height),
        t = escape(&title),
    );
    out.push_str("<defs>\n");
    for (strength_mode, pattern) in patterns {
        let _ = writeln!(
            out,
            r##"<pattern id="{pattern}" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#ffffff"/><rect width="2.5" height="6" fill="{}"/></pattern>"##,
            mode_colour(strength_mode)
        );
    }
    out.push_str("</defs>\n");
    let _ = writeln!(
        out,
        r#"<text x="{}" y="20" font-size="15" font-weight="600">{}</text>"#,
        n(LEFT),
        escape(&title)
    );
    out
}

/// The stall axis from the floor to a power of ten above the slowest stall and the
/// limit; the plot's top at `top`.
fn frame(run: &MigrationRun, limits: &Limits, top: f64) -> Frame {
    let slowest = run
        .timeline
        .points
        .iter()
        .map(|point| point.stall_ms)
        .fold(limits.max_stall_ms, f64::max);
    let high = (slowest * 1.3).max(10.0 * FLOOR_MS).log10().ceil();
    let ends = run
        .steps
        .iter()
        .map(|step| step.end_ms)
        .chain(run.timeline.points.iter().map(|point| point.due_ms));
    let duration_ms = ends.fold(run.timeline.duration_ms, f64::max).max(1.0);
    Frame {
        duration_ms,
        plot_top: top,
        plot_bottom: top + PLOT_HEIGHT,
        low: FLOOR_MS.log10(),
        high,
    }
}

/// One legend entry's mark.
enum Swatch<'a> {
    Stream(&'a str),
    Failed,
    Band,
    Held,
    Waited,
    Limit,
}

/// The legend in rows under the title; returns where it ends.
fn legend(svg: &mut String, names: &[&str], id: &str) -> f64 {
    let mut entries: Vec<(Swatch, String)> = names
        .iter()
        .enumerate()
        .map(|(index, name)| (Swatch::Stream(stream_colour(index)), (*name).to_owned()))
        .collect();
    entries.extend([
        (Swatch::Failed, "failed".to_owned()),
        (Swatch::Band, "step (number above)".to_owned()),
        (Swatch::Held, "lock held".to_owned()),
        (Swatch::Waited, "lock waited for".to_owned()),
        (Swatch::Limit, "stall limit".to_owned()),
    ]);
    let (mut x, mut y) = (LEFT, 42.0);
    for (swatch, label) in entries {
        let width = 22.0 + text_width(&label, 12.0) + 18.0;
        if x + width > WIDTH - RIGHT {
            x = LEFT;
            y += 18.0;
        }
        let (mx, my) = (x + 8.0, y - 4.0);
        let mark = match swatch {
            Swatch::Stream(colour) => format!(
                r#"<circle cx="{}" cy="{}" r="4" fill="{colour}"/>"#,
                n(mx),
                n(my)
            ),
            Swatch::Failed => cross(mx, my, 4.0),
            Swatch::Band => format!(
                r##"<rect x="{}" y="{}" width="14" height="12" fill="#dde4ee"/>"##,
                n(x + 1.0),
                n(my - 6.0)
            ),
            Swatch::Held => format!(
                r##"<rect x="{}" y="{}" width="14" height="10" fill="#cf222e"/>"##,
                n(x + 1.0),
                n(my - 5.0)
            ),
            Swatch::Waited => format!(
                r##"<rect x="{}" y="{}" width="14" height="10" fill="url(#legend-hatch-{id})" stroke="#cf222e"/><defs><pattern id="legend-hatch-{id}" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#ffffff"/><rect width="2.5" height="6" fill="#cf222e"/></pattern></defs>"##,
                n(x + 1.0),
                n(my - 5.0)
            ),
            Swatch::Limit => format!(
                r##"<line x1="{}" y1="{y}" x2="{}" y2="{y}" stroke="#cf222e" stroke-width="1.5" stroke-dasharray="5 3"/>"##,
                n(x),
                n(x + 16.0),
                y = n(my)
            ),
        };
        let _ = writeln!(
            svg,
            r#"{mark}<text x="{}" y="{}">{}</text>"#,
            n(x + 22.0),
            n(y),
            escape(&label)
        );
        x += width;
    }
    y
}

/// A red ×, centred at (x, y).
fn cross(x: f64, y: f64, size: f64) -> String {
    format!(
        r#"<path d="M{} {}l{} {}m0 {}l{} {}" stroke="{FAILED_COLOUR}" stroke-width="1.6" fill="none"/>"#,
        n(x - size),
        n(y - size),
        n(2.0 * size),
        n(2.0 * size),
        n(-2.0 * size),
        n(-2.0 * size),
        n(2.0 * size)
    )
}

/// A shaded band per step through both panels, numbered above the plot (a second row
/// when two numbers would touch), tinted red for a step whose stall passed the limit.
fn step_bands(svg: &mut String, run: &MigrationRun, frame: &Frame, bottom: f64, limits: &Limits) {
    let mut last_label_end = [f64::MIN, f64::MIN];
    for (position, step) in run.steps.iter().enumerate() {
        let (x0, x1) = (frame.x(step.start_ms), frame.x(step.end_ms));
        let width = (x1 - x0).max(2.0);
        let fill = match (step.over_limit, position % 2) {
            (true, _) => "#ffebe9",
            (false, 0) => "#e8eef6",
            (false, _) => "#dde4ee",
        };
        let stall = step.longest_stall.as_ref().map_or(String::new(), |stall| {
            format!(
                "; longest stall {} ({}){}",
                format_ms(stall.stall_ms),
                stall.stream,
                if stall.stall_ms > limits.max_stall_ms {
                    ", over the limit"
                } else {
                    ""
                }
            )
        });
        let _ = writeln!(
            svg,
            r#"<rect x="{}" y="{}" width="{}" height="{}" fill="{fill}"><title>step {}: {} ({}, {} to {}){}</title></rect>"#,
            n(x0),
            n(frame.plot_top),
            n(width),
            n(bottom - frame.plot_top),
            step.index,
            escape(&step.summary),
            format_ms(step.duration_ms()),
            seconds(step.start_ms),
            seconds(step.end_ms),
            escape(&stall)
        );
        let label = step.index.to_string();
        let label_width = text_width(&label, 11.0) + 4.0;
        let centre = x0 + width / 2.0;
        let Some(row) = (0..2).find(|row| centre - label_width / 2.0 > last_label_end[*row]) else {
            continue;
        };
        last_label_end[row] = centre + label_width / 2.0;
        let _ = writeln!(
            svg,
            r##"<text x="{}" y="{}" text-anchor="middle" font-size="11" font-weight="600" fill="{}">{label}</text>"##,
            n(centre),
            n(frame.plot_top - 6.0 - 13.0 * row as f64),
            if step.over_limit {
                FAILED_COLOUR
            } else {
                "#424a53"
            }
        );
    }
}

/// The stall axis (decades), the time axis (round seconds), their grid and titles.
fn axes(svg: &mut String, frame: &Frame) {
    let right = WIDTH - RIGHT;
    let mut decade = frame.low.round() as i32;
    while decade as f64 <= frame.high {
        let ms = 10f64.powi(decade);
        let y = frame.y(ms);
        let _ = writeln!(
            svg,
            r##"<line x1="{}" y1="{y}" x2="{}" y2="{y}" stroke="#d8dee4" stroke-width="1"/><text x="{}" y="{}" text-anchor="end" fill="#424a53">{}</text>"##,
            n(LEFT),
            n(right),
            n(LEFT - 8.0),
            n(y + 4.0),
            // The floor carries every execution that waited on no lock.
            match ms <= FLOOR_MS {
                true => format!("≤ {}", stall_label(ms)),
                false => stall_label(ms),
            },
            y = n(y)
        );
        decade += 1;
    }
    let step = time_step(frame.duration_ms);
    let mut at = 0.0;
    while at <= frame.duration_ms + 1e-6 {
        let x = frame.x(at);
        let _ = writeln!(
            svg,
            r##"<line x1="{x}" y1="{}" x2="{x}" y2="{}" stroke="#8c959f" stroke-width="1"/><text x="{x}" y="{}" text-anchor="middle" fill="#424a53">{}</text>"##,
            n(frame.plot_bottom),
            n(frame.plot_bottom + 5.0),
            n(frame.plot_bottom + 18.0),
            time_label(at, step),
            x = n(x)
        );
        at += step;
    }
    let _ = writeln!(
        svg,
        r##"<rect x="{}" y="{}" width="{}" height="{}" fill="none" stroke="#8c959f"/>
<text x="{}" y="{}" text-anchor="middle" fill="#424a53">seconds since the traffic started</text>
<text transform="translate({} {}) rotate(-90)" text-anchor="middle" fill="#424a53">stall: waiting on a lock (log scale)</text>"##,
        n(LEFT),
        n(frame.plot_top),
        n(right - LEFT),
        n(frame.plot_bottom - frame.plot_top),
        n((LEFT + right) / 2.0),
        n(frame.plot_bottom + 34.0),
        n(LEFT - 62.0),
        n((frame.plot_top + frame.plot_bottom) / 2.0)
    );
}

/// `0.1 ms`, `10 ms`, `1 s`: a decade of the stall axis.
fn stall_label(ms: f64) -> String {
    match ms {
        ms if ms >= 1000.0 => format!("{} s", n(ms / 1000.0)),
        ms if ms >= 1.0 => format!("{} ms", n(ms)),
        ms => format!("{ms} ms"),
    }
}

/// A round step between time ticks that gives at most a dozen ticks.
fn time_step(duration_ms: f64) -> f64 {
    const STEPS_MS: [f64; 14] = [
        100.0, 200.0, 250.0, 500.0, 1_000.0, 2_000.0, 5_000.0, 10_000.0, 15_000.0, 30_000.0,
        60_000.0, 120_000.0, 300_000.0, 600_000.0,
    ];
    STEPS_MS
        .iter()
        .copied()
        .find(|step| duration_ms / step <= 12.0)
        .unwrap_or_else(|| (duration_ms / 12.0 / 600_000.0).ceil() * 600_000.0)
}

fn time_label(ms: f64, step: f64) -> String {
    match step < 1_000.0 {
        true => {
            format!("{:.2}", ms / 1000.0)
                .trim_end_matches('0')
                .trim_end_matches('.')
                .to_owned()
                + " s"
        }
        false => format!("{:.0} s", ms / 1000.0),
    }
}

/// The limit as a dashed line across the plot, labelled at its right end.
fn limit_line(svg: &mut String, frame: &Frame, limit_ms: f64) {
    let y = frame.y(limit_ms);
    let _ = writeln!(
        svg,
        r#"<line x1="{}" y1="{y}" x2="{}" y2="{y}" stroke="{FAILED_COLOUR}" stroke-width="1.5" stroke-dasharray="6 4"/><text x="{}" y="{}" text-anchor="end" font-size="11" fill="{FAILED_COLOUR}">limit {}</text>"#,
        n(LEFT),
        n(WIDTH - RIGHT),
        n(WIDTH - RIGHT - 4.0),
        n(y - 4.0),
        format_ms(limit_ms),
        y = n(y)
    );
}

/// The executions to draw, as indexes into `points` in their order: all of them
/// when there are few (but one per pixel), else per stream, pixel column and
/// outcome the slowest and the fastest, and always every one over the limit.
pub(super) fn points_to_draw(
    points: &[LatencyPoint],
    x: impl Fn(f64) -> f64,
    y: impl Fn(f64) -> f64,
    limit_ms: f64,
) -> Vec<usize> {
    let pixel = |index: usize| {
        let point = &points[index];
        (
            point.stream,
            point.failed,
            x(point.due_ms).round() as i64,
            y(point.stall_ms).round() as i64,
        )
    };
    let mut kept: BTreeMap<(usize, bool, i64, i64), usize> = BTreeMap::new();
    let mut extremes: BTreeMap<(usize, bool, i64), (usize, usize)> = BTreeMap::new();
    let few = points.len() <= MAX_POINTS;
    for (index, point) in points.iter().enumerate() {
        let key = pixel(index);
        if few || point.stall_ms > limit_ms {
            kept.entry(key).or_insert(index);
            continue;
        }
        let column = (key.0, key.1, key.2);
        let entry = extremes.entry(column).or_insert((index, index));
        if point.stall_ms > points[entry.0].stall_ms {
            entry.0 = index;
        }
        if point.stall_ms < points[entry.1].stall_ms {
            entry.1 = index;
        }
    }
    for (slowest, fastest) in extremes.into_values() {
        kept.entry(pixel(slowest)).or_insert(slowest);
        kept.entry(pixel(fastest)).or_insert(fastest);
    }
    let mut drawn: Vec<usize> = kept.into_values().collect();
    drawn.sort_unstable();
    drawn
}

/// The executions: dots in their stream's colour (one path per stream), red crosses
/// for failed ones, and those over the limit each with a tooltip. Returns a note when
/// not every execution could be drawn.
fn points(
    svg: &mut String,
    run: &MigrationRun,
    frame: &Frame,
    limit_ms: f64,
    names: &[&str],
) -> Option<String> {
    let points = &run.timeline.points;
    if points.is_empty() {
        let _ = writeln!(
            svg,
            r##"<text x="{}" y="{}" text-anchor="middle" fill="#57606a">no traffic execution was recorded</text>"##,
            n((LEFT + WIDTH - RIGHT) / 2.0),
            n((frame.plot_top + frame.plot_bottom) / 2.0)
        );
        return None;
    }
    let drawn = points_to_draw(points, |ms| frame.x(ms), |ms| frame.y(ms), limit_ms);
    let mut dots: BTreeMap<usize, String> = BTreeMap::new();
    // Crosses go last, over the circles: a failed execution and a stalled one of
    // another stream often share a spot (both released by the same commit).
    let (mut marked, mut crossed) = (String::new(), String::new());
    for &index in &drawn {
        let point = &points[index];
        let (x, y) = (frame.x(point.due_ms), frame.y(point.stall_ms));
        if point.stall_ms <= limit_ms && !point.failed {
            let _ = write!(
                dots.entry(point.stream).or_default(),
                "M{} {}h0",
                n(x),
                n(y)
            );
            continue;
        }
        let stream = names.get(point.stream).copied().unwrap_or("?");
        let into = if point.failed {
            &mut crossed
        } else {
            &mut marked
        };
        into.push_str(&marked_point(point, stream, (x, y)));
    }
    for (stream, path) in dots {
        let _ = writeln!(
            svg,
            r#"<path d="{path}" stroke="{}" stroke-width="4" stroke-linecap="round" opacity="0.75"/>"#,
            stream_colour(stream)
        );
    }
    svg.push_str(&marked);
    svg.push_str(&crossed);
    (drawn.len() < points.len()).then(|| {
        format!(
            "{} executions, {} drawn: every one over the limit, and per stream and pixel column the slowest and the fastest.",
            format_count(points.len() as f64),
            format_count(drawn.len() as f64)
        )
    })
}

/// An execution drawn on its own with a tooltip: a red cross for a failed one, a
/// circle in its stream's colour for one stalled past the limit.
fn marked_point(point: &LatencyPoint, stream: &str, (x, y): (f64, f64)) -> String {
    let tip = format!(
        "{stream}: due at {}, {} {}",
        seconds(point.due_ms),
        if point.failed {
            "failed after"
        } else {
            "stalled"
        },
        format_ms(point.stall_ms)
    );
    match point.failed {
        true => format!(
            "<g>{}<title>{}</title></g>\n",
            cross(x, y, 3.5),
            escape(&tip)
        ),
        false => format!(
            r##"<g><circle cx="{}" cy="{}" r="3.5" fill="{}" stroke="#ffffff" stroke-width="0.8"/><title>{}</title></g>
"##,
            n(x),
            n(y),
            stream_colour(point.stream),
            escape(&tip)
        ),
    }
}

/// A bar of a lock lane: a hold or a wait the sampler saw, or a lock a step's SQL
/// takes that the sampler did not see (`declared`), drawn over the step.
struct LockBar {
    lock: TimelineLock,
    declared: bool,
}

/// Every bar to draw: the holds and waits the sampler saw, then the locks of ROW
/// EXCLUSIVE strength or more that a step's SQL takes and the sampler did not see.
fn lock_bars(run: &MigrationRun) -> Vec<LockBar> {
    let seen = run.timeline.holds.iter().map(|lock| LockBar {
        lock: lock.clone(),
        declared: false,
    });
    let declared = run.steps.iter().flat_map(|step| {
        unseen_locks(step)
            .filter(|lock| lock_strength(&lock.mode) >= lock_strength("ROW EXCLUSIVE"))
            .map(|lock| LockBar {
                lock: TimelineLock {
                    holder: format!("step {}", step.index),
                    relation: lock.relation.clone(),
                    mode: lock.mode.clone(),
                    granted: true,
                    from_ms: step.start_ms,
                    to_ms: step.end_ms,
                },
                declared: true,
            })
    });
    seen.chain(declared).collect()
}

/// One lock lane: a session's locks on one relation.
struct Lane<'a> {
    holder: &'a str,
    relation: &'a str,
    bars: Vec<&'a LockBar>,
}

/// The lanes in reading order: steps by number, then the other sessions as they first
/// appear; within a session, relations as they first appear.
fn lanes(bars: &[LockBar]) -> Vec<Lane<'_>> {
    let mut lanes: Vec<Lane> = Vec::new();
    for bar in bars {
        let lock = &bar.lock;
        match lanes
            .iter_mut()
            .find(|lane| lane.holder == lock.holder && lane.relation == lock.relation)
        {
            Some(lane) => lane.bars.push(bar),
            None => lanes.push(Lane {
                holder: &lock.holder,
                relation: &lock.relation,
                bars: vec![bar],
            }),
        }
    }
    let first = |lane: &Lane| {
        lane.bars
            .iter()
            .map(|bar| bar.lock.from_ms)
            .fold(f64::MAX, f64::min)
    };
    let step_number = |holder: &str| {
        holder
            .strip_prefix("step ")
            .and_then(|number| number.parse::<usize>().ok())
    };
    lanes.sort_by(|a, b| {
        match (step_number(a.holder), step_number(b.holder)) {
            (Some(x), Some(y)) => x.cmp(&y),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        }
        .then(first(a).total_cmp(&first(b)))
    });
    lanes
}

/// The lock lanes under the plot. Returns the hatch patterns the waits use, as
/// (mode, pattern id).
fn lock_lanes(
    svg: &mut String,
    lanes: &[Lane],
    frame: &Frame,
    top: f64,
    id: &str,
) -> Vec<(String, String)> {
    let mut patterns: Vec<(String, String)> = Vec::new();
    let mut abbreviated: Vec<String> = Vec::new();
    if lanes.is_empty() {
        let _ = writeln!(
            svg,
            r##"<text x="{}" y="{}" fill="#57606a">no step held a lock of ROW EXCLUSIVE strength or more, as the sampler saw or its SQL says, and no session waited</text>"##,
            n(LEFT + 4.0),
            n(top + 34.0)
        );
    }
    for (row, lane) in lanes.iter().take(MAX_LANES).enumerate() {
        let y = top + 20.0 + row as f64 * LANE_HEIGHT;
        lane_name(svg, lane, row, y);
        let mut bars: Vec<&LockBar> = lane.bars.clone();
        bars.sort_by(|a, b| a.lock.from_ms.total_cmp(&b.lock.from_ms));
        for (position, drawn) in bars.iter().enumerate() {
            let next_start = bars
                .get(position + 1)
                .map_or(WIDTH - RIGHT, |next| frame.x(next.lock.from_ms));
            let fill = bar_fill(drawn, id, &mut patterns);
            if let Some(mode) = bar(svg, drawn, frame, (y, next_start), &fill)
                && !abbreviated.contains(&mode)
            {
                abbreviated.push(mode);
            }
        }
    }
    let _ = writeln!(
        svg,
        r##"<text x="{}" y="{}" text-anchor="end" font-weight="600" fill="#424a53">locks</text><text x="{}" y="{}" fill="#57606a" font-size="11">{}</text>"##,
        n(LEFT - 8.0),
        n(top + 12.0),
        n(LEFT + 4.0),
        n(top + 12.0),
        escape(&lanes_key(lanes, &abbreviated))
    );
    patterns
}

/// A lane's shaded row and its name on the left, shortened to fit.
fn lane_name(svg: &mut String, lane: &Lane, row: usize, y: f64) {
    let name = match lane.relation.is_empty() {
        true => lane.holder.to_owned(),
        false => format!("{} · {}", lane.holder, lane.relation),
    };
    let shown = shorten(&name, ((LEFT - 14.0) / (11.0 * 0.58)) as usize);
    let _ = writeln!(
        svg,
        r##"<rect x="{}" y="{}" width="{}" height="{}" fill="{}"/><text x="{}" y="{}" text-anchor="end" font-size="11" fill="#1f2328">{}<title>{}</title></text>"##,
        n(LEFT),
        n(y),
        n(WIDTH - RIGHT - LEFT),
        n(LANE_HEIGHT),
        if row.is_multiple_of(2) {
            "#f6f8fa"
        } else {
            "#ffffff"
        },
        n(LEFT - 8.0),
        n(y + 15.0),
        escape(&shown),
        escape(&name)
    );
}

/// A bar's fill: the mode's colour for a hold, white for a lock known only from its
/// step's SQL, the mode's hatch pattern for a wait (added to `patterns` when new).
fn bar_fill(drawn: &LockBar, id: &str, patterns: &mut Vec<(String, String)>) -> String {
    let lock = &drawn.lock;
    match lock.granted {
        true if drawn.declared => "#ffffff".to_owned(),
        true => mode_colour(&lock.mode).to_owned(),
        false => {
            let pattern = format!("hatch-{id}-{}", lock_strength(&lock.mode));
            if !patterns.iter().any(|(_, known)| *known == pattern) {
                patterns.push((lock.mode.clone(), pattern.clone()));
            }
            format!("url(#{pattern})")
        }
    }
}

/// What the lanes' bars mean, and the modes written as initials.
fn lanes_key(lanes: &[Lane], abbreviated: &[String]) -> String {
    let mut key = String::from("solid: held · hatched: waited for");
    if lanes
        .iter()
        .flat_map(|lane| &lane.bars)
        .any(|bar| bar.declared)
    {
        key.push_str(" · dashed: its SQL takes it, the sampler did not see it");
    }
    key.push_str(" · strongest modes darkest");
    for mode in abbreviated {
        let _ = write!(key, " · {}: {mode}", mode_initials(mode));
    }
    key
}

/// One hold or wait: its bar, its mode on it (or beside it when it does not fit) and
/// a tooltip with every figure. Returns the mode when only its initials were written.
fn bar(
    svg: &mut String,
    drawn: &LockBar,
    frame: &Frame,
    (y, next_start): (f64, f64),
    fill: &str,
) -> Option<String> {
    let lock = &drawn.lock;
    let (x0, x1) = (frame.x(lock.from_ms), frame.x(lock.to_ms));
    let width = (x1 - x0).max(2.0);
    let held = match drawn.declared {
        true => UNSEEN.to_owned(),
        false => held_text(&crate::outcome::rehearsal::HeldLock {
            relation: lock.relation.clone(),
            mode: lock.mode.clone(),
            from_ms: lock.from_ms,
            to_ms: lock.to_ms,
        }),
    };
    let stroke = match (lock.granted, drawn.declared) {
        (true, false) => String::new(),
        (_, true) => format!(
            r#" stroke="{}" stroke-width="1.2" stroke-dasharray="3 2""#,
            mode_colour(&lock.mode)
        ),
        (false, _) => format!(
            r#" stroke="{}" stroke-width="1.2""#,
            mode_colour(&lock.mode)
        ),
    };
    let tip = bar_tip(drawn, &held);
    let _ = writeln!(
        svg,
        r#"<rect x="{}" y="{}" width="{}" height="{}" rx="2" fill="{fill}"{stroke}><title>{}</title></rect>"#,
        n(x0),
        n(y + 3.0),
        n(width),
        n(LANE_HEIGHT - 6.0),
        escape(&tip)
    );
    bar_label(svg, drawn, &held, (x0, width, y), next_start)
}

/// A bar's tooltip, with every figure.
fn bar_tip(drawn: &LockBar, held: &str) -> String {
    let lock = &drawn.lock;
    let on = match lock.relation.is_empty() {
        true => String::new(),
        false => format!(" on {}", lock.relation),
    };
    match drawn.declared {
        true => format!(
            "{} takes {}{on} by its SQL; the sampler did not see it during the step ({} to {})",
            lock.holder,
            lock.mode,
            seconds(lock.from_ms),
            seconds(lock.to_ms),
        ),
        false => format!(
            "{} {} {}{on} from {} to {} ({held})",
            lock.holder,
            if lock.granted { "held" } else { "waited for" },
            lock.mode,
            seconds(lock.from_ms),
            seconds(lock.to_ms),
        ),
    }
}

/// The mode written on a bar (with how long it was held when that fits), or beside
/// it when the lane is free up to the next bar. Returns the mode when only its
/// initials were written.
fn bar_label(
    svg: &mut String,
    drawn: &LockBar,
    held: &str,
    (x0, width, y): (f64, f64, f64),
    next_start: f64,
) -> Option<String> {
    let lock = &drawn.lock;
    let long = format!("{} · {held}", lock.mode);
    let inside = [long.clone(), lock.mode.clone(), mode_initials(&lock.mode)]
        .into_iter()
        // Labels on bars are bold, about a tenth wider than plain text.
        .find(|text| text_width(text, 10.5) * 1.1 + 8.0 <= width);
    // Text on a hatched or an outlined bar has a white halo, so it reads over the
    // stripes; on a solid one it takes the colour that reads on the mode's.
    let written = match inside {
        Some(text) if lock.granted && !drawn.declared => {
            let _ = writeln!(
                svg,
                r#"<text x="{}" y="{}" font-size="10.5" font-weight="600" fill="{}" pointer-events="none">{}</text>"#,
                n(x0 + 4.0),
                n(y + 15.0),
                mode_text_colour(&lock.mode),
                escape(&text)
            );
            Some(text)
        }
        Some(text) => {
            let _ = writeln!(
                svg,
                r##"<text x="{}" y="{}" font-size="10.5" font-weight="600" fill="#1f2328" stroke="#ffffff" stroke-width="3" stroke-linejoin="round" paint-order="stroke" pointer-events="none">{}</text>"##,
                n(x0 + 4.0),
                n(y + 15.0),
                escape(&text)
            );
            Some(text)
        }
        None => {
            // Beside the bar, if the lane is free up to the next bar.
            let beside = [long, mode_initials(&lock.mode)]
                .into_iter()
                .find(|text| x0 + width + 4.0 + text_width(text, 10.5) <= next_start - 4.0);
            if let Some(text) = &beside {
                let _ = writeln!(
                    svg,
                    r#"<text x="{}" y="{}" font-size="10.5" fill="{}">{}</text>"#,
                    n(x0 + width + 4.0),
                    n(y + 15.0),
                    if lock_strength(&lock.mode) >= 6 {
                        mode_colour(&lock.mode)
                    } else {
                        "#1f2328"
                    },
                    escape(text)
                );
            }
            beside
        }
    };
    written
        .filter(|text| *text != lock.mode && *text == mode_initials(&lock.mode))
        .map(|_| lock.mode.clone())
}

/// `text` cut to `chars` characters, with an ellipsis in the middle when cut: the
/// end of a lane's name (a partition's suffix) tells lanes apart as much as its start.
fn shorten(text: &str, chars: usize) -> String {
    let count = text.chars().count();
    if count <= chars {
        return text.to_owned();
    }
    let tail = chars.saturating_sub(1) / 2;
    let head = chars.saturating_sub(1) - tail;
    let start: String = text.chars().take(head).collect();
    let end: String = text.chars().skip(count - tail).collect();
    format!("{start}…{end}")
}

#[cfg(test)]
mod tests {
    use super::super::sample;
    use super::*;

    #[test]
    fn the_shipped_timeline_at_the_largest_scale() {
        let rehearsal = sample::rehearsal();
        insta::assert_snapshot!(timeline_svg(&rehearsal.runs[1], &rehearsal.limits));
    }

    #[test]
    fn the_timeline_draws_every_execution_of_a_small_run() {
        let rehearsal = sample::rehearsal();
        let run = &rehearsal.runs[1];
        let svg = timeline_svg(run, &rehearsal.limits);
        let dots = svg.matches("h0").count();
        let marked = svg.matches("<g>").count();
        // Some dots fall on the same pixel as another of their stream and are drawn once.
        assert!(dots + marked <= run.timeline.points.len());
        assert!(
            dots + marked > run.timeline.points.len() * 9 / 10,
            "{dots} + {marked}"
        );
        let failed = run.timeline.points.iter().filter(|p| p.failed).count();
        assert!(
            marked
                >= run
                    .timeline
                    .points
                    .iter()
                    .filter(|p| p.stall_ms > 1000.0)
                    .count()
        );
        assert!(svg.matches(FAILED_COLOUR).count() > failed / 2);
        assert!(svg.contains("limit 1000 ms"));
        assert!(svg.contains("step 3 · workflow_runs"));
        assert!(
            svg.contains("ACCESS EXCLUSIVE · 189 ms"),
            "the granted hold is named on its bar"
        );
    }

    #[test]
    fn tens_of_thousands_of_executions_are_thinned_but_every_stall_over_the_limit_is_kept() {
        let points: Vec<LatencyPoint> = (0..60_000)
            .map(|k| LatencyPoint {
                stream: k % 3,
                due_ms: k as f64 * 0.5,
                latency_ms: 1.0,
                stall_ms: match k {
                    k if k % 7_919 == 0 => 2_500.0 + k as f64 / 100.0,
                    k => 1.0 + (k * 7_919 % 1_000) as f64 / 100.0,
                },
                failed: k % 997 == 0,
            })
            .collect();
        let x = |ms: f64| LEFT + ms / 30_000.0 * (WIDTH - LEFT - RIGHT);
        let y = |ms: f64| 400.0 - ms.max(0.1).log10() * 60.0;
        let drawn = points_to_draw(&points, x, y, 1_000.0);
        assert!(drawn.len() < 12_000, "{} drawn", drawn.len());
        let over: Vec<usize> = (0..points.len())
            .filter(|index| points[*index].stall_ms > 1_000.0)
            .collect();
        assert!(over.iter().all(|index| drawn.contains(index)));
        // The slowest of each stream in each column is drawn.
        let column = |index: usize| (points[index].stream, x(points[index].due_ms).round() as i64);
        let mut slowest: BTreeMap<(usize, i64), f64> = BTreeMap::new();
        for (index, point) in points.iter().enumerate() {
            let entry = slowest.entry(column(index)).or_insert(0.0);
            *entry = entry.max(point.stall_ms);
        }
        for (key, max) in slowest {
            assert!(
                drawn
                    .iter()
                    .any(|index| column(*index) == key && points[*index].stall_ms == max),
                "{key:?}"
            );
        }
        let svg_run = {
            let mut run = sample::rehearsal().runs.remove(1);
            run.timeline.points = points;
            run.timeline.duration_ms = 30_000.0;
            run
        };
        let svg = timeline_svg(&svg_run, &sample::rehearsal().limits);
        assert!(svg.len() < 400_000, "{} bytes", svg.len());
        assert!(svg.contains("60,000 executions,"));
    }

    #[test]
    fn an_empty_run_still_draws_its_axes_and_says_why_nothing_is_on_them() {
        let mut run = sample::rehearsal().runs.remove(0);
        run.timeline = Default::default();
        run.steps.clear();
        let svg = timeline_svg(&run, &sample::rehearsal().limits);
        assert!(svg.contains("no traffic execution was recorded"));
        assert!(svg.contains("no step held a lock of ROW EXCLUSIVE strength or more"));
        assert!(svg.ends_with("</svg>\n"));
    }

    #[test]
    fn time_ticks_are_round_and_at_most_a_dozen() {
        assert_eq!(time_step(10_902.0), 1_000.0);
        assert_eq!(time_step(4_766.0), 500.0);
        assert_eq!(time_step(600.0), 100.0);
        assert_eq!(time_label(1_500.0, 500.0), "1.5 s");
        assert_eq!(time_label(2_000.0, 1_000.0), "2 s");
        assert_eq!(stall_label(0.1), "0.1 ms");
        assert_eq!(stall_label(10_000.0), "10 s");
    }

    #[test]
    fn a_long_lane_name_keeps_its_start_and_its_end() {
        assert_eq!(
            shorten("step 12 · public.workflow_runs_2024_01", 20),
            "step 12 · …s_2024_01"
        );
        assert_eq!(shorten("step 1 · runs", 20), "step 1 · runs");
    }

    #[test]
    fn names_in_the_chart_are_escaped() {
        let mut run = sample::rehearsal().runs.remove(0);
        run.traffic[0].name = "<b>&\"x\"".to_owned();
        let svg = timeline_svg(&run, &sample::rehearsal().limits);
        assert!(svg.contains("&lt;b&gt;&amp;&quot;x&quot;"));
        assert!(!svg.contains("<b>"));
    }

    #[test]
    fn a_lock_the_steps_sql_takes_but_the_sampler_did_not_see_is_drawn_over_the_step() {
        let rehearsal = sample::unseen_add_column();
        let svg = timeline_svg(&rehearsal.runs[0], &rehearsal.limits);
        assert!(!svg.contains("no lock of ROW EXCLUSIVE strength or more was held"));
        assert!(svg.contains("step 1 · workflow_runs"), "no lane for step 1");
        assert!(
            svg.contains("step 1 takes ACCESS EXCLUSIVE on workflow_runs by its SQL; the sampler did not see it during the step (2.00 s to 2.00 s)"),
            "{svg}"
        );
    }
}
