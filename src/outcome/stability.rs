//! Plan stability as plain data: after a run's own capture, `--stability N` runs
//! `ANALYZE` N times (each a fresh random sample) and takes every query's estimated
//! plan after each (in a scenario with a migration, the `before` queries' before it
//! and the `after` queries' after it); this is what shapes the plans took and how
//! often. The stability
//! stage (`pipeline::stability`) fills it; the `stable` check and every exporter read
//! it. The sentences every report says about it live here.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::sweep::variant_label;

/// The check that judges these rounds (`judge::stable`), by name.
pub const STABLE_CHECK: &str = "stable";

/// The plans the queries took over repeated `ANALYZE` rounds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Stability {
    /// How many `ANALYZE` rounds were run (`--stability N`).
    pub rounds: u32,
    /// The `default_statistics_target` the rounds analysed with
    /// (`--stability-target`), or `None` for the database's own.
    pub statistics_target: Option<u32>,
    /// The `default_statistics_target` in force for the run itself, as the server
    /// reported it.
    pub database_statistics_target: String,
    /// One entry per variant (one without a variant matrix), in the run's order.
    pub cells: Vec<StabilityCell>,
}

/// The plans of one variant's queries over the rounds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StabilityCell {
    /// `(axis, value)` per variant axis; empty without variants.
    pub variant: Vec<(String, String)>,
    pub queries: Vec<QueryShapes>,
}

/// The distinct plans one query took.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QueryShapes {
    pub query: String,
    /// Each distinct plan, in the order first seen; the rounds add up to the run's.
    pub shapes: Vec<ShapeCount>,
}

/// One distinct plan and how often it appeared. Two rounds are the same plan when
/// their shapes and the plan checks' objections to them are the same.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShapeCount {
    /// The scans in plan order, as the sweep writes a plan's shape.
    pub shape: String,
    /// In how many rounds the query took this plan.
    pub rounds: u32,
    /// The first round (from 1) that took it.
    pub first_round: u32,
    /// What the scenario's plan checks that can judge an estimated plan
    /// (`ordered-walk`, `no-node`) said against this plan, as `check: summary`:
    /// a problem expected absent that it shows, or a regression expected present
    /// that it lost. Empty when every such check passed.
    pub flags: Vec<String>,
}

impl ShapeCount {
    /// Whether a plan check objected to this plan.
    pub fn flagged(&self) -> bool {
        !self.flags.is_empty()
    }
}

impl QueryShapes {
    /// `Index Scan using i on t (18 of 20); Seq Scan on t (2 of 20, flagged: …)`.
    pub fn listing(&self, rounds: u32) -> String {
        self.shapes
            .iter()
            .map(|shape| match shape.flagged() {
                false => format!("{} ({} of {rounds})", shape.shape, shape.rounds),
                true => format!(
                    "{} ({} of {rounds}, flagged: {})",
                    shape.shape,
                    shape.rounds,
                    shape.flags.join("; ")
                ),
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

impl Stability {
    /// `query`'s plans in `variant`, if the rounds explained it.
    pub fn query(&self, variant: &[(String, String)], query: &str) -> Option<&QueryShapes> {
        self.cells
            .iter()
            .find(|cell| cell.variant == variant)?
            .queries
            .iter()
            .find(|shapes| shapes.query == query)
    }

    /// `20 ANALYZE rounds at default_statistics_target 10 (the run's: 100)`.
    pub fn heading(&self) -> String {
        let rounds = match self.rounds {
            1 => "1 ANALYZE round".to_owned(),
            count => format!("{count} ANALYZE rounds"),
        };
        match self.statistics_target {
            Some(target) => format!(
                "{rounds} at default_statistics_target {target} (the run's: {})",
                self.database_statistics_target
            ),
            None => format!(
                "{rounds} at default_statistics_target {}",
                self.database_statistics_target
            ),
        }
    }

    /// What a run says about stability: the heading, then per variant and query the
    /// plans it took.
    pub fn sentences(&self) -> Vec<String> {
        let mut lines = vec![format!("plan stability over {}:", self.heading())];
        for cell in &self.cells {
            for query in &cell.queries {
                let subject = match cell.variant.is_empty() {
                    true => query.query.clone(),
                    false => format!("{} ({})", query.query, variant_label(&cell.variant)),
                };
                let plans = match query.shapes.len() {
                    1 => "1 plan".to_owned(),
                    count => format!("{count} plans"),
                };
                lines.push(format!(
                    "  {subject}: {plans}: {}",
                    query.listing(self.rounds)
                ));
            }
        }
        lines
    }
}
