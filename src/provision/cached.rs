//! Seeded data kept between runs (see `crate::cache`). A server's whole cluster is
//! copied into the cache once a database is seeded, and a later run with the same key
//! puts a copy of it under its server instead of seeding: on the local backend by
//! copying the data directory, on the docker backend as a tar stream through the
//! container (`docker::data`). Both stop the server for the copy (a running cluster's
//! files are not a consistent copy, and `wal_level = minimal` allows no online
//! backup), so both refuse while another scratch database is on the server: its
//! sessions would be cut.

use super::{ScratchDatabase, Server, connect};
use crate::cache::{Cache, Entry, Filled, Key};
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

    /// Stores this server's cluster under `key`, with `meta` and the server's password
    /// beside it: the server stops for the copy and starts again. The outer error is
    /// the server's (it did not come back); the inner one says why nothing was stored.
    pub async fn save_data(
        &self,
        key: &Key,
        mut meta: serde_json::Value,
    ) -> Result<std::result::Result<Filled, String>> {
        let cache = match self.data_cache() {
            Ok(cache) => cache,
            Err(reason) => return Ok(Err(reason)),
        };
        meta["password"] = serde_json::Value::String(self.password());
        self.running
            .save_cluster(cache, key, meta, &self.admin)
            .await
    }

    /// Puts a copy of `entry`'s cluster under this server in place of its own, and
    /// gives the copy this server's password. When the copy fails (the entry is
    /// corrupt) the server starts again on its own data and the inner error says why.
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
        if loaded.is_ok() {
            super::set_password(&cached_admin, &self.password()).await?;
        }
        Ok(loaded)
    }

    /// Takes `existing` (a database a cached cluster brought) as this run's scratch
    /// database: renamed, marked and locked as [`Server::create_scratch`] does.
    pub async fn adopt_scratch(&self, existing: &str, hint: &str) -> Result<ScratchDatabase> {
        super::scratch::adopt(&self.admin, &self.registry, existing, hint).await
    }
}
