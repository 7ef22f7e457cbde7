//! The seam between provisioning and its backends. A backend is one module (`docker`,
//! `local`, `url`) that provides:
//!
//! - a `start` function that hands back a [`Started`]: how to reach the new server's
//!   maintenance database, and the [`Running`] guard of what was started;
//! - that guard: what the server holds on this machine and how much room it has, how a
//!   user reaches it and removes it after `--keep`, keeping and stopping it, and, for a
//!   backend whose data directory is plancheck's, the seeded-data cache's copies;
//! - a [`Place`] where the leftovers of its dead runs are looked for (`sweep`).
//!
//! `Server` (`mod.rs`) holds a `Box<dyn Running>` and never asks which backend it is;
//! the server's version is read from the server once it is up, whatever started it.
//! What names them all is `mod.rs`'s choosing from `--backend`: `BackendChoice`,
//! `Server::start_backend` (and `start_auto`, which tries docker, then local),
//! `Server::check_available` (is `--pg`'s version here) and `all_places`.

use std::fmt;

use async_trait::async_trait;
use tokio_postgres::Config;

use super::Resources;
use super::sweep::Leftover;
use crate::cache::{Cache, Entry, Filled, Filler};
use crate::error::Result;
use crate::outcome::Backend;

/// What a backend's `start` hands back.
pub(super) struct Started {
    /// The maintenance database of the new server, as the superuser.
    pub admin: Config,
    pub running: Box<dyn Running>,
}

/// A server a backend started (or reached), as a guard: dropping it without
/// [`Running::stop`] or [`Running::keep`] still removes what the backend made.
#[async_trait]
pub(super) trait Running: Send + Sync {
    /// The backend and what it runs, for reports and messages.
    fn describe(&self) -> Backend;

    /// What to try when servers of this backend keep going away under runs.
    fn if_lost(&self) -> &'static str;

    /// The container, process and directory this server holds.
    fn resources(&self) -> Resources;

    /// The room left for data on this server's storage (see [`Capacity`]). A
    /// measurement that fails gives an unknown capacity, not an error.
    async fn capacity(&self) -> Capacity;

    /// A shell command that opens `psql` on `database`, reached through `admin`.
    fn connection_hint(&self, admin: &Config, database: &str) -> String;

    /// A shell command that removes what `--keep` kept: the server, or on a server the
    /// user named, the `kept` scratch databases.
    fn removal_hint(&self, admin: &Config, kept: &[String]) -> String;

    /// Whether scratch databases on this server outlive plancheck's process unless
    /// dropped (a server plancheck did not start): each is then written down for the
    /// clean-up after an interrupt.
    fn scratch_outlives_server(&self) -> bool {
        false
    }

    /// Leaves the server running after plancheck exits, marked kept so that no sweep
    /// takes it for an orphan.
    async fn keep(self: Box<Self>) -> Result<()>;

    /// Stops the server and removes what it left.
    async fn stop(self: Box<Self>) -> Result<()>;

    /// What names this server's build in a cache key, or why its data cannot be
    /// cached.
    fn cache_identity(&self) -> std::result::Result<String, String>;

    /// Copies the server's whole cluster into `cache` under the key `filler` holds,
    /// with `meta`: the server stops for the copy and starts again, reachable through
    /// `admin`. The outer error is the server's (it did not come back) or a cache
    /// another user could have written; the inner one says why nothing was stored.
    async fn save_cluster(
        &self,
        _cache: &Cache,
        _filler: Filler,
        _meta: serde_json::Value,
        _admin: &Config,
    ) -> Result<std::result::Result<Filled, String>> {
        Ok(Err("no data directory here".into()))
    }

    /// Puts a copy of `entry`'s cluster in place of the server's own, keeping its own
    /// aside, and starts the server on it, reachable through `cached_admin` (the
    /// entry's password) and running with the server's own configuration. When the
    /// copy fails or the server does not start on it, the server runs on its own
    /// cluster again, reachable through `admin`, and the inner error says why.
    async fn load_cluster(
        &self,
        _entry: Entry,
        _cached_admin: &Config,
        _admin: &Config,
    ) -> Result<std::result::Result<(), String>> {
        Ok(Err("no data directory here".into()))
    }

    /// After a [`Running::load_cluster`] that worked: with `keep_cached`, the server's
    /// own cluster, kept aside, goes; without it (the copy proved unusable), the
    /// server goes back to its own cluster, reachable through `admin`.
    async fn settle_cluster(&self, _keep_cached: bool, _admin: &Config) -> Result<()> {
        Ok(())
    }
}

/// What a backend can hold, and where that was measured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capacity {
    /// Bytes the data directory can still grow by; `None` when it cannot be known.
    pub available: Option<u64>,
    /// Where the figure comes from, as a sentence fragment for messages and notes.
    pub measured: String,
    /// What the user can do when the data does not fit, beyond a lower `--scale`.
    pub remedy: String,
}

/// Where a backend's leftovers may be: the engine's containers, the temporary
/// directory, a server's databases.
#[async_trait]
pub trait Place: Send + Sync {
    /// Every leftover here, orphaned and kept; live runs' resources are left out.
    /// `Err` says why this place could not be looked at: that is no all-clear.
    async fn leftovers(&self) -> std::result::Result<Vec<Leftover>, String>;
}

/// One thing a dead or kept run left behind, as its backend knows it.
#[async_trait]
pub trait Remains: fmt::Display + fmt::Debug + Send + Sync {
    /// What still runs in it, when something does.
    fn still_running(&self) -> Option<String> {
        None
    }

    /// What removing it did, for the user.
    fn removed(&self) -> String {
        format!("removed {self}")
    }

    /// Removes it; `Err` says why it could not be.
    async fn remove(&self) -> std::result::Result<(), String>;
}
