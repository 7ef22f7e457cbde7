//! A workload checked against its committed baselines, as plain data: per query and
//! parameter set, what each regression rule found, the run's and the baseline's
//! record at each scale with the plans' node-level diff, the growth of rows examined,
//! and timing (reported, never gated); and the queries without a baseline and the
//! baselines without a query. Every exporter reads it; the sentences live here so
//! every report says them the same way.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::baseline::{MadeWith, Record};
use crate::plan::diff::DiffLine;

/// A workload run and what its baselines say of it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkloadCheck {
    pub workload: String,
    /// The workload file.
    pub file: String,
    /// What this run was made with.
    pub made_with: MadeWith,
    /// One entry per query and parameter set, regressions first, then new ones, then
    /// unchanged ones, each group by name.
    pub subjects: Vec<SubjectCheck>,
    /// Baseline files whose query file is gone (or whose parameter set is), named
    /// `<query>.<set>`.
    pub stale: Vec<String>,
    /// Where the baseline files are, relative to the workload file.
    pub baselines: String,
}

/// What one query with one parameter set did against its baseline.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SubjectCheck {
    /// `<query>.<set>`.
    pub subject: String,
    pub query: String,
    pub set: String,
    /// The query file, relative to the working directory.
    pub file: String,
    pub status: Status,
    /// What the rules found: `(rule, sentence)`, the correctness rule first.
    pub changes: Vec<RuleChange>,
    /// Per scale, increasing.
    pub scales: Vec<ScaleCheck>,
    /// The growth exponent of rows examined, the baseline's and the run's (two
    /// decimals), when both were made at two scales or more.
    pub growth: Option<GrowthPair>,
    /// Said when the plan moved with ANALYZE's sample: the run first took a plan the
    /// baseline does not know, and a later round gave one it does.
    pub note: Option<String>,
}

/// A subject's status.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Unchanged,
    Regressed,
    /// No baseline yet: not a failure, and `plancheck workload baseline` makes one.
    New,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleChange {
    pub rule: String,
    pub message: String,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GrowthPair {
    pub baseline: f64,
    pub now: f64,
}

/// One scale of a subject.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScaleCheck {
    pub scale: u64,
    /// What the run's plan read.
    pub now: Record,
    /// What the baseline holds for this scale; `None` for a new query.
    pub baseline: Option<Record>,
    /// The node-level diff of the baseline's plan and the run's; empty when they are
    /// the same plan (or a plan the baseline's rounds saw).
    pub diff: Vec<DiffLine>,
    /// The median of the run's timing samples, in milliseconds: reported, never gated.
    pub median_ms: Option<f64>,
}

impl WorkloadCheck {
    /// Whether no subject regressed.
    pub fn passed(&self) -> bool {
        self.subjects
            .iter()
            .all(|subject| subject.status != Status::Regressed)
    }

    /// How many subjects have each status: `(regressed, new, unchanged)`.
    pub fn counts(&self) -> (usize, usize, usize) {
        let count = |status| {
            self.subjects
                .iter()
                .filter(|subject| subject.status == status)
                .count()
        };
        (
            count(Status::Regressed),
            count(Status::New),
            count(Status::Unchanged),
        )
    }

    /// One line for the top of every report: `2 of 31 regressed · 1 new · 28
    /// unchanged · 1 stale baseline`.
    pub fn headline(&self) -> String {
        let (regressed, new, unchanged) = self.counts();
        let mut parts = vec![format!("{regressed} of {} regressed", self.subjects.len())];
        if new > 0 {
            parts.push(format!("{new} new"));
        }
        parts.push(format!("{unchanged} unchanged"));
        match self.stale.len() {
            0 => {}
            1 => parts.push("1 stale baseline".into()),
            count => parts.push(format!("{count} stale baselines")),
        }
        parts.join(" · ")
    }
}
