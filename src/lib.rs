//! plancheck proves query-plan fixes on realistic data. A run reads a scenario,
//! provisions a throwaway PostgreSQL, builds the schema from SQL fixtures, seeds it
//! with generated data of a controlled shape, captures `EXPLAIN (ANALYZE, BUFFERS)` of
//! the old and new form of a query, judges the plans with named checks, times both and
//! writes reports. Each stage is one module below, in pipeline order; `run` strings
//! them together. See ARCHITECTURE.md for the boundaries between them.

pub mod capture;
pub mod checks;
pub mod plan;
pub mod provision;
pub mod report;
pub mod scenario;
pub mod schema;
pub mod seed;
pub mod settings;
pub mod timing;

pub mod cli;
pub mod error;
pub mod evidence;
pub mod run;

pub use error::{Error, ErrorKind, Result};
