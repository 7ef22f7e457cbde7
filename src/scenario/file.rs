//! The on-disk shape of scenario and dataset files, exactly as written by users.
//! Parsing is strict (`deny_unknown_fields`): a misspelt key is an error, never a
//! silently ignored setting. These types carry no meaning beyond syntax; `validate`
//! in the parent modules turns them into checked types.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::checks::CheckSpec;

/// A scenario file: `scenarios/<name>.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    pub description: String,
    /// Path of the dataset file, relative to the scenario file.
    pub dataset: String,
    pub target: TargetSection,
    #[serde(default)]
    pub settings: BTreeMap<String, SettingValue>,
    #[serde(default, rename = "query")]
    pub queries: Vec<QueryEntry>,
    #[serde(default, rename = "check")]
    pub checks: Vec<CheckSpec>,
}

/// Which seeded entity the queries' parameters are bound to.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetSection {
    /// The activity profile whose first organization is the target.
    pub profile: String,
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
    pub params: Vec<String>,
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

/// A dataset file: the shape of the data a scenario runs on.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetFile {
    pub description: String,
    /// Schema fixtures applied in order, relative to the dataset file.
    pub schema: Vec<String>,
    /// Default number of workflow runs (the scale); `--scale` overrides it.
    pub runs: u64,
    /// Default seed; `--seed` overrides it.
    pub seed: u64,
    /// The instant the data is generated as of ("now" for the dataset), RFC 3339.
    pub as_of: String,
    /// Share of workflows that are soft-deleted, in [0, 1).
    pub soft_deleted_workflows: f64,
    /// The order runs are written to the heap in, which decides the physical layout
    /// (and the correlation statistics) the planner sees.
    pub write_order: WriteOrder,
    /// The write order is shuffled within windows of this many runs, modelling a heap
    /// that updates have left only roughly in that order; 1 keeps it strict.
    pub write_order_window: usize,
    /// Share of runs in each state; the shares add up to 1.
    pub states: BTreeMap<String, f64>,
    #[serde(rename = "profile")]
    pub profiles: Vec<ProfileEntry>,
}

/// One kind of organization and how active it is.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileEntry {
    pub name: String,
    pub organizations: u32,
    pub projects: u32,
    pub workflows: u32,
    /// A fixed number of runs per organization, whatever the scale.
    pub runs_per_organization: Option<u64>,
    /// The profile's share of the runs left after fixed-count profiles.
    pub share_of_runs: Option<f64>,
    /// Runs fall between `active_days[1]` and `active_days[0]` days before `as_of`.
    pub active_days: [u32; 2],
    /// How runs are spread over the active window.
    #[serde(default)]
    pub spread: Spread,
}

/// How a profile's runs are spread in time.
#[derive(Debug, Deserialize, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Spread {
    /// Evenly over the active window.
    #[default]
    Uniform,
    /// Density rising linearly towards the recent end of the window.
    Recent,
}

/// The order generated runs are written in.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum WriteOrder {
    /// By `created_at` across all organizations, as an append-only table fills.
    Time,
    /// In an order unrelated to time or organization, as in a long-lived table whose
    /// rows updates and vacuum have moved around: `created_at` is then uncorrelated
    /// with the heap, and walking its index touches a new page for nearly every row.
    Scattered,
}
