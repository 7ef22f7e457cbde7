//! plancheck's integration tests: one binary, one module per area. Tests that need
//! PostgreSQL start a private server from the host's binaries (the local backend) and
//! stop it when they end, pass or fail.

mod budget;
mod cache;
mod ci_docs;
mod ci_output;
mod cli;
mod connections;
mod disk;
mod docker;
mod errors;
mod from_stats;
mod html;
mod judge;
mod lifecycle;
mod migration;
mod rehearse;
mod reports;
mod scenarios;
mod scripts;
mod seeding;
mod stability;
mod statistics;
mod support;
mod sweep;
mod sweep_scales;
mod tidy;
mod versions;
