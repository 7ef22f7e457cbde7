//! `same-results`: the candidate returns the same rows as the baseline on the seeded
//! data. A fast query that returns the wrong page is not a fix. Rows are compared in
//! order; with `order_by` (the result columns the ORDER BY sorts on), rows that tie on
//! those columns may come in any order, and when both plans end in a LIMIT, the tie
//! group the page boundary cuts may hold different rows: both are called out, neither
//! fails. A result that no LIMIT cut is compared whole. With `ordered = false` the
//! results are compared as multisets. The first differing row is reported.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::{Check, distinct, query};
use crate::outcome::Verdict;
use crate::outcome::{Evidence, QueryEvidence, ResultDigest};

/// Configuration of the `same-results` check.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SameResults {
    pub baseline: String,
    pub candidate: String,
    /// Result columns the queries' ORDER BY sorts on.
    #[serde(default)]
    pub order_by: Vec<String>,
    /// Compare in order (default) or as multisets.
    #[serde(default = "yes")]
    pub ordered: bool,
}

fn yes() -> bool {
    true
}

impl Check for SameResults {
    fn name(&self) -> &'static str {
        "same-results"
    }

    fn queries(&self) -> Vec<&str> {
        vec![&self.baseline, &self.candidate]
    }

    fn baseline(&self) -> Option<&str> {
        Some(&self.baseline)
    }

    fn validate(&self) -> Result<(), String> {
        distinct(&self.baseline, &self.candidate)?;
        if !self.ordered && !self.order_by.is_empty() {
            return Err("order_by compares in order; drop it or drop ordered = false".into());
        }
        Ok(())
    }

    fn result_columns(&self) -> Vec<(&str, &str)> {
        [&self.baseline, &self.candidate]
            .into_iter()
            .flat_map(|query| {
                self.order_by
                    .iter()
                    .map(move |column| (query.as_str(), column.as_str()))
            })
            .collect()
    }

    fn judge(&self, evidence: &Evidence) -> Verdict {
        let subject = format!("{} vs {}", self.candidate, self.baseline);
        let (baseline, candidate) = (
            query(evidence, &self.baseline),
            query(evidence, &self.candidate),
        );
        let paged = [baseline, candidate]
            .iter()
            .all(|query| query.plan.root.node_type == "Limit");
        let (passed, summary) = match (&baseline.results, &candidate.results) {
            (Some(baseline), Some(candidate)) => self.compare(baseline, candidate, paged),
            _ => (false, unread(&[baseline, candidate])),
        };
        Verdict::new(self.name(), subject, passed, summary)
    }
}

/// Why results cannot be compared: the queries whose rows were never read, because
/// they ran past the time budget.
fn unread(queries: &[&QueryEvidence]) -> String {
    let unread: Vec<String> = queries
        .iter()
        .filter(|query| query.results.is_none())
        .map(|query| match &query.timed_out {
            Some(timed_out) => format!("{} {}", query.name, timed_out.verdict()),
            None => format!("{} returned no rows to compare", query.name),
        })
        .collect();
    format!(
        "cannot compare results: {} before returning its rows; raise the time budget to compare them",
        unread.join(", ")
    )
}

impl SameResults {
    /// Whether the results agree, and the sentence saying how. `paged`: both queries
    /// end in a LIMIT, so the last tie group may have been cut.
    pub fn compare(
        &self,
        baseline: &ResultDigest,
        candidate: &ResultDigest,
        paged: bool,
    ) -> (bool, String) {
        let (b, c) = (&self.baseline, &self.candidate);
        if baseline.columns != candidate.columns {
            return (
                false,
                format!(
                    "different columns: {b} returns ({}), {c} returns ({})",
                    baseline.columns.join(", "),
                    candidate.columns.join(", ")
                ),
            );
        }
        let rows = baseline.total_rows;
        if baseline.ordered_hash == candidate.ordered_hash && rows == candidate.total_rows {
            return (true, format!("same {rows} rows in the same order"));
        }
        if !baseline.complete || !candidate.complete {
            let same_set =
                baseline.multiset_hash == candidate.multiset_hash && rows == candidate.total_rows;
            return (
                !self.ordered && same_set,
                format!(
                    "results differ ({} vs {} rows, {}); only the first {} rows are kept, so no row is shown",
                    rows,
                    candidate.total_rows,
                    if same_set {
                        "same rows in another order"
                    } else {
                        "different rows"
                    },
                    baseline.rows.len()
                ),
            );
        }
        if !self.ordered {
            return match first_multiset_difference(&baseline.rows, &candidate.rows) {
                None => (true, format!("same {rows} rows (compared as multisets)")),
                Some(message) => (false, message.replace("{b}", b).replace("{c}", c)),
            };
        }
        let keys = match self.key_columns(baseline) {
            Ok(keys) => keys,
            Err(message) => return (false, message),
        };
        if keys.is_empty() {
            let (index, a, z) = first_difference(&baseline.rows, &candidate.rows);
            let hint = if baseline.multiset_hash == candidate.multiset_hash {
                "; the rows are the same but in another order: if the ORDER BY is not total, name its columns in order_by"
            } else {
                ""
            };
            return (
                false,
                format!(
                    "row {} differs: {b} gives {a}, {c} gives {z}{hint}",
                    index + 1
                ),
            );
        }
        compare_with_ties(b, c, &baseline.rows, &candidate.rows, &keys, paged)
    }

    fn key_columns(&self, digest: &ResultDigest) -> Result<Vec<usize>, String> {
        self.order_by
            .iter()
            .map(|column| {
                digest
                    .columns
                    .iter()
                    .position(|name| name == column)
                    .ok_or_else(|| {
                        format!(
                            "order_by names {column:?}, which the results do not have; columns: {}",
                            digest.columns.join(", ")
                        )
                    })
            })
            .collect()
    }
}

/// A result row: one text per column, `None` for NULL.
type Row = Vec<Option<String>>;

fn show(row: Option<&Row>) -> String {
    match row {
        Some(values) => {
            let cells: Vec<&str> = values
                .iter()
                .map(|cell| cell.as_deref().unwrap_or("NULL"))
                .collect();
            format!("({})", cells.join(", "))
        }
        None => "no row".into(),
    }
}

fn first_difference(a: &[Row], b: &[Row]) -> (usize, String, String) {
    let index = (0..a.len().max(b.len()))
        .find(|i| a.get(*i) != b.get(*i))
        .unwrap_or(0);
    (index, show(a.get(index)), show(b.get(index)))
}

fn counts(rows: &[Row]) -> HashMap<&Row, i64> {
    let mut counts = HashMap::new();
    for row in rows {
        *counts.entry(row).or_insert(0) += 1;
    }
    counts
}

/// The first row one side returns more often than the other, in the order returned.
fn first_multiset_difference(a: &[Row], b: &[Row]) -> Option<String> {
    let (left, right) = (counts(a), counts(b));
    if let Some(row) = a
        .iter()
        .find(|row| left[row] > right.get(row).copied().unwrap_or(0))
    {
        return Some(format!(
            "{{b}} returns {} which {{c}} does not ({} vs {} rows)",
            show(Some(row)),
            a.len(),
            b.len()
        ));
    }
    b.iter()
        .find(|row| right[row] > left.get(row).copied().unwrap_or(0))
        .map(|row| {
            format!(
                "{{c}} returns {} which {{b}} does not ({} vs {} rows)",
                show(Some(row)),
                a.len(),
                b.len()
            )
        })
}

/// In-order comparison where rows equal on `keys` form tie groups compared as sets.
/// When `paged`, the last group may have been cut by the LIMIT and may differ.
fn compare_with_ties(
    b: &str,
    c: &str,
    left: &[Row],
    right: &[Row],
    keys: &[usize],
    paged: bool,
) -> (bool, String) {
    let key = |row: &Row| {
        keys.iter()
            .map(|k| row[*k].clone().unwrap_or_else(|| "NULL".into()))
            .collect::<Vec<_>>()
    };
    if left.len() != right.len() {
        let (index, a, z) = first_difference(left, right);
        return (
            false,
            format!(
                "{b} returns {} rows, {c} {}; row {} differs: {a} vs {z}",
                left.len(),
                right.len(),
                index + 1
            ),
        );
    }
    let mut start = 0;
    let mut reordered_ties = 0;
    while start < left.len() {
        let group_key = key(&left[start]);
        if key(&right[start]) != group_key {
            return (
                false,
                format!(
                    "row {} differs in its ORDER BY key: {b} gives {}, {c} gives {}",
                    start + 1,
                    show(left.get(start)),
                    show(right.get(start))
                ),
            );
        }
        let mut end = start + 1;
        while end < left.len() && key(&left[end]) == group_key && key(&right[end]) == group_key {
            end += 1;
        }
        let (a, z) = (&left[start..end], &right[start..end]);
        if a != z {
            match first_multiset_difference(a, z) {
                None => reordered_ties += end - start,
                Some(_) if end == left.len() && paged => {
                    return (
                        true,
                        format!(
                            "same rows, except the last {} which tie on ({}) where the LIMIT cuts the page: the ORDER BY is not total, so either page is correct",
                            end - start,
                            group_key.join(", ")
                        ),
                    );
                }
                Some(message) => {
                    return (
                        false,
                        format!(
                            "rows {}..{} tie on ({}) but hold different rows: {}",
                            start + 1,
                            end,
                            group_key.join(", "),
                            message.replace("{b}", b).replace("{c}", c)
                        ),
                    );
                }
            }
        }
        start = end;
    }
    (
        true,
        format!(
            "same {} rows; {reordered_ties} rows that tie on the ORDER BY key came in another order",
            left.len()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(rows: &[(&str, &str)]) -> ResultDigest {
        ResultDigest::from_rows(
            vec!["created_at".into(), "id".into()],
            rows.iter()
                .map(|(at, id)| vec![Some((*at).to_owned()), Some((*id).to_owned())])
                .collect(),
        )
    }

    fn check(order_by: &[&str], ordered: bool) -> SameResults {
        SameResults {
            baseline: "old".into(),
            candidate: "new".into(),
            order_by: order_by.iter().map(|s| (*s).to_owned()).collect(),
            ordered,
        }
    }

    #[test]
    fn identical_results_pass_and_a_changed_row_is_named() {
        let old = digest(&[("3", "a"), ("2", "b"), ("1", "c")]);
        assert!(check(&[], true).compare(&old, &old.clone(), true).0);
        let wrong = digest(&[("3", "a"), ("2", "x"), ("1", "c")]);
        let (passed, summary) = check(&[], true).compare(&old, &wrong, true);
        assert!(!passed);
        assert!(
            summary.contains("row 2 differs: old gives (2, b), new gives (2, x)"),
            "{summary}"
        );
    }

    #[test]
    fn another_order_fails_unless_the_rows_tie_on_the_order_by_key() {
        let old = digest(&[("3", "a"), ("2", "b"), ("2", "c"), ("1", "d")]);
        let swapped = digest(&[("3", "a"), ("2", "c"), ("2", "b"), ("1", "d")]);
        let (passed, summary) = check(&[], true).compare(&old, &swapped, true);
        assert!(!passed && summary.contains("another order"), "{summary}");
        let (passed, summary) = check(&["created_at"], true).compare(&old, &swapped, true);
        assert!(passed, "{summary}");
        assert!(summary.contains("2 rows that tie"), "{summary}");
        // A total key (created_at, id) makes the swap a real difference.
        assert!(
            !check(&["created_at", "id"], true)
                .compare(&old, &swapped, true)
                .0
        );
        assert!(check(&[], false).compare(&old, &swapped, true).0);
    }

    #[test]
    fn a_tie_group_cut_by_the_limit_is_called_out_not_failed() {
        let old = digest(&[("3", "a"), ("1", "b")]);
        let new = digest(&[("3", "a"), ("1", "z")]);
        let (passed, summary) = check(&["created_at"], true).compare(&old, &new, true);
        assert!(
            passed && summary.contains("the LIMIT cuts the page"),
            "{summary}"
        );
        // Without a LIMIT nothing was cut: the last group must hold the same rows.
        let (passed, summary) = check(&["created_at"], true).compare(&old, &new, false);
        assert!(
            !passed && summary.contains("tie on (1) but hold different rows"),
            "{summary}"
        );
        // One tie group holding the whole result is compared whole when not paged.
        let all_tie_old = digest(&[("1", "a"), ("1", "b")]);
        let all_tie_new = digest(&[("1", "c"), ("1", "d")]);
        assert!(
            !check(&["created_at"], true)
                .compare(&all_tie_old, &all_tie_new, false)
                .0
        );
        let skipped = digest(&[("3", "a"), ("0", "q")]);
        let (passed, summary) = check(&["created_at"], true).compare(&old, &skipped, true);
        assert!(
            !passed && summary.contains("row 2 differs in its ORDER BY key"),
            "{summary}"
        );
    }

    #[test]
    fn different_columns_or_counts_fail() {
        let old = digest(&[("1", "a")]);
        let mut other = old.clone();
        other.columns[1] = "uuid".into();
        assert!(!check(&[], true).compare(&old, &other, true).0);
        let more = digest(&[("1", "a"), ("0", "b")]);
        let (passed, summary) = check(&[], false).compare(&old, &more, true);
        assert!(
            !passed && summary.contains("new returns (0, b) which old does not"),
            "{summary}"
        );
    }
}
