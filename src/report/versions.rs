//! The comparison of one scenario across PostgreSQL versions (`--pg`), as
//! `versions.md` and `versions.json` in the scenario's report directory; each
//! version's full report is written beside it, under `pg<major>/`.

use serde::Serialize;

use super::markdown::cell_text;
use crate::outcome::versions::Versions;

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
    let majors: Vec<String> = versions
        .versions
        .iter()
        .map(|version| version.major.to_string())
        .collect();
    let rows = match &versions.sweep {
        None => crate::format::format_count(versions.rows as f64),
        Some(sweep) => format!(
            "Swept at {}",
            sweep
                .scales
                .iter()
                .map(|scale| crate::format::format_count(*scale as f64))
                .collect::<Vec<_>>()
                .join(", ")
        ),
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
        out.push_str(&format!(
            "| {} | {} | {} | [{}]({}) |\n",
            version.major,
            cell_text(&version.server_version),
            match version.passed {
                true => "PASS",
                false => "FAIL",
            },
            version.report,
            version.report
        ));
    }
    if !versions.not_run.is_empty() {
        out.push_str(&format!(
            "\nAsked for but not run (the run ended before them): PostgreSQL {}.\n",
            versions
                .not_run
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    out.push_str("\n## Where the versions differ\n\n");
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
    let header = |first: &[&str]| {
        let mut columns: Vec<String> = first.iter().map(|name| (*name).to_owned()).collect();
        columns.extend(majors.iter().map(|major| format!("PG {major}")));
        format!(
            "| {} |\n|{}\n",
            columns.join(" | "),
            "---|".repeat(columns.len())
        )
    };
    if let Some(sweep) = &versions.sweep {
        out.push_str("\n## Growth\n\n");
        out.push_str(
            "Each measure grows as scale^exponent across the sweep (1.00: in step with the table).\n\n",
        );
        out.push_str(&header(&["query", "variant", "measure"]));
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
            out.push_str(&format!(
                "| {} | {} | {} | {} |\n",
                row.query,
                cell_text(&row.variant),
                row.measure,
                exponents.join(" | ")
            ));
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
            out.push_str(&format!(
                "\n{}'s plan shows the regression: {}.\n",
                flip.query,
                flip.found
                    .iter()
                    .zip(&majors)
                    .map(|(found, major)| format!("{found} on {major}"))
                    .collect::<Vec<_>>()
                    .join("; ")
            ));
        }
        out.push_str(&format!(
            "\nVerdicts and plan shapes below are the largest scale's ({}).\n",
            crate::format::format_count(versions.rows as f64)
        ));
    }
    if !versions.stability.is_empty() {
        out.push_str("\n## Plan stability over ANALYZE rounds\n\n");
        out.push_str(&header(&["query", "variant"]));
        for row in &versions.stability {
            out.push_str(&format!(
                "| {} | {} | {} |\n",
                row.query,
                cell_text(&row.variant),
                row.plans.join(" | ")
            ));
        }
    }
    out.push_str("\n## Verdicts\n\n");
    out.push_str(&header(&["check", "variant", "subject"]));
    for row in &versions.verdicts {
        out.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            row.check,
            cell_text(&row.variant),
            cell_text(&row.subject),
            row.verdicts.join(" | ")
        ));
    }
    out.push_str("\n## Plan shapes\n\n");
    out.push_str(&header(&["query", "variant"]));
    for row in &versions.shapes {
        let shapes: Vec<String> = row.shapes.iter().map(|shape| cell_text(shape)).collect();
        out.push_str(&format!(
            "| {} | {} | {} |\n",
            row.query,
            cell_text(&row.variant),
            shapes.join(" | ")
        ));
    }
    out
}
