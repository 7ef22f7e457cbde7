//! The result of a run as plain data: scenario x variant x query, with plans,
//! timings, result digests and verdicts. Capture and judge fill it; every exporter in
//! `report` reads it. Nothing here talks to a server.

pub mod baseline;
pub mod rehearsal;
pub mod saved;
pub mod stability;
pub mod sweep;
pub mod verdict;
pub mod versions;
pub mod workload;

use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use verdict::{Expect, Finding, Verdict};

use crate::format::format_budget;
use crate::plan::{Catalog, Plan};

/// Everything one scenario run found: the input of every report.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub scenario: String,
    pub description: String,
    pub scenario_file: String,
    pub dataset_file: String,
    /// The scratch database the scenario ran in.
    pub database: String,
    pub seeded: Seeded,
    pub environment: Environment,
    /// One cell per variant of the matrix (one cell without variants).
    pub cells: Vec<Cell>,
    pub phases: Vec<Phase>,
    /// The per-statement time budget the measured queries ran under.
    pub time_budget: Duration,
    /// The scale sweep, when the run was one (`--scales`, `--sweep`, `--find-flip`):
    /// `cells` are then the largest scale's, judged with the growth checks over the
    /// sweep. `None` for a run at one scale.
    pub sweep: Option<sweep::Sweep>,
    /// The plans each query took over repeated `ANALYZE` rounds (`--stability N`),
    /// taken after the run's own capture; `None` without `--stability`.
    pub stability: Option<stability::Stability>,
    /// A workload checked against its baselines: `cells` are then its largest
    /// scale's, with one verdict per query and parameter set. `None` for a scenario.
    pub workload: Option<workload::WorkloadCheck>,
}

impl Outcome {
    /// Whether every check of every variant passed, and the sweep's flip search (if
    /// any) supports the scenario.
    pub fn passed(&self) -> bool {
        self.cells.iter().all(Cell::passed) && self.sweep.as_ref().is_none_or(sweep::Sweep::passed)
    }

    /// Whether the scenario declares a variant matrix.
    pub fn has_variants(&self) -> bool {
        self.cells.iter().any(|cell| !cell.variant.is_empty())
    }
}

/// One variant: its values, the evidence captured under it and the verdicts.
#[derive(Debug, Clone)]
pub struct Cell {
    /// `(name, value)` per variant axis, in declaration order; empty without variants.
    pub variant: Vec<(String, String)>,
    /// The target row the queries were bound to, if the scenario names one.
    pub target: Option<Target>,
    /// The row each `[[pick]]` returned, in declaration order.
    pub picks: Vec<Picked>,
    pub evidence: Evidence,
    pub verdicts: Vec<Verdict>,
}

impl Cell {
    /// `state=error, depth=500`, or `-` without variants.
    pub fn label(&self) -> String {
        match self.variant.is_empty() {
            true => "-".into(),
            false => sweep::variant_label(&self.variant),
        }
    }

    /// A name usable in file names: `state-error_depth-500`, or empty.
    pub fn slug(&self) -> String {
        self.variant
            .iter()
            .map(|(name, value)| format!("{name}-{}", crate::slug::slug(value)))
            .collect::<Vec<_>>()
            .join("_")
    }

    /// Whether every check passed in this cell.
    pub fn passed(&self) -> bool {
        self.verdicts.iter().all(|verdict| verdict.passed)
    }

    /// Whether every check that read `query` passed.
    pub fn query_passed(&self, query: &str) -> bool {
        self.verdicts
            .iter()
            .filter(|verdict| verdict.queries.iter().any(|name| name == query))
            .all(|verdict| verdict.passed)
    }
}

/// The generated row a scenario's `target.*` parameters come from.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Target {
    pub table: String,
    pub group: Option<String>,
    pub index: u64,
    /// The row's generated columns, as text.
    pub columns: Vec<(String, String)>,
    /// Rows of the target's own table in its group.
    pub group_rows: u64,
}

/// The row a `[[pick]]` returned, whose values the queries were bound to.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Picked {
    pub name: String,
    /// Column name and value as text, in the order the pick returned them.
    pub columns: Vec<(String, String)>,
}

/// What was seeded.
#[derive(Debug, Clone)]
pub struct Seeded {
    pub seed: u64,
    /// Rows of the scale table.
    pub scale: u64,
    pub scale_table: String,
    pub as_of: chrono::DateTime<chrono::Utc>,
    pub tables: Vec<TableFacts>,
    /// The disk guard's estimate, made before seeding; `None` when no guard ran.
    pub size_check: Option<SizeCheck>,
    /// Whether the data came from the cache or went into it; `None` when the run did
    /// not say (a report of a format before the cache).
    pub cache: Option<DataCache>,
}

/// What the seeded-data cache did for one prepared database.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
pub struct DataCache {
    pub status: CacheStatus,
    /// The entry's key (a hash of the dataset file and model, schema fixtures, seed,
    /// scale, settings, plancheck build and server build); `None` when the cache was
    /// off.
    pub key: Option<String>,
    /// Why the data was not stored or not taken from the cache.
    pub note: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum CacheStatus {
    /// The data came from the cache: nothing was seeded.
    Hit,
    /// Seeded, then stored for the next run.
    Stored,
    /// Seeded and not stored (see the note).
    NotStored,
    /// The cache was not used (see the note: `--no-cache`, a backend without one).
    Off,
}

impl DataCache {
    /// One line for terminals and reports: `cache hit (key …)`.
    pub fn describe(&self) -> String {
        let status = match self.status {
            CacheStatus::Hit => "data from the cache",
            CacheStatus::Stored => "seeded and stored in the cache",
            CacheStatus::NotStored => "seeded, not stored in the cache",
            CacheStatus::Off => "cache not used",
        };
        let key = self
            .key
            .as_ref()
            .map(|key| format!(" (key {key})"))
            .unwrap_or_default();
        let note = self
            .note
            .as_ref()
            .map(|note| format!(": {note}"))
            .unwrap_or_default();
        format!("{status}{key}{note}")
    }
}

/// How the disk guard arrived at its estimate.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum EstimateMethod {
    /// A generous bound from rows generated in memory and the catalog's index
    /// definitions, with no sample seeded: taken when it leaves plenty of room.
    UpperBound,
    /// Measured on a sample seeded in a scratch database and scaled: taken when the
    /// bound comes close to the free room.
    Sample,
}

/// What the disk guard estimated before seeding and checked it against.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SizeCheck {
    /// The seeded tables and indexes, as estimated: compare with the tables' sizes.
    pub estimated_bytes: u64,
    /// Whether `estimated_bytes` is an upper bound or a measured sample's figure.
    pub method: EstimateMethod,
    /// Room seeding was expected to need at its peak (index sorts, margin).
    pub required_bytes: u64,
    /// Free room on the server's storage before seeding, when it could be measured.
    pub available_bytes: Option<u64>,
    /// Where that was measured.
    pub checked_against: String,
}

/// One seeded table after the load.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TableFacts {
    pub name: String,
    pub rows: u64,
    /// Heap, TOAST and maps, without indexes.
    pub table_bytes: i64,
    pub index_bytes: i64,
}

/// Everything measured about the queries of one variant.
#[derive(Debug, Clone)]
pub struct Evidence {
    pub queries: Vec<QueryEvidence>,
    /// Index facts before the scenario's migration (the only state without one).
    pub catalog_before: Catalog,
    /// Index facts after the migration, when the scenario has one.
    pub catalog_after: Option<Catalog>,
    /// The queries the scenario's comparisons measure against (its old forms). A plan
    /// check expecting a problem in one of them proves the regression reproduces; in
    /// any other query it is a problem found or not.
    pub baselines: Vec<String>,
}

impl Evidence {
    /// The evidence of the query with this name.
    pub fn query(&self, name: &str) -> Option<&QueryEvidence> {
        self.queries.iter().find(|query| query.name == name)
    }

    /// Whether a comparison of the scenario measures against `query`.
    pub fn is_baseline(&self, query: &str) -> bool {
        self.baselines.iter().any(|name| name == query)
    }

    /// The catalog facts of the schema state `query` ran on.
    pub fn catalog_for(&self, query: &QueryEvidence) -> &Catalog {
        match (query.state, &self.catalog_after) {
            (SchemaState::After, Some(after)) => after,
            _ => &self.catalog_before,
        }
    }
}

/// The schema state a query runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SchemaState {
    /// The schema as the dataset builds it.
    Before,
    /// After the scenario's migration fixtures and ANALYZE.
    After,
}

impl SchemaState {
    /// `before` or `after`, as sentences use it.
    pub fn word(self) -> &'static str {
        match self {
            SchemaState::Before => "before",
            SchemaState::After => "after",
        }
    }
}

/// What was measured about one query in one variant.
#[derive(Debug, Clone)]
pub struct QueryEvidence {
    pub name: String,
    /// The SQL file.
    pub file: String,
    pub state: SchemaState,
    /// The bound parameter values, as text.
    pub params: Vec<String>,
    /// The statement as it was prepared (the file's SQL without a trailing
    /// semicolon), kept so a report can show it beside its plan.
    pub sql: String,
    /// The parsed EXPLAIN (ANALYZE, BUFFERS) plan, or the estimated plan of plain
    /// EXPLAIN when the query did not finish within the time budget or its EXPLAIN
    /// ANALYZE did not finish within its allowance (`analyze_cancelled`).
    pub plan: Plan,
    /// The EXPLAIN document exactly as the server printed it, kept verbatim in the
    /// report (the input plan visualisers accept).
    pub raw_explain: String,
    /// Client-side wall-clock timings of the plain query.
    pub timing: Timing,
    /// The rows the query returned, for `same-results`; `None` when it did not finish
    /// within the time budget.
    pub results: Option<ResultDigest>,
    /// How long the first plain run (reading the results, after EXPLAIN ANALYZE) took,
    /// in milliseconds; `None` when it did not finish. It is also the first timing
    /// sample when the EXPLAIN ANALYZE before it finished (and so warmed the cache),
    /// and in any case a run that was seen to finish in that time.
    pub warm_up_ms: Option<f64>,
    /// Set when a plain run of the query exceeded the time budget and was cancelled
    /// there.
    pub timed_out: Option<TimedOut>,
    /// Set when the plain query finished within the time budget but its EXPLAIN
    /// ANALYZE did not finish within the allowance for instrumentation: the plan is
    /// estimated, and the query is not timed out.
    pub analyze_cancelled: Option<AnalyzeCancelled>,
    /// How many times the server ran the query for this cell: each EXPLAIN ANALYZE
    /// (one cancelled at its limit too), the plain run that read its results, and the
    /// timing loop's runs. Plain EXPLAIN only plans, and is not counted. What a slow
    /// query costs a run is this count times its time.
    pub executions: u32,
}

/// An EXPLAIN ANALYZE cancelled at its limit although the plain query finishes within
/// the time budget: instrumentation (a clock read per row and node) can make a query
/// several times slower, which says nothing about the query's own time.
#[derive(Debug, Clone, PartialEq)]
pub struct AnalyzeCancelled {
    /// The limit of the last attempt, with `TIMING OFF`.
    pub limit: Duration,
}

impl AnalyzeCancelled {
    /// What reports say about the plan: `EXPLAIN ANALYZE did not finish within 3 s ...`.
    pub fn reason(&self) -> String {
        format!(
            "EXPLAIN ANALYZE did not finish within {} (even with TIMING OFF), though the query itself finished within the time budget",
            format_budget(self.limit)
        )
    }
}

/// A measured run of a query that the server cancelled at the time budget.
#[derive(Debug, Clone, PartialEq)]
pub struct TimedOut {
    /// The budget it exceeded.
    pub budget: Duration,
    /// The plain run that was cancelled: `warm-up` or `timing` (an EXPLAIN ANALYZE
    /// past the budget is [`AnalyzeCancelled`], not a timeout).
    pub during: &'static str,
}

impl TimedOut {
    /// `timed out after 60 s`: the verdict every report shows for the query.
    pub fn verdict(&self) -> String {
        format!("timed out after {}", format_budget(self.budget))
    }
}

/// Repeated client-side timings of one query.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Timing {
    /// Every measured run, in milliseconds, in the order they ran.
    pub samples_ms: Vec<f64>,
    /// Why the loop took no more samples of this query.
    pub stopped: SamplingStop,
}

/// Why the timing loop stopped sampling a query. The first two are a query's
/// sampling run its course; the others stop one query early so that a slow query
/// does not cost minutes of runs that cannot change a verdict.
#[derive(Debug, Clone, Copy, Serialize, serde::Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(tag = "reason", rename_all = "kebab-case", deny_unknown_fields)]
pub enum SamplingStop {
    /// The query ran its most runs.
    MaxRounds,
    /// Its sampling time was spent: it had its fewest samples adding up to the
    /// sampling time (30 runs over 300 ms by default), or the loop had run its time
    /// and the query its fewest rounds.
    LoopBudget,
    /// No check compares this query's time with another's: its fewest rounds, or one
    /// run too slow to repeat, were enough for the report's median.
    NotCompared,
    /// Every run was more than `factor` times slower than every run of each query a
    /// check compares it with (`factor` the largest of those checks' ratios): more
    /// runs cannot change a verdict.
    Separated { factor: f64 },
    /// A run exceeded the time budget; the query was not timed further.
    TimedOut,
}

impl SamplingStop {
    /// A few words for reports: `sampling time spent`, `3x slower in every run`.
    pub fn describe(&self) -> String {
        match self {
            SamplingStop::MaxRounds => "most runs taken".into(),
            SamplingStop::LoopBudget => "sampling time spent".into(),
            SamplingStop::NotCompared => "not compared".into(),
            SamplingStop::Separated { factor } => {
                format!("over {factor}x slower in every run")
            }
            SamplingStop::TimedOut => "timed out".into(),
        }
    }
}

impl Timing {
    /// The median sample (mean of the middle two for an even count).
    pub fn median_ms(&self) -> f64 {
        let mut sorted = self.samples_ms.clone();
        sorted.sort_by(f64::total_cmp);
        match sorted.len() {
            0 => f64::NAN,
            len if len % 2 == 1 => sorted[len / 2],
            len => (sorted[len / 2 - 1] + sorted[len / 2]) / 2.0,
        }
    }
}

/// The rows a query returned: the first rows as text, and hashes of all of them.
#[derive(Debug, Clone, PartialEq)]
pub struct ResultDigest {
    pub columns: Vec<String>,
    /// Rows as text (`None` for NULL), in the order returned, up to
    /// [`ResultDigest::KEPT_ROWS`].
    pub rows: Vec<Vec<Option<String>>>,
    pub total_rows: u64,
    /// Whether `rows` holds every row.
    pub complete: bool,
    /// Hash of all rows in order.
    pub ordered_hash: u64,
    /// Hash of all rows regardless of order.
    pub multiset_hash: u64,
}

impl ResultDigest {
    /// Rows kept as text; beyond them only hashes are kept.
    pub const KEPT_ROWS: usize = 10_000;

    /// A digest of rows given in full.
    pub fn from_rows(columns: Vec<String>, rows: Vec<Vec<Option<String>>>) -> ResultDigest {
        let mut builder = DigestBuilder::new(columns);
        for row in rows {
            builder.push(row);
        }
        builder.finish()
    }
}

/// Builds a [`ResultDigest`] row by row. The hashes are BLAKE3's, over a fixed
/// encoding of each row, so that they are the same on every build and toolchain: a
/// baseline committed to a repository keeps them.
pub struct DigestBuilder {
    digest: ResultDigest,
    ordered: blake3::Hasher,
}

impl DigestBuilder {
    /// An empty digest of results with these columns.
    pub fn new(columns: Vec<String>) -> DigestBuilder {
        DigestBuilder {
            digest: ResultDigest {
                columns,
                rows: Vec::new(),
                total_rows: 0,
                complete: true,
                ordered_hash: 0,
                multiset_hash: 0,
            },
            ordered: blake3::Hasher::new(),
        }
    }

    /// Adds the next row.
    pub fn push(&mut self, row: Vec<Option<String>>) {
        let encoded = encode_row(&row);
        self.ordered.update(&encoded);
        let single = first_eight(blake3::hash(&encoded).as_bytes());
        self.digest.multiset_hash = self.digest.multiset_hash.wrapping_add(single);
        self.digest.total_rows += 1;
        if self.digest.rows.len() < ResultDigest::KEPT_ROWS {
            self.digest.rows.push(row);
        } else {
            self.digest.complete = false;
        }
    }

    /// The finished digest.
    pub fn finish(mut self) -> ResultDigest {
        self.digest.ordered_hash = first_eight(self.ordered.finalize().as_bytes());
        self.digest
    }
}

/// A row as bytes that tell every row apart: per cell a NULL mark, or the text's
/// length and the text.
fn encode_row(row: &[Option<String>]) -> Vec<u8> {
    let mut bytes = Vec::new();
    bytes.extend_from_slice(&(row.len() as u64).to_le_bytes());
    for cell in row {
        match cell {
            None => bytes.push(0),
            Some(text) => {
                bytes.push(1);
                bytes.extend_from_slice(&(text.len() as u64).to_le_bytes());
                bytes.extend_from_slice(text.as_bytes());
            }
        }
    }
    bytes
}

fn first_eight(hash: &[u8; 32]) -> u64 {
    u64::from_le_bytes(hash[..8].try_into().expect("eight bytes"))
}

/// The facts a reader needs to trust the numbers.
#[derive(Debug, Clone, Serialize)]
pub struct Environment {
    pub backend: Backend,
    /// Why `--backend auto` chose this backend, when it passed one over.
    pub backend_note: Option<String>,
    pub server_version: String,
    /// Every setting not at its built-in default.
    pub settings: Vec<Setting>,
    /// What plancheck could not set up as it wanted, and why (a setting the role may
    /// not pin).
    pub notes: Vec<String>,
    pub host: Host,
}

/// A summary of the machine plancheck ran on.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Host {
    pub cores: usize,
    pub memory_mib: u64,
    pub cpu: String,
    pub os: String,
}

impl Host {
    /// A note for the report when the machine is busier than it has cores (the
    /// one-minute load average of `/proc/loadavg`): timing verdicts measured then may
    /// be noise, and the reader should know; plan verdicts are not affected.
    pub fn busy_note() -> Option<String> {
        let load: f64 = std::fs::read_to_string("/proc/loadavg")
            .ok()?
            .split_whitespace()
            .next()?
            .parse()
            .ok()?;
        let cores = std::thread::available_parallelism().map_or(1, |cores| cores.get());
        (load > cores as f64).then(|| {
            format!(
                "the machine was busy while timing (load average {load:.1} on {cores} cores): \
                 timing verdicts may be noisy; plan verdicts are not affected"
            )
        })
    }

    /// Reads the summary from the running system (Linux `/proc` where available).
    pub fn current() -> Host {
        let cores = std::thread::available_parallelism().map_or(1, |cores| cores.get());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory_mib = meminfo
            .lines()
            .find_map(|line| line.strip_prefix("MemTotal:"))
            .and_then(|rest| {
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
            .map_or(0, |kib| kib / 1024);
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|line| line.strip_prefix("model name"))
            .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_owned())
            .unwrap_or_else(|| std::env::consts::ARCH.to_owned());
        let os = nix::sys::utsname::uname()
            .map(|name| {
                format!(
                    "{} {}",
                    name.sysname().to_string_lossy(),
                    name.release().to_string_lossy()
                )
            })
            .unwrap_or_else(|_| std::env::consts::OS.to_owned());
        Host {
            cores,
            memory_mib,
            cpu,
            os,
        }
    }
}

/// A named step of a run and how long it took.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Phase {
    pub name: String,
    pub ms: f64,
}

impl Phase {
    /// A phase that took `elapsed`.
    pub fn new(name: &str, elapsed: std::time::Duration) -> Phase {
        Phase {
            name: name.to_owned(),
            ms: elapsed.as_secs_f64() * 1000.0,
        }
    }
}

/// The backend a server runs on, as its backend describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Backend {
    /// What `--backend` calls it: `docker`, `local`, `url`.
    pub kind: String,
    /// What it runs: the image, the binaries' directory, the server's address.
    pub detail: String,
}

impl Backend {
    pub fn new(kind: &str, detail: impl std::fmt::Display) -> Backend {
        Backend {
            kind: kind.to_owned(),
            detail: detail.to_string(),
        }
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.kind, self.detail)
    }
}

/// A setting as the server reports it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Setting {
    pub name: String,
    pub value: String,
    /// Where the value comes from: `database`, `command line`, `configuration file`, …
    pub source: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        let timing = |samples_ms: Vec<f64>| Timing {
            samples_ms,
            stopped: SamplingStop::MaxRounds,
        };
        assert_eq!(timing(vec![5.0, 1.0, 3.0]).median_ms(), 3.0);
        assert_eq!(timing(vec![4.0, 1.0, 3.0, 2.0]).median_ms(), 2.5);
        assert!(timing(vec![]).median_ms().is_nan());
    }

    #[test]
    fn digests_tell_order_from_content() {
        let rows = |order: &[&str]| {
            order
                .iter()
                .map(|v| vec![Some((*v).to_owned())])
                .collect::<Vec<_>>()
        };
        let a = ResultDigest::from_rows(vec!["x".into()], rows(&["1", "2"]));
        let b = ResultDigest::from_rows(vec!["x".into()], rows(&["2", "1"]));
        assert_ne!(a.ordered_hash, b.ordered_hash);
        assert_eq!(a.multiset_hash, b.multiset_hash);
    }
}

#[cfg(test)]
mod digest_tests {
    use super::ResultDigest;

    fn rows(order: [usize; 3]) -> ResultDigest {
        let all = [
            vec![Some("1".to_owned()), None],
            vec![Some("2".to_owned()), Some("b".to_owned())],
            vec![Some("".to_owned()), Some("a,b".to_owned())],
        ];
        let picked = order.iter().map(|index| all[*index].clone()).collect();
        ResultDigest::from_rows(vec!["id".into(), "name".into()], picked)
    }

    /// The hashes are kept in committed baselines: they must not change with a build,
    /// a toolchain or a platform, so their values are fixed here.
    #[test]
    fn result_hashes_are_fixed_values_and_the_multiset_ignores_order() {
        let (forward, backward) = (rows([0, 1, 2]), rows([2, 1, 0]));
        assert_eq!(forward.multiset_hash, backward.multiset_hash);
        assert_ne!(forward.ordered_hash, backward.ordered_hash);
        assert_eq!(
            format!(
                "{:016x} {:016x}",
                forward.multiset_hash, forward.ordered_hash
            ),
            "3b56e99f9a851c41 2c1b0a2e0b3a86b2"
        );
        let empty_and_null = ResultDigest::from_rows(vec!["a".into()], vec![vec![None]]);
        let empty_text = ResultDigest::from_rows(vec!["a".into()], vec![vec![Some(String::new())]]);
        assert_ne!(empty_and_null.multiset_hash, empty_text.multiset_hash);
    }
}
