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

/// A value picked from the seeded data by a query of the scenario's own.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PickEntry {
    pub name: String,
    pub sql: String,
    #[serde(default)]
    pub params: Vec<toml::Value>,
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
