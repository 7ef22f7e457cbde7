//! The comparison of one scenario across PostgreSQL versions (`--pg`), as
//! `versions.md` and `versions.json` in the scenario's report directory; each
//! version's full report is written beside it, under `pg<major>/`.

use serde::Serialize;

use super::markdown::cell_text;
use crate::outcome::versions::Versions;

/// The comparison's files, the JSON document last.
pub const FILES: [&str; 2] = ["versions.md", "versions.json"];

/// What `versions.json` says it is, before its fields.
pub const FORMAT: &str = "plancheck-versions 1";

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

/// `versions.md`: which version passed, where they differ, every verdict and plan
/// shape with a column per version.
pub fn markdown(versions: &Versions) -> String {
    let majors: Vec<String> = versions
        .versions
        .iter()
        .map(|version| version.major.to_string())
        .collect();
    let mut out = format!(
        "# {} on PostgreSQL {}\n\n{} rows of {}, seed {}: the same rows on every version.\n\n",
        versions.scenario,
        majors.join(", "),
        crate::format::format_count(versions.rows as f64),
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
    out.push_str("\n## Where the versions differ\n\n");
    if versions.differences.is_empty() {
        out.push_str("Every version gave the same verdicts and the same plan shapes.\n");
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
