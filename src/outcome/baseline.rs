//! A workload query's baseline: what its plan was and what it read, per parameter set
//! and scale, committed to the repository beside the query so that a pull request's
//! diff shows what changed in a plan and why the change was accepted. The file is made
//! to be diffed: keys in a fixed (sorted) order, one outline line per node, numbers
//! that do not move between runs of one plan (no timing, no cost, no path, no date).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{QueryEvidence, ResultDigest};
use crate::plan::Plan;

/// What a baseline file says it is, before its version.
pub const FORMAT_NAME: &str = "plancheck-baseline ";

/// The version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// One query's baseline file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Baseline {
    /// Why the baseline was last written: `first baseline`, or the reason given when a
    /// change was accepted.
    pub accepted: String,
    /// `plancheck-baseline 1`.
    pub format: String,
    /// What the baseline was made with: a check against it needs the same.
    pub made_with: MadeWith,
    /// The query's name (its file's stem).
    pub query: String,
    /// Per parameter set, by name.
    pub sets: BTreeMap<String, SetBaseline>,
    /// BLAKE3 of the query's SQL with its comments and spacing taken out: a change of
    /// the text the server runs shows here, a change of a comment does not.
    pub sql: String,
}

/// The inputs that decide the rows and the planner: a baseline compared with a run of
/// other inputs would report their differences as regressions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MadeWith {
    /// The dataset file, relative to the workload file.
    pub dataset: String,
    /// BLAKE3 of what in the dataset file decides the rows: its tables, groups,
    /// generators, seed and scale (not its schema fixtures, whose changes are what a
    /// check finds).
    pub dataset_digest: String,
    /// The PostgreSQL major version.
    pub postgres: u32,
    pub scale_table: String,
    /// Rows of `scale_table` at each scale, increasing.
    pub scales: Vec<u64>,
    pub seed: u64,
    /// Planner settings the workload and query set, by name.
    pub settings: BTreeMap<String, String>,
}

/// One parameter set of a query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetBaseline {
    /// The growth exponent of rows examined between the smallest and the largest scale
    /// (rows examined grow as scale^exponent), two decimals; absent with one scale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub growth: Option<f64>,
    /// The values bound to `$1`, `$2`, … as text, at the largest scale.
    pub params: Vec<String>,
    /// Per scale (rows of the scale table, as text so the file's keys are strings).
    pub scales: BTreeMap<String, Record>,
}

/// What one query with one parameter set did at one scale.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// Shared buffers hit plus read.
    pub buffers: u64,
    /// The worst estimate error (q-error) over the plan's nodes, two significant
    /// digits.
    pub estimate_error: f64,
    /// Every other plan the query took over the ANALYZE rounds the baseline was made
    /// with, with what it read: the check accepts any of them. Empty when the plan held.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub other_plans: Vec<OtherPlan>,
    /// The plan's outline ([`crate::plan::Plan::outline`]).
    pub plan: Vec<String>,
    /// Digest of the rows returned regardless of order (hex).
    pub result: String,
    pub rows_examined: u64,
    pub rows_returned: u64,
    /// What spilled to disk (`Sort ran as external merge on disk`); empty when
    /// nothing did.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub spills: Vec<String>,
}

/// A plan the query also took over the ANALYZE rounds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OtherPlan {
    pub buffers: u64,
    pub plan: Vec<String>,
    pub rows_examined: u64,
}

impl Record {
    /// What a captured query did, as a baseline keeps it. `None` for a query that did
    /// not run to its end (its plan is only estimated, or it has no result).
    pub fn of(query: &QueryEvidence) -> Option<Record> {
        Record::from_plan(&query.plan, query.results.as_ref()?)
    }

    /// What `plan` read, with the rows `results` holds; `None` for a plan that did not
    /// run.
    pub fn from_plan(plan: &Plan, results: &ResultDigest) -> Option<Record> {
        if !plan.analyzed {
            return None;
        }
        let (hit, read) = plan.buffers();
        Some(Record {
            buffers: hit + read,
            estimate_error: two_digits(plan.worst_estimate().map_or(1.0, |(error, _)| error)),
            other_plans: Vec::new(),
            plan: plan.outline(),
            result: format!("{:016x}", results.multiset_hash),
            rows_examined: plan.rows_examined().round() as u64,
            rows_returned: results.total_rows,
            spills: plan.spills().into_iter().map(|(_, what)| what).collect(),
        })
    }

    /// Whether `outline` is a plan this record accepts: its own or one of the others.
    pub fn accepts(&self, outline: &[String]) -> bool {
        self.plan == outline || self.other_plans.iter().any(|other| other.plan == outline)
    }
}

/// `x` to two significant digits: an estimate error of 3.14159 is kept as 3.1, of
/// 1234 as 1200, so that ANALYZE's sampling does not rewrite the file on every run.
pub fn two_digits(x: f64) -> f64 {
    if !x.is_finite() || x == 0.0 {
        return x;
    }
    let magnitude = 10f64.powi(x.abs().log10().floor() as i32 - 1);
    (x / magnitude).round() * magnitude
}

impl Baseline {
    /// The file's text: pretty JSON, keys in order, a newline at the end.
    pub fn render(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("plain data serializes");
        text.push('\n');
        text
    }

    /// Reads a baseline file's text. The error says what is wrong, without quoting it
    /// (a file given as a baseline may be anything).
    pub fn parse(text: &str) -> Result<Baseline, String> {
        let value: serde_json::Value = serde_json::from_str(text).map_err(|error| {
            format!(
                "is not a baseline file (not JSON: line {}, column {})",
                error.line(),
                error.column()
            )
        })?;
        let format = value
            .get("format")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default();
        let Some(version) = format.strip_prefix(FORMAT_NAME) else {
            return Err("is not a baseline file (no `format: plancheck-baseline N`)".into());
        };
        match version.parse::<u32>() {
            Ok(FORMAT_VERSION) => {}
            Ok(newer) if newer > FORMAT_VERSION => {
                return Err(format!(
                    "is a baseline of format {newer}, newer than this plancheck reads ({FORMAT_VERSION}): update plancheck"
                ));
            }
            _ => return Err(format!("has an unknown format {format:?}")),
        }
        serde_json::from_value(value).map_err(|error| format!("is a corrupt baseline: {error}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Baseline {
        let record = Record {
            buffers: 107,
            estimate_error: 3.1,
            plan: vec![
                "Limit".into(),
                "  Index Scan using runs_org_created on runs".into(),
            ],
            result: "3b56e99f9a851c41".into(),
            rows_examined: 52,
            rows_returned: 26,
            other_plans: Vec::new(),
            spills: Vec::new(),
        };
        Baseline {
            accepted: "first baseline".into(),
            format: format!("{FORMAT_NAME}{FORMAT_VERSION}"),
            made_with: MadeWith {
                dataset: "../fixtures/datasets/runs.toml".into(),
                dataset_digest: "ab12".into(),
                postgres: 15,
                scale_table: "runs".into(),
                scales: vec![100_000, 1_000_000],
                seed: 7,
                settings: BTreeMap::from([("work_mem".into(), "4MB".into())]),
            },
            query: "runs_by_org".into(),
            sets: BTreeMap::from([(
                "sparse".into(),
                SetBaseline {
                    growth: Some(0.02),
                    params: vec!["42".into()],
                    scales: BTreeMap::from([
                        ("100000".into(), record.clone()),
                        ("1000000".into(), record),
                    ]),
                },
            )]),
            sql: "c0ffee".into(),
        }
    }

    #[test]
    fn a_baseline_reads_back_as_written_with_its_keys_in_order() {
        let text = sample().render();
        assert_eq!(Baseline::parse(&text).unwrap(), sample());
        insta::assert_snapshot!(text);
        // Every object's keys are sorted, so that a rewrite moves nothing.
        fn sorted(value: &serde_json::Value) -> bool {
            match value {
                serde_json::Value::Object(map) => {
                    let keys: Vec<&String> = map.keys().collect();
                    keys.windows(2).all(|pair| pair[0] <= pair[1]) && map.values().all(sorted)
                }
                serde_json::Value::Array(items) => items.iter().all(sorted),
                _ => true,
            }
        }
        assert!(sorted(&serde_json::from_str(&text).unwrap()));
    }

    #[test]
    fn garbage_a_newer_format_and_a_corrupt_file_are_told_apart() {
        assert!(
            Baseline::parse("password=hunter2")
                .unwrap_err()
                .contains("not JSON")
        );
        let newer = sample()
            .render()
            .replace("plancheck-baseline 1", "plancheck-baseline 9");
        assert!(Baseline::parse(&newer).unwrap_err().contains("newer"));
        let corrupt = sample()
            .render()
            .replace("\"rows_examined\": 52", "\"rows_examined\": -1");
        assert!(Baseline::parse(&corrupt).unwrap_err().contains("corrupt"));
        assert!(
            !Baseline::parse("{\"secret\": 1}")
                .unwrap_err()
                .contains("secret")
        );
    }

    #[test]
    fn estimate_errors_keep_two_significant_digits() {
        assert_eq!(two_digits(3.14159), 3.1);
        assert_eq!(two_digits(1234.0), 1200.0);
        assert_eq!(two_digits(1.0), 1.0);
        assert_eq!(two_digits(0.0), 0.0);
    }
}
