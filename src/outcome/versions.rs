//! One scenario run on several PostgreSQL major versions (`--pg 13,15,17`): each
//! version's verdicts and plan shapes side by side, and where they differ. The rows
//! are the same on every version (same dataset, seed and scale); what differs is the
//! planner.

use serde::{Deserialize, Serialize};

use super::Outcome;

/// The comparison of one scenario across versions.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Versions {
    pub scenario: String,
    /// Rows of the scale table (`scale_table`) on every version.
    pub rows: u64,
    pub scale_table: String,
    pub seed: u64,
    /// One entry per version, in the order `--pg` gave them.
    pub versions: Vec<VersionRun>,
    /// One row per check, variant and subject: its verdict on each version.
    pub verdicts: Vec<VerdictRow>,
    /// One row per variant and query: its plan's shape on each version.
    pub shapes: Vec<ShapeRow>,
    /// Sentences saying where versions disagree (verdicts first, then plan shapes);
    /// empty when every version agrees.
    pub differences: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct VersionRun {
    pub major: u32,
    /// What the server says of itself (`PostgreSQL 15.18 (Debian …) on …`).
    pub server_version: String,
    /// The backend and what it started (`docker (plancheck/postgres:15)`).
    pub backend: String,
    pub passed: bool,
    /// The version's full report, relative to the comparison's directory.
    pub report: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct VerdictRow {
    pub check: String,
    /// `-` without variants.
    pub variant: String,
    pub subject: String,
    /// Per version, in [`Versions::versions`]' order: `pass`, `fail`, `not judged`,
    /// or `-` where the version has no such verdict.
    pub verdicts: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ShapeRow {
    pub variant: String,
    pub query: String,
    /// Per version: the plan's shape (see `Plan::shape`), or `-`.
    pub shapes: Vec<String>,
}

impl Versions {
    /// Lines up `runs` (major version, the run's outcome, its report's path).
    pub fn compare(runs: &[(u32, &Outcome, String)]) -> Versions {
        let first = runs[0].1;
        let versions = runs
            .iter()
            .map(|(major, run, report)| VersionRun {
                major: *major,
                server_version: run.environment.server_version.clone(),
                backend: run.environment.backend.to_string(),
                passed: run.passed(),
                report: report.clone(),
            })
            .collect();

        let mut verdicts: Vec<VerdictRow> = Vec::new();
        let mut shapes: Vec<ShapeRow> = Vec::new();
        for (index, (_, run, _)) in runs.iter().enumerate() {
            for cell in &run.cells {
                let variant = cell.label();
                for verdict in &cell.verdicts {
                    let said = match (verdict.judged, verdict.passed) {
                        (false, _) => "not judged",
                        (true, true) => "pass",
                        (true, false) => "fail",
                    };
                    let row = match verdicts.iter().position(|row| {
                        row.check == verdict.check
                            && row.variant == variant
                            && row.subject == verdict.subject
                    }) {
                        Some(position) => &mut verdicts[position],
                        None => {
                            verdicts.push(VerdictRow {
                                check: verdict.check.to_owned(),
                                variant: variant.clone(),
                                subject: verdict.subject.clone(),
                                verdicts: vec!["-".into(); runs.len()],
                            });
                            verdicts.last_mut().expect("just pushed")
                        }
                    };
                    row.verdicts[index] = said.to_owned();
                }
                for query in &cell.evidence.queries {
                    let row = match shapes
                        .iter()
                        .position(|row| row.variant == variant && row.query == query.name)
                    {
                        Some(position) => &mut shapes[position],
                        None => {
                            shapes.push(ShapeRow {
                                variant: variant.clone(),
                                query: query.name.clone(),
                                shapes: vec!["-".into(); runs.len()],
                            });
                            shapes.last_mut().expect("just pushed")
                        }
                    };
                    row.shapes[index] = query.plan.shape();
                }
            }
        }

        let majors: Vec<u32> = runs.iter().map(|(major, _, _)| *major).collect();
        let mut differences = Vec::new();
        for row in &verdicts {
            if let Some(groups) = disagreement(&row.verdicts, &majors) {
                let variant = match row.variant.as_str() {
                    "-" => String::new(),
                    variant => format!(" [{variant}]"),
                };
                differences.push(format!(
                    "{} on {}{variant}: {groups}",
                    row.check, row.subject
                ));
            }
        }
        for row in &shapes {
            if let Some(groups) = disagreement(&row.shapes, &majors) {
                let variant = match row.variant.as_str() {
                    "-" => String::new(),
                    variant => format!(" [{variant}]"),
                };
                differences.push(format!("plan of {}{variant}: {groups}", row.query));
            }
        }
        Versions {
            scenario: first.scenario.clone(),
            rows: first.seeded.scale,
            scale_table: first.seeded.scale_table.clone(),
            seed: first.seeded.seed,
            versions,
            verdicts,
            shapes,
            differences,
        }
    }

    /// Whether every version passed.
    pub fn passed(&self) -> bool {
        self.versions.iter().all(|version| version.passed)
    }
}

/// `pass on 13, 15; fail on 17` when `values` (one per version) are not all the same.
fn disagreement(values: &[String], majors: &[u32]) -> Option<String> {
    if values.iter().all(|value| *value == values[0]) {
        return None;
    }
    let mut groups: Vec<(&str, Vec<String>)> = Vec::new();
    for (value, major) in values.iter().zip(majors) {
        match groups.iter_mut().find(|(seen, _)| *seen == value) {
            Some((_, versions)) => versions.push(major.to_string()),
            None => groups.push((value, vec![major.to_string()])),
        }
    }
    Some(
        groups
            .iter()
            .map(|(value, versions)| format!("{value} on {}", versions.join(", ")))
            .collect::<Vec<_>>()
            .join("; "),
    )
}

#[cfg(test)]
mod tests {
    use super::disagreement;

    #[test]
    fn versions_that_agree_say_nothing_and_others_are_grouped_by_what_they_said() {
        let same = vec!["pass".to_owned(); 3];
        assert_eq!(disagreement(&same, &[13, 15, 17]), None);
        let split: Vec<String> = ["pass", "fail", "pass"].map(str::to_owned).to_vec();
        assert_eq!(
            disagreement(&split, &[13, 15, 17]).as_deref(),
            Some("pass on 13, 17; fail on 15")
        );
    }
}
