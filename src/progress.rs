//! What a run says on stderr while it works: every phase's start and duration, and
//! the rows loaded. On a terminal as a spinner per phase and a bar per table; elsewhere
//! (CI logs, pipes, `--no-progress`) as plain lines, with rows reported every few
//! seconds. Rates are rounded to three significant figures. The durations are also
//! returned as `Phase`s for the report.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use crate::format::format_count;
use crate::outcome::Phase;

/// Writes one line to stderr, prefixed `plancheck: `, as `eprintln!` would, except
/// that a stderr nobody reads any more is not an error: a reader that stopped reading
/// (`plancheck … 2>&1 | head`) or a terminal that closed (SIGHUP) costs the line,
/// never the run, its report or its clean-up. `eprintln!` panics there.
#[macro_export]
macro_rules! say {
    ($($argument:tt)*) => {
        $crate::progress::write_stderr_line(format_args!($($argument)*))
    };
}

/// What [`say!`] calls: the line and its prefix in one write, errors dropped.
pub fn write_stderr_line(line: std::fmt::Arguments<'_>) {
    write_stderr(&format!("plancheck: {line}\n"));
}

/// Writes `text` to stderr as it is (no prefix, no newline added), dropping errors as
/// [`say!`] does: for lines meant to be copied, such as the commands `--keep` prints.
pub fn write_stderr(text: &str) {
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Spinners and bars, redrawn in place: for a terminal.
    Bars,
    /// One line when a phase starts and one when it ends; rows every few seconds.
    Lines,
    /// Nothing (library callers: tests, benchmarks).
    Silent,
}

/// How often plain lines report the rows loaded so far.
const LINE_INTERVAL: Duration = Duration::from_secs(5);

impl Progress {
    /// Bars when stderr is a terminal and bars are not refused, plain lines otherwise.
    pub fn for_stderr(bars: bool) -> Progress {
        if bars && std::io::stderr().is_terminal() {
            Progress::Bars
        } else {
            Progress::Lines
        }
    }

    /// Says one line on stderr, unless silent: a step of a longer run (a sweep's
    /// scale, a probe).
    pub fn note(self, line: &str) {
        if self != Progress::Silent {
            crate::say!("{line}");
        }
    }

    /// Announces a phase; `finish` on the result says how long it took.
    pub fn phase(self, name: &str) -> PhaseClock {
        let spinner = match self {
            Progress::Bars => {
                let spinner = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
                spinner.set_style(
                    ProgressStyle::with_template("plancheck: {spinner} {msg} {elapsed}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                spinner.set_message(name.to_owned());
                spinner.enable_steady_tick(Duration::from_millis(120));
                Some(spinner)
            }
            Progress::Lines => {
                crate::say!("{name}…");
                None
            }
            Progress::Silent => None,
        };
        PhaseClock {
            name: name.to_owned(),
            started: Instant::now(),
            spinner,
            progress: self,
        }
    }

    /// Follows the rows loaded into one table.
    pub fn rows(self, table: &str, total: u64) -> RowsProgress {
        let bar = match self {
            Progress::Bars if total > 0 => {
                let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
                bar.set_style(
                    ProgressStyle::with_template(&format!(
                        "plancheck:   {table} {{bar:30}} {{human_pos}}/{{human_len}} rows, {{rate}} rows/s, eta {{eta}}"
                    ))
                    .map(|style| {
                        style.with_key("rate", |state: &ProgressState, out: &mut dyn std::fmt::Write| {
                            let _ = out.write_str(&rounded(state.per_sec()));
                        })
                    })
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
                );
                Some(bar)
            }
            _ => None,
        };
        RowsProgress {
            table: table.to_owned(),
            total,
            started: Instant::now(),
            last_line: Instant::now(),
            bar,
            progress: self,
        }
    }
}

/// A phase under way.
pub struct PhaseClock {
    name: String,
    started: Instant,
    spinner: Option<ProgressBar>,
    progress: Progress,
}

impl PhaseClock {
    /// Ends the phase: says how long it took and returns it for the report.
    pub fn finish(self) -> Phase {
        let elapsed = self.started.elapsed();
        if let Some(spinner) = &self.spinner {
            spinner.finish_and_clear();
        }
        if self.progress != Progress::Silent {
            crate::say!("{}: {}", self.name, duration(elapsed));
        }
        Phase::new(&self.name, elapsed)
    }
}

/// Rows going into one table.
pub struct RowsProgress {
    table: String,
    total: u64,
    started: Instant,
    last_line: Instant,
    bar: Option<ProgressBar>,
    progress: Progress,
}

impl RowsProgress {
    /// `rows` have been sent so far.
    pub fn set(&mut self, rows: u64) {
        match (&self.bar, self.progress) {
            (Some(bar), _) => bar.set_position(rows),
            (None, Progress::Lines) if self.last_line.elapsed() >= LINE_INTERVAL => {
                self.last_line = Instant::now();
                crate::say!(
                    "  {}: {} of {} rows ({} rows/s)",
                    self.table,
                    grouped(rows),
                    grouped(self.total),
                    rounded(rows as f64 / self.started.elapsed().as_secs_f64())
                );
            }
            _ => {}
        }
    }

    /// All `rows` are in.
    pub fn finish(self, rows: u64) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        if self.progress == Progress::Silent {
            return;
        }
        let elapsed = self.started.elapsed();
        crate::say!(
            "  {}: {} rows in {} ({} rows/s)",
            self.table,
            grouped(rows),
            duration(elapsed),
            rounded(rows as f64 / elapsed.as_secs_f64().max(1e-6))
        );
    }
}

/// `1.2 s`, `45 ms`, `3 min 5 s`.
pub fn duration(elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64();
    if secs < 1.0 {
        format!("{} ms", elapsed.as_millis())
    } else if secs < 60.0 {
        format!("{secs:.1} s")
    } else {
        format!(
            "{} min {} s",
            elapsed.as_secs() / 60,
            elapsed.as_secs() % 60
        )
    }
}

/// A rate rounded to three significant figures, grouped: `203,000`, `45.2`.
pub fn rounded(value: f64) -> String {
    if !value.is_finite() || value <= 0.0 {
        return "0".into();
    }
    let digits = value.log10().floor() as i32 + 1;
    if digits >= 3 {
        let unit = 10f64.powi(digits - 3);
        grouped(((value / unit).round() * unit) as u64)
    } else {
        let decimals = (3 - digits).max(0) as usize;
        format!("{value:.decimals$}")
    }
}

fn grouped(value: u64) -> String {
    format_count(value as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_rounded_to_three_significant_figures() {
        assert_eq!(rounded(203_285.845_6), "203,000");
        assert_eq!(rounded(1_999.6), "2,000");
        assert_eq!(rounded(45.17), "45.2");
        assert_eq!(rounded(0.5), "0.500");
        assert_eq!(rounded(f64::NAN), "0");
    }

    #[test]
    fn durations_read_as_people_say_them() {
        assert_eq!(duration(Duration::from_millis(45)), "45 ms");
        assert_eq!(duration(Duration::from_millis(2_340)), "2.3 s");
        assert_eq!(duration(Duration::from_secs(185)), "3 min 5 s");
    }
}
