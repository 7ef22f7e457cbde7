//! What this process has asked a server for, written down before it is asked, so that
//! an interrupt at any instant can undo it. The guards (`DockerServer`, `LocalServer`,
//! `ScratchDatabase`) clean up when they are dropped, but a guard exists only once its
//! resource has been handed back: a container being created, an `initdb` half done or
//! a scratch database on a server plancheck does not own are the registry's to remove.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_postgres::Config;

use super::owner::Owner;
use super::{OWNER_LABEL, connect, docker, local};

/// Shared between the run and the code that cleans up after an interrupt.
#[derive(Debug, Clone, Default)]
pub struct Registry(Arc<Mutex<Registered>>);

#[derive(Debug, Default)]
struct Registered {
    /// A container labelled with this process's owner token may exist.
    docker: bool,
    /// Local server directories that may exist.
    directories: Vec<PathBuf>,
    /// Scratch databases on servers plancheck does not own (`url`), with how to reach
    /// the server: they outlive the process unless dropped.
    databases: Vec<(String, Config)>,
}

impl Registry {
    pub fn new() -> Registry {
        Registry::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut Registered) -> T) -> T {
        f(&mut self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()))
    }

    pub(super) fn docker_container(&self) {
        self.with(|registered| registered.docker = true);
    }

    /// What this process started is being kept (`--keep`): no longer the registry's
    /// to remove, even if an interrupt comes while it is being marked kept.
    pub(super) fn forget_servers(&self) {
        self.with(|registered| {
            registered.docker = false;
            registered.directories.clear();
        });
    }

    pub(super) fn directory(&self, path: PathBuf) {
        self.with(|registered| registered.directories.push(path));
    }

    pub(super) fn database(&self, name: &str, admin: &Config) {
        self.with(|registered| registered.databases.push((name.to_owned(), admin.clone())));
    }

    /// The database is dropped or kept: no longer the registry's to remove.
    pub(super) fn forget_database(&self, name: &str) {
        self.with(|registered| registered.databases.retain(|(known, _)| known != name));
    }

    /// Removes everything this process started that is still there, after the run's
    /// future (and with it every guard) has been dropped. Returns one line per thing
    /// removed, for the user. Waits at most a few seconds per resource.
    pub async fn release(&self) -> Vec<String> {
        let (docker, directories, databases) = self.with(|registered| {
            (
                registered.docker,
                std::mem::take(&mut registered.directories),
                std::mem::take(&mut registered.databases),
            )
        });
        let mut removed = Vec::new();
        for (name, admin) in databases {
            match tokio::time::timeout(Duration::from_secs(10), drop_database(&name, &admin)).await
            {
                Ok(Ok(())) => removed.push(format!("dropped scratch database {name}")),
                Ok(Err(error)) => removed.push(format!("could not drop {name}: {error}")),
                Err(_) => removed.push(format!("could not drop {name} within 10s")),
            }
        }
        if docker {
            let owner = Owner::current().token();
            removed.extend(docker::remove_labelled(OWNER_LABEL, &owner).await);
        }
        for directory in directories {
            if directory.exists() {
                removed.push(local::remove_directory(&directory));
            }
        }
        removed
    }
}

/// Cancels what still runs in `name`, then drops it: `WITH (FORCE)` ends the
/// sessions, but cancelling first lets a long `CREATE INDEX` stop at once rather than
/// at the next check for termination. A `CREATE DATABASE` of that name still running
/// (the interrupt came while it was under way) is cancelled too; the drop is repeated
/// until neither the database nor its creation is left.
async fn drop_database(name: &str, admin: &Config) -> crate::error::Result<()> {
    use crate::error::Error;
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
