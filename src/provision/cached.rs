//! Seeded data kept between runs (see `crate::cache`). A server's whole cluster is
//! copied into the cache once a database is seeded, and a later run with the same key
//! puts a copy of it under its server instead of seeding: on the local backend by
//! copying the data directory, on the docker backend as a tar stream through the
//! container (`docker::data`). Both stop the server for the copy (a running cluster's
//! files are not a consistent copy, and `wal_level = minimal` allows no online
//! backup), so both refuse while another scratch database is on the server: its
//! sessions would be cut. A copied-in cluster runs with the server's own configuration
//! (never the entry's), and is used only once the server starts on it and every file
//! its catalogs name is there; else the server goes back to its own cluster.
//!
//! The copies run on blocking threads, which outlive the run's task when an interrupt
//! drops it: [`Copies`] lets the backend cancel them and wait for them (and for what
//! they half-wrote to be removed) before its directory or container goes.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tokio_postgres::Config;

use super::backend::{Place, Remains};
use super::owner::Owner;
use super::sweep::{Leftover, State};
use super::{ScratchDatabase, Server, connect};
use crate::cache::{Cache, CacheError, CacheResult, Cancel, Entry, Filled, Filler, StaleCopy};
use crate::error::{Error, Result};

impl Server {
    /// The cache this server's seeded data may be kept in, or why there is none.
    pub fn data_cache(&self) -> std::result::Result<&Cache, String> {
        let Some(cache) = &self.cache else {
            return Err("off (--no-cache)".into());
        };
        self.running.cache_identity().map(|_| cache)
    }

    /// What names this server's binaries in a cache key: a cluster is only ever served
    /// to the same server build. Empty where nothing is cached.
    pub fn cache_identity(&self) -> String {
        self.running.cache_identity().unwrap_or_default()
    }

    /// The scratch databases on this server other than `except`: a restart would cut
    /// their sessions.
    pub async fn other_scratch_databases(&self, except: Option<&str>) -> Result<Vec<String>> {
        let admin = connect(&self.admin).await?;
        let rows = admin
            .query(
                "SELECT datname::text FROM pg_database WHERE datname LIKE 'plancheck\\_%' AND datname IS DISTINCT FROM $1",
                &[&except],
            )
            .await
            .map_err(Error::database("listing scratch databases"))?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    /// Stores this server's cluster under the key `filler` holds, with `meta` and the
    /// server's password beside it: the server stops for the copy and starts again.
    /// The outer error is the server's (it did not come back) or a cache another user
    /// could have written; the inner one says why nothing was stored.
    pub async fn save_data(
        &self,
        filler: Filler,
        mut meta: serde_json::Value,
    ) -> Result<std::result::Result<Filled, String>> {
        let cache = match self.data_cache() {
            Ok(cache) => cache,
            Err(reason) => return Ok(Err(reason)),
        };
        meta["password"] = serde_json::Value::String(self.password());
        self.running
            .save_cluster(cache, filler, meta, &self.admin)
            .await
    }

    /// Puts a copy of `entry`'s cluster under this server in place of its own, and
    /// gives the copy this server's password, once the server runs on it and every
    /// file its catalogs name is there. When the copy fails (the entry is corrupt),
    /// the server does not start on it, or a file is missing, the server runs on its
    /// own cluster again and the inner error says why.
    pub async fn load_data(&self, entry: Entry) -> Result<std::result::Result<(), String>> {
        let Some(password) = entry.meta()["password"].as_str().map(str::to_owned) else {
            return Ok(Err("the entry names no password".into()));
        };
        let mut cached_admin = self.admin.clone();
        cached_admin.password(&password);
        let loaded = self
            .running
            .load_cluster(entry, &cached_admin, &self.admin)
            .await?;
        if let Err(reason) = loaded {
            return Ok(Err(reason));
        }
        match missing_files(&cached_admin).await {
            Ok(()) => {
                self.running.settle_cluster(true, &self.admin).await?;
                super::set_password(&cached_admin, &self.password()).await?;
                Ok(Ok(()))
            }
            Err(reason) => {
                self.running.settle_cluster(false, &self.admin).await?;
                Ok(Err(reason))
            }
        }
    }

    /// Takes `existing` (a database a cached cluster brought) as this run's scratch
    /// database: renamed, marked and locked as [`Server::create_scratch`] does.
    pub async fn adopt_scratch(&self, existing: &str, hint: &str) -> Result<ScratchDatabase> {
        super::scratch::adopt(&self.admin, &self.registry, existing, hint).await
    }
}

/// The relation files each database's catalog names that are not on disk.
const MISSING_FILES: &str = "SELECT path FROM (SELECT pg_relation_filepath(oid) AS path FROM pg_class \
     WHERE relkind IN ('r', 'i', 't', 'm', 'S')) AS relations \
     WHERE path IS NOT NULL AND (pg_stat_file(path, true)).size IS NULL ORDER BY 1";

/// Whether every relation file the catalogs of the cluster `admin` reaches name is
/// there (in every database that takes connections); the error names what is not.
pub(super) async fn missing_files(admin: &Config) -> std::result::Result<(), String> {
    let failed = |error: Error| format!("the cached cluster cannot be read: {error}");
    let client = connect(admin).await.map_err(failed)?;
    let databases: Vec<String> = client
        .query(
            "SELECT datname::text FROM pg_database WHERE datallowconn ORDER BY 1",
            &[],
        )
        .await
        .map_err(|error| failed(Error::database("listing its databases")(error)))?
        .iter()
        .map(|row| row.get(0))
        .collect();
    for database in databases {
        let mut config = admin.clone();
        config.dbname(&database);
        let client = connect(&config).await.map_err(failed)?;
        let missing: Vec<String> = client
            .query(MISSING_FILES, &[])
            .await
            .map_err(|error| failed(Error::database("looking for its files")(error)))?
            .iter()
            .map(|row| row.get(0))
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "the cached cluster lacks files the catalog of database {database} names: {}",
                missing.join(", ")
            ));
        }
    }
    Ok(())
}

/// A cache result as the backends hand it on: a cache another user could have written
/// is the run's error (bad input), anything else only says why nothing was copied.
pub(super) fn split<T>(result: CacheResult<T>) -> Result<std::result::Result<T, String>> {
    match result {
        Ok(value) => Ok(Ok(value)),
        Err(error @ CacheError::Untrusted(_)) => Err(error.into()),
        Err(error) => Ok(Err(error.to_string())),
    }
}

/// A backend's copies of clusters under way on blocking threads (see the module's
/// description).
#[derive(Clone, Default)]
pub(super) struct Copies {
    cancel: Cancel,
    busy: Arc<Mutex<()>>,
}

impl Copies {
    /// Runs `copy` (on a blocking thread) as one of this backend's copies.
    pub(super) fn run<T>(&self, copy: impl FnOnce(&Cancel) -> T) -> T {
        let _busy = self
            .busy
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        copy(&self.cancel)
    }

    /// Cancels the copies under way and waits until they have stopped.
    pub(super) fn stop(&self) {
        self.cancel.cancel();
        drop(
            self.busy
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        );
    }
}

/// Where the cache's leftovers are: partial entries no run is writing and the staging
/// directories of runs that are gone.
pub(super) struct CacheCopies(pub Cache);

#[async_trait]
impl Place for CacheCopies {
    async fn leftovers(&self) -> std::result::Result<Vec<Leftover>, String> {
        let cache = self.0.clone();
        let stale = tokio::task::spawn_blocking(move || {
            cache.stale_copies(|token| Owner::parse(token).is_none_or(|owner| owner.is_alive()))
        })
        .await
        .map_err(|error| format!("the cache {}: {error}", self.0.root().display()))?
        .map_err(|error| format!("the cache's partial copies: {error}"))?;
        Ok(stale
            .into_iter()
            .map(|copy| {
                Leftover::new(
                    Copy {
                        cache: self.0.clone(),
                        copy,
                    },
                    State::Orphaned("no run is writing it".into()),
                )
            })
            .collect())
    }
}

/// A copy a dead run left in the cache.
struct Copy {
    cache: Cache,
    copy: StaleCopy,
}

impl std::fmt::Debug for Copy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Copy").field("copy", &self.copy).finish()
    }
}

impl std::fmt::Display for Copy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "partial cache copy {} ({})",
            self.copy.path.display(),
            crate::format::format_bytes(self.copy.bytes as f64)
        )
    }
}

#[async_trait]
impl Remains for Copy {
    async fn remove(&self) -> std::result::Result<(), String> {
        let (cache, copy) = (self.cache.clone(), self.copy.clone());
        tokio::task::spawn_blocking(move || cache.remove_stale(&copy))
            .await
            .map_err(|error| error.to_string())?
            .map_err(|error| error.to_string())
    }
}
