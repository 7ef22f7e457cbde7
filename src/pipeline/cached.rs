//! The seeded-data cache in the pipeline: the key of a prepared database, and what a
//! hit and a store do around [`PreparedDatabase`]. The store itself (`crate::cache`)
//! and the server's side (`provision`, which stops the server for the copy) know
//! nothing of datasets.

use std::sync::OnceLock;

use super::{PreparedDatabase, RunOptions, TargetRow};
use crate::cache::{Cache, Claim, Entry, Filled, Filler, Key, Kind};
use crate::error::{Error, Result};
use crate::input::Scenario;
use crate::outcome::{CacheStatus, DataCache, Phase, SizeCheck, TableFacts};
use crate::provision::Server;

/// Bump when what a seeded entry holds, or how it is read, changes.
const SEEDED_FORMAT: u32 = 1;

/// The key of the database `scenarios` are prepared on: everything that shapes its
/// rows and its catalog. The dataset file and its parsed model (which holds what the
/// file includes), every schema fixture's SQL, the columns written, seed and scale,
/// the scenario's settings (`default_statistics_target` shapes ANALYZE), this
/// plancheck build (its generators) and the server build.
pub(super) fn seeded_key(
    server: &Server,
    scenarios: &[&Scenario],
    options: &RunOptions,
) -> Result<Key> {
    let scenario = scenarios[0];
    let dataset = &scenario.dataset;
    let file = crate::input::file::read_text(&dataset.path, &crate::input::DATASET_FILE)?;
    let mut key = Key::new()
        .part("what", "seeded database")
        .part("format", SEEDED_FORMAT)
        .part("plancheck", env!("CARGO_PKG_VERSION"))
        .part("plancheck build", build_identity())
        .part("server", server.cache_identity())
        .hashed("dataset file", file.as_bytes())
        .hashed("dataset model", format!("{:?}", dataset.model).as_bytes())
        .part("scale", options.scale.unwrap_or(dataset.default_scale))
        .part("seed", options.seed.unwrap_or(dataset.model.seed))
        .part("settings", format!("{:?}", scenario.settings));
    for fixture in &dataset.schema {
        key = key.hashed(
            &format!("schema {}", fixture.path.display()),
            fixture.sql.as_bytes(),
        );
    }
    for (index, table) in dataset.model.tables.iter().enumerate() {
        let written: Vec<&str> = dataset
            .written_columns(index)
            .iter()
            .map(|column| table.columns[*column].name.as_str())
            .collect();
        key = key.part(&format!("written {}", table.name), written.join(","));
    }
    Ok(key)
}

/// The running executable, by path, size and modification time: a rebuilt plancheck
/// may generate other rows, so it seeds afresh. (Its metadata, not its contents: a
/// release build with debug lines is over 100 MB, and every build changes the time.)
fn build_identity() -> String {
    static IDENTITY: OnceLock<String> = OnceLock::new();
    IDENTITY
        .get_or_init(|| {
            let described = std::env::current_exe().and_then(|path| {
                let meta = std::fs::metadata(&path)?;
                let modified = meta
                    .modified()?
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default();
                Ok(format!(
                    "{} {} bytes modified {}.{:09}",
                    path.display(),
                    meta.len(),
                    modified.as_secs(),
                    modified.subsec_nanos()
                ))
            });
            // Unknown: a value no other process shares, so nothing is reused.
            described
                .unwrap_or_else(|error| format!("unknown ({error}), pid {}", std::process::id()))
        })
        .clone()
}

/// What a seeded entry holds beside the data.
#[derive(serde::Serialize, serde::Deserialize)]
struct Meta {
    /// The seeded database's name in the cached cluster.
    database: String,
    tables: Vec<TableFacts>,
    size_check: Option<SizeCheck>,
}

impl PreparedDatabase {
    /// The database under `key` from the cache, or the key held alone for this run to
    /// seed and store. While another run holds the key (it is seeding the same data),
    /// this one waits, saying so, and then takes what that run stored. An entry that
    /// proves unusable when restored is replaced: the key is held to seed afresh, and
    /// the holder says why.
    pub(super) async fn claim(
        server: &Server,
        cache: &Cache,
        scenarios: &[&Scenario],
        options: &RunOptions,
        key: &Key,
    ) -> Result<std::result::Result<PreparedDatabase, Filler>> {
        let waiting = || {
            options.progress.note(&format!(
                "cache: waiting for another run that is seeding the same data (key {})",
                key.hex()
            ))
        };
        let entry = match cache.claim(Kind::Seeded, key, waiting).await? {
            Claim::Found(entry) => entry,
            Claim::Empty(filler) => {
                if let Some(why) = filler.replacing() {
                    crate::say!("cache: {why}");
                }
                return Ok(Err(filler));
            }
        };
        match Self::restore(server, scenarios, options, (entry, key)).await? {
            Ok(prepared) => Ok(Ok(prepared)),
            Err(reason) => {
                crate::say!("cache: not using entry {}: {reason}", key.hex());
                Ok(Err(cache
                    .claim_to_replace(Kind::Seeded, key, &reason)
                    .await?))
            }
        }
    }

    /// Stores the cluster this freshly seeded database is in under the key `filler`
    /// holds, unless another scratch database shares the server (the server stops for
    /// the copy). The connections are closed for the copy and opened again after it.
    pub(super) async fn store(
        &mut self,
        server: &Server,
        filler: Filler,
        key: &Key,
    ) -> Result<DataCache> {
        let name = self
            .scratch
            .as_ref()
            .map(|scratch| scratch.name.clone())
            .unwrap_or_default();
        let others = server.other_scratch_databases(Some(&name)).await?;
        if !others.is_empty() {
            return Ok(not_stored(
                key,
                format!(
                    "other scratch databases are on the server ({}); storing stops it",
                    others.join(", ")
                ),
            ));
        }
        let meta = serde_json::to_value(Meta {
            database: name,
            tables: self.seeded.tables.clone(),
            size_check: self.seeded.size_check.clone(),
        })
        .map_err(|error| Error::Infrastructure(format!("describing the cache entry: {error}")))?;
        let lanes = self.clients.len();
        self.clients.clear();
        let phase = self.progress.phase("cache: store");
        let saved = server.save_data(filler, meta).await?;
        self.phases.push(phase.finish());
        if let Some(scratch) = self.scratch.as_mut() {
            scratch.relock().await?;
            for _ in 0..lanes {
                self.clients.push(scratch.connect().await?);
            }
        }
        Ok(match saved {
            Ok(Filled::Stored { .. }) => DataCache {
                status: CacheStatus::Stored,
                key: Some(key.hex()),
                note: None,
            },
            Ok(Filled::Skipped(reason)) | Err(reason) => not_stored(key, reason),
        })
    }

    /// Prepares `scenarios` on the cached cluster `entry` holds, put under `server` in
    /// place of its own: nothing is seeded. The inner error says why the entry could not
    /// be used (another scratch database on the server, a corrupt entry, a cluster the
    /// server does not start on or that lacks a file); the caller then seeds afresh.
    pub(super) async fn restore(
        server: &Server,
        scenarios: &[&Scenario],
        options: &RunOptions,
        (entry, key): (Entry, &Key),
    ) -> Result<std::result::Result<PreparedDatabase, String>> {
        let others = server.other_scratch_databases(None).await?;
        if !others.is_empty() {
            return Ok(Err(format!(
                "other scratch databases are on the server ({}); taking the cached data stops it",
                others.join(", ")
            )));
        }
        let meta: Meta = match serde_json::from_value(entry.meta().clone()) {
            Ok(meta) => meta,
            Err(error) => {
                return Ok(Err(format!(
                    "the entry's description is unreadable: {error}"
                )));
            }
        };
        let phase = options.progress.phase("restore from cache");
        if let Err(reason) = server.load_data(entry).await? {
            return Ok(Err(format!(
                "the entry was unusable and is removed: {reason}"
            )));
        }
        let restored = phase.finish();
        let scratch = server
            .adopt_scratch(&meta.database, &scenarios[0].name)
            .await?;
        let built =
            Self::build_restored(server, &scratch, scenarios, options, restored, meta).await;
        match built {
            Ok(mut prepared) => {
                prepared.scratch = Some(scratch);
                prepared.seeded.cache = Some(DataCache {
                    status: CacheStatus::Hit,
                    key: Some(key.hex()),
                    note: None,
                });
                Ok(Ok(prepared))
            }
            Err(error) => {
                let _ = scratch.drop_database().await;
                Err(error)
            }
        }
    }

    async fn build_restored(
        server: &Server,
        scratch: &crate::provision::ScratchDatabase,
        scenarios: &[&Scenario],
        options: &RunOptions,
        restored: Phase,
        meta: Meta,
    ) -> Result<PreparedDatabase> {
        let mut phases = vec![Phase::new("start server", server.startup), restored];
        let (clients, notes) =
            super::connect_and_pin(scratch, scenarios[0], options, &mut phases).await?;
        let phase = options.progress.phase("check queries");
        super::check_schema(&clients[0], scenarios).await?;
        let (mut seeded, targets) = regenerate(scenarios, options)?;
        phases.push(phase.finish());
        seeded.tables = meta.tables;
        seeded.size_check = meta.size_check;
        super::finish(
            server,
            clients,
            scenarios[0],
            (seeded, targets, phases),
            notes,
            options,
        )
        .await
    }
}

fn not_stored(key: &Key, reason: String) -> DataCache {
    DataCache {
        status: CacheStatus::NotStored,
        key: Some(key.hex()),
        note: Some(reason),
    }
}

/// The seed's facts and the target rows, from the generator alone: the tables up to the
/// last one a target is in are generated again (nothing is written), since the cached
/// database holds the rows but not which of them each scenario binds to.
fn regenerate(
    scenarios: &[&Scenario],
    options: &RunOptions,
) -> Result<(crate::outcome::Seeded, Vec<TargetRow>)> {
    let (mut datagen, captures, group_rows, seeded) = super::datagen_for(scenarios, options)?;
    if let Some(last) = captures.iter().map(|capture| capture.table).max() {
        for table in 0..=last {
            datagen.stream(table).for_each(drop);
        }
    }
    Ok((seeded, super::target_rows(captures, &datagen, group_rows)))
}
