//! Leftovers of runs that are gone: containers, local server directories and scratch
//! databases whose owner died without cleaning up (SIGKILL, a crash, a machine reset),
//! and those a user kept with `--keep`. Every run sweeps the orphans of its own kind
//! of server before it starts; `plancheck clean` lists all of them, kept ones too,
//! and removes them with `--yes`. A resource whose owner still runs is never touched.

use std::fmt;

use tokio_postgres::Config;

use super::{docker, local, url};

/// Something a plancheck run left behind.
#[derive(Debug, Clone)]
pub struct Leftover {
    pub resource: Resource,
    pub state: State,
}

/// What kind of thing, and how to find it again.
#[derive(Debug, Clone)]
pub enum Resource {
    Container {
        id: String,
        name: String,
    },
    Directory {
        path: std::path::PathBuf,
        postmaster: Option<u32>,
    },
    Database {
        name: String,
        server: Box<Config>,
    },
}

/// Why it is there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// Its run ended without removing it; the text says how that is known.
    Orphaned(String),
    /// Kept on purpose (`--keep`); removed only by `plancheck clean --yes`.
    Kept,
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Resource::Container { id, name } => {
                write!(f, "container {} ({name})", &id[..id.len().min(12)])
            }
            Resource::Directory { path, .. } => {
                write!(f, "local server directory {}", path.display())
            }
            Resource::Database { name, .. } => write!(f, "scratch database {name}"),
        }
    }
}

impl Leftover {
    /// Why it is there, and what still runs in it.
    pub fn why(&self) -> String {
        match &self.resource {
            Resource::Directory {
                postmaster: Some(pid),
                ..
            } => format!("{}; its server (pid {pid}) still runs", self.state),
            _ => self.state.to_string(),
        }
    }

    /// What removing it did, for the user.
    pub fn removed(&self) -> String {
        match &self.resource {
            Resource::Directory {
                postmaster: Some(pid),
                ..
            } => format!(
                "stopped the server (pid {pid}) and removed {}",
                self.resource
            ),
            _ => format!("removed {}", self.resource),
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            State::Orphaned(why) => write!(f, "orphaned: {why}"),
            State::Kept => f.write_str("kept with --keep"),
        }
    }
}

/// Where to look.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// Containers on the Docker engine (if one answers).
    pub docker: bool,
    /// Server directories under the temporary directory.
    pub local: bool,
    /// Scratch databases on this server.
    pub server: Option<Config>,
}

/// What a look for leftovers found, and where it could not look.
#[derive(Debug, Default)]
pub struct Survey {
    pub leftovers: Vec<Leftover>,
    /// Each place that could not be looked at, with why: a look that failed is no
    /// all-clear, so whoever asked must say so.
    pub unlooked: Vec<String>,
}

/// Every leftover in `scope`, orphaned and kept; live runs' resources are left out.
pub async fn find(scope: &Scope) -> Survey {
    let mut survey = Survey::default();
    let mut add = |found: Result<Vec<Leftover>, String>| match found {
        Ok(found) => survey.leftovers.extend(found),
        Err(why) => survey.unlooked.push(why),
    };
    if scope.docker {
        add(docker::leftovers().await);
    }
    if scope.local {
        add(local::leftovers());
    }
    if let Some(server) = &scope.server {
        add(url::leftovers(server).await);
    }
    survey
}

/// Removes one leftover; `Err` says why it could not be.
pub async fn remove(leftover: &Leftover) -> Result<(), String> {
    match &leftover.resource {
        Resource::Container { id, .. } => docker::remove(id).await,
        Resource::Directory { path, postmaster } => {
            let path = path.clone();
            let postmaster = *postmaster;
            tokio::task::spawn_blocking(move || local::remove_leftover(&path, postmaster))
                .await
                .map_err(|error| error.to_string())?
        }
        Resource::Database { name, server } => url::drop_leftover(name, server).await,
    }
}

/// Removes the orphans in `scope` (never what was kept) and says what went, and
/// where it could not look.
pub async fn orphans(scope: &Scope) -> Vec<String> {
    let survey = find(scope).await;
    let mut lines: Vec<String> = survey
        .unlooked
        .iter()
        .map(|why| format!("could not look for leftovers: {why}"))
        .collect();
    for leftover in survey.leftovers {
        if let State::Orphaned(why) = &leftover.state {
            lines.push(match remove(&leftover).await {
                Ok(()) => format!(
                    "swept a dead run's leftover: {} ({why})",
                    leftover.removed()
                ),
                Err(error) => format!(
                    "could not sweep a dead run's leftover {}: {error}",
                    leftover.resource
                ),
            });
        }
    }
    lines
}
