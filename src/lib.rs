//! plancheck proves query-plan fixes on realistic data. A run reads a scenario,
//! provisions a throwaway PostgreSQL, builds the schema from SQL fixtures, generates
//! data of a controlled shape and loads it, captures `EXPLAIN (ANALYZE, BUFFERS)` of
//! the old and new form of a query in every variant, judges the plans with named
//! checks, times the queries and writes reports. Each stage is one module below, in
//! pipeline order; `pipeline` wires them together. See ARCHITECTURE.md.

pub mod cache;
pub mod capture;
pub mod datagen;
pub mod describe;
pub mod disk_guard;
pub mod fit;
pub mod format;
pub mod input;
pub mod judge;
pub mod load;
pub mod outcome;
pub mod pg_wire;
pub mod plan;
pub mod provision;
pub mod rehearse;
pub mod report;
pub mod schema;
pub mod settings;
pub mod slug;
pub mod value;

pub mod cli;
pub mod error;
pub mod pipeline;
pub mod progress;

pub use error::{Error, ErrorKind, Result};
