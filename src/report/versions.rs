//! The comparison of one scenario across PostgreSQL versions (`--pg`), as
//! `versions.md` and `versions.json` in the scenario's report directory; each
//! version's full report is written beside it, under `pg<major>/`.

use serde::Serialize;

use super::markdown::cell_text;
use crate::format::format_count;
use crate::outcome::versions::{SweepAcross, Versions};

/// The comparison's files, the JSON document last.
pub const FILES: [&str; 2] = ["versions.md", "versions.json"];

/// What `versions.json` says it is, before its fields: [`FORMAT_NAME`] and a version.
pub const FORMAT: &str = "plancheck-versions 2";

/// What every version of `versions.json` starts its `format` with.
pub const FORMAT_NAME: &str = "plancheck-versions ";

#[derive(Serialize)]
struct Document<'a> {
    format: &'static str,
    #[serde(flatten)]
    versions: &'a Versions,
}

/// `versions.json`: [`Versions`] with its format.
pub fn json(versions: &Versions) -> String {
    let document = Document {
        format: FORMAT,
        versions,
    };
    let mut text = serde_json::to_string_pretty(&document).expect("plain data serializes");
    text.push('\n');
    text
}

/// What the comparison says when it lists no difference, lowercase without a period:
/// `every version gave the same verdicts and plan shapes`, or that one version ran;
/// `None` when the versions differ.
pub fn agreement(versions: &Versions) -> Option<String> {
    if versions.versions.len() < 2 {
        return Some("only one version ran: nothing to compare".into());
    }
    versions
        .differences
        .is_empty()
        .then(|| format!("every version gave the same {}", agreed(versions)))
}

/// What versions that do not differ agree on.
fn agreed(versions: &Versions) -> &'static str {
    let flip = versions
        .sweep
        .as_ref()
        .is_some_and(|sweep| sweep.flip.is_some());
    match (flip, versions.stability.is_empty()) {
        (false, true) => "verdicts and plan shapes",
        (true, true) => "verdicts, plan shapes and flip",
        (false, false) => "verdicts, plan shapes and plan stability",
        (true, false) => "verdicts, plan shapes, flip and plan stability",
    }
}

/// `versions.md`: which version passed, where they differ, every verdict and plan
/// shape with a column per version.
pub fn markdown(versions: &Versions) -> String {
    let table = Table {
        majors: versions
            .versions
            .iter()
            .map(|version| version.major.to_string())
            .collect(),
    };
    let mut out = heading(versions, &table.majors);
    out.push_str(&differences(versions));
    if let Some(sweep) = &versions.sweep {
        out.push_str(&growth(sweep, &table, versions.rows));
    }
    if !versions.stability.is_empty() {
        out.push_str("\n## Plan stability over ANALYZE rounds\n\n");
        out.push_str(&table.header(&["query", "variant"]));
        for row in &versions.stability {
            out.push_str(&table.row(&[&row.query, &cell_text(&row.variant)], &row.plans));
        }
    }
    out.push_str("\n## Verdicts\n\n");
    out.push_str(&table.header(&["check", "variant", "subject"]));
    for row in &versions.verdicts {
        let first = [
            &row.check,
            &cell_text(&row.variant),
            &cell_text(&row.subject),
        ];
        out.push_str(&table.row(&first, &row.verdicts));
    }
    out.push_str("\n## Plan shapes\n\n");
    out.push_str(&table.header(&["query", "variant"]));
    for row in &versions.shapes {
        let shapes: Vec<String> = row.shapes.iter().map(|shape| cell_text(shape)).collect();
        out.push_str(&table.row(&[&row.query, &cell_text(&row.variant)], &shapes));
    }
    out
}

/// A Markdown table with a column per version after the first columns.
struct Table {
    majors: Vec<String>,
}

impl Table {
    fn header(&self, first: &[&str]) -> String {
        let mut columns: Vec<String> = first.iter().map(|name| (*name).to_owned()).collect();
        columns.extend(self.majors.iter().map(|major| format!("PG {major}")));
        format!(
            "| {} |\n|{}\n",
            columns.join(" | "),
            "---|".repeat(columns.len())
        )
    }

    fn row(&self, first: &[&String], per_version: &[String]) -> String {
        let first: Vec<&str> = first.iter().map(|text| text.as_str()).collect();
        format!("| {} | {} |\n", first.join(" | "), per_version.join(" | "))
    }
}

/// The title, the rows every version had, each version's result and report, and the
/// versions that did not run.
fn heading(versions: &Versions, majors: &[String]) -> String {
    let rows = match &versions.sweep {
        None => format_count(versions.rows as f64),
        Some(sweep) => format!("Swept at {}", counts(&sweep.scales)),
    };
    let mut out = format!(
        "# {} on PostgreSQL {}\n\n{rows} rows of {}, seed {}: the same rows on every version.\n\n",
        versions.scenario,
        majors.join(", "),
        versions.scale_table,
        versions.seed
    );
    out.push_str("| version | server | result | report |\n|---|---|---|---|\n");
    for version in &versions.versions {
        let result = match version.passed {
            true => "PASS",
            false => "FAIL",
        };
        out.push_str(&format!(
            "| {} | {} | {result} | [{}]({}) |\n",
            version.major,
            cell_text(&version.server_version),
            version.report,
            version.report
        ));
    }
    if !versions.not_run.is_empty() {
        let not_run: Vec<String> = versions.not_run.iter().map(u32::to_string).collect();
        out.push_str(&format!(
            "\nAsked for but not run (the run ended before them): PostgreSQL {}.\n",
            not_run.join(", ")
        ));
    }
    out
}

/// `1,000, 10,000`.
fn counts(scales: &[u64]) -> String {
    scales
        .iter()
        .map(|scale| format_count(*scale as f64))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The agreement as a sentence, or the differences as a list.
fn differences(versions: &Versions) -> String {
    let mut out = "\n## Where the versions differ\n\n".to_owned();
    if let Some(agreement) = agreement(versions) {
        let mut sentence = agreement.chars();
        let first = sentence.next().map(|c| c.to_ascii_uppercase());
        out.push_str(&format!(
            "{}{}.\n",
            first.unwrap_or_default(),
            sentence.as_str()
        ));
    }
    for difference in &versions.differences {
        out.push_str(&format!("- {difference}\n"));
    }
    out
}

/// Each fitted measure's exponent per version, where the plan flips, and that what
/// follows is the largest scale's.
fn growth(sweep: &SweepAcross, table: &Table, rows: u64) -> String {
    let mut out = "\n## Growth\n\n".to_owned();
    out.push_str(
        "Each measure grows as scale^exponent across the sweep (1.00: in step with the table).\n\n",
    );
    out.push_str(&table.header(&["query", "variant", "measure"]));
    for row in &sweep.growth {
        let exponents: Vec<String> = row
            .exponents
            .iter()
            .zip(&row.plan_changes)
            .map(|(exponent, changes)| match changes {
                true => format!("{exponent} (plan changes)"),
                false => exponent.clone(),
            })
            .collect();
        let first = [&row.query, &cell_text(&row.variant), &row.measure];
        out.push_str(&table.row(&first, &exponents));
    }
    if sweep
        .growth
        .iter()
        .any(|row| row.plan_changes.contains(&true))
    {
        out.push_str(
            "\n(plan changes): the query's plan changed between the scales, so the exponent spans two plans, not one plan's growth.\n",
        );
    }
    if let Some(flip) = &sweep.flip {
        let found: Vec<String> = flip
            .found
            .iter()
            .zip(&table.majors)
            .map(|(found, major)| format!("{found} on {major}"))
            .collect();
        out.push_str(&format!(
            "\n{}'s plan shows the regression: {}.\n",
            flip.query,
            found.join("; ")
        ));
    }
    out.push_str(&format!(
        "\nVerdicts and plan shapes below are the largest scale's ({}).\n",
        format_count(rows as f64)
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::{json, markdown};
    use crate::outcome::versions::{
        FlipRow, GrowthRow, ShapeRow, StabilityRow, SweepAcross, VerdictRow, VersionRun, Versions,
    };

    /// A comparison with every section: two versions and one not run, a sweep with a
    /// flip, stability rounds, and a difference.
    fn sample() -> Versions {
        let version = |major: u32, passed: bool| VersionRun {
            major,
            server_version: format!("PostgreSQL {major}.1 on x86_64 | built here"),
            backend: format!("docker (plancheck/postgres:{major})"),
            passed,
            report: format!("pg{major}/report.md"),
        };
        let pair = |a: &str, b: &str| vec![a.to_owned(), b.to_owned()];
        Versions {
            scenario: "sparse-org".into(),
            rows: 1_000_000,
            scale_table: "workflow_runs".into(),
            seed: 7,
            versions: vec![version(15, true), version(17, false)],
            not_run: vec![13],
            verdicts: vec![VerdictRow {
                check: "ordered-walk".into(),
                variant: "-".into(),
                subject: "old vs new".into(),
                verdicts: pair("pass", "fail"),
            }],
            shapes: vec![ShapeRow {
                variant: "tenant=sparse".into(),
                query: "old".into(),
                shapes: pair("Limit > Index Scan | t", "Limit > Sort > Seq Scan"),
            }],
            sweep: Some(SweepAcross {
                scales: vec![100_000, 1_000_000],
                growth: vec![GrowthRow {
                    query: "old".into(),
                    variant: "-".into(),
                    measure: "rows-examined".into(),
                    exponents: pair("0.98", "1.02"),
                    plan_changes: vec![false, true],
                }],
                flip: Some(FlipRow {
                    query: "old".into(),
                    found: pair("from 180,000", "not by 1,000,000"),
                }),
            }),
            stability: vec![StabilityRow {
                variant: "-".into(),
                query: "new".into(),
                plans: pair("1 plan", "2 plans, 3 of 20 rounds flagged"),
            }],
            differences: vec!["ordered-walk on old vs new: pass on 15; fail on 17".into()],
        }
    }

    #[test]
    fn the_comparison_renders_every_section_in_markdown_and_json() {
        insta::assert_snapshot!(markdown(&sample()));
        insta::assert_snapshot!(json(&sample()));
    }

    #[test]
    fn versions_that_agree_say_so_in_a_sentence() {
        let mut agreeing = sample();
        agreeing.differences.clear();
        agreeing.sweep = None;
        agreeing.stability.clear();
        let text = markdown(&agreeing);
        assert!(
            text.contains("Every version gave the same verdicts and plan shapes.\n"),
            "{text}"
        );
    }
}
