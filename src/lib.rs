//! plancheck proves query-plan fixes on realistic data. A run reads a scenario,
//! provisions a throwaway PostgreSQL, builds the schema from SQL fixtures, seeds it
//! with generated data of a controlled shape, captures `EXPLAIN (ANALYZE, BUFFERS)` of
//! the old and new form of a query, judges the plans with named checks, times both and
//! writes reports. Each stage is one module below, in pipeline order; `run` strings
//! them together. See ARCHITECTURE.md for the boundaries between them.

pub mod scenario;
pub mod provision;
pub mod schema;
pub mod settings;
pub mod seed;
pub mod capture;
pub mod plan;
pub mod checks;
pub mod timing;
pub mod report;

pub mod cli;
pub mod error;
pub mod evidence;
pub mod run;

pub use error::{Error, ErrorKind, Result};
