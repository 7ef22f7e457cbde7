//! Stage 6: judge. Each check is a small named unit in its own file; this module is the
//! registry (`CheckSpec`, one variant per check, named in kebab-case in scenario
//! files) and the shared vocabulary of findings and verdicts. Checks work on parsed
//! plans, catalog facts and timings only: they never open a connection, so they can be
//! run on stored plans and on plans brought from production.
//!
//! Adding a check: write `checks/<name>.rs` with its config struct and logic, then add
//! one variant to `CheckSpec` and one arm to each of its methods.

pub mod no_slowdown;
pub mod ordered_walk;
pub mod row_amplification;
pub mod speedup;

use serde::{Deserialize, Serialize};

use crate::evidence::{Evidence, QueryEvidence};
use crate::plan::{Node, NodePath};

/// A check as a scenario declares it (`[[check]]` with `check = "<name>"`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(tag = "check", rename_all = "kebab-case")]
pub enum CheckSpec {
    OrderedWalk(ordered_walk::OrderedWalk),
    RowAmplification(row_amplification::RowAmplification),
    Speedup(speedup::Speedup),
    NoSlowdown(no_slowdown::NoSlowdown),
}

/// Whether a plan check's finding is expected in a query's plan. Expecting `present`
/// is how a scenario proves the old query reproduces the regression: without it, a
/// clean new plan proves nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Expect {
    Present,
    Absent,
}

/// One thing a check found, tied to the plan node that caused it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub query: String,
    pub node: NodePath,
    /// The node as a reader recognises it: `Index Scan using … on …`.
    pub node_label: String,
    pub message: String,
}

/// The outcome of one check on one scenario run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    /// The check's kebab-case name.
    pub check: &'static str,
    /// What was judged: a query name, or `candidate vs baseline`.
    pub subject: String,
    pub passed: bool,
    /// The queries the check read.
    pub queries: Vec<String>,
    /// One sentence saying what was found and what was required.
    pub summary: String,
    pub findings: Vec<Finding>,
}

impl CheckSpec {
    /// The kebab-case name scenario files use.
    pub fn name(&self) -> &'static str {
        match self {
            CheckSpec::OrderedWalk(_) => "ordered-walk",
            CheckSpec::RowAmplification(_) => "row-amplification",
            CheckSpec::Speedup(_) => "speedup",
            CheckSpec::NoSlowdown(_) => "no-slowdown",
        }
    }

    /// The queries this check reads, for validation.
    pub fn queries(&self) -> Vec<&str> {
        match self {
            CheckSpec::OrderedWalk(check) => vec![check.query.as_str()],
            CheckSpec::RowAmplification(check) => vec![check.query.as_str()],
            CheckSpec::Speedup(check) => vec![check.baseline.as_str(), check.candidate.as_str()],
            CheckSpec::NoSlowdown(check) => vec![check.baseline.as_str(), check.candidate.as_str()],
        }
    }

    /// Checks the check's own parameters; the message says what would be accepted.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            CheckSpec::OrderedWalk(check) => check.validate(),
            CheckSpec::RowAmplification(check) => check.validate(),
            CheckSpec::Speedup(check) => check.validate(),
            CheckSpec::NoSlowdown(check) => check.validate(),
        }
    }

    /// Judges the evidence. A query the evidence lacks yields a failed verdict rather
    /// than a panic, so that judging a stored run with missing parts still reports.
    pub fn evaluate(&self, evidence: &Evidence) -> Verdict {
        let mut verdict = self.judge(evidence);
        verdict.queries = self.queries().into_iter().map(str::to_owned).collect();
        verdict
    }

    fn judge(&self, evidence: &Evidence) -> Verdict {
        match self {
            CheckSpec::OrderedWalk(check) => {
                with_query(self.name(), &check.query, evidence, |query| {
                    let found = check.detect(query, &evidence.catalog);
                    expectation_verdict(self.name(), query, check.expect, found, &check.describe())
                })
            }
            CheckSpec::RowAmplification(check) => {
                with_query(self.name(), &check.query, evidence, |query| {
                    let found = check
                        .detect(query)
                        .map(|finding| finding.into_iter().collect());
                    expectation_verdict(self.name(), query, check.expect, found, &check.describe())
                })
            }
            CheckSpec::Speedup(check) => check.evaluate(evidence),
            CheckSpec::NoSlowdown(check) => check.evaluate(evidence),
        }
    }
}

/// Runs `judge` on the named query's evidence, or fails the verdict if it is missing.
fn with_query(
    check: &'static str,
    name: &str,
    evidence: &Evidence,
    judge: impl FnOnce(&QueryEvidence) -> Verdict,
) -> Verdict {
    match evidence.query(name) {
        Some(query) => judge(query),
        None => missing_query(check, name.to_owned(), name),
    }
}

/// The evidence of a comparison's two queries, or the name of the first one missing.
pub(crate) fn comparison_pair<'a>(
    evidence: &'a Evidence,
    baseline: &'a str,
    candidate: &'a str,
) -> Result<(&'a QueryEvidence, &'a QueryEvidence), &'a str> {
    let baseline_evidence = evidence.query(baseline).ok_or(baseline)?;
    let candidate_evidence = evidence.query(candidate).ok_or(candidate)?;
    Ok((baseline_evidence, candidate_evidence))
}

/// A failed verdict for a check whose query has no evidence.
pub(crate) fn missing_query(check: &'static str, subject: String, name: &str) -> Verdict {
    Verdict {
        check,
        subject,
        passed: false,
        queries: vec![],
        summary: format!("no plan or timing was captured for query {name:?}"),
        findings: vec![],
    }
}

/// Turns a plan check's findings into a verdict against the scenario's expectation.
/// `found` is an error when the check could not judge (for instance, a plan names an
/// index the catalog does not know), which always fails.
fn expectation_verdict(
    check: &'static str,
    query: &QueryEvidence,
    expect: Expect,
    found: Result<Vec<Finding>, String>,
    problem: &str,
) -> Verdict {
    let name = &query.name;
    let (passed, summary, findings) = match (expect, found) {
        (_, Err(reason)) => (false, format!("cannot judge {name}: {reason}"), vec![]),
        (Expect::Present, Ok(findings)) if findings.is_empty() => (
            false,
            format!(
                "regression not reproduced: the {name} plan shows no {problem}, so this scenario proves nothing"
            ),
            findings,
        ),
        (Expect::Present, Ok(findings)) => (
            true,
            format!("regression reproduced: the {name} plan shows {problem}"),
            findings,
        ),
        (Expect::Absent, Ok(findings)) if findings.is_empty() => (
            true,
            format!("the {name} plan shows no {problem}"),
            findings,
        ),
        (Expect::Absent, Ok(findings)) => {
            (false, format!("the {name} plan shows {problem}"), findings)
        }
    };
    Verdict {
        check,
        subject: name.clone(),
        passed,
        queries: vec![],
        summary,
        findings,
    }
}

impl Finding {
    /// A finding about `node` at `path` in `query`'s plan.
    pub fn at(query: &str, path: NodePath, node: &Node, message: String) -> Finding {
        Finding {
            query: query.to_owned(),
            node: path,
            node_label: node.label(),
            message,
        }
    }
}

/// Formats a row count with thousands separators, the way reports show them.
pub fn format_count(count: f64) -> String {
    let digits = format!("{:.0}", count.max(0.0));
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    grouped
}

/// Formats a duration in milliseconds with a precision that suits its size.
pub fn format_ms(ms: f64) -> String {
    if ms >= 100.0 {
        format!("{ms:.0} ms")
    } else if ms >= 1.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{ms:.3} ms")
    }
}

/// Evidence built from plans captured in real runs (`tests/data/plans`), shared by
/// the checks' tests.
#[cfg(test)]
pub(crate) mod stored {
    use crate::evidence::{QueryEvidence, Timing};
    use crate::plan::{Catalog, Plan};

    fn read(file: &str) -> String {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/plans")
            .join(file);
        std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
    }

    /// The stored plan `file` as query `name`'s evidence, with the given timings.
    pub fn query(name: &str, file: &str, samples_ms: &[f64]) -> QueryEvidence {
        let raw_explain: serde_json::Value =
            serde_json::from_str(&read(file)).expect("stored plans are JSON");
        QueryEvidence {
            name: name.to_owned(),
            plan: Plan::from_explain(&raw_explain).expect("stored plans parse"),
            raw_explain,
            timing: Timing {
                samples_ms: samples_ms.to_vec(),
            },
        }
    }

    /// The stored catalog facts `file`.
    pub fn catalog(file: &str) -> Catalog {
        serde_json::from_str(&read(file)).expect("stored catalogs parse")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_grouped_in_thousands() {
        assert_eq!(format_count(0.0), "0");
        assert_eq!(format_count(999.0), "999");
        assert_eq!(format_count(1000.0), "1,000");
        assert_eq!(format_count(1_905_483.0), "1,905,483");
    }

    #[test]
    fn scenario_check_entries_are_parsed_strictly() {
        let parse = |text: &str| toml::from_str::<CheckSpec>(text);
        let walk = parse(
            "check = \"ordered-walk\"\nquery = \"old\"\ncolumn = \"t.c\"\nexpect = \"present\"",
        );
        assert!(matches!(walk, Ok(CheckSpec::OrderedWalk(_))), "{walk:?}");

        let unknown_key = parse(
            "check = \"ordered-walk\"\nquery = \"old\"\ncolumn = \"t.c\"\nexpect = \"present\"\ncolum = \"x\"",
        );
        let message = unknown_key.unwrap_err().to_string();
        assert!(message.contains("colum"), "{message}");

        let unknown_check = parse("check = \"ordered-stroll\"\nquery = \"old\"");
        let message = unknown_check.unwrap_err().to_string();
        assert!(message.contains("ordered-stroll"), "{message}");
    }
}
