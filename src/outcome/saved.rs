//! Plans saved elsewhere and what a scenario's checks made of them
//! (`plancheck judge`): the input of its terminal, Markdown and JSON output.

use serde::Serialize;

use super::Verdict;

/// Every plan of `files` judged as `query` of `scenario`.
#[derive(Debug, Serialize)]
pub struct Judgement {
    pub scenario: String,
    pub query: String,
    /// Where the catalog facts came from.
    pub catalog_from: String,
    pub plans: Vec<JudgedPlan>,
}

impl Judgement {
    /// Whether every plan passed every check that could judge it.
    pub fn passed(&self) -> bool {
        self.plans.iter().all(JudgedPlan::passed)
    }
}

/// One saved plan and what the checks made of it.
#[derive(Debug, Clone, Serialize)]
pub struct JudgedPlan {
    /// The file (and line, for a log) the plan came from.
    pub source: String,
    /// Whether the plan ran (EXPLAIN ANALYZE): counts are known only then.
    pub analyzed: bool,
    pub access_path: Vec<String>,
    /// Rows the plan's scans read; `None` without ANALYZE.
    pub rows_examined: Option<f64>,
    /// Rows the plan returned (the planner's estimate without ANALYZE).
    pub rows_returned: f64,
    pub verdicts: Vec<Verdict>,
}

impl JudgedPlan {
    /// Whether every check that judged the plan passed (not judged and not
    /// applicable ones neither pass nor fail).
    pub fn passed(&self) -> bool {
        self.verdicts
            .iter()
            .all(|verdict| !verdict.judged || verdict.passed)
    }
}
