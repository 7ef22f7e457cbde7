//! The on-disk shape of scenario files, exactly as users write them. Parsing is
//! strict (`deny_unknown_fields`): a misspelt key is an error, never a silently ignored
//! setting. These types carry no meaning beyond syntax; `input::validate` turns them
//! into a checked [`super::Scenario`].

use std::collections::BTreeMap;

use indexmap::IndexMap;
use serde::Deserialize;
use toml::Spanned;

/// A scenario file: `scenarios/<name>.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    pub description: String,
    /// Path of the dataset file, relative to the scenario file.
    pub dataset: String,
    /// Whether `cargo bench` judges this scenario (the CI performance gate).
    #[serde(default)]
    pub gate: bool,
    /// The smallest `--scale` at which the scenario proves anything.
    pub min_scale: Option<u64>,
    /// How long one run of a measured query may take: `"60s"`, `"500ms"`, `"2min"`.
    pub time_budget: Option<Spanned<toml::Value>>,
    /// The generated row `target.*` parameters read; optional when no parameter does.
    pub target: Option<Spanned<TargetSection>>,
    #[serde(default)]
    pub settings: BTreeMap<String, SettingValue>,
    pub migration: Option<MigrationSection>,
    #[serde(default)]
    pub variants: IndexMap<String, Spanned<Vec<toml::Value>>>,
    #[serde(default, rename = "pick")]
    pub picks: Vec<Spanned<PickEntry>>,
    #[serde(default, rename = "query")]
    pub queries: Vec<Spanned<QueryEntry>>,
    #[serde(default, rename = "check")]
    pub checks: Vec<Spanned<toml::Table>>,
    /// The scales a sweep runs at (`--sweep`, `--find-flip`) and the queries it fits.
    pub sweep: Option<Spanned<SweepSection>>,
    /// A migration rehearsed under traffic (`plancheck rehearse`).
    pub rehearsal: Option<Spanned<RehearsalSection>>,
}

/// `[rehearsal]`: migrations run on the pre-migration state while traffic runs.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RehearsalSection {
    /// The pre-migration schema's fixtures, relative to the scenario file; the
    /// dataset's own schema when left out.
    #[serde(default)]
    pub schema: Vec<String>,
    /// Columns the dataset generates that the pre-migration schema does not have yet
    /// (`table.column`): generated as always, so every other value is the same, but
    /// not written.
    #[serde(default)]
    pub leave_out: Vec<String>,
    /// Rows of the scale table to rehearse at; the dataset's default scale when left out.
    #[serde(default)]
    pub scales: Vec<u64>,
    /// Traffic runs alone this long before the first step: `"3s"`.
    pub warm_up: Option<toml::Value>,
    /// And this long after the last one.
    pub tail: Option<toml::Value>,
    /// How long one step may take.
    pub step_budget: Option<toml::Value>,
    /// How long one migration's run (warm-up, steps, tail) may take.
    pub time_budget: Option<toml::Value>,
    pub limits: Option<LimitsSection>,
    #[serde(default, rename = "migration")]
    pub migrations: Vec<Spanned<RehearsedMigrationEntry>>,
    #[serde(default)]
    pub traffic: Vec<Spanned<TrafficEntry>>,
    #[serde(default, rename = "invariant")]
    pub invariants: Vec<Spanned<InvariantEntry>>,
}

/// `[rehearsal.limits]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsSection {
    /// The longest stall a traffic statement may see during a step: `"250ms"`.
    pub max_stall: Option<toml::Value>,
    /// Failed traffic statements allowed over a run.
    pub failed_statements: Option<u64>,
}

/// `[[rehearsal.migration]]`: one migration to rehearse.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RehearsedMigrationEntry {
    pub name: String,
    pub fixtures: Vec<String>,
    /// `[[rehearsal.migration.invariant]]`: invariants checked after this migration
    /// only, beside the scenario's.
    #[serde(default, rename = "invariant")]
    pub invariants: Vec<Spanned<InvariantEntry>>,
}

/// `[[rehearsal.traffic]]`: a statement run at a rate during the rehearsal.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrafficEntry {
    pub name: String,
    /// The statement, inline; or `file`.
    pub sql: Option<String>,
    /// A SQL file holding the statement, relative to the scenario file.
    pub file: Option<String>,
    #[serde(default)]
    pub params: Vec<toml::Value>,
    /// Executions per second, over all its connections.
    pub rate: toml::Value,
    #[serde(default = "one")]
    pub connections: u32,
    /// Text that names one step of every migration: the statement starts once that
    /// step has finished (a new release's writes need the new column).
    pub start_after: Option<String>,
    /// Keep one prepared statement per connection, as drivers with a statement cache
    /// do; by default each execution is parsed afresh.
    #[serde(default)]
    pub prepared: bool,
}

fn one() -> u32 {
    1
}

/// `[[rehearsal.invariant]]` (after every migration) or
/// `[[rehearsal.migration.invariant]]` (after that one): a query that must hold.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvariantEntry {
    pub name: String,
    pub sql: String,
    /// For a count: the value it must equal, `0` when left out; a number or a sum of
    /// `seeded(<table>)`, `inserted(<table>)` and numbers.
    pub expect: Option<toml::Value>,
}

/// `[sweep]`: the scenario run at several scales, each seeded afresh.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepSection {
    /// Rows of the dataset's scale table at each scale, increasing.
    pub scales: Vec<u64>,
    /// The queries whose growth is fitted; every query when left out.
    #[serde(default)]
    pub queries: Vec<String>,
}

/// Which generated row the queries' `target.*` parameters are bound to.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetSection {
    pub table: String,
    /// A group of the table's rows (or of its grouped ancestor's), or
    /// `variant.<name>` to take it from the variant matrix.
    pub group: Option<String>,
    /// Which row of the group, in write order; default 0 (the first).
    #[serde(default)]
    pub index: u64,
}

/// Schema changes applied between the "before" and the "after" queries.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MigrationSection {
    pub fixtures: Vec<String>,
}

/// A row picked from the seeded data: by a query of the scenario's own (`sql`), as
/// the value most or fewest rows hold (`most_common`, `least_common`), as a value no
/// row holds (`absent`), or as a generated row (`row`). Exactly one of them.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PickEntry {
    pub name: String,
    pub sql: Option<String>,
    #[serde(default)]
    pub params: Vec<toml::Value>,
    /// `table.column`.
    pub most_common: Option<String>,
    /// `table.column`.
    pub least_common: Option<String>,
    /// `table.column`.
    pub absent: Option<String>,
    pub row: Option<TargetSection>,
}

/// A query under test.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryEntry {
    pub name: String,
    /// Path of the SQL file, relative to the scenario file.
    pub file: String,
    /// What `$1`, `$2`, … are bound to, in order.
    #[serde(default)]
    pub params: Vec<toml::Value>,
    /// The schema state the query runs on: `before` (default) or `after` the
    /// scenario's migration.
    #[serde(default)]
    pub schema: Option<String>,
}

/// A server setting's value as TOML allows it to be written.
#[derive(Debug, Deserialize, Clone)]
#[serde(untagged)]
pub enum SettingValue {
    Text(String),
    Integer(i64),
    Float(f64),
    Bool(bool),
}

impl SettingValue {
    /// The value as PostgreSQL's `SET` syntax takes it.
    pub fn to_setting_string(&self) -> String {
        match self {
            SettingValue::Text(text) => text.clone(),
            SettingValue::Integer(number) => number.to_string(),
            SettingValue::Float(number) => number.to_string(),
            SettingValue::Bool(flag) => if *flag { "on" } else { "off" }.to_owned(),
        }
    }
}
