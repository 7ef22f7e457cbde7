//! The reports of `plancheck rehearse`: pure functions of a [`Rehearsal`], like every
//! exporter of a scenario's report. `rehearsal.md` for a pull request (the verdict, the
//! migrations compared, then per run what each step locked and what the traffic felt),
//! `rehearsal.json` (the model itself, the document the others can be rendered from
//! again), `rehearsal.html` (the same as the Markdown with each run's timeline chart
//! inline and every step's SQL) and one timeline chart per run as an SVG file.
//!
//! The words the Markdown and the page share (a run's name, a lock's hold, the
//! comparison's rows) are made here, so the two say the same thing.

mod html;
mod markdown;
#[cfg(test)]
pub(crate) mod sample;
mod timeline;

use crate::format::{format_count, format_ms};
use crate::outcome::rehearsal::{
    DeclaredLock, HeldLock, Limits, MigrationRun, Rehearsal, SamplerOverhead, SamplerStats, Stall,
    StepGrowth, StepOutcome,
};

pub use timeline::timeline_svg;

/// The Markdown report's file name.
pub const MARKDOWN_FILE: &str = "rehearsal.md";
/// The JSON document's file name.
pub const JSON_FILE: &str = "rehearsal.json";
/// The page's file name.
pub const HTML_FILE: &str = "rehearsal.html";

/// `rehearsal.md`: the report for a pull-request comment, capped at GitHub's limit.
pub fn markdown(rehearsal: &Rehearsal) -> String {
    markdown::render(rehearsal)
}

/// `rehearsal.json`: the model, pretty-printed; [`Rehearsal`] reads it back.
pub fn json(rehearsal: &Rehearsal) -> String {
    let mut text =
        serde_json::to_string_pretty(rehearsal).expect("a rehearsal holds JSON-safe values");
    text.push('\n');
    text
}

/// `rehearsal.html`: one self-contained page, with each run's timeline inline.
pub fn html(rehearsal: &Rehearsal) -> String {
    html::render(rehearsal)
}

/// Every file of a rehearsal's report, as `(file name, text)`: the Markdown, the JSON,
/// the page and one timeline chart per run.
pub fn files(rehearsal: &Rehearsal) -> Vec<(String, String)> {
    let mut files = vec![
        (MARKDOWN_FILE.to_owned(), markdown(rehearsal)),
        (JSON_FILE.to_owned(), json(rehearsal)),
        (HTML_FILE.to_owned(), html(rehearsal)),
    ];
    for run in &rehearsal.runs {
        files.push((timeline_file(run), timeline_svg(run, &rehearsal.limits)));
    }
    files
}

/// `timeline-<migration>-<scale>.svg` (`-<run>` before `.svg` with `--repeat`), the
/// migration's name made safe for a file name.
pub fn timeline_file(run: &MigrationRun) -> String {
    format!(
        "timeline-{}-{}{}.svg",
        crate::slug::slug(&run.migration),
        run.scale,
        run.repetition
            .map_or(String::new(), |repetition| format!("-{repetition}"))
    )
}

/// `, run 2` after a run's migration and scale when it is one of several
/// (`--repeat`); nothing otherwise.
pub(crate) fn repetition_words(repetition: Option<usize>) -> String {
    repetition.map_or(String::new(), |repetition| format!(", run {repetition}"))
}

/// The migrations, in declaration order, each once.
fn migrations(rehearsal: &Rehearsal) -> Vec<&str> {
    let mut names: Vec<&str> = Vec::new();
    for run in &rehearsal.runs {
        if !names.contains(&run.migration.as_str()) {
            names.push(&run.migration);
        }
    }
    names
}

/// The scales rehearsed, increasing, each once.
fn scales(rehearsal: &Rehearsal) -> Vec<u64> {
    let mut scales: Vec<u64> = rehearsal.runs.iter().map(|run| run.scale).collect();
    scales.sort_unstable();
    scales.dedup();
    scales
}

/// The table whose rows the scale counts: the seeded table with as many rows as the
/// scale in every run (the model does not name it).
fn scale_table(rehearsal: &Rehearsal) -> Option<&str> {
    let first = rehearsal.runs.first()?;
    first
        .seeded
        .iter()
        .map(|table| table.table.as_str())
        .find(|name| {
            rehearsal.runs.iter().all(|run| {
                run.seeded
                    .iter()
                    .any(|table| table.table == *name && table.rows == run.scale)
            })
        })
}

/// `1,000,000 rows of workflow_runs`, or `1,000,000 rows`.
fn scale_words(rehearsal: &Rehearsal, scale: u64) -> String {
    match scale_table(rehearsal) {
        Some(table) => format!("{} rows of {table}", format_count(scale as f64)),
        None => format!("{} rows", format_count(scale as f64)),
    }
}

/// A lock mode's strength by its SQL name, 1 (ACCESS SHARE) to 8 (ACCESS EXCLUSIVE),
/// 0 for a mode that is not a table lock's (a transaction id's SHARE is read as SHARE).
fn lock_strength(mode: &str) -> usize {
    const MODES: [&str; 8] = [
        "ACCESS SHARE",
        "ROW SHARE",
        "ROW EXCLUSIVE",
        "SHARE UPDATE EXCLUSIVE",
        "SHARE",
        "SHARE ROW EXCLUSIVE",
        "EXCLUSIVE",
        "ACCESS EXCLUSIVE",
    ];
    MODES
        .iter()
        .position(|known| known.eq_ignore_ascii_case(mode.trim()))
        .map_or(0, |index| index + 1)
}

/// Whether a mode blocks the traffic's writes (it conflicts with ROW EXCLUSIVE): the
/// modes a reader should notice first.
fn blocks_writes(mode: &str) -> bool {
    lock_strength(mode) >= lock_strength("SHARE")
}

/// What the reports write after a lock a step's SQL takes that the sampler did not see.
const UNSEEN: &str = "by its SQL, not seen";

/// The locks a step's SQL takes that the sampler did not see it hold.
fn unseen_locks(step: &StepOutcome) -> impl Iterator<Item = &DeclaredLock> {
    step.declared_locks.iter().filter(|lock| !lock.seen)
}

/// How long a lock was seen held: `190 ms`, or `one sample` when only one reading of
/// the lock table showed it.
fn held_text(lock: &HeldLock) -> String {
    match lock.held_ms() {
        ms if ms > 0.0 => format_ms(ms),
        _ => "one sample".to_owned(),
    }
}

/// A moment on the run's clock: `8.90 s`.
fn seconds(ms: f64) -> String {
    format!("{:.2} s", ms / 1000.0)
}

/// How long the traffic ran alone before the first step and after the last that ran,
/// as measured, and what ended the steps when the run stopped early: `traffic alone
/// for 3.00 s before the first step and 2.00 s after step 4 failed`.
fn traffic_alone(run: &MigrationRun) -> String {
    let after = match run.steps.last() {
        None => return format!("traffic ran {} and no step ran", seconds(run.warm_up_ms)),
        Some(step) if step.error.is_some() => format!("after step {} failed", step.index),
        Some(step) if run.stopped.is_some() => {
            format!("after step {}, where the run stopped", step.index)
        }
        Some(_) => "after the last".to_owned(),
    };
    format!(
        "traffic alone for {} before the first step and {} {after}",
        seconds(run.warm_up_ms),
        seconds(run.tail_ms)
    )
}

/// `p50 / p99 / max` of a latency in one unit: `1.2 / 820 / 1412 ms`.
fn latency_triple(p50: f64, p99: f64, max: f64) -> String {
    let number = |ms: f64| {
        let text = format_ms(ms);
        text.trim_end_matches(" ms").to_owned()
    };
    format!("{} / {} / {} ms", number(p50), number(p99), number(max))
}

/// The limits in words: `stalls up to 1000 ms, no failed statement`.
fn limits_text(limits: &Limits) -> String {
    let failed = match limits.failed_statements {
        0 => "no failed statement".to_owned(),
        1 => "1 failed statement".to_owned(),
        n => format!("{} failed statements", format_count(n as f64)),
    };
    format!(
        "stalls up to {} per statement, {failed}",
        format_ms(limits.max_stall_ms)
    )
}

/// How regularly the lock sampler read the lock table, in a sentence.
fn sampler_text(sampler: &SamplerStats) -> String {
    format!(
        "The lock sampler read the lock table {} times, every {} asked: {} apart at the median, {} at the 99th percentile, {} at most; a reading took {} (median).",
        format_count(sampler.ticks as f64),
        format_ms(sampler.requested_interval_ms),
        format_ms(sampler.median_interval_ms),
        format_ms(sampler.p99_interval_ms),
        format_ms(sampler.max_interval_ms),
        format_ms(sampler.median_query_ms),
    )
}

/// What the sampler cost the traffic, in a sentence.
fn overhead_text(overhead: &SamplerOverhead) -> String {
    let cost = (1.0 - overhead.ratio) * 100.0;
    let cost = match cost {
        c if c >= 0.5 => format!("cost the traffic {c:.0}% of its throughput"),
        c if c > -0.5 => "cost the traffic no measurable throughput".to_owned(),
        _ => "cost the traffic no throughput (it went faster with it)".to_owned(),
    };
    format!(
        "The lock sampler {cost}: the writers managed {} statements/s flat out without it and {}/s with it, reading every {} (median).",
        format_count(overhead.without_per_s),
        format_count(overhead.with_per_s),
        format_ms(overhead.median_interval_ms),
    )
}

/// Traffic statements that failed over the whole run.
fn failed_statements(run: &MigrationRun) -> u64 {
    run.traffic.iter().map(|stream| stream.failed).sum()
}

/// Traffic statements that failed during a step.
fn step_failures(step: &StepOutcome) -> u64 {
    step.failures.iter().map(|failure| failure.count).sum()
}

/// A step's growth in words when it grows faster than the table: `grows faster than
/// the table: exponent 1.89`.
fn growth_words(growth: &StepGrowth) -> Option<String> {
    let exponent = growth.exponent?;
    growth
        .super_linear
        .then(|| format!("grows faster than the table: exponent {exponent:.2}"))
}

/// A step's exponent as a table shows it, or why there is none.
fn exponent_text(growth: &StepGrowth) -> String {
    match growth.exponent {
        Some(exponent) if growth.not_judged.is_some() => format!(
            "{exponent:.2} (not judged: {})",
            growth.not_judged.as_deref().unwrap_or_default()
        ),
        Some(exponent) => format!("{exponent:.2}"),
        None if growth.durations_ms.len() < growth.scales.len() => "- (not reached)".to_owned(),
        None => "- (too short)".to_owned(),
    }
}

/// One migration at the largest scale, as the comparison shows it.
struct Compared<'a> {
    /// Its run there; of repeated runs, the one with the worst stall.
    run: &'a MigrationRun,
    /// The longest stall during any step, and that step.
    worst: Option<(&'a StepOutcome, &'a Stall)>,
    failed: u64,
    super_linear: Vec<&'a StepGrowth>,
    /// Its runs at that scale (more than one with `--repeat`), and how many broke
    /// something.
    runs: usize,
    broken: usize,
}

impl Compared<'_> {
    /// `✅ pass`, `❌ fail`, or with repeated runs `❌ fail in 4 of 5 runs`.
    fn verdict(&self, pass: &str, fail: &str) -> String {
        match (self.runs, self.broken) {
            (1, 0) => pass.to_owned(),
            (1, _) => fail.to_owned(),
            (runs, 0) => format!("{pass} in all {runs} runs"),
            (runs, broken) => format!("{fail} in {broken} of {runs} runs"),
        }
    }
}

/// The longest stall of any step of `run`, and that step.
pub(crate) fn worst_stall(run: &MigrationRun) -> Option<(&StepOutcome, &Stall)> {
    run.steps
        .iter()
        .filter_map(|step| step.longest_stall.as_ref().map(|stall| (step, stall)))
        .max_by(|(_, a), (_, b)| a.stall_ms.total_cmp(&b.stall_ms))
}

/// Each migration at the largest scale it reached, in declaration order.
fn compared(rehearsal: &Rehearsal) -> Vec<Compared<'_>> {
    migrations(rehearsal)
        .into_iter()
        .filter_map(|migration| {
            let largest = rehearsal
                .runs
                .iter()
                .filter(|run| run.migration == migration)
                .map(|run| run.scale)
                .max()?;
            let there: Vec<&MigrationRun> = rehearsal
                .runs
                .iter()
                .filter(|run| run.migration == migration && run.scale == largest)
                .collect();
            let stall_of = |run: &MigrationRun| worst_stall(run).map_or(0.0, |(_, s)| s.stall_ms);
            let run = *there
                .iter()
                .max_by(|a, b| stall_of(a).total_cmp(&stall_of(b)))?;
            Some(Compared {
                run,
                worst: worst_stall(run),
                failed: failed_statements(run),
                super_linear: rehearsal
                    .growth
                    .iter()
                    .filter(|growth| growth.migration == migration && growth.super_linear)
                    .collect(),
                runs: there.len(),
                broken: there.iter().filter(|run| !run.passed()).count(),
            })
        })
        .collect()
}

/// How often each limit broke over the repeated runs of one migration at one scale.
struct Repeated<'a> {
    migration: &'a str,
    scale: u64,
    runs: usize,
    /// Each limit or invariant some run broke, in the order first broken, with how
    /// many runs broke it.
    broken: Vec<(String, usize)>,
}

/// What stopping before the last step counts as, among the limits.
const RAN_TO_ITS_END: &str = "the migration ran to its last step";

/// With `--repeat`, each migration at each scale: how many runs broke each limit.
fn repeated(rehearsal: &Rehearsal) -> Vec<Repeated<'_>> {
    if rehearsal.repeat < 2 {
        return Vec::new();
    }
    let mut repeated: Vec<Repeated> = Vec::new();
    for run in &rehearsal.runs {
        let at = match repeated
            .iter()
            .position(|seen| seen.migration == run.migration && seen.scale == run.scale)
        {
            Some(at) => at,
            None => {
                repeated.push(Repeated {
                    migration: &run.migration,
                    scale: run.scale,
                    runs: 0,
                    broken: Vec::new(),
                });
                repeated.len() - 1
            }
        };
        let entry = &mut repeated[at];
        entry.runs += 1;
        let stopped = run.stopped.iter().map(|_| RAN_TO_ITS_END.to_owned());
        let mut limits: Vec<String> = stopped
            .chain(
                run.violations
                    .iter()
                    .map(|violation| violation.limit.clone()),
            )
            .collect();
        limits.dedup();
        for limit in limits {
            match entry.broken.iter_mut().find(|(seen, _)| *seen == limit) {
                Some((_, count)) => *count += 1,
                None => entry.broken.push((limit, 1)),
            }
        }
    }
    repeated
}

/// With `--repeat`, a line per migration and scale saying how often each limit broke,
/// for the terminal: `shipped at 250,000, 5 runs: stall ≤ … broken in 4 of 5 runs; …`.
pub fn repeated_lines(rehearsal: &Rehearsal) -> Vec<String> {
    repeated(rehearsal)
        .iter()
        .map(|repeated| {
            format!(
                "{} at {}, {} runs: {}",
                repeated.migration,
                format_count(repeated.scale as f64),
                repeated.runs,
                repeated_text(repeated)
            )
        })
        .collect()
}

/// One migration's repeated runs at one scale in a sentence: `stall ≤ 250 ms during
/// step 3 (…) broken in 4 of 5 runs; every other limit and invariant held in all 5`.
fn repeated_text(repeated: &Repeated) -> String {
    let runs = repeated.runs;
    if repeated.broken.is_empty() {
        return format!("every limit and invariant held in all {runs} runs");
    }
    let broken: Vec<String> = repeated
        .broken
        .iter()
        .map(|(limit, count)| match limit == RAN_TO_ITS_END {
            true => format!("the migration stopped before its last step in {count} of {runs} runs"),
            false => format!("{limit} broken in {count} of {runs} runs"),
        })
        .collect();
    format!(
        "{}; every other limit and invariant held in all {runs}",
        broken.join("; ")
    )
}

/// The runs that broke something, with what they broke (a stop reason first).
fn broken(rehearsal: &Rehearsal) -> Vec<(&MigrationRun, Vec<String>)> {
    rehearsal
        .runs
        .iter()
        .filter(|run| !run.passed())
        .map(|run| {
            let reasons = run
                .stopped
                .iter()
                .map(|why| format!("stopped: {why}"))
                .chain(
                    run.violations
                        .iter()
                        .map(|violation| violation.text.clone()),
                )
                .collect();
            (run, reasons)
        })
        .collect()
}

/// The verdict's headline, without a mark.
fn verdict_text(rehearsal: &Rehearsal) -> String {
    let broken = broken(rehearsal).len();
    let verdict = match (broken, rehearsal.runs.len()) {
        (_, 0) => "nothing was rehearsed".to_owned(),
        (0, 1) => "the run stayed within its limits and kept every invariant".to_owned(),
        (0, _) => "every run stayed within its limits and kept every invariant".to_owned(),
        (1, 1) => "the run broke a limit or an invariant".to_owned(),
        (broken, runs) => format!("{broken} of {runs} runs broke a limit or an invariant"),
    };
    match rehearsal.not_run.len() {
        0 => verdict,
        1 => format!("{verdict}; 1 run asked for did not run"),
        n => format!("{verdict}; {n} runs asked for did not run"),
    }
}

/// Whether the rehearsal passed: every run passed, and there was a run.
fn passed(rehearsal: &Rehearsal) -> bool {
    rehearsal.passed() && !rehearsal.runs.is_empty()
}

/// Text made safe for one line: line breaks become spaces.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_modes_rank_from_access_share_to_access_exclusive() {
        assert_eq!(lock_strength("ACCESS SHARE"), 1);
        assert_eq!(lock_strength("access exclusive"), 8);
        assert!(lock_strength("SHARE ROW EXCLUSIVE") > lock_strength("SHARE"));
        assert_eq!(lock_strength("AccessExclusiveLock"), 0);
        assert!(blocks_writes("SHARE") && !blocks_writes("SHARE UPDATE EXCLUSIVE"));
    }

    #[test]
    fn the_json_reads_back_as_the_same_rehearsal() {
        let rehearsal = sample::rehearsal();
        let text = json(&rehearsal);
        let back: Rehearsal = serde_json::from_str(&text).unwrap();
        assert_eq!(back, rehearsal);
        assert!(
            text.starts_with("{\n  \"format_version\": 2,"),
            "{}",
            &text[..40]
        );
    }

    #[test]
    fn the_files_are_the_three_reports_and_a_timeline_per_run() {
        let names: Vec<String> = files(&sample::rehearsal())
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        assert_eq!(
            names,
            [
                "rehearsal.md",
                "rehearsal.json",
                "rehearsal.html",
                "timeline-shipped-250000.svg",
                "timeline-shipped-1000000.svg",
                "timeline-safer-250000.svg",
                "timeline-safer-1000000.svg",
            ]
        );
    }

    #[test]
    fn a_timeline_file_name_is_safe_whatever_the_migration_is_called() {
        let mut run = sample::rehearsal().runs.remove(0);
        run.migration = "../Add NOT NULL (v2)".to_owned();
        assert_eq!(timeline_file(&run), "timeline-add-not-null-v2-250000.svg");
    }

    #[test]
    fn the_comparison_takes_each_migration_at_its_largest_scale() {
        let rehearsal = sample::rehearsal();
        let compared = compared(&rehearsal);
        assert_eq!(compared.len(), 2);
        let shipped = &compared[0];
        assert_eq!(
            (shipped.run.migration.as_str(), shipped.run.scale),
            ("shipped", 1_000_000)
        );
        let (step, stall) = shipped.worst.unwrap();
        assert_eq!((step.index, stall.stream.as_str()), (3, "old replica"));
        assert_eq!(shipped.super_linear.len(), 1);
        assert_eq!(compared[1].failed, 0);
    }

    #[test]
    fn the_scale_table_is_the_one_seeded_at_the_scale() {
        assert_eq!(scale_table(&sample::rehearsal()), Some("workflow_runs"));
    }

    /// `shipped` at 1,000,000 rows five times: the reader was mid-query when SET NOT
    /// NULL began in four of them.
    fn repeated_five_times() -> Rehearsal {
        let mut rehearsal = sample::rehearsal();
        let stalled = rehearsal.runs[1].clone();
        rehearsal.runs = (1..=5)
            .map(|repetition| {
                let mut run = stalled.clone();
                run.repetition = Some(repetition);
                if repetition == 3 {
                    run.violations.clear();
                }
                run
            })
            .collect();
        rehearsal.repeat = 5;
        rehearsal
    }

    #[test]
    fn repeated_runs_say_how_often_each_limit_broke() {
        let rehearsal = repeated_five_times();
        let sentence = "stall ≤ 1000 ms during step 3 (`ALTER TABLE workflow_runs ALTER COLUMN priority SET NOT NULL`) broken in 4 of 5 runs; failed statements ≤ 0 broken in 4 of 5 runs; every other limit and invariant held in all 5";
        let text = markdown(&rehearsal);
        assert!(
            text.contains(&format!("- `shipped` at 1,000,000 rows: {sentence}")),
            "{text}"
        );
        assert!(text.contains("### `shipped` at 1,000,000 rows, run 3 · ✅ pass"));
        let page = html(&rehearsal);
        assert!(
            page.contains(
                "<li>shipped at 1,000,000 rows: stall ≤ 1000 ms during step 3 (`ALTER TABLE"
            ),
            "{page}"
        );
        assert!(page.contains("id=\"run-shipped-1000000-3\""));
        let terminal = crate::report::terminal::rehearsal(&rehearsal);
        assert!(
            terminal.contains(&format!("shipped at 1,000,000, 5 runs: {sentence}")),
            "{terminal}"
        );
        let names: Vec<String> = files(&rehearsal)
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        assert!(names.contains(&"timeline-shipped-1000000-5.svg".to_owned()));
    }

    #[test]
    fn the_comparison_shows_the_worst_of_repeated_runs_and_how_many_broke() {
        let mut rehearsal = repeated_five_times();
        let mut safer = sample::rehearsal().runs.remove(3);
        safer.repetition = Some(1);
        rehearsal.runs.push(safer);
        let compared = compared(&rehearsal);
        assert_eq!((compared[0].runs, compared[0].broken), (5, 4));
        assert_eq!(compared[0].verdict("pass", "fail"), "fail in 4 of 5 runs");
        assert_eq!(compared[1].verdict("pass", "fail"), "pass");
    }
}
