//! Regression rules: a workload query's run, with one parameter set, compared with its
//! committed baseline ([`crate::outcome::baseline`]). Each rule is a small unit in its
//! own file implementing [`Rule`], and [`RULES`] is the one list that names them. Like
//! the checks, the rules never open a connection: they read the baseline's record and
//! the run's plan and record, so they can be tested on stored plans.
//!
//! Every rule gates only on what does not move between runs of one plan on the same
//! rows (its shape, rows, buffers, estimates, spills and results) and leaves timing
//! out. A plan the baseline saw over its ANALYZE rounds is the same plan to every rule,
//! compared with what that plan read.
//!
//! Adding a rule: write `judge/baseline/<name>.rs` with a unit struct implementing
//! [`Rule`], then add it to [`RULES`].

pub mod buffers_up;
pub mod estimate_worse;
pub mod growth_up;
pub mod new_seq_scan;
pub mod new_spill;
pub mod plan_changed;
pub mod result_changed;
pub mod rows_examined_up;

use serde::{Deserialize, Serialize};

use crate::format::format_count;
use crate::outcome::baseline::{Record, SetBaseline};
use crate::outcome::{Finding, Verdict};
use crate::plan::{NodePath, Plan};

/// The name every workload verdict carries.
pub const CHECK: &str = "baseline";

/// How far a count may rise before it is a regression: beyond `ratio` times the
/// baseline's and by more than `floor`, so that 3 rows becoming 6 is not one.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Band {
    pub ratio: f64,
    pub floor: f64,
}

impl Band {
    /// Whether `now` is beyond the band around `then`.
    pub fn exceeded(&self, then: f64, now: f64) -> bool {
        now > then * self.ratio && now - then > self.floor
    }

    /// `52 → 990,081 (19,040x)`.
    pub fn describe(then: f64, now: f64) -> String {
        let times = match (then > 0.0, now / then) {
            (false, _) => "from none".to_owned(),
            (true, ratio) if ratio >= 10.0 => format!("{}x", format_count(ratio.round())),
            (true, ratio) => format!("{ratio:.1}x"),
        };
        format!("{} → {} ({times})", format_count(then), format_count(now))
    }
}

/// What the rules allow, per workload and per query.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    pub rows_examined: Band,
    pub buffers: Band,
    /// The worst estimate error (q-error) may grow by `ratio`, and is a regression only
    /// past `floor` (an estimate 3x off is not worth a failed build).
    pub estimate: Band,
    /// A new sequential scan counts when it reads at least this many rows.
    pub seq_scan_rows: u64,
    /// Rows examined growing as scale^exponent: an exponent below `from` in the
    /// baseline that reaches `to` is a regression.
    pub growth_from: f64,
    pub growth_to: f64,
}

impl Default for Limits {
    /// Near RegreSQL's: rows and buffers +10 %, estimates 2x worse, with floors so that
    /// small numbers moving a little are not regressions.
    fn default() -> Limits {
        Limits {
            rows_examined: Band {
                ratio: 1.1,
                floor: 100.0,
            },
            buffers: Band {
                ratio: 1.1,
                floor: 20.0,
            },
            estimate: Band {
                ratio: 2.0,
                floor: 10.0,
            },
            seq_scan_rows: 10_000,
            growth_from: 0.3,
            growth_to: 0.7,
        }
    }
}

/// One scale of one parameter set: the baseline's record, and the run's record with
/// the plan it came from.
pub struct AtScale<'a> {
    pub scale: u64,
    pub then: &'a Record,
    pub now: &'a Record,
    pub plan: &'a Plan,
    pub limits: &'a Limits,
}

impl AtScale<'_> {
    /// What the baseline says the plan the run took read: its own numbers when the run
    /// took the baseline's plan, another plan's when it took one the rounds saw.
    pub fn then_counts(&self) -> (u64, u64) {
        match self
            .then
            .other_plans
            .iter()
            .find(|other| other.plan == self.now.plan)
        {
            Some(other) => (other.rows_examined, other.buffers),
            None => (self.then.rows_examined, self.then.buffers),
        }
    }
}

/// What a rule found.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub rule: &'static str,
    /// One sentence: `rows examined 52 → 990,081 (19,040x) at 1,000,000`.
    pub message: String,
    /// The plan nodes it points at (in the run's plan).
    pub nodes: Vec<NodePath>,
}

/// A regression rule.
pub trait Rule: Sync {
    /// The kebab-case name reports give it.
    fn name(&self) -> &'static str;
    /// What the rule finds at one scale, if anything.
    fn at_scale(&self, _pair: &AtScale) -> Option<Change> {
        None
    }
    /// What the rule finds over the scales, if anything: the run's growth exponent of
    /// rows examined against the baseline's.
    fn over_scales(
        &self,
        _then: &SetBaseline,
        _now: Option<f64>,
        _limits: &Limits,
    ) -> Option<Change> {
        None
    }
}

/// Every rule, the correctness one first: the order in which a verdict lists changes.
pub const RULES: &[&dyn Rule] = &[
    &result_changed::ResultChanged,
    &plan_changed::PlanChanged,
    &rows_examined_up::RowsExaminedUp,
    &buffers_up::BuffersUp,
    &estimate_worse::EstimateWorse,
    &new_seq_scan::NewSeqScan,
    &new_spill::NewSpill,
    &growth_up::GrowthUp,
];

/// One scale of a run of one query with one parameter set: its record and plan.
pub struct RunAtScale<'a> {
    pub scale: u64,
    pub record: &'a Record,
    pub plan: &'a Plan,
}

/// Every change the rules find between a parameter set's baseline and its run.
pub fn changes(
    then: &SetBaseline,
    runs: &[RunAtScale],
    growth: Option<f64>,
    limits: &Limits,
) -> Vec<Change> {
    let mut changes = Vec::new();
    for rule in RULES {
        for run in runs {
            let Some(record) = then.scales.get(&run.scale.to_string()) else {
                continue;
            };
            let pair = AtScale {
                scale: run.scale,
                then: record,
                now: run.record,
                plan: run.plan,
                limits,
            };
            changes.extend(rule.at_scale(&pair));
        }
        changes.extend(rule.over_scales(then, growth, limits));
    }
    changes
}

/// The verdict on one query with one parameter set (`subject`, such as
/// `runs_by_org/sparse`): passed when no rule found a change.
pub fn verdict(subject: &str, changes: &[Change], plan: &Plan) -> Verdict {
    let summary = match changes.is_empty() {
        true => "unchanged".to_owned(),
        false => changes
            .iter()
            .map(|change| change.message.clone())
            .collect::<Vec<_>>()
            .join("; "),
    };
    let mut verdict = Verdict::new(CHECK, subject.to_owned(), changes.is_empty(), summary);
    verdict.queries = vec![subject.to_owned()];
    verdict.findings = changes
        .iter()
        .filter_map(|change| {
            let path = change
                .nodes
                .first()
                .cloned()
                .unwrap_or(NodePath(Vec::new()));
            let node = plan.node(&path)?;
            Some(Finding {
                query: subject.to_owned(),
                node_label: node.label(),
                node: path,
                message: format!("{}: {}", change.rule, change.message),
            })
        })
        .collect();
    verdict
}

/// ` at 1,000,000`: which scale a change was seen at.
pub(crate) fn at(scale: u64) -> String {
    format!(" at {}", format_count(scale as f64))
}

/// The scan node of `plan` that read the most rows.
pub(crate) fn busiest_scan(plan: &Plan) -> Vec<NodePath> {
    plan.nodes()
        .filter(|(_, node)| node.is_relation_scan())
        .max_by(|(_, a), (_, b)| a.rows_examined().total_cmp(&b.rows_examined()))
        .map(|(path, _)| vec![path])
        .unwrap_or_default()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A stored plan of `tests/data/plans`.
    pub fn stored(name: &str) -> Plan {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/plans")
            .join(name);
        Plan::from_explain_text(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    /// The record a run with `plan` (and `rows` returned, digest `result`) keeps.
    pub fn record(plan: &Plan, result: &str) -> Record {
        let (hit, read) = plan.buffers();
        Record {
            buffers: hit + read,
            estimate_error: crate::outcome::baseline::two_digits(
                plan.worst_estimate().map_or(1.0, |(error, _)| error),
            ),
            other_plans: Vec::new(),
            plan: plan.outline(),
            result: result.to_owned(),
            rows_examined: plan.rows_examined().round() as u64,
            rows_returned: plan.rows_returned() as u64,
            spills: plan.spills().into_iter().map(|(_, what)| what).collect(),
        }
    }

    /// The changes `rule` finds between a baseline made from `then` and a run of `now`.
    pub fn found(rule: &dyn Rule, then: &Record, now: &Record, plan: &Plan) -> Option<Change> {
        rule.at_scale(&AtScale {
            scale: 1_000_000,
            then,
            now,
            plan,
            limits: &Limits::default(),
        })
    }

    #[test]
    fn every_rule_file_is_registered_under_its_own_name() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/judge/baseline");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name != "mod.rs" && name.ends_with(".rs"))
            .map(|name| name.trim_end_matches(".rs").replace('_', "-"))
            .collect();
        files.sort();
        let mut names: Vec<String> = RULES.iter().map(|rule| rule.name().to_owned()).collect();
        names.sort();
        assert_eq!(files, names);
    }

    #[test]
    fn the_same_plan_on_the_same_rows_changes_nothing() {
        for name in [
            "pg15/sparse-org.350000.old.explain.json",
            "pg15/sparse-org.350000.new.explain.json",
        ] {
            let plan = stored(name);
            let record = record(&plan, "00");
            let then = SetBaseline {
                growth: Some(0.9),
                params: vec![],
                scales: [("1000000".to_owned(), record.clone())].into(),
            };
            let runs = [RunAtScale {
                scale: 1_000_000,
                record: &record,
                plan: &plan,
            }];
            assert_eq!(changes(&then, &runs, Some(0.9), &Limits::default()), []);
        }
    }

    #[test]
    fn three_rows_becoming_six_is_no_regression_and_a_tenfold_walk_is() {
        let band = Limits::default().rows_examined;
        assert!(!band.exceeded(3.0, 6.0));
        assert!(!band.exceeded(1000.0, 1090.0));
        assert!(band.exceeded(52.0, 990_081.0));
        assert_eq!(Band::describe(52.0, 990_081.0), "52 → 990,081 (19,040x)");
    }
}
