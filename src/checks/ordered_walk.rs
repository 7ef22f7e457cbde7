//! `ordered-walk`: a scan that walks a whole index in the order of a column, which is
//! how `ORDER BY col LIMIT n` goes wrong when the rows it wants are rare or far back.
//!
//! The walk is recognised from catalog facts, never from index names or from the word
//! "Backward": a newest-first walk of `created_at` is a forward scan of an index
//! declared `(created_at DESC)` and a backward scan of one declared `(created_at)`.
//! Both are the same walk, and both are found. An index whose leading key is another
//! column (say `(organization_id, created_at DESC)` with an equality condition on
//! `organization_id`) orders rows by the column only within one group: that is not
//! a walk of the table, and `row-amplification` catches it if it reads too much.

use serde::{Deserialize, Serialize};

use super::{Expect, Finding, format_count};
use crate::evidence::QueryEvidence;
use crate::plan::{Catalog, ScanDirection};

/// Configuration of the `ordered-walk` check.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OrderedWalk {
    /// The query whose plan is judged.
    pub query: String,
    /// The walked column as `table.column`.
    pub column: String,
    pub expect: Expect,
}

impl OrderedWalk {
    pub(super) fn validate(&self) -> Result<(), String> {
        match self.column.split_once('.') {
            Some((table, column)) if !table.is_empty() && !column.is_empty() && !column.contains('.') => Ok(()),
            _ => Err(format!(
                "column = {:?} must be written as \"table.column\", e.g. \"workflow_runs.created_at\"",
                self.column
            )),
        }
    }

    /// What this check looks for, for verdict sentences.
    pub(super) fn describe(&self) -> String {
        format!("ordered walk of {}", self.column)
    }

    /// Every index scan in the plan that walks the configured column's order over the
    /// whole table.
    pub fn detect(&self, query: &QueryEvidence, catalog: &Catalog) -> Result<Vec<Finding>, String> {
        let (table, column) = self.column.split_once('.').unwrap_or(("", &self.column));
        let returned = query.plan.rows_returned();
        let mut findings = Vec::new();
        for (path, node) in query.plan.nodes() {
            if !node.is_ordered_index_scan() || node.relation.as_deref() != Some(table) {
                continue;
            }
            let Some(index_name) = node.index_name.as_deref() else {
                continue;
            };
            let index = catalog.index(index_name).ok_or_else(|| {
                format!("the plan scans index {index_name}, which the catalog facts do not describe")
            })?;
            let Some(leading) = index.leading_key() else {
                continue;
            };
            if leading.column.as_deref() != Some(column) {
                continue;
            }
            let direction = node.scan_direction.unwrap_or(ScanDirection::Forward);
            let walks_descending = match direction {
                ScanDirection::Forward => leading.descending,
                ScanDirection::Backward => !leading.descending,
                // A scan that does not move reads at most one key: no walk.
                ScanDirection::NoMovement => continue,
            };
            let order = if walks_descending { "descending" } else { "ascending" };
            let message = format!(
                "{direction:?} scan of {index_name} {keys} walks {table} in {column} {order} order: \
                 it read {examined} rows (over {loops} loop(s)) for a statement that returned {returned}",
                keys = index.keys_display(),
                examined = format_count(node.rows_examined()),
                loops = format_count(node.actual_loops),
                returned = format_count(returned),
            );
            findings.push(Finding::at(&query.name, path, node, message));
        }
        Ok(findings)
    }
}
