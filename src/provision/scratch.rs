//! Scratch databases, on whatever server a backend started or reached: each scenario
//! runs in one, created for it and dropped after it (or kept with `--keep`). A server
//! the user runs outlives plancheck, so each live run holds a session-level advisory
//! lock named after its scratch database for as long as the database exists (as
//! sqlx's test harness does): a `plancheck_*` database nobody holds the lock of belongs
//! to a run that is gone, whichever machine it ran on. Such databases are the `url`
//! backend's leftovers ([`Databases`]); on a throwaway server they go with it.

use std::time::Duration;

use async_trait::async_trait;
use rand::RngExt;
use tokio_postgres::{Client, Config};

use super::backend::{Place, Remains};
use super::registry::Registry;
use super::sweep::{Leftover, State};
use super::{Owner, connect};
use crate::error::{Error, Result, ServerError};

/// The first key of every plancheck advisory lock ("plnc"); the second is a hash of
/// the scratch database's name.
const LOCK_CLASS: i32 = 0x706c_6e63;

/// The comment a kept scratch database carries.
const KEPT_COMMENT: &str = "plancheck: kept with --keep";

/// The start of the comment every scratch database carries from its creation (the
/// owner token follows): what tells plancheck's databases from others.
const SCRATCH_COMMENT: &str = "plancheck scratch database of ";

/// A database that exists for one scenario run.
pub struct ScratchDatabase {
    pub name: String,
    config: Config,
    admin: Config,
    /// The session holding the advisory lock that tells a sweep this database is in
    /// use; released when the database is dropped or kept.
    _lock: Client,
    registry: Registry,
}

impl ScratchDatabase {
    /// Opens a new connection to the scratch database.
    pub async fn connect(&self) -> Result<Client> {
        connect(&self.config).await
    }

    /// Keeps the database (for `--keep`): nothing is dropped, and it is marked kept
    /// so that no sweep takes it for an orphan once its lock is gone.
    pub async fn keep(self) -> Result<String> {
        let admin = connect(&self.admin).await?;
        admin
            .batch_execute(&format!(
                "COMMENT ON DATABASE {} IS '{}'",
                self.name, KEPT_COMMENT
            ))
            .await
            .map_err(Error::database(format!("marking {} kept", self.name)))?;
        self.registry.forget(&database_key(&self.name));
        Ok(self.name)
    }

    /// Drops the database, ending any session still connected to it.
    pub async fn drop_database(self) -> Result<()> {
        let admin = connect(&self.admin).await?;
        admin
            .batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .await
            .map_err(Error::database(format!(
                "dropping scratch database {}",
                self.name
            )))?;
        self.registry.forget(&database_key(&self.name));
        Ok(())
    }

    /// Takes the advisory lock again after the server restarted (which ended the
    /// session that held it).
    pub async fn relock(&mut self) -> Result<()> {
        self._lock = hold_lock(&self.admin, &self.name).await?;
        Ok(())
    }
}

/// Creates a fresh database for one scenario run on `server`, locked, marked as
/// plancheck's and, when it would outlive the server (`outlives`), written down in
/// `registry` for the clean-up after an interrupt. Its name starts with `plancheck_`
/// so leftovers are recognisable; it is built from `template0` so nothing a user added
/// to `template1` leaks into it.
pub(super) async fn create(
    server: &Config,
    registry: &Registry,
    outlives: bool,
    hint: &str,
) -> Result<ScratchDatabase> {
    let name = fresh_name(hint);
    // The lock comes first: a sweep must never see the database without it.
    let lock = hold_lock(server, &name).await?;
    if outlives {
        register_database(registry, &name, server);
    }
    let admin = connect(server).await?;
    admin
        .batch_execute(&format!(
            "CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8'"
        ))
        .await
        .map_err(Error::database(format!("creating scratch database {name}")))?;
    mark(name, lock, &admin, server, registry).await
}

/// Takes `existing` (a database a cached cluster brought) as this run's scratch
/// database: renamed, marked and locked as [`create`] does.
pub(super) async fn adopt(
    server: &Config,
    registry: &Registry,
    existing: &str,
    hint: &str,
) -> Result<ScratchDatabase> {
    let name = fresh_name(hint);
    let lock = hold_lock(server, &name).await?;
    let admin = connect(server).await?;
    admin
        .batch_execute(&format!(
            "ALTER DATABASE \"{}\" RENAME TO {name}",
            existing.replace('"', "\"\"")
        ))
        .await
        .map_err(Error::database(format!(
            "taking cached database {existing} as {name}"
        )))?;
    mark(name, lock, &admin, server, registry).await
}

/// Marks `name` as plancheck's, with its owner: the sweep only ever judges databases
/// so marked, never another `plancheck_…` database the role happens to own.
async fn mark(
    name: String,
    lock: Client,
    admin: &Client,
    server: &Config,
    registry: &Registry,
) -> Result<ScratchDatabase> {
    admin
        .batch_execute(&format!(
            "COMMENT ON DATABASE {name} IS '{SCRATCH_COMMENT}{}'",
            Owner::current().token()
        ))
        .await
        .map_err(Error::database(format!("marking scratch database {name}")))?;
    let mut config = server.clone();
    config.dbname(&name);
    Ok(ScratchDatabase {
        name,
        config,
        admin: server.clone(),
        _lock: lock,
        registry: registry.clone(),
    })
}

/// A fresh scratch database name: `plancheck_`, the hint made an identifier, and a
/// random suffix.
fn fresh_name(hint: &str) -> String {
    let suffix: String = rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(8)
        .map(|c| char::from(c).to_ascii_lowercase())
        .collect();
    let slug: String = hint
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    format!("plancheck_{slug}_{suffix}")
}

/// Writes down scratch database `name` on `admin`'s server for the clean-up after an
/// interrupt: it outlives the process unless dropped.
fn register_database(registry: &Registry, name: &str, admin: &Config) {
    let (name, admin) = (name.to_owned(), admin.clone());
    registry.register(database_key(&name), false, move || {
        Box::pin(async move {
            let line =
                match tokio::time::timeout(Duration::from_secs(10), drop_database(&name, &admin))
                    .await
                {
                    Ok(Ok(())) => format!("dropped scratch database {name}"),
                    Ok(Err(error)) => format!("could not drop {name}: {error}"),
                    Err(_) => format!("could not drop {name} within 10s"),
                };
            vec![line]
        })
    });
}

/// The registry's key of scratch database `name`.
fn database_key(name: &str) -> String {
    format!("database {name}")
}

/// Cancels what still runs in `name`, then drops it: `WITH (FORCE)` ends the
/// sessions, but cancelling first lets a long `CREATE INDEX` stop at once rather than
/// at the next check for termination. A `CREATE DATABASE` of that name still running
/// (the interrupt came while it was under way) is cancelled too; the drop is repeated
/// until neither the database nor its creation is left.
async fn drop_database(name: &str, admin: &Config) -> Result<()> {
    let client = connect(admin).await?;
    let creating = format!("CREATE DATABASE {name} %");
    loop {
        client
            .execute(
                "SELECT pg_cancel_backend(pid) FROM pg_stat_activity \
                 WHERE pid <> pg_backend_pid() AND (datname = $1 OR query LIKE $2)",
                &[&name, &creating],
            )
            .await
            .map_err(Error::database(format!("cancelling statements in {name}")))?;
        client
            .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await
            .map_err(Error::database(format!("dropping {name}")))?;
        let left: bool = client
            .query_one(
                "SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1) \
                 OR EXISTS (SELECT FROM pg_stat_activity WHERE query LIKE $2 AND state = 'active' AND pid <> pg_backend_pid())",
                &[&name, &creating],
            )
            .await
            .map_err(Error::database(format!("checking that {name} is gone")))?
            .get(0);
        if !left {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The advisory lock's second key for a database name (FNV-1a).
fn lock_key(name: &str) -> i32 {
    let hash = name.bytes().fold(0x811c_9dc5_u32, |hash, byte| {
        (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
    });
    hash as i32
}

/// Takes the lock that marks `name` as in use, on a session of its own that lives
/// as long as the returned client. The session sits idle for the whole run, so it
/// is kept from being cut as idle: no `idle_session_timeout`, and TCP keepalives
/// every 30 s for firewalls and proxies that drop quiet connections.
async fn hold_lock(admin: &Config, name: &str) -> Result<tokio_postgres::Client> {
    let mut config = admin.clone();
    config
        .keepalives(true)
        .keepalives_idle(std::time::Duration::from_secs(30));
    let keeper = connect(&config).await?;
    let version: i32 = keeper
        .query_one("SELECT current_setting('server_version_num')::int", &[])
        .await
        .map_err(Error::database("reading the server version"))?
        .get(0);
    if version >= 140_000 {
        keeper
            .batch_execute("SET idle_session_timeout = 0")
            .await
            .map_err(Error::database("keeping the lock session open"))?;
    }
    keeper
        .execute(
            "SELECT pg_advisory_lock($1, $2)",
            &[&LOCK_CLASS, &lock_key(name)],
        )
        .await
        .map_err(Error::database(format!("locking scratch database {name}")))?;
    Ok(keeper)
}

/// Where the url backend's leftovers are: scratch databases on one server.
pub(super) struct Databases(pub Config);

#[async_trait]
impl Place for Databases {
    async fn leftovers(&self) -> std::result::Result<Vec<Leftover>, String> {
        leftovers(&self.0).await
    }
}

/// A scratch database a dead or kept run left.
#[derive(Debug)]
struct Database {
    name: String,
    server: Config,
}

impl std::fmt::Display for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "scratch database {}", self.name)
    }
}

#[async_trait]
impl Remains for Database {
    async fn remove(&self) -> std::result::Result<(), String> {
        drop_leftover(&self.name, &self.server).await
    }
}

/// This role's scratch databases (marked so by their comment) that no live run
/// holds: orphans, and those kept with `--keep`. The databases are listed before the
/// locks are read: a run takes its lock before it creates its database, so a database
/// seen here whose lock is not seen after is truly orphaned. `Err` says why the server
/// could not be looked at: that is no all-clear.
async fn leftovers(server: &Config) -> std::result::Result<Vec<Leftover>, String> {
    let place = super::describe(server);
    let client = connect(server).await.map_err(|error| error.to_string())?;
    let failed = |what: &str| {
        let what = what.to_owned();
        let place = place.clone();
        move |error: tokio_postgres::Error| {
            format!(
                "{what} on the server at {place} failed: {}",
                ServerError(&error)
            )
        }
    };
    let databases = client
        .query(
            "SELECT datname, coalesce(shobj_description(oid, 'pg_database'), '') \
             FROM pg_database WHERE datname LIKE 'plancheck\\_%' \
             AND datdba = (SELECT oid FROM pg_roles WHERE rolname = current_user) \
             ORDER BY datname",
            &[],
        )
        .await
        .map_err(failed("listing scratch databases"))?;
    let locks = client
        .query(
            "SELECT objid::text FROM pg_locks WHERE locktype = 'advisory' \
             AND classid = $1::int4::oid AND objsubid = 2 AND granted",
            &[&LOCK_CLASS],
        )
        .await
        .map_err(failed("reading the advisory locks"))?;
    let held: std::collections::HashSet<u32> = locks
        .iter()
        .filter_map(|row| row.get::<_, String>(0).parse().ok())
        .collect();
    Ok(databases
        .iter()
        .filter_map(|row| {
            let name: String = row.get(0);
            let comment: String = row.get(1);
            let state = if comment == KEPT_COMMENT {
                State::Kept
            } else if !comment.starts_with(SCRATCH_COMMENT)
                || held.contains(&(lock_key(&name) as u32))
            {
                // Not plancheck's, or in use.
                return None;
            } else {
                State::Orphaned("no live run holds its lock".into())
            };
            Some(Leftover::new(
                Database {
                    name,
                    server: server.clone(),
                },
                state,
            ))
        })
        .collect())
}

/// Drops a leftover scratch database, ending whatever still runs in it.
async fn drop_leftover(name: &str, server: &Config) -> std::result::Result<(), String> {
    let client = connect(server).await.map_err(|error| error.to_string())?;
    client
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await
        .map_err(|error| crate::error::ServerError(&error).to_string())
}

#[cfg(test)]
mod tests {
    use super::lock_key;

    #[test]
    fn lock_keys_are_stable_and_differ_by_name() {
        assert_eq!(lock_key("plancheck_a_x"), lock_key("plancheck_a_x"));
        assert_ne!(lock_key("plancheck_a_x"), lock_key("plancheck_a_y"));
    }
}
