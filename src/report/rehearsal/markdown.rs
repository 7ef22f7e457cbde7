//! `rehearsal.md`: the rehearsal for a pull-request comment. The verdict and the
//! environment first, then (with two migrations or more) the migrations side by side at
//! the largest scale, so a reviewer sees at a glance whether the safer one removed the
//! stalls; then each run's steps (what they locked, for how long, what the traffic felt),
//! its traffic, invariants and sampler; then how each step grew with the table. Never
//! longer than GitHub's comment limit: the least needed parts are left out first, and a
//! note says what was cut.

use std::fmt::Write;

use super::{
    Compared, UNSEEN, blocks_writes, broken, compared, exponent_text, failed_statements,
    growth_words, held_text, latency_triple, limits_text, migrations, one_line, overhead_text,
    passed, repeated, repeated_text, repetition_words, sampler_text, scale_words, scales, seconds,
    step_failures, timeline_file, traffic_alone, unseen_locks, verdict_text,
};
use crate::format::{format_count, format_ms};
use crate::outcome::rehearsal::{MigrationRun, Rehearsal, StepOutcome};
use crate::report::comment;

/// At most this many kinds of failure are listed per step; the rest are counted.
pub(super) const FAILURES_SHOWN: usize = 5;

/// At most this many sentences explain a step; the rest are counted.
pub(super) const EXPLANATIONS_SHOWN: usize = 8;

/// How much a part of the report is needed: the verdict always, run details least.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    Verdict,
    Steps,
    Growth,
    Details,
}

impl comment::Need for Need {
    fn words(self) -> (&'static str, &'static str) {
        match self {
            Need::Verdict => ("verdict part", "verdict parts"),
            Need::Steps => ("run's step table", "runs' step tables"),
            Need::Growth => ("growth table", "growth tables"),
            Need::Details => (
                "run's traffic, invariants and sampler",
                "runs' traffic, invariants and sampler",
            ),
        }
    }
}

type Block = comment::Block<Need>;

/// `rehearsal.md`'s text.
pub fn render(rehearsal: &Rehearsal) -> String {
    let mut blocks = vec![Block {
        need: Need::Verdict,
        text: header(rehearsal),
    }];
    if migrations(rehearsal).len() >= 2 {
        blocks.push(Block {
            need: Need::Verdict,
            text: comparison(rehearsal),
        });
    }
    if rehearsal.repeat > 1 {
        blocks.push(Block {
            need: Need::Verdict,
            text: repeated_runs(rehearsal),
        });
    }
    for run in &rehearsal.runs {
        blocks.push(Block {
            need: Need::Steps,
            text: run_steps(rehearsal, run),
        });
        blocks.push(Block {
            need: Need::Details,
            text: run_details(run),
        });
    }
    if !rehearsal.growth.is_empty() {
        for migration in migrations(rehearsal) {
            blocks.push(Block {
                need: Need::Growth,
                text: growth(rehearsal, migration),
            });
        }
    }
    blocks.push(Block {
        need: Need::Verdict,
        text: closing(rehearsal),
    });
    fit(blocks)
}

fn fit(blocks: Vec<Block>) -> String {
    comment::fit(
        blocks,
        &[Need::Details, Need::Growth, Need::Steps, Need::Verdict],
        "The whole rehearsal is in `rehearsal.html` and `rehearsal.json`",
    )
}

fn mark(passed: bool) -> &'static str {
    if passed { "✅ pass" } else { "❌ fail" }
}

/// `` `shipped` at 1,000,000 rows ``.
fn run_name(run: &MigrationRun) -> String {
    format!(
        "`{}` at {} rows{}",
        run.migration,
        format_count(run.scale as f64),
        repetition_words(run.repetition)
    )
}

/// The title, the verdict with every broken limit or invariant, and the environment.
fn header(rehearsal: &Rehearsal) -> String {
    let mut md = format!(
        "## plancheck rehearse · `{}` · {}\n\n",
        rehearsal.scenario,
        mark(passed(rehearsal))
    );
    if !rehearsal.description.trim().is_empty() {
        let _ = writeln!(md, "{}\n", rehearsal.description.trim());
    }
    let _ = writeln!(
        md,
        "**{}**: {}.",
        if passed(rehearsal) {
            "✅ Passed"
        } else {
            "❌ Failed"
        },
        verdict_text(rehearsal)
    );
    let broken = broken(rehearsal);
    if !broken.is_empty() || !rehearsal.not_run.is_empty() {
        md.push('\n');
    }
    for (run, reasons) in broken {
        let _ = writeln!(
            md,
            "- {}: {}",
            run_name(run),
            cell_text(&reasons.join("; "))
        );
    }
    for not_run in &rehearsal.not_run {
        let _ = writeln!(
            md,
            "- `{}` at {} rows{}: not run: {}",
            not_run.migration,
            format_count(not_run.scale as f64),
            repetition_words(not_run.repetition),
            cell_text(&not_run.reason)
        );
    }
    let scales: Vec<String> = scales(rehearsal)
        .into_iter()
        .map(|scale| format_count(scale as f64))
        .collect();
    let _ = writeln!(
        md,
        "\nPostgreSQL {} · {} · {} · seed {} · scales {} · limits: {}",
        rehearsal.server_version,
        rehearsal.backend,
        rehearsal.host,
        rehearsal.seed,
        match super::scale_table(rehearsal) {
            Some(table) => format!("{} rows of `{table}`", scales.join(" / ")),
            None => format!("{} rows", scales.join(" / ")),
        },
        limits_text(&rehearsal.limits)
    );
    let _ = writeln!(
        md,
        "\nScenario `{}` · dataset `{}`",
        rehearsal.scenario_file, rehearsal.dataset_file
    );
    md
}

/// The migrations side by side at the largest scale each reached.
fn comparison(rehearsal: &Rehearsal) -> String {
    let compared = compared(rehearsal);
    let largest = compared.iter().map(|c| c.run.scale).max().unwrap_or(0);
    let mut md = format!(
        "\n### Migrations compared at {}\n\n| Migration | Verdict | Worst stall | Caused by | Failed statements | Grows faster than the table |\n|---|---|--:|---|--:|---|\n",
        scale_words(rehearsal, largest)
    );
    for row in &compared {
        let _ = writeln!(md, "{}", comparison_row(rehearsal, row, largest));
    }
    md
}

fn comparison_row(rehearsal: &Rehearsal, row: &Compared, largest: u64) -> String {
    let name = match row.run.scale == largest {
        true => format!("`{}`", row.run.migration),
        false => format!(
            "`{}` (at {})",
            row.run.migration,
            format_count(row.run.scale as f64)
        ),
    };
    let (stall, cause) = match row.worst {
        Some((step, stall)) => (
            format!(
                "{}{} `{}`",
                over(rehearsal, stall.stall_ms),
                format_ms(stall.stall_ms),
                stall.stream
            ),
            format!("step {}: `{}`", step.index, cell_code(&step.summary)),
        ),
        None => ("-".to_owned(), "-".to_owned()),
    };
    let growing: Vec<String> = row
        .super_linear
        .iter()
        .map(|growth| format!("step {} (exponent {})", growth.step, exponent_text(growth)))
        .collect();
    format!(
        "| {name} | {} | {stall} | {cause} | {} | {} |",
        row.verdict(mark(true), mark(false)),
        format_count(row.failed as f64),
        match growing.is_empty() {
            true => "-".to_owned(),
            false => growing.join(", "),
        }
    )
}

/// With `--repeat`: how often each limit broke, per migration and scale.
fn repeated_runs(rehearsal: &Rehearsal) -> String {
    let mut md = format!(
        "\n### Repeated runs\n\nEach migration ran {} times at each scale, each on a freshly seeded database: a stall that depends on what the traffic was doing when a step began breaks in some runs only.\n\n",
        rehearsal.repeat
    );
    for repeated in repeated(rehearsal) {
        let _ = writeln!(
            md,
            "- `{}` at {} rows: {}",
            repeated.migration,
            format_count(repeated.scale as f64),
            cell_text(&repeated_text(&repeated))
        );
    }
    md
}

/// `⚠️ ` before a stall past the limit.
fn over(rehearsal: &Rehearsal, stall_ms: f64) -> &'static str {
    match stall_ms > rehearsal.limits.max_stall_ms {
        true => "⚠️ ",
        false => "",
    }
}

/// One run: what broke, the steps' table and what explains them.
fn run_steps(rehearsal: &Rehearsal, run: &MigrationRun) -> String {
    let mut md = format!("\n### {} · {}\n\n", run_name(run), mark(run.passed()));
    let seeded: Vec<String> = run
        .seeded
        .iter()
        .map(|table| format!("{} `{}`", format_count(table.rows as f64), table.table))
        .collect();
    let _ = writeln!(
        md,
        "Seeded {} in {} · {} · timeline: `{}`",
        seeded.join(", "),
        seconds(run.seed_ms),
        traffic_alone(run),
        timeline_file(run)
    );
    if let Some(why) = &run.stopped {
        let _ = writeln!(md, "\n❌ Stopped: {}", cell_text(why));
    }
    for violation in &run.violations {
        let _ = writeln!(md, "\n❌ {}", cell_text(&violation.text));
    }
    for warning in &run.warnings {
        let _ = writeln!(md, "\n⚠️ {}", cell_text(warning));
    }
    let _ = writeln!(
        md,
        "\n| # | Step | Took | Locks (strongest per relation, held; by its SQL when not seen) | Waited | Longest stall | Traffic p50 / p99 / max | Failed | Rows |\n|--:|---|--:|---|---|---|--:|--:|--:|"
    );
    for step in &run.steps {
        let _ = writeln!(md, "{}", step_row(rehearsal, step));
    }
    if run.steps_not_run > 0 {
        let _ = writeln!(
            md,
            "\n{} of the migration's steps did not run.",
            format_count(run.steps_not_run as f64)
        );
    }
    let notes: Vec<String> = run.steps.iter().filter_map(step_notes).collect();
    if !notes.is_empty() {
        md.push('\n');
        for note in notes {
            let _ = writeln!(md, "{note}");
        }
    }
    md
}

fn step_row(rehearsal: &Rehearsal, step: &StepOutcome) -> String {
    let mut what = format!(
        "`{}`<br>`{}:{}`",
        cell_code(&step.summary),
        step.file,
        step.line
    );
    if step.transaction.starts_with("outside") {
        what.push_str("<br>_outside a transaction block_");
    }
    if step.error.is_some() {
        what.push_str("<br>❌ **failed**");
    }
    let mode = |mode: &str| match blocks_writes(mode) {
        true => format!("**{mode}**"),
        false => mode.to_owned(),
    };
    let locks: Vec<String> = step
        .locks
        .iter()
        .map(|lock| {
            format!(
                "{} `{}` {}",
                mode(&lock.mode),
                lock.relation,
                held_text(lock)
            )
        })
        .chain(unseen_locks(step).map(|lock| {
            format!(
                "{} `{}` {UNSEEN}",
                mode(&lock.mode),
                cell_code(&lock.relation)
            )
        }))
        .collect();
    let waited = match step.waited_ms > 0.0 {
        true if step.waited_for.is_empty() => format_ms(step.waited_ms),
        true => format!(
            "{} for {}",
            format_ms(step.waited_ms),
            names(&step.waited_for)
        ),
        false => "-".to_owned(),
    };
    let stall = step.longest_stall.as_ref().map_or("-".to_owned(), |stall| {
        let behind = stall
            .first_in_queue
            .as_ref()
            .map_or(String::new(), |head| format!(" behind {}", name(head)));
        format!(
            "{}`{}` {}{behind}",
            over(rehearsal, stall.stall_ms),
            stall.stream,
            format_ms(stall.stall_ms)
        )
    });
    let latency = match step.latency.count {
        0 => "-".to_owned(),
        _ => latency_triple(
            step.latency.p50_ms,
            step.latency.p99_ms,
            step.latency.max_ms,
        ),
    };
    format!(
        "| {} | {what} | {} | {} | {waited} | {stall} | {latency} | {} | {} |",
        step.index,
        format_ms(step.duration_ms()),
        match locks.is_empty() {
            true => "-".to_owned(),
            false => locks.join("<br>"),
        },
        format_count(step_failures(step) as f64),
        step.rows
            .map_or("-".to_owned(), |rows| format_count(rows as f64)),
    )
}

/// A step's error, explanation and failures, as one list item; `None` when the step
/// has nothing to say.
fn step_notes(step: &StepOutcome) -> Option<String> {
    let mut sentences: Vec<String> = Vec::new();
    if let Some(error) = &step.error {
        sentences.push(format!("It failed: `{}`.", cell_code(error)));
    }
    sentences.extend(
        step.explanation
            .iter()
            .take(EXPLANATIONS_SHOWN)
            .map(|sentence| one_line(sentence)),
    );
    if step.explanation.len() > EXPLANATIONS_SHOWN {
        sentences.push(format!(
            "(And {} more sentences in `rehearsal.json`.)",
            step.explanation.len() - EXPLANATIONS_SHOWN
        ));
    }
    let mut md = String::new();
    if !sentences.is_empty() {
        let _ = write!(
            md,
            "- **Step {}**{}: {}",
            step.index,
            if step.over_limit { " ⚠️" } else { "" },
            sentences.join(" ")
        );
    }
    if !step.failures.is_empty() {
        if md.is_empty() {
            let _ = write!(md, "- **Step {}**:", step.index);
        }
        let _ = write!(
            md,
            "\n  {} traffic statements failed during the step:",
            format_count(step_failures(step) as f64)
        );
        for failure in step.failures.iter().take(FAILURES_SHOWN) {
            let _ = write!(
                md,
                "\n  - `{}` ×{} from {}: `{}`",
                failure.stream,
                format_count(failure.count as f64),
                seconds(failure.at_ms),
                cell_code(&failure.error)
            );
        }
        if step.failures.len() > FAILURES_SHOWN {
            let rest = &step.failures[FAILURES_SHOWN..];
            let _ = write!(
                md,
                "\n  - and {} more errors ({} statements)",
                rest.len(),
                format_count(rest.iter().map(|failure| failure.count).sum::<u64>() as f64)
            );
        }
    }
    (!md.is_empty()).then_some(md)
}

/// One run's traffic, invariants and sampler.
fn run_details(run: &MigrationRun) -> String {
    let mut md = format!(
        // Markdown is not read inside `<summary>`: the name goes in `<code>`.
        "\n<details><summary>Traffic, invariants and lock sampler of <code>{}</code> at {} rows</summary>\n\n| Stream | Rate asked | Achieved | Connections | Started | Executed | Failed | Rows acknowledged | p50 | p99 | Max |\n|---|--:|--:|--:|---|--:|--:|--:|--:|--:|--:|\n",
        html_text(&run.migration),
        format_count(run.scale as f64)
    );
    for stream in &run.traffic {
        let started = match &stream.started_after {
            Some(step) => format!(
                "{}, after `{}`",
                seconds(stream.started_ms),
                cell_code(step)
            ),
            None => seconds(stream.started_ms),
        };
        let rows = match &stream.table {
            Some(table) => format!(
                "{} in `{table}`",
                format_count(stream.rows_acknowledged as f64)
            ),
            None => "-".to_owned(),
        };
        let _ = writeln!(
            md,
            "| `{}` | {}/s | {}/s | {} | {started} | {} | {}{} | {rows} | {} | {} | {} |",
            stream.name,
            rate(stream.rate),
            rate(stream.achieved_rate),
            stream.connections,
            format_count(stream.executed as f64),
            if stream.failed > 0 { "❌ " } else { "" },
            format_count(stream.failed as f64),
            format_ms(stream.latency.p50_ms),
            format_ms(stream.latency.p99_ms),
            format_ms(stream.latency.max_ms),
        );
    }
    let _ = writeln!(
        md,
        "\n{} traffic statements failed over the whole run.",
        format_count(failed_statements(run) as f64)
    );
    if !run.invariants.is_empty() {
        let _ = writeln!(
            md,
            "\n| Invariant | Expected | Actual | Held |\n|---|---|---|:-:|"
        );
        for invariant in &run.invariants {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} |",
                cell_text(&invariant.name),
                cell_text(&invariant.expected),
                cell_text(&invariant.actual),
                if invariant.held { "✓" } else { "✗ ❌" }
            );
        }
    }
    let _ = writeln!(md, "\n{}\n</details>", sampler_text(&run.sampler));
    md
}

/// A rate per second with the precision its size needs.
fn rate(per_s: f64) -> String {
    match per_s {
        r if r >= 100.0 => format_count(r),
        r if r >= 10.0 => format!("{r:.1}"),
        r => format!("{r:.2}"),
    }
}

/// Each step's duration across the scales for one migration, and which grow faster
/// than the table.
fn growth(rehearsal: &Rehearsal, migration: &str) -> String {
    let scales = scales(rehearsal);
    let rows: Vec<_> = rehearsal
        .growth
        .iter()
        .filter(|growth| growth.migration == migration)
        .collect();
    if rows.is_empty() {
        return String::new();
    }
    let mut md = format!(
        "\n### Growth of `{migration}` with the table\n\nEach step's duration at each scale, and the exponent fitted on log-log axes: 1 grows as the table does, 2 as its square.\n\n| # | Step |"
    );
    for scale in &scales {
        let _ = write!(md, " {} |", format_count(*scale as f64));
    }
    let _ = writeln!(
        md,
        " Exponent |\n|--:|---|{}--:|",
        "--:|".repeat(scales.len())
    );
    for growth in &rows {
        let _ = write!(md, "| {} | `{}` |", growth.step, cell_code(&growth.summary));
        for scale in &scales {
            let duration = growth
                .scales
                .iter()
                .position(|at| at == scale)
                .and_then(|position| growth.durations_ms.get(position));
            let _ = write!(
                md,
                " {} |",
                duration.map_or("-".to_owned(), |ms| format_ms(*ms))
            );
        }
        let exponent = match growth.super_linear {
            true => format!("**{}** ⚠️", exponent_text(growth)),
            false => exponent_text(growth),
        };
        let _ = writeln!(md, " {exponent} |");
    }
    let growing: Vec<String> = rows
        .iter()
        .filter_map(|growth| {
            growth_words(growth).map(|words| {
                format!(
                    "- Step {} (`{}`) {words}.",
                    growth.step,
                    cell_code(&growth.summary)
                )
            })
        })
        .collect();
    if !growing.is_empty() {
        let _ = writeln!(md, "\n{}", growing.join("\n"));
    }
    md
}

/// The sampler's cost, the notes and where the rest is.
fn closing(rehearsal: &Rehearsal) -> String {
    let mut md = String::new();
    if let Some(overhead) = &rehearsal.sampler_overhead {
        let _ = writeln!(md, "\n{}", overhead_text(overhead));
    }
    for note in &rehearsal.notes {
        let _ = writeln!(md, "\n{}", one_line(note));
    }
    let _ = writeln!(
        md,
        "\nThe timeline charts (`timeline-<migration>-<scale>.svg`) and every step's SQL are in `rehearsal.html` beside this file."
    );
    md
}

/// A session's name as the tables write it: a traffic stream in code, `pid N` or
/// `step N` as it is.
fn name(who: &str) -> String {
    match who.starts_with("pid ") || who.starts_with("step ") {
        true => who.to_owned(),
        false => format!("`{who}`"),
    }
}

fn names(who: &[String]) -> String {
    who.iter()
        .map(|one| name(one))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Text safe inside HTML, where Markdown is not read.
fn html_text(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Makes text safe inside a Markdown table cell.
fn cell_text(text: &str) -> String {
    one_line(text).replace('|', "\\|")
}

/// Makes text safe inside a code span in a table cell: a backtick cannot be escaped
/// there, so it becomes a similar quote.
fn cell_code(text: &str) -> String {
    cell_text(text).replace('`', "'")
}

#[cfg(test)]
mod tests {
    use super::super::sample;
    use super::*;
    use crate::outcome::rehearsal::TrafficFailure;
    use crate::report::comment::MAX_CHARS;

    #[test]
    fn the_sample_rehearsal_reads_well_in_a_pull_request() {
        insta::assert_snapshot!(render(&sample::rehearsal()));
    }

    #[test]
    fn a_step_lists_five_kinds_of_failure_and_counts_the_rest() {
        let mut rehearsal = sample::rehearsal();
        let step = &mut rehearsal.runs[1].steps[2];
        step.failures = (1..=8)
            .map(|n| TrafficFailure {
                stream: "old replica".to_owned(),
                at_ms: 8_900.0 + n as f64,
                error: format!("ERROR: error number {n}"),
                count: n,
            })
            .collect();
        let text = render(&rehearsal);
        assert!(text.contains("error number 5"));
        assert!(!text.contains("error number 6"));
        assert!(text.contains("and 3 more errors (21 statements)"), "{text}");
    }

    #[test]
    fn a_huge_rehearsal_is_cut_to_a_comment_and_says_so() {
        let mut rehearsal = sample::rehearsal();
        let runs = rehearsal.runs.clone();
        for _ in 0..60 {
            rehearsal.runs.extend(runs.iter().cloned());
        }
        let text = render(&rehearsal);
        assert!(
            text.chars().count() <= MAX_CHARS,
            "{}",
            text.chars().count()
        );
        assert!(text.contains("✂️ Cut to fit"));
        assert!(text.starts_with("## plancheck rehearse · `add-priority` · ❌ fail"));
        assert!(text.contains("### Migrations compared at"));
    }

    #[test]
    fn a_broken_invariant_is_marked_in_its_table() {
        let mut rehearsal = sample::rehearsal();
        let run = &mut rehearsal.runs[3];
        run.invariants[0].held = false;
        run.invariants[0].expected = "1000106 = seeded 1000000 + inserted 106".to_owned();
        run.invariants[0].actual = "1000105".to_owned();
        run.violations.push(crate::outcome::rehearsal::Violation {
            limit: "invariant \"rows kept\"".to_owned(),
            text: "invariant rows kept did not hold: 1000105 rows, 1000106 expected".to_owned(),
        });
        let text = render(&rehearsal);
        assert!(
            text.contains(
                "| rows kept | 1000106 = seeded 1000000 + inserted 106 | 1000105 | ✗ ❌ |"
            ),
            "{text}"
        );
        assert!(text.contains("- `safer` at 1,000,000 rows: invariant rows kept did not hold"));
    }

    #[test]
    fn a_run_stopped_by_a_failed_step_says_why_and_what_did_not_run() {
        let mut rehearsal = sample::rehearsal();
        let run = &mut rehearsal.runs[3];
        run.steps.truncate(2);
        run.steps[1].error =
            Some("ERROR: canceling statement due to lock timeout (55P03)".to_owned());
        run.steps_not_run = 1;
        run.stopped = Some("step 2 failed".to_owned());
        let text = render(&rehearsal);
        assert!(
            text.contains("- `safer` at 1,000,000 rows: stopped: step 2 failed"),
            "{text}"
        );
        assert!(text.contains("❌ Stopped: step 2 failed"));
        assert!(text.contains("`fixtures/migrations/safer.sql:2`<br>❌ **failed**"));
        assert!(text.contains(
            "- **Step 2**: It failed: `ERROR: canceling statement due to lock timeout (55P03)`."
        ));
        assert!(text.contains("1 of the migration's steps did not run."));
        let page = super::super::html(&rehearsal);
        assert!(page.contains("✘ Stopped: step 2 failed"));
        assert!(page.contains(
            "It failed: <code>ERROR: canceling statement due to lock timeout (55P03)</code>."
        ));
    }

    #[test]
    fn a_passing_rehearsal_says_so_without_a_list() {
        let mut rehearsal = sample::rehearsal();
        rehearsal.runs.retain(|run| run.migration == "safer");
        rehearsal
            .growth
            .retain(|growth| growth.migration == "safer");
        let text = render(&rehearsal);
        assert!(text.contains(
            "**✅ Passed**: every run stayed within its limits and kept every invariant."
        ));
        assert!(
            !text.contains("Migrations compared"),
            "one migration has nothing to compare"
        );
    }

    /// `ADD COLUMN` holds ACCESS EXCLUSIVE for about a millisecond: between two of the
    /// sampler's readings. Its SQL says it takes the lock, so the step lists it.
    #[test]
    fn a_lock_the_steps_sql_takes_but_the_sampler_did_not_see_is_listed() {
        let text = render(&sample::unseen_add_column());
        assert!(
            text.contains(
                "| 1 | `ALTER TABLE workflow_runs ADD COLUMN priority integer`<br>`fixtures/migrations/shipped.sql:1` | 2.1 ms | **ACCESS EXCLUSIVE** `workflow_runs` by its SQL, not seen |"
            ),
            "{text}"
        );
    }

    #[test]
    fn a_warning_and_a_run_that_did_not_run_are_in_the_report() {
        let mut rehearsal = sample::rehearsal();
        rehearsal.runs.truncate(3);
        rehearsal.runs[2].warnings = vec![
            "traffic \"old replica\" ran 12.0 of the 20 executions per second asked".to_owned(),
        ];
        rehearsal.not_run = vec![crate::outcome::rehearsal::NotRun {
            migration: "safer".to_owned(),
            scale: 1_000_000,
            repetition: None,
            reason: "the rehearsal stopped at safer at 250,000 rows: the server went away"
                .to_owned(),
        }];
        let text = render(&rehearsal);
        assert!(
            text.contains(
                "2 of 3 runs broke a limit or an invariant; 1 run asked for did not run."
            ),
            "{text}"
        );
        assert!(text.contains("- `safer` at 1,000,000 rows: not run: the rehearsal stopped at safer at 250,000 rows: the server went away"), "{text}");
        assert!(
            text.contains(
                "⚠️ traffic \"old replica\" ran 12.0 of the 20 executions per second asked"
            ),
            "{text}"
        );
        let page = super::super::html(&rehearsal);
        assert!(page.contains("<li>safer at 1,000,000 rows: not run: the rehearsal stopped at safer at 250,000 rows: the server went away</li>"));
        assert!(
            page.contains("<p class=\"warn\">⚠ traffic &quot;old replica&quot; ran 12.0"),
            "{page}"
        );
        let terminal = crate::report::terminal::rehearsal(&rehearsal);
        assert!(
            terminal.contains("safer at 1,000,000: not run: the rehearsal stopped"),
            "{terminal}"
        );
        assert!(
            terminal.contains("safer at 250,000: warning: traffic \"old replica\" ran 12.0"),
            "{terminal}"
        );
        assert!(!rehearsal.passed());
    }
}
